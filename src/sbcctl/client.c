/* client.c: sbcctl's exchange with sbcd: one request line out, one response line back. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "sbcctl.h"

#define SBCCTL_RESP_MAX   (64u * 1024 * 1024)  /* bytes of one response line */
#define SBCCTL_BUF_START  (64u * 1024)

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left before deadline, for poll(); 0 when past it. */
static int ms_left(double deadline)
{
	double left = deadline - mono_now();

	if (left <= 0)
		return 0;
	if (left > INT_MAX / 1000.0)
		return INT_MAX;
	return (int)(left * 1000.0) + 1;
}

/* Wait for events on fd until deadline: 0, ETIMEDOUT or an errno. */
static int wait_fd(int fd, short events, double deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		int ms = ms_left(deadline);
		int n;

		if (ms == 0)
			return ETIMEDOUT;
		n = poll(&p, 1, ms);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (n > 0)
			return 0;
	}
}

/* Connect to path (non-blocking socket) before deadline; *fdp on success. */
static int sock_connect(int *fdp, const char *path, double deadline)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len = strlen(path);
	int fd, e;

	if (len == 0 || len >= sizeof(sa.sun_path))
		return ENAMETOOLONG;
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return errno;
	for (;;) {
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		e = errno;
		if (e == EINTR)
			continue;
		if (e == EINPROGRESS) {
			socklen_t sl = sizeof(e);

			e = wait_fd(fd, POLLOUT, deadline);
			if (!e && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) == -1)
				e = errno;
			if (e)
				goto out_close;
			break;
		}
		if (e != EAGAIN)   /* a unix socket's backlog is full: try again */
			goto out_close;
		if (ms_left(deadline) == 0) {
			e = ETIMEDOUT;
			goto out_close;
		}
		poll(NULL, 0, 10);
	}
	*fdp = fd;
	return 0;

out_close:
	close(fd);
	return e;
}

static int sock_send(int fd, const char *buf, size_t len, double deadline)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n == -1) {
			int e = errno;

			if (e == EINTR)
				continue;
			if (e != EAGAIN && e != EWOULDBLOCK)
				return e;
			e = wait_fd(fd, POLLOUT, deadline);
			if (e)
				return e;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read one line (the response) before deadline. On success *linep (to
 * free) holds it NUL-terminated without its "\n" and *lenp its length.
 * ENODATA: closed before a full line; EMSGSIZE: longer than SBCCTL_RESP_MAX.
 */
static int sock_recv_line(int fd, char **linep, size_t *lenp, double deadline)
{
	size_t cap = SBCCTL_BUF_START, len = 0;
	char *buf = malloc(cap + 1);
	int e;

	if (!buf)
		return ENOMEM;
	for (;;) {
		ssize_t n;
		char *nl;

		if (len == cap) {
			size_t ncap = cap * 2 > SBCCTL_RESP_MAX + 1 ? SBCCTL_RESP_MAX + 1 : cap * 2;
			char *nb;

			if (ncap <= cap) {
				e = EMSGSIZE;
				goto out_free;
			}
			nb = realloc(buf, ncap + 1);
			if (!nb) {
				e = ENOMEM;
				goto out_free;
			}
			buf = nb;
			cap = ncap;
		}
		n = recv(fd, buf + len, cap - len, 0);
		if (n == -1) {
			e = errno;
			if (e == EINTR)
				continue;
			if (e != EAGAIN && e != EWOULDBLOCK)
				goto out_free;
			e = wait_fd(fd, POLLIN, deadline);
			if (e)
				goto out_free;
			continue;
		}
		if (n == 0) {
			e = ENODATA;
			goto out_free;
		}
		nl = memchr(buf + len, '\n', (size_t)n);
		len += (size_t)n;
		if (nl) {
			len = (size_t)(nl - buf);
			if (len > SBCCTL_RESP_MAX) {
				e = EMSGSIZE;
				goto out_free;
			}
			buf[len] = '\0';
			*linep = buf;
			*lenp = len;
			return 0;
		}
		if (len > SBCCTL_RESP_MAX) {
			e = EMSGSIZE;
			goto out_free;
		}
	}

out_free:
	free(buf);
	return e;
}

/*
 * The request line {"cmd": cmd, "args": args} (args borrowed, may be NULL),
 * "\n" included: *textp (to free) and *lenp. ENOMEM; E2BIG when longer
 * than sbcd takes (CTL_LINE_MAX bytes before the "\n").
 */
int ctl_encode(const char *cmd, json_t *args, char **textp, size_t *lenp)
{
	json_t *req = json_pack("{s:s}", "cmd", cmd);
	char *text;
	size_t len;

	if (!req || (args && json_object_set(req, "args", args))) {
		json_decref(req);
		return ENOMEM;
	}
	text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text)
		return ENOMEM;
	len = strlen(text);
	if (len > CTL_LINE_MAX) {
		free(text);
		return E2BIG;
	}
	text[len] = '\n';   /* json_dumps' NUL becomes the line end */
	*textp = text;
	*lenp = len + 1;
	return 0;
}

