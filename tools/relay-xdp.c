/* relay-xdp: relay-ring's job through AF_XDP sockets (issue 8's last item: does an AF_XDP path beat the ring?). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "media/frame.h"
#include "util/util.h"

#ifndef RELAY_XDP_OBJ
#define RELAY_XDP_OBJ "relay-xdp.bpf.o"
#endif
#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9		/* Linux 6.17 */
#endif

enum {
	FRAME_SIZE = 2048,		/* one UMEM chunk a frame (the least AF_XDP allows) */
	NUM_FRAMES = 16384,		/* 32 MiB of UMEM */
	RX_SIZE = 8192,			/* about 30 ms at 260,000 frames/s */
	TX_SIZE = 4096,			/* fill and completion rings hold every frame */
	RX_BURST = 256,			/* frames taken from the rx ring between kicks */
	KICKS_MAX = 64,			/* sendto() calls a batch at most (32 frames each on old kernels) */
	POLL_MS = 100,
	TTL = 64,
};

/* As in the BPF program (tools/bpf/relay-xdp.bpf.c). */
struct relay_xdp_cfg {
	uint32_t af;
	uint32_t addr4;
	uint32_t addr6[4];	/* network order */
	uint16_t port_min, port_max;
};

struct relay {
	/* the one UMEM: in's fill ring, out's completion ring carry its frames */
	void *area;
	struct xsk_umem *umem;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;		/* in's: it never sends */
	struct xsk_socket *in, *out;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct xsk_ring_prod out_fill;		/* out's: it never receives */
	struct xsk_ring_cons out_comp;
	/* the XDP program on in */
	struct bpf_object *obj;
	int ifindex, link_fd;
	uint32_t xdp_flags;
	bool busy;
	/* the job */
	int family;
	struct relay_xdp_cfg cfg;
	struct frame_rewrite rw;
	uint64_t rx_frames, relayed, tx_done, kicks, kick_errors, tx_full, not_ours, malformed;
	uint64_t kinds[FRAME_KIND__COUNT];
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
		"usage: relay-xdp -i IN_IF -o OUT_IF -a OWNED_IP -p MIN-MAX -m DST_MAC\n"
		"                 -d DST_IP:PORT -s SRC_IP [-c CPU] [-b] [-M auto|native|generic]\n"
		"                 [-Z auto|zerocopy|copy] [-x XDP_OBJ] [-n SECONDS]\n"
		"  frames for OWNED_IP, UDP ports MIN-MAX, arriving on IN_IF (an XDP program\n"
		"  redirects them to an AF_XDP socket; everything else goes to the kernel) leave\n"
		"  OUT_IF's AF_XDP socket rewritten to DST_MAC, SRC_IP -> DST_IP:PORT (source port:\n"
		"  the one they came to); one UMEM shared by both sockets, no copy.\n"
		"  -M: XDP mode on IN_IF (auto: native, else generic); -Z: the sockets' bind mode\n"
		"  (auto: zero-copy, else copy); -b busy-polls, -c pins to a core.\n"
		"  IPv6: -d [ADDR]:PORT.\n");
	exit(2);
}

/* Give n frames (addresses in umem) back to in's fill ring: it holds them all. */
static void refill(struct relay *rl, const uint64_t *addr, uint32_t n)
{
	uint32_t idx;

	if (!n)
		return;
	if (xsk_ring_prod__reserve(&rl->fill, n, &idx) != n) {
		fprintf(stderr, "relay-xdp: fill ring full (a frame was lost)\n");
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&rl->fill, idx + i) = addr[i] & ~(uint64_t)(FRAME_SIZE - 1);
	xsk_ring_prod__submit(&rl->fill, n);
}

