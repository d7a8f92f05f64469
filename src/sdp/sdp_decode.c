/* sdp_decode: one-pass, zero-copy SDP parser (RFC 8866) into a caller-provided session. */
#include <errno.h>
#include <string.h>
#include <arpa/inet.h>

#include "sdp/sdp.h"
#include "sdp_int.h"

/* Session-level line types seen once, as bits in a mask. */
#define SEEN_O 0x1u
#define SEEN_S 0x2u
#define SEEN_T 0x4u

/* Longest IPv6 literal text plus NUL, for inet_pton. */
#define ADDR_TEXT_MAX 46

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ASCII case-insensitive compare of n bytes with a lowercase constant. */
static bool ascii_caseeq(const char *p, const char *lower, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c + ('a' - 'A'));
		if (c != lower[i])
			return false;
	}
	return true;
}

/* pl equals a lowercase constant, ignoring case. */
static bool pl_is(const struct pl *pl, const char *lower, size_t n)
{
	return pl->l == n && ascii_caseeq(pl->p, lower, n);
}

/* First c in pl, or NULL; a plain loop, since fields are a few bytes long. */
static const char *byte_find(const struct pl *pl, char c)
{
	for (size_t i = 0; i < pl->l; i++) {
		if (pl->p[i] == c)
			return pl->p + i;
	}
	return NULL;
}

/*
 * Split off the next field of a space-separated value. Fields are separated
 * by exactly one SP; an empty field or a trailing SP is an error (false).
 */
static bool field_take(struct pl *rest, struct pl *field)
{
	const char *sp = byte_find(rest, ' ');
	size_t n = sp ? (size_t)(sp - rest->p) : rest->l;

	if (!n)
		return false;
	field->p = rest->p;
	field->l = n;
	if (!sp) {
		rest->p += n;
		rest->l = 0;
		return true;
	}
	if (n + 1 == rest->l)
		return false;
	rest->p += n + 1;
	rest->l -= n + 1;
	return true;
}

/* A decimal string of 1..5 digits that is at most 65535. */
static int port_decode(const struct pl *pl, uint16_t *port)
{
	uint32_t v;

	if (pl->l > 5 || pl_u32(pl, &v) || v > UINT16_MAX)
		return EBADMSG;
	*port = (uint16_t)v;
	return 0;
}

/* At least one digit and nothing else. */
static bool is_digits(const struct pl *pl)
{
	if (!pl->l)
		return false;
	for (size_t i = 0; i < pl->l; i++) {
		if (!is_digit(pl->p[i]))
			return false;
	}
	return true;
}

/*
 * A dotted-quad IPv4 literal with the rules of inet_pton: four decimal
 * parts of at most 255, no leading zeros. Writes the address to b.
 */
bool sdp_ip4_decode(const struct pl *pl, uint8_t b[4])
{
	size_t i = 0;

	for (unsigned part = 0; part < 4; part++) {
		unsigned v = 0, nd = 0;

		if (part) {
			if (i >= pl->l || pl->p[i] != '.')
				return false;
			i++;
		}
		for (; i < pl->l && is_digit(pl->p[i]); i++, nd++) {
			if (nd && !v)
				return false;
			v = v * 10 + (unsigned)(pl->p[i] - '0');
			if (v > 255)
				return false;
		}
		if (!nd)
			return false;
		b[part] = (uint8_t)v;
	}
	return i == pl->l;
}

/* An IPv6 literal as inet_pton takes it. */
bool sdp_ip6_decode(const struct pl *pl, uint8_t b[16])
{
	char text[ADDR_TEXT_MAX];

	return !pl_strcpy(pl, text, sizeof(text)) && inet_pton(AF_INET6, text, b) == 1;
}

/*
 * A host name as RFC 8866 allows it in o= and c= (FQDN): letters, digits,
 * '-' and '.', with at least one letter so that a mangled IPv4 literal is
 * not mistaken for a name.
 */
