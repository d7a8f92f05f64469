/* test_sdp: SDP parser and rewrite on the fixture offer/answer and on corner cases. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sdp/sdp.h"

#define CRLF "\r\n"
#define BODY_MAX 131072

/* A minimal valid session header for the corner cases. */
#define HDR "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"

/* Sessions are large: keep them out of the test functions' frames. */
static struct sdp_session sess;
static struct sdp_session sess2;
static char outmem[BODY_MAX];
static char bigmem[BODY_MAX];
static char filemem[8192];
static size_t nalloc_at_start;

static const struct pl rw_addr4 = PL("203.0.113.1");

static int setup(void **state)
{
	(void)state;
	nalloc_at_start = mem_nalloc();
	return 0;
}

/* Every test leaves the allocation count as it found it (nothing allocates). */
static int teardown(void **state)
{
	(void)state;
	assert_int_equal(mem_nalloc(), nalloc_at_start);
	return 0;
}

static size_t file_load(const char *name, char *buf, size_t size)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, size, f);
	fclose(f);
	assert_true(n < size);
	return n;
}

/* The body of fixture 23 (after the blank line): the Bria offer. */
static struct pl offer_body(void)
{
	size_t n = file_load("23-invite-sdp-bria.sip", filemem, sizeof(filemem));
	const char *sep = memmem(filemem, n, "\r\n\r\n", 4);
	struct pl body;

	assert_non_null(sep);
	body.p = sep + 4;
	body.l = n - (size_t)(body.p - filemem);
	assert_int_equal(body.l, 409); /* its Content-Length */
	return body;
}

static struct pl answer_body(void)
{
	struct pl body;

	body.l = file_load("answer-freeswitch.sdp", filemem, sizeof(filemem));
	body.p = filemem;
	return body;
}

static int decode_str(struct sdp_session *s, const char *text)
{
	struct pl body = pl_from_str(text);

	return sdp_session_decode(s, &body);
}

static int decode_mem(struct sdp_session *s, const char *p, size_t l)
{
	struct pl body = { p, l };

	return sdp_session_decode(s, &body);
}

static void assert_pl(const struct pl *pl, const char *s)
{
	if (!pl_eq_str(pl, s))
		fail_msg("slice \"%.*s\" != \"%s\"", (int)pl->l, pl->p ? pl->p : "", s);
}

/* Rewrite to 203.0.113.1 with the given ports; the output as a slice. */
static struct pl rewrite_to(const struct sdp_session *s, const struct sdp_rewrite *rw)
{
	struct wbuf wb;
	struct pl out;

	wbuf_init(&wb, outmem, sizeof(outmem));
	assert_int_equal(sdp_rewrite(s, rw, &wb), 0);
	out.p = outmem;
	out.l = wb.len;
	return out;
}

static void assert_out(const struct pl *out, const char *expect)
{
	if (!pl_eq_str(out, expect))
		fail_msg("rewrite gave:\n%.*s\nexpected:\n%s", (int)out->l, out->p, expect);
}

/*
 * Lines of a and b agree except where the rewrite may differ (o= address,
 * c= address, m= port, a=rtcp): same types, same line ends, and the same
 * value for every other line.
 */
static void assert_same_but_rewritten(const struct sdp_session *a,
				      const struct sdp_session *b)
{
	assert_int_equal(a->linec, b->linec);
	assert_int_equal(a->mediac, b->mediac);
	for (size_t i = 0; i < a->linec; i++) {
		const struct sdp_line *x = &a->linev[i], *y = &b->linev[i];

		assert_int_equal(x->type, y->type);
		assert_int_equal(x->eol, y->eol);
		assert_int_equal(x->kind, y->kind);
		if (x->type == 'o' || x->type == 'c' || x->type == 'm' ||
		    x->kind == SDP_ATTR_RTCP)
			continue;
		assert_true(pl_eq(&x->val, &y->val));
	}
	assert_true(pl_eq(&a->origin.sess_id, &b->origin.sess_id));
	assert_true(pl_eq(&a->name, &b->name));
	assert_true(pl_eq(&a->time, &b->time));
	for (size_t i = 0; i < a->mediac; i++) {
		const struct sdp_media *x = &a->mediav[i], *y = &b->mediav[i];

		assert_true(pl_eq(&x->type, &y->type));
		assert_true(pl_eq(&x->proto, &y->proto));
		assert_true(pl_eq(&x->fmts, &y->fmts));
		assert_int_equal(x->nports, y->nports);
		assert_int_equal(sdp_media_dir(a, x), sdp_media_dir(b, y));
	}
}

