/* link: find a zone's port (renaming the kernel's interface to the zone's name), its MTU, and link up (libnl-route-3). */
#include <errno.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <string.h>

#include "netup.h"

/* The interface called name into *linkp (rtnl_link_put it); a libnl error code (< 0) otherwise. */
static int link_by_name(struct netup *n, const char *name, struct rtnl_link **linkp)
{
	return rtnl_link_get_kernel(n->sk, 0, name, linkp);
}

/* Absent, as the kernel says it (ENODEV comes back as NLE_OBJ_NOTFOUND or NLE_NODEV). */
static bool link_missing(int err)
{
	return err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV;
}

/*
 * Which interface is p's zone port. The zone's interface name wins when it
 * exists (a second run, or a board whose kernel names it so); otherwise the
 * kernel's interface given with --wan/--lan is renamed later. Nothing is
 * changed here: every port is resolved before the first change.
 */
int netup_port_resolve(struct netup *n, struct netup_port *p)
{
	const char *zname = p->z->interface;
	struct rtnl_link *link = NULL;
	int err = link_by_name(n, zname, &link);

	if (err == 0) {
		if (p->kernel && strcmp(p->kernel, zname))
			log_debug("%s exists: %s is left alone", zname, p->kernel);
		snprintf(p->name, sizeof(p->name), "%s", zname);
	} else if (!link_missing(err)) {
		log_error("%s: cannot read the interface: %s", zname, nl_geterror(err));
		return EIO;
	} else if (!p->kernel) {
		log_error("%s: no such interface ([%s] interface; name the kernel's port to rename with --%s)",
			  zname, config_zone_name(p->z->id), p->z->id == ZONE_PUBLIC ? "wan" : "lan");
		return ENODEV;
	} else {
		err = link_by_name(n, p->kernel, &link);
		if (err) {
			log_error("%s: %s (--%s; and there is no interface %s)", p->kernel,
				  link_missing(err) ? "no such interface" : nl_geterror(err),
				  p->z->id == ZONE_PUBLIC ? "wan" : "lan", zname);
			return link_missing(err) ? ENODEV : EIO;
		}
		snprintf(p->name, sizeof(p->name), "%s", p->kernel);
		p->rename = true;
	}
	p->ifindex = rtnl_link_get_ifindex(link);
	rtnl_link_put(link);
	return 0;
}

/* Apply change to the interface ifindex; errors name ifname and libnl's reason. */
static int link_change(struct netup *n, int ifindex, const char *ifname, struct rtnl_link *change,
		       const char *what)
{
	struct rtnl_link *orig = NULL;
	int err = rtnl_link_get_kernel(n->sk, ifindex, NULL, &orig);

	if (!err)
		err = rtnl_link_change(n->sk, orig, change, 0);
	if (orig)
		rtnl_link_put(orig);
	if (err) {
		log_error("%s: cannot %s: %s", ifname, what, nl_geterror(err));
		return EIO;
	}
	return 0;
}

/* Read the interface ifindex (rtnl_link_put it). */
static int link_get(struct netup *n, int ifindex, const char *ifname, struct rtnl_link **linkp)
{
	int err = rtnl_link_get_kernel(n->sk, ifindex, NULL, linkp);

	if (err) {
		log_error("%s: cannot read the interface: %s", ifname, nl_geterror(err));
		return EIO;
	}
	return 0;
}

/* Set IFF_UP on or off through one change request. */
static int link_set_up(struct netup *n, int ifindex, const char *ifname, bool up)
{
	struct rtnl_link *change = rtnl_link_alloc();
	int err;

	if (!change)
		return ENOMEM;
	if (up)
		rtnl_link_set_flags(change, IFF_UP);
	else
		rtnl_link_unset_flags(change, IFF_UP);
	err = link_change(n, ifindex, ifname, change, up ? "set the link up" : "set the link down");
	rtnl_link_put(change);
	return err;
}

/* The loopback interface up: sbcd's control socket peers and 127.0.0.1 need it. */
int netup_lo_up(struct netup *n)
{
	struct rtnl_link *lo = NULL;
	bool up;
	int err = link_by_name(n, "lo", &lo);

	if (err) {
		log_error("lo: cannot read the interface: %s", nl_geterror(err));
		return EIO;
	}
	up = (rtnl_link_get_flags(lo) & IFF_UP) != 0;
	err = 0;
	if (!up) {
		netup_act(n, "lo", "set the link up");
		if (!n->dry)
			err = link_set_up(n, rtnl_link_get_ifindex(lo), "lo", true);
	}
	rtnl_link_put(lo);
	return err;
}

/* Rename p's interface to the zone's name; the kernel renames only a link that is down. */
static int link_rename(struct netup *n, struct netup_port *p, bool up)
{
	const char *zname = p->z->interface;
	struct rtnl_link *change;
	int err;

	netup_act(n, zname, "rename %s to %s%s", p->name, zname, up ? " (set down first)" : "");
	if (n->dry)
		return 0;
	if (up) {
		err = link_set_up(n, p->ifindex, p->name, false);
		if (err)
			return err;
	}
	change = rtnl_link_alloc();
	if (!change)
		return ENOMEM;
	rtnl_link_set_name(change, zname);
	err = link_change(n, p->ifindex, p->name, change, "rename the interface");
	rtnl_link_put(change);
	if (!err) {
		snprintf(p->name, sizeof(p->name), "%s", zname);
		p->rename = false;
	}
	return err;
}

/* The configured MTU, when there is one and the link differs. */
static int link_mtu(struct netup *n, const struct netup_port *p, unsigned now)
{
	const char *zname = p->z->interface;
	struct rtnl_link *change;
	int err;

	if (!p->z->mtu || p->z->mtu == now)
		return 0;
	netup_act(n, zname, "set mtu %u (was %u)", p->z->mtu, now);
	if (n->dry)
		return 0;
	change = rtnl_link_alloc();
	if (!change)
		return ENOMEM;
	rtnl_link_set_mtu(change, p->z->mtu);
	err = link_change(n, p->ifindex, p->name, change, "set the mtu");
	rtnl_link_put(change);
	return err;
}

/* Everything before the addresses: the zone's name, then the MTU. */
int netup_link_prepare(struct netup *n, struct netup_port *p)
{
	struct rtnl_link *link = NULL;
	unsigned mtu;
	bool up;
	int err = link_get(n, p->ifindex, p->name, &link);

	if (err)
		return err;
	up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
	mtu = rtnl_link_get_mtu(link);
	rtnl_link_put(link);
	if (p->rename) {
		err = link_rename(n, p, up);
		if (err)
			return err;
	}
	return link_mtu(n, p, mtu);
}

/* The port up, once it has its name, sysctls and address. */
int netup_link_up(struct netup *n, const struct netup_port *p)
{
	struct rtnl_link *link = NULL;
	bool up;
	int err = link_get(n, p->ifindex, p->name, &link);

	if (err)
		return err;
	up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
	rtnl_link_put(link);
	if (up && !p->rename)
		return 0;
	netup_act(n, p->z->interface, "set the link up");
	return n->dry ? 0 : link_set_up(n, p->ifindex, p->name, true);
}
