/*
 * The agent's event loop and its worker thread.
 */
#include "agent/daemon.h"
#include "agent/catalog.h"
#include "agent/backup.h"
#include "agent/debounce.h"
#include "agent/format.h"
#include "agent/lock.h"
#include "agent/metrics.h"
#include "agent/oplog.h"
#include "agent/prune.h"
#include "agent/remote_worker.h"
#include "agent/schedule.h"
#include "agent/state.h"
#include "agent/tier_local.h"
#include "agent/watch.h"
#include "common/cancel.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define RETRY_FIRST 5.0
#define RETRY_MAX 300.0

#define STALE_EVERY (24 * 3600)

static const enum backup_type scheduled[] = {BT_MONTHLY, BT_WEEKLY, BT_DAILY};

/* The loop's view of one remote: its worker and its retry state. */
struct remote_slot {
	struct remote_worker *w;
	const struct conf_remote *rc;
	struct remote_holdings held;  /* from its last good sync (unknown before) */
	struct state_remote *st;  /* its entry in the state file */
	bool pending;             /* a sync is wanted */
	double retry_at;          /* monotonic: not before */
	double backoff;
	int64_t last_stale;       /* wall clock of the last stale-upload sweep */
};

/* One backup for the worker: everything it needs is copied in, so the loop
 * may swap configurations while it runs. */
struct job {
	enum backup_type type;
	char *db_path;
	char *dir;
	int level;
	int threads;
	double lock_timeout;
	double busy_timeout;
	struct retention_policy keep;
	/* What each remote held at its last sync, copied: local pruning keeps
	 * what a remote wants and lacks. */
	struct remote_holdings *held;
	struct retention_policy *held_keep;
	size_t n_held;
	/* results */
	enum result result;
	struct error err;
	struct backup_outcome out;
	struct prune_result pruned;
};

struct worker {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *job;     /* set by the loop, taken by the worker */
	struct job *done;    /* set by the worker, taken by the loop */
	bool quit;
	int done_fd;         /* eventfd: written when a job is done */
};

struct daemon {
	struct conf conf;
	const struct conf_load_opts *opts;
	struct worker worker;
	struct watch *watch;
	int sig_fd;
	int timer_fd;
	bool busy;                      /* a job is with the worker */
	enum backup_type busy_type;
	bool pending[BT_COUNT];         /* scheduled types due */
	int64_t last_check;             /* schedules checked up to here (wall clock) */
	struct debounce deb;
	struct db_fingerprint fp;       /* at the start of the last backup */
	struct db_fingerprint fp_job;   /* taken as the running job started */
	double not_before;              /* retry backoff (monotonic) */
	double backoff;
	bool waiting_for_db;            /* the last job failed: no database */
	bool stopping;
	struct agent_state state;
	struct remote_slot *remotes;
	size_t n_remotes;
	struct remote_worker **retired;  /* from before a reload, finishing */
	size_t n_retired;
	unsigned seed;                   /* for retry jitter */
	struct metrics *metrics;         /* NULL unless [metrics] listen is set */
};

static void remotes_request_all(struct daemon *d);

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

static enum result worker_start(struct worker *w, struct error *err)
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

static void worker_stop(struct worker *w)
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

static const struct conf_schedule *schedule_of(const struct conf *c, enum backup_type t)
{
	return t == BT_DAILY ? &c->daily : t == BT_WEEKLY ? &c->weekly : &c->monthly;
}

static void save_state(struct daemon *d)
{
	struct error err = {0};
	d->state.updated = time_now();
	/* A change stays pending until the backup covering it has succeeded. */
	d->state.change_pending = d->deb.dirty || (d->busy && d->deb.was_dirty);
	if (d->state.change_pending) {
		/* Wall time of the first change the pending backup covers. */
		double first = d->busy && d->deb.was_dirty ? d->deb.was_first_change
							  : d->deb.first_change;
		d->state.change_since = time_now() - (int64_t)(time_mono() - first);
	} else {
		d->state.change_since = 0;
	}
	snprintf(d->state.database, sizeof(d->state.database), "%s", d->conf.db_path);
	if (fs_mkdirs(d->conf.local_dir, 0700, &err) || state_write(d->conf.local_dir, &d->state, &err))
		log_warn("agent", "cannot write the state file: %s", err.msg);
	metrics_publish(d->metrics, &d->state);
}

