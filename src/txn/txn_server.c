/* txn_server: server transactions (RFC 3261 17.2, RFC 6026 7.1): absorb retransmitted requests, resend responses. */
#include <errno.h>
#include <string.h>

#include "txn_int.h"

static const struct pl method_invite = PL("INVITE");

/* Headers a response is built from (RFC 3261 8.2.6); the rest of the request is not kept. */
static const enum sip_hdr_id kept_hdrs[] = {
	SIP_HDR_VIA, SIP_HDR_FROM, SIP_HDR_TO, SIP_HDR_CALL_ID, SIP_HDR_CSEQ, SIP_HDR_TIMESTAMP,
};

static const char kept_tail[] = "Content-Length: 0\r\n\r\n";

/*
 * In the 503 for a full table (RFC 3261 21.5.4): a sender that honours it
 * holds back new requests while old transactions end (most within Timer L
 * or J, 64*T1); the B2BUA's own admission 503 says the same.
 */
static const struct pl retry_after = PL("Retry-After: 5\r\n");

static void server_rtx_fire(void *arg);
static void server_to_fire(void *arg);

/* How long the TU may take to answer before the layer answers 408 for it. */
static uint64_t guard_ms(const struct txn_server *st)
{
	const struct txn_config *c = &st->tl->cfg;

	return st->invite ? (uint64_t)c->timer_c + 64 * (uint64_t)c->t1 : 128 * (uint64_t)c->t1;
}

static void server_destroy(void *data)
{
	struct txn_server *st = data;

	if (st->tl) {
		tmr_cancel(&st->tl->tmrh, &st->tmr_rtx);
		tmr_cancel(&st->tl->tmrh, &st->tmr_to);
		txn_htab_unlink(&st->tl->stab, &st->hn);
	}
	mem_deref(st->req);
	mem_deref(st->resp);
}

/*
 * Terminated: stop the timers, leave the table, drop the layer's
 * reference (which may free st: callers that use st afterwards hold one).
 * Never calls the TU; safe to call twice.
 */
void txn_server_terminate(struct txn_server *st)
{
	struct txn_layer *tl = st->tl;

	st->state = TXN_STATE_TERMINATED;
	if (!tl)
		return;
	tmr_cancel(&tl->tmrh, &st->tmr_rtx);
	tmr_cancel(&tl->tmrh, &st->tmr_to);
	txn_htab_unlink(&tl->stab, &st->hn);
	st->tl = NULL;
	mem_deref(st);
}

void txn_server_drop(struct txn_server *st)
{
	st->sh = NULL;
	st->arg = NULL;
	if (st->state != TXN_STATE_TERMINATED)
		txn_server_terminate(st);
}

/* Tell the TU; after anything but ECANCELED it hears nothing more. Caller holds a reference. */
static void server_notify(struct txn_server *st, int err, const struct sip_msg *msg)
{
	txn_server_h *sh = st->sh;
	void *arg = st->arg;

	if (err != ECANCELED) {
		st->sh = NULL;
		st->arg = NULL;
	}
	if (sh)
		sh(st, err, msg, arg);
}

/* The transport failed on a response the TU did not send itself: terminate and tell it. */
static void server_fail(struct txn_server *st, int err)
{
	mem_ref(st);
	txn_server_terminate(st);
	server_notify(st, err, NULL);
	mem_deref(st);
}

/*
 * Remember the To tag of our responses, so a 200 to a CANCEL carries the
 * same (RFC 3261 9.2). Kept with the request, so only until the final
 * response; server_tag() finds it later.
 */
static void server_tag_keep(struct txn_server *st, const struct pl *tag)
{
	struct txn_sreq *rq = st->req;

	if (!rq || !tag || !tag->l || tag->l > sizeof(rq->tag) || tag->p == rq->tag)
		return;
	memcpy(rq->tag, tag->p, tag->l);
	rq->taglen = tag->l;
}

