/* b2bua: the transaction user: calls re-originated across the zones, routing, and what the SBC answers itself. */
#ifndef SBC_B2BUA_H
#define SBC_B2BUA_H

#include "config/config.h"
#include "media/media.h"
#include "sip/sip.h"
#include "txn/txn.h"

struct b2bua;
struct media_engine;
struct guard;

/* What the B2BUA works with; all of it outlives the B2BUA. */
struct b2bua_cfg {
	const struct sbc_config *cfg;
	struct guard *guard;                     /* told of auth outcomes and registrations; may be NULL */
	struct txn_layer *txn;
	struct sip_transp *transp;
	struct media_engine *media;
	const char *host[ZONE_COUNT];            /* what Via and Contact say per zone */
	struct sockaddr_storage media_addr[ZONE_COUNT];  /* the zone's media address */
};

struct b2bua_stats {
	uint64_t options_answered;   /* OPTIONS to the SBC itself */
	uint64_t no_route;           /* out-of-dialog requests with nowhere to go: 404 */
	uint64_t no_dialog;          /* in-dialog requests for no dialog: 481 */
	uint64_t bad_token;          /* a Contact token that does not decrypt: refused */
	uint64_t calls_started, calls_answered, calls_failed, calls_active;
	uint64_t leaks_blocked;      /* messages not sent because they named the private side */
	uint64_t media_full;         /* calls refused: no relay ports */
	uint64_t refused_admission;  /* calls refused: max_calls or max_cps: 503 */
	uint64_t relayed_requests, relayed_responses;
	uint64_t access_denied;      /* public-zone requests nobody vouches for: 403 or dropped */
	uint64_t refused_trunk_limit;   /* calls over a trunk's max_calls: 503 */
	uint64_t auth_challenged;    /* 401/407 from the SBC's own authentication */
};

int b2bua_alloc(struct b2bua **bp, const struct b2bua_cfg *bc);
/*
 * SIGHUP: work with next from now on (the B2BUA holds a reference to its
 * configuration), and read the users file again (the running users stay
 * on error). What was resolved at start (the core's address, the leak
 * checker's needles, the zone hosts) stays until the next start.
 */
int b2bua_apply(struct b2bua *b, const struct sbc_config *next);
int b2bua_stateless(struct b2bua *b, struct sip_msg *msg);
void b2bua_request(struct b2bua *b, struct txn_server *st, struct sip_msg *req, uint64_t now);
int b2bua_ack(struct b2bua *b, struct txn_server *st, struct sip_msg *ack);
uint64_t b2bua_next(const struct b2bua *b);
void b2bua_poll(struct b2bua *b, uint64_t now);
const struct b2bua_stats *b2bua_stats(const struct b2bua *b);

/* The registrar's counters (docs/registration.md); all zero without one. */
struct b2bua_reg_counters {
	uint64_t bindings;          /* live now, pending ones included */
	uint64_t registers;         /* REGISTER requests from phones */
	uint64_t forwarded;         /* of them relayed to the core */
	uint64_t absorbed;          /* refreshes answered from the cache */
	uint64_t removed;           /* bindings removed (un-REGISTER, expiry) */
	uint64_t refused;           /* malformed or over a limit: 400/403/503 */
	uint64_t refused_pending;   /* of them: the source had too many waiting for the core (503) */
	uint64_t keepalives, keepalive_failed;
};

void b2bua_reg_counters(const struct b2bua *b, struct b2bua_reg_counters *out);

/*
 * Read-only snapshots for the operator (the control socket). Each fills at
 * most max entries of out (out may be NULL when max is 0) and returns how
 * many there are in all, which may be more than max. Times are the loop's
 * monotonic milliseconds (time_mono_ms); 0 means not yet or none.
 */
enum { B2BUA_USER_MAX = 64, B2BUA_AOR_MAX = 256 };

struct b2bua_call_info {
	uint64_t id;
	const char *state;                       /* a literal: "trying", "early", "answered", "confirmed" */
	uint64_t start_ms, answer_ms;
	struct sip_peer peer[2];                 /* [0] the a-leg (the caller's side), [1] the b-leg */
	char caller[B2BUA_USER_MAX];             /* user part of the a-leg's From; "" when absent or long */
	char callee[B2BUA_USER_MAX];             /* user part of the a-leg's To */
	char trunk[CONFIG_TRUNK_NAME_MAX];       /* "" when not through a trunk */
	bool media;                              /* a media session is relaying */
};

struct b2bua_reg_info {
	char aor[B2BUA_AOR_MAX];                 /* "user@host" */
	struct sip_peer peer;                    /* where the phone is reached: its NAT address, transport */
	bool nat;                                /* its Contact is not where its requests come from */
	uint64_t phone_exp_ms;                   /* its registration at the SBC ends; 0: pending */
	uint64_t core_exp_ms;                    /* the core's binding ends; 0: not registered there */
};

struct b2bua_trunk_info {
	char name[CONFIG_TRUNK_NAME_MAX];
	enum zone_id zone;
	struct config_host address;
	uint16_t port;
	enum config_transport transport;
	unsigned max_calls;                      /* 0: unlimited */
	unsigned active;                         /* calls up now through it */
	const char *reg_state;                   /* "pending", "registered", "failed", or "none" */
	uint16_t reg_last_code;                  /* of the last REGISTER; 0 when none */
};

size_t b2bua_calls(const struct b2bua *b, struct b2bua_call_info *out, size_t max);
/* The call with this id (as one entry of b2bua_calls). ENOENT: no such call. */
int b2bua_call(const struct b2bua *b, uint64_t id, struct b2bua_call_info *out);
/* One relayed media stream of a call: its m= line index and counters. */
struct b2bua_stream_info {
	unsigned index;
	struct media_stream_stats st;
};
/* Call id's open media streams into out (at most max; MEDIA_MAX_STREAMS is enough), count in *n. ENOENT: no such call. */
int b2bua_call_streams(const struct b2bua *b, uint64_t id, struct b2bua_stream_info *out,
		       size_t max, size_t *n);
/* End call id with BYEs on the legs that have a dialog (cause "operator"). ENOENT: no such call. */
int b2bua_call_hangup(struct b2bua *b, uint64_t id);
size_t b2bua_registrations(const struct b2bua *b, struct b2bua_reg_info *out, size_t max);
size_t b2bua_trunks(const struct b2bua *b, struct b2bua_trunk_info *out, size_t max);

#endif
