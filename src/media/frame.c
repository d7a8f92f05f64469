/* frame: the bypass engine's fast-path Ethernet/VLAN/IP/UDP frame parser and in-place rewrite with incremental checksums (RFC 1624). */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "frame.h"

enum {
	ETH_TYPE_IP4 = 0x0800,
	ETH_TYPE_ARP = 0x0806,
	ETH_TYPE_IP6 = 0x86dd,
	ETH_TYPE_8021Q = 0x8100,
	ETH_TYPE_8021AD = 0x88a8,
	ETH_TYPE_QINQ_OLD = 0x9100,   /* pre-standard S-tag */
	ARP_ETH_IP4_LEN = 28,
	IP4_HDR_MIN = 20,
	IP6_HDR_LEN = 40,
	UDP_HDR_LEN = 8,
	IP4_MF_OFFSET = 0x3fff,       /* MF flag and fragment offset */
	IP6_NH_FRAGMENT = 44,
	IP6_NH_ICMP6 = 58,
};

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * One's complement sum helpers. Words are loaded in host order: the sum
 * of byte-swapped words is the byte-swapped sum (RFC 1071 2.B), so the
 * result is stored back as it was loaded, without swapping.
 */
static uint64_t sum_buf(uint64_t s, const uint8_t *p, size_t n)
{
	uint32_t w32;
	uint16_t w16;

	for (; n >= 4; p += 4, n -= 4) {
		memcpy(&w32, p, 4);
		s += w32;
	}
	if (n >= 2) {
		memcpy(&w16, p, 2);
		s += w16;
		p += 2;
		n -= 2;
	}
	if (n) {   /* an odd last byte, padded with a zero byte */
		w16 = 0;
		memcpy(&w16, p, 1);
		s += w16;
	}
	return s;
}

