/* txn_layer: the transaction layer: configuration, tables, clock, dispatch of received messages. */
#include <errno.h>
#include <string.h>

#include "txn_int.h"

void txn_config_default(struct txn_config *cfg)
{
	cfg->t1 = 500;
	cfg->t2 = 4000;
	cfg->t4 = 5000;
	cfg->timer_c = 180000;
	cfg->timer_d = 32000;
	cfg->max_txns = 65536;
}

const char *txn_state_name(enum txn_state state)
{
	static const char *const names[] = {
		[TXN_STATE_TRYING] = "trying",
		[TXN_STATE_CALLING] = "calling",
		[TXN_STATE_PROCEEDING] = "proceeding",
		[TXN_STATE_COMPLETED] = "completed",
		[TXN_STATE_CONFIRMED] = "confirmed",
		[TXN_STATE_ACCEPTED] = "accepted",
		[TXN_STATE_TERMINATED] = "terminated",
	};

	return (unsigned)state < ARRAY_SIZE(names) ? names[state] : "?";
}

/* Bounds keep 64*T1 and every sum of timers far from overflowing. */
static bool config_valid(const struct txn_config *c)
{
	return c->t1 >= 1 && c->t1 <= 60000 && c->t2 >= c->t1 && c->t2 <= 600000 &&
	       c->t4 >= 1 && c->t4 <= 600000 && c->timer_c >= 1 && c->timer_c <= 3600000 &&
	       c->timer_d <= 600000 && c->max_txns >= 1 && c->max_txns <= TXN_MAX_TXNS;
}

/*
 * Terminate every transaction still in the tables (no callbacks: the TU is
 * going away too), then free the tables, the heap and the scratch space.
 * Transactions the TU still holds live on, detached and inert.
 */
static void layer_destroy(void *data)
{
	struct txn_layer *tl = data;
	struct txn_hnode *hn;
	size_t cur = 0;

	while ((hn = txn_htab_next(&tl->stab, &cur)))
		txn_server_terminate(hn->obj);
	cur = 0;
	while ((hn = txn_htab_next(&tl->ctab, &cur)))
		txn_client_terminate(hn->obj);
	tmr_heap_close(&tl->tmrh);
	txn_htab_close(&tl->stab);
	txn_htab_close(&tl->ctab);
	mem_deref(tl->pend);
	mem_deref(tl->scratch);
	mem_deref(tl->obuf);
}

/* Make a layer; cfg NULL takes the defaults. EINVAL for a bad config or missing handler. */
int txn_layer_alloc(struct txn_layer **tlp, const struct txn_config *cfg,
		    txn_send_h *sendh, txn_request_h *reqh, txn_ack_h *ackh, void *arg)
{
	struct txn_layer *tl;
	int err;

	if (!tlp || !sendh || !reqh || (cfg && !config_valid(cfg)))
		return EINVAL;
	tl = mem_zalloc(sizeof(*tl), layer_destroy);
	if (!tl)
		return ENOMEM;
	tmr_heap_init(&tl->tmrh);
	if (cfg)
		tl->cfg = *cfg;
	else
		txn_config_default(&tl->cfg);
	tl->sendh = sendh;
	tl->reqh = reqh;
	tl->ackh = ackh;
	tl->arg = arg;
	/* max_txns / 8 (at least 1) for in-dialog requests, none when a table holds one */
	tl->reserve = tl->cfg.max_txns > 1 ? MAX(tl->cfg.max_txns / TXN_RESERVE_DIV, 1u) : 0;
	err = txn_htab_init(&tl->stab, tl->cfg.max_txns);
	if (!err)
		err = txn_htab_init(&tl->ctab, tl->cfg.max_txns);
	if (!err)
		err = txn_client_pend_init(tl);
	if (!err)
		err = sip_msg_alloc(&tl->scratch);
	if (!err) {
		tl->obuf = mem_zalloc(SIP_MAX_MSG, NULL);
		if (!tl->obuf)
			err = ENOMEM;
	}
	if (!err)
		err = txn_rand_bytes(tl->hkey, sizeof(tl->hkey));
	if (err)
		goto out_free;
	*tlp = tl;
	return 0;

 out_free:
	mem_deref(tl);
	return err;
}

