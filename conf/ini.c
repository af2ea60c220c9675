/*
 * The file layer's syntax: the config file, read whole into ld->text by
 * file.c, goes through libinih.  Our line reader sits between the text and
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
 * environment, so a remote's key = value pairs are only collected here;
 * remote.c checks them once every layer is in.
 */
#include "conf/loader.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const fixed_sections[] = {"database", "local", "schedule", "watch", "replicate",
						 "restore", "sync", "encryption", "signing", "drill", "alert", "metrics", "log"};
#define N_SECTIONS (sizeof(fixed_sections) / sizeof(fixed_sections[0]))
_Static_assert(N_SECTIONS <= LD_MAX_SECTIONS, "struct loader counts too few sections");

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

enum result ld_parse_ini(struct loader *ld)
{
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
