/* via: one via-parm (RFC 3261 20.42) with its parameters (RFC 3581 rport). */
#include <errno.h>
#include <string.h>

#include "sip_int.h"

static bool take_slash(struct pl *c)
{
	sip_skip_ws(c);
	if (!c->l || c->p[0] != '/')
		return false;
	pl_advance(c, 1);
	sip_skip_ws(c);
	return true;
}

/* Decode "SIP/2.0/UDP host:port;branch=...;rport". */
int sip_via_decode(struct sip_via *via, const struct pl *pl)
{
	struct pl c = pl_trim(*pl), tok, hp;
	size_t n = 0;
	int err;

	memset(via, 0, sizeof(*via));
	via->val = c;
	if (c.l > SIP_MAX_HDR_VALUE)
		return EMSGSIZE;
	via->proto.p = c.p;
	if (!sip_scan_token(&c, &tok) || !take_slash(&c) || !sip_scan_token(&c, &tok) ||
	    !take_slash(&c) || !sip_scan_token(&c, &via->transport))
		return EBADMSG;
	via->proto.l = (size_t)(c.p - via->proto.p);
	if (!c.l || !sip_is(c.p[0], SIP_C_WS))
		return EBADMSG;
	sip_skip_ws(&c);
	while (n < c.l && c.p[n] != ';' && !sip_is(c.p[n], SIP_C_WS))
		n++;
	hp.p = c.p;
	hp.l = n;
	via->sentby = hp;
	err = sip_hostport_decode(&hp, &via->host, &via->port, &via->host_type);
	if (err)
		return err;
	pl_advance(&c, n);
	via->params = c;
	{
		const struct sip_param_want want[] = {
			{ PL("branch"), &via->branch, NULL },
			{ PL("rport"), &via->rport, &via->has_rport },
			{ PL("received"), &via->received, NULL },
			{ PL("maddr"), &via->maddr, NULL },
			{ PL("ttl"), &via->ttl, NULL },
		};

		err = sip_params_scan(&via->params, want, ARRAY_SIZE(want));
		if (err)
			return err;
	}
	if (via->rport.l) {
		uint32_t v;

		if (pl_u32(&via->rport, &v) || v == 0 || v > 65535)
			return EBADMSG;
	}
	return 0;
}
