/* commands.c: sbcctl's commands: their words, their arguments as "args", their results printed. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "util/util.h"
#include "sbcctl.h"
#include "table.h"

#define SBCCTL_TIMELINE_SLOTS  10            /* last slots shown per reason */
#define SBCCTL_FILE_MAX        (256 * 1024)  /* bytes of a configuration file, as sbcd's */
#define SBCCTL_STATS_DEPTH     4             /* levels of objects stats flattens */

/* ---------------------------------------------------------------------- */
/* helpers */

static int malformed(const struct run *r, const char *what)
{
	fprintf(stderr, "sbcctl: %s: malformed response: %s\n", r->name, what);
	return EXIT_MALFORMED;
}

static int not_object(const struct run *r)
{
	return malformed(r, "the result is not an object");
}

/* A table's error as an exit code. */
static int table_rc(int err)
{
	return err ? out_of_memory() : EXIT_OKAY;
}

/* Write s to f with control characters as '?'. */
static void put_clean(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

static int wrong_args(const struct run *r)
{
	return usage_error("wrong arguments: sbcctl %s %s", r->c->words,
			   r->c->synopsis ? r->c->synopsis : "(takes none)");
}

/* Are there from min to max words after the command's? */
static bool args_between(const struct run *r, int min, int max)
{
	return r->argc >= min && r->argc <= max;
}

/* Set args[key] = v (v stolen; NULL: out of memory). An exit code. */
static int arg_put(struct run *r, const char *key, json_t *v)
{
	if (!r->args && !(r->args = json_object())) {
		json_decref(v);
		return out_of_memory();
	}
	if (!v || json_object_set_new(r->args, key, v))
		return out_of_memory();
	return EXIT_OKAY;
}

/* Set args[key] to the string s from the command line. An exit code. */
static int arg_put_str(struct run *r, const char *key, const char *s)
{
	json_t *v = json_string(s);

	if (!v)   /* jansson refuses what is not UTF-8 */
		return usage_error("%s: \"%s\" is not UTF-8 text", r->c->words, s);
	return arg_put(r, key, v);
}

/*
 * The words after the command's as strings, in order, into args under the
 * command's arg_keys: arg_min of them required, the rest optional.
 */
static int parse_words(struct run *r)
{
	const struct command *c = r->c;
	int max = 0, rc = EXIT_OKAY;

	while (max < (int)ARRAY_SIZE(c->arg_keys) && c->arg_keys[max])
		max++;
	if (!args_between(r, c->arg_min, max))
		return wrong_args(r);
	for (int i = 0; i < r->argc && rc == EXIT_OKAY; i++)
		rc = arg_put_str(r, c->arg_keys[i], r->argv[i]);
	return rc;
}

/* A decimal count, digits only, 0..INT64_MAX. */
static bool parse_count(const char *s, json_int_t *vp)
{
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > INT64_MAX)
		return false;
	*vp = (json_int_t)v;
	return true;
}

/* A field as text: a string as it is, a number, true/false, "-" for null or none. */
static void value_text(char *out, size_t n, const json_t *v)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		snprintf(out, n, "%s", json_string_value(v));
		break;
	case JSON_INTEGER:
		snprintf(out, n, "%lld", (long long)json_integer_value(v));
		break;
	case JSON_REAL:
		snprintf(out, n, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
		snprintf(out, n, "%s", json_is_true(v) ? "true" : "false");
		break;
	case JSON_OBJECT:
	case JSON_ARRAY:
		s = json_dumps(v, JSON_COMPACT);
		snprintf(out, n, "%s", s ? s : "-");
		free(s);
		break;
	default:
		snprintf(out, n, "-");
	}
}

/* Print "what VALUE": VALUE is res[key] (string or number), else the first argument. */
static int say_done(const char *what, const json_t *res, const char *key, const struct run *r)
{
	char c[TABLE_CELL_MAX];
	const json_t *v = json_object_get(res, key);

	if (json_is_string(v) || json_is_integer(v))
		value_text(c, sizeof(c), v);
	else
		snprintf(c, sizeof(c), "%s", r->argc ? r->argv[0] : "");
	fputs(what, stdout);
	fputc(' ', stdout);
	put_clean(stdout, c);
	fputc('\n', stdout);
	return EXIT_OKAY;
}

/* The command's done line: "WHAT VALUE", VALUE res[KEY] (say_done). */
static int print_done(const json_t *res, const struct run *r)
{
	return say_done(r->c->done.what, res, r->c->done.key, r);
}

/* The result object's fields as "label  value" lines, then an empty line. */
static int print_head(const json_t *res, const struct run *r, const struct column *fields,
		      size_t nfields)
{
	int err;

	if (!json_is_object(res))
		return not_object(r);
	err = table_print_fields(stdout, res, fields, nfields);
	if (err)
		return table_rc(err);
	putchar('\n');
	return EXIT_OKAY;
}

