/* reg: phones register through the SBC; the core sees the SBC's private address with a token, the phone a short expiry. */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "call.h"
#include "reg.h"

/*
 * A binding: one Contact of one AOR, registered by a phone on the public
 * zone. The core holds "sip:TOKEN@<private address>" for it; the token is
 * made by token_encode (unguessable AEAD output) and then looked up by its
 * exact text, so it survives key rotation and restarts (it is saved with
 * the binding). Strings: AOR, the phone's Contact URI and the token, end
 * to end after the struct, fixed for the binding's life.
 */
enum bstr { BS_AOR, BS_CONTACT, BS_TOKEN, BS__COUNT };

struct binding {
	struct hnode hn_tok;        /* reg->by_tok: by token text */
	struct hnode hn_aor;        /* reg->by_aor: by AOR (several Contacts per AOR) */
	struct hnode hn_src;        /* reg->by_src: by the phone's address, port and transport */
	struct tmr tmr;             /* the next of: keep-alive, expiry */
	struct reg *r;              /* NULL once removed */
	struct sip_peer peer;       /* where requests to the phone go: its NAT address, connection */
	uint64_t phone_exp;         /* loop ms: the phone's registration ends (0: pending) */
	uint64_t core_exp;          /* loop ms: the core's binding ends (0: not registered there) */
	uint64_t core_due;          /* loop ms: from then on the phone's refreshes go to the core */
	uint64_t ka_due;            /* loop ms: the next keep-alive */
	char *callid;               /* the phone's Call-ID for this AOR (RFC 3261 10.2.4) */
	uint32_t cseq;              /* its last CSeq */
	bool nat;                   /* its Contact is not where its requests come from */
	uint16_t off[BS__COUNT];
	char str[];
};

struct reg {
	struct b2bua *b;
	struct htable by_tok, by_aor, by_src;
	struct htable relays_by_src;    /* REGISTERs waiting for the core, by source IP */
	struct reg_stats stats;
	struct tmr save_tmr;
	bool dirty;
	char path[CONFIG_PATH_MAX + 32];
	char reply[SIP_MAX_MSG];    /* header lines of an answer to a phone (reply_phone) */
};

/* A REGISTER relayed to the core, until its answer. */
struct reg_relay {
	struct reg *r;
	struct hnode hn_src;        /* reg->relays_by_src; linked while it waits */
	struct txn_server *st;
	struct txn_client *ct;
	struct sip_peer src;
	char aor[REG_AOR_MAX];
	bool star;                  /* Contact: * (remove every binding of the AOR) */
	unsigned n;
	struct binding *bd[REG_CONTACTS_MAX];
	uint32_t asked[REG_CONTACTS_MAX];   /* expiry the phone asked for, per binding */
	bool nat[REG_CONTACTS_MAX];         /* its Contact is not its source */
	uint32_t cseq;
	char callid[REG_CALLID_MAX];
	bool creds;                 /* the phone's REGISTER carried credentials */
};

static const char *bs(const struct binding *bd, enum bstr k)
{
	return bd->str + bd->off[k];
}

static uint32_t hash_str(const char *s)
{
	return hash_keyed(s, strlen(s));
}

static uint32_t hash_src(const struct sip_peer *p)
{
	return net_sa_hash(&p->addr) ^ p->proto;
}

static bool src_eq(const struct sip_peer *a, const struct sip_peer *b)
{
	return a->proto == b->proto && net_sa_eq(&a->addr, &b->addr);
}

static void binding_destroy(void *data)
{
	struct binding *bd = data;

	free(bd->callid);
}

static void reg_dirty(struct reg *r);
static void binding_arm(struct binding *bd);

static void binding_unlink(struct binding *bd)
{
	struct reg *r = bd->r;
	struct b2bua *b;

	if (!r)
		return;
	b = r->b;
	tmr_cancel(&b->tmrs, &bd->tmr);
	htable_del(&r->by_tok, &bd->hn_tok);
	htable_del(&r->by_aor, &bd->hn_aor);
	if (hnode_linked(&bd->hn_src))
		htable_del(&r->by_src, &bd->hn_src);
	bd->r = NULL;
	r->stats.bindings--;
	r->stats.removed++;
	reg_dirty(r);
	mem_deref(bd);
}

/*
 * A new binding for aor and contact (not yet confirmed by the core), with
 * saved as its token (one the core already holds, from the cache file) or,
 * when NULL, a new one.
 */
static struct binding *binding_new(struct reg *r, const char *aor, const struct pl *contact,
				   const struct sip_peer *src, const char *saved)
{
	struct b2bua *b = r->b;
	struct b2bua_token t = { .kind = TOKEN_KIND_BINDING, .zone = ZONE_PRIVATE };
	char tok[TOKEN_TEXT_SIZE];
	size_t la = strlen(aor), lt;
	struct binding *bd;
	uint8_t rnd[8];

	if (r->stats.bindings >= REG_BINDINGS_MAX)
		return NULL;
	if (saved) {
		snprintf(tok, sizeof(tok), "%s", saved);
	} else {
		if (random_bytes(rnd, sizeof(rnd)))
			return NULL;
		memcpy(&t.id, rnd, sizeof(t.id));
		if (token_encode(b->tk, &t, tok, sizeof(tok)))
			return NULL;
	}
	lt = strlen(tok);
	bd = mem_zalloc(sizeof(*bd) + la + contact->l + lt + 3, binding_destroy);
	if (!bd)
		return NULL;
	bd->off[BS_AOR] = 0;
	memcpy(bd->str, aor, la + 1);
	bd->off[BS_CONTACT] = (uint16_t)(la + 1);
	memcpy(bd->str + la + 1, contact->p, contact->l);
	bd->str[la + 1 + contact->l] = '\0';
	bd->off[BS_TOKEN] = (uint16_t)(la + contact->l + 2);
	memcpy(bd->str + bd->off[BS_TOKEN], tok, lt + 1);
	bd->r = r;
	bd->peer = *src;
	htable_add(&r->by_tok, &bd->hn_tok, hash_str(tok));
	htable_add(&r->by_aor, &bd->hn_aor, hash_str(aor));
	r->stats.bindings++;
	return bd;
}

