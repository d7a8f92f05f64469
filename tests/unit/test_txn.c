/* test_txn: RFC 3261 transactions: every state transition of the four machines on UDP and TCP, on a fake clock and transport. */
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

#include "txn/txn.h"

/* ---- fake clock, fake transport, fake TU ---- */

static uint64_t now;
static size_t nalloc_start;
static struct txn_layer *tl;
static struct sip_msg *rxmsg, *chk;
static enum sip_proto proto;

struct sent {
	uint64_t at;
	struct sip_peer dst;
	char buf[4096];
	size_t len;
};

/* A ring: SENT(i) holds send number i for the last MAX_SENT sends; sent[i] while i < MAX_SENT. */
enum { MAX_SENT = 256 };
static struct sent sent[MAX_SENT];
#define SENT(i) (sent[(i) % MAX_SENT])
static unsigned nsent;
static int send_fail;          /* errno the transport returns while send_fail_n != 0 */
static int send_fail_n;        /* sends left to fail; -1: all */

struct tu {
	struct txn_server *st[16];
	unsigned nst;
	bool events;               /* set a server handler on new transactions */
	int ev_err[16];
	int ev_mid[16];
	struct txn_server *ev_st[16];
	unsigned nev;
	unsigned nack;
	struct txn_server *ack_st;
	int ack_ret;
	struct txn_client *ct[16];
	unsigned nct;
	int resp_err[32];
	uint16_t resp_code[32];
	enum txn_state resp_state[32];
	unsigned nresp;
	bool cancel_on_c;          /* cancel (with a Reason) in the Timer C callback */
	bool no_keep;              /* count new server transactions without keeping them */
	unsigned retry_on_refused; /* start a new INVITE to 10.20.0.10 over TCP on ECONNREFUSED */
	uint16_t auto_reply;       /* answer in the request callback */
};

static struct tu tu;
static const struct pl tag_bob = PL("t-bob1");
static const struct pl reason_extra = PL("Reason: SIP;cause=408;text=\"Timer C\"\r\n");

static int fake_send(const struct sip_peer *dst, const char *buf, size_t len, void *arg)
{
	(void)arg;
	if (send_fail && send_fail_n) {
		if (send_fail_n > 0)
			send_fail_n--;
		return send_fail;
	}
	assert_true(len < sizeof(sent[0].buf));
	SENT(nsent).at = now;
	SENT(nsent).dst = *dst;
	memcpy(SENT(nsent).buf, buf, len);
	SENT(nsent).buf[len] = '\0';
	SENT(nsent).len = len;
	nsent++;
	return 0;
}

static void tu_event(struct txn_server *st, int err, const struct sip_msg *msg, void *arg)
{
	(void)arg;
	assert_true(tu.nev < ARRAY_SIZE(tu.ev_err));
	tu.ev_err[tu.nev] = err;
	tu.ev_mid[tu.nev] = msg ? (int)msg->mid : -1;
	tu.ev_st[tu.nev] = st;
	tu.nev++;
}

static void tu_request(struct txn_server *st, struct sip_msg *req, void *arg)
{
	(void)arg;
	(void)req;
	assert_int_not_equal(req->mid, SIP_METHOD_ACK);
	assert_int_not_equal(req->mid, SIP_METHOD_CANCEL);
	if (tu.auto_reply)
		assert_int_equal(txn_server_reply(st, tu.auto_reply, NULL, &tag_bob, NULL,
						  txn_layer_now(tl)), 0);
	if (tu.no_keep) {
		tu.nst++;
		return;
	}
	assert_true(tu.nst < ARRAY_SIZE(tu.st));
	tu.st[tu.nst++] = mem_ref(st);
	if (tu.events)
		txn_server_handler_set(st, tu_event, NULL);
}

static int tu_ack(struct txn_server *st, struct sip_msg *ack, void *arg)
{
	(void)arg;
	assert_int_equal(ack->mid, SIP_METHOD_ACK);
	tu.nack++;
	tu.ack_st = st;
	return tu.ack_ret;
}

static void client_retry(void);

static void tu_response(struct txn_client *ct, int err, const struct sip_msg *resp, void *arg)
{
	(void)arg;
	assert_true(tu.nresp < ARRAY_SIZE(tu.resp_err));
	assert_true(err ? resp == NULL : resp != NULL);
	tu.resp_err[tu.nresp] = err;
	tu.resp_code[tu.nresp] = resp ? resp->scode : 0;
	tu.resp_state[tu.nresp] = txn_client_state(ct);
	tu.nresp++;
	if (err == ETIMEDOUT && tu.cancel_on_c && txn_client_state(ct) == TXN_STATE_PROCEEDING)
		assert_int_equal(txn_client_cancel(ct, &reason_extra, txn_layer_now(tl)), 0);
	if (err == ECONNREFUSED && tu.retry_on_refused) {
		tu.retry_on_refused--;
		client_retry();
	}
}

static void layer_make(const struct txn_config *cfg)
{
	assert_int_equal(txn_layer_alloc(&tl, cfg, fake_send, tu_request, tu_ack, NULL), 0);
}

static int setup(void **state)
{
	(void)state;
	nalloc_start = mem_nalloc();
	now = 0;
	nsent = 0;
	send_fail = 0;
	send_fail_n = 0;
	proto = SIP_PROTO_UDP;
	memset(&tu, 0, sizeof(tu));
	if (sip_msg_alloc(&rxmsg) || sip_msg_alloc(&chk))
		return -1;
	tl = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (unsigned i = 0; !tu.no_keep && i < tu.nst; i++)
		txn_server_release(tu.st[i]);
	for (unsigned i = 0; i < tu.nct; i++)
		txn_client_release(tu.ct[i]);
	tl = mem_deref(tl);
	rxmsg = mem_deref(rxmsg);
	chk = mem_deref(chk);
	mem_fail_after(-1);
	assert_int_equal(mem_nalloc(), nalloc_start);
	return 0;
}

/* Run the clock to t, firing each timer at its exact due time. */
static void advance(uint64_t t)
{
	while (txn_layer_next(tl) <= t) {
		now = txn_layer_next(tl);
		txn_layer_poll(tl, now);
	}
	now = t;
}

static void peer_set(struct sip_peer *p, const char *ip, uint16_t port, enum sip_proto pr)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&p->addr;

	memset(p, 0, sizeof(*p));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	assert_int_equal(inet_pton(AF_INET, ip, &sin->sin_addr), 1);
	p->proto = (uint8_t)pr;
	p->conn_id = pr == SIP_PROTO_UDP ? 0 : 7;
}

static uint16_t peer_port(const struct sip_peer *p)
{
	return ntohs(((const struct sockaddr_in *)(const void *)&p->addr)->sin_port);
}

/* Decode and check one message the fake transport sent. */
static struct sip_msg *sent_msg(unsigned i)
{
	assert_true(i < nsent && nsent <= MAX_SENT);
	assert_int_equal(sip_msg_decode_raw(chk, sent[i].buf, sent[i].len, 0, NULL), 0);
	assert_int_equal(sip_msg_check(chk), 0);
	return chk;
}

static void assert_hdr(struct sip_msg *m, enum sip_hdr_id id, const char *val)
{
	const struct sip_hdr *h = sip_msg_hdr(m, id);

	assert_non_null(h);
	if (!pl_eq_str(&h->val, val))
		fail_msg("header %s is \"%.*s\", expected \"%s\"", sip_hdr_name(id),
			 (int)h->val.l, h->val.p, val);
}

static bool sent_is(unsigned i, const char *start)
{
	assert_true(i < nsent && i + MAX_SENT >= nsent);
	return !strncmp(SENT(i).buf, start, strlen(start));
}

static void assert_sent_times(unsigned from, const uint64_t *times, unsigned n)
{
	assert_int_equal(nsent, from + n);
	assert_true(nsent <= MAX_SENT);
	for (unsigned i = 0; i < n; i++) {
		if (sent[from + i].at != times[i])
			fail_msg("send %u at %llu, expected %llu", from + i,
				 (unsigned long long)sent[from + i].at, (unsigned long long)times[i]);
	}
}

static struct txn_stats stats(void)
{
	struct txn_stats s;

	txn_layer_stats(tl, &s);
	return s;
}

/* ---- requests from the network (server side) ---- */

static char rxbuf[8192];

static int rx_text(const char *text, const char *src_ip, uint16_t src_port)
{
	int err;

	assert_int_equal(sip_msg_decode_raw(rxmsg, text, strlen(text), 0, NULL), 0);
	assert_int_equal(sip_msg_check(rxmsg), 0);
	peer_set(&rxmsg->src, src_ip, src_port, proto);
	err = txn_layer_recv(tl, rxmsg, now);
	sip_msg_reset(rxmsg);
	return err;
}

/* A request from a phone at 198.51.100.7; branch NULL leaves the parameter out. */
static int rx_req_from(const char *method, const char *branch, const char *sentby, unsigned cseq,
		       const char *totag)
{
	snprintf(rxbuf, sizeof(rxbuf),
		 "%s sip:bob@203.0.113.1 SIP/2.0\r\n"
		 "Via: SIP/2.0/%s %s%s%s;rport\r\n"
		 "Max-Forwards: 70\r\n"
		 "From: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl\r\n"
		 "To: <sip:bob@example.com>%s%s\r\n"
		 "Call-ID: 3848276298220188511@198.51.100.7\r\n"
		 "CSeq: %u %s\r\n"
		 "Contact: <sip:alice@198.51.100.7:5060>\r\n"
		 "Timestamp: 54\r\n"
		 "User-Agent: Bria 6 release 6.5.1\r\n"
		 "Content-Length: 0\r\n\r\n",
		 method, sip_proto_name(proto), sentby, branch ? ";branch=" : "",
		 branch ? branch : "", totag ? ";tag=" : "", totag ? totag : "", cseq, method);
	return rx_text(rxbuf, "198.51.100.7", 5060);
}

static int rx_req(const char *method, const char *branch, unsigned cseq, const char *totag)
{
	return rx_req_from(method, branch, "198.51.100.7:5060", cseq, totag);
}

/* ---- requests we send (client side) and responses to them ---- */

static char txbuf[8192];

static size_t mk_creq(const char *method, const char *branch, enum sip_proto p)
{
	static const char sdp[] = "v=0\r\no=- 1 1 IN IP4 10.20.0.1\r\ns=-\r\n"
				  "c=IN IP4 10.20.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n";
	bool inv = !strcmp(method, "INVITE");
	int n = snprintf(txbuf, sizeof(txbuf),
			 "%s sip:bob@10.20.0.10:5060 SIP/2.0\r\n"
			 "Via: SIP/2.0/%s 10.20.0.1:5060;branch=%s\r\n"
			 "Route: <sip:10.20.0.11;lr>\r\n"
			 "Route: <sip:10.20.0.12;lr>\r\n"
			 "Max-Forwards: 69\r\n"
			 "From: <sip:alice@sbc.example>;tag=a73kszlfl\r\n"
			 "To: <sip:bob@pbx.example>\r\n"
			 "Call-ID: 1j9FpLxk3uxtm8tn@10.20.0.1\r\n"
			 "CSeq: 314159 %s\r\n"
			 "Contact: <sip:sbc@10.20.0.1:5060>\r\n"
			 "%s"
			 "Content-Length: %zu\r\n\r\n%s",
			 method, sip_proto_name(p), branch, method,
			 inv ? "Content-Type: application/sdp\r\n" : "",
			 inv ? strlen(sdp) : (size_t)0, inv ? sdp : "");

	assert_true(n > 0 && (size_t)n < sizeof(txbuf));
	return (size_t)n;
}

/* A client transaction sent to ip:5060 over p on zone; the TU keeps a reference in tu.ct. */
static struct txn_client *client_to(const char *method, enum sip_proto p, const char *ip,
				    uint8_t zone)
{
	struct txn_client *ct = NULL;
	struct sip_peer dst;
	char branch[TXN_BRANCH_LEN + 1];
	size_t len;

	assert_int_equal(txn_branch_make(branch, sizeof(branch)), 0);
	len = mk_creq(method, branch, p);
	peer_set(&dst, ip, 5060, p);
	dst.zone = zone;
	assert_int_equal(txn_client_request(&ct, tl, &dst, txbuf, len, tu_response, NULL, now), 0);
	assert_non_null(ct);
	assert_true(tu.nct < ARRAY_SIZE(tu.ct));
	tu.ct[tu.nct++] = ct;
	return ct;
}

static struct txn_client *client_new(const char *method, enum sip_proto p)
{
	return client_to(method, p, "10.20.0.10", 0);
}

/* The TU tries again from its callback (same destination, a new transaction). */
static void client_retry(void)
{
	client_new("INVITE", SIP_PROTO_TCP);
}

/* A response to the request the fake transport sent as send number i. */
static int rx_resp(unsigned i, uint16_t scode, const char *totag)
{
	char buf[4096];
	struct pl tag = pl_from_str(totag ? totag : "");
	struct wbuf wb;
	int err;

	wbuf_init(&wb, buf, sizeof(buf));
	assert_int_equal(sip_reply_build(sent_msg(i), scode, NULL, totag ? &tag : NULL, NULL, &wb),
			 0);
	assert_int_equal(sip_msg_decode_raw(rxmsg, buf, wb.len, 0, NULL), 0);
	assert_int_equal(sip_msg_check(rxmsg), 0);
	peer_set(&rxmsg->src, "10.20.0.10", 5060, sent[i].dst.proto);
	err = txn_layer_recv(tl, rxmsg, now);
	sip_msg_reset(rxmsg);
	return err;
}

/* ======================= INVITE server ======================= */

