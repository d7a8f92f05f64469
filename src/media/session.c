/* session: a call's media streams: port pairs on both zones, peers from SDP, stats, inactivity. */
#include <errno.h>
#include <netinet/ip.h>
#include <string.h>
#include <unistd.h>

#include "media_int.h"

/* Unregister and close one socket; fd -1 means it was never opened. */
static void sock_close(struct media_engine *me, struct media_sock *ms)
{
	if (ms->fd == -1)
		return;
	event_del(&ms->ev);
	close(ms->fd);
	ms->fd = -1;
	me->nsockets--;
}

/*
 * Open ms, stream st's socket bound to the zone address and port, and
 * register it for reading with st as the event's argument (the callback
 * tells the stream's sockets apart by descriptor). EADDRINUSE: someone
 * else holds the port (the caller skips the pair); ENOSPC: out of file
 * descriptors. ms->fd stays -1 on error.
 */
static int sock_open(struct media_engine *me, struct media_stream *st, struct media_sock *ms,
		     unsigned zone, uint16_t port)
{
	union media_sa local = me->addr[zone];
	int one = 1, rcvbuf = MEDIA_SOCK_RCVBUF, tos = MEDIA_TOS_EF, fd, err;

	ms->fd = -1;
	fd = socket(local.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errno == EMFILE || errno == ENFILE ? ENOSPC : errno;
	/* no SO_REUSEADDR: a port someone else holds must fail to bind */
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (local.sa.sa_family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_TCLASS, &tos, sizeof(tos));
	} else {
		setsockopt(fd, IPPROTO_IP, IP_TOS, &tos, sizeof(tos));
	}
	media_sa_set_port(&local, port);
	if (bind(fd, &local.sa, media_sa_len(&local)) == -1) {
		err = errno;
		goto out_close;
	}
	memset(&ms->latched, 0, sizeof(ms->latched));
	if (event_assign(&ms->ev, me->base, fd, EV_READ | EV_PERSIST, media_sock_readable, st) ==
		    -1 ||
	    event_add(&ms->ev, NULL) == -1) {
		err = ENOMEM;
		goto out_close;
	}
	ms->fd = fd;
	me->nsockets++;
	return 0;

 out_close:
	close(fd);
	return err;
}

/*
 * A bypass zone binds nothing: the pair is reserved and entered in the
 * zone's port table, which the ring's frames are looked up in.
 */
static int side_open_ring(struct media_engine *me, struct media_stream *st, unsigned zone,
			  struct media_sock *rtcp)
{
	struct media_side *sd = &st->side[zone];
	unsigned pair;
	int err = media_pool_get(&me->pool[zone], &pair);

	if (err)
		return err;
	sd->pair = (uint16_t)pair;
	sd->reserved = true;
	if (rtcp) {
		memset(rtcp, 0, sizeof(*rtcp));
		rtcp->fd = -1;
	}
	sd->rtcp = rtcp;
	media_zone_port_set(&me->zone[zone], pair, st);
	return 0;
}

/*
 * Reserve a pair on zone and bind its RTP port, and its RTCP port into
 * rtcp unless that is NULL (rtcp-mux). A pair whose port is busy goes to
 * the back of the pool and the next is tried, at most once each. ENOSPC:
 * no usable pair.
 */
static int side_open(struct media_engine *me, struct media_stream *st, unsigned zone,
		     struct media_sock *rtcp)
{
	struct media_pool *pool = &me->pool[zone];
	struct media_side *sd = &st->side[zone];
	unsigned tries = pool->nfree;

	if (me->zone[zone].bypass)
		return side_open_ring(me, st, zone, rtcp);

	while (tries--) {
		unsigned pair;
		uint16_t port;
		int err = media_pool_get(pool, &pair);

		if (err)
			return err;
		port = media_pool_port(pool, pair);
		err = sock_open(me, st, &sd->rtp, zone, port);
		if (!err && rtcp) {
			err = sock_open(me, st, rtcp, zone, (uint16_t)(port + 1));
			if (err)
				sock_close(me, &sd->rtp);
		}
		if (err == EADDRINUSE || err == EACCES) {
			me->bind_skipped++;
			media_pool_skip(pool, pair);
			continue;
		}
		if (err) {
			media_pool_put(pool, pair);
			return err;
		}
		sd->pair = (uint16_t)pair;
		sd->rtcp = rtcp;
		sd->reserved = true;
		return 0;
	}
	return ENOSPC;
}

