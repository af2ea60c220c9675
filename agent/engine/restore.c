/*
 * Restore: check into a temp file, (apply increments,) restore point,
 * install.
 */
#include "agent/engine/restore.h"
#include "agent/engine/backup.h"
#include "agent/engine/chain.h"
#include "agent/engine/snapshot.h"
#include "common/cancel.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum result restore_begin(struct restore_job *job, const struct restore_opts *opts,
			  struct error *err)
{
	enum result r;
	struct stat st;

	memset(job, 0, sizeof(*job));
	job->tmp.fd = -1;
	job->opts = opts;
	job->target = opts->to ? opts->to : opts->db_path;
	if (stat(job->target, &st) == 0) {
		if (opts->to)
			return error_set(err, CB_ERR_USAGE,
					 "refusing to overwrite '%s'; HINT: --to must name a "
					 "file that does not exist yet",
					 opts->to);
		if (!S_ISREG(st.st_mode))
			return error_set(err, CB_ERR_IO, "'%s' is not a regular file",
					 job->target);
		job->live_exists = true;
	} else if (errno != ENOENT) {
		return error_errno(err, errno, job->target);
	}
	char *dir = fs_dirname(job->target);
	if (!dir)
		return error_nomem(err);
	/* The database's directory is the server's, not cbsync's: ordinary
	 * permissions (the umask applies), so that a server running as another
	 * user can use it.  The backup directory stays 0700. */
	r = fs_mkdirs(dir, 0755, err);
	/* Killed restores leave their decompressed copies here; remove those
	 * (and only those: their writer's lock is gone). */
	if (!r)
		fs_remove_dead_temps(dir);
	free(dir);
	if (r)
		return r;
	/* Owner-only while it is written, whatever the umask: it is a copy of
	 * the database.  A new database gets its configured mode at install. */
	return atomic_file_open(&job->tmp, job->target, 0600, err);
}

void restore_end(struct restore_job *job)
{
	atomic_file_abort(&job->tmp);
}

/* Query one integer pragma. */
static int64_t pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static bool is_wal(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	bool wal = false;
	if (sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		wal = strcasecmp((const char *)sqlite3_column_text(st, 0), "wal") == 0;
	sqlite3_finalize(st);
	return wal;
}

/* Open the live database for the install, and refuse early what the backup
 * API cannot do (a WAL database cannot change its page size). */
static enum result open_live(const char *path, int64_t image_pgsz, double busy_timeout,
			     sqlite3 **out, struct error *err)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
	if (rc != SQLITE_OK) {
		enum result r = snapshot_sqlite_error(err, rc, path, "cannot open database");
		sqlite3_close(db);
		return r;
	}
	sqlite3_busy_timeout(db, (int)(busy_timeout * 1000));
	int64_t live_pgsz = pragma_int(db, "PRAGMA page_size");
	if (live_pgsz < 0) {
		enum result r = snapshot_sqlite_error(err, sqlite3_errcode(db), path,
						      "cannot read database");
		sqlite3_close(db);
		return r;
	}
	if (image_pgsz != live_pgsz && is_wal(db)) {
		sqlite3_close(db);
		return error_set(err, CB_ERR_DB,
				 "cannot restore into '%s': it is in WAL mode with page size "
				 "%lld and the backup has %lld; HINT: stop the server, move "
				 "the database aside and restore again",
				 path, (long long)live_pgsz, (long long)image_pgsz);
	}
	*out = db;
	return CB_OK;
}

/* Copy the checked image into the live database as one transaction. */
static enum result install_live(sqlite3 *dst, const char *path, const char *image,
				double busy_timeout, struct error *err)
{
	sqlite3 *src = NULL;
	enum result r;
	int rc = check_open_image(image, &src);
	if (rc != SQLITE_OK) {
		r = error_set(err, CB_ERR_IO, "cannot open the checked copy: %s",
			      sqlite3_errstr(rc));
		sqlite3_close(src);
		return r;
	}
	rc = snapshot_copy(dst, src, busy_timeout, NULL);
	sqlite3_close(src);
	if (rc == SQLITE_OK)
		return CB_OK;
	return snapshot_sqlite_error(err, rc, path, "cannot restore into");
}

/* With no database, stray -wal/-shm files beside its name would be applied
 * to the restored file by SQLite; move them aside. */
static enum result move_stale_sidecars(const char *db_path, struct error *err)
{
	static const char *const suffixes[] = {"-wal", "-shm", "-journal"};
	char stamp[16];
	time_format_stamp(time_now(), stamp, sizeof(stamp));
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
		char *from = NULL, *to = NULL;
		if (asprintf(&from, "%s%s", db_path, suffixes[i]) < 0)
			return error_nomem(err);
		if (!fs_exists(from)) {
			free(from);
			continue;
		}
		if (asprintf(&to, "%s.stale-%s", from, stamp) < 0) {
			free(from);
			return error_nomem(err);
		}
		int rc = rename(from, to);
		int e = errno;
		if (rc == 0)
			log_warn("restore", "moved stray %s aside to %s", from, to);
		free(to);
		if (rc != 0) {
			enum result r = error_errno(err, e, from);
			free(from);
			return r;
		}
		free(from);
	}
	return CB_OK;
}

static enum result appeared(struct error *err, const char *target)
{
	return error_set(err, CB_ERR_IO, "'%s' appeared while restoring; nothing was replaced",
			 target);
}