/* Frames the out socket has sent go back to the fill ring. */
static void recycle(struct relay *rl)
{
	uint64_t addr[RX_BURST];
	uint32_t idx, n;

	while ((n = xsk_ring_cons__peek(&rl->out_comp, RX_BURST, &idx)) > 0) {
		for (uint32_t i = 0; i < n; i++)
			addr[i] = *xsk_ring_cons__comp_addr(&rl->out_comp, idx + i);
		xsk_ring_cons__release(&rl->out_comp, n);
		refill(rl, addr, n);
		rl->tx_done += n;
	}
}

/*
 * Copy mode sends in the sendto() call, at most the socket's budget (32
 * unless XDP_MAX_TX_SKB_BUDGET raised it) a call: kick until the tx ring is
 * empty, bounded. EAGAIN: budget used up, or the completion ring is full
 * (recycled in between); EBUSY / ENOBUFS: the device is busy, try later.
 */
static void kick(struct relay *rl)
{
	for (int i = 0; i < KICKS_MAX; i++) {
		uint32_t cons = __atomic_load_n(rl->tx.consumer, __ATOMIC_ACQUIRE);

		if (cons == *rl->tx.producer)
			return;
		rl->kicks++;
		if (sendto(xsk_socket__fd(rl->out), NULL, 0, MSG_DONTWAIT, NULL, 0) == -1) {
			if (errno != EAGAIN && errno != EBUSY && errno != ENOBUFS && errno != EINTR) {
				rl->kick_errors++;
				return;
			}
			if (errno != EAGAIN)
				return;
		}
		recycle(rl);
	}
}

/* Rewrite one frame in place; 0 and the descriptor to send, or an errno (not ours). */
static int relay_frame(struct relay *rl, uint64_t addr, uint32_t len, struct xdp_desc *out)
{
	uint8_t *f = xsk_umem__get_data(rl->area, addr), *o;
	struct frame_info fi;
	size_t olen;
	int rc;

	rc = frame_parse(f, len, &fi);
	rl->kinds[fi.kind]++;
	if (rc || fi.kind != FRAME_FAST_UDP || fi.af != rl->family) {
		rl->malformed += rc != 0;
		return EINVAL;
	}
	if (fi.af == AF_INET ? fi.dst.v4 != rl->cfg.addr4 : memcmp(fi.dst.v6, rl->cfg.addr6, 16)) {
		rl->not_ours++;
		return EINVAL;
	}
	if (ntohs(fi.dport) < rl->cfg.port_min || ntohs(fi.dport) > rl->cfg.port_max) {
		rl->not_ours++;
		return EINVAL;
	}
	rl->rw.sport = fi.dport;		/* the port it came to */
	rc = frame_rewrite(f, &fi, &rl->rw, &o, &olen);
	if (rc)
		return rc;
	out->addr = addr + (uint64_t)(o - f);	/* the rewrite may move the MAC header */
	out->len = (uint32_t)olen;
	out->options = 0;
	return 0;
}

/* One burst from the rx ring to the tx ring; the number of frames taken. */
static uint32_t relay_burst(struct relay *rl)
{
	uint64_t drop[RX_BURST];
	uint32_t n, idx_rx, idx_tx = 0, ntx = 0, ndrop = 0, room;

	recycle(rl);
	n = xsk_ring_cons__peek(&rl->rx, RX_BURST, &idx_rx);
	if (!n)
		return 0;
	rl->rx_frames += n;
	room = xsk_prod_nb_free(&rl->tx, n);
	if (room > n)
		room = n;
	if (room)
		xsk_ring_prod__reserve(&rl->tx, room, &idx_tx);
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&rl->rx, idx_rx + i);
		struct xdp_desc out;

		if (relay_frame(rl, d->addr, d->len, &out)) {
			drop[ndrop++] = d->addr;
		} else if (ntx == room) {
			rl->tx_full++;
			drop[ndrop++] = d->addr;
		} else {
			*xsk_ring_prod__tx_desc(&rl->tx, idx_tx + ntx++) = out;
		}
	}
	xsk_ring_cons__release(&rl->rx, n);
	if (ntx < room)
		rl->tx.cached_prod -= room - ntx;	/* give back what was not used */
	xsk_ring_prod__submit(&rl->tx, ntx);
	rl->relayed += ntx;
	refill(rl, drop, ndrop);
	if (ntx)
		kick(rl);
	return n;
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

