/* b2bua: the transaction user: routing, what the SBC answers itself, and the entry points into calls. */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call.h"

/*
 * What the SBC answers itself with. Allow lists the methods the B2BUA
 * carries across the zones.
 */
#define B2BUA_ALLOW "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO, MESSAGE, REFER, NOTIFY, PRACK"

static void b2bua_destroy(void *data)
{
	struct b2bua *b = data;

	for (size_t i = 0; b->calls.bucket && i <= b->calls.mask; i++) {
		while (b->calls.bucket[i]) {
			struct call *c = container_of(b->calls.bucket[i], struct call, hn);

			call_end(c, "shutdown", false);
		}
	}
	htable_close(&b->calls);
	htable_close(&b->dialogs);
	mem_deref(b->reg);
	mem_deref(b->treg);
	mem_deref(b->auth);
	cdr_close(b);
	tmr_heap_close(&b->tmrs);
	mem_deref(b->scratch);
	mem_deref(b->tk);
	for (unsigned z = 0; z < ZONE_COUNT; z++)
		mem_deref(b->policy[z]);
	mem_deref(b->leak);
	free(b->sdp);
	mem_deref((void *)(uintptr_t)b->bc.cfg);
}

/* A configured host: the literal, or what its name resolves to now (start-up only). */
int b2bua_host_resolve(const struct config_host *h, uint16_t port, struct sockaddr_storage *sa)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM };
	struct addrinfo *res = NULL;

	if (h->addr.set) {
		*sa = h->addr.ss;
		net_sa_set_port(sa, port);
		return 0;
	}
	if (getaddrinfo(h->name, NULL, &hints, &res) || !res)
		return ENOENT;
	memset(sa, 0, sizeof(*sa));
	memcpy(sa, res->ai_addr, MIN((size_t)res->ai_addrlen, sizeof(*sa)));
	freeaddrinfo(res);
	net_sa_set_port(sa, port);
	return 0;
}

/*
 * A new token key every TOKEN_ROTATE_MS; the one before stays valid until
 * the next rotation, so a Contact handed out lives at least that long
 * (calls longer than that end at their next in-dialog request: a day).
 */
static void token_rotate(void *arg)
{
	struct b2bua *b = arg;

	if (token_key_rotate(b->tk))
		log_warn("token key rotation failed: keeping the current key");
	tmr_start(&b->tmrs, &b->rotate_tmr, b->now + TOKEN_ROTATE_MS, token_rotate, b);
}

static void auth_filter_set(struct b2bua *b);

