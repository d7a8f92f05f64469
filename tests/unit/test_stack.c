/* test_stack: the owned address in lwIP: options, garbage frames dropped and counted, ARP, ping, resolution, next hops, reassembly. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "media/stack.h"
#include "net/net.h"

enum { CAP_MAX = 16, CAP_LEN = 1600, WAIT_S = 5 };

/* Frames lwIP sent, captured by the send handler (lwIP's thread). */
struct capture {
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	unsigned n;
	size_t len[CAP_MAX];
	uint8_t frame[CAP_MAX][CAP_LEN];
	int fail;              /* errno the handler returns, 0: accept */
};

static struct capture cap = {
	.mtx = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER
};

static const uint8_t our_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 };
static const uint8_t peer_mac[6] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 };
static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
#define OUR_IP "192.0.2.1"
#define PEER_IP "192.0.2.2"
#define GW_IP "192.0.2.254"

static int cap_send(const void *frame, size_t len, void *arg)
{
	(void)arg;
	pthread_mutex_lock(&cap.mtx);
	if (cap.fail) {
		pthread_mutex_unlock(&cap.mtx);
		return cap.fail;
	}
	if (cap.n < CAP_MAX && len <= CAP_LEN) {
		memcpy(cap.frame[cap.n], frame, len);
		cap.len[cap.n] = len;
		cap.n++;
	}
	pthread_cond_broadcast(&cap.cond);
	pthread_mutex_unlock(&cap.mtx);
	return 0;
}

static void cap_reset(void)
{
	pthread_mutex_lock(&cap.mtx);
	cap.n = 0;
	cap.fail = 0;
	pthread_mutex_unlock(&cap.mtx);
}

/*
 * The first captured frame from index *from on for which match() holds;
 * waits (bounded) for lwIP's thread. NULL when none came.
 */
static const uint8_t *cap_wait(unsigned *from, bool (*match)(const uint8_t *f, size_t len),
			       size_t *lenp)
{
	struct timespec dl;
	const uint8_t *found = NULL;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += WAIT_S;
	pthread_mutex_lock(&cap.mtx);
	for (;;) {
		for (; *from < cap.n; (*from)++) {
			if (match(cap.frame[*from], cap.len[*from])) {
				found = cap.frame[*from];
				*lenp = cap.len[*from];
				(*from)++;
				goto out;
			}
		}
		if (pthread_cond_timedwait(&cap.cond, &cap.mtx, &dl) == ETIMEDOUT)
			break;
	}
 out:
	pthread_mutex_unlock(&cap.mtx);
	return found;
}

/*
 * Counters once *field (a member of *st) reached want, or after a bounded
 * wait: lwIP's thread counts a frame after the send handler returned.
 */
static void stats_wait(struct stack *s, struct stack_stats *st, const uint64_t *field,
		       uint64_t want)
{
	for (int i = 0; i < 500; i++) {
		stack_stats(s, st);
		if (*field >= want)
			return;
		usleep(10000);
	}
}

static void opts_init(struct stack_opts *o)
{
	memset(o, 0, sizeof(*o));
	memcpy(o->mac, our_mac, 6);
	assert_int_equal(net_sa_from_str(&o->addr, OUR_IP, 0), 0);
	o->prefixlen = 24;
	o->sendh = cap_send;
}

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return a.s_addr;
}

static uint16_t csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static size_t eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
	return 14;
}

/* An ARP frame: op 1 request (to broadcast) or 2 reply (to us). */
static size_t arp(uint8_t *f, uint16_t op, const uint8_t *sha, const char *spa, const char *tpa)
{
	uint8_t *a = f + eth(f, op == 1 ? bcast : our_mac, sha, 0x0806);
	uint32_t s = ip4(spa), t = ip4(tpa);

	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, sha, 6);
	memcpy(a + 14, &s, 4);
	memset(a + 18, 0, 6);
	if (op == 2)
		memcpy(a + 18, our_mac, 6);
	memcpy(a + 24, &t, 4);
	return 42;
}

