/* http: sbc-webd's HTTPS server on libevent's evhttp: TLS connections, limits, routing, headers, replies, static files. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <openssl/ssl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "webd_int.h"

/* Every response carries these (docs/webd.md, "Headers"). */
static const char *const security_headers[][2] = {
	{ "Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; "
	  "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
	  "form-action 'self'" },
	{ "X-Frame-Options", "DENY" },
	{ "X-Content-Type-Options", "nosniff" },
	{ "Referrer-Policy", "no-referrer" },
	{ "Strict-Transport-Security", "max-age=31536000" },
	{ "Permissions-Policy", "camera=(), microphone=(), geolocation=()" },
};

#define SSL_COUNTED  ((void *)1)   /* ex_data of a connection under the cap */
#define SSL_REFUSED  ((void *)2)   /* over the cap: its handshake fails */

static int ssl_idx = -1;
static unsigned *ssl_conns;        /* the live count SSL_free lowers (one server per process) */

/* A connection's SSL is freed with it: the live count goes down. */
static void ssl_ex_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl,
			void *argp)
{
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	if (ptr == SSL_COUNTED && ssl_conns && *ssl_conns)
		(*ssl_conns)--;
}

/* A connection over WEBD_CONN_MAX is refused in its handshake (alert), before any HTTP. */
static int client_hello(SSL *ssl, int *al, void *arg)
{
	(void)arg;
	if (SSL_get_ex_data(ssl, ssl_idx) == SSL_REFUSED) {
		*al = SSL_AD_INTERNAL_ERROR;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

/*
 * evhttp asks for each accepted connection's bufferevent: a TLS one
 * (server side). Connections are counted here and uncounted when their
 * SSL is freed; past WEBD_CONN_MAX the new one is marked to be refused.
 * Never NULL: evhttp would then make a plain-text one.
 */
static struct bufferevent *conn_bev(struct event_base *base, void *arg)
{
	static uint64_t warned;
	struct webd *w = arg;
	struct bufferevent *bev;
	SSL *ssl = SSL_new(w->tls);

	if (!ssl)
		goto out_dead;
	if (w->conns >= WEBD_CONN_MAX) {
		SSL_set_ex_data(ssl, ssl_idx, SSL_REFUSED);
		w->stats.conns_refused++;
		if (time_mono_ms() - warned >= 60000 || !warned) {
			warned = time_mono_ms();
			log_warn("%u connections open: refusing more (%llu refused so far)",
				 WEBD_CONN_MAX, (unsigned long long)w->stats.conns_refused);
		}
	} else {
		SSL_set_ex_data(ssl, ssl_idx, SSL_COUNTED);
		w->conns++;
		w->stats.conns_accepted++;
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (!bev)
		goto out_dead;
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;

 out_dead:
	/* out of memory: a bufferevent that never reads; evhttp times it out */
	{
		struct bufferevent *pair[2];

		if (bufferevent_pair_new(base, 0, pair) == 0) {
			bufferevent_free(pair[1]);
			return pair[0];
		}
	}
	log_error("out of memory for a connection");
	abort();
}

/* The headers every answer carries, added before any handler runs. */
static void add_security_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	for (size_t i = 0; i < ARRAY_SIZE(security_headers); i++)
		evhttp_add_header(h, security_headers[i][0], security_headers[i][1]);
}

/* Send a body of len bytes with its Content-Type; API answers are never cached. */
void webd_reply_raw(struct evhttp_request *req, int code, const char *ctype, const char *data,
		    size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b = evbuffer_new();

	evhttp_remove_header(h, "Content-Type");
	evhttp_add_header(h, "Content-Type", ctype);
	if (!evhttp_find_header(h, "Cache-Control"))
		evhttp_add_header(h, "Cache-Control", "no-store");
	if (b && len)
		evbuffer_add(b, data, len);
	/* libevent 2.1 has no phrase for 429 */
	evhttp_send_reply(req, code, code == 429 ? "Too Many Requests" : NULL, b);
	if (b)
		evbuffer_free(b);
}

/* Send body (consumed) as compact JSON. */
void webd_reply_json(struct evhttp_request *req, int code, json_t *body)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	if (!text) {
		static const char oom[] = "{\"ok\":false,\"error\":\"out of memory\"}";

		webd_reply_raw(req, 500, "application/json", oom, sizeof(oom) - 1);
		return;
	}
	webd_reply_raw(req, code, "application/json", text, strlen(text));
	free(text);
}

/*
 * {"ok":false,"error":MESSAGE} with code. The message may quote what a
 * client sent (a parser's excerpt): bytes outside printable ASCII become
 * '?', so it is always valid UTF-8 JSON.
 */
void webd_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++) {
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			*p = '?';
	}
	webd_reply_json(req, code, json_pack("{s:b, s:s}", "ok", 0, "error", msg));
}

