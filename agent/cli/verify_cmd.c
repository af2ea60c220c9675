/*
 * cbsync verify: check stored backups as a restore would (gzip CRC-32,
 * SHA-256 against the metadata, PRAGMA integrity_check), without installing
 * them -- local files by name or the whole local tier, or one tier or all
 * with --tier (downloading each remote backup into a scratch file).
 *
 * A snapshot with a chain of increments on the same tier has its chain
 * checked too, always, on the scratch copy its own check left: each
 * increment as a restore applies it (size, SHA-256, gzip, WAL, the state
 * checksum after it), then integrity_check on the state the chain ends at
 * (agent/tiers/chains.h).  A chain that breaks -- an increment whose object
 * is there but that no restore can reach -- fails too.
 */
#include "agent/cli/commands.h"
#include "agent/engine/check.h"
#include "agent/cli/format.h"
#include "agent/tiers/oplog.h"
#include "agent/engine/progress.h"
#include "agent/tiers/chains.h"
#include "agent/tiers/tier_local.h"
#include "agent/tiers/tiers.h"
#include "common/fsutil.h"
#include "common/jsondoc.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* verify --json: the result of each check, printed as one document at the
 * end; NULL for text. */
static json_t *vjson;

/* A line of the text output (nothing with --json). */
#define say(...)                        \
	do {                            \
		if (!vjson)             \
			printf(__VA_ARGS__); \
	} while (0)

/* One check's result for --json: kind "backup" or "chain"; bytes the
 * checked database's size (-1: not known); increments and reach_ms a
 * chain's (reach_ms < 0: none); sealed: an age file checked against its
 * metadata only (no identity here).  kind "listing" (name ""): a tier
 * that could not be listed. */
struct vresult {
	const char *name, *tier, *kind;
	enum result r;
	const char *error;
	int64_t bytes;
	bool sha_checked, sealed;
	long increments;
	int64_t reach_ms;
};

static void record(const struct vresult *v)
{
	if (!vjson)
		return;
	char at[32];
	if (v->reach_ms >= 0)
		time_format_iso_ms(v->reach_ms, at, sizeof(at));
	/* A name given on the command line may be any bytes: escaped. */
	char name[BACKUP_NAME_MAX * 4 + 1];
	text_escape(v->name, name, sizeof(name));
	json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "name", name, "tier", v->tier, "kind",
			      v->kind, "ok", v->r == CB_OK);
	if (!o)
		return;
	json_object_set_new(o, "bytes", v->bytes >= 0 ? json_integer(v->bytes) : json_null());
	json_object_set_new(o, "sha256_checked", json_boolean(v->sha_checked));
	json_object_set_new(o, "encrypted_not_decrypted", json_boolean(v->sealed));
	json_object_set_new(o, "increments",
			    v->increments >= 0 ? json_integer(v->increments) : json_null());
	json_object_set_new(o, "state_time", v->reach_ms >= 0 ? json_string(at) : json_null());
	json_object_set_new(o, "error",
			    v->r ? jsondoc_error(v->r, v->error) : json_null());
	json_array_append_new(vjson, o);
}

/* verify --json's document, printed whatever the outcome. */
static enum result print_doc(size_t ok, size_t failed, size_t chains_ok, size_t chains_failed,
			     struct error *err)
{
	json_t *items = vjson;
	vjson = NULL;
	if (!items)
		return CB_OK;
	return format_print_json(json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}", "checked",
					   (json_int_t)(ok + failed), "ok", (json_int_t)ok,
					   "failed", (json_int_t)failed, "chains_ok",
					   (json_int_t)chains_ok, "chains_failed",
					   (json_int_t)chains_failed, "results", items),
				 err);
}

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

/* Where a check's throwaway copy of a database goes: the backup directory,
 * or, when that is to hold no plaintext ([local] encrypt), the live
 * database's directory. */
static const char *scratch_dir_of(const struct conf *c, char *buf, size_t size)
{
	char *d = c->local_encrypt ? fs_dirname(c->db_path) : NULL;
	if (!d)
		return c->local_dir;
	snprintf(buf, size, "%s", d);
	free(d);
	return buf;
}

/* Is the file at path in the backup directory dir (where its chain is)? */
static bool in_local_dir(const char *path, const char *dir)
{
	char *pdir = fs_dirname(path);
	char *a = pdir ? realpath(pdir, NULL) : NULL, *b = realpath(dir, NULL);
	bool same = a && b && strcmp(a, b) == 0;
	free(pdir);
	free(a);
	free(b);
	return same;
}

