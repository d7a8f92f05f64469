/* test_ctl: the control socket: requests and errors, framing, limits, socket file permissions and stale files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "unit.h"

enum {
	MAX_STEPS = 2000,        /* loop turns a test waits for something before it fails */
	CLIENT_BUF = 64 * 1024,
};

struct client {
	int fd;
	bool closed;
	size_t len;
	char buf[CLIENT_BUF];
};

static struct {
	char dir[32];            /* mkdtemp */
	char sockdir[48];        /* dir/run: made by ctl_alloc */
	char path[80];           /* dir/run/ctl.sock */
	struct event_base *base;
	struct ctl *ctl;
	unsigned calls;
} t;

static int setup(void **state)
{
	unit_leak_setup(state);
	memset(&t, 0, sizeof(t));
	snprintf(t.dir, sizeof(t.dir), "/tmp/ctlt-XXXXXX");
	if (!mkdtemp(t.dir))
		return -1;
	snprintf(t.sockdir, sizeof(t.sockdir), "%s/run", t.dir);
	snprintf(t.path, sizeof(t.path), "%s/ctl.sock", t.sockdir);
	t.base = event_base_new();
	alarm(120);   /* a test that hangs in the loop is killed, not waited for */
	return t.base ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	alarm(0);
	t.ctl = mem_deref(t.ctl);
	event_base_free(t.base);
	nftw(t.dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return unit_leak_teardown(state);
}

/* One loop turn of the server, then a short wait for the client's socket. */
static void step(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	event_base_loop(t.base, EVLOOP_NONBLOCK);
	if (fd >= 0)
		poll(&pfd, 1, 2);
}

static void server_start(void)
{
	assert_int_equal(ctl_alloc(&t.ctl, t.base, t.path), 0);
}

static void client_open(struct client *cl)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int i;

	memset(cl, 0, sizeof(*cl));
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t.path);
	cl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(cl->fd >= 0);
	for (i = 0; i < MAX_STEPS; i++) {
		if (connect(cl->fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		assert_int_equal(errno, EAGAIN);   /* backlog full: let the server accept */
		step(-1);
	}
	assert_true(i < MAX_STEPS);
}

static void client_close(struct client *cl)
{
	if (cl->fd >= 0)
		close(cl->fd);
	cl->fd = -1;
}

/* Read what is there; false when nothing was. */
static bool client_pull(struct client *cl)
{
	ssize_t n;

	if (cl->closed || cl->len == sizeof(cl->buf))
		return false;
	n = recv(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len, MSG_DONTWAIT);
	if (n > 0) {
		cl->len += (size_t)n;
		return true;
	}
	if (n == 0 || errno == ECONNRESET)
		cl->closed = true;   /* ECONNRESET: the server closed with our bytes unread */
	return false;
}

/* Send it all, turning the loop while the socket is full; false when the server closed. */
static bool client_send(struct client *cl, const char *data, size_t len)
{
	size_t off = 0;

	for (int i = 0; off < len && i < MAX_STEPS; i++) {
		ssize_t n = send(cl->fd, data + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			return false;
		assert_int_equal(errno, EAGAIN);
		step(cl->fd);
	}
	assert_int_equal(off, len);
	return true;
}

/* The next response line (newline removed) into line; false when the server closed first. */
static bool client_line(struct client *cl, char *line, size_t size)
{
	for (int i = 0; i < MAX_STEPS; i++) {
		char *nl = memchr(cl->buf, '\n', cl->len);

		if (nl) {
			size_t n = (size_t)(nl - cl->buf);

			assert_true(n < size);
			memcpy(line, cl->buf, n);
			line[n] = '\0';
			memmove(cl->buf, nl + 1, cl->len - n - 1);
			cl->len -= n + 1;
			return true;
		}
		if (cl->closed)
			return false;
		assert_true(cl->len < sizeof(cl->buf));
		if (!client_pull(cl))
			step(cl->fd);
	}
	fail_msg("no response line");
	return false;
}

/* True once the server has closed the connection (what it sent first stays in buf). */
static bool client_wait_closed(struct client *cl)
{
	for (int i = 0; i < MAX_STEPS && !cl->closed; i++) {
		if (!client_pull(cl))
			step(cl->fd);
	}
	return cl->closed;
}

/* Send one raw line, return the response parsed. */
static json_t *call_raw(struct client *cl, const char *req)
{
	char line[8192];
	json_error_t jerr;
	json_t *resp;

	assert_true(client_send(cl, req, strlen(req)));
	assert_true(client_line(cl, line, sizeof(line)));
	resp = json_loads(line, 0, &jerr);
	if (!resp)
		fail_msg("response is not JSON: %s", line);
	assert_true(json_is_object(resp));
	return resp;
}

/* The result of a response that must be ok (a new reference). */
static json_t *ok_result(json_t *resp)
{
	json_t *result;

	assert_true(json_is_true(json_object_get(resp, "ok")));
	assert_null(json_object_get(resp, "error"));
	result = json_object_get(resp, "result");
	assert_non_null(result);
	json_incref(result);
	json_decref(resp);
	return result;
}

/* Assert a response is an error whose message contains want. */
static void assert_error(json_t *resp, const char *want)
{
	const char *msg;

	assert_true(json_is_false(json_object_get(resp, "ok")));
	assert_null(json_object_get(resp, "result"));
	msg = json_string_value(json_object_get(resp, "error"));
	assert_non_null(msg);
	if (!strstr(msg, want))
		fail_msg("error \"%s\" does not contain \"%s\"", msg, want);
	json_decref(resp);
}

/* help answers on this connection: it is still open and in step. */
static void assert_alive(struct client *cl)
{
	json_t *r = ok_result(call_raw(cl, "{\"cmd\":\"help\"}\n"));

	assert_true(json_is_array(r));
	json_decref(r);
}

/* Handlers. */

static int h_echo(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	(void)err;
	(void)errlen;
	(*(unsigned *)arg)++;
	*result = json_deep_copy(args);
	return 0;
}

static int h_args(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	(void)err;
	(void)errlen;
	(void)arg;
	*result = json_pack("{s:b, s:I}", "object", json_is_object(args),
			    "size", (json_int_t)json_object_size(args));
	return 0;
}

static int h_null(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	(void)args;
	(void)err;
	(void)errlen;
	(void)arg;
	*result = NULL;
	return 0;
}

static int h_fail(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	const char *ip = json_string_value(json_object_get(args, "ip"));

	(void)arg;
	*result = json_string("must not be sent");
	if (ip) {
		snprintf(err, errlen, "ban %s not found", ip);
		return ENOENT;
	}
	return EINVAL;
}

static int h_big(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static char blob[10001];

	(void)args;
	(void)err;
	(void)errlen;
	memset(blob, 'b', sizeof(blob) - 1);
	*result = json_pack("{s:I, s:s}", "n", (json_int_t)++*(unsigned *)arg, "blob", blob);
	return 0;
}

static int h_once(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	(void)args;
	(void)err;
	(void)errlen;
	ctl_unregister(arg, "test.once");
	*result = json_string("bye");
	return 0;
}

/* Tests. */

static void test_request_with_args(void **state)
{
	struct ctl_cmd_stats st;
	struct client cl;
	char line[256];
	const char *req = "{\"cmd\": \"test.echo\", \"args\": {\"a\": 1, \"b\": [true, \"x\"]}}\n";

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "test.echo", h_echo, &t.calls), 0);
	client_open(&cl);
	assert_true(client_send(&cl, req, strlen(req)));
	assert_true(client_line(&cl, line, sizeof(line)));
	/* compact, ok first, one line */
	assert_string_equal(line, "{\"ok\":true,\"result\":{\"a\":1,\"b\":[true,\"x\"]}}");
	assert_int_equal(t.calls, 1);
	assert_int_equal(ctl_cmd_stats(t.ctl, "test.echo", &st), 0);
	assert_int_equal(st.calls, 1);
	assert_int_equal(st.errors, 0);
	assert_int_equal(ctl_stats(t.ctl)->requests, 1);
	assert_int_equal(ctl_stats(t.ctl)->errors, 0);
	assert_int_equal(ctl_stats(t.ctl)->clients, 1);
	assert_int_equal(ctl_cmd_stats(t.ctl, "nope", &st), ENOENT);
	client_close(&cl);
}

