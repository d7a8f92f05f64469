/* metrics: sbcd's counters as Prometheus text (exposition format 0.0.4) for the metrics command. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b2bua/b2bua.h"
#include "guard/guard.h"
#include "media/media.h"
#include "media/ring.h"
#include "media/stack.h"
#include "sbcd_int.h"
#include "txn/txn.h"

#ifndef SBC_VERSION
#define SBC_VERSION "dev"
#endif

enum {
	METRICS_START = 8192,          /* first allocation of the text */
	METRICS_MAX = 1024 * 1024,     /* the text never grows past this: ENOSPC */
};

/* A growing text buffer; the first error sticks and later writes do nothing. */
struct mtext {
	char *p;
	size_t len, size;
	int err;
};

/* Room for need more bytes (and a NUL), doubling up to METRICS_MAX. */
static bool mt_room(struct mtext *m, size_t need)
{
	size_t size = m->size ? m->size : METRICS_START;
	char *p;

	if (m->err)
		return false;
	if (need < m->size - m->len)
		return true;
	while (size - m->len <= need && size < METRICS_MAX)
		size *= 2;
	if (size > METRICS_MAX)
		size = METRICS_MAX;
	if (size - m->len <= need) {
		m->err = ENOSPC;
		return false;
	}
	p = realloc(m->p, size);
	if (!p) {
		m->err = ENOMEM;
		return false;
	}
	m->p = p;
	m->size = size;
	return true;
}

static void mt_put(struct mtext *m, const char *s, size_t len)
{
	if (!mt_room(m, len))
		return;
	memcpy(m->p + m->len, s, len);
	m->len += len;
	m->p[m->len] = '\0';
}

static void mt_str(struct mtext *m, const char *s)
{
	mt_put(m, s, strlen(s));
}

static void mt_u64(struct mtext *m, uint64_t v)
{
	char tmp[24];
	int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)v);

	mt_put(m, tmp, (size_t)n);
}

/* A label value with backslash, double quote and line feed escaped (format 0.0.4). */
static void mt_label_value(struct mtext *m, const char *v)
{
	for (const char *p = v; *p; p++) {
		if (*p == '\\')
			mt_put(m, "\\\\", 2);
		else if (*p == '"')
			mt_put(m, "\\\"", 2);
		else if (*p == '\n')
			mt_put(m, "\\n", 2);
		else
			mt_put(m, p, 1);
	}
}

/* "# HELP name help" and "# TYPE name type"; help texts are constants without \ or LF. */
static void mt_head(struct mtext *m, const char *name, const char *type, const char *help)
{
	mt_str(m, "# HELP ");
	mt_str(m, name);
	mt_str(m, " ");
	mt_str(m, help);
	mt_str(m, "\n# TYPE ");
	mt_str(m, name);
	mt_str(m, " ");
	mt_str(m, type);
	mt_str(m, "\n");
}

/* One label pair: a NULL key is none. */
struct mlabel {
	const char *k, *v;
};

/* name{k1="v1",k2="v2"} value, labels with a NULL key left out. */
static void mt_sample(struct mtext *m, const char *name, struct mlabel l1, struct mlabel l2,
		      uint64_t v)
{
	const struct mlabel *lv[2] = { &l1, &l2 };
	bool open = false;

	mt_str(m, name);
	for (unsigned i = 0; i < 2; i++) {
		if (!lv[i]->k)
			continue;
		mt_str(m, open ? "," : "{");
		open = true;
		mt_str(m, lv[i]->k);
		mt_str(m, "=\"");
		mt_label_value(m, lv[i]->v);
		mt_str(m, "\"");
	}
	mt_str(m, open ? "} " : " ");
	mt_u64(m, v);
	mt_str(m, "\n");
}

static const struct mlabel NOLABEL = { NULL, NULL };

/* A metric with one sample and no labels. */
static void mt_one(struct mtext *m, const char *name, const char *type, const char *help,
		   uint64_t v)
{
	mt_head(m, name, type, help);
	mt_sample(m, name, NOLABEL, NOLABEL, v);
}

static void info_metrics(struct mtext *m, const struct sbcd *s, uint64_t uptime_s)
{
	mt_head(m, "sbc_info", "gauge", "sbcd's version; always 1.");
	mt_sample(m, "sbc_info", (struct mlabel){ "version", SBC_VERSION }, NOLABEL, 1);
	mt_one(m, "sbc_uptime_seconds", "gauge", "Seconds since sbcd started.", uptime_s);
	mt_head(m, "sbc_link_up", "gauge", "1 when the zone's interface has its link, else 0.");
	for (int i = 0; i < ZONE_COUNT; i++)
		mt_sample(m, "sbc_link_up",
			  (struct mlabel){ "zone", config_zone_name((enum zone_id)i) }, NOLABEL,
			  s->zones[i].link_up ? 1 : 0);
}

