/* transp: SIP over the zones' UDP, TCP and TLS sockets: framing, ingress checks, stateless rejections, sending. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/net.h"
#include "sip_int.h"

enum { SIP_MAX_ZONES = 4 };

struct transp_zone;

/* What a stream's callbacks get as their argument: the zone and the transport. */
struct stream_ctx {
	struct transp_zone *z;
	enum sip_proto proto;
};

struct transp_zone {
	struct sip_transp *t;
	unsigned idx;
	bool used;
	char name[16];
	char host[NET_ADDRSTRLEN];
	struct sockaddr_storage addr;
	uint16_t port[SIP_PROTO__COUNT];
	struct net_udp *udp;
	struct net_stream *stream[SIP_PROTO__COUNT];   /* TCP and TLS */
	struct stream_ctx sctx[SIP_PROTO__COUNT];
	struct sip_transp_police police;
};

struct sip_transp {
	struct event_base *base;
	struct net_stream_cfg scfg;
	sip_transp_recv_h *rh;
	void *arg;
	sip_transp_fail_h *fh;      /* connections we opened that never came up */
	void *farg;
	struct transp_zone zones[SIP_MAX_ZONES];
	struct sip_transp_stats stats;
	sip_transp_trace_h *th;     /* the SIP trace, NULL when off */
	void *tharg;
	unsigned conns;             /* TCP and TLS connections of all zones ([sip] max_connections) */
	struct sip_msg *msg;        /* scratch message for input, reused */
	struct sip_msg *fmsg;       /* scratch message for stream framing */
	const char *fdata;          /* what fmsg holds, so input need not decode twice */
	size_t flen;
	char out[SIP_MAX_MSG];
};

static const char *const reject_names[SIP_REJ__COUNT] = {
	[SIP_REJ_OVERSIZED] = "oversized",
	[SIP_REJ_MALFORMED] = "malformed",
	[SIP_REJ_BAD_REQUEST] = "bad_request",
	[SIP_REJ_BAD_CLEN] = "bad_content_length",
	[SIP_REJ_VERSION] = "bad_version",
	[SIP_REJ_MAX_FORWARDS] = "max_forwards",
	[SIP_REJ_BAD_RESPONSE] = "bad_response",
	[SIP_REJ_NOT_OUR_VIA] = "not_our_via",
};

const char *sip_reject_name(enum sip_reject r)
{
	return (unsigned)r < SIP_REJ__COUNT ? reject_names[r] : "?";
}

enum { STAT_OTHER = SIP_STAT_METHODS - 1 };

static const char *const stat_method_names[SIP_STAT_METHODS] = {
	"INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "PRACK", "UPDATE", "INFO",
	"REFER", "SUBSCRIBE", "NOTIFY", "MESSAGE", "other",
};

/* enum sip_method -> index of stat_method_names; one array read per message. */
static const uint8_t stat_method_idx[SIP_METHOD__COUNT] = {
	[SIP_METHOD_UNKNOWN] = STAT_OTHER,
	[SIP_METHOD_INVITE] = 0,
	[SIP_METHOD_ACK] = 1,
	[SIP_METHOD_BYE] = 2,
	[SIP_METHOD_CANCEL] = 3,
	[SIP_METHOD_REGISTER] = 4,
	[SIP_METHOD_OPTIONS] = 5,
	[SIP_METHOD_PRACK] = 6,
	[SIP_METHOD_UPDATE] = 7,
	[SIP_METHOD_INFO] = 8,
	[SIP_METHOD_REFER] = 9,
	[SIP_METHOD_SUBSCRIBE] = 10,
	[SIP_METHOD_NOTIFY] = 11,
	[SIP_METHOD_MESSAGE] = 12,
	[SIP_METHOD_PUBLISH] = STAT_OTHER,
};

unsigned sip_stat_method(enum sip_method m)
{
	return (unsigned)m < SIP_METHOD__COUNT ? stat_method_idx[m] : STAT_OTHER;
}

