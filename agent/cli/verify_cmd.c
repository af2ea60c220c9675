/*
 * cbsync verify: check stored backups as a restore would (gzip CRC-32,
 * SHA-256 against the metadata, PRAGMA integrity_check), without installing
 * them -- local files by name or the whole local tier, or one tier or all
 * with --tier (downloading each remote backup into a scratch file).
 */
#include "agent/cli/commands.h"
#include "agent/engine/check.h"
#include "agent/cli/format.h"
#include "agent/tiers/oplog.h"
#include "agent/engine/progress.h"
#include "agent/tiers/tier_local.h"
#include "agent/tiers/tiers.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A throwaway file for a check: in dir, or in TMPDIR when dir is read-only. */
static enum result scratch_file(struct atomic_file *tmp, const char *dir, const char *name,
				struct error *err)
{
	char *path = fs_join(dir, name);
	enum result r = path ? atomic_file_open(tmp, path, 0600, err)
			     : error_nomem(err);
	free(path);
	if (r != CB_OK && r != CB_ERR_NOMEM) {
		const char *tdir = getenv("TMPDIR");
		path = fs_join(tdir && *tdir ? tdir : "/tmp", name);
		r = path ? atomic_file_open(tmp, path, 0600, err)
			 : error_nomem(err);
		free(path);
	}
	return r;
}

/* Check one backup into a throwaway file beside it (or in TMPDIR when its
 * directory is read-only). */
static enum result verify_one(const char *path, const char *label, uint64_t max_size,
			      struct check_result *res, struct error *err)
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
	char *dir = fs_dirname(path);
	r = dir ? scratch_file(&tmp, dir, fs_basename(path), err)
		: error_nomem(err);
	free(dir);
	if (r) {
		close(in);
		return r;
	}
	progress_start(&bar, "verify", (uint64_t)fs_file_size(path));
	r = check_backup(in, label, have_meta ? &meta : NULL, max_size, tmp.fd, tmp.tmp_path, &bar,
			 res, err);
	progress_end(&bar);
	close(in);
	atomic_file_abort(&tmp);
	return r;
}

/* The failure verify reports when several checks fail: the first, unless a
 * backup failed a check (CB_ERR_CORRUPT, exit 5), which is what verify looks
 * for and wins over any other failure, even those result_worse puts above it
 * (a refusal, an interrupt). */
static enum result verify_worst(enum result worst, enum result r)
{
	return worst == CB_OK || r == CB_ERR_CORRUPT ? r : worst;
}

/* verify --tier: download and check backups of one tier or all, as restore
 * would, without installing them. */
static enum result verify_tiers(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	const char *which = cli->tier ? cli->tier : "local";
	struct tier_set set = {0};
	struct candidate_list cands = {0};
	size_t ok = 0, failed = 0;
	enum result worst = CB_OK;
	enum result r;

	if (cli->all && cli->latest)
		return error_set(err, CB_ERR_USAGE, "--all and --latest do not go together");
	if ((r = tiers_open(&set, c, which, err)))
		return r;
	if ((r = tiers_candidates(&set, &cands, err)))
		goto done;
	for (size_t t = 0; t < set.n; t++) {
		struct tier *tier = &set.tiers[t];
		char label[96];
		tier_label(tier, label, sizeof(label));
		if (!tier->listed) {
			/* The listing's error already names the remote. */
			const char *msg = tier->list_error.msg;
			bool named = strncmp(msg, label, strlen(label)) == 0;
			printf("FAILED  %s%s%s\n", named ? "" : label, named ? "" : ": ", msg);
			failed++;
			worst = verify_worst(worst, tier->list_error.code);
			*err = tier->list_error;
			continue;
		}
		/* Remotes cost a download per backup: the newest one unless asked. */
		long limit = cli->all ? -1 : cli->latest ? (cli->latest_n ? cli->latest_n : 1)
				      : tier->remote ? 1 : -1;
		long done_here = 0;
		for (size_t i = 0; i < cands.n && (limit < 0 || done_here < limit); i++) {
			const struct candidate *cand = &cands.items[i];
			if (cand->tier != t)
				continue;
			done_here++;
			struct atomic_file tmp = {.fd = -1};
			struct check_result res;
			struct backup_meta meta;
			bool have_meta = false;
			struct error verr = {0};
			struct progress bar;
			double start = time_mono();
			r = scratch_file(&tmp, c->local_dir, cand->name, &verr);
			if (!r) {
				progress_start(&bar, "verify", cand->size);
				r = tiers_fetch(&set, cand, tmp.fd, tmp.tmp_path, &bar, &res,
						&meta, &have_meta, &verr);
				progress_end(&bar);
			}
			atomic_file_abort(&tmp);
			if (r == CB_OK) {
				char size[32];
				format_size(res.data_size, size, sizeof(size));
				printf("ok      %s  (%s; %s integrity ok, %s)\n", cand->name, label,
				       res.sha_checked ? "SHA-256 matches metadata," : "no metadata,",
				       size);
				ok++;
			} else {
				printf("FAILED  %s (%s): %s\n", cand->name, label, verr.msg);
				failed++;
				worst = verify_worst(worst, r);
				*err = verr;
			}
			oplog_record(fs_exists(c->local_dir) ? c->local_dir : NULL, "verify", cand->name,
				     r, time_mono() - start, r ? verr.msg : label);
		}
		if (done_here == 0)
			printf("No backups found in %s\n", label);
	}
	printf("%zu backup%s checked: %zu ok, %zu failed\n", ok + failed,
	       ok + failed == 1 ? "" : "s", ok, failed);
	if (failed)
		r = error_set(err, worst, "%zu of %zu checks failed", failed, ok + failed);
	else if (ok == 0)
		r = error_set(err, CB_ERR_NOT_FOUND, "No backups found in %s: nothing was verified",
			      which);
	else
		r = CB_OK;
done:
	candidates_free(&cands);
	tiers_close(&set);
	return r;
}

enum result cmd_verify(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct catalog list = {0};
	size_t ok = 0, failed = 0;
	enum result worst = CB_OK;
	enum result r;
	int n = cli->nargs;

	if (cli->tier || cli->all || cli->latest) {
		if (n)
			return error_set(err, CB_ERR_USAGE,
					 "name files to verify, or use --tier/--all/--latest; not both");
		return verify_tiers(cli, err);
	}
	if (n == 0) {
		if ((r = tier_catalog_local(c, "verify", &list, err)))
			return r;
		if (list.n == 0) {
			catalog_free(&list);
			printf("No backups found in %s\n", c->local_dir);
			/* Nothing checked is not "all checks passed". */
			return error_set(err, CB_ERR_NOT_FOUND,
					 "No backups found in %s: nothing was verified",
					 c->local_dir);
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
			catalog_free(&list);
			return error_nomem(err);
		}
		r = verify_one(path, label, c->restore_max_size, &res, &verr);
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
			worst = verify_worst(worst, r);
			*err = verr;
		}
		oplog_record(r == CB_ERR_NOT_FOUND ? NULL : log_dir, "verify",
			     fs_basename(path), r, time_mono() - start, r ? verr.msg : NULL);
		free(log_dir);
		free(path);
	}
	catalog_free(&list);
	printf("%zu backup%s checked: %zu ok, %zu failed\n", ok + failed,
	       ok + failed == 1 ? "" : "s", ok, failed);
	if (failed)
		return error_set(err, worst, "%zu of %zu backups failed verification", failed,
				 ok + failed);
	return CB_OK;
}
