/* txn_client: client transactions (RFC 3261 17.1, 9.1, RFC 6026 7.2): retransmit, ACK 3xx-6xx, CANCEL. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "txn_int.h"

static void client_rtx_fire(void *arg);
static void client_to_fire(void *arg);
static void client_c_fire(void *arg);

/*
 * The pending index (tl->pend): client transactions on TCP or TLS that
 * have no response yet, chained by destination. The transport queues a
 * request on a connection that may still be coming up and returns 0; if
 * that connection then fails, txn_layer_conn_failed finds here what was
 * waiting on it. Buckets are picked with SipHash under the layer's key
 * (destinations come from the network: phone Contacts and sources), so a
 * failure costs the transactions to that destination plus, on average, a
 * few others sharing the bucket, never a walk over the table.
 */

/* Destination as bytes: zone, transport, family, port, address (no sockaddr padding). */
static size_t pend_key(const struct sip_peer *p, uint8_t key[TXN_PEND_KEY_MAX])
{
	key[0] = p->zone;
	key[1] = p->proto;
	key[2] = (uint8_t)p->addr.ss_family;
	if (p->addr.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)&p->addr;

		memcpy(key + 3, &sin->sin_port, 2);
		memcpy(key + 5, &sin->sin_addr, 4);
		return 9;
	}
	if (p->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 =
			(const struct sockaddr_in6 *)(const void *)&p->addr;

		memcpy(key + 3, &sin6->sin6_port, 2);
		memcpy(key + 5, &sin6->sin6_addr, 16);
		return 21;
	}
	return 3;
}

static struct txn_client **pend_bucket(struct txn_layer *tl, const uint8_t *key, size_t len)
{
	return &tl->pend[txn_hash(tl->hkey, (const char *)key, len) & tl->pend_mask];
}

/* Bucket array of the pending index: max_txns / TXN_PEND_DIV buckets, a power of two, at least 16. */
int txn_client_pend_init(struct txn_layer *tl)
{
	size_t nb = 16;

	while (nb < tl->cfg.max_txns / TXN_PEND_DIV)
		nb <<= 1;
	tl->pend = mem_zalloc(nb * sizeof(*tl->pend), NULL);
	if (!tl->pend)
		return ENOMEM;
	tl->pend_mask = nb - 1;
	return 0;
}

static void pend_push(struct txn_client **head, struct txn_client *ct)
{
	ct->pend_next = *head;
	if (ct->pend_next)
		ct->pend_next->pend_pprev = &ct->pend_next;
	ct->pend_pprev = head;
	*head = ct;
}

/* Off the pending index or a work list, whichever it is on; safe to call twice. */
static void pend_unlink(struct txn_client *ct)
{
	if (!ct->pend_pprev)
		return;
	*ct->pend_pprev = ct->pend_next;
	if (ct->pend_next)
		ct->pend_next->pend_pprev = ct->pend_pprev;
	ct->pend_next = NULL;
	ct->pend_pprev = NULL;
}

static void pend_link(struct txn_client *ct)
{
	uint8_t key[TXN_PEND_KEY_MAX];
	size_t len = pend_key(&ct->dst, key);

	pend_push(pend_bucket(ct->tl, key, len), ct);
}

static void client_destroy(void *data)
{
	struct txn_client *ct = data;

	pend_unlink(ct);
	if (ct->tl) {
		tmr_cancel(&ct->tl->tmrh, &ct->tmr_rtx);
		tmr_cancel(&ct->tl->tmrh, &ct->tmr_to);
		tmr_cancel(&ct->tl->tmrh, &ct->tmr_c);
		txn_htab_unlink(&ct->tl->ctab, &ct->hn);
	}
	mem_deref(ct->req);
	mem_deref(ct->ack);
	mem_deref(ct->cancel_extra);
}

