/* guardctl: the guard's commands on the control socket (docs/control.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "guard/guard.h"
#include "sbcd_int.h"

enum { TOP_DEFAULT = 10, TOP_MAX = 100 };

static json_t *addr_json(const struct sockaddr_storage *ss)
{
	char ip[NET_ADDRSTRLEN];

	if (net_sa_ip_str(ss, ip, sizeof(ip)))
		return json_string("?");
	return json_string(ip);
}

static int cmd_stats(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { NULL };
	struct guard *g = arg;
	const struct guard_stats *st = guard_stats(g);
	json_t *reasons = json_object();
	int e = ctl_args_only(args, keys, err, errlen);

	if (e || !reasons) {
		json_decref(reasons);
		return e ? e : ENOMEM;
	}
	for (unsigned r = 0; r < GUARD_REASON__COUNT; r++)
		json_object_set_new(reasons, guard_reason_name((enum guard_reason)r),
				    json_pack("{s:I, s:I}", "packets", (json_int_t)st->reason[r].packets,
					      "sources", (json_int_t)st->reason[r].sources));
	*result = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}",
			    "enabled", guard_enabled(g),
			    "passed", (json_int_t)st->passed,
			    "blocked", (json_int_t)st->blocked,
			    "sources", (json_int_t)guard_sources(g),
			    "bans", (json_int_t)guard_bans(g, NULL, 0),
			    "bans_issued", (json_int_t)st->bans,
			    "evicted_sources", (json_int_t)st->evicted_sources,
			    "evicted_bans", (json_int_t)st->evicted_bans,
			    "bans_deferred", (json_int_t)st->bans_deferred,
			    "demoted", (json_int_t)st->demoted,
			    "kernel_bans", (json_int_t)st->kernel_bans,
			    "reasons", reasons);
	return *result ? 0 : ENOMEM;
}

static int cmd_bans(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { NULL };
	struct guard *g = arg;
	size_t n = guard_bans(g, NULL, 0);
	struct guard_ban_info *v;
	json_t *list;
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	v = calloc(n ? n : 1, sizeof(*v));
	list = json_array();
	if (!v || !list) {
		free(v);
		json_decref(list);
		return ENOMEM;
	}
	n = MIN(n, guard_bans(g, v, n));
	for (size_t i = 0; i < n; i++)
		json_array_append_new(list, json_pack("{s:o, s:s, s:I, s:I, s:I, s:I, s:i}",
			"source", addr_json(&v[i].addr), "reason", guard_reason_name(v[i].reason),
			"packets", (json_int_t)v[i].packets, "first_seen", (json_int_t)v[i].first_seen,
			"last_seen", (json_int_t)v[i].last_seen, "expires", (json_int_t)v[i].expires,
			"strikes", (int)v[i].strikes));
	free(v);
	*result = list;
	return 0;
}

/* args {"source": "IP"}: the address, or an error naming what is wrong. */
static int source_arg(const json_t *args, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	static const char *const keys[] = { "source", NULL };
	const json_t *v = json_object_get(args, "source");
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	if (!v) {
		snprintf(err, errlen, "missing argument \"source\" (an IPv4 or IPv6 address)");
		return EINVAL;
	}
	if (!json_is_string(v) || net_sa_from_str(ss, json_string_value(v), 0)) {
		snprintf(err, errlen, "\"source\" must be an IPv4 or IPv6 address");
		return EINVAL;
	}
	return 0;
}

static int cmd_unban(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	struct sockaddr_storage ss;
	int e = source_arg(args, &ss, err, errlen);

	if (e)
		return e;
	if (guard_unban(arg, &ss)) {
		snprintf(err, errlen, "%s is not banned", json_string_value(json_object_get(args, "source")));
		return ENOENT;
	}
	log_info("guard: %s unbanned by the operator", json_string_value(json_object_get(args, "source")));
	*result = json_pack("{s:s}", "unbanned", json_string_value(json_object_get(args, "source")));
	return 0;
}

static int cmd_top(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { "n", NULL };
	struct guard_offender v[TOP_MAX];
	const json_t *jn = json_object_get(args, "n");
	json_int_t n = TOP_DEFAULT;
	json_t *list;
	size_t got;
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	if (jn) {
		if (!json_is_integer(jn) || json_integer_value(jn) < 1 ||
		    json_integer_value(jn) > TOP_MAX) {
			snprintf(err, errlen, "\"n\" must be an integer from 1 to %d", TOP_MAX);
			return EINVAL;
		}
		n = json_integer_value(jn);
	}
	got = guard_top(arg, v, (size_t)n);
	list = json_array();
	if (!list)
		return ENOMEM;
	for (size_t i = 0; i < got; i++)
		json_array_append_new(list, json_pack("{s:o, s:I, s:s, s:b}",
			"source", addr_json(&v[i].addr), "packets", (json_int_t)v[i].packets,
			"reason", guard_reason_name(v[i].reason), "banned", v[i].banned));
	*result = list;
	return 0;
}

