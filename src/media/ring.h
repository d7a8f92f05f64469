/* ring: a zone port's packet ring: frames in through libpcap (TPACKET_V3) or AF_XDP, out in batches. */
#ifndef SBC_MEDIA_RING_H
#define SBC_MEDIA_RING_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ring;

/* How ring_tx_flush hands a batch to the kernel (docs/bypass.md "Packet ring"). */
enum ring_tx_mode {
	RING_TX_DEFAULT = 0,	/* the cheaper one measured here: RING_TX_RING */
	RING_TX_RING,		/* PACKET_TX_RING (TPACKET_V2): copy into slots, one send() a batch */
	RING_TX_SENDMMSG,	/* sendmmsg() on an AF_PACKET socket: one call a batch */
};

/*
 * Where frames come from and go to. RING_PCAP: libpcap's TPACKET_V3 ring
 * in, an AF_PACKET socket out (ring.c). RING_XDP: an XDP program
 * redirecting the owned IPv4 address's frames (and ARP for it) to an
 * AF_XDP socket, which also sends (xsk.c; docs/bypass.md "The AF_XDP
 * engine"); only has4, no extra, never tx_only; the tx_mode and pcap
 * fields are ignored.
 */
enum ring_kind { RING_PCAP = 0, RING_XDP };

enum {
	RING_SNAPLEN = 2048,			/* largest frame received or sent */
	RING_FILTER_MAX = 1024,			/* longest BPF filter string */
	RING_EXTRA_MAX = 256,			/* longest extra filter expression */
	RING_BATCH_MAX = 256,			/* most frames in one transmit batch */
	RING_BUFFER_DEFAULT = 16 << 20,		/* receive ring, bytes */
};

/*
 * What to open. At least one owned address (has4/has6) unless tx_only;
 * port_min..port_max is the UDP port range taken for media. Zero fields
 * take the defaults (in brackets).
 */
struct ring_opts {
	enum ring_kind kind;		/* [RING_PCAP] */
	bool has4, has6;
	struct in_addr addr4;		/* owned IPv4 address (not on the interface) */
	struct in6_addr addr6;		/* owned IPv6 address (not on the interface) */
	uint16_t port_min, port_max;	/* UDP destination ports taken */
	const char *extra;		/* optional filter expression, or'ed in (NULL: none) */
	bool promisc;			/* promiscuous mode [off] */
	bool immediate;			/* pcap immediate mode: TPACKET_V2, no block timeout [off] */
	bool tx_only;			/* no receive side (no pcap handle, no filter) */
	bool qdisc_bypass;		/* PACKET_QDISC_BYPASS on the transmit socket [off] */
	int timeout_ms;			/* TPACKET_V3 block retire timeout [1] */
	int buffer_size;		/* receive ring bytes [RING_BUFFER_DEFAULT] */
	enum ring_tx_mode tx_mode;	/* [RING_TX_DEFAULT] */
	unsigned tx_batch;		/* frames a batch, flushed when full [64] */
	unsigned tx_slots;		/* PACKET_TX_RING slots [2048] */
};

/* Counters; rx_drops is what the kernel dropped because the ring was full (pcap_stats). */
struct ring_stats {
	uint64_t rx_frames;
	uint64_t rx_drops;
	uint64_t rx_truncated;	/* longer than RING_SNAPLEN: not handed up */
	uint64_t tx_frames;	/* accepted by the kernel */
	uint64_t tx_errors;	/* refused by the kernel (send error) */
	uint64_t tx_full;	/* not queued: no free slot even after a flush */
};

/*
 * One received frame, valid only during the call (it points into the
 * ring); the ring keeps it, the handler must not free it.
 */
typedef void (ring_frame_h)(const uint8_t *frame, size_t len, void *arg);

int ring_filter_build(char *buf, size_t size, const struct ring_opts *o);
int ring_open(struct ring **rp, const char *ifname, const struct ring_opts *o,
	      char *err, size_t errsz);
struct ring *ring_close(struct ring *r);
int ring_fd(const struct ring *r);
int ring_rx(struct ring *r, ring_frame_h *h, void *arg, int max);
uint8_t *ring_tx_alloc(struct ring *r, size_t len);
int ring_tx_add(struct ring *r, const uint8_t *frame, size_t len);
int ring_tx_flush(struct ring *r);
void ring_stats(struct ring *r, struct ring_stats *st);
enum ring_tx_mode ring_tx_mode(const struct ring *r);
const char *ring_tx_mode_name(enum ring_tx_mode m);
int ring_tx_mode_parse(const char *s, enum ring_tx_mode *m);
const uint8_t *ring_mac(const struct ring *r);
int ring_ifindex(const struct ring *r);
const char *ring_xdp_mode(const struct ring *r);

#endif
