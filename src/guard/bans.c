/* bans: the ban table, what was blocked (counters, timelines, offenders) and the bans file. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/net.h"
#include "guard_int.h"

/* The ban table turns over no faster than in this many seconds (new bans per second). */
enum { BAN_TURNOVER_S = 16, BAN_LOGS_PER_S = 20 };

static int64_t unix_s(const struct guard *g, uint64_t now)
{
	return ((int64_t)now + g->wall_off_ms) / 1000;
}

void guard_timeline_add(struct guard *g, enum guard_reason r, uint32_t n, uint64_t now)
{
	int64_t t = unix_s(g, now), m = t / 60;
	size_t i = (size_t)(t % GUARD_SECONDS_KEPT), j = (size_t)(m % GUARD_MINUTES_KEPT);

	if (g->sec_at[i] != t) {
		g->sec_at[i] = t;
		memset(g->sec[i], 0, sizeof(g->sec[i]));
	}
	g->sec[i][r] = g->sec[i][r] > UINT32_MAX - n ? UINT32_MAX : g->sec[i][r] + n;
	if (g->min_at[j] != m) {
		g->min_at[j] = m;
		memset(g->min[j], 0, sizeof(g->min[j]));
	}
	g->min[j][r] = g->min[j][r] > UINT32_MAX - n ? UINT32_MAX : g->min[j][r] + n;
}

/* A packet blocked for r; s (may be NULL) is its source's entry. */
void guard_count(struct guard *g, struct gsrc *s, enum guard_reason r, uint64_t now)
{
	g->stats.blocked++;
	g->stats.reason[r].packets++;
	guard_timeline_add(g, r, 1, now);
	if (!s)
		return;
	s->blocked++;
	s->last_reason = (uint8_t)r;
	if (!(s->reasons_seen & (1u << r))) {
		s->reasons_seen |= (uint16_t)(1u << r);
		g->stats.reason[r].sources++;
	}
}

/* Is k banned now? No counting, no side effects. */
bool guard_ban_active(struct guard *g, uint64_t h, const struct gkey *k, uint64_t now)
{
	const struct gban *b = (const struct gban *)gtable_find(&g->ban, h, k);

	return b && b->active && b->until_ms > now;
}

bool guard_banned(struct guard *g, uint64_t h, const struct gkey *k, uint64_t now)
{
	struct gban *b = (struct gban *)gtable_find(&g->ban, h, k);

	if (!b || !b->active)
		return false;
	if (b->until_ms <= now) {
		b->active = false;   /* kept to remember the strikes */
		g->dirty = true;
		return false;
	}
	b->packets++;
	b->s.last_ms = now;
	guard_count(g, NULL, (enum guard_reason)b->reason, now);
	return true;
}

/* When the table is full: an inactive ban goes first, then the one ending soonest. */
static bool ban_victim(const struct gslot *cand, const struct gslot *best)
{
	const struct gban *c = (const struct gban *)cand, *b = (const struct gban *)best;

	if (c->active != b->active)
		return !c->active;
	if (!c->active)
		return c->s.last_ms < b->s.last_ms;
	return c->until_ms < b->until_ms;
}

static void addr_text(const struct gkey *k, char *buf, size_t size)
{
	struct sockaddr_storage ss;

	guard_key_addr(k, &ss);
	net_sa_ip_str(&ss, buf, size);
}

