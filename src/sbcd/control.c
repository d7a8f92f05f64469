/* control: sbcd's control socket and the commands that belong to the daemon itself (status, stats, metrics). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b2bua/b2bua.h"
#include "ctl/ctl.h"
#include "control.h"
#include "media/media.h"
#include "media/ring.h"
#include "media/stack.h"
#include "sbcd_int.h"
#include "txn/txn.h"

#ifndef SBC_VERSION
#define SBC_VERSION "dev"
#endif

static uint64_t started_ms;   /* monotonic, when the control socket opened */

/*
 * One zone as it runs: its name, interface, SIP address (null until
 * resolved), link state, and its media engine ("socket", "bypass" or
 * "xdp" with xdp_mode; with media_fallback the reason a configured bypass
 * or xdp runs another engine).
 */
static json_t *zone_json(const struct sbcd *s, enum zone_id id)
{
	const struct config_zone *zc = config_zone(s->cfg, id);
	const struct sbcd_zone *z = &s->zones[id];
	struct media_zone_info zi = { 0 };
	char ip[INET6_ADDRSTRLEN];
	bool have = net_sa_ip_str(&z->addr, ip, sizeof(ip)) == 0;

	media_engine_zone(s->media, id, &zi);
	return json_pack("{s:s, s:s, s:s?, s:b, s:s, s:s?, s:s?}", "name", config_zone_name(id),
			 "interface", zc->interface, "address", have ? ip : NULL,
			 "link_up", z->link_up,
			 "media", zi.xdp_mode ? "xdp" : zi.bypass ? "bypass" : "socket",
			 "xdp_mode", zi.xdp_mode, "media_fallback", zi.fallback);
}

/* The media thread: {"cpu": N or null (not pinned)}, or null when there is none. */
static json_t *media_thread_json(const struct media_engine *me)
{
	struct media_engine_stats ms;

	media_engine_stats(me, &ms);
	if (!ms.threaded)
		return json_null();
	return json_pack("{s:o}", "cpu", ms.thread_cpu >= 0 ? json_integer(ms.thread_cpu) :
				json_null());
}

/* status: version, pid, uptime, configuration file, the zones and the media thread. */
static int cmd_status(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	const struct sbcd *s = arg;
	json_t *st, *zones = json_array();

	(void)args;
	st = json_pack("{s:s, s:I, s:I, s:s}", "version", SBC_VERSION,
		       "pid", (json_int_t)getpid(),
		       "uptime_s", (json_int_t)((time_mono_ms() - started_ms) / 1000),
		       "config", s->opts.config_path);
	if (!st || !zones)
		goto out_nomem;
	for (int i = 0; i < ZONE_COUNT; i++) {
		if (json_array_append_new(zones, zone_json(s, (enum zone_id)i)))
			goto out_nomem;
	}
	if (json_object_set_new(st, "zones", zones)) {
		zones = NULL;   /* freed by the failed set */
		goto out_nomem;
	}
	zones = NULL;
	if (json_object_set_new(st, "media_thread", media_thread_json(s->media)))
		goto out_nomem;
	*result = st;
	return 0;

 out_nomem:
	json_decref(zones);
	json_decref(st);
	snprintf(err, errlen, "out of memory");
	return ENOMEM;
}

/* A counter into obj; false when out of memory. */
static bool put_u64(json_t *obj, const char *name, uint64_t v)
{
	return obj && json_object_set_new(obj, name, json_integer((json_int_t)v)) == 0;
}

#define PUT(obj, st, f) put_u64((obj), #f, (uint64_t)(st)->f)

