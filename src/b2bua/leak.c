/* leak: the leak checker: finds the private side's addresses and names in messages bound for the public zone. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "b2bua_int.h"

/* Character classes of the scanner. */
enum {
	LC_WORD = 1 << 0,     /* [A-Za-z0-9_-]: inside a label; anything else bounds one */
	LC_DIGIT = 1 << 1,
	LC_HEX = 1 << 2,
	LC_V6 = 1 << 3,       /* [0-9A-Fa-f:.]: may continue an IPv6 literal */
	LC_NAME = 1 << 4,     /* [A-Za-z0-9_.-]: may stand in a needle name */
	LC_MARK = 1 << 5,     /* '%' and ':': may start an escape or an IPv6 literal */
};

static uint8_t lc_class[256];
static uint8_t lc_lower[256];

__attribute__((constructor)) static void leak_tables_init(void)
{
	for (unsigned c = 0; c < 256; c++) {
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
		bool digit = c >= '0' && c <= '9';
		bool hex = digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
		uint8_t f = 0;

		if (alpha || digit || c == '_' || c == '-')
			f |= LC_WORD | LC_NAME;
		if (c == '.')
			f |= LC_NAME;
		if (digit)
			f |= LC_DIGIT;
		if (hex)
			f |= LC_HEX | LC_V6;
		if (c == ':' || c == '.')
			f |= LC_V6;
		if (c == ':' || c == '%')
			f |= LC_MARK;
		lc_class[c] = f;
		lc_lower[c] = (uint8_t)((c >= 'A' && c <= 'Z') ? c | 0x20 : c);
	}
}

static inline bool is_c(char c, uint8_t cls)
{
	return (lc_class[(unsigned char)c] & cls) != 0;
}

/* An IPv6 address needle: the prefix's bytes, host bits zero, and its length. */
struct leak_v6 {
	uint8_t net[16];
	uint8_t prefix;
};

/* A name needle in the arena, lower case; head/mask: its first (up to) four bytes. */
struct leak_name {
	uint32_t off;
	uint16_t len;
	int16_t next;         /* next name with the same first byte, -1 */
	uint32_t head, mask;
};

struct leak_checker {
	uint32_t v4net[LEAK_ADDRS_MAX];   /* IPv4 needles, host order, host bits zero */
	uint32_t v4mask[LEAK_ADDRS_MAX];
	struct leak_v6 v6[LEAK_ADDRS_MAX];
	unsigned addrc, v4c, v6c;         /* addrc = v4c + v6c <= LEAK_ADDRS_MAX */
	struct leak_name namev[LEAK_NAMES_MAX];
	unsigned namec;
	int16_t bucket[256];  /* first name by lower-case first byte, -1 */
	uint8_t pair[65536 / 8];  /* bit set: some name starts with these two lower-case bytes */
	char *arena;          /* LEAK_ARENA_SIZE bytes, its own allocation */
	size_t arena_len;
	bool enforce;
	struct leak_stats stats;
	char where[LEAK_WHERE_MAX];
};

static void leak_checker_destroy(void *data)
{
	struct leak_checker *l = data;

	mem_deref(l->arena);
}

static int add_v4(struct leak_checker *l, uint32_t a, unsigned prefix)
{
	uint32_t mask = prefix ? ~(uint32_t)0 << (32 - prefix) : 0;

	for (unsigned i = 0; i < l->v4c; i++) {
		if (l->v4mask[i] == mask && l->v4net[i] == (a & mask))
			return 0;
	}
	if (l->addrc >= LEAK_ADDRS_MAX)
		return ENOSPC;
	l->v4net[l->v4c] = a & mask;
	l->v4mask[l->v4c] = mask;
	l->v4c++;
	l->addrc++;
	return 0;
}

