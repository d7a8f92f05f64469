/* trunk: outbound registration to providers: REGISTER with digest credentials, refreshes, backoff, un-REGISTER at shutdown. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "call.h"
#include "trunk.h"

/*
 * One registering trunk. Call-ID and From tag are fixed for the process's
 * life, CSeq rises (RFC 3261 10.2.4: refreshes are the same registration).
 * The provider's last challenge is kept and answered again with a rising
 * nonce count on the next REGISTER (RFC 3261 22.3): a refresh costs one
 * round trip while the nonce lasts, and the un-REGISTER at shutdown, a
 * single datagram, carries credentials.
 */
struct trunk_client {
	struct trunk_reg *tr;
	const struct config_trunk *t;       /* in tr->cfg */
	struct trunk_reg_status st;
	struct sip_peer dst;                /* the trunk's address, port, transport, zone */
	bool resolved;                      /* dst is set (a name is resolved again after a failure) */
	struct txn_client *ct;              /* the REGISTER under way */
	struct tmr tmr;                     /* the next attempt */
	uint32_t cseq;
	uint32_t asked;                     /* expiry asked for: the trunk's, or a 423's Min-Expires */
	bool min_retried;                   /* a 423 was followed in this attempt */
	unsigned rounds;                    /* challenges answered in this attempt */
	bool fresh;                         /* the REGISTER under way answers a challenge that just came */
	char chal[AUTH_CHAL_MAX];           /* the provider's last challenge (header value) */
	size_t chal_len;                    /* 0: none */
	bool chal_proxy;                    /* it came in a 407 */
	uint32_t nc;                        /* requests made with its nonce */
	char callid[2 * 16 + 1];
	char ftag[2 * 8 + 1];
	char ruri[TRUNK_URI_MAX];           /* sip:DOMAIN (or the address and port) */
	char aor[TRUNK_URI_MAX];            /* sip:USER@DOMAIN: From and To */
	char contact[TRUNK_URI_MAX];        /* sip:USER@ZONE-HOST:PORT;transport=... */
	char user_esc[3 * CONFIG_USER_MAX]; /* the user part as written in those URIs */
};

struct trunk_reg {
	struct b2bua *b;
	const struct sbc_config *cfg;       /* referenced: the trunks as they were at start */
	unsigned n;
	struct trunk_client *v;             /* n entries */
};

static void attempt_start(struct trunk_client *tc);

/* ==== names ==== */

static void hex_of(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}

/* A host as a URI writes it: an IPv6 literal in brackets. */
static int host_put(struct wbuf *wb, const char *host)
{
	return strchr(host, ':') ? wbuf_printf(wb, "[%s]", host) : wbuf_put_str(wb, host);
}

/*
 * The user part of a SIP URI (RFC 3261 25.1 "user"): unreserved and
 * user-unreserved characters as they are, anything else %XX. A user name
 * with '@' or a space still makes a valid URI.
 */
static void user_escape(const char *user, char *out, size_t size)
{
	static const char keep[] = "-_.!~*'()&=+$,;?/";
	static const char digits[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *user && o + 4 <= size; user++) {
		unsigned char c = (unsigned char)*user;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr(keep, c)) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = digits[c >> 4];
			out[o++] = digits[c & 15];
		}
	}
	out[o] = '\0';
}

static uint16_t default_port(unsigned proto)
{
	return proto == SIP_PROTO_TLS ? 5061 : 5060;
}

/*
 * Request-URI, AOR and Contact of a trunk, and the random Call-ID and
 * From tag of its registration. The Request-URI names the domain
 * (RFC 3261 10.2); without a domain, the address (and a port other than
 * the transport's default).
 */
