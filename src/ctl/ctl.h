/* ctl: the control API: line-delimited JSON requests on an owner-only unix stream socket. */
#ifndef SBC_CTL_H
#define SBC_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Limits of the protocol (docs/control.md). */
#define CTL_LINE_MAX     (64 * 1024)  /* bytes of one request, newline excluded */
#define CTL_CLIENTS_MAX  32           /* connections at once; more are closed at accept */
#define CTL_IDLE_S       300          /* a client silent this long is closed */
#define CTL_NAME_MAX     48           /* command name, NUL included: [a-z0-9_.-] */
#define CTL_CMDS_MAX     256          /* registered commands, help included */
#define CTL_ERR_MAX      256          /* a handler's error message, NUL included */

struct ctl;
struct event_base;

/*
 * A command. args is the request's "args" object (an empty object when the
 * request had none) and is only borrowed. On success set *result to a new
 * reference (NULL becomes JSON null) and return 0; on failure write a
 * message to err (errlen bytes, NUL-terminated) and return an errno-style
 * code: EINVAL for bad arguments, ENOENT for something not found, ... An
 * empty message is replaced with strerror() of the code. A handler runs on
 * the loop and must not free the ctl; it may register and unregister
 * commands, itself included.
 */
typedef int (ctl_cmd_h)(const json_t *args, json_t **result, char *err, size_t errlen,
			void *arg);

struct ctl_stats {
	uint64_t requests;      /* lines answered, good or bad */
	uint64_t errors;        /* of them answered with ok: false */
	unsigned clients;       /* connected now */
	uint64_t accepted;
	uint64_t refused;       /* closed at accept: CTL_CLIENTS_MAX reached */
	uint64_t closed_idle;
	uint64_t closed_long;   /* closed after a line longer than CTL_LINE_MAX */
};

/* Per command, for ctl_cmd_stats(). */
struct ctl_cmd_stats {
	uint64_t calls;
	uint64_t errors;
};

int ctl_alloc(struct ctl **cp, struct event_base *base, const char *path);
int ctl_register(struct ctl *c, const char *name, ctl_cmd_h *h, void *arg);
void ctl_unregister(struct ctl *c, const char *name);

/* A module's commands as a table, registered and unregistered together. */
struct ctl_cmd_def {
	const char *name;
	ctl_cmd_h *h;
};
/* Every command of v with the same arg; on an error none of them stays registered. */
int ctl_register_all(struct ctl *c, const struct ctl_cmd_def *v, size_t n, void *arg);
void ctl_unregister_all(struct ctl *c, const struct ctl_cmd_def *v, size_t n);
const struct ctl_stats *ctl_stats(const struct ctl *c);
int ctl_cmd_stats(const struct ctl *c, const char *name, struct ctl_cmd_stats *st);
const char *ctl_path(const struct ctl *c);
/*
 * For handlers: refuse an argument not in keys (NULL-terminated), so that
 * a typo cannot pass for a default. 0, or EINVAL with a message in err.
 */
int ctl_args_only(const json_t *args, const char *const *keys, char *err, size_t errlen);

#endif
