/* route: the default route through the public gateway and each zone's routes through its gateway, in the main table (libnl-route-3). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/route.h>
#include <string.h>

#include "netup.h"

/* The routes sbc-netup makes carry this protocol; it owns every such route on the zone ports. */
#define NETUP_RTPROT RTPROT_STATIC

#define WANT_MAX (ZONE_COUNT * (CONFIG_LIST_MAX + 1))

/* One route the configuration asks for. */
struct want {
	struct config_cidr dst;       /* prefix 0: the default route */
	const struct config_addr *gw;
	int ifindex;
	const char *zname;
	bool present;                 /* found in the kernel as it should be */
};

struct want_list {
	unsigned n;
	struct want v[WANT_MAX];
};

/* Bytes of a config address. */
static const void *gw_bytes(const struct config_addr *a, unsigned *len)
{
	*len = a->ss.ss_family == AF_INET ? 4 : 16;
	if (a->ss.ss_family == AF_INET)
		return &((const struct sockaddr_in *)&a->ss)->sin_addr;
	return &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
}

/* "default" or "NET/PREFIX" of a wanted destination. */
static const char *want_dst_text(const struct want *w)
{
	return w->dst.prefix ? w->dst.text : "default";
}

/* Append the routes of one port: the public default route, then the zone's routes, all via its gateway. */
static void want_port(struct want_list *l, const struct netup_port *p)
{
	const struct config_zone *z = p->z;

	if (!z->gateway.set)
		return;
	if (z->id == ZONE_PUBLIC) {
		struct want *w = &l->v[l->n++];

		memset(w, 0, sizeof(*w));
		w->dst.family = z->gateway.ss.ss_family;
		w->gw = &z->gateway;
		w->ifindex = p->ifindex;
		w->zname = z->interface;
	}
	for (unsigned i = 0; i < z->routes.n && l->n < WANT_MAX; i++) {
		struct want *w = &l->v[l->n++];

		memset(w, 0, sizeof(*w));
		w->dst = z->routes.v[i];
		w->gw = &z->gateway;
		w->ifindex = p->ifindex;
		w->zname = z->interface;
	}
}

/* True when the kernel route's destination is w's. */
static bool dst_is(struct rtnl_route *r, const struct want *w)
{
	struct nl_addr *dst = rtnl_route_get_dst(r);
	unsigned blen = w->dst.family == AF_INET ? 4 : 16, full = w->dst.prefix / 8u;
	const uint8_t *b;

	if (rtnl_route_get_family(r) != w->dst.family)
		return false;
	if (!dst)
		return w->dst.prefix == 0;
	if ((unsigned)nl_addr_get_prefixlen(dst) != w->dst.prefix)
		return false;
	if (w->dst.prefix == 0)
		return true;
	if (nl_addr_get_len(dst) != blen)
		return false;
	b = nl_addr_get_binary_addr(dst);
	/* both are masked: compare the prefix bytes, the last one whole */
	return memcmp(b, w->dst.net, full + (w->dst.prefix % 8u ? 1 : 0)) == 0;
}

/* True when the route is exactly w: ours, one next hop, w's gateway on w's port. */
static bool route_is(struct rtnl_route *r, const struct want *w)
{
	struct rtnl_nexthop *nh;
	struct nl_addr *gw;
	unsigned len;
	const void *want = gw_bytes(w->gw, &len);

	if (rtnl_route_get_protocol(r) != NETUP_RTPROT || rtnl_route_get_nnexthops(r) != 1)
		return false;
	nh = rtnl_route_nexthop_n(r, 0);
	gw = nh ? rtnl_route_nh_get_gateway(nh) : NULL;
	return gw && rtnl_route_nh_get_ifindex(nh) == w->ifindex && nl_addr_get_len(gw) == len &&
	       memcmp(nl_addr_get_binary_addr(gw), want, len) == 0;
}