static void test_offer_parse(void **state)
{
	struct pl body = offer_body(), v, fmt = PL_INIT;
	const struct sdp_media *m;
	const char *fmts[] = { "8", "0", "98", "101" };
	size_t i = 0;

	(void)state;
	assert_int_equal(sdp_session_decode(&sess, &body), 0);
	assert_int_equal(sess.linec, 17);
	assert_pl(&sess.origin.username, "-");
	assert_pl(&sess.origin.sess_id, "1371880105304943");
	assert_pl(&sess.origin.sess_version, "1");
	assert_pl(&sess.origin.unicast.nettype, "IN");
	assert_pl(&sess.origin.unicast.addrtype, "IP4");
	assert_pl(&sess.origin.unicast.addr, "192.168.1.118");
	assert_int_equal(sess.origin.unicast.af, SDP_AF_IP4);
	assert_false(sess.origin.unicast.is_host);
	assert_pl(&sess.name, "Bria 3 release 3.5.0b stamp 69410");
	assert_pl(&sess.time, "0 0");
	assert_true(sess.lvl.has_conn);
	assert_pl(&sess.lvl.conn.nettype, "IN");
	assert_pl(&sess.lvl.conn.addrtype, "IP4");
	assert_pl(&sess.lvl.conn.addr, "192.168.1.118");
	assert_int_equal(sess.lvl.conn.mcast.l, 0);
	assert_false(sess.lvl.conn.is_hold);
	assert_int_equal(sess.lvl.bwc, 1);
	assert_pl(&sess.lvl.bwv[0].type, "AS");
	assert_pl(&sess.lvl.bwv[0].value, "2064");
	assert_int_equal(sess.lvl.bwv[0].bw, 2064);
	assert_int_equal(sess.lvl.dir, SDP_DIR_NONE);
	assert_int_equal(sess.lvl.attrc, 0);
	assert_int_equal(sess.mediac, 2);

	m = &sess.mediav[0];
	assert_pl(&m->type, "audio");
	assert_int_equal(m->port, 50452);
	assert_pl(&m->port_str, "50452");
	assert_int_equal(m->nports, 1);
	assert_int_equal(m->nports_str.l, 0);
	assert_pl(&m->proto, "RTP/AVP");
	assert_pl(&m->fmts, "8 0 98 101");
	assert_int_equal(m->fmtc, 4);
	while (sdp_media_fmt_next(m, &fmt))
		assert_pl(&fmt, fmts[i++]);
	assert_int_equal(i, 4);
	assert_false(m->lvl.has_conn);
	assert_ptr_equal(sdp_media_conn(&sess, m), &sess.lvl.conn);
	assert_int_equal(m->lvl.bwc, 0);
	assert_int_equal(m->lvl.attrc, 4);
	assert_int_equal(m->lvl.dir, SDP_DIR_SENDRECV);
	assert_int_equal(sdp_media_dir(&sess, m), SDP_DIR_SENDRECV);
	assert_false(sdp_media_is_hold(&sess, m));
	assert_false(sdp_media_is_rejected(m));
	assert_false(m->rtcp.present);
	assert_false(m->rtcp_mux);
	assert_int_equal(m->lvl.candc, 0);
	assert_true(sdp_media_fmt_attr(&sess, m, "rtpmap", &PL("98"), &v));
	assert_pl(&v, "ILBC/8000");
	assert_true(sdp_media_fmt_attr(&sess, m, "rtpmap", &PL("101"), &v));
	assert_pl(&v, "telephone-event/8000");
	assert_false(sdp_media_fmt_attr(&sess, m, "rtpmap", &PL("8"), &v));
	assert_true(sdp_media_fmt_attr(&sess, m, "fmtp", &PL("101"), &v));
	assert_pl(&v, "0-15");
	assert_true(sdp_attr_find(&sess, m, "rtpmap", &v));
	assert_pl(&v, "98 ILBC/8000");
	assert_true(sdp_attr_find(&sess, m, "sendrecv", &v));
	assert_int_equal(v.l, 0);
	assert_false(sdp_attr_find(&sess, m, "ptime", &v));
	assert_false(sdp_attr_find(&sess, NULL, "rtpmap", &v));

	m = &sess.mediav[1];
	assert_pl(&m->type, "video");
	assert_int_equal(m->port, 52974);
	assert_pl(&m->proto, "RTP/AVP");
	assert_pl(&m->fmts, "123");
	assert_int_equal(m->fmtc, 1);
	assert_int_equal(m->lvl.bwc, 1);
	assert_pl(&m->lvl.bwv[0].type, "TIAS");
	assert_int_equal(m->lvl.bwv[0].bw, 2000000);
	assert_true(sdp_media_fmt_attr(&sess, m, "rtpmap", &PL("123"), &v));
	assert_pl(&v, "H264/90000");
	assert_true(sdp_media_fmt_attr(&sess, m, "fmtp", &PL("123"), &v));
	assert_pl(&v, "profile-level-id=428014;packetization-mode=0");
	assert_true(sdp_attr_find(&sess, m, "rtcp-fb", &v));
	assert_pl(&v, "* nack pli");
	assert_int_equal(sdp_media_dir(&sess, m), SDP_DIR_SENDRECV);
	assert_int_equal(m->lvl.line_first, 11);
	assert_int_equal(m->lvl.line_end, 17);
	for (i = 0; i < sess.linec; i++)
		assert_int_equal(sess.linev[i].eol, 2);
}

static void test_answer_parse(void **state)
{
	struct pl body = answer_body(), v;
	const struct sdp_media *m;
	uint64_t ver;

	(void)state;
	assert_int_equal(sdp_session_decode(&sess, &body), 0);
	assert_pl(&sess.origin.username, "FreeSWITCH");
	assert_pl(&sess.origin.sess_id, "1371848118");
	assert_pl(&sess.origin.sess_version, "1371848119");
	assert_int_equal(sdp_origin_version(&sess.origin, &ver), 0);
	assert_true(ver == 1371848119u);
	assert_pl(&sess.origin.unicast.addr, "192.168.1.9");
	assert_pl(&sess.name, "FreeSWITCH");
	assert_pl(&sess.lvl.conn.addr, "192.168.1.9");
	assert_int_equal(sess.lvl.bwc, 0);
	assert_int_equal(sess.mediac, 2);
	m = &sess.mediav[0];
	assert_int_equal(m->port, 31988);
	assert_pl(&m->fmts, "8 101");
	assert_true(sdp_media_fmt_attr(&sess, m, "rtpmap", &PL("8"), &v));
	assert_pl(&v, "PCMA/8000");
	assert_true(sdp_attr_find(&sess, m, "ptime", &v));
	assert_pl(&v, "20");
	assert_true(sdp_attr_find(&sess, m, "silenceSupp", &v));
	assert_pl(&v, "off - - - -");
	assert_int_equal(m->lvl.dir, SDP_DIR_NONE);
	assert_int_equal(sdp_media_dir(&sess, m), SDP_DIR_SENDRECV);
	m = &sess.mediav[1];
	assert_int_equal(m->port, 19008);
	assert_pl(&m->fmts, "123");
	assert_true(sdp_media_fmt_attr(&sess, m, "rtpmap", &PL("123"), &v));
	assert_pl(&v, "H264/90000");
}

static void test_offer_rewrite(void **state)
{
	struct pl body = offer_body(), out;
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4,
		.portc = 2, .portv = { 20000, 20002 },
	};
	static const char expect[] =
		"v=0" CRLF
		"o=- 1371880105304943 1 IN IP4 203.0.113.1" CRLF
		"s=Bria 3 release 3.5.0b stamp 69410" CRLF
		"c=IN IP4 203.0.113.1" CRLF
		"b=AS:2064" CRLF
		"t=0 0" CRLF
		"m=audio 20000 RTP/AVP 8 0 98 101" CRLF
		"a=rtpmap:98 ILBC/8000" CRLF
		"a=rtpmap:101 telephone-event/8000" CRLF
		"a=fmtp:101 0-15" CRLF
		"a=sendrecv" CRLF
		"m=video 20002 RTP/AVP 123" CRLF
		"b=TIAS:2000000" CRLF
		"a=rtpmap:123 H264/90000" CRLF
		"a=fmtp:123 profile-level-id=428014;packetization-mode=0" CRLF
		"a=rtcp-fb:* nack pli" CRLF
		"a=sendrecv" CRLF;

	(void)state;
	assert_int_equal(sdp_session_decode(&sess, &body), 0);
	out = rewrite_to(&sess, &rw);
	assert_out(&out, expect);
	assert_int_equal(sdp_session_decode(&sess2, &out), 0);
	assert_pl(&sess2.origin.unicast.addr, "203.0.113.1");
	assert_pl(&sess2.lvl.conn.addr, "203.0.113.1");
	assert_int_equal(sess2.mediav[0].port, 20000);
	assert_int_equal(sess2.mediav[1].port, 20002);
	assert_pl(&sess2.origin.username, "-");
	assert_pl(&sess2.origin.sess_version, "1");
	assert_int_equal(sess2.lvl.bwv[0].bw, 2064);
	assert_int_equal(sess2.mediav[1].lvl.bwv[0].bw, 2000000);
	assert_same_but_rewritten(&sess, &sess2);
}

