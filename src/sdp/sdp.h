/* sdp: zero-copy SDP parser (RFC 8866) and the address/port rewrite the SBC applies between zones. */
#ifndef SBC_SDP_H
#define SBC_SDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/util.h"

/*
 * Limits. A body over any of them is refused with E2BIG; nothing is
 * allocated, so they bound the size of struct sdp_session.
 */
#define SDP_MAX_BODY      65535  /* bytes in one body */
#define SDP_MAX_LINE_LEN  1024   /* bytes in one line, without its line end */
#define SDP_MAX_LINES     512    /* lines in one body */
#define SDP_MAX_MEDIA     16     /* m= lines */
#define SDP_MAX_ATTRS     128    /* a= lines at session level or in one media */
#define SDP_MAX_BW        6      /* b= lines at session level or in one media */
#define SDP_MAX_HOST      253    /* a host name in o=, c= or a=rtcp */

enum sdp_af {
	SDP_AF_NONE = 0,
	SDP_AF_IP4,
	SDP_AF_IP6,
};

/* Direction attributes (RFC 3264 §5.1, RFC 8866 §6.7). */
enum sdp_dir {
	SDP_DIR_NONE = 0,        /* no direction attribute at this level */
	SDP_DIR_SENDRECV,
	SDP_DIR_SENDONLY,
	SDP_DIR_RECVONLY,
	SDP_DIR_INACTIVE,
};

/* What an a= line is, for the attributes the SBC acts on. */
enum sdp_attr_kind {
	SDP_ATTR_OTHER = 0,
	SDP_ATTR_RTCP,               /* a=rtcp (RFC 3605) */
	SDP_ATTR_RTCP_MUX,           /* a=rtcp-mux (RFC 5761) */
	SDP_ATTR_CANDIDATE,          /* a=candidate (RFC 8839) */
	SDP_ATTR_END_OF_CANDIDATES,  /* a=end-of-candidates */
	SDP_ATTR_REMOTE_CANDIDATES,  /* a=remote-candidates */
	SDP_ATTR_ICE_UFRAG,          /* a=ice-ufrag */
	SDP_ATTR_ICE_PWD,            /* a=ice-pwd */
	SDP_ATTR_ICE_OTHER,          /* any other a=ice-* (ice-options, ice-lite...) */
	SDP_ATTR_DIR,                /* sendrecv, sendonly, recvonly, inactive */
};

/* One line of the body. */
struct sdp_line {
	struct pl val;       /* after "x=", without the line end */
	uint16_t name_len;   /* a= lines: length of the attribute name in val */
	uint8_t eol;         /* line end: 2 CRLF, 1 LF, 0 last line without one */
	uint8_t kind;        /* a= lines: enum sdp_attr_kind */
	char type;           /* 'a'..'z' */
};

/* nettype, addrtype and address as found in o=, c= and a=rtcp. */
struct sdp_addr {
	struct pl nettype;   /* "IN" */
	struct pl addrtype;  /* "IP4" or "IP6" */
	struct pl addr;      /* literal or host name, without /ttl/count */
	struct pl mcast;     /* c= only: "/ttl[/count]" after addr, or empty */
	enum sdp_af af;
	bool is_host;        /* addr is a host name, not a literal */
	bool is_hold;        /* 0.0.0.0 or :: (RFC 3264 §8.4 hold) */
};

/* b=<bwtype>:<bandwidth> */
struct sdp_bw {
	struct pl type;      /* "AS", "TIAS", "CT", ... */
	struct pl value;
	uint32_t bw;
};

/* o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> */
struct sdp_origin {
	struct pl username;
	struct pl sess_id;
	struct pl sess_version;
	struct sdp_addr unicast;
};

/* a=rtcp:<port> [<nettype> <addrtype> <connection-address>] (RFC 3605) */
struct sdp_rtcp {
	bool present;
	bool has_addr;
	uint16_t port;
	struct pl port_str;
	struct sdp_addr conn;  /* valid if has_addr */
};