static void reply_text(struct evhttp_request *req, int code, const char *text)
{
	webd_reply_raw(req, code, "text/plain; charset=utf-8", text, strlen(text));
}

/* The client's address as text ("?" when the connection is gone). */
const char *webd_req_peer(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (!c)
		return "?";
	evhttp_connection_get_peer(c, &addr, &port);
	return addr ? addr : "?";
}

/*
 * The request body as a JSON object in *objp (a new reference). An empty
 * body is {} when empty_ok. Otherwise the request is answered (413, 400)
 * and an errno value returned.
 */
int webd_req_body(struct evhttp_request *req, bool empty_ok, json_t **objp)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_error_t je;
	const char *p;
	json_t *obj;

	if (len > WEBD_BODY_MAX) {
		webd_reply_error(req, 413, "the body is larger than %d bytes", WEBD_BODY_MAX);
		return EMSGSIZE;
	}
	if (!len && empty_ok) {
		*objp = json_object();
		return *objp ? 0 : ENOMEM;
	}
	p = len ? (const char *)evbuffer_pullup(in, (ev_ssize_t)len) : "";
	obj = json_loadb(p, len, JSON_REJECT_DUPLICATES, &je);
	if (!obj) {
		webd_reply_error(req, 400, "bad JSON: %s (line %d, column %d)", je.text, je.line,
				 je.column);
		return EBADMSG;
	}
	if (!json_is_object(obj)) {
		json_decref(obj);
		webd_reply_error(req, 400, "the body must be a JSON object");
		return EBADMSG;
	}
	*objp = obj;
	return 0;
}

/*
 * The live session the request's sbc_session cookie holds, or NULL (no
 * cookie, an empty one, or one refused: counted as malformed when too long).
 */
struct webd_session *webd_req_session(struct webd *w, struct evhttp_request *req)
{
	const char *cookie = evhttp_find_header(evhttp_request_get_input_headers(req), "Cookie");
	char text[WEBD_SEAL_TEXT_MAX];
	int err;

	if (!cookie)
		return NULL;
	err = webd_cookie_get(cookie, WEBD_COOKIE, text, sizeof(text));
	if (err == ENOENT || (!err && !text[0]))
		return NULL;
	if (err) {
		w->stats.session_refused[WEBD_REFUSE_MALFORMED]++;
		return NULL;
	}
	return webd_session_open(w, req, text);
}

static const char *method_name(enum evhttp_cmd_type m)
{
	return m == EVHTTP_REQ_GET ? "GET" : m == EVHTTP_REQ_POST ? "POST" : "HEAD";
}

enum {
	GATE_SESSION = 1u << 0,   /* a logged-in session */
	GATE_CSRF = 1u << 1,      /* and its X-CSRF-Token */
};

/*
 * The checks in front of an API handler, in this order: the method (405),
 * for POST the Content-Type (415) and Origin (403), the session (401),
 * the CSRF token (403). false when the request was answered.
 */
static bool api_gate(struct webd *w, struct evhttp_request *req, enum evhttp_cmd_type want,
		     unsigned flags, struct webd_session **sp)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *csrf;
	struct webd_session *s = NULL;

	if (evhttp_request_get_command(req) != want) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", method_name(want));
		webd_reply_error(req, 405, "method not allowed: use %s", method_name(want));
		return false;
	}
	if (want == EVHTTP_REQ_POST) {
		if (!webd_ctype_json(evhttp_find_header(in, "Content-Type"))) {
			webd_reply_error(req, 415, "Content-Type must be application/json");
			return false;
		}
		if (!webd_origin_ok(evhttp_find_header(in, "Origin"), evhttp_find_header(in, "Host"))) {
			w->stats.origin_refused++;
			webd_reply_error(req, 403, "Origin does not match Host");
			return false;
		}
	}
	if (flags & GATE_SESSION) {
		s = webd_req_session(w, req);
		if (!s) {
			webd_reply_error(req, 401, "login required");
			return false;
		}
	}
	if (flags & GATE_CSRF) {
		csrf = evhttp_find_header(in, "X-CSRF-Token");
		if (!csrf || !webd_token_eq(s->csrf, strlen(s->csrf), csrf, strlen(csrf))) {
			w->stats.csrf_refused++;
			webd_reply_error(req, 403, "missing or wrong CSRF token");
			return false;
		}
	}
	*sp = s;
	return true;
}

