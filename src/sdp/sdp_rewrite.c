/* sdp_rewrite: replace addresses and ports of a parsed body, leaving every other byte as it was. */
#include <errno.h>
#include <string.h>

#include "sdp/sdp.h"
#include "sdp_int.h"

/*
 * Splices are collected in source order and written in batches, so the
 * stack use is fixed whatever the number of lines, and splice_write's sort
 * stays on a small, already sorted array.
 */
#define SPLICE_BATCH 16
#define NUM_TEXT_MAX 20   /* digits of UINT64_MAX */

struct splicer {
	const char *src;
	size_t srclen;
	size_t base;                      /* source bytes before this are written */
	size_t sc;
	struct splice sv[SPLICE_BATCH];   /* offsets into src */
	char text[SPLICE_BATCH][NUM_TEXT_MAX];
	struct wbuf *out;
};

/* Write the source from base up to the end of the last collected splice. */
static int splicer_flush(struct splicer *sp)
{
	size_t from = sp->base, sc = sp->sc, upto;

	if (!sc)
		return 0;
	upto = sp->sv[sc - 1].off + sp->sv[sc - 1].len;
	for (size_t i = 0; i < sc; i++)
		sp->sv[i].off -= from;
	sp->sc = 0;
	sp->base = upto;
	return splice_write(sp->src + from, upto - from, sp->sv, sc, sp->out);
}

/*
 * Replace len source bytes at "at" by repl (which must stay valid until the
 * next flush). A replacement equal to the original is skipped; a removal
 * right after another removal is merged into it.
 */
static int splicer_add(struct splicer *sp, const char *at, size_t len,
		       const char *repl, size_t repl_len)
{
	size_t off = (size_t)(at - sp->src);
	struct splice *prev = sp->sc ? &sp->sv[sp->sc - 1] : NULL;
	int err;

	if (repl_len == len && (!len || memcmp(at, repl, len) == 0))
		return 0;
	if (!repl_len && prev && !prev->repl.l && prev->off + prev->len == off) {
		prev->len += len;
		return 0;
	}
	if (sp->sc == SPLICE_BATCH) {
		err = splicer_flush(sp);
		if (err)
			return err;
	}
	sp->sv[sp->sc].off = off;
	sp->sv[sp->sc].len = len;
	sp->sv[sp->sc].repl.p = repl;
	sp->sv[sp->sc].repl.l = repl_len;
	sp->sc++;
	return 0;
}

