/* seal: session cookies as AES-256-GCM tokens, their CSRF tokens, validity, and the revocation list. */
#include <errno.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "util/util.h"
#include "webd.h"

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char *const refuse_names[WEBD_REFUSE_N] = {
	[WEBD_REFUSE_MALFORMED] = "malformed",
	[WEBD_REFUSE_KEY] = "key",
	[WEBD_REFUSE_TAMPERED] = "tampered",
	[WEBD_REFUSE_EXPIRED] = "expired",
	[WEBD_REFUSE_FUTURE] = "future",
	[WEBD_REFUSE_REVOKED] = "revoked",
};

const char *webd_refuse_name(enum webd_refuse why)
{
	return why < WEBD_REFUSE_N ? refuse_names[why] : "?";
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* base64url without padding (RFC 4648 section 5) of in[0..len) into out (NUL-terminated). */
static int b64url_encode(const uint8_t *in, size_t len, char *out, size_t size)
{
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (size < (len * 4 + 2) / 3 + 1)
		return ENOSPC;
	for (size_t i = 0; i < len; i++) {
		acc = acc << 8 | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = b64url[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = b64url[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return 0;
}

static int b64url_value(char c)
{
	const char *p = c ? strchr(b64url, c) : NULL;

	return p ? (int)(p - b64url) : -1;
}

/*
 * Strict base64url: only the alphabet, no padding, no length that leaves
 * 6 bits (len % 4 == 1), and unused trailing bits zero (one text per
 * value). EBADMSG or ENOSPC.
 */
static int b64url_decode(const char *in, size_t len, uint8_t *out, size_t size, size_t *outlen)
{
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (len % 4 == 1 || len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0) > size)
		return len % 4 == 1 ? EBADMSG : ENOSPC;
	for (size_t i = 0; i < len; i++) {
		int v = b64url_value(in[i]);

		if (v < 0)
			return EBADMSG;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (bits && (acc & ((1u << bits) - 1)))
		return EBADMSG;
	*outlen = o;
	return 0;
}

/* One subkey: HMAC-SHA256(raw, label). */
static void subkey(const uint8_t *raw, size_t len, const char *label, uint8_t out[32])
{
	unsigned outlen = 32;

	HMAC(EVP_sha256(), raw, (int)len, (const unsigned char *)label, strlen(label), out, &outlen);
}

/*
 * The keys of session.key (exactly WEBD_SKEY_LEN bytes): separate
 * subkeys for sealing and for CSRF tokens, and a 32-bit id that tells a
 * token of another key (another box, or an older key) from a forged one.
 */
int webd_skey_init(struct webd_skey *k, const uint8_t *raw, size_t len)
{
	uint8_t id[32];

	if (len != WEBD_SKEY_LEN)
		return EINVAL;
	subkey(raw, len, "sbc-webd session aead v1", k->aead);
	subkey(raw, len, "sbc-webd session csrf v1", k->csrf);
	subkey(raw, len, "sbc-webd session key id", id);
	k->id = (uint32_t)id[0] << 24 | (uint32_t)id[1] << 16 | (uint32_t)id[2] << 8 | id[3];
	OPENSSL_cleanse(id, sizeof(id));
	return 0;
}

/* AES-256-GCM of in[0..len) into out (same length) and tag; aad authenticated. 0 or EIO/EACCES. */
static int gcm(bool enc, const uint8_t key[32], const uint8_t *nonce, const uint8_t *aad,
	       size_t aadlen, const uint8_t *in, size_t len, uint8_t *out, uint8_t *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n, ok;

	if (!c)
		return ENOMEM;
	ok = EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL, enc) == 1 &&
		EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, WEBD_SEAL_NONCE, NULL) == 1 &&
		EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc) == 1 &&
		EVP_CipherUpdate(c, NULL, &n, aad, (int)aadlen) == 1 &&
		EVP_CipherUpdate(c, out, &n, in, (int)len) == 1;
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, WEBD_SEAL_TAG, tag) == 1;
	if (ok)
		ok = EVP_CipherFinal_ex(c, out + n, &n) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, WEBD_SEAL_TAG, tag) == 1;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : enc ? EIO : EACCES;
}

