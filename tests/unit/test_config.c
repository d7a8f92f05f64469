/* test_config: sbc.ini loading, defaults, every class of error and its exact text, leaks and out-of-memory. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "config/config.h"
#include "unit.h"

#define ROOTFS_CONF TEST_DATA_DIR "/../../../rootfs/etc/sbc/sbc.ini"
#define FULL_CONF   TEST_DATA_DIR "/configs/full.ini"

/* The smallest valid file; tests add keys by appending to a section. */
#define PUB  "[public]\ninterface = wan\naddress = 203.0.113.1\n"
#define PRIV "[private]\ninterface = lan\naddress = 10.20.0.1\n"
#define CORE "[core]\naddress = 10.20.0.10\n"
#define BASE PUB PRIV CORE

static char tmpdir[64];
static char conf_path[128];
static struct config_errors errs;

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sbc-test-config-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(conf_path, sizeof(conf_path), "%s/sbc.ini", tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(conf_path);
	rmdir(tmpdir);
	return 0;
}

static void write_conf(const char *text, size_t len)
{
	FILE *f = fopen(conf_path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Write text as the config file and load it. */
static int load(const char *text, struct sbc_config **cfgp)
{
	write_conf(text, strlen(text));
	*cfgp = NULL;
	return config_load(cfgp, conf_path, &errs);
}

static void dump_errors(void)
{
	unit_dump_errors(&errs);
}

/* True when errs holds exactly the line "CONF_PATH: rest". */
static bool has_error(const char *rest)
{
	return unit_has_error(&errs, conf_path, rest);
}

/* The file must be refused with exactly this one error. */
static void expect_only(const char *text, const char *rest)
{
	struct sbc_config *cfg;

	assert_int_equal(load(text, &cfg), EINVAL);
	assert_null(cfg);
	assert_true(has_error(rest));
	if (errs.n != 1)
		dump_errors();
	assert_int_equal(errs.n, 1);
}

static struct sbc_config *expect_ok(const char *text)
{
	struct sbc_config *cfg;
	int err = load(text, &cfg);

	if (err)
		dump_errors();
	assert_int_equal(err, 0);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);
	return cfg;
}

static void test_rootfs_default(void **state)
{
	struct sbc_config *cfg = NULL;
	const struct config_zone *pub, *priv;
	int err;

	(void)state;
	err = config_load(&cfg, ROOTFS_CONF, &errs);
	if (err)
		dump_errors();
	assert_int_equal(err, 0);
	pub = config_zone(cfg, ZONE_PUBLIC);
	priv = config_zone(cfg, ZONE_PRIVATE);
	assert_string_equal(cfg->general.data_dir, "/var/lib/sbc");
	assert_int_equal(cfg->general.log_level, LOG_LVL_INFO);
	assert_int_equal(cfg->general.log_target, CONFIG_LOG_STDERR);
	assert_string_equal(cfg->general.product, "sbc");
	assert_string_equal(cfg->general.control_socket, "/run/sbc/sbcd.sock");
	assert_int_equal(pub->id, ZONE_PUBLIC);
	assert_string_equal(pub->interface, "wan");
	assert_string_equal(pub->address.text, "203.0.113.1");
	assert_false(pub->advertise.set);
	assert_int_equal(pub->sip_udp, 5060);
	assert_int_equal(pub->sip_tcp, 5060);
	assert_int_equal(pub->sip_tls, 5061);
	assert_int_equal(pub->rtp_ports.start, 20000);
	assert_int_equal(pub->rtp_ports.end, 29999);
	assert_int_equal(pub->media, CONFIG_MEDIA_SOCKET);
	assert_false(pub->media_address.set);
	assert_int_equal(pub->prefix, 24);
	assert_false(pub->gateway.set);
	assert_int_equal(pub->routes.n, 0);
	assert_int_equal(pub->mtu, 0);
	assert_int_equal(priv->prefix, 24);
	assert_false(priv->gateway.set);
	assert_int_equal(priv->id, ZONE_PRIVATE);
	assert_string_equal(priv->interface, "lan");
	assert_string_equal(priv->address.text, "10.20.0.1");
	assert_int_equal(priv->sip_tls, 0);
	assert_int_equal(priv->rtp_ports.start, 30000);
	assert_int_equal(priv->rtp_ports.end, 39999);
	assert_string_equal(cfg->core.address.name, "10.20.0.10");
	assert_true(cfg->core.address.addr.set);
	assert_int_equal(cfg->core.port, 5060);
	assert_int_equal(cfg->core.transport, CONFIG_TRANSPORT_UDP);
	assert_int_equal(cfg->core.hide.n, 0);
	assert_int_equal(cfg->trunk_count, 0);
	assert_int_equal(cfg->registration.phone_expires, 60);
	assert_int_equal(cfg->registration.core_expires, 3600);
	assert_int_equal(cfg->registration.keepalive, CONFIG_KEEPALIVE_OPTIONS);
	assert_false(cfg->auth.local);
	assert_string_equal(cfg->auth.users_file, "/var/lib/sbc/users");
	assert_true(cfg->guard.enabled);
	assert_int_equal(cfg->guard.table_size, 65536);
	assert_int_equal(cfg->guard.rate_invite, 20);
	assert_int_equal(cfg->media.timeout_s, 60);
	assert_string_equal(cfg->web.listen.addr.text, "10.20.0.1");
	assert_int_equal(cfg->web.listen.port, 443);
	assert_string_equal(cfg->web.user, "sbc-web");
	assert_string_equal(cfg->path, ROOTFS_CONF);
	mem_deref(cfg);
}

/* Every key set to something other than its default. */
static void test_full(void **state)
{
	struct sbc_config *cfg = NULL;
	const struct config_zone *pub, *priv;
	const struct config_trunk *t;
	int err;

	(void)state;
	err = config_load(&cfg, FULL_CONF, &errs);
	if (err)
		dump_errors();
	assert_int_equal(err, 0);
	pub = &cfg->zones[ZONE_PUBLIC];
	priv = &cfg->zones[ZONE_PRIVATE];
	assert_string_equal(cfg->general.data_dir, "/srv/sbc");
	assert_int_equal(cfg->general.log_level, LOG_LVL_DEBUG);
	assert_int_equal(cfg->general.log_target, CONFIG_LOG_SYSLOG);
	assert_string_equal(cfg->general.product, "Edge; 2");
	assert_string_equal(cfg->general.control_socket, "/run/sbc/ctl.sock");
	assert_string_equal(pub->interface, "eth0");
	assert_string_equal(pub->address.text, "2001:db8::10");
	assert_string_equal(pub->advertise.text, "2001:db8:ffff::10");
	assert_int_equal(pub->sip_udp, 5070);
	assert_int_equal(pub->sip_tls, 5071);
	assert_string_equal(pub->tls_cert, "/srv/sbc/tls/pub.crt");
	assert_string_equal(pub->tls_key, "/srv/sbc/tls/pub.key");
	assert_int_equal(pub->rtp_ports.start, 40000);
	assert_int_equal(pub->rtp_ports.end, 40999);
	assert_int_equal(pub->media, CONFIG_MEDIA_BYPASS);
	assert_string_equal(pub->media_address.text, "2001:db8::11");
	assert_int_equal(pub->prefix, 48);
	assert_string_equal(pub->gateway.text, "fe80::1");
	assert_int_equal(pub->routes.n, 2);
	assert_string_equal(pub->routes.v[1].text, "2001:db8:200::/40");
	assert_int_equal(pub->mtu, 1492);
	assert_int_equal(priv->prefix, 26);
	assert_string_equal(priv->gateway.text, "192.168.7.62");
	assert_int_equal(priv->routes.n, 1);
	assert_string_equal(priv->routes.v[0].text, "192.168.8.0/24");
	assert_int_equal(priv->mtu, 9000);
	assert_int_equal(priv->sip_tcp, 0);
	assert_int_equal(priv->sip_tls, 5081);
	assert_int_equal(cfg->sip.t1_ms, 250);
	assert_int_equal(cfg->sip.max_connections_per_source, 32);
	assert_string_equal(cfg->core.address.name, "pbx.corp.internal");
	assert_int_equal(cfg->core.port, 5090);
	assert_int_equal(cfg->core.transport, CONFIG_TRANSPORT_TLS);   /* [private] sip_tcp is 0 */
	assert_int_equal(cfg->core.hide.n, 3);
	assert_string_equal(cfg->core.hide.v[2], "192.168.7.0");
	assert_int_equal(cfg->trunk_count, 2);
	t = &cfg->trunks[0];
	assert_string_equal(t->name, "carrier1");
	assert_int_equal(t->transport, CONFIG_TRANSPORT_TLS);
	assert_int_equal(t->allow.n, 2);
	assert_string_equal(t->allow.v[1].text, "2001:db8:5::/48");
	assert_string_equal(t->password, "s3cret;#");
	assert_int_equal(t->expires, 1800);
	t = &cfg->trunks[1];
	assert_string_equal(t->name, "pstn-gw_2");
	assert_int_equal(t->zone, ZONE_PRIVATE);
	assert_string_equal(t->allow.v[0].text, "192.168.7.50/32");
	assert_int_equal(cfg->registration.phone_expires, 120);
	assert_int_equal(cfg->registration.grace_s, 10);
	assert_false(cfg->guard.enabled);
	assert_int_equal(cfg->guard.table_size, 131072);
	assert_int_equal(cfg->guard.rate_options, 5);
	assert_int_equal(cfg->guard.trusted_reserve_pct, 50);
	assert_string_equal(cfg->guard.scanner_agents.v[1], "VaxSIPUserAgent");
	assert_int_equal(cfg->guard.malformed_threshold, 3);
	assert_false(cfg->media.policing);
	assert_int_equal(cfg->media.max_streams, 500);
	assert_string_equal(cfg->web.listen.addr.text, "192.168.7.1");
	assert_int_equal(cfg->web.listen.port, 8443);
	assert_string_equal(cfg->web.cert, "/srv/sbc/tls/web.crt");
	assert_string_equal(cfg->web.user, "www-sbc");
	mem_deref(cfg);
}

static void test_defaults(void **state)
{
	struct sbc_config *cfg;
	const struct sockaddr_in *sin;

	(void)state;
	cfg = expect_ok(BASE);
	assert_string_equal(cfg->general.data_dir, "/var/lib/sbc");
	assert_int_equal(cfg->general.log_level, LOG_LVL_INFO);
	assert_string_equal(cfg->general.product, "sbc");
	assert_int_equal(cfg->zones[ZONE_PUBLIC].sip_tls, 5061);
	assert_int_equal(cfg->zones[ZONE_PRIVATE].sip_tls, 0);
	assert_int_equal(cfg->zones[ZONE_PRIVATE].sip_udp, 5060);
	assert_int_equal(cfg->zones[ZONE_PRIVATE].rtp_ports.start, 30000);
	assert_int_equal(cfg->sip.t1_ms, 500);
	assert_int_equal(cfg->sip.t2_ms, 4000);
	assert_int_equal(cfg->sip.t4_ms, 5000);
	assert_int_equal(cfg->sip.tcp_idle_s, 300);
	assert_int_equal(cfg->sip.max_connections, 1024);
	assert_int_equal(cfg->sip.max_connections_per_source, 16);
	assert_int_equal(cfg->registration.grace_s, 30);
	assert_int_equal(cfg->registration.keepalive, CONFIG_KEEPALIVE_OPTIONS);
	assert_int_equal(cfg->registration.keepalive_s, 30);
	assert_false(cfg->auth.local);
	assert_string_equal(cfg->auth.realm, "");
	assert_string_equal(cfg->auth.users_file, "/var/lib/sbc/users");
	assert_int_equal(cfg->auth.algorithms, CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256);
	assert_int_equal(cfg->auth.nonce_ttl_s, 300);
	assert_int_equal(cfg->auth.reject, CONFIG_AUTH_REJECT_403);
	assert_int_equal(cfg->guard.ban_time_s, 300);
	assert_int_equal(cfg->guard.ban_time_max_s, 86400);
	assert_int_equal(cfg->guard.rate_packets, 200);
	assert_int_equal(cfg->guard.rate_other, 50);
	assert_int_equal(cfg->guard.trusted_reserve_pct, 30);
	assert_int_equal(cfg->guard.max_packet_size, 8192);
	assert_int_equal(cfg->guard.enum_threshold, 20);
	assert_int_equal(cfg->guard.auth_fail_threshold, 10);
	assert_int_equal(cfg->guard.malformed_threshold, 10);
	assert_int_equal(cfg->guard.allow.n, 0);
	assert_int_equal(cfg->guard.scanner_agents.n, 0);
	assert_true(cfg->media.policing);
	assert_int_equal(cfg->media.policing_factor, 3);
	assert_true(cfg->media.strict_source);
	assert_int_equal(cfg->media.max_streams, 10000);
	/* [web] listen defaults to the private address, port 443 */
	assert_true(cfg->web.listen.addr.set);
	assert_string_equal(cfg->web.listen.addr.text, "10.20.0.1");
	sin = (const struct sockaddr_in *)&cfg->web.listen.addr.ss;
	assert_int_equal(ntohs(sin->sin_port), 443);
	mem_deref(cfg);
}

static void test_web_listen_without_private_address(void **state)
{
	struct sbc_config *cfg;

	(void)state;
	cfg = expect_ok(PUB "[private]\ninterface = lan\n" CORE);
	assert_false(cfg->zones[ZONE_PRIVATE].address.set);
	assert_false(cfg->web.listen.addr.set);
	assert_int_equal(cfg->web.listen.port, 443);
	mem_deref(cfg);
}

static void test_values(void **state)
{
	struct sbc_config *cfg;
	const struct config_zone *pub;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };

	(void)state;
	cfg = expect_ok("[general]\nproduct = \"Acme SBC; v1 # x\"\nlog_level = DEBUG\nlog_target = syslog\n"
			"[public]\ninterface = wan\naddress = 2001:db8::1\nadvertise = 2001:DB8::7\n"
			"sip_tls =\nmedia = bypass\nmedia_address = 2001:db8::2\n"
			PRIV "sip_tls = 5061\n"
			"[core]\naddress = pbx.example.com\ntransport = TLS\nhide = pbx.corp.internal , 10.9.9.9\n"
			"[media]\npolicing = off\nstrict_source = TRUE\n"
			"[guard]\nallow = 10.0.0.0/8, 2001:db8::/32, 192.0.2.7\nscanner_agents = sipcli, Friendly Scanner\n"
			"[web]\nlisten = [::1]:8443\n");
	pub = &cfg->zones[ZONE_PUBLIC];
	assert_string_equal(cfg->general.product, "Acme SBC; v1 # x");
	assert_int_equal(cfg->general.log_level, LOG_LVL_DEBUG);
	assert_int_equal(cfg->general.log_target, CONFIG_LOG_SYSLOG);
	assert_string_equal(pub->address.text, "2001:db8::1");
	assert_int_equal(pub->address.ss.ss_family, AF_INET6);
	assert_string_equal(pub->advertise.text, "2001:db8::7");
	assert_int_equal(pub->sip_tls, 5061);   /* empty value: default */
	assert_int_equal(pub->media, CONFIG_MEDIA_BYPASS);
	assert_string_equal(cfg->core.address.name, "pbx.example.com");
	assert_false(cfg->core.address.addr.set);
	assert_int_equal(cfg->core.transport, CONFIG_TRANSPORT_TLS);
	assert_int_equal(cfg->core.hide.n, 2);
	assert_string_equal(cfg->core.hide.v[0], "pbx.corp.internal");
	assert_string_equal(cfg->core.hide.v[1], "10.9.9.9");
	assert_false(cfg->media.policing);
	assert_true(cfg->media.strict_source);
	assert_int_equal(cfg->guard.allow.n, 3);
	assert_string_equal(cfg->guard.allow.v[0].text, "10.0.0.0/8");
	assert_string_equal(cfg->guard.allow.v[1].text, "2001:db8::/32");
	assert_string_equal(cfg->guard.allow.v[2].text, "192.0.2.7/32");
	assert_int_equal(cfg->guard.scanner_agents.n, 2);
	assert_string_equal(cfg->guard.scanner_agents.v[1], "Friendly Scanner");
	assert_string_equal(cfg->web.listen.addr.text, "::1");
	assert_int_equal(cfg->web.listen.port, 8443);
	inet_pton(AF_INET6, "2001:db8:ffff::1", &a6.sin6_addr);
	assert_true(config_cidrlist_match(&cfg->guard.allow, (struct sockaddr *)&a6));
	inet_pton(AF_INET6, "2001:db9::1", &a6.sin6_addr);
	assert_false(config_cidrlist_match(&cfg->guard.allow, (struct sockaddr *)&a6));
	mem_deref(cfg);
}

