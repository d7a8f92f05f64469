/* msg: SIP message framing and tokenising, validation, and cached typed access. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip_int.h"

static void msg_destroy(void *data)
{
	struct sip_msg *msg = data;

	mem_deref(msg->mb);
	free(msg->arena);
}

int sip_msg_alloc(struct sip_msg **msgp)
{
	struct sip_msg *msg;

	if (!msgp)
		return EINVAL;
	msg = mem_zalloc(sizeof(*msg), msg_destroy);
	if (!msg)
		return ENOMEM;
	sip_msg_reset(msg);
	*msgp = msg;
	return 0;
}

/* Forget the decoded message and its edits; keeps the edit arena for reuse. */
void sip_msg_reset(struct sip_msg *msg)
{
	msg->mb = mem_deref(msg->mb);
	msg->base = NULL;
	msg->len = 0;
	msg->req = false;
	msg->method = (struct pl)PL_INIT;
	msg->mid = SIP_METHOD_UNKNOWN;
	msg->ruri = (struct pl)PL_INIT;
	msg->ver = (struct pl)PL_INIT;
	msg->ver_ok = false;
	msg->scode = 0;
	msg->reason = (struct pl)PL_INIT;
	msg->hdrc = 0;
	memset(msg->first, 0xff, sizeof(msg->first));
	memset(msg->count, 0, sizeof(msg->count));
	msg->hdr_end = 0;
	msg->body = (struct pl)PL_INIT;
	msg->clen = 0;
	msg->has_clen = false;
	msg->error = NULL;
	memset(&msg->src, 0, sizeof(msg->src));
	msg->parsed = 0;
	msg->parse_err = 0;
	sip_msg_edits_clear(msg);
}

/* "SIP/" in any case (RFC 3261 7.1: the version string is case-insensitive). */
static bool sip_prefix(const char *p, size_t n)
{
	return n >= 4 && (p[0] | 0x20) == 's' && (p[1] | 0x20) == 'i' &&
	       (p[2] | 0x20) == 'p' && p[3] == '/';
}

static bool version_syntax(const struct pl *v, bool *is20)
{
	size_t i = 4, d1 = 0, d2 = 0;

	if (v->l < 7 || !sip_prefix(v->p, v->l))
		return false;
	while (i < v->l && v->p[i] >= '0' && v->p[i] <= '9') {
		i++;
		d1++;
	}
	if (!d1 || i >= v->l || v->p[i] != '.')
		return false;
	i++;
	while (i < v->l && v->p[i] >= '0' && v->p[i] <= '9') {
		i++;
		d2++;
	}
	if (!d2 || i != v->l)
		return false;
	*is20 = v->l == 7 && v->p[4] == '2' && v->p[6] == '0';
	return true;
}