static int add_v6(struct leak_checker *l, const uint8_t a[16], unsigned prefix)
{
	struct leak_v6 n = { .prefix = (uint8_t)prefix };
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (!memcmp(a, mapped, sizeof(mapped)) && prefix >= 96)
		return add_v4(l, (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 |
				 (uint32_t)a[14] << 8 | a[15], prefix - 96);
	for (unsigned b = 0; b < prefix; b++)
		n.net[b / 8] |= (uint8_t)(a[b / 8] & (0x80 >> (b % 8)));
	for (unsigned i = 0; i < l->v6c; i++) {
		if (l->v6[i].prefix == n.prefix && !memcmp(l->v6[i].net, n.net, 16))
			return 0;
	}
	if (l->addrc >= LEAK_ADDRS_MAX)
		return ENOSPC;
	l->v6[l->v6c++] = n;
	l->addrc++;
	return 0;
}

static int add_sockaddr(struct leak_checker *l, const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)ss;

		return add_v4(l, ntohl(sin->sin_addr.s_addr), 32);
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)ss;

		return add_v6(l, sin6->sin6_addr.s6_addr, 128);
	}
	return EINVAL;
}

static void name_head(const char *s, size_t n, uint32_t *head, uint32_t *mask)
{
	*head = 0;
	*mask = 0;
	for (size_t i = 0; i < 4 && i < n; i++) {
		*head |= (uint32_t)lc_lower[(unsigned char)s[i]] << (8 * i);
		*mask |= (uint32_t)0xff << (8 * i);
	}
}

/* A host or domain name: labels of [A-Za-z0-9_-] separated by single dots. */
static int add_name(struct leak_checker *l, const char *s, size_t n)
{
	struct leak_name *nm;
	unsigned char first;

	while (n && s[n - 1] == '.')
		n--;
	if (!n || n > CONFIG_HOST_MAX - 1 || s[0] == '.')
		return EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!is_c(s[i], LC_NAME) || (s[i] == '.' && i + 1 < n && s[i + 1] == '.'))
			return EINVAL;
	}
	first = lc_lower[(unsigned char)s[0]];
	for (int i = l->bucket[first]; i >= 0; i = l->namev[i].next) {
		if (l->namev[i].len == n && !strncasecmp(l->arena + l->namev[i].off, s, n))
			return 0;
	}
	if (l->namec >= LEAK_NAMES_MAX || LEAK_ARENA_SIZE - l->arena_len < n)
		return ENOSPC;
	nm = &l->namev[l->namec];
	nm->off = (uint32_t)l->arena_len;
	nm->len = (uint16_t)n;
	for (size_t i = 0; i < n; i++)
		l->arena[l->arena_len++] = (char)lc_lower[(unsigned char)s[i]];
	name_head(s, n, &nm->head, &nm->mask);
	if (n == 1) {
		for (unsigned c = 0; c < 256; c++)
			l->pair[(first << 8 | c) / 8] |= (uint8_t)(1 << (c % 8));
	} else {
		unsigned pr = (unsigned)first << 8 | lc_lower[(unsigned char)s[1]];

		l->pair[pr / 8] |= (uint8_t)(1 << (pr % 8));
	}
	nm->next = l->bucket[first];
	l->bucket[first] = (int16_t)l->namec;
	l->namec++;
	return 0;
}

/*
 * One needle from text: "ADDR", "[ADDR]", "ADDR/PREFIX" or a name.
 * Surrounding white space is ignored.
 */
int leak_checker_add(struct leak_checker *l, const char *needle)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct pl t;
	const char *slash;
	uint8_t a[16];
	uint32_t prefix = 0;
	bool has_prefix = false;

	if (!l || !needle)
		return EINVAL;
	t = pl_trim(pl_from_str(needle));
	if (!t.l)
		return EINVAL;
	if (t.l >= 2 && t.p[0] == '[' && t.p[t.l - 1] == ']') {
		t.p++;
		t.l -= 2;
	}
	slash = pl_chr(&t, '/');
	if (slash) {
		struct pl pfx = { slash + 1, t.l - (size_t)(slash + 1 - t.p) };

		if (pl_u32(&pfx, &prefix))
			return EINVAL;
		has_prefix = true;
		t.l = (size_t)(slash - t.p);
	}
	if (t.l < sizeof(buf) && pl_strcpy(&t, buf, sizeof(buf)) == 0) {
		if (inet_pton(AF_INET, buf, a) == 1) {
			if (has_prefix && prefix > 32)
				return EINVAL;
			return add_v4(l, (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 |
					 (uint32_t)a[2] << 8 | a[3], has_prefix ? prefix : 32);
		}
		if (inet_pton(AF_INET6, buf, a) == 1) {
			if (has_prefix && prefix > 128)
				return EINVAL;
			return add_v6(l, a, has_prefix ? prefix : 128);
		}
	}
	if (has_prefix)
		return EINVAL;
	return add_name(l, t.p, t.l);
}