/*
 * The To tag of st's responses, copied into buf (TXN_TAG_MAX bytes): the
 * one kept with the request before the final response; in Completed the
 * one in the final kept for retransmission. Empty in Accepted and
 * Confirmed, which keep neither (a CANCEL that late gets a new tag in its
 * 200: the SHOULD of RFC 3261 9.2 is not worth the bytes in every call).
 * Uses the layer's scratch message.
 */
static struct pl server_tag(struct txn_server *st, char *buf)
{
	const struct sip_addr *to;
	struct sip_msg *m = st->tl->scratch;
	struct pl tag = PL_INIT;

	if (st->req && st->req->taglen) {
		memcpy(buf, st->req->tag, st->req->taglen);
		tag = (struct pl){ buf, st->req->taglen };
	} else if (!st->req && st->resp &&
		   !sip_msg_decode_raw(m, st->resp->data, st->resp->len, 0, NULL) &&
		   !sip_msg_to(m, &to) && to->tag.l && to->tag.l <= TXN_TAG_MAX) {
		memcpy(buf, to->tag.p, to->tag.l);
		tag = (struct pl){ buf, to->tag.l };
	}
	return tag;
}

/*
 * The trimmed copy of msg a transaction keeps until its final response
 * (start line, Via, From, To, Call-ID, CSeq, Timestamp: what a response
 * is built from), with its source.
 */
static int server_req_alloc(struct txn_sreq **rqp, struct sip_msg *msg)
{
	struct txn_sreq *rq;
	size_t sl = msg->hdrv[0].off, sk = sl + sizeof(kept_tail) - 1, off;
	const struct sip_hdr *h;

	for (size_t i = 0; i < ARRAY_SIZE(kept_hdrs); i++) {
		for (h = sip_msg_hdr(msg, kept_hdrs[i]); h; h = sip_msg_hdr_next(msg, h))
			sk += h->len;
	}
	rq = mem_zalloc(sizeof(*rq) + sk, NULL);
	if (!rq)
		return ENOMEM;
	memcpy(rq->data, msg->base, sl);
	off = sl;
	for (size_t i = 0; i < ARRAY_SIZE(kept_hdrs); i++) {
		for (h = sip_msg_hdr(msg, kept_hdrs[i]); h; h = sip_msg_hdr_next(msg, h)) {
			memcpy(rq->data + off, msg->base + h->off, h->len);
			off += h->len;
		}
	}
	memcpy(rq->data + off, kept_tail, sizeof(kept_tail) - 1);
	rq->len = sk;
	rq->src = msg->src;
	*rqp = rq;
	return 0;
}

/*
 * Make a server transaction for msg, linked in the table with its timers
 * reserved. It keeps its own trimmed copy of the request, so the
 * transport's message may be reused once the TU callback returns.
 */
static int server_alloc(struct txn_server **stp, struct txn_layer *tl, struct sip_msg *msg,
			const char *key, size_t keylen, uint64_t hash)
{
	struct txn_server *st;
	char *p;
	int err;

	st = mem_zalloc(sizeof(*st) + keylen, server_destroy);
	if (!st)
		return ENOMEM;
	p = (char *)(st + 1);
	memcpy(p, key, keylen);
	st->hn.key = p;
	st->hn.keylen = keylen;
	st->hn.hash = hash;
	st->hn.obj = st;
	err = server_req_alloc(&st->req, msg);
	if (err)
		goto out_free;
	st->mid = msg->mid;
	st->invite = msg->mid == SIP_METHOD_INVITE;
	st->reliable = sip_proto_reliable((enum sip_proto)msg->src.proto);
	err = sip_reply_dest(msg, &st->dst);
	if (err)
		goto out_free;
	st->tl = tl;
	err = txn_tmr_reserve(tl, &st->tmr_rtx, server_rtx_fire, st);
	if (!err)
		err = txn_tmr_reserve(tl, &st->tmr_to, server_to_fire, st);
	if (err)
		goto out_free;
	txn_htab_insert(&tl->stab, &st->hn);
	tl->stats.server_created++;
	*stp = st;
	return 0;

 out_free:
	mem_deref(st);
	return err;
}