static void test_auth_and_keepalive(void **state)
{
	struct sbc_config *cfg;

	(void)state;
	cfg = expect_ok(BASE "[auth]\nlocal = yes\nrealm = sbc.example.com\nusers_file = /etc/sbc/users\n"
			"algorithms = SHA-256\nnonce_ttl_s = 60\nreject = silent\n"
			"[registration]\nkeepalive = CRLF\nkeepalive_s = 15\n");
	assert_true(cfg->auth.local);
	assert_string_equal(cfg->auth.realm, "sbc.example.com");
	assert_string_equal(cfg->auth.users_file, "/etc/sbc/users");
	assert_int_equal(cfg->auth.algorithms, CONFIG_AUTH_SHA256);
	assert_int_equal(cfg->auth.nonce_ttl_s, 60);
	assert_int_equal(cfg->auth.reject, CONFIG_AUTH_REJECT_SILENT);
	assert_int_equal(cfg->registration.keepalive, CONFIG_KEEPALIVE_CRLF);
	assert_int_equal(cfg->registration.keepalive_s, 15);
	mem_deref(cfg);
	/* order in the list does not matter: SHA-256 is always offered first */
	cfg = expect_ok(BASE "[auth]\nalgorithms = md5 , sha-256\nrealm = \"Acme Corp; voice\"\n"
			"[general]\ndata_dir = /srv/sbc/\n[registration]\nkeepalive = off\n");
	assert_int_equal(cfg->auth.algorithms, CONFIG_AUTH_MD5 | CONFIG_AUTH_SHA256);
	assert_string_equal(cfg->auth.realm, "Acme Corp; voice");
	assert_string_equal(cfg->auth.users_file, "/srv/sbc/users");
	assert_int_equal(cfg->registration.keepalive, CONFIG_KEEPALIVE_OFF);
	mem_deref(cfg);
	cfg = expect_ok(BASE "[auth]\nalgorithms = md5\nrealm = 203.0.113.1\n");
	assert_int_equal(cfg->auth.algorithms, CONFIG_AUTH_MD5);
	mem_deref(cfg);
}

