/* hash: intrusive chained hash table, SipHash-2-4 for keys an attacker chooses, and random bytes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

int htable_init(struct htable *t, size_t nbuckets)
{
	size_t n = 1;

	while (n < nbuckets && n < ((size_t)1 << 30))
		n <<= 1;
	if (mem_fail_inject())
		return ENOMEM;
	t->bucket = calloc(n, sizeof(*t->bucket));
	if (!t->bucket)
		return ENOMEM;
	t->mask = n - 1;
	t->count = 0;
	return 0;
}

/* Free the bucket array; the objects are the caller's (unlink or free them first). */
void htable_close(struct htable *t)
{
	free(t->bucket);
	t->bucket = NULL;
	t->mask = 0;
	t->count = 0;
}

void htable_add(struct htable *t, struct hnode *n, uint32_t hash)
{
	struct hnode **head = &t->bucket[hash & t->mask];

	n->hash = hash;
	n->next = *head;
	if (*head)
		(*head)->pprev = &n->next;
	n->pprev = head;
	*head = n;
	t->count++;
}

/* Unlink a node; harmless on a node that is not linked. */
void htable_del(struct htable *t, struct hnode *n)
{
	if (!n->pprev)
		return;
	*n->pprev = n->next;
	if (n->next)
		n->next->pprev = n->pprev;
	n->next = NULL;
	n->pprev = NULL;
	t->count--;
}

bool hnode_linked(const struct hnode *n)
{
	return n->pprev != NULL;
}

/* First node whose hash equals hash; compare the keys yourself. */
struct hnode *htable_first(const struct htable *t, uint32_t hash)
{
	struct hnode *n = t->bucket ? t->bucket[hash & t->mask] : NULL;

	while (n && n->hash != hash)
		n = n->next;
	return n;
}

struct hnode *hnode_next_same(const struct hnode *n, uint32_t hash)
{
	for (n = n->next; n && n->hash != hash; n = n->next)
		;
	return (struct hnode *)(uintptr_t)n;
}

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

static inline void sipround(uint64_t *v0, uint64_t *v1, uint64_t *v2, uint64_t *v3)
{
	*v0 += *v1; *v1 = ROTL(*v1, 13); *v1 ^= *v0; *v0 = ROTL(*v0, 32);
	*v2 += *v3; *v3 = ROTL(*v3, 16); *v3 ^= *v2;
	*v0 += *v3; *v3 = ROTL(*v3, 21); *v3 ^= *v0;
	*v2 += *v1; *v1 = ROTL(*v1, 17); *v1 ^= *v2; *v2 = ROTL(*v2, 32);
}

static inline uint64_t load64le(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/* SipHash-2-4 (Aumasson and Bernstein) of data under a 128-bit key. */
uint64_t siphash24(const uint8_t key[16], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = load64le(key), k1 = load64le(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, full = len & ~(size_t)7;

	for (i = 0; i < full; i += 8) {
		m = load64le(in + i);
		v3 ^= m;
		sipround(&v0, &v1, &v2, &v3);
		sipround(&v0, &v1, &v2, &v3);
		v0 ^= m;
	}
	for (size_t j = 0; j < (len & 7); j++)
		b |= (uint64_t)in[full + j] << (8 * j);
	v3 ^= b;
	sipround(&v0, &v1, &v2, &v3);
	sipround(&v0, &v1, &v2, &v3);
	v0 ^= b;
	v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		sipround(&v0, &v1, &v2, &v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint8_t hash_key[16];
static bool hash_key_set;

/* 32-bit keyed hash; the key is drawn from the kernel on first use. */
uint32_t hash_keyed(const void *data, size_t len)
{
	uint64_t h;

	if (!hash_key_set) {
		if (random_bytes(hash_key, sizeof(hash_key)))
			abort();   /* no entropy: refusing to run with a guessable key */
		hash_key_set = true;
	}
	h = siphash24(hash_key, data, len);
	return (uint32_t)(h ^ (h >> 32));
}

/* Fill buf from the kernel's CSPRNG. */
int random_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The Internet checksum (RFC 1071) for headers built from scratch: add len
 * bytes at p, as big-endian 16-bit words (an odd last byte padded with
 * zero), to sum; inet_csum_fold gives the one's complement of the folded
 * sum in host order, ready to store big-endian. The fast path's in-place
 * updates are in media/frame.c.
 */
uint64_t inet_csum_add(uint64_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

uint16_t inet_csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}
