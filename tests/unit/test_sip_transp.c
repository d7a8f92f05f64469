/* test_sip_transp: ingress checks over real sockets: 400/483/505 answers, drops by reason, TCP framing, refused connections reported. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "net/net.h"
#include "sip/sip.h"

static struct event_base *base;
static struct sip_transp *tp;
static size_t nalloc_start;
static uint16_t port;
static int cfd = -1;
static unsigned delivered;
static char last_method[16];
static uint8_t last_proto;
static unsigned nfail;
static struct sip_peer fail_peer;
static int fail_err;

static void on_msg(struct sip_msg *msg, void *arg)
{
	(void)arg;
	delivered++;
	last_proto = msg->src.proto;
	if (msg->req)
		pl_strcpy(&msg->method, last_method, sizeof(last_method));
	else
		snprintf(last_method, sizeof(last_method), "%u", msg->scode);
}

static void run_loop(unsigned ms)
{
	struct timeval tv = { 0, (suseconds_t)ms * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static int setup(void **state)
{
	struct net_stream_cfg scfg = { .max_conns = 16, .max_per_source = 4, .idle_s = 30 };
	struct sip_transp_zone zc = { .name = "public", .host = "127.0.0.1" };
	struct sockaddr_storage me;
	int err = EADDRINUSE;

	(void)state;
	nalloc_start = mem_nalloc();
	delivered = 0;
	nfail = 0;
	last_method[0] = '\0';
	base = event_base_new();
	assert_non_null(base);
	assert_int_equal(sip_transp_alloc(&tp, base, &scfg, on_msg, NULL), 0);
	assert_int_equal(net_sa_from_str(&zc.addr, "127.0.0.1", 0), 0);
	/* a free port for UDP and TCP alike; retry on collisions */
	for (int tries = 0; tries < 20 && err; tries++) {
		port = (uint16_t)(20000 + (getpid() * 7 + tries * 131) % 30000);
		zc.port[SIP_PROTO_UDP] = port;
		zc.port[SIP_PROTO_TCP] = port;
		mem_deref(tp);
		assert_int_equal(sip_transp_alloc(&tp, base, &scfg, on_msg, NULL), 0);
		err = sip_transp_zone_add(tp, 0, &zc);
	}
	assert_int_equal(err, 0);
	cfd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(net_sa_from_str(&me, "127.0.0.1", 0), 0);
	assert_int_equal(bind(cfd, (struct sockaddr *)&me, sizeof(struct sockaddr_in)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	close(cfd);
	tp = mem_deref(tp);
	event_base_free(base);
	assert_int_equal(mem_nalloc(), nalloc_start);
	return 0;
}

/* Send a datagram to the zone, run the loop, return what came back (or "" if nothing). */
static const char *udp_exchange(const char *text, char *out, size_t size)
{
	struct sockaddr_storage to;
	ssize_t n;

	assert_int_equal(net_sa_from_str(&to, "127.0.0.1", port), 0);
	assert_true(sendto(cfd, text, strlen(text), 0, (struct sockaddr *)&to,
			   sizeof(struct sockaddr_in)) > 0);
	run_loop(30);
	n = recv(cfd, out, size - 1, MSG_DONTWAIT);
	out[n > 0 ? n : 0] = '\0';
	return out;
}

#define REQ_HEAD(m, ruri) m " " ruri " SIP/2.0\r\n" \
	"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-t1;rport\r\n" \
	"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n" \
	"Call-ID: tr-1\r\n"

static void test_good_request_delivered(void **state)
{
	char out[2048];

	(void)state;
	udp_exchange(REQ_HEAD("OPTIONS", "sip:127.0.0.1") "CSeq: 1 OPTIONS\r\n"
		     "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n", out, sizeof(out));
	assert_int_equal(delivered, 1);
	assert_string_equal(last_method, "OPTIONS");
	assert_int_equal(last_proto, SIP_PROTO_UDP);
	assert_string_equal(out, "");   /* the transport itself answers nothing */
	assert_int_equal(sip_transp_stats(tp)->rx_requests, 1);
}

static void test_missing_header_400(void **state)
{
	char out[2048];

	(void)state;
	udp_exchange(REQ_HEAD("INVITE", "sip:b@127.0.0.1") "Content-Length: 0\r\n\r\n",
		     out, sizeof(out));
	assert_int_equal(delivered, 0);
	assert_non_null(strstr(out, "SIP/2.0 400 Missing CSeq header\r\n"));
	assert_int_equal(sip_transp_stats(tp)->rejected[SIP_REJ_BAD_REQUEST], 1);
	/* answered to the source port: rport was asked for */
	assert_non_null(strstr(out, ";rport="));
	assert_non_null(strstr(out, "To: <sip:b@example.com>;tag=sbc"));
}

static void test_clen_beyond_datagram_400(void **state)
{
	char out[2048];

	(void)state;
	udp_exchange(REQ_HEAD("MESSAGE", "sip:b@127.0.0.1") "CSeq: 2 MESSAGE\r\n"
		     "Content-Length: 500\r\n\r\nshort body", out, sizeof(out));
	assert_int_equal(delivered, 0);
	assert_non_null(strstr(out, "SIP/2.0 400 Content-Length beyond the end of the datagram"));
	assert_int_equal(sip_transp_stats(tp)->rejected[SIP_REJ_BAD_CLEN], 1);
}

static void test_version_505_and_max_forwards_483(void **state)
{
	char out[2048], req[1024];

	(void)state;
	udp_exchange("INVITE sip:b@127.0.0.1 SIP/3.0\r\n"
		     "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-t2;rport\r\n"
		     "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
		     "Call-ID: tr-2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
		     out, sizeof(out));
	assert_non_null(strstr(out, "SIP/2.0 505 "));
	assert_int_equal(sip_transp_stats(tp)->rejected[SIP_REJ_VERSION], 1);
	udp_exchange(REQ_HEAD("INVITE", "sip:b@127.0.0.1") "CSeq: 1 INVITE\r\n"
		     "Max-Forwards: 0\r\nContent-Length: 0\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "SIP/2.0 483 Too Many Hops"));
	assert_int_equal(sip_transp_stats(tp)->rejected[SIP_REJ_MAX_FORWARDS], 1);
	/* OPTIONS to the SBC itself with Max-Forwards 0 is for us: delivered */
	snprintf(req, sizeof(req), "OPTIONS sip:127.0.0.1:%u SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-t3;rport\r\n"
		 "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
		 "Call-ID: tr-3\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 0\r\n"
		 "Content-Length: 0\r\n\r\n", port);
	udp_exchange(req, out, sizeof(out));
	assert_int_equal(delivered, 1);
	assert_string_equal(out, "");
	/* to somebody else it is not */
	udp_exchange(REQ_HEAD("OPTIONS", "sip:b@127.0.0.1") "CSeq: 1 OPTIONS\r\n"
		     "Max-Forwards: 0\r\nContent-Length: 0\r\n\r\n", out, sizeof(out));
	assert_non_null(strstr(out, "SIP/2.0 483 Too Many Hops"));
	assert_int_equal(delivered, 1);
}

static void test_garbage_and_keepalive_dropped(void **state)
{
	char out[2048];

	(void)state;
	udp_exchange("\r\n\r\n", out, sizeof(out));
	assert_int_equal(sip_transp_stats(tp)->rx_keepalives, 1);
	udp_exchange("this is not SIP at all", out, sizeof(out));
	assert_string_equal(out, "");
	assert_int_equal(sip_transp_stats(tp)->rejected[SIP_REJ_MALFORMED], 1);
	assert_int_equal(delivered, 0);
}

static void test_response_via_check(void **state)
{
	char out[2048], resp[512];

	(void)state;
	/* a response whose top Via is somebody else's is dropped */
	udp_exchange("SIP/2.0 200 OK\r\n"
		     "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-x\r\n"
		     "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
		     "Call-ID: r1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		     out, sizeof(out));
	assert_int_equal(delivered, 0);
	assert_int_equal(sip_transp_stats(tp)->rejected[SIP_REJ_NOT_OUR_VIA], 1);
	/* ours is delivered */
	snprintf(resp, sizeof(resp), "SIP/2.0 200 OK\r\n"
		 "Via: SIP/2.0/UDP 127.0.0.1:%u;branch=z9hG4bK-y\r\n"
		 "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n"
		 "Call-ID: r2\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", port);
	udp_exchange(resp, out, sizeof(out));
	assert_int_equal(delivered, 1);
	assert_string_equal(last_method, "200");
}

static void test_tcp_split_coalesced(void **state)
{
	static const char m1[] = REQ_HEAD("OPTIONS", "sip:127.0.0.1") "CSeq: 1 OPTIONS\r\n"
				 "Content-Length: 4\r\n\r\nabcd";
	struct sockaddr_storage to;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	char both[1024], out[2048];
	size_t half = sizeof(m1) / 2;
	ssize_t n;

	(void)state;
	assert_int_equal(net_sa_from_str(&to, "127.0.0.1", port), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(struct sockaddr_in)), 0);
	/* two messages in one write */
	snprintf(both, sizeof(both), "%s%s", m1, m1);
	assert_true(write(fd, both, strlen(both)) > 0);
	run_loop(40);
	assert_int_equal(delivered, 2);
	assert_int_equal(last_proto, SIP_PROTO_TCP);
	/* one message in two writes */
	assert_true(write(fd, m1, half) > 0);
	run_loop(40);
	assert_int_equal(delivered, 2);
	assert_true(write(fd, m1 + half, strlen(m1) - half) > 0);
	run_loop(40);
	assert_int_equal(delivered, 3);
	/* a bad request over TCP is answered on the same connection */
	assert_true(write(fd, REQ_HEAD("BYE", "sip:b@127.0.0.1") "Content-Length: 0\r\n\r\n",
			  strlen(REQ_HEAD("BYE", "sip:b@127.0.0.1") "Content-Length: 0\r\n\r\n")) > 0);
	run_loop(40);
	n = recv(fd, out, sizeof(out) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	out[n] = '\0';
	assert_non_null(strstr(out, "SIP/2.0 400 Missing CSeq header"));
	/* a stream message without Content-Length breaks framing: connection closed */
	assert_true(write(fd, "OPTIONS sip:x SIP/2.0\r\nVia: x\r\n\r\n", 33) > 0);
	run_loop(40);
	assert_int_equal(recv(fd, out, sizeof(out), 0), 0);
	close(fd);
}

static void on_fail(const struct sip_peer *peer, int err, void *arg)
{
	assert_ptr_equal(arg, &nfail);
	fail_peer = *peer;
	fail_err = err;
	nfail++;
}

/*
 * A TCP connection the transport opens to send is refused: the send
 * returned 0 (queued while connecting), and the failure reaches the fail
 * handler afterwards naming zone, transport and address, so the
 * transaction layer can fail what waited on it. A response whose
 * connection is gone (its conn_id names nothing) goes on a new connection
 * to the address, and that one failing is reported the same way.
 */
static void test_tcp_connect_refused_reported(void **state)
{
	struct sockaddr_storage sa;
	struct sip_peer dst = { .proto = SIP_PROTO_TCP, .zone = 0 };
	static const char msg[] = REQ_HEAD("OPTIONS", "sip:127.0.0.1") "CSeq: 1 OPTIONS\r\n"
				  "Content-Length: 0\r\n\r\n";
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* bound, not listening: connections to it are refused */
	assert_int_equal(net_sa_from_str(&sa, "127.0.0.1", 0), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	dst.addr = sa;
	sip_transp_fail_set(tp, on_fail, &nfail);
	assert_int_equal(sip_transp_send(tp, &dst, msg, strlen(msg)), 0);
	assert_int_equal(nfail, 0);
	run_loop(100);
	assert_int_equal(nfail, 1);
	assert_int_equal(fail_err, ECONNREFUSED);
	assert_int_equal(fail_peer.proto, SIP_PROTO_TCP);
	assert_int_equal(fail_peer.zone, 0);
	assert_true(fail_peer.conn_id != 0);
	assert_true(net_sa_eq(&fail_peer.addr, &sa));
	assert_int_equal(sip_transp_stats(tp)->conn_failures, 1);

	/* the connection of a response is gone: a new one to the address, refused */
	dst.conn_id = 4000000000u;
	assert_int_equal(sip_transp_send(tp, &dst, msg, strlen(msg)), 0);
	run_loop(100);
	assert_int_equal(nfail, 2);
	assert_true(net_sa_eq(&fail_peer.addr, &sa));
	assert_int_not_equal(fail_peer.conn_id, 4000000000u);

	/* no handler: counted only */
	sip_transp_fail_set(tp, NULL, NULL);
	assert_int_equal(sip_transp_send(tp, &dst, msg, strlen(msg)), 0);
	run_loop(100);
	assert_int_equal(nfail, 2);
	assert_int_equal(sip_transp_stats(tp)->conn_failures, 3);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_good_request_delivered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_header_400, setup, teardown),
		cmocka_unit_test_setup_teardown(test_clen_beyond_datagram_400, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version_505_and_max_forwards_483, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_garbage_and_keepalive_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_response_via_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_split_coalesced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tcp_connect_refused_reported, setup, teardown),
	};

	return cmocka_run_group_tests_name("sip_transp", tests, NULL, NULL);
}
