/* test_auth: local digest authentication: RFC vectors, a real trace, challenges, nonces, replay, enumeration, users file, leaks and OOM; the client side against the vectors and the server. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "b2bua/auth.h"
#include "unit.h"

#define REALM "sbc.example"
/* HA1s computed with Python's hashlib, not with the code under test */
#define HEX32 "5f4e1c2fb2b7ae0e0a3e7cb2bfd5bbf1"   /* any 32 hex digits */
#define MUFASA_2617_MD5 "939e7578ed9e3c518a452acee763bce9"
#define MUFASA_7616_MD5 "3d78807defe7de2157e2b0b6573a855f"
#define MUFASA_7616_SHA "7987c64c30e25f1b74be53f966b49b90f2808aa92faf9a00262392d7b4794232"
#define FIXTURE_MD5 "52568ce6a3d2fe06f08f75dad86a5e67"   /* "alice:192.168.4.4:1234", see test_fixture_register */

static char tmpdir[64];
static char users_path[128];
static struct config_errors errs;
static char alice_md5[33], alice_sha[65];

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sbc-test-auth-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(users_path, sizeof(users_path), "%s/users", tmpdir);
	/* alice's password is "wonderland" in realm sbc.example */
	if (auth_ha1_hex(AUTH_ALG_MD5, "alice", REALM, "wonderland", alice_md5, sizeof(alice_md5)) ||
	    auth_ha1_hex(AUTH_ALG_SHA256, "alice", REALM, "wonderland", alice_sha, sizeof(alice_sha)))
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(users_path);
	rmdir(tmpdir);
	return 0;
}

static void dump_errors(void)
{
	unit_dump_errors(&errs);
}

/* True when errs holds exactly the line "USERS_PATH: rest". */
static bool has_error(const char *rest)
{
	return unit_has_error(&errs, users_path, rest);
}

