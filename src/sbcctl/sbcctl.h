/* sbcctl.h: what the parts of sbcctl share: exit codes, options, the exchange with sbcd. */
#ifndef SBCCTL_H
#define SBCCTL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Exit codes scripts can rely on (docs/sbcctl.md). */
enum {
	EXIT_OKAY       = 0,   /* done */
	EXIT_FAILED     = 1,   /* sbcd answered ok: false, or the command's verdict is no */
	EXIT_USAGE      = 2,   /* unknown command, bad arguments */
	EXIT_UNREACHED  = 3,   /* no socket, refused, timeout, closed without an answer */
	EXIT_MALFORMED  = 4,   /* the answer is not a valid response */
};

struct opts {
	const char *socket;
	double timeout_s;
	bool json;
	bool all;
};

struct command;
struct listing;

/* One run of a command: what was asked and what goes to sbcd. */
struct run {
	const struct opts *o;
	const struct command *c;
	int argc;              /* the words after the command's own */
	char **argv;
	const char *name;      /* the control command: c->name, or call's CMD */
	json_t *args;          /* its "args" (owned), or NULL for none */
};

/* A command of the command line, mapped to one control command. */
struct command {
	const char *words;     /* "guard allow add" */
	const char *name;      /* the control command, "guard.allow.add"; NULL: set by parse */
	const char *synopsis;  /* its arguments, "CIDR [NOTE]"; NULL: none */
	const char *help;      /* what it does, for the usage ("\n" continues it) */
	/* the words after the command's into r->args (NULL: it takes none); an exit code */
	int (*parse)(struct run *r);
	/* the result for people (NULL: as JSON); an exit code */
	int (*print)(const json_t *res, const struct run *r);
	/* the exit code a successful result means, also under --json (NULL: 0) */
	int (*verdict)(const json_t *res, const struct run *r);
	/* for the generic parse and print functions of commands.c (unused: zero) */
	const char *arg_keys[2];          /* parse_words: the keys of the words, in order */
	int arg_min;                      /* parse_words: how many words are required */
	const struct listing *list;       /* print_listing: the table of the result */
	struct { const char *what, *key; } done;   /* print_done: "WHAT res[KEY]" */
};

extern const struct command sbcctl_commands[];
extern const size_t sbcctl_commands_n;

int print_json(const json_t *res, const struct run *r);
int ctl_encode(const char *cmd, json_t *args, char **textp, size_t *lenp);
int ctl_call(const struct opts *o, const char *cmd, json_t *args, json_t **resultp);
int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int out_of_memory(void);

#endif
