/* allow: the runtime allow list: blocks the operator adds through the control socket, kept in a file. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guard_int.h"

/* Room for a quoted excerpt of what the operator typed (log_excerpt, at most 4 bytes per byte). */
#define QUOTE_MAX (LOG_EXCERPT_MAX * 4 + 8)

static size_t fam_len(sa_family_t family)
{
	return family == AF_INET ? 4 : 16;
}

static unsigned fam_index(sa_family_t family)
{
	return family == AF_INET6;
}

/* Keep the first prefix bits of net (len bytes), zero the rest. */
static void net_mask(uint8_t *net, size_t len, unsigned prefix)
{
	for (size_t i = 0; i < len; i++) {
		unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * (unsigned)i : 0;

		net[i] &= (uint8_t)(0xff00u >> keep);
	}
}

/* The order of the list: family, network, prefix (text is not compared). */
static int cidr_cmp(const struct config_cidr *a, const struct config_cidr *b)
{
	int d;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	d = memcmp(a->net, b->net, sizeof(a->net));
	if (d)
		return d;
	return (int)a->prefix - (int)b->prefix;
}

/* Where c is in the sorted list, or where it would go; *found says which. */
static size_t allow_search(const struct guard *g, const struct config_cidr *c, bool *found)
{
	size_t lo = 0, hi = g->allow_n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int d = cidr_cmp(&g->allow[mid].cidr, c);

		if (d == 0) {
			*found = true;
			return mid;
		}
		if (d < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/* The prefix lengths in use per family, longest first: what a lookup tries. */
static void allow_index(struct guard *g)
{
	bool seen[2][129] = { { false } };

	for (size_t i = 0; i < g->allow_n; i++) {
		const struct config_cidr *c = &g->allow[i].cidr;

		seen[fam_index(c->family)][c->prefix] = true;
	}
	for (unsigned f = 0; f < 2; f++) {
		g->allow_nplen[f] = 0;
		for (int p = 128; p >= 0; p--) {
			if (seen[f][p])
				g->allow_plen[f][g->allow_nplen[f]++] = (uint8_t)p;
		}
	}
}

/*
 * Is sa inside a runtime block? One binary search per prefix length in use
 * for its family (one or two in practice), so a long list costs a packet
 * little. A mapped IPv4 address (::ffff:a.b.c.d) counts as IPv4.
 */
bool guard_allow_match(const struct guard *g, const struct sockaddr_storage *sa)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct config_cidr key;
	const uint8_t *b;
	size_t len;
	unsigned f;

	if (sa->ss_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		len = 4;
	} else if (sa->ss_family == AF_INET6) {
		b = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
		len = 16;
		if (memcmp(b, mapped, sizeof(mapped)) == 0) {
			b += sizeof(mapped);
			len = 4;
		}
	} else {
		return false;
	}
	key.family = len == 4 ? AF_INET : AF_INET6;
	f = fam_index(key.family);
	for (unsigned i = 0; i < g->allow_nplen[f]; i++) {
		bool found;

		memset(key.net, 0, sizeof(key.net));
		memcpy(key.net, b, len);
		key.prefix = g->allow_plen[f][i];
		net_mask(key.net, len, key.prefix);
		allow_search(g, &key, &found);
		if (found)
			return true;
	}
	return false;
}

/* Canonical "NETWORK/PREFIX", as the configuration writes it. */
static void cidr_text(struct config_cidr *c)
{
	char a[INET6_ADDRSTRLEN];

	if (!inet_ntop(c->family, c->net, a, sizeof(a)))
		a[0] = '\0';
	snprintf(c->text, sizeof(c->text), "%s/%u", a, c->prefix);
}

int guard_cidr_parse(const char *text, struct config_cidr *c, char *why, size_t size)
{
	const char *slash = strchr(text, '/');
	size_t hl = slash ? (size_t)(slash - text) : strlen(text), len;
	char q[QUOTE_MAX], host[INET6_ADDRSTRLEN + 1];
	uint8_t given[16];

	log_excerpt(q, sizeof(q), text, strlen(text));
	memset(c, 0, sizeof(*c));
	if (hl == 0 || hl >= sizeof(host))
		goto out_bad;
	memcpy(host, text, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, c->net) == 1)
		c->family = AF_INET;
	else if (inet_pton(AF_INET6, host, c->net) == 1)
		c->family = AF_INET6;
	else
		goto out_bad;
	len = fam_len(c->family);
	c->prefix = (uint8_t)(len * 8);
	if (slash) {
		const char *p = slash + 1;
		size_t digits = strspn(p, "0123456789");
		unsigned long prefix = digits ? strtoul(p, NULL, 10) : 0;

		if (digits == 0 || digits > 3 || p[digits] != '\0' || prefix > len * 8) {
			snprintf(why, size, "\"%s\" has a bad prefix length (0-%zu)", q, len * 8);
			return EINVAL;
		}
		c->prefix = (uint8_t)prefix;
	}
	memcpy(given, c->net, len);
	net_mask(c->net, len, c->prefix);
	cidr_text(c);
	if (memcmp(given, c->net, len) != 0) {
		snprintf(why, size, "\"%s\" has host bits set (the block is %s)", q, c->text);
		return EINVAL;
	}
	return 0;

 out_bad:
	snprintf(why, size, "\"%s\" is not an address or an address block ADDRESS/PREFIX", q);
	return EINVAL;
}

