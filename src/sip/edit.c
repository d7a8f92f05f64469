/* edit: recorded edits on a decoded message and the writer that applies them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sip_int.h"

enum { ARENA_MIN = 1024, ARENA_MAX = 2 * SIP_MAX_MSG };

void sip_msg_edits_clear(struct sip_msg *msg)
{
	msg->editc = 0;
	msg->arena_len = 0;
	msg->body_edited = false;
	msg->body_aoff = 0;
	msg->body_alen = 0;
}

/* Copy n bytes into the edit arena, growing it up to ARENA_MAX; offsets stay valid. */
static int arena_put(struct sip_msg *msg, const char *p, size_t n, uint32_t *aoff)
{
	if (n > ARENA_MAX - msg->arena_len)
		return ENOMEM;
	if (msg->arena_len + n > msg->arena_size) {
		size_t size = msg->arena_size ? msg->arena_size : ARENA_MIN;
		char *a;

		while (size < msg->arena_len + n)
			size *= 2;
		size = MIN(size, (size_t)ARENA_MAX);
		if (mem_fail_inject())
			return ENOMEM;
		a = realloc(msg->arena, size);
		if (!a)
			return ENOMEM;
		msg->arena = a;
		msg->arena_size = size;
	}
	if (n)
		memcpy(msg->arena + msg->arena_len, p, n);
	*aoff = (uint32_t)msg->arena_len;
	msg->arena_len += n;
	return 0;
}

static bool text_safe(const struct pl *v)
{
	for (size_t i = 0; i < v->l; i++) {
		char c = v->p[i];

		if (c == '\r' || c == '\n' || c == '\0')
			return false;
	}
	return true;
}

/* The writer alone sets Content-Length: refuse edits that touch it. */
static bool touches_clen(const struct sip_msg *msg, size_t off, size_t len)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_CONTENT_LENGTH);

	if (!h)
		return false;
	if (len == 0)
		return off > h->off && off < h->off + h->len;
	return off < h->off + h->len && h->off < off + len;
}

static int edit_add(struct sip_msg *msg, size_t off, size_t len, const char *p, size_t n)
{
	struct sip_edit *e;
	uint32_t aoff;
	int err;

	if (!msg->base || off > msg->len || len > msg->len - off)
		return EINVAL;
	if (touches_clen(msg, off, len))
		return EPERM;
	if (msg->editc == SIP_MAX_EDITS)
		return ENOMEM;
	err = arena_put(msg, p, n, &aoff);
	if (err)
		return err;
	e = &msg->editv[msg->editc++];
	e->off = (uint32_t)off;
	e->len = (uint32_t)len;
	e->aoff = aoff;
	e->alen = (uint32_t)n;
	return 0;
}

static size_t off_of(const struct sip_msg *msg, const char *p)
{
	return (size_t)(p - msg->base);
}

static bool inside(const struct sip_msg *msg, const struct pl *part)
{
	return msg->base && part->p >= msg->base && part->p <= msg->base + msg->len &&
	       part->l <= (size_t)(msg->base + msg->len - part->p);
}

/* Is part, given by offset and length, inside the slice v of the message? */
static bool within(const struct sip_msg *msg, const struct pl *v, size_t off, size_t len)
{
	size_t vo;

	if (!v->p)
		return false;
	vo = off_of(msg, v->p);
	return off >= vo && off - vo <= v->l && len <= v->l - (off - vo);
}

/* Header fields are edited through pointers into this message's own table. */
static bool hdr_owned(const struct sip_msg *msg, const struct sip_hdr *h)
{
	return h && h >= msg->hdrv && h < msg->hdrv + msg->hdrc;
}

/* Remove a header field, continuation lines included. */
int sip_msg_hdr_remove(struct sip_msg *msg, const struct sip_hdr *h)
{
	if (!hdr_owned(msg, h))
		return EINVAL;
	return edit_add(msg, h->off, h->len, NULL, 0);
}

/* Replace a header's value; its name, as written, is kept. */
int sip_msg_hdr_set(struct sip_msg *msg, const struct sip_hdr *h, const struct pl *val)
{
	if (!hdr_owned(msg, h) || !text_safe(val))
		return EINVAL;
	return edit_add(msg, off_of(msg, h->val.p), h->val.l, val->p, val->l);
}

/* Add "Name: value" before the given header, or at the end of the headers. */
int sip_msg_hdr_add(struct sip_msg *msg, const struct sip_hdr *before, const char *name,
		    const struct pl *val)
{
	char line[SIP_MAX_HDR_VALUE + 64];
	struct wbuf wb;
	size_t nl = strlen(name);

	if (!nl || nl > 64 || !text_safe(val) || val->l > SIP_MAX_HDR_VALUE)
		return EINVAL;
	for (size_t i = 0; i < nl; i++) {
		if (!sip_is(name[i], SIP_C_TOKEN))
			return EINVAL;
	}
	if (before && !hdr_owned(msg, before))
		return EINVAL;
	if (sip_hdr_id_lookup(name, nl) == SIP_HDR_CONTENT_LENGTH)
		return EPERM;   /* a second one would be a smuggling vector */
	wbuf_init(&wb, line, sizeof(line));
	if (wbuf_put(&wb, name, nl) || wbuf_put(&wb, ": ", 2) || wbuf_put_pl(&wb, val) ||
	    wbuf_put(&wb, "\r\n", 2))
		return EINVAL;
	return edit_add(msg, before ? before->off : msg->hdr_end, 0, wb.p, wb.len);
}