int b2bua_alloc(struct b2bua **bp, const struct b2bua_cfg *bc)
{
	const struct sbc_config *cfg = bc->cfg;
	struct b2bua *b = mem_zalloc(sizeof(*b), b2bua_destroy);
	int err, n;

	if (!b)
		return ENOMEM;
	b->bc = *bc;
	mem_ref((void *)(uintptr_t)bc->cfg);   /* a reload must not free it under us */
	b->cdr_fd = -1;
	tmr_heap_init(&b->tmrs);
	err = htable_init(&b->calls, cfg->media.max_streams);
	if (!err)
		err = htable_init(&b->dialogs, 2 * cfg->media.max_streams);
	if (err)
		goto out_free;
	b->sdp = malloc(sizeof(*b->sdp));
	if (!b->sdp) {
		err = ENOMEM;
		goto out_free;
	}
	err = sip_msg_alloc(&b->scratch);
	if (!err)
		err = token_key_alloc(&b->tk);
	/* RAck is HDR_OWN in the table (never copied): relay_start writes it for its leg */
	for (unsigned z = 0; !err && z < ZONE_COUNT; z++)
		err = hdr_policy_alloc(&b->policy[z], z, cfg->general.product);
	if (!err)
		err = leak_checker_alloc(&b->leak, cfg);
	if (!err && bc->host[ZONE_PRIVATE])
		err = leak_checker_add(b->leak, bc->host[ZONE_PRIVATE]);
	if (!err && bc->media_addr[ZONE_PRIVATE].ss_family) {
		char ip[NET_ADDRSTRLEN];

		if (net_sa_ip_str(&bc->media_addr[ZONE_PRIVATE], ip, sizeof(ip)) == 0)
			err = leak_checker_add(b->leak, ip);
	}
	if (!err)
		err = cdr_open(b);
	if (err)
		goto out_free;
	b->core.zone = ZONE_PRIVATE;
	b->core.proto = (uint8_t)cfg->core.transport;
	err = b2bua_host_resolve(&cfg->core.address, cfg->core.port, &b->core.addr);
	if (err) {
		log_error("core %s: cannot resolve", cfg->core.address.name);
		goto out_free;
	} else {
		char ip[NET_ADDRSTRLEN];

		/* what the core's name resolved to is private too */
		if (net_sa_ip_str(&b->core.addr, ip, sizeof(ip)) == 0)
			err = leak_checker_add(b->leak, ip);
		if (err)
			goto out_free;
	}
	b->now = time_mono_ms();
	err = reg_alloc(&b->reg, b);
	if (err)
		goto out_free;
	err = trunk_reg_alloc(&b->treg, b);
	if (err)
		goto out_free;
	if (cfg->auth.local) {
		struct config_errors errs;

		config_errors_init(&errs);
		err = auth_alloc(&b->auth, &cfg->auth, bc->host[ZONE_PUBLIC], &errs);
		for (unsigned i = 0; err && i < errs.n; i++)
			log_error("%s", errs.msg[i]);
		if (err)
			goto out_free;
	}
	auth_filter_set(b);
	tmr_start(&b->tmrs, &b->rotate_tmr, b->now + TOKEN_ROTATE_MS, token_rotate, b);
	n = snprintf(b->extra, sizeof(b->extra),
		     "Allow: " B2BUA_ALLOW "\r\nAccept: application/sdp\r\nServer: %s\r\n",
		     cfg->general.product);
	if (n < 0 || (size_t)n >= sizeof(b->extra)) {
		err = EINVAL;
		goto out_free;
	}
	*bp = b;
	return 0;

 out_free:
	mem_deref(b);
	return err;
}

/*
 * OPTIONS whose Request-URI is one of this zone's own addresses and ports,
 * without a user part: a trunk's or a phone's keep-alive to the SBC.
 */
static bool for_us(struct b2bua *b, struct sip_msg *req)
{
	const struct sip_uri *ruri;

	return req->mid == SIP_METHOD_OPTIONS && sip_msg_ruri(req, &ruri) == 0 &&
	       !ruri->user.l && sip_transp_uri_is_local(b->bc.transp, req->src.zone, ruri);
}

/*
 * To tag for a response the SBC gives itself: a keyed hash of Call-ID,
 * From tag and CSeq, so it needs no state and cannot be guessed.
 */
struct pl b2bua_local_tag(struct sip_msg *req, char *buf, size_t size)
{
	sip_stateless_tag(req, buf, size);
	return pl_from_str(buf);
}

/* Answer a request from here (no call): status, and our To tag. */
void b2bua_reply(struct b2bua *b, struct txn_server *st, struct sip_msg *req, uint16_t code,
		 const char *reason, const struct pl *extra)
{
	char tagbuf[20];
	struct pl tag = b2bua_local_tag(req, tagbuf, sizeof(tagbuf));

	txn_server_reply(st, code, reason, &tag, extra, b->now);
}

/*
 * Where a new dialog goes (DESIGN "Signaling"): from the public zone to the
 * core; from the private zone to the trunk whose configured address or
 * name the Request-URI's host names. Never to an address taken from the
 * message. ruri is what the b-leg's Request-URI will be.
 */
