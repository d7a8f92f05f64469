/* rtp: RTP/RTCP classification, loss and jitter (RFC 3550 A.1, A.3, A.8), token buckets, compact addresses. */
#include <errno.h>
#include <string.h>

#include "media_int.h"

enum {
	RTP_SEQ_MOD = 1 << 16,
	RTP_MAX_DROPOUT = 3000,
	RTP_MAX_MISORDER = 100,
	RTP_HDR_MIN = 12,
	RTCP_HDR_MIN = 8,
};

/* Version 2 and room for the fixed header. */
bool media_pkt_is_rtp(const uint8_t *p, size_t len)
{
	return len >= RTP_HDR_MIN && (p[0] & 0xc0) == 0x80 && !media_pkt_is_rtcp(p, len);
}

/*
 * RTCP when multiplexed with RTP (RFC 5761 section 4): version 2 and a
 * second octet in 192-223, the range RTP payload types must avoid; it holds
 * SR, RR, SDES, BYE, APP (200-204) and the AVPF feedback types (205, 206).
 */
bool media_pkt_is_rtcp(const uint8_t *p, size_t len)
{
	return len >= RTCP_HDR_MIN && (p[0] & 0xc0) == 0x80 && p[1] >= 192 && p[1] <= 223;
}

static void seq_init(struct media_rtpstat *rs, uint16_t seq)
{
	rs->base_seq = seq;
	rs->max_seq = seq;
	rs->have_bad_seq = false;
	rs->cycles = 0;
	rs->received = 0;
}

/* Expected minus received under the current SSRC, floored at 0 (duplicates). */
static uint32_t lost_now(const struct media_rtpstat *rs)
{
	uint64_t ext_max = (uint64_t)rs->cycles + rs->max_seq;
	uint64_t expected = ext_max - rs->base_seq + 1;

	return expected > rs->received ? (uint32_t)(expected - rs->received) : 0;
}

/*
 * One RTP packet of a direction: sequence tracking with wrap, misorder and
 * resync after a large jump (RFC 3550 A.1, without probation: the source
 * was already checked by latching), and interarrival jitter (A.8) when
 * jitter is true. arrival is the receive time in timestamp units.
 * A new SSRC starts over, keeping the loss counted so far.
 */
void media_rtpstat_update(struct media_rtpstat *rs, uint32_t ssrc, uint16_t seq, uint32_t ts,
			  uint32_t arrival, bool jitter)
{
	uint16_t udelta;

	if (!rs->init || rs->ssrc != ssrc) {
		if (rs->init)
			rs->lost_prev += lost_now(rs);
		rs->init = true;
		rs->ssrc = ssrc;
		rs->have_transit = false;
		seq_init(rs, seq);
		rs->received = 1;
		goto jitter;
	}
	udelta = (uint16_t)(seq - rs->max_seq);
	if (udelta < RTP_MAX_DROPOUT) {
		if (seq < rs->max_seq)
			rs->cycles += RTP_SEQ_MOD;
		rs->max_seq = seq;
	} else if (udelta <= RTP_SEQ_MOD - RTP_MAX_MISORDER) {
		/* a very large jump: believe it when the next packet follows it */
		if (rs->have_bad_seq && seq == rs->bad_seq) {
			rs->lost_prev += lost_now(rs);
			seq_init(rs, seq);
			rs->have_transit = false;
		} else {
			rs->bad_seq = (uint16_t)(seq + 1);
			rs->have_bad_seq = true;
			return;
		}
	}
	/* else: duplicate or reordered, counted as received */
	rs->received++;
 jitter:
	if (jitter) {
		uint32_t transit = arrival - ts;

		if (rs->have_transit) {
			int32_t d = (int32_t)(transit - rs->transit);

			if (d < 0)
				d = -d;
			rs->jitter += (uint32_t)d - ((rs->jitter + 8) >> 4);
		}
		rs->transit = transit;
		rs->have_transit = true;
	}
}

/* Cumulative packets lost (RFC 3550 A.3) over every SSRC seen. */
uint32_t media_rtpstat_lost(const struct media_rtpstat *rs)
{
	return rs->init ? rs->lost_prev + lost_now(rs) : rs->lost_prev;
}

double media_rtpstat_jitter_ms(const struct media_rtpstat *rs, uint32_t clock_rate)
{
	if (!clock_rate)
		return 0.0;
	return (double)rs->jitter / 16.0 * 1000.0 / (double)clock_rate;
}

/* A full bucket, in milli-packets: one second of rate, at least MEDIA_BURST_MIN packets. */
static uint32_t bucket_cap(const struct media_bucket *b)
{
	return MAX(b->rate, (uint32_t)MEDIA_BURST_MIN) * 1000;
}

/*
 * Police at rate packets/s (at most MEDIA_RATE_MAX, which keeps a full
 * bucket within 32 bits) with a burst of one second; 0: off.
 */
void media_bucket_set(struct media_bucket *b, uint32_t rate, uint32_t now_ms)
{
	b->rate = MIN(rate, (uint32_t)MEDIA_RATE_MAX);
	b->tokens = bucket_cap(b);
	b->last_ms = now_ms;
}

/*
 * Take one packet's token. Tokens are milli-packets: rate per ms. The
 * clock is monotonic and read modulo 2^32, so the time elapsed is a
 * difference modulo 2^32; a gap of a second or more (or a clock that
 * seems to have gone back) refills at most the burst.
 */
bool media_bucket_take(struct media_bucket *b, uint32_t now_ms)
{
	uint32_t el, cap;

	if (!b->rate)
		return true;
	el = now_ms - b->last_ms;
	if (el) {
		cap = bucket_cap(b);
		if (el >= 1000)
			b->tokens = cap;
		else
			b->tokens = (uint32_t)MIN(cap, b->tokens + (uint64_t)el * b->rate);
		b->last_ms = now_ms;
	}
	if (b->tokens < 1000)
		return false;
	b->tokens -= 1000;
	return true;
}