static bool is_hostname(const struct pl *pl)
{
	bool alpha = false;

	if (!pl->l || pl->l > SDP_MAX_HOST)
		return false;
	for (size_t i = 0; i < pl->l; i++) {
		char c = pl->p[i];

		if (is_alpha(c))
			alpha = true;
		else if (!is_digit(c) && c != '-' && c != '.')
			return false;
	}
	return alpha;
}

/*
 * The "/ttl[/count]" (IP4) or "/count" (IP6) suffix of a multicast
 * connection address (RFC 8866 §5.7).
 */
static bool mcast_valid(const struct pl *sfx, enum sdp_af af)
{
	struct pl rest = *sfx, num;
	unsigned groups = 0;

	while (rest.l) {
		const char *slash;

		if (rest.p[0] != '/')
			return false;
		rest.p++;
		rest.l--;
		slash = byte_find(&rest, '/');
		num.p = rest.p;
		num.l = slash ? (size_t)(slash - rest.p) : rest.l;
		if (!is_digits(&num) || num.l > 5)
			return false;
		rest.p += num.l;
		rest.l -= num.l;
		groups++;
	}
	return groups <= (af == SDP_AF_IP4 ? 2u : 1u);
}

/*
 * Check nettype/addrtype/address and fill a. A literal must pass inet_pton
 * for its family; a host name is accepted (the rewriter replaces it). With
 * mcast, a /ttl/count suffix is split off into a->mcast.
 */
static int addr_decode(struct sdp_addr *a, const struct pl *nettype,
		       const struct pl *addrtype, const struct pl *addr, bool mcast)
{
	uint8_t bin[16];
	const char *slash = mcast ? byte_find(addr, '/') : NULL;
	size_t binlen;
	bool literal = true;

	a->nettype = *nettype;
	a->addrtype = *addrtype;
	a->addr = *addr;
	a->mcast.p = NULL;
	a->mcast.l = 0;
	a->is_host = false;
	a->is_hold = false;
	if (!pl_is(nettype, "in", 2))
		return EBADMSG;
	if (pl_is(addrtype, "ip4", 3))
		a->af = SDP_AF_IP4;
	else if (pl_is(addrtype, "ip6", 3))
		a->af = SDP_AF_IP6;
	else
		return EBADMSG;
	if (slash) {
		a->addr.l = (size_t)(slash - addr->p);
		a->mcast.p = slash;
		a->mcast.l = addr->l - a->addr.l;
		if (!mcast_valid(&a->mcast, a->af))
			return EBADMSG;
	}
	if (a->af == SDP_AF_IP4) {
		for (size_t i = 0; i < a->addr.l; i++) {
			if (!is_digit(a->addr.p[i]) && a->addr.p[i] != '.') {
				literal = false;
				break;
			}
		}
	}
	else {
		literal = byte_find(&a->addr, ':') != NULL;
	}
	if (!literal) {
		if (!is_hostname(&a->addr))
			return EBADMSG;
		a->is_host = true;
		return 0;
	}
	if (a->af == SDP_AF_IP4 ? !sdp_ip4_decode(&a->addr, bin)
	    : !sdp_ip6_decode(&a->addr, bin))
		return EBADMSG;
	binlen = a->af == SDP_AF_IP4 ? 4 : 16;
	a->is_hold = true;
	for (size_t i = 0; i < binlen; i++) {
		if (bin[i]) {
			a->is_hold = false;
			break;
		}
	}
	return 0;
}

/* o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address> */
static int origin_decode(struct sdp_origin *o, const struct pl *val)
{
	struct pl rest = *val, nettype, addrtype, addr;

	if (!field_take(&rest, &o->username) || !field_take(&rest, &o->sess_id) ||
	    !field_take(&rest, &o->sess_version) || !field_take(&rest, &nettype) ||
	    !field_take(&rest, &addrtype) || !field_take(&rest, &addr) || rest.l)
		return EBADMSG;
	if (!is_digits(&o->sess_id) || !is_digits(&o->sess_version))
		return EBADMSG;
	return addr_decode(&o->unicast, &nettype, &addrtype, &addr, false);
}