static int add_host(struct leak_checker *l, const struct config_host *h)
{
	if (h->addr.set)
		return add_sockaddr(l, &h->addr.ss);
	if (h->name[0])
		return add_name(l, h->name, strlen(h->name));
	return 0;
}

static int add_config(struct leak_checker *l, const struct sbc_config *cfg)
{
	const struct config_zone *z = &cfg->zones[ZONE_PRIVATE];
	int err = 0;

	if (z->address.set)
		err = add_sockaddr(l, &z->address.ss);
	if (!err && z->advertise.set)
		err = add_sockaddr(l, &z->advertise.ss);
	if (!err && z->media_address.set)
		err = add_sockaddr(l, &z->media_address.ss);
	if (!err)
		err = add_host(l, &cfg->core.address);
	for (unsigned i = 0; !err && i < cfg->trunk_count; i++) {
		const struct config_trunk *t = &cfg->trunks[i];

		if (t->zone != ZONE_PRIVATE)
			continue;
		err = add_host(l, &t->address);
		if (!err)
			err = add_host(l, &t->domain);
	}
	for (unsigned i = 0; !err && i < cfg->core.hide.n; i++) {
		err = leak_checker_add(l, cfg->core.hide.v[i]);
		if (err)
			log_error("leak checker: core hide entry '%s' is not an address, "
				  "CIDR block or name", cfg->core.hide.v[i]);
	}
	return err;
}

static bool scan_clean(struct leak_checker *l, const char *s, size_t len);

/*
 * A needle that matches what the SBC itself says on the public side would
 * refuse every message: such a configuration is an error.
 */
static int check_public(struct leak_checker *l, const struct sbc_config *cfg)
{
	const struct config_zone *z = &cfg->zones[ZONE_PUBLIC];
	const struct config_addr *a = z->advertise.set ? &z->advertise : &z->address;

	if (a->set && !scan_clean(l, a->text, strlen(a->text))) {
		log_error("leak checker: the public zone's address %s is among the private "
			  "needles: every message would be refused", a->text);
		return EINVAL;
	}
	return 0;
}

int leak_checker_alloc(struct leak_checker **lp, const struct sbc_config *cfg)
{
	struct leak_checker *l;
	int err;

	if (!lp)
		return EINVAL;
	l = mem_zalloc(sizeof(*l), leak_checker_destroy);
	if (!l)
		return ENOMEM;
	l->arena = mem_zalloc(LEAK_ARENA_SIZE, NULL);
	if (!l->arena) {
		err = ENOMEM;
		goto out_free;
	}
	memset(l->bucket, 0xff, sizeof(l->bucket));
	l->enforce = true;
	if (cfg) {
		err = add_config(l, cfg);
		if (!err)
			err = check_public(l, cfg);
		if (err)
			goto out_free;
	}
	*lp = l;
	return 0;

 out_free:
	mem_deref(l);
	return err;
}

void leak_checker_set_enforce(struct leak_checker *l, bool enforce)
{
	if (l)
		l->enforce = enforce;
}

unsigned leak_checker_count(const struct leak_checker *l)
{
	return l ? l->addrc + l->namec : 0;
}

const struct leak_stats *leak_checker_stats(const struct leak_checker *l)
{
	return l ? &l->stats : NULL;
}

/* Per-scan state: where the header block ends (found on the first hit) and what was hit. */
struct scan {
	const char *s;
	size_t len;
	size_t hdr_end;       /* offset of the empty line; SIZE_MAX until needed */
	unsigned hits;
	bool count;           /* false: only tell whether anything matches */
};

