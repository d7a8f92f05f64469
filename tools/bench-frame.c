/*
 * bench-frame: the bypass fast path's per-frame cost on one core, without
 * sockets: frame_parse alone, and frame_parse + frame_rewrite of a
 * 172-byte RTP payload for (a) IPv4, (b) IPv4 with the VLAN tag removed
 * or added, (c) IPv6, and (d) the full UDP checksum a ring frame with an
 * offloaded (partial) checksum costs. Prints ns per frame; asserts nothing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "media/frame.h"
#include "util/util.h"

enum { ROUNDS = 3, BATCH = 1000, RTP_LEN = 172, HEAD = 64 };

static volatile uint32_t sink;

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* An RTP frame at f (tagged or not, v4 or v6) with correct checksums; its length. */
static size_t make_frame(uint8_t *f, int af, bool vlan)
{
	struct frame_info fi;
	uint8_t *p = f + 12, *ip;
	size_t hl = af == AF_INET6 ? 40 : 20;

	memset(f, 0x42, 12);
	if (vlan) {
		put16(p, 0x8100);
		put16(p + 2, 12);
		p += 4;
	}
	put16(p, af == AF_INET6 ? 0x86dd : 0x0800);
	ip = p + 2;
	memset(ip, 0, hl + 8);
	if (af == AF_INET6) {
		ip[0] = 0x60;
		put16(ip + 4, 8 + RTP_LEN);
		ip[6] = 17;
		ip[7] = 64;
		memset(ip + 8, 0x20, 32);
	} else {
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(hl + 8 + RTP_LEN));
		ip[8] = 64;
		ip[9] = 17;
		memset(ip + 12, 10, 8);
	}
	put16(ip + hl, 40000);
	put16(ip + hl + 2, 20000);
	put16(ip + hl + 4, 8 + RTP_LEN);
	memset(ip + hl + 8, 0x80, RTP_LEN);
	if (af == AF_INET) {
		/* the header checksum by hand, since frame_parse refuses a wrong one */
		uint32_t s = 0;

		for (size_t i = 0; i < hl; i += 2)
			s += (uint32_t)(ip[i] << 8 | ip[i + 1]);
		while (s >> 16)
			s = (s & 0xffff) + (s >> 16);
		put16(ip + 10, (uint16_t)~s);
	}
	/* the UDP checksum is the library's: the field may be anything before */
	put16(ip + hl + 6, 1);
	if (frame_parse(f, (size_t)(ip - f) + hl + 8 + RTP_LEN, &fi) || fi.kind != FRAME_FAST_UDP)
		exit(1);
	frame_udp_csum_set(f, &fi);
	return (size_t)(ip - f) + hl + 8 + RTP_LEN;
}

static void rewrite_to(struct frame_rewrite *rw, int af, bool vlan, uint8_t b)
{
	memset(rw, 0, sizeof(*rw));
	memset(rw->dst_mac, b, 6);
	memset(rw->src_mac, b + 1, 6);
	rw->af = (uint8_t)af;
	rw->vlan = vlan;
	rw->vlan_tci = 12;
	rw->ttl = 64;   /* set, not decremented: the same frame goes round and round */
	rw->sport = htons((uint16_t)(30000 + b));
	rw->dport = htons((uint16_t)(6000 + b));
	memset(rw->src.v6, b, 16);
	memset(rw->dst.v6, b + 2, 16);
}

/*
 * ns per frame of one case, best of ROUNDS runs. Two rewrites alternate
 * (tag off / tag on for case 2), so the frame ends where it started.
 */
static double measure(int which, double seconds)
{
	static uint8_t buf[HEAD + 2048];
	int af = which == 3 ? AF_INET6 : AF_INET;
	bool tag = which == 2;
	struct frame_rewrite rw[2];
	double best = 1e30;
	uint8_t *f = buf + HEAD;
	size_t len = make_frame(f, af, tag);

	rewrite_to(&rw[0], af, false, 1);
	rewrite_to(&rw[1], af, tag, 2);
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = time_mono_ns(), deadline = t0 + (uint64_t)(seconds * 1e9 / ROUNDS), t1;
		unsigned long n = 0;

		do {
			for (int i = 0; i < BATCH; i++, n++) {
				struct frame_info fi;
				uint8_t *out;
				size_t olen;

				sink += (uint32_t)frame_parse(f, len, &fi) + fi.payload_len;
				if (which == 0)
					continue;
				if (which == 4) {
					frame_udp_csum_set(f, &fi);
					continue;
				}
				if (frame_rewrite(f, &fi, &rw[n & 1], &out, &olen))
					exit(1);
				f = out;
				len = olen;
			}
			t1 = time_mono_ns();
		} while (t1 < deadline);
		best = MIN(best, (double)(t1 - t0) / (double)n);
	}
	return best;
}

int main(int argc, char **argv)
{
	double seconds = 3.0;
	cpu_set_t set;

	if (argc > 1)
		seconds = atof(argv[1]);
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1)
		perror("bench-frame: sched_setaffinity (continuing unpinned)");
	printf("bench-frame: %d-byte RTP payload, one core, best of %d rounds\n", RTP_LEN, ROUNDS);
	printf("parse only (IPv4, header checksum checked): %6.1f ns/frame\n", measure(0, seconds));
	printf("(a) parse + rewrite, IPv4:                  %6.1f ns/frame\n", measure(1, seconds));
	printf("(b) parse + rewrite, IPv4, tag off / on:    %6.1f ns/frame\n", measure(2, seconds));
	printf("(c) parse + rewrite, IPv6:                  %6.1f ns/frame\n", measure(3, seconds));
	printf("(d) parse + full UDP checksum (offloaded):  %6.1f ns/frame\n", measure(4, seconds));
	return 0;
}
