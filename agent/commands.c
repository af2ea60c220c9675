/*
 * The local-tier verbs: backup, list, stats, restore, prune, verify, version.
 *
 * Mutating verbs take the backup directory's lock, tidy what crashed runs
 * left, do their work, and record one line in the operations log.
 */
#include "agent/commands.h"
#include "agent/backup.h"
#include "agent/check.h"
#include "agent/format.h"
#include "agent/lock.h"
#include "agent/oplog.h"
#include "agent/prune.h"
#include "agent/remotes.h"
#include "agent/restore.h"
#include "agent/tier_local.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <version.h>
#include <zlib.h>


/* Create the backup directory if needed and take its lock. */
static enum result lock_dir(const struct conf *c, const char *op, struct dir_lock *l,
			    struct error *err)
{
	enum result r = fs_mkdirs(c->local_dir, 0700, err);
	if (r)
		return r;
	r = dir_lock_acquire(l, c->local_dir, op, c->lock_timeout, err);
	if (r)
		return r;
	local_cleanup_stale(c->local_dir);
	return CB_OK;
}

static void print_sizes(const struct backup_meta *m, double seconds)
{
	char orig[32], comp[32];
	format_size((uint64_t)m->original_size, orig, sizeof(orig));
	format_size((uint64_t)m->compressed_size, comp, sizeof(comp));
	printf("  Original size:   %s (%lld bytes)\n", orig, (long long)m->original_size);
	printf("  Compressed size: %s (%lld bytes)\n", comp, (long long)m->compressed_size);
	printf("  Compression:     %.1f%%\n",
	       meta_ratio(m->original_size, m->compressed_size));
	printf("  Time taken:      %.2fs\n", seconds);
}

enum result cmd_backup(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	enum backup_type type = BT_MANUAL;
	struct dir_lock lock = {.fd = -1};
	struct backup_outcome out;
	struct prune_result pruned = {0};
	enum result r;
	double start = time_mono();

	if (cli->type && (!backup_type_parse(cli->type, &type) || type == BT_CHANGE ||
			  type == BT_RESTORE_POINT))
		return error_set(err, CB_ERR_USAGE,
				 "unknown backup type '%s' (expected manual, daily, weekly "
				 "or monthly)",
				 cli->type);
	if ((r = backup_check_db(c->db_path, err)))
		goto done;
	if ((r = lock_dir(c, "backup", &lock, err)))
		goto done;
	struct backup_opts bo = {
		.db_path = c->db_path,
		.dir = c->local_dir,
		.type = type,
		.level = c->compression,
		.busy_timeout = c->busy_timeout,
		.progress = true,
	};
	if ((r = backup_make(&bo, &out, err)))
		goto done;
	printf("Backup created: %s\n", out.path);
	print_sizes(&out.meta, out.seconds);
	oplog_record(c->local_dir, "backup", out.meta.name, CB_OK, out.seconds, NULL);
	if (type == BT_DAILY || type == BT_WEEKLY || type == BT_MONTHLY) {
		/* Scheduled types rotate: apply retention now. */
		r = prune_local(c->local_dir, &c->local_keep, time_now(), false, stdout,
				&pruned, err);
		if (r) {
			error_prefix(err, "backup made, but pruning failed");
			goto done;
		}
		if (pruned.deleted) {
			char freed[32];
			format_size(pruned.freed, freed, sizeof(freed));
			char detail[96];
			snprintf(detail, sizeof(detail), "deleted %zu, freed %s", pruned.deleted,
				 freed);
			oplog_record(c->local_dir, "prune", NULL, CB_OK, 0, detail);
		}
	}
	dir_lock_release(&lock);
	if (c->n_remotes && !cli->no_sync) {
		/* The backup is safe locally whatever happens next; say so. */
		r = push_remotes(c, NULL, err);
		if (r)
			error_prefix(err, "backup made (%s), but it is not offsite yet; the next "
				     "sync uploads it", out.path);
		return r;
	}
	return CB_OK;
done:
	dir_lock_release(&lock);
	if (r)
		oplog_record(fs_exists(c->local_dir) ? c->local_dir : NULL, "backup", NULL, r,
			     time_mono() - start, err->msg);
	return r;
}