/*
 * A final response came: the request is not sent again, and no ACK or
 * CANCEL is built from it any more (RFC 3261 17.1.1.3, 9.1: CANCEL only
 * before a final). Completed keeps only the ACK it made; Accepted and the
 * non-INVITE Completed keep nothing but the key.
 */
static void client_final(struct txn_client *ct)
{
	ct->req = mem_deref(ct->req);
	ct->cancel_extra = mem_deref(ct->cancel_extra);
	ct->cancel_pending = false;
}

/*
 * Terminated: stop the timers, leave the table, drop the layer's
 * reference (which may free ct: callers that use ct afterwards hold one).
 * Never calls the TU; safe to call twice.
 */
void txn_client_terminate(struct txn_client *ct)
{
	struct txn_layer *tl = ct->tl;

	ct->state = TXN_STATE_TERMINATED;
	pend_unlink(ct);
	if (!tl)
		return;
	tmr_cancel(&tl->tmrh, &ct->tmr_rtx);
	tmr_cancel(&tl->tmrh, &ct->tmr_to);
	tmr_cancel(&tl->tmrh, &ct->tmr_c);
	txn_htab_unlink(&tl->ctab, &ct->hn);
	ct->tl = NULL;
	mem_deref(ct);
}

/* Call the TU, if it still listens. Caller holds a reference. */
static void client_pass_up(struct txn_client *ct, int err, const struct sip_msg *resp)
{
	if (ct->rh)
		ct->rh(ct, err, resp, ct->arg);
}

/* Timeout or transport failure: terminate and tell the TU. */
static void client_fail(struct txn_client *ct, int err)
{
	mem_ref(ct);
	txn_client_terminate(ct);
	client_pass_up(ct, err, NULL);
	mem_deref(ct);
}

/*
 * Make, link and send a client transaction for the encoded request buf.
 * The request must decode and pass sip_msg_check, must not be an ACK, and
 * its top Via must carry a branch with the magic cookie (txn_branch_make);
 * the layer keeps its own copy. The first send is synchronous: its failure
 * is returned and no transaction remains. A request with a To tag (in a
 * dialog) or a CANCEL may use the table's reserve; others get ENOSPC there.
 */
static int client_start(struct txn_client **ctp, struct txn_layer *tl,
			const struct sip_peer *dst, const char *buf, size_t len,
			txn_response_h *rh, void *arg, uint64_t now)
{
	const struct txn_config *c = &tl->cfg;
	struct sip_msg *m = tl->scratch;
	const struct sip_via *via;
	char key[TXN_KEY_MAX];
	struct txn_client *ct;
	size_t klen;
	uint64_t hash;
	char *p;
	int err;

	if (len > SIP_MAX_MSG)
		return EMSGSIZE;
	err = sip_msg_decode_raw(m, buf, len, 0, NULL);
	if (!err)
		err = sip_msg_check(m);
	if (err)
		return err;
	if (!m->req || m->mid == SIP_METHOD_ACK || sip_msg_via_top(m, &via) ||
	    !txn_branch_has_cookie(&via->branch))
		return EINVAL;
	err = txn_client_key(&via->branch, &m->method, key, sizeof(key), &klen);
	if (err)
		return err;
	hash = txn_hash(tl->hkey, key, klen);
	if (txn_htab_find(&tl->ctab, hash, key, klen))
		return EEXIST;
	if (!txn_layer_room(tl, &tl->ctab, txn_in_dialog(m)))
		return ENOSPC;
	ct = mem_zalloc(sizeof(*ct) + klen, client_destroy);
	if (!ct)
		return ENOMEM;
	p = (char *)(ct + 1);
	memcpy(p, key, klen);
	ct->hn.key = p;
	ct->hn.keylen = klen;
	ct->hn.hash = hash;
	ct->hn.obj = ct;
	err = buf_from_mem(&ct->req, m->base, m->len);
	if (err)
		goto out_free;
	ct->mid = m->mid;
	ct->invite = m->mid == SIP_METHOD_INVITE;
	ct->dst = *dst;
	ct->reliable = sip_proto_reliable((enum sip_proto)dst->proto);
	ct->rh = rh;
	ct->arg = arg;
	ct->tl = tl;
	err = txn_tmr_reserve(tl, &ct->tmr_rtx, client_rtx_fire, ct);
	if (!err)
		err = txn_tmr_reserve(tl, &ct->tmr_to, client_to_fire, ct);
	if (!err)
		err = txn_tmr_reserve(tl, &ct->tmr_c, client_c_fire, ct);
	if (err)
		goto out_free;
	txn_htab_insert(&tl->ctab, &ct->hn);
	err = txn_layer_send(tl, &ct->dst, ct->req->data, ct->req->len);
	if (err) {
		txn_client_terminate(ct);
		return err;
	}
	tl->stats.client_created++;
	ct->state = ct->invite ? TXN_STATE_CALLING : TXN_STATE_TRYING;
	if (ct->reliable) {
		pend_link(ct);   /* its connection may still be coming up */
	} else {
		ct->rtx_ivl = c->t1;
		txn_tmr_set(tl, &ct->tmr_rtx, now + c->t1);                         /* A, E */
	}
	txn_tmr_set(tl, &ct->tmr_to, now + 64 * (uint64_t)c->t1);                 /* B, F */
	if (ct->invite)
		txn_tmr_set(tl, &ct->tmr_c, now + c->timer_c);                      /* C */
	if (ctp)
		*ctp = mem_ref(ct);
	return 0;

 out_free:
	mem_deref(ct);
	return err;
}

