/* b2bua: the transaction user: requests for the SBC itself, routing, and (to come) calls across the zones. */
#ifndef SBC_B2BUA_H
#define SBC_B2BUA_H

#include "sip/sip.h"
#include "txn/txn.h"

struct b2bua;

struct b2bua_stats {
	uint64_t options_answered;   /* OPTIONS to the SBC itself */
	uint64_t no_route;           /* out-of-dialog requests with nowhere to go: 404 */
	uint64_t no_dialog;          /* in-dialog requests for no dialog: 481 */
};

int b2bua_alloc(struct b2bua **bp, struct sip_transp *transp, const char *product);
void b2bua_request(struct b2bua *b, struct txn_server *st, struct sip_msg *req, uint64_t now);
int b2bua_ack(struct b2bua *b, struct txn_server *st, struct sip_msg *ack);
const struct b2bua_stats *b2bua_stats(const struct b2bua *b);

#endif
