/* test_sip_trace: the transport's counters by method and response class, and its trace hook, over real sockets. */
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

enum { SEEN_MAX = 16 };

/* What the trace hook was given, copied. */
struct seen {
	char data[512];
	size_t len;
	struct sockaddr_storage local, remote;
	unsigned zone;
	enum sip_proto proto;
	bool out;
};

static struct event_base *base;
static struct sip_transp *tp;
static size_t nalloc_start;
static uint16_t port;
static int cfd = -1;
static struct sockaddr_storage me;     /* cfd's address */
static struct seen seen[SEEN_MAX];
static unsigned nseen;

static void on_msg(struct sip_msg *msg, void *arg)
{
	(void)msg;
	(void)arg;
}

static void on_trace(const struct sip_trace_pkt *p, void *arg)
{
	struct seen *s;

	assert_ptr_equal(arg, &seen);
	if (nseen >= SEEN_MAX)
		return;
	s = &seen[nseen++];
	s->len = MIN(p->len, sizeof(s->data) - 1);
	memcpy(s->data, p->data, s->len);
	s->data[s->len] = '\0';
	s->local = *p->local;
	s->remote = *p->remote;
	s->zone = p->zone;
	s->proto = p->proto;
	s->out = p->out;
}

/* The police hook: datagrams starting with "DROP" never reach the parser. */
static bool police_pre(const struct sockaddr_storage *src, const char *data, size_t len,
		       void *arg)
{
	(void)src;
	(void)arg;
	return !(len >= 4 && memcmp(data, "DROP", 4) == 0);
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
	struct sip_transp_police pol = { .pre = police_pre };
	socklen_t sl = sizeof(me);
	int err = EADDRINUSE;

	(void)state;
	nalloc_start = mem_nalloc();
	nseen = 0;
	base = event_base_new();
	assert_non_null(base);
	assert_int_equal(net_sa_from_str(&zc.addr, "127.0.0.1", 0), 0);
	for (int tries = 0; tries < 20 && err; tries++) {
		port = (uint16_t)(20000 + (getpid() * 11 + tries * 137) % 30000);
		zc.port[SIP_PROTO_UDP] = port;
		zc.port[SIP_PROTO_TCP] = port;
		mem_deref(tp);
		assert_int_equal(sip_transp_alloc(&tp, base, &scfg, on_msg, NULL), 0);
		err = sip_transp_zone_add(tp, 1, &zc);
	}
	assert_int_equal(err, 0);
	sip_transp_police_set(tp, 1, &pol);
	cfd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_int_equal(net_sa_from_str(&me, "127.0.0.1", 0), 0);
	assert_int_equal(bind(cfd, (struct sockaddr *)&me, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(getsockname(cfd, (struct sockaddr *)&me, &sl), 0);
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

static void udp_in(const char *text)
{
	struct sockaddr_storage to;

	assert_int_equal(net_sa_from_str(&to, "127.0.0.1", port), 0);
	assert_true(sendto(cfd, text, strlen(text), 0, (struct sockaddr *)&to,
			   sizeof(struct sockaddr_in)) > 0);
	run_loop(30);
}

/* Send text from zone 1 to cfd over UDP; 0 or the transport's error. */
static int udp_out(const char *text)
{
	struct sip_peer dst = { .addr = me, .proto = SIP_PROTO_UDP, .zone = 1 };

	return sip_transp_send(tp, &dst, text, strlen(text));
}

static void drain(void)
{
	char buf[2048];

	while (recv(cfd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

#define REQ(m) m " sip:b@127.0.0.1 SIP/2.0\r\n" \
	"Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-c1;rport\r\n" \
	"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n" \
	"Call-ID: cnt-1\r\nCSeq: 1 " m "\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"

#define RESP(code) "SIP/2.0 " code "\r\n" \
	"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-r1\r\n" \
	"From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\n" \
	"Call-ID: cnt-2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"

static uint64_t method_count(const uint64_t *v, const char *name)
{
	for (unsigned i = 0; i < SIP_STAT_METHODS; i++) {
		if (strcmp(sip_stat_method_name(i), name) == 0)
			return v[i];
	}
	fail_msg("no method counter %s", name);
	return 0;
}

static void test_method_names(void **state)
{
	(void)state;
	assert_string_equal(sip_stat_method_name(sip_stat_method(SIP_METHOD_INVITE)), "INVITE");
	assert_string_equal(sip_stat_method_name(sip_stat_method(SIP_METHOD_UPDATE)), "UPDATE");
	assert_string_equal(sip_stat_method_name(sip_stat_method(SIP_METHOD_MESSAGE)), "MESSAGE");
	assert_string_equal(sip_stat_method_name(sip_stat_method(SIP_METHOD_PUBLISH)), "other");
	assert_string_equal(sip_stat_method_name(sip_stat_method(SIP_METHOD_UNKNOWN)), "other");
	assert_string_equal(sip_stat_method_name(SIP_STAT_METHODS - 1), "other");
	assert_string_equal(sip_stat_method_name(SIP_STAT_METHODS), "?");
	/* every named method is distinct */
	for (unsigned i = 0; i < SIP_STAT_METHODS; i++) {
		for (unsigned j = i + 1; j < SIP_STAT_METHODS; j++)
			assert_string_not_equal(sip_stat_method_name(i), sip_stat_method_name(j));
	}
}

/*
 * Received requests count by method (PUBLISH and unknown ones as other),
 * even those the ingress checks refuse afterwards; received responses by
 * class; sent ones likewise; CRLF keep-alives and garbage count as neither.
 */
static void test_counters_by_method_and_class(void **state)
{
	const struct sip_transp_stats *st;

	(void)state;
	udp_in(REQ("OPTIONS"));
	udp_in(REQ("INVITE"));
	udp_in(REQ("INVITE"));
	udp_in(REQ("PUBLISH"));
	udp_in(REQ("FROBNICATE"));
	udp_in("BYE sip:b@127.0.0.1 SIP/2.0\r\n"     /* no CSeq: 400 */
	       "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-c2;rport\r\n"
	       "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
	       "Call-ID: cnt-3\r\nContent-Length: 0\r\n\r\n");
	udp_in(RESP("180 Ringing"));
	udp_in(RESP("486 Busy Here"));
	udp_in(RESP("603 Decline"));
	udp_in("\r\n\r\n");
	udp_in("not SIP");
	st = sip_transp_stats(tp);
	assert_int_equal(st->rx_requests, 6);
	assert_int_equal(method_count(st->methods_rx, "OPTIONS"), 1);
	assert_int_equal(method_count(st->methods_rx, "INVITE"), 2);
	assert_int_equal(method_count(st->methods_rx, "BYE"), 1);
	assert_int_equal(method_count(st->methods_rx, "other"), 2);
	assert_int_equal(method_count(st->methods_rx, "ACK"), 0);
	assert_int_equal(st->rx_responses, 3);
	assert_int_equal(st->classes_rx[0], 1);
	assert_int_equal(st->classes_rx[3], 1);
	assert_int_equal(st->classes_rx[5], 1);
	assert_int_equal(st->classes_rx[1] + st->classes_rx[2] + st->classes_rx[4], 0);
	/* the 400 to the BYE went out: counted as sent */
	assert_int_equal(st->classes_tx[3], 1);
	drain();

	assert_int_equal(udp_out(REQ("NOTIFY")), 0);
	assert_int_equal(udp_out(REQ("REFER")), 0);
	assert_int_equal(udp_out(RESP("200 OK")), 0);
	assert_int_equal(udp_out(RESP("100 Trying")), 0);
	assert_int_equal(udp_out("\r\n\r\n"), 0);
	assert_int_equal(method_count(st->methods_tx, "NOTIFY"), 1);
	assert_int_equal(method_count(st->methods_tx, "REFER"), 1);
	assert_int_equal(method_count(st->methods_tx, "INVITE"), 0);
	assert_int_equal(st->classes_tx[0], 1);
	assert_int_equal(st->classes_tx[1], 1);
	assert_int_equal(st->classes_tx[3], 1);
	assert_int_equal(st->tx_messages, 6);   /* the 400, 4 messages, the keep-alive */
	drain();
}

/*
 * The trace sees what reaches the parser (garbage included; not what the
 * police hook dropped, nor keep-alives) and what was sent, with the zone's
 * address and port as the local end and the peer as the remote one; off,
 * it sees nothing.
 */
static void test_trace_hook(void **state)
{
	const char *req = REQ("REGISTER");

	(void)state;
	udp_in(req);
	assert_int_equal(nseen, 0);   /* not tracing yet */
	sip_transp_trace_set(tp, on_trace, &seen);
	udp_in(req);
	udp_in("DROP this");
	udp_in("\r\n\r\n");
	udp_in("not SIP");
	assert_int_equal(udp_out(RESP("200 OK")), 0);
	assert_int_equal(udp_out("\r\n\r\n"), 0);
	assert_int_equal(nseen, 3);
	assert_false(seen[0].out);
	assert_string_equal(seen[0].data, req);
	assert_int_equal(seen[0].zone, 1);
	assert_int_equal(seen[0].proto, SIP_PROTO_UDP);
	assert_int_equal(net_sa_port(&seen[0].local), port);
	assert_true(net_sa_eq(&seen[0].remote, &me));
	assert_string_equal(seen[1].data, "not SIP");
	assert_false(seen[1].out);
	assert_true(seen[2].out);
	assert_int_equal(strncmp(seen[2].data, "SIP/2.0 200 OK\r\n", 16), 0);
	assert_int_equal(net_sa_port(&seen[2].local), port);
	assert_true(net_sa_eq(&seen[2].remote, &me));
	assert_int_equal(sip_transp_stats(tp)->policed, 1);

	sip_transp_trace_set(tp, NULL, NULL);
	udp_in(req);
	assert_int_equal(udp_out(RESP("200 OK")), 0);
	assert_int_equal(nseen, 3);
	drain();
}

/* A message framed from a TCP connection is traced once, as TCP, from the connection's peer. */
static void test_trace_tcp(void **state)
{
	const char *req = REQ("INFO");
	struct sockaddr_storage to, mine;
	socklen_t sl = sizeof(mine);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	sip_transp_trace_set(tp, on_trace, &seen);
	assert_int_equal(net_sa_from_str(&to, "127.0.0.1", port), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof(struct sockaddr_in)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&mine, &sl), 0);
	/* in two pieces: framing joins them, the trace sees one message */
	assert_int_equal(write(fd, req, 40), 40);
	run_loop(30);
	assert_int_equal(write(fd, req + 40, strlen(req) - 40), (ssize_t)(strlen(req) - 40));
	run_loop(50);
	assert_int_equal(nseen, 1);
	assert_int_equal(seen[0].proto, SIP_PROTO_TCP);
	assert_string_equal(seen[0].data, req);
	assert_true(net_sa_eq(&seen[0].remote, &mine));
	assert_int_equal(net_sa_port(&seen[0].local), port);
	assert_int_equal(method_count(sip_transp_stats(tp)->methods_rx, "INFO"), 1);
	close(fd);
	run_loop(30);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_method_names),
		cmocka_unit_test_setup_teardown(test_counters_by_method_and_class, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trace_tcp, setup, teardown),
	};

	return cmocka_run_group_tests_name("sip_trace", tests, NULL, NULL);
}