static void test_inv_server_udp_completed_confirmed(void **state)
{
	const uint64_t g[] = { 1500, 2500, 4500, 8500 };
	struct txn_server *st;
	struct sip_msg *m;
	const struct sip_addr *to;

	(void)state;
	layer_make(NULL);
	now = 1000;
	assert_int_equal(rx_req("INVITE", "z9hG4bK74bf9", 1, NULL), 0);
	assert_int_equal(tu.nst, 1);
	st = tu.st[0];
	assert_int_equal(txn_server_state(st), TXN_STATE_PROCEEDING);
	assert_int_equal(txn_server_method(st), SIP_METHOD_INVITE);
	/* 100 Trying at once, no To tag, Timestamp echoed, sent to the source port (rport) */
	assert_int_equal(nsent, 1);
	assert_true(sent_is(0, "SIP/2.0 100 Trying\r\n"));
	m = sent_msg(0);
	assert_int_equal(sip_msg_to(m, &to), 0);
	assert_int_equal(to->tag.l, 0);
	assert_hdr(m, SIP_HDR_TIMESTAMP, "54");
	assert_int_equal(sent[0].at, 1000);
	assert_int_equal(peer_port(&sent[0].dst), 5060);

	/* 486: Completed, Timer G at T1, 2T1, 4T1, then capped at T2 */
	assert_int_equal(txn_server_reply(st, 486, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(txn_server_state(st), TXN_STATE_COMPLETED);
	assert_int_equal(nsent, 2);
	m = sent_msg(1);
	assert_int_equal(m->scode, 486);
	assert_int_equal(sip_msg_to(m, &to), 0);
	assert_true(pl_eq_str(&to->tag, "t-bob1"));
	advance(8500);
	assert_sent_times(2, g, ARRAY_SIZE(g));
	for (unsigned i = 2; i < nsent; i++)
		assert_true(sent_is(i, "SIP/2.0 486 Busy Here\r\n"));

	/* a retransmitted INVITE gets the 486 again */
	now = 9000;
	assert_int_equal(rx_req("INVITE", "z9hG4bK74bf9", 1, NULL), 0);
	assert_int_equal(nsent, 7);
	assert_true(sent_is(6, "SIP/2.0 486 Busy Here\r\n"));
	assert_int_equal(stats().retrans_absorbed, 1);
	advance(12500);
	assert_int_equal(nsent, 8);
	assert_int_equal(sent[7].at, 12500);

	/* ACK: Confirmed, no more 486 */
	now = 13000;
	assert_int_equal(rx_req("ACK", "z9hG4bK74bf9", 1, "t-bob1"), 0);
	assert_int_equal(txn_server_state(st), TXN_STATE_CONFIRMED);
	assert_int_equal(tu.nack, 0);
	now = 14000;
	assert_int_equal(rx_req("ACK", "z9hG4bK74bf9", 1, "t-bob1"), 0);
	assert_int_equal(rx_req("INVITE", "z9hG4bK74bf9", 1, NULL), 0);
	assert_int_equal(stats().retrans_absorbed, 3);
	advance(17999);
	assert_int_equal(nsent, 8);
	assert_int_equal(txn_server_state(st), TXN_STATE_CONFIRMED);

	/* Timer I = T4: terminated, out of the table */
	advance(18000);
	assert_int_equal(txn_server_state(st), TXN_STATE_TERMINATED);
	assert_int_equal(stats().server_live, 0);
	assert_int_equal(txn_server_reply(st, 500, NULL, &tag_bob, NULL, now), ENOENT);
	assert_int_equal(rx_req("INVITE", "z9hG4bK74bf9", 1, NULL), 0);
	assert_int_equal(tu.nst, 2);
	assert_int_equal(stats().server_created, 2);
	assert_true(sent_is(8, "SIP/2.0 100 Trying\r\n"));
	assert_int_equal(stats().stray_acks, 0);
}

static void test_inv_server_udp_timer_h(void **state)
{
	const uint64_t g[] = { 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500 };

	(void)state;
	layer_make(NULL);
	tu.events = true;
	assert_int_equal(rx_req("INVITE", "z9hG4bKh1", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[0], 603, NULL, &tag_bob, NULL, now), 0);
	advance(31999);
	assert_sent_times(2, g, ARRAY_SIZE(g));
	assert_int_equal(tu.nev, 0);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_COMPLETED);
	advance(32000);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_TERMINATED);
	assert_int_equal(tu.nev, 1);
	assert_int_equal(tu.ev_err[0], ETIMEDOUT);
	assert_int_equal(tu.ev_mid[0], -1);
	assert_ptr_equal(tu.ev_st[0], tu.st[0]);
	assert_int_equal(stats().timeouts, 1);
	assert_int_equal(txn_layer_next(tl), UINT64_MAX);
	advance(100000);
	assert_int_equal(nsent, 12);
	assert_int_equal(tu.nev, 1);
}

