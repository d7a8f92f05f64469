/* scan: tokens, quoted strings, comma-separated values, parameters, escapes, host and port. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "sip_int.h"

/* Take a token (RFC 3261 25.1) from the cursor; false if none is there. */
bool sip_scan_token(struct pl *cursor, struct pl *tok)
{
	size_t n = 0;

	while (n < cursor->l && sip_is(cursor->p[n], SIP_C_TOKEN))
		n++;
	tok->p = cursor->p;
	tok->l = n;
	pl_advance(cursor, n);
	return n > 0;
}

/*
 * The cursor stands on a double quote: take the quoted string, honouring
 * quoted-pairs, and return its inside (still escaped). EBADMSG when the
 * closing quote is missing or a NUL, CR or LF is quoted.
 */
int sip_scan_quoted(struct pl *cursor, struct pl *inner)
{
	size_t i = 1;

	if (!cursor->l || cursor->p[0] != '"')
		return EBADMSG;
	while (i < cursor->l) {
		char c = cursor->p[i];

		if (c == '"') {
			inner->p = cursor->p + 1;
			inner->l = i - 1;
			pl_advance(cursor, i + 1);
			return 0;
		}
		if (c == '\\') {
			if (i + 1 >= cursor->l)
				return EBADMSG;
			c = cursor->p[i + 1];
			if (c == '\0' || c == '\r' || c == '\n')
				return EBADMSG;
			i += 2;
			continue;
		}
		if (c == '\0')
			return EBADMSG;
		i++;
	}
	return EBADMSG;
}

/*
 * Take the next comma-separated element of a header value: commas inside
 * quoted strings and angle brackets do not split. Empty elements are
 * skipped. False when nothing is left.
 */
bool sip_split_value(struct pl *rest, struct pl *val)
{
	for (;;) {
		size_t i = 0;
		bool quoted = false;
		unsigned angle = 0;

		sip_skip_ws(rest);
		if (!rest->l)
			return false;
		if (!memchr(rest->p, ',', rest->l)) {
			/* no comma at all: one value, whatever it quotes */
			*val = pl_trim(*rest);
			pl_advance(rest, rest->l);
			return val->l > 0;
		}
		for (; i < rest->l; i++) {
			char c = rest->p[i];

			if (quoted) {
				if (c == '\\' && i + 1 < rest->l)
					i++;
				else if (c == '"')
					quoted = false;
				continue;
			}
			if (c == '"')
				quoted = true;
			else if (c == '<')
				angle++;
			else if (c == '>' && angle)
				angle--;
			else if (c == ',' && !angle)
				break;
		}
		val->p = rest->p;
		val->l = i;
		*val = pl_trim(*val);
		pl_advance(rest, i < rest->l ? i + 1 : i);
		if (val->l)
			return true;
	}
}

static bool is_pchar(char c)
{
	return sip_is(c, SIP_C_TOKEN | SIP_C_PARAM);
}

/*
 * Take the next ";name[=value]" from the cursor. A quoted value is returned
 * without its quotes. False at the end, or at anything that is not a
 * parameter (sip_params_check tells the two apart).
 */
bool sip_param_next(struct pl *cursor, struct pl *name, struct pl *val)
{
	struct pl c = *cursor;
	size_t n = 0;

	sip_skip_ws(&c);
	if (!c.l || c.p[0] != ';')
		return false;
	pl_advance(&c, 1);
	sip_skip_ws(&c);
	while (n < c.l && is_pchar(c.p[n]))
		n++;
	if (!n)
		return false;
	name->p = c.p;
	name->l = n;
	pl_advance(&c, n);
	sip_skip_ws(&c);
	val->p = c.p;
	val->l = 0;
	if (c.l && c.p[0] == '=') {
		pl_advance(&c, 1);
		sip_skip_ws(&c);
		if (c.l && c.p[0] == '"') {
			if (sip_scan_quoted(&c, val))
				return false;
		} else {
			n = 0;
			while (n < c.l && (is_pchar(c.p[n]) || c.p[n] == '@'))
				n++;
			if (!n)
				return false;
			val->p = c.p;
			val->l = n;
			pl_advance(&c, n);
		}
	}
	*cursor = c;
	return true;
}

/* Find a parameter by name, any case. */
bool sip_param_get(const struct pl *params, const char *name, struct pl *val)
{
	struct pl c = *params, n, v;

	while (sip_param_next(&c, &n, &v)) {
		if (pl_caseeq_str(&n, name)) {
			if (val)
				*val = v;
			return true;
		}
	}
	return false;
}

/*
 * Walk a parameter list once: check that it is well formed and within
 * SIP_MAX_PARAMS, and pick out the wanted parameters (first occurrence
 * wins). The typed parsers use this instead of one sip_param_get per name.
 */
int sip_params_scan(const struct pl *params, const struct sip_param_want *wv, size_t wc)
{
	struct pl c = *params, n, v;
	unsigned count = 0;
	uint32_t seen = 0;

	if (wc > 32)
		return EINVAL;
	for (size_t i = 0; i < wc; i++) {
		if (wv[i].found)
			*wv[i].found = false;
	}
	while (sip_param_next(&c, &n, &v)) {
		if (++count > SIP_MAX_PARAMS)
			return EMSGSIZE;
		for (size_t i = 0; i < wc; i++) {
			if (n.l != wv[i].name.l || !pl_caseeq(&n, &wv[i].name))
				continue;
			if (seen & (1u << i))
				break;
			seen |= 1u << i;
			if (wv[i].found)
				*wv[i].found = true;
			*wv[i].val = v;
			break;
		}
	}
	sip_skip_ws(&c);
	return c.l ? EBADMSG : 0;
}

