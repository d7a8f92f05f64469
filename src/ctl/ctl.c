/* ctl: the control server: an owner-only unix socket, one JSON request per line, commands by name. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/util.h"
#include "ctl.h"

enum {
	CTL_BACKLOG = 16,
	CTL_OUTPUT_HIGH = 256 * 1024,  /* past this, requests wait until the client reads */
	CTL_ACCEPT_PAUSE_S = 1,        /* after accept() fails (EMFILE), listen again this much later */
};

#define CTL_SUN_PATH_MAX sizeof(((struct sockaddr_un *)0)->sun_path)

struct ctl_cmd {
	struct ctl_cmd *next;          /* the list is sorted by name */
	char name[CTL_NAME_MAX];
	ctl_cmd_h *h;
	void *arg;
	struct ctl_cmd_stats st;
};

struct ctl_client {
	struct ctl_client *next;
	struct ctl_client **pprev;
	struct ctl *c;
	struct bufferevent *bev;
	size_t scanned;                /* input bytes already searched for a newline */
	bool paused;                   /* output backed up: reading stopped until it drains */
	bool eof;                      /* the client shut its side: answer what is read, then close */
	bool done;                     /* no more requests (line too long): close once written */
};

struct ctl {
	struct event_base *base;
	struct evconnlistener *lst;
	struct event *ev_resume;       /* re-enables the listener after an accept error */
	char path[CTL_SUN_PATH_MAX];
	bool bound;                    /* the socket file at path is ours: dev and ino say which */
	dev_t dev;
	ino_t ino;
	struct ctl_cmd *cmds;
	unsigned ncmds;
	struct ctl_client *clients;
	struct ctl_stats stats;
};

/* Names are what an operator types: [a-z0-9_.-], 1 to CTL_NAME_MAX - 1 bytes. */
static bool name_valid(const char *name)
{
	size_t len = strlen(name);

	if (!len || len >= CTL_NAME_MAX)
		return false;
	for (const char *p = name; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '.' || *p == '-'))
			return false;
	}
	return true;
}

static struct ctl_cmd *cmd_find(const struct ctl *c, const char *name)
{
	for (struct ctl_cmd *cmd = c->cmds; cmd; cmd = cmd->next) {
		int d = strcmp(cmd->name, name);

		if (d == 0)
			return cmd;
		if (d > 0)
			break;
	}
	return NULL;
}

/*
 * Add a command under name ("guard.bans"). EINVAL for a name outside
 * [a-z0-9_.-] or too long, EEXIST when it is taken, ENOSPC past
 * CTL_CMDS_MAX. arg is handed to h on every call.
 */
int ctl_register(struct ctl *c, const char *name, ctl_cmd_h *h, void *arg)
{
	struct ctl_cmd **pp, *cmd;

	if (!c || !name || !h || !name_valid(name))
		return EINVAL;
	if (cmd_find(c, name))
		return EEXIST;
	if (c->ncmds >= CTL_CMDS_MAX)
		return ENOSPC;
	cmd = mem_zalloc(sizeof(*cmd), NULL);
	if (!cmd)
		return ENOMEM;
	memcpy(cmd->name, name, strlen(name) + 1);
	cmd->h = h;
	cmd->arg = arg;
	for (pp = &c->cmds; *pp && strcmp((*pp)->name, name) < 0; pp = &(*pp)->next)
		;
	cmd->next = *pp;
	*pp = cmd;
	c->ncmds++;
	return 0;
}

/*
 * Remove a command; an unknown name is ignored. A call running now (the
 * handler unregistering itself) finishes: it holds its own reference.
 */
void ctl_unregister(struct ctl *c, const char *name)
{
	struct ctl_cmd **pp, *cmd;

	if (!c || !name)
		return;
	for (pp = &c->cmds; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->name, name) == 0)
			break;
	}
	cmd = *pp;
	if (!cmd)
		return;
	*pp = cmd->next;
	cmd->next = NULL;
	c->ncmds--;
	mem_deref(cmd);
}

