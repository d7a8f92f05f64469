/* test_webd: sbc-webd's parts without global state: password hash lines, tokens, request checks, rate limit, sealed sessions, revocation, state files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "webd/webd.h"
#include "webd/webd_int.h"
#include "unit.h"

/* Made with Python's hashlib.pbkdf2_hmac('sha256', b'correct horse battery', b'0123456789abcdef', 1000). */
static const char python_line[] =
	"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=";

static const uint8_t salt16[16] = "0123456789abcdef";

static void test_pw_round_trip(void **state)
{
	char line[WEBD_PW_LINE_MAX], other[WEBD_PW_LINE_MAX];
	uint8_t salt[WEBD_PW_SALT_MAX], hash[WEBD_PW_HASH_LEN];
	const uint8_t salt2[16] = "fedcba9876543210";
	size_t saltlen;
	unsigned iter;

	(void)state;
	assert_int_equal(webd_pw_hash(line, sizeof(line), "correct horse battery", 21, 1000, salt16,
				      sizeof(salt16)), 0);
	assert_string_equal(line, python_line);   /* the same as an independent implementation */
	assert_int_equal(webd_pw_verify(line, "correct horse battery", 21), 0);
	assert_int_equal(webd_pw_verify(line, "correct horse batterz", 21), EACCES);
	assert_int_equal(webd_pw_verify(line, "correct horse battery", 20), EACCES);
	assert_int_equal(webd_pw_verify(line, "", 0), EACCES);
	assert_int_equal(webd_pw_parse(line, &iter, salt, &saltlen, hash), 0);
	assert_int_equal(iter, 1000);
	assert_int_equal(saltlen, 16);
	assert_memory_equal(salt, salt16, 16);

	/* another salt: another line, same password still verifies */
	assert_int_equal(webd_pw_hash(other, sizeof(other), "correct horse battery", 21, 1000, salt2,
				      sizeof(salt2)), 0);
	assert_string_not_equal(line, other);
	assert_int_equal(webd_pw_verify(other, "correct horse battery", 21), 0);

	/* a trailing newline (as in the file) is accepted */
	snprintf(other, sizeof(other), "%s\n", python_line);
	assert_int_equal(webd_pw_verify(other, "correct horse battery", 21), 0);

	/* too small a buffer, bad parameters */
	assert_int_equal(webd_pw_hash(other, 40, "x", 1, 1000, salt16, 16), ENOSPC);
	assert_int_equal(webd_pw_hash(other, sizeof(other), "x", 1, 0, salt16, 16), EINVAL);
	assert_int_equal(webd_pw_hash(other, sizeof(other), "x", 1, 1000, salt16, 8), EINVAL);
}

/* The production iteration count, once (about 0.3 s). */
static void test_pw_default_iterations(void **state)
{
	char line[WEBD_PW_LINE_MAX];

	(void)state;
	assert_int_equal(webd_pw_hash(line, sizeof(line), "0123456789", 10, WEBD_PW_ITER, salt16,
				      16), 0);
	assert_true(strncmp(line, "pbkdf2-sha256$600000$", 21) == 0);
	assert_int_equal(webd_pw_verify(line, "0123456789", 10), 0);
	assert_int_equal(webd_pw_verify(line, "0123456788", 10), EACCES);
}

static void test_pw_malformed(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"pbkdf2-sha256",
		"pbkdf2-sha256$1000",
		"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==",
		"pbkdf2-sha1$1000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"PBKDF2-SHA256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"pbkdf2-sha256$0$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"pbkdf2-sha256$01000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"pbkdf2-sha256$-1000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"pbkdf2-sha256$1e3$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"pbkdf2-sha256$10000001$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"pbkdf2-sha256$$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		/* salt: 8 bytes, not base64, padding inside, unpadded */
		"pbkdf2-sha256$1000$MDEyMzQ1Njc=$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2Rl*g==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"pbkdf2-sha256$1000$MDEyMzQ1Nj=4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		/* hash: 31 bytes, 33 bytes, empty */
		"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWA==",
		"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4AAA==",
		"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$",
		/* extra field, trailing garbage, white space, two newlines */
		"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=$x",
		"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4= ",
		" pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
		"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=\n\n",
		"pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFi\nY2RlZg==$BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=",
	};
	uint8_t salt[WEBD_PW_SALT_MAX], hash[WEBD_PW_HASH_LEN];
	char longline[WEBD_PW_LINE_MAX + 10];
	size_t saltlen;
	unsigned iter;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (webd_pw_parse(bad[i], &iter, salt, &saltlen, hash) != EINVAL)
			fail_msg("accepted as a hash line: \"%s\"", bad[i]);
		assert_int_equal(webd_pw_verify(bad[i], "correct horse battery", 21), EINVAL);
	}
	assert_int_equal(webd_pw_parse(NULL, &iter, salt, &saltlen, hash), EINVAL);
	memset(longline, 'A', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	memcpy(longline, "pbkdf2-sha256$1000$", 19);
	assert_int_equal(webd_pw_parse(longline, &iter, salt, &saltlen, hash), EINVAL);
	/* the largest iteration count allowed parses (not run: it would take seconds) */
	assert_int_equal(webd_pw_parse("pbkdf2-sha256$10000000$MDEyMzQ1Njc4OWFiY2RlZg==$"
				       "BVALGMmC/K/8ELErc5VgJxyPFApArIZRCQsqjEgZWJ4=", &iter, salt,
				       &saltlen, hash), 0);
	assert_int_equal(iter, 10000000);
}

