/*
 * The agent: its event loop over signals, timers, the watched database and the
 * workers' results; reload; the state file.  See daemon_internal.h for the
 * other parts.
 */
#include "agent/daemon/daemon_internal.h"

void daemon_save_state(struct daemon *d)
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

void daemon_set_activity(struct daemon *d, const char *fmt, const char *arg)
{
	snprintf(d->state.activity, sizeof(d->state.activity), fmt, arg);
}

/* When changes are captured: [watch]'s settling rules for change backups;
 * with replication on, an increment at most every [replicate] interval and
 * no later than that after the first change it covers. */
static void debounce_of(const struct conf *c, double *quiet, double *min_interval,
			double *max_delay)
{
	*quiet = c->replicate_enabled ? 0 : c->watch_quiet;
	*min_interval = c->replicate_enabled ? c->replicate_interval : c->watch_min_interval;
	*max_delay = c->replicate_enabled ? c->replicate_interval : c->watch_max_delay;
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
		/* With increments this is every second of writes: not news. */
		double due = fmax(0, debounce_due(&d->deb) - time_mono());
		if (d->conf.replicate_enabled)
			log_debug("agent", "database changed; an increment is due in %.0fs at the "
				  "latest", due);
		else
			log_info("agent", "database changed; a change backup is due in %.0fs at the "
				 "latest", due);
		daemon_save_state(d);
	}
	/* A backup that failed for lack of a database can go now. */
	if (d->waiting_for_db) {
		d->waiting_for_db = false;
		d->not_before = 0;
	}
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
	if (!loaded && (loaded = daemon_remotes_check(&fresh, &err)))
		conf_free(&fresh);
	if (loaded) {
		log_error("agent", "configuration not reloaded: %s; keeping the running one",
			  err.msg);
		d->state.have_error = true;
		d->state.error_time = time_now();
		snprintf(d->state.error, sizeof(d->state.error), "reload: %s", err.msg);
		daemon_save_state(d);
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
	daemon_remotes_retire_all(d);
	conf_free(&d->conf);
	d->conf = fresh;
	daemon_remotes_setup(d);
	log_setup(d->conf.log_level, d->conf.log_format);
	oplog_set_json(d->conf.log_format == LOG_FORMAT_JSON);
	oplog_set_echo_events(d->conf.log_format == LOG_FORMAT_JSON);
	apply_timezone(&d->conf);
	debounce_of(&d->conf, &d->deb.quiet, &d->deb.min_interval, &d->deb.max_delay);
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
	daemon_arm_timer(d);
	/* The drill record again, for the tiers configured now. */
	d->drills_stamp = UINT64_MAX;
	log_info("agent", "configuration reloaded%s%s", d->conf.source ? " from " : "",
		 d->conf.source ? d->conf.source : "");
	daemon_save_state(d);
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
			if (d->busy || daemon_remotes_busy(d))
				cancel_request();
			daemon_drill_stop(d);
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
		for (size_t i = 0; i < sizeof(daemon_scheduled) / sizeof(*daemon_scheduled); i++)
			if (d->pending[daemon_scheduled[i]])
				due = fmin(due, now);
		if (due < d->not_before)
			due = d->not_before;
		for (size_t i = 0; i < d->n_remotes; i++) {
			struct remote_slot *s = &d->remotes[i];
			if (s->pending && !remote_worker_busy(s->w))
				due = fmin(due, fmax(now, s->retry_at));
			else if (!remote_worker_busy(s->w))
				due = fmin(due, s->listed_at + d->conf.sync_reconcile_interval);
		}
	}
	/* The next drill, or a running one's end (polled). */
	if (!d->stopping) {
		int64_t next = daemon_drill_next(d);
		if (next != INT64_MAX)
			due = fmin(due, now + (double)(next - time_now()));
	}
	if (d->drill_pid > 0)
		due = fmin(due, now + 0.5);
	/* A drill someone ran by hand: its record is read again this often. */
	due = fmin(due, now + DRILL_RECORD_POLL);
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
	enum result r = daemon_remotes_check(&d->conf, err);
	if (r)
		return r;
	if ((r = fs_mkdirs(d->conf.local_dir, 0700, err)))
		return r;
	if (d->conf.watch_enabled && (r = watch_open(&d->watch, d->conf.db_path, err)))
		return r;
	if (d->conf.metrics_listen && (r = metrics_start(&d->metrics, d->conf.metrics_listen, err)))
		return r;
	return daemon_worker_start(d, err);
}

enum result daemon_run(struct conf *c, const struct conf_load_opts *opts, struct error *err)
{
	struct daemon d;
	memset(&d, 0, sizeof(d));
	d.conf = *c;
	memset(c, 0, sizeof(*c));
	d.opts = opts;
	d.sig_fd = d.timer_fd = -1;

	apply_timezone(&d.conf);
	oplog_set_echo(false);
	oplog_set_echo_events(d.conf.log_format == LOG_FORMAT_JSON);
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
	double quiet, min_interval, max_delay;
	debounce_of(&d.conf, &quiet, &min_interval, &max_delay);
	debounce_init(&d.deb, quiet, min_interval, max_delay);
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
	daemon_remotes_setup(&d);
	d.last_check = time_now();
	daemon_catch_up(&d);
	daemon_drill_start(&d);
	daemon_alert_start(&d);
	daemon_arm_timer(&d);
	daemon_set_activity(&d, "%s", "idle");
	daemon_save_state(&d);
	char keep[160];
	conf_format_policy_long(&d.conf.local_keep, keep, sizeof(keep));
	log_info("agent", "started: database %s, backups in %s (keeping %s), watch %s, "
		 "%zu remote%s", d.conf.db_path, d.conf.local_dir, keep,
		 d.conf.watch_enabled ? "on" : "off", d.n_remotes, d.n_remotes == 1 ? "" : "s");
	for (;;) {
		daemon_maybe_start(&d);
		daemon_remotes_maybe_start(&d);
		daemon_drill_poll(&d);
		daemon_alert_check(&d);
		if (d.stopping && !d.busy && !daemon_remotes_busy(&d) && d.drill_pid <= 0)
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
		fds[2] = (struct pollfd){.fd = d.worker ? worker_fd(d.worker) : -1, .events = POLLIN};
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
					daemon_remotes_on_done(&d, &d.remotes[i]);
			for (size_t i = 0; i < d.n_retired; i++)
				retired_done |= (fds[4 + n_remotes + i].revents & POLLIN) != 0;
			/* Signals last among these: a reload replaces the remotes. */
			if (fds[2].revents & POLLIN)
				daemon_finish_job(&d);
			if (fds[1].revents & POLLIN) {
				uint64_t ticks;
				/* ECANCELED: the clock was set; re-check either way. */
				(void)!read(d.timer_fd, &ticks, sizeof(ticks));
				daemon_check_schedules(&d);
			}
			if (fds[3].revents & POLLIN)
				on_watch(&d);
			if (fds[0].revents & POLLIN)
				on_signal(&d);
			if (retired_done)
				daemon_reap_retired(&d);
		}
		free(fds);
		if (!d.state.log_lost &&
		    log_lost(d.state.log_lost_error, sizeof(d.state.log_lost_error))) {
			/* Nobody reads our log any more: say so where status and
			 * metrics look, and go on backing up. */
			d.state.log_lost = true;
			d.state.log_lost_time = time_now();
			daemon_save_state(&d);
		}
	}
	daemon_set_activity(&d, "%s", "stopped");
	daemon_save_state(&d);
	log_info("agent", "stopped");
	worker_stop(d.worker);
	daemon_remotes_stop_all(&d);
	d.worker = NULL;
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