/* Copy an AF_INET/AF_INET6 address into the kernel form. EAFNOSUPPORT otherwise. */
int media_sa_set(union media_sa *d, const struct sockaddr_storage *s)
{
	memset(d, 0, sizeof(*d));
	if (s->ss_family == AF_INET)
		memcpy(&d->in, s, sizeof(d->in));
	else if (s->ss_family == AF_INET6)
		memcpy(&d->in6, s, sizeof(d->in6));
	else
		return EAFNOSUPPORT;
	return 0;
}

socklen_t media_sa_len(const union media_sa *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->in6) : sizeof(a->in);
}

void media_sa_set_port(union media_sa *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->in6.sin6_port = htons(port);
	else
		a->in.sin_port = htons(port);
}

/* The compact form of a kernel address (AF_INET or AF_INET6, as recvmmsg gives them). */
void media_addr_from_sa(struct media_addr *d, const union media_sa *s)
{
	memset(d, 0, sizeof(*d));
	d->af = (uint8_t)s->sa.sa_family;
	if (s->sa.sa_family == AF_INET6) {
		memcpy(d->ip.v6, &s->in6.sin6_addr, sizeof(d->ip.v6));
		d->port = s->in6.sin6_port;
	} else {
		d->ip.v4 = s->in.sin_addr.s_addr;
		d->port = s->in.sin_port;
	}
}

/* Copy an AF_INET/AF_INET6 address into the compact form. EAFNOSUPPORT otherwise. */
int media_addr_set(struct media_addr *d, const struct sockaddr_storage *s)
{
	union media_sa sa;
	int err = media_sa_set(&sa, s);

	if (err) {
		memset(d, 0, sizeof(*d));
		return err;
	}
	media_addr_from_sa(d, &sa);
	return 0;
}

/* The API form (stats); zeroed for AF_UNSPEC. zone: as for media_addr_to_sa. */
void media_addr_get(struct sockaddr_storage *d, const struct media_addr *a,
		    const union media_sa *zone)
{
	union media_sa sa;

	memset(d, 0, sizeof(*d));
	if (a->af != AF_INET && a->af != AF_INET6)
		return;
	memcpy(d, &sa, media_addr_to_sa(&sa, a, zone));
}

uint16_t media_addr_port(const struct media_addr *a)
{
	return ntohs(a->port);
}

void media_addr_set_port(struct media_addr *a, uint16_t port)
{
	a->port = htons(port);
}

/* Same family and IP; two unset addresses are not equal to anything. */
bool media_addr_eq_ip(const struct media_addr *a, const struct media_addr *b)
{
	if (a->af != b->af)
		return false;
	if (a->af == AF_INET)
		return a->ip.v4 == b->ip.v4;
	return a->af == AF_INET6 && !memcmp(a->ip.v6, b->ip.v6, sizeof(a->ip.v6));
}

bool media_addr_eq(const struct media_addr *a, const struct media_addr *b)
{
	return a->port == b->port && media_addr_eq_ip(a, b);
}

/* The hot path's test: is a received source (s) this address's IP? */
bool media_addr_eq_ip_sa(const struct media_addr *a, const union media_sa *s)
{
	if (a->af != s->sa.sa_family)
		return false;
	if (a->af == AF_INET)
		return a->ip.v4 == s->in.sin_addr.s_addr;
	return a->af == AF_INET6 && !memcmp(a->ip.v6, &s->in6.sin6_addr, sizeof(a->ip.v6));
}

/* ... and its IP and port (the latched source). */
bool media_addr_eq_sa(const struct media_addr *a, const union media_sa *s)
{
	if (a->af == AF_INET)
		return s->sa.sa_family == AF_INET && a->port == s->in.sin_port &&
		       a->ip.v4 == s->in.sin_addr.s_addr;
	return media_addr_eq_ip_sa(a, s) && a->port == s->in6.sin6_port;
}

bool media_addr_is_any(const struct media_addr *a)
{
	static const uint8_t any6[16];

	if (a->af == AF_INET)
		return a->ip.v4 == htonl(INADDR_ANY);
	return !memcmp(a->ip.v6, any6, sizeof(any6));
}

/*
 * An address a phone behind NAT would put in its SDP: RFC 1918, RFC 6598
 * shared (CGN), loopback, link-local, "this network"; IPv6 unique-local,
 * link-local, loopback, unspecified.
 */
bool media_addr_is_private(const struct media_addr *a)
{
	struct in6_addr a6;

	if (a->af == AF_INET) {
		uint32_t ip = ntohl(a->ip.v4);

		return (ip >> 24) == 10 || (ip >> 20) == (172u << 4 | 1) ||
		       (ip >> 16) == (192u << 8 | 168) || (ip >> 22) == (100u << 2 | 1) ||
		       (ip >> 24) == 127 || (ip >> 16) == (169u << 8 | 254) || (ip >> 24) == 0;
	}
	memcpy(&a6, a->ip.v6, sizeof(a6));
	return IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_LINKLOCAL(&a6) ||
	       IN6_IS_ADDR_UNSPECIFIED(&a6) || (a6.s6_addr[0] & 0xfe) == 0xfc;
}

/* 1000 / ptime, rounded up; ptime 0 means the usual 20 ms (50 packets/s). */
uint32_t media_pps_from_ptime(unsigned ptime_ms)
{
	if (!ptime_ms)
		ptime_ms = 20;
	return (1000 + ptime_ms - 1) / ptime_ms;
}
