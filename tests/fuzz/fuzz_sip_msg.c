/* fuzz_sip_msg: libFuzzer harness for the SIP message codec: decode, every accessor, edits, writer, round trip. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip/sip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char scratch[SIP_MAX_MSG + 1];
static char out[2 * SIP_MAX_MSG];

/* Every slice an accessor hands out lies inside the decoded message. */
static void in_msg(const struct sip_msg *msg, const struct pl *pl)
{
	if (pl->l && (pl->p < msg->base || pl->p + pl->l > msg->base + msg->len))
		abort();
}

static void unescape(const struct pl *pl)
{
	size_t n;
	int err = sip_unescape(pl, scratch, sizeof(scratch), &n);

	if (err && err != EBADMSG)
		abort();
	if (!err && (n > pl->l || scratch[n] != '\0'))
		abort();
}

static void unquote(const struct pl *pl)
{
	size_t n;

	if (sip_unquote(pl, scratch, sizeof(scratch), &n) || n > pl->l)
		abort();
}

static void params_walk(const struct sip_msg *msg, const struct pl *params)
{
	struct pl c = *params, n, v;
	unsigned count = 0;

	while (sip_param_next(&c, &n, &v)) {
		in_msg(msg, &n);
		in_msg(msg, &v);
		unescape(&v);
		if (++count > 4 * SIP_MAX_PARAMS)
			abort();   /* the cursor must move */
	}
}

static void uri_use(const struct sip_msg *msg, const struct sip_uri *u)
{
	struct pl v;

	in_msg(msg, &u->raw);
	in_msg(msg, &u->host);
	in_msg(msg, &u->params);
	unescape(&u->user);
	unescape(&u->password);
	unescape(&u->headers);
	params_walk(msg, &u->params);
	if (sip_uri_param_get(u, "transport", &v))
		in_msg(msg, &v);
	if (u->is_sip && !u->host.l)
		abort();
}

static void addr_use(const struct sip_msg *msg, const struct sip_addr *a)
{
	in_msg(msg, &a->val);
	in_msg(msg, &a->tag);
	if (a->dname.l >= 2 && a->dname.p[0] == '"') {
		struct pl inner = { a->dname.p + 1, a->dname.l - 2 };

		unquote(&inner);
	}
	params_walk(msg, &a->params);
	uri_use(msg, &a->uri);
}

static void via_use(const struct sip_msg *msg, const struct sip_via *v)
{
	in_msg(msg, &v->val);
	in_msg(msg, &v->sentby);
	in_msg(msg, &v->branch);
	in_msg(msg, &v->received);
	if (v->rport.l && !v->has_rport)
		abort();
	params_walk(msg, &v->params);
}

static void digest_use(const struct sip_msg *msg, enum sip_hdr_id id)
{
	struct sip_iter it = { 0 };
	struct sip_digest dg;
	int err, n = 0;

	while ((err = sip_msg_digest(msg, id, &it, &dg)) != ENOENT) {
		if (!err) {
			const struct pl *f[] = { &dg.realm, &dg.nonce, &dg.opaque, &dg.algorithm,
						 &dg.qop, &dg.stale, &dg.domain, &dg.username,
						 &dg.uri, &dg.response, &dg.cnonce, &dg.nc,
						 &dg.userhash };

			for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
				in_msg(msg, f[i]);
				unquote(f[i]);
			}
		}
		if (++n > SIP_MAX_HEADERS)
			abort();
	}
}

