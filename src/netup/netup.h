/* netup: sbc-netup's parts, the network bring-up of the two zone ports from sbc.ini with libnl (docs/netup.md). */
#ifndef SBC_NETUP_H
#define SBC_NETUP_H

#include <net/if.h>
#include <stdbool.h>

#include "config/config.h"

#ifndef SBC_VERSION
#define SBC_VERSION "0.1.0"
#endif

#define NETUP_EXIT_OK      0
#define NETUP_EXIT_FAIL    1    /* a port is missing or the kernel refused a change */
#define NETUP_EXIT_CONFIG  2    /* the configuration has errors */
#define NETUP_EXIT_USAGE   64   /* EX_USAGE */

struct nl_sock;

/* One run: the netlink socket, -n, and the count of changes made (or, with -n, that would be). */
struct netup {
	struct nl_sock *sk;
	const struct sbc_config *cfg;
	bool dry;
	unsigned changes;
};

/* A zone's port: which kernel interface it is and what it is called now. */
struct netup_port {
	const struct config_zone *z;
	const char *kernel;           /* --wan / --lan: the kernel's name to rename, or NULL */
	int ifindex;
	char name[IFNAMSIZ];          /* the interface's name now (after a rename: the zone's) */
	bool rename;                  /* it is still called kernel */
};

/* Print one change, "IFNAME: WHAT" (with -n "IFNAME: would WHAT"), and count it. */
void netup_act(struct netup *n, const char *ifname, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* link.c */
int netup_port_resolve(struct netup *n, struct netup_port *p);
int netup_lo_up(struct netup *n);
int netup_link_prepare(struct netup *n, struct netup_port *p);
int netup_link_up(struct netup *n, const struct netup_port *p);

/* addr.c */
int netup_addr_apply(struct netup *n, const struct netup_port *p);

/* route.c */
int netup_routes_apply(struct netup *n, const struct netup_port *ports, unsigned nports);

/* sysctl.c */
int netup_sysctl_apply(struct netup *n, const struct netup_port *p);

#endif