/* {"INVITE": n, ..., "other": n} of one direction's request counters. */
static json_t *methods_json(const uint64_t *v)
{
	json_t *o = json_object();

	for (unsigned i = 0; o && i < SIP_STAT_METHODS; i++) {
		if (!put_u64(o, sip_stat_method_name(i), v[i])) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* {"1xx": n, ..., "6xx": n} of one direction's response counters. */
static json_t *classes_json(const uint64_t *v)
{
	json_t *o = json_object();
	char name[4] = "0xx";

	for (unsigned i = 0; o && i < SIP_STAT_CLASSES; i++) {
		name[0] = (char)('1' + i);
		if (!put_u64(o, name, v[i])) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *sip_json(const struct sip_transp *t)
{
	const struct sip_transp_stats *st = sip_transp_stats(t);
	json_t *o = json_object(), *rej = json_object();
	bool ok = PUT(o, st, rx_requests) && PUT(o, st, rx_responses) && PUT(o, st, rx_keepalives) &&
		  PUT(o, st, tx_messages) && PUT(o, st, tx_errors) && PUT(o, st, conn_failures) &&
		  PUT(o, st, policed) && PUT(o, st, policed_conns);

	for (unsigned r = 0; ok && r < SIP_REJ__COUNT; r++)
		ok = put_u64(rej, sip_reject_name((enum sip_reject)r), st->rejected[r]);
	if (!ok || json_object_set_new(o, "rejected", rej)) {
		json_decref(o);
		json_decref(rej);
		return NULL;
	}
	/* json_object_set_new takes the value even when it fails, and fails on NULL */
	if (json_object_set_new(o, "methods_rx", methods_json(st->methods_rx)) ||
	    json_object_set_new(o, "methods_tx", methods_json(st->methods_tx)) ||
	    json_object_set_new(o, "classes_rx", classes_json(st->classes_rx)) ||
	    json_object_set_new(o, "classes_tx", classes_json(st->classes_tx))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *txn_json(const struct txn_layer *tl)
{
	struct txn_stats st;
	json_t *o = json_object();

	txn_layer_stats(tl, &st);
	if (PUT(o, &st, server_created) && PUT(o, &st, client_created) &&
	    PUT(o, &st, retrans_absorbed) && PUT(o, &st, retrans_sent) && PUT(o, &st, timeouts) &&
	    PUT(o, &st, transport_errors) && PUT(o, &st, stray_acks) &&
	    PUT(o, &st, unmatched_responses) && PUT(o, &st, refused_capacity) &&
	    PUT(o, &st, refused_new) && PUT(o, &st, refused_in_dialog) &&
	    PUT(o, &st, server_live) && PUT(o, &st, client_live))
		return o;
	json_decref(o);
	return NULL;
}

static json_t *registrar_json(const struct b2bua *b)
{
	struct b2bua_reg_counters st;
	json_t *o = json_object();

	b2bua_reg_counters(b, &st);
	if (PUT(o, &st, bindings) && PUT(o, &st, registers) && PUT(o, &st, forwarded) &&
	    PUT(o, &st, absorbed) && PUT(o, &st, removed) && PUT(o, &st, refused) &&
	    PUT(o, &st, refused_pending) && PUT(o, &st, keepalives) &&
	    PUT(o, &st, keepalive_failed))
		return o;
	json_decref(o);
	return NULL;
}

static json_t *b2bua_json(const struct b2bua *b)
{
	const struct b2bua_stats *st = b2bua_stats(b);
	json_t *o = json_object();

	if (PUT(o, st, options_answered) && PUT(o, st, no_route) && PUT(o, st, no_dialog) &&
	    PUT(o, st, bad_token) && PUT(o, st, calls_started) && PUT(o, st, calls_answered) &&
	    PUT(o, st, calls_failed) && PUT(o, st, calls_active) && PUT(o, st, leaks_blocked) &&
	    PUT(o, st, media_full) && PUT(o, st, refused_admission) &&
	    PUT(o, st, relayed_requests) && PUT(o, st, relayed_responses) &&
	    PUT(o, st, access_denied) && PUT(o, st, refused_trunk_limit) &&
	    PUT(o, st, auth_challenged))
		return o;
	json_decref(o);
	return NULL;
}

static json_t *ring_json(const struct ring_stats *st)
{
	json_t *o = json_object();

	if (PUT(o, st, rx_frames) && PUT(o, st, rx_drops) && PUT(o, st, rx_truncated) &&
	    PUT(o, st, tx_frames) && PUT(o, st, tx_errors) && PUT(o, st, tx_full))
		return o;
	json_decref(o);
	return NULL;
}

static json_t *stack_json(const struct stack_stats *st)
{
	json_t *o = json_object();

	if (PUT(o, st, rx_frames) && PUT(o, st, rx_lwip) && PUT(o, st, rx_malformed) &&
	    PUT(o, st, rx_ethertype) && PUT(o, st, rx_not_ours) && PUT(o, st, rx_l4) &&
	    PUT(o, st, rx_queue_full) && PUT(o, st, udp_reassembled) &&
	    PUT(o, st, arp_replies) && PUT(o, st, arp_requests) && PUT(o, st, echo_replies) &&
	    PUT(o, st, resolved) && PUT(o, st, resolve_failed) && PUT(o, st, tx_frames) &&
	    PUT(o, st, tx_bytes) && PUT(o, st, tx_errors) && PUT(o, st, tx_suppressed))
		return o;
	json_decref(o);
	return NULL;
}

/* {"public": {"ring": {...}, "stack": {...}}, ...}: the zones the bypass backend runs. */
static json_t *media_zones_json(const struct media_engine *me)
{
	json_t *o = json_object();

	for (unsigned z = 0; o && z < MEDIA_ZONES && z < ZONE_COUNT; z++) {
		struct ring_stats rs;
		struct stack_stats ss;

		if (media_engine_zone_io(me, z, &rs, &ss))
			continue;
		if (json_object_set_new(o, config_zone_name((enum zone_id)z),
					json_pack("{s:o?, s:o?}", "ring", ring_json(&rs),
						  "stack", stack_json(&ss)))) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

static json_t *media_json(const struct media_engine *me)
{
	struct media_engine_stats st;
	json_t *o = json_object();

	media_engine_stats(me, &st);
	if (PUT(o, &st, sessions) && PUT(o, &st, streams) && PUT(o, &st, sockets) &&
	    PUT(o, &st, packets_received) && PUT(o, &st, packets_relayed) &&
	    PUT(o, &st, dropped_source) && PUT(o, &st, dropped_policing) &&
	    PUT(o, &st, dropped_no_dest) && PUT(o, &st, dropped_truncated) &&
	    PUT(o, &st, dropped_no_neighbour) &&
	    PUT(o, &st, tx_errors) && PUT(o, &st, timeouts) && PUT(o, &st, csum_completed) &&
	    put_u64(o, "ports_in_use_public", st.ports_in_use[ZONE_PUBLIC]) &&
	    put_u64(o, "ports_in_use_private", st.ports_in_use[ZONE_PRIVATE]) &&
	    json_object_set_new(o, "zones", media_zones_json(me)) == 0)
		return o;
	json_decref(o);
	return NULL;
}

#undef PUT

/* stats: the counters of the SIP transport, transactions, B2BUA and media since start. */
static int cmd_stats(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	const struct sbcd *s = arg;
	json_t *o;

	if (json_object_size(args)) {
		snprintf(err, errlen, "stats takes no arguments");
		return EINVAL;
	}
	o = json_object();
	if (!o || !s->transp || !s->txn || !s->b2bua || !s->media ||
	    json_object_set_new(o, "sip", sip_json(s->transp)) ||
	    json_object_set_new(o, "transactions", txn_json(s->txn)) ||
	    json_object_set_new(o, "b2bua", b2bua_json(s->b2bua)) ||
	    json_object_set_new(o, "registrar", registrar_json(s->b2bua)) ||
	    json_object_set_new(o, "media", media_json(s->media))) {
		json_decref(o);
		snprintf(err, errlen, "counters unavailable");
		return ENOMEM;
	}
	*result = o;
	return 0;
}

/* metrics: the counters as Prometheus text exposition format 0.0.4 (metrics.c). */
static int cmd_metrics(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	const struct sbcd *s = arg;
	char *text;
	size_t len;
	int e;

	if (json_object_size(args)) {
		snprintf(err, errlen, "metrics takes no arguments");
		return EINVAL;
	}
	e = sbcd_metrics_render(s, (time_mono_ms() - started_ms) / 1000, &text, &len);
	if (e) {
		snprintf(err, errlen, "metrics unavailable: %s", strerror(e));
		return e;
	}
	*result = json_pack("{s:s%}", "text", text, len);
	free(text);
	return *result ? 0 : ENOMEM;
}

/*
 * Open the control socket at [general] control_socket and register the
 * daemon's commands. sbcd does not run without it: a failure is logged
 * with the path and stops start-up (EADDRINUSE: another sbcd is running).
 */
int sbcd_ctl_start(struct sbcd *s)
{
	const char *path = s->cfg->general.control_socket;
	int err = ctl_alloc(&s->ctl, s->base, path);

	if (err == EADDRINUSE) {
		log_error("control socket %s: another sbcd is running (%s)", path, strerror(err));
		return err;
	}
	if (err == EEXIST) {
		log_error("control socket %s: exists and is not a socket; not removed (%s)", path,
			  strerror(err));
		return err;
	}
	if (err) {
		log_error("control socket %s: %s", path, strerror(err));
		return err;
	}
	started_ms = time_mono_ms();
	err = ctl_register(s->ctl, "status", cmd_status, s);
	if (!err)
		err = ctl_register(s->ctl, "stats", cmd_stats, s);
	if (!err)
		err = ctl_register(s->ctl, "metrics", cmd_metrics, s);
	if (err) {
		log_error("control socket %s: status: %s", path, strerror(err));
		s->ctl = mem_deref(s->ctl);
		return err;
	}
	log_info("control socket %s", path);
	return 0;
}

/* The socket stays where it was opened until the next start. */
int sbcd_ctl_apply(struct sbcd *s, const struct sbc_config *next)
{
	if (strcmp(s->cfg->general.control_socket, next->general.control_socket) != 0)
		log_warn("control_socket change to %s takes effect at the next start",
			 next->general.control_socket);
	return 0;
}

/* Close every control connection and remove the socket file. */
void sbcd_ctl_stop(struct sbcd *s)
{
	s->ctl = mem_deref(s->ctl);
}
