/* policy: the per-zone header policy of the B2BUA (copy, rewrite, drop), as a table of data. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "b2bua_int.h"

/* One default: the rule toward the public zone and toward the private zone. */
struct hdr_default {
	struct hdr_rule rule[ZONE_COUNT];
};

#define R(pub, priv) { { { HDR_##pub, 0 }, { HDR_##priv, 0 } } }
#define RF(pub, pubf, priv) { { { HDR_##pub, pubf }, { HDR_##priv, 0 } } }

/*
 * The defaults, by header id: { toward public, toward private }. OWN: the
 * B2BUA writes that header itself from its own dialog state. Why each
 * entry is what it is: docs/topology-hiding.md.
 */
static const struct hdr_default hdr_defaults[SIP_HDR__COUNT] = {
	[SIP_HDR_OTHER] = R(COPY, COPY),   /* unused: unknown names go through hdr_name_defaults */
	[SIP_HDR_ACCEPT] = R(COPY, COPY),
	[SIP_HDR_ACCEPT_CONTACT] = R(COPY, COPY),
	[SIP_HDR_ACCEPT_ENCODING] = R(COPY, COPY),
	[SIP_HDR_ACCEPT_LANGUAGE] = R(COPY, COPY),
	[SIP_HDR_ALERT_INFO] = R(STRIP_URLS, COPY),
	[SIP_HDR_ALLOW] = R(COPY, COPY),
	[SIP_HDR_ALLOW_EVENTS] = R(COPY, COPY),
	[SIP_HDR_AUTHENTICATION_INFO] = R(COPY, COPY),
	[SIP_HDR_AUTHORIZATION] = R(COPY, COPY),
	[SIP_HDR_CALL_ID] = R(OWN, OWN),
	[SIP_HDR_CALL_INFO] = R(STRIP_URLS, COPY),
	[SIP_HDR_CONTACT] = R(OWN, OWN),
	[SIP_HDR_CONTENT_DISPOSITION] = R(COPY, COPY),
	[SIP_HDR_CONTENT_ENCODING] = R(COPY, COPY),
	[SIP_HDR_CONTENT_LANGUAGE] = R(COPY, COPY),
	[SIP_HDR_CONTENT_LENGTH] = R(OWN, OWN),
	[SIP_HDR_CONTENT_TYPE] = R(COPY, COPY),
	[SIP_HDR_CSEQ] = R(OWN, OWN),
	[SIP_HDR_DATE] = R(COPY, COPY),
	[SIP_HDR_DIVERSION] = R(REWRITE_HOST, TRUSTED),
	[SIP_HDR_ERROR_INFO] = R(STRIP_URLS, COPY),
	[SIP_HDR_EVENT] = R(COPY, COPY),
	[SIP_HDR_EXPIRES] = R(COPY, COPY),
	[SIP_HDR_FROM] = R(OWN, OWN),
	[SIP_HDR_HISTORY_INFO] = R(REWRITE_HOST, TRUSTED),
	[SIP_HDR_IDENTITY] = R(COPY, COPY),
	[SIP_HDR_IDENTITY_INFO] = R(COPY, COPY),
	[SIP_HDR_IN_REPLY_TO] = R(DROP, DROP),
	[SIP_HDR_MAX_FORWARDS] = R(OWN, OWN),
	[SIP_HDR_MIME_VERSION] = R(COPY, COPY),
	[SIP_HDR_MIN_EXPIRES] = R(COPY, COPY),
	[SIP_HDR_MIN_SE] = R(COPY, COPY),
	[SIP_HDR_ORGANIZATION] = R(DROP, COPY),
	[SIP_HDR_P_ASSERTED_IDENTITY] = RF(REWRITE_HOST, HDR_RULE_F_PRIVACY_ID, TRUSTED),
	[SIP_HDR_P_PREFERRED_IDENTITY] = RF(REWRITE_HOST, HDR_RULE_F_PRIVACY_ID, COPY),
	[SIP_HDR_PATH] = R(OWN, OWN),
	[SIP_HDR_PRIORITY] = R(COPY, COPY),
	[SIP_HDR_PRIVACY] = R(COPY, COPY),
	[SIP_HDR_PROXY_AUTHENTICATE] = R(COPY, COPY),
	[SIP_HDR_PROXY_AUTHORIZATION] = R(COPY, COPY),
	[SIP_HDR_PROXY_REQUIRE] = R(COPY, COPY),
	[SIP_HDR_RACK] = R(OWN, OWN),
	[SIP_HDR_REASON] = R(COPY, COPY),
	[SIP_HDR_RECORD_ROUTE] = R(OWN, OWN),
	[SIP_HDR_REFER_TO] = R(OWN, OWN),
	[SIP_HDR_REFERRED_BY] = R(REWRITE_HOST, COPY),
	[SIP_HDR_REJECT_CONTACT] = R(COPY, COPY),
	[SIP_HDR_REMOTE_PARTY_ID] = RF(REWRITE_HOST, HDR_RULE_F_PRIVACY_ID, TRUSTED),
	[SIP_HDR_REPLACES] = R(OWN, OWN),
	[SIP_HDR_REPLY_TO] = R(REWRITE_HOST, COPY),
	[SIP_HDR_REQUEST_DISPOSITION] = R(COPY, COPY),
	[SIP_HDR_REQUIRE] = R(COPY, COPY),
	[SIP_HDR_RETRY_AFTER] = R(COPY, COPY),
	[SIP_HDR_ROUTE] = R(OWN, OWN),
	[SIP_HDR_RSEQ] = R(COPY, COPY),
	[SIP_HDR_SERVER] = R(REPLACE, COPY),
	[SIP_HDR_SERVICE_ROUTE] = R(OWN, OWN),
	[SIP_HDR_SESSION_EXPIRES] = R(COPY, COPY),
	[SIP_HDR_SUBJECT] = R(COPY, COPY),
	[SIP_HDR_SUBSCRIPTION_STATE] = R(COPY, COPY),
	[SIP_HDR_SUPPORTED] = R(COPY, COPY),
	[SIP_HDR_TIMESTAMP] = R(DROP, DROP),
	[SIP_HDR_TO] = R(OWN, OWN),
	[SIP_HDR_UNSUPPORTED] = R(COPY, COPY),
	[SIP_HDR_USER_AGENT] = R(REPLACE, COPY),
	[SIP_HDR_VIA] = R(OWN, OWN),
	[SIP_HDR_WARNING] = R(DROP, COPY),
	[SIP_HDR_WWW_AUTHENTICATE] = R(COPY, COPY),
};

