/* guard: trust, rates and detections for every packet of the public zone (docs/guard.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "net/net.h"
#include "guard_int.h"

enum {
	TRUSTED_FACTOR = 10,          /* trusted sources' limits are this many times higher */
	TRUST_TTL_MS = 3600 * 1000,   /* a registration or login vouches for this long */
	CRACK_USER_FACTOR = 3,        /* failures for one user, from all sources */
	USER_TABLE_DIV = 4,           /* user and trust tables: table_size / this */
};

static const char *const reason_names[GUARD_REASON__COUNT] = {
	[GUARD_FLOOD] = "flood",
	[GUARD_RATE] = "rate",
	[GUARD_CAPACITY] = "capacity",
	[GUARD_USER_FLOOD] = "user_flood",
	[GUARD_SCANNER] = "scanner",
	[GUARD_ENUM] = "enumeration",
	[GUARD_CRACK] = "cracking",
	[GUARD_MALFORMED] = "malformed",
	[GUARD_OVERSIZED] = "oversized",
	[GUARD_TOLL] = "toll_fraud",
	[GUARD_RTP_SOURCE] = "rtp_source",
	[GUARD_RTP_POLICING] = "rtp_policing",
};

const char *guard_reason_name(enum guard_reason r)
{
	return (unsigned)r < GUARD_REASON__COUNT ? reason_names[r] : "?";
}

int guard_reason_lookup(const char *name, enum guard_reason *r)
{
	for (unsigned i = 0; i < GUARD_REASON__COUNT; i++) {
		if (strcmp(name, reason_names[i]) == 0) {
			*r = (enum guard_reason)i;
			return 0;
		}
	}
	return ENOENT;
}

static void wall_sync(struct guard *g, uint64_t now)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	g->wall_off_ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 - (int64_t)now;
}

static void guard_destroy(void *data)
{
	struct guard *g = data;

	mem_deref(g->nft);
	gtable_close(&g->src);
	gtable_close(&g->user);
	gtable_close(&g->trust);
	gtable_close(&g->ban);
	free(g->bans_path);
	free(g->allow);
	free(g->allow_path);
	mem_deref((void *)g->cfg);
}

static const char *public_ifname(const struct sbc_config *cfg)
{
	return config_zone(cfg, ZONE_PUBLIC)->interface;
}

int guard_alloc(struct guard **gp, const struct sbc_config *cfg, const char *bans_path)
{
	const struct config_guard *gc = &cfg->guard;
	size_t side = gc->table_size / USER_TABLE_DIV;
	struct guard *g;
	struct timespec ts;
	int err;

	g = mem_zalloc(sizeof(*g), guard_destroy);
	if (!g)
		return ENOMEM;
	g->cfg = mem_ref((void *)cfg);
	g->gc = gc;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	/* table times count from one second before now, so that none is 0 */
	g->t0_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u - 1000u;
	err = random_bytes(g->hkey, sizeof(g->hkey));
	if (!err)
		err = gtable_init(&g->src, gc->table_size, sizeof(struct gsrc));
	if (!err)
		err = gtable_init(&g->user, side, sizeof(struct guser));
	if (!err)
		err = gtable_init(&g->trust, side, sizeof(struct gtrust));
	if (!err)
		err = gtable_init(&g->ban, gc->max_bans, sizeof(struct gban));
	if (!err && !(g->allow = calloc(GUARD_ALLOW_MAX, sizeof(*g->allow))))
		err = ENOMEM;
	if (!err && bans_path && !(g->bans_path = strdup(bans_path)))
		err = ENOMEM;
	if (err) {
		mem_deref(g);
		return err;
	}
	wall_sync(g, guard_now(g));
	if (gc->enabled && gc->kernel_drop == CONFIG_KERNEL_DROP_NFTABLES) {
		err = guard_nft_alloc(&g->nft, public_ifname(cfg));
		if (err)
			log_warn("guard: kernel drop with nftables unavailable (%s): banned sources "
				 "are dropped before the SIP parser only", strerror(err));
	}
	if (g->bans_path)
		guard_bans_load(g);   /* after nft: restored bans go to the kernel too */
	*gp = g;
	return 0;
}

void guard_apply(struct guard *g, const struct sbc_config *cfg)
{
	if (cfg->guard.table_size != g->gc->table_size || cfg->guard.max_bans != g->gc->max_bans)
		log_warn("guard: table_size and max_bans changes take effect at the next start");
	if (cfg->guard.kernel_drop != g->gc->kernel_drop)
		log_warn("guard: kernel_drop changes take effect at the next start");
	mem_deref((void *)g->cfg);
	g->cfg = mem_ref((void *)cfg);
	g->gc = &cfg->guard;
}

