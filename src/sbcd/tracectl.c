/* tracectl: the SIP trace: the zones' SIP messages into a pcap file (docs/trace.md), and the trace.* commands. */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "sbcd_int.h"

enum {
	TRACE_BYTES_MIN = 1048576,           /* max_bytes: 1 MiB ... */
	TRACE_BYTES_MAX = 1073741824,        /* ... 1 GiB */
	TRACE_BYTES_DEFAULT = 52428800,      /* 50 MiB */
	TRACE_S_MIN = 1,
	TRACE_S_MAX = 86400,
	TRACE_S_DEFAULT = 600,
	TRACE_SNAPLEN = 65535,               /* a record: IP and UDP headers and the message */
	PCAP_FILE_HDR = 24,
	PCAP_REC_HDR = 16,
	IP4_HDR = 20,
	IP6_HDR = 40,
	UDP_HDR = 8,
	TTL = 64,
};

/* Which zones are traced: a bit per enum zone_id. */
enum {
	TRACE_ZONE_PUBLIC = 1u << ZONE_PUBLIC,
	TRACE_ZONE_PRIVATE = 1u << ZONE_PRIVATE,
	TRACE_ZONE_BOTH = TRACE_ZONE_PUBLIC | TRACE_ZONE_PRIVATE,
};

/* Why the last trace ended. */
enum trace_reason {
	TRACE_END_NONE,          /* none ended yet, or one is running */
	TRACE_END_OPERATOR,      /* trace.stop */
	TRACE_END_MAX_BYTES,     /* the next record would have passed max_bytes */
	TRACE_END_MAX_S,         /* max_s seconds passed */
	TRACE_END_ERROR,         /* writing the file failed */
	TRACE_END_SHUTDOWN,      /* sbcd stopped (never seen in trace.status) */
};

static const char *const reason_names[] = {
	[TRACE_END_NONE] = NULL,
	[TRACE_END_OPERATOR] = "operator",
	[TRACE_END_MAX_BYTES] = "max_bytes",
	[TRACE_END_MAX_S] = "max_s",
	[TRACE_END_ERROR] = "error",
	[TRACE_END_SHUTDOWN] = "shutdown",
};

struct sbcd_trace {
	struct sbcd *s;
	struct event *tick;          /* once a second while running: flush, max_s */
	pcap_t *pcap;                /* a dead handle: link type raw IP */
	pcap_dumper_t *dump;         /* the open file while running */
	bool running;
	bool dirty;                  /* records written since the last flush */
	char file[PATH_MAX];         /* the current or last file */
	char default_file[PATH_MAX]; /* <data_dir>/trace.pcap, data_dir as at start */
	int64_t started, stopped;    /* unix seconds; 0: not yet */
	uint64_t started_ms;         /* monotonic, for max_s */
	uint64_t packets, bytes;     /* bytes: of the file, its header included */
	uint64_t max_bytes;
	unsigned max_s;
	unsigned zones;              /* TRACE_ZONE_* */
	enum trace_reason reason;
	uint16_t ip_id;
	uint8_t pkt[TRACE_SNAPLEN];  /* the record being built */
};

static const char *zones_name(unsigned zones)
{
	return zones == TRACE_ZONE_PUBLIC ? "public" :
	       zones == TRACE_ZONE_PRIVATE ? "private" : "both";
}

/* ==== packets ==== */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/*
 * The IP address of sa in family fam (AF_INET: 4 bytes, AF_INET6: 16) and
 * its port; an IPv4-mapped IPv6 address counts as IPv4. False when sa is
 * of the other family: the caller writes the unspecified address.
 */
static bool ep_addr(const struct sockaddr_storage *sa, int fam, uint8_t *ip, uint16_t *port)
{
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;

	*port = net_sa_port(sa);
	if (sa->ss_family == AF_INET && fam == AF_INET) {
		memcpy(ip, &s4->sin_addr, 4);
		return true;
	}
	if (sa->ss_family != AF_INET6)
		return false;
	if (fam == AF_INET6) {
		memcpy(ip, &s6->sin6_addr, 16);
		return true;
	}
	if (!IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return false;
	memcpy(ip, &s6->sin6_addr.s6_addr[12], 4);
	return true;
}

/* The family the record is written in: the remote end's (IPv4 for a mapped address). */
static int pkt_family(const struct sockaddr_storage *remote)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)remote;

	if (remote->ss_family == AF_INET6 && !IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		return AF_INET6;
	return AF_INET;
}

