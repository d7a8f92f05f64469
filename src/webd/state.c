/* state: sbc-webd's files in <data_dir>/web (password, tokens, certificate), written atomically, and its TLS context. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "webd_int.h"

/* Replace name in dirfd with data atomically, owner-only (file_write_atomic_at). 0 or an errno. */
int webd_file_write_at(int dirfd, const char *name, const void *data, size_t len)
{
	return file_write_atomic_at(dirfd, name, data, len, 0600);
}

/*
 * Write a state file (webd_file_write_at). Written as root before the
 * split, it is given to the web user, as the folder is: all the state
 * belongs to the user that serves.
 */
static int state_write(struct webd *w, const char *name, const void *data, size_t len)
{
	int err = webd_file_write_at(w->state_fd, name, data, len);

	if (!err && w->privsep && geteuid() == 0 &&
	    fchownat(w->state_fd, name, w->uid, w->gid, AT_SYMLINK_NOFOLLOW) == -1)
		err = errno;
	return err;
}

/* Wall-clock milliseconds since 1970: the time of session tokens, which outlive a reboot. */
uint64_t webd_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Read name in dirfd (a regular file, never through a symbolic link, at
 * most size - 1 bytes) into buf, NUL-terminated; the copy read is wiped.
 * ENOENT, EFBIG, EINVAL (not a regular file), or another errno value.
 */
int webd_file_read_at(int dirfd, const char *name, char *buf, size_t size, size_t *len)
{
	char *data;
	int err;

	if (size == 0)
		return EFBIG;
	err = file_read_max_at(dirfd, name, size - 1, &data, len, NULL, NULL);
	if (err)
		return err;
	memcpy(buf, data, *len + 1);
	OPENSSL_cleanse(data, *len);
	mem_deref(data);
	return 0;
}

/* mkdir -p: parents 0755, the last component 0700; an existing folder is kept as it is. */
static int mkdir_p(const char *path)
{
	char tmp[CONFIG_PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s", path);

	if (n < 0 || (size_t)n >= sizeof(tmp))
		return ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) == -1 && errno != EEXIST)
		return errno;
	return 0;
}

/*
 * Open <data_dir>/web (made 0700 if missing; data_dir too): the folder the
 * unprivileged child writes in, through w->state_fd, after it lost the
 * right to reach data_dir. As root it is given to the web user.
 */
