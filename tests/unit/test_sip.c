/* test_sip: the SIP codec against the seed fixtures, its edits and writer, corner cases, leaks and OOM. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sip/sip.h"

/* ---------------------------------------------------------------- helpers */

static void pl_is_(const struct pl *pl, const char *s, const char *file, int line)
{
	if (s == NULL) {
		if (!pl_isset(pl))
			return;
		print_error("%s:%d: expected nothing, got \"%.*s\"\n", file, line, (int)pl->l,
			    pl->p);
		_fail(file, line);
	}
	if (pl_eq_str(pl, s))
		return;
	print_error("%s:%d: \"%.*s\" != \"%s\"\n", file, line, (int)pl->l,
		    pl->p ? pl->p : "", s);
	_fail(file, line);
}

/* Slice equals string (NULL: slice is empty). */
#define assert_pl(pl, s) pl_is_(&(pl), (s), __FILE__, __LINE__)

static void mem_is_(const char *got, size_t glen, const char *want, size_t wlen,
		    const char *file, int line)
{
	if (glen == wlen && memcmp(got, want, glen) == 0)
		return;
	print_error("%s:%d: output differs (%zu vs %zu bytes)\n--- got\n%.*s\n--- want\n%.*s\n",
		    file, line, glen, wlen, (int)glen, got, (int)wlen, want);
	_fail(file, line);
}

#define assert_out(got, glen, want) mem_is_((got), (glen), (want), strlen(want), __FILE__, __LINE__)

static void error_is_(const struct sip_msg *msg, const char *want, const char *file, int line)
{
	if (msg->error && strcmp(msg->error, want) == 0)
		return;
	print_error("%s:%d: error \"%s\" != \"%s\"\n", file, line,
		    msg->error ? msg->error : "(null)", want);
	_fail(file, line);
}

#define assert_error(msg, want) error_is_((msg), (want), __FILE__, __LINE__)

/* Decode len bytes from a buffer of our own; the message keeps its reference. */
static int decode_into(struct sip_msg *msg, const char *s, size_t len, unsigned flags,
		       size_t *consumed)
{
	struct buf *mb;
	int err;

	assert_int_equal(buf_from_mem(&mb, s, len), 0);
	err = sip_msg_decode(msg, mb, 0, flags, consumed);
	mem_deref(mb);
	return err;
}

static struct sip_msg *decode_len(const char *s, size_t len, unsigned flags, int expect)
{
	struct sip_msg *msg;

	assert_int_equal(sip_msg_alloc(&msg), 0);
	assert_int_equal(decode_into(msg, s, len, flags, NULL), expect);
	return msg;
}

#define DECODE(s, expect) decode_len((s), strlen(s), 0, (expect))

static size_t encode(struct sip_msg *msg, char *out, size_t size)
{
	struct wbuf wb;

	wbuf_init(&wb, out, size);
	assert_int_equal(sip_msg_encode(msg, &wb), 0);
	return wb.len;
}

static char *fixture_load(const char *name, size_t *lenp)
{
	char path[512];
	FILE *f;
	long n;
	char *p;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES_DIR, name);
	f = fopen(path, "rb");
	if (!f)
		print_error("cannot open %s\n", path);
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	rewind(f);
	p = malloc((size_t)n + 1);
	assert_non_null(p);
	assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	p[n] = '\0';
	*lenp = (size_t)n;
	return p;
}

/* Growable scratch text for the big generated messages (plain malloc: not counted). */
struct text {
	char *p;
	size_t len, size;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->size) {
		size_t size = t->size ? t->size : 4096;

		while (size < t->len + n + 1)
			size *= 2;
		t->p = realloc(t->p, size);
		assert_non_null(t->p);
		t->size = size;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

static void text_fill(struct text *t, char c, size_t n)
{
	for (size_t i = 0; i < n; i++)
		text_add(t, &c, 1);
}

/* Every test starts and ends with the same number of live allocations. */
static int leak_setup(void **state)
{
	size_t *start = malloc(sizeof(*start));

	if (!start)
		return -1;
	*start = mem_nalloc();
	*state = start;
	return 0;
}

static int leak_teardown(void **state)
{
	size_t *start = *state;
	int ret = 0;

	mem_fail_after(-1);
	if (mem_nalloc() != *start) {
		print_error("leak: %zu allocations live, %zu at start\n", mem_nalloc(), *start);
		ret = -1;
	}
	free(start);
	return ret;
}

/* A well-formed request built from parts; skip drops one mandatory header. */
static const char *const base_hdrs[] = {
	"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbase\r\n",
	"From: <sip:alice@example.com>;tag=f1\r\n",
	"To: <sip:bob@example.com>\r\n",
	"Call-ID: base-1@10.0.0.1\r\n",
	"CSeq: 1 INVITE\r\n",
};

enum { SKIP_NONE = -1, SKIP_VIA, SKIP_FROM, SKIP_TO, SKIP_CALLID, SKIP_CSEQ };

static const char *build(char *out, size_t size, const char *start, int skip, const char *extra)
{
	struct wbuf wb;

	wbuf_init(&wb, out, size);
	assert_int_equal(wbuf_put_str(&wb, start), 0);
	for (int i = 0; i < (int)ARRAY_SIZE(base_hdrs); i++) {
		if (i != skip)
			assert_int_equal(wbuf_put_str(&wb, base_hdrs[i]), 0);
	}
	assert_int_equal(wbuf_put_str(&wb, extra), 0);
	assert_int_equal(wbuf_put_str(&wb, "\r\n"), 0);
	assert_int_equal(wbuf_put(&wb, "", 1), 0);
	return out;
}

#define INVITE_LINE "INVITE sip:bob@example.com SIP/2.0\r\n"

/* --------------------------------------------------------------- fixtures */

struct dg_expect {
	enum sip_hdr_id id;
	const char *realm, *nonce, *qop, *algorithm;
	const char *username, *uri, *response, *nc, *cnonce;
};

struct fx {
	const char *file;
	const char *method;       /* NULL for a response */
	enum sip_method mid;
	const char *ruri;
	uint16_t scode;
	const char *reason;
	const char *callid;
	uint32_t cseq;
	const char *cseq_method;
	const char *from_tag, *to_tag;
	const char *branch, *transport, *via_host;
	uint16_t via_port;
	const char *rport;        /* "" for a bare rport */
	const char *ct_user, *ct_host;
	uint16_t ct_port;
	int ct_expires;           /* -1 when absent */
	uint32_t clen;
	int expires;              /* Expires header, -1 when absent */
	int max_forwards;         /* -1 when absent */
	const struct dg_expect *dg;
};

#define CID_REG "NmFjNzA3MWY1MDI3NGViMjY1N2QwZDlmZWQ5ZGY2OGE."
#define CID_A "YWEwYjNlZTZjOWZjNDg3ZjU3MjQ3MTA1ZmQ1MDM5YmQ."
#define CID_B "0d74ac35-cca4-122d-81a2-2990e5b2bd3e"
#define BR_REG1 "z9hG4bK-d8754z-d9ed3bbae47e568b-1---d8754z-"
#define BR_REG2 "z9hG4bK-d8754z-dae1693be9f8c10d-1---d8754z-"
#define BR_A1 "z9hG4bK-d8754z-56adad736231f024-1---d8754z-"
#define BR_A2 "z9hG4bK-d8754z-87d60b47b6627c3a-1---d8754z-"
#define BR_B "z9hG4bKey90QUyHZQXNN"
#define HOST "192.168.4.4"
#define RURI_B "sip:Alice@192.168.4.4:5090;rinstance=e7d5364c81f2b879;transport=UDP"

static const struct dg_expect dg01 = {
	SIP_HDR_WWW_AUTHENTICATE, HOST, "62fb812c-71d2-4a36-93d6-e0008e6a63ee", "auth", "MD5",
	NULL, NULL, NULL, NULL, NULL,
};
static const struct dg_expect dg02 = {
	SIP_HDR_AUTHORIZATION, HOST, "62fb812c-71d2-4a36-93d6-e0008e6a63ee", "auth", "MD5",
	"Alice", "sip:192.168.4.4;transport=UDP", "32b5ddaea8647a3becd25cb84346b1c3",
	"00000001", "b4c6ac7e57fc76b85df9440994e2ede8",
};
static const struct dg_expect dg07 = {
	SIP_HDR_PROXY_AUTHENTICATE, HOST, "31c5c3e0-cc6e-46c8-a661-599b0c7f87d8", "auth", "MD5",
	NULL, NULL, NULL, NULL, NULL,
};
static const struct dg_expect dg09 = {
	SIP_HDR_PROXY_AUTHORIZATION, HOST, "31c5c3e0-cc6e-46c8-a661-599b0c7f87d8", "auth", "MD5",
	"Bob", "sip:Alice@192.168.4.4", "327887635344405bcd545da06763c466", "00000001",
	"c164b74f625ff2161bd8d47dba3a0ee2",
};

static const struct fx fixtures[] = {
	{ "00-register-1.sip", "REGISTER", SIP_METHOD_REGISTER, "sip:192.168.4.4;transport=UDP",
	  0, NULL, CID_REG, 1, "REGISTER", "9c709222", NULL, BR_REG1, "UDP", HOST, 5090, "",
	  "Alice", HOST, 5090, -1, 0, 3600, 70, NULL },
	{ "01-register-401.sip", NULL, 0, NULL, 401, "Unauthorized", CID_REG, 1, "REGISTER",
	  "9c709222", "QFXyg6gcByvUH", BR_REG1, "UDP", HOST, 5090, "5090",
	  NULL, NULL, 0, -1, 0, -1, -1, &dg01 },
	{ "02-register-2-auth.sip", "REGISTER", SIP_METHOD_REGISTER,
	  "sip:192.168.4.4;transport=UDP", 0, NULL, CID_REG, 2, "REGISTER", "9c709222", NULL,
	  BR_REG2, "UDP", HOST, 5090, "", "Alice", HOST, 5090, -1, 0, 3600, 70, &dg02 },
	{ "03-register-200.sip", NULL, 0, NULL, 200, "OK", CID_REG, 2, "REGISTER", "9c709222",
	  "rrpQj11F86jeD", BR_REG2, "UDP", HOST, 5090, "5090", "Alice", HOST, 5090, 3600, 0,
	  -1, -1, NULL },
	{ "04-register-403.sip", NULL, 0, NULL, 403, "Forbidden",
	  "ZjkxMGJmMjE4Y2ZiNjU5MzM5NDZkMTE5NzMzMzM0Mjc.", 2, "REGISTER", "c097e17f",
	  "yeecX364pvryj", "z9hG4bK-d8754z-d447f43b66912a1b-1---d8754z-", "UDP", HOST, 5090,
	  "5090", NULL, NULL, 0, -1, 0, -1, -1, NULL },
	{ "05-invite-a-1.sip", "INVITE", SIP_METHOD_INVITE, "sip:Alice@192.168.4.4", 0, NULL,
	  CID_A, 1, "INVITE", "15c8325a", NULL, BR_A1, "UDP", HOST, 26000, "",
	  "Bob", HOST, 26000, -1, 0, -1, 70, NULL },
	{ "06-invite-a-100.sip", NULL, 0, NULL, 100, "Trying", CID_A, 1, "INVITE", "15c8325a",
	  NULL, BR_A1, "UDP", HOST, 26000, "26000", NULL, NULL, 0, -1, 0, -1, -1, NULL },
	{ "07-invite-a-407.sip", NULL, 0, NULL, 407, "Proxy Authentication Required", CID_A, 1,
	  "INVITE", "15c8325a", "B4pem31jHgtHS", BR_A1, "UDP", HOST, 26000, "26000",
	  NULL, NULL, 0, -1, 0, -1, -1, &dg07 },
	{ "08-ack-a-407.sip", "ACK", SIP_METHOD_ACK, "sip:Alice@192.168.4.4", 0, NULL, CID_A, 1,
	  "ACK", "15c8325a", "B4pem31jHgtHS", BR_A1, "UDP", HOST, 26000, "",
	  NULL, NULL, 0, -1, 0, -1, -1, NULL },
	{ "09-invite-a-2-auth.sip", "INVITE", SIP_METHOD_INVITE, "sip:Alice@192.168.4.4", 0,
	  NULL, CID_A, 2, "INVITE", "15c8325a", NULL, BR_A2, "UDP", HOST, 26000, "",
	  "Bob", HOST, 26000, -1, 0, -1, 70, &dg09 },
	{ "10-invite-a-2-100.sip", NULL, 0, NULL, 100, "Trying", CID_A, 2, "INVITE", "15c8325a",
	  NULL, BR_A2, "UDP", HOST, 26000, "26000", NULL, NULL, 0, -1, 0, -1, -1, NULL },
	{ "11-invite-b.sip", "INVITE", SIP_METHOD_INVITE, RURI_B, 0, NULL, CID_B, 130069214,
	  "INVITE", "Dp9ZQS3SB26pg", NULL, BR_B, "UDP", HOST, 0, "",
	  "mod_sofia", HOST, 5060, -1, 0, -1, 69, NULL },
	{ "12-invite-b-100.sip", NULL, 0, NULL, 100, "Trying", CID_B, 130069214, "INVITE",
	  "Dp9ZQS3SB26pg", NULL, BR_B, "UDP", HOST, 0, "5060", NULL, NULL, 0, -1, 0, -1, -1,
	  NULL },
	{ "13-invite-b-180.sip", NULL, 0, NULL, 180, "Ringing", CID_B, 130069214, "INVITE",
	  "Dp9ZQS3SB26pg", "3813e926", BR_B, "UDP", HOST, 0, "5060", "Alice", HOST, 5090, -1,
	  0, -1, -1, NULL },
	{ "14-invite-a-180.sip", NULL, 0, NULL, 180, "Ringing", CID_A, 2, "INVITE", "15c8325a",
	  "cDg7NyjpeSg4m", BR_A2, "UDP", HOST, 26000, "26000", "Alice", HOST, 5060, -1, 0, -1,
	  -1, NULL },
	{ "15-invite-b-200.sip", NULL, 0, NULL, 200, "OK", CID_B, 130069214, "INVITE",
	  "Dp9ZQS3SB26pg", "3813e926", BR_B, "UDP", HOST, 0, "5060", "Alice", HOST, 5090, -1,
	  0, -1, -1, NULL },
	{ "16-ack-b.sip", "ACK", SIP_METHOD_ACK, RURI_B, 0, NULL, CID_B, 130069214, "ACK",
	  "Dp9ZQS3SB26pg", "3813e926", "z9hG4bKF72SSpFNv0K8g", "UDP", HOST, 0, "",
	  "mod_sofia", HOST, 5060, -1, 0, -1, 70, NULL },
	{ "17-invite-a-200.sip", NULL, 0, NULL, 200, "OK", CID_A, 2, "INVITE", "15c8325a",
	  "cDg7NyjpeSg4m", BR_A2, "UDP", HOST, 26000, "26000", "Alice", HOST, 5060, -1, 0, -1,
	  -1, NULL },
	{ "18-ack-a.sip", "ACK", SIP_METHOD_ACK, "sip:Alice@192.168.4.4:5060;transport=udp", 0,
	  NULL, CID_A, 2, "ACK", "15c8325a", "cDg7NyjpeSg4m",
	  "z9hG4bK-d8754z-ef53864320037c04-1---d8754z-", "UDP", HOST, 26000, "",
	  "Bob", HOST, 26000, -1, 0, -1, 70, &dg09 },
	{ "19-bye-b.sip", "BYE", SIP_METHOD_BYE, "sip:mod_sofia@192.168.4.4:5060", 0, NULL, CID_B,
	  2, "BYE", "3813e926", "Dp9ZQS3SB26pg", "z9hG4bK-d8754z-2146ae0ddd113efe-1---d8754z-",
	  "UDP", HOST, 5090, "", "Alice", HOST, 5090, -1, 0, -1, 70, NULL },
	{ "20-bye-b-200.sip", NULL, 0, NULL, 200, "OK", CID_B, 2, "BYE", "3813e926",
	  "Dp9ZQS3SB26pg", "z9hG4bK-d8754z-2146ae0ddd113efe-1---d8754z-", "UDP", HOST, 5090,
	  "5090", NULL, NULL, 0, -1, 0, -1, -1, NULL },
	{ "21-bye-a.sip", "BYE", SIP_METHOD_BYE, "sip:Bob@192.168.4.4:26000", 0, NULL, CID_A,
	  130069219, "BYE", "cDg7NyjpeSg4m", "15c8325a", "z9hG4bKggvjUH0rS99tc", "UDP", HOST, 0,
	  "", "Alice", HOST, 5060, -1, 0, -1, 70, NULL },
	{ "22-bye-a-200.sip", NULL, 0, NULL, 200, "OK", CID_A, 130069219, "BYE", "cDg7NyjpeSg4m",
	  "15c8325a", "z9hG4bKggvjUH0rS99tc", "UDP", HOST, 0, "5060", "Bob", HOST, 26000, -1, 0,
	  -1, -1, NULL },
	{ "23-invite-sdp-bria.sip", "INVITE", SIP_METHOD_INVITE, "sip:9196@192.168.1.9", 0, NULL,
	  "ZTQ0N2Y2NzI2ZjMxZTcwZTY0YTA5ODUyZDUzNWM2YjM", 1, "INVITE", "f49f383a", NULL,
	  "z9hG4bK-d8754z-0a09c74c6345dc09-1---d8754z-", "UDP", "192.168.1.118", 35526, "",
	  "607", "192.168.1.118", 35526, -1, 409, -1, 70, NULL },
};

static const struct fx *fixture_find(const char *file)
{
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		if (strcmp(fixtures[i].file, file) == 0)
			return &fixtures[i];
	}
	return NULL;
}

static void digest_check(const struct sip_msg *msg, const struct dg_expect *e)
{
	struct sip_iter it = { 0 };
	struct sip_digest dg;
	const struct pl *fields[] = { &dg.realm, &dg.nonce, &dg.qop, &dg.algorithm, &dg.username,
				      &dg.uri, &dg.response, &dg.nc, &dg.cnonce };
	const char *want[] = { e->realm, e->nonce, e->qop, e->algorithm, e->username, e->uri,
			       e->response, e->nc, e->cnonce };
	char buf[256];
	size_t n;

	assert_int_equal(sip_msg_digest(msg, e->id, &it, &dg), 0);
	assert_pl(dg.scheme, "Digest");
	for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
		assert_pl(*fields[i], want[i]);
		if (!want[i])
			continue;
		assert_int_equal(sip_unquote(fields[i], buf, sizeof(buf), &n), 0);
		assert_int_equal(n, strlen(want[i]));
		assert_string_equal(buf, want[i]);
	}
	assert_pl(dg.opaque, NULL);
	assert_pl(dg.stale, NULL);
	assert_int_equal(sip_msg_digest(msg, e->id, &it, &dg), ENOENT);
}

