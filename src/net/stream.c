/* stream: TCP and TLS listeners and connections on libevent bufferevents, framed by a callback. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

enum {
	STREAM_BACKLOG = 256,
	STREAM_MAX_OUTPUT = 1024 * 1024,   /* a peer that reads slower than this is dropped */
};

struct src_entry {
	struct hnode hn;
	struct sockaddr_storage ip;
	unsigned n;
};

struct net_conn {
	struct hnode by_id;
	struct hnode by_addr;
	struct net_stream *s;
	struct bufferevent *bev;
	struct src_entry *src;
	struct sockaddr_storage peer;
	uint32_t id;
	bool outgoing;
	bool connecting;     /* opened by us and not up yet: what is queued has not left */
	bool in_cb;          /* inside a receive callback: closing is deferred */
	bool closing;
};

struct net_stream {
	struct event_base *base;
	struct evconnlistener *lst;
	SSL_CTX *tls;        /* server context; NULL for plain TCP */
	SSL_CTX *tls_client; /* for connections we open, made on first use */
	struct net_stream_cfg cfg;
	struct htable by_id, by_addr, by_src;
	net_frame_h *fh;
	net_conn_recv_h *rh;
	net_conn_ping_h *ph;
	net_conn_fail_h *failh;
	net_accept_h *accepth;
	void *accept_arg;
	void *arg;
	struct net_stream_stats stats;
};

static uint32_t conn_id_next = 1;

/* Open connections that max_conns bounds: of every stream sharing the counter, or this one's. */
static unsigned *active_count(struct net_stream *s)
{
	return s->cfg.shared_active ? s->cfg.shared_active : &s->stats.active;
}

static uint32_t id_hash(uint32_t id)
{
	return id * 2654435761u;
}

static struct src_entry *src_find(struct net_stream *s, const struct sockaddr_storage *ip,
				  uint32_t h)
{
	for (struct hnode *n = htable_first(&s->by_src, h); n; n = hnode_next_same(n, h)) {
		struct src_entry *e = container_of(n, struct src_entry, hn);

		if (net_sa_eq_ip(&e->ip, ip))
			return e;
	}
	return NULL;
}

/* Count one more connection from this source; false when over the limit. */
static bool src_take(struct net_stream *s, struct net_conn *c)
{
	uint32_t h = net_sa_hash_ip(&c->peer);
	struct src_entry *e = src_find(s, &c->peer, h);

	if (e && s->cfg.max_per_source && e->n >= s->cfg.max_per_source)
		return false;
	if (!e) {
		e = mem_zalloc(sizeof(*e), NULL);
		if (!e)
			return false;
		e->ip = c->peer;
		htable_add(&s->by_src, &e->hn, h);
	}
	e->n++;
	c->src = e;
	return true;
}

static void src_release(struct net_stream *s, struct net_conn *c)
{
	struct src_entry *e = c->src;

	if (!e)
		return;
	c->src = NULL;
	if (--e->n == 0) {
		htable_del(&s->by_src, &e->hn);
		mem_deref(e);
	}
}

/* Tear a connection down now: unlink it, free its bufferevent (closing the socket). */
static void conn_free(struct net_conn *c)
{
	struct net_stream *s = c->s;

	htable_del(&s->by_id, &c->by_id);
	htable_del(&s->by_addr, &c->by_addr);
	src_release(s, c);
	if (c->bev)
		bufferevent_free(c->bev);
	c->bev = NULL;
	s->stats.active--;
	if (s->cfg.shared_active)
		(*s->cfg.shared_active)--;
	mem_deref(c);
}

/* Close a connection; inside its own receive callback the close waits for the return. */
void net_conn_close(struct net_conn *c)
{
	if (c->in_cb) {
		c->closing = true;
		return;
	}
	conn_free(c);
}