int webd_state_open(struct webd *w)
{
	const char *dir = w->cfg->general.data_dir;
	struct stat st;
	int dfd, err;

	err = mkdir_p(dir);
	if (err) {
		log_error("data_dir %s: %s", dir, strerror(err));
		return err;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1) {
		err = errno;
		log_error("data_dir %s: %s", dir, strerror(err));
		return err;
	}
	if (mkdirat(dfd, WEBD_STATE_DIR, 0700) == -1 && errno != EEXIST)
		err = errno;
	if (!err) {
		w->state_fd = openat(dfd, WEBD_STATE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (w->state_fd == -1)
			err = errno == ELOOP ? ENOTDIR : errno;
	}
	close(dfd);
	if (err) {
		log_error("%s/%s: %s", dir, WEBD_STATE_DIR, strerror(err));
		return err;
	}
	if (fstat(w->state_fd, &st) == -1)
		return errno;
	if (w->privsep && (st.st_uid != w->uid || st.st_gid != w->gid) &&
	    fchown(w->state_fd, w->uid, w->gid) == -1) {
		err = errno;
		log_error("%s/%s: chown to %s: %s", dir, WEBD_STATE_DIR, w->user, strerror(err));
		return err;
	}
	if ((st.st_mode & 07777) != 0700 && fchmod(w->state_fd, 0700) == -1)
		return errno;
	return 0;
}

/*
 * A token file: read it when it holds a token, else (missing or bad)
 * write a new one. A pending setup token is kept, so the one --init
 * printed on the console stays the one that works.
 */
static int token_load(struct webd *w, const char *name, const char *what,
		      char tok[WEBD_TOKEN_HEX])
{
	const char *dir = w->cfg->general.data_dir;
	char buf[WEBD_TOKEN_HEX + 2];
	size_t len = 0;
	int err = webd_file_read_at(w->state_fd, name, buf, sizeof(buf), &len);

	if (!err) {
		if (len && buf[len - 1] == '\n')
			buf[--len] = '\0';
		if (webd_token_valid(buf)) {
			memcpy(tok, buf, WEBD_TOKEN_HEX);
			OPENSSL_cleanse(buf, sizeof(buf));
			return 0;
		}
		log_warn("%s/%s/%s is not a token: writing a new one", dir, WEBD_STATE_DIR, name);
	} else if (err != ENOENT && err != EFBIG && err != EINVAL) {
		log_error("%s/%s/%s: %s", dir, WEBD_STATE_DIR, name, strerror(err));
		return err;
	}
	err = webd_token_new(tok);
	if (!err) {
		char line[WEBD_TOKEN_HEX + 1];
		int n = snprintf(line, sizeof(line), "%s\n", tok);

		err = state_write(w, name, line, (size_t)n);
		OPENSSL_cleanse(line, sizeof(line));
	}
	if (err) {
		log_error("cannot write %s/%s/%s: %s", dir, WEBD_STATE_DIR, name, strerror(err));
		return err;
	}
	log_info("%s token written to %s/%s/%s", what, dir, WEBD_STATE_DIR, name);
	return 0;
}

/*
 * The session key: session.key holds exactly WEBD_SKEY_LEN random bytes,
 * made when missing and never replaced (a new key logs every session
 * out). Any other content stops the start.
 */
static int skey_load(struct webd *w)
{
	const char *dir = w->cfg->general.data_dir;
	char buf[WEBD_SKEY_LEN + 2];
	size_t len = 0;
	int err = webd_file_read_at(w->state_fd, WEBD_F_SKEY, buf, sizeof(buf), &len);

	if (err == ENOENT) {
		if (RAND_bytes((unsigned char *)buf, WEBD_SKEY_LEN) != 1)
			err = EIO;
		else
			err = state_write(w, WEBD_F_SKEY, buf, WEBD_SKEY_LEN);
		if (err) {
			log_error("cannot write %s/%s/%s: %s", dir, WEBD_STATE_DIR, WEBD_F_SKEY,
				  strerror(err));
			goto out;
		}
		log_info("session key written to %s/%s/%s", dir, WEBD_STATE_DIR, WEBD_F_SKEY);
		len = WEBD_SKEY_LEN;
	} else if (!err && len != WEBD_SKEY_LEN) {
		err = EINVAL;
	}
	if (err) {
		log_error("%s/%s/%s: %s: remove it to make a new key (every session is logged out)",
			  dir, WEBD_STATE_DIR, WEBD_F_SKEY,
			  err == EINVAL || err == EFBIG ? "not a key of 32 bytes" : strerror(err));
		goto out;
	}
	err = webd_skey_init(&w->skey, (const uint8_t *)buf, len);
 out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return err;
}

/* Write sessions-revoked from w->revoke. */
int webd_state_save_revoke(struct webd *w)
{
	static char buf[WEBD_REVOKE_TEXT_MAX];
	size_t len;
	int err = webd_revoke_format(&w->revoke, buf, sizeof(buf), &len);

	if (!err)
		err = state_write(w, WEBD_F_REVOKED, buf, len);
	if (err)
		log_error("cannot write %s/%s/%s: %s", w->cfg->general.data_dir, WEBD_STATE_DIR,
			  WEBD_F_REVOKED, strerror(err));
	return err;
}

/*
 * Read sessions-revoked (none: nothing is revoked). A file that cannot
 * be parsed fails closed: every session made until now is revoked and the
 * file written anew.
 */
static int revoke_load(struct webd *w)
{
	static char buf[WEBD_REVOKE_TEXT_MAX + 1];
	uint64_t now = webd_wall_ms();
	size_t len;
	int err = webd_file_read_at(w->state_fd, WEBD_F_REVOKED, buf, sizeof(buf), &len);

	memset(&w->revoke, 0, sizeof(w->revoke));
	if (err == ENOENT)
		return 0;
	if (!err)
		err = webd_revoke_parse(&w->revoke, buf);
	if (!err) {
		webd_revoke_prune(&w->revoke, now);
		return 0;
	}
	if (err != EINVAL && err != EFBIG) {
		log_error("%s/%s/%s: %s", w->cfg->general.data_dir, WEBD_STATE_DIR, WEBD_F_REVOKED,
			  strerror(err));
		return err;
	}
	log_warn("%s/%s/%s is malformed: every session is logged out", w->cfg->general.data_dir,
		 WEBD_STATE_DIR, WEBD_F_REVOKED);
	webd_revoke_before(&w->revoke, now, now);
	return webd_state_save_revoke(w);
}

/*
 * Read the password hash; with none (first start) read the pending setup
 * token, or make and write one. Make the metrics token and the session
 * key once; read the revoked sessions. A malformed password file or
 * session key stops the start: neither is ever replaced silently.
 */
int webd_state_load(struct webd *w)
{
	size_t len = 0;
	int err = webd_file_read_at(w->state_fd, WEBD_F_PASSWORD, w->pw_line, sizeof(w->pw_line),
				    &len);
	unsigned iter;
	uint8_t salt[WEBD_PW_SALT_MAX], hash[WEBD_PW_HASH_LEN];
	size_t saltlen;

	if (!err) {
		if (webd_pw_parse(w->pw_line, &iter, salt, &saltlen, hash)) {
			log_error("%s/%s/%s is not a password hash line: remove it to set a new "
				  "password with a setup token", w->cfg->general.data_dir,
				  WEBD_STATE_DIR, WEBD_F_PASSWORD);
			return EINVAL;
		}
		if (len && w->pw_line[len - 1] == '\n')
			w->pw_line[len - 1] = '\0';
		w->has_password = true;
		if (unlinkat(w->state_fd, WEBD_F_SETUP, 0) == 0)
			log_info("removed a stale setup token");
	} else if (err == ENOENT) {
		w->has_password = false;
		err = token_load(w, WEBD_F_SETUP, "setup", w->setup_token);
		if (err)
			return err;
	} else {
		log_error("%s/%s/%s: %s", w->cfg->general.data_dir, WEBD_STATE_DIR, WEBD_F_PASSWORD,
			  err == EFBIG ? "too large for a password hash line" : strerror(err));
		return err;
	}
	err = token_load(w, WEBD_F_METRICS, "metrics", w->metrics_token);
	if (!err)
		err = skey_load(w);
	if (!err)
		err = revoke_load(w);
	return err;
}

/* The password is set (setup or change): write it, and the setup token is gone for good. */
int webd_state_save_password(struct webd *w, const char *line)
{
	char buf[WEBD_PW_LINE_MAX + 1];
	int n = snprintf(buf, sizeof(buf), "%s\n", line);
	int err;

	if (n < 0 || (size_t)n >= sizeof(buf))
		return ENOSPC;
	err = state_write(w, WEBD_F_PASSWORD, buf, (size_t)n);
	if (err)
		return err;
	snprintf(w->pw_line, sizeof(w->pw_line), "%s", line);
	w->has_password = true;
	if (unlinkat(w->state_fd, WEBD_F_SETUP, 0) == -1 && errno != ENOENT)
		log_warn("cannot remove the setup token file: %s", strerror(errno));
	OPENSSL_cleanse(w->setup_token, sizeof(w->setup_token));
	fsync(w->state_fd);
	return 0;
}

static void ssl_log(const char *what)
{
	char detail[200];
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, detail, sizeof(detail));
	else
		snprintf(detail, sizeof(detail), "unknown error");
	log_error("%s: %s", what, detail);
	ERR_clear_error();
}