static void test_err_auth(void **state)
{
	char text[1024];

	(void)state;
	expect_only(BASE "[auth]\nlocal = sometimes\n", "[auth] local: \"sometimes\" is not yes or no");
	expect_only(BASE "[auth]\nalgorithms = sha-256, sha1\n",
		    "[auth] algorithms: \"sha1\" is not one of: md5, sha-256");
	expect_only(BASE "[auth]\nalgorithms = md5, MD5\n", "[auth] algorithms: \"MD5\" is listed more than once");
	expect_only(BASE "[auth]\nalgorithms = md5,\n", "[auth] algorithms: empty item in the list");
	expect_only(BASE "[auth]\nnonce_ttl_s = 9\n", "[auth] nonce_ttl_s: 9 is out of range (10-3600)");
	expect_only(BASE "[auth]\nnonce_ttl_s = 3601\n", "[auth] nonce_ttl_s: 3601 is out of range (10-3600)");
	expect_only(BASE "[auth]\nreject = 404\n", "[auth] reject: \"404\" is not one of: 403, silent");
	expect_only(BASE "[auth]\nusers_file = users.txt\n", "[auth] users_file: \"users.txt\" is not an absolute path");
	expect_only(BASE "[auth]\nrealm = a\\b\n",
		    "[auth] realm: \"a\\x5cb\" holds '\"' or '\\' (it is sent as a quoted string)");
	expect_only(BASE "[auth]\nrealm = x\"y\n", "[auth] realm: \"x\"y\" holds '\"' or '\\' (it is sent as a quoted string)");
	expect_only(BASE "[auth]\nrealm = 10.20.0.1\n", "[auth] realm: 10.20.0.1 is the [private] address");
	snprintf(text, sizeof(text), BASE "[auth]\nrealm = %0129d\n", 0);
	expect_only(text, "[auth] realm: value is too long (max 128 characters)");
	/* the derived users_file must fit too */
	snprintf(text, sizeof(text), BASE "[general]\ndata_dir = /%0250d\n", 0);
	expect_only(text, "[auth] users_file: the default <data_dir>/users is longer than 255 characters");
	expect_only(BASE "[registration]\nkeepalive = stun\n",
		    "[registration] keepalive: \"stun\" is not one of: off, options, crlf");
	expect_only(BASE "[registration]\nkeepalive_s = 4\n", "[registration] keepalive_s: 4 is out of range (5-3600)");
	expect_only(BASE "[registration]\nkeepalive_s = 3601\n",
		    "[registration] keepalive_s: 3601 is out of range (5-3600)");
}

