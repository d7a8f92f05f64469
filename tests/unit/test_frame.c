/* test_frame: the fast-path frame parser and in-place rewrite: kinds, every malformed reason, incremental checksums against full ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include "media/frame.h"
#include "unit.h"

enum {
	HEAD = 64,            /* bytes before a test frame: FRAME_HEADROOM and a canary */
	BUF = 2048,
	TAIL = 64,
	CANARY = 0xa5,
	RANDOM_FRAMES = 20000,
};

static uint8_t buf[HEAD + BUF + TAIL];
static uint8_t *const fr = buf + HEAD;

/* xorshift64*, a fixed seed: the same frames on every run. */
static uint64_t prng_state;

static uint64_t prng(void)
{
	prng_state ^= prng_state >> 12;
	prng_state ^= prng_state << 25;
	prng_state ^= prng_state >> 27;
	return prng_state * 0x2545f4914f6cdd1dull;
}

static void prng_fill(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)prng();
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The reference checksum: RFC 1071 byte by byte, big-endian words, independent of frame.c. */
static uint32_t ref_add(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

static uint16_t ref_fin(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The IPv4 header checksum of the header at ip, its field taken as zero. */
static uint16_t ref_ip4(const uint8_t *ip)
{
	size_t hl = (size_t)(ip[0] & 0x0f) * 4;

	return ref_fin(ref_add(ref_add(0, ip, 10), ip + 12, hl - 12));
}

/* The UDP checksum (0 sent as 0xffff) of the packet at ip (IPv4 or IPv6). */
static uint16_t ref_udp(const uint8_t *ip)
{
	bool v6 = ip[0] >> 4 == 6;
	const uint8_t *u = ip + (v6 ? 40 : (ip[0] & 0x0f) * 4);
	size_t ulen = get16(u + 4);
	uint32_t s = 17 + (uint32_t)ulen;
	uint16_t c;

	s = v6 ? ref_add(s, ip + 8, 32) : ref_add(s, ip + 12, 8);
	s = ref_add(ref_add(s, u, 6), u + 8, ulen - 8);
	c = ref_fin(s);
	return c ? c : 0xffff;
}

/* What a test frame looks like. */
struct spec {
	int af;
	bool vlan;
	uint16_t tci;
	unsigned opt_words;   /* IPv4 options, 32-bit words (0-10) */
	size_t plen;          /* UDP payload */
	bool csum0;           /* UDP/IPv4 without checksum */
	uint8_t ttl;
	uint8_t proto;        /* 0: UDP */
	uint16_t frag;        /* IPv4 flags and offset */
	size_t pad;           /* trailing Ethernet padding */
};

/* A frame at fr: random addresses, ports and payload, correct checksums; its length. */
static size_t build(const struct spec *s)
{
	uint8_t *p = fr, *ip, *u;
	uint8_t proto = s->proto ? s->proto : 17;
	size_t hl = s->af == AF_INET6 ? 40 : 20 + 4 * (size_t)s->opt_words;
	size_t ulen = 8 + s->plen;

	prng_fill(p, 12);
	p[0] &= 0xfe;   /* unicast */
	p += 12;
	if (s->vlan) {
		put16(p, 0x8100);
		put16(p + 2, s->tci);
		p += 4;
	}
	put16(p, s->af == AF_INET6 ? 0x86dd : 0x0800);
	ip = p + 2;
	if (s->af == AF_INET6) {
		put16(ip, 0x6000);
		prng_fill(ip + 2, 2);
		ip[1] &= 0x0f;
		ip[1] |= 0xb0;
		put16(ip + 4, (uint16_t)ulen);
		ip[6] = proto;
		ip[7] = s->ttl;
		prng_fill(ip + 8, 32);
	} else {
		ip[0] = (uint8_t)(0x40 | hl / 4);
		ip[1] = 0xb8;
		put16(ip + 2, (uint16_t)(hl + ulen));
		prng_fill(ip + 4, 2);
		put16(ip + 6, s->frag);
		ip[8] = s->ttl;
		ip[9] = proto;
		put16(ip + 10, 0);
		prng_fill(ip + 12, hl - 12);
	}
	u = ip + hl;
	prng_fill(u, 4);
	put16(u + 4, (uint16_t)ulen);
	put16(u + 6, 0);
	prng_fill(u + 8, s->plen);
	if (s->af == AF_INET)
		put16(ip + 10, ref_ip4(ip));
	if (!(s->af == AF_INET && s->csum0))
		put16(u + 6, ref_udp(ip));
	memset(u + ulen, 0, s->pad);
	return (size_t)(u + ulen + s->pad - fr);
}

static void canary(void)
{
	memset(buf, CANARY, sizeof(buf));
}

/* Nothing was written outside [from, to). */
static void assert_canary_outside(const uint8_t *from, const uint8_t *to)
{
	for (const uint8_t *p = buf; p < from; p++)
		assert_int_equal(*p, CANARY);
	for (const uint8_t *p = to; p < buf + sizeof(buf); p++)
		assert_int_equal(*p, CANARY);
}

static void random_rewrite(struct frame_rewrite *rw, int af)
{
	memset(rw, 0, sizeof(*rw));
	prng_fill(rw->dst_mac, 6);
	prng_fill(rw->src_mac, 6);
	rw->af = (uint8_t)af;
	rw->vlan = prng() & 1;
	rw->vlan_tci = (uint16_t)prng();
	rw->ttl = prng() % 4 ? 0 : (uint8_t)(1 + prng() % 255);
	rw->sport = (uint16_t)prng();
	rw->dport = (uint16_t)prng();
	prng_fill(rw->src.v6, 16);
	prng_fill(rw->dst.v6, 16);
}

static void assert_reason(size_t len, enum frame_reason r)
{
	struct frame_info fi;

	assert_int_equal(frame_parse(fr, len, &fi), EBADMSG);
	if (fi.reason != r)
		print_message("reason %s, expected %s\n", frame_reason_str(fi.reason),
			      frame_reason_str(r));
	assert_int_equal(fi.kind, FRAME_MALFORMED);
	assert_int_equal(fi.reason, r);
}

static void assert_kind(size_t len, enum frame_kind k)
{
	struct frame_info fi;

	assert_int_equal(frame_parse(fr, len, &fi), 0);
	if (fi.kind != k)
		print_message("kind %s (%s), expected %s\n", frame_kind_str(fi.kind),
			      frame_reason_str(fi.reason), frame_kind_str(k));
	assert_int_equal(fi.kind, k);
	assert_int_equal(fi.reason, FRAME_R_NONE);
}

/* A fixed frame; checksums worked out separately (Python, RFC 1071) and written down. */
static const uint8_t rtp12[] = {
	0x80, 0x00, 0x12, 0x34, 0, 0, 0x03, 0x20, 0xde, 0xad, 0xbe, 0xef, 'h', 'e', 'l', 'l', 'o',
};

static size_t known_v4(void)
{
	static const uint8_t hdr[] = {
		0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00,
		0x45, 0xb8, 0x00, 0x2d, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0x9b, 0xa9,
		192, 168, 0, 1, 192, 168, 0, 199,
		0x13, 0x8c, 0x9c, 0x40, 0x00, 0x19, 0x57, 0x12,
	};

	memcpy(fr, hdr, sizeof(hdr));
	memcpy(fr + sizeof(hdr), rtp12, sizeof(rtp12));
	return sizeof(hdr) + sizeof(rtp12);
}

static size_t known_v6(void)
{
	static const uint8_t hdr[] = {
		0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x86, 0xdd,
		0x60, 0, 0, 0, 0x00, 0x19, 17, 64,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2,
		0x13, 0x8c, 0x9c, 0x40, 0x00, 0x19, 0x7d, 0xb6,
	};

	memcpy(fr, hdr, sizeof(hdr));
	memcpy(fr + sizeof(hdr), rtp12, sizeof(rtp12));
	return sizeof(hdr) + sizeof(rtp12);
}

static void known_rewrite(struct frame_rewrite *rw, int af)
{
	static const uint8_t s6[16] = { 0xfd, [15] = 0x10 };
	static const uint8_t d6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff, [15] = 0x20 };

	memset(rw, 0, sizeof(*rw));
	memset(rw->dst_mac, 0x0d, 6);
	memset(rw->src_mac, 0x05, 6);
	rw->af = (uint8_t)af;
	rw->sport = htons(30000);
	rw->dport = htons(6000);
	if (af == AF_INET) {
		rw->src.v4 = htonl(0x0a000001);
		rw->dst.v4 = htonl(0xcb007105);
	} else {
		memcpy(rw->src.v6, s6, 16);
		memcpy(rw->dst.v6, d6, 16);
	}
}

/* Known vectors: the classic 0xb861 header, a parsed frame's fields, a rewrite's checksums. */
static void test_known_vectors(void **state)
{
	static const uint8_t wiki[] = {
		0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61,
		0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
	};
	struct frame_rewrite rw;
	struct frame_info fi;
	uint8_t *out;
	size_t len, olen;

	(void)state;
	/* the header checksum example of RFC 1071 tutorials (Wikipedia "IPv4 header checksum") */
	memset(fr, 0, 14);
	put16(fr + 12, 0x0800);
	memcpy(fr + 14, wiki, sizeof(wiki));
	memset(fr + 14 + sizeof(wiki), 0, 0x73 - 20);
	assert_int_equal(frame_parse(fr, 14 + 0x73, &fi), EBADMSG);   /* UDP length 0 */
	assert_int_equal(fi.reason, FRAME_R_UDP_LEN);
	fi.l3_off = 14;
	fi.l4_off = 34;
	assert_int_equal(frame_ip4_csum(fr, &fi), 0xb861);

	len = known_v4();
	assert_int_equal(frame_parse(fr, len, &fi), 0);
	assert_int_equal(fi.kind, FRAME_FAST_UDP);
	assert_int_equal(fi.af, AF_INET);
	assert_false(fi.vlan);
	assert_int_equal(fi.l3_off, 14);
	assert_int_equal(fi.l4_off, 34);
	assert_int_equal(fi.payload_off, 42);
	assert_int_equal(fi.payload_len, sizeof(rtp12));
	assert_int_equal(fi.ip_len, 0x2d);
	assert_int_equal(fi.ttl, 64);
	assert_int_equal(ntohs(fi.sport), 5004);
	assert_int_equal(ntohs(fi.dport), 40000);
	assert_int_equal(ntohl(fi.src.v4), 0xc0a80001);
	assert_int_equal(ntohl(fi.dst.v4), 0xc0a800c7);
	assert_true(frame_udp_csum_ok(fr, &fi));
	assert_int_equal(frame_udp_csum(fr, &fi), 0x5712);
	known_rewrite(&rw, AF_INET);
	assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), 0);
	assert_ptr_equal(out, fr);
	assert_int_equal(olen, len);
	assert_int_equal(out[22], 63);
	assert_int_equal(get16(out + 24), 0xd8bb);
	assert_int_equal(get16(out + 40), 0xb650);
	assert_memory_equal(out, rw.dst_mac, 6);
	assert_memory_equal(out + 6, rw.src_mac, 6);
	assert_memory_equal(out + 42, rtp12, sizeof(rtp12));

	len = known_v6();
	assert_int_equal(frame_parse(fr, len, &fi), 0);
	assert_int_equal(fi.kind, FRAME_FAST_UDP);
	assert_int_equal(fi.af, AF_INET6);
	assert_int_equal(fi.l4_off, 54);
	assert_int_equal(fi.payload_off, 62);
	assert_int_equal(fi.ip_len, 40 + 8 + sizeof(rtp12));
	assert_true(frame_udp_csum_ok(fr, &fi));
	known_rewrite(&rw, AF_INET6);
	assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), 0);
	assert_int_equal(out[21], 63);
	assert_int_equal(get16(out + 60), 0xd16d);
}

