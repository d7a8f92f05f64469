/* main: sbc-webd's command line and start-up: configuration, listen address, state, TLS, privilege split, event loop. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "webd_int.h"

#define TICK_S  60   /* the rate limit's log line, at most this often */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sbc-webd [-d] [-c FILE] [-w WEBROOT] [-l LEVEL]\n"
		"       sbc-webd -t [-c FILE] [-w WEBROOT]\n"
		"       sbc-webd --init [-c FILE] [-l LEVEL]\n"
		"  -c FILE     configuration file (default %s)\n"
		"  -w WEBROOT  the web UI's files (default %s)\n"
		"  -d          run in the background (daemon), log to syslog\n"
		"              (without it: in the foreground, logging to stderr, as sbcd)\n"
		"  -l LEVEL    log level error|warn|info|debug, overriding [general] log_level\n"
		"  -t          check the configuration, listen address, user and web root; exit\n"
		"  --init      first boot: make what is missing in <data_dir>/web (certificate,\n"
		"              session key, setup token), print how to log in; exit\n"
		"  -V          print the version\n"
		"  -h          this help\n",
		WEBD_DEFAULT_CONFIG, WEBD_DEFAULT_WEBROOT);
}

/* Options into o; WEBD_EXIT_OK to go on, or the code to exit with (-1 for -h/-V). */
static int parse_opts(int argc, char **argv, struct webd_opts *o)
{
	static const struct option longopts[] = {
		{ "init", no_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:w:dl:tVh", longopts, NULL)) != -1) {
		switch (c) {
		case 'I':
			o->init = true;
			break;
		case 'c':
			o->config_path = optarg;
			break;
		case 'w':
			o->webroot = optarg;
			break;
		case 'd':
			o->daemonize = true;
			break;
		case 'l':
			if (log_level_parse(optarg, &o->level)) {
				fprintf(stderr, "sbc-webd: -l %s: not one of error, warn, info, debug\n",
					optarg);
				return WEBD_EXIT_USAGE;
			}
			o->level_set = true;
			break;
		case 't':
			o->check = true;
			break;
		case 'V':
			printf("sbc-webd %s\n", SBC_VERSION);
			return -1;
		case 'h':
			usage(stdout);
			return -1;
		default:
			usage(stderr);
			return WEBD_EXIT_USAGE;
		}
	}
	if (o->init && (o->check || o->daemonize)) {
		fprintf(stderr, "sbc-webd: --init goes with neither -t nor -d\n");
		return WEBD_EXIT_USAGE;
	}
	if (optind != argc) {
		fprintf(stderr, "sbc-webd: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		return WEBD_EXIT_USAGE;
	}
	return WEBD_EXIT_OK;
}

/* Load -c FILE; its errors go to stderr, one per line. */
static int config_read(struct webd *w)
{
	struct config_errors *errs = calloc(1, sizeof(*errs));
	int err;

	if (!errs)
		return ENOMEM;
	err = config_load(&w->cfg, w->opts.config_path, errs);
	if (err == EINVAL)
		config_errors_print(errs, stderr);
	else if (err)
		fprintf(stderr, "%s: %s\n", w->opts.config_path, strerror(err));
	free(errs);
	return err;
}

/*
 * The one address of the private interface, as sbcd takes a zone's
 * address from its interface: the IPv4 address, else the global IPv6
 * one; several of a kind is an error (say which in the configuration).
 */
static int iface_address(const char *name, struct sockaddr_storage *sa)
{
	struct net_iface ifc;
	int err = net_iface_get(name, &ifc), found = -1;

	if (err) {
		log_error("[web] listen is not set and [private] has no address: interface %s: %s",
			  name, err == ENODEV ? "not found" : strerror(err));
		return err;
	}
	for (int fam = 0; fam < 2 && found < 0; fam++) {
		unsigned n = 0;

		for (size_t i = 0; i < ifc.naddrs; i++) {
			const struct sockaddr_storage *a = &ifc.addr[i];

			if (a->ss_family != (fam ? AF_INET6 : AF_INET))
				continue;
			if (fam && ((const uint8_t *)&((const struct sockaddr_in6 *)(const void *)a)
				    ->sin6_addr)[0] == 0xfe)
				continue;   /* link-local */
			n++;
			found = (int)i;
		}
		if (n > 1) {
			log_error("[web] listen is not set and interface %s has several addresses: "
				  "set [web] listen or [private] address", name);
			return EADDRNOTAVAIL;
		}
	}
	if (found < 0) {
		log_error("[web] listen is not set and interface %s has no address: set [web] listen "
			  "or [private] address", name);
		return EADDRNOTAVAIL;
	}
	*sa = ifc.addr[found];
	return 0;
}

/* [web] listen, else the private zone's address (configured, else its interface's), port 443. */
static int listen_resolve(struct webd *w)
{
	const struct config_endpoint *l = &w->cfg->web.listen;
	char ip[INET6_ADDRSTRLEN];
	int err;

	if (l->addr.set) {
		w->listen = l->addr.ss;
	} else {
		err = iface_address(config_zone(w->cfg, ZONE_PRIVATE)->interface, &w->listen);
		if (err)
			return err;
	}
	w->listen_port = l->port;
	net_sa_set_port(&w->listen, l->port);
	net_sa_ip_str(&w->listen, ip, sizeof(ip));
	snprintf(w->listen_host, sizeof(w->listen_host),
		 w->listen.ss_family == AF_INET6 ? "[%s]" : "%s", ip);
	return 0;
}

/* The UI's URL: https://HOST/, with :PORT unless it is 443. */
static void url_text(const struct webd *w, char *buf, size_t size)
{
	if (w->listen_port == 443)
		snprintf(buf, size, "https://%s/", w->listen_host);
	else
		snprintf(buf, size, "https://%s:%u/", w->listen_host, w->listen_port);
}

/* The unprivileged user: it must exist and must not be root. */
static int user_lookup(struct webd *w)
{
	const char *name = w->cfg->web.user;
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(name);
	if (!pw) {
		log_error("user %s does not exist (useradd --system --no-create-home --shell "
			  "/usr/sbin/nologin %s)", name, name);
		return ENOENT;
	}
	if (pw->pw_uid == 0 || pw->pw_gid == 0) {
		log_error("[web] user %s is root or in group root: choose an unprivileged user", name);
		return EPERM;
	}
	snprintf(w->user, sizeof(w->user), "%s", name);
	w->uid = pw->pw_uid;
	w->gid = pw->pw_gid;
	return 0;
}

static int webroot_open(struct webd *w)
{
	w->root_fd = open(w->opts.webroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->root_fd == -1) {
		log_error("web root %s: %s", w->opts.webroot, strerror(errno));
		return errno;
	}
	return 0;
}

/* Bind and listen before the privileges go (port 443). */
static int listen_bind(struct webd *w)
{
	int one = 1, fd, err;

	fd = socket(w->listen.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (w->listen.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&w->listen, net_sa_len(&w->listen)) == -1 ||
	    listen(fd, WEBD_LISTEN_BACKLOG) == -1) {
		err = errno;
		log_error("cannot listen on %s port %u: %s", w->listen_host, w->listen_port,
			  strerror(err));
		close(fd);
		return err;
	}
	w->listen_fd = fd;
	return 0;
}

/* sbc-webd -t: what a start would need, without changing anything. */
static int check_only(struct webd *w)
{
	struct stat st;
	int err;

	err = listen_resolve(w);
	if (!err && geteuid() == 0)
		err = user_lookup(w);
	if (!err && stat(w->opts.webroot, &st) == -1) {
		err = errno;
		log_error("web root %s: %s", w->opts.webroot, strerror(err));
	} else if (!err && !S_ISDIR(st.st_mode)) {
		err = ENOTDIR;
		log_error("web root %s: %s", w->opts.webroot, strerror(err));
	}
	if (err)
		return WEBD_EXIT_FAIL;
	printf("%s: configuration OK; sbc-webd would listen on https://%s:%u/\n",
	       w->opts.config_path, w->listen_host, w->listen_port);
	return WEBD_EXIT_OK;
}

/*
 * Everything before the split, as root when started so; serving (not
 * --init) also opens the web root and binds the listener.
 */
static int prepare(struct webd *w, bool serving)
{
	int err;

	err = listen_resolve(w);
	if (!err && w->privsep)
		err = user_lookup(w);
	if (!err && serving)
		err = webroot_open(w);
	if (!err)
		err = webd_state_open(w);
	if (!err)
		err = webd_state_load(w);
	if (!err)
		err = webd_tls_setup(w);
	if (!err && serving)
		err = listen_bind(w);
	return err;
}

/*
 * sbc-webd --init (first boot, run as root before the services start):
 * what a start would make in <data_dir>/web and is missing is made (the
 * state folder, the certificate and key, session.key, the setup token,
 * the metrics token); nothing that exists is changed. Then the setup
 * instructions, or that setup is done, on stdout.
 */
static int init_only(struct webd *w)
{
	char url[INET6_ADDRSTRLEN + 32];
	int err;

	w->privsep = geteuid() == 0;
	err = prepare(w, false);
	if (err) {
		fprintf(stderr, "sbc-webd --init: cannot prepare %s/%s (see above)\n",
			w->cfg->general.data_dir, WEBD_STATE_DIR);
		return WEBD_EXIT_FAIL;
	}
	url_text(w, url, sizeof(url));
	if (w->has_password) {
		printf("sbc-webd: setup done: the web UI is at %s (log in with the admin password)\n",
		       url);
	} else {
		printf("sbc-webd: first login: %s setup token %s\n", url, w->setup_token);
		printf("sbc-webd: open %s in a browser on the LAN side, accept its self-signed "
		       "certificate, enter this setup token and choose the admin password "
		       "(%d to %d bytes).\n", url, WEBD_PW_MIN, WEBD_PW_MAX);
	}
	fflush(stdout);
	return WEBD_EXIT_OK;
}

/* SIGTERM, SIGINT: leave the loop; serve() then answers what waits and closes. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct webd *w = arg;

	(void)what;
	log_info("signal %d: stopping", (int)sig);
	event_base_loopbreak(w->base);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what;
	webd_api_stats_tick(arg);
}

/* The event loop of the serving process, until SIGTERM or SIGINT. */
static int serve(struct webd *w)
{
	struct timeval tick = { .tv_sec = TICK_S };
	sigset_t stop;
	int err = ENOMEM;

	w->base = event_base_new();
	if (!w->base)
		return ENOMEM;
	w->ev_term = evsignal_new(w->base, SIGTERM, on_signal, w);
	w->ev_int = evsignal_new(w->base, SIGINT, on_signal, w);
	w->ev_tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
	if (!w->ev_term || !w->ev_int || !w->ev_tick || evsignal_add(w->ev_term, NULL) ||
	    evsignal_add(w->ev_int, NULL) || event_add(w->ev_tick, &tick))
		goto out;
	err = ctlc_alloc(&w->ctl, w);
	if (!err)
		err = webd_worker_alloc(&w->worker, w);
	if (!err)
		err = webd_http_start(w);
	if (err)
		goto out;
	log_info("sbc-webd %s ready", SBC_VERSION);
	event_base_dispatch(w->base);
 out:
	/*
	 * A second SIGTERM (the parent passes on the one a process group got
	 * too) must not kill us while libevent's handlers are being removed.
	 */
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	sigprocmask(SIG_BLOCK, &stop, NULL);
	/* answer what waits (503) while the connections still exist, then close them */
	webd_worker_free(w->worker);
	w->worker = NULL;
	ctlc_free(w->ctl);
	w->ctl = NULL;
	webd_http_stop(w);
	if (w->ev_term)
		event_free(w->ev_term);
	if (w->ev_int)
		event_free(w->ev_int);
	if (w->ev_tick)
		event_free(w->ev_tick);
	event_base_free(w->base);
	w->base = NULL;
	return err;
}


static void cleanup(struct webd *w)
{
	if (w->listen_fd >= 0)
		close(w->listen_fd);
	if (w->root_fd >= 0)
		close(w->root_fd);
	if (w->state_fd >= 0)
		close(w->state_fd);
	if (w->priv_fd >= 0)
		close(w->priv_fd);
	SSL_CTX_free(w->tls);
	mem_deref(w->cfg);
	OPENSSL_cleanse(w, sizeof(*w));
}

/* Options, configuration, then check (-t) or prepare, split and serve. */
int main(int argc, char **argv)
{
	static struct webd web;
	struct webd *w = &web;
	bool parent = false;
	int rc, err;

	w->opts = (struct webd_opts){ .config_path = WEBD_DEFAULT_CONFIG,
				      .webroot = WEBD_DEFAULT_WEBROOT, .level = LOG_LVL_INFO };
	w->listen_fd = w->root_fd = w->state_fd = w->priv_fd = -1;
	rc = parse_opts(argc, argv, &w->opts);
	if (rc)
		return rc < 0 ? WEBD_EXIT_OK : rc;
	log_setup("sbc-webd", w->opts.level, false);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (config_read(w))
		return WEBD_EXIT_CONFIG;
	if (!w->opts.level_set)
		log_set_level(w->cfg->general.log_level);
	if (w->opts.check) {
		rc = check_only(w);
		goto out;
	}
	if (w->opts.init) {
		rc = init_only(w);
		goto out;
	}
	w->privsep = geteuid() == 0;
	webd_limit_init(&w->limit);
	rc = WEBD_EXIT_FAIL;
	if (prepare(w, true))
		goto out;
	if (!w->has_password) {
		char url[INET6_ADDRSTRLEN + 32];

		url_text(w, url, sizeof(url));
		printf("sbc-webd: first login: %s setup token %s\n", url, w->setup_token);
		fflush(stdout);
	}
	log_info("sbc-webd %s: https://%s:%u/, web root %s, state in %s/%s", SBC_VERSION,
		 w->listen_host, w->listen_port, w->opts.webroot, w->cfg->general.data_dir,
		 WEBD_STATE_DIR);
	if (w->opts.daemonize) {
		if (daemon(0, 0) == -1) {
			log_error("cannot go to the background: %s", strerror(errno));
			goto out;
		}
		log_setup("sbc-webd", w->opts.level_set ? w->opts.level : w->cfg->general.log_level,
			  true);
	} else if (w->cfg->general.log_target == CONFIG_LOG_SYSLOG) {
		log_setup("sbc-webd", w->opts.level_set ? w->opts.level : w->cfg->general.log_level,
			  true);
	}
	err = webd_priv_split(w, &parent, &rc);
	if (err) {
		rc = WEBD_EXIT_FAIL;
		goto out;
	}
	if (!parent)
		rc = serve(w) ? WEBD_EXIT_FAIL : WEBD_EXIT_OK;
 out:
	cleanup(w);
	libevent_global_shutdown();
	return rc;
}
