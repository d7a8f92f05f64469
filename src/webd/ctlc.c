/*
 * ctlc: sbc-webd's one connection to sbcd's control socket
 * (docs/control.md). Requests are pipelined; answers come in order, so the
 * waiting requests are a FIFO. The connection is made on demand through
 * the privileged parent, dropped when sbcd closes it, when an answer takes
 * longer than WEBD_CTL_TIMEOUT_MS (every waiting request then fails: the
 * order is lost), or when idle for WEBD_CTL_IDLE_MS (before sbcd's own
 * idle limit, so a request never races sbcd's close).
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "webd_int.h"

struct ctlc_wait {
	struct ctlc_wait *next;
	ctlc_done_h *dh;
	void *arg;
	uint64_t deadline;
};

struct ctlc {
	struct webd *w;
	struct bufferevent *bev;           /* NULL when not connected */
	struct ctlc_wait *head, **tail;
	unsigned nwait;
	uint64_t last_used;
	struct event *timer;
};

static void timer_arm(struct ctlc *c);

/* Drop the connection; every waiting request ends with err. */
static void ctlc_close(struct ctlc *c, int err)
{
	struct ctlc_wait *q = c->head;

	if (c->bev)
		bufferevent_free(c->bev);
	c->bev = NULL;
	c->head = NULL;
	c->tail = &c->head;
	c->nwait = 0;
	while (q) {
		struct ctlc_wait *next = q->next;

		q->dh(err, NULL, 0, q->arg);
		free(q);
		q = next;
	}
	timer_arm(c);
}

/* Answers, one line each, to the oldest waiting request. */
static void ctlc_read(struct bufferevent *bev, void *arg)
{
	struct ctlc *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		size_t eol_len;
		struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, &eol_len, EVBUFFER_EOL_LF);
		struct ctlc_wait *q;
		const char *line;

		if (eol.pos < 0) {
			if (evbuffer_get_length(in) > WEBD_CTL_LINE_MAX) {
				log_warn("sbcd: an answer longer than %d bytes: closing", WEBD_CTL_LINE_MAX);
				c->w->stats.ctl_errors++;
				ctlc_close(c, E2BIG);
			}
			return;
		}
		q = c->head;
		if (!q) {
			log_warn("sbcd: an answer nobody asked for: closing");
			c->w->stats.ctl_errors++;
			ctlc_close(c, EPROTO);
			return;
		}
		c->head = q->next;
		if (!c->head)
			c->tail = &c->head;
		c->nwait--;
		line = (const char *)evbuffer_pullup(in, eol.pos + (ev_ssize_t)eol_len);
		c->last_used = time_mono_ms();
		q->dh(0, line, (size_t)eol.pos, q->arg);
		free(q);
		if (!c->bev)
			return;   /* closed meanwhile: in is gone */
		evbuffer_drain(in, (size_t)eol.pos + eol_len);
		timer_arm(c);
	}
}

/* sbcd closed the connection (a restart, a stop): everyone waiting gets ECONNRESET. */
static void ctlc_event(struct bufferevent *bev, short what, void *arg)
{
	struct ctlc *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (c->head)
			log_warn("sbcd closed the control connection with %u request%s waiting",
				 c->nwait, c->nwait == 1 ? "" : "s");
		ctlc_close(c, ECONNRESET);
	}
}

/* The oldest request's deadline passed, or the connection idled long enough. */
static void ctlc_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ctlc *c = arg;
	uint64_t now = time_mono_ms();

	(void)fd; (void)what;
	if (c->head && now >= c->head->deadline) {
		log_warn("sbcd did not answer within %d s: closing the control connection (%u "
			 "request%s waiting)", WEBD_CTL_TIMEOUT_MS / 1000, c->nwait,
			 c->nwait == 1 ? "" : "s");
		c->w->stats.ctl_errors++;
		ctlc_close(c, ETIMEDOUT);
		return;
	}
	if (!c->head && c->bev && now - c->last_used >= WEBD_CTL_IDLE_MS) {
		log_debug("control connection idle: closing it");
		ctlc_close(c, 0);
		return;
	}
	timer_arm(c);
}

