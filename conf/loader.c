/*
 * Helpers shared by the parts of conf_load (see loader.h): the error line,
 * strings, ${VAR} expansion, KEY_file contents, storing a fixed key, and the
 * list of declared remotes.
 */
#include "conf/loader.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_VALUE_FILE (1024 * 1024)

const char *const ld_common_keys[LD_N_COMMON] = {
	"type", "keep_daily", "keep_weekly", "keep_monthly", "keep_change",
};
const enum backup_type ld_common_keep_type[LD_N_COMMON] = {
	BT_COUNT, BT_DAILY, BT_WEEKLY, BT_MONTHLY, BT_CHANGE,
};

enum result ld_fail(struct loader *ld, enum result code, const char *fmt, ...)
{
	if (ld->rc)
		return ld->rc;
	va_list ap;
	va_start(ap, fmt);
	char msg[ERROR_MSG_MAX];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(ld->err, code, "%s", msg);
	ld->rc = code;
	ld->err_line = ld->fp ? ld->line : 0;
	return code;
}

#define ld_bad(ld, ...) ld_fail(ld, CB_ERR_CONFIG, __VA_ARGS__)

enum result ld_nomem(struct loader *ld)
{
	return ld_fail(ld, CB_ERR_NOMEM, "out of memory");
}

char *ld_fmt(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

char *ld_lower_dup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (d)
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

bool ld_ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The value of NAME in the environment being read, or NULL. */
const char *ld_env_get(const struct loader *ld, const char *name)
{
	size_t n = strlen(name);
	for (char **e = ld->env; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* value, quoted for an error message: control characters escaped, long
 * values shortened. */
void ld_quote(const char *value, char *buf, size_t size)
{
	size_t o = 0;
	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (o + 8 >= size || p - (const unsigned char *)value >= 120) {
			o += (size_t)snprintf(buf + o, size - o, "...");
			break;
		}
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
		else
			buf[o++] = (char)*p;
	}
	if (o + 2 <= size) {
		buf[o++] = '"';
		buf[o] = '\0';
	} else {
		buf[size - 1] = '\0';
	}
}

/* Report an invalid value.  Secrets are never repeated back. */
enum result ld_value_error(struct loader *ld, const char *where, const char *value,
			       const char *file, bool secret, const char *why)
{
	char q[200];
	if (secret)
		return ld_bad(ld, "%s: the value %s", where, why);
	ld_quote(value, q, sizeof(q));
	if (file)
		return ld_bad(ld, "%s: %s (read from '%s') %s", where, q, file, why);
	return ld_bad(ld, "%s: %s %s", where, q, why);
}

/* keep_manual and keep_restore_point look like keys but cannot be: say why. */
const char *ld_keep_hint(const char *key)
{
	if (strcmp(key, "keep_manual") == 0 || strcmp(key, "keep_restore_point") == 0)
		return "manual backups and restore points are never pruned automatically, so "
		       "they have no retention rule";
	return NULL;
}

/* The closest of n candidates to word, if it is a plausible typo. */
const char *ld_closest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; i < n; i++) {
		size_t d = conf_edit_distance(word, cands[i]);
		if (d < best_d && d < strlen(cands[i])) {
			best_d = d;
			best = cands[i];
		}
	}
	return best;
}

/* Expand ${VAR} and $$ in a file value; NULL on failure (reported). */
static char *expand(struct loader *ld, const char *where, const char *raw)
{
	size_t cap = strlen(raw) + 1, len = 0;
	char *out = malloc(cap);
	if (!out) {
		ld_nomem(ld);
		return NULL;
	}
	for (const char *p = raw; *p;) {
		const char *piece = p;
		size_t piece_len = 1;
		if (*p == '$') {
			if (p[1] == '$') {
				p += 2;
			} else if (p[1] == '{') {
				const char *name = p + 2;
				size_t n = 0;
				while (isalnum((unsigned char)name[n]) || name[n] == '_')
					n++;
				if (name[n] != '}' || n == 0 || n > 200 ||
				    isdigit((unsigned char)name[0])) {
					ld_bad(ld, "%s: \"${\" must be followed by a variable name and \"}\"; "
					    "HINT: write \"$$\" for a literal \"$\"", where);
					goto fail;
				}
				char var[256];
				snprintf(var, sizeof(var), "%.*s", (int)n, name);
				piece = ld_env_get(ld, var);
				if (!piece) {
					ld_bad(ld, "%s: environment variable %s is not set (used as \"${%s}\")",
					    where, var, var);
					goto fail;
				}
				piece_len = strlen(piece);
				p = name + n + 1;
			} else {
				ld_bad(ld, "%s: a \"$\" must start \"${NAME}\"; HINT: write \"$$\" for a "
				    "literal \"$\"", where);
				goto fail;
			}
		} else {
			p++;
		}
		if (len + piece_len + 1 > cap) {
			cap = (len + piece_len + 1) * 2;
			char *bigger = realloc(out, cap);
			if (!bigger) {
				ld_nomem(ld);
				goto fail;
			}
			out = bigger;
		}
		memcpy(out + len, piece, piece_len);
		len += piece_len;
	}
	out[len] = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

/* The content of a KEY_file: the whole file, one trailing newline removed. */
static char *read_value_file(struct loader *ld, const char *where, const char *path)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t n = 0;
	if (!f) {
		ld_bad(ld, "%s: cannot read '%s': %s", where, path, strerror(errno));
		return NULL;
	}
	data = malloc(MAX_VALUE_FILE + 2);
	if (!data) {
		ld_nomem(ld);
		goto out;
	}
	n = fread(data, 1, MAX_VALUE_FILE + 1, f);
	if (ferror(f)) {
		ld_bad(ld, "%s: cannot read '%s': %s", where, path, strerror(errno));
		goto fail;
	}
	if (n > MAX_VALUE_FILE) {
		ld_bad(ld, "%s: '%s' is larger than %d bytes", where, path, MAX_VALUE_FILE);
		goto fail;
	}
	if (memchr(data, '\0', n)) {
		ld_bad(ld, "%s: '%s' contains a NUL byte", where, path);
		goto fail;
	}
	if (n && data[n - 1] == '\n') {
		n--;
		if (n && data[n - 1] == '\r')
			n--;
	}
	data[n] = '\0';
	goto out;
fail:
	free(data);
	data = NULL;
out:
	fclose(f);
	return data;
}

