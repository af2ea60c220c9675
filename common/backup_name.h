/*
 * Backup types and file names.
 *
 * A backup is named <db>_<type>_<YYYYMMDD_HHMMSS>.db.gz, the time in UTC and
 * <db> the database file's name without ".db".  Names parse from the right:
 * the suffix, then the 15-character stamp, then the type, which is one of a
 * fixed set (one of them, "restore_point", contains an underscore, so it is
 * matched first); whatever remains is the database part, which may itself
 * contain underscores.
 */
#ifndef CBSYNC_BACKUP_NAME_H
#define CBSYNC_BACKUP_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum backup_type {
	BT_MANUAL,
	BT_DAILY,
	BT_WEEKLY,
	BT_MONTHLY,
	BT_CHANGE,
	BT_RESTORE_POINT,
	BT_COUNT
};

#define BACKUP_SUFFIX ".db.gz"
#define BACKUP_STEM_MAX 200
#define BACKUP_NAME_MAX 256

struct backup_name {
	char db[BACKUP_STEM_MAX + 1];
	enum backup_type type;
	int64_t created; /* seconds since the epoch, UTC */
};

const char *backup_type_name(enum backup_type type);
bool backup_type_parse(const char *s, enum backup_type *out);

/* True if name is a backup file name; fills out (which may be NULL). */
bool backup_name_parse(const char *name, struct backup_name *out);

/* Format into buf; false if it does not fit. */
bool backup_name_format(const struct backup_name *n, char *buf, size_t size);

/* The <db> part for a database path: its file name without ".db", with any
 * character outside [A-Za-z0-9._-] replaced by '-' so that every name cbsync
 * makes is a safe object key.  Never empty. */
void backup_db_stem(const char *db_path, char *out, size_t size);

#endif