static void test_tokens(void **state)
{
	char a[WEBD_TOKEN_HEX], b[WEBD_TOKEN_HEX];

	(void)state;
	assert_int_equal(webd_token_new(a), 0);
	assert_int_equal(webd_token_new(b), 0);
	assert_int_equal(strlen(a), 64);
	assert_true(webd_token_valid(a));
	assert_string_not_equal(a, b);
	assert_true(webd_token_eq(a, 64, a, 64));
	assert_false(webd_token_eq(a, 64, b, 64));
	assert_false(webd_token_eq(a, 64, a, 63));     /* a prefix is not the token */
	assert_false(webd_token_eq(a, 0, a, 0));       /* an empty secret matches nothing */
	assert_false(webd_token_eq(NULL, 0, a, 64));
	b[10] = 'G';
	assert_false(webd_token_valid(b));
	assert_false(webd_token_valid("abc"));
	memcpy(b, a, sizeof(b));
	b[5] = a[5] == '0' ? '1' : '0';
	assert_false(webd_token_eq(a, 64, b, 64));     /* one digit off */
}

static void path_ok(const char *in, const char *want)
{
	char out[WEBD_URI_PATH_MAX];
	int err = webd_path_resolve(in, out, sizeof(out));

	if (err)
		fail_msg("\"%s\" refused (%d), want \"%s\"", in, err, want);
	assert_string_equal(out, want);
}

static void path_bad(const char *in)
{
	char out[WEBD_URI_PATH_MAX];
	int err = webd_path_resolve(in, out, sizeof(out));

	if (err == 0)
		fail_msg("\"%s\" resolved to \"%s\"", in ? in : "(null)", out);
}

static void test_path_resolve(void **state)
{
	char longpath[WEBD_URI_PATH_MAX + 20], out[WEBD_URI_PATH_MAX];

	(void)state;
	path_ok("/", "index.html");
	path_ok("/index.html", "index.html");
	path_ok("/js/app.js", "js/app.js");
	path_ok("/img/logo-2_x.v1.svg", "img/logo-2_x.v1.svg");
	path_ok("/js%2fapp.js", "js/app.js");          /* decoded, then checked the same */
	path_ok("/%61pp.js", "app.js");

	path_bad("/../etc/passwd");
	path_bad("/%2e%2e/etc/passwd");
	path_bad("/%2E%2E/%2E%2E/etc/passwd");
	path_bad("/..%2fetc/passwd");
	path_bad("/js/../../etc/passwd");
	path_bad("/js/%2e%2e/x.js");
	path_bad("/./index.html");
	path_bad("/.env");                             /* dot files */
	path_bad("/js/.hidden.js");
	path_bad("/.git/config");
	path_bad("/js/");                              /* no directory listing */
	path_bad("/js//app.js");
	path_bad("//etc/passwd");
	path_bad("/a%00.js");                          /* NUL */
	path_bad("/a%zz.js");                          /* bad escapes */
	path_bad("/a%2.js");
	path_bad("/a%");
	path_bad("/a\\..\\b.js");
	path_bad("/a b.js");
	path_bad("/a%20b.js");
	path_bad("/caf\xc3\xa9.js");
	path_bad("index.html");                        /* not absolute */
	path_bad("");
	path_bad(NULL);
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(webd_path_resolve(longpath, out, sizeof(out)), ENAMETOOLONG);
	assert_int_equal(webd_path_resolve("/abcdef.js", out, 5), ENAMETOOLONG);
}

static void test_content_type(void **state)
{
	(void)state;
	assert_string_equal(webd_content_type("index.html"), "text/html; charset=utf-8");
	assert_string_equal(webd_content_type("js/app.js"), "text/javascript; charset=utf-8");
	assert_string_equal(webd_content_type("a.css"), "text/css; charset=utf-8");
	assert_string_equal(webd_content_type("i/logo.svg"), "image/svg+xml");
	assert_string_equal(webd_content_type("a.png"), "image/png");
	assert_string_equal(webd_content_type("favicon.ico"), "image/x-icon");
	assert_string_equal(webd_content_type("a.json"), "application/json");
	assert_string_equal(webd_content_type("site.webmanifest"), "application/manifest+json");
	assert_null(webd_content_type("a.txt"));
	assert_null(webd_content_type("Makefile"));
	assert_null(webd_content_type("a.HTML"));
	assert_null(webd_content_type("a.js.map"));
	assert_null(webd_content_type("x.js/file"));
	assert_null(webd_content_type("a."));
}

