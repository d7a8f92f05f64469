/* b2bua_int: B2BUA private interface: topology hiding (Contact tokens, header policy, leak checker) and the call code's own declarations. */
#ifndef SBC_B2BUA_INT_H
#define SBC_B2BUA_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "sip/sip.h"
#include "util/util.h"

/* ==== topology hiding: tokens, header policy, leak checker (token.c, policy.c, leak.c) ==== */

/*
 * Contact tokens (token.c). What the SBC puts in the user part of its own
 * Contact (and Path) so that a request arriving for that URI finds its call
 * leg or binding again without any lookup table an attacker could fill:
 *
 *   TOKEN = base64url(gen | nonce | AES-256-GCM(id, epoch, kind/zone/leg) | tag)
 *
 * gen (1 byte, the key generation mod 256) and nonce (12 random bytes) are in
 * the clear; the 13 plaintext bytes are encrypted; gen and a format label
 * are authenticated as AAD; the tag is 96 bits. 38 bytes, 51 characters of
 * [A-Za-z0-9_-], all legal in a SIP URI user part. One token_key per
 * process, used from the event-loop thread only (the cipher contexts are
 * cached in the key and are not thread-safe).
 */
enum token_kind {
	TOKEN_KIND_DIALOG = 1,      /* id: the call, leg: which of its dialogs */
	TOKEN_KIND_BINDING = 2,     /* id: the registration binding */
};

enum {
	TOKEN_KEY_LEN = 32,         /* AES-256 */
	TOKEN_NONCE_LEN = 12,       /* GCM's 96-bit IV, random per token */
	TOKEN_TAG_LEN = 12,         /* 96-bit tag (SP 800-38D allows 96..128) */
	TOKEN_PLAIN_LEN = 13,       /* id 8, epoch 4, kind/zone/leg 1 */
	TOKEN_RAW_LEN = 1 + TOKEN_NONCE_LEN + TOKEN_PLAIN_LEN + TOKEN_TAG_LEN,   /* 38 */
	TOKEN_TEXT_LEN = (TOKEN_RAW_LEN * 8 + 5) / 6,                            /* 51 */
	TOKEN_TEXT_SIZE = TOKEN_TEXT_LEN + 1,                                    /* with the NUL */
	TOKEN_KIND_MAX = 15,        /* kind, zone and leg share one byte: 4, 2 and 2 bits */
	TOKEN_ZONE_MAX = 3,
	TOKEN_LEG_MAX = 3,
};

/* Tokens one key may encode: NIST SP 800-38D's limit for random 96-bit IVs. */
#define TOKEN_KEY_MAX_USES (UINT64_C(1) << 32)

struct b2bua_token {
	uint64_t id;        /* call or binding id */
	uint8_t kind;       /* enum token_kind, <= TOKEN_KIND_MAX */
	uint8_t zone;       /* zone the token was handed out on, <= TOKEN_ZONE_MAX */
	uint8_t leg;        /* 0: a-leg, 1: b-leg, <= TOKEN_LEG_MAX */
	uint32_t epoch;     /* the caller's generation (binding refresh, call instance) */
};

struct token_key;

/* New key set with one random current key from random_bytes; no previous key. */
int token_key_alloc(struct token_key **kp);
/*
 * Test and fuzz hook: a key set whose current key is the given 32 bytes
 * (generation 0). Never used by sbcd: keys are generated at each boot.
 */
int token_key_alloc_with(struct token_key **kp, const uint8_t key[TOKEN_KEY_LEN]);
/*
 * New random current key; the old current becomes the previous key (still
 * accepted) and the old previous is destroyed. On error nothing changed.
 */
int token_key_rotate(struct token_key *k);
/* Destroy the previous key (end of the grace period): its tokens are refused. */
void token_key_retire(struct token_key *k);
/* Tokens encoded with the current key so far (for the rotation policy). */
uint64_t token_key_uses(const struct token_key *k);
/*
 * Write t as TOKEN_TEXT_LEN characters and a NUL into out. 0; EINVAL (a
 * field out of range); ENOSPC (size < TOKEN_TEXT_SIZE); EOVERFLOW (the
 * current key has encoded TOKEN_KEY_MAX_USES tokens: rotate); EIO (OpenSSL).
 */
int token_encode(struct token_key *k, const struct b2bua_token *t, char *out, size_t size);
/*
 * Decode and authenticate text. 0 and *t filled; EBADMSG for anything that
 * token_encode did not produce under the current or previous key (wrong
 * length or characters, altered, forged, retired key); *t untouched then.
 */
int token_decode(const struct token_key *k, const struct pl *text, struct b2bua_token *t);

/*
 * Header policy (policy.c). The B2BUA writes Via, Route, Record-Route,
 * Contact, Call-ID, CSeq, From, To, Max-Forwards, Content-Length (and the
 * dialog-mapped RAck, RSeq, Replaces, Refer-To...) itself; for every other
 * header of the message it carries across, the egress zone's policy says
 * what happens. The defaults are a table (policy.c, docs/topology-hiding.md);
 * hdr_policy_set overrides an entry.
 */
enum hdr_action {
	HDR_OWN = 0,        /* written by the B2BUA itself: never copied, not overridable */
	HDR_COPY,           /* copied as received */
	HDR_DROP,           /* not sent */
	HDR_REWRITE_HOST,   /* URIs' host[:port] become the SBC's egress host, maddr removed */
	HDR_REPLACE,        /* value replaced by the product string (Server, User-Agent) */
	HDR_STRIP_URLS,     /* values whose URI is not a urn: are removed (Alert-Info, Call-Info) */
	HDR_TRUSTED,        /* copied only from a trusted source, else dropped (identity headers) */
	HDR_ACTION__COUNT
};