static void test_request_without_args(void **state)
{
	struct client cl;
	char line[256];
	json_t *r;

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "test.args", h_args, NULL), 0);
	assert_int_equal(ctl_register(t.ctl, "test.null", h_null, NULL), 0);
	client_open(&cl);
	r = ok_result(call_raw(&cl, "{\"cmd\":\"test.args\"}\n"));
	assert_true(json_is_true(json_object_get(r, "object")));
	assert_int_equal(json_integer_value(json_object_get(r, "size")), 0);
	json_decref(r);
	/* a NULL result on success is null */
	assert_true(client_send(&cl, "{\"cmd\":\"test.null\"}\r\n", 21));
	assert_true(client_line(&cl, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"result\":null}");
	client_close(&cl);
}

static void test_help(void **state)
{
	struct client cl;
	char *text;
	json_t *r;

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "test.b", h_null, NULL), 0);
	assert_int_equal(ctl_register(t.ctl, "test.a", h_null, NULL), 0);
	assert_int_equal(ctl_register(t.ctl, "test.a", h_null, NULL), EEXIST);
	assert_int_equal(ctl_register(t.ctl, "help", h_null, NULL), EEXIST);
	assert_int_equal(ctl_register(t.ctl, "Guard Bans", h_null, NULL), EINVAL);
	assert_int_equal(ctl_register(t.ctl, "", h_null, NULL), EINVAL);
	client_open(&cl);
	r = ok_result(call_raw(&cl, "{\"cmd\":\"help\"}\n"));
	text = json_dumps(r, JSON_COMPACT);
	assert_string_equal(text, "[\"help\",\"test.a\",\"test.b\"]");
	free(text);
	json_decref(r);
	ctl_unregister(t.ctl, "test.a");
	ctl_unregister(t.ctl, "test.unknown");
	r = ok_result(call_raw(&cl, "{\"cmd\":\"help\",\"args\":{}}\n"));
	text = json_dumps(r, JSON_COMPACT);
	assert_string_equal(text, "[\"help\",\"test.b\"]");
	free(text);
	json_decref(r);
	client_close(&cl);
}