/* Every accessor and iterator, on whatever decoded. */
static void accessors(struct sip_msg *msg)
{
	const struct sip_via *via;
	const struct sip_addr *a;
	const struct sip_cseq *cs;
	const struct sip_uri *u;
	struct sip_session_expires se;
	struct sip_reason r;
	struct sip_ctype ct;
	struct sip_contact c;
	struct sip_via v;
	struct sip_addr ra;
	struct sip_iter it;
	struct pl pl;
	uint32_t x;
	int err;

	if (sip_msg_check(msg) == 0) {
		/* what check promises, the accessors deliver */
		if (sip_msg_via_top(msg, &via) || sip_msg_from(msg, &a) || sip_msg_to(msg, &a) ||
		    sip_msg_cseq(msg, &cs) || sip_msg_callid(msg, &pl))
			abort();
		if (msg->req && (sip_msg_ruri(msg, &u) || !pl_eq(&cs->method, &msg->method)))
			abort();
	}
	if (!sip_msg_via_top(msg, &via))
		via_use(msg, via);
	if (!sip_msg_from(msg, &a))
		addr_use(msg, a);
	if (!sip_msg_to(msg, &a))
		addr_use(msg, a);
	if (!sip_msg_cseq(msg, &cs) && (cs->num > 0x7fffffffu || !cs->method.l))
		abort();
	if (!sip_msg_callid(msg, &pl))
		in_msg(msg, &pl);
	if (!sip_msg_ruri(msg, &u))
		uri_use(msg, u);
	sip_msg_max_forwards(msg, &x);
	sip_msg_expires(msg, &x);
	sip_msg_min_se(msg, &x);
	if (!sip_msg_ctype(msg, &ct))
		params_walk(msg, &ct.params);
	if (!sip_msg_session_expires(msg, &se))
		params_walk(msg, &se.params);
	if (!sip_msg_reason(msg, &r))
		unquote(&r.text);
	sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "timer");
	sip_msg_has_option(msg, SIP_HDR_REQUIRE, "100rel");

	memset(&it, 0, sizeof(it));
	while ((err = sip_msg_contact_next(msg, &it, &c)) != ENOENT) {
		if (!err && !c.star)
			addr_use(msg, &c.addr);
	}
	memset(&it, 0, sizeof(it));
	while ((err = sip_msg_via_next(msg, &it, &v)) != ENOENT) {
		if (!err)
			via_use(msg, &v);
	}
	for (int id = SIP_HDR_ROUTE; id; id = id == SIP_HDR_ROUTE ? SIP_HDR_RECORD_ROUTE : 0) {
		memset(&it, 0, sizeof(it));
		while ((err = sip_msg_route_next(msg, (enum sip_hdr_id)id, &it, &ra)) != ENOENT) {
			if (!err)
				addr_use(msg, &ra);
		}
	}
	digest_use(msg, SIP_HDR_WWW_AUTHENTICATE);
	digest_use(msg, SIP_HDR_PROXY_AUTHENTICATE);
	digest_use(msg, SIP_HDR_AUTHORIZATION);
	digest_use(msg, SIP_HDR_PROXY_AUTHORIZATION);

	/* every header is reachable by id, by name, and its values split */
	for (unsigned i = 0; i < msg->hdrc; i++) {
		const struct sip_hdr *h = &msg->hdrv[i];
		unsigned n = 0;

		in_msg(msg, &h->name);
		in_msg(msg, &h->val);
		if (h->off + h->len > msg->len || h->id != sip_hdr_id_lookup(h->name.p, h->name.l))
			abort();
		if (!sip_msg_hdr(msg, (enum sip_hdr_id)h->id))
			abort();
		memset(&it, 0, sizeof(it));
		while (sip_msg_values_next(msg, (enum sip_hdr_id)h->id, &it, &pl)) {
			in_msg(msg, &pl);
			if (++n > 64 * 1024)
				abort();
		}
	}
}

/* Longest physical line of the header block, line end excluded. */
static size_t longest_line(const struct sip_msg *msg)
{
	size_t best = 0, start = 0;

	for (size_t i = 0; i < msg->hdr_end; i++) {
		if (msg->base[i] == '\n') {
			best = MAX(best, i - start);
			start = i + 1;
		}
	}
	return best;
}

static size_t longest_value(const struct sip_msg *msg)
{
	size_t best = 0;

	for (unsigned i = 0; i < msg->hdrc; i++)
		best = MAX(best, msg->hdrv[i].val.l);
	return best;
}

static const struct pl *first_val(const struct sip_msg *msg, enum sip_hdr_id id)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, id);

	return h ? &h->val : NULL;
}

static bool same_val(const struct pl *a, const struct pl *b)
{
	return (!a && !b) || (a && b && pl_eq(a, b));
}

/*
 * A few edits, then the writer; the output must decode again (when the
 * edits cannot have pushed it over a limit) with the same Call-ID and CSeq
 * and a Content-Length that frames the body it wrote.
 */
