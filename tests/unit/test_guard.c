/* test_guard: the public-zone guard: raw scanning, trust, rates, detections, bans and their file, bounded tables, statistics. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <jansson.h>

#include "guard/guard_int.h"
#include "net/net.h"
#include "unit.h"

/* The smallest config the guard needs: both zones on lo and the core. */
#define ZONES "[public]\ninterface = lo\naddress = 127.0.0.2\n" \
	      "[private]\ninterface = lo\naddress = 127.0.0.3\n" \
	      "[core]\naddress = 127.0.0.4\n"

/* [guard] keys every test starts from, unless it names the key itself. */
static const char *const guard_defaults[] = {
	"table_size = 1024",
	"max_bans = 1024",
	"capacity_pps = 1000000",
	"rate_packets = 1000",
	"ban_time_s = 60",
	"ban_time_max_s = 3600",
	"window_s = 60",
};

static char tmpdir[64];
static char conf_path[128];
static char bans_path[128];
static char allow_path[128];
static struct config_errors errs;

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sbc-test-guard-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/sbc.ini", tmpdir);
	snprintf(bans_path, sizeof(bans_path), "%s/bans.json", tmpdir);
	snprintf(allow_path, sizeof(allow_path), "%s/allow.json", tmpdir);
	log_set_level(LOG_LVL_ERROR);   /* bans are logged at info, corrupt files at warn */
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	unlink(bans_path);
	unlink(allow_path);
	rmdir(tmpdir);
	return 0;
}

/*
 * What a test made and has not given back yet: a failed assertion leaves
 * the test early, so the teardown frees these before the leak check and the
 * failure is reported alone.
 */
static void *owned[8];

static void *own(void *p)
{
	for (size_t i = 0; i < ARRAY_SIZE(owned); i++) {
		if (!owned[i]) {
			owned[i] = p;
			return p;
		}
	}
	fail_msg("too many objects owned by one test");
	return p;
}

/* mem_deref p, which own() took. */
static void put(void *p)
{
	for (size_t i = 0; i < ARRAY_SIZE(owned); i++) {
		if (owned[i] == p)
			owned[i] = NULL;
	}
	mem_deref(p);
}

static int test_teardown(void **state)
{
	for (size_t i = 0; i < ARRAY_SIZE(owned); i++)
		owned[i] = mem_deref(owned[i]);
	return unit_leak_teardown(state);
}

/* True when keys ("k = v" lines) sets the key name. */
static bool has_key(const char *keys, const char *name, size_t n)
{
	for (const char *p = keys; p && *p;) {
		while (*p == ' ')
			p++;
		if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '='))
			return true;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

static void file_put(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A config of ZONES, [guard] with the defaults overridden by keys, then extra sections. */
static struct sbc_config *cfg_make(const char *keys, const char *extra)
{
	char text[4096];
	size_t off = 0;
	struct sbc_config *cfg = NULL;
	int err;

	off += (size_t)snprintf(text + off, sizeof(text) - off, "%s[guard]\n", ZONES);
	for (size_t i = 0; i < ARRAY_SIZE(guard_defaults); i++) {
		size_t n = strcspn(guard_defaults[i], " ");

		if (!has_key(keys, guard_defaults[i], n))
			off += (size_t)snprintf(text + off, sizeof(text) - off, "%s\n", guard_defaults[i]);
	}
	off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s", keys ? keys : "",
				extra ? extra : "");
	assert_true(off < sizeof(text));
	file_put(conf_path, text, off);
	err = config_load(&cfg, conf_path, &errs);
	if (err) {
		print_message("%s", text);
		unit_dump_errors(&errs);
	}
	assert_int_equal(err, 0);
	return own(cfg);
}

/* A guard over cfg_make(keys, extra); it holds the config's only reference. */
static struct guard *guard_make(const char *keys, const char *extra, const char *bans)
{
	struct sbc_config *cfg = cfg_make(keys, extra);
	struct guard *g = NULL;

	assert_int_equal(guard_alloc(&g, cfg, bans), 0);
	assert_non_null(g);
	own(g);
	put(cfg);
	return g;
}

static struct sockaddr_storage ip(const char *s)
{
	struct sockaddr_storage ss;

	assert_int_equal(net_sa_from_str(&ss, s, 5060), 0);
	return ss;
}

/* The n-th of many IPv4 sources, 10.0.0.0 + n. */
static struct sockaddr_storage ip4n(uint32_t n)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(5060);
	in->sin_addr.s_addr = htonl(0x0a000000u + n);
	return ss;
}

/* A request; user is the R-URI and To user (NULL: none), ua the User-Agent (NULL: none). */
static size_t req_make(char *buf, size_t size, const char *method, const char *user, const char *ua)
{
	static unsigned seq;
	int n;

	seq++;
	n = snprintf(buf, size,
		     "%s sip:%s%s127.0.0.2 SIP/2.0\r\n"
		     "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-%u\r\n"
		     "Max-Forwards: 70\r\n"
		     "From: <sip:caller@192.0.2.10>;tag=f%u\r\n"
		     "To: <sip:%s%s127.0.0.2>\r\n"
		     "Call-ID: c%u@192.0.2.10\r\n"
		     "CSeq: 1 %s\r\n"
		     "%s%s%s"
		     "Content-Length: 0\r\n\r\n",
		     method, user ? user : "", user ? "@" : "", seq, seq, user ? user : "",
		     user ? "@" : "", seq, method, ua ? "User-Agent: " : "", ua ? ua : "",
		     ua ? "\r\n" : "");
	assert_true(n > 0 && (size_t)n < size);
	return (size_t)n;
}

static size_t resp_make(char *buf, size_t size, unsigned code, const char *to_user)
{
	int n = snprintf(buf, size,
			 "SIP/2.0 %u Whatever\r\n"
			 "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK-r\r\n"
			 "From: <sip:caller@192.0.2.10>;tag=f\r\n"
			 "To: <sip:%s@127.0.0.2>;tag=t\r\n"
			 "Call-ID: r@192.0.2.10\r\n"
			 "CSeq: 1 REGISTER\r\n"
			 "Content-Length: 0\r\n\r\n",
			 code, to_user ? to_user : "x");

	assert_true(n > 0 && (size_t)n < size);
	return (size_t)n;
}

static bool pre_req(struct guard *g, const struct sockaddr_storage *src, const char *method,
		    const char *user, const char *ua)
{
	char buf[1024];
	size_t n = req_make(buf, sizeof(buf), method, user, ua);

	return guard_pre(g, src, buf, n);
}

static bool pre_resp(struct guard *g, const struct sockaddr_storage *src, unsigned code)
{
	char buf[1024];
	size_t n = resp_make(buf, sizeof(buf), code, "x");

	return guard_pre(g, src, buf, n);
}

static void sent_resp(struct guard *g, const struct sockaddr_storage *dst, unsigned code,
		      const char *to_user)
{
	char buf[1024];
	size_t n = resp_make(buf, sizeof(buf), code, to_user);

	guard_sent(g, dst, buf, n);
}

/* How many of count identical requests pass. */
static unsigned pre_many(struct guard *g, const struct sockaddr_storage *src, const char *method,
			 const char *user, unsigned count)
{
	unsigned passed = 0;

	for (unsigned i = 0; i < count; i++)
		passed += pre_req(g, src, method, user, NULL);
	return passed;
}

static size_t nbans(const struct guard *g)
{
	return guard_bans(g, NULL, 0);
}

/* The active ban of source text s, if any. */
static bool ban_find(const struct guard *g, const char *s, struct guard_ban_info *out)
{
	struct guard_ban_info v[64];
	size_t n = guard_bans(g, v, ARRAY_SIZE(v));

	for (size_t i = 0; i < n && i < ARRAY_SIZE(v); i++) {
		char buf[NET_ADDRSTRLEN];

		assert_int_equal(net_sa_ip_str(&v[i].addr, buf, sizeof(buf)), 0);
		if (strcmp(buf, s) == 0) {
			if (out)
				*out = v[i];
			return true;
		}
	}
	return false;
}

static bool banned_for(const struct guard *g, const char *s, enum guard_reason r)
{
	struct guard_ban_info b;

	if (!ban_find(g, s, &b))
		return false;
	if (b.reason != r)
		print_message("%s banned for %s, not %s\n", s, guard_reason_name(b.reason),
			      guard_reason_name(r));
	return b.reason == r;
}

/* A scanner's first packet: dropped, and the source banned. */
static void ban_scanner(struct guard *g, const struct sockaddr_storage *s)
{
	assert_false(pre_req(g, s, "OPTIONS", NULL, "friendly-scanner"));
}

static bool is_banned(const struct guard *g, const struct sockaddr_storage *s)
{
	char who[NET_ADDRSTRLEN];

	assert_int_equal(net_sa_ip_str(s, who, sizeof(who)), 0);
	return ban_find(g, who, NULL);
}

/*
 * Rate checks count within a second: a burst that starts late in one may
 * straddle two and be estimated a little lower. Start early in a second.
 */
static void settle(const struct guard *g)
{
	for (int i = 0; i < 100 && guard_now(g) % 1000 > 600; i++)
		usleep(5000);
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A scan result is unset or lies inside [data, data + len). */
static void assert_inside(const struct pl *pl, const char *data, size_t len)
{
	if (!pl_isset(pl))
		return;
	assert_true(pl->p >= data);
	assert_true(pl->p + pl->l <= data + len);
}

static void assert_pl(const struct pl *pl, const char *want)
{
	if (!pl_eq_str(pl, want))
		print_message("want \"%s\", got \"%.*s\"\n", want, pl->p ? (int)pl->l : 6,
			      pl->p ? pl->p : "(null)");
	assert_true(pl_eq_str(pl, want));
}

static void scan_str(const char *text, bool headers, struct guard_scan *s)
{
	guard_scan(text, strlen(text), headers, s);
	assert_inside(&s->ua, text, strlen(text));
	assert_inside(&s->to_user, text, strlen(text));
	assert_inside(&s->ruri_user, text, strlen(text));
}

/* ---- guard_scan ---- */

static void test_scan_classes(void **state)
{
	static const struct {
		const char *text;
		enum guard_class cls;
		uint16_t status;
	} v[] = {
		{ "INVITE sip:1@h SIP/2.0\r\n\r\n", GUARD_CL_INVITE, 0 },
		{ "REGISTER sip:h SIP/2.0\r\n\r\n", GUARD_CL_REGISTER, 0 },
		{ "OPTIONS sip:h SIP/2.0\r\n\r\n", GUARD_CL_OPTIONS, 0 },
		{ "BYE sip:1@h SIP/2.0\r\n\r\n", GUARD_CL_OTHER, 0 },
		{ "MESSAGE sip:1@h SIP/2.0\r\n\r\n", GUARD_CL_OTHER, 0 },
		{ "INVITEX sip:1@h SIP/2.0\r\n\r\n", GUARD_CL_OTHER, 0 },
		{ "invite sip:1@h SIP/2.0\r\n\r\n", GUARD_CL_OTHER, 0 },   /* methods are case-sensitive */
		{ "SIP/2.0 200 OK\r\n\r\n", GUARD_CL_RESPONSE, 200 },
		{ "SIP/2.0 404 Not Found\r\nTo: <sip:1@h>\r\n\r\n", GUARD_CL_RESPONSE, 404 },
		{ "SIP/2.0 183 Session Progress\r\n\r\n", GUARD_CL_RESPONSE, 183 },
		{ "SIP/2.0 4x4 Odd\r\n\r\n", GUARD_CL_RESPONSE, 0 },
	};
	struct guard_scan s;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		scan_str(v[i].text, true, &s);
		if (s.cls != v[i].cls || s.status != v[i].status)
			print_message("%zu: \"%s\" cls %d status %u\n", i, v[i].text, s.cls, s.status);
		assert_int_equal(s.cls, v[i].cls);
		assert_int_equal(s.status, v[i].status);
		scan_str(v[i].text, false, &s);
		assert_int_equal(s.cls, v[i].cls);
		assert_int_equal(s.status, v[i].status);
	}
}

static void test_scan_user_agent(void **state)
{
	static const char *const m[] = {
		"OPTIONS sip:h SIP/2.0\r\nVia: x\r\nUser-Agent: Foo/1.0 bar\r\n\r\n",
		"OPTIONS sip:h SIP/2.0\r\nuser-agent:Foo/1.0 bar\r\n\r\n",
		"OPTIONS sip:h SIP/2.0\r\nUSER-AGENT \t:  Foo/1.0 bar\r\n\r\n",
		"OPTIONS sip:h SIP/2.0\nUser-Agent: Foo/1.0 bar\n\n",   /* bare LF */
	};
	struct guard_scan s;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
		scan_str(m[i], true, &s);
		assert_int_equal(s.cls, GUARD_CL_OPTIONS);
		assert_pl(&s.ua, "Foo/1.0 bar");
		/* without headers only the first line is read */
		scan_str(m[i], false, &s);
		assert_false(pl_isset(&s.ua));
	}
	/* a header that only starts like User-Agent is not one */
	scan_str("OPTIONS sip:h SIP/2.0\r\nUser-Agents: x\r\nUser-Agentx: y\r\n\r\n", true, &s);
	assert_false(pl_isset(&s.ua));
	/* the first User-Agent wins */
	scan_str("OPTIONS sip:h SIP/2.0\r\nUser-Agent: one\r\nUser-Agent: two\r\n\r\n", true, &s);
	assert_pl(&s.ua, "one");
	/* a response's User-Agent is read too */
	scan_str("SIP/2.0 200 OK\r\nUser-Agent: sipvicious\r\n\r\n", true, &s);
	assert_pl(&s.ua, "sipvicious");
}