/* A command name as sbcd's control API allows ([a-z0-9_.-], 1-47). */
static bool cmd_name_ok(const char *cmd)
{
	size_t n = strlen(cmd);

	if (n == 0 || n > 47)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = cmd[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

/* /api/sbcd/<cmd>: GET for read commands, POST (with CSRF) for changes. */
static void route_sbcd(struct webd *w, struct evhttp_request *req, const char *cmd)
{
	enum webd_cmd_kind kind = cmd_name_ok(cmd) ? webd_cmd_kind(cmd) : WEBD_CMD_NONE;
	struct webd_session *s;

	if (kind == WEBD_CMD_NONE) {
		webd_reply_error(req, 404, "unknown command \"%s\"", cmd_name_ok(cmd) ? cmd : "?");
		return;
	}
	if (kind == WEBD_CMD_READ) {
		if (api_gate(w, req, EVHTTP_REQ_GET, GATE_SESSION, &s))
			webd_proxy_cmd(w, req, cmd, false);
		return;
	}
	if (api_gate(w, req, EVHTTP_REQ_POST, GATE_SESSION | GATE_CSRF, &s))
		webd_proxy_cmd(w, req, cmd, true);
}

/* Everything under /api/ (name is the rest of the path). */
static void route_api(struct webd *w, struct evhttp_request *req, const char *name)
{
	struct webd_session *s;

	if (strncmp(name, "sbcd/", 5) == 0) {
		route_sbcd(w, req, name + 5);
	} else if (strcmp(name, "session") == 0) {
		if (api_gate(w, req, EVHTTP_REQ_GET, 0, &s))
			webd_api_session(w, req);
	} else if (strcmp(name, "setup") == 0) {
		if (api_gate(w, req, EVHTTP_REQ_POST, 0, &s))
			webd_api_setup(w, req);
	} else if (strcmp(name, "login") == 0) {
		if (api_gate(w, req, EVHTTP_REQ_POST, 0, &s))
			webd_api_login(w, req);
	} else if (strcmp(name, "logout") == 0) {
		if (api_gate(w, req, EVHTTP_REQ_POST, GATE_SESSION | GATE_CSRF, &s))
			webd_api_logout(w, req, s);
	} else if (strcmp(name, "password") == 0) {
		if (api_gate(w, req, EVHTTP_REQ_POST, GATE_SESSION | GATE_CSRF, &s))
			webd_api_password(w, req, s);
	} else if (strcmp(name, "trace.pcap") == 0) {
		if (api_gate(w, req, EVHTTP_REQ_GET, GATE_SESSION, &s))
			webd_proxy_trace(w, req);
	} else {
		webd_reply_error(req, 404, "no such API path");
	}
}

/* /metrics: a session, or the metrics token as a bearer token. */
static void route_metrics(struct webd *w, struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *tok;
	size_t len;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		reply_text(req, 405, "method not allowed: use GET\n");
		return;
	}
	if (webd_bearer_get(evhttp_find_header(in, "Authorization"), &tok, &len) == 0) {
		if (webd_token_eq(w->metrics_token, strlen(w->metrics_token), tok, len)) {
			webd_proxy_metrics(w, req);
			return;
		}
	} else if (webd_req_session(w, req)) {
		webd_proxy_metrics(w, req);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
	reply_text(req, 401, "log in, or send the metrics token: Authorization: Bearer TOKEN\n");
}

/*
 * Open rel (checked by webd_path_resolve) under the web root one
 * component at a time, never following a symbolic link: nothing outside
 * the root can be reached. A regular file's descriptor, or -1.
 */
static int open_beneath(int root, const char *rel, struct stat *st)
{
	char part[WEBD_URI_PATH_MAX];
	const char *p = rel;
	int dir = root, fd = -1;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n >= sizeof(part))
			break;
		memcpy(part, p, n);
		part[n] = '\0';
		fd = openat(dir, part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY |
			    (slash ? O_DIRECTORY : 0));
		if (dir != root)
			close(dir);
		if (fd == -1 || !slash)
			break;
		dir = fd;
		fd = -1;
		p = slash + 1;
	}
	if (fd == -1)
		return -1;
	if (fstat(fd, st) == -1 || !S_ISREG(st->st_mode) || st->st_size > WEBD_STATIC_MAX) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Read the whole file (at most WEBD_STATIC_MAX bytes) into b, and close it. */
static int read_all(int fd, struct evbuffer *b)
{
	int err = 0;

	while (evbuffer_get_length(b) <= WEBD_STATIC_MAX) {
		int n = evbuffer_read(b, fd, 65536);

		if (n == 0)
			break;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			err = errno;
			break;
		}
	}
	close(fd);
	return err ? err : evbuffer_get_length(b) > WEBD_STATIC_MAX ? EFBIG : 0;
}

