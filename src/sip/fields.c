/* fields: CSeq, Content-Type, Session-Expires, Reason and the other small typed headers. */
#include <errno.h>
#include <string.h>

#include "sip_int.h"

/* "4711 INVITE": number below 2^31 (RFC 3261 8.1.1.5), then a method token. */
int sip_cseq_decode(struct sip_cseq *cs, const struct pl *pl)
{
	struct pl c = pl_trim(*pl), num;
	size_t n = 0;

	memset(cs, 0, sizeof(*cs));
	while (n < c.l && c.p[n] >= '0' && c.p[n] <= '9')
		n++;
	num.p = c.p;
	num.l = n;
	if (!n || n > 10 || pl_u32(&num, &cs->num) || cs->num > 0x7fffffffu)
		return EBADMSG;
	pl_advance(&c, n);
	if (!c.l || !sip_is(c.p[0], SIP_C_WS))
		return EBADMSG;
	sip_skip_ws(&c);
	if (!sip_scan_token(&c, &cs->method) || c.l)
		return EBADMSG;
	cs->mid = sip_method_lookup(&cs->method);
	return 0;
}

/* "application/sdp;charset=x". */
int sip_ctype_decode(struct sip_ctype *ct, const struct pl *pl)
{
	struct pl c = pl_trim(*pl);

	memset(ct, 0, sizeof(*ct));
	if (!sip_scan_token(&c, &ct->type))
		return EBADMSG;
	sip_skip_ws(&c);
	if (!c.l || c.p[0] != '/')
		return EBADMSG;
	pl_advance(&c, 1);
	sip_skip_ws(&c);
	if (!sip_scan_token(&c, &ct->subtype))
		return EBADMSG;
	ct->params = c;
	return sip_params_check(&ct->params);
}

static int delta_decode(struct pl *c, uint32_t *v)
{
	struct pl num;
	size_t n = 0;

	sip_skip_ws(c);
	while (n < c->l && c->p[n] >= '0' && c->p[n] <= '9')
		n++;
	num.p = c->p;
	num.l = n;
	if (!n || n > 10 || pl_u32(&num, v))
		return EBADMSG;
	pl_advance(c, n);
	return 0;
}

/* "1800;refresher=uac" (RFC 4028). */
int sip_session_expires_decode(struct sip_session_expires *se, const struct pl *pl)
{
	struct pl c = pl_trim(*pl), r;
	int err;

	memset(se, 0, sizeof(*se));
	if (delta_decode(&c, &se->delta))
		return EBADMSG;
	se->params = c;
	err = sip_params_check(&se->params);
	if (err)
		return err;
	if (sip_param_get(&se->params, "refresher", &r)) {
		if (pl_caseeq_str(&r, "uac"))
			se->refresher = SIP_REFRESHER_UAC;
		else if (pl_caseeq_str(&r, "uas"))
			se->refresher = SIP_REFRESHER_UAS;
		else
			return EBADMSG;
	}
	return 0;
}

/* "Q.850;cause=16;text=\"Normal call clearing\"" (RFC 3326). */
int sip_reason_decode(struct sip_reason *r, const struct pl *pl)
{
	struct pl c = pl_trim(*pl), cause;
	int err;

	memset(r, 0, sizeof(*r));
	if (!sip_scan_token(&c, &r->protocol))
		return EBADMSG;
	r->params = c;
	err = sip_params_check(&r->params);
	if (err)
		return err;
	if (sip_param_get(&r->params, "cause", &cause)) {
		if (pl_u32(&cause, &r->cause))
			return EBADMSG;
		r->has_cause = true;
	}
	sip_param_get(&r->params, "text", &r->text);
	return 0;
}

static int single_value(const struct sip_msg *msg, enum sip_hdr_id id, struct pl *v)
{
	const struct sip_hdr *h = sip_msg_hdr(msg, id);

	if (!h)
		return ENOENT;
	if (msg->count[id] > 1)
		return EBADMSG;
	*v = h->val;
	return 0;
}

static int single_u32(const struct sip_msg *msg, enum sip_hdr_id id, uint32_t *out)
{
	struct pl v;
	int err = single_value(msg, id, &v);

	if (err)
		return err;
	return pl_u32(&v, out) ? EBADMSG : 0;
}

/* Call-ID: word ["@" word]. */
int sip_msg_callid(const struct sip_msg *msg, struct pl *callid)
{
	struct pl v;
	bool at = false;
	int err = single_value(msg, SIP_HDR_CALL_ID, &v);

	if (err)
		return err;
	if (!v.l || v.p[0] == '@' || v.p[v.l - 1] == '@')
		return EBADMSG;
	for (size_t i = 0; i < v.l; i++) {
		if (v.p[i] == '@' && !at) {
			at = true;
			continue;
		}
		if (!sip_is(v.p[i], SIP_C_WORD))
			return EBADMSG;
	}
	*callid = v;
	return 0;
}

int sip_msg_max_forwards(const struct sip_msg *msg, uint32_t *mf)
{
	return single_u32(msg, SIP_HDR_MAX_FORWARDS, mf);
}

int sip_msg_expires(const struct sip_msg *msg, uint32_t *expires)
{
	return single_u32(msg, SIP_HDR_EXPIRES, expires);
}

int sip_msg_ctype(const struct sip_msg *msg, struct sip_ctype *ct)
{
	struct pl v;
	int err = single_value(msg, SIP_HDR_CONTENT_TYPE, &v);

	return err ? err : sip_ctype_decode(ct, &v);
}

int sip_msg_session_expires(const struct sip_msg *msg, struct sip_session_expires *se)
{
	struct pl v;
	int err = single_value(msg, SIP_HDR_SESSION_EXPIRES, &v);

	return err ? err : sip_session_expires_decode(se, &v);
}

int sip_msg_min_se(const struct sip_msg *msg, uint32_t *min_se)
{
	struct sip_session_expires se;
	struct pl v;
	int err = single_value(msg, SIP_HDR_MIN_SE, &v);

	if (err)
		return err;
	err = sip_session_expires_decode(&se, &v);
	if (err || se.refresher != SIP_REFRESHER_NONE)
		return EBADMSG;
	*min_se = se.delta;
	return 0;
}

/* The first Reason value (RFC 3326 allows one per protocol). */
int sip_msg_reason(const struct sip_msg *msg, struct sip_reason *reason)
{
	struct sip_iter it = { 0 };
	struct pl v;

	if (!sip_msg_values_next(msg, SIP_HDR_REASON, &it, &v))
		return ENOENT;
	return sip_reason_decode(reason, &v);
}

/* Does an option-tag list (Supported, Require...) name this tag? */
bool sip_msg_has_option(const struct sip_msg *msg, enum sip_hdr_id id, const char *tag)
{
	struct sip_iter it = { 0 };
	struct pl v;

	while (sip_msg_values_next(msg, id, &it, &v)) {
		if (pl_caseeq_str(&v, tag))
			return true;
	}
	return false;
}