const char *sip_stat_method_name(unsigned i)
{
	return i < SIP_STAT_METHODS ? stat_method_names[i] : "?";
}

/* Response class index of a status code: 0 for 1xx ... 5 for 6xx, SIP_STAT_CLASSES if none. */
static unsigned stat_class(unsigned scode)
{
	return scode >= 100 && scode < 700 ? scode / 100 - 1 : SIP_STAT_CLASSES;
}

static void transp_destroy(void *data)
{
	struct sip_transp *t = data;

	for (unsigned z = 0; z < SIP_MAX_ZONES; z++) {
		mem_deref(t->zones[z].udp);
		for (unsigned p = 0; p < SIP_PROTO__COUNT; p++)
			mem_deref(t->zones[z].stream[p]);
	}
	mem_deref(t->msg);
	mem_deref(t->fmsg);
}

int sip_transp_alloc(struct sip_transp **tp, struct event_base *base,
		     const struct net_stream_cfg *scfg, sip_transp_recv_h *rh, void *arg)
{
	struct sip_transp *t = mem_zalloc(sizeof(*t), transp_destroy);
	int err;

	if (!t)
		return ENOMEM;
	t->base = base;
	t->scfg = *scfg;
	t->scfg.max_msg = SIP_MAX_MSG;
	t->scfg.shared_active = &t->conns;
	t->rh = rh;
	t->arg = arg;
	for (unsigned z = 0; z < SIP_MAX_ZONES; z++) {
		t->zones[z].t = t;
		t->zones[z].idx = z;
	}
	err = sip_msg_alloc(&t->msg);
	if (!err)
		err = sip_msg_alloc(&t->fmsg);
	if (err) {
		mem_deref(t);
		return err;
	}
	*tp = t;
	return 0;
}

static void log_reject(const struct sip_transp *t, unsigned zone, enum sip_reject r,
		       const struct sockaddr_storage *src, const char *why, const char *data,
		       size_t len)
{
	char sa[NET_ADDRSTRLEN], ex[LOG_EXCERPT_MAX * 4 + 8];

	if (!log_enabled(LOG_LVL_DEBUG))
		return;
	log_excerpt(ex, sizeof(ex), data, len);
	log_debug("%s: %s from %s: %s: %s", t->zones[zone].name, reject_names[r],
		  net_sa_str(src, sa, sizeof(sa)), why ? why : "-", ex);
}

/*
 * To-tag for a stateless response: derived from the Call-ID and the top
 * branch, so a retransmitted request gets the same tag (RFC 3261 8.2.6.2).
 */
/* Answer a request without a transaction (rejections before the transaction layer). */
int sip_transp_reply(struct sip_transp *t, const struct sip_msg *req, uint16_t scode,
		     const char *reason, const struct pl *extra)
{
	struct sip_peer dst;
	char tag[32];
	struct pl totag;
	struct wbuf wb;
	int err;

	if (req->mid == SIP_METHOD_ACK)
		return 0;   /* never answer an ACK */
	err = sip_reply_dest(req, &dst);
	if (err)
		return err;
	sip_stateless_tag(req, tag, sizeof(tag));
	totag = pl_from_str(tag);
	wbuf_init(&wb, t->out, sizeof(t->out));
	err = sip_reply_build(req, scode, reason, &totag, extra, &wb);
	if (err)
		return err;
	return sip_transp_send(t, &dst, wb.p, wb.len);
}

static void reject(struct sip_transp *t, unsigned zone, enum sip_reject r, struct sip_msg *msg,
		   const struct sockaddr_storage *src, const char *data, size_t len,
		   uint16_t scode)
{
	const struct sip_transp_police *p = &t->zones[zone].police;

	t->stats.rejected[r]++;
	log_reject(t, zone, r, src, msg ? msg->error : NULL, data, len);
	if (p->rejected)
		p->rejected(src, r, p->arg);
	if (scode && msg)
		sip_transp_reply(t, msg, scode, msg->error, NULL);
}

