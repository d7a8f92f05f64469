/* txn_rand: branches, tags and hash keys from OpenSSL's CSPRNG. */
#include <errno.h>
#include <limits.h>

#include <openssl/rand.h>

#include "txn_int.h"

/*
 * Random bytes from RAND_bytes. A branch is the only thing that ties a
 * response to a client transaction (RFC 3261 17.1.3), so it must not be
 * guessable by someone who has seen earlier ones: a fast linear PRNG is not
 * enough, a CSPRNG is (and OpenSSL's DRBG runs in user space).
 */
int txn_rand_bytes(void *p, size_t n)
{
	if (n > INT_MAX)
		return EINVAL;
	return RAND_bytes(p, (int)n) == 1 ? 0 : EIO;
}

static int rand_hex(char *buf, size_t size, const char *prefix, size_t plen, size_t nbytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char rnd[32];
	int err;

	if (!buf || nbytes > sizeof(rnd) || size <= plen + 2 * nbytes)
		return EINVAL;
	err = txn_rand_bytes(rnd, nbytes);
	if (err)
		return err;
	for (size_t i = 0; i < plen; i++)
		buf[i] = prefix[i];
	for (size_t i = 0; i < nbytes; i++) {
		buf[plen + 2 * i] = hex[rnd[i] >> 4];
		buf[plen + 2 * i + 1] = hex[rnd[i] & 15];
	}
	buf[plen + 2 * nbytes] = '\0';
	return 0;
}

/* "z9hG4bK" (RFC 3261 8.1.1.7) and 128 random bits in hex, NUL-terminated. */
int txn_branch_make(char *buf, size_t size)
{
	return rand_hex(buf, size, "z9hG4bK", 7, 16);
}

/* A To tag for the responses the layer makes on its own: 64 random bits in hex. */
int txn_tag_make(char *buf, size_t size)
{
	return rand_hex(buf, size, "", 0, TXN_TAG_HEX / 2);
}