static int client_setup(struct trunk_client *tc)
{
	struct b2bua *b = tc->tr->b;
	const struct config_trunk *t = tc->t;
	const char *domain = t->domain.name[0] ? t->domain.name : t->address.name;
	const char *zhost = b->bc.host[t->zone];
	uint8_t rnd[16 + 8];
	struct wbuf wb;
	int err;

	if (!zhost)
		return EINVAL;   /* Via and Contact need the zone's address */
	if (random_bytes(rnd, sizeof(rnd)))
		return EIO;
	hex_of(rnd, 16, tc->callid);
	hex_of(rnd + 16, 8, tc->ftag);
	user_escape(t->username, tc->user_esc, sizeof(tc->user_esc));

	wbuf_init(&wb, tc->ruri, sizeof(tc->ruri));
	err = wbuf_put_str(&wb, "sip:");
	if (!err)
		err = host_put(&wb, domain);
	if (!err && !t->domain.name[0] && t->port != default_port(t->transport))
		err = wbuf_printf(&wb, ":%u", t->port);
	if (!err)
		err = wbuf_put(&wb, "", 1);

	wbuf_init(&wb, tc->aor, sizeof(tc->aor));
	if (!err)
		err = wbuf_printf(&wb, "sip:%s@", tc->user_esc);
	if (!err)
		err = host_put(&wb, domain);
	if (!err)
		err = wbuf_put(&wb, "", 1);

	wbuf_init(&wb, tc->contact, sizeof(tc->contact));
	if (!err)
		err = wbuf_printf(&wb, "sip:%s@", tc->user_esc);
	if (!err)
		err = host_put(&wb, zhost);
	if (!err)
		err = wbuf_printf(&wb, ":%u;transport=%s", b2bua_zone_port(b, t->zone, t->transport),
				  config_transport_name(t->transport));
	if (!err)
		err = wbuf_put(&wb, "", 1);
	tc->cseq = 0;
	return err;
}

/*
 * Where the trunk is: its literal address, or what its name resolves to
 * now. getaddrinfo blocks the loop; it runs at start and again only after
 * an attempt failed (bounded by the backoff), never on a refresh.
 */
static int client_resolve(struct trunk_client *tc)
{
	const struct config_trunk *t = tc->t;
	struct sip_peer dst = { .zone = (uint8_t)t->zone, .proto = (uint8_t)t->transport };

	if (b2bua_host_resolve(&t->address, t->port, &dst.addr))
		return ENOENT;
	tc->dst = dst;   /* kept as it was when the name does not resolve: the un-REGISTER needs it */
	tc->resolved = true;
	return 0;
}

/* ==== the REGISTER ==== */

/*
 * One REGISTER asking for expires seconds (0: remove the binding), with
 * credentials from the kept challenge when there is one, into wb. The
 * product name goes in User-Agent, as on every message to the public side.
 */
static int register_build(struct trunk_client *tc, uint32_t expires, struct wbuf *wb)
{
	struct b2bua *b = tc->tr->b;
	const struct config_trunk *t = tc->t;
	const char *product = b->bc.cfg->general.product;
	char branch[TXN_BRANCH_LEN + 1];
	int err;

	err = txn_branch_make(branch, sizeof(branch));
	if (!err)
		err = wbuf_printf(wb, "REGISTER %s SIP/2.0\r\nVia: SIP/2.0/%s %s:%u;branch=%s;rport\r\n"
				  "Max-Forwards: 70\r\nFrom: <%s>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s\r\n"
				  "CSeq: %u REGISTER\r\nContact: <%s>\r\nExpires: %u\r\n",
				  tc->ruri, sip_proto_name(tc->dst.proto), b->bc.host[t->zone],
				  b2bua_zone_port(b, t->zone, tc->dst.proto), branch, tc->aor, tc->ftag,
				  tc->aor, tc->callid, ++tc->cseq, tc->contact, expires);
	if (!err && product[0])
		err = wbuf_printf(wb, "User-Agent: %s\r\n", product);
	if (!err && tc->chal_len) {
		struct pl chal = { tc->chal, tc->chal_len };
		struct auth_client_params p = {
			.user = t->username, .password = t->password, .method = PL("REGISTER"),
			.uri = tc->ruri, .nc = ++tc->nc,
		};

		err = auth_client_answer(&chal, tc->chal_proxy, &p, wb);
	}
	if (!err)
		err = wbuf_put_str(wb, "Content-Length: 0\r\n\r\n");
	return err;
}

/* Nothing for the public side may name the private one: the leak checker has the last word. */
static int leak_ok(struct trunk_client *tc, const char *msg, size_t len)
{
	struct b2bua *b = tc->tr->b;
	const char *where = NULL;

	if (tc->t->zone != ZONE_PUBLIC || leak_check(b->leak, msg, len, 0, &where) == 0)
		return 0;
	b->stats.leaks_blocked++;
	log_warn("trunk %s: REGISTER names the private side (%s): not sent", tc->st.name,
		 where ? where : "?");
	return EACCES;
}

