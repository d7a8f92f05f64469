/* fuzz_guard: libFuzzer harness for the guard's raw scanner and its pre-parse, sent-response and event paths on one long-lived guard. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "guard/guard.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Small limits so that bans, floods and evictions happen within a run. */
static const char conf[] =
	"[public]\ninterface = lo\naddress = 127.0.0.2\n"
	"[private]\ninterface = lo\naddress = 127.0.0.3\n"
	"[core]\naddress = 127.0.0.4\n"
	"[guard]\ntable_size = 1024\nmax_bans = 16\nban_time_s = 1\nban_time_max_s = 4\n"
	"rate_packets = 50\nrate_invite = 5\nrate_register = 5\nrate_options = 5\nrate_other = 5\n"
	"capacity_pps = 1000\nrate_user = 5\nenum_threshold = 3\nauth_fail_threshold = 3\n"
	"malformed_threshold = 3\ntoll_threshold = 2\nmax_packet_size = 4096\n"
	"scanner_agents = evil, x\nallow = 10.9.0.0/16\n"
	"[trunk:t]\nzone = public\naddress = 10.8.0.1\nallow = 10.8.0.0/24\n";

static struct guard *guard;
static size_t nalloc;
static unsigned long runs;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config_errors errs;
	struct sbc_config *cfg = NULL;
	char path[64];
	int fd;

	(void)argc;
	(void)argv;
	log_set_level(LOG_LVL_ERROR);
	fd = memfd_create("fuzz_guard", MFD_CLOEXEC);
	if (fd == -1 || write(fd, conf, sizeof(conf) - 1) != (ssize_t)(sizeof(conf) - 1))
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (config_load(&cfg, path, &errs)) {
		config_errors_print(&errs, stderr);
		abort();
	}
	close(fd);
	if (guard_alloc(&guard, cfg, NULL))
		abort();
	mem_deref(cfg);   /* the guard keeps its reference */
	nalloc = mem_nalloc();
	return 0;
}

/* Every slice a scan returns lies inside the input. */
static void check_pl(const struct pl *pl, const char *data, size_t size)
{
	if (!pl->p)
		return;
	if (pl->p < data || pl->l > size || pl->p + pl->l > data + size)
		abort();
}

static void check_scan(const struct guard_scan *s, const char *data, size_t size, bool headers)
{
	if ((unsigned)s->cls >= GUARD_CL__COUNT || s->status > 999)
		abort();
	if (s->status && s->cls != GUARD_CL_RESPONSE)
		abort();
	check_pl(&s->ruri_user, data, size);
	check_pl(&s->ua, data, size);
	check_pl(&s->to_user, data, size);
	if (!headers && (pl_isset(&s->ua) || pl_isset(&s->to_user)))
		abort();
}

/* A source picked by the input's first byte: a few IPv4 and IPv6 ones, an allowed one, a trunk. */
static void source(const uint8_t *data, size_t size, struct sockaddr_storage *ss)
{
	uint8_t b = size ? data[0] : 0;

	memset(ss, 0, sizeof(*ss));
	if (b & 0x80) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr.s6_addr[0] = 0x20;
		in6->sin6_addr.s6_addr[1] = 0x01;
		in6->sin6_addr.s6_addr[15] = b & 0x1f;
		in6->sin6_port = htons(5060);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;
		uint32_t a = 0xc0000200u | (b & 0x1f);   /* 192.0.2.x */

		if (b & 0x40)
			a = 0x0a090000u | (b & 0x0f);   /* allowed */
		else if (b & 0x20)
			a = 0x0a080000u | (b & 0x0f);   /* trunk */
		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(a);
		in->sin_port = htons(5060);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct sockaddr_storage src;
	struct guard_scan s;
	struct pl user;

	guard_scan(p, size, true, &s);
	check_scan(&s, p, size, true);
	guard_scan(p, size, false, &s);
	check_scan(&s, p, size, false);
	{
		struct pl ua = { p, size };

		(void)guard_ua_is_scanner(&ua, NULL);
	}

	/* the whole input after the selector byte as a packet, both ways, and an event */
	source(data, size, &src);
	if (size) {
		p++;
		size--;
	}
	guard_scan(p, size, true, &s);
	check_scan(&s, p, size, true);
	(void)guard_pre(guard, &src, p, size);
	guard_sent(guard, &src, p, size);
	user = s.to_user;
	switch (data[0] & 0x03) {
	case 0:
		guard_event(guard, &src, GUARD_EV_MALFORMED, NULL);
		break;
	case 1:
		guard_event(guard, &src, GUARD_EV_AUTH_FAIL, &user);
		break;
	case 2:
		if ((data[0] & 0x0c) == 0x0c)
			guard_event(guard, &src, GUARD_EV_AUTH_OK, NULL);
		break;
	default:
		break;
	}

	/* the operator's views now and then */
	if (++runs % 512 == 0) {
		struct guard_ban_info bans[16];
		struct guard_offender top[8];
		static uint32_t tl[GUARD_REASON__COUNT * GUARD_MINUTES_KEPT];
		int64_t end;
		size_t n = guard_bans(guard, bans, 16);

		if (n > 16 || guard_sources(guard) > 1024)
			abort();
		for (size_t i = 0; i < n; i++) {
			if (bans[i].strikes < 1 || (unsigned)bans[i].reason >= GUARD_REASON__COUNT)
				abort();
		}
		n = guard_top(guard, top, 8);
		for (size_t i = 1; i < n; i++) {
			if (top[i].packets > top[i - 1].packets)
				abort();
		}
		guard_timeline(guard, runs & 1024 ? GUARD_SECONDS : GUARD_MINUTES, tl,
			       GUARD_MINUTES_KEPT, &end);
		guard_tick(guard);
		if (n && data[0] == 0xff)
			(void)guard_unban(guard, &bans[0].addr);
	}
	/* nothing is allocated per packet */
	if (mem_nalloc() != nalloc)
		abort();
	return 0;
}