/*
 * In the header block a splice stays inside the Request-URI, the reason
 * phrase or one header's value: names, colons and line ends are not spliced.
 */
static bool splice_in_value(const struct sip_msg *msg, size_t off, size_t len)
{
	if (within(msg, &msg->ruri, off, len) || within(msg, &msg->reason, off, len))
		return true;
	for (unsigned i = 0; i < msg->hdrc; i++) {
		if (within(msg, &msg->hdrv[i].val, off, len))
			return true;
	}
	return false;
}

/*
 * Replace any part of the message (a URI inside a header, a parameter...)
 * given as a slice of it. In the header block the part must lie in a value
 * and the replacement may not hold line breaks; in the body anything goes.
 */
int sip_msg_splice(struct sip_msg *msg, const struct pl *part, const struct pl *repl)
{
	size_t off;

	if (!inside(msg, part))
		return EINVAL;
	off = off_of(msg, part->p);
	if (off < off_of(msg, msg->body.p)) {
		if (touches_clen(msg, off, part->l))
			return EPERM;
		if (!text_safe(repl) || !splice_in_value(msg, off, part->l))
			return EINVAL;
	}
	return edit_add(msg, off, part->l, repl->p, repl->l);
}

int sip_msg_ruri_set(struct sip_msg *msg, const struct pl *uri)
{
	if (!msg->req || !uri->l || !text_safe(uri) || memchr(uri->p, ' ', uri->l) ||
	    memchr(uri->p, '\t', uri->l))
		return EINVAL;
	return edit_add(msg, off_of(msg, msg->ruri.p), msg->ruri.l, uri->p, uri->l);
}

/* Replace the body; the writer puts the matching Content-Length. */
int sip_msg_body_set(struct sip_msg *msg, const struct pl *body)
{
	uint32_t aoff;
	int err;

	if (!msg->base || body->l > SIP_MAX_BODY)
		return EINVAL;
	err = arena_put(msg, body->p, body->l, &aoff);
	if (err)
		return err;
	msg->body_edited = true;
	msg->body_aoff = aoff;
	msg->body_alen = (uint32_t)body->l;
	return 0;
}

/*
 * Write the message with its edits applied and a Content-Length that
 * matches the body written (added if the message had none). ENOSPC when
 * out is too small, EINVAL when two edits overlap (a splice in the body and
 * sip_msg_body_set included); out->len is unchanged on failure.
 */
int sip_msg_encode(struct sip_msg *msg, struct wbuf *out)
{
	struct splice sv[SIP_MAX_EDITS + 2];
	const struct sip_hdr *cl;
	char clbuf[40];
	struct wbuf cw;
	size_t sc = 0, blen;

	if (!msg->base)
		return EINVAL;
	blen = msg->body.l;
	for (unsigned i = 0; i < msg->editc; i++) {
		const struct sip_edit *e = &msg->editv[i];

		if (e->off >= off_of(msg, msg->body.p)) {
			/* a splice in the body changes its length; with body_set it overlaps */
			if (msg->body_edited)
				return EINVAL;
			blen = blen - e->len + e->alen;
		}
		sv[sc].off = e->off;
		sv[sc].len = e->len;
		sv[sc].repl.p = msg->arena ? msg->arena + e->aoff : "";
		sv[sc].repl.l = e->alen;
		sc++;
	}
	if (msg->body_edited)
		blen = msg->body_alen;
	cl = sip_msg_hdr(msg, SIP_HDR_CONTENT_LENGTH);
	wbuf_init(&cw, clbuf, sizeof(clbuf));
	if (cl) {
		wbuf_put_u32(&cw, (uint32_t)blen);
		/* rewritten when the length changes, not for its spelling ("007") */
		if (!msg->has_clen || msg->clen != blen) {
			sv[sc].off = off_of(msg, cl->val.p);
			sv[sc].len = cl->val.l;
			sv[sc].repl.p = clbuf;
			sv[sc].repl.l = cw.len;
			sc++;
		}
	} else {
		wbuf_put_str(&cw, "Content-Length: ");
		wbuf_put_u32(&cw, (uint32_t)blen);
		wbuf_put(&cw, "\r\n", 2);
		sv[sc].off = msg->hdr_end;
		sv[sc].len = 0;
		sv[sc].repl.p = clbuf;
		sv[sc].repl.l = cw.len;
		sc++;
	}
	if (msg->body_edited) {
		sv[sc].off = off_of(msg, msg->body.p);
		sv[sc].len = msg->body.l;
		sv[sc].repl.p = msg->arena ? msg->arena + msg->body_aoff : "";
		sv[sc].repl.l = msg->body_alen;
		sc++;
	}
	return splice_write(msg->base, msg->len, sv, sc, out);
}