static void test_unknown_command(void **state)
{
	struct client cl;

	(void)state;
	server_start();
	client_open(&cl);
	assert_error(call_raw(&cl, "{\"cmd\":\"nope\"}\n"), "unknown command \"nope\"");
	assert_int_equal(ctl_stats(t.ctl)->errors, 1);
	assert_alive(&cl);
	assert_int_equal(ctl_stats(t.ctl)->requests, 2);
	assert_int_equal(ctl_stats(t.ctl)->errors, 1);
	client_close(&cl);
}

static void test_bad_json(void **state)
{
	struct client cl;

	(void)state;
	server_start();
	client_open(&cl);
	assert_error(call_raw(&cl, "{\"cmd\": \"help\"\n"), "bad JSON");
	assert_error(call_raw(&cl, "{\"cmd\":\"help\"} trailing\n"), "bad JSON");
	assert_error(call_raw(&cl, "{\"cmd\":\"help\",\"cmd\":\"nope\"}\n"), "bad JSON");
	assert_error(call_raw(&cl, "\xff\xfe{}\n"), "bad JSON");
	assert_alive(&cl);
	client_close(&cl);
}

static void test_array_request(void **state)
{
	struct client cl;

	(void)state;
	server_start();
	client_open(&cl);
	assert_error(call_raw(&cl, "[\"help\"]\n"), "must be a JSON object");
	assert_error(call_raw(&cl, "\"help\"\n"), "must be a JSON object");
	assert_alive(&cl);
	client_close(&cl);
}

