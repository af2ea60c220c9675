/*
 * Configuration: one immutable struct built from, in increasing priority,
 * the built-in defaults (which reproduce the seed tool exactly), a config
 * file, environment variables, and command-line flags.  Everything is
 * validated before anything runs.
 */
#ifndef CBSYNC_CONF_H
#define CBSYNC_CONF_H

#include "common/log.h"
#include "common/result.h"
#include "retention/retention.h"

#include <stdbool.h>
#include <stddef.h>

#define CONF_DEFAULT_DB "ai_db/cloudbrain.db"
#define CONF_DEFAULT_DIR "ai_db/backups"

struct conf {
	char *db_path;                   /* [database] path */
	char *local_dir;                 /* [local] dir */
	struct retention_policy local_keep; /* [local] keep_* */
	double lock_timeout;             /* seconds to wait for another cbsync */
	enum log_level log_level;        /* [log] level */
	enum log_format log_format;      /* [log] format */
};

/* Fill c with the built-in defaults (allocates; free with conf_free). */
enum result conf_defaults(struct conf *c, struct error *err);

/* Apply the environment variables that override the defaults:
 * CBSYNC_DB, CBSYNC_BACKUP_DIR. */
enum result conf_apply_env(struct conf *c, struct error *err);

/* Replace a string field with a copy of value. */
enum result conf_set_string(char **field, const char *value, struct error *err);

void conf_free(struct conf *c);

#endif
