/*
 * rtp-sink: the receiving end of bench-rtp's latency step. Counts RTP per
 * stream (by SSRC, as tools/rtp-blast numbers them), loss by sequence
 * number, and the one-way time from rtp-blast's send stamp (CLOCK_MONOTONIC
 * ns in payload bytes 0-7) to the return of recvmmsg here, in a histogram
 * of 1 us buckets up to 100 ms. Generator and sink share the host's clock.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "util/util.h"

enum {
	BATCH = 64,
	SLOT = 2048,
	SSRC_BASE = 0x10000,		/* rtp-blast: stream i has SSRC 0x10000 + i */
	MAX_STREAMS = 65536,
	STAMP_OFF = 12,			/* RTP header, then the send stamp */
	HIST_US = 100000,		/* 1 us buckets; later arrivals go to "over" */
};

struct stream {
	uint32_t cycles;		/* sequence wraps, shifted left 16 */
	uint32_t first, max;		/* extended sequence numbers */
	uint32_t got;
	uint16_t last;
	bool seen;
};

struct sink {
	struct stream *st;
	uint32_t *hist;			/* HIST_US buckets */
	uint64_t received, foreign, short_pkts, reordered, over, stamped;
	uint64_t lat_max_ns;
	unsigned streams;
};

static volatile sig_atomic_t stopping;

static void stop_h(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: rtp-sink bind=IP:PORT seconds=S\n");
	exit(2);
}

/* RFC 3550 A.1, simplified: a sequence number 0x8000 behind the last one starts a new cycle. */
static void seq_update(struct sink *k, struct stream *s, uint16_t seq)
{
	uint32_t ext;

	if (!s->seen) {
		s->seen = true;
		s->first = s->max = seq;
		s->last = seq;
		s->got = 1;
		k->streams++;
		return;
	}
	if ((uint16_t)(seq - s->last) < 0x8000) {	/* forward (or a duplicate) */
		if (seq < s->last)
			s->cycles += 0x10000;
		s->last = seq;
		ext = s->cycles + seq;
		if (ext > s->max)
			s->max = ext;
	} else {
		k->reordered++;			/* late: already counted as expected */
	}
	s->got++;
}

static void latency(struct sink *k, const uint8_t *p, uint64_t now)
{
	uint64_t sent, d;

	memcpy(&sent, p + STAMP_OFF, 8);
	if (!sent || sent > now)
		return;				/* not stamped (or not ours) */
	d = now - sent;
	k->stamped++;
	if (d > k->lat_max_ns)
		k->lat_max_ns = d;
	if (d / 1000 < HIST_US)
		k->hist[d / 1000]++;
	else
		k->over++;
}

static void packet(struct sink *k, const uint8_t *p, size_t len, uint64_t now)
{
	uint32_t ssrc;

	k->received++;
	if (len < STAMP_OFF + 8 || (p[0] & 0xc0) != 0x80) {
		k->short_pkts++;
		return;
	}
	ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 | (uint32_t)p[10] << 8 | p[11];
	if (ssrc < SSRC_BASE || ssrc - SSRC_BASE >= MAX_STREAMS) {
		k->foreign++;
		return;
	}
	seq_update(k, &k->st[ssrc - SSRC_BASE], (uint16_t)(p[2] << 8 | p[3]));
	latency(k, p, now);
}

/* The bucket (us) holding the q-th fraction of the stamped packets. */
static double quantile_us(const struct sink *k, double q)
{
	uint64_t want = (uint64_t)(q * (double)k->stamped), n = 0;

	if (!k->stamped)
		return 0;
	for (unsigned i = 0; i < HIST_US; i++) {
		n += k->hist[i];
		if (n > want)
			return i + 0.5;
	}
	return HIST_US;
}

static void report(const struct sink *k, double secs)
{
	uint64_t expected = 0, lost = 0;

	for (unsigned i = 0; i < MAX_STREAMS; i++) {
		const struct stream *s = &k->st[i];
		uint64_t e;

		if (!s->seen)
			continue;
		e = (uint64_t)(s->max - s->first) + 1;
		expected += e;
		if (e > s->got)
			lost += e - s->got;
	}
	printf("received=%llu streams=%u expected=%llu lost=%llu reordered=%llu foreign=%llu "
	       "short=%llu stamped=%llu lat_median_us=%.1f lat_p99_us=%.1f lat_p999_us=%.1f "
	       "lat_max_us=%.1f lat_over_100ms=%llu seconds=%.3f\n",
	       (unsigned long long)k->received, k->streams, (unsigned long long)expected,
	       (unsigned long long)lost, (unsigned long long)k->reordered,
	       (unsigned long long)k->foreign, (unsigned long long)k->short_pkts,
	       (unsigned long long)k->stamped, quantile_us(k, 0.5), quantile_us(k, 0.99),
	       quantile_us(k, 0.999), (double)k->lat_max_ns / 1000.0,
	       (unsigned long long)k->over, secs);
	fflush(stdout);
}

static int run(struct sink *k, int fd, double seconds)
{
	static uint8_t slots[BATCH][SLOT];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	uint64_t start = time_mono_ns(), end = start + (uint64_t)(seconds * 1e9), now;

	for (unsigned i = 0; i < BATCH; i++) {
		iov[i].iov_base = slots[i];
		iov[i].iov_len = SLOT;
	}
	while (!stopping && (now = time_mono_ns()) < end) {
		int r;

		for (unsigned i = 0; i < BATCH; i++) {
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		r = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (r <= 0) {
			if (r == -1 && errno != EAGAIN && errno != EINTR) {
				perror("rtp-sink: recvmmsg");
				return 1;
			}
			continue;
		}
		now = time_mono_ns();
		for (int i = 0; i < r; i++)
			packet(k, slots[i], msgs[i].msg_len, now);
	}
	report(k, (double)(time_mono_ns() - start) / 1e9);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage local;
	struct timeval tv = { 0, 100000 };
	struct sink k = { 0 };
	const char *bind_s = NULL;
	double seconds = 0;
	int fd, buf = 8 * 1024 * 1024, rc;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "bind=", 5))
			bind_s = argv[i] + 5;
		else if (!strncmp(argv[i], "seconds=", 8))
			seconds = atof(argv[i] + 8);
		else
			usage();
	}
	if (!bind_s || seconds <= 0 || net_sa_from_endpoint(&local, bind_s))
		usage();
	k.st = calloc(MAX_STREAMS, sizeof(*k.st));
	k.hist = calloc(HIST_US, sizeof(*k.hist));
	if (!k.st || !k.hist) {
		fprintf(stderr, "rtp-sink: out of memory\n");
		return 1;
	}
	fd = socket(local.ss_family, SOCK_DGRAM, 0);
	if (fd == -1 || bind(fd, (const struct sockaddr *)&local, net_sa_len(&local)) == -1) {
		perror("rtp-sink: bind");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	signal(SIGTERM, stop_h);
	signal(SIGINT, stop_h);
	printf("ready\n");
	fflush(stdout);
	rc = run(&k, fd, seconds);
	close(fd);
	free(k.st);
	free(k.hist);
	return rc;
}
