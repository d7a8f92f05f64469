/* test_net: UDP batches, stream framing (split and coalesced), connection limits, idle timeout, TLS, connect failures, addresses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "net/net.h"

struct rx {
	char msgs[16][128];
	size_t lens[16];
	unsigned n;
	unsigned pings;
	uint32_t last_conn;
	unsigned fails;                   /* connect failures reported */
	uint32_t fail_id[4];
	struct sockaddr_storage fail_peer[4];
	int fail_err[4];
	struct net_stream *resend_on_fail; /* send again from the handler, once */
	uint32_t resend_id;
};

static struct rx rx;
static struct event_base *base;
static size_t nalloc_start;

static int setup(void **state)
{
	(void)state;
	memset(&rx, 0, sizeof(rx));
	nalloc_start = mem_nalloc();
	base = event_base_new();
	return base ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	event_base_free(base);
	assert_int_equal(mem_nalloc(), nalloc_start);
	return 0;
}

static void run_loop(unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void test_sa(void **state)
{
	struct sockaddr_storage a, b, c;
	char buf[NET_ADDRSTRLEN];
	struct pl ip = PL("2001:db8::1");

	(void)state;
	assert_int_equal(net_sa_from_str(&a, "203.0.113.1", 5060), 0);
	assert_int_equal(net_sa_from_str(&b, "203.0.113.1", 5061), 0);
	assert_true(net_sa_eq_ip(&a, &b));
	assert_false(net_sa_eq(&a, &b));
	assert_int_equal(net_sa_port(&b), 5061);
	assert_string_equal(net_sa_str(&a, buf, sizeof(buf)), "203.0.113.1:5060");
	assert_int_equal(net_sa_from_pl(&c, &ip, 5062), 0);
	assert_string_equal(net_sa_str(&c, buf, sizeof(buf)), "[2001:db8::1]:5062");
	assert_false(net_sa_eq_ip(&a, &c));
	assert_int_equal(net_sa_from_str(&c, "not-an-ip", 1), EINVAL);

	/* endpoints: IP[:PORT], [IPV6][:PORT], a bare IPv6 address */
	assert_int_equal(net_sa_from_endpoint(&c, "203.0.113.1:5061"), 0);
	assert_true(net_sa_eq(&c, &b));
	assert_int_equal(net_sa_from_endpoint(&c, "203.0.113.1"), 0);
	assert_int_equal(net_sa_port(&c), 0);
	assert_int_equal(net_sa_from_endpoint(&c, "[2001:db8::1]:65535"), 0);
	assert_int_equal(c.ss_family, AF_INET6);
	assert_int_equal(net_sa_port(&c), 65535);
	assert_int_equal(net_sa_from_endpoint(&c, "2001:db8::1"), 0);
	assert_int_equal(net_sa_port(&c), 0);
	assert_int_equal(net_sa_from_endpoint(&c, "[2001:db8::1]"), 0);
	assert_int_equal(net_sa_from_endpoint(&c, "203.0.113.1:65536"), EINVAL);
	assert_int_equal(net_sa_from_endpoint(&c, "203.0.113.1:"), EINVAL);
	assert_int_equal(net_sa_from_endpoint(&c, "203.0.113.1:5x"), EINVAL);
	assert_int_equal(net_sa_from_endpoint(&c, "203.0.113.1:-1"), EINVAL);
	assert_int_equal(net_sa_from_endpoint(&c, "[2001:db8::1]x"), EINVAL);
	assert_int_equal(net_sa_from_endpoint(&c, "[2001:db8::1"), EINVAL);
	assert_int_equal(net_sa_from_endpoint(&c, "host:80"), EINVAL);
	assert_int_equal(net_sa_from_str(&c, "0.0.0.0", 1), 0);
	assert_true(net_sa_is_any(&c));
	assert_int_equal(net_sa_hash(&a), net_sa_hash(&a));
}

static void udp_rx(const struct sockaddr_storage *src, char *data, size_t len, bool trunc,
		   void *arg)
{
	(void)src;
	(void)arg;
	if (rx.n < 16) {
		memcpy(rx.msgs[rx.n], data, MIN(len, sizeof(rx.msgs[0])));
		rx.lens[rx.n] = trunc ? (size_t)-1 : len;
		rx.n++;
	}
}

static void test_udp_batch(void **state)
{
	struct sockaddr_storage local, bound;
	struct net_udp *u;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	char big[NET_UDP_SLOT + 100];

	(void)state;
	assert_int_equal(net_sa_from_str(&local, "127.0.0.1", 0), 0);
	assert_int_equal(net_udp_alloc(&u, base, &local, udp_rx, NULL), 0);
	assert_int_equal(net_udp_local(u, &bound), 0);
	assert_true(net_sa_port(&bound) != 0);
	for (int i = 0; i < 10; i++) {
		char m[16];
		int n = snprintf(m, sizeof(m), "dgram %d", i);

		assert_int_equal(sendto(fd, m, (size_t)n, 0, (struct sockaddr *)&bound,
					sizeof(struct sockaddr_in)), n);
	}
	memset(big, 'x', sizeof(big));
	assert_int_equal(sendto(fd, big, sizeof(big), 0, (struct sockaddr *)&bound,
				sizeof(struct sockaddr_in)), (ssize_t)sizeof(big));
	run_loop(100);
	assert_int_equal(rx.n, 11);
	assert_memory_equal(rx.msgs[0], "dgram 0", 7);
	assert_memory_equal(rx.msgs[9], "dgram 9", 7);
	assert_int_equal(rx.lens[10], (size_t)-1);   /* truncated datagram flagged */
	assert_true(net_udp_stats(u)->rx_batches < 11);  /* recvmmsg took several at once */
	assert_int_equal(net_udp_stats(u)->rx_packets, 11);
	close(fd);
	mem_deref(u);
}

/* Test framing: lines ending in '\n'; leading CRLFs are keep-alives. */
static int line_frame(const char *data, size_t len, size_t *skip, size_t *msglen, void *arg)
{
	const char *nl;
	size_t s = 0;

	(void)arg;
	while (s < len && (data[s] == '\r' || data[s] == '\n'))
		s++;
	*skip = s;
	if (s < len && data[s] == '!')
		return EBADMSG;
	nl = memchr(data + s, '\n', len - s);
	if (!nl)
		return ENODATA;
	*msglen = (size_t)(nl - (data + s)) + 1;
	return 0;
}

static void stream_rx(struct net_conn *c, const char *data, size_t len, void *arg)
{
	(void)arg;
	rx.last_conn = net_conn_id(c);
	if (rx.n < 16) {
		memcpy(rx.msgs[rx.n], data, MIN(len, sizeof(rx.msgs[0])));
		rx.lens[rx.n] = len;
		rx.n++;
	}
	if (len >= 5 && memcmp(data, "echo ", 5) == 0) {
		net_conn_send(c, "reply ", 6);
		net_conn_send(c, data + 5, len - 5);
	}
	if (len >= 4 && memcmp(data, "bye\n", 4) == 0)
		net_conn_close(c);
}

static void stream_ping(struct net_conn *c, size_t crlfs, void *arg)
{
	(void)crlfs;
	(void)arg;
	rx.pings++;
	net_conn_send(c, "\r\n", 2);
}

static void stream_fail(uint32_t id, const struct sockaddr_storage *peer, int err, void *arg)
{
	(void)arg;
	if (rx.fails < 4) {
		rx.fail_id[rx.fails] = id;
		rx.fail_peer[rx.fails] = *peer;
		rx.fail_err[rx.fails] = err;
	}
	rx.fails++;
	if (rx.resend_on_fail) {
		struct net_stream *s = rx.resend_on_fail;

		rx.resend_on_fail = NULL;
		/* the failed connection is gone: this opens a new one */
		assert_int_equal(net_stream_send(s, 0, peer, "again\n", 6, &rx.resend_id), 0);
		assert_int_not_equal(rx.resend_id, id);
	}
}

/* A local port that refuses connections: bound (so nobody takes it) but not listening. */
static int closed_port(struct sockaddr_storage *sa)
{
	socklen_t len = sizeof(*sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(net_sa_from_str(sa, "127.0.0.1", 0), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)sa, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)sa, &len), 0);
	return fd;
}

