/* stack: the owned media address in lwIP (ARP, ping, reassembly), next hops from the kernel's routes. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/route.h>

/* netinet/tcp.h (through libnl) and lwipopts.h both define TCP_MSS; lwIP's wins here. */
#undef TCP_MSS
#include <lwip/etharp.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/raw.h>
#include <lwip/tcpip.h>
#include <netif/ethernet.h>

#include "net/net.h"
#include "stack.h"
#include "util/util.h"

enum {
	ETH_ALEN_ = 6,
	ETHTYPE_IP4 = 0x0800,
	ETHTYPE_ARP_ = 0x0806,
	ARP_LEN = 28,
	IP4_HLEN_MIN = 20,
	IPPROTO_ICMP_ = 1,
	IPPROTO_UDP_ = 17,
	ICMP_ECHO_REPLY = 0,
	ARP_OP_REQUEST = 1,
	ARP_OP_REPLY = 2,
};

/* A resolution in progress: when it started, when its ARP request last went out. */
struct pending {
	uint32_t ip;          /* network order; 0: free slot */
	uint64_t start_ms, sent_ms;
};

struct stack {
	struct netif netif;               /* lwIP's interface; state points back here */
	struct raw_pcb *udp_pcb;          /* eats reassembled UDP (no ICMP port unreachable) */
	stack_send_h *sendh;
	void *arg;
	uint8_t mac[ETH_ALEN_];
	uint32_t addr, mask, gw;          /* network order */
	unsigned mtu;
	int ifindex;                      /* 0: no interface (routes not read) */
	bool added;                       /* netif added to lwIP */
	atomic_bool closing;              /* linkoutput drops from now on */
	struct pending pending[STACK_PENDING_MAX];
	uint8_t *txbuf;                   /* linearised chained pbufs (core lock held) */
	struct {
		atomic_uint_fast64_t rx_frames, rx_lwip, rx_malformed, rx_ethertype,
			rx_not_ours, rx_l4, rx_queue_full, udp_reassembled, arp_replies,
			arp_requests, echo_replies, resolved, resolve_failed, tx_frames,
			tx_bytes, tx_errors, tx_suppressed;
	} c;
};

#define CNT_INC(s, f) atomic_fetch_add_explicit(&(s)->c.f, 1, memory_order_relaxed)
#define CNT_ADD(s, f, n) atomic_fetch_add_explicit(&(s)->c.f, (n), memory_order_relaxed)
#define CNT_GET(s, f) atomic_load_explicit(&(s)->c.f, memory_order_relaxed)

/* lwIP's tcpip thread: started once per process, never stopped (lwIP 2.1 cannot). */
static pthread_once_t lwip_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lwip_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lwip_cond = PTHREAD_COND_INITIALIZER;
static bool lwip_up;

static void lwip_ready(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lwip_mtx);
	lwip_up = true;
	pthread_cond_broadcast(&lwip_cond);
	pthread_mutex_unlock(&lwip_mtx);
}