/*
 * Send {"cmd": cmd, "args": args} (args borrowed, may be NULL) and read the
 * answer. Returns EXIT_OKAY with *resultp (a new reference, JSON null for a
 * result of null) or the exit code, the message already printed.
 */
int ctl_call(const struct opts *o, const char *cmd, json_t *args, json_t **resultp)
{
	double deadline = mono_now() + o->timeout_s;
	json_t *resp, *ok, *res;
	json_error_t jerr;
	char *text, *line = NULL;
	size_t tlen, llen = 0;
	int fd = -1, e, rc;

	e = ctl_encode(cmd, args, &text, &tlen);
	if (e == E2BIG)
		return usage_error("%s: the request is longer than %d bytes", cmd, CTL_LINE_MAX);
	if (e) {
		fprintf(stderr, "sbcctl: %s: out of memory\n", cmd);
		return EXIT_FAILED;
	}

	e = sock_connect(&fd, o->socket, deadline);
	if (e) {
		free(text);
		if (e == ETIMEDOUT)
			fprintf(stderr, "sbcctl: cannot connect to %s: no connection within %g s\n",
				o->socket, o->timeout_s);
		else
			fprintf(stderr, "sbcctl: cannot connect to %s: %s\n", o->socket,
				strerror(e));
		return EXIT_UNREACHED;
	}
	e = sock_send(fd, text, tlen, deadline);
	free(text);
	if (!e)
		e = sock_recv_line(fd, &line, &llen, deadline);
	close(fd);
	switch (e) {
	case 0:
		break;
	case ETIMEDOUT:
		fprintf(stderr, "sbcctl: %s: %s: no answer within %g s\n", o->socket, cmd,
			o->timeout_s);
		return EXIT_UNREACHED;
	case ENODATA:
		fprintf(stderr, "sbcctl: %s: %s: connection closed without an answer\n",
			o->socket, cmd);
		return EXIT_UNREACHED;
	case EMSGSIZE:
		fprintf(stderr, "sbcctl: %s: malformed response: longer than %u bytes\n", cmd,
			SBCCTL_RESP_MAX);
		return EXIT_MALFORMED;
	case ENOMEM:
		fprintf(stderr, "sbcctl: %s: out of memory\n", cmd);
		return EXIT_FAILED;
	default:
		fprintf(stderr, "sbcctl: %s: %s: %s\n", o->socket, cmd, strerror(e));
		return EXIT_UNREACHED;
	}
	if (llen && line[llen - 1] == '\r')
		line[--llen] = '\0';
	/* a NUL is allowed in strings: config.get of a file holding one */
	resp = json_loadb(line, llen, JSON_ALLOW_NUL, &jerr);
	free(line);
	if (!resp) {
		fprintf(stderr, "sbcctl: %s: malformed response: %s (column %d)\n", cmd, jerr.text,
			jerr.column);
		return EXIT_MALFORMED;
	}
	rc = EXIT_MALFORMED;
	ok = json_object_get(resp, "ok");
	if (!json_is_object(resp)) {
		fprintf(stderr, "sbcctl: %s: malformed response: not a JSON object\n", cmd);
	} else if (!json_is_boolean(ok)) {
		fprintf(stderr, "sbcctl: %s: malformed response: no boolean \"ok\"\n", cmd);
	} else if (json_is_false(ok)) {
		const json_t *err = json_object_get(resp, "error");
		const char *msg = json_is_string(err) ? json_string_value(err) : "(no message)";

		fputs("sbcctl: ", stderr);
		fputs(cmd, stderr);
		fputs(": ", stderr);
		for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
			fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, stderr);
		fputc('\n', stderr);
		rc = EXIT_FAILED;
	} else if (!(res = json_object_get(resp, "result"))) {
		fprintf(stderr, "sbcctl: %s: malformed response: no \"result\"\n", cmd);
	} else {
		*resultp = json_incref(res);
		rc = EXIT_OKAY;
	}
	json_decref(resp);
	return rc;
}
