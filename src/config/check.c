/* check: rules that tie keys together (zones apart, port ranges disjoint, both-or-neither pairs, a listener for each peer's transport); fields already refused are skipped. */
#include <arpa/inet.h>
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
	if (z->media != CONFIG_MEDIA_SOCKET && !z->media_address.set)
		config_err(c, sec, "media_address", "required when media = %s",
			   config_media_engine_name(z->media));
	else if (z->media == CONFIG_MEDIA_SOCKET && z->media_address.set)
		config_err(c, sec, "media_address", "only used when media = bypass or xdp");
	else if (config_addr_eq(&z->media_address, &z->address))
		config_err(c, sec, "media_address", "%s must differ from [%s] address",
			   z->media_address.text, sec);
	else if (config_addr_eq(&z->media_address, &o->address))
		config_err(c, sec, "media_address", "%s is the [%s] address",
			   z->media_address.text, config_zone_name(o->id));
}

/* "IPv4" or "IPv6", for messages. */
static const char *family_name(int family)
{
	return family == AF_INET ? "IPv4" : "IPv6";
}

/* The subnet address/prefix of zone z; false when it has none or either key was refused. */
static bool zone_net(const struct config_ctx *c, const struct config_zone *z, struct config_cidr *net)
{
	if (!z->address.set || config_bad(c, &z->address) || config_bad(c, &z->prefix))
		return false;
	return config_cidr_of(net, &z->address, z->prefix) == 0;
}

/* The network address of block b as a socket address. */
static void cidr_sa(const struct config_cidr *b, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = b->family;
	if (b->family == AF_INET)
		memcpy(&((struct sockaddr_in *)ss)->sin_addr, b->net, 4);
	else
		memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, b->net, 16);
}

/* True when block in lies inside block out (or is it). */
static bool cidr_inside(const struct config_cidr *in, const struct config_cidr *out)
{
	struct sockaddr_storage ss;

	if (in->family != out->family || in->prefix < out->prefix)
		return false;
	cidr_sa(in, &ss);
	return config_cidr_match(out, (const struct sockaddr *)&ss);
}

/* An IPv6 link-local address (fe80::/10): a valid next hop whatever the prefix. */
static bool addr_link_local(const struct config_addr *a)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;

	return a->ss.ss_family == AF_INET6 && IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr);
}

/*
 * The gateway is a neighbour on the zone's subnet: same family, inside
 * address/prefix (IPv6 also link-local), not the zone's own address and,
 * on IPv4 subnets of 4 or more addresses, not the network or broadcast one.
 */
static void check_gateway(struct config_ctx *c, const struct config_zone *z, const struct config_cidr *net)
{
	const char *sec = config_zone_name(z->id);
	const struct config_addr *g = &z->gateway;

	if (g->ss.ss_family != z->address.ss.ss_family) {
		config_err(c, sec, "gateway", "%s is %s, address %s is %s", g->text,
			   family_name(g->ss.ss_family), z->address.text, family_name(z->address.ss.ss_family));
	} else if (config_addr_eq(g, &z->address)) {
		config_err(c, sec, "gateway", "%s is the zone's own address", g->text);
	} else if (addr_link_local(g)) {
		return;
	} else if (!config_cidr_match(net, (const struct sockaddr *)&g->ss)) {
		config_err(c, sec, "gateway", "%s is outside %s (address/prefix)", g->text, net->text);
	} else if (net->family == AF_INET && net->prefix <= 30) {
		uint32_t a = ntohl(((const struct sockaddr_in *)&g->ss)->sin_addr.s_addr);
		uint32_t hostmask = 0xffffffffu >> net->prefix;

		if ((a & hostmask) == 0)
			config_err(c, sec, "gateway", "%s is the network address of %s", g->text, net->text);
		else if ((a & hostmask) == hostmask)
			config_err(c, sec, "gateway", "%s is the broadcast address of %s", g->text, net->text);
	}
}

