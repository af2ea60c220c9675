/*
 * cbsync restore by time: --latest, --before, --at.
 *
 * The candidates chosen by time (restore_choosable) become the planner's
 * snapshots (agent/tiers/pitr.h), each at the time of its state -- from
 * its metadata; for --before at its created time, which is what --before
 * has always compared -- and the increments of their chains, on every tier
 * listed, become its increments.  Only metadata that can matter is read: an
 * older snapshot only if its chain's names reach past the best state found
 * so far (or --fallback may come to it), an increment only if it starts at
 * or before the time.  With
 * --type, snapshots of that type are restored as they are, without
 * increments.
 *
 * The plan is applied as engine/restore.h says: the snapshot's image into
 * the temp file beside the target, each increment streamed from its tier
 * through every check of engine/chain.h, PRAGMA integrity_check, a restore
 * point, the install.  Whatever fails a check is named, and nothing is
 * installed; with --fallback that copy is left out and the plan made again
 * (another tier's copy of it, else an older state).
 */
#include "agent/cli/format.h"
#include "agent/cli/restore_internal.h"
#include "agent/tiers/oplog.h"
#include "agent/tiers/pitr.h"
#include "agent/tiers/tier_local.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The planner's view of the tiers, and what it refers back to. */
struct by_time {
	struct restore_ctx *x;
	int64_t at_ms;             /* the time the plan may not pass */
	struct pitr_snap *snaps;   /* ref: index into the candidates */
	size_t n_snaps;
	struct pitr_incr *incrs;   /* ref: index into the listed increments */
	size_t n_incrs;
	const struct pitr_plan *plan;   /* the plan being applied */
};

static const struct candidate *snap_cand(const struct by_time *b, size_t snap)
{
	return &b->x->cands->items[b->snaps[snap].ref];
}

static struct incr_candidate *incr_cand(const struct by_time *b, size_t incr)
{
	return &b->x->cands->incrs[b->incrs[incr].ref];
}

/* The latest time the names of snapshot's listed increments reach (their
 * last transaction's second, to its end), or INT64_MIN without any. */
static int64_t chain_reach(const struct candidate_list *cands, const char *snapshot)
{
	int64_t reach = INT64_MIN;
	for (size_t i = 0; i < cands->n_incrs; i++) {
		const struct incr_name *n = &cands->incrs[i].e.parsed;
		if (strcmp(n->snapshot, snapshot) == 0 && n->last * 1000 + 999 > reach)
			reach = n->last * 1000 + 999;
	}
	return reach;
}

static bool have_snap(const struct by_time *b, const char *name)
{
	for (size_t i = 0; i < b->n_snaps; i++)
		if (strcmp(b->snaps[i].name, name) == 0)
			return true;
	return false;
}

/* The candidates that may be restored from, newest first, at their state
 * times: with all, every one; else those that can give the plan. */
static enum result gather_snaps(struct by_time *b, bool all, struct error *err)
{
	struct restore_ctx *x = b->x;
	const struct candidate_list *cands = x->cands;
	bool found = false;
	int64_t best = INT64_MIN;
	if (!(b->snaps = calloc(cands->n + 1, sizeof(*b->snaps))))
		return error_nomem(err);
	for (size_t i = 0; i < cands->n; i++) {
		if (!restore_choosable(x, i))
			continue;
		const struct candidate *cand = &cands->items[i];
		/* Made after the time: its state is later still. */
		if (!all && cand->parsed.created * 1000 > b->at_ms)
			continue;
		/* An older snapshot can only win through its chain -- unless
		 * --fallback comes to it, as it comes to another copy of one
		 * already taken. */
		bool chains = !x->cli->type;
		if (!all && found && !x->cli->fallback && !have_snap(b, cand->name) &&
		    (!chains || chain_reach(cands, cand->name) < best))
			continue;
		int64_t state = cand->parsed.created * 1000;
		if (!x->cli->before && cand->has_meta) {
			/* Unreadable metadata is for the fetch to refuse, by name. */
			struct backup_meta m;
			struct error merr = {0};
			enum result r = tiers_candidate_meta(x->set, cand, &m, &merr);
			if (r == CB_ERR_NOMEM)
				return error_nomem(err);
			if (r == CB_OK)
				state = meta_state_ms(&m);
		}
		b->snaps[b->n_snaps++] = (struct pitr_snap){.name = cand->name, .state_ms = state,
							    .size = cand->size, .ref = i};
		if (state <= b->at_ms) {
			found = true;
			if (state > best)
				best = state;
		}
	}
	return CB_OK;
}