/* "IP:PORT" or "[IP6]:PORT" into rl->rw's destination. */
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
	rl->rw.dport = htons((uint16_t)port);
	return parse_ip(ip, family, &rl->rw.dst.v4, rl->rw.dst.v6);
}

static int parse_mac(uint8_t *mac, const char *s)
{
	unsigned b[FRAME_MAC_LEN];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) !=
	    FRAME_MAC_LEN)
		return EINVAL;
	for (int i = 0; i < FRAME_MAC_LEN; i++) {
		if (b[i] > 0xff)
			return EINVAL;
		mac[i] = (uint8_t)b[i];
	}
	return 0;
}

static int if_mac(const char *ifname, uint8_t *mac)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), rc = 0;

	if (fd < 0)
		return errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == -1)
		rc = errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, FRAME_MAC_LEN);
	close(fd);
	return rc;
}

static void xsk_stats(struct xsk_socket *xsk, struct xdp_statistics *st)
{
	socklen_t len = sizeof(*st);

	memset(st, 0, sizeof(*st));
	if (xsk && getsockopt(xsk_socket__fd(xsk), SOL_XDP, XDP_STATISTICS, st, &len) == -1)
		memset(st, 0, sizeof(*st));
}

/* The BPF program's per-CPU counters, summed: [0] redirected, [1] passed to the kernel. */
static void prog_counts(struct relay *rl, uint64_t *out)
{
	struct bpf_map *m = bpf_object__find_map_by_name(rl->obj, "counts");
	int ncpu = libbpf_num_possible_cpus();
	uint64_t v[256];

	out[0] = out[1] = 0;
	if (!m || ncpu <= 0 || ncpu > 256)
		return;
	for (uint32_t k = 0; k < 2; k++) {
		if (bpf_map_lookup_elem(bpf_map__fd(m), &k, v))
			continue;
		for (int c = 0; c < ncpu; c++)
			out[k] += v[c];
	}
}

static void print_totals(struct relay *rl, double secs)
{
	struct xdp_statistics in, out;
	struct rusage ru;
	uint64_t prog[2];

	xsk_stats(rl->in, &in);
	xsk_stats(rl->out, &out);
	prog_counts(rl, prog);
	getrusage(RUSAGE_SELF, &ru);
	printf("rx=%llu relayed=%llu arp=0 icmp=%llu frag=%llu other=%llu not_ours=%llu "
	       "malformed=%llu xdp_redirected=%llu xdp_passed=%llu "
	       "rx_drops=%llu rx_ring_full=%llu rx_fill_empty=%llu rx_invalid=%llu "
	       "tx=%llu tx_errors=%llu tx_full=%llu tx_invalid=%llu kicks=%llu "
	       "seconds=%.3f pps=%.0f utime=%.2f stime=%.2f\n",
	       (unsigned long long)rl->rx_frames, (unsigned long long)rl->relayed,
	       (unsigned long long)rl->kinds[FRAME_ICMP],
	       (unsigned long long)rl->kinds[FRAME_FRAGMENT],
	       (unsigned long long)(rl->kinds[FRAME_OTHER] + rl->kinds[FRAME_ARP]),
	       (unsigned long long)rl->not_ours, (unsigned long long)rl->malformed,
	       (unsigned long long)prog[0], (unsigned long long)prog[1],
	       (unsigned long long)(in.rx_dropped + in.rx_ring_full + in.rx_fill_ring_empty_descs),
	       (unsigned long long)in.rx_ring_full,
	       (unsigned long long)in.rx_fill_ring_empty_descs,
	       (unsigned long long)in.rx_invalid_descs, (unsigned long long)rl->tx_done,
	       (unsigned long long)rl->kick_errors, (unsigned long long)rl->tx_full,
	       (unsigned long long)out.tx_invalid_descs, (unsigned long long)rl->kicks, secs,
	       secs > 0 ? (double)rl->relayed / secs : 0.0,
	       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	fflush(stdout);
}

/* Receive, rewrite, send until stopped or for seconds; a line a second. */
static void run(struct relay *rl, double seconds)
{
	struct pollfd pfd = { .fd = xsk_socket__fd(rl->in), .events = POLLIN };
	uint64_t start = time_mono_ms(), tick = start + 1000, last = 0, now;
	uint64_t end = seconds > 0 ? start + (uint64_t)(seconds * 1000) : UINT64_MAX;

	while (!stopping && (now = time_mono_ms()) < end) {
		if (!relay_burst(rl)) {
			kick(rl);		/* what an earlier kick left behind */
			if (!rl->busy && poll(&pfd, 1, POLL_MS) == -1 && errno != EINTR)
				break;
		}
		if (now >= tick) {
			printf("pps=%llu relayed=%llu\n", (unsigned long long)(rl->relayed - last),
			       (unsigned long long)rl->relayed);
			fflush(stdout);
			last = rl->relayed;
			tick += 1000;
		}
	}
	kick(rl);
	usleep(100 * 1000);
	recycle(rl);
	print_totals(rl, (double)(time_mono_ms() - start) / 1000.0);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1)
		perror("relay-xdp: sched_setaffinity");
}

