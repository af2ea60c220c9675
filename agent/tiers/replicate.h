/*
 * Replication into the local tier: the chain of increments the agent keeps
 * after each snapshot it makes ([replicate] enabled).
 *
 * Each capture writes the pages that changed since the chain's state as the
 * chain's next increment,
 *   <dir>/increments/<snapshot>/<seq>-<seq>_<first>_<last>.wal.gz
 * with its metadata beside it (common/increment.h).  It reads them from the
 * live WAL's frames (agent/engine/walcapture.h) when the chain knows where
 * its state stands in the WAL, and otherwise -- no position, or continuity
 * lost: a WAL restart it cannot follow, a replaced file, a rollback-journal
 * database -- by page diff (agent/engine/capture.h), which records a fresh
 * position for the next one.  The agent keeps where the chain is in
 * <dir>/.cbsync-chain/, a folder of its own that no tier lists:
 *   <db>.pagesum   the page-hash table of the state the chain has reached
 *   <db>.json      the chain: snapshot, sequence number, last increment,
 *                  its state's time, the state checksum, and the state's
 *                  place in the WAL
 *
 * Order of writing: the increment's metadata, its data (the commit point),
 * the table, the chain file -- each atomic.  After a crash the chain file
 * may lag by one increment (the table saved or not): that increment is
 * taken in -- its pages into the table if need be, checked against its
 * state checksum -- and the chain goes on by a page diff, the position
 * having been lost with the chain file.  A missing snapshot, or a table
 * and chain that match no increment, end the chain, and the capture says a
 * new base is needed (the caller takes a snapshot, which starts a new
 * chain).  So nothing is captured twice and no change falls in a gap.
 */
#ifndef CBSYNC_REPLICATE_H
#define CBSYNC_REPLICATE_H

#include "agent/engine/pagesum.h"
#include "agent/engine/walsource.h"
#include "common/increment.h"
#include "common/result.h"

#include <stdbool.h>
#include <stdint.h>

struct keyring;

#define REPLICATE_STATE_DIR ".cbsync-chain"

/* A chain starts from the snapshot just made in dir (its name) with the
 * page-hash table of what it holds and, if pos is not NULL and valid, that
 * state's place in the WAL. */
enum result replicate_begin(const char *dir, const char *db_path, const char *snapshot,
			    struct pagesum *table, const struct walpos *pos,
			    struct error *err);

struct replicate_opts {
	const char *dir;          /* the local tier */
	const char *db_path;
	int level;                /* gzip level */
	int threads;
	double busy_timeout;
	int64_t first_ms;         /* when the first change it covers was seen */
	const struct keyring *seal; /* [local] encrypt: increments are sealed for
				     * its recipients (<name>.age), captured into a
				     * scratch file beside the database first */
};

/* How a capture read the changes. */
enum replicate_route {
	REPLICATE_NONE,           /* it did not get that far */
	REPLICATE_WAL,            /* the WAL's new frames */
	REPLICATE_DIFF,           /* a page diff of the whole database */
};

struct replicate_result {
	bool made;                /* an increment was committed */
	bool new_base;            /* no chain to continue: take a snapshot */
	char why[160];            /* ... and why not */
	char name[INCR_NAME_MAX]; /* the increment's name, when made */
	uint32_t pages;
	uint64_t bytes;           /* its object's size */
	enum replicate_route route;
	char fallback[160];       /* route DIFF: why not the WAL's frames */
	bool followed_restart;    /* route WAL across a WAL restart */
	bool pending;             /* a commit was still being written past the
				   * state reached: capture again within the interval */
	bool adopted;             /* took in an increment a crash had left past the chain file */
};

/* "wal", "diff" or "none". */
const char *replicate_route_name(enum replicate_route route);

/* Capture the changes since the chain's state as its next increment. */
enum result replicate_capture(const struct replicate_opts *o, struct replicate_result *res,
			      struct error *err);

#endif
