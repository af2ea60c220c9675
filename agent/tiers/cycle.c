/*
 * The backup cycle: backup, push, local retention.
 */
#include "agent/tiers/cycle.h"
#include "agent/tiers/compact.h"
#include "common/text.h"
#include "agent/tiers/oplog.h"
#include "agent/engine/progress.h"
#include "agent/tiers/sync.h"
#include "agent/tiers/tier_local.h"
#include "agent/tiers/tiers.h"
#include "common/fsutil.h"
#include "common/jsondoc.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <stdatomic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cycle_settings_of(struct cycle_settings *s, const struct conf *c)
{
	*s = (struct cycle_settings){
		.db_path = c->db_path,
		.dir = c->local_dir,
		.level = c->compression,
		.threads = c->threads,
		.lock_timeout = c->lock_timeout,
		.busy_timeout = c->busy_timeout,
		.keep = &c->local_keep,
		.replicate = c->replicate_enabled,
		.rebase_share = c->replicate_rebase_share,
	};
}

/* Make a backup under the lock already held; with replication on, it
 * starts a new chain (a failure to start one is logged: the next capture
 * finds no chain and asks for a snapshot again). */
static enum result backup_locked(const struct cycle_settings *s, enum backup_type type,
				 bool progress, struct backup_outcome *out, struct error *err)
{
	struct pagesum *sum = NULL;
	struct walpos pos = {0};
	struct backup_opts bo = {
		.db_path = s->db_path,
		.dir = s->dir,
		.type = type,
		.level = s->level,
		.threads = s->threads,
		.busy_timeout = s->busy_timeout,
		.progress = progress,
		.sum_out = s->replicate ? &sum : NULL,
		.pos_out = s->replicate ? &pos : NULL,
		.seal = s->seal,
	};
	enum result r = backup_make(&bo, out, err);
	if (!r && sum) {
		struct error cerr = {0};
		if (replicate_begin(s->dir, s->db_path, out->meta.name, sum, &pos, &cerr))
			log_warn("replicate", "cannot start a chain from %s: %s", out->meta.name,
				 cerr.msg);
	}
	pagesum_free(sum);
	return r;
}

static void record_backup(const struct cycle_settings *s, enum result r,
			  const struct backup_outcome *out, double start, const struct error *err)
{
	if (!r)
		oplog_write(s->dir, &(struct oplog_event){
			.op = "backup", .object = out->meta.name, .tier = "local",
			.bytes = out->meta.compressed_size, .seconds = out->seconds});
	else if (r != CB_ERR_INTERRUPTED)
		oplog_record(fs_exists(s->dir) ? s->dir : NULL, "backup", NULL, r,
			     time_mono() - start, err->msg);
}

enum result cycle_backup(const struct cycle_settings *s, enum backup_type type, const char *op,
			 bool progress, struct backup_outcome *out, struct error *err)
{
	struct dir_lock lock = {.fd = -1};
	double start = time_mono();
	enum result r = local_lock(s->dir, s->lock_timeout, op, &lock, err);
	if (!r)
		r = backup_locked(s, type, progress, out, err);
	dir_lock_release(&lock);
	record_backup(s, r, out, start, err);
	return r;
}

void cycle_capture_route(const struct replicate_result *inc, char *buf, size_t size)
{
	if (inc->route == REPLICATE_DIFF)
		snprintf(buf, size, "diff (%s)", inc->fallback);
	else
		snprintf(buf, size, "%s%s", replicate_route_name(inc->route),
			 inc->followed_restart ? " (across a WAL restart)" : "");
}

/* When the agent last compacted its chains: once a minute is plenty, as
 * what merges is at least an hour old and the finest roll-up a minute. */
static _Atomic int64_t compacted_at;

/* Compact the local tier's chains (under the lock the caller holds),
 * printing what it did or would do on report (NULL: the log only).  A
 * failure is logged and left for the next time: restore's checks never
 * depend on compaction. */
static void compact_run(const struct cycle_settings *s, bool dry_run, FILE *report,
			struct compact_result *res)
{
	int64_t now = time_now();
	char stem[BACKUP_STEM_MAX + 1];
	backup_db_stem(s->db_path, stem, sizeof(stem));
	struct compact_opts o = {.dir = s->dir, .db = stem, .level = s->level,
				 .threads = s->threads, .now = now, .dry_run = dry_run};
	struct error err = {0};
	double start = time_mono();
	if (compact_local(&o, res, &err)) {
		log_warn("compact", "cannot compact the increments in %s: %s", s->dir, err.msg);
		return;
	}
	if (!res->made && !res->repaired)
		return;
	char detail[192], before[32], after[32];
	format_size(res->bytes_before, before, sizeof(before));
	format_size(res->bytes_after, after, sizeof(after));
	if (dry_run)
		snprintf(detail, sizeof(detail), "would merge %zu increments into %zu", res->merged,
			 res->made);
	else
		snprintf(detail, sizeof(detail), "merged %zu increments into %zu (%s -> %s)",
			 res->merged, res->made, before, after);
	if (res->repaired)
		snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
			 "%s%s %zu interrupted compaction%s", res->made ? ", " : "",
			 dry_run ? "would finish" : "finished", res->repaired,
			 res->repaired == 1 ? "" : "s");
	if (report)
		fprintf(report, "increments: %s\n", detail);
	if (!dry_run) {
		log_info("compact", "%s", detail);
		oplog_record(s->dir, "compact", NULL, CB_OK, time_mono() - start, detail);
	}
}