/*
 * Build the record of one message in tr->pkt: an IPv4 or IPv6 header and
 * a UDP header, lengths and checksums right, the message as the payload
 * (cut to fit a record, which no SIP message within the parser's limits
 * needs). Returns the record's length.
 */
static size_t pkt_build(struct sbcd_trace *tr, const struct sip_trace_pkt *p)
{
	const struct sockaddr_storage *src = p->out ? p->local : p->remote;
	const struct sockaddr_storage *dst = p->out ? p->remote : p->local;
	int fam = pkt_family(p->remote);
	size_t iph = fam == AF_INET ? IP4_HDR : IP6_HDR, alen = fam == AF_INET ? 4 : 16;
	size_t plen = MIN(p->len, (size_t)TRACE_SNAPLEN - iph - UDP_HDR);
	uint16_t ulen = (uint16_t)(UDP_HDR + plen), sport, dport, ck;
	uint8_t *ip = tr->pkt, *udp = tr->pkt + iph, *sa, *da;
	uint64_t sum;

	memset(tr->pkt, 0, iph + UDP_HDR);
	if (fam == AF_INET) {
		sa = ip + 12;
		da = ip + 16;
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(IP4_HDR + ulen));
		put16(ip + 4, tr->ip_id++);
		ip[8] = TTL;
		ip[9] = IPPROTO_UDP;
	} else {
		sa = ip + 8;
		da = ip + 24;
		ip[0] = 0x60;
		put16(ip + 4, ulen);
		ip[6] = IPPROTO_UDP;
		ip[7] = TTL;
	}
	if (!ep_addr(src, fam, sa, &sport))
		memset(sa, 0, alen);
	if (!ep_addr(dst, fam, da, &dport))
		memset(da, 0, alen);
	if (fam == AF_INET)
		put16(ip + 10, inet_csum_fold(inet_csum_add(0, ip, IP4_HDR)));
	put16(udp, sport);
	put16(udp + 2, dport);
	put16(udp + 4, ulen);
	memcpy(udp + UDP_HDR, p->data, plen);
	/*
	 * The pseudo header of either family (RFC 768, RFC 8200 8.1) sums to
	 * the addresses plus the protocol plus the UDP length; a checksum
	 * that comes out 0 is sent as 0xffff.
	 */
	sum = inet_csum_add(IPPROTO_UDP + (uint64_t)ulen, sa, alen);
	sum = inet_csum_add(sum, da, alen);
	ck = inet_csum_fold(inet_csum_add(sum, udp, ulen));
	put16(udp + 6, ck ? ck : 0xffff);
	return iph + ulen;
}

/* ==== running and stopping ==== */

static void trace_end(struct sbcd_trace *tr, enum trace_reason why);

