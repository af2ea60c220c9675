/*
 * The agent's parts, shared by the files that make it up:
 *
 *   daemon.c           the event loop: signals, the watch, reload, state
 *   daemon_job.c       the backup worker thread: one backup, then retention
 *   daemon_schedule.c  daily/weekly/monthly schedules and catch-up at start
 *   daemon_remotes.c   one sync worker per remote, with backoff and jitter
 *
 * Everything here runs on the loop's thread except what daemon_job.c's
 * worker and each remote_worker do with the copies they are given.
 */
#ifndef CBSYNC_DAEMON_INTERNAL_H
#define CBSYNC_DAEMON_INTERNAL_H

#include "agent/daemon/daemon.h"
#include "agent/tiers/cycle.h"
#include "agent/tiers/tiers.h"
#include "agent/engine/backup.h"
#include "agent/daemon/debounce.h"
#include "common/text.h"
#include "agent/tiers/lock.h"
#include "agent/daemon/metrics.h"
#include "agent/tiers/oplog.h"
#include "agent/tiers/prune.h"
#include "agent/daemon/remote_worker.h"
#include "agent/daemon/schedule.h"
#include "agent/daemon/state.h"
#include "agent/tiers/tier_local.h"
#include "agent/daemon/watch.h"
#include "agent/daemon/worker.h"
#include "common/backoff.h"
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
#include <sys/types.h>
#include <unistd.h>

#define RETRY_FIRST 5.0
#define RETRY_MAX 300.0

#define STALE_EVERY (24 * 3600)

/* The scheduled types, in the order a due one is taken. */
extern const enum backup_type daemon_scheduled[3];

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
	int64_t next_unshipped;   /* first change captured while a sync ran (it may
				   * not carry it); 0: none */
	double listed_at;         /* monotonic: when its last sync that lists began */
	char broken[BACKUP_NAME_MAX + 160]; /* why it cannot follow the newest chain, or "" */
};

/* One backup for the worker: everything it needs is copied in, so the loop
 * may swap configurations while it runs. */
struct job {
	enum backup_type type;
	char *db_path;
	char *dir;
	struct retention_policy keep;
	struct cycle_settings settings;   /* pointing at the copies above */
	/* What each remote held at its last sync, copied: local pruning keeps
	 * what a remote wants and lacks. */
	struct remote_holdings *held;
	struct retention_policy *held_keep;
	size_t n_held;
	bool capture;              /* an increment, not a change backup */
	char *rebase_why;          /* why its capture must start a new chain, or NULL */
	int64_t first_ms;          /* ... covering changes seen since (wall clock) */
	struct keyring *seal;      /* [local] encrypt: the keys settings.seal uses */
	bool failed_early;         /* result and err are set already: run nothing */
	/* results */
	enum result result;
	struct error err;
	bool made_backup;          /* a backup was made (also by a capture that
				    * had no chain to continue) */
	struct backup_outcome out;
	struct replicate_result inc;
	struct prune_result pruned;
};

struct daemon {
	struct conf conf;
	const struct conf_load_opts *opts;
	struct worker *worker;           /* the backup worker */
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
	pid_t drill_pid;                 /* the running drill's, 0: none */
	int64_t drill_started;           /* when it started (wall clock) */
	int64_t drill_base;              /* the schedule is due past this */
	uint64_t drills_stamp;           /* the drill record's stat when read */
	bool drill_stop_sent;
	double drill_stop_at;            /* when SIGTERM went (monotonic) */
	int64_t newest_snapshot;         /* the local tier's newest (seconds), 0: none */
	int64_t local_stamp;             /* the backup directory's mtime when listed */
	double local_listed;             /* when (monotonic) */
	double health_saved;             /* when health was last written (monotonic) */
	pid_t hook_pids[16];             /* [alert] exec runs not reaped yet */
};

/* daemon.c: the state file, what the agent is doing */
void daemon_save_state(struct daemon *d);
void daemon_set_activity(struct daemon *d, const char *fmt, const char *arg);

/* daemon_job.c: the backup worker */
enum result daemon_worker_start(struct daemon *d, struct error *err);
void daemon_maybe_start(struct daemon *d);
void daemon_finish_job(struct daemon *d);

/* daemon_schedule.c: schedules and catch-up */
void daemon_arm_timer(struct daemon *d);
void daemon_check_schedules(struct daemon *d);
void daemon_catch_up(struct daemon *d);

/* daemon_drill.c: restore drills on [drill] schedule, as a child process */
#define DRILL_RECORD_POLL 5.0   /* seconds between looks at the drill record */
void daemon_drill_start(struct daemon *d);
void daemon_drill_poll(struct daemon *d);
int64_t daemon_drill_next(const struct daemon *d);
void daemon_drill_stop(struct daemon *d);

/* daemon_alert.c: freshness, each tier's health, the [alert] exec hook */
#define ALERT_RELIST 30.0       /* seconds: the local tier listed again at most this often */
void daemon_alert_start(struct daemon *d);
void daemon_alert_snapshot(struct daemon *d, int64_t created);
void daemon_alert_check(struct daemon *d);
void daemon_alert_reap(struct daemon *d);

/* daemon_remotes.c: one sync worker per remote */
enum result daemon_remotes_check(const struct conf *c, struct error *err);
void daemon_remotes_setup(struct daemon *d);
void daemon_remotes_request_all(struct daemon *d);
bool daemon_remotes_busy(struct daemon *d);
void daemon_remotes_maybe_start(struct daemon *d);
void daemon_remotes_on_done(struct daemon *d, struct remote_slot *s);
void daemon_reap_retired(struct daemon *d);
void daemon_remotes_retire_all(struct daemon *d);
void daemon_remotes_stop_all(struct daemon *d);

#endif