/* Decode the trimmed request copy into the layer's scratch message, source included. */
static int server_req_decode(struct txn_server *st, struct sip_msg *m)
{
	int err = sip_msg_decode_raw(m, st->req->data, st->req->len, 0, NULL);

	if (!err)
		m->src = st->req->src;
	return err;
}

/*
 * Send a response and move the state machine (RFC 3261 17.2.1, 17.2.2,
 * RFC 6026 7.1). A transport error terminates the transaction and is
 * returned, except for the TU's own 2xx retransmissions in Accepted, which
 * change nothing. What the next state does not need is freed here: the
 * request at any final response; for a 2xx to an INVITE the response too
 * (Accepted resends nothing itself), which is therefore not copied at all.
 * Other responses are copied for retransmission; that copy is the one
 * allocation, made before anything changes.
 */
static int server_respond(struct txn_server *st, uint16_t scode, const char *buf, size_t len,
			  uint64_t now)
{
	struct txn_layer *tl = st->tl;
	const struct txn_config *c;
	bool accept = st->invite && scode >= 200 && scode < 300;
	int err;

	if (!tl)
		return ENOENT;
	c = &tl->cfg;
	if (st->state == TXN_STATE_ACCEPTED && accept)
		return txn_layer_send(tl, &st->dst, buf, len);
	if (st->state != TXN_STATE_TRYING && st->state != TXN_STATE_PROCEEDING)
		return EALREADY;
	if (len > SIP_MAX_MSG)
		return EMSGSIZE;
	if (!accept) {
		err = txn_keep_buf(&st->resp, buf, len);
		if (err)
			return err;
		buf = st->resp->data;
	}
	err = txn_layer_send(tl, &st->dst, buf, len);
	if (err) {
		txn_server_terminate(st);
		return err;
	}
	if (scode < 200) {
		st->state = TXN_STATE_PROCEEDING;
		if (st->invite && scode > 100)
			txn_tmr_set(tl, &st->tmr_to, now + guard_ms(st));
		return 0;
	}
	st->req = mem_deref(st->req);
	if (accept) {
		st->resp = mem_deref(st->resp);
		st->state = TXN_STATE_ACCEPTED;
		txn_tmr_set(tl, &st->tmr_to, now + 64 * (uint64_t)c->t1);          /* L */
	} else if (st->invite) {
		st->state = TXN_STATE_COMPLETED;
		if (!st->reliable) {
			st->rtx_ivl = c->t1;
			txn_tmr_set(tl, &st->tmr_rtx, now + c->t1);                 /* G */
		}
		txn_tmr_set(tl, &st->tmr_to, now + 64 * (uint64_t)c->t1);          /* H */
	} else if (st->reliable) {
		txn_server_terminate(st);                                          /* J = 0 */
	} else {
		st->state = TXN_STATE_COMPLETED;
		txn_tmr_set(tl, &st->tmr_to, now + 64 * (uint64_t)c->t1);          /* J */
	}
	return 0;
}

/*
 * Answer with a response built from the request (sip_reply_build): totag
 * is added to To when the request had none, extra is a block of header
 * lines. EALREADY once a final response went out: the request is not kept
 * after it, so an INVITE's 2xx retransmissions in Accepted go through
 * txn_server_send with the bytes the TU kept. ENOENT when terminated, the
 * transport's errno when the send failed (the transaction then ends).
 */