/* The listed increments of the gathered snapshots' chains, their metadata
 * read where it can matter. */
static enum result gather_incrs(struct by_time *b, struct error *err)
{
	struct restore_ctx *x = b->x;
	struct candidate_list *cands = x->cands;
	if (!(b->incrs = calloc(cands->n_incrs + 1, sizeof(*b->incrs))))
		return error_nomem(err);
	if (x->cli->type)
		return CB_OK;
	for (size_t k = 0; k < cands->n_incrs; k++) {
		struct incr_candidate *ic = &cands->incrs[k];
		if (!have_snap(b, ic->e.parsed.snapshot))
			continue;
		struct pitr_incr *in = &b->incrs[b->n_incrs++];
		*in = (struct pitr_incr){.key = ic->e.key, .has_data = ic->e.has_data,
					 .size = ic->e.size, .ref = k};
		/* One that starts after the time is neither a state nor a link
		 * to one (times never go back along a chain). */
		if (ic->e.parsed.first * 1000 > b->at_ms || !ic->e.has_data)
			continue;
		struct error merr = {0};
		enum result r = tier_read_incr_meta(&x->set->tiers[ic->tier], &ic->e, &merr);
		if (r == CB_ERR_NOMEM)
			return error_nomem(err);
		if (r == CB_OK)
			in->meta = ic->e.meta;
		else if (r == CB_ERR_NOT_FOUND)
			in->problem = "its metadata is missing";
		else if ((ic->e.meta_error = strdup(merr.msg)))
			in->problem = ic->e.meta_error;
	}
	return CB_OK;
}

/* The chosen chain breaks before the time asked for (an increment whose
 * object is there but that cannot be applied: unusable metadata, a gap, a
 * wrong predecessor, one that failed its checks): the plan stops short of
 * the state asked for.  That is refused, naming the increment -- unless
 * --fallback accepts the state before the break, with a warning. */
static enum result check_break(const struct by_time *b, const struct pitr_plan *p,
			       struct error *err)
{
	struct pitr_chain ch;
	enum result r = pitr_chain_of(b->snaps, p->snap, b->incrs, b->n_incrs, &ch, err);
	if (r)
		return r;
	/* The first increment past the end matters if its state may be at or
	 * before the time: its name's last second says it is not before. */
	const struct pitr_incr *next = ch.lost ? &b->incrs[ch.first_lost] : NULL;
	int64_t next_at = !next ? 0 : next->meta ? pitr_incr_at(next->meta)
					       : incr_cand(b, ch.first_lost)->e.parsed.last * 1000;
	if (next && p->reach_ms >= ch.path.reach_ms && next_at <= b->at_ms) {
		char at[32];
		time_format_iso_ms(p->reach_ms, at, sizeof(at));
		if (b->x->cli->fallback)
			fprintf(stderr, "warning: the chain of %s breaks before the time asked "
				"for: %s; restoring the state at %s, the last before the break "
				"(--fallback)\n", b->snaps[p->snap].name, ch.why, at);
		else
			r = error_set(err, CB_ERR_CORRUPT,
				      "the chain of %s breaks before the time asked for: %s; "
				      "nothing was restored; HINT: --fallback restores the state "
				      "before the break, at %s", b->snaps[p->snap].name, ch.why, at);
	}
	pitr_chain_free(&ch);
	return r;
}

/* "local" or "local, remote 'offsite'": the tiers the plan's increments
 * come from. */
static void step_tiers(const struct by_time *b, const struct pitr_plan *p, char *buf,
		       size_t size)
{
	struct tier_set *set = b->x->set;
	size_t o = 0;
	buf[0] = '\0';
	for (size_t t = 0; t < set->n && o < size; t++) {
		bool used = false;
		for (size_t k = 0; k < p->n_steps && !used; k++)
			used = incr_cand(b, p->steps[k])->tier == t;
		if (!used)
			continue;
		char label[96];
		tier_label(&set->tiers[t], label, sizeof(label));
		o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? ", " : "", label);
	}
}

