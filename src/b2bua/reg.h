/* reg: registrations from the public zone relayed to the core, the binding cache, and routing to registered phones. */
#ifndef SBC_B2BUA_REG_H
#define SBC_B2BUA_REG_H

#include "b2bua.h"

struct reg;

/*
 * Sizes of what a binding remembers; a REGISTER whose values do not fit is
 * refused (400), never truncated.
 */
enum {
	REG_AOR_MAX = 256,          /* "user@host" of the To URI */
	REG_CONTACT_MAX = 256,      /* the phone's Contact URI */
	REG_CALLID_MAX = 128,
	REG_CONTACTS_MAX = 8,       /* Contacts in one REGISTER */
	REG_BINDINGS_MAX = 1000000, /* bindings in all */
	REG_PENDING_PER_SOURCE = 16, /* REGISTERs of one source IP waiting for the core */
	REG_BUCKETS = 1 << 17,
	REG_PENDING_MS = 40000,     /* backstop: a pending binding goes with its relay (Timer F, 32 s) */
	REG_SAVE_MS = 10000,        /* the cache is written at most this often when it changed */
};

struct reg_stats {
	uint64_t bindings;          /* live now */
	uint64_t registers;         /* REGISTER requests from phones */
	uint64_t forwarded;         /* of them relayed to the core */
	uint64_t absorbed;          /* refreshes answered from the cache */
	uint64_t removed;           /* bindings removed (un-REGISTER, expiry) */
	uint64_t refused;           /* malformed or over a limit: 400/403/503 */
	uint64_t refused_pending;   /* of them: REG_PENDING_PER_SOURCE waiting already (503) */
	uint64_t routed;            /* requests from the core routed to a phone */
	uint64_t unknown_token;     /* requests from the core for no binding: 404 */
	uint64_t lapsed;            /* for a binding whose phone stopped refreshing: 480 */
	uint64_t keepalives;        /* keep-alives sent to phones */
	uint64_t keepalive_failed;  /* OPTIONS keep-alives unanswered */
	uint64_t saves, save_errors;
};

int reg_alloc(struct reg **rp, struct b2bua *b);
/* Write the cache now if it changed (shutdown). */
void reg_flush(struct reg *r);
/* A REGISTER from the public zone: answered from the cache or relayed to the core. */
void reg_register(struct reg *r, struct txn_server *st, struct sip_msg *req);
/*
 * A request from the core whose Request-URI user is user: when it names a
 * binding, 0 with where it goes (the phone's NAT address and connection)
 * and its Request-URI (the phone's Contact) in ruri. ENOENT: no binding
 * (404); EAGAIN: the phone's registration lapsed (480); ENAMETOOLONG.
 */
int reg_route(struct reg *r, const struct pl *user, struct sip_peer *dst, char *ruri,
	      size_t size);
/* Does src (address, port, transport) belong to a phone registered now? */
bool reg_source_registered(struct reg *r, const struct sip_peer *src);
const struct reg_stats *reg_stats(const struct reg *r);
/* The bindings, pending ones included (phone_exp_ms 0): b2bua_registrations. */
size_t reg_bindings(const struct reg *r, struct b2bua_reg_info *out, size_t max);

#endif
