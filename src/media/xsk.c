/* xsk: the AF_XDP implementation of struct ring (ring.h): an XDP program, one AF_XDP socket, its UMEM. */
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/sockios.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/xsk.h>

#include "media/xsk.h"
#include "util/util.h"

#ifndef XDP_MAX_TX_SKB_BUDGET
#define XDP_MAX_TX_SKB_BUDGET 9		/* Linux 6.17: frames one copy-mode sendto() may send */
#endif

/*
 * One UMEM a port: the first XSK_RX_FRAMES chunks circulate through the
 * fill and rx rings, the others are the transmit frames (a free list,
 * back from the completion ring). A received frame is handed up where it
 * lies and its chunk goes straight back to the fill ring; what leaves is
 * a copy (ring_tx_add), as with the pcap ring.
 */
enum {
	XSK_FRAME = 2048,		/* one chunk a frame: RING_SNAPLEN, the least AF_XDP allows */
	XSK_RX_FRAMES = 4096,		/* 8 MiB: fill and rx rings hold them all */
	XSK_TX_FRAMES = 4096,		/* 8 MiB: tx and completion rings hold them all */
	XSK_BATCH_DEFAULT = 64,
	XSK_RX_BURST = 256,		/* most frames taken from the rx ring a call when max <= 0 */
	XSK_KICKS_MAX = 64,		/* sendto() calls a flush at most (copy mode sends 32 a call) */
};

/* The XDP program (src/media/xdp.bpf.c), compiled and embedded by the Makefile ($(BUILD)/src/media/xdp_obj.c). */
extern const unsigned char media_xdp_obj[];
extern const size_t media_xdp_obj_len;

struct xsk_port {
	void *area;
	struct xsk_umem *umem;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_socket *xsk;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct bpf_object *obj;
	int link_fd;			/* the BPF link: the program goes with the process */
	bool native;			/* driver mode; else generic (skb) */
	bool zerocopy;
	unsigned batch;
	unsigned queued;		/* tx descriptors reserved, not yet submitted */
	unsigned nfree;
	uint64_t free[XSK_TX_FRAMES];	/* free transmit chunks */
	struct ring_stats st;
};

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char buf[256];

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	buf[strcspn(buf, "\n")] = '\0';
	log_debug("libbpf: %s", buf);
	return 0;
}

static void port_destroy(void *data)
{
	struct xsk_port *x = data;

	if (x->link_fd >= 0)
		close(x->link_fd);
	if (x->xsk)
		xsk_socket__delete(x->xsk);
	if (x->umem)
		xsk_umem__delete(x->umem);
	if (x->area)
		munmap(x->area, (size_t)(XSK_RX_FRAMES + XSK_TX_FRAMES) * XSK_FRAME);
	if (x->obj)
		bpf_object__close(x->obj);
}

/* Close the port (NULL is fine); returns NULL. */
struct xsk_port *xsk_port_close(struct xsk_port *x)
{
	return mem_deref(x);
}

/* The interface's MAC, and that it is Ethernet with one receive queue (one socket serves it all). */
static int if_check(const char *ifname, uint8_t mac[6], char *err, size_t errsz)
{
	struct ethtool_channels ch = { .cmd = ETHTOOL_GCHANNELS };
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = 0;

	if (fd == -1)
		return ring_seterr(err, errsz, errno, "socket: %s", strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == -1)
		rc = ring_seterr(err, errsz, errno, "%s: %s", ifname, strerror(errno));
	else if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
		rc = ring_seterr(err, errsz, EPROTONOSUPPORT, "%s: not an Ethernet interface", ifname);
	if (!rc) {
		memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
		ifr.ifr_data = (void *)&ch;
		if (ioctl(fd, SIOCETHTOOL, &ifr) == 0 && ch.rx_count + ch.combined_count > 1)
			rc = ring_seterr(err, errsz, EOPNOTSUPP,
				    "%s has %u receive queues: AF_XDP serves one (ethtool -L %s combined 1)",
				    ifname, ch.rx_count + ch.combined_count, ifname);
	}
	close(fd);
	return rc;
}