void guard_ban(struct guard *g, uint64_t h, const struct gkey *k, enum guard_reason r,
	       uint64_t now, const char *detail)
{
	const struct config_guard *gc = g->gc;
	bool created, evicted;
	struct gban *b, old;
	uint64_t secs;
	char who[NET_ADDRSTRLEN];

	if (guard_ban_active(g, h, k, now))
		return;
	/*
	 * New bans per second are limited, so that a spoofed flood of scanner
	 * packets cannot churn the table and push out the bans that matter;
	 * past the budget the packets are still dropped, the source not banned.
	 */
	if (now - g->ban_budget_at >= 1000) {
		if (g->ban_logs > BAN_LOGS_PER_S)
			log_info("guard: %u more bans in the last second not logged",
				 g->ban_logs - BAN_LOGS_PER_S);
		g->ban_budget_at = now;
		g->ban_budget = MAX(gc->max_bans / BAN_TURNOVER_S, 10u);
		g->ban_logs = 0;
	}
	if (!gtable_find(&g->ban, h, k)) {
		if (g->ban_budget == 0) {
			g->stats.bans_deferred++;
			return;
		}
		g->ban_budget--;
	}
	b = (struct gban *)gtable_get(&g->ban, h, k, now, ban_victim, &created, &evicted, &old);
	if (evicted && old.active && old.until_ms > now)
		g->stats.evicted_bans++;
	/* a repeat within ban_time_max_s of the last ban's end doubles the time */
	if (created || now > b->until_ms + (uint64_t)gc->ban_time_max_s * 1000u)
		b->strikes = 1;
	else if (b->strikes < 64)
		b->strikes++;
	secs = gc->ban_time_s;
	for (unsigned i = 1; i < b->strikes && secs < gc->ban_time_max_s; i++)
		secs *= 2;
	if (secs > gc->ban_time_max_s)
		secs = gc->ban_time_max_s;
	b->active = true;
	b->reason = (uint8_t)r;
	b->packets = 0;
	b->first_seen = unix_s(g, now);
	b->until_ms = now + secs * 1000u;
	b->s.last_ms = now;
	g->stats.bans++;
	{
		/* a source counts once per reason, whether banned or dropped */
		struct gsrc *src = (struct gsrc *)gtable_find(&g->src, h, k);

		if (!src || !(src->reasons_seen & (1u << r))) {
			g->stats.reason[r].sources++;
			if (src)
				src->reasons_seen |= (uint16_t)(1u << r);
		}
	}
	g->dirty = true;
	if (g->ban_logs++ < BAN_LOGS_PER_S) {
		addr_text(k, who, sizeof(who));
		log_info("guard: banned %s for %llu s: %s (%s), strike %u", who,
			 (unsigned long long)secs, guard_reason_name(r), detail ? detail : "",
			 b->strikes);
	}
	if (g->nft) {
		struct sockaddr_storage ss;

		guard_key_addr(k, &ss);
		guard_nft_ban(g->nft, &ss, (unsigned)secs);
		g->stats.kernel_bans++;
	}
}

int guard_unban(struct guard *g, const struct sockaddr_storage *addr)
{
	struct gkey k;
	struct gban *b;
	uint64_t now = guard_now(g);

	guard_key(&k, addr);
	b = (struct gban *)gtable_find(&g->ban, guard_hash(g, &k), &k);
	if (!b || !b->active || b->until_ms <= now)
		return ENOENT;
	/* lifted by the operator: forget the strikes as well */
	gtable_free(&g->ban, &b->s);
	g->dirty = true;
	if (g->nft)
		guard_nft_unban(g->nft, addr);
	return 0;
}

/*
 * The operator allowed block c: forget every ban of an address inside it,
 * strikes included, and take them out of the kernel set. Returns how many
 * of them were active.
 */
size_t guard_bans_lift(struct guard *g, const struct config_cidr *c)
{
	uint64_t now = guard_now(g);
	size_t n = 0;

	for (size_t i = 0; i < gtable_size(&g->ban); i++) {
		struct gban *b = (struct gban *)gtable_at(&g->ban, i);
		struct sockaddr_storage ss;

		if (!b->s.last_ms)
			continue;
		guard_key_addr(&b->s.k, &ss);
		if (!config_cidr_match(c, (const struct sockaddr *)&ss))
			continue;
		if (b->active && b->until_ms > now) {
			n++;
			if (g->nft)
				guard_nft_unban(g->nft, &ss);
		}
		gtable_free(&g->ban, &b->s);
		g->dirty = true;
	}
	return n;
}

static void ban_info(const struct guard *g, const struct gban *b, struct guard_ban_info *out)
{
	guard_key_addr(&b->s.k, &out->addr);
	out->reason = (enum guard_reason)b->reason;
	out->packets = b->packets;
	out->first_seen = b->first_seen;
	out->last_seen = unix_s(g, b->s.last_ms);
	out->expires = unix_s(g, b->until_ms);
	out->strikes = b->strikes;
}

