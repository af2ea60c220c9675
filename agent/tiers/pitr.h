/*
 * Point-in-time restore: which snapshot, and which run of its increments,
 * reach the newest captured state at or before a time.  A pure function
 * of what the tiers hold (the caller lists them and reads the metadata it
 * needs; agent/tiers/chains.h does that for restore and verify).
 *
 * A state is at a time: a snapshot's at its state time (meta_state_ms: the
 * first millisecond after its read transaction held the database, or its
 * created time when its metadata predates that field), an increment's just
 * after its last transaction -- last_tx_ms + 1 (pitr_incr_at), since that
 * time is rounded down to the millisecond: a transaction at 09:48:00.2504
 * reads 09:48:00.250, and a restore to 09:48:00.250 must not hold it.  So
 * no state taken for a time holds a commit made after it.  A chain is
 * snapshot S, then increments of S
 * each of which continues the one before: its seq first is the previous
 * seq last + 1 (1 for the first) and its prev is the previous one's name
 * ("" for the first), with one page size throughout.  Each increment's
 * state is a state of the database only if every link before it checks;
 * so an increment without usable metadata or without its object, or one
 * that does not continue any usable increment (a gap, a wrong prev), ends
 * the chain there -- the states before it stay restorable.
 *
 * Overlapping increments exist after an interrupted compaction (a merged
 * increment covering seq a..b beside the originals a..b) and by design as
 * roll-ups (common/increment.h): an increment may follow a roll-up that
 * ends in the same state as its prev -- same seq last, state checksum, page
 * count and page size -- though the roll-up is not its prev by name.  Any
 * path whose links check may be taken; where two reach the same state, the
 * plan takes the one that reads fewer bytes, then the finer-grained one
 * (more increments).  Every intermediate state stays a target of its own,
 * so a time between the ends of a merged range still gets its own state.
 *
 * A state's time is never taken as earlier than the state it follows (a
 * clock that stepped back cannot make a later state look older), so along
 * a chain the times never decrease.
 *
 * Among all states at or before the time, the plan takes the newest.  On a
 * tie within a chain, the one further along it, then the finer path; then
 * (between chains) the newer snapshot, then the first in the caller's
 * order -- the caller lists the local tier's copies first, and within a
 * chain the first copy listed of an increment is the one taken.
 */
#ifndef CBSYNC_PITR_H
#define CBSYNC_PITR_H

#include "common/increment.h"
#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* No time limit: the newest state of all. */
#define PITR_LATEST INT64_MAX

/* A snapshot a restore may start from (one copy of it, on one tier). */
struct pitr_snap {
	const char *name;          /* "<stem>.db.gz" */
	int64_t state_ms;          /* when its state is at */
	uint64_t size;             /* what reading it costs, in bytes */
	size_t ref;                /* the caller's: which copy */
};

/* An increment as listed (one copy of it, on one tier). */
struct pitr_incr {
	const char *key;           /* increments/<stem>/<...>.wal.gz */
	const struct incr_meta *meta;  /* NULL: no usable metadata (or not read) */
	const char *problem;       /* with meta NULL, why (for messages), or NULL */
	bool has_data;             /* its object is there */
	uint64_t size;             /* the object's size */
	size_t ref;                /* the caller's: which copy */
};

struct pitr_plan {
	size_t snap;               /* index into the snapshots */
	size_t *steps;             /* indexes into the increments, in chain order */
	size_t n_steps;
	int64_t reach_ms;          /* the time of the state it reaches */
	uint64_t bytes;            /* what it reads: the snapshot and every step */
};

/* When the state after increment m is at (see above). */
int64_t pitr_incr_at(const struct incr_meta *m);

/* Plan a restore to the newest state at or before at_ms (PITR_LATEST: the
 * newest of all).  CB_ERR_NOT_FOUND when no state is at or before at_ms:
 * err names the oldest and newest restorable times, or says there is no
 * snapshot at all.  out is zeroed first; free it with pitr_plan_free. */
enum result pitr_plan(const struct pitr_snap *snaps, size_t n_snaps,
		      const struct pitr_incr *incrs, size_t n_incrs, int64_t at_ms,
		      struct pitr_plan *out, struct error *err);
void pitr_plan_free(struct pitr_plan *p);

/* The oldest and newest restorable states' times; false if there is no
 * snapshot. */
bool pitr_span(const struct pitr_snap *snaps, size_t n_snaps, const struct pitr_incr *incrs,
	       size_t n_incrs, int64_t *oldest_ms, int64_t *newest_ms);

/* Where snapshot snaps[snap]'s chain ends, for verify: the finest path to
 * its newest state without roll-ups (the one that checks every increment
 * captured or merged), and the increments of the chain past that end whose
 * objects are there -- listed, but no restore can reach them.  (Metadata
 * without its object past the end is what an interrupted capture leaves
 * behind, and lost nothing.) */
struct pitr_chain {
	struct pitr_plan path;     /* path.snap is snap */
	size_t lost;               /* increments with objects past the end */
	size_t first_lost;         /* the first increment past the end (index), when lost */
	char why[256];             /* why the chain ends before it, when lost */
};

enum result pitr_chain_of(const struct pitr_snap *snaps, size_t snap,
			  const struct pitr_incr *incrs, size_t n_incrs, struct pitr_chain *out,
			  struct error *err);
void pitr_chain_free(struct pitr_chain *c);

#endif
