/* media: the media engine: RTP/RTCP port pairs per zone, relay sessions, latching, policing, stats; socket or bypass I/O per zone. */
#ifndef SBC_MEDIA_H
#define SBC_MEDIA_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "util/util.h"

struct event_base;

enum {
	MEDIA_MAX_STREAMS = 16,   /* streams (m= lines) in one session; SDP_MAX_MEDIA */
	MEDIA_ZONES = 2,          /* zone index 0 is public, 1 is private (enum zone_id) */
};

struct media_engine;    /* one per sbcd: a port pool per zone, the sockets, the sweep timer */
struct media_session;   /* one call: up to MEDIA_MAX_STREAMS streams (one per m= line) */

/*
 * A zone's media address (the port is ignored) and its RTP port range.
 * bypass: run the zone on a packet ring and lwIP (docs/bypass.md "The
 * engine") owning own_addr (IPv4, not configured on the kernel) on
 * interface ifname; when that cannot start the zone falls back to the
 * socket backend on addr (see media_engine_zone). xdp (with bypass): the
 * same with an AF_XDP ring (docs/bypass.md "The AF_XDP engine"); when
 * that cannot start, the pcap ring, else the socket backend. Zeroed: socket.
 */
struct media_zone_cfg {
	struct sockaddr_storage addr;
	uint16_t port_min, port_max;
	bool bypass;
	bool xdp;
	char ifname[IFNAMSIZ];
	struct sockaddr_storage own_addr;
};

/*
 * Start the engine: a pool of even/odd port pairs per zone from
 * [port_min, port_max], and a sweep timer on base for inactivity. cfg is
 * copied. Raises RLIMIT_NOFILE towards what max_streams needs (4 sockets a
 * stream); see media_engine_stats().fd_limit. EINVAL: a range without a
 * whole pair or an address that is not AF_INET/AF_INET6; ENOMEM.
 * mem_deref() it after every session is gone (sessions hold a reference).
 */
int media_engine_alloc(struct media_engine **mp, struct event_base *base,
		       const struct media_zone_cfg zones[MEDIA_ZONES],
		       const struct config_media *cfg);

/*
 * Called once per session when every active stream (both peers known, no
 * side on hold) received nothing for timeout_s. The handler may
 * mem_deref(s) (and should, after sending BYE on both legs); it must not
 * free other sessions.
 */
typedef void (media_timeout_h)(struct media_session *s, void *arg);

/* A session for one call. ENOSPC: as many sessions as max_streams exist. */
int media_session_alloc(struct media_session **sp, struct media_engine *me,
			media_timeout_h *th, void *arg);

/*
 * Stream idx (the m= line index): reserve an even/odd port pair on BOTH
 * zones and bind the RTP port, and the RTCP port (RTP + 1) unless rtcp_mux.
 * port[z] is the local RTP port to put into zone z's SDP. Calling it again
 * for an open idx returns the same ports. EINVAL: idx out of range;
 * ENOSPC: no free pair on a zone, max_streams reached, or out of file
 * descriptors (answer 503); ENOMEM; another errno from bind().
 */
int media_stream_open(struct media_session *s, unsigned idx, bool rtcp_mux,
		      uint16_t port[MEDIA_ZONES]);

/* What the peer on one zone said in its SDP, and where its signalling came from. */
struct media_peer {
	struct sockaddr_storage rtp;      /* c= address and m= port */
	struct sockaddr_storage rtcp;     /* a=rtcp; AF_UNSPEC (zeroed): RTP port + 1 */
	struct sockaddr_storage sig_src;  /* source of its SIP messages; AF_UNSPEC: unknown */
	uint32_t expected_pps;            /* policing: packets/s the codec sends; 0: none */
	uint32_t clock_rate;              /* RTP clock for jitter (8000, 90000); 0: no jitter */
	bool rtcp_mux;                    /* RTCP rides the RTP port towards this peer */
	bool hold;                        /* sendonly, inactive or c=0.0.0.0: send it nothing */
};

/*
 * Set (or update, on a re-offer) what zone's peer said. A change of RTP
 * address or signalling source forgets that zone's latched sources.
 * hold with rtp left AF_UNSPEC (c=0.0.0.0) puts the peer on hold and keeps
 * its addresses and latch. EINVAL: no such open stream or zone, no RTP
 * address (and not hold), or an address family that is not the zone's.
 */
int media_stream_peer(struct media_session *s, unsigned idx, unsigned zone,
		      const struct media_peer *peer);

/* Close stream idx and release its ports on both zones (m= port 0 in a re-offer). */
void media_stream_close(struct media_session *s, unsigned idx);

