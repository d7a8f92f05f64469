/* addr: the zone's address/prefix on its port, and no other global address there (libnl-route-3). */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <string.h>

#include "netup.h"

/* The address bytes of a config address and their length. */
static const void *zone_addr_bytes(const struct config_addr *a, unsigned *len)
{
	if (a->ss.ss_family == AF_INET) {
		*len = 4;
		return &((const struct sockaddr_in *)&a->ss)->sin_addr;
	}
	*len = 16;
	return &((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
}

/* "ADDRESS/PREFIX" of a kernel address, for messages. */
static void addr_text(struct rtnl_addr *a, char *buf, size_t size)
{
	struct nl_addr *local = rtnl_addr_get_local(a);
	char txt[INET6_ADDRSTRLEN] = "?";

	if (local && nl_addr_get_len(local) <= 16)
		inet_ntop(nl_addr_get_family(local), nl_addr_get_binary_addr(local), txt, sizeof(txt));
	snprintf(buf, size, "%s/%d", txt, rtnl_addr_get_prefixlen(a));
}

/* True when the kernel address a is exactly the zone's address/prefix. */
static bool addr_is_zone(struct rtnl_addr *a, const struct config_zone *z)
{
	struct nl_addr *local = rtnl_addr_get_local(a);
	unsigned len;
	const void *want = zone_addr_bytes(&z->address, &len);

	return local && nl_addr_get_family(local) == z->address.ss.ss_family &&
	       nl_addr_get_len(local) == len && memcmp(nl_addr_get_binary_addr(local), want, len) == 0 &&
	       (unsigned)rtnl_addr_get_prefixlen(a) == z->prefix;
}

/* A global (universe scope) IPv4 or IPv6 address on the interface ifindex: what sbc-netup manages. */
static bool addr_managed(struct rtnl_addr *a, int ifindex)
{
	int fam = rtnl_addr_get_family(a);

	return rtnl_addr_get_ifindex(a) == ifindex && (fam == AF_INET || fam == AF_INET6) &&
	       rtnl_addr_get_scope(a) == RT_SCOPE_UNIVERSE;
}

/* The kernel's addresses now (nl_cache_free it). */
static int addr_cache(struct netup *n, const char *ifname, struct nl_cache **cachep)
{
	int err = rtnl_addr_alloc_cache(n->sk, cachep);

	if (err) {
		log_error("%s: cannot read the addresses: %s", ifname, nl_geterror(err));
		return EIO;
	}
	return 0;
}

/*
 * Remove every managed address of the port that is not the zone's; sets
 * *have when the zone's is there. A secondary IPv4 address may already be
 * gone with its primary (NLE_NOADDR): not an error.
 */
static int addr_flush_others(struct netup *n, const struct netup_port *p, bool *have)
{
	const char *zname = p->z->interface;
	struct nl_cache *cache = NULL;
	char txt[INET6_ADDRSTRLEN + 8];
	int err = addr_cache(n, zname, &cache);

	*have = false;
	for (struct nl_object *o = err ? NULL : nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		int e;

		if (!addr_managed(a, p->ifindex))
			continue;
		if (addr_is_zone(a, p->z)) {
			*have = true;
			continue;
		}
		addr_text(a, txt, sizeof(txt));
		netup_act(n, zname, "remove address %s", txt);
		if (n->dry)
			continue;
		e = rtnl_addr_delete(n->sk, a, 0);
		if (e && e != -NLE_NOADDR) {
			log_error("%s: cannot remove address %s: %s", zname, txt, nl_geterror(e));
			err = EIO;
			break;
		}
	}
	if (cache)
		nl_cache_free(cache);
	return err;
}

/* True when the zone's address is on the port now. */
static int addr_present(struct netup *n, const struct netup_port *p, bool *have)
{
	struct nl_cache *cache = NULL;
	int err = addr_cache(n, p->z->interface, &cache);

	*have = false;
	for (struct nl_object *o = err ? NULL : nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;

		if (addr_managed(a, p->ifindex) && addr_is_zone(a, p->z))
			*have = true;
	}
	if (cache)
		nl_cache_free(cache);
	return err;
}

/*
 * The kernel object of the zone's address: IPv4 with its broadcast address
 * (subnets of 4 or more addresses), IPv6 without duplicate address
 * detection, so that sbcd can bind it at once (docs/netup.md).
 */
static int addr_build(const struct netup_port *p, struct rtnl_addr **ap)
{
	const struct config_zone *z = p->z;
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = NULL, *bcast = NULL;
	unsigned len;
	const void *bytes = zone_addr_bytes(&z->address, &len);
	int err = ENOMEM;

	if (!a)
		return ENOMEM;
	local = nl_addr_build(z->address.ss.ss_family, bytes, len);
	if (!local)
		goto out_free;
	nl_addr_set_prefixlen(local, (int)z->prefix);
	rtnl_addr_set_ifindex(a, p->ifindex);
	if (rtnl_addr_set_local(a, local) < 0)
		goto out_free;
	rtnl_addr_set_prefixlen(a, (int)z->prefix);
	if (z->address.ss.ss_family == AF_INET && z->prefix <= 30) {
		uint32_t b;

		memcpy(&b, bytes, 4);
		b = htonl(ntohl(b) | (0xffffffffu >> z->prefix));
		bcast = nl_addr_build(AF_INET, &b, 4);
		if (!bcast || rtnl_addr_set_broadcast(a, bcast) < 0)
			goto out_free;
	}
	if (z->address.ss.ss_family == AF_INET6)
		rtnl_addr_set_flags(a, IFA_F_NODAD);
	*ap = a;
	a = NULL;
	err = 0;
out_free:
	if (local)
		nl_addr_put(local);
	if (bcast)
		nl_addr_put(bcast);
	if (a)
		rtnl_addr_put(a);
	return err;
}

/* Add the zone's address/prefix to its port. */
static int addr_add(struct netup *n, const struct netup_port *p)
{
	const struct config_zone *z = p->z;
	struct rtnl_addr *a = NULL;
	int err;

	netup_act(n, z->interface, "add address %s/%u", z->address.text, z->prefix);
	if (n->dry)
		return 0;
	err = addr_build(p, &a);
	if (err) {
		log_error("%s: cannot add address %s/%u: %s", z->interface, z->address.text, z->prefix,
			  strerror(err));
		return err;
	}
	err = rtnl_addr_add(n->sk, a, 0);
	rtnl_addr_put(a);
	if (err) {
		log_error("%s: cannot add address %s/%u: %s", z->interface, z->address.text, z->prefix,
			  nl_geterror(err));
		return EIO;
	}
	return 0;
}

/*
 * The port ends with exactly one global address, the zone's. Without a
 * configured address the port's addresses are left alone (sbcd takes the
 * one it finds). After the removals the state is read again: removing an
 * IPv4 primary takes its secondaries with it.
 */
int netup_addr_apply(struct netup *n, const struct netup_port *p)
{
	bool have;
	int err;

	if (!p->z->address.set)
		return 0;
	err = addr_flush_others(n, p, &have);
	if (err)
		return err;
	if (!n->dry) {
		err = addr_present(n, p, &have);
		if (err)
			return err;
	}
	return have ? 0 : addr_add(n, p);
}