static int route_new(struct b2bua *b, struct sip_msg *req, unsigned *ezone,
		     struct sip_peer *dst, char *ruri, size_t size,
		     const struct config_trunk **trunk)
{
	const struct sbc_config *cfg = b->bc.cfg;
	const struct sip_uri *u;
	int n;

	if (sip_msg_ruri(req, &u) || !u->is_sip)
		return EINVAL;
	memset(dst, 0, sizeof(*dst));
	if (req->src.zone == ZONE_PUBLIC) {
		/* the phone's Request-URI as it wrote it: its digest uri stays valid at the PBX */
		*ezone = ZONE_PRIVATE;
		*dst = b->core;
		n = snprintf(ruri, size, "%.*s", (int)req->ruri.l, req->ruri.p);
		return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
	}
	for (unsigned i = 0; i < cfg->trunk_count; i++) {
		const struct config_trunk *t = &cfg->trunks[i];

		if (t->zone != ZONE_PUBLIC)
			continue;
		if (!pl_caseeq_str(&u->host, t->address.name) &&
		    !(t->address.addr.set && pl_eq_str(&u->host, t->address.addr.text)))
			continue;
		if (b2bua_host_resolve(&t->address, t->port, &dst->addr))
			return ENOENT;
		dst->zone = ZONE_PUBLIC;
		dst->proto = (uint8_t)t->transport;
		*ezone = ZONE_PUBLIC;
		*trunk = t;
		n = snprintf(ruri, size, "sip:%.*s%s%s:%u", (int)u->user.l, u->user.p,
			     u->user.l ? "@" : "", t->address.name, t->port);
		return n < 0 || (size_t)n >= size ? ENAMETOOLONG : 0;
	}
	return ENOENT;
}

/*
 * Admission (DESIGN: an SBC must keep the calls it has up): at most
 * [sip] max_calls at once and max_cps new calls in any one-second window.
 */
static bool admit(struct b2bua *b)
{
	const struct config_sip *sc = &b->bc.cfg->sip;
	uint64_t sec = b->now / 1000;

	if (sc->max_calls && b->stats.calls_active >= sc->max_calls)
		return false;
	if (sec != b->cps_sec) {
		b->cps_sec = sec;
		b->cps_count = 0;
	}
	if (sc->max_cps && b->cps_count >= sc->max_cps)
		return false;
	b->cps_count++;
	return true;
}

static const struct config_trunk *from_trunk(const struct b2bua *b, const struct sip_peer *src);

/*
 * A new request from the public zone that nobody vouches for (no trunk, no
 * registration, and no [auth] local to challenge it) is refused before the
 * transaction layer: 403 statelessly (its To tag derived from the request,
 * so a retransmission gets the same answer; the ACK of a 403 to an INVITE
 * matches nothing and is dropped), or with [auth] reject = silent nothing
 * at all, not even a 100 Trying. Either way it holds no transaction: a
 * flood of them cannot fill the table that trunks' and phones' calls need.
 */
static bool refuse_stateless(struct b2bua *b, struct sip_msg *msg)
{
	const struct config_auth *ac = &b->bc.cfg->auth;
	const struct sip_addr *to;

	if (ac->open || b->auth || msg->src.zone != ZONE_PUBLIC ||
	    msg->mid == SIP_METHOD_REGISTER || msg->mid == SIP_METHOD_ACK ||
	    msg->mid == SIP_METHOD_CANCEL || for_us(b, msg))
		return false;
	if (sip_msg_to(msg, &to) || to->tag.l)
		return false;   /* in a dialog, or broken: the layers after answer it */
	if (from_trunk(b, &msg->src) || reg_source_registered(b->reg, &msg->src))
		return false;
	b->stats.access_denied++;
	if (ac->reject != CONFIG_AUTH_REJECT_SILENT)
		sip_transp_reply(b->bc.transp, msg, 403, NULL, NULL);
	return true;
}

/*
 * Before the transaction layer: an OPTIONS to the SBC itself is answered
 * statelessly (its To tag is derived from the request, so a retransmission
 * gets the same answer). Keep-alives then hold no transaction for Timer J:
 * a trunk or a thousand phones pinging every second cannot fill the table.
 * Requests nobody vouches for are refused here too (refuse_stateless).
 * 0 when answered or dropped, ENOENT when the message goes on.
 */
int b2bua_stateless(struct b2bua *b, struct sip_msg *msg)
{
	struct pl extra = pl_from_str(b->extra);

	if (msg->req && refuse_stateless(b, msg))
		return 0;
	if (!msg->req || !for_us(b, msg))
		return ENOENT;
	b->stats.options_answered++;
	sip_transp_reply(b->bc.transp, msg, 200, NULL, &extra);
	return 0;
}

/*
 * A new INVITE from the core to one of our binding tokens: a call to a
 * registered phone, at its NAT address over its own connection. True when
 * the Request-URI named a binding (the request is then answered or made
 * a call); false to carry on with the other routes.
 */
