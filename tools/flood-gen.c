/* flood-gen: a SIP request flood from spoofed IPv4 sources (sendmmsg batches), for bench-flood. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

enum {
	ETH_LEN = 14,                  /* Ethernet header, packet-socket mode only */
	HDR_LEN = 28,                  /* IPv4 (20, no options) + UDP (8) */
	PAYLOAD_MAX = 1500 - HDR_LEN,  /* one Ethernet MTU, no fragments */
	BATCH_MAX = 1024,
	METHOD_MAX = 16,
	USER_MAX = 32,
	MAX_SECONDS = 3600,
	BURST_MS = 2,                  /* credit kept when the sender falls behind */
};

/*
 * Three layouts of the same request, the first that fits the asked size
 * with the longest source address of the range (RFC 3261 7.3.3 compact
 * forms where space is short; every one is a well-formed request):
 *   full:    Via, Max-Forwards, From, To, Call-ID, CSeq, Content-Length
 *   compact: v, Max-Forwards, f, t, i, CSeq (over UDP Content-Length may
 *            be left out: the body is the rest of the datagram)
 *   tight:   as compact, no space after the colons, addr-spec From and To
 *            with a short URI (a 172-byte INVITE needs it)
 * The per-packet id goes into the branch, the From tag and the Call-ID.
 * From and To name the destination (and the user) when to_dst/from_dst.
 */
enum style { STYLE_FULL, STYLE_COMPACT, STYLE_TIGHT, STYLE_N };

struct layout {
	const char *name;
	unsigned id_len;
	const char *via, *mf;
	const char *from_pre, *from_post;     /* from_pre [dst] from_post ID CRLF */
	bool from_dst;
	const char *to_pre, *to_post;         /* to_pre [user@dst] to_post */
	bool to_dst;
	const char *callid, *cseq, *clen;
	const char *pad_name;                 /* a padding header: "X-Pad: " or "X:" */
};

static const struct layout layouts[STYLE_N] = {
	[STYLE_FULL] = { "full", 12, "Via: SIP/2.0/UDP ", "Max-Forwards: 70\r\n",
			 "From: <sip:flood@", ">;tag=", true, "To: <sip:", ">\r\n", true,
			 "Call-ID: ", "CSeq: 1 ", "Content-Length: 0\r\n", "X-Pad: " },
	[STYLE_COMPACT] = { "compact", 8, "v: SIP/2.0/UDP ", "Max-Forwards: 70\r\n",
			    "f: <sip:f@a>;tag=", "", false, "t: <sip:", ">\r\n", true,
			    "i: ", "CSeq: 1 ", "", "X: " },
	[STYLE_TIGHT] = { "tight", 6, "v:SIP/2.0/UDP ", "Max-Forwards:70\r\n",
			  "f:sip:f@a;tag=", "", false, "t:sip:t@a\r\n", "", false,
			  "i:", "CSeq:1 ", "", "X:" },
};

struct opts {
	struct sockaddr_in dst;
	const char *dst_text, *src_text;
	uint32_t net, mask;            /* host order */
	unsigned sources;              /* 0: a random address of the range per packet */
	unsigned sport;                /* 0: random per packet */
	unsigned size, batch;
	char method[METHOD_MAX + 1];
	char user[USER_MAX + 1];
	bool user_set;
	double rate;                   /* 0: as fast as possible */
	double seconds;
	uint64_t count;                /* 0: until seconds */
	bool progress, no_csum;
	const char *iface;             /* packet-socket mode: send frames out of it */
	uint8_t dst_mac[6];
	bool dst_mac_set;
};

struct gen {
	const struct opts *o;
	const struct layout *l;
	char dst_ip[INET_ADDRSTRLEN];
	size_t dst_len, user_len, method_len;
	uint64_t rng, id_base;
	uint32_t next_src;
	uint16_t ip_id;
};

static volatile sig_atomic_t stopping;

static void stop_h(int sig)
{
	(void)sig;
	stopping = 1;
}

