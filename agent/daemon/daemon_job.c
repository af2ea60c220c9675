/*
 * The agent's backup worker: a worker thread (agent/worker.h) whose jobs are
 * a backup of one type with everything it needs copied in; it makes the
 * backup and applies the local retention (agent/cycle.h), and the loop
 * takes the result back.
 */
#include "agent/daemon/daemon_internal.h"

static void job_free(struct job *j)
{
	if (!j)
		return;
	for (size_t i = 0; i < j->n_held; i++)
		holdings_free(&j->held[i]);
	free(j->held);
	free(j->held_keep);
	free(j->db_path);
	free(j->dir);
	free(j->rebase_why);
	keyring_free(j->seal);
	free(j);
}

/* The worker: one cycle without its push (the remotes' own workers sync
 * once the loop hears of the backup): back up -- or, with replication,
 * capture an increment -- then the local retention after a backup. */
static void run_job(void *arg, void *ctx)
{
	struct job *j = arg;
	(void)ctx;
	if (j->failed_early)
		return;
	if (j->capture) {
		j->result = cycle_capture(&j->settings, j->first_ms, &j->inc, &j->made_backup,
					  &j->out, &j->err);
	} else {
		j->result = cycle_backup(&j->settings, j->type, "agent", false, &j->out, &j->err);
		j->made_backup = !j->result;
	}
	if (j->result || !j->made_backup)
		return;
	struct error perr = {0};
	if (cycle_prune_local(&j->settings, "agent", j->held, j->n_held, time_now(), false, NULL,
			      &j->pruned, &perr)) {
		log_warn("agent", "retention failed: %s", perr.msg);
	} else if (j->pruned.deleted) {
		char detail[128];
		cycle_record_prune(j->dir, &j->pruned, 0, detail, sizeof(detail));
		log_info("agent", "retention: %s", detail);
	}
}

static void free_job(void *job, void *ctx)
{
	(void)ctx;
	job_free(job);
}

static const struct worker_ops backup_ops = {.run = run_job, .free_job = free_job};

enum result daemon_worker_start(struct daemon *d, struct error *err)
{
	return worker_start(&d->worker, &backup_ops, d, err);
}

/* Give the job its own copy of what each remote holds (the loop may replace
 * the slots while the job runs). */
static bool copy_holdings(struct daemon *d, struct job *j)
{
	j->n_held = 0;
	j->held = calloc(d->n_remotes + 1, sizeof(*j->held));
	j->held_keep = calloc(d->n_remotes + 1, sizeof(*j->held_keep));
	if (!j->held || !j->held_keep)
		return false;
	for (size_t i = 0; i < d->n_remotes; i++) {
		const struct remote_holdings *from = &d->remotes[i].held;
		struct remote_holdings *to = &j->held[j->n_held++];
		j->held_keep[i] = *from->keep;
		to->keep = &j->held_keep[i];
		to->name = NULL;
		to->known = from->known;
		to->held = calloc(from->n_held + 1, sizeof(*to->held));
		if (!to->held)
			return false;
		for (size_t k = 0; k < from->n_held; k++) {
			if (!(to->held[k] = strdup(from->held[k])))
				return false;
			to->n_held++;
		}
	}
	return true;
}

static void start_job(struct daemon *d, enum backup_type type)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->type = type;
	j->db_path = strdup(d->conf.db_path);
	j->dir = strdup(d->conf.local_dir);
	j->keep = d->conf.local_keep;
	cycle_settings_of(&j->settings, &d->conf);
	j->settings.db_path = j->db_path;
	j->settings.dir = j->dir;
	j->settings.keep = &j->keep;
	if (!j->db_path || !j->dir || !copy_holdings(d, j)) {
		job_free(j);
		return;
	}
	/* The keys are read here, while the configuration is sure to be there
	 * (a reload frees it); a failure is the job's. */
	if (d->conf.local_encrypt) {
		if ((j->result = keyring_load(&d->conf, &j->seal, &j->err)))
			j->failed_early = true;
		j->settings.seal = j->seal;
	}
	/* With replication on, changes become increments; the first one
	 * covered was seen at deb.first_change (monotonic). */
	j->capture = type == BT_CHANGE && d->conf.replicate_enabled;
	for (size_t i = 0; j->capture && i < d->n_remotes && !j->rebase_why; i++)
		if (d->remotes[i].broken[0] &&
		    asprintf(&j->rebase_why, "remote '%s': %s", remote_worker_name(d->remotes[i].w),
			     d->remotes[i].broken) < 0)
			j->rebase_why = NULL;
	j->settings.rebase_why = j->rebase_why;
	if (j->capture) {
		double age = d->deb.dirty ? time_mono() - d->deb.first_change : 0;
		j->first_ms = time_now_ms() - (int64_t)(age * 1000);
	}
	/* Changes seen from here on are not in this backup. */
	db_fingerprint_take(d->conf.db_path, &d->fp_job);
	debounce_started(&d->deb, time_mono(), type == BT_CHANGE);
	if (type != BT_CHANGE)
		d->pending[type] = false;
	d->busy = true;
	d->busy_type = type;
	daemon_set_activity(d, "backing up (%s)", backup_type_name(type));
	daemon_save_state(d);
	worker_submit(d->worker, j);
}

/* An increment made (or nothing to capture): the database as it was when
 * the capture started is covered; each remote is asked to ship it, and
 * counts it as unshipped (its lag) until a sync begun after it ends well. */
