/*
 * Restore drills: proof that a tier can rebuild the database.
 *
 * A drill of one tier restores the newest state it holds (its newest
 * snapshot and the increments of its chain, decrypting if need be) with
 * every check restore makes -- gzip CRC-32, SHA-256 against the metadata,
 * signatures with [signing] verify_key, the state checksum after each
 * increment, PRAGMA integrity_check -- into a scratch directory, then opens
 * the copy with SQLite and runs PRAGMA foreign_key_check and the statements
 * of [drill] check_sql, each of which must return a true value.  It
 * measures the recovery time (listing, download, decompression, checks and
 * increments) and how old the recovered state was (the tier's RPO at that
 * moment), records the result (agent/tiers/drills.h) and a line in the
 * operations log, and removes the copy.
 *
 * It never touches the live database or any tier.  The scratch directory
 * (.cbsync-drill in [drill] dir, by default beside the database) is locked
 * for the drill and emptied of what drills make before it starts (and at
 * the agent's start), so what a killed drill left does not stay; the space
 * the copy needs (the live database's size and a margin) is checked first.
 */
#ifndef CBSYNC_DRILL_H
#define CBSYNC_DRILL_H

#include "agent/tiers/drills.h"
#include "agent/tiers/lock.h"
#include "conf/conf.h"

#define DRILL_DIR_NAME ".cbsync-drill"

/* Take the scratch directory for drills (*dir, newly allocated): create
 * it, lock it (CB_ERR_BUSY while another drill runs) and empty it of what
 * a killed drill left.  Release with dir_lock_release. */
enum result drill_scratch_open(const struct conf *c, char **dir, struct dir_lock *lock,
			       struct error *err);

/* Empty the scratch directory now, unless a drill is running (the agent's
 * start, and after a drill of its was killed). */
void drill_scratch_clean(const struct conf *c);

/* Drill tier (its name: "local" or a remote's) in dir, which the caller
 * holds (drill_scratch_open), filling *out; returns its outcome (CB_OK for
 * a drill that passed).  A backup that vanished or failed a check is tried
 * once more from a new listing (a prune may have raced the drill).  The
 * result is recorded and logged whatever it is, unless interrupted. */
enum result drill_tier(const struct conf *c, const char *dir, const char *tier,
		       struct drill_record *out);

#endif
