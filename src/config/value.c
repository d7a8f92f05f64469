/* value: parse and check one configuration value of each schema type, and compare addresses. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config_int.h"

/* printf-style "why" into the caller's buffer; always returns EINVAL. */
static int why_set(char *why, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int why_set(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return EINVAL;
}

/* Quote untrusted text for an error line: capped, control bytes escaped. */
void config_quote(char *out, size_t size, const char *s)
{
	log_excerpt(out, size, s, strlen(s));
}

/* Control characters would corrupt log lines and SIP headers. */
static bool has_ctl(const char *s)
{
	for (; *s; s++) {
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	}
	return false;
}

/* Whole decimal number, digits only (util's pl_u32 on a C string). */
static int parse_u32(const char *s, uint32_t *v)
{
	struct pl pl = pl_from_str(s);

	return pl_u32(&pl, v);
}

/* A whole number within the key's min..max. */
static int parse_bounded(const struct config_key *k, const char *val, uint32_t *v,
			 char *why, size_t size)
{
	char q[80];
	int err = parse_u32(val, v);

	config_quote(q, sizeof(q), val);
	if (err == EINVAL)
		return why_set(why, size, "\"%s\" is not a whole number", q);
	if (err || *v < k->min || *v > k->max)
		return why_set(why, size, "%s is out of range (%u-%u)", q,
			       (unsigned)k->min, (unsigned)k->max);
	return 0;
}

/* Printable text that fits the field (k->size, NUL included). */
static int parse_string(const struct config_key *k, const char *val, char *dst,
			char *why, size_t size)
{
	size_t len = strlen(val);

	if (len >= k->size)
		return why_set(why, size, "value is too long (max %zu characters)", k->size - 1);
	if (has_ctl(val))
		return why_set(why, size, "value contains control characters");
	memcpy(dst, val, len + 1);
	return 0;
}

/* An absolute path: sbcd runs with "/" as its folder once daemonised. */
static int parse_path(const struct config_key *k, const char *val, char *dst,
		      char *why, size_t size)
{
	char q[80];

	if (val[0] != '/') {
		config_quote(q, sizeof(q), val);
		return why_set(why, size, "\"%s\" is not an absolute path", q);
	}
	return parse_string(k, val, dst, why, size);
}

/* Linux interface names: 1-15 bytes, no '/', ':' or white space, not "." or "..". */
static int parse_ifname(const char *val, char *dst, char *why, size_t size)
{
	char q[80];
	size_t len = strlen(val);
	bool ok = len > 0 && len < IFNAMSIZ && strcmp(val, ".") && strcmp(val, "..");

	for (const char *p = val; ok && *p; p++) {
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p) || !isprint((unsigned char)*p))
			ok = false;
	}
	if (!ok) {
		config_quote(q, sizeof(q), val);
		return why_set(why, size, "\"%s\" is not an interface name (1-%d characters, no '/', ':' or spaces)",
			       q, IFNAMSIZ - 1);
	}
	memcpy(dst, val, len + 1);
	return 0;
}

/* Unix user names as Debian's adduser accepts them by default: [a-z_][a-z0-9_-]*, max 32. */
static int parse_user(const char *val, char *dst, char *why, size_t size)
{
	char q[80];
	size_t len = strlen(val);
	bool ok = len > 0 && len <= 32 && (islower((unsigned char)val[0]) || val[0] == '_');

	for (const char *p = val; ok && *p; p++) {
		if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_' && *p != '-')
			ok = false;
	}
	if (!ok) {
		config_quote(q, sizeof(q), val);
		return why_set(why, size, "\"%s\" is not a user name (a-z, 0-9, _ and -, max 32)", q);
	}
	memcpy(dst, val, len + 1);
	return 0;
}

/* The usual spellings of yes and no, in any case. */
static int parse_bool(const char *val, bool *dst, char *why, size_t size)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	char q[80];

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcasecmp(val, yes[i]) == 0) {
			*dst = true;
			return 0;
		}
		if (strcasecmp(val, no[i]) == 0) {
			*dst = false;
			return 0;
		}
	}
	config_quote(q, sizeof(q), val);
	return why_set(why, size, "\"%s\" is not yes or no", q);
}

