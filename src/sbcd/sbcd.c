/* sbcd: daemon state, start-up, the libevent loop, signals, configuration reload and shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "control.h"
#include "sbcd_int.h"

/* Log target and level from [general], unless -d or -l decide. */
static void log_configure(struct sbcd *s, const struct sbc_config *cfg)
{
	enum log_level lvl = s->opts.level_set ? s->opts.level : cfg->general.log_level;
	/* stderr is /dev/null once daemonised */
	bool use_syslog = cfg->general.log_target == CONFIG_LOG_SYSLOG || s->opts.daemonize;

	log_setup("sbcd", lvl, use_syslog);
}

/* Under -d, say where the log goes while stderr still reaches the operator. */
static int log_start(struct sbcd *s)
{
	if (s->opts.daemonize && s->cfg->general.log_target == CONFIG_LOG_STDERR)
		log_info("-d: logging to syslog instead of stderr");
	log_configure(s, s->cfg);
	return 0;
}

/* Apply a changed log_level or log_target; -l keeps its level. */
static int log_apply(struct sbcd *s, const struct sbc_config *next)
{
	const struct config_general *o = &s->cfg->general, *n = &next->general;

	if (o->log_level == n->log_level && o->log_target == n->log_target)
		return 0;
	log_configure(s, next);
	if (s->opts.level_set && o->log_level != n->log_level)
		log_info("log_level %s ignored: -l %s given on the command line",
			 log_level_name(n->log_level), log_level_name(s->opts.level));
	else if (o->log_level != n->log_level)
		log_info("log level is now %s", log_level_name(n->log_level));
	return 0;
}

/* mkdir -p: parents 0755, the last component with mode; an existing folder is kept as it is. */
static int dir_make(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	struct stat st;
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) == -1 && errno != EEXIST)
			return errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) == -1 && errno != EEXIST)
		return errno;
	if (stat(tmp, &st) == -1)
		return errno;
	return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

/* State lives in data_dir: make it (0700) before anything needs it. */
static int data_dir_start(struct sbcd *s)
{
	const char *dir = s->cfg->general.data_dir;
	int err = dir_make(dir, 0700);

	if (err)
		log_error("data_dir %s: %s", dir, strerror(err));
	return err;
}

/* Moving state at run time is not supported: say so. */
static int data_dir_apply(struct sbcd *s, const struct sbc_config *next)
{
	if (strcmp(s->cfg->general.data_dir, next->general.data_dir) != 0)
		log_warn("data_dir change to %s takes effect at the next start", next->general.data_dir);
	return 0;
}

/* One line per zone with what the operator configured, and the peers. */
static int summary_start(struct sbcd *s)
{
	const struct sbc_config *cfg = s->cfg;

	log_info("sbcd %s starting with %s", SBC_VERSION, s->opts.config_path);
	for (int i = 0; i < ZONE_COUNT; i++) {
		const struct config_zone *z = config_zone(cfg, (enum zone_id)i);

		log_info("zone %s: interface %s, address %s%s%s, sip udp %u tcp %u tls %u, rtp %u-%u, media %s",
			 config_zone_name(z->id), z->interface,
			 z->address.set ? z->address.text : "from the interface",
			 z->advertise.set ? ", advertise " : "", z->advertise.set ? z->advertise.text : "",
			 z->sip_udp, z->sip_tcp, z->sip_tls, z->rtp_ports.start, z->rtp_ports.end,
			 config_media_engine_name(z->media));
	}
	log_info("core %s port %u %s; %u trunk%s", cfg->core.address.name, cfg->core.port,
		 config_transport_name(cfg->core.transport), cfg->trunk_count,
		 cfg->trunk_count == 1 ? "" : "s");
	return 0;
}

/*
 * The modules in start order. A new module adds its hooks here and its state
 * to struct sbcd.
 */
static const struct sbcd_module modules[] = {
	{ "log", log_start, log_apply, NULL },
	{ "data_dir", data_dir_start, data_dir_apply, NULL },
	{ "control", sbcd_ctl_start, sbcd_ctl_apply, sbcd_ctl_stop },
	{ "summary", summary_start, NULL, NULL },
	{ "zones", sbcd_zones_start, sbcd_zones_apply, sbcd_zones_stop },
	{ "guard", sbcd_guard_start, sbcd_guard_apply, sbcd_guard_stop },
	{ "sip", sbcd_sip_start, sbcd_sip_apply, sbcd_sip_stop },
	{ "guardctl", sbcd_guardctl_start, NULL, sbcd_guardctl_stop },
	{ "callsctl", sbcd_callsctl_start, NULL, sbcd_callsctl_stop },
	{ "configctl", sbcd_configctl_start, NULL, sbcd_configctl_stop },
	{ "system", sbcd_system_start, NULL, sbcd_system_stop },
	{ "trace", sbcd_trace_start, NULL, sbcd_trace_stop },
};

