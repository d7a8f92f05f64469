/* relay-bare: the ceiling for bench-rtp: one socket in, one out, recvmmsg/sendmmsg, no per-stream work. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net.h"
#include "util/util.h"

enum { BATCH = 32, SLOT = 2048 };

static volatile sig_atomic_t stopping;

static void stop_h(int sig)
{
	(void)sig;
	stopping = 1;
}

static int bound_socket(const struct sockaddr_storage *sa)
{
	int fd = socket(sa->ss_family, SOCK_DGRAM, 0), buf = 4 * 1024 * 1024;

	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(fd, (const struct sockaddr *)sa, net_sa_len(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * relay-bare IN_IP:PORT OUT_IP:PORT TO_IP:PORT SECONDS: relay everything
 * that reaches IN out of OUT to TO, for SECONDS, then print the counters.
 */
int main(int argc, char **argv)
{
	static char slots[BATCH][SLOT];
	struct mmsghdr rx[BATCH], tx[BATCH];
	struct iovec iov[BATCH];
	struct sockaddr_storage in, out, to;
	struct timeval tv = { 0, 100000 };
	struct rusage ru;
	uint64_t end, received = 0, relayed = 0, errors = 0;
	int ifd, ofd;

	if (argc != 5 || net_sa_from_endpoint(&in, argv[1]) || net_sa_from_endpoint(&out, argv[2]) ||
	    net_sa_from_endpoint(&to, argv[3])) {
		fprintf(stderr, "usage: relay-bare IN_IP:PORT OUT_IP:PORT TO_IP:PORT SECONDS\n");
		return 2;
	}
	ifd = bound_socket(&in);
	ofd = bound_socket(&out);
	if (ifd == -1 || ofd == -1) {
		perror("relay-bare: bind");
		return 1;
	}
	setsockopt(ifd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (unsigned i = 0; i < BATCH; i++) {
		iov[i].iov_base = slots[i];
		iov[i].iov_len = SLOT;
		memset(&rx[i], 0, sizeof(rx[i]));
		rx[i].msg_hdr.msg_iov = &iov[i];
		rx[i].msg_hdr.msg_iovlen = 1;
		memset(&tx[i], 0, sizeof(tx[i]));
		tx[i].msg_hdr.msg_name = &to;
		tx[i].msg_hdr.msg_namelen = net_sa_len(&to);
		tx[i].msg_hdr.msg_iov = &iov[i];
		tx[i].msg_hdr.msg_iovlen = 1;
	}
	signal(SIGTERM, stop_h);
	printf("ready\n");
	fflush(stdout);
	end = time_mono_ms() + (uint64_t)(atof(argv[4]) * 1000);
	while (!stopping && time_mono_ms() < end) {
		int n = recvmmsg(ifd, rx, BATCH, MSG_WAITFORONE, NULL), done = 0;

		if (n <= 0)
			continue;
		received += (unsigned)n;
		for (int i = 0; i < n; i++)
			iov[i].iov_len = rx[i].msg_len;
		while (done < n) {
			int r = sendmmsg(ofd, tx + done, (unsigned)(n - done), 0);

			if (r == -1) {
				errors += (unsigned)(n - done);
				break;
			}
			done += r;
		}
		relayed += (unsigned)done;
		for (int i = 0; i < n; i++)
			iov[i].iov_len = SLOT;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("received=%llu relayed=%llu tx_errors=%llu utime=%.2f stime=%.2f\n",
	       (unsigned long long)received, (unsigned long long)relayed,
	       (unsigned long long)errors, (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	return 0;
}
