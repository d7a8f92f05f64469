/* test_topo: topology hiding: Contact tokens, the header policy and the leak checker, with timings. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b2bua/b2bua_int.h"

static size_t nalloc_start;

static int setup(void **state)
{
	(void)state;
	nalloc_start = mem_nalloc();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	mem_fail_after(-1);
	if (mem_nalloc() != nalloc_start) {
		print_error("leak: %zu allocations live, %zu at start\n", mem_nalloc(), nalloc_start);
		return -1;
	}
	return 0;
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

/* ---- tokens ---- */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The test's own base64url, to flip bits of the raw token and spell it again. */
static void raw_of(const char *text, uint8_t raw[TOKEN_RAW_LEN])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < TOKEN_TEXT_LEN; i++) {
		const char *c = strchr(b64url, text[i]);

		assert_non_null(c);
		acc = (acc << 6) | (uint32_t)(c - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			raw[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	assert_int_equal(o, TOKEN_RAW_LEN);
}

static void text_of(const uint8_t raw[TOKEN_RAW_LEN], char text[TOKEN_TEXT_SIZE])
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < TOKEN_RAW_LEN; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			text[o++] = b64url[(acc >> bits) & 63];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits)
		text[o++] = b64url[(acc << (6 - bits)) & 63];
	text[o] = '\0';
	assert_int_equal(o, TOKEN_TEXT_LEN);
}

static int decode_str(const struct token_key *k, const char *s, size_t n, struct b2bua_token *t)
{
	struct pl pl = { s, n };

	return token_decode(k, &pl, t);
}

static void assert_token_eq(const struct b2bua_token *a, const struct b2bua_token *b)
{
	assert_true(a->id == b->id);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->zone, b->zone);
	assert_int_equal(a->leg, b->leg);
	assert_int_equal(a->epoch, b->epoch);
}

static void test_token_roundtrip(void **state)
{
	static const struct b2bua_token tv[] = {
		{ 0, 0, 0, 0, 0 },
		{ 1, TOKEN_KIND_DIALOG, ZONE_PUBLIC, 0, 1 },
		{ 0x0123456789abcdefULL, TOKEN_KIND_DIALOG, ZONE_PRIVATE, 1, 0xdeadbeef },
		{ UINT64_MAX, TOKEN_KIND_BINDING, ZONE_PUBLIC, 0, UINT32_MAX },
		{ UINT64_MAX, TOKEN_KIND_MAX, TOKEN_ZONE_MAX, TOKEN_LEG_MAX, 42 },
	};
	struct token_key *k;
	char a[TOKEN_TEXT_SIZE], b[TOKEN_TEXT_SIZE], uri[128];

	(void)state;
	assert_int_equal(token_key_alloc(&k), 0);
	for (size_t i = 0; i < ARRAY_SIZE(tv); i++) {
		struct b2bua_token t;
		struct sip_uri u;
		struct pl pl;

		memset(&t, 0xa5, sizeof(t));
		assert_int_equal(token_encode(k, &tv[i], a, sizeof(a)), 0);
		assert_int_equal(strlen(a), TOKEN_TEXT_LEN);
		assert_true(TOKEN_TEXT_LEN <= 51);
		assert_int_equal(strspn(a, b64url), TOKEN_TEXT_LEN);
		assert_int_equal(decode_str(k, a, strlen(a), &t), 0);
		assert_token_eq(&t, &tv[i]);

		/* a fresh nonce each time: the same token never reads the same twice */
		assert_int_equal(token_encode(k, &tv[i], b, sizeof(b)), 0);
		assert_string_not_equal(a, b);
		assert_int_equal(decode_str(k, b, strlen(b), &t), 0);
		assert_token_eq(&t, &tv[i]);

		/* a legal SIP URI user part, taken back out whole */
		snprintf(uri, sizeof(uri), "sip:%s@203.0.113.1", a);
		pl = pl_from_str(uri);
		assert_int_equal(sip_uri_decode(&u, &pl), 0);
		assert_true(u.is_sip);
		assert_int_equal(u.user.l, TOKEN_TEXT_LEN);
		assert_memory_equal(u.user.p, a, TOKEN_TEXT_LEN);
		assert_true(pl_eq_str(&u.host, "203.0.113.1"));
		assert_int_equal(decode_str(k, u.user.p, u.user.l, &t), 0);
		assert_token_eq(&t, &tv[i]);
	}
	assert_int_equal(token_key_uses(k), 2 * ARRAY_SIZE(tv));
	mem_deref(k);
}

static void test_token_bad_args(void **state)
{
	struct b2bua_token t = { 7, TOKEN_KIND_DIALOG, 0, 0, 0 }, bad;
	struct token_key *k;
	char out[TOKEN_TEXT_SIZE];
	struct pl pl = PL("x");

	(void)state;
	assert_int_equal(token_key_alloc(NULL), EINVAL);
	assert_int_equal(token_key_alloc(&k), 0);
	assert_int_equal(token_encode(k, &t, out, TOKEN_TEXT_LEN), ENOSPC);
	bad = t;
	bad.kind = TOKEN_KIND_MAX + 1;
	assert_int_equal(token_encode(k, &bad, out, sizeof(out)), EINVAL);
	bad = t;
	bad.zone = TOKEN_ZONE_MAX + 1;
	assert_int_equal(token_encode(k, &bad, out, sizeof(out)), EINVAL);
	bad = t;
	bad.leg = TOKEN_LEG_MAX + 1;
	assert_int_equal(token_encode(k, &bad, out, sizeof(out)), EINVAL);
	assert_int_equal(token_encode(NULL, &t, out, sizeof(out)), EINVAL);
	assert_int_equal(token_decode(NULL, &pl, &t), EINVAL);
	assert_int_equal(token_decode(k, NULL, &t), EINVAL);
	assert_int_equal(token_decode(k, &pl, NULL), EINVAL);
	assert_int_equal(token_key_rotate(NULL), EINVAL);
	token_key_retire(NULL);
	assert_int_equal(token_key_uses(k), 0);
	mem_deref(k);
}