static void sip_metrics(struct mtext *m, const struct sip_transp *t)
{
	const struct sip_transp_stats *st = sip_transp_stats(t);
	static const char *const dir[2] = { "rx", "tx" };
	const uint64_t *methods[2] = { st->methods_rx, st->methods_tx };
	const uint64_t *classes[2] = { st->classes_rx, st->classes_tx };
	char cls[4] = "0xx";

	mt_head(m, "sbc_sip_requests_total", "counter",
		"SIP requests received (rx, those that reached the parser and decoded) and sent (tx), by method.");
	for (unsigned d = 0; d < 2; d++) {
		for (unsigned i = 0; i < SIP_STAT_METHODS; i++)
			mt_sample(m, "sbc_sip_requests_total", (struct mlabel){ "direction", dir[d] },
				  (struct mlabel){ "method", sip_stat_method_name(i) },
				  methods[d][i]);
	}
	mt_head(m, "sbc_sip_responses_total", "counter",
		"SIP responses received (rx) and sent (tx), by class.");
	for (unsigned d = 0; d < 2; d++) {
		for (unsigned i = 0; i < SIP_STAT_CLASSES; i++) {
			cls[0] = (char)('1' + i);
			mt_sample(m, "sbc_sip_responses_total", (struct mlabel){ "direction", dir[d] },
				  (struct mlabel){ "class", cls }, classes[d][i]);
		}
	}
	mt_head(m, "sbc_sip_rejected_total", "counter",
		"SIP messages refused by the transport's ingress checks, by reason.");
	for (unsigned r = 0; r < SIP_REJ__COUNT; r++)
		mt_sample(m, "sbc_sip_rejected_total",
			  (struct mlabel){ "reason", sip_reject_name((enum sip_reject)r) }, NOLABEL,
			  st->rejected[r]);
	mt_one(m, "sbc_sip_send_errors_total", "counter",
	       "SIP messages the socket refused to send.", st->tx_errors);
}

static void call_metrics(struct mtext *m, const struct b2bua *b)
{
	const struct b2bua_stats *st = b2bua_stats(b);

	mt_one(m, "sbc_calls_active", "gauge", "Calls up now.", st->calls_active);
	mt_head(m, "sbc_calls_total", "counter",
		"Calls since start: started (INVITE taken), answered, failed.");
	mt_sample(m, "sbc_calls_total", (struct mlabel){ "result", "started" }, NOLABEL,
		  st->calls_started);
	mt_sample(m, "sbc_calls_total", (struct mlabel){ "result", "answered" }, NOLABEL,
		  st->calls_answered);
	mt_sample(m, "sbc_calls_total", (struct mlabel){ "result", "failed" }, NOLABEL,
		  st->calls_failed);
	mt_one(m, "sbc_registrations", "gauge", "Phone bindings now (pending ones included).",
	       b2bua_registrations(b, NULL, 0));
	mt_one(m, "sbc_leaks_blocked_total", "counter",
	       "Messages not sent because they named the private side.", st->leaks_blocked);
}

static void guard_metrics(struct mtext *m, const struct guard *g)
{
	const struct guard_stats *st = guard_stats(g);

	mt_head(m, "sbc_guard_packets_total", "counter",
		"Public-zone packets the guard let through or blocked.");
	mt_sample(m, "sbc_guard_packets_total", (struct mlabel){ "verdict", "passed" }, NOLABEL,
		  st->passed);
	mt_sample(m, "sbc_guard_packets_total", (struct mlabel){ "verdict", "blocked" }, NOLABEL,
		  st->blocked);
	mt_head(m, "sbc_guard_blocked_packets_total", "counter",
		"Packets the guard blocked, by reason.");
	for (unsigned r = 0; r < GUARD_REASON__COUNT; r++)
		mt_sample(m, "sbc_guard_blocked_packets_total",
			  (struct mlabel){ "reason", guard_reason_name((enum guard_reason)r) },
			  NOLABEL, st->reason[r].packets);
	mt_one(m, "sbc_guard_bans", "gauge", "Active bans now.", guard_bans(g, NULL, 0));
	mt_one(m, "sbc_guard_bans_total", "counter", "Bans issued since start.", st->bans);
}

