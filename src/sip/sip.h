/* sip: SIP message parser and writer (RFC 3261): zero-copy, lazy, bounded. */
#ifndef SBC_SIP_H
#define SBC_SIP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "util/util.h"

/*
 * Limits. Every length read from the wire is checked against one of these
 * before it is used; exceeding one makes decode return EMSGSIZE.
 */
enum {
	SIP_MAX_MSG = 65535,      /* whole message, the largest UDP payload */
	SIP_MAX_LINE = 4096,      /* one physical line */
	SIP_MAX_HDR_VALUE = 8192, /* one header, continuation lines included */
	SIP_MAX_HEADERS = 128,    /* header fields in one message */
	SIP_MAX_HDR_BLOCK = 16384,/* start line and headers together */
	SIP_MAX_BODY = 32768,     /* Content-Length */
	SIP_MAX_EDITS = 64,       /* pending edits on one message */
	SIP_MAX_PARAMS = 32,      /* parameters walked in one header value */
};

enum sip_proto { SIP_PROTO_UDP, SIP_PROTO_TCP, SIP_PROTO_TLS, SIP_PROTO__COUNT };

/*
 * Where a message came from or goes to: the transport fills it on receive.
 * Stream connections are named by id, not pointer, so a message never
 * outlives what it points at; 0 means "no connection" (UDP, or open one).
 */
struct sip_peer {
	struct sockaddr_storage addr;
	uint32_t conn_id;
	uint8_t proto;        /* enum sip_proto */
	uint8_t zone;         /* index into the zone table */
};

const char *sip_proto_name(enum sip_proto p);
int sip_proto_lookup(const struct pl *name, enum sip_proto *p);
bool sip_proto_reliable(enum sip_proto p);

enum sip_method {
	SIP_METHOD_UNKNOWN = 0,
	SIP_METHOD_INVITE,
	SIP_METHOD_ACK,
	SIP_METHOD_BYE,
	SIP_METHOD_CANCEL,
	SIP_METHOD_OPTIONS,
	SIP_METHOD_REGISTER,
	SIP_METHOD_PRACK,
	SIP_METHOD_SUBSCRIBE,
	SIP_METHOD_NOTIFY,
	SIP_METHOD_PUBLISH,
	SIP_METHOD_INFO,
	SIP_METHOD_REFER,
	SIP_METHOD_MESSAGE,
	SIP_METHOD_UPDATE,
	SIP_METHOD__COUNT
};