static void lwip_start(void)
{
	tcpip_init(lwip_ready, NULL);
	pthread_mutex_lock(&lwip_mtx);
	while (!lwip_up)
		pthread_cond_wait(&lwip_cond, &lwip_mtx);
	pthread_mutex_unlock(&lwip_mtx);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t rd32n(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;   /* network order, as stored */
}

static bool sa_ip4(const struct sockaddr_storage *sa, uint32_t *ip)
{
	if (!sa || sa->ss_family != AF_INET)
		return false;
	*ip = ((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr;
	return true;
}

static void sa_set_ip4(struct sockaddr_storage *sa, uint32_t ip)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)sa;

	memset(sa, 0, sizeof(*sa));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = ip;
}

static uint32_t prefix_mask(unsigned plen)
{
	return plen == 0 ? 0 : htonl(0xffffffffu << (32 - plen));
}

static bool on_link(const struct stack *s, uint32_t ip)
{
	return (ip & s->mask) == (s->addr & s->mask);
}

enum tx_kind { TX_OTHER, TX_ARP_REQUEST, TX_ARP_REPLY, TX_ARP_OTHER, TX_ECHO_REPLY };

/* What kind of frame lwIP built. */
static enum tx_kind tx_classify(const uint8_t *f, size_t len)
{
	uint16_t type;

	if (len < STACK_ETH_HLEN)
		return TX_OTHER;
	type = rd16(f + 12);
	if (type == ETHTYPE_ARP_ && len >= STACK_ETH_HLEN + ARP_LEN) {
		uint16_t op = rd16(f + STACK_ETH_HLEN + 6);

		return op == ARP_OP_REPLY ? TX_ARP_REPLY :
		       op == ARP_OP_REQUEST ? TX_ARP_REQUEST : TX_ARP_OTHER;
	}
	if (type == ETHTYPE_IP4 && len >= STACK_ETH_HLEN + IP4_HLEN_MIN) {
		const uint8_t *ip = f + STACK_ETH_HLEN;
		size_t hl = (size_t)(ip[0] & 0x0f) * 4;

		if (ip[9] == IPPROTO_ICMP_ && len > STACK_ETH_HLEN + hl &&
		    ip[hl] == ICMP_ECHO_REPLY)
			return TX_ECHO_REPLY;
	}
	return TX_OTHER;
}

/*
 * netif->linkoutput: one frame from lwIP to the caller's send handler.
 * Only ARP and ICMP echo replies go out; anything else lwIP builds (ICMP
 * time exceeded when it gives up a reassembly, ...) is suppressed and
 * counted. Runs with the core lock held (tcpip thread, or stack_alloc's
 * netif_set_up).
 */
static err_t stack_linkoutput(struct netif *n, struct pbuf *p)
{
	struct stack *s = n->state;
	const uint8_t *frame = p->payload;
	size_t len = p->tot_len;
	enum tx_kind kind;
	int err;

	if (atomic_load(&s->closing))
		return ERR_IF;
	if (len > s->mtu + STACK_ETH_HLEN) {
		CNT_INC(s, tx_errors);
		return ERR_BUF;
	}
	if (p->next) {
		if (pbuf_copy_partial(p, s->txbuf, (u16_t)len, 0) != len) {
			CNT_INC(s, tx_errors);
			return ERR_BUF;
		}
		frame = s->txbuf;
	}
	kind = tx_classify(frame, len);
	if (kind == TX_OTHER) {
		CNT_INC(s, tx_suppressed);
		return ERR_OK;
	}
	err = s->sendh(frame, len, s->arg);
	if (err) {
		CNT_INC(s, tx_errors);
		return ERR_IF;
	}
	CNT_INC(s, tx_frames);
	CNT_ADD(s, tx_bytes, len);
	if (kind == TX_ARP_REPLY)
		CNT_INC(s, arp_replies);
	else if (kind == TX_ARP_REQUEST)
		CNT_INC(s, arp_requests);
	else if (kind == TX_ECHO_REPLY)
		CNT_INC(s, echo_replies);
	return ERR_OK;
}

static err_t stack_netif_init(struct netif *n)
{
	struct stack *s = n->state;

	n->name[0] = 's';
	n->name[1] = 'b';
	n->output = etharp_output;
	n->linkoutput = stack_linkoutput;
	n->mtu = (u16_t)s->mtu;
	n->hwaddr_len = ETH_ALEN_;
	memcpy(n->hwaddr, s->mac, ETH_ALEN_);
	n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET;
	return ERR_OK;
}

/*
 * A UDP datagram that reached lwIP (reassembled from fragments): eaten so
 * that lwIP answers no ICMP port unreachable, and counted. Tcpip thread.
 */
static u8_t stack_udp_recv(void *arg, struct raw_pcb *pcb, struct pbuf *p, const ip_addr_t *addr)
{
	struct stack *s = arg;

	(void)pcb;
	(void)addr;
	CNT_INC(s, udp_reassembled);
	pbuf_free(p);
	return 1;
}

/* Take the interface out of lwIP. On the tcpip thread, after every frame queued before. */
static void stack_detach(void *arg)
{
	struct stack *s = arg;

	if (s->udp_pcb)
		raw_remove(s->udp_pcb);
	s->udp_pcb = NULL;
	netif_set_link_down(&s->netif);
	netif_set_down(&s->netif);    /* also empties its ARP entries */
	netif_remove(&s->netif);
}

/*
 * Destructor. The stack must no longer be used by any other thread. lwIP's
 * thread keeps running (idle when no stack is left).
 */
static void stack_destroy(void *data)
{
	struct stack *s = data;

	atomic_store(&s->closing, true);
	if (s->added && tcpip_callback_wait(stack_detach, s) != ERR_OK) {
		/* out of memory for the message: remove it here, under the core lock */
		LOCK_TCPIP_CORE();
		stack_detach(s);
		UNLOCK_TCPIP_CORE();
	}
	free(s->txbuf);
}

/* The interface's MAC (Ethernet only) from netlink. */
static int iface_mac(const char *ifname, uint8_t mac[6])
{
	struct net_iface ifc;
	int err = net_iface_get(ifname, &ifc);

	if (err)
		return err;
	if (!ifc.has_mac)
		return ENODEV;
	memcpy(mac, ifc.mac, sizeof(ifc.mac));
	return 0;
}

/*
 * The gateway of the longest-prefix IPv4 route to dst (network order) in
 * the main table whose first next hop leaves through ifindex; 0 in *gw
 * when that route has none (on-link). default_only: routes of prefix 0
 * only. ENETUNREACH when no route matches.
 */
static int route_lookup(int ifindex, uint32_t dst, bool default_only, uint32_t *gw)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct nl_cache *cache = NULL;
	int best_len = -1, err = ENETUNREACH;
	uint32_t best_prio = 0;

	if (!sk)
		return ENOMEM;
	if (nl_connect(sk, NETLINK_ROUTE) < 0) {
		err = EPERM;
		goto out;
	}
	if (rtnl_route_alloc_cache(sk, AF_INET, 0, &cache) < 0) {
		err = EIO;
		goto out;
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *r = (struct rtnl_route *)o;
		struct rtnl_nexthop *nh;
		struct nl_addr *d, *g;
		int plen = 0;
		uint32_t net = 0, prio = rtnl_route_get_priority(r);

		if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
		    rtnl_route_get_type(r) != RTN_UNICAST ||
		    rtnl_route_get_nnexthops(r) < 1)
			continue;
		nh = rtnl_route_nexthop_n(r, 0);
		if (!nh || rtnl_route_nh_get_ifindex(nh) != ifindex)
			continue;
		d = rtnl_route_get_dst(r);
		if (d && nl_addr_get_len(d) == 4) {
			plen = (int)nl_addr_get_prefixlen(d);
			net = rd32n(nl_addr_get_binary_addr(d));
		}
		if (plen > 32 || (default_only && plen != 0))
			continue;
		if ((dst & prefix_mask((unsigned)plen)) != (net & prefix_mask((unsigned)plen)))
			continue;
		if (plen < best_len || (plen == best_len && prio >= best_prio))
			continue;
		g = rtnl_route_nh_get_gateway(nh);
		*gw = (g && nl_addr_get_len(g) == 4) ? rd32n(nl_addr_get_binary_addr(g)) : 0;
		best_len = plen;
		best_prio = prio;
		err = 0;
	}
 out:
	if (cache)
		nl_cache_free(cache);
	nl_socket_free(sk);
	return err;
}