/* Per stream; index z is the zone the packets were RECEIVED on. */
struct media_stream_stats {
	uint64_t packets[MEDIA_ZONES];           /* received (RTP, RTCP and other) */
	uint64_t bytes[MEDIA_ZONES];
	uint64_t rtcp_packets[MEDIA_ZONES];
	uint64_t relayed[MEDIA_ZONES];           /* sent out of the other zone */
	uint64_t dropped_source[MEDIA_ZONES];    /* not from the latched / allowed source */
	uint64_t dropped_policing[MEDIA_ZONES];  /* above policing_factor x expected rate */
	uint64_t dropped_no_dest[MEDIA_ZONES];   /* other side on hold, unknown, or not latched */
	uint64_t dropped_no_neighbour[MEDIA_ZONES];  /* bypass: next hop's MAC not known (yet) */
	uint32_t lost[MEDIA_ZONES];              /* RTP, RFC 3550 A.3 cumulative, floored at 0 */
	double jitter_ms[MEDIA_ZONES];           /* RTP interarrival jitter, RFC 3550 A.8 */
	bool latched[MEDIA_ZONES];               /* the zone's RTP socket latched its peer */
	struct sockaddr_storage latched_addr[MEDIA_ZONES];
	uint16_t port[MEDIA_ZONES];              /* local RTP port on the zone */
};

/* ENOENT: no open stream idx. */
int media_stream_stats(const struct media_session *s, unsigned idx,
		       struct media_stream_stats *st);

struct media_engine_stats {
	unsigned ports_in_use[MEDIA_ZONES];   /* reserved ports (2 per pair, rtcp-mux too) */
	unsigned ports_total[MEDIA_ZONES];    /* 2 x pairs in the range */
	unsigned sessions, streams, sockets;
	uint64_t packets_received, packets_relayed;
	uint64_t dropped_source, dropped_policing, dropped_no_dest, dropped_truncated;
	uint64_t dropped_no_neighbour;        /* bypass: next hop unknown or not resolved yet */
	uint64_t tx_errors;                   /* sendmmsg refused (buffer full, no route) */
	uint64_t bind_skipped;                /* pairs skipped: a port was in use elsewhere */
	uint64_t timeouts;                    /* sessions reported to media_timeout_h */
	uint64_t csum_completed;              /* bypass: partial UDP checksums (sender's offload) completed */
	uint64_t fd_limit;                    /* RLIMIT_NOFILE soft limit after start-up */
	size_t stream_bytes;                  /* heap bytes of a stream with RTCP ports (sockets aside) */
	bool threaded;                        /* the media thread runs the bypass zones */
	int thread_cpu;                       /* the CPU it is pinned to; -1: not pinned */
};

void media_engine_stats(const struct media_engine *me, struct media_engine_stats *st);

/* How a zone runs: its engine, why bypass fell back, the address to put into its SDP. */
struct media_zone_info {
	bool bypass;                          /* the bypass backend runs the zone */
	const char *xdp_mode;                 /* ... on AF_XDP: "native-copy" etc. (ring.h); else NULL */
	const char *fallback;                 /* configured bypass (xdp) that could not start: why; else NULL */
	struct sockaddr_storage sdp_addr;     /* own_addr when bypass runs, else addr */
};

/* EINVAL: no engine or zone out of range. The strings live as long as the engine. */
int media_engine_zone(const struct media_engine *me, unsigned zone, struct media_zone_info *zi);

/*
 * A bypass zone's packet ring and lwIP counters (ring.h, stack.h); either
 * pointer may be NULL. ENOENT: the zone runs the socket backend; EINVAL.
 */
struct ring_stats;
struct stack_stats;
int media_engine_zone_io(const struct media_engine *me, unsigned zone, struct ring_stats *rs,
			 struct stack_stats *ss);

/*
 * Serve the bypass zones' rings on a media thread of their own instead of
 * base's loop, pinned to cpu (-1: not pinned; a CPU the process may not
 * use is logged and left unpinned). From then on the engine's calls lock
 * against that thread; the socket backend's streams stay on the loop.
 * Without a bypass zone there is nothing to move: 0 and no thread. The
 * engine's destructor ends the thread. EINVAL; EALREADY; errno of
 * eventfd or pthread_create.
 */
int media_engine_thread(struct media_engine *me, int cpu);

/* The RTP packet rate policing expects for a ptime in ms (0: 20 ms): 1000 / ptime, rounded up. */
uint32_t media_pps_from_ptime(unsigned ptime_ms);

/*
 * For tests and tools: sweep period, inactivity timeout and re-latch delay
 * in ms (0 keeps the current value: 1000 ms, cfg->timeout_s and 2000 ms),
 * and send_single = true to send with one sendmsg per packet instead of
 * one sendmmsg per batch.
 */
struct media_tuning {
	unsigned sweep_ms;
	unsigned timeout_ms;
	unsigned relatch_ms;
	bool send_single;
};

int media_engine_tune(struct media_engine *me, const struct media_tuning *t);

#endif
