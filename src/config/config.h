/* config: the sbc.ini schema, read with iniparser, checked, and exposed read-only to every module. */
#ifndef SBC_CONFIG_H
#define SBC_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "util/util.h"

/* Limits of the file and of single values (docs/configuration.md). */
#define CONFIG_FILE_MAX      (256 * 1024)  /* bytes in sbc.ini */
#define CONFIG_LINE_MAX      1022          /* characters on a line (iniparser 4.1) */
#define CONFIG_PATH_MAX      256           /* file paths, NUL included */
#define CONFIG_SOCKPATH_MAX  108           /* sizeof(sun_path), NUL included */
#define CONFIG_HOST_MAX      254           /* DNS name, NUL included */
#define CONFIG_PRODUCT_MAX   65
#define CONFIG_USER_MAX      65            /* trunk user name, unix user */
#define CONFIG_SECRET_MAX    129           /* trunk password */
#define CONFIG_REALM_MAX     129           /* digest realm, NUL included */
#define CONFIG_TRUNK_NAME_MAX 33           /* [trunk:NAME], NAME is 1-32 of [a-z0-9_-] */
#define CONFIG_TRUNKS_MAX    256
#define CONFIG_LIST_MAX      64            /* items in one list value */
#define CONFIG_ENTRIES_MAX   4096          /* sections and keys in one file */

/* Errors: one line each, "FILE: [SECTION] KEY: MESSAGE". */
#define CONFIG_ERRORS_MAX    100
#define CONFIG_ERROR_LEN     512

struct config_errors {
	unsigned n;          /* lines in msg[] */
	unsigned dropped;    /* errors found beyond CONFIG_ERRORS_MAX */
	char msg[CONFIG_ERRORS_MAX][CONFIG_ERROR_LEN];
};

enum zone_id { ZONE_PUBLIC, ZONE_PRIVATE, ZONE_COUNT };

enum config_transport { CONFIG_TRANSPORT_UDP, CONFIG_TRANSPORT_TCP, CONFIG_TRANSPORT_TLS };
enum config_media_engine { CONFIG_MEDIA_SOCKET, CONFIG_MEDIA_BYPASS, CONFIG_MEDIA_XDP };
enum config_log_target { CONFIG_LOG_STDERR, CONFIG_LOG_SYSLOG };
enum config_keepalive { CONFIG_KEEPALIVE_OFF, CONFIG_KEEPALIVE_OPTIONS, CONFIG_KEEPALIVE_CRLF };
enum config_auth_reject { CONFIG_AUTH_REJECT_403, CONFIG_AUTH_REJECT_SILENT };
enum config_kernel_drop { CONFIG_KERNEL_DROP_OFF, CONFIG_KERNEL_DROP_NFTABLES };

/* Bits of [auth] algorithms, in the order of its names (md5, sha-256). */
enum {
	CONFIG_AUTH_MD5 = 1u << 0,
	CONFIG_AUTH_SHA256 = 1u << 1,
};

/* An IPv4 or IPv6 address literal; set is false when the key was absent. */
struct config_addr {
	bool set;
	char text[INET6_ADDRSTRLEN];   /* canonical text (inet_ntop) */
	struct sockaddr_storage ss;    /* AF_INET or AF_INET6; port 0 except in endpoints */
	socklen_t sslen;
};

/* An address literal or a DNS name; addr.set tells that name is a literal. */
struct config_host {
	char name[CONFIG_HOST_MAX];    /* as configured, "" when absent */
	struct config_addr addr;
};

/* "ADDRESS:PORT" or "[IPV6]:PORT"; addr.ss carries the port too. */
struct config_endpoint {
	struct config_addr addr;
	uint16_t port;
};

/* Port range "START-END": START even, END > START, both in 1024-65535. */
struct config_range {
	uint16_t start;
	uint16_t end;
};

/* One CIDR block, host bits zero. */
struct config_cidr {
	sa_family_t family;
	uint8_t prefix;
	uint8_t net[16];                      /* 4 bytes used for AF_INET */
	char text[INET6_ADDRSTRLEN + 4];
};

struct config_cidrlist {
	unsigned n;
	struct config_cidr *v;                /* owned by the config */
};

struct config_strlist {
	unsigned n;
	const char *const *v;                 /* owned by the config */
};

struct config_general {
	char data_dir[CONFIG_PATH_MAX];
	enum log_level log_level;
	enum config_log_target log_target;
	char product[CONFIG_PRODUCT_MAX];
	char control_socket[CONFIG_SOCKPATH_MAX];
	unsigned call_records_max_kb;         /* calls.jsonl is rotated to calls.jsonl.1 past this */
};

/* One zone of the zone table (DESIGN "The zone model"). */
struct config_zone {
	enum zone_id id;
	char interface[IFNAMSIZ];
	struct config_addr address;           /* unset: taken from the interface at run time */
	struct config_addr advertise;         /* unset: no NAT in front */
	uint16_t sip_udp;                     /* 0: listener off */
	uint16_t sip_tcp;
	uint16_t sip_tls;
	char tls_cert[CONFIG_PATH_MAX];       /* "" when absent; both or neither */
	char tls_key[CONFIG_PATH_MAX];
	struct config_range rtp_ports;
	enum config_media_engine media;
	struct config_addr media_address;     /* set iff media is bypass or xdp */
	/* Network bring-up (sbc-netup, docs/netup.md); sbcd itself does not use them. */
	unsigned prefix;                      /* of address; 0 only when address is unset */
	struct config_addr gateway;           /* unset: none; public: the default route */
	struct config_cidrlist routes;        /* networks reached through gateway */
	unsigned mtu;                         /* 0: left as the kernel has it */
};

