/*
 * Configuration defaults and environment overrides.
 */
#include "conf/conf.h"

#include <stdlib.h>
#include <string.h>

enum result conf_set_string(char **field, const char *value, struct error *err)
{
	char *copy = strdup(value);
	if (!copy)
		return error_set(err, CB_ERR_NOMEM, "out of memory");
	free(*field);
	*field = copy;
	return CB_OK;
}

enum result conf_defaults(struct conf *c, struct error *err)
{
	enum result r;
	memset(c, 0, sizeof(*c));
	retention_policy_default(&c->local_keep);
	c->lock_timeout = 10.0;
	c->log_level = LOG_INFO;
	c->log_format = LOG_FORMAT_TEXT;
	if ((r = conf_set_string(&c->db_path, CONF_DEFAULT_DB, err)) ||
	    (r = conf_set_string(&c->local_dir, CONF_DEFAULT_DIR, err))) {
		conf_free(c);
		return r;
	}
	return CB_OK;
}

enum result conf_apply_env(struct conf *c, struct error *err)
{
	const char *v;
	enum result r;
	if ((v = getenv("CBSYNC_DB")) && *v && (r = conf_set_string(&c->db_path, v, err)))
		return r;
	if ((v = getenv("CBSYNC_BACKUP_DIR")) && *v &&
	    (r = conf_set_string(&c->local_dir, v, err)))
		return r;
	return CB_OK;
}

void conf_free(struct conf *c)
{
	if (!c)
		return;
	free(c->db_path);
	free(c->local_dir);
	memset(c, 0, sizeof(*c));
}