static void test_scan_to_user(void **state)
{
	static const struct {
		const char *hdr;
		const char *user;   /* NULL: unset */
	} v[] = {
		{ "To: \"x\" <sip:100@h>", "100" },
		{ "To: <sip:100@h>;tag=1", "100" },
		{ "t: sip:100@h;tag=1", "100" },
		{ "T: <sip:100@h>", "100" },
		{ "TO : <sips:alice@h:5061;transport=tls>", "alice" },
		{ "To: <tel:+4930123456;phone-context=x>", "+4930123456" },
		{ "To: tel:100", "100" },
		{ "To: <sip:h>", NULL },
		{ "To: <sip:h;user=phone>", NULL },
		{ "To: <mailto:a@h>", NULL },
		{ "To:", NULL },
		{ "Tag: <sip:999@h>", NULL },   /* not a To header */
		{ "Via: SIP/2.0/UDP h", NULL },   /* no To at all */
	};
	struct guard_scan s;
	char m[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		snprintf(m, sizeof(m), "INVITE sip:200@h SIP/2.0\r\nVia: x\r\n%s\r\nCall-ID: 1\r\n\r\n",
			 v[i].hdr);
		scan_str(m, true, &s);
		if (v[i].user) {
			assert_pl(&s.to_user, v[i].user);
		} else {
			if (pl_isset(&s.to_user))
				print_message("%s: got \"%.*s\"\n", v[i].hdr, (int)s.to_user.l,
					      s.to_user.p);
			assert_false(pl_isset(&s.to_user));
		}
		assert_pl(&s.ruri_user, "200");
		scan_str(m, false, &s);
		assert_false(pl_isset(&s.to_user));
		assert_pl(&s.ruri_user, "200");
	}
}

/*
 * The To user as the SIP parser reads it: a quoted display name may hold
 * '<', and a header value may continue on a line starting with blanks
 * (RFC 3261 7.3.1); both are accepted by src/sip and must not hide the user
 * from rate_user.
 */
static void test_scan_to_user_like_parser(void **state)
{
	static const char *const m[] = {
		"INVITE sip:200@h SIP/2.0\r\nTo: \"a<b\" <sip:100@h>\r\n\r\n",
		"INVITE sip:200@h SIP/2.0\r\nTo:\r\n <sip:100@h>\r\n\r\n",
	};
	struct guard_scan s;
	unsigned missed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
		scan_str(m[i], true, &s);
		if (!pl_eq_str(&s.to_user, "100")) {
			print_message("To user not seen in: %s", m[i]);
			missed++;
		}
	}
	assert_int_equal(missed, 0);
}

static void test_scan_ruri_user(void **state)
{
	static const struct {
		const char *line;
		const char *user;
	} v[] = {
		{ "INVITE sip:200@h SIP/2.0", "200" },
		{ "INVITE sip:+4930123@h;user=phone SIP/2.0", "+4930123" },
		{ "INVITE sips:bob@h SIP/2.0", "bob" },
		{ "INVITE tel:+15551234 SIP/2.0", "+15551234" },
		{ "INVITE SIP:0049301234@h SIP/2.0", "0049301234" },
		{ "INVITE sip:h SIP/2.0", NULL },
		{ "INVITE sip:h;x=a@b SIP/2.0", NULL },
		{ "INVITE http://a@h SIP/2.0", NULL },
		{ "INVITE", NULL },
	};
	struct guard_scan s;
	char m[256];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		snprintf(m, sizeof(m), "%s\r\nTo: <sip:1@h>\r\n\r\n", v[i].line);
		scan_str(m, false, &s);
		if (v[i].user) {
			assert_pl(&s.ruri_user, v[i].user);
		} else {
			if (pl_isset(&s.ruri_user))
				print_message("%s: got \"%.*s\"\n", v[i].line, (int)s.ruri_user.l,
					      s.ruri_user.p);
			assert_false(pl_isset(&s.ruri_user));
		}
	}
}

/* The header scan ends at the blank line: the body is not headers. */
static void test_scan_stops_at_body(void **state)
{
	static const char *const m[] = {
		"MESSAGE sip:1@h SIP/2.0\r\nContent-Length: 40\r\n\r\nUser-Agent: sipvicious\r\nTo: <sip:9@h>\r\n",
		"MESSAGE sip:1@h SIP/2.0\nContent-Length: 40\n\nUser-Agent: sipvicious\nTo: <sip:9@h>\n",
		"MESSAGE sip:1@h SIP/2.0\r\n\r\nUser-Agent: sipvicious\r\n",
	};
	struct guard_scan s;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(m); i++) {
		scan_str(m[i], true, &s);
		assert_false(pl_isset(&s.ua));
		assert_false(pl_isset(&s.to_user));
		assert_pl(&s.ruri_user, "1");
	}
}

static void scan_nothing(const char *data, size_t len)
{
	struct guard_scan s;

	for (int h = 0; h < 2; h++) {
		guard_scan(data, len, h, &s);
		assert_false(pl_isset(&s.ua));
		assert_false(pl_isset(&s.to_user));
		assert_false(pl_isset(&s.ruri_user));
		assert_int_equal(s.status, 0);
		assert_int_not_equal(s.cls, GUARD_CL_RESPONSE);
	}
}

/* Truncated and garbage input: no crash, nothing set, results inside the input. */
static void test_scan_garbage(void **state)
{
	static const char *const v[] = {
		"", "\n", "\r\n\r\n", " ", "SIP/2.0", "SIP/2.0 ", "SIP/2.0 20", "SIP/2.0 200",
		"INVITE", "INVITE ", "INVITE sip:", "INVITE sip:h", "INVITE tel:",
		"\x00\x01\x02", "\xff\xfe\n\xff:", "User-Agent: sipvicious", "To: <sip:1@h>",
	};
	unsigned seed = 12345;
	char *buf;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++)
		scan_nothing(v[i], strlen(v[i]));
	/* each prefix of a real INVITE: results never past the prefix */
	{
		char m[1024];
		size_t n = req_make(m, sizeof(m), "INVITE", "0049301234", "friendly-scanner");

		for (size_t l = 0; l <= n; l++) {
			char *copy = malloc(l ? l : 1);
			struct guard_scan s;

			assert_non_null(copy);
			memcpy(copy, m, l);
			guard_scan(copy, l, true, &s);
			assert_inside(&s.ua, copy, l);
			assert_inside(&s.to_user, copy, l);
			assert_inside(&s.ruri_user, copy, l);
			free(copy);
		}
	}
	/* random bytes biased towards the interesting ones, in exact-size heap buffers */
	for (int round = 0; round < 20000; round++) {
		static const char alpha[] = "SIP/2.0 4INVITE sip:tel:@<>;:\r\n\n tTuUser-Agent";
		size_t len = (size_t)(rand_r(&seed) % 200);
		struct guard_scan s;

		buf = malloc(len ? len : 1);
		assert_non_null(buf);
		for (size_t i = 0; i < len; i++) {
			int r = rand_r(&seed);

			buf[i] = r & 1 ? alpha[(r >> 1) % (sizeof(alpha) - 1)] : (char)(r >> 8);
		}
		guard_scan(buf, len, round & 1, &s);
		assert_true(s.cls < GUARD_CL__COUNT);
		assert_true(s.status <= 999);
		assert_inside(&s.ua, buf, len);
		assert_inside(&s.to_user, buf, len);
		assert_inside(&s.ruri_user, buf, len);
		free(buf);
	}
}

/* ---- guard_ua_is_scanner ---- */

static void test_ua_scanner(void **state)
{
	static const char *const yes[] = {
		"friendly-scanner", "FRIENDLY-SCANNER", "sipvicious", "SIPVicious 0.3.0",
		"sipcli/v1.8", "SIPCLI", "VaxSIPUserAgent/3.1", "vaxsipuseragent", "pplsip", "PPLSIP",
		"iWar", "IWAR 0.1", "sundayddr", "SundayDDR Worm", "Mozilla friendly-scanner x",
	};
	static const char *const no[] = {
		"Yealink SIP-T46S 66.86.0.15", "Linphone/5.2", "Asterisk PBX 20.1", "Zoiper rv2.10",
		"friendly scanner", "sip vicious", "",
	};
	struct sbc_config *cfg = cfg_make("scanner_agents = EvilBot, bad tool\n", NULL);
	const struct config_strlist *extra = &cfg->guard.scanner_agents;
	struct pl ua;

	(void)state;
	assert_int_equal(extra->n, 2);
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		ua = pl_from_str(yes[i]);
		if (!guard_ua_is_scanner(&ua, NULL))
			print_message("not seen: %s\n", yes[i]);
		assert_true(guard_ua_is_scanner(&ua, NULL));
		assert_true(guard_ua_is_scanner(&ua, extra));
	}
	for (size_t i = 0; i < ARRAY_SIZE(no); i++) {
		ua = pl_from_str(no[i]);
		assert_false(guard_ua_is_scanner(&ua, NULL));
		assert_false(guard_ua_is_scanner(&ua, extra));
	}
	/* the configured list, case-insensitive, anywhere in the value */
	ua = pl_from_str("x-evilbot-2");
	assert_false(guard_ua_is_scanner(&ua, NULL));
	assert_true(guard_ua_is_scanner(&ua, extra));
	ua = pl_from_str("BAD TOOL");
	assert_true(guard_ua_is_scanner(&ua, extra));
	ua = pl_from_str("bad_tool");
	assert_false(guard_ua_is_scanner(&ua, extra));
	/* unset */
	ua = (struct pl){ NULL, 0 };
	assert_false(guard_ua_is_scanner(&ua, extra));
	put(cfg);
}

/* ---- guard_pre ---- */

