/* load: read sbc.ini with iniparser, check its shape against the schema, fill struct sbc_config and collect every error. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config_int.h"

#define TRUNK_PREFIX "trunk:"

/*
 * The load in progress, for iniparser's error callback, which takes no
 * argument and is process-wide: config_load is not reentrant and must be
 * called from one thread at a time.
 */
static struct config_ctx *ini_ctx;
static const char *ini_name;

/* Add one error line "FILE: [SECTION] KEY: MESSAGE"; sec and key may be NULL or "". */
void config_err(struct config_ctx *c, const char *sec, const char *key, const char *fmt, ...)
{
	struct config_errors *e = c->errs;
	char q[80];
	struct wbuf wb;
	va_list ap;

	c->nerr++;
	if (!e)
		return;
	if (e->n >= CONFIG_ERRORS_MAX) {
		e->dropped++;
		return;
	}
	wbuf_init(&wb, e->msg[e->n++], CONFIG_ERROR_LEN);
	wbuf_printf(&wb, "%s: ", c->path);
	if (sec && *sec) {
		config_quote(q, sizeof(q), sec);
		wbuf_printf(&wb, key ? "[%s] " : "[%s]: ", q);
	}
	if (key) {
		config_quote(q, sizeof(q), key);
		wbuf_printf(&wb, "%s: ", q);
	}
	va_start(ap, fmt);
	vsnprintf(wb.p + wb.len, wb.size - wb.len, fmt, ap);
	va_end(ap);
}

/* Remember a field whose value was refused, so the cross checks leave it alone. */
void config_bad_mark(struct config_ctx *c, const void *field)
{
	if (c->nbad < CONFIG_BAD_MAX)
		c->bad[c->nbad] = field;
	c->nbad++;
}

/* True when field was refused, or when too many were refused to tell. */
bool config_bad(const struct config_ctx *c, const void *field)
{
	if (c->nbad > CONFIG_BAD_MAX)
		return true;
	for (unsigned i = 0; i < c->nbad; i++) {
		if (c->bad[i] == field)
			return true;
	}
	return false;
}

/*
 * iniparser's error callback. Its messages name the file it opened and the
 * line: keep the line number and the kind, so config_scan can report them
 * with the section around them.
 */
static int ini_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int ini_error(const char *fmt, ...)
{
	static const char nomem[] = "iniparser: memory allocation failure";
	static const char syntax[] = "iniparser: syntax error in ";
	static const char toolong[] = "iniparser: input line too long in ";
	struct config_ctx *c = ini_ctx;
	enum config_syntax_kind kind;
	char msg[256];
	const char *p;
	size_t nlen = strlen(ini_name);
	unsigned long line = 0;
	va_list ap;

	if (!c)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* match whole prefixes: the rest of a message quotes the file's text */
	if (strncmp(msg, nomem, strlen(nomem)) == 0) {
		c->nomem = true;
		return 0;
	}
	if (strncmp(msg, syntax, strlen(syntax)) == 0) {
		kind = CONFIG_SYNTAX_LINE;
		p = msg + strlen(syntax);
	} else if (strncmp(msg, toolong, strlen(toolong)) == 0) {
		kind = CONFIG_SYNTAX_TOO_LONG;
		p = msg + strlen(toolong);
	} else {
		kind = CONFIG_SYNTAX_LINE;
		p = NULL;
	}
	if (p && strncmp(p, ini_name, nlen) == 0 && strncmp(p + nlen, " (", 2) == 0)
		line = strtoul(p + nlen + 2, NULL, 10);
	if (!line) {
		msg[strcspn(msg, "\n")] = '\0';
		config_err(c, NULL, NULL, "%s", msg);
		return 0;
	}
	if (c->nsyntax >= CONFIG_SYNTAX_MAX) {
		config_err(c, NULL, NULL, "line %lu: syntax error", line);
		return 0;
	}
	c->syntax[c->nsyntax].line = (unsigned)line;
	c->syntax[c->nsyntax].kind = kind;
	c->syntax[c->nsyntax].reported = false;
	c->nsyntax++;
	return 0;
}

/* Read the whole file (a regular file, at most CONFIG_FILE_MAX bytes) and keep it open. */
static int file_read(struct config_ctx *c, int *fdp, char **bufp, size_t *lenp)
{
	int err = file_read_max(c->path, CONFIG_FILE_MAX, bufp, lenp, fdp, NULL);

	switch (err) {
	case 0:
	case ENOMEM:
		return err;
	case EINVAL:
		config_err(c, NULL, NULL, "cannot read: not a regular file");
		break;
	case EFBIG:
		config_err(c, NULL, NULL, "file is larger than %d bytes", CONFIG_FILE_MAX);
		break;
	default:
		config_err(c, NULL, NULL, "cannot read: %s", strerror(err));
		break;
	}
	return EINVAL;
}

