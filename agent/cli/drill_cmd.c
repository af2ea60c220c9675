/*
 * cbsync drill: restore each tier's newest state into a scratch directory,
 * check it as restore does and as the user asks, and say how long it took
 * (see drill.h).
 */
#include "agent/cli/commands.h"
#include "agent/cli/drill.h"
#include "agent/cli/format.h"
#include "agent/cli/restore_internal.h"
#include "agent/tiers/lock.h"
#include "agent/tiers/oplog.h"
#include "common/cancel.h"
#include "common/fsutil.h"
#include "common/jsondoc.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* Room beyond the live database's size that a drill asks for. */
#define DRILL_MARGIN (16u << 20)

/* The scratch directory (newly allocated): a folder of the drills' own,
 * in [drill] dir or beside the database, so that emptying it can never
 * reach anything else. */
static char *scratch_dir(const struct conf *c)
{
	char *base = c->drill_dir ? strdup(c->drill_dir) : fs_dirname(c->db_path);
	char *p = base ? fs_join(base, DRILL_DIR_NAME) : NULL;
	free(base);
	return p;
}

/* Is name one of the files a drill of stem makes: its copy (and the
 * copy's -wal, -shm, -journal) or a temp file? */
static bool drill_file(const char *name, const char *stem)
{
	size_t n = strlen(stem);
	return strncmp(name, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0 ||
	       (strncmp(name, stem, n) == 0 && strncmp(name + n, ".drill.db", 9) == 0);
}

/* Empty the scratch directory (held locked) of what drills make: whatever
 * is there is what a killed drill left. */
static void empty_dir(const char *dir, const char *stem)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (!drill_file(de->d_name, stem))
			continue;
		char *p = fs_join(dir, de->d_name);
		if (p && unlink(p) == 0)
			log_debug("drill", "removed %s, left by a drill that did not finish", p);
		free(p);
	}
	if (d)
		closedir(d);
}

/* Is there room for the copy?  The live database's size is the measure (a
 * fresh machine without one is not held back). */
static enum result check_space(const struct conf *c, const char *dir, struct error *err)
{
	struct stat st;
	struct statvfs vfs;
	if (stat(c->db_path, &st) != 0 || statvfs(dir, &vfs) != 0)
		return CB_OK;
	uint64_t need = (uint64_t)st.st_size + (uint64_t)st.st_size / 10 + DRILL_MARGIN;
	uint64_t have = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	if (have >= need)
		return CB_OK;
	char n[32], h[32];
	format_size(need, n, sizeof(n));
	format_size(have, h, sizeof(h));
	return error_set(err, CB_ERR_IO, "a drill needs about %s free in %s for its copy of the "
			 "database, and %s is free; nothing was restored; HINT: free some space, or "
			 "set [drill] dir to a larger file system", n, dir, h);
}

/* A check stops when the drill is asked to (SIGTERM, SIGINT). */
static int stop_requested(void *ctx)
{
	(void)ctx;
	return cancel_requested() ? 1 : 0;
}

/* SQLite's idea of a true value: non-NULL and not numerically zero. */
static bool truthy(sqlite3_stmt *st)
{
	return sqlite3_column_type(st, 0) != SQLITE_NULL && sqlite3_column_double(st, 0) != 0.0;
}

/* PRAGMA foreign_key_check, then each statement of check_sql, on the copy.
 * *n_sql: how many statements passed. */