/* One of k->names (any case) as its index; the error lists the choices. */
static int parse_enum(const struct config_key *k, const char *val, int *dst,
		      char *why, size_t size)
{
	char q[80], list[128];
	struct wbuf wb;

	for (int i = 0; k->names[i]; i++) {
		if (strcasecmp(val, k->names[i]) == 0) {
			*dst = i;
			return 0;
		}
	}
	list[0] = '\0';
	wbuf_init(&wb, list, sizeof(list));
	for (int i = 0; k->names[i]; i++)
		wbuf_printf(&wb, "%s%s", i ? ", " : "", k->names[i]);
	config_quote(q, sizeof(q), val);
	return why_set(why, size, "\"%s\" is not one of: %s", q, list);
}

/* RTP ports: "START-END", START even (RTP on even ports, RTCP above), END > START, 1024-65535. */
static int parse_range(const char *val, struct config_range *r, char *why, size_t size)
{
	char q[80], a[16], b[16];
	const char *dash = strchr(val, '-');
	struct pl pa, pb;
	uint32_t lo, hi;

	config_quote(q, sizeof(q), val);
	if (!dash)
		return why_set(why, size, "\"%s\" is not a port range START-END", q);
	pa = pl_trim((struct pl){ val, (size_t)(dash - val) });
	pb = pl_trim(pl_from_str(dash + 1));
	if (pl_strcpy(&pa, a, sizeof(a)) || pl_strcpy(&pb, b, sizeof(b)) ||
	    parse_u32(a, &lo) || parse_u32(b, &hi))
		return why_set(why, size, "\"%s\" is not a port range START-END", q);
	if (lo < 1024 || hi > 65535 || lo > 65535)
		return why_set(why, size, "range %s must lie within 1024-65535", q);
	if (lo % 2)
		return why_set(why, size, "range %s must start on an even port", q);
	if (hi <= lo)
		return why_set(why, size, "range %s must end above its start", q);
	r->start = (uint16_t)lo;
	r->end = (uint16_t)hi;
	return 0;
}

/* IPv4 or IPv6 literal into a (port 0) socket address; EINVAL otherwise. */
int config_addr_parse(struct config_addr *a, const char *s)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;

	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		a->sslen = sizeof(*sin);
		inet_ntop(AF_INET, &sin->sin_addr, a->text, sizeof(a->text));
	} else if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		a->sslen = sizeof(*sin6);
		inet_ntop(AF_INET6, &sin6->sin6_addr, a->text, sizeof(a->text));
	} else {
		memset(a, 0, sizeof(*a));
		return EINVAL;
	}
	a->set = true;
	return 0;
}

/* An address literal; zone addresses are never resolved through DNS. */
static int parse_addr(const char *val, struct config_addr *a, char *why, size_t size)
{
	char q[80];

	if (config_addr_parse(a, val) == 0)
		return 0;
	config_quote(q, sizeof(q), val);
	return why_set(why, size, "\"%s\" is not an IPv4 or IPv6 address", q);
}

/* DNS name: labels of letters, digits and '-', 1-63 each, 253 in all, not all-numeric. */
static bool host_name_valid(const char *s)
{
	size_t label = 0, len = strlen(s);
	bool alpha = false;

	if (len == 0 || len > CONFIG_HOST_MAX - 1)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char ch = s[i];

		if (ch == '.' || ch == '\0') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (ch == '-' && label == 0)
			return false;
		if (isalpha((unsigned char)ch) || ch == '-')
			alpha = true;
		else if (!isdigit((unsigned char)ch))
			return false;
		label++;
	}
	return alpha;
}

/* An address literal (addr set) or a DNS name (addr unset, resolved later). */
static int parse_host(const char *val, struct config_host *h, char *why, size_t size)
{
	char q[80];

	memset(h, 0, sizeof(*h));
	if (config_addr_parse(&h->addr, val) != 0 && !host_name_valid(val)) {
		config_quote(q, sizeof(q), val);
		return why_set(why, size, "\"%s\" is not an address or host name", q);
	}
	snprintf(h->name, sizeof(h->name), "%s", val);
	return 0;
}

