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

/*
 * Replace path with data so that a crash leaves either the old or the new
 * file, never a mix: write a temp file beside it, fsync, rename, fsync the
 * folder. Returns 0 or an errno value.
 */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *p = data, *slash;
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd == -1)
		return errno;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n == -1) {
			if (errno == EINTR)
				continue;
			err = errno;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
	if (!err && fsync(fd) == -1)
		err = errno;
	if (close(fd) == -1 && !err)
		err = errno;
	if (!err && rename(tmp, path) == -1)
		err = errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	slash = strrchr(path, '/');
	if (slash && (size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
	} else {
		dir[0] = '.';
		dir[1] = '\0';
	}
	fd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1) {
		fsync(fd);
		close(fd);
	}
	return 0;
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
	struct stat st;
	size_t len = 0, cap;
	char *buf;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1)
		return errno;
	if (fstat(fd, &st) == -1) {
		err = errno;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		err = EINVAL;
		goto out_close;
	}
	if ((uint64_t)st.st_size > max) {
		err = EFBIG;
		goto out_close;
	}
	/* one byte more than the file: reading it means the file grew */
	cap = (size_t)st.st_size + 1;
	buf = mem_zalloc(cap + 1, NULL);
	if (!buf) {
		err = ENOMEM;
		goto out_close;
	}
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
		goto out_close;
	}
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	if (stp)
		*stp = st;
	if (fdp) {
		*fdp = fd;
		return 0;
	}
 out_close:
	close(fd);
	return err;
}