/* Load the embedded program, give it the owned address, attach it: native, else generic. */
static int prog_attach(struct xsk_port *x, const char *ifname, int ifindex, uint32_t own,
		       char *err, size_t errsz)
{
	static const uint32_t modes[] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE };
	struct bpf_program *prog;
	struct bpf_map *om;
	uint32_t k = 0;
	int rc = 0;

	libbpf_set_print(libbpf_log);
	x->obj = bpf_object__open_mem(media_xdp_obj, media_xdp_obj_len, NULL);
	if (!x->obj) {
		rc = errno ? errno : EINVAL;
		x->obj = NULL;
		return ring_seterr(err, errsz, rc, "cannot open the XDP program: %s", strerror(rc));
	}
	rc = -bpf_object__load(x->obj);
	if (rc)
		return ring_seterr(err, errsz, rc, "the kernel refused the XDP program: %s", strerror(rc));
	prog = bpf_object__find_program_by_name(x->obj, "sbc_media_xdp");
	om = bpf_object__find_map_by_name(x->obj, "own_map");
	if (!prog || !om)
		return ring_seterr(err, errsz, ENOENT, "the XDP program has no sbc_media_xdp or own_map");
	if (bpf_map_update_elem(bpf_map__fd(om), &k, &own, BPF_ANY))
		return ring_seterr(err, errsz, errno, "own_map: %s", strerror(errno));
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = modes[i]);

		x->link_fd = bpf_link_create(bpf_program__fd(prog), ifindex, BPF_XDP, &lo);
		if (x->link_fd >= 0) {
			x->native = modes[i] == XDP_FLAGS_DRV_MODE;
			return 0;
		}
		rc = errno;
		if (rc == EBUSY || rc == EEXIST)
			break;		/* someone else's program: generic would not do either */
	}
	if (rc == EBUSY || rc == EEXIST)
		return ring_seterr(err, errsz, rc, "%s: another XDP program is attached", ifname);
	return ring_seterr(err, errsz, rc, "%s: XDP attach failed: %s", ifname, strerror(rc));
}

/* Give n chunks back to the fill ring (it holds them all). */
static void refill(struct xsk_port *x, const uint64_t *addr, uint32_t n)
{
	uint32_t idx;

	if (!n || xsk_ring_prod__reserve(&x->fill, n, &idx) != n)
		return;
	for (uint32_t i = 0; i < n; i++)
		*xsk_ring_prod__fill_addr(&x->fill, idx + i) = addr[i] & ~(uint64_t)(XSK_FRAME - 1);
	xsk_ring_prod__submit(&x->fill, n);
}