/* Every altered spelling of a token is refused: bits of the text, bits of the raw bytes, lengths. */
static void test_token_tamper(void **state)
{
	struct b2bua_token t = { 0x1122334455667788ULL, TOKEN_KIND_DIALOG, 1, 1, 99 }, got;
	struct token_key *k;
	char text[TOKEN_TEXT_SIZE], alt[TOKEN_TEXT_SIZE + 2];
	uint8_t raw[TOKEN_RAW_LEN];
	unsigned refused = 0;

	(void)state;
	assert_int_equal(token_key_alloc(&k), 0);
	assert_int_equal(token_encode(k, &t, text, sizeof(text)), 0);

	/* each single bit of each character */
	for (size_t i = 0; i < TOKEN_TEXT_LEN; i++) {
		for (unsigned b = 0; b < 8; b++) {
			memcpy(alt, text, sizeof(text));
			alt[i] = (char)(alt[i] ^ (1 << b));
			assert_int_equal(decode_str(k, alt, TOKEN_TEXT_LEN, &got), EBADMSG);
			refused++;
		}
	}
	/* each single bit of the 38 raw bytes, spelled correctly */
	raw_of(text, raw);
	for (size_t i = 0; i < TOKEN_RAW_LEN; i++) {
		for (unsigned b = 0; b < 8; b++) {
			raw[i] ^= (uint8_t)(1 << b);
			text_of(raw, alt);
			assert_int_equal(decode_str(k, alt, TOKEN_TEXT_LEN, &got), EBADMSG);
			raw[i] ^= (uint8_t)(1 << b);
			refused++;
		}
	}
	text_of(raw, alt);
	assert_string_equal(alt, text);
	assert_int_equal(refused, TOKEN_TEXT_LEN * 8 + TOKEN_RAW_LEN * 8);

	/* the unused low bits of the last character: another spelling of the same bytes */
	memcpy(alt, text, sizeof(text));
	alt[TOKEN_TEXT_LEN - 1] = b64url[(strchr(b64url, alt[TOKEN_TEXT_LEN - 1]) - b64url) | 1];
	assert_int_equal(decode_str(k, alt, TOKEN_TEXT_LEN, &got), EBADMSG);

	/* truncations, an extra character, empty */
	for (size_t n = 0; n < TOKEN_TEXT_LEN; n++)
		assert_int_equal(decode_str(k, text, n, &got), EBADMSG);
	memcpy(alt, text, TOKEN_TEXT_LEN);
	alt[TOKEN_TEXT_LEN] = 'A';
	assert_int_equal(decode_str(k, alt, TOKEN_TEXT_LEN + 1, &got), EBADMSG);
	assert_int_equal(decode_str(k, NULL, 0, &got), EBADMSG);

	/* junk: random base64url text of the right length, and random bytes */
	srand(4711);
	for (unsigned n = 0; n < 20000; n++) {
		for (size_t i = 0; i < TOKEN_TEXT_LEN; i++)
			alt[i] = n & 1 ? b64url[rand() & 63] : (char)(rand() & 0xff);
		alt[0] = text[0];   /* the right key generation byte, mostly */
		alt[1] = n & 2 ? text[1] : alt[1];
		assert_int_equal(decode_str(k, alt, TOKEN_TEXT_LEN, &got), EBADMSG);
	}

	/* the original still decodes */
	assert_int_equal(decode_str(k, text, TOKEN_TEXT_LEN, &got), 0);
	assert_token_eq(&got, &t);
	mem_deref(k);
}