static void on_response(struct txn_client *ct, int err, const struct sip_msg *resp, void *arg);

/* Send one REGISTER as a client transaction; the answer comes to on_response. */
static int register_send(struct trunk_client *tc)
{
	struct b2bua *b = tc->tr->b;
	char buf[TRUNK_MSG_MAX];
	struct wbuf wb;
	int err;

	wbuf_init(&wb, buf, sizeof(buf));
	err = register_build(tc, tc->asked, &wb);
	if (!err)
		err = leak_ok(tc, wb.p, wb.len);
	if (!err)
		err = txn_client_request(&tc->ct, b->bc.txn, &tc->dst, wb.p, wb.len, on_response, tc,
					 b->now);
	if (!err)
		tc->st.sent++;
	return err;
}

/* ==== outcomes ==== */

static void client_tick(void *arg)
{
	attempt_start(arg);
}

static void plan(struct trunk_client *tc, uint64_t due)
{
	struct b2bua *b = tc->tr->b;

	tc->st.next_ms = due;
	tmr_start(&b->tmrs, &tc->tmr, due, client_tick, tc);
}

/*
 * The attempt failed with code: retry after the current wait plus up to
 * a tenth more (SBCs restarted together do not stay in step), and double
 * the wait for the next failure, up to TRUNK_RETRY_MAX_S. The kept
 * challenge is dropped: the next attempt starts clean.
 */
static void attempt_failed(struct trunk_client *tc, uint16_t code, const char *why)
{
	struct b2bua *b = tc->tr->b;
	uint64_t wait = 1000ULL * tc->st.retry_s;
	uint8_t g = 0;

	(void)random_bytes(&g, 1);
	wait += wait * g / 2550;
	tc->st.state = TRUNK_REG_FAILED;
	tc->st.last_code = code;
	tc->st.failed++;
	tc->st.retry_s = MIN(2 * tc->st.retry_s, (uint32_t)TRUNK_RETRY_MAX_S);
	tc->chal_len = 0;
	if (b->now >= tc->st.expires_ms)
		tc->st.expires_ms = 0;
	log_warn("trunk %s: registration failed (%u, %s); next try in %llu s", tc->st.name, code, why,
		 (unsigned long long)(wait / 1000));
	plan(tc, b->now + wait);
}

/*
 * The provider holds our binding for granted seconds: refresh at half of
 * it (a lost refresh still leaves the other half for retries), and reset
 * the backoff.
 */
static void attempt_ok(struct trunk_client *tc, uint16_t code, uint32_t granted)
{
	struct b2bua *b = tc->tr->b;
	bool was = tc->st.state == TRUNK_REG_REGISTERED;
	char addr[NET_ADDRSTRLEN] = "";

	tc->st.state = TRUNK_REG_REGISTERED;
	tc->st.last_code = code;
	tc->st.registered++;
	tc->st.granted_s = granted;
	tc->st.expires_ms = b->now + 1000ULL * granted;
	tc->st.retry_s = tc->t->retry_s;
	if (!was) {
		(void)net_sa_ip_str(&tc->dst.addr, addr, sizeof(addr));
		log_info("trunk %s: registered at %s:%u (%s) for %u s", tc->st.name, addr,
			 net_sa_port(&tc->dst.addr), config_transport_name(tc->t->transport), granted);
	} else {
		log_debug("trunk %s: registration refreshed for %u s", tc->st.name, granted);
	}
	plan(tc, b->now + MAX(500ULL * granted, 1000ULL));
}

/*
 * What the provider granted: the expires of our Contact in its 200, else
 * its Expires header, else what we asked for (RFC 3261 10.2.4).
 */