static void users_write(const char *text)
{
	FILE *f = fopen(users_path, "w");

	assert_non_null(f);
	assert_int_equal(fchmod(fileno(f), 0600), 0);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static struct config_auth cfg_make(const char *realm, unsigned algs)
{
	struct config_auth c = { .local = true, .algorithms = algs, .nonce_ttl_s = 300 };

	snprintf(c.realm, sizeof(c.realm), "%s", realm);
	snprintf(c.users_file, sizeof(c.users_file), "%s", users_path);
	return c;
}

/* An authenticator for realm over the users text; every algorithm offered. */
static struct auth *auth_new(const char *realm, const char *users)
{
	struct config_auth c = cfg_make(realm, CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256);
	struct auth *a = NULL;
	int err;

	users_write(users);
	err = auth_alloc(&a, &c, NULL, &errs);
	if (err)
		dump_errors();
	assert_int_equal(err, 0);
	return a;
}

/* The default test users: alice with both secrets, bob with MD5 only. */
static struct auth *auth_std(void)
{
	char text[512];

	snprintf(text, sizeof(text), "# test users\nalice:%s:%s\nbob:%s:-\n", alice_md5, alice_sha, HEX32);
	return auth_new(REALM, text);
}

/* H() of a formatted string as lowercase hex, with OpenSSL directly. */
static void hash_hex(const char *alg, char *hex, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void hash_hex(const char *alg, char *hex, const char *fmt, ...)
{
	char in[4096];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(in, sizeof(in), fmt, ap);
	va_end(ap);
	assert_int_equal(EVP_Digest(in, strlen(in), md, &n, EVP_get_digestbyname(alg), NULL), 1);
	for (unsigned i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

struct cred_spec {
	const char *alg;        /* "MD5" or "SHA-256" as sent; NULL: no algorithm parameter (MD5) */
	const char *user;
	const char *realm;
	const char *ha1;        /* hex */
	const char *method;
	const char *uri;
	const char *nonce;
	const char *nc;
	const char *cnonce;
};

/* Credentials as a client computes them (RFC 7616 3.4.1, qop=auth). */
static void cred_make(char *out, size_t size, const struct cred_spec *s)
{
	const char *md = s->alg && strcmp(s->alg, "SHA-256") == 0 ? "SHA256" : "MD5";
	char ha2[65], resp[65], alg[32] = "";

	hash_hex(md, ha2, "%s:%s", s->method, s->uri);
	hash_hex(md, resp, "%s:%s:%s:%s:auth:%s", s->ha1, s->nonce, s->nc, s->cnonce, ha2);
	if (s->alg)
		snprintf(alg, sizeof(alg), ", algorithm=%s", s->alg);
	snprintf(out, size, "Digest username=\"%s\", realm=\"%s\", nonce=\"%s\", uri=\"%s\", "
		 "response=\"%s\", qop=auth, nc=%s, cnonce=\"%s\"%s",
		 s->user, s->realm, s->nonce, s->uri, resp, s->nc, s->cnonce, alg);
}

static struct sip_msg *msg;
static char msg_text[16384];

/* Decode a REGISTER sip:sbc.example carrying the given header (NULL: none). */
static void msg_make(const char *method, const char *ruri, const char *hname, const char *hval)
{
	char extra[8192] = "";

	if (hname)
		snprintf(extra, sizeof(extra), "%s: %s\r\n", hname, hval);
	snprintf(msg_text, sizeof(msg_text),
		 "%s %s SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 203.0.113.50:5060;branch=z9hG4bK-1\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: <sip:alice@sbc.example>;tag=1\r\n"
		 "To: <sip:alice@sbc.example>\r\n"
		 "Call-ID: c1\r\n"
		 "CSeq: 2 %s\r\n"
		 "%s"
		 "Content-Length: 0\r\n\r\n", method, ruri, method, extra);
	if (!msg)
		assert_int_equal(sip_msg_alloc(&msg), 0);
	assert_int_equal(sip_msg_decode_raw(msg, msg_text, strlen(msg_text), 0, NULL), 0);
}

static void msg_free(void)
{
	msg = mem_deref(msg);
}

/* The nonce of a fresh challenge at now. */
static void nonce_get(struct auth *a, uint64_t now, char nonce[AUTH_NONCE_LEN + 1])
{
	char mem[1024];
	struct wbuf wb;
	struct sip_digest dg;
	struct pl val;
	const char *colon;

	wbuf_init(&wb, mem, sizeof(mem));
	assert_int_equal(auth_challenge_write(a, false, false, now, &wb), 0);
	mem[wb.len] = '\0';
	colon = memchr(mem, ':', wb.len);
	assert_non_null(colon);
	val = (struct pl){ colon + 1, (size_t)(strstr(mem, "\r\n") - colon - 1) };
	assert_int_equal(sip_digest_decode(&dg, &val), 0);
	assert_int_equal(dg.nonce.l, AUTH_NONCE_LEN);
	memcpy(nonce, dg.nonce.p, AUTH_NONCE_LEN);
	nonce[AUTH_NONCE_LEN] = '\0';
}

/* A REGISTER from alice with the given nonce, nc and ha1; checked at now. */
static enum auth_result alice_try(struct auth *a, const char *alg, const char *ha1, const char *nonce,
				  const char *nc, uint64_t now, const char **user)
{
	char cred[1024];
	struct cred_spec s = { alg, "alice", REALM, ha1, "REGISTER", "sip:sbc.example", nonce, nc, "c0ffee" };

	cred_make(cred, sizeof(cred), &s);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
	return auth_check(a, msg, false, now, user);
}

static enum auth_result verify_str(struct auth *a, const char *method, const char *cred)
{
	struct pl m = pl_from_str(method), c = pl_from_str(cred);

	return auth_response_verify(a, &m, &c);
}

static void test_rfc2617_vector(void **state)
{
	struct auth *a;
	const char *good = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
			   "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
			   "qop=auth, nc=00000001, cnonce=\"0a4f113b\", "
			   "response=\"6629fae49393a05397450978507c4ef1\", "
			   "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";
	char bad[512];

	(void)state;
	a = auth_new("testrealm@host.com", "Mufasa:" MUFASA_2617_MD5 ":-\n");
	assert_int_equal(verify_str(a, "GET", good), AUTH_OK);
	assert_int_equal(verify_str(a, "POST", good), AUTH_FAIL);
	snprintf(bad, sizeof(bad), "%s", good);
	*strstr(bad, "6629fae4") = '7';
	assert_int_equal(verify_str(a, "GET", bad), AUTH_FAIL);
	snprintf(bad, sizeof(bad), "%s", good);
	memcpy(strstr(bad, "nc=00000001"), "nc=00000002", 11);
	assert_int_equal(verify_str(a, "GET", bad), AUTH_FAIL);
	mem_deref(a);
}

static void test_rfc7616_vectors(void **state)
{
	struct auth *a;
	struct config_auth c;
	const char *sha = "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", "
			  "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
			  "nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
			  "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", "
			  "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
	const char *md5 = "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", "
			  "algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
			  "nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, "
			  "response=\"8ca523f5e9506fed4657c9700eebdbec\", "
			  "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

	(void)state;
	a = auth_new("http-auth@example.org", "Mufasa:" MUFASA_7616_MD5 ":" MUFASA_7616_SHA "\n");
	assert_int_equal(verify_str(a, "GET", sha), AUTH_OK);
	assert_int_equal(verify_str(a, "GET", md5), AUTH_OK);
	mem_deref(a);
	/* a user with only an MD5 secret fails SHA-256 credentials like an unknown user */
	a = auth_new("http-auth@example.org", "Mufasa:" MUFASA_7616_MD5 ":-\n");
	assert_int_equal(verify_str(a, "GET", sha), AUTH_FAIL);
	assert_int_equal(verify_str(a, "GET", md5), AUTH_OK);
	mem_deref(a);
	/* SHA-256 only: MD5 credentials are not for an algorithm we offer */
	c = cfg_make("http-auth@example.org", CONFIG_AUTH_SHA256);
	users_write("Mufasa:" MUFASA_7616_MD5 ":" MUFASA_7616_SHA "\n");
	assert_int_equal(auth_alloc(&a, &c, NULL, &errs), 0);
	assert_int_equal(verify_str(a, "GET", sha), AUTH_OK);
	assert_int_equal(verify_str(a, "GET", md5), AUTH_CHALLENGE);
	mem_deref(a);
}

static void test_ha1_hex(void **state)
{
	char hex[65];

	(void)state;
	assert_int_equal(auth_ha1_hex(AUTH_ALG_MD5, "Mufasa", "testrealm@host.com", "Circle Of Life",
				      hex, sizeof(hex)), 0);
	assert_string_equal(hex, MUFASA_2617_MD5);
	assert_int_equal(auth_ha1_hex(AUTH_ALG_SHA256, "Mufasa", "http-auth@example.org", "Circle of Life",
				      hex, sizeof(hex)), 0);
	assert_string_equal(hex, MUFASA_7616_SHA);
	assert_int_equal(auth_ha1_hex(AUTH_ALG_SHA256, "a", "b", "c", hex, 64), ENOSPC);
	assert_int_equal(auth_ha1_hex(AUTH_ALG_MD5, "a", "b", "c", hex, 33), 0);
	assert_int_equal(auth_ha1_hex(AUTH_ALG__COUNT, "a", "b", "c", hex, sizeof(hex)), EINVAL);
}

static char *file_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(65536);

	assert_non_null(f);
	assert_non_null(buf);
	*len = fread(buf, 1, 65536, f);
	fclose(f);
	return buf;
}

/*
 * The seed trace's REGISTER with Authorization (folded header, no spaces
 * after commas). The fixtures do not state the password: the response is
 * reproduced by FreeSWITCH's default password "1234" with the HA1 taken
 * over the user name "alice" (lower case), so the users file stores that
 * HA1 under "Alice", the name the phone sends.
 */
static void test_fixture_register(void **state)
{
	struct auth *a;
	const struct sip_hdr *h;
	char *text;
	size_t len;
	const char *user = "x";

	(void)state;
	text = file_slurp(FIXTURES_DIR "/02-register-2-auth.sip", &len);
	assert_int_equal(sip_msg_alloc(&msg), 0);
	assert_int_equal(sip_msg_decode_raw(msg, text, len, 0, NULL), 0);
	h = sip_msg_hdr(msg, SIP_HDR_AUTHORIZATION);
	assert_non_null(h);
	a = auth_new("192.168.4.4", "Alice:" FIXTURE_MD5 ":-\n");
	assert_int_equal(auth_response_verify(a, &msg->method, &h->val), AUTH_OK);
	/* right response on a nonce that is not ours: stale, never OK */
	assert_int_equal(auth_check(a, msg, false, 1000, &user), AUTH_STALE);
	assert_null(user);
	assert_int_equal(auth_stats(a)->stale, 1);
	/* as Proxy-Authorization it is not there: challenge */
	assert_int_equal(auth_check(a, msg, true, 1000, &user), AUTH_CHALLENGE);
	mem_deref(a);
	a = auth_new("192.168.4.4", "Alice:" HEX32 ":-\n");
	assert_int_equal(auth_response_verify(a, &msg->method, &h->val), AUTH_FAIL);
	assert_int_equal(auth_check(a, msg, false, 1000, &user), AUTH_FAIL);
	mem_deref(a);
	/* another realm: the credentials are for someone else */
	a = auth_new("sbc.example", "Alice:" FIXTURE_MD5 ":-\n");
	assert_int_equal(auth_check(a, msg, false, 1000, &user), AUTH_CHALLENGE);
	mem_deref(a);
	msg_free();
	free(text);
}

/* Exact challenge lines: SHA-256 first, one nonce for both, stale, proxy, ENOSPC. */
static void test_challenge_format(void **state)
{
	struct auth *a;
	struct config_auth c;
	char mem[1024], want[1024], nonce[AUTH_NONCE_LEN + 1], small[100];
	struct wbuf wb;

	(void)state;
	a = auth_std();
	wbuf_init(&wb, mem, sizeof(mem));
	assert_int_equal(auth_challenge_write(a, false, false, 5000, &wb), 0);
	mem[wb.len] = '\0';
	assert_non_null(strstr(mem, "nonce=\""));
	memcpy(nonce, strstr(mem, "nonce=\"") + 7, AUTH_NONCE_LEN);
	nonce[AUTH_NONCE_LEN] = '\0';
	for (int i = 0; i < AUTH_NONCE_LEN; i++)
		assert_non_null(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", nonce[i]));
	snprintf(want, sizeof(want),
		 "WWW-Authenticate: Digest realm=\"sbc.example\", nonce=\"%s\", algorithm=SHA-256, qop=\"auth\"\r\n"
		 "WWW-Authenticate: Digest realm=\"sbc.example\", nonce=\"%s\", algorithm=MD5, qop=\"auth\"\r\n",
		 nonce, nonce);
	assert_string_equal(mem, want);
	/* every challenge has a nonce of its own, even in the same millisecond */
	wbuf_init(&wb, mem, sizeof(mem));
	assert_int_equal(auth_challenge_write(a, true, true, 5000, &wb), 0);
	mem[wb.len] = '\0';
	assert_null(strstr(mem, nonce));
	memcpy(nonce, strstr(mem, "nonce=\"") + 7, AUTH_NONCE_LEN);
	snprintf(want, sizeof(want),
		 "Proxy-Authenticate: Digest realm=\"sbc.example\", nonce=\"%s\", algorithm=SHA-256, qop=\"auth\", stale=true\r\n"
		 "Proxy-Authenticate: Digest realm=\"sbc.example\", nonce=\"%s\", algorithm=MD5, qop=\"auth\", stale=true\r\n",
		 nonce, nonce);
	assert_string_equal(mem, want);
	/* too small: nothing written */
	wbuf_init(&wb, small, sizeof(small));
	assert_int_equal(wbuf_put_str(&wb, "X: 1\r\n"), 0);
	assert_int_equal(auth_challenge_write(a, false, false, 5000, &wb), ENOSPC);
	assert_int_equal(wb.len, 6);
	assert_int_equal(auth_stats(a)->challenges, 2);
	mem_deref(a);
	/* one algorithm: one line */
	c = cfg_make(REALM, CONFIG_AUTH_MD5);
	assert_int_equal(auth_alloc(&a, &c, NULL, &errs), 0);
	wbuf_init(&wb, mem, sizeof(mem));
	assert_int_equal(auth_challenge_write(a, false, false, 0, &wb), 0);
	mem[wb.len] = '\0';
	assert_non_null(strstr(mem, "algorithm=MD5"));
	assert_null(strstr(mem, "SHA-256"));
	assert_ptr_equal(strstr(mem, "\r\n"), mem + wb.len - 2);
	mem_deref(a);
}

static void test_check_ok(void **state)
{
	struct auth *a;
	char nonce[AUTH_NONCE_LEN + 1], cred[1024];
	const char *user = NULL;
	struct cred_spec s = { "SHA-256", "alice", REALM, NULL, "INVITE", "sip:4930123@sbc.example;user=phone",
			       NULL, "00000001", "abcdef" };

	(void)state;
	a = auth_std();
	nonce_get(a, 1000, nonce);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000001", 2000, &user), AUTH_OK);
	assert_string_equal(user, "alice");
	/* the next request on the same nonce counts up */
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000002", 3000, &user), AUTH_OK);
	/* MD5, no algorithm parameter (RFC 7616: absent means MD5), user may be NULL */
	nonce_get(a, 1000, nonce);
	assert_int_equal(alice_try(a, NULL, alice_md5, nonce, "00000001", 2000, NULL), AUTH_OK);
	nonce_get(a, 1000, nonce);
	assert_int_equal(alice_try(a, "md5", alice_md5, nonce, "00000001", 2000, &user), AUTH_OK);
	/* an INVITE challenged with 407 */
	nonce_get(a, 1000, nonce);
	s.ha1 = alice_sha;
	s.nonce = nonce;
	cred_make(cred, sizeof(cred), &s);
	msg_make("INVITE", "sip:4930123@sbc.example;user=phone", "Proxy-Authorization", cred);
	assert_int_equal(auth_check(a, msg, false, 2000, &user), AUTH_CHALLENGE);
	assert_int_equal(auth_check(a, msg, true, 2000, &user), AUTH_OK);
	assert_string_equal(user, "alice");
	assert_int_equal(auth_stats(a)->ok, 5);
	assert_int_equal(auth_stats(a)->fail, 0);
	assert_int_equal(auth_stats(a)->users, 2);
	mem_deref(a);
	msg_free();
}

static void test_check_challenge(void **state)
{
	struct auth *a;
	char nonce[AUTH_NONCE_LEN + 1], cred[1024];
	struct cred_spec s = { "SHA-256", "alice", "other.example", alice_sha, "REGISTER", "sip:sbc.example",
			       NULL, "00000001", "abcdef" };

	(void)state;
	a = auth_std();
	nonce_get(a, 0, nonce);
	s.nonce = nonce;
	msg_make("REGISTER", "sip:sbc.example", NULL, NULL);
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_CHALLENGE);
	/* another realm: meant for the core, not for us */
	cred_make(cred, sizeof(cred), &s);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_CHALLENGE);
	/* other schemes */
	msg_make("REGISTER", "sip:sbc.example", "Authorization", "Basic YWxpY2U6d29uZGVybGFuZA==");
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_CHALLENGE);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", "Digest");
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_CHALLENGE);
	/* an algorithm we do not offer */
	s.realm = REALM;
	s.alg = "SHA-512-256";
	cred_make(cred, sizeof(cred), &s);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_CHALLENGE);
	assert_int_equal(auth_stats(a)->fail, 0);
	/* which credentials the B2BUA keeps for itself */
	{
		struct pl ours = PL("Digest username=\"a\", realm=\"sbc.example\"");
		struct pl core = PL("Digest username=\"a\", realm=\"pbx\"");
		struct pl basic = PL("Basic YWxpY2U6d29uZGVybGFuZA==");

		assert_true(auth_credentials_ours(a, &ours));
		assert_false(auth_credentials_ours(a, &core));
		assert_false(auth_credentials_ours(a, &basic));
	}
	mem_deref(a);
	msg_free();
}

