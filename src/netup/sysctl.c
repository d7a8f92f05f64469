/* sysctl: the per-port kernel settings of an appliance's two ports, written to /proc/sys (docs/netup.md "Sysctls"). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "netup.h"

#define SYSCTL_VALUE_MAX 32

enum port_mask { ON_WAN = 1u << ZONE_PUBLIC, ON_LAN = 1u << ZONE_PRIVATE, ON_BOTH = ON_WAN | ON_LAN };

/* One setting: net.FAMILY.conf.IFNAME.KEY = value (IFNAME "all" when all is set). */
struct sysctl_set {
	const char *family;            /* "ipv4" or "ipv6" */
	const char *key;
	const char *value;
	unsigned ports;                /* enum port_mask */
	bool all;                      /* conf/all rather than the port's conf */
};

/*
 * Why each one is there: docs/netup.md "Sysctls". The ipv4 accept_redirects
 * of a host is the OR of conf/all and the port's, so both are cleared
 * (conf/all once, with the WAN port).
 */
static const struct sysctl_set settings[] = {
	{ "ipv4", "rp_filter", "1", ON_WAN, false },
	{ "ipv4", "accept_redirects", "0", ON_BOTH, false },
	{ "ipv4", "accept_redirects", "0", ON_WAN, true },
	{ "ipv4", "arp_ignore", "1", ON_BOTH, false },
	{ "ipv4", "arp_announce", "2", ON_BOTH, false },
	{ "ipv6", "accept_ra", "0", ON_BOTH, false },
	{ "ipv6", "autoconf", "0", ON_BOTH, false },
	{ "ipv6", "accept_redirects", "0", ON_BOTH, false },
};

/* Read a sysctl file's first line, without its newline, into buf. */
static int sysctl_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd == -1)
		return errno;
	r = read(fd, buf, size - 1);
	close(fd);
	if (r == -1)
		return errno;
	buf[r] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* Write value (one line) to a sysctl file. */
static int sysctl_write(const char *path, const char *value)
{
	char line[SYSCTL_VALUE_MAX + 2];
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	int n = snprintf(line, sizeof(line), "%s\n", value), err = 0;
	ssize_t w;

	if (fd == -1)
		return errno;
	w = write(fd, line, (size_t)n);
	if (w == -1)
		err = errno;
	else if (w != n)
		err = EIO;
	close(fd);
	return err;
}

/*
 * One setting on the interface ifname (the port's name now); shown under
 * the zone's name. A missing ipv6 tree (IPv6 not built or disabled at
 * boot) skips the IPv6 settings.
 */
static int sysctl_one(struct netup *n, const struct sysctl_set *s, const char *ifname, const char *zname)
{
	char path[128], now[SYSCTL_VALUE_MAX];
	const char *dev = s->all ? "all" : ifname;
	int err;

	snprintf(path, sizeof(path), "/proc/sys/net/%s/conf/%s/%s", s->family, dev, s->key);
	err = sysctl_read(path, now, sizeof(now));
	if (err == ENOENT && strcmp(s->family, "ipv6") == 0 && access("/proc/sys/net/ipv6", F_OK) == -1)
		return 0;
	if (err) {
		log_error("%s: cannot read %s: %s", zname, path, strerror(err));
		return err;
	}
	if (strcmp(now, s->value) == 0)
		return 0;
	netup_act(n, zname, "set net.%s.conf.%s.%s = %s (was %s)", s->family, s->all ? "all" : zname,
		  s->key, s->value, now);
	if (n->dry)
		return 0;
	err = sysctl_write(path, s->value);
	if (err)
		log_error("%s: cannot write %s: %s", zname, path, strerror(err));
	return err;
}

/* Every setting of p's zone, before its link goes up (no router advertisement is taken meanwhile). */
int netup_sysctl_apply(struct netup *n, const struct netup_port *p)
{
	unsigned bit = 1u << p->z->id;

	for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
		int err;

		if (!(settings[i].ports & bit))
			continue;
		err = sysctl_one(n, &settings[i], p->name, p->z->interface);
		if (err)
			return err;
	}
	return 0;
}