static bool invite_to_phone(struct b2bua *b, struct txn_server *st, struct sip_msg *req)
{
	const struct sip_uri *u;
	const struct sip_addr *to;
	struct sip_peer dst;
	char ruri[LEG_URI_MAX];
	int err;

	if (sip_msg_ruri(req, &u) || !u->is_sip || u->user.l != TOKEN_TEXT_LEN ||
	    (sip_msg_to(req, &to) == 0 && to->tag.l) ||
	    !sip_transp_uri_is_local(b->bc.transp, ZONE_PRIVATE, u))
		return false;
	err = reg_route(b->reg, &u->user, &dst, ruri, sizeof(ruri));
	if (err == ENOENT)
		return false;   /* maybe a dialog token: call_find answers */
	if (err) {
		b2bua_reply(b, st, req, err == EAGAIN ? 480 : 500, NULL, NULL);
		return true;
	}
	if (!admit(b)) {
		struct pl extra = PL("Retry-After: 5\r\n");

		b->stats.refused_admission++;
		b2bua_reply(b, st, req, 503, NULL, &extra);
		return true;
	}
	call_invite(b, st, req, ZONE_PUBLIC, &dst, ruri, TRUNK_NONE);
	return true;
}

static bool credentials_ours(const void *arg, const struct pl *val)
{
	return auth_credentials_ours(arg, val);
}

/* With [auth] local, the private zone's policy drops the credentials we consumed. */
static void auth_filter_set(struct b2bua *b)
{
	hdr_policy_set_credentials(b->policy[ZONE_PRIVATE], b->auth ? credentials_ours : NULL, b->auth);
}

/* Does a public trunk's allow list hold src? */
static const struct config_trunk *from_trunk(const struct b2bua *b, const struct sip_peer *src)
{
	const struct sbc_config *cfg = b->bc.cfg;

	for (unsigned i = 0; i < cfg->trunk_count; i++) {
		const struct config_trunk *t = &cfg->trunks[i];

		if (t->zone == ZONE_PUBLIC &&
		    config_cidrlist_match(&t->allow, (const struct sockaddr *)&src->addr))
			return t;
	}
	return NULL;
}

/* The trunk's slot in b->trunk_calls (made on first use); TRUNK_NONE for no trunk. */
static unsigned trunk_slot(struct b2bua *b, const struct config_trunk *t)
{
	unsigned i;

	if (!t)
		return TRUNK_NONE;
	for (i = 0; i < b->ntrunk_calls; i++) {
		if (!strcmp(b->trunk_calls[i].name, t->name))
			return i;
	}
	if (i == ARRAY_SIZE(b->trunk_calls))
		return TRUNK_NONE;   /* more trunk names over reloads than a file may hold */
	snprintf(b->trunk_calls[i].name, sizeof(b->trunk_calls[i].name), "%s", t->name);
	b->ntrunk_calls++;
	return i;
}

/*
 * [trunk:NAME] max_calls: a call in from the trunk, or out through it, over
 * its limit gets 503 with Retry-After (like the global admission). True to go on.
 */
static bool trunk_admit(struct b2bua *b, struct txn_server *st, struct sip_msg *req,
			const struct config_trunk *t, unsigned slot)
{
	struct pl extra = PL("Retry-After: 5\r\n");

	if (!t || !t->max_calls || slot == TRUNK_NONE || b->trunk_calls[slot].active < t->max_calls)
		return true;
	b->stats.refused_trunk_limit++;
	b2bua_reply(b, st, req, 503, NULL, &extra);
	return false;
}

void b2bua_guard_event(struct b2bua *b, const struct sip_peer *src, enum guard_event ev,
		       const char *user)
{
	struct pl u = pl_from_str(user ? user : "");

	if (b->bc.guard && src->zone == ZONE_PUBLIC)
		guard_event(b->bc.guard, &src->addr, ev, user ? &u : NULL);
}

/* The user a request is for: its To user (REGISTER) or From user, for the guard. */
static void request_user(struct sip_msg *req, char *buf, size_t size)
{
	const struct sip_addr *a;
	int err = req->mid == SIP_METHOD_REGISTER ? sip_msg_to(req, &a) : sip_msg_from(req, &a);

	buf[0] = '\0';
	if (!err)
		pl_strcpy(&a->uri.user, buf, size);
}

/*
 * The SBC's own challenge (401 for REGISTER, 407 otherwise). True when the
 * request may go on; otherwise it was answered (challenge, or refused).
 */