/* help: the command names, sorted. */
static int cmd_help(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	const struct ctl *c = arg;
	json_t *names = json_array();

	(void)args;
	if (!names)
		goto out_nomem;
	for (const struct ctl_cmd *cmd = c->cmds; cmd; cmd = cmd->next) {
		if (json_array_append_new(names, json_string(cmd->name)))
			goto out_nomem;
	}
	*result = names;
	return 0;

 out_nomem:
	json_decref(names);
	snprintf(err, errlen, "out of memory");
	return ENOMEM;
}

/* Tear a client down now: unlink it, free its bufferevent (closing the socket). */
static void client_free(struct ctl_client *cl)
{
	struct ctl *c = cl->c;

	*cl->pprev = cl->next;
	if (cl->next)
		cl->next->pprev = cl->pprev;
	bufferevent_free(cl->bev);
	c->stats.clients--;
	mem_deref(cl);
}

/*
 * Queue one response line. resp is consumed; NULL (out of memory) or a
 * value that cannot be encoded sends a fixed error instead. False when the
 * response sent is an error.
 */
static bool client_send(struct ctl_client *cl, json_t *resp, bool ok)
{
	static const char fallback[] = "{\"ok\":false,\"error\":\"the response could not be encoded\"}\n";
	char *text = resp ? json_dumps(resp, JSON_COMPACT) : NULL;

	json_decref(resp);
	if (!text) {
		bufferevent_write(cl->bev, fallback, sizeof(fallback) - 1);
		return false;
	}
	bufferevent_write(cl->bev, text, strlen(text));
	bufferevent_write(cl->bev, "\n", 1);
	free(text);
	return ok;
}

/* {"ok":ok,key:val}; val is consumed. NULL when out of memory. */
static json_t *resp_new(bool ok, const char *key, json_t *val)
{
	json_t *resp = json_object();

	if (!resp || !val || json_object_set_new(resp, "ok", json_boolean(ok))) {
		json_decref(resp);
		json_decref(val);
		return NULL;
	}
	if (json_object_set_new(resp, key, val)) {   /* val is freed */
		json_decref(resp);
		return NULL;
	}
	return resp;
}

/* Answer {"ok":false,"error":msg}; if msg is not UTF-8, what is not printable ASCII becomes '?'. */
static void client_error(struct ctl_client *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void client_error(struct ctl_client *cl, const char *fmt, ...)
{
	char msg[CTL_ERR_MAX + 128];
	json_t *jmsg;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	jmsg = json_string(msg);
	if (!jmsg) {
		for (char *p = msg; *p; p++) {
			if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
				*p = '?';
		}
		jmsg = json_string(msg);
	}
	cl->c->stats.errors++;
	client_send(cl, resp_new(false, "error", jmsg), false);
}

/* Answer {"ok":true,"result":result}; result is consumed, NULL becomes null. */
static void client_result(struct ctl_client *cl, json_t *result)
{
	if (!client_send(cl, resp_new(true, "result", result ? result : json_null()), true))
		cl->c->stats.errors++;
}

/* Run the command a request names, and answer it. */
static void client_call(struct ctl_client *cl, const char *name, json_t *args)
{
	struct ctl *c = cl->c;
	struct ctl_cmd *cmd = cmd_find(c, name);
	char err[CTL_ERR_MAX];
	json_t *result = NULL;
	int rc;

	if (!cmd) {
		if (strlen(name) >= CTL_NAME_MAX)
			client_error(cl, "unknown command (name longer than %d bytes)",
				     CTL_NAME_MAX - 1);
		else
			client_error(cl, "unknown command \"%s\" (\"help\" lists the commands)", name);
		return;
	}
	err[0] = '\0';
	cmd->st.calls++;
	mem_ref(cmd);   /* the handler may unregister it */
	rc = cmd->h(args, &result, err, sizeof(err), cmd->arg);
	if (rc) {
		cmd->st.errors++;
		json_decref(result);
		err[sizeof(err) - 1] = '\0';
		client_error(cl, "%s", err[0] ? err : strerror(rc));
		log_debug("control: %s: %s", cmd->name, err[0] ? err : strerror(rc));
	} else {
		client_result(cl, result);
	}
	mem_deref(cmd);
}

/* One request line (newline removed): check its shape, run it, answer. */
static void client_request(struct ctl_client *cl, const char *line, size_t len)
{
	json_t *req, *jcmd, *args, *empty = NULL;
	json_error_t jerr;
	size_t i;

	while (len && line[len - 1] == '\r')
		len--;
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i == len)
		return;   /* a blank line is not a request */
	cl->c->stats.requests++;
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!req) {
		client_error(cl, "bad JSON: %s (column %d)", jerr.text, jerr.column);
		return;
	}
	if (!json_is_object(req)) {
		client_error(cl, "the request must be a JSON object: {\"cmd\": NAME, \"args\": {...}}");
		goto out;
	}
	jcmd = json_object_get(req, "cmd");
	if (!jcmd) {
		client_error(cl, "the request has no \"cmd\"");
		goto out;
	}
	if (!json_is_string(jcmd)) {
		client_error(cl, "\"cmd\" must be a string");
		goto out;
	}
	args = json_object_get(req, "args");
	if (args && !json_is_object(args)) {
		client_error(cl, "\"args\" must be an object");
		goto out;
	}
	if (!args) {
		args = empty = json_object();
		if (!args) {
			client_error(cl, "out of memory");
			goto out;
		}
	}
	client_call(cl, json_string_value(jcmd), args);
	json_decref(empty);
 out:
	json_decref(req);
}