/* Once a minute: compact, and tell whether the newest chain has grown to
 * rebase_share of its snapshot, so that a new base is due (a restore then
 * never replays more than about that share of the database). */
static bool compact_now(const struct cycle_settings *s, char *why, size_t size)
{
	struct compact_result res;
	struct backup_meta meta;
	bool have = false;
	if (time_now() - atomic_load(&compacted_at) < 60)
		return false;
	atomic_store(&compacted_at, time_now());
	compact_run(s, false, NULL, &res);
	if (!res.newest[0] || s->rebase_share <= 0)
		return false;
	char *path = fs_join(s->dir, res.newest);
	struct error err = {0};
	bool due = path && !load_meta(path, &meta, &have, &err) && have &&
		   res.newest_bytes * 100 > (uint64_t)meta.compressed_size * (uint64_t)s->rebase_share;
	if (due)
		snprintf(why, size, "the increments since %s add up to %llu%% of it (rebase_share "
			 "%d%%)", res.newest, (unsigned long long)(res.newest_bytes * 100 /
			 (uint64_t)(meta.compressed_size ? meta.compressed_size : 1)), s->rebase_share);
	free(path);
	return due;
}

enum result cycle_capture(const struct cycle_settings *s, int64_t first_ms,
			  struct replicate_result *inc, bool *made_backup,
			  struct backup_outcome *out, struct error *err)
{
	struct dir_lock lock = {.fd = -1};
	double start = time_mono();
	struct replicate_opts ro = {.dir = s->dir, .db_path = s->db_path, .level = s->level,
				    .threads = s->threads, .busy_timeout = s->busy_timeout,
				    .first_ms = first_ms, .seal = s->seal};
	*made_backup = false;
	enum result r = local_lock(s->dir, s->lock_timeout, "agent", &lock, err);
	if (!r)
		r = replicate_capture(&ro, inc, err);
	if (!r && inc->adopted)
		log_info("replicate", "took in an increment a crash left past the chain file");
	if (!r && inc->route == REPLICATE_DIFF)
		log_info("replicate", "page diff: %s", inc->fallback);
	if (!r && inc->new_base) {
		log_info("replicate", "a new chain: %s", inc->why);
		*made_backup = true;
		r = backup_locked(s, BT_CHANGE, false, out, err);
		record_backup(s, r, out, start, err);
	} else if (!r && inc->made) {
		char route[200];
		cycle_capture_route(inc, route, sizeof(route));
		oplog_write(s->dir, &(struct oplog_event){
			.op = "increment", .object = inc->name, .tier = "local",
			.bytes = (int64_t)inc->bytes, .seconds = time_mono() - start,
			.detail = route});
		char why[sizeof(inc->why) + 200];
		bool due = compact_now(s, why, sizeof(why));
		if (!due && s->rebase_why) {
			snprintf(why, sizeof(why), "%s", s->rebase_why);
			due = true;
		}
		if (due) {
			log_info("replicate", "a new chain: %s", why);
			struct error berr = {0};
			double bstart = time_mono();
			/* The increment is made and reported; a failed new base is
			 * logged, and the chain simply goes on. */
			enum result br = backup_locked(s, BT_CHANGE, false, out, &berr);
			*made_backup = !br;
			record_backup(s, br, out, bstart, &berr);
		}
	} else if (r && r != CB_ERR_INTERRUPTED) {
		oplog_record(fs_exists(s->dir) ? s->dir : NULL, "increment", NULL, r,
			     time_mono() - start, err->msg);
	}
	dir_lock_release(&lock);
	return r;
}

