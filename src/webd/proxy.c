/* proxy: /api/sbcd/<cmd> to sbcd's control socket, /metrics from sbcd's metrics command, /api/trace.pcap from the parent's descriptor. */
#include <errno.h>
#include <sys/queue.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "webd_int.h"

#define TRACE_CHUNK  65536

/* What a request to sbcd needs when its answer comes. */
struct proxy_ctx {
	struct webd *w;
	struct evhttp_request *req;
};

/*
 * The JSON answer for a request sbcd did not answer. Unreachable counts
 * as an sbcd error here; ctlc counted timeouts and bad answers itself.
 */
static void reply_ctl_error(struct webd *w, struct evhttp_request *req, int err)
{
	switch (err) {
	case ETIMEDOUT:
		webd_reply_error(req, 504, "sbcd did not answer within %d s", WEBD_CTL_TIMEOUT_MS / 1000);
		break;
	case EMSGSIZE:
		webd_reply_error(req, 413, "the request is larger than sbcd accepts (%d bytes)",
				 WEBD_CTL_REQ_MAX);
		break;
	case EBUSY:
		webd_reply_error(req, 503, "too many requests waiting for sbcd");
		break;
	case ECANCELED:
		webd_reply_error(req, 503, "sbc-webd is stopping");
		break;
	case E2BIG:
		webd_reply_error(req, 502, "sbcd's answer is larger than %d bytes", WEBD_CTL_LINE_MAX);
		break;
	case EPROTO:
		webd_reply_error(req, 502, "malformed answer from sbcd");
		break;
	case ENOMEM:
		webd_reply_error(req, 500, "out of memory");
		break;
	default:
		w->stats.ctl_errors++;
		webd_reply_error(req, 502, "sbcd is not reachable");
		break;
	}
}

/* sbcd's answer, passed on as it is: 200 for ok true, 400 for ok false. */
static void cmd_done(int err, const char *line, size_t len, void *arg)
{
	struct proxy_ctx *ctx = arg;
	json_t *j = NULL, *ok;

	if (err) {
		reply_ctl_error(ctx->w, ctx->req, err);
		goto out;
	}
	j = json_loadb(line, len, 0, NULL);
	ok = json_object_get(j, "ok");
	if (!json_is_boolean(ok)) {
		ctx->w->stats.ctl_errors++;
		webd_reply_error(ctx->req, 502, "malformed answer from sbcd");
		goto out;
	}
	webd_reply_raw(ctx->req, json_is_true(ok) ? 200 : 400, "application/json", line, len);
 out:
	json_decref(j);
	free(ctx);
}

/*
 * A GET's arguments: ?args=<URL-encoded JSON object>, or none ({}).
 * Anything else is answered 400 and an errno value returned.
 */
static int query_args(struct evhttp_request *req, json_t **argsp)
{
	const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq kv;
	struct evkeyval *e;
	json_t *args = NULL;
	json_error_t je;
	int err = 0;

	TAILQ_INIT(&kv);
	if (!q || !*q) {
		*argsp = json_object();
		return *argsp ? 0 : ENOMEM;
	}
	if (evhttp_parse_query_str(q, &kv) == -1) {
		webd_reply_error(req, 400, "bad query string");
		return EINVAL;
	}
	TAILQ_FOREACH(e, &kv, next) {
		if (strcmp(e->key, "args") != 0 || args) {
			webd_reply_error(req, 400, "unknown or repeated query parameter \"%.40s\" "
					 "(only args, once)", e->key);
			err = EINVAL;
			goto out;
		}
		args = json_loads(e->value, JSON_REJECT_DUPLICATES, &je);
		if (!args) {
			webd_reply_error(req, 400, "bad JSON in args: %s (column %d)", je.text,
					 je.column);
			err = EBADMSG;
			goto out;
		}
		if (!json_is_object(args)) {
			webd_reply_error(req, 400, "args must be a JSON object");
			err = EBADMSG;
			goto out;
		}
	}
 out:
	evhttp_clear_headers(&kv);
	if (err) {
		json_decref(args);
		return err;
	}
	*argsp = args ? args : json_object();
	return *argsp ? 0 : ENOMEM;
}

/*
 * /api/sbcd/<cmd> (the gate checked the method, session and CSRF token):
 * the arguments from the query (GET) or the body (POST) go to sbcd.
 */
void webd_proxy_cmd(struct webd *w, struct evhttp_request *req, const char *cmd, bool post)
{
	struct proxy_ctx *ctx;
	json_t *args = NULL;
	int err;

	err = post ? webd_req_body(req, true, &args) : query_args(req, &args);
	if (err) {
		if (err == ENOMEM)
			webd_reply_error(req, 500, "out of memory");
		return;
	}
	if (strcmp(cmd, "trace.start") == 0 && json_object_get(args, "file")) {
		json_decref(args);
		webd_reply_error(req, 400, "\"file\" is not accepted from the web: traces from the "
				 "web always go to the default file");
		return;
	}
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx) {
		json_decref(args);
		webd_reply_error(req, 500, "out of memory");
		return;
	}
	ctx->w = w;
	ctx->req = req;
	if (post)
		log_info("%s from %s", cmd, webd_req_peer(req));
	err = ctlc_call(w->ctl, cmd, args, cmd_done, ctx);
	json_decref(args);
	if (err) {
		free(ctx);
		reply_ctl_error(w, req, err);
	}
}