bool guard_enabled(const struct guard *g)
{
	return g->gc->enabled;
}

const struct guard_stats *guard_stats(const struct guard *g)
{
	return &g->stats;
}

size_t guard_sources(const struct guard *g)
{
	return g->src.used;
}

const struct config_cidrlist *guard_allow_config(const struct guard *g)
{
	return &g->gc->allow;
}

/* Operator's allow lists, configured and runtime: never limited, never banned. */
static bool allowed(const struct guard *g, const struct sockaddr_storage *sa)
{
	if (g->gc->allow.n && config_cidrlist_match(&g->gc->allow, (const struct sockaddr *)sa))
		return true;
	return g->allow_n && guard_allow_match(g, sa);
}

/* Trunks of the public zone (their allow lists) and the core: configured peers. */
static bool peer(const struct guard *g, const struct sockaddr_storage *sa)
{
	const struct sbc_config *cfg = g->cfg;

	if (cfg->core.address.addr.set && net_sa_eq_ip(&cfg->core.address.addr.ss, sa))
		return true;
	for (unsigned i = 0; i < cfg->trunk_count; i++) {
		const struct config_trunk *t = &cfg->trunks[i];

		if (t->zone == ZONE_PUBLIC && t->allow.n &&
		    config_cidrlist_match(&t->allow, (const struct sockaddr *)sa))
			return true;
	}
	return false;
}

static bool trusted(struct guard *g, uint64_t h, const struct gkey *k, uint64_t now)
{
	struct gtrust *t = g->trust.used ? (struct gtrust *)gtable_find(&g->trust, h, k) : NULL;

	if (!t)
		return false;
	if (t->until_ms > now)
		return true;
	gtable_free(&g->trust, &t->s);   /* lapsed */
	return false;
}

static void demote(struct guard *g, uint64_t h, const struct gkey *k)
{
	struct gslot *t = gtable_find(&g->trust, h, k);

	if (t) {
		gtable_free(&g->trust, t);
		g->stats.demoted++;
	}
}

static struct gsrc *source(struct guard *g, uint64_t h, const struct gkey *k, uint64_t now)
{
	bool created, evicted;
	struct gsrc *s = (struct gsrc *)gtable_get(&g->src, h, k, now, NULL, &created, &evicted, NULL);

	if (evicted)
		g->stats.evicted_sources++;
	if (created)
		s->bucket_ms = now;
	s->s.last_ms = now;
	return s;
}

/* Start a new window_s period for the behaviour counts when this one is over. */
static void window(const struct guard *g, struct gsrc *s, uint64_t now)
{
	uint32_t w = (uint32_t)(now / ((uint64_t)g->gc->window_s * 1000u));

	if (s->win != w) {
		s->win = w;
		s->malformed = s->auth_fail = s->toll = s->distinct = 0;
		memset(s->users, 0, sizeof(s->users));
	}
}

/* Leaky bucket: true if one more packet fits under rate per second (burst: one second). */
static bool bucket(uint64_t *at, uint64_t *level, uint64_t rate, uint64_t now)
{
	uint64_t drained = (now - *at) * rate;   /* ms * packets/s = 1/1000 packets */
	uint64_t cap = rate * 1000u;

	*at = now;
	*level = drained >= *level ? 0 : *level - drained;
	if (*level + 1000u > cap)
		return false;
	*level += 1000u;
	return true;
}

/* Two-period sliding estimate of requests per second, after counting this one. */
static uint32_t sliding(uint32_t *period, uint32_t *cur, uint32_t *prev, uint64_t now)
{
	uint32_t p = (uint32_t)(now / 1000u);
	uint64_t rest = 1000u - now % 1000u;

	if (p != *period) {
		*prev = p == *period + 1 ? *cur : 0;
		*cur = 0;
		*period = p;
	}
	(*cur)++;
	return (uint32_t)((uint64_t)*prev * rest / 1000u) + *cur;
}

/* The same two-period estimate for one request class; the classes share one period. */
static uint32_t class_rate(struct gsrc *s, enum guard_class c, uint64_t now)
{
	uint32_t p = (uint32_t)(now / 1000u);

	if (p != s->period) {
		for (unsigned i = 0; i < ARRAY_SIZE(s->cur); i++) {
			s->prev[i] = p == s->period + 1 ? s->cur[i] : 0;
			s->cur[i] = 0;
		}
		s->period = p;
	}
	if (s->cur[c] < UINT16_MAX)
		s->cur[c]++;
	return (uint32_t)((uint64_t)s->prev[c] * (1000u - now % 1000u) / 1000u) + s->cur[c];
}