/* xorshift64*: the spoofed addresses and ports (not for anything secret). */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1Dull;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flood-gen --dst IP:PORT [options]\n"
		"\n"
		"Sends well-formed SIP requests over UDP from spoofed IPv4 source addresses,\n"
		"in sendmmsg batches, through a raw socket (IP_HDRINCL) or, with --iface, a\n"
		"packet socket (either needs CAP_NET_RAW); paced to a rate or as fast as\n"
		"possible, for a bounded time or count. Each packet has its own Via branch,\n"
		"From tag and Call-ID; small sizes use the compact header forms (layout=).\n"
		"At the end (or on SIGINT/SIGTERM) one line on stdout:\n"
		"  sent=N seconds=S rate=PPS errors=N behind=N size=B layout=L method=M\n"
		"  sources=random|N src=CIDR dst=IP:PORT mode=raw|packet\n"
		"(rate: sent per second; errors: packets the kernel refused, e.g. ENOBUFS\n"
		"when the receiver's backlog is full; behind: packets given up because the\n"
		"sender fell more than 2 ms behind the paced rate.)\n"
		"\n"
		"  -d, --dst IP:PORT     destination (required)\n"
		"  -s, --src CIDR        source range (default 198.18.0.0/15)\n"
		"  -n, --sources N       cycle over the first N addresses of the range\n"
		"                        (default 0: a new random address per packet)\n"
		"  -p, --sport PORT      UDP source port, also the Via port (default 5060;\n"
		"                        0: random per packet)\n"
		"  -S, --size BYTES      UDP payload size (default 172; at most %d); the\n"
		"                        request is padded to it with a header (X-Pad)\n"
		"  -m, --method NAME     request method (default OPTIONS), e.g. INVITE\n"
		"  -u, --user USER       Request-URI and To user (default: 1000 for INVITE,\n"
		"                        none otherwise)\n"
		"  -r, --rate PPS|max    packets per second, token paced (default max)\n"
		"  -t, --seconds S       run time (default 10, at most %d)\n"
		"  -c, --count N         stop after N packets (the time bound still holds)\n"
		"  -b, --batch N         packets per sendmmsg (default 64, at most %d)\n"
		"      --no-udp-csum     UDP checksum 0 (\"none\", legal over IPv4)\n"
		"  -i, --iface IF        packet-socket mode: whole Ethernet frames out of IF\n"
		"                        (PF_PACKET, qdisc bypassed: no route, netfilter or\n"
		"                        neighbour work per packet); needs --dst-mac\n"
		"  -M, --dst-mac MAC     the next hop's MAC address (packet-socket mode)\n"
		"  -P, --progress        a line per second on stderr\n"
		"  -h, --help            this text\n",
		PAYLOAD_MAX, MAX_SECONDS, BATCH_MAX);
}

/* An option error: "flood-gen: OPTION VALUE: WHY"; exit status 2. */
static int fail(const char *opt, const char *arg, const char *why)
{
	fprintf(stderr, "flood-gen: %s%s%s: %s\n", opt, arg ? " " : "", arg ? arg : "", why);
	return 2;
}

static bool parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	if (!s || !*s)
		return false;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !(v >= min && v <= max))
		return false;
	*out = v;
	return true;
}

/* "a.b.c.d:port" */
static bool parse_dst(struct opts *o, const char *s)
{
	char ip[INET_ADDRSTRLEN];
	const char *colon = strrchr(s, ':');
	unsigned long long port;

	if (!colon || (size_t)(colon - s) >= sizeof(ip))
		return false;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = '\0';
	if (!parse_uint(colon + 1, 65535, &port) || !port)
		return false;
	memset(&o->dst, 0, sizeof(o->dst));
	o->dst.sin_family = AF_INET;
	o->dst.sin_port = htons((uint16_t)port);
	return inet_pton(AF_INET, ip, &o->dst.sin_addr) == 1;
}