/*
 * Headers the parser does not know, by exact name or name prefix (any
 * case), first match wins; the last entry matches every name.
 */
struct hdr_name_default {
	const char *name;
	bool prefix;
	uint8_t action[ZONE_COUNT];
};

static const struct hdr_name_default hdr_name_defaults[] = {
	/* hold the other leg's Call-ID and tags: only the B2BUA could map them */
	{ "Target-Dialog", false, { HDR_DROP, HDR_DROP } },   /* RFC 4538 */
	{ "Join", false, { HDR_DROP, HDR_DROP } },            /* RFC 3911 */
	{ "X-", true, { HDR_DROP, HDR_COPY } },               /* vendor headers: FreeSWITCH, Asterisk, phones */
	{ "P-", true, { HDR_DROP, HDR_TRUSTED } },            /* trust-domain headers (RFC 3325, RFC 7315) */
	{ "", true, { HDR_COPY, HDR_COPY } },                 /* any other unknown header */
};

struct hdr_override {
	char name[HDR_POLICY_NAME_MAX];
	size_t len;
	bool prefix;
	uint8_t action;
};

struct hdr_policy {
	unsigned zone;
	struct hdr_rule rule[SIP_HDR__COUNT];
	struct hdr_override over[HDR_POLICY_OVERRIDES_MAX];
	unsigned overc;
	char product[CONFIG_PRODUCT_MAX];
	hdr_credentials_h *ours;         /* credentials the SBC consumed itself: never relayed */
	const void *ours_arg;
};

static const char *const action_names[HDR_ACTION__COUNT] = {
	[HDR_OWN] = "own",
	[HDR_COPY] = "copy",
	[HDR_DROP] = "drop",
	[HDR_REWRITE_HOST] = "rewrite-host",
	[HDR_REPLACE] = "replace",
	[HDR_STRIP_URLS] = "strip-urls",
	[HDR_TRUSTED] = "trusted",
};

const char *hdr_action_name(enum hdr_action a)
{
	return (unsigned)a < HDR_ACTION__COUNT ? action_names[a] : "?";
}