static struct binding *binding_find(struct reg *r, const char *aor, const struct pl *contact)
{
	uint32_t h = hash_str(aor);

	for (struct hnode *n = htable_first(&r->by_aor, h); n; n = hnode_next_same(n, h)) {
		struct binding *bd = container_of(n, struct binding, hn_aor);

		if (!strcmp(bs(bd, BS_AOR), aor) && pl_eq_str(contact, bs(bd, BS_CONTACT)))
			return bd;
	}
	return NULL;
}

static struct binding *binding_by_token(struct reg *r, const struct pl *tok)
{
	uint32_t h = hash_keyed(tok->p, tok->l);

	if (tok->l != TOKEN_TEXT_LEN)
		return NULL;
	for (struct hnode *n = htable_first(&r->by_tok, h); n; n = hnode_next_same(n, h)) {
		struct binding *bd = container_of(n, struct binding, hn_tok);

		if (pl_eq_str(tok, bs(bd, BS_TOKEN)))
			return bd;
	}
	return NULL;
}

/* Where the phone's requests come from now: re-index by source. */
static void binding_set_peer(struct binding *bd, const struct sip_peer *src)
{
	struct reg *r = bd->r;

	if (hnode_linked(&bd->hn_src))
		htable_del(&r->by_src, &bd->hn_src);
	bd->peer = *src;
	htable_add(&r->by_src, &bd->hn_src, hash_src(src));
}

/* ==== keep-alives and expiry ==== */

static void keepalive_resp(struct txn_client *ct, int err, const struct sip_msg *resp, void *arg)
{
	struct reg *r = arg;

	(void)ct;
	(void)resp;
	if (err)
		r->stats.keepalive_failed++;
}

/*
 * Keep the phone's NAT mapping open: CRLF CRLF on its connection (RFC 5626
 * 3.5.1) or, on UDP, an OPTIONS or a CRLF datagram as configured.
 */
static void keepalive_send(struct binding *bd)
{
	struct reg *r = bd->r;
	struct b2bua *b = r->b;
	const struct config_registration *rc = &b->bc.cfg->registration;
	char buf[1024], branch[TXN_BRANCH_LEN + 1], cid[33];
	uint8_t rnd[16];
	int n;

	r->stats.keepalives++;
	if (bd->peer.proto != SIP_PROTO_UDP || rc->keepalive == CONFIG_KEEPALIVE_CRLF) {
		sip_transp_send(b->bc.transp, &bd->peer, "\r\n\r\n", 4);
		return;
	}
	if (txn_branch_make(branch, sizeof(branch)) || random_bytes(rnd, sizeof(rnd)))
		return;
	for (size_t i = 0; i < 16; i++)
		snprintf(cid + 2 * i, 3, "%02x", rnd[i]);
	n = snprintf(buf, sizeof(buf),
		     "OPTIONS %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%u;branch=%s;rport\r\n"
		     "Max-Forwards: 70\r\nFrom: <sip:%s>;tag=%.16s\r\nTo: <%s>\r\nCall-ID: %s\r\n"
		     "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		     bs(bd, BS_CONTACT), b->bc.host[ZONE_PUBLIC],
		     b2bua_zone_port(b, ZONE_PUBLIC, SIP_PROTO_UDP), branch, b->bc.host[ZONE_PUBLIC],
		     cid + 16, bs(bd, BS_CONTACT), cid);
	if (n > 0 && (size_t)n < sizeof(buf) && leak_check(b->leak, buf, (size_t)n, 0, NULL) == 0)
		txn_client_request(NULL, b->bc.txn, &bd->peer, buf, (size_t)n, keepalive_resp, r,
				   b->now);
}

static void binding_tick(void *arg)
{
	struct binding *bd = arg;
	struct reg *r = bd->r;
	struct b2bua *b = r->b;
	const struct config_registration *rc = &b->bc.cfg->registration;

	if (b->now >= MAX(bd->phone_exp, bd->core_exp)) {
		binding_unlink(bd);   /* lapsed, or never confirmed */
		return;
	}
	if (bd->ka_due && b->now >= bd->ka_due) {
		if (b->now < bd->phone_exp)
			keepalive_send(bd);
		bd->ka_due = b->now + 1000ULL * rc->keepalive_s;
	}
	binding_arm(bd);
}

static void binding_arm(struct binding *bd)
{
	struct b2bua *b = bd->r->b;
	uint64_t due = MAX(bd->phone_exp, bd->core_exp);

	if (!due)
		due = b->now + REG_PENDING_MS;
	if (bd->ka_due && bd->ka_due < due && bd->ka_due < bd->phone_exp)
		due = bd->ka_due;
	tmr_start(&b->tmrs, &bd->tmr, due, binding_tick, bd);
}