/* "a.b.c.d/len" (a bare address is /32) */
static bool parse_cidr(struct opts *o, const char *s)
{
	char ip[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	unsigned long long len = 32;
	struct in_addr a;
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n >= sizeof(ip))
		return false;
	memcpy(ip, s, n);
	ip[n] = '\0';
	if (inet_pton(AF_INET, ip, &a) != 1)
		return false;
	if (slash && !parse_uint(slash + 1, 32, &len))
		return false;
	o->mask = len ? ~0u << (32 - len) : 0;
	o->net = ntohl(a.s_addr) & o->mask;
	return true;
}

/* The hosts of the range: without its network and broadcast addresses when it has more than two. */
static uint64_t range_hosts(const struct opts *o)
{
	uint64_t n = (uint64_t)(~o->mask) + 1;

	return n > 2 ? n - 2 : n;
}

static uint32_t range_host(const struct opts *o, uint64_t i)
{
	uint64_t n = (uint64_t)(~o->mask) + 1;

	return o->net + (uint32_t)(n > 2 ? i + 1 : i);
}

static size_t u32_digits(uint32_t v)
{
	size_t n = 1;

	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static size_t ip_text_len(uint32_t a)
{
	return u32_digits(a >> 24) + u32_digits((a >> 16) & 255) + u32_digits((a >> 8) & 255) +
	       u32_digits(a & 255) + 3;
}

/*
 * The longest dotted-quad text of an address of the range (bounds the
 * request's length): each octet is at most that of the range's highest
 * address, and a larger number never has fewer digits.
 */
static size_t range_max_text(const struct opts *o)
{
	return ip_text_len(o->net | ~o->mask);
}

static char *put(char *p, const char *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static char *put_s(char *p, const char *s)
{
	return put(p, s, strlen(s));
}

static char *put_u32(char *p, uint32_t v)
{
	char tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

static char *put_ip(char *p, uint32_t a)
{
	p = put_u32(p, a >> 24);
	*p++ = '.';
	p = put_u32(p, (a >> 16) & 255);
	*p++ = '.';
	p = put_u32(p, (a >> 8) & 255);
	*p++ = '.';
	return put_u32(p, a & 255);
}

/* A fixed-width base-36 id (lower case letters and digits: a token in every header it goes in). */
static char *put_id(char *p, uint64_t v, unsigned width)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";

	for (unsigned i = width; i > 0; i--) {
		p[i - 1] = digits[v % 36];
		v /= 36;
	}
	return p + width;
}

/*
 * Length of the request from src:sport without padding. The layout's pieces
 * are constant; only the source address, the port and the user vary.
 */
static size_t request_len(const struct gen *g, const struct layout *l, size_t src_len,
			  size_t port_len)
{
	size_t user_at = g->user_len ? g->user_len + 1 : 0;

	return g->method_len + strlen(" sip:") + user_at + g->dst_len + strlen(" SIP/2.0\r\n") +
	       strlen(l->via) + src_len + 1 + port_len + strlen(";branch=z9hG4bK") + l->id_len + 2 +
	       strlen(l->mf) +
	       strlen(l->from_pre) + (l->from_dst ? g->dst_len : 0) + strlen(l->from_post) +
	       l->id_len + 2 +
	       strlen(l->to_pre) + (l->to_dst ? user_at + g->dst_len : 0) + strlen(l->to_post) +
	       strlen(l->callid) + l->id_len + 2 +
	       strlen(l->cseq) + g->method_len + 2 +
	       strlen(l->clen) + 2;
}

/* Smallest padding header of a layout: its name, one byte, CRLF. */
static size_t pad_min(const struct layout *l)
{
	return strlen(l->pad_name) + 3;
}

/*
 * Write the request from src:sport with id into p, exactly size bytes:
 * the gap is filled by a padding header before the end of the headers, or,
 * when the gap is shorter than the smallest such header, by a longer Call-ID.
 */
static void request_write(const struct gen *g, char *p, uint32_t src, uint16_t sport, uint64_t id)
{
	const struct layout *l = g->l;
	const struct opts *o = g->o;
	size_t len = request_len(g, l, ip_text_len(src), u32_digits(sport));
	size_t gap = o->size - len, callid_extra = gap < pad_min(l) ? gap : 0;

	p = put(p, o->method, g->method_len);
	p = put_s(p, " sip:");
	if (g->user_len) {
		p = put(p, o->user, g->user_len);
		*p++ = '@';
	}
	p = put(p, g->dst_ip, g->dst_len);
	p = put_s(p, " SIP/2.0\r\n");
	p = put_s(p, l->via);
	p = put_ip(p, src);
	*p++ = ':';
	p = put_u32(p, sport);
	p = put_s(p, ";branch=z9hG4bK");
	p = put_id(p, id, l->id_len);
	p = put_s(p, "\r\n");
	p = put_s(p, l->mf);
	p = put_s(p, l->from_pre);
	if (l->from_dst)
		p = put(p, g->dst_ip, g->dst_len);
	p = put_s(p, l->from_post);
	p = put_id(p, id, l->id_len);
	p = put_s(p, "\r\n");
	p = put_s(p, l->to_pre);
	if (l->to_dst) {
		if (g->user_len) {
			p = put(p, o->user, g->user_len);
			*p++ = '@';
		}
		p = put(p, g->dst_ip, g->dst_len);
	}
	p = put_s(p, l->to_post);
	p = put_s(p, l->callid);
	p = put_id(p, id, l->id_len);
	memset(p, 'x', callid_extra);
	p += callid_extra;
	p = put_s(p, "\r\n");
	p = put_s(p, l->cseq);
	p = put(p, o->method, g->method_len);
	p = put_s(p, "\r\n");
	if (gap && !callid_extra) {
		size_t name = strlen(l->pad_name), fill = gap - name - 2;

		p = put(p, l->pad_name, name);
		memset(p, 'a', fill);
		p += fill;
		p = put_s(p, "\r\n");
	}
	p = put_s(p, l->clen);
	p = put_s(p, "\r\n");
}

/* Ones' complement sum of len bytes, 16-bit big-endian words (RFC 1071), not folded. */
static uint64_t csum_add(uint64_t sum, const void *data, size_t len)
{
	const uint8_t *b = data;

	while (len >= 4) {
		sum += ((uint32_t)b[0] << 8 | b[1]) + ((uint32_t)b[2] << 8 | b[3]);
		b += 4;
		len -= 4;
	}
	while (len >= 2) {
		sum += (uint32_t)b[0] << 8 | b[1];
		b += 2;
		len -= 2;
	}
	if (len)
		sum += (uint32_t)b[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The next source address (host order) and port. */
static void next_source(struct gen *g, uint32_t *src, uint16_t *sport)
{
	const struct opts *o = g->o;
	uint64_t r = rng_next(&g->rng);

	if (o->sources) {
		*src = range_host(o, g->next_src);
		g->next_src = (g->next_src + 1) % o->sources;
	} else {
		*src = range_host(o, (r >> 16) % range_hosts(o));
	}
	*sport = o->sport ? (uint16_t)o->sport : (uint16_t)(1024 + (r & 0xffff) % (65536 - 1024));
}

/* One IPv4 + UDP + SIP packet into pkt (HDR_LEN + size bytes), checksums included. */
static void packet_build(struct gen *g, uint8_t *pkt, uint64_t seq)
{
	const struct opts *o = g->o;
	struct iphdr ip;
	struct udphdr udp;
	uint32_t src;
	uint16_t sport, ulen = (uint16_t)(8 + o->size);
	uint64_t sum;

	next_source(g, &src, &sport);
	request_write(g, (char *)pkt + HDR_LEN, src, sport, g->id_base + seq);

	memset(&ip, 0, sizeof(ip));
	ip.version = 4;
	ip.ihl = 5;
	ip.tot_len = htons((uint16_t)(HDR_LEN + o->size));
	if (++g->ip_id == 0)
		g->ip_id = 1;
	ip.id = htons(g->ip_id);
	ip.ttl = 64;
	ip.protocol = IPPROTO_UDP;
	ip.saddr = htonl(src);
	ip.daddr = o->dst.sin_addr.s_addr;
	ip.check = htons(csum_fold(csum_add(0, &ip, sizeof(ip))));
	memcpy(pkt, &ip, sizeof(ip));

	udp.source = htons(sport);
	udp.dest = o->dst.sin_port;
	udp.len = htons(ulen);
	udp.check = 0;
	if (!o->no_csum) {
		/* pseudo-header: addresses, protocol, UDP length; then header and payload */
		sum = csum_add(0, &ip.saddr, 8);
		sum += IPPROTO_UDP + ulen;
		sum = csum_add(sum, &udp, sizeof(udp));
		sum = csum_add(sum, pkt + HDR_LEN, o->size);
		udp.check = htons(csum_fold(sum));
		if (!udp.check)
			udp.check = 0xffff;     /* 0 means "no checksum" (RFC 768) */
	}
	memcpy(pkt + sizeof(ip), &udp, sizeof(udp));
}

static int raw_socket(void)
{
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW), on = 1, buf = 8 * 1024 * 1024;

	if (fd == -1) {
		int e = errno;

		if (e == EPERM || e == EACCES)
			fprintf(stderr, "flood-gen: raw socket: %s: sending spoofed packets needs "
				"CAP_NET_RAW (run as root)\n", strerror(e));
		else
			fprintf(stderr, "flood-gen: raw socket: %s\n", strerror(e));
		return -1;
	}
	if (setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &on, sizeof(on)) == -1) {
		fprintf(stderr, "flood-gen: IP_HDRINCL: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) == -1)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	return fd;
}

/* "aa:bb:cc:dd:ee:ff" */
static bool parse_mac(uint8_t mac[6], const char *s)
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
		   &tail) != 6)
		return false;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	return true;
}

/*
 * Packet-socket mode: a PF_PACKET socket bound to iface that sends whole
 * Ethernet frames to dst_mac straight to the driver (PACKET_QDISC_BYPASS):
 * no route lookup, netfilter or neighbour work per packet, so a core sends
 * more. Fills eth (the frame header every packet starts with).
 */
static int packet_socket(const struct opts *o, uint8_t eth[ETH_LEN])
{
	struct sockaddr_ll sll;
	struct ifreq ifr;
	int fd = socket(AF_PACKET, SOCK_RAW, 0), on = 1, buf = 8 * 1024 * 1024;
	uint16_t type = htons(ETH_P_IP);

	if (fd == -1) {
		int e = errno;

		fprintf(stderr, "flood-gen: packet socket: %s%s\n", strerror(e),
			e == EPERM || e == EACCES ? ": needs CAP_NET_RAW (run as root)" : "");
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	if (strlen(o->iface) >= sizeof(ifr.ifr_name)) {
		fprintf(stderr, "flood-gen: --iface %s: name too long\n", o->iface);
		goto out_close;
	}
	memcpy(ifr.ifr_name, o->iface, strlen(o->iface) + 1);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) == -1) {
		fprintf(stderr, "flood-gen: --iface %s: %s\n", o->iface, strerror(errno));
		goto out_close;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = ifr.ifr_ifindex;
	sll.sll_protocol = 0;               /* send only: receive nothing */
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) == -1) {
		fprintf(stderr, "flood-gen: --iface %s: hardware address: %s\n", o->iface,
			strerror(errno));
		goto out_close;
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == -1) {
		fprintf(stderr, "flood-gen: bind to %s: %s\n", o->iface, strerror(errno));
		goto out_close;
	}
	setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &on, sizeof(on));
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof(buf)) == -1)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	memcpy(eth, o->dst_mac, 6);
	memcpy(eth + 6, ifr.ifr_hwaddr.sa_data, 6);
	memcpy(eth + 12, &type, 2);
	return fd;