/* Header ids; long and compact names map to the same id (see hdr.c). */
enum sip_hdr_id {
	SIP_HDR_OTHER = 0,
	SIP_HDR_ACCEPT,
	SIP_HDR_ACCEPT_CONTACT,
	SIP_HDR_ACCEPT_ENCODING,
	SIP_HDR_ACCEPT_LANGUAGE,
	SIP_HDR_ALERT_INFO,
	SIP_HDR_ALLOW,
	SIP_HDR_ALLOW_EVENTS,
	SIP_HDR_AUTHENTICATION_INFO,
	SIP_HDR_AUTHORIZATION,
	SIP_HDR_CALL_ID,
	SIP_HDR_CALL_INFO,
	SIP_HDR_CONTACT,
	SIP_HDR_CONTENT_DISPOSITION,
	SIP_HDR_CONTENT_ENCODING,
	SIP_HDR_CONTENT_LANGUAGE,
	SIP_HDR_CONTENT_LENGTH,
	SIP_HDR_CONTENT_TYPE,
	SIP_HDR_CSEQ,
	SIP_HDR_DATE,
	SIP_HDR_DIVERSION,
	SIP_HDR_ERROR_INFO,
	SIP_HDR_EVENT,
	SIP_HDR_EXPIRES,
	SIP_HDR_FROM,
	SIP_HDR_HISTORY_INFO,
	SIP_HDR_IDENTITY,
	SIP_HDR_IDENTITY_INFO,
	SIP_HDR_IN_REPLY_TO,
	SIP_HDR_MAX_FORWARDS,
	SIP_HDR_MIME_VERSION,
	SIP_HDR_MIN_EXPIRES,
	SIP_HDR_MIN_SE,
	SIP_HDR_ORGANIZATION,
	SIP_HDR_P_ASSERTED_IDENTITY,
	SIP_HDR_P_PREFERRED_IDENTITY,
	SIP_HDR_PATH,
	SIP_HDR_PRIORITY,
	SIP_HDR_PRIVACY,
	SIP_HDR_PROXY_AUTHENTICATE,
	SIP_HDR_PROXY_AUTHORIZATION,
	SIP_HDR_PROXY_REQUIRE,
	SIP_HDR_RACK,
	SIP_HDR_REASON,
	SIP_HDR_RECORD_ROUTE,
	SIP_HDR_REFER_TO,
	SIP_HDR_REFERRED_BY,
	SIP_HDR_REJECT_CONTACT,
	SIP_HDR_REMOTE_PARTY_ID,
	SIP_HDR_REPLACES,
	SIP_HDR_REPLY_TO,
	SIP_HDR_REQUEST_DISPOSITION,
	SIP_HDR_REQUIRE,
	SIP_HDR_RETRY_AFTER,
	SIP_HDR_ROUTE,
	SIP_HDR_RSEQ,
	SIP_HDR_SERVER,
	SIP_HDR_SERVICE_ROUTE,
	SIP_HDR_SESSION_EXPIRES,
	SIP_HDR_SUBJECT,
	SIP_HDR_SUBSCRIPTION_STATE,
	SIP_HDR_SUPPORTED,
	SIP_HDR_TIMESTAMP,
	SIP_HDR_TO,
	SIP_HDR_UNSUPPORTED,
	SIP_HDR_USER_AGENT,
	SIP_HDR_VIA,
	SIP_HDR_WARNING,
	SIP_HDR_WWW_AUTHENTICATE,
	SIP_HDR__COUNT
};

enum sip_hdr_id sip_hdr_id_lookup(const char *name, size_t len);
const char *sip_hdr_name(enum sip_hdr_id id);
enum sip_method sip_method_lookup(const struct pl *name);
const char *sip_method_name(enum sip_method m);

/* One header field as it stands in the message. */
struct sip_hdr {
	struct pl name;       /* as written, compact or long, any case */
	struct pl val;        /* trimmed; may hold folded line breaks */
	uint32_t off;         /* offset of the line in the message */
	uint32_t len;         /* the whole field, continuation lines and CRLF included */
	uint16_t id;          /* enum sip_hdr_id */
	int16_t next;         /* index of the next header with the same id, or -1 */
};

enum sip_host_type { SIP_HOST_NAME, SIP_HOST_IPV4, SIP_HOST_IPV6 };

struct sip_uri {
	struct pl raw;        /* the whole URI */
	struct pl scheme;     /* sip, sips, tel, ... */
	struct pl user;       /* still escaped (%HH) */
	struct pl password;
	struct pl host;       /* IPv6 without its brackets */
	struct pl hostport;   /* host[:port] as written */
	struct pl params;     /* ";a=b;c", or empty */
	struct pl headers;    /* "?h=v&...", or empty */
	struct pl opaque;     /* for non-SIP schemes: everything after "scheme:" */
	uint16_t port;        /* 0 when absent */
	uint8_t host_type;    /* enum sip_host_type */
	bool is_sip;          /* sip: or sips: */
};

/* name-addr or addr-spec with header parameters (From, To, Contact, Route...). */
struct sip_addr {
	struct pl val;        /* the whole value */
	struct pl dname;      /* display name as written, quotes included */
	struct pl auri;       /* the URI text */
	struct pl params;     /* header parameters after the URI */
	struct pl tag;        /* tag parameter, if any */
	struct sip_uri uri;
	bool angle;           /* the URI stood in angle brackets */
};