static void test_token_other_key(void **state)
{
	static const uint8_t key[TOKEN_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	struct b2bua_token t = { 5, TOKEN_KIND_BINDING, 0, 0, 7 }, got;
	struct token_key *a, *b, *c, *d;
	char text[TOKEN_TEXT_SIZE];

	(void)state;
	assert_int_equal(token_key_alloc(&a), 0);
	assert_int_equal(token_key_alloc(&b), 0);
	assert_int_equal(token_encode(a, &t, text, sizeof(text)), 0);
	/* same generation byte (0), other key: the tag fails */
	assert_int_equal(decode_str(b, text, TOKEN_TEXT_LEN, &got), EBADMSG);
	assert_int_equal(decode_str(a, text, TOKEN_TEXT_LEN, &got), 0);

	/* the given-key hook: two sets from the same bytes read each other's tokens */
	assert_int_equal(token_key_alloc_with(&c, NULL), EINVAL);
	assert_int_equal(token_key_alloc_with(&c, key), 0);
	assert_int_equal(token_key_alloc_with(&d, key), 0);
	assert_int_equal(token_encode(c, &t, text, sizeof(text)), 0);
	assert_int_equal(decode_str(d, text, TOKEN_TEXT_LEN, &got), 0);
	assert_token_eq(&got, &t);
	assert_int_equal(decode_str(a, text, TOKEN_TEXT_LEN, &got), EBADMSG);
	mem_deref(a);
	mem_deref(b);
	mem_deref(c);
	mem_deref(d);
}

static void test_token_rotation(void **state)
{
	struct b2bua_token t0 = { 100, TOKEN_KIND_DIALOG, 0, 0, 0 }, t1 = t0, t2 = t0, got;
	struct token_key *k;
	char s0[TOKEN_TEXT_SIZE], s1[TOKEN_TEXT_SIZE], s2[TOKEN_TEXT_SIZE];

	(void)state;
	t1.id = 101;
	t2.id = 102;
	assert_int_equal(token_key_alloc(&k), 0);
	assert_int_equal(token_encode(k, &t0, s0, sizeof(s0)), 0);

	assert_int_equal(token_key_rotate(k), 0);
	assert_int_equal(token_key_uses(k), 0);
	assert_int_equal(token_encode(k, &t1, s1, sizeof(s1)), 0);
	assert_true(s0[0] != s1[0] || s0[1] != s1[1]);   /* the generation byte moved */
	assert_int_equal(decode_str(k, s0, TOKEN_TEXT_LEN, &got), 0);   /* previous: in grace */
	assert_true(got.id == 100);
	assert_int_equal(decode_str(k, s1, TOKEN_TEXT_LEN, &got), 0);
	assert_true(got.id == 101);

	assert_int_equal(token_key_rotate(k), 0);
	assert_int_equal(token_encode(k, &t2, s2, sizeof(s2)), 0);
	assert_int_equal(decode_str(k, s0, TOKEN_TEXT_LEN, &got), EBADMSG);   /* two back: gone */
	assert_int_equal(decode_str(k, s1, TOKEN_TEXT_LEN, &got), 0);
	assert_int_equal(decode_str(k, s2, TOKEN_TEXT_LEN, &got), 0);

	token_key_retire(k);   /* end of the grace period */
	assert_int_equal(decode_str(k, s1, TOKEN_TEXT_LEN, &got), EBADMSG);
	assert_int_equal(decode_str(k, s2, TOKEN_TEXT_LEN, &got), 0);
	assert_true(got.id == 102);

	/* 256 rotations bring the generation byte round again: the key still differs */
	for (unsigned i = 0; i < 256; i++)
		assert_int_equal(token_key_rotate(k), 0);
	assert_int_equal(decode_str(k, s2, TOKEN_TEXT_LEN, &got), EBADMSG);
	mem_deref(k);
}

static void test_token_oom(void **state)
{
	struct token_key *k = NULL;
	int err = ENOMEM;
	long i;

	(void)state;
	for (i = 0; i < 16 && err; i++) {
		mem_fail_after(i);
		err = token_key_alloc(&k);
		mem_fail_after(-1);
		assert_int_equal(mem_nalloc(), nalloc_start + (err ? 0 : 1));
		if (err)
			assert_int_equal(err, ENOMEM);
	}
	assert_int_equal(err, 0);
	assert_true(i >= 2);
	mem_deref(k);
}

/* ---- header policy ---- */

static struct sip_msg *msg_of(const char *text, size_t len)
{
	struct sip_msg *m;

	assert_int_equal(sip_msg_alloc(&m), 0);
	assert_int_equal(sip_msg_decode_raw(m, text, len, 0, NULL), 0);
	return m;
}

/* A request made of our own start line and dialog headers plus what the policy wrote. */
static struct sip_msg *assemble(char *buf, size_t size, const char *block, size_t blen)
{
	struct wbuf wb;
	struct sip_msg *m;

	wbuf_init(&wb, buf, size);
	assert_int_equal(wbuf_put_str(&wb, "INVITE sip:alice@203.0.113.9 SIP/2.0\r\n"
				      "Via: SIP/2.0/UDP 203.0.113.1;branch=z9hG4bK-sbc1\r\n"
				      "Max-Forwards: 69\r\n"
				      "From: <sip:bob@203.0.113.1>;tag=s1\r\n"
				      "To: <sip:alice@203.0.113.9>\r\n"
				      "Call-ID: sbc-1\r\n"
				      "CSeq: 1 INVITE\r\n"
				      "Contact: <sip:tok@203.0.113.1>\r\n"), 0);
	assert_int_equal(wbuf_put(&wb, block, blen), 0);
	assert_int_equal(wbuf_put_str(&wb, "Content-Length: 0\r\n\r\n"), 0);
	m = msg_of(buf, wb.len);
	assert_int_equal(sip_msg_check(m), 0);
	return m;
}

static void test_policy_fixture_public(void **state)
{
	struct hdr_policy *p;
	struct sip_msg *in, *out;
	struct leak_checker *l;
	const struct sip_hdr *h;
	struct sip_addr a;
	char block[4096], whole[8192];
	const char *where;
	size_t len;
	char *fx = fixture_load("11-invite-b.sip", &len);
	struct wbuf wb;

	(void)state;
	in = msg_of(fx, len);
	assert_int_equal(hdr_policy_alloc(&p, ZONE_PUBLIC, "sbc-test/1.0"), 0);
	wbuf_init(&wb, block, sizeof(block));
	assert_int_equal(hdr_policy_write(p, in, "203.0.113.1", 0, &wb), 0);
	block[wb.len] = '\0';

	assert_null(strstr(block, "X-FS-Support"));
	assert_null(strstr(block, "FreeSWITCH"));
	assert_non_null(strstr(block, "User-Agent: sbc-test/1.0\r\n"));
	assert_non_null(strstr(block, "Remote-Party-ID: \"Bob\" <sip:Bob@203.0.113.1>;party=calling;"
				      "screen=yes;privacy=off\r\n"));
	/* folded headers come out as one line each */
	assert_non_null(strstr(block, "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, UPDATE, "
				      "INFO, REGISTER, REFER, NOTIFY, PUBLISH, SUBSCRIBE\r\n"));
	assert_non_null(strstr(block, "Supported: timer, precondition, path, replaces\r\n"));
	assert_non_null(strstr(block, "Allow-Events: talk, presence, dialog, line-seize"));
	/* what the B2BUA writes itself never comes from the policy */
	assert_null(strstr(block, "Via:"));
	assert_null(strstr(block, "Route:"));
	assert_null(strstr(block, "Contact:"));
	assert_null(strstr(block, "Call-ID:"));
	assert_null(strstr(block, "CSeq:"));
	assert_null(strstr(block, "From:"));
	assert_null(strstr(block, "To:"));
	assert_null(strstr(block, "Max-Forwards:"));
	assert_null(strstr(block, "Content-Length:"));
	assert_null(strstr(block, "192.168.4.4"));

	/* everything kept decodes, in a whole message that passes the leak checker */
	out = assemble(whole, sizeof(whole), block, wb.len);
	h = sip_msg_hdr(out, SIP_HDR_REMOTE_PARTY_ID);
	assert_non_null(h);
	assert_int_equal(sip_addr_decode(&a, &h->val), 0);
	assert_true(pl_eq_str(&a.uri.host, "203.0.113.1"));
	assert_int_equal(sip_msg_hdr_count(out, SIP_HDR_USER_AGENT), 1);
	assert_int_equal(sip_msg_hdr_count(out, SIP_HDR_ALLOW), 1);
	assert_int_equal(leak_checker_alloc(&l, NULL), 0);
	assert_int_equal(leak_checker_add(l, "192.168.4.4"), 0);
	assert_int_equal(leak_check(l, out->base, out->len, 0, &where), 0);
	assert_null(where);
	/* while the fixture itself would have been refused */
	assert_int_equal(leak_check(l, fx, len, 0, &where), EACCES);
	assert_string_equal(where, "start-line");

	/* out of room: nothing written */
	wbuf_init(&wb, block, 64);
	assert_int_equal(hdr_policy_write(p, in, "203.0.113.1", 0, &wb), ENOSPC);
	assert_int_equal(wb.len, 0);
	/* a host that is not a host */
	wbuf_init(&wb, block, sizeof(block));
	assert_int_equal(hdr_policy_write(p, in, "evil\r\nX: y", 0, &wb), EINVAL);
	/* no host while something needs one */
	assert_int_equal(hdr_policy_write(p, in, NULL, 0, &wb), EINVAL);
	assert_int_equal(wb.len, 0);

	mem_deref(l);
	mem_deref(out);
	mem_deref(in);
	mem_deref(p);
	free(fx);
}

static void test_policy_fixture_private(void **state)
{
	struct hdr_policy *p;
	struct sip_msg *in, *out;
	char block[4096], whole[8192];
	size_t len;
	char *fx = fixture_load("11-invite-b.sip", &len);
	struct wbuf wb;

	(void)state;
	in = msg_of(fx, len);
	assert_int_equal(hdr_policy_alloc(&p, ZONE_PRIVATE, "sbc-test/1.0"), 0);

	/* from an untrusted source: the identity assertion does not cross */
	wbuf_init(&wb, block, sizeof(block));
	assert_int_equal(hdr_policy_write(p, in, NULL, 0, &wb), 0);
	block[wb.len] = '\0';
	assert_non_null(strstr(block, "X-FS-Support: update_display\r\n"));
	assert_non_null(strstr(block, "User-Agent: FreeSWITCH-mod_sofia/1.0.trunk-16981M\r\n"));
	assert_null(strstr(block, "Remote-Party-ID"));
	assert_null(strstr(block, "sbc-test"));
	assert_null(strstr(block, "Via:"));
	assert_null(strstr(block, "Contact:"));

	/* from a trusted peer: kept as it was */
	wbuf_init(&wb, block, sizeof(block));
	assert_int_equal(hdr_policy_write(p, in, "10.20.0.10", HDR_POLICY_F_TRUSTED, &wb), 0);
	block[wb.len] = '\0';
	assert_non_null(strstr(block, "Remote-Party-ID: \"Bob\" <sip:Bob@192.168.4.4>;party=calling;"
				      "screen=yes;privacy=off\r\n"));
	assert_non_null(strstr(block, "X-FS-Support: update_display\r\n"));
	out = assemble(whole, sizeof(whole), block, wb.len);
	assert_int_equal(sip_msg_hdr_count(out, SIP_HDR_REMOTE_PARTY_ID), 1);
	assert_int_equal(sip_msg_hdr_count(out, SIP_HDR_SUPPORTED), 1);
	assert_non_null(sip_msg_hdr_byname(out, "X-FS-Support"));
	mem_deref(out);
	mem_deref(in);
	mem_deref(p);
	free(fx);
}

static const char rich[] =
	"INVITE sip:alice@203.0.113.9 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 10.20.0.5;branch=z9hG4bK-1\r\n"
	"From: <sip:100@pbx.corp.internal>;tag=1\r\n"
	"To: <sip:alice@203.0.113.9>\r\n"
	"Call-ID: c1@10.20.0.5\r\n"
	"CSeq: 1 INVITE\r\n"
	"Max-Forwards: 70\r\n"
	"P-Asserted-Identity: \"Reception\" <sip:100@pbx.corp.internal:5080;maddr=10.20.0.5;user=phone>, <tel:+4930100>\r\n"
	"Diversion: <sip:200@[fd00::5]:5060>;reason=unconditional;counter=1\r\n"
	"History-Info: <sip:300@pbx.corp.internal?Reason=SIP%3Bcause%3D302>;index=1,\r\n"
	" <sip:alice@10.20.0.5>;index=1.1\r\n"
	"Alert-Info: <http://10.20.0.5/ring.wav>, <urn:alert:service:call-waiting>\r\n"
	"Call-Info: <http://pbx.corp.internal/photo.jpg>;purpose=icon\r\n"
	"Error-Info: <sip:not-in-service@10.20.0.5>\r\n"
	"Warning: 399 pbx.corp.internal \"Incompatible\"\r\n"
	"Organization: ACME Corp\r\n"
	"Server: Asterisk PBX 18\r\n"
	"Server: second\r\n"
	"X-Asterisk-HangupCause: Normal\r\n"
	"P-Charging-Vector: icid-value=1;icid-generated-at=10.20.0.5\r\n"
	"In-Reply-To: 70710@10.20.0.5\r\n"
	"Timestamp: 54\r\n"
	"Subject: hello\r\n"
	"Referred-By: <sip:100@pbx.corp.internal>\r\n"
	"Reply-To: Bob <sip:bob@pbx.corp.internal>\r\n"
	"Reason: Q.850;cause=16\r\n"
	"Proxy-Authorization: Digest username=\"100\", realm=\"corp\", nonce=\"n\", uri=\"sip:alice@203.0.113.9\", response=\"0123456789abcdef0123456789abcdef\"\r\n"
	"Content-Length: 0\r\n\r\n";

static void test_policy_rich_public(void **state)
{
	struct hdr_policy *p;
	struct sip_msg *in, *out;
	struct leak_checker *l;
	char block[4096], whole[8192];
	const char *where;
	struct wbuf wb;

	(void)state;
	in = msg_of(rich, strlen(rich));
	assert_int_equal(hdr_policy_alloc(&p, ZONE_PUBLIC, "sbc"), 0);
	wbuf_init(&wb, block, sizeof(block));
	assert_int_equal(hdr_policy_write(p, in, "203.0.113.1:5060", 0, &wb), 0);
	block[wb.len] = '\0';

	/* identities: host:port replaced, maddr gone, tel: kept */
	assert_non_null(strstr(block, "P-Asserted-Identity: \"Reception\" "
				      "<sip:100@203.0.113.1:5060;user=phone>, <tel:+4930100>\r\n"));
	assert_non_null(strstr(block, "Diversion: <sip:200@203.0.113.1:5060>;reason=unconditional;"
				      "counter=1\r\n"));
	assert_non_null(strstr(block, "History-Info: <sip:300@203.0.113.1:5060?Reason=SIP%3Bcause%3D302>"
				      ";index=1, <sip:alice@203.0.113.1:5060>;index=1.1\r\n"));
	assert_non_null(strstr(block, "Referred-By: <sip:100@203.0.113.1:5060>\r\n"));
	assert_non_null(strstr(block, "Reply-To: Bob <sip:bob@203.0.113.1:5060>\r\n"));
	/* URLs removed, URNs kept */
	assert_non_null(strstr(block, "Alert-Info: <urn:alert:service:call-waiting>\r\n"));
	assert_null(strstr(block, "Call-Info"));
	assert_null(strstr(block, "Error-Info"));
	/* dropped */
	assert_null(strstr(block, "Warning"));
	assert_null(strstr(block, "Organization"));
	assert_null(strstr(block, "X-Asterisk"));
	assert_null(strstr(block, "P-Charging-Vector"));
	assert_null(strstr(block, "In-Reply-To"));
	assert_null(strstr(block, "Timestamp"));
	/* replaced once */
	assert_non_null(strstr(block, "Server: sbc\r\n"));
	assert_null(strstr(block, "Asterisk"));
	assert_null(strstr(block, "second"));
	assert_ptr_equal(strstr(block, "Server:"), strstr(block, "Server: sbc\r\n"));
	assert_null(strstr(strstr(block, "Server:") + 1, "Server:"));
	/* copied */
	assert_non_null(strstr(block, "Subject: hello\r\n"));
	assert_non_null(strstr(block, "Reason: Q.850;cause=16\r\n"));
	assert_non_null(strstr(block, "Proxy-Authorization: Digest username=\"100\""));

	/* and nothing of the private side is left */
	out = assemble(whole, sizeof(whole), block, wb.len);
	assert_int_equal(sip_msg_hdr_count(out, SIP_HDR_SERVER), 1);
	assert_int_equal(sip_msg_hdr_count(out, SIP_HDR_HISTORY_INFO), 1);
	assert_int_equal(leak_checker_alloc(&l, NULL), 0);
	assert_int_equal(leak_checker_add(l, "10.20.0.0/24"), 0);
	assert_int_equal(leak_checker_add(l, "fd00::/8"), 0);
	assert_int_equal(leak_checker_add(l, "corp.internal"), 0);
	assert_int_equal(leak_check(l, out->base, out->len, 0, &where), 0);
	assert_int_equal(leak_check(l, rich, strlen(rich), 0, &where), EACCES);
	assert_string_equal(where, "Via");
	mem_deref(l);
	mem_deref(out);

	/* with "Privacy: id" the identities do not go out at all */
	{
		static const char priv[] =
			"INVITE sip:alice@203.0.113.9 SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 10.20.0.5;branch=z9hG4bK-1\r\n"
			"Privacy: header;ID\r\n"
			"P-Asserted-Identity: <sip:100@pbx.corp.internal>\r\n"
			"Remote-Party-ID: <sip:100@pbx.corp.internal>;party=calling\r\n"
			"Content-Length: 0\r\n\r\n";
		struct sip_msg *m = msg_of(priv, strlen(priv));

		wbuf_init(&wb, block, sizeof(block));
		assert_int_equal(hdr_policy_write(p, m, "203.0.113.1", 0, &wb), 0);
		block[wb.len] = '\0';
		assert_string_equal(block, "Privacy: header;ID\r\n");
		mem_deref(m);
	}
	/* an identity that cannot be parsed is dropped whole, as is one of another scheme */
	{
		static const char bad[] =
			"INVITE sip:alice@203.0.113.9 SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 10.20.0.5;branch=z9hG4bK-1\r\n"
			"P-Asserted-Identity: <sip:100@pbx.corp.internal>, garbage<<\r\n"
			"Diversion: <http://pbx.corp.internal/x>\r\n"
			"Referred-By: <sip:ok@pbx.corp.internal>\r\n"
			"Content-Length: 0\r\n\r\n";
		struct sip_msg *m = msg_of(bad, strlen(bad));

		wbuf_init(&wb, block, sizeof(block));
		assert_int_equal(hdr_policy_write(p, m, "[2001:db8::1]", 0, &wb), 0);
		block[wb.len] = '\0';
		assert_string_equal(block, "Referred-By: <sip:ok@[2001:db8::1]>\r\n");
		mem_deref(m);
	}
	mem_deref(in);
	mem_deref(p);
}

static void test_policy_overrides(void **state)
{
	static const char msg[] =
		"SIP/2.0 200 OK\r\n"
		"Via: SIP/2.0/UDP 203.0.113.7;branch=z9hG4bK-1\r\n"
		"X-Keep: 1\r\n"
		"x-keep: 2\r\n"
		"X-Acme-Trace: t\r\n"
		"X-Other: o\r\n"
		"P-Early-Media: supported\r\n"
		"Subject: s\r\n"
		"Server: Vendor 1\r\n"
		"Unknown-Header: u\r\n"
		"Target-Dialog: abc@10.20.0.5;local-tag=1;remote-tag=2\r\n"
		"join: abc@10.20.0.5;from-tag=1;to-tag=2\r\n"
		"k: 100rel\r\n"
		"Content-Length: 0\r\n\r\n";
	struct hdr_policy *p, *q;
	struct sip_msg *m;
	char block[2048];
	struct wbuf wb;
	struct sip_hdr h = { .name = PL("X-Foo"), .id = SIP_HDR_OTHER };
	struct sip_hdr via = { .name = PL("v"), .id = SIP_HDR_VIA };

	(void)state;
	assert_int_equal(hdr_policy_alloc(&p, ZONE_COUNT, "x"), EINVAL);
	assert_int_equal(hdr_policy_alloc(&p, ZONE_PUBLIC, "bad\r\nX-Injected: 1"), EINVAL);
	assert_int_equal(hdr_policy_alloc(&p, ZONE_PUBLIC, NULL), EINVAL);
	assert_int_equal(hdr_policy_alloc(&p, ZONE_PUBLIC, ""), 0);
	assert_int_equal(hdr_policy_alloc(&q, ZONE_PRIVATE, "sbc"), 0);

	/* the defaults as data */
	assert_int_equal(hdr_policy_action(p, &h), HDR_DROP);
	assert_int_equal(hdr_policy_action(q, &h), HDR_COPY);
	assert_int_equal(hdr_policy_action(p, &via), HDR_OWN);
	assert_int_equal(hdr_policy_action(q, &via), HDR_OWN);
	assert_string_equal(hdr_action_name(HDR_REWRITE_HOST), "rewrite-host");
	assert_string_equal(hdr_action_name(HDR_ACTION__COUNT), "?");

	/* the B2BUA's own headers cannot be opened up */
	assert_int_equal(hdr_policy_set(p, "Via", HDR_COPY), EPERM);
	assert_int_equal(hdr_policy_set(p, "m", HDR_COPY), EPERM);
	assert_int_equal(hdr_policy_set(p, "Record-Route", HDR_COPY), EPERM);
	assert_int_equal(hdr_policy_set(p, "Subject", HDR_OWN), EPERM);
	assert_int_equal(hdr_policy_set(p, "", HDR_COPY), EINVAL);
	assert_int_equal(hdr_policy_set(p, "Bad Name", HDR_COPY), EINVAL);
	assert_int_equal(hdr_policy_set(p, "X-Foo", HDR_ACTION__COUNT), EINVAL);

	assert_int_equal(hdr_policy_set(p, "x-KEEP", HDR_COPY), 0);
	assert_int_equal(hdr_policy_set(p, "X-Acme-*", HDR_COPY), 0);
	assert_int_equal(hdr_policy_set(p, "Subject", HDR_DROP), 0);
	assert_int_equal(hdr_policy_set(p, "Unknown-Header", HDR_DROP), 0);
	assert_int_equal(hdr_policy_set(p, "Unknown-Header", HDR_DROP), 0);   /* same entry */
	assert_int_equal(hdr_policy_set(p, "Supported", HDR_DROP), 0);

	m = msg_of(msg, strlen(msg));
	wbuf_init(&wb, block, sizeof(block));
	assert_int_equal(hdr_policy_write(p, m, NULL, 0, &wb), 0);
	block[wb.len] = '\0';
	assert_string_equal(block, "X-Keep: 1\r\nx-keep: 2\r\nX-Acme-Trace: t\r\n");

	wbuf_init(&wb, block, sizeof(block));
	assert_int_equal(hdr_policy_write(q, m, NULL, 0, &wb), 0);
	block[wb.len] = '\0';
	assert_string_equal(block, "X-Keep: 1\r\nx-keep: 2\r\nX-Acme-Trace: t\r\nX-Other: o\r\n"
				   "Subject: s\r\nServer: Vendor 1\r\nUnknown-Header: u\r\nk: 100rel\r\n");
	wbuf_init(&wb, block, sizeof(block));
	assert_int_equal(hdr_policy_write(q, m, NULL, HDR_POLICY_F_TRUSTED, &wb), 0);
	block[wb.len] = '\0';
	assert_non_null(strstr(block, "P-Early-Media: supported\r\n"));

	/* the override list is bounded */
	for (unsigned i = 0; ; i++) {
		char name[32];
		int err;

		snprintf(name, sizeof(name), "X-N%u", i);
		err = hdr_policy_set(q, name, HDR_DROP);
		if (err) {
			assert_int_equal(err, ENOSPC);
			assert_int_equal(i, HDR_POLICY_OVERRIDES_MAX);
			break;
		}
	}
	mem_deref(m);
	mem_deref(p);
	mem_deref(q);
}

static void test_policy_oom(void **state)
{
	struct hdr_policy *p = NULL;
	int err = ENOMEM;
	long i;

	(void)state;
	for (i = 0; i < 16 && err; i++) {
		mem_fail_after(i);
		err = hdr_policy_alloc(&p, ZONE_PUBLIC, "sbc");
		mem_fail_after(-1);
		if (err)
			assert_int_equal(err, ENOMEM);
		assert_int_equal(mem_nalloc(), nalloc_start + (err ? 0 : 1));
	}
	assert_int_equal(err, 0);
	mem_deref(p);
}

/* ---- leak checker ---- */

static void addr_set(struct config_addr *a, const char *ip)
{
	memset(a, 0, sizeof(*a));
	a->set = true;
	snprintf(a->text, sizeof(a->text), "%s", ip);
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)(void *)&a->ss;

		s6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
		a->sslen = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)(void *)&a->ss;

		s4->sin_family = AF_INET;
		assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
		a->sslen = sizeof(*s4);
	}
}