/* Is the response's top Via one we wrote (RFC 3261 18.1.2)? */
static bool via_is_ours(const struct transp_zone *z, const struct sip_via *via)
{
	enum sip_proto p;
	uint16_t port;

	if (!pl_eq_str(&via->host, z->host) || sip_proto_lookup(&via->transport, &p))
		return false;
	port = via->port ? via->port : (p == SIP_PROTO_TLS ? 5061 : 5060);
	for (unsigned i = 0; i < SIP_PROTO__COUNT; i++) {
		if (z->port[i] == port)
			return true;
	}
	return false;
}

static bool all_crlf(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\r' && data[i] != '\n')
			return false;
	}
	return true;
}

/* Hand one message to the trace with the zone's side of it: its address and listening port. */
static void trace(struct sip_transp *t, const struct transp_zone *z, enum sip_proto proto,
		  bool out, const struct sockaddr_storage *remote, const char *data, size_t len)
{
	struct sockaddr_storage local = z->addr;
	struct sip_trace_pkt pkt = {
		.local = &local, .remote = remote, .data = data, .len = len,
		.zone = z->idx, .proto = proto, .out = out,
	};

	net_sa_set_port(&local, z->port[proto]);
	t->th(&pkt, t->tharg);
}

/*
 * Every message from every socket comes through here: decode, the ingress
 * checks of RFC 3261 8.2 / 18.1.2 / 18.3, the source written into msg->src,
 * then the receive handler. Requests that fail a check are answered
 * statelessly (400, 483, 505); responses that fail are dropped.
 */
void sip_transp_input(struct sip_transp *t, unsigned zone, enum sip_proto proto,
		      uint32_t conn_id, const struct sockaddr_storage *src, const char *data,
		      size_t len)
{
	struct transp_zone *z = &t->zones[zone];
	struct sip_msg *msg = t->msg;
	const struct sip_via *via;
	int err;

	if (z->police.pre && !z->police.pre(src, data, len, z->police.arg)) {
		t->stats.policed++;
		t->fdata = NULL;
		return;
	}
	if (proto == SIP_PROTO_UDP && all_crlf(data, len)) {
		t->stats.rx_keepalives++;
		return;
	}
	if (t->th)
		trace(t, z, proto, false, src, data, len);
	if (proto != SIP_PROTO_UDP && data == t->fdata && len == t->flen) {
		msg = t->fmsg;   /* the framing step decoded it already */
		err = 0;
	} else {
		err = sip_msg_decode_raw(msg, data, len, 0, NULL);
	}
	t->fdata = NULL;
	msg->src.addr = *src;
	msg->src.proto = (uint8_t)proto;
	msg->src.zone = (uint8_t)zone;
	msg->src.conn_id = conn_id;
	if (err == EMSGSIZE) {
		reject(t, zone, SIP_REJ_OVERSIZED, NULL, src, data, len, 0);
		return;
	}
	if (err) {
		/* a whole header block with bad framing is still answerable */
		if (err == EBADMSG && msg->req && sip_msg_headers_ok(msg)) {
			const char *why = msg->error;

			if (!sip_msg_check(msg)) {
				msg->error = why;
				reject(t, zone, SIP_REJ_BAD_CLEN, msg, src, data, len, 400);
				return;
			}
		}
		reject(t, zone, SIP_REJ_MALFORMED, NULL, src, data, len, 0);
		return;
	}
	if (!msg->req) {
		unsigned c = stat_class(msg->scode);

		t->stats.rx_responses++;
		if (c < SIP_STAT_CLASSES)
			t->stats.classes_rx[c]++;
		if (sip_msg_check(msg)) {
			reject(t, zone, SIP_REJ_BAD_RESPONSE, NULL, src, data, len, 0);
			return;
		}
		if (sip_msg_via_top(msg, &via) || !via_is_ours(z, via)) {
			reject(t, zone, SIP_REJ_NOT_OUR_VIA, NULL, src, data, len, 0);
			return;
		}
		t->rh(msg, t->arg);
		return;
	}
	t->stats.rx_requests++;
	t->stats.methods_rx[sip_stat_method(msg->mid)]++;
	err = sip_msg_check(msg);
	if (err == EPROTONOSUPPORT) {
		/* a 505 needs the headers a response is built from */
		const char *why = msg->error;

		msg->ver_ok = true;
		err = sip_msg_check(msg);
		msg->ver_ok = false;
		msg->error = why;
		reject(t, zone, SIP_REJ_VERSION, err ? NULL : msg, src, data, len, 505);
		return;
	}
	if (err) {
		/* without a Via that parses there is no one to answer */
		bool answerable = !sip_msg_via_top(msg, &via);

		reject(t, zone, SIP_REJ_BAD_REQUEST, answerable ? msg : NULL, src, data, len, 400);
		return;
	}
	if (msg->first[SIP_HDR_MAX_FORWARDS] >= 0) {
		uint32_t mf = 1;
		const struct sip_uri *ruri;

		sip_msg_max_forwards(msg, &mf);
		if (mf == 0 && !(msg->mid == SIP_METHOD_OPTIONS && !sip_msg_ruri(msg, &ruri) &&
				 sip_transp_uri_is_local(t, zone, ruri))) {
			msg->error = "Too Many Hops";
			reject(t, zone, SIP_REJ_MAX_FORWARDS, msg, src, data, len, 483);
			return;
		}
	}
	t->rh(msg, t->arg);
}