/* "ADDRESS:PORT" or "[IPV6]:PORT"; port 1-65535. */
static int parse_endpoint(const char *val, struct config_endpoint *e, char *why, size_t size)
{
	char q[80], host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hp = val;
	size_t hl;
	uint32_t port;

	config_quote(q, sizeof(q), val);
	if (val[0] == '[') {
		const char *close = strchr(val, ']');

		if (!close || close[1] != ':')
			return why_set(why, size, "\"%s\" is not [IPV6]:PORT", q);
		hp = val + 1;
		hl = (size_t)(close - hp);
		colon = close + 1;
	} else {
		colon = strchr(val, ':');
		if (!colon || strchr(colon + 1, ':'))
			return why_set(why, size,
				       "\"%s\" is not ADDRESS:PORT (an IPv6 address goes in brackets: [ADDRESS]:PORT)", q);
		hl = (size_t)(colon - val);
	}
	if (hl >= sizeof(host))
		return why_set(why, size, "\"%s\" does not start with an IPv4 or IPv6 address", q);
	memcpy(host, hp, hl);
	host[hl] = '\0';
	if (config_addr_parse(&e->addr, host) != 0 ||
	    (val[0] == '[') != (e->addr.ss.ss_family == AF_INET6))
		return why_set(why, size, "\"%s\" does not start with an IPv4 or IPv6 address", q);
	if (parse_u32(colon + 1, &port) || port < 1 || port > 65535)
		return why_set(why, size, "\"%s\" does not end with a port 1-65535", q);
	e->port = (uint16_t)port;
	if (e->addr.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&e->addr.ss)->sin_port = htons(e->port);
	else
		((struct sockaddr_in6 *)&e->addr.ss)->sin6_port = htons(e->port);
	return 0;
}

