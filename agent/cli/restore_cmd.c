/*
 * cbsync restore: from a file (--path), or chosen from the tiers (--latest,
 * --name, --before; --from picks one tier).
 *
 * Choosing from the tiers lists every tier it may use (local first), and
 * takes the newest backup of this database that matches (type, time), the
 * local copy when several tiers hold it.  Whatever it takes is checked in
 * full before anything is touched (see restore.h); with --fallback a backup
 * that fails a check gives way to the next candidate (another tier's copy of
 * the same backup, then the next newest).  A tier that cannot be listed never
 * counts as "holds no backup": --if-backup-exists only lets a first
 * deployment through when every tier answered.
 *
 * Choosing by time (--latest, --before) trusts only what cbsync would have
 * made: on a remote, a backup without its metadata beside it (cbsync always
 * uploads both) is passed over, and on any tier so is a backup dated more
 * than FUTURE_TOLERANCE ahead of the clock -- otherwise anyone who can write
 * to a bucket wins every --latest with a name like ..._20991231_235959.
 * Each one passed over gets a warning.  --name still takes anything, and
 * says which checks it could not make.
 */
#include "agent/cli/commands.h"
#include "agent/tiers/oplog.h"
#include "agent/cli/format.h"
#include "agent/engine/restore.h"
#include "agent/tiers/tier_local.h"
#include "agent/tiers/tiers.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <stdio.h>

#define FUTURE_TOLERANCE (10 * 60)
#include <stdlib.h>
#include <string.h>

static void print_restored(const char *what, const char *target,
			   const struct restore_outcome *out, const struct check_result *check,
			   double seconds)
{
	printf("Restored %s into %s\n", what, target);
	if (out->made_restore_point)
		printf("  Restore point:   %s\n", out->restore_point);
	printf("  Checked:         gzip CRC-32, %sPRAGMA integrity_check\n",
	       check->sha_checked ? "SHA-256 against metadata, " : "");
	char size[32];
	format_size(check->data_size, size, sizeof(size));
	printf("  Database size:   %s (%lld pages of %lld bytes)\n", size,
	       (long long)check->page_count, (long long)check->page_size);
	printf("  Time taken:      %.2fs\n", seconds);
}

/* How the configuration and flags say to restore. */
static struct restore_opts restore_opts_of(const struct cli *cli)
{
	const struct conf *c = &cli->conf;
	return (struct restore_opts){
		.db_path = c->db_path,
		.dir = c->local_dir,
		.to = cli->to,
		.level = c->compression,
		.threads = c->threads,
		.busy_timeout = c->busy_timeout,
		.max_size = c->restore_max_size,
		.new_mode = c->db_mode,
		.progress = true,
	};
}

static enum result restore_path(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct dir_lock lock = {.fd = -1};
	struct backup_meta meta;
	bool have_meta = false;
	struct check_result check;
	struct restore_outcome out;
	enum result r;
	double start = time_mono();
	char *path = resolve_backup_path(cli->path, c->local_dir);

	if (!path)
		return error_nomem(err);
	memset(&out, 0, sizeof(out));
	if (fs_file_size(path) < 0) {
		bool remote_may_have = !fs_exists(path) && c->n_remotes > 0 &&
				       backup_name_parse(fs_basename(cli->path), NULL);
		if (remote_may_have)
			r = error_set(err, CB_ERR_NOT_FOUND,
				      "Backup not found: %s; HINT: --path reads the local tier "
				      "only; if a remote holds it ('cbsync list --tier all'), "
				      "restore it with --name %s",
				      cli->path, fs_basename(cli->path));
		else
			r = error_set(err, CB_ERR_NOT_FOUND, fs_exists(path)
					      ? "Backup not found: %s (not a regular file)"
					      : "Backup not found: %s",
				      cli->path);
		free(path);
		return r;
	}
	if ((r = load_meta(path, &meta, &have_meta, err)))
		goto done;
	if ((r = local_lock(c->local_dir, c->lock_timeout, "restore", &lock, err)))
		goto done;
	struct restore_opts ro = restore_opts_of(cli);
	r = restore_from_file(&ro, path, have_meta ? &meta : NULL, &check, &out, err);
	if (out.made_restore_point)
		oplog_record(c->local_dir, "backup", fs_basename(out.restore_point), CB_OK,
			     out.restore_point_seconds, NULL);
	if (!r)
		print_restored(path, cli->to ? cli->to : c->db_path, &out, &check,
			       time_mono() - start);
done:
	oplog_record(lock.fd >= 0 ? c->local_dir : NULL, "restore", fs_basename(path), r,
		     time_mono() - start, r ? err->msg : NULL);
	dir_lock_release(&lock);
	free(path);
	return r;
}

