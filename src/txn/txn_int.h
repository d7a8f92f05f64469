/* txn_int: transaction layer private interface: the layer, both transaction kinds, the table, timers. */
#ifndef SBC_TXN_INT_H
#define SBC_TXN_INT_H

#include "txn.h"

enum {
	TXN_KEY_MAX = 2048,          /* longest match key; a request needing more is dropped */
	TXN_TAG_MAX = 64,            /* longest To tag remembered for answering a CANCEL */
	TXN_TAG_HEX = 16,            /* random tags the layer makes: 64 bits in hex */
	TXN_MAX_TXNS = 1 << 22,      /* largest max_txns accepted */
	TXN_CANCEL_EXTRA_MAX = 4096, /* header lines a deferred CANCEL may carry */
	TXN_RESERVE_DIV = 8,         /* max_txns / this is kept for in-dialog requests */
	TXN_BUF_SLACK = 64,          /* a kept response buffer this much too big is replaced */
	TXN_PEND_DIV = 8,            /* buckets of the pending index: max_txns / this (at least 16) */
	TXN_PEND_KEY_MAX = 24,       /* zone, transport, family, port, IPv6 address */
};

/*
 * A timer that is not running sits on the heap "parked" at TXN_PARKED:
 * each transaction reserves its heap slots when it is made, so no state
 * change afterwards can fail for lack of memory. Fired timers are re-parked
 * first thing in their handler, before anything else can take the slot.
 */
#define TXN_PARKED UINT64_MAX

/* Chained hash table with a bucket count fixed at start; entries are embedded. */
struct txn_hnode {
	struct txn_hnode *next;
	struct txn_hnode **pprev;    /* NULL when not linked */
	uint64_t hash;
	const char *key;             /* bytes owned by the entry */
	size_t keylen;
	void *obj;
};

struct txn_htab {
	struct txn_hnode **v;
	size_t mask;
	size_t n;
};

struct txn_layer {
	struct txn_config cfg;
	size_t reserve;              /* slots of each table only in-dialog requests and CANCEL may take */
	struct tmr_heap tmrh;
	struct txn_htab stab;        /* server transactions */
	struct txn_htab ctab;        /* client transactions */
	struct txn_client **pend;    /* client transactions on TCP/TLS with no response yet, by
				      * destination (zone, transport, address): what a connection
				      * that never came up takes down (txn_layer_conn_failed) */
	size_t pend_mask;
	uint64_t hkey[2];            /* SipHash key, random per layer */
	txn_send_h *sendh;
	txn_request_h *reqh;
	txn_ack_h *ackh;
	void *arg;
	struct txn_stats stats;
	uint64_t now;                /* the clock as last passed in */
	struct sip_msg *scratch;     /* decodes the layer's own copies; never held across a callback */
	char *obuf;                  /* SIP_MAX_MSG bytes for what the layer builds; same rule */
};

/*
 * What a server transaction needs only until its final response: the
 * trimmed request (start line, Via, From, To, Call-ID, CSeq, Timestamp:
 * what a response is built from), where it came from (Via received and
 * rport), and the To tag of our responses (for the 200 to a CANCEL and the
 * TU guard's 408). One allocation, freed when the final response goes out.
 */
struct txn_sreq {
	struct sip_peer src;
	size_t taglen;
	char tag[TXN_TAG_MAX];
	size_t len;
	char data[];
};

/*
 * What each state keeps (RFC 3261 17.2, RFC 6026 7.1): Trying/Proceeding
 * req and the last provisional; Completed the final response only;
 * Accepted and Confirmed neither (the TU resends its 2xx, ACKs and
 * INVITEs are only absorbed or passed up). The key, dst and timers stay.
 */
struct txn_server {
	struct txn_hnode hn;
	struct txn_layer *tl;        /* NULL once terminated */
	enum txn_state state;
	enum sip_method mid;
	bool invite;
	bool reliable;
	struct sip_peer dst;         /* where responses go (RFC 3261 18.2.2, RFC 3581) */
	struct txn_sreq *req;        /* until the final response */
	struct buf *resp;            /* last response sent, resent on retransmissions; NULL in Accepted, Confirmed */
	struct tmr tmr_rtx;          /* G */
	struct tmr tmr_to;           /* TU guard, H, I, J, L */
	uint32_t rtx_ivl;
	txn_server_h *sh;
	void *arg;
};