/* A NUL byte would end iniparser's lines early: refuse the file instead. */
static bool has_nul(struct config_ctx *c, const char *buf, size_t len)
{
	const char *nul = memchr(buf, '\0', len);
	unsigned line = 1;

	if (!nul)
		return false;
	for (const char *p = buf; p < nul; p++)
		line += *p == '\n';
	config_err(c, NULL, NULL, "line %u: contains a NUL byte", line);
	return true;
}

/* NAME of [trunk:NAME]: 1-32 of a-z, 0-9, _ and - (it appears in logs, URLs and the UI). */
static bool trunk_name_valid(const char *n)
{
	size_t len = strlen(n);

	if (len < 1 || len > CONFIG_TRUNK_NAME_MAX - 1)
		return false;
	for (; *n; n++) {
		if (!(*n >= 'a' && *n <= 'z') && !(*n >= '0' && *n <= '9') && *n != '_' && *n != '-')
			return false;
	}
	return true;
}

/* The schema of a section by its full name, or NULL. */
static const struct config_section *section_find(const char *name)
{
	for (size_t i = 0; i < config_nsections; i++) {
		if (strcmp(config_sections[i].name, name) == 0)
			return &config_sections[i];
	}
	if (strncmp(name, TRUNK_PREFIX, strlen(TRUNK_PREFIX)) == 0 &&
	    trunk_name_valid(name + strlen(TRUNK_PREFIX)))
		return &config_trunk_section;
	return NULL;
}

/* Report unknown or badly named sections; returns the number of trunks. */
static unsigned sections_check(struct config_ctx *c)
{
	const dictionary *d = c->dict;
	unsigned trunks = 0;

	for (ssize_t i = 0; i < d->size; i++) {
		const char *name = d->key[i];
		const struct config_section *sd;

		if (!name || d->val[i] || !*name)
			continue;
		sd = section_find(name);
		if (sd == &config_trunk_section) {
			trunks++;
		} else if (sd) {
			continue;
		} else if (strncmp(name, TRUNK_PREFIX, strlen(TRUNK_PREFIX)) == 0) {
			config_err(c, name, NULL, "a trunk name is 1-%d characters of a-z, 0-9, _ and -",
				   CONFIG_TRUNK_NAME_MAX - 1);
		} else if (strcmp(name, "trunk") == 0) {
			config_err(c, name, NULL, "a trunk section needs a name: [trunk:NAME]");
		} else {
			config_err(c, name, NULL, "unknown section");
		}
	}
	if (trunks > CONFIG_TRUNKS_MAX)
		config_err(c, NULL, NULL, "%u trunk sections, at most %d are allowed", trunks, CONFIG_TRUNKS_MAX);
	return trunks;
}

/*
 * The section a "SECTION:KEY" entry belongs to: the longest section name
 * followed by ':' (trunk sections have a ':' of their own). NULL when
 * the key came before any section.
 */
static const char *key_owner(const dictionary *d, const char *entry)
{
	const char *best = NULL;
	size_t bestlen = 0;

	for (ssize_t i = 0; i < d->size; i++) {
		const char *s = d->key[i];
		size_t n;

		if (!s || d->val[i])
			continue;
		n = strlen(s);
		if ((!best || n > bestlen) && strncmp(entry, s, n) == 0 && entry[n] == ':') {
			best = s;
			bestlen = n;
		}
	}
	return best;
}

/* Report keys the schema does not know. */
static void keys_check(struct config_ctx *c)
{
	const dictionary *d = c->dict;

	for (ssize_t i = 0; i < d->size; i++) {
		const char *entry = d->key[i], *sec, *key;
		const struct config_section *sd;

		if (!entry || !d->val[i])
			continue;
		sec = key_owner(d, entry);
		if (!sec) {
			key = strchr(entry, ':');
			config_err(c, NULL, key ? key + 1 : entry, "set before the first [section]");
			continue;
		}
		if (!*sec)
			continue;   /* in an empty [] section, reported by the scan */
		sd = section_find(sec);
		key = entry + strlen(sec) + 1;
		if (sd && !config_section_key(sd, key))
			config_err(c, sec, key, "unknown key");
	}
}

