/* sip: sbcd's SIP stack as it runs: transport input into the transaction layer, its timer, and the B2BUA. */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "b2bua/b2bua.h"
#include "media/media.h"
#include "sbcd_int.h"
#include "txn/txn.h"

/* Arm the loop's one SIP timer for the earliest of the transactions' and the calls' timers. */
static void txn_timer_arm(struct sbcd *s, uint64_t now)
{
	uint64_t next = MIN(txn_layer_next(s->txn), b2bua_next(s->b2bua));
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
	b2bua_poll(s->b2bua, now);
	txn_timer_arm(s, now);
}

/* Every checked message from the transport: into the transaction layer. */
void sbcd_sip_input(struct sip_msg *msg, void *arg)
{
	struct sbcd *s = arg;
	uint64_t now = time_mono_ms();

	if (b2bua_stateless(s->b2bua, msg) == 0)
		return;
	txn_layer_recv(s->txn, msg, now);
	txn_timer_arm(s, now);
}

static int txn_send(const struct sip_peer *dst, const char *buf, size_t len, void *arg)
{
	struct sbcd *s = arg;

	return sip_transp_send(s->transp, dst, buf, len);
}

/*
 * A TCP/TLS connection the transport opened never came up: the client
 * transactions queued on it fail now (the B2BUA answers 503) instead of
 * waiting for Timer B/F (RFC 3261 17.1.4).
 */
static void transp_conn_failed(const struct sip_peer *peer, int err, void *arg)
{
	struct sbcd *s = arg;
	uint64_t now = time_mono_ms();

	if (!s->txn || !s->b2bua)
		return;
	txn_layer_conn_failed(s->txn, peer, err, now);
	txn_timer_arm(s, now);
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

/*
 * The media engine on both zones' addresses and RTP ranges: socket or
 * bypass per zone; bypass zones on the media thread ([media] cpu).
 */
static int media_start(struct sbcd *s)
{
	struct media_zone_cfg mz[MEDIA_ZONES];
	struct media_engine_stats ms;
	int err;

	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		const struct config_zone *zc = config_zone(s->cfg, (enum zone_id)z);

		memset(&mz[z], 0, sizeof(mz[z]));
		mz[z].addr = s->zones[z].addr;
		mz[z].port_min = zc->rtp_ports.start;
		mz[z].port_max = zc->rtp_ports.end;
		mz[z].bypass = zc->media != CONFIG_MEDIA_SOCKET;
		mz[z].xdp = zc->media == CONFIG_MEDIA_XDP;
		snprintf(mz[z].ifname, sizeof(mz[z].ifname), "%s", zc->interface);
		mz[z].own_addr = zc->media_address.ss;
	}
	err = media_engine_alloc(&s->media, s->base, mz, &s->cfg->media);
	if (err) {
		log_error("media engine: %s", strerror(err));
		return err;
	}
	err = media_engine_thread(s->media, config_media_cpu(&s->cfg->media));
	if (err) {
		/* the rings stay on the loop: media still flows */
		log_warn("media: no media thread (%s): the bypass zones run on the main loop",
			 strerror(err));
		return 0;
	}
	media_engine_stats(s->media, &ms);
	if (ms.threaded && ms.thread_cpu >= 0)
		log_info("media: the bypass zones run on the media thread, pinned to CPU %d",
			 ms.thread_cpu);
	else if (ms.threaded)
		log_info("media: the bypass zones run on the media thread (not pinned)");
	return 0;
}

/* The transaction layer with [sip] timers, its timer event, media, and the B2BUA on top. */
int sbcd_sip_start(struct sbcd *s)
{
	const struct config_sip *sc = &s->cfg->sip;
	struct b2bua_cfg bc = { .cfg = s->cfg, .transp = s->transp, .guard = s->guard };
	struct txn_config tc;
	int err;

	txn_config_default(&tc);
	tc.t1 = sc->t1_ms;
	tc.t2 = sc->t2_ms;
	tc.t4 = sc->t4_ms;
	tc.max_txns = sc->max_transactions;
	err = txn_layer_alloc(&s->txn, &tc, txn_send, txn_request, txn_ack, s);
	if (err)
		return err;
	s->ev_txn = evtimer_new(s->base, on_txn_timer, s);
	if (!s->ev_txn)
		return ENOMEM;
	err = media_start(s);
	if (err)
		return err;
	bc.txn = s->txn;
	bc.media = s->media;
	for (unsigned z = 0; z < ZONE_COUNT; z++) {
		struct media_zone_info zi;

		bc.host[z] = s->zones[z].host;
		/* the zone's SDP address: the owned media_address when bypass runs */
		if (media_engine_zone(s->media, z, &zi) == 0)
			bc.media_addr[z] = zi.sdp_addr;
		else
			bc.media_addr[z] = s->zones[z].addr;
	}
	err = b2bua_alloc(&s->b2bua, &bc);
	if (err)
		return err;
	/* the B2BUA may have sent already (trunk REGISTERs) or loaded timers (bindings) */
	txn_timer_arm(s, time_mono_ms());
	sip_transp_fail_set(s->transp, transp_conn_failed, s);
	return 0;
}

/* New timer values apply to transactions started from now on. */
int sbcd_sip_apply(struct sbcd *s, const struct sbc_config *next)
{
	const struct config_sip *o = &s->cfg->sip, *n = &next->sip;

	if (o->t1_ms != n->t1_ms || o->t2_ms != n->t2_ms || o->t4_ms != n->t4_ms)
		log_warn("sip: T1/T2/T4 changes take effect at the next start");
	return s->b2bua ? b2bua_apply(s->b2bua, next) : 0;
}

void sbcd_sip_stop(struct sbcd *s)
{
	if (s->transp)
		sip_transp_fail_set(s->transp, NULL, NULL);
	s->b2bua = mem_deref(s->b2bua);
	s->txn = mem_deref(s->txn);
	s->media = mem_deref(s->media);
	if (s->ev_txn)
		event_free(s->ev_txn);
	s->ev_txn = NULL;
}