/* Close a zone's sockets and give its pair back to the zone's pool. */
static void side_close(struct media_engine *me, struct media_side *sd, unsigned zone)
{
	bool reserved = sd->reserved;

	sd->reserved = false;
	sock_close(me, &sd->rtp);
	if (sd->rtcp) {
		sock_close(me, sd->rtcp);
		if (sd->rtcp_own)
			mem_deref(sd->rtcp);
		sd->rtcp = NULL;
	}
	if (reserved) {
		media_zone_port_set(&me->zone[zone], sd->pair, NULL);
		media_pool_put(&me->pool[zone], sd->pair);
	}
}

/* The local RTP port of a zone's side. */
static uint16_t side_port(const struct media_engine *me, const struct media_side *sd,
			  unsigned zone)
{
	return media_pool_port(&me->pool[zone], sd->pair);
}

/* Destructor: both zones' sockets closed and pairs released (also for a half-opened stream). */
static void stream_destroy(void *data)
{
	struct media_stream *st = data;
	struct media_engine *me = st->sess->me;

	for (unsigned z = 0; z < MEDIA_ZONES; z++)
		side_close(me, &st->side[z], z);
	me->nstreams--;
}

/* Stream idx of a session, or NULL. */
static struct media_stream *stream_find(const struct media_session *s, unsigned idx)
{
	struct media_stream *st;

	for (st = s->streams; st && st->idx != idx; st = st->next)
		;
	return st;
}

/* Close every stream, unlink from the engine and drop the engine reference. */
static void session_destroy(void *data)
{
	struct media_session *s = data;
	struct media_engine *me = s->me;

	media_lock(me);
	while (s->streams) {
		struct media_stream *st = s->streams;

		s->streams = st->next;
		mem_deref(st);
	}
	if (s->prev)
		s->prev->next = s->next;
	else
		me->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	me->nsessions--;
	media_unlock(me);
	mem_deref(me);   /* unlocked: the last reference ends the media thread */
}

/* A session for one call, linked into the engine's sweep list. */
int media_session_alloc(struct media_session **sp, struct media_engine *me,
			media_timeout_h *th, void *arg)
{
	struct media_session *s;

	if (!sp || !me)
		return EINVAL;
	if (me->nsessions >= me->cfg.max_streams)
		return ENOSPC;
	s = mem_zalloc(sizeof(*s), session_destroy);
	if (!s)
		return ENOMEM;
	media_lock(me);
	s->me = mem_ref(me);
	s->th = th;
	s->arg = arg;
	s->next = me->sessions;
	if (me->sessions)
		me->sessions->prev = s;
	me->sessions = s;
	me->nsessions++;
	media_unlock(me);
	*sp = s;
	return 0;
}

/*
 * Reserve and bind the stream's ports on both zones (see media.h). Without
 * rtcp-mux the two RTCP sockets come in the same allocation as the stream.
 */
static int stream_open(struct media_session *s, unsigned idx, bool rtcp_mux,
		       uint16_t port[MEDIA_ZONES])
{
	struct media_engine *me;
	struct media_stream *st;
	size_t size = sizeof(*st);
	int err;

	if (!s || idx >= MEDIA_MAX_STREAMS || !port)
		return EINVAL;
	me = s->me;
	st = stream_find(s, idx);
	if (st) {
		for (unsigned z = 0; z < MEDIA_ZONES; z++)
			port[z] = side_port(me, &st->side[z], z);
		return 0;
	}
	if (me->nstreams >= me->cfg.max_streams)
		return ENOSPC;
	if (!rtcp_mux)
		size += MEDIA_ZONES * sizeof(st->rtcp_tail[0]);
	st = mem_zalloc(size, stream_destroy);
	if (!st)
		return ENOMEM;
	st->sess = s;
	st->idx = (uint8_t)idx;
	for (unsigned z = 0; z < MEDIA_ZONES; z++)
		st->side[z].rtp.fd = -1;
	me->nstreams++;
	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		err = side_open(me, st, z, rtcp_mux ? NULL : &st->rtcp_tail[z]);
		if (err)
			goto out_free;
	}
	st->last_rx_ms = (uint32_t)time_mono_ms();
	st->next = s->streams;
	s->streams = st;
	for (unsigned z = 0; z < MEDIA_ZONES; z++)
		port[z] = side_port(me, &st->side[z], z);
	return 0;

 out_free:
	mem_deref(st);
	return err;
}

/*
 * Opened with rtcp-mux, but zone's peer wants RTCP apart: bind RTP + 1 on
 * a socket of its own if the port is still free. Failing that, RTCP to
 * that peer leaves by the RTP port.
 */