/* The default of k in section sd: the section's override, else the key's own. */
static const char *key_default(const struct config_section *sd, const struct config_key *k)
{
	for (size_t i = 0; i < sd->ndefs; i++) {
		if (strcmp(sd->defs[i].key, k->name) == 0)
			return sd->defs[i].def;
	}
	return k->def;
}

/*
 * Fill the struct at base from section secname: each value is parsed, an
 * absent or empty key takes its default. Returns 0 or ENOMEM; value errors
 * are reported and their fields marked bad.
 */
static int section_apply(struct config_ctx *c, const struct config_section *sd,
			 const char *secname, void *base)
{
	char id[CONFIG_LINE_MAX + 64], why[CONFIG_ERROR_LEN - 64];

	for (size_t i = 0; i < sd->nkeys; i++) {
		const struct config_key *k = &sd->keys[i];
		void *field = (char *)base + k->off;
		const char *val, *def;
		int err;

		snprintf(id, sizeof(id), "%s:%s", secname, k->name);
		val = dictionary_get(c->dict, id, NULL);
		if (val && *val) {
			err = config_value_parse(k, val, field, why, sizeof(why));
		} else if (k->flags & CONFIG_KEY_REQUIRED) {
			snprintf(why, sizeof(why), "%s", val ? "required key has no value" : "required key is missing");
			err = EINVAL;
		} else {
			def = key_default(sd, k);
			err = def ? config_value_parse(k, def, field, why, sizeof(why)) : 0;
		}
		if (err == ENOMEM)
			return err;
		if (err) {
			config_err(c, secname, k->name, "%s", why);
			config_bad_mark(c, field);
		}
	}
	return 0;
}

/* Fill cfg->trunks from the [trunk:NAME] sections, in file order. */
static int trunks_apply(struct config_ctx *c, unsigned count)
{
	const dictionary *d = c->dict;
	struct sbc_config *cfg = c->cfg;
	int err;

	if (!count || count > CONFIG_TRUNKS_MAX)
		return 0;
	cfg->trunks = mem_zalloc(count * sizeof(*cfg->trunks), NULL);
	if (!cfg->trunks)
		return ENOMEM;
	for (ssize_t i = 0; i < d->size; i++) {
		const char *name = d->key[i];
		struct config_trunk *t;

		if (!name || d->val[i] || section_find(name) != &config_trunk_section)
			continue;
		t = &cfg->trunks[cfg->trunk_count++];
		snprintf(t->name, sizeof(t->name), "%s", name + strlen(TRUNK_PREFIX));
		err = section_apply(c, &config_trunk_section, name, t);
		if (err)
			return err;
		if (!t->allow.n && t->address.addr.set && !config_bad(c, &t->allow)) {
			t->allow.v = mem_zalloc(sizeof(*t->allow.v), NULL);
			if (!t->allow.v)
				return ENOMEM;
			config_cidr_from_addr(&t->allow.v[0], &t->address.addr);
			t->allow.n = 1;
		}
	}
	return 0;
}

/* [auth] users_file: <data_dir>/users unless given, so every state file lives under data_dir. */
static void users_file_derive(struct config_ctx *c)
{
	struct config_auth *a = &c->cfg->auth;
	const char *dir = c->cfg->general.data_dir;
	size_t dl = strlen(dir);
	int n;

	if (a->users_file[0] || config_bad(c, a->users_file) || config_bad(c, dir))
		return;
	if (dl && dir[dl - 1] == '/')
		dl--;
	n = snprintf(a->users_file, sizeof(a->users_file), "%.*s/users", (int)dl, dir);
	if (n < 0 || (size_t)n >= sizeof(a->users_file)) {
		a->users_file[0] = '\0';
		config_err(c, "auth", "users_file", "the default <data_dir>/users is longer than %zu characters",
			   sizeof(a->users_file) - 1);
		config_bad_mark(c, a->users_file);
	}
}

/* A zone's prefix follows its address family: 24 for IPv4, 64 for IPv6; none without an address. */
static void zone_derive(struct config_ctx *c, struct config_zone *z)
{
	if (z->prefix || !z->address.set || config_bad(c, &z->prefix))
		return;
	z->prefix = z->address.ss.ss_family == AF_INET ? 24 : 64;
}