static json_t *backup_json(const struct local_backup *b, const char *dir)
{
	char created[32];
	time_format_iso(b->parsed.created, created, sizeof(created));
	char *path = fs_join(dir, b->name);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:b}", "name", b->name,
			      "database", b->parsed.db, "type",
			      backup_type_name(b->parsed.type), "created", created, "path",
			      path ? path : b->name, "compressed_size",
			      (json_int_t)b->file_size, "has_metadata", b->has_meta);
	free(path);
	if (!o)
		return NULL;
	if (b->has_meta) {
		json_object_set_new(o, "original_size", json_integer(b->meta.original_size));
		double ratio = meta_ratio(b->meta.original_size, b->meta.compressed_size);
		json_object_set_new(o, "compression_ratio",
				    json_real((double)(int64_t)(ratio * 100 + 0.5) / 100));
		json_object_set_new(o, "sha256", json_string(b->meta.sha256));
		json_object_set_new(o, "page_size", json_integer(b->meta.page_size));
		json_object_set_new(o, "page_count", json_integer(b->meta.page_count));
	} else {
		json_object_set_new(o, "original_size", json_null());
		json_object_set_new(o, "compression_ratio", json_null());
	}
	if (b->meta_error[0])
		json_object_set_new(o, "metadata_error", json_string(b->meta_error));
	return o;
}

static enum result print_json(json_t *doc, struct error *err)
{
	if (!doc)
		return error_set(err, CB_ERR_NOMEM, "out of memory");
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!s)
		return error_set(err, CB_ERR_NOMEM, "out of memory");
	printf("%s\n", s);
	free(s);
	return CB_OK;
}

enum result cmd_list(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct local_list list;
	if (cli->tier && strcmp(cli->tier, "local") != 0)
		return list_tiers(cli, err);
	enum result r = local_list_scan(c->local_dir, &list, err);
	if (r)
		return r;
	if (cli->json) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < list.n; i++)
			json_array_append_new(arr, backup_json(&list.items[i], c->local_dir));
		local_list_free(&list);
		return print_json(arr, err);
	}
	if (list.n == 0) {
		printf("No backups found in %s\n", c->local_dir);
		local_list_free(&list);
		return CB_OK;
	}
	size_t w = 4;
	for (size_t i = 0; i < list.n; i++)
		if (strlen(list.items[i].name) > w)
			w = strlen(list.items[i].name);
	printf("%-*s  %-13s  %-20s  %10s  %10s  %6s\n", (int)w, "NAME", "TYPE", "CREATED",
	       "ORIGINAL", "COMPRESSED", "RATIO");
	for (size_t i = 0; i < list.n; i++) {
		const struct local_backup *b = &list.items[i];
		char created[32], orig[32] = "-", comp[32], ratio[16] = "-";
		time_format_iso(b->parsed.created, created, sizeof(created));
		format_size((uint64_t)b->file_size, comp, sizeof(comp));
		if (b->has_meta) {
			format_size((uint64_t)b->meta.original_size, orig, sizeof(orig));
			snprintf(ratio, sizeof(ratio), "%.1f%%",
				 meta_ratio(b->meta.original_size, b->meta.compressed_size));
		}
		printf("%-*s  %-13s  %-20s  %10s  %10s  %6s\n", (int)w, b->name,
		       backup_type_name(b->parsed.type), created, orig, comp, ratio);
	}
	printf("%zu backup%s in %s\n", list.n, list.n == 1 ? "" : "s", c->local_dir);
	local_list_free(&list);
	return CB_OK;
}

struct type_stats {
	size_t count;
	uint64_t bytes;
};

