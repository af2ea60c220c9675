/*
 * Snapshots: a transaction-consistent image of a live SQLite database,
 * streamed into a gzip file.
 *
 * SQLite's online backup API copies every page of the source under one read
 * transaction (so the image is one committed state, while writers keep
 * writing in WAL mode) into a destination database.  Here the destination is
 * a tiny VFS that forwards the pages, which arrive in ascending order, straight
 * into the gzip writer: no temporary copy of the database touches the disk,
 * and memory stays bounded by the two page caches.  Page 1, which SQLite
 * writes last, goes into the head the gzip writer reserved for it.
 *
 * Should SQLite ever write out of order (the VFS checks every offset), the
 * snapshot is redone into a temporary file beside the backup, which is then
 * compressed; the result is the same.
 *
 * The source is opened read-only and never checkpointed, so taking a
 * snapshot changes neither the database nor its -wal file.
 */
#ifndef CBSYNC_SNAPSHOT_H
#define CBSYNC_SNAPSHOT_H

#include "common/hash.h"
#include "common/result.h"
#include "common/stream.h"

struct pagesum;
struct walpos;

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

struct snapshot_opts {
	int level;                /* gzip level 1..9 */
	int threads;              /* compression threads, <= 0: one per CPU */
	double busy_timeout;      /* seconds to keep retrying a locked database */
	const char *tmp_dir;      /* for the fallback copy */
	bool force_fallback;      /* take the temp-file route (for tests) */
	bool scratch;             /* the output is a scratch file (gz_writer_opts) */
	stream_progress_fn progress;  /* bytes of the database copied, of its size */
	void *progress_ctx;
	/* If not NULL: gets the page-hash table of the copy (pagesum.h), the
	 * state an increment chain starts from; the caller frees it. */
	struct pagesum **sum_out;
	/* If not NULL: where the state copied stands in the WAL (walcapture.h;
	 * pos_out->valid false when that is not known), so that an increment
	 * chain can go on from the live WAL's frames. */
	struct walpos *pos_out;
};

struct snapshot_result {
	uint64_t page_size;
	uint64_t page_count;
	uint64_t data_size;       /* page_size * page_count */
	uint64_t compressed_size;
	uint8_t sha256[SHA256_LEN];
	uint64_t state_checksum;  /* of the copy's pages (agent/engine/pagesum.h) */
	/* When the copy's state is at (ms since the epoch): stamped once the
	 * source's read transaction holds its snapshot, and rounded up, so
	 * every commit the copy holds was made before it. */
	int64_t state_ms;
	bool used_fallback;
};

/* Snapshot the database at db_path into fd, an empty file open for reading
 * and writing. */
enum result snapshot_to_gzip(const char *db_path, int fd,
			     const struct snapshot_opts *opts,
			     struct snapshot_result *res, struct error *err);

/* Copy every page of src into dst with SQLite's backup API, as one step
 * under one read transaction of src, retrying (with backoff) while either is
 * locked, for at most busy_timeout seconds or until cancel_requested().
 * Returns SQLITE_OK or SQLite's error code; page_count (may be NULL) gets the
 * source's size in pages. */
int snapshot_copy(sqlite3 *dst, sqlite3 *src, double busy_timeout, uint64_t *page_count);

/* Open the live database at path read-only for a copy, never checkpointing
 * it (not even on close), waiting busy_timeout seconds for locks. */
enum result snapshot_open_source(const char *path, double busy_timeout, sqlite3 **out,
				 struct error *err);

/* Map a SQLite error on db to an error line about path. */
enum result snapshot_sqlite_error(struct error *err, int rc, const char *path,
				  const char *what);

#endif