struct config_sip {
	unsigned t1_ms;
	unsigned t2_ms;
	unsigned t4_ms;
	unsigned tcp_idle_s;
	unsigned max_connections;
	unsigned max_connections_per_source;
	unsigned max_transactions;            /* cap of each transaction table (server, client) */
	unsigned max_calls;                   /* concurrent calls; 0: no limit but the media ports */
	unsigned max_cps;                     /* new calls per second; 0: no limit */
};

struct config_core {
	struct config_host address;
	uint16_t port;
	enum config_transport transport;
	struct config_strlist hide;           /* extra names for the leak checker */
};

struct config_trunk {
	char name[CONFIG_TRUNK_NAME_MAX];
	enum zone_id zone;
	struct config_host address;
	uint16_t port;
	enum config_transport transport;
	struct config_cidrlist allow;         /* empty only when address is a DNS name */
	unsigned max_calls;                   /* 0: unlimited */
	bool do_register;                     /* key "register" */
	char username[CONFIG_USER_MAX];
	char password[CONFIG_SECRET_MAX];
	struct config_host domain;            /* "" when absent: the address is used */
	unsigned expires;
	unsigned retry_s;                     /* first wait after a failed registration */
};

struct config_registration {
	unsigned phone_expires;
	unsigned core_expires;
	unsigned grace_s;
	enum config_keepalive keepalive;      /* what is sent to registered phones */
	unsigned keepalive_s;                 /* how often */
};

/* The SBC's own digest authentication of the public zone (docs/auth.md). */
struct config_auth {
	bool local;                           /* challenge public-zone REGISTERs and dialog-creating requests */
	char realm[CONFIG_REALM_MAX];         /* "": the public zone's advertised or bound address */
	char users_file[CONFIG_PATH_MAX];     /* default <data_dir>/users */
	unsigned algorithms;                  /* CONFIG_AUTH_* bits, never 0; SHA-256 is offered first */
	unsigned nonce_ttl_s;
	enum config_auth_reject reject;       /* public-zone requests nobody vouches for */
	bool open;                            /* lab only: anyone on the public zone may call in */
};

struct config_guard {
	bool enabled;
	unsigned table_size;
	unsigned ban_time_s;
	unsigned ban_time_max_s;
	struct config_cidrlist allow;
	unsigned rate_packets;
	unsigned rate_invite;
	unsigned rate_register;
	unsigned rate_options;
	unsigned rate_other;
	unsigned trusted_reserve_pct;
	unsigned max_packet_size;
	struct config_strlist scanner_agents;
	unsigned enum_threshold;
	unsigned auth_fail_threshold;
	unsigned malformed_threshold;
	unsigned capacity_pps;                /* packets/s the SIP stack takes from the public zone */
	unsigned rate_user;                   /* untrusted requests/s to one destination user */
	unsigned window_s;                    /* enumeration, auth failure, malformed and toll counts */
	struct config_strlist toll_prefixes;  /* international dialling prefixes */
	unsigned toll_threshold;              /* international probes before a ban */
	unsigned max_bans;
	enum config_kernel_drop kernel_drop;
};

struct config_media {
	unsigned timeout_s;
	bool policing;
	unsigned policing_factor;
	bool strict_source;
	unsigned max_streams;
	char cpu[8];                          /* "any" or a CPU number: see config_media_cpu() */
};

struct config_web {
	struct config_endpoint listen;        /* addr unset: the private zone's address at run time */
	char cert[CONFIG_PATH_MAX];
	char key[CONFIG_PATH_MAX];
	char user[CONFIG_USER_MAX];
};

/*
 * A whole, checked configuration. Read-only once loaded; reference counted
 * (mem_ref/mem_deref), so a module may keep the one it started with while a
 * reload installs the next.
 */
struct sbc_config {
	char path[CONFIG_PATH_MAX];
	struct config_general general;
	struct config_zone zones[ZONE_COUNT];
	struct config_sip sip;
	struct config_core core;
	struct config_registration registration;
	struct config_auth auth;
	struct config_guard guard;
	struct config_media media;
	struct config_web web;
	struct config_trunk *trunks;          /* trunk_count entries in file order */
	unsigned trunk_count;
};

/*
 * Load and check path. 0: *cfgp is a new configuration (mem_deref it);
 * EINVAL: every problem is in errs (may be NULL); ENOMEM. One load at a
 * time: iniparser's error callback is process-wide.
 */
int config_load(struct sbc_config **cfgp, const char *path, struct config_errors *errs);

/* [media] cpu as a number: the CPU the media thread is pinned to, -1 for "any"; -2: neither. */
int config_media_cpu(const struct config_media *m);
void config_errors_init(struct config_errors *errs);
void config_errors_print(const struct config_errors *errs, FILE *f);

const struct config_zone *config_zone(const struct sbc_config *cfg, enum zone_id z);
const struct config_trunk *config_trunk_find(const struct sbc_config *cfg, const char *name);
const char *config_zone_name(enum zone_id z);
const char *config_transport_name(enum config_transport t);
const char *config_media_engine_name(enum config_media_engine m);

bool config_addr_eq(const struct config_addr *a, const struct config_addr *b);
bool config_cidr_match(const struct config_cidr *c, const struct sockaddr *sa);
int config_cidr_of(struct config_cidr *c, const struct config_addr *a, unsigned prefix);
bool config_cidrlist_match(const struct config_cidrlist *l, const struct sockaddr *sa);

#endif
