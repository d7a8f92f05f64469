/* schema: every section and key of sbc.ini with its type, default, bounds and place in struct sbc_config. */
#include <stddef.h>
#include <string.h>

#include "config_int.h"

/*
 * Each KEY_* macro checks at compile time that the field has the C type the
 * parser writes: _Generic fails to compile when no association matches.
 */
#define FIELD_IS(T, f, ctype) (0 * sizeof(_Generic(((T *)0)->f, ctype: 1)))

#define KEY_STR(T, f, kind, dflt, fl) \
	{ .name = #f, .type = (kind), .def = (dflt), .flags = (fl), \
	  .off = offsetof(T, f) + FIELD_IS(T, f, char *), .size = sizeof(((T *)0)->f) }
#define KEY_BOOL(T, f, dflt) \
	{ .name = #f, .type = CONFIG_T_BOOL, .def = (dflt), \
	  .off = offsetof(T, f) + FIELD_IS(T, f, bool) }
#define KEY_UINT(T, f, dflt, lo, hi) \
	{ .name = #f, .type = CONFIG_T_UINT, .def = (dflt), .min = (lo), .max = (hi), \
	  .off = offsetof(T, f) + FIELD_IS(T, f, unsigned) }
#define KEY_PORT(T, f, dflt, lo) \
	{ .name = #f, .type = CONFIG_T_PORT, .def = (dflt), .min = (lo), .max = 65535, \
	  .off = offsetof(T, f) + FIELD_IS(T, f, uint16_t) }
#define KEY_OF(T, f, kind, ctype, dflt, fl) \
	{ .name = #f, .type = (kind), .def = (dflt), .flags = (fl), \
	  .off = offsetof(T, f) + FIELD_IS(T, f, ctype) }
#define KEY_ENUM(T, f, etype, nm, dflt) \
	{ .name = #f, .type = CONFIG_T_ENUM, .def = (dflt), .names = (nm), \
	  .off = offsetof(T, f) + FIELD_IS(T, f, etype) }
#define KEY_SET(T, f, nm, dflt) \
	{ .name = #f, .type = CONFIG_T_SET, .def = (dflt), .names = (nm), \
	  .off = offsetof(T, f) + FIELD_IS(T, f, unsigned) }
#define KEY_LIST(T, f, it) \
	{ .name = #f, .type = CONFIG_T_LIST, .item = (it), .max = CONFIG_LIST_MAX, \
	  .off = offsetof(T, f) + FIELD_IS(T, f, struct config_strlist) }
#define KEY_CIDRS(T, f) \
	{ .name = #f, .type = CONFIG_T_CIDRS, .max = CONFIG_LIST_MAX, \
	  .off = offsetof(T, f) + FIELD_IS(T, f, struct config_cidrlist) }

/* Enums are stored through an int. */
_Static_assert(sizeof(enum log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_log_target) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_transport) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_media_engine) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_kernel_drop) == sizeof(int), "enum size");
_Static_assert(sizeof(enum zone_id) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_keepalive) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_auth_reject) == sizeof(int), "enum size");

/* Enum names, in the order of the C enums they fill. */
static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };
static const char *const log_targets[] = { "stderr", "syslog", NULL };
const char *const config_transport_names[] = { "udp", "tcp", "tls", NULL };
const char *const config_media_engine_names[] = { "socket", "bypass", "xdp", NULL };
const char *const config_zone_names[] = { "public", "private", NULL };
static const char *const keepalives[] = { "off", "options", "crlf", NULL };
static const char *const auth_rejects[] = { "403", "silent", NULL };
/* Bit i of [auth] algorithms is auth_algorithms[i]: CONFIG_AUTH_MD5, CONFIG_AUTH_SHA256. */
static const char *const auth_algorithms[] = { "md5", "sha-256", NULL };

#define G struct config_general
static const struct config_key general_keys[] = {
	KEY_STR(G, data_dir, CONFIG_T_PATH, "/var/lib/sbc", 0),
	KEY_ENUM(G, log_level, enum log_level, log_levels, "info"),
	KEY_ENUM(G, log_target, enum config_log_target, log_targets, "stderr"),
	KEY_STR(G, product, CONFIG_T_STRING, "sbc", 0),
	KEY_STR(G, control_socket, CONFIG_T_PATH, "/run/sbc/sbcd.sock", 0),
	KEY_UINT(G, call_records_max_kb, "16384", 4, 1048576),
};
#undef G

