/*
 * conf_load: defaults, then the INI file, then the environment, then the
 * command-line flags, each layer overriding the one before; then the remotes
 * are built and the whole is cross-checked.
 *
 * The file must be a regular file of at most LD_MAX_CONFIG bytes; it is read
 * whole (never blocking on a FIFO, never growing without bound) and checked
 * for places others could read or replace it, which become warnings.  It
 * then goes through libinih.  Our line reader sits between the text and
 * inih: it counts lines (so every message carries one), strips indentation
 * (inih would otherwise take an indented line as a continuation of the
 * previous value), rejects over-long lines instead of letting them be cut,
 * and sees every [section] header, so an empty or misspelt section is
 * reported even though inih only calls us for keys.  inih calls the handler
 * for the line the reader has just returned, so the reader's line number and
 * section are the handler's too.
 *
 * A fixed key's value is parsed and stored as soon as it is seen, so errors
 * come in file order.  A remote's keys cannot be checked until its type is
 * known, and the type may come later in the section or from the
 * environment, so a remote's key = value pairs are collected from all layers
 * first and checked afterwards, in the same order.
 *
 * Every failure is one line in err, code CB_ERR_CONFIG (or CB_ERR_NOMEM);
 * only the first failure is kept.
 *
 * This file reads the file and runs the whole; env.c reads the environment,
 * remote.c builds the remotes, and loader.c holds what they share.
 */
#include "conf/loader.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_TZDIR "/usr/share/zoneinfo"

static const char *const fixed_sections[] = {"database", "local", "schedule", "watch",
						 "restore", "sync", "metrics", "log"};
#define N_SECTIONS (sizeof(fixed_sections) / sizeof(fixed_sections[0]))

/* ---- the file ---- */

/* key = value in a fixed section of the file. */
static enum result file_fixed(struct loader *ld, const char *key, const char *raw)
{
	const char *sec = ld->sec_name;
	int i = conf_fixed_find(sec, key);
	bool via_file = false;
	char where[512], origin[200];
	char *value = NULL, *file = NULL;

	if (i < 0 && ld_ends_with(key, "_file")) {
		char *stem = strndup(key, strlen(key) - 5);
		if (!stem)
			return ld_nomem(ld);
		i = conf_fixed_find(sec, stem);
		free(stem);
		via_file = i >= 0;
	}
	if (i < 0) {
		const char *cands[32];
		size_t n = 0;
		for (size_t k = 0; k < conf_n_fixed_keys && n < 32; k++)
			if (strcmp(conf_fixed_keys[k].section, sec) == 0)
				cands[n++] = conf_fixed_keys[k].key;
		const char *hint = ld_closest(key, cands, n);
		if (ld_keep_hint(key))
			return ld_bad(ld, "%s:%d: [%s] unknown key \"%s\"; HINT: %s", ld->path,
				   ld->line, sec, key, ld_keep_hint(key));
		if (hint)
			return ld_bad(ld, "%s:%d: [%s] unknown key \"%s\"; HINT: did you mean \"%s\"?",
				   ld->path, ld->line, sec, key, hint);
		return ld_bad(ld, "%s:%d: [%s] unknown key \"%s\"", ld->path, ld->line, sec, key);
	}
	const char *name = conf_fixed_keys[i].key;
	if (ld->file_line[i]) {
		if (ld->file_via[i] == via_file)
			return ld_bad(ld, "%s:%d: [%s] %s: given twice (first at line %d)", ld->path,
				   ld->line, sec, key, ld->file_line[i]);
		return ld_bad(ld, "%s:%d: [%s] %s: both %s and %s_file are given (the other at "
			   "line %d); HINT: keep one of them", ld->path, ld->line, sec, key, name,
			   name, ld->file_line[i]);
	}
	ld->file_line[i] = ld->line;
	ld->file_via[i] = via_file;

	snprintf(where, sizeof(where), "%s:%d: [%s] %s", ld->path, ld->line, sec, key);
	snprintf(origin, sizeof(origin), "%s:%d", ld->path, ld->line);
	value = ld_entry_value(ld, where, raw, LAYER_FILE, via_file, &file, NULL);
	if (value)
		ld_apply_fixed(ld, (size_t)i, value, where, origin, file);
	free(value);
	free(file);
	return ld->rc;
}