int txn_server_reply(struct txn_server *st, uint16_t scode, const char *reason,
		     const struct pl *totag, const struct pl *extra, uint64_t now)
{
	struct txn_layer *tl;
	const struct sip_addr *to;
	struct wbuf wb;
	int err;

	if (!st || scode < 100 || scode > 699)
		return EINVAL;
	tl = st->tl;
	if (!tl)
		return ENOENT;
	if (!st->req)
		return EALREADY;
	tl->now = now;
	err = server_req_decode(st, tl->scratch);
	if (err)
		return err;
	wbuf_init(&wb, tl->obuf, SIP_MAX_MSG);
	err = sip_reply_build(tl->scratch, scode, reason, totag, extra, &wb);
	if (err)
		return err;
	if (scode > 100 && !sip_msg_to(tl->scratch, &to))
		server_tag_keep(st, to->tag.l ? &to->tag : totag);
	return server_respond(st, scode, wb.p, wb.len, now);
}

/*
 * Send a response the TU wrote itself (a relayed one): it must decode as
 * a response to this transaction's method. The layer keeps its own copy
 * while it may have to resend it (not for an INVITE's 2xx). In Accepted a
 * 2xx is passed to the transport: the TU's retransmissions (RFC 6026 7.1).
 * Errors as txn_server_reply, and EINVAL/EBADMSG for unusable bytes.
 */
int txn_server_send(struct txn_server *st, const char *buf, size_t len, uint64_t now)
{
	struct txn_layer *tl;
	const struct sip_cseq *cs;
	const struct sip_addr *to;
	struct sip_msg *m;
	int err;

	if (!st || !buf)
		return EINVAL;
	tl = st->tl;
	if (!tl)
		return ENOENT;
	tl->now = now;
	m = tl->scratch;
	err = sip_msg_decode_raw(m, buf, len, 0, NULL);
	if (err)
		return err;
	if (m->req || sip_msg_cseq(m, &cs) || cs->mid != st->mid)
		return EINVAL;
	if (m->scode > 100 && !sip_msg_to(m, &to))
		server_tag_keep(st, &to->tag);
	return server_respond(st, m->scode, buf, len, now);
}

/* A retransmitted request: absorb it, and resend the last response where the RFC says so. */
static void server_absorb(struct txn_server *st)
{
	struct txn_layer *tl = st->tl;
	int err;

	tl->stats.retrans_absorbed++;
	if ((st->state != TXN_STATE_PROCEEDING && st->state != TXN_STATE_COMPLETED) || !st->resp)
		return;
	err = txn_layer_send(tl, &st->dst, st->resp->data, st->resp->len);
	if (err) {
		server_fail(st, err);
		return;
	}
	tl->stats.retrans_sent++;
}

/*
 * An ACK; st is the INVITE transaction it matched, or NULL. For our
 * 3xx-6xx: Confirmed (Timer I: T4 on UDP, 0 on reliable transports), and
 * again absorbed there. For a 2xx (no transaction, or one in Accepted): up
 * to the TU. Anything else is stray.
 */
static void server_ack(struct txn_layer *tl, struct txn_server *st, struct sip_msg *ack,
		       uint64_t now)
{
	int err;

	if (st && st->state == TXN_STATE_COMPLETED) {
		txn_tmr_stop(tl, &st->tmr_rtx);
		if (st->reliable) {
			txn_server_terminate(st);
			return;
		}
		/* Confirmed only absorbs: the final is not resent any more */
		st->resp = mem_deref(st->resp);
		st->state = TXN_STATE_CONFIRMED;
		txn_tmr_set(tl, &st->tmr_to, now + tl->cfg.t4);                    /* I */
		return;
	}
	if (st && st->state == TXN_STATE_CONFIRMED) {
		tl->stats.retrans_absorbed++;
		return;
	}
	if ((st && st->state != TXN_STATE_ACCEPTED) || !tl->ackh) {
		tl->stats.stray_acks++;
		return;
	}
	mem_ref(st);
	err = tl->ackh(st, ack, tl->arg);
	mem_deref(st);
	if (err)
		tl->stats.stray_acks++;
}

