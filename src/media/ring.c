/* ring: a zone port's packet ring: frames in through libpcap (TPACKET_V3), out in batches. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "media/ring.h"
#include "media/xsk.h"
#include "util/util.h"

enum {
	TX_BATCH_DEFAULT = 64,
	TX_SLOTS_DEFAULT = 2048,
	TX_SLOTS_MAX = 1 << 16,
	TX_FRAME_SIZE = 4096,		/* a TX ring slot: header + RING_SNAPLEN, page aligned */
	TX_FRAMES_PER_BLOCK = 16,
	TX_SNDBUF = 4 << 20,
	TIMEOUT_DEFAULT_MS = 1,
	ETH_HDR_LEN = 14,
};

/* Where a TX ring slot's frame starts (no PACKET_TX_HAS_OFF: packet_mmap.rst). */
#define TX_DATA_OFF (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))

struct ring {
	struct xsk_port *xsk;		/* RING_XDP: everything below but ifindex and mac unused */
	pcap_t *pcap;
	int ifindex;
	uint8_t mac[ETH_ALEN];
	enum ring_tx_mode mode;
	unsigned batch;
	int tx_fd;
	/* sendmmsg: a batch of copies */
	uint8_t *slots;
	struct mmsghdr *msgs;
	struct iovec *iov;
	unsigned nq;
	/* PACKET_TX_RING: slots head (next to fill) .. tail (oldest not yet sent) */
	uint8_t *map;
	size_t map_len;
	unsigned nslots;
	uint32_t head, tail, unkicked;
	bool retry;			/* a kick was refused: requested slots wait */
	struct ring_stats st;
};

static int fmt_append(char *buf, size_t size, size_t *off, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Append to buf at *off; ENOSPC when it does not fit. */
static int fmt_append(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= size)
		return ENOSPC;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *off)
		return ENOSPC;
	*off += (size_t)n;
	return 0;
}

/* The extra expression: printable, parentheses balanced, not too long. */
static bool extra_ok(const char *s)
{
	int depth = 0;
	size_t len = strnlen(s, RING_EXTRA_MAX + 1);

	if (len > RING_EXTRA_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
		if (s[i] == '(')
			depth++;
		else if (s[i] == ')' && --depth < 0)
			return false;
	}
	return depth == 0;
}

static int ports_fmt(char *buf, size_t size, const struct ring_opts *o)
{
	int n;

	if (o->port_min == o->port_max)
		n = snprintf(buf, size, "port %u", o->port_min);
	else
		n = snprintf(buf, size, "portrange %u-%u", o->port_min, o->port_max);
	return n < 0 || (size_t)n >= size ? ENOSPC : 0;
}

/*
 * The BPF filter for o into buf: for each owned address, UDP to the port
 * range, ICMP (ICMPv6) and fragments (they carry no UDP header) to it; ARP
 * whose target is the IPv4 address; ICMPv6 to the IPv6 address's
 * solicited-node group (neighbour discovery); then " or (extra)".
 * Addresses are formatted from binary, so nothing needs quoting; extra is
 * parenthesised so its own "or" cannot change the rest.
 * EINVAL: no address, bad port range or bad extra; ENOSPC: buf too small.
 */
int ring_filter_build(char *buf, size_t size, const struct ring_opts *o)
{
	char a[INET6_ADDRSTRLEN], ports[32];
	size_t off = 0;
	int err = 0;

	if (!buf || !size || !o || (!o->has4 && !o->has6))
		return EINVAL;
	if (!o->port_min || o->port_min > o->port_max)
		return EINVAL;
	if (o->extra && *o->extra && !extra_ok(o->extra))
		return EINVAL;
	buf[0] = '\0';
	err = ports_fmt(ports, sizeof(ports), o);
	if (!err && o->has4) {
		inet_ntop(AF_INET, &o->addr4, a, sizeof(a));
		err = fmt_append(buf, size, &off,
				 "(ip dst host %s and (udp dst %s or icmp or ip[6:2] & 0x1fff != 0))"
				 " or (arp dst host %s)", a, ports, a);
	}
	if (!err && o->has6) {
		const uint8_t *b = o->addr6.s6_addr;

		inet_ntop(AF_INET6, &o->addr6, a, sizeof(a));
		err = fmt_append(buf, size, &off,
				 "%s(ip6 dst host %s and (udp dst %s or icmp6 or ip6[6] == 44))"
				 " or (icmp6 and ip6 dst host ff02::1:ff%02x:%02x%02x)",
				 off ? " or " : "", a, ports, b[13], b[14], b[15]);
	}
	if (!err && o->extra && *o->extra)
		err = fmt_append(buf, size, &off, " or (%s)", o->extra);
	if (err)
		buf[0] = '\0';
	return err;
}