/* Every field of the table, through the typed accessors. */
static void fixture_check(struct sip_msg *msg, const struct fx *f)
{
	const struct sip_via *via;
	const struct sip_addr *from, *to;
	const struct sip_cseq *cs;
	const struct sip_uri *ruri;
	struct sip_iter it = { 0 };
	struct sip_contact ct;
	struct pl callid;
	uint32_t v;

	assert_int_equal(sip_msg_check(msg), 0);
	assert_null(msg->error);
	assert_int_equal(msg->req, f->method != NULL);
	if (f->method) {
		assert_pl(msg->method, f->method);
		assert_int_equal(msg->mid, f->mid);
		assert_pl(msg->ruri, f->ruri);
		assert_int_equal(sip_msg_ruri(msg, &ruri), 0);
		assert_true(ruri->is_sip);
		assert_pl(ruri->raw, f->ruri);
	} else {
		assert_int_equal(msg->scode, f->scode);
		assert_pl(msg->reason, f->reason);
		assert_int_equal(sip_msg_ruri(msg, &ruri), ENOENT);
	}
	assert_pl(msg->ver, "SIP/2.0");
	assert_true(msg->ver_ok);

	assert_int_equal(sip_msg_callid(msg, &callid), 0);
	assert_pl(callid, f->callid);
	assert_int_equal(sip_msg_cseq(msg, &cs), 0);
	assert_int_equal(cs->num, f->cseq);
	assert_pl(cs->method, f->cseq_method);
	assert_int_equal(cs->mid, sip_method_lookup(&cs->method));
	if (f->method)
		assert_int_equal(cs->mid, f->mid);

	assert_int_equal(sip_msg_from(msg, &from), 0);
	assert_pl(from->tag, f->from_tag);
	assert_true(from->angle);
	assert_int_equal(sip_msg_to(msg, &to), 0);
	assert_pl(to->tag, f->to_tag);

	assert_int_equal(sip_msg_via_top(msg, &via), 0);
	assert_pl(via->proto, "SIP/2.0/UDP");
	assert_pl(via->branch, f->branch);
	assert_pl(via->transport, f->transport);
	assert_pl(via->host, f->via_host);
	assert_int_equal(via->host_type, SIP_HOST_IPV4);
	assert_int_equal(via->port, f->via_port);
	assert_true(via->has_rport);
	if (*f->rport)
		assert_pl(via->rport, f->rport);
	else
		assert_int_equal(via->rport.l, 0);
	assert_int_equal(sip_msg_hdr_count(msg, SIP_HDR_VIA), 1);

	if (f->ct_user) {
		assert_int_equal(sip_msg_contact_next(msg, &it, &ct), 0);
		assert_false(ct.star);
		assert_true(ct.addr.angle);
		assert_pl(ct.addr.uri.user, f->ct_user);
		assert_pl(ct.addr.uri.host, f->ct_host);
		assert_int_equal(ct.addr.uri.port, f->ct_port);
		assert_int_equal(ct.has_expires, f->ct_expires >= 0);
		if (f->ct_expires >= 0)
			assert_int_equal(ct.expires, (uint32_t)f->ct_expires);
	}
	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), ENOENT);

	assert_true(msg->has_clen);
	assert_int_equal(msg->clen, f->clen);
	assert_int_equal(msg->body.l, f->clen);

	if (f->expires >= 0) {
		assert_int_equal(sip_msg_expires(msg, &v), 0);
		assert_int_equal(v, (uint32_t)f->expires);
	} else {
		assert_int_equal(sip_msg_expires(msg, &v), ENOENT);
	}
	if (f->max_forwards >= 0) {
		assert_int_equal(sip_msg_max_forwards(msg, &v), 0);
		assert_int_equal(v, (uint32_t)f->max_forwards);
	} else {
		assert_int_equal(sip_msg_max_forwards(msg, &v), ENOENT);
	}
	if (f->dg)
		digest_check(msg, f->dg);
	else {
		assert_null(sip_msg_hdr(msg, SIP_HDR_WWW_AUTHENTICATE));
		assert_null(sip_msg_hdr(msg, SIP_HDR_PROXY_AUTHENTICATE));
		assert_null(sip_msg_hdr(msg, SIP_HDR_AUTHORIZATION));
		assert_null(sip_msg_hdr(msg, SIP_HDR_PROXY_AUTHORIZATION));
	}
}

/* The tokeniser accounts for every byte: start line, fields, empty line, body. */
static void layout_check(const struct sip_msg *msg, const char *data, size_t len)
{
	size_t pos, start_len;

	assert_int_equal(msg->len, len);
	start_len = msg->hdrc ? msg->hdrv[0].off : msg->hdr_end;
	assert_true(start_len >= 2);
	assert_memory_equal(msg->base + start_len - 2, "\r\n", 2);
	pos = start_len;
	for (unsigned i = 0; i < msg->hdrc; i++) {
		const struct sip_hdr *h = &msg->hdrv[i];

		assert_int_equal(h->off, pos);
		assert_ptr_equal(h->name.p, msg->base + h->off);
		assert_true(h->val.p >= h->name.p + h->name.l);
		assert_true(h->val.p + h->val.l <= msg->base + h->off + h->len);
		assert_int_equal(h->id, sip_hdr_id_lookup(h->name.p, h->name.l));
		assert_memory_equal(msg->base + h->off + h->len - 2, "\r\n", 2);
		pos += h->len;
	}
	assert_int_equal(msg->hdr_end, pos);
	assert_memory_equal(data + pos, "\r\n", 2);
	assert_ptr_equal(msg->body.p, msg->base + pos + 2);
	assert_int_equal(pos + 2 + msg->body.l, len);
}

/* Two decodings of the same text have the same fields. */
static void same_fields(const struct sip_msg *a, const struct sip_msg *b)
{
	assert_int_equal(a->req, b->req);
	assert_true(pl_eq(&a->method, &b->method));
	assert_true(pl_eq(&a->ruri, &b->ruri));
	assert_int_equal(a->scode, b->scode);
	assert_true(pl_eq(&a->reason, &b->reason));
	assert_int_equal(a->hdrc, b->hdrc);
	for (unsigned i = 0; i < a->hdrc; i++) {
		assert_int_equal(a->hdrv[i].id, b->hdrv[i].id);
		assert_true(pl_eq(&a->hdrv[i].name, &b->hdrv[i].name));
		assert_true(pl_eq(&a->hdrv[i].val, &b->hdrv[i].val));
		assert_int_equal(a->hdrv[i].len, b->hdrv[i].len);
	}
	assert_true(pl_eq(&a->body, &b->body));
}

static void test_fixtures_all_listed(void **state)
{
	DIR *d = opendir(FIXTURES_DIR);
	struct dirent *de;
	unsigned n = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t l = strlen(de->d_name);

		if (l < 4 || strcmp(de->d_name + l - 4, ".sip") != 0)
			continue;
		if (!fixture_find(de->d_name))
			print_error("fixture %s has no row in the table\n", de->d_name);
		assert_non_null(fixture_find(de->d_name));
		n++;
	}
	closedir(d);
	assert_int_equal(n, ARRAY_SIZE(fixtures));
	assert_int_equal(n, 24);
}

static void test_fixtures_decode_encode(void **state)
{
	char out[4096];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fx *f = &fixtures[i];
		struct sip_msg *msg, *re;
		size_t len, n, consumed;
		char *data = fixture_load(f->file, &len);

		print_message("    %s\n", f->file);
		assert_int_equal(sip_msg_alloc(&msg), 0);
		assert_int_equal(decode_into(msg, data, len, 0, &consumed), 0);
		assert_int_equal(consumed, len);
		assert_non_null(msg->mb);
		assert_int_equal(mem_nrefs(msg->mb), 1);
		layout_check(msg, data, len);
		fixture_check(msg, f);

		/* no edits: the very same bytes */
		n = encode(msg, out, sizeof(out));
		assert_int_equal(n, len);
		assert_memory_equal(out, data, len);

		re = decode_len(out, n, 0, 0);
		same_fields(msg, re);
		fixture_check(re, f);
		mem_deref(re);
		mem_deref(msg);
		free(data);
	}
}

static void test_fixtures_stream(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fixtures); i++) {
		const struct fx *f = &fixtures[i];
		struct sip_msg *msg;
		size_t len, consumed;
		char *data = fixture_load(f->file, &len);

		assert_int_equal(sip_msg_alloc(&msg), 0);
		assert_int_equal(decode_into(msg, data, len, SIP_DECODE_STREAM, &consumed), 0);
		assert_int_equal(consumed, len);
		assert_int_equal(msg->len, len);
		fixture_check(msg, f);
		for (size_t cut = 0; cut < len; cut++) {
			consumed = 99999;
			assert_int_equal(sip_msg_decode_raw(msg, data, cut, SIP_DECODE_STREAM,
							    &consumed), ENODATA);
			assert_int_equal(consumed, 0);
			assert_null(msg->base);
		}
		mem_deref(msg);
		free(data);
	}
}

/* Two fixtures back to back on one stream, then the start of a third. */
static void test_fixtures_stream_concat(void **state)
{
	size_t l1, l2, l3, consumed;
	char *a = fixture_load("23-invite-sdp-bria.sip", &l1);
	char *b = fixture_load("02-register-2-auth.sip", &l2);
	char *c = fixture_load("21-bye-a.sip", &l3);
	struct text t = { 0 };
	struct sip_msg *msg;
	struct buf *mb;
	const struct sip_cseq *cs;

	(void)state;
	text_add(&t, a, l1);
	text_add(&t, "\r\n\r\n", 4);   /* keep-alives between messages */
	text_add(&t, b, l2);
	text_add(&t, c, 100);
	assert_int_equal(sip_msg_alloc(&msg), 0);
	assert_int_equal(buf_from_mem(&mb, t.p, t.len), 0);

	assert_int_equal(sip_msg_decode(msg, mb, 0, SIP_DECODE_STREAM, &consumed), 0);
	assert_int_equal(consumed, l1);
	assert_int_equal(msg->body.l, 409);
	assert_int_equal(sip_msg_cseq(msg, &cs), 0);
	assert_int_equal(cs->mid, SIP_METHOD_INVITE);
	assert_int_equal(mem_nrefs(mb), 2);

	assert_int_equal(sip_msg_decode(msg, mb, l1, SIP_DECODE_STREAM, &consumed), 0);
	assert_int_equal(consumed, 4 + l2);
	assert_int_equal(sip_msg_cseq(msg, &cs), 0);
	assert_int_equal(cs->mid, SIP_METHOD_REGISTER);
	assert_int_equal(cs->num, 2);
	assert_int_equal(sip_msg_check(msg), 0);

	assert_int_equal(sip_msg_decode(msg, mb, l1 + 4 + l2, SIP_DECODE_STREAM, &consumed),
			 ENODATA);
	assert_int_equal(consumed, 0);
	assert_null(msg->mb);
	assert_int_equal(mem_nrefs(mb), 1);

	mem_deref(mb);
	mem_deref(msg);
	free(t.p);
	free(a);
	free(b);
	free(c);
}

static void test_fixture_11_unknown_and_folded(void **state)
{
	size_t len, n;
	char *data = fixture_load("11-invite-b.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0);
	const char *allow_events[] = { "talk", "presence", "dialog", "line-seize", "call-info",
				       "sla", "include-session-description", "presence.winfo",
				       "message-summary", "refer" };
	const char *supported[] = { "timer", "precondition", "path", "replaces" };
	const char *rpid_line =
		"Remote-Party-ID: \"Bob\" <sip:Bob@192.168.4.4>;party=calling;screen=yes;privacy=off\r\n";
	const struct sip_hdr *h;
	struct sip_iter it = { 0 };
	struct sip_addr a;
	struct pl v;

	(void)state;
	n = 0;
	while (sip_msg_values_next(msg, SIP_HDR_ALLOW_EVENTS, &it, &v)) {
		assert_true(n < ARRAY_SIZE(allow_events));
		assert_pl(v, allow_events[n]);
		n++;
	}
	assert_int_equal(n, ARRAY_SIZE(allow_events));
	memset(&it, 0, sizeof(it));
	n = 0;
	while (sip_msg_values_next(msg, SIP_HDR_SUPPORTED, &it, &v)) {
		assert_pl(v, supported[n]);
		n++;
	}
	assert_int_equal(n, 4);
	assert_true(sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "replaces"));
	assert_true(sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "TIMER"));
	assert_false(sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "100rel"));
	assert_false(sip_msg_has_option(msg, SIP_HDR_REQUIRE, "timer"));

	/* folded Allow: the value keeps its line break, the list splits across it */
	h = sip_msg_hdr(msg, SIP_HDR_ALLOW);
	assert_non_null(h);
	assert_pl(h->val, "INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, UPDATE, INFO, REGISTER, "
			  "REFER,\r\n    NOTIFY, PUBLISH, SUBSCRIBE");
	memset(&it, 0, sizeof(it));
	n = 0;
	while (sip_msg_values_next(msg, SIP_HDR_ALLOW, &it, &v))
		n++;
	assert_int_equal(n, 13);
	assert_pl(v, "SUBSCRIBE");

	/* unknown header kept byte for byte */
	h = sip_msg_hdr_byname(msg, "x-fs-support");
	assert_non_null(h);
	assert_int_equal(h->id, SIP_HDR_OTHER);
	assert_pl(h->name, "X-FS-Support");
	assert_pl(h->val, "update_display");
	assert_int_equal(h->len, strlen("X-FS-Support: update_display\r\n"));
	assert_memory_equal(msg->base + h->off, "X-FS-Support: update_display\r\n", h->len);

	/* Remote-Party-ID: known name, raw bytes unchanged, parses as an address */
	h = sip_msg_hdr_byname(msg, "Remote-Party-ID");
	assert_non_null(h);
	assert_ptr_equal(h, sip_msg_hdr(msg, SIP_HDR_REMOTE_PARTY_ID));
	assert_int_equal(h->len, strlen(rpid_line));
	assert_memory_equal(msg->base + h->off, rpid_line, h->len);
	assert_int_equal(sip_addr_decode(&a, &h->val), 0);
	assert_pl(a.dname, "\"Bob\"");
	assert_pl(a.uri.user, "Bob");
	assert_true(sip_param_get(&a.params, "party", &v));
	assert_pl(v, "calling");
	assert_true(sip_param_get(&a.params, "privacy", &v));
	assert_pl(v, "off");
	assert_pl(a.tag, NULL);

	/* Route: one name-addr with header parameters after the bracket */
	memset(&it, 0, sizeof(it));
	assert_int_equal(sip_msg_route_next(msg, SIP_HDR_ROUTE, &it, &a), 0);
	assert_pl(a.auri, "sip:Alice@192.168.4.4:5090");
	assert_pl(a.params, ";rinstance=e7d5364c81f2b879;transport=UDP");
	assert_int_equal(a.uri.port, 5090);
	assert_int_equal(sip_msg_route_next(msg, SIP_HDR_ROUTE, &it, &a), ENOENT);

	/* Content-Length stands before two more headers */
	h = sip_msg_hdr(msg, SIP_HDR_CONTENT_LENGTH);
	assert_non_null(h);
	assert_int_equal(h - msg->hdrv, msg->hdrc - 3);
	mem_deref(msg);
	free(data);
}

static void test_fixture_rpid_14_17(void **state)
{
	const char *files[] = { "14-invite-a-180.sip", "17-invite-a-200.sip" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		size_t len;
		char *data = fixture_load(files[i], &len);
		struct sip_msg *msg = decode_len(data, len, 0, 0);
		const struct sip_hdr *h = sip_msg_hdr(msg, SIP_HDR_REMOTE_PARTY_ID);
		const char *line = "Remote-Party-ID: \"Alice\" <sip:Alice@192.168.4.4>\r\n";

		assert_non_null(h);
		assert_pl(h->val, "\"Alice\" <sip:Alice@192.168.4.4>");
		assert_memory_equal(msg->base + h->off, line, strlen(line));
		assert_int_equal(h->len, strlen(line));
		assert_ptr_equal(h, &msg->hdrv[msg->hdrc - 1]);
		mem_deref(msg);
		free(data);
	}
}

static void test_fixture_17_session_timer(void **state)
{
	size_t len;
	char *data = fixture_load("17-invite-a-200.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0);
	struct sip_session_expires se;
	uint32_t v;

	(void)state;
	assert_int_equal(sip_msg_session_expires(msg, &se), 0);
	assert_int_equal(se.delta, 120);
	assert_int_equal(se.refresher, SIP_REFRESHER_UAS);
	assert_pl(se.params, ";refresher=uas");
	assert_int_equal(sip_msg_min_se(msg, &v), 0);
	assert_int_equal(v, 120);
	assert_true(sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "timer"));
	mem_deref(msg);
	free(data);
}

