/* api: the web UI's own endpoints: session state, first-start setup, login, logout, password change. */
#include <errno.h>
#include <event2/http.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "webd_int.h"

/* Set-Cookie for a session, or (id NULL) one that expires the cookie; replaces one set before. */
static void set_cookie(struct evhttp_request *req, const char *id)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char v[WEBD_SEAL_TEXT_MAX + 80];

	evhttp_remove_header(h, "Set-Cookie");
	if (id)
		snprintf(v, sizeof(v), WEBD_COOKIE "=%s; Path=/; HttpOnly; Secure; SameSite=Strict", id);
	else
		snprintf(v, sizeof(v), WEBD_COOKIE "=; Path=/; Max-Age=0; HttpOnly; Secure; "
			 "SameSite=Strict");
	evhttp_add_header(h, "Set-Cookie", v);
}

/* Seal tok as the answer's cookie; false when it could not be sealed. */
static bool cookie_seal(struct webd *w, struct evhttp_request *req, const struct webd_token *tok)
{
	char text[WEBD_SEAL_TEXT_MAX];

	if (webd_seal(&w->skey, tok, text, sizeof(text))) {
		log_error("cannot seal a session token");
		return false;
	}
	set_cookie(req, text);
	return true;
}

/* A session over the cap was evicted: it is logged out for good. */
static void revoke_evicted(struct webd *w, const struct webd_token *ev, uint64_t now)
{
	webd_revoke_add(&w->revoke, ev, now);
	webd_state_save_revoke(w);
	log_info("%u sessions: the least recently used one is logged out", WEBD_SESSIONS_MAX);
}

/* Enter tok in the table (revoking one evicted over the cap), its CSRF token derived. */
static struct webd_session *session_enter(struct webd *w, const struct webd_token *tok,
					  uint64_t now)
{
	struct webd_token ev;
	struct webd_session *s;
	bool evicted;

	s = webd_session_add(&w->sessions, tok, now, &ev, &evicted);
	webd_csrf_derive(&w->skey, s->sid, s->csrf);
	if (evicted)
		revoke_evicted(w, &ev, now);
	return s;
}

/*
 * The session of a cookie value, or NULL (a refused cookie is counted
 * by reason). The cookie's token is opened and checked against the clock
 * and the revocations; idle time counts from the later of the cookie's
 * last-seen and this process's. A cookie whose last-seen is older than
 * WEBD_SESSION_RESEAL_MS is renewed on this answer (Set-Cookie).
 */
struct webd_session *webd_session_open(struct webd *w, struct evhttp_request *req,
				       const char *cookie)
{
	uint64_t now = webd_wall_ms(), cookie_seen;
	enum webd_refuse why;
	struct webd_token tok;
	struct webd_session *s;

	if (webd_unseal(&w->skey, cookie, &tok, &why))
		goto refused;
	cookie_seen = tok.seen;
	s = webd_session_find(&w->sessions, tok.sid);
	if (s && s->created == tok.created && s->seen > tok.seen)
		tok.seen = s->seen;
	if (webd_token_check(&w->revoke, &tok, now, &why)) {
		if (s && s->created == tok.created)
			webd_session_drop(s);   /* not one renewed since (a password change) */
		goto refused;
	}
	if (!s || s->created != tok.created) {
		if (s)
			webd_session_drop(s);
		s = session_enter(w, &tok, now);
	}
	s->seen = now;
	if (now > cookie_seen && now - cookie_seen >= WEBD_SESSION_RESEAL_MS) {
		tok.seen = now;
		cookie_seal(w, req, &tok);
	}
	OPENSSL_cleanse(&tok, sizeof(tok));
	return s;

 refused:
	w->stats.session_refused[why]++;
	log_debug("session cookie from %s refused: %s", webd_req_peer(req), webd_refuse_name(why));
	OPENSSL_cleanse(&tok, sizeof(tok));
	return NULL;
}

/* The token of a table entry, as sealed in its cookie. */
static void entry_token(const struct webd_session *s, struct webd_token *tok)
{
	memset(tok, 0, sizeof(*tok));
	memcpy(tok->sid, s->sid, WEBD_SID_LEN);
	snprintf(tok->user, sizeof(tok->user), "%s", WEBD_USER);
	tok->created = s->created;
	tok->seen = s->seen;
}

