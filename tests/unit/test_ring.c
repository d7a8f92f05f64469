/* test_ring: the packet ring's filter string, argument errors, and frames through a veth pair in a private namespace. */
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <net/ethernet.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "media/ring.h"

#define OWNED "203.0.113.2"

static struct ring_opts v4_opts(void)
{
	struct ring_opts o = { .has4 = true, .port_min = 20000, .port_max = 29999 };

	inet_pton(AF_INET, OWNED, &o.addr4);
	return o;
}

/* The filter compiles for an Ethernet link: pcap's own parser is the judge. */
static void assert_compiles(const char *filter)
{
	pcap_t *p = pcap_open_dead(DLT_EN10MB, RING_SNAPLEN);
	struct bpf_program prog;
	int rc;

	assert_non_null(p);
	rc = pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN);
	if (rc != 0)
		print_message("pcap_compile(\"%s\"): %s\n", filter, pcap_geterr(p));
	assert_int_equal(rc, 0);
	pcap_freecode(&prog);
	pcap_close(p);
}

static void test_filter_ipv4(void **state)
{
	struct ring_opts o = v4_opts();
	char buf[RING_FILTER_MAX];

	(void)state;
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), 0);
	assert_string_equal(buf, "(ip dst host 203.0.113.2 and (udp dst portrange 20000-29999 or icmp"
			    " or ip[6:2] & 0x1fff != 0)) or (arp dst host 203.0.113.2)");
	assert_compiles(buf);
	o.port_max = 20000;		/* one port */
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), 0);
	assert_non_null(strstr(buf, "udp dst port 20000 or"));
	assert_null(strstr(buf, "portrange"));
	assert_compiles(buf);
}

static void test_filter_ipv6_and_both(void **state)
{
	struct ring_opts o = { .has6 = true, .port_min = 30000, .port_max = 30999 };
	char buf[RING_FILTER_MAX];

	(void)state;
	inet_pton(AF_INET6, "2001:db8::abcd:1234", &o.addr6);
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), 0);
	assert_string_equal(buf, "(ip6 dst host 2001:db8::abcd:1234 and (udp dst portrange "
			    "30000-30999 or icmp6 or ip6[6] == 44)) or (icmp6 and ip6 dst host "
			    "ff02::1:ffcd:1234)");
	assert_compiles(buf);
	o.has4 = true;
	inet_pton(AF_INET, OWNED, &o.addr4);
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), 0);
	assert_true(strncmp(buf, "(ip dst host 203.0.113.2 ", 25) == 0);
	assert_non_null(strstr(buf, "(arp dst host 203.0.113.2) or (ip6 dst host 2001:db8::"));
	assert_compiles(buf);
}

static void test_filter_extra(void **state)
{
	struct ring_opts o = v4_opts();
	char buf[RING_FILTER_MAX], big[RING_EXTRA_MAX + 2];
	const char *tail = " or (udp port 5060 or tcp port 5060)";
	size_t n;

	(void)state;
	/* parenthesised: its "or" cannot widen the rest */
	o.extra = "udp port 5060 or tcp port 5060";
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), 0);
	n = strlen(buf);
	assert_true(n > strlen(tail));
	assert_string_equal(buf + n - strlen(tail), tail);
	assert_compiles(buf);
	o.extra = "";			/* empty: none */
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), 0);
	assert_null(strstr(buf, "()"));
	/* what could break out of the parentheses, or is not text, is refused */
	{
		const char *bad[] = { "udp) or (tcp", ")(", "(udp", "udp\nor tcp", "udp\tport 1",
				      "x\x7f" };

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			o.extra = bad[i];
			assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), EINVAL);
		}
	}
	memset(big, 'u', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	o.extra = big;
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), EINVAL);
	big[RING_EXTRA_MAX] = '\0';	/* at the limit: fine */
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), 0);
}

static void test_filter_errors(void **state)
{
	struct ring_opts o = v4_opts();
	char buf[RING_FILTER_MAX], small[40];

	(void)state;
	assert_int_equal(ring_filter_build(NULL, sizeof(buf), &o), EINVAL);
	assert_int_equal(ring_filter_build(buf, 0, &o), EINVAL);
	assert_int_equal(ring_filter_build(buf, sizeof(buf), NULL), EINVAL);
	memset(small, 'x', sizeof(small));
	assert_int_equal(ring_filter_build(small, sizeof(small), &o), ENOSPC);
	assert_string_equal(small, "");		/* never a cut filter */
	o.port_min = 0;
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), EINVAL);
	o.port_min = 30000;			/* above port_max */
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), EINVAL);
	o = v4_opts();
	o.has4 = false;				/* no address */
	assert_int_equal(ring_filter_build(buf, sizeof(buf), &o), EINVAL);
}