/* Request-Line or Status-Line (RFC 3261 7.1, 7.2); single spaces between parts. */
static int start_line_decode(struct sip_msg *msg, const char *p, size_t n)
{
	const char *sp1 = memchr(p, ' ', n), *sp2;

	if (!sp1)
		goto bad;
	if (n > 4 && sip_prefix(p, n)) {
		struct pl code;
		uint32_t sc;

		msg->req = false;
		msg->ver.p = p;
		msg->ver.l = (size_t)(sp1 - p);
		if (!version_syntax(&msg->ver, &msg->ver_ok))
			goto bad;
		code.p = sp1 + 1;
		code.l = (size_t)(p + n - code.p);
		if (code.l < 3)
			goto bad;
		code.l = 3;
		if (pl_u32(&code, &sc) || sc < 100 || sc > 699)
			goto bad;
		msg->scode = (uint16_t)sc;
		if (code.p + 3 < p + n) {
			if (code.p[3] != ' ')
				goto bad;
			msg->reason.p = code.p + 4;
			msg->reason.l = (size_t)(p + n - msg->reason.p);
		}
		return 0;
	}
	msg->req = true;
	msg->method.p = p;
	msg->method.l = (size_t)(sp1 - p);
	for (size_t i = 0; i < msg->method.l; i++) {
		if (!sip_is(p[i], SIP_C_TOKEN))
			goto bad;
	}
	if (!msg->method.l)
		goto bad;
	msg->mid = sip_method_lookup(&msg->method);
	sp2 = memchr(sp1 + 1, ' ', (size_t)(p + n - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		goto bad;
	msg->ruri.p = sp1 + 1;
	msg->ruri.l = (size_t)(sp2 - sp1 - 1);
	msg->ver.p = sp2 + 1;
	msg->ver.l = (size_t)(p + n - msg->ver.p);
	if (!version_syntax(&msg->ver, &msg->ver_ok))
		goto bad;
	return 0;

 bad:
	msg->error = "Malformed start line";
	return EBADMSG;
}

/* Trim the header's raw value once its last continuation line is known. */
static int hdr_finish(struct sip_msg *msg)
{
	struct sip_hdr *h;

	if (!msg->hdrc)
		return 0;
	h = &msg->hdrv[msg->hdrc - 1];
	if (h->val.l > SIP_MAX_HDR_VALUE) {
		msg->error = "Header too long";
		return EMSGSIZE;
	}
	h->val = pl_trim(h->val);
	return 0;
}

static int hdr_begin(struct sip_msg *msg, const char *s, size_t off, size_t n,
		     int16_t *last)
{
	const char *line = s + off;
	struct sip_hdr *h;
	size_t nl = 0, colon;

	/* name, optional blanks, colon (HCOLON of RFC 3261 25.1) */
	while (nl < n && sip_is(line[nl], SIP_C_TOKEN))
		nl++;
	colon = nl;
	while (colon < n && (line[colon] == ' ' || line[colon] == '\t'))
		colon++;
	if (colon == n) {
		msg->error = "Header without colon";
		return EBADMSG;
	}
	if (!nl || line[colon] != ':') {
		msg->error = "Malformed header name";
		return EBADMSG;
	}
	if (msg->hdrc == SIP_MAX_HEADERS) {
		msg->error = "Too many headers";
		return EMSGSIZE;
	}
	h = &msg->hdrv[msg->hdrc];
	h->name.p = line;
	h->name.l = nl;
	h->val.p = line + colon + 1;
	h->val.l = n - colon - 1;
	h->off = (uint32_t)off;
	h->id = (uint16_t)sip_hdr_id_lookup(line, nl);
	h->next = -1;
	if (last[h->id] >= 0)
		msg->hdrv[last[h->id]].next = (int16_t)msg->hdrc;
	else
		msg->first[h->id] = (int16_t)msg->hdrc;
	last[h->id] = (int16_t)msg->hdrc;
	if (msg->count[h->id] < UINT8_MAX)
		msg->count[h->id]++;
	msg->hdrc++;
	return 0;
}

/*
 * No NUL anywhere in the start line and headers, and no CR but as part of a
 * line end: a lone CR is where another parser might see a line break, and
 * so a header we never saw.
 */
static int hdr_block_check(struct sip_msg *msg, const char *s, size_t n)
{
	const char *end = s + n;

	if (memchr(s, '\0', n)) {
		msg->error = "NUL byte in headers";
		return EBADMSG;
	}
	/* memchr hops from CR to CR: a handful per message, not a test per byte */
	for (const char *cr = memchr(s, '\r', n); cr; cr = memchr(cr, '\r', (size_t)(end - cr))) {
		if (++cr == end || *cr != '\n') {
			msg->error = "Bare CR in headers";
			return EBADMSG;
		}
	}
	return 0;
}

static int clen_decode(struct sip_msg *msg)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTENT_LENGTH);
	uint32_t v;
	int err;

	if (!h)
		return 0;
	if (msg->count[SIP_HDR_CONTENT_LENGTH] > 1) {
		msg->error = "Duplicate Content-Length header";
		return EBADMSG;
	}
	err = pl_u32(&h->val, &v);
	if (err || h->val.l > 10) {
		msg->error = "Malformed Content-Length header";
		return EBADMSG;
	}
	if (v > SIP_MAX_BODY) {
		msg->error = "Body too large";
		return EMSGSIZE;
	}
	msg->clen = v;
	msg->has_clen = true;
	return 0;
}