/* One message from the transport (sip_transp_trace_h): a record, unless past max_bytes. */
static void on_packet(const struct sip_trace_pkt *p, void *arg)
{
	struct sbcd_trace *tr = arg;
	struct pcap_pkthdr h;
	struct timespec now;
	size_t len;

	if (!tr->running || p->zone >= ZONE_COUNT || !(tr->zones & (1u << p->zone)))
		return;
	len = pkt_build(tr, p);
	if (tr->bytes + PCAP_REC_HDR + len > tr->max_bytes) {
		trace_end(tr, TRACE_END_MAX_BYTES);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	h.ts.tv_sec = now.tv_sec;
	h.ts.tv_usec = (suseconds_t)(now.tv_nsec / 1000);
	h.caplen = h.len = (bpf_u_int32)len;
	pcap_dump((u_char *)tr->dump, &h, tr->pkt);
	if (ferror(pcap_dump_file(tr->dump))) {
		log_error("trace %s: write failed", tr->file);
		trace_end(tr, TRACE_END_ERROR);
		return;
	}
	tr->packets++;
	tr->bytes += PCAP_REC_HDR + len;
	tr->dirty = true;
}

/* Close the file and stop seeing messages; the status keeps the figures and why. */
static void trace_end(struct sbcd_trace *tr, enum trace_reason why)
{
	int err = 0;

	if (!tr->running)
		return;
	sip_transp_trace_set(tr->s->transp, NULL, NULL);
	event_del(tr->tick);
	if (pcap_dump_flush(tr->dump) == -1 || ferror(pcap_dump_file(tr->dump)))
		err = EIO;
	pcap_dump_close(tr->dump);    /* closes the FILE and its descriptor */
	tr->dump = NULL;
	if (err && why != TRACE_END_ERROR) {
		log_error("trace %s: write failed", tr->file);
		why = TRACE_END_ERROR;
	}
	tr->running = false;
	tr->dirty = false;
	tr->stopped = time(NULL);
	tr->reason = why;
	log_info("trace stopped (%s): %llu packets, %llu bytes in %s", reason_names[why],
		 (unsigned long long)tr->packets, (unsigned long long)tr->bytes, tr->file);
}

/* Once a second while running: flush what was written (a download mid-trace is a valid file), max_s. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sbcd_trace *tr = arg;

	(void)fd;
	(void)what;
	if (!tr->running)
		return;
	if (time_mono_ms() - tr->started_ms >= (uint64_t)tr->max_s * 1000) {
		trace_end(tr, TRACE_END_MAX_S);
		return;
	}
	if (!tr->dirty)
		return;
	tr->dirty = false;
	if (pcap_dump_flush(tr->dump) == -1) {
		log_error("trace %s: write failed: %s", tr->file, strerror(errno));
		trace_end(tr, TRACE_END_ERROR);
	}
}

/* Is magic (the first 4 bytes of a file) that of a pcap or pcapng file, either byte order? */
static bool pcap_magic(const uint8_t m[4])
{
	static const uint8_t magics[][4] = {
		{ 0xa1, 0xb2, 0xc3, 0xd4 }, { 0xd4, 0xc3, 0xb2, 0xa1 },
		{ 0xa1, 0xb2, 0x3c, 0x4d }, { 0x4d, 0x3c, 0xb2, 0xa1 },
		{ 0x0a, 0x0d, 0x0d, 0x0a },
	};

	for (size_t i = 0; i < ARRAY_SIZE(magics); i++) {
		if (memcmp(m, magics[i], 4) == 0)
			return true;
	}
	return false;
}

/*
 * May a new trace replace what is at path? Nothing there, or a regular
 * file (not a link) that is empty or a capture: a typo in "file" must not
 * overwrite the configuration or a system file.
 */
static int target_check(const char *path, char *err, size_t errlen)
{
	struct stat st;
	uint8_t m[4];
	ssize_t n;
	int fd;

	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "cannot write the trace to %s: %s", path, strerror(errno));
		return errno;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a regular file: not replaced", path);
		return EEXIST;
	}
	if (st.st_size == 0)
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	n = fd == -1 ? -1 : read(fd, m, sizeof(m));
	if (fd != -1)
		close(fd);
	if (n != (ssize_t)sizeof(m) || !pcap_magic(m)) {
		snprintf(err, errlen, "%s exists and is not a capture file: not replaced", path);
		return EEXIST;
	}
	return 0;
}

/*
 * Open the file: a private temporary file beside it (mkostemp: 0600) gets the pcap
 * header and is renamed over path at once, so what was there is replaced
 * whole and a reader of the old file keeps it; records follow.
 */
static int file_open(struct sbcd_trace *tr, const char *path, char *err, size_t errlen)
{
	char tmp[PATH_MAX];
	FILE *fp;
	int fd, e = target_check(path, err, errlen);

	if (e)
		return e;
	if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "\"file\" is too long");
		return ENAMETOOLONG;
	}
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd == -1) {
		e = errno;
		snprintf(err, errlen, "cannot write the trace to %s: %s", path, strerror(e));
		return e;
	}
	fp = fdopen(fd, "w");
	if (!fp) {
		e = errno;
		close(fd);
		goto out_unlink;
	}
	tr->dump = pcap_dump_fopen(tr->pcap, fp);
	if (!tr->dump) {
		e = EIO;
		fclose(fp);
		goto out_unlink;
	}
	if (pcap_dump_flush(tr->dump) == -1) {
		e = errno ? errno : EIO;
		goto out_close;
	}
	if (rename(tmp, path) == -1) {
		e = errno;
		goto out_close;
	}
	return 0;

 out_close:
	pcap_dump_close(tr->dump);
	tr->dump = NULL;
 out_unlink:
	unlink(tmp);
	snprintf(err, errlen, "cannot write the trace to %s: %s", path, strerror(e));
	return e;
}