static int cmd_timeline(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { "scale", NULL };
	const json_t *js = json_object_get(args, "scale");
	enum guard_scale scale = GUARD_SECONDS;
	size_t per;
	uint32_t *v;
	int64_t end;
	json_t *reasons;
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	if (js) {
		const char *s = json_is_string(js) ? json_string_value(js) : "";

		if (strcmp(s, "minute") == 0) {
			scale = GUARD_MINUTES;
		} else if (strcmp(s, "second") != 0) {
			snprintf(err, errlen, "\"scale\" must be \"second\" or \"minute\"");
			return EINVAL;
		}
	}
	per = scale == GUARD_SECONDS ? GUARD_SECONDS_KEPT : GUARD_MINUTES_KEPT;
	v = calloc(per * GUARD_REASON__COUNT, sizeof(*v));
	reasons = json_object();
	if (!v || !reasons) {
		free(v);
		json_decref(reasons);
		return ENOMEM;
	}
	guard_timeline(arg, scale, v, per, &end);
	for (unsigned r = 0; r < GUARD_REASON__COUNT; r++) {
		json_t *a = json_array();

		for (size_t i = 0; a && i < per; i++)
			json_array_append_new(a, json_integer(v[r * per + i]));
		json_object_set_new(reasons, guard_reason_name((enum guard_reason)r), a);
	}
	free(v);
	*result = json_pack("{s:s, s:i, s:I, s:o}", "scale",
			    scale == GUARD_SECONDS ? "second" : "minute",
			    "step", scale == GUARD_SECONDS ? 1 : 60, "end", (json_int_t)end,
			    "reasons", reasons);
	return *result ? 0 : ENOMEM;
}

/* guard.allow: the allow list, [guard] allow and the runtime entries; no arguments. */
static int cmd_allow(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { NULL };
	const struct config_cidrlist *cl = guard_allow_config(arg);
	const struct guard_allow_entry *v;
	json_t *conf = json_array(), *run = json_array();
	size_t n;
	int e = ctl_args_only(args, keys, err, errlen);

	if (e || !conf || !run)
		goto out_free;
	for (unsigned i = 0; i < cl->n; i++) {
		if (json_array_append_new(conf, json_string(cl->v[i].text)))
			goto out_free;
	}
	v = guard_allow_runtime(arg, &n);
	for (size_t i = 0; i < n; i++) {
		if (json_array_append_new(run, json_pack("{s:s, s:s, s:I}", "cidr", v[i].cidr.text,
							 "note", v[i].note, "added",
							 (json_int_t)v[i].added)))
			goto out_free;
	}
	*result = json_pack("{s:o, s:o}", "config", conf, "runtime", run);
	return *result ? 0 : ENOMEM;

 out_free:
	json_decref(conf);
	json_decref(run);
	return e ? e : ENOMEM;
}

/* args {"cidr": ...}: the block's text, or an error naming what is wrong. */
static int cidr_arg(const json_t *args, const char *const *keys, const char **cidr, char *err,
		    size_t errlen)
{
	const json_t *v = json_object_get(args, "cidr");
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	if (!v) {
		snprintf(err, errlen, "missing argument \"cidr\" (an address or ADDRESS/PREFIX)");
		return EINVAL;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "\"cidr\" must be a string: an address or ADDRESS/PREFIX");
		return EINVAL;
	}
	*cidr = json_string_value(v);
	return 0;
}

/* guard.allow.add {"cidr", "note"?}: allow a block at run time, lifting its bans. */
static int cmd_allow_add(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { "cidr", "note", NULL };
	const json_t *jnote = json_object_get(args, "note");
	const char *cidr, *note = NULL;
	struct config_cidr c;
	int e = cidr_arg(args, keys, &cidr, err, errlen);

	if (e)
		return e;
	if (jnote && !json_is_null(jnote)) {
		if (!json_is_string(jnote)) {
			snprintf(err, errlen, "\"note\" must be a string of at most %d printable "
				 "ASCII characters", GUARD_NOTE_MAX);
			return EINVAL;
		}
		note = json_string_value(jnote);
	}
	e = guard_allow_add(arg, cidr, note, &c, err, errlen);
	if (e)
		return e;
	*result = json_pack("{s:s}", "added", c.text);
	return *result ? 0 : ENOMEM;
}

/* guard.allow.remove {"cidr"}: take a runtime entry out. */
static int cmd_allow_remove(const json_t *args, json_t **result, char *err, size_t errlen,
			    void *arg)
{
	static const char *const keys[] = { "cidr", NULL };
	const char *cidr;
	struct config_cidr c;
	int e = cidr_arg(args, keys, &cidr, err, errlen);

	if (e)
		return e;
	e = guard_allow_remove(arg, cidr, &c, err, errlen);
	if (e)
		return e;
	*result = json_pack("{s:s}", "removed", c.text);
	return *result ? 0 : ENOMEM;
}

static const struct ctl_cmd_def cmds[] = {
	{ "guard.stats", cmd_stats },
	{ "guard.bans", cmd_bans },
	{ "guard.unban", cmd_unban },
	{ "guard.top", cmd_top },
	{ "guard.timeline", cmd_timeline },
	{ "guard.allow", cmd_allow },
	{ "guard.allow.add", cmd_allow_add },
	{ "guard.allow.remove", cmd_allow_remove },
};

/* The commands, and the runtime allow list they change: kept in DATA_DIR/allow.json. */
int sbcd_guardctl_start(struct sbcd *s)
{
	char path[PATH_MAX];
	int n;

	if (!s->ctl || !s->guard)
		return 0;
	n = snprintf(path, sizeof(path), "%s/allow.json", s->cfg->general.data_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return ENAMETOOLONG;
	if (guard_allow_open(s->guard, path) == ENOMEM)
		return ENOMEM;
	return ctl_register_all(s->ctl, cmds, ARRAY_SIZE(cmds), s->guard);
}

void sbcd_guardctl_stop(struct sbcd *s)
{
	if (s->ctl)
		ctl_unregister_all(s->ctl, cmds, ARRAY_SIZE(cmds));
}
