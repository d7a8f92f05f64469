/* configctl: the configuration file on the control socket: read it, check a text, apply it (docs/control.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "sbcd_int.h"

#define CHECK_SUFFIX   ".check.XXXXXX"        /* mkstemp template after the config path */
#define CHECK_NAME     "config.check.XXXXXX"  /* the same in data_dir */
#define BACKUP_SUFFIX  ".bak"
#define NEW_FILE_MODE  0600                   /* when the running file's mode is unknown */

/* args {"text": "..."}: the text and its length, or an error naming what is wrong. */
static int text_arg(const json_t *args, const char **textp, size_t *lenp, char *err, size_t errlen)
{
	static const char *const keys[] = { "text", NULL };
	const json_t *v = json_object_get(args, "text");
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	if (!v) {
		snprintf(err, errlen, "missing argument \"text\" (the whole configuration file)");
		return EINVAL;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "\"text\" must be a string");
		return EINVAL;
	}
	if (json_string_length(v) > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "\"text\" is larger than %d bytes", CONFIG_FILE_MAX);
		return EINVAL;
	}
	*textp = json_string_value(v);
	*lenp = json_string_length(v);
	return 0;
}

/* A private file for the text: next to the running file, else in data_dir; its name in path. */
static int check_file_make(const struct sbcd *s, char *path, size_t size, int *fdp)
{
	int fd = -1, err = ENAMETOOLONG;

	if (snprintf(path, size, "%s" CHECK_SUFFIX, s->opts.config_path) < (int)size) {
		fd = mkstemp(path);
		err = fd == -1 ? errno : 0;
	}
	if (fd == -1 && s->cfg && s->cfg->general.data_dir[0] &&
	    snprintf(path, size, "%s/" CHECK_NAME, s->cfg->general.data_dir) < (int)size) {
		fd = mkstemp(path);
		err = fd == -1 ? errno : 0;
	}
	if (fd == -1)
		return err;
	if (fchmod(fd, 0600) == -1) {
		err = errno;
		close(fd);
		unlink(path);
		return err;
	}
	*fdp = fd;
	return 0;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Check a configuration text as config_load reads a file: *valid tells the
 * verdict, errs the lines, tmp the private file's name (gone on return) so
 * the caller can hide it. An errno value when the check itself failed.
 */
static int config_text_check(const struct sbcd *s, const char *text, size_t len,
			     struct config_errors *errs, char *tmp, size_t tmpsize, bool *valid)
{
	struct sbc_config *cfg = NULL;
	int fd = -1, err;

	err = check_file_make(s, tmp, tmpsize, &fd);
	if (err)
		return err;
	err = write_all(fd, text, len);
	if (close(fd) == -1 && !err)
		err = errno;
	if (!err)
		err = config_load(&cfg, tmp, errs);
	unlink(tmp);
	mem_deref(cfg);
	*valid = err == 0;
	return err == EINVAL ? 0 : err;
}

/* line with every tmp replaced by path, as a new JSON string. */
static json_t *line_json(const char *line, const char *tmp, const char *path)
{
	size_t tl = strlen(tmp), pl = strlen(path), n = 0, size;
	const char *p, *hit;
	char *buf, *o;
	json_t *j;

	for (p = line; (hit = strstr(p, tmp)); p = hit + tl)
		n++;
	size = strlen(line) + n * pl + 1;
	buf = malloc(size);
	if (!buf)
		return NULL;
	o = buf;
	for (p = line; (hit = strstr(p, tmp)); p = hit + tl) {
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, path, pl);
		o += pl;
	}
	memcpy(o, p, strlen(p) + 1);
	j = json_string(buf);
	free(buf);
	return j;
}

static json_t *errors_json(const struct config_errors *errs, const char *tmp, const char *path)
{
	json_t *a = json_array();

	for (unsigned i = 0; a && i < errs->n; i++) {
		if (json_array_append_new(a, line_json(errs->msg[i], tmp, path))) {
			a = (json_decref(a), NULL);
		}
	}
	return a;
}

static int check_failed(char *err, size_t errlen, int e)
{
	snprintf(err, errlen, "cannot check the configuration: %s", strerror(e));
	return e;
}

/* A "text" argument checked as a file would be: the common start of config.validate and apply. */
struct text_check {
	const char *text;
	size_t len;
	struct config_errors *errs;   /* the caller's, mem_deref it */
	char tmp[PATH_MAX];           /* the private file's name, for the error lines */
	bool valid;
};

static int text_check_args(const struct sbcd *s, const json_t *args, struct text_check *tc,
			   char *err, size_t errlen)
{
	int e = text_arg(args, &tc->text, &tc->len, err, errlen);

	if (e)
		return e;
	tc->errs = mem_zalloc(sizeof(*tc->errs), NULL);
	if (!tc->errs)
		return ENOMEM;
	e = config_text_check(s, tc->text, tc->len, tc->errs, tc->tmp, sizeof(tc->tmp), &tc->valid);
	if (e) {
		tc->errs = mem_deref(tc->errs);
		return check_failed(err, errlen, e);
	}
	return 0;
}