/* Print t (err: nothing), or the line none when it has no rows; free it. An exit code. */
static int table_end(struct table *t, int err, const char *none)
{
	if (!err && table_rows(t) == 0)
		puts(none);
	else if (!err)
		table_print(t, stdout, "");
	table_free(t);
	return table_rc(err);
}

/* An array of objects as a table, or the line none when it is empty. */
static int print_array(const json_t *list, const struct run *r, const struct column *cols,
		       size_t ncols, const char *none)
{
	if (!json_is_array(list))
		return malformed(r, "the result is not an array");
	if (json_array_size(list) == 0) {
		puts(none);
		return EXIT_OKAY;
	}
	return table_rc(table_print_list(stdout, list, cols, ncols));
}

/* {KEY: [...], "total": N, "truncated": bool}: the table, then how many were left out. */
static int print_snapshot(const json_t *res, const struct run *r, const char *key,
			  const struct column *cols, size_t ncols, const char *none)
{
	const json_t *list = json_object_get(res, key);
	json_int_t total = json_integer_value(json_object_get(res, "total"));
	char what[64];
	int rc;

	if (!json_is_object(res))
		return not_object(r);
	if (!json_is_array(list)) {
		snprintf(what, sizeof(what), "no \"%s\" list", key);
		return malformed(r, what);
	}
	rc = print_array(list, r, cols, ncols, none);
	if (rc == EXIT_OKAY && json_is_true(json_object_get(res, "truncated")))
		printf("(%zu shown of %lld)\n", json_array_size(list), (long long)total);
	return rc;
}

/* A list of objects as a table: what the command's listing says. */
struct listing {
	const char *key;             /* the snapshot's list (print_snapshot); NULL: the result is it */
	const struct column *cols;
	size_t ncols;
	const char *none;            /* the line for an empty list */
};

static int print_listing(const json_t *res, const struct run *r)
{
	const struct listing *l = r->c->list;

	if (!l->key)
		return print_array(res, r, l->cols, l->ncols, l->none);
	return print_snapshot(res, r, l->key, l->cols, l->ncols, l->none);
}

#define LISTING(key, cols, none)  (&(const struct listing){ key, cols, ARRAY_SIZE(cols), none })

/*
 * The "reasons" object of res ({NAME: VALUE}) as a table of three columns
 * under head: NAME and the two cells row makes of VALUE; row returns false
 * to leave a reason out.
 */
typedef bool (reason_row_h)(const json_t *v, char *c1, char *c2, size_t n, const struct run *r);

static int print_reasons(const json_t *res, const struct run *r, const char *const *head,
			 reason_row_h *row)
{
	const json_t *reasons = json_object_get(res, "reasons"), *v;
	char c1[TABLE_CELL_MAX], c2[TABLE_CELL_MAX];
	struct table *t;
	const char *name;
	int err;

	if (!json_is_object(reasons)) {
		puts("reasons: -");
		return EXIT_OKAY;
	}
	err = table_alloc(&t, 3, head);
	if (err)
		return table_rc(err);
	json_object_foreach((json_t *)reasons, name, v) {
		if (!row(v, c1, c2, sizeof(c1), r))
			continue;
		err = table_add(t, (const char *const[]){ name, c1, c2 });
		if (err)
			break;
	}
	return table_end(t, err, "no packets blocked");
}

/* ---------------------------------------------------------------------- */
/* cells of this program's tables */

/* The link state: up, down. */
static void cell_updown(char *out, size_t n, const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);

	snprintf(out, n, "%s", !json_is_boolean(v) ? "-" : json_is_true(v) ? "up" : "down");
}

static void cell_uptime(char *out, size_t n, const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	long long up = json_integer_value(v);

	if (!json_is_integer(v) || up < 0)
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%lldd %02lld:%02lld:%02lld (%lld s)", up / 86400, up / 3600 % 24,
			 up / 60 % 60, up % 60, up);
}

/* Seconds from now to the unix time in key, "0s" once past. */
static void cell_expires_in(char *out, size_t n, const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	json_int_t exp = json_integer_value(v);
	long long now = (long long)time(NULL);

	if (!json_is_integer(v) || exp <= INT64_MIN / 2 || exp >= INT64_MAX / 2)
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%llds", (long long)exp - now > 0 ? (long long)exp - now : 0);
}

/*
 * A peer {"address", "port", "transport"} as ADDRESS:PORT/TRANSPORT (an IPv6
 * address in brackets): the object in key, or obj itself when key is NULL.
 */