static bool text_printable(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n]; n++) {
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e || n + 1 >= max)
			return false;
	}
	return true;
}

/* The defaults toward egress_zone, Server and User-Agent replaced by product ("" drops them). */
int hdr_policy_alloc(struct hdr_policy **pp, unsigned egress_zone, const char *product)
{
	struct hdr_policy *p;

	if (!pp || egress_zone >= ZONE_COUNT || !product ||
	    !text_printable(product, CONFIG_PRODUCT_MAX))
		return EINVAL;
	p = mem_zalloc(sizeof(*p), NULL);
	if (!p)
		return ENOMEM;
	p->zone = egress_zone;
	for (unsigned id = 0; id < SIP_HDR__COUNT; id++)
		p->rule[id] = hdr_defaults[id].rule[egress_zone];
	memcpy(p->product, product, strlen(product) + 1);
	*pp = p;
	return 0;
}

static bool name_valid(const char *s, size_t n)
{
	if (!n || n >= HDR_POLICY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("-.!%_+`'~", c)))
			return false;
	}
	return true;
}

/*
 * Override one entry. A known header name sets its table row (keeping the
 * row's flags: "Privacy: id" still removes an identity the operator asked
 * to copy); an unknown name or a "Prefix-*" goes to the override list,
 * which is searched (exact names, then prefixes) before hdr_name_defaults.
 */
int hdr_policy_set(struct hdr_policy *p, const char *name, enum hdr_action action)
{
	struct hdr_override *o = NULL;
	enum sip_hdr_id id;
	size_t n;
	bool prefix;

	if (!p || !name || (unsigned)action >= HDR_ACTION__COUNT)
		return EINVAL;
	if (action == HDR_OWN)
		return EPERM;
	n = strlen(name);
	prefix = n && name[n - 1] == '*';
	if (prefix)
		n--;
	if (!name_valid(name, n))
		return EINVAL;
	id = prefix ? SIP_HDR_OTHER : sip_hdr_id_lookup(name, n);
	if (id != SIP_HDR_OTHER) {
		if (p->rule[id].action == HDR_OWN)
			return EPERM;
		p->rule[id].action = (uint8_t)action;
		return 0;
	}
	for (unsigned i = 0; i < p->overc; i++) {
		if (p->over[i].prefix == prefix && p->over[i].len == n &&
		    !strncasecmp(p->over[i].name, name, n)) {
			o = &p->over[i];
			break;
		}
	}
	if (!o) {
		if (p->overc >= HDR_POLICY_OVERRIDES_MAX)
			return ENOSPC;
		o = &p->over[p->overc++];
		memcpy(o->name, name, n);
		o->name[n] = '\0';
		o->len = n;
		o->prefix = prefix;
	}
	o->action = (uint8_t)action;
	return 0;
}

static bool name_has_prefix(const struct pl *name, const char *prefix, size_t plen)
{
	return name->l >= plen && !strncasecmp(name->p, prefix, plen);
}

/* The rule for one header field: its id's row, or for unknown names the override list and prefixes. */
static struct hdr_rule rule_of(const struct hdr_policy *p, const struct sip_hdr *h)
{
	struct hdr_rule r = { HDR_COPY, 0 };