/* An IPv4 packet to us with payload; frag is the flags/offset field. */
static size_t ipv4(uint8_t *f, uint8_t proto, uint16_t frag, uint16_t id, const uint8_t *pl,
		   size_t plen)
{
	uint8_t *ip = f + eth(f, our_mac, peer_mac, 0x0800);
	uint32_t s = ip4(PEER_IP), d = ip4(OUR_IP);

	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + plen));
	put16(ip + 4, id);
	put16(ip + 6, frag);
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	put16(ip + 10, csum(ip, 20));
	memcpy(ip + 20, pl, plen);
	return 14 + 20 + plen;
}

static size_t echo_request(uint8_t *f, const char *data)
{
	uint8_t icmp[64];
	size_t n = strlen(data);

	memset(icmp, 0, 8);
	icmp[0] = 8;
	put16(icmp + 4, 0x1234);
	put16(icmp + 6, 1);
	memcpy(icmp + 8, data, n);
	put16(icmp + 2, csum(icmp, 8 + n));
	return ipv4(f, 1, 0, 7, icmp, 8 + n);
}

static bool is_arp_reply(const uint8_t *f, size_t len)
{
	return len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2;
}

static bool is_arp_request(const uint8_t *f, size_t len)
{
	return len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 1;
}

static bool is_arp_request_peer(const uint8_t *f, size_t len)
{
	uint32_t t = ip4(PEER_IP);

	return is_arp_request(f, len) && memcmp(f + 38, &t, 4) == 0;
}

static bool is_echo_reply(const uint8_t *f, size_t len)
{
	return len >= 42 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 1 && f[34] == 0;
}

static bool is_icmp(const uint8_t *f, size_t len)
{
	return len >= 34 && f[12] == 0x08 && f[13] == 0x00 && f[23] == 1;
}

static struct stack *stack_new(void)
{
	struct stack_opts o;
	struct stack *s = NULL;

	cap_reset();
	opts_init(&o);
	assert_int_equal(stack_alloc(&s, &o), 0);
	return s;
}

static void test_opts(void **state)
{
	struct stack_opts o;
	struct stack *s = NULL;
	static const uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0, 0, 1 };

	(void)state;
	opts_init(&o);
	o.sendh = NULL;
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	opts_init(&o);
	o.prefixlen = 0;
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	o.prefixlen = 33;
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	opts_init(&o);
	assert_int_equal(net_sa_from_str(&o.addr, "2001:db8::1", 0), 0);
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	opts_init(&o);
	assert_int_equal(net_sa_from_str(&o.addr, "192.0.2.0", 0), 0);   /* the network */
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	assert_int_equal(net_sa_from_str(&o.addr, "224.0.0.1", 0), 0);
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	opts_init(&o);
	memset(o.mac, 0, 6);          /* no MAC and no interface to read it from */
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	memcpy(o.mac, mcast, 6);
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	opts_init(&o);
	o.mtu = 100;
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	o.mtu = 65000;
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	opts_init(&o);
	assert_int_equal(net_sa_from_str(&o.gateway, "198.51.100.1", 0), 0);   /* off-subnet */
	assert_int_equal(stack_alloc(&s, &o), EINVAL);
	opts_init(&o);
	o.ifname = "sbc-no-such-if";
	assert_int_equal(stack_alloc(&s, &o), ENODEV);
	assert_null(s);
	assert_int_equal(stack_alloc(NULL, &o), EINVAL);

	s = stack_new();
	assert_non_null(s);
	mem_deref(s);
}

