/* zones: the two zones as they run: interfaces and addresses through netlink, TLS material, SIP listeners. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "sbcd_int.h"

static const char *zname(unsigned id)
{
	return config_zone_name((enum zone_id)id);
}

/*
 * Find the zone's interface and its SIP address: the configured one must be
 * on the interface; without one, the interface must have exactly one
 * address of a family (IPv4 preferred).
 */
static int zone_resolve(struct sbcd *s, unsigned id)
{
	const struct config_zone *zc = config_zone(s->cfg, (enum zone_id)id);
	struct sbcd_zone *z = &s->zones[id];
	char ip[NET_ADDRSTRLEN];
	int err = net_iface_get(zc->interface, &z->ifc);

	if (err == ENODEV) {
		log_error("zone %s: interface %s not found", zname(id), zc->interface);
		return err;
	}
	if (err) {
		log_error("zone %s: interface %s: netlink: %s", zname(id), zc->interface,
			  strerror(err));
		return err;
	}
	if (zc->address.set) {
		if (!net_iface_has_addr(&z->ifc, &zc->address.ss)) {
			log_error("zone %s: address %s is not on interface %s", zname(id),
				  zc->address.text, zc->interface);
			return EADDRNOTAVAIL;
		}
		z->addr = zc->address.ss;
	} else {
		int found = -1;

		for (int fam = 0; fam < 2 && found < 0; fam++) {
			unsigned n = 0;

			for (size_t i = 0; i < z->ifc.naddrs; i++) {
				if (z->ifc.addr[i].ss_family != (fam ? AF_INET6 : AF_INET))
					continue;
				if (fam && ((const uint8_t *)&((const struct sockaddr_in6 *)
					(const void *)&z->ifc.addr[i])->sin6_addr)[0] == 0xfe)
					continue;   /* link-local */
				n++;
				found = (int)i;
			}
			if (n > 1) {
				log_error("zone %s: interface %s has several addresses: set address",
					  zname(id), zc->interface);
				return EADDRNOTAVAIL;
			}
		}
		if (found < 0) {
			log_error("zone %s: interface %s has no address", zname(id), zc->interface);
			return EADDRNOTAVAIL;
		}
		z->addr = z->ifc.addr[found];
	}
	net_sa_set_port(&z->addr, 0);
	if (zc->advertise.set)
		snprintf(z->host, sizeof(z->host), "%s", zc->advertise.text);
	else if (net_sa_ip_str(&z->addr, ip, sizeof(ip)) == 0)
		snprintf(z->host, sizeof(z->host), "%s", ip);
	z->link_up = z->ifc.up && z->ifc.running;
	if (!z->link_up)
		log_warn("zone %s: link %s is down", zname(id), zc->interface);
	return 0;
}

/* Certificate and key: the operator's, or a pair made in data_dir at first start. */
static int zone_tls_paths(const struct sbc_config *cfg, unsigned id, char *crt, char *key,
			  size_t size)
{
	const struct config_zone *zc = config_zone(cfg, (enum zone_id)id);
	int n1, n2;

	if (zc->tls_cert[0]) {
		n1 = snprintf(crt, size, "%s", zc->tls_cert);
		n2 = snprintf(key, size, "%s", zc->tls_key);
	} else {
		n1 = snprintf(crt, size, "%s/tls-%s.crt", cfg->general.data_dir, zname(id));
		n2 = snprintf(key, size, "%s/tls-%s.key", cfg->general.data_dir, zname(id));
	}
	return (n1 < 0 || (size_t)n1 >= size || n2 < 0 || (size_t)n2 >= size) ? ENAMETOOLONG : 0;
}

static int zone_tls_load(const struct sbc_config *cfg, unsigned id, const char *host,
			 SSL_CTX **ctxp)
{
	const struct config_zone *zc = config_zone(cfg, (enum zone_id)id);
	char crt[PATH_MAX], key[PATH_MAX], err_text[256];
	struct stat st;
	int err = zone_tls_paths(cfg, id, crt, key, sizeof(crt));

	if (err)
		return err;
	if (!zc->tls_cert[0] && (stat(crt, &st) == -1 || stat(key, &st) == -1)) {
		err = net_tls_selfsigned(crt, key, host);
		if (err) {
			log_error("zone %s: cannot make a TLS certificate in %s: %s", zname(id),
				  cfg->general.data_dir, strerror(err));
			return err;
		}
		log_info("zone %s: no tls_cert configured: made a self-signed certificate %s",
			 zname(id), crt);
	}
	err = net_tls_server_ctx(ctxp, crt, key, err_text, sizeof(err_text));
	if (err)
		log_error("zone %s: TLS: %s", zname(id), err_text);
	return err;
}

static void on_link(int ifindex, const char *name, bool up, bool running, void *arg)
{
	struct sbcd *s = arg;

	for (unsigned id = 0; id < ZONE_COUNT; id++) {
		struct sbcd_zone *z = &s->zones[id];
		bool now = up && running;

		if (z->ifc.ifindex != ifindex || now == z->link_up)
			continue;
		z->link_up = now;
		if (now)
			log_info("zone %s: link %s is up", zname(id), name);
		else
			log_warn("zone %s: link %s is down", zname(id), name);
	}
}