static int tcp_client(const struct sockaddr_storage *to)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (const struct sockaddr *)to, sizeof(struct sockaddr_in)), 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static struct net_stream *stream_new(const struct net_stream_cfg *cfg, SSL_CTX *tls,
				     struct sockaddr_storage *bound)
{
	struct sockaddr_storage local;
	struct net_stream *s;

	assert_int_equal(net_sa_from_str(&local, "127.0.0.1", 0), 0);
	assert_int_equal(net_stream_alloc(&s, base, &local, tls, cfg, line_frame, stream_rx,
					  stream_ping, NULL), 0);
	assert_int_equal(net_stream_local(s, bound), 0);
	return s;
}

static void test_stream_split_and_coalesced(void **state)
{
	struct net_stream_cfg cfg = { .max_conns = 8, .max_per_source = 8, .idle_s = 30,
				      .max_msg = 64 };
	struct sockaddr_storage bound;
	struct net_stream *s = stream_new(&cfg, NULL, &bound);
	int fd = tcp_client(&bound);
	char buf[64];

	(void)state;
	run_loop(20);
	/* two messages in one segment */
	assert_int_equal(write(fd, "one\ntwo\n", 8), 8);
	run_loop(30);
	/* one message over three segments */
	assert_int_equal(write(fd, "thr", 3), 3);
	run_loop(30);
	assert_int_equal(write(fd, "e", 1), 1);
	run_loop(30);
	assert_int_equal(rx.n, 2);
	assert_int_equal(write(fd, "e\n\r\n\r\necho x\n", 13), 13);
	run_loop(50);
	assert_int_equal(rx.n, 4);
	assert_memory_equal(rx.msgs[0], "one\n", 4);
	assert_memory_equal(rx.msgs[1], "two\n", 4);
	assert_memory_equal(rx.msgs[2], "three\n", 6);
	assert_memory_equal(rx.msgs[3], "echo x\n", 7);
	assert_int_equal(rx.pings, 1);
	/* the pong, then the echo, came back */
	assert_int_equal(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), 10);
	assert_memory_equal(buf, "\r\nreply x\n", 10);
	/* the connection is found by id and its address */
	assert_non_null(net_stream_conn(s, rx.last_conn));
	assert_int_equal(net_stream_stats(s)->active, 1);
	/* a framing error closes the connection */
	assert_int_equal(write(fd, "!bad\n", 5), 5);
	run_loop(50);
	assert_int_equal(net_stream_stats(s)->framing_errors, 1);
	assert_int_equal(net_stream_stats(s)->active, 0);
	assert_null(net_stream_conn(s, rx.last_conn));
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);   /* closed by the server */
	close(fd);
	mem_deref(s);
}