/* Does the candidate match what was asked for? */
static bool wanted(const struct cli *cli, const struct candidate *cand, const char *stem,
		   enum backup_type type, int64_t before)
{
	if (cli->name)
		return strcmp(cand->name, cli->name) == 0;
	if (strcmp(cand->parsed.db, stem) != 0)
		return false;
	if (cli->type && cand->parsed.type != type)
		return false;
	return !cli->before || cand->parsed.created <= before;
}

/* Why a candidate that matches is not trusted to be chosen by time, or NULL. */
static const char *untrusted(const struct tier_set *set, const struct candidate *cand,
			     int64_t now)
{
	if (set->tiers[cand->tier].remote && !cand->has_meta)
		return "it has no metadata beside it";
	if (cand->parsed.created > now + FUTURE_TOLERANCE)
		return "its date lies in the future";
	return NULL;
}

/* Is candidate i the one to try?  Warns (once per candidate) about one it
 * passes over. */
static bool choosable(const struct cli *cli, const struct tier_set *set,
		      const struct candidate_list *cands, size_t i, const char *stem,
		      enum backup_type type, int64_t before, int64_t now, bool *warned)
{
	const struct candidate *cand = &cands->items[i];
	if (!wanted(cli, cand, stem, type, before))
		return false;
	const char *why = untrusted(set, cand, now);
	if (cli->name || !why)
		return true;
	if (!warned[i]) {
		char where[96];
		tier_label(&set->tiers[cand->tier], where, sizeof(where));
		fprintf(stderr, "warning: passing over %s on %s: %s; HINT: restore it with "
			"--name if you trust it\n", cand->name, where, why);
		warned[i] = true;
	}
	return false;
}

static void tier_names(const struct tier_set *set, char *buf, size_t size)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < set->n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "", set->tiers[i].name);
}