static void rtcp_bind_late(struct media_engine *me, struct media_stream *st, unsigned zone)
{
	struct media_side *sd = &st->side[zone];
	uint16_t port = (uint16_t)(side_port(me, sd, zone) + 1);
	struct media_sock *ms = mem_zalloc(sizeof(*ms), NULL);
	int err = ENOMEM;

	if (ms && me->zone[zone].bypass) {
		ms->fd = -1;    /* nothing to bind: the port table finds it */
		err = 0;
	} else if (ms) {
		err = sock_open(me, st, ms, zone, port);
	}

	if (err) {
		mem_deref(ms);
		log_debug("media: RTCP port %u not bound (%s): RTCP leaves by the RTP port",
			  (unsigned)port, strerror(err));
		return;
	}
	sd->rtcp = ms;
	sd->rtcp_own = true;
}

/* Copy an optional address; AF_UNSPEC leaves *set false. EINVAL: another family. */
static int peer_addr(struct media_addr *d, bool *set, const struct sockaddr_storage *s)
{
	*set = s->ss_family != AF_UNSPEC;
	if (!*set) {
		memset(d, 0, sizeof(*d));
		return 0;
	}
	return media_addr_set(d, s) ? EINVAL : 0;
}

/* Forget a socket's latched source: the next allowed packet latches anew. */
static void sock_unlatch(struct media_sock *ms)
{
	if (ms)
		memset(&ms->latched, 0, sizeof(ms->latched));
}

/*
 * Record zone's peer (see media.h). The public zone's peer is taken to be
 * behind NAT when its SDP address is private and its signalling came from
 * another IP: nothing is sent to it until its first packet latches.
 * Policing runs at policing_factor x expected_pps for RTP and at
 * policing_factor x MEDIA_RTCP_PPS for RTCP; the buckets start full again
 * only when those rates change.
 */
static int stream_peer(struct media_session *s, unsigned idx, unsigned zone,
		       const struct media_peer *peer)
{
	struct media_engine *me;
	struct media_stream *st;
	struct media_side *sd;
	struct media_addr rtp, rtcp, sig;
	bool have_rtcp, have_sig, have_rtp, on;
	uint32_t now = (uint32_t)time_mono_ms(), f, rate;

	if (!s || !peer || idx >= MEDIA_MAX_STREAMS || zone >= MEDIA_ZONES)
		return EINVAL;
	st = stream_find(s, idx);
	if (!st)
		return EINVAL;
	me = s->me;
	sd = &st->side[zone];
	if (peer_addr(&rtp, &have_rtp, &peer->rtp))
		return EINVAL;
	if (!have_rtp && peer->hold) {
		/* c=0.0.0.0 style hold without an address: keep what was known */
		sd->hold = true;
		sd->peer_set = true;
		st->last_rx_ms = now;
		return 0;
	}
	if (!have_rtp || rtp.af != me->addr[zone].sa.sa_family ||
	    peer_addr(&rtcp, &have_rtcp, &peer->rtcp) || (have_rtcp && rtcp.af != rtp.af) ||
	    peer_addr(&sig, &have_sig, &peer->sig_src))
		return EINVAL;
	if (!have_rtcp) {
		rtcp = rtp;
		media_addr_set_port(&rtcp, (uint16_t)(media_addr_port(&rtp) + 1));
	}
	/* a new address or signalling source forgets the latched sources */
	if (!sd->peer_set || !media_addr_eq(&sd->sdp_rtp, &rtp) || sig.af != sd->sig_src.af ||
	    (have_sig && !media_addr_eq_ip(&sig, &sd->sig_src))) {
		sock_unlatch(&sd->rtp);
		sock_unlatch(sd->rtcp);
	} else if (!media_addr_eq(&sd->sdp_rtcp, &rtcp)) {
		sock_unlatch(sd->rtcp);
	}
	sd->sdp_rtp = rtp;
	sd->sdp_rtcp = rtcp;
	sd->sig_src = sig;
	sd->hold = peer->hold || media_addr_is_any(&rtp) || !media_addr_port(&rtp);
	sd->rtcp_mux = peer->rtcp_mux;
	sd->nat = zone == ZONE_PUBLIC && have_sig && !media_addr_eq_ip(&sig, &rtp) &&
		  media_addr_is_private(&rtp);
	sd->clock_rate = peer->clock_rate;
	on = me->cfg.policing && peer->expected_pps;
	f = me->cfg.policing_factor ? me->cfg.policing_factor : 1;
	rate = on ? (uint32_t)MIN((uint64_t)peer->expected_pps * f, (uint64_t)MEDIA_RATE_MAX) : 0;
	if (!sd->peer_set || sd->bucket[MEDIA_RTP].rate != rate) {
		media_bucket_set(&sd->bucket[MEDIA_RTP], rate, now);
		media_bucket_set(&sd->bucket[MEDIA_RTCP], on ? MEDIA_RTCP_PPS * f : 0, now);
	}
	if (!peer->rtcp_mux && !sd->rtcp)
		rtcp_bind_late(me, st, zone);
	if (!sd->hold && !sd->nat)
		media_nh_prepare(me, sd, zone, &sd->sdp_rtp, now);
	sd->peer_set = true;
	st->last_rx_ms = now;
	return 0;
}