static void test_tx_mode_names(void **state)
{
	enum ring_tx_mode m;

	(void)state;
	assert_int_equal(ring_tx_mode_parse("ring", &m), 0);
	assert_int_equal(m, RING_TX_RING);
	assert_int_equal(ring_tx_mode_parse("sendmmsg", &m), 0);
	assert_int_equal(m, RING_TX_SENDMMSG);
	assert_int_equal(ring_tx_mode_parse("default", &m), 0);
	assert_int_equal(m, RING_TX_DEFAULT);
	assert_int_equal(ring_tx_mode_parse("xdp", &m), EINVAL);
	assert_int_equal(ring_tx_mode_parse(NULL, &m), EINVAL);
	assert_string_equal(ring_tx_mode_name(RING_TX_RING), "ring");
	assert_string_equal(ring_tx_mode_name(RING_TX_SENDMMSG), "sendmmsg");
}

/* Bad arguments: EINVAL and a message, before anything is opened or allocated. */
static void test_open_argument_errors(void **state)
{
	struct ring_opts o = v4_opts();
	struct ring *r = NULL;
	char err[128];

	(void)state;
	assert_int_equal(ring_open(NULL, "eth0", &o, err, sizeof(err)), EINVAL);
	assert_int_equal(ring_open(&r, "eth0", NULL, err, sizeof(err)), EINVAL);
	assert_int_equal(ring_open(&r, NULL, &o, err, sizeof(err)), EINVAL);
	assert_string_equal(err, "bad interface name");
	assert_int_equal(ring_open(&r, "", &o, err, sizeof(err)), EINVAL);
	assert_int_equal(ring_open(&r, "a-name-far-too-long", &o, err, sizeof(err)), EINVAL);
	o.tx_mode = (enum ring_tx_mode)7;
	assert_int_equal(ring_open(&r, "eth0", &o, err, sizeof(err)), EINVAL);
	assert_string_equal(err, "eth0: bad transmit mode");
	o = v4_opts();
	o.tx_batch = RING_BATCH_MAX + 1;
	assert_int_equal(ring_open(&r, "eth0", &o, err, sizeof(err)), EINVAL);
	o = v4_opts();
	o.has4 = false;
	assert_int_equal(ring_open(&r, "eth0", &o, err, sizeof(err)), EINVAL);
	assert_string_equal(err, "eth0: no owned address");
	o = v4_opts();
	o.port_min = 40000;
	assert_int_equal(ring_open(&r, "eth0", &o, err, sizeof(err)), EINVAL);
	assert_string_equal(err, "eth0: bad port range 40000-29999");
	o = v4_opts();
	o.extra = "(";
	assert_int_equal(ring_open(&r, "eth0", &o, err, sizeof(err)), EINVAL);
	assert_null(r);
	/* no err buffer is fine too */
	assert_int_equal(ring_open(&r, NULL, &o, NULL, 0), EINVAL);
	assert_null(ring_close(NULL));
}

/* A missing interface: ENODEV and pcap's words; lo: not Ethernet. Needs CAP_NET_RAW. */
static void test_open_system_errors(void **state)
{
	struct ring_opts o = v4_opts(), tx = { .tx_only = true };
	struct ring *r = NULL;
	char err[PCAP_ERRBUF_SIZE + 64];
	int rc;

	(void)state;
	if (geteuid() != 0) {
		rc = ring_open(&r, "lo", &o, err, sizeof(err));
		assert_int_equal(rc, EPERM);
		skip();
	}
	rc = ring_open(&r, "nosuch0", &o, err, sizeof(err));
	assert_int_equal(rc, ENODEV);
	assert_non_null(strstr(err, "nosuch0: "));
	assert_non_null(strstr(err, "No such device"));
	rc = ring_open(&r, "nosuch0", &tx, err, sizeof(err));
	assert_int_equal(rc, ENODEV);
	assert_string_equal(err, "nosuch0: no such interface");
	rc = ring_open(&r, "lo", &tx, err, sizeof(err));
	assert_int_equal(rc, EPROTONOSUPPORT);
	assert_string_equal(err, "lo: not an Ethernet interface");
	assert_null(r);
}

/* -- frames through a veth pair, in a network namespace of this process -- */

static bool have_veth;