	if (h->id != SIP_HDR_OTHER && h->id < SIP_HDR__COUNT)
		return p->rule[h->id];
	for (unsigned i = 0; i < p->overc; i++) {
		const struct hdr_override *o = &p->over[i];

		if (!o->prefix && o->len == h->name.l && !strncasecmp(o->name, h->name.p, o->len)) {
			r.action = o->action;
			return r;
		}
	}
	for (unsigned i = 0; i < p->overc; i++) {
		const struct hdr_override *o = &p->over[i];

		if (o->prefix && name_has_prefix(&h->name, o->name, o->len)) {
			r.action = o->action;
			return r;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(hdr_name_defaults); i++) {
		const struct hdr_name_default *d = &hdr_name_defaults[i];
		size_t n = strlen(d->name);

		if (d->prefix ? name_has_prefix(&h->name, d->name, n)
			      : (h->name.l == n && !strncasecmp(h->name.p, d->name, n))) {
			r.action = d->action[p->zone];
			return r;
		}
	}
	return r;
}

enum hdr_action hdr_policy_action(const struct hdr_policy *p, const struct sip_hdr *h)
{
	if (!p || !h)
		return HDR_DROP;
	return (enum hdr_action)rule_of(p, h).action;
}

/* "Privacy: id" anywhere in the message (RFC 3323 priv-values, ';'-separated). */
static bool msg_privacy_id(const struct sip_msg *msg)
{
	for (int i = msg->first[SIP_HDR_PRIVACY]; i >= 0; i = msg->hdrv[i].next) {
		const struct pl *v = &msg->hdrv[i].val;
		size_t s = 0;

		for (size_t j = 0; j <= v->l; j++) {
			char c = j < v->l ? v->p[j] : ';';

			if (c != ';' && c != ',' && c != ' ' && c != '\t' && c != '\r' && c != '\n')
				continue;
			if (j - s == 2 && !strncasecmp(v->p + s, "id", 2))
				return true;
			s = j + 1;
		}
	}
	return false;
}

/*
 * Fold continuation lines of the bytes written since start into single
 * spaces (RFC 3261 7.3.1 makes the two equivalent), in place: every
 * header this writes is one line.
 */
static void unfold_from(struct wbuf *out, size_t start)
{
	char *p = out->p + start;
	size_t n = out->len - start, w = 0;

	if (!memchr(p, '\r', n) && !memchr(p, '\n', n))
		return;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\r' || p[i] == '\n') {
			while (i + 1 < n && (p[i + 1] == '\r' || p[i + 1] == '\n' ||
					     p[i + 1] == ' ' || p[i + 1] == '\t'))
				i++;
			p[w++] = ' ';
			continue;
		}
		p[w++] = p[i];
	}
	out->len = start + w;
}

static int put_line(struct wbuf *out, const struct pl *name, const struct pl *val)
{
	size_t vstart;
	int err = wbuf_put_pl(out, name);

	if (!err)
		err = wbuf_put(out, ": ", 2);
	vstart = out->len;
	if (!err)
		err = wbuf_put_pl(out, val);
	if (err)
		return err;
	unfold_from(out, vstart);
	return wbuf_put(out, "\r\n", 2);
}

/* Splices one header value may need: two per URI (host, maddr). */
#define POLICY_SPLICES_MAX 64

/*
 * The value of h with the host[:port] of every SIP URI replaced by host and
 * any maddr parameter removed. ENOENT: the header is to be dropped (a value
 * that does not parse, a URI scheme other than sip/sips/tel, too many values).
 */
static int put_rewritten(const struct sip_msg *msg, const struct sip_hdr *h, const char *host,
			 struct wbuf *out)
{
	struct splice sv[POLICY_SPLICES_MAX];
	struct pl repl = pl_from_str(host), v;
	struct sip_iter it = { .hdr = (int)(h - msg->hdrv), .rest = h->val, .started = true };
	size_t sc = 0, start = out->len, vstart;
	unsigned values = 0;
	int err;

	while (sip_msg_values_next(msg, (enum sip_hdr_id)h->id, &it, &v) &&
	       it.hdr == (int)(h - msg->hdrv)) {
		struct sip_addr a;
		struct pl cur, pn, pv;

		values++;
		if (sip_addr_decode(&a, &v))
			return ENOENT;
		if (!a.uri.is_sip) {
			if (pl_caseeq_str(&a.uri.scheme, "tel"))
				continue;
			return ENOENT;
		}
		if (sc + 2 > POLICY_SPLICES_MAX)
			return ENOENT;
		if (!pl_caseeq(&a.uri.hostport, &repl)) {
			sv[sc].off = pl_offset(&h->val, &a.uri.hostport);
			sv[sc].len = a.uri.hostport.l;
			sv[sc].repl = repl;
			sc++;
		}
		cur = a.uri.params;
		for (;;) {
			const char *from = cur.p;

			if (!sip_param_next(&cur, &pn, &pv))
				break;
			if (pl_caseeq_str(&pn, "maddr")) {
				struct pl part = { from, (size_t)(cur.p - from) };

				sv[sc].off = pl_offset(&h->val, &part);
				sv[sc].len = part.l;
				sv[sc].repl = (struct pl)PL_INIT;
				sc++;
				break;
			}
		}
	}
	if (!values)
		return ENOENT;
	err = wbuf_put_pl(out, &h->name);
	if (!err)
		err = wbuf_put(out, ": ", 2);
	vstart = out->len;
	if (!err)
		err = splice_write(h->val.p, h->val.l, sv, sc, out);
	if (!err) {
		unfold_from(out, vstart);
		err = wbuf_put(out, "\r\n", 2);
	}
	if (err)
		out->len = start;
	return err;
}

