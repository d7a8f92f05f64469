/* tmr: timers in a binary min-heap on a caller-supplied clock. */
#include <errno.h>
#include <stdlib.h>

#include "util.h"

void tmr_heap_init(struct tmr_heap *hp)
{
	hp->v = NULL;
	hp->n = 0;
	hp->cap = 0;
	hp->seq = 0;
}

/* Disarm every timer still on the heap and free the heap's array. */
void tmr_heap_close(struct tmr_heap *hp)
{
	for (size_t i = 0; i < hp->n; i++)
		hp->v[i]->idx = 0;
	free(hp->v);
	tmr_heap_init(hp);
}

static bool before(const struct tmr *a, const struct tmr *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void place(struct tmr_heap *hp, size_t i, struct tmr *t)
{
	hp->v[i] = t;
	t->idx = i + 1;
}

static void sift_up(struct tmr_heap *hp, size_t i)
{
	struct tmr *t = hp->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (!before(t, hp->v[parent]))
			break;
		place(hp, i, hp->v[parent]);
		i = parent;
	}
	place(hp, i, t);
}

static void sift_down(struct tmr_heap *hp, size_t i)
{
	struct tmr *t = hp->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= hp->n)
			break;
		if (c + 1 < hp->n && before(hp->v[c + 1], hp->v[c]))
			c++;
		if (!before(hp->v[c], t))
			break;
		place(hp, i, hp->v[c]);
		i = c;
	}
	place(hp, i, t);
}

bool tmr_armed(const struct tmr *t)
{
	return t->idx != 0;
}

/* Remove a timer from the heap if it is armed; safe to call on any timer. */
void tmr_cancel(struct tmr_heap *hp, struct tmr *t)
{
	size_t i;
	struct tmr *last;

	if (!t->idx)
		return;
	i = t->idx - 1;
	t->idx = 0;
	last = hp->v[--hp->n];
	if (i == hp->n)
		return;
	hp->v[i] = last;
	last->idx = i + 1;
	if (i > 0 && before(last, hp->v[(i - 1) / 2]))
		sift_up(hp, i);
	else
		sift_down(hp, i);
}

/* (Re)arm a timer to fire th(arg) once the clock reaches due. */
int tmr_start(struct tmr_heap *hp, struct tmr *t, uint64_t due, tmr_h *th, void *arg)
{
	tmr_cancel(hp, t);
	if (hp->n == hp->cap) {
		size_t cap = hp->cap ? hp->cap * 2 : 64;
		struct tmr **v;

		if (mem_fail_inject())
			return ENOMEM;
		v = realloc(hp->v, cap * sizeof(*v));
		if (!v)
			return ENOMEM;
		hp->v = v;
		hp->cap = cap;
	}
	t->due = due;
	t->th = th;
	t->arg = arg;
	t->seq = hp->seq++;
	hp->v[hp->n] = t;
	t->idx = ++hp->n;
	sift_up(hp, hp->n - 1);
	return 0;
}

/* Due time of the earliest timer, or UINT64_MAX when none is armed. */
uint64_t tmr_heap_next(const struct tmr_heap *hp)
{
	return hp->n ? hp->v[0]->due : UINT64_MAX;
}

size_t tmr_heap_count(const struct tmr_heap *hp)
{
	return hp->n;
}

/*
 * Fire every timer due at or before now, earliest first. A handler may
 * start or cancel any timer, its own included; one started for a time at or
 * before now fires in this same call.
 */
unsigned tmr_heap_poll(struct tmr_heap *hp, uint64_t now)
{
	unsigned fired = 0;

	while (hp->n && hp->v[0]->due <= now) {
		struct tmr *t = hp->v[0];

		tmr_cancel(hp, t);
		fired++;
		t->th(t->arg);
	}
	return fired;
}