static void test_answer_rewrite(void **state)
{
	struct pl body = answer_body(), out;
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = PL("10.20.0.1"),
		.username = PL("sbc"), .set_sess_version = true,
		.sess_version = 1371848120u,
		.portc = 2, .portv = { 30000, 30002 },
	};
	static const char expect[] =
		"v=0" CRLF
		"o=sbc 1371848118 1371848120 IN IP4 10.20.0.1" CRLF
		"s=FreeSWITCH" CRLF
		"c=IN IP4 10.20.0.1" CRLF
		"t=0 0" CRLF
		"m=audio 30000 RTP/AVP 8 101" CRLF
		"a=rtpmap:8 PCMA/8000" CRLF
		"a=rtpmap:101 telephone-event/8000" CRLF
		"a=fmtp:101 0-16" CRLF
		"a=silenceSupp:off - - - -" CRLF
		"a=ptime:20" CRLF
		"m=video 30002 RTP/AVP 123" CRLF
		"a=rtpmap:123 H264/90000" CRLF;
	uint64_t ver;

	(void)state;
	assert_int_equal(sdp_session_decode(&sess, &body), 0);
	out = rewrite_to(&sess, &rw);
	assert_out(&out, expect);
	assert_int_equal(sdp_session_decode(&sess2, &out), 0);
	assert_pl(&sess2.origin.username, "sbc");
	assert_int_equal(sdp_origin_version(&sess2.origin, &ver), 0);
	assert_true(ver == 1371848120u);
	assert_pl(&sess2.lvl.conn.addr, "10.20.0.1");
	assert_int_equal(sess2.mediav[0].port, 30000);
	assert_int_equal(sess2.mediav[1].port, 30002);
	assert_same_but_rewritten(&sess, &sess2);
}

/* Bare LF, CRLF and a last line without any end, mixed; each kept. */
static void test_bare_lf(void **state)
{
	static const char in[] =
		"v=0\n"
		"o=- 1 1 IN IP4 10.0.0.1\r\n"
		"s=-\n"
		"c=IN IP4 10.0.0.1\n"
		"t=0 0\n"
		"m=audio 4000 RTP/AVP 0\r\n"
		"a=sendonly";
	static const char expect[] =
		"v=0\n"
		"o=- 1 1 IN IP4 203.0.113.1\r\n"
		"s=-\n"
		"c=IN IP4 203.0.113.1\n"
		"t=0 0\n"
		"m=audio 20000 RTP/AVP 0\r\n"
		"a=sendonly";
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4, .portc = 1, .portv = { 20000 },
	};
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, in), 0);
	assert_int_equal(sess.linec, 7);
	assert_int_equal(sess.linev[0].eol, 1);
	assert_int_equal(sess.linev[1].eol, 2);
	assert_int_equal(sess.linev[5].eol, 2);
	assert_int_equal(sess.linev[6].eol, 0);
	assert_pl(&sess.linev[6].val, "sendonly");
	assert_int_equal(sdp_media_dir(&sess, &sess.mediav[0]), SDP_DIR_SENDONLY);
	out = rewrite_to(&sess, &rw);
	assert_out(&out, expect);
}

/* A truncated last line (no CRLF) is accepted as a line; see docs/sdp.md. */
static void test_truncated_last_line(void **state)
{
	struct pl body = offer_body(), v;

	(void)state;
	body.l -= 2; /* drop the final CRLF after a=sendrecv */
	assert_int_equal(sdp_session_decode(&sess, &body), 0);
	assert_int_equal(sess.linev[sess.linec - 1].eol, 0);
	assert_true(sdp_attr_find(&sess, &sess.mediav[1], "sendrecv", &v));
	body.l -= 4; /* "a=send": still a line, an unknown attribute */
	assert_int_equal(sdp_session_decode(&sess, &body), 0);
	assert_true(sdp_attr_find(&sess, &sess.mediav[1], "send", &v));
	body.l -= 5; /* "a": no '=' */
	assert_int_equal(sdp_session_decode(&sess, &body), EBADMSG);
}

/* Blank lines at the very end are tolerated (and copied), not inside. */
static void test_trailing_blank_lines(void **state)
{
	struct sdp_rewrite rw = { .af = SDP_AF_IP4, .addr = rw_addr4 };
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, HDR "\r\n\r\n"), 0);
	assert_int_equal(sess.linec, 5);
	out = rewrite_to(&sess, &rw);
	assert_out(&out, "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\n"
		   "c=IN IP4 203.0.113.1\r\nt=0 0\r\n\r\n\r\n");
	assert_int_equal(decode_str(&sess, "v=0\r\n\r\no=- 1 1 IN IP4 10.0.0.1\r\n"
				    "s=-\r\nt=0 0\r\n"), EBADMSG);
}

static void test_port_count(void **state)
{
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4, .portc = 1, .portv = { 20000 },
	};
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, HDR "m=audio 49170/2 RTP/AVP 0\r\n"), 0);
	assert_int_equal(sess.mediav[0].port, 49170);
	assert_int_equal(sess.mediav[0].nports, 2);
	assert_pl(&sess.mediav[0].nports_str, "2");
	out = rewrite_to(&sess, &rw);
	assert_out(&out, "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\n"
		   "c=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 20000/2 RTP/AVP 0\r\n");
	assert_int_equal(decode_str(&sess, HDR "m=audio 49170/0 RTP/AVP 0\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 49170/ RTP/AVP 0\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio /2 RTP/AVP 0\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 49170/70000 RTP/AVP 0\r\n"), EBADMSG);
}

