/* txn_match: the keys that tie requests and responses to transactions (RFC 3261 17.1.3, 17.2.3). */
#include <errno.h>
#include <string.h>

#include "txn_int.h"

bool txn_branch_has_cookie(const struct pl *branch)
{
	return branch->l >= 7 && !memcmp(branch->p, "z9hG4bK", 7);
}

static int put_lower(struct wbuf *wb, const struct pl *pl)
{
	if (pl->l > wb->size - wb->len)
		return ENOSPC;
	for (size_t i = 0; i < pl->l; i++) {
		char c = pl->p[i];

		wb->p[wb->len++] = (c >= 'A' && c <= 'Z') ? (char)(c | 0x20) : c;
	}
	return 0;
}

/* Fields joined by NUL bytes, which no header value can hold (the parser refuses them). */
static int put_field(struct wbuf *wb, const struct pl *pl)
{
	int err = wbuf_put_pl(wb, pl);

	return err ? err : wbuf_put(wb, "", 1);
}

/*
 * The key of the server transaction a request belongs to; method is the
 * request's, or INVITE for an ACK (and for the INVITE a CANCEL names).
 * With the magic cookie (RFC 3261 17.2.3): branch, sent-by (host names
 * compare case-insensitively) and method. Without it, the RFC 2543 rule of
 * the same section: Request-URI, Call-ID, From tag, CSeq number and the
 * whole top Via, and the method; the To tag is left out (see
 * docs/transactions.md). EMSGSIZE when the key would exceed size.
 */
int txn_server_key(struct sip_msg *msg, const struct pl *method, char *buf, size_t size,
		   size_t *len)
{
	const struct sip_via *via;
	struct wbuf wb;
	int err;

	if (sip_msg_via_top(msg, &via))
		return EBADMSG;
	wbuf_init(&wb, buf, size);
	if (txn_branch_has_cookie(&via->branch)) {
		err = wbuf_put(&wb, "B", 1);
		if (!err)
			err = put_field(&wb, &via->branch);
		if (!err)
			err = put_lower(&wb, &via->sentby);
		if (!err)
			err = wbuf_put(&wb, "", 1);
	} else {
		const struct sip_addr *from;
		const struct sip_cseq *cs;
		struct pl callid;

		if (!msg->req || sip_msg_from(msg, &from) || sip_msg_cseq(msg, &cs) ||
		    sip_msg_callid(msg, &callid))
			return EBADMSG;
		err = wbuf_put(&wb, "L", 1);
		if (!err)
			err = put_field(&wb, &msg->ruri);
		if (!err)
			err = put_field(&wb, &callid);
		if (!err)
			err = put_field(&wb, &from->tag);
		if (!err)
			err = wbuf_put_u32(&wb, cs->num);
		if (!err)
			err = wbuf_put(&wb, "", 1);
		if (!err)
			err = put_field(&wb, &via->val);
	}
	if (!err)
		err = wbuf_put_pl(&wb, method);
	if (err)
		return err == ENOSPC ? EMSGSIZE : err;
	*len = wb.len;
	return 0;
}

/* The key of a client transaction: our branch and the method (RFC 3261 17.1.3). */
int txn_client_key(const struct pl *branch, const struct pl *method, char *buf, size_t size,
		   size_t *len)
{
	struct wbuf wb;
	int err;

	wbuf_init(&wb, buf, size);
	err = wbuf_put(&wb, "B", 1);
	if (!err)
		err = put_field(&wb, branch);
	if (!err)
		err = wbuf_put_pl(&wb, method);
	if (err)
		return err == ENOSPC ? EMSGSIZE : err;
	*len = wb.len;
	return 0;
}
