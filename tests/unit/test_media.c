/* test_media: port pairs, relay, latching, hold, policing, RTP loss and jitter, RTCP, inactivity, OOM, the shared packet path, the bypass port table and fallback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "media/media_int.h"
#include "net/net.h"

/* Small ranges below the ephemeral ports: 4 pairs a zone. */
enum { Z0_MIN = 23400, Z0_MAX = 23407, Z1_MIN = 23500, Z1_MAX = 23507, NPAIRS = 4 };

static struct event_base *base;
static size_t nalloc_start;
static struct media_zone_cfg zones[MEDIA_ZONES];
static struct config_media mcfg;

static int setup(void **state)
{
	(void)state;
	nalloc_start = mem_nalloc();
	base = event_base_new();
	memset(zones, 0, sizeof(zones));
	net_sa_from_str(&zones[0].addr, "127.0.0.1", 0);
	net_sa_from_str(&zones[1].addr, "127.0.0.1", 0);
	zones[0].port_min = Z0_MIN;
	zones[0].port_max = Z0_MAX;
	zones[1].port_min = Z1_MIN;
	zones[1].port_max = Z1_MAX;
	mcfg = (struct config_media){ .timeout_s = 60, .policing = true, .policing_factor = 3,
				      .strict_source = true, .max_streams = 100 };
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	mem_fail_after(-1);
	event_base_free(base);
	assert_int_equal(mem_nalloc(), nalloc_start);
	return 0;
}

static void run_loop(unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/* A test peer: a UDP socket on ip, port chosen by the kernel. */
static int peer_sock(const char *ip, struct sockaddr_storage *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	net_sa_from_str(sa, ip, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)sa, net_sa_len(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &len), 0);
	return fd;
}

static void send_to(int fd, uint16_t port, const void *data, size_t len)
{
	struct sockaddr_storage dst;

	net_sa_from_str(&dst, "127.0.0.1", port);
	assert_int_equal(sendto(fd, data, len, 0, (struct sockaddr *)&dst, net_sa_len(&dst)),
			 (ssize_t)len);
}

/* Receive one datagram if there is one: its length, or -1. */
static ssize_t recv_one(int fd, void *buf, size_t size, uint16_t *from_port)
{
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n = recvfrom(fd, buf, size, 0, (struct sockaddr *)&from, &fl);

	if (n >= 0 && from_port)
		*from_port = net_sa_port(&from);
	return n;
}

static unsigned drain(int fd)
{
	char buf[4096];
	unsigned n = 0;

	while (recv_one(fd, buf, sizeof(buf), NULL) >= 0)
		n++;
	return n;
}

/* An RTP packet: version 2, payload type 0, seq, ts, ssrc, and a payload of len - 12 bytes. */
static size_t rtp_pkt(uint8_t *p, size_t len, uint16_t seq, uint32_t ts, uint32_t ssrc)
{
	memset(p, 0xd5, len);
	p[0] = 0x80;
	p[1] = 0;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	ts = htonl(ts);
	ssrc = htonl(ssrc);
	memcpy(p + 4, &ts, 4);
	memcpy(p + 8, &ssrc, 4);
	return len;
}

static bool port_free(uint16_t port)
{
	struct sockaddr_storage sa;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool ok;

	net_sa_from_str(&sa, "127.0.0.1", port);
	ok = bind(fd, (struct sockaddr *)&sa, net_sa_len(&sa)) == 0;
	close(fd);
	return ok;
}

static void peer_set(struct media_session *s, unsigned idx, unsigned zone,
		     const struct sockaddr_storage *rtp, const struct sockaddr_storage *rtcp,
		     uint32_t pps, bool mux, bool hold)
{
	struct media_peer p;

	memset(&p, 0, sizeof(p));
	p.rtp = *rtp;
	if (rtcp)
		p.rtcp = *rtcp;
	p.expected_pps = pps;
	p.clock_rate = 8000;
	p.rtcp_mux = mux;
	p.hold = hold;
	assert_int_equal(media_stream_peer(s, idx, zone, &p), 0);
}

static void test_pairs_and_mux(void **state)
{
	struct media_engine *me;
	struct media_session *s;
	struct media_engine_stats es;
	uint16_t port[2], again[2], mux[2];

	(void)state;
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	media_engine_stats(me, &es);
	assert_int_equal(es.ports_total[0], 2 * NPAIRS);
	assert_int_equal(es.ports_in_use[0], 0);
	assert_true(es.fd_limit >= 100 * 4);
	assert_int_equal(media_session_alloc(&s, me, NULL, NULL), 0);
	assert_int_equal(media_stream_open(s, 0, false, port), 0);
	for (unsigned z = 0; z < 2; z++) {
		assert_int_equal(port[z] % 2, 0);
		assert_false(port_free(port[z]));
		assert_false(port_free((uint16_t)(port[z] + 1)));
	}
	assert_true(port[0] >= Z0_MIN && port[0] < Z0_MAX);
	assert_true(port[1] >= Z1_MIN && port[1] < Z1_MAX);
	assert_int_equal(media_stream_open(s, 0, false, again), 0);
	assert_memory_equal(port, again, sizeof(port));
	/* rtcp-mux: one port bound, the odd one stays reserved but unbound */
	assert_int_equal(media_stream_open(s, 1, true, mux), 0);
	for (unsigned z = 0; z < 2; z++) {
		assert_int_equal(mux[z] % 2, 0);
		assert_int_not_equal(mux[z], port[z]);
		assert_false(port_free(mux[z]));
		assert_true(port_free((uint16_t)(mux[z] + 1)));
	}
	media_engine_stats(me, &es);
	assert_int_equal(es.ports_in_use[0], 4);
	assert_int_equal(es.ports_in_use[1], 4);
	assert_int_equal(es.streams, 2);
	assert_int_equal(es.sockets, 6);
	assert_int_equal(media_stream_open(s, MEDIA_MAX_STREAMS, false, again), EINVAL);
	mem_deref(s);
	mem_deref(me);
}

static void test_exhaustion_reuse_and_free(void **state)
{
	struct media_engine *me;
	struct media_session *s, *s2;
	struct media_engine_stats es;
	uint16_t port[NPAIRS][2], p[2];

	(void)state;
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	assert_int_equal(media_session_alloc(&s, me, NULL, NULL), 0);
	assert_int_equal(media_session_alloc(&s2, me, NULL, NULL), 0);
	for (unsigned i = 0; i < NPAIRS; i++)
		assert_int_equal(media_stream_open(s, i, false, port[i]), 0);
	assert_int_equal(media_stream_open(s2, 0, false, p), ENOSPC);
	media_engine_stats(me, &es);
	assert_int_equal(es.ports_in_use[0], es.ports_total[0]);
	/* a closed pair comes back; the port is free again */
	media_stream_close(s, 1);
	assert_true(port_free(port[1][0]));
	assert_int_equal(media_stream_open(s2, 0, false, p), 0);
	assert_int_equal(p[0], port[1][0]);
	assert_int_equal(p[1], port[1][1]);
	/* freeing a session releases every port at once */
	mem_deref(s);
	media_engine_stats(me, &es);
	assert_int_equal(es.ports_in_use[0], 2);
	assert_int_equal(es.sessions, 1);
	mem_deref(s2);
	media_engine_stats(me, &es);
	assert_int_equal(es.ports_in_use[0], 0);
	assert_int_equal(es.ports_in_use[1], 0);
	assert_int_equal(es.streams, 0);
	assert_int_equal(es.sockets, 0);
	assert_int_equal(es.sessions, 0);
	for (unsigned i = 0; i < NPAIRS; i++)
		assert_true(port_free(port[i][0]) && port_free(port[i][1]));
	mem_deref(me);
}