/* ==== commands ==== */

static json_t *status_json(const struct sbcd_trace *tr)
{
	return json_pack("{s:b, s:s, s:o, s:o, s:I, s:I, s:I, s:i, s:s, s:o}",
			 "running", tr->running, "file", tr->file,
			 "started", tr->started ? json_integer(tr->started) : json_null(),
			 "stopped", tr->stopped && !tr->running ? json_integer(tr->stopped) :
			 json_null(),
			 "packets", (json_int_t)tr->packets, "bytes", (json_int_t)tr->bytes,
			 "max_bytes", (json_int_t)tr->max_bytes, "max_s", (int)tr->max_s,
			 "zone", zones_name(tr->zones),
			 "reason", reason_names[tr->reason] && !tr->running ?
			 json_string(reason_names[tr->reason]) : json_null());
}

/* An integer argument in [lo, hi], or def when absent. */
static int int_arg(const json_t *args, const char *name, json_int_t lo, json_int_t hi,
		   json_int_t def, json_int_t *v, char *err, size_t errlen)
{
	const json_t *j = json_object_get(args, name);

	*v = def;
	if (!j)
		return 0;
	if (!json_is_integer(j) || json_integer_value(j) < lo || json_integer_value(j) > hi) {
		snprintf(err, errlen, "\"%s\" must be an integer from %lld to %lld", name,
			 (long long)lo, (long long)hi);
		return EINVAL;
	}
	*v = json_integer_value(j);
	return 0;
}

/* "zone": public, private or both (the default). */
static int zone_arg(const json_t *args, unsigned *zones, char *err, size_t errlen)
{
	const json_t *j = json_object_get(args, "zone");
	const char *v = json_is_string(j) ? json_string_value(j) : "";

	*zones = TRACE_ZONE_BOTH;
	if (!j || strcmp(v, "both") == 0)
		return 0;
	if (strcmp(v, "public") == 0) {
		*zones = TRACE_ZONE_PUBLIC;
		return 0;
	}
	if (strcmp(v, "private") == 0) {
		*zones = TRACE_ZONE_PRIVATE;
		return 0;
	}
	snprintf(err, errlen, "\"zone\" must be \"public\", \"private\" or \"both\"");
	return EINVAL;
}

/* "file": an absolute path naming a file (not a folder); absent: <data_dir>/trace.pcap. */
static int file_arg(const struct sbcd_trace *tr, const json_t *args, const char **path,
		    char *err, size_t errlen)
{
	const json_t *j = json_object_get(args, "file");
	const char *v;
	size_t len;

	*path = tr->default_file;
	if (!j)
		return 0;
	v = json_is_string(j) ? json_string_value(j) : "";
	len = json_is_string(j) ? json_string_length(j) : 0;
	if (v[0] != '/' || strlen(v) != len || v[len - 1] == '/') {
		snprintf(err, errlen, "\"file\" must be an absolute path to a file");
		return EINVAL;
	}
	if (len + sizeof(".XXXXXX") > PATH_MAX) {
		snprintf(err, errlen, "\"file\" is longer than %d bytes",
			 (int)(PATH_MAX - sizeof(".XXXXXX")));
		return ENAMETOOLONG;
	}
	*path = v;
	return 0;
}