/* Fold a sum of up to 2^32 words to 16 bits with end-around carries, without a loop. */
static uint16_t fold(uint64_t s)
{
	s = (s & 0xffffffff) + (s >> 32);   /* < 2^33 */
	s = (s & 0xffff) + (s >> 16);       /* < 0x30000 */
	s = (s & 0xffff) + (s >> 16);       /* <= 0x10001 */
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

static uint16_t ld16(const uint8_t *p)
{
	uint16_t w;

	memcpy(&w, p, 2);
	return w;
}

/*
 * Write n bytes (n even) of val at p and return what the change adds to
 * a checksum's complement: the sum of ~m + m' over its 16-bit words
 * (RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m')).
 */
static uint32_t put_diff(uint8_t *p, const void *val, size_t n)
{
	const uint8_t *v = val;
	uint32_t d = 0;

	for (size_t i = 0; i < n; i += 2)
		d += (uint16_t)~ld16(p + i) + (uint32_t)ld16(v + i);
	memcpy(p, val, n);
	return d;
}

/* The checksum field c after changes that add d to its complement. */
static uint16_t csum_update(uint16_t c, uint32_t d)
{
	return (uint16_t)~fold((uint64_t)(uint16_t)~c + d);
}

static int malformed(struct frame_info *fi, enum frame_reason r)
{
	fi->kind = FRAME_MALFORMED;
	fi->reason = (uint8_t)r;
	return EBADMSG;
}

/*
 * The UDP header at l4_off: its length must be the IP payload's exactly
 * (a shorter UDP length with trailing bytes is legal but never seen from
 * a phone; in-place relay would carry the junk along, so it is refused).
 */
static int parse_udp(const uint8_t *f, struct frame_info *fi, uint32_t plen)
{
	const uint8_t *u = f + fi->l4_off;

	if (plen < UDP_HDR_LEN)
		return malformed(fi, FRAME_R_SHORT_UDP);
	if (rd16(u + 4) != plen)
		return malformed(fi, FRAME_R_UDP_LEN);
	if (fi->af == AF_INET6 && !ld16(u + 6))
		return malformed(fi, FRAME_R_UDP6_CSUM0);
	memcpy(&fi->sport, u, 2);
	memcpy(&fi->dport, u + 2, 2);
	fi->payload_off = (uint16_t)(fi->l4_off + UDP_HDR_LEN);
	fi->payload_len = (uint16_t)(plen - UDP_HDR_LEN);
	fi->kind = FRAME_FAST_UDP;
	return 0;
}

/*
 * IPv4: options allowed, the header checksum verified (RFC 1812 5.2.2; 20
 * bytes cost a few ns, and a frame whose addresses may be corrupt must not
 * be counted against a stream), trailing Ethernet padding ignored.
 */
static int parse_ip4(const uint8_t *f, size_t len, struct frame_info *fi)
{
	const uint8_t *ip = f + fi->l3_off;
	size_t room = len - fi->l3_off;
	unsigned hl, tot;

	if (room < IP4_HDR_MIN)
		return malformed(fi, FRAME_R_SHORT_IP);
	if (ip[0] >> 4 != 4)
		return malformed(fi, FRAME_R_IP_VERSION);
	hl = (ip[0] & 0x0fu) * 4;
	if (hl < IP4_HDR_MIN)
		return malformed(fi, FRAME_R_IHL);
	tot = rd16(ip + 2);
	if (tot > room)
		return malformed(fi, FRAME_R_IP_LEN);
	if (hl > tot)
		return malformed(fi, FRAME_R_IHL);
	if (fold(sum_buf(0, ip, hl)) != 0xffff)
		return malformed(fi, FRAME_R_IP_CSUM);
	fi->af = AF_INET;
	fi->ttl = ip[8];
	fi->proto = ip[9];
	fi->ip_len = tot;
	fi->l4_off = (uint16_t)(fi->l3_off + hl);
	memcpy(&fi->src.v4, ip + 12, 4);
	memcpy(&fi->dst.v4, ip + 16, 4);
	if (rd16(ip + 6) & IP4_MF_OFFSET)
		fi->kind = FRAME_FRAGMENT;
	else if (fi->proto == IPPROTO_UDP)
		return parse_udp(f, fi, tot - hl);
	else if (fi->proto == IPPROTO_ICMP)
		fi->kind = FRAME_ICMP;
	else
		fi->kind = FRAME_OTHER;
	return 0;
}

/* IPv6: no extension headers on the fast path; a fragment header is told apart for counting. */
static int parse_ip6(const uint8_t *f, size_t len, struct frame_info *fi)
{
	const uint8_t *ip = f + fi->l3_off;
	size_t room = len - fi->l3_off;
	unsigned plen;

	if (room < IP6_HDR_LEN)
		return malformed(fi, FRAME_R_SHORT_IP);
	if (ip[0] >> 4 != 6)
		return malformed(fi, FRAME_R_IP_VERSION);
	plen = rd16(ip + 4);
	if (IP6_HDR_LEN + plen > room)
		return malformed(fi, FRAME_R_IP_LEN);
	fi->af = AF_INET6;
	fi->proto = ip[6];
	fi->ttl = ip[7];
	fi->ip_len = IP6_HDR_LEN + plen;
	fi->l4_off = (uint16_t)(fi->l3_off + IP6_HDR_LEN);
	memcpy(fi->src.v6, ip + 8, 16);
	memcpy(fi->dst.v6, ip + 24, 16);
	switch (fi->proto) {
	case IPPROTO_UDP:
		return parse_udp(f, fi, plen);
	case IP6_NH_ICMP6:
		fi->kind = FRAME_ICMP;
		break;
	case IP6_NH_FRAGMENT:
		fi->kind = FRAME_FRAGMENT;
		break;
	default:
		fi->kind = FRAME_OTHER;
		break;
	}
	return 0;
}

static bool is_stag(uint16_t et)
{
	return et == ETH_TYPE_8021Q || et == ETH_TYPE_8021AD || et == ETH_TYPE_QINQ_OLD;
}

/*
 * Classify the len bytes at f (from the destination MAC, no FCS) and fill
 * fi. Returns 0, or EBADMSG for FRAME_MALFORMED (fi->reason says why).
 * Reads nothing past f + len; fi is always fully set.
 */
int frame_parse(const uint8_t *f, size_t len, struct frame_info *fi)
{
	uint16_t et;

	memset(fi, 0, sizeof(*fi));
	if (len < FRAME_ETH_LEN)
		return malformed(fi, FRAME_R_SHORT_ETH);
	fi->l3_off = FRAME_ETH_LEN;
	et = rd16(f + 12);
	if (et == ETH_TYPE_8021Q) {
		if (len < FRAME_ETH_LEN + FRAME_VLAN_LEN)
			return malformed(fi, FRAME_R_SHORT_VLAN);
		fi->vlan = true;
		fi->vlan_tci = rd16(f + 14);
		et = rd16(f + 16);
		fi->l3_off += FRAME_VLAN_LEN;
	}
	fi->ethertype = et;
	if (is_stag(et))
		return malformed(fi, FRAME_R_QINQ);
	switch (et) {
	case ETH_TYPE_IP4:
		return parse_ip4(f, len, fi);
	case ETH_TYPE_IP6:
		return parse_ip6(f, len, fi);
	case ETH_TYPE_ARP:
		if (len - fi->l3_off < ARP_ETH_IP4_LEN)
			return malformed(fi, FRAME_R_SHORT_ARP);
		fi->kind = FRAME_ARP;
		return 0;
	default:
		fi->kind = FRAME_OTHER;
		return 0;
	}
}

/* Write the MAC header (and tag) that ends where the IP packet starts; return its first byte. */
static uint8_t *put_l2(uint8_t *ip, const struct frame_info *fi, const struct frame_rewrite *rw)
{
	size_t l2 = FRAME_ETH_LEN + (rw->vlan ? FRAME_VLAN_LEN : 0);
	uint8_t *m = ip - l2;

	memcpy(m, rw->dst_mac, FRAME_MAC_LEN);
	memcpy(m + FRAME_MAC_LEN, rw->src_mac, FRAME_MAC_LEN);
	if (rw->vlan) {
		wr16(m + 12, ETH_TYPE_8021Q);
		wr16(m + 14, rw->vlan_tci);
	}
	wr16(ip - 2, fi->ethertype);
	return m;
}

/*
 * Rewrite in place a frame that frame_parse found FRAME_FAST_UDP (fi is
 * that result): MACs, VLAN tag, IP addresses, UDP ports, TTL / hop limit,
 * IPv4 header and UDP checksums updated incrementally (RFC 1624 eqn. 3).
 * The IP packet does not move; the MAC header is rewritten in front of it,
 * so adding a tag writes into the FRAME_HEADROOM bytes before f and
 * removing one starts the frame 4 bytes later. *outp and *out_len give the
 * frame to send (trailing Ethernet padding dropped).
 * A UDP/IPv4 checksum of 0 (none) stays 0; an updated one that comes out
 * 0 is sent as 0xffff (RFC 768), and UDP/IPv6 never carries 0.
 * Returns 0; EINVAL (not FRAME_FAST_UDP); EAFNOSUPPORT (rw->af is not the
 * frame's: v4<->v6 is not done in place); ETIMEDOUT (TTL or hop limit
 * would reach 0: drop, as a router would). On error nothing is written.
 */
int frame_rewrite(uint8_t *f, const struct frame_info *fi, const struct frame_rewrite *rw,
		  uint8_t **outp, size_t *out_len)
{
	uint8_t *ip = f + fi->l3_off, *udp = f + fi->l4_off;
	uint8_t ttl = rw->ttl;
	uint32_t d_addr, d_port;
	uint16_t uck, ick;

	if (fi->kind != FRAME_FAST_UDP)
		return EINVAL;
	if (rw->af != fi->af)
		return EAFNOSUPPORT;
	if (!ttl) {
		if (fi->ttl <= 1)
			return ETIMEDOUT;
		ttl = (uint8_t)(fi->ttl - 1);
	}
	uck = ld16(udp + 6);
	d_port = put_diff(udp, &rw->sport, 2) + put_diff(udp + 2, &rw->dport, 2);
	if (fi->af == AF_INET) {
		uint8_t tp[2] = { ttl, fi->proto };
		uint32_t d_ttl = put_diff(ip + 8, tp, 2);

		d_addr = put_diff(ip + 12, &rw->src.v4, 4) + put_diff(ip + 16, &rw->dst.v4, 4);
		ick = csum_update(ld16(ip + 10), d_addr + d_ttl);
		memcpy(ip + 10, &ick, 2);
	} else {
		ip[7] = ttl;
		d_addr = put_diff(ip + 8, rw->src.v6, 16) + put_diff(ip + 24, rw->dst.v6, 16);
	}
	if (uck || fi->af == AF_INET6) {
		uck = csum_update(uck, d_addr + d_port);
		if (!uck)
			uck = 0xffff;
		memcpy(udp + 6, &uck, 2);
	}
	*outp = put_l2(ip, fi, rw);
	*out_len = (size_t)(ip - *outp) + fi->ip_len;
	return 0;
}

/* The IPv4 header checksum as it should be, computed in full (the field left out), host order. */
uint16_t frame_ip4_csum(const uint8_t *f, const struct frame_info *fi)
{
	const uint8_t *ip = f + fi->l3_off;
	size_t hl = (size_t)fi->l4_off - fi->l3_off;

	return ntohs((uint16_t)~fold(sum_buf(sum_buf(0, ip, 10), ip + 12, hl - 12)));
}

/* The pseudo-header's sum (RFC 768, RFC 8200 8.1). */
static uint64_t sum_pseudo(const struct frame_info *fi)
{
	uint64_t s = htons(IPPROTO_UDP) + (uint64_t)htons(fi->payload_len + UDP_HDR_LEN);

	if (fi->af == AF_INET)
		return sum_buf(sum_buf(s, (const uint8_t *)&fi->src.v4, 4),
			       (const uint8_t *)&fi->dst.v4, 4);
	return sum_buf(sum_buf(s, fi->src.v6, 16), fi->dst.v6, 16);
}

/*
 * The UDP checksum of a FRAME_FAST_UDP frame computed in full over the
 * pseudo-header, header and payload (0 given as 0xffff), host order. For the frames a
 * ring marks TP_STATUS_CSUMNOTREADY (checksum offload on the sender's
 * side: the field holds only a partial sum), and for tests.
 */
uint16_t frame_udp_csum(const uint8_t *f, const struct frame_info *fi)
{
	const uint8_t *u = f + fi->l4_off;
	uint16_t c;

	c = (uint16_t)~fold(sum_buf(sum_buf(sum_pseudo(fi), u, 6), u + UDP_HDR_LEN,
				    fi->payload_len));
	return c ? ntohs(c) : 0xffff;
}

/* Store frame_udp_csum in the frame. */
void frame_udp_csum_set(uint8_t *f, const struct frame_info *fi)
{
	wr16(f + fi->l4_off + 6, frame_udp_csum(f, fi));
}

/*
 * Does a FRAME_FAST_UDP frame's UDP checksum field hold only the
 * pseudo-header's sum (not complemented), as the kernel leaves it for
 * checksum offload (CHECKSUM_PARTIAL)? Frames sent on veth or to a virtio
 * guest from the same host arrive so; the ring would flag them
 * TP_STATUS_CSUMNOTREADY, but libpcap does not pass the flag on. A
 * complete checksum equals this value for one frame in 65,536; such a
 * frame is recomputed in full, which leaves it right.
 */
bool frame_udp_csum_partial(const uint8_t *f, const struct frame_info *fi)
{
	const uint8_t *u = f + fi->l4_off;

	return ld16(u + 6) == fold(sum_pseudo(fi));
}

/* Does a FRAME_FAST_UDP frame's UDP checksum verify? A UDP/IPv4 0 (none) does. */
bool frame_udp_csum_ok(const uint8_t *f, const struct frame_info *fi)
{
	const uint8_t *u = f + fi->l4_off;

	if (fi->af == AF_INET && !ld16(u + 6))
		return true;
	return fold(sum_buf(sum_pseudo(fi), u, UDP_HDR_LEN + (size_t)fi->payload_len)) == 0xffff;
}

const char *frame_kind_str(unsigned kind)
{
	static const char *const names[FRAME_KIND__COUNT] = {
		[FRAME_FAST_UDP] = "fast-udp", [FRAME_ARP] = "arp", [FRAME_ICMP] = "icmp",
		[FRAME_FRAGMENT] = "fragment", [FRAME_OTHER] = "other",
		[FRAME_MALFORMED] = "malformed",
	};

	return kind < FRAME_KIND__COUNT ? names[kind] : "?";
}

const char *frame_reason_str(unsigned reason)
{
	static const char *const names[FRAME_REASON__COUNT] = {
		[FRAME_R_NONE] = "none",
		[FRAME_R_SHORT_ETH] = "short ethernet header",
		[FRAME_R_SHORT_VLAN] = "short vlan tag",
		[FRAME_R_QINQ] = "stacked vlan tags (802.1ad/QinQ) refused",
		[FRAME_R_SHORT_ARP] = "short arp",
		[FRAME_R_SHORT_IP] = "short ip header",
		[FRAME_R_IP_VERSION] = "ip version does not match ethertype",
		[FRAME_R_IHL] = "bad ipv4 header length",
		[FRAME_R_IP_LEN] = "ip length beyond frame",
		[FRAME_R_IP_CSUM] = "bad ipv4 header checksum",
		[FRAME_R_SHORT_UDP] = "short udp header",
		[FRAME_R_UDP_LEN] = "udp length is not the ip payload length",
		[FRAME_R_UDP6_CSUM0] = "udp over ipv6 without checksum",
	};

	return reason < FRAME_REASON__COUNT ? names[reason] : "?";
}