static void test_rtcp(void **state)
{
	static const char in[] = HDR
		"m=audio 49170 RTP/AVP 0\r\n"
		"a=rtcp:53020\r\n"
		"m=audio 49180 RTP/AVP 0\r\n"
		"a=rtcp:53020 IN IP4 126.16.64.4\r\n"
		"a=rtcp-mux\r\n"
		"m=audio 49190 RTP/AVP 0\r\n"
		"a=rtcp:53022 IN IP6 2001:db8::2\r\n"
		"m=audio 49200 RTP/AVP 0\r\n"
		"a=rtcp:9 IN IP4 0.0.0.0\r\n";
	static const char expect[] =
		"v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\nc=IN IP4 203.0.113.1\r\nt=0 0\r\n"
		"m=audio 20000 RTP/AVP 0\r\n"
		"a=rtcp:20001\r\n"
		"m=audio 20002 RTP/AVP 0\r\n"
		"a=rtcp:20002 IN IP4 203.0.113.1\r\n"
		"a=rtcp-mux\r\n"
		"m=audio 20004 RTP/AVP 0\r\n"
		"a=rtcp:20005 IN IP4 203.0.113.1\r\n"
		"m=audio 20006 RTP/AVP 0\r\n"
		"a=rtcp:20007 IN IP4 0.0.0.0\r\n";
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4, .portc = 4,
		.portv = { 20000, 20002, 20004, 20006 },
		.rtcp_portv = { 0, 20002, 0, 0 },
	};
	const struct sdp_media *m;
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, in), 0);
	m = &sess.mediav[0];
	assert_true(m->rtcp.present);
	assert_false(m->rtcp.has_addr);
	assert_int_equal(m->rtcp.port, 53020);
	assert_false(m->rtcp_mux);
	m = &sess.mediav[1];
	assert_true(m->rtcp.has_addr);
	assert_pl(&m->rtcp.conn.addr, "126.16.64.4");
	assert_int_equal(m->rtcp.conn.af, SDP_AF_IP4);
	assert_true(m->rtcp_mux);
	assert_int_equal(sess.mediav[2].rtcp.conn.af, SDP_AF_IP6);
	assert_true(sess.mediav[3].rtcp.conn.is_hold);
	out = rewrite_to(&sess, &rw);
	assert_out(&out, expect);
	assert_int_equal(sdp_session_decode(&sess2, &out), 0);
	assert_same_but_rewritten(&sess, &sess2);

	/* no port after a port 65535 */
	rw.portc = 4;
	rw.portv[0] = 65535;
	{
		struct wbuf wb;

		wbuf_init(&wb, outmem, sizeof(outmem));
		assert_int_equal(sdp_rewrite(&sess, &rw, &wb), EINVAL);
		assert_int_equal(wb.len, 0);
	}
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\na=rtcp:70000\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\na=rtcp:\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\na=rtcp:5 IN IP4\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\na=rtcp:5 IN IP4 1.2.3.4 x\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\na=rtcp:5\r\na=rtcp:6\r\n"), EBADMSG);
}

/* a=rtcp at session level is undefined (RFC 3605): dropped by the rewrite. */
static void test_rtcp_session_level(void **state)
{
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4, .portc = 1, .portv = { 20000 },
	};
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, HDR "a=rtcp:5000 IN IP4 10.0.0.1\r\n"
				    "m=audio 4000 RTP/AVP 0\r\n"), 0);
	assert_false(sess.mediav[0].rtcp.present);
	out = rewrite_to(&sess, &rw);
	assert_out(&out, "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\n"
		   "c=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n");
}

static const char ice_in[] =
	"v=0\r\n"
	"o=- 1 1 IN IP4 10.0.0.1\r\n"
	"s=-\r\n"
	"c=IN IP4 10.0.0.1\r\n"
	"t=0 0\r\n"
	"a=ice-options:trickle\r\n"
	"a=ice-lite\r\n"
	"m=audio 4000 RTP/AVP 0\r\n"
	"a=ice-ufrag:8hhY\r\n"
	"a=ice-pwd:asd88fgpdd777uzjYhagZg\r\n"
	"a=candidate:1 1 UDP 2130706431 10.0.0.1 4000 typ host\r\n"
	"a=candidate:2 1 UDP 1694498815 192.0.2.3 45664 typ srflx raddr 10.0.0.1 rport 4000\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=candidate:1 2 UDP 2130706430 10.0.0.1 4001 typ host\r\n"
	"a=end-of-candidates\r\n"
	"m=audio 4002 RTP/AVP 0\r\n"
	"a=remote-candidates:1 192.0.2.3 45664\r\n"
	"a=Candidate:1 1 UDP 2130706431 10.0.0.1 4002 typ host\r\n"
	"a=ptime:20\r\n"
	"a=end-of-candidates";

static void test_ice_removed(void **state)
{
	static const char expect[] =
		"v=0\r\n"
		"o=- 1 1 IN IP4 203.0.113.1\r\n"
		"s=-\r\n"
		"c=IN IP4 203.0.113.1\r\n"
		"t=0 0\r\n"
		"m=audio 20000 RTP/AVP 0\r\n"
		"a=rtpmap:0 PCMU/8000\r\n"
		"m=audio 20002 RTP/AVP 0\r\n"
		"a=ptime:20\r\n";
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4, .portc = 2,
		.portv = { 20000, 20002 }, .remove_ice = true,
	};
	const struct sdp_media *m;
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, ice_in), 0);
	m = &sess.mediav[0];
	assert_int_equal(m->lvl.candc, 3);
	assert_true(m->lvl.end_of_candidates);
	assert_pl(&m->lvl.ice_ufrag, "8hhY");
	assert_pl(&m->lvl.ice_pwd, "asd88fgpdd777uzjYhagZg");
	assert_int_equal(sess.mediav[1].lvl.candc, 1);
	assert_int_equal(sess.linev[5].kind, SDP_ATTR_ICE_OTHER);
	assert_int_equal(sess.linev[6].kind, SDP_ATTR_ICE_OTHER);
	assert_int_equal(sess.linev[16].kind, SDP_ATTR_REMOTE_CANDIDATES);
	out = rewrite_to(&sess, &rw);
	assert_out(&out, expect);
	assert_int_equal(sdp_session_decode(&sess2, &out), 0);
	assert_int_equal(sess2.mediav[0].lvl.candc, 0);
	assert_false(sess2.mediav[1].lvl.end_of_candidates);

	/* without the flag they stay */
	rw.remove_ice = false;
	out = rewrite_to(&sess, &rw);
	assert_int_equal(sdp_session_decode(&sess2, &out), 0);
	assert_same_but_rewritten(&sess, &sess2);
	assert_int_equal(sess2.mediav[0].lvl.candc, 3);
}

static void test_hold(void **state)
{
	static const char in[] =
		"v=0\r\n"
		"o=- 1 2 IN IP4 10.0.0.1\r\n"
		"s=-\r\n"
		"c=IN IP4 0.0.0.0\r\n"
		"t=0 0\r\n"
		"m=audio 4000 RTP/AVP 0\r\n"
		"m=audio 4002 RTP/AVP 0\r\n"
		"c=IN IP4 10.0.0.1\r\n"
		"a=sendonly\r\n"
		"m=audio 4004 RTP/AVP 0\r\n"
		"c=IN IP4 10.0.0.1\r\n"
		"a=inactive\r\n"
		"m=audio 4006 RTP/AVP 0\r\n"
		"c=IN IP4 10.0.0.1\r\n"
		"a=recvonly\r\n"
		"m=audio 4008 RTP/AVP 0\r\n"
		"c=IN IP6 ::\r\n";
	static const char expect[] =
		"v=0\r\n"
		"o=- 1 2 IN IP4 203.0.113.1\r\n"
		"s=-\r\n"
		"c=IN IP4 0.0.0.0\r\n"
		"t=0 0\r\n"
		"m=audio 20000 RTP/AVP 0\r\n"
		"m=audio 20002 RTP/AVP 0\r\n"
		"c=IN IP4 203.0.113.1\r\n"
		"a=sendonly\r\n"
		"m=audio 20004 RTP/AVP 0\r\n"
		"c=IN IP4 203.0.113.1\r\n"
		"a=inactive\r\n"
		"m=audio 20006 RTP/AVP 0\r\n"
		"c=IN IP4 203.0.113.1\r\n"
		"a=recvonly\r\n"
		"m=audio 20008 RTP/AVP 0\r\n"
		"c=IN IP6 ::\r\n";
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4, .portc = 5,
		.portv = { 20000, 20002, 20004, 20006, 20008 },
	};
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, in), 0);
	assert_true(sess.lvl.conn.is_hold);
	assert_true(sdp_media_is_hold(&sess, &sess.mediav[0]));   /* 0.0.0.0 */
	assert_true(sdp_media_is_hold(&sess, &sess.mediav[1]));   /* sendonly */
	assert_true(sdp_media_is_hold(&sess, &sess.mediav[2]));   /* inactive */
	assert_false(sdp_media_is_hold(&sess, &sess.mediav[3]));  /* recvonly */
	assert_true(sdp_media_is_hold(&sess, &sess.mediav[4]));   /* :: */
	out = rewrite_to(&sess, &rw);
	assert_out(&out, expect);
	assert_int_equal(sdp_session_decode(&sess2, &out), 0);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(sdp_media_is_hold(&sess2, &sess2.mediav[i]),
				 sdp_media_is_hold(&sess, &sess.mediav[i]));
	}
}