static int cmd_start(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { "max_bytes", "max_s", "zone", "file", NULL };
	static const struct timeval second = { 1, 0 };
	struct sbcd_trace *tr = arg;
	json_int_t max_bytes, max_s;
	const char *path;
	unsigned zones;
	int e = ctl_args_only(args, keys, err, errlen);

	if (!e)
		e = int_arg(args, "max_bytes", TRACE_BYTES_MIN, TRACE_BYTES_MAX, TRACE_BYTES_DEFAULT,
			    &max_bytes, err, errlen);
	if (!e)
		e = int_arg(args, "max_s", TRACE_S_MIN, TRACE_S_MAX, TRACE_S_DEFAULT, &max_s, err,
			    errlen);
	if (!e)
		e = zone_arg(args, &zones, err, errlen);
	if (!e)
		e = file_arg(tr, args, &path, err, errlen);
	if (e)
		return e;
	if (tr->running) {
		snprintf(err, errlen, "a trace is already running");
		return EBUSY;
	}
	e = file_open(tr, path, err, errlen);
	if (e)
		return e;
	snprintf(tr->file, sizeof(tr->file), "%s", path);
	tr->running = true;
	tr->dirty = false;
	tr->started = time(NULL);
	tr->stopped = 0;
	tr->started_ms = time_mono_ms();
	tr->packets = 0;
	tr->bytes = PCAP_FILE_HDR;
	tr->max_bytes = (uint64_t)max_bytes;
	tr->max_s = (unsigned)max_s;
	tr->zones = zones;
	tr->reason = TRACE_END_NONE;
	event_add(tr->tick, &second);
	sip_transp_trace_set(tr->s->transp, on_packet, tr);
	log_info("trace started: %s, zone %s, at most %llu bytes and %u s", tr->file,
		 zones_name(zones), (unsigned long long)tr->max_bytes, tr->max_s);
	*result = status_json(tr);
	return *result ? 0 : ENOMEM;
}

/* Stop the running trace; without one, the status as it is (stopping twice is no error). */
static int cmd_stop(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { NULL };
	struct sbcd_trace *tr = arg;
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	trace_end(tr, TRACE_END_OPERATOR);
	*result = status_json(tr);
	return *result ? 0 : ENOMEM;
}

static int cmd_status(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { NULL };
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	*result = status_json(arg);
	return *result ? 0 : ENOMEM;
}

static const struct ctl_cmd_def cmds[] = {
	{ "trace.start", cmd_start },
	{ "trace.stop", cmd_stop },
	{ "trace.status", cmd_status },
};

static void trace_destroy(void *data)
{
	struct sbcd_trace *tr = data;

	if (tr->tick)
		event_free(tr->tick);
	if (tr->pcap)
		pcap_close(tr->pcap);
}

/* The trace's state and commands; no trace runs until trace.start. */
int sbcd_trace_start(struct sbcd *s)
{
	struct sbcd_trace *tr;
	int n, err;

	if (!s->ctl || !s->transp)
		return 0;
	tr = mem_zalloc(sizeof(*tr), trace_destroy);
	if (!tr)
		return ENOMEM;
	tr->s = s;
	tr->max_bytes = TRACE_BYTES_DEFAULT;
	tr->max_s = TRACE_S_DEFAULT;
	tr->zones = TRACE_ZONE_BOTH;
	n = snprintf(tr->default_file, sizeof(tr->default_file), "%s/trace.pcap",
		     s->cfg->general.data_dir);
	if (n < 0 || (size_t)n + sizeof(".XXXXXX") > sizeof(tr->default_file)) {
		err = ENAMETOOLONG;
		goto out_free;
	}
	snprintf(tr->file, sizeof(tr->file), "%s", tr->default_file);
	tr->pcap = pcap_open_dead(DLT_RAW, TRACE_SNAPLEN);
	tr->tick = event_new(s->base, -1, EV_PERSIST, on_tick, tr);
	if (!tr->pcap || !tr->tick) {
		err = ENOMEM;
		goto out_free;
	}
	err = ctl_register_all(s->ctl, cmds, ARRAY_SIZE(cmds), tr);
	if (err)
		goto out_free;
	s->trace = tr;
	return 0;

 out_free:
	mem_deref(tr);
	return err;
}

/* At shutdown a running trace is closed (its file stays). */
void sbcd_trace_stop(struct sbcd *s)
{
	if (!s->trace)
		return;
	trace_end(s->trace, TRACE_END_SHUTDOWN);
	if (s->ctl)
		ctl_unregister_all(s->ctl, cmds, ARRAY_SIZE(cmds));
	s->trace = mem_deref(s->trace);
}