/* A snapshot's chain on a tier, to check after the snapshot. */
struct chain_src {
	struct tier *tier;
	struct catalog_incr **incrs;   /* its increments as the tier lists them */
	size_t n;
};

/* How the check of a chain went. */
struct chain_outcome {
	bool ran;                  /* the snapshot passed and had a chain */
	enum result r;
	struct error err;
	struct chain_report report;
	double seconds;
};

/* The increments of snapshot among a catalog's (as pointers, for
 * chain_verify); *n 0 when it has none.  NULL when memory runs out. */
static struct catalog_incr **chain_of(struct catalog_incr *incrs, size_t n_incrs,
				      const char *snapshot, size_t *n)
{
	struct catalog_incr **out = calloc(n_incrs + 1, sizeof(*out));
	*n = 0;
	for (size_t i = 0; out && i < n_incrs; i++)
		if (strcmp(incrs[i].parsed.snapshot, snapshot) == 0)
			out[(*n)++] = &incrs[i];
	return out;
}

/* Check the chain src describes on the checked image in tmp. */
static void check_chain(const struct chain_src *src, const char *name,
			const struct backup_meta *meta, struct atomic_file *tmp,
			struct chain_outcome *co)
{
	struct progress bar;
	uint64_t total = 0;
	for (size_t i = 0; i < src->n; i++)
		total += src->incrs[i]->size;
	double start = time_mono();
	co->ran = true;
	progress_start(&bar, "verify", total);
	co->r = chain_verify(src->tier, src->incrs, src->n, name, meta, tmp->fd,
			     tmp->tmp_path, &bar, &co->report, &co->err);
	progress_end(&bar);
	co->seconds = time_mono() - start;
}

/* Report how the check of name's chain went (where: "" or "local; "), and
 * record it; true if it passed. */
static bool report_chain(const char *name, const char *tier, const char *where,
			 const struct chain_outcome *co, const char *log_dir, struct error *err)
{
	struct vresult v = {.name = name, .tier = tier, .kind = "chain", .bytes = -1,
			    .increments = (long)co->report.steps, .reach_ms = co->report.reach_ms,
			    .sha_checked = true};
	const struct chain_report *rep = &co->report;
	char at[32], size[32], what[BACKUP_NAME_MAX + 32];
	time_format_iso_ms(rep->reach_ms, at, sizeof(at));
	snprintf(what, sizeof(what), "%s+increments", name);
	if (co->r == CB_OK && rep->lost == 0) {
		char rollups[48] = "";
		if (rep->rollups)
			snprintf(rollups, sizeof(rollups), " and %zu roll-up%s", rep->rollups,
				 rep->rollups == 1 ? "" : "s");
		format_size(rep->bytes, size, sizeof(size));
		say("ok      %s + %zu increment%s%s  (%seach one's SHA-256 and state checksum, "
		    "integrity ok, %s; to %s)\n",
		    name, rep->steps, rep->steps == 1 ? "" : "s", rollups, where, size, at);
		v.bytes = (int64_t)rep->bytes;
		record(&v);
		oplog_record(log_dir, "verify", what, CB_OK, co->seconds, NULL);
		return true;
	}
	if (co->r)
		*err = co->err;
	else
		error_set(err, CB_ERR_CORRUPT,
			  "the chain of %s breaks after %zu increment%s (the state at %s): %s; "
			  "%zu increment%s after it cannot be restored",
			  name, rep->steps, rep->steps == 1 ? "" : "s", at, rep->why, rep->lost,
			  rep->lost == 1 ? "" : "s");
	say("FAILED  %s + increments%s%.*s: %s\n", name, where[0] ? " (" : "",
	    where[0] ? (int)strlen(where) - 2 : 0, where, err->msg);
	v.r = err->code;
	v.error = err->msg;
	record(&v);
	oplog_record(log_dir, "verify", what, err->code, co->seconds, err->msg);
	return false;
}

/* Check one backup into a throwaway file beside it (or in TMPDIR when its
 * directory is read-only), then its chain (chain may be NULL). */
static enum result verify_one(const char *path, const char *label, const char *scratch_dir,
			      uint64_t max_size, const struct age_identities *ids,
			      const struct chain_src *chain, struct chain_outcome *co,
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
	char *dir = scratch_dir ? strdup(scratch_dir) : fs_dirname(path);
	char snap[BACKUP_NAME_MAX];
	metacrypt_plain_name(fs_basename(path), snap, sizeof(snap));
	r = dir ? scratch_file(&tmp, dir, snap, err) : error_nomem(err);
	free(dir);
	if (r) {
		close(in);
		return r;
	}
	progress_start(&bar, "verify", (uint64_t)fs_file_size(path));
	r = check_backup(in, label, have_meta ? &meta : NULL, max_size, tmp.fd, tmp.tmp_path, ids,
			 &bar, res, err);
	progress_end(&bar);
	close(in);
	if (!r && chain && chain->n)
		check_chain(chain, snap, have_meta ? &meta : NULL, &tmp, co);
	atomic_file_abort(&tmp);
	return r;
}

