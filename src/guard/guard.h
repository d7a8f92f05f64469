/* guard: the DPI-style policing of the public zone before and after the SIP parser (docs/guard.md). */
#ifndef SBC_GUARD_H
#define SBC_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"
#include "util/util.h"

/* Why a packet was dropped or a source banned; names in guard_reason_name(). */
enum guard_reason {
	GUARD_FLOOD,        /* a per-class rate of one source: ban */
	GUARD_RATE,         /* all packets of one source above rate_packets: excess dropped */
	GUARD_CAPACITY,     /* untrusted traffic above its share of capacity_pps: dropped */
	GUARD_USER_FLOOD,   /* untrusted requests to one user above rate_user: dropped */
	GUARD_SCANNER,      /* scanner User-Agent: ban */
	GUARD_ENUM,         /* many users answered 401/403/404/407/484: ban */
	GUARD_CRACK,        /* many failed authentications: ban */
	GUARD_MALFORMED,    /* many unparsable packets: ban */
	GUARD_OVERSIZED,    /* a packet above max_packet_size: dropped */
	GUARD_TOLL,         /* INVITEs to international numbers from untrusted sources: ban */
	GUARD_RTP_SOURCE,   /* media: RTP/RTCP from a source other than the stream's peer (counted) */
	GUARD_RTP_POLICING, /* media: a stream above its expected packet rate (counted) */
	GUARD_REASON__COUNT
};

/* What the transport and the B2BUA tell the guard after parsing. */
enum guard_event {
	GUARD_EV_MALFORMED,    /* the transport rejected a packet from src */
	GUARD_EV_AUTH_FAIL,    /* credentials of src for user were wrong */
	GUARD_EV_AUTH_OK,      /* src authenticated: trusted */
	GUARD_EV_REGISTERED,   /* the core accepted a registration from src: trusted */
};

/* Per-reason counters; sources counts each source once per reason. */
struct guard_reason_stats {
	uint64_t packets;
	uint64_t sources;
};

struct guard_stats {
	uint64_t passed;                  /* packets let through to the SIP stack */
	uint64_t blocked;                 /* packets dropped, all reasons */
	uint64_t bans;                    /* bans issued */
	uint64_t evicted_sources;         /* LRU evictions of the source table */
	uint64_t evicted_bans;            /* active bans pushed out of a full ban table */
	uint64_t bans_deferred;           /* bannable sources not banned: new-ban budget spent */
	uint64_t demoted;                 /* trusted sources made untrusted */
	uint64_t kernel_bans;             /* bans handed to the kernel (nftables) */
	struct guard_reason_stats reason[GUARD_REASON__COUNT];
};

/* One active ban, as listed to the operator. */
struct guard_ban_info {
	struct sockaddr_storage addr;     /* port 0 */
	enum guard_reason reason;
	uint64_t packets;                 /* dropped while banned */
	int64_t first_seen;               /* unix seconds */
	int64_t last_seen;
	int64_t expires;
	unsigned strikes;                 /* bans of this source, this one included */
};

/* A source that had packets blocked, for the top offenders list. */
struct guard_offender {
	struct sockaddr_storage addr;
	uint64_t packets;
	enum guard_reason reason;         /* the last one */
	bool banned;
};

enum guard_scale { GUARD_SECONDS, GUARD_MINUTES };
enum { GUARD_SECONDS_KEPT = 600, GUARD_MINUTES_KEPT = 1440 };

struct guard;

/*
 * cfg is referenced for the zones, trunks and core (configured peers) and
 * its [guard] section; table sizes are fixed at allocation. bans_path, when
 * not NULL, is where bans are kept across restarts (read here, written by
 * guard_tick and guard_save).
 */
int guard_alloc(struct guard **gp, const struct sbc_config *cfg, const char *bans_path);
/* A reloaded configuration: limits, lists and peers; table sizes stay. */
void guard_apply(struct guard *g, const struct sbc_config *cfg);

/* Pre-parse: true lets the packet on to the SIP parser. */
bool guard_pre(struct guard *g, const struct sockaddr_storage *src, const char *data,
	       size_t len);
/*
 * A TCP/TLS connection from src is about to be accepted: false while src
 * is banned (counted as one blocked packet of its ban's reason), so a
 * banned source holds no connection slot, not even an idle one.
 */
bool guard_admit(struct guard *g, const struct sockaddr_storage *src);
/* A response the SBC sends to dst: 401/403/404/407/484 feed enumeration. */
void guard_sent(struct guard *g, const struct sockaddr_storage *dst, const char *data,
		size_t len);
/* After parsing: what only the transport or the B2BUA knows. user may be NULL. */
void guard_event(struct guard *g, const struct sockaddr_storage *src, enum guard_event ev,
		 const struct pl *user);