static void test_cmd_not_string(void **state)
{
	struct client cl;

	(void)state;
	server_start();
	client_open(&cl);
	assert_error(call_raw(&cl, "{\"cmd\":5}\n"), "\"cmd\" must be a string");
	assert_error(call_raw(&cl, "{\"cmd\":[\"help\"]}\n"), "\"cmd\" must be a string");
	assert_error(call_raw(&cl, "{\"args\":{}}\n"), "no \"cmd\"");
	assert_alive(&cl);
	client_close(&cl);
}

static void test_args_not_object(void **state)
{
	struct client cl;

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "test.echo", h_echo, &t.calls), 0);
	client_open(&cl);
	assert_error(call_raw(&cl, "{\"cmd\":\"test.echo\",\"args\":[1]}\n"), "\"args\" must be an object");
	assert_error(call_raw(&cl, "{\"cmd\":\"test.echo\",\"args\":null}\n"), "\"args\" must be an object");
	assert_int_equal(t.calls, 0);
	assert_alive(&cl);
	client_close(&cl);
}

static void test_two_requests_one_write(void **state)
{
	const char *req = "{\"cmd\":\"test.echo\",\"args\":{\"n\":1}}\n"
			  "{\"cmd\":\"test.echo\",\"args\":{\"n\":2}}\n";
	struct client cl;
	char line[256];

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "test.echo", h_echo, &t.calls), 0);
	client_open(&cl);
	assert_true(client_send(&cl, req, strlen(req)));
	assert_true(client_line(&cl, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"result\":{\"n\":1}}");
	assert_true(client_line(&cl, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"result\":{\"n\":2}}");
	assert_int_equal(t.calls, 2);
	client_close(&cl);
}

static void test_split_request(void **state)
{
	const char *a = "{\"cmd\":\"test.ec", *b = "ho\",\"args\":{\"split\":true}}\n";
	struct client cl;
	char line[256];

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "test.echo", h_echo, &t.calls), 0);
	client_open(&cl);
	assert_true(client_send(&cl, a, strlen(a)));
	for (int i = 0; i < 20; i++)
		step(cl.fd);
	assert_false(client_pull(&cl));   /* nothing answered yet */
	assert_int_equal(t.calls, 0);
	assert_true(client_send(&cl, b, strlen(b)));
	assert_true(client_line(&cl, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"result\":{\"split\":true}}");
	assert_int_equal(t.calls, 1);
	client_close(&cl);
}

static void test_long_line(void **state)
{
	size_t n = CTL_LINE_MAX + 16;
	char *req = malloc(n + 1);
	struct client cl;
	json_t *r;

	(void)state;
	assert_non_null(req);
	server_start();
	client_open(&cl);
	/* exactly CTL_LINE_MAX bytes before the newline is still a request */
	memset(req, ' ', CTL_LINE_MAX);
	memcpy(req, "{\"cmd\":\"help\"}", 14);
	req[CTL_LINE_MAX] = '\n';
	req[CTL_LINE_MAX + 1] = '\0';
	r = ok_result(call_raw(&cl, req));
	json_decref(r);
	/* one byte more: an error, then the server closes */
	memset(req, 'x', n);
	req[n] = '\n';
	client_send(&cl, req, n + 1);   /* may fail part way: the server has closed */
	free(req);
	assert_true(client_wait_closed(&cl));
	assert_true(cl.len > 0);
	cl.buf[cl.len - 1] = '\0';
	r = json_loads(cl.buf, 0, NULL);
	assert_non_null(r);
	assert_error(r, "longer than 65536 bytes");
	for (int i = 0; i < 10 && ctl_stats(t.ctl)->clients; i++)
		step(-1);
	assert_int_equal(ctl_stats(t.ctl)->clients, 0);
	assert_int_equal(ctl_stats(t.ctl)->closed_long, 1);
	client_close(&cl);
}