/* Load path; on errors print them, one per line, to stderr. */
static int config_load_print(struct sbc_config **cfgp, const char *path, struct config_errors *errs)
{
	int err = config_load(cfgp, path, errs);

	if (err == EINVAL)
		config_errors_print(errs, stderr);
	else if (err)
		fprintf(stderr, "%s: %s\n", path, strerror(err));
	return err;
}

/* sbcd -t: check the file, print the verdict; 0 or EINVAL. */
int sbcd_check(const char *path)
{
	struct config_errors *errs = mem_zalloc(sizeof(*errs), NULL);
	struct sbc_config *cfg = NULL;
	int err;

	if (!errs)
		return ENOMEM;
	err = config_load_print(&cfg, path, errs);
	if (!err)
		printf("%s: configuration OK\n", path);
	mem_deref(cfg);
	mem_deref(errs);
	return err;
}

/*
 * SIGHUP: read the file again; swap it in only when it is valid, so a bad
 * edit never replaces the running configuration.
 */
void sbcd_reload(struct sbcd *s)
{
	struct sbc_config *next = NULL;
	int err;

	log_debug("SIGHUP: reading %s", s->opts.config_path);
	err = config_load(&next, s->opts.config_path, &s->errs);
	if (err) {
		for (unsigned i = 0; i < s->errs.n; i++)
			log_error("%s", s->errs.msg[i]);
		if (s->errs.dropped)
			log_error("(%u more errors not shown)", s->errs.dropped);
		if (err != EINVAL)
			log_error("%s: %s", s->opts.config_path, strerror(err));
		log_error("reload refused, keeping the running configuration");
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(modules); i++) {
		if (!modules[i].apply)
			continue;
		err = modules[i].apply(s, next);
		if (err)
			log_error("reload: %s: %s", modules[i].name, strerror(err));
	}
	mem_deref(s->cfg);
	s->cfg = next;
	log_info("configuration reloaded");
}

/* SIGHUP reloads; SIGTERM and SIGINT end the loop. */
static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct sbcd *s = arg;

	(void)what;
	if (sig == SIGHUP) {
		sbcd_reload(s);
		return;
	}
	log_info("%s: shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	s->restart = false;   /* a stop asked for now wins over a restart under way */
	event_base_loopbreak(s->base);
}

/* Runs at the first loop turn: everything before it has started. */
static void on_ready(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	log_info("sbcd ready");
}

/* Stop the modules in reverse order, free the loop, remove the pid file. */
static void sbcd_destroy(void *arg)
{
	struct sbcd *s = arg;

	for (size_t i = ARRAY_SIZE(modules); i-- > 0;) {
		if (modules[i].stop)
			modules[i].stop(s);
	}
	if (s->ev_ready)
		event_free(s->ev_ready);
	if (s->ev_hup)
		event_free(s->ev_hup);
	if (s->ev_int)
		event_free(s->ev_int);
	if (s->ev_term)
		event_free(s->ev_term);
	if (s->base)
		event_base_free(s->base);
	if (s->pid_written && !s->restart)   /* a restart keeps the pid, and so the file */
		unlink(s->opts.pid_file);
	mem_deref(s->cfg);
}

/* path made absolute against the current folder, so it survives daemon()'s chdir("/"). */
static int path_absolute(char *out, size_t size, const char *path)
{
	char cwd[PATH_MAX];
	int n;

	if (path[0] == '/')
		n = snprintf(out, size, "%s", path);
	else if (getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, size, "%s/%s", cwd, path);
	else
		return errno;
	return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
}

/*
 * -d, before anything starts: fork, and the parent waits for the child's
 * word on a pipe and exits with it: 0 once the child runs, failure if it
 * could not start (its errors went to the terminal, which it still has).
 * The child makes a session of its own and starts the modules: threads
 * they start (the media thread, lwIP's) are its own, which a fork after
 * the start would have lost. system.restart under -d is detached already:
 * no fork, the pid stays.
 */
static int detach_begin(struct sbcd *s)
{
	int fds[2], status = 0;
	ssize_t n;
	pid_t pid;

	s->ready_fd = -1;
	if (sbcd_reexecuted())
		return 0;
	if (pipe2(fds, O_CLOEXEC) == -1)
		return errno;
	pid = fork();
	if (pid == -1) {
		close(fds[0]);
		close(fds[1]);
		return errno;
	}
	if (pid > 0) {
		close(fds[1]);
		do
			n = read(fds[0], &status, sizeof(status));
		while (n == -1 && errno == EINTR);
		_exit(n == sizeof(status) && status == 0 ? SBCD_EXIT_OK : SBCD_EXIT_FAIL);
	}
	close(fds[0]);
	s->ready_fd = fds[1];
	if (setsid() == -1)
		log_warn("setsid: %s", strerror(errno));
	return 0;
}