static void conn_read(struct bufferevent *bev, void *arg)
{
	struct net_conn *c = arg;
	struct net_stream *s = c->s;
	struct evbuffer *in = bufferevent_get_input(bev);

	for (;;) {
		size_t len = evbuffer_get_length(in), skip = 0, msglen = 0;
		const char *data;
		int err;

		if (!len)
			break;
		data = (const char *)evbuffer_pullup(in, (ev_ssize_t)MIN(len, s->cfg.max_msg + 4));
		len = MIN(len, s->cfg.max_msg + 4);
		err = s->fh(data, len, &skip, &msglen, s->arg);
		if (skip >= 4 && s->ph) {
			c->in_cb = true;
			s->ph(c, skip, s->arg);
			c->in_cb = false;
		}
		if (err == ENODATA) {
			evbuffer_drain(in, skip);
			if (len - skip > s->cfg.max_msg) {
				s->stats.framing_errors++;
				c->closing = true;
			}
			break;
		}
		if (err) {
			s->stats.framing_errors++;
			c->closing = true;
			break;
		}
		s->stats.rx_msgs++;
		c->in_cb = true;
		s->rh(c, data + skip, msglen, s->arg);
		c->in_cb = false;
		evbuffer_drain(in, skip + msglen);
		if (c->closing)
			break;
	}
	if (c->closing)
		conn_free(c);
}

/*
 * Why a connection failed before it came up. libevent reads the socket's
 * SO_ERROR when the connect finishes and leaves it in errno (saved); a
 * connect refused at once is reported later, from a deferred callback,
 * when errno says nothing any more, so the socket is asked again and a
 * reason is made up from the event as a last resort.
 */
static int conn_fail_err(struct net_conn *c, short what, int saved)
{
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	socklen_t len = sizeof(int);
	int soerr = 0;

	if (what & BEV_EVENT_TIMEOUT)
		return ETIMEDOUT;
	if (fd != -1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr)
		return soerr;
	switch (saved) {
	case ECONNREFUSED: case ECONNRESET: case ECONNABORTED: case EHOSTUNREACH:
	case ENETUNREACH: case EHOSTDOWN: case ENETDOWN: case ETIMEDOUT: case EADDRNOTAVAIL:
	case EACCES: case EPERM: case EPIPE:
		return saved;
	default:
		break;
	}
	if (c->s->tls && bufferevent_get_openssl_error(c->bev))
		return EPROTO;
	return (what & BEV_EVENT_EOF) ? ECONNRESET : ECONNREFUSED;
}

/*
 * A connection we opened failed before it came up: whatever was queued on
 * it never left. It is freed first, so that a send made from the handler
 * opens a new connection instead of queueing on this one; then the owner
 * hears which destination failed, so it can fail what waits on it.
 */
static void conn_fail(struct net_conn *c, short what, int saved)
{
	struct net_stream *s = c->s;
	struct sockaddr_storage peer = c->peer;
	uint32_t id = c->id;
	int err = conn_fail_err(c, what, saved);

	s->stats.connect_failed++;
	conn_free(c);
	if (s->failh)
		s->failh(id, &peer, err, s->arg);
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct net_conn *c = arg;
	struct net_stream *s = c->s;
	int saved = errno;   /* before anything else can change it */

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		/* for TLS this comes after the handshake */
		c->connecting = false;
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		s->stats.closed_idle++;
	else if (what & BEV_EVENT_EOF)
		s->stats.closed_peer++;
	else
		s->stats.closed_error++;
	if (c->connecting)
		conn_fail(c, what, saved);
	else
		conn_free(c);
}

