/* test_sip_reply: responses built from requests, their destination, and reason phrases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "sip/sip.h"

static size_t nalloc_start;
static struct sip_msg *msg;
static char out[4096];

static int setup(void **state)
{
	(void)state;
	nalloc_start = mem_nalloc();
	return sip_msg_alloc(&msg);
}

static int teardown(void **state)
{
	(void)state;
	msg = mem_deref(msg);
	assert_int_equal(mem_nalloc(), nalloc_start);
	return 0;
}

static void set_src(struct sip_peer *p, const char *ip, uint16_t port, enum sip_proto proto)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&p->addr;

	memset(p, 0, sizeof(*p));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	p->proto = (uint8_t)proto;
}

static const char invite[] =
	"INVITE sip:alice@203.0.113.1 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 192.0.2.5:5062;branch=z9hG4bK-1;rport, SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-0\r\n"
	"Via: SIP/2.0/TCP 192.0.2.10;branch=z9hG4bK-x\r\n"
	"From: \"Bob\" <sip:bob@example.com>;tag=abc\r\n"
	"To: <sip:alice@example.com>\r\n"
	"Call-ID: c1@192.0.2.5\r\n"
	"CSeq: 7 INVITE\r\n"
	"Timestamp: 54\r\n"
	"Max-Forwards: 70\r\n"
	"Content-Length: 0\r\n\r\n";

static void decode(const char *text)
{
	assert_int_equal(sip_msg_decode_raw(msg, text, strlen(text), 0, NULL), 0);
	assert_int_equal(sip_msg_check(msg), 0);
}

static void test_reply_rport_received_tag(void **state)
{
	struct pl tag = PL("t0"), extra = PL("Server: sbc\r\n");
	struct sip_msg *resp;
	struct wbuf wb;
	const struct sip_via *via;
	const struct sip_addr *to;
	struct sip_iter it = { 0 };
	struct sip_via v2;

	(void)state;
	decode(invite);
	set_src(&msg->src, "198.51.100.7", 40000, SIP_PROTO_UDP);
	wbuf_init(&wb, out, sizeof(out));
	assert_int_equal(sip_reply_build(msg, 486, NULL, &tag, &extra, &wb), 0);
	assert_non_null(strstr(out, "SIP/2.0 486 Busy Here\r\n"));
	assert_non_null(strstr(out, "Via: SIP/2.0/UDP 192.0.2.5:5062;branch=z9hG4bK-1;rport=40000"
				    ";received=198.51.100.7, SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-0\r\n"
				    "Via: SIP/2.0/TCP 192.0.2.10;branch=z9hG4bK-x\r\n"));
	assert_non_null(strstr(out, "To: <sip:alice@example.com>;tag=t0\r\n"));
	assert_non_null(strstr(out, "Server: sbc\r\nContent-Length: 0\r\n\r\n"));
	assert_null(strstr(out, "Timestamp"));

	/* the response parses back with the same identifiers */
	assert_int_equal(sip_msg_alloc(&resp), 0);
	assert_int_equal(sip_msg_decode_raw(resp, out, wb.len, 0, NULL), 0);
	assert_int_equal(sip_msg_check(resp), 0);
	assert_int_equal(resp->scode, 486);
	assert_int_equal(sip_msg_via_top(resp, &via), 0);
	assert_true(pl_eq_str(&via->rport, "40000"));
	assert_true(pl_eq_str(&via->received, "198.51.100.7"));
	assert_int_equal(sip_msg_to(resp, &to), 0);
	assert_true(pl_eq_str(&to->tag, "t0"));
	assert_int_equal(sip_msg_via_next(resp, &it, &v2), 0);
	assert_int_equal(sip_msg_via_next(resp, &it, &v2), 0);
	assert_true(pl_eq_str(&v2.branch, "z9hG4bK-0"));
	assert_int_equal(sip_msg_via_next(resp, &it, &v2), 0);
	assert_true(pl_eq_str(&v2.transport, "TCP"));
	assert_int_equal(sip_msg_via_next(resp, &it, &v2), ENOENT);
	mem_deref(resp);
}