static void test_stream_oversized_and_close_in_callback(void **state)
{
	struct net_stream_cfg cfg = { .max_conns = 8, .max_per_source = 8, .idle_s = 30,
				      .max_msg = 16 };
	struct sockaddr_storage bound;
	struct net_stream *s = stream_new(&cfg, NULL, &bound);
	int fd = tcp_client(&bound), fd2 = tcp_client(&bound);
	char buf[64];

	(void)state;
	/* a message longer than max_msg without an end closes the connection */
	assert_int_equal(write(fd, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 30), 30);
	/* closing from inside the receive callback is deferred safely */
	assert_int_equal(write(fd2, "bye\nlost\n", 9), 9);
	run_loop(60);
	assert_int_equal(net_stream_stats(s)->framing_errors, 1);
	assert_int_equal(rx.n, 1);
	assert_memory_equal(rx.msgs[0], "bye\n", 4);
	assert_int_equal(net_stream_stats(s)->active, 0);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	assert_int_equal(recv(fd2, buf, sizeof(buf), 0), 0);
	close(fd);
	close(fd2);
	mem_deref(s);
}

static void test_stream_limits(void **state)
{
	struct net_stream_cfg cfg = { .max_conns = 3, .max_per_source = 2, .idle_s = 30,
				      .max_msg = 64 };
	struct sockaddr_storage bound;
	struct net_stream *s = stream_new(&cfg, NULL, &bound);
	int fds[5], open_count = 0;
	char buf[8];

	(void)state;
	for (int i = 0; i < 5; i++)
		fds[i] = tcp_client(&bound);
	run_loop(60);
	assert_int_equal(net_stream_stats(s)->active, 2);
	assert_int_equal(net_stream_stats(s)->refused_source, 3);
	for (int i = 0; i < 5; i++) {
		ssize_t n = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT);

		if (n == -1 && errno == EAGAIN)
			open_count++;
		close(fds[i]);
	}
	assert_int_equal(open_count, 2);
	run_loop(30);
	assert_int_equal(net_stream_stats(s)->active, 0);
	mem_deref(s);
}