static void set_activity(struct daemon *d, const char *fmt, const char *arg)
{
	snprintf(d->state.activity, sizeof(d->state.activity), fmt, arg);
}

/* Arm the timerfd for the earliest next scheduled backup. */
static void arm_timer(struct daemon *d)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < sizeof(scheduled) / sizeof(*scheduled); i++) {
		enum backup_type t = scheduled[i];
		int64_t n = schedule_next(schedule_of(&d->conf, t), t, d->last_check);
		d->state.next[t] = n == INT64_MAX ? 0 : n;
		if (n < next)
			next = n;
	}
	struct itimerspec its = {0};
	if (next != INT64_MAX)
		its.it_value.tv_sec = (time_t)next;
	timerfd_settime(d->timer_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL);
}

/* Mark each scheduled type whose due time passed since the last check. */
static void check_schedules(struct daemon *d)
{
	int64_t now = time_now();
	for (size_t i = 0; i < sizeof(scheduled) / sizeof(*scheduled); i++) {
		enum backup_type t = scheduled[i];
		int64_t due = schedule_prev(schedule_of(&d->conf, t), t, now);
		if (due != INT64_MIN && due > d->last_check && !d->pending[t]) {
			d->pending[t] = true;
			log_info("agent", "%s backup due", backup_type_name(t));
		}
	}
	if (now > d->last_check)
		d->last_check = now;
	arm_timer(d);
}

/* Raise newest[] with the backups of this database that a remote holds. */
static void newest_on_remote(const struct conf_remote *rc, const char *stem,
			     int64_t newest[BT_COUNT])
{
	struct backend *b = NULL;
	struct backend_listing l = {0};
	struct remote_catalog cat = {0};
	struct error err = {0};
	if (backend_open(rc, &b, &err) || backend_list(b, "", &l, &err) ||
	    catalog_build(&l, &cat, &err)) {
		log_warn("agent", "catch-up cannot see remote '%s': %s", rc->name, err.msg);
	} else {
		catalog_keep_db(&cat, stem);
		for (size_t i = 0; i < cat.n; i++) {
			const struct remote_backup *rb = &cat.items[i];
			if (rb->has_data && rb->has_meta && rb->parsed.created > newest[rb->parsed.type])
				newest[rb->parsed.type] = rb->parsed.created;
		}
	}
	catalog_free(&cat);
	backend_listing_free(&l);
	backend_close(b);
}

/* At start, with catch_up: each scheduled type whose newest backup is older
 * than its last due time missed a run.  "Newest" is over every tier: after a
 * fresh machine restored from a remote, the remote's daily is as good as a
 * local one, and must not be made again minutes later.  The remotes are
 * listed only when the local tier alone would call for a catch-up. */
