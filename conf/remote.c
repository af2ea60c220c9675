/*
 * Building the remotes once every layer has been read: find each remote's
 * type (the environment's over the file's), then check its key = value
 * entries against that type's key table in the order they were given (file
 * lines, then environment variables), normalise the values, apply the
 * backend's defaults, insist on its required keys, and let keep_* default
 * to the local tier's policy.  Last, the values go into the backend's
 * settings struct, typed, each at the offset its key spec names (the config
 * map): the backend reads them there and parses no strings of its own.
 *
 * URL values get two more checks here, where the type's keys are known for
 * the hint: credentials in a URL are refused (the value is never echoed),
 * and plain http:// to another machine is a warning, as is a secret's
 * KEY_file that other users can read.
 */
#include "conf/loader.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* An entry's key resolved against the remote's type: index into the
 * common keys (0..LD_N_COMMON-1) or LD_N_COMMON + index into the type's keys;
 * -1 if unknown. */
static int resolve_remote_key(const struct conf_remote_type *rt, const char *key,
			      bool *via_file)
{
	for (int pass = 0; pass < 2; pass++) {
		char stem[128];
		if (pass == 1) {
			if (!ld_ends_with(key, "_file"))
				break;
			snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(key) - 5), key);
		} else {
			snprintf(stem, sizeof(stem), "%s", key);
		}
		*via_file = pass == 1;
		for (size_t i = 0; i < LD_N_COMMON; i++)
			if (strcmp(stem, ld_common_keys[i]) == 0)
				return (int)i;
		for (size_t k = 0; rt && k < rt->n_keys; k++)
			if (strcmp(stem, rt->keys[k].key) == 0)
				return (int)(LD_N_COMMON + k);
	}
	return -1;
}

/* The error prefix for an entry: "cbsync.conf:15: [remote "x"] key" or
 * "environment CBSYNC_REMOTE_X_KEY". */
static void entry_where(const struct rentry *e, char *buf, size_t size)
{
	if (e->layer == LAYER_FILE)
		snprintf(buf, size, "%s %s", e->loc, e->key);
	else
		snprintf(buf, size, "%s", e->loc);
}

/* Has an earlier entry of the same layer set the same key?  Reports it. */
static bool entry_duplicate(struct loader *ld, const struct rdecl *d, size_t upto,
			    const struct conf_remote_type *rt, int idx)
{
	const struct rentry *e = &d->e[upto];
	char where[512];
	for (size_t j = 0; j < upto; j++) {
		bool vf;
		const struct rentry *o = &d->e[j];
		if (o->layer != e->layer || resolve_remote_key(rt, o->key, &vf) != idx)
			continue;
		entry_where(e, where, sizeof(where));
		if (e->layer == LAYER_ENV)
			ld_bad(ld, "%s: %s is also set; HINT: set only one of them", where, o->origin);
		else if (strcmp(o->key, e->key) == 0)
			ld_bad(ld, "%s: given twice (first at line %d)", where, o->line);
		else
			ld_bad(ld, "%s: both %s and %s are given (the other at line %d); HINT: keep "
			    "one of them", where, o->key, e->key, o->line);
		return true;
	}
	return false;
}

static void type_list(const struct loader *ld, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t t = 0; t < ld->opts->n_remote_types && o + 1 < size; t++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", t ? ", " : "",
				      ld->opts->remote_types[t].type);
}

