/* sbcctl: the command line over sbcd's control socket (docs/sbcctl.md, docs/control.md). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"

/* Exit codes scripts can rely on (docs/sbcctl.md). */
enum {
	EXIT_OKAY       = 0,   /* done */
	EXIT_FAILED     = 1,   /* sbcd answered ok: false */
	EXIT_USAGE      = 2,   /* unknown command, bad arguments */
	EXIT_UNREACHED  = 3,   /* no socket, refused, timeout, closed without an answer */
	EXIT_MALFORMED  = 4,   /* the answer is not a valid response */
};

#define SBCCTL_SOCKET_DEFAULT  "/run/sbc/sbcd.sock"
#define SBCCTL_TIMEOUT_DEFAULT 5.0
#define SBCCTL_TIMEOUT_MAX     3600.0
#define SBCCTL_RESP_MAX        (64u * 1024 * 1024)  /* bytes of one response line */
#define SBCCTL_BUF_START       (64u * 1024)
#define SBCCTL_TIMELINE_SLOTS  10                    /* last slots shown per reason */
#define SBCCTL_CELL_MAX        256                   /* bytes of one table cell */

struct opts {
	const char *socket;
	double timeout_s;
	bool json;
	bool all;
};

static void usage(FILE *f)
{
	fputs("usage: sbcctl [-s SOCKET] [--json] [-t TIMEOUT_S] [--all] COMMAND [ARGS...]\n"
	      "\n"
	      "Commands:\n"
	      "  status                        version, pid, uptime, configuration, zones\n"
	      "  guard stats [--all]           guard counters; blocked packets per reason\n"
	      "                                (non-zero reasons only, unless --all)\n"
	      "  guard bans                    active bans\n"
	      "  guard unban IP                lift the ban of IP\n"
	      "  guard top [N]                 the N sources with most packets blocked (default 10)\n"
	      "  guard timeline [second|minute]  blocked packets per reason, last 10 slots\n"
	      "  call CMD [JSON_ARGS]          any control command; prints its result as JSON\n"
	      "\n"
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
	      "  1  the command failed (sbcd's error on stderr)\n"
	      "  2  usage error\n"
	      "  3  cannot reach sbcd (no socket, refused, timeout, closed without an answer)\n"
	      "  4  malformed response\n", f);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
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

/* ---------------------------------------------------------------------- */
/* the exchange */

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left before deadline, for poll(); 0 when past it. */
static int ms_left(double deadline)
{
	double left = deadline - mono_now();

	if (left <= 0)
		return 0;
	if (left > INT_MAX / 1000.0)
		return INT_MAX;
	return (int)(left * 1000.0) + 1;
}

/* Wait for events on fd until deadline: 0, ETIMEDOUT or an errno. */
static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int ms = ms_left(deadline);
		int n;

		if (ms == 0)
			return ETIMEDOUT;
		n = poll(&p, 1, ms);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n > 0)
			return 0;
	}
}

/* Connect to path (non-blocking socket) before deadline; *fdp on success. */
static int sock_connect(int *fdp, const char *path, double deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd, e;

	if (len == 0 || len >= sizeof(sa.sun_path))
		return ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return errno;
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		e = errno;
		if (e == EINTR)
			continue;
		if (e == EINPROGRESS) {
			socklen_t sl = sizeof(e);

			e = wait_fd(fd, POLLOUT, deadline);
			if (!e && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == -1)
				e = errno;
			if (e)
				goto out_close;
			break;
		}
		if (e != EAGAIN)   /* a unix socket's backlog is full: try again */
			goto out_close;
		if (ms_left(deadline) == 0) {
			e = ETIMEDOUT;
			goto out_close;
		}
		poll(NULL, 0, 10);
	}
	*fdp = fd;
	return 0;

out_close:
	close(fd);
	return e;
}