/* The value an entry stands for: a file value is ${}-expanded first; a
 * KEY_file value is a path whose content is the value.  *file is set to the
 * path (owned by the caller) for KEY_file. */
char *ld_entry_value(struct loader *ld, const char *where, const char *raw,
			 enum ld_layer layer, bool via_file, char **file)
{
	char *v = layer == LAYER_FILE ? expand(ld, where, raw) : strdup(raw);
	*file = NULL;
	if (!v) {
		if (!ld->rc)
			ld_nomem(ld);
		return NULL;
	}
	if (!via_file)
		return v;
	char *content = read_value_file(ld, where, v);
	if (!content) {
		free(v);
		return NULL;
	}
	*file = v;
	return content;
}

size_t ld_fixed_index(const char *section, const char *key)
{
	int i = conf_fixed_find(section, key);
	return i < 0 ? 0 : (size_t)i;
}

/* Parse value into fixed key i and remember where it came from. */
enum result ld_apply_fixed(struct loader *ld, size_t i, const char *value,
			       const char *where, const char *origin, const char *file)
{
	char why[512];
	bool oom;
	if (!conf_fixed_apply(ld->c, &conf_fixed_keys[i], value, ld->tzdir, why, sizeof(why), &oom))
		return oom ? ld_nomem(ld) : ld_value_error(ld, where, value, file, false, why);
	char *o = strdup(origin), *w = strdup(where);
	if (!o || !w) {
		free(o);
		free(w);
		return ld_nomem(ld);
	}
	free(ld->c->origins[i]);
	ld->c->origins[i] = o;
	free(ld->where[i]);
	ld->where[i] = w;
	return CB_OK;
}

struct rdecl *ld_decl_find(struct loader *ld, const char *name)
{
	for (size_t i = 0; i < ld->n_decl; i++)
		if (strcmp(ld->decl[i].name, name) == 0)
			return &ld->decl[i];
	return NULL;
}

/* Check a remote's name; on failure why says what is wrong. */
bool ld_remote_name_ok(const char *name, char *why, size_t size)
{
	if (!*name) {
		snprintf(why, size, "a remote needs a name");
		return false;
	}
	if (strlen(name) > LD_MAX_REMOTE_NAME) {
		snprintf(why, size, "the remote name is longer than %d characters",
			 LD_MAX_REMOTE_NAME);
		return false;
	}
	for (const char *p = name; *p; p++) {
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && *p != '_') {
			snprintf(why, size, "\"%s\" is not a valid remote name (use letters, digits "
				 "and _)", name);
			return false;
		}
	}
	if (strcmp(name, "local") == 0 || strcmp(name, "all") == 0) {
		snprintf(why, size, "the remote name \"%s\" is reserved (--tier %s means "
			 "something else); HINT: pick another name", name, name);
		return false;
	}
	return true;
}

struct rdecl *ld_decl_add(struct loader *ld, const char *name, char *loc, int line)
{
	if (ld->n_decl == ld->cap_decl) {
		size_t cap = ld->cap_decl ? ld->cap_decl * 2 : 4;
		struct rdecl *d = realloc(ld->decl, cap * sizeof(*d));
		if (!d)
			goto oom;
		ld->decl = d;
		ld->cap_decl = cap;
	}
	struct rdecl *d = &ld->decl[ld->n_decl];
	*d = (struct rdecl){.name = strdup(name), .loc = loc, .line = line};
	if (!d->name) {
		loc = NULL;
		goto oom;
	}
	ld->n_decl++;
	return d;
oom:
	free(loc);
	ld_nomem(ld);
	return NULL;
}

enum result ld_rentry_add(struct loader *ld, struct rdecl *d, struct rentry e)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct rentry *bigger = realloc(d->e, cap * sizeof(*bigger));
		if (!bigger)
			goto oom;
		d->e = bigger;
		d->cap = cap;
	}
	if (!e.key || !e.value || !e.origin || !e.loc)
		goto oom;
	d->e[d->n++] = e;
	return CB_OK;
oom:
	free(e.key);
	free(e.value);
	free(e.origin);
	free(e.loc);
	return ld_nomem(ld);
}
