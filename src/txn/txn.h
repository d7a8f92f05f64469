/* txn: RFC 3261 transactions (INVITE and non-INVITE, client and server) with the RFC 6026 Accepted states. */
#ifndef SBC_TXN_H
#define SBC_TXN_H

#include <stdbool.h>
#include <stdint.h>

#include "sip/sip.h"
#include "util/util.h"

/*
 * The layer sits between the transport and the transaction user (TU, the
 * B2BUA). It is single-threaded and never blocks: the event loop reads the
 * clock once per turn and passes it in (`now`, milliseconds on any
 * monotonic clock); every timer runs on that clock, so tests drive it.
 *
 * Lifetime: transactions are mem-refcounted. The layer holds one reference
 * while a transaction is in its tables and drops it when the transaction
 * terminates. A transaction handed to a callback is valid for the duration
 * of that callback; a TU that keeps it longer takes its own reference
 * (mem_ref) and gives it back with txn_server_release()/txn_client_release(),
 * which also stops further callbacks. A terminated transaction the TU still
 * holds is inert: every call on it returns ENOENT or EALREADY.
 *
 * Callbacks must not destroy the layer. The send callback must not call
 * back into the layer.
 */

struct txn_layer;
struct txn_server;
struct txn_client;

enum txn_state {
	TXN_STATE_TRYING,       /* non-INVITE, no provisional response yet */
	TXN_STATE_CALLING,      /* INVITE client, no response yet */
	TXN_STATE_PROCEEDING,   /* provisional response sent or received (INVITE server: at once) */
	TXN_STATE_COMPLETED,    /* final response (INVITE: 3xx-6xx) */
	TXN_STATE_CONFIRMED,    /* INVITE server: ACK for the 3xx-6xx received */
	TXN_STATE_ACCEPTED,     /* INVITE: 2xx sent or received (RFC 6026) */
	TXN_STATE_TERMINATED,
};

/* Timer values in milliseconds; txn_config_default() gives the RFC 3261 ones. */
struct txn_config {
	uint32_t t1;            /* RTT estimate: 500 */
	uint32_t t2;            /* longest non-INVITE retransmit interval: 4000 */
	uint32_t t4;            /* longest time a message lives in the network: 5000 */
	uint32_t timer_c;       /* INVITE client with no final response: 180000 */
	uint32_t timer_d;       /* INVITE client Completed on UDP: 32000 */
	uint32_t max_txns;      /* cap of each table (server, client): 65536; the last
				 * max_txns/8 (at least 1) only for requests with a To tag
				 * and CANCEL, so calls can end under overload */
};

/* Counters since the layer was made; *_live are the current table sizes. */
struct txn_stats {
	uint64_t server_created;
	uint64_t client_created;
	uint64_t retrans_absorbed;      /* retransmitted requests and responses taken in */
	uint64_t retrans_sent;          /* requests, responses and ACKs sent again */
	uint64_t timeouts;              /* Timers B, C, F, H, the cancel and TU guards */
	uint64_t transport_errors;      /* the send callback said no */
	uint64_t stray_acks;            /* ACK nobody wanted */
	uint64_t unmatched_responses;   /* response for no client transaction */
	uint64_t refused_capacity;      /* a table was full: 503, or ENOSPC to the TU (both below) */
	uint64_t refused_new;           /* of those: no To tag, at max_txns minus the reserve */
	uint64_t refused_in_dialog;     /* of those: To tag or CANCEL, at max_txns */
	uint64_t server_live;
	uint64_t client_live;
};

/*
 * Send buf to dst; 0 or an errno (the transport failed: the transaction
 * treats it as a 503 and terminates). buf belongs to the caller: copy it to
 * keep it.
 */
typedef int (txn_send_h)(const struct sip_peer *dst, const char *buf, size_t len, void *arg);

/*
 * A new server transaction for req (not ACK, not CANCEL: the layer answers
 * CANCEL itself). For INVITE the 100 Trying has already gone out. The TU
 * answers with txn_server_reply() or txn_server_send(), now or later; req is
 * the transport's message, valid during the call only.
 */
typedef void (txn_request_h)(struct txn_server *st, struct sip_msg *req, void *arg);

/*
 * An ACK that is not the layer's to absorb: an ACK matching no transaction
 * (st NULL: the ACK for a 2xx, RFC 3261 17.2.3 gives it its own branch) or
 * matching an INVITE server transaction in Accepted (RFC 6026 7.1). Return 0
 * when it belongs to a dialog, ENOENT when not: the layer counts it stray.
 */
typedef int (txn_ack_h)(struct txn_server *st, struct sip_msg *ack, void *arg);

/*
 * Events on a server transaction, for the TU that set a handler:
 *   ECANCELED  a CANCEL matched this INVITE before its final response; msg is
 *              the CANCEL (the layer has answered it 200); the TU answers the
 *              INVITE (487). Without a handler the layer sends the 487 itself.
 *   ETIMEDOUT  Timer H: no ACK came for the 3xx-6xx (terminated); or the TU
 *              guard fired: no final response from the TU in time, the layer
 *              sent a 408 itself and the transaction runs on from Completed.
 *   other      the transport failed resending a response (503 semantics);
 *              terminated.
 * msg is NULL except for ECANCELED. After any event but ECANCELED the TU
 * hears nothing more from st. Errors of the TU's own sends are returned by
 * txn_server_reply()/txn_server_send(), not reported here.
 */
