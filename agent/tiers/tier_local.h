/*
 * The local tier: the backup directory (default ai_db/backups/).
 *
 * It holds <name>.db.gz files, each with its metadata beside it as
 * <name>.db.gz.json; the data file's rename is the commit point, and the
 * metadata is renamed into place just before it, so a data file that exists
 * always has its metadata (backups made by the seed tool, which wrote none,
 * are listed from their names and sizes).  Temp files start with
 * ".cbsync-tmp-" and are never listed.
 *
 * The directory is listed, read, pruned and verified as a tier like any
 * remote (agent/tiers.h, through backends/local/local.h).  What is here is
 * what only the local tier does besides: tidying after killed runs and
 * reading the metadata beside a backup file named by path (restore --path,
 * verify FILE).  Its lock is agent/lock.h; its writer agent/backup.h.
 */
#ifndef CBSYNC_TIER_LOCAL_H
#define CBSYNC_TIER_LOCAL_H

#include "agent/tiers/lock.h"
#include "common/meta.h"
#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Remove what crashed operations left: temp files and metadata without data.
 * Only call with the directory's lock held. */
void local_cleanup_stale(const char *dir);

/* Create the directory if needed, take its lock (op names who holds it)
 * and tidy what killed runs left. */
enum result local_lock(const char *dir, double timeout, const char *op, struct dir_lock *l,
		       struct error *err);

/* A backup named by path (restore --path, verify FILE): a path that does
 * not exist as given but names a file in dir is taken from there. */
char *resolve_backup_path(const char *given, const char *dir);

/* The metadata beside a backup file: CB_OK with *have set, or an error if
 * it exists but is unusable or describes another backup. */
enum result load_meta(const char *path, struct backup_meta *meta, bool *have,
		      struct error *err);

/* Load and validate the metadata beside a backup file path. */
enum result local_read_meta(const char *backup_path, struct backup_meta *out,
			    struct error *err);

#endif
