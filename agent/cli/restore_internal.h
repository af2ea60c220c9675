/*
 * cbsync restore, shared by its two files: restore_cmd.c (the command, a
 * file, a backup by name) and restore_pitr.c (a backup and its increments
 * chosen by time: --latest, --before, --at).
 */
#ifndef CBSYNC_RESTORE_INTERNAL_H
#define CBSYNC_RESTORE_INTERNAL_H

#include "agent/cli/cli.h"
#include "agent/engine/restore.h"
#include "agent/tiers/lock.h"
#include "agent/tiers/tiers.h"
#include "common/backup_name.h"

#include <stdbool.h>
#include <stdint.h>

/* A backup dated further ahead of the clock than this is not chosen by
 * time (see restore_cmd.c). */
#define FUTURE_TOLERANCE (10 * 60)

/* What a restore for a drill (drill.h) restored: the restore itself says
 * nothing on stdout and records nothing; the drill reports it. */
struct restore_report {
	char snapshot[BACKUP_NAME_MAX];
	char source[512];          /* "local", "local + 12 increments" */
	size_t increments;
	int64_t state_ms;          /* the state it reached */
	struct check_result check;
};

/* What restore_cmd.c found before choosing by time. */
struct restore_ctx {
	struct cli *cli;
	struct tier_set *set;
	struct candidate_list *cands;
	bool *warned;              /* per candidate: passed over with a warning */
	const char *stem;          /* the database's <db> part */
	enum backup_type type;     /* with cli->type */
	int64_t before;            /* --before, seconds */
	int64_t now;               /* seconds */
	int64_t at_ms;             /* the time asked for; PITR_LATEST-like for --latest */
	const char *target;        /* the database restored into */
	double start;              /* time_mono() at the start */
	struct dir_lock *lock;     /* taken when something is about to be restored */
	struct restore_report *drill;  /* a drill's restore: quiet, no lock, filled in */
};

/* Is candidate i one to choose?  Warns (once per candidate) about one it
 * passes over. */
bool restore_choosable(const struct restore_ctx *x, size_t i);

/* How the configuration and flags say to restore. */
struct restore_opts restore_opts_of(const struct cli *cli);

/* How a restore ended, for its summary: outcome "restored", "dry_run" or
 * "skipped" (reason says why).  what is the text's "NAME from SOURCE". */
struct restore_summary {
	const char *outcome;
	const char *reason;              /* skipped: why; else NULL */
	const char *what;
	const char *backup;              /* the backup's name or file, or NULL */
	const char *tier;                /* the tier it came from; NULL for --path */
	const char *target;              /* the database restored into */
	const struct restore_outcome *out;   /* restored: the restore point */
	const struct check_result *check;    /* restored: the checks made */
	size_t increments;
	int64_t state_ms;                /* the state reached, or -1 */
	int64_t read_bytes;              /* dry_run: the bytes it would read, or -1 */
	double seconds;
};

/* A restore's summary: with --json one JSON object, whatever the outcome;
 * else, for a restore that succeeded, its lines (the other outcomes print
 * their own line). */
enum result restore_print(const struct cli *cli, const struct restore_summary *s,
			  struct error *err);

/* --dry-run: refuse now what restore_begin would refuse (a --to that
 * exists), touching nothing. */
enum result restore_dry_target(const struct cli *cli, const char *target, struct error *err);

/* Choose by time (--latest, --before, --at) among x's candidates and their
 * chains, and restore (or, with --dry-run, say what would be restored). */
enum result restore_by_time(struct restore_ctx *x, struct error *err);

/* The newest state cli->from holds, restored into cli->to as a drill does:
 * every check restore makes, nothing printed or logged, no lock taken (a
 * new file is all it writes); *rep says what it restored. */
enum result restore_for_drill(struct cli *cli, struct restore_report *rep, struct error *err);

#endif