enum result cmd_stats(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct local_list list;
	struct type_stats per[BT_COUNT] = {{0}};
	uint64_t data_bytes = 0, disk = 0;
	double ratio_sum = 0;
	size_t ratio_n = 0;
	enum result r = local_list_scan(c->local_dir, &list, err);
	if (r)
		return r;
	for (size_t i = 0; i < list.n; i++) {
		const struct local_backup *b = &list.items[i];
		per[b->parsed.type].count++;
		per[b->parsed.type].bytes += (uint64_t)b->file_size;
		data_bytes += (uint64_t)b->file_size;
		char *mpath = NULL;
		if (asprintf(&mpath, "%s/%s%s", c->local_dir, b->name, META_SUFFIX) >= 0) {
			int64_t ms = fs_file_size(mpath);
			if (ms > 0)
				disk += (uint64_t)ms;
			free(mpath);
		}
		if (b->has_meta && b->meta.original_size > 0) {
			ratio_sum += meta_ratio(b->meta.original_size, b->meta.compressed_size);
			ratio_n++;
		}
	}
	disk += data_bytes;
	int64_t db_size = fs_file_size(c->db_path);
	char *wal_path = NULL;
	int64_t wal_size = -1;
	if (asprintf(&wal_path, "%s-wal", c->db_path) >= 0) {
		wal_size = fs_file_size(wal_path);
		free(wal_path);
	}
	const struct local_backup *newest = list.n ? &list.items[0] : NULL;
	const struct local_backup *oldest = list.n ? &list.items[list.n - 1] : NULL;

	if (cli->json) {
		json_t *types = json_object();
		for (int t = 0; types && t < BT_COUNT; t++)
			json_object_set_new(types, backup_type_name((enum backup_type)t),
					    json_pack("{s:I, s:I}", "count",
						      (json_int_t)per[t].count, "total_size",
						      (json_int_t)per[t].bytes));
		char o_created[32] = "", n_created[32] = "";
		if (oldest) {
			time_format_iso(oldest->parsed.created, o_created, sizeof(o_created));
			time_format_iso(newest->parsed.created, n_created, sizeof(n_created));
		}
		json_t *doc = json_pack(
			"{s:s, s:I, s:o, s:I, s:I, s:o, s:o, s:o, s:{s:s, s:o, s:o}}",
			"directory", c->local_dir, "count", (json_int_t)list.n, "types",
			types, "total_size", (json_int_t)data_bytes, "disk_used",
			(json_int_t)disk, "oldest",
			oldest ? json_pack("{s:s, s:s}", "name", oldest->name, "created",
					   o_created)
			       : json_null(),
			"newest",
			newest ? json_pack("{s:s, s:s}", "name", newest->name, "created",
					   n_created)
			       : json_null(),
			"average_compression_ratio",
			ratio_n ? json_real((double)(int64_t)(ratio_sum / (double)ratio_n * 100 + 0.5) / 100)
				: json_null(),
			"database", "path", c->db_path, "size",
			db_size >= 0 ? json_integer(db_size) : json_null(), "wal_size",
			wal_size >= 0 ? json_integer(wal_size) : json_null());
		local_list_free(&list);
		return print_json(doc, err);
	}

	char buf[32];
	printf("Backups in %s\n\n", c->local_dir);
	printf("  %-14s %6s  %10s\n", "TYPE", "COUNT", "SIZE");
	for (int t = 0; t < BT_COUNT; t++) {
		format_size(per[t].bytes, buf, sizeof(buf));
		printf("  %-14s %6zu  %10s\n", backup_type_name((enum backup_type)t),
		       per[t].count, buf);
	}
	format_size(data_bytes, buf, sizeof(buf));
	printf("\n  Total backups:       %zu (%s)\n", list.n, buf);
	format_size(disk, buf, sizeof(buf));
	printf("  Disk used:           %s (with metadata)\n", buf);
	if (oldest) {
		char t[32];
		time_format_iso(oldest->parsed.created, t, sizeof(t));
		printf("  Oldest backup:       %s (%s)\n", oldest->name, t);
		time_format_iso(newest->parsed.created, t, sizeof(t));
		printf("  Newest backup:       %s (%s)\n", newest->name, t);
	}
	if (ratio_n)
		printf("  Average compression: %.1f%%\n", ratio_sum / (double)ratio_n);
	if (db_size >= 0) {
		format_size((uint64_t)db_size, buf, sizeof(buf));
		printf("  Database:            %s, %s", c->db_path, buf);
		if (wal_size > 0) {
			format_size((uint64_t)wal_size, buf, sizeof(buf));
			printf(" (+ %s WAL)", buf);
		}
		printf("\n");
	} else {
		printf("  Database:            %s (not found)\n", c->db_path);
	}
	local_list_free(&list);
	return CB_OK;
}

/* A --path that does not exist as given but names a file in the backup
 * directory is taken from there. */