/* A file of the web root: GET or HEAD; no login needed (the UI shows its login form). */
static void route_static(struct webd *w, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	char rel[WEBD_URI_PATH_MAX], len[24];
	const char *ctype;
	struct evbuffer *b;
	struct stat st;
	int fd;

	if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
		evhttp_add_header(out, "Allow", "GET, HEAD");
		reply_text(req, 405, "method not allowed\n");
		return;
	}
	if (webd_path_resolve(path, rel, sizeof(rel)) || !(ctype = webd_content_type(rel))) {
		reply_text(req, 404, "not found\n");
		return;
	}
	fd = open_beneath(w->root_fd, rel, &st);
	if (fd < 0) {
		reply_text(req, 404, "not found\n");
		return;
	}
	evhttp_add_header(out, "Content-Type", ctype);
	evhttp_add_header(out, "Cache-Control", "no-cache");
	if (m == EVHTTP_REQ_HEAD) {
		close(fd);
		snprintf(len, sizeof(len), "%lld", (long long)st.st_size);
		evhttp_add_header(out, "Content-Length", len);
		evhttp_send_reply(req, 200, NULL, NULL);
		return;
	}
	b = evbuffer_new();
	if (!b || read_all(fd, b)) {
		if (b)
			evbuffer_free(b);
		else
			close(fd);
		evhttp_remove_header(out, "Content-Type");
		reply_text(req, 500, "cannot read the file\n");
		return;
	}
	evhttp_send_reply(req, 200, NULL, b);
	evbuffer_free(b);
}

/* Every request: the security headers first, then by path. */
static void http_request(struct evhttp_request *req, void *arg)
{
	struct webd *w = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	w->stats.requests++;
	add_security_headers(req);
	if (!path || path[0] != '/') {
		reply_text(req, 400, "bad request\n");
		return;
	}
	if (strncmp(path, "/api/", 5) == 0)
		route_api(w, req, path + 5);
	else if (strcmp(path, "/metrics") == 0)
		route_metrics(w, req);
	else
		route_static(w, req, path);
}

/* Serve HTTPS on w->listen_fd (bound before the privileges went). */
int webd_http_start(struct webd *w)
{
	if (ssl_idx < 0)
		ssl_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, ssl_ex_free);
	if (ssl_idx < 0)
		return ENOMEM;
	ssl_conns = &w->conns;
	SSL_CTX_set_client_hello_cb(w->tls, client_hello, NULL);
	w->http = evhttp_new(w->base);
	if (!w->http)
		return ENOMEM;
	evhttp_set_bevcb(w->http, conn_bev, w);
	evhttp_set_gencb(w->http, http_request, w);
	evhttp_set_max_headers_size(w->http, WEBD_HEADERS_MAX);
	evhttp_set_max_body_size(w->http, WEBD_BODY_MAX);
	evhttp_set_timeout(w->http, WEBD_CONN_TIMEOUT_S);
	evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
	evhttp_set_default_content_type(w->http, "text/plain; charset=utf-8");
	evhttp_set_flags(w->http, EVHTTP_SERVER_LINGERING_CLOSE);
	if (!evhttp_accept_socket_with_handle(w->http, w->listen_fd)) {
		log_error("cannot serve on the listen socket");
		return EIO;
	}
	w->listen_fd = -1;   /* evhttp owns it now */
	return 0;
}

/* Close every connection and the listener; pending requests must have been answered. */
void webd_http_stop(struct webd *w)
{
	if (w->http)
		evhttp_free(w->http);
	w->http = NULL;
	ssl_conns = NULL;
}