out_close:
	close(fd);
	return -1;
}

/* Set up the generator; 0, or 2 with a message when the size cannot hold the request. */
static int gen_init(struct gen *g, const struct opts *o)
{
	size_t src_max = range_max_text(o), port_len = o->sport ? u32_digits(o->sport) : 5;
	uint64_t seed = time_mono_ns() ^ ((uint64_t)getpid() << 32);
	size_t need = 0;

	memset(g, 0, sizeof(*g));
	g->o = o;
	inet_ntop(AF_INET, &o->dst.sin_addr, g->dst_ip, sizeof(g->dst_ip));
	g->dst_len = strlen(g->dst_ip);
	g->user_len = strlen(o->user);
	g->method_len = strlen(o->method);
	for (int s = 0; s < STYLE_N; s++) {
		need = request_len(g, &layouts[s], src_max, port_len);
		if (need <= o->size) {
			g->l = &layouts[s];
			break;
		}
	}
	if (!g->l) {
		fprintf(stderr, "flood-gen: --size %u is too small for a %s request from %s "
			"(the shortest layout needs %zu bytes)\n", o->size, o->method, o->src_text,
			need);
		return 2;
	}
	g->rng = seed | 1;
	for (int i = 0; i < 8; i++)
		rng_next(&g->rng);
	/* ids unique within the run, and most likely across runs */
	g->id_base = rng_next(&g->rng) >> 20;
	return 0;
}