/*
 * Many random frames (v4 with options, v6, tagged or not, odd and even
 * payloads, padding, no UDP checksum) and rewrites: the output parses
 * back to what was asked, its checksums equal a full recomputation, the
 * payload is untouched and nothing is written outside the frame and its
 * head room.
 */
static void test_random_rewrites(void **state)
{
	unsigned checked4 = 0, checked6 = 0, zero_kept = 0;

	(void)state;
	prng_state = 0x5bc8f00dull;
	for (int i = 0; i < RANDOM_FRAMES; i++) {
		struct spec s = {
			.af = prng() & 1 ? AF_INET6 : AF_INET,
			.vlan = prng() & 1,
			.tci = (uint16_t)prng(),
			.opt_words = (unsigned)(prng() % 11),
			.plen = (size_t)(prng() % 1400),
			.csum0 = prng() % 8 == 0,
			.ttl = (uint8_t)(2 + prng() % 254),
			.pad = prng() % 4 == 0 ? (size_t)(prng() % 40) : 0,
		};
		struct frame_info fi, fo;
		struct frame_rewrite rw;
		uint8_t payload[1400], *out, *ip;
		size_t len, olen;

		canary();
		len = build(&s);
		assert_int_equal(frame_parse(fr, len, &fi), 0);
		assert_int_equal(fi.kind, FRAME_FAST_UDP);
		assert_int_equal(fi.vlan, s.vlan);
		assert_int_equal(fi.payload_len, s.plen);
		assert_int_equal(fi.l3_off + fi.ip_len + s.pad, len);
		memcpy(payload, fr + fi.payload_off, s.plen);
		random_rewrite(&rw, s.af);
		assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), 0);
		assert_ptr_equal(out, fr + (s.vlan ? 4 : 0) - (rw.vlan ? 4 : 0));
		assert_int_equal(olen, fi.ip_len + (rw.vlan ? 18u : 14u));
		assert_canary_outside(fr - FRAME_HEADROOM, fr + len);

		assert_int_equal(frame_parse(out, olen, &fo), 0);
		assert_int_equal(fo.kind, FRAME_FAST_UDP);
		assert_int_equal(fo.vlan, rw.vlan);
		if (rw.vlan)
			assert_int_equal(fo.vlan_tci, rw.vlan_tci);
		assert_memory_equal(out, rw.dst_mac, 6);
		assert_memory_equal(out + 6, rw.src_mac, 6);
		assert_int_equal(fo.ttl, rw.ttl ? rw.ttl : s.ttl - 1);
		assert_int_equal(fo.sport, rw.sport);
		assert_int_equal(fo.dport, rw.dport);
		assert_memory_equal(&fo.src, &rw.src, s.af == AF_INET ? 4 : 16);
		assert_memory_equal(&fo.dst, &rw.dst, s.af == AF_INET ? 4 : 16);
		assert_int_equal(fo.payload_len, s.plen);
		assert_memory_equal(out + fo.payload_off, payload, s.plen);
		ip = out + fo.l3_off;
		if (s.af == AF_INET) {
			assert_int_equal(get16(ip + 10), ref_ip4(ip));
			checked4++;
		} else {
			checked6++;
		}
		if (s.af == AF_INET && s.csum0) {
			assert_int_equal(get16(out + fo.l4_off + 6), 0);
			zero_kept++;
		} else {
			assert_int_equal(get16(out + fo.l4_off + 6), ref_udp(ip));
		}
		assert_true(frame_udp_csum_ok(out, &fo));
	}
	assert_true(checked4 > RANDOM_FRAMES / 3 && checked6 > RANDOM_FRAMES / 3);
	assert_true(zero_kept > 100);
}