/* Find the remote's type: the last "type" of the highest layer. */
static const struct conf_remote_type *remote_type(struct loader *ld, struct rdecl *d,
						  struct conf_remote *r)
{
	const struct conf_remote_type *found = NULL;
	char where[512], types[256];
	type_list(ld, types, sizeof(types));
	for (size_t j = 0; j < d->n && !ld->rc; j++) {
		struct rentry *e = &d->e[j];
		bool via_file;
		char *file, *value;
		if (resolve_remote_key(NULL, e->key, &via_file) != 0 ||
		    entry_duplicate(ld, d, j, NULL, 0))
			continue;
		entry_where(e, where, sizeof(where));
		value = ld_entry_value(ld, where, e->value, e->layer, via_file, &file, NULL);
		if (!value)
			break;
		found = NULL;
		for (size_t t = 0; t < ld->opts->n_remote_types; t++)
			if (strcasecmp(value, ld->opts->remote_types[t].type) == 0)
				found = &ld->opts->remote_types[t];
		if (!found) {
			char q[200];
			ld_quote(value, q, sizeof(q));
			if (ld->opts->n_remote_types)
				ld_bad(ld, "%s: no backend of type %s is compiled in (available: %s)",
				    where, q, types);
			else
				ld_bad(ld, "%s: no backend of type %s is compiled in (this build has no "
				    "remote backends)", where, q);
		} else {
			free(r->type_origin);
			if (!(r->type_origin = strdup(e->origin)))
				ld_nomem(ld);
		}
		free(value);
		free(file);
	}
	if (!ld->rc && !found) {
		if (ld->opts->n_remote_types)
			ld_bad(ld, "%s: [remote \"%s\"] has no type; HINT: add type = one of %s",
			    d->loc, d->name, types);
		else
			ld_bad(ld, "%s: [remote \"%s\"] has no type, and this build has no remote "
			    "backends", d->loc, d->name);
	}
	return ld->rc ? NULL : found;
}