static void test_fixture_21_reason(void **state)
{
	size_t len, n;
	char *data = fixture_load("21-bye-a.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0);
	struct sip_reason r;
	char buf[64];

	(void)state;
	assert_int_equal(sip_msg_reason(msg, &r), 0);
	assert_pl(r.protocol, "Q.850");
	assert_true(r.has_cause);
	assert_int_equal(r.cause, 16);
	assert_pl(r.text, "NORMAL_CLEARING");
	assert_int_equal(sip_unquote(&r.text, buf, sizeof(buf), &n), 0);
	assert_string_equal(buf, "NORMAL_CLEARING");
	mem_deref(msg);
	free(data);
}

static void test_fixture_23_body(void **state)
{
	size_t len;
	char *data = fixture_load("23-invite-sdp-bria.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0);
	struct sip_ctype ct;

	(void)state;
	assert_int_equal(sip_msg_ctype(msg, &ct), 0);
	assert_pl(ct.type, "application");
	assert_pl(ct.subtype, "sdp");
	assert_int_equal(ct.params.l, 0);
	assert_int_equal(msg->body.l, 409);
	assert_memory_equal(msg->body.p, "v=0\r\no=- 1371880105304943 1 IN IP4", 34);
	assert_memory_equal(msg->body.p + 409 - 12, "a=sendrecv\r\n", 12);
	assert_ptr_equal(msg->body.p, msg->base + len - 409);
	mem_deref(msg);
	free(data);
}

/* ------------------------------------------------------------------ edits */

/* Replace the first occurrence of what in s by with, into out. */
static const char *subst(char *out, size_t size, const char *s, size_t slen, const char *what,
			 const char *with)
{
	const char *at = memmem(s, slen, what, strlen(what));
	struct wbuf wb;

	assert_non_null(at);
	wbuf_init(&wb, out, size);
	assert_int_equal(wbuf_put(&wb, s, (size_t)(at - s)), 0);
	assert_int_equal(wbuf_put_str(&wb, with), 0);
	assert_int_equal(wbuf_put(&wb, at + strlen(what), slen - (size_t)(at - s) - strlen(what)),
			 0);
	assert_int_equal(wbuf_put(&wb, "", 1), 0);
	return out;
}

static void test_edit_remove(void **state)
{
	size_t len, n;
	char *data = fixture_load("05-invite-a-1.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0), *re;
	char out[4096], want[4096];

	(void)state;
	assert_int_equal(sip_msg_hdr_remove(msg, sip_msg_hdr(msg, SIP_HDR_USER_AGENT)), 0);
	n = encode(msg, out, sizeof(out));
	assert_out(out, n, subst(want, sizeof(want), data, len,
				 "User-Agent: X-Lite release 1014k stamp 47051\r\n", ""));
	re = decode_len(out, n, 0, 0);
	assert_int_equal(sip_msg_check(re), 0);
	assert_null(sip_msg_hdr(re, SIP_HDR_USER_AGENT));
	assert_int_equal(re->hdrc, msg->hdrc - 1);
	mem_deref(re);

	/* clearing the edits gives the original back */
	sip_msg_edits_clear(msg);
	n = encode(msg, out, sizeof(out));
	assert_int_equal(n, len);
	assert_memory_equal(out, data, len);
	mem_deref(msg);
	free(data);
}

static void test_edit_replace_folded(void **state)
{
	size_t len, n;
	char *data = fixture_load("01-register-401.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0), *re;
	struct pl v = PL("INVITE, ACK");
	const struct sip_hdr *h;
	struct sip_iter it = { 0 };
	struct sip_digest dg;
	char out[4096], want[4096], tmp[4096];

	(void)state;
	assert_int_equal(sip_msg_hdr_set(msg, sip_msg_hdr(msg, SIP_HDR_ALLOW), &v), 0);
	/* the folded digest challenge becomes one line */
	v = pl_from_str("Digest realm=\"sbc\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"");
	assert_int_equal(sip_msg_hdr_set(msg, sip_msg_hdr(msg, SIP_HDR_WWW_AUTHENTICATE), &v), 0);
	n = encode(msg, out, sizeof(out));
	subst(tmp, sizeof(tmp), data, len,
	      "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, UPDATE, INFO, REGISTER, REFER,\r\n"
	      "    NOTIFY, PUBLISH, SUBSCRIBE\r\n", "Allow: INVITE, ACK\r\n");
	subst(want, sizeof(want), tmp, strlen(tmp),
	      "WWW-Authenticate: Digest realm=\"192.168.4.4\",\r\n"
	      " nonce=\"62fb812c-71d2-4a36-93d6-e0008e6a63ee\",\r\n"
	      " algorithm=MD5, qop=\"auth\"\r\n",
	      "WWW-Authenticate: Digest realm=\"sbc\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"\r\n");
	assert_out(out, n, want);
	assert_null(memmem(out, n, "NOTIFY, PUBLISH", 15));

	re = decode_len(out, n, 0, 0);
	assert_int_equal(sip_msg_check(re), 0);
	h = sip_msg_hdr(re, SIP_HDR_ALLOW);
	assert_pl(h->val, "INVITE, ACK");
	assert_int_equal(sip_msg_digest(re, SIP_HDR_WWW_AUTHENTICATE, &it, &dg), 0);
	assert_pl(dg.realm, "sbc");
	assert_pl(dg.nonce, "n1");
	mem_deref(re);
	mem_deref(msg);
	free(data);
}

static void test_edit_add(void **state)
{
	size_t len, n;
	char *data = fixture_load("05-invite-a-1.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0), *re;
	struct pl via = PL("SIP/2.0/UDP sbc.example.net:5060;branch=z9hG4bKsbc1");
	struct pl xa = PL("1");
	struct sip_iter it = { 0 };
	struct sip_via v;
	const struct sip_via *top;
	char out[4096], want[4096], tmp[4096];

	(void)state;
	assert_int_equal(sip_msg_hdr_add(msg, sip_msg_hdr(msg, SIP_HDR_VIA), "Via", &via), 0);
	assert_int_equal(sip_msg_hdr_add(msg, NULL, "X-A", &xa), 0);
	n = encode(msg, out, sizeof(out));
	subst(tmp, sizeof(tmp), data, len, "SIP/2.0\r\nVia: ",
	      "SIP/2.0\r\nVia: SIP/2.0/UDP sbc.example.net:5060;branch=z9hG4bKsbc1\r\nVia: ");
	subst(want, sizeof(want), tmp, strlen(tmp), "Content-Length: 0\r\n\r\n",
	      "Content-Length: 0\r\nX-A: 1\r\n\r\n");
	assert_out(out, n, want);

	re = decode_len(out, n, 0, 0);
	assert_int_equal(sip_msg_check(re), 0);
	assert_int_equal(sip_msg_via_top(re, &top), 0);
	assert_pl(top->host, "sbc.example.net");
	assert_pl(top->branch, "z9hG4bKsbc1");
	assert_int_equal(sip_msg_hdr_count(re, SIP_HDR_VIA), 2);
	assert_int_equal(sip_msg_via_next(re, &it, &v), 0);
	assert_int_equal(sip_msg_via_next(re, &it, &v), 0);
	assert_pl(v.branch, BR_A1);
	assert_int_equal(sip_msg_via_next(re, &it, &v), ENOENT);
	assert_pl(sip_msg_hdr_byname(re, "x-a")->val, "1");
	mem_deref(re);
	mem_deref(msg);
	free(data);
}

static void test_edit_ruri_and_contact(void **state)
{
	size_t len, n;
	char *data = fixture_load("05-invite-a-1.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0), *re;
	struct pl ruri = PL("sip:Alice@10.0.0.2:5070;transport=tcp");
	struct pl hp = PL("203.0.113.5:40000");
	struct sip_iter it = { 0 };
	struct sip_contact ct;
	const struct sip_uri *u;
	char out[4096], want[4096], tmp[4096];

	(void)state;
	assert_int_equal(sip_msg_ruri_set(msg, &ruri), 0);
	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), 0);
	assert_pl(ct.addr.uri.hostport, "192.168.4.4:26000");
	assert_int_equal(sip_msg_splice(msg, &ct.addr.uri.hostport, &hp), 0);
	n = encode(msg, out, sizeof(out));
	subst(tmp, sizeof(tmp), data, len, "INVITE sip:Alice@192.168.4.4 SIP/2.0",
	      "INVITE sip:Alice@10.0.0.2:5070;transport=tcp SIP/2.0");
	subst(want, sizeof(want), tmp, strlen(tmp), "Contact: <sip:Bob@192.168.4.4:26000>",
	      "Contact: <sip:Bob@203.0.113.5:40000>");
	assert_out(out, n, want);

	re = decode_len(out, n, 0, 0);
	assert_int_equal(sip_msg_check(re), 0);
	assert_int_equal(sip_msg_ruri(re, &u), 0);
	assert_pl(u->host, "10.0.0.2");
	assert_int_equal(u->port, 5070);
	memset(&it, 0, sizeof(it));
	assert_int_equal(sip_msg_contact_next(re, &it, &ct), 0);
	assert_pl(ct.addr.uri.host, "203.0.113.5");
	assert_int_equal(ct.addr.uri.port, 40000);
	mem_deref(re);

	/* a URI with a space would break the start line; an empty one is none */
	ruri = pl_from_str("sip:a b@c");
	assert_int_equal(sip_msg_ruri_set(msg, &ruri), EINVAL);
	ruri = pl_from_str("");
	assert_int_equal(sip_msg_ruri_set(msg, &ruri), EINVAL);
	mem_deref(msg);
	free(data);
}

static void test_edit_body(void **state)
{
	size_t len, n;
	char *data = fixture_load("23-invite-sdp-bria.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0), *re;
	struct pl body = PL("v=0\r\n");
	char out[4096];
	const char *cl;

	(void)state;
	assert_int_equal(sip_msg_body_set(msg, &body), 0);
	n = encode(msg, out, sizeof(out));
	assert_int_equal(n, len - 409 + 5 - 2);
	cl = memmem(out, n, "Content-Length: 5\r\n\r\nv=0\r\n", 26);
	assert_non_null(cl);
	assert_ptr_equal(cl + 26, out + n);
	assert_memory_equal(out, data, (size_t)((const char *)memmem(data, len, "Content-Length", 14) - data));
	re = decode_len(out, n, SIP_DECODE_STREAM, 0);
	assert_int_equal(sip_msg_check(re), 0);
	assert_int_equal(re->clen, 5);
	assert_pl(re->body, "v=0\r\n");
	mem_deref(re);

	/* an empty body: Content-Length 0 */
	body = pl_from_str("");
	assert_int_equal(sip_msg_body_set(msg, &body), 0);
	n = encode(msg, out, sizeof(out));
	assert_true(n > 21);
	assert_memory_equal(out + n - 21, "Content-Length: 0\r\n\r\n", 21);
	mem_deref(msg);
	free(data);
}

/* A splice inside the body changes its length: Content-Length must follow. */
static void test_edit_body_splice(void **state)
{
	size_t len, n;
	char *data = fixture_load("23-invite-sdp-bria.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0), *re;
	struct pl c = { memmem(msg->body.p, msg->body.l, "c=IN IP4 192.168.1.118", 22), 22 };
	struct pl repl = PL("c=IN IP4 203.0.113.200");
	struct pl tail = { msg->body.p + msg->body.l, 0 };
	struct pl add = PL("a=x-sbc\r\n");
	char out[4096];

	(void)state;
	assert_non_null(c.p);
	assert_int_equal(sip_msg_splice(msg, &c, &repl), 0);
	assert_int_equal(sip_msg_splice(msg, &tail, &add), 0);
	n = encode(msg, out, sizeof(out));
	assert_non_null(memmem(out, n, "Content-Length: 418\r\n", 21));
	re = decode_len(out, n, SIP_DECODE_STREAM, 0);
	assert_int_equal(sip_msg_check(re), 0);
	assert_int_equal(re->body.l, 418);
	assert_non_null(memmem(re->body.p, re->body.l, "c=IN IP4 203.0.113.200\r\n", 24));
	assert_memory_equal(re->body.p + 418 - 9, "a=x-sbc\r\n", 9);
	mem_deref(re);
	mem_deref(msg);
	free(data);
}

static void test_edit_clen_added(void **state)
{
	const char *in = INVITE_LINE
		"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\n"
		"From: <sip:a@x>;tag=1\r\nTo: <sip:b@y>\r\nCall-ID: c@x\r\nCSeq: 1 INVITE\r\n"
		"\r\n";
	struct sip_msg *msg = DECODE(in, 0), *re;
	char out[1024], want[1024];
	size_t n;

	(void)state;
	assert_false(msg->has_clen);
	n = encode(msg, out, sizeof(out));
	assert_out(out, n, subst(want, sizeof(want), in, strlen(in), "INVITE\r\n\r\n",
				 "INVITE\r\nContent-Length: 0\r\n\r\n"));
	re = decode_len(out, n, SIP_DECODE_STREAM, 0);
	assert_int_equal(re->clen, 0);
	mem_deref(re);
	mem_deref(msg);

	/* a datagram body without Content-Length: the writer counts it */
	msg = DECODE(INVITE_LINE "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\nhello", 0);
	assert_int_equal(msg->body.l, 5);
	n = encode(msg, out, sizeof(out));
	assert_out(out, n, INVITE_LINE "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
		   "Content-Length: 5\r\n\r\nhello");
	mem_deref(msg);
}

static void test_edit_injection(void **state)
{
	size_t len, n;
	char *data = fixture_load("05-invite-a-1.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0);
	const struct sip_hdr *ua = sip_msg_hdr(msg, SIP_HDR_USER_AGENT);
	const struct sip_uri *u;
	struct pl bad[] = {
		{ "x\r\nVia: evil", 12 }, { "x\nX: y", 6 }, { "x\rX: y", 6 }, { "a\0b", 3 },
		{ "\r\n", 2 },
	};
	char out[4096];

	(void)state;
	assert_int_equal(sip_msg_ruri(msg, &u), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		assert_int_equal(sip_msg_hdr_set(msg, ua, &bad[i]), EINVAL);
		assert_int_equal(sip_msg_hdr_add(msg, NULL, "X-Y", &bad[i]), EINVAL);
		assert_int_equal(sip_msg_ruri_set(msg, &bad[i]), EINVAL);
		assert_int_equal(sip_msg_splice(msg, &ua->val, &bad[i]), EINVAL);
		assert_int_equal(sip_msg_splice(msg, &u->host, &bad[i]), EINVAL);
	}
	/* bad header names */
	{
		struct pl v = PL("1");

		assert_int_equal(sip_msg_hdr_add(msg, NULL, "", &v), EINVAL);
		assert_int_equal(sip_msg_hdr_add(msg, NULL, "X Y", &v), EINVAL);
		assert_int_equal(sip_msg_hdr_add(msg, NULL, "X:", &v), EINVAL);
		assert_int_equal(sip_msg_hdr_add(msg, NULL, "X\r\nY", &v), EINVAL);
	}
	/* an insert at the end of the header block is still in the header block */
	{
		struct pl end = { msg->base + msg->hdr_end, 0 };
		struct pl evil = PL("Evil: 1\r\n");

		assert_int_equal(sip_msg_splice(msg, &end, &evil), EINVAL);
	}
	/* nothing was recorded */
	assert_int_equal(msg->editc, 0);
	n = encode(msg, out, sizeof(out));
	assert_int_equal(n, len);
	assert_memory_equal(out, data, len);
	mem_deref(msg);
	free(data);
}

static void test_edit_clen_refused(void **state)
{
	size_t len, n;
	char *data = fixture_load("11-invite-b.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0);
	const struct sip_hdr *cl = sip_msg_hdr(msg, SIP_HDR_CONTENT_LENGTH);
	const struct sip_hdr *next = cl + 1;
	struct pl v = PL("5");
	struct pl part = { cl->val.p, 1 };
	struct pl name = cl->name;
	struct pl inside = { cl->name.p + 3, 0 };
	char out[4096];

	(void)state;
	assert_int_equal(sip_msg_hdr_remove(msg, cl), EPERM);
	assert_int_equal(sip_msg_hdr_set(msg, cl, &v), EPERM);
	assert_int_equal(sip_msg_splice(msg, &part, &v), EPERM);
	assert_int_equal(sip_msg_splice(msg, &name, &v), EPERM);
	assert_int_equal(sip_msg_splice(msg, &inside, &v), EPERM);
	assert_int_equal(sip_msg_hdr_add(msg, NULL, "Content-Length", &v), EPERM);
	assert_int_equal(sip_msg_hdr_add(msg, NULL, "content-length", &v), EPERM);
	assert_int_equal(sip_msg_hdr_add(msg, NULL, "l", &v), EPERM);
	assert_int_equal(msg->editc, 0);

	/* the neighbours may still change: insert before it, remove the one after it */
	assert_int_equal(sip_msg_hdr_add(msg, cl, "X-Before", &v), 0);
	assert_int_equal(sip_msg_hdr_remove(msg, next), 0);
	n = encode(msg, out, sizeof(out));
	assert_non_null(memmem(out, n, "X-Before: 5\r\nContent-Length: 0\r\nRemote-Party-ID", 47));
	assert_null(memmem(out, n, "X-FS-Support", 12));
	mem_deref(msg);
	free(data);
}

static void test_edit_overlap(void **state)
{
	size_t len;
	char *data = fixture_load("05-invite-a-1.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0);
	const struct sip_hdr *ua = sip_msg_hdr(msg, SIP_HDR_USER_AGENT);
	struct pl v1 = PL("one"), v2 = PL("two");
	struct pl part = { ua->val.p + 2, 3 };
	char out[4096];
	struct wbuf wb;

	(void)state;
	assert_int_equal(sip_msg_hdr_set(msg, ua, &v1), 0);
	assert_int_equal(sip_msg_hdr_set(msg, ua, &v2), 0);
	wbuf_init(&wb, out, sizeof(out));
	assert_int_equal(sip_msg_encode(msg, &wb), EINVAL);
	assert_int_equal(wb.len, 0);

	sip_msg_edits_clear(msg);
	assert_int_equal(sip_msg_hdr_remove(msg, ua), 0);
	assert_int_equal(sip_msg_hdr_set(msg, ua, &v1), 0);
	assert_int_equal(sip_msg_encode(msg, &wb), EINVAL);

	sip_msg_edits_clear(msg);
	assert_int_equal(sip_msg_splice(msg, &part, &v1), 0);
	assert_int_equal(sip_msg_hdr_set(msg, ua, &v2), 0);
	assert_int_equal(sip_msg_encode(msg, &wb), EINVAL);
	assert_int_equal(wb.len, 0);

	/* an insert where a removal starts is not an overlap */
	sip_msg_edits_clear(msg);
	assert_int_equal(sip_msg_hdr_remove(msg, ua), 0);
	assert_int_equal(sip_msg_hdr_add(msg, ua, "User-Agent", &v1), 0);
	assert_int_equal(sip_msg_encode(msg, &wb), 0);
	assert_non_null(memmem(out, wb.len, "\r\nUser-Agent: one\r\nContent-Length: 0\r\n\r\n", 40));
	mem_deref(msg);
	free(data);
}

static void test_edit_nospace(void **state)
{
	size_t len;
	char *data = fixture_load("23-invite-sdp-bria.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0);
	struct pl v = PL("SBC");
	char out[4096];
	struct wbuf wb;

	(void)state;
	assert_int_equal(sip_msg_hdr_set(msg, sip_msg_hdr(msg, SIP_HDR_USER_AGENT), &v), 0);
	for (size_t size = 0; size < len - 40; size += 37) {
		wbuf_init(&wb, out, size + 3);
		assert_int_equal(wbuf_put(&wb, "abc", 3), 0);
		assert_int_equal(sip_msg_encode(msg, &wb), ENOSPC);
		assert_int_equal(wb.len, 3);
	}
	/* exactly enough */
	wbuf_init(&wb, out, len - strlen("Bria 3 release 3.5.0b stamp 69410") + 3);
	assert_int_equal(sip_msg_encode(msg, &wb), 0);
	assert_int_equal(wb.len, wb.size);
	wb.size--;
	wb.len = 0;
	assert_int_equal(sip_msg_encode(msg, &wb), ENOSPC);
	assert_int_equal(wb.len, 0);
	mem_deref(msg);
	free(data);
}

static void test_edit_limit(void **state)
{
	size_t len, n;
	char *data = fixture_load("05-invite-a-1.sip", &len);
	struct sip_msg *msg = decode_len(data, len, 0, 0), *re;
	struct pl v = PL("x");
	char out[8192];

	(void)state;
	for (unsigned i = 0; i < SIP_MAX_EDITS; i++)
		assert_int_equal(sip_msg_hdr_add(msg, NULL, "X-E", &v), 0);
	assert_int_equal(sip_msg_hdr_add(msg, NULL, "X-E", &v), ENOMEM);
	assert_int_equal(sip_msg_body_set(msg, &v), 0);   /* the body is not an edit slot */
	assert_int_equal(msg->editc, SIP_MAX_EDITS);
	n = encode(msg, out, sizeof(out));
	assert_int_equal(n, len + SIP_MAX_EDITS * strlen("X-E: x\r\n") + 1);
	re = decode_len(out, n, SIP_DECODE_STREAM, 0);
	assert_int_equal(sip_msg_hdr_count(re, SIP_HDR_OTHER), SIP_MAX_EDITS);
	assert_pl(re->body, "x");
	mem_deref(re);
	mem_deref(msg);
	free(data);
}

/* Edits must name parts of this message, and a header part must be a value or the URI. */
static void test_edit_bounds(void **state)
{
	char data[1024], out[1024];
	struct sip_msg *msg, *other;
	const struct sip_hdr *ua;
	struct pl v = PL("x"), outside = PL("sip:elsewhere");
	struct pl across, blank, name, colon, line, subj, body, ua_end;
	struct wbuf wb;
	size_t len, n;

	(void)state;
	len = strlen(build(data, sizeof(data), INVITE_LINE, SKIP_NONE,
			   "Content-Length: 4\r\nUser-Agent: ua\r\nSubject: s\r\n"));
	memcpy(data + len, "body", 5);
	len += 4;
	msg = decode_len(data, len, 0, 0);
	other = decode_len(data, len, 0, 0);
	ua = sip_msg_hdr(msg, SIP_HDR_USER_AGENT);
	across = (struct pl){ msg->base + msg->hdr_end - 5, 10 };
	blank = (struct pl){ msg->base + msg->hdr_end, 2 };
	name = ua->name;
	colon = (struct pl){ name.p + name.l, 1 };
	line = (struct pl){ msg->base + ua->off, ua->len };

	assert_int_equal(sip_msg_splice(msg, &outside, &v), EINVAL);
	assert_int_equal(sip_msg_splice(msg, &across, &v), EINVAL);
	assert_int_equal(sip_msg_splice(msg, &blank, &v), EINVAL);
	assert_int_equal(sip_msg_splice(msg, &name, &v), EINVAL);
	assert_int_equal(sip_msg_splice(msg, &colon, &v), EINVAL);
	assert_int_equal(sip_msg_splice(msg, &line, &v), EINVAL);
	assert_int_equal(sip_msg_hdr_remove(msg, sip_msg_hdr(other, SIP_HDR_USER_AGENT)), EINVAL);
	assert_int_equal(sip_msg_hdr_set(msg, sip_msg_hdr(other, SIP_HDR_USER_AGENT), &v), EINVAL);
	assert_int_equal(sip_msg_hdr_add(msg, sip_msg_hdr(other, SIP_HDR_VIA), "X", &v), EINVAL);
	assert_int_equal(sip_msg_hdr_remove(msg, NULL), EINVAL);
	assert_int_equal(msg->editc, 0);

	/* what may be spliced: a value (its end included), the Request-URI, the body */
	subj = sip_msg_hdr(msg, SIP_HDR_SUBJECT)->val;
	body = msg->body;
	ua_end = (struct pl){ ua->val.p + ua->val.l, 0 };
	assert_int_equal(sip_msg_splice(msg, &subj, &v), 0);
	assert_int_equal(sip_msg_splice(msg, &ua_end, &v), 0);
	assert_int_equal(sip_msg_splice(msg, &msg->ruri, &v), 0);
	assert_int_equal(sip_msg_splice(msg, &body, &v), 0);
	n = encode(msg, out, sizeof(out));
	assert_non_null(memmem(out, n, "INVITE x SIP/2.0\r\n", 18));
	assert_non_null(memmem(out, n, "Content-Length: 1\r\nUser-Agent: uax\r\nSubject: x\r\n\r\nx",
			       51));
	assert_int_equal(n, len - strlen("sip:bob@example.com") + 1 + 1 - 4 + 1);
	/* the body set whole and a splice in it overlap */
	assert_int_equal(sip_msg_body_set(msg, &v), 0);
	wbuf_init(&wb, out, sizeof(out));
	assert_int_equal(sip_msg_encode(msg, &wb), EINVAL);
	assert_int_equal(wb.len, 0);
	mem_deref(other);
	mem_deref(msg);
}

/* ----------------------------------------------------------- corner cases */

static void test_start_line_bad(void **state)
{
	static const char *const bad[] = {
		"INVITE sip:bob@example.com\r\n",
		"INVITE\r\n",
		"INVITE  sip:bob@example.com SIP/2.0\r\n",
		"INVITE sip:bob@example.com  SIP/2.0\r\n",
		"INVITE sip:bob@example.com SIP/2.0 \r\n",
		" INVITE sip:bob@example.com SIP/2.0\r\n",
		"INVITE sip:bob@example.com SIP/2\r\n",
		"INVITE sip:bob@example.com SIP/2.\r\n",
		"INVITE sip:bob@example.com SIP/.0\r\n",
		"INVITE sip:bob@example.com SIP/2.0a\r\n",
		"INVITE sip:bob@example.com HTTP/1.1\r\n",
		"INV@TE sip:bob@example.com SIP/2.0\r\n",
		"INVITE sip:bob@example.com SIP-2.0\r\n",
		"SIP/2.0 99 Low\r\n",
		"SIP/2.0 700 High\r\n",
		"SIP/2.0 abc Bad\r\n",
		"SIP/2.0 2000 OK\r\n",
		"SIP/2.0 20\r\n",
		"SIP/2.0  200 OK\r\n",
		"SIP/2.0 200OK\r\n",
		"SIP/2 200 OK\r\n",
		"SIP/2.0\r\n",
		"SIP/ 200 OK\r\n",
		"SIP/222 200 OK\r\n",
		"INVITE sip:bob@example.com SIP/2000\r\n",
	};
	char buf[1024];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct sip_msg *msg = DECODE(build(buf, sizeof(buf), bad[i], SKIP_NONE, ""),
					     EBADMSG);

		assert_error(msg, "Malformed start line");
		assert_int_equal(sip_msg_check(msg), EINVAL);
		mem_deref(msg);
	}
}

static void test_start_line_versions(void **state)
{
	char buf[1024];
	struct sip_msg *msg;

	(void)state;
	/* RFC 3261 7.1: the version is case-insensitive */
	msg = DECODE(build(buf, sizeof(buf), "INVITE sip:bob@example.com sip/2.0\r\n",
			   SKIP_NONE, ""), 0);
	assert_true(msg->ver_ok);
	assert_int_equal(sip_msg_check(msg), 0);
	mem_deref(msg);

	/* a well-formed other version decodes, the check asks for a 505 */
	msg = DECODE(build(buf, sizeof(buf), "INVITE sip:bob@example.com SIP/3.0\r\n",
			   SKIP_NONE, ""), 0);
	assert_false(msg->ver_ok);
	assert_int_equal(sip_msg_check(msg), EPROTONOSUPPORT);
	assert_error(msg, "Version Not Supported");
	mem_deref(msg);
	msg = DECODE(build(buf, sizeof(buf), "SIP/2.00 200 OK\r\n", SKIP_NONE, ""), 0);
	assert_int_equal(sip_msg_check(msg), EPROTONOSUPPORT);
	mem_deref(msg);
	msg = DECODE(build(buf, sizeof(buf), "SIP/3.0 200 OK\r\n", SKIP_NONE, ""), 0);
	assert_int_equal(msg->scode, 200);
	assert_int_equal(sip_msg_check(msg), EPROTONOSUPPORT);
	mem_deref(msg);

	/* status code bounds, empty reason phrase */
	msg = DECODE(build(buf, sizeof(buf), "SIP/2.0 100 \r\n", SKIP_NONE, ""), 0);
	assert_int_equal(msg->scode, 100);
	assert_int_equal(msg->reason.l, 0);
	assert_int_equal(sip_msg_check(msg), 0);
	mem_deref(msg);
	msg = DECODE(build(buf, sizeof(buf), "SIP/2.0 699 Some Thing  Odd\r\n", SKIP_NONE, ""), 0);
	assert_int_equal(msg->scode, 699);
	assert_pl(msg->reason, "Some Thing  Odd");
	assert_false(msg->req);
	mem_deref(msg);

	/* a bad Request-URI decodes but fails the check */
	msg = DECODE(build(buf, sizeof(buf), "INVITE bogus SIP/2.0\r\n", SKIP_NONE, ""), 0);
	assert_int_equal(sip_msg_check(msg), EBADMSG);
	assert_error(msg, "Malformed Request-URI");
	mem_deref(msg);
}

static void test_missing_mandatory(void **state)
{
	static const char *const why[] = {
		"Missing Via header", "Missing From header", "Missing To header",
		"Missing Call-ID header", "Missing CSeq header",
	};
	char buf[1024];

	(void)state;
	for (int i = 0; i < (int)ARRAY_SIZE(why); i++) {
		struct sip_msg *msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, i, ""), 0);

		assert_int_equal(sip_msg_check(msg), EBADMSG);
		assert_error(msg, why[i]);
		mem_deref(msg);
		/* a response too */
		msg = DECODE(build(buf, sizeof(buf), "SIP/2.0 200 OK\r\n", i, ""), 0);
		assert_int_equal(sip_msg_check(msg), EBADMSG);
		assert_error(msg, why[i]);
		mem_deref(msg);
	}
	/* no header at all */
	{
		struct sip_msg *msg = DECODE(INVITE_LINE "\r\n", 0);

		assert_int_equal(msg->hdrc, 0);
		assert_int_equal(sip_msg_check(msg), EBADMSG);
		assert_error(msg, "Missing Via header");
		mem_deref(msg);
	}
}

static void test_duplicates(void **state)
{
	static const struct {
		const char *extra, *why;
	} dup[] = {
		{ "Call-ID: other@x\r\n", "Duplicate Call-ID header" },
		{ "i: other@x\r\n", "Duplicate Call-ID header" },
		{ "CSeq: 2 INVITE\r\n", "Duplicate CSeq header" },
		{ "To: <sip:carol@example.com>\r\n", "Duplicate To header" },
		{ "t: <sip:carol@example.com>\r\n", "Duplicate To header" },
		{ "From: <sip:eve@example.com>;tag=2\r\n", "Duplicate From header" },
		{ "Max-Forwards: 1\r\nMax-Forwards: 2\r\n", "Duplicate Max-Forwards header" },
		{ "Expires: 1\r\nExpires: 2\r\n", "Duplicate Expires header" },
	};
	char buf[1024];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(dup); i++) {
		struct sip_msg *msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE,
						   dup[i].extra), 0);
		const struct sip_addr *a;
		const struct sip_cseq *cs;
		struct pl cid;

		assert_int_equal(sip_msg_check(msg), EBADMSG);
		assert_error(msg, dup[i].why);
		/* the accessors refuse to choose either */
		if (strstr(dup[i].why, "Call-ID"))
			assert_int_equal(sip_msg_callid(msg, &cid), EBADMSG);
		if (strstr(dup[i].why, "CSeq"))
			assert_int_equal(sip_msg_cseq(msg, &cs), EBADMSG);
		if (strstr(dup[i].why, "To"))
			assert_int_equal(sip_msg_to(msg, &a), EBADMSG);
		if (strstr(dup[i].why, "From"))
			assert_int_equal(sip_msg_from(msg, &a), EBADMSG);
		mem_deref(msg);
	}
}

static void test_bad_mandatory(void **state)
{
	static const struct {
		int skip;
		const char *extra, *why;
	} bad[] = {
		{ SKIP_CSEQ, "CSeq: 1 BYE\r\n", "CSeq method does not match the request" },
		{ SKIP_CSEQ, "CSeq: 1 invite\r\n", "CSeq method does not match the request" },
		{ SKIP_CSEQ, "CSeq: abc INVITE\r\n", "Malformed CSeq header" },
		{ SKIP_CSEQ, "CSeq: 2147483648 INVITE\r\n", "Malformed CSeq header" },
		{ SKIP_CSEQ, "CSeq: 99999999999 INVITE\r\n", "Malformed CSeq header" },
		{ SKIP_CSEQ, "CSeq: 1\r\n", "Malformed CSeq header" },
		{ SKIP_CSEQ, "CSeq: 1 INVITE x\r\n", "Malformed CSeq header" },
		{ SKIP_CSEQ, "CSeq: -1 INVITE\r\n", "Malformed CSeq header" },
		{ SKIP_CALLID, "Call-ID: a b\r\n", "Malformed Call-ID header" },
		{ SKIP_CALLID, "Call-ID: a@b@c\r\n", "Malformed Call-ID header" },
		{ SKIP_CALLID, "Call-ID: @b\r\n", "Malformed Call-ID header" },
		{ SKIP_CALLID, "Call-ID:\r\n", "Malformed Call-ID header" },
		{ SKIP_FROM, "From: <sip:a@b;tag=1\r\n", "Malformed From header" },
		{ SKIP_FROM, "From: <sip:a@b>;tag=\r\n", "Malformed From header" },
		{ SKIP_TO, "To: bob\r\n", "Malformed To header" },
		{ SKIP_VIA, "Via: SIP/2.0/UDP\r\n", "Malformed Via header" },
		{ SKIP_VIA, "Via: SIP/2.0/UDP host:0;branch=z9hG4bK1\r\n", "Malformed Via header" },
		{ SKIP_VIA, "Via: SIP/2.0/UDP host;branch=z9hG4bK1 junk\r\n", "Malformed Via header" },
		{ SKIP_VIA, "Via: ,\r\n", "Malformed Via header" },
		{ SKIP_NONE, "Max-Forwards: seventy\r\n", "Malformed Max-Forwards header" },
	};
	char buf[1024];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct sip_msg *msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, bad[i].skip,
						   bad[i].extra), 0);

		assert_int_equal(sip_msg_check(msg), EBADMSG);
		assert_error(msg, bad[i].why);
		/* the cached error stays */
		assert_int_equal(sip_msg_check(msg), EBADMSG);
		mem_deref(msg);
	}
}

static void test_content_length(void **state)
{
	static const struct {
		const char *extra;
		int err;
		const char *why;
	} bad[] = {
		{ "Content-Length: -1\r\n", EBADMSG, "Malformed Content-Length header" },
		{ "Content-Length: 4294967296\r\n", EBADMSG, "Malformed Content-Length header" },
		{ "Content-Length: 99999999999999999999\r\n", EBADMSG,
		  "Malformed Content-Length header" },
		{ "Content-Length: abc\r\n", EBADMSG, "Malformed Content-Length header" },
		{ "Content-Length: 1 2\r\n", EBADMSG, "Malformed Content-Length header" },
		{ "Content-Length: +4\r\n", EBADMSG, "Malformed Content-Length header" },
		{ "Content-Length: 0x10\r\n", EBADMSG, "Malformed Content-Length header" },
		{ "Content-Length:\r\n", EBADMSG, "Malformed Content-Length header" },
		{ "Content-Length: 0\r\nContent-Length: 0\r\n", EBADMSG,
		  "Duplicate Content-Length header" },
		{ "Content-Length: 0\r\nl: 0\r\n", EBADMSG, "Duplicate Content-Length header" },
		{ "Content-Length: 4294967295\r\n", EMSGSIZE, "Body too large" },
		{ "Content-Length: 32769\r\n", EMSGSIZE, "Body too large" },
		{ "Content-Length: 10\r\n", EBADMSG, "Content-Length beyond the end of the datagram" },
	};
	char buf[1024];
	struct sip_msg *msg;
	size_t consumed;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, bad[i].extra);
		memcpy(buf + strlen(buf), "12345", 6);   /* five body bytes */
		msg = DECODE(buf, bad[i].err);
		assert_error(msg, bad[i].why);
		/* the header block was whole: there to answer 400, with no body */
		assert_true(sip_msg_headers_ok(msg));
		assert_non_null(msg->mb);
		assert_int_equal(msg->body.l, 0);
		assert_int_equal(sip_msg_check(msg), 0);   /* decode's error is what counts */
		mem_deref(msg);
	}

	/* extra bytes after Content-Length on a datagram are dropped */
	build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "Content-Length: 3\r\n");
	memcpy(buf + strlen(buf), "abcGARBAGE", 11);
	assert_int_equal(sip_msg_alloc(&msg), 0);
	assert_int_equal(decode_into(msg, buf, strlen(buf), 0, &consumed), 0);
	assert_int_equal(consumed, strlen(buf));
	assert_pl(msg->body, "abc");
	assert_int_equal(msg->len, strlen(buf) - 7);
	{
		char out[1024];
		size_t n = encode(msg, out, sizeof(out));

		assert_int_equal(n, strlen(buf) - 7);
		assert_memory_equal(out, buf, n);
	}
	/* in stream mode the same bytes are the start of the next message */
	assert_int_equal(decode_into(msg, buf, strlen(buf), SIP_DECODE_STREAM, &consumed), 0);
	assert_int_equal(consumed, strlen(buf) - 7);
	mem_deref(msg);

	/* the biggest allowed body */
	{
		struct text t = { 0 };

		build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "Content-Length: 32768\r\n");
		text_str(&t, buf);
		text_fill(&t, 'b', SIP_MAX_BODY);
		msg = decode_len(t.p, t.len, 0, 0);
		assert_int_equal(msg->body.l, SIP_MAX_BODY);
		mem_deref(msg);
		/* without Content-Length the datagram's rest is the body, and the same cap holds */
		t.len = 0;
		build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "");
		text_str(&t, buf);
		text_fill(&t, 'b', SIP_MAX_BODY + 1);
		msg = decode_len(t.p, t.len, 0, EMSGSIZE);
		assert_error(msg, "Body too large");
		mem_deref(msg);
		free(t.p);
	}

	/* leading zeros and white space around the number */
	msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "Content-Length:   0003 \r\n"),
		     EBADMSG);
	mem_deref(msg);
	build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "l:   003 \r\n");
	memcpy(buf + strlen(buf), "xyz", 4);
	msg = DECODE(buf, 0);
	assert_pl(msg->body, "xyz");
	{
		/* written back as it came; rewritten once the length changes */
		char out[1024];
		size_t n = encode(msg, out, sizeof(out));
		struct pl body = PL("wxyz");

		assert_out(out, n, buf);
		assert_int_equal(sip_msg_body_set(msg, &body), 0);
		n = encode(msg, out, sizeof(out));
		assert_non_null(memmem(out, n, "\r\nl:   4 \r\n\r\nwxyz", 17));
	}
	mem_deref(msg);
}

