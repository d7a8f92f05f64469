/*
 * bench-guard: the guard's pre-parse cost per packet on one core, without
 * sockets: what a flood costs sbcd after recvmmsg. Cases: (a) a spoofed
 * flood (every packet a new source: table eviction, capacity drop), (b)
 * packets of banned sources, (c) an allow-listed source, (d) one untrusted
 * source within its limits (header scan included), (e) the bare packet loop
 * for reference. Prints figures; asserts nothing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "guard/guard.h"
#include "util/util.h"

enum { ROUNDS = 3, BANNED = 1024 };

static const char options_pkt[] =
	"OPTIONS sip:203.0.113.1 SIP/2.0\r\n"
	"Via: SIP/2.0/UDP 198.18.0.1:5060;branch=z9hG4bK-1\r\n"
	"From: <sip:a@198.18.0.1>;tag=1\r\n"
	"To: <sip:100@203.0.113.1>\r\n"
	"Call-ID: 1@x\r\n"
	"CSeq: 1 OPTIONS\r\n"
	"Max-Forwards: 70\r\n"
	"User-Agent: bench\r\n"
	"Content-Length: 0\r\n\r\n";

static volatile size_t sink;

static void src4(struct sockaddr_storage *ss, uint32_t a)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(5060);
	in->sin_addr.s_addr = htonl(a);
}

/* Packets per second of one case, best of ROUNDS runs of seconds/ROUNDS each. */
static double measure(struct guard *g, int which, double seconds)
{
	double best = 0;
	uint32_t next = 0;

	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = time_mono_ns(), deadline = t0 + (uint64_t)(seconds * 1e9 / ROUNDS), t1;
		unsigned long n = 0;
		struct sockaddr_storage ss;

		do {
			for (int i = 0; i < 1000; i++, n++) {
				switch (which) {
				case 0:   /* 198.18.0.0/15, a new address each time */
					src4(&ss, 0xc6120000u + (next++ & 0x1ffffu));
					break;
				case 1:
					src4(&ss, 0xc0000200u + (uint32_t)(n % BANNED));
					break;
				case 2:
					src4(&ss, 0x0a000001u);
					break;
				case 3:   /* 1,000 sources, each well within its limits */
					src4(&ss, 0xcb007100u + (uint32_t)(n % 1000));
					break;
				default:
					src4(&ss, 0xc6120000u + (next++ & 0x1ffffu));
					sink += ss.ss_family + options_pkt[n % 8];
					continue;
				}
				sink += guard_pre(g, &ss, options_pkt, sizeof(options_pkt) - 1);
			}
			t1 = time_mono_ns();
		} while (t1 < deadline);
		best = MAX(best, (double)n * 1e9 / (double)(t1 - t0));
	}
	return best;
}

/* A guard from an sbc.ini holding these [guard] lines. */
static struct guard *guard_with(const char *guard_lines)
{
	char dir[] = "/tmp/bench-guard-XXXXXX", path[64];
	struct config_errors errs;
	struct sbc_config *cfg;
	struct guard *g;
	FILE *f;

	if (!mkdtemp(dir))
		exit(1);
	snprintf(path, sizeof(path), "%s/sbc.ini", dir);
	f = fopen(path, "w");
	if (!f)
		exit(1);
	fprintf(f, "[public]\ninterface = lo\naddress = 127.0.0.1\n"
		"[private]\ninterface = lo\naddress = 127.0.0.2\n"
		"[core]\naddress = 127.0.0.3\n[guard]\n%s", guard_lines);
	fclose(f);
	if (config_load(&cfg, path, &errs)) {
		config_errors_print(&errs, stderr);
		exit(1);
	}
	unlink(path);
	rmdir(dir);
	if (guard_alloc(&g, cfg, NULL))
		exit(1);
	mem_deref(cfg);   /* the guard holds its own reference */
	return g;
}

int main(int argc, char **argv)
{
	struct guard *g, *high;
	double seconds = 3.0;
	cpu_set_t set;

	if (argc > 1)
		seconds = atof(argv[1]);
	log_set_level(LOG_LVL_WARN);   /* a line per ban would time the log */
	/* the defaults, with an allow list */
	g = guard_with("allow = 10.0.0.0/8\n");
	/* limits high enough that case (d) measures the passing path, not drops */
	high = guard_with("rate_packets = 1000000\nrate_options = 100000\ncapacity_pps = 10000000\n"
			  "trusted_reserve_pct = 0\n");
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set) == -1)
		perror("bench-guard: sched_setaffinity (continuing unpinned)");
	/* BANNED sources banned through the scanner signature */
	for (uint32_t i = 0; i < BANNED; i++) {
		static const char scan[] = "OPTIONS sip:1@h SIP/2.0\r\nUser-Agent: friendly-scanner\r\n\r\n";
		struct sockaddr_storage ss;

		src4(&ss, 0xc0000200u + i);
		guard_pre(g, &ss, scan, sizeof(scan) - 1);
	}
	printf("bench-guard: guard_pre on a %zu-byte OPTIONS, one core, best of %d rounds\n",
	       sizeof(options_pkt) - 1, ROUNDS);
	printf("(a) spoofed flood, a new source per packet:  %10.0f pkt/s  %5.0f ns/pkt  (defaults)\n",
	       measure(g, 0, seconds), 1e9 / measure(g, 0, seconds / 3));
	printf("(b) banned sources (%d):                   %10.0f pkt/s  %5.0f ns/pkt\n", BANNED,
	       measure(g, 1, seconds), 1e9 / measure(g, 1, seconds / 3));
	printf("(c) allow-listed source:                     %10.0f pkt/s  %5.0f ns/pkt\n",
	       measure(g, 2, seconds), 1e9 / measure(g, 2, seconds / 3));
	printf("    guard (a-c): %zu sources in the table, %llu evicted, %llu blocked, %llu passed\n",
	       guard_sources(g), (unsigned long long)guard_stats(g)->evicted_sources,
	       (unsigned long long)guard_stats(g)->blocked,
	       (unsigned long long)guard_stats(g)->passed);
	{
		double d = measure(high, 3, seconds);
		const struct guard_stats *st = guard_stats(high);

		printf("(d) 1,000 untrusted sources, header scan:    %10.0f pkt/s  %5.0f ns/pkt"
		       "  (%.0f%% passed)\n", d, 1e9 / d,
		       100.0 * (double)st->passed / (double)(st->passed + st->blocked));
	}
	printf("(e) the loop without guard_pre:              %10.0f pkt/s\n", measure(g, 4, seconds));
	mem_deref(high);
	mem_deref(g);
	return 0;
}