/*
 * Frame and tokenise one message: the start line is split, each header
 * field is found and its name looked up, folded lines are joined; header
 * bodies are left for the typed accessors. On stream transports the message
 * ends where Content-Length says, and ENODATA means "read more"; on datagrams
 * bytes past Content-Length are dropped (RFC 3261 18.3). *consumed tells the
 * caller how many bytes to drop from its input (leading CRLF keep-alives
 * included), also with ENODATA.
 */
static int msg_tokenise(struct sip_msg *msg, const char *p, size_t len, unsigned flags,
			size_t *consumed)
{
	bool stream = flags & SIP_DECODE_STREAM;
	int16_t last[SIP_HDR__COUNT];
	size_t skip = 0, pos = 0, avail, body_off = 0;
	const char *s;
	bool ended = false;
	int err;

	while (skip < len && (p[skip] == '\r' || p[skip] == '\n'))
		skip++;
	if (consumed)
		*consumed = skip;
	if (skip == len)
		return ENODATA;
	s = p + skip;
	avail = len - skip;
	if (!stream && avail > SIP_MAX_MSG) {
		msg->error = "Message too large";
		return EMSGSIZE;
	}
	memset(last, 0xff, sizeof(last));

	while (!ended) {
		size_t room = MIN(avail - pos, (size_t)SIP_MAX_LINE + 2);
		const char *eol = memchr(s + pos, '\n', room);
		size_t n, next;

		if (!eol) {
			if (room == SIP_MAX_LINE + 2) {
				msg->error = "Line too long";
				return EMSGSIZE;
			}
			if (pos + room >= SIP_MAX_HDR_BLOCK) {
				msg->error = "Header block too large";
				return EMSGSIZE;
			}
			if (stream)
				return ENODATA;
			msg->error = "Headers not terminated by an empty line";
			return EBADMSG;
		}
		n = (size_t)(eol - (s + pos));
		next = pos + n + 1;
		if (n && s[pos + n - 1] == '\r')
			n--;
		if (n > SIP_MAX_LINE) {
			msg->error = "Line too long";
			return EMSGSIZE;
		}
		if (next > SIP_MAX_HDR_BLOCK) {
			msg->error = "Header block too large";
			return EMSGSIZE;
		}
		if (pos == 0) {
			err = start_line_decode(msg, s, n);
			if (err)
				return err;
		} else if (n == 0) {
			msg->hdr_end = (uint32_t)pos;
			body_off = next;
			ended = true;
		} else if (s[pos] == ' ' || s[pos] == '\t') {
			struct sip_hdr *h;

			if (!msg->hdrc) {
				msg->error = "Continuation line without a header";
				return EBADMSG;
			}
			h = &msg->hdrv[msg->hdrc - 1];
			h->val.l = (size_t)(s + pos + n - h->val.p);
			h->len = (uint32_t)(next - h->off);
		} else {
			err = hdr_finish(msg);
			if (!err)
				err = hdr_begin(msg, s, pos, n, last);
			if (err)
				return err;
			msg->hdrv[msg->hdrc - 1].len = (uint32_t)(next - pos);
		}
		pos = next;
	}
	err = hdr_finish(msg);
	if (!err)
		err = hdr_block_check(msg, s, body_off);
	if (err)
		return err;
	/*
	 * The header block is whole from here on: even if the framing below
	 * fails, the headers can be read to answer 400 (sip_msg_headers_ok).
	 */
	msg->base = s;
	msg->len = body_off;
	msg->body.p = s + body_off;
	err = clen_decode(msg);
	if (err)
		return err;

	if (stream) {
		if (!msg->has_clen) {
			msg->error = "Content-Length missing on a stream transport";
			return EBADMSG;
		}
		if (avail - body_off < msg->clen)
			return ENODATA;
		msg->body.l = msg->clen;
	} else if (msg->has_clen) {
		if (msg->clen > avail - body_off) {
			msg->error = "Content-Length beyond the end of the datagram";
			return EBADMSG;
		}
		msg->body.l = msg->clen;
	} else {
		if (avail - body_off > SIP_MAX_BODY) {
			msg->error = "Body too large";
			return EMSGSIZE;
		}
		msg->body.l = avail - body_off;
	}
	msg->len = body_off + msg->body.l;
	if (consumed)
		*consumed = stream ? skip + msg->len : len;
	return 0;
}