static unsigned class_limit(const struct config_guard *gc, enum guard_class c)
{
	switch (c) {
	case GUARD_CL_INVITE:
		return gc->rate_invite;
	case GUARD_CL_REGISTER:
		return gc->rate_register;
	case GUARD_CL_OPTIONS:
		return gc->rate_options;
	default:
		return gc->rate_other;
	}
}

/* The first digits of a user part, %HH escapes decoded (sip:%2B44... is +44...). */
static size_t user_head(const struct pl *user, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < user->l && n + 1 < size; i++) {
		int hi, lo;

		if (user->p[i] == '%' && i + 2 < user->l && (hi = hex_digit(user->p[i + 1])) >= 0 &&
		    (lo = hex_digit(user->p[i + 2])) >= 0) {
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			out[n++] = user->p[i];
		}
	}
	out[n] = '\0';
	return n;
}

static bool international(const struct guard *g, const struct pl *user)
{
	const struct config_strlist *l = &g->gc->toll_prefixes;
	char head[24];
	size_t n;

	if (!pl_isset(user))
		return false;
	n = user_head(user, head, sizeof(head));
	if (n && head[0] == '+')
		return true;
	for (unsigned i = 0; i < l->n; i++) {
		size_t pn = strlen(l->v[i]);

		if (pn && n > pn && memcmp(head, l->v[i], pn) == 0)
			return true;
	}
	return false;
}

static struct guser *user_entry(struct guard *g, const struct pl *name, uint64_t now)
{
	struct gkey k = { siphash24(g->hkey, name->p, name->l), 0x75736572 };
	bool created, evicted;
	struct guser *u = (struct guser *)gtable_get(&g->user, k.a, &k, now, NULL, &created,
						     &evicted, NULL);

	u->s.last_ms = now;
	return u;
}

static void drop(struct guard *g, struct gsrc *s, enum guard_reason r, uint64_t now)
{
	guard_count(g, s, r, now);
}

/* A trusted source's request with a scanner User-Agent. */
static bool trusted_scanner(const struct guard *g, const char *data, size_t len)
{
	struct guard_scan sc;

	guard_scan(data, len, true, &sc);
	return guard_ua_is_scanner(&sc.ua, &g->gc->scanner_agents);
}

/* Untrusted sources' share of capacity_pps per second. */
static uint64_t capacity_share(const struct config_guard *gc)
{
	uint64_t share = (uint64_t)gc->capacity_pps * (100u - gc->trusted_reserve_pct) / 100u;

	return share ? share : 1;
}

/* Would one more untrusted packet fit now? Drains the bucket, takes nothing. */
static bool capacity_room(struct guard *g, uint64_t now)
{
	uint64_t rate = capacity_share(g->gc), drained = (now - g->cap_ms) * rate;
	uint64_t level = drained >= g->cap_level ? 0 : g->cap_level - drained;

	return level + 1000u <= rate * 1000u;
}

/* The untrusted path after the per-source limits: capacity, signatures, users, toll. */
static bool untrusted_checks(struct guard *g, uint64_t h, const struct gkey *k, struct gsrc *s,
			     const char *data, size_t len, enum guard_class cls, uint64_t now)
{
	const struct config_guard *gc = g->gc;
	struct guard_scan sc;

	if (!bucket(&g->cap_ms, &g->cap_level, capacity_share(gc), now)) {
		drop(g, s, GUARD_CAPACITY, now);
		return false;
	}
	if (cls == GUARD_CL_RESPONSE)
		return true;
	guard_scan(data, len, true, &sc);
	if (guard_ua_is_scanner(&sc.ua, &gc->scanner_agents)) {
		char ua[64];

		log_excerpt(ua, sizeof(ua), sc.ua.p, sc.ua.l);
		guard_ban(g, h, k, GUARD_SCANNER, now, ua);
		drop(g, s, GUARD_SCANNER, now);
		return false;
	}
	/* the destination: the request-URI's user, or for a REGISTER the AOR's (To) */
	if (pl_isset(&sc.ruri_user) || (cls == GUARD_CL_REGISTER && pl_isset(&sc.to_user))) {
		struct guser *u = user_entry(g, pl_isset(&sc.ruri_user) ? &sc.ruri_user : &sc.to_user,
					     now);

		if (sliding(&u->period, &u->cur, &u->prev, now) > gc->rate_user) {
			drop(g, s, GUARD_USER_FLOOD, now);
			return false;
		}
	}
	if (cls == GUARD_CL_INVITE && international(g, &sc.ruri_user)) {
		window(g, s, now);
		if (++s->toll >= gc->toll_threshold) {
			guard_ban(g, h, k, GUARD_TOLL, now, "international INVITEs");
			drop(g, s, GUARD_TOLL, now);
			return false;
		}
	}
	return true;
}

