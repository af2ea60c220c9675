/*
 * The configuration struct's life: built-in defaults, lookups, describing
 * where it came from, and freeing.  Loading (file, environment, flags) is in
 * load.c, printing in print.c.
 */
#include "conf/conf_internal.h"

#include <stdarg.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

enum result conf_set_string(char **field, const char *value, struct error *err)
{
	char *copy = strdup(value);
	if (!copy)
		return error_nomem(err);
	free(*field);
	*field = copy;
	return CB_OK;
}

enum result conf_defaults(struct conf *c, struct error *err)
{
	memset(c, 0, sizeof(*c));
	retention_policy_default(&c->local_keep);
	c->db_mode = 0600;
	c->restore_max_size = UINT64_C(64) << 30;
	c->compression = 2;
	c->lock_timeout = 10.0;
	c->busy_timeout = 30.0;
	c->sync_retry_min = 10.0;
	c->sync_retry_max = 900.0;
	c->sync_reconcile_interval = 3600.0;
	c->daily = (struct conf_schedule){.enabled = true, .hour = 2};
	c->weekly = (struct conf_schedule){.enabled = true, .hour = 3, .weekday = 0};
	c->drill_schedule = (struct conf_schedule){.enabled = true, .hour = 5, .weekday = 0};
	c->alert_max_lag = 300;
	c->alert_max_age = 26 * 3600;
	c->monthly = (struct conf_schedule){.enabled = true, .hour = 4, .mday = 1};
	c->catch_up = true;
	c->watch_enabled = true;
	c->replicate_enabled = true;
	c->watch_quiet = 5.0;
	c->watch_min_interval = 60.0;
	c->watch_max_delay = 300.0;
	c->replicate_interval = 1.0;
	c->replicate_rebase_share = 30;
	c->log_level = LOG_INFO;
	c->log_format = LOG_FORMAT_TEXT;
	/* One origin slot per fixed key; NULL reads as "default". */
	c->origins = calloc(conf_n_fixed_keys, sizeof(*c->origins));
	if (!c->origins || !(c->db_path = strdup(CONF_DEFAULT_DB)) ||
	    !(c->local_dir = strdup(CONF_DEFAULT_DIR)) || !(c->timezone = strdup("UTC"))) {
		conf_free(c);
		return error_nomem(err);
	}
	return CB_OK;
}

const char *conf_remote_get(const struct conf_remote *r, const char *key)
{
	if (!r || !key)
		return NULL;
	for (size_t i = 0; i < r->n_kv; i++)
		if (r->kv[i].key && strcmp(r->kv[i].key, key) == 0)
			return r->kv[i].value;
	return NULL;
}

const struct conf_remote *conf_remote_find(const struct conf *c, const char *name)
{
	if (!c || !name)
		return NULL;
	for (size_t i = 0; i < c->n_remotes; i++)
		if (c->remotes[i].name && strcmp(c->remotes[i].name, name) == 0)
			return &c->remotes[i];
	return NULL;
}

/* Append to buf (of size bytes, o of them used); o stops at size - 1. */
static size_t append(char *buf, size_t size, size_t o, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static size_t append(char *buf, size_t size, size_t o, const char *fmt, ...)
{
	if (o + 1 >= size)
		return o;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(buf + o, size - o, fmt, ap);
	va_end(ap);
	if (w < 0)
		return o;
	return (size_t)w >= size - o ? size - 1 : o + (size_t)w;
}

void conf_describe_sources(const struct conf *c, char *buf, size_t size)
{
	size_t o = 0;
	if (!size)
		return;
	buf[0] = '\0';
	if (c->source)
		o = append(buf, size, o, "the configuration file is '%s'", c->source);
	else
		o = append(buf, size, o, "no configuration file was read (looked for --config, "
			   "$CBSYNC_CONFIG, %s; ./cbsync.conf is not read unless named)",
			   c->system_path ? c->system_path : CONF_SYSTEM_PATH);
	if (c->n_remotes == 0)
		o = append(buf, size, o, "; no remotes are configured");
	for (size_t i = 0; i < c->n_remotes; i++)
		o = append(buf, size, o, "%s'%s'", i ? ", " : "; configured remotes: ",
			   c->remotes[i].name ? c->remotes[i].name : "");
	if (c->source)
		return;
	if (access("cbsync.conf", F_OK) == 0)
		append(buf, size, o, "; HINT: to use ./cbsync.conf, name it: --config "
		       "./cbsync.conf (or CBSYNC_CONFIG=./cbsync.conf)");
	else
		append(buf, size, o, "; HINT: name the file with --config PATH (or "
		       "CBSYNC_CONFIG=PATH)");
}

const char *conf_origin(const struct conf *c, const char *section, const char *key)
{
	int i = conf_fixed_find(section, key);
	if (i < 0)
		return NULL;
	return c->origins && c->origins[i] ? c->origins[i] : "default";
}

static void remote_free(struct conf_remote *r)
{
	conf_remote_settings_free(r);
	free(r->encrypt_origin);
	free(r->max_lag_origin);
	free(r->max_age_origin);
	free(r->name);
	free(r->type_origin);
	for (size_t t = 0; t <= CONF_KEEP_INCREMENTS; t++)
		free(r->keep_origin[t]);
	for (size_t i = 0; i < r->n_kv; i++) {
		free(r->kv[i].key);
		free(r->kv[i].value);
		free(r->kv[i].origin);
	}
	free(r->kv);
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->source);
	free(c->system_path);
	free(c->db_path);
	free(c->local_dir);
	free(c->timezone);
	free(c->metrics_listen);
	free(c->enc_recipients);
	free(c->sign_verify_key);
	free(c->drill_check_sql);
	free(c->drill_dir);
	free(c->alert_exec);
	char *secrets[] = {c->enc_identity, c->enc_passphrase, c->sign_key};
	for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
		if (secrets[i])
			OPENSSL_cleanse(secrets[i], strlen(secrets[i]));
		free(secrets[i]);
	}
	if (c->origins)
		for (size_t i = 0; i < conf_n_fixed_keys; i++)
			free(c->origins[i]);
	free(c->origins);
	for (size_t i = 0; i < c->n_warnings; i++)
		free(c->warnings[i]);
	free(c->warnings);
	for (size_t i = 0; i < c->n_remotes; i++)
		remote_free(&c->remotes[i]);
	free(c->remotes);
	memset(c, 0, sizeof(*c));
}