/*
 * Seal t into out as the cookie value: base64url of
 * version(1) key-id(4) nonce(12) AES-256-GCM(sid(16) created(8) seen(8)
 * userlen(1) user) tag(16); the first 5 bytes are the associated data.
 * A fresh random nonce each time. 0, EINVAL (user), ENOSPC, EIO.
 */
int webd_seal(const struct webd_skey *k, const struct webd_token *t, char *out, size_t size)
{
	uint8_t bin[WEBD_SEAL_BIN_MAX], plain[WEBD_SEAL_PLAIN_MAX];
	size_t ulen = strnlen(t->user, sizeof(t->user)), plen = WEBD_SEAL_PLAIN_MIN - 1 + ulen;
	int err;

	if (ulen == 0 || ulen > WEBD_USER_MAX)
		return EINVAL;
	bin[0] = WEBD_SEAL_VERSION;
	bin[1] = (uint8_t)(k->id >> 24);
	bin[2] = (uint8_t)(k->id >> 16);
	bin[3] = (uint8_t)(k->id >> 8);
	bin[4] = (uint8_t)k->id;
	if (RAND_bytes(bin + 5, WEBD_SEAL_NONCE) != 1)
		return EIO;
	memcpy(plain, t->sid, WEBD_SID_LEN);
	put64(plain + WEBD_SID_LEN, t->created);
	put64(plain + WEBD_SID_LEN + 8, t->seen);
	plain[WEBD_SID_LEN + 16] = (uint8_t)ulen;
	memcpy(plain + WEBD_SID_LEN + 17, t->user, ulen);
	err = gcm(true, k->aead, bin + 5, bin, 5, plain, plen, bin + WEBD_SEAL_HEAD,
		  bin + WEBD_SEAL_HEAD + plen);
	if (!err)
		err = b64url_encode(bin, WEBD_SEAL_HEAD + plen + WEBD_SEAL_TAG, out, size);
	OPENSSL_cleanse(plain, sizeof(plain));
	return err;
}

/* The user name of a token: [a-z0-9_-], 1 to WEBD_USER_MAX bytes. */
static bool user_ok(const uint8_t *p, size_t len)
{
	if (len == 0 || len > WEBD_USER_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' ||
		      p[i] == '-'))
			return false;
	}
	return true;
}

/*
 * Open a cookie value sealed by webd_seal() into *t. On failure *why says
 * which (malformed, another key, tampered) and an errno value is
 * returned (EBADMSG, EKEYREJECTED, EACCES). Says nothing about validity
 * in time or revocation: webd_token_check() does.
 */
int webd_unseal(const struct webd_skey *k, const char *text, struct webd_token *t,
		enum webd_refuse *why)
{
	uint8_t bin[WEBD_SEAL_BIN_MAX], plain[WEBD_SEAL_PLAIN_MAX];
	size_t len = text ? strnlen(text, WEBD_SEAL_TEXT_MAX) : 0, blen, plen;
	uint32_t id;

	*why = WEBD_REFUSE_MALFORMED;
	if (len == 0 || len >= WEBD_SEAL_TEXT_MAX ||
	    b64url_decode(text, len, bin, sizeof(bin), &blen) ||
	    blen < WEBD_SEAL_HEAD + WEBD_SEAL_PLAIN_MIN + WEBD_SEAL_TAG || bin[0] != WEBD_SEAL_VERSION)
		return EBADMSG;
	id = (uint32_t)bin[1] << 24 | (uint32_t)bin[2] << 16 | (uint32_t)bin[3] << 8 | bin[4];
	if (id != k->id) {
		*why = WEBD_REFUSE_KEY;
		return EKEYREJECTED;
	}
	plen = blen - WEBD_SEAL_HEAD - WEBD_SEAL_TAG;
	if (gcm(false, k->aead, bin + 5, bin, 5, bin + WEBD_SEAL_HEAD, plen, plain,
		bin + WEBD_SEAL_HEAD + plen)) {
		OPENSSL_cleanse(plain, sizeof(plain));
		*why = WEBD_REFUSE_TAMPERED;
		return EACCES;
	}
	if (plen != (size_t)WEBD_SEAL_PLAIN_MIN - 1 + plain[WEBD_SID_LEN + 16] ||
	    !user_ok(plain + WEBD_SID_LEN + 17, plain[WEBD_SID_LEN + 16])) {
		OPENSSL_cleanse(plain, sizeof(plain));
		return EBADMSG;
	}
	memset(t, 0, sizeof(*t));
	memcpy(t->sid, plain, WEBD_SID_LEN);
	t->created = get64(plain + WEBD_SID_LEN);
	t->seen = get64(plain + WEBD_SID_LEN + 8);
	memcpy(t->user, plain + WEBD_SID_LEN + 17, plain[WEBD_SID_LEN + 16]);
	OPENSSL_cleanse(plain, sizeof(plain));
	return 0;
}

