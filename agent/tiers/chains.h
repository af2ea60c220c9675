/*
 * Checking a snapshot's chain of increments on one tier as a restore would
 * apply it (verify): every increment's metadata read, the path to the
 * chain's newest state planned (agent/tiers/pitr.h), each increment on it
 * streamed from the tier through every check of agent/engine/chain.h (its
 * size and SHA-256, its gzip and WAL, the state checksum after it), then
 * PRAGMA integrity_check on the state it ends at -- and where the chain
 * breaks, the increments after the break that no restore can reach.  The
 * path is the finest, without roll-ups, so that every increment is checked;
 * then every roll-up a restore may take instead (one that ends in a state
 * the path went through) has its object checked against its metadata: size,
 * SHA-256, gzip and WAL.  (A roll-up's pages are checked against the state
 * they lead to when a restore takes it; one that fails is left out.)
 */
#ifndef CBSYNC_CHAINS_H
#define CBSYNC_CHAINS_H

#include "agent/engine/check.h"
#include "agent/engine/progress.h"
#include "agent/tiers/tiers.h"
#include "common/meta.h"

#include <stddef.h>
#include <stdint.h>

struct chain_report {
	size_t steps;              /* increments applied and checked */
	size_t rollups;            /* roll-ups a restore may take, checked */
	int64_t reach_ms;          /* the time of the state the chain ends at */
	uint64_t bytes;            /* the increments' sizes */
	size_t lost;               /* increments (with objects) past a break */
	char why[256];             /* why it breaks, when lost */
	struct check_result check; /* the state it ends at */
};

/* Check the chain of snapshot (its metadata meta, or NULL) listed on tier t
 * as *incrs[0..n) (its increments as t's catalog lists them), applying it to
 * the snapshot's decompressed and checked image, open read-write on fd at
 * path (which it changes: a scratch copy).  CB_OK with steps 0 when there
 * is nothing to apply; CB_ERR_CORRUPT naming the increment that fails a
 * check.  A break is not a failure here: the caller weighs lost. */
enum result chain_verify(struct tier *t, struct catalog_incr *const *incrs, size_t n,
			 const char *snapshot, const struct backup_meta *meta, int fd,
			 const char *path, struct progress *bar, struct chain_report *out,
			 struct error *err);

#endif