bool guard_note_valid(const char *note)
{
	size_t n = strlen(note);

	if (n > GUARD_NOTE_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (note[i] < 0x20 || note[i] > 0x7e)
			return false;
	}
	return true;
}

/* Is c, exactly, a block of [guard] allow? */
static bool in_config(const struct guard *g, const struct config_cidr *c)
{
	const struct config_cidrlist *l = &g->gc->allow;

	for (unsigned i = 0; i < l->n; i++) {
		if (cidr_cmp(&l->v[i], c) == 0)
			return true;
	}
	return false;
}

static void allow_insert(struct guard *g, size_t at, const struct guard_allow_entry *e)
{
	memmove(&g->allow[at + 1], &g->allow[at], (g->allow_n - at) * sizeof(*g->allow));
	g->allow[at] = *e;
	g->allow_n++;
	allow_index(g);
}

static void allow_delete(struct guard *g, size_t at)
{
	memmove(&g->allow[at], &g->allow[at + 1], (g->allow_n - at - 1) * sizeof(*g->allow));
	g->allow_n--;
	allow_index(g);
}

/* The list as the file holds it: {"version": 1, "allow": [{"cidr", "note", "added"}]}. */
static json_t *allow_json(const struct guard *g)
{
	json_t *root = json_object(), *list = json_array();

	if (!root || !list || json_object_set_new(root, "version", json_integer(1)) ||
	    json_object_set(root, "allow", list))
		goto out_free;
	for (size_t i = 0; i < g->allow_n; i++) {
		const struct guard_allow_entry *e = &g->allow[i];

		if (json_array_append_new(list, json_pack("{s:s, s:s, s:I}", "cidr", e->cidr.text,
							  "note", e->note, "added",
							  (json_int_t)e->added)))
			goto out_free;
	}
	json_decref(list);
	return root;

 out_free:
	json_decref(list);
	json_decref(root);
	return NULL;
}

/* Write the file (atomically, 0600) if there is one; 0 or an errno value. */
static int allow_save(struct guard *g)
{
	json_t *root;
	char *text;
	int err;

	if (!g->allow_path)
		return 0;
	root = allow_json(g);
	text = root ? json_dumps(root, JSON_INDENT(1)) : NULL;
	json_decref(root);
	if (!text)
		return ENOMEM;
	err = file_write_atomic(g->allow_path, text, strlen(text), 0600);
	free(text);
	if (err)
		log_warn("guard: %s: %s", g->allow_path, strerror(err));
	return err;
}

static void why_save(const struct guard *g, int err, char *why, size_t size)
{
	snprintf(why, size, "cannot write %s: %s", g->allow_path ? g->allow_path : "the allow list",
		 strerror(err));
}

int guard_allow_add(struct guard *g, const char *text, const char *note,
		    struct config_cidr *added, char *why, size_t size)
{
	struct guard_allow_entry e;
	size_t at, lifted;
	bool found;
	int err;