/* The header "[remote "NAME"]": inner is the text between the brackets,
 * starting just after the word remote. */
static enum result remote_header(struct loader *ld, const char *rest, const char *inner)
{
	char why[200];
	const char *p = rest + strspn(rest, " \t");
	const char *close = *p == '"' ? strchr(p + 1, '"') : NULL;
	if (!close || close[1 + strspn(close + 1, " \t")] != '\0')
		return ld_bad(ld, "%s:%d: bad section [%s]; HINT: write [remote \"NAME\"]", ld->path,
			   ld->line, inner);
	char *name = ld_lower_dup(p + 1, (size_t)(close - p - 1));
	if (!name)
		return ld_nomem(ld);
	if (!ld_remote_name_ok(name, why, sizeof(why))) {
		ld_bad(ld, "%s:%d: [%s]: %s", ld->path, ld->line, inner, why);
		goto out;
	}
	struct rdecl *dup = ld_decl_find(ld, name);
	if (dup) {
		ld_bad(ld, "%s:%d: duplicate [remote \"%s\"] (first at line %d)", ld->path, ld->line,
		    name, dup->line);
		goto out;
	}
	char *loc = ld_fmt("%s:%d", ld->path, ld->line);
	if (!loc) {
		ld_nomem(ld);
		goto out;
	}
	if (ld_decl_add(ld, name, loc, ld->line)) {
		ld->sec = SEC_REMOTE;
		ld->sec_remote = ld->n_decl - 1;
	}
out:
	free(name);
	return ld->rc;
}

/* A line starting with "[": which section the keys that follow belong to. */
static enum result section_header(struct loader *ld, const char *line)
{
	const char *close = strchr(line, ']');
	if (!close) {
		/* inih reports this line as a syntax error. */
		ld->unclosed_line = ld->line;
		ld->sec = SEC_BROKEN;
		return CB_OK;
	}
	const char *after = close + 1 + strspn(close + 1, " \t");
	if (*after && *after != '#' && *after != ';')
		return ld_bad(ld, "%s:%d: unexpected text after \"]\"", ld->path, ld->line);

