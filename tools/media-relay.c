/* media-relay: drives the media engine (sockets or bypass per zone) without SIP for bench-rtp: N sessions with known peers, counters at the end. */
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "media/media.h"
#include "media/ring.h"
#include "net/net.h"
#include "util/util.h"

struct opts {
	const char *pub, *priv, *peer_pub, *peer_priv, *ports_file;
	const char *ifname[MEDIA_ZONES], *own[MEDIA_ZONES];
	unsigned pub_min, pub_max, priv_min, priv_max, streams, pps;
	bool mux, single, policing, strict, bypass[MEDIA_ZONES], busy;
	bool xdp;             /* engine=xdp: the bypass zones run the AF_XDP ring (`media = xdp`) */
	int thread;           /* -2: bypass zones on the loop; -1: media thread unpinned; else its CPU */
	double seconds;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: media-relay pub=IP priv=IP pub_ports=A-B priv_ports=A-B streams=N\n"
		"       peer_pub=IP:PORT peer_priv=IP:PORT seconds=S ports_file=FILE\n"
		"       [pps=50] [mux=0] [single=0] [policing=1] [strict=1]\n"
		"       [bypass=none|pub|priv|both pub_if=IF own_pub=IP priv_if=IF own_priv=IP]\n"
		"       [engine=ring|xdp]\n"
		"       [busy=0] [thread=no|any|CPU]\n");
	exit(2);
}

/* bypass=none|pub|priv|both: the zones run by the bypass engine (as `media = bypass`). */
static void parse_bypass(struct opts *o, const char *v)
{
	if (!strcmp(v, "none"))
		o->bypass[0] = o->bypass[1] = false;
	else if (!strcmp(v, "pub"))
		o->bypass[0] = true;
	else if (!strcmp(v, "priv"))
		o->bypass[1] = true;
	else if (!strcmp(v, "both"))
		o->bypass[0] = o->bypass[1] = true;
	else
		usage();
}

static void parse(struct opts *o, int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		const char *k = argv[i], *v;

		if (!eq)
			usage();
		*eq = '\0';
		v = eq + 1;
		if (!strcmp(k, "pub"))
			o->pub = v;
		else if (!strcmp(k, "priv"))
			o->priv = v;
		else if (!strcmp(k, "peer_pub"))
			o->peer_pub = v;
		else if (!strcmp(k, "peer_priv"))
			o->peer_priv = v;
		else if (!strcmp(k, "ports_file"))
			o->ports_file = v;
		else if (!strcmp(k, "pub_ports"))
			sscanf(v, "%u-%u", &o->pub_min, &o->pub_max);
		else if (!strcmp(k, "priv_ports"))
			sscanf(v, "%u-%u", &o->priv_min, &o->priv_max);
		else if (!strcmp(k, "streams"))
			o->streams = (unsigned)atoi(v);
		else if (!strcmp(k, "pps"))
			o->pps = (unsigned)atoi(v);
		else if (!strcmp(k, "mux"))
			o->mux = atoi(v) != 0;
		else if (!strcmp(k, "single"))
			o->single = atoi(v) != 0;
		else if (!strcmp(k, "policing"))
			o->policing = atoi(v) != 0;
		else if (!strcmp(k, "strict"))
			o->strict = atoi(v) != 0;
		else if (!strcmp(k, "seconds"))
			o->seconds = atof(v);
		else if (!strcmp(k, "bypass"))
			parse_bypass(o, v);
		else if (!strcmp(k, "engine") && (!strcmp(v, "ring") || !strcmp(v, "xdp")))
			o->xdp = !strcmp(v, "xdp");
		else if (!strcmp(k, "pub_if"))
			o->ifname[0] = v;
		else if (!strcmp(k, "priv_if"))
			o->ifname[1] = v;
		else if (!strcmp(k, "own_pub"))
			o->own[0] = v;
		else if (!strcmp(k, "own_priv"))
			o->own[1] = v;
		else if (!strcmp(k, "busy"))
			o->busy = atoi(v) != 0;
		else if (!strcmp(k, "thread"))
			o->thread = !strcmp(v, "no") ? -2 : !strcmp(v, "any") ? -1 : atoi(v);
		else
			usage();
	}
	for (unsigned z = 0; z < MEDIA_ZONES; z++)
		if (o->bypass[z] && (!o->ifname[z] || !o->own[z]))
			usage();
	if (!o->pub || !o->priv || !o->peer_pub || !o->peer_priv || !o->ports_file ||
	    !o->streams || !o->pub_max || !o->priv_max)
		usage();
}