/* sbc-webd's own counters, in the Prometheus text format, after sbcd's. */
static void metrics_own(struct webd *w, struct evbuffer *b)
{
	const struct webd_limit_stats *l = &w->limit.stats;
	const struct webd_stats *s = &w->stats;

	evbuffer_add_printf(b,
		"# HELP sbc_webd_logins_total Password checks of the web UI (login, setup, password change) by result.\n"
		"# TYPE sbc_webd_logins_total counter\n"
		"sbc_webd_logins_total{result=\"ok\"} %llu\n"
		"sbc_webd_logins_total{result=\"failed\"} %llu\n"
		"# HELP sbc_webd_login_refused_total Login attempts refused by the rate limit, by limit.\n"
		"# TYPE sbc_webd_login_refused_total counter\n"
		"sbc_webd_login_refused_total{limit=\"source\"} %llu\n"
		"sbc_webd_login_refused_total{limit=\"total\"} %llu\n"
		"# HELP sbc_webd_sessions Web UI sessions logged in now.\n"
		"# TYPE sbc_webd_sessions gauge\n"
		"sbc_webd_sessions %u\n"
		"# HELP sbc_webd_connections HTTPS connections open now.\n"
		"# TYPE sbc_webd_connections gauge\n"
		"sbc_webd_connections %u\n"
		"# HELP sbc_webd_connections_refused_total HTTPS connections refused over the limit.\n"
		"# TYPE sbc_webd_connections_refused_total counter\n"
		"sbc_webd_connections_refused_total %llu\n"
		"# HELP sbc_webd_requests_total HTTP requests served.\n"
		"# TYPE sbc_webd_requests_total counter\n"
		"sbc_webd_requests_total %llu\n"
		"# HELP sbc_webd_refused_total Changes refused for a missing or wrong CSRF token or Origin.\n"
		"# TYPE sbc_webd_refused_total counter\n"
		"sbc_webd_refused_total{check=\"csrf\"} %llu\n"
		"sbc_webd_refused_total{check=\"origin\"} %llu\n"
		"# HELP sbc_webd_session_refused_total Session cookies refused, by reason.\n"
		"# TYPE sbc_webd_session_refused_total counter\n"
		"sbc_webd_session_refused_total{reason=\"malformed\"} %llu\n"
		"sbc_webd_session_refused_total{reason=\"key\"} %llu\n"
		"sbc_webd_session_refused_total{reason=\"tampered\"} %llu\n"
		"sbc_webd_session_refused_total{reason=\"expired\"} %llu\n"
		"sbc_webd_session_refused_total{reason=\"future\"} %llu\n"
		"sbc_webd_session_refused_total{reason=\"revoked\"} %llu\n"
		"# HELP sbc_webd_sbcd_errors_total Requests to sbcd that failed (unreachable, timed out, bad answer).\n"
		"# TYPE sbc_webd_sbcd_errors_total counter\n"
		"sbc_webd_sbcd_errors_total %llu\n",
		(unsigned long long)s->logins_ok, (unsigned long long)s->logins_failed,
		(unsigned long long)l->refused_source, (unsigned long long)l->refused_total,
		webd_session_count(&w->sessions, webd_wall_ms()), w->conns,
		(unsigned long long)s->conns_refused, (unsigned long long)s->requests,
		(unsigned long long)s->csrf_refused, (unsigned long long)s->origin_refused,
		(unsigned long long)s->session_refused[WEBD_REFUSE_MALFORMED],
		(unsigned long long)s->session_refused[WEBD_REFUSE_KEY],
		(unsigned long long)s->session_refused[WEBD_REFUSE_TAMPERED],
		(unsigned long long)s->session_refused[WEBD_REFUSE_EXPIRED],
		(unsigned long long)s->session_refused[WEBD_REFUSE_FUTURE],
		(unsigned long long)s->session_refused[WEBD_REFUSE_REVOKED],
		(unsigned long long)s->ctl_errors);
}

static void reply_metrics_error(struct evhttp_request *req, int code, const char *msg)
{
	char text[600];
	int n = snprintf(text, sizeof(text), "%s\n", msg);

	webd_reply_raw(req, code, "text/plain; charset=utf-8", text,
		       MIN((size_t)n, sizeof(text) - 1));
}