static void progress_line(uint64_t t0, uint64_t now, uint64_t sent, uint64_t *last_t,
			  uint64_t *last_sent)
{
	double dt = (double)(now - *last_t) / 1e9;

	fprintf(stderr, "t=%.1f sent=%" PRIu64 " rate=%.0f\n", (double)(now - t0) / 1e9, sent,
		dt > 0 ? (double)(sent - *last_sent) / dt : 0.0);
	*last_t = now;
	*last_sent = sent;
}

/*
 * Send until the time or the count is reached or a signal comes. With a
 * rate, packet k is due at t0 + k/rate; a sender that falls more than
 * BURST_MS behind gives up the excess (counted as "behind") rather than
 * bursting to catch up.
 */
static int run(struct gen *g, int fd, const uint8_t *eth)
{
	static uint8_t pkts[BATCH_MAX][ETH_LEN + HDR_LEN + PAYLOAD_MAX];
	static struct mmsghdr msgs[BATCH_MAX];
	static struct iovec iov[BATCH_MAX];
	const struct opts *o = g->o;
	uint64_t t0, end, now, issued = 0, sent = 0, errors = 0, behind = 0, seq = 0;
	uint64_t last_t, last_sent = 0, next_progress;
	uint64_t credit = o->rate > 0 ? (uint64_t)(o->rate * BURST_MS / 1000) : 0;
	size_t off = eth ? ETH_LEN : 0;
	unsigned want = 1;
	int rc = 0;

	if (credit < o->batch)
		credit = o->batch;
	if (o->rate >= (double)o->batch * 1000)
		want = o->batch;        /* a batch at least every ms: send full batches */
	for (unsigned i = 0; i < o->batch; i++) {
		if (eth)
			memcpy(pkts[i], eth, ETH_LEN);
		iov[i].iov_base = pkts[i];
		iov[i].iov_len = off + HDR_LEN + o->size;
		msgs[i].msg_hdr.msg_name = eth ? NULL : (void *)&o->dst;
		msgs[i].msg_hdr.msg_namelen = eth ? 0 : sizeof(o->dst);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	t0 = last_t = time_mono_ns();
	end = t0 + (uint64_t)(o->seconds * 1e9);
	next_progress = t0 + 1000000000u;
	while (!stopping) {
		uint64_t n = o->batch;
		int r;

		now = time_mono_ns();
		if (now >= end || (o->count && issued >= o->count))
			break;
		if (o->progress && now >= next_progress) {
			progress_line(t0, now, sent, &last_t, &last_sent);
			next_progress += 1000000000u;
		}
		if (o->rate > 0) {
			uint64_t due = (uint64_t)((double)(now - t0) * o->rate / 1e9);

			if (due > issued + credit) {
				behind += due - issued - credit;
				issued = due - credit;
			}
			if (due < issued + want) {
				/* sleep until `want` more packets are due (or the end) */
				uint64_t at = t0 + (uint64_t)((double)(issued + want) * 1e9 / o->rate);
				struct timespec ts;

				if (at > end)
					at = end;
				ts.tv_sec = (time_t)(at / 1000000000u);
				ts.tv_nsec = (long)(at % 1000000000u);
				clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
				continue;
			}
			n = due - issued;
			if (n > o->batch)
				n = o->batch;
		}
		if (o->count && n > o->count - issued)
			n = o->count - issued;
		for (unsigned i = 0; i < n; i++)
			packet_build(g, pkts[i] + off, seq++);
		/*
		 * sendmmsg stops at the first packet the kernel refuses: -1 if
		 * it is the first, else the count before it. A refused packet
		 * (ENOBUFS: in packet mode the receiver's backlog was full) counts
		 * as an error; the ones after it are built again next turn.
		 */
		r = sendmmsg(fd, msgs, (unsigned)n, 0);
		if (r == -1) {
			int e = errno;

			if (e == EINTR)
				continue;
			if (e == ENOBUFS || e == EAGAIN || e == ENOMEM) {
				errors++;
				issued++;
				continue;
			}
			if (e == EPERM || e == EACCES)
				fprintf(stderr, "flood-gen: sendmmsg: %s (a firewall rule, or no "
					"CAP_NET_RAW)\n", strerror(e));
			else if (e == ENETUNREACH || e == EHOSTUNREACH)
				fprintf(stderr, "flood-gen: sendmmsg: %s: no route to %s\n",
					strerror(e), o->dst_text);
			else
				fprintf(stderr, "flood-gen: sendmmsg: %s\n", strerror(e));
			rc = 1;
			break;
		}
		sent += (unsigned)r;
		issued += (unsigned)r;
		if ((uint64_t)r < n) {
			errors++;
			issued++;
		}
	}
	now = time_mono_ns();
	if (o->progress)
		progress_line(t0, now, sent, &last_t, &last_sent);
	printf("sent=%" PRIu64 " seconds=%.3f rate=%.0f errors=%" PRIu64 " behind=%" PRIu64
	       " size=%u layout=%s method=%s sources=", sent, (double)(now - t0) / 1e9,
	       now > t0 ? (double)sent * 1e9 / (double)(now - t0) : 0.0, errors, behind, o->size,
	       g->l->name, o->method);
	if (o->sources)
		printf("%u", o->sources);
	else
		printf("random");
	printf(" src=%s dst=%s mode=%s\n", o->src_text, o->dst_text, eth ? "packet" : "raw");
	fflush(stdout);
	return rc;
}

static bool method_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > METHOD_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(s[i] >= 'A' && s[i] <= 'Z'))
			return false;
	return true;
}