/* Minimum over batches of the time n checks take: noise only ever adds. */
static uint64_t time_checks(struct auth *a, const char *user, const char *nonce)
{
	char cred[1024];
	struct cred_spec s = { "SHA-256", user, REALM, "00000000000000000000000000000000"
			       "00000000000000000000000000000000", "REGISTER", "sip:sbc.example",
			       nonce, "00000001", "abcdef" };
	uint64_t best = UINT64_MAX;

	cred_make(cred, sizeof(cred), &s);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
	for (int b = 0; b < 15; b++) {
		uint64_t t0 = time_mono_ns();

		for (int i = 0; i < 200; i++)
			assert_int_equal(auth_check(a, msg, false, 1000, NULL), AUTH_FAIL);
		best = MIN(best, time_mono_ns() - t0);
	}
	return best;
}

/* An unknown user and a wrong password: same result, same counters but one, about the same time. */
static void test_unknown_user_like_wrong_password(void **state)
{
	struct auth *a;
	char nonce[AUTH_NONCE_LEN + 1];
	const char *user = "x";
	char wrong[65];
	uint64_t t_known, t_unknown;
	double ratio;

	(void)state;
	a = auth_std();
	nonce_get(a, 1000, nonce);
	assert_int_equal(auth_ha1_hex(AUTH_ALG_SHA256, "alice", REALM, "guess", wrong, sizeof(wrong)), 0);
	assert_int_equal(alice_try(a, "SHA-256", wrong, nonce, "00000001", 1000, &user), AUTH_FAIL);
	assert_null(user);
	assert_int_equal(auth_stats(a)->unknown_user, 0);
	/* "mallory" is not in the file: the same answer */
	{
		char cred[1024];
		struct cred_spec s = { "SHA-256", "mallory", REALM, wrong, "REGISTER", "sip:sbc.example",
				       nonce, "00000001", "c0ffee" };

		cred_make(cred, sizeof(cred), &s);
		msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
		user = "x";
		assert_int_equal(auth_check(a, msg, false, 1000, &user), AUTH_FAIL);
		assert_null(user);
	}
	assert_int_equal(auth_stats(a)->fail, 2);
	assert_int_equal(auth_stats(a)->unknown_user, 1);
	/* bob has no SHA-256 secret: treated like an unknown user */
	{
		char cred[1024];
		struct cred_spec s = { "SHA-256", "bob", REALM, wrong, "REGISTER", "sip:sbc.example",
				       nonce, "00000001", "c0ffee" };

		cred_make(cred, sizeof(cred), &s);
		msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
		assert_int_equal(auth_check(a, msg, false, 1000, NULL), AUTH_FAIL);
	}
	assert_int_equal(auth_stats(a)->unknown_user, 2);
	/* the same work either way: a loose bound, the point is no early exit */
	t_known = time_checks(a, "alice", nonce);
	t_unknown = time_checks(a, "mallory", nonce);
	ratio = (double)t_known / (double)t_unknown;
	print_message("  known %.2f us, unknown %.2f us per check\n", t_known / 200e3, t_unknown / 200e3);
	assert_true(ratio > 0.6 && ratio < 1.67);
	mem_deref(a);
	msg_free();
}