/* A private network namespace with veth rta0 <-> rtb0, both up. */
static int veth_setup(void **state)
{
	(void)state;
	if (geteuid() != 0 || unshare(CLONE_NEWNET) == -1)
		return 0;
	have_veth = system("ip link add rta0 type veth peer name rtb0 && ip link set rta0 up && "
			   "ip link set rtb0 up") == 0;
	return 0;
}

struct got {
	unsigned n, udp, arp;
	uint8_t last[RING_SNAPLEN];
	size_t last_len;
};

static void got_h(const uint8_t *f, size_t len, void *arg)
{
	struct got *g = arg;

	g->n++;
	if (len >= 14 && f[12] == 0x08 && f[13] == 0x06)
		g->arp++;
	else
		g->udp++;
	memcpy(g->last, f, len);
	g->last_len = len;
}

/* Ethernet + IPv4 + UDP to dst:port (checksums do not matter to the ring). */
static size_t udp_frame(uint8_t *f, const uint8_t *dmac, const char *dst, uint16_t port,
			uint8_t tag)
{
	struct in_addr a;

	memset(f, 0, 214);
	memcpy(f, dmac, ETH_ALEN);
	memset(f + 6, 0x02, ETH_ALEN);
	f[12] = 0x08;
	f[14] = 0x45;
	f[16] = 0;
	f[17] = 200;
	f[22] = 64;
	f[23] = 17;
	inet_pton(AF_INET, "203.0.113.10", &a);
	memcpy(f + 26, &a, 4);
	inet_pton(AF_INET, dst, &a);
	memcpy(f + 30, &a, 4);
	f[34] = 0x9c;
	f[35] = 0x40;
	f[36] = (uint8_t)(port >> 8);
	f[37] = (uint8_t)port;
	f[39] = 180;
	memset(f + 42, tag, 172);
	return 214;
}

static size_t arp_frame(uint8_t *f, const char *target)
{
	static const uint8_t hdr[] = { 0, 1, 8, 0, 6, 4, 0, 1 };
	struct in_addr a;

	memset(f, 0, 60);
	memset(f, 0xff, ETH_ALEN);
	memset(f + 6, 0x02, ETH_ALEN);
	f[12] = 0x08;
	f[13] = 0x06;
	memcpy(f + 14, hdr, sizeof(hdr));
	inet_pton(AF_INET, target, &a);
	memcpy(f + 38, &a, 4);
	return 60;
}

/* Take frames from r until want arrived or a bounded number of empty waits. */
static void drain(struct ring *r, struct got *g, unsigned want)
{
	struct pollfd pfd = { .fd = ring_fd(r), .events = POLLIN };

	for (int idle = 0; idle < 50 && g->n < want;) {
		if (ring_rx(r, got_h, g, 0) == 0) {
			poll(&pfd, 1, 20);
			idle++;
		}
	}
	for (int i = 0; i < 10; i++) {		/* and anything that should not be there */
		poll(&pfd, 1, 10);
		ring_rx(r, got_h, g, 0);
	}
}

