/* bench-sip: messages per second on one core for the SIP/SDP codec's two hot paths. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdp/sdp.h"
#include "sip/sip.h"
#include "util/util.h"

#ifndef FIXTURES_DIR
#define FIXTURES_DIR "../shared/fixtures/seed"
#endif

enum { ROUNDS = 5 };

static char msgbuf[SIP_MAX_MSG];
static size_t msglen;
static char outbuf[SIP_MAX_MSG];
static char sdpbuf[SIP_MAX_BODY];
static struct sdp_session sdp;   /* large: kept off the stack */
static volatile size_t sink;

static int load(const char *path)
{
	FILE *f = fopen(path, "rb");

	if (!f) {
		fprintf(stderr, "bench-sip: %s: %s\n", path, strerror(errno));
		return -1;
	}
	msglen = fread(msgbuf, 1, sizeof(msgbuf), f);
	fclose(f);
	return msglen ? 0 : -1;
}

/* (a) parse, then read Via, From, To, Call-ID, CSeq and Contact. */
static int run_parse(struct sip_msg *msg)
{
	const struct sip_via *via;
	const struct sip_addr *from, *to;
	const struct sip_cseq *cseq;
	struct sip_contact ct;
	struct sip_iter it = { 0 };
	struct pl callid;

	if (sip_msg_decode_raw(msg, msgbuf, msglen, 0, NULL) ||
	    sip_msg_via_top(msg, &via) || sip_msg_from(msg, &from) || sip_msg_to(msg, &to) ||
	    sip_msg_callid(msg, &callid) || sip_msg_cseq(msg, &cseq) ||
	    sip_msg_contact_next(msg, &it, &ct))
		return -1;
	sink += via->branch.l + from->tag.l + to->uri.host.l + callid.l + cseq->num +
		ct.addr.uri.port;
	return 0;
}

/*
 * (b) parse, rewrite the top Via and the Contact host:port to the SBC's
 * address, rewrite the SDP c=/o=/m=, write the whole message.
 */
static int run_rewrite(struct sip_msg *msg, unsigned long n)
{
	static const struct pl contact_hp = PL("203.0.113.1:5060");
	const struct sip_via *via;
	struct sip_contact ct;
	struct sip_iter it = { 0 };
	struct sdp_rewrite rw = {
		.af = SDP_AF_IP4,
		.addr = PL("203.0.113.1"),
		.portc = 2,
		.portv = { 20000, 20002 },
	};
	char vbuf[96];
	struct wbuf vb, sb, out;
	struct pl v, body;

	if (sip_msg_decode_raw(msg, msgbuf, msglen, 0, NULL) || sip_msg_via_top(msg, &via) ||
	    sip_msg_contact_next(msg, &it, &ct))
		return -1;
	wbuf_init(&vb, vbuf, sizeof(vbuf));
	if (wbuf_put_str(&vb, "SIP/2.0/UDP 203.0.113.1:5060;branch=z9hG4bK-sbc-") ||
	    wbuf_put_u32(&vb, (uint32_t)n))
		return -1;
	v.p = vb.p;
	v.l = vb.len;
	if (sip_msg_hdr_set(msg, sip_msg_hdr(msg, SIP_HDR_VIA), &v) ||
	    sip_msg_splice(msg, &ct.addr.uri.hostport, &contact_hp))
		return -1;
	wbuf_init(&sb, sdpbuf, sizeof(sdpbuf));
	if (sdp_session_decode(&sdp, &msg->body) || sdp_rewrite(&sdp, &rw, &sb))
		return -1;
	body.p = sb.p;
	body.l = sb.len;
	if (sip_msg_body_set(msg, &body))
		return -1;
	wbuf_init(&out, outbuf, sizeof(outbuf));
	if (sip_msg_encode(msg, &out))
		return -1;
	sink += out.len;
	return 0;
}

/* Run one case for about `seconds`, ROUNDS times; return the best rate. */
static double measure(const char *name, int which, struct sip_msg *msg, double seconds)
{
	double best = 0;

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = time_mono_ns(), deadline = t0 + (uint64_t)(seconds * 1e9 / ROUNDS);
		unsigned long n = 0;
		uint64_t t1;

		do {
			for (int i = 0; i < 1000; i++, n++) {
				int err = which == 0 ? run_parse(msg) : run_rewrite(msg, n);

				if (err) {
					fprintf(stderr, "bench-sip: %s failed\n", name);
					exit(1);
				}
			}
			t1 = time_mono_ns();
		} while (t1 < deadline);
		best = MAX(best, (double)n * 1e9 / (double)(t1 - t0));
	}
	return best;
}

int main(int argc, char **argv)
{
	const char *path = FIXTURES_DIR "/23-invite-sdp-bria.sip";
	double seconds = 5.0, a, b;
	struct sip_msg *msg;
	cpu_set_t set;
	int opt;

	while ((opt = getopt(argc, argv, "f:s:")) != -1) {
		switch (opt) {
		case 'f':
			path = optarg;
			break;
		case 's':
			seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench-sip [-f message.sip] [-s seconds]\n");
			return 64;
		}
	}
	if (load(path) || sip_msg_alloc(&msg))
		return 1;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1)
		perror("bench-sip: sched_setaffinity (continuing unpinned)");

	printf("bench-sip: %s (%zu bytes), one core, best of %d rounds\n", path, msglen, ROUNDS);
	a = measure("parse", 0, msg, seconds);
	printf("(a) parse + read Via, From, To, Call-ID, CSeq, Contact: %10.0f msg/s  %6.0f ns/msg"
	       "  (goal 1000000/s: %s)\n", a, 1e9 / a, a >= 1e6 ? "met" : "NOT met");
	b = measure("rewrite", 1, msg, seconds);
	printf("(b) parse + rewrite Via, Contact, SDP c=/o=/m= + write: %10.0f msg/s  %6.0f ns/msg"
	       "  (goal  400000/s: %s)\n", b, 1e9 / b, b >= 4e5 ? "met" : "NOT met");
	mem_deref(msg);
	return 0;
}