/* sbcd's metrics result: its "text", then ours. */
static void metrics_done(int err, const char *line, size_t len, void *arg)
{
	struct proxy_ctx *ctx = arg;
	json_t *j = NULL, *text;
	struct evbuffer *b = NULL;
	char msg[512];

	if (err) {
		snprintf(msg, sizeof(msg), "%s", err == ETIMEDOUT ? "sbcd did not answer" :
			 err == ECANCELED ? "sbc-webd is stopping" : "sbcd is not reachable");
		if (err == ECONNRESET)
			ctx->w->stats.ctl_errors++;   /* ctlc counted the others */
		reply_metrics_error(ctx->req, err == ETIMEDOUT ? 504 : err == ECANCELED ? 503 : 502,
				    msg);
		goto out;
	}
	j = json_loadb(line, len, 0, NULL);
	text = json_object_get(json_object_get(j, "result"), "text");
	if (!json_is_string(text)) {
		const char *e = json_string_value(json_object_get(j, "error"));

		snprintf(msg, sizeof(msg), "sbcd: %s", e ? e : "malformed answer to metrics");
		reply_metrics_error(ctx->req, 502, msg);
		goto out;
	}
	b = evbuffer_new();
	if (!b) {
		reply_metrics_error(ctx->req, 500, "out of memory");
		goto out;
	}
	evbuffer_add(b, json_string_value(text), json_string_length(text));
	if (json_string_length(text) && json_string_value(text)[json_string_length(text) - 1] != '\n')
		evbuffer_add(b, "\n", 1);
	metrics_own(ctx->w, b);
	evhttp_add_header(evhttp_request_get_output_headers(ctx->req), "Content-Type",
			  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(evhttp_request_get_output_headers(ctx->req), "Cache-Control", "no-store");
	evhttp_send_reply(ctx->req, 200, NULL, b);
 out:
	if (b)
		evbuffer_free(b);
	json_decref(j);
	free(ctx);
}

/* /metrics (the caller checked the session or bearer token). */
void webd_proxy_metrics(struct webd *w, struct evhttp_request *req)
{
	struct proxy_ctx *ctx = calloc(1, sizeof(*ctx));
	int err;

	if (!ctx) {
		reply_metrics_error(req, 500, "out of memory");
		return;
	}
	ctx->w = w;
	ctx->req = req;
	err = ctlc_call(w->ctl, "metrics", NULL, metrics_done, ctx);
	if (err) {
		free(ctx);
		if (err == EBUSY)
			reply_metrics_error(req, 503, "too many requests waiting for sbcd");
		else {
			w->stats.ctl_errors++;
			reply_metrics_error(req, 502, "sbcd is not reachable");
		}
	}
}

/* A trace download in progress: sent in chunks as the client takes them. */
struct trace_stream {
	struct evhttp_request *req;
	struct evhttp_connection *evcon;
	int fd;
	off_t left;                        /* the file's size when opened, still to send */
};

static void trace_free(struct trace_stream *ts)
{
	close(ts->fd);
	free(ts);
}

/* The connection went away mid-download: evhttp frees the request. */
static void trace_closed(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	trace_free(arg);
}

static void trace_next(struct trace_stream *ts);

static void trace_sent(struct evhttp_connection *evcon, void *arg)
{
	(void)evcon;
	trace_next(arg);
}

/* Send the next chunk, or end the reply at the size of open time (or an earlier end of file). */
static void trace_next(struct trace_stream *ts)
{
	struct evbuffer *b = ts->left > 0 ? evbuffer_new() : NULL;
	int n = 0;

	if (b) {
		do {
			n = evbuffer_read(b, ts->fd, (int)MIN(ts->left, (off_t)TRACE_CHUNK));
		} while (n == -1 && errno == EINTR);
	}
	if (n > 0) {
		ts->left -= n;
		evhttp_send_reply_chunk_with_cb(ts->req, b, trace_sent, ts);
		evbuffer_free(b);
		return;
	}
	if (b)
		evbuffer_free(b);
	evhttp_connection_set_closecb(ts->evcon, NULL, NULL);
	evhttp_send_reply_end(ts->req);
	trace_free(ts);
}

/* /api/trace.pcap: the trace file, opened by the parent, streamed as it is. */
void webd_proxy_trace(struct webd *w, struct evhttp_request *req)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct trace_stream *ts;
	struct stat st;
	int fd, err = webd_priv_fd(w, WEBD_PRIV_TRACE, &fd);

	if (err == ENOENT) {
		webd_reply_error(req, 404, "no trace file");
		return;
	}
	if (err) {
		webd_reply_error(req, 500, "cannot open the trace file: %s", strerror(err));
		return;
	}
	ts = calloc(1, sizeof(*ts));
	if (!ts || fstat(fd, &st) == -1 || !evhttp_request_get_connection(req)) {
		free(ts);
		close(fd);
		webd_reply_error(req, 500, "cannot read the trace file");
		return;
	}
	ts->req = req;
	ts->evcon = evhttp_request_get_connection(req);
	ts->fd = fd;
	ts->left = st.st_size;
	evhttp_add_header(out, "Content-Type", "application/vnd.tcpdump.pcap");
	evhttp_add_header(out, "Content-Disposition", "attachment; filename=\"sbc-trace.pcap\"");
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_connection_set_closecb(ts->evcon, trace_closed, ts);
	evhttp_send_reply_start(req, 200, NULL);
	trace_next(ts);
}
