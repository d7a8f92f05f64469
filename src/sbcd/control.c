/* control: sbcd's control socket and the commands that belong to the daemon itself (status). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "control.h"
#include "sbcd_int.h"

#ifndef SBC_VERSION
#define SBC_VERSION "dev"
#endif

static uint64_t started_ms;   /* monotonic, when the control socket opened */

/* One zone as it runs: its name, interface, SIP address (null until resolved) and link state. */
static json_t *zone_json(const struct sbcd *s, enum zone_id id)
{
	const struct config_zone *zc = config_zone(s->cfg, id);
	const struct sbcd_zone *z = &s->zones[id];
	char ip[INET6_ADDRSTRLEN];
	bool have = net_sa_ip_str(&z->addr, ip, sizeof(ip)) == 0;

	return json_pack("{s:s, s:s, s:s?, s:b}", "name", config_zone_name(id),
			 "interface", zc->interface, "address", have ? ip : NULL,
			 "link_up", z->link_up);
}

/* status: version, pid, uptime, configuration file and the zones. */
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
	*result = st;
	return 0;

 out_nomem:
	json_decref(zones);
	json_decref(st);
	snprintf(err, errlen, "out of memory");
	return ENOMEM;
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