/* Keep-alives go to phones behind NAT (or on a connection), when configured. */
static void binding_keepalive_plan(struct binding *bd)
{
	const struct config_registration *rc = &bd->r->b->bc.cfg->registration;

	if (rc->keepalive == CONFIG_KEEPALIVE_OFF || !(bd->nat || bd->peer.proto != SIP_PROTO_UDP))
		bd->ka_due = 0;
	else if (!bd->ka_due)
		bd->ka_due = bd->r->b->now + 1000ULL * rc->keepalive_s;
}

/* ==== the cache file ==== */

static uint64_t wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec;
}

/* Loop ms <-> wall-clock seconds, for the file. */
static uint64_t to_wall(const struct reg *r, uint64_t mono)
{
	uint64_t now = r->b->now;

	if (!mono)
		return 0;
	return wall_s() + (mono > now ? (mono - now) / 1000 : 0);
}

static uint64_t to_mono(const struct reg *r, uint64_t wall, uint64_t wnow)
{
	return wall > wnow ? r->b->now + (wall - wnow) * 1000 : 0;
}

/* A text that grows as needed (the cache file is built in one). */
struct gbuf {
	char *p;
	size_t len, cap;
	bool failed;    /* out of memory once: everything after is dropped */
};

static void gb_printf(struct gbuf *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void gb_printf(struct gbuf *g, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (int tries = 0; tries < 2 && !g->failed; tries++) {
		va_start(ap, fmt);
		n = vsnprintf(g->p ? g->p + g->len : NULL, g->p ? g->cap - g->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			g->failed = true;
		} else if (g->p && (size_t)n < g->cap - g->len) {
			g->len += (size_t)n;
			return;
		} else {
			size_t cap = MAX(g->cap * 2, g->len + (size_t)n + 4096);
			char *q = realloc(g->p, cap);

			if (!q)
				g->failed = true;
			else {
				g->p = q;
				g->cap = cap;
			}
		}
	}
}

/* s as a JSON string; false when it is not plain printable ASCII (never saved: see below). */
static bool json_plain(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	}
	return true;
}

/* "name":"s" with s printable ASCII (json_plain): only quote and backslash need escaping. */
static void gb_json_str(struct gbuf *g, const char *name, const char *s)
{
	gb_printf(g, "\"%s\":\"", name);
	while (*s && !g->failed) {
		size_t n = strcspn(s, "\"\\");

		gb_printf(g, "%.*s", (int)n, s);
		s += n;
		if (*s)
			gb_printf(g, "\\%c", *s++);
	}
	gb_printf(g, "\"");
}

/*
 * The cache as one JSON document, written atomically. Built with printf
 * rather than jansson objects: at 100,000 bindings jansson took about a
 * second of the event loop, this a tenth of that. A binding with a byte
 * outside printable ASCII in its strings (the parser lets few through) is
 * left out rather than making the document unreadable: that phone's next
 * refresh after a restart goes to the core again.
 */
static void reg_save(void *arg)
{
	struct reg *r = arg;
	struct gbuf g = { 0 };
	uint64_t skipped = 0;
	bool first = true;
	int err = ENOMEM;

	r->dirty = false;
	gb_printf(&g, "{\"version\":1,\"saved\":%llu,\"bindings\":[",
		  (unsigned long long)wall_s());
	for (size_t i = 0; i <= r->by_tok.mask && !g.failed; i++) {
		for (struct hnode *n = r->by_tok.bucket[i]; n; n = n->next) {
			struct binding *bd = container_of(n, struct binding, hn_tok);
			char src[NET_ADDRSTRLEN];

			if (!bd->core_exp)
				continue;   /* never confirmed: nothing the core knows */
			if (!json_plain(bs(bd, BS_AOR)) || !json_plain(bs(bd, BS_CONTACT)) ||
			    (bd->callid && !json_plain(bd->callid))) {
				skipped++;
				continue;
			}
			net_sa_ip_str(&bd->peer.addr, src, sizeof(src));
			gb_printf(&g, "%s{", first ? "" : ",\n");
			first = false;
			gb_json_str(&g, "aor", bs(bd, BS_AOR));
			gb_printf(&g, ",");
			gb_json_str(&g, "contact", bs(bd, BS_CONTACT));
			gb_printf(&g, ",\"token\":\"%s\",", bs(bd, BS_TOKEN));
			if (bd->callid) {
				gb_json_str(&g, "call_id", bd->callid);
				gb_printf(&g, ",");
			}
			gb_printf(&g, "\"cseq\":%u,\"source\":\"%s\",\"port\":%u,\"transport\":\"%s\","
				  "\"nat\":%s,\"phone_expires\":%llu,\"core_expires\":%llu,"
				  "\"core_due\":%llu}",
				  bd->cseq, src, net_sa_port(&bd->peer.addr),
				  sip_proto_name(bd->peer.proto), bd->nat ? "true" : "false",
				  (unsigned long long)to_wall(r, bd->phone_exp),
				  (unsigned long long)to_wall(r, bd->core_exp),
				  (unsigned long long)to_wall(r, bd->core_due));
		}
	}
	gb_printf(&g, "]}\n");
	if (!g.failed)
		err = file_write_atomic(r->path, g.p, g.len, 0600);
	free(g.p);
	if (skipped)
		log_warn("%s: %llu bindings with unusual bytes not saved", r->path,
			 (unsigned long long)skipped);
	if (err) {
		r->stats.save_errors++;
		log_warn("%s: cannot save the registration cache: %s", r->path, strerror(err));
		reg_dirty(r);   /* try again later */
		return;
	}
	r->stats.saves++;
}