/* True when any next hop of the route leaves through one of the ports. */
static bool route_on_ports(struct rtnl_route *r, const struct netup_port *ports, unsigned nports)
{
	for (int i = 0; i < rtnl_route_get_nnexthops(r); i++) {
		struct rtnl_nexthop *nh = rtnl_route_nexthop_n(r, i);

		for (unsigned p = 0; nh && p < nports; p++) {
			if (rtnl_route_nh_get_ifindex(nh) == ports[p].ifindex)
				return true;
		}
	}
	return false;
}

/* "DST via GW" (or "DST" without a gateway) of a kernel route, for messages. */
static void route_text(struct rtnl_route *r, char *buf, size_t size)
{
	struct nl_addr *dst = rtnl_route_get_dst(r);
	struct rtnl_nexthop *nh = rtnl_route_get_nnexthops(r) ? rtnl_route_nexthop_n(r, 0) : NULL;
	struct nl_addr *gw = nh ? rtnl_route_nh_get_gateway(nh) : NULL;
	char d[INET6_ADDRSTRLEN] = "", g[INET6_ADDRSTRLEN] = "";
	int fam = rtnl_route_get_family(r);

	if (dst && nl_addr_get_prefixlen(dst) && nl_addr_get_len(dst) <= 16)
		inet_ntop(fam, nl_addr_get_binary_addr(dst), d, sizeof(d));
	if (gw && nl_addr_get_len(gw) <= 16)
		inet_ntop(fam, nl_addr_get_binary_addr(gw), g, sizeof(g));
	if (d[0])
		snprintf(buf, size, "%s/%d%s%s", d, nl_addr_get_prefixlen(dst), g[0] ? " via " : "", g);
	else
		snprintf(buf, size, "default%s%s", g[0] ? " via " : "", g);
}

/* The wanted route with the kernel route's destination, or NULL. */
static struct want *want_find(struct want_list *l, struct rtnl_route *r)
{
	for (unsigned i = 0; i < l->n; i++) {
		if (dst_is(r, &l->v[i]))
			return &l->v[i];
	}
	return NULL;
}

/* The port name of a route to remove: its first next hop's port, else the first port. */
static const char *route_port_name(struct rtnl_route *r, const struct netup_port *ports, unsigned nports)
{
	struct rtnl_nexthop *nh = rtnl_route_get_nnexthops(r) ? rtnl_route_nexthop_n(r, 0) : NULL;

	for (unsigned p = 0; nh && p < nports; p++) {
		if (rtnl_route_nh_get_ifindex(nh) == ports[p].ifindex)
			return ports[p].z->interface;
	}
	return "route";
}

/*
 * Decide for one main-table unicast route: keep it (it is a wanted route
 * as it should be), or remove it (another route to a wanted destination,
 * or a route of ours on a zone port the configuration no longer has).
 */
static int route_review(struct netup *n, struct want_list *l, struct rtnl_route *r,
			const struct netup_port *ports, unsigned nports)
{
	struct want *w = want_find(l, r);
	const char *pname = route_port_name(r, ports, nports);
	char txt[2 * INET6_ADDRSTRLEN + 16];
	int err;

	if (w && !w->present && route_is(r, w)) {
		w->present = true;
		return 0;
	}
	if (!w && !(rtnl_route_get_protocol(r) == NETUP_RTPROT && route_on_ports(r, ports, nports)))
		return 0;
	route_text(r, txt, sizeof(txt));
	netup_act(n, pname, "remove route %s", txt);
	if (n->dry)
		return 0;
	err = rtnl_route_delete(n->sk, r, 0);
	if (err && err != -NLE_OBJ_NOTFOUND) {
		log_error("%s: cannot remove route %s: %s", pname, txt, nl_geterror(err));
		return EIO;
	}
	return 0;
}