static void cell_peer(char *out, size_t n, const json_t *obj, const char *key)
{
	const json_t *p = key ? json_object_get(obj, key) : obj;
	const char *addr = json_string_value(json_object_get(p, "address"));
	const char *tp = json_string_value(json_object_get(p, "transport"));
	const json_t *port = json_object_get(p, "port");
	bool v6 = addr && strchr(addr, ':');
	char pbuf[24] = "";

	if (!addr || !*addr) {
		snprintf(out, n, "-");
		return;
	}
	if (json_is_integer(port))
		snprintf(pbuf, sizeof(pbuf), ":%lld", (long long)json_integer_value(port));
	snprintf(out, n, "%s%s%s%s%s%s", v6 ? "[" : "", addr, v6 ? "]" : "", pbuf, tp ? "/" : "",
		 tp ? tp : "");
}

/* The peer of a call's leg in the zone named by key. */
static void cell_leg(char *out, size_t n, const json_t *call, const char *zone)
{
	const json_t *legs = json_object_get(call, "legs"), *leg;
	size_t i;

	json_array_foreach(legs, i, leg) {
		const char *z = json_string_value(json_object_get(leg, "zone"));

		if (z && strcmp(z, zone) == 0) {
			cell_peer(out, n, leg, "peer");
			return;
		}
	}
	snprintf(out, n, "-");
}

/* A trunk's calls: ACTIVE/MAX, MAX "unlimited" for 0. */
static void cell_trunk_calls(char *out, size_t n, const json_t *trunk, const char *key)
{
	const json_t *a = json_object_get(trunk, key), *m = json_object_get(trunk, "max_calls");
	char act[24] = "-";

	if (json_is_integer(a))
		snprintf(act, sizeof(act), "%lld", (long long)json_integer_value(a));
	if (!json_is_integer(m))
		snprintf(out, n, "%s/-", act);
	else if (json_integer_value(m) == 0)
		snprintf(out, n, "%s/unlimited", act);
	else
		snprintf(out, n, "%s/%lld", act, (long long)json_integer_value(m));
}

/* ---------------------------------------------------------------------- */
/* status, stats, metrics, restart */

static int print_status(const json_t *res, const struct run *r)
{
	static const struct column fields[] = {
		{ "version", "version", cell_str },
		{ "pid", "pid", cell_int },
		{ "uptime", "uptime_s", cell_uptime },
		{ "config", "config", cell_str },
	};
	static const struct column zone_cols[] = {
		{ "ZONE", "name", cell_str },
		{ "INTERFACE", "interface", cell_str },
		{ "ADDRESS", "address", cell_str },
		{ "LINK", "link_up", cell_updown },
	};
	const json_t *zones = json_object_get(res, "zones");
	int rc = print_head(res, r, fields, ARRAY_SIZE(fields));

	if (rc)
		return rc;
	if (json_array_size(zones) == 0) {
		puts(json_is_array(zones) ? "no zones" : "zones: -");
		return EXIT_OKAY;
	}
	return table_rc(table_print_list(stdout, zones, zone_cols, ARRAY_SIZE(zone_cols)));
}

/* Add the leaves of obj as rows "PREFIX.NAME VALUE", nested objects flattened. ENOMEM. */
static int stats_add(struct table *t, const char *prefix, const json_t *obj, int depth)
{
	char name[TABLE_CELL_MAX], val[TABLE_CELL_MAX];
	const char *key;
	const json_t *v;
	int err;

	json_object_foreach((json_t *)obj, key, v) {
		int w = snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", key);

		if (w < 0 || (size_t)w >= sizeof(name))
			continue;   /* a name this long is not a counter of sbcd's */
		if (json_is_object(v) && depth < SBCCTL_STATS_DEPTH) {
			err = stats_add(t, name, v, depth + 1);
		} else {
			value_text(val, sizeof(val), v);
			err = table_add(t, (const char *const[]){ name, val });
		}
		if (err)
			return err;
	}
	return 0;
}

static int print_stats(const json_t *res, const struct run *r)
{
	static const char *const head[] = { "COUNTER", "VALUE" };
	struct table *t;
	int err;

	if (!json_is_object(res))
		return not_object(r);
	err = table_alloc(&t, 2, head);
	if (err)
		return table_rc(err);
	return table_end(t, stats_add(t, "", res, 1), "no counters");
}

/* {"text": "..."}: the text as it is, no newline added (config get, metrics). */
static int print_text(const json_t *res, const struct run *r)
{
	const json_t *text = json_object_get(res, "text");

	if (!json_is_object(res))
		return not_object(r);
	if (!json_is_string(text))
		return malformed(r, "no string \"text\"");
	fwrite(json_string_value(text), 1, json_string_length(text), stdout);
	return EXIT_OKAY;
}

static int print_restart(const json_t *res, const struct run *r)
{
	(void)r;
	(void)res;
	puts("sbcd is restarting");
	return EXIT_OKAY;
}

