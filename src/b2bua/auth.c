/* auth: the SBC's own digest authentication: users file, HMAC-time nonces, response check, nonce-count replay table. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "auth.h"

/*
 * A nonce is base64url (no padding) of 30 bytes (docs/auth.md):
 *   [0..5]   time stamp, ms, big-endian, 48 bits: the caller's clock plus a
 *            per-process random offset, so it does not tell the uptime
 *   [6..13]  random salt: two challenges in the same millisecond differ, so
 *            two clients never share a nonce-count sequence
 *   [14..29] HMAC-SHA-256(key, label || stamp || salt || realm), first 128 bits
 * The key is random per process: nonces of an earlier run are not ours.
 */
#define NONCE_LABEL "sbc-auth-nonce-1"
#define TS_BYTES    6
#define SALT_BYTES  8
#define MAC_BYTES   16
#define NONCE_RAW   (TS_BYTES + SALT_BYTES + MAC_BYTES)
#define TS_MASK     ((UINT64_C(1) << 48) - 1)
#define TS_OFFSET_MASK ((UINT64_C(1) << 46) - 1)   /* stamps stay far from wrapping */
#define NC_SETS     (AUTH_NC_SLOTS / AUTH_NC_WAYS)
#define DIGEST_MAX  32

_Static_assert(NONCE_RAW % 3 == 0 && NONCE_RAW / 3 * 4 == AUTH_NONCE_LEN, "nonce length");
_Static_assert(NC_SETS && (NC_SETS & (NC_SETS - 1)) == 0, "nonce-count sets: a power of two");
_Static_assert(CONFIG_AUTH_MD5 == 1u << AUTH_ALG_MD5 && CONFIG_AUTH_SHA256 == 1u << AUTH_ALG_SHA256,
	       "config bits are 1 << enum auth_alg");

static const char *const alg_names[AUTH_ALG__COUNT] = { "MD5", "SHA-256" };
static const char *const alg_fetch[AUTH_ALG__COUNT] = { "MD5", "SHA2-256" };
static const size_t alg_len[AUTH_ALG__COUNT] = { 16, 32 };

/* Challenges list the strongest first (RFC 8760 section 2.4). */
static const enum auth_alg offer_order[AUTH_ALG__COUNT] = { AUTH_ALG_SHA256, AUTH_ALG_MD5 };

struct auth_user {
	struct hnode node;
	uint8_t ha1[AUTH_ALG__COUNT][DIGEST_MAX];
	uint8_t has;                  /* bit 1 << alg: that secret is set */
	unsigned line;                /* in the users file, for duplicate reports */
	char name[AUTH_USER_MAX + 1];
};

/* One loaded users file; a reload builds a new one and swaps it whole. */
struct auth_users {
	struct htable tab;
	struct auth_user *v;
	unsigned n;
};

/* Highest nonce count accepted for one nonce; nc 0 marks a free entry. */
struct nc_entry {
	uint64_t tag;                 /* MAC bytes 0..7 of the nonce */
	uint64_t ts;                  /* its time stamp */
	uint32_t nc;
};

/*
 * Set-associative: a nonce has one set (MAC bytes 8..11) of AUTH_NC_WAYS
 * entries. evicted_ts is the newest stamp of a live entry pushed out: a
 * nonce at or below it that is not found may have been used already.
 */
struct nc_set {
	struct nc_entry e[AUTH_NC_WAYS];
	uint64_t evicted_ts;
	bool evicted;
};

struct auth {
	struct auth_users *users;
	char realm[CONFIG_REALM_MAX];
	size_t realm_len;
	unsigned algs;                /* CONFIG_AUTH_* bits */
	uint64_t ttl_ms;
	uint64_t ts_offset;
	uint8_t dummy[AUTH_ALG__COUNT][DIGEST_MAX];   /* HA1 for users that do not exist */
	EVP_MD *md[AUTH_ALG__COUNT];  /* NULL when this OpenSSL lacks it */
	EVP_MD_CTX *mdctx;
	EVP_MAC_CTX *mac;             /* HMAC-SHA-256, keyed once */
	struct nc_set *nc;            /* NC_SETS sets */
	struct auth_stats stats;
};

/* Credentials for our realm, checked for form, values unquoted. */
struct cred {
	enum auth_alg alg;
	char user[AUTH_USER_MAX + 1];
	size_t user_len;
	char nonce[AUTH_NONCE_MAX + 1];
	size_t nonce_len;
	char cnonce[AUTH_NONCE_MAX + 1];
	size_t cnonce_len;
	char uri[SIP_MAX_LINE + 1];
	size_t uri_len;
	struct pl nc, qop;            /* as sent: they enter the hash */
	uint32_t ncv;
	uint8_t resp[DIGEST_MAX];
};

enum nonce_state { NONCE_FRESH, NONCE_EXPIRED, NONCE_FOREIGN };
enum nc_state { NC_OK, NC_REPLAY, NC_LOST };

struct nonce_info {
	uint64_t ts;
	uint64_t tag;
	uint32_t set;
};

