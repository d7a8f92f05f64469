/* scan: walk sbc.ini line by line as iniparser 4.1 does, to find what it accepts silently (repeated keys and sections) and to place its syntax errors in a section. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"

/* iniparser 4.1 reads lines into a buffer of this size (ASCIILINESZ). */
#define SCAN_LINESZ (CONFIG_LINE_MAX + 2)

struct scan {
	struct config_ctx *c;
	const char *buf;
	size_t len;
	size_t pos;
	bool eof;                      /* like feof(): a read ran into the end */
	char section[SCAN_LINESZ + 1];
	dictionary *seen;              /* "s\nSECTION" and "k\nSECTION\nKEY" -> first line */
};

/* fgets over the in-memory file: at most n-1 bytes, stopping after '\n'. */
static bool scan_gets(struct scan *s, char *dst, size_t n)
{
	size_t i = 0;

	if (s->pos >= s->len) {
		s->eof = true;
		return false;
	}
	while (i + 1 < n) {
		char ch;

		if (s->pos >= s->len) {
			s->eof = true;
			break;
		}
		ch = s->buf[s->pos++];
		dst[i++] = ch;
		if (ch == '\n')
			break;
	}
	dst[i] = '\0';
	return true;
}

/* Strip white space at both ends in place (iniparser's strstrip); returns the new length. */
static size_t strip(char *str)
{
	char *b = str, *e = str + strlen(str);

	while (*b && isspace((unsigned char)*b))
		b++;
	while (e > b && isspace((unsigned char)e[-1]))
		e--;
	memmove(str, b, (size_t)(e - b));
	str[e - b] = '\0';
	return (size_t)(e - b);
}

/* Lowercase in place, as iniparser does to section and key names. */
static void lower(char *str)
{
	for (; *str; str++)
		*str = (char)tolower((unsigned char)*str);
}

/*
 * Remember that the entry (section or key) was seen on line; when it was seen
 * before, report the two lines. Returns 0 or ENOMEM.
 */
static int scan_seen(struct scan *s, const char *key, unsigned line)
{
	char id[2 * SCAN_LINESZ + 8], num[16];
	const char *prev;

	if (key)
		snprintf(id, sizeof(id), "k\n%s\n%s", s->section, key);
	else
		snprintf(id, sizeof(id), "s\n%s", s->section);
	prev = dictionary_get(s->seen, id, NULL);
	if (prev) {
		if (key)
			config_err(s->c, s->section, key, "set more than once (lines %s and %u)", prev, line);
		else
			config_err(s->c, s->section, NULL, "section appears more than once (lines %s and %u)",
				   prev, line);
		return 0;
	}
	snprintf(num, sizeof(num), "%u", line);
	return dictionary_set(s->seen, id, num) == 0 ? 0 : ENOMEM;
}

/* Report iniparser's syntax error on line, if it found one there. */
static void scan_syntax(struct scan *s, unsigned line, const char *text)
{
	struct config_ctx *c = s->c;
	char q[80];

	for (unsigned i = 0; i < c->nsyntax; i++) {
		if (c->syntax[i].line != line || c->syntax[i].reported)
			continue;
		c->syntax[i].reported = true;
		if (c->syntax[i].kind == CONFIG_SYNTAX_TOO_LONG) {
			config_err(c, s->section, NULL, "line %u: longer than %d characters", line,
				   CONFIG_LINE_MAX);
		} else if (text[0] == '[' && strchr(text, ']')) {
			config_err(c, s->section, NULL,
				   "line %u: text after a section header (a comment goes on its own line)", line);
		} else if (text[0] == '=') {
			config_err(c, s->section, NULL, "line %u: no key name before '='", line);
		} else {
			config_quote(q, sizeof(q), text);
			config_err(c, s->section, NULL,
				   "line %u: not a [section], a comment or KEY = VALUE: \"%s\"", line, q);
		}
	}
}

/* Classify one complete (joined) line the way iniparser_line does. */
static int scan_line(struct scan *s, char *line, unsigned first, unsigned lineno)
{
	size_t len = strip(line);
	char *eq;

	if (len == 0 || line[0] == '#' || line[0] == ';')
		return 0;
	if (line[0] == '[' && line[len - 1] == ']') {
		if (line[1] == ']') {
			/* sscanf fails and iniparser keeps a cut of the previous name */
			if (strlen(s->section) >= len)
				s->section[len - 1] = '\0';
		} else {
			size_t n = strcspn(line + 1, "]");

			memcpy(s->section, line + 1, n);
			s->section[n] = '\0';
			strip(s->section);
			lower(s->section);
		}
		if (!s->section[0] || line[1] == ']') {
			config_err(s->c, NULL, NULL, "line %u: empty section name", lineno);
			return 0;
		}
		return scan_seen(s, NULL, lineno);
	}
	eq = strchr(line, '=');
	if (!eq || eq == line) {
		scan_syntax(s, lineno, line);
		return 0;
	}
	*eq = '\0';
	strip(line);
	lower(line);
	return scan_seen(s, line, first);
}

/*
 * Walk the file as iniparser_load reads it (same buffer size, continuation
 * lines ending in '\', same classification), reporting repeated sections
 * and keys, and the syntax errors iniparser recorded in c->syntax with the
 * section they are in. Returns 0 or ENOMEM.
 */
int config_scan(struct config_ctx *c, const char *buf, size_t len)
{
	struct scan s = { .c = c, .buf = buf, .len = len };
	char line[SCAN_LINESZ + 1];
	size_t last = 0;
	unsigned lineno = 0, first = 0;
	int err = 0;

	s.seen = dictionary_new(0);
	if (!s.seen)
		return ENOMEM;
	memset(line, 0, sizeof(line));
	while (!err && scan_gets(&s, line + last, SCAN_LINESZ - last)) {
		int n;

		lineno++;
		if (last == 0)
			first = lineno;
		n = (int)strlen(line) - 1;
		if (n <= 0)
			continue;
		if (line[n] != '\n' && !s.eof) {
			scan_syntax(&s, lineno, line);
			break;
		}
		while (n >= 0 && isspace((unsigned char)line[n]))
			line[n--] = '\0';
		if (n < 0)
			n = 0;
		if (line[n] == '\\') {
			last = (size_t)n;
			continue;
		}
		last = 0;
		err = scan_line(&s, line, first, lineno);
		memset(line, 0, sizeof(line));
	}
	/* Whatever iniparser reported and the walk did not meet: report without a section. */
	s.section[0] = '\0';
	for (unsigned i = 0; i < c->nsyntax; i++)
		scan_syntax(&s, c->syntax[i].line, "");
	dictionary_del(s.seen);
	return err;
}
