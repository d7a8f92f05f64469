/* sip: sbcd's SIP stack as it runs: transport input into the transaction layer, its timer, and the B2BUA. */
#include <errno.h>
#include <event2/event.h>
#include <string.h>

#include "b2bua/b2bua.h"
#include "sbcd_int.h"
#include "txn/txn.h"

/* Arm the loop's one transaction timer for the layer's next due time. */
static void txn_timer_arm(struct sbcd *s, uint64_t now)
{
	uint64_t next = txn_layer_next(s->txn);
	struct timeval tv;

	if (next == UINT64_MAX) {
		evtimer_del(s->ev_txn);
		return;
	}
	next = next > now ? next - now : 0;
	tv.tv_sec = (time_t)(next / 1000);
	tv.tv_usec = (suseconds_t)(next % 1000) * 1000;
	evtimer_add(s->ev_txn, &tv);
}

static void on_txn_timer(evutil_socket_t fd, short what, void *arg)
{
	struct sbcd *s = arg;
	uint64_t now = time_mono_ms();

	(void)fd;
	(void)what;
	txn_layer_poll(s->txn, now);
	txn_timer_arm(s, now);
}

/* Every checked message from the transport: into the transaction layer. */
void sbcd_sip_input(struct sip_msg *msg, void *arg)
{
	struct sbcd *s = arg;
	uint64_t now = time_mono_ms();

	txn_layer_recv(s->txn, msg, now);
	txn_timer_arm(s, now);
}

static int txn_send(const struct sip_peer *dst, const char *buf, size_t len, void *arg)
{
	struct sbcd *s = arg;

	return sip_transp_send(s->transp, dst, buf, len);
}

static void txn_request(struct txn_server *st, struct sip_msg *req, void *arg)
{
	struct sbcd *s = arg;

	b2bua_request(s->b2bua, st, req, txn_layer_now(s->txn));
}

static int txn_ack(struct txn_server *st, struct sip_msg *ack, void *arg)
{
	struct sbcd *s = arg;

	return b2bua_ack(s->b2bua, st, ack);
}

/* The transaction layer with [sip] timers, its timer event, and the B2BUA on top. */
int sbcd_sip_start(struct sbcd *s)
{
	const struct config_sip *sc = &s->cfg->sip;
	struct txn_config tc;
	int err;

	txn_config_default(&tc);
	tc.t1 = sc->t1_ms;
	tc.t2 = sc->t2_ms;
	tc.t4 = sc->t4_ms;
	err = txn_layer_alloc(&s->txn, &tc, txn_send, txn_request, txn_ack, s);
	if (err)
		return err;
	s->ev_txn = evtimer_new(s->base, on_txn_timer, s);
	if (!s->ev_txn)
		return ENOMEM;
	return b2bua_alloc(&s->b2bua, s->transp, s->cfg->general.product);
}

/* New timer values apply to transactions started from now on. */
int sbcd_sip_apply(struct sbcd *s, const struct sbc_config *next)
{
	const struct config_sip *o = &s->cfg->sip, *n = &next->sip;

	if (o->t1_ms != n->t1_ms || o->t2_ms != n->t2_ms || o->t4_ms != n->t4_ms)
		log_warn("sip: T1/T2/T4 changes take effect at the next start");
	return 0;
}

void sbcd_sip_stop(struct sbcd *s)
{
	s->b2bua = mem_deref(s->b2bua);
	s->txn = mem_deref(s->txn);
	if (s->ev_txn)
		event_free(s->ev_txn);
	s->ev_txn = NULL;
}
