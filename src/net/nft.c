/*
 * nft: running `nft -f -` with a script on its stdin, for the modules that
 * keep a table of their own (the guard's bans, the bypass zones' ingress
 * drop). posix_spawn, no shell.
 */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net.h"

extern char **environ;

static const char *const nft_paths[] = { "/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft" };

const char *net_nft_bin(void)
{
	for (size_t i = 0; i < sizeof(nft_paths) / sizeof(nft_paths[0]); i++) {
		if (access(nft_paths[i], X_OK) == 0)
			return nft_paths[i];
	}
	return NULL;
}

int net_nft_spawn(const char *bin, int *wfd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	char *argv[] = { (char *)bin, (char *)"-f", (char *)"-", NULL };
	int p[2], err;

	if (pipe2(p, O_CLOEXEC) == -1)
		return errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0], 0);
	err = posix_spawn(pid, bin, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	if (err) {
		close(p[1]);
		return err;
	}
	*wfd = p[1];
	return 0;
}

int net_nft_run(const char *bin, const char *script)
{
	size_t off = 0, len = strlen(script);
	int fd, status, err;
	pid_t pid;

	if (!bin && !(bin = net_nft_bin()))
		return ENOENT;
	err = net_nft_spawn(bin, &fd, &pid);
	if (err)
		return err;
	while (off < len) {
		ssize_t w = write(fd, script + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	close(fd);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	return off == len && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : EIO;
}