#define Z struct config_zone
static const struct config_key zone_keys[] = {
	KEY_STR(Z, interface, CONFIG_T_IFNAME, NULL, CONFIG_KEY_REQUIRED),
	KEY_OF(Z, address, CONFIG_T_ADDR, struct config_addr, NULL, 0),
	KEY_OF(Z, advertise, CONFIG_T_ADDR, struct config_addr, NULL, 0),
	KEY_PORT(Z, sip_udp, "5060", 0),
	KEY_PORT(Z, sip_tcp, "5060", 0),
	KEY_PORT(Z, sip_tls, "5061", 0),
	KEY_STR(Z, tls_cert, CONFIG_T_PATH, NULL, 0),
	KEY_STR(Z, tls_key, CONFIG_T_PATH, NULL, 0),
	KEY_OF(Z, rtp_ports, CONFIG_T_RANGE, struct config_range, "20000-29999", 0),
	KEY_ENUM(Z, media, enum config_media_engine, config_media_engine_names, "socket"),
	KEY_OF(Z, media_address, CONFIG_T_ADDR, struct config_addr, NULL, 0),
	/* prefix: no default here, 24 or 64 by the address family (zone_derive in load.c) */
	KEY_UINT(Z, prefix, NULL, 1, 128),
	KEY_OF(Z, gateway, CONFIG_T_ADDR, struct config_addr, NULL, 0),
	KEY_CIDRS(Z, routes),
	KEY_UINT(Z, mtu, NULL, 576, 9000),
};
#undef Z

static const struct config_default private_defs[] = {
	{ "sip_tls", "0" },
	{ "rtp_ports", "30000-39999" },
};

#define S struct config_sip
static const struct config_key sip_keys[] = {
	KEY_UINT(S, t1_ms, "500", 100, 5000),
	KEY_UINT(S, t2_ms, "4000", 1000, 64000),
	KEY_UINT(S, t4_ms, "5000", 1000, 64000),
	KEY_UINT(S, tcp_idle_s, "300", 2, 86400),
	KEY_UINT(S, max_connections, "1024", 1, 1048576),
	KEY_UINT(S, max_connections_per_source, "16", 1, 65535),
	KEY_UINT(S, max_transactions, "262144", 1024, 4194304),
	KEY_UINT(S, max_calls, "0", 0, 1000000),
	KEY_UINT(S, max_cps, "0", 0, 100000),
};
#undef S

#define C struct config_core
static const struct config_key core_keys[] = {
	KEY_OF(C, address, CONFIG_T_HOST, struct config_host, NULL, CONFIG_KEY_REQUIRED),
	KEY_PORT(C, port, "5060", 1),
	KEY_ENUM(C, transport, enum config_transport, config_transport_names, "udp"),
	KEY_LIST(C, hide, CONFIG_T_HOST),
};
#undef C

#define T struct config_trunk
static const struct config_key trunk_keys[] = {
	KEY_ENUM(T, zone, enum zone_id, config_zone_names, "public"),
	KEY_OF(T, address, CONFIG_T_HOST, struct config_host, NULL, CONFIG_KEY_REQUIRED),
	KEY_PORT(T, port, "5060", 1),
	KEY_ENUM(T, transport, enum config_transport, config_transport_names, "udp"),
	KEY_CIDRS(T, allow),
	KEY_UINT(T, max_calls, "0", 0, 1000000),
	{ .name = "register", .type = CONFIG_T_BOOL, .def = "no",
	  .off = offsetof(T, do_register) + FIELD_IS(T, do_register, bool) },
	KEY_STR(T, username, CONFIG_T_STRING, NULL, 0),
	KEY_STR(T, password, CONFIG_T_STRING, NULL, 0),
	KEY_OF(T, domain, CONFIG_T_HOST, struct config_host, NULL, 0),
	KEY_UINT(T, expires, "3600", 60, 86400),
	KEY_UINT(T, retry_s, "30", 1, 600),
};
#undef T

#define R struct config_registration
static const struct config_key registration_keys[] = {
	KEY_UINT(R, phone_expires, "60", 10, 3600),
	KEY_UINT(R, core_expires, "3600", 60, 86400),
	KEY_UINT(R, grace_s, "30", 0, 3600),
	KEY_ENUM(R, keepalive, enum config_keepalive, keepalives, "options"),
	KEY_UINT(R, keepalive_s, "30", 5, 3600),
};
#undef R

/* users_file has no default here: it is <data_dir>/users (defaults_derive in load.c). */
#define A struct config_auth
static const struct config_key auth_keys[] = {
	KEY_BOOL(A, local, "no"),
	KEY_STR(A, realm, CONFIG_T_STRING, NULL, 0),
	KEY_STR(A, users_file, CONFIG_T_PATH, NULL, 0),
	KEY_SET(A, algorithms, auth_algorithms, "sha-256, md5"),
	KEY_UINT(A, nonce_ttl_s, "300", 10, 3600),
	KEY_ENUM(A, reject, enum config_auth_reject, auth_rejects, "403"),
	KEY_BOOL(A, open, "no"),
};
#undef A

