/* fuzz_sdp: libFuzzer harness for the SDP parser and the address/port rewrite. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "sdp/sdp.h"
#include "sdp/sdp_int.h"

/* Sessions are large: static, not on the fuzzer's stack. */
static struct sdp_session sess;
static struct sdp_session sess2;
static char out[2 * SDP_MAX_BODY];
static char out2[2 * SDP_MAX_BODY];
static char tiny[64];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Crash so that libFuzzer reports the input. */
static void check(int cond)
{
	if (!cond)
		abort();
}

/* A rewrite whose choices (family, ICE removal, o= fields, ports) follow the input. */
static void rewrite_pick(struct sdp_rewrite *rw, const uint8_t *data, size_t size)
{
	unsigned h = 0;

	for (size_t i = 0; i < size && i < 16; i++)
		h = h * 31 + data[i];
	h ^= (unsigned)size;
	memset(rw, 0, sizeof(*rw));
	if (h & 1) {
		rw->af = SDP_AF_IP6;
		rw->addr = PL("2001:db8:ffff::1234");
	}
	else {
		rw->af = SDP_AF_IP4;
		rw->addr = PL("203.0.113.1");
	}
	rw->remove_ice = (h & 2) != 0;
	if (h & 4)
		rw->username = PL("sbc");
	if (h & 8) {
		rw->set_sess_version = true;
		rw->sess_version = (h & 16) ? UINT64_MAX : 2;
	}
	if (h & 32)
		rw->sess_id = PL("42");
	rw->portc = SDP_MAX_MEDIA;
	for (size_t i = 0; i < SDP_MAX_MEDIA; i++) {
		rw->portv[i] = (h & 64) && i == 0 ? 0 : (uint16_t)(20000 + 2 * i);
		rw->rtcp_portv[i] = (h & 128) ? (uint16_t)(30001 + 2 * i) : 0;
	}
}

/* Lines the rewrite drops: session-level a=rtcp, and ICE lines if asked. */
static size_t lines_dropped(const struct sdp_session *a, const struct sdp_rewrite *rw)
{
	size_t n = 0;

	for (size_t i = 0; i < a->linec; i++) {
		const struct sdp_line *ln = &a->linev[i];

		if (ln->type != 'a')
			continue;
		if (ln->kind == SDP_ATTR_RTCP && i < a->lvl.line_end)
			n++;
		else if (rw->remove_ice && ln->kind >= SDP_ATTR_CANDIDATE &&
			 ln->kind <= SDP_ATTR_ICE_OTHER)
			n++;
	}
	return n;
}

/* What must hold between a parsed body and its rewrite. */
static void rewrite_verify(const struct sdp_session *a, const struct sdp_session *b,
			   const struct sdp_rewrite *rw)
{
	check(a->mediac == b->mediac);
	check(b->linec == a->linec - lines_dropped(a, rw));
	check(pl_eq(&b->origin.unicast.addr, &rw->addr));
	check(pl_eq(&b->origin.username, rw->username.l ? &rw->username
		    : &a->origin.username));
	check(pl_eq(&b->origin.sess_id, rw->sess_id.l ? &rw->sess_id
		    : &a->origin.sess_id));
	check(pl_eq(&a->name, &b->name));
	check(pl_eq(&a->time, &b->time));
	for (size_t i = 0; i < a->mediac; i++) {
		const struct sdp_media *x = &a->mediav[i], *y = &b->mediav[i];
		const struct sdp_addr *cx = sdp_media_conn(a, x), *cy = sdp_media_conn(b, y);

		check(y->port == (x->port ? rw->portv[i] : 0));
		check(x->nports == y->nports);
		check(pl_eq(&x->type, &y->type));
		check(pl_eq(&x->proto, &y->proto));
		check(pl_eq(&x->fmts, &y->fmts));
		check(sdp_media_is_hold(a, x) == sdp_media_is_hold(b, y));
		check(sdp_media_dir(a, x) == sdp_media_dir(b, y));
		check(!cx == !cy);
		if (cx)
			check(cx->is_hold ? pl_eq(&cx->addr, &cy->addr)
			      : pl_eq(&cy->addr, &rw->addr));
		check(x->rtcp.present == y->rtcp.present);
		check(x->rtcp_mux == y->rtcp_mux);
		if (x->rtcp.has_addr && !x->rtcp.conn.is_hold)
			check(pl_eq(&y->rtcp.conn.addr, &rw->addr));
		if (rw->remove_ice)
			check(!y->lvl.candc && !y->lvl.end_of_candidates &&
			      !y->lvl.ice_ufrag.l && !y->lvl.ice_pwd.l);
		else
			check(x->lvl.candc == y->lvl.candc);
	}
}