struct sip_via {
	struct pl val;        /* the whole via-parm */
	struct pl proto;      /* "SIP/2.0/UDP" */
	struct pl transport;  /* "UDP" */
	struct pl sentby;     /* host[:port] as written */
	struct pl host;       /* IPv6 without brackets */
	struct pl params;
	struct pl branch, received, maddr, ttl, rport;
	uint16_t port;        /* 0 when absent */
	uint8_t host_type;
	bool has_rport;       /* rport present, with or without a value */
};

struct sip_cseq {
	uint32_t num;
	struct pl method;
	enum sip_method mid;
};

struct sip_contact {
	struct sip_addr addr;
	uint32_t expires;
	bool has_expires;
	bool star;            /* "Contact: *" */
};

struct sip_ctype {
	struct pl type, subtype, params;
};

enum sip_refresher { SIP_REFRESHER_NONE, SIP_REFRESHER_UAC, SIP_REFRESHER_UAS };

struct sip_session_expires {
	uint32_t delta;
	enum sip_refresher refresher;
	struct pl params;
};

struct sip_reason {
	struct pl protocol;   /* SIP, Q.850, ... */
	struct pl params;
	struct pl text;       /* inside the quotes, still escaped */
	uint32_t cause;
	bool has_cause;
};

/* Digest challenge (WWW-/Proxy-Authenticate) or credentials (Authorization). */
struct sip_digest {
	struct pl scheme;     /* Digest */
	struct pl params;     /* everything after the scheme */
	struct pl realm, nonce, opaque, algorithm, qop, stale, domain;
	struct pl username, uri, response, cnonce, nc, userhash;
};

/* Iterator over the values of one header id, across fields and commas. */
struct sip_iter {
	int hdr;              /* current header index, -1 before the first */
	struct pl rest;       /* what is left of the current field's value */
	bool started;
};

/* One pending edit: bytes [off, off+len) of the message become arena[aoff, aoff+alen). */
struct sip_edit {
	uint32_t off, len;
	uint32_t aoff, alen;
};

/* A decoded message. Fields are read-only for callers; use the functions. */
struct sip_msg {
	struct buf *mb;       /* referenced buffer, or NULL for decode_raw */
	const char *base;     /* first byte of the start line */
	size_t len;           /* start line to end of body */

	bool req;
	struct pl method;
	enum sip_method mid;
	struct pl ruri;
	struct pl ver;
	bool ver_ok;          /* SIP/2.0 */
	uint16_t scode;
	struct pl reason;

	struct sip_hdr hdrv[SIP_MAX_HEADERS];
	uint16_t hdrc;
	int16_t first[SIP_HDR__COUNT];
	uint8_t count[SIP_HDR__COUNT];
	uint32_t hdr_end;     /* offset of the empty line ending the headers */

	struct pl body;
	uint32_t clen;
	bool has_clen;

	const char *error;    /* why decode or check failed, for logs and 400s */
	struct sip_peer src;  /* set by the transport that received it */

	/* lazily parsed, cached (see sip_int.h) */
	uint32_t parsed;
	uint32_t parse_err;
	struct sip_via via;
	struct sip_addr from, to;
	struct sip_cseq cseq;
	struct sip_uri ruri_p;

	/* pending edits */
	struct sip_edit editv[SIP_MAX_EDITS];
	unsigned editc;
	char *arena;
	size_t arena_len, arena_size;
	bool body_edited;
	uint32_t body_aoff, body_alen;
};

enum {
	SIP_DECODE_STREAM = 1 << 0,  /* TCP/TLS: frame by Content-Length, ENODATA when short */
};

int sip_msg_alloc(struct sip_msg **msgp);
int sip_msg_decode(struct sip_msg *msg, struct buf *mb, size_t off, unsigned flags,
		   size_t *consumed);
int sip_msg_decode_raw(struct sip_msg *msg, const char *p, size_t len, unsigned flags,
		       size_t *consumed);
void sip_msg_reset(struct sip_msg *msg);
bool sip_msg_headers_ok(const struct sip_msg *msg);
int sip_msg_check(struct sip_msg *msg);

