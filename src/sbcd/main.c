/* main: sbcd's command line, and running it again in place (system.restart); the rest is in sbcd.c. */
#include <errno.h>
#include <event2/event.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "sbcd_int.h"

/* Set in the environment of the re-executed image: the pid that asked for it. */
#define RESTART_ENV "SBCD_RESTART_PID"
/* Between the answer to system.restart and the end of the loop: time for the answer to leave. */
#define RESTART_GRACE_MS 100

static bool reexecuted;        /* this image replaced an sbcd of the same pid */
static char start_cwd[PATH_MAX];   /* where sbcd started: relative paths in argv mean it */

bool sbcd_reexecuted(void)
{
	return reexecuted;
}

/*
 * Was this image started by system.restart? The variable is taken out of
 * the environment so that nothing sbcd starts inherits it; a value that is
 * not this pid (left over in a shell) means nothing.
 */
static void restart_env_take(void)
{
	const char *v = getenv(RESTART_ENV);
	char *end;
	long pid;

	if (!v)
		return;
	errno = 0;
	pid = strtol(v, &end, 10);
	reexecuted = !errno && end != v && !*end && pid == (long)getpid();
	unsetenv(RESTART_ENV);
}

static void on_restart(evutil_socket_t fd, short what, void *arg)
{
	struct sbcd *s = arg;

	(void)fd;
	(void)what;
	log_info("restarting: shutting down");
	event_base_loopbreak(s->base);
}

/*
 * system.restart: answer, then after RESTART_GRACE_MS (the loop goes on
 * serving, and the answer is written) end the loop as SIGTERM does; main()
 * then shuts down and executes sbcd again. A second request while one is
 * under way gets the same answer.
 */
static int cmd_restart(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { NULL };
	static const struct timeval grace = { 0, RESTART_GRACE_MS * 1000 };
	struct sbcd *s = arg;
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	if (!s->restart) {
		if (evtimer_add(s->ev_restart, &grace) == -1) {
			snprintf(err, errlen, "cannot schedule the restart");
			return EIO;
		}
		log_info("restart requested through the control socket");
		s->restart = true;
	}
	*result = json_pack("{s:b}", "restarting", 1);
	return *result ? 0 : ENOMEM;
}

static const struct ctl_cmd_def system_cmds[] = {
	{ "system.restart", cmd_restart },
};

int sbcd_system_start(struct sbcd *s)
{
	if (!s->ctl)
		return 0;
	s->ev_restart = evtimer_new(s->base, on_restart, s);
	if (!s->ev_restart)
		return ENOMEM;
	return ctl_register_all(s->ctl, system_cmds, ARRAY_SIZE(system_cmds), s);
}

void sbcd_system_stop(struct sbcd *s)
{
	if (s->ctl)
		ctl_unregister_all(s->ctl, system_cmds, ARRAY_SIZE(system_cmds));
	if (s->ev_restart)
		event_free(s->ev_restart);
	s->ev_restart = NULL;
}

/*
 * A restarted daemon that could not start: the pid file the old image kept
 * for it names this pid and nobody will remove it. Only that file goes.
 */
static void restart_pid_file_drop(const struct sbcd_opts *opts)
{
	const char *path = opts->pid_file ? opts->pid_file : SBCD_DEFAULT_PIDFILE;
	char buf[32];
	ssize_t n;
	FILE *f;

	if (!reexecuted || !opts->daemonize || !(f = fopen(path, "re")))
		return;
	n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n > 0 ? n : 0] = '\0';
	if (strtol(buf, NULL, 10) == (long)getpid())
		unlink(path);
}

/*
 * After a graceful shutdown, run the same command line again in this
 * process: same pid, from the folder sbcd started in. Descriptors other
 * than 0-2 do not cross (close-on-exec). Returns only on failure, with the
 * reason logged.
 */