static void reg_dirty(struct reg *r)
{
	struct b2bua *b = r->b;

	r->dirty = true;
	if (!tmr_armed(&r->save_tmr))
		tmr_start(&b->tmrs, &r->save_tmr, b->now + REG_SAVE_MS, reg_save, r);
}

void reg_flush(struct reg *r)
{
	if (r && r->dirty) {
		tmr_cancel(&r->b->tmrs, &r->save_tmr);
		reg_save(r);
	}
}

/* Strings of a saved binding that may go into SIP again: printable, no URI breakers, a token's alphabet. */
static bool saved_ok(const char *aor, const char *contact, const char *token, const char *callid)
{
	if (!*aor || !*contact || !json_plain(aor) || !json_plain(contact) ||
	    (callid && !json_plain(callid)) || strpbrk(contact, "<> \"") || strpbrk(aor, "<> \"") ||
	    strncasecmp(contact, "sip", 3))
		return false;
	for (const char *t = token; *t; t++) {
		if (!((*t >= 'a' && *t <= 'z') || (*t >= 'A' && *t <= 'Z') || (*t >= '0' && *t <= '9') ||
		      *t == '-' || *t == '_'))
			return false;
	}
	return true;
}

/* One saved binding back; false when it is malformed or has lapsed. */
static bool reg_load_one(struct reg *r, json_t *o, uint64_t wnow)
{
	struct b2bua *b = r->b;
	const struct config_registration *rc = &b->bc.cfg->registration;
	const char *aor, *contact, *token, *callid = NULL, *src, *proto;
	json_int_t cseq, pexp, cexp, cdue;
	int nat, port;
	struct sip_peer peer = { .zone = ZONE_PUBLIC };
	enum sip_proto p;
	struct binding *bd;
	struct pl v;
	uint8_t g;

	if (json_unpack(o, "{s:s, s:s, s:s, s?s, s:I, s:s, s:i, s:s, s:b, s:I, s:I, s:I}", "aor",
			&aor, "contact", &contact, "token", &token, "call_id", &callid, "cseq", &cseq,
			"source", &src, "port", &port, "transport", &proto, "nat", &nat, "phone_expires", &pexp,
			"core_expires", &cexp, "core_due", &cdue))
		return false;
	v = pl_from_str(proto);
	/* the file is ours (0600), but what goes into SIP from it is checked as if it were not */
	if (!saved_ok(aor, contact, token, callid) ||
	    cexp > (json_int_t)(wnow + 2ULL * rc->core_expires + 86400) || pexp > cexp || cdue > cexp ||
	    strlen(aor) >= REG_AOR_MAX || strlen(contact) >= REG_CONTACT_MAX ||
	    strlen(token) != TOKEN_TEXT_LEN || (callid && strlen(callid) >= REG_CALLID_MAX) ||
	    cexp <= (json_int_t)wnow || port < 1 || port > 65535 || sip_proto_lookup(&v, &p) ||
	    net_sa_from_str(&peer.addr, src, (uint16_t)port))
		return false;
	v = pl_from_str(token);
	if (binding_by_token(r, &v))
		return false;
	peer.proto = (uint8_t)p;
	v = pl_from_str(contact);
	bd = binding_new(r, aor, &v, &peer, token);   /* the core holds the saved token */
	if (!bd)
		return false;
	bd->callid = callid ? strdup(callid) : NULL;
	bd->cseq = (uint32_t)cseq;
	bd->nat = nat;
	bd->core_exp = to_mono(r, (uint64_t)cexp, wnow);
	/* the phone refreshes within its expiry; until then it counts as registered */
	bd->phone_exp = MAX(to_mono(r, (uint64_t)pexp, wnow), b->now + 1000ULL * rc->phone_expires);
	bd->phone_exp = MIN(bd->phone_exp, bd->core_exp);
	/* a restart must not send every phone's refresh to the core at once */
	random_bytes(&g, 1);
	bd->core_due = MAX(to_mono(r, (uint64_t)cdue, wnow),
			   b->now + (uint64_t)g * 1000ULL * rc->grace_s / 255);
	binding_set_peer(bd, &peer);
	binding_keepalive_plan(bd);
	binding_arm(bd);
	return true;
}

static void reg_load(struct reg *r)
{
	json_error_t jerr;
	json_t *root = json_load_file(r->path, 0, &jerr), *arr, *o;
	uint64_t wnow = wall_s();
	size_t i, loaded = 0, bad = 0;

	if (!root) {
		if (strstr(jerr.text, "No such file") == NULL)
			log_warn("%s: %s (line %d): registration cache not loaded", r->path, jerr.text,
				 jerr.line);
		return;
	}
	arr = json_object_get(root, "bindings");
	json_array_foreach(arr, i, o) {
		if (reg_load_one(r, o, wnow))
			loaded++;
		else
			bad++;
	}
	json_decref(root);
	log_info("registration cache: %zu bindings loaded, %zu lapsed or unreadable", loaded, bad);
}

/* ==== REGISTER ==== */

/* "user@host" of a SIP URI, host in lower case: what bindings are filed under. */
static int aor_of(const struct sip_uri *u, char *buf, size_t size)
{
	size_t n;
	int len;

	if (!u->is_sip || !u->host.l)
		return EINVAL;
	len = snprintf(buf, size, "%.*s%s%.*s", (int)u->user.l, u->user.p, u->user.l ? "@" : "",
		       (int)u->host.l, u->host.p);
	if (len < 0 || (size_t)len >= size)
		return ENAMETOOLONG;
	for (n = (size_t)len - u->host.l; n < (size_t)len; n++)
		buf[n] = (char)(buf[n] >= 'A' && buf[n] <= 'Z' ? buf[n] + 32 : buf[n]);
	return 0;
}

