/* tls: OpenSSL contexts for the SIP TLS listeners, and the self-signed pair made at first start. */
#include <errno.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "net.h"

enum { SELFSIGNED_DAYS = 3650 };

static void ssl_err(char *err, size_t size, const char *what)
{
	char detail[200];
	unsigned long e = ERR_get_error();

	if (!err || !size)
		return;
	if (e)
		ERR_error_string_n(e, detail, sizeof(detail));
	else
		snprintf(detail, sizeof(detail), "unknown error");
	snprintf(err, size, "%s: %s", what, detail);
	ERR_clear_error();
}

/* Server context with the certificate chain and key from files; TLS 1.2 at least. */
int net_tls_server_ctx(SSL_CTX **ctxp, const char *cert, const char *key, char *err,
		       size_t errsize)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		ssl_err(err, errsize, "SSL_CTX_new");
		return ENOMEM;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_err(err, errsize, cert);
		goto out_free;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_err(err, errsize, key);
		goto out_free;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_err(err, errsize, "key does not match the certificate");
		goto out_free;
	}
	*ctxp = ctx;
	return 0;

 out_free:
	SSL_CTX_free(ctx);
	return EINVAL;
}

/*
 * Client context for connections the SBC opens. Peers are not verified
 * yet: trunk TLS with CA configuration comes with trunks (docs/transports.md).
 */
int net_tls_client_ctx(SSL_CTX **ctxp)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (!ctx)
		return ENOMEM;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	*ctxp = ctx;
	return 0;
}

void net_tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}

/* Add one X.509 v3 extension from its text form. */
static int cert_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return EINVAL;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : EINVAL;
}

/* A server certificate's extensions: subjectAltName san, not a CA, signing, serverAuth. */
static int cert_server_exts(X509 *x, const char *san)
{
	if (cert_ext(x, NID_subject_alt_name, san) ||
	    cert_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
	    cert_ext(x, NID_key_usage, "critical,digitalSignature") ||
	    cert_ext(x, NID_ext_key_usage, "serverAuth"))
		return EINVAL;
	return 0;
}

/* Hand the PEM text in bio to wh. */
static int bio_to_pem_h(BIO *bio, bool key, net_tls_pem_h *wh, void *arg)
{
	char *data;
	long n = BIO_get_mem_data(bio, &data);

	if (n <= 0)
		return EIO;
	return wh(key, data, (size_t)n, arg);
}

/*
 * Make an ECDSA P-256 key and a self-signed certificate for cn, valid ten
 * years; with san (subjectAltName text, "IP:192.0.2.1") also the
 * extensions of a server certificate. wh gets the key's PEM, then the
 * certificate's. EIO (OpenSSL failed: its error queue is left to the
 * caller), or wh's error.
 */
int net_tls_selfsigned_pem(const char *cn, const char *san, net_tls_pem_h *wh, void *arg)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	BIO *kb = BIO_new(BIO_s_mem()), *cb = BIO_new(BIO_s_mem());
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	X509_NAME *name;
	int err = EIO;

	if (!pkey || !x || !kb || !cb)
		goto out;
	if (random_bytes(serial, sizeof(serial)))
		goto out;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
		goto out;
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), (long)SELFSIGNED_DAYS * 86400);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (san && cert_server_exts(x, san))
		goto out;
	if (!X509_sign(x, pkey, EVP_sha256()))
		goto out;
	if (PEM_write_bio_PrivateKey(kb, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_X509(cb, x) != 1)
		goto out;
	err = bio_to_pem_h(kb, true, wh, arg);
	if (!err)
		err = bio_to_pem_h(cb, false, wh, arg);
 out:
	BN_free(bn);
	BIO_free(kb);
	BIO_free(cb);
	X509_free(x);
	EVP_PKEY_free(pkey);
	return err;
}

struct selfsigned_files {
	const char *cert, *key;
};

/* The pair to its files: the key owner-only. */
static int selfsigned_write(bool key, const char *pem, size_t len, void *arg)
{
	const struct selfsigned_files *f = arg;

	return file_write_atomic(key ? f->key : f->cert, pem, len, key ? 0600 : 0644);
}

/*
 * Make an ECDSA P-256 key and a self-signed certificate for cn, valid ten
 * years, and write them atomically (the key owner-only). Used at first start
 * when the operator configured no certificate.
 */
int net_tls_selfsigned(const char *cert, const char *key, const char *cn)
{
	struct selfsigned_files f = { .cert = cert, .key = key };
	int err = net_tls_selfsigned_pem(cn, NULL, selfsigned_write, &f);

	ERR_clear_error();
	return err;
}
