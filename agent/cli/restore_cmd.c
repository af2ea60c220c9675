/*
 * cbsync restore: from a file (--path), or chosen from the tiers (--latest,
 * --name, --before, --at; --from picks one tier).
 *
 * Choosing from the tiers lists every tier it may use (local first).  By
 * name it takes that backup; by time (restore_pitr.c) the newest state of
 * this database at or before the time that a snapshot and the increments
 * of its chain reach, the local copy when several tiers hold one.  Whatever
 * it takes is checked in full before anything is touched (see restore.h);
 * with --fallback a backup that fails a check gives way to the next
 * candidate (another tier's copy of the same backup, then the next
 * newest).  A tier that cannot be listed never counts as "holds no backup":
 * --if-backup-exists only lets a first deployment through when every tier
 * answered.  --dry-run says what would be restored and touches nothing.
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
#include "agent/cli/format.h"
#include "agent/cli/restore_internal.h"
#include "agent/tiers/oplog.h"
#include "agent/tiers/tier_local.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static json_t *summary_json(const struct restore_summary *s)
{
	char at[32];
	if (s->state_ms >= 0)
		time_format_iso_ms(s->state_ms, at, sizeof(at));
	const struct check_result *ck = s->check;
	json_t *checks = json_array();
	if (ck) {
		if (ck->decrypted)
			json_array_append_new(checks, json_string("age"));
		json_array_append_new(checks, json_string("gzip_crc32"));
		if (ck->sha_checked)
			json_array_append_new(checks, json_string("sha256"));
		if (s->increments)
			json_array_append_new(checks, json_string("state_checksum"));
		json_array_append_new(checks, json_string("integrity_check"));
	}
	bool point = s->out && s->out->made_restore_point;
	return json_pack("{s:s, s:o, s:o, s:o, s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:f}",
			 "outcome", s->outcome,
			 "reason", s->reason ? json_string(s->reason) : json_null(),
			 "backup", s->backup ? json_string(s->backup) : json_null(),
			 "tier", s->tier ? json_string(s->tier) : json_null(),
			 "target", s->target,
			 "increments", (json_int_t)s->increments,
			 "state_time", s->state_ms >= 0 ? json_string(at) : json_null(),
			 "restore_point", point ? json_string(s->out->restore_point) : json_null(),
			 "read_bytes", s->read_bytes >= 0 ? json_integer(s->read_bytes) : json_null(),
			 "database_size", ck ? json_integer((json_int_t)ck->data_size) : json_null(),
			 "page_count", ck ? json_integer(ck->page_count) : json_null(),
			 "page_size", ck ? json_integer(ck->page_size) : json_null(),
			 "checks", checks,
			 "seconds", round(s->seconds * 1000) / 1000);
}

enum result restore_print(const struct cli *cli, const struct restore_summary *s,
			  struct error *err)
{
	if (cli->json)
		return format_print_json(summary_json(s), err);
	if (strcmp(s->outcome, "restored") != 0)
		return CB_OK;
	const struct restore_outcome *out = s->out;
	const struct check_result *check = s->check;
	printf("Restored %s into %s\n", s->what, s->target);
	if (s->state_ms >= 0) {
		char at[32];
		time_format_iso_ms(s->state_ms, at, sizeof(at));
		printf("  State at:        %s\n", at);
	}
	if (out->made_restore_point)
		printf("  Restore point:   %s\n", out->restore_point);
	printf("  Checked:         %sgzip CRC-32, %s%sPRAGMA integrity_check\n",
	       check->decrypted ? "age decryption (each chunk authenticated), " : "",
	       check->sha_checked ? "SHA-256 against metadata, " : "",
	       s->increments ? "state checksum after each increment, " : "");
	char size[32];
	format_size(check->data_size, size, sizeof(size));
	printf("  Database size:   %s (%lld pages of %lld bytes)\n", size,
	       (long long)check->page_count, (long long)check->page_size);
	printf("  Time taken:      %.2fs\n", s->seconds);
	return CB_OK;
}

/* Nothing restored, by request: with --json the object saying why (the
 * text's line is the caller's). */
static enum result skipped(const struct cli *cli, const char *target, const char *why,
			   struct error *err)
{
	struct restore_summary sum = {
		.outcome = "skipped", .reason = why, .target = target, .state_ms = -1,
		.read_bytes = -1,
	};
	return restore_print(cli, &sum, err);
}