static void test_cidr_match(void **state)
{
	struct sbc_config *cfg;
	struct sockaddr_in a = { .sin_family = AF_INET };
	const struct config_cidrlist *l;

	(void)state;
	cfg = expect_ok(BASE "[guard]\nallow = 192.0.2.128/25, 198.51.100.0/22, 0.0.0.0/0\n");
	l = &cfg->guard.allow;
	inet_pton(AF_INET, "192.0.2.200", &a.sin_addr);
	assert_true(config_cidr_match(&l->v[0], (struct sockaddr *)&a));
	inet_pton(AF_INET, "192.0.2.127", &a.sin_addr);
	assert_false(config_cidr_match(&l->v[0], (struct sockaddr *)&a));
	inet_pton(AF_INET, "198.51.103.255", &a.sin_addr);
	assert_true(config_cidr_match(&l->v[1], (struct sockaddr *)&a));
	inet_pton(AF_INET, "198.51.104.0", &a.sin_addr);
	assert_false(config_cidr_match(&l->v[1], (struct sockaddr *)&a));
	assert_true(config_cidr_match(&l->v[2], (struct sockaddr *)&a));
	mem_deref(cfg);
}

static void test_trunks(void **state)
{
	struct sbc_config *cfg;
	const struct config_trunk *t;
	struct sockaddr_in a = { .sin_family = AF_INET };

	(void)state;
	cfg = expect_ok(BASE
			"[trunk:carrier1]\naddress = 198.51.100.20\n"
			"[trunk:b-2_x]\nzone = private\naddress = sip.carrier.example\nport = 5080\n"
			"transport = tcp\nmax_calls = 30\nregister = yes\nusername = 4930123\n"
			"password = \"p;a#ss\"\ndomain = carrier.example\nexpires = 600\nretry_s = 4\n");
	assert_int_equal(cfg->trunk_count, 2);
	t = &cfg->trunks[0];
	assert_string_equal(t->name, "carrier1");
	assert_int_equal(t->zone, ZONE_PUBLIC);
	assert_int_equal(t->port, 5060);
	assert_int_equal(t->transport, CONFIG_TRANSPORT_UDP);
	assert_int_equal(t->max_calls, 0);
	assert_false(t->do_register);
	assert_int_equal(t->expires, 3600);
	assert_int_equal(t->retry_s, 30);
	/* allow defaults to the literal address */
	assert_int_equal(t->allow.n, 1);
	assert_string_equal(t->allow.v[0].text, "198.51.100.20/32");
	inet_pton(AF_INET, "198.51.100.20", &a.sin_addr);
	assert_true(config_cidrlist_match(&t->allow, (struct sockaddr *)&a));
	t = config_trunk_find(cfg, "b-2_x");
	assert_ptr_equal(t, &cfg->trunks[1]);
	assert_int_equal(t->zone, ZONE_PRIVATE);
	assert_string_equal(t->address.name, "sip.carrier.example");
	assert_int_equal(t->allow.n, 0);
	assert_int_equal(t->port, 5080);
	assert_int_equal(t->transport, CONFIG_TRANSPORT_TCP);
	assert_int_equal(t->max_calls, 30);
	assert_true(t->do_register);
	assert_string_equal(t->password, "p;a#ss");
	assert_string_equal(t->domain.name, "carrier.example");
	assert_int_equal(t->expires, 600);
	assert_int_equal(t->retry_s, 4);
	assert_null(config_trunk_find(cfg, "nope"));
	mem_deref(cfg);
}

static void test_err_wrong_type(void **state)
{
	(void)state;
	expect_only(PUB "sip_udp = abc\n" PRIV CORE, "[public] sip_udp: \"abc\" is not a whole number");
	expect_only(BASE "[media]\npolicing = maybe\n", "[media] policing: \"maybe\" is not yes or no");
	expect_only(BASE "[general]\nlog_level = loud\n",
		    "[general] log_level: \"loud\" is not one of: error, warn, info, debug");
	expect_only("[public]\ninterface = wan\naddress = wan.example.com\n" PRIV CORE,
		    "[public] address: \"wan.example.com\" is not an IPv4 or IPv6 address");
	expect_only(BASE "[general]\ndata_dir = var/lib/sbc\n",
		    "[general] data_dir: \"var/lib/sbc\" is not an absolute path");
	expect_only(BASE "[web]\nlisten = ::1:443\n",
		    "[web] listen: \"::1:443\" is not ADDRESS:PORT (an IPv6 address goes in brackets: [ADDRESS]:PORT)");
	expect_only(BASE "[web]\nuser = Root\n",
		    "[web] user: \"Root\" is not a user name (a-z, 0-9, _ and -, max 32)");
	expect_only(PUB PRIV "[core]\naddress = 300.1.2.3\n",
		    "[core] address: \"300.1.2.3\" is not an address or host name");
	expect_only("[public]\ninterface = a/b\n" PRIV CORE,
		    "[public] interface: \"a/b\" is not an interface name (1-15 characters, no '/', ':' or spaces)");
}

static void test_err_out_of_range(void **state)
{
	(void)state;
	expect_only(PUB "sip_udp = 70000\n" PRIV CORE, "[public] sip_udp: 70000 is out of range (0-65535)");
	expect_only(BASE "[registration]\nphone_expires = 5\n",
		    "[registration] phone_expires: 5 is out of range (10-3600)");
	expect_only(BASE "[trunk:c]\naddress = 198.51.100.20\nretry_s = 0\n",
		    "[trunk:c] retry_s: 0 is out of range (1-600)");
	expect_only(BASE "[sip]\ntcp_idle_s = 1\n", "[sip] tcp_idle_s: 1 is out of range (2-86400)");
	expect_only(BASE "[general]\ncall_records_max_kb = 3\n",
		    "[general] call_records_max_kb: 3 is out of range (4-1048576)");
	expect_only(BASE "[guard]\ntrusted_reserve_pct = 99999999999\n",
		    "[guard] trusted_reserve_pct: 99999999999 is out of range (0-90)");
	expect_only(PUB "rtp_ports = 20001-29999\n" PRIV CORE,
		    "[public] rtp_ports: range 20001-29999 must start on an even port");
	expect_only(PUB "rtp_ports = 1000-2000\n" PRIV CORE,
		    "[public] rtp_ports: range 1000-2000 must lie within 1024-65535");
	expect_only(PUB "rtp_ports = 20000-20000\n" PRIV CORE,
		    "[public] rtp_ports: range 20000-20000 must end above its start");
	expect_only(PUB "rtp_ports = 20000\n" PRIV CORE,
		    "[public] rtp_ports: \"20000\" is not a port range START-END");
}

static void test_err_rtp_overlap(void **state)
{
	(void)state;
	expect_only(PUB PRIV "rtp_ports = 25000-26000\n" CORE,
		    "[public] rtp_ports: range 20000-29999 overlaps [private] rtp_ports 25000-26000");
}

static void test_err_sip_port_in_rtp_range(void **state)
{
	(void)state;
	expect_only(PUB "sip_tls = 21000\n" PRIV CORE,
		    "[public] sip_tls: port 21000 is inside [public] rtp_ports 20000-29999");
	expect_only(PUB PRIV "sip_udp = 30002\n" CORE,
		    "[private] sip_udp: port 30002 is inside [private] rtp_ports 30000-39999");
	expect_only(PUB PRIV "sip_tcp = 20002\n" CORE,
		    "[private] sip_tcp: port 20002 is inside [public] rtp_ports 20000-29999");
	expect_only(PUB "sip_tcp = 5061\n" PRIV CORE, "[public] sip_tls: port 5061 is also sip_tcp");
}