static void catch_up(struct daemon *d)
{
	struct local_list list;
	struct error err = {0};
	int64_t newest[BT_COUNT];
	char stem[BACKUP_STEM_MAX + 1];

	if (!d->conf.catch_up)
		return;
	if (local_list_scan(d->conf.local_dir, &list, &err)) {
		log_warn("agent", "cannot list backups for catch-up: %s", err.msg);
		return;
	}
	backup_db_stem(d->conf.db_path, stem, sizeof(stem));
	for (int t = 0; t < BT_COUNT; t++)
		newest[t] = INT64_MIN;
	for (size_t i = 0; i < list.n; i++) {
		const struct backup_name *b = &list.items[i].parsed;
		if (strcmp(b->db, stem) == 0 && b->created > newest[b->type])
			newest[b->type] = b->created;
	}
	local_list_free(&list);
	int64_t now = time_now();
	bool missing = false;
	for (size_t i = 0; i < sizeof(scheduled) / sizeof(*scheduled); i++) {
		enum backup_type t = scheduled[i];
		int64_t due = schedule_prev(schedule_of(&d->conf, t), t, now);
		missing |= due != INT64_MIN && newest[t] < due;
	}
	for (size_t r = 0; missing && r < d->conf.n_remotes; r++)
		newest_on_remote(&d->conf.remotes[r], stem, newest);
	for (size_t i = 0; i < sizeof(scheduled) / sizeof(*scheduled); i++) {
		enum backup_type t = scheduled[i];
		int64_t due = schedule_prev(schedule_of(&d->conf, t), t, now);
		if (due != INT64_MIN && newest[t] < due) {
			d->pending[t] = true;
			log_info("agent", "catching up: no %s backup since %s", backup_type_name(t),
				 newest[t] == INT64_MIN ? "ever" : "its last due time");
		}
	}
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
	set_activity(d, "backing up (%s)", backup_type_name(type));
	save_state(d);
	pthread_mutex_lock(&d->worker.mu);
	d->worker.job = j;
	pthread_cond_signal(&d->worker.cv);
	pthread_mutex_unlock(&d->worker.mu);
}

static void finish_job(struct daemon *d)
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
	set_activity(d, "%s", "idle");
	if (j->result == CB_OK) {
		struct state_last *l = &d->state.last[j->type];
		l->set = true;
		snprintf(l->name, sizeof(l->name), "%s", j->out.meta.name);
		l->time = j->out.meta.created;
		l->seconds = j->out.seconds;
		d->state.made[j->type]++;
		d->fp = d->fp_job;
		remotes_request_all(d);
		d->state.fingerprint = d->fp;
		d->state.have_fingerprint = true;
		d->backoff = 0;
		d->not_before = 0;
		d->waiting_for_db = false;
		char orig[32], comp[32];
		format_size((uint64_t)j->out.meta.original_size, orig, sizeof(orig));
		format_size((uint64_t)j->out.meta.compressed_size, comp, sizeof(comp));
		log_info("agent", "%s backup made: %s (%s -> %s, %.1f%% saved) in %.2fs",
			 backup_type_name(j->type), j->out.path, orig, comp,
			 meta_ratio(j->out.meta.original_size, j->out.meta.compressed_size),
			 j->out.seconds);
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
		d->backoff = d->backoff ? fmin(d->backoff * 2, RETRY_MAX) : RETRY_FIRST;
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
	save_state(d);
}

/* Start the next job if the worker is free: scheduled types first (each
 * once), then a change backup when it is due. */
static void maybe_start(struct daemon *d)
{
	if (d->busy || d->stopping || time_mono() < d->not_before)
		return;
	for (size_t i = 0; i < sizeof(scheduled) / sizeof(*scheduled); i++) {
		if (d->pending[scheduled[i]]) {
			start_job(d, scheduled[i]);
			return;
		}
	}
	if (d->conf.watch_enabled && debounce_due(&d->deb) <= time_mono())
		start_job(d, BT_CHANGE);
}

static void on_watch(struct daemon *d)
{
	if (!watch_read(d->watch))
		return;
	struct db_fingerprint now;
	db_fingerprint_take(d->conf.db_path, &now);
	/* While a job runs, compare with what it started from. */
	const struct db_fingerprint *ref = d->busy ? &d->fp_job : &d->fp;
	if (db_fingerprint_equal(&now, ref) || !now.exists)
		return;
	bool was_dirty = d->deb.dirty;
	debounce_change(&d->deb, time_mono());
	if (!was_dirty) {
		log_info("agent", "database changed; a change backup is due in %.0fs at the latest",
			 fmax(0, debounce_due(&d->deb) - time_mono()));
		save_state(d);
	}
	/* A backup that failed for lack of a database can go now. */
	if (d->waiting_for_db) {
		d->waiting_for_db = false;
		d->not_before = 0;
	}
}

/* Start a worker for every configured remote; each begins with a sync (to
 * repair whatever happened while the agent was not running). */