enum result restore_dry_target(const struct cli *cli, const char *target, struct error *err)
{
	struct stat st;
	if (cli->to && stat(target, &st) == 0)
		return error_set(err, CB_ERR_USAGE,
				 "refusing to overwrite '%s'; HINT: --to must name a file that "
				 "does not exist yet", target);
	return CB_OK;
}

struct restore_opts restore_opts_of(const struct cli *cli)
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
	if (cli->dry_run) {
		char size[32];
		format_size((uint64_t)fs_file_size(path), size, sizeof(size));
		if (!(r = restore_dry_target(cli, cli->to ? cli->to : c->db_path, err))) {
			if (!cli->json)
				printf("Would restore %s (%s) into %s\nNothing was restored "
				       "(--dry-run)\n", path, size, cli->to ? cli->to : c->db_path);
			struct restore_summary sum = {
				.outcome = "dry_run", .what = path, .backup = path,
				.target = cli->to ? cli->to : c->db_path, .state_ms = -1,
				.read_bytes = fs_file_size(path), .seconds = time_mono() - start,
			};
			r = restore_print(cli, &sum, err);
		}
		free(path);
		return r;
	}
	if ((r = local_lock(c->local_dir, c->lock_timeout, "restore", &lock, err)))
		goto done;
	/* The file may be an age file: the keys to read it. */
	struct keyring *keys = NULL;
	if ((r = keyring_load(c, &keys, err)))
		goto done;
	struct age_identities ids = keyring_identities(keys);
	struct restore_opts ro = restore_opts_of(cli);
	ro.ids = &ids;
	ro.seal = c->local_encrypt ? keys : NULL;
	r = restore_from_file(&ro, path, have_meta ? &meta : NULL, &check, &out, err);
	keyring_free(keys);
	if (out.made_restore_point)
		oplog_record(c->local_dir, "backup", out.restore_point_name, CB_OK,
			     out.restore_point_seconds, NULL);
	if (!r) {
		struct restore_summary sum = {
			.outcome = "restored", .what = path, .backup = path,
			.target = cli->to ? cli->to : c->db_path, .out = &out, .check = &check,
			.state_ms = -1, .read_bytes = -1, .seconds = time_mono() - start,
		};
		struct error perr = {0};
		restore_print(cli, &sum, &perr);
	}
done:;
	char into[PATH_MAX + 8];
	snprintf(into, sizeof(into), "into %s", cli->to ? cli->to : c->db_path);
	oplog_record(lock.fd >= 0 ? c->local_dir : NULL, "restore", fs_basename(path), r,
		     time_mono() - start, r ? err->msg : into);
	dir_lock_release(&lock);
	free(path);
	return r;
}

/* Does the candidate match what was asked for?  (By time, any backup of
 * the database does: restore_pitr.c weighs their times, and names the
 * oldest and newest when none is early enough.) */
