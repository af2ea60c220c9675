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
 * ([drill] dir, default .cbsync-drill beside the database) is locked for
 * the drill and emptied before it starts, so what a killed drill left is
 * removed by the next; the space the copy needs (the live database's size
 * and a margin) is checked first.
 */
#ifndef CBSYNC_DRILL_H
#define CBSYNC_DRILL_H

#include "agent/tiers/drills.h"
#include "conf/conf.h"

#define DRILL_DIR_NAME ".cbsync-drill"

/* Drill tier (its name: "local" or a remote's), filling *out; returns its
 * outcome (CB_OK for a drill that passed).  The result is recorded and
 * logged whatever it is. */
enum result drill_tier(const struct conf *c, const char *tier, struct drill_record *out);

#endif