/* Load the XDP program, give it the owned address and ports, attach it to in_if. */
static int prog_attach(struct relay *rl, const char *path, const char *in_if, const char *mode,
		       char *err, size_t errsz)
{
	static const struct { const char *name; uint32_t flags; } modes[] = {
		{ "native", XDP_FLAGS_DRV_MODE }, { "generic", XDP_FLAGS_SKB_MODE },
	};
	struct bpf_program *prog;
	struct bpf_map *cfg;
	uint32_t k = 0;
	int rc = ENOENT;

	rl->ifindex = (int)if_nametoindex(in_if);
	if (!rl->ifindex) {
		snprintf(err, errsz, "%s: no such interface", in_if);
		return ENODEV;
	}
	rl->obj = bpf_object__open_file(path, NULL);
	if (!rl->obj) {
		rc = errno;
		snprintf(err, errsz, "%s: cannot open the XDP program", path);
		return rc;
	}
	if ((rc = -bpf_object__load(rl->obj))) {
		snprintf(err, errsz, "%s: the kernel refused the XDP program", path);
		return rc;
	}
	prog = bpf_object__find_program_by_name(rl->obj, "relay_xdp");
	cfg = bpf_object__find_map_by_name(rl->obj, "cfg_map");
	if (!prog || !cfg) {
		snprintf(err, errsz, "%s: no relay_xdp program or cfg_map", path);
		return ENOENT;
	}
	if (bpf_map_update_elem(bpf_map__fd(cfg), &k, &rl->cfg, BPF_ANY)) {
		rc = errno;
		snprintf(err, errsz, "cfg_map update failed");
		return rc;
	}
	/* a BPF link: the program goes when the process does, however it ends */
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = modes[i].flags);

		if (strcmp(mode, "auto") && strcmp(mode, modes[i].name))
			continue;
		rl->link_fd = bpf_link_create(bpf_program__fd(prog), rl->ifindex, BPF_XDP, &lo);
		if (rl->link_fd >= 0) {
			rl->xdp_flags = modes[i].flags;
			return 0;
		}
		rc = errno;
		snprintf(err, errsz, "%s: %s XDP attach failed", in_if, modes[i].name);
	}
	return rc;
}

