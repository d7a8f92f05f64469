/* media_int: the media engine's private structures: port pools, sessions, streams, sockets, zone backends, RTP statistics. */
#ifndef SBC_MEDIA_INT_H
#define SBC_MEDIA_INT_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "media.h"
#include "ring.h"

enum {
	MEDIA_RTP = 0,
	MEDIA_RTCP = 1,
	MEDIA_KINDS = 2,
};

enum {
	MEDIA_BATCH = 32,              /* datagrams per recvmmsg / sendmmsg */
	MEDIA_BATCHES_PER_WAKE = 8,    /* recvmmsg calls per readable event: fairness */
	MEDIA_HEADROOM = 128,          /* bytes before each packet: room for headers to grow */
	MEDIA_PKT_MAX = 2048,          /* longest datagram relayed; longer ones are dropped */
	MEDIA_SLOT = MEDIA_HEADROOM + MEDIA_PKT_MAX,
	MEDIA_SOCK_RCVBUF = 256 * 1024,
	MEDIA_SWEEP_MS = 1000,         /* inactivity sweep period */
	MEDIA_RELATCH_MS = 2000,       /* latched source silent this long: may re-latch */
	MEDIA_RTCP_PPS = 10,           /* policed RTCP rate (before policing_factor) */
	MEDIA_BURST_MIN = 16,          /* smallest token bucket, packets */
	MEDIA_RATE_MAX = 1000000,      /* highest policed rate, packets/s (a core relays less) */
	MEDIA_FD_SLACK = 1024,         /* descriptors kept for everything else */
	MEDIA_TOS_EF = 0xb8,           /* DSCP EF (46) for RTP and RTCP */
	MEDIA_RING_BUDGET = 256,       /* frames read from a zone's ring per batch */
	MEDIA_RING_WAKE_BATCHES = 4,         /* batches per wake-up: the ring drained with one wait per 1,024
					  frames under load, while SIP (or the other zone) waits 4 at most */
	MEDIA_NH_REFRESH_MS = 1000,    /* a resolved next hop's MAC is asked for again this often */
	MEDIA_HDR4_LEN = 42,           /* Ethernet + IPv4 + UDP headers built for socket->ring */
	MEDIA_TTL = 64,                /* TTL of the packets built for socket->ring */
	MEDIA_FALLBACK_MAX = 160,      /* a zone's fallback reason */
};

struct ring;
struct stack;

/* A kernel socket address for IPv4 or IPv6: the engine's zone addresses and its I/O scratch. */
union media_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/*
 * A peer address as a stream keeps it: 20 bytes, where a sockaddr_in6 is
 * 28 and a sockaddr_storage 128; a stream holds ten. IPv4 uses the first 4
 * bytes of ip. The flow label and scope id are not kept: SDP carries
 * neither, and a link-local peer can only sit on the zone's own link, so
 * it is sent to with the zone's scope (media_addr_to_sa).
 */
struct media_addr {
	union {
		uint32_t v4;          /* network order */
		uint8_t v6[16];
	} ip;
	uint16_t port;            /* network order, as in a sockaddr */
	uint8_t af;               /* AF_INET or AF_INET6; AF_UNSPEC (0): none */
};

/* A zone's pool of even/odd port pairs: a FIFO ring of free pair indices. */
struct media_pool {
	uint16_t first;       /* the even port of pair 0 */
	unsigned npairs;
	uint16_t *ring;       /* npairs slots; free pairs from head, nfree of them */
	unsigned head, nfree;
	uint8_t *used;        /* per pair: reserved by a stream */
};

/*
 * RTP sequence and jitter state of one direction (RFC 3550 A.1, A.8),
 * ordered by size so it packs into 32 bytes. 32-bit counters as in the
 * RFC: cycles wraps after 2^32 packets (2.7 years at 50 packets/s).
 */
struct media_rtpstat {
	uint32_t ssrc;
	uint32_t cycles;      /* count of sequence wraps, shifted by 16 */
	uint32_t received;
	uint32_t lost_prev;   /* lost before the last SSRC change or resync */
	uint32_t transit;
	uint32_t jitter;      /* in timestamp units, times 16 */
	uint16_t max_seq;
	uint16_t base_seq;
	uint16_t bad_seq;     /* the sequence number that confirms a large jump */
	bool init : 1;
	bool have_transit : 1;
	bool have_bad_seq : 1;
};