static void test_garbage(void **state)
{
	struct stack *s = stack_new();
	struct stack_stats st;
	uint8_t f[2048], junk[64];
	size_t n;
	unsigned from = 0;

	(void)state;
	memset(junk, 0xa5, sizeof(junk));
	assert_int_equal(stack_input(s, NULL, 60), EBADMSG);
	assert_int_equal(stack_input(s, junk, 0), EBADMSG);
	assert_int_equal(stack_input(s, junk, 13), EBADMSG);
	memset(f, 0, sizeof(f));
	assert_int_equal(stack_input(s, f, sizeof(f)), EBADMSG);   /* longer than the MTU */

	eth(f, our_mac, peer_mac, 0x86dd);    /* IPv6 */
	assert_int_equal(stack_input(s, f, 60), EPROTONOSUPPORT);
	eth(f, our_mac, peer_mac, 0x8100);    /* VLAN */
	assert_int_equal(stack_input(s, f, 60), EPROTONOSUPPORT);
	eth(f, our_mac, peer_mac, 0xa5a5);
	assert_int_equal(stack_input(s, f, 60), EPROTONOSUPPORT);

	n = arp(f, 1, peer_mac, PEER_IP, OUR_IP);
	assert_int_equal(stack_input(s, f, n - 1), EBADMSG);       /* truncated ARP */
	f[18] = 8;                                                  /* hlen 8 */
	assert_int_equal(stack_input(s, f, n), EBADMSG);
	n = arp(f, 1, peer_mac, PEER_IP, "192.0.2.77");            /* for someone else */
	assert_int_equal(stack_input(s, f, n), ENOENT);

	n = echo_request(f, "hello");
	f[14] = 0x43;                                               /* IHL 3 */
	assert_int_equal(stack_input(s, f, n), EBADMSG);
	n = echo_request(f, "hello");
	put16(f + 16, 1400);                                        /* total length > frame */
	assert_int_equal(stack_input(s, f, n), EBADMSG);
	n = echo_request(f, "hello");
	f[14] = 0x65;                                               /* version 6 */
	assert_int_equal(stack_input(s, f, n), EBADMSG);
	n = echo_request(f, "hello");
	assert_int_equal(stack_input(s, f, 30), EBADMSG);           /* cut inside the IP header */
	n = echo_request(f, "hello");
	f[0] = 0x04;                                                /* another MAC */
	assert_int_equal(stack_input(s, f, n), ENOENT);
	n = echo_request(f, "hello");
	f[33] = 9;                                                  /* another IP (192.0.2.9) */
	assert_int_equal(stack_input(s, f, n), ENOENT);
	n = ipv4(f, 17, 0, 1, junk, 20);                            /* unfragmented UDP */
	assert_int_equal(stack_input(s, f, n), EPROTONOSUPPORT);
	n = ipv4(f, 6, 0, 2, junk, 20);                             /* TCP */
	assert_int_equal(stack_input(s, f, n), EPROTONOSUPPORT);

	/* an ICMP echo with a bad IP header checksum reaches lwIP, which drops it */
	n = echo_request(f, "hello");
	f[24] ^= 0xff;
	assert_int_equal(stack_input(s, f, n), 0);

	stack_stats(s, &st);
	assert_int_equal(st.rx_frames, 19);
	assert_int_equal(st.rx_malformed, 10);
	assert_int_equal(st.rx_ethertype, 3);
	assert_int_equal(st.rx_not_ours, 3);
	assert_int_equal(st.rx_l4, 2);
	assert_int_equal(st.rx_lwip, 1);

	/* still answering: the ping after all that gets its reply */
	n = arp(f, 1, peer_mac, PEER_IP, OUR_IP);
	assert_int_equal(stack_input(s, f, n), 0);
	n = echo_request(f, "after");
	assert_int_equal(stack_input(s, f, n), 0);
	assert_non_null(cap_wait(&from, is_echo_reply, &n));
	stats_wait(s, &st, &st.echo_replies, 1);
	assert_int_equal(st.echo_replies, 1);   /* the corrupted one was not answered */
	mem_deref(s);
}

