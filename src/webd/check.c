/* check: what sbc-webd checks in a request: static paths, Origin against Host, cookies, types, commands. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "util/util.h"
#include "webd.h"

/* A byte allowed in a static file name: letters, digits, '-', '_', '.' (not first). */
static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.';
}

/*
 * The file a request path names, relative to the web root, into out:
 * "/" is "index.html"; otherwise the path is percent-decoded and must be
 * components of name_char bytes, none empty and none starting with '.'
 * (so no "..", no dot files, no trailing '/': no directory listing).
 * ENOENT for anything else (the server answers 404); ENAMETOOLONG.
 */
int webd_path_resolve(const char *uri_path, char *out, size_t size)
{
	size_t n = 0;
	bool start = true;

	if (!uri_path || uri_path[0] != '/')
		return ENOENT;
	if (strcmp(uri_path, "/") == 0)
		uri_path = "/index.html";
	for (const char *p = uri_path + 1; *p; p++) {
		char c = *p;

		if (c == '%') {
			int hi = hex_digit(p[1]), lo = hi < 0 ? -1 : hex_digit(p[2]);

			if (lo < 0)
				return ENOENT;
			c = (char)(hi << 4 | lo);
			p += 2;
		}
		if (c == '/') {
			if (start)
				return ENOENT;   /* empty component */
			start = true;
		} else {
			if (!name_char(c) || (start && c == '.'))
				return ENOENT;
			start = false;
		}
		if (n + 1 >= size || n + 1 >= WEBD_URI_PATH_MAX)
			return ENAMETOOLONG;
		out[n++] = c;
	}
	if (start)
		return ENOENT;   /* "" or a trailing '/' */
	out[n] = '\0';
	return 0;
}

static const struct {
	const char *ext;
	const char *type;
} content_types[] = {
	{ "html", "text/html; charset=utf-8" },
	{ "js", "text/javascript; charset=utf-8" },
	{ "css", "text/css; charset=utf-8" },
	{ "svg", "image/svg+xml" },
	{ "png", "image/png" },
	{ "ico", "image/x-icon" },
	{ "json", "application/json" },
	{ "webmanifest", "application/manifest+json" },
};

/* The Content-Type of a static file by its extension, or NULL: not served. */
const char *webd_content_type(const char *relpath)
{
	const char *slash = strrchr(relpath, '/');
	const char *dot = strrchr(slash ? slash + 1 : relpath, '.');

	if (!dot)
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(content_types); i++) {
		if (strcmp(dot + 1, content_types[i].ext) == 0)
			return content_types[i].type;
	}
	return NULL;
}

/*
 * A request that changes something may come from a page of this server
 * only: an Origin header, when present, must be "https://" followed by
 * the Host header (host names compare case-insensitively). No Host, or
 * an Origin of "null", fails.
 */
bool webd_origin_ok(const char *origin, const char *host)
{
	static const char scheme[] = "https://";

	if (!origin)
		return true;
	if (!host || !host[0] || strncasecmp(origin, scheme, sizeof(scheme) - 1) != 0)
		return false;
	return strcasecmp(origin + sizeof(scheme) - 1, host) == 0;
}

/*
 * The value of cookie name in a Cookie header ("a=1; b=2") into out.
 * ENOENT when absent, ENAMETOOLONG when the value does not fit. The
 * first occurrence wins.
 */
int webd_cookie_get(const char *header, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);
	const char *p = header;

	while (p && *p) {
		const char *end = strchr(p, ';'), *v;
		size_t len;

		while (*p == ' ' || *p == '\t')
			p++;
		len = end ? (size_t)(end - p) : strlen(p);
		if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
			v = p + nl + 1;
			len -= nl + 1;
			while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
				len--;
			if (len >= size)
				return ENAMETOOLONG;
			memcpy(out, v, len);
			out[len] = '\0';
			return 0;
		}
		p = end ? end + 1 : NULL;
	}
	return ENOENT;
}

/* True for "application/json", in any case, with or without parameters. */
bool webd_ctype_json(const char *ctype)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	if (!ctype || strncasecmp(ctype, want, n) != 0)
		return false;
	ctype += n;
	while (*ctype == ' ' || *ctype == '\t')
		ctype++;
	return *ctype == '\0' || *ctype == ';';
}

/* The token of "Authorization: Bearer TOKEN": 0, or ENOENT. */
int webd_bearer_get(const char *auth, const char **tok, size_t *len)
{
	static const char scheme[] = "Bearer ";
	size_t n;

	if (!auth || strncasecmp(auth, scheme, sizeof(scheme) - 1) != 0)
		return ENOENT;
	auth += sizeof(scheme) - 1;
	while (*auth == ' ')
		auth++;
	n = strlen(auth);
	while (n && (auth[n - 1] == ' ' || auth[n - 1] == '\t'))
		n--;
	if (!n)
		return ENOENT;
	*tok = auth;
	*len = n;
	return 0;
}

static const struct {
	const char *name;
	enum webd_cmd_kind kind;
} commands[] = {
	{ "help", WEBD_CMD_READ },
	{ "status", WEBD_CMD_READ },
	{ "stats", WEBD_CMD_READ },
	{ "guard.stats", WEBD_CMD_READ },
	{ "guard.bans", WEBD_CMD_READ },
	{ "guard.top", WEBD_CMD_READ },
	{ "guard.timeline", WEBD_CMD_READ },
	{ "guard.allow", WEBD_CMD_READ },
	{ "calls", WEBD_CMD_READ },
	{ "calls.get", WEBD_CMD_READ },
	{ "registrations", WEBD_CMD_READ },
	{ "trunks", WEBD_CMD_READ },
	{ "config.get", WEBD_CMD_READ },
	{ "trace.status", WEBD_CMD_READ },
	{ "metrics", WEBD_CMD_READ },
	{ "guard.unban", WEBD_CMD_CHANGE },
	{ "guard.allow.add", WEBD_CMD_CHANGE },
	{ "guard.allow.remove", WEBD_CMD_CHANGE },
	{ "calls.hangup", WEBD_CMD_CHANGE },
	{ "config.validate", WEBD_CMD_CHANGE },
	{ "config.apply", WEBD_CMD_CHANGE },
	{ "trace.start", WEBD_CMD_CHANGE },
	{ "trace.stop", WEBD_CMD_CHANGE },
	{ "system.restart", WEBD_CMD_CHANGE },
};

/* Whether the web may send cmd to sbcd, and with which method (GET: read, POST: change). */
enum webd_cmd_kind webd_cmd_kind(const char *cmd)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].kind;
	}
	return WEBD_CMD_NONE;
}
