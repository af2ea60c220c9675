/*
 * Restoring a backup.
 *
 * Order matters, and nothing touches the live database until the backup has
 * passed every check:
 *   1. decompress into a temp file beside the target and check it (gzip,
 *      SHA-256 against metadata, integrity_check) -- see check.h;
 *   2. make a restore_point backup of the current database, if there is one;
 *   3. install: into an existing database through SQLite's backup API, as one
 *      write transaction, so a server holding it open (WAL mode included)
 *      sees the restored contents and its -wal/-shm stay consistent; with no
 *      database, by an atomic rename of the checked file.
 * With a target other than the live database (--to), step 2 is skipped and
 * the target must not exist yet.
 *
 * The steps are separate functions so that a restore from a remote can feed
 * the download straight into the temp file.
 *
 * A point-in-time restore puts a snapshot's image into the temp file, then
 * applies a chain of increments to it (restore_apply_chain, with every check
 * agent/engine/chain.h makes), and checks the result as any backup is
 * checked before it goes further.
 */
#ifndef CBSYNC_RESTORE_H
#define CBSYNC_RESTORE_H

#include "agent/engine/check.h"
#include "agent/engine/progress.h"
#include "common/backup_name.h"
#include "common/fsutil.h"
#include "common/increment.h"
#include "common/result.h"
#include "common/stream.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct keyring;
#include <sys/types.h>
#include <stdbool.h>

struct restore_opts {
	const char *db_path;   /* the live database */
	const char *dir;       /* local tier, for the restore point */
	const char *to;        /* restore here instead (must not exist), or NULL */
	int level;             /* gzip level for the restore point */
	int threads;           /* compression threads for it */
	double busy_timeout;   /* seconds to wait for the live database */
	uint64_t max_size;     /* bound for a backup without metadata (check.h) */
	mode_t new_mode;       /* a new database's mode (0: 0600) */
	const struct age_identities *ids;  /* decrypt an age file with (check.h) */
	const struct keyring *seal;  /* [local] encrypt: the restore point's keys */
	bool progress;
};

struct restore_job {
	const struct restore_opts *opts;
	const char *target;    /* db_path or to */
	struct atomic_file tmp;
	bool live_exists;      /* restoring over an existing database */
};

struct restore_outcome {
	bool made_restore_point;
	char restore_point[PATH_MAX];        /* its path (X.db.gz.age when sealed) */
	char restore_point_name[BACKUP_NAME_MAX]; /* its backup name (X.db.gz) */
	double restore_point_seconds;
	bool by_rename;        /* installed by rename (no database existed) */
	double seconds;
};

/* Validate the target and create the temp file that the backup is
 * decompressed into (job->tmp.fd, job->tmp.tmp_path). */
enum result restore_begin(struct restore_job *job, const struct restore_opts *opts,
			  struct error *err);

/* After the temp file has passed its checks (check describes it): restore
 * point, then install. */
enum result restore_install(struct restore_job *job, const struct check_result *check,
			    struct restore_outcome *out, struct error *err);

/* Remove the temp file (if still there). */
void restore_end(struct restore_job *job);

/* Increments to apply to a snapshot's image, in chain order. */
struct restore_chain {
	const char *snapshot;             /* the snapshot's name */
	uint32_t page_size;               /* its page size */
	const uint64_t *state_checksum;   /* its metadata's, or NULL (chain.h) */
	const struct incr_meta *const *steps;
	size_t n_steps;
	/* Stream step k's object, in order, into sink (ctx: the caller's). */
	enum result (*fetch)(void *ctx, size_t k, stream_write_fn sink, void *sink_ctx,
			     struct error *err);
	void *ctx;
	struct progress *bar;             /* over the steps' bytes; may be NULL */
};

/* The image of rc->snapshot is in the file open read-write on fd at path
 * (decompressed, its SHA-256 checked: check_compressed filled check).
 * Apply every step (chain.h), then PRAGMA integrity_check on the result;
 * check gets the result's size, page size and count.  On failure the file
 * is unusable, and *failed says what is at fault: the index of a step (the
 * last one when the final check fails), or SIZE_MAX for the snapshot's
 * image (its state checksum). */
enum result restore_apply_chain(int fd, const char *path, const struct restore_chain *rc,
				struct check_result *check, size_t *failed, struct error *err);

/* The whole restore from a local .db.gz file (meta may be NULL). */
enum result restore_from_file(const struct restore_opts *opts, const char *backup_path,
			      const struct backup_meta *meta, struct check_result *check,
			      struct restore_outcome *out, struct error *err);

#endif