/*
 * Feed one received message: msg was decoded and passed sip_msg_check,
 * and msg->src is filled. Requests go to server transactions, responses to
 * client transactions. Returns 0 when the message was handled by the rules
 * (a new transaction, a retransmission absorbed, an ACK passed up, and also
 * a message dropped and counted, or refused with a 503 for capacity);
 * otherwise an errno: EINVAL, EBADMSG/EMSGSIZE (no usable key), ENOMEM (a
 * 503 was sent if possible), or the transport's error sending the 100.
 */
int txn_layer_recv(struct txn_layer *tl, struct sip_msg *msg, uint64_t now)
{
	if (!tl || !msg || !msg->base)
		return EINVAL;
	tl->now = now;
	return msg->req ? txn_server_recv(tl, msg, now) : txn_client_recv(tl, msg, now);
}

/* Fire every timer due at now (the event loop's once-per-turn reading). */
void txn_layer_poll(struct txn_layer *tl, uint64_t now)
{
	tl->now = now;
	tmr_heap_poll(&tl->tmrh, MIN(now, TXN_PARKED - 1));   /* parked timers never fire */
}

/*
 * A TCP/TLS connection the transport opened to peer never came up: the
 * client transactions queued on it with no response yet end with err (see
 * txn.h). The TU's callbacks may send and start transactions; those go
 * on a new connection and are not affected.
 */
unsigned txn_layer_conn_failed(struct txn_layer *tl, const struct sip_peer *peer, int err,
			       uint64_t now)
{
	if (!tl || !peer || !err)
		return 0;
	tl->now = now;
	return txn_client_fail_peer(tl, peer, err);
}

/* When txn_layer_poll next has work, or UINT64_MAX when no timer runs. */
uint64_t txn_layer_next(const struct txn_layer *tl)
{
	return tmr_heap_next(&tl->tmrh);
}

/* The clock as last passed in: for TU callbacks that need `now`. */
uint64_t txn_layer_now(const struct txn_layer *tl)
{
	return tl->now;
}

void txn_layer_stats(const struct txn_layer *tl, struct txn_stats *stats)
{
	*stats = tl->stats;
	stats->server_live = tl->stab.n;
	stats->client_live = tl->ctab.n;
}

/* Send through the transport's callback, counting its failures. */
int txn_layer_send(struct txn_layer *tl, const struct sip_peer *dst, const char *buf,
		   size_t len)
{
	int err = tl->sendh(dst, buf, len, tl->arg);

	if (err)
		tl->stats.transport_errors++;
	return err;
}

/*
 * Answer req without a transaction (capacity, no memory, or for the
 * transport: a 400 to what failed sip_msg_check but can still be answered).
 * A random To tag is added when the request had none. Never for ACK.
 */
int txn_layer_reply_stateless(struct txn_layer *tl, const struct sip_msg *req,
			      uint16_t scode, const char *reason)
{
	return txn_layer_reply_extra(tl, req, scode, reason, NULL);
}

/* txn_layer_reply_stateless with header lines added (the Retry-After of a 503). */
int txn_layer_reply_extra(struct txn_layer *tl, const struct sip_msg *req, uint16_t scode,
			  const char *reason, const struct pl *extra)
{
	char tag[TXN_TAG_HEX + 1];
	struct pl totag;
	struct sip_peer dst;
	struct wbuf wb;
	int err;

	if (!tl || !req || !req->req || req->mid == SIP_METHOD_ACK)
		return EINVAL;
	err = sip_reply_dest(req, &dst);
	if (!err)
		err = txn_tag_make(tag, sizeof(tag));
	if (err)
		return err;
	totag = pl_from_str(tag);
	wbuf_init(&wb, tl->obuf, SIP_MAX_MSG);
	err = sip_reply_build(req, scode, reason, &totag, extra, &wb);
	if (err)
		return err;
	return txn_layer_send(tl, &dst, wb.p, wb.len);
}

