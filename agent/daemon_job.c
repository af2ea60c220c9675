/*
 * The agent's backup worker: one thread that takes a job (a backup of one
 * type, everything it needs copied in), makes the backup, applies the local
 * retention, and hands the result back to the loop through an eventfd.
 */
#include "agent/daemon_internal.h"

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
	free(j);
}

/* The worker: lock, back up, prune. */
static void run_job(struct job *j)
{
	struct dir_lock lock = {.fd = -1};
	struct error *err = &j->err;
	double start = time_mono();

	j->result = fs_mkdirs(j->dir, 0700, err);
	if (!j->result)
		j->result = dir_lock_acquire(&lock, j->dir, "agent", j->lock_timeout, err);
	if (!j->result) {
		local_cleanup_stale(j->dir);
		struct backup_opts bo = {
			.db_path = j->db_path,
			.dir = j->dir,
			.type = j->type,
			.level = j->level,
			.threads = j->threads,
			.busy_timeout = j->busy_timeout,
		};
		j->result = backup_make(&bo, &j->out, err);
	}
	if (!j->result) {
		oplog_record(j->dir, "backup", j->out.meta.name, CB_OK, j->out.seconds, NULL);
		struct error perr = {0};
		char stem[BACKUP_STEM_MAX + 1];
		backup_db_stem(j->db_path, stem, sizeof(stem));
		if (prune_local(j->dir, stem, &j->keep, j->held, j->n_held, time_now(), false, NULL,
				&j->pruned, &perr)) {
			log_warn("agent", "retention failed: %s", perr.msg);
		} else if (j->pruned.deleted) {
			char freed[32], detail[96];
			format_size(j->pruned.freed, freed, sizeof(freed));
			snprintf(detail, sizeof(detail), "deleted %zu, freed %s, kept %zu",
				 j->pruned.deleted, freed, j->pruned.kept);
			oplog_record(j->dir, "prune", NULL, CB_OK, 0, detail);
			log_info("agent", "retention: %s", detail);
		}
	} else if (j->result != CB_ERR_INTERRUPTED) {
		oplog_record(fs_exists(j->dir) ? j->dir : NULL, "backup", NULL, j->result,
			     time_mono() - start, err->msg);
	}
	dir_lock_release(&lock);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->job && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit)
			break;
		struct job *j = w->job;
		w->job = NULL;
		pthread_mutex_unlock(&w->mu);
		run_job(j);
		pthread_mutex_lock(&w->mu);
		w->done = j;
		uint64_t one = 1;
		(void)!write(w->done_fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

enum result daemon_worker_start(struct worker *w, struct error *err)
{
	memset(w, 0, sizeof(*w));
	w->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->done_fd < 0)
		return error_set(err, CB_ERR_IO, "cannot create an eventfd: %s", strerror(errno));
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		close(w->done_fd);
		w->done_fd = -1;
		return error_set(err, CB_ERR_INTERNAL, "cannot start the worker thread");
	}
	return CB_OK;
}

void daemon_worker_stop(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	job_free(w->job);
	job_free(w->done);
	close(w->done_fd);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
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
	j->level = d->conf.compression;
	j->threads = d->conf.threads;
	j->lock_timeout = d->conf.lock_timeout;
	j->busy_timeout = d->conf.busy_timeout;
	j->keep = d->conf.local_keep;
	if (!j->db_path || !j->dir || !copy_holdings(d, j)) {
		job_free(j);
		return;
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
	pthread_mutex_lock(&d->worker.mu);
	d->worker.job = j;
	pthread_cond_signal(&d->worker.cv);
	pthread_mutex_unlock(&d->worker.mu);
}

void daemon_finish_job(struct daemon *d)
{
	uint64_t n;
	(void)!read(d->worker.done_fd, &n, sizeof(n));
	pthread_mutex_lock(&d->worker.mu);
	struct job *j = d->worker.done;
	d->worker.done = NULL;
	pthread_mutex_unlock(&d->worker.mu);
	if (!j)
		return;
	d->busy = false;
	daemon_set_activity(d, "%s", "idle");
	if (j->result == CB_OK) {
		struct state_last *l = &d->state.last[j->type];
		l->set = true;
		snprintf(l->name, sizeof(l->name), "%s", j->out.meta.name);
		l->time = j->out.meta.created;
		l->seconds = j->out.seconds;
		d->state.made[j->type]++;
		d->fp = d->fp_job;
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