static void test_origin(void **state)
{
	(void)state;
	assert_true(webd_origin_ok(NULL, "10.20.0.1"));            /* no Origin: not a browser's cross-site */
	assert_true(webd_origin_ok(NULL, NULL));
	assert_true(webd_origin_ok("https://10.20.0.1", "10.20.0.1"));
	assert_true(webd_origin_ok("https://10.20.0.1:8443", "10.20.0.1:8443"));
	assert_true(webd_origin_ok("https://SBC.example", "sbc.example"));
	assert_true(webd_origin_ok("HTTPS://[fd00::1]", "[fd00::1]"));
	assert_false(webd_origin_ok("http://10.20.0.1", "10.20.0.1"));
	assert_false(webd_origin_ok("https://10.20.0.1:444", "10.20.0.1"));
	assert_false(webd_origin_ok("https://10.20.0.1", "10.20.0.1:8443"));
	assert_false(webd_origin_ok("https://evil.example", "10.20.0.1"));
	assert_false(webd_origin_ok("https://10.20.0.1.evil.example", "10.20.0.1"));
	assert_false(webd_origin_ok("https://10.20.0.1/", "10.20.0.1"));
	assert_false(webd_origin_ok("null", "10.20.0.1"));
	assert_false(webd_origin_ok("https://10.20.0.1", NULL));
	assert_false(webd_origin_ok("https://", ""));
	assert_false(webd_origin_ok("", "10.20.0.1"));
}

static void test_cookie_get(void **state)
{
	char v[WEBD_TOKEN_HEX];

	(void)state;
	assert_int_equal(webd_cookie_get("sbc_session=abc", "sbc_session", v, sizeof(v)), 0);
	assert_string_equal(v, "abc");
	assert_int_equal(webd_cookie_get("a=1; sbc_session=def; b=2", "sbc_session", v, sizeof(v)), 0);
	assert_string_equal(v, "def");
	assert_int_equal(webd_cookie_get("a=1;sbc_session=ghi ", "sbc_session", v, sizeof(v)), 0);
	assert_string_equal(v, "ghi");
	assert_int_equal(webd_cookie_get("xsbc_session=1; sbc_sessionx=2", "sbc_session", v,
					 sizeof(v)), ENOENT);
	assert_int_equal(webd_cookie_get("sbc_session=first; sbc_session=second", "sbc_session", v,
					 sizeof(v)), 0);
	assert_string_equal(v, "first");
	assert_int_equal(webd_cookie_get("sbc_session=", "sbc_session", v, sizeof(v)), 0);
	assert_string_equal(v, "");
	assert_int_equal(webd_cookie_get("", "sbc_session", v, sizeof(v)), ENOENT);
	assert_int_equal(webd_cookie_get("sbc_session", "sbc_session", v, sizeof(v)), ENOENT);
	assert_int_equal(webd_cookie_get("sbc_session=0123456789", "sbc_session", v, 5), ENAMETOOLONG);
}

