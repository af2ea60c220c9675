/*
 * Freshness and health, tier by tier, and the [alert] exec hook.
 *
 * A tier is stale when it lacks a change the database has had for longer
 * than [alert] max_lag (its replication lag: the local tier's is the age of
 * the oldest change not captured yet, a remote's that of the oldest
 * captured change it does not hold), or when the local tier's newest
 * snapshot is older than max_age while a schedule expects one -- unless the
 * database has not been written since that snapshot: an idle database
 * whose tiers hold its current state is healthy however old its backups
 * are.  A tier is unhealthy when it is stale, when its backups or syncs
 * are failing, or when its last restore drill failed.  Each change of a
 * tier's health is logged and, with [alert] exec, runs that program with
 * the event as one JSON object on its standard input:
 *
 *   {"event": "unhealthy" | "recovered", "tier": "offsite",
 *    "reasons": ["lacks a change captured 7min ago (max_lag 5min)"],
 *    "time": "2026-11-30T10:00:00Z", "host": "db1"}
 *
 * The event is in the program's stdin before it starts; the agent never
 * waits for it, reaps it when it ends, and logs an exit other than 0.
 */
#include "agent/daemon/daemon_internal.h"
#include "common/text.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* The newest snapshot of this database in the local tier (seconds), 0 if
 * none or it cannot be listed. */
static int64_t newest_local(const struct conf *c)
{
	struct tier t;
	struct catalog cat = {0};
	struct error err = {0};
	char stem[BACKUP_STEM_MAX + 1];
	int64_t newest = 0;
	backup_db_stem(c->db_path, stem, sizeof(stem));
	if (!tier_open_local(&t, c->local_dir, &c->local_keep, &err) &&
	    !tier_catalog(&t, stem, NULL, &cat, &err))
		for (size_t i = 0; i < cat.n; i++)
			if (cat.items[i].has_data && cat.items[i].parsed.created > newest)
				newest = cat.items[i].parsed.created;
	catalog_free(&cat);
	tier_close(&t);
	return newest;
}