static void test_pre_scanner_banned(void **state)
{
	struct guard *g = guard_make(NULL, NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1"), b = ip("192.0.2.2");
	const struct guard_stats *st = guard_stats(g);
	struct guard_ban_info bi;

	(void)state;
	assert_true(pre_req(g, &b, "OPTIONS", NULL, "Linphone/5.2"));
	assert_false(pre_req(g, &a, "OPTIONS", NULL, "friendly-scanner"));
	assert_int_equal(nbans(g), 1);
	assert_true(ban_find(g, "192.0.2.1", &bi));
	assert_int_equal(bi.reason, GUARD_SCANNER);
	assert_int_equal(bi.strikes, 1);
	assert_true(bi.expires >= bi.first_seen + 59 && bi.expires <= bi.first_seen + 61);
	/* every later packet is dropped, whatever it is, and counted under scanner */
	assert_false(pre_req(g, &a, "OPTIONS", NULL, "Linphone/5.2"));
	assert_false(pre_resp(g, &a, 200));
	assert_false(pre_req(g, &a, "INVITE", "100", NULL));
	assert_int_equal(st->reason[GUARD_SCANNER].packets, 4);
	assert_true(ban_find(g, "192.0.2.1", &bi));
	assert_int_equal(bi.packets, 3);
	/* the other port of the same address is the same source */
	net_sa_set_port(&a, 40000);
	assert_false(pre_req(g, &a, "OPTIONS", NULL, NULL));
	/* others unaffected */
	assert_true(pre_req(g, &b, "OPTIONS", NULL, NULL));
	assert_int_equal(st->bans, 1);
	assert_int_equal(st->passed, 2);
	assert_int_equal(st->blocked, 5);
	put(g);
}

/*
 * guard_admit: a banned source's connection is refused and counted under
 * its ban's reason; others, allowed sources and a disabled guard admit.
 */
static void test_admit(void **state)
{
	struct guard *g = guard_make("allow = 127.0.1.0/24\n", NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1"), b = ip("192.0.2.2"), al = ip("127.0.1.5");
	const struct guard_stats *st = guard_stats(g);
	struct guard_ban_info bi;

	(void)state;
	assert_true(guard_admit(g, &a));     /* no ban at all yet */
	assert_false(pre_req(g, &a, "OPTIONS", NULL, "friendly-scanner"));
	assert_true(pre_req(g, &al, "OPTIONS", NULL, "friendly-scanner"));
	net_sa_set_port(&a, 40000);          /* any port of the address */
	assert_false(guard_admit(g, &a));
	assert_false(guard_admit(g, &a));
	assert_true(guard_admit(g, &b));
	assert_true(guard_admit(g, &al));
	assert_int_equal(st->reason[GUARD_SCANNER].packets, 3);
	assert_true(ban_find(g, "192.0.2.1", &bi));
	assert_int_equal(bi.packets, 2);
	assert_int_equal(guard_unban(g, &a), 0);
	assert_true(guard_admit(g, &a));
	put(g);
	g = guard_make("enabled = no\n", NULL, NULL);
	assert_true(pre_req(g, &a, "OPTIONS", NULL, "friendly-scanner"));
	assert_true(guard_admit(g, &a));
	put(g);
}

static void test_pre_allow_list(void **state)
{
	struct guard *g = guard_make("allow = 127.0.1.0/24, 2001:db8:1::/48\nrate_options = 5\n"
				     "auth_fail_threshold = 2\nmalformed_threshold = 2\n", NULL, NULL);
	struct sockaddr_storage a = ip("127.0.1.5"), a6 = ip("2001:db8:1::9");
	struct pl user = PL("alice");

	(void)state;
	for (int i = 0; i < 50; i++) {
		assert_true(pre_req(g, &a, "OPTIONS", NULL, "friendly-scanner"));
		assert_true(pre_req(g, &a6, "OPTIONS", NULL, "sipvicious"));
	}
	for (int i = 0; i < 10; i++) {
		guard_event(g, &a, GUARD_EV_AUTH_FAIL, &user);
		guard_event(g, &a, GUARD_EV_MALFORMED, NULL);
		sent_resp(g, &a, 404, "u");
	}
	assert_true(pre_req(g, &a, "OPTIONS", NULL, NULL));
	assert_int_equal(nbans(g), 0);
	assert_int_equal(guard_stats(g)->blocked, 0);
	assert_int_equal(guard_stats(g)->bans, 0);
	put(g);
}

/* A public trunk's allow list is a configured peer: not limited, not banned. */
static void test_pre_trunk_peer(void **state)
{
	struct guard *g = guard_make("rate_options = 5\n",
				     "[trunk:carrier]\nzone = public\naddress = 127.0.2.1\n"
				     "allow = 127.0.2.0/28\n", NULL);
	struct sockaddr_storage t = ip("127.0.2.9"), out = ip("127.0.2.17");

	(void)state;
	settle(g);
	assert_int_equal(pre_many(g, &t, "OPTIONS", NULL, 50), 50);
	assert_int_equal(pre_many(g, &t, "INVITE", "0049301234", 30), 30);
	assert_true(pre_req(g, &t, "OPTIONS", NULL, "friendly-scanner"));
	assert_int_equal(nbans(g), 0);
	/* just outside the trunk's block: an ordinary source */
	assert_int_equal(pre_many(g, &out, "OPTIONS", NULL, 10), 5);
	assert_true(banned_for(g, "127.0.2.17", GUARD_FLOOD));
	put(g);
}

/* The spec names the core address as a configured peer too. */
static void test_pre_core_peer(void **state)
{
	struct guard *g = guard_make("rate_options = 5\n", NULL, NULL);
	struct sockaddr_storage core = ip("127.0.0.4");

	(void)state;
	settle(g);
	assert_int_equal(pre_many(g, &core, "OPTIONS", NULL, 20), 20);
	assert_int_equal(nbans(g), 0);
	put(g);
}

static void test_pre_flood(void **state)
{
	struct guard *g = guard_make("rate_options = 5\nrate_invite = 3\n", NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1"), b = ip("192.0.2.2");
	const struct guard_stats *st = guard_stats(g);
	struct guard_ban_info bi;

	(void)state;
	settle(g);
	assert_int_equal(pre_many(g, &a, "OPTIONS", NULL, 5), 5);
	assert_int_equal(nbans(g), 0);
	assert_false(pre_req(g, &a, "OPTIONS", NULL, NULL));
	assert_true(ban_find(g, "192.0.2.1", &bi));
	assert_int_equal(bi.reason, GUARD_FLOOD);
	assert_false(pre_req(g, &a, "REGISTER", NULL, NULL));
	/* classes are counted apart: b's OPTIONS do not use up its INVITEs */
	assert_int_equal(pre_many(g, &b, "OPTIONS", NULL, 5), 5);
	assert_int_equal(pre_many(g, &b, "INVITE", "100", 3), 3);
	assert_int_equal(pre_many(g, &b, "REGISTER", NULL, 5), 5);
	assert_int_equal(nbans(g), 1);
	assert_false(pre_req(g, &b, "INVITE", "100", NULL));
	assert_true(banned_for(g, "192.0.2.2", GUARD_FLOOD));
	assert_int_equal(st->reason[GUARD_FLOOD].packets, 3);
	put(g);
}

/* rate_packets: the excess is dropped, no ban; responses have no class limit. */
static void test_pre_rate(void **state)
{
	struct guard *g = guard_make("rate_packets = 10\n", NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1"), b = ip("192.0.2.2");
	const struct guard_stats *st = guard_stats(g);
	unsigned passed = 0;

	(void)state;
	for (int i = 0; i < 30; i++)
		passed += pre_resp(g, &a, 200);
	assert_true(passed >= 10 && passed <= 11);
	assert_int_equal(st->reason[GUARD_RATE].packets, 30 - passed);
	assert_int_equal(st->reason[GUARD_RATE].sources, 1);
	assert_int_equal(nbans(g), 0);
	assert_int_equal(st->bans, 0);
	assert_true(pre_resp(g, &b, 200));
	put(g);
}

static void test_pre_oversized(void **state)
{
	struct guard *g = guard_make("max_packet_size = 512\nmalformed_threshold = 3\n", NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1");
	const struct guard_stats *st = guard_stats(g);
	char big[600];
	size_t n = req_make(big, sizeof(big), "OPTIONS", NULL, NULL);

	(void)state;
	memset(big + n, 'x', sizeof(big) - n);   /* a body past max_packet_size */
	assert_true(guard_pre(g, &a, big, 512));
	assert_false(guard_pre(g, &a, big, 513));
	assert_int_equal(st->reason[GUARD_OVERSIZED].packets, 1);
	assert_int_equal(nbans(g), 0);
	/* oversized counts as malformed too: the third one bans */
	assert_false(guard_pre(g, &a, big, sizeof(big)));
	assert_int_equal(nbans(g), 0);
	assert_false(guard_pre(g, &a, big, sizeof(big)));
	assert_true(banned_for(g, "192.0.2.1", GUARD_MALFORMED));
	assert_int_equal(st->reason[GUARD_OVERSIZED].packets, 3);
	put(g);
}

/* Untrusted traffic gets (100 - trusted_reserve_pct)% of capacity_pps. */
static void test_pre_capacity(void **state)
{
	struct guard *g = guard_make("capacity_pps = 100\ntrusted_reserve_pct = 50\n"
				     "allow = 127.0.1.0/24\n", NULL, NULL);
	const struct guard_stats *st = guard_stats(g);
	struct sockaddr_storage t = ip("192.0.2.200"), al = ip("127.0.1.1");
	unsigned passed = 0;

	(void)state;
	guard_event(g, &t, GUARD_EV_AUTH_OK, NULL);
	for (uint32_t i = 0; i < 300; i++) {
		struct sockaddr_storage s = ip4n(i);

		passed += pre_req(g, &s, "OPTIONS", NULL, NULL);
	}
	assert_true(passed >= 50);
	assert_true(passed <= 55);
	assert_int_equal(st->reason[GUARD_CAPACITY].packets, 300 - passed);
	assert_int_equal(st->reason[GUARD_CAPACITY].sources, 300 - passed);
	assert_int_equal(nbans(g), 0);
	/* the reserve: trusted and allow-listed sources still pass */
	assert_int_equal(pre_many(g, &t, "OPTIONS", NULL, 20), 20);
	assert_int_equal(pre_many(g, &al, "OPTIONS", NULL, 20), 20);
	put(g);
}

/* Untrusted requests to one user above rate_user: dropped, whoever sends them, no ban. */
static void test_pre_user_flood(void **state)
{
	struct guard *g = guard_make("rate_user = 5\n", NULL, NULL);
	const struct guard_stats *st = guard_stats(g);
	struct sockaddr_storage t = ip("192.0.2.200");
	unsigned passed = 0;

	(void)state;
	settle(g);
	for (uint32_t i = 0; i < 20; i++) {
		struct sockaddr_storage s = ip4n(i);

		passed += pre_req(g, &s, i & 1 ? "INVITE" : "REGISTER", "100", NULL);
	}
	assert_int_equal(passed, 5);
	assert_int_equal(st->reason[GUARD_USER_FLOOD].packets, 15);
	assert_int_equal(st->reason[GUARD_USER_FLOOD].sources, 15);
	assert_int_equal(nbans(g), 0);
	/* another user is not affected */
	{
		struct sockaddr_storage s = ip4n(100);

		assert_true(pre_req(g, &s, "INVITE", "101", NULL));
	}
	/* a trusted source is not checked */
	guard_event(g, &t, GUARD_EV_REGISTERED, NULL);
	assert_int_equal(pre_many(g, &t, "INVITE", "100", 5), 5);
	put(g);
}

/* INVITEs to international numbers from an untrusted source: ban at toll_threshold. */
static void test_pre_toll(void **state)
{
	static const char *const intl[] = { "0049301234567", "+442071234567", "011441234567" };
	struct guard *g = guard_make("toll_threshold = 3\n", NULL, NULL);
	struct sockaddr_storage nat = ip("192.0.2.100"), t = ip("192.0.2.200");

	(void)state;
	for (uint32_t i = 0; i < ARRAY_SIZE(intl); i++) {
		struct sockaddr_storage s = ip4n(i);
		char who[NET_ADDRSTRLEN];

		assert_int_equal(net_sa_ip_str(&s, who, sizeof(who)), 0);
		assert_true(pre_req(g, &s, "INVITE", intl[i], NULL));
		assert_true(pre_req(g, &s, "INVITE", intl[i], NULL));
		assert_int_equal(nbans(g), i);
		assert_false(pre_req(g, &s, "INVITE", intl[i], NULL));
		assert_true(banned_for(g, who, GUARD_TOLL));
	}
	/* national numbers and other methods do not count */
	assert_int_equal(pre_many(g, &nat, "INVITE", "0301234567", 6), 6);
	assert_int_equal(pre_many(g, &nat, "OPTIONS", "0049301234567", 6), 6);
	/* the prefix alone is not a number */
	assert_int_equal(pre_many(g, &nat, "INVITE", "00", 4), 4);
	assert_int_equal(nbans(g), 3);
	/* trusted sources are not checked */
	guard_event(g, &t, GUARD_EV_AUTH_OK, NULL);
	assert_int_equal(pre_many(g, &t, "INVITE", "0049301234567", 6), 6);
	assert_int_equal(nbans(g), 3);
	put(g);
}

/* ---- guard_event ---- */

static void test_event_cracking(void **state)
{
	struct guard *g = guard_make("auth_fail_threshold = 3\n", NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1");
	struct pl u1 = PL("alice"), u2 = PL("bob");

	(void)state;
	guard_event(g, &a, GUARD_EV_AUTH_FAIL, &u1);
	guard_event(g, &a, GUARD_EV_AUTH_FAIL, &u2);
	assert_int_equal(nbans(g), 0);
	assert_true(pre_req(g, &a, "REGISTER", "alice", NULL));
	guard_event(g, &a, GUARD_EV_AUTH_FAIL, NULL);
	assert_true(banned_for(g, "192.0.2.1", GUARD_CRACK));
	assert_false(pre_req(g, &a, "REGISTER", "alice", NULL));
	assert_int_equal(guard_stats(g)->reason[GUARD_CRACK].packets, 1);
	assert_int_equal(guard_stats(g)->reason[GUARD_CRACK].sources, 1);
	put(g);
}

/* One user from many sources: 3x the threshold; the source crossing it is banned. */
static void test_event_cracking_user(void **state)
{
	struct guard *g = guard_make("auth_fail_threshold = 3\n", NULL, NULL);
	struct pl u = PL("alice"), other = PL("bob");
	struct sockaddr_storage s;
	char who[NET_ADDRSTRLEN];

	(void)state;
	for (uint32_t i = 0; i < 8; i++) {
		s = ip4n(i);
		guard_event(g, &s, GUARD_EV_AUTH_FAIL, &u);
	}
	/* another user's failures do not add up with alice's */
	s = ip4n(50);
	guard_event(g, &s, GUARD_EV_AUTH_FAIL, &other);
	assert_int_equal(nbans(g), 0);
	s = ip4n(8);
	guard_event(g, &s, GUARD_EV_AUTH_FAIL, &u);
	assert_int_equal(nbans(g), 1);
	assert_int_equal(net_sa_ip_str(&s, who, sizeof(who)), 0);
	assert_true(banned_for(g, who, GUARD_CRACK));
	assert_false(pre_req(g, &s, "REGISTER", "alice", NULL));
	s = ip4n(0);
	assert_true(pre_req(g, &s, "REGISTER", "alice", NULL));
	put(g);
}

static void test_event_malformed(void **state)
{
	struct guard *g = guard_make("malformed_threshold = 4\n", NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1");

	(void)state;
	for (int i = 0; i < 3; i++)
		guard_event(g, &a, GUARD_EV_MALFORMED, NULL);
	assert_int_equal(nbans(g), 0);
	assert_true(pre_req(g, &a, "OPTIONS", NULL, NULL));
	guard_event(g, &a, GUARD_EV_MALFORMED, NULL);
	assert_true(banned_for(g, "192.0.2.1", GUARD_MALFORMED));
	assert_false(pre_req(g, &a, "OPTIONS", NULL, NULL));
	assert_int_equal(guard_stats(g)->reason[GUARD_MALFORMED].packets, 1);
	put(g);
}

/* AUTH_OK and REGISTERED: ten times the limits, no capacity, user or toll checks. */
static void test_event_trusted(void **state)
{
	struct guard *g = guard_make("rate_options = 5\nrate_invite = 2\ncapacity_pps = 100\n"
				     "trusted_reserve_pct = 50\nrate_user = 2\ntoll_threshold = 2\n"
				     "rate_packets = 20\n", NULL, NULL);
	struct sockaddr_storage t1 = ip("192.0.2.201"), t2 = ip("192.0.2.202"), u = ip("192.0.2.1");
	unsigned n;

	(void)state;
	guard_event(g, &t1, GUARD_EV_AUTH_OK, NULL);
	guard_event(g, &t2, GUARD_EV_REGISTERED, NULL);
	/* use up the untrusted share of the capacity */
	for (uint32_t i = 0; i < 60; i++) {
		struct sockaddr_storage s = ip4n(i);

		pre_req(g, &s, "OPTIONS", NULL, NULL);
	}
	assert_false(pre_req(g, &u, "OPTIONS", NULL, NULL));
	settle(g);
	/* 10 x rate_options, and no capacity check */
	assert_int_equal(pre_many(g, &t1, "OPTIONS", NULL, 50), 50);
	assert_int_equal(pre_many(g, &t2, "OPTIONS", NULL, 50), 50);
	/* 10 x rate_invite to one user, international: no user or toll checks */
	assert_int_equal(pre_many(g, &t1, "INVITE", "0049301234", 20), 20);
	assert_int_equal(pre_many(g, &t2, "INVITE", "0049301234", 20), 20);
	/* 10 x rate_packets (200): t1 has sent 70, 130 more fit */
	n = 0;
	for (int i = 0; i < 200; i++)
		n += pre_resp(g, &t1, 200);
	assert_true(n >= 130 && n <= 132);
	assert_int_equal(nbans(g), 0);
	assert_int_equal(guard_stats(g)->demoted, 0);
	put(g);
}

/* A trusted source above 10x its limits is demoted on that packet, banned only later. */
static void test_event_trusted_demoted(void **state)
{
	struct guard *g = guard_make("rate_options = 5\n", NULL, NULL);
	struct sockaddr_storage t = ip("192.0.2.201");
	const struct guard_stats *st = guard_stats(g);

	(void)state;
	guard_event(g, &t, GUARD_EV_AUTH_OK, NULL);
	settle(g);
	assert_int_equal(pre_many(g, &t, "OPTIONS", NULL, 50), 50);
	assert_false(pre_req(g, &t, "OPTIONS", NULL, NULL));
	assert_int_equal(st->demoted, 1);
	assert_int_equal(nbans(g), 0);
	assert_int_equal(st->reason[GUARD_FLOOD].packets, 1);
	/* now untrusted and still far above 5/s: the next one bans */
	assert_false(pre_req(g, &t, "OPTIONS", NULL, NULL));
	assert_true(banned_for(g, "192.0.2.201", GUARD_FLOOD));
	assert_int_equal(st->demoted, 1);
	put(g);
}

/* A login does not vouch for a scanner: a trusted source with a scanner User-Agent is demoted and banned. */
static void test_event_trusted_scanner(void **state)
{
	struct guard *g = guard_make("", NULL, NULL);
	struct sockaddr_storage t = ip("192.0.2.202");
	const struct guard_stats *st = guard_stats(g);

	(void)state;
	guard_event(g, &t, GUARD_EV_REGISTERED, NULL);
	assert_true(pre_req(g, &t, "INVITE", "100", "Yealink SIP-T46S"));
	assert_false(pre_req(g, &t, "OPTIONS", NULL, "friendly-scanner"));
	assert_int_equal(st->demoted, 1);
	assert_true(banned_for(g, "192.0.2.202", GUARD_SCANNER));
	assert_false(pre_req(g, &t, "INVITE", "100", "Yealink SIP-T46S"));
	put(g);
}

/*
 * What the stack reports about a source already banned (a late event, a
 * response still sent to it) is not a packet blocked: no counter moves.
 */
static void test_event_banned_not_counted(void **state)
{
	struct guard *g = guard_make("auth_fail_threshold = 1\n", NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1");
	const struct guard_stats *st = guard_stats(g);
	struct pl user = PL("alice");
	struct guard_ban_info bi;

	(void)state;
	ban_scanner(g, &a);
	assert_int_equal(st->blocked, 1);
	guard_event(g, &a, GUARD_EV_MALFORMED, NULL);
	guard_event(g, &a, GUARD_EV_AUTH_FAIL, &user);
	sent_resp(g, &a, 404, "x");
	sent_resp(g, &a, 401, "y");
	assert_true(banned_for(g, "192.0.2.1", GUARD_SCANNER));
	assert_true(ban_find(g, "192.0.2.1", &bi));
	assert_int_equal(bi.packets, 0);
	assert_int_equal(st->reason[GUARD_SCANNER].packets, 1);
	assert_int_equal(st->blocked, 1);
	put(g);
}

/*
 * Distinct users refused to src from user first on, cycling through codes,
 * until src is banned for enumeration (at most 12): how many it took. The
 * guard keeps users as hashes in a 256-bit set under a random key, so two
 * users may share a bit (five in about 4 % of runs): a ban can only come
 * later than the threshold, never earlier, and eight users fall into four
 * bits or fewer about once in a million runs.
 */
static int refuse_until_banned(struct guard *g, const struct sockaddr_storage *src,
			       const char *ip_text, int first, const unsigned *codes, int ncodes)
{
	char user[16];
	int n;

	for (n = 0; n < 12 && !banned_for(g, ip_text, GUARD_ENUM); n++) {
		snprintf(user, sizeof(user), "%d", first + n);
		sent_resp(g, src, codes[n % ncodes], user);
	}
	return n;
}

/* ---- guard_sent ---- */

static void test_sent_enumeration(void **state)
{
	static const unsigned codes[] = { 401, 403, 404, 407, 484 };
	struct guard *g = guard_make("enum_threshold = 5\n", NULL, NULL);
	struct sockaddr_storage e = ip("192.0.2.1"), same = ip("192.0.2.2"), ok = ip("192.0.2.3"),
				t = ip("192.0.2.4"), mixed = ip("192.0.2.5"), other = ip("192.0.2.6");
	char user[16];
	int n;

	(void)state;
	for (int i = 0; i < 4; i++) {
		snprintf(user, sizeof(user), "%d", 100 + i);
		sent_resp(g, &e, 403, user);
	}
	assert_int_equal(nbans(g), 0);
	assert_true(pre_req(g, &e, "REGISTER", "105", NULL));
	/* the fifth distinct user bans (a few more if two users hashed alike) */
	n = refuse_until_banned(g, &e, "192.0.2.1", 104, codes + 1, 1);
	assert_true(banned_for(g, "192.0.2.1", GUARD_ENUM));
	assert_true(n >= 1 && n <= 4);
	assert_false(pre_req(g, &e, "REGISTER", "199", NULL));
	/* the same user again and again is not enumeration */
	for (int i = 0; i < 30; i++)
		sent_resp(g, &same, 403, "100");
	/* 2xx and other failures do not count */
	for (int i = 0; i < 30; i++) {
		snprintf(user, sizeof(user), "%d", 200 + i);
		sent_resp(g, &ok, 200, user);
		sent_resp(g, &other, i & 1 ? 486 : 500, user);
	}
	/* nor anything sent to a trusted source */
	guard_event(g, &t, GUARD_EV_REGISTERED, NULL);
	for (int i = 0; i < 30; i++) {
		snprintf(user, sizeof(user), "%d", 300 + i);
		sent_resp(g, &t, 404, user);
	}
	assert_int_equal(nbans(g), 1);
	/* every refusal code counts: five users, one of each, ban (or a few more) */
	n = refuse_until_banned(g, &mixed, "192.0.2.5", 400, codes, (int)ARRAY_SIZE(codes));
	assert_true(banned_for(g, "192.0.2.5", GUARD_ENUM));
	assert_true(n >= 5 && n <= 8);
	assert_int_equal(nbans(g), 2);
	put(g);
}

/* enum_threshold counts distinct users: ten users refused again and again are ten. */
static void test_sent_enumeration_distinct(void **state)
{
	struct guard *g = guard_make("enum_threshold = 20\n", NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1");
	char user[16];

	(void)state;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 10; i++) {
			snprintf(user, sizeof(user), "%d", 100 + i);
			sent_resp(g, &a, 401, user);
		}
	}
	assert_int_equal(nbans(g), 0);
	put(g);
}

/* ---- bans ---- */

/* Expiry, a repeat doubling the time, and ban_time_max_s capping it: one shared sleep. */
static void test_ban_expiry_repeat_cap(void **state)
{
	struct guard *g = guard_make("ban_time_s = 1\nban_time_max_s = 60\n", NULL, NULL);
	struct guard *c = guard_make("ban_time_s = 1\nban_time_max_s = 1\n", NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1");
	struct guard_ban_info b1, b2, c1, c2;

	(void)state;
	assert_false(pre_req(g, &a, "OPTIONS", NULL, "sipvicious"));
	assert_false(pre_req(c, &a, "OPTIONS", NULL, "sipvicious"));
	assert_true(ban_find(g, "192.0.2.1", &b1));
	assert_true(ban_find(c, "192.0.2.1", &c1));
	assert_int_equal(b1.strikes, 1);
	assert_int_equal(b1.expires - b1.first_seen, 1);
	assert_false(pre_req(g, &a, "OPTIONS", NULL, NULL));
	sleep_ms(1100);
	/* over: the source passes again and is no longer listed */
	assert_int_equal(nbans(g), 0);
	assert_true(pre_req(g, &a, "OPTIONS", NULL, NULL));
	assert_true(pre_req(c, &a, "OPTIONS", NULL, NULL));
	assert_int_equal(guard_unban(g, &a), ENOENT);
	/* again: strike 2, twice as long; capped where ban_time_max_s is 1 */
	assert_false(pre_req(g, &a, "OPTIONS", NULL, "sipvicious"));
	assert_false(pre_req(c, &a, "OPTIONS", NULL, "sipvicious"));
	assert_true(ban_find(g, "192.0.2.1", &b2));
	assert_true(ban_find(c, "192.0.2.1", &c2));
	assert_int_equal(b2.strikes, 2);
	assert_int_equal(b2.expires - b2.first_seen, 2);
	assert_true(b2.expires > b1.expires);
	assert_int_equal(c2.strikes, 2);
	assert_int_equal(c2.expires - c2.first_seen, 1);
	assert_int_equal(guard_stats(g)->bans, 2);
	put(g);
	put(c);
}

static void test_ban_unban(void **state)
{
	struct guard *g = guard_make(NULL, NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1"), b = ip("192.0.2.2");
	struct guard_ban_info bi;

	(void)state;
	assert_int_equal(guard_unban(g, &a), ENOENT);
	assert_false(pre_req(g, &a, "OPTIONS", NULL, "sipcli"));
	assert_false(pre_req(g, &b, "OPTIONS", NULL, "sipcli"));
	assert_int_equal(nbans(g), 2);
	net_sa_set_port(&a, 1234);   /* any port of the address */
	assert_int_equal(guard_unban(g, &a), 0);
	assert_int_equal(nbans(g), 1);
	assert_false(ban_find(g, "192.0.2.1", NULL));
	assert_true(pre_req(g, &a, "OPTIONS", NULL, NULL));
	assert_false(pre_req(g, &b, "OPTIONS", NULL, NULL));
	assert_int_equal(guard_unban(g, &a), ENOENT);
	/* strikes are forgotten with the ban */
	assert_false(pre_req(g, &a, "OPTIONS", NULL, "sipcli"));
	assert_true(ban_find(g, "192.0.2.1", &bi));
	assert_int_equal(bi.strikes, 1);
	put(g);
}

/* n addresses whose bans share one set of the ban table (white box: the table's hash). */
static void same_ban_set(const struct guard *g, struct sockaddr_storage *out, size_t n)
{
	uint64_t want = UINT64_MAX;
	size_t got = 0;

	for (uint32_t i = 0; got < n && i < 100000; i++) {
		struct sockaddr_storage s = ip4n(0x10000u + i);
		struct gkey k;
		uint64_t set;

		guard_key(&k, &s);
		set = guard_hash(g, &k) & (g->ban.nsets - 1);
		if (want == UINT64_MAX)
			want = set;
		if (set == want)
			out[got++] = s;
	}
	assert_int_equal(got, n);
}

/* max_bans full: a new ban takes an inactive slot first; active ones go only when none is left. */
static void test_ban_table_full(void **state)
{
	struct guard *g = guard_make("max_bans = 16\nban_time_s = 1\n", NULL, NULL);
	const struct guard_stats *st = guard_stats(g);
	struct sockaddr_storage s[13];
	unsigned still = 0;
	uint64_t evicted_inactive;

	(void)state;
	assert_true(GUARD_WAYS == 8);
	same_ban_set(g, s, ARRAY_SIZE(s));
	/* s[0..3]: banned, then over (inactive, kept for their strikes) */
	for (int i = 0; i < 4; i++)
		ban_scanner(g, &s[i]);
	sleep_ms(1100);
	for (int i = 0; i < 4; i++)
		assert_true(pre_req(g, &s[i], "OPTIONS", NULL, NULL));
	/* s[4..7]: active; the set is full now */
	for (int i = 4; i < 8; i++)
		ban_scanner(g, &s[i]);
	assert_int_equal(nbans(g), 4);
	/* s[8..11] take the inactive slots: every active ban stays (and ends after s[4..7]'s) */
	sleep_ms(30);
	for (int i = 8; i < 12; i++)
		ban_scanner(g, &s[i]);
	assert_int_equal(nbans(g), 8);
	for (int i = 4; i < 12; i++)
		assert_true(is_banned(g, &s[i]));
	evicted_inactive = st->evicted_bans;
	/* s[12]: no inactive slot left, so one active ban is pushed out */
	ban_scanner(g, &s[12]);
	assert_int_equal(nbans(g), 8);
	assert_true(is_banned(g, &s[12]));
	for (int i = 8; i < 12; i++)
		assert_true(is_banned(g, &s[i]));
	for (int i = 4; i < 8; i++)
		still += is_banned(g, &s[i]);
	assert_int_equal(still, 3);
	assert_int_equal(st->evicted_bans, evicted_inactive + 1);
	/* evicted_bans counts active bans pushed out, not inactive ones reused */
	assert_int_equal(evicted_inactive, 0);
	put(g);
}

static void bans_file_write(const char *text)
{
	file_put(bans_path, text, strlen(text));
}

/* guard_save, then a new guard on the same file: the active bans are back. */
static void test_bans_file(void **state)
{
	const char *keys = "toll_threshold = 1\nrate_invite = 1\nmalformed_threshold = 1\n"
			   "auth_fail_threshold = 1\n";
	struct guard *g;
	struct sockaddr_storage sc = ip("192.0.2.1"), to = ip("192.0.2.2"), fl = ip("2001:db8::7"),
				ma = ip("192.0.2.3"), cr = ip("192.0.2.4"), free_ = ip("192.0.2.5");
	struct guard_ban_info bi;
	char text[1024];
	time_t now;

	(void)state;
	unlink(bans_path);
	g = guard_make(keys, NULL, bans_path);
	ban_scanner(g, &sc);
	assert_false(pre_req(g, &to, "INVITE", "0049301234", NULL));
	assert_true(pre_req(g, &fl, "INVITE", "0301234", NULL));
	assert_false(pre_req(g, &fl, "INVITE", "0301234", NULL));
	guard_event(g, &ma, GUARD_EV_MALFORMED, NULL);
	guard_event(g, &cr, GUARD_EV_AUTH_FAIL, NULL);
	assert_false(pre_req(g, &sc, "OPTIONS", NULL, NULL));
	assert_int_equal(nbans(g), 5);
	assert_int_equal(guard_save(g), 0);
	put(g);
	assert_int_equal(access(bans_path, F_OK), 0);

	g = guard_make(keys, NULL, bans_path);
	assert_int_equal(nbans(g), 5);
	assert_true(banned_for(g, "192.0.2.1", GUARD_SCANNER));
	assert_true(banned_for(g, "192.0.2.2", GUARD_TOLL));
	assert_true(banned_for(g, "2001:db8::7", GUARD_FLOOD));
	assert_true(banned_for(g, "192.0.2.3", GUARD_MALFORMED));
	assert_true(banned_for(g, "192.0.2.4", GUARD_CRACK));
	assert_true(ban_find(g, "192.0.2.1", &bi));
	assert_int_equal(bi.strikes, 1);
	assert_true(bi.expires >= time(NULL) + 55 && bi.expires <= time(NULL) + 61);
	assert_false(pre_req(g, &sc, "OPTIONS", NULL, NULL));
	assert_false(pre_req(g, &fl, "OPTIONS", NULL, NULL));
	assert_true(pre_req(g, &free_, "OPTIONS", NULL, NULL));
	put(g);

	/* strikes as written; over already: not loaded; too far: capped at ban_time_max_s */
	now = time(NULL);
	snprintf(text, sizeof(text),
		 "{\"version\": 1, \"bans\": ["
		 "{\"source\": \"192.0.2.10\", \"reason\": \"enumeration\", \"strikes\": 3, "
		 "\"packets\": 7, \"first_seen\": %lld, \"expires\": %lld},"
		 "{\"source\": \"192.0.2.11\", \"reason\": \"scanner\", \"strikes\": 1, "
		 "\"packets\": 0, \"first_seen\": %lld, \"expires\": %lld},"
		 "{\"source\": \"2001:db8::12\", \"reason\": \"cracking\", \"strikes\": 2, "
		 "\"packets\": 0, \"first_seen\": %lld, \"expires\": %lld}]}\n",
		 (long long)now - 10, (long long)now + 100, (long long)now - 100,
		 (long long)now - 5, (long long)now, (long long)now + 100000000);
	bans_file_write(text);
	g = guard_make(keys, NULL, bans_path);
	assert_int_equal(nbans(g), 2);
	assert_true(ban_find(g, "192.0.2.10", &bi));
	assert_int_equal(bi.reason, GUARD_ENUM);
	assert_int_equal(bi.strikes, 3);
	assert_int_equal(bi.packets, 7);
	assert_true(bi.expires >= now + 98 && bi.expires <= now + 102);
	assert_false(ban_find(g, "192.0.2.11", NULL));
	assert_true(ban_find(g, "2001:db8::12", &bi));
	assert_int_equal(bi.strikes, 2);
	assert_true(bi.expires <= now + 3600 + 2);
	put(g);
	unlink(bans_path);
}

/* A bans file that is not what we wrote: skipped, and the guard starts. */
static void test_bans_file_corrupt(void **state)
{
	static const struct {
		const char *text;
		size_t good;
	} v[] = {
		{ "", 0 },
		{ "garbage {{{", 0 },
		{ "[1, 2, 3]", 0 },
		{ "{\"version\": 1, \"bans\": {}}", 0 },
		{ "{\"version\": 1, \"bans\": \"x\"}", 0 },
		{ "{\"version\": 1}", 0 },
		{ "{\"bans\": [], \"bans\": []}", 0 },
		{ "{\"version\": 1, \"bans\": [1, \"x\", null, [], {},"
		  "{\"source\": 5, \"reason\": \"scanner\", \"strikes\": 1, \"packets\": 0, \"first_seen\": 0, \"expires\": 9999999999},"
		  "{\"source\": \"192.0.2.1\", \"reason\": \"bogus\", \"strikes\": 1, \"packets\": 0, \"first_seen\": 0, \"expires\": 9999999999},"
		  "{\"source\": \"999.1.2.3\", \"reason\": \"scanner\", \"strikes\": 1, \"packets\": 0, \"first_seen\": 0, \"expires\": 9999999999},"
		  "{\"source\": \"192.0.2.0/24\", \"reason\": \"scanner\", \"strikes\": 1, \"packets\": 0, \"first_seen\": 0, \"expires\": 9999999999},"
		  "{\"source\": \"\", \"reason\": \"scanner\", \"strikes\": 1, \"packets\": 0, \"first_seen\": 0, \"expires\": 9999999999},"
		  "{\"source\": \"192.0.2.2\", \"reason\": \"scanner\", \"strikes\": \"2\", \"packets\": 0, \"first_seen\": 0, \"expires\": 9999999999},"
		  "{\"source\": \"192.0.2.3\", \"reason\": \"scanner\", \"strikes\": 0, \"packets\": 0, \"first_seen\": 0, \"expires\": 9999999999},"
		  "{\"source\": \"192.0.2.4\", \"reason\": \"scanner\", \"strikes\": 65, \"packets\": 0, \"first_seen\": 0, \"expires\": 9999999999},"
		  "{\"source\": \"192.0.2.5\", \"reason\": \"scanner\", \"strikes\": 1, \"packets\": -1, \"first_seen\": 0, \"expires\": 9999999999},"
		  "{\"source\": \"192.0.2.6\", \"reason\": \"scanner\", \"strikes\": 1, \"packets\": 0, \"first_seen\": 0, \"expires\": \"soon\"},"
		  "{\"source\": \"192.0.2.7\", \"reason\": \"scanner\", \"strikes\": 1, \"packets\": 0, \"first_seen\": 0},"
		  "{\"source\": \"192.0.2.8\", \"reason\": 4, \"strikes\": 1, \"packets\": 0, \"first_seen\": 0, \"expires\": 9999999999},"
		  "{\"source\": \"192.0.2.9\", \"reason\": \"scanner\", \"strikes\": 1, \"packets\": 0, \"first_seen\": 0, \"expires\": -9223372036854775808},"
		  "{\"source\": \"192.0.2.99\", \"reason\": \"toll_fraud\", \"strikes\": 1, \"packets\": 0, \"first_seen\": 0, \"expires\": 9999999999}"
		  "]}", 1 },
	};
	struct guard *g;
	char deep[20001];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		bans_file_write(v[i].text);
		g = guard_make(NULL, NULL, bans_path);
		if (nbans(g) != v[i].good)
			print_message("file %zu: %zu bans\n", i, nbans(g));
		assert_int_equal(nbans(g), v[i].good);
		if (v[i].good)
			assert_true(banned_for(g, "192.0.2.99", GUARD_TOLL));
		put(g);
	}
	/* NUL bytes, and nesting deeper than any parser wants */
	file_put(bans_path, "{\"bans\":\0[]}", 12);
	g = guard_make(NULL, NULL, bans_path);
	assert_int_equal(nbans(g), 0);
	put(g);
	memset(deep, '[', sizeof(deep) - 1);
	deep[sizeof(deep) - 1] = '\0';
	bans_file_write(deep);
	g = guard_make(NULL, NULL, bans_path);
	assert_int_equal(nbans(g), 0);
	put(g);
	/* a directory where the file should be */
	unlink(bans_path);
	assert_int_equal(mkdir(bans_path, 0700), 0);
	g = guard_make(NULL, NULL, bans_path);
	assert_int_equal(nbans(g), 0);
	put(g);
	rmdir(bans_path);
}

/* ---- the runtime allow list ---- */


/* guard_allow_add with a fresh message buffer; the code, *why the message. */
static int allow_add(struct guard *g, const char *cidr, const char *note, char *why, size_t size)
{
	struct config_cidr c;
	int err;

	why[0] = '\0';
	err = guard_allow_add(g, cidr, note, &c, why, size);
	if (!err)
		snprintf(why, size, "%s", c.text);
	return err;
}

static int allow_remove(struct guard *g, const char *cidr, char *why, size_t size)
{
	struct config_cidr c;
	int err;

	why[0] = '\0';
	err = guard_allow_remove(g, cidr, &c, why, size);
	if (!err)
		snprintf(why, size, "%s", c.text);
	return err;
}

/* Is address s inside a runtime entry? */
static bool allow_has(const struct guard *g, const char *s)
{
	struct sockaddr_storage ss = ip(s);

	return guard_allow_match(g, &ss);
}

static void assert_why(const char *why, const char *want)
{
	if (strcmp(why, want) != 0)
		print_message("message: %s\nwanted:  %s\n", why, want);
	assert_string_equal(why, want);
}

static void test_allow_parse(void **state)
{
	static const struct {
		const char *in, *out;
	} good[] = {
		{ "198.51.100.7", "198.51.100.7/32" },
		{ "198.51.100.0/24", "198.51.100.0/24" },
		{ "0.0.0.0/0", "0.0.0.0/0" },
		{ "10.0.0.0/008", "10.0.0.0/8" },
		{ "2001:db8::1", "2001:db8::1/128" },
		{ "2001:DB8:0:0::/48", "2001:db8::/48" },
		{ "::ffff:198.51.100.7", "::ffff:198.51.100.7/128" },
	};
	static const struct {
		const char *in, *why;
	} bad[] = {
		{ "", "\"\" is not an address or an address block ADDRESS/PREFIX" },
		{ "/24", "\"/24\" is not an address or an address block ADDRESS/PREFIX" },
		{ "198.51.100", "\"198.51.100\" is not an address or an address block ADDRESS/PREFIX" },
		{ " 198.51.100.7", "\" 198.51.100.7\" is not an address or an address block ADDRESS/PREFIX" },
		{ "example.com", "\"example.com\" is not an address or an address block ADDRESS/PREFIX" },
		{ "fe80::1%eth0", "\"fe80::1%eth0\" is not an address or an address block ADDRESS/PREFIX" },
		{ "198.51.100.7/", "\"198.51.100.7/\" has a bad prefix length (0-32)" },
		{ "198.51.100.7/33", "\"198.51.100.7/33\" has a bad prefix length (0-32)" },
		{ "198.51.100.7/-1", "\"198.51.100.7/-1\" has a bad prefix length (0-32)" },
		{ "198.51.100.7/24 ", "\"198.51.100.7/24 \" has a bad prefix length (0-32)" },
		{ "198.51.100.7/0032", "\"198.51.100.7/0032\" has a bad prefix length (0-32)" },
		{ "2001:db8::/129", "\"2001:db8::/129\" has a bad prefix length (0-128)" },
		{ "198.51.100.7/24", "\"198.51.100.7/24\" has host bits set (the block is 198.51.100.0/24)" },
		{ "2001:db8::1/64", "\"2001:db8::1/64\" has host bits set (the block is 2001:db8::/64)" },
		{ "1.2.3.4\n", "\"1.2.3.4\\x0a\" is not an address or an address block ADDRESS/PREFIX" },
	};
	struct config_cidr c;
	char why[512], longer[300];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		assert_int_equal(guard_cidr_parse(good[i].in, &c, why, sizeof(why)), 0);
		assert_string_equal(c.text, good[i].out);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		why[0] = '\0';
		assert_int_equal(guard_cidr_parse(bad[i].in, &c, why, sizeof(why)), EINVAL);
		assert_why(why, bad[i].why);
	}
	/* a long input is quoted in part */
	memset(longer, '1', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	assert_int_equal(guard_cidr_parse(longer, &c, why, sizeof(why)), EINVAL);
	assert_true(strlen(why) < 140);
	assert_non_null(strstr(why, "...\" is not an address"));
	/* notes: printable ASCII, at most 64 */
	memset(longer, 'n', 64);
	longer[64] = '\0';
	assert_true(guard_note_valid(longer));
	assert_true(guard_note_valid(""));
	assert_true(guard_note_valid("office ~ 2nd floor!"));
	longer[64] = 'n';
	longer[65] = '\0';
	assert_false(guard_note_valid(longer));
	assert_false(guard_note_valid("tab\there"));
	assert_false(guard_note_valid("del\x7f"));
	assert_false(guard_note_valid("B\xc3\xbcro"));
}

static void test_allow_add_remove(void **state)
{
	struct guard *g = guard_make("allow = 203.0.113.0/24\n", NULL, NULL);
	const struct guard_allow_entry *v;
	char why[256], note[80];
	time_t t0 = time(NULL);
	size_t n;

	(void)state;
	v = guard_allow_runtime(g, &n);
	assert_int_equal(n, 0);
	assert_int_equal(guard_allow_config(g)->n, 1);
	assert_string_equal(guard_allow_config(g)->v[0].text, "203.0.113.0/24");

	assert_int_equal(allow_add(g, "198.51.100.7", "office", why, sizeof(why)), 0);
	assert_why(why, "198.51.100.7/32");
	assert_int_equal(allow_add(g, "2001:db8:5::/48", NULL, why, sizeof(why)), 0);
	assert_why(why, "2001:db8:5::/48");
	assert_int_equal(allow_add(g, "10.1.0.0/16", "", why, sizeof(why)), 0);
	assert_int_equal(allow_add(g, "10.1.2.0/24", "inside the /16: its own entry", why,
				   sizeof(why)), 0);
	/* duplicates, here or in the configuration */
	assert_int_equal(allow_add(g, "198.51.100.7/32", NULL, why, sizeof(why)), EEXIST);
	assert_why(why, "198.51.100.7/32 is already allowed");
	assert_int_equal(allow_add(g, "2001:db8:5:0::/48", "x", why, sizeof(why)), EEXIST);
	assert_why(why, "2001:db8:5::/48 is already allowed");
	assert_int_equal(allow_add(g, "203.0.113.0/24", NULL, why, sizeof(why)), EEXIST);
	assert_why(why, "203.0.113.0/24 is already allowed (in the configuration, [guard] allow)");
	/* bad input changes nothing */
	assert_int_equal(allow_add(g, "198.51.100.7/24", NULL, why, sizeof(why)), EINVAL);
	assert_why(why, "\"198.51.100.7/24\" has host bits set (the block is 198.51.100.0/24)");
	memset(note, 'x', 65);
	note[65] = '\0';
	assert_int_equal(allow_add(g, "192.0.2.1", note, why, sizeof(why)), EINVAL);
	assert_why(why, "the note must be at most 64 printable ASCII characters");
	assert_int_equal(allow_add(g, "192.0.2.1", "line\nbreak", why, sizeof(why)), EINVAL);

	/* sorted: IPv4 by network then prefix, then IPv6 */
	v = guard_allow_runtime(g, &n);
	assert_int_equal(n, 4);
	assert_string_equal(v[0].cidr.text, "10.1.0.0/16");
	assert_string_equal(v[1].cidr.text, "10.1.2.0/24");
	assert_string_equal(v[2].cidr.text, "198.51.100.7/32");
	assert_string_equal(v[2].note, "office");
	assert_true(v[2].added >= t0 && v[2].added <= time(NULL));
	assert_string_equal(v[3].cidr.text, "2001:db8:5::/48");
	assert_string_equal(v[3].note, "");

	/* remove: listed, not listed, only in the configuration */
	assert_int_equal(allow_remove(g, "10.1.0.0/16", why, sizeof(why)), 0);
	assert_why(why, "10.1.0.0/16");
	assert_int_equal(allow_remove(g, "10.1.0.0/16", why, sizeof(why)), ENOENT);
	assert_why(why, "10.1.0.0/16 is not in the runtime allow list");
	assert_int_equal(allow_remove(g, "198.51.100.8", why, sizeof(why)), ENOENT);
	assert_why(why, "198.51.100.8/32 is not in the runtime allow list");
	assert_int_equal(allow_remove(g, "203.0.113.0/24", why, sizeof(why)), EINVAL);
	assert_why(why, "203.0.113.0/24 is in the configuration ([guard] allow): edit it there");
	assert_int_equal(allow_remove(g, "nonsense", why, sizeof(why)), EINVAL);
	assert_int_equal(allow_remove(g, "2001:db8:5::0/48", why, sizeof(why)), 0);
	assert_why(why, "2001:db8:5::/48");
	v = guard_allow_runtime(g, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].cidr.text, "10.1.2.0/24");
	assert_string_equal(v[1].cidr.text, "198.51.100.7/32");
	put(g);
}

/* A runtime entry is an allow-list entry: never limited, never banned; removed, bannable again. */
static void test_allow_never_banned(void **state)
{
	struct guard *g = guard_make("rate_options = 5\nauth_fail_threshold = 2\n"
				     "malformed_threshold = 2\n", NULL, NULL);
	struct sockaddr_storage a = ip("198.51.100.9"), a6 = ip("2001:db8:7::9"),
				mapped = ip("::ffff:198.51.100.10"), out = ip("198.51.101.1");
	struct pl user = PL("alice");
	char why[256];

	(void)state;
	assert_int_equal(allow_add(g, "198.51.100.0/24", NULL, why, sizeof(why)), 0);
	assert_int_equal(allow_add(g, "2001:db8:7::/48", NULL, why, sizeof(why)), 0);
	assert_int_equal(allow_add(g, "203.0.113.5", NULL, why, sizeof(why)), 0);
	for (int i = 0; i < 50; i++) {
		assert_true(pre_req(g, &a, "OPTIONS", NULL, "friendly-scanner"));
		assert_true(pre_req(g, &a6, "OPTIONS", NULL, "sipvicious"));
		assert_true(pre_req(g, &mapped, "OPTIONS", NULL, "friendly-scanner"));
	}
	for (int i = 0; i < 10; i++) {
		guard_event(g, &a, GUARD_EV_AUTH_FAIL, &user);
		guard_event(g, &a, GUARD_EV_MALFORMED, NULL);
		sent_resp(g, &a, 404, "u");
	}
	assert_int_equal(nbans(g), 0);
	assert_int_equal(guard_stats(g)->blocked, 0);
	/* outside every block: banned as ever */
	ban_scanner(g, &out);
	assert_true(is_banned(g, &out));
	/* removed: the next scanner packet bans it */
	assert_int_equal(allow_remove(g, "198.51.100.0/24", why, sizeof(why)), 0);
	ban_scanner(g, &a);
	assert_true(banned_for(g, "198.51.100.9", GUARD_SCANNER));
	assert_true(pre_req(g, &a6, "OPTIONS", NULL, "sipvicious"));
	put(g);
}

/* Adding a block lifts the bans inside it (strikes forgotten); the others stay. */
static void test_allow_lifts_bans(void **state)
{
	struct guard *g = guard_make(NULL, NULL, bans_path);
	struct sockaddr_storage in1 = ip("198.51.100.1"), in2 = ip("198.51.100.200"),
				out = ip("198.51.101.1"), in6 = ip("2001:db8:9::1");
	struct guard_ban_info bi;
	char why[256];

	(void)state;
	unlink(bans_path);
	ban_scanner(g, &in1);
	ban_scanner(g, &in2);
	ban_scanner(g, &out);
	ban_scanner(g, &in6);
	assert_int_equal(nbans(g), 4);
	assert_int_equal(allow_add(g, "198.51.100.0/24", NULL, why, sizeof(why)), 0);
	assert_int_equal(nbans(g), 2);
	assert_false(is_banned(g, &in1));
	assert_false(is_banned(g, &in2));
	assert_true(is_banned(g, &out));
	assert_true(pre_req(g, &in1, "OPTIONS", NULL, NULL));
	assert_false(pre_req(g, &out, "OPTIONS", NULL, NULL));
	assert_int_equal(allow_add(g, "2001:db8:9::1", NULL, why, sizeof(why)), 0);
	assert_int_equal(nbans(g), 1);
	/* the bans file no longer has them */
	assert_int_equal(guard_save(g), 0);
	put(g);
	g = guard_make(NULL, NULL, bans_path);
	assert_int_equal(nbans(g), 1);
	assert_true(is_banned(g, &out));
	/* strikes were forgotten: a new ban of in1 is strike 1 */
	ban_scanner(g, &in1);
	assert_true(ban_find(g, "198.51.100.1", &bi));
	assert_int_equal(bi.strikes, 1);
	put(g);
	unlink(bans_path);
}

/* 1024 entries at most; each of many prefix lengths matches what it should. */
static void test_allow_full(void **state)
{
	struct guard *g = guard_make(NULL, NULL, NULL);
	char why[256], text[64];
	size_t n;

	(void)state;
	for (unsigned i = 0; i < GUARD_ALLOW_MAX - 2; i++) {
		snprintf(text, sizeof(text), "10.%u.%u.7", i / 256, i % 256);
		assert_int_equal(allow_add(g, text, "many", why, sizeof(why)), 0);
	}
	assert_int_equal(allow_add(g, "172.16.0.0/12", NULL, why, sizeof(why)), 0);
	assert_int_equal(allow_add(g, "2001:db8::/32", NULL, why, sizeof(why)), 0);
	guard_allow_runtime(g, &n);
	assert_int_equal(n, GUARD_ALLOW_MAX);
	assert_int_equal(allow_add(g, "192.0.2.1", NULL, why, sizeof(why)), ENOSPC);
	assert_why(why, "the runtime allow list is full (1024 entries): remove some first");
	/* a duplicate is still called a duplicate */
	assert_int_equal(allow_add(g, "10.0.0.7", NULL, why, sizeof(why)), EEXIST);
	guard_allow_runtime(g, &n);
	assert_int_equal(n, GUARD_ALLOW_MAX);
	/* lookups: /32s, the /12, the IPv6 /32; neighbours outside */
	assert_true(allow_has(g, "10.3.253.7"));
	assert_false(allow_has(g, "10.3.253.8"));
	assert_false(allow_has(g, "10.4.0.7"));   /* i = 1024: not added */
	assert_true(allow_has(g, "172.31.255.255"));
	assert_false(allow_has(g, "172.32.0.0"));
	assert_true(allow_has(g, "2001:db8:ffff::1"));
	assert_false(allow_has(g, "2001:db9::1"));
	assert_true(allow_has(g, "::ffff:172.16.0.1"));
	assert_int_equal(allow_remove(g, "10.0.0.7", why, sizeof(why)), 0);
	assert_false(allow_has(g, "10.0.0.7"));
	assert_int_equal(allow_add(g, "192.0.2.1", NULL, why, sizeof(why)), 0);
	assert_true(allow_has(g, "192.0.2.1"));
	put(g);
}

static void allow_file_write(const char *text)
{
	file_put(allow_path, text, strlen(text));
}

/* Entries survive in the file: a new guard on it has them, notes and times included. */
static void test_allow_file(void **state)
{
	struct guard *g = guard_make(NULL, NULL, NULL);
	const struct guard_allow_entry *v;
	char why[256];
	struct sockaddr_storage ss;
	struct stat st;
	json_error_t jerr;
	json_t *root;
	int64_t added;
	size_t n;

	(void)state;
	unlink(allow_path);
	assert_int_equal(guard_allow_open(g, allow_path), ENOENT);
	assert_int_equal(allow_add(g, "198.51.100.7", "office", why, sizeof(why)), 0);
	assert_int_equal(allow_add(g, "2001:db8::/32", "lab \"v6\"", why, sizeof(why)), 0);
	assert_int_equal(allow_add(g, "192.0.2.0/24", NULL, why, sizeof(why)), 0);
	assert_int_equal(allow_remove(g, "192.0.2.0/24", why, sizeof(why)), 0);
	added = guard_allow_runtime(g, &n)[0].added;
	put(g);
	/* owner only, the documented shape */
	assert_int_equal(stat(allow_path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	root = json_load_file(allow_path, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(root);
	assert_int_equal(json_integer_value(json_object_get(root, "version")), 1);
	assert_int_equal(json_array_size(json_object_get(root, "allow")), 2);
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(json_object_get(root, "allow"), 1), "note")), "lab \"v6\"");
	json_decref(root);

	g = guard_make(NULL, NULL, NULL);
	assert_int_equal(guard_allow_open(g, allow_path), 0);
	v = guard_allow_runtime(g, &n);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].cidr.text, "198.51.100.7/32");
	assert_string_equal(v[0].note, "office");
	assert_int_equal(v[0].added, added);
	assert_string_equal(v[1].cidr.text, "2001:db8::/32");
	assert_string_equal(v[1].note, "lab \"v6\"");
	assert_true(allow_has(g, "2001:db8::99"));
	ss = ip("192.0.2.1");
	ban_scanner(g, &ss);
	ss = ip("198.51.100.7");
	assert_true(pre_req(g, &ss, "OPTIONS", NULL, "friendly-scanner"));
	/* a reload keeps them, and lists the new configuration's blocks */
	{
		struct sbc_config *cfg = cfg_make("allow = 203.0.113.0/24, 2001:db8:1::/48\n", NULL);

		guard_apply(g, cfg);
		put(cfg);
	}
	guard_allow_runtime(g, &n);
	assert_int_equal(n, 2);
	assert_int_equal(guard_allow_config(g)->n, 2);
	assert_string_equal(guard_allow_config(g)->v[1].text, "2001:db8:1::/48");
	assert_int_equal(allow_remove(g, "2001:db8:1::/48", why, sizeof(why)), EINVAL);
	put(g);
	unlink(allow_path);
}

/* A file that is not what we wrote: logged and ignored, bad entries skipped; the next add rewrites it. */
static void test_allow_file_corrupt(void **state)
{
	static const struct {
		const char *text;
		int err;
		size_t good;
	} v[] = {
		{ "", ENOENT, 0 },
		{ "garbage {{{", ENOENT, 0 },
		{ "[1, 2]", EINVAL, 0 },
		{ "{\"version\": 1}", EINVAL, 0 },
		{ "{\"version\": 1, \"allow\": {}}", EINVAL, 0 },
		{ "{\"allow\": [], \"allow\": []}", ENOENT, 0 },
		{ "{\"version\": 1, \"allow\": [1, \"x\", null, [], {},"
		  "{\"cidr\": 5},"
		  "{\"cidr\": \"198.51.100.7/24\"},"
		  "{\"cidr\": \"not an address\"},"
		  "{\"cidr\": \"192.0.2.1\", \"note\": 7},"
		  "{\"cidr\": \"192.0.2.2\", \"note\": \"bad\\u0001note\"},"
		  "{\"cidr\": \"192.0.2.3\", \"added\": -5},"
		  "{\"cidr\": \"192.0.2.4\", \"added\": \"yesterday\"},"
		  "{\"cidr\": \"192.0.2.99\", \"note\": \"good\", \"added\": 1700000000},"
		  "{\"cidr\": \"192.0.2.99/32\", \"note\": \"again\"},"
		  "{\"cidr\": \"2001:db8::/32\"}"
		  "]}", 0, 2 },
	};
	struct guard *g;
	const struct guard_allow_entry *e;
	char why[256];
	size_t n;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		allow_file_write(v[i].text);
		g = guard_make(NULL, NULL, NULL);
		assert_int_equal(guard_allow_open(g, allow_path), v[i].err);
		e = guard_allow_runtime(g, &n);
		if (n != v[i].good)
			print_message("file %zu: %zu entries\n", i, n);
		assert_int_equal(n, v[i].good);
		if (n) {
			assert_string_equal(e[0].cidr.text, "192.0.2.99/32");
			assert_string_equal(e[0].note, "good");
			assert_int_equal(e[0].added, 1700000000);
			assert_string_equal(e[1].cidr.text, "2001:db8::/32");
			assert_string_equal(e[1].note, "");
		}
		put(g);
	}
	/* the next change writes a good file */
	allow_file_write("garbage");
	g = guard_make(NULL, NULL, NULL);
	guard_allow_open(g, allow_path);
	assert_int_equal(allow_add(g, "198.51.100.1", NULL, why, sizeof(why)), 0);
	put(g);
	g = guard_make(NULL, NULL, NULL);
	assert_int_equal(guard_allow_open(g, allow_path), 0);
	guard_allow_runtime(g, &n);
	assert_int_equal(n, 1);
	put(g);
	/* more than GUARD_ALLOW_MAX entries: the first ones are kept */
	{
		size_t size = (GUARD_ALLOW_MAX + 10) * 40 + 64, off = 0;
		char *text = malloc(size);

		assert_non_null(text);
		off += (size_t)snprintf(text + off, size - off, "{\"allow\": [");
		for (unsigned i = 0; i < GUARD_ALLOW_MAX + 10; i++)
			off += (size_t)snprintf(text + off, size - off, "%s{\"cidr\": \"10.%u.%u.1\"}",
						i ? "," : "", i / 256, i % 256);
		off += (size_t)snprintf(text + off, size - off, "]}");
		assert_true(off < size);
		allow_file_write(text);
		free(text);
		g = guard_make(NULL, NULL, NULL);
		assert_int_equal(guard_allow_open(g, allow_path), 0);
		guard_allow_runtime(g, &n);
		assert_int_equal(n, GUARD_ALLOW_MAX);
		put(g);
	}
	unlink(allow_path);
}

/* When the file cannot be written, the change is refused and undone. */
static void test_allow_file_unwritable(void **state)
{
	char dir[200], path[240], inside[280], why[256];
	struct guard *g = guard_make(NULL, NULL, NULL);
	size_t n;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/gone", tmpdir);
	snprintf(path, sizeof(path), "%s/allow.json", dir);
	assert_int_equal(guard_allow_open(g, path), ENOENT);
	assert_int_equal(allow_add(g, "198.51.100.7", NULL, why, sizeof(why)), ENOENT);
	assert_non_null(strstr(why, "cannot write "));
	assert_non_null(strstr(why, "gone/allow.json: No such file or directory"));
	guard_allow_runtime(g, &n);
	assert_int_equal(n, 0);
	assert_false(allow_has(g, "198.51.100.7"));
	/* the folder appears: it works; then the file becomes a folder: removal refused */
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(allow_add(g, "198.51.100.7", NULL, why, sizeof(why)), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(inside, sizeof(inside), "%s/x", path);
	file_put(inside, "x", 1);
	assert_int_equal(allow_remove(g, "198.51.100.7", why, sizeof(why)), EISDIR);
	assert_non_null(strstr(why, "cannot write "));
	guard_allow_runtime(g, &n);
	assert_int_equal(n, 1);
	assert_true(allow_has(g, "198.51.100.7"));
	put(g);
	unlink(inside);
	rmdir(path);
	rmdir(dir);
}

/* ---- bounded memory ---- */

static void test_bounded_memory(void **state)
{
	struct guard *g = guard_make("table_size = 1024\ncapacity_pps = 100\n", NULL, NULL);
	const struct guard_stats *st = guard_stats(g);
	struct sockaddr_storage t = ip("192.0.2.200");
	char m[1024];
	size_t len = req_make(m, sizeof(m), "OPTIONS", NULL, NULL);
	size_t n0;
	unsigned passed = 0;

	(void)state;
	guard_event(g, &t, GUARD_EV_AUTH_OK, NULL);
	n0 = mem_nalloc();
	for (uint32_t i = 0; i < 200000; i++) {
		struct sockaddr_storage s = ip4n(i);

		guard_pre(g, &s, m, len);
		if (i % 16 == 0)
			guard_event(g, &s, GUARD_EV_MALFORMED, NULL);
		if (i % 16 == 1)
			sent_resp(g, &s, 404, "u");
	}
	assert_int_equal(mem_nalloc(), n0);
	assert_true(guard_sources(g) <= 1024);
	assert_true(guard_sources(g) <= gtable_size(&g->src));
	assert_true(gtable_size(&g->src) <= 1024);
	/* sources beyond the capacity share take no slot; the events' sources evict */
	assert_true(st->evicted_sources >= 200000 / 16);
	assert_true(st->reason[GUARD_CAPACITY].packets >= 200000 - 1024);
	/* the capacity share is used up; the trusted source, in its own table, is still trusted */
	assert_int_equal(pre_many(g, &t, "OPTIONS", NULL, 40), 40);
	assert_int_equal(st->demoted, 0);
	for (uint32_t i = 0; i < 20; i++) {
		struct sockaddr_storage s = ip4n(300000 + i);

		passed += pre_req(g, &s, "OPTIONS", NULL, NULL);
	}
	assert_true(passed <= 2);
	put(g);
}

/* ---- statistics ---- */

static void test_stats_packets(void **state)
{
	struct guard *g = guard_make("rate_packets = 3\nrate_options = 2\n", NULL, NULL);
	const struct guard_stats *st = guard_stats(g);
	struct sockaddr_storage sc = ip("192.0.2.1"), ra = ip("192.0.2.2"), fl = ip("192.0.2.3"),
				ok = ip("192.0.2.4");
	unsigned sent = 0, passed = 0;

	(void)state;
	settle(g);
	for (int i = 0; i < 4; i++, sent++)
		passed += pre_req(g, &sc, "OPTIONS", NULL, i ? NULL : "sipvicious");
	for (int i = 0; i < 8; i++, sent++)
		passed += pre_resp(g, &ra, 180);
	for (int i = 0; i < 3; i++, sent++)
		passed += pre_req(g, &fl, "OPTIONS", NULL, NULL);
	for (int i = 0; i < 2; i++, sent++)
		passed += pre_req(g, &fl, "OPTIONS", NULL, NULL);
	for (int i = 0; i < 2; i++, sent++)
		passed += pre_req(g, &ok, "OPTIONS", NULL, NULL);
	assert_int_equal(st->reason[GUARD_SCANNER].packets, 4);
	assert_int_equal(st->reason[GUARD_RATE].packets, 5);
	assert_int_equal(st->reason[GUARD_FLOOD].packets, 3);
	for (unsigned r = 0; r < GUARD_REASON__COUNT; r++) {
		if (r != GUARD_SCANNER && r != GUARD_RATE && r != GUARD_FLOOD)
			assert_int_equal(st->reason[r].packets, 0);
	}
	assert_int_equal(st->passed, passed);
	assert_int_equal(st->passed, 3 + 2 + 2);
	assert_int_equal(st->blocked, sent - passed);
	assert_int_equal(st->bans, 2);
	put(g);
}

/* reason[r].sources counts each source once per reason. */
static void test_stats_sources(void **state)
{
	struct guard *g = guard_make("rate_packets = 3\nrate_options = 2\nauth_fail_threshold = 1\n",
				     NULL, NULL);
	const struct guard_stats *st = guard_stats(g);
	struct sockaddr_storage sc = ip("192.0.2.1"), ra = ip("192.0.2.2"), fl = ip("192.0.2.3"),
				cr = ip("192.0.2.4");

	(void)state;
	settle(g);
	for (int i = 0; i < 8; i++)
		pre_resp(g, &ra, 180);
	assert_int_equal(st->reason[GUARD_RATE].sources, 1);
	guard_event(g, &cr, GUARD_EV_AUTH_FAIL, NULL);
	pre_req(g, &cr, "OPTIONS", NULL, NULL);
	assert_int_equal(st->reason[GUARD_CRACK].sources, 1);
	for (int i = 0; i < 4; i++)
		pre_req(g, &sc, "OPTIONS", NULL, i ? NULL : "sipvicious");
	assert_int_equal(st->reason[GUARD_SCANNER].sources, 1);
	for (int i = 0; i < 5; i++)
		pre_req(g, &fl, "OPTIONS", NULL, NULL);
	assert_int_equal(st->reason[GUARD_FLOOD].sources, 1);
	put(g);
}

static void test_top(void **state)
{
	struct guard *g = guard_make("rate_packets = 1\n", NULL, NULL);
	struct guard_offender top[8];
	struct sockaddr_storage bad = ip("192.0.2.99");
	char who[NET_ADDRSTRLEN];
	size_t n;

	(void)state;
	/* 192.0.2.k has k packets dropped for rate, k = 1, 3, 5, 7 */
	for (int k = 1; k <= 7; k += 2) {
		char text[32];
		struct sockaddr_storage s;

		snprintf(text, sizeof(text), "192.0.2.%d", k);
		s = ip(text);
		for (int i = 0; i <= k; i++)
			pre_resp(g, &s, 200);
	}
	n = guard_top(g, top, 3);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++) {
		char want[32];

		snprintf(want, sizeof(want), "192.0.2.%zu", 7 - 2 * i);
		assert_int_equal(net_sa_ip_str(&top[i].addr, who, sizeof(who)), 0);
		assert_string_equal(who, want);
		assert_int_equal(top[i].packets, 7 - 2 * i);
		assert_int_equal(top[i].reason, GUARD_RATE);
		assert_false(top[i].banned);
	}
	assert_int_equal(guard_top(g, top, 8), 4);
	assert_int_equal(top[3].packets, 1);
	assert_int_equal(guard_top(g, top, 0), 0);
	/* a banned source, with what it sent while banned, goes to the top */
	ban_scanner(g, &bad);
	for (int i = 0; i < 10; i++)
		pre_resp(g, &bad, 200);
	n = guard_top(g, top, 2);
	assert_int_equal(n, 2);
	assert_int_equal(net_sa_ip_str(&top[0].addr, who, sizeof(who)), 0);
	assert_string_equal(who, "192.0.2.99");
	assert_true(top[0].banned);
	assert_int_equal(top[0].reason, GUARD_SCANNER);
	assert_int_equal(top[0].packets, 11);
	assert_int_equal(top[1].packets, 7);
	put(g);
}

static uint32_t tl[GUARD_REASON__COUNT * GUARD_MINUTES_KEPT];

static void test_timeline(void **state)
{
	struct guard *g = guard_make("rate_packets = 1\n", NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1"), b = ip("192.0.2.2");
	int64_t end;
	time_t now;

	(void)state;
	for (int i = 0; i < 6; i++)
		pre_resp(g, &a, 200);   /* 5 dropped for rate */
	ban_scanner(g, &b);
	pre_resp(g, &b, 200);         /* 2 for scanner */
	now = time(NULL);
	guard_timeline(g, GUARD_SECONDS, tl, GUARD_SECONDS_KEPT, &end);
	assert_true(end >= now - 1 && end <= now + 1);
	{
		const uint32_t *rate = tl + GUARD_RATE * GUARD_SECONDS_KEPT;
		const uint32_t *scan = tl + GUARD_SCANNER * GUARD_SECONDS_KEPT;
		const uint32_t *flood = tl + GUARD_FLOOD * GUARD_SECONDS_KEPT;

		assert_int_equal(rate[599] + rate[598], 5);
		assert_int_equal(scan[599] + scan[598], 2);
		assert_int_equal(flood[599] + flood[598], 0);
		for (int i = 0; i < 590; i++)
			assert_int_equal(rate[i] + scan[i], 0);
	}
	guard_timeline(g, GUARD_MINUTES, tl, GUARD_MINUTES_KEPT, &end);
	assert_int_equal(end % 60, 0);
	assert_true(end <= now + 1 && end > now - 61);
	{
		const uint32_t *rate = tl + GUARD_RATE * GUARD_MINUTES_KEPT;
		const uint32_t *scan = tl + GUARD_SCANNER * GUARD_MINUTES_KEPT;

		assert_int_equal(rate[1439] + rate[1438], 5);
		assert_int_equal(scan[1439] + scan[1438], 2);
		for (int i = 0; i < 1430; i++)
			assert_int_equal(rate[i] + scan[i], 0);
	}
	/* a shorter view: the last per_reason entries */
	guard_timeline(g, GUARD_SECONDS, tl, 10, &end);
	assert_int_equal(tl[GUARD_RATE * 10 + 9] + tl[GUARD_RATE * 10 + 8], 5);
	put(g);
}

/*
 * The media engine's drop totals: only the growth since the last hand-over
 * is counted, under rtp_source and rtp_policing (totals, blocked,
 * timelines), with no source and no ban; a total that went down (a new
 * engine) counts in full.
 */
static void test_media_drops(void **state)
{
	struct guard *g = guard_make("", NULL, NULL);
	const struct guard_stats *st = guard_stats(g);
	const uint32_t *src, *pol;
	int64_t end;

	(void)state;
	assert_string_equal(guard_reason_name(GUARD_RTP_SOURCE), "rtp_source");
	assert_string_equal(guard_reason_name(GUARD_RTP_POLICING), "rtp_policing");
	guard_media_drops(g, 0, 0);
	assert_int_equal(st->blocked, 0);
	guard_media_drops(g, 7, 3);
	guard_media_drops(g, 7, 3);          /* nothing new */
	guard_media_drops(g, 12, 3);
	assert_int_equal(st->reason[GUARD_RTP_SOURCE].packets, 12);
	assert_int_equal(st->reason[GUARD_RTP_POLICING].packets, 3);
	assert_int_equal(st->reason[GUARD_RTP_SOURCE].sources, 0);
	assert_int_equal(st->blocked, 15);
	guard_media_drops(g, 2, 3);          /* the engine started again */
	assert_int_equal(st->reason[GUARD_RTP_SOURCE].packets, 14);
	assert_int_equal(st->reason[GUARD_RTP_POLICING].packets, 3);
	assert_int_equal(st->bans, 0);
	assert_int_equal(guard_bans(g, NULL, 0), 0);
	assert_int_equal(guard_sources(g), 0);
	guard_timeline(g, GUARD_SECONDS, tl, GUARD_SECONDS_KEPT, &end);
	src = tl + GUARD_RTP_SOURCE * GUARD_SECONDS_KEPT;
	pol = tl + GUARD_RTP_POLICING * GUARD_SECONDS_KEPT;
	assert_int_equal(src[599] + src[598], 14);
	assert_int_equal(pol[599] + pol[598], 3);
	guard_timeline(g, GUARD_MINUTES, tl, GUARD_MINUTES_KEPT, &end);
	src = tl + GUARD_RTP_SOURCE * GUARD_MINUTES_KEPT;
	assert_int_equal(src[1439] + src[1438], 14);
	guard_media_drops(NULL, 1, 1);       /* no guard: nothing happens */
	put(g);
}

/* ---- IPv6, disabled, reload, allocation ---- */

static void test_ipv6(void **state)
{
	struct guard *g = guard_make("rate_options = 3\n", NULL, NULL);
	struct sockaddr_storage a = ip("2001:db8::1"), a2 = ip("2001:db8::1"), b = ip("2001:db8::2"),
				f = ip("2001:db8::3"), v4 = ip("192.0.2.1");
	struct guard_ban_info v[4];
	char who[NET_ADDRSTRLEN];

	(void)state;
	settle(g);
	assert_false(pre_req(g, &a, "OPTIONS", NULL, "sipvicious"));
	net_sa_set_port(&a2, 9999);
	assert_false(pre_req(g, &a2, "OPTIONS", NULL, NULL));
	assert_true(pre_req(g, &b, "OPTIONS", NULL, NULL));
	assert_true(pre_req(g, &v4, "OPTIONS", NULL, NULL));
	assert_int_equal(pre_many(g, &f, "OPTIONS", NULL, 6), 3);
	assert_int_equal(guard_bans(g, v, ARRAY_SIZE(v)), 2);
	assert_true(banned_for(g, "2001:db8::1", GUARD_SCANNER));
	assert_true(banned_for(g, "2001:db8::3", GUARD_FLOOD));
	for (int i = 0; i < 2; i++) {
		assert_int_equal(v[i].addr.ss_family, AF_INET6);
		assert_int_equal(net_sa_ip_str(&v[i].addr, who, sizeof(who)), 0);
		assert_non_null(strstr(who, "2001:db8::"));
	}
	assert_int_equal(guard_unban(g, &a), 0);
	assert_int_equal(guard_unban(g, &a), ENOENT);
	assert_int_equal(guard_unban(g, &b), ENOENT);
	assert_true(pre_req(g, &a, "OPTIONS", NULL, NULL));
	assert_int_equal(nbans(g), 1);
	/* the same low 32 bits as an IPv4 address are another source */
	{
		struct sockaddr_storage x = ip("0.0.0.3");

		assert_true(pre_req(g, &x, "OPTIONS", NULL, NULL));
	}
	put(g);
}

static void test_disabled(void **state)
{
	struct guard *g = guard_make("enabled = no\nrate_options = 1\nauth_fail_threshold = 1\n",
				     NULL, NULL);
	struct sockaddr_storage a = ip("192.0.2.1");

	(void)state;
	assert_false(guard_enabled(g));
	assert_int_equal(pre_many(g, &a, "OPTIONS", NULL, 10), 10);
	assert_true(pre_req(g, &a, "OPTIONS", NULL, "friendly-scanner"));
	guard_event(g, &a, GUARD_EV_AUTH_FAIL, NULL);
	sent_resp(g, &a, 404, "x");
	assert_int_equal(nbans(g), 0);
	assert_int_equal(guard_stats(g)->blocked, 0);
	put(g);
}

/* A reloaded config's limits apply at once; the old config is let go. */
static void test_apply(void **state)
{
	struct guard *g = guard_make("rate_options = 100\n", NULL, NULL);
	struct sbc_config *cfg = cfg_make("rate_options = 2\nscanner_agents = newbot\n", NULL);
	struct sockaddr_storage a = ip("192.0.2.1"), b = ip("192.0.2.2");

	(void)state;
	settle(g);
	assert_true(pre_req(g, &b, "OPTIONS", NULL, "newbot 1.0"));
	guard_apply(g, cfg);
	put(cfg);
	assert_int_equal(pre_many(g, &a, "OPTIONS", NULL, 3), 2);
	assert_true(banned_for(g, "192.0.2.1", GUARD_FLOOD));
	assert_false(pre_req(g, &b, "OPTIONS", NULL, "newbot 1.0"));
	assert_true(banned_for(g, "192.0.2.2", GUARD_SCANNER));
	put(g);
}

static void test_alloc_oom(void **state)
{
	struct sbc_config *cfg = cfg_make(NULL, NULL);
	struct guard *g = NULL;
	int err = ENOMEM;

	(void)state;
	for (long i = 0; i < 20 && err; i++) {
		mem_fail_after(i);
		err = guard_alloc(&g, cfg, bans_path);
		mem_fail_after(-1);
		if (!err)
			own(g);
		if (err) {
			assert_int_equal(err, ENOMEM);
			assert_int_equal(mem_nrefs(cfg), 1);
		}
	}
	assert_int_equal(err, 0);
	put(g);
	put(cfg);
}

#define T(f) cmocka_unit_test_setup_teardown(f, unit_leak_setup, test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_scan_classes),
		T(test_scan_user_agent),
		T(test_scan_to_user),
		T(test_scan_to_user_like_parser),
		T(test_scan_ruri_user),
		T(test_scan_stops_at_body),
		T(test_scan_garbage),
		T(test_ua_scanner),
		T(test_pre_scanner_banned),
		T(test_admit),
		T(test_pre_allow_list),
		T(test_pre_trunk_peer),
		T(test_pre_core_peer),
		T(test_pre_flood),
		T(test_pre_rate),
		T(test_pre_oversized),
		T(test_pre_capacity),
		T(test_pre_user_flood),
		T(test_pre_toll),
		T(test_event_cracking),
		T(test_event_cracking_user),
		T(test_event_malformed),
		T(test_event_trusted),
		T(test_event_trusted_demoted),
		T(test_event_trusted_scanner),
		T(test_event_banned_not_counted),
		T(test_sent_enumeration),
		T(test_sent_enumeration_distinct),
		T(test_ban_expiry_repeat_cap),
		T(test_ban_unban),
		T(test_ban_table_full),
		T(test_bans_file),
		T(test_bans_file_corrupt),
		T(test_allow_parse),
		T(test_allow_add_remove),
		T(test_allow_never_banned),
		T(test_allow_lifts_bans),
		T(test_allow_full),
		T(test_allow_file),
		T(test_allow_file_corrupt),
		T(test_allow_file_unwritable),
		T(test_bounded_memory),
		T(test_stats_packets),
		T(test_stats_sources),
		T(test_top),
		T(test_timeline),
		T(test_media_drops),
		T(test_ipv6),
		T(test_disabled),
		T(test_apply),
		T(test_alloc_oom),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