static const char *const hide[] = { "fileserver.lan", "10.99.0.0/16", "fd00:20::/32" };
static struct config_trunk trunks[2];
static struct sbc_config cfg;

static void cfg_init(void)
{
	memset(&cfg, 0, sizeof(cfg));
	memset(trunks, 0, sizeof(trunks));
	addr_set(&cfg.zones[ZONE_PUBLIC].address, "203.0.113.1");
	addr_set(&cfg.zones[ZONE_PRIVATE].address, "10.20.0.10");
	addr_set(&cfg.zones[ZONE_PRIVATE].media_address, "2001:db8:20::10");
	snprintf(cfg.core.address.name, sizeof(cfg.core.address.name), "pbx.corp.internal");
	cfg.core.hide.n = ARRAY_SIZE(hide);
	cfg.core.hide.v = hide;
	/* a private-zone trunk: hidden; a public-zone trunk: not */
	trunks[0].zone = ZONE_PRIVATE;
	snprintf(trunks[0].address.name, sizeof(trunks[0].address.name), "10.20.0.50");
	addr_set(&trunks[0].address.addr, "10.20.0.50");
	snprintf(trunks[0].domain.name, sizeof(trunks[0].domain.name), "gw.carrier.local");
	trunks[1].zone = ZONE_PUBLIC;
	snprintf(trunks[1].address.name, sizeof(trunks[1].address.name), "sip.provider.example");
	cfg.trunks = trunks;
	cfg.trunk_count = ARRAY_SIZE(trunks);
}

