/* wbuf: bounded output buffers, and splice_write, which edits a buffer by byte ranges. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

void wbuf_init(struct wbuf *wb, char *mem, size_t size)
{
	wb->p = mem;
	wb->size = size;
	wb->len = 0;
}

int wbuf_put(struct wbuf *wb, const void *data, size_t len)
{
	if (len > wb->size - wb->len)
		return ENOSPC;
	if (len)
		memcpy(wb->p + wb->len, data, len);
	wb->len += len;
	return 0;
}

int wbuf_put_pl(struct wbuf *wb, const struct pl *pl)
{
	return wbuf_put(wb, pl->p, pl->l);
}

int wbuf_put_str(struct wbuf *wb, const char *s)
{
	return wbuf_put(wb, s, strlen(s));
}

int wbuf_put_u32(struct wbuf *wb, uint32_t v)
{
	char tmp[10];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return wbuf_put(wb, tmp + sizeof(tmp) - n, n);
}

int wbuf_printf(struct wbuf *wb, const char *fmt, ...)
{
	size_t room = wb->size - wb->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(wb->p + wb->len, room, fmt, ap);
	va_end(ap);
	if (n < 0)
		return EINVAL;
	if ((size_t)n >= room)
		return ENOSPC;
	wb->len += (size_t)n;
	return 0;
}

/* Stable insertion sort by offset: edits are few, and equal offsets keep their order. */
static void splice_sort(struct splice *sv, size_t sc)
{
	for (size_t i = 1; i < sc; i++) {
		struct splice t = sv[i];
		size_t j = i;

		while (j > 0 && (sv[j - 1].off > t.off ||
				 (sv[j - 1].off == t.off && sv[j - 1].len > t.len))) {
			sv[j] = sv[j - 1];
			j--;
		}
		sv[j] = t;
	}
}

/* Length of the output splice_write would produce (ranges assumed valid). */
size_t splice_delta_len(const struct splice *sv, size_t sc, size_t srclen)
{
	size_t n = srclen;

	for (size_t i = 0; i < sc; i++)
		n = n - sv[i].len + sv[i].repl.l;
	return n;
}

/*
 * Copy src to out, replacing each range of sv by its replacement. Sorts sv
 * in place. EINVAL for a range outside src or two ranges that overlap;
 * ENOSPC when out is too small (out->len is then unchanged).
 */
int splice_write(const char *src, size_t srclen, struct splice *sv, size_t sc,
		 struct wbuf *out)
{
	size_t pos = 0, start = out->len;
	int err;

	splice_sort(sv, sc);
	for (size_t i = 0; i < sc; i++) {
		const struct splice *s = &sv[i];

		if (s->off > srclen || s->len > srclen - s->off || s->off < pos)
			goto inval;
		err = wbuf_put(out, src + pos, s->off - pos);
		if (!err)
			err = wbuf_put_pl(out, &s->repl);
		if (err) {
			out->len = start;
			return err;
		}
		pos = s->off + s->len;
	}
	err = wbuf_put(out, src + pos, srclen - pos);
	if (err)
		out->len = start;
	return err;

 inval:
	out->len = start;
	return EINVAL;
}