size_t guard_bans(const struct guard *g, struct guard_ban_info *out, size_t max)
{
	uint64_t now = guard_now(g);
	size_t n = 0;

	for (size_t i = 0; i < gtable_size(&g->ban); i++) {
		const struct gban *b = (const struct gban *)gtable_at(&g->ban, i);

		if (!b->s.last_ms || !b->active || b->until_ms <= now)
			continue;
		if (n < max)
			ban_info(g, b, &out[n]);
		n++;
	}
	return n;
}

/* Keep out[0..n) sorted by packets, most first, with at most max entries. */
static void top_insert(struct guard_offender *out, size_t *n, size_t max,
		       const struct guard_offender *o)
{
	size_t i = *n;

	if (max == 0 || (i == max && out[max - 1].packets >= o->packets))
		return;
	if (i == max)
		i--;
	else
		(*n)++;
	while (i > 0 && out[i - 1].packets < o->packets) {
		out[i] = out[i - 1];
		i--;
	}
	out[i] = *o;
}

size_t guard_top(const struct guard *g, struct guard_offender *out, size_t max)
{
	uint64_t now = guard_now(g);
	size_t n = 0;

	for (size_t i = 0; i < gtable_size(&g->ban); i++) {
		const struct gban *b = (const struct gban *)gtable_at(&g->ban, i);
		struct guard_offender o;

		if (!b->s.last_ms || !b->active || b->until_ms <= now)
			continue;
		guard_key_addr(&b->s.k, &o.addr);
		o.reason = (enum guard_reason)b->reason;
		o.banned = true;
		o.packets = b->packets;
		{
			struct gkey k = b->s.k;
			const struct gsrc *s = (const struct gsrc *)gtable_find(
				(struct gtable *)&g->src, guard_hash(g, &k), &k);

			if (s)
				o.packets += s->blocked;
		}
		top_insert(out, &n, max, &o);
	}
	for (size_t i = 0; i < gtable_size(&g->src); i++) {
		const struct gsrc *s = (const struct gsrc *)gtable_at(&g->src, i);
		struct guard_offender o;
		struct gkey k;

		if (!s->s.last_ms || !s->blocked)
			continue;
		k = s->s.k;
		{
			const struct gban *b = (const struct gban *)gtable_find(
				(struct gtable *)&g->ban, guard_hash(g, &k), &k);

			if (b && b->active && b->until_ms > now)
				continue;   /* listed with its ban */
		}
		guard_key_addr(&k, &o.addr);
		o.reason = (enum guard_reason)s->last_reason;
		o.banned = false;
		o.packets = s->blocked;
		top_insert(out, &n, max, &o);
	}
	return n;
}

void guard_timeline(const struct guard *g, enum guard_scale scale, uint32_t *out,
		    size_t per_reason, int64_t *end)
{
	uint64_t now = guard_now(g);
	int64_t t = unix_s(g, now);
	size_t kept = scale == GUARD_SECONDS ? GUARD_SECONDS_KEPT : GUARD_MINUTES_KEPT;
	size_t n = per_reason < kept ? per_reason : kept;

	if (scale == GUARD_MINUTES)
		t /= 60;
	*end = scale == GUARD_MINUTES ? t * 60 : t;
	for (size_t i = 0; i < n; i++) {
		int64_t at = t - (int64_t)(n - 1 - i);
		size_t slot;
		const uint32_t *row;
		bool live;

		if (at < 0) {
			for (unsigned r = 0; r < GUARD_REASON__COUNT; r++)
				out[r * per_reason + i] = 0;
			continue;
		}
		slot = (size_t)(at % (int64_t)kept);
		live = scale == GUARD_SECONDS ? g->sec_at[slot] == at : g->min_at[slot] == at;
		row = scale == GUARD_SECONDS ? g->sec[slot] : g->min[slot];
		for (unsigned r = 0; r < GUARD_REASON__COUNT; r++)
			out[r * per_reason + i] = live ? row[r] : 0;
	}
}

/*
 * The bans file: {"version": 1, "bans": [{"source", "reason", "strikes",
 * "packets", "first_seen", "expires"}]}, times in unix seconds, written
 * atomically. Expired bans are not kept.
 */