const char *ring_tx_mode_name(enum ring_tx_mode m)
{
	switch (m) {
	case RING_TX_DEFAULT:
		return "default";
	case RING_TX_RING:
		return "ring";
	case RING_TX_SENDMMSG:
		return "sendmmsg";
	}
	return "?";
}

int ring_tx_mode_parse(const char *s, enum ring_tx_mode *m)
{
	if (!s || !m)
		return EINVAL;
	if (!strcmp(s, "default"))
		*m = RING_TX_DEFAULT;
	else if (!strcmp(s, "ring"))
		*m = RING_TX_RING;
	else if (!strcmp(s, "sendmmsg"))
		*m = RING_TX_SENDMMSG;
	else
		return EINVAL;
	return 0;
}

static void ring_destroy(void *data)
{
	struct ring *r = data;

	xsk_port_close(r->xsk);
	if (r->pcap)
		pcap_close(r->pcap);
	if (r->map)
		munmap(r->map, r->map_len);
	if (r->tx_fd != -1)
		close(r->tx_fd);
	mem_deref(r->slots);
	mem_deref(r->msgs);
	mem_deref(r->iov);
}

/* Close the ring (NULL is fine); returns NULL for "r = ring_close(r);". */
struct ring *ring_close(struct ring *r)
{
	return mem_deref(r);
}

/* A message into err (when given); returns code. Shared with xsk.c. */
int ring_seterr(char *err, size_t errsz, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errsz) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int pcap_errno(int rc)
{
	switch (rc) {
	case PCAP_ERROR_NO_SUCH_DEVICE:
		return ENODEV;
	case PCAP_ERROR_PERM_DENIED:
		return EPERM;
	case PCAP_ERROR_IFACE_NOT_UP:
		return ENETDOWN;
	default:
		return EIO;
	}
}

/* IPv6 neighbour solicitations go to 33:33:ff:xx:xx:xx: have the NIC accept it. */
static void join_solicited(int fd, int ifindex, const struct in6_addr *a)
{
	struct packet_mreq mr = { .mr_ifindex = ifindex, .mr_type = PACKET_MR_MULTICAST,
				  .mr_alen = ETH_ALEN,
				  .mr_address = { 0x33, 0x33, 0xff, a->s6_addr[13], a->s6_addr[14],
						  a->s6_addr[15] } };

	if (setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) == -1)
		log_warn("ring: cannot join the solicited-node group: %s", strerror(errno));
}