static void test_inv_server_udp_accepted(void **state)
{
	struct txn_server *st;

	(void)state;
	layer_make(NULL);
	assert_int_equal(rx_req("INVITE", "z9hG4bKacc", 1, NULL), 0);
	st = tu.st[0];
	now = 10;
	assert_int_equal(txn_server_reply(st, 180, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(txn_server_state(st), TXN_STATE_PROCEEDING);
	/* a retransmission in Proceeding gets the last provisional */
	now = 20;
	assert_int_equal(rx_req("INVITE", "z9hG4bKacc", 1, NULL), 0);
	assert_int_equal(nsent, 3);
	assert_true(sent_is(2, "SIP/2.0 180 Ringing\r\n"));

	now = 100;
	assert_int_equal(txn_server_reply(st, 200, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(txn_server_state(st), TXN_STATE_ACCEPTED);
	assert_int_equal(nsent, 4);
	/* Accepted: retransmitted INVITEs absorbed without an answer; 2xx resends are the TU's */
	now = 200;
	assert_int_equal(rx_req("INVITE", "z9hG4bKacc", 1, NULL), 0);
	assert_int_equal(nsent, 4);
	assert_int_equal(stats().retrans_absorbed, 2);
	advance(20000);
	assert_int_equal(nsent, 4);
	/* the TU resends the bytes it kept; the request to build one from is gone */
	memcpy(txbuf, sent[3].buf, sent[3].len);
	assert_int_equal(txn_server_send(st, txbuf, sent[3].len, now), 0);
	assert_int_equal(nsent, 5);
	assert_string_equal(sent[4].buf, sent[3].buf);
	assert_int_equal(txn_server_reply(st, 200, NULL, &tag_bob, NULL, now), EALREADY);
	assert_int_equal(nsent, 5);
	assert_int_equal(txn_server_reply(st, 486, NULL, &tag_bob, NULL, now), EALREADY);
	assert_int_equal(txn_server_reply(st, 183, NULL, &tag_bob, NULL, now), EALREADY);

	/* ACKs go to the TU: the 2xx ACK with its own branch, and one reusing the INVITE's */
	assert_int_equal(rx_req("ACK", "z9hG4bKacc-ack", 1, "t-bob1"), 0);
	assert_int_equal(tu.nack, 1);
	assert_null(tu.ack_st);
	assert_int_equal(rx_req("ACK", "z9hG4bKacc", 1, "t-bob1"), 0);
	assert_int_equal(tu.nack, 2);
	assert_ptr_equal(tu.ack_st, st);
	assert_int_equal(stats().stray_acks, 0);
	tu.ack_ret = ENOENT;
	assert_int_equal(rx_req("ACK", "z9hG4bKnothing", 1, "t-x"), 0);
	assert_int_equal(stats().stray_acks, 1);
	assert_int_equal(txn_server_state(st), TXN_STATE_ACCEPTED);

	/* Timer L = 64*T1 from the 2xx */
	advance(32099);
	assert_int_equal(txn_server_state(st), TXN_STATE_ACCEPTED);
	advance(32100);
	assert_int_equal(txn_server_state(st), TXN_STATE_TERMINATED);
	assert_int_equal(stats().server_live, 0);
	assert_int_equal(nsent, 5);
}

static void test_inv_server_tcp(void **state)
{
	(void)state;
	layer_make(NULL);
	tu.events = true;
	proto = SIP_PROTO_TCP;

	/* no Timer G on a reliable transport; ACK ends it at once (I = 0) */
	assert_int_equal(rx_req("INVITE", "z9hG4bKt1", 1, NULL), 0);
	assert_int_equal(sent[0].dst.conn_id, 7);
	assert_int_equal(txn_server_reply(tu.st[0], 486, NULL, &tag_bob, NULL, now), 0);
	advance(10000);
	assert_int_equal(nsent, 2);
	assert_int_equal(rx_req("ACK", "z9hG4bKt1", 1, "t-bob1"), 0);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_TERMINATED);
	assert_int_equal(stats().server_live, 0);

	/* Timer H still runs: 64*T1 without ACK */
	assert_int_equal(rx_req("INVITE", "z9hG4bKt2", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[1], 480, NULL, &tag_bob, NULL, now), 0);
	advance(10000 + 31999);
	assert_int_equal(nsent, 4);
	assert_int_equal(txn_server_state(tu.st[1]), TXN_STATE_COMPLETED);
	advance(10000 + 32000);
	assert_int_equal(txn_server_state(tu.st[1]), TXN_STATE_TERMINATED);
	assert_int_equal(tu.nev, 1);
	assert_int_equal(tu.ev_err[0], ETIMEDOUT);

	/* 2xx: Accepted and Timer L as on UDP */
	assert_int_equal(rx_req("INVITE", "z9hG4bKt3", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[2], 200, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(txn_server_state(tu.st[2]), TXN_STATE_ACCEPTED);
	advance(now + 32000);
	assert_int_equal(txn_server_state(tu.st[2]), TXN_STATE_TERMINATED);
	assert_int_equal(nsent, 6);
}

static void test_inv_server_tu_guard(void **state)
{
	struct sip_msg *m;
	const struct sip_addr *to;

	(void)state;
	layer_make(NULL);
	tu.events = true;
	assert_int_equal(rx_req("INVITE", "z9hG4bKg1", 1, NULL), 0);
	/* a provisional from the TU restarts the guard (Timer C + 64*T1) */
	advance(100000);
	assert_int_equal(txn_server_reply(tu.st[0], 180, NULL, &tag_bob, NULL, now), 0);
	advance(311999);
	assert_int_equal(nsent, 2);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_PROCEEDING);
	advance(312000);
	assert_int_equal(nsent, 3);
	assert_true(sent_is(2, "SIP/2.0 408 Request Timeout\r\n"));
	m = sent_msg(2);
	assert_int_equal(sip_msg_to(m, &to), 0);
	assert_true(pl_eq_str(&to->tag, "t-bob1"));
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_COMPLETED);
	assert_int_equal(tu.nev, 1);
	assert_int_equal(tu.ev_err[0], ETIMEDOUT);
	assert_int_equal(stats().timeouts, 1);
	assert_int_equal(txn_server_reply(tu.st[0], 200, NULL, &tag_bob, NULL, now), EALREADY);
	/* the 408 then runs as any 3xx-6xx, and the TU hears nothing more */
	assert_int_equal(rx_req("ACK", "z9hG4bKg1", 1, "t-bob1"), 0);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_CONFIRMED);
	advance(400000);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_TERMINATED);
	assert_int_equal(tu.nev, 1);
}

/* ======================= non-INVITE server ======================= */

static void test_ni_server_udp(void **state)
{
	struct txn_server *st;

	(void)state;
	layer_make(NULL);
	assert_int_equal(rx_req("OPTIONS", "z9hG4bKo1", 7, NULL), 0);
	st = tu.st[0];
	assert_int_equal(txn_server_state(st), TXN_STATE_TRYING);
	assert_int_equal(txn_server_method(st), SIP_METHOD_OPTIONS);
	assert_int_equal(nsent, 0);
	/* Trying: absorbed, nothing to resend */
	now = 100;
	assert_int_equal(rx_req("OPTIONS", "z9hG4bKo1", 7, NULL), 0);
	assert_int_equal(nsent, 0);
	assert_int_equal(stats().retrans_absorbed, 1);
	/* Proceeding: the provisional again */
	now = 200;
	assert_int_equal(txn_server_reply(st, 100, NULL, NULL, NULL, now), 0);
	assert_int_equal(txn_server_state(st), TXN_STATE_PROCEEDING);
	now = 300;
	assert_int_equal(rx_req("OPTIONS", "z9hG4bKo1", 7, NULL), 0);
	assert_int_equal(nsent, 2);
	assert_true(sent_is(1, "SIP/2.0 100 Trying\r\n"));
	/* Completed: the final again; Timer J = 64*T1 */
	now = 400;
	assert_int_equal(txn_server_reply(st, 200, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(txn_server_state(st), TXN_STATE_COMPLETED);
	now = 500;
	assert_int_equal(rx_req("OPTIONS", "z9hG4bKo1", 7, NULL), 0);
	assert_int_equal(nsent, 4);
	assert_true(sent_is(3, "SIP/2.0 200 OK\r\n"));
	assert_int_equal(txn_server_reply(st, 200, NULL, &tag_bob, NULL, now), EALREADY);
	advance(32399);
	assert_int_equal(txn_server_state(st), TXN_STATE_COMPLETED);
	assert_int_equal(nsent, 4);
	advance(32400);
	assert_int_equal(txn_server_state(st), TXN_STATE_TERMINATED);
	assert_int_equal(rx_req("OPTIONS", "z9hG4bKo1", 7, NULL), 0);
	assert_int_equal(tu.nst, 2);
	assert_int_equal(stats().retrans_absorbed, 3);
}

static void test_ni_server_tcp(void **state)
{
	(void)state;
	layer_make(NULL);
	proto = SIP_PROTO_TCP;
	assert_int_equal(rx_req("REGISTER", "z9hG4bKr1", 2, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[0], 180, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_PROCEEDING);
	/* J = 0 on a reliable transport */
	assert_int_equal(txn_server_reply(tu.st[0], 200, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_TERMINATED);
	assert_int_equal(stats().server_live, 0);
	assert_int_equal(rx_req("REGISTER", "z9hG4bKr1", 2, NULL), 0);
	assert_int_equal(tu.nst, 2);
	assert_int_equal(txn_layer_next(tl), 128 * 500);
}

static void test_ni_server_tu_guard(void **state)
{
	(void)state;
	layer_make(NULL);
	tu.events = true;
	assert_int_equal(rx_req("MESSAGE", "z9hG4bKm1", 1, NULL), 0);
	advance(63999);
	assert_int_equal(nsent, 0);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_TRYING);
	advance(64000);
	assert_int_equal(nsent, 1);
	assert_true(sent_is(0, "SIP/2.0 408 Request Timeout\r\n"));
	assert_int_equal(tu.nev, 1);
	assert_int_equal(tu.ev_err[0], ETIMEDOUT);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_COMPLETED);
	advance(64000 + 32000);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_TERMINATED);

	/* the guard's 408 cannot go: terminated all the same, the TU told once */
	assert_int_equal(rx_req("MESSAGE", "z9hG4bKm2", 1, NULL), 0);
	send_fail = ENOBUFS;
	send_fail_n = 1;
	advance(now + 64000);
	assert_int_equal(txn_server_state(tu.st[1]), TXN_STATE_TERMINATED);
	assert_int_equal(tu.nev, 2);
	assert_int_equal(tu.ev_err[1], ETIMEDOUT);
	assert_int_equal(stats().server_live, 0);
}

/* ======================= INVITE client ======================= */

static void test_inv_client_udp_timer_a_b(void **state)
{
	const uint64_t a[] = { 1500, 2500, 4500, 8500, 16500, 32500 };
	struct txn_client *ct;

	(void)state;
	layer_make(NULL);
	now = 1000;
	ct = client_new("INVITE", SIP_PROTO_UDP);
	assert_int_equal(txn_client_state(ct), TXN_STATE_CALLING);
	assert_int_equal(txn_client_method(ct), SIP_METHOD_INVITE);
	assert_int_equal(nsent, 1);
	assert_true(sent_is(0, "INVITE sip:bob@10.20.0.10:5060 SIP/2.0\r\n"));
	assert_int_equal(peer_port(&sent[0].dst), 5060);
	/* Timer A doubles without a cap (RFC 3261 17.1.1.2): 7 sends in all */
	advance(32999);
	assert_sent_times(1, a, ARRAY_SIZE(a));
	for (unsigned i = 1; i < nsent; i++)
		assert_memory_equal(sent[i].buf, sent[0].buf, sent[0].len + 1);
	assert_int_equal(tu.nresp, 0);
	/* Timer B: ETIMEDOUT (a 408 for the TU) */
	advance(33000);
	assert_int_equal(tu.nresp, 1);
	assert_int_equal(tu.resp_err[0], ETIMEDOUT);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	assert_int_equal(stats().timeouts, 1);
	assert_int_equal(stats().client_live, 0);
	assert_int_equal(stats().retrans_sent, 6);
	assert_int_equal(txn_client_cancel(ct, NULL, now), EALREADY);
}

static void test_inv_client_proceeding_timer_c(void **state)
{
	struct txn_client *ct;
	struct sip_msg *m;
	unsigned ncancel;

	(void)state;
	layer_make(NULL);
	ct = client_new("INVITE", SIP_PROTO_UDP);
	now = 700;
	assert_int_equal(nsent, 1);
	advance(700);
	assert_int_equal(nsent, 2);                   /* Timer A once, at 500 */
	assert_int_equal(rx_resp(0, 100, NULL), 0);
	assert_int_equal(txn_client_state(ct), TXN_STATE_PROCEEDING);
	assert_int_equal(tu.nresp, 1);
	assert_int_equal(tu.resp_code[0], 100);
	/* 1xx stopped Timer A and Timer B */
	advance(40000);
	assert_int_equal(nsent, 2);
	assert_int_equal(txn_client_state(ct), TXN_STATE_PROCEEDING);
	/* 180 restarts Timer C (100 does not) */
	assert_int_equal(rx_resp(0, 180, "t-pbx"), 0);
	assert_int_equal(tu.nresp, 2);
	advance(219999);
	assert_int_equal(tu.nresp, 2);
	assert_int_equal(nsent, 2);
	/* Timer C: ETIMEDOUT up, still Proceeding, and the layer sends the CANCEL */
	advance(220000);
	assert_int_equal(tu.nresp, 3);
	assert_int_equal(tu.resp_err[2], ETIMEDOUT);
	assert_int_equal(tu.resp_state[2], TXN_STATE_PROCEEDING);
	assert_int_equal(txn_client_state(ct), TXN_STATE_PROCEEDING);
	assert_int_equal(nsent, 3);
	ncancel = 2;
	m = sent_msg(ncancel);
	assert_int_equal(m->mid, SIP_METHOD_CANCEL);
	assert_hdr(m, SIP_HDR_CSEQ, "314159 CANCEL");
	assert_int_equal(stats().timeouts, 1);
	assert_int_equal(txn_client_cancel(ct, NULL, now), 0);       /* already sent: nothing */
	assert_int_equal(nsent, 3);
	/* 200 to the CANCEL stays in the layer; 487 comes up and is ACKed */
	now = 220100;
	assert_int_equal(rx_resp(ncancel, 200, "t-pbx"), 0);
	assert_int_equal(tu.nresp, 3);
	assert_int_equal(rx_resp(0, 487, "t-pbx"), 0);
	assert_int_equal(tu.nresp, 4);
	assert_int_equal(tu.resp_code[3], 487);
	assert_int_equal(txn_client_state(ct), TXN_STATE_COMPLETED);
	assert_int_equal(nsent, 4);
	assert_true(sent_is(3, "ACK sip:bob@10.20.0.10:5060 SIP/2.0\r\n"));
	advance(220100 + 32000);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	assert_int_equal(stats().client_live, 0);
	assert_int_equal(stats().unmatched_responses, 0);
}

static void test_inv_client_udp_486_ack(void **state)
{
	struct txn_client *ct;
	struct sip_msg *m;
	const struct sip_addr *to;
	const struct sip_hdr *h;
	char inv_via[256];

	(void)state;
	layer_make(NULL);
	ct = client_new("INVITE", SIP_PROTO_UDP);
	m = sent_msg(0);
	h = sip_msg_hdr(m, SIP_HDR_VIA);
	assert_int_equal(pl_strcpy(&h->val, inv_via, sizeof(inv_via)), 0);
	now = 100;
	assert_int_equal(rx_resp(0, 180, "t-pbx"), 0);
	now = 200;
	assert_int_equal(rx_resp(0, 486, "t-pbx"), 0);
	assert_int_equal(txn_client_state(ct), TXN_STATE_COMPLETED);
	assert_int_equal(tu.nresp, 2);
	assert_int_equal(tu.resp_code[1], 486);
	assert_int_equal(nsent, 2);

	/* the ACK of RFC 3261 17.1.1.3 */
	m = sent_msg(1);
	assert_int_equal(m->mid, SIP_METHOD_ACK);
	assert_true(pl_eq_str(&m->ruri, "sip:bob@10.20.0.10:5060"));
	assert_int_equal(sip_msg_hdr_count(m, SIP_HDR_VIA), 1);
	assert_hdr(m, SIP_HDR_VIA, inv_via);
	h = sip_msg_hdr(m, SIP_HDR_ROUTE);
	assert_non_null(h);
	assert_true(pl_eq_str(&h->val, "<sip:10.20.0.11;lr>"));
	h = sip_msg_hdr_next(m, h);
	assert_non_null(h);
	assert_true(pl_eq_str(&h->val, "<sip:10.20.0.12;lr>"));
	assert_null(sip_msg_hdr_next(m, h));
	assert_hdr(m, SIP_HDR_MAX_FORWARDS, "69");
	assert_hdr(m, SIP_HDR_FROM, "<sip:alice@sbc.example>;tag=a73kszlfl");
	assert_int_equal(sip_msg_to(m, &to), 0);
	assert_true(pl_eq_str(&to->tag, "t-pbx"));
	assert_true(pl_eq_str(&to->auri, "sip:bob@pbx.example"));
	assert_hdr(m, SIP_HDR_CALL_ID, "1j9FpLxk3uxtm8tn@10.20.0.1");
	assert_hdr(m, SIP_HDR_CSEQ, "314159 ACK");
	assert_null(sip_msg_hdr(m, SIP_HDR_CONTACT));
	assert_null(sip_msg_hdr(m, SIP_HDR_CONTENT_TYPE));
	assert_int_equal(m->body.l, 0);
	assert_int_equal(peer_port(&sent[1].dst), 5060);

	/* a retransmitted 486 is ACKed again and absorbed */
	now = 300;
	assert_int_equal(rx_resp(0, 486, "t-pbx"), 0);
	assert_int_equal(nsent, 3);
	assert_string_equal(sent[2].buf, sent[1].buf);
	assert_int_equal(tu.nresp, 2);
	assert_int_equal(stats().retrans_absorbed, 1);
	/* Timer D */
	advance(32199);
	assert_int_equal(txn_client_state(ct), TXN_STATE_COMPLETED);
	advance(32200);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	assert_int_equal(nsent, 3);
	assert_int_equal(rx_resp(0, 486, "t-pbx"), 0);
	assert_int_equal(stats().unmatched_responses, 1);
	assert_int_equal(nsent, 3);
}

static void test_inv_client_accepted(void **state)
{
	struct txn_client *ct;

	(void)state;
	layer_make(NULL);
	ct = client_new("INVITE", SIP_PROTO_UDP);
	now = 100;
	assert_int_equal(rx_resp(0, 200, "t-pbx"), 0);
	assert_int_equal(txn_client_state(ct), TXN_STATE_ACCEPTED);
	assert_int_equal(tu.nresp, 1);
	assert_int_equal(nsent, 1);                   /* the 2xx ACK is the TU's */
	/* every further 2xx goes up (retransmission or another fork) */
	now = 150;
	assert_int_equal(rx_resp(0, 200, "t-pbx"), 0);
	assert_int_equal(rx_resp(0, 200, "t-fork2"), 0);
	assert_int_equal(tu.nresp, 3);
	assert_int_equal(tu.resp_code[2], 200);
	assert_int_equal(rx_resp(0, 183, "t-pbx"), 0);
	assert_int_equal(rx_resp(0, 486, "t-pbx"), 0);
	assert_int_equal(tu.nresp, 3);
	assert_int_equal(txn_client_cancel(ct, NULL, now), EALREADY);
	/* Timer M = 64*T1 */
	advance(32099);
	assert_int_equal(txn_client_state(ct), TXN_STATE_ACCEPTED);
	advance(32100);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	assert_int_equal(nsent, 1);
	assert_int_equal(tu.nresp, 3);
}

static void test_inv_client_tcp(void **state)
{
	struct txn_client *ct;

	(void)state;
	layer_make(NULL);
	ct = client_new("INVITE", SIP_PROTO_TCP);
	assert_int_equal(sent[0].dst.conn_id, 7);
	advance(31999);
	assert_int_equal(nsent, 1);                   /* no Timer A */
	advance(32000);
	assert_int_equal(tu.resp_err[0], ETIMEDOUT);  /* Timer B all the same */
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);

	ct = client_new("INVITE", SIP_PROTO_TCP);
	assert_int_equal(rx_resp(1, 603, "t-pbx"), 0);
	assert_int_equal(nsent, 3);
	assert_true(sent_is(2, "ACK "));
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);   /* D = 0 */
	assert_int_equal(tu.resp_code[1], 603);
	assert_int_equal(stats().client_live, 0);
}

static void test_inv_client_timer_c(void **state)
{
	struct txn_config cfg;
	struct txn_client *ct;
	struct sip_msg *m;

	(void)state;
	txn_config_default(&cfg);
	cfg.timer_c = 10000;
	layer_make(&cfg);
	/* before any provisional: as if a 408 came (RFC 3261 16.8), no CANCEL */
	ct = client_new("INVITE", SIP_PROTO_TCP);
	advance(10000);
	assert_int_equal(tu.nresp, 1);
	assert_int_equal(tu.resp_err[0], ETIMEDOUT);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	assert_int_equal(nsent, 1);

	/* in Proceeding the TU cancels in its callback, with a Reason: one CANCEL only */
	tu.cancel_on_c = true;
	ct = client_new("INVITE", SIP_PROTO_TCP);
	assert_int_equal(rx_resp(1, 183, "t-pbx"), 0);
	advance(20000);
	assert_int_equal(tu.nresp, 3);
	assert_int_equal(tu.resp_err[2], ETIMEDOUT);
	assert_int_equal(nsent, 3);
	m = sent_msg(2);
	assert_int_equal(m->mid, SIP_METHOD_CANCEL);
	assert_hdr(m, SIP_HDR_REASON, "SIP;cause=408;text=\"Timer C\"");
	assert_int_equal(txn_client_state(ct), TXN_STATE_PROCEEDING);
	assert_int_equal(rx_resp(0 + 1, 487, "t-pbx"), 0);
	assert_int_equal(tu.resp_code[3], 487);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
}

/* ======================= non-INVITE client ======================= */

static void test_ni_client_udp_timer_e_f(void **state)
{
	const uint64_t e[] = { 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500 };
	struct txn_client *ct;

	(void)state;
	layer_make(NULL);
	ct = client_new("OPTIONS", SIP_PROTO_UDP);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TRYING);
	/* Timer E: T1, 2T1, 4T1, then T2 */
	advance(31999);
	assert_sent_times(1, e, ARRAY_SIZE(e));
	assert_int_equal(tu.nresp, 0);
	/* Timer F */
	advance(32000);
	assert_int_equal(tu.nresp, 1);
	assert_int_equal(tu.resp_err[0], ETIMEDOUT);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	assert_int_equal(nsent, 11);
	assert_int_equal(txn_client_cancel(ct, NULL, now), EINVAL);
}