static bool mac_zero(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return memcmp(mac, zero, 6) == 0;
}

/* Check the options and fill s from them (no lwIP yet). */
static int stack_opts_apply(struct stack *s, const struct stack_opts *o)
{
	uint32_t a, h;
	int err;

	if (!o->sendh || !sa_ip4(&o->addr, &a) || o->prefixlen < 1 || o->prefixlen > 32)
		return EINVAL;
	h = ntohl(a);
	if (h == 0 || h == 0xffffffffu || IN_MULTICAST(h) || (h >> 24) == 127 ||
	    IN_EXPERIMENTAL(h))
		return EINVAL;
	s->addr = a;
	s->mask = prefix_mask(o->prefixlen);
	if (o->prefixlen < 31 && ((h & ~ntohl(s->mask)) == 0 ||
				  (h | ntohl(s->mask)) == 0xffffffffu))
		return EINVAL;   /* the subnet's network or broadcast address */
	s->mtu = o->mtu ? o->mtu : STACK_MTU_DEFAULT;
	if (s->mtu < STACK_MTU_MIN || s->mtu > STACK_MTU_MAX)
		return EINVAL;
	if (o->gateway.ss_family != AF_UNSPEC) {
		if (!sa_ip4(&o->gateway, &s->gw) || !on_link(s, s->gw) || s->gw == s->addr)
			return EINVAL;
	}
	s->sendh = o->sendh;
	s->arg = o->arg;
	if (!o->ifname && mac_zero(o->mac))
		return EINVAL;
	if (o->ifname) {
		struct net_iface ifc;

		err = net_iface_get(o->ifname, &ifc);
		if (err)
			return err;
		s->ifindex = ifc.ifindex;
	}
	if (!mac_zero(o->mac))
		memcpy(s->mac, o->mac, ETH_ALEN_);
	else if ((err = iface_mac(o->ifname, s->mac)) != 0)
		return err;
	if (s->mac[0] & 1)
		return EINVAL;   /* multicast or broadcast */
	if (!s->gw && s->ifindex) {
		uint32_t gw = 0;

		if (route_lookup(s->ifindex, 0, true, &gw) == 0 && gw && on_link(s, gw))
			s->gw = gw;
	}
	return 0;
}