/*
 * The INVITE server transaction a CANCEL names (RFC 3261 9.2: the same
 * match as 17.2.3, with the method INVITE), or NULL. Borrowed: valid until
 * control returns to the event loop unless the caller takes a reference.
 */
struct txn_server *txn_server_find_invite(struct txn_layer *tl, struct sip_msg *cancel)
{
	char key[TXN_KEY_MAX];
	struct txn_hnode *hn;
	size_t klen;

	if (!tl || !cancel || !cancel->req ||
	    txn_server_key(cancel, &method_invite, key, sizeof(key), &klen))
		return NULL;
	hn = txn_htab_find(&tl->stab, txn_hash(tl->hkey, key, klen), key, klen);
	return hn ? hn->obj : NULL;
}

/*
 * The layer answers CANCEL itself (RFC 3261 9.2): 481 when no INVITE
 * matches, else 200 with the INVITE's To tag; and if the INVITE has no
 * final response yet, its TU is told (ECANCELED), or without a handler the
 * layer answers the INVITE 487 itself.
 */
static void server_cancel(struct txn_server *cst, struct sip_msg *cancel, uint64_t now)
{
	struct txn_server *ist = txn_server_find_invite(cst->tl, cancel);
	char tag[TXN_TAG_MAX + 1];
	struct pl totag = PL_INIT;

	if (ist)
		totag = server_tag(ist, tag);
	if (!totag.l && !txn_tag_make(tag, sizeof(tag)))
		totag = pl_from_str(tag);
	if (!ist) {
		(void)txn_server_reply(cst, 481, NULL, &totag, NULL, now);
		return;
	}
	mem_ref(ist);
	server_tag_keep(ist, &totag);
	(void)txn_server_reply(cst, 200, NULL, &totag, NULL, now);
	if (ist->state == TXN_STATE_PROCEEDING) {
		if (ist->sh)
			server_notify(ist, ECANCELED, cancel);
		else
			(void)txn_server_reply(ist, 487, NULL, &totag, NULL, now);
	}
	mem_deref(ist);
}

/*
 * A new transaction is in the table: INVITE answers 100 Trying at once
 * (RFC 3261 17.2.1 allows waiting 200 ms; a B2BUA always takes longer),
 * the TU guard starts, and the request goes to the TU (CANCEL excepted).
 * Caller holds a reference.
 */
static int server_start(struct txn_server *st, struct sip_msg *msg, uint64_t now)
{
	struct txn_layer *tl = st->tl;
	struct wbuf wb;
	int err;

	if (st->invite) {
		st->state = TXN_STATE_PROCEEDING;
		wbuf_init(&wb, tl->obuf, SIP_MAX_MSG);
		err = sip_reply_build(msg, 100, NULL, NULL, NULL, &wb);
		if (!err)
			err = server_respond(st, 100, wb.p, wb.len, now);
		if (err) {
			txn_server_terminate(st);
			return err;
		}
	} else {
		st->state = TXN_STATE_TRYING;
	}
	txn_tmr_set(tl, &st->tmr_to, now + guard_ms(st));
	if (st->mid == SIP_METHOD_CANCEL)
		server_cancel(st, msg, now);
	else
		tl->reqh(st, msg, tl->arg);
	return 0;
}