/* A line longer than CTL_LINE_MAX: framing is lost, say so and close once it is written. */
static void client_too_long(struct ctl_client *cl)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);

	cl->c->stats.requests++;
	cl->c->stats.closed_long++;
	client_error(cl, "request line longer than %d bytes: closing", CTL_LINE_MAX);
	cl->done = true;
	bufferevent_disable(cl->bev, EV_READ);
	evbuffer_drain(in, evbuffer_get_length(in));
	log_warn("control: a client sent a line longer than %d bytes: closed", CTL_LINE_MAX);
}

/*
 * Answer every complete line in the input, in order, until none is left or
 * the output holds CTL_OUTPUT_HIGH bytes: then reading stops (paused) until
 * the client has taken its responses. On return, reading is off or the
 * input is below the read high-water mark (CTL_LINE_MAX + 1): libevent
 * calls the read callback again and again while a buffer it may still
 * read into stays full.
 */
static void client_process(struct ctl_client *cl)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);
	struct evbuffer *out = bufferevent_get_output(cl->bev);

	while (!cl->done) {
		size_t len = evbuffer_get_length(in), eol_len = 0;
		struct evbuffer_ptr pos;
		const char *line;

		if (!len)
			break;
		if (evbuffer_get_length(out) >= CTL_OUTPUT_HIGH) {
			cl->paused = true;
			bufferevent_disable(cl->bev, EV_READ);
			break;
		}
		if (evbuffer_ptr_set(in, &pos, cl->scanned, EVBUFFER_PTR_SET) == -1)
			pos.pos = -1;
		else
			pos = evbuffer_search_eol(in, &pos, &eol_len, EVBUFFER_EOL_LF);
		if (pos.pos == -1) {
			cl->scanned = len;
			if (len > CTL_LINE_MAX)
				client_too_long(cl);
			break;
		}
		if ((size_t)pos.pos > CTL_LINE_MAX) {
			client_too_long(cl);
			break;
		}
		line = (const char *)evbuffer_pullup(in, pos.pos + 1);
		if (!line) {
			client_too_long(cl);   /* cannot happen: the bytes are there */
			break;
		}
		client_request(cl, line, (size_t)pos.pos);
		evbuffer_drain(in, (size_t)pos.pos + 1);
		cl->scanned = 0;
	}
}

/* Close when nothing is left to do: after the last response of a closing or shut client. */
static void client_check_close(struct ctl_client *cl)
{
	if (!cl->done && !cl->eof)
		return;
	if (cl->paused || evbuffer_get_length(bufferevent_get_output(cl->bev)))
		return;
	client_free(cl);
}

static void client_read(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;

	(void)bev;
	client_process(cl);
	client_check_close(cl);
}

/* The output drained: read again if paused, close if that was the last response. */
static void client_write(struct bufferevent *bev, void *arg)
{
	struct ctl_client *cl = arg;

	if (cl->paused && !cl->done) {
		cl->paused = false;
		if (!cl->eof)
			bufferevent_enable(bev, EV_READ);
		client_process(cl);
	}
	client_check_close(cl);
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctl_client *cl = arg;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) && (what & BEV_EVENT_READING)) {
		/* shut for writing, maybe still reading: answer what came, then close */
		cl->eof = true;
		bufferevent_disable(bev, EV_READ);
		client_check_close(cl);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		cl->c->stats.closed_idle++;
		log_debug("control: client idle for %d s: closed", CTL_IDLE_S);
	}
	client_free(cl);
}