static void run_pair(enum ring_tx_mode mode)
{
	struct ring_opts ao = { .tx_only = true, .tx_mode = mode, .tx_batch = 8, .tx_slots = 16 };
	struct ring_opts bo = v4_opts();
	struct ring *a = NULL, *b = NULL;
	struct ring_stats st;
	struct got g = { 0 };
	uint8_t f[RING_SNAPLEN];
	char err[256];
	size_t len;

	bo.port_max = 20009;
	assert_int_equal(ring_open(&a, "rta0", &ao, err, sizeof(err)), 0);
	assert_int_equal(ring_open(&b, "rtb0", &bo, err, sizeof(err)), 0);
	assert_int_equal(ring_tx_mode(a), mode);
	assert_true(ring_fd(a) == -1 && ring_fd(b) >= 0);
	/* 40 datagrams (batches of 8: several flushes inside ring_tx_add) */
	for (unsigned i = 0; i < 40; i++) {
		len = udp_frame(f, ring_mac(b), OWNED, (uint16_t)(20000 + i % 10), (uint8_t)i);
		assert_int_equal(ring_tx_add(a, f, len), 0);
		if (i % 10 == 9)
			assert_int_equal(ring_tx_flush(a), 0);
	}
	/* what the filter keeps out: other port, other address, ARP for another address */
	len = udp_frame(f, ring_mac(b), OWNED, 30000, 0xee);
	assert_int_equal(ring_tx_add(a, f, len), 0);
	len = udp_frame(f, ring_mac(b), "203.0.113.3", 20000, 0xee);
	assert_int_equal(ring_tx_add(a, f, len), 0);
	len = arp_frame(f, "203.0.113.3");
	assert_int_equal(ring_tx_add(a, f, len), 0);
	len = arp_frame(f, OWNED);		/* this one is ours */
	assert_int_equal(ring_tx_add(a, f, len), 0);
	assert_int_equal(ring_tx_flush(a), 0);
	drain(b, &g, 41);
	assert_int_equal(g.udp, 40);
	assert_int_equal(g.arp, 1);
	/* b's own transmissions are not received back (PACKET_IGNORE_OUTGOING) */
	len = udp_frame(f, ring_mac(a), OWNED, 20001, 0x77);
	assert_int_equal(ring_tx_add(b, f, len), 0);
	assert_int_equal(ring_tx_flush(b), 0);
	drain(b, &g, 42);
	assert_int_equal(g.n, 41);
	/* lengths out of range are refused, not sent */
	assert_int_equal(ring_tx_add(a, f, 13), EINVAL);
	assert_int_equal(ring_tx_add(a, f, RING_SNAPLEN + 1), EINVAL);
	assert_null(ring_tx_alloc(a, 0));
	ring_stats(b, &st);
	assert_int_equal(st.rx_frames, 41);
	assert_int_equal(st.rx_drops, 0);
	for (int i = 0; i < 50; i++) {		/* TX ring slots come back once sent */
		ring_stats(a, &st);
		if (st.tx_frames == 44)
			break;
		usleep(10000);
	}
	assert_int_equal(st.tx_frames, 44);
	assert_int_equal(st.tx_errors, 0);
	assert_int_equal(st.tx_full, 0);
	ring_close(a);
	ring_close(b);
}

static void test_pair_sendmmsg(void **state)
{
	(void)state;
	if (!have_veth)
		skip();
	run_pair(RING_TX_SENDMMSG);
}

static void test_pair_tx_ring(void **state)
{
	(void)state;
	if (!have_veth)
		skip();
	run_pair(RING_TX_RING);
}

/*
 * The TX ring full: with the link down the kernel sends nothing, requested
 * slots are kept (never overwritten) and the refusal is counted; once the
 * link is up a flush sends them all.
 */
static void test_tx_ring_full(void **state)
{
	struct ring_opts ao = { .tx_only = true, .tx_mode = RING_TX_RING, .tx_batch = 16,
				.tx_slots = 16 };
	struct ring *a = NULL;
	struct ring_stats st;
	uint8_t f[RING_SNAPLEN];
	char err[256];
	size_t len;

	(void)state;
	if (!have_veth)
		skip();
	assert_int_equal(ring_open(&a, "rta0", &ao, err, sizeof(err)), 0);
	assert_int_equal(system("ip link set rta0 down"), 0);
	len = udp_frame(f, ring_mac(a), OWNED, 20000, 1);
	for (int i = 0; i < 16; i++)
		assert_int_equal(ring_tx_add(a, f, len), 0);
	assert_int_equal(ring_tx_add(a, f, len), ENOBUFS);
	ring_stats(a, &st);
	assert_int_equal(st.tx_full, 1);
	assert_true(st.tx_errors >= 1);
	assert_int_equal(st.tx_frames, 0);
	assert_int_equal(system("ip link set rta0 up"), 0);
	assert_int_equal(ring_tx_flush(a), 0);
	for (int i = 0; i < 50; i++) {
		ring_stats(a, &st);
		if (st.tx_frames == 16)
			break;
		usleep(10000);
	}
	assert_int_equal(st.tx_frames, 16);
	ring_close(a);
}

/* Every allocation failure on the way through ring_open is clean. */
static void test_open_oom(void **state)
{
	struct ring_opts o = v4_opts();
	struct ring *r = NULL;
	char err[256];
	int rc = ENOMEM;

	(void)state;
	if (!have_veth)
		skip();
	for (long n = 0; n < 20 && rc == ENOMEM; n++) {
		mem_fail_after(n);
		rc = ring_open(&r, "rtb0", &o, err, sizeof(err));
		mem_fail_after(-1);
	}
	assert_int_equal(rc, 0);
	ring_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_filter_ipv4, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_filter_ipv6_and_both, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_filter_extra, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_filter_errors, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_tx_mode_names, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_open_argument_errors, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_open_system_errors, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_pair_sendmmsg, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_pair_tx_ring, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_tx_ring_full, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_open_oom, unit_leak_setup, unit_leak_teardown),
	};

	return cmocka_run_group_tests_name("ring", tests, veth_setup, NULL);
}