/* A sealed local backup checked without its key: its metadata must record
 * the age file, whose SHA-256 and size must be what it records. */
static enum result verify_sealed(const char *path, const char *label, struct error *err)
{
	struct backup_meta meta;
	bool have_meta = false;
	uint8_t digest[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	struct sha256 h;
	unsigned char buf[65536];
	int64_t size = 0;
	enum result r;

	if ((r = load_meta(path, &meta, &have_meta, err)))
		return r;
	if (!have_meta || !meta.crypt.encrypted)
		return error_set(err, CB_ERR_CORRUPT, "'%s' is an age file without metadata that "
				 "records it: nothing to check it against without the key", label);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, path);
	if ((r = sha256_init(&h, err))) {
		close(fd);
		return r;
	}
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = error_errno(err, errno, path);
			break;
		}
		if (n == 0)
			break;
		sha256_update(&h, buf, (size_t)n);
		size += n;
	}
	close(fd);
	sha256_final(&h, digest);
	if (r)
		return r;
	hex_encode(digest, sizeof(digest), hex);
	if (size != meta.crypt.object_size || strcmp(hex, meta.crypt.object_sha256) != 0)
		return error_set(err, CB_ERR_CORRUPT, "'%s' does not match its metadata (%s bytes, "
				 "SHA-256 %s; recorded: %lld bytes, %s)", label,
				 size == meta.crypt.object_size ? "same" : "other", hex,
				 (long long)meta.crypt.object_size, meta.crypt.object_sha256);
	return CB_OK;
}

/* The failure verify reports when several checks fail: the first, unless a
 * backup failed a check (CB_ERR_CORRUPT, exit 5), which is what verify looks
 * for and wins over any other failure, even those result_worse puts above it
 * (a refusal, an interrupt). */
static enum result verify_worst(enum result worst, enum result r)
{
	return worst == CB_OK || r == CB_ERR_CORRUPT ? r : worst;
}

static void print_chain_count(size_t ok, size_t failed)
{
	if (ok + failed)
		say("%zu chain%s of increments checked: %zu ok, %zu failed\n", ok + failed,
		       ok + failed == 1 ? "" : "s", ok, failed);
}

/* verify --tier: download and check backups of one tier or all, as restore
 * would, without installing them. */