/* Add the interface to lwIP and bring it up (announces the address). */
static int stack_attach(struct stack *s)
{
	ip4_addr_t ip, mask, gw;
	int err = 0;

	ip.addr = s->addr;
	mask.addr = s->mask;
	gw.addr = s->gw;
	LOCK_TCPIP_CORE();
	if (!netif_add(&s->netif, &ip, &mask, &gw, s, stack_netif_init, tcpip_input)) {
		err = ENOMEM;
		goto out;
	}
	s->added = true;
	s->udp_pcb = raw_new(IP_PROTO_UDP);
	if (!s->udp_pcb) {
		err = ENOMEM;
		goto out;
	}
	raw_bind_netif(s->udp_pcb, &s->netif);
	raw_recv(s->udp_pcb, stack_udp_recv, s);
	netif_set_up(&s->netif);
	netif_set_link_up(&s->netif);
 out:
	UNLOCK_TCPIP_CORE();
	return err;
}

/* Check the options, start lwIP once per process, add the interface (stack.h). */
int stack_alloc(struct stack **sp, const struct stack_opts *o)
{
	struct stack *s;
	int err;

	if (!sp || !o)
		return EINVAL;
	s = mem_zalloc(sizeof(*s), stack_destroy);
	if (!s)
		return ENOMEM;
	err = stack_opts_apply(s, o);
	if (err)
		goto out_free;
	s->txbuf = malloc(s->mtu + STACK_ETH_HLEN);
	if (!s->txbuf) {
		err = ENOMEM;
		goto out_free;
	}
	pthread_once(&lwip_once, lwip_start);
	err = stack_attach(s);
	if (err)
		goto out_free;
	*sp = s;
	return 0;

 out_free:
	mem_deref(s);
	return err;
}

static int input_arp(struct stack *s, const uint8_t *f, size_t len)
{
	const uint8_t *a = f + STACK_ETH_HLEN;
	uint32_t spa, tpa;

	if (len < STACK_ETH_HLEN + ARP_LEN || rd16(a) != 1 || rd16(a + 2) != ETHTYPE_IP4 ||
	    a[4] != ETH_ALEN_ || a[5] != 4)
		return EBADMSG;
	spa = rd32n(a + 14);
	tpa = rd32n(a + 24);
	if (tpa != s->addr && spa != tpa)   /* for us, or a gratuitous ARP */
		return ENOENT;
	return 0;
}

static int input_ip4(struct stack *s, const uint8_t *f, size_t len)
{
	const uint8_t *ip = f + STACK_ETH_HLEN;
	size_t hl, tot;
	uint16_t frag;

	if (len < STACK_ETH_HLEN + IP4_HLEN_MIN || (ip[0] >> 4) != 4)
		return EBADMSG;
	hl = (size_t)(ip[0] & 0x0f) * 4;
	tot = rd16(ip + 2);
	if (hl < IP4_HLEN_MIN || tot < hl || tot > len - STACK_ETH_HLEN)
		return EBADMSG;
	if (rd32n(ip + 16) != s->addr)
		return ENOENT;
	frag = rd16(ip + 6);
	if (ip[9] == IPPROTO_ICMP_)
		return 0;
	if (ip[9] == IPPROTO_UDP_ && (frag & 0x3fff))   /* MF or an offset */
		return 0;
	return EPROTONOSUPPORT;
}