static void test_ni_client_proceeding_completed(void **state)
{
	const uint64_t e[] = { 500, 1500, 5500, 9500 };
	struct txn_client *ct;

	(void)state;
	layer_make(NULL);
	ct = client_new("REGISTER", SIP_PROTO_UDP);
	advance(600);
	assert_int_equal(rx_resp(0, 100, NULL), 0);
	assert_int_equal(txn_client_state(ct), TXN_STATE_PROCEEDING);
	assert_int_equal(tu.resp_code[0], 100);
	/* the Timer E already running fires as scheduled, then every T2 */
	advance(9999);
	assert_sent_times(1, e, ARRAY_SIZE(e));
	now = 10000;
	assert_int_equal(rx_resp(0, 401, "t-reg"), 0);
	assert_int_equal(txn_client_state(ct), TXN_STATE_COMPLETED);
	assert_int_equal(tu.nresp, 2);
	assert_int_equal(tu.resp_code[1], 401);
	now = 10100;
	assert_int_equal(rx_resp(0, 401, "t-reg"), 0);
	assert_int_equal(rx_resp(0, 100, NULL), 0);
	assert_int_equal(tu.nresp, 2);
	assert_int_equal(stats().retrans_absorbed, 2);
	/* Timer K = T4 */
	advance(14999);
	assert_int_equal(txn_client_state(ct), TXN_STATE_COMPLETED);
	advance(15000);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	assert_int_equal(nsent, 5);
}

static void test_ni_client_tcp(void **state)
{
	struct txn_client *ct;

	(void)state;
	layer_make(NULL);
	ct = client_new("BYE", SIP_PROTO_TCP);
	advance(31999);
	assert_int_equal(nsent, 1);                   /* no Timer E */
	advance(32000);
	assert_int_equal(tu.resp_err[0], ETIMEDOUT);  /* Timer F */
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);

	ct = client_new("BYE", SIP_PROTO_TCP);
	assert_int_equal(rx_resp(1, 100, NULL), 0);
	assert_int_equal(txn_client_state(ct), TXN_STATE_PROCEEDING);
	assert_int_equal(rx_resp(1, 200, "t-pbx"), 0);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);   /* K = 0 */
	assert_int_equal(tu.nresp, 3);
	assert_int_equal(stats().client_live, 0);
	assert_int_equal(txn_layer_next(tl), UINT64_MAX);
}

/* ======================= CANCEL ======================= */