/* GET /api/session: {"setup", "logged_in", "csrf"}. */
void webd_api_session(struct webd *w, struct evhttp_request *req)
{
	struct webd_session *s = webd_req_session(w, req);

	webd_reply_json(req, 200, json_pack("{s:b, s:b, s:o}", "setup", !w->has_password,
					    "logged_in", s != NULL,
					    "csrf", s ? json_string(s->csrf) : json_null()));
}

/*
 * Log in: a new session (a random id, made now or, should the clock be
 * behind the last password change, at that time), its cookie and CSRF
 * token in the answer.
 */
static void reply_logged_in(struct webd *w, struct evhttp_request *req)
{
	uint64_t now = webd_wall_ms();
	struct webd_token tok = { .seen = 0 };
	struct webd_session *s;

	snprintf(tok.user, sizeof(tok.user), "%s", WEBD_USER);
	tok.created = tok.seen = MAX(now, w->revoke.not_before);
	if (random_bytes(tok.sid, sizeof(tok.sid)) || !cookie_seal(w, req, &tok)) {
		webd_reply_error(req, 500, "cannot make a session");
		return;
	}
	s = session_enter(w, &tok, now);
	OPENSSL_cleanse(&tok, sizeof(tok));
	webd_reply_json(req, 200, json_pack("{s:b, s:s}", "ok", 1, "csrf", s->csrf));
}

/* A string member of the body into buf (at most max bytes); 400 and false when it is not one. */
static bool body_string(struct evhttp_request *req, json_t *body, const char *key, char *buf,
			size_t max, size_t *len)
{
	json_t *v = json_object_get(body, key);

	if (!json_is_string(v)) {
		webd_reply_error(req, 400, "\"%s\" must be a string", key);
		return false;
	}
	*len = json_string_length(v);
	if (*len > max) {
		webd_reply_error(req, 400, "\"%s\" is longer than %zu bytes", key, max);
		return false;
	}
	memcpy(buf, json_string_value(v), *len);
	buf[*len] = '\0';
	return true;
}

static bool pw_length_ok(struct evhttp_request *req, size_t len)
{
	if (len >= WEBD_PW_MIN && len <= WEBD_PW_MAX)
		return true;
	webd_reply_error(req, 400, "the password must be %d to %d bytes long", WEBD_PW_MIN,
			 WEBD_PW_MAX);
	return false;
}

/* May the client try a password now? Else 429 with Retry-After, and false. */
static bool limit_begin(struct webd *w, struct evhttp_request *req, const char *addr)
{
	unsigned retry;
	char v[16];

	if (webd_limit_begin(&w->limit, addr, time_mono_ms(), &retry) == 0)
		return true;
	snprintf(v, sizeof(v), "%u", retry);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", v);
	webd_reply_error(req, 429, "too many login attempts: try again in %u s", retry);
	return false;
}

/* End a counted attempt, and count the login's result. */
static void limit_end(struct webd *w, const char *addr, bool ok)
{
	webd_limit_end(&w->limit, addr, ok, time_mono_ms());
	if (ok)
		w->stats.logins_ok++;
	else
		w->stats.logins_failed++;
}

/* Free a job (NULL: nothing), its passwords wiped first. */
static void job_free(struct webd_job *j)
{
	if (!j)
		return;
	OPENSSL_cleanse(j, sizeof(*j));
	free(j);
}

/*
 * The start of a password request: its JSON body into *bodyp and a new job
 * for the peer into *jp. False when it was answered (an error) instead; the
 * caller frees *jp and *bodyp either way.
 */
static bool job_begin(struct evhttp_request *req, enum webd_job_kind kind, webd_job_h *done,
		      struct webd_job **jp, json_t **bodyp)
{
	if (webd_req_body(req, false, bodyp))
		return false;
	if (webd_job_new(jp, kind, done, req)) {
		webd_reply_error(req, 500, "out of memory");
		return false;
	}
	snprintf((*jp)->addr, sizeof((*jp)->addr), "%s", webd_req_peer(req));
	return true;
}

/* Hand j to the worker; 503 when it is full (the job is freed). */
static void submit(struct webd *w, struct webd_job *j, bool *busy)
{
	if (webd_worker_submit(w->worker, j) == 0)
		return;
	if (busy)
		*busy = false;
	webd_limit_end(&w->limit, j->addr, true, time_mono_ms());
	webd_reply_error(j->req, 503, "too many password checks under way");
	job_free(j);
}