/* The bypass zones' interface and owned address, as sbcd's media_start sets them from the config. */
static int zone_bypass(struct media_zone_cfg *zones, const struct opts *o)
{
	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		if (!o->bypass[z])
			continue;
		zones[z].bypass = true;
		zones[z].xdp = o->xdp;
		if (snprintf(zones[z].ifname, sizeof(zones[z].ifname), "%s", o->ifname[z]) >=
		    (int)sizeof(zones[z].ifname))
			return ENAMETOOLONG;
		if (net_sa_from_str(&zones[z].own_addr, o->own[z], 0))
			return EINVAL;
	}
	return 0;
}

/* A zone asked to run bypass that fell back to sockets would measure the wrong engine: refuse. */
static int check_zones(const struct media_engine *me, const struct opts *o)
{
	static const char *const name[MEDIA_ZONES] = { "public", "private" };
	struct media_zone_info zi;

	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		if (media_engine_zone(me, z, &zi))
			return EINVAL;
		if (o->bypass[z] && (!zi.bypass || (o->xdp && !zi.xdp_mode))) {
			fprintf(stderr, "media-relay: %s zone: %s unavailable (%s)\n", name[z],
				o->xdp ? "xdp" : "bypass", zi.fallback ? zi.fallback : "?");
			return ENODEV;
		}
	}
	return 0;
}

static void stop_h(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* Each bypass zone's ring counters. */
static void print_rings(struct media_engine *me)
{
	static const char *const name[MEDIA_ZONES] = { "pub", "priv" };

	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		struct ring_stats rs;

		if (media_engine_zone_io(me, z, &rs, NULL))
			continue;    /* not a bypass zone */
		printf("ring %s: rx_frames=%llu rx_drops=%llu rx_truncated=%llu tx_frames=%llu "
		       "tx_errors=%llu tx_full=%llu\n", name[z], (unsigned long long)rs.rx_frames,
		       (unsigned long long)rs.rx_drops, (unsigned long long)rs.rx_truncated,
		       (unsigned long long)rs.tx_frames, (unsigned long long)rs.tx_errors,
		       (unsigned long long)rs.tx_full);
	}
}

/*
 * The event loop; busy: poll without sleeping (EVLOOP_NONBLOCK in a loop),
 * which spares the wake-ups at a whole core's cost.
 */