/* c=<nettype> <addrtype> <connection-address> */
static int conn_decode(struct sdp_level *lv, const struct pl *val)
{
	struct pl rest = *val, nettype, addrtype, addr;

	if (lv->has_conn)
		return EBADMSG;
	if (!field_take(&rest, &nettype) || !field_take(&rest, &addrtype) ||
	    !field_take(&rest, &addr) || rest.l)
		return EBADMSG;
	lv->has_conn = true;
	return addr_decode(&lv->conn, &nettype, &addrtype, &addr, true);
}

/* b=<bwtype>:<bandwidth> */
static int bw_decode(struct sdp_level *lv, const struct pl *val)
{
	const char *colon = byte_find(val, ':');
	struct sdp_bw *bw;

	if (lv->bwc >= SDP_MAX_BW)
		return E2BIG;
	if (!colon || colon == val->p)
		return EBADMSG;
	bw = &lv->bwv[lv->bwc];
	bw->type.p = val->p;
	bw->type.l = (size_t)(colon - val->p);
	bw->value.p = colon + 1;
	bw->value.l = val->l - bw->type.l - 1;
	if (pl_u32(&bw->value, &bw->bw))
		return EBADMSG;
	lv->bwc++;
	return 0;
}

/* t=<start-time> <stop-time>, both decimal (NTP seconds). */
static int time_decode(const struct pl *val)
{
	struct pl rest = *val, start, stop;

	if (!field_take(&rest, &start) || !field_take(&rest, &stop) || rest.l ||
	    !is_digits(&start) || !is_digits(&stop))
		return EBADMSG;
	return 0;
}

/*
 * m=<media> <port>[/<number of ports>] <proto> <fmt> ...
 * The format list is checked (single-SP separated tokens) and counted; it
 * may be empty only on a rejected (port 0) stream.
 */
static int media_decode(struct sdp_media *m, const struct pl *val)
{
	struct pl rest = *val, port, fmt;
	const char *slash;
	uint32_t n;

	if (!field_take(&rest, &m->type) || !field_take(&rest, &port) ||
	    !field_take(&rest, &m->proto))
		return EBADMSG;
	slash = byte_find(&port, '/');
	m->port_str = port;
	m->nports = 1;
	if (slash) {
		m->port_str.l = (size_t)(slash - port.p);
		m->nports_str.p = slash + 1;
		m->nports_str.l = port.l - m->port_str.l - 1;
		if (m->nports_str.l > 5 || pl_u32(&m->nports_str, &n) || n < 1 ||
		    n > UINT16_MAX)
			return EBADMSG;
		m->nports = (uint16_t)n;
	}
	if (port_decode(&m->port_str, &m->port))
		return EBADMSG;
	m->fmts = rest;
	while (rest.l) {
		if (!field_take(&rest, &fmt))
			return EBADMSG;
		m->fmtc++;
	}
	if (!m->fmtc && m->port)
		return EBADMSG;
	return 0;
}

/* a=rtcp:<port> [<nettype> <addrtype> <connection-address>] (RFC 3605) */
static int rtcp_decode(struct sdp_rtcp *r, const struct pl *value)
{
	struct pl rest = *value, nettype, addrtype, addr;

	if (r->present)
		return EBADMSG;
	r->present = true;
	if (!field_take(&rest, &r->port_str) || port_decode(&r->port_str, &r->port))
		return EBADMSG;
	if (!rest.l)
		return 0;
	if (!field_take(&rest, &nettype) || !field_take(&rest, &addrtype) ||
	    !field_take(&rest, &addr) || rest.l)
		return EBADMSG;
	r->has_addr = true;
	return addr_decode(&r->conn, &nettype, &addrtype, &addr, false);
}

/*
 * Classify an attribute name, without regard to case; *dir is set for
 * direction attributes. Dispatches on the length first: most lines
 * (rtpmap, fmtp, ptime...) are settled by one comparison.
 */
