/* engine: the media engine's start-up (pools, zone backends with fallback, descriptor limit, sweep timer), stats and tuning. */
#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "media_int.h"
#include "ring.h"
#include "stack.h"

/* Destructor: runs after the last session is gone (sessions hold a reference). */
static void engine_destroy(void *data)
{
	struct media_engine *me = data;

	media_thread_stop(me);
	if (me->sweep)
		event_free(me->sweep);
	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		media_zone_close(&me->zone[z]);
		media_pool_close(&me->pool[z]);
	}
}

/*
 * Streams keep their times on the ms clock modulo 2^32 and compare
 * differences, which hold up to 2^31 ms (24 days): longer delays are cut
 * to that.
 */
static uint32_t ms_clamp(uint64_t ms)
{
	return (uint32_t)MIN(ms, (uint64_t)INT32_MAX);
}

/* The periodic sweep timer: report idle sessions. */
static void sweep_h(evutil_socket_t fd, short what, void *arg)
{
	struct media_engine *me = arg;

	(void)fd;
	(void)what;
	media_engine_sweep(me, time_mono_ms());
}

static int sweep_arm(struct media_engine *me)
{
	struct timeval tv = { me->sweep_ms / 1000, (me->sweep_ms % 1000) * 1000 };

	return event_add(me->sweep, &tv) == -1 ? ENOMEM : 0;
}

/*
 * Every stream may need 4 descriptors (RTP and RTCP on two zones). Raise
 * the soft limit, and the hard one too when privileged, to what
 * max_streams needs; failing that, to the hard limit. Returns the limit
 * in force; the caller logs a shortfall (streams then fail with ENOSPC).
 */
static uint64_t fd_limit_raise(unsigned max_streams)
{
	rlim_t need = (rlim_t)max_streams * 4 + MEDIA_FD_SLACK;
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	if (rl.rlim_cur >= need)
		return rl.rlim_cur;
	{
		struct rlimit up = { need, rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ?
					       rl.rlim_max : need };

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return need;
	}
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1 || getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	return rl.rlim_cur;
}

/*
 * Zone z's backend: the socket one, or with bypass asked the ring one on
 * the owned address (xdp: the AF_XDP ring first, then the pcap one); if
 * that cannot start, one warning and the socket backend. The reason stays
 * for status (both, when xdp fell back to the socket backend).
 */
static void zone_start(struct media_engine *me, unsigned z, const struct media_zone_cfg *zc)
{
	const char *name = config_zone_name((enum zone_id)z);
	struct media_zone *zn = &me->zone[z];
	char xwhy[MEDIA_FALLBACK_MAX] = "";

	zn->me = me;
	zn->id = z;
	zn->slow_fd = -1;
	if (!zc->bypass)
		return;
	if (zc->xdp) {
		if (!media_zone_bypass_start(zn, zc, RING_XDP))
			goto started;
		snprintf(xwhy, sizeof(xwhy), "%s", zn->fallback);
		media_zone_close(zn);
	}
	if (media_zone_bypass_start(zn, zc, RING_PCAP)) {
		if (xwhy[0]) {
			char rwhy[MEDIA_FALLBACK_MAX];

			snprintf(rwhy, sizeof(rwhy), "%s", zn->fallback);
			snprintf(zn->fallback, sizeof(zn->fallback), "%.80s; %.70s", xwhy, rwhy);
		}
		log_warn("media: %s zone: %s unavailable (%s): using the socket engine", name,
			 zc->xdp ? "xdp" : "bypass", zn->fallback);
		media_zone_close(zn);
		return;
	}
	if (xwhy[0]) {
		snprintf(zn->fallback, sizeof(zn->fallback), "%s", xwhy);
		log_warn("media: %s zone: xdp unavailable (%s): using the ring bypass engine", name,
			 xwhy);
	}
 started:
	media_sa_set(&me->addr[z], &zc->own_addr);
	media_sa_set_port(&me->addr[z], 0);
	log_info("media: %s zone: %s engine on %s%s%s", name, zn->xdp ? "xdp" : "bypass",
		 zc->ifname, zn->xdp ? ", " : "", zn->xdp ? ring_xdp_mode(zn->ring) : "");
}

