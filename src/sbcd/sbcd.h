/* sbcd: the daemon's state, start-up, event loop, reload and shutdown. */
#ifndef SBC_SBCD_H
#define SBC_SBCD_H

#include <stdbool.h>

#include "config/config.h"

#define SBC_VERSION "0.1.0"

/* Exit codes of sbcd. */
#define SBCD_EXIT_OK      0
#define SBCD_EXIT_FAIL    1    /* could not start or run */
#define SBCD_EXIT_CONFIG  2    /* the configuration has errors */
#define SBCD_EXIT_USAGE   64   /* EX_USAGE */

#define SBCD_DEFAULT_CONFIG  "/etc/sbc/sbc.ini"
#define SBCD_DEFAULT_PIDFILE "/run/sbc/sbcd.pid"

struct sbcd_opts {
	const char *config_path;
	bool daemonize;
	const char *pid_file;          /* NULL: none in the foreground, SBCD_DEFAULT_PIDFILE with -d */
	bool level_set;                /* -l given: it overrides [general] log_level, reloads included */
	enum log_level level;
};

struct sbcd;

int sbcd_check(const char *path);
int sbcd_alloc(struct sbcd **sp, const struct sbcd_opts *opts);
int sbcd_run(struct sbcd *s);

#endif