	memset(&e, 0, sizeof(e));
	err = guard_cidr_parse(text, &e.cidr, why, size);
	if (err)
		return err;
	if (!note)
		note = "";
	if (!guard_note_valid(note)) {
		snprintf(why, size, "the note must be at most %d printable ASCII characters",
			 GUARD_NOTE_MAX);
		return EINVAL;
	}
	at = allow_search(g, &e.cidr, &found);
	if (found || in_config(g, &e.cidr)) {
		snprintf(why, size, "%s is already allowed%s", e.cidr.text,
			 found ? "" : " (in the configuration, [guard] allow)");
		return EEXIST;
	}
	if (g->allow_n >= GUARD_ALLOW_MAX) {
		snprintf(why, size, "the runtime allow list is full (%d entries): remove some first",
			 GUARD_ALLOW_MAX);
		return ENOSPC;
	}
	memcpy(e.note, note, strlen(note) + 1);
	e.added = (int64_t)time(NULL);
	allow_insert(g, at, &e);
	err = allow_save(g);
	if (err) {
		allow_delete(g, at);
		why_save(g, err, why, size);
		return err;
	}
	lifted = guard_bans_lift(g, &e.cidr);
	log_info("guard: %s allowed by the operator%s%s%s, %zu ban%s lifted", e.cidr.text,
		 e.note[0] ? " (" : "", e.note, e.note[0] ? ")" : "", lifted, lifted == 1 ? "" : "s");
	if (added)
		*added = e.cidr;
	return 0;
}

int guard_allow_remove(struct guard *g, const char *text, struct config_cidr *removed,
		       char *why, size_t size)
{
	struct guard_allow_entry e;
	struct config_cidr c;
	size_t at;
	bool found;
	int err = guard_cidr_parse(text, &c, why, size);

	if (err)
		return err;
	at = allow_search(g, &c, &found);
	if (!found) {
		if (in_config(g, &c)) {
			snprintf(why, size, "%s is in the configuration ([guard] allow): edit it there",
				 c.text);
			return EINVAL;
		}
		snprintf(why, size, "%s is not in the runtime allow list", c.text);
		return ENOENT;
	}
	e = g->allow[at];
	allow_delete(g, at);
	err = allow_save(g);
	if (err) {
		allow_insert(g, at, &e);
		why_save(g, err, why, size);
		return err;
	}
	log_info("guard: %s removed from the runtime allow list by the operator", c.text);
	if (removed)
		*removed = c;
	return 0;
}

const struct guard_allow_entry *guard_allow_runtime(const struct guard *g, size_t *n)
{
	*n = g->allow_n;
	return g->allow;
}

/* One entry of the file into the list; false when it is not usable (or one too many). */
static bool load_one(struct guard *g, json_t *v)
{
	const char *cidr = NULL, *note = "";
	json_int_t added = 0;
	struct guard_allow_entry e;
	char why[QUOTE_MAX + 64];
	size_t at;
	bool found;

	if (json_unpack(v, "{s:s, s?s, s?I}", "cidr", &cidr, "note", &note, "added", &added) != 0)
		return false;
	memset(&e, 0, sizeof(e));
	if (guard_cidr_parse(cidr, &e.cidr, why, sizeof(why)) || !guard_note_valid(note) ||
	    added < 0 || g->allow_n >= GUARD_ALLOW_MAX)
		return false;
	at = allow_search(g, &e.cidr, &found);
	if (found)
		return false;
	memcpy(e.note, note, strlen(note) + 1);
	e.added = (int64_t)added;
	memmove(&g->allow[at + 1], &g->allow[at], (g->allow_n - at) * sizeof(*g->allow));
	g->allow[at] = e;
	g->allow_n++;
	return true;
}

/* Read the file into an empty list; a bad file or entry is logged and skipped. */
static int allow_load(struct guard *g)
{
	json_error_t jerr;
	json_t *root, *list, *v;
	size_t i, bad = 0;

	g->allow_n = 0;
	root = json_load_file(g->allow_path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (access(g->allow_path, F_OK) == 0)
			log_warn("guard: %s: line %d: %s; starting without the runtime allow list",
				 g->allow_path, jerr.line, jerr.text);
		return ENOENT;
	}
	list = json_object_get(root, "allow");
	if (!json_is_array(list)) {
		log_warn("guard: %s: no \"allow\" list; starting without the runtime allow list",
			 g->allow_path);
		json_decref(root);
		return EINVAL;
	}
	json_array_foreach(list, i, v) {
		if (!load_one(g, v))
			bad++;
	}
	json_decref(root);
	allow_index(g);
	if (bad)
		log_warn("guard: %s: %zu unusable entries skipped (bad, repeated or past %d)",
			 g->allow_path, bad, GUARD_ALLOW_MAX);
	log_info("guard: %zu runtime allow list entries read from %s", g->allow_n, g->allow_path);
	return 0;
}

int guard_allow_open(struct guard *g, const char *path)
{
	char *p = strdup(path);

	if (!p)
		return ENOMEM;
	free(g->allow_path);
	g->allow_path = p;
	return allow_load(g);
}