/* The listen address without brackets, for the certificate's names. */
static void listen_ip(const struct webd *w, char *buf, size_t size)
{
	net_sa_ip_str(&w->listen, buf, size);
}

/* One PEM of the self-signed pair to key.pem or cert.pem in the state folder. */
static int pem_write_state(bool key, const char *pem, size_t len, void *arg)
{
	struct webd *w = arg;

	return state_write(w, key ? WEBD_F_KEY : WEBD_F_CERT, pem, len);
}

/*
 * Make the self-signed pair of first start: an EC P-256 key and a
 * certificate whose CN and subjectAltName are the listen address, valid
 * ten years; key.pem and cert.pem written atomically, 0600.
 */
static int cert_make(struct webd *w)
{
	char ip[INET6_ADDRSTRLEN], san[INET6_ADDRSTRLEN + 4];
	int err;

	listen_ip(w, ip, sizeof(ip));
	snprintf(san, sizeof(san), "IP:%s", ip);
	err = net_tls_selfsigned_pem(ip, san, pem_write_state, w);
	if (err)
		ssl_log("cannot make the self-signed certificate");
	return err;
}

/* Load the pair in <data_dir>/web into ctx (read without following symbolic links). */
static int cert_load_state(struct webd *w, SSL_CTX *ctx)
{
	static char buf[WEBD_FILE_MAX];
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	BIO *b;
	size_t len;
	int err;

	err = webd_file_read_at(w->state_fd, WEBD_F_CERT, buf, sizeof(buf), &len);
	if (err)
		return err;
	b = BIO_new_mem_buf(buf, (int)len);
	x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	err = webd_file_read_at(w->state_fd, WEBD_F_KEY, buf, sizeof(buf), &len);
	if (!err) {
		b = BIO_new_mem_buf(buf, (int)len);
		k = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
		BIO_free(b);
		OPENSSL_cleanse(buf, sizeof(buf));
	}
	if (!err && (!x || !k))
		err = EINVAL;
	if (!err && (SSL_CTX_use_certificate(ctx, x) != 1 || SSL_CTX_use_PrivateKey(ctx, k) != 1 ||
		     SSL_CTX_check_private_key(ctx) != 1))
		err = EINVAL;
	X509_free(x);
	EVP_PKEY_free(k);
	return err;
}

