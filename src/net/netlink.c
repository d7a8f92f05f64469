/* netlink: zone interfaces, their addresses and link state, and their changes (libnl-route-3). */
#include <errno.h>
#include <event2/event.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <string.h>

#include "net.h"

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000   /* linux/if.h: carrier up; net/if.h lacks it */
#endif

static void nladdr_to_sa(struct nl_addr *a, struct sockaddr_storage *sa)
{
	memset(sa, 0, sizeof(*sa));
	if (nl_addr_get_family(a) == AF_INET && nl_addr_get_len(a) == 4) {
		struct sockaddr_in *sin = (struct sockaddr_in *)(void *)sa;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, nl_addr_get_binary_addr(a), 4);
	} else if (nl_addr_get_family(a) == AF_INET6 && nl_addr_get_len(a) == 16) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)(void *)sa;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, nl_addr_get_binary_addr(a), 16);
	}
}

static void link_state(struct rtnl_link *link, bool *up, bool *running)
{
	unsigned flags = rtnl_link_get_flags(link);

	*up = (flags & IFF_UP) != 0;
	*running = (flags & IFF_RUNNING) || (flags & IFF_LOWER_UP);
}

/*
 * Read an interface by name: index, link state and its addresses. ENODEV
 * when there is no such interface; other errno values when netlink fails.
 */
int net_iface_get(const char *name, struct net_iface *ifc)
{
	struct nl_sock *sk = nl_socket_alloc();
	struct rtnl_link *link = NULL;
	struct nl_cache *addrs = NULL;
	struct nl_addr *hw;
	int err = 0;

	memset(ifc, 0, sizeof(*ifc));
	if (!sk)
		return ENOMEM;
	if (nl_connect(sk, NETLINK_ROUTE) < 0) {
		err = EPERM;
		goto out;
	}
	if (rtnl_link_get_kernel(sk, 0, name, &link) < 0) {
		err = ENODEV;
		goto out;
	}
	snprintf(ifc->name, sizeof(ifc->name), "%s", name);
	ifc->ifindex = rtnl_link_get_ifindex(link);
	ifc->loopback = (rtnl_link_get_flags(link) & IFF_LOOPBACK) != 0;
	link_state(link, &ifc->up, &ifc->running);
	hw = rtnl_link_get_addr(link);
	if (hw && nl_addr_get_len(hw) == sizeof(ifc->mac)) {
		memcpy(ifc->mac, nl_addr_get_binary_addr(hw), sizeof(ifc->mac));
		ifc->has_mac = true;
	}
	if (rtnl_addr_alloc_cache(sk, &addrs) < 0) {
		err = EIO;
		goto out;
	}
	for (struct nl_object *o = nl_cache_get_first(addrs); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);

		if (rtnl_addr_get_ifindex(a) != ifc->ifindex || !local)
			continue;
		if (ifc->naddrs == NET_IFACE_MAX_ADDRS)
			break;
		nladdr_to_sa(local, &ifc->addr[ifc->naddrs]);
		if (!ifc->addr[ifc->naddrs].ss_family)
			continue;
		ifc->prefixlen[ifc->naddrs] = (uint8_t)rtnl_addr_get_prefixlen(a);
		ifc->naddrs++;
	}
 out:
	if (addrs)
		nl_cache_free(addrs);
	if (link)
		rtnl_link_put(link);
	nl_socket_free(sk);
	return err;
}

static bool prefix_match(const struct sockaddr_storage *a, const struct sockaddr_storage *b,
			 unsigned plen)
{
	const uint8_t *pa, *pb;
	unsigned bytes;

	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		pa = (const uint8_t *)&((const struct sockaddr_in *)(const void *)a)->sin_addr;
		pb = (const uint8_t *)&((const struct sockaddr_in *)(const void *)b)->sin_addr;
		plen = MIN(plen, 32u);
	} else {
		pa = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)a)->sin6_addr;
		pb = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)b)->sin6_addr;
		plen = MIN(plen, 128u);
	}
	bytes = plen / 8;
	if (memcmp(pa, pb, bytes) != 0)
		return false;
	if (plen % 8) {
		uint8_t mask = (uint8_t)(0xff << (8 - plen % 8));

		return (pa[bytes] & mask) == (pb[bytes] & mask);
	}
	return true;
}