static void test_nul_and_bare_cr(void **state)
{
	char buf[1024];
	size_t len;
	struct sip_msg *msg;
	static const char *const where[] = { "User-Agent: a", "X-Y: z", "INVITE sip:bob@exa" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(where); i++) {
		build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE,
		      "User-Agent: a\x01" "b\r\nX-Y: z\r\nContent-Length: 4\r\n");
		len = strlen(buf);
		memcpy(buf + len, "ab\0d", 4);
		len += 4;
		msg = decode_len(buf, len, 0, 0);   /* a NUL in the body is fine */
		assert_int_equal(msg->body.l, 4);
		assert_memory_equal(msg->body.p, "ab\0d", 4);
		assert_int_equal(sip_msg_check(msg), 0);
		mem_deref(msg);
		((char *)memmem(buf, len, where[i], strlen(where[i])))[strlen(where[i]) - 1] = '\0';
		msg = decode_len(buf, len, 0, EBADMSG);
		assert_error(msg, "NUL byte in headers");
		mem_deref(msg);
	}

	/* a lone CR is no line end: other parsers might see a second header there */
	msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE,
			   "Subject: a\rContent-Length: 99\r\n"), EBADMSG);
	assert_error(msg, "Bare CR in headers");
	mem_deref(msg);
	msg = DECODE(INVITE_LINE "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\r\n\r\n", EBADMSG);
	assert_error(msg, "Bare CR in headers");
	mem_deref(msg);
}