/* ---------------------------------------------------------------------- */
/* calls, registrations, trunks */

static const struct column calls_cols[] = {
	{ "ID", "id", cell_int },
	{ "STATE", "state", cell_str },
	{ "DURATION", "duration", cell_secs },
	{ "CALLER", "caller", cell_str },
	{ "CALLEE", "callee", cell_str },
	{ "TRUNK", "trunk", cell_str },
	{ "PUBLIC-PEER", "public", cell_leg },
	{ "PRIVATE-PEER", "private", cell_leg },
};

/* ID (calls hangup, calls show): a number, into {"id": ID}. */
static int parse_call_id(struct run *r)
{
	json_int_t id;

	if (!args_between(r, 1, 1))
		return wrong_args(r);
	if (!parse_count(r->argv[0], &id))
		return usage_error("%s: \"%s\" is not a call id (a number from \"calls\")",
				   r->c->words, r->argv[0]);
	return arg_put(r, "id", json_integer(id));
}

/* What a zone's side of a stream counts: the columns after STREAM and ZONE. */
static const struct column stream_cols[] = {
	{ "PORT", "port", cell_int },
	{ "PACKETS", "packets", cell_int },
	{ "BYTES", "bytes", cell_int },
	{ "RTCP", "rtcp_packets", cell_int },
	{ "RELAYED", "relayed", cell_int },
	{ "DROP-SOURCE", "dropped.source", cell_int },
	{ "DROP-POLICING", "dropped.policing", cell_int },
	{ "DROP-NODEST", "dropped.no_dest", cell_int },
	{ "LOST", "lost", cell_int },
	{ "JITTER-MS", "jitter_ms", cell_num },
	{ "LATCHED", "latched", cell_peer },
};

#define STREAM_LEAD  2   /* STREAM, ZONE */

/* One row per stream and zone (public, then private) into t. ENOMEM. */
static int stream_rows(struct table *t, const json_t *streams)
{
	static const char *const zones[] = { "public", "private" };
	char index[TABLE_CELL_MAX];
	const json_t *st;
	size_t i, z;
	int err = 0;

	json_array_foreach(streams, i, st) {
		cell_int(index, sizeof(index), st, "index");
		for (z = 0; z < ARRAY_SIZE(zones) && !err; z++)
			err = table_add_obj(t, (const char *const[]){ index, zones[z] }, STREAM_LEAD,
					    json_object_get(st, zones[z]), stream_cols,
					    ARRAY_SIZE(stream_cols));
		if (err)
			break;
	}
	return err;
}

/* calls show: the call's fields, then its streams' counters per zone. */
static int print_call(const json_t *res, const struct run *r)
{
	static const struct column fields[] = {
		{ "id", "id", cell_int },
		{ "state", "state", cell_str },
		{ "duration", "duration", cell_secs },
		{ "answered", "answered", cell_secs },
		{ "caller", "caller", cell_str },
		{ "callee", "callee", cell_str },
		{ "trunk", "trunk", cell_str },
		{ "public-peer", "public", cell_leg },
		{ "private-peer", "private", cell_leg },
	};
	const char *head[STREAM_LEAD + ARRAY_SIZE(stream_cols)] = { "STREAM", "ZONE" };
	const json_t *streams = json_object_get(res, "streams");
	struct table *t;
	size_t c;
	int rc;

	if (json_is_object(res) && !json_is_array(streams))
		return malformed(r, "no \"streams\" list");
	rc = print_head(res, r, fields, ARRAY_SIZE(fields));
	if (rc)
		return rc;
	for (c = 0; c < ARRAY_SIZE(stream_cols); c++)
		head[STREAM_LEAD + c] = stream_cols[c].head;
	rc = table_alloc(&t, ARRAY_SIZE(head), head);
	if (rc)
		return table_rc(rc);
	return table_end(t, stream_rows(t, streams), "no media streams");
}

static const struct column registrations_cols[] = {
	{ "AOR", "aor", cell_str },
	{ "CONTACT", "contact", cell_peer },
	{ "NAT", "nat", cell_yesno },
	{ "PHONE-EXPIRES", "phone_expires", cell_secs },
	{ "CORE-EXPIRES", "core_expires", cell_secs },
};

static const struct column trunks_cols[] = {
	{ "NAME", "name", cell_str },
	{ "ZONE", "zone", cell_str },
	{ "ADDRESS", NULL, cell_peer },
	{ "CALLS", "active", cell_trunk_calls },
	{ "REGISTRATION", "registration", cell_str },
	{ "LAST-CODE", "last_code", cell_int },
};

/* ---------------------------------------------------------------------- */
/* config */

static const char *file_label(const char *path)
{
	return strcmp(path, "-") == 0 ? "standard input" : path;
}

