/* test_webd: sbc-webd's parts without global state: password hash lines, tokens, request checks, rate limit, sessions, state files. */
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

static void test_sessions(void **state)
{
	struct webd_sessions *t = calloc(1, sizeof(*t));
	struct webd_session *s, *first, *x;
	char id[WEBD_TOKEN_HEX], first_id[WEBD_TOKEN_HEX];
	uint64_t now = 1000;

	(void)state;
	assert_non_null(t);
	assert_int_equal(webd_session_new(t, now, &s), 0);
	assert_true(webd_token_valid(s->id));
	assert_true(webd_token_valid(s->csrf));
	assert_string_not_equal(s->id, s->csrf);
	memcpy(id, s->id, sizeof(id));
	assert_ptr_equal(webd_session_find(t, id, now + 1000), s);
	id[0] = id[0] == 'a' ? 'b' : 'a';
	assert_null(webd_session_find(t, id, now + 1000));
	assert_null(webd_session_find(t, "", now));
	assert_null(webd_session_find(t, NULL, now));

	/* idle: alive just before 30 min without use, gone at 30 min */
	memcpy(id, s->id, sizeof(id));
	assert_non_null(webd_session_find(t, id, now + WEBD_SESSION_IDLE_MS - 1));
	now += WEBD_SESSION_IDLE_MS - 1;
	assert_null(webd_session_find(t, id, now + WEBD_SESSION_IDLE_MS));
	assert_false(s->used);

	/* absolute: used every 20 minutes, still gone after 12 h */
	now = 10000000;
	assert_int_equal(webd_session_new(t, now, &s), 0);
	memcpy(id, s->id, sizeof(id));
	for (uint64_t u = now; u < now + WEBD_SESSION_ABS_MS; u += 20 * 60 * 1000)
		assert_non_null(webd_session_find(t, id, u));
	assert_null(webd_session_find(t, id, now + WEBD_SESSION_ABS_MS));

	/* at most 32: the least recently used goes */
	now = 100000000;
	assert_int_equal(webd_session_new(t, now, &first), 0);
	memcpy(first_id, first->id, sizeof(first_id));
	for (unsigned i = 1; i < WEBD_SESSIONS_MAX; i++)
		assert_int_equal(webd_session_new(t, now + i, &s), 0);
	assert_int_equal(webd_session_count(t, now + 100), WEBD_SESSIONS_MAX);
	assert_non_null(webd_session_find(t, first_id, now + 100));   /* first is now the newest used */
	assert_int_equal(webd_session_new(t, now + 200, &s), 0);
	assert_int_equal(t->evicted, 1);
	assert_non_null(webd_session_find(t, first_id, now + 201));

	/* log out the others */
	x = webd_session_find(t, first_id, now + 300);
	webd_session_drop_others(t, x);
	assert_int_equal(webd_session_count(t, now + 300), 1);
	webd_session_drop(x);
	assert_int_equal(webd_session_count(t, now + 300), 0);
	assert_null(webd_session_find(t, first_id, now + 300));
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
		cmocka_unit_test_setup_teardown(test_sessions, unit_leak_setup, unit_leak_teardown),
		cmocka_unit_test_setup_teardown(test_state_files, unit_leak_setup, unit_leak_teardown),
	};

	return cmocka_run_group_tests_name("webd", tests, NULL, NULL);
}
