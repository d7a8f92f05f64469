/* call: a call is two dialogs; every request and response is re-originated on the other leg, topology hidden. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "call.h"

/* A request relayed inside a dialog, waiting for the other leg's answer. */
struct relay {
	struct call *c;
	unsigned from;                  /* the leg it came in on */
	struct txn_server *st;
	struct txn_client *ct;
	enum sip_method mid;
	bool sdp;
	uint32_t cseq;                  /* on the other leg */
	uint32_t in_cseq;               /* of the request on the leg it came in on */
	bool done;                      /* final response relayed */
	char *tmpl;                     /* response headers for the leg it came in on */
	size_t tmpl_len;
};

static void call_destroy(void *data)
{
	struct call *c = data;

	free(c->tmpl);
	free(c->rr);
	free(c->leg[LEG_A].str);
	free(c->leg[LEG_B].str);
	free(c->reason);
	free(c->binv);
	free(c->ack);
	free(c->answer2xx);
	mem_deref(c->ms);   /* normally gone at call_end; never left behind */
}

static uint64_t call_hash_key(uint64_t id)
{
	return id * 0x9e3779b97f4a7c15ULL;
}

/* The live call with this id, or NULL. */
static struct call *call_by_id(const struct b2bua *b, uint64_t id)
{
	uint32_t h = (uint32_t)call_hash_key(id);

	for (struct hnode *n = htable_first(&b->calls, h); n; n = hnode_next_same(n, h)) {
		struct call *c = container_of(n, struct call, hn);

		if (c->id == id)
			return c;
	}
	return NULL;
}

static int rand_hex(char *buf, size_t size, size_t bytes)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t r[32];

	if (bytes > sizeof(r) || size < 2 * bytes + 1 || random_bytes(r, bytes))
		return EINVAL;
	for (size_t i = 0; i < bytes; i++) {
		buf[2 * i] = hex[r[i] >> 4];
		buf[2 * i + 1] = hex[r[i] & 15];
	}
	buf[2 * bytes] = '\0';
	return 0;
}

/* Largest length (with the NUL) of each leg string: a value that does not fit is refused. */
static const uint16_t leg_str_max[LS__COUNT] = {
	[LS_CALLID] = LEG_CALLID_MAX, [LS_LTAG] = LEG_TAG_MAX,     [LS_RTAG] = LEG_TAG_MAX,
	[LS_TARGET] = LEG_URI_MAX,    [LS_LURI] = LEG_ADDR_MAX,    [LS_RURI] = LEG_ADDR_MAX,
	[LS_CONTACT] = LEG_CONTACT_MAX, [LS_ROUTE] = LEG_ROUTE_MAX,     [LS_SOURCE] = NET_ADDRSTRLEN,
};

/*
 * Replace some of a leg's strings: v[k].p NULL keeps string k. The whole
 * set is rebuilt in one exact-size allocation (values change a few times
 * per dialog: at its start and on target refreshes). 0; ENAMETOOLONG for a
 * value over its bound; ENOMEM. On error the leg is unchanged.
 */
static int leg_set(struct leg *l, const struct pl v[LS__COUNT])
{
	struct pl cur[LS__COUNT];
	size_t total = 0;
	char *str, *p;

	for (unsigned k = 0; k < LS__COUNT; k++) {
		cur[k] = v[k].p ? v[k] : pl_from_str(leg_s(l, (enum leg_str)k));
		if (cur[k].l >= leg_str_max[k] || memchr(cur[k].p, '\0', cur[k].l))
			return ENAMETOOLONG;
		total += cur[k].l + 1;
	}
	str = malloc(total);
	if (!str)
		return ENOMEM;
	p = str;
	for (unsigned k = 0; k < LS__COUNT; k++) {
		l->off[k] = (uint16_t)(p - str);
		memcpy(p, cur[k].p, cur[k].l);
		p += cur[k].l;
		*p++ = '\0';
	}
	free(l->str);
	l->str = str;
	return 0;
}

/* One string of a leg. */
static int leg_set1(struct leg *l, enum leg_str k, const struct pl *val)
{
	struct pl v[LS__COUNT] = { 0 };

	v[k] = *val;
	return leg_set(l, v);
}

static int fmt(char *dst, size_t size, const char *f, ...) __attribute__((format(printf, 3, 4)));