static uint32_t granted_get(struct trunk_client *tc, const struct sip_msg *resp)
{
	struct b2bua *b = tc->tr->b;
	uint16_t port = b2bua_zone_port(b, tc->t->zone, tc->dst.proto);
	struct sip_iter it = { 0 };
	struct sip_contact c;
	uint32_t e;

	while (sip_msg_contact_next(resp, &it, &c) == 0) {
		const struct sip_uri *u = &c.addr.uri;

		if (c.star || !u->is_sip || !pl_eq_str(&u->user, tc->user_esc) ||
		    !pl_caseeq_str(&u->host, b->bc.host[tc->t->zone]) ||
		    (u->port ? u->port : default_port(tc->dst.proto)) != port)
			continue;
		if (c.has_expires)
			return c.expires;
		break;
	}
	if (sip_msg_expires(resp, &e) == 0)
		return e;
	return tc->asked;
}

/*
 * A 401/407: answer it, unless the credentials just sent answered a
 * challenge that had just come and this one does not say stale=true (the
 * password is wrong: answering again would only repeat it), or this
 * attempt has answered TRUNK_AUTH_ROUNDS already. Credentials from the
 * kept challenge (a refresh) may simply have outlived their nonce.
 */
static void challenged(struct trunk_client *tc, const struct sip_msg *resp)
{
	bool proxy = resp->scode == 407, stale = false;
	struct pl val;
	int err;

	if (auth_client_pick(resp, proxy, &val, &stale)) {
		attempt_failed(tc, resp->scode, "no challenge we can answer");
		return;
	}
	if (tc->fresh && !stale) {
		attempt_failed(tc, resp->scode, "credentials refused");
		return;
	}
	if (tc->rounds >= TRUNK_AUTH_ROUNDS || val.l > sizeof(tc->chal)) {
		attempt_failed(tc, resp->scode, "challenged again");
		return;
	}
	memcpy(tc->chal, val.p, val.l);
	tc->chal_len = val.l;
	tc->chal_proxy = proxy;
	tc->nc = 0;
	tc->rounds++;
	tc->fresh = true;
	tc->st.challenges++;
	err = register_send(tc);
	if (err)
		attempt_failed(tc, 503, strerror(err));
}

/* 423 Interval Too Brief: ask once more with its Min-Expires, within reason. */
static bool too_brief(struct trunk_client *tc, const struct sip_msg *resp)
{
	const struct sip_hdr *h = sip_msg_hdr(resp, SIP_HDR_MIN_EXPIRES);
	struct pl v;
	uint32_t min;

	if (tc->min_retried || !h)
		return false;
	v = pl_trim(h->val);
	if (pl_u32(&v, &min) || min <= tc->asked || min > TRUNK_EXPIRES_MAX)
		return false;
	tc->asked = min;
	tc->min_retried = true;
	tc->fresh = false;
	return register_send(tc) == 0;
}

static void on_response(struct txn_client *ct, int err, const struct sip_msg *cresp, void *arg)
{
	struct trunk_client *tc = arg;
	struct b2bua *b = tc->tr->b;
	struct sip_msg *resp = (struct sip_msg *)(uintptr_t)cresp;
	uint32_t granted;

	(void)ct;
	b->now = txn_layer_now(b->bc.txn);
	if (err) {
		tc->ct = txn_client_release(tc->ct);
		tc->resolved = false;   /* a name may point somewhere else now */
		if (err == ETIMEDOUT)
			attempt_failed(tc, 408, "no answer");
		else
			attempt_failed(tc, 503, "transport error");
		return;
	}
	if (resp->scode < 200)
		return;
	tc->ct = txn_client_release(tc->ct);
	if (resp->scode < 300) {
		granted = granted_get(tc, resp);
		if (granted)
			attempt_ok(tc, resp->scode, granted);
		else
			attempt_failed(tc, resp->scode, "expiry 0 granted");
		return;
	}
	if (resp->scode == 401 || resp->scode == 407) {
		challenged(tc, resp);
		return;
	}
	if (resp->scode == 423 && too_brief(tc, resp))
		return;
	attempt_failed(tc, resp->scode, "refused");
}

/* A new attempt (start, refresh or retry): credentials from the kept challenge, if any. */
static void attempt_start(struct trunk_client *tc)
{
	int err;

	tc->st.next_ms = 0;
	tc->rounds = 0;
	tc->min_retried = false;
	tc->fresh = false;
	tc->asked = tc->t->expires;
	if (!tc->resolved && client_resolve(tc)) {
		attempt_failed(tc, 503, "cannot resolve the address");
		return;
	}
	err = register_send(tc);
	if (err)
		attempt_failed(tc, 503, strerror(err));
}

