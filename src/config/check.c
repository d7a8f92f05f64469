/* check: rules that tie keys together (zones apart, port ranges disjoint, both-or-neither pairs, a listener for each peer's transport); fields already refused are skipped. */
#include <string.h>

#include "config_int.h"

/* Both keys given or neither; the missing one is reported. */
static void check_pair(struct config_ctx *c, const char *sec, const char *ka, const char *a,
		       const char *kb, const char *b)
{
	if (*a && !*b)
		config_err(c, sec, kb, "required when %s is set", ka);
	else if (*b && !*a)
		config_err(c, sec, ka, "required when %s is set", kb);
}

/* A zone's SIP ports stay out of both RTP ranges, and TCP and TLS do not share a port. */
static void check_zone_ports(struct config_ctx *c, const struct config_zone *z)
{
	const struct sbc_config *cfg = c->cfg;
	const struct {
		const char *key;
		const uint16_t *port;
	} ports[] = {
		{ "sip_udp", &z->sip_udp }, { "sip_tcp", &z->sip_tcp }, { "sip_tls", &z->sip_tls },
	};

	for (size_t i = 0; i < ARRAY_SIZE(ports); i++) {
		unsigned p = *ports[i].port;

		if (!p || config_bad(c, ports[i].port))
			continue;
		for (int y = 0; y < ZONE_COUNT; y++) {
			const struct config_range *r = &cfg->zones[y].rtp_ports;

			if (!config_bad(c, r) && p >= r->start && p <= r->end)
				config_err(c, config_zone_name(z->id), ports[i].key, "port %u is inside [%s] rtp_ports %u-%u",
					   p, config_zone_name((enum zone_id)y), r->start, r->end);
		}
	}
	if (z->sip_tls && z->sip_tls == z->sip_tcp && !config_bad(c, &z->sip_tls) &&
	    !config_bad(c, &z->sip_tcp))
		config_err(c, config_zone_name(z->id), "sip_tls", "port %u is also sip_tcp", z->sip_tls);
}

/* Rules inside one zone, and its advertise/media addresses against the other zone. */
static void check_zone(struct config_ctx *c, const struct config_zone *z)
{
	const struct config_zone *o = &c->cfg->zones[!z->id];
	const char *sec = config_zone_name(z->id);

	check_zone_ports(c, z);
	check_pair(c, sec, "tls_cert", z->tls_cert, "tls_key", z->tls_key);
	if (config_addr_eq(&z->advertise, &o->address))
		config_err(c, sec, "advertise", "%s is the [%s] address", z->advertise.text, config_zone_name(o->id));
	if (config_bad(c, &z->media) || config_bad(c, &z->media_address))
		return;
	if (z->media == CONFIG_MEDIA_BYPASS && !z->media_address.set)
		config_err(c, sec, "media_address", "required when media = bypass");
	else if (z->media != CONFIG_MEDIA_BYPASS && z->media_address.set)
		config_err(c, sec, "media_address", "only used when media = bypass");
	else if (config_addr_eq(&z->media_address, &z->address))
		config_err(c, sec, "media_address", "%s must differ from [%s] address",
			   z->media_address.text, sec);
	else if (config_addr_eq(&z->media_address, &o->address))
		config_err(c, sec, "media_address", "%s is the [%s] address",
			   z->media_address.text, config_zone_name(o->id));
}

/* The two zones apart: addresses, RTP ranges, media addresses. */
static void check_zones(struct config_ctx *c)
{
	const struct config_zone *pub = &c->cfg->zones[ZONE_PUBLIC];
	const struct config_zone *priv = &c->cfg->zones[ZONE_PRIVATE];
	const struct config_range *a = &pub->rtp_ports, *b = &priv->rtp_ports;

	if (config_addr_eq(&pub->address, &priv->address))
		config_err(c, "private", "address", "%s is also the [public] address", priv->address.text);
	if (!config_bad(c, a) && !config_bad(c, b) && a->start <= b->end && b->start <= a->end)
		config_err(c, "public", "rtp_ports", "range %u-%u overlaps [private] rtp_ports %u-%u",
			   a->start, a->end, b->start, b->end);
	if (config_addr_eq(&pub->media_address, &priv->media_address))
		config_err(c, "private", "media_address", "%s is also the [public] media_address",
			   priv->media_address.text);
	check_zone(c, pub);
	check_zone(c, priv);
}

/* A peer (core or trunk) at one of the box's own addresses would loop. */
static void check_peer_addr(struct config_ctx *c, const char *sec, const struct config_host *h)
{
	for (int z = 0; z < ZONE_COUNT; z++) {
		if (config_addr_eq(&h->addr, &c->cfg->zones[z].address))
			config_err(c, sec, "address", "%s is the [%s] address of this box",
				   h->addr.text, config_zone_name((enum zone_id)z));
	}
}

/*
 * A peer (core or trunk) is reached from its zone's listener for its
 * transport: the b-leg goes out through that socket and its Via names
 * that port. With the listener off, sbcd would start and fail every call
 * to the peer (500), so the check refuses the file instead.
 */