static void test_long_lines(void **state)
{
	struct text t = { 0 };
	struct sip_msg *msg;
	char buf[1024];
	const struct sip_hdr *h;

	(void)state;
	build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "");
	/* a line of exactly SIP_MAX_LINE bytes passes */
	text_add(&t, buf, strlen(buf) - 2);
	text_str(&t, "Subject: ");
	text_fill(&t, 's', SIP_MAX_LINE - 9);
	text_str(&t, "\r\n\r\n");
	msg = decode_len(t.p, t.len, 0, 0);
	h = sip_msg_hdr(msg, SIP_HDR_SUBJECT);
	assert_int_equal(h->len, SIP_MAX_LINE + 2);
	assert_int_equal(sip_msg_check(msg), 0);
	mem_deref(msg);
	msg = decode_len(t.p, t.len, SIP_DECODE_STREAM, EBADMSG);   /* no Content-Length */
	assert_error(msg, "Content-Length missing on a stream transport");
	mem_deref(msg);

	/* one more byte does not, with CRLF or bare LF, datagram or stream */
	t.len = 0;
	text_add(&t, buf, strlen(buf) - 2);
	text_str(&t, "Subject: ");
	text_fill(&t, 's', SIP_MAX_LINE - 8);
	text_str(&t, "\r\n\r\n");
	msg = decode_len(t.p, t.len, 0, EMSGSIZE);
	assert_error(msg, "Line too long");
	mem_deref(msg);
	msg = decode_len(t.p, t.len, SIP_DECODE_STREAM, EMSGSIZE);
	assert_error(msg, "Line too long");
	mem_deref(msg);
	t.len -= 4;
	text_str(&t, "\n\n");
	msg = decode_len(t.p, t.len, 0, EMSGSIZE);
	assert_error(msg, "Line too long");
	mem_deref(msg);
	/* a stream that has not yet sent the line end is already too long */
	t.len -= 2;
	text_str(&t, "s");
	msg = decode_len(t.p, t.len, SIP_DECODE_STREAM, EMSGSIZE);
	assert_error(msg, "Line too long");
	mem_deref(msg);

	/* an overlong start line */
	t.len = 0;
	text_str(&t, "INVITE sip:");
	text_fill(&t, 'a', SIP_MAX_LINE);
	text_str(&t, "@b SIP/2.0\r\n\r\n");
	msg = decode_len(t.p, t.len, 0, EMSGSIZE);
	assert_error(msg, "Line too long");
	mem_deref(msg);

	/* a folded header longer than SIP_MAX_HDR_VALUE, each line short enough */
	t.len = 0;
	text_add(&t, buf, strlen(buf) - 2);
	text_str(&t, "Subject: a");
	for (int i = 0; i < 3; i++) {
		text_str(&t, "\r\n ");
		text_fill(&t, 'f', 3000);
	}
	text_str(&t, "\r\n\r\n");
	msg = decode_len(t.p, t.len, 0, EMSGSIZE);
	assert_error(msg, "Header too long");
	mem_deref(msg);

	/* the header block as a whole */
	t.len = 0;
	text_add(&t, buf, strlen(buf) - 2);
	for (int i = 0; i < 100; i++) {
		text_str(&t, "X-Pad: ");
		text_fill(&t, 'p', 200);
		text_str(&t, "\r\n");
	}
	text_str(&t, "\r\n");
	msg = decode_len(t.p, t.len, 0, EMSGSIZE);
	assert_error(msg, "Header block too large");
	mem_deref(msg);
	msg = decode_len(t.p, t.len, SIP_DECODE_STREAM, EMSGSIZE);
	assert_error(msg, "Header block too large");
	mem_deref(msg);

	/* a datagram over SIP_MAX_MSG */
	t.len = 0;
	build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "Content-Length: 0\r\n");
	text_str(&t, buf);
	text_fill(&t, 'z', SIP_MAX_MSG);
	msg = decode_len(t.p, t.len, 0, EMSGSIZE);
	assert_error(msg, "Message too large");
	mem_deref(msg);
	free(t.p);
}

static void many_headers(struct text *t, unsigned count)
{
	char buf[1024];

	t->len = 0;
	build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "");
	text_add(t, buf, strlen(buf) - 2);
	for (unsigned i = ARRAY_SIZE(base_hdrs); i < count; i++)
		text_str(t, "X-H: 1\r\n");
	text_str(t, "\r\n");
}

static void test_header_count(void **state)
{
	struct text t = { 0 };
	struct sip_msg *msg;

	(void)state;
	many_headers(&t, SIP_MAX_HEADERS);
	msg = decode_len(t.p, t.len, 0, 0);
	assert_int_equal(msg->hdrc, SIP_MAX_HEADERS);
	assert_int_equal(sip_msg_check(msg), 0);
	mem_deref(msg);

	many_headers(&t, SIP_MAX_HEADERS + 1);
	msg = decode_len(t.p, t.len, 0, EMSGSIZE);
	assert_error(msg, "Too many headers");
	mem_deref(msg);

	many_headers(&t, 5000);
	msg = decode_len(t.p, t.len, 0, EMSGSIZE);
	assert_error(msg, "Too many headers");
	mem_deref(msg);
	msg = decode_len(t.p, t.len, SIP_DECODE_STREAM, EMSGSIZE);
	assert_error(msg, "Too many headers");
	mem_deref(msg);
	free(t.p);
}

static void test_uri_escapes(void **state)
{
	struct text t = { 0 };
	struct sip_uri u;
	struct pl pl;
	char *out = malloc(4096);
	size_t n;
	static const char hex[] = "0123456789ABCDEF";

	(void)state;
	assert_non_null(out);
	text_str(&t, "sip:");
	for (unsigned i = 0; i < 2000; i++) {
		char e[3] = { '%', hex[(i % 256) >> 4], hex[i % 16] };

		text_add(&t, e, 3);
	}
	text_str(&t, "@example.com;x=%41");
	pl.p = t.p;
	pl.l = t.len;
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	assert_int_equal(u.user.l, 6000);
	assert_pl(u.host, "example.com");
	assert_int_equal(sip_unescape(&u.user, out, 2001, &n), 0);
	assert_int_equal(n, 2000);
	for (unsigned i = 0; i < 2000; i++)
		assert_int_equal((unsigned char)out[i], i % 256);
	assert_int_equal(out[2000], '\0');
	assert_int_equal(sip_unescape(&u.user, out, 2000, &n), ENOSPC);
	assert_true(sip_uri_param_get(&u, "x", &pl));
	assert_int_equal(sip_unescape(&pl, out, 8, &n), 0);
	assert_string_equal(out, "A");

	/* in a message: the longest Request-URI a line allows */
	t.len = 0;
	text_str(&t, "INVITE sip:");
	for (unsigned i = 0; i < 1300; i++)
		text_str(&t, "%7e");
	text_str(&t, "@example.com SIP/2.0\r\n");
	{
		char buf[1024];
		struct sip_msg *msg;
		const struct sip_uri *ru;

		build(buf, sizeof(buf), "", SKIP_NONE, "");
		text_str(&t, buf);
		msg = decode_len(t.p, t.len, 0, 0);
		assert_int_equal(sip_msg_check(msg), 0);
		assert_int_equal(sip_msg_ruri(msg, &ru), 0);
		assert_int_equal(sip_unescape(&ru->user, out, 4096, &n), 0);
		assert_int_equal(n, 1300);
		assert_int_equal(out[0], '~');
		assert_int_equal(out[1299], '~');
		mem_deref(msg);
	}

	/* broken escapes */
	{
		static const char *const bad[] = {
			"sip:%G1@example.com", "sip:a%@example.com", "sip:a%4@example.com",
			"sip:a@example.com;x=%zz", "sip:a@example.com?h=%4", "sip:a:%x1@example.com",
			"tel:+1%2", "sip:a@example.com;x=1%",
		};
		static const char *const bad_raw[] = { "a%G1", "abc%", "%4", "%%41" };

		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			pl = pl_from_str(bad[i]);
			assert_int_equal(sip_uri_decode(&u, &pl), EBADMSG);
		}
		for (size_t i = 0; i < ARRAY_SIZE(bad_raw); i++) {
			pl = pl_from_str(bad_raw[i]);
			assert_int_equal(sip_unescape(&pl, out, 64, &n), EBADMSG);
		}
		pl = pl_from_str("%00%ff%41");
		assert_int_equal(sip_unescape(&pl, out, 64, &n), 0);
		assert_int_equal(n, 3);
		assert_memory_equal(out, "\0\xff" "A", 3);
	}
	free(out);
	free(t.p);
}

static void test_uri_forms(void **state)
{
	struct sip_uri u;
	struct pl pl, v;
	char buf[128];
	size_t n;

	(void)state;
	pl = pl_from_str("sips:alice@atlanta.com?subject=project%20x&priority=urgent");
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	assert_pl(u.scheme, "sips");
	assert_true(u.is_sip);
	assert_pl(u.user, "alice");
	assert_pl(u.host, "atlanta.com");
	assert_int_equal(u.host_type, SIP_HOST_NAME);
	assert_pl(u.headers, "?subject=project%20x&priority=urgent");
	assert_int_equal(u.params.l, 0);

	pl = pl_from_str("sip:alice:secretword@atlanta.com;transport=tcp;lr;maddr=[2001:db8::1]");
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	assert_pl(u.user, "alice");
	assert_pl(u.password, "secretword");
	assert_pl(u.params, ";transport=tcp;lr;maddr=[2001:db8::1]");
	assert_true(sip_uri_param_get(&u, "TRANSPORT", &v));
	assert_pl(v, "tcp");
	assert_true(sip_uri_param_get(&u, "lr", &v));
	assert_int_equal(v.l, 0);
	assert_true(sip_uri_param_get(&u, "maddr", &v));
	assert_pl(v, "[2001:db8::1]");
	assert_false(sip_uri_param_get(&u, "ttl", &v));

	pl = pl_from_str("sip:+1-212-555-1212:1234@gateway.com;user=phone");
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	assert_pl(u.user, "+1-212-555-1212");
	assert_pl(u.password, "1234");

	pl = pl_from_str("sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com");
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	assert_int_equal(u.user.l, 0);
	assert_pl(u.host, "atlanta.com");
	assert_pl(u.params, ";method=REGISTER");
	assert_pl(u.headers, "?to=alice%40atlanta.com");

	pl = pl_from_str("sip:alice;day=tuesday@atlanta.com");
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	assert_pl(u.user, "alice;day=tuesday");
	assert_pl(u.host, "atlanta.com");

	pl = pl_from_str("sip:bob@[2001:db8::2]:5070;transport=tcp");
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	assert_int_equal(u.host_type, SIP_HOST_IPV6);
	assert_pl(u.host, "2001:db8::2");
	assert_pl(u.hostport, "[2001:db8::2]:5070");
	assert_int_equal(u.port, 5070);

	pl = pl_from_str("tel:+1-201-555-0123;phone-context=example.com");
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	assert_false(u.is_sip);
	assert_pl(u.opaque, "+1-201-555-0123;phone-context=example.com");

	pl = pl_from_str("SIP:Bob@EXAMPLE.com:65535");
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	assert_true(u.is_sip);
	assert_int_equal(u.port, 65535);

	{
		static const char *const bad[] = {
			"", "sip:", "sip:@host", "sip:a@", "sip:a@host:", "sip:a@host:65536",
			"sip:a@host:0", "sip:a@host:12x", "sip:a@[2001:db8::zz]", "sip:a@[2001:db8::1",
			"sip:a@[::1]x", "sip:a@[]", "sip:a@2001:db8::1", "sip:a@1.2.3",
			"sip:a@300.1.1.1", "sip:a@host;", "sip:a@host;=x", "sip:a@host?",
			"sip:a b@host", "sip:a@ho_st", "sip:a@-host", "sip:a@host..com",
			"1sip:a@host", "sip:<a>@host", "sip:a@host\"", "nocolon",
			"sip:a@host;x=\"q\"",
		};

		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			pl = pl_from_str(bad[i]);
			if (sip_uri_decode(&u, &pl) != EBADMSG)
				print_error("accepted: %s\n", bad[i]);
			assert_int_equal(sip_uri_decode(&u, &pl), EBADMSG);
		}
	}

	/* quoted strings: escapes resolved, buffer bounds kept */
	pl = pl_from_str("Bob \\\"the\\\" Builder");
	assert_int_equal(sip_unquote(&pl, buf, sizeof(buf), &n), 0);
	assert_string_equal(buf, "Bob \"the\" Builder");
	assert_int_equal(n, 17);
	assert_int_equal(sip_unquote(&pl, buf, 17, &n), ENOSPC);
	assert_int_equal(sip_unquote(&pl, buf, 0, &n), ENOSPC);
	assert_int_equal(sip_unquote(&pl, buf, 18, &n), 0);
}

struct compact {
	char letter;
	enum sip_hdr_id id;
};

static const struct compact compacts[] = {
	{ 'a', SIP_HDR_ACCEPT_CONTACT }, { 'b', SIP_HDR_REFERRED_BY }, { 'c', SIP_HDR_CONTENT_TYPE },
	{ 'd', SIP_HDR_REQUEST_DISPOSITION }, { 'e', SIP_HDR_CONTENT_ENCODING },
	{ 'f', SIP_HDR_FROM }, { 'i', SIP_HDR_CALL_ID }, { 'j', SIP_HDR_REJECT_CONTACT },
	{ 'k', SIP_HDR_SUPPORTED }, { 'l', SIP_HDR_CONTENT_LENGTH }, { 'm', SIP_HDR_CONTACT },
	{ 'n', SIP_HDR_IDENTITY_INFO }, { 'o', SIP_HDR_EVENT }, { 'r', SIP_HDR_REFER_TO },
	{ 's', SIP_HDR_SUBJECT }, { 't', SIP_HDR_TO }, { 'u', SIP_HDR_ALLOW_EVENTS },
	{ 'v', SIP_HDR_VIA }, { 'x', SIP_HDR_SESSION_EXPIRES }, { 'y', SIP_HDR_IDENTITY },
};

