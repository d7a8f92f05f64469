/* sbcctl: the command line over sbcd's control socket (docs/sbcctl.md, docs/control.md). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sbcctl.h"

#define SBCCTL_SOCKET_DEFAULT  "/run/sbc/sbcd.sock"
#define SBCCTL_TIMEOUT_DEFAULT 5.0
#define SBCCTL_TIMEOUT_MAX     3600.0
#define SBCCTL_USAGE_COL       32    /* the column where a command's help starts */

/* One command in the usage: its words and arguments, then its help from SBCCTL_USAGE_COL. */
static void usage_command(FILE *f, const struct command *c)
{
	int w = fprintf(f, "  %s%s%s", c->words, c->synopsis ? " " : "",
			c->synopsis ? c->synopsis : "");

	if (w < 0)
		return;
	if (w + 2 > SBCCTL_USAGE_COL) {
		fputc('\n', f);
		w = 0;
	}
	fprintf(f, "%*s", SBCCTL_USAGE_COL - w, "");
	for (const char *p = c->help; *p; p++) {
		fputc(*p, f);
		if (*p == '\n')
			fprintf(f, "%*s", SBCCTL_USAGE_COL, "");
	}
	fputc('\n', f);
}

static void usage(FILE *f)
{
	fputs("usage: sbcctl [-s SOCKET] [--json] [-t TIMEOUT_S] [--all] COMMAND [ARGS...]\n"
	      "\n"
	      "Commands:\n", f);
	for (size_t i = 0; i < sbcctl_commands_n; i++)
		usage_command(f, &sbcctl_commands[i]);
	fputs("\n"
	      "Options:\n"
	      "  -s, --socket SOCKET   control socket (default $SBCCTL_SOCKET, else "
	      SBCCTL_SOCKET_DEFAULT ")\n"
	      "  -j, --json            print the result as JSON, for scripts\n"
	      "  -t, --timeout SECS    give up after SECS seconds (default 5)\n"
	      "  -a, --all             guard stats: every reason, zero or not\n"
	      "  -h, --help            this text\n"
	      "\n"
	      "Exit status:\n"
	      "  0  success\n"
	      "  1  the command failed (sbcd's error on stderr), an invalid configuration,\n"
	      "     a FILE that cannot be read or sent\n"
	      "  2  usage error\n"
	      "  3  cannot reach sbcd (no socket, refused, timeout, closed without an answer)\n"
	      "  4  malformed response\n", f);
}

int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sbcctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	usage(stderr);
	return EXIT_USAGE;
}

int out_of_memory(void)
{
	fputs("sbcctl: out of memory\n", stderr);
	return EXIT_FAILED;
}

/* How many words of c begin argv: all of c's words, or 0. */
static int command_match(const struct command *c, int argc, char **argv)
{
	const char *w = c->words;
	int n = 0;

	while (*w) {
		size_t len = strcspn(w, " ");

		if (n == argc || strlen(argv[n]) != len || strncmp(argv[n], w, len) != 0)
			return 0;
		n++;
		w += len;
		if (*w == ' ')
			w++;
	}
	return n;
}

/* The command whose words are the longest start of argv (*nwordsp of them), or NULL. */
static const struct command *command_find(int argc, char **argv, int *nwordsp)
{
	const struct command *best = NULL;
	int bestn = 0;

	for (size_t i = 0; i < sbcctl_commands_n; i++) {
		int n = command_match(&sbcctl_commands[i], argc, argv);

		if (n > bestn) {
			best = &sbcctl_commands[i];
			bestn = n;
		}
	}
	*nwordsp = bestn;
	return best;
}

/* The usage error for words that name no command. */
static int unknown_command(int argc, char **argv)
{
	size_t len = strlen(argv[0]);

	for (size_t i = 0; i < sbcctl_commands_n; i++) {
		const char *w = sbcctl_commands[i].words;

		if (strncmp(w, argv[0], len) != 0 || w[len] != ' ')
			continue;
		if (argc == 1)
			return usage_error("\"%s\" needs a subcommand", argv[0]);
		return usage_error("unknown command \"%s %s\"", argv[0], argv[1]);
	}
	return usage_error("unknown command \"%s\"", argv[0]);
}