static enum result run_checks(const struct conf *c, const char *path, size_t *n_sql,
			      struct error *err)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	enum result r = CB_OK;
	*n_sql = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		r = error_set(err, CB_ERR_CORRUPT, "cannot open the restored copy: %s",
			      db ? sqlite3_errmsg(db) : "out of memory");
		goto done;
	}
	sqlite3_progress_handler(db, 10000, stop_requested, NULL);
	if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK) {
		r = error_set(err, CB_ERR_CORRUPT, "PRAGMA foreign_key_check: %s",
			      sqlite3_errmsg(db));
		goto done;
	}
	size_t violations = 0;
	char first[160] = "";
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (violations++ == 0)
			snprintf(first, sizeof(first), "a row of %s (rowid %lld) names a missing row "
				 "of %s", (const char *)sqlite3_column_text(st, 0),
				 (long long)sqlite3_column_int64(st, 1),
				 (const char *)sqlite3_column_text(st, 2));
	}
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_DONE) {
		r = rc == SQLITE_INTERRUPT ? error_set(err, CB_ERR_INTERRUPTED, "interrupted")
					   : error_set(err, CB_ERR_CORRUPT, "PRAGMA foreign_key_check: %s",
						       sqlite3_errmsg(db));
		goto done;
	}
	if (violations) {
		r = error_set(err, CB_ERR_CORRUPT, "PRAGMA foreign_key_check found %zu "
			      "violation%s: %s", violations, violations == 1 ? "" : "s", first);
		goto done;
	}
	for (const char *sql = c->drill_check_sql; sql && *sql;) {
		const char *tail = NULL;
		if (sqlite3_prepare_v2(db, sql, -1, &st, &tail) != SQLITE_OK) {
			r = error_set(err, CB_ERR_CONFIG, "[drill] check_sql: %s (in '%.60s'); "
				      "HINT: try it with the sqlite3 shell on a restored copy",
				      sqlite3_errmsg(db), sql);
			goto done;
		}
		size_t len = tail ? (size_t)(tail - sql) : strlen(sql);
		sql = tail;
		if (!st)
			continue;   /* a comment or white space */
		rc = sqlite3_step(st);
		const char *text = sqlite3_sql(st);
		if (rc == SQLITE_ROW && truthy(st)) {
			(*n_sql)++;
		} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
			r = error_set(err, CB_ERR_CORRUPT, "[drill] check_sql '%.*s' %s", (int)len,
				      text, rc == SQLITE_DONE ? "returned no row" : "returned false");
		} else if (rc == SQLITE_INTERRUPT) {
			r = error_set(err, CB_ERR_INTERRUPTED, "interrupted");
		} else {
			int base = rc & 0xff;
			bool damaged = base == SQLITE_CORRUPT || base == SQLITE_NOTADB;
			r = error_set(err, damaged ? CB_ERR_CORRUPT : CB_ERR_CONFIG,
				      "[drill] check_sql '%s': %s", text, sqlite3_errmsg(db));
		}
		sqlite3_finalize(st);
		st = NULL;
		if (r)
			goto done;
	}
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return r;
}

static void remove_copy(const char *path)
{
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	char p[PATH_MAX];
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		unlink(p);
	}
}

static void record(const struct conf *c, struct drill_record *d)
{
	char detail[ERROR_MSG_MAX + 256], at[32];
	struct error err = {0};
	if (d->ok) {
		time_format_iso_ms(d->state_ms, at, sizeof(at));
		snprintf(detail, sizeof(detail), "tier %s: restored %s + %zu increment%s, state at "
			 "%s (RPO %.0fs), RTO %.2fs", d->tier, d->snapshot, d->increments,
			 d->increments == 1 ? "" : "s", at, d->rpo, d->seconds);
	} else {
		snprintf(detail, sizeof(detail), "tier %s: %s", d->tier, d->error);
	}
	if (fs_mkdirs(c->local_dir, 0700, &err) == CB_OK)
		oplog_write(c->local_dir, &(struct oplog_event){
			.op = "drill", .object = d->snapshot[0] ? d->snapshot : NULL,
			.tier = d->tier, .bytes = -1, .outcome = d->code, .seconds = d->seconds,
			.detail = detail});
	if (fs_exists(c->local_dir) && drills_record(c->local_dir, d, &err))
		log_warn("drill", "cannot record the drill of %s: %s", d->tier, err.msg);
}

/* One drill of tier into dir (locked by the caller), filling *out. */
static enum result drill_one(const struct conf *c, const char *dir, const char *tier,
			     struct drill_record *out, struct error *err)
{
	struct restore_report rep;
	char stem[BACKUP_STEM_MAX + 1], *target = NULL;
	enum result r;
	double start = time_mono();
	int64_t start_ms = time_now_ms();

