/* stack: the user-space IP stack (lwIP) behind a zone's owned media address: ARP, ping, next hops. */
#ifndef SBC_MEDIA_STACK_H
#define SBC_MEDIA_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * The slow path of the bypass engine. The owned address lives in lwIP
 * (Debian's liblwip, NO_SYS=0: lwIP runs its own "tcpip" thread, started
 * once per process). The fast path gives stack_input() every frame it does
 * not take; lwIP answers ARP and ping for the address and learns
 * neighbours; stack_resolve() asks lwIP's ARP table for a next hop's MAC,
 * stack_next_hop() the kernel's routing table for the next hop itself.
 * One stack per zone per process. docs/bypass.md "User-space stack (lwIP)".
 */
struct stack;

enum {
	STACK_MTU_DEFAULT = 1500,
	STACK_MTU_MIN = 576,
	STACK_MTU_MAX = 9000,
	STACK_ETH_HLEN = 14,
	STACK_PENDING_MAX = 16,        /* resolutions in progress at once; oldest evicted */
	STACK_ARP_RETRY_MS = 1000,     /* an unanswered ARP request is repeated this often */
	STACK_ARP_TIMEOUT_MS = 3000,   /* and given up after this: EHOSTUNREACH */
};

/*
 * Sends one Ethernet frame lwIP built: an ARP reply or request, or an ICMP
 * echo reply (nothing else is let out, see tx_suppressed). frame is valid only during the call and is not freed by the
 * handler. It runs with lwIP's core lock held: on lwIP's tcpip thread, or
 * once inside stack_alloc() (the gratuitous ARP that announces the
 * address). So calls are never concurrent with each other, for all stacks
 * of the process, but they are concurrent with the caller's other threads:
 * the handler must be thread-safe (write to the ring under a mutex, or
 * queue the frame for the media thread). It must not call stack_*().
 * Return 0 or an errno value (counted in tx_errors).
 */
typedef int (stack_send_h)(const void *frame, size_t len, void *arg);

struct stack_opts {
	const char *ifname;               /* zone interface: its MAC (unless mac is set), its routes; may be NULL */
	uint8_t mac[6];                   /* our MAC; all zero: the interface's, read by netlink */
	struct sockaddr_storage addr;     /* the owned address (AF_INET), the port is ignored */
	unsigned prefixlen;               /* 1..32 */
	struct sockaddr_storage gateway;  /* AF_UNSPEC: the kernel's default route on ifname, if any */
	unsigned mtu;                     /* 0: STACK_MTU_DEFAULT; else STACK_MTU_MIN..STACK_MTU_MAX */
	stack_send_h *sendh;              /* required */
	void *arg;
};

/* Counters since stack_alloc(); a snapshot, each read atomically. */
struct stack_stats {
	uint64_t rx_frames;        /* given to stack_input() */
	uint64_t rx_lwip;          /* of those, handed to lwIP */
	uint64_t rx_malformed;     /* too short, too long, bad ARP or IPv4 header */
	uint64_t rx_ethertype;     /* neither ARP nor IPv4 (IPv6, VLAN, ...) */
	uint64_t rx_not_ours;      /* not for our MAC or our address */
	uint64_t rx_l4;            /* unfragmented UDP, TCP, other protocols: not lwIP's, dropped */
	uint64_t rx_queue_full;    /* lwIP's input queue was full: dropped */
	uint64_t udp_reassembled;  /* UDP datagrams lwIP reassembled from fragments, dropped */
	uint64_t arp_replies;      /* ARP requests answered (replies sent) */
	uint64_t arp_requests;     /* ARP requests sent (resolutions, announcements) */
	uint64_t echo_replies;     /* ICMP echo requests answered */
	uint64_t resolved;         /* stack_resolve() answers after an ARP request */
	uint64_t resolve_failed;   /* resolutions given up (STACK_ARP_TIMEOUT_MS) */
	uint64_t tx_frames;        /* frames given to sendh that it accepted */
	uint64_t tx_bytes;
	uint64_t tx_errors;        /* sendh failed, or a frame too long for the MTU */
	uint64_t tx_suppressed;    /* built by lwIP but neither ARP nor an echo reply: not sent */
};

/*
 * Start lwIP's thread if this is the first stack of the process, and add
 * the owned address as an lwIP interface that is up. o is copied.
 * EINVAL: bad options (no sendh, an address that is not a unicast IPv4
 * address, prefix outside 1..32, a gateway outside the subnet, MTU out of
 * range, neither ifname nor mac, a multicast mac); ENODEV: no such
 * interface; ENOMEM. mem_deref() it when no other thread uses it any
 * more: the interface leaves lwIP, lwIP's thread stays (docs/bypass.md).
 */
int stack_alloc(struct stack **sp, const struct stack_opts *o);

/*
 * One received frame (Ethernet II, no FCS). Given to lwIP: ARP for our
 * address (and gratuitous ARP), IPv4 ICMP to our address, and IPv4 UDP
 * fragments to it (reassembled by lwIP, then counted and dropped). Not
 * given: everything else, counted by reason. The frame is copied; the
 * caller keeps it. Returns 0 when handed to lwIP, EBADMSG (malformed),
 * EPROTONOSUPPORT (ethertype or IP protocol not lwIP's), ENOENT (not
 * ours), ENOBUFS (lwIP's queue full). Call it from one thread at a time.
 */
int stack_input(struct stack *s, const void *frame, size_t len);

/*
 * The MAC of an on-link IPv4 address from lwIP's ARP table: 0 with mac
 * set; EAGAIN after starting (or repeating, at most every
 * STACK_ARP_RETRY_MS) an ARP request: ask again later; EHOSTUNREACH once
 * no answer came for STACK_ARP_TIMEOUT_MS (the next call starts over);
 * ENETUNREACH: ip is not in our subnet (ask stack_next_hop() first);
 * EAFNOSUPPORT: not IPv4. Same thread as stack_input(); it takes lwIP's
 * core lock briefly, so never call it while holding a lock sendh takes.
 */
int stack_resolve(struct stack *s, const struct sockaddr_storage *ip, uint8_t mac[6]);

/*
 * The next hop towards dst: dst itself when it is in the owned subnet;
 * else the gateway of the kernel's longest-prefix route through ifname
 * (main table, read with libnl at each call: call it per stream, not per
 * packet), or dst itself when that route has no gateway; else the gateway
 * option. ENETUNREACH: none of these; EAFNOSUPPORT: not IPv4.
 */
int stack_next_hop(struct stack *s, const struct sockaddr_storage *dst,
		   struct sockaddr_storage *hop);

void stack_stats(const struct stack *s, struct stack_stats *st);

/* The MAC the stack answers with. */
void stack_mac(const struct stack *s, uint8_t mac[6]);

#endif
