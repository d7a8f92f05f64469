/*
 * rtp-blast: paced RTP generator (sendmmsg over many destination ports) and
 * counting sink (recvmmsg), for bench-rtp. Each packet carries its send time
 * (CLOCK_MONOTONIC ns, host order) in payload bytes 0-7 (RTP_STAMP_OFF) for
 * tools/rtp-sink's latency figures.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "util/util.h"

enum { BATCH = 32, MAX_DSTS = 65536, PKT_MAX = 1500, CATCHUP_MS = 10, RTP_STAMP_OFF = 12 };

struct opts {
	const char *mode;
	const char *src, *dst, *ports, *bind;
	unsigned rate, size;
	double seconds;
};

struct dst {
	struct sockaddr_storage sa;
	uint16_t seq;
	uint32_t ts, ssrc;
};

static struct dst dsts[MAX_DSTS];
static unsigned ndsts;

static void usage(void)
{
	fprintf(stderr,
		"usage: rtp-blast send src=IP[:PORT] dst=IP ports=FILE|FIRST+STEPxCOUNT rate=PPS "
		"seconds=S [size=172 (>= 20)]\n"
		"       rtp-blast sink bind=IP:PORT seconds=S\n");
	exit(2);
}

/* Destination ports: a file with one port a line, or FIRST+STEPxCOUNT. */
static int load_ports(const char *dst, const char *spec)
{
	struct sockaddr_storage base;
	unsigned first, step, count;

	if (net_sa_from_endpoint(&base, dst))
		return EINVAL;
	if (sscanf(spec, "%u+%ux%u", &first, &step, &count) == 3) {
		for (unsigned i = 0; i < count && ndsts < MAX_DSTS; i++) {
			dsts[ndsts].sa = base;
			net_sa_set_port(&dsts[ndsts++].sa, (uint16_t)(first + i * step));
		}
	} else {
		FILE *f = fopen(spec, "r");
		unsigned p;

		if (!f)
			return errno;
		while (ndsts < MAX_DSTS && fscanf(f, "%u", &p) == 1) {
			dsts[ndsts].sa = base;
			net_sa_set_port(&dsts[ndsts++].sa, (uint16_t)p);
		}
		fclose(f);
	}
	for (unsigned i = 0; i < ndsts; i++) {
		dsts[i].ssrc = 0x10000u + i;
		dsts[i].seq = (uint16_t)(i * 7);
		dsts[i].ts = i * 1000u;
	}
	return ndsts ? 0 : EINVAL;
}

