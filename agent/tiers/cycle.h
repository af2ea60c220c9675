/*
 * One backup cycle: make a backup into the local tier, send it offsite, and
 * apply the local tier's retention with what the remotes then hold.  The
 * same steps for `cbsync backup` (all three, in turn), `cbsync push` (the
 * second) and the agent, whose backup worker makes the backup and prunes
 * and whose remote workers sync (agent/remote_worker.h) -- so nothing above
 * this module takes a lock, lists a tier or works out a policy itself.
 *
 * The directory's lock is held while a backup is made and while the local
 * tier is pruned, never while a remote is slow: a sync runs without it.
 */
#ifndef CBSYNC_CYCLE_H
#define CBSYNC_CYCLE_H

#include "agent/engine/backup.h"
#include "agent/tiers/lock.h"
#include "agent/tiers/prune.h"
#include "agent/tiers/replicate.h"
#include "conf/conf.h"

#include <stdbool.h>
#include <jansson.h>
#include <stdio.h>

/* What a backup and the local tier's retention need; the agent's worker
 * keeps a copy of its own (the loop may reload the configuration). */
struct cycle_settings {
	const char *db_path;
	const char *dir;                     /* the local tier */
	int level;                           /* [local] compression */
	int threads;
	double lock_timeout;
	double busy_timeout;
	const struct retention_policy *keep; /* the local tier's */
	bool replicate;                      /* [replicate] enabled: each backup
					      * starts a chain of increments */
	int rebase_share;                    /* [replicate] rebase_share, percent */
	const char *rebase_why;              /* non-NULL: start a new chain after the next
					      * increment, for this reason */
	const struct keyring *seal;          /* [local] encrypt: the recipients its new
					      * backups and increments are sealed for;
					      * NULL: a plain local tier */
};

void cycle_settings_of(struct cycle_settings *s, const struct conf *c);

/* Make one backup of type under the lock, and record it (or its failure)
 * in the operations log.  progress: draw progress on a terminal. */
enum result cycle_backup(const struct cycle_settings *s, enum backup_type type, const char *op,
			 bool progress, struct backup_outcome *out, struct error *err);

/* Capture the changes since the local tier's chain state as an increment
 * (agent/tiers/replicate.h), under the lock; when the chain cannot go on,
 * make a change backup instead, which starts a new one (then *made_backup
 * is set and out filled).  first_ms: when the first change it covers was
 * seen.  Records what it made in the operations log. */
enum result cycle_capture(const struct cycle_settings *s, int64_t first_ms,
			  struct replicate_result *inc, bool *made_backup,
			  struct backup_outcome *out, struct error *err);

/* How a capture read its changes, for a log line: "wal", "wal (across a
 * WAL restart)" or "diff (why)". */
void cycle_capture_route(const struct replicate_result *inc, char *buf, size_t size);

/* Sync each remote (or only the one named only) with the local tier, in
 * turn, printing a line per remote on report (NULL: none).  held, when not
 * NULL, has a slot per configured remote: each synced one is filled with
 * what it holds.  failed (if not NULL) gets the failing remotes' names,
 * quoted and comma-separated.  results, when not NULL, is a JSON array that
 * gets an object per remote (push --json):
 *   {"remote", "ok", "uploaded", "increments_uploaded", "bytes",
 *    "already_there", "expired_deleted", "skipped", "seconds", "error"}
 * with "error" null or {"message", "kind", "exit_code"}.  Returns the worst
 * failure (a refusal, then an outage, then anything else; the first of a
 * kind). */
enum result cycle_push(const struct conf *c, const char *only, FILE *report,
		       struct remote_holdings *held, char *failed, size_t failed_size,
		       json_t *results, struct error *err);

/* Apply the local tier's retention under the lock (taken as op), keeping
 * what the remotes in pins still want.  With dry_run nothing is deleted and
 * no lock is taken. */
enum result cycle_prune_local(const struct cycle_settings *s, const char *op,
			      const struct remote_holdings *pins, size_t n_pins, int64_t now, bool dry_run, FILE *report,
			      struct prune_result *res, struct error *err);

/* Record a pruning of the local tier in the operations log, and put the
 * detail it wrote ("deleted N, freed S, kept K") in detail. */
void cycle_record_prune(const char *dir, const struct prune_result *res, double seconds,
			char *detail, size_t size);

/* A slot per configured remote, named, holdings unknown. */
struct remote_holdings *holdings_new(const struct conf *c);
void holdings_free_all(struct remote_holdings *h, size_t n);

#endif