static void finish_capture(struct daemon *d, struct job *j)
{
	d->fp = d->fp_job;
	d->state.fingerprint = d->fp;
	d->state.have_fingerprint = true;
	d->backoff = 0;
	d->not_before = 0;
	d->waiting_for_db = false;
	/* A commit was on its way: its publication makes no file event, so
	 * the next capture is due as if it had. */
	if (j->inc.pending)
		debounce_change(&d->deb, time_mono());
	if (j->inc.route == REPLICATE_WAL) {
		d->state.captures_wal++;
		d->state.restarts_followed += j->inc.followed_restart;
	} else if (j->inc.route == REPLICATE_DIFF) {
		d->state.captures_diff++;
		d->state.last_diff_time = time_now();
		snprintf(d->state.last_diff_reason, sizeof(d->state.last_diff_reason), "%s",
			 j->inc.fallback);
	}
	if (j->inc.made) {
		struct state_last *l = &d->state.last[BT_CHANGE];
		l->set = true;
		snprintf(l->name, sizeof(l->name), "%s", j->inc.name);
		l->time = time_now();
		l->seconds = 0;
	}
	daemon_save_state(d);
	if (j->inc.made) {
		int64_t since = j->first_ms > 0 ? j->first_ms / 1000 : time_now();
		for (size_t i = 0; i < d->n_remotes; i++) {
			struct remote_slot *s = &d->remotes[i];
			if (!s->st->unshipped_since)
				s->st->unshipped_since = since;
			if (remote_worker_busy(s->w) && !s->next_unshipped)
				s->next_unshipped = since;
		}
		daemon_remotes_request_all(d);
	}
	if (j->inc.made) {
		char size[32], route[200];
		format_size(j->inc.bytes, size, sizeof(size));
		cycle_capture_route(&j->inc, route, sizeof(route));
		log_info("agent", "increment made: %s (%u page%s, %s, %s)", j->inc.name,
			 j->inc.pages, j->inc.pages == 1 ? "" : "s", size, route);
	}
}

void daemon_finish_job(struct daemon *d)
{
	struct job *j = worker_take(d->worker);
	if (!j)
		return;
	d->busy = false;
	daemon_set_activity(d, "%s", "idle");
	if (j->result == CB_OK && !j->made_backup) {
		finish_capture(d, j);
		job_free(j);
		return;
	}
	if (j->result == CB_OK) {
		struct state_last *l = &d->state.last[j->type];
		l->set = true;
		snprintf(l->name, sizeof(l->name), "%s", j->out.meta.name);
		l->time = j->out.meta.created;
		l->seconds = j->out.seconds;
		d->state.made[j->type]++;
		daemon_alert_snapshot(d, j->out.meta.created);
		d->fp = d->fp_job;
		/* A new chain: what kept a remote from following the old one is
		 * for the next sync to judge again. */
		for (size_t i = 0; i < d->n_remotes; i++)
			d->remotes[i].broken[0] = '\0';
		daemon_remotes_request_all(d);
		d->state.fingerprint = d->fp;
		d->state.have_fingerprint = true;
		d->backoff = 0;
		d->not_before = 0;
		d->waiting_for_db = false;
		/* State (and so /metrics) first, then the log line. */
		daemon_save_state(d);
		char orig[32], comp[32];
		format_size((uint64_t)j->out.meta.original_size, orig, sizeof(orig));
		format_size((uint64_t)j->out.meta.compressed_size, comp, sizeof(comp));
		log_info("agent", "%s backup made: %s (%s -> %s, %.1f%% saved) in %.2fs",
			 backup_type_name(j->type), j->out.path, orig, comp,
			 meta_ratio(j->out.meta.original_size, j->out.meta.compressed_size),
			 j->out.seconds);
		job_free(j);
		return;
	} else if (j->result == CB_ERR_INTERRUPTED) {
		log_info("agent", "abandoned the %s backup in flight", backup_type_name(j->type));
		if (j->type != BT_CHANGE)
			d->pending[j->type] = true;
		debounce_failed(&d->deb);
	} else {
		if (j->type != BT_CHANGE)
			d->pending[j->type] = true;
		debounce_failed(&d->deb);
		d->waiting_for_db = j->result == CB_ERR_NOT_FOUND;
		d->backoff = backoff_step(d->backoff, RETRY_FIRST, RETRY_MAX, false);
		d->not_before = time_mono() + d->backoff;
		d->state.failures++;
		d->state.have_error = true;
		d->state.error_time = time_now();
		snprintf(d->state.error, sizeof(d->state.error), "%s backup: %s",
			 backup_type_name(j->type), j->err.msg);
		log_error("agent", "%s backup failed: %s; retrying in %.0fs",
			  backup_type_name(j->type), j->err.msg, d->backoff);
	}
	job_free(j);
	daemon_save_state(d);
}

/* Start the next job if the worker is free: scheduled types first (each
 * once), then a change backup when it is due. */
void daemon_maybe_start(struct daemon *d)
{
	if (d->busy || d->stopping || time_mono() < d->not_before)
		return;
	for (size_t i = 0; i < sizeof(daemon_scheduled) / sizeof(*daemon_scheduled); i++) {
		if (d->pending[daemon_scheduled[i]]) {
			start_job(d, daemon_scheduled[i]);
			return;
		}
	}
	if (d->conf.watch_enabled && debounce_due(&d->deb) <= time_mono())
		start_job(d, BT_CHANGE);
}