static enum result print_plan(const struct by_time *b, const struct pitr_plan *p,
			      struct error *err)
{
	const struct restore_ctx *x = b->x;
	const struct candidate *cand = snap_cand(b, p->snap);
	char where[96], size[32], at[32];
	if (x->cli->json) {
		struct restore_summary sum = {
			.outcome = "dry_run", .what = cand->name, .backup = cand->name,
			.tier = x->set->tiers[cand->tier].name, .target = x->target,
			.increments = p->n_steps, .state_ms = p->reach_ms,
			.read_bytes = (int64_t)p->bytes, .seconds = time_mono() - x->start,
		};
		return restore_print(x->cli, &sum, err);
	}
	tier_label(&x->set->tiers[cand->tier], where, sizeof(where));
	format_size(cand->size, size, sizeof(size));
	printf("Would restore %s from %s (%s)\n", cand->name, where, size);
	if (p->n_steps) {
		char tiers[256];
		uint64_t bytes = p->bytes - cand->size;
		step_tiers(b, p, tiers, sizeof(tiers));
		format_size(bytes, size, sizeof(size));
		printf("  then %zu increment%s from %s (%s):\n", p->n_steps,
		       p->n_steps == 1 ? "" : "s", tiers, size);
		/* Compactly: the first three and the last two of a long chain. */
		for (size_t k = 0; k < p->n_steps; k++) {
			if (p->n_steps > 6 && k == 3) {
				printf("    ... %zu more ...\n", p->n_steps - 5);
				k = p->n_steps - 3;
				continue;
			}
			printf("    %s\n", b->incrs[p->steps[k]].key);
		}
	}
	time_format_iso_ms(p->reach_ms, at, sizeof(at));
	printf("  State at:        %s", at);
	if (x->cli->at || x->cli->before) {
		time_format_iso_ms(b->at_ms, at, sizeof(at));
		printf(" (the newest at or before %s)", at);
	}
	format_size(p->bytes, size, sizeof(size));
	printf("\n  Would read:      %s (%llu bytes)\n", size, (unsigned long long)p->bytes);
	printf("  Into:            %s%s\n", x->target,
	       !x->cli->to && fs_exists(x->target) ? " (after a restore point of it)" : "");
	printf("Nothing was restored (--dry-run)\n");
	return CB_OK;
}

/* restore_chain.fetch: the plan's step k from its tier. */
static enum result fetch_step(void *ctx, size_t k, stream_write_fn sink, void *sink_ctx,
			      struct error *err)
{
	const struct by_time *b = ctx;
	return tiers_fetch_incr(b->x->set, incr_cand(b, b->plan->steps[k]), sink, sink_ctx, err);
}

/* Restore what plan p says; *failed: what failed its checks (the step, or
 * SIZE_MAX for the snapshot). */
static enum result apply(struct by_time *b, const struct pitr_plan *p, size_t *failed,
			 struct error *err)
{
	struct restore_ctx *x = b->x;
	const struct conf *c = &x->cli->conf;
	const struct candidate *cand = snap_cand(b, p->snap);
	struct restore_opts ro = restore_opts_of(x->cli);
	ro.seal = c->local_encrypt ? x->set->keys : NULL;
	const struct incr_meta **steps = calloc(p->n_steps + 1, sizeof(*steps));
	struct restore_job job;
	struct restore_outcome out;
	struct check_result check;
	struct backup_meta meta;
	bool have_meta = false;
	struct progress bar;
	char where[96];
	enum result r;