static char *resolve_backup_path(const char *given, const char *dir)
{
	if (fs_exists(given) || strchr(given, '/'))
		return strdup(given);
	char *in_dir = fs_join(dir, given);
	if (in_dir && fs_exists(in_dir))
		return in_dir;
	free(in_dir);
	return strdup(given);
}

/* Metadata beside a backup: CB_OK with *have set, or an error if it exists but
 * is unusable or describes another backup. */
static enum result load_meta(const char *path, struct backup_meta *meta, bool *have,
			     struct error *err)
{
	struct error merr = {0};
	*have = false;
	enum result r = local_read_meta(path, meta, &merr);
	if (r == CB_ERR_NOT_FOUND)
		return CB_OK;
	if (r)
		return error_set(err, r, "metadata of '%s' is unusable: %s", path, merr.msg);
	if (strcmp(meta->name, fs_basename(path)) != 0)
		return error_set(err, CB_ERR_CORRUPT,
				 "metadata beside '%s' describes another backup (%s)", path,
				 meta->name);
	*have = true;
	return CB_OK;
}

enum result cmd_restore(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct dir_lock lock = {.fd = -1};
	struct backup_meta meta;
	bool have_meta = false;
	struct check_result check;
	struct restore_outcome out;
	enum result r;
	double start = time_mono();
	char *path = NULL;

	if (!cli->path)
		return error_set(err, CB_ERR_USAGE,
				 "restore needs --path FILE; HINT: 'cbsync list' shows the "
				 "backups");
	path = resolve_backup_path(cli->path, c->local_dir);
	if (!path)
		return error_set(err, CB_ERR_NOMEM, "out of memory");
	if (fs_file_size(path) < 0) {
		r = fs_exists(path) ? error_set(err, CB_ERR_NOT_FOUND,
						"Backup not found: %s (not a regular file)",
						cli->path)
				    : error_set(err, CB_ERR_NOT_FOUND, "Backup not found: %s",
						cli->path);
		free(path);
		return r;
	}
	if ((r = load_meta(path, &meta, &have_meta, err)))
		goto done;
	if ((r = lock_dir(c, "restore", &lock, err)))
		goto done;
	struct restore_opts ro = {
		.db_path = c->db_path,
		.dir = c->local_dir,
		.to = cli->to,
		.level = c->compression,
		.busy_timeout = c->busy_timeout,
		.progress = true,
	};
	r = restore_from_file(&ro, path, have_meta ? &meta : NULL, &check, &out, err);
	if (out.made_restore_point)
		oplog_record(c->local_dir, "backup", fs_basename(out.restore_point), CB_OK,
			     out.restore_point_seconds, NULL);
	if (r)
		goto done;
	const char *target = cli->to ? cli->to : c->db_path;
	printf("Restored %s into %s\n", path, target);
	if (out.made_restore_point)
		printf("  Restore point:   %s\n", out.restore_point);
	printf("  Checked:         gzip CRC-32, %sPRAGMA integrity_check\n",
	       check.sha_checked ? "SHA-256 against metadata, " : "");
	char size[32];
	format_size(check.data_size, size, sizeof(size));
	printf("  Database size:   %s (%lld pages of %lld bytes)\n", size,
	       (long long)check.page_count, (long long)check.page_size);
	printf("  Time taken:      %.2fs\n", time_mono() - start);
done:
	oplog_record(lock.fd >= 0 ? c->local_dir : NULL, "restore", fs_basename(path), r,
		     time_mono() - start, r ? err->msg : NULL);
	dir_lock_release(&lock);
	free(path);
	return r;
}

enum result cmd_prune(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct dir_lock lock = {.fd = -1};
	struct prune_result res;
	enum result r;
	double start = time_mono();
	char freed[32];

	if (!cli->dry_run && fs_exists(c->local_dir) &&
	    (r = lock_dir(c, "prune", &lock, err)))
		return r;
	r = prune_local(c->local_dir, &c->local_keep, time_now(), cli->dry_run, stdout,
			&res, err);
	dir_lock_release(&lock);
	if (r) {
		oplog_record(c->local_dir, "prune", NULL, r, time_mono() - start, err->msg);
		return r;
	}
	format_size(res.freed, freed, sizeof(freed));
	if (cli->dry_run) {
		printf("Dry run: would delete %zu backup%s (%s) and keep %zu\n", res.deleted,
		       res.deleted == 1 ? "" : "s", freed, res.kept);
		return CB_OK;
	}
	printf("Pruned %zu backup%s (%s freed); %zu kept\n", res.deleted,
	       res.deleted == 1 ? "" : "s", freed, res.kept);
	char detail[96];
	snprintf(detail, sizeof(detail), "deleted %zu, freed %s, kept %zu", res.deleted, freed,
		 res.kept);
	oplog_record(fs_exists(c->local_dir) ? c->local_dir : NULL, "prune", NULL, CB_OK,
		     time_mono() - start, detail);
	return CB_OK;
}