/* Header access. */
const struct sip_hdr *sip_msg_hdr(const struct sip_msg *msg, enum sip_hdr_id id);
const struct sip_hdr *sip_msg_hdr_next(const struct sip_msg *msg, const struct sip_hdr *h);
const struct sip_hdr *sip_msg_hdr_byname(const struct sip_msg *msg, const char *name);
unsigned sip_msg_hdr_count(const struct sip_msg *msg, enum sip_hdr_id id);
bool sip_msg_values_next(const struct sip_msg *msg, enum sip_hdr_id id,
			 struct sip_iter *it, struct pl *val);
bool sip_msg_has_option(const struct sip_msg *msg, enum sip_hdr_id id, const char *tag);

/* Typed access; 0, ENOENT when the header is absent, EBADMSG when malformed. */
int sip_msg_via_top(struct sip_msg *msg, const struct sip_via **via);
int sip_msg_from(struct sip_msg *msg, const struct sip_addr **from);
int sip_msg_to(struct sip_msg *msg, const struct sip_addr **to);
int sip_msg_cseq(struct sip_msg *msg, const struct sip_cseq **cseq);
int sip_msg_callid(const struct sip_msg *msg, struct pl *callid);
int sip_msg_ruri(struct sip_msg *msg, const struct sip_uri **uri);
int sip_msg_max_forwards(const struct sip_msg *msg, uint32_t *mf);
int sip_msg_expires(const struct sip_msg *msg, uint32_t *expires);
int sip_msg_ctype(const struct sip_msg *msg, struct sip_ctype *ct);
int sip_msg_session_expires(const struct sip_msg *msg, struct sip_session_expires *se);
int sip_msg_min_se(const struct sip_msg *msg, uint32_t *min_se);
int sip_msg_reason(const struct sip_msg *msg, struct sip_reason *reason);
int sip_msg_contact_next(const struct sip_msg *msg, struct sip_iter *it,
			 struct sip_contact *c);
int sip_msg_via_next(const struct sip_msg *msg, struct sip_iter *it, struct sip_via *via);
int sip_msg_route_next(const struct sip_msg *msg, enum sip_hdr_id id, struct sip_iter *it,
		       struct sip_addr *addr);
int sip_msg_digest(const struct sip_msg *msg, enum sip_hdr_id id, struct sip_iter *it,
		   struct sip_digest *dg);

/* Value parsers, usable on their own. */
int sip_uri_decode(struct sip_uri *uri, const struct pl *pl);
int sip_addr_decode(struct sip_addr *addr, const struct pl *pl);
int sip_via_decode(struct sip_via *via, const struct pl *pl);
int sip_cseq_decode(struct sip_cseq *cseq, const struct pl *pl);
int sip_contact_decode(struct sip_contact *c, const struct pl *pl);
int sip_ctype_decode(struct sip_ctype *ct, const struct pl *pl);
int sip_session_expires_decode(struct sip_session_expires *se, const struct pl *pl);
int sip_reason_decode(struct sip_reason *r, const struct pl *pl);
int sip_digest_decode(struct sip_digest *dg, const struct pl *pl);

/* Parameters (";name=value..."), quoted strings and escapes. */
bool sip_param_next(struct pl *cursor, struct pl *name, struct pl *val);
bool sip_param_get(const struct pl *params, const char *name, struct pl *val);
int sip_unquote(const struct pl *quoted, char *out, size_t size, size_t *len);
int sip_unescape(const struct pl *in, char *out, size_t size, size_t *len);
bool sip_uri_param_get(const struct sip_uri *uri, const char *name, struct pl *val);

/*
 * Editing. Edits are recorded against the decoded bytes and applied by
 * sip_msg_encode; replacement text is copied into the message, so the caller
 * may free it at once. Values with CR, LF or NUL are refused (EINVAL): no
 * edit can inject a header. In the header block a splice must lie inside the
 * Request-URI, the reason phrase or one header's value (EINVAL otherwise).
 * Content-Length belongs to the writer: edits touching it, or adding one,
 * are refused (EPERM). Two edits that touch the same bytes make encode fail
 * with EINVAL.
 */