/* The receive side: libpcap, TPACKET_V3 unless immediate, nonblocking, filtered, inbound only. */
static int rx_open(struct ring *r, const char *ifname, const struct ring_opts *o,
		   char *err, size_t errsz)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "", filter[RING_FILTER_MAX];
	struct bpf_program prog;
	int rc, on = 1, fd;

	rc = ring_filter_build(filter, sizeof(filter), o);
	if (rc)
		return ring_seterr(err, errsz, rc, "%s: cannot build the filter (%s)", ifname,
			      rc == ENOSPC ? "too long" : "bad address, port range or extra");
	r->pcap = pcap_create(ifname, ebuf);
	if (!r->pcap)
		return ring_seterr(err, errsz, EIO, "%s: %s", ifname, ebuf);
	pcap_set_snaplen(r->pcap, RING_SNAPLEN);
	pcap_set_promisc(r->pcap, o->promisc);
	pcap_set_timeout(r->pcap, o->timeout_ms > 0 ? o->timeout_ms : TIMEOUT_DEFAULT_MS);
	pcap_set_buffer_size(r->pcap, o->buffer_size > 0 ? o->buffer_size : RING_BUFFER_DEFAULT);
	pcap_set_immediate_mode(r->pcap, o->immediate);
	rc = pcap_activate(r->pcap);
	if (rc < 0)
		return ring_seterr(err, errsz, pcap_errno(rc), "%s: %s", ifname,
			      rc == PCAP_ERROR ? pcap_geterr(r->pcap) : pcap_statustostr(rc));
	if (pcap_datalink(r->pcap) != DLT_EN10MB)
		return ring_seterr(err, errsz, EPROTONOSUPPORT, "%s: not an Ethernet interface", ifname);
	if (pcap_setnonblock(r->pcap, 1, ebuf) == -1)
		return ring_seterr(err, errsz, EIO, "%s: %s", ifname, ebuf);
	fd = pcap_get_selectable_fd(r->pcap);
	/* our own frames (and anything else sent out of this port) are not received back */
	if (setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &on, sizeof(on)) == -1 &&
	    pcap_setdirection(r->pcap, PCAP_D_IN) == -1)
		return ring_seterr(err, errsz, EIO, "%s: %s", ifname, pcap_geterr(r->pcap));
	if (pcap_compile(r->pcap, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) == -1)
		return ring_seterr(err, errsz, EINVAL, "%s: bad filter \"%s\": %s", ifname, filter,
			      pcap_geterr(r->pcap));
	rc = pcap_setfilter(r->pcap, &prog);
	pcap_freecode(&prog);
	if (rc == -1)
		return ring_seterr(err, errsz, EIO, "%s: %s", ifname, pcap_geterr(r->pcap));
	if (o->has6)
		join_solicited(fd, r->ifindex, &o->addr6);
	return 0;
}

/* PACKET_TX_RING, TPACKET_V2: nslots slots of TX_FRAME_SIZE, mapped. */
static int tx_ring_setup(struct ring *r, unsigned slots)
{
	int v = TPACKET_V2, on = 1;
	struct tpacket_req req;

	slots = (slots + TX_FRAMES_PER_BLOCK - 1) / TX_FRAMES_PER_BLOCK * TX_FRAMES_PER_BLOCK;
	req = (struct tpacket_req){ .tp_block_size = TX_FRAME_SIZE * TX_FRAMES_PER_BLOCK,
				    .tp_block_nr = slots / TX_FRAMES_PER_BLOCK,
				    .tp_frame_size = TX_FRAME_SIZE, .tp_frame_nr = slots };
	if (setsockopt(r->tx_fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) == -1 ||
	    setsockopt(r->tx_fd, SOL_PACKET, PACKET_LOSS, &on, sizeof(on)) == -1 ||
	    setsockopt(r->tx_fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) == -1)
		return errno;
	r->map_len = (size_t)req.tp_block_size * req.tp_block_nr;
	r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		      r->tx_fd, 0);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return errno;
	}
	r->nslots = slots;
	return 0;
}

/* sendmmsg: batch copies, one mmsghdr each (the socket is bound: no address). */
static int tx_mmsg_setup(struct ring *r)
{
	r->slots = mem_zalloc((size_t)r->batch * RING_SNAPLEN, NULL);
	r->msgs = mem_zalloc(r->batch * sizeof(*r->msgs), NULL);
	r->iov = mem_zalloc(r->batch * sizeof(*r->iov), NULL);
	if (!r->slots || !r->msgs || !r->iov)
		return ENOMEM;
	for (unsigned i = 0; i < r->batch; i++) {
		r->iov[i].iov_base = r->slots + (size_t)i * RING_SNAPLEN;
		r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
		r->msgs[i].msg_hdr.msg_iovlen = 1;
	}
	return 0;
}

/*
 * The transmit side: an AF_PACKET socket of protocol 0 (it receives
 * nothing) bound to the interface, with the chosen batch method.
 */