/*
 * What a failed decode leaves: nothing but msg->error, unless the header
 * block was whole (sip_msg_headers_ok) and only the framing after it failed;
 * then the headers stay, with an empty body, to answer 400. ENODATA leaves
 * nothing: the message is not there yet.
 */
static int decode_end(struct sip_msg *msg, int err)
{
	const char *why = msg->error;

	if (err && (err == ENODATA || !msg->base)) {
		sip_msg_reset(msg);
		msg->error = why;
	}
	return err;
}

/*
 * Decode the message at mb->data + off; the message keeps a reference to
 * mb, so the slices stay valid as long as the message lives, also after an
 * error that left the headers. The caller keeps its own reference.
 */
int sip_msg_decode(struct sip_msg *msg, struct buf *mb, size_t off, unsigned flags,
		   size_t *consumed)
{
	int err;

	if (!msg || !mb || off > mb->len)
		return EINVAL;
	sip_msg_reset(msg);
	err = decode_end(msg, msg_tokenise(msg, mb->data + off, mb->len - off, flags,
					   consumed));
	if (msg->base)
		msg->mb = mem_ref(mb);
	return err;
}

/* Decode bytes the caller keeps alive and unchanged while the message is used. */
int sip_msg_decode_raw(struct sip_msg *msg, const char *p, size_t len, unsigned flags,
		       size_t *consumed)
{
	if (!msg || (!p && len))
		return EINVAL;
	sip_msg_reset(msg);
	return decode_end(msg, msg_tokenise(msg, p, len, flags, consumed));
}

/*
 * After a decode error: was the header block complete, so that the
 * headers can still be read (to answer 400 to a bad Content-Length)?
 */
bool sip_msg_headers_ok(const struct sip_msg *msg)
{
	return msg->base != NULL;
}

const struct sip_hdr *sip_msg_hdr(const struct sip_msg *msg, enum sip_hdr_id id)
{
	if ((unsigned)id >= SIP_HDR__COUNT || msg->first[id] < 0)
		return NULL;
	return &msg->hdrv[msg->first[id]];
}

const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *msg, const struct sip_hdr *h)
{
	return h->next >= 0 ? &msg->hdrv[h->next] : NULL;
}

/* First header by name (any case; compact forms match their long names). */
const struct sip_hdr *sip_msg_hdr_byname(const struct sip_msg *msg, const char *name)
{
	size_t n = strlen(name);
	enum sip_hdr_id id = sip_hdr_id_lookup(name, n);

	if (id != SIP_HDR_OTHER)
		return sip_msg_hdr(msg, id);
	for (unsigned i = 0; i < msg->hdrc; i++) {
		const struct sip_hdr *h = &msg->hdrv[i];

		if (h->id == SIP_HDR_OTHER && pl_caseeq_str(&h->name, name))
			return h;
	}
	return NULL;
}

unsigned sip_msg_hdr_count(const struct sip_msg *msg, enum sip_hdr_id id)
{
	return (unsigned)id < SIP_HDR__COUNT ? msg->count[id] : 0;
}

/* Walk the comma-separated values of every field with this id, in order. */
bool sip_msg_values_next(const struct sip_msg *msg, enum sip_hdr_id id,
			 struct sip_iter *it, struct pl *val)
{
	if (!it->started) {
		it->started = true;
		it->hdr = (unsigned)id < SIP_HDR__COUNT ? msg->first[id] : -1;
		if (it->hdr < 0)
			return false;
		it->rest = msg->hdrv[it->hdr].val;
	}
	while (it->hdr >= 0) {
		if (sip_split_value(&it->rest, val))
			return true;
		it->hdr = msg->hdrv[it->hdr].next;
		if (it->hdr >= 0)
			it->rest = msg->hdrv[it->hdr].val;
	}
	return false;
}

/* Shared by the cached accessors: parse once, remember the result or the error. */
static int cached(struct sip_msg *msg, uint32_t bit, int (*parse)(struct sip_msg *))
{
	int err;

	if (msg->parsed & bit)
		return 0;
	if (msg->parse_err & bit)
		return EBADMSG;
	err = parse(msg);
	if (err == ENOENT)
		return err;
	if (err) {
		msg->parse_err |= bit;
		return EBADMSG;
	}
	msg->parsed |= bit;
	return 0;
}