/* The values of h whose URI is a urn: (RFC 7462 alert URNs); ENOENT when none is left. */
static int put_urns(const struct sip_msg *msg, const struct sip_hdr *h, struct wbuf *out)
{
	struct sip_iter it = { .hdr = (int)(h - msg->hdrv), .rest = h->val, .started = true };
	size_t start = out->len, vstart = 0;
	unsigned kept = 0;
	struct pl v;
	int err = 0;

	while (!err && sip_msg_values_next(msg, (enum sip_hdr_id)h->id, &it, &v) &&
	       it.hdr == (int)(h - msg->hdrv)) {
		struct sip_addr a;

		if (sip_addr_decode(&a, &v) || !pl_caseeq_str(&a.uri.scheme, "urn"))
			continue;
		if (!kept++) {
			err = wbuf_put_pl(out, &h->name);
			if (!err)
				err = wbuf_put(out, ": ", 2);
			vstart = out->len;
		} else {
			err = wbuf_put(out, ", ", 2);
		}
		if (!err)
			err = wbuf_put_pl(out, &v);
	}
	if (!err && kept) {
		unfold_from(out, vstart);
		err = wbuf_put(out, "\r\n", 2);
	}
	if (err)
		out->len = start;
	else if (!kept)
		err = ENOENT;
	return err;
}

/* host[:port] as written in a URI: what a Contact of ours may say. */
static bool host_valid(const char *host)
{
	size_t n = 0;

	for (; host[n]; n++) {
		char c = host[n];

		if (n >= CONFIG_HOST_MAX + 8 ||
		    !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("-.:[]", c)))
			return false;
	}
	return n > 0;
}

/*
 * Write the headers of msg that the policy keeps (see b2bua_int.h). The
 * order of the message is kept; Server and User-Agent appear at most once.
 */
void hdr_policy_set_credentials(struct hdr_policy *p, hdr_credentials_h *ours, const void *arg)
{
	p->ours = ours;
	p->ours_arg = arg;
}

int hdr_policy_write(const struct hdr_policy *p, const struct sip_msg *msg, const char *host,
		     unsigned flags, struct wbuf *out)
{
	size_t start;
	bool privacy_id;
	int err = 0;

	if (!p || !msg || !out || (host && !host_valid(host)))
		return EINVAL;
	start = out->len;
	privacy_id = msg_privacy_id(msg);
	for (unsigned i = 0; i < msg->hdrc && !err; i++) {
		const struct sip_hdr *h = &msg->hdrv[i];
		struct hdr_rule r = rule_of(p, h);
		struct pl name, val;

		if ((r.flags & HDR_RULE_F_PRIVACY_ID) && privacy_id)
			continue;
		if (p->ours && (h->id == SIP_HDR_AUTHORIZATION || h->id == SIP_HDR_PROXY_AUTHORIZATION) &&
		    p->ours(p->ours_arg, &h->val))
			continue;
		switch ((enum hdr_action)r.action) {
		case HDR_TRUSTED:
			if (!(flags & HDR_POLICY_F_TRUSTED))
				break;
			/* fall through */
		case HDR_COPY:
			err = put_line(out, &h->name, &h->val);
			break;
		case HDR_REPLACE:
			if (!p->product[0])
				break;
			if (h->id != SIP_HDR_OTHER && msg->first[h->id] != (int)i)
				break;
			name = h->id != SIP_HDR_OTHER ? pl_from_str(sip_hdr_name(h->id)) : h->name;
			val = pl_from_str(p->product);
			err = put_line(out, &name, &val);
			break;
		case HDR_REWRITE_HOST:
			if (!host) {
				err = EINVAL;
				break;
			}
			err = put_rewritten(msg, h, host, out);
			if (err == ENOENT) {
				log_debug("policy: %.*s dropped: a value cannot be rewritten",
					  (int)h->name.l, h->name.p);
				err = 0;
			}
			break;
		case HDR_STRIP_URLS:
			err = put_urns(msg, h, out);
			if (err == ENOENT)
				err = 0;
			break;
		case HDR_OWN:
		case HDR_DROP:
		case HDR_ACTION__COUNT:
			break;
		}
	}
	if (err)
		out->len = start;
	return err;
}
