/* auth: digest challenges and credentials (RFC 3261 22, RFC 7616, RFC 8760). */
#include <errno.h>
#include <string.h>

#include "sip_int.h"

struct dg_field {
	const char *name;
	size_t off;
};

static const struct dg_field dg_fields[] = {
	{ "realm", offsetof(struct sip_digest, realm) },
	{ "nonce", offsetof(struct sip_digest, nonce) },
	{ "opaque", offsetof(struct sip_digest, opaque) },
	{ "algorithm", offsetof(struct sip_digest, algorithm) },
	{ "qop", offsetof(struct sip_digest, qop) },
	{ "stale", offsetof(struct sip_digest, stale) },
	{ "domain", offsetof(struct sip_digest, domain) },
	{ "username", offsetof(struct sip_digest, username) },
	{ "uri", offsetof(struct sip_digest, uri) },
	{ "response", offsetof(struct sip_digest, response) },
	{ "cnonce", offsetof(struct sip_digest, cnonce) },
	{ "nc", offsetof(struct sip_digest, nc) },
	{ "userhash", offsetof(struct sip_digest, userhash) },
};

/*
 * Decode 'Digest realm="x", nonce="y", ...'. Quoted values are returned
 * without quotes (quoted-pairs still escaped). A known parameter given
 * twice, a missing '=' or a bad quoted string is EBADMSG.
 */
int sip_digest_decode(struct sip_digest *dg, const struct pl *pl)
{
	struct pl c = pl_trim(*pl);
	uint32_t seen = 0;
	unsigned count = 0;

	memset(dg, 0, sizeof(*dg));
	if (c.l > SIP_MAX_HDR_VALUE)
		return EMSGSIZE;
	if (!sip_scan_token(&c, &dg->scheme))
		return EBADMSG;
	dg->params = pl_trim(c);
	if (c.l && !sip_is(c.p[0], SIP_C_WS))
		return EBADMSG;
	for (;;) {
		struct pl name, val;

		sip_skip_ws(&c);
		if (!c.l)
			break;
		if (count && c.p[0] == ',') {
			pl_advance(&c, 1);
			sip_skip_ws(&c);
		} else if (count) {
			return EBADMSG;
		}
		if (++count > SIP_MAX_PARAMS)
			return EMSGSIZE;
		if (!sip_scan_token(&c, &name))
			return EBADMSG;
		sip_skip_ws(&c);
		if (!c.l || c.p[0] != '=')
			return EBADMSG;
		pl_advance(&c, 1);
		sip_skip_ws(&c);
		if (c.l && c.p[0] == '"') {
			if (sip_scan_quoted(&c, &val))
				return EBADMSG;
		} else if (!sip_scan_token(&c, &val)) {
			return EBADMSG;
		}
		for (size_t i = 0; i < ARRAY_SIZE(dg_fields); i++) {
			if (!pl_caseeq_str(&name, dg_fields[i].name))
				continue;
			if (seen & (1u << i))
				return EBADMSG;
			seen |= 1u << i;
			*(struct pl *)(void *)((char *)dg + dg_fields[i].off) = val;
			break;
		}
	}
	return 0;
}