/* The address bytes of an AF_INET or AF_INET6 socket address, or NULL. */
static const uint8_t *addr_bytes(const struct sockaddr *sa, size_t *len)
{
	if (sa->sa_family == AF_INET) {
		*len = 4;
		return (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	}
	if (sa->sa_family == AF_INET6) {
		*len = 16;
		return (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	}
	*len = 0;
	return NULL;
}

/* Canonical "NETWORK/PREFIX" text of c. */
static void cidr_text(struct config_cidr *c)
{
	char a[INET6_ADDRSTRLEN];

	inet_ntop(c->family, c->net, a, sizeof(a));
	snprintf(c->text, sizeof(c->text), "%s/%u", a, c->prefix);
}

/* The single-address block (/32 or /128) holding a. */
int config_cidr_from_addr(struct config_cidr *c, const struct config_addr *a)
{
	size_t len;
	const uint8_t *b = addr_bytes((const struct sockaddr *)&a->ss, &len);

	if (!b)
		return EINVAL;
	memset(c, 0, sizeof(*c));
	c->family = a->ss.ss_family;
	c->prefix = (uint8_t)(len * 8);
	memcpy(c->net, b, len);
	cidr_text(c);
	return 0;
}

/* The block of prefix bits holding a, host bits cleared; EINVAL for a prefix too long for the family. */
int config_cidr_of(struct config_cidr *c, const struct config_addr *a, unsigned prefix)
{
	size_t len;

	if (config_cidr_from_addr(c, a))
		return EINVAL;
	len = c->family == AF_INET ? 4 : 16;
	if (prefix > len * 8)
		return EINVAL;
	c->prefix = (uint8_t)prefix;
	for (size_t i = 0; i < len; i++) {
		unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;

		c->net[i] &= (uint8_t)(0xff00u >> keep);
	}
	cidr_text(c);
	return 0;
}

/* "ADDRESS/PREFIX" or a bare address; host bits must be zero. */
static int parse_cidr(const char *val, struct config_cidr *c, char *why, size_t size)
{
	char q[80], host[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(val, '/');
	size_t hl = slash ? (size_t)(slash - val) : strlen(val), blen;
	struct config_addr a;
	uint32_t prefix;
	const uint8_t *b;

	config_quote(q, sizeof(q), val);
	if (hl >= sizeof(host))
		return why_set(why, size, "\"%s\" is not an address block ADDRESS/PREFIX", q);
	memcpy(host, val, hl);
	host[hl] = '\0';
	if (config_addr_parse(&a, host))
		return why_set(why, size, "\"%s\" is not an address block ADDRESS/PREFIX", q);
	config_cidr_from_addr(c, &a);
	b = addr_bytes((const struct sockaddr *)&a.ss, &blen);
	if (!slash)
		return 0;
	if (parse_u32(slash + 1, &prefix) || config_cidr_of(c, &a, prefix))
		return why_set(why, size, "\"%s\" has a bad prefix length (0-%zu)", q, blen * 8);
	if (memcmp(c->net, b, blen) != 0)
		return why_set(why, size, "\"%s\" has host bits set (the block is %s)", q, c->text);
	return 0;
}

/*
 * Split a comma-separated list into trimmed items; empty items are refused.
 * Calls item(i, text, arg) for each; stops at the first error.
 */
static int list_split(const char *val, uint32_t max, unsigned *count,
		      int (*item)(unsigned i, const char *s, void *arg), void *arg,
		      char *why, size_t size)
{
	char tmp[CONFIG_LINE_MAX + 1];
	unsigned n = 0;
	struct pl rest = pl_from_str(val);

	for (;;) {
		const char *comma = pl_chr(&rest, ',');
		struct pl it = { rest.p, comma ? (size_t)(comma - rest.p) : rest.l };
		int err;

		it = pl_trim(it);
		if (!it.l)
			return why_set(why, size, "empty item in the list");
		if (n >= max)
			return why_set(why, size, "more than %u items in the list", (unsigned)max);
		if (pl_strcpy(&it, tmp, sizeof(tmp)))
			return why_set(why, size, "list item too long");
		if (item) {
			err = item(n, tmp, arg);
			if (err)
				return err;
		}
		n++;
		if (!comma)
			break;
		rest.l -= (size_t)(comma + 1 - rest.p);
		rest.p = comma + 1;
	}
	*count = n;
	return 0;
}

struct list_fill {
	enum config_type item;
	char *why;
	size_t size;
	const char **v;          /* NULL while counting */
	char *strs;
	struct config_cidr *cidrs;
};

/* list_split callback: check one item; on the filling pass copy it. */
static int strlist_item(unsigned i, const char *s, void *arg)
{
	struct list_fill *f = arg;
	struct config_host h;
	char q[80];

	if (has_ctl(s))
		return why_set(f->why, f->size, "list item contains control characters");
	if (f->item == CONFIG_T_HOST && parse_host(s, &h, f->why, f->size))
		return EINVAL;
	if (f->item == CONFIG_T_STRING && strlen(s) > 128) {
		config_quote(q, sizeof(q), s);
		return why_set(f->why, f->size, "list item \"%s\" is too long (max 128 characters)", q);
	}
	if (f->v) {
		size_t len = strlen(s) + 1;

		memcpy(f->strs, s, len);
		f->v[i] = f->strs;
		f->strs += len;
	}
	return 0;
}

/* One allocation: n+1 pointers, then the strings they point to. */
static int parse_strlist(const struct config_key *k, const char *val, struct config_strlist *l,
			 char *why, size_t size)
{
	struct list_fill f = { .item = k->item, .why = why, .size = size };
	unsigned n;
	int err;
	size_t len = strlen(val) + 1;
	void *mem;

	err = list_split(val, k->max, &n, strlist_item, &f, why, size);
	if (err)
		return err;
	mem = mem_zalloc((n + 1) * sizeof(char *) + len, NULL);
	if (!mem)
		return ENOMEM;
	f.v = mem;
	f.strs = (char *)mem + (n + 1) * sizeof(char *);
	list_split(val, k->max, &n, strlist_item, &f, why, size);
	l->n = n;
	l->v = (const char *const *)f.v;
	return 0;
}

/* list_split callback: parse one block; on the filling pass store it. */
static int cidr_item(unsigned i, const char *s, void *arg)
{
	struct list_fill *f = arg;
	struct config_cidr c;

	if (parse_cidr(s, &c, f->why, f->size))
		return EINVAL;
	if (f->cidrs)
		f->cidrs[i] = c;
	return 0;
}

/* One allocation holding every block of the list. */
static int parse_cidrlist(const struct config_key *k, const char *val, struct config_cidrlist *l,
			  char *why, size_t size)
{
	struct list_fill f = { .why = why, .size = size };
	unsigned n;
	int err;

	err = list_split(val, k->max, &n, cidr_item, &f, why, size);
	if (err)
		return err;
	f.cidrs = mem_zalloc(n * sizeof(*f.cidrs), NULL);
	if (!f.cidrs)
		return ENOMEM;
	list_split(val, k->max, &n, cidr_item, &f, why, size);
	l->n = n;
	l->v = f.cidrs;
	return 0;
}

struct set_fill {
	const struct config_key *k;
	unsigned bits;
	char *why;
	size_t size;
};

/* list_split callback: one name of the set, each at most once. */
static int set_item(unsigned i, const char *s, void *arg)
{
	struct set_fill *f = arg;
	char q[80];
	int idx = 0;

	(void)i;
	if (parse_enum(f->k, s, &idx, f->why, f->size))
		return EINVAL;
	if (f->bits & (1u << idx)) {
		config_quote(q, sizeof(q), s);
		return why_set(f->why, f->size, "\"%s\" is listed more than once", q);
	}
	f->bits |= 1u << idx;
	return 0;
}

/* Comma-separated names of k->names, any case, as bits 1 << index; order does not matter. */
static int parse_set(const struct config_key *k, const char *val, unsigned *dst,
		     char *why, size_t size)
{
	struct set_fill f = { .k = k, .why = why, .size = size };
	unsigned n;
	int err;

	err = list_split(val, CONFIG_LIST_MAX, &n, set_item, &f, why, size);
	if (!err)
		*dst = f.bits;
	return err;
}

/*
 * Parse val as the key's type into dst (the field). Returns 0, EINVAL with
 * a reason in why (no "section key:" prefix), or ENOMEM. On error dst may
 * hold a partial value but owns no memory.
 */
int config_value_parse(const struct config_key *k, const char *val, void *dst,
		       char *why, size_t whysize)
{
	uint32_t v;
	int err;

	switch (k->type) {
	case CONFIG_T_STRING:
		return parse_string(k, val, dst, why, whysize);
	case CONFIG_T_PATH:
		return parse_path(k, val, dst, why, whysize);
	case CONFIG_T_IFNAME:
		return parse_ifname(val, dst, why, whysize);
	case CONFIG_T_USER:
		return parse_user(val, dst, why, whysize);
	case CONFIG_T_BOOL:
		return parse_bool(val, dst, why, whysize);
	case CONFIG_T_UINT:
		err = parse_bounded(k, val, &v, why, whysize);
		if (!err)
			*(unsigned *)dst = v;
		return err;
	case CONFIG_T_PORT:
		err = parse_bounded(k, val, &v, why, whysize);
		if (!err)
			*(uint16_t *)dst = (uint16_t)v;
		return err;
	case CONFIG_T_RANGE:
		return parse_range(val, dst, why, whysize);
	case CONFIG_T_ADDR:
		return parse_addr(val, dst, why, whysize);
	case CONFIG_T_HOST:
		return parse_host(val, dst, why, whysize);
	case CONFIG_T_ENUM:
		return parse_enum(k, val, dst, why, whysize);
	case CONFIG_T_LIST:
		return parse_strlist(k, val, dst, why, whysize);
	case CONFIG_T_CIDRS:
		return parse_cidrlist(k, val, dst, why, whysize);
	case CONFIG_T_ENDPOINT:
		return parse_endpoint(val, dst, why, whysize);
	case CONFIG_T_SET:
		return parse_set(k, val, dst, why, whysize);
	}
	return why_set(why, whysize, "unsupported type");
}

/* Release what a list field owns and clear it. */
void config_value_free(const struct config_key *k, void *dst)
{
	if (k->type == CONFIG_T_LIST) {
		struct config_strlist *l = dst;

		mem_deref((void *)(uintptr_t)l->v);
		l->v = NULL;
		l->n = 0;
	} else if (k->type == CONFIG_T_CIDRS) {
		struct config_cidrlist *l = dst;

		l->v = mem_deref(l->v);
		l->n = 0;
	}
}

/* Same family and address bytes; both must be set. */
bool config_addr_eq(const struct config_addr *a, const struct config_addr *b)
{
	size_t la, lb;
	const uint8_t *pa, *pb;

	if (!a->set || !b->set)
		return false;
	pa = addr_bytes((const struct sockaddr *)&a->ss, &la);
	pb = addr_bytes((const struct sockaddr *)&b->ss, &lb);
	return pa && pb && la == lb && memcmp(pa, pb, la) == 0;
}

/* True when sa (AF_INET or AF_INET6) lies inside block c. */
bool config_cidr_match(const struct config_cidr *c, const struct sockaddr *sa)
{
	size_t len;
	const uint8_t *b = addr_bytes(sa, &len);
	unsigned full, rem;

	if (!b || sa->sa_family != c->family)
		return false;
	full = c->prefix / 8u;
	rem = c->prefix % 8u;
	if (memcmp(b, c->net, full) != 0)
		return false;
	return rem == 0 || ((b[full] ^ c->net[full]) & (uint8_t)(0xff00u >> rem)) == 0;
}

/* True when sa lies inside any block of l. */
bool config_cidrlist_match(const struct config_cidrlist *l, const struct sockaddr *sa)
{
	for (unsigned i = 0; i < l->n; i++) {
		if (config_cidr_match(&l->v[i], sa))
			return true;
	}
	return false;
}