	memset(out, 0, sizeof(*out));
	snprintf(out->tier, sizeof(out->tier), "%s", tier);
	out->ran_at = start_ms / 1000;
	backup_db_stem(c->db_path, stem, sizeof(stem));
	if (asprintf(&target, "%s/%s.drill.db", dir, stem) < 0)
		return error_nomem(err);
	if ((r = check_space(c, dir, err)))
		goto done;
	/* The restore, as restore --from TIER --latest --to TARGET makes it. */
	struct cli dc = {.verb = VERB_RESTORE, .conf = *c, .from = tier, .latest = true,
			 .to = target};
	r = restore_for_drill(&dc, &rep, err);
	out->seconds = time_mono() - start;
	if (r)
		goto done;
	snprintf(out->snapshot, sizeof(out->snapshot), "%s", rep.snapshot);
	out->increments = rep.increments;
	out->state_ms = rep.state_ms;
	/* What a disaster when the drill began would have lost. */
	out->rpo = start_ms > rep.state_ms ? (double)(start_ms - rep.state_ms) / 1000.0 : 0;
	out->db_bytes = rep.check.data_size;
	size_t n_sql = 0;
	r = run_checks(c, target, &n_sql, err);
	int o = snprintf(out->checks, sizeof(out->checks), "%sgzip CRC-32, %s%sintegrity_check",
			 rep.check.decrypted ? "age decryption, " : "",
			 rep.check.sha_checked ? "SHA-256 against metadata, " : "",
			 rep.increments ? "state checksum after each increment, " : "");
	if (!r && o > 0 && (size_t)o < sizeof(out->checks)) {
		o += snprintf(out->checks + o, sizeof(out->checks) - (size_t)o, ", foreign_key_check");
		if (n_sql && o > 0 && (size_t)o < sizeof(out->checks))
			snprintf(out->checks + o, sizeof(out->checks) - (size_t)o,
				 ", check_sql (%zu)", n_sql);
	}
done:
	remove_copy(target);
	free(target);
	if (!out->seconds)
		out->seconds = time_mono() - start;
	out->ok = r == CB_OK;
	out->code = r;
	out->exit_code = result_exit_code(r);
	out->last_success = out->ok ? out->ran_at : 0;
	if (r)
		snprintf(out->error, sizeof(out->error), "%s", err->msg);
	return r;
}

enum result drill_tier(const struct conf *c, const char *dir, const char *tier,
		       struct drill_record *out)
{
	struct error err = {0};
	enum result r = drill_one(c, dir, tier, out, &err);
	/* A backup pruned or merged away between the listing and its read
	 * (the agent's retention, a sync) is not the tier failing: once more,
	 * from a fresh listing. */
	if (r == CB_ERR_NOT_FOUND || r == CB_ERR_CORRUPT) {
		struct drill_record again;
		struct error err2 = {0};
		if (drill_one(c, dir, tier, &again, &err2) == CB_OK || err2.code != r ||
		    strcmp(err2.msg, err.msg) != 0) {
			*out = again;
			r = again.code;
		}
	}
	/* Stopped (the agent stopping, a ^C) is no verdict on the tier. */
	if (r != CB_ERR_INTERRUPTED)
		record(c, out);
	return r;
}

enum result drill_scratch_open(const struct conf *c, char **dir, struct dir_lock *lock,
			       struct error *err)
{
	char stem[BACKUP_STEM_MAX + 1];
	enum result r;
	backup_db_stem(c->db_path, stem, sizeof(stem));
	lock->fd = -1;
	if (!(*dir = scratch_dir(c)))
		return error_nomem(err);
	if ((r = fs_mkdirs(*dir, 0700, err)) ||
	    (r = dir_lock_acquire(lock, *dir, "drill", 0, err))) {
		free(*dir);
		*dir = NULL;
		if (r == CB_ERR_BUSY)
			error_set(err, CB_ERR_BUSY, "another drill is running; HINT: try again when "
				  "it has finished");
		return r;
	}
	empty_dir(*dir, stem);
	return CB_OK;
}