/*
 * Check the stored hash against the password in j on the worker, if the
 * rate limit lets the client try now (else 429 and false: j is still the
 * caller's). True: j was handed over (or answered 503 and freed).
 */
static bool submit_check(struct webd *w, struct webd_job *j)
{
	if (!limit_begin(w, j->req, j->addr))
		return false;
	snprintf(j->line, sizeof(j->line), "%s", w->pw_line);
	submit(w, j, NULL);
	return true;
}

static void reply_job_error(struct evhttp_request *req, int result)
{
	if (result == ECANCELED)
		webd_reply_error(req, 503, "sbc-webd is stopping");
	else if (result == EINVAL)
		webd_reply_error(req, 500, "the stored password hash is malformed");
	else
		webd_reply_error(req, 500, "password hashing failed: %s", strerror(result));
}

/*
 * A checked password's result (login, change): a wrong one is a failed
 * attempt and 401 (logged as "WRONG from ADDR"), an error is answered; true
 * for those. Else the attempt counts as a good one and false.
 */
static bool check_failed(struct webd *w, struct webd_job *j, const char *wrong)
{
	if (j->result == EACCES) {
		limit_end(w, j->addr, false);
		log_info("%s from %s", wrong, j->addr);
		webd_reply_error(j->req, 401, "wrong password");
		return true;
	}
	if (j->result) {
		webd_limit_end(&w->limit, j->addr, true, time_mono_ms());
		reply_job_error(j->req, j->result);
		return true;
	}
	limit_end(w, j->addr, true);
	return false;
}

/* Store the new hash line of j; 500 and false when it cannot be written. */
static bool save_password(struct webd *w, struct webd_job *j)
{
	int err = webd_state_save_password(w, j->line);

	if (!err)
		return true;
	log_error("cannot save the password: %s", strerror(err));
	webd_reply_error(j->req, 500, "cannot save the password: %s", strerror(err));
	return false;
}

/* The setup's hash is made: store it; the setup token is spent; logged in. */
static void setup_done(struct webd *w, struct webd_job *j)
{
	w->setup_busy = false;
	limit_end(w, j->addr, true);   /* the token was right */
	if (j->result) {
		reply_job_error(j->req, j->result);
		return;
	}
	if (!save_password(w, j))
		return;
	log_info("password set with the setup token from %s", j->addr);
	reply_logged_in(w, j->req);
}

/*
 * POST /api/setup {"token", "password"}: first start only (409 once a
 * password is set). A wrong token is a failed attempt for the rate limit.
 */
void webd_api_setup(struct webd *w, struct evhttp_request *req)
{
	const char *addr = webd_req_peer(req);
	char token[WEBD_TOKEN_HEX + 1];
	struct webd_job *j = NULL;
	json_t *body = NULL;
	size_t tlen;

	if (w->has_password || w->setup_busy) {
		webd_reply_error(req, 409, w->has_password ? "a password is already set" :
				 "a setup is under way");
		return;
	}
	if (!job_begin(req, WEBD_JOB_HASH, setup_done, &j, &body))
		goto out;
	if (!body_string(req, body, "token", token, sizeof(token) - 1, &tlen) ||
	    !body_string(req, body, "password", j->pw, sizeof(j->pw) - 1, &j->pwlen))
		goto out;
	if (!limit_begin(w, req, addr))
		goto out;
	if (!webd_token_eq(w->setup_token, strlen(w->setup_token), token, tlen)) {
		limit_end(w, addr, false);
		log_warn("setup with a wrong token from %s", addr);
		webd_reply_error(req, 403, "wrong setup token");
		goto out;
	}
	if (!pw_length_ok(req, j->pwlen)) {
		webd_limit_end(&w->limit, addr, true, time_mono_ms());
		goto out;
	}
	w->setup_busy = true;
	submit(w, j, &w->setup_busy);
	j = NULL;
 out:
	job_free(j);
	OPENSSL_cleanse(token, sizeof(token));
	json_decref(body);
}

/* The password was checked: a session, or 401 and a failure for the rate limit. */
static void login_done(struct webd *w, struct webd_job *j)
{
	if (j->result == EINVAL)
		log_error("the password file does not hold a valid hash line");
	if (check_failed(w, j, "login failed"))
		return;
	log_info("login from %s", j->addr);
	reply_logged_in(w, j->req);
}

