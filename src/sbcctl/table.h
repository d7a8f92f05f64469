/* table.h: sbcctl's text tables (header line, rows, aligned columns) and cells from JSON fields. */
#ifndef SBCCTL_TABLE_H
#define SBCCTL_TABLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#define TABLE_CELL_MAX  256   /* bytes of one cell a formatter writes, NUL included */
#define TABLE_COLS_MAX  16

struct table;

int table_alloc(struct table **tp, size_t ncols, const char *const *head);
int table_add(struct table *t, const char *const *cells);
size_t table_rows(const struct table *t);
void table_print(const struct table *t, FILE *f, const char *indent);
void table_free(struct table *t);

/*
 * A cell formatter: writes the cell for field key of obj into out (n
 * bytes, n >= 2). A field that is missing or of another type gives "-".
 * What key means is the formatter's (cell_leg takes a zone name); those
 * of table.c take a field name, with dots for a nested one
 * ("dropped.source").
 */
typedef void (cell_h)(char *out, size_t n, const json_t *obj, const char *key);

void cell_str(char *out, size_t n, const json_t *obj, const char *key);
void cell_int(char *out, size_t n, const json_t *obj, const char *key);
void cell_num(char *out, size_t n, const json_t *obj, const char *key);
void cell_yesno(char *out, size_t n, const json_t *obj, const char *key);
void cell_secs(char *out, size_t n, const json_t *obj, const char *key);
void cell_localtime(char *out, size_t n, const json_t *obj, const char *key);

/* One column of a table made from JSON objects: its title, field and formatter. */
struct column {
	const char *head;
	const char *key;
	cell_h *cell;
};

int table_add_obj(struct table *t, const char *const *lead, size_t nlead, const json_t *obj,
		  const struct column *cols, size_t ncols);
int table_print_list(FILE *f, const json_t *list, const struct column *cols, size_t ncols);
int table_print_fields(FILE *f, const json_t *obj, const struct column *cols, size_t ncols);

#endif