/* The UMEM and the socket on queue 0, in the program's XSKMAP: zero-copy when native allows, else copy. */
static int sock_open(struct xsk_port *x, const char *ifname, char *err, size_t errsz)
{
	struct xsk_umem_config uc = { .fill_size = XSK_RX_FRAMES, .comp_size = XSK_TX_FRAMES,
				      .frame_size = XSK_FRAME };
	struct xsk_socket_config sc = { .rx_size = XSK_RX_FRAMES, .tx_size = XSK_TX_FRAMES,
					.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
					.xdp_flags = x->native ? XDP_FLAGS_DRV_MODE :
								 XDP_FLAGS_SKB_MODE };
	size_t size = (size_t)(XSK_RX_FRAMES + XSK_TX_FRAMES) * XSK_FRAME;
	struct bpf_map *xm = bpf_object__find_map_by_name(x->obj, "xsks_map");
	unsigned budget = XSK_TX_FRAMES;
	uint64_t addr[XSK_RX_BURST];
	int rc;

	x->area = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
		       -1, 0);
	if (x->area == MAP_FAILED) {
		x->area = NULL;
		return ring_seterr(err, errsz, errno, "UMEM: %s", strerror(errno));
	}
	rc = -xsk_umem__create(&x->umem, x->area, size, &x->fill, &x->comp, &uc);
	if (rc) {
		x->umem = NULL;
		return ring_seterr(err, errsz, rc, "UMEM: %s", strerror(rc));
	}
	rc = EOPNOTSUPP;
	if (x->native) {
		sc.bind_flags = XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP;
		rc = -xsk_socket__create(&x->xsk, ifname, 0, x->umem, &x->rx, &x->tx, &sc);
		x->zerocopy = !rc;
	}
	if (rc) {
		sc.bind_flags = XDP_COPY | XDP_USE_NEED_WAKEUP;
		rc = -xsk_socket__create(&x->xsk, ifname, 0, x->umem, &x->rx, &x->tx, &sc);
	}
	if (rc) {
		x->xsk = NULL;
		return ring_seterr(err, errsz, rc, "%s: AF_XDP socket: %s", ifname, strerror(rc));
	}
	if (!xm || (rc = -xsk_socket__update_xskmap(x->xsk, bpf_map__fd(xm))))
		return ring_seterr(err, errsz, rc ? rc : ENOENT, "xsks_map update failed");
	setsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_MAX_TX_SKB_BUDGET, &budget, sizeof(budget));
	for (uint32_t f = 0; f < XSK_RX_FRAMES; f += XSK_RX_BURST) {
		for (uint32_t i = 0; i < XSK_RX_BURST; i++)
			addr[i] = (uint64_t)(f + i) * XSK_FRAME;
		refill(x, addr, XSK_RX_BURST);
	}
	for (uint32_t i = 0; i < XSK_TX_FRAMES; i++)
		x->free[x->nfree++] = (uint64_t)(XSK_RX_FRAMES + i) * XSK_FRAME;
	return 0;
}

/*
 * Open the AF_XDP port of ifname for o->addr4 (ring_open with RING_XDP):
 * its MAC into mac. EBUSY/EEXIST: another XDP program is attached;
 * EOPNOTSUPP: more than one receive queue; ENODEV..., the reason in err.
 */
int xsk_port_open(struct xsk_port **xp, const char *ifname, const struct ring_opts *o,
		  uint8_t mac[6], char *err, size_t errsz)
{
	struct xsk_port *x;
	int ifindex, rc;

	if (!o->has4 || o->has6 || o->tx_only)
		return ring_seterr(err, errsz, EINVAL, "%s: AF_XDP needs one owned IPv4 address", ifname);
	ifindex = (int)if_nametoindex(ifname);
	if (!ifindex)
		return ring_seterr(err, errsz, ENODEV, "%s: no such interface", ifname);
	rc = if_check(ifname, mac, err, errsz);
	if (rc)
		return rc;
	x = mem_zalloc(sizeof(*x), port_destroy);
	if (!x)
		return ring_seterr(err, errsz, ENOMEM, "%s: out of memory", ifname);
	x->link_fd = -1;
	x->batch = o->tx_batch ? o->tx_batch : XSK_BATCH_DEFAULT;
	rc = prog_attach(x, ifname, ifindex, o->addr4.s_addr, err, errsz);
	if (!rc)
		rc = sock_open(x, ifname, err, errsz);
	if (rc) {
		mem_deref(x);
		return rc;
	}
	*xp = x;
	return 0;
}

int xsk_port_fd(const struct xsk_port *x)
{
	return xsk_socket__fd(x->xsk);
}

/* "native-zerocopy", "native-copy" or "generic-copy". */
const char *xsk_port_mode(const struct xsk_port *x)
{
	if (!x->native)
		return "generic-copy";
	return x->zerocopy ? "native-zerocopy" : "native-copy";
}

/*
 * Hand up to max frames (max <= 0: XSK_RX_BURST) to h where they lie in
 * the UMEM; their chunks go back to the fill ring after. Never blocks.
 */