enum result cycle_prune_local(const struct cycle_settings *s, const char *op,
			      const struct remote_holdings *pins, size_t n_pins, int64_t now, bool dry_run, FILE *report,
			      struct prune_result *res, struct error *err)
{
	struct dir_lock lock = {.fd = -1};
	struct tier local = {0};
	char stem[BACKUP_STEM_MAX + 1];
	enum result r = CB_OK;
	memset(res, 0, sizeof(*res));
	backup_db_stem(s->db_path, stem, sizeof(stem));
	/* A directory that is not there has nothing to prune: no lock, which
	 * would create it. */
	if (!dry_run && fs_exists(s->dir))
		r = local_lock(s->dir, s->lock_timeout, op, &lock, err);
	if (!r)
		r = tier_open_local(&local, s->dir, s->keep, err);
	if (!r)
		r = prune_listed(&local, stem, pins, n_pins, now, dry_run, report, res, NULL, err);
	tier_close(&local);
	struct compact_result cres;
	if (!r && fs_exists(s->dir))
		compact_run(s, dry_run, report, &cres);
	dir_lock_release(&lock);
	return r;
}

void cycle_record_prune(const char *dir, const struct prune_result *res, double seconds,
			char *detail, size_t size)
{
	char freed[32];
	format_size(res->freed, freed, sizeof(freed));
	snprintf(detail, size, "deleted %zu, freed %s, kept %zu", res->deleted, freed, res->kept);
	oplog_record(fs_exists(dir) ? dir : NULL, "prune", NULL, CB_OK, seconds, detail);
}

struct remote_holdings *holdings_new(const struct conf *c)
{
	struct remote_holdings *h = calloc(c->n_remotes + 1, sizeof(*h));
	for (size_t i = 0; h && i < c->n_remotes; i++) {
		h[i].name = c->remotes[i].name;
		h[i].keep = &c->remotes[i].keep;
	}
	return h;
}

void holdings_free_all(struct remote_holdings *h, size_t n)
{
	for (size_t i = 0; h && i < n; i++)
		holdings_free(&h[i]);
	free(h);
}

struct push_progress {
	struct progress bar;
	char label[BACKUP_NAME_MAX + 64];
	const char *remote;
};

static void on_upload(void *ctx, const char *name, uint64_t size)
{
	struct push_progress *p = ctx;
	progress_end(&p->bar);
	snprintf(p->label, sizeof(p->label), "push %s: %s", p->remote, name);
	progress_start(&p->bar, p->label, size);
}

static void on_bytes(void *ctx, uint64_t done, uint64_t total)
{
	struct push_progress *p = ctx;
	(void)total;
	progress_update(&p->bar, done);
}

/* A push ranks its remotes' failures by result_worse over three kinds only:
 * a refusal (10), then an outage (9), then any other failure, the first of a
 * kind kept.  A setting that cannot work, a corrupt local backup and an
 * interrupt, which result_worse alone puts above both, are "any other
 * failure" here. */
static enum result push_kind(enum result r)
{
	return r == CB_OK || r == CB_ERR_RETRY || r == CB_ERR_REMOTE ? r : CB_ERR_INTERNAL;
}

/* push --json's object for one remote (cycle.h); st is read only when r
 * is CB_OK. */
static json_t *push_json(const char *remote, enum result r, const struct sync_stats *st,
			 double seconds, const struct error *err)
{
	json_t *o = json_pack("{s:s, s:b}", "remote", remote, "ok", r == CB_OK);
	if (!o)
		return NULL;
	json_object_set_new(o, "uploaded", r ? json_null() : json_integer((json_int_t)st->uploaded));
	json_object_set_new(o, "increments_uploaded",
			    r ? json_null() : json_integer((json_int_t)st->incrs_uploaded));
	json_object_set_new(o, "bytes", r ? json_null() : json_integer((json_int_t)st->bytes));
	json_object_set_new(o, "already_there",
			    r ? json_null() : json_integer((json_int_t)st->present));
	json_object_set_new(o, "expired_deleted",
			    r ? json_null() : json_integer((json_int_t)st->pruned.deleted));
	json_object_set_new(o, "skipped", r ? json_null() : json_integer((json_int_t)st->skipped));
	json_object_set_new(o, "seconds", json_real(round(seconds * 1000) / 1000));
	json_object_set_new(o, "error",
			    r ? jsondoc_error(r, err->msg) : json_null());
	return o;
}