static void test_header_checks(void **state)
{
	const char *tok;
	size_t len;

	(void)state;
	assert_true(webd_ctype_json("application/json"));
	assert_true(webd_ctype_json("Application/JSON; charset=utf-8"));
	assert_true(webd_ctype_json("application/json ;charset=UTF-8"));
	assert_false(webd_ctype_json("application/jsonp"));
	assert_false(webd_ctype_json("text/plain"));
	assert_false(webd_ctype_json("application/x-www-form-urlencoded"));
	assert_false(webd_ctype_json(""));
	assert_false(webd_ctype_json(NULL));

	assert_int_equal(webd_bearer_get("Bearer abc123", &tok, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(tok, "abc123", 6);
	assert_int_equal(webd_bearer_get("bearer  xyz ", &tok, &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(webd_bearer_get("Basic dXNlcjpwdw==", &tok, &len), ENOENT);
	assert_int_equal(webd_bearer_get("Bearer ", &tok, &len), ENOENT);
	assert_int_equal(webd_bearer_get("Bearerabc", &tok, &len), ENOENT);
	assert_int_equal(webd_bearer_get(NULL, &tok, &len), ENOENT);
}

static void test_cmd_kind(void **state)
{
	static const char *const reads[] = { "help", "status", "stats", "guard.stats", "guard.bans",
		"guard.top", "guard.timeline", "guard.allow", "calls", "registrations", "trunks",
		"config.get", "trace.status", "metrics" };
	static const char *const changes[] = { "guard.unban", "guard.allow.add",
		"guard.allow.remove", "calls.hangup", "config.validate", "config.apply",
		"trace.start", "trace.stop", "system.restart" };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(reads); i++)
		assert_int_equal(webd_cmd_kind(reads[i]), WEBD_CMD_READ);
	for (size_t i = 0; i < ARRAY_SIZE(changes); i++)
		assert_int_equal(webd_cmd_kind(changes[i]), WEBD_CMD_CHANGE);
	assert_int_equal(webd_cmd_kind("status2"), WEBD_CMD_NONE);
	assert_int_equal(webd_cmd_kind("guard"), WEBD_CMD_NONE);
	assert_int_equal(webd_cmd_kind("STATUS"), WEBD_CMD_NONE);
	assert_int_equal(webd_cmd_kind(""), WEBD_CMD_NONE);
	assert_int_equal(webd_cmd_kind("trace.start/../status"), WEBD_CMD_NONE);
}

static struct webd_limit *limit_new(void)
{
	struct webd_limit *l = malloc(sizeof(*l));

	assert_non_null(l);
	webd_limit_init(l);
	return l;
}

/* Per source: five failures within five minutes, then refused until the oldest ages out. */
static void test_limit_source(void **state)
{
	struct webd_limit *l = limit_new();
	const uint64_t t0 = 1000000;
	unsigned retry = 0;

	(void)state;
	for (unsigned i = 0; i < WEBD_LIMIT_FAILS; i++) {
		assert_int_equal(webd_limit_begin(l, "10.20.0.10", t0 + i * 1000, &retry), 0);
		webd_limit_end(l, "10.20.0.10", false, t0 + i * 1000);
	}
	assert_int_equal(webd_limit_begin(l, "10.20.0.10", t0 + 5000, &retry), EAGAIN);
	assert_int_equal(retry, 295);          /* the first failure (t0) ages out at t0 + 300 s */
	assert_int_equal(l->stats.refused_source, 1);
	/* another source is not affected */
	assert_int_equal(webd_limit_begin(l, "10.20.0.11", t0 + 5000, &retry), 0);
	webd_limit_end(l, "10.20.0.11", false, t0 + 5000);
	/* one millisecond before the first failure ages out: still refused, then one slot frees */
	assert_int_equal(webd_limit_begin(l, "10.20.0.10", t0 + WEBD_LIMIT_FAIL_MS - 1, &retry),
			 EAGAIN);
	assert_int_equal(retry, 1);
	assert_int_equal(webd_limit_begin(l, "10.20.0.10", t0 + WEBD_LIMIT_FAIL_MS, &retry), 0);
	webd_limit_end(l, "10.20.0.10", false, t0 + WEBD_LIMIT_FAIL_MS);
	assert_int_equal(webd_limit_begin(l, "10.20.0.10", t0 + WEBD_LIMIT_FAIL_MS, &retry), EAGAIN);
	/* a success resets the source */
	assert_int_equal(webd_limit_begin(l, "10.20.0.10", t0 + WEBD_LIMIT_FAIL_MS + 1000, &retry), 0);
	webd_limit_end(l, "10.20.0.10", true, t0 + WEBD_LIMIT_FAIL_MS + 1000);
	for (unsigned i = 0; i < WEBD_LIMIT_FAILS; i++) {
		assert_int_equal(webd_limit_begin(l, "10.20.0.10", t0 + 400000, &retry), 0);
		webd_limit_end(l, "10.20.0.10", false, t0 + 400000);
	}
	assert_int_equal(webd_limit_begin(l, "10.20.0.10", t0 + 400000, &retry), EAGAIN);
	assert_int_equal(retry, 300);
	assert_int_equal(l->stats.failures, 2 * WEBD_LIMIT_FAILS + 2);
	free(l);
}

/* Attempts under way count as failures until they end (parallel guesses). */
static void test_limit_pending(void **state)
{
	struct webd_limit *l = limit_new();
	unsigned retry = 0;

	(void)state;
	for (unsigned i = 0; i < WEBD_LIMIT_FAILS; i++)
		assert_int_equal(webd_limit_begin(l, "192.0.2.1", 5000, &retry), 0);
	assert_int_equal(webd_limit_begin(l, "192.0.2.1", 5000, &retry), EAGAIN);
	assert_int_equal(retry, 1);
	webd_limit_end(l, "192.0.2.1", true, 5100);   /* one succeeds: failures forgotten */
	assert_int_equal(webd_limit_begin(l, "192.0.2.1", 5200, &retry), 0);
	free(l);
}

/* In all: at most 30 attempts a minute, whatever the sources. */
static void test_limit_total(void **state)
{
	struct webd_limit *l = limit_new();
	const uint64_t t0 = 50000;
	unsigned retry = 0;
	char addr[32];

	(void)state;
	for (unsigned i = 0; i < WEBD_LIMIT_ATTEMPTS; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%u", i);
		assert_int_equal(webd_limit_begin(l, addr, t0 + i * 100, &retry), 0);
		webd_limit_end(l, addr, true, t0 + i * 100);
	}
	assert_int_equal(webd_limit_begin(l, "203.0.113.9", t0 + 3000, &retry), EAGAIN);
	assert_int_equal(retry, 57);           /* the first attempt (t0) leaves the minute at t0 + 60 s */
	assert_int_equal(l->stats.refused_total, 1);
	assert_int_equal(webd_limit_begin(l, "203.0.113.9", t0 + WEBD_LIMIT_ATTEMPT_MS - 1, &retry),
			 EAGAIN);
	assert_int_equal(webd_limit_begin(l, "203.0.113.9", t0 + WEBD_LIMIT_ATTEMPT_MS, &retry), 0);
	webd_limit_end(l, "203.0.113.9", true, t0 + WEBD_LIMIT_ATTEMPT_MS);
	/* the second attempt (t0 + 100) is the oldest now */
	assert_int_equal(webd_limit_begin(l, "203.0.113.9", t0 + WEBD_LIMIT_ATTEMPT_MS, &retry),
			 EAGAIN);
	assert_int_equal(retry, 1);
	free(l);
}

/* The table is fixed: new sources evict old ones, a source with failures in the window stays. */
static void test_limit_eviction(void **state)
{
	struct webd_limit *l = limit_new();
	unsigned retry = 0;
	char addr[32];
	uint64_t t = 0;

	(void)state;
	/* one source with 5 failures (kept fresh), then more sources than slots, each with a success */
	for (unsigned i = 0; i < WEBD_LIMIT_FAILS; i++) {
		assert_int_equal(webd_limit_begin(l, "10.0.0.1", t, &retry), 0);
		webd_limit_end(l, "10.0.0.1", false, t);
	}
	for (unsigned i = 0; i < WEBD_LIMIT_SOURCES + 10; i++) {
		t += 2500;   /* 24 a minute: under the total limit */
		snprintf(addr, sizeof(addr), "10.1.%u.%u", i / 256, i % 256);
		assert_int_equal(webd_limit_begin(l, addr, t, &retry), 0);
		webd_limit_end(l, addr, true, t);
		for (unsigned k = 0; i % 50 == 0 && k < WEBD_LIMIT_FAILS; k++)
			webd_limit_end(l, "10.0.0.1", false, t);   /* its failures stay in the window */
	}
	assert_int_equal(l->stats.evicted, 1 + WEBD_LIMIT_SOURCES + 10 - WEBD_LIMIT_SOURCES);
	/* the failing source was kept: still limited */
	assert_int_equal(webd_limit_begin(l, "10.0.0.1", t, &retry), EAGAIN);
	free(l);
}

static void key_of(struct webd_skey *k, uint8_t fill)
{
	uint8_t raw[WEBD_SKEY_LEN];

	memset(raw, fill, sizeof(raw));
	raw[0] = 0x5a;
	assert_int_equal(webd_skey_init(k, raw, sizeof(raw)), 0);
}

static void token_of(struct webd_token *t, uint64_t created, uint64_t seen)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < WEBD_SID_LEN; i++)
		t->sid[i] = (uint8_t)(0xa0 + i);
	snprintf(t->user, sizeof(t->user), "%s", WEBD_USER);
	t->created = created;
	t->seen = seen;
}

/* Seal then open gives the same token back; each seal has its own nonce; CSRF tokens are stable. */
static void test_seal_round_trip(void **state)
{
	struct webd_skey k;
	struct webd_token t, o;
	enum webd_refuse why;
	char a[WEBD_SEAL_TEXT_MAX], b[WEBD_SEAL_TEXT_MAX], c1[WEBD_TOKEN_HEX], c2[WEBD_TOKEN_HEX];
	uint8_t raw[WEBD_SKEY_LEN] = { 0 };

	(void)state;
	assert_int_equal(webd_skey_init(&k, raw, sizeof(raw) - 1), EINVAL);
	key_of(&k, 1);
	token_of(&t, 1700000000000ull, 1700000001234ull);
	assert_int_equal(webd_seal(&k, &t, a, sizeof(a)), 0);
	assert_int_equal(webd_seal(&k, &t, b, sizeof(b)), 0);
	assert_string_not_equal(a, b);                      /* a fresh nonce */
	assert_true(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
		    strlen(a));
	assert_int_equal(webd_unseal(&k, a, &o, &why), 0);
	assert_memory_equal(o.sid, t.sid, WEBD_SID_LEN);
	assert_string_equal(o.user, WEBD_USER);
	assert_true(o.created == t.created && o.seen == t.seen);
	assert_int_equal(webd_unseal(&k, b, &o, &why), 0);
	assert_int_equal(webd_seal(&k, &t, a, 20), ENOSPC);
	snprintf(t.user, sizeof(t.user), "%s", "");
	assert_int_equal(webd_seal(&k, &t, a, sizeof(a)), EINVAL);

	token_of(&t, 1, 1);
	webd_csrf_derive(&k, t.sid, c1);
	webd_csrf_derive(&k, t.sid, c2);
	assert_true(webd_token_valid(c1));
	assert_string_equal(c1, c2);
	t.sid[0] ^= 1;
	webd_csrf_derive(&k, t.sid, c2);
	assert_string_not_equal(c1, c2);
	key_of(&k, 2);
	t.sid[0] ^= 1;
	webd_csrf_derive(&k, t.sid, c2);
	assert_string_not_equal(c1, c2);                    /* another key, another CSRF token */
}

static void refused(const struct webd_skey *k, const char *text, enum webd_refuse want)
{
	struct webd_token o;
	enum webd_refuse why = WEBD_REFUSE_N;

	assert_int_not_equal(webd_unseal(k, text, &o, &why), 0);
	if (why != want)
		fail_msg("\"%s\": refused as %s, want %s", text, webd_refuse_name(why),
			 webd_refuse_name(want));
}

/* Every changed character, a cut, an extension, bad base64 and another key are refused. */
static void test_seal_refused(void **state)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	struct webd_skey k, other;
	struct webd_token t, o;
	enum webd_refuse why;
	char good[WEBD_SEAL_TEXT_MAX], bad[WEBD_SEAL_TEXT_MAX + 8], long_text[400];
	size_t len;

	(void)state;
	key_of(&k, 1);
	token_of(&t, 1700000000000ull, 1700000000000ull);
	assert_int_equal(webd_seal(&k, &t, good, sizeof(good)), 0);
	len = strlen(good);

	/* tampered: each character replaced by each other one is refused */
	for (size_t i = 0; i < len; i++) {
		for (const char *c = alphabet; *c; c++) {
			if (*c == good[i])
				continue;
			memcpy(bad, good, len + 1);
			bad[i] = *c;
			assert_int_not_equal(webd_unseal(&k, bad, &o, &why), 0);
			/* past the version and key id (the first 40 bits: 7 characters) it is the tag that fails */
			if (i >= 7 && i < len - 1 && why != WEBD_REFUSE_TAMPERED)
				fail_msg("position %zu: %s", i, webd_refuse_name(why));
		}
	}
	memcpy(bad, good, len + 1);
	bad[3] = bad[3] == 'A' ? 'B' : 'A';
	refused(&k, bad, WEBD_REFUSE_KEY);                  /* the key id changed */
	memcpy(bad, good, len + 1);
	bad[0] = bad[0] == 'A' ? 'B' : 'A';
	refused(&k, bad, WEBD_REFUSE_MALFORMED);            /* another version */

	/* truncated at every length, and extended */
	for (size_t n = 0; n < len; n++) {
		memcpy(bad, good, n);
		bad[n] = '\0';
		assert_int_not_equal(webd_unseal(&k, bad, &o, &why), 0);
		assert_true(why == WEBD_REFUSE_MALFORMED || why == WEBD_REFUSE_TAMPERED);
	}
	snprintf(bad, sizeof(bad), "%sAAAA", good);
	refused(&k, bad, WEBD_REFUSE_TAMPERED);
	snprintf(bad, sizeof(bad), "%s%.*s", good, (int)((5 - len % 4) % 4), "AAAA");
	refused(&k, bad, WEBD_REFUSE_MALFORMED);            /* 6 bits left over */

	/* bad base64: padding, standard alphabet, spaces, foreign bytes */
	for (const char *c = "+/=. \t\x80"; *c; c++) {
		memcpy(bad, good, len + 1);
		bad[len / 2] = *c;
		refused(&k, bad, WEBD_REFUSE_MALFORMED);
	}
	snprintf(bad, sizeof(bad), "%s==", good);
	refused(&k, bad, WEBD_REFUSE_MALFORMED);
	refused(&k, "", WEBD_REFUSE_MALFORMED);
	refused(&k, NULL, WEBD_REFUSE_MALFORMED);
	refused(&k, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		WEBD_REFUSE_MALFORMED);                     /* an old hex session id */
	memset(long_text, 'A', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	refused(&k, long_text, WEBD_REFUSE_MALFORMED);
	/* non-canonical: the unused low bits of the last character set */
	if (len % 4) {
		const char *p = strchr(alphabet, good[len - 1]);

		memcpy(bad, good, len + 1);
		bad[len - 1] = alphabet[(p - alphabet) ^ 1];
		refused(&k, bad, WEBD_REFUSE_MALFORMED);
	}

	/* another box's key: refused by its id; a key with the same id (forged): by the tag */
	key_of(&other, 2);
	refused(&other, good, WEBD_REFUSE_KEY);
	other.id = k.id;
	refused(&other, good, WEBD_REFUSE_TAMPERED);
	assert_int_equal(webd_unseal(&k, good, &o, &why), 0);
}

/* Idle and absolute limits, the future, revocation by time and by id, the user. */
static void test_token_check(void **state)
{
	struct webd_revoke *rv = calloc(1, sizeof(*rv));
	struct webd_token t;
	enum webd_refuse why;
	uint64_t t0 = 1700000000000ull;

	(void)state;
	assert_non_null(rv);
	token_of(&t, t0, t0);
	assert_int_equal(webd_token_check(rv, &t, t0, &why), 0);
	assert_int_equal(webd_token_check(rv, &t, t0 + WEBD_SESSION_IDLE_MS - 1, &why), 0);
	assert_int_equal(webd_token_check(rv, &t, t0 + WEBD_SESSION_IDLE_MS, &why), EACCES);
	assert_int_equal(why, WEBD_REFUSE_EXPIRED);
	t.seen = t0 + WEBD_SESSION_ABS_MS - 1000;           /* used all along: still 12 h at most */
	assert_int_equal(webd_token_check(rv, &t, t0 + WEBD_SESSION_ABS_MS - 1, &why), 0);
	assert_int_equal(webd_token_check(rv, &t, t0 + WEBD_SESSION_ABS_MS, &why), EACCES);
	assert_int_equal(why, WEBD_REFUSE_EXPIRED);

	token_of(&t, t0, t0);                                /* from the future */
	assert_int_equal(webd_token_check(rv, &t, t0 - WEBD_SESSION_FUTURE_MS, &why), 0);
	assert_int_equal(webd_token_check(rv, &t, t0 - WEBD_SESSION_FUTURE_MS - 1, &why), EACCES);
	assert_int_equal(why, WEBD_REFUSE_FUTURE);
	t.seen = t0 + 2 * WEBD_SESSION_FUTURE_MS;
	assert_int_equal(webd_token_check(rv, &t, t0, &why), EACCES);
	assert_int_equal(why, WEBD_REFUSE_FUTURE);
	token_of(&t, t0, t0 - 1);                            /* seen before made */
	assert_int_equal(webd_token_check(rv, &t, t0, &why), EACCES);
	assert_int_equal(why, WEBD_REFUSE_MALFORMED);
	token_of(&t, t0, t0);
	snprintf(t.user, sizeof(t.user), "%s", "root");
	assert_int_equal(webd_token_check(rv, &t, t0, &why), EACCES);
	assert_int_equal(why, WEBD_REFUSE_MALFORMED);

	/* revoked: listed (logout), or made before not_before (password change) */
	token_of(&t, t0, t0);
	webd_revoke_add(rv, &t, t0 + 5);
	assert_int_equal(webd_token_check(rv, &t, t0 + 10, &why), EACCES);
	assert_int_equal(why, WEBD_REFUSE_REVOKED);
	t.sid[5] ^= 1;
	assert_int_equal(webd_token_check(rv, &t, t0 + 10, &why), 0);
	webd_revoke_before(rv, t0 + 1, t0 + 10);
	assert_int_equal(webd_token_check(rv, &t, t0 + 10, &why), EACCES);
	assert_int_equal(why, WEBD_REFUSE_REVOKED);
	t.created = t.seen = t0 + 1;
	assert_int_equal(webd_token_check(rv, &t, t0 + 10, &why), 0);
	free(rv);
}

/* The revocation list: bounded, pruned, written and read back; malformed files refused. */
static void test_revoke_list(void **state)
{
	struct webd_revoke *rv = calloc(1, sizeof(*rv)), *back = calloc(1, sizeof(*back));
	static char text[WEBD_REVOKE_TEXT_MAX];
	struct webd_token t;
	uint64_t t0 = 1700000000000ull;
	size_t len;
	static const char *const bad[] = {
		"not-before admin 12",                       /* no newline */
		"not-before root 12\n",
		"not-before admin -1\n",
		"not-before admin 12 \n",
		"not-before admin 123456789012345678901\n",
		"revoked a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\n",
		"revoked A0A1A2A3A4A5A6A7A8A9AAABACADAEAF 5\n",
		"revoked a0a1a2a3a4a5a6a7a8a9aaabacadae 5\n",
		"revoked a0a1a2a3a4a5a6a7a8a9aaabacadaeaf 5x\n",
		"forget everything\n",
	};

	(void)state;
	assert_non_null(rv);
	assert_non_null(back);
	token_of(&t, t0, t0);
	webd_revoke_add(rv, &t, t0);
	webd_revoke_add(rv, &t, t0);
	assert_int_equal(rv->n, 1);
	assert_true(webd_revoked(rv, &t));
	/* gone from the list once it would have expired anyway */
	webd_revoke_prune(rv, t0 + WEBD_SESSION_ABS_MS);
	assert_int_equal(rv->n, 0);

	/* full: the oldest goes, and not_before moves past it (so it stays revoked) */
	for (unsigned i = 0; i < WEBD_REVOKED_MAX + 10; i++) {
		token_of(&t, t0 + i, t0 + i);
		t.sid[0] = (uint8_t)i;
		t.sid[1] = (uint8_t)(i >> 8);
		webd_revoke_add(rv, &t, t0 + 1000);
		assert_true(rv->n <= WEBD_REVOKED_MAX);
	}
	for (unsigned i = 0; i < WEBD_REVOKED_MAX + 10; i++) {
		token_of(&t, t0 + i, t0 + i);
		t.sid[0] = (uint8_t)i;
		t.sid[1] = (uint8_t)(i >> 8);
		assert_true(webd_revoked(rv, &t));
	}
	assert_true(rv->not_before > t0 && rv->not_before <= t0 + 11);

	assert_int_equal(webd_revoke_format(rv, text, sizeof(text), &len), 0);
	assert_int_equal(strlen(text), len);
	assert_int_equal(webd_revoke_parse(back, text), 0);
	assert_int_equal(back->n, rv->n);
	assert_true(back->not_before == rv->not_before);
	assert_memory_equal(back->r, rv->r, rv->n * sizeof(rv->r[0]));
	assert_int_equal(webd_revoke_format(rv, text, 100, &len), ENOSPC);
	assert_int_equal(webd_revoke_parse(back, ""), 0);
	assert_int_equal(back->n, 0);
	assert_int_equal(webd_revoke_parse(back, "# comment\n\nnot-before admin 42\n"), 0);
	assert_true(back->not_before == 42);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		if (webd_revoke_parse(back, bad[i]) != EINVAL)
			fail_msg("accepted: %s", bad[i]);
		assert_true(back->n == 0 && back->not_before == 0);
	}
	free(rv);
	free(back);
}