static bool authenticate(struct b2bua *b, struct txn_server *st, struct sip_msg *req)
{
	bool proxy = req->mid != SIP_METHOD_REGISTER;
	enum auth_result res = auth_check(b->auth, req, proxy, b->now, NULL);
	char buf[1024];
	struct wbuf wb;
	struct pl extra;

	if (res == AUTH_OK) {
		b2bua_guard_event(b, &req->src, GUARD_EV_AUTH_OK, NULL);
		return true;
	}
	if (res == AUTH_FAIL) {
		char user[128];

		request_user(req, user, sizeof(user));
		b2bua_guard_event(b, &req->src, GUARD_EV_AUTH_FAIL, user);
		b->stats.access_denied++;
		if (b->bc.cfg->auth.reject == CONFIG_AUTH_REJECT_SILENT)
			txn_server_drop(st);   /* an INVITE had its 100 already: no final answer */
		else
			b2bua_reply(b, st, req, 403, NULL, NULL);
		return false;
	}
	wbuf_init(&wb, buf, sizeof(buf));
	if (auth_challenge_write(b->auth, proxy, res == AUTH_STALE, b->now, &wb)) {
		b2bua_reply(b, st, req, 500, NULL, NULL);
		return false;
	}
	extra.p = buf;
	extra.l = wb.len;
	b->stats.auth_challenged++;
	b2bua_reply(b, st, req, proxy ? 407 : 401, NULL, &extra);
	return false;
}

/*
 * Access policy (issue 5): a new dialog from the public zone needs someone
 * to vouch for its source: a configured trunk, a phone registered through
 * us, or (with [auth] local) our own challenge. True to go on.
 */
static bool access_ok(struct b2bua *b, struct txn_server *st, struct sip_msg *req)
{
	const struct config_auth *ac = &b->bc.cfg->auth;

	if (req->src.zone != ZONE_PUBLIC || ac->open || from_trunk(b, &req->src) ||
	    reg_source_registered(b->reg, &req->src))
		return true;
	if (b->auth)
		return authenticate(b, st, req);
	b->stats.access_denied++;
	if (ac->reject == CONFIG_AUTH_REJECT_SILENT)
		txn_server_drop(st);
	else
		b2bua_reply(b, st, req, 403, NULL, NULL);
	return false;
}

int b2bua_apply(struct b2bua *b, const struct sbc_config *next)
{
	struct config_errors errs;
	int err;

	mem_deref((void *)(uintptr_t)b->bc.cfg);
	b->bc.cfg = mem_ref((void *)(uintptr_t)next);
	if (!next->auth.local) {
		b->auth = mem_deref(b->auth);
		auth_filter_set(b);
		return 0;
	}
	config_errors_init(&errs);
	err = b->auth ? auth_reload(b->auth, &next->auth, b->bc.host[ZONE_PUBLIC], &errs) :
			auth_alloc(&b->auth, &next->auth, b->bc.host[ZONE_PUBLIC], &errs);
	auth_filter_set(b);
	for (unsigned i = 0; err && i < errs.n; i++)
		log_error("%s", errs.msg[i]);
	return err;
}