static int udp_socket(const struct sockaddr_storage *local)
{
	int fd = socket(local->ss_family, SOCK_DGRAM, 0), buf = 8 * 1024 * 1024;

	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	if (bind(fd, (const struct sockaddr *)local, net_sa_len(local)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Send rate packets/s for seconds, round robin over the destinations, in
 * sendmmsg batches at their due time. A generator that falls more than
 * CATCHUP_MS behind skips ahead: the figure printed is what was offered.
 */
static int run_send(const struct opts *o)
{
	static uint8_t pkts[BATCH][PKT_MAX];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage src;
	uint64_t start, end, sent = 0, skipped = 0, errors = 0, now;
	unsigned next = 0;
	int fd;

	if (!o->src || !o->dst || !o->ports || !o->rate || o->size < RTP_STAMP_OFF + 8 ||
	    o->size > PKT_MAX)
		usage();
	if (net_sa_from_endpoint(&src, o->src) || load_ports(o->dst, o->ports)) {
		fprintf(stderr, "rtp-blast: bad src, dst or ports\n");
		return 1;
	}
	fd = udp_socket(&src);
	if (fd == -1) {
		perror("rtp-blast: socket");
		return 1;
	}
	for (unsigned i = 0; i < BATCH; i++)
		memset(pkts[i], 0xd5, sizeof(pkts[i]));
	start = time_mono_ns();
	end = start + (uint64_t)(o->seconds * 1e9);
	while ((now = time_mono_ns()) < end) {
		uint64_t due = (now - start) * o->rate / 1000000000u;
		unsigned k;
		int r;

		if (due > sent + skipped + (uint64_t)o->rate * CATCHUP_MS / 1000)
			skipped = due - sent - (uint64_t)o->rate * CATCHUP_MS / 1000;
		if (due <= sent + skipped) {
			struct timespec ts = { 0, 20000 };

			nanosleep(&ts, NULL);
			continue;
		}
		k = (unsigned)MIN(due - sent - skipped, (uint64_t)BATCH);
		now = time_mono_ns();		/* the batch's send time */
		for (unsigned i = 0; i < k; i++) {
			struct dst *d = &dsts[next];
			uint32_t ts = htonl(d->ts), ssrc = htonl(d->ssrc);

			next = (next + 1) % ndsts;
			pkts[i][0] = 0x80;
			pkts[i][1] = 0;
			pkts[i][2] = (uint8_t)(d->seq >> 8);
			pkts[i][3] = (uint8_t)d->seq;
			memcpy(pkts[i] + 4, &ts, 4);
			memcpy(pkts[i] + 8, &ssrc, 4);
			memcpy(pkts[i] + RTP_STAMP_OFF, &now, 8);
			d->seq++;
			d->ts += 160;
			iov[i].iov_base = pkts[i];
			iov[i].iov_len = o->size;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_name = &d->sa;
			msgs[i].msg_hdr.msg_namelen = net_sa_len(&d->sa);
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		r = sendmmsg(fd, msgs, k, 0);
		if (r == -1) {
			errors++;
			skipped += k;
			continue;
		}
		sent += (unsigned)r;
		skipped += k - (unsigned)r;
	}
	now = time_mono_ns();
	printf("sent=%llu skipped=%llu errors=%llu seconds=%.3f pps=%.0f dsts=%u\n",
	       (unsigned long long)sent, (unsigned long long)skipped, (unsigned long long)errors,
	       (double)(now - start) / 1e9, (double)sent * 1e9 / (double)(now - start), ndsts);
	close(fd);
	return 0;
}

/* Count datagrams on one socket for seconds; print the count and the span they came in. */
static int run_sink(const struct opts *o)
{
	static char bufs[BATCH][PKT_MAX];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage local;
	struct timeval tv = { 0, 100000 };
	uint64_t start, end, first = 0, last = 0, n = 0, bytes = 0, now;
	int fd;

	if (!o->bind || net_sa_from_endpoint(&local, o->bind))
		usage();
	fd = udp_socket(&local);
	if (fd == -1) {
		perror("rtp-blast: sink socket");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	printf("ready\n");
	fflush(stdout);
	start = time_mono_ns();
	end = start + (uint64_t)(o->seconds * 1e9);
	while ((now = time_mono_ns()) < end) {
		int r;

		for (unsigned i = 0; i < BATCH; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = sizeof(bufs[i]);
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		r = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
		if (r <= 0)
			continue;
		now = time_mono_ns();
		if (!n)
			first = now;
		last = now;
		n += (unsigned)r;
		for (int i = 0; i < r; i++)
			bytes += msgs[i].msg_len;
	}
	printf("received=%llu bytes=%llu span=%.3f\n", (unsigned long long)n,
	       (unsigned long long)bytes, n ? (double)(last - first) / 1e9 : 0.0);
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .size = 172, .seconds = 3 };

	if (argc < 2)
		usage();
	o.mode = argv[1];
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *v;

		if (!eq)
			usage();
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(argv[i], "src"))
			o.src = v;
		else if (!strcmp(argv[i], "dst"))
			o.dst = v;
		else if (!strcmp(argv[i], "ports"))
			o.ports = v;
		else if (!strcmp(argv[i], "bind"))
			o.bind = v;
		else if (!strcmp(argv[i], "rate"))
			o.rate = (unsigned)atoi(v);
		else if (!strcmp(argv[i], "size"))
			o.size = (unsigned)atoi(v);
		else if (!strcmp(argv[i], "seconds"))
			o.seconds = atof(v);
		else
			usage();
	}
	if (!strcmp(o.mode, "send"))
		return run_send(&o);
	if (!strcmp(o.mode, "sink"))
		return run_sink(&o);
	usage();
	return 2;
}
