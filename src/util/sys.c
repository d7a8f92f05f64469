/* sys: monotonic time and atomic file writes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

uint64_t time_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t time_mono_ms(void)
{
	return time_mono_ns() / 1000000u;
}

/* Write all of data to fd, again after EINTR. 0 or an errno value. */
static int fd_write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Replace name in the folder dirfd with data so that a crash leaves either
 * the old or the new file, never a mix: NAME.tmp.PID beside it (made anew
 * with mode, never through a symbolic link; a stale one is removed first),
 * fsync, renameat, fsync the folder. Returns 0 or an errno value.
 */
int file_write_atomic_at(int dirfd, const char *name, const void *data, size_t len,
			 unsigned mode)
{
	char tmp[PATH_MAX];
	int fd, err;

	if (!*name)
		return EINVAL;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", name, (long)getpid()) >= (int)sizeof(tmp))
		return ENAMETOOLONG;
	unlinkat(dirfd, tmp, 0);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd == -1)
		return errno;
	err = fd_write_all(fd, data, len);
	if (!err && fsync(fd) == -1)
		err = errno;
	if (close(fd) == -1 && !err)
		err = errno;
	if (!err && renameat(dirfd, tmp, dirfd, name) == -1)
		err = errno;
	if (err) {
		unlinkat(dirfd, tmp, 0);
		return err;
	}
	fsync(dirfd);
	return 0;
}

/*
 * file_write_atomic_at() for a path: its folder is opened (O_PATH when it
 * may not be read: then it is not fsynced) and the last component written.
 */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	int dfd, err;

	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if ((size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	} else {
		return ENAMETOOLONG;
	}
	dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 && errno == EACCES)
		dfd = open(dir[0] ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1)
		return errno;
	err = file_write_atomic_at(dfd, slash ? slash + 1 : path, data, len, mode);
	close(dfd);
	return err;
}

/*
 * Read the regular file open at fd (at most max bytes) into a new buffer
 * (mem_zalloc'd, NUL-terminated after the last byte) sized to the file; the
 * one read loop of file_read_max() and file_read_max_at(). fd stays open.
 */
static int fd_read_max(int fd, size_t max, char **bufp, size_t *lenp, struct stat *st)
{
	size_t len = 0, cap;
	char *buf;
	int err = 0;

	if (fstat(fd, st) == -1)
		return errno;
	if (!S_ISREG(st->st_mode))
		return EINVAL;
	if ((uint64_t)st->st_size > max)
		return EFBIG;
	/* one byte more than the file: reading it means the file grew */
	cap = (size_t)st->st_size + 1;
	buf = mem_zalloc(cap + 1, NULL);
	if (!buf)
		return ENOMEM;
	while (len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			err = n ? errno : 0;
			break;
		}
		len += (size_t)n;
	}
	if (!err && len == cap)
		err = len > max ? EFBIG : EAGAIN;
	if (err) {
		mem_deref(buf);
		return err;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
}

/* fd_read_max() on fd (-1: open's errno) and what file_read_max() promises of fdp and stp. */
static int fd_read_max_keep(int fd, size_t max, char **bufp, size_t *lenp, int *fdp,
			    struct stat *stp)
{
	struct stat st;
	int err;

	if (fd == -1)
		return errno;
	err = fd_read_max(fd, max, bufp, lenp, &st);
	if (!err && stp)
		*stp = st;
	if (!err && fdp)
		*fdp = fd;
	else
		close(fd);
	return err;
}

/*
 * Read a whole regular file of at most max bytes into a new buffer
 * (mem_zalloc'd, NUL-terminated after the last byte; mem_deref it) sized to
 * the file. O_NONBLOCK so that a FIFO cannot hang the open: it is refused as
 * not a regular file. If fdp is not NULL the file stays open there (the
 * caller closes it); if stp is not NULL it gets the file's fstat. Errors:
 * open's or read's errno, EINVAL (not a regular file), EFBIG (larger than
 * max), EAGAIN (it grew while being read), ENOMEM.
 */
int file_read_max(const char *path, size_t max, char **bufp, size_t *lenp, int *fdp,
		  struct stat *stp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	return fd_read_max_keep(fd, max, bufp, lenp, fdp, stp);
}

/*
 * file_read_max() of name in the folder dirfd, never through a symbolic
 * link: a link at name is EINVAL, as any file that is not a regular one.
 */
int file_read_max_at(int dirfd, const char *name, size_t max, char **bufp, size_t *lenp,
		     int *fdp, struct stat *stp)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW);

	if (fd == -1 && errno == ELOOP)
		return EINVAL;
	return fd_read_max_keep(fd, max, bufp, lenp, fdp, stp);
}