/*
 * Start a client transaction for an encoded request (see client_start)
 * sent to dst; rh hears its responses. With ctp, the caller gets a
 * reference of its own (give it back with txn_client_release); without,
 * the layer alone holds the transaction. ENOSPC when the table is full
 * (for a request without a To tag: when only the in-dialog reserve is
 * left), EEXIST when the branch and method are in use, EINVAL for an
 * unusable request, or the transport's errno from the first send.
 */
int txn_client_request(struct txn_client **ctp, struct txn_layer *tl,
		       const struct sip_peer *dst, const char *buf, size_t len,
		       txn_response_h *rh, void *arg, uint64_t now)
{
	if (!tl || !dst || !buf || !len)
		return EINVAL;
	tl->now = now;
	return client_start(ctp, tl, dst, buf, len, rh, arg, now);
}

/*
 * Send the CANCEL (RFC 3261 9.1) as a non-INVITE client transaction of
 * its own, whose responses nobody needs; and give the INVITE 64*T1 to end
 * before the layer ends it (the "cancel guard"). When it cannot be sent
 * nothing changes: the INVITE stays cancellable (Timer C tries again).
 */
static int client_cancel_send(struct txn_client *ct, uint64_t now)
{
	struct txn_layer *tl = ct->tl;
	struct pl extra, *ep = NULL;
	struct wbuf wb;
	int err;

	if (ct->cancel_extra) {
		extra = (struct pl){ ct->cancel_extra->data, ct->cancel_extra->len };
		ep = &extra;
	}
	wbuf_init(&wb, tl->obuf, SIP_MAX_MSG);
	err = sip_msg_decode_raw(tl->scratch, ct->req->data, ct->req->len, 0, NULL);
	if (!err)
		err = txn_build_cancel(tl->scratch, ep, &wb);
	if (!err)
		err = client_start(NULL, tl, &ct->dst, wb.p, wb.len, NULL, NULL, now);
	if (err)
		return err;
	ct->cancelled = true;
	ct->cancel_extra = mem_deref(ct->cancel_extra);
	txn_tmr_set(tl, &ct->tmr_to, now + 64 * (uint64_t)tl->cfg.t1);
	return 0;
}