/* The entry points: the engine's lock around the work (media_lock). */
int media_stream_open(struct media_session *s, unsigned idx, bool rtcp_mux,
		      uint16_t port[MEDIA_ZONES])
{
	int err;

	if (!s)
		return EINVAL;
	media_lock(s->me);
	err = stream_open(s, idx, rtcp_mux, port);
	media_unlock(s->me);
	return err;
}

int media_stream_peer(struct media_session *s, unsigned idx, unsigned zone,
		      const struct media_peer *peer)
{
	int err;

	if (!s)
		return EINVAL;
	media_lock(s->me);
	err = stream_peer(s, idx, zone, peer);
	media_unlock(s->me);
	return err;
}

/* Close stream idx and give its pairs back; a later open gets new ports. */
void media_stream_close(struct media_session *s, unsigned idx)
{
	struct media_stream **pp;

	if (!s || idx >= MEDIA_MAX_STREAMS)
		return;
	media_lock(s->me);
	for (pp = &s->streams; *pp; pp = &(*pp)->next) {
		struct media_stream *st = *pp;

		if (st->idx == idx) {
			*pp = st->next;
			mem_deref(st);
			break;
		}
	}
	media_unlock(s->me);
}

/* A snapshot of stream idx's counters (see media.h). */
int media_stream_stats(const struct media_session *s, unsigned idx,
		       struct media_stream_stats *st)
{
	const struct media_stream *m;

	if (!s || !st || idx >= MEDIA_MAX_STREAMS)
		return EINVAL;
	media_lock(s->me);
	m = stream_find(s, idx);
	if (!m) {
		media_unlock(s->me);
		return ENOENT;
	}
	memset(st, 0, sizeof(*st));
	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		const struct media_side *sd = &m->side[z];

		st->packets[z] = sd->packets;
		st->bytes[z] = sd->bytes;
		st->rtcp_packets[z] = sd->rtcp_packets;
		st->relayed[z] = sd->relayed;
		st->dropped_source[z] = sd->dropped_source;
		st->dropped_policing[z] = sd->dropped_policing;
		st->dropped_no_dest[z] = sd->dropped_no_dest;
		st->dropped_no_neighbour[z] = media_zone_no_neighbour(s->me, m, z);
		st->lost[z] = media_rtpstat_lost(&sd->stat);
		st->jitter_ms[z] = media_rtpstat_jitter_ms(&sd->stat, sd->clock_rate);
		st->latched[z] = sd->rtp.latched.af != AF_UNSPEC;
		media_addr_get(&st->latched_addr[z], &sd->rtp.latched, &s->me->addr[z]);
		st->port[z] = side_port(s->me, sd, z);
	}
	media_unlock(s->me);
	return 0;
}

/* Both peers known and neither on hold: media is expected to flow. */
static bool stream_active(const struct media_stream *st)
{
	return st->side[0].peer_set && st->side[1].peer_set && !st->side[0].hold &&
	       !st->side[1].hold;
}

/*
 * Report each session whose active streams all received nothing for the
 * timeout (a session without an active stream is left alone). The handler
 * may free the session it is given, so the next one is taken first. The
 * idle time is a difference on the ms clock modulo 2^32: a stream whose
 * last_rx_ms lies ahead of now (set by media_stream_peer during this loop
 * turn) reads as negative, that is as not idle.
 */
void media_engine_sweep(struct media_engine *me, uint64_t now_ms)
{
	struct media_session *s, *next;

	media_lock(me);
	for (s = me->sessions; s; s = next) {
		bool active = false, idle = true;

		next = s->next;
		if (s->timed_out)
			continue;
		for (const struct media_stream *st = s->streams; st; st = st->next) {
			uint32_t quiet = (uint32_t)now_ms - st->last_rx_ms;

			if (!stream_active(st))
				continue;
			active = true;
			if ((int32_t)quiet <= 0 || quiet < me->timeout_ms)
				idle = false;
		}
		if (!active || !idle)
			continue;
		s->timed_out = true;
		me->timeouts++;
		if (s->th)
			s->th(s, s->arg);
	}
	media_unlock(me);
}
