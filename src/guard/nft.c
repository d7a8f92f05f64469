/*
 * nft: banned sources dropped by the kernel (nftables), so that they cost
 * not even a socket wake-up. A table of our own with one set per family;
 * changes are queued and handed to `nft -f -` in batches by a child process
 * the loop never waits for.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/net.h"
#include "guard_int.h"

enum { NFT_QUEUE = 60 * 1024 };   /* fits a pipe's buffer */

struct guard_nft {
	const char *bin;
	pid_t child;
	bool up;                  /* the table is ours to remove */
	size_t len;
	bool overflow;
	char queue[NFT_QUEUE];
};

static void nft_destroy(void *data)
{
	struct guard_nft *n = data;

	if (n->child > 0) {
		kill(n->child, SIGTERM);
		waitpid(n->child, NULL, 0);
	}
	if (n->up && net_nft_run(n->bin, "delete table inet sbc_guard\n"))
		log_warn("guard: could not remove the nftables table sbc_guard");
}

int guard_nft_alloc(struct guard_nft **np, const char *ifname)
{
	struct guard_nft *n;
	char script[1024];
	int err;

	n = mem_zalloc(sizeof(*n), nft_destroy);
	if (!n)
		return ENOMEM;
	n->bin = net_nft_bin();
	if (!n->bin) {
		mem_deref(n);
		return ENOENT;
	}
	snprintf(script, sizeof(script),
		 "add table inet sbc_guard\n"
		 "delete table inet sbc_guard\n"
		 "table inet sbc_guard {\n"
		 " set ban4 { type ipv4_addr; flags timeout; }\n"
		 " set ban6 { type ipv6_addr; flags timeout; }\n"
		 " chain input {\n"
		 "  type filter hook input priority -10; policy accept;\n"
		 "  iifname \"%s\" ip saddr @ban4 counter drop\n"
		 "  iifname \"%s\" ip6 saddr @ban6 counter drop\n"
		 " }\n"
		 "}\n", ifname, ifname);
	err = net_nft_run(n->bin, script);
	if (err) {
		mem_deref(n);
		return err;
	}
	n->up = true;
	*np = n;
	return 0;
}

static void queue(struct guard_nft *n, const char *verb, const char *set, const char *ip,
		  unsigned secs)
{
	int w = secs ?
		snprintf(n->queue + n->len, sizeof(n->queue) - n->len,
			 "%s element inet sbc_guard %s { %s timeout %us }\n", verb, set, ip, secs) :
		snprintf(n->queue + n->len, sizeof(n->queue) - n->len,
			 "%s element inet sbc_guard %s { %s }\n", verb, set, ip);

	if (w < 0 || (size_t)w >= sizeof(n->queue) - n->len) {
		n->queue[n->len] = '\0';
		if (!n->overflow)
			log_warn("guard: nftables queue full; bans stay in user space only");
		n->overflow = true;
		return;
	}
	n->len += (size_t)w;
}

void guard_nft_ban(struct guard_nft *n, const struct sockaddr_storage *addr, unsigned secs)
{
	char ip[NET_ADDRSTRLEN];

	if (net_sa_ip_str(addr, ip, sizeof(ip)))
		return;
	queue(n, "add", addr->ss_family == AF_INET6 ? "ban6" : "ban4", ip, secs ? secs : 1);
}

void guard_nft_unban(struct guard_nft *n, const struct sockaddr_storage *addr)
{
	char ip[NET_ADDRSTRLEN];
	const char *set = addr->ss_family == AF_INET6 ? "ban6" : "ban4";

	if (net_sa_ip_str(addr, ip, sizeof(ip)))
		return;
	/* add first: deleting an element the kernel already let expire would fail the batch */
	queue(n, "add", set, ip, 1);
	queue(n, "delete", set, ip, 0);
}

/* Hand the queue to nft when the last batch is done; never blocks. */
void guard_nft_flush(struct guard_nft *n)
{
	int fd, status;
	ssize_t w;

	if (n->child > 0) {
		pid_t r = waitpid(n->child, &status, WNOHANG);

		if (r == 0)
			return;
		if (r == n->child && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			log_warn("guard: nft batch failed; those bans stay in user space only");
		n->child = 0;
	}
	if (n->len == 0)
		return;
	if (net_nft_spawn(n->bin, &fd, &n->child)) {
		n->child = 0;
		return;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	w = write(fd, n->queue, n->len);
	close(fd);
	if (w != (ssize_t)n->len)
		log_warn("guard: nft batch cut short (%zd of %zu bytes)", w, n->len);
	n->len = 0;
	n->overflow = false;
}
