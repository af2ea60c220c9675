/*
 * Backup metadata: the JSON document that travels beside every backup
 * (<name>.db.gz.json locally, the same object name + ".json" on remotes), so
 * that a tier alone is enough to list, verify and restore its backups.
 *
 *   {"format":1, "name":"cloudbrain_manual_20260202_120000.db.gz",
 *    "database":"cloudbrain", "type":"manual", "created":"2026-02-02T12:00:00Z",
 *    "original_size":1048576, "compressed_size":262144,
 *    "compression_ratio":75.0, "sha256":"…", "page_size":4096,
 *    "page_count":256, "tool":"cbsync", "version":"0.1.0"}
 *
 * compression_ratio is the share of the original size saved, in percent, as
 * the seed tool reported it ("70-90% compression ratios").  Backups made
 * since increments came also have "state_checksum" (16 hex digits): the
 * checksum of the whole database state they hold, the one an increment
 * chain starts from and every check verifies; it is optional on reading.
 * Since point-in-time restore they also have "state_time"
 * ("2026-02-02T12:00:00.250Z"): when the state they hold is at.  "created"
 * (the name's time) is stamped before the snapshot's read transaction
 * starts, so a commit just after it can be inside the snapshot; state_time
 * is stamped once that transaction holds its snapshot of the database, and
 * rounded up to the millisecond, so every commit in the backup was made
 * before it.  It is never before created; optional on reading (older
 * backups: use created).
 */
#ifndef CBSYNC_META_H
#define CBSYNC_META_H

#include "common/backup_name.h"
#include "common/hash.h"
#include "common/metacrypt.h"
#include "common/result.h"

#include <stdbool.h>
#include <stdint.h>

#define META_SUFFIX ".json"
#define META_FORMAT 1
#define META_MAX_BYTES 65536

struct backup_meta {
	char name[BACKUP_NAME_MAX];
	char database[BACKUP_STEM_MAX + 1];
	enum backup_type type;
	int64_t created;
	int64_t original_size;
	int64_t compressed_size;
	char sha256[SHA256_HEX_LEN + 1];
	int64_t page_size;
	int64_t page_count;
	bool has_state_checksum;  /* older backups (and the seed's) have none */
	uint64_t state_checksum;  /* of the database it holds (agent/engine/pagesum.h) */
	bool has_state_time;      /* older backups (and the seed's) have none */
	int64_t state_ms;         /* when the state it holds is at, ms since the epoch */
	char version[32];
	struct meta_crypt crypt;  /* on an encrypted tier: its object (metacrypt.h) */
};

/* When m's state is at, in milliseconds: state_time, or for a backup
 * without one its created time. */
int64_t meta_state_ms(const struct backup_meta *m);

/* Percent of the original size saved; 0 when the original is empty. */
double meta_ratio(int64_t original_size, int64_t compressed_size);

/* Serialise to a newly allocated NUL-terminated JSON text (with a newline). */
char *meta_to_json(const struct backup_meta *m);

/* Parse and validate: every field present and well-typed, the name a backup
 * name that agrees with type and created.  err names what is wrong. */
enum result meta_from_json(const char *text, size_t len, struct backup_meta *out,
			   struct error *err);

#endif
