/*
 * Replication into the local tier: the chain of increments the agent keeps
 * after each snapshot it makes ([replicate] enabled).
 *
 * Each capture (agent/engine/capture.h) writes the pages that changed since
 * the chain's state as the chain's next increment,
 *   <dir>/increments/<snapshot>/<seq>-<seq>_<first>_<last>.wal.gz
 * with its metadata beside it (common/increment.h).  The agent keeps where
 * the chain is in <dir>/.cbsync-chain/, a folder of its own that no tier
 * lists:
 *   <db>.pagesum   the page-hash table of the state the chain has reached
 *   <db>.json      the chain: snapshot, sequence number, last increment,
 *                  its last transaction's time, and the state checksum
 *
 * Order of writing: the increment's metadata, its data (the commit point),
 * the table, the chain file -- each atomic.  After a crash the chain file
 * may lag: a table that does not match it, an increment past its sequence
 * number, or a missing snapshot all end the chain, and the capture says a
 * new base is needed (the caller takes a snapshot, which starts a new
 * chain).  So nothing is captured twice and no change falls in a gap.
 */
#ifndef CBSYNC_REPLICATE_H
#define CBSYNC_REPLICATE_H

#include "agent/engine/pagesum.h"
#include "common/increment.h"
#include "common/result.h"

#include <stdbool.h>
#include <stdint.h>

#define REPLICATE_STATE_DIR ".cbsync-chain"

/* A chain starts from the snapshot just made in dir (its name) with the
 * page-hash table of what it holds. */
enum result replicate_begin(const char *dir, const char *db_path, const char *snapshot,
			    const struct pagesum *table, struct error *err);

struct replicate_opts {
	const char *dir;          /* the local tier */
	const char *db_path;
	int level;                /* gzip level */
	int threads;
	double busy_timeout;
	int64_t first_ms;         /* when the first change it covers was seen */
};

struct replicate_result {
	bool made;                /* an increment was committed */
	bool new_base;            /* no chain to continue: take a snapshot */
	char why[160];            /* ... and why not */
	char name[INCR_NAME_MAX]; /* the increment's name, when made */
	uint32_t pages;
	uint64_t bytes;           /* its object's size */
};

/* Capture the changes since the chain's state as its next increment. */
enum result replicate_capture(const struct replicate_opts *o, struct replicate_result *res,
			      struct error *err);

#endif