static void test_arp_and_ping(void **state)
{
	struct stack *s = stack_new();
	struct stack_stats st;
	uint8_t f[256];
	const uint8_t *r;
	size_t n, rl;
	unsigned from = 0;
	uint32_t us = ip4(OUR_IP), peer = ip4(PEER_IP);

	(void)state;
	n = arp(f, 1, peer_mac, PEER_IP, OUR_IP);
	assert_int_equal(stack_input(s, f, n), 0);
	r = cap_wait(&from, is_arp_reply, &rl);
	assert_non_null(r);
	assert_memory_equal(r, peer_mac, 6);          /* to the asker */
	assert_memory_equal(r + 6, our_mac, 6);
	assert_memory_equal(r + 22, our_mac, 6);      /* sender hardware address: ours */
	assert_memory_equal(r + 28, &us, 4);
	assert_memory_equal(r + 38, &peer, 4);

	n = echo_request(f, "ping-payload");
	assert_int_equal(stack_input(s, f, n), 0);
	r = cap_wait(&from, is_echo_reply, &rl);
	assert_non_null(r);
	assert_int_equal(rl, n);
	assert_memory_equal(r, peer_mac, 6);
	assert_memory_equal(r + 26, &us, 4);
	assert_memory_equal(r + 30, &peer, 4);
	assert_memory_equal(r + 42, "ping-payload", 12);
	assert_int_equal(csum(r + 14, 20), 0);        /* valid IP header checksum */
	assert_int_equal(csum(r + 34, rl - 34), 0);   /* and ICMP checksum */

	stats_wait(s, &st, &st.echo_replies, 1);
	assert_int_equal(st.arp_replies, 1);
	assert_int_equal(st.echo_replies, 1);
	assert_true(st.arp_requests >= 1);            /* the announcement at start */
	assert_int_equal(st.rx_lwip, 2);
	assert_true(st.tx_frames >= 3);
	assert_int_equal(st.tx_errors, 0);
	mem_deref(s);
}

static void test_send_fails(void **state)
{
	struct stack *s = stack_new();
	struct stack_stats st;
	uint8_t f[256];
	size_t n;
	struct sockaddr_storage peer;
	uint8_t mac[6];

	(void)state;
	pthread_mutex_lock(&cap.mtx);
	cap.fail = ENOBUFS;
	pthread_mutex_unlock(&cap.mtx);
	n = arp(f, 1, peer_mac, PEER_IP, OUR_IP);
	assert_int_equal(stack_input(s, f, n), 0);
	/* a resolution's callback runs after the ARP frame on lwIP's queue: wait for it */
	assert_int_equal(net_sa_from_str(&peer, "192.0.2.3", 0), 0);
	assert_int_equal(stack_resolve(s, &peer, mac), EAGAIN);
	stats_wait(s, &st, &st.tx_errors, 2);
	assert_int_equal(st.tx_errors, 2);            /* the ARP reply and the ARP request */
	assert_int_equal(st.arp_replies, 0);          /* not sent: not counted */
	mem_deref(s);
}

static void test_resolve(void **state)
{
	struct stack *s = stack_new();
	struct stack_stats st;
	struct sockaddr_storage peer, far, v6;
	uint8_t f[256], mac[6];
	const uint8_t *r;
	size_t n, rl;
	unsigned from = 0;
	int err = EAGAIN;

	(void)state;
	assert_int_equal(net_sa_from_str(&peer, PEER_IP, 0), 0);
	assert_int_equal(net_sa_from_str(&far, "198.51.100.7", 0), 0);
	assert_int_equal(net_sa_from_str(&v6, "2001:db8::2", 0), 0);
	assert_int_equal(stack_resolve(s, &far, mac), ENETUNREACH);
	assert_int_equal(stack_resolve(s, &v6, mac), EAFNOSUPPORT);

	assert_int_equal(stack_resolve(s, &peer, mac), EAGAIN);
	r = cap_wait(&from, is_arp_request_peer, &rl);
	assert_non_null(r);
	assert_memory_equal(r, bcast, 6);
	assert_memory_equal(r + 22, our_mac, 6);

	n = arp(f, 2, peer_mac, PEER_IP, OUR_IP);
	assert_int_equal(stack_input(s, f, n), 0);
	for (int i = 0; i < 500 && err == EAGAIN; i++) {
		err = stack_resolve(s, &peer, mac);
		if (err == EAGAIN)
			usleep(10000);
	}
	assert_int_equal(err, 0);
	assert_memory_equal(mac, peer_mac, 6);
	assert_int_equal(stack_resolve(s, &peer, mac), 0);   /* from the table, no new request */
	stack_stats(s, &st);
	assert_int_equal(st.resolved, 1);
	assert_int_equal(st.resolve_failed, 0);
	mem_deref(s);
}