/* Walk the kernel's routes now and remove what is in the way or stale. */
static int routes_review(struct netup *n, struct want_list *l, const struct netup_port *ports, unsigned nports)
{
	struct nl_cache *cache = NULL;
	int err = rtnl_route_alloc_cache(n->sk, AF_UNSPEC, 0, &cache);

	if (err) {
		log_error("cannot read the routes: %s", nl_geterror(err));
		return EIO;
	}
	for (struct nl_object *o = nl_cache_get_first(cache); o && !err; o = nl_cache_get_next(o)) {
		struct rtnl_route *r = (struct rtnl_route *)o;
		int fam = rtnl_route_get_family(r);

		if (rtnl_route_get_table(r) != RT_TABLE_MAIN || rtnl_route_get_type(r) != RTN_UNICAST ||
		    (fam != AF_INET && fam != AF_INET6))
			continue;
		err = route_review(n, l, r, ports, nports);
	}
	nl_cache_free(cache);
	return err;
}

/* The kernel object of a wanted route (rtnl_route_put it). */
static int route_build(const struct want *w, struct rtnl_route **rp)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = NULL;
	struct nl_addr *dst = NULL, *gw = NULL;
	unsigned len;
	const void *gwb = gw_bytes(w->gw, &len);
	int err = ENOMEM;

	if (!r)
		return ENOMEM;
	dst = nl_addr_build(w->dst.family, w->dst.net, len);
	gw = nl_addr_build(w->dst.family, gwb, len);
	nh = rtnl_route_nh_alloc();
	if (!dst || !gw || !nh)
		goto out;
	nl_addr_set_prefixlen(dst, w->dst.prefix);
	rtnl_route_set_family(r, (uint8_t)w->dst.family);
	rtnl_route_set_table(r, RT_TABLE_MAIN);
	rtnl_route_set_protocol(r, NETUP_RTPROT);
	rtnl_route_set_scope(r, RT_SCOPE_UNIVERSE);
	rtnl_route_set_type(r, RTN_UNICAST);
	if (rtnl_route_set_dst(r, dst) < 0)
		goto out;
	rtnl_route_nh_set_ifindex(nh, w->ifindex);
	rtnl_route_nh_set_gateway(nh, gw);
	rtnl_route_add_nexthop(r, nh);
	nh = NULL;
	*rp = r;
	r = NULL;
	err = 0;
out:
	if (nh)
		rtnl_route_nh_free(nh);
	if (dst)
		nl_addr_put(dst);
	if (gw)
		nl_addr_put(gw);
	if (r)
		rtnl_route_put(r);
	return err;
}

/* Add a wanted route that is not there. */
static int route_add(struct netup *n, const struct want *w)
{
	struct rtnl_route *r = NULL;
	int err;

	netup_act(n, w->zname, "add route %s via %s", want_dst_text(w), w->gw->text);
	if (n->dry)
		return 0;
	err = route_build(w, &r);
	if (err) {
		log_error("%s: cannot add route %s via %s: %s", w->zname, want_dst_text(w), w->gw->text,
			  strerror(err));
		return err;
	}
	err = rtnl_route_add(n->sk, r, NLM_F_EXCL);
	rtnl_route_put(r);
	if (err) {
		log_error("%s: cannot add route %s via %s: %s", w->zname, want_dst_text(w), w->gw->text,
			  nl_geterror(err));
		return EIO;
	}
	return 0;
}

/*
 * The routes of both ports, once they are up with their addresses: remove
 * what is in the way or stale, then add what is missing. A second run finds
 * every route present and changes nothing.
 */
int netup_routes_apply(struct netup *n, const struct netup_port *ports, unsigned nports)
{
	struct want_list *l = mem_zalloc(sizeof(*l), NULL);
	int err;

	if (!l)
		return ENOMEM;
	for (unsigned p = 0; p < nports; p++)
		want_port(l, &ports[p]);
	err = routes_review(n, l, ports, nports);
	for (unsigned i = 0; !err && i < l->n; i++) {
		if (!l->v[i].present)
			err = route_add(n, &l->v[i]);
	}
	mem_deref(l);
	return err;
}