/*
 * Token bucket in milli-packets on the ms clock (nginx limit_req style).
 * 32 bits suffice: rate is capped at MEDIA_RATE_MAX, so a full bucket
 * (rate x 1000 milli-packets) stays below 2^32, and the clock is only ever
 * subtracted from itself, modulo 2^32. The burst is one second of rate
 * (at least MEDIA_BURST_MIN) and is computed, not stored.
 */
struct media_bucket {
	uint32_t tokens;
	uint32_t last_ms;     /* ms clock, modulo 2^32 */
	uint32_t rate;        /* packets per second; 0: no policing */
};

/*
 * One bound UDP socket of a stream; its latch state is per socket. The
 * libevent event is most of it (128 bytes) and is needed per descriptor;
 * that is why an RTCP socket exists only when its port is bound. The
 * event's argument is the stream, and the descriptor it reports says which
 * of the stream's sockets it is (media_sock_readable), so the socket keeps
 * no pointer back, nor its zone and kind.
 */
struct media_sock {
	struct event ev;
	int fd;                   /* -1: not open */
	struct media_addr latched;    /* af AF_UNSPEC: not latched */
	uint32_t latched_rx_ms;   /* last packet from the latched source, ms clock mod 2^32 */
};

/*
 * Per-zone half of a stream: the local sockets, what the peer's SDP said,
 * counters. The packet and byte counters stay 64-bit: bytes pass 2^32 in
 * two hours of 5 Mbit/s video, packets in weeks of video or hours of a
 * flood on one port (dropped_source needs no spoofing at all), and the
 * others can be driven as fast by the latched peer itself.
 */
struct media_side {
	struct media_sock rtp;
	struct media_sock *rtcp;  /* the RTCP port's socket; NULL: not bound (rtcp-mux) */
	struct media_addr sdp_rtp, sdp_rtcp;
	struct media_addr sig_src;    /* only the IP counts; af AF_UNSPEC: unknown */
	uint32_t clock_rate;
	struct media_bucket bucket[MEDIA_KINDS];
	struct media_rtpstat stat;
	uint16_t pair;            /* index in the zone's pool; the port follows from it */
	bool peer_set : 1;
	bool hold : 1;
	bool rtcp_mux : 1;
	bool nat : 1;
	bool rtcp_own : 1;        /* rtcp is an allocation of its own, not the stream's tail */
	bool reserved : 1;        /* holds a pair of the zone's pool */
	uint64_t packets, bytes, rtcp_packets, relayed;
	uint64_t dropped_source, dropped_policing, dropped_no_dest;
};

/* A next hop cache: nothing, the next hop known (MAC asked for), both known. */
enum media_nh { MEDIA_NH_NONE = 0, MEDIA_NH_HOP, MEDIA_NH_MAC };

/*
 * A bypass zone's entry per pair of its pool: the stream side holding it
 * and, kept here rather than in struct media_side (whose size has a
 * budget, docs/media.md), that side's next hop cache and the packets
 * towards it dropped for want of the next hop's MAC.
 */
struct media_port {
	struct media_stream *st;  /* NULL: the pair is free */
	uint32_t nh_dst;          /* the destination IP (network order) the cache is for */
	uint32_t nh_hop;          /* its next hop (network order) */
	uint32_t nh_ms;           /* when the MAC was last confirmed or the hop failed (ms) */
	uint8_t nh_mac[6];
	uint8_t nh_state;         /* enum media_nh */
	uint64_t dropped_no_neighbour;
};

/*
 * One m= line. Opened without rtcp-mux, the stream and both zones' RTCP
 * sockets are one allocation (rtcp_tail); opened with it, the tail is
 * left off, and an RTCP socket a non-mux answer needs later is allocated
 * on its own.
 */
struct media_stream {
	struct media_session *sess;
	struct media_stream *next;    /* the session's streams */
	uint32_t last_rx_ms;      /* last packet, or when the peers were last set (ms mod 2^32) */
	uint8_t idx;
	struct media_side side[MEDIA_ZONES];
	struct media_sock rtcp_tail[];
};

/*
 * One call. Streams are a list rather than MEDIA_MAX_STREAMS pointers: a
 * call has one or two, and finding one walks at most MEDIA_MAX_STREAMS.
 */
struct media_session {
	struct media_engine *me;
	struct media_session *next, *prev;
	media_timeout_h *th;
	void *arg;
	struct media_stream *streams;
	bool timed_out;
};

/*
 * A zone's I/O backend. Socket: each stream side binds its ports (struct
 * media_sock fds). Bypass: one packet ring and one lwIP stack for the
 * zone's owned address; stream sides bind nothing, and ports[] maps a
 * pair of the pool to the stream holding it (kind from the port's parity).
 */
