/* table.c: sbcctl's one table printer: rows of strings, columns as wide as their widest cell. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "table.h"

#define TABLE_GAP  2   /* spaces between columns */

struct table {
	size_t ncols;
	size_t nrows;     /* the header line included */
	size_t cap;       /* rows cells has room for */
	bool head;
	char **cells;     /* nrows * ncols strings, each allocated */
};

/* A copy of s ("-" for NULL) with control characters replaced by '?'. */
static char *cell_dup(const char *s)
{
	char *d;

	d = strdup(s ? s : "-");
	if (!d)
		return NULL;
	for (char *p = d; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return d;
}

/* Columns a cell takes on a terminal: UTF-8 characters, not bytes. */
static size_t cell_width(const char *s)
{
	size_t w = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			w++;
	return w;
}

/*
 * A table of ncols columns (1 to TABLE_COLS_MAX). head, if not NULL,
 * holds ncols titles printed as the first line. EINVAL, ENOMEM.
 */
int table_alloc(struct table **tp, size_t ncols, const char *const *head)
{
	struct table *t;
	int err;

	if (ncols == 0 || ncols > TABLE_COLS_MAX)
		return EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return ENOMEM;
	t->ncols = ncols;
	if (head) {
		err = table_add(t, head);
		if (err) {
			table_free(t);
			return err;
		}
		t->head = true;
	}
	*tp = t;
	return 0;
}

/* Append a row of ncols cells (copied; NULL prints "-"). ENOMEM. */
int table_add(struct table *t, const char *const *cells)
{
	char **row;
	size_t c;

	if (t->nrows == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 16;
		char **nc = reallocarray(t->cells, ncap * t->ncols, sizeof(*t->cells));

		if (!nc)
			return ENOMEM;
		t->cells = nc;
		t->cap = ncap;
	}
	row = t->cells + t->nrows * t->ncols;
	for (c = 0; c < t->ncols; c++) {
		row[c] = cell_dup(cells[c]);
		if (!row[c]) {
			while (c--)
				free(row[c]);
			return ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

/* The rows added, the header line not counted. */
size_t table_rows(const struct table *t)
{
	return t->nrows - (t->head ? 1 : 0);
}

/* Print every row, each after indent; the last column is not padded. */
void table_print(const struct table *t, FILE *f, const char *indent)
{
	size_t w[TABLE_COLS_MAX] = { 0 };
	size_t r, c;

	for (r = 0; r < t->nrows; r++)
		for (c = 0; c < t->ncols; c++) {
			size_t l = cell_width(t->cells[r * t->ncols + c]);

			if (l > w[c])
				w[c] = l;
		}
	for (r = 0; r < t->nrows; r++) {
		fputs(indent, f);
		for (c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			fputs(s, f);
			if (c + 1 < t->ncols)
				fprintf(f, "%*s", (int)(w[c] - cell_width(s) + TABLE_GAP), "");
		}
		fputc('\n', f);
	}
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

/* ---------------------------------------------------------------------- */
/* cells from JSON fields */

static void cell_none(char *out, size_t n)
{
	snprintf(out, n, "-");
}

/*
 * The field key of obj; a key with dots names a nested field
 * ("dropped.source" is obj.dropped.source). NULL when any part is missing.
 */
static const json_t *field_get(const json_t *obj, const char *key)
{
	const char *dot;

	while ((dot = strchr(key, '.')) != NULL) {
		char part[TABLE_CELL_MAX];
		size_t len = (size_t)(dot - key);

		if (len >= sizeof(part))
			return NULL;
		memcpy(part, key, len);
		part[len] = '\0';
		obj = json_object_get(obj, part);
		key = dot + 1;
	}
	return json_object_get(obj, key);
}

void cell_str(char *out, size_t n, const json_t *obj, const char *key)
{
	const json_t *v = field_get(obj, key);

	if (json_is_string(v) && json_string_length(v))
		snprintf(out, n, "%s", json_string_value(v));
	else
		cell_none(out, n);
}

void cell_int(char *out, size_t n, const json_t *obj, const char *key)
{
	const json_t *v = field_get(obj, key);

	if (json_is_integer(v))
		snprintf(out, n, "%lld", (long long)json_integer_value(v));
	else
		cell_none(out, n);
}

/* A number: an integer as it is, a real with two decimals ("0.40"). */
void cell_num(char *out, size_t n, const json_t *obj, const char *key)
{
	const json_t *v = field_get(obj, key);

	if (json_is_real(v))
		snprintf(out, n, "%.2f", json_real_value(v));
	else
		cell_int(out, n, obj, key);
}

void cell_yesno(char *out, size_t n, const json_t *obj, const char *key)
{
	const json_t *v = field_get(obj, key);

	if (json_is_boolean(v))
		snprintf(out, n, "%s", json_is_true(v) ? "yes" : "no");
	else
		cell_none(out, n);
}

/* A number of seconds: "42s". */
void cell_secs(char *out, size_t n, const json_t *obj, const char *key)
{
	const json_t *v = field_get(obj, key);

	if (json_is_integer(v))
		snprintf(out, n, "%llds", (long long)json_integer_value(v));
	else
		cell_none(out, n);
}

/* Unix seconds as local time, "YYYY-MM-DD HH:MM:SS". */
void cell_localtime(char *out, size_t n, const json_t *obj, const char *key)
{
	const json_t *v = field_get(obj, key);
	json_int_t s;
	struct tm tm;
	time_t t;

	if (!json_is_integer(v)) {
		cell_none(out, n);
		return;
	}
	s = json_integer_value(v);
	if (s < 0 || (long long)s > (long long)INT32_MAX * 64) {
		cell_none(out, n);
		return;
	}
	t = (time_t)s;
	if (!localtime_r(&t, &tm) || strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		cell_none(out, n);
}

/*
 * Append a row to t: the nlead cells of lead, then one cell per cols entry
 * made from obj. EINVAL (nlead + ncols is not t's width), ENOMEM.
 */
int table_add_obj(struct table *t, const char *const *lead, size_t nlead, const json_t *obj,
		  const struct column *cols, size_t ncols)
{
	char buf[TABLE_COLS_MAX][TABLE_CELL_MAX];
	const char *cells[TABLE_COLS_MAX];
	size_t c;

	if (nlead + ncols != t->ncols)
		return EINVAL;
	for (c = 0; c < nlead; c++)
		cells[c] = lead[c];
	for (c = 0; c < ncols; c++) {
		cols[c].cell(buf[c], sizeof(buf[c]), obj, cols[c].key);
		cells[nlead + c] = buf[c];
	}
	return table_add(t, cells);
}

/*
 * Print a JSON array of objects as a table, one row per element and one
 * column per cols entry, titles first. The caller checks list is an array.
 * EINVAL (too many columns), ENOMEM.
 */
int table_print_list(FILE *f, const json_t *list, const struct column *cols, size_t ncols)
{
	const char *head[TABLE_COLS_MAX];
	struct table *t;
	const json_t *el;
	size_t i, c;
	int err;

	if (ncols == 0 || ncols > TABLE_COLS_MAX)
		return EINVAL;
	for (c = 0; c < ncols; c++)
		head[c] = cols[c].head;
	err = table_alloc(&t, ncols, head);
	if (err)
		return err;
	json_array_foreach(list, i, el) {
		err = table_add_obj(t, NULL, 0, el, cols, ncols);
		if (err)
			goto out;
	}
	table_print(t, f, "");
out:
	table_free(t);
	return err;
}

/*
 * Print fields of a JSON object as "label  value" lines, labels aligned,
 * no header: one line per cols entry (its head is the label). ENOMEM.
 */
int table_print_fields(FILE *f, const json_t *obj, const struct column *cols, size_t ncols)
{
	char buf[TABLE_CELL_MAX];
	const char *cells[2];
	struct table *t;
	int err;

	err = table_alloc(&t, 2, NULL);
	if (err)
		return err;
	for (size_t c = 0; c < ncols && !err; c++) {
		cols[c].cell(buf, sizeof(buf), obj, cols[c].key);
		cells[0] = cols[c].head;
		cells[1] = buf;
		err = table_add(t, cells);
	}
	if (!err)
		table_print(t, f, "");
	table_free(t);
	return err;
}