static void test_next_hop(void **state)
{
	struct stack_opts o;
	struct stack *s = stack_new();
	struct sockaddr_storage d, hop, want, v6;

	(void)state;
	assert_int_equal(net_sa_from_str(&d, PEER_IP, 0), 0);
	assert_int_equal(stack_next_hop(s, &d, &hop), 0);
	assert_true(net_sa_eq_ip(&hop, &d));
	assert_int_equal(net_sa_from_str(&d, "198.51.100.7", 0), 0);
	assert_int_equal(stack_next_hop(s, &d, &hop), ENETUNREACH);   /* no gateway */
	assert_int_equal(net_sa_from_str(&v6, "2001:db8::2", 0), 0);
	assert_int_equal(stack_next_hop(s, &v6, &hop), EAFNOSUPPORT);
	mem_deref(s);

	opts_init(&o);
	assert_int_equal(net_sa_from_str(&o.gateway, GW_IP, 0), 0);
	assert_int_equal(stack_alloc(&s, &o), 0);
	assert_int_equal(stack_next_hop(s, &d, &hop), 0);
	assert_int_equal(net_sa_from_str(&want, GW_IP, 0), 0);
	assert_true(net_sa_eq_ip(&hop, &want));
	mem_deref(s);
}

/* Fragments: a UDP datagram reassembled, counted and dropped; no ICMP goes out for any of them. */
static void test_fragments(void **state)
{
	struct stack *s = stack_new();
	struct stack_stats st;
	uint8_t f[256], pl[64];
	size_t n;

	(void)state;
	memset(pl, 0x11, sizeof(pl));
	put16(pl, 4000);        /* UDP header: ports, length 48, no checksum */
	put16(pl + 2, 30000);
	put16(pl + 4, 48);
	put16(pl + 6, 0);
	n = arp(f, 1, peer_mac, PEER_IP, OUR_IP);
	assert_int_equal(stack_input(s, f, n), 0);
	n = ipv4(f, 17, 0x2000, 99, pl, 24);            /* MF, offset 0 */
	assert_int_equal(stack_input(s, f, n), 0);
	n = ipv4(f, 17, 3, 99, pl + 24, 24);            /* offset 24 bytes, last */
	assert_int_equal(stack_input(s, f, n), 0);
	stats_wait(s, &st, &st.udp_reassembled, 1);
	assert_int_equal(st.udp_reassembled, 1);

	/*
	 * First fragments that never complete: past IP_REASS_MAX_PBUFS (10)
	 * lwIP gives up the oldest and builds an ICMP time exceeded, which is
	 * suppressed, not sent.
	 */
	for (uint16_t id = 200; id < 215; id++) {
		n = ipv4(f, 17, 0x2000, id, pl, 24);
		assert_int_equal(stack_input(s, f, n), 0);
	}
	stats_wait(s, &st, &st.tx_suppressed, 1);
	assert_true(st.tx_suppressed >= 1);
	assert_int_equal(st.tx_frames, st.arp_replies + st.arp_requests + st.echo_replies);
	pthread_mutex_lock(&cap.mtx);
	for (unsigned i = 0; i < cap.n; i++)
		assert_false(is_icmp(cap.frame[i], cap.len[i]));
	pthread_mutex_unlock(&cap.mtx);
	mem_deref(s);
}

/* Back-to-back input faster than lwIP's thread drains it: queued or counted, never blocking or growing. */
static void test_flood(void **state)
{
	struct stack *s = stack_new();
	struct stack_stats st;
	uint8_t f[256];
	size_t n;
	unsigned queued = 0, full = 0;

	(void)state;
	n = arp(f, 1, peer_mac, PEER_IP, OUR_IP);
	for (int i = 0; i < 20000; i++) {
		int err = stack_input(s, f, n);

		assert_true(err == 0 || err == ENOBUFS);
		if (err)
			full++;
		else
			queued++;
	}
	stack_stats(s, &st);
	assert_int_equal(st.rx_lwip, queued);
	assert_int_equal(st.rx_queue_full, full);
	stats_wait(s, &st, &st.arp_replies, queued);
	assert_int_equal(st.arp_replies, queued);   /* every queued request answered */
	mem_deref(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_opts, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_garbage, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_arp_and_ping, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_send_fails, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_resolve, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_next_hop, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_fragments, unit_leak_setup,
						unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_flood, unit_leak_setup, unit_leak_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
