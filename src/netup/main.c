/* main: sbc-netup's command line: load sbc.ini, find both zone ports, then name, address, raise and route them. */
#include <errno.h>
#include <getopt.h>
#include <netlink/netlink.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netup.h"

#define NETUP_DEFAULT_CONFIG "/etc/sbc/sbc.ini"

struct netup_opts {
	const char *config_path;
	const char *kernel[ZONE_COUNT];       /* --wan, --lan */
	bool dry;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sbc-netup [-c FILE] [--wan KERNEL_IFNAME] [--lan KERNEL_IFNAME] [-n]\n"
		"  -c FILE        configuration file (default %s)\n"
		"  --wan IFNAME   the kernel's name of the WAN port, renamed to [public] interface\n"
		"                 when no interface has that name yet\n"
		"  --lan IFNAME   the same for the LAN port and [private] interface\n"
		"  -n             print what would change, change nothing\n"
		"  -v             log at debug level\n"
		"  -V             print the version\n"
		"  -h             this help\n"
		"exit: 0 done (or nothing to do), 1 failed, 2 configuration errors, 64 usage\n",
		NETUP_DEFAULT_CONFIG);
}

/* One change on stdout, flushed at once so that a later failure's log line follows it in order. */
void netup_act(struct netup *n, const char *ifname, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	printf("%s: %s%s\n", ifname, n->dry ? "would " : "", what);
	fflush(stdout);
	n->changes++;
}

/* An interface name given on the command line: 1-15 bytes, no '/', ':' or white space. */
static bool ifname_ok(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len < IFNAMSIZ && !strpbrk(s, "/: \t\n") && strcmp(s, ".") && strcmp(s, "..");
}

/* Options into o; NETUP_EXIT_OK to go on, or the code to exit with (-1 for -h/-V). */
static int parse_opts(int argc, char **argv, struct netup_opts *o)
{
	static const struct option longs[] = {
		{ "wan", required_argument, NULL, 'W' },
		{ "lan", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:nvVh", longs, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config_path = optarg;
			break;
		case 'W':
		case 'L':
			if (!ifname_ok(optarg)) {
				fprintf(stderr, "sbc-netup: --%s %s: not an interface name\n",
					c == 'W' ? "wan" : "lan", optarg);
				return NETUP_EXIT_USAGE;
			}
			o->kernel[c == 'W' ? ZONE_PUBLIC : ZONE_PRIVATE] = optarg;
			break;
		case 'n':
			o->dry = true;
			break;
		case 'v':
			log_set_level(LOG_LVL_DEBUG);
			break;
		case 'V':
			printf("sbc-netup %s\n", SBC_VERSION);
			return -1;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return NETUP_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sbc-netup: unexpected argument: %s\n", argv[optind]);
		return NETUP_EXIT_USAGE;
	}
	if (o->kernel[ZONE_PUBLIC] && o->kernel[ZONE_PRIVATE] &&
	    strcmp(o->kernel[ZONE_PUBLIC], o->kernel[ZONE_PRIVATE]) == 0) {
		fprintf(stderr, "sbc-netup: --wan and --lan are both %s\n", o->kernel[ZONE_PUBLIC]);
		return NETUP_EXIT_USAGE;
	}
	return NETUP_EXIT_OK;
}

/* Load and check the file; sbc-netup also needs the two zones on two interfaces. */
static int config_get(const char *path, struct sbc_config **cfgp)
{
	struct config_errors *errs = mem_zalloc(sizeof(*errs), NULL);
	const struct config_zone *pub, *priv;
	int err;

	if (!errs)
		return ENOMEM;
	err = config_load(cfgp, path, errs);
	if (err == EINVAL)
		config_errors_print(errs, stderr);
	mem_deref(errs);
	if (err)
		return err;
	pub = config_zone(*cfgp, ZONE_PUBLIC);
	priv = config_zone(*cfgp, ZONE_PRIVATE);
	if (strcmp(pub->interface, priv->interface) == 0) {
		fprintf(stderr, "%s: [private] interface: %s is also the [public] interface "
			"(sbc-netup brings up two ports)\n", path, priv->interface);
		*cfgp = mem_deref(*cfgp);
		return EINVAL;
	}
	return 0;
}

/* Both ports found, and not the same one, before anything changes. */
static int ports_resolve(struct netup *n, struct netup_port *ports)
{
	int err;

	for (int z = 0; z < ZONE_COUNT; z++) {
		err = netup_port_resolve(n, &ports[z]);
		if (err)
			return err;
	}
	if (ports[ZONE_PUBLIC].ifindex == ports[ZONE_PRIVATE].ifindex) {
		log_error("%s: it would be both the [public] and the [private] port", ports[ZONE_PUBLIC].name);
		return EINVAL;
	}
	return 0;
}

/* One port: name and MTU, sysctls, address, then up. */
static int port_apply(struct netup *n, struct netup_port *p)
{
	int err = netup_link_prepare(n, p);

	if (!err)
		err = netup_sysctl_apply(n, p);
	if (!err)
		err = netup_addr_apply(n, p);
	if (!err)
		err = netup_link_up(n, p);
	return err;
}

/* Everything in order; stops at the first failure (its error is logged). */
static int netup_run(struct netup *n, struct netup_port *ports)
{
	int err = ports_resolve(n, ports);

	if (!err)
		err = netup_lo_up(n);
	for (int z = 0; !err && z < ZONE_COUNT; z++)
		err = port_apply(n, &ports[z]);
	if (!err)
		err = netup_routes_apply(n, ports, ZONE_COUNT);
	return err;
}

/* A connected NETLINK_ROUTE socket into n->sk. */
static int netup_connect(struct netup *n)
{
	int err;

	n->sk = nl_socket_alloc();
	if (!n->sk)
		return ENOMEM;
	err = nl_connect(n->sk, NETLINK_ROUTE);
	if (err) {
		log_error("cannot open a netlink socket: %s", nl_geterror(err));
		nl_socket_free(n->sk);
		n->sk = NULL;
		return EIO;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct netup_opts o = { .config_path = NETUP_DEFAULT_CONFIG };
	struct netup n = { 0 };
	struct netup_port ports[ZONE_COUNT];
	struct sbc_config *cfg = NULL;
	int rc, err;

	log_setup("sbc-netup", LOG_LVL_INFO, false);
	rc = parse_opts(argc, argv, &o);
	if (rc)
		return rc < 0 ? NETUP_EXIT_OK : rc;
	err = config_get(o.config_path, &cfg);
	if (err)
		return err == EINVAL ? NETUP_EXIT_CONFIG : NETUP_EXIT_FAIL;
	n.cfg = cfg;
	n.dry = o.dry;
	for (int z = 0; z < ZONE_COUNT; z++) {
		memset(&ports[z], 0, sizeof(ports[z]));
		ports[z].z = config_zone(cfg, (enum zone_id)z);
		ports[z].kernel = o.kernel[z];
	}
	err = netup_connect(&n);
	if (!err)
		err = netup_run(&n, ports);
	if (!err && !n.changes)
		printf("sbc-netup: nothing to change\n");
	else if (!err)
		printf("sbc-netup: %u change%s%s\n", n.changes, n.changes == 1 ? "" : "s",
		       n.dry ? " to make (-n: none made)" : " made");
	if (n.sk)
		nl_socket_free(n.sk);
	mem_deref(cfg);
	return err ? NETUP_EXIT_FAIL : NETUP_EXIT_OK;
}