/* Cut a good frame at every length: each layer's own reason. */
static void test_truncated_every_layer(void **state)
{
	struct spec s4 = { .af = AF_INET, .vlan = true, .tci = 7, .plen = 20, .ttl = 64 };
	struct spec s6 = { .af = AF_INET6, .plen = 20, .ttl = 64 };
	size_t len;

	(void)state;
	prng_state = 1;
	len = build(&s4);
	for (size_t n = 0; n < len; n++) {
		enum frame_reason r = n < 14 ? FRAME_R_SHORT_ETH : n < 18 ? FRAME_R_SHORT_VLAN :
				      n < 38 ? FRAME_R_SHORT_IP : FRAME_R_IP_LEN;

		assert_reason(n, r);
	}
	assert_kind(len, FRAME_FAST_UDP);
	len = build(&s6);
	for (size_t n = 0; n < len; n++)
		assert_reason(n, n < 14 ? FRAME_R_SHORT_ETH : n < 54 ? FRAME_R_SHORT_IP :
			      FRAME_R_IP_LEN);
	assert_kind(len, FRAME_FAST_UDP);
}

/* Each IPv4 and UDP inconsistency, IPv6 ones, ARP, and the tag cases. */
static void test_malformed_reasons(void **state)
{
	struct spec s4 = { .af = AF_INET, .plen = 12, .ttl = 64 };
	struct spec s6 = { .af = AF_INET6, .plen = 12, .ttl = 64 };
	uint8_t *ip = fr + 14;
	size_t len;

	(void)state;
	prng_state = 2;
	/* IHL below 5, and a header longer than the packet */
	len = build(&s4);
	ip[0] = 0x44;
	assert_reason(len, FRAME_R_IHL);
	len = build(&s4);
	ip[0] = 0x4f;
	put16(ip + 2, 40);
	assert_reason(len, FRAME_R_IHL);
	/* version 6 behind ethertype IPv4, and the reverse */
	len = build(&s4);
	ip[0] = 0x65;
	assert_reason(len, FRAME_R_IP_VERSION);
	len = build(&s6);
	ip[0] = 0x45;
	assert_reason(len, FRAME_R_IP_VERSION);
	/* total length one past the frame; the header checksum fixed so only the length is wrong */
	len = build(&s4);
	put16(ip + 2, (uint16_t)(len - 14 + 1));
	put16(ip + 10, ref_ip4(ip));
	assert_reason(len, FRAME_R_IP_LEN);
	/* a header checksum off by one */
	len = build(&s4);
	ip[11] ^= 1;
	assert_reason(len, FRAME_R_IP_CSUM);
	/* IP payload shorter than a UDP header */
	len = build(&s4);
	put16(ip + 2, 20 + 7);
	put16(ip + 10, ref_ip4(ip));
	assert_reason(len, FRAME_R_SHORT_UDP);
	/* UDP length larger and smaller than the IP payload */
	len = build(&s4);
	put16(ip + 24, 8 + 12 + 1);
	assert_reason(len, FRAME_R_UDP_LEN);
	put16(ip + 24, 8 + 12 - 1);
	assert_reason(len, FRAME_R_UDP_LEN);
	put16(ip + 24, 7);
	assert_reason(len, FRAME_R_UDP_LEN);
	/* IPv6: payload length past the frame, short UDP, UDP length, checksum 0 */
	len = build(&s6);
	put16(ip + 4, (uint16_t)(len - 14 - 40 + 1));
	assert_reason(len, FRAME_R_IP_LEN);
	put16(ip + 4, 7);
	assert_reason(len, FRAME_R_SHORT_UDP);
	len = build(&s6);
	put16(ip + 44, 8 + 12 + 2);
	assert_reason(len, FRAME_R_UDP_LEN);
	len = build(&s6);
	put16(ip + 46, 0);
	assert_reason(len, FRAME_R_UDP6_CSUM0);
	/* ARP: 28 bytes needed after the header */
	memset(fr, 0, 64);
	put16(fr + 12, 0x0806);
	assert_reason(14 + 27, FRAME_R_SHORT_ARP);
	assert_kind(14 + 28, FRAME_ARP);
}