/* Check one backup into a throwaway file beside it (or in TMPDIR when its
 * directory is read-only). */
static enum result verify_one(const char *path, const char *label, struct check_result *res,
			      struct error *err)
{
	struct backup_meta meta;
	bool have_meta = false;
	struct atomic_file tmp = {.fd = -1};
	struct progress bar;
	enum result r;

	if (fs_file_size(path) < 0)
		return error_set(err, CB_ERR_NOT_FOUND, "Backup not found: %s", label);
	if ((r = load_meta(path, &meta, &have_meta, err)))
		return r;
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return error_errno(err, errno, path);
	if (atomic_file_open(&tmp, path, 0600, err) != CB_OK) {
		const char *tdir = getenv("TMPDIR");
		char *alt = fs_join(tdir && *tdir ? tdir : "/tmp", fs_basename(path));
		r = alt ? atomic_file_open(&tmp, alt, 0600, err)
			: error_set(err, CB_ERR_NOMEM, "out of memory");
		free(alt);
		if (r) {
			close(in);
			return r;
		}
	}
	progress_start(&bar, "verify", (uint64_t)fs_file_size(path));
	r = check_backup(in, label, have_meta ? &meta : NULL, tmp.fd, tmp.tmp_path, &bar,
			 res, err);
	progress_end(&bar);
	close(in);
	atomic_file_abort(&tmp);
	return r;
}

enum result cmd_verify(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct local_list list = {0};
	size_t ok = 0, failed = 0;
	enum result worst = CB_OK;
	enum result r;
	int n = cli->nargs;

	if (n == 0) {
		if ((r = local_list_scan(c->local_dir, &list, err)))
			return r;
		if (list.n == 0) {
			printf("No backups found in %s\n", c->local_dir);
			return CB_OK;
		}
		n = (int)list.n;
	}
	for (int i = 0; i < n; i++) {
		char *path = list.n ? fs_join(c->local_dir, list.items[i].name)
				    : resolve_backup_path(cli->args[i], c->local_dir);
		const char *label = list.n ? list.items[i].name : cli->args[i];
		struct check_result res;
		struct error verr = {0};
		double start = time_mono();
		if (!path) {
			local_list_free(&list);
			return error_set(err, CB_ERR_NOMEM, "out of memory");
		}
		r = verify_one(path, label, &res, &verr);
		char *log_dir = fs_dirname(path);
		if (r == CB_OK) {
			char size[32];
			format_size(res.data_size, size, sizeof(size));
			printf("ok      %s  (%s integrity ok, %s)\n", label,
			       res.sha_checked ? "SHA-256 matches metadata," : "no metadata,",
			       size);
			ok++;
		} else {
			printf("FAILED  %s: %s\n", label, verr.msg);
			failed++;
			if (worst == CB_OK || r == CB_ERR_CORRUPT)
				worst = r;
			*err = verr;
		}
		oplog_record(r == CB_ERR_NOT_FOUND ? NULL : log_dir, "verify",
			     fs_basename(path), r, time_mono() - start, r ? verr.msg : NULL);
		free(log_dir);
		free(path);
	}
	local_list_free(&list);
	printf("%zu backup%s checked: %zu ok, %zu failed\n", ok + failed,
	       ok + failed == 1 ? "" : "s", ok, failed);
	if (failed)
		return error_set(err, worst, "%zu of %zu backups failed verification", failed,
				 ok + failed);
	return CB_OK;
}

enum result cmd_version(struct cli *cli, struct error *err)
{
	(void)cli;
	(void)err;
	printf("cbsync %s (SQLite %s, zlib %s)\n", CBSYNC_VERSION, sqlite3_libversion(),
	       zlibVersion());
	return CB_OK;
}