static enum sdp_attr_kind attr_kind(const struct pl *name, enum sdp_dir *dir)
{
	const char *p = name->p;

	switch (name->l) {
	case 4:
		if (ascii_caseeq(p, "rtcp", 4))
			return SDP_ATTR_RTCP;
		break;
	case 7:
		if (ascii_caseeq(p, "ice-pwd", 7))
			return SDP_ATTR_ICE_PWD;
		break;
	case 8:
		if (ascii_caseeq(p, "rtcp-mux", 8))
			return SDP_ATTR_RTCP_MUX;
		if (ascii_caseeq(p, "sendrecv", 8))
			*dir = SDP_DIR_SENDRECV;
		else if (ascii_caseeq(p, "sendonly", 8))
			*dir = SDP_DIR_SENDONLY;
		else if (ascii_caseeq(p, "recvonly", 8))
			*dir = SDP_DIR_RECVONLY;
		else if (ascii_caseeq(p, "inactive", 8))
			*dir = SDP_DIR_INACTIVE;
		if (*dir != SDP_DIR_NONE)
			return SDP_ATTR_DIR;
		break;
	case 9:
		if (ascii_caseeq(p, "candidate", 9))
			return SDP_ATTR_CANDIDATE;
		if (ascii_caseeq(p, "ice-ufrag", 9))
			return SDP_ATTR_ICE_UFRAG;
		break;
	case 17:
		if (ascii_caseeq(p, "end-of-candidates", 17))
			return SDP_ATTR_END_OF_CANDIDATES;
		if (ascii_caseeq(p, "remote-candidates", 17))
			return SDP_ATTR_REMOTE_CANDIDATES;
		break;
	default:
		break;
	}
	if (name->l > 4 && ascii_caseeq(p, "ice-", 4))
		return SDP_ATTR_ICE_OTHER;
	return SDP_ATTR_OTHER;
}

/*
 * a=<name>[:<value>] at level lv (m is NULL at session level). Records the
 * attributes the SBC acts on. Two different direction attributes at one
 * level, or two a=rtcp in one media, are refused as ambiguous.
 */
static int attr_decode(struct sdp_level *lv, struct sdp_media *m,
		       struct sdp_line *ln)
{
	const char *colon = byte_find(&ln->val, ':');
	struct pl name = ln->val, value = { NULL, 0 };
	enum sdp_dir dir = SDP_DIR_NONE;
	enum sdp_attr_kind kind;

	if (lv->attrc >= SDP_MAX_ATTRS)
		return E2BIG;
	lv->attrc++;
	if (colon) {
		name.l = (size_t)(colon - ln->val.p);
		value.p = colon + 1;
		value.l = ln->val.l - name.l - 1;
	}
	if (!name.l)
		return EBADMSG;
	ln->name_len = (uint16_t)name.l;
	kind = attr_kind(&name, &dir);
	ln->kind = (uint8_t)kind;
	switch (kind) {
	case SDP_ATTR_RTCP:
		/* defined for media only; at session level the rewrite drops it */
		return m ? rtcp_decode(&m->rtcp, &value) : 0;
	case SDP_ATTR_RTCP_MUX:
		if (m)
			m->rtcp_mux = true;
		return 0;
	case SDP_ATTR_CANDIDATE:
		lv->candc++;
		return 0;
	case SDP_ATTR_END_OF_CANDIDATES:
		lv->end_of_candidates = true;
		return 0;
	case SDP_ATTR_ICE_UFRAG:
		lv->ice_ufrag = value;
		return 0;
	case SDP_ATTR_ICE_PWD:
		lv->ice_pwd = value;
		return 0;
	case SDP_ATTR_DIR:
		if (lv->dir != SDP_DIR_NONE && lv->dir != dir)
			return EBADMSG;
		lv->dir = dir;
		return 0;
	default:
		return 0;
	}
}

