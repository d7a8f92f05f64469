/* mem: reference-counted allocations with destructors, and a failure hook for tests. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct mem_hdr {
	unsigned nrefs;
	mem_destroy_h *dh;
	max_align_t align[];
};

static size_t mem_count;
static long mem_fail_countdown = -1;

/* Make the n-th following allocation fail (n = 0: the next); -1 turns it off. */
void mem_fail_after(long n)
{
	mem_fail_countdown = n;
}

size_t mem_nalloc(void)
{
	return mem_count;
}

/*
 * True when the test hook says this allocation must fail; allocators that do
 * not go through mem_zalloc (realloc of a growing buffer) ask it too.
 */
bool mem_fail_inject(void)
{
	if (mem_fail_countdown == 0)
		return true;
	if (mem_fail_countdown > 0)
		mem_fail_countdown--;
	return false;
}

void *mem_zalloc(size_t size, mem_destroy_h *dh)
{
	struct mem_hdr *h;

	if (mem_fail_inject())
		return NULL;
	if (size > SIZE_MAX - sizeof(*h))
		return NULL;
	h = calloc(1, sizeof(*h) + size);
	if (!h)
		return NULL;
	h->nrefs = 1;
	h->dh = dh;
	mem_count++;
	return h->align;
}

static struct mem_hdr *hdr_of(const void *data)
{
	return (struct mem_hdr *)((char *)(uintptr_t)data - offsetof(struct mem_hdr, align));
}

void *mem_ref(void *data)
{
	if (data)
		hdr_of(data)->nrefs++;
	return data;
}

void *mem_deref(void *data)
{
	struct mem_hdr *h;

	if (!data)
		return NULL;
	h = hdr_of(data);
	if (--h->nrefs > 0)
		return NULL;
	if (h->dh)
		h->dh(data);
	free(h);
	mem_count--;
	return NULL;
}

unsigned mem_nrefs(const void *data)
{
	return data ? hdr_of(data)->nrefs : 0;
}

int buf_alloc(struct buf **bp, size_t size)
{
	struct buf *b;

	if (!bp || size > SIZE_MAX / 2)
		return EINVAL;
	b = mem_zalloc(sizeof(*b) + size, NULL);
	if (!b)
		return ENOMEM;
	b->size = size;
	*bp = b;
	return 0;
}

int buf_from_mem(struct buf **bp, const void *data, size_t len)
{
	int err = buf_alloc(bp, len);

	if (err)
		return err;
	if (len)
		memcpy((*bp)->data, data, len);
	(*bp)->len = len;
	return 0;
}