int xsk_port_rx(struct xsk_port *x, ring_frame_h *h, void *arg, int max)
{
	uint64_t addr[XSK_RX_BURST];
	uint32_t idx, n, want = max > 0 && max < XSK_RX_BURST ? (uint32_t)max : XSK_RX_BURST;

	n = xsk_ring_cons__peek(&x->rx, want, &idx);
	for (uint32_t i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&x->rx, idx + i);

		addr[i] = d->addr;
		x->st.rx_frames++;
		h(xsk_umem__get_data(x->area, d->addr), d->len, arg);
	}
	if (n) {
		xsk_ring_cons__release(&x->rx, n);
		refill(x, addr, n);
	}
	if (xsk_ring_prod__needs_wakeup(&x->fill))
		recvfrom(xsk_socket__fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, NULL);
	return (int)n;
}

/* Sent frames' chunks back to the free list. */
static void reclaim(struct xsk_port *x)
{
	uint32_t idx, n = xsk_ring_cons__peek(&x->comp, XSK_TX_FRAMES, &idx);

	for (uint32_t i = 0; i < n && x->nfree < XSK_TX_FRAMES; i++)
		x->free[x->nfree++] = *xsk_ring_cons__comp_addr(&x->comp, idx + i);
	if (n)
		xsk_ring_cons__release(&x->comp, n);
	x->st.tx_frames += n;
}

/*
 * Have the kernel send the tx ring. Copy mode sends in the sendto() call,
 * a budget of frames a call: kick until the ring is empty, bounded.
 * EAGAIN: budget used up (again); EBUSY, ENOBUFS: the device is busy, the
 * frames wait for the next flush.
 */
static int kick(struct xsk_port *x)
{
	for (int i = 0; i < XSK_KICKS_MAX; i++) {
		uint32_t cons = __atomic_load_n(x->tx.consumer, __ATOMIC_ACQUIRE);

		if (cons == *x->tx.producer)
			return 0;
		if (x->zerocopy && !xsk_ring_prod__needs_wakeup(&x->tx))
			return 0;
		if (sendto(xsk_socket__fd(x->xsk), NULL, 0, MSG_DONTWAIT, NULL, 0) == -1) {
			if (errno == EBUSY || errno == ENOBUFS || errno == EINTR)
				return 0;
			if (errno != EAGAIN) {
				x->st.tx_errors++;
				return errno;
			}
		}
		reclaim(x);
	}
	return 0;
}

/* Submit the reserved descriptors and kick. */
int xsk_port_tx_flush(struct xsk_port *x)
{
	int rc;

	if (x->queued) {
		xsk_ring_prod__submit(&x->tx, x->queued);
		x->queued = 0;
	}
	rc = kick(x);
	reclaim(x);
	return rc;
}

/* A transmit chunk for a frame of len bytes, its descriptor reserved; NULL: none free (tx_full). */
uint8_t *xsk_port_tx_alloc(struct xsk_port *x, size_t len)
{
	struct xdp_desc *d;
	uint32_t idx;
	uint64_t a;

	if (len > XSK_FRAME)
		return NULL;
	if (x->queued >= x->batch)
		xsk_port_tx_flush(x);
	if (!x->nfree)
		reclaim(x);
	if (!x->nfree) {
		xsk_port_tx_flush(x);
		if (!x->nfree) {
			x->st.tx_full++;
			return NULL;
		}
	}
	if (xsk_ring_prod__reserve(&x->tx, 1, &idx) != 1) {
		x->st.tx_full++;
		return NULL;
	}
	a = x->free[--x->nfree];
	d = xsk_ring_prod__tx_desc(&x->tx, idx);
	d->addr = a;
	d->len = (uint32_t)len;
	d->options = 0;
	x->queued++;
	return xsk_umem__get_data(x->area, a);
}

/* The counters; rx_drops from the socket's XDP_STATISTICS (ring full, no free chunk, dropped). */
void xsk_port_stats(struct xsk_port *x, struct ring_stats *st)
{
	struct xdp_statistics xs;
	socklen_t len = sizeof(xs);

	reclaim(x);
	if (getsockopt(xsk_socket__fd(x->xsk), SOL_XDP, XDP_STATISTICS, &xs, &len) == 0)
		x->st.rx_drops = xs.rx_dropped + xs.rx_ring_full + xs.rx_fill_ring_empty_descs;
	*st = x->st;
}