/*
 * Read path ("-": standard input), at most SBCCTL_FILE_MAX bytes, into
 * *bufp (to free) and *lenp. An errno; EFBIG when it is larger.
 */
static int read_file(const char *path, char **bufp, size_t *lenp)
{
	bool in = strcmp(path, "-") == 0;
	int fd = in ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	char *buf;
	int e = 0;

	if (fd == -1)
		return errno;
	buf = malloc(SBCCTL_FILE_MAX + 1);
	if (!buf) {
		e = ENOMEM;
		goto out_close;
	}
	while (!e) {
		ssize_t n = read(fd, buf + len, SBCCTL_FILE_MAX + 1 - len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			e = errno;
		else if (n == 0)
			break;
		else if ((len += (size_t)n) > SBCCTL_FILE_MAX)
			e = EFBIG;
	}
	if (e) {
		free(buf);
	} else {
		*bufp = buf;
		*lenp = len;
	}
out_close:
	if (!in)
		close(fd);
	return e;
}

/* FILE into {"text": ...}; a file that cannot be sent exits 1 before sbcd is asked. */
static int parse_config_file(struct run *r)
{
	const char *label;
	char *buf = NULL, *line;
	size_t len;
	json_t *text;
	int e, rc;

	if (!args_between(r, 1, 1))
		return wrong_args(r);
	label = file_label(r->argv[0]);
	e = read_file(r->argv[0], &buf, &len);
	if (e == EFBIG) {
		fprintf(stderr, "sbcctl: %s: larger than %d bytes\n", label, SBCCTL_FILE_MAX);
		return EXIT_FAILED;
	}
	if (e) {
		fprintf(stderr, "sbcctl: %s: %s\n", label, strerror(e));
		return EXIT_FAILED;
	}
	text = json_stringn(buf, len);
	free(buf);
	if (!text) {
		fprintf(stderr, "sbcctl: %s: not UTF-8 text\n", label);
		return EXIT_FAILED;
	}
	rc = arg_put(r, "text", text);
	if (rc)
		return rc;
	e = ctl_encode(r->name, r->args, &line, &len);
	if (e == E2BIG) {
		fprintf(stderr, "sbcctl: %s: too large for one request (%d bytes a line, JSON "
			"escaping included)\n", label, CTL_LINE_MAX);
		return EXIT_FAILED;
	}
	if (e)
		return out_of_memory();
	free(line);
	return EXIT_OKAY;
}

/* Valid: "FILE: configuration OK"; not: sbcd's error lines on stderr. */
static int print_validate(const json_t *res, const struct run *r)
{
	const json_t *valid = json_object_get(res, "valid"), *errs, *e;
	json_int_t more;
	size_t i;

	if (!json_is_object(res))
		return not_object(r);
	if (!json_is_boolean(valid))
		return malformed(r, "no boolean \"valid\"");
	if (json_is_true(valid)) {
		fputs(file_label(r->argv[0]), stdout);
		fputs(": configuration OK\n", stdout);
		return EXIT_OKAY;
	}
	errs = json_object_get(res, "errors");
	json_array_foreach(errs, i, e) {
		if (!json_is_string(e))
			continue;
		put_clean(stderr, json_string_value(e));
		fputc('\n', stderr);
	}
	more = json_integer_value(json_object_get(res, "more"));
	if (more > 0)
		fprintf(stderr, "(%lld more errors)\n", (long long)more);
	return EXIT_OKAY;
}

/* config validate exits 1 for an invalid text, --json or not. */
static int verdict_validate(const json_t *res, const struct run *r)
{
	const json_t *valid = json_object_get(res, "valid");

	if (!json_is_boolean(valid))
		return malformed(r, "no boolean \"valid\"");
	return json_is_true(valid) ? EXIT_OKAY : EXIT_FAILED;
}

static int print_applied(const json_t *res, const struct run *r)
{
	(void)res;
	printf("configuration applied from %s\n", file_label(r->argv[0]));
	return EXIT_OKAY;
}

/* ---------------------------------------------------------------------- */
/* guard */

/* A reason's PACKETS and SOURCES; one with both zero only with --all. */
static bool guard_stats_row(const json_t *v, char *p, char *src, size_t n, const struct run *r)
{
	bool zero = json_is_integer(json_object_get(v, "packets")) &&
		    json_integer_value(json_object_get(v, "packets")) == 0 &&
		    json_is_integer(json_object_get(v, "sources")) &&
		    json_integer_value(json_object_get(v, "sources")) == 0;

	if (zero && !r->o->all)
		return false;
	cell_int(p, n, v, "packets");
	cell_int(src, n, v, "sources");
	return true;
}

static int print_guard_stats(const json_t *res, const struct run *r)
{
	static const struct column fields[] = {
		{ "enabled", "enabled", cell_yesno },
		{ "passed", "passed", cell_int },
		{ "blocked", "blocked", cell_int },
		{ "bans", "bans", cell_int },
		{ "sources", "sources", cell_int },
	};
	static const char *const head[] = { "REASON", "PACKETS", "SOURCES" };
	int rc = print_head(res, r, fields, ARRAY_SIZE(fields));

	if (rc)
		return rc;
	return print_reasons(res, r, head, guard_stats_row);
}

static const struct column bans_cols[] = {
	{ "SOURCE", "source", cell_str },
	{ "REASON", "reason", cell_str },
	{ "PACKETS", "packets", cell_int },
	{ "STRIKES", "strikes", cell_int },
	{ "EXPIRES-IN", "expires", cell_expires_in },
	{ "FIRST-SEEN", "first_seen", cell_localtime },
};

/* N: only checked to be a number; its range is sbcd's to enforce. */
static int parse_top(struct run *r)
{
	char *end;
	long n;

	if (!args_between(r, 0, 1))
		return wrong_args(r);
	if (r->argc == 0)
		return EXIT_OKAY;
	errno = 0;
	n = strtol(r->argv[0], &end, 10);
	if (errno || end == r->argv[0] || *end)
		return usage_error("guard top: \"%s\" is not a number", r->argv[0]);
	return arg_put(r, "n", json_integer(n));
}

static const struct column top_cols[] = {
	{ "SOURCE", "source", cell_str },
	{ "PACKETS", "packets", cell_int },
	{ "REASON", "reason", cell_str },
	{ "BANNED", "banned", cell_yesno },
};

static int parse_timeline(struct run *r)
{
	if (!args_between(r, 0, 1))
		return wrong_args(r);
	if (r->argc == 0)
		return EXIT_OKAY;
	if (strcmp(r->argv[0], "second") != 0 && strcmp(r->argv[0], "minute") != 0)
		return usage_error("guard timeline: the scale is second or minute");
	return arg_put_str(r, "scale", r->argv[0]);
}

/*
 * One reason's slots as the cells TOTAL and the last SBCCTL_TIMELINE_SLOTS
 * counts; false when all are zero. Slots not counts of sane size print "-".
 */
static bool timeline_row(const json_t *slots, char *total, char *last, size_t n,
			 const struct run *r)
{
	size_t len = json_array_size(slots), first, i, off = 0;
	long long sum = 0;

	(void)r;
	for (i = 0; i < len; i++) {
		const json_t *v = json_array_get(slots, i);

		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > INT64_MAX / 4 / (json_int_t)len) {
			snprintf(total, n, "-");
			snprintf(last, n, "-");
			return true;
		}
		sum += json_integer_value(v);
	}
	if (!json_is_array(slots)) {
		snprintf(total, n, "-");
		snprintf(last, n, "-");
		return true;
	}
	snprintf(total, n, "%lld", sum);
	last[0] = '\0';
	first = len > SBCCTL_TIMELINE_SLOTS ? len - SBCCTL_TIMELINE_SLOTS : 0;
	for (i = first; i < len && off < n; i++) {
		int w = snprintf(last + off, n - off, "%s%lld", i == first ? "" : " ",
				 (long long)json_integer_value(json_array_get(slots, i)));

		if (w < 0)
			break;
		off += (size_t)w;
	}
	return sum != 0;
}

