/* pw: the password hash line (PBKDF2-HMAC-SHA256) and random hex tokens, compared in constant time. */
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "webd.h"

#define B64_MAX  ((WEBD_PW_SALT_MAX + 2) / 3 * 4)   /* the longest base64 field */

/* Strict base64 (RFC 4648, padded, no white space) of in[0..len) into out; bytes in *outlen. */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t size, size_t *outlen)
{
	unsigned char tmp[B64_MAX / 4 * 3 + 3];
	size_t pad = 0;
	int n;

	if (len == 0 || len % 4 || len > B64_MAX)
		return EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '=') {
			if (i < len - 2)
				return EINVAL;
			pad++;
			continue;
		}
		if (pad)
			return EINVAL;   /* data after padding */
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '+' || c == '/'))
			return EINVAL;
	}
	n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad || (size_t)n - pad > size)
		return EINVAL;
	*outlen = (size_t)n - pad;
	memcpy(out, tmp, *outlen);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return 0;
}

/* Parse a decimal in 1..WEBD_PW_ITER_MAX with no sign, no leading zero. */
static int parse_iter(const char *s, size_t len, unsigned *iter)
{
	unsigned long v = 0;

	if (len == 0 || len > 8 || s[0] == '0')
		return EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return EINVAL;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > WEBD_PW_ITER_MAX)
		return EINVAL;
	*iter = (unsigned)v;
	return 0;
}

/*
 * Split a stored line into its iterations, salt and hash. EINVAL for
 * anything but exactly "pbkdf2-sha256$ITER$SALT$HASH" (one trailing
 * newline allowed) with a 16-64 byte salt and a 32-byte hash.
 */
int webd_pw_parse(const char *line, unsigned *iter, uint8_t *salt, size_t *saltlen,
		  uint8_t hash[WEBD_PW_HASH_LEN])
{
	const char *f[4];
	size_t fl[4], len, hl;
	const char *p;
	unsigned n = 0;

	if (!line)
		return EINVAL;
	len = strnlen(line, WEBD_PW_LINE_MAX);
	if (len == WEBD_PW_LINE_MAX)
		return EINVAL;
	if (len && line[len - 1] == '\n')
		len--;
	for (p = line; n < 4; n++) {
		const char *d = memchr(p, '$', len - (size_t)(p - line));

		f[n] = p;
		fl[n] = d ? (size_t)(d - p) : len - (size_t)(p - line);
		if (!d) {
			n++;
			break;
		}
		p = d + 1;
	}
	if (n != 4 || f[3] + fl[3] != line + len)
		return EINVAL;
	if (fl[0] != strlen(WEBD_PW_SCHEME) || memcmp(f[0], WEBD_PW_SCHEME, fl[0]) != 0)
		return EINVAL;
	if (parse_iter(f[1], fl[1], iter))
		return EINVAL;
	if (b64_decode(f[2], fl[2], salt, WEBD_PW_SALT_MAX, saltlen) ||
	    *saltlen < WEBD_PW_SALT_LEN)
		return EINVAL;
	if (b64_decode(f[3], fl[3], hash, WEBD_PW_HASH_LEN, &hl) || hl != WEBD_PW_HASH_LEN)
		return EINVAL;
	return 0;
}

/*
 * Write the hash line of pw (len bytes) with iter iterations and the given
 * salt into line (no newline). ENOSPC if it does not fit, EIO if OpenSSL
 * fails. Takes about 0.3 s at WEBD_PW_ITER: never on the event loop.
 */
int webd_pw_hash(char *line, size_t size, const char *pw, size_t len, unsigned iter,
		 const uint8_t *salt, size_t saltlen)
{
	uint8_t hash[WEBD_PW_HASH_LEN];
	char s64[B64_MAX + 1], h64[B64_MAX + 1];
	int n;

	if (!iter || iter > WEBD_PW_ITER_MAX || saltlen < WEBD_PW_SALT_LEN ||
	    saltlen > WEBD_PW_SALT_MAX || len > WEBD_PW_MAX)
		return EINVAL;
	if (PKCS5_PBKDF2_HMAC(pw, (int)len, salt, (int)saltlen, (int)iter, EVP_sha256(),
			      sizeof(hash), hash) != 1)
		return EIO;
	EVP_EncodeBlock((unsigned char *)s64, salt, (int)saltlen);
	EVP_EncodeBlock((unsigned char *)h64, hash, sizeof(hash));
	OPENSSL_cleanse(hash, sizeof(hash));
	n = snprintf(line, size, WEBD_PW_SCHEME "$%u$%s$%s", iter, s64, h64);
	return n < 0 || (size_t)n >= size ? ENOSPC : 0;
}

/* 0 when pw matches the stored line, EACCES when not, EINVAL for a malformed line, EIO. */
int webd_pw_verify(const char *line, const char *pw, size_t len)
{
	uint8_t salt[WEBD_PW_SALT_MAX], want[WEBD_PW_HASH_LEN], got[WEBD_PW_HASH_LEN];
	size_t saltlen;
	unsigned iter;
	int err;

	if (webd_pw_parse(line, &iter, salt, &saltlen, want))
		return EINVAL;
	if (len > WEBD_PW_MAX)
		return EACCES;   /* could never have been set */
	if (PKCS5_PBKDF2_HMAC(pw, (int)len, salt, (int)saltlen, (int)iter, EVP_sha256(),
			      sizeof(got), got) != 1)
		return EIO;
	err = CRYPTO_memcmp(want, got, sizeof(got)) == 0 ? 0 : EACCES;
	OPENSSL_cleanse(got, sizeof(got));
	return err;
}

/* A new token: WEBD_TOKEN_LEN bytes from the OpenSSL generator as lower-case hex. */
int webd_token_new(char hex[WEBD_TOKEN_HEX])
{
	static const char digits[] = "0123456789abcdef";
	uint8_t b[WEBD_TOKEN_LEN];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return EIO;
	for (size_t i = 0; i < sizeof(b); i++) {
		hex[2 * i] = digits[b[i] >> 4];
		hex[2 * i + 1] = digits[b[i] & 15];
	}
	hex[2 * WEBD_TOKEN_LEN] = '\0';
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

/* True when s is a token as webd_token_new writes it. */
bool webd_token_valid(const char *s)
{
	size_t i;

	for (i = 0; i < 2 * WEBD_TOKEN_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[i] == '\0';
}

/*
 * Compare a secret with what a client sent, in time independent of where
 * they differ. The lengths are not secret (every token has the same).
 */
bool webd_token_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	if (!a || !b || alen != blen || alen == 0)
		return false;
	return CRYPTO_memcmp(a, b, alen) == 0;
}
