/* webd: the parts of sbc-webd that hold no global state: password hashes, tokens, checks, limits, sessions. */
#ifndef SBC_WEBD_H
#define SBC_WEBD_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Password hashes: one line "pbkdf2-sha256$ITER$SALT_B64$HASH_B64" (docs/webd.md). */
#define WEBD_PW_SCHEME       "pbkdf2-sha256"
#define WEBD_PW_ITER         600000u      /* iterations of new hashes */
#define WEBD_PW_ITER_MAX     10000000u    /* a stored line asking more is malformed */
#define WEBD_PW_SALT_LEN     16           /* bytes of a new salt */
#define WEBD_PW_SALT_MAX     64           /* bytes of a stored salt */
#define WEBD_PW_HASH_LEN     32           /* bytes of SHA-256 output */
#define WEBD_PW_LINE_MAX     256          /* a hash line with its NUL */
#define WEBD_PW_MIN          10           /* password length in bytes */
#define WEBD_PW_MAX          128

/* Random tokens (setup, metrics, sessions, CSRF): 32 bytes as 64 hex digits. */
#define WEBD_TOKEN_LEN       32
#define WEBD_TOKEN_HEX       (2 * WEBD_TOKEN_LEN + 1)

int webd_pw_hash(char *line, size_t size, const char *pw, size_t len, unsigned iter,
		 const uint8_t *salt, size_t saltlen);
int webd_pw_parse(const char *line, unsigned *iter, uint8_t *salt, size_t *saltlen,
		  uint8_t hash[WEBD_PW_HASH_LEN]);
int webd_pw_verify(const char *line, const char *pw, size_t len);
int webd_token_new(char hex[WEBD_TOKEN_HEX]);
bool webd_token_eq(const char *a, size_t alen, const char *b, size_t blen);
bool webd_token_valid(const char *s);

/* Request checks. */
#define WEBD_URI_PATH_MAX    256          /* a static file's path, decoded */

int webd_path_resolve(const char *uri_path, char *out, size_t size);
const char *webd_content_type(const char *relpath);
bool webd_origin_ok(const char *origin, const char *host);
int webd_cookie_get(const char *header, const char *name, char *out, size_t size);
bool webd_ctype_json(const char *ctype);
int webd_bearer_get(const char *auth, const char **tok, size_t *len);

/* The control commands the web may use, and how (docs/webd.md, "API"). */
enum webd_cmd_kind { WEBD_CMD_NONE, WEBD_CMD_READ, WEBD_CMD_CHANGE };

enum webd_cmd_kind webd_cmd_kind(const char *cmd);

/*
 * Login rate limit: per source at most WEBD_LIMIT_FAILS failures in
 * WEBD_LIMIT_FAIL_MS, in all at most WEBD_LIMIT_ATTEMPTS attempts in
 * WEBD_LIMIT_ATTEMPT_MS. Times are monotonic milliseconds the caller
 * passes in. The source table is fixed (WEBD_LIMIT_SOURCES entries, least
 * recently seen evicted first, sources without failures before others).
 */
#define WEBD_LIMIT_FAILS         5
#define WEBD_LIMIT_FAIL_MS       (5u * 60 * 1000)
#define WEBD_LIMIT_ATTEMPTS      30
#define WEBD_LIMIT_ATTEMPT_MS    (60u * 1000)
#define WEBD_LIMIT_SOURCES       256
#define WEBD_ADDR_MAX            INET6_ADDRSTRLEN

struct webd_limit_src {
	char addr[WEBD_ADDR_MAX];          /* "" when the slot is free */
	uint64_t fail[WEBD_LIMIT_FAILS];   /* failure times, oldest first */
	unsigned nfail;
	unsigned pending;                  /* attempts begun, not yet ended */
	uint64_t seen;
};

struct webd_limit_stats {
	uint64_t attempts, failures, refused_source, refused_total, evicted;
};

struct webd_limit {
	struct webd_limit_src src[WEBD_LIMIT_SOURCES];
	uint64_t attempt[WEBD_LIMIT_ATTEMPTS];   /* ring of attempt times */
	unsigned nattempt, head;
	struct webd_limit_stats stats;
};

void webd_limit_init(struct webd_limit *l);
int webd_limit_begin(struct webd_limit *l, const char *addr, uint64_t now, unsigned *retry_s);
void webd_limit_end(struct webd_limit *l, const char *addr, bool ok, uint64_t now);

/* Sessions: in memory only, at most WEBD_SESSIONS_MAX (the least recently used goes). */
#define WEBD_SESSIONS_MAX        32
#define WEBD_SESSION_IDLE_MS     (30u * 60 * 1000)
#define WEBD_SESSION_ABS_MS      (12u * 3600 * 1000)

struct webd_session {
	bool used;
	char id[WEBD_TOKEN_HEX];
	char csrf[WEBD_TOKEN_HEX];
	uint64_t created, last;
};

struct webd_sessions {
	struct webd_session s[WEBD_SESSIONS_MAX];
	uint64_t created, expired, evicted;
};

int webd_session_new(struct webd_sessions *t, uint64_t now, struct webd_session **sp);
struct webd_session *webd_session_find(struct webd_sessions *t, const char *id, uint64_t now);
void webd_session_drop(struct webd_session *s);
void webd_session_drop_others(struct webd_sessions *t, const struct webd_session *keep);
unsigned webd_session_count(const struct webd_sessions *t, uint64_t now);

#endif