/* QinQ and a double 802.1Q tag are refused with their reason; one tag is fine. */
static void test_vlan_tags(void **state)
{
	struct spec s = { .af = AF_INET, .vlan = true, .tci = 0xa00c, .plen = 40, .ttl = 9 };
	struct frame_info fi;
	size_t len;

	(void)state;
	prng_state = 3;
	len = build(&s);
	assert_int_equal(frame_parse(fr, len, &fi), 0);
	assert_true(fi.vlan);
	assert_int_equal(fi.vlan_tci, 0xa00c);
	assert_int_equal(frame_vlan_id(fi.vlan_tci), 12);
	assert_int_equal(fi.l3_off, 18);
	put16(fr + 12, 0x88a8);    /* 802.1ad S-tag outside */
	assert_reason(len, FRAME_R_QINQ);
	put16(fr + 12, 0x9100);
	assert_reason(len, FRAME_R_QINQ);
	put16(fr + 12, 0x8100);    /* C-tag then a second tag */
	put16(fr + 16, 0x8100);
	assert_reason(len, FRAME_R_QINQ);
	put16(fr + 16, 0x88a8);
	assert_reason(len, FRAME_R_QINQ);
}

/* What goes to the slow path, and why. */
static void test_slow_path_kinds(void **state)
{
	struct spec s = { .af = AF_INET, .plen = 16, .ttl = 64 };
	struct frame_info fi;
	size_t len;

	(void)state;
	prng_state = 4;
	s.proto = 1;
	assert_kind(build(&s), FRAME_ICMP);
	s.proto = 6;
	assert_kind(build(&s), FRAME_OTHER);
	s.proto = 0;
	s.frag = 0x2000;   /* MF */
	assert_kind(build(&s), FRAME_FRAGMENT);
	s.frag = 0x0010;   /* a later fragment */
	assert_kind(build(&s), FRAME_FRAGMENT);
	s.frag = 0x4000;   /* DF only: fast */
	assert_kind(build(&s), FRAME_FAST_UDP);
	s.frag = 0;
	s.af = AF_INET6;
	s.proto = 58;
	assert_kind(build(&s), FRAME_ICMP);
	s.proto = 44;
	assert_kind(build(&s), FRAME_FRAGMENT);
	s.proto = 0;
	len = build(&s);
	fr[14 + 6] = 0;   /* hop-by-hop: an extension header */
	assert_kind(len, FRAME_OTHER);
	assert_int_equal(frame_parse(fr, len, &fi), 0);
	assert_int_equal(fi.af, AF_INET6);   /* addresses still given */
	put16(fr + 12, 0x88cc);   /* LLDP */
	assert_kind(len, FRAME_OTHER);
	put16(fr + 12, 0x0100);   /* an 802.3 length */
	assert_kind(len, FRAME_OTHER);
	/* a fast frame with padding: the IP length, not the frame's, counts */
	s.af = AF_INET;
	s.pad = 30;
	s.plen = 2;
	len = build(&s);
	assert_int_equal(frame_parse(fr, len, &fi), 0);
	assert_int_equal(fi.kind, FRAME_FAST_UDP);
	assert_int_equal(fi.ip_len, 20 + 8 + 2);
}