static const char *const kernel_drops[] = { "off", "nftables", NULL };

#define GU struct config_guard
static const struct config_key guard_keys[] = {
	KEY_BOOL(GU, enabled, "yes"),
	KEY_UINT(GU, table_size, "65536", 1024, 4194304),
	KEY_UINT(GU, ban_time_s, "300", 1, 604800),
	KEY_UINT(GU, ban_time_max_s, "86400", 1, 2592000),
	KEY_CIDRS(GU, allow),
	KEY_UINT(GU, rate_packets, "200", 1, 1000000),
	KEY_UINT(GU, rate_invite, "20", 1, 100000),
	KEY_UINT(GU, rate_register, "20", 1, 100000),
	KEY_UINT(GU, rate_options, "20", 1, 100000),
	KEY_UINT(GU, rate_other, "50", 1, 100000),
	KEY_UINT(GU, trusted_reserve_pct, "30", 0, 90),
	KEY_UINT(GU, max_packet_size, "8192", 512, 65535),
	KEY_LIST(GU, scanner_agents, CONFIG_T_STRING),
	KEY_UINT(GU, enum_threshold, "20", 1, 100000),
	KEY_UINT(GU, auth_fail_threshold, "10", 1, 100000),
	KEY_UINT(GU, malformed_threshold, "10", 1, 100000),
	KEY_UINT(GU, capacity_pps, "5000", 100, 10000000),
	KEY_UINT(GU, rate_user, "50", 1, 100000),
	KEY_UINT(GU, window_s, "60", 1, 3600),
	{ .name = "toll_prefixes", .type = CONFIG_T_LIST, .item = CONFIG_T_STRING,
	  .max = CONFIG_LIST_MAX, .def = "00, 011",
	  .off = offsetof(GU, toll_prefixes) + FIELD_IS(GU, toll_prefixes, struct config_strlist) },
	KEY_UINT(GU, toll_threshold, "3", 1, 100000),
	KEY_UINT(GU, max_bans, "16384", 16, 1048576),
	KEY_ENUM(GU, kernel_drop, enum config_kernel_drop, kernel_drops, "off"),
};
#undef GU

#define M struct config_media
static const struct config_key media_keys[] = {
	KEY_UINT(M, timeout_s, "60", 5, 3600),
	KEY_BOOL(M, policing, "yes"),
	KEY_UINT(M, policing_factor, "3", 1, 100),
	KEY_BOOL(M, strict_source, "yes"),
	KEY_UINT(M, max_streams, "10000", 1, 1000000),
	KEY_STR(M, cpu, CONFIG_T_STRING, "any", 0),
};
#undef M

#define W struct config_web
static const struct config_key web_keys[] = {
	KEY_OF(W, listen, CONFIG_T_ENDPOINT, struct config_endpoint, NULL, 0),
	KEY_STR(W, cert, CONFIG_T_PATH, NULL, 0),
	KEY_STR(W, key, CONFIG_T_PATH, NULL, 0),
	KEY_STR(W, user, CONFIG_T_USER, "sbc-web", 0),
};
#undef W

#define SECTION(nm, table, member) \
	{ .name = (nm), .keys = (table), .nkeys = ARRAY_SIZE(table), \
	  .off = offsetof(struct sbc_config, member) }

const struct config_section config_sections[] = {
	SECTION("general", general_keys, general),
	SECTION("public", zone_keys, zones[ZONE_PUBLIC]),
	{ .name = "private", .keys = zone_keys, .nkeys = ARRAY_SIZE(zone_keys),
	  .off = offsetof(struct sbc_config, zones[ZONE_PRIVATE]),
	  .defs = private_defs, .ndefs = ARRAY_SIZE(private_defs) },
	SECTION("sip", sip_keys, sip),
	SECTION("core", core_keys, core),
	SECTION("registration", registration_keys, registration),
	SECTION("auth", auth_keys, auth),
	SECTION("guard", guard_keys, guard),
	SECTION("media", media_keys, media),
	SECTION("web", web_keys, web),
};

const size_t config_nsections = ARRAY_SIZE(config_sections);

const struct config_section config_trunk_section = {
	.name = "trunk", .keys = trunk_keys, .nkeys = ARRAY_SIZE(trunk_keys), .multi = true,
};

/* The key called name in section s, or NULL when the section has no such key. */
const struct config_key *config_section_key(const struct config_section *s, const char *name)
{
	for (size_t i = 0; i < s->nkeys; i++) {
		if (strcmp(s->keys[i].name, name) == 0)
			return &s->keys[i];
	}
	return NULL;
}
