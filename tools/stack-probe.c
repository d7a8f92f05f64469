/* stack-probe: an owned address in lwIP (src/media/stack.c) on a real interface, through an AF_PACKET socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "media/stack.h"
#include "net/net.h"
#include "util/util.h"

enum {
	FRAME_MAX = STACK_MTU_MAX + STACK_ETH_HLEN,
	MAX_SECONDS = 3600,
	MAX_NEXTHOPS = 8,
	RESOLVE_EVERY_MS = 100,
	POLL_MS = 50,
};

static volatile sig_atomic_t stopping;

static void stop_h(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: stack-probe -i IFNAME -a ADDR/PREFIX [-g GATEWAY] [-m MTU] [-r PEER]\n"
		"                   [-n DST]... [-t SECONDS]\n"
		"\n"
		"Owns ADDR on IFNAME in user space: every frame of the interface (an\n"
		"AF_PACKET socket) goes to stack_input(); what lwIP sends goes out of\n"
		"the socket. The kernel should not have ADDR. Prints on stdout:\n"
		"  ready mac=MAC                    once the stack is up\n"
		"  nexthop DST HOP | nexthop DST error ERR    for each -n\n"
		"  resolved PEER MAC                when PEER's MAC is known (-r)\n"
		"  unresolved PEER                  each time a resolution times out (retried)\n"
		"  stats NAME=VALUE...              at SIGINT/SIGTERM or after -t\n"
		"\n"
		"  -i IFNAME     the interface (its MAC is used)\n"
		"  -a ADDR/LEN   the owned IPv4 address and prefix length\n"
		"  -g GATEWAY    the gateway (default: the kernel's default route on IFNAME)\n"
		"  -m MTU        default %d\n"
		"  -r PEER       resolve PEER's MAC through lwIP's ARP\n"
		"  -n DST        print the next hop towards DST (up to %d)\n"
		"  -t SECONDS    stop after SECONDS (default 60, at most %d)\n",
		STACK_MTU_DEFAULT, MAX_NEXTHOPS, MAX_SECONDS);
}

struct probe {
	int fd;
	int ifindex;
	uint64_t rx_truncated;
	uint64_t tx_failed;
};

/* stack_send_h: runs on lwIP's thread; a send on a packet socket is thread-safe. */
static int probe_send(const void *frame, size_t len, void *arg)
{
	struct probe *p = arg;

	if (send(p->fd, frame, len, 0) == -1) {
		p->tx_failed++;
		return errno;
	}
	return 0;
}

static int probe_socket(struct probe *p, const char *ifname)
{
	struct sockaddr_ll sll;
	int one = 1;

	p->ifindex = (int)if_nametoindex(ifname);
	if (!p->ifindex)
		return ENODEV;
	p->fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (p->fd == -1)
		return errno;
	/* our own frames do not come back (kernel 4.20+; also checked per frame) */
	(void)setsockopt(p->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(ETH_P_ALL);
	sll.sll_ifindex = p->ifindex;
	if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll)) == -1)
		return errno;
	return 0;
}