/* TTL and hop limit 1 (and 0) are refused without touching the frame; a set TTL is not. */
static void test_ttl_and_family(void **state)
{
	static const int afs[] = { AF_INET, AF_INET6 };
	struct frame_rewrite rw;
	struct frame_info fi;
	uint8_t copy[256], *out;
	size_t len, olen;

	(void)state;
	prng_state = 5;
	for (unsigned a = 0; a < 2; a++) {
		for (uint8_t ttl = 0; ttl <= 1; ttl++) {
			struct spec s = { .af = afs[a], .plen = 20, .ttl = ttl };

			canary();
			len = build(&s);
			memcpy(copy, fr, len);
			assert_int_equal(frame_parse(fr, len, &fi), 0);
			random_rewrite(&rw, afs[a]);
			rw.ttl = 0;
			rw.vlan = true;
			assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), ETIMEDOUT);
			assert_memory_equal(fr, copy, len);
			assert_canary_outside(fr, fr + len);
			/* the other family: not in place */
			random_rewrite(&rw, afs[!a]);
			rw.ttl = 64;
			assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), EAFNOSUPPORT);
			assert_memory_equal(fr, copy, len);
			/* a TTL set, not decremented, is sent */
			random_rewrite(&rw, afs[a]);
			rw.ttl = 64;
			assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), 0);
			assert_int_equal(frame_parse(out, olen, &fi), 0);
			assert_int_equal(fi.ttl, 64);
		}
	}
	/* TTL 2 goes out as 1 */
	{
		struct spec s = { .af = AF_INET, .plen = 20, .ttl = 2 };

		len = build(&s);
		assert_int_equal(frame_parse(fr, len, &fi), 0);
		random_rewrite(&rw, AF_INET);
		rw.ttl = 0;
		assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), 0);
		assert_int_equal(frame_parse(out, olen, &fi), 0);
		assert_int_equal(fi.ttl, 1);
	}
	/* a frame that is not FAST_UDP is not rewritten */
	memset(fr, 0, 64);
	put16(fr + 12, 0x0806);
	assert_int_equal(frame_parse(fr, 42, &fi), 0);
	random_rewrite(&rw, AF_INET);
	assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), EINVAL);
	assert_int_equal(frame_parse(fr, 5, &fi), EBADMSG);
	assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), EINVAL);
}

