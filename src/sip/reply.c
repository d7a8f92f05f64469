/* reply: responses built from a request, where they go (RFC 3261 8.2.6, 18.2.2; RFC 3581), and transport names. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "sip_int.h"

static const char *const proto_names[SIP_PROTO__COUNT] = {
	[SIP_PROTO_UDP] = "UDP",
	[SIP_PROTO_TCP] = "TCP",
	[SIP_PROTO_TLS] = "TLS",
};

const char *sip_proto_name(enum sip_proto p)
{
	return (unsigned)p < SIP_PROTO__COUNT ? proto_names[p] : "?";
}

/* Via transport or transport= parameter, any case. */
int sip_proto_lookup(const struct pl *name, enum sip_proto *p)
{
	for (unsigned i = 0; i < SIP_PROTO__COUNT; i++) {
		if (pl_caseeq_str(name, proto_names[i])) {
			*p = (enum sip_proto)i;
			return 0;
		}
	}
	return ENOENT;
}

bool sip_proto_reliable(enum sip_proto p)
{
	return p != SIP_PROTO_UDP;
}

struct reason {
	uint16_t code;
	const char *text;
};

static const struct reason reasons[] = {
	{ 100, "Trying" }, { 180, "Ringing" }, { 181, "Call Is Being Forwarded" },
	{ 182, "Queued" }, { 183, "Session Progress" }, { 200, "OK" }, { 202, "Accepted" },
	{ 300, "Multiple Choices" }, { 301, "Moved Permanently" },
	{ 302, "Moved Temporarily" }, { 305, "Use Proxy" }, { 400, "Bad Request" },
	{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" },
	{ 405, "Method Not Allowed" }, { 407, "Proxy Authentication Required" },
	{ 408, "Request Timeout" }, { 413, "Request Entity Too Large" },
	{ 414, "Request-URI Too Long" }, { 415, "Unsupported Media Type" },
	{ 416, "Unsupported URI Scheme" }, { 420, "Bad Extension" },
	{ 421, "Extension Required" }, { 422, "Session Interval Too Small" },
	{ 423, "Interval Too Brief" }, { 480, "Temporarily Unavailable" },
	{ 481, "Call/Transaction Does Not Exist" }, { 482, "Loop Detected" },
	{ 483, "Too Many Hops" }, { 484, "Address Incomplete" }, { 486, "Busy Here" },
	{ 487, "Request Terminated" }, { 488, "Not Acceptable Here" },
	{ 489, "Bad Event" }, { 491, "Request Pending" }, { 500, "Server Internal Error" },
	{ 501, "Not Implemented" }, { 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Server Time-out" }, { 505, "Version Not Supported" },
	{ 513, "Message Too Large" }, { 600, "Busy Everywhere" }, { 603, "Decline" },
	{ 604, "Does Not Exist Anywhere" }, { 606, "Not Acceptable" },
};

/* The RFC's reason phrase for a status code, or a class name for others. */
const char *sip_reason_phrase(uint16_t scode)
{
	static const char *const classes[] = { "Provisional", "Success", "Redirection",
					       "Client Error", "Server Error",
					       "Global Failure" };

	for (size_t i = 0; i < ARRAY_SIZE(reasons); i++) {
		if (reasons[i].code == scode)
			return reasons[i].text;
	}
	return scode >= 100 && scode < 700 ? classes[scode / 100 - 1] : "Unknown";
}

static int addr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	const void *a;

	if (ss->ss_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)ss)->sin_addr;
	else if (ss->ss_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)ss)->sin6_addr;
	else
		return EAFNOSUPPORT;
	return inet_ntop(ss->ss_family, a, buf, (socklen_t)size) ? 0 : ENOSPC;
}

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
	if (ss->ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
	return 0;
}

static void addr_set_port(struct sockaddr_storage *ss, uint16_t port)
{
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)(void *)ss)->sin_port = htons(port);
	else if (ss->ss_family == AF_INET6)
		((struct sockaddr_in6 *)(void *)ss)->sin6_port = htons(port);
}

/*
 * Write the top via-parm with the source written in: received= when the
 * sent-by host is not the address the request came from, or whenever rport
 * was asked for (RFC 3581 4); rport=PORT filled in when it came empty.
 */
static int top_via_write(const struct sip_via *via, const struct sip_peer *src,
			 struct wbuf *out)
{
	struct splice sv[2];
	char ip[INET6_ADDRSTRLEN], port[8], recv[INET6_ADDRSTRLEN + 16];
	struct wbuf pw, rw;
	size_t sc = 0;

	if (!src || addr_text(&src->addr, ip, sizeof(ip)))
		return wbuf_put_pl(out, &via->val);
	if (via->has_rport && !via->rport.l) {
		wbuf_init(&pw, port, sizeof(port));
		wbuf_put(&pw, "=", 1);
		wbuf_put_u32(&pw, addr_port(&src->addr));
		sv[sc++] = (struct splice){ (size_t)(via->rport.p - via->val.p), 0,
					    { pw.p, pw.len } };
	}
	if (via->has_rport || !pl_eq_str(&via->host, ip)) {
		wbuf_init(&rw, recv, sizeof(recv));
		if (via->received.l) {
			wbuf_put_str(&rw, ip);
			sv[sc++] = (struct splice){ (size_t)(via->received.p - via->val.p),
						    via->received.l, { rw.p, rw.len } };
		} else {
			wbuf_put_str(&rw, ";received=");
			wbuf_put_str(&rw, ip);
			sv[sc++] = (struct splice){ via->val.l, 0, { rw.p, rw.len } };
		}
	}
	return splice_write(via->val.p, via->val.l, sv, sc, out);
}