static void test_check_stale(void **state)
{
	struct auth *a;
	char nonce[AUTH_NONCE_LEN + 1], wrong[65], forged[AUTH_NONCE_LEN + 1];
	const char *user = "x";

	(void)state;
	a = auth_std();
	nonce_get(a, 1000, nonce);
	/* nonce_ttl_s 300: at 301 s of age the nonce is stale, if the response is right */
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000001", 1000 + 300000, &user), AUTH_OK);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000002", 1000 + 300001, &user), AUTH_STALE);
	assert_null(user);
	assert_int_equal(auth_ha1_hex(AUTH_ALG_SHA256, "alice", REALM, "guess", wrong, sizeof(wrong)), 0);
	assert_int_equal(alice_try(a, "SHA-256", wrong, nonce, "00000003", 1000 + 300001, &user), AUTH_FAIL);
	/* a nonce from the future is not ours */
	nonce_get(a, 50000, nonce);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000001", 40000, &user), AUTH_STALE);
	/*
	 * A tampered nonce (in its stamp, salt or MAC characters): not ours,
	 * stale if the client knows the secret, else fail.
	 */
	nonce_get(a, 1000, nonce);
	for (int pos = 3; pos < AUTH_NONCE_LEN; pos += 16) {
		snprintf(forged, sizeof(forged), "%s", nonce);
		forged[pos] = forged[pos] == 'A' ? 'B' : 'A';
		assert_int_equal(alice_try(a, "SHA-256", alice_sha, forged, "00000001", 1000, &user), AUTH_STALE);
		assert_int_equal(alice_try(a, "SHA-256", wrong, forged, "00000001", 1000, &user), AUTH_FAIL);
	}
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, "not-our-nonce", "00000001", 1000, &user), AUTH_STALE);
	/* the untampered one still works */
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000001", 1000, &user), AUTH_OK);
	assert_int_equal(auth_stats(a)->stale, 6);
	assert_int_equal(auth_stats(a)->fail, 4);
	mem_deref(a);
	msg_free();
}

static void test_check_replay(void **state)
{
	struct auth *a;
	char nonce[AUTH_NONCE_LEN + 1], wrong[65];

	(void)state;
	a = auth_std();
	assert_int_equal(auth_ha1_hex(AUTH_ALG_SHA256, "alice", REALM, "guess", wrong, sizeof(wrong)), 0);
	nonce_get(a, 1000, nonce);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000001", 1000, NULL), AUTH_OK);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000001", 1000, NULL), AUTH_FAIL);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000002", 1000, NULL), AUTH_OK);
	/* counts may skip, never go back */
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000005", 1000, NULL), AUTH_OK);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000003", 1000, NULL), AUTH_FAIL);
	/* a forger cannot burn counts: a wrong response with a high nc changes nothing */
	assert_int_equal(alice_try(a, "SHA-256", wrong, nonce, "7fffffff", 1000, NULL), AUTH_FAIL);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000006", 1000, NULL), AUTH_OK);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "FFFFFFFF", 1000, NULL), AUTH_OK);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "ffffffff", 1000, NULL), AUTH_FAIL);
	assert_int_equal(auth_stats(a)->replays, 3);
	assert_int_equal(auth_stats(a)->fail, 4);
	assert_int_equal(auth_stats(a)->ok, 5);
	mem_deref(a);
	msg_free();
}

static void test_check_bad_uri(void **state)
{
	struct auth *a;
	char nonce[AUTH_NONCE_LEN + 1], cred[1024];
	struct cred_spec s = { "SHA-256", "alice", REALM, alice_sha, "REGISTER", "sip:sbc.example",
			       NULL, "00000001", "abcdef" };

	(void)state;
	a = auth_std();
	nonce_get(a, 0, nonce);
	s.nonce = nonce;
	cred_make(cred, sizeof(cred), &s);
	/* right response, but for another Request-URI: compared byte for byte */
	msg_make("REGISTER", "sip:SBC.example", "Authorization", cred);
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_FAIL);
	msg_make("REGISTER", "sip:sbc.example;transport=udp", "Authorization", cred);
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_FAIL);
	assert_int_equal(auth_stats(a)->bad_uri, 2);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_OK);
	mem_deref(a);
	msg_free();
}

/* Credentials for our realm that break a rule: AUTH_FAIL, counted as malformed. */
static void test_check_malformed(void **state)
{
	static const char *const bad[] = {
		/* no qop (RFC 2069 style), qop we do not offer */
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 "\"",
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 "\", qop=auth-int, nc=00000001, cnonce=\"c\"",
		/* nc: 7 digits, zero, not hex */
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 "\", qop=auth, nc=0000001, cnonce=\"c\"",
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 "\", qop=auth, nc=00000000, cnonce=\"c\"",
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 "\", qop=auth, nc=0000000g, cnonce=\"c\"",
		/* response: short, long, not hex, SHA-256 length with MD5 */
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"5f4e1c2fb2b7ae0e0a3e7cb2bfd5bbf\", qop=auth, nc=00000001, cnonce=\"c\"",
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 "0\", qop=auth, nc=00000001, cnonce=\"c\"",
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"zf4e1c2fb2b7ae0e0a3e7cb2bfd5bbf1\", qop=auth, nc=00000001, cnonce=\"c\"",
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 HEX32 "\", qop=auth, nc=00000001, cnonce=\"c\"",
		/* missing or empty fields */
		"Digest username=\"\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 "\", qop=auth, nc=00000001, cnonce=\"c\"",
		"Digest realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 "\", qop=auth, nc=00000001, cnonce=\"c\"",
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 "\", qop=auth, nc=00000001",
		"Digest username=\"alice\", realm=\"sbc.example\", uri=\"sip:sbc.example\", "
		"response=\"" HEX32 "\", qop=auth, nc=00000001, cnonce=\"c\"",
		"Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", "
		"response=\"" HEX32 "\", qop=auth, nc=00000001, cnonce=\"c\"",
		/* Digest that does not parse: an open quote, a parameter twice */
		"Digest username=\"alice, realm=\"sbc.example\"",
		"Digest username=\"alice\", username=\"bob\", realm=\"sbc.example\"",
	};
	struct auth *a;
	char cred[2048], big[600];

	(void)state;
	a = auth_std();
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		msg_make("REGISTER", "sip:sbc.example", "Authorization", bad[i]);
		if (auth_check(a, msg, false, 0, NULL) != AUTH_FAIL)
			fail_msg("credentials %zu: not AUTH_FAIL: %s", i, bad[i]);
	}
	assert_int_equal(auth_stats(a)->malformed, ARRAY_SIZE(bad));
	/* oversized: user name of 65, nonce and cnonce of 257 */
	memset(big, 'u', 65);
	big[65] = '\0';
	snprintf(cred, sizeof(cred), "Digest username=\"%s\", realm=\"sbc.example\", nonce=\"n\", "
		 "uri=\"sip:sbc.example\", response=\"" HEX32 "\", qop=auth, nc=00000001, cnonce=\"c\"", big);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_FAIL);
	memset(big, 'n', 257);
	big[257] = '\0';
	snprintf(cred, sizeof(cred), "Digest username=\"alice\", realm=\"sbc.example\", nonce=\"%s\", "
		 "uri=\"sip:sbc.example\", response=\"" HEX32 "\", qop=auth, nc=00000001, cnonce=\"c\"", big);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_FAIL);
	snprintf(cred, sizeof(cred), "Digest username=\"alice\", realm=\"sbc.example\", nonce=\"n\", "
		 "uri=\"sip:sbc.example\", response=\"" HEX32 "\", qop=auth, nc=00000001, cnonce=\"%s\"", big);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_FAIL);
	assert_int_equal(auth_stats(a)->malformed, ARRAY_SIZE(bad) + 3);
	assert_int_equal(auth_stats(a)->unknown_user, 0);
	/* a realm longer than any we could have is simply not ours */
	memset(big, 'r', 300);
	big[300] = '\0';
	snprintf(cred, sizeof(cred), "Digest username=\"alice\", realm=\"%s\", nonce=\"n\", "
		 "uri=\"sip:sbc.example\", response=\"" HEX32 "\", qop=auth, nc=00000001, cnonce=\"c\"", big);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
	assert_int_equal(auth_check(a, msg, false, 0, NULL), AUTH_CHALLENGE);
	mem_deref(a);
	msg_free();
}

/*
 * More nonces in use than the table holds: memory stays put, entries are
 * pushed out, and still no replay of any nonce is ever accepted (it is a
 * replay, or the nonce was lost and the client must take a new one).
 */