/*
 * At shutdown: Expires 0 for a binding the provider may still hold, as
 * one message straight to the transport. No transaction: the layer goes
 * away with us, so there are no retransmissions and nobody waits for the
 * answer. Over UDP the datagram leaves at once; over TCP/TLS it is queued
 * on the connection and leaves only if that still flushes.
 */
static void unregister_send(struct trunk_client *tc)
{
	struct b2bua *b = tc->tr->b;
	char buf[TRUNK_MSG_MAX];
	struct wbuf wb;

	wbuf_init(&wb, buf, sizeof(buf));
	if (register_build(tc, 0, &wb) || leak_ok(tc, wb.p, wb.len) ||
	    sip_transp_send(b->bc.transp, &tc->dst, wb.p, wb.len)) {
		log_warn("trunk %s: un-REGISTER not sent", tc->st.name);
		return;
	}
	tc->st.sent++;
	log_info("trunk %s: un-REGISTER sent", tc->st.name);
}

/* ==== the set ==== */

static void trunk_reg_destroy(void *data)
{
	struct trunk_reg *tr = data;
	struct b2bua *b = tr->b;

	for (unsigned i = 0; tr->v && i < tr->n; i++) {
		struct trunk_client *tc = &tr->v[i];

		tmr_cancel(&b->tmrs, &tc->tmr);
		tc->ct = txn_client_release(tc->ct);
		if (tc->st.expires_ms > b->now)
			unregister_send(tc);
	}
	mem_deref(tr->v);
	mem_deref((void *)(uintptr_t)tr->cfg);
}

int trunk_reg_alloc(struct trunk_reg **trp, struct b2bua *b)
{
	const struct sbc_config *cfg = b->bc.cfg;
	struct trunk_reg *tr;
	unsigned n = 0;
	int err = 0;

	for (unsigned i = 0; i < cfg->trunk_count; i++)
		n += cfg->trunks[i].do_register;
	tr = mem_zalloc(sizeof(*tr), trunk_reg_destroy);
	if (!tr)
		return ENOMEM;
	tr->b = b;
	tr->cfg = mem_ref((void *)(uintptr_t)cfg);
	if (n) {
		tr->v = mem_zalloc(n * sizeof(*tr->v), NULL);
		if (!tr->v) {
			mem_deref(tr);
			return ENOMEM;
		}
	}
	for (unsigned i = 0; i < cfg->trunk_count && !err; i++) {
		const struct config_trunk *t = &cfg->trunks[i];
		struct trunk_client *tc;

		if (!t->do_register)
			continue;
		tc = &tr->v[tr->n++];
		tc->tr = tr;
		tc->t = t;
		snprintf(tc->st.name, sizeof(tc->st.name), "%s", t->name);
		tc->st.state = TRUNK_REG_PENDING;
		tc->st.retry_s = t->retry_s;
		err = client_setup(tc);
		if (err)
			log_error("trunk %s: cannot register: %s", t->name, strerror(err));
	}
	if (err) {
		mem_deref(tr);
		return err;
	}
	/* the first REGISTERs go out now: their answers (or timers) keep the loop's timer armed */
	for (unsigned i = 0; i < tr->n; i++)
		attempt_start(&tr->v[i]);
	*trp = tr;
	return 0;
}

unsigned trunk_reg_count(const struct trunk_reg *tr)
{
	return tr ? tr->n : 0;
}

const struct trunk_reg_status *trunk_reg_status(const struct trunk_reg *tr, unsigned i)
{
	return tr && i < tr->n ? &tr->v[i].st : NULL;
}

const struct trunk_reg_status *trunk_reg_find(const struct trunk_reg *tr, const char *name)
{
	for (unsigned i = 0; tr && i < tr->n; i++) {
		if (!strcmp(tr->v[i].st.name, name))
			return &tr->v[i].st;
	}
	return NULL;
}

const char *trunk_reg_state_name(enum trunk_reg_state s)
{
	static const char *const names[] = { "pending", "registered", "failed" };

	return (unsigned)s < ARRAY_SIZE(names) ? names[s] : "?";
}