	const char *s = line + 1 + strspn(line + 1, " \t");
	size_t n = (size_t)(close - s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	char inner[256];
	snprintf(inner, sizeof(inner), "%.*s", (int)n, s);

	for (size_t i = 0; i < N_SECTIONS; i++) {
		if (strcasecmp(inner, fixed_sections[i]) != 0)
			continue;
		for (size_t j = 0; j < ld->n_seen; j++)
			if (ld->seen_section[j] == fixed_sections[i])
				return ld_bad(ld, "%s:%d: duplicate section [%s] (first at line %d)",
					   ld->path, ld->line, fixed_sections[i], ld->seen_line[j]);
		ld->seen_section[ld->n_seen] = fixed_sections[i];
		ld->seen_line[ld->n_seen++] = ld->line;
		ld->sec = SEC_FIXED;
		ld->sec_name = fixed_sections[i];
		return CB_OK;
	}
	if (strncasecmp(inner, "remote", 6) == 0 && (inner[6] == '\0' || inner[6] == ' ' ||
						      inner[6] == '\t' || inner[6] == '"'))
		return remote_header(ld, inner + 6, inner);

	const char *cands[N_SECTIONS + 1];
	for (size_t i = 0; i < N_SECTIONS; i++)
		cands[i] = fixed_sections[i];
	cands[N_SECTIONS] = "remote";
	const char *hint = ld_closest(inner, cands, N_SECTIONS + 1);
	if (hint && strcmp(hint, "remote") == 0)
		return ld_bad(ld, "%s:%d: unknown section [%s]; HINT: did you mean [remote \"NAME\"]?",
			   ld->path, ld->line, inner);
	if (hint)
		return ld_bad(ld, "%s:%d: unknown section [%s]; HINT: did you mean [%s]?", ld->path,
			   ld->line, inner, hint);
	return ld_bad(ld, "%s:%d: unknown section [%s]", ld->path, ld->line, inner);
}

/* inih's line reader (an fgets work-alike) over the file read whole: see
 * the comment at the top. */
static char *read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	if (ld->rc || ld->pos >= ld->text_len)
		return NULL;
	char *s = ld->text + ld->pos;
	size_t rest = ld->text_len - ld->pos;
	char *nl = memchr(s, '\n', rest);
	size_t n = nl ? (size_t)(nl - s) : rest;
	ld->pos += n + (nl != NULL);
	ld->line++;
	if (memchr(s, '\0', n)) {
		ld_bad(ld, "%s:%d: the line contains a NUL byte (is this a text file?)", ld->path,
		    ld->line);
		return NULL;
	}
	s[n] = '\0';           /* the newline, or the terminator ld_read_file added */
	if (ld->line == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3;
	s += strspn(s, " \t");
	size_t len = strlen(s);
	while (len && s[len - 1] == '\r')
		s[--len] = '\0';
	if (len + 1 > (size_t)num) {
		ld_bad(ld, "%s:%d: the line is longer than %d characters; HINT: put a long value "
		    "in a file and name it with KEY_file = PATH", ld->path, ld->line, num - 1);
		return NULL;
	}
	if (*s == '[' && section_header(ld, s))
		return NULL;
	memcpy(str, s, len + 1);
	return str;
}

/* Remove a "#" comment (at the start of the value or after a blank; inih
 * has removed " ;" ones) and one pair of quotes around the whole value.
 * Returns a new string. */
static char *clean_value(const char *value)
{
	size_t n = strlen(value);
	for (size_t i = 0; i < n; i++) {
		if (value[i] == '#' && (i == 0 || value[i - 1] == ' ' || value[i - 1] == '\t')) {
			n = i;
			break;
		}
	}
	while (n && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if (n >= 2 && value[0] == '"' && value[n - 1] == '"')
		return strndup(value + 1, n - 2);
	return strndup(value, n);
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct loader *ld = user;
	(void)section;          /* the reader keeps track of sections */
	if (ld->rc)
		return 0;
	if (!name)              /* a libinih built to report bare section headers */
		return 1;
	char *key = ld_lower_dup(name, strlen(name));
	char *val = clean_value(value ? value : "");
	if (!key || !val) {
		ld_nomem(ld);
		goto out;
	}
	switch (ld->sec) {
	case SEC_NONE:
		ld_bad(ld, "%s:%d: \"%s\" comes before any [section]", ld->path, ld->line, key);
		break;
	case SEC_BROKEN:
		break;          /* inih has already flagged the header */
	case SEC_FIXED:
		file_fixed(ld, key, val);
		break;
	case SEC_REMOTE: {
		struct rdecl *d = &ld->decl[ld->sec_remote];
		ld_rentry_add(ld, d, (struct rentry){
			.key = key, .value = val, .layer = LAYER_FILE, .line = ld->line,
			.origin = ld_fmt("%s:%d", ld->path, ld->line),
			.loc = ld_fmt("%s:%d: [remote \"%s\"]", ld->path, ld->line, d->name),
		});
		key = val = NULL;
		break;
	}
	}
out:
	free(key);
	free(val);
	return ld->rc ? 0 : 1;
}

/* Warn about a config file that others can read or change, or that sits
 * in a directory where others could replace it: the directory holding it,
 * if anyone may write there (even with the sticky bit, which stops deletion
 * but not a file planted before ours), and any directory above without the
 * sticky bit, where another user could rename the way to it. */
static enum result check_config_place(struct loader *ld, const char *path, unsigned mode)
{
	const char *exposed = ld_mode_exposure(mode);
	if (exposed && ld_warn(ld, "config file '%s' %s (mode %04o); HINT: chmod 600 '%s' "
			       "(or 640 with the service's group)", path, exposed, mode, path))
		return ld->rc;

	char *copy = strdup(path), *dir = NULL;
	if (!copy)
		return ld_nomem(ld);
	char *slash = strrchr(copy, '/');
	if (!slash)
		dir = realpath(".", NULL);
	else if (slash == copy)
		dir = realpath("/", NULL);
	else {
		*slash = '\0';
		dir = realpath(copy, NULL);
	}
	free(copy);
	for (bool holder = true; dir; holder = false) {
		struct stat st;
		if (stat(dir, &st) != 0)
			break;
		if ((st.st_mode & S_IWOTH) && (holder || !(st.st_mode & S_ISVTX))) {
			ld_warn(ld, "config file '%s' is in a directory other users can write to "
				"('%s', mode %04o), so they could put their own in its place; HINT: "
				"keep it in a directory only its owner can change, such as "
				"/etc/cbsync", path, dir, (unsigned)(st.st_mode & 07777));
			break;
		}
		char *up = strrchr(dir, '/');
		if (!up || strcmp(dir, "/") == 0)
			break;
		up[up == dir] = '\0';  /* "/a/b" -> "/a", "/a" -> "/" */
	}
	free(dir);
	return ld->rc;
}

/* Which file to read: --config, $CBSYNC_CONFIG, else the system file if
 * it exists; it is read whole into ld->text.  ld->path stays NULL for
 * none. */
static enum result read_config(struct loader *ld)
{
	const char *p = ld->opts->path, *named_by = "--config";
	const char *system = ld->opts->system_path ? ld->opts->system_path : CONF_SYSTEM_PATH;
	bool optional = false;
	char why[200];
	unsigned mode = 0;
	if (!(ld->c->system_path = strdup(system)))
		return ld_nomem(ld);
	if (!p) {
		const char *v = ld_env_get(ld, "CBSYNC_CONFIG");
		if (v && *v) {
			p = v;
			named_by = "CBSYNC_CONFIG";
		}
	}
	if (!p) {
		p = system;
		optional = true;
	}
	switch (ld_read_file(p, LD_MAX_CONFIG, &ld->text, &ld->text_len, &mode, why,
			     sizeof(why))) {
	case LD_READ_OK:
		break;
	case LD_READ_ERRNO:
		if (optional && (errno == ENOENT || errno == ENOTDIR))
			return CB_OK;
		return ld_bad(ld, "cannot read config file '%s': %s", p, why);
	case LD_READ_DIRECTORY:
		if (!optional) {
			size_t n = strlen(p);
			while (n > 1 && p[n - 1] == '/')
				n--;
			return ld_bad(ld, "cannot read config file '%s': it is a directory; HINT: "
				   "%s names the file itself, e.g. %.*s/cbsync.conf", p, named_by,
				   (int)n, p);
		}
		/* fall through */
	case LD_READ_NOT_REGULAR:
		if (optional)
			return ld_bad(ld, "cannot read config file '%s': %s; HINT: replace it with "
				   "a regular file, or name one with --config", p, why);
		return ld_bad(ld, "cannot read config file '%s': %s; HINT: %s must name a "
			   "regular file (e.g. /etc/cbsync/cbsync.conf)", p, why, named_by);
	case LD_READ_TOO_LARGE:
		return ld_bad(ld, "cannot read config file '%s': it is larger than %d MiB, far "
			   "more than a config file needs; HINT: is this the right file?", p,
			   LD_MAX_CONFIG / (1024 * 1024));
	case LD_READ_NOMEM:
		return ld_nomem(ld);
	}
	ld->path = p;
	if (!(ld->c->source = strdup(p)))
		return ld_nomem(ld);
	return check_config_place(ld, p, mode);
}

static enum result load_file(struct loader *ld)
{
	if (read_config(ld) || !ld->path)
		return ld->rc;
	ld->in_file = true;
	int ret = ini_parse_stream(read_line, ld, on_key, ld);
	ld->in_file = false;
	if (ret == -2)
		return ld_nomem(ld);
	if (ret > 0 && (!ld->rc || ret < ld->err_line)) {
		/* inih found a syntax error on an earlier line than ours. */
		ld->rc = CB_ERR_CONFIG;
		if (ret == ld->unclosed_line)
			error_set(ld->err, CB_ERR_CONFIG, "%s:%d: syntax error: \"[\" without a "
				  "closing \"]\"", ld->path, ret);
		else
			error_set(ld->err, CB_ERR_CONFIG, "%s:%d: syntax error: expected "
				  "\"key = value\", \"[section]\" or a comment", ld->path, ret);
	}
	return ld->rc;
}

/* ---- flags, checks across keys, and the whole ---- */

static enum result apply_flags(struct loader *ld)
{
	if (ld->opts->db_flag)
		ld_apply_fixed(ld, ld_fixed_index("database", "path"), ld->opts->db_flag, "--db", "--db",
			    NULL);
	if (!ld->rc && ld->opts->dir_flag)
		ld_apply_fixed(ld, ld_fixed_index("local", "dir"), ld->opts->dir_flag, "--dir", "--dir",
			    NULL);
	return ld->rc;
}

/* [watch] quiet and min_interval must fit inside max_delay.  The message
 * blames whichever side was set away from its default. */
static enum result check_not_longer(struct loader *ld, const char *key, double v, double max)
{
	size_t i = ld_fixed_index("watch", key), m = ld_fixed_index("watch", "max_delay");
	char a[32], b[32];
	if (v <= max)
		return CB_OK;
	conf_format_duration(v, a, sizeof(a));
	conf_format_duration(max, b, sizeof(b));
	if (ld->where[i])
		return ld_bad(ld, "%s: %s is longer than max_delay (%s); HINT: quiet and "
			   "min_interval must not exceed max_delay", ld->where[i], a, b);
	return ld_bad(ld, "%s: %s is shorter than %s (%s); HINT: quiet and min_interval must "
		   "not exceed max_delay", ld->where[m] ? ld->where[m] : "[watch] max_delay",
		   b, key, a);
}

static enum result cross_check(struct loader *ld)
{
	const struct conf *c = ld->c;
	if (check_not_longer(ld, "quiet", c->watch_quiet, c->watch_max_delay))
		return ld->rc;
	if (check_not_longer(ld, "min_interval", c->watch_min_interval, c->watch_max_delay))
		return ld->rc;
	if (c->sync_retry_min <= 0 || c->sync_retry_min > c->sync_retry_max) {
		size_t i = ld_fixed_index("sync", "retry_min");
		return ld_bad(ld, "%s: must be more than 0 and at most retry_max",
			      ld->where[i] ? ld->where[i] : "[sync] retry_min");
	}
	return CB_OK;
}

static void loader_free(struct loader *ld)
{
	free(ld->text);
	for (size_t i = 0; i < conf_n_fixed_keys; i++) {
		if (ld->env_var)
			free(ld->env_var[i]);
		if (ld->where)
			free(ld->where[i]);
	}
	free(ld->file_line);
	free(ld->file_via);
	free(ld->env_var);
	free(ld->where);
	for (size_t i = 0; i < ld->n_decl; i++) {
		struct rdecl *d = &ld->decl[i];
		for (size_t j = 0; j < d->n; j++) {
			free(d->e[j].key);
			free(d->e[j].value);
			free(d->e[j].origin);
			free(d->e[j].loc);
		}
		free(d->e);
		free(d->name);
		free(d->loc);
	}
	free(ld->decl);
	for (size_t i = 0; i < ld->n_vars; i++)
		free(ld->vars[i].name);
	free(ld->vars);
}

enum result conf_load(struct conf *c, const struct conf_load_opts *opts, struct error *err)
{
	static const struct conf_load_opts none;
	struct conf tmp;
	struct loader ld = {.opts = opts ? opts : &none, .c = &tmp, .err = err};
	enum result r;

	ld.env = ld.opts->environ ? ld.opts->environ : environ;
	if ((r = conf_defaults(&tmp, err))) {
		memset(c, 0, sizeof(*c));
		return r;
	}
	const char *tzdir = ld_env_get(&ld, "TZDIR");
	ld.tzdir = tzdir && *tzdir ? tzdir : DEFAULT_TZDIR;
	ld.file_line = calloc(conf_n_fixed_keys, sizeof(*ld.file_line));
	ld.file_via = calloc(conf_n_fixed_keys, sizeof(*ld.file_via));
	ld.env_var = calloc(conf_n_fixed_keys, sizeof(*ld.env_var));
	ld.where = calloc(conf_n_fixed_keys, sizeof(*ld.where));
	if (!ld.file_line || !ld.file_via || !ld.env_var || !ld.where)
		ld_nomem(&ld);

	if (!ld.rc && !load_file(&ld) && !ld_load_env(&ld) && !apply_flags(&ld) &&
	    !ld_build_remotes(&ld))
		cross_check(&ld);

	r = ld.rc;
	loader_free(&ld);
	if (r) {
		conf_free(&tmp);
		memset(c, 0, sizeof(*c));
		return r;
	}
	*c = tmp;
	return CB_OK;
}
