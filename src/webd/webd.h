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

/* Random tokens (setup, metrics; CSRF tokens have the same form): 32 bytes as 64 hex digits. */
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

/*
 * Sessions (docs/webd.md, "Sessions"): the cookie is an AEAD token
 * (AES-256-GCM) sealing the session id, user, creation and last-seen
 * times under the key of <data_dir>/web/session.key; times are wall-clock
 * milliseconds since 1970, passed in by the caller.
 */
#define WEBD_SESSION_IDLE_MS     (30ull * 60 * 1000)
#define WEBD_SESSION_ABS_MS      (12ull * 3600 * 1000)
#define WEBD_SESSION_FUTURE_MS   (60ull * 1000)       /* clock skew a token may be ahead by */
#define WEBD_SESSION_RESEAL_MS   (60ull * 1000)       /* a cookie this old in last-seen is renewed */

#define WEBD_SKEY_LEN        32          /* bytes of session.key */
#define WEBD_SID_LEN         16          /* a session id: 128 random bits */
#define WEBD_USER            "admin"     /* the one user of the web UI */
#define WEBD_USER_MAX        32
#define WEBD_SEAL_VERSION    1
#define WEBD_SEAL_NONCE      12
#define WEBD_SEAL_TAG        16
#define WEBD_SEAL_HEAD       (1 + 4 + WEBD_SEAL_NONCE)             /* version, key id, nonce */
#define WEBD_SEAL_PLAIN_MIN  (WEBD_SID_LEN + 8 + 8 + 1 + 1)
#define WEBD_SEAL_PLAIN_MAX  (WEBD_SID_LEN + 8 + 8 + 1 + WEBD_USER_MAX)
#define WEBD_SEAL_BIN_MAX    (WEBD_SEAL_HEAD + WEBD_SEAL_PLAIN_MAX + WEBD_SEAL_TAG)
#define WEBD_SEAL_TEXT_MAX   ((WEBD_SEAL_BIN_MAX * 4 + 2) / 3 + 1)  /* base64url, NUL */

/* The keys made from session.key: the AEAD key, the CSRF key, and the key's id. */
struct webd_skey {
	uint8_t aead[32];
	uint8_t csrf[32];
	uint32_t id;
};

/* What a session token seals. */
struct webd_token {
	uint8_t sid[WEBD_SID_LEN];
	char user[WEBD_USER_MAX + 1];
	uint64_t created, seen;
};

/* Why a session cookie was refused (the label of sbc_webd_session_refused_total). */
enum webd_refuse {
	WEBD_REFUSE_MALFORMED,    /* bad base64, truncated, other version, bad fields */
	WEBD_REFUSE_KEY,          /* sealed with another key */
	WEBD_REFUSE_TAMPERED,     /* authentication failed */
	WEBD_REFUSE_EXPIRED,      /* idle or absolute limit passed */
	WEBD_REFUSE_FUTURE,       /* made or seen later than now */
	WEBD_REFUSE_REVOKED,      /* logged out, or before a password change */
	WEBD_REFUSE_N
};

const char *webd_refuse_name(enum webd_refuse why);
int webd_skey_init(struct webd_skey *k, const uint8_t *raw, size_t len);
int webd_seal(const struct webd_skey *k, const struct webd_token *t, char *out, size_t size);
int webd_unseal(const struct webd_skey *k, const char *text, struct webd_token *t,
		enum webd_refuse *why);
void webd_csrf_derive(const struct webd_skey *k, const uint8_t sid[WEBD_SID_LEN],
		      char hex[WEBD_TOKEN_HEX]);

/*
 * Revocation, kept in <data_dir>/web/sessions-revoked: sessions of the
 * user created before not_before are invalid (a password change), and so
 * are the listed ones (logouts). A listed session is forgotten once it
 * would have expired anyway; a full list raises not_before past its oldest.
 */
#define WEBD_REVOKED_MAX     256
#define WEBD_REVOKE_TEXT_MAX (128 + WEBD_REVOKED_MAX * 64)

struct webd_revoked {
	uint8_t sid[WEBD_SID_LEN];
	uint64_t created;
};

struct webd_revoke {
	uint64_t not_before;
	struct webd_revoked r[WEBD_REVOKED_MAX];
	unsigned n;
};

void webd_revoke_prune(struct webd_revoke *rv, uint64_t now);
void webd_revoke_add(struct webd_revoke *rv, const struct webd_token *t, uint64_t now);
void webd_revoke_before(struct webd_revoke *rv, uint64_t when, uint64_t now);
bool webd_revoked(const struct webd_revoke *rv, const struct webd_token *t);
int webd_revoke_format(const struct webd_revoke *rv, char *buf, size_t size, size_t *len);
int webd_revoke_parse(struct webd_revoke *rv, const char *text);
int webd_token_check(const struct webd_revoke *rv, const struct webd_token *t, uint64_t now,
		     enum webd_refuse *why);

/*
 * The sessions seen by this process, at most WEBD_SESSIONS_MAX: for the
 * gauge, the idle time between cookie renewals, and the cap (a new one
 * over the cap evicts the least recently used, which the caller revokes).
 */
#define WEBD_SESSIONS_MAX        32

struct webd_session {
	bool used;
	uint8_t sid[WEBD_SID_LEN];
	uint64_t created, seen;
	char csrf[WEBD_TOKEN_HEX];
};

struct webd_sessions {
	struct webd_session s[WEBD_SESSIONS_MAX];
	uint64_t added, expired, evicted;
};

struct webd_session *webd_session_find(struct webd_sessions *t, const uint8_t sid[WEBD_SID_LEN]);
struct webd_session *webd_session_add(struct webd_sessions *t, const struct webd_token *tok,
				      uint64_t now, struct webd_token *evicted, bool *was_evicted);
void webd_session_drop(struct webd_session *s);
void webd_session_drop_before(struct webd_sessions *t, uint64_t when,
			      const struct webd_session *keep);
unsigned webd_session_count(const struct webd_sessions *t, uint64_t now);

#endif
