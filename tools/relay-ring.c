/* relay-ring: the bare ring-to-ring relay (issue 8's ceiling): one packet ring in, one out, no per-stream work. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "media/ring.h"
#include "util/util.h"

enum {
	RX_BURST = 256,		/* frames taken from the ring between flushes */
	POLL_MS = 100,
	TTL = 64,
	ETH_LEN = 14, IP4_LEN = 20, IP6_LEN = 40, UDP_LEN = 8,
};

struct relay {
	struct ring *in, *out;
	int family;
	struct in_addr own4, src4, dst4;
	struct in6_addr own6, src6, dst6;
	uint16_t port_min, port_max, dst_port;	/* host order */
	uint8_t dst_mac[ETH_ALEN];
	const uint8_t *src_mac;
	uint64_t relayed, arp, icmp, frag, other, not_ours;
};

static volatile sig_atomic_t stopping;

static void stop_h(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: relay-ring -i IN_IF -o OUT_IF -a OWNED_IP -p MIN-MAX -m DST_MAC\n"
		"                  -d DST_IP:PORT -s SRC_IP [-c CPU] [-b] [-t ring|sendmmsg]\n"
		"                  [-B BATCH] [-n SECONDS] [-q]\n"
		"  frames for OWNED_IP, UDP ports MIN-MAX, arriving on IN_IF leave OUT_IF\n"
		"  rewritten to DST_MAC, SRC_IP -> DST_IP:PORT (source port: the one they came to);\n"
		"  -b busy-polls, -c pins to a core, -q bypasses OUT_IF's qdisc.\n"
		"  IPv6: -d [ADDR]:PORT.\n");
	exit(2);
}

/*
 * RFC 1624 incremental update of the checksum at *csum for the n bytes at
 * old becoming new (n even, both in network order: ones' complement sums
 * do not care about byte order).
 */
static void csum_replace(uint8_t *csum, const uint8_t *old, const uint8_t *new, size_t n)
{
	uint16_t c, o, w;
	uint32_t sum;

	memcpy(&c, csum, 2);
	sum = (uint16_t)~c;
	for (size_t i = 0; i < n; i += 2) {
		memcpy(&o, old + i, 2);
		memcpy(&w, new + i, 2);
		sum += (uint16_t)~o;
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	c = (uint16_t)~sum;
	memcpy(csum, &c, 2);
}

static void udp_rewrite(struct relay *rl, uint8_t *udp, bool csum_optional)
{
	uint8_t ports[4];
	uint16_t dport = htons(rl->dst_port), zero = 0;

	memcpy(ports, udp + 2, 2);		/* new source port: the one it came to */
	memcpy(ports + 2, &dport, 2);
	if (!(csum_optional && !memcmp(udp + 6, &zero, 2))) {
		csum_replace(udp + 6, udp, ports, 4);
		if (!memcmp(udp + 6, &zero, 2))
			memset(udp + 6, 0xff, 2);	/* 0 means "no checksum" */
	}
	memcpy(udp, ports, 4);
}

/* IPv4: addresses, TTL, header checksum, then UDP (its checksum covers the addresses). */
static void relay4(struct relay *rl, uint8_t *f, size_t ihl)
{
	uint8_t *ip = f + ETH_LEN, *udp = ip + ihl;
	uint8_t addrs[8], ttl[2] = { TTL, ip[9] };
	uint16_t zero = 0;

	memcpy(addrs, &rl->src4, 4);
	memcpy(addrs + 4, &rl->dst4, 4);
	if (memcmp(udp + 6, &zero, 2))
		csum_replace(udp + 6, ip + 12, addrs, 8);
	csum_replace(ip + 10, ip + 12, addrs, 8);
	csum_replace(ip + 10, ip + 8, ttl, 2);
	memcpy(ip + 12, addrs, 8);
	ip[8] = TTL;
	udp_rewrite(rl, udp, true);
}

static void relay6(struct relay *rl, uint8_t *f)
{
	uint8_t *ip = f + ETH_LEN, *udp = ip + IP6_LEN;
	uint8_t addrs[32];

	memcpy(addrs, &rl->src6, 16);
	memcpy(addrs + 16, &rl->dst6, 16);
	csum_replace(udp + 6, ip + 8, addrs, 32);
	memcpy(ip + 8, addrs, 32);
	ip[7] = TTL;
	udp_rewrite(rl, udp, false);
}

static bool port_ours(const struct relay *rl, const uint8_t *udp)
{
	uint16_t p = (uint16_t)(udp[2] << 8 | udp[3]);

	return p >= rl->port_min && p <= rl->port_max;
}

/* Copy the frame into an out slot and rewrite it there. */
static void forward(struct relay *rl, const uint8_t *f, size_t len, size_t ihl)
{
	uint8_t *p = ring_tx_alloc(rl->out, len);

	if (!p)
		return;				/* counted by the ring (tx_full) */
	memcpy(p, f, len);
	memcpy(p, rl->dst_mac, ETH_ALEN);
	memcpy(p + ETH_ALEN, rl->src_mac, ETH_ALEN);
	if (ihl)
		relay4(rl, p, ihl);
	else
		relay6(rl, p);
	rl->relayed++;
}

static void frame4(struct relay *rl, const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + ETH_LEN;
	size_t ihl;

	if (len < ETH_LEN + IP4_LEN || (ip[0] >> 4) != 4) {
		rl->other++;
		return;
	}
	ihl = (size_t)(ip[0] & 0x0f) * 4;
	if (ihl < IP4_LEN || len < ETH_LEN + ihl + UDP_LEN || memcmp(ip + 16, &rl->own4, 4)) {
		rl->not_ours++;
		return;
	}
	if ((ip[6] & 0x3f) || ip[7])		/* MF or an offset */
		rl->frag++;
	else if (ip[9] == IPPROTO_ICMP)
		rl->icmp++;
	else if (ip[9] == IPPROTO_UDP && rl->family == AF_INET && port_ours(rl, ip + ihl))
		forward(rl, f, len, ihl);
	else
		rl->not_ours++;
}

static void frame6(struct relay *rl, const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + ETH_LEN;

	if (len < ETH_LEN + IP6_LEN + UDP_LEN || (ip[0] >> 4) != 6) {
		rl->other++;
		return;
	}
	if (ip[6] == IPPROTO_ICMPV6)
		rl->icmp++;			/* to the address or neighbour discovery */
	else if (memcmp(ip + 24, &rl->own6, 16))
		rl->not_ours++;
	else if (ip[6] == IPPROTO_FRAGMENT)
		rl->frag++;
	else if (ip[6] == IPPROTO_UDP && rl->family == AF_INET6 && port_ours(rl, ip + IP6_LEN))
		forward(rl, f, len, 0);
	else
		rl->not_ours++;
}

static void frame_h(const uint8_t *f, size_t len, void *arg)
{
	struct relay *rl = arg;
	uint16_t type;

	if (len < ETH_LEN) {
		rl->other++;
		return;
	}
	type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == ETHERTYPE_IP)
		frame4(rl, f, len);
	else if (type == ETHERTYPE_IPV6)
		frame6(rl, f, len);
	else if (type == ETHERTYPE_ARP)
		rl->arp++;
	else
		rl->other++;			/* VLAN tags included: refused */
}

