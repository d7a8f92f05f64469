/* guard_int: the guard's tables and state, shared by its files. */
#ifndef SBC_GUARD_INT_H
#define SBC_GUARD_INT_H

#include "guard.h"

/*
 * Every table is set-associative: GUARD_WAYS slots per set, the set chosen
 * by a keyed hash of the key, a new key taking a free slot or the least
 * recently used one of its set. Beside the slots, each set's 16-bit hash
 * tags sit in one cache line: a lookup reads that line and touches a slot
 * only when a tag matches, so a miss (a spoofed source) costs one line,
 * not the eight slots. Nothing is allocated after guard_alloc, so
 * a flood from any number of sources cannot grow memory; the secret hash
 * key keeps an attacker from aiming at one set.
 */
enum { GUARD_WAYS = 8, GUARD_USER_WAYS = 8 };

/* An address as a table key: IPv6, or IPv4 mapped into ::ffff:0:0/96. */
struct gkey {
	uint64_t a, b;
};

/* What every table slot starts with; last_ms 0 is a free slot. */
struct gslot {
	struct gkey k;
	uint64_t last_ms;
};

/* A source address and what it did lately. */
struct gsrc {
	struct gslot s;
	uint64_t bucket_ms;               /* leaky bucket of all packets */
	uint64_t level;                   /* its content, in 1/1000 packets */
	uint32_t period;                  /* second of cur[] */
	uint16_t cur[4], prev[4];         /* requests per class this second and the last */
	uint32_t win;                     /* window_s period of the counts below */
	uint16_t malformed, auth_fail, toll, distinct;
	uint32_t users[8];                /* set of user hashes answered 401/403/404/407/484 */
	uint16_t reasons_seen;            /* reasons this source was counted under */
	uint8_t last_reason;
	uint32_t blocked;                 /* packets dropped (not while banned) */
};

/* A destination user (by hash of its name). */
struct guser {
	struct gslot s;
	uint32_t period;
	uint32_t cur, prev;
	uint32_t win;
	uint32_t auth_fail;
};

/* A source trusted until until_ms (registered or authenticated). */
struct gtrust {
	struct gslot s;
	uint64_t until_ms;
};

/* A ban, active or kept inactive to remember strikes. */
struct gban {
	struct gslot s;
	uint64_t until_ms;
	uint64_t packets;
	int64_t first_seen;               /* unix seconds of this ban */
	uint16_t strikes;
	uint8_t reason;
	bool active;
};

struct gtable {
	uint8_t *mem;
	uint16_t *tag;                    /* per slot: 16 bits of its hash, 0 when free */
	size_t esz;
	uint32_t nsets;                   /* power of two */
	size_t used;
};

struct guard_nft;

struct guard {
	const struct sbc_config *cfg;     /* referenced */
	const struct config_guard *gc;    /* &cfg->guard */
	uint8_t hkey[16];
	uint64_t t0_ms;                   /* monotonic start: table times count from it, never 0 */
	int64_t wall_off_ms;              /* unix ms = now_ms + wall_off_ms */
	struct gtable src, user, trust, ban;
	uint64_t cap_ms;                  /* untrusted share of capacity_pps: leaky bucket */
	uint64_t cap_level;               /* in 1/1000 packets */
	struct guard_stats stats;
	uint64_t media_seen[2];           /* media drop totals last handed over: source, policing */
	/* timelines: slot i holds the second (minute) sec_at[i] (min_at[i]) */
	int64_t sec_at[GUARD_SECONDS_KEPT];
	uint32_t sec[GUARD_SECONDS_KEPT][GUARD_REASON__COUNT];
	int64_t min_at[GUARD_MINUTES_KEPT];
	uint32_t min[GUARD_MINUTES_KEPT][GUARD_REASON__COUNT];
	/* persistence */
	char *bans_path;
	bool dirty;
	uint64_t saved_ms;
	uint64_t ban_budget_at;           /* new bans per second are limited */
	unsigned ban_budget;
	unsigned ban_logs;                /* ban lines logged this second */
	struct guard_nft *nft;            /* kernel drop, NULL when off or unavailable */
	/* runtime allow list (allow.c): GUARD_ALLOW_MAX slots from the start, sorted */
	struct guard_allow_entry *allow;
	size_t allow_n;
	uint8_t allow_plen[2][129];       /* per family (IPv4, IPv6): prefix lengths in use, longest first */
	uint8_t allow_nplen[2];
	char *allow_path;                 /* NULL: not kept in a file */
};

uint64_t guard_now(const struct guard *g);
uint64_t guard_hash(const struct guard *g, const struct gkey *k);
void guard_key(struct gkey *k, const struct sockaddr_storage *ss);
void guard_key_addr(const struct gkey *k, struct sockaddr_storage *ss);

int gtable_init(struct gtable *t, size_t entries, size_t esz);
void gtable_close(struct gtable *t);
struct gslot *gtable_find(struct gtable *t, uint64_t h, const struct gkey *k);
/*
 * Find k or take a slot for it (zeroed, key set): a free one, else the one
 * victim_h prefers (NULL: the least recently used). *evicted says an entry
 * was replaced; old (may be NULL) then receives a copy of it.
 */
typedef bool (gtable_victim_h)(const struct gslot *cand, const struct gslot *best);
struct gslot *gtable_get(struct gtable *t, uint64_t h, const struct gkey *k, uint64_t now,
			 gtable_victim_h *better, bool *created, bool *evicted, void *old);
struct gslot *gtable_at(const struct gtable *t, size_t i);
void gtable_free(struct gtable *t, struct gslot *s);
size_t gtable_size(const struct gtable *t);

/* bans.c */
bool guard_banned(struct guard *g, uint64_t h, const struct gkey *k, uint64_t now);
bool guard_ban_active(struct guard *g, uint64_t h, const struct gkey *k, uint64_t now);
void guard_ban(struct guard *g, uint64_t h, const struct gkey *k, enum guard_reason r,
	       uint64_t now, const char *detail);
int guard_bans_load(struct guard *g);
void guard_count(struct guard *g, struct gsrc *s, enum guard_reason r, uint64_t now);
void guard_timeline_add(struct guard *g, enum guard_reason r, uint32_t n, uint64_t now);
size_t guard_bans_lift(struct guard *g, const struct config_cidr *c);

/* allow.c */
bool guard_allow_match(const struct guard *g, const struct sockaddr_storage *sa);

/* nft.c: kernel drop of banned sources with nftables */
int guard_nft_alloc(struct guard_nft **np, const char *ifname);
void guard_nft_ban(struct guard_nft *n, const struct sockaddr_storage *addr, unsigned secs);
void guard_nft_unban(struct guard_nft *n, const struct sockaddr_storage *addr);
void guard_nft_flush(struct guard_nft *n);

#endif