/*
 * Cancel an INVITE (RFC 3261 9.1). Before any provisional response the
 * CANCEL waits for the first one; if a final response comes first, none is
 * sent. extra (header lines, a Reason for one) goes into the CANCEL.
 * 0 when sent or deferred (again: 0, nothing more), EALREADY after a final
 * response, EINVAL for a non-INVITE, or the error of sending it.
 */
int txn_client_cancel(struct txn_client *ct, const struct pl *extra, uint64_t now)
{
	struct txn_layer *tl;
	int err;

	if (!ct || !ct->invite)
		return EINVAL;
	tl = ct->tl;
	if (!tl || (ct->state != TXN_STATE_CALLING && ct->state != TXN_STATE_PROCEEDING))
		return EALREADY;
	if (ct->cancelled || ct->cancel_pending)
		return 0;
	tl->now = now;
	if (extra && extra->l) {
		if (extra->l > TXN_CANCEL_EXTRA_MAX)
			return EMSGSIZE;
		err = txn_copy_to_buf(&ct->cancel_extra, extra->p, extra->l);
		if (err)
			return err;
	}
	if (!ct->got_1xx) {
		ct->cancel_pending = true;
		return 0;
	}
	return client_cancel_send(ct, now);
}

/* Build, keep and send the ACK for a 3xx-6xx (RFC 3261 17.1.1.3). */
static int client_ack(struct txn_client *ct, struct sip_msg *resp)
{
	struct txn_layer *tl = ct->tl;
	struct wbuf wb;
	int err;

	wbuf_init(&wb, tl->obuf, SIP_MAX_MSG);
	err = sip_msg_decode_raw(tl->scratch, ct->req->data, ct->req->len, 0, NULL);
	if (!err)
		err = txn_build_ack(tl->scratch, resp, &wb);
	if (!err)
		err = txn_copy_to_buf(&ct->ack, wb.p, wb.len);
	if (!err)
		err = txn_layer_send(tl, &ct->dst, ct->ack->data, ct->ack->len);
	return err;
}

/*
 * INVITE client (RFC 3261 17.1.1, RFC 6026 7.2): Calling/Proceeding take
 * 1xx (Proceeding, Timer C restarts for 101-199, a deferred CANCEL goes),
 * 2xx (Accepted, Timer M) and 3xx-6xx (ACK, Completed, Timer D: timer_d on
 * UDP, 0 on reliable). Completed re-ACKs retransmitted finals; Accepted
 * passes every further 2xx up for the TU to ACK.
 */
static void client_invite_response(struct txn_client *ct, struct sip_msg *resp, uint64_t now)
{
	struct txn_layer *tl = ct->tl;
	const struct txn_config *c = &tl->cfg;
	uint16_t sc = resp->scode;
	int err;

	switch (ct->state) {
	case TXN_STATE_CALLING:
	case TXN_STATE_PROCEEDING:
		break;
	case TXN_STATE_COMPLETED:
		tl->stats.retrans_absorbed++;
		if (sc >= 300 && ct->ack &&
		    !txn_layer_send(tl, &ct->dst, ct->ack->data, ct->ack->len))
			tl->stats.retrans_sent++;
		return;
	case TXN_STATE_ACCEPTED:
		if (sc >= 200 && sc < 300)
			client_pass_up(ct, 0, resp);
		else
			tl->stats.retrans_absorbed++;
		return;
	default:
		return;
	}
	if (sc < 200) {
		if (ct->state == TXN_STATE_CALLING) {
			txn_tmr_stop(tl, &ct->tmr_rtx);
			txn_tmr_stop(tl, &ct->tmr_to);
			ct->state = TXN_STATE_PROCEEDING;
		}
		if (sc > 100)
			txn_tmr_set(tl, &ct->tmr_c, now + c->timer_c);
		ct->got_1xx = true;
		if (ct->cancel_pending) {
			ct->cancel_pending = false;
			(void)client_cancel_send(ct, now);
		}
		client_pass_up(ct, 0, resp);
		return;
	}
	txn_tmr_stop(tl, &ct->tmr_rtx);
	txn_tmr_stop(tl, &ct->tmr_to);
	txn_tmr_stop(tl, &ct->tmr_c);
	if (sc < 300) {
		client_final(ct);
		ct->state = TXN_STATE_ACCEPTED;
		txn_tmr_set(tl, &ct->tmr_to, now + 64 * (uint64_t)c->t1);          /* M */
	} else {
		ct->state = TXN_STATE_COMPLETED;
		err = client_ack(ct, resp);
		client_final(ct);
		if (err || ct->reliable)
			txn_client_terminate(ct);
		else
			txn_tmr_set(tl, &ct->tmr_to, now + c->timer_d);             /* D */
	}
	client_pass_up(ct, 0, resp);
}