int sip_msg_hdr_remove(struct sip_msg *msg, const struct sip_hdr *h);
int sip_msg_hdr_set(struct sip_msg *msg, const struct sip_hdr *h, const struct pl *val);
int sip_msg_hdr_add(struct sip_msg *msg, const struct sip_hdr *before, const char *name,
		    const struct pl *val);
int sip_msg_splice(struct sip_msg *msg, const struct pl *part, const struct pl *repl);
int sip_msg_ruri_set(struct sip_msg *msg, const struct pl *uri);
int sip_msg_body_set(struct sip_msg *msg, const struct pl *body);
void sip_msg_edits_clear(struct sip_msg *msg);
int sip_msg_encode(struct sip_msg *msg, struct wbuf *out);

/*
 * Responses built from a request (RFC 3261 8.2.6): Via (the top one with
 * received and rport per RFC 3581 when src is known), From, To (tag added
 * when missing and totag is given), Call-ID, CSeq, and Timestamp for 100.
 * extra is a block of complete header lines ("Name: value\r\n"...), may be
 * NULL. The body is empty.
 */
int sip_reply_build(const struct sip_msg *req, uint16_t scode, const char *reason,
		    const struct pl *totag, const struct pl *extra, struct wbuf *out);
int sip_reply_dest(const struct sip_msg *req, struct sip_peer *dst);
/* A To tag for a stateless answer: the same for a retransmission, unpredictable (buf: 20 bytes). */
void sip_stateless_tag(const struct sip_msg *req, char *buf, size_t size);
int sip_hdr_write(struct wbuf *out, const char *name, const struct pl *val);
const char *sip_reason_phrase(uint16_t scode);

/*
 * Transport: the zones' UDP, TCP and TLS listeners, framing, the ingress
 * checks every message passes before anything acts on it, and sending to a
 * sip_peer. Rejections are answered statelessly where RFC 3261 says so and
 * counted by reason.
 */
struct sip_transp;
struct event_base;
struct net_stream_cfg;
typedef struct ssl_ctx_st SSL_CTX;

enum sip_reject {
	SIP_REJ_OVERSIZED,      /* larger than a limit: dropped */
	SIP_REJ_MALFORMED,      /* cannot be framed or tokenised: dropped */
	SIP_REJ_BAD_REQUEST,    /* request with a missing or broken header: 400 */
	SIP_REJ_BAD_CLEN,       /* Content-Length versus the datagram: 400 */
	SIP_REJ_VERSION,        /* not SIP/2.0: 505 */
	SIP_REJ_MAX_FORWARDS,   /* Max-Forwards 0: 483 */
	SIP_REJ_BAD_RESPONSE,   /* response with a broken header or version: dropped */
	SIP_REJ_NOT_OUR_VIA,    /* response whose top Via is not ours: dropped */
	SIP_REJ__COUNT
};

/*
 * Requests and responses by kind, per direction: requests by the methods
 * named in sip_stat_method_name() (any other method, PUBLISH included,
 * counts as "other"), responses by class ([0] 1xx ... [5] 6xx).
 */
enum { SIP_STAT_METHODS = 14, SIP_STAT_CLASSES = 6 };

struct sip_transp_stats {
	uint64_t rx_requests, rx_responses, rx_keepalives, tx_messages, tx_errors;
	uint64_t conn_failures;         /* connections we opened that never came up */
	uint64_t policed;               /* dropped by a zone's police hook */
	uint64_t policed_conns;         /* TCP/TLS connections refused by a zone's police hook */
	uint64_t rejected[SIP_REJ__COUNT];
	uint64_t methods_rx[SIP_STAT_METHODS], methods_tx[SIP_STAT_METHODS];
	uint64_t classes_rx[SIP_STAT_CLASSES], classes_tx[SIP_STAT_CLASSES];
};

/* Index into methods_rx/methods_tx for a method; its name ("INVITE", ..., "other"). */
unsigned sip_stat_method(enum sip_method m);
const char *sip_stat_method_name(unsigned i);