static int parse_timeout(const char *s, double *vp)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > SBCCTL_TIMEOUT_MAX)
		return EINVAL;
	*vp = v;
	return 0;
}

/* The options before the command; *optindp is where its words start. An exit code. */
static int parse_options(int argc, char **argv, struct opts *o, int *optindp)
{
	static const struct option longopts[] = {
		{ "socket",  required_argument, NULL, 's' },
		{ "json",    no_argument,       NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "all",     no_argument,       NULL, 'a' },
		{ "help",    no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+s:jt:ah", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'j':
			o->json = true;
			break;
		case 't':
			if (parse_timeout(optarg, &o->timeout_s))
				return usage_error("-t: \"%s\" is not a number of seconds in (0, %g]",
						   optarg, SBCCTL_TIMEOUT_MAX);
			break;
		case 'a':
			o->all = true;
			break;
		case 'h':
			usage(stdout);
			*optindp = -1;
			return EXIT_OKAY;
		default:
			if (optopt && strchr("st", optopt))
				return usage_error("-%c needs a value", optopt);
			if (optopt)
				return usage_error("unknown option -%c", optopt);
			return usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	*optindp = optind;
	return EXIT_OKAY;
}

/*
 * --json and --all may also come after the command's words, except after
 * call's, which go to sbcd as they are: take them out of argv. The new argc.
 */
static int take_late_options(int argc, char **argv, struct opts *o)
{
	int n = 0;

	if (argc && strcmp(argv[0], "call") == 0)
		return argc;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)
			o->json = true;
		else if (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "-a") == 0)
			o->all = true;
		else
			argv[n++] = argv[i];
	}
	return n;
}

/* Ask sbcd and print its answer: the exit code. */
static int run_command(struct run *r)
{
	const struct command *c = r->c;
	json_t *result = NULL;
	int rc;

	if (c->parse)
		rc = c->parse(r);
	else if (r->argc)
		rc = usage_error("unknown command or argument \"%s\" after \"%s\"", r->argv[0],
				 c->words);
	else
		rc = EXIT_OKAY;
	if (rc == EXIT_OKAY)
		rc = ctl_call(r->o, r->name, r->args, &result);
	if (rc == EXIT_OKAY) {
		if (r->o->json || !c->print)
			rc = print_json(result, r);
		else
			rc = c->print(result, r);
		if (rc == EXIT_OKAY && c->verdict)
			rc = c->verdict(result, r);
	}
	json_decref(result);
	json_decref(r->args);
	r->args = NULL;
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o = { .timeout_s = SBCCTL_TIMEOUT_DEFAULT };
	const char *env = getenv("SBCCTL_SOCKET");
	const struct command *c;
	struct run r = { .o = &o };
	int first = -1, nwords, rc;

	o.socket = env && *env ? env : SBCCTL_SOCKET_DEFAULT;
	rc = parse_options(argc, argv, &o, &first);
	if (rc != EXIT_OKAY || first < 0)
		return rc;
	argv += first;
	argc = take_late_options(argc - first, argv, &o);
	if (argc == 0)
		return usage_error("no command");
	c = command_find(argc, argv, &nwords);
	if (!c)
		return unknown_command(argc, argv);
	r.c = c;
	r.name = c->name;
	r.argc = argc - nwords;
	r.argv = argv + nwords;
	if (strcmp(c->words, "help") == 0) {
		if (r.argc)
			return usage_error("help takes no arguments");
		usage(stdout);
		rc = EXIT_OKAY;
	} else {
		rc = run_command(&r);
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "sbcctl: writing the output: %s\n", strerror(errno));
		return rc == EXIT_OKAY ? EXIT_FAILED : rc;
	}
	return rc;
}