static int print_timeline(const json_t *res, const struct run *r)
{
	static const struct column fields[] = {
		{ "scale", "scale", cell_str },
		{ "step", "step", cell_secs },
		{ "end", "end", cell_localtime },
	};
	char title[64];
	const char *head[3] = { "REASON", "TOTAL", title };
	int rc = print_head(res, r, fields, ARRAY_SIZE(fields));

	if (rc)
		return rc;
	snprintf(title, sizeof(title), "LAST %d SLOTS (oldest first)", SBCCTL_TIMELINE_SLOTS);
	return print_reasons(res, r, head, timeline_row);
}

/* The allow list: the configuration's networks, then those added at run time. */
static int print_allow(const json_t *res, const struct run *r)
{
	static const char *const head[] = { "CIDR", "FROM", "NOTE", "ADDED" };
	char note[TABLE_CELL_MAX], added[TABLE_CELL_MAX];
	const json_t *cfg = json_object_get(res, "config");
	const json_t *rt = json_object_get(res, "runtime"), *v;
	struct table *t;
	size_t i;
	int err;

	if (!json_is_object(res))
		return not_object(r);
	err = table_alloc(&t, 4, head);
	if (err)
		return table_rc(err);
	json_array_foreach(cfg, i, v) {
		err = table_add(t, (const char *const[]){ json_string_value(v), "config", NULL, NULL });
		if (err)
			return table_end(t, err, NULL);
	}
	json_array_foreach(rt, i, v) {
		cell_str(note, sizeof(note), v, "note");
		cell_localtime(added, sizeof(added), v, "added");
		err = table_add(t, (const char *const[]){
			json_string_value(json_object_get(v, "cidr")), "runtime", note, added });
		if (err)
			break;
	}
	return table_end(t, err, "no allowed networks");
}