static void test_compact_forms(void **state)
{
	const char *in =
		"SUBSCRIBE sip:b@example.com SIP/2.0\r\n"
		"v: SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bKcompact\r\n"
		"f: \"A\" <sip:a@example.com>;tag=ftag\r\n"
		"t: sip:b@example.com\r\n"
		"i: compact@10.0.0.1\r\n"
		"CSeq: 7 SUBSCRIBE\r\n"
		"m: <sip:a@10.0.0.1:5070>;expires=60\r\n"
		"c: application/sdp;charset=utf-8\r\n"
		"k: timer, 100rel\r\n"
		"s: lunch\r\n"
		"x: 1800;refresher=uac\r\n"
		"e: gzip\r\n"
		"o: presence\r\n"
		"u: talk, hold\r\n"
		"r: <sip:c@example.com>\r\n"
		"b: <sip:d@example.com>\r\n"
		"j: *;audio\r\n"
		"d: proxy\r\n"
		"a: *;video\r\n"
		"y: c2lnbmF0dXJl\r\n"
		"n: <https://example.com/cert>;alg=rsa-sha1\r\n"
		"l: 4\r\n"
		"\r\n"
		"body";
	struct sip_msg *msg = DECODE(in, 0);
	const struct sip_via *via;
	const struct sip_addr *a;
	struct sip_session_expires se;
	struct sip_iter it = { 0 };
	struct sip_contact ct;
	struct sip_ctype ctype;
	struct pl v;
	char out[2048];
	size_t n;

	(void)state;
	assert_int_equal(ARRAY_SIZE(compacts), 20);
	for (size_t i = 0; i < ARRAY_SIZE(compacts); i++) {
		char up = (char)(compacts[i].letter - 'a' + 'A');
		const struct sip_hdr *h = sip_msg_hdr(msg, compacts[i].id);

		assert_int_equal(sip_hdr_id_lookup(&compacts[i].letter, 1), compacts[i].id);
		assert_int_equal(sip_hdr_id_lookup(&up, 1), compacts[i].id);
		assert_non_null(h);
		assert_int_equal(h->name.l, 1);
		assert_int_equal(h->name.p[0], compacts[i].letter);
		assert_int_equal(sip_msg_hdr_count(msg, compacts[i].id), 1);
		/* by name, compact or long, finds the same field */
		assert_ptr_equal(sip_msg_hdr_byname(msg, sip_hdr_name(compacts[i].id)), h);
	}
	/* letters that are not compact forms */
	assert_int_equal(sip_hdr_id_lookup("g", 1), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_id_lookup("z", 1), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_id_lookup("1", 1), SIP_HDR_OTHER);

	assert_int_equal(sip_msg_check(msg), 0);
	assert_int_equal(sip_msg_via_top(msg, &via), 0);
	assert_pl(via->transport, "TCP");
	assert_int_equal(via->port, 5070);
	assert_int_equal(sip_msg_from(msg, &a), 0);
	assert_pl(a->tag, "ftag");
	assert_int_equal(sip_msg_to(msg, &a), 0);
	assert_false(a->angle);
	assert_pl(a->uri.user, "b");
	assert_int_equal(sip_msg_callid(msg, &v), 0);
	assert_pl(v, "compact@10.0.0.1");
	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), 0);
	assert_true(ct.has_expires);
	assert_int_equal(ct.expires, 60);
	assert_int_equal(sip_msg_ctype(msg, &ctype), 0);
	assert_pl(ctype.subtype, "sdp");
	assert_true(sip_param_get(&ctype.params, "charset", &v));
	assert_pl(v, "utf-8");
	assert_true(sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "100rel"));
	assert_true(sip_msg_has_option(msg, SIP_HDR_ALLOW_EVENTS, "hold"));
	assert_int_equal(sip_msg_session_expires(msg, &se), 0);
	assert_int_equal(se.delta, 1800);
	assert_int_equal(se.refresher, SIP_REFRESHER_UAC);
	assert_int_equal(msg->clen, 4);
	assert_pl(msg->body, "body");
	memset(&it, 0, sizeof(it));
	assert_int_equal(sip_msg_route_next(msg, SIP_HDR_REFER_TO, &it, &ct.addr), 0);
	assert_pl(ct.addr.uri.user, "c");

	/* written back unchanged, and the compact Content-Length is the one rewritten */
	n = encode(msg, out, sizeof(out));
	assert_out(out, n, in);
	{
		struct pl body = PL("longer body");

		assert_int_equal(sip_msg_body_set(msg, &body), 0);
		n = encode(msg, out, sizeof(out));
		assert_non_null(memmem(out, n, "\r\nl: 11\r\n\r\nlonger body", 22));
		assert_null(memmem(out, n, "Content-Length", 14));
	}
	mem_deref(msg);
}

static void test_names_any_case(void **state)
{
	const char *in =
		"OPTIONS sip:b@example.com SIP/2.0\r\n"
		"VIA  : SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKcase\r\n"
		"fRoM\t: <sip:a@example.com>;TAG=t1\r\n"
		"TO: <sip:b@example.com>\r\n"
		"cALL-iD: case@x\r\n"
		"cseq: 3 OPTIONS\r\n"
		"max-FORWARDS:   10  \r\n"
		"SUPPORTED: Timer\r\n"
		"content-length: 0\r\n"
		"\r\n";
	struct sip_msg *msg = DECODE(in, 0);
	const struct sip_addr *a;
	const struct sip_hdr *h;
	uint32_t mf;

	(void)state;
	assert_int_equal(sip_msg_check(msg), 0);
	h = sip_msg_hdr(msg, SIP_HDR_CALL_ID);
	assert_pl(h->name, "cALL-iD");
	assert_pl(h->val, "case@x");
	assert_pl(sip_msg_hdr(msg, SIP_HDR_VIA)->name, "VIA");
	assert_pl(sip_msg_hdr(msg, SIP_HDR_FROM)->name, "fRoM");
	assert_int_equal(sip_msg_from(msg, &a), 0);
	assert_pl(a->tag, "t1");   /* parameter names are case-insensitive too */
	assert_int_equal(sip_msg_max_forwards(msg, &mf), 0);
	assert_int_equal(mf, 10);
	assert_true(sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "timer"));
	assert_ptr_equal(sip_msg_hdr_byname(msg, "call-id"), h);
	assert_ptr_equal(sip_msg_hdr_byname(msg, "I"), h);
	assert_true(msg->has_clen);
	mem_deref(msg);

	/* a header name may not hold a space, and needs its colon */
	msg = DECODE(INVITE_LINE "Call ID: x\r\n\r\n", EBADMSG);
	assert_error(msg, "Malformed header name");
	mem_deref(msg);
	msg = DECODE(INVITE_LINE ": x\r\n\r\n", EBADMSG);
	assert_error(msg, "Malformed header name");
	mem_deref(msg);
	msg = DECODE(INVITE_LINE "Call-ID x\r\n\r\n", EBADMSG);
	assert_error(msg, "Malformed header name");
	mem_deref(msg);
	msg = DECODE(INVITE_LINE "Call-ID \t\r\n\r\n", EBADMSG);
	assert_error(msg, "Header without colon");
	mem_deref(msg);
	msg = DECODE(INVITE_LINE "Via: SIP/2.0/UDP h\r\nCall-ID;x: y\r\n\r\n", EBADMSG);
	assert_error(msg, "Malformed header name");
	/* a header block that failed leaves no header behind */
	assert_int_equal(msg->hdrc, 0);
	assert_null(sip_msg_hdr(msg, SIP_HDR_VIA));
	assert_false(sip_msg_headers_ok(msg));
	mem_deref(msg);
	msg = DECODE(INVITE_LINE " Call-ID: x\r\n\r\n", EBADMSG);
	assert_error(msg, "Continuation line without a header");
	mem_deref(msg);
}

static void test_folding(void **state)
{
	char buf[1024];
	struct sip_msg *msg;
	struct sip_iter it = { 0 };
	struct pl v;
	unsigned n = 0;
	const char *want[] = { "timer", "100rel", "path" };

	(void)state;
	msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE,
			   "Supported: timer,\r\n\t100rel,\r\n \t path\r\n"
			   "Subject:\r\n\tfolded\r\n"
			   "X-Tab:\tvalue\t\r\n"), 0);
	assert_int_equal(sip_msg_check(msg), 0);
	while (sip_msg_values_next(msg, SIP_HDR_SUPPORTED, &it, &v))
		assert_pl(v, want[n++]);
	assert_int_equal(n, 3);
	assert_true(sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "path"));
	assert_pl(sip_msg_hdr(msg, SIP_HDR_SUBJECT)->val, "folded");
	assert_pl(sip_msg_hdr_byname(msg, "X-Tab")->val, "value");
	mem_deref(msg);

	/* folding inside a Via and a From */
	msg = DECODE(INVITE_LINE
		     "Via: SIP/2.0/UDP 10.0.0.1\r\n ;branch=z9hG4bKfold\r\n\t;rport\r\n"
		     "From: \"Folded\r\n Name\" <sip:a@example.com>\r\n ;tag=ff\r\n"
		     "To: <sip:bob@example.com>\r\nCall-ID: f@x\r\nCSeq: 1 INVITE\r\n\r\n", 0);
	{
		const struct sip_via *via;
		const struct sip_addr *a;

		assert_int_equal(sip_msg_check(msg), 0);
		assert_int_equal(sip_msg_via_top(msg, &via), 0);
		assert_pl(via->branch, "z9hG4bKfold");
		assert_true(via->has_rport);
		assert_int_equal(sip_msg_from(msg, &a), 0);
		assert_pl(a->tag, "ff");
		assert_pl(a->dname, "\"Folded\r\n Name\"");
	}
	mem_deref(msg);
}

static void test_addr_forms(void **state)
{
	char buf[1024];
	struct sip_msg *msg;
	struct sip_iter it = { 0 };
	struct sip_contact ct;
	struct sip_addr a;
	struct pl pl, v;
	char name[64];
	size_t n;

	(void)state;
	msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE,
			   "Contact: \"Bob \\\"the\\\" Builder\" <sip:bob@h1>, "
			   "\"Smith, John\" <sip:john@h2;transport=tcp>;expires=30;q=0.5\r\n"
			   "m: sip:carol@h3;expires=10\r\n"
			   "Contact: Dave <sip:dave@[2001:db8::1]:5070>\r\n"), 0);
	assert_int_equal(sip_msg_check(msg), 0);
	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), 0);
	assert_pl(ct.addr.dname, "\"Bob \\\"the\\\" Builder\"");
	pl.p = ct.addr.dname.p + 1;
	pl.l = ct.addr.dname.l - 2;
	assert_int_equal(sip_unquote(&pl, name, sizeof(name), &n), 0);
	assert_string_equal(name, "Bob \"the\" Builder");
	assert_pl(ct.addr.uri.host, "h1");
	assert_false(ct.has_expires);

	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), 0);
	assert_pl(ct.addr.dname, "\"Smith, John\"");
	assert_pl(ct.addr.uri.params, ";transport=tcp");
	assert_true(ct.has_expires);
	assert_int_equal(ct.expires, 30);
	assert_true(sip_param_get(&ct.addr.params, "q", &v));
	assert_pl(v, "0.5");

	/* without angle brackets every parameter belongs to the header */
	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), 0);
	assert_false(ct.addr.angle);
	assert_pl(ct.addr.auri, "sip:carol@h3");
	assert_int_equal(ct.addr.uri.params.l, 0);
	assert_int_equal(ct.expires, 10);

	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), 0);
	assert_pl(ct.addr.dname, "Dave");
	assert_int_equal(ct.addr.uri.host_type, SIP_HOST_IPV6);
	assert_pl(ct.addr.uri.host, "2001:db8::1");
	assert_int_equal(ct.addr.uri.port, 5070);
	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), ENOENT);
	mem_deref(msg);

	/* To without brackets: the tag is the header's */
	pl = pl_from_str("sip:b@example.com;tag=abc");
	assert_int_equal(sip_addr_decode(&a, &pl), 0);
	assert_false(a.angle);
	assert_pl(a.tag, "abc");
	assert_pl(a.auri, "sip:b@example.com");
	assert_int_equal(a.uri.params.l, 0);
	/* with brackets, the URI's own parameter is no tag */
	pl = pl_from_str("<sip:b@example.com;tag=abc>");
	assert_int_equal(sip_addr_decode(&a, &pl), 0);
	assert_pl(a.tag, NULL);
	assert_pl(a.uri.params, ";tag=abc");
	/* URI headers need the brackets */
	pl = pl_from_str("<sip:b@example.com?Subject=hi&Priority=urgent>;tag=z");
	assert_int_equal(sip_addr_decode(&a, &pl), 0);
	assert_pl(a.uri.headers, "?Subject=hi&Priority=urgent");
	assert_pl(a.tag, "z");

	{
		static const char *const bad[] = {
			"", "\"unterminated <sip:a@b>", "\"Name\" sip:a@b", "<sip:a@b", "Na\"me <sip:a@b>",
			"<sip:a@b>;tag", "<sip:a@b>junk", "<sip:a@b>;;", "<>", "Name@x <sip:a@b>",
		};

		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			pl = pl_from_str(bad[i]);
			if (sip_addr_decode(&a, &pl) != EBADMSG)
				print_error("accepted: %s\n", bad[i]);
			assert_int_equal(sip_addr_decode(&a, &pl), EBADMSG);
		}
	}

	/* Contact: * */
	msg = DECODE("REGISTER sip:example.com SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKstar\r\n"
		     "From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\n"
		     "Call-ID: star@x\r\nCSeq: 9 REGISTER\r\nContact: *\r\nExpires: 0\r\n\r\n", 0);
	memset(&it, 0, sizeof(it));
	assert_int_equal(sip_msg_check(msg), 0);
	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), 0);
	assert_true(ct.star);
	assert_false(ct.has_expires);
	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), ENOENT);
	{
		uint32_t e = 99;

		assert_int_equal(sip_msg_expires(msg, &e), 0);
		assert_int_equal(e, 0);
	}
	mem_deref(msg);
	pl = pl_from_str("<sip:a@b>;expires=soon");
	assert_int_equal(sip_contact_decode(&ct, &pl), EBADMSG);
}

static void test_route_via_iteration(void **state)
{
	char buf[2048];
	struct sip_msg *msg;
	struct sip_iter it = { 0 };
	struct sip_addr a;
	struct sip_via v;
	const char *routes[] = { "p1", "p2", "p3" };
	static const struct {
		const char *transport, *host, *branch;
		uint16_t port;
	} vias[] = {
		{ "UDP", "h1.example.com", "z9hG4bK1", 0 },
		{ "TCP", "10.1.1.1", "z9hG4bK2", 5061 },
		{ "TLS", "2001:db8::7", "z9hG4bK3", 5071 },
	};

	(void)state;
	msg = DECODE("INVITE sip:b@example.com SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP h1.example.com;branch=z9hG4bK1;received=192.0.2.1;rport=5099, "
		     "SIP/2.0/TCP 10.1.1.1:5061;branch=z9hG4bK2;rport\r\n"
		     "v: SIP / 2.0 / TLS [2001:db8::7]:5071;branch=z9hG4bK3;received=2001:db8::9"
		     ";maddr=224.2.0.1;ttl=16\r\n"
		     "Route: <sip:p1@example.com;lr>, <sip:p2@example.com;lr>\r\n"
		     "Record-Route: <sip:rr1@example.com;lr>\r\n"
		     "Route: <sip:p3@example.com;lr>\r\n"
		     "Record-Route: <sip:rr2@example.com;lr>,<sip:rr3@example.com>\r\n"
		     "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
		     "Call-ID: it@x\r\nCSeq: 1 INVITE\r\n\r\n", 0);
	assert_int_equal(sip_msg_check(msg), 0);
	for (size_t i = 0; i < ARRAY_SIZE(vias); i++) {
		assert_int_equal(sip_msg_via_next(msg, &it, &v), 0);
		assert_pl(v.transport, vias[i].transport);
		assert_pl(v.host, vias[i].host);
		assert_pl(v.branch, vias[i].branch);
		assert_int_equal(v.port, vias[i].port);
	}
	assert_int_equal(sip_msg_via_next(msg, &it, &v), ENOENT);
	memset(&it, 0, sizeof(it));
	assert_int_equal(sip_msg_via_next(msg, &it, &v), 0);
	assert_pl(v.received, "192.0.2.1");
	assert_true(v.has_rport);
	assert_pl(v.rport, "5099");
	assert_int_equal(sip_msg_via_next(msg, &it, &v), 0);
	assert_true(v.has_rport);
	assert_int_equal(v.rport.l, 0);
	assert_pl(v.received, NULL);
	assert_int_equal(sip_msg_via_next(msg, &it, &v), 0);
	assert_pl(v.proto, "SIP / 2.0 / TLS");
	assert_int_equal(v.host_type, SIP_HOST_IPV6);
	assert_pl(v.sentby, "[2001:db8::7]:5071");
	assert_pl(v.received, "2001:db8::9");
	assert_pl(v.maddr, "224.2.0.1");
	assert_pl(v.ttl, "16");
	assert_false(v.has_rport);

	memset(&it, 0, sizeof(it));
	for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
		assert_int_equal(sip_msg_route_next(msg, SIP_HDR_ROUTE, &it, &a), 0);
		assert_pl(a.uri.user, routes[i]);
		assert_true(sip_uri_param_get(&a.uri, "lr", NULL));
	}
	assert_int_equal(sip_msg_route_next(msg, SIP_HDR_ROUTE, &it, &a), ENOENT);
	memset(&it, 0, sizeof(it));
	for (int i = 1; i <= 3; i++) {
		char user[16];

		snprintf(user, sizeof(user), "rr%d", i);
		assert_int_equal(sip_msg_route_next(msg, SIP_HDR_RECORD_ROUTE, &it, &a), 0);
		assert_pl(a.uri.user, user);
	}
	assert_int_equal(sip_msg_route_next(msg, SIP_HDR_RECORD_ROUTE, &it, &a), ENOENT);
	mem_deref(msg);

	/* Route values are name-addr only */
	msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "Route: sip:p@x;lr\r\n"), 0);
	memset(&it, 0, sizeof(it));
	assert_int_equal(sip_msg_route_next(msg, SIP_HDR_ROUTE, &it, &a), EBADMSG);
	mem_deref(msg);

	/* Via parameters and sent-by */
	{
		static const char *const bad[] = {
			"SIP/2.0/UDP h;rport=0", "SIP/2.0/UDP h;rport=65536", "SIP/2.0/UDP h;rport=x",
			"SIP/2.0/UDP [2001:db8::zz]", "SIP/2.0/UDP 2001:db8::1", "SIP/2.0/UDP [::1",
			"SIP/2.0 h", "SIP/2.0/UDP", "SIP/2.0/UDPh", "SIP/2.0/UDP h;branch=", "SIP/2.0/UDP h:99999", "SIP/2.0/UDP h;a=\"b",
		};
		struct pl pl;

		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			pl = pl_from_str(bad[i]);
			if (sip_via_decode(&v, &pl) != EBADMSG)
				print_error("accepted: %s\n", bad[i]);
			assert_int_equal(sip_via_decode(&v, &pl), EBADMSG);
		}
		pl = pl_from_str("SIP/2.0/UDP h ; branch = z9hG4bKsp ; rport = 1");
		assert_int_equal(sip_via_decode(&v, &pl), 0);
		assert_pl(v.branch, "z9hG4bKsp");
		assert_pl(v.rport, "1");
		/* a parameter given twice: the first counts, as sip_param_get says */
		pl = pl_from_str("SIP/2.0/UDP h;branch=z9hG4bKa;received=1.1.1.1;branch=z9hG4bKb"
				 ";received=2.2.2.2;rport=1;rport=2;maddr=a;maddr=b;ttl=1;ttl=2");
		assert_int_equal(sip_via_decode(&v, &pl), 0);
		assert_pl(v.branch, "z9hG4bKa");
		assert_true(sip_param_get(&v.params, "branch", &v.maddr));
		assert_pl(v.maddr, "z9hG4bKa");
		assert_int_equal(sip_via_decode(&v, &pl), 0);
		assert_pl(v.received, "1.1.1.1");
		assert_pl(v.rport, "1");
		assert_pl(v.maddr, "a");
		assert_pl(v.ttl, "1");
	}
}