/* Write one header line "Name: value\r\n"; ENOSPC leaves out as it may be, callers undo. */
int sip_hdr_write(struct wbuf *out, const char *name, const struct pl *val)
{
	int err = wbuf_put_str(out, name);

	if (!err)
		err = wbuf_put(out, ": ", 2);
	if (!err)
		err = wbuf_put_pl(out, val);
	if (!err)
		err = wbuf_put(out, "\r\n", 2);
	return err;
}

static int copy_hdr(struct wbuf *out, const struct sip_msg *req, enum sip_hdr_id id)
{
	const struct sip_hdr *h = sip_msg_hdr(req, id);

	return h ? sip_hdr_write(out, sip_hdr_name(id), &h->val) : 0;
}

/*
 * Build a response to req into out. The request needs a Via that parses;
 * From, To, Call-ID and CSeq are copied as they are, and one that is
 * missing is left out (a 400 for a request without a CSeq still says why).
 * ENOSPC when out is too small; out->len is unchanged on failure.
 */
int sip_reply_build(const struct sip_msg *req, uint16_t scode, const char *reason,
		    const struct pl *totag, const struct pl *extra, struct wbuf *out)
{
	struct sip_msg *m = (struct sip_msg *)(uintptr_t)req;   /* fills the parse cache only */
	const struct sip_hdr *top = sip_msg_hdr(req, SIP_HDR_VIA), *h;
	const struct sip_via *via;
	const struct sip_addr *to;
	size_t start = out->len;
	bool to_ok;
	int err;

	if (!req->req || scode < 100 || scode > 699)
		return EINVAL;
	if (sip_msg_via_top(m, &via))
		return EBADMSG;
	to_ok = sip_msg_to(m, &to) == 0;
	err = wbuf_printf(out, "SIP/2.0 %u %s\r\n", scode, reason ? reason : sip_reason_phrase(scode));
	for (h = top; h && !err; h = sip_msg_hdr_next(req, h)) {
		err = wbuf_put_str(out, "Via: ");
		if (!err && h == top) {
			/* the top via-parm, then the rest of the first Via field as it was */
			size_t rest = (size_t)(h->val.p + h->val.l - (via->val.p + via->val.l));

			err = wbuf_put(out, h->val.p, (size_t)(via->val.p - h->val.p));
			if (!err)
				err = top_via_write(via, req->src.addr.ss_family ? &req->src : NULL, out);
			if (!err)
				err = wbuf_put(out, via->val.p + via->val.l, rest);
		} else if (!err) {
			err = wbuf_put_pl(out, &h->val);
		}
		if (!err)
			err = wbuf_put(out, "\r\n", 2);
	}
	if (!err)
		err = copy_hdr(out, req, SIP_HDR_FROM);
	if (!err)
		err = copy_hdr(out, req, SIP_HDR_TO);
	if (!err && to_ok && !to->tag.l && totag && totag->l && scode > 100) {
		out->len -= 2;
		err = wbuf_put_str(out, ";tag=");
		if (!err)
			err = wbuf_put_pl(out, totag);
		if (!err)
			err = wbuf_put(out, "\r\n", 2);
	}
	if (!err)
		err = copy_hdr(out, req, SIP_HDR_CALL_ID);
	if (!err)
		err = copy_hdr(out, req, SIP_HDR_CSEQ);
	if (!err && scode == 100)
		err = copy_hdr(out, req, SIP_HDR_TIMESTAMP);
	if (!err && extra)
		err = wbuf_put_pl(out, extra);
	if (!err)
		err = wbuf_put_str(out, "Content-Length: 0\r\n\r\n");
	if (err)
		out->len = start;
	return err;
}

/*
 * A To tag for an answer given without state: a keyed hash (per-process
 * SipHash key) of the Call-ID, the From tag, CSeq and the top Via, so a
 * retransmission gets the same tag and nobody can predict one.
 */
void sip_stateless_tag(const struct sip_msg *req, char *buf, size_t size)
{
	static const enum sip_hdr_id ids[] = { SIP_HDR_CALL_ID, SIP_HDR_FROM, SIP_HDR_CSEQ,
					       SIP_HDR_VIA };
	uint32_t h[ARRAY_SIZE(ids)];

	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		const struct sip_hdr *hd = sip_msg_hdr(req, ids[i]);

		h[i] = hd ? hash_keyed(hd->val.p, hd->val.l) : 0;
	}
	snprintf(buf, size, "sbc%08x%08x", h[0] ^ h[1], h[2] ^ h[3]);
}

/*
 * Where a response to req goes (RFC 3261 18.2.2, RFC 3581 4): over the
 * connection it came on for TCP/TLS; for UDP to the source address, and to
 * the source port when rport was asked for, else to the sent-by port.
 */
int sip_reply_dest(const struct sip_msg *req, struct sip_peer *dst)
{
	struct sip_msg *m = (struct sip_msg *)(uintptr_t)req;
	const struct sip_via *via;

	if (!req->src.addr.ss_family)
		return EINVAL;
	if (sip_msg_via_top(m, &via))
		return EBADMSG;
	*dst = req->src;
	if (req->src.proto == SIP_PROTO_UDP && !via->has_rport)
		addr_set_port(&dst->addr, via->port ? via->port : 5060);
	else if (sip_proto_reliable(req->src.proto))
		/*
		 * The request's connection (conn_id) first; should it be gone, a new
		 * one to the source address and the sent-by port (RFC 3261 18.2.2),
		 * not to the old connection's ephemeral port.
		 */
		addr_set_port(&dst->addr, via->port ? via->port :
				  req->src.proto == SIP_PROTO_TLS ? 5061 : 5060);
	return 0;
}