/*
 * UDP checksum 0: kept on IPv4 (no checksum); an update whose result is
 * 0 goes out as 0xffff on both families. The port that makes it 0 is
 * found by rewriting once with source port 0.
 */
static void test_checksum_zero_rules(void **state)
{
	static const int afs[] = { AF_INET, AF_INET6 };
	struct frame_rewrite rw;
	struct frame_info fi;
	uint8_t orig[256], *out;
	size_t len, olen;
	uint16_t c0;

	(void)state;
	prng_state = 6;
	{
		struct spec s = { .af = AF_INET, .plen = 33, .ttl = 30, .csum0 = true };

		len = build(&s);
		assert_int_equal(frame_parse(fr, len, &fi), 0);
		assert_true(frame_udp_csum_ok(fr, &fi));
		random_rewrite(&rw, AF_INET);
		assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), 0);
		assert_int_equal(get16(out + (fi.l4_off - fi.l3_off) + (rw.vlan ? 18 : 14) + 6), 0);
	}
	for (unsigned a = 0; a < 2; a++) {
		struct spec s = { .af = afs[a], .plen = 33, .ttl = 30 };

		len = build(&s);
		memcpy(orig, fr, len);
		assert_int_equal(frame_parse(fr, len, &fi), 0);
		random_rewrite(&rw, afs[a]);
		rw.vlan = false;
		rw.sport = 0;
		assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), 0);
		memcpy(&c0, out + fi.l4_off + 6, 2);
		assert_int_not_equal(c0, 0);
		memcpy(fr, orig, len);
		rw.sport = c0;    /* adds ~sum: the full checksum is now 0 */
		assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), 0);
		assert_int_equal(get16(out + fi.l4_off + 6), 0xffff);
		assert_int_equal(ref_udp(out + fi.l3_off), 0xffff);
		assert_int_equal(frame_parse(out, olen, &fi), 0);
		assert_true(frame_udp_csum_ok(out, &fi));
	}
}

