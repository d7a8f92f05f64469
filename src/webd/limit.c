/* limit: the login rate limit, per source address and in all, on a clock the caller passes in. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "webd.h"

/* An empty limiter: no sources, no attempts. */
void webd_limit_init(struct webd_limit *l)
{
	memset(l, 0, sizeof(*l));
}

/* Forget failures older than the window; they are kept oldest first. */
static void src_expire(struct webd_limit_src *s, uint64_t now)
{
	unsigned drop = 0;

	while (drop < s->nfail && now - s->fail[drop] >= WEBD_LIMIT_FAIL_MS)
		drop++;
	if (!drop)
		return;
	memmove(s->fail, s->fail + drop, (s->nfail - drop) * sizeof(s->fail[0]));
	s->nfail -= drop;
}

static struct webd_limit_src *src_find(struct webd_limit *l, const char *addr)
{
	for (unsigned i = 0; i < WEBD_LIMIT_SOURCES; i++) {
		if (l->src[i].addr[0] && strcmp(l->src[i].addr, addr) == 0)
			return &l->src[i];
	}
	return NULL;
}

/*
 * A slot for a new source: a free one, else the least recently seen
 * without failures or attempts under way, else the least recently seen.
 */
static struct webd_limit_src *src_new(struct webd_limit *l, const char *addr, uint64_t now)
{
	struct webd_limit_src *idle = NULL, *any = NULL, *s;

	for (unsigned i = 0; i < WEBD_LIMIT_SOURCES; i++) {
		s = &l->src[i];
		if (!s->addr[0])
			goto out_use;
		src_expire(s, now);
		if (!s->nfail && !s->pending && (!idle || s->seen < idle->seen))
			idle = s;
		if (!any || s->seen < any->seen)
			any = s;
	}
	s = idle ? idle : any;
	l->stats.evicted++;
 out_use:
	memset(s, 0, sizeof(*s));
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	s->seen = now;
	return s;
}

static unsigned ceil_s(uint64_t ms)
{
	return (unsigned)((ms + 999) / 1000);
}

/*
 * May addr try a password now? 0: yes, and the attempt is counted (end it
 * with webd_limit_end). EAGAIN: no, *retry_s is when it may (at least 1):
 * the source has WEBD_LIMIT_FAILS failures (attempts under way count as
 * failures until they end) within the window, or WEBD_LIMIT_ATTEMPTS
 * attempts were made in all within a minute.
 */
int webd_limit_begin(struct webd_limit *l, const char *addr, uint64_t now, unsigned *retry_s)
{
	struct webd_limit_src *s = src_find(l, addr);

	if (s) {
		src_expire(s, now);
		s->seen = now;
		if (s->nfail + s->pending >= WEBD_LIMIT_FAILS) {
			uint64_t until = s->nfail ? s->fail[0] + WEBD_LIMIT_FAIL_MS : now + 1000;

			*retry_s = ceil_s(until - now);
			l->stats.refused_source++;
			return EAGAIN;
		}
	}
	if (l->nattempt == WEBD_LIMIT_ATTEMPTS) {
		uint64_t oldest = l->attempt[l->head];

		if (now - oldest < WEBD_LIMIT_ATTEMPT_MS) {
			*retry_s = ceil_s(oldest + WEBD_LIMIT_ATTEMPT_MS - now);
			l->stats.refused_total++;
			return EAGAIN;
		}
	}
	if (!s)
		s = src_new(l, addr, now);
	s->pending++;
	l->attempt[l->head] = now;
	l->head = (l->head + 1) % WEBD_LIMIT_ATTEMPTS;
	if (l->nattempt < WEBD_LIMIT_ATTEMPTS)
		l->nattempt++;
	l->stats.attempts++;
	return 0;
}

/*
 * The attempt webd_limit_begin allowed has ended: a success forgets the
 * source's failures, a failure is recorded at now.
 */
void webd_limit_end(struct webd_limit *l, const char *addr, bool ok, uint64_t now)
{
	struct webd_limit_src *s = src_find(l, addr);

	if (!s)
		return;   /* evicted meanwhile */
	if (s->pending)
		s->pending--;
	s->seen = now;
	if (ok) {
		s->nfail = 0;
		return;
	}
	l->stats.failures++;
	src_expire(s, now);
	if (s->nfail == WEBD_LIMIT_FAILS) {
		memmove(s->fail, s->fail + 1, (WEBD_LIMIT_FAILS - 1) * sizeof(s->fail[0]));
		s->nfail--;
	}
	s->fail[s->nfail++] = now;
}
