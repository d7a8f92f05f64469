/*
 * priv: privilege separation. Started as root, sbc-webd forks: the parent
 * stays root and only opens two things for the child (the control socket,
 * the trace file), passing descriptors over a socketpair; the child drops
 * to the web user and serves HTTPS. Without root there is one process that
 * opens them itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include "webd_int.h"

#define PRIV_TIMEOUT_S  5     /* the child waits this long for the parent's answer */

/* One message each way, fixed size; a reply carries a descriptor when err is 0. */
struct priv_msg {
	uint32_t op;
	uint32_t seq;
	int32_t err;
};

/* Connect to sbcd's control socket; non-blocking, so a full backlog fails at once (EAGAIN). */
static int ctl_connect(const char *path, int *fdp)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd, err;

	if (len == 0 || len >= sizeof(sa.sun_path))
		return ENAMETOOLONG;
	memcpy(sa.sun_path, path, len);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		err = errno;
		close(fd);
		return err;
	}
	*fdp = fd;
	return 0;
}

/* Open <data_dir>/trace.pcap read-only: a regular file, never through a symbolic link. */
static int trace_open(const char *data_dir, int *fdp)
{
	char path[CONFIG_PATH_MAX + sizeof(WEBD_TRACE_FILE) + 1];
	struct stat st;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", data_dir, WEBD_TRACE_FILE) >= (int)sizeof(path))
		return ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return errno == ELOOP ? ENOENT : errno;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return ENOENT;
	}
	*fdp = fd;
	return 0;
}

/* The one privileged act op names; nothing from the child but op chooses what is opened. */
static int priv_open(const struct sbc_config *cfg, uint32_t op, int *fdp)
{
	switch (op) {
	case WEBD_PRIV_CTL:
		return ctl_connect(cfg->general.control_socket, fdp);
	case WEBD_PRIV_TRACE:
		return trace_open(cfg->general.data_dir, fdp);
	default:
		return EINVAL;
	}
}

/* The answer to the child, with fd attached when it is one (>= 0). */
static int send_reply(int sp, const struct priv_msg *m, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)m, .iov_len = sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	return sendmsg(sp, &mh, MSG_NOSIGNAL) == -1 ? errno : 0;
}

/*
 * One request from the child: exactly one struct priv_msg (a message of
 * another size, or an unknown op, gets EINVAL and is logged). Descriptors
 * the child might send are discarded by the kernel (no control buffer).
 */
static void parent_serve(const struct sbc_config *cfg, int sp)
{
	char buf[sizeof(struct priv_msg) + 1];
	struct priv_msg m;
	ssize_t n = recv(sp, buf, sizeof(buf), MSG_TRUNC | MSG_DONTWAIT);
	int fd = -1;

	if (n == -1 || n == 0)
		return;
	if ((size_t)n != sizeof(m)) {
		log_error("privsep: a message of %zd bytes from the child (want %zu): refused", n,
			  sizeof(m));
		memset(&m, 0, sizeof(m));
		m.err = EINVAL;
		send_reply(sp, &m, -1);
		return;
	}
	memcpy(&m, buf, sizeof(m));
	if (m.op != WEBD_PRIV_CTL && m.op != WEBD_PRIV_TRACE)
		log_error("privsep: unknown request %u from the child: refused", m.op);
	m.err = priv_open(cfg, m.op, &fd);
	if (m.err)
		fd = -1;
	send_reply(sp, &m, fd);
	if (fd >= 0)
		close(fd);
}

/* The child's exit status as the parent's: its code, or 1 when a signal ended it. */
static int child_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		log_error("privsep: the child was killed by signal %d", WTERMSIG(st));
	return WEBD_EXIT_FAIL;
}

/*
 * The parent's whole life after the fork: answer the child, pass SIGTERM
 * and SIGINT on to it, and return the child's status once it exits.
 */