static void test_sessions(void **state)
{
	struct webd_sessions *t = calloc(1, sizeof(*t));
	struct webd_session *s, *first = NULL;
	struct webd_token tok, ev;
	uint64_t now = 1700000000000ull;
	bool evicted;

	(void)state;
	assert_non_null(t);
	token_of(&tok, now, now);
	s = webd_session_add(t, &tok, now, &ev, &evicted);
	assert_false(evicted);
	assert_ptr_equal(webd_session_find(t, tok.sid), s);
	tok.sid[3] ^= 1;
	assert_null(webd_session_find(t, tok.sid));
	assert_int_equal(webd_session_count(t, now + WEBD_SESSION_IDLE_MS - 1), 1);
	assert_int_equal(webd_session_count(t, now + WEBD_SESSION_IDLE_MS), 0);
	webd_session_drop(s);
	assert_int_equal(webd_session_count(t, now), 0);

	/* at most 32: the least recently seen goes, and the caller learns which */
	for (unsigned i = 0; i < WEBD_SESSIONS_MAX; i++) {
		token_of(&tok, now + i, now + i);
		tok.sid[0] = (uint8_t)i;
		s = webd_session_add(t, &tok, now + i, &ev, &evicted);
		assert_false(evicted);
		if (i == 0)
			first = s;
	}
	assert_int_equal(webd_session_count(t, now + 100), WEBD_SESSIONS_MAX);
	first->seen = now + 100;                            /* the first is now the newest seen */
	token_of(&tok, now + 200, now + 200);
	tok.sid[0] = 0xee;
	webd_session_add(t, &tok, now + 200, &ev, &evicted);
	assert_true(evicted);
	assert_int_equal(ev.sid[0], 1);
	assert_true(ev.created == now + 1);
	assert_int_equal(t->evicted, 1);
	assert_non_null(webd_session_find(t, first->sid));

	/* a password change: the sessions made before go, but the one that changed it */
	webd_session_drop_before(t, now + 150, first);
	assert_int_equal(webd_session_count(t, now + 300), 2);
	assert_non_null(webd_session_find(t, first->sid));
	assert_non_null(webd_session_find(t, tok.sid));
	free(t);
}

