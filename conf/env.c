/*
 * The environment layer: CBSYNC_<SECTION>_<KEY>[_FILE] for the fixed keys,
 * the seed's CBSYNC_DB and CBSYNC_BACKUP_DIR, and CBSYNC_REMOTE_<NAME>_<KEY>
 * for remotes.  Variables are handled in name order so that which error is
 * reported does not depend on the order of the environment.
 *
 * A remote variable is split where the longest key some backend knows ends
 * the name (NAME and KEY may both contain "_"), preferring a NAME that is
 * already declared.  Remotes declared by CBSYNC_REMOTE_<NAME>_TYPE alone are
 * found first, so their other variables can refer to them.  Any other
 * CBSYNC_* name is an error, so that a typo is not silently ignored.
 */
#include "conf/loader.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int var_cmp(const void *a, const void *b)
{
	return strcmp(((const struct envvar *)a)->name, ((const struct envvar *)b)->name);
}

/* Variables that start with CBSYNC_ but belong to the scripts and tests
 * around cbsync, not to its configuration. */
static bool env_ignored(const char *name)
{
	return strcmp(name, "CBSYNC_CONFIG") == 0 || strcmp(name, "CBSYNC_BIN") == 0 ||
	       strcmp(name, "CBSYNC_DEMO_DIR") == 0 || strcmp(name, "CBSYNC_CONTRACT_BIN") == 0 ||
	       strcmp(name, "CBSYNC_RESTORE_ON_START") == 0 ||
	       strncmp(name, "CBSYNC_TEST_", 12) == 0 ||
	       strncmp(name, "CBSYNC_BENCH_", 13) == 0;
}

/* Is key (lower case) a key some remote could have? */
static bool remote_key_known(const struct loader *ld, const char *key, bool allow_file)
{
	for (size_t i = 0; i < LD_N_COMMON; i++)
		if (strcmp(key, ld_common_keys[i]) == 0)
			return true;
	for (size_t t = 0; t < ld->opts->n_remote_types; t++) {
		const struct conf_remote_type *rt = &ld->opts->remote_types[t];
		for (size_t k = 0; k < rt->n_keys; k++)
			if (strcmp(key, rt->keys[k].key) == 0)
				return true;
	}
	if (allow_file && ld_ends_with(key, "_file")) {
		char stem[128];
		snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(key) - 5), key);
		return remote_key_known(ld, stem, false);
	}
	return false;
}

/* Split CBSYNC_REMOTE_<NAME>_<KEY>: the key is the longest known key that
 * ends the name, preferring a split whose NAME is an already declared
 * remote.  On success *name and *key are new lower-case strings. */