static void test_session_dir_inherited(void **state)
{
	static const char in[] = HDR
		"a=sendonly\r\n"
		"m=audio 4000 RTP/AVP 0\r\n"
		"m=audio 4002 RTP/AVP 0\r\n"
		"a=recvonly\r\n"
		"m=audio 4004 RTP/AVP 0\r\n"
		"a=sendrecv\r\n"
		"a=sendrecv\r\n";

	(void)state;
	assert_int_equal(decode_str(&sess, in), 0);
	assert_int_equal(sess.lvl.dir, SDP_DIR_SENDONLY);
	assert_int_equal(sess.mediav[0].lvl.dir, SDP_DIR_NONE);
	assert_int_equal(sdp_media_dir(&sess, &sess.mediav[0]), SDP_DIR_SENDONLY);
	assert_true(sdp_media_is_hold(&sess, &sess.mediav[0]));
	assert_int_equal(sdp_media_dir(&sess, &sess.mediav[1]), SDP_DIR_RECVONLY);
	assert_false(sdp_media_is_hold(&sess, &sess.mediav[1]));
	assert_int_equal(sdp_media_dir(&sess, &sess.mediav[2]), SDP_DIR_SENDRECV);
	assert_string_equal(sdp_dir_name(SDP_DIR_INACTIVE), "inactive");
	assert_string_equal(sdp_dir_name(SDP_DIR_NONE), "");
	/* two different directions at one level are ambiguous */
	assert_int_equal(decode_str(&sess, HDR "m=audio 4000 RTP/AVP 0\r\n"
				    "a=sendonly\r\na=recvonly\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "a=inactive\r\na=sendrecv\r\n"), EBADMSG);
}

static void test_ipv6(void **state)
{
	static const char in[] =
		"v=0\r\n"
		"o=- 1 1 IN IP6 2001:db8::1\r\n"
		"s=-\r\n"
		"c=IN IP6 2001:db8::1\r\n"
		"t=0 0\r\n"
		"m=audio 4000 RTP/AVP 0\r\n"
		"c=IN IP4 10.0.0.1\r\n";
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4, .portc = 1, .portv = { 20000 },
	};
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, in), 0);
	assert_int_equal(sess.origin.unicast.af, SDP_AF_IP6);
	assert_int_equal(sess.lvl.conn.af, SDP_AF_IP6);
	assert_pl(&sess.lvl.conn.addr, "2001:db8::1");
	assert_int_equal(sess.mediav[0].lvl.conn.af, SDP_AF_IP4);
	out = rewrite_to(&sess, &rw);
	assert_out(&out, "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\n"
		   "c=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n"
		   "c=IN IP4 203.0.113.1\r\n");
	rw.af = SDP_AF_IP6;
	rw.addr = PL("2001:db8:ffff::7");
	out = rewrite_to(&sess, &rw);
	assert_out(&out, "v=0\r\no=- 1 1 IN IP6 2001:db8:ffff::7\r\ns=-\r\n"
		   "c=IN IP6 2001:db8:ffff::7\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n"
		   "c=IN IP6 2001:db8:ffff::7\r\n");
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\nc=IN IP6 2001:db8::g\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\nc=IN IP6 1.2.3.4\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\nc=IN IP6 media.example.com\r\n"), 0);
	assert_true(sess.mediav[0].lvl.conn.is_host);
}

/* A port 0 (rejected) stream keeps port 0; other media get their new port. */
static void test_rejected_stream(void **state)
{
	static const char in[] = HDR
		"m=audio 4000 RTP/AVP 0\r\n"
		"m=video 0 RTP/AVP 31\r\n"
		"a=rtcp:4001\r\n"
		"m=text 0 RTP/AVP\r\n";
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4, .portc = 3,
		.portv = { 20000, 20002, 20004 },
	};
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, in), 0);
	assert_true(sdp_media_is_rejected(&sess.mediav[1]));
	assert_int_equal(sess.mediav[2].fmtc, 0);
	out = rewrite_to(&sess, &rw);
	assert_out(&out, "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\n"
		   "c=IN IP4 203.0.113.1\r\nt=0 0\r\n"
		   "m=audio 20000 RTP/AVP 0\r\n"
		   "m=video 0 RTP/AVP 31\r\n"
		   "a=rtcp:4001\r\n"
		   "m=text 0 RTP/AVP\r\n");
	/* the SBC may itself reject a stream by giving it port 0 */
	rw.portv[0] = 0;
	out = rewrite_to(&sess, &rw);
	assert_int_equal(sdp_session_decode(&sess2, &out), 0);
	assert_true(sdp_media_is_rejected(&sess2.mediav[0]));
}

/* Host names are legal in o= and c= (RFC 8866 §5.2, §5.7); the rewrite replaces them. */
static void test_hostname(void **state)
{
	static const char in[] =
		"v=0\r\n"
		"o=alice 1 1 IN IP4 pc33.atlanta.example.com\r\n"
		"s=-\r\n"
		"c=IN IP4 media.atlanta.example.com\r\n"
		"t=0 0\r\n"
		"m=audio 4000 RTP/AVP 0\r\n";
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4, .portc = 1, .portv = { 20000 },
	};
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, in), 0);
	assert_true(sess.origin.unicast.is_host);
	assert_true(sess.lvl.conn.is_host);
	assert_pl(&sess.lvl.conn.addr, "media.atlanta.example.com");
	out = rewrite_to(&sess, &rw);
	assert_out(&out, "v=0\r\no=alice 1 1 IN IP4 203.0.113.1\r\ns=-\r\n"
		   "c=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n");
}