static bool user_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > USER_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '-' || c == '.' || c == '_'))
			return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	enum { OPT_NO_CSUM = 256 };
	static const struct option longopts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "src", required_argument, NULL, 's' },
		{ "sources", required_argument, NULL, 'n' },
		{ "sport", required_argument, NULL, 'p' },
		{ "size", required_argument, NULL, 'S' },
		{ "method", required_argument, NULL, 'm' },
		{ "user", required_argument, NULL, 'u' },
		{ "rate", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 't' },
		{ "count", required_argument, NULL, 'c' },
		{ "batch", required_argument, NULL, 'b' },
		{ "no-udp-csum", no_argument, NULL, OPT_NO_CSUM },
		{ "iface", required_argument, NULL, 'i' },
		{ "dst-mac", required_argument, NULL, 'M' },
		{ "progress", no_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .size = 172, .batch = 64, .seconds = 10, .sport = 5060,
			  .method = "OPTIONS", .src_text = "198.18.0.0/15" };
	struct sigaction sa;
	struct gen g;
	uint8_t eth[ETH_LEN];
	unsigned long long v;
	int c, fd, rc;

	while ((c = getopt_long(argc, argv, "d:s:n:p:S:m:u:r:t:c:b:i:M:Ph", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.dst_text = optarg;
			if (!parse_dst(&o, optarg))
				return fail("--dst", optarg, "not an IPv4 address and port (a.b.c.d:port)");
			break;
		case 's':
			o.src_text = optarg;
			break;
		case 'n':
			if (!parse_uint(optarg, 16777216, &v))
				return fail("--sources", optarg, "not a count from 0 to 16777216");
			o.sources = (unsigned)v;
			break;
		case 'p':
			if (!parse_uint(optarg, 65535, &v))
				return fail("--sport", optarg, "not a port (0-65535)");
			o.sport = (unsigned)v;
			break;
		case 'S':
			if (!parse_uint(optarg, PAYLOAD_MAX, &v) || !v)
				return fail("--size", optarg, "not a payload size (1-1472 bytes)");
			o.size = (unsigned)v;
			break;
		case 'm':
			if (!method_ok(optarg))
				return fail("--method", optarg, "not a method (A-Z, 1-16 letters)");
			memcpy(o.method, optarg, strlen(optarg) + 1);
			break;
		case 'u':
			if (!user_ok(optarg))
				return fail("--user", optarg, "at most 32 of a-z A-Z 0-9 + - . _");
			memcpy(o.user, optarg, strlen(optarg) + 1);
			o.user_set = true;
			break;
		case 'r':
			if (!strcmp(optarg, "max") || !strcmp(optarg, "0"))
				o.rate = 0;
			else if (!parse_double(optarg, 1, 1e9, &o.rate))
				return fail("--rate", optarg, "packets per second (1-1e9) or max");
			break;
		case 't':
			if (!parse_double(optarg, 0.001, MAX_SECONDS, &o.seconds))
				return fail("--seconds", optarg, "from 0.001 to 3600");
			break;
		case 'c':
			if (!parse_uint(optarg, UINT64_MAX, &v) || !v)
				return fail("--count", optarg, "a positive count");
			o.count = v;
			break;
		case 'b':
			if (!parse_uint(optarg, BATCH_MAX, &v) || !v)
				return fail("--batch", optarg, "from 1 to 1024");
			o.batch = (unsigned)v;
			break;
		case 'i':
			o.iface = optarg;
			break;
		case 'M':
			if (!parse_mac(o.dst_mac, optarg))
				return fail("--dst-mac", optarg, "not a MAC address (aa:bb:cc:dd:ee:ff)");
			o.dst_mac_set = true;
			break;
		case OPT_NO_CSUM:
			o.no_csum = true;
			break;
		case 'P':
			o.progress = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		return fail("unexpected argument", argv[optind], "see --help");
	if (!o.dst_text)
		return fail("--dst", NULL, "IP:PORT is required (see --help)");
	if (!o.iface != !o.dst_mac_set)
		return fail("--iface", o.iface, "packet-socket mode needs both --iface and --dst-mac");
	if (!parse_cidr(&o, o.src_text))
		return fail("--src", o.src_text, "not an IPv4 range (a.b.c.d/len)");
	if (o.sources && o.sources > range_hosts(&o))
		return fail("--sources", NULL, "more addresses than the --src range holds");
	if (!o.user_set && !strcmp(o.method, "INVITE"))
		memcpy(o.user, "1000", 5);
	rc = gen_init(&g, &o);
	if (rc)
		return rc;
	fd = o.iface ? packet_socket(&o, eth) : raw_socket();
	if (fd == -1)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_h;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	rc = run(&g, fd, o.iface ? eth : NULL);
	close(fd);
	return rc;
}
