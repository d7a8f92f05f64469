/* b2bua: requests addressed to the SBC itself (OPTIONS keep-alives) and the answer for what cannot be routed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "b2bua.h"

/*
 * What the SBC answers itself with today. Allow grows as the B2BUA learns
 * to carry each method across the zones.
 */
#define B2BUA_ALLOW "OPTIONS"

struct b2bua {
	struct sip_transp *transp;
	char extra[256];            /* header lines of an OPTIONS answer */
	struct b2bua_stats stats;
};

static void b2bua_destroy(void *data)
{
	struct b2bua *b = data;

	mem_deref(b->transp);
}

int b2bua_alloc(struct b2bua **bp, struct sip_transp *transp, const char *product)
{
	struct b2bua *b = mem_zalloc(sizeof(*b), b2bua_destroy);
	int n;

	if (!b)
		return ENOMEM;
	b->transp = mem_ref(transp);
	n = snprintf(b->extra, sizeof(b->extra),
		     "Allow: " B2BUA_ALLOW "\r\nAccept: application/sdp\r\nServer: %s\r\n",
		     product);
	if (n < 0 || (size_t)n >= sizeof(b->extra)) {
		mem_deref(b);
		return EINVAL;
	}
	*bp = b;
	return 0;
}

/*
 * OPTIONS whose Request-URI is one of this zone's own addresses and ports,
 * without a user part: a trunk's or a phone's keep-alive to the SBC.
 */
static bool for_us(struct b2bua *b, struct sip_msg *req)
{
	const struct sip_uri *ruri;

	return req->mid == SIP_METHOD_OPTIONS && sip_msg_ruri(req, &ruri) == 0 &&
	       !ruri->user.l && sip_transp_uri_is_local(b->transp, req->src.zone, ruri);
}

/*
 * To tag for a response the SBC gives itself: a keyed hash of Call-ID,
 * From tag and CSeq, so it needs no state and cannot be guessed.
 */
static struct pl local_tag(struct sip_msg *req, char *buf, size_t size)
{
	const struct sip_hdr *cid = sip_msg_hdr(req, SIP_HDR_CALL_ID);
	const struct sip_hdr *cseq = sip_msg_hdr(req, SIP_HDR_CSEQ);
	const struct sip_addr *from;
	uint32_t h1 = cid ? hash_keyed(cid->val.p, cid->val.l) : 0;
	uint32_t h2 = cseq ? hash_keyed(cseq->val.p, cseq->val.l) : 0;
	uint32_t h3 = sip_msg_from(req, &from) == 0 ? hash_keyed(from->tag.p, from->tag.l) : 0;

	snprintf(buf, size, "%08x%08x", h1 ^ h3, h2);
	return pl_from_str(buf);
}

/* A new server transaction: answer it here; it is never left without a final response. */
void b2bua_request(struct b2bua *b, struct txn_server *st, struct sip_msg *req, uint64_t now)
{
	const struct sip_addr *to;
	char tagbuf[20];
	struct pl extra, tag = local_tag(req, tagbuf, sizeof(tagbuf));

	if (for_us(b, req)) {
		extra = pl_from_str(b->extra);
		b->stats.options_answered++;
		txn_server_reply(st, 200, NULL, &tag, &extra, now);
		return;
	}
	if (sip_msg_to(req, &to) == 0 && to->tag.l) {
		b->stats.no_dialog++;
		txn_server_reply(st, 481, NULL, &tag, NULL, now);
		return;
	}
	b->stats.no_route++;
	txn_server_reply(st, 404, NULL, &tag, NULL, now);
}

/* ACK for a 2xx: there are no dialogs yet, so none is ours. */
int b2bua_ack(struct b2bua *b, struct txn_server *st, struct sip_msg *ack)
{
	(void)b;
	(void)st;
	(void)ack;
	return ENOENT;
}

const struct b2bua_stats *b2bua_stats(const struct b2bua *b)
{
	return &b->stats;
}
