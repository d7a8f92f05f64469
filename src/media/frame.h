/* frame: the bypass engine's fast-path Ethernet/VLAN/IP/UDP frame parser and in-place rewrite with incremental checksums. */
#ifndef SBC_MEDIA_FRAME_H
#define SBC_MEDIA_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	FRAME_ETH_LEN = 14,        /* destination, source, ethertype */
	FRAME_VLAN_LEN = 4,        /* one 802.1Q tag */
	FRAME_MAC_LEN = 6,
	/*
	 * Bytes the caller keeps writable before a frame it passes to
	 * frame_rewrite: adding a VLAN tag moves the MAC header 4 bytes down,
	 * since the IP packet itself never moves.
	 */
	FRAME_HEADROOM = FRAME_VLAN_LEN,
};

/* What a frame is, and so where it goes: only FRAME_FAST_UDP stays on the fast path. */
enum frame_kind {
	FRAME_FAST_UDP = 0,   /* IPv4 or IPv6 UDP, not a fragment, lengths consistent */
	FRAME_ARP,
	FRAME_ICMP,           /* ICMP, or ICMPv6 (neighbour discovery included) */
	FRAME_FRAGMENT,       /* IPv4 MF or offset != 0; IPv6 fragment header */
	FRAME_OTHER,          /* another ethertype or protocol, IPv6 extension headers */
	FRAME_MALFORMED,      /* see reason */
	FRAME_KIND__COUNT
};

/* Why a frame is FRAME_MALFORMED (FRAME_R_NONE for every other kind). */
enum frame_reason {
	FRAME_R_NONE = 0,
	FRAME_R_SHORT_ETH,    /* shorter than an Ethernet header */
	FRAME_R_SHORT_VLAN,   /* 802.1Q tag cut off */
	FRAME_R_QINQ,         /* 802.1ad (0x88a8, 0x9100) or a second 802.1Q tag: refused */
	FRAME_R_SHORT_ARP,    /* ARP body shorter than 28 bytes */
	FRAME_R_SHORT_IP,     /* shorter than the fixed IPv4 (20) or IPv6 (40) header */
	FRAME_R_IP_VERSION,   /* version field does not match the ethertype */
	FRAME_R_IHL,          /* IPv4 IHL < 5, or a header longer than the total length */
	FRAME_R_IP_LEN,       /* IPv4 total length / IPv6 payload length beyond the frame */
	FRAME_R_IP_CSUM,      /* IPv4 header checksum wrong */
	FRAME_R_SHORT_UDP,    /* IP payload shorter than a UDP header */
	FRAME_R_UDP_LEN,      /* UDP length is not the IP payload length */
	FRAME_R_UDP6_CSUM0,   /* UDP over IPv6 with checksum 0 (RFC 8200 8.1: discard) */
	FRAME_REASON__COUNT
};

/* An IPv4 (first 4 bytes) or IPv6 address, network order. */
union frame_ip {
	uint32_t v4;
	uint8_t v6[16];
};

/*
 * What frame_parse found. Offsets count from the frame's first byte.
 * Filled as far as parsing got: a FRAME_ICMP or FRAME_FRAGMENT has its
 * addresses and TTL, only a FRAME_FAST_UDP has ports and a payload.
 */
struct frame_info {
	uint8_t kind;            /* enum frame_kind */
	uint8_t reason;          /* enum frame_reason */
	uint8_t af;              /* AF_INET, AF_INET6 or 0 (not IP) */
	uint8_t proto;           /* IPv4 protocol / IPv6 next header */
	uint8_t ttl;             /* IPv4 TTL / IPv6 hop limit */
	bool vlan;               /* one 802.1Q tag */
	uint16_t vlan_tci;       /* the tag: PCP (3 bits), DEI, VID (12 bits), host order */
	uint16_t ethertype;      /* after the tag, host order */
	uint16_t l3_off;         /* 14, or 18 with a tag */
	uint16_t l4_off;
	uint16_t payload_off;    /* the UDP payload (the RTP packet) */
	uint16_t payload_len;
	uint16_t sport, dport;   /* network order, as in a sockaddr */
	uint32_t ip_len;         /* the IP packet's bytes from l3_off, padding excluded */
	union frame_ip src, dst;
};

/* The VLAN id of a tag control field. */
static inline uint16_t frame_vlan_id(uint16_t tci)
{
	return tci & 0x0fff;
}

/*
 * How frame_rewrite turns a FRAME_FAST_UDP frame into the one sent out of
 * the other zone. Every field is written; af must be the frame's family.
 */
struct frame_rewrite {
	uint8_t dst_mac[FRAME_MAC_LEN];
	uint8_t src_mac[FRAME_MAC_LEN];
	uint8_t af;              /* AF_INET or AF_INET6: must equal the frame's */
	bool vlan;               /* send with an 802.1Q tag */
	uint16_t vlan_tci;       /* that tag, host order */
	uint8_t ttl;             /* 0: decrement the frame's (refused at 1); else set this value */
	uint16_t sport, dport;   /* network order */
	union frame_ip src, dst;
};

int frame_parse(const uint8_t *f, size_t len, struct frame_info *fi);
int frame_rewrite(uint8_t *f, const struct frame_info *fi, const struct frame_rewrite *rw,
		  uint8_t **outp, size_t *out_len);
uint16_t frame_ip4_csum(const uint8_t *f, const struct frame_info *fi);
uint16_t frame_udp_csum(const uint8_t *f, const struct frame_info *fi);
void frame_udp_csum_set(uint8_t *f, const struct frame_info *fi);
bool frame_udp_csum_ok(const uint8_t *f, const struct frame_info *fi);
/* The field holds only the pseudo-header's sum (checksum offload): complete it with frame_udp_csum_set. */
bool frame_udp_csum_partial(const uint8_t *f, const struct frame_info *fi);
const char *frame_kind_str(unsigned kind);
const char *frame_reason_str(unsigned reason);

#endif