static int parse_ip(const char *s, int *family, void *a4, void *a6)
{
	if (inet_pton(AF_INET, s, a4) == 1)
		*family = AF_INET;
	else if (inet_pton(AF_INET6, s, a6) == 1)
		*family = AF_INET6;
	else
		return EINVAL;
	return 0;
}

/* "IP:PORT" or "[IP6]:PORT". */
static int parse_dst(struct relay *rl, const char *s, int *family)
{
	char ip[INET6_ADDRSTRLEN];
	const char *colon = strrchr(s, ':'), *start = s, *end;
	long port;

	if (!colon)
		return EINVAL;
	end = colon;
	if (*s == '[') {
		start = s + 1;
		if (end[-1] != ']')
			return EINVAL;
		end--;
	}
	if (end <= start || (size_t)(end - start) >= sizeof(ip))
		return EINVAL;
	memcpy(ip, start, (size_t)(end - start));
	ip[end - start] = '\0';
	port = strtol(colon + 1, NULL, 10);
	if (port <= 0 || port > 65535)
		return EINVAL;
	rl->dst_port = (uint16_t)port;
	return parse_ip(ip, family, &rl->dst4, &rl->dst6);
}

static int parse_mac(uint8_t *mac, const char *s)
{
	unsigned b[ETH_ALEN];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != ETH_ALEN)
		return EINVAL;
	for (int i = 0; i < ETH_ALEN; i++) {
		if (b[i] > 0xff)
			return EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static void print_totals(struct relay *rl, double secs)
{
	struct ring_stats in, out;
	struct rusage ru;

	ring_stats(rl->in, &in);
	ring_stats(rl->out, &out);
	getrusage(RUSAGE_SELF, &ru);
	printf("rx=%llu relayed=%llu arp=%llu icmp=%llu frag=%llu other=%llu not_ours=%llu "
	       "rx_drops=%llu rx_truncated=%llu tx=%llu tx_errors=%llu tx_full=%llu "
	       "seconds=%.3f pps=%.0f utime=%.2f stime=%.2f\n",
	       (unsigned long long)in.rx_frames, (unsigned long long)rl->relayed,
	       (unsigned long long)rl->arp, (unsigned long long)rl->icmp,
	       (unsigned long long)rl->frag, (unsigned long long)rl->other,
	       (unsigned long long)rl->not_ours, (unsigned long long)in.rx_drops,
	       (unsigned long long)in.rx_truncated, (unsigned long long)out.tx_frames,
	       (unsigned long long)out.tx_errors, (unsigned long long)out.tx_full, secs,
	       secs > 0 ? (double)rl->relayed / secs : 0.0,
	       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	fflush(stdout);
}

/* Receive, rewrite, send until stopped or for seconds; a line a second. */
static void run(struct relay *rl, bool busy, double seconds)
{
	struct pollfd pfd = { .fd = ring_fd(rl->in), .events = POLLIN };
	uint64_t start = time_mono_ms(), tick = start + 1000, last = 0, now;
	uint64_t end = seconds > 0 ? start + (uint64_t)(seconds * 1000) : UINT64_MAX;

	while (!stopping && (now = time_mono_ms()) < end) {
		int n = ring_rx(rl->in, frame_h, rl, RX_BURST);

		if (n > 0)
			ring_tx_flush(rl->out);
		else if (n < 0)
			break;
		else if (!busy && poll(&pfd, 1, POLL_MS) == -1 && errno != EINTR)
			break;
		if (now >= tick) {
			printf("pps=%llu relayed=%llu\n", (unsigned long long)(rl->relayed - last),
			       (unsigned long long)rl->relayed);
			fflush(stdout);
			last = rl->relayed;
			tick += 1000;
		}
	}
	ring_tx_flush(rl->out);
	print_totals(rl, (double)(time_mono_ms() - start) / 1000.0);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1)
		perror("relay-ring: sched_setaffinity");
}

int main(int argc, char **argv)
{
	struct relay rl = { 0 };
	struct ring_opts in_o = { 0 }, out_o = { .tx_only = true };
	const char *in_if = NULL, *out_if = NULL;
	char err[256];
	double seconds = 0;
	bool busy = false;
	int c, own_fam = 0, src_fam = 0, rc;
	unsigned pmin, pmax;

	while ((c = getopt(argc, argv, "i:o:a:p:m:d:s:c:bt:B:n:q")) != -1) {
		switch (c) {
		case 'i': in_if = optarg; break;
		case 'o': out_if = optarg; break;
		case 'a':
			if (parse_ip(optarg, &own_fam, &rl.own4, &rl.own6))
				usage();
			break;
		case 'p':
			if (sscanf(optarg, "%u-%u", &pmin, &pmax) != 2 || !pmin || pmin > pmax ||
			    pmax > 65535)
				usage();
			rl.port_min = (uint16_t)pmin;
			rl.port_max = (uint16_t)pmax;
			break;
		case 'm':
			if (parse_mac(rl.dst_mac, optarg))
				usage();
			break;
		case 'd':
			if (parse_dst(&rl, optarg, &rl.family))
				usage();
			break;
		case 's':
			if (parse_ip(optarg, &src_fam, &rl.src4, &rl.src6))
				usage();
			break;
		case 'c': pin(atoi(optarg)); break;
		case 'b': busy = true; break;
		case 't':
			if (ring_tx_mode_parse(optarg, &out_o.tx_mode))
				usage();
			break;
		case 'B': out_o.tx_batch = (unsigned)atoi(optarg); break;
		case 'n': seconds = atof(optarg); break;
		case 'q': out_o.qdisc_bypass = true; break;
		default: usage();
		}
	}
	if (!in_if || !out_if || !own_fam || !rl.port_min || !rl.family ||
	    own_fam != rl.family || src_fam != rl.family) {
		fprintf(stderr, "relay-ring: -i, -o, -a, -p, -m, -d and -s are needed, "
			"all addresses of one family\n");
		usage();
	}
	in_o.has4 = own_fam == AF_INET;
	in_o.has6 = own_fam == AF_INET6;
	in_o.addr4 = rl.own4;
	in_o.addr6 = rl.own6;
	in_o.port_min = rl.port_min;
	in_o.port_max = rl.port_max;
	rc = ring_open(&rl.in, in_if, &in_o, err, sizeof(err));
	if (!rc)
		rc = ring_open(&rl.out, out_if, &out_o, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "relay-ring: %s (%s)\n", err, strerror(rc));
		ring_close(rl.in);
		return 1;
	}
	rl.src_mac = ring_mac(rl.out);
	signal(SIGTERM, stop_h);
	signal(SIGINT, stop_h);
	printf("ready tx=%s\n", ring_tx_mode_name(ring_tx_mode(rl.out)));
	fflush(stdout);
	run(&rl, busy, seconds);
	ring_close(rl.in);
	ring_close(rl.out);
	return 0;
}