/* Atomic writes relative to a folder, 0600, never through a symbolic link. */
static void test_state_files(void **state)
{
	char dir[] = "/tmp/test_webd.XXXXXX", buf[64], path[128];
	struct stat st;
	size_t len;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	assert_int_equal(webd_file_write_at(fd, "password", "one\n", 4), 0);
	assert_int_equal(webd_file_write_at(fd, "password", "two\n", 4), 0);
	assert_int_equal(webd_file_read_at(fd, "password", buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 4);
	assert_string_equal(buf, "two\n");
	assert_int_equal(fstatat(fd, "password", &st, 0), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(webd_file_read_at(fd, "none", buf, sizeof(buf), &len), ENOENT);
	assert_int_equal(webd_file_read_at(fd, "password", buf, 4, &len), EFBIG);
	/* a symbolic link planted in the folder is not followed */
	assert_int_equal(symlinkat("/etc/passwd", fd, "metrics-token"), 0);
	assert_int_equal(webd_file_read_at(fd, "metrics-token", buf, sizeof(buf), &len), EINVAL);
	assert_int_equal(webd_file_write_at(fd, "metrics-token", "x\n", 2), 0);   /* replaced, not written through */
	assert_int_equal(fstatat(fd, "metrics-token", &st, AT_SYMLINK_NOFOLLOW), 0);
	assert_true(S_ISREG(st.st_mode));
	/* no temporary file is left */
	snprintf(path, sizeof(path), "password.tmp.%ld", (long)getpid());
	assert_int_equal(faccessat(fd, path, F_OK, 0), -1);
	unlinkat(fd, "password", 0);
	unlinkat(fd, "metrics-token", 0);
	close(fd);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pw_round_trip, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_pw_default_iterations, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_pw_malformed, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_tokens, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_path_resolve, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_content_type, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_origin, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_cookie_get, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_header_checks, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_cmd_kind, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_limit_source, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_limit_pending, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_limit_total, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_limit_eviction, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_seal_round_trip, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_seal_refused, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_token_check, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_revoke_list, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_sessions, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_state_files, unit_leak_setup, unit_leak_teardown),
	};

	return cmocka_run_group_tests_name("webd", tests, NULL, NULL);
}