typedef void (txn_server_h)(struct txn_server *st, int err, const struct sip_msg *msg,
			    void *arg);

/*
 * Responses and failures of a client transaction. err 0: resp is a
 * response (provisional, final, or for INVITE in Accepted another 2xx the
 * TU must ACK); retransmitted non-2xx finals are absorbed (and ACKed by the
 * layer) and do not come up. err != 0: resp is NULL and
 *   ETIMEDOUT  Timer B or F (treat as 408), or no final response within
 *              64*T1 of a CANCEL, or the connection the request was queued
 *              on timed out coming up: the transaction has terminated; or
 *              Timer C in Proceeding: the transaction continues, the layer
 *              has sent a CANCEL unless the TU does in the callback, and the
 *              final response will still come up (txn_client_state() tells
 *              which).
 *   other      the transport failed on a retransmission, or the connection
 *              the request was queued on never came up
 *              (txn_layer_conn_failed): treat as 503; terminated.
 */
typedef void (txn_response_h)(struct txn_client *ct, int err, const struct sip_msg *resp,
			      void *arg);

enum {
	TXN_BRANCH_LEN = 7 + 32,  /* "z9hG4bK" and 128 random bits in hex */
};

void txn_config_default(struct txn_config *cfg);
const char *txn_state_name(enum txn_state state);

/* The layer; cfg NULL means the defaults. sendh and reqh are required. */
int txn_layer_alloc(struct txn_layer **tlp, const struct txn_config *cfg,
		    txn_send_h *sendh, txn_request_h *reqh, txn_ack_h *ackh, void *arg);
int txn_layer_recv(struct txn_layer *tl, struct sip_msg *msg, uint64_t now);
void txn_layer_poll(struct txn_layer *tl, uint64_t now);
uint64_t txn_layer_next(const struct txn_layer *tl);
uint64_t txn_layer_now(const struct txn_layer *tl);
void txn_layer_stats(const struct txn_layer *tl, struct txn_stats *stats);
int txn_layer_reply_stateless(struct txn_layer *tl, const struct sip_msg *req,
			      uint16_t scode, const char *reason);
/*
 * The transport says a TCP/TLS connection it opened to peer (zone, proto,
 * address) failed before it came up, for err: every client transaction
 * sent there that has no response yet (INVITE in Calling, non-INVITE in
 * Trying) ends now, and its TU hears err as a transport error (503, RFC
 * 3261 8.1.3.1, 17.1.4) instead of Timer B/F's 408 after 64*T1. Costs the
 * transactions waiting on that destination, not the table. Returns how
 * many ended. Not to be called from a layer callback.
 */
unsigned txn_layer_conn_failed(struct txn_layer *tl, const struct sip_peer *peer, int err,
			       uint64_t now);

/* A new branch: "z9hG4bK" and 32 hex digits from OpenSSL's RAND_bytes; size > TXN_BRANCH_LEN. */
int txn_branch_make(char *buf, size_t size);

/*
 * Server transactions. A transaction keeps the request it answers only
 * until its final response: after that txn_server_reply() is EALREADY, and
 * an INVITE's 2xx retransmissions in Accepted (the TU's job, RFC 6026 7.1)
 * go through txn_server_send() with the bytes the TU kept.
 */
struct txn_server *txn_server_find_invite(struct txn_layer *tl, struct sip_msg *cancel);
void txn_server_handler_set(struct txn_server *st, txn_server_h *sh, void *arg);
int txn_server_reply(struct txn_server *st, uint16_t scode, const char *reason,
		     const struct pl *totag, const struct pl *extra, uint64_t now);
int txn_server_send(struct txn_server *st, const char *buf, size_t len, uint64_t now);
enum txn_state txn_server_state(const struct txn_server *st);
enum sip_method txn_server_method(const struct txn_server *st);
struct txn_server *txn_server_release(struct txn_server *st);
/*
 * The TU will not answer at all (a request dropped on purpose): the
 * transaction ends now, without a response and without keeping state; a
 * retransmission is a new request for the TU again.
 */
void txn_server_drop(struct txn_server *st);

/*
 * Client transactions. txn_client_request() is ENOSPC when the client
 * table is full; a request without a To tag already when only the
 * in-dialog reserve is left (see max_txns).
 */
int txn_client_request(struct txn_client **ctp, struct txn_layer *tl,
		       const struct sip_peer *dst, const char *buf, size_t len,
		       txn_response_h *rh, void *arg, uint64_t now);
int txn_client_cancel(struct txn_client *ct, const struct pl *extra, uint64_t now);
enum txn_state txn_client_state(const struct txn_client *ct);
enum sip_method txn_client_method(const struct txn_client *ct);
struct txn_client *txn_client_release(struct txn_client *ct);

#endif