/*
 * Start a level at line first. Only what the decoder counts or tests is
 * set: conn, bwv and the like are valid only under has_conn, bwc... This
 * is on the hot path, where clearing whole structures costs more than the
 * parse of a line.
 */
static void level_clear(struct sdp_level *lv, size_t first)
{
	lv->has_conn = false;
	lv->dir = SDP_DIR_NONE;
	lv->ice_ufrag.p = NULL;
	lv->ice_ufrag.l = 0;
	lv->ice_pwd.p = NULL;
	lv->ice_pwd.l = 0;
	lv->candc = 0;
	lv->end_of_candidates = false;
	lv->attrc = 0;
	lv->line_first = first;
	lv->line_end = first;
	lv->bwc = 0;
}

/* Start a media at its m= line; media_decode sets the m= fields. */
static void media_clear(struct sdp_media *m, size_t first)
{
	m->nports_str.p = NULL;
	m->nports_str.l = 0;
	m->fmtc = 0;
	m->rtcp.present = false;
	m->rtcp.has_addr = false;
	m->rtcp_mux = false;
	level_clear(&m->lvl, first);
}

/* Line types allowed only at session level (RFC 8866 §5). */
static bool is_session_only(char type)
{
	switch (type) {
	case 'v': case 'o': case 's': case 'u': case 'e': case 'p':
	case 't': case 'r': case 'z':
		return true;
	default:
		return false;
	}
}

/*
 * Decode one line into the session. *mp is the current media (NULL while
 * at session level) and moves on at each m= line.
 */
static int line_decode(struct sdp_session *s, struct sdp_line *ln,
		       struct sdp_media **mp, unsigned *seen)
{
	struct sdp_media *m = *mp;
	struct sdp_level *lv = m ? &m->lvl : &s->lvl;
	unsigned bit = 0;

	if (m && is_session_only(ln->type))
		return EBADMSG;
	switch (ln->type) {
	case 'v':
		/* only as the first line, checked by the caller */
		return EBADMSG;
	case 'o':
		bit = SEEN_O;
		break;
	case 's':
		bit = SEEN_S;
		break;
	case 't':
		if (!(*seen & SEEN_T))
			s->time = ln->val;
		*seen |= SEEN_T;
		return time_decode(&ln->val);
	case 'c':
		return conn_decode(lv, &ln->val);
	case 'b':
		return bw_decode(lv, &ln->val);
	case 'a':
		return attr_decode(lv, m, ln);
	case 'm':
		if (s->mediac >= SDP_MAX_MEDIA)
			return E2BIG;
		m = &s->mediav[s->mediac++];
		media_clear(m, s->linec);
		*mp = m;
		return media_decode(m, &ln->val);
	default:
		/* i=, u=, e=, p=, k=, r=, z= and unknown types are kept as they are */
		return 0;
	}
	if (*seen & bit)
		return EBADMSG;
	*seen |= bit;
	if (bit == SEEN_O)
		return origin_decode(&s->origin, &ln->val);
	s->name = ln->val;
	return 0;
}

/* Eight copies of a byte, and the "has a zero byte" test on a word. */
#define BYTES8(c) (0x0101010101010101ull * (uint8_t)(c))
#define HAS_ZERO(x) (((x) - BYTES8(1)) & ~(x) & BYTES8(0x80))

/*
 * The first LF, CR or NUL in [p, end), or end: the bytes that end a line or
 * make it invalid. Eight bytes a step, so that one pass over the body finds
 * line ends and checks it, with no call per line.
 */
static const char *line_scan(const char *p, const char *end)
{
	while (end - p >= 8) {
		uint64_t v, hit;

		memcpy(&v, p, sizeof(v));
		hit = HAS_ZERO(v ^ BYTES8('\n')) | HAS_ZERO(v ^ BYTES8('\r')) | HAS_ZERO(v);
		if (hit) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			/* the lowest flagged byte is exact (false hits only above it) */
			return p + (__builtin_ctzll(hit) >> 3);
#else
			break;
#endif
		}
		p += 8;
	}
	for (; p < end; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\0')
			return p;
	}
	return end;
}