/* ---------------------------------------------------------------------- */
/* trace */

/*
 * trace start [--max-bytes N] [--max-s N] [--zone public|private|both]
 * [--file PATH], each also as --opt=VALUE. Ranges are sbcd's to enforce.
 */
static int parse_trace_start(struct run *r)
{
	static const struct { const char *opt, *key; bool count; } opts[] = {
		{ "--max-bytes", "max_bytes", true },
		{ "--max-s", "max_s", true },
		{ "--zone", "zone", false },
		{ "--file", "file", false },
	};

	for (int i = 0; i < r->argc; i++) {
		const char *a = r->argv[i], *eq = strchr(a, '='), *val;
		size_t alen = eq ? (size_t)(eq - a) : strlen(a), k;
		json_int_t n;
		int rc;

		for (k = 0; k < ARRAY_SIZE(opts); k++)
			if (strlen(opts[k].opt) == alen && strncmp(opts[k].opt, a, alen) == 0)
				break;
		if (k == ARRAY_SIZE(opts))
			return usage_error("trace start: unknown argument \"%s\"", a);
		if (!eq && i + 1 == r->argc)
			return usage_error("trace start: %s needs a value", opts[k].opt);
		val = eq ? eq + 1 : r->argv[++i];
		if (opts[k].count) {
			if (!parse_count(val, &n))
				return usage_error("trace start: %s: \"%s\" is not a number",
						   opts[k].opt, val);
			rc = arg_put(r, opts[k].key, json_integer(n));
		} else {
			if (k == 2 && strcmp(val, "public") && strcmp(val, "private") &&
			    strcmp(val, "both"))
				return usage_error("trace start: the zone is public, private or both");
			if (!*val)
				return usage_error("trace start: %s needs a value", opts[k].opt);
			rc = arg_put_str(r, opts[k].key, val);
		}
		if (rc)
			return rc;
	}
	return EXIT_OKAY;
}

/* trace start, stop and status all answer the trace's status. */
static int print_trace(const json_t *res, const struct run *r)
{
	static const struct column fields[] = {
		{ "running", "running", cell_yesno },
		{ "file", "file", cell_str },
		{ "zone", "zone", cell_str },
		{ "started", "started", cell_localtime },
		{ "stopped", "stopped", cell_localtime },
		{ "reason", "reason", cell_str },
		{ "packets", "packets", cell_int },
		{ "bytes", "bytes", cell_int },
		{ "max_bytes", "max_bytes", cell_int },
		{ "max_s", "max_s", cell_secs },
	};

	if (!json_is_object(res))
		return not_object(r);
	return table_rc(table_print_fields(stdout, res, fields, ARRAY_SIZE(fields)));
}

/* ---------------------------------------------------------------------- */
/* call */

/* call CMD [JSON_ARGS]: CMD as it is (sbcd knows its commands), JSON_ARGS an object. */
static int parse_call(struct run *r)
{
	json_error_t jerr;
	json_t *name;

	if (!args_between(r, 1, 2))
		return wrong_args(r);
	name = json_string(r->argv[0]);
	if (!name)
		return usage_error("call: \"%s\" is not UTF-8 text", r->argv[0]);
	json_decref(name);
	r->name = r->argv[0];
	if (r->argc == 1)
		return EXIT_OKAY;
	r->args = json_loads(r->argv[1], 0, &jerr);
	if (!r->args)
		return usage_error("call %s: bad JSON arguments: %s", r->name, jerr.text);
	if (!json_is_object(r->args))
		return usage_error("call %s: the arguments must be a JSON object", r->name);
	return EXIT_OKAY;
}

int print_json(const json_t *res, const struct run *r)
{
	char *s = json_dumps(res, JSON_INDENT(2) | JSON_ENCODE_ANY);

	(void)r;
	if (!s)
		return out_of_memory();
	puts(s);
	free(s);
	return EXIT_OKAY;
}

/* ---------------------------------------------------------------------- */