static void test_nc_table_bounded(void **state)
{
	enum { N = AUTH_NC_SLOTS + AUTH_NC_SLOTS / 4 };
	struct auth *a;
	char (*nonces)[AUTH_NONCE_LEN + 1] = malloc(N * sizeof(*nonces));
	size_t before;
	unsigned lost = 0, replay = 0;

	(void)state;
	assert_non_null(nonces);
	a = auth_std();
	msg_make("OPTIONS", "sip:sbc.example", NULL, NULL);
	before = mem_nalloc();
	for (unsigned i = 0; i < N; i++) {
		nonce_get(a, 1000 + i / 1000, nonces[i]);
		assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonces[i], "00000001", 1000 + i / 1000, NULL),
				 AUTH_OK);
	}
	assert_int_equal(mem_nalloc(), before);
	assert_true(auth_stats(a)->nc_evicted > 0);
	for (unsigned i = 0; i < N; i++) {
		enum auth_result r = alice_try(a, "SHA-256", alice_sha, nonces[i], "00000001", 2000, NULL);

		assert_int_not_equal(r, AUTH_OK);
		lost += r == AUTH_STALE;
		replay += r == AUTH_FAIL;
	}
	print_message("  %u nonces: %" PRIu64 " evicted, replays refused %u, lost %u\n", (unsigned)N,
		      auth_stats(a)->nc_evicted, replay, lost);
	assert_true(lost > 0 && replay > 0);
	/* expired entries make room without pushing live ones out */
	{
		uint64_t evicted = auth_stats(a)->nc_evicted;
		char nonce[AUTH_NONCE_LEN + 1];

		for (unsigned i = 0; i < 1000; i++) {
			nonce_get(a, 400000, nonce);
			assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000001", 400000, NULL), AUTH_OK);
		}
		assert_int_equal(auth_stats(a)->nc_evicted, evicted);
	}
	mem_deref(a);
	msg_free();
	free(nonces);
}

static void test_users_file_errors(void **state)
{
	struct config_auth c = cfg_make(REALM, CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256);
	struct auth *a = NULL;
	char text[4096], name65[66];

	(void)state;
	memset(name65, 'n', 65);
	name65[65] = '\0';
	snprintf(text, sizeof(text),
		 "# users\n"                                            /* 1 */
		 "alice:" HEX32 ":-\n"                              /* 2 */
		 "bob:xyz:-\n"                                          /* 3 */
		 "carol:-:%.63s\n"                                      /* 4 */
		 "dave:-:-\n"                                           /* 5 */
		 "alice:-:%s\n"                                         /* 6 */
		 "bad user:" HEX32 ":-\n"                           /* 7 */
		 "just-a-name\n"                                        /* 8 */
		 "a:b:c:d\n"                                            /* 9 */
		 "%s:" HEX32 ":-\n"                                 /* 10 */
		 "\n"                                                   /* 11 */
		 "   # indented comment\n"                              /* 12 */
		 "erin:" HEX32 ":-\r\n"                             /* 13 */
		 "\"q\":" HEX32 ":-\n"                              /* 14 */
		 "fred:" HEX32 ":" HEX32 "\n",                  /* 15 */
		 alice_sha, alice_sha, name65);
	users_write(text);
	assert_int_equal(auth_alloc(&a, &c, NULL, &errs), EINVAL);
	assert_null(a);
	assert_true(has_error("line 3: HA1-MD5 is not 32 hex digits or -"));
	assert_true(has_error("line 4: HA1-SHA-256 is not 64 hex digits or -"));
	assert_true(has_error("line 5: user \"dave\" has neither secret"));
	assert_true(has_error("line 6: user \"alice\" is also on line 2"));
	assert_true(has_error("line 7: \"bad user\" is not a user name (1-64 printable characters, no spaces, ':', '\"' or '\\')"));
	assert_true(has_error("line 8: not USER:HA1-MD5:HA1-SHA-256"));
	assert_true(has_error("line 9: not USER:HA1-MD5:HA1-SHA-256"));
	/* names in messages are capped at 64 bytes */
	assert_true(has_error("line 10: \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...\" is not a user name "
			      "(1-64 printable characters, no spaces, ':', '\"' or '\\')"));
	assert_true(has_error("line 14: \"\"q\"\" is not a user name (1-64 printable characters, no spaces, ':', '\"' or '\\')"));
	assert_true(has_error("line 15: HA1-SHA-256 is not 64 hex digits or -"));
	assert_int_equal(errs.n, 10);
	/* a NUL byte and a long line */
	{
		char nul[] = "alice:" HEX32 ":-\nb\0b:" HEX32 ":-\n";
		char *longl = malloc(AUTH_LINE_MAX + 64);

		assert_int_equal(auth_alloc(&a, &c, NULL, &errs), EINVAL);   /* same file: still bad */
		users_write("alice:" HEX32 ":-\n");
		assert_int_equal(auth_alloc(&a, &c, NULL, &errs), 0);
		assert_int_equal(auth_users_load(a, users_path, nul, sizeof(nul) - 1, &errs), EINVAL);
		assert_true(has_error("line 2: contains a NUL byte"));
		assert_non_null(longl);
		memset(longl, '#', AUTH_LINE_MAX + 1);
		assert_int_equal(auth_users_load(a, users_path, longl, AUTH_LINE_MAX + 1, &errs), EINVAL);
		assert_true(has_error("line 1: longer than 1024 bytes"));
		/* the users loaded first are still there */
		assert_int_equal(auth_stats(a)->users, 1);
		free(longl);
		mem_deref(a);
	}
}

static void test_users_file_limits(void **state)
{
	struct config_auth c = cfg_make(REALM, CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256);
	struct auth *a = NULL;
	size_t size = (size_t)(AUTH_USERS_MAX + 1) * 48 + 1;
	char *text = malloc(size), want[160];
	struct wbuf wb;

	(void)state;
	assert_non_null(text);
	c.local = false;   /* an empty file with local = yes is allowed too, with a warning */
	users_write("");
	assert_int_equal(auth_alloc(&a, &c, NULL, &errs), 0);
	assert_int_equal(auth_stats(a)->users, 0);
	/* exactly the maximum loads; one more is refused as a whole */
	wbuf_init(&wb, text, size);
	for (unsigned i = 0; i < AUTH_USERS_MAX; i++)
		assert_int_equal(wbuf_printf(&wb, "u%u:" HEX32 ":-\n", i), 0);
	assert_int_equal(auth_users_load(a, "mem", text, wb.len, &errs), 0);
	assert_int_equal(auth_stats(a)->users, AUTH_USERS_MAX);
	assert_int_equal(wbuf_printf(&wb, "u%u:" HEX32 ":-\n", AUTH_USERS_MAX), 0);
	assert_int_equal(auth_users_load(a, "mem", text, wb.len, &errs), EINVAL);
	snprintf(want, sizeof(want), "mem: %d users, at most %d are allowed", AUTH_USERS_MAX + 1, AUTH_USERS_MAX);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0], want);
	assert_int_equal(auth_stats(a)->users, AUTH_USERS_MAX);
	mem_deref(a);
	free(text);
}

/* Missing file: fine when local is off, an error when on; a folder is never fine. */
static void test_users_file_missing(void **state)
{
	struct config_auth c = cfg_make(REALM, CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256);
	struct auth *a = NULL;
	char want[256];

	(void)state;
	unlink(users_path);
	assert_int_equal(auth_alloc(&a, &c, NULL, &errs), EINVAL);
	assert_null(a);
	assert_int_equal(errs.n, 1);
	snprintf(want, sizeof(want), "%s: cannot read: %s (needed by [auth] local = yes)", users_path,
		 strerror(ENOENT));
	assert_string_equal(errs.msg[0], want);
	c.local = false;
	assert_int_equal(auth_alloc(&a, &c, NULL, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(auth_stats(a)->users, 0);
	mem_deref(a);
	snprintf(c.users_file, sizeof(c.users_file), "%s", tmpdir);
	assert_int_equal(auth_alloc(&a, &c, NULL, &errs), EINVAL);
	snprintf(want, sizeof(want), "%s: cannot read: not a regular file", tmpdir);
	assert_string_equal(errs.msg[0], want);
}

static void test_realm_fallback(void **state)
{
	struct config_auth c = cfg_make("", CONFIG_AUTH_SHA256);
	struct auth *a = NULL;

	(void)state;
	users_write("alice:-:" MUFASA_7616_SHA "\n");
	assert_int_equal(auth_alloc(&a, &c, "203.0.113.1", &errs), 0);
	assert_string_equal(auth_realm(a), "203.0.113.1");
	mem_deref(a);
	a = NULL;
	assert_int_equal(auth_alloc(&a, &c, NULL, &errs), EINVAL);
	assert_null(a);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0], "[auth] realm: none set, and no usable public zone address to fall back on");
	assert_int_equal(auth_alloc(&a, &c, "", &errs), EINVAL);
	assert_int_equal(auth_alloc(&a, &c, "a\"b", &errs), EINVAL);
	/* the configured realm wins over the fallback */
	c = cfg_make("voice.example", CONFIG_AUTH_SHA256);
	assert_int_equal(auth_alloc(&a, &c, "203.0.113.1", &errs), 0);
	assert_string_equal(auth_realm(a), "voice.example");
	mem_deref(a);
}