void drill_scratch_clean(const struct conf *c)
{
	struct dir_lock lock;
	struct error ignored = {0};
	char *dir = scratch_dir(c);
	bool there = dir && fs_exists(dir);
	free(dir);
	dir = NULL;
	/* No drill ever ran here: nothing to clean, and nothing to create. */
	if (there && !drill_scratch_open(c, &dir, &lock, &ignored))
		dir_lock_release(&lock);
	free(dir);
}

/* The tiers --tier names: "all" (or none) is the local tier and every
 * remote. */
static enum result tiers_named(const struct conf *c, const char *which, const char ***out,
			       size_t *n, struct error *err)
{
	const char **names = calloc(c->n_remotes + 1, sizeof(*names));
	*n = 0;
	if (!names)
		return error_nomem(err);
	bool all = !which || strcmp(which, "all") == 0;
	if (all || strcmp(which, "local") == 0)
		names[(*n)++] = "local";
	for (size_t i = 0; i < c->n_remotes; i++)
		if (all || strcmp(which, c->remotes[i].name) == 0)
			names[(*n)++] = c->remotes[i].name;
	if (*n == 0) {
		free(names);
		return error_set(err, CB_ERR_USAGE, "no tier named '%s'; HINT: local, all, or a "
				 "configured remote", which);
	}
	*out = names;
	return CB_OK;
}

static void print_one(const struct drill_record *d)
{
	if (!d->ok) {
		printf("FAILED  %s: %s (after %.2fs)\n", d->tier, d->error, d->seconds);
		return;
	}
	char at[32], size[32];
	time_format_iso_ms(d->state_ms, at, sizeof(at));
	format_size(d->db_bytes, size, sizeof(size));
	printf("ok      %s: %s + %zu increment%s, state at %s\n", d->tier, d->snapshot,
	       d->increments, d->increments == 1 ? "" : "s", at);
	printf("        recovery time %.2fs, state %.0fs old (RPO), %s\n", d->seconds, d->rpo, size);
	printf("        checked: %s\n", d->checks);
}

enum result cmd_drill(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	const char **names = NULL;
	size_t n = 0, failed = 0, done = 0;
	enum result worst = CB_OK, r;
	struct error first = {0};
	struct dir_lock lock = {.fd = -1};
	char *dir = NULL;
	json_t *arr = cli->json ? json_array() : NULL;

	if (cli->json && !arr)
		return error_nomem(err);
	if ((r = tiers_named(c, cli->tier, &names, &n, err)) ||
	    (r = drill_scratch_open(c, &dir, &lock, err))) {
		free(names);
		json_decref(arr);
		return r;
	}
	/* One lock for every tier's drill: their records are written under it. */
	for (size_t i = 0; i < n && !cancel_requested(); i++) {
		struct drill_record d;
		r = drill_tier(c, dir, names[i], &d);
		done++;
		if (r) {
			failed++;
			if (worst == CB_OK || result_worse(r, worst))
				worst = r;
			if (!first.code)
				error_set(&first, r, "drill of %s failed: %s", d.tier, d.error);
		}
		if (arr)
			json_array_append_new(arr, drill_record_json(&d));
		else
			print_one(&d);
		if (r == CB_ERR_INTERRUPTED)
			break;
	}
	dir_lock_release(&lock);
	free(dir);
	free(names);
	if (done < n && worst == CB_OK) {
		worst = CB_ERR_INTERRUPTED;
		error_set(&first, worst, "interrupted");
		failed++;
	}
	if (arr) {
		enum result pr = format_print_json(arr, err);
		if (pr)
			return pr;
	} else {
		printf("%zu tier%s drilled: %zu ok, %zu failed\n", done, done == 1 ? "" : "s",
		       done - (failed > done ? done : failed), failed > done ? done : failed);
	}
	if (failed == 1)
		*err = first;
	else if (failed > 1)
		error_set(err, worst, "%zu of %zu drills failed; the first: %s", failed, n,
			  first.msg);
	return worst;
}
