/* addr: name-addr and addr-spec with header parameters: From, To, Contact, Route, Record-Route. */
#include <errno.h>
#include <string.h>

#include "sip_int.h"

static bool dname_valid(const struct pl *d)
{
	for (size_t i = 0; i < d->l; i++) {
		unsigned char c = (unsigned char)d->p[i];

		/* token and LWS per RFC 3261; UTF-8 bytes tolerated (docs/sip-codec.md) */
		if (!sip_is((char)c, SIP_C_TOKEN | SIP_C_WS) && c < 0x80)
			return false;
	}
	return true;
}

/*
 * Check the header parameters and pick out tag (and, for Contact, expires)
 * in one walk.
 */
static int addr_params_scan(struct sip_addr *a, struct pl *expires, bool *has_expires)
{
	bool has_tag;
	const struct sip_param_want want[] = {
		{ PL("tag"), &a->tag, &has_tag },
		{ PL("expires"), expires, has_expires },
	};
	int err = sip_params_scan(&a->params, want, expires ? 2 : 1);

	if (err)
		return err;
	return has_tag && !a->tag.l ? EBADMSG : 0;
}

/*
 * Decode a name-addr ("Name" <uri>;params) or addr-spec (uri;params).
 * Without angle brackets every parameter after the URI belongs to the
 * header, as RFC 3261 20 says.
 */
static int addr_decode(struct sip_addr *a, const struct pl *pl)
{
	struct pl v = pl_trim(*pl), c;

	memset(a, 0, sizeof(*a));
	a->val = v;
	if (!v.l)
		return EBADMSG;
	if (v.l > SIP_MAX_HDR_VALUE)
		return EMSGSIZE;
	c = v;
	if (c.p[0] == '"') {
		struct pl inner;
		const char *start = c.p;

		if (sip_scan_quoted(&c, &inner))
			return EBADMSG;
		a->dname.p = start;
		a->dname.l = (size_t)(c.p - start);
		sip_skip_ws(&c);
		if (!c.l || c.p[0] != '<')
			return EBADMSG;
	} else {
		const char *lt = memchr(c.p, '<', c.l);

		if (lt) {
			a->dname.p = c.p;
			a->dname.l = (size_t)(lt - c.p);
			a->dname = pl_trim(a->dname);
			if (!dname_valid(&a->dname))
				return EBADMSG;
			pl_advance(&c, (size_t)(lt - c.p));
		}
	}
	if (c.p[0] == '<') {
		const char *gt = memchr(c.p, '>', c.l);

		if (!gt)
			return EBADMSG;
		a->angle = true;
		a->auri.p = c.p + 1;
		a->auri.l = (size_t)(gt - c.p) - 1;
		pl_advance(&c, (size_t)(gt - c.p) + 1);
		a->params = c;
	} else {
		const char *semi = memchr(c.p, ';', c.l);

		a->auri.p = c.p;
		a->auri.l = semi ? (size_t)(semi - c.p) : c.l;
		a->auri = pl_trim(a->auri);
		pl_advance(&c, semi ? (size_t)(semi - c.p) : c.l);
		a->params = c;
	}
	return sip_uri_decode(&a->uri, &a->auri);
}

int sip_addr_decode(struct sip_addr *a, const struct pl *pl)
{
	int err = addr_decode(a, pl);

	return err ? err : addr_params_scan(a, NULL, NULL);
}

/* One Contact value: "*" or an address with an optional expires parameter. */
int sip_contact_decode(struct sip_contact *ct, const struct pl *pl)
{
	struct pl v = pl_trim(*pl), e;
	int err;

	memset(ct, 0, sizeof(*ct));
	if (v.l == 1 && v.p[0] == '*') {
		ct->star = true;
		ct->addr.val = v;
		return 0;
	}
	err = addr_decode(&ct->addr, &v);
	if (!err)
		err = addr_params_scan(&ct->addr, &e, &ct->has_expires);
	if (err)
		return err;
	if (ct->has_expires && pl_u32(&e, &ct->expires))
		return EBADMSG;
	return 0;
}