enum result restore_install(struct restore_job *job, const struct check_result *check,
			    struct restore_outcome *out, struct error *err)
{
	const struct restore_opts *o = job->opts;
	enum result r;
	sqlite3 *live = NULL;

	memset(out, 0, sizeof(*out));
	if (!job->live_exists || o->to) {
		/* A database that appeared since restore_begin owns the -wal and
		 * -shm beside it (committed rows may be in its -wal): look again
		 * before moving them, not only at the rename. */
		if (!o->to && fs_exists(job->target))
			return appeared(err, job->target);
		if (!o->to && (r = move_stale_sidecars(job->target, err)))
			return r;
		if (fchmod(job->tmp.fd, o->new_mode ? o->new_mode : 0600) != 0)
			return error_errno(err, errno, job->tmp.tmp_path);
		r = atomic_file_commit(&job->tmp, &(struct commit_opts){.no_replace = true},
				       err);
		if (r && err && err->os_errno == EEXIST)
			r = appeared(err, job->target);
		out->by_rename = r == CB_OK;
		return r;
	}

	if ((r = open_live(job->target, check->page_size, o->busy_timeout, &live, err)))
		return r;
	struct backup_opts bo = {
		.db_path = job->target,
		.dir = o->dir,
		.type = BT_RESTORE_POINT,
		.seal = o->seal,
		.level = o->level,
		.threads = o->threads,
		.busy_timeout = o->busy_timeout,
		.progress = o->progress,
	};
	struct backup_outcome bout;
	r = backup_make(&bo, &bout, err);
	if (r) {
		error_prefix(err, "cannot make a restore point, so nothing was restored");
		sqlite3_close(live);
		return r;
	}
	out->made_restore_point = true;
	out->restore_point_seconds = bout.seconds;
	snprintf(out->restore_point, sizeof(out->restore_point), "%s", bout.path);
	snprintf(out->restore_point_name, sizeof(out->restore_point_name), "%s", bout.meta.name);
	r = install_live(live, job->target, job->tmp.tmp_path, o->busy_timeout, err);
	sqlite3_close(live);
	return r;
}

/* What a step's bytes pass through on their way into the chain. */
struct step_feed {
	struct chain *chain;
	struct progress *bar;
	uint64_t done;
};

static enum result feed_step(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct step_feed *f = ctx;
	f->done += len;
	progress_update(f->bar, f->done);
	return chain_step_write(f->chain, buf, len, err);
}

enum result restore_apply_chain(int fd, const char *path, const struct restore_chain *rc,
				struct check_result *check, size_t *failed, struct error *err)
{
	struct chain c = {0};
	struct step_feed feed = {.chain = &c, .bar = rc->bar};
	struct chain_base base = {.snapshot = rc->snapshot, .page_size = rc->page_size,
				  .state_checksum = rc->state_checksum};
	enum result r;

	*failed = SIZE_MAX;
	if ((r = chain_begin(&c, fd, path, &base, err)))
		return r;
	for (size_t k = 0; k < rc->n_steps; k++) {
		*failed = k;
		if ((r = chain_step_begin(&c, rc->steps[k], err)))
			goto done;
		r = rc->fetch(rc->ctx, k, feed_step, &feed, err);
		if (r) {
			/* The step's own refusal names it; a tier's failure may not. */
			if (!strstr(err->msg, rc->steps[k]->name))
				error_prefix(err, "increment '%s'", rc->steps[k]->name);
			goto done;
		}
		if ((r = chain_step_finish(&c, err)))
			goto done;
	}
	/* From here what fails is the state the last step leads to. */
	*failed = rc->n_steps ? rc->n_steps - 1 : SIZE_MAX;
	if ((r = chain_end(&c, NULL, err)))
		goto done;
	progress_phase(rc->bar, "checking integrity (PRAGMA integrity_check)");
	if ((r = check_integrity(path, &check->page_size, &check->page_count, err))) {
		error_prefix(err, "the state %s and its increments lead to is corrupt",
			     rc->snapshot);
		goto done;
	}
	check->data_size = (uint64_t)check->page_size * (uint64_t)check->page_count;
done:
	chain_free(&c);
	return r;
}

enum result restore_from_file(const struct restore_opts *opts, const char *backup_path,
			      const struct backup_meta *meta, struct check_result *check,
			      struct restore_outcome *out, struct error *err)
{
	struct restore_job job;
	struct progress bar;
	double start = time_mono();
	enum result r;

	memset(out, 0, sizeof(*out));
	int in = open(backup_path, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		if (errno == ENOENT)
			return error_set(err, CB_ERR_NOT_FOUND, "Backup not found: %s", backup_path);
		return error_errno(err, errno, backup_path);
	}
	if ((r = restore_begin(&job, opts, err))) {
		close(in);
		return r;
	}
	progress_start(&bar, "restore", (uint64_t)fs_file_size(backup_path));
	bar.enabled = bar.enabled && opts->progress;
	r = check_backup(in, fs_basename(backup_path), meta, opts->max_size, job.tmp.fd,
			 job.tmp.tmp_path, opts->ids, &bar, check, err);
	progress_end(&bar);
	close(in);
	if (!r)
		r = restore_install(&job, check, out, err);
	restore_end(&job);
	out->seconds = time_mono() - start;
	return r;
}
