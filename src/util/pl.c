/* pl: pointer-length slices and the few operations the parsers need on them. */
#include <errno.h>
#include <string.h>

#include "util.h"

struct pl pl_from_str(const char *s)
{
	struct pl pl = { s, s ? strlen(s) : 0 };
	return pl;
}

bool pl_isset(const struct pl *pl)
{
	return pl && pl->p && pl->l;
}

bool pl_eq(const struct pl *a, const struct pl *b)
{
	return a->l == b->l && (a->l == 0 || memcmp(a->p, b->p, a->l) == 0);
}

bool pl_eq_str(const struct pl *a, const char *s)
{
	size_t n = strlen(s);

	return a->l == n && (n == 0 || memcmp(a->p, s, n) == 0);
}

static inline unsigned char lower(char c)
{
	unsigned char u = (unsigned char)c;

	return (u >= 'A' && u <= 'Z') ? (unsigned char)(u | 0x20) : u;
}

/* ASCII case-insensitive equality; short strings, so a plain loop beats a libc call. */
static bool caseeq(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (lower(a[i]) != lower(b[i]))
			return false;
	}
	return true;
}

bool pl_caseeq(const struct pl *a, const struct pl *b)
{
	return a->l == b->l && caseeq(a->p, b->p, a->l);
}

bool pl_caseeq_str(const struct pl *a, const char *s)
{
	size_t n = strlen(s);

	return a->l == n && caseeq(a->p, s, n);
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim white space, including folded line breaks, from both ends. */
struct pl pl_trim(struct pl pl)
{
	while (pl.l && is_ws(pl.p[0])) {
		pl.p++;
		pl.l--;
	}
	while (pl.l && is_ws(pl.p[pl.l - 1]))
		pl.l--;
	return pl;
}

/* Decimal digits only, no sign, no white space; EOVERFLOW past 2^32-1. */
int pl_u32(const struct pl *pl, uint32_t *v)
{
	uint64_t acc = 0;

	if (!pl->l)
		return EINVAL;
	for (size_t i = 0; i < pl->l; i++) {
		char c = pl->p[i];

		if (c < '0' || c > '9')
			return EINVAL;
		acc = acc * 10 + (uint64_t)(c - '0');
		if (acc > UINT32_MAX)
			return EOVERFLOW;
	}
	*v = (uint32_t)acc;
	return 0;
}

/* Copy into a NUL-terminated buffer; ENOSPC if it does not fit. */
int pl_strcpy(const struct pl *pl, char *buf, size_t size)
{
	if (!size || pl->l >= size)
		return ENOSPC;
	if (pl->l)
		memcpy(buf, pl->p, pl->l);
	buf[pl->l] = '\0';
	return 0;
}

const char *pl_chr(const struct pl *pl, char c)
{
	return pl->l ? memchr(pl->p, c, pl->l) : NULL;
}

/* Offset of inner from the start of outer; inner must lie inside outer. */
size_t pl_offset(const struct pl *outer, const struct pl *inner)
{
	return (size_t)(inner->p - outer->p);
}