static void udp_recv(const struct sockaddr_storage *src, char *data, size_t len, bool truncated,
		     void *arg)
{
	struct transp_zone *z = arg;

	if (truncated) {
		z->t->stats.rejected[SIP_REJ_OVERSIZED]++;
		if (z->police.rejected)
			z->police.rejected(src, SIP_REJ_OVERSIZED, z->police.arg);
		return;
	}
	sip_transp_input(z->t, z->idx, SIP_PROTO_UDP, 0, src, data, len);
}

/* Stream framing by Content-Length; the decoded message is kept for input. */
static int stream_frame(const char *data, size_t len, size_t *skip, size_t *msglen, void *arg)
{
	struct stream_ctx *sc = arg;
	struct sip_transp *t = sc->z->t;
	size_t consumed = 0;
	int err = sip_msg_decode_raw(t->fmsg, data, len, SIP_DECODE_STREAM, &consumed);

	t->fdata = NULL;
	if (err == ENODATA) {
		/*
		 * consumed counts leading CRLFs (keep-alives) even without a
		 * message. Fewer than 4 with nothing after them stay buffered:
		 * half a CRLFCRLF ping split over two segments (RFC 5626 4.4.1).
		 */
		*skip = (consumed && all_crlf(data, consumed) && (consumed >= 4 || consumed < len)) ?
			consumed : 0;
		return ENODATA;
	}
	if (err) {
		t->stats.rejected[err == EMSGSIZE ? SIP_REJ_OVERSIZED : SIP_REJ_MALFORMED]++;
		return err;
	}
	*skip = (size_t)(t->fmsg->base - data);
	*msglen = t->fmsg->len;
	t->fdata = t->fmsg->base;
	t->flen = t->fmsg->len;
	return 0;
}

static void stream_recv(struct net_conn *c, const char *data, size_t len, void *arg)
{
	struct stream_ctx *sc = arg;

	sip_transp_input(sc->z->t, sc->z->idx, sc->proto, net_conn_id(c), net_conn_peer(c),
			 data, len);
}

/* RFC 5626 4.4.1: a CRLFCRLF ping is answered with a CRLF pong. */
static void stream_ping(struct net_conn *c, size_t crlfs, void *arg)
{
	struct stream_ctx *sc = arg;

	(void)crlfs;
	sc->z->t->stats.rx_keepalives++;
	net_conn_send(c, "\r\n", 2);
}