static size_t header_end(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++) {
		if (s[i] != '\n')
			continue;
		if (s[i + 1] == '\n')
			return i + 1;
		if (s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n')
			return i + 1;
	}
	return len;
}

/* Start of the logical line (continuations folded in) holding offset pos. */
static size_t line_start(const char *s, size_t pos)
{
	size_t j = pos;

	for (;;) {
		while (j > 0 && s[j - 1] != '\n')
			j--;
		if (j == 0 || (s[j] != ' ' && s[j] != '\t'))
			return j;
		j--;
	}
}

/* The header name of the line starting at ls, up to its colon. */
static struct pl line_name(const char *s, size_t end, size_t ls)
{
	struct pl n = { s + ls, 0 };

	while (ls + n.l < end && s[ls + n.l] != ':' && s[ls + n.l] != '\n')
		n.l++;
	return pl_trim(n);
}

/* Record a hit at pos: count it by place, and name the place of the first one. */
static void hit(struct leak_checker *l, struct scan *sc, size_t pos)
{
	char other[LEAK_WHERE_MAX];
	const char *where;
	size_t ls, n;

	sc->hits++;
	if (!sc->count)
		return;
	l->stats.hits++;
	if (sc->hdr_end == SIZE_MAX)
		sc->hdr_end = header_end(sc->s, sc->len);
	if (pos >= sc->hdr_end) {
		l->stats.hits_body++;
		where = "body";
	} else if ((ls = line_start(sc->s, pos)) == 0) {
		l->stats.hits_start_line++;
		where = "start-line";
	} else {
		struct pl name = line_name(sc->s, sc->hdr_end, ls);
		enum sip_hdr_id id = sip_hdr_id_lookup(name.p, name.l);

		l->stats.hits_by_header[id]++;
		if (id != SIP_HDR_OTHER) {
			where = sip_hdr_name(id);
		} else {
			/* the name as written, capped, anything odd in it made harmless for logs */
			n = MIN(name.l, sizeof(other) - 1);
			for (size_t i = 0; i < n; i++)
				other[i] = is_c(name.p[i], LC_NAME) ? name.p[i] : '?';
			other[n] = '\0';
			where = n ? other : "other";
		}
	}
	if (sc->hits == 1) {
		n = MIN(strlen(where), sizeof(l->where) - 1);
		memcpy(l->where, where, n);
		l->where[n] = '\0';
	}
}

/* Lower-case the (up to) four bytes at s[i] the way name_head does. */
static inline uint32_t head_at(const char *s, size_t avail)
{
	uint32_t h = 0;

	for (size_t k = 0; k < 4 && k < avail; k++)
		h |= (uint32_t)lc_lower[(unsigned char)s[k]] << (8 * k);
	return h;
}

/* A name needle starting at i (a label start); the end offset of the match, or 0. */
static size_t match_name(const struct leak_checker *l, const char *s, size_t len, size_t i)
{
	int k = l->bucket[lc_lower[(unsigned char)s[i]]];
	uint32_t h;

	if (k < 0)
		return 0;
	h = head_at(s + i, len - i);
	for (; k >= 0; k = l->namev[k].next) {
		const struct leak_name *n = &l->namev[k];
		size_t e = i + n->len;

		if ((h & n->mask) != n->head || n->len > len - i)
			continue;
		if (e < len && is_c(s[e], LC_WORD))
			continue;
		if (n->len <= 4 || !strncasecmp(s + i + 4, l->arena + n->off + 4, n->len - 4u))
			return e;
	}
	return 0;
}

/*
 * A dotted quad at i: four groups of one to three digits, each <= 255,
 * not followed by a label character or by ".digit" (a longer dotted
 * number). The caller made sure i is not preceded by a label character
 * or a dot. Leading zeros are read as decimal.
 */