/*
 * Non-INVITE client (RFC 3261 17.1.2): 1xx moves Trying to Proceeding;
 * a final goes to Completed (Timer K: T4 on UDP, 0 on reliable), where
 * retransmitted finals are absorbed.
 */
static void client_ni_response(struct txn_client *ct, struct sip_msg *resp, uint64_t now)
{
	struct txn_layer *tl = ct->tl;

	if (ct->state == TXN_STATE_COMPLETED) {
		tl->stats.retrans_absorbed++;
		return;
	}
	if (ct->state != TXN_STATE_TRYING && ct->state != TXN_STATE_PROCEEDING)
		return;
	if (resp->scode < 200) {
		ct->state = TXN_STATE_PROCEEDING;
		client_pass_up(ct, 0, resp);
		return;
	}
	txn_tmr_stop(tl, &ct->tmr_rtx);
	txn_tmr_stop(tl, &ct->tmr_to);
	client_final(ct);
	if (ct->reliable) {
		txn_client_terminate(ct);
	} else {
		ct->state = TXN_STATE_COMPLETED;
		txn_tmr_set(tl, &ct->tmr_to, now + tl->cfg.t4);                     /* K */
	}
	client_pass_up(ct, 0, resp);
}

/* A response from the transport: match by top Via branch and CSeq method (17.1.3). */
int txn_client_recv(struct txn_layer *tl, struct sip_msg *msg, uint64_t now)
{
	const struct sip_via *via;
	const struct sip_cseq *cs;
	char key[TXN_KEY_MAX];
	struct txn_hnode *hn;
	struct txn_client *ct;
	size_t klen;

	if (sip_msg_via_top(msg, &via) || sip_msg_cseq(msg, &cs))
		return EBADMSG;
	if (!txn_branch_has_cookie(&via->branch) ||
	    txn_client_key(&via->branch, &cs->method, key, sizeof(key), &klen)) {
		tl->stats.unmatched_responses++;
		return 0;
	}
	hn = txn_htab_find(&tl->ctab, txn_hash(tl->hkey, key, klen), key, klen);
	if (!hn) {
		tl->stats.unmatched_responses++;
		return 0;
	}
	ct = mem_ref(hn->obj);
	pend_unlink(ct);   /* a response: the request got through */
	if (ct->invite)
		client_invite_response(ct, msg, now);
	else
		client_ni_response(ct, msg, now);
	mem_deref(ct);
	return 0;
}

/* Timers A (INVITE, Calling: doubles without cap) and E (non-INVITE: doubles up to T2; T2 in Proceeding). */
static void client_rtx_fire(void *arg)
{
	struct txn_client *ct = arg;
	struct txn_layer *tl = ct->tl;
	int err;

	txn_tmr_stop(tl, &ct->tmr_rtx);
	if (ct->state == TXN_STATE_CALLING)
		ct->rtx_ivl *= 2;
	else if (ct->state == TXN_STATE_TRYING)
		ct->rtx_ivl = MIN(2 * ct->rtx_ivl, tl->cfg.t2);
	else if (ct->state == TXN_STATE_PROCEEDING && !ct->invite)
		ct->rtx_ivl = tl->cfg.t2;
	else
		return;
	err = txn_layer_send(tl, &ct->dst, ct->req->data, ct->req->len);
	if (err) {
		client_fail(ct, err);
		return;
	}
	tl->stats.retrans_sent++;
	txn_tmr_set(tl, &ct->tmr_rtx, tl->now + ct->rtx_ivl);
}