/* Whole parameter list well formed and within SIP_MAX_PARAMS? */
int sip_params_check(const struct pl *params)
{
	return sip_params_scan(params, NULL, 0);
}

/* Inside of a quoted string with its quoted-pairs resolved, NUL-terminated. */
int sip_unquote(const struct pl *quoted, char *out, size_t size, size_t *len)
{
	size_t o = 0;

	for (size_t i = 0; i < quoted->l; i++) {
		char c = quoted->p[i];

		if (c == '\\' && i + 1 < quoted->l)
			c = quoted->p[++i];
		if (o + 1 >= size)
			return ENOSPC;
		out[o++] = c;
	}
	if (!size)
		return ENOSPC;
	out[o] = '\0';
	if (len)
		*len = o;
	return 0;
}

/* Every % followed by two hex digits? */
bool sip_escapes_valid(const struct pl *pl)
{
	for (size_t i = 0; i < pl->l; i++) {
		if (pl->p[i] != '%')
			continue;
		if (pl->l - i < 3)
			return false;
		if (hex_digit(pl->p[i + 1]) < 0 || hex_digit(pl->p[i + 2]) < 0)
			return false;
		i += 2;
	}
	return true;
}

/*
 * Resolve %HH escapes into out (NUL-terminated, may hold NUL bytes inside:
 * use *len). EBADMSG for a broken escape, ENOSPC when out is too small.
 */
int sip_unescape(const struct pl *in, char *out, size_t size, size_t *len)
{
	size_t o = 0;

	for (size_t i = 0; i < in->l; i++) {
		char c = in->p[i];

		if (c == '%') {
			int hi, lo;

			if (in->l - i < 3)
				return EBADMSG;
			hi = hex_digit(in->p[i + 1]);
			lo = hex_digit(in->p[i + 2]);
			if (hi < 0 || lo < 0)
				return EBADMSG;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (o + 1 >= size)
			return ENOSPC;
		out[o++] = c;
	}
	if (!size)
		return ENOSPC;
	out[o] = '\0';
	if (len)
		*len = o;
	return 0;
}

static bool hostname_valid(const struct pl *h)
{
	size_t label = 0;

	if (!h->l || h->l > 255)
		return false;
	for (size_t i = 0; i < h->l; i++) {
		char c = h->p[i];

		if (c == '.') {
			if (!label)
				return false;
			label = 0;
			continue;
		}
		if (!sip_is(c, SIP_C_HOST))
			return false;
		if (c == '-' && !label)
			return false;
		if (++label > 63)
			return false;
	}
	return true;
}

static bool all_digits_dots(const struct pl *h)
{
	for (size_t i = 0; i < h->l; i++) {
		if (h->p[i] != '.' && (h->p[i] < '0' || h->p[i] > '9'))
			return false;
	}
	return true;
}

/* Dotted quad, four parts of one to three digits, each at most 255. */
static bool ipv4_valid(const struct pl *h)
{
	unsigned parts = 0, digits = 0, val = 0;

	for (size_t i = 0; i <= h->l; i++) {
		char c = i < h->l ? h->p[i] : '.';

		if (c == '.') {
			if (!digits || val > 255 || ++parts > 4)
				return false;
			digits = 0;
			val = 0;
		} else if (c >= '0' && c <= '9' && digits < 3) {
			val = val * 10 + (unsigned)(c - '0');
			digits++;
		} else {
			return false;
		}
	}
	return parts == 4;
}

/*
 * host[:port] with host a name, an IPv4 address or an IPv6 reference in
 * brackets. host is returned without brackets; port 0 when absent.
 */
int sip_hostport_decode(const struct pl *hp, struct pl *host, uint16_t *port, uint8_t *type)
{
	char tmp[INET6_ADDRSTRLEN + 1];
	unsigned char addr[16];
	struct pl h, ps = PL_INIT;
	uint32_t pv;

	if (!hp->l)
		return EBADMSG;
	if (hp->p[0] == '[') {
		const char *rb = memchr(hp->p, ']', hp->l);

		if (!rb)
			return EBADMSG;
		h.p = hp->p + 1;
		h.l = (size_t)(rb - hp->p) - 1;
		if (pl_strcpy(&h, tmp, sizeof(tmp)) || inet_pton(AF_INET6, tmp, addr) != 1)
			return EBADMSG;
		*type = SIP_HOST_IPV6;
		ps.p = rb + 1;
		ps.l = hp->l - (size_t)(ps.p - hp->p);
		if (ps.l && ps.p[0] != ':')
			return EBADMSG;
	} else {
		const char *colon = memchr(hp->p, ':', hp->l);

		h.p = hp->p;
		h.l = colon ? (size_t)(colon - hp->p) : hp->l;
		if (colon) {
			ps.p = colon;
			ps.l = hp->l - h.l;
		}
		if (all_digits_dots(&h)) {
			if (!ipv4_valid(&h))
				return EBADMSG;
			*type = SIP_HOST_IPV4;
		} else if (hostname_valid(&h)) {
			*type = SIP_HOST_NAME;
		} else {
			return EBADMSG;
		}
	}
	*port = 0;
	if (ps.l) {
		pl_advance(&ps, 1);
		if (ps.l > 5 || pl_u32(&ps, &pv) || pv == 0 || pv > 65535)
			return EBADMSG;
		*port = (uint16_t)pv;
	}
	*host = h;
	return 0;
}
