/* session: the logged-in browsers, in a fixed table in memory, with their CSRF tokens. */
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#include "webd.h"

static bool expired(const struct webd_session *s, uint64_t now)
{
	return now - s->last >= WEBD_SESSION_IDLE_MS || now - s->created >= WEBD_SESSION_ABS_MS;
}

/* Forget a session; its id and token are wiped. */
void webd_session_drop(struct webd_session *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
	s->used = false;
}

/*
 * A new session with fresh id and CSRF token in *sp. A full table drops
 * an expired session, else the least recently used one.
 */
int webd_session_new(struct webd_sessions *t, uint64_t now, struct webd_session **sp)
{
	struct webd_session *s = NULL;

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
		if (!s || c->last < s->last)
			s = c;
	}
	if (s->used) {
		webd_session_drop(s);
		t->evicted++;
	}
	if (webd_token_new(s->id) || webd_token_new(s->csrf)) {
		webd_session_drop(s);
		return EIO;
	}
	s->used = true;
	s->created = s->last = now;
	t->created++;
	*sp = s;
	return 0;
}

/*
 * The live session whose id is id (from the cookie), used now; NULL when
 * none. Every entry is compared, in constant time, so the time taken does
 * not tell how much of an id was right. An expired session is dropped.
 */
struct webd_session *webd_session_find(struct webd_sessions *t, const char *id, uint64_t now)
{
	struct webd_session *found = NULL;
	size_t len = id ? strlen(id) : 0;

	if (len != 2 * WEBD_TOKEN_LEN)
		return NULL;
	for (unsigned i = 0; i < WEBD_SESSIONS_MAX; i++) {
		struct webd_session *s = &t->s[i];

		if (s->used && CRYPTO_memcmp(s->id, id, len) == 0)
			found = s;
	}
	if (!found)
		return NULL;
	if (expired(found, now)) {
		webd_session_drop(found);
		t->expired++;
		return NULL;
	}
	found->last = now;
	return found;
}

/* Log out every session but keep (after a password change); keep may be NULL. */
void webd_session_drop_others(struct webd_sessions *t, const struct webd_session *keep)
{
	for (unsigned i = 0; i < WEBD_SESSIONS_MAX; i++) {
		if (t->s[i].used && &t->s[i] != keep)
			webd_session_drop(&t->s[i]);
	}
}

/* Sessions alive at now. */
unsigned webd_session_count(const struct webd_sessions *t, uint64_t now)
{
	unsigned n = 0;

	for (unsigned i = 0; i < WEBD_SESSIONS_MAX; i++)
		n += t->s[i].used && !expired(&t->s[i], now);
	return n;
}
