/* relay: the per-packet path both backends share (source, policing, stats, destination), and the socket backend's recvmmsg/sendmmsg. */
#include <errno.h>
#include <string.h>

#include "media_int.h"

/* Where a packet may latch: the SDP addresses' IPs and the signalling source's IP. */
static bool source_allowed(const struct media_side *in, const struct media_addr *src)
{
	return media_addr_eq_ip(&in->sdp_rtp, src) || media_addr_eq_ip(&in->sdp_rtcp, src) ||
	       media_addr_eq_ip(&in->sig_src, src);
}

/*
 * Latching and strict source. Before the zone's peer is known nothing is
 * accepted. The first packet from an allowed IP (any port) latches the
 * port; with strict_source off, the first packet from anywhere does.
 * Afterwards only the latched address is accepted (strict), unless it has
 * been silent for the re-latch delay (MEDIA_RELATCH_MS) and the newcomer's IP is allowed (a NAT
 * that rebound the phone's port). With strict_source off, packets from
 * other sources are relayed but the latch stays. Times are ms modulo 2^32:
 * a source silent for a multiple of 49.7 days may wait up to the re-latch
 * delay longer.
 */
static bool source_check(const struct media_engine *me, const struct media_side *in,
			 struct media_sock *ms, const struct media_addr *src, uint32_t now_ms)
{
	if (!in->peer_set)
		return false;
	if (ms->latched.af != AF_UNSPEC) {
		if (media_addr_eq(&ms->latched, src)) {
			ms->latched_rx_ms = now_ms;
			return true;
		}
		if (!me->cfg.strict_source)
			return true;
		if (now_ms - ms->latched_rx_ms < me->relatch_ms || !source_allowed(in, src))
			return false;
	} else if (me->cfg.strict_source && !source_allowed(in, src)) {
		return false;
	}
	ms->latched = *src;
	ms->latched_rx_ms = now_ms;
	return true;
}

/*
 * The port (socket) and address a packet leaves by towards side out, or
 * NULL: peer unknown or on hold, or a NAT peer whose source is not latched
 * yet (its SDP address is private and unreachable).
 */
static struct media_sock *route(struct media_side *out, bool rtcp, const struct media_addr **dst)
{
	struct media_sock *ms;

	if (!out->peer_set || out->hold)
		return NULL;
	if (!rtcp || out->rtcp_mux) {
		ms = &out->rtp;
		*dst = ms->latched.af ? &ms->latched : out->nat ? NULL : &out->sdp_rtp;
	} else if (out->rtcp) {
		ms = out->rtcp;
		*dst = ms->latched.af ? &ms->latched : out->nat ? NULL : &out->sdp_rtcp;
	} else {
		/* RTCP port not bound: from the RTP port to the peer's RTCP address */
		ms = &out->rtp;
		*dst = out->nat ? NULL : &out->sdp_rtcp;
	}
	return *dst ? ms : NULL;
}

/* RTP clock units of a microsecond time, modulo 2^32 (consistent, so differences hold). */
static uint32_t rtp_units(uint64_t now_us, uint32_t clock_rate)
{
	return (uint32_t)(((unsigned __int128)now_us * clock_rate) / 1000000u);
}

/*
 * The per-packet path both backends share: one received packet (p, len:
 * the UDP payload) of stream st, arrived on zone's port ms (kind: its RTP
 * or RTCP port) from src. Counts it, checks the source (latching), polices
 * it, updates the RTP statistics and picks where it goes: the other
 * side's port it leaves by, with *dst. NULL: dropped (counted).
 */
struct media_sock *media_pkt_in(struct media_engine *me, struct media_stream *st, unsigned zone,
				struct media_sock *ms, unsigned kind,
				const struct media_addr *src, const uint8_t *p, size_t len,
				uint64_t now_us, const struct media_addr **dst)
{
	struct media_side *in = &st->side[zone], *out = &st->side[!zone];
	uint32_t now_ms = (uint32_t)(now_us / 1000);
	struct media_sock *os;
	bool rtcp;

	in->packets++;
	in->bytes += len;
	if (!source_check(me, in, ms, src, now_ms)) {
		in->dropped_source++;
		me->dropped_source++;
		return NULL;
	}
	rtcp = kind == MEDIA_RTCP || media_pkt_is_rtcp(p, len);
	if (rtcp)
		in->rtcp_packets++;
	if (me->cfg.policing && !media_bucket_take(&in->bucket[rtcp], now_ms)) {
		in->dropped_policing++;
		me->dropped_policing++;
		return NULL;
	}
	st->last_rx_ms = now_ms;
	if (!rtcp && media_pkt_is_rtp(p, len)) {
		uint32_t ts, ssrc;

		memcpy(&ts, p + 4, 4);
		memcpy(&ssrc, p + 8, 4);
		media_rtpstat_update(&in->stat, ntohl(ssrc), (uint16_t)(p[2] << 8 | p[3]), ntohl(ts),
				     rtp_units(now_us, in->clock_rate), in->clock_rate != 0);
	}
	os = route(out, rtcp, dst);
	if (!os) {
		in->dropped_no_dest++;
		me->dropped_no_dest++;
	}
	return os;
}

/*
 * Send the socket queue out of its socket: one sendmmsg per batch (or one
 * sendmsg per packet when tuned so). A datagram the kernel refuses is
 * dropped and counted, never retried later: RTP is real time.
 */