static int parse_via(struct sip_msg *msg)
{
	struct sip_iter it = { 0 };
	struct pl v;

	if (!sip_msg_values_next(msg, SIP_HDR_VIA, &it, &v))
		return msg->first[SIP_HDR_VIA] < 0 ? ENOENT : EBADMSG;
	return sip_via_decode(&msg->via, &v);
}

static int parse_addr(const struct sip_msg *msg, enum sip_hdr_id id, struct sip_addr *a)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, id);

	if (!h)
		return ENOENT;
	if (msg->count[id] > 1)
		return EBADMSG;
	return sip_addr_decode(a, &h->val);
}

static int parse_from(struct sip_msg *msg)
{
	return parse_addr(msg, SIP_HDR_FROM, &msg->from);
}

static int parse_to(struct sip_msg *msg)
{
	return parse_addr(msg, SIP_HDR_TO, &msg->to);
}

static int parse_cseq(struct sip_msg *msg)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CSEQ);

	if (!h)
		return ENOENT;
	if (msg->count[SIP_HDR_CSEQ] > 1)
		return EBADMSG;
	return sip_cseq_decode(&msg->cseq, &h->val);
}

static int parse_ruri(struct sip_msg *msg)
{
	if (!msg->req)
		return ENOENT;
	return sip_uri_decode(&msg->ruri_p, &msg->ruri);
}

int sip_msg_via_top(struct sip_msg *msg, const struct sip_via **via)
{
	int err = cached(msg, SIP_P_VIA, parse_via);

	if (!err)
		*via = &msg->via;
	return err;
}

int sip_msg_from(struct sip_msg *msg, const struct sip_addr **from)
{
	int err = cached(msg, SIP_P_FROM, parse_from);

	if (!err)
		*from = &msg->from;
	return err;
}

int sip_msg_to(struct sip_msg *msg, const struct sip_addr **to)
{
	int err = cached(msg, SIP_P_TO, parse_to);

	if (!err)
		*to = &msg->to;
	return err;
}

int sip_msg_cseq(struct sip_msg *msg, const struct sip_cseq **cseq)
{
	int err = cached(msg, SIP_P_CSEQ, parse_cseq);

	if (!err)
		*cseq = &msg->cseq;
	return err;
}

int sip_msg_ruri(struct sip_msg *msg, const struct sip_uri **uri)
{
	int err = cached(msg, SIP_P_RURI, parse_ruri);

	if (!err)
		*uri = &msg->ruri_p;
	return err;
}

int sip_msg_via_next(const struct sip_msg *msg, struct sip_iter *it, struct sip_via *via)
{
	struct pl v;

	if (!sip_msg_values_next(msg, SIP_HDR_VIA, it, &v))
		return ENOENT;
	return sip_via_decode(via, &v);
}

int sip_msg_contact_next(const struct sip_msg *msg, struct sip_iter *it,
			 struct sip_contact *c)
{
	struct pl v;

	if (!sip_msg_values_next(msg, SIP_HDR_CONTACT, it, &v))
		return ENOENT;
	return sip_contact_decode(c, &v);
}

int sip_msg_route_next(const struct sip_msg *msg, enum sip_hdr_id id, struct sip_iter *it,
		       struct sip_addr *addr)
{
	struct pl v;
	int err;

	if (!sip_msg_values_next(msg, id, it, &v))
		return ENOENT;
	err = sip_addr_decode(addr, &v);
	if (!err && !addr->angle)
		err = EBADMSG;   /* route values are name-addr only (RFC 3261 20.30, 20.34) */
	return err;
}

/* Digest headers are one challenge or credential per field: walk fields, not commas. */
int sip_msg_digest(const struct sip_msg *msg, enum sip_hdr_id id, struct sip_iter *it,
		   struct sip_digest *dg)
{
	if (!it->started) {
		it->started = true;
		it->hdr = (unsigned)id < SIP_HDR__COUNT ? msg->first[id] : -1;
	} else if (it->hdr >= 0) {
		it->hdr = msg->hdrv[it->hdr].next;
	}
	if (it->hdr < 0)
		return ENOENT;
	return sip_digest_decode(dg, &msg->hdrv[it->hdr].val);
}

