/* uri: SIP, SIPS and other absolute URIs (RFC 3261 19.1, 25.1). */
#include <errno.h>
#include <string.h>

#include "sip_int.h"

static bool chars_valid(const struct pl *pl, uint8_t cls, const char *extra)
{
	for (size_t i = 0; i < pl->l; i++) {
		char c = pl->p[i];

		if (!sip_is(c, cls) && !(extra && c && strchr(extra, c)))
			return false;
	}
	return true;
}

static bool scheme_valid(const struct pl *s)
{
	if (!s->l || !((s->p[0] | 0x20) >= 'a' && (s->p[0] | 0x20) <= 'z'))
		return false;
	for (size_t i = 1; i < s->l; i++) {
		char c = s->p[i];

		if (!sip_is(c, SIP_C_TOKEN) || c == '!' || c == '%' || c == '*' ||
		    c == '_' || c == '`' || c == '\'' || c == '~')
			return false;
	}
	return true;
}

/*
 * Decode a URI. For sip: and sips: every part is split out and checked
 * (characters, escapes, host, port, parameters); other schemes (tel:,
 * urn:...) keep everything after the colon in opaque, checked only for
 * characters a URI cannot hold.
 */
int sip_uri_decode(struct sip_uri *uri, const struct pl *pl)
{
	struct pl rest, hp;
	const char *colon, *q, *at, *semi;
	int err;

	memset(uri, 0, sizeof(*uri));
	if (!pl->l)
		return EBADMSG;
	if (pl->l > SIP_MAX_HDR_VALUE)
		return EMSGSIZE;
	uri->raw = *pl;
	for (size_t i = 0; i < pl->l; i++) {
		unsigned char c = (unsigned char)pl->p[i];

		if (c <= 0x20 || c >= 0x7f || c == '<' || c == '>' || c == '"')
			return EBADMSG;
	}
	colon = memchr(pl->p, ':', pl->l);
	if (!colon)
		return EBADMSG;
	uri->scheme.p = pl->p;
	uri->scheme.l = (size_t)(colon - pl->p);
	if (!scheme_valid(&uri->scheme))
		return EBADMSG;
	rest.p = colon + 1;
	rest.l = pl->l - uri->scheme.l - 1;
	if (!rest.l)
		return EBADMSG;
	if (!pl_caseeq_str(&uri->scheme, "sip") && !pl_caseeq_str(&uri->scheme, "sips")) {
		uri->opaque = rest;
		return sip_escapes_valid(&rest) ? 0 : EBADMSG;
	}
	uri->is_sip = true;

	q = memchr(rest.p, '?', rest.l);
	if (q) {
		uri->headers.p = q;
		uri->headers.l = rest.l - (size_t)(q - rest.p);
		rest.l = (size_t)(q - rest.p);
		if (uri->headers.l < 2 || !chars_valid(&uri->headers, SIP_C_UNRESERVED,
							 "?%[]/:+$=&") ||
		    !sip_escapes_valid(&uri->headers))
			return EBADMSG;
	}
	at = memchr(rest.p, '@', rest.l);
	if (at) {
		struct pl ui = { rest.p, (size_t)(at - rest.p) };
		const char *pc = memchr(ui.p, ':', ui.l);

		uri->user = ui;
		if (pc) {
			uri->user.l = (size_t)(pc - ui.p);
			uri->password.p = pc + 1;
			uri->password.l = ui.l - uri->user.l - 1;
			if (!chars_valid(&uri->password, SIP_C_UNRESERVED, "%&=+$,") ||
			    !sip_escapes_valid(&uri->password))
				return EBADMSG;
		}
		if (!uri->user.l || !chars_valid(&uri->user, SIP_C_USER, NULL) ||
		    !sip_escapes_valid(&uri->user))
			return EBADMSG;
		pl_advance(&rest, (size_t)(at - rest.p) + 1);
	}
	semi = memchr(rest.p, ';', rest.l);
	hp.p = rest.p;
	hp.l = semi ? (size_t)(semi - rest.p) : rest.l;
	uri->hostport = hp;
	err = sip_hostport_decode(&hp, &uri->host, &uri->port, &uri->host_type);
	if (err)
		return err;
	if (semi) {
		uri->params.p = semi;
		uri->params.l = rest.l - hp.l;
		if (!sip_escapes_valid(&uri->params))
			return EBADMSG;
		err = sip_params_check(&uri->params);
		if (err)
			return err;
	}
	return 0;
}

bool sip_uri_param_get(const struct sip_uri *uri, const char *name, struct pl *val)
{
	return sip_param_get(&uri->params, name, val);
}