static void test_err_unknown_key_and_section(void **state)
{
	(void)state;
	expect_only(PUB "sip_ucp = 5060\n" PRIV CORE, "[public] sip_ucp: unknown key");
	expect_only(BASE "[media]\nuser_agent_hide = yes\n", "[media] user_agent_hide: unknown key");
	expect_only(BASE "[publik]\naddress = 1.2.3.4\n", "[publik]: unknown section");
	expect_only(BASE "[trunk]\naddress = 1.2.3.4\n", "[trunk]: a trunk section needs a name: [trunk:NAME]");
	expect_only("stray = 1\n" BASE, "stray: set before the first [section]");
}

static void test_err_same_address(void **state)
{
	(void)state;
	expect_only(PUB "[private]\ninterface = lan\naddress = 203.0.113.1\n" CORE,
		    "[private] address: 203.0.113.1 is also the [public] address");
	expect_only(PUB "advertise = 10.20.0.1\n" PRIV CORE,
		    "[public] advertise: 10.20.0.1 is the [private] address");
	expect_only(PUB PRIV "[core]\naddress = 10.20.0.1\n",
		    "[core] address: 10.20.0.1 is the [private] address of this box");
}

static void test_err_missing_required(void **state)
{
	(void)state;
	expect_only(PUB "[private]\naddress = 10.20.0.1\n" CORE,
		    "[private] interface: required key is missing");
	expect_only(PUB PRIV "[core]\naddress =\n", "[core] address: required key has no value");
	expect_only(BASE "[trunk:t1]\nport = 5060\n", "[trunk:t1] address: required key is missing");
}

static void test_err_trunk_name(void **state)
{
	(void)state;
	expect_only(BASE "[trunk:bad.name]\naddress = 198.51.100.1\n",
		    "[trunk:bad.name]: a trunk name is 1-32 characters of a-z, 0-9, _ and -");
	expect_only(BASE "[trunk:]\naddress = 198.51.100.1\n",
		    "[trunk:]: a trunk name is 1-32 characters of a-z, 0-9, _ and -");
	expect_only(BASE "[trunk:a23456789012345678901234567890123]\naddress = 198.51.100.1\n",
		    "[trunk:a23456789012345678901234567890123]: a trunk name is 1-32 characters of a-z, 0-9, _ and -");
}

static void test_err_register_credentials(void **state)
{
	struct sbc_config *cfg;

	(void)state;
	assert_int_equal(load(BASE "[trunk:c]\naddress = 198.51.100.1\nregister = yes\n", &cfg), EINVAL);
	assert_true(has_error("[trunk:c] username: required when register = yes"));
	assert_true(has_error("[trunk:c] password: required when register = yes"));
	assert_int_equal(errs.n, 2);
	expect_only(BASE "[trunk:c]\naddress = 198.51.100.1\nregister = yes\nusername = u\n",
		    "[trunk:c] password: required when register = yes");
	cfg = expect_ok(BASE "[trunk:c]\naddress = 198.51.100.1\nregister = yes\nusername = u\npassword = p\n");
	mem_deref(cfg);
}

static void test_err_cidr(void **state)
{
	(void)state;
	expect_only(BASE "[guard]\nallow = 10.0.0.1/8\n",
		    "[guard] allow: \"10.0.0.1/8\" has host bits set (the block is 10.0.0.0/8)");
	expect_only(BASE "[guard]\nallow = 10.0.0.0/33\n",
		    "[guard] allow: \"10.0.0.0/33\" has a bad prefix length (0-32)");
	expect_only(BASE "[guard]\nallow = 10.0.0.0/8, , 11.0.0.0/8\n", "[guard] allow: empty item in the list");
	expect_only(BASE "[trunk:x]\naddress = 198.51.100.1\nallow = carrier.example/24\n",
		    "[trunk:x] allow: \"carrier.example/24\" is not an address block ADDRESS/PREFIX");
}

static void test_err_bypass(void **state)
{
	struct sbc_config *cfg;

	(void)state;
	expect_only(PUB "media = bypass\n" PRIV CORE, "[public] media_address: required when media = bypass");
	expect_only(PUB "media_address = 203.0.113.2\n" PRIV CORE,
		    "[public] media_address: only used when media = bypass or xdp");
	expect_only(PUB "media = xdp\n" PRIV CORE, "[public] media_address: required when media = xdp");
	expect_only(PUB "media = xdp\nmedia_address = 203.0.113.1\n" PRIV CORE,
		    "[public] media_address: 203.0.113.1 must differ from [public] address");
	cfg = expect_ok(PUB PRIV "media = xdp\nmedia_address = 10.20.0.2\n" CORE);
	assert_int_equal(cfg->zones[ZONE_PRIVATE].media, CONFIG_MEDIA_XDP);
	assert_string_equal(config_media_engine_name(cfg->zones[ZONE_PRIVATE].media), "xdp");
	mem_deref(cfg);
	expect_only(PUB "media = bypass\nmedia_address = 203.0.113.1\n" PRIV CORE,
		    "[public] media_address: 203.0.113.1 must differ from [public] address");
	cfg = expect_ok(PUB "media = bypass\nmedia_address = 203.0.113.2\n" PRIV CORE);
	assert_string_equal(cfg->zones[ZONE_PUBLIC].media_address.text, "203.0.113.2");
	mem_deref(cfg);
}

/* [media] cpu: "any" (-1) or a CPU number; anything else refused with the reason. */
static void test_media_cpu(void **state)
{
	static const char *const bad[] = { "-1", "1024", "x", "1x", "0x1", "12345", " 1" };
	char text[512], why[128];
	struct sbc_config *cfg;

	(void)state;
	cfg = expect_ok(PUB PRIV CORE);
	assert_string_equal(cfg->media.cpu, "any");
	assert_int_equal(config_media_cpu(&cfg->media), -1);
	mem_deref(cfg);
	cfg = expect_ok(PUB PRIV CORE "[media]\ncpu = 1\n");
	assert_int_equal(config_media_cpu(&cfg->media), 1);
	mem_deref(cfg);
	cfg = expect_ok(PUB PRIV CORE "[media]\ncpu = 1023\n");
	assert_int_equal(config_media_cpu(&cfg->media), 1023);
	mem_deref(cfg);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(text, sizeof(text), PUB PRIV CORE "[media]\ncpu = \"%s\"\n", bad[i]);
		snprintf(why, sizeof(why),
			 "[media] cpu: \"%s\" is neither \"any\" nor a CPU number 0-1023", bad[i]);
		expect_only(text, why);
	}
}

static void test_err_tls_pair(void **state)
{
	(void)state;
	expect_only(PUB "tls_cert = /etc/sbc/pub.crt\n" PRIV CORE, "[public] tls_key: required when tls_cert is set");
	expect_only(PUB PRIV "tls_key = /etc/sbc/priv.key\n" CORE,
		    "[private] tls_cert: required when tls_key is set");
	expect_only(BASE "[web]\ncert = /etc/sbc/web.crt\n", "[web] key: required when cert is set");
}