static void test_max_streams(void **state)
{
	struct media_engine *me;
	struct media_session *s, *s2;
	uint16_t p[2];

	(void)state;
	mcfg.max_streams = 2;
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	assert_int_equal(media_session_alloc(&s, me, NULL, NULL), 0);
	assert_int_equal(media_stream_open(s, 0, true, p), 0);
	assert_int_equal(media_stream_open(s, 1, true, p), 0);
	assert_int_equal(media_stream_open(s, 2, true, p), ENOSPC);
	assert_int_equal(media_session_alloc(&s2, me, NULL, NULL), 0);
	assert_int_equal(media_session_alloc(&s2, me, NULL, NULL), ENOSPC);
	mem_deref(s2);
	mem_deref(s);
	mem_deref(me);
}

static void test_busy_port_skipped(void **state)
{
	struct media_engine *me;
	struct media_session *s;
	struct media_engine_stats es;
	struct sockaddr_storage sa;
	uint16_t p[2];
	int busy_rtp, busy_rtcp;
	unsigned n = 0;

	(void)state;
	/* someone else holds the RTP port of pair 1 and the RTCP port of pair 2 on zone 0 */
	busy_rtp = socket(AF_INET, SOCK_DGRAM, 0);
	net_sa_from_str(&sa, "127.0.0.1", Z0_MIN + 2);
	assert_int_equal(bind(busy_rtp, (struct sockaddr *)&sa, net_sa_len(&sa)), 0);
	busy_rtcp = socket(AF_INET, SOCK_DGRAM, 0);
	net_sa_from_str(&sa, "127.0.0.1", Z0_MIN + 5);
	assert_int_equal(bind(busy_rtcp, (struct sockaddr *)&sa, net_sa_len(&sa)), 0);
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	assert_int_equal(media_session_alloc(&s, me, NULL, NULL), 0);
	while (media_stream_open(s, n, false, p) == 0) {
		assert_int_not_equal(p[0], Z0_MIN + 2);
		assert_int_not_equal(p[0], Z0_MIN + 4);
		n++;
	}
	assert_int_equal(n, NPAIRS - 2);
	media_engine_stats(me, &es);
	assert_true(es.bind_skipped >= 2);
	assert_int_equal(media_stream_open(s, n, false, p), ENOSPC);
	/* the busy ports are freed: they are used again */
	close(busy_rtp);
	close(busy_rtcp);
	assert_int_equal(media_stream_open(s, n, false, p), 0);
	mem_deref(s);
	media_engine_stats(me, &es);
	assert_int_equal(es.ports_in_use[0], 0);
	mem_deref(me);
}

struct call {
	struct media_engine *me;
	struct media_session *s;
	uint16_t port[2];
	int a, a_rtcp, b, b_rtcp;           /* peer sockets: a on zone 0, b on zone 1 */
	struct sockaddr_storage a_sa, a_rtcp_sa, b_sa, b_rtcp_sa;
};

/* Engine, session, stream 0 and two peers with separate RTCP sockets. */
static void call_start(struct call *c, bool mux, uint32_t pps)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(media_engine_alloc(&c->me, base, zones, &mcfg), 0);
	assert_int_equal(media_session_alloc(&c->s, c->me, NULL, NULL), 0);
	assert_int_equal(media_stream_open(c->s, 0, mux, c->port), 0);
	c->a = peer_sock("127.0.0.1", &c->a_sa);
	c->a_rtcp = peer_sock("127.0.0.1", &c->a_rtcp_sa);
	c->b = peer_sock("127.0.0.1", &c->b_sa);
	c->b_rtcp = peer_sock("127.0.0.1", &c->b_rtcp_sa);
	peer_set(c->s, 0, 0, &c->a_sa, mux ? NULL : &c->a_rtcp_sa, pps, mux, false);
	peer_set(c->s, 0, 1, &c->b_sa, mux ? NULL : &c->b_rtcp_sa, pps, mux, false);
}

static void call_end(struct call *c)
{
	close(c->a);
	close(c->a_rtcp);
	close(c->b);
	close(c->b_rtcp);
	mem_deref(c->s);
	mem_deref(c->me);
}