struct media_zone {
	struct media_engine *me;
	unsigned id;
	bool bypass;                  /* the ring backend runs (bypass or xdp asked and started) */
	bool xdp;                     /* ... on an AF_XDP ring (xsk.c) */
	bool tx_queued;               /* frames queued on the ring since the last flush */
	bool ingress_drop;            /* our nftables table drops the owned address after the tap */
	char fallback[MEDIA_FALLBACK_MAX];  /* bypass asked but not started: why; "" */
	struct ring *ring;
	struct stack *stack;
	struct event *ev;             /* the ring's descriptor on the loop */
	int slow_fd;                  /* AF_PACKET socket lwIP's frames leave by; -1 */
	int ifindex;
	uint8_t mac[6];
	struct media_port *ports;     /* per pair of the pool */
	uint64_t now_us;              /* the clock of the current receive batch */
};

struct media_engine {
	struct event_base *base;
	struct config_media cfg;
	union media_sa addr[MEDIA_ZONES];
	struct media_pool pool[MEDIA_ZONES];
	struct event *sweep;
	unsigned sweep_ms;
	uint32_t timeout_ms;
	uint32_t relatch_ms;
	bool send_single;
	struct media_session *sessions;     /* doubly linked list */
	unsigned nsessions, nstreams, nsockets;
	uint64_t fd_limit;
	uint64_t rx_packets, relayed, dropped_source, dropped_policing, dropped_no_dest,
		dropped_truncated, dropped_no_neighbour, tx_errors, bind_skipped, timeouts,
		csum_completed;
	struct media_zone zone[MEDIA_ZONES];
	/* the media thread (thread.c); threaded is only changed by the thread that made the engine */
	pthread_mutex_t lock;               /* see media_lock() */
	bool threaded;                      /* the media thread runs the bypass zones' rings */
	int thread_cpu;                     /* the CPU it is pinned to; -1: any */
	pthread_t thread;
	int stop_fd;                        /* eventfd that ends the thread; -1 */
	/* I/O scratch, one set for the whole engine (used under the lock) */
	struct mmsghdr rx[MEDIA_BATCH];
	struct iovec rxiov[MEDIA_BATCH];
	union media_sa from[MEDIA_BATCH];
	struct mmsghdr tx[MEDIA_BATCH];
	struct iovec txiov[MEDIA_BATCH];
	union media_sa to[MEDIA_BATCH];     /* tx destinations, made from compact addresses */
	struct media_side *txside[MEDIA_BATCH];  /* whose packet each tx entry is (relayed++) */
	unsigned ntx, nto;                  /* the socket send queue: entries, addresses */
	int txfd;                           /* its socket */
	const struct media_addr *last_dst;
	socklen_t tolen;
	char slots[MEDIA_BATCH][MEDIA_SLOT];
	char txslots[MEDIA_BATCH][MEDIA_SLOT];  /* ring->socket copies */
};

/*
 * The engine's lock. While the media thread runs (media_engine_thread),
 * it holds the lock for each ring batch, and every entry point of the
 * engine (sessions, streams, stats, the sweep, the socket backend's
 * readable events) takes it; before that, and in an engine without a
 * bypass zone, it costs one branch. Recursive: a timeout handler called
 * by the sweep frees its session, whose destructor takes it again. const:
 * the stats readers lock a const engine.
 */
static inline void media_lock(const struct media_engine *me)
{
	if (me->threaded)
		pthread_mutex_lock((pthread_mutex_t *)(uintptr_t)&me->lock);
}

static inline void media_unlock(const struct media_engine *me)
{
	if (me->threaded)
		pthread_mutex_unlock((pthread_mutex_t *)(uintptr_t)&me->lock);
}

/* pool.c */
int media_pool_init(struct media_pool *p, uint16_t port_min, uint16_t port_max);
void media_pool_close(struct media_pool *p);
int media_pool_get(struct media_pool *p, unsigned *pair);
void media_pool_put(struct media_pool *p, unsigned pair);
void media_pool_skip(struct media_pool *p, unsigned pair);
uint16_t media_pool_port(const struct media_pool *p, unsigned pair);

/* rtp.c */
void media_rtpstat_update(struct media_rtpstat *rs, uint32_t ssrc, uint16_t seq, uint32_t ts,
			  uint32_t arrival, bool jitter);