static int tx_open(struct ring *r, const char *ifname, const struct ring_opts *o,
		   char *err, size_t errsz)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = r->ifindex };
	int buf = TX_SNDBUF, on = 1, rc;
	struct ifreq ifr;

	r->tx_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (r->tx_fd == -1)
		return ring_seterr(err, errsz, errno, "%s: packet socket: %s", ifname, strerror(errno));
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifname, strlen(ifname));
	if (ioctl(r->tx_fd, SIOCGIFHWADDR, &ifr) == -1)
		return ring_seterr(err, errsz, errno, "%s: %s", ifname, strerror(errno));
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER)
		return ring_seterr(err, errsz, EPROTONOSUPPORT, "%s: not an Ethernet interface", ifname);
	memcpy(r->mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	if (setsockopt(r->tx_fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) == -1)
		setsockopt(r->tx_fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (o->qdisc_bypass &&
	    setsockopt(r->tx_fd, SOL_PACKET, PACKET_QDISC_BYPASS, &on, sizeof(on)) == -1)
		return ring_seterr(err, errsz, errno, "%s: qdisc bypass: %s", ifname, strerror(errno));
	if (r->mode == RING_TX_RING)
		rc = tx_ring_setup(r, o->tx_slots ? o->tx_slots : TX_SLOTS_DEFAULT);
	else
		rc = tx_mmsg_setup(r);
	if (rc)
		return ring_seterr(err, errsz, rc, "%s: transmit %s: %s", ifname,
			      ring_tx_mode_name(r->mode), strerror(rc));
	if (bind(r->tx_fd, (struct sockaddr *)&sll, sizeof(sll)) == -1)
		return ring_seterr(err, errsz, errno, "%s: bind: %s", ifname, strerror(errno));
	return 0;
}

static int opts_check(const char *ifname, const struct ring_opts *o, char *err, size_t errsz)
{
	size_t n = ifname ? strnlen(ifname, IFNAMSIZ) : 0;

	if (!n || n >= IFNAMSIZ)
		return ring_seterr(err, errsz, EINVAL, "bad interface name");
	if (o->tx_mode != RING_TX_DEFAULT && o->tx_mode != RING_TX_RING &&
	    o->tx_mode != RING_TX_SENDMMSG)
		return ring_seterr(err, errsz, EINVAL, "%s: bad transmit mode", ifname);
	if (o->tx_batch > RING_BATCH_MAX || o->tx_slots > TX_SLOTS_MAX ||
	    (o->tx_slots && o->tx_batch > o->tx_slots))
		return ring_seterr(err, errsz, EINVAL, "%s: bad batch or slot count", ifname);
	if (!o->tx_only && (!o->has4 && !o->has6))
		return ring_seterr(err, errsz, EINVAL, "%s: no owned address", ifname);
	if (!o->tx_only && (!o->port_min || o->port_min > o->port_max))
		return ring_seterr(err, errsz, EINVAL, "%s: bad port range %u-%u", ifname,
			      o->port_min, o->port_max);
	if (!o->tx_only && o->extra && *o->extra && !extra_ok(o->extra))
		return ring_seterr(err, errsz, EINVAL, "%s: bad extra filter", ifname);
	return 0;
}

/*
 * Open the ring of interface ifname: receive (unless o->tx_only) what the
 * filter of ring_filter_build lets through, transmit in batches. Needs
 * CAP_NET_RAW. On error returns ENODEV (no such interface), EPERM (no
 * permission), EINVAL (bad arguments or filter), ENETDOWN, EIO..., with
 * the reason (pcap's words where it comes from pcap) in err.
 */
int ring_open(struct ring **rp, const char *ifname, const struct ring_opts *o,
	      char *err, size_t errsz)
{
	struct ring *r;
	int rc;

	if (err && errsz)
		err[0] = '\0';
	if (!rp || !o)
		return ring_seterr(err, errsz, EINVAL, "no ring or options");
	rc = opts_check(ifname, o, err, errsz);
	if (rc)
		return rc;
	r = mem_zalloc(sizeof(*r), ring_destroy);
	if (!r)
		return ring_seterr(err, errsz, ENOMEM, "%s: out of memory", ifname);
	r->tx_fd = -1;
	r->mode = o->tx_mode == RING_TX_DEFAULT ? RING_TX_RING : o->tx_mode;
	r->batch = o->tx_batch ? o->tx_batch : TX_BATCH_DEFAULT;
	r->ifindex = (int)if_nametoindex(ifname);
	if (o->kind == RING_XDP) {
		rc = xsk_port_open(&r->xsk, ifname, o, r->mac, err, errsz);
		if (rc)
			goto out_free;
		*rp = r;
		return 0;
	}
	if (!o->tx_only) {
		rc = rx_open(r, ifname, o, err, errsz);
		if (rc)
			goto out_free;
	}
	if (!r->ifindex) {
		rc = ring_seterr(err, errsz, ENODEV, "%s: no such interface", ifname);
		goto out_free;
	}
	rc = tx_open(r, ifname, o, err, errsz);
	if (rc)
		goto out_free;
	*rp = r;
	return 0;

out_free:
	mem_deref(r);
	return rc;
}

/* The descriptor to wait on for received frames (libevent), -1 when tx_only. */
int ring_fd(const struct ring *r)
{
	if (r && r->xsk)
		return xsk_port_fd(r->xsk);
	return r && r->pcap ? pcap_get_selectable_fd(r->pcap) : -1;
}

enum ring_tx_mode ring_tx_mode(const struct ring *r)
{
	return r->mode;
}

const uint8_t *ring_mac(const struct ring *r)
{
	return r->mac;
}

int ring_ifindex(const struct ring *r)
{
	return r->ifindex;
}

/* RING_XDP: "native-zerocopy", "native-copy" or "generic-copy"; NULL for RING_PCAP. */
const char *ring_xdp_mode(const struct ring *r)
{
	return r && r->xsk ? xsk_port_mode(r->xsk) : NULL;
}

struct rx_ctx {
	struct ring *r;
	ring_frame_h *h;
	void *arg;
};

static void rx_one(u_char *user, const struct pcap_pkthdr *ph, const u_char *bytes)
{
	struct rx_ctx *c = (struct rx_ctx *)user;

	c->r->st.rx_frames++;
	if (ph->caplen < ph->len) {		/* longer than RING_SNAPLEN: not ours */
		c->r->st.rx_truncated++;
		return;
	}
	c->h(bytes, ph->caplen, c->arg);
}

/*
 * Hand up to max received frames (max <= 0: all that are ready) to h, one
 * block at a time: no system call per frame. Returns how many were seen
 * (0: none ready), or -EIO. Never blocks.
 */
int ring_rx(struct ring *r, ring_frame_h *h, void *arg, int max)
{
	struct rx_ctx c = { r, h, arg };
	int n;

	if (r && r->xsk && h)
		return xsk_port_rx(r->xsk, h, arg, max);
	if (!r || !r->pcap || !h)
		return -EINVAL;
	n = pcap_dispatch(r->pcap, max > 0 ? max : -1, rx_one, (u_char *)&c);
	if (n == PCAP_ERROR) {
		log_warn("ring: receive: %s", pcap_geterr(r->pcap));
		return -EIO;
	}
	return n < 0 ? 0 : n;
}

static inline uint32_t slot_status(const struct ring *r, uint32_t i)
{
	const struct tpacket2_hdr *h =
		(const void *)(r->map + (size_t)(i % r->nslots) * TX_FRAME_SIZE);

	return __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
}

/* Count the slots the kernel gave back (sent, or refused as malformed). */
static void tx_ring_reclaim(struct ring *r)
{
	while (r->tail != r->head) {
		uint32_t s = slot_status(r, r->tail);

		if (s & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING))
			break;
		if (s & TP_STATUS_WRONG_FORMAT)
			r->st.tx_errors++;
		else
			r->st.tx_frames++;
		r->tail++;
	}
}

