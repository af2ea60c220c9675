/*
 * conf_load: defaults, then the INI file, then the environment, then the
 * command-line flags, each layer overriding the one before; then the remotes
 * are built and the whole is cross-checked.
 *
 * Every failure is one line in err, code CB_ERR_CONFIG (or CB_ERR_NOMEM);
 * only the first failure is kept.
 *
 * This file runs the whole, applies the flags and checks across keys.  The
 * layers are elsewhere: file.c finds and reads the file and ini.c parses
 * it, env.c reads the environment, remote.c builds the remotes; loader.c
 * holds what they share.
 */
#include "conf/loader.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_TZDIR "/usr/share/zoneinfo"

static enum result load_file(struct loader *ld)
{
	if (ld_read_config(ld) || !ld->path)
		return ld->rc;
	return ld_parse_ini(ld);
}

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
	if (c->local_encrypt && !c->enc_recipients) {
		size_t i = ld_fixed_index("local", "encrypt");
		return ld_bad(ld, "%s: [local] encrypt = true, but [encryption] has no recipients; "
			      "HINT: set [encryption] recipients = age1... (cbsync keygen prints one)",
			      ld->where[i] ? ld->where[i] : "[local] encrypt");
	}
	/* Each tier's max_lag and max_age: its own, else [alert]'s. */
	if (!ld->where[ld_fixed_index("local", "max_lag")])
		ld->c->local_max_lag = c->alert_max_lag;
	if (!ld->where[ld_fixed_index("local", "max_age")])
		ld->c->local_max_age = c->alert_max_age;
	/* Without replication a change waits up to [watch] max_delay for its
	 * backup: a max_lag no longer than that turns the tier stale (and
	 * back) on a busy database's every cycle. */
	bool lag_given = ld->where[ld_fixed_index("local", "max_lag")] ||
			 ld->where[ld_fixed_index("alert", "max_lag")];
	bool waits = c->watch_enabled && !c->replicate_enabled;
	if (waits && !lag_given && c->local_max_lag <= c->watch_max_delay)
		ld->c->local_max_lag = 2 * c->watch_max_delay;   /* the default, made to fit */
	if (waits && c->local_max_lag <= c->watch_max_delay) {
		char lag[32], delay[32];
		conf_format_duration(c->local_max_lag, lag, sizeof(lag));
		conf_format_duration(c->watch_max_delay, delay, sizeof(delay));
		size_t i = ld_fixed_index("local", "max_lag");
		size_t j = ld_fixed_index("alert", "max_lag");
		const char *where = ld->where[i] ? ld->where[i] : ld->where[j];
		if (ld_warn(ld, "%s: %s is not longer than [watch] max_delay %s, which a "
			    "change may wait for its backup when [replicate] is off: the local tier "
			    "would be reported stale on a busy database; HINT: set [local] max_lag "
			    "above %s", where ? where : "max_lag", lag, delay, delay))
			return ld->rc;
	}
	for (size_t i = 0; i < c->n_remotes; i++) {
		struct conf_remote *r = &c->remotes[i];
		if (!r->max_lag_origin)
			r->max_lag = c->alert_max_lag;
		/* A remote is kept by its own rules (weekly only, say): it is
		 * judged by age only when its section asks. */
		if (!r->max_age_origin)
			r->max_age = 0;
	}
	for (size_t i = 0; i < c->n_remotes; i++) {
		struct conf_remote *r = &c->remotes[i];
		if (!r->encrypt_origin)
			r->encrypt = c->enc_recipients != NULL;
		else if (r->encrypt && !c->enc_recipients)
			return ld_bad(ld, "%s: [remote \"%s\"] encrypt = true, but [encryption] has no "
				      "recipients; HINT: set [encryption] recipients = age1... (cbsync "
				      "keygen prints one)", r->encrypt_origin, r->name);
	}
	if (c->sync_reconcile_interval < 1) {
		size_t i = ld_fixed_index("sync", "reconcile_interval");
		return ld_bad(ld, "%s: must be at least 1s",
			      ld->where[i] ? ld->where[i] : "[sync] reconcile_interval");
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
		for (size_t j = 0; j < d->n; j++)
			ld_rentry_free(&d->e[j]);
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