/* A connection we opened never came up: tell the owner which destination failed. */
/* A connection to one of a zone's listeners: its police (the guard) may refuse the source. */
static bool stream_admit(const struct sockaddr_storage *peer, void *arg)
{
	struct stream_ctx *sc = arg;
	const struct sip_transp_police *p = &sc->z->police;

	if (!p->admit || p->admit(peer, p->arg))
		return true;
	sc->z->t->stats.policed_conns++;
	return false;
}

static void stream_fail(uint32_t conn_id, const struct sockaddr_storage *addr, int err, void *arg)
{
	struct stream_ctx *sc = arg;
	struct sip_transp *t = sc->z->t;
	struct sip_peer peer = {
		.addr = *addr,
		.conn_id = conn_id,
		.proto = (uint8_t)sc->proto,
		.zone = (uint8_t)sc->z->idx,
	};
	char sa[NET_ADDRSTRLEN];

	t->stats.conn_failures++;
	log_debug("%s: %s connection to %s failed: %s", sc->z->name, sip_proto_name(sc->proto),
		  net_sa_str(addr, sa, sizeof(sa)), strerror(err));
	if (t->fh)
		t->fh(&peer, err, t->farg);
}

/*
 * Who hears about connections the transport opened that failed before
 * they came up (see sip_transp_fail_h); NULL stops it.
 */
void sip_transp_police_set(struct sip_transp *t, unsigned zone, const struct sip_transp_police *p)
{
	if (zone < SIP_MAX_ZONES)
		t->zones[zone].police = p ? *p : (struct sip_transp_police){ 0 };
}

/* The SIP trace's hook: every message into the parser and every one sent (see sip_trace_pkt). */
void sip_transp_trace_set(struct sip_transp *t, sip_transp_trace_h *th, void *arg)
{
	t->th = th;
	t->tharg = th ? arg : NULL;
}

void sip_transp_fail_set(struct sip_transp *t, sip_transp_fail_h *fh, void *arg)
{
	t->fh = fh;
	t->farg = arg;
}

/* Open the zone's listeners; any that cannot be opened fails the whole zone. */
int sip_transp_zone_add(struct sip_transp *t, unsigned zone, const struct sip_transp_zone *zc)
{
	struct transp_zone *z;
	struct sockaddr_storage sa;
	int err;

	if (zone >= SIP_MAX_ZONES || t->zones[zone].used)
		return EINVAL;
	z = &t->zones[zone];
	z->used = true;
	snprintf(z->name, sizeof(z->name), "%s", zc->name);
	snprintf(z->host, sizeof(z->host), "%s", zc->host);
	z->addr = zc->addr;
	memcpy(z->port, zc->port, sizeof(z->port));
	sa = zc->addr;
	if (zc->port[SIP_PROTO_UDP]) {
		net_sa_set_port(&sa, zc->port[SIP_PROTO_UDP]);
		err = net_udp_alloc(&z->udp, t->base, &sa, udp_recv, z);
		if (err)
			return err;
	}
	for (unsigned p = SIP_PROTO_TCP; p < SIP_PROTO__COUNT; p++) {
		if (!zc->port[p])
			continue;
		if (p == SIP_PROTO_TLS && !zc->tls)
			return EINVAL;
		net_sa_set_port(&sa, zc->port[p]);
		z->sctx[p].z = z;
		z->sctx[p].proto = (enum sip_proto)p;
		err = net_stream_alloc(&z->stream[p], t->base, &sa,
				       p == SIP_PROTO_TLS ? zc->tls : NULL, &t->scfg,
				       stream_frame, stream_recv, stream_ping, &z->sctx[p]);
		if (err)
			return err;
		net_stream_set_fail(z->stream[p], stream_fail);
		net_stream_set_accept(z->stream[p], stream_admit, &z->sctx[p]);
	}
	return 0;
}