static void run_loop(struct event_base *base, bool busy)
{
	if (!busy) {
		event_base_dispatch(base);
		return;
	}
	while (!event_base_got_break(base))
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* Write the public RTP ports, one a line, through a temp file so readers see it whole. */
static int write_ports(const char *path, const uint16_t *ports, unsigned n)
{
	char tmp[512];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return errno;
	for (unsigned i = 0; i < n; i++)
		fprintf(f, "%u\n", ports[i]);
	if (fclose(f) || rename(tmp, path))
		return errno;
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = { .pps = 50, .policing = true, .strict = true, .seconds = 5, .thread = -2 };
	struct media_zone_cfg zones[MEDIA_ZONES];
	struct config_media cfg;
	struct media_engine *me;
	struct media_session **sess;
	struct media_engine_stats es;
	struct media_peer peer[MEDIA_ZONES];
	struct media_tuning tune = { 0 };
	struct event_base *base;
	struct event *stop, *sigterm;
	struct rusage ru;
	uint16_t *ports;
	struct timeval tv;
	int err;

	parse(&o, argc, argv);
	memset(zones, 0, sizeof(zones));   /* socket engine unless bypass= */
	if (net_sa_from_endpoint(&zones[0].addr, o.pub) || net_sa_from_endpoint(&zones[1].addr, o.priv))
		usage();
	zones[0].port_min = (uint16_t)o.pub_min;
	zones[0].port_max = (uint16_t)o.pub_max;
	zones[1].port_min = (uint16_t)o.priv_min;
	zones[1].port_max = (uint16_t)o.priv_max;
	if (zone_bypass(zones, &o))
		usage();
	cfg = (struct config_media){ .timeout_s = 3600, .policing = o.policing,
				     .policing_factor = 3, .strict_source = o.strict,
				     .max_streams = o.streams };
	memset(peer, 0, sizeof(peer));
	if (net_sa_from_endpoint(&peer[0].rtp, o.peer_pub) || net_sa_from_endpoint(&peer[1].rtp, o.peer_priv))
		usage();
	for (unsigned z = 0; z < MEDIA_ZONES; z++) {
		peer[z].expected_pps = o.pps;
		peer[z].clock_rate = 8000;
		peer[z].rtcp_mux = o.mux;
	}
	base = event_base_new();
	sess = calloc(o.streams, sizeof(*sess));
	ports = calloc(o.streams, sizeof(*ports));
	if (!base || !sess || !ports)
		return 1;
	err = media_engine_alloc(&me, base, zones, &cfg);
	if (err) {
		fprintf(stderr, "media-relay: engine: %s\n", strerror(err));
		return 1;
	}
	if (check_zones(me, &o))
		return 1;
	if (o.thread != -2) {
		/* as sbcd runs the bypass zones: on the media thread, pinned as [media] cpu says */
		err = media_engine_thread(me, o.thread);
		if (err) {
			fprintf(stderr, "media-relay: media thread: %s\n", strerror(err));
			return 1;
		}
	}
	tune.send_single = o.single;
	media_engine_tune(me, &tune);
	for (unsigned i = 0; i < o.streams; i++) {
		uint16_t p[MEDIA_ZONES];

		err = media_session_alloc(&sess[i], me, NULL, NULL);
		if (!err)
			err = media_stream_open(sess[i], 0, o.mux, p);
		for (unsigned z = 0; !err && z < MEDIA_ZONES; z++)
			err = media_stream_peer(sess[i], 0, z, &peer[z]);
		if (err) {
			fprintf(stderr, "media-relay: stream %u: %s\n", i, strerror(err));
			return 1;
		}
		ports[i] = p[0];
	}
	err = write_ports(o.ports_file, ports, o.streams);
	if (err) {
		fprintf(stderr, "media-relay: %s: %s\n", o.ports_file, strerror(err));
		return 1;
	}
	printf("ready streams=%u pub=%s priv=%s\n", o.streams,
	       o.bypass[0] ? (o.xdp ? "xdp" : "bypass") : "socket",
	       o.bypass[1] ? (o.xdp ? "xdp" : "bypass") : "socket");
	fflush(stdout);
	tv.tv_sec = (time_t)o.seconds;
	tv.tv_usec = (suseconds_t)((o.seconds - (double)tv.tv_sec) * 1e6);
	stop = evtimer_new(base, stop_h, base);
	sigterm = evsignal_new(base, SIGTERM, stop_h, base);
	evtimer_add(stop, &tv);
	evsignal_add(sigterm, NULL);
	run_loop(base, o.busy);
	media_engine_stats(me, &es);
	getrusage(RUSAGE_SELF, &ru);
	print_rings(me);
	printf("received=%llu relayed=%llu dropped_source=%llu dropped_policing=%llu "
	       "dropped_no_dest=%llu dropped_no_neighbour=%llu tx_errors=%llu sockets=%u streams=%u stream_bytes=%zu "
	       "fd_limit=%llu utime=%.2f stime=%.2f\n",
	       (unsigned long long)es.packets_received, (unsigned long long)es.packets_relayed,
	       (unsigned long long)es.dropped_source, (unsigned long long)es.dropped_policing,
	       (unsigned long long)es.dropped_no_dest,
	       (unsigned long long)es.dropped_no_neighbour, (unsigned long long)es.tx_errors,
	       es.sockets, es.streams, es.stream_bytes, (unsigned long long)es.fd_limit,
	       (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
	for (unsigned i = 0; i < o.streams; i++)
		mem_deref(sess[i]);
	mem_deref(me);
	event_free(stop);
	event_free(sigterm);
	event_base_free(base);
	free(sess);
	free(ports);
	return 0;
}