static void ctl_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
		       int salen, void *arg)
{
	static const struct timeval idle = { CTL_IDLE_S, 0 };
	struct ctl *c = arg;
	struct ctl_client *cl;

	(void)lst;
	(void)sa;
	(void)salen;
	if (c->stats.clients >= CTL_CLIENTS_MAX) {
		c->stats.refused++;
		log_warn("control: %d clients connected already: connection refused", CTL_CLIENTS_MAX);
		close(fd);
		return;
	}
	cl = mem_zalloc(sizeof(*cl), NULL);
	if (!cl) {
		close(fd);
		return;
	}
	cl->c = c;
	cl->bev = bufferevent_socket_new(c->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!cl->bev) {
		close(fd);
		mem_deref(cl);
		return;
	}
	cl->next = c->clients;
	if (c->clients)
		c->clients->pprev = &cl->next;
	cl->pprev = &c->clients;
	c->clients = cl;
	c->stats.clients++;
	c->stats.accepted++;
	bufferevent_setcb(cl->bev, client_read, client_write, client_event, cl);
	bufferevent_set_timeouts(cl->bev, &idle, &idle);
	/* never hold more than one line of the longest kind, newline included */
	bufferevent_setwatermark(cl->bev, EV_READ, 0, CTL_LINE_MAX + 1);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
}

static void accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct ctl *c = arg;

	(void)fd;
	(void)what;
	evconnlistener_enable(c->lst);
}

/* accept() failed (out of descriptors): stop listening for a moment instead of spinning. */
static void accept_error(struct evconnlistener *lst, void *arg)
{
	static const struct timeval pause = { CTL_ACCEPT_PAUSE_S, 0 };
	struct ctl *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	log_warn("control: accept on %s: %s", c->path, strerror(err));
	evconnlistener_disable(lst);
	evtimer_add(c->ev_resume, &pause);
}

/* Make the socket's folder (one level, 0700) if it is missing. */
static int dir_prepare(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[CTL_SUN_PATH_MAX];
	struct stat st;
	size_t n;

	if (!slash || slash == path)
		return 0;   /* the current folder, or / */
	n = (size_t)(slash - path);
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (mkdir(dir, 0700) == 0) {
		if (chmod(dir, 0700) == -1)   /* whatever the umask took away */
			return errno;
		return 0;
	}
	if (errno != EEXIST)
		return errno;
	if (stat(dir, &st) == -1)
		return errno;
	return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

/*
 * What is at path already: nothing, or a socket nobody listens on (removed)
 * is fine; a live socket means another sbcd (EADDRINUSE); anything that is
 * not a socket is left alone (EEXIST).
 */
static int stale_remove(const struct sockaddr_un *sun, socklen_t sunlen)
{
	struct stat st;
	int fd, err = 0;

	if (lstat(sun->sun_path, &st) == -1)
		return errno == ENOENT ? 0 : errno;
	if (!S_ISSOCK(st.st_mode))
		return EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errno;
	if (connect(fd, (const struct sockaddr *)sun, sunlen) == 0)
		err = EADDRINUSE;
	else if (errno == EAGAIN || errno == EINPROGRESS)
		err = EADDRINUSE;   /* alive, its backlog full */
	else if (errno != ECONNREFUSED)
		err = errno;
	close(fd);
	if (err)
		return err;
	if (unlink(sun->sun_path) == -1 && errno != ENOENT)
		return errno;
	log_info("control: removed the stale socket %s", sun->sun_path);
	return 0;
}

/* Bind and listen on c->path, owner-only (0600); *fdp is the listening socket. */
static int sock_open(struct ctl *c, int *fdp)
{
	struct sockaddr_un sun;
	socklen_t sunlen;
	struct stat st;
	mode_t old;
	int fd, err;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, c->path, strlen(c->path) + 1);
	sunlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(c->path) + 1);
	err = dir_prepare(c->path);
	if (err)
		return err;
	err = stale_remove(&sun, sunlen);
	if (err)
		return err;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return errno;
	old = umask(0177);
	err = bind(fd, (const struct sockaddr *)&sun, sunlen) == -1 ? errno : 0;
	umask(old);
	if (err)
		goto out_close;
	if (lstat(c->path, &st) == -1) {
		err = errno;
		goto out_close;
	}
	c->bound = true;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	if (chmod(c->path, 0600) == -1 || listen(fd, CTL_BACKLOG) == -1) {
		err = errno;
		goto out_close;
	}
	*fdp = fd;
	return 0;

 out_close:
	close(fd);
	return err;
}

