/*
 * Capturing an increment by page diff, and the increment writer both
 * capture routes share.
 *
 * The capture reads a transaction-consistent image of the live database the
 * way a snapshot does -- SQLite's backup API into the streaming VFS of
 * snapshot_vfs.h, under one read transaction, never checkpointing, never
 * writing to the database -- but instead of compressing every page it
 * compares each with the page-hash table of the state the chain has reached
 * (agent/engine/pagesum.h) and writes only the pages that differ, as one
 * transaction in WAL format (walfile.h) through gzip into a file.  The table
 * then describes the new state, and its checksum is the increment's state
 * checksum.
 *
 * It depends on nothing but the database as it is now, so it is always
 * correct, whatever happened since the last capture (a checkpoint, a WAL
 * restart, a database changed while the agent was down); its cost is a read
 * of the whole database.  Reading new WAL frames as they are committed
 * (walcapture.h) is the cheap route; this one is its fallback, and it also
 * finds where in the WAL the image it read stands (walcapture_begin_read),
 * so that the cheap route can take over again from there.
 *
 * Page 1 of the image is the backup API's copy, whose header SQLite rewrites
 * on the way (its change counter, schema cookie and version-valid-for
 * number); frames carry the live page 1.  Both are the same database, but
 * their bytes, and so the state checksums, differ: compare states across
 * routes by content, not by checksum.
 */
#ifndef CBSYNC_CAPTURE_H
#define CBSYNC_CAPTURE_H

#include "agent/engine/pagesum.h"
#include "agent/engine/walfile.h"
#include "agent/engine/walsource.h"
#include "common/hash.h"
#include "common/result.h"

#include <stdbool.h>
#include <stdint.h>

struct capture_opts {
	const char *db_path;
	double busy_timeout;      /* seconds to wait for a locked database */
	int level;                /* gzip level */
	int threads;              /* compression threads, <= 0: one per CPU */
	uint32_t checkpoint_seq;  /* the WAL header's field: the increment's seq */
};

struct capture_result {
	bool changed;             /* an increment was written */
	bool new_base;            /* the page size changed: a chain cannot carry
				   * that, take a snapshot (nothing written) */
	uint32_t page_size;
	uint32_t page_count;      /* the database's size in pages now */
	uint32_t pages;           /* pages the increment holds */
	uint64_t state_checksum;  /* of the database now */
	uint64_t original_size;   /* the WAL file's size */
	uint64_t compressed_size; /* the object's size */
	uint8_t sha256[SHA256_LEN];  /* of the object */
	/* When the state reached was the database's: stamped once its read
	 * transaction was established (a diff), or once the wal-index header
	 * that publishes it was read (the WAL route) -- so never before a
	 * commit it includes, and never after one it lacks but by the few
	 * microseconds those take. */
	int64_t state_ms;
	struct walpos pos;        /* the state's place in the WAL (valid: known) */
	bool pending;             /* a commit was being written past that state
				   * (walcap_commit_pending): capture again soon */
};

/* Compare the database with table (the state the chain is at) and, if any
 * page differs, write an increment into fd (an empty file open for reading
 * and writing) and bring table to the new state.  Nothing is written and
 * table is unchanged when nothing changed or a new base is needed.  After a
 * failure table is in no known state: load it again (or rebuild it). */
enum result capture_diff(const struct capture_opts *o, struct pagesum *table, int fd,
			 struct capture_result *res, struct error *err);

/* ---- the increment writer ------------------------------------------------
 *
 * Pages in, an increment out: the first page opens the gzip stream on fd and
 * the WAL file inside it (fresh random salts, the options' checkpoint
 * sequence); finish commits it with the database's size and fills res's
 * sizes and SHA-256.  Zero the struct and set o, fd and page_size first. */
struct capture_out {
	const struct capture_opts *o;
	int fd;
	uint32_t page_size;
	/* private */
	struct gz_writer *gz;
	struct walfile_writer wal;
	bool open;
	uint32_t pages;
};

enum result capture_out_page(struct capture_out *w, uint32_t pgno, const void *data,
			     struct error *err);

/* Commit what was given (at least one page) as a database of db_pages
 * pages; res gets changed, pages, original_size, compressed_size and sha256. */
enum result capture_out_finish(struct capture_out *w, uint32_t db_pages,
			       struct capture_result *res, struct error *err);

void capture_out_free(struct capture_out *w);

#endif
