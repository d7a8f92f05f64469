/* call: the B2BUA's calls: two dialogs (legs) per call, the messages each leg sends, and their lifetimes. */
#ifndef SBC_B2BUA_CALL_H
#define SBC_B2BUA_CALL_H

#include "b2bua.h"
#include "b2bua_int.h"
#include "guard/guard.h"
#include "media/media.h"
#include "net/net.h"
#include "sdp/sdp.h"
#include "auth.h"
#include "reg.h"
#include "trunk.h"

/*
 * Sizes of what a leg remembers about its dialog. They bound memory per
 * call; a message whose values do not fit is refused (the call fails with
 * an error response), never truncated.
 */
enum {
	LEG_CALLID_MAX = 128,
	LEG_TAG_MAX = 64,
	LEG_URI_MAX = 256,
	LEG_ADDR_MAX = 256,       /* From/To header values */
	LEG_ROUTE_MAX = 512,      /* Route header lines, ready to write */
	LEG_CONTACT_MAX = 192,
	CALL_TMPL_MAX = 2048,     /* a-leg response header block */
	CALL_ACK_MAX = 4096,      /* b-leg ACK kept for 2xx retransmissions */
	CALL_REASON_MAX = 256,    /* Reason value carried to the other leg's BYE */
	CALL_EXTRA_MAX = 1024,    /* header lines the B2BUA maps itself (Refer-To, RAck, Replaces) */
};

enum { CALL_MAX_REDIRECTS = 3 };

#define TOKEN_ROTATE_MS (24ULL * 3600 * 1000)

enum call_state {
	CALL_TRYING,      /* INVITE sent on the b-leg, no dialog yet */
	CALL_EARLY,       /* a provisional with a tag came back */
	CALL_ANSWERED,    /* 2xx relayed to the a-leg, its ACK not yet in */
	CALL_CONFIRMED,   /* ACKed on both legs */
	CALL_ENDED,       /* BYE, CANCEL, error: being torn down */
};

enum { LEG_A = 0, LEG_B = 1 };

/*
 * The strings a leg remembers, kept end to end in one allocation sized to
 * what they hold (leg->str): a call's legs cost what their values are, not
 * the LEG_*_MAX bounds above.
 */
enum leg_str {
	LS_CALLID,
	LS_LTAG,          /* ours */
	LS_RTAG,          /* theirs; empty until known */
	LS_TARGET,        /* Request-URI for in-dialog requests */
	LS_LURI,          /* our side's address with our tag (From when we send) */
	LS_RURI,          /* their side's address, with their tag once known (To when we send) */
	LS_CONTACT,       /* our Contact URI on this leg */
	LS_ROUTE,         /* "Route: ...\r\n" lines for requests on this leg; empty for none */
	LS_SOURCE,        /* where the leg's first request came from ("" on the b-leg): the record's source */
	LS__COUNT
};

/* One dialog of a call, on one zone. */
struct leg {
	struct hnode hn_cid;             /* b2bua->dialogs, by Call-ID */
	unsigned idx;                    /* LEG_A or LEG_B: where it sits in its call */
	unsigned zone;
	struct sip_peer peer;            /* where this leg's requests go */
	char *str;                       /* the enum leg_str strings, each NUL-terminated; NULL: all "" */
	uint16_t off[LS__COUNT];         /* where each starts in str */
	uint32_t lcseq;                  /* last CSeq we sent */
	uint32_t rcseq;                  /* last CSeq they sent */
	uint32_t invite_cseq;            /* CSeq of the INVITE that made this leg (for ACK, PRACK) */
	bool sips;                       /* the dialog is SIPS (RFC 3261 12.1.1): our Contact is sips: */
};

/* A leg's string k ("" until set); valid until the leg's strings change. */
static inline const char *leg_s(const struct leg *l, enum leg_str k)
{
	return l->str ? l->str + l->off[k] : "";
}

struct relay;
struct cdr_syncer;