static enum result verify_tiers(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	const char *which = cli->tier ? cli->tier : "local";
	char scratch_buf[PATH_MAX];
	const char *scratch_dir = scratch_dir_of(c, scratch_buf, sizeof(scratch_buf));
	struct tier_set set = {0};
	struct candidate_list cands = {0};
	size_t ok = 0, failed = 0, chains_ok = 0, chains_failed = 0;
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
			say("FAILED  %s%s%s\n", named ? "" : label, named ? "" : ": ", msg);
			record(&(struct vresult){.name = "", .tier = tier->name, .kind = "listing",
						 .r = tier->list_error.code, .error = msg,
						 .bytes = -1, .increments = -1, .reach_ms = -1});
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
			struct chain_outcome co = {0};
			struct chain_src src = {.tier = tier};
			double start = time_mono();
			/* Its chain on this tier, as pointers into the list. */
			if (!(src.incrs = calloc(cands.n_incrs + 1, sizeof(*src.incrs)))) {
				r = error_nomem(err);
				goto done;
			}
			for (size_t k = 0; k < cands.n_incrs; k++)
				if (cands.incrs[k].tier == t &&
				    strcmp(cands.incrs[k].e.parsed.snapshot, cand->name) == 0)
					src.incrs[src.n++] = &cands.incrs[k].e;
			if (cand->encrypted && !keyring_can_decrypt(set.keys)) {
				/* No key here: the object against its metadata. */
				free(src.incrs);
				r = tiers_check_sealed(&set, cand, &meta, &verr);
				record(&(struct vresult){.name = cand->name, .tier = tier->name,
							 .kind = "backup", .r = r, .error = verr.msg,
							 .bytes = -1, .sealed = true, .sha_checked = !r,
							 .increments = -1, .reach_ms = -1});
				if (r == CB_OK) {
					say("ok      %s  (%s; encrypted, not decrypted: no identity "
					    "here; object SHA-256 matches metadata)\n",
					    cand->name, label);
					ok++;
				} else {
					say("FAILED  %s (%s): %s\n", cand->name, label, verr.msg);
					failed++;
					worst = verify_worst(worst, r);
					*err = verr;
				}
				continue;
			}
			r = scratch_file(&tmp, scratch_dir, cand->name, &verr);
			if (!r) {
				progress_start(&bar, "verify", cand->size);
				r = tiers_fetch(&set, cand, tmp.fd, tmp.tmp_path, &bar, &res,
						&meta, &have_meta, &verr);
				progress_end(&bar);
			}
			if (!r && src.n)
				check_chain(&src, cand->name, have_meta ? &meta : NULL, &tmp, &co);
			free(src.incrs);
			atomic_file_abort(&tmp);
			if (r == CB_OK) {
				char size[32];
				format_size(res.data_size, size, sizeof(size));
				say("ok      %s  (%s; %s integrity ok, %s)\n", cand->name, label,
				    res.sha_checked ? "SHA-256 matches metadata," : "no metadata,",
				    size);
				ok++;
			} else {
				say("FAILED  %s (%s): %s\n", cand->name, label, verr.msg);
				failed++;
				worst = verify_worst(worst, r);
				*err = verr;
			}
			record(&(struct vresult){.name = cand->name, .tier = tier->name,
						 .kind = "backup", .r = r, .error = verr.msg,
						 .bytes = r ? -1 : (int64_t)res.data_size,
						 .sha_checked = !r && res.sha_checked, .increments = -1,
						 .reach_ms = -1});
			const char *log_dir = fs_exists(c->local_dir) ? c->local_dir : NULL;
			oplog_record(log_dir, "verify", cand->name, r, time_mono() - start,
				     r ? verr.msg : label);
			if (co.ran) {
				char where[128];
				snprintf(where, sizeof(where), "%s; ", label);
				struct error cerr = {0};
				if (report_chain(cand->name, tier->name, where, &co, log_dir, &cerr)) {
					chains_ok++;
				} else {
					chains_failed++;
					worst = verify_worst(worst, cerr.code);
					*err = cerr;
				}
			}
		}
		if (done_here == 0)
			say("No backups found in %s\n", label);
	}
	say("%zu backup%s checked: %zu ok, %zu failed\n", ok + failed,
	    ok + failed == 1 ? "" : "s", ok, failed);
	print_chain_count(chains_ok, chains_failed);
	struct error perr = {0};
	if ((r = print_doc(ok, failed, chains_ok, chains_failed, &perr))) {
		*err = perr;
		goto done;
	}
	if (failed || chains_failed)
		r = error_set(err, worst, "%zu of %zu checks failed", failed + chains_failed,
			      ok + failed + chains_ok + chains_failed);
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