static void remotes_setup(struct daemon *d)
{
	d->remotes = calloc(d->conf.n_remotes ? d->conf.n_remotes : 1, sizeof(*d->remotes));
	d->n_remotes = 0;
	d->state.n_remotes = 0;
	if (!d->remotes)
		return;
	for (size_t i = 0; i < d->conf.n_remotes && i < STATE_MAX_REMOTES; i++) {
		const struct conf_remote *rc = &d->conf.remotes[i];
		struct error err = {0};
		struct remote_worker *w = NULL;
		char stem[BACKUP_STEM_MAX + 1];
		backup_db_stem(d->conf.db_path, stem, sizeof(stem));
		if (remote_worker_start(&w, rc, d->conf.local_dir, stem, &err)) {
			/* Checked at start and reload, so rare (out of memory,
			 * threads); still never silent: it shows as failing. */
			log_error("agent", "remote '%s' cannot run: %s", rc->name, err.msg);
			struct state_remote *st = &d->state.remotes[d->state.n_remotes++];
			memset(st, 0, sizeof(*st));
			snprintf(st->name, sizeof(st->name), "%s", rc->name);
			st->failing = true;
			st->last_attempt = time_now();
			snprintf(st->error, sizeof(st->error), "%s", err.msg);
			continue;
		}
		struct remote_slot *s = &d->remotes[d->n_remotes++];
		struct state_remote *st = &d->state.remotes[d->state.n_remotes++];
		memset(st, 0, sizeof(*st));
		snprintf(st->name, sizeof(st->name), "%s", rc->name);
		*s = (struct remote_slot){.w = w, .rc = rc, .st = st, .pending = true};
		s->held.name = rc->name;
		s->held.keep = &rc->keep;
		st->pending = true;
	}
}

/* Every configured remote must be able to work: its settings pass the
 * backend's own checks (credentials present, a usable URL, a key...).  The
 * agent refuses to start, and a reload is refused, rather than running on
 * with a remote silently dropped. */
static enum result remotes_check(const struct conf *c, struct error *err)
{
	for (size_t i = 0; i < c->n_remotes; i++) {
		struct backend *b = NULL;
		enum result r = backend_open(&c->remotes[i], &b, err);
		backend_close(b);
		if (r) {
			error_prefix(err, "the agent does not run with a remote that cannot work "
				     "(fix it, or remove its [remote] section)");
			return r == CB_ERR_NOMEM ? r : CB_ERR_CONFIG;
		}
	}
	if (c->n_remotes > STATE_MAX_REMOTES)
		return error_set(err, CB_ERR_CONFIG, "%zu remotes are configured; the agent runs "
				 "at most %d", c->n_remotes, STATE_MAX_REMOTES);
	return CB_OK;
}

static void remotes_request_all(struct daemon *d)
{
	for (size_t i = 0; i < d->n_remotes; i++) {
		d->remotes[i].pending = true;
		d->remotes[i].st->pending = true;
	}
}

static bool remotes_busy(struct daemon *d)
{
	for (size_t i = 0; i < d->n_remotes; i++)
		if (remote_worker_busy(d->remotes[i].w))
			return true;
	for (size_t i = 0; i < d->n_retired; i++)
		if (remote_worker_busy(d->retired[i]))
			return true;
	return false;
}

static void remotes_maybe_start(struct daemon *d)
{
	if (d->stopping)
		return;
	double now = time_mono();
	for (size_t i = 0; i < d->n_remotes; i++) {
		struct remote_slot *s = &d->remotes[i];
		if (!s->pending || now < s->retry_at || remote_worker_busy(s->w))
			continue;
		bool stale = time_now() - s->last_stale >= STALE_EVERY;
		if (stale)
			s->last_stale = time_now();
		s->pending = false;
		s->st->last_attempt = time_now();
		remote_worker_request(s->w, stale);
	}
}

/* Wait, after a failure, for backoff seconds plus or minus a fifth. */
static double jittered(struct daemon *d, double backoff)
{
	double f = 0.8 + 0.4 * (double)rand_r(&d->seed) / (double)RAND_MAX;
	return backoff * f;
}