/*
 * Whether a request belongs to a dialog that exists (a To tag: BYE,
 * re-INVITE, UPDATE, NOTIFY, ...) or is a CANCEL (it ends a transaction
 * that exists): those may use the tables' reserve. A To that does not
 * parse counts as no tag.
 */
bool txn_in_dialog(struct sip_msg *msg)
{
	const struct sip_addr *to;

	return msg->mid == SIP_METHOD_CANCEL || (!sip_msg_to(msg, &to) && to->tag.l);
}

/*
 * Room in table ht for one more transaction? Requests that would start
 * something (no To tag: a new call, an out-of-dialog OPTIONS or REGISTER)
 * stop at max_txns minus the reserve; in-dialog requests and CANCEL may
 * take the reserve up to max_txns, so calls can still end (BYE) while new
 * ones are refused. A refusal is counted, by kind.
 */
bool txn_layer_room(struct txn_layer *tl, const struct txn_htab *ht, bool in_dialog)
{
	size_t cap = tl->cfg.max_txns - (in_dialog ? 0 : tl->reserve);

	if (ht->n < cap)
		return true;
	tl->stats.refused_capacity++;
	if (in_dialog)
		tl->stats.refused_in_dialog++;
	else
		tl->stats.refused_new++;
	return false;
}

/* Put a transaction's timer on the heap, parked: the one step that may need memory. */
int txn_tmr_reserve(struct txn_layer *tl, struct tmr *t, tmr_h *th, void *arg)
{
	return tmr_start(&tl->tmrh, t, TXN_PARKED, th, arg);
}

/*
 * (Re)arm a reserved timer. It is on the heap already (running or parked),
 * so tmr_start takes it off and back on and never has to grow the heap.
 */
void txn_tmr_set(struct txn_layer *tl, struct tmr *t, uint64_t due)
{
	(void)tmr_start(&tl->tmrh, t, MIN(due, TXN_PARKED - 1), t->th, t->arg);
}

/* Stop a reserved timer by parking it; it keeps its heap slot. */
void txn_tmr_stop(struct txn_layer *tl, struct tmr *t)
{
	(void)tmr_start(&tl->tmrh, t, TXN_PARKED, t->th, t->arg);
}

/* Copy bytes into *bp, reusing it when it is large enough (short-lived copies). */
int txn_copy_to_buf(struct buf **bp, const char *p, size_t len)
{
	struct buf *b = *bp;
	int err;

	if (!b || b->size < len) {
		err = buf_alloc(&b, len);
		if (err)
			return err;
		mem_deref(*bp);
		*bp = b;
	}
	if (len)
		memcpy(b->data, p, len);
	b->len = len;
	return 0;
}

/*
 * Copy bytes into *bp to keep for a while (a response resent until a
 * timer ends): a buffer that fits, so a short final does not hold the room
 * of a long provisional; an old one more than TXN_BUF_SLACK too big is
 * replaced, but reused after all when memory is short.
 */
int txn_keep_buf(struct buf **bp, const char *p, size_t len)
{
	struct buf *b = *bp, *nb;

	if (b && b->size >= len && b->size - len <= TXN_BUF_SLACK)
		return txn_copy_to_buf(bp, p, len);
	if (buf_alloc(&nb, len)) {
		if (!b || b->size < len)
			return ENOMEM;
		return txn_copy_to_buf(bp, p, len);
	}
	mem_deref(b);
	*bp = nb;
	return txn_copy_to_buf(bp, p, len);
}