/* One table entry. */
struct hdr_rule {
	uint8_t action;     /* enum hdr_action */
	uint8_t flags;      /* HDR_RULE_F_* */
};

enum {
	HDR_RULE_F_PRIVACY_ID = 1 << 0,   /* dropped when the message has "Privacy: id" (RFC 3325) */
};

/* Flags of hdr_policy_write. */
enum {
	HDR_POLICY_F_TRUSTED = 1 << 0,    /* the message came from a trusted peer (core, trunk) */
};

enum {
	HDR_POLICY_OVERRIDES_MAX = 32,    /* hdr_policy_set entries for unknown header names */
	HDR_POLICY_NAME_MAX = 64,
};

struct hdr_policy;

/* The default policy toward egress_zone (ZONE_PUBLIC, ZONE_PRIVATE); product may be "" (Server/User-Agent then dropped). */
int hdr_policy_alloc(struct hdr_policy **pp, unsigned egress_zone, const char *product);
/*
 * Override: name is a header name (long or compact) or a prefix ending in
 * '*' ("X-*"). 0; EPERM for a header the B2BUA owns, or action HDR_OWN;
 * EINVAL; ENOSPC when HDR_POLICY_OVERRIDES_MAX unknown names are set.
 */
int hdr_policy_set(struct hdr_policy *p, const char *name, enum hdr_action action);
enum hdr_action hdr_policy_action(const struct hdr_policy *p, const struct sip_hdr *h);
const char *hdr_action_name(enum hdr_action a);
/*
 * Append to out, as complete "Name: value\r\n" lines in message order, the
 * headers of msg the policy keeps, rewritten as it says. host is the SBC's
 * egress host[:port] as written in a URI (IPv6 in brackets); it may be NULL
 * when the policy rewrites nothing. A REWRITE_HOST header with a value that
 * does not parse is dropped whole. 0; EINVAL; ENOSPC (out unchanged).
 */
int hdr_policy_write(const struct hdr_policy *p, const struct sip_msg *msg, const char *host,
		     unsigned flags, struct wbuf *out);
/*
 * Authorization and Proxy-Authorization values for which ours() says true
 * (the SBC's own realm: it checked them itself) are never written; NULL
 * turns that off. The peer behind never sees a digest meant for the SBC.
 */
typedef bool (hdr_credentials_h)(const void *arg, const struct pl *val);
void hdr_policy_set_credentials(struct hdr_policy *p, hdr_credentials_h *ours, const void *arg);

/*
 * Leak checker (leak.c). Every message leaving on the public zone is scanned,
 * start line, headers and body, for the private side's addresses (as
 * addresses: any textual form, CIDR ranges allowed) and names (whole labels,
 * any case, subdomains included). By default a hit refuses the message.
 */
enum {
	LEAK_ADDRS_MAX = 256,       /* address and CIDR needles */
	LEAK_NAMES_MAX = 512,       /* name needles */
	LEAK_ARENA_SIZE = 32768,    /* bytes of name text */
	LEAK_WHERE_MAX = 48,        /* header name reported in *where */
};

/* Flags of leak_check. */
enum {
	/*
	 * In a response, the Via fields are the peer's own (copied from its
	 * request) and are not scanned: a phone whose LAN address equals a
	 * private needle must still get its answers.
	 */
	LEAK_CHECK_F_SKIP_RESPONSE_VIA = 1 << 0,
};

struct leak_stats {
	uint64_t messages_checked;
	uint64_t messages_leaking;          /* with at least one hit */
	uint64_t messages_blocked;          /* refused (leaking while enforcing) */
	uint64_t hits;
	uint64_t hits_by_header[SIP_HDR__COUNT];   /* [SIP_HDR_OTHER]: unknown headers */
	uint64_t hits_start_line;
	uint64_t hits_body;
};

struct leak_checker;

/*
 * Needles from cfg (may be NULL): the private zone's address, advertised
 * and media addresses; the core's address or name; the address and domain
 * of every private-zone trunk; core.hide. A private zone address taken
 * from the interface at run time must be added with leak_checker_add.
 */
int leak_checker_alloc(struct leak_checker **lp, const struct sbc_config *cfg);
/*
 * One needle: an IPv4 or IPv6 address (brackets allowed), a CIDR block
 * ("10.20.0.0/16"), or a host or domain name (matches its subdomains).
 * 0 (also when already present); EINVAL; ENOSPC past a limit.
 */
int leak_checker_add(struct leak_checker *l, const char *needle);
/* Enforce (default): leaking messages are refused; false: counted and reported only. */
void leak_checker_set_enforce(struct leak_checker *l, bool enforce);
unsigned leak_checker_count(const struct leak_checker *l);
/*
 * Scan a whole message. 0 when clean (or leaking while not enforcing);
 * EACCES when a needle is found while enforcing. When anything was found,
 * *where (may be NULL) names the place of the first hit: a header name,
 * "start-line" or "body", valid until the next call; else NULL. Every hit
 * is counted in the stats by where it was.
 */
int leak_check(struct leak_checker *l, const char *msg, size_t len, unsigned flags,
	       const char **where);
const struct leak_stats *leak_checker_stats(const struct leak_checker *l);

/* ==== end of topology hiding ==== */

#endif
