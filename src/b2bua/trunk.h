/* trunk: the SBC registers to providers' trunks ([trunk:NAME] register = yes) on the PBX's behalf. */
#ifndef SBC_B2BUA_TRUNK_H
#define SBC_B2BUA_TRUNK_H

#include <stdint.h>

#include "config/config.h"

struct b2bua;
struct trunk_reg;

enum {
	TRUNK_RETRY_MAX_S = 600,      /* the wait doubles up to this */
	TRUNK_AUTH_ROUNDS = 2,        /* challenges answered in one attempt (a stale nonce costs one) */
	TRUNK_EXPIRES_MAX = 86400,    /* the most a 423's Min-Expires may ask for */
	TRUNK_URI_MAX = 512,          /* Request-URI, AOR, Contact */
	TRUNK_MSG_MAX = 4096,         /* one REGISTER */
};

enum trunk_reg_state {
	TRUNK_REG_PENDING,            /* the first attempt is under way */
	TRUNK_REG_REGISTERED,         /* the provider accepted the last attempt; a refresh is planned */
	TRUNK_REG_FAILED,             /* the last attempt failed; a retry is planned */
};

/*
 * One trunk's registration, for the operator (sbcctl, the web UI). Times
 * are the loop's monotonic milliseconds. Nothing here is secret: no
 * password, no credentials.
 */
struct trunk_reg_status {
	char name[CONFIG_TRUNK_NAME_MAX];
	enum trunk_reg_state state;
	uint16_t last_code;           /* final response to the last REGISTER: 408 no answer, 503 not sent
				       * or transport error (RFC 3261 8.1.3.1); 0 none yet */
	uint32_t granted_s;           /* expiry the provider granted at the last success */
	uint64_t expires_ms;          /* when that binding ends at the provider; 0: none */
	uint64_t next_ms;             /* the next attempt (refresh or retry); 0 while one is under way */
	uint32_t retry_s;             /* the wait after the next failure */
	uint64_t sent;                /* REGISTER requests sent, answers to challenges included */
	uint64_t registered;          /* attempts that succeeded */
	uint64_t failed;              /* attempts that failed */
	uint64_t challenges;          /* 401/407 answered */
};

/*
 * Registrations for every [trunk:NAME] with register = yes of b's
 * configuration (as at start: the B2BUA keeps a reference). The first
 * REGISTER of each goes out now. Lifetime: mem_deref, which sends an
 * un-REGISTER for every binding the provider may still hold (one
 * datagram, not retransmitted: shutdown does not wait for it).
 */
int trunk_reg_alloc(struct trunk_reg **trp, struct b2bua *b);
unsigned trunk_reg_count(const struct trunk_reg *tr);
/* The i-th registering trunk (file order), NULL past the end. */
const struct trunk_reg_status *trunk_reg_status(const struct trunk_reg *tr, unsigned i);
const struct trunk_reg_status *trunk_reg_find(const struct trunk_reg *tr, const char *name);
const char *trunk_reg_state_name(enum trunk_reg_state s);

#endif