static enum result push_one(const struct conf *c, const struct conf_remote *rc, FILE *report,
			    struct remote_holdings *held, json_t *results, struct error *err)
{
	struct tier local = {0}, remote = {0};
	struct sync_stats st;
	struct push_progress pp = {.remote = rc->name};
	double start = time_mono();
	struct keyring *keys = NULL;
	enum result r = keyring_load(c, &keys, err);
	if (!r)
		r = tier_open_remote(&remote, rc, err);
	remote.keys = keys;
	if (!r)
		r = tier_open_local(&local, c->local_dir, &c->local_keep, err);
	if (!r) {
		progress_start(&pp.bar, "", 0);
		char stem[BACKUP_STEM_MAX + 1];
		backup_db_stem(c->db_path, stem, sizeof(stem));
		struct sync_opts so = {
			.now = time_now(),
			.db = stem,
			.remove_stale = true,
			.progress = on_bytes,
			.progress_ctx = &pp,
			.on_upload = on_upload,
		};
		r = sync_tier(&local, &remote, &so, &st, err);
		progress_end(&pp.bar);
	}
	tier_close(&local);
	tier_close(&remote);
	keyring_free(keys);
	char detail[320] = "";
	uint64_t sent = 0;
	if (!r) {
		char size[32], expired[256] = "";
		sent = st.bytes;
		size_t o = 0;
		format_size(st.bytes, size, sizeof(size));
		if (st.pruned.deleted)
			o += (size_t)snprintf(expired + o, sizeof(expired) - o, "; %zu expired deleted",
					      st.pruned.deleted);
		if (o >= sizeof(expired))
			o = sizeof(expired) - 1;
		if (st.unfinished_aborted)
			o += (size_t)snprintf(expired + o, sizeof(expired) - o,
					      "; %zu unfinished upload%s of a stopped run removed",
					      st.unfinished_aborted,
					      st.unfinished_aborted == 1 ? "" : "s");
		if (o >= sizeof(expired))
			o = sizeof(expired) - 1;
		if (st.halves_removed)
			o += (size_t)snprintf(expired + o, sizeof(expired) - o,
					      "; %zu lone metadata object%s removed", st.halves_removed,
					      st.halves_removed == 1 ? "" : "s");
		if (o >= sizeof(expired))
			o = sizeof(expired) - 1;
		if (st.skipped)
			snprintf(expired + o, sizeof(expired) - o,
				 "; %zu encrypted local backup%s without metadata not uploaded",
				 st.skipped, st.skipped == 1 ? "" : "s");
		if (report)
			fprintf(report, "remote '%s': uploaded %zu backup%s (%s); %zu already there%s\n",
				rc->name, st.uploaded, st.uploaded == 1 ? "" : "s", size, st.present,
				expired);
		snprintf(detail, sizeof(detail), "uploaded %zu (%s), %zu already there%s",
			 st.uploaded, size, st.present, expired);
		if (results)
			json_array_append_new(results, push_json(rc->name, r, &st,
								 time_mono() - start, err));
		if (held) {
			holdings_free(held);
			*held = st.held;
			held->name = rc->name;
			held->keep = &rc->keep;
			memset(&st.held, 0, sizeof(st.held));
		}
		sync_stats_free(&st);
	}
	if (r && results)
		json_array_append_new(results, push_json(rc->name, r, NULL, time_mono() - start,
							 err));
	oplog_write(c->local_dir, &(struct oplog_event){
		.op = "push", .object = rc->name, .tier = rc->name, .bytes = r ? -1 : (int64_t)sent,
		.outcome = r, .seconds = time_mono() - start, .detail = r ? err->msg : detail});
	return r;
}

enum result cycle_push(const struct conf *c, const char *only, FILE *report,
		       struct remote_holdings *held, char *failed, size_t failed_size,
		       json_t *results, struct error *err)
{
	enum result worst = CB_OK;
	size_t flen = 0;
	if (failed && failed_size)
		failed[0] = '\0';
	bool any = false;
	size_t targets = 0;
	for (size_t i = 0; i < c->n_remotes; i++)
		targets += !only || strcmp(only, c->remotes[i].name) == 0;
	if (c->n_remotes == 0) {
		char src[512];
		conf_describe_sources(c, src, sizeof(src));
		return error_set(err, CB_ERR_CONFIG, "nothing to push: %s%s", src,
				 c->source ? "; HINT: add a [remote \"NAME\"] section (see "
					     "'cbsync help backends')" : "");
	}
	for (size_t i = 0; i < c->n_remotes; i++) {
		const struct conf_remote *rc = &c->remotes[i];
		if (only && strcmp(only, rc->name) != 0)
			continue;
		any = true;
		struct error one = {0};
		enum result r = push_one(c, rc, report, held ? &held[i] : NULL, results, &one);
		if (result_worse(push_kind(r), push_kind(worst))) {
			worst = r;
			*err = one;
		}
		/* With several remotes, each failure gets its line; the Error line
		 * names the worst. */
		if (r && targets > 1)
			fprintf(stderr, "failed: %s\n", one.msg);
		if (r && failed && flen < failed_size) {
			int w = snprintf(failed + flen, failed_size - flen, "%s'%s'",
					 flen ? ", " : "", rc->name);
			flen += w > 0 ? (size_t)w : 0;
		}
	}
	if (!any) {
		char src[512];
		conf_describe_sources(c, src, sizeof(src));
		return error_set(err, CB_ERR_USAGE, "there is no remote named '%s'; %s", only, src);
	}
	return worst;
}