static void test_cancel_server_matched(void **state)
{
	struct txn_server *st;
	struct sip_msg *m;
	const struct sip_addr *to;

	(void)state;
	layer_make(NULL);
	tu.events = true;
	assert_int_equal(rx_req("INVITE", "z9hG4bKc1", 1, NULL), 0);
	st = tu.st[0];
	assert_int_equal(txn_server_reply(st, 180, NULL, &tag_bob, NULL, now), 0);
	now = 100;
	assert_int_equal(rx_req("CANCEL", "z9hG4bKc1", 1, NULL), 0);
	assert_int_equal(tu.nst, 1);                  /* no request callback for CANCEL */
	assert_int_equal(stats().server_created, 2);
	assert_int_equal(nsent, 3);
	m = sent_msg(2);
	assert_int_equal(m->scode, 200);
	assert_hdr(m, SIP_HDR_CSEQ, "1 CANCEL");
	assert_int_equal(sip_msg_to(m, &to), 0);
	assert_true(pl_eq_str(&to->tag, "t-bob1"));   /* RFC 3261 9.2: the INVITE's tag */
	assert_int_equal(tu.nev, 1);
	assert_int_equal(tu.ev_err[0], ECANCELED);
	assert_int_equal(tu.ev_mid[0], SIP_METHOD_CANCEL);
	assert_ptr_equal(tu.ev_st[0], st);
	assert_int_equal(txn_server_state(st), TXN_STATE_PROCEEDING);
	assert_ptr_equal(txn_server_find_invite(tl, NULL), NULL);

	now = 150;
	assert_int_equal(txn_server_reply(st, 487, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(txn_server_state(st), TXN_STATE_COMPLETED);
	/* a retransmitted CANCEL gets its 200 again, and the TU hears nothing more */
	now = 200;
	assert_int_equal(rx_req("CANCEL", "z9hG4bKc1", 1, NULL), 0);
	assert_int_equal(nsent, 5);
	assert_true(sent_is(4, "SIP/2.0 200 OK\r\n"));
	assert_int_equal(tu.nev, 1);
	assert_int_equal(rx_req("ACK", "z9hG4bKc1", 1, "t-bob1"), 0);
	assert_int_equal(txn_server_state(st), TXN_STATE_CONFIRMED);
	advance(100000);
	assert_int_equal(stats().server_live, 0);
	assert_int_equal(tu.nev, 1);
}

static void test_cancel_server_default_487(void **state)
{
	struct sip_msg *m;
	const struct sip_addr *to;
	char tag[64];

	(void)state;
	layer_make(NULL);
	proto = SIP_PROTO_TCP;
	assert_int_equal(rx_req("INVITE", "z9hG4bKc2", 5, NULL), 0);
	assert_int_equal(rx_req("CANCEL", "z9hG4bKc2", 5, NULL), 0);
	/* no handler: the layer answers the INVITE 487, both with one new tag */
	assert_int_equal(nsent, 3);
	m = sent_msg(1);
	assert_int_equal(m->scode, 200);
	assert_hdr(m, SIP_HDR_CSEQ, "5 CANCEL");
	assert_int_equal(sip_msg_to(m, &to), 0);
	assert_int_equal(to->tag.l, 16);
	assert_int_equal(pl_strcpy(&to->tag, tag, sizeof(tag)), 0);
	m = sent_msg(2);
	assert_int_equal(m->scode, 487);
	assert_hdr(m, SIP_HDR_CSEQ, "5 INVITE");
	assert_int_equal(sip_msg_to(m, &to), 0);
	assert_true(pl_eq_str(&to->tag, tag));
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_COMPLETED);
	/* the CANCEL's transaction ended at once (J = 0 on TCP) */
	assert_int_equal(stats().server_live, 1);
}

static void test_cancel_server_unmatched_and_late(void **state)
{
	(void)state;
	layer_make(NULL);
	tu.events = true;
	assert_int_equal(rx_req("CANCEL", "z9hG4bKnone", 1, NULL), 0);
	assert_int_equal(nsent, 1);
	assert_true(sent_is(0, "SIP/2.0 481 Call/Transaction Does Not Exist\r\n"));
	assert_int_equal(sent_msg(0)->scode, 481);

	/* after the final response a CANCEL is answered 200 and changes nothing */
	assert_int_equal(rx_req("INVITE", "z9hG4bKc3", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[0], 486, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(rx_req("CANCEL", "z9hG4bKc3", 1, NULL), 0);
	assert_int_equal(nsent, 4);
	assert_true(sent_is(3, "SIP/2.0 200 OK\r\n"));
	assert_int_equal(tu.nev, 0);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_COMPLETED);
	/* and after Accepted too */
	assert_int_equal(rx_req("INVITE", "z9hG4bKc4", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[1], 200, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(rx_req("CANCEL", "z9hG4bKc4", 1, NULL), 0);
	assert_true(sent_is(nsent - 1, "SIP/2.0 200 OK\r\n"));
	assert_int_equal(tu.nev, 0);
	assert_int_equal(txn_server_state(tu.st[1]), TXN_STATE_ACCEPTED);
}

static void test_cancel_client_deferred(void **state)
{
	struct txn_client *ct;
	struct sip_msg *m;
	const struct sip_addr *to;
	const struct sip_hdr *h;
	char inv_via[256];

	(void)state;
	layer_make(NULL);
	ct = client_new("INVITE", SIP_PROTO_UDP);
	assert_int_equal(pl_strcpy(&sip_msg_hdr(sent_msg(0), SIP_HDR_VIA)->val, inv_via,
				   sizeof(inv_via)), 0);
	now = 100;
	/* no provisional yet: the CANCEL waits (RFC 3261 9.1) */
	assert_int_equal(txn_client_cancel(ct, &reason_extra, now), 0);
	assert_int_equal(txn_client_cancel(ct, NULL, now), 0);
	assert_int_equal(nsent, 1);
	advance(600);
	assert_int_equal(nsent, 2);                   /* the INVITE is still retransmitted */
	assert_int_equal(rx_resp(0, 180, "t-pbx"), 0);
	assert_int_equal(nsent, 3);
	assert_int_equal(tu.nresp, 1);

	m = sent_msg(2);
	assert_int_equal(m->mid, SIP_METHOD_CANCEL);
	assert_true(pl_eq_str(&m->ruri, "sip:bob@10.20.0.10:5060"));
	assert_int_equal(sip_msg_hdr_count(m, SIP_HDR_VIA), 1);
	assert_hdr(m, SIP_HDR_VIA, inv_via);
	assert_int_equal(sip_msg_hdr_count(m, SIP_HDR_ROUTE), 2);
	assert_hdr(m, SIP_HDR_ROUTE, "<sip:10.20.0.11;lr>");
	assert_hdr(m, SIP_HDR_FROM, "<sip:alice@sbc.example>;tag=a73kszlfl");
	assert_int_equal(sip_msg_to(m, &to), 0);
	assert_int_equal(to->tag.l, 0);               /* not the 180's tag */
	assert_hdr(m, SIP_HDR_CALL_ID, "1j9FpLxk3uxtm8tn@10.20.0.1");
	assert_hdr(m, SIP_HDR_CSEQ, "314159 CANCEL");
	assert_hdr(m, SIP_HDR_MAX_FORWARDS, "69");
	assert_hdr(m, SIP_HDR_REASON, "SIP;cause=408;text=\"Timer C\"");
	assert_int_equal(m->body.l, 0);
	h = sip_msg_hdr(m, SIP_HDR_CONTENT_LENGTH);
	assert_true(pl_eq_str(&h->val, "0"));

	/* the CANCEL is a non-INVITE transaction of its own: Timer E */
	advance(1100);
	assert_int_equal(nsent, 4);
	assert_true(sent_is(3, "CANCEL "));
	now = 1200;
	assert_int_equal(rx_resp(2, 200, "t-pbx"), 0);
	assert_int_equal(tu.nresp, 1);
	assert_int_equal(rx_resp(0, 487, "t-pbx"), 0);
	assert_int_equal(tu.nresp, 2);
	assert_int_equal(tu.resp_code[1], 487);
	assert_true(sent_is(4, "ACK "));
	assert_int_equal(txn_client_cancel(ct, NULL, now), EALREADY);
	assert_int_equal(stats().client_created, 2);
	advance(100000);
	assert_int_equal(stats().client_live, 0);
	assert_int_equal(stats().unmatched_responses, 0);
}

static void test_cancel_client_final_first(void **state)
{
	struct txn_client *ct;

	(void)state;
	layer_make(NULL);
	ct = client_new("INVITE", SIP_PROTO_TCP);
	assert_int_equal(txn_client_cancel(ct, &reason_extra, now), 0);
	assert_int_equal(rx_resp(0, 486, "t-pbx"), 0);
	assert_int_equal(nsent, 2);                   /* the ACK; no CANCEL */
	assert_true(sent_is(1, "ACK "));
	assert_int_equal(stats().client_created, 1);

	/* 2xx first: nothing to cancel either */
	ct = client_new("INVITE", SIP_PROTO_UDP);
	assert_int_equal(txn_client_cancel(ct, NULL, now), 0);
	assert_int_equal(rx_resp(2, 200, "t-pbx"), 0);
	assert_int_equal(nsent, 3);
	assert_int_equal(txn_client_state(ct), TXN_STATE_ACCEPTED);
	advance(100000);
	assert_int_equal(nsent, 3);
}

static void test_cancel_client_guard(void **state)
{
	struct txn_client *ct;

	(void)state;
	layer_make(NULL);
	ct = client_new("INVITE", SIP_PROTO_TCP);
	assert_int_equal(rx_resp(0, 180, "t-pbx"), 0);
	now = 1000;
	assert_int_equal(txn_client_cancel(ct, NULL, now), 0);
	assert_int_equal(nsent, 2);
	/* nobody answers: the CANCEL's Timer F ends it quietly, the INVITE gives up 64*T1 after it */
	advance(32999);
	assert_int_equal(tu.nresp, 1);
	assert_int_equal(stats().client_live, 2);
	assert_int_equal(txn_client_state(ct), TXN_STATE_PROCEEDING);
	advance(33000);
	assert_int_equal(tu.nresp, 2);
	assert_int_equal(tu.resp_err[1], ETIMEDOUT);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	assert_int_equal(stats().timeouts, 2);
	assert_int_equal(stats().client_live, 0);
}

/* ======================= transport errors, capacity, timers ======================= */

static void test_transport_error_client(void **state)
{
	struct txn_client *ct = NULL;
	struct sip_peer dst;
	char branch[TXN_BRANCH_LEN + 1];
	size_t len;

	(void)state;
	layer_make(NULL);
	send_fail = ENETUNREACH;
	send_fail_n = -1;
	assert_int_equal(txn_branch_make(branch, sizeof(branch)), 0);
	len = mk_creq("INVITE", branch, SIP_PROTO_UDP);
	peer_set(&dst, "10.20.0.10", 5060, SIP_PROTO_UDP);
	assert_int_equal(txn_client_request(&ct, tl, &dst, txbuf, len, tu_response, NULL, now),
			 ENETUNREACH);
	assert_null(ct);
	assert_int_equal(stats().client_live, 0);
	assert_int_equal(stats().client_created, 0);
	assert_int_equal(stats().transport_errors, 1);

	/* a failed retransmission: the TU gets the errno (a 503) */
	send_fail = 0;
	ct = client_new("INVITE", SIP_PROTO_UDP);
	send_fail = EHOSTUNREACH;
	send_fail_n = 1;
	advance(500);
	assert_int_equal(tu.nresp, 1);
	assert_int_equal(tu.resp_err[0], EHOSTUNREACH);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);

	ct = client_new("MESSAGE", SIP_PROTO_UDP);
	send_fail = ECONNREFUSED;
	send_fail_n = 1;
	advance(1000);
	assert_int_equal(tu.resp_err[1], ECONNREFUSED);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	assert_int_equal(stats().transport_errors, 3);
	assert_int_equal(stats().client_live, 0);
}

static void test_transport_error_server(void **state)
{
	(void)state;
	layer_make(NULL);
	tu.events = true;
	/* the 100 cannot go: the request is dropped before the TU sees it */
	send_fail = ECONNRESET;
	send_fail_n = 1;
	assert_int_equal(rx_req("INVITE", "z9hG4bKe1", 1, NULL), ECONNRESET);
	assert_int_equal(tu.nst, 0);
	assert_int_equal(stats().server_live, 0);

	/* the TU's response cannot go: returned, and the transaction ends */
	assert_int_equal(rx_req("INVITE", "z9hG4bKe2", 1, NULL), 0);
	send_fail_n = 1;
	assert_int_equal(txn_server_reply(tu.st[0], 486, NULL, &tag_bob, NULL, now), ECONNRESET);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_TERMINATED);
	assert_int_equal(tu.nev, 0);

	/* a Timer G retransmission cannot go: the TU is told */
	assert_int_equal(rx_req("INVITE", "z9hG4bKe3", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[1], 486, NULL, &tag_bob, NULL, now), 0);
	send_fail = EPIPE;
	send_fail_n = 1;
	advance(500);
	assert_int_equal(tu.nev, 1);
	assert_int_equal(tu.ev_err[0], EPIPE);
	assert_int_equal(txn_server_state(tu.st[1]), TXN_STATE_TERMINATED);

	/* nor a resend for a retransmitted request */
	assert_int_equal(rx_req("OPTIONS", "z9hG4bKe4", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[2], 200, NULL, &tag_bob, NULL, now), 0);
	send_fail_n = 1;
	assert_int_equal(rx_req("OPTIONS", "z9hG4bKe4", 1, NULL), 0);
	assert_int_equal(tu.nev, 2);
	assert_int_equal(tu.ev_err[1], EPIPE);
	assert_int_equal(txn_server_state(tu.st[2]), TXN_STATE_TERMINATED);

	/* in Accepted a failed 2xx resend changes nothing */
	assert_int_equal(rx_req("INVITE", "z9hG4bKe5", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[3], 200, NULL, &tag_bob, NULL, now), 0);
	memcpy(txbuf, SENT(nsent - 1).buf, SENT(nsent - 1).len);
	send_fail_n = 1;
	assert_int_equal(txn_server_send(tu.st[3], txbuf, SENT(nsent - 1).len, now), EPIPE);
	assert_int_equal(txn_server_state(tu.st[3]), TXN_STATE_ACCEPTED);
	assert_int_equal(stats().transport_errors, 5);
}

/*
 * The transport reports that a TCP connection it opened to 10.20.0.10:5060
 * (zone 0) never came up (RFC 3261 17.1.4): the client transactions sent
 * there with no response yet end at once with its errno, which the TU
 * turns into a 503, instead of Timer B/F's 408 after 64*T1. Transactions
 * to another address, zone or transport, on UDP, or that already had a
 * response are left alone.
 */
static void test_conn_failed_client(void **state)
{
	struct txn_client *inv, *msg, *answered, *other_ip, *other_zone, *tls, *udp, *quiet;
	struct sip_peer failed;
	unsigned refused = 0;

	(void)state;
	layer_make(NULL);
	inv = client_new("INVITE", SIP_PROTO_TCP);
	msg = client_new("MESSAGE", SIP_PROTO_TCP);
	answered = client_new("INVITE", SIP_PROTO_TCP);
	assert_int_equal(rx_resp(nsent - 1, 100, NULL), 0);
	assert_int_equal(txn_client_state(answered), TXN_STATE_PROCEEDING);
	other_ip = client_to("INVITE", SIP_PROTO_TCP, "10.20.0.11", 0);
	other_zone = client_to("INVITE", SIP_PROTO_TCP, "10.20.0.10", 1);
	tls = client_to("OPTIONS", SIP_PROTO_TLS, "10.20.0.10", 0);
	udp = client_new("INVITE", SIP_PROTO_UDP);
	quiet = client_new("BYE", SIP_PROTO_TCP);
	tu.ct[tu.nct - 1] = txn_client_release(quiet);    /* the TU no longer listens */
	assert_int_equal(tu.nresp, 1);
	assert_int_equal(stats().client_live, 8);

	peer_set(&failed, "10.20.0.10", 5060, SIP_PROTO_TCP);
	failed.conn_id = 99;                              /* the dead connection's own id */
	now = 40;
	assert_int_equal(txn_layer_conn_failed(tl, &failed, ECONNREFUSED, now), 3);
	assert_int_equal(tu.nresp, 3);
	for (unsigned i = 1; i < 3; i++) {
		assert_int_equal(tu.resp_err[i], ECONNREFUSED);
		assert_int_equal(tu.resp_state[i], TXN_STATE_TERMINATED);
	}
	assert_int_equal(txn_client_state(inv), TXN_STATE_TERMINATED);
	assert_int_equal(txn_client_state(msg), TXN_STATE_TERMINATED);
	assert_int_equal(txn_client_state(answered), TXN_STATE_PROCEEDING);
	assert_int_equal(txn_client_state(other_ip), TXN_STATE_CALLING);
	assert_int_equal(txn_client_state(other_zone), TXN_STATE_CALLING);
	assert_int_equal(txn_client_state(tls), TXN_STATE_TRYING);
	assert_int_equal(txn_client_state(udp), TXN_STATE_CALLING);
	assert_int_equal(stats().client_live, 5);
	assert_int_equal(stats().transport_errors, 3);
	assert_int_equal(stats().timeouts, 0);
	assert_int_equal(txn_layer_now(tl), 40);
	/* once only; and nothing for a destination with nothing waiting */
	assert_int_equal(txn_layer_conn_failed(tl, &failed, ECONNREFUSED, now), 0);
	peer_set(&failed, "192.0.2.99", 5060, SIP_PROTO_TCP);
	assert_int_equal(txn_layer_conn_failed(tl, &failed, EHOSTUNREACH, now), 0);
	assert_int_equal(tu.nresp, 3);

	/* the others still run to Timer B/F; the failed ones are never heard of again */
	advance(now + 64 * 500);
	for (unsigned i = 0; i < tu.nresp; i++)
		refused += tu.resp_err[i] == ECONNREFUSED;
	assert_int_equal(refused, 2);
	assert_int_equal(txn_client_state(other_ip), TXN_STATE_TERMINATED);
	assert_int_equal(txn_client_state(tls), TXN_STATE_TERMINATED);
	assert_int_equal(txn_client_state(udp), TXN_STATE_TERMINATED);
	assert_int_equal(txn_client_state(answered), TXN_STATE_PROCEEDING);
}

/*
 * A TU that tries again from its callback, to the same destination, gets
 * a new transaction on a new connection: this failure does not take it
 * down, a later one does.
 */
static void test_conn_failed_retry_in_callback(void **state)
{
	struct sip_peer failed;

	(void)state;
	layer_make(NULL);
	client_new("INVITE", SIP_PROTO_TCP);
	client_new("INVITE", SIP_PROTO_TCP);
	tu.retry_on_refused = 2;
	peer_set(&failed, "10.20.0.10", 5060, SIP_PROTO_TCP);
	assert_int_equal(txn_layer_conn_failed(tl, &failed, ECONNREFUSED, now), 2);
	assert_int_equal(tu.nct, 4);
	assert_int_equal(txn_client_state(tu.ct[2]), TXN_STATE_CALLING);
	assert_int_equal(txn_client_state(tu.ct[3]), TXN_STATE_CALLING);
	assert_int_equal(stats().client_live, 2);
	assert_int_equal(txn_layer_conn_failed(tl, &failed, ECONNREFUSED, now), 2);
	assert_int_equal(stats().client_live, 0);
	assert_int_equal(tu.nresp, 4);
	/* bad arguments do nothing */
	assert_int_equal(txn_layer_conn_failed(NULL, &failed, ECONNREFUSED, now), 0);
	assert_int_equal(txn_layer_conn_failed(tl, NULL, ECONNREFUSED, now), 0);
	assert_int_equal(txn_layer_conn_failed(tl, &failed, 0, now), 0);
}

/*
 * Many transactions waiting on one destination (a trunk) all end in one
 * call, and each leaves the index when a response comes or it ends, so
 * destroying the layer or freeing them leaves nothing behind.
 */
static void test_conn_failed_many(void **state)
{
	struct sip_peer failed;
	struct txn_config cfg;

	(void)state;
	txn_config_default(&cfg);
	cfg.max_txns = 1024;
	layer_make(&cfg);
	for (unsigned i = 0; i < 240; i++) {   /* the fake transport keeps 256 sends */
		struct txn_client *ct = NULL;
		struct sip_peer dst;
		char branch[TXN_BRANCH_LEN + 1];
		size_t len;

		assert_int_equal(txn_branch_make(branch, sizeof(branch)), 0);
		len = mk_creq(i % 2 ? "INVITE" : "OPTIONS", branch, SIP_PROTO_TCP);
		peer_set(&dst, i % 3 ? "10.20.0.10" : "10.20.0.11", 5060, SIP_PROTO_TCP);
		assert_int_equal(txn_client_request(&ct, tl, &dst, txbuf, len, NULL, NULL, now), 0);
		if (i % 5 == 0)
			assert_int_equal(rx_resp(nsent - 1, 100, NULL), 0);
		txn_client_release(ct);
	}
	assert_int_equal(stats().client_live, 240);
	peer_set(&failed, "10.20.0.10", 5060, SIP_PROTO_TCP);
	/* 160 to .10, of which 32 had a 100 */
	assert_int_equal(txn_layer_conn_failed(tl, &failed, ECONNRESET, now), 128);
	assert_int_equal(stats().client_live, 112);
	assert_int_equal(stats().transport_errors, 128);
	tl = mem_deref(tl);
	assert_int_equal(mem_nalloc(), nalloc_start + 2);   /* rxmsg, chk */
}

static void test_capacity(void **state)
{
	struct txn_config cfg;
	struct txn_client *ct = NULL;
	struct sip_peer dst;
	struct sip_msg *m;
	const struct sip_addr *to;
	char branch[TXN_BRANCH_LEN + 1];
	size_t len;

	(void)state;
	txn_config_default(&cfg);
	cfg.max_txns = 3;                             /* 1 of them kept for in-dialog requests */
	layer_make(&cfg);
	assert_int_equal(rx_req("INVITE", "z9hG4bKcap1", 1, NULL), 0);
	assert_int_equal(rx_req("INVITE", "z9hG4bKcap2", 1, NULL), 0);
	assert_int_equal(rx_req("INVITE", "z9hG4bKcap3", 1, NULL), 0);
	assert_int_equal(tu.nst, 2);
	assert_int_equal(nsent, 3);
	m = sent_msg(2);
	assert_int_equal(m->scode, 503);
	assert_int_equal(sip_msg_to(m, &to), 0);
	assert_int_equal(to->tag.l, 16);
	assert_hdr(m, SIP_HDR_RETRY_AFTER, "5");
	assert_int_equal(stats().refused_capacity, 1);
	assert_int_equal(stats().refused_new, 1);
	assert_int_equal(stats().server_live, 2);
	/* known transactions still work */
	assert_int_equal(rx_req("INVITE", "z9hG4bKcap1", 1, NULL), 0);
	assert_true(sent_is(3, "SIP/2.0 100 Trying\r\n"));
	assert_int_equal(rx_req("ACK", "z9hG4bKcap9", 1, "x"), 0);
	assert_int_equal(tu.nack, 1);
	/* and client transactions have their own cap */
	client_new("OPTIONS", SIP_PROTO_UDP);
	client_new("OPTIONS", SIP_PROTO_UDP);
	assert_int_equal(txn_branch_make(branch, sizeof(branch)), 0);
	len = mk_creq("OPTIONS", branch, SIP_PROTO_UDP);
	peer_set(&dst, "10.20.0.10", 5060, SIP_PROTO_UDP);
	assert_int_equal(txn_client_request(&ct, tl, &dst, txbuf, len, tu_response, NULL, now),
			 ENOSPC);
	assert_int_equal(stats().refused_capacity, 2);
	assert_int_equal(stats().refused_new, 2);
	/* room again once one ends */
	assert_int_equal(txn_server_reply(tu.st[1], 200, NULL, &tag_bob, NULL, now), 0);
	advance(32000);
	assert_int_equal(rx_req("INVITE", "z9hG4bKcap3", 1, NULL), 0);
	assert_int_equal(tu.nst, 3);
}

/* A request of ours inside a dialog: mk_creq's with a To tag (the B2BUA's BYE). */
static size_t mk_creq_in_dialog(const char *method, const char *branch, enum sip_proto p)
{
	static const char to[] = "To: <sip:bob@pbx.example>";
	static const char tag[] = ";tag=t-pbx";
	size_t len = mk_creq(method, branch, p);
	char *at = strstr(txbuf, to);

	assert_non_null(at);
	at += strlen(to);
	assert_true(len + strlen(tag) < sizeof(txbuf));
	memmove(at + strlen(tag), at, len - (size_t)(at - txbuf) + 1);
	memcpy(at, tag, strlen(tag));
	return len + strlen(tag);
}

/*
 * The server table keeps max_txns / 8 for in-dialog requests: at the
 * threshold a new INVITE or an out-of-dialog OPTIONS gets a 503 with
 * Retry-After, while a BYE or re-INVITE (To tag) and a CANCEL still make
 * transactions, up to max_txns.
 */
static void test_capacity_reserve_server(void **state)
{
	struct txn_config cfg;
	char branch[32];
	struct sip_msg *m;

	(void)state;
	txn_config_default(&cfg);
	cfg.max_txns = 16;                            /* 2 kept for in-dialog requests */
	layer_make(&cfg);
	tu.no_keep = true;
	for (unsigned i = 0; i < 14; i++) {
		snprintf(branch, sizeof(branch), "z9hG4bK-r%u", i);
		assert_int_equal(rx_req("INVITE", branch, 1, NULL), 0);
	}
	assert_int_equal(tu.nst, 14);
	assert_int_equal(stats().server_live, 14);
	assert_int_equal(stats().refused_capacity, 0);

	/* new dialogs and out-of-dialog requests: 503, Retry-After, counted as new */
	assert_int_equal(rx_req("INVITE", "z9hG4bK-new1", 1, NULL), 0);
	m = sent_msg(nsent - 1);
	assert_int_equal(m->scode, 503);
	assert_hdr(m, SIP_HDR_RETRY_AFTER, "5");
	assert_hdr(m, SIP_HDR_CSEQ, "1 INVITE");
	assert_int_equal(rx_req("OPTIONS", "z9hG4bK-new2", 1, NULL), 0);
	assert_int_equal(sent_msg(nsent - 1)->scode, 503);
	assert_int_equal(tu.nst, 14);
	assert_int_equal(stats().refused_new, 2);
	assert_int_equal(stats().refused_in_dialog, 0);

	/* a CANCEL for a ringing INVITE uses the reserve: 200, and the layer's 487 */
	assert_int_equal(rx_req("CANCEL", "z9hG4bK-r0", 1, NULL), 0);
	assert_int_equal(sent_msg(nsent - 2)->scode, 200);
	assert_int_equal(sent_msg(nsent - 1)->scode, 487);
	assert_int_equal(stats().server_live, 15);
	/* a BYE in a dialog too, up to max_txns */
	assert_int_equal(rx_req("BYE", "z9hG4bK-bye1", 2, "t-bob1"), 0);
	assert_int_equal(tu.nst, 15);
	assert_int_equal(stats().server_live, 16);
	/* a full table refuses even those, counted apart */
	assert_int_equal(rx_req("INVITE", "z9hG4bK-reinv", 3, "t-bob1"), 0);
	assert_int_equal(sent_msg(nsent - 1)->scode, 503);
	assert_int_equal(tu.nst, 15);
	assert_int_equal(stats().refused_in_dialog, 1);
	assert_int_equal(stats().refused_new, 2);
	assert_int_equal(stats().refused_capacity, 3);
	/* retransmissions of what is in the table still work */
	assert_int_equal(rx_req("BYE", "z9hG4bK-bye1", 2, "t-bob1"), 0);
	assert_int_equal(stats().retrans_absorbed, 1);
	assert_int_equal(stats().refused_capacity, 3);
}

/* The client table the same: a BYE of ours (To tag) and a CANCEL use the reserve, a new INVITE does not. */
static void test_capacity_reserve_client(void **state)
{
	struct txn_config cfg;
	struct txn_client *ct = NULL, *inv;
	struct sip_peer dst;
	char branch[TXN_BRANCH_LEN + 1];
	size_t len;

	(void)state;
	txn_config_default(&cfg);
	cfg.max_txns = 8;                             /* 1 kept for in-dialog requests */
	layer_make(&cfg);
	peer_set(&dst, "10.20.0.10", 5060, SIP_PROTO_UDP);
	inv = client_new("INVITE", SIP_PROTO_UDP);
	for (unsigned i = 1; i < 6; i++)
		client_new("OPTIONS", SIP_PROTO_UDP);
	/* in dialog below the threshold: as any other */
	assert_int_equal(txn_branch_make(branch, sizeof(branch)), 0);
	len = mk_creq_in_dialog("BYE", branch, SIP_PROTO_UDP);
	assert_int_equal(txn_client_request(NULL, tl, &dst, txbuf, len, tu_response, NULL, now), 0);
	assert_int_equal(stats().client_live, 7);
	/* at the threshold: a new INVITE is refused */
	assert_int_equal(txn_branch_make(branch, sizeof(branch)), 0);
	len = mk_creq("INVITE", branch, SIP_PROTO_UDP);
	assert_int_equal(txn_client_request(&ct, tl, &dst, txbuf, len, tu_response, NULL, now),
			 ENOSPC);
	assert_null(ct);
	assert_int_equal(stats().refused_new, 1);
	/* the CANCEL of a ringing INVITE is not */
	assert_int_equal(rx_resp(0, 180, "t-pbx"), 0);
	assert_int_equal(txn_client_cancel(inv, NULL, now), 0);
	assert_int_equal(SENT(nsent - 1).buf[0], 'C');
	assert_int_equal(stats().client_live, 8);
	/* full: a BYE is refused too, counted apart */
	assert_int_equal(txn_branch_make(branch, sizeof(branch)), 0);
	len = mk_creq_in_dialog("BYE", branch, SIP_PROTO_UDP);
	assert_int_equal(txn_client_request(NULL, tl, &dst, txbuf, len, tu_response, NULL, now),
			 ENOSPC);
	assert_int_equal(stats().refused_in_dialog, 1);
	assert_int_equal(stats().refused_capacity, 2);
	/* with one slot free, the BYE fits and the INVITE still does not */
	assert_int_equal(rx_resp(0, 487, "t-pbx"), 0);         /* ACKed; Timer D keeps it */
	assert_int_equal(rx_resp(nsent - 2, 200, "t-pbx"), 0);  /* the CANCEL's 200: Timer K */
	advance(now + 5000);
	assert_int_equal(stats().client_live, 7);
	len = mk_creq("INVITE", branch, SIP_PROTO_UDP);
	assert_int_equal(txn_client_request(NULL, tl, &dst, txbuf, len, tu_response, NULL, now),
			 ENOSPC);
	len = mk_creq_in_dialog("BYE", branch, SIP_PROTO_UDP);
	assert_int_equal(txn_client_request(NULL, tl, &dst, txbuf, len, tu_response, NULL, now), 0);
	assert_int_equal(stats().client_live, 8);
	assert_int_equal(stats().refused_new, 2);
}

/*
 * What each server state keeps, counted in allocations: Proceeding the
 * transaction, its request copy and the last provisional; Accepted the
 * transaction alone; Completed the final; Confirmed nothing more. And the
 * freed states still behave: INVITEs absorbed and ACKs passed up in
 * Accepted with the TU's 2xx going out, the final resent and a CANCEL
 * answered with its tag in Completed, the ACK taken in Completed.
 */
static void test_server_state_memory(void **state)
{
	size_t base;
	unsigned n;
	const struct sip_addr *to;
	char ok[4096];
	size_t oklen;

	(void)state;
	layer_make(NULL);
	base = mem_nalloc();
	assert_int_equal(rx_req("INVITE", "z9hG4bKmem1", 1, NULL), 0);
	assert_int_equal(mem_nalloc(), base + 3);
	assert_int_equal(txn_server_reply(tu.st[0], 180, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(mem_nalloc(), base + 3);
	assert_int_equal(txn_server_reply(tu.st[0], 200, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_ACCEPTED);
	assert_int_equal(mem_nalloc(), base + 1);
	oklen = SENT(nsent - 1).len;
	memcpy(ok, SENT(nsent - 1).buf, oklen + 1);
	/* Accepted: an INVITE absorbed, the ACK up with the transaction, the TU's 2xx out */
	n = nsent;
	now = 500;
	assert_int_equal(rx_req("INVITE", "z9hG4bKmem1", 1, NULL), 0);
	assert_int_equal(nsent, n);
	assert_int_equal(stats().retrans_absorbed, 1);
	assert_int_equal(txn_server_send(tu.st[0], ok, oklen, now), 0);
	assert_int_equal(nsent, n + 1);
	assert_string_equal(SENT(n).buf, ok);
	assert_int_equal(rx_req("ACK", "z9hG4bKmem1", 1, "t-bob1"), 0);
	assert_int_equal(tu.nack, 1);
	assert_ptr_equal(tu.ack_st, tu.st[0]);
	assert_int_equal(mem_nalloc(), base + 1);
	/* a CANCEL this late: 200 (a tag of its own), the INVITE untouched */
	assert_int_equal(rx_req("CANCEL", "z9hG4bKmem1", 1, NULL), 0);
	assert_int_equal(sip_msg_to(sent_msg(nsent - 1), &to), 0);
	assert_int_equal(chk->scode, 200);
	assert_int_equal(to->tag.l, 16);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_ACCEPTED);
	assert_int_equal(mem_nalloc(), base + 1 + 2);   /* the CANCEL's: its 200 only */
	advance(now + 32000);
	assert_int_equal(stats().server_live, 0);
	assert_int_equal(mem_nalloc(), base + 1);     /* the TU still holds it */
	tu.st[0] = txn_server_release(tu.st[0]);
	assert_int_equal(mem_nalloc(), base);

	/* Completed: the final only; resent for an INVITE; the CANCEL's 200 has its tag */
	assert_int_equal(rx_req("INVITE", "z9hG4bKmem2", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[1], 486, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(mem_nalloc(), base + 2);
	n = nsent;
	assert_int_equal(rx_req("INVITE", "z9hG4bKmem2", 1, NULL), 0);
	assert_int_equal(nsent, n + 1);
	assert_string_equal(SENT(n).buf, SENT(n - 1).buf);
	assert_int_equal(rx_req("CANCEL", "z9hG4bKmem2", 1, NULL), 0);
	assert_int_equal(sip_msg_to(sent_msg(nsent - 1), &to), 0);
	assert_int_equal(chk->scode, 200);
	assert_true(pl_eq_str(&to->tag, "t-bob1"));
	assert_int_equal(mem_nalloc(), base + 2 + 2);
	/* the ACK: Confirmed, which resends nothing and keeps nothing */
	assert_int_equal(rx_req("ACK", "z9hG4bKmem2", 1, "t-bob1"), 0);
	assert_int_equal(txn_server_state(tu.st[1]), TXN_STATE_CONFIRMED);
	assert_int_equal(tu.nack, 1);
	assert_int_equal(mem_nalloc(), base + 1 + 2);
	n = nsent;
	assert_int_equal(rx_req("INVITE", "z9hG4bKmem2", 1, NULL), 0);
	assert_int_equal(rx_req("ACK", "z9hG4bKmem2", 1, "t-bob1"), 0);
	assert_int_equal(nsent, n);
	advance(now + 32000);
	tu.st[1] = txn_server_release(tu.st[1]);
	assert_int_equal(mem_nalloc(), base);

	/* non-INVITE Completed: the final only, resent for each retransmission */
	assert_int_equal(rx_req("BYE", "z9hG4bKmem3", 2, "t-bob1"), 0);
	assert_int_equal(mem_nalloc(), base + 2);
	assert_int_equal(txn_server_reply(tu.st[2], 200, NULL, NULL, NULL, now), 0);
	assert_int_equal(txn_server_state(tu.st[2]), TXN_STATE_COMPLETED);
	assert_int_equal(mem_nalloc(), base + 2);
	n = nsent;
	assert_int_equal(rx_req("BYE", "z9hG4bKmem3", 2, "t-bob1"), 0);
	assert_int_equal(rx_req("BYE", "z9hG4bKmem3", 2, "t-bob1"), 0);
	assert_int_equal(nsent, n + 2);
	assert_string_equal(SENT(n).buf, SENT(n - 1).buf);
	assert_string_equal(SENT(n + 1).buf, SENT(n - 1).buf);
	assert_int_equal(txn_server_reply(tu.st[2], 200, NULL, NULL, NULL, now), EALREADY);
	advance(now + 32000);
	tu.st[2] = txn_server_release(tu.st[2]);
	assert_int_equal(mem_nalloc(), base);
}

/*
 * What each client state keeps: the request until a final response; then
 * Accepted nothing, INVITE Completed its ACK, non-INVITE Completed nothing.
 * 2xx retransmissions still reach the TU in Accepted, 486 retransmissions
 * are still re-ACKed in Completed.
 */
static void test_client_state_memory(void **state)
{
	struct txn_client *ct;
	size_t base;
	unsigned n;

	(void)state;
	layer_make(NULL);
	base = mem_nalloc();
	ct = client_new("INVITE", SIP_PROTO_UDP);
	assert_int_equal(mem_nalloc(), base + 2);
	assert_int_equal(txn_client_cancel(ct, &reason_extra, now), 0);   /* deferred: kept */
	assert_int_equal(mem_nalloc(), base + 3);
	assert_int_equal(rx_resp(0, 200, "t-pbx"), 0);                    /* before any 1xx */
	assert_int_equal(txn_client_state(ct), TXN_STATE_ACCEPTED);
	assert_int_equal(mem_nalloc(), base + 1);
	assert_int_equal(nsent, 1);                                       /* no CANCEL went */
	now = 100;
	assert_int_equal(rx_resp(0, 200, "t-pbx"), 0);
	assert_int_equal(tu.nresp, 2);
	assert_int_equal(tu.resp_code[1], 200);
	assert_int_equal(tu.resp_state[1], TXN_STATE_ACCEPTED);
	assert_int_equal(txn_client_cancel(ct, NULL, now), EALREADY);
	assert_int_equal(mem_nalloc(), base + 1);
	advance(now + 32000);
	tu.ct[0] = txn_client_release(tu.ct[0]);
	assert_int_equal(mem_nalloc(), base);

	ct = client_new("INVITE", SIP_PROTO_UDP);
	n = nsent - 1;
	assert_int_equal(rx_resp(n, 486, "t-pbx"), 0);
	assert_int_equal(txn_client_state(ct), TXN_STATE_COMPLETED);
	assert_int_equal(mem_nalloc(), base + 2);                         /* its ACK */
	assert_true(sent_is(nsent - 1, "ACK "));
	assert_int_equal(rx_resp(n, 486, "t-pbx"), 0);
	assert_string_equal(SENT(nsent - 1).buf, SENT(nsent - 2).buf);
	assert_int_equal(tu.nresp, 3);
	advance(now + 32000);
	tu.ct[1] = txn_client_release(tu.ct[1]);
	assert_int_equal(mem_nalloc(), base);

	ct = client_new("BYE", SIP_PROTO_UDP);
	assert_int_equal(mem_nalloc(), base + 2);
	assert_int_equal(rx_resp(nsent - 1, 200, "t-pbx"), 0);
	assert_int_equal(txn_client_state(ct), TXN_STATE_COMPLETED);
	assert_int_equal(mem_nalloc(), base + 1);
	advance(now + 5000);
	tu.ct[2] = txn_client_release(tu.ct[2]);
	assert_int_equal(mem_nalloc(), base);
}

static void test_configured_timers(void **state)
{
	const uint64_t g[] = { 100, 300, 600, 900, 1200 };
	struct txn_config cfg;
	struct txn_client *ct;
	uint64_t t0;

	(void)state;
	txn_config_default(&cfg);
	cfg.t1 = 100;
	cfg.t2 = 300;
	cfg.t4 = 700;
	cfg.timer_d = 2000;
	layer_make(&cfg);

	/* Timer G: T1, 2*T1, capped at T2; Timer H at 64*T1 = 6400 */
	assert_int_equal(rx_req("INVITE", "z9hG4bKcfg", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[0], 486, NULL, &tag_bob, NULL, now), 0);
	advance(1200);
	assert_sent_times(2, g, ARRAY_SIZE(g));
	advance(6399);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_COMPLETED);
	advance(6400);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_TERMINATED);

	/* Timer I = T4 */
	assert_int_equal(rx_req("INVITE", "z9hG4bKcfg2", 1, NULL), 0);
	assert_int_equal(txn_server_reply(tu.st[1], 486, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(rx_req("ACK", "z9hG4bKcfg2", 1, "t-bob1"), 0);
	t0 = now;
	advance(t0 + 699);
	assert_int_equal(txn_server_state(tu.st[1]), TXN_STATE_CONFIRMED);
	advance(t0 + 700);
	assert_int_equal(txn_server_state(tu.st[1]), TXN_STATE_TERMINATED);

	/* Timer E schedule and Timer F at 64*T1 */
	t0 = now;
	nsent = 0;
	ct = client_new("OPTIONS", SIP_PROTO_UDP);
	advance(t0 + 6399);
	assert_int_equal(sent[1].at - t0, 100);
	assert_int_equal(sent[2].at - t0, 300);
	assert_int_equal(sent[3].at - t0, 600);
	assert_int_equal(sent[4].at - t0, 900);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TRYING);
	advance(t0 + 6400);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);

	/* Timer K = T4 */
	nsent = 0;
	ct = client_new("OPTIONS", SIP_PROTO_UDP);
	assert_int_equal(rx_resp(0, 200, "t"), 0);
	t0 = now;
	advance(t0 + 699);
	assert_int_equal(txn_client_state(ct), TXN_STATE_COMPLETED);
	advance(t0 + 700);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);

	/* Timer D as configured, Timer B at 64*T1 */
	nsent = 0;
	ct = client_new("INVITE", SIP_PROTO_UDP);
	assert_int_equal(rx_resp(0, 404, "t"), 0);
	t0 = now;
	advance(t0 + 1999);
	assert_int_equal(txn_client_state(ct), TXN_STATE_COMPLETED);
	advance(t0 + 2000);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	t0 = now;
	ct = client_new("INVITE", SIP_PROTO_UDP);
	advance(t0 + 6399);
	assert_int_equal(txn_client_state(ct), TXN_STATE_CALLING);
	advance(t0 + 6400);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
}

/* ======================= matching ======================= */

static void test_match_rfc2543(void **state)
{
	(void)state;
	layer_make(NULL);
	/* no branch at all: the RFC 2543 key */
	assert_int_equal(rx_req("INVITE", NULL, 1, NULL), 0);
	assert_int_equal(tu.nst, 1);
	assert_int_equal(rx_req("INVITE", NULL, 1, NULL), 0);
	assert_int_equal(tu.nst, 1);
	assert_int_equal(nsent, 2);                   /* the 100 again */
	assert_int_equal(txn_server_reply(tu.st[0], 486, NULL, &tag_bob, NULL, now), 0);
	assert_int_equal(rx_req("ACK", NULL, 1, "t-bob1"), 0);
	assert_int_equal(txn_server_state(tu.st[0]), TXN_STATE_CONFIRMED);
	/* a branch without the cookie is RFC 2543 too; the CSeq number tells transactions apart */
	assert_int_equal(rx_req("INVITE", "1234abcd", 2, NULL), 0);
	assert_int_equal(tu.nst, 2);
	assert_int_equal(rx_req("INVITE", "1234abcd", 3, NULL), 0);
	assert_int_equal(tu.nst, 3);
	assert_int_equal(rx_req("INVITE", "1234abcd", 2, NULL), 0);
	assert_int_equal(tu.nst, 3);
	/* CANCEL finds its INVITE the same way */
	assert_int_equal(rx_req("CANCEL", "1234abcd", 2, NULL), 0);
	assert_true(sent_is(nsent - 2, "SIP/2.0 200 OK\r\n"));
	assert_true(sent_is(nsent - 1, "SIP/2.0 487 Request Terminated\r\n"));
	assert_int_equal(txn_server_state(tu.st[1]), TXN_STATE_COMPLETED);
	assert_int_equal(txn_server_state(tu.st[2]), TXN_STATE_PROCEEDING);
}

static void test_match_rules(void **state)
{
	struct txn_client *ct;
	char buf[4096];
	struct wbuf wb;
	struct sip_msg *req;

	(void)state;
	layer_make(NULL);
	/* branch + sent-by + method (RFC 3261 17.2.3) */
	assert_int_equal(rx_req_from("INVITE", "z9hG4bKm", "phone.example.com:5060", 1, NULL), 0);
	assert_int_equal(rx_req_from("INVITE", "z9hG4bKm", "PHONE.Example.COM:5060", 1, NULL), 0);
	assert_int_equal(tu.nst, 1);                  /* host names compare without case */
	assert_int_equal(rx_req_from("INVITE", "z9hG4bKm", "phone2.example.com:5060", 1, NULL), 0);
	assert_int_equal(tu.nst, 2);
	assert_int_equal(rx_req_from("OPTIONS", "z9hG4bKm", "phone.example.com:5060", 1, NULL), 0);
	assert_int_equal(tu.nst, 3);
	assert_int_equal(txn_server_method(tu.st[2]), SIP_METHOD_OPTIONS);
	assert_int_equal(rx_req_from("INVITE", "z9hG4bKM", "phone.example.com:5060", 1, NULL), 0);
	assert_int_equal(tu.nst, 4);                  /* branches compare exactly */
	/* an ACK for an INVITE still in Proceeding is stray */
	assert_int_equal(rx_req_from("ACK", "z9hG4bKm", "phone.example.com:5060", 1, "x"), 0);
	assert_int_equal(stats().stray_acks, 1);
	assert_int_equal(tu.nack, 0);

	/* responses: branch + CSeq method (17.1.3) */
	ct = client_new("INVITE", SIP_PROTO_UDP);
	req = sent_msg(nsent - 1);
	wbuf_init(&wb, buf, sizeof(buf));
	assert_int_equal(sip_reply_build(req, 180, NULL, NULL, NULL, &wb), 0);
	/* same branch, other method */
	{
		char *cs = strstr(buf, "CSeq: 314159 INVITE");

		assert_non_null(cs);
		memcpy(cs + 13, "UPDATE", 6);
	}
	assert_int_equal(sip_msg_decode_raw(rxmsg, buf, wb.len, 0, NULL), 0);
	assert_int_equal(txn_layer_recv(tl, rxmsg, now), 0);
	assert_int_equal(stats().unmatched_responses, 1);
	/* no cookie in the branch: never ours */
	snprintf(buf, sizeof(buf),
		 "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.20.0.1:5060;branch=abc\r\n"
		 "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\n"
		 "CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(sip_msg_decode_raw(rxmsg, buf, strlen(buf), 0, NULL), 0);
	assert_int_equal(txn_layer_recv(tl, rxmsg, now), 0);
	assert_int_equal(stats().unmatched_responses, 2);
	assert_int_equal(tu.nresp, 0);
	assert_int_equal(txn_client_state(ct), TXN_STATE_CALLING);
	assert_int_equal(txn_layer_recv(tl, NULL, now), EINVAL);

	/* a key longer than the layer keeps: dropped, EMSGSIZE for the transport to count */
	{
		static char longbranch[3000];

		memcpy(longbranch, "z9hG4bK", 7);
		memset(longbranch + 7, 'a', sizeof(longbranch) - 8);
		longbranch[sizeof(longbranch) - 1] = '\0';
		nsent = 0;
		assert_int_equal(rx_req("OPTIONS", longbranch, 1, NULL), EMSGSIZE);
		memcpy(longbranch, "nocookie", 8);    /* RFC 2543 key: the whole Via goes in */
		assert_int_equal(rx_req("OPTIONS", longbranch, 1, NULL), EMSGSIZE);
		assert_int_equal(nsent, 0);
		assert_int_equal(tu.nst, 4);
	}
}

/* ======================= API edges ======================= */

static void test_branch_make(void **state)
{
	char a[TXN_BRANCH_LEN + 1], b[TXN_BRANCH_LEN + 1];

	(void)state;
	assert_int_equal(txn_branch_make(a, sizeof(a)), 0);
	assert_int_equal(txn_branch_make(b, sizeof(b)), 0);
	assert_int_equal(strlen(a), TXN_BRANCH_LEN);
	assert_memory_equal(a, "z9hG4bK", 7);
	assert_int_equal(strspn(a + 7, "0123456789abcdef"), 32);
	assert_string_not_equal(a, b);
	assert_int_equal(txn_branch_make(a, TXN_BRANCH_LEN), EINVAL);
	assert_int_equal(txn_branch_make(NULL, 64), EINVAL);
}

static void test_client_request_invalid(void **state)
{
	struct txn_client *ct = NULL;
	struct sip_peer dst;
	char branch[TXN_BRANCH_LEN + 1];
	size_t len;
	static const char garbage[] = "this is not SIP\r\n\r\n";

	(void)state;
	layer_make(NULL);
	peer_set(&dst, "10.20.0.10", 5060, SIP_PROTO_UDP);
	len = mk_creq("ACK", "z9hG4bKack", SIP_PROTO_UDP);
	assert_int_equal(txn_client_request(&ct, tl, &dst, txbuf, len, tu_response, NULL, now),
			 EINVAL);
	len = mk_creq("INVITE", "nocookie", SIP_PROTO_UDP);
	assert_int_equal(txn_client_request(&ct, tl, &dst, txbuf, len, tu_response, NULL, now),
			 EINVAL);
	assert_int_equal(txn_client_request(&ct, tl, &dst, garbage, sizeof(garbage) - 1,
					    tu_response, NULL, now), EBADMSG);
	assert_int_equal(txn_client_request(&ct, tl, NULL, txbuf, len, tu_response, NULL, now),
			 EINVAL);
	assert_int_equal(txn_client_request(&ct, tl, &dst, txbuf, 0, tu_response, NULL, now),
			 EINVAL);
	/* the same branch and method twice */
	assert_int_equal(txn_branch_make(branch, sizeof(branch)), 0);
	len = mk_creq("INVITE", branch, SIP_PROTO_UDP);
	assert_int_equal(txn_client_request(NULL, tl, &dst, txbuf, len, tu_response, NULL, now), 0);
	assert_int_equal(txn_client_request(&ct, tl, &dst, txbuf, len, tu_response, NULL, now),
			 EEXIST);
	assert_null(ct);
	assert_int_equal(nsent, 1);
	assert_int_equal(stats().client_live, 1);
	/* a response is not a request */
	assert_int_equal(rx_resp(0, 180, "t"), 0);
	assert_int_equal(txn_client_request(&ct, tl, &dst, sent[0].buf, 0, tu_response, NULL, now),
			 EINVAL);
	assert_int_equal(tu.nresp, 1);
	assert_int_equal(txn_client_cancel(NULL, NULL, now), EINVAL);
	assert_int_equal(txn_client_state(NULL), TXN_STATE_TERMINATED);
	assert_int_equal(txn_server_state(NULL), TXN_STATE_TERMINATED);
}

static void test_server_send_relayed(void **state)
{
	static const char resp[] =
		"SIP/2.0 180 Ringing\r\n"
		"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKrel;rport=5060\r\n"
		"From: \"Alice\" <sip:alice@example.com>;tag=9fxced76sl\r\n"
		"To: <sip:bob@example.com>;tag=relay-tag\r\n"
		"Call-ID: 3848276298220188511@198.51.100.7\r\n"
		"CSeq: 1 INVITE\r\n"
		"Contact: <sip:bob@203.0.113.1>\r\n"
		"Content-Length: 0\r\n\r\n";
	static const char wrong[] =
		"SIP/2.0 200 OK\r\n"
		"Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKrel;rport=5060\r\n"
		"From: <sip:alice@example.com>;tag=9fxced76sl\r\nTo: <sip:bob@example.com>;tag=x\r\n"
		"Call-ID: 3848276298220188511@198.51.100.7\r\nCSeq: 1 BYE\r\n"
		"Content-Length: 0\r\n\r\n";
	const struct sip_addr *to;
	struct txn_server *st;
	char buf[sizeof(resp)];

	(void)state;
	layer_make(NULL);
	assert_int_equal(rx_req("INVITE", "z9hG4bKrel", 1, NULL), 0);
	st = tu.st[0];
	memcpy(buf, resp, sizeof(resp));
	assert_int_equal(txn_server_send(st, buf, sizeof(resp) - 1, now), 0);
	memset(buf, 'x', sizeof(buf));                /* the layer kept its own copy */
	assert_int_equal(nsent, 2);
	assert_string_equal(sent[1].buf, resp);
	assert_int_equal(rx_req("INVITE", "z9hG4bKrel", 1, NULL), 0);
	assert_string_equal(sent[2].buf, resp);
	assert_int_equal(txn_server_send(st, wrong, strlen(wrong), now), EINVAL);
	assert_int_equal(txn_server_send(st, rxbuf, strlen(rxbuf), now), EINVAL);
	assert_int_equal(txn_server_send(st, "junk", 4, now), EBADMSG);
	assert_int_equal(txn_server_reply(st, 99, NULL, NULL, NULL, now), EINVAL);
	/* a CANCEL now answers with the relayed response's tag */
	assert_int_equal(rx_req("CANCEL", "z9hG4bKrel", 1, NULL), 0);
	assert_int_equal(sip_msg_to(sent_msg(3), &to), 0);
	assert_true(pl_eq_str(&to->tag, "relay-tag"));
	assert_int_equal(sent_msg(4)->scode, 487);
}

static void test_layer_lifetime(void **state)
{
	struct txn_server *st;
	struct txn_client *ct;
	struct txn_config cfg;
	struct txn_layer *bad = NULL;

	(void)state;
	txn_config_default(&cfg);
	cfg.t2 = 100;                                 /* below T1 */
	assert_int_equal(txn_layer_alloc(&bad, &cfg, fake_send, tu_request, NULL, NULL), EINVAL);
	txn_config_default(&cfg);
	cfg.max_txns = 0;
	assert_int_equal(txn_layer_alloc(&bad, &cfg, fake_send, tu_request, NULL, NULL), EINVAL);
	assert_int_equal(txn_layer_alloc(&bad, NULL, NULL, tu_request, NULL, NULL), EINVAL);
	assert_int_equal(txn_layer_alloc(&bad, NULL, fake_send, NULL, NULL, NULL), EINVAL);
	assert_null(bad);
	assert_string_equal(txn_state_name(TXN_STATE_ACCEPTED), "accepted");

	/* a layer without an ACK handler: every unmatched ACK is stray */
	assert_int_equal(txn_layer_alloc(&tl, NULL, fake_send, tu_request, NULL, NULL), 0);
	assert_int_equal(txn_layer_next(tl), UINT64_MAX);
	assert_int_equal(rx_req("ACK", "z9hG4bKs", 1, "x"), 0);
	assert_int_equal(stats().stray_acks, 1);
	assert_int_equal(txn_layer_reply_stateless(tl, NULL, 400, NULL), EINVAL);

	/* the layer goes while transactions run and the TU holds some */
	now = 5;
	assert_int_equal(rx_req("INVITE", "z9hG4bKl1", 1, NULL), 0);
	assert_int_equal(rx_req("OPTIONS", "z9hG4bKl2", 1, NULL), 0);
	assert_int_equal(txn_layer_now(tl), 5);
	ct = client_new("INVITE", SIP_PROTO_UDP);
	client_new("OPTIONS", SIP_PROTO_UDP);
	assert_int_equal(txn_server_reply(tu.st[0], 486, NULL, &tag_bob, NULL, now), 0);
	st = tu.st[0];
	tl = mem_deref(tl);
	assert_int_equal(txn_server_state(st), TXN_STATE_TERMINATED);
	assert_int_equal(txn_server_reply(st, 500, NULL, NULL, NULL, now), ENOENT);
	assert_int_equal(txn_server_send(st, "x", 1, now), ENOENT);
	assert_int_equal(txn_client_state(ct), TXN_STATE_TERMINATED);
	assert_int_equal(txn_client_cancel(ct, NULL, now), EALREADY);
	assert_int_equal(tu.nresp, 0);
	assert_int_equal(tu.nev, 0);
	/* teardown releases the TU's references and checks for leaks */
}

/* A stateless reply from the layer for the transport (a 400 to a bad request). */
static void test_reply_stateless(void **state)
{
	(void)state;
	layer_make(NULL);
	snprintf(rxbuf, sizeof(rxbuf),
		 "OPTIONS sip:203.0.113.1 SIP/2.0\r\n"
		 "Via: SIP/2.0/UDP 198.51.100.9:5070;branch=z9hG4bKst\r\n"
		 "From: <sip:x@example.com>;tag=1\r\nTo: <sip:203.0.113.1>\r\n"
		 "Call-ID: st1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(sip_msg_decode_raw(rxmsg, rxbuf, strlen(rxbuf), 0, NULL), 0);
	peer_set(&rxmsg->src, "198.51.100.9", 40000, SIP_PROTO_UDP);
	assert_int_equal(txn_layer_reply_stateless(tl, rxmsg, 400, "Missing Max-Forwards"), 0);
	assert_true(sent_is(0, "SIP/2.0 400 Missing Max-Forwards\r\n"));
	assert_int_equal(peer_port(&sent[0].dst), 5070);
	assert_int_equal(stats().server_live, 0);
}

/*
 * Many transactions in a small table: chains of several entries, entries
 * unlinked from the middle of chains as their timers end them, and the
 * timer heap growing past its first size.
 */
static void test_table_stress(void **state)
{
	enum { N = 300 };
	struct txn_config cfg;
	char branch[32];
	unsigned sends;

	(void)state;
	txn_config_default(&cfg);
	cfg.max_txns = N + N / 7;                     /* 342 / 8 = 42 kept for in-dialog: N new fit */
	layer_make(&cfg);
	tu.no_keep = true;
	tu.auto_reply = 486;
	for (unsigned i = 0; i < N; i++) {
		snprintf(branch, sizeof(branch), "z9hG4bK-s%u", i);
		assert_int_equal(rx_req("INVITE", branch, 1, NULL), 0);
	}
	assert_int_equal(tu.nst, N);
	assert_int_equal(stats().server_live, N);
	assert_int_equal(rx_req("INVITE", "z9hG4bK-one-too-many", 1, NULL), 0);
	assert_int_equal(stats().refused_capacity, 1);
	/* ACK every odd one: Confirmed, gone after T4 */
	now = 100;
	for (unsigned i = 1; i < N; i += 2) {
		snprintf(branch, sizeof(branch), "z9hG4bK-s%u", i);
		assert_int_equal(rx_req("ACK", branch, 1, "t-bob1"), 0);
	}
	advance(5100);
	assert_int_equal(stats().server_live, N / 2);
	/* every even one is still found: its retransmission gets the 486 */
	sends = nsent;
	for (unsigned i = 0; i < N; i += 2) {
		snprintf(branch, sizeof(branch), "z9hG4bK-s%u", i);
		assert_int_equal(rx_req("INVITE", branch, 1, NULL), 0);
		assert_true(sent_is(nsent - 1, "SIP/2.0 486 Busy Here\r\n"));
	}
	assert_int_equal(nsent, sends + N / 2);
	assert_int_equal(tu.nst, N);
	/* the odd ones are new transactions again */
	assert_int_equal(rx_req("INVITE", "z9hG4bK-s1", 1, NULL), 0);
	assert_int_equal(tu.nst, N + 1);
	advance(200000);
	assert_int_equal(stats().server_live, 0);
	assert_int_equal(stats().timeouts, N / 2 + 1);   /* Timer H: the even ones and s1 */
	assert_int_equal(txn_layer_next(tl), UINT64_MAX);
}

/* Out of memory at every allocation of a client transaction made first (heap growth included). */
static void test_oom_client_first(void **state)
{
	bool done = false;

	(void)state;
	for (long n = 0; !done && n < 1000; n++) {
		struct txn_client *ct = NULL;
		struct sip_peer dst;
		char branch[TXN_BRANCH_LEN + 1];
		size_t len;
		int err;

		nsent = 0;
		mem_fail_after(-1);
		layer_make(NULL);
		assert_int_equal(txn_branch_make(branch, sizeof(branch)), 0);
		len = mk_creq("INVITE", branch, SIP_PROTO_UDP);
		peer_set(&dst, "10.20.0.10", 5060, SIP_PROTO_UDP);
		mem_fail_after(n);
		err = txn_client_request(&ct, tl, &dst, txbuf, len, tu_response, NULL, now);
		if (err) {
			assert_int_equal(err, ENOMEM);
			assert_null(ct);
			assert_int_equal(nsent, 0);
			assert_int_equal(stats().client_live, 0);
		} else {
			assert_int_equal(rx_resp(0, 180, "t"), 0);
			err = txn_client_cancel(ct, &reason_extra, now);
			assert_true(err == 0 || err == ENOMEM);
			done = !err && nsent == 2 && stats().client_live == 2;
			ct = txn_client_release(ct);
		}
		mem_fail_after(-1);
		advance(now + 300000);                  /* Timer C, then its CANCEL, then the guard */
		assert_int_equal(stats().client_live, 0);
		tl = mem_deref(tl);
		assert_int_equal(mem_nalloc(), nalloc_start + 2);
	}
	assert_true(done);
}

/*
 * Out of memory at every allocation in turn while making a layer, a
 * server transaction (with its 100 and a 486) and a client transaction
 * (with its ACK): every failure is clean and nothing leaks.
 */
static void test_oom(void **state)
{
	bool done = false;

	(void)state;
	for (long n = 0; !done && n < 1000; n++) {
		int err;

		nsent = 0;
		memset(&tu, 0, sizeof(tu));
		mem_fail_after(n);
		err = txn_layer_alloc(&tl, NULL, fake_send, tu_request, tu_ack, NULL);
		if (err) {
			assert_int_equal(err, ENOMEM);
			assert_null(tl);
			mem_fail_after(-1);
			assert_int_equal(mem_nalloc(), nalloc_start + 2);   /* rxmsg, chk */
			continue;
		}
		err = rx_req("INVITE", "z9hG4bKoom", 1, NULL);
		if (err) {
			assert_int_equal(err, ENOMEM);
			assert_int_equal(tu.nst, 0);
			assert_int_equal(stats().server_live, 0);
		} else {
			assert_int_equal(tu.nst, 1);
			err = txn_server_reply(tu.st[0], 486, NULL, &tag_bob, NULL, now);
			assert_true(err == 0 || err == ENOMEM);
			assert_int_equal(txn_server_state(tu.st[0]),
					 err ? TXN_STATE_PROCEEDING : TXN_STATE_COMPLETED);
		}
		if (!err) {
			struct txn_client *ct = NULL;
			struct sip_peer dst;
			char branch[TXN_BRANCH_LEN + 1];
			size_t len;

			assert_int_equal(txn_branch_make(branch, sizeof(branch)), 0);
			len = mk_creq("INVITE", branch, SIP_PROTO_UDP);
			peer_set(&dst, "10.20.0.10", 5060, SIP_PROTO_UDP);
			err = txn_client_request(&ct, tl, &dst, txbuf, len, tu_response, NULL, now);
			if (err) {
				assert_int_equal(err, ENOMEM);
				assert_null(ct);
				assert_int_equal(stats().client_live, 0);
			} else {
				unsigned i = nsent - 1;

				tu.ct[tu.nct++] = ct;
				assert_int_equal(rx_resp(i, 486, "t"), 0);
				/* without memory for the ACK copy the transaction just ends */
				assert_true(txn_client_state(ct) == TXN_STATE_COMPLETED ||
					    txn_client_state(ct) == TXN_STATE_TERMINATED);
				done = txn_client_state(ct) == TXN_STATE_COMPLETED &&
				       txn_server_state(tu.st[0]) == TXN_STATE_COMPLETED;
			}
		}
		mem_fail_after(-1);
		advance(now + 100000);
		assert_int_equal(stats().server_live + stats().client_live, 0);
		for (unsigned i = 0; i < tu.nst; i++)
			txn_server_release(tu.st[i]);
		for (unsigned i = 0; i < tu.nct; i++)
			txn_client_release(tu.ct[i]);
		tu.nst = tu.nct = 0;
		tl = mem_deref(tl);
		assert_int_equal(mem_nalloc(), nalloc_start + 2);
	}
	assert_true(done);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_inv_server_udp_completed_confirmed),
		T(test_inv_server_udp_timer_h),
		T(test_inv_server_udp_accepted),
		T(test_inv_server_tcp),
		T(test_inv_server_tu_guard),
		T(test_ni_server_udp),
		T(test_ni_server_tcp),
		T(test_ni_server_tu_guard),
		T(test_inv_client_udp_timer_a_b),
		T(test_inv_client_proceeding_timer_c),
		T(test_inv_client_udp_486_ack),
		T(test_inv_client_accepted),
		T(test_inv_client_tcp),
		T(test_inv_client_timer_c),
		T(test_ni_client_udp_timer_e_f),
		T(test_ni_client_proceeding_completed),
		T(test_ni_client_tcp),
		T(test_cancel_server_matched),
		T(test_cancel_server_default_487),
		T(test_cancel_server_unmatched_and_late),
		T(test_cancel_client_deferred),
		T(test_cancel_client_final_first),
		T(test_cancel_client_guard),
		T(test_transport_error_client),
		T(test_transport_error_server),
		T(test_conn_failed_client),
		T(test_conn_failed_retry_in_callback),
		T(test_conn_failed_many),
		T(test_capacity),
		T(test_capacity_reserve_server),
		T(test_capacity_reserve_client),
		T(test_server_state_memory),
		T(test_client_state_memory),
		T(test_configured_timers),
		T(test_match_rfc2543),
		T(test_match_rules),
		T(test_branch_make),
		T(test_client_request_invalid),
		T(test_server_send_relayed),
		T(test_layer_lifetime),
		T(test_reply_stateless),
		T(test_table_stress),
		T(test_oom),
		T(test_oom_client_first),
	};

	return cmocka_run_group_tests_name("txn", tests, NULL, NULL);
}
