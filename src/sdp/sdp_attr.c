/* sdp_attr: lookups on a parsed session: attributes, formats, effective direction and connection, hold. */
#include <string.h>

#include "sdp/sdp.h"
#include "sdp_int.h"

/*
 * Iterate over the a= lines of a level (m NULL: session level). Start with
 * *cursor = 0; each call fills a with the next attribute and returns true,
 * or returns false at the end of the level.
 */
bool sdp_attr_next(const struct sdp_session *s, const struct sdp_media *m,
		   size_t *cursor, struct sdp_attr *a)
{
	const struct sdp_level *lv = sdp_level_of(s, m);

	for (size_t i = lv->line_first + *cursor; i < lv->line_end; i++) {
		const struct sdp_line *ln = &s->linev[i];

		if (ln->type != 'a')
			continue;
		a->line = ln;
		a->name.p = ln->val.p;
		a->name.l = ln->name_len;
		if (ln->name_len < ln->val.l) {
			a->value.p = ln->val.p + ln->name_len + 1;
			a->value.l = ln->val.l - ln->name_len - 1;
		}
		else {
			a->value.p = NULL;
			a->value.l = 0;
		}
		*cursor = i + 1 - lv->line_first;
		return true;
	}
	*cursor = lv->line_end - lv->line_first;
	return false;
}

/*
 * The value of the first a=name at a level (m NULL: session level); names
 * compare without regard to case. No fallback from media to session level:
 * callers that want one ask both.
 */
bool sdp_attr_find(const struct sdp_session *s, const struct sdp_media *m,
		   const char *name, struct pl *value)
{
	struct sdp_attr a;
	size_t cursor = 0;

	while (sdp_attr_next(s, m, &cursor, &a)) {
		if (pl_caseeq_str(&a.name, name)) {
			if (value)
				*value = a.value;
			return true;
		}
	}
	return false;
}

/*
 * Step through the m= format list: start with an empty fmt ({NULL, 0});
 * each call moves fmt to the next format and returns true, false at the end.
 */
bool sdp_media_fmt_next(const struct sdp_media *m, struct pl *fmt)
{
	const char *p, *end = m->fmts.p + m->fmts.l;
	const char *sp;

	if (!m->fmts.l)
		return false;
	p = fmt->p ? fmt->p + fmt->l : m->fmts.p;
	if (p < m->fmts.p || p >= end)
		return false;
	if (*p == ' ')
		p++;
	sp = memchr(p, ' ', (size_t)(end - p));
	fmt->p = p;
	fmt->l = (size_t)((sp ? sp : end) - p);
	return fmt->l > 0;
}

/*
 * The parameters of "a=<name>:<fmt> <params>" for one format of a media,
 * e.g. name "rtpmap" and fmt "98" give "ILBC/8000". False if absent.
 */
bool sdp_media_fmt_attr(const struct sdp_session *s, const struct sdp_media *m,
			const char *name, const struct pl *fmt, struct pl *params)
{
	struct sdp_attr a;
	size_t cursor = 0;

	while (sdp_attr_next(s, m, &cursor, &a)) {
		const char *sp;
		struct pl f;

		if (!pl_caseeq_str(&a.name, name))
			continue;
		sp = pl_chr(&a.value, ' ');
		f.p = a.value.p;
		f.l = sp ? (size_t)(sp - a.value.p) : a.value.l;
		if (!pl_eq(&f, fmt))
			continue;
		if (params) {
			params->p = sp ? sp + 1 : NULL;
			params->l = sp ? a.value.l - f.l - 1 : 0;
		}
		return true;
	}
	return false;
}

/* The c= that applies to a media: its own, else the session's; NULL if none. */
const struct sdp_addr *sdp_media_conn(const struct sdp_session *s,
				      const struct sdp_media *m)
{
	if (m->lvl.has_conn)
		return &m->lvl.conn;
	return s->lvl.has_conn ? &s->lvl.conn : NULL;
}

/*
 * The effective direction of a media: its own attribute, else the
 * session-level one, else sendrecv (RFC 3264 §5.1).
 */
enum sdp_dir sdp_media_dir(const struct sdp_session *s, const struct sdp_media *m)
{
	if (m->lvl.dir != SDP_DIR_NONE)
		return m->lvl.dir;
	if (s->lvl.dir != SDP_DIR_NONE)
		return s->lvl.dir;
	return SDP_DIR_SENDRECV;
}

/*
 * A media on hold: effective direction sendonly or inactive, or the
 * old-style hold address (RFC 3264 §8.4: c= 0.0.0.0; :: taken alike).
 */
bool sdp_media_is_hold(const struct sdp_session *s, const struct sdp_media *m)
{
	enum sdp_dir dir = sdp_media_dir(s, m);
	const struct sdp_addr *c = sdp_media_conn(s, m);

	if (dir == SDP_DIR_SENDONLY || dir == SDP_DIR_INACTIVE)
		return true;
	return c && c->is_hold;
}

/* A stream refused or disabled with port 0 (RFC 3264 §6, §8.2). */
bool sdp_media_is_rejected(const struct sdp_media *m)
{
	return m->port == 0;
}

/* Attribute name of a direction, "" for SDP_DIR_NONE. */
const char *sdp_dir_name(enum sdp_dir dir)
{
	switch (dir) {
	case SDP_DIR_SENDRECV:
		return "sendrecv";
	case SDP_DIR_SENDONLY:
		return "sendonly";
	case SDP_DIR_RECVONLY:
		return "recvonly";
	case SDP_DIR_INACTIVE:
		return "inactive";
	default:
		return "";
	}
}