	*failed = SIZE_MAX;
	memset(&out, 0, sizeof(out));
	tier_label(&x->set->tiers[cand->tier], where, sizeof(where));
	if (!steps)
		return error_nomem(err);
	uint64_t step_bytes = 0;
	for (size_t k = 0; k < p->n_steps; k++) {
		steps[k] = b->incrs[p->steps[k]].meta;
		step_bytes += b->incrs[p->steps[k]].size;
	}
	if ((r = restore_begin(&job, &ro, err))) {
		free(steps);
		return r;
	}
	progress_start(&bar, "restore", cand->size);
	bar.enabled = bar.enabled && !x->drill;
	if (p->n_steps == 0) {
		r = tiers_fetch(x->set, cand, job.tmp.fd, job.tmp.tmp_path, &bar, &check, &meta,
				&have_meta, err);
	} else if (!(r = tiers_fetch_image(x->set, cand, job.tmp.fd, job.tmp.tmp_path, &bar,
					   &check, &meta, &have_meta, err))) {
		progress_end(&bar);
		progress_start(&bar, "increments", step_bytes);
		bar.enabled = bar.enabled && !x->drill;
		b->plan = p;
		struct restore_chain rc = {
			.snapshot = cand->name,
			.page_size = have_meta ? (uint32_t)meta.page_size
					       : check_image_page_size(job.tmp.fd),
			.state_checksum = have_meta && meta.has_state_checksum
						  ? &meta.state_checksum : NULL,
			.steps = steps, .n_steps = p->n_steps,
			.fetch = fetch_step, .ctx = b, .bar = &bar,
		};
		r = restore_apply_chain(job.tmp.fd, job.tmp.tmp_path, &rc, &check, failed, err);
		if (r && *failed != SIZE_MAX)
			tier_label(&x->set->tiers[incr_cand(b, p->steps[*failed])->tier], where,
				   sizeof(where));
	}
	progress_end(&bar);
	if (!r)
		r = restore_install(&job, &check, &out, err);
	restore_end(&job);
	free(steps);
	if (out.made_restore_point)
		oplog_record(c->local_dir, "backup", out.restore_point_name, CB_OK,
			     out.restore_point_seconds, NULL);
	double seconds = time_mono() - x->start;
	char what[BACKUP_NAME_MAX + 600], at[32];
	time_format_iso_ms(p->reach_ms, at, sizeof(at));
	if (r) {
		error_prefix(err, "%s", where);
		if (!x->drill)
			oplog_record(c->local_dir, "restore", cand->name, r, seconds, err->msg);
		return r;
	}
	/* "local", or "local + 12 increments" (from where they came, if
	 * that is not where the snapshot came from). */
	char source[512];
	snprintf(source, sizeof(source), "%s", where);
	if (p->n_steps) {
		char tiers[256];
		step_tiers(b, p, tiers, sizeof(tiers));
		size_t o = strlen(source);
		snprintf(source + o, sizeof(source) - o, " + %zu increment%s%s%s", p->n_steps,
			 p->n_steps == 1 ? "" : "s", strcmp(tiers, where) ? " from " : "",
			 strcmp(tiers, where) ? tiers : "");
	}
	if (x->drill) {
		struct restore_report *rep = x->drill;
		snprintf(rep->snapshot, sizeof(rep->snapshot), "%s", cand->name);
		snprintf(rep->source, sizeof(rep->source), "%s", source);
		rep->increments = p->n_steps;
		rep->state_ms = p->reach_ms;
		rep->check = check;
		return CB_OK;
	}
	snprintf(what, sizeof(what), "%s from %s", cand->name, source);
	struct restore_summary sum = {
		.outcome = "restored", .what = what, .backup = cand->name,
		.tier = x->set->tiers[cand->tier].name, .target = x->target, .out = &out,
		.check = &check, .increments = p->n_steps, .state_ms = p->reach_ms,
		.read_bytes = -1, .seconds = seconds,
	};
	struct error perr = {0};
	restore_print(x->cli, &sum, &perr);
	char detail[sizeof(source) + PATH_MAX + 80];
	snprintf(detail, sizeof(detail), "%s, state at %s, into %s", source, at, x->target);
	oplog_write(c->local_dir, &(struct oplog_event){
		.op = "restore", .object = cand->name, .tier = x->set->tiers[cand->tier].name,
		.bytes = (int64_t)check.data_size, .seconds = seconds, .detail = detail});
	return CB_OK;
}

