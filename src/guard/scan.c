/* scan: what the guard reads from raw bytes before the parser: method, status, User-Agent, users. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "guard.h"

/* Case-insensitive substring search (needles are short: built-in names, scanner_agents). */
static bool contains_ci(const struct pl *hay, const char *needle)
{
	size_t n = strlen(needle);
	int first;

	if (n == 0 || hay->l < n)
		return false;
	first = tolower((unsigned char)needle[0]);
	for (size_t i = 0; i + n <= hay->l; i++) {
		if (tolower((unsigned char)hay->p[i]) != first)
			continue;
		if (strncasecmp(hay->p + i, needle, n) == 0)
			return true;
	}
	return false;
}

/* The tools that announce themselves; sipvicious 0.3 sends "friendly-scanner". */
static const char *const scanners[] = {
	"friendly-scanner", "sipvicious", "sipcli", "vaxsipuseragent", "pplsip", "iwar",
	"sundayddr",
};

bool guard_ua_is_scanner(const struct pl *ua, const struct config_strlist *extra)
{
	if (!pl_isset(ua))
		return false;
	for (size_t i = 0; i < ARRAY_SIZE(scanners); i++) {
		if (contains_ci(ua, scanners[i]))
			return true;
	}
	for (unsigned i = 0; extra && i < extra->n; i++) {
		if (contains_ci(ua, extra->v[i]))
			return true;
	}
	return false;
}

/* The user part of a sip:, sips: or tel: URI at the start of u; unset if none. */
static struct pl uri_user(struct pl u)
{
	struct pl user = { NULL, 0 };
	size_t skip;

	if (u.l >= 4 && strncasecmp(u.p, "sip:", 4) == 0)
		skip = 4;
	else if (u.l >= 5 && strncasecmp(u.p, "sips:", 5) == 0)
		skip = 5;
	else if (u.l >= 4 && strncasecmp(u.p, "tel:", 4) == 0) {
		size_t i = 4;

		while (i < u.l && u.p[i] != ';' && u.p[i] != '>' && u.p[i] != ' ' &&
		       u.p[i] != '\r' && u.p[i] != '\n')
			i++;
		user.p = u.p + 4;
		user.l = i - 4;
		return user;
	} else {
		return user;
	}
	for (size_t i = skip; i < u.l; i++) {
		char c = u.p[i];

		if (c == '@') {
			user.p = u.p + skip;
			user.l = i - skip;
			return user;
		}
		if (c == ';' || c == '>' || c == ' ' || c == '\r' || c == '\n' || c == '?')
			break;
	}
	return user;
}

static enum guard_class method_class(const char *p, size_t l)
{
	if (l == 6 && memcmp(p, "INVITE", 6) == 0)
		return GUARD_CL_INVITE;
	if (l == 8 && memcmp(p, "REGISTER", 8) == 0)
		return GUARD_CL_REGISTER;
	if (l == 7 && memcmp(p, "OPTIONS", 7) == 0)
		return GUARD_CL_OPTIONS;
	return GUARD_CL_OTHER;
}

/* A header line's name is name (case-insensitive), then optional blanks and ':'. */
static bool hdr_is(const char *p, size_t l, const char *name, size_t nl, size_t *vstart)
{
	size_t i = nl;

	if (l < nl + 1 || strncasecmp(p, name, nl) != 0)
		return false;
	while (i < l && (p[i] == ' ' || p[i] == '\t'))
		i++;
	if (i >= l || p[i] != ':')
		return false;
	i++;
	while (i < l && (p[i] == ' ' || p[i] == '\t'))
		i++;
	*vstart = i;
	return true;
}

static bool lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The user of a To value (its continuation lines included): a quoted display
 * name is skipped, so a '<' inside it does not count; then the URI inside
 * <...>, or the value itself.
 */
static struct pl to_user(const char *v, size_t l)
{
	const char *p = v, *end = v + l, *lt;

	while (p < end && lws(*p))
		p++;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && p + 1 < end)
				p++;
		}
		if (p < end)
			p++;
		while (p < end && lws(*p))
			p++;
	}
	lt = memchr(p, '<', (size_t)(end - p));
	if (lt)
		p = lt + 1;
	while (p < end && lws(*p))
		p++;
	return uri_user((struct pl){ p, (size_t)(end - p) });
}

/*
 * One pass over the first line and, when headers is set, the header lines
 * up to the blank line: nothing is validated, anything unrecognised is just
 * left unset. Bounded by len.
 */
void guard_scan(const char *data, size_t len, bool headers, struct guard_scan *s)
{
	const char *end = data + len, *nl, *sp;
	const char *p;

	memset(s, 0, sizeof(*s));
	s->cls = GUARD_CL_OTHER;
	nl = memchr(data, '\n', len);
	if (!nl)
		nl = end;
	if (len >= 12 && memcmp(data, "SIP/2.0 ", 8) == 0) {
		s->cls = GUARD_CL_RESPONSE;
		for (int i = 8; i < 11; i++) {
			if (data[i] < '0' || data[i] > '9') {
				s->status = 0;
				break;
			}
			s->status = (uint16_t)(s->status * 10 + (data[i] - '0'));
		}
	} else {
		sp = memchr(data, ' ', (size_t)(nl - data));
		if (sp) {
			const char *uri = sp + 1;
			const char *uend = memchr(uri, ' ', (size_t)(nl - uri));

			s->cls = method_class(data, (size_t)(sp - data));
			if (!uend)
				uend = nl;
			s->ruri_user = uri_user((struct pl){ uri, (size_t)(uend - uri) });
		}
	}
	if (!headers)
		return;
	for (p = nl < end ? nl + 1 : end; p < end; p = nl + 1) {
		size_t l, v;

		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		l = (size_t)(nl - p);
		if (l && p[l - 1] == '\r')
			l--;
		if (l == 0)
			break;   /* end of the headers */
		switch (p[0] | 0x20) {
		case 'u':
			if (!pl_isset(&s->ua) && hdr_is(p, l, "user-agent", 10, &v)) {
				s->ua.p = p + v;
				s->ua.l = l - v;
			}
			break;
		case 't':
			if (!pl_isset(&s->to_user) &&
			    (hdr_is(p, l, "to", 2, &v) || hdr_is(p, l, "t", 1, &v))) {
				const char *hend = nl;

				/* folded: continuation lines start with a blank */
				while (hend + 1 < end && (hend[1] == ' ' || hend[1] == '\t')) {
					const char *n2 = memchr(hend + 1, '\n', (size_t)(end - hend - 1));

					hend = n2 ? n2 : end;
				}
				s->to_user = to_user(p + v, (size_t)(hend - (p + v)));
			}
			break;
		default:
			break;
		}
		if (nl == end)
			break;
	}
}