/*
 * Have the kernel send every requested slot, without waiting. A frame the
 * qdisc or driver drops stays requested and is tried again at the next
 * kick (the kernel's TX ring works that way); the refused kick is counted.
 */
static int tx_ring_kick(struct ring *r)
{
	if (!r->unkicked && !r->retry)
		return 0;
	r->unkicked = 0;
	r->retry = false;
	if (send(r->tx_fd, NULL, 0, MSG_DONTWAIT) == -1) {
		r->retry = true;
		if (errno == EAGAIN)
			return 0;
		r->st.tx_errors++;
		return errno;
	}
	return 0;
}

static uint8_t *tx_ring_alloc(struct ring *r, size_t len)
{
	struct tpacket2_hdr *h;

	if (r->unkicked >= r->batch)
		tx_ring_kick(r);
	if (r->head - r->tail >= r->nslots)
		tx_ring_reclaim(r);
	if (r->head - r->tail >= r->nslots) {
		tx_ring_kick(r);
		tx_ring_reclaim(r);
		if (r->head - r->tail >= r->nslots) {
			r->st.tx_full++;
			return NULL;
		}
	}
	h = (void *)(r->map + (size_t)(r->head % r->nslots) * TX_FRAME_SIZE);
	h->tp_len = (uint32_t)len;
	h->tp_snaplen = (uint32_t)len;
	/* the kernel reads the slot only inside a later send(): filling it after this is fine */
	__atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
	r->head++;
	r->unkicked++;
	return (uint8_t *)h + TX_DATA_OFF;
}

