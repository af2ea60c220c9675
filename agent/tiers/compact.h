/*
 * Compaction: merging a chain's older increments so that object counts stay
 * bounded while point-in-time restore keeps reaching back.
 *
 * Increments are cut about once a second while a database is written, which
 * is what a restore to "a few seconds ago" needs, but is far finer than
 * anyone needs for last Tuesday.  So, by the age of their last transaction:
 *
 *   younger than an hour     kept as cut: any second can be reached
 *   an hour to a day         merged per minute of wall time (UTC): a restore
 *                            reaches the end of each minute that had writes
 *   older than a day         merged per hour
 *
 * A merged increment is an increment like any other (common/increment.h):
 * it covers the sequence numbers of the ones it replaces, holds the newest
 * image of every page any of them changed, and takes the database to the
 * state the last of them reached, with that one's state checksum.  A restore
 * checks it as it checks every step.
 *
 * Only a run of consecutive increments of one chain is merged, never across
 * a gap, and never the chain's newest increment while it is the one the
 * agent continues from (its name is the next one's predecessor).
 *
 * Order of writing, so that a crash at any point loses nothing: the merged
 * increment (metadata, then data) beside the originals; then the successor's
 * metadata now naming it as predecessor; then the originals are deleted.  A
 * crash leaves both routes through that stretch of the chain whole, and the
 * next compaction of the chain finishes the job (compact_repair); a restore
 * in between follows whichever route links (agent/tiers/pitr.h).
 *
 * Roll-ups.  Kept as cut, an hour of one-second increments of a busy
 * database re-ships its hot pages (b-tree interior pages, full-text index
 * segments) thousands of times: more bytes than the snapshot they follow,
 * all of which a restore of the newest state would read.  So beside the
 * increments, each window of wall time that has ended is rolled up -- every
 * minute, every 10 minutes, every hour and every 6 hours (UTC), from the
 * finest roll-ups already made -- into one increment holding the newest
 * image of each page the window changed, in the chain's rollups folder
 * (common/increment.h).  Increments stay as they are, so every second stays
 * restorable; a restore takes the cheapest way through (agent/tiers/pitr.h)
 * and reads about the pages that changed rather than every copy of them.
 * A window is rolled up when it has more than one increment and fine
 * compaction will not merge it into one anyway (a minute older than an
 * hour, an hour older than a day).  A roll-up is dropped once it leads
 * nowhere: its predecessor merged away (merging relinks roll-ups that
 * followed, as it relinks the increment that did), its end no longer an
 * increment in the same state, or one increment left in its range.
 * rebase_share measures the newest chain by its cheapest way through.
 *
 * Memory is bounded by one page and a bit per page of the database: the
 * pages are gathered in a sparse scratch file in the chain's folder.
 */
#ifndef CBSYNC_COMPACT_H
#define CBSYNC_COMPACT_H

#include "common/increment.h"
#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMPACT_KEEP_FINE 3600     /* seconds: increments kept as cut */
#define COMPACT_MINUTES 86400      /* seconds: merged per minute until then */

/* The bucket an increment whose last transaction was at last (seconds)
 * falls in at time now: -1 for "keep as cut", else a number that equal
 * buckets share (per-minute and per-hour buckets never collide). */
int64_t compact_bucket(int64_t last, int64_t now);

/* A run of consecutive items to merge into one. */
struct compact_group {
	size_t first;
	size_t count;   /* >= 2 */
};

/* Plan the merges of one chain: items are its increments in seq order;
 * protect (may be NULL) the index of one never to merge.  Writes up to max
 * groups into out and returns how many there are (which may be more). */
size_t compact_plan(const struct incr_name *items, size_t n, int64_t now, const size_t *protect,
		    struct compact_group *out, size_t max);

struct compact_opts {
	const char *dir;          /* the local tier */
	const char *db;           /* the database's stem: only its chains */
	const char *protect;      /* an increment never to merge (the agent's
				   * chain's newest), or NULL */
	int level;                /* gzip level */
	int threads;
	int64_t now;              /* seconds */
	bool dry_run;
};

struct compact_result {
	size_t merged;            /* increments merged away */
	size_t made;              /* merged increments written */
	size_t repaired;          /* interrupted compactions finished */
	uint64_t bytes_before;    /* sizes of what was merged */
	uint64_t bytes_after;     /* ... and of what replaced it */
	size_t rolled;            /* roll-ups written */
	size_t dropped;           /* roll-ups removed, no longer a way through */
	/* The newest chain (by its snapshot's time): its snapshot and what a
	 * restore of its newest state reads besides the snapshot, once
	 * compacted: the sizes of the objects on its cheapest way through,
	 * roll-ups and all. */
	char newest[BACKUP_NAME_MAX];
	uint64_t newest_bytes;
};

/* Compact every chain of db in dir (the caller holds the tier's lock). */
enum result compact_local(const struct compact_opts *o, struct compact_result *res,
			  struct error *err);

#endif