static bool split_remote_var(struct loader *ld, const char *var, char **name, char **key)
{
	const char *rest = var + strlen("CBSYNC_REMOTE_");
	size_t len = strlen(rest);
	size_t best = 0, best_declared = 0;
	for (size_t p = 1; p + 1 < len; p++) {
		if (rest[p] != '_')
			continue;
		char k[128], n[128];
		if (len - p - 1 >= sizeof(k) || p >= sizeof(n))
			continue;
		snprintf(k, sizeof(k), "%s", rest + p + 1);
		snprintf(n, sizeof(n), "%.*s", (int)p, rest);
		for (char *c = k; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		for (char *c = n; *c; c++)
			*c = (char)tolower((unsigned char)*c);
		if (!remote_key_known(ld, k, true))
			continue;
		if (!best)
			best = p;
		if (!best_declared && ld_decl_find(ld, n))
			best_declared = p;
	}
	size_t p = best_declared ? best_declared : best;
	if (!p)
		return false;
	*name = ld_lower_dup(rest, p);
	*key = ld_lower_dup(rest + p + 1, len - p - 1);
	if (!*name || !*key) {
		free(*name);
		free(*key);
		*name = *key = NULL;
		ld_nomem(ld);
		return false;
	}
	return true;
}

static enum result env_unknown(struct loader *ld, const char *name)
{
	char names[64][64];
	const char *cands[64];
	size_t n = 0;
	for (size_t i = 0; i < conf_n_fixed_keys && n < 60; i++, n++) {
		conf_fixed_env_name(&conf_fixed_keys[i], names[n], sizeof(names[n]));
		cands[n] = names[n];
	}
	cands[n++] = "CBSYNC_DB";
	cands[n++] = "CBSYNC_BACKUP_DIR";
	cands[n++] = "CBSYNC_CONFIG";
	const char *hint = ld_closest(name, cands, n);
	if (hint)
		return ld_bad(ld, "environment %s: unknown variable; HINT: did you mean %s?", name,
			   hint);
	return ld_bad(ld, "environment %s: unknown variable; HINT: settings are "
		   "CBSYNC_<SECTION>_<KEY> or CBSYNC_REMOTE_<NAME>_<KEY>", name);
}

/* CBSYNC_<SECTION>_<KEY>[_FILE], CBSYNC_DB or CBSYNC_BACKUP_DIR. */
static enum result env_fixed(struct loader *ld, const struct envvar *v, size_t i, bool via_file)
{
	char where[512];
	char *value, *file;
	if (!*v->value)
		return CB_OK;
	if (ld->env_var[i])
		return ld_bad(ld, "environment %s: %s is also set; HINT: set only one of them",
			   v->name, ld->env_var[i]);
	if (!(ld->env_var[i] = strdup(v->name)))
		return ld_nomem(ld);
	snprintf(where, sizeof(where), "environment %s", v->name);
	value = ld_entry_value(ld, where, v->value, LAYER_ENV, via_file, &file, NULL);
	if (value)
		ld_apply_fixed(ld, i, value, where, v->name, file);
	free(value);
	free(file);
	return ld->rc;
}

static enum result collect_env(struct loader *ld)
{
	size_t n = 0;
	for (char **e = ld->env; e && *e; e++)
		n++;
	ld->vars = calloc(n ? n : 1, sizeof(*ld->vars));
	if (!ld->vars)
		return ld_nomem(ld);
	for (char **e = ld->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (strncmp(*e, "CBSYNC_", 7) != 0 || !eq)
			continue;
		struct envvar *v = &ld->vars[ld->n_vars];
		if (!(v->name = strndup(*e, (size_t)(eq - *e))))
			return ld_nomem(ld);
		v->value = eq + 1;
		ld->n_vars++;
	}
	/* Sorted, so that errors do not depend on the environment's order. */
	qsort(ld->vars, ld->n_vars, sizeof(*ld->vars), var_cmp);
	return CB_OK;
}

enum result ld_load_env(struct loader *ld)
{
	char env_name[96];
	if (collect_env(ld))
		return ld->rc;

	/* The fixed keys, and unknown names. */
	for (size_t j = 0; j < ld->n_vars && !ld->rc; j++) {
		const struct envvar *v = &ld->vars[j];
		if (env_ignored(v->name) || strncmp(v->name, "CBSYNC_REMOTE_", 14) == 0)
			continue;
		if (strcmp(v->name, "CBSYNC_DB") == 0) {
			env_fixed(ld, v, ld_fixed_index("database", "path"), false);
			continue;
		}
		if (strcmp(v->name, "CBSYNC_BACKUP_DIR") == 0) {
			env_fixed(ld, v, ld_fixed_index("local", "dir"), false);
			continue;
		}
		bool found = false;
		for (size_t i = 0; i < conf_n_fixed_keys && !found; i++) {
			conf_fixed_env_name(&conf_fixed_keys[i], env_name, sizeof(env_name));
			size_t len = strlen(env_name);
			if (strcmp(v->name, env_name) == 0) {
				env_fixed(ld, v, i, false);
				found = true;
			} else if (strncmp(v->name, env_name, len) == 0 &&
				   strcmp(v->name + len, "_FILE") == 0) {
				env_fixed(ld, v, i, true);
				found = true;
			}
		}
		if (!found)
			env_unknown(ld, v->name);
	}
	if (ld->rc)
		return ld->rc;

	/* Remotes declared by the environment alone: CBSYNC_REMOTE_<NAME>_TYPE. */
	for (size_t j = 0; j < ld->n_vars && !ld->rc; j++) {
		const struct envvar *v = &ld->vars[j];
		char *name, *key, why[200];
		if (strncmp(v->name, "CBSYNC_REMOTE_", 14) != 0 || !*v->value ||
		    !split_remote_var(ld, v->name, &name, &key))
			continue;
		if ((strcmp(key, "type") == 0 || strcmp(key, "type_file") == 0) &&
		    !ld_decl_find(ld, name)) {
			if (!ld_remote_name_ok(name, why, sizeof(why)))
				ld_bad(ld, "environment %s: %s", v->name, why);
			else
				ld_decl_add(ld, name, ld_fmt("environment %s", v->name), 0);
		}
		free(name);
		free(key);
	}

	/* Every remote setting, appended after the file's. */
	for (size_t j = 0; j < ld->n_vars && !ld->rc; j++) {
		const struct envvar *v = &ld->vars[j];
		char *name, *key;
		if (strncmp(v->name, "CBSYNC_REMOTE_", 14) != 0)
			continue;
		if (!split_remote_var(ld, v->name, &name, &key)) {
			if (!ld->rc)
				ld_bad(ld, "environment %s: unknown variable; HINT: remote settings are "
				    "CBSYNC_REMOTE_<NAME>_<KEY> with a key the remote's type knows",
				    v->name);
			break;
		}
		struct rdecl *d = ld_decl_find(ld, name);
		if (!*v->value) {
			/* empty: unset */
		} else if (!d) {
			char upper[128];
			snprintf(upper, sizeof(upper), "%s", name);
			for (char *c = upper; *c; c++)
				*c = (char)toupper((unsigned char)*c);
			ld_bad(ld, "environment %s: there is no remote \"%s\"; HINT: define it with "
			    "[remote \"%s\"] or CBSYNC_REMOTE_%s_TYPE", v->name, name, name, upper);
		} else {
			ld_rentry_add(ld, d, (struct rentry){
				.key = key, .value = strdup(v->value), .layer = LAYER_ENV,
				.origin = strdup(v->name),
				.loc = ld_fmt("environment %s", v->name),
			});
			key = NULL;
		}
		free(name);
		free(key);
	}
	return ld->rc;
}
