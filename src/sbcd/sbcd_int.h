/* sbcd_int: the daemon's private interface: its state and the hooks of its modules. */
#ifndef SBC_SBCD_INT_H
#define SBC_SBCD_INT_H

#include <limits.h>

#include "net/net.h"
#include "sbcd.h"
#include "sip/sip.h"

struct event;
struct event_base;
struct net_monitor;
struct txn_layer;
struct b2bua;
struct media_engine;
struct guard;
struct ctl;
struct sbcd_trace;

/* A zone as it runs: what the configuration said, resolved against the interface. */
struct sbcd_zone {
	struct net_iface ifc;             /* as read at start-up */
	struct sockaddr_storage addr;     /* the SIP address (port unset) */
	char host[NET_ADDRSTRLEN];        /* what Via and Contact say: advertise or address */
	bool link_up;                     /* followed through netlink */
	SSL_CTX *tls;                     /* for the TLS listener, NULL if off */
};

struct sbcd {
	struct sbcd_opts opts;              /* paths below point into config_path and pid_path */
	char config_path[PATH_MAX];
	char pid_path[PATH_MAX];
	struct sbc_config *cfg;             /* the running configuration */
	struct event_base *base;
	struct event *ev_term;
	struct event *ev_int;
	struct event *ev_hup;
	struct event *ev_ready;
	bool pid_written;
	int ready_fd;               /* -d: the pipe the waiting parent reads; -1 */
	bool restart;                       /* system.restart: run again after shutdown (main.c) */
	struct event *ev_restart;           /* ends the loop once the answer has gone out */
	struct config_errors errs;          /* of the last load */
	/* zones, transports, transactions */
	struct sbcd_zone zones[ZONE_COUNT];
	struct net_monitor *mon;
	struct sip_transp *transp;
	struct txn_layer *txn;
	struct event *ev_txn;
	struct b2bua *b2bua;
	struct media_engine *media;
	struct guard *guard;                /* polices the public zone */
	struct event *ev_guard;             /* its once-a-second tick */
	struct ctl *ctl;                    /* the control socket */
	struct sbcd_trace *trace;           /* the SIP trace (tracectl.c) */
};

/*
 * A part of sbcd that follows the configuration. start runs once the
 * configuration is loaded, before the loop; apply runs on reload with the
 * new, already checked configuration while s->cfg is still the old one;
 * stop runs at shutdown in reverse order. Any hook may be NULL.
 */
typedef int (sbcd_start_h)(struct sbcd *s);
typedef int (sbcd_apply_h)(struct sbcd *s, const struct sbc_config *next);
typedef void (sbcd_stop_h)(struct sbcd *s);

struct sbcd_module {
	const char *name;
	sbcd_start_h *start;
	sbcd_apply_h *apply;
	sbcd_stop_h *stop;
};

int sbcd_zones_start(struct sbcd *s);
void sbcd_sip_input(struct sip_msg *msg, void *arg);
int sbcd_sip_start(struct sbcd *s);
int sbcd_sip_apply(struct sbcd *s, const struct sbc_config *next);
void sbcd_sip_stop(struct sbcd *s);
int sbcd_zones_apply(struct sbcd *s, const struct sbc_config *next);
void sbcd_zones_stop(struct sbcd *s);
int sbcd_guard_start(struct sbcd *s);
int sbcd_guard_apply(struct sbcd *s, const struct sbc_config *next);
void sbcd_guard_stop(struct sbcd *s);
int sbcd_guardctl_start(struct sbcd *s);
void sbcd_guardctl_stop(struct sbcd *s);
int sbcd_callsctl_start(struct sbcd *s);
void sbcd_callsctl_stop(struct sbcd *s);
int sbcd_configctl_start(struct sbcd *s);
void sbcd_configctl_stop(struct sbcd *s);
/* metrics.c: the Prometheus text of the metrics command (malloc'd; the caller frees it). */
int sbcd_metrics_render(const struct sbcd *s, uint64_t uptime_s, char **textp, size_t *lenp);
/* tracectl.c: the SIP trace to a pcap file and its trace.* commands. */
int sbcd_trace_start(struct sbcd *s);
void sbcd_trace_stop(struct sbcd *s);

/* main.c: system.restart, and whether this image is such a restart (already a daemon). */
int sbcd_system_start(struct sbcd *s);
void sbcd_system_stop(struct sbcd *s);
bool sbcd_reexecuted(void);

/* Read the configuration file again and apply it, as SIGHUP does (sbcd.c). */
void sbcd_reload(struct sbcd *s);

#endif
