/* b2bua: the transaction user: calls re-originated across the zones, routing, and what the SBC answers itself. */
#ifndef SBC_B2BUA_H
#define SBC_B2BUA_H

#include "config/config.h"
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

#endif
