/* webd_int: sbc-webd's process, server and helpers, shared by the files of src/webd/. */
#ifndef SBC_WEBD_INT_H
#define SBC_WEBD_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "config/config.h"
#include "net/net.h"
#include "util/util.h"
#include "webd.h"

#ifndef SBC_VERSION
#define SBC_VERSION "0.1.0"
#endif

/* Exit codes, as sbcd's. */
#define WEBD_EXIT_OK      0
#define WEBD_EXIT_FAIL    1    /* could not start or run */
#define WEBD_EXIT_CONFIG  2    /* the configuration has errors */
#define WEBD_EXIT_USAGE   64

#define WEBD_DEFAULT_CONFIG   "/etc/sbc/sbc.ini"
#define WEBD_DEFAULT_WEBROOT  "/usr/share/sbc/web"

/* HTTP limits (docs/webd.md, "Limits"). */
#define WEBD_HEADERS_MAX      8192
#define WEBD_BODY_MAX         (128 * 1024)
#define WEBD_CONN_TIMEOUT_S   30
#define WEBD_CONN_MAX         64
#define WEBD_LISTEN_BACKLOG   64
#define WEBD_STATIC_MAX       (4 * 1024 * 1024)    /* bytes of one static file */

/* The control connection to sbcd. */
#define WEBD_CTL_TIMEOUT_MS   10000                /* an answer within this, or 504 */
#define WEBD_CTL_IDLE_MS      240000               /* close before sbcd's 300 s idle limit */
#define WEBD_CTL_LINE_MAX     (32 * 1024 * 1024)   /* bytes of one answer line */
#define WEBD_CTL_REQ_MAX      65536                /* sbcd's request line limit */
#define WEBD_CTL_PENDING_MAX  256

/* Password work on the worker thread. */
#define WEBD_JOBS_MAX         64

/* State files in <data_dir>/web/. */
#define WEBD_STATE_DIR        "web"
#define WEBD_F_PASSWORD       "password"
#define WEBD_F_SETUP          "setup-token"
#define WEBD_F_METRICS        "metrics-token"
#define WEBD_F_CERT           "cert.pem"
#define WEBD_F_KEY            "key.pem"
#define WEBD_F_SKEY           "session.key"       /* the AEAD key of session cookies */
#define WEBD_F_REVOKED        "sessions-revoked"  /* logouts and password changes */
#define WEBD_FILE_MAX         (64 * 1024)          /* bytes of a state file read */
#define WEBD_TRACE_FILE       "trace.pcap"         /* in data_dir, opened by the privileged parent */

#define WEBD_COOKIE           "sbc_session"

struct webd_opts {
	const char *config_path;
	const char *webroot;
	bool daemonize;
	bool check;
	bool init;                     /* --init: make the state, print the setup steps, exit */
	bool level_set;
	enum log_level level;
};

struct webd_stats {
	uint64_t conns_accepted;
	uint64_t conns_refused;        /* over WEBD_CONN_MAX */
	uint64_t requests;
	uint64_t logins_ok;
	uint64_t logins_failed;        /* wrong password or setup token */
	uint64_t csrf_refused;
	uint64_t origin_refused;
	uint64_t ctl_errors;           /* sbcd unreachable, timed out, bad answer */
	uint64_t limited_logged;       /* refusals already reported in the log */
	uint64_t session_refused[WEBD_REFUSE_N];   /* session cookies refused, by reason */
};

struct ctlc;
struct webd_worker;
struct event;
struct event_base;
struct evhttp;
struct evhttp_request;

struct webd {
	struct webd_opts opts;
	struct sbc_config *cfg;

	/* where and as whom */
	struct sockaddr_storage listen;
	char listen_host[INET6_ADDRSTRLEN + 2];   /* "10.20.0.1" or "[fd00::1]" */
	uint16_t listen_port;
	char user[CONFIG_USER_MAX];
	uid_t uid;
	gid_t gid;
	bool privsep;                  /* started as root: a parent and an unprivileged child */

	/* descriptors opened before the privileges go */
	int listen_fd;
	int root_fd;                   /* WEBROOT */
	int state_fd;                  /* <data_dir>/web */
	int priv_fd;                   /* the socketpair to the parent; -1 without privsep */
	SSL_CTX *tls;

	/* state */
	bool has_password;
	bool setup_busy;               /* a setup's hash is being made */
	char pw_line[WEBD_PW_LINE_MAX];
	char setup_token[WEBD_TOKEN_HEX];
	char metrics_token[WEBD_TOKEN_HEX];
	struct webd_skey skey;         /* from session.key */
	struct webd_revoke revoke;     /* as in sessions-revoked */

