/*
 * The local-tier verbs: backup, list, stats, prune, version (restore and
 * verify have files of their own: restore_cmd.c, verify_cmd.c).
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
#include "agent/tiers.h"
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
enum result lock_dir(const struct conf *c, const char *op, struct dir_lock *l,
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
		.threads = c->threads,
		.busy_timeout = c->busy_timeout,
		.progress = true,
	};
	if ((r = backup_make(&bo, &out, err)))
		goto done;
	printf("Backup created: %s\n", out.path);
	print_sizes(&out.meta, out.seconds);
	oplog_record(c->local_dir, "backup", out.meta.name, CB_OK, out.seconds, NULL);
	dir_lock_release(&lock);

	/* Offsite next (without the lock: a slow remote must not hold up other
	 * cbsync runs); what the remotes then hold decides what local pruning may
	 * delete.  The backup is safe locally whatever happens; say so. */
	struct remote_holdings *held = holdings_new(c);
	enum result sync = CB_OK;
	struct error sync_err = {0};
	if (!held)
		return error_nomem(err);
	if (c->n_remotes && !cli->no_sync) {
		char failed[256];
		sync = push_remotes(c, NULL, held, failed, sizeof(failed), &sync_err);
		/* Name the remotes that lack it: with several, "not offsite yet"
		 * alone would blame the ones that worked too. */
		size_t n_failed = 0;
		for (const char *p = failed; *p; p++)
			n_failed += *p == ',';
		n_failed += failed[0] != '\0';
		if (sync)
			error_prefix(&sync_err, "backup made (%s), but it is not offsite yet on "
				     "remote%s %s%s; the next sync uploads it", out.path,
				     n_failed > 1 ? "s" : "", failed,
				     n_failed < c->n_remotes ? " (the other remotes have it)" : "");
	}
	if (type == BT_DAILY || type == BT_WEEKLY || type == BT_MONTHLY) {
		/* Scheduled types rotate: apply retention now. */
		char stem[BACKUP_STEM_MAX + 1];
		backup_db_stem(c->db_path, stem, sizeof(stem));
		if (!(r = lock_dir(c, "prune", &lock, err)))
			r = prune_local(c->local_dir, stem, &c->local_keep, held, c->n_remotes, time_now(),
					false, stdout, &pruned, err);
		dir_lock_release(&lock);
		if (r) {
			holdings_free_all(held, c->n_remotes);
			error_prefix(err, "backup made, but pruning failed");
			return r;
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
	holdings_free_all(held, c->n_remotes);
	if (sync) {
		*err = sync_err;
		return sync;
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
		return error_nomem(err);
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!s)
		return error_nomem(err);
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
	format_backup_header(stdout, (int)w, false);
	for (size_t i = 0; i < list.n; i++) {
		const struct local_backup *b = &list.items[i];
		format_backup_row(stdout, (int)w, b->name, &b->parsed, b->file_size,
				  b->has_meta ? &b->meta : NULL, NULL);
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
char *resolve_backup_path(const char *given, const char *dir)
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
enum result load_meta(const char *path, struct backup_meta *meta, bool *have,
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

static void print_prune_summary(const char *tier, bool dry_run, const struct prune_result *res)
{
	char freed[32], pinned[64] = "";
	format_size(res->freed, freed, sizeof(freed));
	if (res->pinned)
		snprintf(pinned, sizeof(pinned), " (%zu only until a remote has them)", res->pinned);
	if (dry_run)
		printf("%s%sDry run: would delete %zu backup%s (%s) and keep %zu%s\n",
		       tier ? tier : "", tier ? ": " : "", res->deleted, res->deleted == 1 ? "" : "s",
		       freed, res->kept, pinned);
	else
		printf("%s%sPruned %zu backup%s (%s freed); %zu kept%s\n", tier ? tier : "",
		       tier ? ": " : "", res->deleted, res->deleted == 1 ? "" : "s", freed, res->kept,
		       pinned);
}

enum result cmd_prune(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	const char *which = cli->tier ? cli->tier : "local";
	bool all = strcmp(which, "all") == 0;
	bool local = all || strcmp(which, "local") == 0;
	struct dir_lock lock = {.fd = -1};
	struct tier_set set = {0};
	struct prune_result res;
	struct remote_holdings *held = NULL;
	enum result r, worst = CB_OK;
	double start = time_mono();
	int64_t now = time_now();
	char stem[BACKUP_STEM_MAX + 1];
	backup_db_stem(c->db_path, stem, sizeof(stem));

	if (cli->now && !time_parse_iso(cli->now, &now))
		return error_set(err, CB_ERR_USAGE,
				 "--now '%s' is not a UTC time (e.g. 2026-02-02T12:00:00Z)", cli->now);
	/* The remotes: every one for all, the named one, or (for the local tier)
	 * every one, read-only, to learn what they hold. */
	const char *remotes_wanted = all || local ? "all" : which;
	if (c->n_remotes || !local) {
		if ((r = tiers_open(&set, c, remotes_wanted, err)))
			return r;
	}
	held = holdings_new(c);
	if (!held) {
		tiers_close(&set);
		return error_nomem(err);
	}
	for (size_t i = 0; i < set.n; i++) {
		struct tier *t = &set.tiers[i];
		if (!t->remote)
			continue;
		size_t ri = (size_t)(t->remote - c->remotes);
		bool prune_it = all || strcmp(which, t->name) == 0;
		struct error terr = {0};
		char label[96];
		tier_label(t, label, sizeof(label));
		if (prune_it && (all || local))
			printf("%s:\n", label);
		/* Pruning the local tier alone only reads the remotes. */
		r = prune_remote(t->backend, stem, &t->remote->keep, now, !prune_it || cli->dry_run,
				 prune_it ? stdout : NULL, &res, &held[ri], &terr);
		held[ri].name = t->name;
		held[ri].keep = &t->remote->keep;
		if (r) {
			if (prune_it) {
				oplog_record(c->local_dir, "prune", t->name, r, time_mono() - start,
					     terr.msg);
				/* The first failure, or the latest refusal (10):
				 * not result_worse's order, which would also put a
				 * setting or an interrupt first and keep the first
				 * refusal's message. */
				if (!worst || r == CB_ERR_REMOTE) {
					worst = r;
					*err = terr;
				}
			}
			fprintf(stderr, "%s%s\n", prune_it ? "failed: " : "warning: keeping every "
				"local backup it may want: ", terr.msg);
			continue;
		}
		if (prune_it) {
			print_prune_summary(all ? label : NULL, cli->dry_run, &res);
			if (!cli->dry_run) {
				char detail[96];
				snprintf(detail, sizeof(detail), "deleted %zu, kept %zu", res.deleted,
					 res.kept);
				oplog_record(c->local_dir, "prune", t->name, CB_OK, time_mono() - start,
					     detail);
			}
		}
	}
	if (local) {
		if (all)
			printf("local:\n");
		if (!cli->dry_run && fs_exists(c->local_dir) &&
		    (r = lock_dir(c, "prune", &lock, err)))
			goto done;
		r = prune_local(c->local_dir, stem, &c->local_keep, held, c->n_remotes, now,
				cli->dry_run,
				stdout, &res, err);
		dir_lock_release(&lock);
		if (r) {
			oplog_record(c->local_dir, "prune", NULL, r, time_mono() - start, err->msg);
			goto done;
		}
		print_prune_summary(all ? "local" : NULL, cli->dry_run, &res);
		if (!cli->dry_run) {
			char freed[32], detail[128];
			format_size(res.freed, freed, sizeof(freed));
			snprintf(detail, sizeof(detail), "deleted %zu, freed %s, kept %zu", res.deleted,
				 freed, res.kept);
			oplog_record(fs_exists(c->local_dir) ? c->local_dir : NULL, "prune", NULL, CB_OK,
				     time_mono() - start, detail);
		}
	}
	r = worst;
done:
	holdings_free_all(held, c->n_remotes);
	tiers_close(&set);
	return r;
}

enum result cmd_version(struct cli *cli, struct error *err)
{
	(void)cli;
	(void)err;
	printf("cbsync %s (SQLite %s, zlib %s)\n", CBSYNC_VERSION, sqlite3_libversion(),
	       zlibVersion());
	return CB_OK;
}