static int conn_new(struct net_stream *s, evutil_socket_t fd, const struct sockaddr_storage *peer,
		    bool outgoing, struct net_conn **cp)
{
	struct timeval idle = { (time_t)s->cfg.idle_s, 0 };
	SSL_CTX *ctx = outgoing ? s->tls_client : s->tls;
	struct net_conn *c;

	c = mem_zalloc(sizeof(*c), NULL);
	if (!c)
		return ENOMEM;
	c->s = s;
	c->peer = *peer;
	c->outgoing = outgoing;
	if (!src_take(s, c)) {
		mem_deref(c);
		s->stats.refused_source++;
		return EMFILE;
	}
	if (ctx) {
		SSL *ssl = SSL_new(ctx);

		if (!ssl)
			goto out_nomem;
		c->bev = bufferevent_openssl_socket_new(s->base, fd, ssl,
			outgoing ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
			BEV_OPT_CLOSE_ON_FREE);
		if (!c->bev) {
			SSL_free(ssl);
			goto out_nomem;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else {
		c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
		if (!c->bev)
			goto out_nomem;
	}
	c->id = conn_id_next++;
	if (!conn_id_next)
		conn_id_next = 1;
	htable_add(&s->by_id, &c->by_id, id_hash(c->id));
	htable_add(&s->by_addr, &c->by_addr, net_sa_hash(peer));
	s->stats.active++;
	if (s->cfg.shared_active)
		(*s->cfg.shared_active)++;
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	if (s->cfg.idle_s)
		bufferevent_set_timeouts(c->bev, &idle, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	*cp = c;
	return 0;

 out_nomem:
	src_release(s, c);
	mem_deref(c);
	return ENOMEM;
}

static void stream_accept(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa,
			  int salen, void *arg)
{
	struct net_stream *s = arg;
	struct sockaddr_storage peer;
	struct net_conn *c;
	int one = 1;

	(void)lst;
	memset(&peer, 0, sizeof(peer));
	memcpy(&peer, sa, MIN((size_t)salen, sizeof(peer)));
	if (s->cfg.max_conns && *active_count(s) >= s->cfg.max_conns) {
		s->stats.refused_total++;
		close(fd);
		return;
	}
	if (s->accepth && !s->accepth(&peer, s->accept_arg)) {
		/* a reset, not an orderly close: no TIME_WAIT kept for a refused source */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		s->stats.refused_policy++;
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (conn_new(s, fd, &peer, false, &c)) {
		close(fd);
		return;
	}
	s->stats.accepted++;
}

static void stream_destroy(void *data)
{
	struct net_stream *s = data;

	if (s->lst)
		evconnlistener_free(s->lst);
	for (size_t b = 0; s->by_id.bucket && b <= s->by_id.mask; b++) {
		while (s->by_id.bucket[b])
			conn_free(container_of(s->by_id.bucket[b], struct net_conn, by_id));
	}
	htable_close(&s->by_id);
	htable_close(&s->by_addr);
	htable_close(&s->by_src);
	if (s->tls)
		SSL_CTX_free(s->tls);
	if (s->tls_client)
		SSL_CTX_free(s->tls_client);
}

/*
 * Listen on local (TCP, or TLS when tls is given; the stream takes its own
 * reference to tls). Messages framed by fh reach rh; CRLF pings reach ph.
 */
int net_stream_alloc(struct net_stream **sp, struct event_base *base,
		     const struct sockaddr_storage *local, SSL_CTX *tls,
		     const struct net_stream_cfg *cfg, net_frame_h *fh, net_conn_recv_h *rh,
		     net_conn_ping_h *ph, void *arg)
{
	size_t buckets = cfg->max_conns ? cfg->max_conns : 1024;
	struct net_stream *s;
	int err;

	s = mem_zalloc(sizeof(*s), stream_destroy);
	if (!s)
		return ENOMEM;
	s->base = base;
	s->cfg = *cfg;
	if (!s->cfg.max_msg)
		s->cfg.max_msg = 65535;
	s->fh = fh;
	s->rh = rh;
	s->ph = ph;
	s->arg = arg;
	err = htable_init(&s->by_id, buckets);
	if (!err)
		err = htable_init(&s->by_addr, buckets);
	if (!err)
		err = htable_init(&s->by_src, buckets);
	if (err)
		goto out_free;
	if (tls) {
		SSL_CTX_up_ref(tls);
		s->tls = tls;
	}
	s->lst = evconnlistener_new_bind(base, stream_accept, s,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
					 LEV_OPT_CLOSE_ON_EXEC,
					 STREAM_BACKLOG, (const struct sockaddr *)local,
					 (int)net_sa_len(local));
	if (!s->lst) {
		err = errno ? errno : EADDRNOTAVAIL;
		goto out_free;
	}
	*sp = s;
	return 0;

 out_free:
	mem_deref(s);
	return err;
}

/*
 * Tell failh (with the stream's arg) about connections the stream opens
 * that fail before they come up; NULL stops it.
 */
void net_stream_set_fail(struct net_stream *s, net_conn_fail_h *failh)
{
	s->failh = failh;
}

/* Ask ah (NULL: nobody) before each connection the listener accepts. */
void net_stream_set_accept(struct net_stream *s, net_accept_h *ah, void *arg)
{
	if (s) {
		s->accepth = ah;
		s->accept_arg = arg;
	}
}

/* New connections use tls from now on; open ones keep the context they have. */
void net_stream_set_tls(struct net_stream *s, SSL_CTX *tls)
{
	if (!s->tls || !tls)
		return;
	SSL_CTX_up_ref(tls);
	SSL_CTX_free(s->tls);
	s->tls = tls;
}

struct net_conn *net_stream_conn(struct net_stream *s, uint32_t id)
{
	uint32_t h = id_hash(id);

	for (struct hnode *n = htable_first(&s->by_id, h); n; n = hnode_next_same(n, h)) {
		struct net_conn *c = container_of(n, struct net_conn, by_id);

		if (c->id == id && !c->closing)
			return c;
	}
	return NULL;
}

static struct net_conn *conn_by_addr(struct net_stream *s, const struct sockaddr_storage *dst)
{
	uint32_t h = net_sa_hash(dst);

	for (struct hnode *n = htable_first(&s->by_addr, h); n; n = hnode_next_same(n, h)) {
		struct net_conn *c = container_of(n, struct net_conn, by_addr);

		if (net_sa_eq(&c->peer, dst) && !c->closing)
			return c;
	}
	return NULL;
}

int net_conn_send(struct net_conn *c, const void *data, size_t len)
{
	struct net_stream *s = c->s;

	if (c->closing || !c->bev)
		return ENOTCONN;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) + len > STREAM_MAX_OUTPUT) {
		s->stats.tx_errors++;
		net_conn_close(c);
		return ENOBUFS;
	}
	if (bufferevent_write(c->bev, data, len) == -1) {
		s->stats.tx_errors++;
		return EIO;
	}
	s->stats.tx_msgs++;
	return 0;
}

/* Open a connection to dst (TLS when the stream is TLS). */
static int conn_connect(struct net_stream *s, const struct sockaddr_storage *dst,
			struct net_conn **cp)
{
	struct net_conn *c;
	int err;

	if (s->cfg.max_conns && *active_count(s) >= s->cfg.max_conns) {
		s->stats.refused_total++;
		return EMFILE;
	}
	if (s->tls && !s->tls_client) {
		err = net_tls_client_ctx(&s->tls_client);
		if (err)
			return err;
	}
	err = conn_new(s, -1, dst, true, &c);
	if (err)
		return err;
	errno = 0;
	if (bufferevent_socket_connect(c->bev, (const struct sockaddr *)dst,
				       (int)net_sa_len(dst)) == -1) {
		err = errno ? errno : ECONNREFUSED;
		conn_free(c);
		return err;
	}
	/* a failure from here on comes through conn_event, after this send returned */
	c->connecting = true;
	s->stats.connected++;
	*cp = c;
	return 0;
}

/*
 * Send on the connection conn_id if it is still open, else on any open
 * connection to dst, else on a new one (RFC 3261 18.2.2). *used_id, when
 * given, tells which connection carried it.
 */
int net_stream_send(struct net_stream *s, uint32_t conn_id, const struct sockaddr_storage *dst,
		    const void *data, size_t len, uint32_t *used_id)
{
	struct net_conn *c = conn_id ? net_stream_conn(s, conn_id) : NULL;
	int err;

	if (!c && dst)
		c = conn_by_addr(s, dst);
	if (!c) {
		if (!dst)
			return ENOTCONN;
		err = conn_connect(s, dst, &c);
		if (err)
			return err;
	}
	if (used_id)
		*used_id = c->id;
	return net_conn_send(c, data, len);
}

const struct net_stream_stats *net_stream_stats(const struct net_stream *s)
{
	return &s->stats;
}

uint32_t net_conn_id(const struct net_conn *c)
{
	return c->id;
}

const struct sockaddr_storage *net_conn_peer(const struct net_conn *c)
{
	return &c->peer;
}

int net_stream_local(const struct net_stream *s, struct sockaddr_storage *sa)
{
	socklen_t len = sizeof(*sa);
	evutil_socket_t fd = evconnlistener_get_fd(s->lst);

	return getsockname(fd, (struct sockaddr *)sa, &len) == -1 ? errno : 0;
}