/*
 * What each state keeps (RFC 3261 17.1, RFC 6026 7.2): Calling, Trying and
 * Proceeding the request (retransmission, ACK and CANCEL are built from
 * it); INVITE Completed the ACK only; Accepted and non-INVITE Completed
 * nothing (further 2xx go up, other responses are absorbed).
 */
struct txn_client {
	struct txn_hnode hn;
	struct txn_layer *tl;        /* NULL once terminated */
	enum txn_state state;
	enum sip_method mid;
	bool invite;
	bool reliable;
	bool got_1xx;
	bool cancel_pending;         /* CANCEL asked for before any provisional response */
	bool cancelled;              /* CANCEL sent */
	struct sip_peer dst;
	struct txn_client *pend_next;   /* in tl->pend, or on a failure's work list */
	struct txn_client **pend_pprev; /* NULL when on neither */
	struct buf *req;             /* the request as sent; freed on the final response */
	struct buf *ack;             /* ACK for the 3xx-6xx, resent on retransmissions (Completed) */
	struct buf *cancel_extra;    /* header lines for a deferred CANCEL; freed with req */
	struct tmr tmr_rtx;          /* A, E */
	struct tmr tmr_to;           /* B, F, cancel guard, D, K, M */
	struct tmr tmr_c;            /* C */
	uint32_t rtx_ivl;
	txn_response_h *rh;
	void *arg;
};

/* txn_hash.c */
uint64_t txn_hash(const uint64_t key[2], const char *p, size_t len);
int txn_htab_init(struct txn_htab *ht, size_t cap);
void txn_htab_close(struct txn_htab *ht);
void txn_htab_insert(struct txn_htab *ht, struct txn_hnode *hn);
void txn_htab_unlink(struct txn_htab *ht, struct txn_hnode *hn);
struct txn_hnode *txn_htab_find(const struct txn_htab *ht, uint64_t hash, const char *key,
				size_t keylen);
struct txn_hnode *txn_htab_next(const struct txn_htab *ht, size_t *cursor);

/* txn_match.c */
int txn_server_key(struct sip_msg *msg, const struct pl *method, char *buf, size_t size,
		   size_t *len);
int txn_client_key(const struct pl *branch, const struct pl *method, char *buf, size_t size,
		   size_t *len);
bool txn_branch_has_cookie(const struct pl *branch);

/* txn_build.c */
int txn_build_ack(struct sip_msg *req, struct sip_msg *resp, struct wbuf *out);
int txn_build_cancel(struct sip_msg *req, const struct pl *extra, struct wbuf *out);

/* txn_rand.c */
int txn_rand_bytes(void *p, size_t n);
int txn_tag_make(char *buf, size_t size);

/* txn_layer.c */
int txn_layer_send(struct txn_layer *tl, const struct sip_peer *dst, const char *buf,
		   size_t len);
bool txn_in_dialog(struct sip_msg *msg);
bool txn_layer_room(struct txn_layer *tl, const struct txn_htab *ht, bool in_dialog);
int txn_layer_reply_extra(struct txn_layer *tl, const struct sip_msg *req, uint16_t scode,
			  const char *reason, const struct pl *extra);
int txn_tmr_reserve(struct txn_layer *tl, struct tmr *t, tmr_h *th, void *arg);
void txn_tmr_set(struct txn_layer *tl, struct tmr *t, uint64_t due);
void txn_tmr_stop(struct txn_layer *tl, struct tmr *t);
int txn_copy_to_buf(struct buf **bp, const char *p, size_t len);
int txn_keep_buf(struct buf **bp, const char *p, size_t len);

/* txn_server.c */
int txn_server_recv(struct txn_layer *tl, struct sip_msg *msg, uint64_t now);
void txn_server_terminate(struct txn_server *st);

/* txn_client.c */
int txn_client_recv(struct txn_layer *tl, struct sip_msg *msg, uint64_t now);
void txn_client_terminate(struct txn_client *ct);
int txn_client_pend_init(struct txn_layer *tl);
unsigned txn_client_fail_peer(struct txn_layer *tl, const struct sip_peer *peer, int err);

#endif