	/* running */
	struct event_base *base;
	struct evhttp *http;
	struct event *ev_term, *ev_int, *ev_tick;
	struct ctlc *ctl;
	struct webd_worker *worker;
	unsigned conns;                /* TLS connections alive */
	struct webd_sessions sessions;
	struct webd_limit limit;
	struct webd_stats stats;
};

/* state.c: <data_dir>/web and what is in it; the TLS context. */
int webd_state_open(struct webd *w);
int webd_state_load(struct webd *w);
int webd_state_save_password(struct webd *w, const char *line);
int webd_state_save_revoke(struct webd *w);
uint64_t webd_wall_ms(void);
int webd_tls_setup(struct webd *w);
int webd_file_write_at(int dirfd, const char *name, const void *data, size_t len);
int webd_file_read_at(int dirfd, const char *name, char *buf, size_t size, size_t *len);

/* priv.c: privilege separation (the parent opens, the child serves). */
enum webd_priv_op { WEBD_PRIV_CTL = 1, WEBD_PRIV_TRACE = 2 };

int webd_priv_split(struct webd *w, bool *parent, int *exit_code);
int webd_priv_fd(struct webd *w, enum webd_priv_op op, int *fdp);

/* http.c: the HTTPS server, routing, replies, static files. */
int webd_http_start(struct webd *w);
void webd_http_stop(struct webd *w);
void webd_reply_json(struct evhttp_request *req, int code, json_t *body);
void webd_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void webd_reply_raw(struct evhttp_request *req, int code, const char *ctype, const char *data,
		    size_t len);
const char *webd_req_peer(struct evhttp_request *req);
int webd_req_body(struct evhttp_request *req, bool empty_ok, json_t **objp);
struct webd_session *webd_req_session(struct webd *w, struct evhttp_request *req);

/* api.c: session, setup, login, logout, password. */
void webd_api_session(struct webd *w, struct evhttp_request *req);
void webd_api_setup(struct webd *w, struct evhttp_request *req);
void webd_api_login(struct webd *w, struct evhttp_request *req);
void webd_api_logout(struct webd *w, struct evhttp_request *req, struct webd_session *s);
void webd_api_password(struct webd *w, struct evhttp_request *req, struct webd_session *s);
void webd_api_stats_tick(struct webd *w);
struct webd_session *webd_session_open(struct webd *w, struct evhttp_request *req,
				       const char *cookie);

/* proxy.c: /api/sbcd/<cmd>, /metrics, /api/trace.pcap. */
void webd_proxy_cmd(struct webd *w, struct evhttp_request *req, const char *cmd, bool post);
void webd_proxy_metrics(struct webd *w, struct evhttp_request *req);
void webd_proxy_trace(struct webd *w, struct evhttp_request *req);

/* ctlc.c: the control connection to sbcd, requests pipelined, answers in order. */
typedef void (ctlc_done_h)(int err, const char *line, size_t len, void *arg);

int ctlc_alloc(struct ctlc **cp, struct webd *w);
void ctlc_free(struct ctlc *c);
int ctlc_call(struct ctlc *c, const char *cmd, json_t *args, ctlc_done_h *dh, void *arg);

/* worker.c: password hashing off the event loop. */
enum webd_job_kind { WEBD_JOB_VERIFY, WEBD_JOB_HASH, WEBD_JOB_CHANGE };

struct webd_job;
typedef void (webd_job_h)(struct webd *w, struct webd_job *j);

struct webd_job {
	struct webd_job *next;
	enum webd_job_kind kind;
	char line[WEBD_PW_LINE_MAX];   /* in: the stored hash (verify, change); out: the new one */
	char pw[WEBD_PW_MAX + 1];      /* verify, change: the password given; hash: the new one */
	size_t pwlen;
	char npw[WEBD_PW_MAX + 1];     /* change: the new password */
	size_t npwlen;
	int result;                    /* 0, EACCES (wrong), EINVAL (bad stored hash), EIO, ECANCELED */
	/* loop side: whoever submitted */
	webd_job_h *done;
	struct evhttp_request *req;
	char addr[WEBD_ADDR_MAX];
	uint8_t sid[WEBD_SID_LEN];      /* change: the session asking */
};

int webd_worker_alloc(struct webd_worker **wkp, struct webd *w);
void webd_worker_free(struct webd_worker *wk);
int webd_job_new(struct webd_job **jp, enum webd_job_kind kind, webd_job_h *done,
		 struct evhttp_request *req);
int webd_worker_submit(struct webd_worker *wk, struct webd_job *j);

#endif
