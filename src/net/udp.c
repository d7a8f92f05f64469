/* udp: a zone's UDP socket, drained with recvmmsg in batches, on libevent. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

struct net_udp {
	int fd;
	struct event *ev;
	net_udp_recv_h *rh;
	void *arg;
	struct net_udp_stats stats;
	struct mmsghdr msgs[NET_UDP_BATCH];
	struct iovec iov[NET_UDP_BATCH];
	struct sockaddr_storage from[NET_UDP_BATCH];
	char (*slots)[NET_UDP_SLOT];
};

enum { UDP_RCVBUF = 4 * 1024 * 1024, UDP_MAX_BATCHES_PER_EVENT = 8 };

static void udp_destroy(void *data)
{
	struct net_udp *u = data;

	if (u->ev)
		event_free(u->ev);
	if (u->fd != -1)
		close(u->fd);
	free(u->slots);
}

/*
 * Drain the socket: up to UDP_MAX_BATCHES_PER_EVENT recvmmsg calls per
 * wake-up, so one busy socket cannot starve the rest of the loop.
 */
static void udp_readable(evutil_socket_t fd, short what, void *arg)
{
	struct net_udp *u = arg;

	(void)what;
	for (int b = 0; b < UDP_MAX_BATCHES_PER_EVENT; b++) {
		int n;

		for (int i = 0; i < NET_UDP_BATCH; i++) {
			u->iov[i].iov_base = u->slots[i];
			u->iov[i].iov_len = NET_UDP_SLOT;
			memset(&u->msgs[i].msg_hdr, 0, sizeof(u->msgs[i].msg_hdr));
			u->msgs[i].msg_hdr.msg_name = &u->from[i];
			u->msgs[i].msg_hdr.msg_namelen = sizeof(u->from[i]);
			u->msgs[i].msg_hdr.msg_iov = &u->iov[i];
			u->msgs[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(fd, u->msgs, NET_UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("udp: recvmmsg: %s", strerror(errno));
			return;
		}
		u->stats.rx_batches++;
		for (int i = 0; i < n; i++) {
			size_t len = u->msgs[i].msg_len;
			bool trunc = (u->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;

			u->stats.rx_packets++;
			u->stats.rx_bytes += len;
			u->rh(&u->from[i], u->slots[i], MIN(len, (size_t)NET_UDP_SLOT), trunc,
			      u->arg);
		}
		if (n < NET_UDP_BATCH)
			return;
	}
}

/* Bind a UDP socket to local and start receiving into rh. */
int net_udp_alloc(struct net_udp **up, struct event_base *base,
		  const struct sockaddr_storage *local, net_udp_recv_h *rh, void *arg)
{
	struct net_udp *u;
	int one = 1, rcvbuf = UDP_RCVBUF, err;

	u = mem_zalloc(sizeof(*u), udp_destroy);
	if (!u)
		return ENOMEM;
	u->fd = -1;
	u->rh = rh;
	u->arg = arg;
	u->slots = malloc(sizeof(*u->slots) * NET_UDP_BATCH);
	if (!u->slots) {
		err = ENOMEM;
		goto out_free;
	}
	u->fd = socket(local->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (u->fd == -1) {
		err = errno;
		goto out_free;
	}
	setsockopt(u->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (local->ss_family == AF_INET6)
		setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(u->fd, (const struct sockaddr *)local, net_sa_len(local)) == -1) {
		err = errno;
		goto out_free;
	}
	u->ev = event_new(base, u->fd, EV_READ | EV_PERSIST, udp_readable, u);
	if (!u->ev || event_add(u->ev, NULL) == -1) {
		err = ENOMEM;
		goto out_free;
	}
	*up = u;
	return 0;

 out_free:
	mem_deref(u);
	return err;
}

int net_udp_send(struct net_udp *u, const struct sockaddr_storage *dst, const void *data,
		 size_t len)
{
	ssize_t n = sendto(u->fd, data, len, MSG_DONTWAIT, (const struct sockaddr *)dst,
			   net_sa_len(dst));

	if (n == -1) {
		u->stats.tx_errors++;
		return errno;
	}
	u->stats.tx_packets++;
	u->stats.tx_bytes += (size_t)n;
	return 0;
}

const struct net_udp_stats *net_udp_stats(const struct net_udp *u)
{
	return &u->stats;
}

/* The address the socket is bound to (the port the kernel chose for port 0). */
int net_udp_local(const struct net_udp *u, struct sockaddr_storage *sa)
{
	socklen_t len = sizeof(*sa);

	return getsockname(u->fd, (struct sockaddr *)sa, &len) == -1 ? errno : 0;
}