static void test_reply_100_no_tag_timestamp(void **state)
{
	struct pl tag = PL("t0");
	struct wbuf wb;

	(void)state;
	decode(invite);
	wbuf_init(&wb, out, sizeof(out));
	/* without a source: the Via is copied as it was */
	assert_int_equal(sip_reply_build(msg, 100, NULL, &tag, NULL, &wb), 0);
	assert_non_null(strstr(out, "SIP/2.0 100 Trying\r\n"));
	assert_non_null(strstr(out, "Via: SIP/2.0/UDP 192.0.2.5:5062;branch=z9hG4bK-1;rport, "));
	assert_non_null(strstr(out, "To: <sip:alice@example.com>\r\n"));
	assert_non_null(strstr(out, "Timestamp: 54\r\n"));
}

static void test_reply_received_only_when_host_differs(void **state)
{
	static const char req[] =
		"OPTIONS sip:203.0.113.1 SIP/2.0\r\n"
		"Via: SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK-2\r\n"
		"From: <sip:x@example.com>;tag=1\r\nTo: <sip:203.0.113.1>\r\n"
		"Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
	struct sip_peer dst;
	struct wbuf wb;

	(void)state;
	decode(req);
	set_src(&msg->src, "198.51.100.7", 40001, SIP_PROTO_UDP);
	wbuf_init(&wb, out, sizeof(out));
	assert_int_equal(sip_reply_build(msg, 200, NULL, NULL, NULL, &wb), 0);
	assert_non_null(strstr(out, "Via: SIP/2.0/UDP 198.51.100.7:5070;branch=z9hG4bK-2\r\n"));
	/* no rport: the response goes to the source address and the sent-by port */
	assert_int_equal(sip_reply_dest(msg, &dst), 0);
	assert_int_equal(ntohs(((struct sockaddr_in *)(void *)&dst.addr)->sin_port), 5070);

	set_src(&msg->src, "192.0.2.44", 40001, SIP_PROTO_UDP);
	wbuf_init(&wb, out, sizeof(out));
	assert_int_equal(sip_reply_build(msg, 200, NULL, NULL, NULL, &wb), 0);
	assert_non_null(strstr(out, ";branch=z9hG4bK-2;received=192.0.2.44\r\n"));
}

static void test_reply_dest_rport_and_stream(void **state)
{
	struct sip_peer dst;

	(void)state;
	decode(invite);
	assert_int_equal(sip_reply_dest(msg, &dst), EINVAL);   /* source unknown */
	set_src(&msg->src, "198.51.100.7", 40000, SIP_PROTO_UDP);
	assert_int_equal(sip_reply_dest(msg, &dst), 0);
	assert_int_equal(ntohs(((struct sockaddr_in *)(void *)&dst.addr)->sin_port), 40000);
	set_src(&msg->src, "198.51.100.7", 40002, SIP_PROTO_TCP);
	msg->src.conn_id = 17;
	assert_int_equal(sip_reply_dest(msg, &dst), 0);
	assert_int_equal(dst.conn_id, 17);
	/* should connection 17 be gone: the source address, the Via sent-by port (RFC 3261 18.2.2) */
	assert_int_equal(ntohs(((struct sockaddr_in *)(void *)&dst.addr)->sin_port), 5062);
}

static void test_reply_bounds(void **state)
{
	struct wbuf wb;

	(void)state;
	decode(invite);
	wbuf_init(&wb, out, 64);
	assert_int_equal(sip_reply_build(msg, 200, NULL, NULL, NULL, &wb), ENOSPC);
	assert_int_equal(wb.len, 0);
	wbuf_init(&wb, out, sizeof(out));
	assert_int_equal(sip_reply_build(msg, 99, NULL, NULL, NULL, &wb), EINVAL);
	assert_int_equal(sip_reply_build(msg, 700, NULL, NULL, NULL, &wb), EINVAL);
}

static void test_reason_and_proto_names(void **state)
{
	enum sip_proto p;
	struct pl tls = PL("tls"), sctp = PL("SCTP");

	(void)state;
	assert_string_equal(sip_reason_phrase(481), "Call/Transaction Does Not Exist");
	assert_string_equal(sip_reason_phrase(599), "Server Error");
	assert_int_equal(sip_proto_lookup(&tls, &p), 0);
	assert_int_equal(p, SIP_PROTO_TLS);
	assert_int_equal(sip_proto_lookup(&sctp, &p), ENOENT);
	assert_true(sip_proto_reliable(SIP_PROTO_TCP));
	assert_false(sip_proto_reliable(SIP_PROTO_UDP));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_reply_rport_received_tag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_100_no_tag_timestamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_received_only_when_host_differs, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reply_dest_rport_and_stream, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reason_and_proto_names, setup, teardown),
	};

	return cmocka_run_group_tests_name("sip_reply", tests, NULL, NULL);
}