static bool wanted(const struct restore_ctx *x, const struct candidate *cand)
{
	const struct cli *cli = x->cli;
	if (cli->name)
		return strcmp(cand->name, cli->name) == 0;
	if (strcmp(cand->parsed.db, x->stem) != 0)
		return false;
	return !cli->type || cand->parsed.type == x->type;
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

bool restore_choosable(const struct restore_ctx *x, size_t i)
{
	const struct candidate *cand = &x->cands->items[i];
	if (!wanted(x, cand))
		return false;
	const char *why = untrusted(x->set, cand, x->now);
	if (x->cli->name || !why)
		return true;
	if (!x->warned[i]) {
		char where[96];
		tier_label(&x->set->tiers[cand->tier], where, sizeof(where));
		fprintf(stderr, "warning: passing over %s on %s: %s; HINT: restore it with "
			"--name if you trust it\n", cand->name, where, why);
		x->warned[i] = true;
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

/* restore --name: that backup, from the first tier that holds it (the
 * next one's copy with --fallback). */
static enum result restore_by_name(struct restore_ctx *x, size_t first, struct error *err)
{
	struct cli *cli = x->cli;
	const struct conf *c = &cli->conf;
	struct tier_set *set = x->set;
	enum result r;

	if (cli->dry_run) {
		const struct candidate *cand = &x->cands->items[first];
		char where[96], size[32];
		tier_label(&set->tiers[cand->tier], where, sizeof(where));
		format_size(cand->size, size, sizeof(size));
		if ((r = restore_dry_target(cli, x->target, err)))
			return r;
		if (!cli->json)
			printf("Would restore %s from %s (%s) into %s\nNothing was restored "
			       "(--dry-run)\n", cand->name, where, size, x->target);
		struct restore_summary sum = {
			.outcome = "dry_run", .what = cand->name, .backup = cand->name,
			.tier = set->tiers[cand->tier].name, .target = x->target, .state_ms = -1,
			.read_bytes = (int64_t)cand->size, .seconds = time_mono() - x->start,
		};
		return restore_print(cli, &sum, err);
	}
	if ((r = local_lock(c->local_dir, c->lock_timeout, "restore", x->lock, err)))
		return r;
	struct restore_opts ro = restore_opts_of(cli);
	ro.seal = c->local_encrypt ? set->keys : NULL;
	for (size_t i = first; i < x->cands->n; i++) {
		const struct candidate *cand = &x->cands->items[i];
		if (!restore_choosable(x, i))
			continue;
		char where[96];
		tier_label(&set->tiers[cand->tier], where, sizeof(where));
		if (!cand->has_meta)
			fprintf(stderr, "warning: %s on %s has no metadata: its SHA-256 and size "
				"cannot be checked, only its gzip CRC-32 and PRAGMA integrity_check\n",
				cand->name, where);
		if (cand->parsed.created > x->now + FUTURE_TOLERANCE)
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
			return r;
		progress_start(&bar, "restore", cand->size);
		r = tiers_fetch(set, cand, job.tmp.fd, job.tmp.tmp_path, &bar, &check,
				&meta, &have_meta, err);
		progress_end(&bar);
		if (!r)
			r = restore_install(&job, &check, &out, err);
		restore_end(&job);
		if (out.made_restore_point)
			oplog_record(c->local_dir, "backup", out.restore_point_name, CB_OK,
				     out.restore_point_seconds, NULL);
		if (r == CB_OK) {
			char what[BACKUP_NAME_MAX + 128];
			snprintf(what, sizeof(what), "%s from %s", cand->name, where);
			struct restore_summary sum = {
				.outcome = "restored", .what = what, .backup = cand->name,
				.tier = set->tiers[cand->tier].name, .target = x->target, .out = &out,
				.check = &check, .state_ms = -1, .read_bytes = -1,
				.seconds = time_mono() - x->start,
			};
			struct error perr = {0};
			restore_print(cli, &sum, &perr);
			char detail[sizeof(where) + PATH_MAX + 8];
			snprintf(detail, sizeof(detail), "%s, into %s", where, x->target);
			oplog_write(c->local_dir, &(struct oplog_event){
				.op = "restore", .object = cand->name,
				.tier = set->tiers[cand->tier].name,
				.bytes = (int64_t)check.data_size,
				.seconds = time_mono() - x->start, .detail = detail});
			return CB_OK;
		}
		error_prefix(err, "%s", where);
		oplog_record(c->local_dir, "restore", cand->name, r, time_mono() - x->start,
			     err->msg);
		/* Only a backup that failed its checks gives way to the next one. */
		if (r != CB_ERR_CORRUPT || !cli->fallback)
			return r;
		fprintf(stderr, "%s; trying the next candidate (--fallback)\n", err->msg);
	}
	error_prefix(err, "no candidate passed its checks; the last");
	return r;
}

static enum result restore_tiers(struct cli *cli, struct restore_report *drill,
				 struct error *err)
{
	const struct conf *c = &cli->conf;
	struct tier_set set = {0};
	struct candidate_list cands = {0};
	struct dir_lock lock = {.fd = -1};
	char stem[BACKUP_STEM_MAX + 1];
	struct restore_ctx x = {.cli = cli, .set = &set, .cands = &cands, .stem = stem,
				.target = cli->to ? cli->to : c->db_path, .start = time_mono(),
				.lock = &lock, .at_ms = INT64_MAX, .drill = drill};
	enum result r;

	if (cli->type && !backup_type_parse(cli->type, &x.type))
		return error_set(err, CB_ERR_USAGE, "unknown backup type '%s'", cli->type);
	if (cli->before && !time_parse_iso(cli->before, &x.before))
		return error_set(err, CB_ERR_USAGE,
				 "--before '%s' is not a UTC time (e.g. 2026-02-02 or "
				 "2026-02-02T12:00:00Z)",
				 cli->before);
	if (cli->at && !time_parse_when(cli->at, time_now_ms(), &x.at_ms))
		return error_set(err, CB_ERR_USAGE,
				 "--at '%s' is not a time; HINT: e.g. 2026-11-29T09:48:00Z, "
				 "2026-11-29T10:48:00+01:00, 2026-11-29 09:48 (local time), "
				 "10 minutes ago, -2h",
				 cli->at);
	if (cli->before)
		x.at_ms = x.before * 1000;
	if (cli->if_db_not_exists && fs_exists(x.target)) {
		if (!cli->json)
			printf("Database %s exists; nothing restored (--if-db-not-exists)\n",
			       x.target);
		return skipped(cli, x.target, "database exists (--if-db-not-exists)", err);
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
	x.now = time_now();
	if (!(x.warned = calloc(cands.n + 1, sizeof(*x.warned)))) {
		r = error_nomem(err);
		goto done;
	}
	size_t first = cands.n;
	for (size_t i = 0; i < cands.n && first == cands.n; i++)
		if (restore_choosable(&x, i))
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
			if (!cli->json)
				printf("No backup of %s in any tier (%s): a first deployment; "
				       "nothing restored (--if-backup-exists)\n", stem, names);
			r = skipped(cli, x.target, "no backup in any tier (--if-backup-exists)",
				    err);
		} else if (cli->name) {
			r = error_set(err, CB_ERR_NOT_FOUND, "Backup not found: %s (in %s)", cli->name,
				      names);
		} else {
			r = error_set(err, CB_ERR_NOT_FOUND, "Backup not found: no %s%sbackup of %s in %s",
				      cli->type ? cli->type : "", cli->type ? " " : "", stem, names);
		}
		goto done;
	}
	r = cli->name ? restore_by_name(&x, first, err) : restore_by_time(&x, err);
done:
	free(x.warned);
	dir_lock_release(&lock);
	candidates_free(&cands);
	tiers_close(&set);
	return r;
}

enum result cmd_restore(struct cli *cli, struct error *err)
{
	int modes = (cli->path != NULL) + cli->latest + (cli->name != NULL) +
		    (cli->before != NULL) + (cli->at != NULL);
	if (cli->path && modes > 1)
		return error_set(err, CB_ERR_USAGE,
				 "--path restores one file; it goes with none of --latest, --name, "
				 "--before or --at");
	if (cli->path && (cli->from || cli->type))
		return error_set(err, CB_ERR_USAGE, "--from and --type choose among the tiers; "
				 "they do not go with --path");
	if (cli->name && (cli->latest || cli->before || cli->at))
		return error_set(err, CB_ERR_USAGE, "--name picks one backup; it goes with none "
				 "of --latest, --before or --at");
	if (cli->before && cli->at)
		return error_set(err, CB_ERR_USAGE, "--before and --at each give a time; give one "
				 "of them");
	if (cli->latest && cli->latest_n)
		return error_set(err, CB_ERR_USAGE, "restore takes --latest without a count");
	if (modes == 0)
		return error_set(err, CB_ERR_USAGE,
				 "restore needs --path FILE, or --latest, --at, --before or --name; "
				 "HINT: 'cbsync list --tier all' shows the backups");
	if (cli->path) {
		const char *target = cli->to ? cli->to : cli->conf.db_path;
		if (cli->if_db_not_exists && fs_exists(target)) {
			if (!cli->json)
				printf("Database %s exists; nothing restored (--if-db-not-exists)\n",
				       target);
			return skipped(cli, target, "database exists (--if-db-not-exists)", err);
		}
		return restore_path(cli, err);
	}
	return restore_tiers(cli, NULL, err);
}

enum result restore_for_drill(struct cli *cli, struct restore_report *rep, struct error *err)
{
	memset(rep, 0, sizeof(*rep));
	return restore_tiers(cli, rep, err);
}