static void test_err_cross_misc(void **state)
{
	(void)state;
	expect_only(BASE "[sip]\nt1_ms = 2000\nt2_ms = 1000\n", "[sip] t2_ms: 1000 is less than t1_ms 2000");
	expect_only(BASE "[guard]\nban_time_s = 600\nban_time_max_s = 60\n",
		    "[guard] ban_time_max_s: 60 is less than ban_time_s 600");
	expect_only(BASE "[sip]\nmax_connections = 8\n",
		    "[sip] max_connections_per_source: 16 is more than max_connections 8");
	expect_only(BASE "[web]\nlisten = 10.20.0.1:5060\n",
		    "[web] listen: port 5060 on 10.20.0.1 is also the [private] sip_tcp listener");
}

/* A peer's transport needs a listener on its zone: the b-leg goes out through it. */
static void test_err_peer_transport(void **state)
{
	struct sbc_config *cfg;

	(void)state;
	expect_only(PUB PRIV CORE "transport = tls\n",
		    "[core] transport: tls needs the [private] sip_tls listener, which is off (0)");
	expect_only(PUB PRIV "sip_tcp = 0\n" CORE "transport = tcp\n",
		    "[core] transport: tcp needs the [private] sip_tcp listener, which is off (0)");
	expect_only(PUB PRIV "sip_udp = 0\n" CORE,
		    "[core] transport: udp needs the [private] sip_udp listener, which is off (0)");
	expect_only(PUB "sip_tls = 0\n" PRIV CORE "[trunk:carrier]\naddress = 198.51.100.1\ntransport = tls\n",
		    "[trunk:carrier] transport: tls needs the [public] sip_tls listener, which is off (0)");
	expect_only(BASE "[trunk:gw]\nzone = private\naddress = 10.20.0.50\ntransport = tls\n",
		    "[trunk:gw] transport: tls needs the [private] sip_tls listener, which is off (0)");
	expect_only(PUB "sip_tcp = 0\n" PRIV CORE "[trunk:a]\naddress = 198.51.100.1\ntransport = tcp\n"
		    "[trunk:b]\naddress = 198.51.100.2\n",
		    "[trunk:a] transport: tcp needs the [public] sip_tcp listener, which is off (0)");
	/* a value already refused is not reported twice */
	expect_only(PUB PRIV "sip_tls = abc\n" CORE "transport = tls\n",
		    "[private] sip_tls: \"abc\" is not a whole number");
	expect_only(PUB PRIV CORE "transport = sctp\n",
		    "[core] transport: \"sctp\" is not one of: udp, tcp, tls");
	expect_only(BASE "[trunk:gw]\nzone = dmz\naddress = 10.20.0.50\ntransport = tls\n",
		    "[trunk:gw] zone: \"dmz\" is not one of: public, private");
	/* with the listener on, the same peers are fine */
	cfg = expect_ok(PUB PRIV "sip_tls = 5061\n" CORE "transport = tls\n"
			"[trunk:carrier]\naddress = 198.51.100.1\ntransport = tls\n"
			"[trunk:gw]\nzone = private\naddress = 10.20.0.50\ntransport = tcp\n");
	assert_int_equal(cfg->core.transport, CONFIG_TRANSPORT_TLS);
	mem_deref(cfg);
}

/* The bring-up keys of sbc-netup: defaults by address family, and what is accepted. */
static void test_netup_keys(void **state)
{
	struct sbc_config *cfg;
	const struct config_zone *pub, *priv;

	(void)state;
	cfg = expect_ok(BASE);
	pub = &cfg->zones[ZONE_PUBLIC];
	assert_int_equal(pub->prefix, 24);
	assert_false(pub->gateway.set);
	assert_int_equal(pub->routes.n, 0);
	assert_int_equal(pub->mtu, 0);
	mem_deref(cfg);
	/* IPv6: 64 by default; a link-local gateway is a neighbour whatever the prefix */
	cfg = expect_ok("[public]\ninterface = wan\naddress = 2001:db8::1\ngateway = fe80::1\n"
			"routes = 2001:db8:ff00::/40\n" PRIV "prefix = 30\ngateway = 10.20.0.2\n"
			"routes = 10.30.0.0/16, 192.168.0.0/16\nmtu = 576\n" CORE);
	pub = &cfg->zones[ZONE_PUBLIC];
	priv = &cfg->zones[ZONE_PRIVATE];
	assert_int_equal(pub->prefix, 64);
	assert_string_equal(pub->gateway.text, "fe80::1");
	assert_int_equal(pub->routes.n, 1);
	assert_int_equal(priv->prefix, 30);
	assert_string_equal(priv->gateway.text, "10.20.0.2");
	assert_int_equal(priv->routes.n, 2);
	assert_string_equal(priv->routes.v[1].text, "192.168.0.0/16");
	assert_int_equal(priv->mtu, 576);
	mem_deref(cfg);
	/* without an address: no prefix; mtu alone is fine */
	cfg = expect_ok(PUB "[private]\ninterface = lan\nmtu = 9000\n" CORE);
	priv = &cfg->zones[ZONE_PRIVATE];
	assert_int_equal(priv->prefix, 0);
	assert_int_equal(priv->mtu, 9000);
	mem_deref(cfg);
	/* /31 and /32: no network or broadcast address to refuse; a gateway inside the /31 */
	cfg = expect_ok(PUB "prefix = 31\ngateway = 203.0.113.0\n" PRIV CORE);
	assert_int_equal(cfg->zones[ZONE_PUBLIC].prefix, 31);
	mem_deref(cfg);
	cfg = expect_ok(PUB "prefix = 32\n" PRIV CORE);
	assert_int_equal(cfg->zones[ZONE_PUBLIC].prefix, 32);
	mem_deref(cfg);
	cfg = expect_ok("[public]\ninterface = wan\naddress = 2001:db8::1\nprefix = 128\nmtu = 1280\n" PRIV CORE);
	assert_int_equal(cfg->zones[ZONE_PUBLIC].prefix, 128);
	mem_deref(cfg);
}