static void test_stream_idle_timeout(void **state)
{
	struct net_stream_cfg cfg = { .max_conns = 3, .max_per_source = 3, .idle_s = 1,
				      .max_msg = 64 };
	struct sockaddr_storage bound;
	struct net_stream *s = stream_new(&cfg, NULL, &bound);
	int fd = tcp_client(&bound);
	char buf[8];

	(void)state;
	run_loop(100);
	assert_int_equal(net_stream_stats(s)->active, 1);
	run_loop(1300);
	assert_int_equal(net_stream_stats(s)->active, 0);
	assert_int_equal(net_stream_stats(s)->closed_idle, 1);
	assert_int_equal(recv(fd, buf, sizeof(buf), 0), 0);
	close(fd);
	mem_deref(s);
}

/*
 * A connection the stream opens is refused: the send that opened it
 * returned 0 (the bytes were queued), so the failure is reported to the
 * fail handler afterwards, with the id the send named and the address;
 * a send from the handler opens a new connection rather than queueing on
 * the dead one.
 */
static void test_stream_connect_refused(void **state)
{
	struct net_stream_cfg cfg = { .max_conns = 8, .max_per_source = 8, .idle_s = 30,
				      .max_msg = 64 };
	struct sockaddr_storage bound, dst;
	struct net_stream *s = stream_new(&cfg, NULL, &bound);
	int fd = closed_port(&dst);
	uint32_t id = 0;

	(void)state;
	net_stream_set_fail(s, stream_fail);
	assert_int_equal(net_stream_send(s, 0, &dst, "hello\n", 6, &id), 0);
	assert_true(id != 0);
	assert_int_equal(rx.fails, 0);          /* never from inside the send */
	rx.resend_on_fail = s;
	run_loop(100);
	assert_int_equal(rx.fails, 2);          /* the first, then the one sent from the handler */
	assert_int_equal(rx.fail_id[0], id);
	assert_true(net_sa_eq(&rx.fail_peer[0], &dst));
	assert_int_equal(rx.fail_err[0], ECONNREFUSED);
	assert_int_equal(rx.fail_id[1], rx.resend_id);
	assert_int_equal(rx.fail_err[1], ECONNREFUSED);
	assert_null(net_stream_conn(s, id));
	assert_int_equal(net_stream_stats(s)->connect_failed, 2);
	assert_int_equal(net_stream_stats(s)->active, 0);

	/* without a handler the failure is only counted */
	net_stream_set_fail(s, NULL);
	assert_int_equal(net_stream_send(s, 0, &dst, "hello\n", 6, NULL), 0);
	run_loop(100);
	assert_int_equal(rx.fails, 2);
	assert_int_equal(net_stream_stats(s)->connect_failed, 3);
	close(fd);
	mem_deref(s);
}

/*
 * TLS: a refused TCP connect, and a peer that is no TLS server (it answers
 * the ClientHello with text and hangs up), both fail the connection before
 * it comes up; a TLS connection that came up and is later closed is not a
 * connect failure.
 */
static void test_tls_connect_fails(void **state)
{
	struct net_stream_cfg cfg = { .max_conns = 8, .max_per_source = 8, .idle_s = 30,
				      .max_msg = 64 };
	char dir[] = "/tmp/sbc-tls-XXXXXX", crt[64], key[64], err[256];
	struct sockaddr_storage cbound, sbound, dst, plain;
	struct net_stream *cli, *srv;
	socklen_t len = sizeof(plain);
	SSL_CTX *ctx;
	int fd = closed_port(&dst), lfd, afd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(crt, sizeof(crt), "%s/sip.crt", dir);
	snprintf(key, sizeof(key), "%s/sip.key", dir);
	assert_int_equal(net_tls_selfsigned(crt, key, "sbc.test"), 0);
	assert_int_equal(net_tls_server_ctx(&ctx, crt, key, err, sizeof(err)), 0);
	cli = stream_new(&cfg, ctx, &cbound);
	srv = stream_new(&cfg, ctx, &sbound);
	net_tls_ctx_free(ctx);
	net_stream_set_fail(cli, stream_fail);

	assert_int_equal(net_stream_send(cli, 0, &dst, "hello\n", 6, NULL), 0);
	run_loop(200);
	assert_int_equal(rx.fails, 1);
	assert_int_equal(rx.fail_err[0], ECONNREFUSED);

	/* a plain TCP listener that answers the ClientHello with text */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(net_sa_from_str(&plain, "127.0.0.1", 0), 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&plain, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&plain, &len), 0);
	assert_int_equal(net_stream_send(cli, 0, &plain, "hello\n", 6, NULL), 0);
	run_loop(100);
	afd = accept(lfd, NULL, NULL);
	assert_true(afd >= 0);
	assert_int_equal(write(afd, "HTTP/1.0 400 Bad\r\n\r\n", 21), 21);
	close(afd);
	run_loop(200);
	assert_int_equal(rx.fails, 2);
	assert_true(net_sa_eq(&rx.fail_peer[1], &plain));
	assert_true(rx.fail_err[1] == EPROTO || rx.fail_err[1] == ECONNRESET);
	assert_int_equal(net_stream_stats(cli)->connect_failed, 2);

	/* a real TLS server: up, used, then closed by the server: no failure */
	assert_int_equal(net_stream_send(cli, 0, &sbound, "echo x\n", 7, NULL), 0);
	run_loop(500);
	assert_int_equal(net_stream_stats(cli)->active, 1);
	assert_int_equal(rx.n, 2);
	mem_deref(srv);
	run_loop(200);
	assert_int_equal(net_stream_stats(cli)->active, 0);
	assert_int_equal(rx.fails, 2);
	assert_int_equal(net_stream_stats(cli)->connect_failed, 2);
	close(lfd);
	close(fd);
	mem_deref(cli);
	unlink(crt);
	unlink(key);
	rmdir(dir);
}