/* A session's CSRF token: hex of HMAC-SHA256(csrf key, session id); the same after a restart. */
void webd_csrf_derive(const struct webd_skey *k, const uint8_t sid[WEBD_SID_LEN],
		      char hex[WEBD_TOKEN_HEX])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t mac[32];
	unsigned len = sizeof(mac);

	HMAC(EVP_sha256(), k->csrf, sizeof(k->csrf), sid, WEBD_SID_LEN, mac, &len);
	for (unsigned i = 0; i < WEBD_TOKEN_LEN; i++) {
		hex[2 * i] = digits[mac[i] >> 4];
		hex[2 * i + 1] = digits[mac[i] & 15];
	}
	hex[2 * WEBD_TOKEN_LEN] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
}

/* Forget what revocation no longer needs: expired entries, entries before not_before. */
void webd_revoke_prune(struct webd_revoke *rv, uint64_t now)
{
	unsigned o = 0;

	for (unsigned i = 0; i < rv->n; i++) {
		const struct webd_revoked *e = &rv->r[i];

		if (e->created < rv->not_before ||
		    (now >= e->created && now - e->created >= WEBD_SESSION_ABS_MS))
			continue;
		rv->r[o++] = *e;
	}
	rv->n = o;
}

/* Sessions of the user created before when are invalid from now on. */
void webd_revoke_before(struct webd_revoke *rv, uint64_t when, uint64_t now)
{
	if (when > rv->not_before)
		rv->not_before = when;
	webd_revoke_prune(rv, now);
}

/* Revoke one session (logout, eviction). A full list gives up its oldest: not_before moves past it. */
void webd_revoke_add(struct webd_revoke *rv, const struct webd_token *t, uint64_t now)
{
	webd_revoke_prune(rv, now);
	if (webd_revoked(rv, t))
		return;
	while (rv->n >= WEBD_REVOKED_MAX) {
		uint64_t oldest = rv->r[0].created;

		for (unsigned i = 1; i < rv->n; i++)
			oldest = MIN(oldest, rv->r[i].created);
		webd_revoke_before(rv, oldest + 1, now);
	}
	if (t->created < rv->not_before)
		return;   /* already revoked by the move above */
	memcpy(rv->r[rv->n].sid, t->sid, WEBD_SID_LEN);
	rv->r[rv->n].created = t->created;
	rv->n++;
}

/* Is t revoked (created before not_before, or listed)? */
bool webd_revoked(const struct webd_revoke *rv, const struct webd_token *t)
{
	bool hit = false;

	if (t->created < rv->not_before)
		return true;
	for (unsigned i = 0; i < rv->n; i++)
		hit |= CRYPTO_memcmp(rv->r[i].sid, t->sid, WEBD_SID_LEN) == 0;
	return hit;
}

/*
 * May an opened token be used at now? 0, or EACCES with *why: the user
 * is not WEBD_USER (malformed), made or seen in the future (beyond
 * WEBD_SESSION_FUTURE_MS of skew), revoked, or past the idle or absolute
 * limit.
 */
int webd_token_check(const struct webd_revoke *rv, const struct webd_token *t, uint64_t now,
		     enum webd_refuse *why)
{
	if (strcmp(t->user, WEBD_USER) != 0 || t->seen < t->created)
		*why = WEBD_REFUSE_MALFORMED;
	else if (t->created > now + WEBD_SESSION_FUTURE_MS || t->seen > now + WEBD_SESSION_FUTURE_MS)
		*why = WEBD_REFUSE_FUTURE;
	else if (webd_revoked(rv, t))
		*why = WEBD_REFUSE_REVOKED;
	else if ((now > t->created && now - t->created >= WEBD_SESSION_ABS_MS) ||
		 (now > t->seen && now - t->seen >= WEBD_SESSION_IDLE_MS))
		*why = WEBD_REFUSE_EXPIRED;
	else
		return 0;
	return EACCES;
}