static int sock_send(int fd, const char *buf, size_t len, double deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n == -1) {
			int e = errno;

			if (e == EINTR)
				continue;
			if (e != EAGAIN && e != EWOULDBLOCK)
				return e;
			e = wait_fd(fd, POLLOUT, deadline);
			if (e)
				return e;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one line (the response) before deadline. On success *linep (to
 * free) holds it NUL-terminated without its "\n" and *lenp its length.
 * ENODATA: closed before a full line; EMSGSIZE: longer than SBCCTL_RESP_MAX.
 */
static int sock_recv_line(int fd, char **linep, size_t *lenp, double deadline)
{
	size_t cap = SBCCTL_BUF_START, len = 0;
	char *buf = malloc(cap + 1);
	int e;

	if (!buf)
		return ENOMEM;
	for (;;) {
		ssize_t n;
		char *nl;

		if (len == cap) {
			size_t ncap = cap * 2 > SBCCTL_RESP_MAX + 1 ? SBCCTL_RESP_MAX + 1 : cap * 2;
			char *nb;

			if (ncap <= cap) {
				e = EMSGSIZE;
				goto out_free;
			}
			nb = realloc(buf, ncap + 1);
			if (!nb) {
				e = ENOMEM;
				goto out_free;
			}
			buf = nb;
			cap = ncap;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n == -1) {
			e = errno;
			if (e == EINTR)
				continue;
			if (e != EAGAIN && e != EWOULDBLOCK)
				goto out_free;
			e = wait_fd(fd, POLLIN, deadline);
			if (e)
				goto out_free;
			continue;
		}
		if (n == 0) {
			e = ENODATA;
			goto out_free;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			len = (size_t)(nl - buf);
			if (len > SBCCTL_RESP_MAX) {
				e = EMSGSIZE;
				goto out_free;
			}
			buf[len] = '\0';
			*linep = buf;
			*lenp = len;
			return 0;
		}
		if (len > SBCCTL_RESP_MAX) {
			e = EMSGSIZE;
			goto out_free;
		}
	}

out_free:
	free(buf);
	return e;
}

/*
 * Send {"cmd": cmd, "args": args} (args borrowed, may be NULL) and read the
 * answer. Returns EXIT_OKAY with *resultp (a new reference, JSON null for a
 * result of null) or the exit code, the message already printed.
 */
static int ctl_call(const struct opts *o, const char *cmd, json_t *args, json_t **resultp)
{
	double deadline = mono_now() + o->timeout_s;
	json_t *req, *resp, *ok, *res;
	json_error_t jerr;
	char *text, *line = NULL;
	size_t tlen, llen = 0;
	int fd = -1, e, rc;

	req = json_pack("{s:s}", "cmd", cmd);
	if (!req || (args && json_object_set(req, "args", args))) {
		json_decref(req);
		fprintf(stderr, "sbcctl: %s: out of memory\n", cmd);
		return EXIT_FAILED;
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text) {
		fprintf(stderr, "sbcctl: %s: out of memory\n", cmd);
		return EXIT_FAILED;
	}
	tlen = strlen(text);
	if (tlen > CTL_LINE_MAX - 1) {
		free(text);
		return usage_error("%s: the request is longer than %d bytes", cmd, CTL_LINE_MAX);
	}
	text[tlen] = '\n';   /* json_dumps' NUL becomes the line end */

	e = sock_connect(&fd, o->socket, deadline);
	if (e) {
		free(text);
		if (e == ETIMEDOUT)
			fprintf(stderr, "sbcctl: cannot connect to %s: no connection within %g s\n",
				o->socket, o->timeout_s);
		else
			fprintf(stderr, "sbcctl: cannot connect to %s: %s\n", o->socket,
				strerror(e));
		return EXIT_UNREACHED;
	}
	e = sock_send(fd, text, tlen + 1, deadline);
	free(text);
	if (!e)
		e = sock_recv_line(fd, &line, &llen, deadline);
	close(fd);
	switch (e) {
	case 0:
		break;
	case ETIMEDOUT:
		fprintf(stderr, "sbcctl: %s: %s: no answer within %g s\n", o->socket, cmd,
			o->timeout_s);
		return EXIT_UNREACHED;
	case ENODATA:
		fprintf(stderr, "sbcctl: %s: %s: connection closed without an answer\n",
			o->socket, cmd);
		return EXIT_UNREACHED;
	case EMSGSIZE:
		fprintf(stderr, "sbcctl: %s: malformed response: longer than %u bytes\n", cmd,
			SBCCTL_RESP_MAX);
		return EXIT_MALFORMED;
	case ENOMEM:
		fprintf(stderr, "sbcctl: %s: out of memory\n", cmd);
		return EXIT_FAILED;
	default:
		fprintf(stderr, "sbcctl: %s: %s: %s\n", o->socket, cmd, strerror(e));
		return EXIT_UNREACHED;
	}
	if (llen && line[llen - 1] == '\r')
		line[--llen] = '\0';
	resp = json_loadb(line, llen, 0, &jerr);
	free(line);
	if (!resp) {
		fprintf(stderr, "sbcctl: %s: malformed response: %s (column %d)\n", cmd, jerr.text,
			jerr.column);
		return EXIT_MALFORMED;
	}
	rc = EXIT_MALFORMED;
	ok = json_object_get(resp, "ok");
	if (!json_is_object(resp)) {
		fprintf(stderr, "sbcctl: %s: malformed response: not a JSON object\n", cmd);
	} else if (!json_is_boolean(ok)) {
		fprintf(stderr, "sbcctl: %s: malformed response: no boolean \"ok\"\n", cmd);
	} else if (json_is_false(ok)) {
		const json_t *err = json_object_get(resp, "error");
		const char *msg = json_is_string(err) ? json_string_value(err) : "(no message)";

		fputs("sbcctl: ", stderr);
		fputs(cmd, stderr);
		fputs(": ", stderr);
		for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
			fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
		fputc('\n', stderr);
		rc = EXIT_FAILED;
	} else if (!(res = json_object_get(resp, "result"))) {
		fprintf(stderr, "sbcctl: %s: malformed response: no \"result\"\n", cmd);
	} else {
		*resultp = json_incref(res);
		rc = EXIT_OKAY;
	}
	json_decref(resp);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* printing: every field is checked; what is missing or of another type is "-" */

/* Copy s to out (n bytes), control characters replaced by '?'. */
static void cell_str(char *out, size_t n, const char *s)
{
	size_t i = 0;

	if (!s)
		s = "-";
	for (; *s && i + 1 < n; s++, i++)
		out[i] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
	out[i] = '\0';
}

static const char *field_str(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

static bool field_int(const json_t *o, const char *key, json_int_t *vp)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return false;
	*vp = json_integer_value(v);
	return true;
}

static void cell_int(char *out, size_t n, const json_t *o, const char *key)
{
	json_int_t v;

	if (field_int(o, key, &v))
		snprintf(out, n, "%lld", (long long)v);
	else
		cell_str(out, n, NULL);
}

static void cell_bool(char *out, size_t n, const json_t *o, const char *key,
		      const char *yes, const char *no)
{
	const json_t *v = json_object_get(o, key);

	cell_str(out, n, json_is_boolean(v) ? (json_is_true(v) ? yes : no) : NULL);
}

static void cell_localtime(char *out, size_t n, const json_t *o, const char *key)
{
	json_int_t v;
	struct tm tm;
	time_t t;

	if (!field_int(o, key, &v) || v < 0 || (long long)v > (long long)INT32_MAX * 64) {
		cell_str(out, n, NULL);
		return;
	}
	t = (time_t)v;
	if (!localtime_r(&t, &tm) || strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		cell_str(out, n, NULL);
}

/* A table: rows of cells, printed with columns as wide as their widest cell. */
struct table {
	size_t ncols;
	size_t nrows;
	size_t cap;
	char (*cells)[SBCCTL_CELL_MAX];
};

static int table_add(struct table *t, char (*row)[SBCCTL_CELL_MAX])
{
	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		void *nc = reallocarray(t->cells, ncap * t->ncols, sizeof(*t->cells));

		if (!nc)
			return ENOMEM;
		t->cells = nc;
		t->cap = ncap;
	}
	memcpy(t->cells[t->nrows * t->ncols], row, t->ncols * sizeof(*t->cells));
	t->nrows++;
	return 0;
}

static void table_print(const struct table *t, const char *indent)
{
	size_t w[16] = { 0 };

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols && c < 16; c++) {
			size_t l = strlen(t->cells[r * t->ncols + c]);

			if (l > w[c])
				w[c] = l;
		}
	for (size_t r = 0; r < t->nrows; r++) {
		fputs(indent, stdout);
		for (size_t c = 0; c < t->ncols && c < 16; c++) {
			if (c + 1 == t->ncols)
				fputs(t->cells[r * t->ncols + c], stdout);
			else
				printf("%-*s  ", (int)w[c], t->cells[r * t->ncols + c]);
		}
		fputc('\n', stdout);
	}
}

static void table_free(struct table *t)
{
	free(t->cells);
	t->cells = NULL;
}

static int out_of_memory(void)
{
	fputs("sbcctl: out of memory\n", stderr);
	return EXIT_FAILED;
}

static int malformed(const char *cmd, const char *what)
{
	fprintf(stderr, "sbcctl: %s: malformed response: %s\n", cmd, what);
	return EXIT_MALFORMED;
}

static void print_kv(const char *key, const char *val)
{
	char c[SBCCTL_CELL_MAX];

	cell_str(c, sizeof(c), val);
	printf("%-10s%s\n", key, c);
}

static void print_kv_int(const json_t *o, const char *key, const char *label)
{
	char c[SBCCTL_CELL_MAX];

	cell_int(c, sizeof(c), o, key);
	printf("%-10s%s\n", label, c);
}

/* ---------------------------------------------------------------------- */
/* the commands' printers */

static int print_status(const json_t *r)
{
	char c[SBCCTL_CELL_MAX], row[4][SBCCTL_CELL_MAX];
	struct table t = { .ncols = 4 };
	const json_t *zones, *z;
	json_int_t up;
	size_t i;

	if (!json_is_object(r))
		return malformed("status", "the result is not an object");
	print_kv("version", field_str(r, "version"));
	print_kv_int(r, "pid", "pid");
	if (field_int(r, "uptime_s", &up) && up >= 0)
		snprintf(c, sizeof(c), "%lldd %02lld:%02lld:%02lld (%lld s)",
			 (long long)(up / 86400), (long long)(up / 3600 % 24),
			 (long long)(up / 60 % 60), (long long)(up % 60), (long long)up);
	else
		cell_str(c, sizeof(c), NULL);
	printf("%-10s%s\n", "uptime", c);
	print_kv("config", field_str(r, "config"));
	zones = json_object_get(r, "zones");
	if (!json_is_array(zones)) {
		print_kv("zones", NULL);
		return EXIT_OKAY;
	}
	if (json_array_size(zones) == 0) {
		print_kv("zones", "none");
		return EXIT_OKAY;
	}
	puts("zones:");
	cell_str(row[0], sizeof(row[0]), "ZONE");
	cell_str(row[1], sizeof(row[1]), "INTERFACE");
	cell_str(row[2], sizeof(row[2]), "ADDRESS");
	cell_str(row[3], sizeof(row[3]), "LINK");
	if (table_add(&t, row))
		return out_of_memory();
	json_array_foreach(zones, i, z) {
		cell_str(row[0], sizeof(row[0]), field_str(z, "name"));
		cell_str(row[1], sizeof(row[1]), field_str(z, "interface"));
		cell_str(row[2], sizeof(row[2]), field_str(z, "address"));
		cell_bool(row[3], sizeof(row[3]), z, "link_up", "up", "down");
		if (table_add(&t, row)) {
			table_free(&t);
			return out_of_memory();
		}
	}
	table_print(&t, "  ");
	table_free(&t);
	return EXIT_OKAY;
}

static int print_guard_stats(const json_t *r, bool all)
{
	char c[SBCCTL_CELL_MAX], row[3][SBCCTL_CELL_MAX];
	struct table t = { .ncols = 3 };
	const json_t *reasons, *v;
	const char *name;

	if (!json_is_object(r))
		return malformed("guard.stats", "the result is not an object");
	cell_bool(c, sizeof(c), r, "enabled", "yes", "no");
	printf("%-10s%s\n", "enabled", c);
	print_kv_int(r, "passed", "passed");
	print_kv_int(r, "blocked", "blocked");
	print_kv_int(r, "bans", "bans");
	print_kv_int(r, "sources", "sources");
	reasons = json_object_get(r, "reasons");
	if (!json_is_object(reasons)) {
		print_kv("reasons", NULL);
		return EXIT_OKAY;
	}
	cell_str(row[0], sizeof(row[0]), "REASON");
	cell_str(row[1], sizeof(row[1]), "PACKETS");
	cell_str(row[2], sizeof(row[2]), "SOURCES");
	if (table_add(&t, row))
		return out_of_memory();
	json_object_foreach((json_t *)reasons, name, v) {
		json_int_t p, s;
		bool zero = field_int(v, "packets", &p) && p == 0 &&
			    field_int(v, "sources", &s) && s == 0;

		if (zero && !all)
			continue;
		cell_str(row[0], sizeof(row[0]), name);
		cell_int(row[1], sizeof(row[1]), v, "packets");
		cell_int(row[2], sizeof(row[2]), v, "sources");
		if (table_add(&t, row)) {
			table_free(&t);
			return out_of_memory();
		}
	}
	putchar('\n');
	if (t.nrows == 1)
		puts("no packets blocked");
	else
		table_print(&t, "");
	table_free(&t);
	return EXIT_OKAY;
}

static int print_guard_bans(const json_t *r)
{
	char row[6][SBCCTL_CELL_MAX];
	struct table t = { .ncols = 6 };
	time_t now = time(NULL);
	const json_t *b;
	size_t i;

	if (!json_is_array(r))
		return malformed("guard.bans", "the result is not an array");
	if (json_array_size(r) == 0) {
		puts("no bans");
		return EXIT_OKAY;
	}
	cell_str(row[0], sizeof(row[0]), "SOURCE");
	cell_str(row[1], sizeof(row[1]), "REASON");
	cell_str(row[2], sizeof(row[2]), "PACKETS");
	cell_str(row[3], sizeof(row[3]), "STRIKES");
	cell_str(row[4], sizeof(row[4]), "EXPIRES-IN");
	cell_str(row[5], sizeof(row[5]), "FIRST-SEEN");
	if (table_add(&t, row))
		return out_of_memory();
	json_array_foreach(r, i, b) {
		json_int_t exp;

		cell_str(row[0], sizeof(row[0]), field_str(b, "source"));
		cell_str(row[1], sizeof(row[1]), field_str(b, "reason"));
		cell_int(row[2], sizeof(row[2]), b, "packets");
		cell_int(row[3], sizeof(row[3]), b, "strikes");
		if (field_int(b, "expires", &exp) && exp > INT64_MIN / 2 && exp < INT64_MAX / 2)
			snprintf(row[4], sizeof(row[4]), "%llds",
				 (long long)(exp - now > 0 ? exp - now : 0));
		else
			cell_str(row[4], sizeof(row[4]), NULL);
		cell_localtime(row[5], sizeof(row[5]), b, "first_seen");
		if (table_add(&t, row)) {
			table_free(&t);
			return out_of_memory();
		}
	}
	table_print(&t, "");
	table_free(&t);
	return EXIT_OKAY;
}

static int print_guard_top(const json_t *r)
{
	char row[4][SBCCTL_CELL_MAX];
	struct table t = { .ncols = 4 };
	const json_t *s;
	size_t i;

	if (!json_is_array(r))
		return malformed("guard.top", "the result is not an array");
	if (json_array_size(r) == 0) {
		puts("no sources blocked");
		return EXIT_OKAY;
	}
	cell_str(row[0], sizeof(row[0]), "SOURCE");
	cell_str(row[1], sizeof(row[1]), "PACKETS");
	cell_str(row[2], sizeof(row[2]), "REASON");
	cell_str(row[3], sizeof(row[3]), "BANNED");
	if (table_add(&t, row))
		return out_of_memory();
	json_array_foreach(r, i, s) {
		cell_str(row[0], sizeof(row[0]), field_str(s, "source"));
		cell_int(row[1], sizeof(row[1]), s, "packets");
		cell_str(row[2], sizeof(row[2]), field_str(s, "reason"));
		cell_bool(row[3], sizeof(row[3]), s, "banned", "yes", "no");
		if (table_add(&t, row)) {
			table_free(&t);
			return out_of_memory();
		}
	}
	table_print(&t, "");
	table_free(&t);
	return EXIT_OKAY;
}

static int print_guard_timeline(const json_t *r)
{
	char c[SBCCTL_CELL_MAX], row[3][SBCCTL_CELL_MAX];
	struct table t = { .ncols = 3 };
	const json_t *reasons, *slots;
	const char *name;

	if (!json_is_object(r))
		return malformed("guard.timeline", "the result is not an object");
	print_kv("scale", field_str(r, "scale"));
	print_kv_int(r, "step", "step (s)");
	cell_localtime(c, sizeof(c), r, "end");
	printf("%-10s%s\n", "end", c);
	reasons = json_object_get(r, "reasons");
	if (!json_is_object(reasons)) {
		print_kv("reasons", NULL);
		return EXIT_OKAY;
	}
	cell_str(row[0], sizeof(row[0]), "REASON");
	cell_str(row[1], sizeof(row[1]), "TOTAL");
	snprintf(row[2], sizeof(row[2]), "LAST %d SLOTS (oldest first)", SBCCTL_TIMELINE_SLOTS);
	if (table_add(&t, row))
		return out_of_memory();
	json_object_foreach((json_t *)reasons, name, slots) {
		size_t n = json_array_size(slots), first, i;
		long long total = 0;
		bool bad = !json_is_array(slots);
		size_t off = 0;

		for (i = 0; i < n; i++) {
			const json_t *v = json_array_get(slots, i);

			if (!json_is_integer(v) || json_integer_value(v) < 0 ||
			    json_integer_value(v) > INT64_MAX / 4 / (json_int_t)(n ? n : 1)) {
				bad = true;
				break;
			}
			total += json_integer_value(v);
		}
		if (!bad && total == 0)
			continue;
		cell_str(row[0], sizeof(row[0]), name);
		if (bad) {
			cell_str(row[1], sizeof(row[1]), NULL);
			cell_str(row[2], sizeof(row[2]), NULL);
		} else {
			snprintf(row[1], sizeof(row[1]), "%lld", total);
			row[2][0] = '\0';
			first = n > SBCCTL_TIMELINE_SLOTS ? n - SBCCTL_TIMELINE_SLOTS : 0;
			for (i = first; i < n && off < sizeof(row[2]); i++) {
				int w = snprintf(row[2] + off, sizeof(row[2]) - off, "%s%lld",
						 i == first ? "" : " ",
						 (long long)json_integer_value(json_array_get(slots, i)));

				if (w < 0)
					break;
				off += (size_t)w;
			}
		}
		if (table_add(&t, row)) {
			table_free(&t);
			return out_of_memory();
		}
	}
	putchar('\n');
	if (t.nrows == 1)
		puts("no packets blocked");
	else
		table_print(&t, "");
	table_free(&t);
	return EXIT_OKAY;
}

static int print_json(const json_t *r)
{
	char *s = json_dumps(r, JSON_INDENT(2) | JSON_ENCODE_ANY);

	if (!s)
		return out_of_memory();
	puts(s);
	free(s);
	return EXIT_OKAY;
}

static int print_unban(const json_t *r, const char *ip)
{
	char c[SBCCTL_CELL_MAX];
	const char *s = field_str(r, "unbanned");

	cell_str(c, sizeof(c), s ? s : ip);
	printf("unbanned %s\n", c);
	return EXIT_OKAY;
}

/* ---------------------------------------------------------------------- */
/* the command line */

enum what { W_STATUS, W_STATS, W_BANS, W_UNBAN, W_TOP, W_TIMELINE, W_RAW };

/* Parse the words after the options into a command, its args and a printer. */
static int parse_command(int argc, char **argv, enum what *wp, const char **cmdp,
			 json_t **argsp)
{
	const char *w = argv[0];

	*argsp = NULL;
	if (strcmp(w, "status") == 0) {
		if (argc != 1)
			return usage_error("status takes no arguments");
		*wp = W_STATUS;
		*cmdp = "status";
		return EXIT_OKAY;
	}
	if (strcmp(w, "call") == 0) {
		json_error_t jerr;

		if (argc < 2 || argc > 3)
			return usage_error("call takes a command and, optionally, its JSON arguments");
		*wp = W_RAW;
		*cmdp = argv[1];
		if (argc == 3) {
			*argsp = json_loads(argv[2], 0, &jerr);
			if (!*argsp)
				return usage_error("call %s: bad JSON arguments: %s", argv[1], jerr.text);
			if (!json_is_object(*argsp)) {
				json_decref(*argsp);
				*argsp = NULL;
				return usage_error("call %s: the arguments must be a JSON object",
						   argv[1]);
			}
		}
		return EXIT_OKAY;
	}
	if (strcmp(w, "guard") != 0)
		return usage_error("unknown command \"%s\"", w);
	if (argc < 2)
		return usage_error("guard needs a subcommand");
	w = argv[1];
	if (strcmp(w, "stats") == 0 || strcmp(w, "bans") == 0) {
		if (argc != 2)
			return usage_error("guard %s takes no arguments", w);
		*wp = w[0] == 's' ? W_STATS : W_BANS;
		*cmdp = w[0] == 's' ? "guard.stats" : "guard.bans";
		return EXIT_OKAY;
	}
	if (strcmp(w, "unban") == 0) {
		if (argc != 3)
			return usage_error("guard unban takes one address");
		*wp = W_UNBAN;
		*cmdp = "guard.unban";
		*argsp = json_pack("{s:s}", "source", argv[2]);
		return *argsp ? EXIT_OKAY : out_of_memory();
	}
	if (strcmp(w, "top") == 0) {
		char *end;
		long n;

		if (argc > 3)
			return usage_error("guard top takes at most one number");
		*wp = W_TOP;
		*cmdp = "guard.top";
		if (argc == 3) {
			errno = 0;
			n = strtol(argv[2], &end, 10);
			if (errno || end == argv[2] || *end)
				return usage_error("guard top: \"%s\" is not a number", argv[2]);
			*argsp = json_pack("{s:I}", "n", (json_int_t)n);
			if (!*argsp)
				return out_of_memory();
		}
		return EXIT_OKAY;
	}
	if (strcmp(w, "timeline") == 0) {
		if (argc > 3)
			return usage_error("guard timeline takes at most one scale");
		*wp = W_TIMELINE;
		*cmdp = "guard.timeline";
		if (argc == 3) {
			if (strcmp(argv[2], "second") != 0 && strcmp(argv[2], "minute") != 0)
				return usage_error("guard timeline: the scale is second or minute");
			*argsp = json_pack("{s:s}", "scale", argv[2]);
			if (!*argsp)
				return out_of_memory();
		}
		return EXIT_OKAY;
	}
	return usage_error("unknown command \"guard %s\"", w);
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket",  required_argument, NULL, 's' },
		{ "json",    no_argument,       NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "all",     no_argument,       NULL, 'a' },
		{ "help",    no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .timeout_s = SBCCTL_TIMEOUT_DEFAULT };
	const char *env = getenv("SBCCTL_SOCKET");
	const char *cmd = NULL;
	json_t *args = NULL, *result = NULL;
	enum what w = W_RAW;
	int c, rc;

	o.socket = env && *env ? env : SBCCTL_SOCKET_DEFAULT;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+s:jt:ah", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.socket = optarg;
			break;
		case 'j':
			o.json = true;
			break;
		case 't':
			if (parse_timeout(optarg, &o.timeout_s))
				return usage_error("-t: \"%s\" is not a number of seconds in (0, %g]",
						   optarg, SBCCTL_TIMEOUT_MAX);
			break;
		case 'a':
			o.all = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OKAY;
		default:
			if (optopt && strchr("st", optopt))
				return usage_error("-%c needs a value", optopt);
			if (optopt)
				return usage_error("unknown option -%c", optopt);
			return usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	/* --json and --all are also accepted after the command's words (not for call) */
	{
		int n = 0;

		for (int i = optind; i < argc; i++) {
			if (!(i > optind && strcmp(argv[optind], "call") == 0) &&
			    (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "-j") == 0)) {
				o.json = true;
			} else if (!(i > optind && strcmp(argv[optind], "call") == 0) &&
				   (strcmp(argv[i], "--all") == 0 || strcmp(argv[i], "-a") == 0)) {
				o.all = true;
			} else {
				argv[optind + n++] = argv[i];
			}
		}
		argc = optind + n;
	}
	if (optind >= argc)
		return usage_error("no command");
	rc = parse_command(argc - optind, argv + optind, &w, &cmd, &args);
	if (rc != EXIT_OKAY) {
		json_decref(args);
		return rc;
	}
	rc = ctl_call(&o, cmd, args, &result);
	if (rc == EXIT_OKAY) {
		if (o.json || w == W_RAW) {
			rc = print_json(result);
		} else {
			switch (w) {
			case W_STATUS:   rc = print_status(result); break;
			case W_STATS:    rc = print_guard_stats(result, o.all); break;
			case W_BANS:     rc = print_guard_bans(result); break;
			case W_UNBAN:    rc = print_unban(result, argv[argc - 1]); break;
			case W_TOP:      rc = print_guard_top(result); break;
			case W_TIMELINE: rc = print_guard_timeline(result); break;
			case W_RAW:      rc = print_json(result); break;
			}
		}
	}
	json_decref(result);
	json_decref(args);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "sbcctl: writing the output: %s\n", strerror(errno));
		return rc == EXIT_OKAY ? EXIT_FAILED : rc;
	}
	return rc;
}