/*
 * Is sa one of the interface's addresses? On a loopback interface any
 * address inside its prefix counts (127.0.0.2 on lo), as the kernel
 * delivers those locally; elsewhere only exact addresses do.
 */
bool net_iface_has_addr(const struct net_iface *ifc, const struct sockaddr_storage *sa)
{
	for (size_t i = 0; i < ifc->naddrs; i++) {
		if (net_sa_eq_ip(&ifc->addr[i], sa))
			return true;
		if (ifc->loopback && prefix_match(&ifc->addr[i], sa, ifc->prefixlen[i]))
			return true;
	}
	return false;
}

struct net_monitor {
	struct nl_sock *sk;
	struct event *ev;
	net_link_h *lh;
	net_addr_h *ah;
	void *arg;
	int msgtype;
};

static void monitor_destroy(void *data)
{
	struct net_monitor *m = data;

	if (m->ev)
		event_free(m->ev);
	if (m->sk)
		nl_socket_free(m->sk);
}

static void monitor_object(struct nl_object *o, void *arg)
{
	struct net_monitor *m = arg;
	const char *type = nl_object_get_type(o);

	if (strcmp(type, "route/link") == 0 && m->lh) {
		struct rtnl_link *link = (struct rtnl_link *)o;
		const char *name = rtnl_link_get_name(link);
		bool up, running;

		link_state(link, &up, &running);
		if (m->msgtype == RTM_DELLINK)
			up = running = false;
		m->lh(rtnl_link_get_ifindex(link), name ? name : "?", up, running, m->arg);
	} else if (strcmp(type, "route/addr") == 0 && m->ah) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;
		struct nl_addr *local = rtnl_addr_get_local(a);
		struct sockaddr_storage sa;

		if (!local)
			return;
		nladdr_to_sa(local, &sa);
		if (!sa.ss_family)
			return;
		m->ah(rtnl_addr_get_ifindex(a), &sa, rtnl_addr_get_prefixlen(a),
		      m->msgtype == RTM_NEWADDR, m->arg);
	}
}

static int monitor_msg(struct nl_msg *msg, void *arg)
{
	struct net_monitor *m = arg;

	m->msgtype = nlmsg_hdr(msg)->nlmsg_type;
	nl_msg_parse(msg, monitor_object, m);
	return NL_OK;
}

static void monitor_readable(evutil_socket_t fd, short what, void *arg)
{
	struct net_monitor *m = arg;

	(void)fd;
	(void)what;
	nl_recvmsgs_default(m->sk);
}

/* Follow link and address changes of every interface; the handlers filter. */
int net_monitor_alloc(struct net_monitor **mp, struct event_base *base, net_link_h *lh,
		      net_addr_h *ah, void *arg)
{
	struct net_monitor *m = mem_zalloc(sizeof(*m), monitor_destroy);
	int err = EIO;

	if (!m)
		return ENOMEM;
	m->lh = lh;
	m->ah = ah;
	m->arg = arg;
	m->sk = nl_socket_alloc();
	if (!m->sk) {
		err = ENOMEM;
		goto out_free;
	}
	nl_socket_disable_seq_check(m->sk);
	nl_socket_modify_cb(m->sk, NL_CB_VALID, NL_CB_CUSTOM, monitor_msg, m);
	if (nl_connect(m->sk, NETLINK_ROUTE) < 0 ||
	    nl_socket_add_memberships(m->sk, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR,
				      RTNLGRP_IPV6_IFADDR, 0) < 0 ||
	    nl_socket_set_nonblocking(m->sk) < 0)
		goto out_free;
	m->ev = event_new(base, nl_socket_get_fd(m->sk), EV_READ | EV_PERSIST,
			  monitor_readable, m);
	if (!m->ev || event_add(m->ev, NULL) == -1) {
		err = ENOMEM;
		goto out_free;
	}
	*mp = m;
	return 0;

 out_free:
	mem_deref(m);
	return err;
}