static void media_metrics(struct mtext *m, const struct media_engine *me)
{
	struct media_engine_stats st;

	media_engine_stats(me, &st);
	mt_one(m, "sbc_media_sessions", "gauge", "Media sessions now.", st.sessions);
	mt_head(m, "sbc_media_packets_total", "counter", "RTP/RTCP packets received and relayed.");
	mt_sample(m, "sbc_media_packets_total", (struct mlabel){ "what", "received" }, NOLABEL,
		  st.packets_received);
	mt_sample(m, "sbc_media_packets_total", (struct mlabel){ "what", "relayed" }, NOLABEL,
		  st.packets_relayed);
	mt_head(m, "sbc_media_dropped_packets_total", "counter", "Media packets dropped, by cause.");
	mt_sample(m, "sbc_media_dropped_packets_total", (struct mlabel){ "cause", "source" },
		  NOLABEL, st.dropped_source);
	mt_sample(m, "sbc_media_dropped_packets_total", (struct mlabel){ "cause", "policing" },
		  NOLABEL, st.dropped_policing);
	mt_sample(m, "sbc_media_dropped_packets_total", (struct mlabel){ "cause", "no_dest" },
		  NOLABEL, st.dropped_no_dest);
	mt_sample(m, "sbc_media_dropped_packets_total", (struct mlabel){ "cause", "truncated" },
		  NOLABEL, st.dropped_truncated);
	mt_sample(m, "sbc_media_dropped_packets_total", (struct mlabel){ "cause", "no_neighbour" },
		  NOLABEL, st.dropped_no_neighbour);
	mt_sample(m, "sbc_media_dropped_packets_total", (struct mlabel){ "cause", "send_error" },
		  NOLABEL, st.tx_errors);
	mt_head(m, "sbc_media_ports_in_use", "gauge", "Relay ports reserved now, by zone.");
	for (unsigned z = 0; z < MEDIA_ZONES && z < ZONE_COUNT; z++)
		mt_sample(m, "sbc_media_ports_in_use",
			  (struct mlabel){ "zone", config_zone_name((enum zone_id)z) }, NOLABEL,
			  st.ports_in_use[z]);
}

/* The packet ring's and lwIP's counters of the zones the bypass backend runs (none: nothing). */
static void media_io_metrics(struct mtext *m, const struct media_engine *me)
{
	struct ring_stats rs[MEDIA_ZONES];
	struct stack_stats ss[MEDIA_ZONES];
	bool on[MEDIA_ZONES], any = false;
	unsigned z;

	for (z = 0; z < MEDIA_ZONES && z < ZONE_COUNT; z++) {
		on[z] = media_engine_zone_io(me, z, &rs[z], &ss[z]) == 0;
		any |= on[z];
	}
	if (!any)
		return;
	mt_head(m, "sbc_media_ring_rx_drops_total", "counter",
		"Frames the kernel dropped because a bypass zone's receive ring was full.");
	for (z = 0; z < MEDIA_ZONES && z < ZONE_COUNT; z++)
		if (on[z])
			mt_sample(m, "sbc_media_ring_rx_drops_total",
				  (struct mlabel){ "zone", config_zone_name((enum zone_id)z) },
				  NOLABEL, rs[z].rx_drops);
	mt_head(m, "sbc_media_stack_frames_total", "counter",
		"Frames of a bypass zone's slow path (lwIP), by what happened to them.");
	for (z = 0; z < MEDIA_ZONES && z < ZONE_COUNT; z++) {
		static const char *const what[] = { "received", "to_lwip", "sent", "suppressed" };
		uint64_t v[] = { ss[z].rx_frames, ss[z].rx_lwip, ss[z].tx_frames, ss[z].tx_suppressed };

		for (unsigned i = 0; on[z] && i < sizeof(v) / sizeof(v[0]); i++)
			mt_sample(m, "sbc_media_stack_frames_total",
				  (struct mlabel){ "zone", config_zone_name((enum zone_id)z) },
				  (struct mlabel){ "what", what[i] }, v[i]);
	}
}

static void txn_metrics(struct mtext *m, const struct txn_layer *tl)
{
	struct txn_stats st;

	txn_layer_stats(tl, &st);
	mt_one(m, "sbc_transactions_live", "gauge", "SIP transactions now, server and client.",
	       (uint64_t)st.server_live + st.client_live);
}

/*
 * The whole text, in *textp (malloc'd, NUL-terminated, the caller frees it)
 * and its length. ENODEV before the SIP stack, guard and media are up;
 * ENOMEM; ENOSPC past METRICS_MAX.
 */
int sbcd_metrics_render(const struct sbcd *s, uint64_t uptime_s, char **textp, size_t *lenp)
{
	struct mtext m = { 0 };

	if (!s->transp || !s->b2bua || !s->txn || !s->media || !s->guard)
		return ENODEV;
	info_metrics(&m, s, uptime_s);
	sip_metrics(&m, s->transp);
	call_metrics(&m, s->b2bua);
	guard_metrics(&m, s->guard);
	media_metrics(&m, s->media);
	media_io_metrics(&m, s->media);
	txn_metrics(&m, s->txn);
	if (m.err) {
		free(m.p);
		return m.err;
	}
	*textp = m.p;
	*lenp = m.len;
	return 0;
}
