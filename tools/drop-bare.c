/* drop-bare: the ceiling for bench-flood: one UDP socket, recvmmsg batches, everything dropped. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"

enum { BATCH = 64, SLOT = 2048, MAX_SECONDS = 86400 };

static volatile sig_atomic_t stopping;

static void stop_h(int sig)
{
	(void)sig;
	stopping = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: drop-bare --bind IP:PORT [--rcvbuf BYTES] [--seconds S] [--quiet]\n"
		"\n"
		"Binds a UDP socket and reads it in recvmmsg batches (%d x %d bytes),\n"
		"dropping every datagram: the most one core can drain. Prints a line a\n"
		"second on stdout, \"t=SECONDS pps=RATE total=N\", and at SIGINT/SIGTERM\n"
		"(or after --seconds) \"received=N seconds=S rate=PPS\".\n"
		"\n"
		"  -b, --bind IP:PORT    address to bind (IPv4 or [IPv6]:port)\n"
		"  -r, --rcvbuf BYTES    SO_RCVBUF (default 4194304; capped by net.core.rmem_max)\n"
		"  -t, --seconds S       stop after S seconds (default 600, at most %d)\n"
		"  -q, --quiet           no per-second lines\n"
		"  -h, --help            this text\n", BATCH, SLOT, MAX_SECONDS);
}

/* "a.b.c.d:port" or "[v6]:port" */
static bool parse_bind(struct sockaddr_storage *ss, socklen_t *len, const char *s)
{
	char ip[INET6_ADDRSTRLEN];
	const char *colon = strrchr(s, ':'), *host = s;
	size_t n;
	char *end;
	unsigned long port;

	if (!colon)
		return false;
	n = (size_t)(colon - s);
	if (*s == '[') {
		if (n < 2 || s[n - 1] != ']')
			return false;
		host = s + 1;
		n -= 2;
	}
	if (n >= sizeof(ip))
		return false;
	memcpy(ip, host, n);
	ip[n] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || !colon[1] || port > 65535)
		return false;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in);
		return true;
	}
	if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*len = sizeof(struct sockaddr_in6);
		return true;
	}
	return false;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bind", required_argument, NULL, 'b' },
		{ "rcvbuf", required_argument, NULL, 'r' },
		{ "seconds", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char slots[BATCH][SLOT];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	struct timeval tv = { 0, 100000 };
	struct sigaction sa;
	const char *bind_text = NULL;
	uint64_t t0, now, end, next, total = 0, last_total = 0, last_t;
	double seconds = 600;
	int c, fd, rcvbuf = 4 * 1024 * 1024, got;
	socklen_t optlen = sizeof(got);
	bool quiet = false;
	char *e;

	while ((c = getopt_long(argc, argv, "b:r:t:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			bind_text = optarg;
			if (!parse_bind(&ss, &sslen, optarg)) {
				fprintf(stderr, "drop-bare: --bind %s: not IP:PORT\n", optarg);
				return 2;
			}
			break;
		case 'r':
			errno = 0;
			rcvbuf = (int)strtol(optarg, &e, 10);
			if (errno || *e || rcvbuf < 1024) {
				fprintf(stderr, "drop-bare: --rcvbuf %s: bytes, at least 1024\n", optarg);
				return 2;
			}
			break;
		case 't':
			errno = 0;
			seconds = strtod(optarg, &e);
			if (errno || *e || !(seconds > 0 && seconds <= MAX_SECONDS)) {
				fprintf(stderr, "drop-bare: --seconds %s: from 0 to %d\n", optarg,
					MAX_SECONDS);
				return 2;
			}
			break;
		case 'q':
			quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!bind_text || optind < argc) {
		usage(stderr);
		return 2;
	}
	fd = socket(ss.ss_family, SOCK_DGRAM, 0);
	if (fd == -1) {
		fprintf(stderr, "drop-bare: socket: %s\n", strerror(errno));
		return 1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1) {
		fprintf(stderr, "drop-bare: setsockopt: %s\n", strerror(errno));
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&ss, sslen) == -1) {
		fprintf(stderr, "drop-bare: bind %s: %s\n", bind_text, strerror(errno));
		return 1;
	}
	getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &optlen);
	for (unsigned i = 0; i < BATCH; i++) {
		iov[i].iov_base = slots[i];
		iov[i].iov_len = SLOT;
		memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = stop_h;       /* no SA_RESTART: recvmmsg returns EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("ready bind=%s rcvbuf=%d\n", bind_text, got);
	fflush(stdout);

	t0 = last_t = time_mono_ns();
	end = t0 + (uint64_t)(seconds * 1e9);
	next = t0 + 1000000000u;
	while (!stopping) {
		int r = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);

		if (r > 0)
			total += (unsigned)r;
		else if (r == -1 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			fprintf(stderr, "drop-bare: recvmmsg: %s\n", strerror(errno));
			break;
		}
		now = time_mono_ns();
		if (now >= next) {
			if (!quiet) {
				printf("t=%.1f pps=%.0f total=%" PRIu64 "\n", (double)(now - t0) / 1e9,
				       (double)(total - last_total) * 1e9 / (double)(now - last_t), total);
				fflush(stdout);
			}
			last_t = now;
			last_total = total;
			next += 1000000000u;
			if (next <= now)
				next = now + 1000000000u;
		}
		if (now >= end)
			break;
	}
	now = time_mono_ns();
	printf("received=%" PRIu64 " seconds=%.3f rate=%.0f\n", total, (double)(now - t0) / 1e9,
	       now > t0 ? (double)total * 1e9 / (double)(now - t0) : 0.0);
	fflush(stdout);
	close(fd);
	return 0;
}