struct leak_case {
	const char *text;
	const char *where;     /* NULL: clean */
};

static void test_leak_needles(void **state)
{
	static const struct leak_case cases[] = {
		/* found */
		{ "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.20.0.10:5060;branch=z9hG4bK1\r\n\r\n", "Via" },
		{ "SIP/2.0 200 OK\r\nm: <sip:bob@10.20.0.10>\r\n\r\n", "Contact" },
		{ "SIP/2.0 200 OK\r\nContact: <sip:bob@10.20.0.10;transport=udp>\r\n\r\n", "Contact" },
		{ "SIP/2.0 200 OK\r\nContent-Length: 24\r\n\r\nv=0\r\nc=IN IP4 10.20.0.10\r\n", "body" },
		{ "SIP/2.0 200 OK\r\n\r\nc=IN IP6 2001:db8:20::10\r\n", "body" },
		{ "SIP/2.0 200 OK\r\n\r\nc=IN IP6 2001:0DB8:0020:0000:0000:0000:0000:0010\r\n", "body" },
		{ "SIP/2.0 200 OK\r\n\r\nc=IN IP6 2001:db8:20:0:0:0:0:10.\r\n", "body" },
		{ "SIP/2.0 200 OK\r\nContact: <sip:a@[2001:db8:20::10]:5060>\r\n\r\n", "Contact" },
		{ "SIP/2.0 200 OK\r\nX-Addr: ::ffff:10.20.0.10\r\n\r\n", "X-Addr" },
		{ "SIP/2.0 200 OK\r\nX-Addr: [fd00:20:1::5]\r\n\r\n", "X-Addr" },
		{ "SIP/2.0 200 OK\r\nWarning: 399 PBX.Corp.Internal \"Incompatible\"\r\n\r\n", "Warning" },
		{ "SIP/2.0 200 OK\r\nCall-Info: <http://a.pbx.corp.internal/x>\r\n\r\n", "Call-Info" },
		{ "SIP/2.0 200 OK\r\nX-Trace: host=pbx.corp.internal.\r\n\r\n", "X-Trace" },
		{ "SIP/2.0 200 OK\r\nHistory-Info: <sip:x?To=100%40pbx.corp.internal>\r\n\r\n",
		  "History-Info" },
		{ "SIP/2.0 200 OK\r\nHistory-Info: <sip:x?To=100%4010.20.0.10>\r\n\r\n", "History-Info" },
		{ "SIP/2.0 200 OK\r\nServer: fileserver.lan\r\n\r\n", "Server" },
		{ "SIP/2.0 200 OK\r\nReason: SIP;text=\"from 10.99.200.1\"\r\n\r\n", "Reason" },
		{ "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP 10.20.0.50\r\n\r\n", "Via" },
		{ "SIP/2.0 200 OK\r\nTo: <sip:x@GW.carrier.local>\r\n\r\n", "To" },
		{ "INVITE sip:bob@10.20.0.10 SIP/2.0\r\n\r\n", "start-line" },
		{ "SIP/2.0 200 OK\r\nAllow: INVITE,\r\n ACK, 10.20.0.10\r\n\r\n", "Allow" },
		{ "SIP/2.0 200 OK\r\nX-Addr: 010.020.000.010\r\n\r\n", "X-Addr" },
		{ "SIP/2.0 200 OK\r\nX-Addr: 10.20.0.10.nip.io\r\n\r\n", "X-Addr" },
		{ "10.20.0.10", "start-line" },
		/* not found: lookalikes */
		{ "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 110.20.0.101:5060\r\n\r\n", NULL },
		{ "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.20.0.100:5060\r\n\r\n", NULL },
		{ "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.20.0.1:5060\r\n\r\n", NULL },
		{ "SIP/2.0 200 OK\r\nX-V: 1.10.20.0.10 10.20.0.10.5 10.20.0.10a 210.20.0.10\r\n\r\n", NULL },
		{ "SIP/2.0 200 OK\r\nX-V: 10.20.0.1010 10-20-0-10 10.20.0\r\n\r\n", NULL },
		{ "SIP/2.0 200 OK\r\nX-V: xpbx.corp.internal pbx.corp.internalx pbx-corp.internal\r\n\r\n",
		  NULL },
		{ "SIP/2.0 200 OK\r\nX-V: my-pbx.corp.internal corp.internal pbx.corp\r\n\r\n", NULL },
		{ "SIP/2.0 200 OK\r\nX-V: 2001:db8:20::100 2001:db8:20::1:10 2001:db8::10\r\n\r\n", NULL },
		{ "SIP/2.0 200 OK\r\nX-V: fd01::1 10.98.255.255 10.100.0.1 sip.provider.example\r\n\r\n",
		  NULL },
		{ "SIP/2.0 200 OK\r\nDate: Sat, 13 Nov 2010 23:29:00 GMT\r\n\r\nfileserver.lanx\r\n", NULL },
		{ "", NULL },
	};
	struct leak_checker *l;
	const char *where;

	(void)state;
	cfg_init();
	assert_int_equal(leak_checker_alloc(&l, &cfg), 0);
	/* 10.20.0.10, 2001:db8:20::10, pbx.corp.internal, 10.20.0.50, gw.carrier.local, 3 hide */
	assert_int_equal(leak_checker_count(l), 8);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct leak_case *c = &cases[i];
		int err = leak_check(l, c->text, strlen(c->text), 0, &where);

		if (c->where) {
			if (err != EACCES)
				print_error("case %zu not found: %s\n", i, c->text);
			assert_int_equal(err, EACCES);
			assert_non_null(where);
			if (strcmp(where, c->where))
				print_error("case %zu: %s, not %s\n", i, where, c->where);
			assert_string_equal(where, c->where);
		} else {
			if (err)
				print_error("case %zu flagged in %s: %s\n", i, where, c->text);
			assert_int_equal(err, 0);
			assert_null(where);
		}
	}
	mem_deref(l);
}