/* Multicast /ttl/count is parsed apart; the unicast relay address replaces all of it. */
static void test_multicast(void **state)
{
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4, .portc = 1, .portv = { 20000 },
	};
	struct pl out;

	(void)state;
	assert_int_equal(decode_str(&sess, "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n"
				    "c=IN IP4 224.2.1.1/127/3\r\nt=0 0\r\n"
				    "m=audio 4000 RTP/AVP 0\r\n"), 0);
	assert_pl(&sess.lvl.conn.addr, "224.2.1.1");
	assert_pl(&sess.lvl.conn.mcast, "/127/3");
	out = rewrite_to(&sess, &rw);
	assert_out(&out, "v=0\r\no=- 1 1 IN IP4 203.0.113.1\r\ns=-\r\n"
		   "c=IN IP4 203.0.113.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0\r\n");
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\nc=IN IP6 ff15::101/3\r\n"), 0);
	assert_pl(&sess.mediav[0].lvl.conn.mcast, "/3");
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\nc=IN IP6 ff15::101/3/2\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/127/3/1\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\nc=IN IP4 224.2.1.1/\r\n"), EBADMSG);
	assert_int_equal(decode_str(&sess, HDR "m=audio 1 RTP/AVP 0\r\nc=IN IP4 224.2.1.1//3\r\n"), EBADMSG);
}

static void test_attr_iterate(void **state)
{
	static const char in[] = HDR
		"a=group:BUNDLE 0\r\n"
		"a=tool:x\r\n"
		"i=info\r\n"
		"k=clear:x\r\n"
		"x=unknown type kept\r\n"
		"m=audio 4000 RTP/AVP 0 8\r\n"
		"i=media info\r\n"
		"a=rtpmap:0 PCMU/8000\r\n"
		"a=rtpmap:8 PCMA/8000\r\n"
		"a=mid:0\r\n"
		"a=fmtp:8\r\n"
		"y=another\r\n";
	const char *names[] = { "rtpmap", "rtpmap", "mid", "fmtp" };
	struct sdp_attr a;
	size_t cursor = 0, n = 0;
	struct pl v, fmt = PL_INIT;

	(void)state;
	assert_int_equal(decode_str(&sess, in), 0);
	assert_int_equal(sess.lvl.attrc, 2);
	assert_true(sdp_attr_find(&sess, NULL, "group", &v));
	assert_pl(&v, "BUNDLE 0");
	assert_true(sdp_attr_find(&sess, NULL, "TOOL", &v));
	assert_false(sdp_attr_find(&sess, NULL, "mid", &v));
	assert_true(sdp_attr_find(&sess, &sess.mediav[0], "mid", NULL));
	while (sdp_attr_next(&sess, &sess.mediav[0], &cursor, &a))
		assert_pl(&a.name, names[n++]);
	assert_int_equal(n, 4);
	assert_false(sdp_attr_next(&sess, &sess.mediav[0], &cursor, &a));
	assert_true(sdp_media_fmt_attr(&sess, &sess.mediav[0], "fmtp", &PL("8"), &v));
	assert_int_equal(v.l, 0);
	assert_true(sdp_media_fmt_next(&sess.mediav[0], &fmt));
	assert_pl(&fmt, "0");
	assert_true(sdp_media_fmt_next(&sess.mediav[0], &fmt));
	assert_pl(&fmt, "8");
	assert_false(sdp_media_fmt_next(&sess.mediav[0], &fmt));
	assert_int_equal(sess.linev[9].type, 'x');
	assert_pl(&sess.linev[9].val, "unknown type kept");
	assert_int_equal(sess.linev[sess.linec - 1].type, 'y');
}

struct bad_case {
	const char *body;
	int err;
};

static const struct bad_case bad_cases[] = {
	{ "", EBADMSG },
	{ "\r\n", EBADMSG },
	{ "v=0\r\n", EBADMSG },
	{ "v=0", EBADMSG },
	{ "o=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n", EBADMSG },
	{ "v=1\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n", EBADMSG },
	{ "v=00\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ " v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ HDR "a\r\n", EBADMSG },
	{ HDR "garbage line\r\n", EBADMSG },
	{ HDR "A=foo\r\n", EBADMSG },
	{ HDR "1=foo\r\n", EBADMSG },
	{ HDR "ab=foo\r\n", EBADMSG },
	{ HDR "v=0\r\n", EBADMSG },
	{ HDR "o=- 1 1 IN IP4 10.0.0.1\r\n", EBADMSG },
	{ HDR "s=again\r\n", EBADMSG },
	{ HDR "c=IN IP4 10.0.0.2\r\n", EBADMSG },
	{ "v=0\r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\nt=0 0\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 x\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1 IN IP4\r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1 IN IP4 10.0.0.1 x\r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ "v=0\r\no=- x 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1.0 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ "v=0\r\no=-  1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1 IN IP4 10.0.0.1 \r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1 IN IP4 10.0.0.1/8\r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1 ATM NSAP 47.0005\r\ns=-\r\nt=0 0\r\n", EBADMSG },
	{ HDR "m=audio 70000 RTP/AVP 0\r\n", EBADMSG },
	{ HDR "m=audio 65536 RTP/AVP 0\r\n", EBADMSG },
	{ HDR "m=audio 000065535 RTP/AVP 0\r\n", EBADMSG },
	{ HDR "m=audio -1 RTP/AVP 0\r\n", EBADMSG },
	{ HDR "m=audio 5x RTP/AVP 0\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0 \r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0  8\r\n", EBADMSG },
	{ HDR "m=audio  4000 RTP/AVP 0\r\n", EBADMSG },
	{ HDR "m=audio\r\n", EBADMSG },
	{ HDR "m=\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nt=0 0\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\ns=-\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 10.0.0.2\r\nc=IN IP4 10.0.0.3\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 999.1.1.1\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 1.2.3\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 1.2.3.4.5\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 01.2.3.4\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 1.2.3.256\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 1..2.3\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 1.2.3.4.\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 .1.2.3\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 1.2.3.4444\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP7 1.2.3.4\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 2001:db8::1\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4 host_name\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN IP4\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=IN\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\nc=\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\na=\r\n", EBADMSG },
	{ HDR "m=audio 4000 RTP/AVP 0\r\na=:x\r\n", EBADMSG },
	{ HDR "b=AS\r\n", EBADMSG },
	{ HDR "b=:64\r\n", EBADMSG },
	{ HDR "b=AS:abc\r\n", EBADMSG },
	{ HDR "b=AS:99999999999\r\n", EBADMSG },
	{ HDR "a=x\rb\r\n", EBADMSG },
	{ HDR "a=x\r\r\n", EBADMSG },
	{ HDR "a=x\r", EBADMSG },
	{ HDR "\r\na=x\r\n", EBADMSG },
	{ "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n", EBADMSG },
};