static void test_err_netup_keys(void **state)
{
	struct sbc_config *cfg;

	(void)state;
	expect_only(PUB "prefix = 0\n" PRIV CORE, "[public] prefix: 0 is out of range (1-128)");
	expect_only(PUB "prefix = 129\n" PRIV CORE, "[public] prefix: 129 is out of range (1-128)");
	expect_only(PUB "prefix = 33\n" PRIV CORE,
		    "[public] prefix: 33 is too long for the IPv4 address 203.0.113.1 (1-32)");
	expect_only(PUB "mtu = 575\n" PRIV CORE, "[public] mtu: 575 is out of range (576-9000)");
	expect_only(PUB "mtu = 9001\n" PRIV CORE, "[public] mtu: 9001 is out of range (576-9000)");
	expect_only("[public]\ninterface = wan\naddress = 2001:db8::1\nmtu = 1279\n" PRIV CORE,
		    "[public] mtu: 1279 is below 1280, the IPv6 minimum");
	expect_only(PUB "gateway = gw.example\n" PRIV CORE,
		    "[public] gateway: \"gw.example\" is not an IPv4 or IPv6 address");
	expect_only(PUB "gateway = 198.51.100.1\n" PRIV CORE,
		    "[public] gateway: 198.51.100.1 is outside 203.0.113.0/24 (address/prefix)");
	expect_only(PUB "prefix = 25\ngateway = 203.0.113.200\n" PRIV CORE,
		    "[public] gateway: 203.0.113.200 is outside 203.0.113.0/25 (address/prefix)");
	expect_only(PUB "gateway = 2001:db8::1\n" PRIV CORE,
		    "[public] gateway: 2001:db8::1 is IPv6, address 203.0.113.1 is IPv4");
	expect_only(PUB "gateway = 203.0.113.1\n" PRIV CORE,
		    "[public] gateway: 203.0.113.1 is the zone's own address");
	expect_only(PUB "gateway = 203.0.113.0\n" PRIV CORE,
		    "[public] gateway: 203.0.113.0 is the network address of 203.0.113.0/24");
	expect_only(PUB "gateway = 203.0.113.255\n" PRIV CORE,
		    "[public] gateway: 203.0.113.255 is the broadcast address of 203.0.113.0/24");
	expect_only("[public]\ninterface = wan\naddress = 2001:db8::1\ngateway = 2001:db9::1\n" PRIV CORE,
		    "[public] gateway: 2001:db9::1 is outside 2001:db8::/64 (address/prefix)");
	expect_only(PUB "[private]\ninterface = lan\nprefix = 24\n" CORE, "[private] prefix: needs address");
	expect_only(PUB "[private]\ninterface = lan\ngateway = 10.20.0.254\n" CORE,
		    "[private] gateway: needs address (the gateway is on its subnet)");
	expect_only(PUB PRIV "routes = 10.30.0.0/16\n" CORE,
		    "[private] routes: needs gateway (the next hop of every route)");
	expect_only(PUB PRIV "gateway = 10.20.0.254\nroutes = 10.30.0.1/16\n" CORE,
		    "[private] routes: \"10.30.0.1/16\" has host bits set (the block is 10.30.0.0/16)");
	expect_only(PUB PRIV "gateway = 10.20.0.254\nroutes = 2001:db8::/32\n" CORE,
		    "[private] routes: 2001:db8::/32 is IPv6, gateway 10.20.0.254 is IPv4");
	expect_only(PUB PRIV "gateway = 10.20.0.254\nroutes = 0.0.0.0/0\n" CORE,
		    "[private] routes: 0.0.0.0/0 is a default route: that is [public] gateway");
	expect_only(PUB PRIV "gateway = 10.20.0.254\nroutes = 10.30.0.0/16, 10.30.0.0/16\n" CORE,
		    "[private] routes: 10.30.0.0/16 is listed twice");
	expect_only(PUB PRIV "gateway = 10.20.0.254\nroutes = 10.20.0.128/25\n" CORE,
		    "[private] routes: 10.20.0.128/25 is inside the [private] subnet 10.20.0.0/24");
	expect_only(PUB PRIV "gateway = 10.20.0.254\nroutes = 203.0.113.0/24\n" CORE,
		    "[private] routes: 203.0.113.0/24 is inside the [public] subnet 203.0.113.0/24");
	expect_only(PUB "gateway = 203.0.113.254\nroutes = 10.30.0.0/16\n" PRIV
		    "gateway = 10.20.0.254\nroutes = 10.30.0.0/16\n" CORE,
		    "[private] routes: 10.30.0.0/16 is also in [public] routes");
	/* a gateway already refused does not bring a second error on routes */
	expect_only(PUB PRIV "gateway = 10.99.0.1\nroutes = 10.30.0.0/16\n" CORE,
		    "[private] gateway: 10.99.0.1 is outside 10.20.0.0/24 (address/prefix)");
	expect_only(PUB PRIV "gateway = none\nroutes = 10.30.0.0/16\n" CORE,
		    "[private] gateway: \"none\" is not an IPv4 or IPv6 address");
	/* several at once: each reported */
	assert_int_equal(load(PUB "prefix = 33\ngateway = 10.0.0.1\nmtu = 1\n" PRIV "routes = 10.30.0.0/16\n" CORE,
			      &cfg), EINVAL);
	assert_true(has_error("[public] prefix: 33 is too long for the IPv4 address 203.0.113.1 (1-32)"));
	assert_true(has_error("[public] mtu: 1 is out of range (576-9000)"));
	assert_true(has_error("[private] routes: needs gateway (the next hop of every route)"));
	assert_int_equal(errs.n, 3);
}

/*
 * Load path, or text when path is NULL, failing the n-th allocation for
 * n = 0, 1, ... until it succeeds: every failure is ENOMEM with no
 * configuration and nothing leaked. Returns the configuration and, in
 * *tries, how many loads it took.
 */
static struct sbc_config *load_oom(const char *path, const char *text, long *tries)
{
	struct sbc_config *cfg = NULL;
	int err = ENOMEM;
	long n;

	for (n = 0; n < 1000 && err == ENOMEM; n++) {
		size_t before = mem_nalloc();

		cfg = NULL;
		mem_fail_after(n);
		err = path ? config_load(&cfg, path, &errs) : load(text, &cfg);
		mem_fail_after(-1);
		if (err == ENOMEM) {
			assert_null(cfg);
			assert_int_equal(mem_nalloc(), before);
		}
	}
	assert_int_equal(err, 0);
	*tries = n;
	return cfg;
}

/* Routes are allocated: every allocation failure gives ENOMEM and leaks nothing. */
static void test_netup_keys_oom(void **state)
{
	struct sbc_config *cfg;
	long n;

	(void)state;
	cfg = load_oom(NULL, PUB "gateway = 203.0.113.254\nroutes = 198.51.100.0/24\n"
		       PRIV "gateway = 10.20.0.254\nroutes = 10.30.0.0/16, 10.40.0.0/16\n" CORE, &n);
	assert_true(n > 2);
	assert_int_equal(cfg->zones[ZONE_PRIVATE].routes.n, 2);
	mem_deref(cfg);
}