static void remotes_on_done(struct daemon *d, struct remote_slot *s)
{
	struct remote_result res;
	if (!remote_worker_take_result(s->w, &res))
		return;
	struct state_remote *st = s->st;
	const char *name = remote_worker_name(s->w);
	struct backend_stats bs = {0};
	remote_worker_stats(s->w, &bs);
	st->requests = bs.requests;
	if (res.result == CB_OK) {
		if (st->failing)
			log_info("agent", "remote '%s' is reachable again", name);
		st->failing = false;
		st->error[0] = '\0';
		st->last_success = time_now();
		st->next_retry = 0;
		st->uploaded += res.stats.uploaded;
		st->bytes_up += res.stats.bytes;
		holdings_free(&s->held);
		s->held = res.stats.held;
		s->held.name = s->rc->name;
		s->held.keep = &s->rc->keep;
		memset(&res.stats.held, 0, sizeof(res.stats.held));
		if (res.stats.pruned.deleted)
			log_info("agent", "remote '%s': retention deleted %zu expired backup%s", name,
				 res.stats.pruned.deleted, res.stats.pruned.deleted == 1 ? "" : "s");
		s->backoff = 0;
		s->retry_at = 0;
		st->pending = s->pending;
		if (res.stats.uploaded) {
			char size[32];
			format_size(res.stats.bytes, size, sizeof(size));
			log_info("agent", "remote '%s': uploaded %zu backup%s (%s) in %.2fs", name,
				 res.stats.uploaded, res.stats.uploaded == 1 ? "" : "s", size,
				 res.seconds);
		} else {
			log_debug("agent", "remote '%s': in step (%zu backups)", name,
				  res.stats.present);
		}
		save_state(d);
		return;
	}
	sync_stats_free(&res.stats);
	if (res.result == CB_ERR_INTERRUPTED) {
		s->pending = true;
		return;
	}
	/* Give-up errors wait the longest; retry errors back off from the minimum. */
	bool give_up = res.result == CB_ERR_REMOTE || res.result == CB_ERR_CONFIG;
	s->backoff = give_up ? d->conf.sync_retry_max
		     : s->backoff ? fmin(s->backoff * 2, d->conf.sync_retry_max)
				  : d->conf.sync_retry_min;
	double wait = jittered(d, s->backoff);
	s->retry_at = time_mono() + wait;
	s->pending = true;
	st->pending = true;
	st->next_retry = time_now() + (int64_t)wait;
	st->sync_errors++;
	/* Logged once per change of state, not at every retry. */
	bool news = !st->failing || strcmp(st->error, res.err.msg) != 0;
	st->failing = true;
	snprintf(st->error, sizeof(st->error), "%s", res.err.msg);
	if (news)
		log_error("agent", "%s; %sretrying in %.0fs", res.err.msg,
			  give_up ? "this needs attention (credentials, bucket, host key or "
				    "permissions); "
				  : "",
			  wait);
	else
		log_debug("agent", "still failing: %s; retrying in %.0fs", res.err.msg, wait);
	save_state(d);
}

/* Stop the workers of a replaced configuration once they are idle. */
static void reap_retired(struct daemon *d)
{
	size_t w = 0;
	for (size_t i = 0; i < d->n_retired; i++) {
		if (remote_worker_busy(d->retired[i])) {
			d->retired[w++] = d->retired[i];
			continue;
		}
		struct remote_result ignored;
		if (remote_worker_take_result(d->retired[i], &ignored))
			sync_stats_free(&ignored.stats);
		remote_worker_stop(d->retired[i]);
	}
	d->n_retired = w;
}