/* The backup directory's mtime (ns), 0 if it cannot be read. */
static int64_t dir_stamp(const char *dir)
{
	struct stat st;
	return stat(dir, &st) == 0 ? (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec
				   : 0;
}

void daemon_alert_start(struct daemon *d)
{
	d->local_stamp = dir_stamp(d->conf.local_dir);
	d->local_listed = time_mono();
	d->newest_snapshot = newest_local(&d->conf);
}

/* A backup someone else made (cbsync backup by hand, a restore point)
 * counts too: the directory is listed again when it changed, at most every
 * ALERT_RELIST seconds. */
static void refresh_newest(struct daemon *d)
{
	if (time_mono() - d->local_listed < ALERT_RELIST)
		return;
	int64_t stamp = dir_stamp(d->conf.local_dir);
	if (stamp == d->local_stamp)
		return;
	d->local_stamp = stamp;
	d->local_listed = time_mono();
	int64_t newest = newest_local(&d->conf);
	if (newest > d->newest_snapshot)
		d->newest_snapshot = newest;
}

void daemon_alert_snapshot(struct daemon *d, int64_t created)
{
	if (created > d->newest_snapshot)
		d->newest_snapshot = created;
}

/* Has the database been written since t (its file or its WAL)? */
static bool written_since(const char *db, int64_t t)
{
	char wal[PATH_MAX];
	struct stat st;
	snprintf(wal, sizeof(wal), "%s-wal", db);
	if (stat(db, &st) == 0 && st.st_mtime > t)
		return true;
	return stat(wal, &st) == 0 && st.st_mtime > t;
}

static void add_reason(struct state_health *h, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_reason(struct state_health *h, const char *fmt, ...)
{
	size_t o = strlen(h->why);
	if (o && o + 1 < sizeof(h->why)) {
		h->why[o++] = '\n';
		h->why[o] = '\0';
	}
	va_list ap;
	char reason[sizeof(h->why)];
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	/* One line each, and valid text for JSON (a cut may split a
	 * character; a remote's error may hold anything). */
	if (o < sizeof(h->why))
		text_escape(reason, h->why + o, sizeof(h->why) - o);
	h->healthy = false;
}

static void drill_reason(const struct daemon *d, struct state_health *h)
{
	for (size_t i = 0; i < d->state.n_drills; i++)
		if (strcmp(d->state.drills[i].tier, h->tier) == 0 && !d->state.drills[i].ok) {
			h->drill_failed = true;
			add_reason(h, "its last restore drill failed: %s", d->state.drills[i].error);
		}
}

static void lag_reason(double max_lag, struct state_health *h, double lag, const char *what)
{
	char a[32], m[32];
	if (lag <= max_lag)
		return;
	conf_format_duration(lag, a, sizeof(a));
	conf_format_duration(max_lag, m, sizeof(m));
	h->stale = true;
	add_reason(h, "stale: it lacks a change %s %s ago (max_lag %s)", what, a, m);
}

/* Stale by max_age: the tier's newest snapshot (what "snapshot"; a
 * remote's newest restorable "state") is older than max_age, and the
 * database has been written since: an idle database is not stale. */
static void age_reason(const struct conf *c, struct state_health *h, int64_t newest,
		       double max_age, const char *what, int64_t now)
{
	if (!newest || (double)(now - newest) <= max_age || !written_since(c->db_path, newest))
		return;
	char a[32], m[32];
	conf_format_duration((double)(now - newest), a, sizeof(a));
	conf_format_duration(max_age, m, sizeof(m));
	h->stale = true;
	add_reason(h, "stale: its newest %s is %s old and the database has changed since "
		   "(max_age %s)", what, a, m);
}

/* Each tier's health now, into h (local first, then the remotes). */
static size_t assess(struct daemon *d, struct state_health *h, size_t max)
{
	const struct conf *c = &d->conf;
	int64_t now = time_now();
	size_t n = 0;
	struct state_health *l = &h[n++];
	memset(l, 0, sizeof(*l));
	snprintf(l->tier, sizeof(l->tier), "local");
	l->healthy = true;
	/* The oldest change not covered yet: while a backup or capture runs,
	 * the first one it covers. */
	if (d->busy && d->deb.was_dirty)
		lag_reason(c->local_max_lag, l, floor(time_mono() - d->deb.was_first_change), "seen");
	else if (d->deb.dirty)
		lag_reason(c->local_max_lag, l, floor(time_mono() - d->deb.first_change), "seen");
	bool expects = c->daily.enabled || c->weekly.enabled || c->monthly.enabled;
	if (expects)
		age_reason(c, l, d->newest_snapshot, c->local_max_age, "snapshot", now);
	if (d->backoff > 0 && d->state.have_error) {
		l->failing = true;
		add_reason(l, "backups are failing: %s", d->state.error);
	}
	drill_reason(d, l);
	for (size_t i = 0; i < d->state.n_remotes && n < max; i++) {
		const struct state_remote *r = &d->state.remotes[i];
		struct state_health *x = &h[n++];
		memset(x, 0, sizeof(*x));
		snprintf(x->tier, sizeof(x->tier), "%s", r->name);
		x->healthy = true;
		if (r->failing) {
			x->failing = true;
			add_reason(x, "failing: %s", r->error);
		}
		const struct conf_remote *rc = conf_remote_find(c, r->name);
		if (r->unshipped_since)
			lag_reason(rc ? rc->max_lag : c->alert_max_lag, x,
				   (double)(now - r->unshipped_since), "captured");
		/* A remote's newest restorable state, as its last sync found it. */
		if (expects && rc && rc->max_age > 0 && !r->failing)
			age_reason(c, x, r->newest, rc->max_age, "state", now);
		drill_reason(d, x);
	}
	return n;
}

/* Run [alert] exec with the event on its stdin: written into a pipe
 * first (it is far smaller than a pipe's buffer), so the program reads it
 * whenever it likes and the agent never waits; the child is reaped by
 * daemon_alert_reap. */
static void run_hook(struct daemon *d, const struct state_health *h, const char *event)
{
	const char *prog = d->conf.alert_exec;
	char host[256] = "", host_esc[1024], at[32], esc[sizeof(h->why) * 4];
	int fds[2];
	gethostname(host, sizeof(host) - 1);
	text_escape(host, host_esc, sizeof(host_esc));
	time_format_iso(time_now(), at, sizeof(at));
	json_t *reasons = json_array();
	for (const char *p = h->why; reasons && *p;) {
		const char *end = strchr(p, '\n');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		snprintf(esc, sizeof(esc), "%.*s", (int)len, p);
		json_array_append_new(reasons, json_string(esc));
		p += len + (end ? 1 : 0);
	}
	json_t *ev = json_pack("{s:s, s:s, s:o, s:s, s:s}", "event",
			       event, "tier", h->tier, "reasons",
			       reasons ? reasons : json_array(), "time", at, "host", host_esc);
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (!text || pipe2(fds, O_CLOEXEC) != 0) {
		log_error("alert", "cannot run %s: %s", prog, text ? strerror(errno) : "no memory");
		free(text);
		return;
	}
	size_t len = strlen(text);
	bool written = write(fds[1], text, len) == (ssize_t)len && write(fds[1], "\n", 1) == 1;
	free(text);
	close(fds[1]);
	if (!written) {
		log_error("alert", "cannot pass the event to %s: %s", prog, strerror(errno));
		close(fds[0]);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* Only async-signal-safe calls until exec. */
		sigset_t none;
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		sigaction(SIGPIPE, &dfl, NULL);
		if (fds[0] == STDIN_FILENO)
			fcntl(fds[0], F_SETFD, 0);
		else
			dup2(fds[0], STDIN_FILENO);
		execl(prog, prog, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	if (pid < 0) {
		log_error("alert", "cannot run %s: %s", prog, strerror(errno));
		return;
	}
	for (size_t i = 0; i < sizeof(d->hook_pids) / sizeof(*d->hook_pids); i++)
		if (!d->hook_pids[i]) {
			d->hook_pids[i] = pid;
			break;
		}
}

void daemon_alert_reap(struct daemon *d)
{
	for (size_t i = 0; i < sizeof(d->hook_pids) / sizeof(*d->hook_pids); i++) {
		int status = 0;
		if (!d->hook_pids[i] || waitpid(d->hook_pids[i], &status, WNOHANG) == 0)
			continue;
		d->hook_pids[i] = 0;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			log_error("alert", "cannot run %s; HINT: [alert] exec must name an "
				  "executable file", d->conf.alert_exec ? d->conf.alert_exec : "the hook");
		else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			log_warn("alert", "%s ended with %s %d",
				 d->conf.alert_exec ? d->conf.alert_exec : "the hook",
				 WIFEXITED(status) ? "exit status" : "signal",
				 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	}
}

void daemon_alert_check(struct daemon *d)
{
	struct state_health now[STATE_MAX_REMOTES + 1];
	refresh_newest(d);
	size_t n = assess(d, now, sizeof(now) / sizeof(*now));
	daemon_alert_reap(d);
	bool changed = n != d->state.n_health, reworded = false;
	for (size_t i = 0; i < n; i++) {
		const struct state_health *was = NULL;
		for (size_t k = 0; k < d->state.n_health; k++)
			if (strcmp(d->state.health[k].tier, now[i].tier) == 0)
				was = &d->state.health[k];
		/* A tier starts out healthy: one that is not is news at once. */
		bool was_healthy = !was || was->healthy;
		changed |= !was || was->healthy != now[i].healthy || was->stale != now[i].stale ||
			   was->failing != now[i].failing || was->drill_failed != now[i].drill_failed;
		/* The reasons hold growing durations: written out now and then. */
		reworded |= was && strcmp(was->why, now[i].why) != 0;
		if (was_healthy == now[i].healthy)
			continue;
		/* The failure itself was logged where it happened: named, not
		 * repeated (the hook and /healthz carry the whole reasons). */
		if (now[i].healthy)
			log_info("alert", "tier %s is healthy again", now[i].tier);
		else
			log_warn("alert", "tier %s is unhealthy:%s%s%s", now[i].tier,
				 now[i].stale ? " stale" : "", now[i].failing ? " failing" : "",
				 now[i].drill_failed ? " (its last restore drill failed)" : "");
		if (d->conf.alert_exec)
			run_hook(d, &now[i], now[i].healthy ? "recovered" : "unhealthy");
	}
	/* A tier the configuration no longer has: one that was unhealthy is
	 * not left so in the hook's view. */
	for (size_t k = 0; k < d->state.n_health; k++) {
		const struct state_health *was = &d->state.health[k];
		bool kept = false;
		for (size_t i = 0; i < n && !kept; i++)
			kept = strcmp(was->tier, now[i].tier) == 0;
		if (kept || was->healthy)
			continue;
		changed = true;
		log_info("alert", "tier %s is no longer configured", was->tier);
		if (d->conf.alert_exec) {
			struct state_health gone = {.healthy = true};
			snprintf(gone.tier, sizeof(gone.tier), "%s", was->tier);
			snprintf(gone.why, sizeof(gone.why), "no longer configured");
			run_hook(d, &gone, "removed");
		}
	}
	if (!changed && !(reworded && time_mono() - d->health_saved >= 30))
		return;
	d->health_saved = time_mono();
	memcpy(d->state.health, now, n * sizeof(*now));
	d->state.n_health = n;
	daemon_save_state(d);
}