uint32_t media_rtpstat_lost(const struct media_rtpstat *rs);
double media_rtpstat_jitter_ms(const struct media_rtpstat *rs, uint32_t clock_rate);
bool media_pkt_is_rtp(const uint8_t *p, size_t len);
bool media_pkt_is_rtcp(const uint8_t *p, size_t len);
void media_bucket_set(struct media_bucket *b, uint32_t rate, uint32_t now_ms);
bool media_bucket_take(struct media_bucket *b, uint32_t now_ms);

/* addresses (rtp.c) */
int media_sa_set(union media_sa *d, const struct sockaddr_storage *s);
socklen_t media_sa_len(const union media_sa *a);
void media_sa_set_port(union media_sa *a, uint16_t port);
int media_addr_set(struct media_addr *d, const struct sockaddr_storage *s);
void media_addr_from_sa(struct media_addr *d, const union media_sa *s);
void media_addr_get(struct sockaddr_storage *d, const struct media_addr *a,
		    const union media_sa *zone);
bool media_addr_eq(const struct media_addr *a, const struct media_addr *b);
bool media_addr_eq_ip(const struct media_addr *a, const struct media_addr *b);
bool media_addr_eq_sa(const struct media_addr *a, const union media_sa *s);
bool media_addr_eq_ip_sa(const struct media_addr *a, const union media_sa *s);
bool media_addr_is_private(const struct media_addr *a);
bool media_addr_is_any(const struct media_addr *a);
uint16_t media_addr_port(const struct media_addr *a);
void media_addr_set_port(struct media_addr *a, uint16_t port);


/*
 * The kernel form of a compact address, for sendmmsg; returns its length.
 * A link-local IPv6 address gets the scope of zone, the address of the
 * zone it is sent from: a link-local peer is on that zone's link. Inline:
 * the relay makes one for each batch, and a call costs as much as the rest.
 */
static inline socklen_t media_addr_to_sa(union media_sa *d, const struct media_addr *a,
					 const union media_sa *zone)
{
	if (a->af == AF_INET6) {
		memset(&d->in6, 0, sizeof(d->in6));
		d->in6.sin6_family = AF_INET6;
		d->in6.sin6_port = a->port;
		memcpy(&d->in6.sin6_addr, a->ip.v6, sizeof(a->ip.v6));
		if (IN6_IS_ADDR_LINKLOCAL(&d->in6.sin6_addr) && zone->sa.sa_family == AF_INET6)
			d->in6.sin6_scope_id = zone->in6.sin6_scope_id;
		return sizeof(d->in6);
	}
	memset(&d->in, 0, sizeof(d->in));
	d->in.sin_family = AF_INET;
	d->in.sin_port = a->port;
	d->in.sin_addr.s_addr = a->ip.v4;
	return sizeof(d->in);
}

/* relay.c: the per-packet path shared by both backends, and the socket backend */
struct media_sock *media_pkt_in(struct media_engine *me, struct media_stream *st, unsigned zone,
				struct media_sock *ms, unsigned kind,
				const struct media_addr *src, const uint8_t *p, size_t len,
				uint64_t now_us, const struct media_addr **dst);
void media_txq_add(struct media_engine *me, int fd, struct media_side *in,
		   const struct media_addr *dst, unsigned zone_out, uint8_t *p, size_t len);
void media_txq_flush(struct media_engine *me);
void media_sock_readable(evutil_socket_t fd, short what, void *arg);

/* bypass.c: the ring backend */
int media_zone_bypass_start(struct media_zone *zn, const struct media_zone_cfg *zc,
			    enum ring_kind kind);
void media_zone_close(struct media_zone *zn);
void media_zone_port_set(struct media_zone *zn, unsigned pair, struct media_stream *st);
struct media_stream *media_zone_port_lookup(const struct media_zone *zn, uint16_t port,
					    unsigned *kind, struct media_sock **ms);
uint16_t media_sock_port(const struct media_engine *me, const struct media_side *sd,
			 unsigned zone, const struct media_sock *ms);
void media_nh_prepare(struct media_engine *me, struct media_side *sd, unsigned zone,
		      const struct media_addr *dst, uint32_t now_ms);
uint64_t media_zone_no_neighbour(const struct media_engine *me, const struct media_stream *st,
				 unsigned zone);
void media_ring_send(struct media_engine *me, struct media_side *in, struct media_stream *st,
		     unsigned zone_out, struct media_sock *os, const struct media_addr *dst,
		     uint8_t *p, size_t len, uint32_t now_ms);
void media_ring_flush(struct media_engine *me);
int media_zone_ring_batch(struct media_zone *zn);

/* thread.c */
void media_thread_stop(struct media_engine *me);

/* session.c */
void media_engine_sweep(struct media_engine *me, uint64_t now_ms);

#endif