static void remotes_retire_all(struct daemon *d)
{
	struct remote_worker **nr = realloc(d->retired,
					    (d->n_retired + d->n_remotes + 1) * sizeof(*nr));
	if (!nr) {
		for (size_t i = 0; i < d->n_remotes; i++)
			remote_worker_stop(d->remotes[i].w);
	} else {
		d->retired = nr;
		for (size_t i = 0; i < d->n_remotes; i++)
			d->retired[d->n_retired++] = d->remotes[i].w;
	}
	for (size_t i = 0; i < d->n_remotes; i++)
		holdings_free(&d->remotes[i].held);
	free(d->remotes);
	d->remotes = NULL;
	d->n_remotes = 0;
	reap_retired(d);
}

static void remotes_stop_all(struct daemon *d)
{
	for (size_t i = 0; i < d->n_remotes; i++) {
		remote_worker_stop(d->remotes[i].w);
		holdings_free(&d->remotes[i].held);
	}
	for (size_t i = 0; i < d->n_retired; i++)
		remote_worker_stop(d->retired[i]);
	free(d->remotes);
	free(d->retired);
	d->remotes = NULL;
	d->retired = NULL;
	d->n_remotes = d->n_retired = 0;
}

static void apply_timezone(const struct conf *c)
{
	setenv("TZ", c->timezone ? c->timezone : "UTC", 1);
	tzset();
}

static void reload(struct daemon *d)
{
	struct conf fresh;
	struct error err = {0};
	enum result loaded = conf_load(&fresh, d->opts, &err);
	if (!loaded && (loaded = remotes_check(&fresh, &err)))
		conf_free(&fresh);
	if (loaded) {
		log_error("agent", "configuration not reloaded: %s; keeping the running one",
			  err.msg);
		d->state.have_error = true;
		d->state.error_time = time_now();
		snprintf(d->state.error, sizeof(d->state.error), "reload: %s", err.msg);
		save_state(d);
		return;
	}
	bool db_moved = strcmp(fresh.db_path, d->conf.db_path) != 0;
	bool listen_moved = (fresh.metrics_listen == NULL) != (d->conf.metrics_listen == NULL) ||
			    (fresh.metrics_listen && strcmp(fresh.metrics_listen, d->conf.metrics_listen));
	if (listen_moved) {
		struct metrics *m = NULL;
		if (fresh.metrics_listen && metrics_start(&m, fresh.metrics_listen, &err)) {
			log_error("agent", "configuration not reloaded: %s; keeping the running one",
				  err.msg);
			conf_free(&fresh);
			return;
		}
		metrics_stop(d->metrics);
		d->metrics = m;
	}
	remotes_retire_all(d);
	conf_free(&d->conf);
	d->conf = fresh;
	remotes_setup(d);
	log_setup(d->conf.log_level, d->conf.log_format);
	apply_timezone(&d->conf);
	d->deb.quiet = d->conf.watch_quiet;
	d->deb.min_interval = d->conf.watch_min_interval;
	d->deb.max_delay = d->conf.watch_max_delay;
	if (db_moved) {
		struct watch *w = NULL;
		if (watch_open(&w, d->conf.db_path, &err) == CB_OK) {
			watch_close(d->watch);
			d->watch = w;
		} else {
			log_error("agent", "%s", err.msg);
		}
		db_fingerprint_take(d->conf.db_path, &d->fp);
	}
	arm_timer(d);
	log_info("agent", "configuration reloaded%s%s", d->conf.source ? " from " : "",
		 d->conf.source ? d->conf.source : "");
	save_state(d);
}

