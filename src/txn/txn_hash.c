/* txn_hash: the transaction tables: a fixed-size chained hash keyed with SipHash-2-4. */
#include <errno.h>
#include <string.h>

#include "txn_int.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3) \
	do { \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

static uint64_t load_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

/*
 * SipHash-2-4 of the key bytes under the layer's random key: branches come
 * from the network, so a plain hash would let a sender pile every
 * transaction into one chain.
 */
uint64_t txn_hash(const uint64_t key[2], const char *p, size_t len)
{
	const unsigned char *in = (const unsigned char *)p;
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
	uint64_t v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t b = (uint64_t)len << 56, m;
	size_t i, left = len & 7;

	for (i = 0; i + 8 <= len; i += 8) {
		m = load_le64(in + i);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (size_t j = 0; j < left; j++)
		b |= (uint64_t)in[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Buckets: a power of two near half the cap (chains of about two when full), at least 16. */
int txn_htab_init(struct txn_htab *ht, size_t cap)
{
	size_t nb = 16;

	while (nb < cap / 2)
		nb <<= 1;
	ht->v = mem_zalloc(nb * sizeof(*ht->v), NULL);
	if (!ht->v)
		return ENOMEM;
	ht->mask = nb - 1;
	ht->n = 0;
	return 0;
}

/* Free the bucket array; entries must have been unlinked. */
void txn_htab_close(struct txn_htab *ht)
{
	ht->v = mem_deref(ht->v);
	ht->mask = 0;
	ht->n = 0;
}

/* Link at the head of its chain; hn->hash, key and keylen must be set. */
void txn_htab_insert(struct txn_htab *ht, struct txn_hnode *hn)
{
	struct txn_hnode **head = &ht->v[hn->hash & ht->mask];

	hn->next = *head;
	if (hn->next)
		hn->next->pprev = &hn->next;
	hn->pprev = head;
	*head = hn;
	ht->n++;
}

/* Unlink if linked; safe to call twice. */
void txn_htab_unlink(struct txn_htab *ht, struct txn_hnode *hn)
{
	if (!hn->pprev)
		return;
	*hn->pprev = hn->next;
	if (hn->next)
		hn->next->pprev = hn->pprev;
	hn->next = NULL;
	hn->pprev = NULL;
	ht->n--;
}

struct txn_hnode *txn_htab_find(const struct txn_htab *ht, uint64_t hash, const char *key,
				size_t keylen)
{
	struct txn_hnode *hn;

	for (hn = ht->v[hash & ht->mask]; hn; hn = hn->next) {
		if (hn->hash == hash && hn->keylen == keylen && !memcmp(hn->key, key, keylen))
			return hn;
	}
	return NULL;
}

/*
 * An entry in the first non-empty bucket at or after *cursor, or NULL when
 * none is left; for tearing a table down while its entries unlink
 * themselves (one pass over the buckets).
 */
struct txn_hnode *txn_htab_next(const struct txn_htab *ht, size_t *cursor)
{
	if (!ht->v)
		return NULL;
	for (; *cursor <= ht->mask; (*cursor)++) {
		if (ht->v[*cursor])
			return ht->v[*cursor];
	}
	return NULL;
}