static const enum sip_hdr_id singletons[] = {
	SIP_HDR_CALL_ID, SIP_HDR_CSEQ, SIP_HDR_FROM, SIP_HDR_TO, SIP_HDR_MAX_FORWARDS,
	SIP_HDR_CONTENT_TYPE, SIP_HDR_EXPIRES, SIP_HDR_MIN_EXPIRES,
	SIP_HDR_SESSION_EXPIRES, SIP_HDR_MIN_SE, SIP_HDR_RSEQ, SIP_HDR_RACK,
};

static const char *const dup_reason[SIP_HDR__COUNT] = {
	[SIP_HDR_CALL_ID] = "Duplicate Call-ID header",
	[SIP_HDR_CSEQ] = "Duplicate CSeq header",
	[SIP_HDR_FROM] = "Duplicate From header",
	[SIP_HDR_TO] = "Duplicate To header",
	[SIP_HDR_MAX_FORWARDS] = "Duplicate Max-Forwards header",
	[SIP_HDR_CONTENT_TYPE] = "Duplicate Content-Type header",
	[SIP_HDR_EXPIRES] = "Duplicate Expires header",
	[SIP_HDR_MIN_EXPIRES] = "Duplicate Min-Expires header",
	[SIP_HDR_SESSION_EXPIRES] = "Duplicate Session-Expires header",
	[SIP_HDR_MIN_SE] = "Duplicate Min-SE header",
	[SIP_HDR_RSEQ] = "Duplicate RSeq header",
	[SIP_HDR_RACK] = "Duplicate RAck header",
};

static int check_fail(struct sip_msg *msg, const char *why)
{
	msg->error = why;
	return EBADMSG;
}

/*
 * What RFC 3261 8.2/16.3 ask of every message before anything acts on it:
 * SIP/2.0 (EPROTONOSUPPORT otherwise, for a 505), the mandatory headers
 * present once and well formed, CSeq naming the request's method, a
 * Request-URI that parses. msg->error then says which, fit for the reason
 * phrase of a 400.
 */
int sip_msg_check(struct sip_msg *msg)
{
	const struct sip_via *via;
	const struct sip_addr *a;
	const struct sip_cseq *cs;
	const struct sip_uri *uri;
	struct pl callid;
	uint32_t mf;
	int err;

	if (!msg->base)
		return EINVAL;
	if (!msg->ver_ok) {
		msg->error = "Version Not Supported";
		return EPROTONOSUPPORT;
	}
	for (size_t i = 0; i < ARRAY_SIZE(singletons); i++) {
		if (msg->count[singletons[i]] > 1)
			return check_fail(msg, dup_reason[singletons[i]]);
	}
	err = sip_msg_via_top(msg, &via);
	if (err)
		return check_fail(msg, err == ENOENT ? "Missing Via header" : "Malformed Via header");
	err = sip_msg_from(msg, &a);
	if (err)
		return check_fail(msg, err == ENOENT ? "Missing From header" : "Malformed From header");
	err = sip_msg_to(msg, &a);
	if (err)
		return check_fail(msg, err == ENOENT ? "Missing To header" : "Malformed To header");
	err = sip_msg_callid(msg, &callid);
	if (err)
		return check_fail(msg, err == ENOENT ? "Missing Call-ID header"
					    : "Malformed Call-ID header");
	err = sip_msg_cseq(msg, &cs);
	if (err)
		return check_fail(msg, err == ENOENT ? "Missing CSeq header" : "Malformed CSeq header");
	if (msg->first[SIP_HDR_MAX_FORWARDS] >= 0 && sip_msg_max_forwards(msg, &mf))
		return check_fail(msg, "Malformed Max-Forwards header");
	if (msg->req) {
		if (!pl_eq(&cs->method, &msg->method))
			return check_fail(msg, "CSeq method does not match the request");
		err = sip_msg_ruri(msg, &uri);
		if (err)
			return check_fail(msg, "Malformed Request-URI");
	}
	return 0;
}