/* A broken users file on reload keeps the running users; a good one replaces them; nonces survive. */
static void test_reload(void **state)
{
	struct config_auth c = cfg_make(REALM, CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256);
	struct auth *a;
	char nonce[AUTH_NONCE_LEN + 1], text[512];

	(void)state;
	a = auth_std();
	nonce_get(a, 1000, nonce);
	users_write("alice:nothex:-\n");
	assert_int_equal(auth_reload(a, &c, NULL, &errs), EINVAL);
	assert_true(has_error("line 1: HA1-MD5 is not 32 hex digits or -"));
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000001", 1000, NULL), AUTH_OK);
	assert_int_equal(auth_stats(a)->users, 2);
	/* a bad realm also changes nothing */
	c.realm[0] = '\0';
	assert_int_equal(auth_reload(a, &c, NULL, &errs), EINVAL);
	assert_string_equal(auth_realm(a), REALM);
	c = cfg_make(REALM, CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256);
	/* carol replaces alice; the nonce handed out before is still good */
	snprintf(text, sizeof(text), "carol:-:%s\n", alice_sha);
	users_write(text);
	c.nonce_ttl_s = 10;
	assert_int_equal(auth_reload(a, &c, NULL, &errs), 0);
	assert_int_equal(auth_stats(a)->users, 1);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000002", 1000, NULL), AUTH_FAIL);
	assert_int_equal(auth_stats(a)->unknown_user, 1);
	{
		char cred[1024];
		struct cred_spec s = { "SHA-256", "carol", REALM, alice_sha, "REGISTER", "sip:sbc.example",
				       nonce, "00000002", "c0ffee" };

		cred_make(cred, sizeof(cred), &s);
		msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
		assert_int_equal(auth_check(a, msg, false, 1000, NULL), AUTH_OK);
		/* the new nonce_ttl_s applies */
		s.nc = "00000003";
		cred_make(cred, sizeof(cred), &s);
		msg_make("REGISTER", "sip:sbc.example", "Authorization", cred);
		assert_int_equal(auth_check(a, msg, false, 1000 + 10001, NULL), AUTH_STALE);
	}
	mem_deref(a);
	msg_free();
}

/* Every allocation failure gives ENOMEM, never a crash or a leak. */
static void test_oom(void **state)
{
	struct config_auth c = cfg_make(REALM, CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256);
	struct auth *a = NULL;
	char text[512];
	int err = ENOMEM;
	long n;

	(void)state;
	snprintf(text, sizeof(text), "alice:%s:%s\nbob:%s:-\n", alice_md5, alice_sha, HEX32);
	users_write(text);
	for (n = 0; n < 100 && err == ENOMEM; n++) {
		size_t before = mem_nalloc();

		a = NULL;
		mem_fail_after(n);
		err = auth_alloc(&a, &c, NULL, &errs);
		mem_fail_after(-1);
		if (err == ENOMEM) {
			assert_null(a);
			assert_int_equal(mem_nalloc(), before);
		}
	}
	assert_int_equal(err, 0);
	assert_true(n > 3);
	err = ENOMEM;
	for (n = 0; n < 100 && err == ENOMEM; n++) {
		mem_fail_after(n);
		err = auth_users_load(a, "mem", text, strlen(text), &errs);
		mem_fail_after(-1);
		if (err == ENOMEM)
			assert_int_equal(auth_stats(a)->users, 2);
	}
	assert_int_equal(err, 0);
	assert_true(n > 2);
	mem_deref(a);
}

#define SBC_PASSWD TEST_DATA_DIR "/../../../tools/sbc-passwd"