/* A request from the transport (see txn_layer_recv). */
int txn_server_recv(struct txn_layer *tl, struct sip_msg *msg, uint64_t now)
{
	char key[TXN_KEY_MAX];
	struct txn_hnode *hn;
	struct txn_server *st;
	size_t klen;
	uint64_t hash;
	int err;

	err = txn_server_key(msg, msg->mid == SIP_METHOD_ACK ? &method_invite : &msg->method,
			     key, sizeof(key), &klen);
	if (err)
		return err;
	hash = txn_hash(tl->hkey, key, klen);
	hn = txn_htab_find(&tl->stab, hash, key, klen);
	st = hn ? hn->obj : NULL;
	if (msg->mid == SIP_METHOD_ACK) {
		server_ack(tl, st, msg, now);
		return 0;
	}
	if (st) {
		server_absorb(st);
		return 0;
	}
	if (!txn_layer_room(tl, &tl->stab, txn_in_dialog(msg))) {
		(void)txn_layer_reply_extra(tl, msg, 503, NULL, &retry_after);
		return 0;
	}
	err = server_alloc(&st, tl, msg, key, klen, hash);
	if (err) {
		if (err == ENOMEM)
			(void)txn_layer_reply_stateless(tl, msg, 503, NULL);
		return err;
	}
	mem_ref(st);
	err = server_start(st, msg, now);
	mem_deref(st);
	return err;
}

/* Timer G (RFC 3261 17.2.1): resend the 3xx-6xx at T1, 2*T1, ... capped at T2, on UDP. */
static void server_rtx_fire(void *arg)
{
	struct txn_server *st = arg;
	struct txn_layer *tl = st->tl;
	int err;

	txn_tmr_stop(tl, &st->tmr_rtx);
	if (st->state != TXN_STATE_COMPLETED || !st->resp)
		return;
	err = txn_layer_send(tl, &st->dst, st->resp->data, st->resp->len);
	if (err) {
		server_fail(st, err);
		return;
	}
	tl->stats.retrans_sent++;
	st->rtx_ivl = MIN(2 * st->rtx_ivl, tl->cfg.t2);
	txn_tmr_set(tl, &st->tmr_rtx, tl->now + st->rtx_ivl);
}

/*
 * The state timer: the TU guard in Trying/Proceeding (answer 408 for a TU
 * that never answered), H in Completed for INVITE (no ACK: tell the TU),
 * J in Completed for non-INVITE, I in Confirmed, L in Accepted.
 */
static void server_to_fire(void *arg)
{
	struct txn_server *st = arg;
	struct txn_layer *tl = st->tl;
	char tag[TXN_TAG_MAX + 1];
	struct pl totag;

	txn_tmr_stop(tl, &st->tmr_to);
	mem_ref(st);
	switch (st->state) {
	case TXN_STATE_TRYING:
	case TXN_STATE_PROCEEDING:
		tl->stats.timeouts++;
		totag = server_tag(st, tag);
		if (!totag.l && !txn_tag_make(tag, sizeof(tag)))
			totag = pl_from_str(tag);
		if (txn_server_reply(st, 408, NULL, &totag, NULL, tl->now))
			txn_server_terminate(st);
		server_notify(st, ETIMEDOUT, NULL);
		break;
	case TXN_STATE_COMPLETED:
		if (st->invite) {
			tl->stats.timeouts++;
			txn_server_terminate(st);
			server_notify(st, ETIMEDOUT, NULL);
		} else {
			txn_server_terminate(st);
		}
		break;
	default:
		txn_server_terminate(st);
		break;
	}
	mem_deref(st);
}

/* Events for the TU (see txn_server_h); NULL stops them. */
void txn_server_handler_set(struct txn_server *st, txn_server_h *sh, void *arg)
{
	if (!st)
		return;
	st->sh = sh;
	st->arg = arg;
}

enum txn_state txn_server_state(const struct txn_server *st)
{
	return st ? st->state : TXN_STATE_TERMINATED;
}

enum sip_method txn_server_method(const struct txn_server *st)
{
	return st ? st->mid : SIP_METHOD_UNKNOWN;
}

/*
 * The TU is done with st: no more events, and its reference goes. The
 * transaction itself runs to its end. Returns NULL for "st = release(st)".
 */
struct txn_server *txn_server_release(struct txn_server *st)
{
	if (st) {
		st->sh = NULL;
		st->arg = NULL;
		mem_deref(st);
	}
	return NULL;
}