/* Defaults that depend on other keys. */
static void defaults_derive(struct config_ctx *c)
{
	struct sbc_config *cfg = c->cfg;
	struct config_endpoint *l = &cfg->web.listen;
	const struct config_addr *priv = &cfg->zones[ZONE_PRIVATE].address;

	for (int z = 0; z < ZONE_COUNT; z++) {
		cfg->zones[z].id = (enum zone_id)z;
		zone_derive(c, &cfg->zones[z]);
	}
	users_file_derive(c);
	if (l->addr.set || config_bad(c, l))
		return;
	l->port = 443;
	if (!priv->set)
		return;
	l->addr = *priv;
	if (l->addr.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&l->addr.ss)->sin_port = htons(l->port);
	else
		((struct sockaddr_in6 *)&l->addr.ss)->sin6_port = htons(l->port);
}

/* Free what the lists own, found through the schema, then the trunk array. */
static void config_destroy(void *arg)
{
	struct sbc_config *cfg = arg;

	for (size_t s = 0; s < config_nsections; s++) {
		const struct config_section *sd = &config_sections[s];

		for (size_t k = 0; k < sd->nkeys; k++)
			config_value_free(&sd->keys[k], (char *)cfg + sd->off + sd->keys[k].off);
	}
	for (unsigned t = 0; t < cfg->trunk_count; t++) {
		for (size_t k = 0; k < config_trunk_section.nkeys; k++)
			config_value_free(&config_trunk_section.keys[k],
					  (char *)&cfg->trunks[t] + config_trunk_section.keys[k].off);
	}
	mem_deref(cfg->trunks);
}

/* Everything after the file is in memory: iniparser, scan, schema, checks. */
static int config_parse(struct config_ctx *c, int fd, const char *buf, size_t len)
{
	char procpath[64];
	unsigned trunks;
	int err;

	if (has_nul(c, buf, len))
		return EINVAL;
	/* iniparser 4.1 only opens by name: let it read the file we hold open */
	snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d", fd);
	ini_name = access(procpath, R_OK) == 0 ? procpath : c->path;
	ini_ctx = c;
	iniparser_set_error_callback(ini_error);
	c->dict = iniparser_load(ini_name);
	iniparser_set_error_callback(NULL);
	ini_ctx = NULL;
	if (c->dict && c->dict->n > CONFIG_ENTRIES_MAX) {
		/* the checks below are quadratic in the worst case: bound them */
		config_err(c, NULL, NULL, "more than %d sections and keys", CONFIG_ENTRIES_MAX);
		return EINVAL;
	}
	err = config_scan(c, buf, len);
	if (err || c->nomem)
		return ENOMEM;
	if (!c->dict) {
		if (!c->nerr)
			config_err(c, NULL, NULL, "cannot parse the file");
		return EINVAL;
	}
	trunks = sections_check(c);
	keys_check(c);
	for (size_t i = 0; i < config_nsections; i++) {
		err = section_apply(c, &config_sections[i], config_sections[i].name,
				    (char *)c->cfg + config_sections[i].off);
		if (err)
			return err;
	}
	err = trunks_apply(c, trunks);
	if (err)
		return err;
	defaults_derive(c);
	config_check(c);
	return c->nerr ? EINVAL : 0;
}

/*
 * Load and check the configuration file at path. On success *cfgp holds a
 * new configuration (free with mem_deref) and errs is empty. Otherwise
 * returns EINVAL with every problem found in errs (if not NULL), one line
 * each, "FILE: [SECTION] KEY: MESSAGE", or ENOMEM. Not reentrant (see
 * ini_ctx).
 */
int config_load(struct sbc_config **cfgp, const char *path, struct config_errors *errs)
{
	struct config_ctx c = { .path = path, .errs = errs };
	char *buf = NULL;
	size_t len = 0;
	int fd = -1, err;

	if (errs)
		config_errors_init(errs);
	if (!cfgp || !path)
		return EINVAL;
	c.cfg = mem_zalloc(sizeof(*c.cfg), config_destroy);
	if (!c.cfg)
		return ENOMEM;
	if (strlen(path) >= sizeof(c.cfg->path)) {
		config_err(&c, NULL, NULL, "file name longer than %zu characters", sizeof(c.cfg->path) - 1);
		mem_deref(c.cfg);
		return EINVAL;
	}
	memcpy(c.cfg->path, path, strlen(path) + 1);
	err = file_read(&c, &fd, &buf, &len);
	if (!err) {
		err = config_parse(&c, fd, buf, len);
		close(fd);
		if (c.dict)
			iniparser_freedict(c.dict);
		mem_deref(buf);
	}
	if (err) {
		mem_deref(c.cfg);
		return err;
	}
	*cfgp = c.cfg;
	return 0;
}