/* POST /api/login {"password"}. */
void webd_api_login(struct webd *w, struct evhttp_request *req)
{
	struct webd_job *j = NULL;
	json_t *body = NULL;

	if (!w->has_password) {
		webd_reply_error(req, 409, "no password is set yet: set one with the setup token");
		return;
	}
	if (!job_begin(req, WEBD_JOB_VERIFY, login_done, &j, &body))
		goto out;
	if (!body_string(req, body, "password", j->pw, sizeof(j->pw) - 1, &j->pwlen))
		goto out;
	if (submit_check(w, j))
		j = NULL;
 out:
	job_free(j);
	json_decref(body);
}

/*
 * POST /api/logout: the session is revoked (kept in sessions-revoked, so
 * its cookie stays dead after a restart), dropped, the cookie expired.
 */
void webd_api_logout(struct webd *w, struct evhttp_request *req, struct webd_session *s)
{
	struct webd_token tok;
	int err;

	entry_token(s, &tok);
	webd_revoke_add(&w->revoke, &tok, webd_wall_ms());
	OPENSSL_cleanse(&tok, sizeof(tok));
	webd_session_drop(s);
	set_cookie(req, NULL);
	err = webd_state_save_revoke(w);
	log_info("logout from %s", webd_req_peer(req));
	if (err) {
		webd_reply_error(req, 500, "logged out until sbc-webd restarts: cannot save the "
				 "revocation: %s", strerror(err));
		return;
	}
	webd_reply_json(req, 200, json_pack("{s:b}", "ok", 1));
}

/* The old password was checked and the new one hashed: store it. */
static void password_done(struct webd *w, struct webd_job *j)
{
	uint64_t now = webd_wall_ms(), when;
	struct webd_session *s;
	struct webd_token tok = { .seen = 0 };

	if (check_failed(w, j, "password change with a wrong password") || !save_password(w, j))
		return;
	/*
	 * Every other browser logs in again with the new password: sessions
	 * made before now are revoked. This one proved the password: it keeps
	 * its id (and CSRF token), made anew now.
	 */
	when = MAX(now, w->revoke.not_before);
	webd_revoke_before(&w->revoke, when, now);
	memcpy(tok.sid, j->sid, WEBD_SID_LEN);
	snprintf(tok.user, sizeof(tok.user), "%s", WEBD_USER);
	tok.created = tok.seen = when;
	s = webd_session_find(&w->sessions, tok.sid);
	if (s) {
		s->created = s->seen = when;
	} else {
		s = session_enter(w, &tok, now);
	}
	webd_session_drop_before(&w->sessions, when, s);
	cookie_seal(w, j->req, &tok);
	OPENSSL_cleanse(&tok, sizeof(tok));
	log_info("password changed from %s", j->addr);
	if (webd_state_save_revoke(w)) {
		webd_reply_error(j->req, 500, "the password is changed, but the other sessions are "
				 "logged out only until sbc-webd restarts: cannot save the revocation");
		return;
	}
	webd_reply_json(j->req, 200, json_pack("{s:b}", "ok", 1));
}

/* POST /api/password {"old", "new"}: the old one is checked as a login is (rate limit included). */
void webd_api_password(struct webd *w, struct evhttp_request *req, struct webd_session *s)
{
	struct webd_job *j = NULL;
	json_t *body = NULL;

	if (!job_begin(req, WEBD_JOB_CHANGE, password_done, &j, &body))
		goto out;
	memcpy(j->sid, s->sid, WEBD_SID_LEN);
	if (!body_string(req, body, "old", j->pw, sizeof(j->pw) - 1, &j->pwlen) ||
	    !body_string(req, body, "new", j->npw, sizeof(j->npw) - 1, &j->npwlen))
		goto out;
	if (!pw_length_ok(req, j->npwlen))
		goto out;
	if (submit_check(w, j))
		j = NULL;
 out:
	job_free(j);
	json_decref(body);
}

/* Once a minute: a log line when the login rate limit refused anything since the last. */
void webd_api_stats_tick(struct webd *w)
{
	const struct webd_limit_stats *l = &w->limit.stats;
	uint64_t refused = l->refused_source + l->refused_total;

	if (refused == w->stats.limited_logged)
		return;
	log_warn("login rate limit: %llu attempts refused in the last minute (%llu per source, "
		 "%llu in all since start)", (unsigned long long)(refused - w->stats.limited_logged),
		 (unsigned long long)l->refused_source, (unsigned long long)l->refused_total);
	w->stats.limited_logged = refused;
}