/* B, F and the cancel guard end the transaction with ETIMEDOUT; D, K and M end it quietly. */
static void client_to_fire(void *arg)
{
	struct txn_client *ct = arg;
	struct txn_layer *tl = ct->tl;

	txn_tmr_stop(tl, &ct->tmr_to);
	switch (ct->state) {
	case TXN_STATE_CALLING:
	case TXN_STATE_TRYING:
	case TXN_STATE_PROCEEDING:
		tl->stats.timeouts++;
		client_fail(ct, ETIMEDOUT);
		break;
	default:
		txn_client_terminate(ct);
		break;
	}
}

/*
 * Timer C (RFC 3261 16.6, 16.8): no final response in timer_c. Before any
 * provisional response it is a 408: the transaction ends. In Proceeding
 * the TU hears ETIMEDOUT and the INVITE is cancelled (by the TU in its
 * callback, or else here); the final response still comes up.
 */
static void client_c_fire(void *arg)
{
	struct txn_client *ct = arg;
	struct txn_layer *tl = ct->tl;

	txn_tmr_stop(tl, &ct->tmr_c);
	if (ct->state == TXN_STATE_CALLING) {
		tl->stats.timeouts++;
		client_fail(ct, ETIMEDOUT);
		return;
	}
	if (ct->state != TXN_STATE_PROCEEDING)
		return;
	tl->stats.timeouts++;
	mem_ref(ct);
	client_pass_up(ct, ETIMEDOUT, NULL);
	if (ct->tl && ct->state == TXN_STATE_PROCEEDING && !ct->cancelled)
		(void)client_cancel_send(ct, tl->now);
	mem_deref(ct);
}

/*
 * A connection to peer failed before it came up (txn_layer_conn_failed):
 * end every client transaction in the pending index for that destination
 * with err. The matching ones move to a work list first, so a transaction
 * the TU starts from a callback (a retry to the same destination, queued
 * on a fresh connection) is not taken for one of this failure's; one the
 * TU's callback ends meanwhile simply leaves the work list.
 */
unsigned txn_client_fail_peer(struct txn_layer *tl, const struct sip_peer *peer, int err)
{
	uint8_t key[TXN_PEND_KEY_MAX], k2[TXN_PEND_KEY_MAX];
	size_t len = pend_key(peer, key);
	struct txn_client *work = NULL, *ct, *next;
	unsigned n = 0;

	for (ct = *pend_bucket(tl, key, len); ct; ct = next) {
		next = ct->pend_next;
		if (pend_key(&ct->dst, k2) != len || memcmp(key, k2, len))
			continue;
		pend_unlink(ct);
		pend_push(&work, ct);
	}
	while ((ct = work)) {
		pend_unlink(ct);
		tl->stats.transport_errors++;
		client_fail(ct, err);
		n++;
	}
	return n;
}

enum txn_state txn_client_state(const struct txn_client *ct)
{
	return ct ? ct->state : TXN_STATE_TERMINATED;
}

enum sip_method txn_client_method(const struct txn_client *ct)
{
	return ct ? ct->mid : SIP_METHOD_UNKNOWN;
}

/*
 * The TU is done with ct: no more callbacks, and its reference goes. The
 * transaction runs to its end on its own (ACKs, a pending CANCEL).
 * Returns NULL for "ct = release(ct)".
 */
struct txn_client *txn_client_release(struct txn_client *ct)
{
	if (ct) {
		ct->rh = NULL;
		ct->arg = NULL;
		mem_deref(ct);
	}
	return NULL;
}
