/*
 * The agent's restore drills: on [drill] schedule, `cbsync drill` of every
 * tier runs as a child process -- its own configuration, its own memory, a
 * crash of its own, and the backups and syncs go on beside it -- and the
 * record it leaves (agent/tiers/drills.h) is read back for the log,
 * /metrics and /healthz, as is a drill a person runs.
 *
 * A drill missed while the agent was not running (the last one recorded
 * is older than the last due time) runs soon after start; an agent that
 * never drilled waits for the schedule.
 */
#include "agent/cli/drill.h"
#include "agent/daemon/daemon_internal.h"
#include "agent/daemon/schedule.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Is name a tier of the configuration? */
static bool configured(const struct conf *c, const char *name)
{
	if (strcmp(name, "local") == 0)
		return true;
	for (size_t i = 0; i < c->n_remotes; i++)
		if (strcmp(c->remotes[i].name, name) == 0)
			return true;
	return false;
}

/* Read the record again if it changed: the configured tiers' last drills
 * into the state.  True if it was read. */
static bool reload_record(struct daemon *d)
{
	char *path = fs_join(d->conf.local_dir, DRILLS_FILE_NAME);
	struct stat st;
	/* mtime, size and inode: a rename within one clock tick changes the
	 * inode. */
	uint64_t stamp = path && stat(path, &st) == 0
				 ? ((uint64_t)st.st_mtim.tv_sec * 1000000000u +
				    (uint64_t)st.st_mtim.tv_nsec) ^
					   ((uint64_t)st.st_size << 20) ^ ((uint64_t)st.st_ino << 40)
				 : 0;
	free(path);
	if (stamp == d->drills_stamp)
		return false;
	d->drills_stamp = stamp;
	struct drill_record all[DRILLS_MAX];
	size_t n = 0, kept = 0;
	struct error err = {0};
	if (drills_read(d->conf.local_dir, all, DRILLS_MAX, &n, &err))
		n = 0;
	for (size_t i = 0; i < n && kept < sizeof(d->state.drills) / sizeof(*d->state.drills); i++)
		if (configured(&d->conf, all[i].tier))
			d->state.drills[kept++] = all[i];
	d->state.n_drills = kept;
	return true;
}

/* Log what the drill that just ended recorded. */
static void log_results(struct daemon *d)
{
	for (size_t i = 0; i < d->state.n_drills; i++) {
		const struct drill_record *r = &d->state.drills[i];
		if (r->ran_at < d->drill_started)
			continue;
		if (r->ok)
			log_info("drill", "tier %s: restored %s + %zu increment%s in %.2fs, a state "
				 "%.0fs old", r->tier, r->snapshot, r->increments,
				 r->increments == 1 ? "" : "s", r->seconds, r->rpo);
		else
			log_error("drill", "tier %s: the drill failed: %s", r->tier, r->error);
	}
}

static void spawn(struct daemon *d)
{
	const char *argv[12];
	size_t n = 0;
	argv[n++] = "cbsync";
	argv[n++] = "drill";
	if (d->opts && d->opts->path) {
		argv[n++] = "--config";
		argv[n++] = d->opts->path;
	}
	if (d->opts && d->opts->db_flag) {
		argv[n++] = "--db";
		argv[n++] = d->opts->db_flag;
	}
	if (d->opts && d->opts->dir_flag) {
		argv[n++] = "--dir";
		argv[n++] = d->opts->dir_flag;
	}
	argv[n] = NULL;
	pid_t pid = fork();
	if (pid < 0) {
		log_error("drill", "cannot start the drill: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		/* The agent's blocked signals would outlive exec. */
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	d->drill_pid = pid;
	d->drill_started = time_now();
	d->state.drilling = true;
	log_info("drill", "restore drill of every tier started (pid %ld)", (long)pid);
}

/* The time the schedule was last due, or INT64_MIN. */
static int64_t last_due(const struct daemon *d, int64_t now)
{
	return schedule_prev(&d->conf.drill_schedule, BT_WEEKLY, now);
}

void daemon_drill_start(struct daemon *d)
{
	/* What a killed drill left (the agent's, or anyone's). */
	drill_scratch_clean(&d->conf);
	reload_record(d);
	/* The oldest of the tiers' last drills is where the schedule counts
	 * from (one tier drilled by hand does not stand for the others); with
	 * none, from now: the first one waits for its time. */
	d->drill_base = 0;
	for (size_t i = 0; i < d->state.n_drills; i++)
		if (!d->drill_base || d->state.drills[i].ran_at < d->drill_base)
			d->drill_base = d->state.drills[i].ran_at;
	if (!d->drill_base)
		d->drill_base = time_now();
}

int64_t daemon_drill_next(const struct daemon *d)
{
	return schedule_next(&d->conf.drill_schedule, BT_WEEKLY, time_now());
}

void daemon_drill_poll(struct daemon *d)
{
	if (d->drill_pid > 0) {
		int status = 0;
		pid_t pid = d->drill_pid, p = waitpid(pid, &status, WNOHANG);
		if (p == pid || (p < 0 && errno == ECHILD)) {
			d->drill_pid = 0;
			d->drill_stop_sent = false;
			d->state.drilling = false;
			reload_record(d);
			log_results(d);
			/* Exit 0 and 5 (a drill failed) are told by the record. */
			if (p == pid && WIFSIGNALED(status)) {
				log_error("drill", "the drill was killed by signal %d",
					  WTERMSIG(status));
				drill_scratch_clean(&d->conf);
			} else if (p == pid && WIFEXITED(status) && WEXITSTATUS(status) != 0 &&
				   WEXITSTATUS(status) != 5 && !d->stopping) {
				log_error("drill", "the drill ended with exit status %d; HINT: run "
					  "'cbsync drill' by hand to see why", WEXITSTATUS(status));
			}
			daemon_save_state(d);
		}
	}
	/* Asked to stop and still going after the grace: it goes. */
	if (d->drill_pid > 0 && d->drill_stop_sent && time_mono() - d->drill_stop_at > 10)
		kill(d->drill_pid, SIGKILL);
	int64_t next = daemon_drill_next(d);
	bool changed = reload_record(d);
	if (next != (d->state.next_drill ? d->state.next_drill : INT64_MAX)) {
		d->state.next_drill = next == INT64_MAX ? 0 : next;
		changed = true;
	}
	if (changed)
		daemon_save_state(d);
	if (d->drill_pid > 0 || d->stopping)
		return;
	int64_t now = time_now(), due = last_due(d, now);
	if (due == INT64_MIN || due <= d->drill_base)
		return;
	d->drill_base = now;
	spawn(d);
	daemon_save_state(d);
}

void daemon_drill_stop(struct daemon *d)
{
	if (d->drill_pid > 0 && !d->drill_stop_sent) {
		kill(d->drill_pid, SIGTERM);
		d->drill_stop_sent = true;
		d->drill_stop_at = time_mono();
	}
}