/* What session level and each media description have alike. */
struct sdp_level {
	struct sdp_addr conn;         /* c=, valid if has_conn */
	bool has_conn;
	enum sdp_dir dir;             /* direction attribute here, or SDP_DIR_NONE */
	struct pl ice_ufrag;
	struct pl ice_pwd;
	size_t candc;                 /* a=candidate lines */
	bool end_of_candidates;
	size_t attrc;                 /* a= lines */
	size_t line_first;            /* lines [line_first, line_end) of linev; */
	size_t line_end;              /* for a media, line_first is its m= line */
	size_t bwc;
	struct sdp_bw bwv[SDP_MAX_BW];  /* last: the decoder does not clear it */
};

/* m=<media> <port>[/<number of ports>] <proto> <fmt> ... and what follows it */
struct sdp_media {
	struct pl type;               /* "audio", "video", ... */
	struct pl port_str;
	struct pl nports_str;         /* empty if no port count */
	struct pl proto;              /* "RTP/AVP", "UDP/TLS/RTP/SAVPF", ... */
	struct pl fmts;               /* the format list; see sdp_media_fmt_next */
	uint16_t port;
	uint16_t nports;              /* 1 if no port count */
	size_t fmtc;
	struct sdp_rtcp rtcp;
	bool rtcp_mux;
	struct sdp_level lvl;         /* last: see sdp_level */
};

/*
 * A parsed body. Every slice points into the body passed to
 * sdp_session_decode, which must outlive the session. Large (about 22 KB):
 * keep it in the caller's per-call or per-thread storage, not on a small
 * stack. Read-only to callers. The decoder does not clear it as a whole:
 * a field guarded by a flag or a count (conn by has_conn, bwv by bwc,
 * rtcp.conn by rtcp.has_addr, mediav by mediac, linev by linec) is valid
 * only under it.
 */
struct sdp_session {
	struct pl body;
	struct sdp_origin origin;
	struct pl name;               /* s= */
	struct pl time;               /* the first t= */
	struct sdp_level lvl;         /* session level */
	size_t mediac;
	struct sdp_media mediav[SDP_MAX_MEDIA];
	size_t linec;
	struct sdp_line linev[SDP_MAX_LINES];
};

/* a=<name>[:<value>] */
struct sdp_attr {
	struct pl name;
	struct pl value;              /* empty for a property attribute */
	const struct sdp_line *line;
};

int sdp_session_decode(struct sdp_session *s, const struct pl *body);
int sdp_origin_version(const struct sdp_origin *o, uint64_t *v);

bool sdp_attr_next(const struct sdp_session *s, const struct sdp_media *m,
		   size_t *cursor, struct sdp_attr *a);
bool sdp_attr_find(const struct sdp_session *s, const struct sdp_media *m,
		   const char *name, struct pl *value);
bool sdp_media_fmt_next(const struct sdp_media *m, struct pl *fmt);
bool sdp_media_fmt_attr(const struct sdp_session *s, const struct sdp_media *m,
			const char *name, const struct pl *fmt, struct pl *params);
const struct sdp_addr *sdp_media_conn(const struct sdp_session *s,
				      const struct sdp_media *m);
enum sdp_dir sdp_media_dir(const struct sdp_session *s, const struct sdp_media *m);
bool sdp_media_is_hold(const struct sdp_session *s, const struct sdp_media *m);
bool sdp_media_is_rejected(const struct sdp_media *m);
const char *sdp_dir_name(enum sdp_dir dir);

/*
 * What sdp_rewrite changes. Everything not named here is copied byte for
 * byte. Fill with a designated initializer so that unset fields are zero.
 */
struct sdp_rewrite {
	enum sdp_af af;               /* address family of addr */
	struct pl addr;               /* literal for o= and every c= and a=rtcp address */
	struct pl username;           /* new o= username; empty keeps it */
	struct pl sess_id;            /* new o= sess-id (digits); empty keeps it */
	bool set_sess_version;
	uint64_t sess_version;        /* new o= sess-version if set_sess_version */
	size_t portc;                 /* entries in portv, at least the media count */
	uint16_t portv[SDP_MAX_MEDIA];       /* new m= port per media */
	uint16_t rtcp_portv[SDP_MAX_MEDIA];  /* new a=rtcp port; 0: m= port + 1 */
	bool remove_ice;              /* drop candidates, end-of-candidates, ice-* */
};

int sdp_rewrite(const struct sdp_session *s, const struct sdp_rewrite *rw,
		struct wbuf *out);

#endif