/* Start the engine (see media.h). */
int media_engine_alloc(struct media_engine **mp, struct event_base *base,
		       const struct media_zone_cfg zones[MEDIA_ZONES],
		       const struct config_media *cfg)
{
	struct media_engine *me;
	int err;

	if (!mp || !base || !zones || !cfg || !cfg->max_streams)
		return EINVAL;
	me = mem_zalloc(sizeof(*me), engine_destroy);
	if (!me)
		return ENOMEM;
	me->base = base;
	me->cfg = *cfg;
	me->sweep_ms = MEDIA_SWEEP_MS;
	me->timeout_ms = ms_clamp((uint64_t)cfg->timeout_s * 1000);
	me->relatch_ms = MEDIA_RELATCH_MS;
	me->stop_fd = -1;
	me->thread_cpu = -1;
	for (unsigned z = 0; z < MEDIA_ZONES; z++)
		me->zone[z].slow_fd = -1;
	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		if (media_sa_set(&me->addr[z], &zones[z].addr)) {
			err = EINVAL;
			goto out_free;
		}
		media_sa_set_port(&me->addr[z], 0);
		err = media_pool_init(&me->pool[z], zones[z].port_min, zones[z].port_max);
		if (err)
			goto out_free;
	}
	for (unsigned i = 0; i < MEDIA_BATCH; i++) {
		me->rxiov[i].iov_base = me->slots[i] + MEDIA_HEADROOM;
		me->rxiov[i].iov_len = MEDIA_PKT_MAX;
		me->rx[i].msg_hdr.msg_name = &me->from[i];
		me->rx[i].msg_hdr.msg_namelen = sizeof(me->from[i]);
		me->rx[i].msg_hdr.msg_iov = &me->rxiov[i];
		me->rx[i].msg_hdr.msg_iovlen = 1;
	}
	me->sweep = event_new(base, -1, EV_PERSIST, sweep_h, me);
	if (!me->sweep) {
		err = ENOMEM;
		goto out_free;
	}
	err = sweep_arm(me);
	if (err)
		goto out_free;
	for (unsigned z = 0; z < MEDIA_ZONES; z++)
		zone_start(me, z, &zones[z]);
	me->fd_limit = fd_limit_raise(cfg->max_streams);
	if (me->fd_limit < (uint64_t)cfg->max_streams * 4 + MEDIA_FD_SLACK)
		log_warn("media: descriptor limit %llu is below the %u streams' need of %llu",
			 (unsigned long long)me->fd_limit, cfg->max_streams,
			 (unsigned long long)cfg->max_streams * 4 + MEDIA_FD_SLACK);
	*mp = me;
	return 0;

 out_free:
	mem_deref(me);
	return err;
}

/* A snapshot of the engine's counters; all zero for NULL. */
void media_engine_stats(const struct media_engine *me, struct media_engine_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!me)
		return;
	media_lock(me);
	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		st->ports_total[z] = me->pool[z].npairs * 2;
		st->ports_in_use[z] = (me->pool[z].npairs - me->pool[z].nfree) * 2;
	}
	st->sessions = me->nsessions;
	st->streams = me->nstreams;
	st->sockets = me->nsockets;
	st->packets_received = me->rx_packets;
	st->packets_relayed = me->relayed;
	st->dropped_source = me->dropped_source;
	st->dropped_policing = me->dropped_policing;
	st->dropped_no_dest = me->dropped_no_dest;
	st->dropped_truncated = me->dropped_truncated;
	st->dropped_no_neighbour = me->dropped_no_neighbour;
	st->tx_errors = me->tx_errors;
	st->bind_skipped = me->bind_skipped;
	st->timeouts = me->timeouts;
	st->csum_completed = me->csum_completed;
	st->fd_limit = me->fd_limit;
	st->stream_bytes = sizeof(struct media_stream) + MEDIA_ZONES * sizeof(struct media_sock);
	st->threaded = me->threaded;
	st->thread_cpu = me->thread_cpu;
	media_unlock(me);
}

/* Test and tool hook: sweep period, inactivity timeout, re-latch delay, send mode. */
int media_engine_tune(struct media_engine *me, const struct media_tuning *t)
{
	if (!me || !t)
		return EINVAL;
	media_lock(me);
	if (t->timeout_ms)
		me->timeout_ms = ms_clamp(t->timeout_ms);
	if (t->relatch_ms)
		me->relatch_ms = ms_clamp(t->relatch_ms);
	me->send_single = t->send_single;
	media_unlock(me);
	if (t->sweep_ms && t->sweep_ms != me->sweep_ms) {
		me->sweep_ms = t->sweep_ms;
		event_del(me->sweep);
		return sweep_arm(me);
	}
	return 0;
}

/* How zone runs (see media.h). */
int media_engine_zone(const struct media_engine *me, unsigned zone, struct media_zone_info *zi)
{
	if (!me || !zi || zone >= MEDIA_ZONES)
		return EINVAL;
	memset(zi, 0, sizeof(*zi));
	zi->bypass = me->zone[zone].bypass;
	zi->xdp_mode = me->zone[zone].xdp ? ring_xdp_mode(me->zone[zone].ring) : NULL;
	zi->fallback = me->zone[zone].fallback[0] ? me->zone[zone].fallback : NULL;
	memcpy(&zi->sdp_addr, &me->addr[zone], media_sa_len(&me->addr[zone]));
	return 0;
}

/* The packet ring's and lwIP's counters of a bypass zone (see media.h). */
int media_engine_zone_io(const struct media_engine *me, unsigned zone, struct ring_stats *rs,
			 struct stack_stats *ss)
{
	const struct media_zone *mz;

	if (!me || zone >= MEDIA_ZONES)
		return EINVAL;
	mz = &me->zone[zone];
	if (!mz->bypass || !mz->ring || !mz->stack)
		return ENOENT;
	media_lock(me);
	if (rs)
		ring_stats(mz->ring, rs);
	if (ss)
		stack_stats(mz->stack, ss);
	media_unlock(me);
	return 0;
}