/* Which frames lwIP gets: see stack.h. */
static int input_filter(struct stack *s, const uint8_t *f, size_t len)
{
	static const uint8_t bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint16_t type;

	if (len < STACK_ETH_HLEN || len > s->mtu + STACK_ETH_HLEN)
		return EBADMSG;
	type = rd16(f + 12);
	if (type != ETHTYPE_ARP_ && type != ETHTYPE_IP4)
		return EPROTONOSUPPORT;
	if (memcmp(f, s->mac, ETH_ALEN_) != 0 &&
	    !(type == ETHTYPE_ARP_ && memcmp(f, bcast, ETH_ALEN_) == 0))
		return ENOENT;
	return type == ETHTYPE_ARP_ ? input_arp(s, f, len) : input_ip4(s, f, len);
}

/* Filter a frame, count it, and queue a copy for lwIP's thread (stack.h). */
int stack_input(struct stack *s, const void *frame, size_t len)
{
	struct pbuf *p;
	int err;

	if (!s)
		return EINVAL;
	CNT_INC(s, rx_frames);
	err = frame ? input_filter(s, frame, len) : EBADMSG;
	switch (err) {
	case 0:
		break;
	case EBADMSG:
		CNT_INC(s, rx_malformed);
		return err;
	case ENOENT:
		CNT_INC(s, rx_not_ours);
		return err;
	default:
		if (len >= STACK_ETH_HLEN && rd16((const uint8_t *)frame + 12) == ETHTYPE_IP4)
			CNT_INC(s, rx_l4);
		else
			CNT_INC(s, rx_ethertype);
		return err;
	}
	p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
	if (!p) {
		CNT_INC(s, rx_queue_full);
		return ENOBUFS;
	}
	if (pbuf_take(p, frame, (u16_t)len) != ERR_OK || s->netif.input(p, &s->netif) != ERR_OK) {
		pbuf_free(p);
		CNT_INC(s, rx_queue_full);
		return ENOBUFS;
	}
	CNT_INC(s, rx_lwip);
	return 0;
}

/* An ARP request, sent on the tcpip thread (so sendh only runs there). */
struct arp_query {
	struct stack *s;
	ip4_addr_t ip;
};

static void stack_arp_query(void *arg)
{
	struct arp_query *q = arg;

	if (!atomic_load(&q->s->closing))
		etharp_query(&q->s->netif, &q->ip, NULL);
	free(q);
}

static int arp_request(struct stack *s, uint32_t ip)
{
	struct arp_query *q = malloc(sizeof(*q));

	if (!q)
		return ENOMEM;
	q->s = s;
	q->ip.addr = ip;
	if (tcpip_try_callback(stack_arp_query, q) != ERR_OK) {
		free(q);
		return ENOBUFS;
	}
	return 0;
}

static struct pending *pending_find(struct stack *s, uint32_t ip)
{
	for (size_t i = 0; i < STACK_PENDING_MAX; i++) {
		if (s->pending[i].ip == ip)
			return &s->pending[i];
	}
	return NULL;
}

/* A free slot, or the oldest one (evicted). */
static struct pending *pending_new(struct stack *s, uint32_t ip, uint64_t now)
{
	struct pending *old = &s->pending[0];

	for (size_t i = 0; i < STACK_PENDING_MAX; i++) {
		if (!s->pending[i].ip) {
			old = &s->pending[i];
			break;
		}
		if (s->pending[i].start_ms < old->start_ms)
			old = &s->pending[i];
	}
	old->ip = ip;
	old->start_ms = now;
	old->sent_ms = 0;
	return old;
}