/* Only line ends (CRLF or LF) from p to end: blank lines that some stacks append. */
static bool rest_is_blank(const char *p, const char *end)
{
	while (p < end) {
		if (*p == '\n')
			p++;
		else if (*p == '\r' && p + 1 < end && p[1] == '\n')
			p += 2;
		else
			return false;
	}
	return true;
}

/*
 * Parse an SDP body into s without allocating. Lines end in CRLF or LF
 * (each line's own end is kept); the last line may lack one. The first line
 * must be "v=0"; o=, s= and t= are required, o= and s= once; every other
 * line is "<a-z>=<value>". Limits are SDP_MAX_*. Returns 0, EINVAL for bad
 * arguments, EBADMSG for a malformed body, E2BIG past a limit. On error the
 * content of s is unspecified.
 */
int sdp_session_decode(struct sdp_session *s, const struct pl *body)
{
	struct sdp_media *m = NULL;
	const char *p, *end;
	unsigned seen = 0;
	int err;

	if (!s || !body)
		return EINVAL;
	level_clear(&s->lvl, 0);
	s->mediac = 0;
	s->linec = 0;
	s->body.p = NULL;
	s->body.l = 0;
	if (!body->p || !body->l)
		return EBADMSG;
	if (body->l > SDP_MAX_BODY)
		return E2BIG;
	s->body = *body;
	p = body->p;
	end = p + body->l;
	while (p < end) {
		const char *le = line_scan(p, end);
		uint8_t eol = 0;
		struct sdp_line *ln;
		size_t n;

		if (le < end) {
			/* a line ends in LF or CRLF; a lone CR or a NUL is invalid */
			if (*le == '\n')
				eol = 1;
			else if (*le == '\r' && le + 1 < end && le[1] == '\n')
				eol = 2;
			else
				return EBADMSG;
		}
		n = (size_t)(le - p);
		if (!n) {
			if (rest_is_blank(p, end))
				break;
			return EBADMSG;
		}
		if (n > SDP_MAX_LINE_LEN)
			return E2BIG;
		if (n < 2 || p[1] != '=' || p[0] < 'a' || p[0] > 'z')
			return EBADMSG;
		if (s->linec >= SDP_MAX_LINES)
			return E2BIG;
		ln = &s->linev[s->linec];
		ln->type = p[0];
		ln->val.p = p + 2;
		ln->val.l = n - 2;
		ln->eol = eol;
		ln->kind = SDP_ATTR_OTHER;
		ln->name_len = 0;
		if (s->linec == 0) {
			if (ln->type != 'v' || !pl_eq_str(&ln->val, "0"))
				return EBADMSG;
		}
		else {
			err = line_decode(s, ln, &m, &seen);
			if (err)
				return err;
		}
		s->linec++;
		if (m)
			m->lvl.line_end = s->linec;
		else
			s->lvl.line_end = s->linec;
		p = le + eol;
	}
	if (!s->linec || seen != (SEEN_O | SEEN_S | SEEN_T))
		return EBADMSG;
	for (size_t i = 0; i < s->mediac; i++) {
		const struct sdp_media *mi = &s->mediav[i];

		if (mi->port && !mi->lvl.has_conn && !s->lvl.has_conn)
			return EBADMSG;
	}
	return 0;
}

/* The o= sess-version as a number; EOVERFLOW past 64 bits. */
int sdp_origin_version(const struct sdp_origin *o, uint64_t *v)
{
	uint64_t acc = 0;

	if (!o || !v || !is_digits(&o->sess_version))
		return EINVAL;
	for (size_t i = 0; i < o->sess_version.l; i++) {
		unsigned d = (unsigned)(o->sess_version.p[i] - '0');

		if (acc > (UINT64_MAX - d) / 10)
			return EOVERFLOW;
		acc = acc * 10 + d;
	}
	*v = acc;
	return 0;
}