/* Replace a slice of the source by the decimal text of v. */
static int splicer_num(struct splicer *sp, const struct pl *range, uint64_t v)
{
	char *t;
	size_t n = 0;
	int err;

	if (sp->sc == SPLICE_BATCH) {
		err = splicer_flush(sp);
		if (err)
			return err;
	}
	t = sp->text[sp->sc];
	do {
		t[NUM_TEXT_MAX - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return splicer_add(sp, range->p, range->l, t + NUM_TEXT_MAX - n, n);
}

static int splicer_pl(struct splicer *sp, const struct pl *range, const struct pl *repl)
{
	return splicer_add(sp, range->p, range->l, repl->p, repl->l);
}

/* Drop a whole line with its line end. */
static int splicer_remove_line(struct splicer *sp, const struct sdp_line *ln)
{
	return splicer_add(sp, sdp_line_start(ln), sdp_line_size(ln), NULL, 0);
}

/*
 * Put the new address (and address type if the family changes) in place of
 * an o=, c= or a=rtcp address; a /ttl/count suffix goes with it, since the
 * relay address is unicast. With keep_hold, a 0.0.0.0 or :: stays.
 */
static int addr_rewrite(struct splicer *sp, const struct sdp_rewrite *rw,
			const struct sdp_addr *a, bool keep_hold)
{
	static const struct pl ip4 = PL("IP4"), ip6 = PL("IP6");
	struct pl range;
	int err;

	if (keep_hold && a->is_hold)
		return 0;
	if (a->af != rw->af) {
		err = splicer_pl(sp, &a->addrtype, rw->af == SDP_AF_IP4 ? &ip4 : &ip6);
		if (err)
			return err;
	}
	range.p = a->addr.p;
	range.l = a->addr.l + a->mcast.l;
	return splicer_pl(sp, &range, &rw->addr);
}

/* o=: username and sess-id if given, sess-version if set, address always. */
static int origin_rewrite(struct splicer *sp, const struct sdp_rewrite *rw,
			  const struct sdp_origin *o)
{
	int err = 0;

	if (rw->username.l)
		err = splicer_pl(sp, &o->username, &rw->username);
	if (!err && rw->sess_id.l)
		err = splicer_pl(sp, &o->sess_id, &rw->sess_id);
	if (!err && rw->set_sess_version)
		err = splicer_num(sp, &o->sess_version, rw->sess_version);
	if (!err)
		err = addr_rewrite(sp, rw, &o->unicast, false);
	return err;
}

/*
 * a=rtcp of media k: the port (given, or the new m= port + 1) unless the
 * stream was rejected, and the address if it carries one.
 */
static int rtcp_rewrite(struct splicer *sp, const struct sdp_rewrite *rw,
			const struct sdp_media *m, size_t k)
{
	uint32_t port = rw->rtcp_portv[k];
	int err;

	if (m->port) {
		if (!port && rw->portv[k])
			port = (uint32_t)rw->portv[k] + 1;
		if (port > UINT16_MAX)
			return EINVAL;
		err = splicer_num(sp, &m->rtcp.port_str, port);
		if (err)
			return err;
	}
	return m->rtcp.has_addr ? addr_rewrite(sp, rw, &m->rtcp.conn, true) : 0;
}

static bool is_ice_kind(uint8_t kind)
{
	switch (kind) {
	case SDP_ATTR_CANDIDATE:
	case SDP_ATTR_END_OF_CANDIDATES:
	case SDP_ATTR_REMOTE_CANDIDATES:
	case SDP_ATTR_ICE_UFRAG:
	case SDP_ATTR_ICE_PWD:
	case SDP_ATTR_ICE_OTHER:
		return true;
	default:
		return false;
	}
}

/* Printable, no white space: what o= username and sess-id may hold. */
static bool is_token(const struct pl *pl)
{
	for (size_t i = 0; i < pl->l; i++) {
		unsigned char c = (unsigned char)pl->p[i];

		if (c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* EINVAL unless rw fits s: a valid address of its family, enough ports. */
static int rewrite_check(const struct sdp_session *s, const struct sdp_rewrite *rw)
{
	uint8_t bin[16];

	if (rw->af == SDP_AF_IP4 ? !sdp_ip4_decode(&rw->addr, bin)
	    : rw->af != SDP_AF_IP6 || !sdp_ip6_decode(&rw->addr, bin))
		return EINVAL;
	if (rw->portc < s->mediac || rw->portc > SDP_MAX_MEDIA)
		return EINVAL;
	if (!is_token(&rw->username) || !is_token(&rw->sess_id))
		return EINVAL;
	for (size_t i = 0; i < rw->sess_id.l; i++) {
		if (rw->sess_id.p[i] < '0' || rw->sess_id.p[i] > '9')
			return EINVAL;
	}
	return 0;
}

/*
 * Write s's body to out with: the o= address (and username, sess-id,
 * sess-version when rw asks), every c= address except a hold address, each
 * m= port (a port 0 stays 0, a port count stays), each a=rtcp port and
 * address; a session-level a=rtcp (undefined there) is dropped, and with
 * rw->remove_ice every candidate, end-of-candidates, remote-candidates and
 * ice-* line. Every other byte is copied as it was. Returns 0, EINVAL when
 * rw does not fit s, or ENOSPC; on error out->len is as it was.
 */
int sdp_rewrite(const struct sdp_session *s, const struct sdp_rewrite *rw,
		struct wbuf *out)
{
	const struct sdp_media *m = NULL;
	struct splicer sp;
	size_t start, k = 0;
	int err;

	if (!s || !rw || !out || !s->linec)
		return EINVAL;
	err = rewrite_check(s, rw);
	if (err)
		return err;
	start = out->len;
	sp.src = s->body.p;
	sp.srclen = s->body.l;
	sp.base = 0;
	sp.sc = 0;
	sp.out = out;
	for (size_t i = 0; i < s->linec && !err; i++) {
		const struct sdp_line *ln = &s->linev[i];

		switch (ln->type) {
		case 'o':
			err = origin_rewrite(&sp, rw, &s->origin);
			break;
		case 'c':
			err = addr_rewrite(&sp, rw, m ? &m->lvl.conn : &s->lvl.conn, true);
			break;
		case 'm':
			m = &s->mediav[k++];
			if (m->port)
				err = splicer_num(&sp, &m->port_str, rw->portv[k - 1]);
			break;
		case 'a':
			if (ln->kind == SDP_ATTR_RTCP)
				err = m ? rtcp_rewrite(&sp, rw, m, k - 1)
					: splicer_remove_line(&sp, ln);
			else if (rw->remove_ice && is_ice_kind(ln->kind))
				err = splicer_remove_line(&sp, ln);
			break;
		default:
			break;
		}
	}
	if (!err)
		err = splicer_flush(&sp);
	if (!err)
		err = wbuf_put(out, sp.src + sp.base, sp.srclen - sp.base);
	if (err)
		out->len = start;
	return err;
}