static void test_malformed(void **state)
{
	(void)state;
	/* the header itself is valid */
	assert_int_equal(decode_str(&sess, HDR), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad_cases); i++) {
		int err = decode_str(&sess, bad_cases[i].body);

		if (err != bad_cases[i].err)
			fail_msg("case %zu \"%s\": got %d, want %d", i,
				 bad_cases[i].body, err, bad_cases[i].err);
	}
	/* no c= is fine on a rejected stream */
	assert_int_equal(decode_str(&sess, "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\n"
				    "t=0 0\r\nm=audio 0 RTP/AVP 0\r\n"), 0);
	/* empty s= and unknown letters are tolerated */
	assert_int_equal(decode_str(&sess, "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=\r\n"
				    "t=0 0\r\nq=\r\n"), 0);
}

static void test_nul_byte(void **state)
{
	struct pl body = offer_body();
	char buf[512];

	(void)state;
	memcpy(buf, body.p, body.l);
	assert_int_equal(decode_mem(&sess, buf, body.l), 0);
	buf[40] = '\0';
	assert_int_equal(decode_mem(&sess, buf, body.l), EBADMSG);
	memcpy(buf, body.p, body.l);
	buf[body.l - 1] = '\0';
	assert_int_equal(decode_mem(&sess, buf, body.l), EBADMSG);
	assert_int_equal(sdp_session_decode(&sess, NULL), EINVAL);
	assert_int_equal(sdp_session_decode(NULL, &body), EINVAL);
}

/*
 * A lone CR or a NUL at any offset of the offer is refused, and with every
 * CRLF turned into LF the body still parses to the same lines: the 8-byte
 * line scanner is right at every alignment.
 */
static void test_scan_every_offset(void **state)
{
	struct pl body = offer_body();
	char buf[512];
	size_t n = 0;

	(void)state;
	for (size_t k = 0; k < body.l; k++) {
		memcpy(buf, body.p, body.l);
		if (buf[k] == '\r' || buf[k] == '\n')
			continue;
		buf[k] = '\r';
		assert_int_equal(decode_mem(&sess, buf, body.l), EBADMSG);
		buf[k] = '\0';
		assert_int_equal(decode_mem(&sess, buf, body.l), EBADMSG);
	}
	for (size_t k = 0; k < body.l; k++) {
		if (body.p[k] != '\r')
			buf[n++] = body.p[k];
	}
	assert_int_equal(decode_mem(&sess, buf, n), 0);
	assert_int_equal(sess.linec, 17);
	for (size_t i = 0; i < sess.linec; i++)
		assert_int_equal(sess.linev[i].eol, 1);
	assert_pl(&sess.linev[sess.linec - 1].val, "sendrecv");
	assert_int_equal(sess.mediav[1].port, 52974);
	/* every prefix either parses or is refused, never read past its end */
	for (size_t k = 0; k <= body.l; k++) {
		int err = decode_mem(&sess, body.p, k);

		assert_true(err == 0 || err == EBADMSG);
	}
}

/* Parse and rewrite never allocate: with every allocation failing they still work. */
static void test_no_alloc(void **state)
{
	struct pl body = offer_body(), out;
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4,
		.portc = 2, .portv = { 20000, 20002 },
	};

	(void)state;
	mem_fail_after(0);
	assert_int_equal(sdp_session_decode(&sess, &body), 0);
	out = rewrite_to(&sess, &rw);
	assert_int_equal(sdp_session_decode(&sess2, &out), 0);
	mem_fail_after(-1);
}

/* Build HDR plus n media, each with attrs a= lines, into bigmem. */
static size_t build_big(size_t n, size_t attrs, size_t line_len)
{
	struct wbuf wb;

	wbuf_init(&wb, bigmem, sizeof(bigmem));
	assert_int_equal(wbuf_put_str(&wb, HDR), 0);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(wbuf_printf(&wb, "m=audio %zu RTP/AVP 0\r\n", 4000 + 2 * i), 0);
		for (size_t j = 0; j < attrs; j++)
			assert_int_equal(wbuf_printf(&wb, "a=x-%zu:%zu\r\n", i, j), 0);
	}
	if (line_len) {
		assert_int_equal(wbuf_put_str(&wb, "a="), 0);
		for (size_t j = 2; j < line_len; j++)
			assert_int_equal(wbuf_put_str(&wb, "x"), 0);
		assert_int_equal(wbuf_put_str(&wb, "\r\n"), 0);
	}
	return wb.len;
}

static void test_limits(void **state)
{
	size_t n;

	(void)state;
	n = build_big(SDP_MAX_MEDIA, 0, 0);
	assert_int_equal(decode_mem(&sess, bigmem, n), 0);
	assert_int_equal(sess.mediac, SDP_MAX_MEDIA);
	n = build_big(SDP_MAX_MEDIA + 1, 0, 0);
	assert_int_equal(decode_mem(&sess, bigmem, n), E2BIG);

	n = build_big(1, SDP_MAX_ATTRS, 0);
	assert_int_equal(decode_mem(&sess, bigmem, n), 0);
	assert_int_equal(sess.mediav[0].lvl.attrc, SDP_MAX_ATTRS);
	n = build_big(1, SDP_MAX_ATTRS + 1, 0);
	assert_int_equal(decode_mem(&sess, bigmem, n), E2BIG);
	/* thousands of a= lines */
	n = build_big(1, 5000, 0);
	assert_int_equal(decode_mem(&sess, bigmem, n), E2BIG);
	/* many media within the attribute limit, past the line limit */
	n = build_big(SDP_MAX_MEDIA, SDP_MAX_LINES / SDP_MAX_MEDIA, 0);
	assert_int_equal(decode_mem(&sess, bigmem, n), E2BIG);
	n = build_big(4, (SDP_MAX_LINES - 5) / 4 - 1, 0);
	assert_int_equal(decode_mem(&sess, bigmem, n), 0);

	n = build_big(1, 0, SDP_MAX_LINE_LEN);
	assert_int_equal(decode_mem(&sess, bigmem, n), 0);
	n = build_big(1, 0, SDP_MAX_LINE_LEN + 1);
	assert_int_equal(decode_mem(&sess, bigmem, n), E2BIG);
	assert_int_equal(decode_mem(&sess, bigmem, SDP_MAX_BODY + 1), E2BIG);

	assert_int_equal(decode_str(&sess, HDR "b=AS:1\r\nb=AS:2\r\nb=AS:3\r\n"
				    "b=AS:4\r\nb=AS:5\r\nb=AS:6\r\n"), 0);
	assert_int_equal(sess.lvl.bwc, SDP_MAX_BW);
	assert_int_equal(decode_str(&sess, HDR "b=AS:1\r\nb=AS:2\r\nb=AS:3\r\n"
				    "b=AS:4\r\nb=AS:5\r\nb=AS:6\r\nb=AS:7\r\n"), E2BIG);
}

/*
 * Many splices (more than one internal batch): 16 media with c=, a=rtcp
 * with address and candidates between other lines. Lines other than the
 * rewritten ones come out in order and unchanged.
 */