static void prog_detach(struct relay *rl)
{
	if (rl->link_fd > 0)
		close(rl->link_fd);
	rl->link_fd = -1;
	rl->xdp_flags = 0;
	bpf_object__close(rl->obj);
	rl->obj = NULL;
}

/* The UMEM, in's rx socket (in the XSKMAP) and out's tx socket on the same UMEM. */
static int sockets_open(struct relay *rl, const char *in_if, const char *out_if,
			const char *zc, const char **bound, char *err, size_t errsz)
{
	struct xsk_umem_config ucfg = {
		.fill_size = NUM_FRAMES, .comp_size = NUM_FRAMES,
		.frame_size = FRAME_SIZE, .frame_headroom = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = RX_SIZE, .tx_size = TX_SIZE,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.xdp_flags = rl->xdp_flags,
	};
	static const struct { const char *name; uint16_t flags; } binds[] = {
		{ "zerocopy", XDP_ZEROCOPY }, { "copy", XDP_COPY },
	};
	struct bpf_map *xsks = bpf_object__find_map_by_name(rl->obj, "xsks_map");
	uint64_t addr[RX_BURST];
	unsigned budget = TX_SIZE;
	int rc = EINVAL;

	rl->area = mmap(NULL, (size_t)NUM_FRAMES * FRAME_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (rl->area == MAP_FAILED) {
		rl->area = NULL;
		snprintf(err, errsz, "UMEM mmap failed");
		return errno;
	}
	if ((rc = -xsk_umem__create(&rl->umem, rl->area, (uint64_t)NUM_FRAMES * FRAME_SIZE,
				    &rl->fill, &rl->comp, &ucfg))) {
		snprintf(err, errsz, "xsk_umem__create failed");
		return rc;
	}
	for (size_t i = 0; i < sizeof(binds) / sizeof(binds[0]); i++) {
		if (strcmp(zc, "auto") && strcmp(zc, binds[i].name))
			continue;
		scfg.bind_flags = binds[i].flags | XDP_USE_NEED_WAKEUP;
		rc = -xsk_socket__create(&rl->in, in_if, 0, rl->umem, &rl->rx, NULL, &scfg);
		if (!rc) {
			*bound = binds[i].name;
			break;
		}
		snprintf(err, errsz, "%s: AF_XDP socket (%s) failed", in_if, binds[i].name);
	}
	if (rc)
		return rc;
	if (!xsks || (rc = -xsk_socket__update_xskmap(rl->in, bpf_map__fd(xsks)))) {
		snprintf(err, errsz, "xsks_map update failed");
		return rc ? rc : ENOENT;
	}
	/* the second socket shares the UMEM: binding inherits the first one's mode */
	if ((rc = -xsk_socket__create_shared(&rl->out, out_if, 0, rl->umem, NULL, &rl->tx,
					     &rl->out_fill, &rl->out_comp, &scfg))) {
		snprintf(err, errsz, "%s: AF_XDP socket sharing the UMEM failed", out_if);
		return rc;
	}
	/* Linux >= 6.17: one sendto() may send the whole tx ring (copy mode) */
	setsockopt(xsk_socket__fd(rl->out), SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget,
		   sizeof(budget));
	for (uint32_t f = 0; f < NUM_FRAMES; f += RX_BURST) {
		for (uint32_t i = 0; i < RX_BURST; i++)
			addr[i] = (uint64_t)(f + i) * FRAME_SIZE;
		refill(rl, addr, RX_BURST);
	}
	return 0;
}

static void sockets_close(struct relay *rl)
{
	xsk_socket__delete(rl->out);
	xsk_socket__delete(rl->in);
	xsk_umem__delete(rl->umem);
	if (rl->area)
		munmap(rl->area, (size_t)NUM_FRAMES * FRAME_SIZE);
}

/* What main needs besides the job itself. */
struct relay_opts {
	const char *in_if, *out_if;
	const char *mode;		/* XDP: auto, native, generic */
	const char *bind;		/* socket: auto, zerocopy, copy */
	const char *obj;		/* the XDP program's object file */
	double seconds;
};

static void opts_parse(struct relay *rl, int argc, char **argv, struct relay_opts *o)
{
	struct in6_addr own6, src6;
	struct in_addr own4, src4;
	int c, own_fam = 0, src_fam = 0;
	unsigned pmin, pmax;

	while ((c = getopt(argc, argv, "i:o:a:p:m:d:s:c:bM:Z:x:n:")) != -1) {
		switch (c) {
		case 'i': o->in_if = optarg; break;
		case 'o': o->out_if = optarg; break;
		case 'a':
			if (parse_ip(optarg, &own_fam, &own4, &own6))
				usage();
			break;
		case 'p':
			if (sscanf(optarg, "%u-%u", &pmin, &pmax) != 2 || !pmin || pmin > pmax ||
			    pmax > 65535)
				usage();
			rl->cfg.port_min = (uint16_t)pmin;
			rl->cfg.port_max = (uint16_t)pmax;
			break;
		case 'm':
			if (parse_mac(rl->rw.dst_mac, optarg))
				usage();
			break;
		case 'd':
			if (parse_dst(rl, optarg, &rl->family))
				usage();
			break;
		case 's':
			if (parse_ip(optarg, &src_fam, &src4, &src6))
				usage();
			break;
		case 'c': pin(atoi(optarg)); break;
		case 'b': rl->busy = true; break;
		case 'M': o->mode = optarg; break;
		case 'Z': o->bind = optarg; break;
		case 'x': o->obj = optarg; break;
		case 'n': o->seconds = atof(optarg); break;
		default: usage();
		}
	}
	if (!o->in_if || !o->out_if || !own_fam || !rl->cfg.port_min || !rl->family ||
	    own_fam != rl->family || src_fam != rl->family) {
		fprintf(stderr, "relay-xdp: -i, -o, -a, -p, -m, -d and -s are needed, "
			"all addresses of one family\n");
		usage();
	}
	rl->rw.af = (uint8_t)rl->family;
	rl->rw.ttl = TTL;
	rl->cfg.af = rl->family == AF_INET ? 4 : 6;
	if (rl->family == AF_INET) {
		memcpy(&rl->cfg.addr4, &own4, 4);
		memcpy(&rl->rw.src.v4, &src4, 4);
	} else {
		memcpy(rl->cfg.addr6, &own6, 16);
		memcpy(rl->rw.src.v6, &src6, 16);
	}
}

int main(int argc, char **argv)
{
	static struct relay rl;
	struct relay_opts o = { .mode = "auto", .bind = "auto", .obj = RELAY_XDP_OBJ };
	const char *bound = "";
	char err[256] = "";
	int rc;

	opts_parse(&rl, argc, argv, &o);
	if ((rc = if_mac(o.out_if, rl.rw.src_mac))) {
		fprintf(stderr, "relay-xdp: %s: no MAC address (%s)\n", o.out_if, strerror(rc));
		return 1;
	}
	if (!getenv("RELAY_XDP_DEBUG"))
		libbpf_set_print(NULL);
	rc = prog_attach(&rl, o.obj, o.in_if, o.mode, err, sizeof(err));
	if (!rc)
		rc = sockets_open(&rl, o.in_if, o.out_if, o.bind, &bound, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "relay-xdp: %s (%s)\n", err, strerror(rc));
		sockets_close(&rl);
		prog_detach(&rl);
		return 1;
	}
	signal(SIGTERM, stop_h);
	signal(SIGINT, stop_h);
	signal(SIGPIPE, SIG_IGN);
	printf("ready xdp=%s bind=%s\n", rl.xdp_flags == XDP_FLAGS_DRV_MODE ? "native" : "generic",
	       bound);
	fflush(stdout);
	run(&rl, o.seconds);
	sockets_close(&rl);
	prog_detach(&rl);
	return 0;
}