static void test_handler_error(void **state)
{
	struct ctl_cmd_stats st;
	struct client cl;
	json_t *resp;

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "guard.unban", h_fail, NULL), 0);
	client_open(&cl);
	resp = call_raw(&cl, "{\"cmd\":\"guard.unban\",\"args\":{\"ip\":\"192.0.2.1\"}}\n");
	assert_string_equal(json_string_value(json_object_get(resp, "error")),
			    "ban 192.0.2.1 not found");
	assert_error(resp, "not found");
	/* no message: the code's strerror */
	resp = call_raw(&cl, "{\"cmd\":\"guard.unban\"}\n");
	assert_string_equal(json_string_value(json_object_get(resp, "error")), strerror(EINVAL));
	assert_error(resp, "");
	assert_int_equal(ctl_cmd_stats(t.ctl, "guard.unban", &st), 0);
	assert_int_equal(st.calls, 2);
	assert_int_equal(st.errors, 2);
	assert_int_equal(ctl_stats(t.ctl)->errors, 2);
	client_close(&cl);
}

static void test_unregister_in_handler(void **state)
{
	struct client cl;
	json_t *r;

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "test.once", h_once, t.ctl), 0);
	client_open(&cl);
	r = ok_result(call_raw(&cl, "{\"cmd\":\"test.once\"}\n"));
	assert_string_equal(json_string_value(r), "bye");
	json_decref(r);
	assert_error(call_raw(&cl, "{\"cmd\":\"test.once\"}\n"), "unknown command");
	client_close(&cl);
}