/* The environment variable that sets a remote's key. */
static void remote_env_name(const char *remote, const char *key, char *buf, size_t size)
{
	snprintf(buf, size, "CBSYNC_REMOTE_%s_%s", remote, key);
	for (char *p = buf; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

static enum result remote_unknown_key(struct loader *ld, const struct rentry *e,
				      const struct conf_remote_type *rt)
{
	const char *cands[64];
	size_t n = 0;
	for (size_t i = 0; i < LD_N_COMMON; i++)
		cands[n++] = ld_common_keys[i];
	for (size_t k = 0; k < rt->n_keys && n < 64; k++)
		cands[n++] = rt->keys[k].key;
	const char *hint = ld_closest(e->key, cands, n);
	if (e->layer == LAYER_ENV)
		return ld_bad(ld, "%s: a remote of type %s has no key \"%s\"", e->loc, rt->type, e->key);
	if (ld_keep_hint(e->key))
		return ld_bad(ld, "%s unknown key \"%s\" for type %s; HINT: %s", e->loc, e->key,
			   rt->type, ld_keep_hint(e->key));
	if (hint)
		return ld_bad(ld, "%s unknown key \"%s\" for type %s; HINT: did you mean \"%s\"?",
			   e->loc, e->key, rt->type, hint);
	return ld_bad(ld, "%s unknown key \"%s\" for type %s", e->loc, e->key, rt->type);
}

/* The keys a credential in a URL belongs in instead, for a hint: "password
 * (or password_file)", "access_key_id and secret_access_key (or
 * secret_access_key_file)".  Secrets named like a password or secret key
 * come first (a passphrase or token is seldom what was in the URL); with
 * ids, the key naming the access key id too. */
static void credential_keys(const struct conf_remote_type *rt, bool ids, char *buf, size_t size)
{
	const char *id = NULL, *secret = NULL;
	for (size_t k = 0; k < rt->n_keys; k++) {
		const char *key = rt->keys[k].key;
		if (rt->keys[k].secret && !secret &&
		    (strstr(key, "password") || strstr(key, "secret")))
			secret = key;
		else if (!rt->keys[k].secret && !id && strstr(key, "access_key"))
			id = key;
	}
	for (size_t k = 0; k < rt->n_keys && !secret; k++)
		if (rt->keys[k].secret)
			secret = rt->keys[k].key;
	if (!secret)
		snprintf(buf, size, "the remote's own keys (see cbsync help backends)");
	else if (ids && id)
		snprintf(buf, size, "%s and %s (or %s_file)", id, secret, secret);
	else
		snprintf(buf, size, "%s (or %s_file)", secret, secret);
}

/* A URL value: no password in it, and no user either in http(s), where a
 * user is a credential too (elsewhere, as in sftp://user@host, it is the
 * login name).  The value is never repeated, as it may hold a secret.  A
 * plain http:// URL to another machine is a warning. */
static enum result check_url(struct loader *ld, const struct conf_remote_type *rt,
			     const char *where, const char *value)
{
	struct ld_url u;
	char keys[256];
	ld_url_split(value, &u);
	bool http = strcmp(u.scheme, "http") == 0 || strcmp(u.scheme, "https") == 0;
	if (http && u.has_user) {
		credential_keys(rt, true, keys, sizeof(keys));
		return ld_bad(ld, "%s: credentials do not belong in the URL (not shown here); "
			   "HINT: remove \"user:password@\" from it and set %s", where, keys);
	}
	if (u.has_password) {
		credential_keys(rt, false, keys, sizeof(keys));
		return ld_bad(ld, "%s: a password does not belong in the URL (not shown here); "
			   "HINT: keep only the user (%s://user@host/...) and set %s", where,
			   u.scheme, keys);
	}
	return CB_OK;
}

/* Warnings for a remote value that works but is risky. */
static enum result warn_risky(struct loader *ld, const struct conf_key_spec *spec,
			      const char *where, const char *value, const char *file,
			      unsigned file_mode)
{
	const char *exposed = file ? ld_mode_exposure(file_mode) : NULL;
	if (spec->secret && exposed &&
	    ld_warn(ld, "%s: '%s' %s (mode %04o); HINT: chmod 600 '%s'", where, file, exposed,
		    file_mode, file))
		return ld->rc;
	if (spec->type == CONF_URL) {
		struct ld_url u;
		ld_url_split(value, &u);
		if (strcmp(u.scheme, "http") == 0 && u.host[0] && !ld_host_is_loopback(u.host))
			return ld_warn(ld, "%s: plain http:// to %s, which is not this machine: "
				       "requests and data cross the network unencrypted; HINT: use "
				       "https://", where, u.host);
	}
	return CB_OK;
}

static bool is_string(enum conf_type t)
{
	return t == CONF_STRING || t == CONF_PATH || t == CONF_URL;
}

/* Store kv's value, typed, at its offset in the settings struct s.  The
 * value is in its normalised form, which the type's parser reads back (a
 * duration once it has its unit again). */
static enum result settings_store(struct loader *ld, const struct conf_remote_type *rt,
				  const struct conf_kv *kv, void *s)
{
	const struct conf_key_spec *spec = kv->spec;
	void *f = (char *)s + spec->offset;
	char tmp[80];
	unsigned long long size;
	bool ok = spec->offset < rt->settings_size;

	if (ok && is_string(spec->type))
		return (*(char **)f = strdup(kv->value)) ? CB_OK : ld_nomem(ld);
	if (ok && spec->type == CONF_BOOL)
		ok = conf_parse_bool(kv->value, f);
	if (ok && spec->type == CONF_INT)
		*(int64_t *)f = strtoll(kv->value, NULL, 10); /* conf_value_normalise's "%lld" */
	if (ok && spec->type == CONF_SIZE && (ok = conf_parse_size(kv->value, &size)))
		*(uint64_t *)f = (uint64_t)size;
	if (ok && spec->type == CONF_DURATION) {
		snprintf(tmp, sizeof(tmp), "%ss", kv->value);
		ok = conf_parse_duration(tmp, f);
	}
	return ok ? CB_OK : ld_fail(ld, CB_ERR_INTERNAL, "backend %s: %s does not fit its settings",
				    rt->type, spec->key);
}

void conf_remote_settings_free(struct conf_remote *r)
{
	for (size_t k = 0; r->settings && k < r->type->n_keys; k++) {
		const struct conf_key_spec *spec = &r->type->keys[k];
		char *str = is_string(spec->type) ? *(char **)((char *)r->settings + spec->offset)
						  : NULL;
		if (str && spec->secret)
			explicit_bzero(str, strlen(str));
		free(str);
	}
	free(r->settings);
	r->settings = NULL;
}

enum result conf_remote_check_ranges(const struct conf_remote *r, struct error *err)
{
	for (size_t k = 0; r->settings && k < r->type->n_keys; k++) {
		const struct conf_key_spec *spec = &r->type->keys[k];
		const char *f = (const char *)r->settings + spec->offset;
		double v = spec->type == CONF_INT ? (double)*(const int64_t *)f :
			   spec->type == CONF_SIZE ? (double)*(const uint64_t *)f :
			   spec->type == CONF_DURATION ? *(const double *)f : 0;
		if (spec->out_of_range && !is_string(spec->type) && spec->type != CONF_BOOL &&
		    conf_remote_get(r, spec->key) && !(v >= spec->min && v <= spec->max))
			return error_set(err, CB_ERR_CONFIG, "%s", spec->out_of_range);
	}
	return CB_OK;
}

/* Validate d's settings against its type and fill r. */
static enum result build_remote(struct loader *ld, struct rdecl *d, struct conf_remote *r)
{
	const struct conf_remote_type *rt;
	char **val = NULL, **origin = NULL;
	bool keep_set[CONF_KEEP_INCREMENTS + 1] = {false};
	char where[512], why[512];

	if (!(r->name = strdup(d->name)))
		return ld_nomem(ld);
	if (!(rt = remote_type(ld, d, r)))
		return ld->rc;
	r->type = rt;
	r->keep = ld->c->local_keep;
	val = calloc(rt->n_keys + 1, sizeof(*val));
	origin = calloc(rt->n_keys + 1, sizeof(*origin));
	if (!val || !origin) {
		ld_nomem(ld);
		goto out;
	}

	for (size_t j = 0; j < d->n && !ld->rc; j++) {
		struct rentry *e = &d->e[j];
		bool via_file;
		char *file = NULL, *value = NULL;
		int idx = resolve_remote_key(rt, e->key, &via_file);
		if (idx == 0)
			continue;       /* type: done */
		if (idx < 0) {
			remote_unknown_key(ld, e, rt);
			break;
		}
		if (entry_duplicate(ld, d, j, rt, idx))
			break;
		entry_where(e, where, sizeof(where));
		const struct conf_key_spec *spec =
			idx >= (int)LD_N_COMMON ? &rt->keys[idx - (int)LD_N_COMMON] : NULL;
		unsigned file_mode = 0;
		value = ld_entry_value(ld, where, e->value, e->layer, via_file, &file, &file_mode);
		if (!value)
			break;
		if (spec && spec->type == CONF_URL && check_url(ld, rt, where, value)) {
			free(value);
			free(file);
			break;
		}
		if (!spec && ld_common_keep_type[idx] == LD_NOT_KEEP &&
		    strncmp(ld_common_keys[idx], "max_", 4) == 0) {
			bool lag = strcmp(ld_common_keys[idx], "max_lag") == 0;
			char **o = lag ? &r->max_lag_origin : &r->max_age_origin;
			bool off = !lag && strcmp(value, "off") == 0;
			if (off)
				r->max_age = 0;
			if (!off && (!conf_parse_duration(value, lag ? &r->max_lag : &r->max_age) ||
				     (lag ? r->max_lag : r->max_age) <= 0))
				ld_value_error(ld, where, value, file, false,
					       lag ? "is not a duration more than 0 (e.g. 90s, 5min)"
						   : "is not a duration more than 0 (e.g. 26h, 8d) or off");
			else if (free(*o), !(*o = strdup(e->origin)))
				ld_nomem(ld);
		} else if (!spec && ld_common_keep_type[idx] == LD_NOT_KEEP) {
			/* encrypt */
			if (!conf_parse_bool(value, &r->encrypt))
				ld_value_error(ld, where, value, file, false,
					       "is not a boolean (true/false, yes/no, on/off, 1/0)");
			else if (free(r->encrypt_origin), !(r->encrypt_origin = strdup(e->origin)))
				ld_nomem(ld);
		} else if (!spec) {
			unsigned bt = ld_common_keep_type[idx];
			struct keep_rule *rule = bt == CONF_KEEP_INCREMENTS ? &r->keep.increments
									    : &r->keep.keep[bt];
			if (!conf_parse_keep(value, rule)) {
				ld_value_error(ld, where, value, file, false, "is not a retention rule "
					    "(e.g. 7d, 4w, 12months, 24h, 90min, forever, off)");
			} else {
				keep_set[bt] = true;
				free(r->keep_origin[bt]);
				if (!(r->keep_origin[bt] = strdup(e->origin)))
					ld_nomem(ld);
				else
					ld_warn_keep_m(ld, where, value);
			}
		} else {
			size_t k = (size_t)(idx - (int)LD_N_COMMON);
			char *norm = NULL;
			/* A URL with an "@" in it is not repeated either. */
			bool hide = spec->secret || (spec->type == CONF_URL && strchr(value, '@'));
			if (!conf_value_normalise(spec->type, value, &norm, why, sizeof(why))) {
				if (why[0])
					ld_value_error(ld, where, value, file, hide, why);
				else
					ld_nomem(ld);
			} else {
				free(val[k]);
				free(origin[k]);
				val[k] = norm;
				if (!(origin[k] = strdup(e->origin)))
					ld_nomem(ld);
				else
					warn_risky(ld, spec, where, value, file, file_mode);
			}
		}
		free(value);
		free(file);
	}
	if (ld->rc)
		goto out;

	/* keep_* not given: the local tier's policy. */
	for (size_t i = 1; i < LD_N_COMMON; i++) {
		unsigned bt = ld_common_keep_type[i];
		if (bt == LD_NOT_KEEP || keep_set[bt])
			continue;
		if (!(r->keep_origin[bt] = ld_fmt("[local] %s", ld_common_keys[i]))) {
			ld_nomem(ld);
			goto out;
		}
	}

	/* Defaults, required keys, and the final key = value list. */
	if (!(r->kv = calloc(rt->n_keys + 1, sizeof(*r->kv)))) {
		ld_nomem(ld);
		goto out;
	}
	for (size_t k = 0; k < rt->n_keys; k++) {
		const struct conf_key_spec *spec = &rt->keys[k];
		if (!val[k] && spec->default_value) {
			if (!conf_value_normalise(spec->type, spec->default_value, &val[k], why,
						  sizeof(why))) {
				if (why[0])
					ld_fail(ld, CB_ERR_INTERNAL, "backend %s: the default of %s %s",
					     rt->type, spec->key, why);
				else
					ld_nomem(ld);
				goto out;
			}
			if (!(origin[k] = strdup("default"))) {
				ld_nomem(ld);
				goto out;
			}
		}
		if (!val[k]) {
			if (!spec->required)
				continue;
			char env[160];
			remote_env_name(d->name, spec->key, env, sizeof(env));
			if (d->line)
				ld_bad(ld, "%s: [remote \"%s\"] missing required key \"%s\"; HINT: add "
				    "%s = ... or set %s", d->loc, d->name, spec->key, spec->key, env);
			else
				ld_bad(ld, "%s: [remote \"%s\"] missing required key \"%s\"; HINT: set %s",
				    d->loc, d->name, spec->key, env);
			goto out;
		}
		struct conf_kv *kv = &r->kv[r->n_kv];
		kv->spec = spec;
		kv->value = val[k];
		kv->origin = origin[k];
		val[k] = origin[k] = NULL;
		r->n_kv++;
		if (!(kv->key = strdup(spec->key))) {
			ld_nomem(ld);
			goto out;
		}
	}

	/* The typed values, for the backend. */
	if (rt->settings_size && !(r->settings = calloc(1, rt->settings_size))) {
		ld_nomem(ld);
		goto out;
	}
	for (size_t i = 0; r->settings && i < r->n_kv; i++)
		if (settings_store(ld, rt, &r->kv[i], r->settings))
			goto out;
out:
	for (size_t k = 0; val && k < rt->n_keys; k++)
		free(val[k]);
	for (size_t k = 0; origin && k < rt->n_keys; k++)
		free(origin[k]);
	free(val);
	free(origin);
	return ld->rc;
}

enum result ld_build_remotes(struct loader *ld)
{
	if (!ld->n_decl)
		return CB_OK;
	ld->c->remotes = calloc(ld->n_decl, sizeof(*ld->c->remotes));
	if (!ld->c->remotes)
		return ld_nomem(ld);
	ld->c->n_remotes = ld->n_decl;
	for (size_t i = 0; i < ld->n_decl && !ld->rc; i++)
		build_remote(ld, &ld->decl[i], &ld->c->remotes[i]);
	return ld->rc;
}