static void on_signal(struct daemon *d)
{
	struct signalfd_siginfo si;
	while (read(d->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			reload(d);
		} else if (!d->stopping) {
			d->stopping = true;
			log_info("agent", "stopping (%s)", si.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
			if (d->busy || remotes_busy(d))
				cancel_request();
		}
	}
}

static int poll_timeout_ms(struct daemon *d)
{
	double now = time_mono();
	double due = INFINITY;
	if (!d->busy && !d->stopping) {
		if (d->conf.watch_enabled)
			due = debounce_due(&d->deb);
		for (size_t i = 0; i < sizeof(scheduled) / sizeof(*scheduled); i++)
			if (d->pending[scheduled[i]])
				due = fmin(due, now);
		if (due < d->not_before)
			due = d->not_before;
		for (size_t i = 0; i < d->n_remotes; i++) {
			struct remote_slot *s = &d->remotes[i];
			if (s->pending && !remote_worker_busy(s->w))
				due = fmin(due, fmax(now, s->retry_at));
		}
	}
	if (isinf(due))
		return -1;
	double ms = ceil((due - now) * 1000.0);
	return ms < 0 ? 0 : ms > INT32_MAX ? INT32_MAX : (int)ms;
}

static enum result setup(struct daemon *d, struct error *err)
{
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	/* Blocked before the worker starts, so only the signalfd sees them. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	d->sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->timer_fd = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->sig_fd < 0 || d->timer_fd < 0)
		return error_set(err, CB_ERR_IO, "cannot set up the event loop: %s", strerror(errno));
	enum result r = remotes_check(&d->conf, err);
	if (r)
		return r;
	if ((r = fs_mkdirs(d->conf.local_dir, 0700, err)))
		return r;
	if (d->conf.watch_enabled && (r = watch_open(&d->watch, d->conf.db_path, err)))
		return r;
	if (d->conf.metrics_listen && (r = metrics_start(&d->metrics, d->conf.metrics_listen, err)))
		return r;
	return worker_start(&d->worker, err);
}

enum result daemon_run(struct conf *c, const struct conf_load_opts *opts, struct error *err)
{
	struct daemon d;
	memset(&d, 0, sizeof(d));
	d.conf = *c;
	memset(c, 0, sizeof(*c));
	d.opts = opts;
	d.sig_fd = d.timer_fd = -1;
	d.worker.done_fd = -1;

	apply_timezone(&d.conf);
	oplog_set_echo(false);
	enum result r = setup(&d, err);
	if (r)
		goto out_early;

	/* What the last run left: the fingerprint its last backup started from. */
	struct agent_state prev;
	struct error serr = {0};
	bool have_prev = state_read(d.conf.local_dir, &prev, &serr) == CB_OK;
	d.state.pid = (long)getpid();
	d.state.started = time_now();
	if (have_prev) {
		memcpy(d.state.last, prev.last, sizeof(d.state.last));
		d.state.failures = 0;
	}
	debounce_init(&d.deb, d.conf.watch_quiet, d.conf.watch_min_interval,
		      d.conf.watch_max_delay);
	db_fingerprint_take(d.conf.db_path, &d.fp);
	if (have_prev && strcmp(prev.database, d.conf.db_path) == 0 && d.fp.exists) {
		if (prev.have_fingerprint) {
			d.state.fingerprint = prev.fingerprint;
			d.state.have_fingerprint = true;
		}
		if (prev.change_pending) {
			/* The last run saw a change it never backed up: max_delay
			 * counts from that change, not from this start, or an agent
			 * restarted often enough would never back it up. */
			log_info("agent", "a change seen by the last run was not backed up yet");
			double now_mono = time_mono();
			debounce_change(&d.deb, now_mono);
			int64_t age = time_now() - prev.change_since;
			if (prev.change_since > 0 && age > 0)
				d.deb.first_change = now_mono - (double)age;
		} else if (prev.have_fingerprint && !db_fingerprint_equal(&prev.fingerprint, &d.fp)) {
			log_info("agent", "database changed while the agent was not running");
			debounce_change(&d.deb, time_mono());
		}
		if (prev.have_fingerprint)
			d.fp = prev.fingerprint;
	}
	/* What a killed agent or cbsync left behind goes before anything else. */
	struct dir_lock lock;
	if (dir_lock_acquire(&lock, d.conf.local_dir, "agent", d.conf.lock_timeout, &serr) == CB_OK) {
		local_cleanup_stale(d.conf.local_dir);
		dir_lock_release(&lock);
	}
	char *db_dir = fs_dirname(d.conf.db_path);
	if (db_dir)
		fs_remove_dead_temps(db_dir);
	free(db_dir);
	d.seed = (unsigned)getpid() ^ (unsigned)time_now();
	remotes_setup(&d);
	d.last_check = time_now();
	catch_up(&d);
	arm_timer(&d);
	set_activity(&d, "%s", "idle");
	save_state(&d);
	char keep[160];
	conf_format_policy_long(&d.conf.local_keep, keep, sizeof(keep));
	log_info("agent", "started: database %s, backups in %s (keeping %s), watch %s, "
		 "%zu remote%s", d.conf.db_path, d.conf.local_dir, keep,
		 d.conf.watch_enabled ? "on" : "off", d.n_remotes, d.n_remotes == 1 ? "" : "s");

	for (;;) {
		maybe_start(&d);
		remotes_maybe_start(&d);
		if (d.stopping && !d.busy && !remotes_busy(&d))
			break;
		/* signalfd, timerfd, backup worker, watch, then the remotes. */
		size_t nfds = 4 + d.n_remotes + d.n_retired;
		struct pollfd *fds = calloc(nfds, sizeof(*fds));
		if (!fds) {
			r = error_nomem(err);
			break;
		}
		fds[0] = (struct pollfd){.fd = d.sig_fd, .events = POLLIN};
		fds[1] = (struct pollfd){.fd = d.timer_fd, .events = POLLIN};
		fds[2] = (struct pollfd){.fd = d.worker.done_fd, .events = POLLIN};
		fds[3] = (struct pollfd){.fd = d.watch ? watch_fd(d.watch) : -1, .events = POLLIN};
		for (size_t i = 0; i < d.n_remotes; i++)
			fds[4 + i] = (struct pollfd){.fd = remote_worker_fd(d.remotes[i].w),
						     .events = POLLIN};
		for (size_t i = 0; i < d.n_retired; i++)
			fds[4 + d.n_remotes + i] = (struct pollfd){
				.fd = remote_worker_fd(d.retired[i]), .events = POLLIN};
		int n = poll(fds, (nfds_t)nfds, poll_timeout_ms(&d));
		if (n < 0 && errno != EINTR) {
			r = error_set(err, CB_ERR_IO, "poll failed: %s", strerror(errno));
			free(fds);
			break;
		}
		if (n > 0) {
			size_t n_remotes = d.n_remotes;
			bool retired_done = false;
			for (size_t i = 0; i < n_remotes; i++)
				if (fds[4 + i].revents & POLLIN)
					remotes_on_done(&d, &d.remotes[i]);
			for (size_t i = 0; i < d.n_retired; i++)
				retired_done |= (fds[4 + n_remotes + i].revents & POLLIN) != 0;
			/* Signals last among these: a reload replaces the remotes. */
			if (fds[2].revents & POLLIN)
				finish_job(&d);
			if (fds[1].revents & POLLIN) {
				uint64_t ticks;
				/* ECANCELED: the clock was set; re-check either way. */
				(void)!read(d.timer_fd, &ticks, sizeof(ticks));
				check_schedules(&d);
			}
			if (fds[3].revents & POLLIN)
				on_watch(&d);
			if (fds[0].revents & POLLIN)
				on_signal(&d);
			if (retired_done)
				reap_retired(&d);
		}
		free(fds);
		if (!d.state.log_lost &&
		    log_lost(d.state.log_lost_error, sizeof(d.state.log_lost_error))) {
			/* Nobody reads our log any more: say so where status and
			 * metrics look, and go on backing up. */
			d.state.log_lost = true;
			d.state.log_lost_time = time_now();
			save_state(&d);
		}
	}
	set_activity(&d, "%s", "stopped");
	save_state(&d);
	log_info("agent", "stopped");
	worker_stop(&d.worker);
	remotes_stop_all(&d);
	d.worker.done_fd = -1;
out_early:
	metrics_stop(d.metrics);
	watch_close(d.watch);
	if (d.sig_fd >= 0)
		close(d.sig_fd);
	if (d.timer_fd >= 0)
		close(d.timer_fd);
	conf_free(&d.conf);
	cancel_reset();
	return r;
}