static int fmt(char *dst, size_t size, const char *f, ...)
{
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(dst, size, f, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

uint16_t b2bua_zone_port(const struct b2bua *b, unsigned zone, unsigned proto)
{
	const struct config_zone *z = config_zone(b->bc.cfg, (enum zone_id)zone);

	return proto == SIP_PROTO_TLS ? z->sip_tls : proto == SIP_PROTO_TCP ? z->sip_tcp : z->sip_udp;
}

/* Our Contact on a leg, into buf: the zone's host and port, the call's token as the user. */
static int leg_contact(struct call *c, unsigned li, char *buf, size_t size)
{
	struct b2bua *b = c->b;
	struct leg *l = &c->leg[li];
	struct b2bua_token t = { .id = c->id, .kind = TOKEN_KIND_DIALOG, .zone = (uint8_t)l->zone,
				 .leg = (uint8_t)li };
	char tok[128];
	int err = token_encode(b->tk, &t, tok, sizeof(tok));

	if (err)
		return err;
	if (l->sips)   /* sips: means TLS; a transport parameter would be redundant */
		return fmt(buf, size, "sips:%s@%s:%u", tok, b->bc.host[l->zone],
			   b2bua_zone_port(b, l->zone, SIP_PROTO_TLS));
	return fmt(buf, size, "sip:%s@%s:%u%s", tok, b->bc.host[l->zone],
		   b2bua_zone_port(b, l->zone, l->peer.proto),
		   l->peer.proto == SIP_PROTO_TCP ? ";transport=tcp" :
		   l->peer.proto == SIP_PROTO_TLS ? ";transport=tls" : "");
}

/*
 * Response headers for requests that came in on a leg: sip_reply_build's
 * Via..CSeq block (top Via with received/rport, To with our tag), without
 * the status line and the final Content-Length. Each response is then the
 * status line, this block, and what is relayed.
 */
static int tmpl_make(struct sip_msg *req, const char *ltag, char **tp, size_t *lenp)
{
	static const char tail[] = "Content-Length: 0\r\n\r\n";
	char buf[CALL_TMPL_MAX + 64];
	struct pl tag = pl_from_str(ltag);
	struct wbuf wb;
	const char *nl;
	size_t n;

	wbuf_init(&wb, buf, sizeof(buf));
	if (sip_reply_build(req, 180, "-", ltag ? &tag : NULL, NULL, &wb))
		return EMSGSIZE;
	nl = memchr(buf, '\n', wb.len);
	if (!nl || wb.len < sizeof(tail) - 1)
		return EINVAL;
	n = wb.len - (size_t)(nl + 1 - buf) - (sizeof(tail) - 1);
	*tp = malloc(n + 1);
	if (!*tp)
		return ENOMEM;
	memcpy(*tp, nl + 1, n);
	(*tp)[n] = '\0';
	*lenp = n;
	return 0;
}

/*
 * "Route: <...>\r\n" lines from Record-Route values, in order or reversed
 * (RFC 3261 12.1.1, 12.1.2), into buf (LEG_ROUTE_MAX bytes); *out is what
 * was written, empty when the message has no Record-Route.
 */
static int route_set(struct sip_msg *msg, bool reverse, char *buf, struct pl *out)
{
	struct pl vals[16];
	struct sip_iter it = { 0 };
	unsigned n = 0;
	struct wbuf wb;

	while (n < ARRAY_SIZE(vals) && sip_msg_values_next(msg, SIP_HDR_RECORD_ROUTE, &it, &vals[n]))
		n++;
	wbuf_init(&wb, buf, LEG_ROUTE_MAX - 1);
	for (unsigned i = 0; i < n; i++) {
		const struct pl *v = &vals[reverse ? n - 1 - i : i];

		if (wbuf_put_str(&wb, "Route: ") || wbuf_put_pl(&wb, v) || wbuf_put(&wb, "\r\n", 2))
			return ENAMETOOLONG;
	}
	out->p = buf;
	out->l = wb.len;
	return 0;
}

/* Remember the remote side of a leg from a message it sent: tag, target, route set. */
static int leg_learn(struct leg *l, struct sip_msg *msg, bool uac)
{
	struct pl v[LS__COUNT] = { 0 };
	char ruri[LEG_ADDR_MAX], route[LEG_ROUTE_MAX];
	struct sip_contact ct;
	struct sip_iter it = { 0 };
	const struct sip_addr *remote;
	bool change = false;
	int err;

	if (uac ? sip_msg_to(msg, &remote) : sip_msg_from(msg, &remote))
		return EBADMSG;
	if (remote->tag.l && !leg_s(l, LS_RTAG)[0]) {
		err = fmt(ruri, sizeof(ruri), "%s;tag=%.*s", leg_s(l, LS_RURI), (int)remote->tag.l,
			  remote->tag.p);
		if (err)
			return err;
		v[LS_RTAG] = remote->tag;
		v[LS_RURI] = pl_from_str(ruri);
		change = true;
	}
	if (sip_msg_contact_next(msg, &it, &ct) == 0 && !ct.star &&
	    !pl_eq_str(&ct.addr.auri, leg_s(l, LS_TARGET))) {
		v[LS_TARGET] = ct.addr.auri;
		change = true;
	}
	if (uac && sip_msg_hdr(msg, SIP_HDR_RECORD_ROUTE)) {
		err = route_set(msg, true, route, &v[LS_ROUTE]);
		if (err)
			return err;
		change = true;
	}
	return change ? leg_set(l, v) : 0;
}

/* Leak check for what goes out on the public zone; EACCES stops the message. */
static int leak_guard(struct call *c, unsigned zone, const char *msg, size_t len)
{
	const char *where = NULL;
	unsigned flags = len > 4 && memcmp(msg, "SIP/", 4) == 0 ? LEAK_CHECK_F_SKIP_RESPONSE_VIA : 0;

	if (zone != ZONE_PUBLIC)
		return 0;
	if (leak_check(c->b->leak, msg, len, flags, &where) == 0)
		return 0;
	c->b->stats.leaks_blocked++;
	log_warn("call %llu: message to the public zone names the private side (%s): not sent",
		 (unsigned long long)c->id, where ? where : "?");
	return EACCES;
}

/*
 * RTP clock of the stream's first format, for jitter: its a=rtpmap rate
 * ("opus/48000/2"), else the static payload types' 8000 for audio and
 * 90000 for video (RFC 3551).
 */
static uint32_t media_clock_rate(const struct sdp_session *s, const struct sdp_media *m)
{
	struct pl fmt = PL_INIT, map, rate;
	const char *slash;
	uint32_t v;

	if (sdp_media_fmt_next(m, &fmt) && sdp_media_fmt_attr(s, m, "rtpmap", &fmt, &map) &&
	    (slash = pl_chr(&map, '/'))) {
		rate.p = slash + 1;
		rate.l = (size_t)(map.p + map.l - rate.p);
		slash = pl_chr(&rate, '/');
		if (slash)
			rate.l = (size_t)(slash - rate.p);
		if (!pl_u32(&rate, &v) && v >= 1000 && v <= 192000)
			return v;
	}
	if (pl_caseeq_str(&m->type, "audio"))
		return 8000;
	return pl_caseeq_str(&m->type, "video") ? 90000 : 0;
}

/*
 * Rewrite an SDP from leg `from` for the other leg: every address the
 * other zone's media address, every port a relay port of the other zone;
 * the peer's own addresses and ports go to the media engine. ICE
 * candidates never cross.
 */
static int sdp_relay(struct call *c, unsigned from, const struct pl *body, struct pl *out)
{
	struct b2bua *b = c->b;
	struct sdp_session *s = b->sdp;
	unsigned fz = c->leg[from].zone, tz = c->leg[1 - from].zone;
	struct sdp_rewrite rw = { .remove_ice = true };
	char addr[NET_ADDRSTRLEN];
	struct wbuf wb;
	int err;

	err = sdp_session_decode(s, body);
	if (err)
		return EBADMSG;
	if (!c->ms) {
		err = media_session_alloc(&c->ms, b->bc.media, call_media_timeout, c);
		if (err)
			return err;
	}
	if (net_sa_ip_str(&b->bc.media_addr[tz], addr, sizeof(addr)))
		return EINVAL;
	rw.addr = pl_from_str(addr);
	rw.af = b->bc.media_addr[tz].ss_family == AF_INET6 ? SDP_AF_IP6 : SDP_AF_IP4;
	rw.portc = s->mediac;
	for (unsigned i = 0; i < s->mediac; i++) {
		const struct sdp_media *m = &s->mediav[i];
		const struct sdp_addr *conn = sdp_media_conn(s, m);
		struct media_peer peer;
		uint16_t ports[ZONE_COUNT];
		struct pl ptime;

		if (sdp_media_is_rejected(m) || !conn) {
			media_stream_close(c->ms, i);
			rw.portv[i] = 0;
			continue;
		}
		err = media_stream_open(c->ms, i, m->rtcp_mux, ports);
		if (err)
			return err;
		memset(&peer, 0, sizeof(peer));
		peer.hold = sdp_media_is_hold(s, m);
		peer.rtcp_mux = m->rtcp_mux;
		peer.sig_src = c->leg[from].peer.addr;
		if (conn->is_hold) {
			peer.hold = true;
		} else if (net_sa_from_pl(&peer.rtp, &conn->addr, m->port)) {
			return EBADMSG;   /* a host name: the relay needs an address */
		}
		if (pl_caseeq_str(&m->type, "audio")) {
			uint32_t pt = 0;

			if (!sdp_attr_find(s, m, "ptime", &ptime) || pl_u32(&ptime, &pt) || pt > 1000)
				pt = 0;
			peer.expected_pps = media_pps_from_ptime(pt);
		}
		peer.clock_rate = media_clock_rate(s, m);
		if (m->rtcp.present && !conn->is_hold) {
			peer.rtcp = peer.rtp;
			if (m->rtcp.has_addr &&
			    net_sa_from_pl(&peer.rtcp, &m->rtcp.conn.addr, m->rtcp.port))
				return EBADMSG;
			net_sa_set_port(&peer.rtcp, m->rtcp.port);
		}
		err = media_stream_peer(c->ms, i, fz, &peer);
		if (err)
			return err;
		rw.portv[i] = ports[tz];
		rw.rtcp_portv[i] = m->rtcp_mux ? ports[tz] : 0;
	}
	wbuf_init(&wb, b->body, sizeof(b->body));
	err = sdp_rewrite(s, &rw, &wb);
	if (err)
		return err;
	out->p = wb.p;
	out->l = wb.len;
	return 0;
}

static bool has_sdp(const struct sip_msg *msg)
{
	struct sip_ctype ct;

	return msg->body.l && sip_msg_ctype(msg, &ct) == 0 && pl_caseeq_str(&ct.type, "application") &&
	       pl_caseeq_str(&ct.subtype, "sdp");
}

/*
 * Write a request on leg li: our Via, the leg's route set, its dialog's
 * From/To/Call-ID, CSeq, our Contact when asked, the headers of src the
 * policy keeps for that zone, extra lines, and the body. branch receives
 * the new Via branch.
 */
static int leg_request(struct call *c, unsigned li, const struct pl *method, uint32_t cseq,
		       bool contact, struct sip_msg *src, const char *extra, const struct pl *body,
		       struct wbuf *out)
{
	struct b2bua *b = c->b;
	struct leg *l = &c->leg[li];
	char branch[TXN_BRANCH_LEN + 1];
	uint32_t mf = 70;
	int err;

	if (src && sip_msg_max_forwards(src, &mf) == 0)
		mf = mf ? MIN(mf - 1, 70u) : 0;
	err = txn_branch_make(branch, sizeof(branch));
	if (!err)
		err = wbuf_printf(out, "%.*s %s SIP/2.0\r\nVia: SIP/2.0/%s %s:%u;branch=%s;rport\r\n%s"
				  "Max-Forwards: %u\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
				  "CSeq: %u %.*s\r\n",
				  (int)method->l, method->p, leg_s(l, LS_TARGET),
				  sip_proto_name(l->peer.proto), b->bc.host[l->zone],
				  b2bua_zone_port(b, l->zone, l->peer.proto), branch, leg_s(l, LS_ROUTE), mf,
				  leg_s(l, LS_LURI), leg_s(l, LS_RURI), leg_s(l, LS_CALLID), cseq,
				  (int)method->l,
				  method->p);
	if (!err && contact)
		err = wbuf_printf(out, "Contact: <%s>\r\n", leg_s(l, LS_CONTACT));
	if (!err && src)
		err = hdr_policy_write(b->policy[l->zone], src, b->bc.host[l->zone],
				       src->src.zone == ZONE_PRIVATE ? HDR_POLICY_F_TRUSTED : 0, out);
	if (!err && extra)
		err = wbuf_put_str(out, extra);
	if (!err)
		err = wbuf_printf(out, "Content-Length: %zu\r\n\r\n", body ? body->l : 0);
	if (!err && body)
		err = wbuf_put_pl(out, body);
	return err;
}

/* A response on the leg a request came in on, from its template and what the other leg said. */
static int leg_response(struct call *c, unsigned li, const char *tmpl, size_t tmpl_len,
			struct sip_msg *resp, bool contact, bool rr, const struct pl *body,
			struct wbuf *out)
{
	struct b2bua *b = c->b;
	struct leg *l = &c->leg[li];
	int err = wbuf_printf(out, "SIP/2.0 %u %.*s\r\n", resp->scode, (int)resp->reason.l,
			      resp->reason.p);
	/* a redirect from the public side to the private one keeps its (public) targets */
	bool redirect = resp->scode >= 300 && resp->scode < 400 && l->zone == ZONE_PRIVATE &&
			resp->src.zone == ZONE_PUBLIC;

	if (!err)
		err = wbuf_put(out, tmpl, tmpl_len);
	if (!err && rr && c->rr)
		err = wbuf_put(out, c->rr, c->rr_len);
	if (!err && contact)
		err = wbuf_printf(out, "Contact: <%s>\r\n", leg_s(l, LS_CONTACT));
	for (const struct sip_hdr *h = redirect ? sip_msg_hdr(resp, SIP_HDR_CONTACT) : NULL;
	     h && !err; h = sip_msg_hdr_next(resp, h))
		err = wbuf_printf(out, "Contact: %.*s\r\n", (int)h->val.l, h->val.p);
	if (!err)
		err = hdr_policy_write(b->policy[l->zone], resp, b->bc.host[l->zone],
				       resp->src.zone == ZONE_PRIVATE ? HDR_POLICY_F_TRUSTED : 0, out);
	if (!err)
		err = wbuf_printf(out, "Content-Length: %zu\r\n\r\n", body ? body->l : 0);
	if (!err && body)
		err = wbuf_put_pl(out, body);
	return err;
}

static void ignore_response(struct txn_client *ct, int err, const struct sip_msg *resp, void *arg)
{
	(void)ct;
	(void)err;
	(void)resp;
	(void)arg;
}

/* A request of our own on a leg (BYE when the other side or a timer ends the call). */
static void leg_send_own(struct call *c, unsigned li, const char *method, const char *extra)
{
	struct b2bua *b = c->b;
	struct leg *l = &c->leg[li];
	struct pl m = pl_from_str(method);
	struct wbuf wb;

	wbuf_init(&wb, b->out, sizeof(b->out));
	if (leg_request(c, li, &m, ++l->lcseq, false, NULL, extra, NULL, &wb))
		return;
	if (leak_guard(c, l->zone, wb.p, wb.len)) {
		/* a carried Reason named the private side: the leg still must end, without it */
		wbuf_init(&wb, b->out, sizeof(b->out));
		if (!extra || leg_request(c, li, &m, l->lcseq, false, NULL, NULL, NULL, &wb) ||
		    leak_guard(c, l->zone, wb.p, wb.len))
			return;
	}
	txn_client_request(NULL, b->bc.txn, &l->peer, wb.p, wb.len, ignore_response, NULL, b->now);
}

/*
 * The ACK for a 2xx on leg li (not a transaction: sent straight to the
 * transport) and kept for the 2xx's retransmissions.
 */
static int leg_ack(struct call *c, unsigned li, uint32_t cseq, struct sip_msg *src,
		   const struct pl *body)
{
	struct b2bua *b = c->b;
	struct leg *l = &c->leg[li];
	static const struct pl ack = PL("ACK");
	struct wbuf wb;
	int err;

	wbuf_init(&wb, b->out, sizeof(b->out));
	err = leg_request(c, li, &ack, cseq, false, src, NULL, body, &wb);
	if (!err)
		err = leak_guard(c, l->zone, wb.p, wb.len);
	if (err)
		return err;
	free(c->ack);
	c->ack = malloc(wb.len);
	if (c->ack) {
		memcpy(c->ack, wb.p, wb.len);
		c->ack_len = wb.len;
	}
	return sip_transp_send(b->bc.transp, &l->peer, wb.p, wb.len);
}

/*
 * The Reason line (RFC 3326) the BYEs that end the call will carry; a value
 * over CALL_REASON_MAX, or no memory, leaves them without one.
 */
static void call_set_reason(struct call *c, const struct pl *val)
{
	static const char name[] = "Reason: ";
	size_t n = sizeof(name) - 1 + val->l + 2;
	char *r;

	if (val->l > CALL_REASON_MAX || !(r = malloc(n + 1)))
		return;
	memcpy(r, name, sizeof(name) - 1);
	memcpy(r + sizeof(name) - 1, val->p, val->l);
	memcpy(r + n - 2, "\r\n", 3);
	free(c->reason);
	c->reason = r;
}

/*
 * End the call: BYE on the legs that have a dialog (bye_mask bit per leg),
 * media released, transactions let go, the call record written.
 */
static void call_end_mask(struct call *c, const char *cause, unsigned bye_mask)
{
	struct b2bua *b = c->b;

	if (c->state == CALL_ENDED)
		return;
	for (unsigned li = 0; li < 2; li++) {
		if ((bye_mask & (1u << li)) && leg_s(&c->leg[li], LS_RTAG)[0] &&
		    (c->state == CALL_CONFIRMED || c->state == CALL_ANSWERED))
			leg_send_own(c, li, "BYE", c->reason);
	}
	c->cause = cause;
	log_debug("call %llu: ended: %s", (unsigned long long)c->id, cause);
	c->state = CALL_ENDED;
	c->end_ms = b->now;
	tmr_cancel(&b->tmrs, &c->t2xx);
	tmr_cancel(&b->tmrs, &c->tict);
	c->t2xx_st = txn_server_release(c->t2xx_st);
	c->ist = txn_server_release(c->ist);
	c->ict = txn_client_release(c->ict);
	if (c->reinvite) {
		c->reinvite->ct = txn_client_release(c->reinvite->ct);
		c->reinvite = mem_deref(c->reinvite);
	}
	call_record(c);
	c->ms = mem_deref(c->ms);
	htable_del(&b->calls, &c->hn);
	htable_del(&b->dialogs, &c->leg[LEG_A].hn_cid);
	htable_del(&b->dialogs, &c->leg[LEG_B].hn_cid);
	b->stats.calls_active--;
	if (c->trunk != TRUNK_NONE)
		b->trunk_calls[c->trunk].active--;
	mem_deref(c);
}

void call_end(struct call *c, const char *cause, bool bye)
{
	call_end_mask(c, cause, bye ? 3u : 0u);
}

void call_media_timeout(struct media_session *ms, void *arg)
{
	struct call *c = arg;
	static const struct pl reason = PL("Q.850;cause=102;text=\"media timeout\"");

	(void)ms;
	call_set_reason(c, &reason);
	call_end(c, "media timeout", true);
}

/* 2xx retransmission on the leg that has not ACKed yet (RFC 3261 13.3.1.4). */
static void on_t2xx(void *arg)
{
	struct call *c = arg;
	struct b2bua *b = c->b;

	if (!c->t2xx_st || !c->answer2xx)
		return;
	if (b->now >= c->t2xx_deadline) {
		static const struct pl reason = PL("SIP;cause=408;text=\"no ACK\"");

		call_set_reason(c, &reason);
		call_end(c, "no ACK for the 2xx", true);
		return;
	}
	txn_server_send(c->t2xx_st, c->answer2xx, c->answer_len, b->now);
	c->t2xx_interval = MIN(c->t2xx_interval * 2, b->bc.cfg->sip.t2_ms);
	tmr_start(&b->tmrs, &c->t2xx, b->now + c->t2xx_interval, on_t2xx, c);
}

/* Send a 2xx on a server transaction and keep sending it until the ACK comes. */
static int send_2xx(struct call *c, struct txn_server *st, const char *buf, size_t len,
		    unsigned ack_leg, uint32_t ack_cseq, uint32_t in_cseq)
{
	struct b2bua *b = c->b;
	int err = txn_server_send(st, buf, len, b->now);

	if (err)
		return err;
	free(c->answer2xx);
	c->answer2xx = malloc(len);
	if (!c->answer2xx)
		return ENOMEM;
	memcpy(c->answer2xx, buf, len);
	c->answer_len = len;
	txn_server_release(c->t2xx_st);
	c->t2xx_st = mem_ref(st);
	c->ack_leg = ack_leg;
	c->ack_cseq = ack_cseq;
	c->ack_in_cseq = in_cseq;
	c->t2xx_interval = b->bc.cfg->sip.t1_ms;
	c->t2xx_deadline = b->now + 64u * b->bc.cfg->sip.t1_ms;
	return tmr_start(&b->tmrs, &c->t2xx, b->now + c->t2xx_interval, on_t2xx, c);
}

static uint16_t errno_status(int err)
{
	switch (err) {
	case ETIMEDOUT: return 408;
	case EBADMSG: return 488;
	case ENOSPC: return 503;
	case EACCES: return 500;
	case ENOENT: return 481;   /* a Replaces naming no dialog of ours */
	default: return 500;
	}
}

static void on_invite_resp(struct txn_client *ct, int err, const struct sip_msg *cresp, void *arg);
static int replaces_map(struct b2bua *b, unsigned zone, unsigned to_zone, const struct pl *val,
			char *out, size_t size);

/*
 * A 3xx from the private side: send the INVITE again to its first Contact,
 * through the core, if that Contact names the core (the PBX moving the call
 * to another of its users); at most CALL_MAX_REDIRECTS times. Same b-leg
 * dialog identifiers, next CSeq, new branch (RFC 3261 8.1.3.4).
 */
static int redirect_follow(struct call *c, struct sip_msg *resp)
{
	struct b2bua *b = c->b;
	const struct config_core *core = &b->bc.cfg->core;
	struct leg *bl = &c->leg[LEG_B];
	struct sip_contact ct;
	struct sip_iter it = { 0 };
	char branch[TXN_BRANCH_LEN + 1], cseq[32], via[NET_ADDRSTRLEN + TXN_BRANCH_LEN + 64];
	struct sip_msg *m = b->scratch;
	const struct sip_hdr *h;
	struct pl v;
	struct wbuf wb;
	int err;

	if (!c->binv || ++c->redirects > CALL_MAX_REDIRECTS)
		return EMLINK;
	if (sip_msg_contact_next(resp, &it, &ct) || ct.star || !ct.addr.uri.is_sip ||
	    !(pl_caseeq_str(&ct.addr.uri.host, core->address.name) ||
	      (core->address.addr.set && pl_eq_str(&ct.addr.uri.host, core->address.addr.text))))
		return EPERM;
	err = leg_set1(bl, LS_TARGET, &ct.addr.auri);
	if (err)
		return err;
	if (sip_msg_decode_raw(m, c->binv, c->binv_len, 0, NULL))
		return EBADMSG;
	bl->invite_cseq = ++bl->lcseq;
	err = txn_branch_make(branch, sizeof(branch));
	if (err)
		return err;
	fmt(cseq, sizeof(cseq), "%u INVITE", bl->invite_cseq);
	fmt(via, sizeof(via), "SIP/2.0/%s %s:%u;branch=%s;rport", sip_proto_name(bl->peer.proto),
	    b->bc.host[bl->zone], b2bua_zone_port(b, bl->zone, bl->peer.proto), branch);
	v = pl_from_str(leg_s(bl, LS_TARGET));
	err = sip_msg_ruri_set(m, &v);
	if (!err && (h = sip_msg_hdr(m, SIP_HDR_CSEQ))) {
		v = pl_from_str(cseq);
		err = sip_msg_hdr_set(m, h, &v);
	}
	if (!err && (h = sip_msg_hdr(m, SIP_HDR_VIA))) {
		v = pl_from_str(via);
		err = sip_msg_hdr_set(m, h, &v);
	}
	wbuf_init(&wb, b->out, sizeof(b->out));
	if (!err)
		err = sip_msg_encode(m, &wb);
	if (err)
		return err;
	c->ict = txn_client_release(c->ict);
	err = txn_client_request(&c->ict, b->bc.txn, &bl->peer, wb.p, wb.len, on_invite_resp, c,
				 b->now);
	if (!err) {
		free(c->binv);
		c->binv = malloc(wb.len);
		c->binv_len = c->binv ? wb.len : 0;
		if (c->binv)
			memcpy(c->binv, wb.p, wb.len);
		log_debug("call %llu: following a %u to %s", (unsigned long long)c->id, resp->scode,
			  leg_s(bl, LS_TARGET));
	}
	return err;
}

/* The b-leg's answer to the INVITE, relayed to the a-leg. */
static void on_invite_resp(struct txn_client *ct, int err, const struct sip_msg *cresp, void *arg)
{
	struct call *c = arg;
	struct b2bua *b = c->b;
	struct sip_msg *resp = (struct sip_msg *)(uintptr_t)cresp;
	struct pl body = PL_INIT, *bp = NULL;
	struct wbuf wb;
	uint16_t code;

	(void)ct;
	b->now = txn_layer_now(b->bc.txn);
	if (err) {
		if (c->state < CALL_ANSWERED && !c->cancelled && c->ist)
			b2bua_reply_st(c, err == ETIMEDOUT ? 408 : 503);
		call_end(c, err == ETIMEDOUT ? "b-leg timeout" : "b-leg transport error", false);
		return;
	}
	code = resp->scode;
	if (code == 100)
		return;
	if (code >= 200 && code < 300 && c->state >= CALL_ANSWERED) {
		/* a retransmitted 2xx: our ACK went missing */
		if (c->ack)
			sip_transp_send(b->bc.transp, &c->leg[LEG_B].peer, c->ack, c->ack_len);
		return;
	}
	if (!c->tmpl)
		return;   /* the a-leg has its final response: nothing more goes to it */
	if (code < 300 && leg_learn(&c->leg[LEG_B], resp, true)) {
		b2bua_reply_st(c, 500);
		call_end(c, "b-leg response too large", code >= 200);
		return;
	}
	if (c->cancelled) {
		if (code >= 200 && code < 300) {
			/* the CANCEL/200 race: the a-leg has its 487; end the b-leg dialog */
			c->state = CALL_ANSWERED;
			leg_ack(c, LEG_B, c->leg[LEG_B].invite_cseq, NULL, NULL);
			call_end_mask(c, "cancelled", 1u << LEG_B);
		} else if (code >= 300) {
			call_end(c, "cancelled", false);
		}
		return;
	}
	if (has_sdp(resp)) {
		err = sdp_relay(c, LEG_B, &resp->body, &body);
		if (err) {
			b2bua_reply_st(c, errno_status(err));
			call_end(c, "b-leg SDP refused", code >= 200 && code < 300);
			return;
		}
		bp = &body;
	}
	if (code >= 300 && code < 400 && c->leg[LEG_A].zone == ZONE_PUBLIC) {
		/* a redirect from the private side would carry private Contacts out: follow it */
		if (redirect_follow(c, resp) == 0)
			return;
		b2bua_reply_st(c, 480);
		call_end(c, "redirect from the private side not followed", false);
		return;
	}
	wbuf_init(&wb, b->out, sizeof(b->out));
	err = leg_response(c, LEG_A, c->tmpl, c->tmpl_len, resp, code < 300, code < 300, bp, &wb);
	if (!err)
		err = leak_guard(c, c->leg[LEG_A].zone, wb.p, wb.len);
	if (err) {
		b2bua_reply_st(c, 500);
		call_end(c, "response could not be relayed", code >= 200 && code < 300);
		return;
	}
	b->stats.relayed_responses++;
	if (code < 200) {
		if (c->state == CALL_TRYING && leg_s(&c->leg[LEG_B], LS_RTAG)[0])
			c->state = CALL_EARLY;
		txn_server_send(c->ist, wb.p, wb.len, b->now);
		return;
	}
	c->final_code = code;
	if (c->creds && c->leg[LEG_A].zone == ZONE_PUBLIC) {
		/* the core judged the caller's credentials: a cracker's guess, or a login */
		if (code == 401 || code == 403 || code == 407)
			b2bua_guard_event(b, &c->leg[LEG_A].peer, GUARD_EV_AUTH_FAIL, NULL);
		else if (code < 300)
			b2bua_guard_event(b, &c->leg[LEG_A].peer, GUARD_EV_AUTH_OK, NULL);
	}
	/* the a-leg INVITE has its final answer: what built its responses is done with */
	free(c->binv);
	c->binv = NULL;
	free(c->tmpl);
	c->tmpl = NULL;
	free(c->rr);
	c->rr = NULL;
	if (code < 300) {
		c->state = CALL_ANSWERED;
		c->answer_ms = b->now;
		b->stats.calls_answered++;
		/* ict stays: the b-leg's 2xx retransmissions come up through it to be re-ACKed */
		send_2xx(c, c->ist, wb.p, wb.len, LEG_A, c->leg[LEG_B].invite_cseq,
			 c->leg[LEG_A].invite_cseq);
		c->ist = txn_server_release(c->ist);
		return;
	}
	txn_server_send(c->ist, wb.p, wb.len, b->now);
	b->stats.calls_failed++;
	call_end(c, "rejected", false);
}

/* CANCEL from the a-leg (or its INVITE transaction failing). */
static void on_ist_event(struct txn_server *st, int err, const struct sip_msg *msg, void *arg)
{
	struct call *c = arg;
	struct b2bua *b = c->b;
	char reason[256] = "";

	(void)st;
	b->now = txn_layer_now(b->bc.txn);
	if (err != ECANCELED) {
		call_end(c, "a-leg transaction failed", false);
		return;
	}
	c->cancelled = true;
	c->final_code = 487;
	b2bua_reply_st(c, 487);
	if (msg) {
		const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_REASON);

		if (h && fmt(reason, sizeof(reason), "Reason: %.*s\r\n", (int)h->val.l, h->val.p))
			reason[0] = '\0';   /* too long to carry: the CANCEL goes without it */
		if (reason[0] && c->leg[LEG_B].zone == ZONE_PUBLIC &&
		    leak_check(b->leak, reason, strlen(reason), 0, NULL) == EACCES) {
			b->stats.leaks_blocked++;
			reason[0] = '\0';   /* it names the private side: the CANCEL goes without it */
		}
	}
	if (c->ict) {
		struct pl extra = pl_from_str(reason);

		txn_client_cancel(c->ict, reason[0] ? &extra : NULL, b->now);
	} else {
		call_end(c, "cancelled", false);
	}
}

/* Answer the a-leg INVITE from the call (errors before the b-leg answered). */
void b2bua_reply_st(struct call *c, uint16_t code)
{
	struct b2bua *b = c->b;
	struct pl tag = pl_from_str(leg_s(&c->leg[LEG_A], LS_LTAG));

	if (c->ist)
		txn_server_reply(c->ist, code, NULL, &tag, NULL, b->now);
}

/*
 * A leg over TCP or TLS keeps the phone's connection (peer.conn_id); should
 * that close (idle timeout, NAT), in-dialog requests go to the remote
 * target (RFC 3261 12.2.1.1) rather than to the connection's ephemeral
 * source port. Only a Contact on the source's own address is taken: a
 * Contact naming another host would let a phone make the SBC connect
 * wherever it likes, the private zone included.
 */
static void stream_fallback(struct leg *l, const struct sip_uri *contact)
{
	struct sockaddr_storage sa;
	uint16_t port = contact->port ? contact->port :
			l->peer.proto == SIP_PROTO_TLS ? 5061 : 5060;

	if (!sip_proto_reliable(l->peer.proto) || !contact->is_sip ||
	    net_sa_from_pl(&sa, &contact->host, port) || !net_sa_eq_ip(&sa, &l->peer.addr))
		return;
	l->peer.addr = sa;
}

static int leg_a_init(struct call *c, struct sip_msg *req)
{
	struct leg *a = &c->leg[LEG_A];
	const struct sip_addr *from, *to;
	const struct sip_cseq *cs;
	struct sip_contact ct;
	struct sip_iter it = { 0 };
	struct pl v[LS__COUNT] = { 0 };
	char ltag[LEG_TAG_MAX], luri[LEG_ADDR_MAX], contact[LEG_CONTACT_MAX], route[LEG_ROUTE_MAX];
	char src[NET_ADDRSTRLEN];
	const struct sip_uri *ru;
	int err;

	if (sip_msg_from(req, &from) || sip_msg_to(req, &to) || sip_msg_cseq(req, &cs) ||
	    sip_msg_callid(req, &v[LS_CALLID]) || sip_msg_ruri(req, &ru))
		return EBADMSG;
	if (sip_msg_contact_next(req, &it, &ct) || ct.star)
		return EBADMSG;
	a->zone = req->src.zone;
	a->peer = req->src;
	a->sips = pl_caseeq_str(&ru->scheme, "sips") && req->src.proto == SIP_PROTO_TLS;
	v[LS_SOURCE] = pl_from_str(net_sa_str(&req->src.addr, src, sizeof(src)));
	stream_fallback(a, &ct.addr.uri);
	a->rcseq = a->invite_cseq = cs->num;
	a->lcseq = 0;
	v[LS_RTAG] = from->tag;
	v[LS_TARGET] = ct.addr.auri;
	v[LS_RURI] = from->val;
	err = rand_hex(ltag, sizeof(ltag), 8);
	if (!err)
		err = fmt(luri, sizeof(luri), "%.*s;tag=%s", (int)to->val.l, to->val.p, ltag);
	if (!err)
		err = leg_contact(c, LEG_A, contact, sizeof(contact));
	if (!err)
		err = route_set(req, false, route, &v[LS_ROUTE]);
	if (err)
		return err;
	v[LS_LTAG] = pl_from_str(ltag);
	v[LS_LURI] = pl_from_str(luri);
	v[LS_CONTACT] = pl_from_str(contact);
	return leg_set(a, v);
}

/* The b-leg's From/To: toward the public zone the private side's hosts become ours. */
static int leg_b_init(struct call *c, struct sip_msg *req, unsigned ezone,
		      const struct sip_peer *dst, const char *ruri)
{
	struct b2bua *b = c->b;
	struct leg *bl = &c->leg[LEG_B];
	const struct sip_addr *from, *to;
	struct pl v[LS__COUNT] = { 0 };
	char callid[LEG_CALLID_MAX], ltag[LEG_TAG_MAX], luri[LEG_ADDR_MAX], rname[LEG_ADDR_MAX],
		contact[LEG_CONTACT_MAX];
	uint8_t r[2];
	int err;

	if (sip_msg_from(req, &from) || sip_msg_to(req, &to))
		return EBADMSG;
	bl->zone = ezone;
	bl->peer = *dst;
	bl->sips = strncasecmp(ruri, "sips:", 5) == 0 && dst->proto == SIP_PROTO_TLS;
	if (random_bytes(r, sizeof(r)))
		return EIO;
	bl->lcseq = bl->invite_cseq = (uint32_t)(r[0] << 8 | r[1]) % 30000u + 1;
	err = rand_hex(callid, sizeof(callid), 16);
	if (!err)
		err = rand_hex(ltag, sizeof(ltag), 8);
	if (err)
		return err;
	if (ezone == ZONE_PUBLIC) {
		err = fmt(luri, sizeof(luri), "%.*s%s<sip:%.*s%s%s>;tag=%s",
			  (int)from->dname.l, from->dname.p, from->dname.l ? " " : "",
			  (int)from->uri.user.l, from->uri.user.p, from->uri.user.l ? "@" : "",
			  b->bc.host[ZONE_PUBLIC], ltag);
		if (!err)
			err = fmt(rname, sizeof(rname), "<%s>", ruri);
	} else {
		err = fmt(luri, sizeof(luri), "%.*s%s<%.*s>;tag=%s", (int)from->dname.l,
			  from->dname.p, from->dname.l ? " " : "", (int)from->auri.l, from->auri.p,
			  ltag);
		if (!err)
			err = fmt(rname, sizeof(rname), "%.*s%s<%.*s>", (int)to->dname.l,
				  to->dname.p, to->dname.l ? " " : "", (int)to->auri.l, to->auri.p);
	}
	if (!err)
		err = leg_contact(c, LEG_B, contact, sizeof(contact));
	if (err)
		return err;
	v[LS_CALLID] = pl_from_str(callid);
	v[LS_LTAG] = pl_from_str(ltag);
	v[LS_TARGET] = pl_from_str(ruri);
	v[LS_LURI] = pl_from_str(luri);
	v[LS_RURI] = pl_from_str(rname);
	v[LS_CONTACT] = pl_from_str(contact);
	return leg_set(bl, v);
}

/* Record-Route lines of the a-leg INVITE, copied into its 18x and 2xx (RFC 3261 12.1.1). */
static int rr_keep(struct call *c, struct sip_msg *req)
{
	char buf[LEG_ROUTE_MAX * 2];
	struct wbuf wb;

	wbuf_init(&wb, buf, sizeof(buf));
	for (const struct sip_hdr *h = sip_msg_hdr(req, SIP_HDR_RECORD_ROUTE); h;
	     h = sip_msg_hdr_next(req, h)) {
		if (wbuf_put_str(&wb, "Record-Route: ") || wbuf_put_pl(&wb, &h->val) ||
		    wbuf_put(&wb, "\r\n", 2))
			return ENAMETOOLONG;
	}
	if (!wb.len)
		return 0;
	c->rr = malloc(wb.len);
	if (!c->rr)
		return ENOMEM;
	memcpy(c->rr, buf, wb.len);
	c->rr_len = wb.len;
	return 0;
}

/* A new INVITE: make the call and send the b-leg INVITE. */
void call_invite(struct b2bua *b, struct txn_server *st, struct sip_msg *req, unsigned ezone,
		 const struct sip_peer *dst, const char *ruri, unsigned trunk)
{
	static const struct pl invite = PL("INVITE");
	struct call *c = mem_zalloc(sizeof(*c), call_destroy);
	char replaces[CALL_EXTRA_MAX];
	const struct sip_hdr *rh;
	struct pl body = PL_INIT, *bp = NULL;
	struct wbuf wb;
	uint16_t code = 500;
	int err;

	if (!c) {
		b2bua_reply(b, st, req, 503, NULL, NULL);
		return;
	}
	c->b = b;
	c->id = ++b->next_id;
	c->trunk = (uint16_t)trunk;
	if (trunk != TRUNK_NONE)
		b->trunk_calls[trunk].active++;
	c->state = CALL_TRYING;
	c->start_ms = b->now;
	c->creds = req->first[SIP_HDR_AUTHORIZATION] >= 0 ||
		   req->first[SIP_HDR_PROXY_AUTHORIZATION] >= 0;
	htable_add(&b->calls, &c->hn, (uint32_t)call_hash_key(c->id));
	b->stats.calls_started++;
	b->stats.calls_active++;
	c->ist = mem_ref(st);
	txn_server_handler_set(st, on_ist_event, c);
	err = leg_a_init(c, req);
	if (err) {
		code = err == EBADMSG ? 400 : 500;
		goto out_fail;
	}
	err = leg_b_init(c, req, ezone, dst, ruri);
	if (err)
		goto out_fail;
	for (unsigned li = 0; li < 2; li++) {
		const char *cid = leg_s(&c->leg[li], LS_CALLID);

		c->leg[li].idx = li;
		htable_add(&b->dialogs, &c->leg[li].hn_cid, hash_keyed(cid, strlen(cid)));
	}
	err = tmpl_make(req, leg_s(&c->leg[LEG_A], LS_LTAG), &c->tmpl, &c->tmpl_len);
	if (!err)
		err = rr_keep(c, req);
	if (err)
		goto out_fail;
	if (has_sdp(req)) {
		err = sdp_relay(c, LEG_A, &req->body, &body);
		if (err) {
			if (err == ENOSPC)
				b->stats.media_full++;
			code = errno_status(err);
			goto out_fail;
		}
		bp = &body;
	} else {
		c->late_offer = true;
	}
	rh = sip_msg_hdr(req, SIP_HDR_REPLACES);
	if (rh) {
		/* the new call takes over one of ours (RFC 3891): named as on the b-leg's side */
		static const char name[] = "Replaces: ";
		size_t n;

		memcpy(replaces, name, sizeof(name) - 1);
		err = replaces_map(b, c->leg[LEG_A].zone, ezone, &rh->val, replaces + sizeof(name) - 1,
				   sizeof(replaces) - sizeof(name) - 2);
		if (err) {
			code = err == ENOENT ? 481 : 400;
			goto out_fail;
		}
		n = strlen(replaces);
		memcpy(replaces + n, "\r\n", 3);
	}
	wbuf_init(&wb, b->out, sizeof(b->out));
	err = leg_request(c, LEG_B, &invite, c->leg[LEG_B].invite_cseq, true, req,
			  rh ? replaces : NULL, bp, &wb);
	if (!err)
		err = leak_guard(c, ezone, wb.p, wb.len);
	if (!err)
		err = txn_client_request(&c->ict, b->bc.txn, &c->leg[LEG_B].peer, wb.p, wb.len,
					 on_invite_resp, c, b->now);
	if (err) {
		code = err == ENOSPC ? 503 : 500;
		goto out_fail;
	}
	if (ezone == ZONE_PRIVATE) {
		/* kept until the final response, to follow a redirect */
		c->binv = malloc(wb.len);
		c->binv_len = c->binv ? wb.len : 0;
		if (c->binv)
			memcpy(c->binv, wb.p, wb.len);
	}
	return;

 out_fail:
	b->stats.calls_failed++;
	b2bua_reply_st(c, code);
	call_end(c, "could not start", false);
}

/*
 * The leg of zone with this Call-ID whose tag (ours) is ltag and whose
 * peer's tag is rtag (any rtag while the peer's is not known yet); NULL.
 */
static struct leg *leg_lookup(struct b2bua *b, unsigned zone, const struct pl *callid,
			      const struct pl *ltag, const struct pl *rtag)
{
	uint32_t h = hash_keyed(callid->p, callid->l);

	for (struct hnode *n = htable_first(&b->dialogs, h); n; n = hnode_next_same(n, h)) {
		struct leg *l = container_of(n, struct leg, hn_cid);
		const char *lr = leg_s(l, LS_RTAG);

		if (l->zone == zone && pl_eq_str(callid, leg_s(l, LS_CALLID)) &&
		    pl_eq_str(ltag, leg_s(l, LS_LTAG)) && (!lr[0] || pl_eq_str(rtag, lr)))
			return l;
	}
	return NULL;
}

static struct call *leg_call(struct leg *l)
{
	return container_of(l - l->idx, struct call, leg);
}

/*
 * A dialog by Call-ID and tags, for peers that send in-dialog requests to
 * the address they first called instead of our Contact (sipp's built-in
 * scenarios do).
 */
static int call_find_dialog(struct b2bua *b, struct sip_msg *msg, struct call **cp,
			    unsigned *leg)
{
	const struct sip_addr *from, *to;
	struct pl callid;
	struct leg *l;

	if (sip_msg_callid(msg, &callid) || sip_msg_from(msg, &from) || sip_msg_to(msg, &to) ||
	    !to->tag.l)
		return ENOENT;
	l = leg_lookup(b, msg->src.zone, &callid, &to->tag, &from->tag);
	if (!l)
		return ENOENT;
	*cp = leg_call(l);
	*leg = l->idx;
	return 0;
}

/*
 * Replaces (RFC 3891) names a dialog as its writer sees it: Call-ID,
 * to-tag (the writer's peer's tag: on a leg of ours, our tag) and from-tag
 * (the writer's own). The dialog is a leg of one of our calls on zone; on
 * to_zone that call is its other leg, named here as we see it, which is how
 * a peer there sees it from our side. Writes "callid;to-tag=..;
 * from-tag=..[;early-only]" into out. EBADMSG; ENOENT: no such dialog (or
 * the other side has no dialog yet): the answer is 481 (RFC 3891 3).
 */
static int replaces_map(struct b2bua *b, unsigned zone, unsigned to_zone, const struct pl *val,
			char *out, size_t size)
{
	struct pl v = pl_trim(*val), callid = v, params = PL_INIT, to, from, eo;
	const char *semi = pl_chr(&v, ';');
	struct leg *l, *o;

	if (semi) {
		callid.l = (size_t)(semi - v.p);
		params.p = semi;
		params.l = (size_t)(v.p + v.l - semi);
	}
	callid = pl_trim(callid);
	if (!callid.l || !sip_param_get(&params, "to-tag", &to) ||
	    !sip_param_get(&params, "from-tag", &from) || !to.l || !from.l)
		return EBADMSG;
	l = leg_lookup(b, zone, &callid, &to, &from);
	if (!l || !leg_s(l, LS_RTAG)[0])
		return ENOENT;
	o = &leg_call(l)->leg[1 - l->idx];
	if (o->zone != to_zone || !leg_s(o, LS_RTAG)[0] || leg_call(l)->state == CALL_ENDED)
		return ENOENT;
	return fmt(out, size, "%s;to-tag=%s;from-tag=%s%s", leg_s(o, LS_CALLID), leg_s(o, LS_RTAG),
		   leg_s(o, LS_LTAG), sip_param_get(&params, "early-only", &eo) ? ";early-only" : "");
}

/* URI header value characters that need no escaping (RFC 3261 25.1 hvalue). */
static bool hvalue_plain(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       strchr("-_.!~*'()[]/?:+$", ch);
}

static int wbuf_put_escaped(struct wbuf *wb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int err = 0;

	for (; *s && !err; s++) {
		char e[3] = { '%', hex[(uint8_t)*s >> 4], hex[*s & 15] };

		err = hvalue_plain(*s) ? wbuf_put(wb, s, 1) : wbuf_put(wb, e, 3);
	}
	return err;
}

/*
 * Find the call an in-dialog request or ACK belongs to: its Request-URI
 * carries our Contact token (or, failing that, its Call-ID and tags name a
 * dialog). 0 with the call and leg; ENOENT when the message belongs to no
 * dialog (a new request); EACCES for a token that does not decrypt or
 * names no live call.
 */
int call_find(struct b2bua *b, struct sip_msg *msg, struct call **cp, unsigned *leg)
{
	const struct sip_uri *u;
	struct b2bua_token t;

	if (sip_msg_ruri(msg, &u) || !u->is_sip || !u->user.l ||
	    !sip_transp_uri_is_local(b->bc.transp, msg->src.zone, u))
		return call_find_dialog(b, msg, cp, leg);
	if (token_decode(b->tk, &u->user, &t))
		return u->user.l >= TOKEN_TEXT_LEN ? EACCES : call_find_dialog(b, msg, cp, leg);
	if (t.kind != TOKEN_KIND_DIALOG || t.leg > 1 || t.zone != msg->src.zone)
		return EACCES;
	*cp = call_by_id(b, t.id);
	*leg = t.leg;
	return *cp ? 0 : EACCES;
}

/* Does the request belong to the leg's dialog (Call-ID, and tags once known)? */
static bool dialog_matches(const struct leg *l, struct sip_msg *req)
{
	const struct sip_addr *from, *to;
	struct pl callid;

	if (sip_msg_callid(req, &callid) || !pl_eq_str(&callid, leg_s(l, LS_CALLID)) ||
	    sip_msg_from(req, &from) || sip_msg_to(req, &to))
		return false;
	if (leg_s(l, LS_RTAG)[0] && !pl_eq_str(&from->tag, leg_s(l, LS_RTAG)))
		return false;
	return pl_eq_str(&to->tag, leg_s(l, LS_LTAG));
}

static void relay_destroy(void *data)
{
	struct relay *r = data;

	r->st = txn_server_release(r->st);
	r->ct = txn_client_release(r->ct);
	free(r->tmpl);
	mem_deref(r->c);
}

/* The other leg answered a relayed in-dialog request: relay the answer back. */
static void on_relay_resp(struct txn_client *ct, int err, const struct sip_msg *cresp, void *arg)
{
	struct relay *r = arg;
	struct call *c = r->c;
	struct b2bua *b = c->b;
	struct sip_msg *resp = (struct sip_msg *)(uintptr_t)cresp;
	unsigned o = 1 - r->from;
	struct pl body = PL_INIT, *bp = NULL;
	bool target_refresh = r->mid == SIP_METHOD_INVITE || r->mid == SIP_METHOD_UPDATE;
	struct wbuf wb;

	(void)ct;
	b->now = txn_layer_now(b->bc.txn);
	if (err) {
		struct pl tag = PL_INIT;

		if (!r->done) {
			txn_server_reply(r->st, err == ETIMEDOUT ? 408 : 503, NULL, &tag, NULL, b->now);
			if (r->mid == SIP_METHOD_INVITE || r->mid == SIP_METHOD_UPDATE)
				c->offer_pending = false;
			r->done = true;
			mem_deref(r);
		}
		return;
	}
	if (resp->scode == 100)
		return;
	if (c->state == CALL_ENDED && !r->done) {
		/*
		 * The call ended (BYE, media timeout) while this request was on the
		 * other leg: its answer must not touch media again (a new session
		 * would outlive the call). The asker gets 481: the dialog is gone.
		 */
		struct pl tag = PL_INIT;

		txn_server_reply(r->st, 481, NULL, &tag, NULL, b->now);
		r->done = true;
		mem_deref(r);
		return;
	}
	if (r->done) {
		/* a retransmitted 2xx of the re-INVITE: our ACK went missing */
		if (r->mid == SIP_METHOD_INVITE && resp->scode >= 200 && resp->scode < 300 && c->ack)
			sip_transp_send(b->bc.transp, &c->leg[o].peer, c->ack, c->ack_len);
		return;
	}
	if (target_refresh && resp->scode < 300)
		leg_learn(&c->leg[o], resp, true);
	if (r->sdp && has_sdp(resp)) {
		if (sdp_relay(c, o, &resp->body, &body)) {
			struct pl tag = PL_INIT;

			txn_server_reply(r->st, 500, NULL, &tag, NULL, b->now);
			mem_deref(r);
			return;
		}
		bp = &body;
	}
	wbuf_init(&wb, b->out, sizeof(b->out));
	if (leg_response(c, r->from, r->tmpl, r->tmpl_len, resp,
			 target_refresh && resp->scode < 300, false, bp, &wb) ||
	    leak_guard(c, c->leg[r->from].zone, wb.p, wb.len)) {
		struct pl tag = PL_INIT;

		txn_server_reply(r->st, 500, NULL, &tag, NULL, b->now);
		mem_deref(r);
		return;
	}
	b->stats.relayed_responses++;
	if (resp->scode < 200) {
		txn_server_send(r->st, wb.p, wb.len, b->now);
		return;
	}
	r->done = true;
	if (r->mid == SIP_METHOD_INVITE || r->mid == SIP_METHOD_UPDATE)
		c->offer_pending = false;
	if (r->mid == SIP_METHOD_INVITE && resp->scode < 300) {
		/* the re-INVITE's 2xx: resent until the ACK, which then crosses with r->cseq */
		send_2xx(c, r->st, wb.p, wb.len, r->from, r->cseq, r->in_cseq);
	} else {
		txn_server_send(r->st, wb.p, wb.len, b->now);
	}
	r->st = txn_server_release(r->st);
	if (c->reinvite != r)
		r->ct = txn_client_release(r->ct);
	mem_deref(r);
}

/*
 * Refer-To for a REFER going to leg o (RFC 3515): toward the private side
 * as the phone wrote it (the PBX carries out the transfer); toward the
 * public side the target's host becomes the SBC's, so the phone's new
 * INVITE comes back through the SBC to the core, and URI headers other
 * than Replaces are left out. A Replaces URI header (attended transfer,
 * RFC 3891 with RFC 3515) names a dialog on the REFER's side: it is
 * mapped to that call's dialog on the other side (replaces_map).
 */
static int refer_to(struct call *c, unsigned o, struct sip_msg *req, struct wbuf *out)
{
	const struct sip_hdr *h = sip_msg_hdr(req, SIP_HDR_REFER_TO);
	bool pub = c->leg[o].zone == ZONE_PUBLIC;
	char raw[LEG_ROUTE_MAX], mapped[LEG_CALLID_MAX + 2 * LEG_TAG_MAX + 64], obuf[LEG_ROUTE_MAX];
	struct pl hdrs, item, others;
	struct wbuf owb;
	struct sip_addr ra;
	size_t n, nothers = 0;
	bool replaces = false;
	int err;

	if (!h || sip_addr_decode(&ra, &h->val))
		return EBADMSG;
	if (pub && !ra.uri.is_sip)
		return EPERM;
	wbuf_init(&owb, obuf, sizeof(obuf));
	hdrs = ra.uri.headers;
	if (hdrs.l)
		pl_advance(&hdrs, 1);   /* the '?' */
	while (hdrs.l) {
		const char *amp = pl_chr(&hdrs, '&');
		struct pl name;
		const char *eq;

		item.p = hdrs.p;
		item.l = amp ? (size_t)(amp - hdrs.p) : hdrs.l;
		pl_advance(&hdrs, item.l + (amp ? 1 : 0));
		eq = pl_chr(&item, '=');
		name.p = item.p;
		name.l = eq ? (size_t)(eq - item.p) : item.l;
		if (!pl_caseeq_str(&name, "Replaces")) {
			/* kept in order toward the private side, the Replaces left out */
			if ((nothers++ && wbuf_put(&owb, "&", 1)) || wbuf_put_pl(&owb, &item))
				return ENAMETOOLONG;
			continue;
		}
		if (replaces || !eq)
			return EBADMSG;
		item.p = eq + 1;
		item.l = name.l < item.l ? item.l - name.l - 1 : 0;
		if (sip_unescape(&item, raw, sizeof(raw) - 1, &n))
			return EBADMSG;
		raw[n] = '\0';
		item = pl_from_str(raw);
		err = replaces_map(c->b, req->src.zone, c->leg[o].zone, &item, mapped,
				   sizeof(mapped));
		if (err)
			return err;
		replaces = true;
	}
	if (!replaces && !pub)
		return wbuf_printf(out, "Refer-To: %.*s\r\n", (int)h->val.l, h->val.p);
	others.p = obuf;
	others.l = owb.len;
	if (pub) {
		err = wbuf_printf(out, "Refer-To: <sip:%.*s%s%s", (int)ra.uri.user.l, ra.uri.user.p,
				  ra.uri.user.l ? "@" : "", c->b->bc.host[ZONE_PUBLIC]);
	} else {
		/* the URI up to its headers, which come last; other headers as they were */
		n = ra.uri.raw.l - ra.uri.headers.l;
		err = wbuf_printf(out, "Refer-To: %.*s%s<%.*s?%.*s%s", (int)ra.dname.l, ra.dname.p,
				  ra.dname.l ? " " : "", (int)n, ra.uri.raw.p, (int)others.l, others.p,
				  nothers ? "&" : "");
	}
	if (!err && replaces)
		err = wbuf_put_str(out, pub ? "?Replaces=" : "Replaces=");
	if (!err && replaces)
		err = wbuf_put_escaped(out, mapped);
	if (!err)
		err = wbuf_printf(out, ">%.*s\r\n", pub ? 0 : (int)ra.params.l, ra.params.p);
	return err;
}

/* A request inside a dialog, from leg li: relay it to the other leg. */
static void relay_start(struct call *c, unsigned li, struct txn_server *st, struct sip_msg *req)
{
	struct b2bua *b = c->b;
	unsigned o = 1 - li;
	struct leg *ol = &c->leg[o];
	struct relay *r = mem_zalloc(sizeof(*r), relay_destroy);
	bool dialog_usage = req->mid == SIP_METHOD_INVITE || req->mid == SIP_METHOD_UPDATE ||
			    req->mid == SIP_METHOD_SUBSCRIBE || req->mid == SIP_METHOD_NOTIFY ||
			    req->mid == SIP_METHOD_REFER;
	struct pl body = req->body, *bp = req->body.l ? &body : NULL;
	struct pl tag = PL_INIT;
	char extra[CALL_EXTRA_MAX] = "";
	struct wbuf wb;
	int err;

	if (!r) {
		txn_server_reply(st, 503, NULL, &tag, NULL, b->now);
		return;
	}
	r->c = mem_ref(c);
	r->from = li;
	r->st = mem_ref(st);
	r->mid = req->mid;
	r->sdp = has_sdp(req);
	r->in_cseq = c->leg[li].rcseq;
	err = tmpl_make(req, NULL, &r->tmpl, &r->tmpl_len);
	if (!err && (req->mid == SIP_METHOD_INVITE || req->mid == SIP_METHOD_UPDATE))
		err = leg_learn(&c->leg[li], req, false);
	if (!err && r->sdp) {
		err = sdp_relay(c, li, &req->body, &body);
		bp = &body;
	}
	if (err)
		goto out_fail;
	if (req->mid == SIP_METHOD_REFER) {
		struct wbuf ewb;

		wbuf_init(&ewb, extra, sizeof(extra) - 1);
		err = refer_to(c, o, req, &ewb);
		if (err)
			goto out_fail;
		extra[ewb.len] = '\0';
	}
	if (req->mid == SIP_METHOD_PRACK) {
		/* RAck: RSeq as it was, the CSeq of this call's INVITE on the other leg (RFC 3262 7.2) */
		const struct sip_hdr *h = sip_msg_hdr(req, SIP_HDR_RACK);
		uint32_t rseq;
		struct pl v, num;

		if (!h) {
			err = EBADMSG;
			goto out_fail;
		}
		v = pl_trim(h->val);
		num.p = v.p;
		for (num.l = 0; num.l < v.l && v.p[num.l] >= '0' && v.p[num.l] <= '9'; num.l++)
			;
		if (pl_u32(&num, &rseq)) {
			err = EBADMSG;
			goto out_fail;
		}
		fmt(extra, sizeof(extra), "RAck: %u %u INVITE\r\n", rseq, ol->invite_cseq);
	}
	r->cseq = ++ol->lcseq;
	wbuf_init(&wb, b->out, sizeof(b->out));
	err = leg_request(c, o, &req->method, r->cseq, dialog_usage, req, extra[0] ? extra : NULL,
			  bp, &wb);
	if (!err)
		err = leak_guard(c, ol->zone, wb.p, wb.len);
	if (!err)
		err = txn_client_request(&r->ct, b->bc.txn, &ol->peer, wb.p, wb.len, on_relay_resp, r,
					 b->now);
	if (err)
		goto out_fail;
	b->stats.relayed_requests++;
	if (req->mid == SIP_METHOD_INVITE || req->mid == SIP_METHOD_UPDATE)
		c->offer_pending = true;
	if (req->mid == SIP_METHOD_INVITE) {
		mem_deref(c->reinvite);
		c->reinvite = mem_ref(r);
	}
	return;

 out_fail:
	txn_server_reply(st, errno_status(err), NULL, &tag, NULL, b->now);
	mem_deref(r);
}

/* A request from leg li of a live call. */
void call_request(struct call *c, unsigned li, struct txn_server *st, struct sip_msg *req)
{
	struct b2bua *b = c->b;
	struct leg *l = &c->leg[li];
	const struct sip_cseq *cs;
	struct pl tag = PL_INIT;

	if (!dialog_matches(l, req)) {
		log_debug("call %llu: %.*s on leg %u does not match its dialog",
			  (unsigned long long)c->id, (int)req->method.l, req->method.p, li);
		b->stats.no_dialog++;
		txn_server_reply(st, 481, NULL, &tag, NULL, b->now);
		return;
	}
	if (sip_msg_cseq(req, &cs) == 0)
		l->rcseq = cs->num;
	switch (req->mid) {
	case SIP_METHOD_BYE: {
		const struct sip_hdr *h = sip_msg_hdr(req, SIP_HDR_REASON);

		txn_server_reply(st, 200, NULL, &tag, NULL, b->now);
		if (h)
			call_set_reason(c, &h->val);
		call_end_mask(c, li == LEG_A ? "BYE from the caller" : "BYE from the callee",
			      1u << (1 - li));
		return;
	}
	case SIP_METHOD_INVITE:
	case SIP_METHOD_UPDATE:
		if (c->offer_pending || (req->mid == SIP_METHOD_INVITE && c->state != CALL_CONFIRMED)) {
			/* an offer is under way: glare (RFC 3261 14.2, RFC 3311 5.2) */
			txn_server_reply(st, 491, NULL, &tag, NULL, b->now);
			return;
		}
		relay_start(c, li, st, req);
		return;
	default:
		relay_start(c, li, st, req);
		return;
	}
}

/*
 * Timer M is over on the b-leg INVITE: no 2xx can come up any more; free it,
 * and the ACK kept to answer them unless a re-INVITE's 2xx may still need it.
 */
static void on_ict_done(void *arg)
{
	struct call *c = arg;

	c->ict = txn_client_release(c->ict);
	if (!c->reinvite) {
		free(c->ack);
		c->ack = NULL;
		c->ack_len = 0;
	}
}

/*
 * An ACK from leg li for a 2xx we sent: the 2xx stops, and the other leg
 * gets its ACK (with the SDP answer when the offer was late).
 */
int call_ack(struct call *c, unsigned li, struct sip_msg *ack)
{
	struct b2bua *b = c->b;
	unsigned o = 1 - li;
	const struct sip_cseq *cs;
	struct pl body = PL_INIT, *bp = NULL;
	uint32_t ocseq;

	if (!dialog_matches(&c->leg[li], ack) || sip_msg_cseq(ack, &cs))
		return ENOENT;
	/* the answered INVITE's CSeq: a PRACK, UPDATE or INFO in between moved rcseq on */
	if (!c->t2xx_st || li != c->ack_leg || cs->num != c->ack_in_cseq)
		return 0;   /* a retransmitted ACK: absorbed */
	tmr_cancel(&b->tmrs, &c->t2xx);
	c->t2xx_st = txn_server_release(c->t2xx_st);
	free(c->answer2xx);
	c->answer2xx = NULL;
	ocseq = c->ack_cseq;
	if (has_sdp(ack) && sdp_relay(c, li, &ack->body, &body) == 0)
		bp = &body;
	if (c->state == CALL_ANSWERED) {
		c->state = CALL_CONFIRMED;
		/* the b-leg INVITE transaction re-ACKs 2xx for 64*T1 (Timer M); then let it go */
		tmr_start(&b->tmrs, &c->tict, b->now + 64u * b->bc.cfg->sip.t1_ms, on_ict_done, c);
	}
	c->ack_cseq = 0xffffffffu;
	leg_ack(c, o, ocseq, ack, bp);
	return 0;
}

static const char *call_state_name(enum call_state s)
{
	static const char *const names[] = { "trying", "early", "answered", "confirmed", "ended" };

	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}

/* The user part of a From/To value ("Name <sip:user@host>;tag=x") into buf; "" when none or too long. */
static void addr_user(const char *v, char *buf, size_t size)
{
	const char *p = strstr(v, "sip:");
	const char *q = strstr(v, "sips:");
	const char *at, *end;

	buf[0] = '\0';
	if (q && (!p || q < p))
		p = q + 5;
	else if (p)
		p += 4;
	else
		return;
	end = p + strcspn(p, ">;?");
	at = memchr(p, '@', (size_t)(end - p));
	if (!at || (size_t)(at - p) >= size)
		return;
	memcpy(buf, p, (size_t)(at - p));
	buf[at - p] = '\0';
}

static void call_info_fill(const struct b2bua *b, const struct call *c, struct b2bua_call_info *o)
{
	memset(o, 0, sizeof(*o));
	o->id = c->id;
	o->state = call_state_name(c->state);
	o->start_ms = c->start_ms;
	o->answer_ms = c->answer_ms;
	o->peer[0] = c->leg[LEG_A].peer;
	o->peer[1] = c->leg[LEG_B].peer;
	addr_user(leg_s(&c->leg[LEG_A], LS_RURI), o->caller, sizeof(o->caller));
	addr_user(leg_s(&c->leg[LEG_A], LS_LURI), o->callee, sizeof(o->callee));
	if (c->trunk != TRUNK_NONE && c->trunk < b->ntrunk_calls)
		snprintf(o->trunk, sizeof(o->trunk), "%s", b->trunk_calls[c->trunk].name);
	o->media = c->ms != NULL;
}

size_t b2bua_calls(const struct b2bua *b, struct b2bua_call_info *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; b->calls.bucket && i <= b->calls.mask; i++) {
		for (struct hnode *h = b->calls.bucket[i]; h; h = h->next, n++) {
			if (n < max)
				call_info_fill(b, container_of(h, struct call, hn), &out[n]);
		}
	}
	return n;
}