/* Is the Contact's host somewhere other than where the request came from (NAT)? */
static bool behind_nat(const struct sip_uri *u, const struct sip_peer *src)
{
	struct sockaddr_storage sa;

	if (net_sa_from_pl(&sa, &u->host, u->port ? u->port : 5060))
		return true;   /* a name: we cannot reach it by itself */
	return !net_sa_eq(&sa, &src->addr);
}

static void relay_free(void *data)
{
	struct reg_relay *rr = data;

	if (hnode_linked(&rr->hn_src))
		htable_del(&rr->r->relays_by_src, &rr->hn_src);
	rr->st = txn_server_release(rr->st);
	rr->ct = txn_client_release(rr->ct);
	for (unsigned i = 0; i < rr->n; i++) {
		/* a binding the core did not confirm (401, 403, no answer) goes at once */
		if (rr->bd[i]->r && !rr->bd[i]->core_exp)
			binding_unlink(rr->bd[i]);
		mem_deref(rr->bd[i]);
	}
}

/* The phone's 200: the Contacts of the AOR's live bindings, with what is left of their expiry. */
static int write_contacts(struct reg *r, const char *aor, struct wbuf *wb)
{
	uint32_t h = hash_str(aor);
	uint64_t now = r->b->now;
	int err = 0;

	for (struct hnode *n = htable_first(&r->by_aor, h); n && !err; n = hnode_next_same(n, h)) {
		struct binding *bd = container_of(n, struct binding, hn_aor);

		if (strcmp(bs(bd, BS_AOR), aor) || bd->phone_exp <= now)
			continue;
		err = wbuf_printf(wb, "Contact: <%s>;expires=%llu\r\n", bs(bd, BS_CONTACT),
				  (unsigned long long)((bd->phone_exp - now + 999) / 1000));
	}
	return err;
}

/*
 * Answer the phone: code, with header lines the core's answer kept through
 * the public policy (resp may be NULL) after our own. The lines we add are
 * leak-checked like everything else that leaves on the public zone (the
 * rest of the response is the phone's own request echoed).
 */
static void reply_phone(struct reg *r, struct txn_server *st, uint16_t code, const char *aor,
			const struct sip_msg *resp, const struct pl *totag)
{
	struct b2bua *b = r->b;
	char *buf = r->reply;
	struct wbuf wb;
	struct pl extra;
	int err = 0;

	/* every binding of the AOR is listed: room for as many as a message holds */
	wbuf_init(&wb, buf, sizeof(r->reply));
	if (aor)
		err = write_contacts(r, aor, &wb);
	if (!err && resp)
		err = hdr_policy_write(b->policy[ZONE_PUBLIC], resp, b->bc.host[ZONE_PUBLIC],
				       HDR_POLICY_F_TRUSTED, &wb);
	if (!err && leak_check(b->leak, buf, wb.len, 0, NULL) == EACCES) {
		b->stats.leaks_blocked++;
		log_warn("REGISTER: the core's %u names the private side: not relayed", code);
		err = EACCES;
	}
	if (err) {
		if (err == ENOSPC)
			log_warn("REGISTER: an AOR has more bindings than one answer holds: 500");
		txn_server_reply(st, 500, NULL, totag, NULL, b->now);
		return;
	}
	extra.p = buf;
	extra.l = wb.len;
	txn_server_reply(st, code, NULL, totag, &extra, b->now);
}

/* How long the core granted a binding: its Contact's expires, else Expires, else what we asked. */
static uint32_t core_granted(struct binding *bd, struct sip_msg *resp, uint32_t asked, bool *listed)
{
	struct sip_iter it = { 0 };
	struct sip_contact ct;
	uint32_t e;

	*listed = false;
	while (sip_msg_contact_next(resp, &it, &ct) == 0) {
		if (ct.star || !ct.addr.uri.is_sip || !pl_eq_str(&ct.addr.uri.user, bs(bd, BS_TOKEN)))
			continue;
		*listed = true;
		if (ct.has_expires)
			return ct.expires;
		break;
	}
	if (sip_msg_expires(resp, &e) == 0)
		return e;
	return asked;
}

static void confirm(struct reg_relay *rr, struct binding *bd, uint32_t core_s, uint32_t asked,
		    bool nat)
{
	struct reg *r = rr->r;
	struct b2bua *b = r->b;
	const struct config_registration *rc = &b->bc.cfg->registration;
	uint32_t phone_s = MIN(asked, rc->phone_expires);
	uint64_t margin;

	phone_s = MIN(phone_s, core_s);
	bd->core_exp = b->now + 1000ULL * core_s;
	bd->phone_exp = b->now + 1000ULL * phone_s;
	/* forward a refresh once fewer than two of the phone's periods are left at the core */
	margin = MAX(2000ULL * rc->phone_expires, 1000ULL * core_s / 10);
	bd->core_due = bd->core_exp > b->now + margin ? bd->core_exp - margin : b->now;
	free(bd->callid);
	bd->callid = strdup(rr->callid);
	bd->cseq = rr->cseq;
	binding_set_peer(bd, &rr->src);
	bd->nat = nat;
	binding_keepalive_plan(bd);
	binding_arm(bd);
	reg_dirty(r);
}