static int parent_loop(const struct sbc_config *cfg, pid_t child, int sp, const sigset_t *mask)
{
	struct pollfd pfd[2] = { { .fd = sp, .events = POLLIN }, { .events = POLLIN } };
	int st;

	pfd[1].fd = signalfd(-1, mask, SFD_CLOEXEC);
	if (pfd[1].fd == -1) {
		log_error("privsep: signalfd: %s", strerror(errno));
		kill(child, SIGTERM);
		waitpid(child, &st, 0);
		return WEBD_EXIT_FAIL;
	}
	for (;;) {
		if (poll(pfd, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			log_error("privsep: poll: %s", strerror(errno));
			kill(child, SIGTERM);
			waitpid(child, &st, 0);
			return WEBD_EXIT_FAIL;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			if (read(pfd[1].fd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
			    (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT))
				kill(child, (int)si.ssi_signo);
			if (waitpid(child, &st, WNOHANG) == child) {
				close(pfd[1].fd);
				return child_status(st);
			}
		}
		if (pfd[0].revents & POLLIN)
			parent_serve(cfg, sp);
		else if (pfd[0].revents & (POLLHUP | POLLERR))
			pfd[0].fd = -1;   /* the child is going: wait for SIGCHLD */
	}
}

/*
 * Become the web user for good: groups, gid, uid (real, effective and
 * saved), then make sure root cannot come back and no exec can raise
 * privileges again.
 */
static int drop_privileges(const struct webd *w)
{
	if (initgroups(w->user, w->gid) == -1 || setresgid(w->gid, w->gid, w->gid) == -1 ||
	    setresuid(w->uid, w->uid, w->uid) == -1) {
		log_error("cannot drop to user %s: %s", w->user, strerror(errno));
		return EPERM;
	}
	if (setuid(0) != -1 || seteuid(0) != -1 || setgid(0) != -1) {
		log_error("dropped to user %s but could regain root: stopping", w->user);
		return EPERM;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		log_error("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
		return EPERM;
	}
	return 0;
}

/*
 * Split into the privileged parent and the serving child (only when
 * w->privsep). Returns 0 in the process that is to serve (the child, or
 * the only process), with *parent false; in the parent, once the child
 * has exited, 0 with *parent true and *exit_code the child's. An errno
 * value when the split or the drop failed.
 */
int webd_priv_split(struct webd *w, bool *parent, int *exit_code)
{
	struct timeval tv = { .tv_sec = PRIV_TIMEOUT_S };
	sigset_t mask, old;
	pid_t me = getpid(), pid;
	int sv[2], err;

	*parent = false;
	if (!w->privsep)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1) {
		log_error("privsep: socketpair: %s", strerror(errno));
		return errno;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, &old);
	pid = fork();
	if (pid == -1) {
		err = errno;
		log_error("privsep: fork: %s", strerror(err));
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid > 0) {
		close(sv[1]);
		close(w->listen_fd);
		close(w->root_fd);
		close(w->state_fd);
		w->listen_fd = w->root_fd = w->state_fd = -1;
		SSL_CTX_free(w->tls);
		w->tls = NULL;
		OPENSSL_cleanse(w->setup_token, sizeof(w->setup_token));
		OPENSSL_cleanse(w->metrics_token, sizeof(w->metrics_token));
		OPENSSL_cleanse(w->pw_line, sizeof(w->pw_line));
		OPENSSL_cleanse(&w->skey, sizeof(w->skey));
		log_debug("privsep: child %d serves as %s; this process (root) only opens for it",
			  (int)pid, w->user);
		*parent = true;
		*exit_code = parent_loop(w->cfg, pid, sv[0], &mask);
		close(sv[0]);
		return 0;
	}
	close(sv[0]);
	w->priv_fd = sv[1];
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != me)
		_exit(WEBD_EXIT_FAIL);   /* the parent died before we could tell */
	sigprocmask(SIG_SETMASK, &old, NULL);
	err = drop_privileges(w);
	if (err)
		return err;
	setsockopt(w->priv_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	log_info("serving as user %s (uid %u); the root parent opens the control socket and "
		 "the trace file", w->user, (unsigned)w->uid);
	return 0;
}

/* The descriptor of a reply, if it carries exactly one. */
static int cmsg_fd(struct msghdr *mh)
{
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	int fd = -1;

	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/*
 * A descriptor for op: the control socket connected, or the trace file
 * open. Through the parent with privsep (it blocks at most PRIV_TIMEOUT_S;
 * the parent answers at once), else directly. 0 with *fdp, or an errno
 * value (ENOENT: no trace file; ECONNREFUSED, ENOENT: no sbcd).
 */
int webd_priv_fd(struct webd *w, enum webd_priv_op op, int *fdp)
{
	static uint32_t seq;
	struct priv_msg m = { .op = op, .seq = ++seq };

	if (w->priv_fd < 0)
		return priv_open(w->cfg, op, fdp);
	if (send(w->priv_fd, &m, sizeof(m), MSG_NOSIGNAL) != (ssize_t)sizeof(m))
		return EIO;
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		struct priv_msg r;
		struct iovec iov = { .iov_base = &r, .iov_len = sizeof(r) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		ssize_t n = recvmsg(w->priv_fd, &mh, MSG_CMSG_CLOEXEC);
		int fd;

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || n == 0) {
			log_error("privsep: no answer from the parent: %s",
				  n ? strerror(errno) : "it has gone");
			return EIO;
		}
		fd = cmsg_fd(&mh);
		if ((size_t)n != sizeof(r) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
			if (fd >= 0)
				close(fd);
			return EPROTO;
		}
		if (r.seq != m.seq) {   /* a late answer to a request that timed out */
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (r.err || fd < 0) {
			if (fd >= 0)
				close(fd);
			return r.err ? r.err : EPROTO;
		}
		*fdp = fd;
		return 0;
	}
}
