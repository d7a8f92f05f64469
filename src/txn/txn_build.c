/* txn_build: the requests the layer writes itself: ACK for a 3xx-6xx (RFC 3261 17.1.1.3) and CANCEL (9.1). */
#include <errno.h>

#include "txn_int.h"

/*
 * method, the request's Request-URI, its top Via value only (branch
 * included), its Route fields in order, Max-Forwards (the request's, or
 * 70), From and Call-ID as they were, the given To, CSeq with the request's
 * number, the extra header lines, and no body.
 */
static int build(struct sip_msg *req, const char *method, const struct pl *to,
		 const struct pl *extra, struct wbuf *out)
{
	static const struct pl mf70 = PL("70");
	const struct sip_via *via;
	const struct sip_cseq *cs;
	const struct sip_hdr *h;
	size_t start = out->len;
	int err;

	if (!req->req || sip_msg_via_top(req, &via) || sip_msg_cseq(req, &cs) ||
	    !sip_msg_hdr(req, SIP_HDR_FROM) || !sip_msg_hdr(req, SIP_HDR_CALL_ID))
		return EBADMSG;
	err = wbuf_put_str(out, method);
	if (!err)
		err = wbuf_put(out, " ", 1);
	if (!err)
		err = wbuf_put_pl(out, &req->ruri);
	if (!err)
		err = wbuf_put_str(out, " SIP/2.0\r\n");
	if (!err)
		err = sip_hdr_write(out, "Via", &via->val);
	for (h = sip_msg_hdr(req, SIP_HDR_ROUTE); h && !err; h = sip_msg_hdr_next(req, h))
		err = sip_hdr_write(out, "Route", &h->val);
	h = sip_msg_hdr(req, SIP_HDR_MAX_FORWARDS);
	if (!err)
		err = sip_hdr_write(out, "Max-Forwards", h ? &h->val : &mf70);
	if (!err)
		err = sip_hdr_write(out, "From", &sip_msg_hdr(req, SIP_HDR_FROM)->val);
	if (!err)
		err = sip_hdr_write(out, "To", to);
	if (!err)
		err = sip_hdr_write(out, "Call-ID", &sip_msg_hdr(req, SIP_HDR_CALL_ID)->val);
	if (!err)
		err = wbuf_put_str(out, "CSeq: ");
	if (!err)
		err = wbuf_put_u32(out, cs->num);
	if (!err)
		err = wbuf_put(out, " ", 1);
	if (!err)
		err = wbuf_put_str(out, method);
	if (!err)
		err = wbuf_put(out, "\r\n", 2);
	if (!err && extra)
		err = wbuf_put_pl(out, extra);
	if (!err)
		err = wbuf_put_str(out, "Content-Length: 0\r\n\r\n");
	if (err)
		out->len = start;
	return err;
}

/* The ACK for a 3xx-6xx to req: To (with its tag) from the response. */
int txn_build_ack(struct sip_msg *req, struct sip_msg *resp, struct wbuf *out)
{
	const struct sip_hdr *to = sip_msg_hdr(resp, SIP_HDR_TO);

	if (!to)
		return EBADMSG;
	return build(req, "ACK", &to->val, NULL, out);
}

/* The CANCEL for req: To as in the request, so without the tag of any response. */
int txn_build_cancel(struct sip_msg *req, const struct pl *extra, struct wbuf *out)
{
	const struct sip_hdr *to = sip_msg_hdr(req, SIP_HDR_TO);

	if (!to)
		return EBADMSG;
	return build(req, "CANCEL", &to->val, extra, out);
}