/* A checked message: msg->src is set; the message is valid only during the call. */
typedef void (sip_transp_recv_h)(struct sip_msg *msg, void *arg);

/*
 * A TCP or TLS connection the transport opened to send (a request, or a
 * response whose connection had gone) failed before it came up: refused,
 * unreachable, timed out, TLS handshake failed. Sends to it had returned 0
 * and nothing of them went out. peer names the zone, transport, the
 * address the connection was opened to and its (now dead) id; err says
 * why. Runs from the event loop, never from inside sip_transp_send, so the
 * handler may send (RFC 3261 17.1.4: the transaction layer fails what
 * waited on it and the TU sees a 503).
 */
typedef void (sip_transp_fail_h)(const struct sip_peer *peer, int err, void *arg);

struct sip_transp_zone {
	const char *name;               /* for logs */
	struct sockaddr_storage addr;   /* bind address */
	const char *host;               /* what our Via sent-by and Contacts say */
	uint16_t port[SIP_PROTO__COUNT];/* 0: that listener is off */
	SSL_CTX *tls;                   /* for the TLS listener */
};

/*
 * Policing of one zone's input (the guard), every hook optional: pre sees
 * each packet or framed message before the parser and drops it by
 * returning false; admit is asked before a connection is accepted;
 * rejected hears of what the ingress checks refused;
 * sent sees every message sent to the zone.
 */
struct sip_transp_police {
	bool (*pre)(const struct sockaddr_storage *src, const char *data, size_t len, void *arg);
	/* a TCP/TLS connection from src to a listener of the zone: false refuses it */
	bool (*admit)(const struct sockaddr_storage *src, void *arg);
	void (*rejected)(const struct sockaddr_storage *src, enum sip_reject r, void *arg);
	void (*sent)(const struct sockaddr_storage *dst, const char *data, size_t len, void *arg);
	void *arg;
};

/*
 * Trace (a SIP trace to a capture file): sees every message that reaches
 * the parser, after the police hook and without keep-alives, and every
 * message the socket accepted to send, on every zone. local is the zone's
 * address with the port of the listener for that transport (for a
 * connection sbcd opened, not its ephemeral port); everything the packet
 * points at is valid only during the call.
 */
struct sip_trace_pkt {
	const struct sockaddr_storage *local;
	const struct sockaddr_storage *remote;
	const char *data;
	size_t len;
	unsigned zone;
	enum sip_proto proto;
	bool out;                       /* sent by sbcd */
};

typedef void (sip_transp_trace_h)(const struct sip_trace_pkt *pkt, void *arg);

int sip_transp_alloc(struct sip_transp **tp, struct event_base *base,
		     const struct net_stream_cfg *scfg, sip_transp_recv_h *rh, void *arg);
int sip_transp_zone_add(struct sip_transp *t, unsigned zone, const struct sip_transp_zone *zc);
void sip_transp_zone_set_tls(struct sip_transp *t, unsigned zone, SSL_CTX *tls);
void sip_transp_fail_set(struct sip_transp *t, sip_transp_fail_h *fh, void *arg);
void sip_transp_police_set(struct sip_transp *t, unsigned zone, const struct sip_transp_police *p);
/* Start (th set) or stop (NULL) tracing: one branch per message while off. */
void sip_transp_trace_set(struct sip_transp *t, sip_transp_trace_h *th, void *arg);
int sip_transp_send(struct sip_transp *t, const struct sip_peer *dst, const char *data,
		    size_t len);
int sip_transp_reply(struct sip_transp *t, const struct sip_msg *req, uint16_t scode,
		     const char *reason, const struct pl *extra);
bool sip_transp_uri_is_local(const struct sip_transp *t, unsigned zone,
			     const struct sip_uri *uri);
const struct sip_transp_stats *sip_transp_stats(const struct sip_transp *t);
const char *sip_reject_name(enum sip_reject r);
void sip_transp_input(struct sip_transp *t, unsigned zone, enum sip_proto proto,
		      uint32_t conn_id, const struct sockaddr_storage *src, const char *data,
		      size_t len);

#endif