static void test_ipv6_message(void **state)
{
	const char *in =
		"OPTIONS sip:bob@[2001:db8::2]:5070;transport=udp SIP/2.0\r\n"
		"Via: SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bKv6a;rport\r\n"
		"Via: SIP/2.0/UDP [::ffff:192.0.2.1];branch=z9hG4bKv6b\r\n"
		"From: <sip:alice@[2001:db8::1]>;tag=v6\r\n"
		"To: <sip:bob@[2001:db8::2]:5070>\r\n"
		"Call-ID: v6@2001:db8::1\r\n"
		"CSeq: 1 OPTIONS\r\n"
		"Contact: <sip:alice@[2001:db8::1]:5070;transport=udp>\r\n"
		"Content-Length: 0\r\n\r\n";
	struct sip_msg *msg = DECODE(in, 0);
	const struct sip_uri *u;
	const struct sip_via *via;
	const struct sip_hdr *h;
	struct sip_iter it = { 0 };
	struct sip_contact ct;
	struct sip_via v;
	struct pl callid;
	char out[1024], buf[1024];
	size_t n;

	(void)state;
	assert_int_equal(sip_msg_check(msg), 0);
	assert_int_equal(sip_msg_ruri(msg, &u), 0);
	assert_int_equal(u->host_type, SIP_HOST_IPV6);
	assert_pl(u->host, "2001:db8::2");
	assert_int_equal(u->port, 5070);
	assert_int_equal(sip_msg_via_top(msg, &via), 0);
	assert_pl(via->host, "2001:db8::1");
	assert_pl(via->sentby, "[2001:db8::1]:5070");
	assert_int_equal(via->port, 5070);
	/* the fields one by one, and the second Via's IPv4-mapped address */
	h = sip_msg_hdr(msg, SIP_HDR_VIA);
	h = sip_msg_hdr_next(msg, h);
	assert_non_null(h);
	assert_null(sip_msg_hdr_next(msg, h));
	assert_int_equal(sip_via_decode(&v, &h->val), 0);
	assert_int_equal(v.host_type, SIP_HOST_IPV6);
	assert_pl(v.host, "::ffff:192.0.2.1");
	assert_int_equal(v.port, 0);
	assert_int_equal(sip_msg_contact_next(msg, &it, &ct), 0);
	assert_pl(ct.addr.uri.hostport, "[2001:db8::1]:5070");
	assert_int_equal(sip_msg_callid(msg, &callid), 0);
	assert_pl(callid, "v6@2001:db8::1");
	n = encode(msg, out, sizeof(out));
	assert_out(out, n, in);
	/* an IPv6 address swapped in for another keeps its brackets */
	{
		struct pl hp = PL("[2001:db8::99]:6000");

		assert_int_equal(sip_msg_splice(msg, &ct.addr.uri.hostport, &hp), 0);
		n = encode(msg, out, sizeof(out));
		assert_non_null(memmem(out, n, "Contact: <sip:alice@[2001:db8::99]:6000;transport=udp>\r\n",
				       56));
	}
	mem_deref(msg);

	/* a bad literal in the Request-URI, or one without brackets */
	msg = DECODE(build(buf, sizeof(buf), "OPTIONS sip:bob@[2001:db8::g] SIP/2.0\r\n", SKIP_CSEQ,
			   "CSeq: 1 OPTIONS\r\n"), 0);
	assert_int_equal(sip_msg_check(msg), EBADMSG);
	assert_error(msg, "Malformed Request-URI");
	mem_deref(msg);
	msg = DECODE(build(buf, sizeof(buf), "OPTIONS sip:bob@2001:db8::2 SIP/2.0\r\n", SKIP_CSEQ,
			   "CSeq: 1 OPTIONS\r\n"), 0);
	assert_int_equal(sip_msg_check(msg), EBADMSG);
	assert_error(msg, "Malformed Request-URI");
	mem_deref(msg);
	msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_VIA,
			   "Via: SIP/2.0/UDP [2001:db8::1;branch=z9hG4bK1\r\n"), 0);
	assert_int_equal(sip_msg_check(msg), EBADMSG);
	assert_error(msg, "Malformed Via header");
	mem_deref(msg);
}

/* Every decoder's own limits and the error paths of the scanners. */
static void test_value_limits(void **state)
{
	struct text t = { 0 };
	struct sip_uri u;
	struct sip_addr a;
	struct sip_via v;
	struct sip_digest dg;
	struct sip_contact ct;
	struct sip_session_expires se;
	struct sip_reason r;
	struct pl pl;

	(void)state;
	/* values longer than SIP_MAX_HDR_VALUE */
	text_str(&t, "sip:a@");
	text_fill(&t, 'h', SIP_MAX_HDR_VALUE);
	pl = (struct pl){ t.p, t.len };
	assert_int_equal(sip_uri_decode(&u, &pl), EMSGSIZE);
	assert_int_equal(sip_addr_decode(&a, &pl), EMSGSIZE);
	t.len = 0;
	text_str(&t, "SIP/2.0/UDP h;x=");
	text_fill(&t, 'x', SIP_MAX_HDR_VALUE);
	pl = (struct pl){ t.p, t.len };
	assert_int_equal(sip_via_decode(&v, &pl), EMSGSIZE);
	t.len = 0;
	text_str(&t, "Digest realm=\"");
	text_fill(&t, 'r', SIP_MAX_HDR_VALUE);
	text_str(&t, "\"");
	pl = (struct pl){ t.p, t.len };
	assert_int_equal(sip_digest_decode(&dg, &pl), EMSGSIZE);

	/* SIP_MAX_PARAMS parameters pass, one more does not */
	t.len = 0;
	text_str(&t, "sip:a@h");
	for (int i = 0; i < SIP_MAX_PARAMS; i++)
		text_str(&t, ";p");
	pl = (struct pl){ t.p, t.len };
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	text_str(&t, ";p");
	pl = (struct pl){ t.p, t.len };
	assert_int_equal(sip_uri_decode(&u, &pl), EMSGSIZE);

	/* host names: 255 bytes and labels of 63 at most */
	t.len = 0;
	text_str(&t, "sip:a@");
	for (int i = 0; i < 4; i++) {
		text_fill(&t, 'l', 63);
		text_str(&t, i < 3 ? "." : "");
	}
	pl = (struct pl){ t.p, t.len };
	assert_int_equal(sip_uri_decode(&u, &pl), 0);
	assert_int_equal(u.host.l, 255);
	text_str(&t, "l");
	pl = (struct pl){ t.p, t.len };
	assert_int_equal(sip_uri_decode(&u, &pl), EBADMSG);
	t.len = 0;
	text_str(&t, "sip:a@");
	text_fill(&t, 'l', 64);
	pl = (struct pl){ t.p, t.len };
	assert_int_equal(sip_uri_decode(&u, &pl), EBADMSG);
	free(t.p);

	{
		static const struct {
			const char *s;
			size_t l;
		} bad_quoted[] = {
			{ "\"ab\\", 4 }, { "\"a\\\0b\" <sip:a@b>", 16 }, { "\"a\0b\" <sip:a@b>", 15 },
			{ "\"a\\\rb\" <sip:a@b>", 16 }, { "\"a\\\nb\" <sip:a@b>", 16 },
		};

		for (size_t i = 0; i < ARRAY_SIZE(bad_quoted); i++) {
			pl = (struct pl){ bad_quoted[i].s, bad_quoted[i].l };
			assert_int_equal(sip_addr_decode(&a, &pl), EBADMSG);
		}
	}
	{
		static const char *const bad_chars[] = {
			"sip:a{b@host", "sip:a:p{w@host", "sip:host?a={", "s_p:x", "sip:a@host;a=b{",
		};

		for (size_t i = 0; i < ARRAY_SIZE(bad_chars); i++) {
			pl = pl_from_str(bad_chars[i]);
			assert_int_equal(sip_uri_decode(&u, &pl), EBADMSG);
		}
	}
	pl = pl_from_str("<sip:a@b>;;");
	assert_int_equal(sip_contact_decode(&ct, &pl), EBADMSG);
	pl = pl_from_str("12345678901");
	assert_int_equal(sip_session_expires_decode(&se, &pl), EBADMSG);
	pl = pl_from_str("90;;");
	assert_int_equal(sip_session_expires_decode(&se, &pl), EBADMSG);
	pl = pl_from_str("SIP;;");
	assert_int_equal(sip_reason_decode(&r, &pl), EBADMSG);
	assert_int_equal(sip_hdr_id_lookup("", 0), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_id_lookup("Proxy-Authorization-And-More-Than-32", 36),
			 SIP_HDR_OTHER);
}

/* An unterminated line that would end past SIP_MAX_HDR_BLOCK, and the edit arena's cap. */
static void test_block_and_arena_limits(void **state)
{
	struct text t = { 0 };
	struct sip_msg *msg;
	char buf[1024];
	char *big = malloc(SIP_MAX_HDR_VALUE), *out = malloc(4 * SIP_MAX_MSG);
	struct pl v = { big, SIP_MAX_HDR_VALUE }, body = { big, SIP_MAX_HDR_VALUE };
	struct wbuf wb;
	unsigned i;
	int err = 0;

	(void)state;
	assert_non_null(big);
	assert_non_null(out);
	build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "Content-Length: 0\r\n");
	text_add(&t, buf, strlen(buf) - 2);
	while (t.len < SIP_MAX_HDR_BLOCK - 100) {
		text_str(&t, "X-Pad: ");
		text_fill(&t, 'p', 200);
		text_str(&t, "\r\n");
	}
	text_str(&t, "X-Long: ");
	text_fill(&t, 'q', 300);
	msg = decode_len(t.p, t.len, SIP_DECODE_STREAM, EMSGSIZE);
	assert_error(msg, "Header block too large");
	mem_deref(msg);
	msg = decode_len(t.p, t.len, 0, EMSGSIZE);
	assert_error(msg, "Header block too large");
	mem_deref(msg);
	free(t.p);

	/* pending edits cannot grow memory past the arena's cap */
	memset(big, 'v', SIP_MAX_HDR_VALUE);
	msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "Content-Length: 0\r\n"), 0);
	for (int k = 0; k < 4; k++)
		assert_int_equal(sip_msg_body_set(msg, &body), 0);
	for (i = 0; i < SIP_MAX_EDITS && !err; i++)
		err = sip_msg_hdr_add(msg, NULL, "X-Big", &v);
	assert_int_equal(err, ENOMEM);
	assert_true(msg->arena_size <= 2 * SIP_MAX_MSG);
	assert_int_equal(msg->editc, i - 1);
	assert_true(i < SIP_MAX_EDITS);
	wbuf_init(&wb, out, 4 * SIP_MAX_MSG);
	assert_int_equal(sip_msg_encode(msg, &wb), 0);
	assert_true(wb.len > (i - 1) * SIP_MAX_HDR_VALUE);
	mem_deref(msg);
	free(big);
	free(out);
}

static void test_small_fields(void **state)
{
	char buf[2048];
	struct sip_msg *msg;
	struct sip_session_expires se;
	struct sip_reason r;
	struct sip_ctype ct;
	struct pl pl, v;
	uint32_t u;
	char text[64];
	size_t n;

	(void)state;
	msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE,
			   "Require: 100rel, Timer\r\nRequire: precondition\r\n"
			   "Supported: path\r\n"
			   "Session-Expires: 90 ; refresher = UAS;x=1\r\n"
			   "Min-SE: 60\r\n"
			   "Reason: SIP ;cause=200 ;text=\"Call completed \\\"elsewhere\\\"\"\r\n"
			   "Reason: Q.850;cause=31\r\n"
			   "Expires: 4294967295\r\n"
			   "Max-Forwards: 0\r\n"
			   "Content-Type: multipart/mixed ; boundary=\"b1\"\r\n"), 0);
	assert_int_equal(sip_msg_check(msg), 0);
	assert_true(sip_msg_has_option(msg, SIP_HDR_REQUIRE, "100rel"));
	assert_true(sip_msg_has_option(msg, SIP_HDR_REQUIRE, "timer"));
	assert_true(sip_msg_has_option(msg, SIP_HDR_REQUIRE, "precondition"));
	assert_false(sip_msg_has_option(msg, SIP_HDR_REQUIRE, "path"));
	assert_false(sip_msg_has_option(msg, SIP_HDR_REQUIRE, "100"));
	assert_true(sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "path"));
	assert_int_equal(sip_msg_session_expires(msg, &se), 0);
	assert_int_equal(se.delta, 90);
	assert_int_equal(se.refresher, SIP_REFRESHER_UAS);
	assert_int_equal(sip_msg_min_se(msg, &u), 0);
	assert_int_equal(u, 60);
	assert_int_equal(sip_msg_reason(msg, &r), 0);
	assert_pl(r.protocol, "SIP");
	assert_int_equal(r.cause, 200);
	assert_pl(r.text, "Call completed \\\"elsewhere\\\"");
	assert_int_equal(sip_unquote(&r.text, text, sizeof(text), &n), 0);
	assert_string_equal(text, "Call completed \"elsewhere\"");
	assert_int_equal(sip_msg_expires(msg, &u), 0);
	assert_int_equal(u, 4294967295u);
	assert_int_equal(sip_msg_max_forwards(msg, &u), 0);
	assert_int_equal(u, 0);
	assert_int_equal(sip_msg_ctype(msg, &ct), 0);
	assert_pl(ct.type, "multipart");
	assert_pl(ct.subtype, "mixed");
	assert_true(sip_param_get(&ct.params, "boundary", &v));
	assert_pl(v, "b1");
	mem_deref(msg);

	/* absent */
	msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, ""), 0);
	assert_int_equal(sip_msg_session_expires(msg, &se), ENOENT);
	assert_int_equal(sip_msg_min_se(msg, &u), ENOENT);
	assert_int_equal(sip_msg_reason(msg, &r), ENOENT);
	assert_int_equal(sip_msg_expires(msg, &u), ENOENT);
	assert_int_equal(sip_msg_ctype(msg, &ct), ENOENT);
	assert_int_equal(sip_msg_max_forwards(msg, &u), ENOENT);
	assert_false(sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "timer"));
	mem_deref(msg);

	/* malformed */
	msg = DECODE(build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE,
			   "Expires: 4294967296\r\nSession-Expires: 90;refresher=me\r\n"
			   "Min-SE: 60;refresher=uac\r\nContent-Type: sdp\r\nReason: ;cause=1\r\n"), 0);
	assert_int_equal(sip_msg_expires(msg, &u), EBADMSG);
	assert_int_equal(sip_msg_session_expires(msg, &se), EBADMSG);
	assert_int_equal(sip_msg_min_se(msg, &u), EBADMSG);
	assert_int_equal(sip_msg_ctype(msg, &ct), EBADMSG);
	assert_int_equal(sip_msg_reason(msg, &r), EBADMSG);
	mem_deref(msg);

	pl = pl_from_str("application/sdp;;");
	assert_int_equal(sip_ctype_decode(&ct, &pl), EBADMSG);
	pl = pl_from_str("Q.850;cause=abc");
	assert_int_equal(sip_reason_decode(&r, &pl), EBADMSG);
	pl = pl_from_str("-5");
	assert_int_equal(sip_session_expires_decode(&se, &pl), EBADMSG);
}

static void test_digest_forms(void **state)
{
	struct sip_digest dg;
	struct pl pl;
	char buf[128];
	size_t n;

	(void)state;
	pl = pl_from_str("Digest realm=\"a\\\"b\" ,nonce=\"n\",opaque=\"o\",stale=TRUE,"
			 "domain=\"sip:x sip:y\",algorithm=SHA-256-sess,userhash=true");
	assert_int_equal(sip_digest_decode(&dg, &pl), 0);
	assert_pl(dg.realm, "a\\\"b");
	assert_int_equal(sip_unquote(&dg.realm, buf, sizeof(buf), &n), 0);
	assert_string_equal(buf, "a\"b");
	assert_pl(dg.opaque, "o");
	assert_pl(dg.stale, "TRUE");
	assert_pl(dg.domain, "sip:x sip:y");
	assert_pl(dg.algorithm, "SHA-256-sess");
	assert_pl(dg.userhash, "true");
	assert_pl(dg.params, "realm=\"a\\\"b\" ,nonce=\"n\",opaque=\"o\",stale=TRUE,"
			     "domain=\"sip:x sip:y\",algorithm=SHA-256-sess,userhash=true");

	/* names are case-insensitive, unknown ones skipped */
	pl = pl_from_str("digest REALM=\"r\", foo=bar, Nonce=\"n\"");
	assert_int_equal(sip_digest_decode(&dg, &pl), 0);
	assert_pl(dg.scheme, "digest");
	assert_pl(dg.realm, "r");
	assert_pl(dg.nonce, "n");

	{
		static const char *const bad[] = {
			"", "Digest realm", "Digest realm=", "Digest realm=\"x", "Digest realm=\"x\" nonce=\"y\"",
			"Digest realm=\"x\",", "Digest realm=\"x\",,nonce=\"y\"", "Digest realm=\"a\",realm=\"b\"",
			"Digest,realm=\"x\"", "Digest =x", "Digest realm=\"x\"\0",
		};

		for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
			pl.p = bad[i];
			pl.l = strlen(bad[i]) + (i == ARRAY_SIZE(bad) - 1);
			if (sip_digest_decode(&dg, &pl) != EBADMSG)
				print_error("accepted: %s\n", bad[i]);
			assert_int_equal(sip_digest_decode(&dg, &pl), EBADMSG);
		}
	}
	/* too many parameters */
	{
		struct text t = { 0 };

		text_str(&t, "Digest a0=1");
		for (int i = 1; i <= SIP_MAX_PARAMS; i++)
			text_str(&t, ", x=1");
		pl.p = t.p;
		pl.l = t.len;
		assert_int_equal(sip_digest_decode(&dg, &pl), EMSGSIZE);
		free(t.p);
	}
}