static enum result verify_local(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	char scratch_buf[PATH_MAX];
	const char *scratch_dir = scratch_dir_of(c, scratch_buf, sizeof(scratch_buf));
	struct catalog list = {0};
	struct tier local;
	size_t ok = 0, failed = 0, chains_ok = 0, chains_failed = 0;
	enum result worst = CB_OK;
	enum result r;
	int n = cli->nargs;

	if (cli->tier || cli->all || cli->latest) {
		if (n)
			return error_set(err, CB_ERR_USAGE,
					 "name files to verify, or use --tier/--all/--latest; not both");
		return verify_tiers(cli, err);
	}
	/* The local tier stays open: chains are read from it.  Named files are
	 * checked even when it cannot be listed (a directory this user cannot
	 * read all of): then without their chains. */
	if ((r = tier_open_local(&local, c->local_dir, &c->local_keep, err)))
		return r;
	struct error lerr = {0};
	if ((r = tier_catalog(&local, NULL, "verify", &list, &lerr))) {
		if (n == 0 || r == CB_ERR_NOMEM) {
			tier_close(&local);
			*err = lerr;
			return r;
		}
		fprintf(stderr, "warning: cannot look for chains of increments: %s; checking the "
			"files alone\n", lerr.msg);
		memset(&list, 0, sizeof(list));
	}
	if (n == 0) {
		if (list.n == 0) {
			catalog_free(&list);
			tier_close(&local);
			say("No backups found in %s\n", c->local_dir);
			print_doc(0, 0, 0, 0, err);
			/* Nothing checked is not "all checks passed". */
			return error_set(err, CB_ERR_NOT_FOUND,
					 "No backups found in %s: nothing was verified",
					 c->local_dir);
		}
		n = (int)list.n;
	}
	/* Named files may be age files: the keys to read them. */
	struct keyring *keys = NULL;
	if ((r = keyring_load(c, &keys, err))) {
		catalog_free(&list);
		tier_close(&local);
		return r;
	}
	struct age_identities ids = keyring_identities(keys);
	local.keys = keys;   /* a sealed chain's increments decrypt with them */
	for (int i = 0; i < n; i++) {
		bool named = cli->nargs > 0;
		char *path = NULL;
		if (!named && asprintf(&path, "%s/%s%s", c->local_dir, list.items[i].name,
				       list.items[i].encrypted ? METACRYPT_SUFFIX : "") < 0)
			path = NULL;
		if (named)
			path = resolve_backup_path(cli->args[i], c->local_dir);
		const char *label = !named ? list.items[i].name : cli->args[i];
		struct check_result res;
		struct error verr = {0};
		struct chain_outcome co = {0};
		struct chain_src src = {.tier = &local};
		double start = time_mono();
		/* A file named outside the backup directory has no chain there. */
		bool chained = path && (!named || in_local_dir(path, c->local_dir));
		char snap[BACKUP_NAME_MAX];
		if (path)
			metacrypt_plain_name(fs_basename(path), snap, sizeof(snap));
		if (chained)
			src.incrs = chain_of(list.incrs, list.n_incrs, snap, &src.n);
		if (!path || (chained && !src.incrs)) {
			free(path);
			catalog_free(&list);
			tier_close(&local);
			keyring_free(keys);
			return error_nomem(err);
		}
		/* An age file the tier made, and no key here: the object against
		 * its metadata.  (One without such metadata needs the key.) */
		struct backup_meta sm;
		bool have_sm = false, sealed = false;
		if (!keyring_can_decrypt(keys) && metacrypt_is_sealed(path)) {
			struct error ignored = {0};
			sealed = !load_meta(path, &sm, &have_sm, &ignored) && have_sm &&
				 sm.crypt.encrypted;
		}
		if (sealed)
			r = verify_sealed(path, label, &verr);
		else
			r = verify_one(path, label, in_local_dir(path, c->local_dir) ? scratch_dir : NULL,
				       c->restore_max_size, &ids, &src, &co, &res, &verr);
		free(src.incrs);
		char *log_dir = fs_dirname(path);
		if (r == CB_OK && sealed) {
			say("ok      %s  (encrypted, not decrypted: no identity here; object "
			    "SHA-256 matches metadata)\n", label);
			ok++;
		} else if (r == CB_OK) {
			char size[32];
			format_size(res.data_size, size, sizeof(size));
			say("ok      %s  (%s integrity ok, %s)\n", label,
			    res.sha_checked ? "SHA-256 matches metadata," : "no metadata,",
			    size);
			ok++;
		} else {
			say("FAILED  %s: %s\n", label, verr.msg);
			failed++;
			worst = verify_worst(worst, r);
			*err = verr;
		}
		record(&(struct vresult){.name = label, .tier = "local", .kind = "backup", .r = r,
					 .error = verr.msg,
					 .bytes = r || sealed ? -1 : (int64_t)res.data_size,
					 .sha_checked = !r && (sealed || res.sha_checked),
					 .sealed = sealed, .increments = -1, .reach_ms = -1});
		oplog_record(r == CB_ERR_NOT_FOUND ? NULL : log_dir, "verify",
			     snap, r, time_mono() - start, r ? verr.msg : NULL);
		if (co.ran) {
			struct error cerr = {0};
			if (report_chain(snap, "local", "", &co, log_dir, &cerr)) {
				chains_ok++;
			} else {
				chains_failed++;
				worst = verify_worst(worst, cerr.code);
				*err = cerr;
			}
		}
		free(log_dir);
		free(path);
	}
	keyring_free(keys);
	catalog_free(&list);
	tier_close(&local);
	say("%zu backup%s checked: %zu ok, %zu failed\n", ok + failed,
	    ok + failed == 1 ? "" : "s", ok, failed);
	print_chain_count(chains_ok, chains_failed);
	if ((r = print_doc(ok, failed, chains_ok, chains_failed, err)))
		return r;
	if (chains_failed)
		return error_set(err, worst, "%zu of %zu backups and %zu of %zu chains of "
				 "increments failed verification", failed, ok + failed,
				 chains_failed, chains_ok + chains_failed);
	if (failed)
		return error_set(err, worst, "%zu of %zu backups failed verification", failed,
				 ok + failed);
	return CB_OK;
}

enum result cmd_verify(struct cli *cli, struct error *err)
{
	if (cli->json && !(vjson = json_array()))
		return error_nomem(err);
	enum result r = verify_local(cli, err);
	/* Left when it failed before printing (main then prints the error). */
	json_decref(vjson);
	vjson = NULL;
	return r;
}
