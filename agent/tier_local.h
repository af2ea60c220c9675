/*
 * The local tier: the backup directory (default ai_db/backups/).
 *
 * It holds <name>.db.gz files, each with its metadata beside it as
 * <name>.db.gz.json; the data file's rename is the commit point, and the
 * metadata is renamed into place just before it, so a data file that exists
 * always has its metadata (backups made by the seed tool, which wrote none,
 * are listed from their names and sizes).  Temp files start with
 * ".cbsync-tmp-" and are never listed.
 */
#ifndef CBSYNC_TIER_LOCAL_H
#define CBSYNC_TIER_LOCAL_H

#include "common/backup_name.h"
#include "common/meta.h"
#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct local_backup {
	char name[BACKUP_NAME_MAX];
	struct backup_name parsed;
	bool has_meta;
	struct backup_meta meta;  /* valid when has_meta */
	char meta_error[ERROR_MSG_MAX];     /* why metadata was unusable, if it exists */
	int64_t file_size;        /* the .db.gz on disk */
};

struct local_list {
	struct local_backup *items;
	size_t n;
};

/* List dir's backups, newest first (ties by name, descending).  A missing
 * directory is an empty list. */
enum result local_list_scan(const char *dir, struct local_list *out,
			    struct error *err);
void local_list_free(struct local_list *l);

/* Keep only database db's backups (the <db> part of their names). */
void local_list_keep_db(struct local_list *l, const char *db);

/* Remove a backup and its metadata (data first, so it vanishes at once). */
enum result local_delete(const char *dir, const char *name, struct error *err);

/* Remove what crashed operations left: temp files and metadata without data.
 * Only call with the directory's lock held. */
void local_cleanup_stale(const char *dir);

/* Load and validate the metadata beside a backup file path. */
enum result local_read_meta(const char *backup_path, struct backup_meta *out,
			    struct error *err);

#endif