/* Tell the waiting parent how the start went (0: running); once. */
static void detach_tell(struct sbcd *s, int err)
{
	if (s->ready_fd == -1)
		return;
	if (write(s->ready_fd, &err, sizeof(err)) != sizeof(err))
		log_warn("could not tell the starting process: %s", strerror(errno));
	close(s->ready_fd);
	s->ready_fd = -1;
}

/* Standard input and output to /dev/null once started: nobody reads them. */
static void stdio_null(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd == -1)
		return;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Started under -d: leave the folder, write the pid file (its folder made if missing). */
static int daemonize(struct sbcd *s)
{
	char pid[32];
	char dir[PATH_MAX];
	const char *slash;
	int n, err;

	err = path_absolute(s->pid_path, sizeof(s->pid_path),
			    s->opts.pid_file ? s->opts.pid_file : SBCD_DEFAULT_PIDFILE);
	if (err) {
		log_error("pid file: %s", strerror(err));
		return err;
	}
	s->opts.pid_file = s->pid_path;
	if (chdir("/") == -1)
		log_warn("chdir /: %s", strerror(errno));
	slash = strrchr(s->opts.pid_file, '/');
	if (slash && slash != s->opts.pid_file && (size_t)(slash - s->opts.pid_file) < sizeof(dir)) {
		memcpy(dir, s->opts.pid_file, (size_t)(slash - s->opts.pid_file));
		dir[slash - s->opts.pid_file] = '\0';
		dir_make(dir, 0755);
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	err = file_write_atomic(s->opts.pid_file, pid, (size_t)n, 0644);
	if (err) {
		log_error("pid file %s: %s", s->opts.pid_file, strerror(err));
		return err;
	}
	s->pid_written = true;
	return 0;
}

/* The event base, the signal events and the one-shot readiness timer. */
static int events_add(struct sbcd *s)
{
	static const struct timeval now = { 0, 0 };

	s->base = event_base_new();
	if (!s->base)
		return ENOMEM;
	s->ev_term = evsignal_new(s->base, SIGTERM, on_signal, s);
	s->ev_int = evsignal_new(s->base, SIGINT, on_signal, s);
	s->ev_hup = evsignal_new(s->base, SIGHUP, on_signal, s);
	s->ev_ready = evtimer_new(s->base, on_ready, s);
	if (!s->ev_term || !s->ev_int || !s->ev_hup || !s->ev_ready)
		return ENOMEM;
	if (evsignal_add(s->ev_term, NULL) || evsignal_add(s->ev_int, NULL) ||
	    evsignal_add(s->ev_hup, NULL) || evtimer_add(s->ev_ready, &now))
		return EIO;
	return 0;
}

/*
 * Under -d, fork first (detach_begin); make the loop, start the modules
 * in order (they open sockets on it); under -d, then write the pid file,
 * tell the parent, and let go of the terminal.
 */
static int sbcd_start(struct sbcd *s)
{
	int err = 0;

	s->ready_fd = -1;
	if (s->opts.daemonize) {
		err = detach_begin(s);
		if (err) {
			log_error("fork: %s", strerror(err));
			return err;
		}
	}
	err = events_add(s);
	if (err)
		log_error("event loop: %s", strerror(err));
	for (size_t i = 0; !err && i < ARRAY_SIZE(modules); i++) {
		err = modules[i].start ? modules[i].start(s) : 0;
		if (err)
			log_error("start: %s: %s", modules[i].name, strerror(err));
	}
	if (!err && s->opts.daemonize)
		err = daemonize(s);
	detach_tell(s, err);
	if (!err && s->opts.daemonize)
		stdio_null();
	return err;
}

/*
 * Load the configuration, set up logging and the modules, daemonise if
 * asked, and prepare the loop. Returns 0, EINVAL when the configuration
 * has errors (printed to stderr), or another errno value when start-up
 * failed (logged).
 */
int sbcd_alloc(struct sbcd **sp, const struct sbcd_opts *opts)
{
	struct sbcd *s;
	int err;

	signal(SIGPIPE, SIG_IGN);
	s = mem_zalloc(sizeof(*s), sbcd_destroy);
	if (!s)
		return ENOMEM;
	s->opts = *opts;
	err = path_absolute(s->config_path, sizeof(s->config_path), opts->config_path);
	if (err) {
		fprintf(stderr, "%s: %s\n", opts->config_path, strerror(err));
		err = EIO;
		goto out_free;
	}
	s->opts.config_path = s->config_path;
	err = config_load_print(&s->cfg, s->opts.config_path, &s->errs);
	if (!err) {
		err = sbcd_start(s);
		if (err == EINVAL)
			err = EIO;   /* EINVAL tells the caller about configuration errors */
	}
	if (err)
		goto out_free;
	*sp = s;
	return 0;

 out_free:
	mem_deref(s);
	return err;
}

/* Run the loop until SIGTERM or SIGINT; returns 0 or an errno value. */
int sbcd_run(struct sbcd *s)
{
	if (event_base_dispatch(s->base) == -1) {
		log_error("event loop failed");
		return EIO;
	}
	return 0;
}