static void test_relay_both_ways(void **state)
{
	struct call c;
	struct media_stream_stats st;
	uint8_t pkt[172], got[2048], rtcp[28];
	uint16_t from;
	ssize_t n;

	(void)state;
	call_start(&c, false, 0);
	rtp_pkt(pkt, sizeof(pkt), 1, 160, 0x1234);
	send_to(c.a, c.port[0], pkt, sizeof(pkt));
	run_loop(30);
	n = recv_one(c.b, got, sizeof(got), &from);
	assert_int_equal(n, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	assert_int_equal(from, c.port[1]);
	/* and back: b's packet leaves zone 0's RTP port towards a */
	rtp_pkt(pkt, sizeof(pkt), 7, 960, 0x5678);
	pkt[20] = 0x42;
	send_to(c.b, c.port[1], pkt, sizeof(pkt));
	run_loop(30);
	n = recv_one(c.a, got, sizeof(got), &from);
	assert_int_equal(n, sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	assert_int_equal(from, c.port[0]);
	/* RTCP: RTCP port to RTCP port, counted */
	memset(rtcp, 0, sizeof(rtcp));
	rtcp[0] = 0x80;
	rtcp[1] = 200;
	rtcp[3] = 6;
	send_to(c.a_rtcp, (uint16_t)(c.port[0] + 1), rtcp, sizeof(rtcp));
	run_loop(30);
	n = recv_one(c.b_rtcp, got, sizeof(got), &from);
	assert_int_equal(n, sizeof(rtcp));
	assert_memory_equal(got, rtcp, sizeof(rtcp));
	assert_int_equal(from, c.port[1] + 1);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_int_equal(st.packets[0], 2);
	assert_int_equal(st.bytes[0], sizeof(pkt) + sizeof(rtcp));
	assert_int_equal(st.rtcp_packets[0], 1);
	assert_int_equal(st.packets[1], 1);
	assert_int_equal(st.relayed[0], 2);
	assert_int_equal(st.relayed[1], 1);
	assert_int_equal(st.rtcp_packets[1], 0);
	assert_true(st.latched[0] && st.latched[1]);
	assert_int_equal(net_sa_port(&st.latched_addr[0]), net_sa_port(&c.a_sa));
	assert_int_equal(media_stream_stats(c.s, 5, &st), ENOENT);
	call_end(&c);
}

/* Both zones on ::1: the compact addresses carry IPv6 too. */
static void test_relay_ipv6(void **state)
{
	struct media_engine *me;
	struct media_session *s;
	struct media_zone_cfg z6[MEDIA_ZONES];
	struct sockaddr_storage a_sa, b_sa, dst;
	struct media_stream_stats st;
	socklen_t len = sizeof(a_sa);
	uint8_t pkt[100], got[256];
	uint16_t port[2];
	int a, b;

	(void)state;
	a = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	net_sa_from_str(&a_sa, "::1", 0);
	if (a < 0 || bind(a, (struct sockaddr *)&a_sa, net_sa_len(&a_sa)) != 0) {
		if (a >= 0)
			close(a);
		skip();
	}
	getsockname(a, (struct sockaddr *)&a_sa, &len);
	b = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	net_sa_from_str(&b_sa, "::1", 0);
	assert_int_equal(bind(b, (struct sockaddr *)&b_sa, net_sa_len(&b_sa)), 0);
	len = sizeof(b_sa);
	getsockname(b, (struct sockaddr *)&b_sa, &len);
	memcpy(z6, zones, sizeof(z6));
	net_sa_from_str(&z6[0].addr, "::1", 0);
	net_sa_from_str(&z6[1].addr, "::1", 0);
	assert_int_equal(media_engine_alloc(&me, base, z6, &mcfg), 0);
	assert_int_equal(media_session_alloc(&s, me, NULL, NULL), 0);
	assert_int_equal(media_stream_open(s, 0, true, port), 0);
	peer_set(s, 0, 0, &a_sa, NULL, 0, true, false);
	peer_set(s, 0, 1, &b_sa, NULL, 0, true, false);
	rtp_pkt(pkt, sizeof(pkt), 1, 160, 6);
	net_sa_from_str(&dst, "::1", port[0]);
	assert_int_equal(sendto(a, pkt, sizeof(pkt), 0, (struct sockaddr *)&dst, net_sa_len(&dst)),
			 (ssize_t)sizeof(pkt));
	run_loop(30);
	assert_int_equal(recv_one(b, got, sizeof(got), NULL), sizeof(pkt));
	assert_memory_equal(got, pkt, sizeof(pkt));
	assert_int_equal(media_stream_stats(s, 0, &st), 0);
	assert_true(st.latched[0]);
	assert_int_equal(st.latched_addr[0].ss_family, AF_INET6);
	assert_true(net_sa_eq(&st.latched_addr[0], &a_sa));
	close(a);
	close(b);
	mem_deref(s);
	mem_deref(me);
}

static void test_latch_and_strict_source(void **state)
{
	struct call c;
	struct media_stream_stats st;
	struct media_engine_stats es;
	struct sockaddr_storage other_sa, same_ip_sa;
	uint8_t pkt[172], got[2048];
	int other, same_ip;

	(void)state;
	call_start(&c, false, 0);
	other = peer_sock("127.0.0.2", &other_sa);        /* an IP the SDP did not name */
	same_ip = peer_sock("127.0.0.1", &same_ip_sa);    /* the SDP's IP, another port */
	rtp_pkt(pkt, sizeof(pkt), 1, 160, 1);
	/* before latching: only the SDP IP may latch */
	send_to(other, c.port[0], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(drain(c.b), 0);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_false(st.latched[0]);
	assert_int_equal(st.dropped_source[0], 1);
	/* the real peer latches (from any port of the SDP IP) */
	send_to(c.a, c.port[0], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(drain(c.b), 1);
	/* now even the SDP IP from another port is refused */
	send_to(same_ip, c.port[0], pkt, sizeof(pkt));
	send_to(other, c.port[0], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(drain(c.b), 0);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_true(st.latched[0]);
	assert_int_equal(st.dropped_source[0], 3);
	assert_int_equal(st.relayed[0], 1);
	media_engine_stats(c.me, &es);
	assert_int_equal(es.dropped_source, 3);
	/* b -> a goes to the latched address */
	send_to(c.b, c.port[1], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(recv_one(c.a, got, sizeof(got), NULL), sizeof(pkt));
	assert_int_equal(drain(same_ip), 0);
	close(other);
	close(same_ip);
	call_end(&c);
}

/* The latched source went quiet (a NAT rebinding): the same IP from a new port takes over. */
static void test_relatch_after_silence(void **state)
{
	struct call c;
	struct media_stream_stats st;
	struct media_tuning tune = { .relatch_ms = 100 };
	struct sockaddr_storage moved_sa, other_sa;
	uint8_t pkt[172];
	int moved, other;

	(void)state;
	call_start(&c, false, 0);
	assert_int_equal(media_engine_tune(c.me, &tune), 0);
	moved = peer_sock("127.0.0.1", &moved_sa);
	other = peer_sock("127.0.0.2", &other_sa);
	rtp_pkt(pkt, sizeof(pkt), 1, 160, 1);
	send_to(c.a, c.port[0], pkt, sizeof(pkt));
	run_loop(20);
	send_to(moved, c.port[0], pkt, sizeof(pkt));   /* too soon: dropped */
	run_loop(150);
	send_to(other, c.port[0], pkt, sizeof(pkt));   /* quiet long enough, but not an allowed IP */
	run_loop(20);
	send_to(moved, c.port[0], pkt, sizeof(pkt));   /* allowed IP after the silence: re-latched */
	run_loop(20);
	send_to(c.a, c.port[0], pkt, sizeof(pkt));     /* the old source is now the stranger */
	run_loop(20);
	assert_int_equal(drain(c.b), 2);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_true(net_sa_eq(&st.latched_addr[0], &moved_sa));
	assert_int_equal(st.dropped_source[0], 3);
	close(moved);
	close(other);
	call_end(&c);
}

static void test_loose_source(void **state)
{
	struct call c;
	struct media_stream_stats st;
	struct sockaddr_storage other_sa;
	uint8_t pkt[172];
	int other;

	(void)state;
	mcfg.strict_source = false;
	call_start(&c, false, 0);
	other = peer_sock("127.0.0.2", &other_sa);
	rtp_pkt(pkt, sizeof(pkt), 1, 160, 1);
	send_to(other, c.port[0], pkt, sizeof(pkt));
	run_loop(30);
	send_to(c.a, c.port[0], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(drain(c.b), 2);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_true(st.latched[0]);
	assert_true(net_sa_eq(&st.latched_addr[0], &other_sa));
	assert_int_equal(st.dropped_source[0], 0);
	close(other);
	call_end(&c);
}

/* A phone behind NAT: private SDP address, signalling from its public IP. */
static void test_nat_latch_on_signalling_source(void **state)
{
	struct call c;
	struct media_peer p;
	struct media_stream_stats st;
	uint8_t pkt[172], got[2048];
	uint16_t from;

	(void)state;
	call_start(&c, false, 0);
	memset(&p, 0, sizeof(p));
	net_sa_from_str(&p.rtp, "192.168.1.20", 4000);
	net_sa_from_str(&p.sig_src, "127.0.0.1", 5060);
	p.clock_rate = 8000;
	assert_int_equal(media_stream_peer(c.s, 0, 0, &p), 0);
	rtp_pkt(pkt, sizeof(pkt), 1, 160, 1);
	/* nothing goes to the private address before the phone's first packet */
	send_to(c.b, c.port[1], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_int_equal(st.dropped_no_dest[1], 1);
	/* the phone's packet from its NAT address (the signalling IP) latches */
	send_to(c.a, c.port[0], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(drain(c.b), 1);
	send_to(c.b, c.port[1], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(recv_one(c.a, got, sizeof(got), &from), sizeof(pkt));
	assert_int_equal(from, c.port[0]);
	call_end(&c);
}

static void test_hold(void **state)
{
	struct call c;
	struct media_stream_stats st;
	uint8_t pkt[172];

	(void)state;
	call_start(&c, false, 0);
	peer_set(c.s, 0, 1, &c.b_sa, &c.b_rtcp_sa, 0, false, true);
	rtp_pkt(pkt, sizeof(pkt), 1, 160, 1);
	for (int i = 0; i < 5; i++)
		send_to(c.a, c.port[0], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(drain(c.b), 0);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_int_equal(st.dropped_no_dest[0], 5);
	assert_int_equal(st.relayed[0], 0);
	assert_true(st.latched[1] == false);
	/* b, on hold (sendonly), may still send: a gets it */
	send_to(c.b, c.port[1], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(drain(c.a), 1);
	/* c=0.0.0.0 hold without an address keeps the address and the latch */
	{
		struct media_peer hp;

		memset(&hp, 0, sizeof(hp));
		hp.hold = true;
		assert_int_equal(media_stream_peer(c.s, 0, 1, &hp), 0);
		send_to(c.a, c.port[0], pkt, sizeof(pkt));
		run_loop(30);
		assert_int_equal(drain(c.b), 0);
	}
	/* resumed: relayed again, and the latch survived (same address) */
	peer_set(c.s, 0, 1, &c.b_sa, &c.b_rtcp_sa, 0, false, false);
	send_to(c.a, c.port[0], pkt, sizeof(pkt));
	run_loop(30);
	assert_int_equal(drain(c.b), 1);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_true(st.latched[1]);
	call_end(&c);
}

static void test_policing(void **state)
{
	struct call c;
	struct media_stream_stats st;
	struct media_engine_stats es;
	uint8_t pkt[172];
	unsigned got = 0;

	(void)state;
	/* 50 pps expected, factor 3: 150 packets of burst, then 150/s */
	call_start(&c, false, 50);
	for (uint16_t i = 0; i < 400; i++) {
		rtp_pkt(pkt, sizeof(pkt), i, i * 160u, 9);
		send_to(c.a, c.port[0], pkt, sizeof(pkt));
		if (i % 50 == 49) {
			run_loop(5);
			got += drain(c.b);
		}
	}
	run_loop(20);
	got += drain(c.b);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_int_equal(st.packets[0], 400);
	assert_true(st.dropped_policing[0] >= 200);
	assert_true(st.relayed[0] <= 200);
	assert_int_equal(st.relayed[0] + st.dropped_policing[0], 400);
	assert_int_equal(got, st.relayed[0]);
	media_engine_stats(c.me, &es);
	assert_int_equal(es.dropped_policing, st.dropped_policing[0]);
	call_end(&c);
	/* no policing when expected_pps is 0 (video) */
	call_start(&c, false, 0);
	for (uint16_t i = 0; i < 300; i++) {
		send_to(c.a, c.port[0], pkt, sizeof(pkt));
		if (i % 50 == 49)
			run_loop(5);
	}
	run_loop(20);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_int_equal(st.dropped_policing[0], 0);
	assert_int_equal(st.relayed[0], 300);
	call_end(&c);
}

static void test_rtpstat_loss_and_jitter(void **state)
{
	struct media_rtpstat rs;
	/* wrap at 65535, gap of 2 (65534, 65535 lost: no), reorder and duplicate */
	static const uint16_t seqs[] = { 65530, 65531, 65533, 65532, 65534, 65535, 0, 1,
					 4, 3, 3, 7, 8 };
	/* received 13 packets incl. one duplicate; expected 65530..8 = 15; missing 2, 5, 6 */

	(void)state;
	memset(&rs, 0, sizeof(rs));
	for (unsigned i = 0; i < ARRAY_SIZE(seqs); i++)
		media_rtpstat_update(&rs, 77, seqs[i], 0, 0, false);
	assert_int_equal(rs.cycles, 1u << 16);
	assert_int_equal(rs.max_seq, 8);
	assert_int_equal(rs.received, 13);
	assert_int_equal(media_rtpstat_lost(&rs), 15 - 13);
	/* a duplicate-heavy stream never goes below 0 */
	media_rtpstat_update(&rs, 77, 8, 0, 0, false);
	media_rtpstat_update(&rs, 77, 8, 0, 0, false);
	assert_int_equal(media_rtpstat_lost(&rs), 0);
	/* a new SSRC starts over, keeping what was lost before */
	memset(&rs, 0, sizeof(rs));
	media_rtpstat_update(&rs, 1, 10, 0, 0, false);
	media_rtpstat_update(&rs, 1, 13, 0, 0, false);   /* 11, 12 lost */
	media_rtpstat_update(&rs, 2, 500, 0, 0, false);
	media_rtpstat_update(&rs, 2, 502, 0, 0, false);  /* 501 lost */
	assert_int_equal(media_rtpstat_lost(&rs), 3);
	/* a jump beyond MAX_DROPOUT is believed only when the next one follows it */
	memset(&rs, 0, sizeof(rs));
	media_rtpstat_update(&rs, 1, 100, 0, 0, false);
	media_rtpstat_update(&rs, 1, 20000, 0, 0, false);
	assert_int_equal(rs.max_seq, 100);
	media_rtpstat_update(&rs, 1, 20001, 0, 0, false);
	assert_int_equal(rs.max_seq, 20001);
	assert_int_equal(media_rtpstat_lost(&rs), 0);
	/* ... also when the packet that confirms it has sequence number 0 */
	memset(&rs, 0, sizeof(rs));
	media_rtpstat_update(&rs, 1, 30000, 0, 0, false);
	media_rtpstat_update(&rs, 1, 65535, 0, 0, false);
	assert_int_equal(rs.max_seq, 30000);
	media_rtpstat_update(&rs, 1, 0, 0, 0, false);
	assert_int_equal(rs.max_seq, 0);
	assert_int_equal(media_rtpstat_lost(&rs), 0);

	/* jitter: perfectly paced packets give 0; one 20 ms late packet (160 units) */
	memset(&rs, 0, sizeof(rs));
	for (uint32_t i = 0; i < 10; i++)
		media_rtpstat_update(&rs, 5, (uint16_t)i, i * 160, 1000 + i * 160, true);
	assert_int_equal(rs.jitter, 0);
	media_rtpstat_update(&rs, 5, 10, 1600, 1000 + 1600 + 160, true);
	assert_int_equal(rs.jitter, 160);                     /* J = 160/16 = 10 units */
	media_rtpstat_update(&rs, 5, 11, 1760, 1000 + 1760, true);
	assert_int_equal(rs.jitter, 160 + 160 - 10);          /* J += (|D| - J) / 16 */
	assert_true(media_rtpstat_jitter_ms(&rs, 8000) > 2.42 &&
		    media_rtpstat_jitter_ms(&rs, 8000) < 2.43);  /* 19.375 / 8 ms */
	assert_true(media_rtpstat_jitter_ms(&rs, 0) == 0.0);
	/* the timestamp wraps too */
	memset(&rs, 0, sizeof(rs));
	media_rtpstat_update(&rs, 5, 1, 0xffffff00u, 50, true);
	media_rtpstat_update(&rs, 5, 2, 0xffffff00u + 160, 210, true);
	assert_int_equal(rs.jitter, 0);
	assert_int_equal(media_pps_from_ptime(20), 50);
	assert_int_equal(media_pps_from_ptime(0), 50);
	assert_int_equal(media_pps_from_ptime(30), 34);
}

static void test_loss_end_to_end_and_mux_rtcp(void **state)
{
	struct call c;
	struct media_stream_stats st;
	static const uint16_t seqs[] = { 65533, 65534, 0, 2, 1, 5 };  /* 65535, 3, 4 lost */
	uint8_t pkt[172], rtcp[32];

	(void)state;
	call_start(&c, true, 0);
	for (unsigned i = 0; i < ARRAY_SIZE(seqs); i++) {
		rtp_pkt(pkt, sizeof(pkt), seqs[i], seqs[i] * 160u, 3);
		send_to(c.a, c.port[0], pkt, sizeof(pkt));
		run_loop(3);
	}
	/* RTCP on the mux port: detected by its packet type, sent to the RTP address */
	memset(rtcp, 0, sizeof(rtcp));
	rtcp[0] = 0x81;
	rtcp[1] = 201;
	send_to(c.a, c.port[0], rtcp, sizeof(rtcp));
	rtcp[1] = 206;   /* AVPF feedback is RTCP too */
	send_to(c.a, c.port[0], rtcp, sizeof(rtcp));
	run_loop(20);
	assert_int_equal(drain(c.b), ARRAY_SIZE(seqs) + 2);
	assert_int_equal(drain(c.b_rtcp), 0);
	assert_int_equal(media_stream_stats(c.s, 0, &st), 0);
	assert_int_equal(st.lost[0], 3);
	assert_int_equal(st.rtcp_packets[0], 2);
	assert_int_equal(st.packets[0], ARRAY_SIZE(seqs) + 2);
	assert_true(st.jitter_ms[0] >= 0.0);
	call_end(&c);
}

/* One peer with mux, the other without: RTCP crosses between the RTP and the RTCP ports. */
static void test_mux_to_non_mux(void **state)
{
	struct call c;
	uint8_t rtcp[32], got[64];
	uint16_t from;

	(void)state;
	call_start(&c, true, 0);   /* opened with mux: no RTCP sockets yet */
	peer_set(c.s, 0, 1, &c.b_sa, &c.b_rtcp_sa, 0, false, false);
	memset(rtcp, 0, sizeof(rtcp));
	rtcp[0] = 0x80;
	rtcp[1] = 200;
	send_to(c.a, c.port[0], rtcp, sizeof(rtcp));
	run_loop(20);
	assert_int_equal(recv_one(c.b_rtcp, got, sizeof(got), &from), sizeof(rtcp));
	assert_int_equal(from, c.port[1] + 1);   /* bound on demand */
	send_to(c.b_rtcp, (uint16_t)(c.port[1] + 1), rtcp, sizeof(rtcp));
	run_loop(20);
	assert_int_equal(recv_one(c.a, got, sizeof(got), &from), sizeof(rtcp));
	assert_int_equal(from, c.port[0]);
	call_end(&c);
}

/* Opened with mux, the other peer wants RTCP apart, and its socket cannot be allocated. */
static void test_mux_to_non_mux_no_memory(void **state)
{
	struct call c;
	struct media_engine_stats es;
	uint8_t rtcp[32], got[64];
	uint16_t from;

	(void)state;
	call_start(&c, true, 0);
	mem_fail_after(0);
	peer_set(c.s, 0, 1, &c.b_sa, &c.b_rtcp_sa, 0, false, false);
	mem_fail_after(-1);
	media_engine_stats(c.me, &es);
	assert_int_equal(es.sockets, 2);
	memset(rtcp, 0, sizeof(rtcp));
	rtcp[0] = 0x80;
	rtcp[1] = 200;
	send_to(c.a, c.port[0], rtcp, sizeof(rtcp));
	run_loop(20);
	/* still relayed: to the peer's RTCP address, from the RTP port */
	assert_int_equal(recv_one(c.b_rtcp, got, sizeof(got), &from), sizeof(rtcp));
	assert_int_equal(from, c.port[1]);
	/* a later update binds it */
	peer_set(c.s, 0, 1, &c.b_sa, &c.b_rtcp_sa, 0, false, false);
	media_engine_stats(c.me, &es);
	assert_int_equal(es.sockets, 3);
	call_end(&c);
}

static unsigned timeouts;

static void timeout_h(struct media_session *s, void *arg)
{
	(void)s;
	(void)arg;
	timeouts++;
}

static void test_inactivity_timeout_once(void **state)
{
	struct media_engine *me;
	struct media_session *s, *held, *fresh;
	struct media_engine_stats es;
	struct media_tuning tune = { .sweep_ms = 20, .timeout_ms = 150 };
	struct sockaddr_storage a, b;
	uint16_t p[2];

	(void)state;
	timeouts = 0;
	net_sa_from_str(&a, "127.0.0.1", 9);
	net_sa_from_str(&b, "127.0.0.1", 11);
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	assert_int_equal(media_engine_tune(me, &tune), 0);
	assert_int_equal(media_session_alloc(&s, me, timeout_h, NULL), 0);
	assert_int_equal(media_stream_open(s, 0, true, p), 0);
	peer_set(s, 0, 0, &a, NULL, 50, true, false);
	peer_set(s, 0, 1, &b, NULL, 50, true, false);
	/* on hold: no media expected, no timeout */
	assert_int_equal(media_session_alloc(&held, me, timeout_h, NULL), 0);
	assert_int_equal(media_stream_open(held, 0, true, p), 0);
	peer_set(held, 0, 0, &a, NULL, 50, true, true);
	peer_set(held, 0, 1, &b, NULL, 50, true, false);
	/* one peer unknown (offer sent, no answer yet): no timeout */
	assert_int_equal(media_session_alloc(&fresh, me, timeout_h, NULL), 0);
	assert_int_equal(media_stream_open(fresh, 0, true, p), 0);
	peer_set(fresh, 0, 0, &a, NULL, 50, true, false);
	run_loop(100);
	assert_int_equal(timeouts, 0);
	run_loop(300);
	assert_int_equal(timeouts, 1);
	run_loop(100);
	assert_int_equal(timeouts, 1);
	media_engine_stats(me, &es);
	assert_int_equal(es.timeouts, 1);
	mem_deref(fresh);
	mem_deref(held);
	mem_deref(s);
	mem_deref(me);
}

/* The handler frees its session (the B2BUA's way). */
static void timeout_free_h(struct media_session *s, void *arg)
{
	struct media_session **sp = arg;

	timeouts++;
	*sp = NULL;
	mem_deref(s);
}

static void test_timeout_handler_frees(void **state)
{
	struct media_engine *me;
	struct media_session *s1, *s2;
	struct media_tuning tune = { .sweep_ms = 10, .timeout_ms = 50 };
	struct sockaddr_storage a;
	struct media_engine_stats es;
	uint16_t p[2];

	(void)state;
	timeouts = 0;
	net_sa_from_str(&a, "127.0.0.1", 9);
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	assert_int_equal(media_engine_tune(me, &tune), 0);
	assert_int_equal(media_session_alloc(&s1, me, timeout_free_h, &s1), 0);
	assert_int_equal(media_session_alloc(&s2, me, timeout_free_h, &s2), 0);
	assert_int_equal(media_stream_open(s1, 0, false, p), 0);
	assert_int_equal(media_stream_open(s2, 3, false, p), 0);
	for (unsigned z = 0; z < 2; z++) {
		peer_set(s1, 0, z, &a, NULL, 0, false, false);
		peer_set(s2, 3, z, &a, NULL, 0, false, false);
	}
	run_loop(150);
	assert_int_equal(timeouts, 2);
	assert_null(s1);
	assert_null(s2);
	media_engine_stats(me, &es);
	assert_int_equal(es.sessions, 0);
	assert_int_equal(es.ports_in_use[0], 0);
	mem_deref(me);
}

/* The idle time is a difference on the ms clock modulo 2^32, also across its wrap. */
static void test_sweep_clock_wrap(void **state)
{
	struct media_engine *me;
	struct media_session *s, *ahead;
	struct media_tuning tune = { .sweep_ms = 100000, .timeout_ms = 150 };
	struct sockaddr_storage a;
	const uint64_t now = (1ull << 32) + 0x100;   /* 0x100 ms after the 32-bit ms clock wrapped */
	uint16_t p[2];

	(void)state;
	timeouts = 0;
	net_sa_from_str(&a, "127.0.0.1", 9);
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	assert_int_equal(media_engine_tune(me, &tune), 0);
	assert_int_equal(media_session_alloc(&s, me, timeout_h, NULL), 0);
	assert_int_equal(media_session_alloc(&ahead, me, timeout_h, NULL), 0);
	assert_int_equal(media_stream_open(s, 0, true, p), 0);
	assert_int_equal(media_stream_open(ahead, 0, true, p), 0);
	for (unsigned z = 0; z < 2; z++) {
		peer_set(s, 0, z, &a, NULL, 0, true, false);
		peer_set(ahead, 0, z, &a, NULL, 0, true, false);
	}
	s->streams->last_rx_ms = 0xffffff80u;           /* 384 ms before now */
	ahead->streams->last_rx_ms = 0x110;             /* set after now was read */
	media_engine_sweep(me, 0xffffffc0u);            /* 64 ms after: not idle yet */
	assert_int_equal(timeouts, 0);
	media_engine_sweep(me, now);
	assert_int_equal(timeouts, 1);
	assert_true(s->timed_out);
	assert_false(ahead->timed_out);
	mem_deref(ahead);
	mem_deref(s);
	mem_deref(me);
}

/* Token buckets on a 32-bit ms clock: refill across the wrap; the rate cap keeps a bucket in 32 bits. */
static void test_bucket_wrap_and_cap(void **state)
{
	struct media_bucket b;
	unsigned n;

	(void)state;
	media_bucket_set(&b, 50, 0xfffffc00u);          /* 1024 ms before the clock wraps */
	for (n = 0; media_bucket_take(&b, 0xfffffc00u); n++)
		;
	assert_int_equal(n, 50);                        /* a burst of one second */
	assert_true(media_bucket_take(&b, 0xfffffc00u + 20));   /* 20 ms: one packet */
	assert_false(media_bucket_take(&b, 0xfffffc00u + 20));
	for (n = 0; media_bucket_take(&b, 0x10); n++)   /* 1040 ms later, past the wrap: full */
		;
	assert_int_equal(n, 50);
	media_bucket_set(&b, 3, 0);
	for (n = 0; media_bucket_take(&b, 0); n++)
		;
	assert_int_equal(n, MEDIA_BURST_MIN);
	media_bucket_set(&b, UINT32_MAX, 0);
	assert_int_equal(b.rate, MEDIA_RATE_MAX);
	assert_int_equal(b.tokens, (uint32_t)MEDIA_RATE_MAX * 1000);
	media_bucket_set(&b, 0, 0);
	for (n = 0; n < 1000; n++)
		assert_true(media_bucket_take(&b, 0));
}

/* Compact addresses: both families, ports, the private ranges, link-local scope on the way out. */
static void test_compact_addresses(void **state)
{
	struct sockaddr_storage ss, back;
	struct media_addr a, b;
	union media_sa sa, zone4, zone6;
	struct sockaddr_storage zs;

	(void)state;
	net_sa_from_str(&zs, "203.0.113.1", 0);
	assert_int_equal(media_sa_set(&zone4, &zs), 0);
	net_sa_from_str(&zs, "fe80::2", 0);
	assert_int_equal(media_sa_set(&zone6, &zs), 0);
	zone6.in6.sin6_scope_id = 7;
	net_sa_from_str(&ss, "203.0.113.5", 4000);
	assert_int_equal(media_addr_set(&a, &ss), 0);
	assert_int_equal(media_addr_port(&a), 4000);
	assert_false(media_addr_is_private(&a));
	assert_false(media_addr_is_any(&a));
	assert_int_equal(media_addr_to_sa(&sa, &a, &zone4), sizeof(struct sockaddr_in));
	assert_true(media_addr_eq_sa(&a, &sa));
	media_addr_get(&back, &a, &zone4);
	assert_true(net_sa_eq(&back, &ss));
	b = a;
	media_addr_set_port(&b, 4001);
	assert_false(media_addr_eq(&a, &b));
	assert_true(media_addr_eq_ip(&a, &b));
	net_sa_from_str(&ss, "10.1.2.3", 4000);
	assert_int_equal(media_addr_set(&b, &ss), 0);
	assert_true(media_addr_is_private(&b));
	assert_false(media_addr_eq_ip_sa(&b, &sa));

	net_sa_from_str(&ss, "2001:db8::1", 5004);
	assert_int_equal(media_addr_set(&a, &ss), 0);
	assert_int_equal(media_addr_to_sa(&sa, &a, &zone6), sizeof(struct sockaddr_in6));
	assert_int_equal(sa.in6.sin6_scope_id, 0);
	assert_true(media_addr_eq_sa(&a, &sa));
	assert_false(media_addr_is_private(&a));
	media_addr_get(&back, &a, &zone6);
	assert_true(net_sa_eq(&back, &ss));
	net_sa_from_str(&ss, "fe80::1", 5004);
	assert_int_equal(media_addr_set(&b, &ss), 0);
	assert_true(media_addr_is_private(&b));
	media_addr_to_sa(&sa, &b, &zone6);
	assert_int_equal(sa.in6.sin6_scope_id, 7);      /* the zone's link */
	assert_int_equal(ntohs(sa.in6.sin6_port), 5004);
	assert_false(media_addr_eq_ip(&a, &b));
	net_sa_from_str(&ss, "fd00::1", 1);
	assert_int_equal(media_addr_set(&b, &ss), 0);
	assert_true(media_addr_is_private(&b));
	/* an unset address equals nothing, not even another unset one */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	assert_false(media_addr_eq_ip(&a, &b));
	memset(&ss, 0, sizeof(ss));
	assert_int_equal(media_addr_set(&a, &ss), EAFNOSUPPORT);
}

/*
 * What a call costs (docs/media.md, "Batching and memory"): the sizes
 * beyond libevent's events have budgets, so growing them is a decision;
 * a session and each stream are one allocation, with or without RTCP
 * ports, and a late RTCP socket is one more.
 */
static void test_memory_per_call(void **state)
{
	struct media_engine *me;
	struct media_session *s;
	struct media_engine_stats es;
	struct sockaddr_storage a, a_rtcp;
	size_t n0;
	uint16_t p[2];

	(void)state;
	assert_int_equal(sizeof(struct media_addr), 20);
	assert_int_equal(sizeof(struct media_bucket), 12);
	assert_int_equal(sizeof(struct media_rtpstat), 32);
	assert_true(sizeof(struct media_sock) <= sizeof(struct event) + 32);
	if (sizeof(void *) == 8) {
		assert_true(sizeof(struct media_side) <= sizeof(struct media_sock) + 192);
		assert_true(sizeof(struct media_stream) <= 2 * sizeof(struct media_side) + 24);
		assert_true(sizeof(struct media_session) <= 56);
	}
	net_sa_from_str(&a, "127.0.0.1", 9);
	net_sa_from_str(&a_rtcp, "127.0.0.1", 11);
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	n0 = mem_nalloc();
	assert_int_equal(media_session_alloc(&s, me, NULL, NULL), 0);
	assert_int_equal(mem_nalloc(), n0 + 1);
	assert_int_equal(media_stream_open(s, 0, false, p), 0);
	assert_int_equal(mem_nalloc(), n0 + 2);
	assert_int_equal(media_stream_open(s, 1, true, p), 0);
	assert_int_equal(mem_nalloc(), n0 + 3);
	peer_set(s, 1, 0, &a, NULL, 50, true, false);
	assert_int_equal(mem_nalloc(), n0 + 3);
	peer_set(s, 1, 1, &a, &a_rtcp, 50, false, false);
	assert_int_equal(mem_nalloc(), n0 + 4);
	media_engine_stats(me, &es);
	assert_int_equal(es.sockets, 4 + 3);
	assert_int_equal(es.stream_bytes,
			 sizeof(struct media_stream) + MEDIA_ZONES * sizeof(struct media_sock));
	media_stream_close(s, 1);
	assert_int_equal(mem_nalloc(), n0 + 2);
	mem_deref(s);
	assert_int_equal(mem_nalloc(), n0);
	mem_deref(me);
}

/*
 * The per-packet path both backends share (media_pkt_in), called directly:
 * nothing before the peer is known, latching on an allowed source, the
 * latched source only afterwards, RTCP to the peer's RTCP port, policing,
 * and no destination while the other side is on hold.
 */
static void test_shared_packet_path(void **state)
{
	struct media_engine *me;
	struct media_session *s;
	struct media_stream *st;
	struct media_sock *os;
	const struct media_addr *dst = NULL;
	struct sockaddr_storage a0, a1, a1_rtcp;
	struct media_addr src, other;
	uint8_t rtp[172] = { 0x80, 0, 0, 1 };
	uint16_t port[2];
	uint64_t now = 5000000;
	unsigned ok = 0, policed = 0;

	(void)state;
	net_sa_from_str(&a0, "192.0.2.10", 4000);
	net_sa_from_str(&a1, "192.0.2.20", 5000);
	net_sa_from_str(&a1_rtcp, "192.0.2.20", 5011);
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	assert_int_equal(media_session_alloc(&s, me, NULL, NULL), 0);
	assert_int_equal(media_stream_open(s, 0, false, port), 0);
	st = s->streams;
	assert_int_equal(media_addr_set(&src, &a0), 0);
	other = src;
	other.ip.v4 ^= htonl(1);
	/* no peer yet: a source problem */
	assert_null(media_pkt_in(me, st, 0, &st->side[0].rtp, MEDIA_RTP, &src, rtp, sizeof(rtp),
				 now, &dst));
	assert_int_equal(st->side[0].dropped_source, 1);
	peer_set(s, 0, 0, &a0, NULL, 50, false, false);
	peer_set(s, 0, 1, &a1, &a1_rtcp, 50, false, false);
	/* another IP does not latch (strict); the peer's does, from any port */
	assert_null(media_pkt_in(me, st, 0, &st->side[0].rtp, MEDIA_RTP, &other, rtp, sizeof(rtp),
				 now, &dst));
	media_addr_set_port(&src, 4002);
	os = media_pkt_in(me, st, 0, &st->side[0].rtp, MEDIA_RTP, &src, rtp, sizeof(rtp), now,
			  &dst);
	assert_ptr_equal(os, &st->side[1].rtp);
	assert_int_equal(media_addr_port(dst), 5000);
	assert_int_equal(media_addr_port(&st->side[0].rtp.latched), 4002);
	/* latched: the same IP from another port is refused */
	media_addr_set_port(&src, 4004);
	assert_null(media_pkt_in(me, st, 0, &st->side[0].rtp, MEDIA_RTP, &src, rtp, sizeof(rtp),
				 now, &dst));
	assert_int_equal(st->side[0].dropped_source, 3);
	/* RTCP on the RTCP port goes to the peer's a=rtcp port */
	media_addr_set_port(&src, 4001);
	os = media_pkt_in(me, st, 0, st->side[0].rtcp, MEDIA_RTCP, &src, rtp, sizeof(rtp), now,
			  &dst);
	assert_ptr_equal(os, st->side[1].rtcp);
	assert_int_equal(media_addr_port(dst), 5011);
	assert_int_equal(st->side[0].rtcp_packets, 1);
	/* policing: 50 pps x 3, a burst of one second's worth, at one instant */
	media_addr_set_port(&src, 4002);
	for (unsigned i = 0; i < 400; i++) {
		if (media_pkt_in(me, st, 0, &st->side[0].rtp, MEDIA_RTP, &src, rtp, sizeof(rtp),
				 now, &dst))
			ok++;
		else
			policed++;
	}
	assert_int_equal(ok, 150 - 1);
	assert_int_equal(policed, 400 - 149);
	assert_int_equal(st->side[0].dropped_policing, policed);
	/* the other side on hold: no destination */
	peer_set(s, 0, 1, &a1, &a1_rtcp, 50, false, true);
	now += 2000000;
	assert_null(media_pkt_in(me, st, 0, &st->side[0].rtp, MEDIA_RTP, &src, rtp, sizeof(rtp),
				 now, &dst));
	assert_int_equal(st->side[0].dropped_no_dest, 1);
	assert_int_equal(st->side[0].packets, 1 + 1 + 1 + 1 + 1 + 400 + 1);
	mem_deref(s);
	mem_deref(me);
}

/*
 * A bypass zone's port table: a stream's pair found in O(1) from either
 * port (RTCP only when the side has an RTCP port), nothing outside the
 * range or on a free pair, and the entry gone when the stream closes. The
 * zone is marked bypass by hand here (no ring: that needs root and a
 * namespace, tests/integration/test_bypass.py): no packet flows.
 */
static void test_port_table(void **state)
{
	struct media_engine *me;
	struct media_session *s;
	struct media_zone *zn;
	struct media_sock *ms = NULL;
	struct media_engine_stats es;
	unsigned kind = 9;
	uint16_t p0[2], p1[2];

	(void)state;
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	zn = &me->zone[0];
	zn->ports = calloc(me->pool[0].npairs, sizeof(*zn->ports));
	assert_non_null(zn->ports);
	zn->bypass = true;
	assert_int_equal(media_session_alloc(&s, me, NULL, NULL), 0);
	assert_int_equal(media_stream_open(s, 0, false, p0), 0);
	assert_int_equal(media_stream_open(s, 1, true, p1), 0);
	media_engine_stats(me, &es);
	assert_int_equal(es.sockets, 2 + 1);    /* zone 1 only: RTP+RTCP, RTP */
	assert_int_equal(es.ports_in_use[0], 4);
	assert_ptr_equal(media_zone_port_lookup(zn, p0[0], &kind, &ms), s->streams->next);
	assert_int_equal(kind, MEDIA_RTP);
	assert_ptr_equal(ms, &s->streams->next->side[0].rtp);
	assert_ptr_equal(media_zone_port_lookup(zn, (uint16_t)(p0[0] + 1), &kind, &ms),
			 s->streams->next);
	assert_int_equal(kind, MEDIA_RTCP);
	assert_ptr_equal(ms, s->streams->next->side[0].rtcp);
	assert_int_equal(ms->fd, -1);
	assert_ptr_equal(media_zone_port_lookup(zn, p1[0], &kind, &ms), s->streams);
	assert_null(media_zone_port_lookup(zn, (uint16_t)(p1[0] + 1), &kind, &ms));  /* mux */
	assert_null(media_zone_port_lookup(zn, Z0_MIN - 1, &kind, &ms));
	assert_null(media_zone_port_lookup(zn, Z0_MAX + 1, &kind, &ms));
	assert_null(media_zone_port_lookup(zn, 0, &kind, &ms));
	for (uint16_t p = Z0_MIN; p <= Z0_MAX; p++) {
		if (p / 2 != p0[0] / 2 && p / 2 != p1[0] / 2)
			assert_null(media_zone_port_lookup(zn, p, &kind, &ms));
	}
	assert_int_equal(media_sock_port(me, &s->streams->side[0], 0, &s->streams->side[0].rtp),
			 p1[0]);
	media_stream_close(s, 0);
	assert_null(media_zone_port_lookup(zn, p0[0], &kind, &ms));
	media_engine_stats(me, &es);
	assert_int_equal(es.ports_in_use[0], 2);
	assert_int_equal(es.dropped_no_neighbour, 0);
	mem_deref(s);
	mem_deref(me);
}

/*
 * Bypass that cannot start falls back to the socket engine per zone, with
 * the reason, and the SDP address stays the zone address: an IPv6 owned
 * address, one the kernel has (127.0.0.1 on lo), an interface without
 * the subnet.
 */
static void test_bypass_fallback(void **state)
{
	static const struct {
		const char *ifname, *own, *why;
	} cases[] = {
		{ "lo", "2001:db8::2", "IPv6 media_address not supported" },
		{ "lo", "127.0.0.1", "127.0.0.1 is configured on the kernel's interface lo" },
		{ "nosuchif0", "192.0.2.77", "no IPv4 subnet of nosuchif0 contains 192.0.2.77" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct media_zone_cfg zc[MEDIA_ZONES];
		struct media_zone_info zi;
		struct media_engine *me;
		struct media_session *s;
		uint16_t port[2];

		memcpy(zc, zones, sizeof(zc));
		zc[0].bypass = true;
		snprintf(zc[0].ifname, sizeof(zc[0].ifname), "%s", cases[i].ifname);
		net_sa_from_str(&zc[0].own_addr, cases[i].own, 0);
		assert_int_equal(media_engine_alloc(&me, base, zc, &mcfg), 0);
		assert_int_equal(media_engine_zone(me, 0, &zi), 0);
		assert_false(zi.bypass);
		assert_non_null(zi.fallback);
		assert_string_equal(zi.fallback, cases[i].why);
		assert_true(net_sa_eq(&zi.sdp_addr, &zones[0].addr));
		assert_int_equal(media_engine_zone(me, 1, &zi), 0);
		assert_false(zi.bypass);
		assert_null(zi.fallback);
		assert_int_equal(media_engine_zone(me, 2, &zi), EINVAL);
		/* the socket backend runs the zone: ports are bound */
		assert_int_equal(media_session_alloc(&s, me, NULL, NULL), 0);
		assert_int_equal(media_stream_open(s, 0, true, port), 0);
		mem_deref(s);
		mem_deref(me);
	}
}

static void test_bad_arguments(void **state)
{
	struct media_engine *me;
	struct media_session *s;
	struct media_peer p;
	struct media_zone_cfg bad[MEDIA_ZONES];
	uint16_t port[2];

	(void)state;
	memcpy(bad, zones, sizeof(bad));
	bad[1].port_min = 23601;
	bad[1].port_max = 23602;   /* no whole even/odd pair */
	assert_int_equal(media_engine_alloc(&me, base, bad, &mcfg), EINVAL);
	assert_int_equal(media_engine_alloc(&me, base, zones, &mcfg), 0);
	assert_int_equal(media_session_alloc(&s, me, NULL, NULL), 0);
	memset(&p, 0, sizeof(p));
	assert_int_equal(media_stream_peer(s, 0, 0, &p), EINVAL);   /* not open */
	assert_int_equal(media_stream_open(s, 0, false, port), 0);
	assert_int_equal(media_stream_peer(s, 0, 0, &p), EINVAL);   /* no address */
	assert_int_equal(media_stream_peer(s, 0, 2, &p), EINVAL);
	net_sa_from_str(&p.rtp, "::1", 4000);
	assert_int_equal(media_stream_peer(s, 0, 0, &p), EINVAL);   /* zone is IPv4 */
	media_stream_close(s, 0);
	media_stream_close(s, 0);
	media_stream_close(s, 99);
	mem_deref(s);
	mem_deref(me);
}

/* Every allocation of engine, session and streams fails in turn, without leaks. */
static void test_oom(void **state)
{
	bool done = false;

	(void)state;
	for (long n = 0; !done && n < 100; n++) {
		struct media_engine *me = NULL;
		struct media_session *s = NULL;
		uint16_t p[2];
		int err;

		mem_fail_after(n);
		err = media_engine_alloc(&me, base, zones, &mcfg);
		if (!err)
			err = media_session_alloc(&s, me, NULL, NULL);
		if (!err)
			err = media_stream_open(s, 0, false, p);
		if (!err)
			err = media_stream_open(s, 1, true, p);
		mem_fail_after(-1);
		if (err) {
			assert_int_equal(err, ENOMEM);
		} else {
			struct media_engine_stats es;

			media_engine_stats(me, &es);
			assert_int_equal(es.streams, 2);
			done = true;
		}
		mem_deref(s);
		if (me) {
			struct media_engine_stats es;

			media_engine_stats(me, &es);
			assert_int_equal(es.ports_in_use[0], 0);
			assert_int_equal(es.sockets, 0);
		}
		mem_deref(me);
		assert_int_equal(mem_nalloc(), nalloc_start);
	}
	assert_true(done);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pairs_and_mux, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exhaustion_reuse_and_free, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_streams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_port_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relay_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_latch_and_strict_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_relatch_after_silence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loose_source, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nat_latch_on_signalling_source, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtpstat_loss_and_jitter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loss_end_to_end_and_mux_rtcp, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_mux_to_non_mux, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mux_to_non_mux_no_memory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inactivity_timeout_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_handler_frees, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sweep_clock_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bucket_wrap_and_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compact_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_memory_per_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shared_packet_path, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bypass_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_oom, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