static size_t match_v4(const struct leak_checker *l, const char *s, size_t len, size_t i)
{
	uint32_t v = 0;
	size_t p = i;

	for (unsigned g = 0; g < 4; g++) {
		unsigned n = 0, o = 0;

		if (g) {
			if (p >= len || s[p] != '.')
				return 0;
			p++;
		}
		while (p < len && n < 4 && is_c(s[p], LC_DIGIT)) {
			o = o * 10 + (unsigned)(s[p] - '0');
			p++;
			n++;
		}
		if (!n || n > 3 || o > 255)
			return 0;
		v = v << 8 | o;
	}
	if (p < len && (is_c(s[p], LC_WORD) ||
			(s[p] == '.' && p + 1 < len && is_c(s[p + 1], LC_DIGIT))))
		return 0;
	for (unsigned k = 0; k < l->v4c; k++) {
		if ((v & l->v4mask[k]) == l->v4net[k])
			return p;
	}
	return 0;
}

static bool v6_in(const struct leak_v6 *a, const uint8_t x[16])
{
	unsigned full = a->prefix / 8, rest = a->prefix % 8;

	if (memcmp(a->net, x, full))
		return false;
	return !rest || (x[full] & (uint8_t)(0xff << (8 - rest))) == a->net[full];
}

/*
 * An IPv6 literal at i: the run of [0-9A-Fa-f:.] from i with two colons or
 * more, as inet_pton reads it (any compression, any case, leading zeros,
 * an embedded IPv4 tail). Trailing dots and a lone trailing colon are not
 * part of it.
 */
static size_t match_v6(const struct leak_checker *l, const char *s, size_t len, size_t i)
{
	char buf[INET6_ADDRSTRLEN];
	uint8_t x[16];
	size_t p = i, n, colons = 0;

	while (p < len && is_c(s[p], LC_V6) && p - i < sizeof(buf)) {
		colons += s[p] == ':';
		p++;
	}
	if (colons < 2 || p - i >= sizeof(buf) || (p < len && is_c(s[p], LC_WORD)))
		return 0;
	n = p - i;
	while (n && s[i + n - 1] == '.')
		n--;
	if (n >= 2 && s[i + n - 1] == ':' && s[i + n - 2] != ':')
		n--;
	memcpy(buf, s + i, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, x) != 1)
		return 0;
	for (unsigned k = 0; k < l->v6c; k++) {
		if (v6_in(&l->v6[k], x))
			return i + n;
	}
	return 0;
}

/*
 * Scan s[from, to) (look-behind and look-ahead see all of s). Names are
 * tried where a label starts: after any byte that is not [A-Za-z0-9_-]
 * (so "a.pbx.corp" holds "pbx.corp"), or after a %HH escape. Addresses are
 * read as addresses where one can start. A match is skipped over whole.
 */
static void scan_range(struct leak_checker *l, struct scan *sc, size_t from, size_t to)
{
	const char *s = sc->s;
	size_t len = sc->len, i = from, j;
	bool names = l->namec > 0, v4 = l->v4c > 0, v6 = l->v6c > 0;

	while (i < to) {
		unsigned char c = (unsigned char)s[i];
		uint8_t cls = lc_class[c];
		char prev;
		bool start;
		size_t e = 0;

		if (!(cls & (LC_WORD | LC_MARK))) {
			i++;
			continue;
		}
		prev = i ? s[i - 1] : ' ';
		if (!(cls & LC_WORD)) {
			if (c == '%' && i + 2 < len && is_c(s[i + 1], LC_HEX) && is_c(s[i + 2], LC_HEX)) {
				i += 3;
				if (i < to && is_c(s[i], LC_WORD) && names)
					e = match_name(l, s, len, i);
				if (!e && i < to && v4 && is_c(s[i], LC_DIGIT))
					e = match_v4(l, s, len, i);
				if (e) {
					hit(l, sc, i);
					i = e;
				}
				continue;
			}
			if (c == ':' && v6 && i + 1 < len && s[i + 1] == ':' &&
			    !is_c(prev, LC_WORD) && prev != ':' && prev != '.')
				e = match_v6(l, s, len, i);
			if (e) {
				hit(l, sc, i);
				i = e;
				continue;
			}
			i++;
			continue;
		}
		start = !is_c(prev, LC_WORD);
		if (start && names) {
			unsigned pr = (unsigned)lc_lower[c] << 8 |
				      (i + 1 < len ? lc_lower[(unsigned char)s[i + 1]] : 0);

			if (l->pair[pr / 8] & (1 << (pr % 8)))
				e = match_name(l, s, len, i);
		}
		if (e) {
			hit(l, sc, i);
			i = e;
			continue;
		}
		/* to the end of this label: nothing starts inside it */
		j = i + 1;
		while (j < to && is_c(s[j], LC_WORD))
			j++;
		/*
		 * An address starts here only if the label is followed by '.'
		 * (a dotted quad's first group) or ':' (an IPv6 literal's first
		 * group): most labels are passed over without a look.
		 */
		if (start && j < len && j - i <= 4) {
			if (v4 && s[j] == '.' && prev != '.' && is_c((char)c, LC_DIGIT))
				e = match_v4(l, s, len, i);
			else if (v6 && s[j] == ':' && prev != ':' && prev != '.' &&
				 is_c((char)c, LC_HEX))
				e = match_v6(l, s, len, i);
			if (e) {
				hit(l, sc, i);
				i = e;
				continue;
			}
		}
		i = j;
	}
}