static void on_core_resp(struct txn_client *ct, int err, const struct sip_msg *cresp, void *arg)
{
	struct reg_relay *rr = arg;
	struct reg *r = rr->r;
	struct b2bua *b = r->b;
	struct sip_msg *resp = (struct sip_msg *)(uintptr_t)cresp;
	const struct config_registration *rc = &b->bc.cfg->registration;
	const struct sip_addr *to;
	struct pl totag = PL_INIT;

	(void)ct;
	b->now = txn_layer_now(b->bc.txn);
	if (err) {
		/*
		 * The core did not answer: a phone whose binding the core still holds
		 * stays registered from the cache, and its next try at the core waits
		 * a random part of grace_s, so a recovering core is not stormed.
		 */
		bool cached = rr->n > 0 && !rr->star;

		/*
		 * Only the phone the core accepted, as the cache would have answered it
		 * (same source, same Call-ID): an unauthenticated REGISTER must not
		 * move a binding while the core cannot say no.
		 */
		for (unsigned i = 0; i < rr->n && cached; i++)
			cached = rr->bd[i]->r && rr->bd[i]->core_exp > b->now && rr->asked[i] &&
				 src_eq(&rr->bd[i]->peer, &rr->src) && rr->bd[i]->callid &&
				 !strcmp(rr->bd[i]->callid, rr->callid);
		if (cached) {
			for (unsigned i = 0; i < rr->n; i++) {
				struct binding *bd = rr->bd[i];
				uint8_t g = 0;

				random_bytes(&g, 1);
				bd->phone_exp = MIN(b->now + 1000ULL * MIN(rr->asked[i], rc->phone_expires),
						    bd->core_exp);
				bd->core_due = b->now + (uint64_t)g * 1000ULL * rc->grace_s / 255;
				binding_arm(bd);
			}
			reply_phone(r, rr->st, 200, rr->aor, NULL, &totag);
		} else {
			txn_server_reply(rr->st, err == ETIMEDOUT ? 408 : 503, NULL, &totag, NULL,
					 b->now);
		}
		mem_deref(rr);
		return;
	}
	if (resp->scode < 200)
		return;
	if (sip_msg_to(resp, &to) == 0)
		totag = to->tag;
	if (resp->scode < 300) {
		if (rr->star) {
			uint32_t h = hash_str(rr->aor);
			struct hnode *n = htable_first(&r->by_aor, h);

			while (n) {
				struct binding *bd = container_of(n, struct binding, hn_aor);

				n = hnode_next_same(n, h);
				if (!strcmp(bs(bd, BS_AOR), rr->aor))
					binding_unlink(bd);
			}
		}
		for (unsigned i = 0; i < rr->n; i++) {
			struct binding *bd = rr->bd[i];
			bool listed;
			uint32_t granted;

			if (!bd->r)
				continue;
			granted = core_granted(bd, resp, rr->asked[i] ? rc->core_expires : 0, &listed);
			if (!rr->asked[i] || !granted)
				binding_unlink(bd);
			else
				confirm(rr, bd, granted, rr->asked[i], rr->nat[i]);
		}
		b2bua_guard_event(b, &rr->src, GUARD_EV_REGISTERED, NULL);
		reply_phone(r, rr->st, 200, rr->aor, resp, &totag);
		mem_deref(rr);
		return;
	}
	/* credentials the core refused: a wrong password, or a cracker's guess */
	if (rr->creds && (resp->scode == 401 || resp->scode == 403 || resp->scode == 407))
		b2bua_guard_event(b, &rr->src, GUARD_EV_AUTH_FAIL, rr->aor);
	/* 401, 403, 423...: relayed with what the policy keeps (the challenge among it) */
	reply_phone(r, rr->st, resp->scode, NULL, resp, &totag);
	mem_deref(rr);
}

/* The REGISTER for the core: the phone's, with our Via and a token Contact per binding. */
static int build_forward(struct reg_relay *rr, struct sip_msg *req, struct wbuf *wb)
{
	struct b2bua *b = rr->r->b;
	const struct config_registration *rc = &b->bc.cfg->registration;
	const struct sip_peer *core = &b->core;
	char branch[TXN_BRANCH_LEN + 1];
	const struct sip_addr *from, *to;
	uint16_t port = b2bua_zone_port(b, ZONE_PRIVATE, core->proto);
	const char *tp = core->proto == SIP_PROTO_TCP ? ";transport=tcp" :
			 core->proto == SIP_PROTO_TLS ? ";transport=tls" : "";
	uint32_t mf = 70;
	int err;

	if (sip_msg_from(req, &from) || sip_msg_to(req, &to))
		return EBADMSG;
	if (sip_msg_max_forwards(req, &mf) == 0)
		mf = mf ? MIN(mf - 1, 70u) : 0;
	err = txn_branch_make(branch, sizeof(branch));
	if (!err)
		err = wbuf_printf(wb, "REGISTER %.*s SIP/2.0\r\nVia: SIP/2.0/%s %s:%u;branch=%s;rport\r\n"
				  "Max-Forwards: %u\r\nFrom: %.*s\r\nTo: %.*s\r\nCall-ID: %s\r\n"
				  "CSeq: %u REGISTER\r\n",
				  (int)req->ruri.l, req->ruri.p, sip_proto_name(core->proto),
				  b->bc.host[ZONE_PRIVATE], port, branch, mf, (int)from->val.l,
				  from->val.p, (int)to->val.l, to->val.p, rr->callid, rr->cseq);
	if (!err && rr->star)
		err = wbuf_put_str(wb, "Contact: *\r\n");
	for (unsigned i = 0; i < rr->n && !err; i++)
		err = wbuf_printf(wb, "Contact: <sip:%s@%s:%u%s>;expires=%u\r\n",
				  bs(rr->bd[i], BS_TOKEN), b->bc.host[ZONE_PRIVATE], port, tp,
				  rr->asked[i] ? rc->core_expires : 0);
	if (!err)
		err = hdr_policy_write(b->policy[ZONE_PRIVATE], req, b->bc.host[ZONE_PRIVATE], 0, wb);
	if (!err)
		err = wbuf_put_str(wb, "Content-Length: 0\r\n\r\n");
	return err;
}