static void test_tls_selfsigned_roundtrip(void **state)
{
	struct net_stream_cfg cfg = { .max_conns = 8, .max_per_source = 8, .idle_s = 30,
				      .max_msg = 64 };
	char dir[] = "/tmp/sbc-tls-XXXXXX", crt[64], key[64], err[256];
	struct sockaddr_storage sbound, cbound;
	struct net_stream *srv, *cli;
	SSL_CTX *ctx;
	struct stat st;
	uint32_t cid = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(crt, sizeof(crt), "%s/sip.crt", dir);
	snprintf(key, sizeof(key), "%s/sip.key", dir);
	assert_int_equal(net_tls_selfsigned(crt, key, "sbc.test"), 0);
	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(net_tls_server_ctx(&ctx, crt, key, err, sizeof(err)), 0);
	srv = stream_new(&cfg, ctx, &sbound);
	cli = stream_new(&cfg, ctx, &cbound);
	net_tls_ctx_free(ctx);   /* the streams hold their own references */

	/* the client side opens a TLS connection on demand and sends */
	assert_int_equal(net_stream_send(cli, 0, &sbound, "echo tls\n", 9, &cid), 0);
	assert_true(cid != 0);
	run_loop(500);
	assert_int_equal(rx.n, 2);   /* the server got it, the client got the reply */
	assert_memory_equal(rx.msgs[0], "echo tls\n", 9);
	assert_memory_equal(rx.msgs[1], "reply tls\n", 10);
	assert_int_equal(net_stream_stats(cli)->connected, 1);
	assert_int_equal(net_stream_stats(srv)->accepted, 1);
	/* the same destination reuses the connection */
	assert_int_equal(net_stream_send(cli, 0, &sbound, "again\n", 6, &cid), 0);
	run_loop(100);
	assert_int_equal(net_stream_stats(cli)->connected, 1);
	assert_int_equal(rx.n, 3);

	/* a key that does not match, and a missing file, are clear errors */
	assert_int_equal(net_tls_server_ctx(&ctx, crt, "/nonexistent.key", err, sizeof(err)),
			 EINVAL);
	assert_non_null(strstr(err, "/nonexistent.key"));
	mem_deref(cli);
	mem_deref(srv);
	unlink(crt);
	unlink(key);
	rmdir(dir);
}

static void test_iface_lo(void **state)
{
	struct net_iface ifc;
	struct sockaddr_storage a;

	(void)state;
	assert_int_equal(net_iface_get("lo", &ifc), 0);
	assert_true(ifc.loopback);
	assert_true(ifc.up);
	assert_true(ifc.ifindex > 0);
	assert_int_equal(net_sa_from_str(&a, "127.0.0.1", 0), 0);
	assert_true(net_iface_has_addr(&ifc, &a));
	assert_int_equal(net_sa_from_str(&a, "127.0.0.2", 0), 0);
	assert_true(net_iface_has_addr(&ifc, &a));   /* inside lo's prefix */
	assert_int_equal(net_sa_from_str(&a, "192.0.2.1", 0), 0);
	assert_false(net_iface_has_addr(&ifc, &a));
	assert_int_equal(net_iface_get("no-such-if0", &ifc), ENODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_split_and_coalesced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_oversized_and_close_in_callback, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stream_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_idle_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_connect_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_selfsigned_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_connect_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iface_lo, setup, teardown),
	};

	return cmocka_run_group_tests_name("net", tests, NULL, NULL);
}