static void test_leak_counters(void **state)
{
	static const char resp[] =
		"SIP/2.0 180 Ringing\r\n"
		"Via: SIP/2.0/UDP 10.20.0.10:5060;branch=z9hG4bK1\r\n"
		"v: SIP/2.0/UDP 10.20.0.10\r\n"
		"From: <sip:a@203.0.113.9>;tag=1\r\n"
		"Contact: <sip:tok@203.0.113.1>\r\n"
		"Warning: 399 pbx.corp.internal \"x\", 399 10.20.0.10 \"y\"\r\n"
		"X-Leak: 10.20.0.10\r\n"
		"Content-Length: 22\r\n"
		"\r\n"
		"o=- 1 1 IN IP4 10.20.0.10\r\n";
	struct leak_checker *l;
	const struct leak_stats *st;
	const char *where;

	(void)state;
	cfg_init();
	assert_int_equal(leak_checker_alloc(&l, &cfg), 0);
	st = leak_checker_stats(l);
	assert_int_equal(leak_check(l, resp, strlen(resp), 0, &where), EACCES);
	assert_string_equal(where, "Via");
	assert_int_equal(st->messages_checked, 1);
	assert_int_equal(st->messages_leaking, 1);
	assert_int_equal(st->messages_blocked, 1);
	assert_int_equal(st->hits_by_header[SIP_HDR_VIA], 2);
	assert_int_equal(st->hits_by_header[SIP_HDR_WARNING], 2);
	assert_int_equal(st->hits_by_header[SIP_HDR_OTHER], 1);
	assert_int_equal(st->hits_by_header[SIP_HDR_CONTACT], 0);
	assert_int_equal(st->hits_body, 1);
	assert_int_equal(st->hits_start_line, 0);
	assert_int_equal(st->hits, 6);

	/* the peer's own Via in a response may be left out of the scan */
	assert_int_equal(leak_check(l, resp, strlen(resp), LEAK_CHECK_F_SKIP_RESPONSE_VIA, &where),
			 EACCES);
	assert_string_equal(where, "Warning");
	assert_int_equal(st->hits_by_header[SIP_HDR_VIA], 2);
	assert_int_equal(st->hits, 10);
	{
		static const char echo[] =
			"SIP/2.0 200 OK\r\n"
			"Via: SIP/2.0/UDP 10.20.0.10:5060;branch=z9hG4bK1,\r\n"
			" SIP/2.0/UDP 10.20.0.10:5062;branch=z9hG4bK0\r\n"
			"To: <sip:a@203.0.113.9>;tag=2\r\n"
			"\r\n";
		static const char req[] =
			"BYE sip:a@203.0.113.9 SIP/2.0\r\n"
			"Via: SIP/2.0/UDP 10.20.0.10:5060;branch=z9hG4bK1\r\n"
			"\r\n";

		assert_int_equal(leak_check(l, echo, strlen(echo), LEAK_CHECK_F_SKIP_RESPONSE_VIA,
					    &where), 0);
		assert_null(where);
		assert_int_equal(leak_check(l, echo, strlen(echo), 0, &where), EACCES);
		/* requests are always scanned whole */
		assert_int_equal(leak_check(l, req, strlen(req), LEAK_CHECK_F_SKIP_RESPONSE_VIA,
					    &where), EACCES);
		assert_string_equal(where, "Via");
	}

	/* report-only mode: counted, told, not refused */
	leak_checker_set_enforce(l, false);
	assert_int_equal(leak_check(l, resp, strlen(resp), 0, &where), 0);
	assert_string_equal(where, "Via");
	assert_int_equal(st->messages_checked, 6);
	assert_int_equal(st->messages_leaking, 5);
	assert_int_equal(st->messages_blocked, 4);
	assert_int_equal(leak_check(l, "", 0, 0, NULL), 0);
	assert_int_equal(leak_check(NULL, "", 0, 0, NULL), EINVAL);
	assert_int_equal(leak_check(l, NULL, 5, 0, &where), EINVAL);
	mem_deref(l);
}