static void test_err_missing_file(void **state)
{
	struct sbc_config *cfg = NULL;
	char path[160], want[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/absent.ini", tmpdir);
	assert_int_equal(config_load(&cfg, path, &errs), EINVAL);
	assert_null(cfg);
	assert_int_equal(errs.n, 1);
	snprintf(want, sizeof(want), "%s: cannot read: %s", path, strerror(ENOENT));
	assert_string_equal(errs.msg[0], want);
	assert_int_equal(config_load(&cfg, tmpdir, &errs), EINVAL);
	snprintf(want, sizeof(want), "%s: cannot read: not a regular file", tmpdir);
	assert_string_equal(errs.msg[0], want);
}

static void test_err_empty_file(void **state)
{
	struct sbc_config *cfg;

	(void)state;
	assert_int_equal(load("", &cfg), EINVAL);
	assert_true(has_error("[public] interface: required key is missing"));
	assert_true(has_error("[private] interface: required key is missing"));
	assert_true(has_error("[core] address: required key is missing"));
	assert_int_equal(errs.n, 3);
}

static void test_err_many_at_once(void **state)
{
	struct sbc_config *cfg;

	(void)state;
	assert_int_equal(load("[public]\ninterface = wan\naddress = 10.20.0.1\nsip_udp = abc\n"
			      "rtp_ports = 25000-25999\n"
			      "[private]\ninterface = lan\naddress = 10.20.0.1\n"
			      "[core]\naddress = 10.20.0.10\nfoo = 1\n"
			      "[registration]\nphone_expires = 5\n"
			      "[bogus]\n"
			      "[trunk:t]\naddress = 198.51.100.1\nregister = yes\n", &cfg), EINVAL);
	assert_null(cfg);
	assert_true(has_error("[public] sip_udp: \"abc\" is not a whole number"));
	assert_true(has_error("[core] foo: unknown key"));
	assert_true(has_error("[registration] phone_expires: 5 is out of range (10-3600)"));
	assert_true(has_error("[bogus]: unknown section"));
	assert_true(has_error("[private] address: 10.20.0.1 is also the [public] address"));
	assert_true(has_error("[trunk:t] username: required when register = yes"));
	assert_true(has_error("[trunk:t] password: required when register = yes"));
	assert_int_equal(errs.n, 7);
}

static void test_err_cap(void **state)
{
	char *text = malloc(16384);
	struct wbuf wb;
	struct sbc_config *cfg;

	(void)state;
	assert_non_null(text);
	wbuf_init(&wb, text, 16384);
	assert_int_equal(wbuf_put_str(&wb, BASE "[media]\n"), 0);
	for (int i = 0; i < 150; i++)
		assert_int_equal(wbuf_printf(&wb, "k%d = 1\n", i), 0);
	assert_int_equal(load(text, &cfg), EINVAL);
	assert_int_equal(errs.n, CONFIG_ERRORS_MAX);
	assert_int_equal(errs.dropped, 50);
	free(text);
}

static void test_err_syntax(void **state)
{
	struct sbc_config *cfg;

	(void)state;
	expect_only(BASE "[media] ; the relay\n", "[core]: line 9: text after a section header (a comment goes on its own line)");
	assert_int_equal(load(PUB "just words\n" PRIV "= 5\n" CORE, &cfg), EINVAL);
	assert_true(has_error("[public]: line 4: not a [section], a comment or KEY = VALUE: \"just words\""));
	assert_true(has_error("[private]: line 8: no key name before '='"));
	assert_int_equal(errs.n, 2);
	expect_only(BASE "[ ]\n", "line 9: empty section name");
}

static void test_err_duplicates(void **state)
{
	(void)state;
	expect_only(PUB "sip_udp = 5070\nSIP_UDP = 5080\n" PRIV CORE,
		    "[public] sip_udp: set more than once (lines 4 and 5)");
	expect_only(BASE "[public]\nsip_tcp = 0\n", "[public]: section appears more than once (lines 1 and 9)");
	/* a continued line is one line to iniparser */
	expect_only(PUB "product = a \\\nsip_udp = 1\n" PRIV CORE, "[public] product: unknown key");
}

static void test_err_long_line_and_nul(void **state)
{
	char text[2048];
	struct sbc_config *cfg;
	size_t n;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), BASE "[general]\nproduct = ");
	memset(text + n, 'x', 1100);
	memcpy(text + n + 1100, "\n", 2);
	expect_only(text, "[general]: line 10: longer than 1022 characters");
	write_conf(BASE "[general]\nproduct = a\0b\n", sizeof(BASE "[general]\nproduct = a\0b\n") - 1);
	assert_int_equal(config_load(&cfg, conf_path, &errs), EINVAL);
	assert_true(has_error("line 10: contains a NUL byte"));
	assert_int_equal(errs.n, 1);
}

static void test_err_string_limits(void **state)
{
	char text[512];

	(void)state;
	snprintf(text, sizeof(text), BASE "[general]\nproduct = %070d\n", 0);
	expect_only(text, "[general] product: value is too long (max 64 characters)");
	snprintf(text, sizeof(text), BASE "[general]\ncontrol_socket = /%0120d\n", 0);
	expect_only(text, "[general] control_socket: value is too long (max 107 characters)");
	expect_only(BASE "[general]\nproduct = a\tb\n", "[general] product: value contains control characters");
}

static void test_err_too_big(void **state)
{
	size_t size = CONFIG_FILE_MAX + 2;
	char *text = malloc(size);
	struct wbuf wb;
	char want[64];

	(void)state;
	assert_non_null(text);
	wbuf_init(&wb, text, size);
	assert_int_equal(wbuf_put_str(&wb, BASE), 0);
	for (int i = 0; i <= CONFIG_ENTRIES_MAX; i++)
		assert_int_equal(wbuf_printf(&wb, "[s%d]\n", i), 0);
	snprintf(want, sizeof(want), "more than %d sections and keys", CONFIG_ENTRIES_MAX);
	expect_only(text, want);
	memset(text, ';', size - 1);
	text[size - 1] = '\0';
	snprintf(want, sizeof(want), "file is larger than %d bytes", CONFIG_FILE_MAX);
	expect_only(text, want);
	free(text);
}

/* Every allocation failure gives ENOMEM, never a crash or a leak. */
static void test_oom(void **state)
{
	struct sbc_config *cfg;
	int err = ENOMEM;
	long n;

	(void)state;
	cfg = load_oom(ROOTFS_CONF, NULL, &n);
	assert_true(n > 1);
	mem_deref(cfg);
	/* lists and trunks allocate too */
	err = ENOMEM;
	for (n = 0; n < 1000 && err == ENOMEM; n++) {
		cfg = NULL;
		mem_fail_after(n);
		err = load(BASE "[guard]\nallow = 10.0.0.0/8\nscanner_agents = a, b\n[trunk:a]\naddress = 192.0.2.1\n",
			   &cfg);
		mem_fail_after(-1);
	}
	assert_int_equal(err, 0);
	assert_true(n > 4);
	mem_deref(cfg);
}

#define T(f) cmocka_unit_test_setup_teardown(f, unit_leak_setup, unit_leak_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_rootfs_default),
		T(test_full),
		T(test_defaults),
		T(test_web_listen_without_private_address),
		T(test_values),
		T(test_auth_and_keepalive),
		T(test_err_auth),
		T(test_cidr_match),
		T(test_trunks),
		T(test_err_wrong_type),
		T(test_err_out_of_range),
		T(test_err_rtp_overlap),
		T(test_err_sip_port_in_rtp_range),
		T(test_err_unknown_key_and_section),
		T(test_err_same_address),
		T(test_err_missing_required),
		T(test_err_trunk_name),
		T(test_err_register_credentials),
		T(test_err_cidr),
		T(test_err_bypass),
		T(test_media_cpu),
		T(test_err_tls_pair),
		T(test_err_cross_misc),
		T(test_err_peer_transport),
		T(test_netup_keys),
		T(test_err_netup_keys),
		T(test_netup_keys_oom),
		T(test_err_missing_file),
		T(test_err_empty_file),
		T(test_err_many_at_once),
		T(test_err_cap),
		T(test_err_syntax),
		T(test_err_duplicates),
		T(test_err_long_line_and_nul),
		T(test_err_string_limits),
		T(test_err_too_big),
		T(test_oom),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