/*
 * A refresh the cache answers: one Contact already confirmed by the core,
 * not yet due there, from the same address and transport, in the same
 * Call-ID with a higher CSeq (RFC 3261 10.2.4). Anything else goes to the
 * core, which authenticates it.
 */
static bool absorbable(struct reg *r, struct binding *bd, struct sip_msg *req, uint32_t cseq,
		       const struct pl *callid)
{
	uint64_t now = r->b->now;

	/* cseq equal: a retransmission whose 200 was lost (or never left: EAGAIN) */
	return bd && bd->core_exp > now && now < bd->core_due && bd->callid &&
	       pl_eq_str(callid, bd->callid) && cseq >= bd->cseq && src_eq(&bd->peer, &req->src);
}

/* REGISTERs from src's IP waiting for the core (up to REG_PENDING_PER_SOURCE are counted). */
static unsigned relays_of(struct reg *r, const struct sockaddr_storage *src)
{
	uint32_t h = net_sa_hash_ip(src);
	unsigned n = 0;

	for (struct hnode *hn = htable_first(&r->relays_by_src, h);
	     hn && n < REG_PENDING_PER_SOURCE; hn = hnode_next_same(hn, h)) {
		struct reg_relay *rr = container_of(hn, struct reg_relay, hn_src);

		n += net_sa_eq_ip(&rr->src.addr, src);
	}
	return n;
}

void reg_register(struct reg *r, struct txn_server *st, struct sip_msg *req)
{
	static const struct pl retry_after = PL("Retry-After: 5\r\n");
	struct b2bua *b = r->b;
	const struct config_registration *rc = &b->bc.cfg->registration;
	const struct sip_addr *to;
	const struct sip_cseq *cs;
	struct pl callid, tag = PL_INIT;
	struct sip_contact ct[REG_CONTACTS_MAX];
	struct sip_iter it = { 0 };
	struct reg_relay *rr;
	uint32_t hexp = 3600;
	unsigned nct = 0;
	bool star = false;
	char tagbuf[20];
	struct wbuf wb;
	int err;

	r->stats.registers++;
	tag = b2bua_local_tag(req, tagbuf, sizeof(tagbuf));
	if (sip_msg_to(req, &to) || sip_msg_cseq(req, &cs) || sip_msg_callid(req, &callid) ||
	    callid.l >= REG_CALLID_MAX)
		goto bad;
	(void)sip_msg_expires(req, &hexp);
	for (;;) {
		struct sip_contact c;

		err = sip_msg_contact_next(req, &it, &c);
		if (err == ENOENT)
			break;
		if (err || nct == REG_CONTACTS_MAX)
			goto bad;
		if (c.star) {
			star = true;
			continue;
		}
		if (!c.addr.uri.is_sip || c.addr.auri.l >= REG_CONTACT_MAX)
			goto bad;
		ct[nct++] = c;
	}
	if (star && (nct || hexp != 0))
		goto bad;   /* RFC 3261 10.3 step 6: "*" only alone and with Expires: 0 */
	if (relays_of(r, &req->src.addr) >= REG_PENDING_PER_SOURCE) {
		/* one source cannot tie up the relay (and the core) with REGISTERs in flight */
		r->stats.refused++;
		r->stats.refused_pending++;
		txn_server_reply(st, 503, NULL, &tag, &retry_after, b->now);
		return;
	}
	rr = mem_zalloc(sizeof(*rr), relay_free);
	if (!rr) {
		txn_server_reply(st, 503, NULL, &tag, NULL, b->now);
		return;
	}
	rr->r = r;
	rr->star = star;
	rr->src = req->src;
	rr->cseq = cs->num;
	rr->creds = req->first[SIP_HDR_AUTHORIZATION] >= 0 ||
		    req->first[SIP_HDR_PROXY_AUTHORIZATION] >= 0;
	pl_strcpy(&callid, rr->callid, sizeof(rr->callid));
	if (aor_of(&to->uri, rr->aor, sizeof(rr->aor))) {
		mem_deref(rr);
		goto bad;
	}
	for (unsigned i = 0; i < nct; i++) {
		struct binding *bd = binding_find(r, rr->aor, &ct[i].addr.auri);
		uint32_t e = ct[i].has_expires ? ct[i].expires : hexp;

		if (nct == 1 && e && absorbable(r, bd, req, cs->num, &callid)) {
			bd->cseq = cs->num;
			bd->phone_exp = MIN(b->now + 1000ULL * MIN(e, rc->phone_expires), bd->core_exp);
			binding_set_peer(bd, &req->src);
			binding_arm(bd);
			r->stats.absorbed++;
			b2bua_guard_event(b, &req->src, GUARD_EV_REGISTERED, NULL);
			reply_phone(r, st, 200, rr->aor, NULL, &tag);
			mem_deref(rr);
			return;
		}
		if (!bd && e)
			bd = binding_new(r, rr->aor, &ct[i].addr.auri, &req->src, NULL);
		if (!bd) {
			if (!e)
				continue;   /* removing what is not there */
			mem_deref(rr);
			r->stats.refused++;
			txn_server_reply(st, 503, NULL, &tag, NULL, b->now);
			return;
		}
		if (!bd->core_exp) {
			bd->nat = behind_nat(&ct[i].addr.uri, &req->src);
			binding_arm(bd);   /* pending: dropped if the core never confirms it */
		}
		rr->bd[rr->n] = mem_ref(bd);
		rr->nat[rr->n] = behind_nat(&ct[i].addr.uri, &req->src);
		rr->asked[rr->n++] = e;
	}
	wbuf_init(&wb, b->out, sizeof(b->out));
	err = build_forward(rr, req, &wb);
	if (!err) {
		rr->st = mem_ref(st);
		err = txn_client_request(&rr->ct, b->bc.txn, &b->core, wb.p, wb.len, on_core_resp, rr,
					 b->now);
	}
	if (err) {
		txn_server_reply(st, err == ENOSPC ? 503 : 500, NULL, &tag, NULL, b->now);
		mem_deref(rr);
		return;
	}
	htable_add(&r->relays_by_src, &rr->hn_src, net_sa_hash_ip(&rr->src.addr));
	r->stats.forwarded++;
	return;
 bad:
	r->stats.refused++;
	txn_server_reply(st, 400, NULL, &tag, NULL, b->now);
}