static void on_addr(int ifindex, const struct sockaddr_storage *addr, unsigned prefixlen,
		    bool added, void *arg)
{
	struct sbcd *s = arg;
	char ip[NET_ADDRSTRLEN];

	if (net_sa_ip_str(addr, ip, sizeof(ip)))
		return;
	for (unsigned id = 0; id < ZONE_COUNT; id++) {
		struct sbcd_zone *z = &s->zones[id];

		if (z->ifc.ifindex != ifindex)
			continue;
		if (net_sa_eq_ip(&z->addr, addr) && !added)
			log_error("zone %s: the SIP address %s was removed from %s", zname(id), ip,
				  z->ifc.name);
		else
			log_info("zone %s: address %s/%u %s %s", zname(id), ip, prefixlen,
				 added ? "added to" : "removed from", z->ifc.name);
	}
}

/* Resolve both zones, follow their links, open their SIP listeners. */
int sbcd_zones_start(struct sbcd *s)
{
	const struct config_sip *sc = &s->cfg->sip;
	struct net_stream_cfg scfg = {
		.max_conns = sc->max_connections,
		.max_per_source = sc->max_connections_per_source,
		.idle_s = sc->tcp_idle_s,
	};
	int err;

	for (unsigned id = 0; id < ZONE_COUNT; id++) {
		err = zone_resolve(s, id);
		if (err)
			return err;
	}
	err = net_monitor_alloc(&s->mon, s->base, on_link, on_addr, s);
	if (err)
		log_warn("netlink monitor: %s: link changes will not be followed", strerror(err));
	err = sip_transp_alloc(&s->transp, s->base, &scfg, sbcd_sip_input, s);
	if (err)
		return err;
	for (unsigned id = 0; id < ZONE_COUNT; id++) {
		const struct config_zone *zc = config_zone(s->cfg, (enum zone_id)id);
		struct sbcd_zone *z = &s->zones[id];
		struct sip_transp_zone tz = {
			.name = zname(id),
			.addr = z->addr,
			.host = z->host,
			.port = { zc->sip_udp, zc->sip_tcp, zc->sip_tls },
		};
		char ip[NET_ADDRSTRLEN];

		if (zc->sip_tls) {
			err = zone_tls_load(s->cfg, id, z->host, &z->tls);
			if (err)
				return err;
			tz.tls = z->tls;
		}
		err = sip_transp_zone_add(s->transp, id, &tz);
		net_sa_ip_str(&z->addr, ip, sizeof(ip));
		if (err) {
			log_error("zone %s: cannot listen on %s (udp %u, tcp %u, tls %u): %s",
				  zname(id), ip, zc->sip_udp, zc->sip_tcp, zc->sip_tls,
				  strerror(err));
			return err;
		}
		log_info("zone %s: SIP on %s (udp %u, tcp %u, tls %u), link %s", zname(id), ip,
			 zc->sip_udp, zc->sip_tcp, zc->sip_tls, z->link_up ? "up" : "down");
	}
	return 0;
}

/*
 * On reload: certificates are read again (new TLS connections use them,
 * open ones keep theirs); what the listeners are bound to changes only at
 * the next start, and the log says so.
 */
int sbcd_zones_apply(struct sbcd *s, const struct sbc_config *next)
{
	for (unsigned id = 0; id < ZONE_COUNT; id++) {
		const struct config_zone *o = config_zone(s->cfg, (enum zone_id)id);
		const struct config_zone *n = config_zone(next, (enum zone_id)id);
		struct sbcd_zone *z = &s->zones[id];
		SSL_CTX *ctx;

		if (strcmp(o->interface, n->interface) || !config_addr_eq(&o->address, &n->address) ||
		    !config_addr_eq(&o->advertise, &n->advertise) || o->sip_udp != n->sip_udp ||
		    o->sip_tcp != n->sip_tcp || o->sip_tls != n->sip_tls)
			log_warn("zone %s: interface, address and SIP port changes take effect at "
				 "the next start", zname(id));
		if (!z->tls || !n->sip_tls)
			continue;
		if (zone_tls_load(next, id, z->host, &ctx)) {
			log_error("zone %s: keeping the running TLS certificate", zname(id));
			continue;
		}
		sip_transp_zone_set_tls(s->transp, id, ctx);
		net_tls_ctx_free(z->tls);
		z->tls = ctx;
		log_info("zone %s: TLS certificate reloaded", zname(id));
	}
	return 0;
}

void sbcd_zones_stop(struct sbcd *s)
{
	s->transp = mem_deref(s->transp);
	s->mon = mem_deref(s->mon);
	for (unsigned id = 0; id < ZONE_COUNT; id++) {
		if (s->zones[id].tls)
			net_tls_ctx_free(s->zones[id].tls);
		s->zones[id].tls = NULL;
	}
}