static void check_peer_transport(struct config_ctx *c, const char *sec,
				 const enum config_transport *tr, enum zone_id zid)
{
	const struct config_zone *z = &c->cfg->zones[zid];
	const uint16_t *port;
	const char *key;

	if (config_bad(c, tr))
		return;
	switch (*tr) {
	case CONFIG_TRANSPORT_TCP:
		port = &z->sip_tcp;
		key = "sip_tcp";
		break;
	case CONFIG_TRANSPORT_TLS:
		port = &z->sip_tls;
		key = "sip_tls";
		break;
	default:
		port = &z->sip_udp;
		key = "sip_udp";
		break;
	}
	if (!*port && !config_bad(c, port))
		config_err(c, sec, "transport", "%s needs the [%s] %s listener, which is off (0)",
			   config_transport_name(*tr), config_zone_name(zid), key);
}

/* Trunks: not at the box's own addresses; a listener for their transport; register = yes needs credentials. */
static void check_trunks(struct config_ctx *c)
{
	char sec[CONFIG_TRUNK_NAME_MAX + 8];

	for (unsigned i = 0; i < c->cfg->trunk_count; i++) {
		const struct config_trunk *t = &c->cfg->trunks[i];

		snprintf(sec, sizeof(sec), "trunk:%s", t->name);
		check_peer_addr(c, sec, &t->address);
		if (!config_bad(c, &t->zone))
			check_peer_transport(c, sec, &t->transport, t->zone);
		if (!t->do_register)
			continue;
		if (!t->username[0] && !config_bad(c, t->username))
			config_err(c, sec, "username", "required when register = yes");
		if (!t->password[0] && !config_bad(c, t->password))
			config_err(c, sec, "password", "required when register = yes");
	}
}

/* The web server: certificate pair, and no clash with a SIP stream listener. */
static void check_web(struct config_ctx *c)
{
	const struct config_web *w = &c->cfg->web;

	check_pair(c, "web", "cert", w->cert, "key", w->key);
	for (int z = 0; z < ZONE_COUNT; z++) {
		const struct config_zone *zc = &c->cfg->zones[z];

		if (!config_addr_eq(&w->listen.addr, &zc->address))
			continue;
		if (w->listen.port == zc->sip_tcp)
			config_err(c, "web", "listen", "port %u on %s is also the [%s] sip_tcp listener",
				   w->listen.port, w->listen.addr.text, config_zone_name(zc->id));
		else if (w->listen.port == zc->sip_tls)
			config_err(c, "web", "listen", "port %u on %s is also the [%s] sip_tls listener",
				   w->listen.port, w->listen.addr.text, config_zone_name(zc->id));
	}
}

/*
 * [auth] realm is written inside a quoted string of every challenge and
 * goes out on the public side: no quote or backslash, and not the private
 * address (the leak checker would stop every 401).
 */
static void check_auth(struct config_ctx *c)
{
	const struct config_auth *a = &c->cfg->auth;
	struct config_addr ra;
	char q[80];

	if (config_bad(c, a->realm) || !a->realm[0])
		return;
	if (strpbrk(a->realm, "\"\\")) {
		config_quote(q, sizeof(q), a->realm);
		config_err(c, "auth", "realm", "\"%s\" holds '\"' or '\\' (it is sent as a quoted string)", q);
	} else if (config_addr_parse(&ra, a->realm) == 0 &&
		   config_addr_eq(&ra, &c->cfg->zones[ZONE_PRIVATE].address)) {
		config_err(c, "auth", "realm", "%s is the [private] address", ra.text);
	}
}

/* [media] cpu: "any" or a CPU number below CPU_SETSIZE (1024). */
static void check_media(struct config_ctx *c)
{
	const struct config_media *m = &c->cfg->media;

	if (!config_bad(c, m->cpu) && config_media_cpu(m) == -2)
		config_err(c, "media", "cpu", "\"%s\" is neither \"any\" nor a CPU number 0-1023",
			   m->cpu);
}

/* Cross-field rules, run once every value has been parsed. */
void config_check(struct config_ctx *c)
{
	const struct sbc_config *cfg = c->cfg;

	check_zones(c);
	check_media(c);
	if (cfg->sip.t2_ms < cfg->sip.t1_ms && !config_bad(c, &cfg->sip.t1_ms) &&
	    !config_bad(c, &cfg->sip.t2_ms))
		config_err(c, "sip", "t2_ms", "%u is less than t1_ms %u", cfg->sip.t2_ms, cfg->sip.t1_ms);
	if (cfg->sip.max_connections_per_source > cfg->sip.max_connections &&
	    !config_bad(c, &cfg->sip.max_connections) &&
	    !config_bad(c, &cfg->sip.max_connections_per_source))
		config_err(c, "sip", "max_connections_per_source", "%u is more than max_connections %u",
			   cfg->sip.max_connections_per_source, cfg->sip.max_connections);
	check_peer_addr(c, "core", &cfg->core.address);
	check_peer_transport(c, "core", &cfg->core.transport, ZONE_PRIVATE);
	check_trunks(c);
	if (cfg->guard.ban_time_max_s < cfg->guard.ban_time_s && !config_bad(c, &cfg->guard.ban_time_s) &&
	    !config_bad(c, &cfg->guard.ban_time_max_s))
		config_err(c, "guard", "ban_time_max_s", "%u is less than ban_time_s %u",
			   cfg->guard.ban_time_max_s, cfg->guard.ban_time_s);
	check_web(c);
	check_auth(c);
}