int b2bua_call(const struct b2bua *b, uint64_t id, struct b2bua_call_info *out)
{
	const struct call *c = call_by_id(b, id);

	if (!c)
		return ENOENT;
	call_info_fill(b, c, out);
	return 0;
}

int b2bua_call_streams(const struct b2bua *b, uint64_t id, struct b2bua_stream_info *out,
		       size_t max, size_t *n)
{
	const struct call *c = call_by_id(b, id);

	if (!c || c->state == CALL_ENDED)
		return ENOENT;
	*n = 0;
	for (unsigned i = 0; c->ms && i < MEDIA_MAX_STREAMS && *n < max; i++) {
		if (media_stream_stats(c->ms, i, &out[*n].st) == 0)
			out[(*n)++].index = i;
	}
	return 0;
}

int b2bua_call_hangup(struct b2bua *b, uint64_t id)
{
	struct call *c = call_by_id(b, id);

	if (!c || c->state == CALL_ENDED)
		return ENOENT;
	b->now = time_mono_ms();
	log_info("call %llu: hung up by the operator", (unsigned long long)id);
	if (c->state >= CALL_ANSWERED || !c->ict) {
		static const struct pl reason = PL("Q.850;cause=16;text=\"NORMAL_CLEARING\"");

		call_set_reason(c, &reason);
		if (c->state < CALL_ANSWERED) {   /* no b-leg transaction left: the caller still gets a final */
			c->final_code = 487;
			b2bua_reply_st(c, 487);
		}
		call_end(c, "operator", true);
		return 0;
	}
	/* not answered yet: 487 to the caller, CANCEL to the callee; the call ends with its answer */
	if (c->cancelled)
		return 0;
	c->cancelled = true;
	c->final_code = 487;
	b2bua_reply_st(c, 487);
	txn_client_cancel(c->ict, NULL, b->now);
	return 0;
}