/* One routes entry: the gateway's family, not a default route, not on a zone's own subnet, listed once. */
static void check_route(struct config_ctx *c, const struct config_zone *z, unsigned i)
{
	const char *sec = config_zone_name(z->id);
	const struct config_cidr *r = &z->routes.v[i];
	struct config_cidr net;

	if (r->family != z->gateway.ss.ss_family) {
		config_err(c, sec, "routes", "%s is %s, gateway %s is %s", r->text, family_name(r->family),
			   z->gateway.text, family_name(z->gateway.ss.ss_family));
		return;
	}
	if (r->prefix == 0) {
		config_err(c, sec, "routes", "%s is a default route: that is [public] gateway", r->text);
		return;
	}
	for (unsigned j = 0; j < i; j++) {
		if (z->routes.v[j].prefix == r->prefix && cidr_inside(r, &z->routes.v[j])) {
			config_err(c, sec, "routes", "%s is listed twice", r->text);
			return;
		}
	}
	for (int y = 0; y < ZONE_COUNT; y++) {
		if (zone_net(c, &c->cfg->zones[y], &net) && cidr_inside(r, &net)) {
			config_err(c, sec, "routes", "%s is inside the [%s] subnet %s", r->text,
				   config_zone_name((enum zone_id)y), net.text);
			return;
		}
	}
}

/*
 * The bring-up keys (sbc-netup): prefix fits the address family, the
 * gateway is on the zone's subnet, routes need a gateway, an IPv6 link's
 * MTU is at least 1280. Without an address there is no subnet: prefix and
 * gateway are refused, mtu alone is fine.
 */
static void check_zone_net(struct config_ctx *c, const struct config_zone *z)
{
	const char *sec = config_zone_name(z->id);
	bool gw = z->gateway.set && !config_bad(c, &z->gateway);
	struct config_cidr net;

	if (!z->address.set) {
		if (config_bad(c, &z->address))
			return;
		if (z->prefix && !config_bad(c, &z->prefix))
			config_err(c, sec, "prefix", "needs address");
		if (gw)
			config_err(c, sec, "gateway", "needs address (the gateway is on its subnet)");
		gw = false;
	} else if (!zone_net(c, z, &net)) {
		if (!config_bad(c, &z->address) && !config_bad(c, &z->prefix))
			config_err(c, sec, "prefix", "%u is too long for the %s address %s (1-32)", z->prefix,
				   family_name(z->address.ss.ss_family), z->address.text);
		gw = false;
	} else {
		if (gw)
			check_gateway(c, z, &net);
		if (z->address.ss.ss_family == AF_INET6 && z->mtu && z->mtu < 1280 && !config_bad(c, &z->mtu))
			config_err(c, sec, "mtu", "%u is below 1280, the IPv6 minimum", z->mtu);
	}
	if (config_bad(c, &z->routes) || !z->routes.n)
		return;
	if (!z->gateway.set && !config_bad(c, &z->gateway)) {
		config_err(c, sec, "routes", "needs gateway (the next hop of every route)");
		return;
	}
	for (unsigned i = 0; gw && i < z->routes.n; i++)
		check_route(c, z, i);
}

/* The same network routed through both zones: the kernel would pick one. */
static void check_routes_apart(struct config_ctx *c)
{
	const struct config_cidrlist *pub = &c->cfg->zones[ZONE_PUBLIC].routes;
	const struct config_cidrlist *priv = &c->cfg->zones[ZONE_PRIVATE].routes;

	for (unsigned i = 0; i < priv->n; i++) {
		for (unsigned j = 0; j < pub->n; j++) {
			if (priv->v[i].prefix == pub->v[j].prefix && cidr_inside(&priv->v[i], &pub->v[j])) {
				config_err(c, "private", "routes", "%s is also in [public] routes", priv->v[i].text);
				break;
			}
		}
	}
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
	check_zone_net(c, pub);
	check_zone_net(c, priv);
	check_routes_apart(c);
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