/* A partial checksum (sender's offload) is replaced by the full one. */
static void test_checksum_fill(void **state)
{
	struct spec s = { .af = AF_INET6, .plen = 171, .ttl = 30 };
	struct frame_info fi;
	uint16_t good;
	size_t len;

	(void)state;
	prng_state = 7;
	len = build(&s);
	assert_int_equal(frame_parse(fr, len, &fi), 0);
	good = get16(fr + fi.l4_off + 6);
	put16(fr + fi.l4_off + 6, 0x1234);
	assert_false(frame_udp_csum_ok(fr, &fi));
	frame_udp_csum_set(fr, &fi);
	assert_int_equal(get16(fr + fi.l4_off + 6), good);
	assert_true(frame_udp_csum_ok(fr, &fi));
}

/*
 * A partial checksum, as the sender's offload leaves it: the pseudo-header
 * sum folded, not complemented (summed here big-endian, by hand). It is
 * recognised, a complete one is not, and completing it then rewriting
 * gives a frame whose checksum verifies.
 */
static void test_checksum_partial(void **state)
{
	struct frame_rewrite rw;
	struct frame_info fi;
	uint32_t sum;
	uint8_t *out;
	size_t len, olen;

	(void)state;
	len = known_v4();
	assert_int_equal(frame_parse(fr, len, &fi), 0);
	assert_false(frame_udp_csum_partial(fr, &fi));
	/* 192.168.0.1 -> 192.168.0.199, protocol 17, UDP length 25 */
	sum = 0xc0a8 + 0x0001 + 0xc0a8 + 0x00c7 + 17 + 25;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16(fr + fi.l4_off + 6, (uint16_t)sum);
	assert_true(frame_udp_csum_partial(fr, &fi));
	assert_false(frame_udp_csum_ok(fr, &fi));
	frame_udp_csum_set(fr, &fi);
	assert_int_equal(get16(fr + fi.l4_off + 6), 0x5712);
	assert_false(frame_udp_csum_partial(fr, &fi));
	put16(fr + fi.l4_off + 6, (uint16_t)sum);
	frame_udp_csum_set(fr, &fi);
	known_rewrite(&rw, AF_INET);
	assert_int_equal(frame_rewrite(fr, &fi, &rw, &out, &olen), 0);
	assert_int_equal(frame_parse(out, olen, &fi), 0);
	assert_true(frame_udp_csum_ok(out, &fi));
	/* UDP/IPv4 without a checksum (0) is never taken for a partial one */
	len = known_v4();
	assert_int_equal(frame_parse(fr, len, &fi), 0);
	put16(fr + fi.l4_off + 6, 0);
	assert_false(frame_udp_csum_partial(fr, &fi));
}

/* The names used in counters and logs. */
static void test_names(void **state)
{
	(void)state;
	assert_string_equal(frame_kind_str(FRAME_FAST_UDP), "fast-udp");
	assert_string_equal(frame_kind_str(FRAME_KIND__COUNT), "?");
	for (unsigned r = 0; r < FRAME_REASON__COUNT; r++)
		assert_non_null(frame_reason_str(r));
	assert_string_equal(frame_reason_str(FRAME_REASON__COUNT), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_known_vectors, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_random_rewrites, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_truncated_every_layer, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_malformed_reasons, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_vlan_tags, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_slow_path_kinds, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_ttl_and_family, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_checksum_zero_rules, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_checksum_fill, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_checksum_partial, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_names, unit_leak_setup, unit_leak_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
