/* police: the guard in front of the public zone's SIP input, its tick and its bans file. */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "guard/guard.h"
#include "media/media.h"
#include "sbcd_int.h"

static bool police_pre(const struct sockaddr_storage *src, const char *data, size_t len, void *arg)
{
	return guard_pre(arg, src, data, len);
}

static bool police_admit(const struct sockaddr_storage *src, void *arg)
{
	return guard_admit(arg, src);
}

/* What the ingress checks refused counts towards a malformed-packet ban. */
static void police_rejected(const struct sockaddr_storage *src, enum sip_reject r, void *arg)
{
	if (r == SIP_REJ_MAX_FORWARDS || r == SIP_REJ_NOT_OUR_VIA)
		return;   /* loops and stray responses are not malformed */
	guard_event(arg, src, GUARD_EV_MALFORMED, NULL);
}

static void police_sent(const struct sockaddr_storage *dst, const char *data, size_t len, void *arg)
{
	guard_sent(arg, dst, data, len);
}

/*
 * Once a second: the guard's own work, and the media engine's drops
 * (wrong source, policing) handed over as increments; the engine counts
 * per stream on its hot path and never calls the guard per packet.
 */
static void on_guard_tick(evutil_socket_t fd, short what, void *arg)
{
	struct sbcd *s = arg;
	struct media_engine_stats st;

	(void)fd;
	(void)what;
	if (s->media) {
		media_engine_stats(s->media, &st);
		guard_media_drops(s->guard, st.dropped_source, st.dropped_policing);
	}
	guard_tick(s->guard);
}

int sbcd_guard_start(struct sbcd *s)
{
	static const struct timeval second = { 1, 0 };
	struct sip_transp_police p = {
		.pre = police_pre, .admit = police_admit, .rejected = police_rejected,
		.sent = police_sent,
	};
	char path[PATH_MAX];
	int err, n;

	n = snprintf(path, sizeof(path), "%s/bans.json", s->cfg->general.data_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return ENAMETOOLONG;
	err = guard_alloc(&s->guard, s->cfg, path);
	if (err) {
		log_error("guard: %s", strerror(err));
		return err;
	}
	s->ev_guard = event_new(s->base, -1, EV_PERSIST, on_guard_tick, s);
	if (!s->ev_guard || event_add(s->ev_guard, &second) == -1)
		return ENOMEM;
	p.arg = s->guard;
	sip_transp_police_set(s->transp, ZONE_PUBLIC, &p);
	if (!guard_enabled(s->guard))
		log_warn("guard: disabled ([guard] enabled = no): the public zone is not policed");
	return 0;
}

int sbcd_guard_apply(struct sbcd *s, const struct sbc_config *next)
{
	if (s->guard)
		guard_apply(s->guard, next);
	return 0;
}

void sbcd_guard_stop(struct sbcd *s)
{
	if (s->transp)
		sip_transp_police_set(s->transp, ZONE_PUBLIC, NULL);
	if (s->ev_guard)
		event_free(s->ev_guard);
	s->ev_guard = NULL;
	if (s->guard)
		guard_save(s->guard);
	s->guard = mem_deref(s->guard);
}
