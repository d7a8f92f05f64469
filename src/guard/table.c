/* table: the guard's fixed-size set-associative tables, keys and clock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>

#include "guard_int.h"

/* Coarse monotonic milliseconds since the guard started, never 0 (0 marks a free slot). */
uint64_t guard_now(const struct guard *g)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u - g->t0_ms;
}

uint64_t guard_hash(const struct guard *g, const struct gkey *k)
{
	return siphash24(g->hkey, k, sizeof(*k));
}

void guard_key(struct gkey *k, const struct sockaddr_storage *ss)
{
	uint8_t b[16] = { 0 };

	if (ss->ss_family == AF_INET6) {
		memcpy(b, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
	} else if (ss->ss_family == AF_INET) {
		b[10] = 0xff;
		b[11] = 0xff;
		memcpy(b + 12, &((const struct sockaddr_in *)ss)->sin_addr, 4);
	}
	memcpy(&k->a, b, 8);
	memcpy(&k->b, b + 8, 8);
}

/* Back to an address (port 0): mapped IPv4 becomes AF_INET. */
void guard_key_addr(const struct gkey *k, struct sockaddr_storage *ss)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	uint8_t b[16];

	memcpy(b, &k->a, 8);
	memcpy(b + 8, &k->b, 8);
	memset(ss, 0, sizeof(*ss));
	if (memcmp(b, mapped, sizeof(mapped)) == 0) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, b + 12, 4);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, b, 16);
	}
}

/* At least entries slots, in a power of two of sets. */
int gtable_init(struct gtable *t, size_t entries, size_t esz)
{
	uint32_t sets = 1;

	while ((size_t)sets * GUARD_WAYS < entries && sets < (1u << 28))
		sets <<= 1;
	t->mem = calloc((size_t)sets * GUARD_WAYS, esz);
	t->tag = calloc((size_t)sets * GUARD_WAYS, sizeof(*t->tag));
	if (!t->mem || !t->tag) {
		gtable_close(t);
		return ENOMEM;
	}
	t->esz = esz;
	t->nsets = sets;
	t->used = 0;
	return 0;
}

void gtable_close(struct gtable *t)
{
	free(t->mem);
	free(t->tag);
	t->mem = NULL;
	t->tag = NULL;
}

size_t gtable_size(const struct gtable *t)
{
	return (size_t)t->nsets * GUARD_WAYS;
}

struct gslot *gtable_at(const struct gtable *t, size_t i)
{
	return (struct gslot *)(t->mem + i * t->esz);
}

static inline size_t set_index(const struct gtable *t, uint64_t h)
{
	return (size_t)(h & (t->nsets - 1)) * GUARD_WAYS;
}

/* The tag of a hash: its top 16 bits, never 0 (0 marks a free slot). */
static inline uint16_t tag_of(uint64_t h)
{
	return (uint16_t)(h >> 48) | 1u;
}

static inline bool same_key(const struct gslot *s, const struct gkey *k)
{
	return s->last_ms && s->k.a == k->a && s->k.b == k->b;
}

struct gslot *gtable_find(struct gtable *t, uint64_t h, const struct gkey *k)
{
	size_t base = set_index(t, h);
	const uint16_t *tags = t->tag + base;
	uint16_t tg = tag_of(h);

	for (unsigned w = 0; w < GUARD_WAYS; w++) {
		if (tags[w] == tg) {
			struct gslot *s = gtable_at(t, base + w);

			if (same_key(s, k))
				return s;
		}
	}
	return NULL;
}

void gtable_free(struct gtable *t, struct gslot *s)
{
	size_t i = (size_t)((uint8_t *)s - t->mem) / t->esz;

	if (!s->last_ms)
		return;
	s->last_ms = 0;
	t->tag[i] = 0;
	t->used--;
}

struct gslot *gtable_get(struct gtable *t, uint64_t h, const struct gkey *k, uint64_t now,
			 gtable_victim_h *better, bool *created, bool *evicted, void *old)
{
	size_t base = set_index(t, h), vi = 0;
	struct gslot *victim = NULL, *found;
	uint16_t tg = tag_of(h);

	*created = false;
	*evicted = false;
	found = gtable_find(t, h, k);
	if (found)
		return found;
	for (unsigned w = 0; w < GUARD_WAYS; w++) {
		struct gslot *s = gtable_at(t, base + w);

		if (!t->tag[base + w] || !s->last_ms) {
			victim = s;
			vi = base + w;
			break;   /* a free slot */
		}
		if (!victim || (better ? better(s, victim) : s->last_ms < victim->last_ms)) {
			victim = s;
			vi = base + w;
		}
	}
	if (!t->tag[vi] || !victim->last_ms) {
		t->used++;
	} else {
		*evicted = true;
		if (old)
			memcpy(old, victim, t->esz);
	}
	memset(victim, 0, t->esz);
	victim->k = *k;
	victim->last_ms = now;
	t->tag[vi] = tg;
	*created = true;
	return victim;
}
