/*
 * The loader's own state, shared by the parts of conf_load (see loader.h):
 * the first failure and the warnings, small string helpers, the environment
 * being read, storing a fixed key's value with where it came from, and the
 * list of declared remotes with their key = value entries.
 *
 * The wording of messages is in messages.c, reading files in readfile.c,
 * the value an entry stands for in entry_value.c, URLs in url.c.
 */
#include "conf/loader.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ld_common_keys[LD_N_COMMON] = {
	"type", "keep_daily", "keep_weekly", "keep_monthly", "keep_change", "keep_increments",
	"encrypt", "max_lag", "max_age",
};
const unsigned ld_common_keep_type[LD_N_COMMON] = {
	0, BT_DAILY, BT_WEEKLY, BT_MONTHLY, BT_CHANGE, CONF_KEEP_INCREMENTS, LD_NOT_KEEP,
	LD_NOT_KEEP, LD_NOT_KEEP,
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
	ld->err_line = ld->in_file ? ld->line : 0;
	return code;
}

/* A newly allocated formatted string, or NULL when memory runs out. */
static char *ld_vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	return s;
}

enum result ld_warn(struct loader *ld, const char *fmt, ...)
{
	struct conf *c = ld->c;
	va_list ap;
	va_start(ap, fmt);
	char *line = ld_vfmt(fmt, ap);
	va_end(ap);
	char **bigger = line ? realloc(c->warnings, (c->n_warnings + 1) * sizeof(*bigger)) : NULL;
	if (!bigger) {
		free(line);
		return ld_nomem(ld);
	}
	c->warnings = bigger;
	c->warnings[c->n_warnings++] = line;
	return CB_OK;
}

enum result ld_nomem(struct loader *ld)
{
	return ld_fail(ld, CB_ERR_NOMEM, "out of memory");
}

char *ld_fmt(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = ld_vfmt(fmt, ap);
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
	bool secret = conf_vtype_secret(conf_fixed_keys[i].type);
	if (secret && ld->in_file && !file && *value) {
		char env[96];
		conf_fixed_env_name(&conf_fixed_keys[i], env, sizeof(env));
		return ld_bad(ld, "%s: a secret is never written in the config file itself; HINT: "
			      "put it in a file (mode 0600) and set %s_file = PATH, or set %s",
			      where, conf_fixed_keys[i].key, env);
	}
	if (!conf_fixed_apply(ld->c, &conf_fixed_keys[i], value, ld->tzdir, why, sizeof(why), &oom))
		return oom ? ld_nomem(ld) : ld_value_error(ld, where, value, file, secret, why);
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
	if (conf_fixed_keys[i].type == VT_KEEP)
		return ld_warn_keep_m(ld, where, value);
	return CB_OK;
}

enum result ld_warn_keep_m(struct loader *ld, const char *where, const char *value)
{
	if (!conf_keep_ambiguous(value))
		return CB_OK;
	size_t n = strlen(value) - 1;
	return ld_warn(ld, "%s: \"%s\" means %.*s months (in keep_* a bare \"m\" is months, "
		       "elsewhere minutes); HINT: write %.*smonths, or %.*smin for minutes", where,
		       value, (int)n, value, (int)n, value, (int)n, value);
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

/* arr (n elements of size bytes, room for *cap) with room for one more:
 * the same array, or a bigger one with *cap doubled (first when it was 0);
 * NULL when memory runs out, arr left as it was. */
static void *grow(void *arr, size_t n, size_t *cap, size_t size, size_t first)
{
	if (n < *cap)
		return arr;
	size_t bigger_cap = *cap ? *cap * 2 : first;
	void *bigger = realloc(arr, bigger_cap * size);
	if (bigger)
		*cap = bigger_cap;
	return bigger;
}

struct rdecl *ld_decl_add(struct loader *ld, const char *name, char *loc, int line)
{
	struct rdecl *bigger = grow(ld->decl, ld->n_decl, &ld->cap_decl, sizeof(*bigger), 4);
	if (!bigger)
		goto oom;
	ld->decl = bigger;
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
	struct rentry *bigger = grow(d->e, d->n, &d->cap, sizeof(*bigger), 8);
	if (!bigger)
		goto oom;
	d->e = bigger;
	if (!e.key || !e.value || !e.origin || !e.loc)
		goto oom;
	d->e[d->n++] = e;
	return CB_OK;
oom:
	ld_rentry_free(&e);
	return ld_nomem(ld);
}

void ld_rentry_free(struct rentry *e)
{
	free(e->key);
	free(e->value);
	free(e->origin);
	free(e->loc);
}
