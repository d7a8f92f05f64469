/* session: the sessions this process has seen, in a fixed table in memory (the cookie itself is the session: seal.c). */
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#include "webd.h"

static bool expired(const struct webd_session *s, uint64_t now)
{
	return (now > s->seen && now - s->seen >= WEBD_SESSION_IDLE_MS) ||
		(now > s->created && now - s->created >= WEBD_SESSION_ABS_MS);
}

/* Forget a session; its id and token are wiped. */
void webd_session_drop(struct webd_session *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
	s->used = false;
}

/* The entry of session id sid, or NULL. Every entry is compared, in constant time. */
struct webd_session *webd_session_find(struct webd_sessions *t, const uint8_t sid[WEBD_SID_LEN])
{
	struct webd_session *found = NULL;

	for (unsigned i = 0; i < WEBD_SESSIONS_MAX; i++) {
		struct webd_session *s = &t->s[i];

		if (s->used && CRYPTO_memcmp(s->sid, sid, WEBD_SID_LEN) == 0)
			found = s;
	}
	return found;
}

/*
 * Enter the session of tok (a login, or a valid cookie not seen since the
 * start), seen now. A full table drops an expired entry, else the least
 * recently seen one: that session is then over the cap, *was_evicted is
 * true and *evicted names it, for the caller to revoke. The new entry's
 * csrf is for the caller to fill.
 */
struct webd_session *webd_session_add(struct webd_sessions *t, const struct webd_token *tok,
				      uint64_t now, struct webd_token *evicted, bool *was_evicted)
{
	struct webd_session *s = NULL;

	*was_evicted = false;
	for (unsigned i = 0; i < WEBD_SESSIONS_MAX; i++) {
		struct webd_session *c = &t->s[i];

		if (c->used && expired(c, now)) {
			webd_session_drop(c);
			t->expired++;
		}
		if (!c->used) {
			s = c;
			break;
		}
		if (!s || c->seen < s->seen)
			s = c;
	}
	if (s->used) {
		memset(evicted, 0, sizeof(*evicted));
		memcpy(evicted->sid, s->sid, WEBD_SID_LEN);
		evicted->created = s->created;
		evicted->seen = s->seen;
		*was_evicted = true;
		webd_session_drop(s);
		t->evicted++;
	}
	s->used = true;
	memcpy(s->sid, tok->sid, WEBD_SID_LEN);
	s->created = tok->created;
	s->seen = now > tok->seen ? now : tok->seen;
	t->added++;
	return s;
}

/* Drop every session created before when but keep (may be NULL): a password change. */
void webd_session_drop_before(struct webd_sessions *t, uint64_t when,
			      const struct webd_session *keep)
{
	for (unsigned i = 0; i < WEBD_SESSIONS_MAX; i++) {
		if (t->s[i].used && &t->s[i] != keep && t->s[i].created < when)
			webd_session_drop(&t->s[i]);
	}
}

/* Sessions seen and not expired at now. */
unsigned webd_session_count(const struct webd_sessions *t, uint64_t now)
{
	unsigned n = 0;

	for (unsigned i = 0; i < WEBD_SESSIONS_MAX; i++)
		n += t->s[i].used && !expired(&t->s[i], now);
	return n;
}