static void test_leak_add(void **state)
{
	struct leak_checker *l;
	const char *where;
	unsigned n;

	(void)state;
	assert_int_equal(leak_checker_alloc(NULL, NULL), EINVAL);
	assert_int_equal(leak_checker_alloc(&l, NULL), 0);
	assert_int_equal(leak_checker_count(l), 0);
	/* without needles everything is clean */
	assert_int_equal(leak_check(l, "INVITE sip:a@10.0.0.1 SIP/2.0\r\n\r\n", 33, 0, &where), 0);

	assert_int_equal(leak_checker_add(l, " 10.1.2.3 "), 0);
	assert_int_equal(leak_checker_add(l, "[2001:db8::7]"), 0);
	assert_int_equal(leak_checker_add(l, "PBX.Example.Internal."), 0);
	assert_int_equal(leak_checker_add(l, "_sip._udp.corp.lan"), 0);
	assert_int_equal(leak_checker_add(l, "172.16.0.0/12"), 0);
	assert_int_equal(leak_checker_add(l, "::ffff:192.0.2.77"), 0);
	n = leak_checker_count(l);
	assert_int_equal(n, 6);
	/* the same needle again, any spelling: nothing new */
	assert_int_equal(leak_checker_add(l, "10.1.2.3"), 0);
	assert_int_equal(leak_checker_add(l, "2001:0db8:0:0:0:0:0:7"), 0);
	assert_int_equal(leak_checker_add(l, "pbx.example.internal"), 0);
	assert_int_equal(leak_checker_add(l, "172.31.255.255/12"), 0);
	assert_int_equal(leak_checker_add(l, "192.0.2.77"), 0);
	assert_int_equal(leak_checker_count(l), n);
	/* not needles */
	assert_int_equal(leak_checker_add(l, ""), EINVAL);
	assert_int_equal(leak_checker_add(l, "  "), EINVAL);
	assert_int_equal(leak_checker_add(l, "a..b"), EINVAL);
	assert_int_equal(leak_checker_add(l, ".a"), EINVAL);
	assert_int_equal(leak_checker_add(l, "bad name"), EINVAL);
	assert_int_equal(leak_checker_add(l, "10.0.0.0/33"), EINVAL);
	assert_int_equal(leak_checker_add(l, "fd00::/129"), EINVAL);
	assert_int_equal(leak_checker_add(l, "pbx/8"), EINVAL);
	assert_int_equal(leak_checker_add(l, "10.0.0.0/"), EINVAL);
	assert_int_equal(leak_checker_add(NULL, "x"), EINVAL);
	assert_int_equal(leak_checker_add(l, NULL), EINVAL);
	assert_int_equal(leak_checker_count(l), n);

	assert_int_equal(leak_check(l, "X: 172.20.1.1\r\n", 15, 0, &where), EACCES);
	assert_int_equal(leak_check(l, "X: 192.0.2.77\r\n", 15, 0, &where), EACCES);
	assert_int_equal(leak_check(l, "X: _SIP._udp.corp.lan\r\n", 23, 0, &where), EACCES);
	assert_int_equal(leak_check(l, "X: 2001:DB8::0:7\r\n", 18, 0, &where), EACCES);
	assert_int_equal(leak_check(l, "X: 172.32.0.1\r\n", 15, 0, &where), 0);

	/* limits */
	for (unsigned i = 0;; i++) {
		char name[32];
		int err;

		snprintf(name, sizeof(name), "host%u.example", i);
		err = leak_checker_add(l, name);
		if (err) {
			assert_int_equal(err, ENOSPC);
			assert_int_equal(leak_checker_count(l), n - 2 + LEAK_NAMES_MAX);
			break;
		}
	}
	mem_deref(l);

	/* a configuration that would hide the SBC's own public address is refused */
	cfg_init();
	addr_set(&cfg.zones[ZONE_PUBLIC].address, "10.99.1.1");
	assert_int_equal(leak_checker_alloc(&l, &cfg), EINVAL);
	addr_set(&cfg.zones[ZONE_PUBLIC].advertise, "198.51.100.1");   /* 1:1 NAT: fine */
	assert_int_equal(leak_checker_alloc(&l, &cfg), 0);
	mem_deref(l);
	/* a hide entry that is nothing */
	cfg_init();
	{
		static const char *const badhide[] = { "ok.lan", "not a name" };

		cfg.core.hide.n = 2;
		cfg.core.hide.v = badhide;
		assert_int_equal(leak_checker_alloc(&l, &cfg), EINVAL);
	}
}

/* Every seed fixture names the lab's PBX (192.168.4.4): each one is refused. */
static void test_leak_fixtures(void **state)
{
	static const char *const names[] = {
		"00-register-1.sip", "01-register-401.sip", "02-register-2-auth.sip",
		"03-register-200.sip", "04-register-403.sip", "05-invite-a-1.sip",
		"06-invite-a-100.sip", "07-invite-a-407.sip", "08-ack-a-407.sip",
		"09-invite-a-2-auth.sip", "10-invite-a-2-100.sip", "11-invite-b.sip",
		"12-invite-b-100.sip", "13-invite-b-180.sip", "14-invite-a-180.sip",
		"15-invite-b-200.sip", "16-ack-b.sip", "17-invite-a-200.sip", "18-ack-a.sip",
		"19-bye-b.sip", "20-bye-b-200.sip", "21-bye-a.sip", "22-bye-a-200.sip",
		"23-invite-sdp-bria.sip",
	};
	struct leak_checker *l;
	const char *where;

	(void)state;
	assert_int_equal(leak_checker_alloc(&l, NULL), 0);
	assert_int_equal(leak_checker_add(l, "192.168.4.4"), 0);
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		size_t len;
		char *fx = fixture_load(names[i], &len);

		assert_int_equal(leak_check(l, fx, len, 0, &where), strstr(fx, "192.168.4.4") ?
				 EACCES : 0);
		free(fx);
	}
	assert_true(leak_checker_stats(l)->messages_blocked >= 20);
	mem_deref(l);
}