/* ==== routing and access ==== */

int reg_route(struct reg *r, const struct pl *user, struct sip_peer *dst, char *ruri, size_t size)
{
	struct binding *bd = binding_by_token(r, user);
	int n;

	if (!bd) {
		r->stats.unknown_token++;
		return ENOENT;
	}
	if (bd->phone_exp <= r->b->now) {
		r->stats.lapsed++;
		return EAGAIN;
	}
	n = snprintf(ruri, size, "%s", bs(bd, BS_CONTACT));
	if (n < 0 || (size_t)n >= size)
		return ENAMETOOLONG;
	*dst = bd->peer;
	r->stats.routed++;
	return 0;
}

bool reg_source_registered(struct reg *r, const struct sip_peer *src)
{
	uint32_t h = hash_src(src);

	for (struct hnode *n = htable_first(&r->by_src, h); n; n = hnode_next_same(n, h)) {
		struct binding *bd = container_of(n, struct binding, hn_src);

		if (src_eq(&bd->peer, src) && bd->phone_exp > r->b->now)
			return true;
	}
	return false;
}

size_t reg_bindings(const struct reg *r, struct b2bua_reg_info *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; r->by_tok.bucket && i <= r->by_tok.mask; i++) {
		for (struct hnode *h = r->by_tok.bucket[i]; h; h = h->next, n++) {
			const struct binding *bd = container_of(h, struct binding, hn_tok);
			struct b2bua_reg_info *o;

			if (n >= max)
				continue;
			o = &out[n];
			memset(o, 0, sizeof(*o));
			snprintf(o->aor, sizeof(o->aor), "%s", bs(bd, BS_AOR));
			o->peer = bd->peer;
			o->nat = bd->nat;
			o->phone_exp_ms = bd->phone_exp;
			o->core_exp_ms = bd->core_exp;
		}
	}
	return n;
}

const struct reg_stats *reg_stats(const struct reg *r)
{
	return &r->stats;
}

static void reg_destroy(void *data)
{
	struct reg *r = data;

	reg_flush(r);
	tmr_cancel(&r->b->tmrs, &r->save_tmr);
	for (size_t i = 0; r->by_tok.bucket && i <= r->by_tok.mask; i++) {
		while (r->by_tok.bucket[i]) {
			struct binding *bd = container_of(r->by_tok.bucket[i], struct binding, hn_tok);

			r->dirty = false;
			binding_unlink(bd);
		}
	}
	tmr_cancel(&r->b->tmrs, &r->save_tmr);
	/* relays still waiting for the core end later: they must not find this table */
	for (size_t i = 0; r->relays_by_src.bucket && i <= r->relays_by_src.mask; i++)
		while (r->relays_by_src.bucket[i])
			htable_del(&r->relays_by_src, r->relays_by_src.bucket[i]);
	htable_close(&r->by_tok);
	htable_close(&r->by_aor);
	htable_close(&r->by_src);
	htable_close(&r->relays_by_src);
}

int reg_alloc(struct reg **rp, struct b2bua *b)
{
	struct reg *r = mem_zalloc(sizeof(*r), reg_destroy);
	int err, n;

	if (!r)
		return ENOMEM;
	r->b = b;
	err = htable_init(&r->by_tok, REG_BUCKETS);
	if (!err)
		err = htable_init(&r->by_aor, REG_BUCKETS);
	if (!err)
		err = htable_init(&r->by_src, REG_BUCKETS);
	if (!err)
		err = htable_init(&r->relays_by_src, REG_BUCKETS);
	n = snprintf(r->path, sizeof(r->path), "%s/registrations.json",
		     b->bc.cfg->general.data_dir);
	if (!err && (n < 0 || (size_t)n >= sizeof(r->path)))
		err = ENAMETOOLONG;
	if (err) {
		mem_deref(r);
		return err;
	}
	reg_load(r);
	r->dirty = false;
	tmr_cancel(&b->tmrs, &r->save_tmr);
	*rp = r;
	return 0;
}