/* Wake up at the oldest request's deadline, or when the idle connection is to close. */
static void timer_arm(struct ctlc *c)
{
	uint64_t now = time_mono_ms(), due;
	struct timeval tv;

	if (!c->timer)
		return;
	if (c->head)
		due = c->head->deadline;
	else if (c->bev)
		due = c->last_used + WEBD_CTL_IDLE_MS;
	else {
		evtimer_del(c->timer);
		return;
	}
	due = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(due / 1000);
	tv.tv_usec = (suseconds_t)(due % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* Connect through the parent (or directly without privsep). */
static int ctlc_connect(struct ctlc *c)
{
	int fd, err = webd_priv_fd(c->w, WEBD_PRIV_CTL, &fd);

	if (err) {
		log_debug("control socket %s: %s", c->w->cfg->general.control_socket, strerror(err));
		return err;
	}
	evutil_make_socket_nonblocking(fd);
	c->bev = bufferevent_socket_new(c->w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		close(fd);
		return ENOMEM;
	}
	bufferevent_setcb(c->bev, ctlc_read, NULL, ctlc_event, c);
	bufferevent_enable(c->bev, EV_READ);
	c->last_used = time_mono_ms();
	log_debug("connected to sbcd at %s", c->w->cfg->general.control_socket);
	return 0;
}

/* Not connected yet: the first ctlc_call connects. */
int ctlc_alloc(struct ctlc **cp, struct webd *w)
{
	struct ctlc *c = calloc(1, sizeof(*c));

	if (!c)
		return ENOMEM;
	c->w = w;
	c->tail = &c->head;
	c->timer = evtimer_new(w->base, ctlc_timer, c);
	if (!c->timer) {
		free(c);
		return ENOMEM;
	}
	*cp = c;
	return 0;
}

/* Close; waiting requests end with ECANCELED. */
void ctlc_free(struct ctlc *c)
{
	if (!c)
		return;
	ctlc_close(c, ECANCELED);
	event_free(c->timer);
	free(c);
}

/*
 * Send {"cmd": cmd, "args": args} (args borrowed, may be NULL). 0: dh runs
 * later, once, with the answer line (without its newline) or an error
 * (ECONNRESET, ETIMEDOUT, E2BIG, EPROTO, ECANCELED). Otherwise dh is
 * never called: ECONNREFUSED, ENOENT... (sbcd is not reachable), EMSGSIZE
 * (the request line would be over sbcd's 64 KiB), EBUSY (too many
 * waiting), ENOMEM.
 */
int ctlc_call(struct ctlc *c, const char *cmd, json_t *args, ctlc_done_h *dh, void *arg)
{
	json_t *req = json_pack("{s:s}", "cmd", cmd);
	struct ctlc_wait *q;
	char *text = NULL;
	size_t len;
	int err = ENOMEM;

	if (!req)
		return ENOMEM;
	if (args && json_object_set(req, "args", args))
		goto out;
	text = json_dumps(req, JSON_COMPACT);
	if (!text)
		goto out;
	len = strlen(text);
	if (len > WEBD_CTL_REQ_MAX) {
		err = EMSGSIZE;
		goto out;
	}
	if (c->nwait >= WEBD_CTL_PENDING_MAX) {
		err = EBUSY;
		goto out;
	}
	q = calloc(1, sizeof(*q));
	if (!q)
		goto out;
	if (!c->bev) {
		err = ctlc_connect(c);
		if (err) {
			free(q);
			goto out;
		}
	}
	if (bufferevent_write(c->bev, text, len) || bufferevent_write(c->bev, "\n", 1)) {
		free(q);
		err = ENOMEM;
		goto out;
	}
	q->dh = dh;
	q->arg = arg;
	q->deadline = time_mono_ms() + WEBD_CTL_TIMEOUT_MS;
	*c->tail = q;
	c->tail = &q->next;
	c->nwait++;
	c->last_used = time_mono_ms();
	timer_arm(c);
	err = 0;
 out:
	free(text);
	json_decref(req);
	return err;
}