static void test_socket_modes(void **state)
{
	struct stat st;
	mode_t old;

	(void)state;
	old = umask(0);   /* what the code sets must not depend on the caller's umask */
	server_start();
	umask(old);
	assert_int_equal(stat(t.sockdir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(lstat(t.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_string_equal(ctl_path(t.ctl), t.path);
	/* closing removes the socket file */
	t.ctl = mem_deref(t.ctl);
	assert_int_equal(lstat(t.path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_stale_socket(void **state)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct client cl;
	int fd;

	(void)state;
	assert_int_equal(mkdir(t.sockdir, 0700), 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t.path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);   /* left behind, as by a crashed sbcd */
	server_start();
	client_open(&cl);
	assert_alive(&cl);
	client_close(&cl);
}

static void test_regular_file(void **state)
{
	char buf[16] = "";
	struct stat st;
	FILE *f;

	(void)state;
	assert_int_equal(mkdir(t.sockdir, 0700), 0);
	f = fopen(t.path, "w");
	assert_non_null(f);
	fputs("keep me\n", f);
	fclose(f);
	assert_int_equal(ctl_alloc(&t.ctl, t.base, t.path), EEXIST);
	assert_null(t.ctl);
	assert_int_equal(lstat(t.path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	f = fopen(t.path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "keep me\n");
	/* a folder is not a socket either */
	assert_int_equal(unlink(t.path), 0);
	assert_int_equal(mkdir(t.path, 0700), 0);
	assert_int_equal(ctl_alloc(&t.ctl, t.base, t.path), EEXIST);
	assert_int_equal(stat(t.path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
}

static void test_live_socket(void **state)
{
	struct ctl *second = NULL;
	struct client cl;
	struct stat st;

	(void)state;
	server_start();
	assert_int_equal(ctl_alloc(&second, t.base, t.path), EADDRINUSE);
	assert_null(second);
	/* the refused one left the running one's socket alone */
	assert_int_equal(lstat(t.path, &st), 0);
	client_open(&cl);
	assert_alive(&cl);
	client_close(&cl);
}

static void test_path_checks(void **state)
{
	char longpath[160];

	(void)state;
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	assert_int_equal(ctl_alloc(&t.ctl, t.base, longpath), ENAMETOOLONG);
	assert_int_equal(ctl_alloc(&t.ctl, t.base, ""), EINVAL);
	assert_int_equal(ctl_alloc(&t.ctl, t.base, "/tmp/"), EINVAL);
	assert_null(t.ctl);
}

static void test_max_clients(void **state)
{
	struct client *cl = calloc(CTL_CLIENTS_MAX + 2, sizeof(*cl));
	int i;

	(void)state;
	assert_non_null(cl);
	server_start();
	for (i = 0; i < CTL_CLIENTS_MAX; i++)
		client_open(&cl[i]);
	for (i = 0; i < MAX_STEPS && ctl_stats(t.ctl)->clients < CTL_CLIENTS_MAX; i++)
		step(-1);
	assert_int_equal(ctl_stats(t.ctl)->clients, CTL_CLIENTS_MAX);
	client_open(&cl[CTL_CLIENTS_MAX]);
	assert_true(client_wait_closed(&cl[CTL_CLIENTS_MAX]));
	assert_int_equal(cl[CTL_CLIENTS_MAX].len, 0);
	assert_int_equal(ctl_stats(t.ctl)->refused, 1);
	assert_int_equal(ctl_stats(t.ctl)->clients, CTL_CLIENTS_MAX);
	/* the first and the last still work */
	assert_alive(&cl[0]);
	assert_alive(&cl[CTL_CLIENTS_MAX - 1]);
	/* one goes: there is room again */
	client_close(&cl[0]);
	for (i = 0; i < MAX_STEPS && ctl_stats(t.ctl)->clients == CTL_CLIENTS_MAX; i++)
		step(-1);
	assert_int_equal(ctl_stats(t.ctl)->clients, CTL_CLIENTS_MAX - 1);
	client_open(&cl[CTL_CLIENTS_MAX + 1]);
	assert_alive(&cl[CTL_CLIENTS_MAX + 1]);
	assert_int_equal(ctl_stats(t.ctl)->refused, 1);
	for (i = 0; i < CTL_CLIENTS_MAX + 2; i++)
		client_close(&cl[i]);
	free(cl);
}

/* A client that shuts its side after the requests still gets every answer, then the close. */
static void test_half_close(void **state)
{
	enum { N = 40 };
	char req[N * 24 + 1], line[16384];
	struct client cl;
	size_t off = 0;

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "test.big", h_big, &t.calls), 0);
	client_open(&cl);
	for (int i = 0; i < N; i++)
		off += (size_t)snprintf(req + off, sizeof(req) - off, "{\"cmd\":\"test.big\"}\n");
	assert_true(client_send(&cl, req, off));
	assert_int_equal(shutdown(cl.fd, SHUT_WR), 0);
	for (int i = 1; i <= N; i++) {
		json_t *r;

		assert_true(client_line(&cl, line, sizeof(line)));
		r = ok_result(json_loads(line, 0, NULL));
		assert_int_equal(json_integer_value(json_object_get(r, "n")), i);
		json_decref(r);
	}
	assert_true(client_wait_closed(&cl));
	assert_int_equal(cl.len, 0);
	assert_int_equal(ctl_stats(t.ctl)->clients, 0);
	client_close(&cl);
}

/* A client that sends many requests before reading gets every answer, in order. */
static void test_backpressure(void **state)
{
	enum { N = 60 };
	char req[N * 24 + 1], line[16384];
	struct client cl;
	size_t off = 0;

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "test.big", h_big, &t.calls), 0);
	client_open(&cl);
	for (int i = 0; i < N; i++)
		off += (size_t)snprintf(req + off, sizeof(req) - off, "{\"cmd\":\"test.big\"}\n");
	assert_true(client_send(&cl, req, off));
	for (int i = 0; i < 200; i++)
		step(-1);
	assert_true(t.calls < N);   /* about 600 KB of answers: the server waited */
	for (int i = 1; i <= N; i++) {
		json_t *r;

		assert_true(client_line(&cl, line, sizeof(line)));
		r = ok_result(json_loads(line, 0, NULL));
		assert_int_equal(json_integer_value(json_object_get(r, "n")), i);
		json_decref(r);
	}
	assert_int_equal(t.calls, N);
	client_close(&cl);
}

/* Every allocation of ctl_alloc failing in turn: ENOMEM, nothing left behind. */
static void test_alloc_oom(void **state)
{
	size_t start = mem_nalloc();
	struct stat st;
	long n;
	int err = ENOMEM;

	(void)state;
	for (n = 0; n < 100 && err; n++) {
		mem_fail_after(n);
		err = ctl_alloc(&t.ctl, t.base, t.path);
		mem_fail_after(-1);
		if (err) {
			assert_int_equal(err, ENOMEM);
			assert_null(t.ctl);
			assert_int_equal(mem_nalloc(), start);
			assert_int_equal(lstat(t.path, &st), -1);
		}
	}
	assert_int_equal(err, 0);
	assert_true(n > 1);
}

/* ctl_args_only: known keys pass, the first unknown one is named. */
static void test_args_only(void **state)
{
	static const char *const keys[] = { "source", "n", NULL };
	static const char *const none[] = { NULL };
	json_t *ok = json_pack("{s:s, s:i}", "source", "192.0.2.1", "n", 3);
	json_t *bad = json_pack("{s:s, s:i}", "source", "192.0.2.1", "nn", 3);
	json_t *empty = json_object();
	char err[CTL_ERR_MAX] = "";

	(void)state;
	assert_int_equal(ctl_args_only(ok, keys, err, sizeof(err)), 0);
	assert_int_equal(ctl_args_only(empty, none, err, sizeof(err)), 0);
	assert_int_equal(ctl_args_only(bad, keys, err, sizeof(err)), EINVAL);
	assert_string_equal(err, "unknown argument \"nn\"");
	assert_int_equal(ctl_args_only(ok, none, err, sizeof(err)), EINVAL);
	json_decref(ok);
	json_decref(bad);
	json_decref(empty);
}

/* ctl_register_all: a name already taken fails the table and leaves none of it registered. */
static void test_register_all(void **state)
{
	static const struct ctl_cmd_def table[] = {
		{ "t.one", h_echo }, { "t.two", h_echo },
	};

	(void)state;
	server_start();
	assert_int_equal(ctl_register(t.ctl, "t.two", h_echo, &t.calls), 0);
	assert_int_equal(ctl_register_all(t.ctl, table, ARRAY_SIZE(table), &t.calls), EEXIST);
	assert_int_equal(ctl_register(t.ctl, "t.one", h_echo, &t.calls), 0);   /* rolled back */
	ctl_unregister_all(t.ctl, table, ARRAY_SIZE(table));
	assert_int_equal(ctl_register_all(t.ctl, table, ARRAY_SIZE(table), &t.calls), 0);
	assert_int_equal(ctl_register(t.ctl, "t.one", h_echo, &t.calls), EEXIST);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_request_with_args),
		T(test_request_without_args),
		T(test_help),
		T(test_unknown_command),
		T(test_bad_json),
		T(test_array_request),
		T(test_cmd_not_string),
		T(test_args_not_object),
		T(test_args_only),
		T(test_register_all),
		T(test_two_requests_one_write),
		T(test_split_request),
		T(test_long_line),
		T(test_handler_error),
		T(test_unregister_in_handler),
		T(test_socket_modes),
		T(test_stale_socket),
		T(test_regular_file),
		T(test_live_socket),
		T(test_path_checks),
		T(test_max_clients),
		T(test_half_close),
		T(test_backpressure),
		T(test_alloc_oom),
	};
#undef T

	signal(SIGPIPE, SIG_IGN);
	log_setup("test_ctl", LOG_LVL_ERROR, false);
	return cmocka_run_group_tests_name("ctl", tests, NULL, NULL);
}