static int restart_exec(char **argv)
{
	char pid[24];
	int err;

	if (start_cwd[0] && chdir(start_cwd) == -1)
		log_warn("restart: cannot go back to %s: %s", start_cwd, strerror(errno));
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (setenv(RESTART_ENV, pid, 1) == -1) {
		err = errno;
		log_error("restart: %s: %s", RESTART_ENV, strerror(err));
		return err;
	}
	if (close_range(3, ~0u, CLOSE_RANGE_CLOEXEC) == -1)
		log_warn("restart: close_range: %s", strerror(errno));
	fflush(NULL);
	execv("/proc/self/exe", argv);
	err = errno;
	log_error("restart: cannot execute /proc/self/exe: %s", strerror(err));
	unsetenv(RESTART_ENV);
	return err;
}

/* The options, to stdout for -h and to stderr after a usage error. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: sbcd [-d] [-c FILE] [-l LEVEL] [-p PIDFILE]\n"
		"       sbcd -t [-c FILE]\n"
		"  -c FILE    configuration file (default %s)\n"
		"  -d         run in the background (pid file, log to syslog)\n"
		"  -l LEVEL   log level error|warn|info|debug, overriding [general] log_level\n"
		"  -p FILE    pid file (default %s with -d, none in the foreground)\n"
		"  -t         check the configuration and exit: 0 valid, 2 errors\n"
		"  -V         print the version\n"
		"  -h         this help\n",
		SBCD_DEFAULT_CONFIG, SBCD_DEFAULT_PIDFILE);
}

/* Parse the options, then check (-t) or run the daemon; exit codes in sbcd.h. */
int main(int argc, char **argv)
{
	struct sbcd_opts opts = { .config_path = SBCD_DEFAULT_CONFIG, .level = LOG_LVL_INFO };
	struct sbcd *s = NULL;
	char pid_file[PATH_MAX] = "";
	bool check = false, restart;
	int c, err;

	while ((c = getopt(argc, argv, "c:dl:p:tVh")) != -1) {
		switch (c) {
		case 'c':
			opts.config_path = optarg;
			break;
		case 'd':
			opts.daemonize = true;
			break;
		case 'l':
			if (log_level_parse(optarg, &opts.level)) {
				fprintf(stderr, "sbcd: -l %s: not one of error, warn, info, debug\n", optarg);
				return SBCD_EXIT_USAGE;
			}
			opts.level_set = true;
			break;
		case 'p':
			opts.pid_file = optarg;
			break;
		case 't':
			check = true;
			break;
		case 'V':
			printf("sbcd %s\n", SBC_VERSION);
			return SBCD_EXIT_OK;
		case 'h':
			usage(stdout);
			return SBCD_EXIT_OK;
		default:
			usage(stderr);
			return SBCD_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sbcd: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		return SBCD_EXIT_USAGE;
	}
	if (check) {
		err = sbcd_check(opts.config_path);
		return err == 0 ? SBCD_EXIT_OK : err == EINVAL ? SBCD_EXIT_CONFIG : SBCD_EXIT_FAIL;
	}

	restart_env_take();
	if (!getcwd(start_cwd, sizeof(start_cwd)))
		start_cwd[0] = '\0';
	log_setup("sbcd", opts.level, false);
	err = sbcd_alloc(&s, &opts);
	if (err) {
		restart_pid_file_drop(&opts);
		return err == EINVAL ? SBCD_EXIT_CONFIG : SBCD_EXIT_FAIL;
	}
	err = sbcd_run(s);
	restart = !err && s->restart;
	if (restart && s->pid_written)
		snprintf(pid_file, sizeof(pid_file), "%s", s->opts.pid_file);
	mem_deref(s);
	libevent_global_shutdown();
	if (restart) {
		restart_exec(argv);
		if (pid_file[0])
			unlink(pid_file);   /* kept for the new image, which did not come */
		return SBCD_EXIT_FAIL;
	}
	return err ? SBCD_EXIT_FAIL : SBCD_EXIT_OK;
}