bool guard_admit(struct guard *g, const struct sockaddr_storage *src)
{
	uint64_t now, h;
	struct gkey k;

	if (!g->gc->enabled || !g->ban.used || allowed(g, src) || peer(g, src))
		return true;
	now = guard_now(g);
	guard_key(&k, src);
	h = guard_hash(g, &k);
	return !guard_banned(g, h, &k, now);
}

bool guard_pre(struct guard *g, const struct sockaddr_storage *src, const char *data, size_t len)
{
	const struct config_guard *gc = g->gc;
	uint64_t now, h, rate;
	struct guard_scan first;
	struct gkey k;
	struct gsrc *s;
	bool trust;

	if (!gc->enabled)
		return true;
	now = guard_now(g);
	guard_key(&k, src);
	h = guard_hash(g, &k);
	if (allowed(g, src) || peer(g, src)) {
		g->stats.passed++;
		return true;   /* even if banned before the allow list named it */
	}
	if (g->ban.used && guard_banned(g, h, &k, now))
		return false;
	trust = trusted(g, h, &k, now);
	if (!trust && !(s = (struct gsrc *)gtable_find(&g->src, h, &k)) && !capacity_room(g, now)) {
		/*
		 * A source we do not know while untrusted traffic is over its
		 * share: the mark of a spoofed flood. Dropped without taking a
		 * table slot, so the flood neither costs an eviction per packet
		 * nor pushes out the sources whose counts matter.
		 */
		drop(g, NULL, GUARD_CAPACITY, now);
		g->stats.reason[GUARD_CAPACITY].sources++;   /* not remembered: each counts */
		return false;
	}
	s = source(g, h, &k, now);
	if (len > gc->max_packet_size) {
		drop(g, s, GUARD_OVERSIZED, now);
		guard_event(g, src, GUARD_EV_MALFORMED, NULL);
		return false;
	}
	rate = (uint64_t)gc->rate_packets * (trust ? TRUSTED_FACTOR : 1);
	if (!bucket(&s->bucket_ms, &s->level, rate, now)) {
		drop(g, s, GUARD_RATE, now);
		return false;
	}
	guard_scan(data, len, false, &first);
	if (first.cls != GUARD_CL_RESPONSE) {
		uint64_t limit = (uint64_t)class_limit(gc, first.cls) * (trust ? TRUSTED_FACTOR : 1);

		if (class_rate(s, first.cls, now) > limit) {
			if (trust) {
				demote(g, h, &k);
				log_info("guard: %s demoted: %s flood", "trusted source",
					 first.cls == GUARD_CL_INVITE ? "INVITE" :
					 first.cls == GUARD_CL_REGISTER ? "REGISTER" :
					 first.cls == GUARD_CL_OPTIONS ? "OPTIONS" : "request");
			} else {
				guard_ban(g, h, &k, GUARD_FLOOD, now, "request rate");
			}
			drop(g, s, GUARD_FLOOD, now);
			return false;
		}
	}
	if (!trust && !untrusted_checks(g, h, &k, s, data, len, first.cls, now))
		return false;
	if (trust && first.cls != GUARD_CL_RESPONSE && trusted_scanner(g, data, len)) {
		/* a login does not vouch for a scanner: demoted, and banned like anyone */
		demote(g, h, &k);
		guard_ban(g, h, &k, GUARD_SCANNER, now, "scanner User-Agent from a trusted source");
		drop(g, s, GUARD_SCANNER, now);
		return false;
	}
	g->stats.passed++;
	return true;
}