void media_txq_flush(struct media_engine *me)
{
	unsigned done = 0, n = me->ntx;
	int fd = me->txfd;

	me->ntx = 0;
	me->nto = 0;
	me->last_dst = NULL;
	if (me->send_single) {
		for (unsigned i = 0; i < n; i++) {
			if (sendmsg(fd, &me->tx[i].msg_hdr, MSG_DONTWAIT) == -1) {
				me->tx_errors++;
				continue;
			}
			me->txside[i]->relayed++;
			me->relayed++;
		}
		return;
	}
	while (done < n) {
		int r = sendmmsg(fd, me->tx + done, n - done, MSG_DONTWAIT);

		if (r == -1) {
			/* the packet at done failed: skip it, unless the socket is full */
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) {
				me->tx_errors += n - done;
				break;
			}
			me->tx_errors++;
			n--;
			if (done < n) {
				memmove(&me->tx[done], &me->tx[done + 1],
					(n - done) * sizeof(me->tx[0]));
				memmove(&me->txside[done], &me->txside[done + 1],
					(n - done) * sizeof(me->txside[0]));
			}
			continue;
		}
		for (int i = 0; i < r; i++)
			me->txside[done + (unsigned)i]->relayed++;
		done += (unsigned)r;
		me->relayed += (unsigned)r;
	}
}

/*
 * Queue one datagram (p, len; it must stay put until the flush) to dst out
 * of socket fd, on zone_out, for side in's counters. The queue is flushed
 * first when it is full or goes out of another socket.
 */
void media_txq_add(struct media_engine *me, int fd, struct media_side *in,
		   const struct media_addr *dst, unsigned zone_out, uint8_t *p, size_t len)
{
	unsigned i;

	if (me->ntx && (fd != me->txfd || me->ntx == MEDIA_BATCH))
		media_txq_flush(me);
	me->txfd = fd;
	/* the kernel form of dst, made once per destination and batch (one or two) */
	if (dst != me->last_dst) {
		me->tolen = media_addr_to_sa(&me->to[me->nto++], dst, &me->addr[zone_out]);
		me->last_dst = dst;
	}
	i = me->ntx++;
	me->txiov[i].iov_base = p;
	me->txiov[i].iov_len = len;
	me->tx[i].msg_hdr.msg_name = &me->to[me->nto - 1];
	me->tx[i].msg_hdr.msg_namelen = me->tolen;
	me->tx[i].msg_hdr.msg_iov = &me->txiov[i];
	me->tx[i].msg_hdr.msg_iovlen = 1;
	me->txside[i] = in;
}

/*
 * Check and queue n received datagrams of socket ms, stream st's socket on
 * zone; kind says whether it is an RTCP port. Packets towards a bypass
 * zone go to its ring (headers built in the slot's head room).
 */
static void relay_batch(struct media_engine *me, struct media_stream *st, struct media_sock *ms,
			unsigned zone, unsigned kind, unsigned n, uint64_t now_us)
{
	struct media_side *in = &st->side[zone];
	bool ring_out = me->zone[!zone].bypass;

	for (unsigned i = 0; i < n; i++) {
		size_t len = me->rx[i].msg_len;
		uint8_t *p = (uint8_t *)me->slots[i] + MEDIA_HEADROOM;
		const struct media_addr *dst;
		struct media_addr src;
		struct media_sock *os;

		if (me->rx[i].msg_hdr.msg_flags & MSG_TRUNC) {
			in->packets++;
			in->bytes += len;
			me->dropped_truncated++;
			continue;
		}
		media_addr_from_sa(&src, &me->from[i]);
		os = media_pkt_in(me, st, zone, ms, kind, &src, p, len, now_us, &dst);
		if (!os)
			continue;
		if (ring_out)
			media_ring_send(me, in, st, !zone, os, dst, p, len,
					(uint32_t)(now_us / 1000));
		else
			media_txq_add(me, os->fd, in, dst, !zone, p, len);
	}
	if (me->ntx)
		media_txq_flush(me);
	if (ring_out)
		media_ring_flush(me);
}

/* Which of stream st's sockets fd is: its zone and kind. NULL: none (closed meanwhile). */
static struct media_sock *sock_of(struct media_stream *st, evutil_socket_t fd, unsigned *zone,
				  unsigned *kind)
{
	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		struct media_side *sd = &st->side[z];

		*zone = z;
		*kind = MEDIA_RTP;
		if (sd->rtp.fd == fd)
			return &sd->rtp;
		*kind = MEDIA_RTCP;
		if (sd->rtcp && sd->rtcp->fd == fd)
			return sd->rtcp;
	}
	return NULL;
}

/*
 * A stream socket is readable (arg is the stream; fd says which socket):
 * up to MEDIA_BATCHES_PER_WAKE recvmmsg batches, so one flooded port
 * cannot starve the others. The clock is read once per batch. Packets are
 * relayed in place from the receive slots (after MEDIA_HEADROOM); nothing
 * is allocated. recvmmsg writes back the address length and flags of the
 * slots it fills only, so only those are reset for the next call (all 32
 * cost more than the rest of a one-packet wake-up).
 */
void media_sock_readable(evutil_socket_t fd, short what, void *arg)
{
	struct media_stream *st = arg;
	struct media_engine *me = st->sess->me;
	struct media_sock *ms;
	unsigned zone, kind;

	(void)what;
	media_lock(me);
	ms = sock_of(st, fd, &zone, &kind);
	for (int b = 0; ms && b < MEDIA_BATCHES_PER_WAKE; b++) {
		int n = recvmmsg(fd, me->rx, MEDIA_BATCH, MSG_DONTWAIT, NULL);

		if (n <= 0)
			break;
		me->rx_packets += (unsigned)n;
		relay_batch(me, st, ms, zone, kind, (unsigned)n, time_mono_ns() / 1000);
		for (int i = 0; i < n; i++) {
			me->rx[i].msg_hdr.msg_namelen = sizeof(me->from[i]);
			me->rx[i].msg_hdr.msg_flags = 0;
		}
		if (n < MEDIA_BATCH)
			break;
	}
	media_unlock(me);
}
