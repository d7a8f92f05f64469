/* relay: the hot path: drain a stream socket with recvmmsg, check source and rate, relay with sendmmsg. */
#include <errno.h>
#include <string.h>

#include "media_int.h"

/* Where a packet may latch: the SDP addresses' IPs and the signalling source's IP. */
static bool source_allowed(const struct media_side *in, const union media_sa *src)
{
	return media_addr_eq_ip_sa(&in->sdp_rtp, src) ||
	       media_addr_eq_ip_sa(&in->sdp_rtcp, src) || media_addr_eq_ip_sa(&in->sig_src, src);
}

/*
 * Latching and strict source. Before the zone's peer is known nothing is
 * accepted. The first packet from an allowed IP (any port) latches the
 * socket; with strict_source off, the first packet from anywhere does.
 * Afterwards only the latched address is accepted (strict), unless it has
 * been silent for the re-latch delay (MEDIA_RELATCH_MS) and the newcomer's IP is allowed (a NAT
 * that rebound the phone's port). With strict_source off, packets from
 * other sources are relayed but the latch stays. Times are ms modulo 2^32:
 * a source silent for a multiple of 49.7 days may wait up to the re-latch
 * delay longer.
 */
static bool source_check(const struct media_engine *me, const struct media_side *in,
			 struct media_sock *ms, const union media_sa *src, uint32_t now_ms)
{
	if (!in->peer_set)
		return false;
	if (ms->latched.af != AF_UNSPEC) {
		if (media_addr_eq_sa(&ms->latched, src)) {
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
	media_addr_from_sa(&ms->latched, src);
	ms->latched_rx_ms = now_ms;
	return true;
}

/*
 * The socket and address a packet leaves by towards side out, or NULL:
 * peer unknown or on hold, or a NAT peer whose source is not latched yet
 * (its SDP address is private and unreachable).
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

/*
 * Send tx[0..n) out of fd: one sendmmsg per batch (or one sendmsg per
 * packet when tuned so). A datagram the kernel refuses is dropped and
 * counted, never retried later: RTP is real time.
 */
static void flush(struct media_engine *me, int fd, unsigned n, struct media_side *in)
{
	unsigned done = 0;

	if (me->send_single) {
		for (unsigned i = 0; i < n; i++) {
			if (sendmsg(fd, &me->tx[i].msg_hdr, MSG_DONTWAIT) == -1)
				me->tx_errors++;
			else
				done++;
		}
		in->relayed += done;
		me->relayed += done;
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
			if (done < n)
				memmove(&me->tx[done], &me->tx[done + 1],
					(n - done) * sizeof(me->tx[0]));
			continue;
		}
		done += (unsigned)r;
		in->relayed += (unsigned)r;
		me->relayed += (unsigned)r;
	}
}

/* RTP clock units of a microsecond time, modulo 2^32 (consistent, so differences hold). */
static uint32_t rtp_units(uint64_t now_us, uint32_t clock_rate)
{
	return (uint32_t)(((unsigned __int128)now_us * clock_rate) / 1000000u);
}

/*
 * Classify, police, count and queue n received datagrams of socket ms,
 * stream st's socket on zone; kind says whether it is an RTCP port.
 */
static void relay_batch(struct media_engine *me, struct media_stream *st, struct media_sock *ms,
			unsigned zone, unsigned kind, unsigned n, uint64_t now_us)
{
	struct media_side *in = &st->side[zone], *out = &st->side[!zone];
	uint32_t now_ms = (uint32_t)(now_us / 1000);
	uint32_t arrival = rtp_units(now_us, in->clock_rate);
	const struct media_addr *last_dst = NULL;
	unsigned ntx = 0, nto = 0;
	socklen_t tolen = 0;
	int txfd = -1;
	bool police = me->cfg.policing;

	for (unsigned i = 0; i < n; i++) {
		size_t len = me->rx[i].msg_len;
		uint8_t *p = (uint8_t *)me->slots[i] + MEDIA_HEADROOM;
		const struct media_addr *dst;
		struct media_sock *os;
		bool rtcp;

		in->packets++;
		in->bytes += len;
		if (me->rx[i].msg_hdr.msg_flags & MSG_TRUNC) {
			me->dropped_truncated++;
			continue;
		}
		if (!source_check(me, in, ms, &me->from[i], now_ms)) {
			in->dropped_source++;
			me->dropped_source++;
			continue;
		}
		rtcp = kind == MEDIA_RTCP || media_pkt_is_rtcp(p, len);
		if (rtcp)
			in->rtcp_packets++;
		if (police && !media_bucket_take(&in->bucket[rtcp], now_ms)) {
			in->dropped_policing++;
			me->dropped_policing++;
			continue;
		}
		st->last_rx_ms = now_ms;
		if (!rtcp && media_pkt_is_rtp(p, len)) {
			uint32_t ts, ssrc;

			memcpy(&ts, p + 4, 4);
			memcpy(&ssrc, p + 8, 4);
			media_rtpstat_update(&in->stat, ntohl(ssrc), (uint16_t)(p[2] << 8 | p[3]),
					     ntohl(ts), arrival, in->clock_rate != 0);
		}
		os = route(out, rtcp, &dst);
		if (!os) {
			in->dropped_no_dest++;
			me->dropped_no_dest++;
			continue;
		}
		if (os->fd != txfd && ntx) {
			flush(me, txfd, ntx, in);
			ntx = 0;
		}
		txfd = os->fd;
		/* the kernel form of dst, made once per destination and batch (one or two) */
		if (dst != last_dst) {
			tolen = media_addr_to_sa(&me->to[nto++], dst, &me->addr[!zone]);
			last_dst = dst;
		}
		me->txiov[ntx].iov_base = p;
		me->txiov[ntx].iov_len = len;
		me->tx[ntx].msg_hdr.msg_name = &me->to[nto - 1];
		me->tx[ntx].msg_hdr.msg_namelen = tolen;
		me->tx[ntx].msg_hdr.msg_iov = &me->txiov[ntx];
		me->tx[ntx].msg_hdr.msg_iovlen = 1;
		ntx++;
	}
	if (ntx)
		flush(me, txfd, ntx, in);
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
	ms = sock_of(st, fd, &zone, &kind);
	if (!ms)
		return;
	for (int b = 0; b < MEDIA_BATCHES_PER_WAKE; b++) {
		int n = recvmmsg(fd, me->rx, MEDIA_BATCH, MSG_DONTWAIT, NULL);

		if (n <= 0)
			return;
		me->rx_packets += (unsigned)n;
		relay_batch(me, st, ms, zone, kind, (unsigned)n, time_mono_ns() / 1000);
		for (int i = 0; i < n; i++) {
			me->rx[i].msg_hdr.msg_namelen = sizeof(me->from[i]);
			me->rx[i].msg_hdr.msg_flags = 0;
		}
		if (n < MEDIA_BATCH)
			return;
	}
}