/* In the order the usage lists them. */
const struct command sbcctl_commands[] = {
	{ .words = "status", .name = "status", .print = print_status,
	  .help = "version, pid, uptime, configuration file, zones" },
	{ .words = "stats", .name = "stats", .print = print_stats,
	  .help = "sbcd's counters (SIP, transactions, B2BUA, media), one a line" },
	{ .words = "calls", .name = "calls", .print = print_listing,
	  .list = LISTING("calls", calls_cols, "no calls"),
	  .help = "the calls up now" },
	{ .words = "calls show", .name = "calls.get", .synopsis = "ID",
	  .parse = parse_call_id, .print = print_call,
	  .help = "call ID: its fields, and per media stream and zone\nthe relay port's counters" },
	{ .words = "calls hangup", .name = "calls.hangup", .synopsis = "ID",
	  .parse = parse_call_id, .print = print_done, .done = { "hung up call", "hungup" },
	  .help = "end call ID (BYE, or CANCEL before the answer)" },
	{ .words = "registrations", .name = "registrations", .print = print_listing,
	  .list = LISTING("registrations", registrations_cols, "no registrations"),
	  .help = "the phones' registrations" },
	{ .words = "trunks", .name = "trunks", .print = print_listing,
	  .list = LISTING("trunks", trunks_cols, "no trunks"),
	  .help = "the configured trunks, their calls and registration" },
	{ .words = "config get", .name = "config.get", .print = print_text,
	  .help = "print the running configuration file as it is" },
	{ .words = "config validate", .name = "config.validate", .synopsis = "FILE",
	  .parse = parse_config_file, .print = print_validate, .verdict = verdict_validate,
	  .help = "check FILE (- for stdin); exit 1 with its errors\non stderr when invalid" },
	{ .words = "config apply", .name = "config.apply", .synopsis = "FILE",
	  .parse = parse_config_file, .print = print_applied,
	  .help = "replace the running configuration with FILE (- for\nstdin) and reload; "
		  "exit 1 when refused" },
	{ .words = "guard stats", .name = "guard.stats", .synopsis = "[--all]",
	  .print = print_guard_stats,
	  .help = "guard counters; blocked packets per reason (non-zero\nreasons only, "
		  "unless --all)" },
	{ .words = "guard bans", .name = "guard.bans", .print = print_listing,
	  .list = LISTING(NULL, bans_cols, "no bans"),
	  .help = "active bans" },
	{ .words = "guard unban", .name = "guard.unban", .synopsis = "IP",
	  .parse = parse_words, .arg_keys = { "source" }, .arg_min = 1,
	  .print = print_done, .done = { "unbanned", "unbanned" },
	  .help = "lift the ban of IP" },
	{ .words = "guard top", .name = "guard.top", .synopsis = "[N]",
	  .parse = parse_top, .print = print_listing,
	  .list = LISTING(NULL, top_cols, "no sources blocked"),
	  .help = "the N sources with most packets blocked (default 10)" },
	{ .words = "guard timeline", .name = "guard.timeline", .synopsis = "[second|minute]",
	  .parse = parse_timeline, .print = print_timeline,
	  .help = "blocked packets per reason, last 10 slots" },
	{ .words = "guard allow", .name = "guard.allow", .print = print_allow,
	  .help = "the allow list: configured and added at run time" },
	{ .words = "guard allow add", .name = "guard.allow.add", .synopsis = "CIDR [NOTE]",
	  .parse = parse_words, .arg_keys = { "cidr", "note" }, .arg_min = 1,
	  .print = print_done, .done = { "allowed", "added" },
	  .help = "never limit or ban CIDR (an address or a network)" },
	{ .words = "guard allow remove", .name = "guard.allow.remove", .synopsis = "CIDR",
	  .parse = parse_words, .arg_keys = { "cidr" }, .arg_min = 1,
	  .print = print_done, .done = { "removed", "removed" },
	  .help = "remove CIDR added at run time" },
	{ .words = "trace start", .name = "trace.start",
	  .synopsis = "[--max-bytes N] [--max-s N] [--zone Z] [--file PATH]",
	  .parse = parse_trace_start, .print = print_trace,
	  .help = "start a SIP trace to a pcap file; Z is public,\nprivate or both" },
	{ .words = "trace stop", .name = "trace.stop", .print = print_trace,
	  .help = "stop the SIP trace" },
	{ .words = "trace status", .name = "trace.status", .print = print_trace,
	  .help = "the SIP trace: running, file, packets, limits" },
	{ .words = "metrics", .name = "metrics", .print = print_text,
	  .help = "the Prometheus text exposition, as it is (for\nnode_exporter's textfile "
		  "collector)" },
	{ .words = "restart", .name = "system.restart", .print = print_restart,
	  .help = "restart sbcd: it stops as on SIGTERM and starts\nagain, same pid" },
	{ .words = "call", .synopsis = "CMD [JSON_ARGS]", .parse = parse_call,
	  .help = "any control command; prints its result as JSON\n(\"sbcctl call help\" "
		  "lists them)" },
	{ .words = "help", .help = "this text" },
};

const size_t sbcctl_commands_n = ARRAY_SIZE(sbcctl_commands);