/* The operators' tool makes a line this parser takes, with the password on stdin. */
static void test_sbc_passwd(void **state)
{
	char line[256], want[256], nonce[AUTH_NONCE_LEN + 1];
	struct auth *a;
	FILE *p;

	(void)state;
	p = popen("printf 'wonderland\\n' | " SBC_PASSWD " alice " REALM, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	snprintf(want, sizeof(want), "alice:%s:%s\n", alice_md5, alice_sha);
	assert_string_equal(line, want);
	a = auth_new(REALM, line);
	nonce_get(a, 0, nonce);
	assert_int_equal(alice_try(a, "SHA-256", alice_sha, nonce, "00000001", 0, NULL), AUTH_OK);
	mem_deref(a);
	msg_free();
	p = popen("printf 'wonderland' | " SBC_PASSWD " --no-md5 alice " REALM, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);
	snprintf(want, sizeof(want), "alice:-:%s\n", alice_sha);
	assert_string_equal(line, want);
	/* a name the parser would refuse is refused here too */
	p = popen(SBC_PASSWD " 'a:b' " REALM " </dev/null 2>/dev/null", "r");
	assert_non_null(p);
	assert_int_equal(WEXITSTATUS(pclose(p)), 64);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(auth_result_name(AUTH_OK), "ok");
	assert_string_equal(auth_result_name(AUTH_CHALLENGE), "challenge");
	assert_string_equal(auth_result_name(AUTH_STALE), "stale");
	assert_string_equal(auth_result_name(AUTH_FAIL), "fail");
	assert_string_equal(auth_result_name((enum auth_result)9), "?");
}

/* ---- client side (auth_client_pick, auth_client_answer) ---- */

static struct sip_msg *rmsg;
static char rmsg_text[8192];

/* Decode a response (401 or 407) carrying the given header lines (each ending in CRLF). */
static void resp_make(unsigned code, const char *lines)
{
	snprintf(rmsg_text, sizeof(rmsg_text),
		 "SIP/2.0 %u %s\r\n"
		 "Via: SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-1\r\n"
		 "From: <sip:acme@sbc.example>;tag=1\r\n"
		 "To: <sip:acme@sbc.example>;tag=2\r\n"
		 "Call-ID: c1\r\n"
		 "CSeq: 1 REGISTER\r\n"
		 "%s"
		 "Content-Length: 0\r\n\r\n", code, code == 407 ? "Proxy Authentication Required" : "Unauthorized",
		 lines);
	if (!rmsg)
		assert_int_equal(sip_msg_alloc(&rmsg), 0);
	assert_int_equal(sip_msg_decode_raw(rmsg, rmsg_text, strlen(rmsg_text), 0, NULL), 0);
}

/* Pick from rmsg and answer; the line written, NUL-terminated, in out. */
static int client_answer(bool proxy, const struct auth_client_params *p, char *out, size_t size)
{
	struct wbuf wb;
	struct pl val;
	int err;

	err = auth_client_pick(rmsg, proxy, &val, NULL);
	if (err)
		return err;
	wbuf_init(&wb, out, size - 1);
	err = auth_client_answer(&val, proxy, p, &wb);
	out[wb.len] = '\0';
	return err;
}

/* The value of a "Name: value\r\n" line, as a pl into line. */
static struct pl line_value(const char *line)
{
	const char *colon = strchr(line, ':');
	const char *end = strstr(line, "\r\n");

	assert_non_null(colon);
	assert_non_null(end);
	return (struct pl){ colon + 2, (size_t)(end - colon - 2) };
}

/* RFC 2617 3.5 as a client: qop="auth,auth-int" offered, auth chosen, opaque echoed. */
static void test_client_rfc2617(void **state)
{
	struct auth_client_params p = { "Mufasa", "Circle Of Life", PL("GET"), "/dir/index.html", 1, "0a4f113b" };
	struct pl get = PL("GET");
	char out[1024];
	struct pl v;
	struct auth *a;

	(void)state;
	resp_make(401, "WWW-Authenticate: Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", "
		  "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n");
	assert_int_equal(client_answer(false, &p, out, sizeof(out)), 0);
	assert_string_equal(out, "Authorization: Digest username=\"Mufasa\", realm=\"testrealm@host.com\", "
			    "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", "
			    "response=\"6629fae49393a05397450978507c4ef1\", cnonce=\"0a4f113b\", qop=auth, nc=00000001, "
			    "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n");
	/* and the server side agrees */
	a = auth_new("testrealm@host.com", "Mufasa:" MUFASA_2617_MD5 ":-\n");
	v = line_value(out);
	assert_int_equal(auth_response_verify(a, &get, &v), AUTH_OK);
	mem_deref(a);
	rmsg = mem_deref(rmsg);
}

/* RFC 7616 3.9.1: SHA-256 is chosen over MD5 in either order; each vector's response. */
static void test_client_rfc7616(void **state)
{
	const char *sha = "WWW-Authenticate: Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
			  "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
			  "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"\r\n";
	const char *md5 = "WWW-Authenticate: Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
			  "algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
			  "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"\r\n";
	struct auth_client_params p = { "Mufasa", "Circle of Life", PL("GET"), "/dir/index.html", 1,
					"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ" };
	char lines[2048], out[1024];
	struct wbuf wb;
	struct pl v;

	(void)state;
	for (int order = 0; order < 2; order++) {
		snprintf(lines, sizeof(lines), "%s%s", order ? md5 : sha, order ? sha : md5);
		resp_make(401, lines);
		assert_int_equal(client_answer(false, &p, out, sizeof(out)), 0);
		assert_string_equal(out, "Authorization: Digest username=\"Mufasa\", realm=\"http-auth@example.org\", "
				    "nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", uri=\"/dir/index.html\", "
				    "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\", "
				    "algorithm=SHA-256, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", "
				    "qop=auth, nc=00000001, opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"\r\n");
	}
	/* the MD5 challenge answered on its own */
	v = line_value(md5);
	wbuf_init(&wb, out, sizeof(out) - 1);
	assert_int_equal(auth_client_answer(&v, false, &p, &wb), 0);
	out[wb.len] = '\0';
	assert_non_null(strstr(out, "response=\"8ca523f5e9506fed4657c9700eebdbec\", algorithm=MD5,"));
	rmsg = mem_deref(rmsg);
}

/* A challenge without qop: RFC 2617 3.2.2.1 (RFC 2069) response, no cnonce, nc or qop sent. */
static void test_client_no_qop(void **state)
{
	struct auth_client_params p = { "acme", "s3cret", PL("REGISTER"), "sip:voip.example", 7, NULL };
	char out[1024], ha1[65], ha2[65], want[65], line[1024];

	(void)state;
	resp_make(401, "WWW-Authenticate: Digest realm=\"voip.example\", nonce=\"n0nce\"\r\n");
	assert_int_equal(client_answer(false, &p, out, sizeof(out)), 0);
	hash_hex("MD5", ha1, "acme:voip.example:s3cret");
	hash_hex("MD5", ha2, "REGISTER:sip:voip.example");
	hash_hex("MD5", want, "%s:n0nce:%s", ha1, ha2);
	snprintf(line, sizeof(line), "Authorization: Digest username=\"acme\", realm=\"voip.example\", "
		 "nonce=\"n0nce\", uri=\"sip:voip.example\", response=\"%s\"\r\n", want);
	assert_string_equal(out, line);
	/* SHA-256 without qop (RFC 7616 keeps qop mandatory; answered all the same) */
	resp_make(401, "WWW-Authenticate: Digest realm=\"voip.example\", nonce=\"n0nce\", algorithm=SHA-256\r\n");
	assert_int_equal(client_answer(false, &p, out, sizeof(out)), 0);
	hash_hex("SHA256", ha1, "acme:voip.example:s3cret");
	hash_hex("SHA256", ha2, "REGISTER:sip:voip.example");
	hash_hex("SHA256", want, "%s:n0nce:%s", ha1, ha2);
	assert_non_null(strstr(out, want));
	assert_non_null(strstr(out, "algorithm=SHA-256\r\n"));
	rmsg = mem_deref(rmsg);
}

/* Which challenge is answered, and which are not. */
static void test_client_pick(void **state)
{
	struct pl v;
	bool stale = true;

	(void)state;
	/* nothing we can do: auth-int only, -sess, SHA-512-256, Basic, no nonce, broken */
	resp_make(401, "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", qop=\"auth-int\"\r\n"
		  "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=MD5-sess, qop=\"auth\"\r\n"
		  "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256-sess, qop=\"auth\"\r\n"
		  "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256, qop=\"auth\"\r\n"
		  "WWW-Authenticate: Basic realm=\"r\"\r\n"
		  "WWW-Authenticate: Digest realm=\"r\", qop=\"auth\"\r\n"
		  "WWW-Authenticate: Digest realm=\"r\", nonce=\"\", qop=\"auth\"\r\n"
		  "WWW-Authenticate: Digest realm=\"r, nonce=\"n\"\r\n");
	assert_int_equal(auth_client_pick(rmsg, false, &v, NULL), ENOENT);
	/* the MD5 one among them is answered */
	resp_make(401, "WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256, qop=\"auth\"\r\n"
		  "WWW-Authenticate: Digest realm=\"r\", nonce=\"m\", algorithm=md5, qop=\"auth\", stale=TRUE\r\n");
	assert_int_equal(auth_client_pick(rmsg, false, &v, &stale), 0);
	assert_non_null(memmem(v.p, v.l, "nonce=\"m\"", 9));
	assert_true(stale);
	/* the first of equals; stale false when absent */
	resp_make(401, "WWW-Authenticate: Digest realm=\"r\", nonce=\"a\", algorithm=SHA-256, qop=\"auth\"\r\n"
		  "WWW-Authenticate: Digest realm=\"r\", nonce=\"b\", algorithm=SHA-256, qop=\"auth\"\r\n");
	assert_int_equal(auth_client_pick(rmsg, false, &v, &stale), 0);
	assert_non_null(memmem(v.p, v.l, "nonce=\"a\"", 9));
	assert_false(stale);
	/* a 407's challenge is in Proxy-Authenticate */
	resp_make(407, "Proxy-Authenticate: Digest realm=\"r\", nonce=\"p\", qop=\"auth\"\r\n");
	assert_int_equal(auth_client_pick(rmsg, false, &v, NULL), ENOENT);
	assert_int_equal(auth_client_pick(rmsg, true, &v, NULL), 0);
	assert_non_null(memmem(v.p, v.l, "nonce=\"p\"", 9));
	/* a value folded over two lines would carry CR LF into our request: not answered */
	resp_make(401, "WWW-Authenticate: Digest realm=\"r\", nonce=\"a\r\n b\", qop=\"auth\"\r\n"
		  "WWW-Authenticate: Digest realm=\"r\", nonce=\"a\", opaque=\"x\r\n\ty\", qop=\"auth\"\r\n"
		  "WWW-Authenticate: Digest realm=\"r\r\n s\", nonce=\"a\", qop=\"auth\"\r\n");
	assert_int_equal(sip_msg_hdr_count(rmsg, SIP_HDR_WWW_AUTHENTICATE), 3);
	assert_int_equal(auth_client_pick(rmsg, false, &v, NULL), ENOENT);
	/* no challenge at all */
	resp_make(401, "");
	assert_int_equal(auth_client_pick(rmsg, false, &v, NULL), ENOENT);
	rmsg = mem_deref(rmsg);
}

/* Bad parameters, a challenge too large, no room, quoting, random cnonces. */
static void test_client_errors(void **state)
{
	struct auth_client_params p = { "acme", "pw", PL("REGISTER"), "sip:r", 1, NULL };
	struct pl chal = PL("Digest realm=\"r\", nonce=\"n\", qop=\"auth\"");
	char out[1024], big[AUTH_CHAL_MAX + 64], first[64];
	const char *quoted = "Proxy-Authorization: Digest username=\"a\\\"c\\\\e\", realm=";
	const char *c;
	struct wbuf wb;

	(void)state;
	wbuf_init(&wb, out, sizeof(out));
	p.nc = 0;
	assert_int_equal(auth_client_answer(&chal, false, &p, &wb), EINVAL);
	p.nc = 1;
	p.user = "";
	assert_int_equal(auth_client_answer(&chal, false, &p, &wb), EINVAL);
	p.user = "acme";
	p.cnonce = "a\"b";
	assert_int_equal(auth_client_answer(&chal, false, &p, &wb), EINVAL);
	p.cnonce = NULL;
	assert_int_equal(auth_client_answer(&chal, false, NULL, &wb), EINVAL);
	assert_int_equal(wb.len, 0);
	/* an oversized challenge is not answered */
	memset(big, 'x', sizeof(big));
	memcpy(big, "Digest realm=\"r\", nonce=\"", 25);
	memcpy(big + sizeof(big) - 2, "\"", 2);
	assert_int_equal(auth_client_answer(&(struct pl){ big, sizeof(big) - 1 }, false, &p, &wb), EMSGSIZE);
	/* no room: nothing written */
	wbuf_init(&wb, out, 100);
	assert_int_equal(wbuf_put_str(&wb, "X: 1\r\n"), 0);
	assert_int_equal(auth_client_answer(&chal, false, &p, &wb), ENOSPC);
	assert_int_equal(wb.len, 6);
	/* a user name with '"' and '\' is a quoted-pair each; a random cnonce of 32 hex digits */
	p.user = "a\"c\\e";
	wbuf_init(&wb, out, sizeof(out) - 1);
	assert_int_equal(auth_client_answer(&chal, true, &p, &wb), 0);
	out[wb.len] = '\0';
	assert_true(strncmp(out, quoted, strlen(quoted)) == 0);
	c = strstr(out, "cnonce=\"");
	assert_non_null(c);
	assert_int_equal(strspn(c + 8, "0123456789abcdef"), 2 * AUTH_CNONCE_BYTES);
	snprintf(first, sizeof(first), "%.32s", c + 8);
	wbuf_init(&wb, out, sizeof(out) - 1);
	assert_int_equal(auth_client_answer(&chal, true, &p, &wb), 0);
	out[wb.len] = '\0';
	assert_null(strstr(out, first));
	/* the password never appears */
	p.password = "pw-Secret-1";
	wbuf_init(&wb, out, sizeof(out) - 1);
	assert_int_equal(auth_client_answer(&chal, false, &p, &wb), 0);
	out[wb.len] = '\0';
	assert_null(strstr(out, "Secret"));
}

/*
 * Round trip: our own server's challenge (both algorithms), answered by
 * the client, accepted by auth_check; the next request on the same nonce
 * with nc 2; a replayed nc, a wrong password, a 407 for an INVITE.
 */
static void test_client_round_trip(void **state)
{
	struct auth_client_params p = { "alice", "wonderland", PL("REGISTER"), "sip:sbc.example", 1, NULL };
	struct config_auth c;
	char chal[1024], line[1024], hv[1024];
	const char *user = NULL;
	struct wbuf wb;
	struct pl v;
	struct auth *a;

	(void)state;
	a = auth_std();
	for (int proxy = 0; proxy < 2; proxy++) {
		const char *method = proxy ? "INVITE" : "REGISTER";
		const char *ruri = proxy ? "sip:4930123@sbc.example;user=phone" : "sip:sbc.example";

		p.method = pl_from_str(method);
		p.uri = ruri;
		p.nc = 1;
		wbuf_init(&wb, chal, sizeof(chal) - 1);
		assert_int_equal(auth_challenge_write(a, proxy, false, 1000, &wb), 0);
		chal[wb.len] = '\0';
		resp_make(proxy ? 407 : 401, chal);
		assert_int_equal(client_answer(proxy, &p, line, sizeof(line)), 0);
		assert_non_null(strstr(line, "algorithm=SHA-256"));
		v = line_value(line);
		snprintf(hv, sizeof(hv), "%.*s", (int)v.l, v.p);
		msg_make(method, ruri, proxy ? "Proxy-Authorization" : "Authorization", hv);
		assert_int_equal(auth_check(a, msg, proxy, 2000, &user), AUTH_OK);
		assert_string_equal(user, "alice");
		/* the same answer again: a replay */
		assert_int_equal(auth_check(a, msg, proxy, 2000, &user), AUTH_FAIL);
		/* the next request on that nonce counts 2 (what a refresh with cached credentials does) */
		p.nc = 2;
		assert_int_equal(client_answer(proxy, &p, line, sizeof(line)), 0);
		v = line_value(line);
		snprintf(hv, sizeof(hv), "%.*s", (int)v.l, v.p);
		msg_make(method, ruri, proxy ? "Proxy-Authorization" : "Authorization", hv);
		assert_int_equal(auth_check(a, msg, proxy, 3000, &user), AUTH_OK);
		/* a wrong password */
		p.nc = 3;
		p.password = "wonderlanD";
		assert_int_equal(client_answer(proxy, &p, line, sizeof(line)), 0);
		v = line_value(line);
		snprintf(hv, sizeof(hv), "%.*s", (int)v.l, v.p);
		msg_make(method, ruri, proxy ? "Proxy-Authorization" : "Authorization", hv);
		assert_int_equal(auth_check(a, msg, proxy, 3000, &user), AUTH_FAIL);
		p.password = "wonderland";
	}
	mem_deref(a);
	/* a server offering MD5 only gets MD5 */
	c = cfg_make(REALM, CONFIG_AUTH_MD5);
	snprintf(hv, sizeof(hv), "alice:%s:-\n", alice_md5);
	users_write(hv);
	assert_int_equal(auth_alloc(&a, &c, NULL, &errs), 0);
	p.method = pl_from_str("REGISTER");
	p.uri = "sip:sbc.example";
	p.nc = 1;
	wbuf_init(&wb, chal, sizeof(chal) - 1);
	assert_int_equal(auth_challenge_write(a, false, false, 1000, &wb), 0);
	chal[wb.len] = '\0';
	resp_make(401, chal);
	assert_int_equal(client_answer(false, &p, line, sizeof(line)), 0);
	assert_non_null(strstr(line, "algorithm=MD5"));
	v = line_value(line);
	snprintf(hv, sizeof(hv), "%.*s", (int)v.l, v.p);
	msg_make("REGISTER", "sip:sbc.example", "Authorization", hv);
	assert_int_equal(auth_check(a, msg, false, 2000, &user), AUTH_OK);
	mem_deref(a);
	msg_free();
	rmsg = mem_deref(rmsg);
}

#define T(f) cmocka_unit_test_setup_teardown(f, unit_leak_setup, unit_leak_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_rfc2617_vector),
		T(test_rfc7616_vectors),
		T(test_ha1_hex),
		T(test_fixture_register),
		T(test_challenge_format),
		T(test_check_ok),
		T(test_check_challenge),
		T(test_unknown_user_like_wrong_password),
		T(test_check_stale),
		T(test_check_replay),
		T(test_check_bad_uri),
		T(test_check_malformed),
		T(test_nc_table_bounded),
		T(test_users_file_errors),
		T(test_users_file_limits),
		T(test_users_file_missing),
		T(test_realm_fallback),
		T(test_reload),
		T(test_oom),
		T(test_sbc_passwd),
		T(test_names),
		T(test_client_rfc2617),
		T(test_client_rfc7616),
		T(test_client_no_qop),
		T(test_client_pick),
		T(test_client_errors),
		T(test_client_round_trip),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