static void test_many_splices(void **state)
{
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP6, .addr = PL("2001:db8::99"), .portc = SDP_MAX_MEDIA,
		.remove_ice = true,
	};
	struct wbuf wb;
	struct pl out;
	size_t j = 0;

	(void)state;
	wbuf_init(&wb, bigmem, sizeof(bigmem));
	assert_int_equal(wbuf_put_str(&wb, HDR), 0);
	for (size_t i = 0; i < SDP_MAX_MEDIA; i++) {
		assert_int_equal(wbuf_printf(&wb,
			"m=audio %zu RTP/AVP 0\r\n"
			"c=IN IP4 10.0.0.%zu\r\n"
			"a=candidate:1 1 UDP 1 10.0.0.1 %zu typ host\r\n"
			"a=rtcp:%zu IN IP4 10.0.0.%zu\r\n"
			"a=candidate:1 2 UDP 1 10.0.0.1 %zu typ host\r\n"
			"a=candidate:2 2 UDP 1 10.0.0.1 %zu typ host\r\n"
			"a=ptime:%zu\r\n",
			4000 + 2 * i, i + 2, 4000 + 2 * i, 4001 + 2 * i, i + 2,
			4001 + 2 * i, 4001 + 2 * i, i + 10), 0);
		rw.portv[i] = (uint16_t)(20000 + 2 * i);
	}
	assert_int_equal(decode_mem(&sess, bigmem, wb.len), 0);
	out = rewrite_to(&sess, &rw);
	assert_int_equal(sdp_session_decode(&sess2, &out), 0);
	assert_int_equal(sess2.mediac, SDP_MAX_MEDIA);
	for (size_t i = 0; i < sess.linec; i++) {
		const struct sdp_line *x = &sess.linev[i], *y;

		if (x->kind == SDP_ATTR_CANDIDATE)
			continue;
		y = &sess2.linev[j++];
		assert_int_equal(x->type, y->type);
		if (x->type != 'o' && x->type != 'c' && x->type != 'm' &&
		    x->kind != SDP_ATTR_RTCP)
			assert_true(pl_eq(&x->val, &y->val));
	}
	assert_int_equal(j, sess2.linec);
	for (size_t i = 0; i < SDP_MAX_MEDIA; i++) {
		const struct sdp_media *m = &sess2.mediav[i];

		assert_int_equal(m->port, 20000 + 2 * i);
		assert_int_equal(m->rtcp.port, 20001 + 2 * i);
		assert_pl(&m->lvl.conn.addr, "2001:db8::99");
		assert_pl(&m->lvl.conn.addrtype, "IP6");
		assert_pl(&m->rtcp.conn.addr, "2001:db8::99");
		assert_int_equal(m->lvl.candc, 0);
	}
}

/* Too small an output buffer: ENOSPC and out->len as it was, for every size. */
static void test_enospc(void **state)
{
	struct pl body = offer_body();
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4,
		.portc = 2, .portv = { 20000, 20002 },
	};
	static char small[1024];
	struct wbuf wb;
	size_t need;

	(void)state;
	assert_int_equal(sdp_session_decode(&sess, &body), 0);
	wbuf_init(&wb, small, sizeof(small));
	assert_int_equal(sdp_rewrite(&sess, &rw, &wb), 0);
	need = wb.len;
	for (size_t size = 0; size < need; size++) {
		wbuf_init(&wb, small, size);
		assert_int_equal(sdp_rewrite(&sess, &rw, &wb), ENOSPC);
		assert_int_equal(wb.len, 0);
	}
	/* appending after earlier content keeps that content */
	memset(small, 0, sizeof(small));
	wbuf_init(&wb, small, need + 10 - 1);
	assert_int_equal(wbuf_put_str(&wb, "0123456789"), 0);
	assert_int_equal(sdp_rewrite(&sess, &rw, &wb), ENOSPC);
	assert_int_equal(wb.len, 10);
	assert_memory_equal(small, "0123456789", 10);
	wbuf_init(&wb, small, need + 10);
	assert_int_equal(wbuf_put_str(&wb, "0123456789"), 0);
	assert_int_equal(sdp_rewrite(&sess, &rw, &wb), 0);
	assert_int_equal(wb.len, need + 10);
}

static void test_rewrite_einval(void **state)
{
	struct pl body = offer_body();
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4, .addr = rw_addr4,
		.portc = 2, .portv = { 20000, 20002 },
	};
	struct wbuf wb;

	(void)state;
	assert_int_equal(sdp_session_decode(&sess, &body), 0);
	wbuf_init(&wb, outmem, sizeof(outmem));
	rw.portc = 1;
	assert_int_equal(sdp_rewrite(&sess, &rw, &wb), EINVAL);
	rw.portc = 2;
	rw.addr = PL("203.0.113");
	assert_int_equal(sdp_rewrite(&sess, &rw, &wb), EINVAL);
	rw.addr = PL("2001:db8::1");
	assert_int_equal(sdp_rewrite(&sess, &rw, &wb), EINVAL);
	rw.af = SDP_AF_NONE;
	assert_int_equal(sdp_rewrite(&sess, &rw, &wb), EINVAL);
	rw.af = SDP_AF_IP4;
	rw.addr = rw_addr4;
	rw.username = PL("a b");
	assert_int_equal(sdp_rewrite(&sess, &rw, &wb), EINVAL);
	rw.username = PL("sbc");
	rw.sess_id = PL("12x");
	assert_int_equal(sdp_rewrite(&sess, &rw, &wb), EINVAL);
	rw.sess_id = PL("42");
	assert_int_equal(sdp_rewrite(&sess, &rw, &wb), 0);
	assert_int_equal(sdp_session_decode(&sess2, &(struct pl){ outmem, wb.len }), 0);
	assert_pl(&sess2.origin.sess_id, "42");
	assert_pl(&sess2.origin.username, "sbc");
	assert_int_equal(sdp_rewrite(NULL, &rw, &wb), EINVAL);
}

static void test_origin_version(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(decode_str(&sess, "v=0\r\no=- 1 18446744073709551615 IN IP4 10.0.0.1\r\n"
				    "s=-\r\nt=0 0\r\n"), 0);
	assert_int_equal(sdp_origin_version(&sess.origin, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(decode_str(&sess, "v=0\r\no=- 1 18446744073709551616 IN IP4 10.0.0.1\r\n"
				    "s=-\r\nt=0 0\r\n"), 0);
	assert_int_equal(sdp_origin_version(&sess.origin, &v), EOVERFLOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_offer_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_offer_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_rewrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bare_lf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_last_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trailing_blank_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_count, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rtcp_session_level, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ice_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_dir_inherited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multicast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attr_iterate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nul_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_every_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_alloc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_splices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enospc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rewrite_einval, setup, teardown),
		cmocka_unit_test_setup_teardown(test_origin_version, setup, teardown),
	};

	return cmocka_run_group_tests_name("sdp", tests, NULL, NULL);
}