static void test_leak_oom(void **state)
{
	struct leak_checker *l = NULL;
	int err = ENOMEM;
	long i;

	(void)state;
	cfg_init();
	for (i = 0; i < 16 && err; i++) {
		mem_fail_after(i);
		err = leak_checker_alloc(&l, &cfg);
		mem_fail_after(-1);
		if (err)
			assert_int_equal(err, ENOMEM);
		assert_int_equal(mem_nalloc(), nalloc_start + (err ? 0 : 2));
	}
	assert_int_equal(err, 0);
	assert_int_equal(i, 3);   /* the checker and its arena failed on the way */
	mem_deref(l);
}

/* ---- timings ---- */

/* CPU time of this thread: the machine may be busy with other work. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static double ns_per(uint64_t t0, unsigned n)
{
	return (double)(cpu_ns() - t0) / n;
}

/* A 1 KB INVITE as the B2BUA sends it to a phone: clean, so every byte is scanned. */
static const char public_invite[] =
	"INVITE sip:alice@198.51.100.23:5062;transport=udp SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-sbc-5f3a9c1e7d2b4a60;rport\r\n"
	"Max-Forwards: 69\r\n"
	"From: \"Reception\" <sip:100@voice.example.com>;tag=8c1f0e3a\r\n"
	"To: <sip:alice@voice.example.com>\r\n"
	"Call-ID: 3f9a1c7e5b2d48e0a6c4f1d3b5e79a20\r\n"
	"CSeq: 1 INVITE\r\n"
	"Contact: <sip:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUm@203.0.113.1:5060>\r\n"
	"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, MESSAGE, UPDATE, INFO, REFER, NOTIFY\r\n"
	"Supported: timer, replaces\r\n"
	"Session-Expires: 1800;refresher=uac\r\n"
	"Min-SE: 90\r\n"
	"P-Asserted-Identity: \"Reception\" <sip:100@203.0.113.1>\r\n"
	"User-Agent: sbc/1.0\r\n"
	"Content-Type: application/sdp\r\n"
	"Content-Length: 377\r\n"
	"\r\n"
	"v=0\r\n"
	"o=- 1286011543 1286011544 IN IP4 203.0.113.1\r\n"
	"s=sbc\r\n"
	"c=IN IP4 203.0.113.1\r\n"
	"t=0 0\r\n"
	"m=audio 40000 RTP/AVP 8 0 101\r\n"
	"a=rtpmap:8 PCMA/8000\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=fmtp:101 0-16\r\n"
	"a=ptime:20\r\n"
	"a=sendrecv\r\n"
	"m=video 40002 RTP/AVP 96\r\n"
	"a=rtpmap:96 H264/90000\r\n"
	"a=fmtp:96 profile-level-id=42801F;packetization-mode=1\r\n"
	"a=rtcp-fb:96 nack pli\r\n"
	"a=rtcp-fb:96 ccm fir\r\n"
	"a=sendrecv\r\n";

static void test_timings(void **state)
{
	enum { N = 20000 };
	struct b2bua_token t = { 123456789, TOKEN_KIND_DIALOG, 0, 1, 3 }, got;
	struct token_key *k;
	struct hdr_policy *p;
	struct leak_checker *l, *big;
	struct sip_msg *in;
	char text[TOKEN_TEXT_SIZE], forged[TOKEN_TEXT_SIZE], block[4096];
	double enc, dec, bad, pol, lk, lkbig, lkraw;
	size_t flen, mlen = strlen(public_invite);
	char *fx = fixture_load("11-invite-b.sip", &flen);
	uint64_t t0;
	struct wbuf wb;

	(void)state;
	assert_int_equal(token_key_alloc(&k), 0);
	t0 = cpu_ns();
	for (unsigned i = 0; i < N; i++) {
		t.id = i;
		assert_int_equal(token_encode(k, &t, text, sizeof(text)), 0);
	}
	enc = ns_per(t0, N);
	t0 = cpu_ns();
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(decode_str(k, text, TOKEN_TEXT_LEN, &got), 0);
	dec = ns_per(t0, N);
	memcpy(forged, text, sizeof(text));
	forged[20] = forged[20] == 'A' ? 'B' : 'A';
	t0 = cpu_ns();
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(decode_str(k, forged, TOKEN_TEXT_LEN, &got), EBADMSG);
	bad = ns_per(t0, N);

	in = msg_of(fx, flen);
	assert_int_equal(hdr_policy_alloc(&p, ZONE_PUBLIC, "sbc/1.0"), 0);
	t0 = cpu_ns();
	for (unsigned i = 0; i < N; i++) {
		wbuf_init(&wb, block, sizeof(block));
		assert_int_equal(hdr_policy_write(p, in, "203.0.113.1", 0, &wb), 0);
	}
	pol = ns_per(t0, N);

	cfg_init();
	assert_int_equal(leak_checker_alloc(&l, &cfg), 0);
	t0 = cpu_ns();
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(leak_check(l, public_invite, mlen, 0, NULL), 0);
	lk = ns_per(t0, N);

	/* a few hundred needles: names of every letter, addresses, ranges */
	assert_int_equal(leak_checker_alloc(&big, &cfg), 0);
	for (unsigned i = 0; i < 300; i++) {
		char nd[64];

		if (i % 3 == 0)
			snprintf(nd, sizeof(nd), "%c%u.corp.internal", 'a' + i % 26, i);
		else if (i % 3 == 1)
			snprintf(nd, sizeof(nd), "10.%u.%u.%u", i % 7, i % 251, i % 13);
		else
			snprintf(nd, sizeof(nd), "fd00:%x::%x", i, i % 97);
		assert_int_equal(leak_checker_add(big, nd), 0);
	}
	assert_true(leak_checker_count(big) > 300);
	t0 = cpu_ns();
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(leak_check(big, public_invite, mlen, 0, NULL), 0);
	lkbig = ns_per(t0, N);
	/* baseline: one memchr-class pass over the same bytes */
	t0 = cpu_ns();
	for (unsigned i = 0; i < N; i++)
		assert_null(memmem(public_invite, mlen, "10.20.0.10", 10));
	lkraw = ns_per(t0, N);

	print_message("timing: token_encode %.0f ns, token_decode %.0f ns, forged decode %.0f ns\n",
		      enc, dec, bad);
	print_message("timing: hdr_policy_write (fixture 11, public) %.0f ns\n", pol);
	print_message("timing: leak_check %zu-byte INVITE: %.0f ns with %u needles, %.0f ns with %u "
		      "needles (memmem of one needle: %.0f ns)\n", mlen, lk, leak_checker_count(l),
		      lkbig, leak_checker_count(big), lkraw);
	/* figures only: tests never assert on time (README "Benchmarks") */

	mem_deref(big);
	mem_deref(l);
	mem_deref(p);
	mem_deref(in);
	mem_deref(k);
	free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_token_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_bad_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_tamper, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_other_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_rotation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_token_oom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_fixture_public, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_fixture_private, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_rich_public, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_oom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leak_needles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leak_counters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leak_add, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leak_fixtures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leak_oom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timings, setup, teardown),
	};

	return cmocka_run_group_tests_name("topo", tests, NULL, NULL);
}