/* Once a second or so: expiry, kernel set, bans file. */
void guard_tick(struct guard *g);
/*
 * The media engine's drop totals since it started (media_engine_stats
 * dropped_source, dropped_policing): what grew since the last call is
 * counted as blocked under rtp_source and rtp_policing (totals, timelines;
 * no source, no ban). Call it about once a second; a total lower than the
 * last one (a new engine) counts in full.
 */
void guard_media_drops(struct guard *g, uint64_t source, uint64_t policing);
/* Write the bans file now if bans changed (shutdown). */
int guard_save(struct guard *g);

/* Operator actions; ENOENT when addr is not banned. */
int guard_unban(struct guard *g, const struct sockaddr_storage *addr);

/*
 * The runtime allow list (docs/guard.md, "Runtime allow list"): blocks the
 * operator adds through the control socket. A source inside one is never
 * limited or banned, as for [guard] allow; the list survives restarts in a
 * file and reloads in memory. At most GUARD_ALLOW_MAX entries.
 */
enum { GUARD_ALLOW_MAX = 1024, GUARD_NOTE_MAX = 64 };

struct guard_allow_entry {
	struct config_cidr cidr;
	char note[GUARD_NOTE_MAX + 1];    /* printable ASCII, "" for none */
	int64_t added;                    /* unix seconds */
};

/*
 * Keep the runtime list in path: read it now (a missing file is an empty
 * list; a bad one is logged and ignored, ENOENT or EINVAL), then write it
 * atomically on every change. ENOMEM is the only error that matters.
 */
int guard_allow_open(struct guard *g, const char *path);
/*
 * Add the block text ("ADDRESS/PREFIX", or an address: /32, /128) with a
 * note (NULL: none) and lift the bans inside it. *added gets the block.
 * Errors, each with a message in why: EINVAL (not a block, host bits set,
 * bad note), EEXIST (listed already, here or in [guard] allow), ENOSPC
 * (full), or the errno of writing the file (nothing changed then).
 */
int guard_allow_add(struct guard *g, const char *text, const char *note,
		    struct config_cidr *added, char *why, size_t size);
/*
 * Remove the block text from the runtime list. EINVAL for a bad block or
 * one that is only in [guard] allow, ENOENT when it is not listed, or the
 * errno of writing the file (nothing changed then); a message in why.
 */
int guard_allow_remove(struct guard *g, const char *text, struct config_cidr *removed,
		       char *why, size_t size);
/* The runtime entries (sorted by family, network, prefix) and their count. */
const struct guard_allow_entry *guard_allow_runtime(const struct guard *g, size_t *n);
/* The running configuration's [guard] allow. */
const struct config_cidrlist *guard_allow_config(const struct guard *g);
/* "ADDRESS/PREFIX" or an address, host bits zero: 0, or EINVAL with a message in why. */
int guard_cidr_parse(const char *text, struct config_cidr *c, char *why, size_t size);
/* At most GUARD_NOTE_MAX printable ASCII characters. */
bool guard_note_valid(const char *note);

const struct guard_stats *guard_stats(const struct guard *g);
bool guard_enabled(const struct guard *g);
size_t guard_sources(const struct guard *g);
/* Active bans into out (at most max); returns how many there are in all. */
size_t guard_bans(const struct guard *g, struct guard_ban_info *out, size_t max);
/* The n sources with most packets blocked, most first; returns how many written. */
size_t guard_top(const struct guard *g, struct guard_offender *out, size_t n);
/*
 * Blocked packets per reason over time: out[reason][i] for GUARD_SECONDS_KEPT
 * seconds or GUARD_MINUTES_KEPT minutes, oldest first, the last slot being
 * the current second or minute; *end is that slot's unix time.
 */
void guard_timeline(const struct guard *g, enum guard_scale scale, uint32_t *out,
		    size_t per_reason, int64_t *end);

const char *guard_reason_name(enum guard_reason r);
int guard_reason_lookup(const char *name, enum guard_reason *r);

/* Scanning helpers, exposed for tests and fuzzing (scan.c). */
enum guard_class { GUARD_CL_INVITE, GUARD_CL_REGISTER, GUARD_CL_OPTIONS, GUARD_CL_OTHER,
		   GUARD_CL_RESPONSE, GUARD_CL__COUNT };
struct guard_scan {
	enum guard_class cls;
	struct pl ua;          /* User-Agent value, or unset */
	struct pl to_user;     /* user part of the To URI, or unset */
	struct pl ruri_user;   /* user part of the request URI, or unset */
	uint16_t status;       /* responses */
};
void guard_scan(const char *data, size_t len, bool headers, struct guard_scan *s);
bool guard_ua_is_scanner(const struct pl *ua, const struct config_strlist *extra);

#endif