/* Close every client and the listener; remove the socket file if it is still ours. */
static void ctl_destroy(void *data)
{
	struct ctl *c = data;
	struct stat st;

	if (c->lst)
		evconnlistener_free(c->lst);
	if (c->ev_resume)
		event_free(c->ev_resume);
	while (c->clients)
		client_free(c->clients);
	while (c->cmds)
		ctl_unregister(c, c->cmds->name);
	if (c->bound && lstat(c->path, &st) == 0 && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
}

/*
 * Serve the control API on a unix stream socket at path, on base. The
 * socket is 0600 and its folder, made if missing, 0700. A stale socket at
 * path is replaced; a live one is EADDRINUSE (another sbcd), anything else
 * there EEXIST, a path that does not fit sun_path ENAMETOOLONG. The caller
 * ignores SIGPIPE (a client may go while its response is written).
 * mem_deref closes every connection and removes the socket file.
 */
int ctl_alloc(struct ctl **cp, struct event_base *base, const char *path)
{
	struct ctl *c;
	size_t len;
	int fd, err;

	if (!cp || !base || !path)
		return EINVAL;
	len = strlen(path);
	if (!len || path[len - 1] == '/')
		return EINVAL;
	if (len >= CTL_SUN_PATH_MAX)
		return ENAMETOOLONG;
	c = mem_zalloc(sizeof(*c), ctl_destroy);
	if (!c)
		return ENOMEM;
	c->base = base;
	memcpy(c->path, path, len + 1);
	err = ctl_register(c, "help", cmd_help, c);
	if (err)
		goto out_free;
	c->ev_resume = evtimer_new(base, accept_resume, c);
	if (!c->ev_resume) {
		err = ENOMEM;
		goto out_free;
	}
	err = sock_open(c, &fd);
	if (err)
		goto out_free;
	c->lst = evconnlistener_new(base, ctl_accept, c,
				    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!c->lst) {
		err = ENOMEM;
		close(fd);
		goto out_free;
	}
	evconnlistener_set_error_cb(c->lst, accept_error);
	*cp = c;
	return 0;

 out_free:
	mem_deref(c);
	return err;
}

const struct ctl_stats *ctl_stats(const struct ctl *c)
{
	return &c->stats;
}

/* Calls and errors of one command; ENOENT if it is not registered. */
int ctl_cmd_stats(const struct ctl *c, const char *name, struct ctl_cmd_stats *st)
{
	const struct ctl_cmd *cmd = cmd_find(c, name);

	if (!cmd)
		return ENOENT;
	*st = cmd->st;
	return 0;
}

const char *ctl_path(const struct ctl *c)
{
	return c->path;
}

int ctl_args_only(const json_t *args, const char *const *keys, char *err, size_t errlen)
{
	const char *k;
	json_t *v;

	json_object_foreach((json_t *)(uintptr_t)args, k, v) {
		size_t i;

		for (i = 0; keys[i] && strcmp(keys[i], k) != 0; i++)
			;
		if (!keys[i]) {
			snprintf(err, errlen, "unknown argument \"%s\"", k);
			return EINVAL;
		}
	}
	return 0;
}

int ctl_register_all(struct ctl *c, const struct ctl_cmd_def *v, size_t n, void *arg)
{
	for (size_t i = 0; i < n; i++) {
		int err = ctl_register(c, v[i].name, v[i].h, arg);

		if (err) {
			ctl_unregister_all(c, v, i);
			return err;
		}
	}
	return 0;
}

void ctl_unregister_all(struct ctl *c, const struct ctl_cmd_def *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ctl_unregister(c, v[i].name);
}
