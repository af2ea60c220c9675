/*
 * Making a backup into the local tier: choose a name, snapshot the live
 * database through gzip into a temp file, write the metadata, and commit by
 * renaming (never over an existing backup).  A sealed backup's gzip goes
 * to an unnamed scratch file beside the database first (the backup
 * directory never holds its plaintext), then into the age file.
 */
#ifndef CBSYNC_BACKUP_H
#define CBSYNC_BACKUP_H

#include "common/meta.h"
#include "common/result.h"

#include <limits.h>
#include <stdbool.h>

struct keyring;
struct pagesum;
struct walpos;

struct backup_opts {
	const char *db_path;
	const char *dir;
	enum backup_type type;
	int level;               /* gzip level */
	int threads;             /* compression threads, <= 0: one per CPU */
	double busy_timeout;     /* seconds to retry a locked database */
	bool progress;           /* draw progress on a terminal */
	bool force_fallback;     /* use the temp-file snapshot route */
	struct pagesum **sum_out; /* if not NULL: the copy's page-hash table */
	struct walpos *pos_out;   /* if not NULL: the copy's place in the WAL */
	const struct keyring *seal; /* if not NULL: the backup is X.age, the age
				     * file for its recipients ([local] encrypt) */
};

struct backup_outcome {
	char path[PATH_MAX];
	struct backup_meta meta;
	double seconds;
	bool used_fallback;
};

/* Make one backup.  The caller holds the directory's lock (which keeps the
 * name unique: if a backup of this type already has this second's name, the
 * backup waits for the next second).  "Database not found: PATH" if the
 * database does not exist. */
enum result backup_make(const struct backup_opts *o, struct backup_outcome *out,
			struct error *err);

/* Check that the database exists and is a regular file. */
enum result backup_check_db(const char *db_path, struct error *err);

#endif