void sip_transp_zone_set_tls(struct sip_transp *t, unsigned zone, SSL_CTX *tls)
{
	if (zone < SIP_MAX_ZONES && t->zones[zone].stream[SIP_PROTO_TLS])
		net_stream_set_tls(t->zones[zone].stream[SIP_PROTO_TLS], tls);
}

/*
 * Count a message sent by its method or response class. Its start line is
 * ours: "SIP/2.0 NNN" or "METHOD SP"; CRLF keep-alives count as neither.
 */
static void count_tx(struct sip_transp_stats *st, const char *data, size_t len)
{
	const char *sp;
	struct pl name;

	if (len > 11 && memcmp(data, "SIP/2.0 ", 8) == 0) {
		if (data[8] >= '1' && data[8] <= '6')
			st->classes_tx[data[8] - '1']++;
		return;
	}
	sp = memchr(data, ' ', MIN(len, 32));
	if (!sp)
		return;
	name.p = data;
	name.l = (size_t)(sp - data);
	st->methods_tx[sip_stat_method(sip_method_lookup(&name))]++;
}

/*
 * Where a message really went: on a stream, the peer of the connection
 * used (a response's dst names its Via, not always the connection's far end).
 */
static const struct sockaddr_storage *sent_to(struct transp_zone *z, const struct sip_peer *dst,
					      uint32_t used)
{
	struct net_conn *c;

	if (dst->proto == SIP_PROTO_UDP || !used)
		return &dst->addr;
	c = net_stream_conn(z->stream[dst->proto], used);
	return c ? net_conn_peer(c) : &dst->addr;
}

/* Send bytes to a peer on the zone and transport it names. */
int sip_transp_send(struct sip_transp *t, const struct sip_peer *dst, const char *data,
		    size_t len)
{
	struct transp_zone *z;
	uint32_t used = 0;
	int err;

	if (dst->zone >= SIP_MAX_ZONES || dst->proto >= SIP_PROTO__COUNT)
		return EINVAL;
	z = &t->zones[dst->zone];
	if (z->police.sent)
		z->police.sent(&dst->addr, data, len, z->police.arg);
	if (dst->proto == SIP_PROTO_UDP)
		err = z->udp ? net_udp_send(z->udp, &dst->addr, data, len) : ENOTCONN;
	else
		err = z->stream[dst->proto] ?
		      net_stream_send(z->stream[dst->proto], dst->conn_id, &dst->addr, data, len,
				      &used) : ENOTCONN;
	if (err) {
		t->stats.tx_errors++;
		return err;
	}
	t->stats.tx_messages++;
	if (len && data[0] != '\r') {
		count_tx(&t->stats, data, len);
		if (t->th)
			trace(t, z, (enum sip_proto)dst->proto, true, sent_to(z, dst, used), data,
			      len);
	}
	return 0;
}

/* Does the URI name this zone itself (its address or advertised host, one of its ports)? */
bool sip_transp_uri_is_local(const struct sip_transp *t, unsigned zone,
			     const struct sip_uri *uri)
{
	const struct transp_zone *z;
	char ip[NET_ADDRSTRLEN];
	uint16_t port;

	if (zone >= SIP_MAX_ZONES || !uri->is_sip)
		return false;
	z = &t->zones[zone];
	if (!pl_eq_str(&uri->host, z->host) &&
	    !(net_sa_ip_str(&z->addr, ip, sizeof(ip)) == 0 && pl_eq_str(&uri->host, ip)))
		return false;
	port = uri->port ? uri->port : (pl_caseeq_str(&uri->scheme, "sips") ? 5061 : 5060);
	for (unsigned p = 0; p < SIP_PROTO__COUNT; p++) {
		if (z->port[p] == port)
			return true;
	}
	return false;
}

const struct sip_transp_stats *sip_transp_stats(const struct sip_transp *t)
{
	return &t->stats;
}