/* config.get: the running file's name and its text as it is now on disk. */
static int cmd_get(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	static const char *const keys[] = { NULL };
	const struct sbcd *s = arg;
	char *buf = NULL;
	size_t len = 0;
	int e = ctl_args_only(args, keys, err, errlen);

	if (e)
		return e;
	e = file_read_max(s->opts.config_path, CONFIG_FILE_MAX, &buf, &len, NULL, NULL);
	if (e) {
		snprintf(err, errlen, "%s: %s", s->opts.config_path,
			 e == EFBIG ? "larger than the configuration size limit" : strerror(e));
		return e;
	}
	*result = json_pack("{s:s, s:s%}", "path", s->opts.config_path, "text", buf, len);
	mem_deref(buf);
	if (!*result) {
		snprintf(err, errlen, "%s: not UTF-8 text", s->opts.config_path);
		return EINVAL;
	}
	return 0;
}

/* config.validate {"text"}: whether the text would load, and the error lines if not. */
static int cmd_validate(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	const struct sbcd *s = arg;
	struct text_check tc;
	int e = text_check_args(s, args, &tc, err, errlen);

	if (e)
		return e;
	*result = json_pack("{s:b, s:o, s:i}", "valid", tc.valid,
			    "errors", errors_json(tc.errs, tc.tmp, s->opts.config_path),
			    "more", (int)tc.errs->dropped);
	mem_deref(tc.errs);
	return *result ? 0 : ENOMEM;
}

/* Keep the running file as path.bak (owner only) and say the running file's mode. */
static int backup_write(const char *path, unsigned *modep, char *err, size_t errlen)
{
	char bak[PATH_MAX];
	char *old = NULL;
	struct stat st;
	size_t len = 0;
	int e;

	if (snprintf(bak, sizeof(bak), "%s" BACKUP_SUFFIX, path) >= (int)sizeof(bak)) {
		snprintf(err, errlen, "%s" BACKUP_SUFFIX ": %s", path, strerror(ENAMETOOLONG));
		return ENAMETOOLONG;
	}
	e = file_read_max(path, CONFIG_FILE_MAX, &old, &len, NULL, &st);
	if (e) {
		snprintf(err, errlen, "cannot read %s for the backup: %s", path,
			 e == EFBIG ? "larger than the configuration size limit" : strerror(e));
		return e;
	}
	*modep = (unsigned)(st.st_mode & 07777);
	e = file_write_atomic(bak, old, len, 0600);
	mem_deref(old);
	if (e)
		snprintf(err, errlen, "cannot write the backup %s: %s", bak, strerror(e));
	return e;
}

/*
 * config.apply {"text"}: check the text; if it loads, back up the running
 * file, write the text in its place and reload as SIGHUP does (calls in
 * progress go on).
 */
static int cmd_apply(const json_t *args, json_t **result, char *err, size_t errlen, void *arg)
{
	struct sbcd *s = arg;
	const struct sbc_config *before;
	unsigned mode = NEW_FILE_MODE;
	struct text_check tc;
	int e = text_check_args(s, args, &tc, err, errlen);

	if (e)
		return e;
	if (!tc.valid) {
		const struct config_errors *errs = tc.errs;
		json_t *first = errs->n ? line_json(errs->msg[0], tc.tmp, s->opts.config_path) : NULL;
		unsigned more = (errs->n ? errs->n - 1 : 0) + errs->dropped;

		snprintf(err, errlen, "invalid configuration: %s (%u more error%s)",
			 first ? json_string_value(first) : "?", more, more == 1 ? "" : "s");
		json_decref(first);
		mem_deref(tc.errs);
		return EINVAL;
	}
	mem_deref(tc.errs);
	e = backup_write(s->opts.config_path, &mode, err, errlen);
	if (e)
		return e;
	e = file_write_atomic(s->opts.config_path, tc.text, tc.len, mode);
	if (e) {
		snprintf(err, errlen, "cannot write %s: %s", s->opts.config_path, strerror(e));
		return e;
	}
	log_info("control: new configuration written to %s (the old one in %s" BACKUP_SUFFIX ")",
		 s->opts.config_path, s->opts.config_path);
	before = s->cfg;
	sbcd_reload(s);
	if (s->cfg == before) {
		/* changed on disk between the check and the reload */
		snprintf(err, errlen, "written, but the reload was refused: %s",
			 s->errs.n ? s->errs.msg[0] : "see the log");
		return EINVAL;
	}
	*result = json_pack("{s:b}", "applied", true);
	return *result ? 0 : ENOMEM;
}

static const struct ctl_cmd_def cmds[] = {
	{ "config.get", cmd_get },
	{ "config.validate", cmd_validate },
	{ "config.apply", cmd_apply },
};

int sbcd_configctl_start(struct sbcd *s)
{
	if (!s->ctl)
		return 0;
	return ctl_register_all(s->ctl, cmds, ARRAY_SIZE(cmds), s);
}

void sbcd_configctl_stop(struct sbcd *s)
{
	if (s->ctl)
		ctl_unregister_all(s->ctl, cmds, ARRAY_SIZE(cmds));
}