/*
 * The revocation file's text:
 *   not-before admin MS
 *   revoked SID-HEX CREATED-MS      (one per listed session)
 * ENOSPC when buf is too small.
 */
int webd_revoke_format(const struct webd_revoke *rv, char *buf, size_t size, size_t *len)
{
	size_t o = 0;
	int n;

	n = snprintf(buf, size, "# sbc-webd: revoked sessions (docs/webd.md)\nnot-before %s %" PRIu64
		     "\n", WEBD_USER, rv->not_before);
	if (n < 0 || (size_t)n >= size)
		return ENOSPC;
	o = (size_t)n;
	for (unsigned i = 0; i < rv->n; i++) {
		char hex[2 * WEBD_SID_LEN + 1];

		for (unsigned j = 0; j < WEBD_SID_LEN; j++)
			snprintf(hex + 2 * j, 3, "%02x", rv->r[i].sid[j]);
		n = snprintf(buf + o, size - o, "revoked %s %" PRIu64 "\n", hex, rv->r[i].created);
		if (n < 0 || (size_t)n >= size - o)
			return ENOSPC;
		o += (size_t)n;
	}
	*len = o;
	return 0;
}

/* A decimal u64 of 1 to 20 digits ending at a space, newline or NUL; the end in *endp. */
static int parse_u64(const char *s, uint64_t *v, const char **endp)
{
	const char *p = s;
	uint64_t x = 0;

	while (*p >= '0' && *p <= '9') {
		if (x > (UINT64_MAX - 9) / 10 || p - s >= 20)
			return EINVAL;
		x = x * 10 + (uint64_t)(*p++ - '0');
	}
	if (p == s)
		return EINVAL;
	*v = x;
	*endp = p;
	return 0;
}

static int lower_hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One line (len bytes, without its newline) into rv. */
static int parse_line(struct webd_revoke *rv, const char *p, size_t len)
{
	static const char nb[] = "not-before " WEBD_USER " ", rk[] = "revoked ";
	const char *eol = p + len, *end;
	uint64_t v;

	if (len == 0 || p[0] == '#')
		return 0;
	if (len > sizeof(nb) - 1 && strncmp(p, nb, sizeof(nb) - 1) == 0) {
		if (parse_u64(p + sizeof(nb) - 1, &v, &end) || end != eol)
			return EINVAL;
		rv->not_before = v;
		return 0;
	}
	if (len < sizeof(rk) + 2 * WEBD_SID_LEN + 1 || strncmp(p, rk, sizeof(rk) - 1) != 0 ||
	    rv->n >= WEBD_REVOKED_MAX)
		return EINVAL;
	p += sizeof(rk) - 1;
	for (unsigned j = 0; j < WEBD_SID_LEN; j++) {
		int hi = lower_hex(p[2 * j]), lo = lower_hex(p[2 * j + 1]);

		if (hi < 0 || lo < 0)
			return EINVAL;
		rv->r[rv->n].sid[j] = (uint8_t)(hi << 4 | lo);
	}
	p += 2 * WEBD_SID_LEN;
	if (*p != ' ' || parse_u64(p + 1, &v, &end) || end != eol)
		return EINVAL;
	rv->r[rv->n++].created = v;
	return 0;
}

/*
 * Parse the revocation file's text (NUL-terminated) into rv: every line
 * must end with a newline and be a comment, "not-before admin MS" or
 * "revoked SID-HEX MS" (at most WEBD_REVOKED_MAX). EINVAL otherwise, and
 * rv is then empty.
 */
int webd_revoke_parse(struct webd_revoke *rv, const char *text)
{
	const char *p = text;

	memset(rv, 0, sizeof(*rv));
	while (*p) {
		const char *nl = strchr(p, '\n');

		if (!nl || parse_line(rv, p, (size_t)(nl - p))) {
			memset(rv, 0, sizeof(*rv));
			return EINVAL;
		}
		p = nl + 1;
	}
	return 0;
}
