/* callsctl: the calls, registrations and trunks on the control socket (docs/control.md). */
#include <ctype.h>
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b2bua/b2bua.h"
#include "ctl/ctl.h"
#include "sbcd_int.h"

/* The most entries one answer lists; beyond, "truncated": true. */
enum { SNAP_MAX = 100000 };

static int no_args(const json_t *args, char *err, size_t errlen)
{
	static const char *const keys[] = { NULL };

	return ctl_args_only(args, keys, err, errlen);
}

/* {"address": IP, "port": N, "transport": "udp"|"tcp"|"tls"} */
static json_t *peer_json(const struct sip_peer *p)
{
	const char *name = sip_proto_name((enum sip_proto)p->proto);
	char ip[NET_ADDRSTRLEN], tp[8];
	size_t i;

	if (net_sa_ip_str(&p->addr, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	for (i = 0; name[i] && i < sizeof(tp) - 1; i++)   /* "udp", as the configuration spells it */
		tp[i] = (char)tolower((unsigned char)name[i]);
	tp[i] = '\0';
	return json_pack("{s:s, s:i, s:s}", "address", ip, "port", (int)net_sa_port(&p->addr),
			 "transport", tp);
}

/* {"address": IP, "port": N} */
static json_t *sa_json(const struct sockaddr_storage *sa)
{
	char ip[NET_ADDRSTRLEN];

	if (net_sa_ip_str(sa, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	return json_pack("{s:s, s:i}", "address", ip, "port", (int)net_sa_port(sa));
}

/* Seconds from now to the loop time t (negative: past); null when t is 0. */
static json_t *secs_left(uint64_t t, uint64_t now)
{
	if (!t)
		return json_null();
	return json_integer(t >= now ? (json_int_t)((t - now) / 1000) : -(json_int_t)((now - t) / 1000));
}

/* One of the B2BUA's snapshot calls (b2bua.h): fill out with at most max, return how many in all. */
typedef size_t (snap_fetch_h)(const struct b2bua *b, void *out, size_t max);
/* One snapshot entry as JSON; now is time_mono_ms(). */
typedef json_t *(snap_item_h)(const void *item, uint64_t now);

struct snap_kind {
	const char *key;         /* the list's name in the answer */
	size_t size;             /* of one entry */
	snap_fetch_h *fetch;
	snap_item_h *item;
};

/*
 * A snapshot command's answer {"<key>": [...], "total": N, "truncated": bool}:
 * at most SNAP_MAX entries, copied out of the B2BUA in one call.
 */
static int snapshot(const struct sbcd *s, const struct snap_kind *k, const json_t *args,
		    json_t **result, char *err, size_t errlen)
{
	uint64_t now = time_mono_ms();
	size_t total, n;
	json_t *list;
	char *v;
	int e = no_args(args, err, errlen);

	if (e)
		return e;
	total = k->fetch(s->b2bua, NULL, 0);
	n = MIN(total, (size_t)SNAP_MAX);
	v = calloc(n ? n : 1, k->size);
	list = json_array();
	if (!v || !list) {
		free(v);
		json_decref(list);
		return ENOMEM;
	}
	total = k->fetch(s->b2bua, v, n);
	n = MIN(n, total);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, k->item(v + i * k->size, now));
	free(v);
	*result = json_pack("{s:o, s:I, s:b}", k->key, list, "total", (json_int_t)total,
			    "truncated", n < total);
	return *result ? 0 : ENOMEM;
}

static size_t fetch_calls(const struct b2bua *b, void *out, size_t max)
{
	return b2bua_calls(b, out, max);
}

static json_t *call_json(const void *item, uint64_t now)
{
	const struct b2bua_call_info *c = item;

	return json_pack("{s:I, s:s, s:I, s:o, s:s, s:s, s:s, s:b, s:[{s:s, s:o}, {s:s, s:o}]}",
		"id", (json_int_t)c->id, "state", c->state,
		"duration", (json_int_t)(now > c->start_ms ? (now - c->start_ms) / 1000 : 0),
		"answered", c->answer_ms ? json_integer((json_int_t)((now > c->answer_ms ?
			now - c->answer_ms : 0) / 1000)) : json_null(),
		"caller", c->caller, "callee", c->callee, "trunk", c->trunk, "media", c->media,
		"legs",
		"zone", config_zone_name((enum zone_id)c->peer[0].zone), "peer", peer_json(&c->peer[0]),
		"zone", config_zone_name((enum zone_id)c->peer[1].zone), "peer", peer_json(&c->peer[1]));
}

static size_t fetch_regs(const struct b2bua *b, void *out, size_t max)
{
	return b2bua_registrations(b, out, max);
}

static json_t *reg_json(const void *item, uint64_t now)
{
	const struct b2bua_reg_info *r = item;

	return json_pack("{s:s, s:o, s:b, s:o, s:o}",
		"aor", r->aor, "contact", peer_json(&r->peer), "nat", r->nat,
		"phone_expires", secs_left(r->phone_exp_ms, now),
		"core_expires", secs_left(r->core_exp_ms, now));
}

static size_t fetch_trunks(const struct b2bua *b, void *out, size_t max)
{
	return b2bua_trunks(b, out, max);
}

static json_t *trunk_json(const void *item, uint64_t now)
{
	const struct b2bua_trunk_info *t = item;
	const char *addr = t->address.name[0] ? t->address.name : t->address.addr.text;

	(void)now;
	return json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:i, s:s, s:o}",
		"name", t->name, "zone", config_zone_name(t->zone), "address", addr,
		"port", (int)t->port, "transport", config_transport_name(t->transport),
		"max_calls", (int)t->max_calls, "active", (int)t->active,
		"registration", t->reg_state,
		"last_code", t->reg_last_code ? json_integer(t->reg_last_code) : json_null());
}

static const struct snap_kind calls_kind = {
	"calls", sizeof(struct b2bua_call_info), fetch_calls, call_json
};
static const struct snap_kind regs_kind = {
	"registrations", sizeof(struct b2bua_reg_info), fetch_regs, reg_json
};
static const struct snap_kind trunks_kind = {
	"trunks", sizeof(struct b2bua_trunk_info), fetch_trunks, trunk_json
};

static int cmd_calls(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	return snapshot(arg, &calls_kind, args, result, err, errlen);
}

static int cmd_registrations(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	return snapshot(arg, &regs_kind, args, result, err, errlen);
}

static int cmd_trunks(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	return snapshot(arg, &trunks_kind, args, result, err, errlen);
}

/* args {"id": N}: the call id, or EINVAL with a message. */
static int id_arg(const json_t *args, uint64_t *id, char *err, size_t errlen)
{
	static const char *const keys[] = { "id", NULL };
	const json_t *jid = json_object_get(args, "id");
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	if (!jid) {
		snprintf(err, errlen, "missing argument \"id\" (a call id from \"calls\")");
		return EINVAL;
	}
	if (!json_is_integer(jid) || json_integer_value(jid) < 0) {
		snprintf(err, errlen, "\"id\" must be a non-negative integer");
		return EINVAL;
	}
	*id = (uint64_t)json_integer_value(jid);
	return 0;
}

static int no_call(uint64_t id, char *err, size_t errlen)
{
	snprintf(err, errlen, "no call %llu", (unsigned long long)id);
	return ENOENT;
}

/* One zone's side of a stream: what was received there and what became of it. */
static json_t *stream_side_json(const struct media_stream_stats *st, unsigned z)
{
	return json_pack("{s:i, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:I, s:f, s:o}",
		"port", (int)st->port[z], "packets", (json_int_t)st->packets[z],
		"bytes", (json_int_t)st->bytes[z], "rtcp_packets", (json_int_t)st->rtcp_packets[z],
		"relayed", (json_int_t)st->relayed[z],
		"dropped", "source", (json_int_t)st->dropped_source[z],
		"policing", (json_int_t)st->dropped_policing[z],
		"no_dest", (json_int_t)st->dropped_no_dest[z],
		"no_neighbour", (json_int_t)st->dropped_no_neighbour[z],
		"lost", (json_int_t)st->lost[z], "jitter_ms", st->jitter_ms[z],
		"latched", st->latched[z] ? sa_json(&st->latched_addr[z]) : json_null());
}

/* calls.get {"id"}: one call as in "calls", with its media streams' counters. */
static int cmd_get(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	struct b2bua_stream_info v[MEDIA_MAX_STREAMS];
	struct sbcd *s = arg;
	struct b2bua_call_info c;
	json_t *streams;
	uint64_t id;
	size_t n;
	int e = id_arg(args, &id, err, errlen);

	if (e)
		return e;
	if (b2bua_call(s->b2bua, id, &c) || b2bua_call_streams(s->b2bua, id, v, ARRAY_SIZE(v), &n))
		return no_call(id, err, errlen);
	*result = call_json(&c, time_mono_ms());
	streams = json_array();
	if (!*result || !streams) {
		json_decref(*result);
		json_decref(streams);
		return ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		json_array_append_new(streams, json_pack("{s:i, s:o, s:o}", "index", (int)v[i].index,
			"public", stream_side_json(&v[i].st, ZONE_PUBLIC),
			"private", stream_side_json(&v[i].st, ZONE_PRIVATE)));
	json_object_set_new(*result, "streams", streams);
	return 0;
}

static int cmd_hangup(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	struct sbcd *s = arg;
	uint64_t id;
	int e = id_arg(args, &id, err, errlen);

	if (e)
		return e;
	if (b2bua_call_hangup(s->b2bua, id))
		return no_call(id, err, errlen);
	if (s->ev_txn)   /* the BYEs' retransmissions: let the SIP timer see them now */
		event_active(s->ev_txn, EV_TIMEOUT, 0);
	*result = json_pack("{s:I}", "hungup", (json_int_t)id);
	return *result ? 0 : ENOMEM;
}

static const struct ctl_cmd_def cmds[] = {
	{ "calls", cmd_calls },
	{ "calls.get", cmd_get },
	{ "calls.hangup", cmd_hangup },
	{ "registrations", cmd_registrations },
	{ "trunks", cmd_trunks },
};

int sbcd_callsctl_start(struct sbcd *s)
{
	if (!s->ctl || !s->b2bua)
		return 0;
	return ctl_register_all(s->ctl, cmds, ARRAY_SIZE(cmds), s);
}

void sbcd_callsctl_stop(struct sbcd *s)
{
	if (s->ctl)
		ctl_unregister_all(s->ctl, cmds, ARRAY_SIZE(cmds));
}