static void edits_round_trip(struct sip_msg *msg, struct sip_msg *re, uint8_t sel)
{
	struct pl body = PL("v=0\r\n"), x = PL("1"), mf = PL("69");
	struct pl ruri = PL("sip:fuzz@example.com"), hp = PL("192.0.2.1:5060");
	const struct sip_hdr *h;
	struct sip_iter it = { 0 };
	struct sip_contact c;
	struct wbuf wb;
	size_t consumed, blen;
	bool margin;
	int err;

	/* no edits: the very same bytes */
	wbuf_init(&wb, out, sizeof(out));
	err = sip_msg_encode(msg, &wb);
	if (err)
		abort();
	if (msg->has_clen && (wb.len != msg->len || memcmp(out, msg->base, msg->len)))
		abort();

	if (sip_msg_hdr_add(msg, sip_msg_hdr(msg, SIP_HDR_VIA), "X-Fuzz", &x))
		abort();
	if ((h = sip_msg_hdr(msg, SIP_HDR_MAX_FORWARDS)) && sip_msg_hdr_set(msg, h, &mf))
		abort();
	if ((sel & 1) && (h = sip_msg_hdr(msg, SIP_HDR_USER_AGENT)) && sip_msg_hdr_remove(msg, h))
		abort();
	if ((sel & 2) && msg->req && sip_msg_ruri_set(msg, &ruri))
		abort();
	if ((sel & 4) && !sip_msg_contact_next(msg, &it, &c) && !c.star && c.addr.uri.is_sip &&
	    sip_msg_splice(msg, &c.addr.uri.hostport, &hp))
		abort();
	if ((sel & 8) && sip_msg_body_set(msg, &body))
		abort();
	wbuf_init(&wb, out, sizeof(out));
	err = sip_msg_encode(msg, &wb);
	if (err)
		abort();

	/* edits above add at most ~150 bytes, one line of ~40 and two fields */
	margin = msg->hdr_end + 256 < SIP_MAX_HDR_BLOCK && msg->hdrc + 3 <= SIP_MAX_HEADERS &&
		 longest_line(msg) + 40 <= SIP_MAX_LINE && longest_value(msg) + 40 <= SIP_MAX_HDR_VALUE &&
		 msg->len + 256 <= SIP_MAX_MSG;
	if (!margin)
		return;
	blen = (sel & 8) ? body.l : msg->body.l;
	err = sip_msg_decode_raw(re, out, wb.len, 0, NULL);
	if (err)
		abort();
	if (!re->has_clen || re->clen != blen || re->body.l != blen)
		abort();
	if (!same_val(first_val(msg, SIP_HDR_CALL_ID), first_val(re, SIP_HDR_CALL_ID)) ||
	    !same_val(first_val(msg, SIP_HDR_CSEQ), first_val(re, SIP_HDR_CSEQ)) ||
	    sip_msg_hdr_count(msg, SIP_HDR_CALL_ID) != sip_msg_hdr_count(re, SIP_HDR_CALL_ID) ||
	    sip_msg_hdr_count(msg, SIP_HDR_CSEQ) != sip_msg_hdr_count(re, SIP_HDR_CSEQ))
		abort();
	if ((sel & 8) && !pl_eq(&re->body, &body))
		abort();
	if (sip_msg_hdr_count(re, SIP_HDR_OTHER) != sip_msg_hdr_count(msg, SIP_HDR_OTHER) + 1 &&
	    sip_msg_hdr_count(msg, SIP_HDR_OTHER) < UINT8_MAX)
		abort();
	/* and on a stream, where Content-Length frames it */
	err = sip_msg_decode_raw(re, out, wb.len, SIP_DECODE_STREAM, &consumed);
	if (err || consumed != wb.len)
		abort();
	accessors(re);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_msg *msg, *re;
	size_t before = mem_nalloc(), off = 0, consumed, dlen = 0;
	struct buf *mb;
	int err, derr;
	unsigned n = 0;

	if (!msg && (sip_msg_alloc(&msg) || sip_msg_alloc(&re)))
		abort();
	before = mem_nalloc();
	if (size <= 32)
		sip_hdr_id_lookup((const char *)data, size);

	/* datagram */
	if (buf_from_mem(&mb, data, size))
		abort();
	derr = sip_msg_decode(msg, mb, 0, 0, &consumed);
	mem_deref(mb);
	if (!derr) {
		if (consumed != size || msg->len > size || !msg->mb)
			abort();
		dlen = msg->len;
		accessors(msg);
		edits_round_trip(msg, re, size ? data[size - 1] : 0);
	} else if (msg->base) {
		/* headers kept to answer 400: they are still readable */
		if (derr == ENODATA || !sip_msg_headers_ok(msg) || !msg->mb || msg->body.l)
			abort();
		accessors(msg);
	} else if (msg->hdrc || msg->mb) {
		abort();
	}
	sip_msg_reset(msg);

	/* stream: one message after the other */
	while (off < size) {
		err = sip_msg_decode_raw(msg, (const char *)data + off, size - off,
					 SIP_DECODE_STREAM, &consumed);
		if (consumed > size - off)
			abort();
		if (err) {
			if (err == ENODATA && msg->base)
				abort();
			break;
		}
		if (!consumed || msg->len > consumed)
			abort();
		/* a whole input that frames as one stream message is a datagram too */
		if (off == 0 && consumed == size && size <= SIP_MAX_MSG &&
		    (derr || dlen != msg->len))
			abort();
		accessors(msg);
		off += consumed;
		if (++n > size)
			abort();
	}
	sip_msg_reset(msg);
	sip_msg_reset(re);
	if (mem_nalloc() != before)
		abort();
	return 0;
}
