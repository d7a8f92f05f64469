/* media_int: the socket media engine's private structures: port pools, sessions, streams, sockets, RTP statistics. */
#ifndef SBC_MEDIA_INT_H
#define SBC_MEDIA_INT_H

#include <event2/event.h>
#include <event2/event_struct.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "media.h"

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
	MEDIA_FD_SLACK = 1024,         /* descriptors kept for everything else */
	MEDIA_TOS_EF = 0xb8,           /* DSCP EF (46) for RTP and RTCP */
};

/* A socket address small enough to keep several per stream (sockaddr_storage is 128 bytes). */
union media_sa {
	struct sockaddr sa;
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
};

/* A zone's pool of even/odd port pairs: a FIFO ring of free pair indices. */
struct media_pool {
	uint16_t first;       /* the even port of pair 0 */
	unsigned npairs;
	uint16_t *ring;       /* npairs slots; free pairs from head, nfree of them */
	unsigned head, nfree;
	uint8_t *used;        /* per pair: reserved by a stream */
};

/* RTP sequence and jitter state of one direction (RFC 3550 A.1, A.8). */
struct media_rtpstat {
	bool init;
	uint32_t ssrc;
	uint16_t max_seq;
	uint32_t cycles;      /* count of sequence wraps, shifted by 16 */
	uint32_t base_seq;
	uint32_t bad_seq;
	uint32_t received;
	uint32_t lost_prev;   /* lost before the last SSRC change or resync */
	uint32_t transit;
	uint32_t jitter;      /* in timestamp units, times 16 */
	bool have_transit;
};

/* Token bucket in milli-packets on the ms clock (nginx limit_req style). */
struct media_bucket {
	uint64_t tokens;
	uint64_t last_ms;
	uint32_t rate;        /* packets per second; 0: no policing */
	uint32_t burst;       /* packets */
};

struct media_stream;

/* One bound UDP socket of a stream; its latch state is per socket. */
struct media_sock {
	struct event ev;
	struct media_stream *st;
	int fd;
	uint8_t zone, kind;
	bool latched;
	union media_sa latched_addr;
	uint64_t latched_rx_ms;   /* last packet from the latched source */
};

/* Per-zone half of a stream: the local sockets, what the peer's SDP said, counters. */
struct media_side {
	struct media_sock sock[MEDIA_KINDS];
	unsigned pair;            /* index in the zone's pool */
	uint16_t port;            /* local RTP port */
	bool peer_set, hold, rtcp_mux, nat, have_sig;
	union media_sa sdp_rtp, sdp_rtcp, sig_src;
	uint32_t clock_rate;
	uint32_t expected_pps;
	struct media_bucket bucket[MEDIA_KINDS];
	struct media_rtpstat rtp;
	uint64_t packets, bytes, rtcp, relayed;
	uint64_t dropped_source, dropped_policing, dropped_no_dest;
};

struct media_stream {
	struct media_session *sess;
	unsigned idx;
	uint64_t last_rx_ms;      /* last packet received, or when the peers were last set */
	struct media_side side[MEDIA_ZONES];
};

struct media_session {
	struct media_engine *me;
	struct media_session *next, *prev;
	media_timeout_h *th;
	void *arg;
	bool timed_out;
	struct media_stream *streams[MEDIA_MAX_STREAMS];
};

struct media_engine {
	struct event_base *base;
	struct config_media cfg;
	union media_sa addr[MEDIA_ZONES];
	struct media_pool pool[MEDIA_ZONES];
	struct event *sweep;
	unsigned sweep_ms;
	uint64_t timeout_ms;
	uint64_t relatch_ms;
	bool send_single;
	struct media_session *sessions;     /* doubly linked list */
	unsigned nsessions, nstreams, nsockets;
	uint64_t fd_limit;
	uint64_t rx_packets, relayed, dropped_source, dropped_policing, dropped_no_dest,
		dropped_truncated, tx_errors, bind_skipped, timeouts;
	/* I/O scratch, one set for the whole engine (one thread) */
	struct mmsghdr rx[MEDIA_BATCH];
	struct iovec rxiov[MEDIA_BATCH];
	union media_sa from[MEDIA_BATCH];
	struct mmsghdr tx[MEDIA_BATCH];
	struct iovec txiov[MEDIA_BATCH];
	char slots[MEDIA_BATCH][MEDIA_SLOT];
};

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
void media_bucket_set(struct media_bucket *b, uint32_t rate, uint64_t now_ms);
bool media_bucket_take(struct media_bucket *b, uint64_t now_ms);

/* addr (rtp.c) */
int media_sa_set(union media_sa *d, const struct sockaddr_storage *s);
void media_sa_get(struct sockaddr_storage *d, const union media_sa *s);
bool media_sa_eq(const union media_sa *a, const union media_sa *b);
bool media_sa_eq_ip(const union media_sa *a, const union media_sa *b);
bool media_sa_is_private(const union media_sa *a);
bool media_sa_is_any(const union media_sa *a);
socklen_t media_sa_len(const union media_sa *a);
uint16_t media_sa_port(const union media_sa *a);
void media_sa_set_port(union media_sa *a, uint16_t port);

/* relay.c */
void media_sock_readable(evutil_socket_t fd, short what, void *arg);

/* session.c */
void media_engine_sweep(struct media_engine *me, uint64_t now_ms);

#endif