/* Whether s holds no needle, counting nothing (configuration checks). */
static bool scan_clean(struct leak_checker *l, const char *s, size_t len)
{
	struct scan sc = { .s = s, .len = len, .hdr_end = SIZE_MAX, .count = false };

	scan_range(l, &sc, 0, len);
	return sc.hits == 0;
}

/*
 * Byte ranges of the Via fields of a response, continuation lines
 * included; at most SIP_MAX_HEADERS (any further Via is scanned).
 */
static unsigned response_vias(const char *s, size_t len, size_t hdr_end, size_t (*r)[2])
{
	size_t pos;
	unsigned n = 0;
	const char *nl = memchr(s, '\n', len);

	if (!nl)
		return 0;
	pos = (size_t)(nl - s) + 1;
	while (pos < hdr_end && n < SIP_MAX_HEADERS) {
		size_t end = pos;
		struct pl name;

		do {
			const char *e = memchr(s + end, '\n', hdr_end - end);

			end = e ? (size_t)(e - s) + 1 : hdr_end;
		} while (end < hdr_end && (s[end] == ' ' || s[end] == '\t'));
		name = line_name(s, end, pos);
		if (sip_hdr_id_lookup(name.p, name.l) == SIP_HDR_VIA) {
			r[n][0] = pos;
			r[n][1] = end;
			n++;
		}
		pos = end;
	}
	return n;
}

/*
 * Scan one outgoing message (see b2bua_int.h). Cost: one pass over the
 * bytes with a table lookup each; needle comparisons only where a label
 * starts; the place of a hit is worked out only when there is one.
 */
int leak_check(struct leak_checker *l, const char *msg, size_t len, unsigned flags,
	       const char **where)
{
	struct scan sc = { .s = msg, .len = len, .hdr_end = SIZE_MAX, .count = true };

	if (where)
		*where = NULL;
	if (!l || (!msg && len))
		return EINVAL;
	l->stats.messages_checked++;
	if (!l->addrc && !l->namec)
		return 0;
	if ((flags & LEAK_CHECK_F_SKIP_RESPONSE_VIA) && len > 8 && !memcmp(msg, "SIP/2.0 ", 8)) {
		size_t skip[SIP_MAX_HEADERS][2], pos = 0;
		unsigned n;

		sc.hdr_end = header_end(msg, len);
		n = response_vias(msg, len, sc.hdr_end, skip);
		for (unsigned k = 0; k < n; k++) {
			scan_range(l, &sc, pos, skip[k][0]);
			pos = skip[k][1];
		}
		scan_range(l, &sc, pos, len);
	} else {
		scan_range(l, &sc, 0, len);
	}
	if (!sc.hits)
		return 0;
	if (where)
		*where = l->where;
	l->stats.messages_leaking++;
	if (!l->enforce)
		return 0;
	l->stats.messages_blocked++;
	return EACCES;
}
