/*
 * The agent's state file, <backup dir>/cbsync-agent.json, rewritten
 * atomically whenever something changes: what the agent is doing, the last
 * backup of each type it made, when each type is next due, the last error,
 * and the database fingerprint at the start of its last backup (so that a
 * restarted agent knows whether the database changed while it was down).
 * `cbsync status` reads it.
 */
#ifndef CBSYNC_STATE_H
#define CBSYNC_STATE_H

#include "agent/daemon/watch.h"
#include "agent/tiers/drills.h"
#include "common/backup_name.h"
#include "common/result.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#define STATE_FILE_NAME "cbsync-agent.json"
#define STATE_MAX_REMOTES 32

/* What the agent knows of one remote tier. */
struct state_remote {
	char name[64];
	bool pending;             /* a sync is wanted (after a backup, or a retry) */
	bool failing;
	int64_t last_attempt;
	int64_t last_success;
	int64_t next_retry;       /* when a failed sync is tried again; 0 if none */
	uint64_t uploaded;        /* backups uploaded since the agent started */
	uint64_t bytes_up;
	uint64_t requests;        /* requests made to the remote since the agent started */
	uint64_t incrs_uploaded;  /* increments and roll-ups uploaded since the agent started */
	uint64_t calls_list;      /* calls that reached it, by kind (backend_calls) */
	uint64_t calls_put;
	uint64_t calls_get;
	uint64_t calls_remove;
	int64_t newest;           /* the newest state it can restore (seconds), 0: unknown */
	int64_t unshipped_since;  /* when the oldest change it lacks was captured; 0: none */
	char chain_note[ERROR_MSG_MAX]; /* why it cannot follow the newest chain, or "" */
	uint64_t sync_errors;     /* failed syncs since the agent started */
	char error[ERROR_MSG_MAX];
};

struct state_last {
	bool set;
	char name[BACKUP_NAME_MAX];
	int64_t time;      /* when it was made */
	double seconds;    /* how long it took */
};

/* A tier's health as the agent judges it (daemon_alert.c). */
struct state_health {
	char tier[DRILL_TIER_MAX];
	bool healthy;
	bool stale;                    /* lacking changes past max_lag / max_age */
	bool failing;                  /* its backups or syncs are failing */
	bool drill_failed;             /* its last restore drill failed */
	char why[1024];                /* the reasons, one a line ("\n"-separated) */
};

struct agent_state {
	long pid;
	int64_t started;
	int64_t updated;
	char activity[64];             /* "idle", "backing up (daily)", "stopped" */
	char database[PATH_MAX];
	bool have_fingerprint;
	struct db_fingerprint fingerprint;
	struct state_last last[BT_COUNT];
	int64_t next[BT_COUNT];        /* 0: not scheduled */
	bool change_pending;           /* a change backup is waiting to run */
	int64_t change_since;          /* ... for the first change it covers, seen
					* then (0: unknown); survives a restart so
					* that max_delay counts from the change */
	bool log_lost;                 /* stderr (the log) could not be written */
	int64_t log_lost_time;
	char log_lost_error[128];
	uint64_t made[BT_COUNT];       /* backups made since the agent started */
	/* Captures of increments since the agent started, by route: from the
	 * WAL's frames (of them, across a WAL restart), or by page diff; the
	 * last diff's reason. */
	uint64_t captures_wal;
	uint64_t captures_diff;
	uint64_t restarts_followed;
	int64_t last_diff_time;        /* 0: none */
	char last_diff_reason[160];
	uint64_t failures;
	bool have_error;
	int64_t error_time;
	char error[ERROR_MSG_MAX];
	size_t n_remotes;
	struct state_remote remotes[STATE_MAX_REMOTES];
	/* The last drill of each tier (agent/tiers/drills.h), for /metrics and
	 * /healthz: read from its own file, not written to this one. */
	size_t n_drills;
	struct drill_record drills[STATE_MAX_REMOTES + 1];
	bool drilling;                 /* a scheduled drill is running */
	int64_t next_drill;            /* 0: not scheduled */
	size_t n_health;               /* each tier's health, local first */
	struct state_health health[STATE_MAX_REMOTES + 1];
};

enum result state_write(const char *dir, const struct agent_state *s, struct error *err);

/* CB_ERR_NOT_FOUND when there is no state file. */
enum result state_read(const char *dir, struct agent_state *s, struct error *err);

#endif