static enum result restore_tiers(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	const char *target = cli->to ? cli->to : c->db_path;
	struct tier_set set = {0};
	struct candidate_list cands = {0};
	struct dir_lock lock = {.fd = -1};
	bool *warned = NULL;
	enum backup_type type = BT_MANUAL;
	int64_t before = 0;
	char stem[BACKUP_STEM_MAX + 1];
	enum result r;
	double start = time_mono();

	if (cli->type && !backup_type_parse(cli->type, &type))
		return error_set(err, CB_ERR_USAGE, "unknown backup type '%s'", cli->type);
	if (cli->before && !time_parse_iso(cli->before, &before))
		return error_set(err, CB_ERR_USAGE,
				 "--before '%s' is not a UTC time (e.g. 2026-02-02 or "
				 "2026-02-02T12:00:00Z)",
				 cli->before);
	if (cli->if_db_not_exists && fs_exists(target)) {
		printf("Database %s exists; nothing restored (--if-db-not-exists)\n", target);
		return CB_OK;
	}
	backup_db_stem(c->db_path, stem, sizeof(stem));
	if ((r = tiers_open(&set, c, cli->from, err)))
		return r;
	if ((r = tiers_candidates(&set, &cands, err)))
		goto done;

	/* A tier that could not be listed: with --from it is the error; else
	 * say so and carry on with the others. */
	struct error unreachable = {0};
	for (size_t i = 0; i < set.n && !unreachable.code; i++)
		if (!set.tiers[i].listed)
			unreachable = set.tiers[i].list_error;
	int64_t now = time_now();
	if (!(warned = calloc(cands.n + 1, sizeof(*warned)))) {
		r = error_nomem(err);
		goto done;
	}
	size_t first = cands.n;
	for (size_t i = 0; i < cands.n && first == cands.n; i++)
		if (choosable(cli, &set, &cands, i, stem, type, before, now, warned))
			first = i;
	/* Going ahead without a tier: it may have held something newer. */
	for (size_t i = 0; first < cands.n && i < set.n; i++)
		if (!set.tiers[i].listed)
			fprintf(stderr, "warning: choosing without it: %s\n",
				set.tiers[i].list_error.msg);
	if (first == cands.n) {
		char names[256];
		tier_names(&set, names, sizeof(names));
		if (unreachable.code) {
			*err = unreachable;
			error_prefix(err, "cannot tell whether a backup exists");
			r = unreachable.code;
		} else if (cli->if_backup_exists && !cli->name) {
			printf("No backup of %s in any tier (%s): a first deployment; nothing "
			       "restored (--if-backup-exists)\n", stem, names);
			r = CB_OK;
		} else if (cli->name) {
			r = error_set(err, CB_ERR_NOT_FOUND, "Backup not found: %s (in %s)", cli->name,
				      names);
		} else {
			r = error_set(err, CB_ERR_NOT_FOUND, "Backup not found: no %s%sbackup of %s in %s",
				      cli->type ? cli->type : "", cli->type ? " " : "", stem, names);
		}
		goto done;
	}
	if ((r = local_lock(c->local_dir, c->lock_timeout, "restore", &lock, err)))
		goto done;

	struct restore_opts ro = restore_opts_of(cli);
	for (size_t i = first; i < cands.n; i++) {
		const struct candidate *cand = &cands.items[i];
		if (!choosable(cli, &set, &cands, i, stem, type, before, now, warned))
			continue;
		char where[96];
		tier_label(&set.tiers[cand->tier], where, sizeof(where));
		if (cli->name && !cand->has_meta)
			fprintf(stderr, "warning: %s on %s has no metadata: its SHA-256 and size "
				"cannot be checked, only its gzip CRC-32 and PRAGMA integrity_check\n",
				cand->name, where);
		if (cli->name && cand->parsed.created > now + FUTURE_TOLERANCE)
			fprintf(stderr, "warning: %s on %s is dated in the future\n", cand->name,
				where);
		struct restore_job job;
		struct restore_outcome out;
		struct check_result check;
		struct backup_meta meta;
		bool have_meta = false;
		struct progress bar;
		memset(&out, 0, sizeof(out));
		if ((r = restore_begin(&job, &ro, err)))
			goto done;
		progress_start(&bar, "restore", cand->size);
		r = tiers_fetch(&set, cand, job.tmp.fd, job.tmp.tmp_path, &bar, &check,
				&meta, &have_meta, err);
		progress_end(&bar);
		if (!r)
			r = restore_install(&job, &check, &out, err);
		restore_end(&job);
		if (out.made_restore_point)
			oplog_record(c->local_dir, "backup", fs_basename(out.restore_point), CB_OK,
				     out.restore_point_seconds, NULL);
		if (r == CB_OK) {
			char what[BACKUP_NAME_MAX + 128];
			snprintf(what, sizeof(what), "%s from %s", cand->name, where);
			print_restored(what, target, &out, &check, time_mono() - start);
			oplog_record(c->local_dir, "restore", cand->name, CB_OK, time_mono() - start,
				     where);
			goto done;
		}
		error_prefix(err, "%s", where);
		oplog_record(c->local_dir, "restore", cand->name, r, time_mono() - start, err->msg);
		/* Only a backup that failed its checks gives way to the next one. */
		if (r != CB_ERR_CORRUPT || !cli->fallback)
			goto done;
		fprintf(stderr, "%s; trying the next candidate (--fallback)\n", err->msg);
	}
	error_prefix(err, "no candidate passed its checks; the last");
done:
	free(warned);
	dir_lock_release(&lock);
	candidates_free(&cands);
	tiers_close(&set);
	return r;
}

enum result cmd_restore(struct cli *cli, struct error *err)
{
	int modes = (cli->path != NULL) + cli->latest + (cli->name != NULL) + (cli->before != NULL);
	if (cli->path && modes > 1)
		return error_set(err, CB_ERR_USAGE,
				 "--path restores one file; it goes with none of --latest, --name "
				 "or --before");
	if (cli->path && (cli->from || cli->type))
		return error_set(err, CB_ERR_USAGE, "--from and --type choose among the tiers; "
				 "they do not go with --path");
	if (cli->name && (cli->latest || cli->before))
		return error_set(err, CB_ERR_USAGE, "--name picks one backup; it goes with neither "
				 "--latest nor --before");
	if (cli->latest && cli->latest_n)
		return error_set(err, CB_ERR_USAGE, "restore takes --latest without a count");
	if (modes == 0)
		return error_set(err, CB_ERR_USAGE,
				 "restore needs --path FILE, or --latest, --name or --before; "
				 "HINT: 'cbsync list --tier all' shows the backups");
	if (cli->path) {
		if (cli->if_db_not_exists && fs_exists(cli->to ? cli->to : cli->conf.db_path)) {
			printf("Database %s exists; nothing restored (--if-db-not-exists)\n",
			       cli->to ? cli->to : cli->conf.db_path);
			return CB_OK;
		}
		return restore_path(cli, err);
	}
	return restore_tiers(cli, err);
}