static void mac_str(const uint8_t m[6], char *buf, size_t size)
{
	snprintf(buf, size, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* "a.b.c.d/len" */
static bool parse_prefix(const char *arg, struct sockaddr_storage *sa, unsigned *plen)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(arg, '/');
	char *end;
	unsigned long n;

	if (!slash || (size_t)(slash - arg) >= sizeof(ip))
		return false;
	memcpy(ip, arg, (size_t)(slash - arg));
	ip[slash - arg] = '\0';
	errno = 0;
	n = strtoul(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1 || n > 32)
		return false;
	*plen = (unsigned)n;
	return net_sa_from_str(sa, ip, 0) == 0 && sa->ss_family == AF_INET;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Read every frame waiting on the socket and give it to the stack. */
static void drain(struct probe *p, struct stack *s, uint8_t *buf)
{
	for (unsigned i = 0; i < 256; i++) {
		struct sockaddr_ll from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(p->fd, buf, FRAME_MAX, MSG_DONTWAIT | MSG_TRUNC,
				     (struct sockaddr *)&from, &fl);

		if (n == -1)
			return;
		if (from.sll_pkttype == PACKET_OUTGOING)
			continue;
		if ((size_t)n > FRAME_MAX) {
			p->rx_truncated++;
			continue;
		}
		(void)stack_input(s, buf, (size_t)n);
	}
}

static void print_nexthops(struct stack *s, char **dsts, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct sockaddr_storage dst, hop;
		char hs[NET_ADDRSTRLEN];
		int err;

		if (net_sa_from_str(&dst, dsts[i], 0)) {
			printf("nexthop %s error %s\n", dsts[i], strerror(EINVAL));
			continue;
		}
		err = stack_next_hop(s, &dst, &hop);
		if (err)
			printf("nexthop %s error %s\n", dsts[i], strerror(err));
		else if (net_sa_ip_str(&hop, hs, sizeof(hs)) == 0)
			printf("nexthop %s %s\n", dsts[i], hs);
	}
}

static void print_stats(const struct stack *s, const struct probe *p)
{
	struct stack_stats st;

	stack_stats(s, &st);
	printf("stats rx_frames=%" PRIu64 " rx_lwip=%" PRIu64 " rx_malformed=%" PRIu64
	       " rx_ethertype=%" PRIu64 " rx_not_ours=%" PRIu64 " rx_l4=%" PRIu64
	       " rx_queue_full=%" PRIu64 " udp_reassembled=%" PRIu64 " arp_replies=%" PRIu64
	       " arp_requests=%" PRIu64 " echo_replies=%" PRIu64 " resolved=%" PRIu64
	       " resolve_failed=%" PRIu64 " tx_frames=%" PRIu64 " tx_bytes=%" PRIu64
	       " tx_errors=%" PRIu64 " tx_suppressed=%" PRIu64 " rx_truncated=%" PRIu64 "\n",
	       st.rx_frames, st.rx_lwip, st.rx_malformed, st.rx_ethertype, st.rx_not_ours,
	       st.rx_l4, st.rx_queue_full, st.udp_reassembled, st.arp_replies, st.arp_requests,
	       st.echo_replies, st.resolved, st.resolve_failed, st.tx_frames, st.tx_bytes,
	       st.tx_errors, st.tx_suppressed, p->rx_truncated);
}

/* Resolve the peer until its MAC is known; true once printed. */
static bool try_resolve(struct stack *s, const struct sockaddr_storage *peer, const char *name)
{
	uint8_t mac[6];
	char ms[24];
	int err = stack_resolve(s, peer, mac);

	if (err == 0) {
		mac_str(mac, ms, sizeof(ms));
		printf("resolved %s %s\n", name, ms);
		return true;
	}
	if (err == EHOSTUNREACH)
		printf("unresolved %s\n", name);
	else if (err != EAGAIN)
		printf("resolve %s error %s\n", name, strerror(err));
	return false;
}

struct args {
	const char *ifname, *peer;
	struct stack_opts o;
	char *nexthops[MAX_NEXTHOPS];
	unsigned nnexthops;
	unsigned long seconds;
};

static int parse_args(int argc, char **argv, struct args *a)
{
	static const struct option lopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	int c;

	a->seconds = 60;
	while ((c = getopt_long(argc, argv, "i:a:g:m:r:n:t:h", lopts, NULL)) != -1) {
		switch (c) {
		case 'i':
			a->ifname = optarg;
			break;
		case 'a':
			if (!parse_prefix(optarg, &a->o.addr, &a->o.prefixlen))
				return EINVAL;
			break;
		case 'g':
			if (net_sa_from_str(&a->o.gateway, optarg, 0))
				return EINVAL;
			break;
		case 'm':
			a->o.mtu = (unsigned)strtoul(optarg, &end, 10);
			if (*end)
				return EINVAL;
			break;
		case 'r':
			a->peer = optarg;
			break;
		case 'n':
			if (a->nnexthops == MAX_NEXTHOPS)
				return EINVAL;
			a->nexthops[a->nnexthops++] = optarg;
			break;
		case 't':
			a->seconds = strtoul(optarg, &end, 10);
			if (*end || a->seconds == 0 || a->seconds > MAX_SECONDS)
				return EINVAL;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return EINVAL;
		}
	}
	if (!a->ifname || a->o.addr.ss_family != AF_INET || optind != argc)
		return EINVAL;
	a->o.ifname = a->ifname;
	return 0;
}

/* Frames in until stopped or the time is up; the peer resolved on the way. */
static void run(struct probe *p, struct stack *s, const struct args *a,
		const struct sockaddr_storage *peer)
{
	uint8_t *buf = malloc(FRAME_MAX);
	uint64_t end = now_ms() + a->seconds * 1000, next_resolve = 0;
	bool resolved = !a->peer;
	struct pollfd pfd = { .fd = p->fd, .events = POLLIN };

	if (!buf)
		return;
	while (!stopping) {
		uint64_t now = now_ms();

		if (now >= end)
			break;
		if (!resolved && now >= next_resolve) {
			resolved = try_resolve(s, peer, a->peer);
			next_resolve = now + RESOLVE_EVERY_MS;
		}
		if (poll(&pfd, 1, POLL_MS) > 0)
			drain(p, s, buf);
	}
	free(buf);
}

int main(int argc, char **argv)
{
	struct probe p = { .fd = -1 };
	struct args a;
	struct sockaddr_storage peer;
	struct stack *s = NULL;
	uint8_t mac[6];
	char ms[24];
	int err;

	memset(&a, 0, sizeof(a));
	if (parse_args(argc, argv, &a)) {
		usage(stderr);
		return 2;
	}
	if (a.peer && net_sa_from_str(&peer, a.peer, 0)) {
		fprintf(stderr, "stack-probe: bad peer address %s\n", a.peer);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, stop_h);
	signal(SIGTERM, stop_h);
	err = probe_socket(&p, a.ifname);
	if (err) {
		fprintf(stderr, "stack-probe: %s: %s\n", a.ifname, strerror(err));
		return 1;
	}
	a.o.sendh = probe_send;
	a.o.arg = &p;
	err = stack_alloc(&s, &a.o);
	if (err) {
		fprintf(stderr, "stack-probe: stack_alloc: %s\n", strerror(err));
		close(p.fd);
		return 1;
	}
	stack_mac(s, mac);
	mac_str(mac, ms, sizeof(ms));
	printf("ready mac=%s\n", ms);
	print_nexthops(s, a.nexthops, a.nnexthops);
	run(&p, s, &a, &peer);
	print_stats(s, &p);
	mem_deref(s);
	close(p.fd);
	return 0;
}
