/* auth: the SBC's own digest authentication (RFC 7616, RFC 8760 SHA-256, qop=auth) of public-zone requests, and its answers to a provider's challenges. */
#ifndef SBC_AUTH_H
#define SBC_AUTH_H

#include <stdbool.h>
#include <stdint.h>

#include "config/config.h"
#include "sip/sip.h"
#include "util/util.h"

/* Limits (docs/auth.md). */
#define AUTH_USER_MAX      64                  /* bytes in a user name */
#define AUTH_USERS_MAX     100000              /* users in one users file */
#define AUTH_FILE_MAX      (32 * 1024 * 1024)  /* bytes in the users file */
#define AUTH_LINE_MAX      1024                /* bytes on one line of it */
#define AUTH_NONCE_LEN     40                  /* our nonces: base64url of 30 bytes */
#define AUTH_NONCE_MAX     256                 /* longest nonce or cnonce accepted in credentials */
#define AUTH_NC_SLOTS      65536               /* nonce-count table entries, fixed */
#define AUTH_NC_WAYS       8                   /* entries per set of that table */
#define AUTH_CHAL_MAX      2048                /* bytes of a challenge value the client side answers */
#define AUTH_CHAL_VALUE_MAX 256                /* realm, nonce, opaque in such a challenge */
#define AUTH_CNONCE_BYTES  16                  /* random bytes of the client's cnonce (hex on the wire) */

struct auth;

enum auth_alg { AUTH_ALG_MD5, AUTH_ALG_SHA256, AUTH_ALG__COUNT };

enum auth_result {
	AUTH_OK,         /* right response, fresh nonce of ours, new nonce count: *user is set */
	AUTH_CHALLENGE,  /* no credentials for our realm and an algorithm we offer: challenge */
	AUTH_STALE,      /* right response, but the nonce expired or is not (any more) ours: challenge with stale=true */
	AUTH_FAIL,       /* wrong response, unknown user, malformed, replayed, wrong uri: refuse */
};

/*
 * Counters for the operator. unknown_user must never reach a response:
 * an unknown user and a wrong password are answered alike.
 */
struct auth_stats {
	uint64_t challenges;     /* challenge blocks written */
	uint64_t ok;
	uint64_t fail;           /* every AUTH_FAIL, the four below included */
	uint64_t stale;
	uint64_t replays;        /* right response, nonce count not above the last one seen */
	uint64_t unknown_user;   /* FAIL for a user name not in the file */
	uint64_t malformed;      /* FAIL for credentials that do not parse or break a limit */
	uint64_t bad_uri;        /* FAIL: digest uri is not the Request-URI */
	uint64_t nc_evicted;     /* live nonce-count entries pushed out of the table */
	unsigned users;          /* users loaded now */
};

/*
 * Lifetime: mem_deref. auth_alloc reads cfg->users_file (a missing file is
 * an error only when cfg->local); realm_fallback is the realm when
 * cfg->realm is empty (the public zone's advertised or bound address).
 * EINVAL with the reasons in errs (may be NULL), ENOMEM.
 */
int auth_alloc(struct auth **ap, const struct config_auth *cfg, const char *realm_fallback,
	       struct config_errors *errs);
int auth_reload(struct auth *a, const struct config_auth *cfg, const char *realm_fallback,
		struct config_errors *errs);
int auth_users_load(struct auth *a, const char *name, const char *buf, size_t len,
		    struct config_errors *errs);

enum auth_result auth_check(struct auth *a, const struct sip_msg *req, bool proxy, uint64_t now_ms,
			    const char **user);
int auth_challenge_write(struct auth *a, bool proxy, bool stale, uint64_t now_ms, struct wbuf *out);
bool auth_credentials_ours(const struct auth *a, const struct pl *val);

const char *auth_realm(const struct auth *a);
const struct auth_stats *auth_stats(const struct auth *a);
const char *auth_result_name(enum auth_result r);

/*
 * The client side: the SBC answering a provider's 401/407 when it
 * registers to a trunk (trunk.c). The password is used for hashing only.
 */
struct auth_client_params {
	const char *user;             /* digest username, 1-AUTH_USER_MAX bytes */
	const char *password;
	struct pl method;             /* of the request being authorised */
	const char *uri;              /* digest-uri: its Request-URI as written on the request line */
	uint32_t nc;                  /* requests made with this nonce, this one included (from 1) */
	const char *cnonce;           /* NULL: AUTH_CNONCE_BYTES random bytes in hex; set by tests only */
};

int auth_client_pick(const struct sip_msg *resp, bool proxy, struct pl *val, bool *stale);
int auth_client_answer(const struct pl *challenge, bool proxy, const struct auth_client_params *p,
		       struct wbuf *out);

/* Helpers, also for tests and tools. */
int auth_ha1_hex(enum auth_alg alg, const char *user, const char *realm, const char *password,
		 char *hex, size_t size);
enum auth_result auth_response_verify(struct auth *a, const struct pl *method, const struct pl *credentials);

#endif