static bool arp_lookup(struct stack *s, uint32_t ip, uint8_t mac[6])
{
	struct eth_addr *eth = NULL;
	const ip4_addr_t *ipret = NULL;
	ip4_addr_t a;
	bool found;

	a.addr = ip;
	LOCK_TCPIP_CORE();
	found = etharp_find_addr(&s->netif, &a, &eth, &ipret) >= 0 && eth;
	if (found)
		memcpy(mac, eth->addr, ETH_ALEN_);
	UNLOCK_TCPIP_CORE();
	return found;
}

/* lwIP's ARP table, else an ARP request at most every STACK_ARP_RETRY_MS (stack.h). */
int stack_resolve(struct stack *s, const struct sockaddr_storage *ip, uint8_t mac[6])
{
	struct pending *pd;
	uint32_t a;
	uint64_t now;
	int err;

	if (!s || !mac)
		return EINVAL;
	if (!sa_ip4(ip, &a))
		return EAFNOSUPPORT;
	if (!on_link(s, a) || a == s->addr ||
	    (ntohl(s->mask) < 0xfffffffeu && (a | s->mask) == 0xffffffffu))
		return ENETUNREACH;   /* not on-link, ourselves, or the subnet broadcast */
	pd = pending_find(s, a);
	if (arp_lookup(s, a, mac)) {
		if (pd) {
			CNT_INC(s, resolved);
			pd->ip = 0;
		}
		return 0;
	}
	now = now_ms();
	if (pd && now - pd->start_ms >= STACK_ARP_TIMEOUT_MS) {
		CNT_INC(s, resolve_failed);
		pd->ip = 0;
		return EHOSTUNREACH;
	}
	if (!pd)
		pd = pending_new(s, a, now);
	if (!pd->sent_ms || now - pd->sent_ms >= STACK_ARP_RETRY_MS) {
		err = arp_request(s, a);
		if (err)
			return err == ENOMEM ? ENOMEM : EAGAIN;
		pd->sent_ms = now;
	}
	return EAGAIN;
}

/* On-link, else the kernel's route through our interface, else the gateway (stack.h). */
int stack_next_hop(struct stack *s, const struct sockaddr_storage *dst,
		   struct sockaddr_storage *hop)
{
	uint32_t d, gw = 0;

	if (!s || !hop)
		return EINVAL;
	if (!sa_ip4(dst, &d))
		return EAFNOSUPPORT;
	if (on_link(s, d)) {
		sa_set_ip4(hop, d);
		return 0;
	}
	if (s->ifindex && route_lookup(s->ifindex, d, false, &gw) == 0) {
		sa_set_ip4(hop, gw ? gw : d);
		return 0;
	}
	if (s->gw) {
		sa_set_ip4(hop, s->gw);
		return 0;
	}
	return ENETUNREACH;
}

/* A snapshot of the counters; any thread. */
void stack_stats(const struct stack *s, struct stack_stats *st)
{
	struct stack *m = (struct stack *)(uintptr_t)s;   /* atomic loads need non-const */

	st->rx_frames = CNT_GET(m, rx_frames);
	st->rx_lwip = CNT_GET(m, rx_lwip);
	st->rx_malformed = CNT_GET(m, rx_malformed);
	st->rx_ethertype = CNT_GET(m, rx_ethertype);
	st->rx_not_ours = CNT_GET(m, rx_not_ours);
	st->rx_l4 = CNT_GET(m, rx_l4);
	st->rx_queue_full = CNT_GET(m, rx_queue_full);
	st->udp_reassembled = CNT_GET(m, udp_reassembled);
	st->arp_replies = CNT_GET(m, arp_replies);
	st->arp_requests = CNT_GET(m, arp_requests);
	st->echo_replies = CNT_GET(m, echo_replies);
	st->resolved = CNT_GET(m, resolved);
	st->resolve_failed = CNT_GET(m, resolve_failed);
	st->tx_frames = CNT_GET(m, tx_frames);
	st->tx_bytes = CNT_GET(m, tx_bytes);
	st->tx_errors = CNT_GET(m, tx_errors);
	st->tx_suppressed = CNT_GET(m, tx_suppressed);
}

void stack_mac(const struct stack *s, uint8_t mac[6])
{
	memcpy(mac, s->mac, ETH_ALEN_);
}