/*
 * The server's TLS context: the operator's [web] cert and key, else the
 * self-signed pair in <data_dir>/web, made at first start (or when one
 * of the two files is missing) and reused afterwards. TLS 1.2 at least.
 */
int webd_tls_setup(struct webd *w)
{
	const struct config_web *c = &w->cfg->web;
	const char *dir = w->cfg->general.data_dir;
	char err_text[256];
	SSL_CTX *ctx;
	int err;

	if (c->cert[0]) {
		err = net_tls_server_ctx(&w->tls, c->cert, c->key, err_text, sizeof(err_text));
		if (err)
			log_error("[web] cert/key: %s", err_text);
		return err;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx)
		return ENOMEM;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	err = cert_load_state(w, ctx);
	if (err == ENOENT) {
		err = cert_make(w);
		if (!err) {
			log_info("made a self-signed certificate for %s: %s/%s/%s", w->listen_host, dir,
				 WEBD_STATE_DIR, WEBD_F_CERT);
			err = cert_load_state(w, ctx);
		}
	}
	if (err) {
		if (err == EINVAL)
			ssl_log("cannot use the certificate and key in the state folder");
		log_error("%s/%s/%s, %s: %s (remove both to make a new pair)", dir, WEBD_STATE_DIR,
			  WEBD_F_CERT, WEBD_F_KEY, strerror(err));
		SSL_CTX_free(ctx);
		return err;
	}
	w->tls = ctx;
	return 0;
}