/* Send the queued copies, skipping (and counting) a frame the kernel refuses. */
static int tx_mmsg_flush(struct ring *r)
{
	unsigned done = 0;
	int rc = 0;

	while (done < r->nq) {
		int n = sendmmsg(r->tx_fd, r->msgs + done, r->nq - done, MSG_DONTWAIT);

		if (n > 0) {
			done += (unsigned)n;
			r->st.tx_frames += (unsigned)n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		rc = n == -1 ? errno : EIO;
		if (rc == ENOBUFS || rc == EMSGSIZE || rc == EINVAL) {	/* this frame only */
			r->st.tx_errors++;
			done++;
			continue;
		}
		r->st.tx_errors += r->nq - done;	/* EAGAIN (socket buffer full), ENETDOWN... */
		break;
	}
	r->nq = 0;
	return rc;
}

/*
 * A slot for a frame of len bytes, queued for the next flush: fill it
 * before the next ring_tx_* call. Flushes first when the batch is full.
 * NULL when len is out of range or no slot is free (counted as tx_full).
 */
uint8_t *ring_tx_alloc(struct ring *r, size_t len)
{
	if (!r || len < ETH_HDR_LEN || len > RING_SNAPLEN)
		return NULL;
	if (r->xsk)
		return xsk_port_tx_alloc(r->xsk, len);
	if (r->mode == RING_TX_RING)
		return tx_ring_alloc(r, len);
	if (r->nq >= r->batch)
		tx_mmsg_flush(r);
	r->iov[r->nq].iov_len = len;
	return r->slots + (size_t)r->nq++ * RING_SNAPLEN;
}

/* Queue a copy of frame (the caller keeps it). EINVAL: bad length; ENOBUFS: no slot. */
int ring_tx_add(struct ring *r, const uint8_t *frame, size_t len)
{
	uint8_t *p;

	if (!r || !frame || len < ETH_HDR_LEN || len > RING_SNAPLEN)
		return EINVAL;
	p = ring_tx_alloc(r, len);
	if (!p)
		return ENOBUFS;
	memcpy(p, frame, len);
	return 0;
}

/* Send what is queued: one system call a batch. 0, or the kernel's errno (counted). */
int ring_tx_flush(struct ring *r)
{
	if (!r)
		return EINVAL;
	if (r->xsk)
		return xsk_port_tx_flush(r->xsk);
	if (r->mode == RING_TX_RING) {
		int rc = tx_ring_kick(r);

		tx_ring_reclaim(r);
		return rc;
	}
	return r->nq ? tx_mmsg_flush(r) : 0;
}

/* The counters; rx_drops from the kernel (pcap_stats), tx_frames as of the last reclaim. */
void ring_stats(struct ring *r, struct ring_stats *st)
{
	struct pcap_stat ps;

	if (r->xsk) {
		xsk_port_stats(r->xsk, st);
		return;
	}
	if (r->pcap && pcap_stats(r->pcap, &ps) == 0)
		r->st.rx_drops = ps.ps_drop;
	if (r->mode == RING_TX_RING)
		tx_ring_reclaim(r);
	*st = r->st;
}