/* The decoder's own IPv4 parser must agree with inet_pton. */
static void ip4_differential(const uint8_t *data, size_t size)
{
	char text[32];
	uint8_t a[4], b[4];
	struct pl pl = { (const char *)data, size };
	bool ok;

	if (size >= sizeof(text) || memchr(data, 0, size))
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	ok = sdp_ip4_decode(&pl, a);
	check(ok == (inet_pton(AF_INET, text, b) == 1));
	if (ok)
		check(memcmp(a, b, 4) == 0);
}

/* The lines of a parsed body tile it: each starts where the last ended. */
static void lines_verify(const struct sdp_session *s, const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;

	for (size_t i = 0; i < s->linec; i++) {
		const struct sdp_line *ln = &s->linev[i];

		check(sdp_line_start(ln) == p);
		check(ln->val.l + 2 <= SDP_MAX_LINE_LEN);
		check(!memchr(ln->val.p, '\n', ln->val.l) && !memchr(ln->val.p, '\r', ln->val.l));
		check(ln->eol <= 2 && (ln->eol || i + 1 == s->linec));
		p += sdp_line_size(ln);
		check(p <= end);
		if (ln->eol == 2)
			check(p[-2] == '\r' && p[-1] == '\n');
		else if (ln->eol == 1)
			check(p[-1] == '\n' && (p - 2 < sdp_line_start(ln) + 2 || p[-2] != '\r'));
	}
	for (; p < end; p++)
		check(*p == '\r' || *p == '\n');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pl body = { (const char *)data, size }, outpl;
	struct sdp_rewrite rw;
	struct wbuf wb, wb2;
	int err;

	ip4_differential(data, size);
	err = sdp_session_decode(&sess, &body);
	if (size && memchr(data, 0, size))
		check(err != 0);
	if (err)
		return 0;
	lines_verify(&sess, data, size);

	/* lookups must stay inside the body */
	for (size_t i = 0; i < sess.mediac; i++) {
		struct pl fmt = { NULL, 0 }, v;
		struct sdp_attr a;
		size_t cursor = 0, n = 0;

		while (sdp_media_fmt_next(&sess.mediav[i], &fmt)) {
			n++;
			(void)sdp_media_fmt_attr(&sess, &sess.mediav[i], "rtpmap", &fmt, &v);
		}
		check(n == sess.mediav[i].fmtc);
		n = 0;
		while (sdp_attr_next(&sess, &sess.mediav[i], &cursor, &a))
			n++;
		check(n == sess.mediav[i].lvl.attrc);
	}

	rewrite_pick(&rw, data, size);
	wbuf_init(&wb, out, sizeof(out));
	err = sdp_rewrite(&sess, &rw, &wb);
	check(err == 0);
	outpl.p = out;
	outpl.l = wb.len;
	err = sdp_session_decode(&sess2, &outpl);
	/* a longer address may push a line or the body past a limit */
	if (err == E2BIG && wb.len > size)
		return 0;
	check(err == 0);
	rewrite_verify(&sess, &sess2, &rw);

	/* rewriting the output again changes nothing */
	wbuf_init(&wb2, out2, sizeof(out2));
	check(sdp_rewrite(&sess2, &rw, &wb2) == 0);
	check(wb2.len == wb.len && memcmp(out, out2, wb.len) == 0);

	/* too small a buffer: ENOSPC, nothing kept */
	if (wb.len > sizeof(tiny)) {
		wbuf_init(&wb2, tiny, sizeof(tiny));
		check(sdp_rewrite(&sess, &rw, &wb2) == ENOSPC && wb2.len == 0);
	}
	wbuf_init(&wb2, out2, wb.len - (wb.len ? 1 : 0));
	if (wb.len)
		check(sdp_rewrite(&sess, &rw, &wb2) == ENOSPC && wb2.len == 0);
	return 0;
}