/* A source did something bannable: count it in its window, ban at the threshold. */
static void behaviour(struct guard *g, const struct sockaddr_storage *src, enum guard_reason r,
		      const struct pl *user, uint64_t now)
{
	const struct config_guard *gc = g->gc;
	struct gkey k;
	uint64_t h;
	struct gsrc *s;
	bool over = false;

	if (allowed(g, src) || peer(g, src))
		return;
	guard_key(&k, src);
	h = guard_hash(g, &k);
	if (guard_ban_active(g, h, &k, now))
		return;   /* already dropped at the door; retransmitted answers are no news */
	s = source(g, h, &k, now);
	window(g, s, now);
	switch (r) {
	case GUARD_MALFORMED:
		over = ++s->malformed >= gc->malformed_threshold;
		break;
	case GUARD_CRACK:
		over = ++s->auth_fail >= gc->auth_fail_threshold;
		if (pl_isset(user)) {
			struct guser *u = user_entry(g, user, now);
			uint32_t w = (uint32_t)(now / ((uint64_t)gc->window_s * 1000u));

			if (u->win != w) {
				u->win = w;
				u->auth_fail = 0;
			}
			if (++u->auth_fail >= gc->auth_fail_threshold * CRACK_USER_FACTOR)
				over = true;
		}
		break;
	case GUARD_ENUM: {
		/* a 256-bit set of user hashes: a user refused again counts once */
		uint32_t uh = (uint32_t)siphash24(g->hkey, user && user->p ? user->p : "",
						  user && user->p ? user->l : 0) & 255u;
		uint32_t bit = 1u << (uh & 31u);

		if (s->users[uh >> 5] & bit)
			break;
		s->users[uh >> 5] |= bit;
		over = ++s->distinct >= gc->enum_threshold;
		break;
	}
	default:
		break;
	}
	if (!over)
		return;
	demote(g, h, &k);
	guard_ban(g, h, &k, r, now, r == GUARD_ENUM ? "distinct users refused" :
		  r == GUARD_CRACK ? "failed authentications" : "malformed packets");
}

void guard_event(struct guard *g, const struct sockaddr_storage *src, enum guard_event ev,
		 const struct pl *user)
{
	uint64_t now;

	if (!g->gc->enabled)
		return;
	now = guard_now(g);
	switch (ev) {
	case GUARD_EV_MALFORMED:
		behaviour(g, src, GUARD_MALFORMED, NULL, now);
		break;
	case GUARD_EV_AUTH_FAIL:
		behaviour(g, src, GUARD_CRACK, user, now);
		break;
	case GUARD_EV_AUTH_OK:
	case GUARD_EV_REGISTERED: {
		struct gkey k;
		uint64_t h;
		bool created, evicted;
		struct gtrust *t;

		guard_key(&k, src);
		h = guard_hash(g, &k);
		t = (struct gtrust *)gtable_get(&g->trust, h, &k, now, NULL, &created, &evicted, NULL);
		t->s.last_ms = now;
		t->until_ms = now + TRUST_TTL_MS;
		break;
	}
	}
}

void guard_sent(struct guard *g, const struct sockaddr_storage *dst, const char *data, size_t len)
{
	struct guard_scan sc;
	struct gkey k;

	if (!g->gc->enabled || len < 12 || memcmp(data, "SIP/2.0 4", 9) != 0)
		return;
	guard_scan(data, len, false, &sc);
	switch (sc.status) {
	case 401: case 403: case 404: case 407: case 484:
		break;
	default:
		return;
	}
	guard_key(&k, dst);
	if (trusted(g, guard_hash(g, &k), &k, guard_now(g)))
		return;
	guard_scan(data, len, true, &sc);
	behaviour(g, dst, GUARD_ENUM, &sc.to_user, guard_now(g));
}

/* The growth of one media drop total since the last hand-over, counted under r. */
static void media_drops_add(struct guard *g, unsigned i, enum guard_reason r, uint64_t total,
			    uint64_t now)
{
	uint64_t n = total >= g->media_seen[i] ? total - g->media_seen[i] : total;

	g->media_seen[i] = total;
	if (!n)
		return;
	g->stats.blocked += n;
	g->stats.reason[r].packets += n;
	guard_timeline_add(g, r, n > UINT32_MAX ? UINT32_MAX : (uint32_t)n, now);
}

void guard_media_drops(struct guard *g, uint64_t source, uint64_t policing)
{
	uint64_t now;

	if (!g)
		return;
	now = guard_now(g);
	media_drops_add(g, 0, GUARD_RTP_SOURCE, source, now);
	media_drops_add(g, 1, GUARD_RTP_POLICING, policing, now);
}

void guard_tick(struct guard *g)
{
	uint64_t now = guard_now(g);

	wall_sync(g, now);
	if (g->nft)
		guard_nft_flush(g->nft);
	if (g->dirty && g->bans_path && (!g->saved_ms || now - g->saved_ms >= 5000))
		guard_save(g);
}
