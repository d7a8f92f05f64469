/* main: sbcd's command line; everything else is in sbcd.c. */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sbcd.h"

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
	bool check = false;
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

	log_setup("sbcd", opts.level, false);
	err = sbcd_alloc(&s, &opts);
	if (err)
		return err == EINVAL ? SBCD_EXIT_CONFIG : SBCD_EXIT_FAIL;
	err = sbcd_run(s);
	mem_deref(s);
	libevent_global_shutdown();
	return err ? SBCD_EXIT_FAIL : SBCD_EXIT_OK;
}
