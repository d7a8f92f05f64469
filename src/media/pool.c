/* pool: a zone's even/odd RTP/RTCP port pairs, handed out least recently used first in O(1). */
#include <errno.h>
#include <stdlib.h>

#include "media_int.h"

/*
 * Pairs (2k, 2k+1) inside [port_min, port_max]; port_min is rounded up to
 * even. Every pair starts free, in ascending order. EINVAL: no whole pair.
 */
int media_pool_init(struct media_pool *p, uint16_t port_min, uint16_t port_max)
{
	unsigned first = (unsigned)port_min + (port_min & 1u);

	p->ring = NULL;
	p->used = NULL;
	if (first < 2 || (unsigned)port_max < first + 1)
		return EINVAL;
	p->first = (uint16_t)first;
	p->npairs = ((unsigned)port_max - first + 1) / 2;
	if (mem_fail_inject())
		return ENOMEM;
	p->ring = calloc(p->npairs, sizeof(*p->ring));
	p->used = calloc(p->npairs, sizeof(*p->used));
	if (!p->ring || !p->used) {
		media_pool_close(p);
		return ENOMEM;
	}
	for (unsigned i = 0; i < p->npairs; i++)
		p->ring[i] = (uint16_t)i;
	p->head = 0;
	p->nfree = p->npairs;
	return 0;
}

void media_pool_close(struct media_pool *p)
{
	free(p->ring);
	free(p->used);
	p->ring = NULL;
	p->used = NULL;
	p->npairs = 0;
	p->nfree = 0;
}

/* Take the pair freed longest ago. ENOSPC: none free. */
int media_pool_get(struct media_pool *p, unsigned *pair)
{
	if (!p->nfree)
		return ENOSPC;
	*pair = p->ring[p->head];
	p->head = (p->head + 1) % p->npairs;
	p->nfree--;
	p->used[*pair] = 1;
	return 0;
}

/* Give a pair back; it is handed out again only after every other free pair. */
void media_pool_put(struct media_pool *p, unsigned pair)
{
	if (pair >= p->npairs || !p->used[pair])
		return;
	p->used[pair] = 0;
	p->ring[(p->head + p->nfree) % p->npairs] = (uint16_t)pair;
	p->nfree++;
}

/* A pair whose port someone else holds: back to the tail, to be tried again later. */
void media_pool_skip(struct media_pool *p, unsigned pair)
{
	media_pool_put(p, pair);
}

uint16_t media_pool_port(const struct media_pool *p, unsigned pair)
{
	return (uint16_t)(p->first + 2 * pair);
}