/* A new server transaction: a call, a request within one, or something the SBC answers. */
void b2bua_request(struct b2bua *b, struct txn_server *st, struct sip_msg *req, uint64_t now)
{
	const struct sip_addr *to;
	struct call *c;
	unsigned li;
	int err;

	b->now = now;
	if (for_us(b, req)) {
		struct pl extra = pl_from_str(b->extra);

		b->stats.options_answered++;
		b2bua_reply(b, st, req, 200, NULL, &extra);
		return;
	}
	if (req->mid == SIP_METHOD_REGISTER && req->src.zone == ZONE_PUBLIC &&
	    !(sip_msg_to(req, &to) == 0 && to->tag.l)) {
		if (!b->auth || authenticate(b, st, req))
			reg_register(b->reg, st, req);
		return;
	}
	if (req->mid == SIP_METHOD_INVITE && req->src.zone == ZONE_PRIVATE &&
	    invite_to_phone(b, st, req))
		return;
	err = call_find(b, req, &c, &li);
	if (err == 0) {
		call_request(c, li, st, req);
		return;
	}
	if (err == EACCES) {
		log_debug("%.*s with a token for no live call", (int)req->method.l, req->method.p);
		b->stats.bad_token++;
		b2bua_reply(b, st, req, sip_msg_to(req, &to) == 0 && to->tag.l ? 481 : 404, NULL,
			    NULL);
		return;
	}
	if (sip_msg_to(req, &to) == 0 && to->tag.l) {
		b->stats.no_dialog++;
		b2bua_reply(b, st, req, 481, NULL, NULL);
		return;
	}
	if (!access_ok(b, st, req))
		return;
	if (req->mid == SIP_METHOD_INVITE) {
		const struct config_trunk *trunk;
		unsigned ezone, slot;
		struct sip_peer dst;
		char ruri[LEG_URI_MAX];

		if (!admit(b)) {
			struct pl extra = PL("Retry-After: 5\r\n");

			b->stats.refused_admission++;
			b2bua_reply(b, st, req, 503, NULL, &extra);
			return;
		}
		trunk = req->src.zone == ZONE_PUBLIC ? from_trunk(b, &req->src) : NULL;
		err = route_new(b, req, &ezone, &dst, ruri, sizeof(ruri), &trunk);
		if (err) {
			b->stats.no_route++;
			b2bua_reply(b, st, req, err == ENOENT ? 404 : 416, NULL, NULL);
			return;
		}
		slot = trunk_slot(b, trunk);
		if (!trunk_admit(b, st, req, trunk, slot))
			return;
		call_invite(b, st, req, ezone, &dst, ruri, slot);
		return;
	}
	b->stats.no_route++;
	b2bua_reply(b, st, req, 404, NULL, NULL);
}

int b2bua_ack(struct b2bua *b, struct txn_server *st, struct sip_msg *ack)
{
	struct call *c;
	unsigned li;

	(void)st;
	if (call_find(b, ack, &c, &li))
		return ENOENT;
	return call_ack(c, li, ack);
}

uint64_t b2bua_next(const struct b2bua *b)
{
	return tmr_heap_next(&b->tmrs);
}

void b2bua_poll(struct b2bua *b, uint64_t now)
{
	b->now = now;
	tmr_heap_poll(&b->tmrs, now);
}

const struct b2bua_stats *b2bua_stats(const struct b2bua *b)
{
	return &b->stats;
}

void b2bua_reg_counters(const struct b2bua *b, struct b2bua_reg_counters *out)
{
	const struct reg_stats *st = b->reg ? reg_stats(b->reg) : NULL;

	memset(out, 0, sizeof(*out));
	if (!st)
		return;
	out->bindings = st->bindings;
	out->registers = st->registers;
	out->forwarded = st->forwarded;
	out->absorbed = st->absorbed;
	out->removed = st->removed;
	out->refused = st->refused;
	out->refused_pending = st->refused_pending;
	out->keepalives = st->keepalives;
	out->keepalive_failed = st->keepalive_failed;
}

size_t b2bua_registrations(const struct b2bua *b, struct b2bua_reg_info *out, size_t max)
{
	return b->reg ? reg_bindings(b->reg, out, max) : 0;
}

size_t b2bua_trunks(const struct b2bua *b, struct b2bua_trunk_info *out, size_t max)
{
	const struct sbc_config *cfg = b->bc.cfg;
	size_t n = cfg->trunk_count;

	for (size_t i = 0; i < n && i < max; i++) {
		const struct config_trunk *t = &cfg->trunks[i];
		const struct trunk_reg_status *rs = t->do_register && b->treg ?
						    trunk_reg_find(b->treg, t->name) : NULL;
		struct b2bua_trunk_info *o = &out[i];

		memset(o, 0, sizeof(*o));
		snprintf(o->name, sizeof(o->name), "%s", t->name);
		o->zone = t->zone;
		o->address = t->address;
		o->port = t->port;
		o->transport = t->transport;
		o->max_calls = t->max_calls;
		for (unsigned k = 0; k < b->ntrunk_calls; k++) {
			if (!strcmp(b->trunk_calls[k].name, t->name))
				o->active = b->trunk_calls[k].active;
		}
		o->reg_state = rs ? trunk_reg_state_name(rs->state) : "none";
		o->reg_last_code = rs ? rs->last_code : 0;
	}
	return n;
}
