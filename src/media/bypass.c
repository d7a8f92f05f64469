/* bypass: the ring backend of a zone: frames through a packet ring, rewritten in place, lwIP for the rest. */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/frame.h"
#include "media/ring.h"
#include "media/stack.h"
#include "net/net.h"
#include "media_int.h"

/* lwIP's frames (ARP, echo replies) leave by a packet socket of their own: sendh is thread-safe. */
static int slow_send(const void *frame, size_t len, void *arg)
{
	struct media_zone *zn = arg;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = zn->ifindex,
				   .sll_halen = ETH_ALEN };

	memcpy(sll.sll_addr, frame, ETH_ALEN);
	if (sendto(zn->slow_fd, frame, len, MSG_DONTWAIT, (struct sockaddr *)&sll, sizeof(sll)) ==
	    -1)
		return errno;
	return 0;
}

/*
 * The prefix length of the kernel's IPv4 subnet on ifname that contains
 * own (the owned address lives in that subnet); *on_kernel when the kernel
 * has own itself on any interface (then it would answer ARP for it too).
 * ENOENT: no such subnet on ifname.
 */
static int kernel_subnet(const char *ifname, uint32_t own, unsigned *prefix, char *on_kernel,
			 size_t sz)
{
	struct ifaddrs *ifa, *i;
	int err = ENOENT;

	on_kernel[0] = '\0';
	if (getifaddrs(&ifa) == -1)
		return errno;
	for (i = ifa; i; i = i->ifa_next) {
		uint32_t a, m;

		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !i->ifa_netmask)
			continue;
		a = ((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr;
		m = ((struct sockaddr_in *)(void *)i->ifa_netmask)->sin_addr.s_addr;
		if (a == own)
			snprintf(on_kernel, sz, "%s", i->ifa_name);
		if (!strcmp(i->ifa_name, ifname) && (a & m) == (own & m) && err) {
			*prefix = (unsigned)__builtin_popcount(m);
			err = 0;
		}
	}
	freeifaddrs(ifa);
	return err;
}

static int why(struct media_zone *zn, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A reason into the zone's fallback text; returns code. */
static int why(struct media_zone *zn, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(zn->fallback, sizeof(zn->fallback), fmt, ap);
	va_end(ap);
	return code;
}

static void ring_readable(evutil_socket_t fd, short what, void *arg);

static const char *const zone_table[MEDIA_ZONES] = { "sbc_media_public", "sbc_media_private" };

/*
 * The kernel sees every frame the ring takes (the tap comes first) and
 * would route each one to the owned address it does not have, only to
 * drop it: a netdev ingress rule drops them before that, after the ring
 * has its copy. Without nftables the zone runs anyway, at that cost.
 */
static void ingress_drop_add(struct media_zone *zn, const char *ifname, const char *ip)
{
	char script[512];
	int err;

	snprintf(script, sizeof(script),
		 "add table netdev %s\n"
		 "delete table netdev %s\n"
		 "table netdev %s {\n"
		 " chain ingress {\n"
		 "  type filter hook ingress device \"%s\" priority -500; policy accept;\n"
		 "  ip daddr %s counter drop\n"
		 " }\n"
		 "}\n", zone_table[zn->id], zone_table[zn->id], zone_table[zn->id], ifname, ip);
	err = net_nft_run(NULL, script);
	if (err) {
		log_warn("media: %s zone: no nftables ingress drop for %s (%s): the kernel also routes each media frame",
			 zn->id ? "private" : "public", ip,
			 err == ENOENT ? "nft not installed" : "nft refused the table");
		return;
	}
	zn->ingress_drop = true;
}

static void ingress_drop_remove(struct media_zone *zn)
{
	char script[128];

	if (!zn->ingress_drop)
		return;
	snprintf(script, sizeof(script), "delete table netdev %s\n", zone_table[zn->id]);
	if (net_nft_run(NULL, script))
		log_warn("media: could not remove the nftables table %s", zone_table[zn->id]);
	zn->ingress_drop = false;
}

/*
 * The ring (of kind: the pcap one, or AF_XDP) and lwIP behind zone zn's
 * owned address; on error zn->fallback says why.
 */
int media_zone_bypass_start(struct media_zone *zn, const struct media_zone_cfg *zc,
			    enum ring_kind kind)
{
	struct media_engine *me = zn->me;
	struct ring_opts ro = { .kind = kind, .has4 = true };
	struct stack_opts so = { .ifname = zc->ifname, .sendh = slow_send, .arg = zn };
	char ip[INET_ADDRSTRLEN] = "", kif[IFNAMSIZ], err[256];
	uint32_t own;
	int rc;

	if (zc->own_addr.ss_family != AF_INET)
		return why(zn, EAFNOSUPPORT, "IPv6 media_address not supported");
	own = ((const struct sockaddr_in *)(const void *)&zc->own_addr)->sin_addr.s_addr;
	inet_ntop(AF_INET, &own, ip, sizeof(ip));
	rc = kernel_subnet(zc->ifname, own, &so.prefixlen, kif, sizeof(kif));
	if (kif[0])
		return why(zn, EADDRINUSE, "%s is configured on the kernel's interface %s", ip, kif);
	if (rc == ENOENT)
		return why(zn, rc, "no IPv4 subnet of %s contains %s", zc->ifname, ip);
	if (rc)
		return why(zn, rc, "%s: %s", zc->ifname, strerror(rc));
	ro.addr4.s_addr = own;
	ro.port_min = me->pool[zn->id].first;
	ro.port_max = (uint16_t)(me->pool[zn->id].first + me->pool[zn->id].npairs * 2 - 1);
	rc = ring_open(&zn->ring, zc->ifname, &ro, err, sizeof(err));
	if (rc)
		return why(zn, rc, "%s: %s", kind == RING_XDP ? "xdp" : "ring", err);
	zn->ifindex = ring_ifindex(zn->ring);
	memcpy(zn->mac, ring_mac(zn->ring), sizeof(zn->mac));
	zn->slow_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (zn->slow_fd == -1)
		return why(zn, errno, "packet socket: %s", strerror(errno));
	memcpy(so.mac, zn->mac, sizeof(so.mac));
	so.addr = zc->own_addr;
	rc = stack_alloc(&zn->stack, &so);
	if (rc)
		return why(zn, rc, "lwIP: %s", strerror(rc));
	zn->ports = calloc(me->pool[zn->id].npairs, sizeof(*zn->ports));
	if (!zn->ports)
		return why(zn, ENOMEM, "out of memory");
	zn->ev = event_new(me->base, ring_fd(zn->ring), EV_READ | EV_PERSIST, ring_readable, zn);
	if (!zn->ev || event_add(zn->ev, NULL) == -1)
		return why(zn, ENOMEM, "no event");
	if (kind != RING_XDP)	/* redirected frames never reach the kernel */
		ingress_drop_add(zn, zc->ifname, ip);
	zn->bypass = true;
	zn->xdp = kind == RING_XDP;
	zn->fallback[0] = '\0';
	return 0;
}

/* Stop zn's backend (also a half-started one). lwIP's interface leaves after its queued work. */
void media_zone_close(struct media_zone *zn)
{
	ingress_drop_remove(zn);
	if (zn->ev)
		event_free(zn->ev);
	zn->ev = NULL;
	zn->stack = mem_deref(zn->stack);
	zn->ring = ring_close(zn->ring);
	if (zn->slow_fd != -1)
		close(zn->slow_fd);
	zn->slow_fd = -1;
	free(zn->ports);
	zn->ports = NULL;
	zn->bypass = false;
	zn->xdp = false;
}

/* Pair `pair` of the zone's pool now belongs to st (NULL: free again). */
void media_zone_port_set(struct media_zone *zn, unsigned pair, struct media_stream *st)
{
	if (zn->ports && pair < zn->me->pool[zn->id].npairs) {
		memset(&zn->ports[pair], 0, sizeof(zn->ports[pair]));
		zn->ports[pair].st = st;
	}
}

/*
 * The stream a UDP port of a bypass zone belongs to, in O(1): its pair
 * from (port - first port) / 2, RTP on the even port, RTCP on the odd one
 * (only when that side has an RTCP port). NULL: no stream.
 */
struct media_stream *media_zone_port_lookup(const struct media_zone *zn, uint16_t port,
					    unsigned *kind, struct media_sock **ms)
{
	const struct media_pool *pool = &zn->me->pool[zn->id];
	unsigned off = (unsigned)port - pool->first;
	struct media_stream *st;
	struct media_side *sd;

	if (!zn->ports || port < pool->first || off >= pool->npairs * 2)
		return NULL;
	st = zn->ports[off / 2].st;
	if (!st)
		return NULL;
	sd = &st->side[zn->id];
	if (off & 1) {
		if (!sd->rtcp)
			return NULL;
		*kind = MEDIA_RTCP;
		*ms = sd->rtcp;
	} else {
		*kind = MEDIA_RTP;
		*ms = &sd->rtp;
	}
	return st;
}

/* The local UDP port of a side's port ms: the pair's even port, or the odd one for its RTCP port. */
uint16_t media_sock_port(const struct media_engine *me, const struct media_side *sd,
			 unsigned zone, const struct media_sock *ms)
{
	uint16_t port = media_pool_port(&me->pool[zone], sd->pair);

	return ms == &sd->rtp ? port : (uint16_t)(port + 1);
}

/*
 * The MAC of the next hop towards dst on bypass zone `zone`, cached in the
 * port table entry of side (the side packets go to). The next hop comes from the kernel's routes
 * once per destination (a failure is retried after MEDIA_NH_REFRESH_MS),
 * its MAC from lwIP; a known MAC is confirmed again every
 * MEDIA_NH_REFRESH_MS and kept meanwhile. 0 with *mac; EAGAIN (ARP asked),
 * EHOSTUNREACH, ENETUNREACH: no MAC yet.
 */
static int nh_mac(struct media_engine *me, struct media_side *side, unsigned zone,
		  const struct media_addr *dst, uint32_t now_ms, const uint8_t **mac)
{
	struct media_zone *zn = &me->zone[zone];
	struct media_port *sd = &zn->ports[side->pair];
	struct sockaddr_storage d, hop;
	uint8_t m[6];
	int err;

	if (dst->af != AF_INET)
		return EAFNOSUPPORT;
	if (sd->nh_state == MEDIA_NH_NONE || sd->nh_dst != dst->ip.v4) {
		if (sd->nh_state == MEDIA_NH_NONE && sd->nh_dst == dst->ip.v4 && sd->nh_ms &&
		    now_ms - sd->nh_ms < MEDIA_NH_REFRESH_MS)
			return ENETUNREACH;
		memset(&d, 0, sizeof(d));
		d.ss_family = AF_INET;
		((struct sockaddr_in *)(void *)&d)->sin_addr.s_addr = dst->ip.v4;
		sd->nh_dst = dst->ip.v4;
		sd->nh_ms = now_ms | 1;
		sd->nh_state = MEDIA_NH_NONE;
		err = stack_next_hop(zn->stack, &d, &hop);
		if (err)
			return err;
		sd->nh_hop = ((struct sockaddr_in *)(void *)&hop)->sin_addr.s_addr;
		sd->nh_state = MEDIA_NH_HOP;
	}
	if (sd->nh_state == MEDIA_NH_MAC && now_ms - sd->nh_ms < MEDIA_NH_REFRESH_MS) {
		*mac = sd->nh_mac;
		return 0;
	}
	memset(&hop, 0, sizeof(hop));
	hop.ss_family = AF_INET;
	((struct sockaddr_in *)(void *)&hop)->sin_addr.s_addr = sd->nh_hop;
	err = stack_resolve(zn->stack, &hop, m);
	if (!err) {
		memcpy(sd->nh_mac, m, sizeof(m));
		sd->nh_state = MEDIA_NH_MAC;
		sd->nh_ms = now_ms;
		*mac = sd->nh_mac;
		return 0;
	}
	if (sd->nh_state == MEDIA_NH_MAC && err == EAGAIN) {
		/* lwIP's entry aged out and is being asked for again: keep the last MAC */
		sd->nh_ms = now_ms;
		*mac = sd->nh_mac;
		return 0;
	}
	sd->nh_state = MEDIA_NH_HOP;
	return err;
}

/* Start finding the next hop of a bypass zone's peer early (media_stream_peer): ARP goes out now. */
void media_nh_prepare(struct media_engine *me, struct media_side *sd, unsigned zone,
		      const struct media_addr *dst, uint32_t now_ms)
{
	const uint8_t *mac;

	if (me->zone[zone].bypass && dst->af == AF_INET)
		nh_mac(me, sd, zone, dst, now_ms, &mac);
}

/* The next hop's MAC towards dst for in's packet, or NULL: dropped and counted. */
static const uint8_t *nh_for(struct media_engine *me, struct media_side *in,
			     struct media_side *out, unsigned zone_out,
			     const struct media_addr *dst, uint32_t now_ms)
{
	const uint8_t *mac;

	(void)in;
	if (nh_mac(me, out, zone_out, dst, now_ms, &mac)) {
		me->zone[zone_out].ports[out->pair].dropped_no_neighbour++;
		me->dropped_no_neighbour++;
		return NULL;
	}
	return mac;
}

/*
 * Packets of stream st received on zone dropped because the other zone (a
 * bypass one) had no next hop MAC towards its peer; 0 for a socket zone.
 */
uint64_t media_zone_no_neighbour(const struct media_engine *me, const struct media_stream *st,
				 unsigned zone)
{
	const struct media_zone *zo = &me->zone[!zone];

	if (!zo->bypass || !st->side[!zone].reserved)
		return 0;
	return zo->ports[st->side[!zone].pair].dropped_no_neighbour;
}

/* 16-bit one's complement sum of an IPv4 header. */
/*
 * socket->ring: send payload p (len bytes, MEDIA_HDR4_LEN writable bytes
 * before it) of side in's stream out of bypass zone zone_out's port os to
 * dst. The Ethernet, IPv4 and UDP headers are built in the head room; the
 * UDP checksum is 0 (none: legal over IPv4, RFC 768).
 */
void media_ring_send(struct media_engine *me, struct media_side *in, struct media_stream *st,
		     unsigned zone_out, struct media_sock *os, const struct media_addr *dst,
		     uint8_t *p, size_t len, uint32_t now_ms)
{
	struct media_zone *zn = &me->zone[zone_out];
	struct media_side *out = &st->side[zone_out];
	const struct sockaddr_in *own = &me->addr[zone_out].in;
	uint8_t *h = p - MEDIA_HDR4_LEN, *ip = h + FRAME_ETH_LEN, *udp = ip + 20;
	const uint8_t *mac = nh_for(me, in, out, zone_out, dst, now_ms);
	uint16_t sport = htons(media_sock_port(me, out, zone_out, os));
	uint16_t v;

	if (!mac)
		return;
	if (len + 28 > 0xffff) {
		me->tx_errors++;
		return;
	}
	memcpy(h, mac, 6);
	memcpy(h + 6, zn->mac, 6);
	h[12] = 0x08;
	h[13] = 0x00;
	ip[0] = 0x45;
	ip[1] = MEDIA_TOS_EF;
	v = htons((uint16_t)(len + 28));
	memcpy(ip + 2, &v, 2);
	memset(ip + 4, 0, 2);          /* id: DF set, never fragmented */
	ip[6] = 0x40;
	ip[7] = 0;
	ip[8] = MEDIA_TTL;
	ip[9] = IPPROTO_UDP;
	memset(ip + 10, 0, 2);
	memcpy(ip + 12, &own->sin_addr.s_addr, 4);
	memcpy(ip + 16, &dst->ip.v4, 4);
	v = htons(inet_csum_fold(inet_csum_add(0, ip, 20)));
	memcpy(ip + 10, &v, 2);
	memcpy(udp, &sport, 2);
	memcpy(udp + 2, &dst->port, 2);
	v = htons((uint16_t)(len + 8));
	memcpy(udp + 4, &v, 2);
	memset(udp + 6, 0, 2);
	if (ring_tx_add(zn->ring, h, len + MEDIA_HDR4_LEN)) {
		me->tx_errors++;
		return;
	}
	zn->tx_queued = true;
	in->relayed++;
	me->relayed++;
}

/* Hand every ring's queued frames to the kernel: once per receive batch. */
void media_ring_flush(struct media_engine *me)
{
	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		struct media_zone *zn = &me->zone[z];

		if (zn->bypass && zn->tx_queued) {
			ring_tx_flush(zn->ring);
			zn->tx_queued = false;
		}
	}
}

/*
 * ring->ring: rewrite the received frame f in place for zone_out (MACs of
 * the out port and the next hop, addresses, ports, TTL decremented,
 * checksums updated) and queue it on that zone's ring.
 */
static void ring_to_ring(struct media_engine *me, struct media_side *in, struct media_stream *st,
			 unsigned zone_out, struct media_sock *os, const struct media_addr *dst,
			 uint8_t *f, const struct frame_info *fi, uint32_t now_ms)
{
	struct media_zone *zn = &me->zone[zone_out];
	struct media_side *out = &st->side[zone_out];
	const uint8_t *mac = nh_for(me, in, out, zone_out, dst, now_ms);
	struct frame_rewrite rw = { .af = AF_INET };
	uint8_t *o;
	size_t olen;

	if (!mac)
		return;
	if (frame_udp_csum_partial(f, fi)) {
		/* the sender's checksum offload left a partial sum: complete it, then update */
		frame_udp_csum_set(f, fi);
		me->csum_completed++;
	}
	memcpy(rw.dst_mac, mac, 6);
	memcpy(rw.src_mac, zn->mac, 6);
	rw.sport = htons(media_sock_port(me, out, zone_out, os));
	rw.dport = dst->port;
	rw.src.v4 = me->addr[zone_out].in.sin_addr.s_addr;
	rw.dst.v4 = dst->ip.v4;
	if (frame_rewrite(f, fi, &rw, &o, &olen) || ring_tx_add(zn->ring, o, olen)) {
		me->tx_errors++;   /* TTL expired, or no slot on the ring */
		return;
	}
	zn->tx_queued = true;
	in->relayed++;
	me->relayed++;
}

/* ring->socket: the payload is copied (the ring's frame goes away) and queued on the socket. */
static void ring_to_sock(struct media_engine *me, struct media_side *in, unsigned zone_out,
			 struct media_sock *os, const struct media_addr *dst, const uint8_t *p,
			 size_t len)
{
	uint8_t *slot;

	if (len > MEDIA_PKT_MAX) {
		me->dropped_truncated++;
		return;
	}
	if (me->ntx && (os->fd != me->txfd || me->ntx == MEDIA_BATCH))
		media_txq_flush(me);
	slot = (uint8_t *)me->txslots[me->ntx] + MEDIA_HEADROOM;
	memcpy(slot, p, len);
	media_txq_add(me, os->fd, in, dst, zone_out, slot, len);
}

/*
 * One frame from zone zn's ring. A UDP datagram to the owned address and a
 * port of a stream takes the shared per-packet path and leaves by the
 * other zone; every other frame (ARP, ICMP, fragments, unknown ports,
 * malformed) goes to lwIP, which answers or drops and counts it. The ring
 * block is writable memory (libpcap itself rewrites it to re-insert VLAN
 * tags): the frame is rewritten where it lies, then copied to the out ring.
 */
static void ring_frame(const uint8_t *cf, size_t len, void *arg)
{
	struct media_zone *zn = arg;
	struct media_engine *me = zn->me;
	uint8_t *f = (uint8_t *)(uintptr_t)cf;
	unsigned zone = zn->id, kind = MEDIA_RTP;
	const struct media_addr *dst;
	struct media_sock *ms = NULL, *os;
	struct media_stream *st;
	struct media_addr src;
	struct frame_info fi;

	if (frame_parse(f, len, &fi) || fi.kind != FRAME_FAST_UDP || fi.af != AF_INET ||
	    fi.dst.v4 != me->addr[zone].in.sin_addr.s_addr)
		goto slow;
	st = media_zone_port_lookup(zn, ntohs(fi.dport), &kind, &ms);
	if (!st)
		goto slow;
	me->rx_packets++;
	memset(&src, 0, sizeof(src));
	src.af = AF_INET;
	src.ip.v4 = fi.src.v4;
	src.port = fi.sport;
	os = media_pkt_in(me, st, zone, ms, kind, &src, f + fi.payload_off, fi.payload_len,
			  zn->now_us, &dst);
	if (!os)
		return;
	if (me->zone[!zone].bypass)
		ring_to_ring(me, &st->side[zone], st, !zone, os, dst, f, &fi,
			     (uint32_t)(zn->now_us / 1000));
	else
		ring_to_sock(me, &st->side[zone], !zone, os, dst, f + fi.payload_off,
			     fi.payload_len);
	return;
 slow:
	stack_input(zn->stack, f, len);
}

/*
 * One batch of at most MEDIA_RING_BUDGET frames from zn's ring, every send
 * queue flushed after it; returns the frames read. The caller holds the
 * engine's lock.
 */
int media_zone_ring_batch(struct media_zone *zn)
{
	struct media_engine *me = zn->me;
	int n;

	zn->now_us = time_mono_ns() / 1000;
	n = ring_rx(zn->ring, ring_frame, zn, MEDIA_RING_BUDGET);
	if (me->ntx)
		media_txq_flush(me);
	media_ring_flush(me);
	return n;
}

/*
 * The ring has frames (on sbcd's loop, before or without the media
 * thread): MEDIA_RING_WAKE_BATCHES batches at most, then SIP gets its turn.
 */
static void ring_readable(evutil_socket_t fd, short what, void *arg)
{
	struct media_zone *zn = arg;

	(void)fd;
	(void)what;
	for (unsigned b = 0; b < MEDIA_RING_WAKE_BATCHES; b++)
		if (media_zone_ring_batch(zn) < MEDIA_RING_BUDGET)
			break;
}