int guard_save(struct guard *g)
{
	uint64_t now = guard_now(g);
	json_t *root, *list;
	char *text;
	int err;

	if (!g->bans_path)
		return 0;
	root = json_object();
	list = json_array();
	if (!root || !list) {
		json_decref(root);
		json_decref(list);
		return ENOMEM;
	}
	json_object_set_new(root, "version", json_integer(1));
	json_object_set(root, "bans", list);
	for (size_t i = 0; i < gtable_size(&g->ban); i++) {
		const struct gban *b = (const struct gban *)gtable_at(&g->ban, i);
		char who[NET_ADDRSTRLEN];

		if (!b->s.last_ms || !b->active || b->until_ms <= now)
			continue;
		addr_text(&b->s.k, who, sizeof(who));
		json_array_append_new(list, json_pack("{s:s, s:s, s:i, s:I, s:I, s:I}",
			"source", who, "reason", guard_reason_name((enum guard_reason)b->reason),
			"strikes", (int)b->strikes, "packets", (json_int_t)b->packets,
			"first_seen", (json_int_t)b->first_seen,
			"expires", (json_int_t)unix_s(g, b->until_ms)));
	}
	json_decref(list);
	text = json_dumps(root, JSON_INDENT(1));
	json_decref(root);
	if (!text)
		return ENOMEM;
	err = file_write_atomic(g->bans_path, text, strlen(text), 0600);
	free(text);
	if (err) {
		log_warn("guard: %s: %s", g->bans_path, strerror(err));
		return err;
	}
	g->dirty = false;
	g->saved_ms = now;
	return 0;
}

/* One saved ban back into the table; false when it is not usable. */
static bool load_one(struct guard *g, json_t *e, uint64_t now, int64_t wall)
{
	const char *src = NULL, *reason = NULL;
	json_int_t strikes = 0, packets = 0, first = 0, expires = 0;
	struct sockaddr_storage ss;
	enum guard_reason r;
	struct gkey k;
	bool created, evicted;
	struct gban *b;
	uint64_t h;

	if (json_unpack(e, "{s:s, s:s, s:I, s:I, s:I, s:I}", "source", &src, "reason", &reason,
			"strikes", &strikes, "packets", &packets, "first_seen", &first,
			"expires", &expires) != 0)
		return false;
	if (net_sa_from_str(&ss, src, 0) || guard_reason_lookup(reason, &r) || strikes < 1 ||
	    strikes > 64 || packets < 0)
		return false;
	if (expires <= wall)
		return true;   /* over while we were down */
	if (expires - wall > (json_int_t)g->gc->ban_time_max_s)
		expires = wall + g->gc->ban_time_max_s;
	guard_key(&k, &ss);
	h = guard_hash(g, &k);
	b = (struct gban *)gtable_get(&g->ban, h, &k, now, ban_victim, &created, &evicted, NULL);
	b->active = true;
	b->reason = (uint8_t)r;
	b->strikes = (uint16_t)strikes;
	b->packets = (uint64_t)packets;
	b->first_seen = first;
	b->until_ms = now + (uint64_t)(expires - wall) * 1000u;
	b->s.last_ms = now;
	if (g->nft)
		guard_nft_ban(g->nft, &ss, (unsigned)(expires - wall));
	return true;
}

int guard_bans_load(struct guard *g)
{
	uint64_t now = guard_now(g);
	int64_t wall = unix_s(g, now);
	json_error_t jerr;
	json_t *root, *list, *e;
	size_t i, bad = 0, n = 0;

	root = json_load_file(g->bans_path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (access(g->bans_path, F_OK) == 0)
			log_warn("guard: %s: line %d: %s; starting without saved bans", g->bans_path,
				 jerr.line, jerr.text);
		return ENOENT;
	}
	list = json_object_get(root, "bans");
	if (!json_is_array(list)) {
		log_warn("guard: %s: no \"bans\" list; starting without saved bans", g->bans_path);
		json_decref(root);
		return EINVAL;
	}
	json_array_foreach(list, i, e) {
		if (load_one(g, e, now, wall))
			n++;
		else
			bad++;
	}
	json_decref(root);
	if (bad)
		log_warn("guard: %s: %zu unusable entries skipped", g->bans_path, bad);
	log_info("guard: %zu bans read from %s", n, g->bans_path);
	return 0;
}