/* Add "NAME: line N: MESSAGE" (or "NAME: MESSAGE" for line 0) to errs, if any. */
static void err_add(struct config_errors *errs, const char *name, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void err_add(struct config_errors *errs, const char *name, unsigned line, const char *fmt, ...)
{
	struct wbuf wb;
	va_list ap;

	if (!errs)
		return;
	if (errs->n >= CONFIG_ERRORS_MAX) {
		errs->dropped++;
		return;
	}
	wbuf_init(&wb, errs->msg[errs->n++], CONFIG_ERROR_LEN);
	wbuf_printf(&wb, "%s: ", name);
	if (line)
		wbuf_printf(&wb, "line %u: ", line);
	va_start(ap, fmt);
	vsnprintf(wb.p + wb.len, wb.size - wb.len, fmt, ap);
	va_end(ap);
}

/* 2 * n hex digits (any case) into n bytes; false on anything else. */
static bool hex_decode(const char *s, size_t len, uint8_t *out, size_t n)
{
	if (len != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_digit(s[2 * i]), lo = hex_digit(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

/* n bytes as 2n lowercase hex digits and a NUL. */
static void hex_encode(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- users file ---- */

static void users_destroy(void *arg)
{
	struct auth_users *u = arg;

	htable_close(&u->tab);
	mem_deref(u->v);
}

static const struct auth_user *user_find(const struct auth_users *u, const char *name, size_t len)
{
	uint32_t h = hash_keyed(name, len);

	for (struct hnode *n = htable_first(&u->tab, h); n; n = hnode_next_same(n, h)) {
		const struct auth_user *au = container_of(n, struct auth_user, node);

		if (strlen(au->name) == len && memcmp(au->name, name, len) == 0)
			return au;
	}
	return NULL;
}

/*
 * Printable ASCII but ':' (the field separator), '"' and '\' (the name is
 * a quoted string on the wire), at most AUTH_USER_MAX bytes.
 */
static bool user_name_valid(const struct pl *n)
{
	if (!n->l || n->l > AUTH_USER_MAX)
		return false;
	for (size_t i = 0; i < n->l; i++) {
		unsigned char ch = (unsigned char)n->p[i];

		if (ch <= 0x20 || ch >= 0x7f || ch == ':' || ch == '"' || ch == '\\')
			return false;
	}
	return true;
}

static struct pl pl_trim_ws(struct pl pl)
{
	while (pl.l && (pl.p[0] == ' ' || pl.p[0] == '\t' || pl.p[0] == '\r'))
		pl_advance(&pl, 1);
	while (pl.l && (pl.p[pl.l - 1] == ' ' || pl.p[pl.l - 1] == '\t' || pl.p[pl.l - 1] == '\r'))
		pl.l--;
	return pl;
}

/* A line that holds a user: not blank, not a comment. */
static bool line_is_user(struct pl line)
{
	line = pl_trim_ws(line);
	return line.l && line.p[0] != '#';
}

/* One secret field: "-" (none) or exactly the hex length of alg. */
static int secret_parse(struct auth_user *au, enum auth_alg alg, const struct pl *f)
{
	if (f->l == 1 && f->p[0] == '-')
		return 0;
	if (!hex_decode(f->p, f->l, au->ha1[alg], alg_len[alg]))
		return EINVAL;
	au->has |= (uint8_t)(1u << alg);
	return 0;
}

/* Split "USER:HA1-MD5:HA1-SHA-256" into its three fields. */
static bool fields_split(struct pl line, struct pl f[3])
{
	for (int i = 0; i < 2; i++) {
		const char *colon = pl_chr(&line, ':');

		if (!colon)
			return false;
		f[i] = (struct pl){ line.p, (size_t)(colon - line.p) };
		pl_advance(&line, f[i].l + 1);
	}
	f[2] = line;
	return !pl_chr(&line, ':');
}

/* Parse one user line into the next entry of u; errors name the line. */
static int user_line(struct auth_users *u, const char *name, unsigned lineno, struct pl line,
		     struct config_errors *errs)
{
	struct auth_user *au = &u->v[u->n];
	const struct auth_user *dup;
	struct pl f[3];
	char q[4 * LOG_EXCERPT_MAX + 8];

	memset(au, 0, sizeof(*au));   /* a refused line before may have left bits here */
	if (!fields_split(line, f)) {
		err_add(errs, name, lineno, "not USER:HA1-MD5:HA1-SHA-256");
		return EINVAL;
	}
	if (!user_name_valid(&f[0])) {
		log_excerpt(q, sizeof(q), f[0].p, f[0].l);
		err_add(errs, name, lineno, "\"%s\" is not a user name (1-%d printable characters, no spaces, ':', '\"' or '\\')",
			q, AUTH_USER_MAX);
		return EINVAL;
	}
	if (secret_parse(au, AUTH_ALG_MD5, &f[1])) {
		err_add(errs, name, lineno, "HA1-MD5 is not 32 hex digits or -");
		return EINVAL;
	}
	if (secret_parse(au, AUTH_ALG_SHA256, &f[2])) {
		err_add(errs, name, lineno, "HA1-SHA-256 is not 64 hex digits or -");
		return EINVAL;
	}
	memcpy(au->name, f[0].p, f[0].l);
	if (!au->has) {
		err_add(errs, name, lineno, "user \"%s\" has neither secret", au->name);
		return EINVAL;
	}
	dup = user_find(u, au->name, f[0].l);
	if (dup) {
		err_add(errs, name, lineno, "user \"%s\" is also on line %u", au->name, dup->line);
		return EINVAL;
	}
	au->line = lineno;
	htable_add(&u->tab, &au->node, hash_keyed(au->name, f[0].l));
	u->n++;
	return 0;
}

/* How many lines of buf hold a user, to size the table before parsing. */
static unsigned lines_count_users(const char *buf, size_t len)
{
	struct pl rest = { buf, len };
	unsigned n = 0;

	while (rest.l) {
		const char *nl = pl_chr(&rest, '\n');
		struct pl line = { rest.p, nl ? (size_t)(nl - rest.p) : rest.l };

		n += line_is_user(line);
		pl_advance(&rest, nl ? line.l + 1 : line.l);
	}
	return n;
}

/* Check one raw line's size and bytes, then parse it if it holds a user. */
static int line_parse(struct auth_users *u, const char *name, unsigned lineno, struct pl line,
		      struct config_errors *errs)
{
	if (line.l > AUTH_LINE_MAX) {
		err_add(errs, name, lineno, "longer than %d bytes", AUTH_LINE_MAX);
		return EINVAL;
	}
	if (memchr(line.p, '\0', line.l)) {
		err_add(errs, name, lineno, "contains a NUL byte");
		return EINVAL;
	}
	if (!line_is_user(line))
		return 0;
	return user_line(u, name, lineno, pl_trim_ws(line), errs);
}

/*
 * Parse a whole users file held in buf. Every bad line is reported (up to
 * the cap of errs); *up is set only when there is none. name is the file
 * name used in the messages.
 */
static int users_parse(const char *name, const char *buf, size_t len, struct auth_users **up,
		       struct config_errors *errs)
{
	unsigned count = lines_count_users(buf, len), lineno = 0;
	struct pl rest = { buf, len };
	struct auth_users *u;
	int err, bad = 0;

	if (count > AUTH_USERS_MAX) {
		err_add(errs, name, 0, "%u users, at most %d are allowed", count, AUTH_USERS_MAX);
		return EINVAL;
	}
	u = mem_zalloc(sizeof(*u), users_destroy);
	if (!u)
		return ENOMEM;
	u->v = mem_zalloc((count ? count : 1) * sizeof(*u->v), NULL);
	err = u->v ? htable_init(&u->tab, count ? count : 1) : ENOMEM;
	if (err)
		goto out_free;
	while (rest.l) {
		const char *nl = pl_chr(&rest, '\n');
		struct pl line = { rest.p, nl ? (size_t)(nl - rest.p) : rest.l };

		lineno++;
		bad |= line_parse(u, name, lineno, line, errs) != 0;
		pl_advance(&rest, nl ? line.l + 1 : line.l);
	}
	if (bad) {
		err = EINVAL;
		goto out_free;
	}
	*up = u;
	return 0;

 out_free:
	mem_deref(u);
	return err;
}

/* Warn once per load when the file's HA1s (password equivalents) are readable by others. */
static void file_mode_check(const char *path, const struct stat *st)
{
	if (st->st_mode & (S_IRWXG | S_IRWXO))
		log_warn("auth: %s is accessible to group or others (mode %03o): its HA1 values are as good as passwords; chmod 600 it",
			 path, (unsigned)(st->st_mode & 0777));
}

/*
 * Read a regular file of at most AUTH_FILE_MAX bytes. ENOENT (not
 * reported: the caller decides whether a missing file matters), EINVAL
 * (reported), ENOMEM.
 */
static int file_load(const char *path, char **bufp, size_t *lenp, struct config_errors *errs)
{
	struct stat st;
	int err = file_read_max(path, AUTH_FILE_MAX, bufp, lenp, NULL, &st);

	switch (err) {
	case 0:
		file_mode_check(path, &st);
		return 0;
	case ENOENT:
	case ENOMEM:
		return err;
	case EINVAL:
		err_add(errs, path, 0, "cannot read: not a regular file");
		break;
	case EFBIG:
		err_add(errs, path, 0, "larger than %d bytes", AUTH_FILE_MAX);
		break;
	default:
		err_add(errs, path, 0, "cannot read: %s", strerror(err));
		break;
	}
	return EINVAL;
}

/* ---- hashing ---- */

/*
 * H(p0 ":" p1 ":" ...) into bin (dlen bytes) with md on ctx. 0 or EIO.
 * The one digest routine of the module: server checks, HA1 for users
 * files and client credentials all go through it.
 */
static int hash_parts(EVP_MD_CTX *ctx, const EVP_MD *md, size_t dlen, const struct pl *parts, size_t n,
		      uint8_t *bin)
{
	unsigned int outl;

	if (!EVP_DigestInit_ex(ctx, md, NULL))
		return EIO;
	for (size_t i = 0; i < n; i++) {
		if ((i && !EVP_DigestUpdate(ctx, ":", 1)) ||
		    !EVP_DigestUpdate(ctx, parts[i].p, parts[i].l))
			return EIO;
	}
	if (!EVP_DigestFinal_ex(ctx, bin, &outl) || outl != dlen)
		return EIO;
	return 0;
}

/* What enters a response besides HA1. qop empty: RFC 2617 without qop (RFC 2069 compatible). */
struct digest_in {
	enum auth_alg alg;
	struct pl method, uri, nonce, nc, cnonce, qop;
};

/*
 * The response a client knowing ha1 (binary) sends (RFC 7616 3.4.1):
 * H(hex(HA1) ":" nonce ":" nc ":" cnonce ":" qop ":" hex(H(method ":" uri))),
 * or without qop H(hex(HA1) ":" nonce ":" hex(H(method ":" uri))).
 */
static int digest_response(EVP_MD_CTX *ctx, const EVP_MD *md, const struct digest_in *in,
			   const uint8_t *ha1, uint8_t *out)
{
	size_t dl = alg_len[in->alg];
	char ha1hex[2 * DIGEST_MAX + 1], ha2hex[2 * DIGEST_MAX + 1];
	uint8_t ha2[DIGEST_MAX];
	struct pl a2[2] = { in->method, in->uri };
	struct pl r[6];
	size_t n = 0;
	int err;

	err = hash_parts(ctx, md, dl, a2, 2, ha2);
	if (err)
		return err;
	hex_encode(ha1, dl, ha1hex);
	hex_encode(ha2, dl, ha2hex);
	r[n++] = (struct pl){ ha1hex, 2 * dl };
	r[n++] = in->nonce;
	if (in->qop.l) {
		r[n++] = in->nc;
		r[n++] = in->cnonce;
		r[n++] = in->qop;
	}
	r[n++] = (struct pl){ ha2hex, 2 * dl };
	err = hash_parts(ctx, md, dl, r, n, out);
	OPENSSL_cleanse(ha1hex, sizeof(ha1hex));
	return err;
}

/* The response to c for a user whose secret is ha1 (qop=auth: cred_parse insists). */
static int response_calc(struct auth *a, const struct cred *c, const struct pl *method,
			 const uint8_t *ha1, uint8_t *out)
{
	struct digest_in in = {
		.alg = c->alg, .method = *method, .uri = { c->uri, c->uri_len },
		.nonce = { c->nonce, c->nonce_len }, .nc = c->nc,
		.cnonce = { c->cnonce, c->cnonce_len }, .qop = c->qop,
	};

	return digest_response(a->mdctx, a->md[c->alg], &in, ha1, out);
}

/*
 * Is c's response right for a user in the file? A user who is not there,
 * or has no secret for c->alg, is checked against a random HA1: the same
 * work, the same answer as a wrong password. *known tells which it was,
 * for the counters only.
 */
static bool response_right(struct auth *a, const struct cred *c, const struct pl *method,
			   const struct auth_user **up, bool *known)
{
	const struct auth_user *u = user_find(a->users, c->user, c->user_len);
	uint8_t want[DIGEST_MAX];
	bool right;

	*up = NULL;
	*known = u && (u->has & (1u << c->alg));
	if (response_calc(a, c, method, *known ? u->ha1[c->alg] : a->dummy[c->alg], want))
		return false;
	right = CRYPTO_memcmp(want, c->resp, alg_len[c->alg]) == 0;
	*up = *known ? u : NULL;
	return right && *known;
}

/* ---- nonces ---- */

/* MAC of stamp and salt (raw[0..13]) under the process key, bound to the realm. */
static int nonce_mac(struct auth *a, const uint8_t *raw, uint8_t mac[MAC_BYTES])
{
	uint8_t full[EVP_MAX_MD_SIZE];
	size_t outl;

	if (!EVP_MAC_init(a->mac, NULL, 0, NULL) ||
	    !EVP_MAC_update(a->mac, (const uint8_t *)NONCE_LABEL, sizeof(NONCE_LABEL) - 1) ||
	    !EVP_MAC_update(a->mac, raw, TS_BYTES + SALT_BYTES) ||
	    !EVP_MAC_update(a->mac, (const uint8_t *)a->realm, a->realm_len) ||
	    !EVP_MAC_final(a->mac, full, &outl, sizeof(full)) || outl < MAC_BYTES)
		return EIO;
	memcpy(mac, full, MAC_BYTES);
	return 0;
}

static uint64_t stamp_now(const struct auth *a, uint64_t now_ms)
{
	return (now_ms + a->ts_offset) & TS_MASK;
}

/* A fresh nonce for now_ms, NUL-terminated, AUTH_NONCE_LEN characters. */
static int nonce_make(struct auth *a, uint64_t now_ms, char out[AUTH_NONCE_LEN + 1])
{
	uint8_t raw[NONCE_RAW];
	uint64_t ts = stamp_now(a, now_ms);
	int err;

	for (int i = 0; i < TS_BYTES; i++)
		raw[i] = (uint8_t)(ts >> (8 * (TS_BYTES - 1 - i)));
	if (RAND_bytes(raw + TS_BYTES, SALT_BYTES) != 1)
		return EIO;
	err = nonce_mac(a, raw, raw + TS_BYTES + SALT_BYTES);
	if (err)
		return err;
	EVP_EncodeBlock((unsigned char *)out, raw, NONCE_RAW);
	for (int i = 0; i < AUTH_NONCE_LEN; i++) {
		if (out[i] == '+')
			out[i] = '-';
		else if (out[i] == '/')
			out[i] = '_';
	}
	out[AUTH_NONCE_LEN] = '\0';
	return 0;
}

/* Strict base64url of exactly NONCE_RAW bytes. */
static bool nonce_decode(const char *s, size_t len, uint8_t raw[NONCE_RAW])
{
	unsigned char b64[AUTH_NONCE_LEN + 1];
	uint8_t out[NONCE_RAW + 3];

	if (len != AUTH_NONCE_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		if (ch == '-')
			ch = '+';
		else if (ch == '_')
			ch = '/';
		else if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')))
			return false;
		b64[i] = (unsigned char)ch;
	}
	b64[len] = '\0';
	if (EVP_DecodeBlock(out, b64, (int)len) != NONCE_RAW)
		return false;
	memcpy(raw, out, NONCE_RAW);
	return true;
}

/*
 * Ours (the MAC verifies under this process's key and realm) and how old.
 * A stamp from the future is not ours either.
 */
static enum nonce_state nonce_check(struct auth *a, const char *nonce, size_t len, uint64_t now_ms,
				    struct nonce_info *ni)
{
	uint8_t raw[NONCE_RAW], mac[MAC_BYTES];
	const uint8_t *m = raw + TS_BYTES + SALT_BYTES;
	uint64_t ts = 0, age;

	if (!nonce_decode(nonce, len, raw) || nonce_mac(a, raw, mac) ||
	    CRYPTO_memcmp(mac, m, MAC_BYTES) != 0)
		return NONCE_FOREIGN;
	for (int i = 0; i < TS_BYTES; i++)
		ts = ts << 8 | raw[i];
	age = (stamp_now(a, now_ms) - ts) & TS_MASK;
	if (age > (TS_MASK >> 1))
		return NONCE_FOREIGN;
	ni->ts = ts;
	ni->tag = 0;
	for (int i = 0; i < 8; i++)
		ni->tag = ni->tag << 8 | m[i];
	ni->set = ((uint32_t)m[8] << 24 | (uint32_t)m[9] << 16 | (uint32_t)m[10] << 8 | m[11]) & (NC_SETS - 1);
	return age > a->ttl_ms ? NONCE_EXPIRED : NONCE_FRESH;
}

/* The entry of a set to reuse: a free one, else an expired one, else the oldest. */
static struct nc_entry *nc_victim(struct auth *a, struct nc_set *s, uint64_t now_ts)
{
	struct nc_entry *old = &s->e[0];

	for (int i = 0; i < AUTH_NC_WAYS; i++) {
		struct nc_entry *e = &s->e[i];

		if (!e->nc || ((now_ts - e->ts) & TS_MASK) > a->ttl_ms)
			return e;
		if (e->ts < old->ts)
			old = e;
	}
	if (!s->evicted || old->ts > s->evicted_ts)
		s->evicted_ts = old->ts;
	s->evicted = true;
	a->stats.nc_evicted++;
	return old;
}

/*
 * Nonce counts must rise (RFC 7616 3.4.5). Called only once the response
 * is right, so a forger cannot burn a client's counts. A nonce not in the
 * table whose stamp is no newer than an entry pushed out of its set may
 * have been used before: NC_LOST, the client takes a new nonce.
 */
static enum nc_state nc_check(struct auth *a, const struct nonce_info *ni, uint32_t nc, uint64_t now_ms)
{
	struct nc_set *s = &a->nc[ni->set];
	struct nc_entry *e;

	for (int i = 0; i < AUTH_NC_WAYS; i++) {
		e = &s->e[i];
		if (!e->nc || e->tag != ni->tag || e->ts != ni->ts)
			continue;
		if (nc <= e->nc)
			return NC_REPLAY;
		e->nc = nc;
		return NC_OK;
	}
	if (s->evicted && ni->ts <= s->evicted_ts)
		return NC_LOST;
	e = nc_victim(a, s, stamp_now(a, now_ms));
	e->tag = ni->tag;
	e->ts = ni->ts;
	e->nc = nc;
	return NC_OK;
}

/* ---- credentials ---- */

/* Unquote a digest value into out (size bytes); empty or too long is EBADMSG. */
static int value_get(const struct pl *v, char *out, size_t size, size_t *len)
{
	if (!v->l || sip_unquote(v, out, size, len) || !*len)
		return EBADMSG;
	return 0;
}

/* Digest credentials whose realm is ours? */
static bool realm_ours(const struct auth *a, const struct sip_digest *dg)
{
	char realm[CONFIG_REALM_MAX];
	size_t len;

	if (!pl_caseeq_str(&dg->scheme, "Digest") || value_get(&dg->realm, realm, sizeof(realm), &len))
		return false;
	return len == a->realm_len && memcmp(realm, a->realm, len) == 0;
}

/* The algorithm named (absent: MD5, RFC 7616 3.3); ENOTSUP when we do not offer it. */
static int alg_get(const struct auth *a, const struct pl *name, enum auth_alg *alg)
{
	if (!name->l || pl_caseeq_str(name, "MD5"))
		*alg = AUTH_ALG_MD5;
	else if (pl_caseeq_str(name, "SHA-256"))
		*alg = AUTH_ALG_SHA256;
	else
		return ENOTSUP;
	return (a->algs & (1u << *alg)) && a->md[*alg] ? 0 : ENOTSUP;
}

/* nc: exactly 8 hex digits, not zero. */
static int nc_get(const struct pl *nc, uint32_t *v)
{
	uint8_t b[4];

	if (!hex_decode(nc->p, nc->l, b, sizeof(b)))
		return EBADMSG;
	*v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return *v ? 0 : EBADMSG;
}

/* Fill c from dg (ours): ENOTSUP for an algorithm we do not offer, EBADMSG for a bad or oversized field. */
static int cred_parse(const struct auth *a, const struct sip_digest *dg, struct cred *c)
{
	int err = alg_get(a, &dg->algorithm, &c->alg);

	if (err)
		return err;
	if (value_get(&dg->username, c->user, sizeof(c->user), &c->user_len) ||
	    value_get(&dg->nonce, c->nonce, sizeof(c->nonce), &c->nonce_len) ||
	    value_get(&dg->cnonce, c->cnonce, sizeof(c->cnonce), &c->cnonce_len) ||
	    value_get(&dg->uri, c->uri, sizeof(c->uri), &c->uri_len) ||
	    nc_get(&dg->nc, &c->ncv) || !pl_caseeq_str(&dg->qop, "auth") ||
	    !hex_decode(dg->response.p, dg->response.l, c->resp, alg_len[c->alg]))
		return EBADMSG;
	c->nc = dg->nc;
	c->qop = dg->qop;
	return 0;
}

/* Does a header value that failed to decode at least claim to be Digest? */
static bool claims_digest(const struct pl *val)
{
	struct pl v = pl_trim(*val);
	struct pl word = { v.p, 0 };

	while (word.l < v.l && v.p[word.l] != ' ' && v.p[word.l] != '\t')
		word.l++;
	return pl_caseeq_str(&word, "Digest");
}

/*
 * The first credentials of header id for our realm and an algorithm we
 * offer. AUTH_OK: c is filled; AUTH_CHALLENGE: none; AUTH_FAIL: ours (or
 * claiming Digest) but malformed. Other schemes and realms are left for
 * whoever they are meant for.
 */
static enum auth_result cred_find(const struct auth *a, const struct sip_msg *req, enum sip_hdr_id id,
				  struct cred *c)
{
	for (const struct sip_hdr *h = sip_msg_hdr(req, id); h; h = sip_msg_hdr_next(req, h)) {
		struct sip_digest dg;
		int err;

		if (sip_digest_decode(&dg, &h->val)) {
			if (claims_digest(&h->val))
				return AUTH_FAIL;
			continue;
		}
		if (!realm_ours(a, &dg))
			continue;
		err = cred_parse(a, &dg, c);
		if (err == ENOTSUP)
			continue;
		return err ? AUTH_FAIL : AUTH_OK;
	}
	return AUTH_CHALLENGE;
}

/*
 * Is this Authorization or Proxy-Authorization value Digest credentials
 * for our realm? The B2BUA drops those instead of relaying them to the core.
 */
bool auth_credentials_ours(const struct auth *a, const struct pl *val)
{
	struct sip_digest dg;

	return sip_digest_decode(&dg, val) == 0 && realm_ours(a, &dg);
}

static enum auth_result fail(struct auth *a, uint64_t *why)
{
	a->stats.fail++;
	if (why)
		(*why)++;
	return AUTH_FAIL;
}

static enum auth_result stale(struct auth *a)
{
	a->stats.stale++;
	return AUTH_STALE;
}

/*
 * Check a request's credentials (Authorization, or Proxy-Authorization
 * when proxy) for our realm. Call it once per new server transaction, not
 * for retransmissions. Every early exit depends on the request alone,
 * never on whether the user exists; from the response on, an unknown user
 * takes the same path as a wrong password. On AUTH_OK *user (may be NULL)
 * is the user's name, valid until the next auth_reload or auth_users_load.
 */
enum auth_result auth_check(struct auth *a, const struct sip_msg *req, bool proxy, uint64_t now_ms,
			    const char **user)
{
	const struct auth_user *u;
	struct nonce_info ni;
	struct cred c;
	enum auth_result r;
	enum nc_state ns;
	bool known;

	if (user)
		*user = NULL;
	if (!req->req)
		return fail(a, &a->stats.malformed);
	r = cred_find(a, req, proxy ? SIP_HDR_PROXY_AUTHORIZATION : SIP_HDR_AUTHORIZATION, &c);
	if (r == AUTH_CHALLENGE)
		return r;
	if (r == AUTH_FAIL)
		return fail(a, &a->stats.malformed);
	/* RFC 7616 3.4.6: the digest uri names the resource of this very request */
	if (c.uri_len != req->ruri.l || memcmp(c.uri, req->ruri.p, c.uri_len) != 0)
		return fail(a, &a->stats.bad_uri);
	if (!response_right(a, &c, &req->method, &u, &known))
		return fail(a, known ? NULL : &a->stats.unknown_user);
	/* the client knows the secret: an old or foreign nonce only needs renewing */
	if (nonce_check(a, c.nonce, c.nonce_len, now_ms, &ni) != NONCE_FRESH)
		return stale(a);
	ns = nc_check(a, &ni, c.ncv, now_ms);
	if (ns == NC_REPLAY)
		return fail(a, &a->stats.replays);
	if (ns == NC_LOST)
		return stale(a);
	a->stats.ok++;
	if (user)
		*user = u->name;
	return AUTH_OK;
}

/*
 * Append the challenge lines (WWW-Authenticate, or Proxy-Authenticate when
 * proxy), one per algorithm, SHA-256 first, all with one fresh nonce.
 * 0, ENOSPC (out unchanged) or EIO.
 */
int auth_challenge_write(struct auth *a, bool proxy, bool is_stale, uint64_t now_ms, struct wbuf *out)
{
	const char *name = proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
	char nonce[AUTH_NONCE_LEN + 1];
	size_t start = out->len;
	int err = nonce_make(a, now_ms, nonce);

	for (size_t i = 0; !err && i < ARRAY_SIZE(offer_order); i++) {
		enum auth_alg alg = offer_order[i];

		if (!(a->algs & (1u << alg)) || !a->md[alg])
			continue;
		err = wbuf_printf(out, "%s: Digest realm=\"%s\", nonce=\"%s\", algorithm=%s, qop=\"auth\"%s\r\n",
				  name, a->realm, nonce, alg_names[alg], is_stale ? ", stale=true" : "");
	}
	if (err) {
		out->len = start;
		return err;
	}
	a->stats.challenges++;
	return 0;
}

/*
 * Test hook: are these credentials (a header value) right for method, for
 * a user in the file, whatever the nonce and uri? AUTH_OK, AUTH_FAIL, or
 * AUTH_CHALLENGE when they are not for our realm and algorithms. Counts nothing.
 */
enum auth_result auth_response_verify(struct auth *a, const struct pl *method, const struct pl *credentials)
{
	const struct auth_user *u;
	struct sip_digest dg;
	struct cred c;
	bool known;
	int err;

	if (sip_digest_decode(&dg, credentials))
		return AUTH_FAIL;
	if (!realm_ours(a, &dg))
		return AUTH_CHALLENGE;
	err = cred_parse(a, &dg, &c);
	if (err)
		return err == ENOTSUP ? AUTH_CHALLENGE : AUTH_FAIL;
	return response_right(a, &c, method, &u, &known) ? AUTH_OK : AUTH_FAIL;
}

/* ---- set-up ---- */

static void auth_destroy(void *arg)
{
	struct auth *a = arg;

	mem_deref(a->users);
	mem_deref(a->nc);
	for (int i = 0; i < AUTH_ALG__COUNT; i++)
		EVP_MD_free(a->md[i]);
	EVP_MD_CTX_free(a->mdctx);
	EVP_MAC_CTX_free(a->mac);
	OPENSSL_cleanse(a->dummy, sizeof(a->dummy));
}

/* Digests, the HMAC keyed with a random per-process key, dummy HA1s, the stamp offset. */
static int crypto_setup(struct auth *a)
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	uint8_t key[32];
	EVP_MAC *mac;
	int ok;

	/* MD5 may be missing (a FIPS-only OpenSSL): then it is simply not offered */
	for (int i = 0; i < AUTH_ALG__COUNT; i++)
		a->md[i] = EVP_MD_fetch(NULL, alg_fetch[i], NULL);
	a->mdctx = EVP_MD_CTX_new();
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	a->mac = mac ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac);
	if (!a->md[AUTH_ALG_SHA256] || !a->mdctx || !a->mac)
		return ENOMEM;
	if (RAND_bytes(key, sizeof(key)) != 1 ||
	    RAND_bytes(&a->dummy[0][0], sizeof(a->dummy)) != 1 ||
	    RAND_bytes((unsigned char *)&a->ts_offset, sizeof(a->ts_offset)) != 1)
		return EIO;
	a->ts_offset &= TS_OFFSET_MASK;
	ok = EVP_MAC_init(a->mac, key, sizeof(key), params);
	OPENSSL_cleanse(key, sizeof(key));
	return ok ? 0 : EIO;
}

/* A realm goes inside a quoted string of every challenge. */
static bool realm_valid(const char *r)
{
	size_t len = r ? strlen(r) : 0;

	if (!len || len >= CONFIG_REALM_MAX)
		return false;
	for (; *r; r++) {
		if ((unsigned char)*r < 0x20 || *r == 0x7f || *r == '"' || *r == '\\')
			return false;
	}
	return true;
}

/* Replace the users with those parsed from buf; on any error the old ones stay. */
int auth_users_load(struct auth *a, const char *name, const char *buf, size_t len,
		    struct config_errors *errs)
{
	struct auth_users *u = NULL;
	int err;

	if (errs)
		config_errors_init(errs);
	err = users_parse(name, buf, len, &u, errs);
	if (err)
		return err;
	mem_deref(a->users);
	a->users = u;
	a->stats.users = u->n;
	return 0;
}

/* Everything of cfg but the users, checked before anything changes. */
static int settings_check(const struct auth *a, const struct config_auth *cfg, const char *realm,
			  struct config_errors *errs)
{
	if (!realm_valid(realm)) {
		err_add(errs, "[auth] realm", 0, "none set, and no usable public zone address to fall back on");
		return EINVAL;
	}
	if (!cfg->algorithms || (cfg->algorithms & ~(unsigned)(CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256))) {
		err_add(errs, "[auth] algorithms", 0, "no algorithm");
		return EINVAL;
	}
	if (cfg->algorithms == CONFIG_AUTH_MD5 && !a->md[AUTH_ALG_MD5]) {
		err_add(errs, "[auth] algorithms", 0, "MD5 is not available from this OpenSSL");
		return EINVAL;
	}
	return 0;
}

/*
 * Apply cfg: realm (cfg->realm, else realm_fallback), algorithms, nonce
 * lifetime, and the users file. Nothing changes unless all of it is good,
 * so a SIGHUP with a broken users file keeps the running users. The key
 * stays: nonces handed out before remain valid (unless the realm changed).
 */
int auth_reload(struct auth *a, const struct config_auth *cfg, const char *realm_fallback,
		struct config_errors *errs)
{
	const char *realm = cfg->realm[0] ? cfg->realm : realm_fallback;
	struct auth_users *u = NULL;
	char *buf = NULL;
	size_t len = 0;
	int err;

	if (errs)
		config_errors_init(errs);
	err = settings_check(a, cfg, realm, errs);
	if (err)
		return err;
	err = file_load(cfg->users_file, &buf, &len, errs);
	if (err == ENOENT && cfg->local) {
		err_add(errs, cfg->users_file, 0, "cannot read: %s (needed by [auth] local = yes)", strerror(ENOENT));
		return EINVAL;
	}
	if (err && err != ENOENT)
		return err;
	err = users_parse(cfg->users_file, buf ? buf : "", len, &u, errs);
	mem_deref(buf);
	if (err)
		return err;
	mem_deref(a->users);
	a->users = u;
	a->stats.users = u->n;
	a->realm_len = strlen(realm);
	memcpy(a->realm, realm, a->realm_len + 1);
	a->algs = cfg->algorithms;
	a->ttl_ms = (uint64_t)cfg->nonce_ttl_s * 1000;
	if (cfg->local && !u->n)
		log_warn("auth: %s holds no users: every request that needs authentication will be refused",
			 cfg->users_file);
	return 0;
}

/*
 * A new authenticator for cfg (see auth_reload). The HMAC key, the dummy
 * secrets and the stamp offset are random per process.
 */
int auth_alloc(struct auth **ap, const struct config_auth *cfg, const char *realm_fallback,
	       struct config_errors *errs)
{
	struct auth *a;
	int err;

	if (errs)
		config_errors_init(errs);
	if (!ap || !cfg)
		return EINVAL;
	a = mem_zalloc(sizeof(*a), auth_destroy);
	if (!a)
		return ENOMEM;
	a->nc = mem_zalloc(NC_SETS * sizeof(*a->nc), NULL);
	err = a->nc ? crypto_setup(a) : ENOMEM;
	if (!err)
		err = auth_reload(a, cfg, realm_fallback, errs);
	if (err) {
		mem_deref(a);
		return err;
	}
	*ap = a;
	return 0;
}

const char *auth_realm(const struct auth *a)
{
	return a->realm;
}

const struct auth_stats *auth_stats(const struct auth *a)
{
	return &a->stats;
}

const char *auth_result_name(enum auth_result r)
{
	static const char *const names[] = { "ok", "challenge", "stale", "fail" };

	return (unsigned)r < ARRAY_SIZE(names) ? names[r] : "?";
}

/* A digest of alg for callers without a struct auth (users file lines, client credentials). */
static int md_open(enum auth_alg alg, EVP_MD **md, EVP_MD_CTX **ctx)
{
	*md = EVP_MD_fetch(NULL, alg_fetch[alg], NULL);
	*ctx = EVP_MD_CTX_new();
	if (*md && *ctx)
		return 0;
	EVP_MD_CTX_free(*ctx);
	EVP_MD_free(*md);
	*ctx = NULL;
	*md = NULL;
	return alg == AUTH_ALG_MD5 ? ENOTSUP : ENOMEM;   /* MD5 may be missing (FIPS) */
}

static void md_close(EVP_MD *md, EVP_MD_CTX *ctx)
{
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
}

/* HA1 = H(user ":" realm ":" password), binary, into bin (alg_len bytes). */
static int ha1_calc(EVP_MD_CTX *ctx, const EVP_MD *md, enum auth_alg alg, const struct pl *user,
		    const struct pl *realm, const char *password, uint8_t *bin)
{
	struct pl parts[3] = { *user, *realm, pl_from_str(password) };

	return hash_parts(ctx, md, alg_len[alg], parts, 3, bin);
}

/*
 * HA1 = H(user ":" realm ":" password) as lowercase hex (size at least
 * 2 * digest length + 1), the value a users file holds. 0, ENOSPC, EIO.
 */
int auth_ha1_hex(enum auth_alg alg, const char *user, const char *realm, const char *password,
		 char *hex, size_t size)
{
	struct pl u = pl_from_str(user), r = pl_from_str(realm);
	uint8_t bin[DIGEST_MAX];
	EVP_MD_CTX *ctx;
	EVP_MD *md;
	int err;

	if ((unsigned)alg >= AUTH_ALG__COUNT)
		return EINVAL;
	if (size < 2 * alg_len[alg] + 1)
		return ENOSPC;
	if (md_open(alg, &md, &ctx))
		return EIO;
	err = ha1_calc(ctx, md, alg, &u, &r, password, bin);
	md_close(md, ctx);
	if (!err)
		hex_encode(bin, alg_len[alg], hex);
	OPENSSL_cleanse(bin, sizeof(bin));
	return err;
}

/* ---- client side: the SBC answering a provider's challenge ---- */

/* A challenge we can answer, unquoted where the hash needs it. */
struct client_chal {
	enum auth_alg alg;
	bool alg_named;               /* the challenge had an algorithm parameter: echo it */
	bool qop;                     /* qop offered, "auth" among it: answer with qop=auth */
	bool stale;
	struct sip_digest dg;
	char realm[AUTH_CHAL_VALUE_MAX + 1];
	size_t realm_len;
	char nonce[AUTH_CHAL_VALUE_MAX + 1];
	size_t nonce_len;
};

/* Does a qop-options list ("auth,auth-int", unquoted) name "auth"? */
static bool qop_has_auth(const struct pl *qop)
{
	struct pl rest = *qop;

	while (rest.l) {
		const char *comma = pl_chr(&rest, ',');
		struct pl item = { rest.p, comma ? (size_t)(comma - rest.p) : rest.l };

		pl_advance(&rest, comma ? item.l + 1 : item.l);
		item = pl_trim(item);
		if (pl_caseeq_str(&item, "auth"))
			return true;
	}
	return false;
}

/*
 * A value echoed into our credentials as received: no control bytes. A
 * folded header value could otherwise carry CR LF into our request.
 */
static bool echo_safe(const struct pl *v)
{
	for (size_t i = 0; i < v->l; i++) {
		unsigned char c = (unsigned char)v->p[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/*
 * One challenge header value: Digest, an algorithm we do (absent: MD5;
 * no -sess, no SHA-512-256), qop absent or offering auth, realm and nonce
 * within AUTH_CHAL_VALUE_MAX and free of control bytes. ENOTSUP, EMSGSIZE
 * or EBADMSG when not usable.
 */
static int client_chal_parse(const struct pl *val, struct client_chal *ch)
{
	memset(ch, 0, sizeof(*ch));
	if (val->l > AUTH_CHAL_MAX)
		return EMSGSIZE;
	if (sip_digest_decode(&ch->dg, val) || !pl_caseeq_str(&ch->dg.scheme, "Digest"))
		return EBADMSG;
	ch->alg_named = ch->dg.algorithm.l > 0;
	if (!ch->alg_named || pl_caseeq_str(&ch->dg.algorithm, "MD5"))
		ch->alg = AUTH_ALG_MD5;
	else if (pl_caseeq_str(&ch->dg.algorithm, "SHA-256"))
		ch->alg = AUTH_ALG_SHA256;
	else
		return ENOTSUP;
	if (ch->dg.qop.l && !qop_has_auth(&ch->dg.qop))
		return ENOTSUP;   /* auth-int only */
	ch->qop = ch->dg.qop.l > 0;
	ch->stale = pl_caseeq_str(&ch->dg.stale, "true");
	if (!ch->dg.realm.l || !ch->dg.nonce.l ||
	    sip_unquote(&ch->dg.realm, ch->realm, sizeof(ch->realm), &ch->realm_len) ||
	    sip_unquote(&ch->dg.nonce, ch->nonce, sizeof(ch->nonce), &ch->nonce_len) ||
	    !ch->nonce_len || ch->dg.opaque.l > AUTH_CHAL_VALUE_MAX || !echo_safe(&ch->dg.realm) ||
	    !echo_safe(&ch->dg.nonce) || !echo_safe(&ch->dg.opaque))
		return EBADMSG;
	return 0;
}

/*
 * The challenge of a 401 (WWW-Authenticate) or, when proxy, a 407
 * (Proxy-Authenticate) to answer: the strongest algorithm we do, the first
 * such header on a tie (RFC 8760 2.4). *val points into resp. 0, ENOENT
 * when none can be answered. *stale (may be NULL) tells whether it says
 * stale=true: the credentials were right, only the nonce was old.
 */
int auth_client_pick(const struct sip_msg *resp, bool proxy, struct pl *val, bool *stale)
{
	enum sip_hdr_id id = proxy ? SIP_HDR_PROXY_AUTHENTICATE : SIP_HDR_WWW_AUTHENTICATE;
	const struct sip_hdr *best = NULL;
	enum auth_alg best_alg = AUTH_ALG_MD5;
	bool best_stale = false;
	struct client_chal ch;
	EVP_MD *md;
	EVP_MD_CTX *ctx;

	for (const struct sip_hdr *h = sip_msg_hdr(resp, id); h; h = sip_msg_hdr_next(resp, h)) {
		if (client_chal_parse(&h->val, &ch))
			continue;
		if (best && ch.alg <= best_alg)
			continue;
		if (md_open(ch.alg, &md, &ctx))
			continue;   /* this OpenSSL cannot do it (MD5 under FIPS) */
		md_close(md, ctx);
		best = h;
		best_alg = ch.alg;
		best_stale = ch.stale;
	}
	if (!best)
		return ENOENT;
	*val = best->val;
	if (stale)
		*stale = best_stale;
	return 0;
}

/* Append s as the inside of a quoted string: '"' and '\' escaped (RFC 3261 25.1 quoted-pair). */
static int put_quoted(struct wbuf *out, const char *s)
{
	int err = 0;

	for (; *s && !err; s++) {
		if (*s == '"' || *s == '\\')
			err = wbuf_put(out, "\\", 1);
		if (!err)
			err = wbuf_put(out, s, 1);
	}
	return err;
}

/*
 * Append the answer to challenge (a WWW-Authenticate or Proxy-Authenticate
 * value, e.g. from auth_client_pick) as one complete line, Authorization
 * (Proxy-Authorization when proxy), for p->method on p->uri: RFC 7616
 * with qop=auth when the challenge offers it, RFC 2617 without qop when it
 * offers none. realm, nonce and opaque are echoed as received. The
 * password, HA1 and intermediate hashes are wiped after use and never
 * written anywhere. 0; ENOTSUP, EBADMSG, EMSGSIZE (a challenge we cannot
 * answer);
 * EINVAL (p); ENOSPC (out unchanged); EIO.
 */
int auth_client_answer(const struct pl *challenge, bool proxy, const struct auth_client_params *p,
		       struct wbuf *out)
{
	struct client_chal ch;
	struct pl user, realm;
	char cnonce[AUTH_NONCE_MAX + 1], nc[9];
	char resp[2 * DIGEST_MAX + 1];
	uint8_t ha1[DIGEST_MAX], bin[DIGEST_MAX], rnd[AUTH_CNONCE_BYTES];
	struct digest_in in;
	size_t start = out->len;
	EVP_MD_CTX *ctx;
	EVP_MD *md;
	int err;

	if (!p || !p->user || !p->user[0] || !p->password || !p->uri || !p->method.l || !p->nc ||
	    strlen(p->user) > AUTH_USER_MAX || (p->cnonce && !p->cnonce[0]))
		return EINVAL;
	err = client_chal_parse(challenge, &ch);
	if (err)
		return err;
	if (p->cnonce) {
		/* a test vector's: it goes into a quoted string as it is */
		if (strpbrk(p->cnonce, "\"\\") || strlen(p->cnonce) >= sizeof(cnonce))
			return EINVAL;
		memcpy(cnonce, p->cnonce, strlen(p->cnonce) + 1);
	} else {
		if (random_bytes(rnd, sizeof(rnd)))
			return EIO;
		hex_encode(rnd, sizeof(rnd), cnonce);
	}
	snprintf(nc, sizeof(nc), "%08x", (unsigned)p->nc);
	err = md_open(ch.alg, &md, &ctx);
	if (err)
		return err == ENOTSUP ? ENOTSUP : EIO;
	user = pl_from_str(p->user);
	realm = (struct pl){ ch.realm, ch.realm_len };
	in = (struct digest_in){
		.alg = ch.alg, .method = p->method, .uri = pl_from_str(p->uri),
		.nonce = { ch.nonce, ch.nonce_len }, .nc = pl_from_str(nc),
		.cnonce = pl_from_str(cnonce), .qop = ch.qop ? pl_from_str("auth") : (struct pl)PL_INIT,
	};
	err = ha1_calc(ctx, md, ch.alg, &user, &realm, p->password, ha1);
	if (!err)
		err = digest_response(ctx, md, &in, ha1, bin);
	md_close(md, ctx);
	OPENSSL_cleanse(ha1, sizeof(ha1));
	if (err)
		return EIO;
	hex_encode(bin, alg_len[ch.alg], resp);
	err = wbuf_printf(out, "%s: Digest username=\"", proxy ? "Proxy-Authorization" : "Authorization");
	if (!err)
		err = put_quoted(out, p->user);
	if (!err)
		err = wbuf_printf(out, "\", realm=\"%.*s\", nonce=\"%.*s\", uri=\"", (int)ch.dg.realm.l,
				  ch.dg.realm.p, (int)ch.dg.nonce.l, ch.dg.nonce.p);
	if (!err)
		err = put_quoted(out, p->uri);
	if (!err)
		err = wbuf_printf(out, "\", response=\"%s\"", resp);
	if (!err && ch.alg_named)
		err = wbuf_printf(out, ", algorithm=%s", alg_names[ch.alg]);
	if (!err && ch.qop)
		err = wbuf_printf(out, ", cnonce=\"%s\", qop=auth, nc=%s", cnonce, nc);
	if (!err && ch.dg.opaque.l)
		err = wbuf_printf(out, ", opaque=\"%.*s\"", (int)ch.dg.opaque.l, ch.dg.opaque.p);
	if (!err)
		err = wbuf_put_str(out, "\r\n");
	if (err)
		out->len = start;
	return err;
}