/* Leave out what failed its checks, for the next plan. */
static void drop(struct by_time *b, const struct pitr_plan *p, size_t failed)
{
	if (failed == SIZE_MAX) {
		memmove(&b->snaps[p->snap], &b->snaps[p->snap + 1],
			(b->n_snaps - p->snap - 1) * sizeof(*b->snaps));
		b->n_snaps--;
		return;
	}
	struct pitr_incr *in = &b->incrs[p->steps[failed]];
	in->meta = NULL;
	in->problem = "it failed its checks";
}

/* Nothing is at or before the time: the line that names the oldest and
 * newest states restorable (their metadata read in full for it). */
static enum result none_early_enough(struct restore_ctx *x, int64_t at_ms, struct error *err)
{
	struct by_time all = {.x = x, .at_ms = PITR_LATEST};
	int64_t oldest, newest;
	enum result r;
	char at[32], o[32], n[32];
	if (!(r = gather_snaps(&all, true, err)) && !(r = gather_incrs(&all, err))) {
		time_format_iso_ms(at_ms, at, sizeof(at));
		if (pitr_span(all.snaps, all.n_snaps, all.incrs, all.n_incrs, &oldest, &newest)) {
			time_format_iso_ms(oldest, o, sizeof(o));
			time_format_iso_ms(newest, n, sizeof(n));
			r = error_set(err, CB_ERR_NOT_FOUND,
				      "Backup not found: no state of %s at or before %s can be "
				      "restored; the oldest restorable state is at %s, the newest "
				      "at %s", x->stem, at, o, n);
		} else {
			r = error_set(err, CB_ERR_NOT_FOUND, "Backup not found: no backup of %s",
				      x->stem);
		}
	}
	free(all.snaps);
	free(all.incrs);
	return r;
}

enum result restore_by_time(struct restore_ctx *x, struct error *err)
{
	const struct conf *c = &x->cli->conf;
	struct by_time b = {.x = x, .at_ms = x->at_ms};
	struct error last = {0};
	enum result r;

	/* --latest: the newest state, but not one dated ahead of the clock. */
	if (!x->cli->at && !x->cli->before)
		b.at_ms = (x->now + FUTURE_TOLERANCE) * 1000;
	if ((r = gather_snaps(&b, false, err)) || (r = gather_incrs(&b, err)))
		goto done;
	for (;;) {
		struct pitr_plan plan;
		if ((r = pitr_plan(b.snaps, b.n_snaps, b.incrs, b.n_incrs, b.at_ms, &plan, err))) {
			if (r == CB_ERR_NOT_FOUND && last.code) {
				*err = last;
				r = last.code;
				error_prefix(err, "no candidate passed its checks; the last");
			} else if (r == CB_ERR_NOT_FOUND) {
				r = none_early_enough(x, b.at_ms, err);
			}
			break;
		}
		if ((r = check_break(&b, &plan, err))) {
			pitr_plan_free(&plan);
			break;
		}
		if (x->cli->dry_run) {
			if (!(r = restore_dry_target(x->cli, x->target, err)))
				r = print_plan(&b, &plan, err);
			pitr_plan_free(&plan);
			break;
		}
		if (!x->drill && x->lock->fd < 0 &&
		    (r = local_lock(c->local_dir, c->lock_timeout, "restore", x->lock, err))) {
			pitr_plan_free(&plan);
			break;
		}
		size_t failed;
		r = apply(&b, &plan, &failed, err);
		/* A roll-up is a shortcut, not a state of its own: one that fails
		 * its checks is left out and the same state reached without it. */
		struct incr_name fn;
		bool rollup = r == CB_ERR_CORRUPT && failed != SIZE_MAX &&
			      incr_name_parse(b.incrs[plan.steps[failed]].key, &fn) && fn.rollup;
		if (r == CB_OK || r != CB_ERR_CORRUPT || (!x->cli->fallback && !rollup)) {
			pitr_plan_free(&plan);
			break;
		}
		if (rollup)
			fprintf(stderr, "warning: %s; restoring without that roll-up\n", err->msg);
		else
			fprintf(stderr, "%s; trying the next candidate (--fallback)\n", err->msg);
		last = *err;
		drop(&b, &plan, failed);
		pitr_plan_free(&plan);
	}
done:
	free(b.snaps);
	free(b.incrs);
	return r;
}