struct call {
	struct hnode hn;                 /* b2bua->calls, by id */
	struct b2bua *b;
	uint64_t id;
	enum call_state state;
	struct leg leg[2];
	struct txn_server *ist;          /* a-leg INVITE, until its final response */
	struct txn_client *ict;          /* b-leg INVITE, until its final response */
	struct media_session *ms;
	char *tmpl;                      /* a-leg response headers (Via..CSeq, To with our tag) */
	size_t tmpl_len;
	char *rr;                        /* a-leg INVITE's Record-Route lines, for 18x/2xx */
	size_t rr_len;
	char *binv;                      /* the b-leg INVITE as sent, until its final response */
	size_t binv_len;
	unsigned redirects;              /* 3xx followed on the private side */
	char *ack;                       /* b-leg ACK for the 2xx, resent on its retransmissions */
	size_t ack_len;
	char *answer2xx;                 /* the 2xx sent on the a-leg, retransmitted until ACK */
	size_t answer_len;
	struct tmr t2xx;                 /* 2xx retransmission (RFC 3261 13.3.1.4) */
	struct txn_server *t2xx_st;      /* the INVITE transaction the 2xx goes out on */
	struct tmr tict;                 /* lets the b-leg INVITE transaction go after Timer M */
	uint32_t t2xx_interval;
	uint64_t t2xx_deadline;
	unsigned ack_leg;                /* the leg whose ACK ends the retransmission */
	uint32_t ack_cseq;               /* CSeq of the other leg's INVITE, for its ACK */
	uint32_t ack_in_cseq;            /* CSeq the awaited ACK carries (the answered INVITE's) */
	struct relay *reinvite;          /* the last re-INVITE relayed, kept to re-ACK its 2xx */
	bool offer_pending;              /* a re-INVITE or UPDATE is under way: glare gets 491 */
	char *reason;                    /* Reason line for the BYEs we send, or NULL */
	bool cancelled;
	bool late_offer;                 /* INVITE without SDP: the answer comes in the ACK */
	bool creds;                      /* the a-leg INVITE carried credentials (for the guard) */
	uint64_t start_ms, answer_ms, end_ms;
	uint16_t final_code;
	const char *cause;               /* why it ended, for the call record (a literal) */
	uint16_t trunk;                  /* its slot in b2bua->trunk_calls, or TRUNK_NONE */
};

enum { TRUNK_NONE = 0xffff };

/* Calls up now per trunk, by name: survives reloads that reorder or change the trunks. */
struct trunk_calls {
	char name[CONFIG_TRUNK_NAME_MAX];
	unsigned active;
};

struct b2bua {
	struct b2bua_cfg bc;
	struct htable calls;             /* struct call by id */
	struct htable dialogs;           /* struct leg by Call-ID, for peers that ignore our Contact */
	uint64_t next_id;
	struct tmr_heap tmrs;            /* call timers (2xx retransmission) */
	uint64_t now;                    /* the loop's clock, as last given */
	struct token_key *tk;
	struct hdr_policy *policy[ZONE_COUNT];   /* by the zone a message goes to */
	struct leak_checker *leak;
	struct reg *reg;                 /* registrations and the binding cache (reg.c) */
	struct trunk_reg *treg;          /* our own registrations to trunks (trunk.c) */
	struct auth *auth;               /* the SBC's own digest authentication (auth.c), or NULL */
	struct trunk_calls trunk_calls[CONFIG_TRUNKS_MAX];
	unsigned ntrunk_calls;
	struct sip_peer core;
	struct b2bua_stats stats;
	char extra[256];                 /* headers of our OPTIONS answer */
	struct sip_msg *scratch;
	struct sdp_session *sdp;         /* scratch, large */
	char out[SIP_MAX_MSG];           /* scratch: a message being built */
	char hdrs[SIP_MAX_MSG];          /* scratch: headers the policy kept */
	char body[SIP_MAX_BODY];         /* scratch: a rewritten SDP */
	struct tmr rotate_tmr;           /* token key rotation */
	uint64_t cps_sec;                /* admission: the current second and its new calls */
	unsigned cps_count;
	int cdr_fd;                      /* data_dir/calls.jsonl */
	uint64_t cdr_bytes;              /* its size: rotated past [general] call_records_max_kb */
	struct cdr_syncer *cdr_syncer;   /* its fdatasync thread (cdr.c) */
	struct tmr cdr_tmr;              /* batches syncs: at most one per CDR_SYNC_MS */
};

/* A configured host: its literal, or what its name resolves to now (blocks: getaddrinfo). */
int b2bua_host_resolve(const struct config_host *h, uint16_t port, struct sockaddr_storage *sa);
/* The zone's SIP port for a transport: what Via and Contact say. */
uint16_t b2bua_zone_port(const struct b2bua *b, unsigned zone, unsigned proto);
struct pl b2bua_local_tag(struct sip_msg *req, char *buf, size_t size);
void b2bua_reply(struct b2bua *b, struct txn_server *st, struct sip_msg *req, uint16_t code,
		 const char *reason, const struct pl *extra);
/* Tell the guard what a public-zone source did (auth outcome, registration); user may be NULL. */
void b2bua_guard_event(struct b2bua *b, const struct sip_peer *src, enum guard_event ev,
		       const char *user);

int call_find(struct b2bua *b, struct sip_msg *msg, struct call **cp, unsigned *leg);
void call_invite(struct b2bua *b, struct txn_server *st, struct sip_msg *req, unsigned ezone,
		 const struct sip_peer *dst, const char *ruri, unsigned trunk);
void call_request(struct call *c, unsigned li, struct txn_server *st, struct sip_msg *req);
int call_ack(struct call *c, unsigned li, struct sip_msg *ack);
void call_end(struct call *c, const char *cause, bool bye);
void call_media_timeout(struct media_session *ms, void *arg);
void call_record(struct call *c);
int cdr_open(struct b2bua *b);
void cdr_close(struct b2bua *b);
void b2bua_reply_st(struct call *c, uint16_t code);

#endif