static void test_unknown_method_and_headers(void **state)
{
	const char *in =
		"FOO sip:x SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKfoo\r\n"
		"From: <sip:a@x>;tag=1\r\n"
		"To: <sip:b@x>\r\n"
		"Call-ID: foo@x\r\n"
		"CSeq: 1 FOO\r\n"
		"X-Weird:   some  ; value,,\"q\"  \r\n"
		"X-Empty:\r\n"
		"P-Odd.Name_1!~: *\r\n"
		"Content-Length: 0\r\n"
		"\r\n";
	struct sip_msg *msg = DECODE(in, 0);
	const struct sip_cseq *cs;
	const struct sip_hdr *h;
	char out[1024];
	size_t n;

	(void)state;
	assert_int_equal(sip_msg_check(msg), 0);
	assert_int_equal(msg->mid, SIP_METHOD_UNKNOWN);
	assert_pl(msg->method, "FOO");
	assert_int_equal(sip_msg_cseq(msg, &cs), 0);
	assert_int_equal(cs->mid, SIP_METHOD_UNKNOWN);
	assert_pl(cs->method, "FOO");
	h = sip_msg_hdr_byname(msg, "X-WEIRD");
	assert_non_null(h);
	assert_int_equal(h->id, SIP_HDR_OTHER);
	assert_pl(h->val, "some  ; value,,\"q\"");
	assert_memory_equal(msg->base + h->off, "X-Weird:   some  ; value,,\"q\"  \r\n", h->len);
	assert_pl(sip_msg_hdr_byname(msg, "x-empty")->val, NULL);
	assert_pl(sip_msg_hdr_byname(msg, "P-Odd.Name_1!~")->val, "*");
	assert_null(sip_msg_hdr_byname(msg, "X-Absent"));
	assert_int_equal(sip_msg_hdr_count(msg, SIP_HDR_OTHER), 3);
	n = encode(msg, out, sizeof(out));
	assert_out(out, n, in);

	/* method names are case-sensitive: "invite" is an unknown method */
	mem_deref(msg);
	msg = DECODE("invite sip:x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
		     "From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c@x\r\nCSeq: 1 invite\r\n\r\n",
		     0);
	assert_int_equal(msg->mid, SIP_METHOD_UNKNOWN);
	assert_int_equal(sip_msg_check(msg), 0);
	mem_deref(msg);

	for (int m = 1; m < SIP_METHOD__COUNT; m++) {
		struct pl name = pl_from_str(sip_method_name((enum sip_method)m));

		assert_int_equal(sip_method_lookup(&name), m);
	}
	for (int id = 1; id < SIP_HDR__COUNT; id++) {
		const char *name = sip_hdr_name((enum sip_hdr_id)id);

		assert_int_equal(sip_hdr_id_lookup(name, strlen(name)), id);
	}
	assert_int_equal(sip_hdr_id_lookup("Via-X", 5), SIP_HDR_OTHER);
	assert_int_equal(sip_hdr_id_lookup("Vi", 2), SIP_HDR_OTHER);
	/*
	 * A known name, a NUL, then anything: matches nothing and reads nothing
	 * past the table's names (under ASan). Many lengths and fillers, so that
	 * some land on the probe chain of the name they start with.
	 */
	for (int id = 1; id < SIP_HDR__COUNT; id++) {
		const char *name = sip_hdr_name((enum sip_hdr_id)id);
		char buf[32];
		size_t nl = strlen(name);

		for (size_t len = nl + 1; len <= sizeof(buf); len++) {
			for (char fill = 0; fill < 4; fill++) {
				memset(buf, fill, sizeof(buf));
				memcpy(buf, name, nl);
				buf[nl] = '\0';
				assert_int_equal(sip_hdr_id_lookup(buf, len), SIP_HDR_OTHER);
			}
		}
	}
}

static void test_keepalive_and_bare_lf(void **state)
{
	const char *msgtext = INVITE_LINE "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
		"From: <sip:a@x>;tag=1\r\nTo: <sip:b@x>\r\nCall-ID: c@x\r\nCSeq: 1 INVITE\r\n"
		"Content-Length: 2\r\n\r\nhi";
	struct text t = { 0 };
	struct sip_msg *msg;
	size_t consumed;

	(void)state;
	text_str(&t, "\r\n\r\n\n");
	text_str(&t, msgtext);
	assert_int_equal(sip_msg_alloc(&msg), 0);
	assert_int_equal(decode_into(msg, t.p, t.len, SIP_DECODE_STREAM, &consumed), 0);
	assert_int_equal(consumed, t.len);
	assert_int_equal(msg->len, strlen(msgtext));
	assert_memory_equal(msg->base, "INVITE", 6);
	assert_int_equal(decode_into(msg, t.p, t.len, 0, &consumed), 0);
	assert_int_equal(consumed, t.len);
	/* only keep-alives: need more, all of them consumed */
	assert_int_equal(decode_into(msg, "\r\n\r\n", 4, SIP_DECODE_STREAM, &consumed), ENODATA);
	assert_int_equal(consumed, 4);
	assert_int_equal(decode_into(msg, "\r\n\r\n", 4, 0, &consumed), ENODATA);
	assert_int_equal(consumed, 4);
	mem_deref(msg);

	/* bare LF line ends, folding included */
	msg = DECODE("INVITE sip:b@x SIP/2.0\n"
		     "Via: SIP/2.0/UDP h;branch=z9hG4bKlf\n"
		     "From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: lf@x\nCSeq: 1 INVITE\n"
		     "Supported: a,\n b\n"
		     "Content-Length: 3\n\nabc", 0);
	assert_int_equal(sip_msg_check(msg), 0);
	assert_pl(msg->body, "abc");
	assert_true(sip_msg_has_option(msg, SIP_HDR_SUPPORTED, "b"));
	assert_pl(sip_msg_hdr(msg, SIP_HDR_SUPPORTED)->val, "a,\n b");
	{
		char out[1024];
		size_t n;
		struct pl v = PL("c");

		assert_int_equal(sip_msg_hdr_add(msg, NULL, "X-Lf", &v), 0);
		n = encode(msg, out, sizeof(out));
		assert_out(out, n, "INVITE sip:b@x SIP/2.0\n"
			   "Via: SIP/2.0/UDP h;branch=z9hG4bKlf\n"
			   "From: <sip:a@x>;tag=1\nTo: <sip:b@x>\nCall-ID: lf@x\nCSeq: 1 INVITE\n"
			   "Supported: a,\n b\n"
			   "Content-Length: 3\nX-Lf: c\r\n\nabc");
	}
	mem_deref(msg);

	/* stream transports need Content-Length */
	msg = DECODE(INVITE_LINE "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n", 0);
	mem_deref(msg);
	msg = decode_len(INVITE_LINE "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n",
			 strlen(INVITE_LINE "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n"),
			 SIP_DECODE_STREAM, EBADMSG);
	assert_error(msg, "Content-Length missing on a stream transport");
	mem_deref(msg);

	/* a datagram without the empty line is cut short */
	msg = DECODE(INVITE_LINE "Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\n", EBADMSG);
	assert_error(msg, "Headers not terminated by an empty line");
	mem_deref(msg);
	free(t.p);
}

/*
 * A failed decode leaves nothing that points into a buffer the message does
 * not hold; when only the framing after a whole header block failed, the
 * headers stay (with the buffer referenced) to answer 400.
 */
static void test_failed_decode_state(void **state)
{
	char buf[1024], out[1024];
	struct sip_msg *msg;
	struct pl v = PL("x"), callid;
	struct wbuf wb;
	const struct sip_via *via;

	(void)state;
	/* Content-Length beyond the datagram: RFC 3261 18.3 wants a 400 */
	build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "Content-Length: 10\r\n");
	msg = DECODE(buf, EBADMSG);   /* our copy of the buffer is released now */
	assert_error(msg, "Content-Length beyond the end of the datagram");
	assert_true(sip_msg_headers_ok(msg));
	assert_non_null(msg->mb);
	assert_int_equal(mem_nrefs(msg->mb), 1);
	assert_int_equal(msg->body.l, 0);
	assert_int_equal(msg->len, strlen(buf));
	assert_int_equal(sip_msg_check(msg), 0);
	assert_int_equal(sip_msg_callid(msg, &callid), 0);
	assert_pl(callid, "base-1@10.0.0.1");
	wbuf_init(&wb, out, sizeof(out));
	assert_int_equal(sip_reply_build(msg, 400, "Content-Length beyond the datagram", NULL,
					 NULL, &wb), 0);
	assert_out(out, wb.len,
		   "SIP/2.0 400 Content-Length beyond the datagram\r\n"
		   "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKbase\r\n"
		   "From: <sip:alice@example.com>;tag=f1\r\n"
		   "To: <sip:bob@example.com>\r\n"
		   "Call-ID: base-1@10.0.0.1\r\n"
		   "CSeq: 1 INVITE\r\n"
		   "Content-Length: 0\r\n\r\n");

	/* a start line that fails: nothing at all */
	assert_int_equal(decode_into(msg, "garbage\r\nVia: SIP/2.0/UDP h\r\n\r\n", 31, 0, NULL),
			 EBADMSG);
	assert_error(msg, "Malformed start line");
	assert_false(sip_msg_headers_ok(msg));
	assert_null(msg->mb);
	assert_int_equal(msg->hdrc, 0);
	assert_int_equal(sip_msg_check(msg), EINVAL);
	assert_int_equal(sip_msg_callid(msg, &callid), ENOENT);
	assert_int_equal(sip_msg_via_top(msg, &via), ENOENT);
	assert_int_equal(sip_msg_hdr_add(msg, NULL, "X", &v), EINVAL);
	assert_int_equal(sip_msg_body_set(msg, &v), EINVAL);
	assert_int_equal(sip_msg_ruri_set(msg, &v), EINVAL);
	assert_int_equal(sip_msg_encode(msg, &wb), EINVAL);

	/* a header that fails after others were tokenised: nothing either */
	build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "Bad Name: 1\r\n");
	assert_int_equal(decode_into(msg, buf, strlen(buf), 0, NULL), EBADMSG);
	assert_int_equal(msg->hdrc, 0);
	assert_null(sip_msg_hdr(msg, SIP_HDR_VIA));
	assert_null(sip_msg_hdr_byname(msg, "From"));

	/* a good decode after bad ones */
	build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "");
	assert_int_equal(decode_into(msg, buf, strlen(buf), 0, NULL), 0);
	assert_int_equal(sip_msg_check(msg), 0);
	assert_null(msg->error);

	/* stream: "need more data" leaves nothing, the message is not there yet */
	build(buf, sizeof(buf), INVITE_LINE, SKIP_NONE, "Content-Length: 10\r\n");
	assert_int_equal(decode_into(msg, buf, strlen(buf), SIP_DECODE_STREAM, NULL), ENODATA);
	assert_null(msg->base);
	assert_null(msg->mb);
	assert_int_equal(msg->hdrc, 0);
	assert_int_equal(sip_msg_check(msg), EINVAL);
	mem_deref(msg);

	/* bad arguments */
	assert_int_equal(sip_msg_alloc(NULL), EINVAL);
	assert_int_equal(sip_msg_alloc(&msg), 0);
	assert_int_equal(sip_msg_decode(msg, NULL, 0, 0, NULL), EINVAL);
	assert_int_equal(sip_msg_decode_raw(msg, NULL, 5, 0, NULL), EINVAL);
	assert_int_equal(sip_msg_check(msg), EINVAL);
	{
		struct buf *mb;

		assert_int_equal(buf_from_mem(&mb, "abc", 3), 0);
		assert_int_equal(sip_msg_decode(msg, mb, 4, 0, NULL), EINVAL);
		mem_deref(mb);
	}
	mem_deref(msg);
}

/* ----------------------------------------------------------- leaks and OOM */

static void test_buffer_reference(void **state)
{
	size_t len;
	char *data = fixture_load("03-register-200.sip", &len);
	struct sip_msg *msg;
	struct buf *mb;
	size_t before = mem_nalloc();

	(void)state;
	assert_int_equal(sip_msg_alloc(&msg), 0);
	assert_int_equal(buf_from_mem(&mb, data, len), 0);
	assert_int_equal(mem_nalloc(), before + 2);
	assert_int_equal(sip_msg_decode(msg, mb, 0, 0, NULL), 0);
	assert_int_equal(mem_nrefs(mb), 2);
	mem_deref(mb);
	assert_int_equal(mem_nalloc(), before + 2);   /* the message holds the buffer */
	assert_int_equal(sip_msg_check(msg), 0);
	sip_msg_reset(msg);
	assert_int_equal(mem_nalloc(), before + 1);
	assert_null(msg->mb);
	mem_deref(msg);
	assert_int_equal(mem_nalloc(), before);
	free(data);
}

static int oom_round(const char *data, size_t len, char *out, size_t size, size_t *outlen)
{
	struct sip_msg *msg = NULL;
	struct buf *mb = NULL;
	struct pl big, body, mf = PL("69");
	struct text t = { 0 };
	struct wbuf wb;
	int err;

	text_str(&t, "SIP/2.0/UDP sbc.example.net;branch=z9hG4bK");
	text_fill(&t, 'o', 900);
	big.l = t.len;
	text_fill(&t, 'b', 1500);
	big.p = t.p;
	body.p = t.p + big.l;
	body.l = 1500;
	err = sip_msg_alloc(&msg);
	if (err)
		goto out;
	err = buf_from_mem(&mb, data, len);
	if (err)
		goto out;
	err = sip_msg_decode(msg, mb, 0, 0, NULL);
	if (err)
		goto out;
	err = sip_msg_hdr_add(msg, sip_msg_hdr(msg, SIP_HDR_VIA), "Via", &big);
	if (!err)
		err = sip_msg_hdr_set(msg, sip_msg_hdr(msg, SIP_HDR_MAX_FORWARDS), &mf);
	if (err)
		goto out;
	err = sip_msg_body_set(msg, &body);
	if (err)
		goto out;
	wbuf_init(&wb, out, size);
	err = sip_msg_encode(msg, &wb);
	*outlen = wb.len;
 out:
	mem_deref(mb);
	mem_deref(msg);
	free(t.p);
	return err;
}

static void test_oom(void **state)
{
	size_t len, n = 0, ref_len = 0;
	char *data = fixture_load("23-invite-sdp-bria.sip", &len);
	char *ref = malloc(8192), *out = malloc(8192);
	size_t start = mem_nalloc();
	long i;
	int err = ENOMEM;

	(void)state;
	assert_non_null(ref);
	assert_non_null(out);
	assert_int_equal(oom_round(data, len, ref, 8192, &ref_len), 0);
	for (i = 0; i < 64; i++) {
		mem_fail_after(i);
		err = oom_round(data, len, out, 8192, &n);
		mem_fail_after(-1);
		assert_int_equal(mem_nalloc(), start);
		if (!err)
			break;
		assert_int_equal(err, ENOMEM);
	}
	assert_int_equal(err, 0);
	assert_true(i >= 4);   /* message, buffer and two arena growths failed on the way */
	assert_int_equal(n, ref_len);
	assert_memory_equal(out, ref, n);
	free(ref);
	free(out);
	free(data);
}

/* The OOM loop over every fixture with a plain edit set. */
static void test_oom_fixtures(void **state)
{
	char out[4096];

	(void)state;
	for (size_t f = 0; f < ARRAY_SIZE(fixtures); f++) {
		size_t len, start = mem_nalloc();
		char *data = fixture_load(fixtures[f].file, &len);
		int err = ENOMEM;
		long i;

		for (i = 0; i < 16 && err; i++) {
			struct sip_msg *msg = NULL;
			struct buf *mb = NULL;
			struct pl v = PL("sbc");
			struct wbuf wb;

			mem_fail_after(i);
			err = sip_msg_alloc(&msg);
			if (!err)
				err = buf_from_mem(&mb, data, len);
			if (!err)
				err = sip_msg_decode(msg, mb, 0, 0, NULL);
			if (!err)
				err = sip_msg_hdr_add(msg, NULL, "X-Sbc", &v);
			if (!err) {
				wbuf_init(&wb, out, sizeof(out));
				err = sip_msg_encode(msg, &wb);
			}
			mem_fail_after(-1);
			mem_deref(mb);
			mem_deref(msg);
			assert_int_equal(mem_nalloc(), start);
			assert_true(err == 0 || err == ENOMEM);
		}
		assert_int_equal(err, 0);
		assert_int_equal(i, 4);
		free(data);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, leak_setup, leak_teardown)
		T(test_fixtures_all_listed),
		T(test_fixtures_decode_encode),
		T(test_fixtures_stream),
		T(test_fixtures_stream_concat),
		T(test_fixture_11_unknown_and_folded),
		T(test_fixture_rpid_14_17),
		T(test_fixture_17_session_timer),
		T(test_fixture_21_reason),
		T(test_fixture_23_body),
		T(test_edit_remove),
		T(test_edit_replace_folded),
		T(test_edit_add),
		T(test_edit_ruri_and_contact),
		T(test_edit_body),
		T(test_edit_body_splice),
		T(test_edit_clen_added),
		T(test_edit_injection),
		T(test_edit_clen_refused),
		T(test_edit_overlap),
		T(test_edit_nospace),
		T(test_edit_limit),
		T(test_edit_bounds),
		T(test_start_line_bad),
		T(test_start_line_versions),
		T(test_missing_mandatory),
		T(test_duplicates),
		T(test_bad_mandatory),
		T(test_content_length),
		T(test_nul_and_bare_cr),
		T(test_long_lines),
		T(test_header_count),
		T(test_uri_escapes),
		T(test_uri_forms),
		T(test_compact_forms),
		T(test_names_any_case),
		T(test_folding),
		T(test_addr_forms),
		T(test_route_via_iteration),
		T(test_ipv6_message),
		T(test_value_limits),
		T(test_block_and_arena_limits),
		T(test_small_fields),
		T(test_digest_forms),
		T(test_unknown_method_and_headers),
		T(test_keepalive_and_bare_lf),
		T(test_failed_decode_state),
		T(test_buffer_reference),
		T(test_oom),
		T(test_oom_fixtures),
#undef T
	};

	return cmocka_run_group_tests_name("sip", tests, NULL, NULL);
}
