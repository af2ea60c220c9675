/*
 * Capturing an increment from the live database's WAL frames.
 *
 * SQLite in WAL mode commits by appending frames -- whole page images -- to
 * the "-wal" file.  Between two captures the frames appended since the
 * chain's state hold every page that changed, so the next increment is the
 * newest image of each page among them: read from the WAL at the chain's
 * position (struct walpos, walsource.h) up to the last commit SQLite has
 * published, at the cost of what changed rather than of the database.
 *
 * How it stays correct without ever writing, locking or checkpointing the
 * database:
 *
 *   - It holds a read transaction on a read-only connection of its own while
 *     it reads.  A reader whose snapshot uses the WAL stops SQLite from
 *     restarting the WAL (writing a new generation over the old frames), so
 *     the frames cannot move under it; a reader never makes a writer wait.
 *     The transaction lasts as long as two passes over the new frames.
 *   - It reads only what is published: the wal-index header says which
 *     frame ends the last committed transaction (walsource.h), and that
 *     frame's checksum pair must be the one the chain reaches.  So a
 *     transaction still being written, or fsync'd, is left for the next
 *     capture.  The state's time is stamped just after that header was read:
 *     every commit the state holds was published before it, and none it
 *     lacks (a stamp after reading the frames, milliseconds later, would
 *     claim commits published meanwhile).
 *   - Every frame from the position on is checked: the generation's salts,
 *     the checksum chain from the position's pair (a torn frame ends the
 *     read), and the frame at the position itself must still be the one
 *     consumed (salts and checksum).  After the read the WAL header is read
 *     again and must be byte for byte the same: a restart in between would
 *     have changed it before writing any frame.  Nothing here depends on
 *     winning a race; anything that does not check out is a "fallback".
 *   - A restart SQLite made since the last capture is followed when nothing
 *     was lost: exactly one restart (salt-1 one more: every restart adds one
 *     to it, while the header's checkpoint sequence is the writing
 *     connection's own count), and the new generation has not yet reached
 *     the old position
 *     (the frame at the position is still there, before and after the read;
 *     SQLite writes a generation from its first frame on, in order).  Then
 *     the old generation's frames after the position are all still in the
 *     file, and it ended where its checksum chain ends (a restart happens
 *     only when every frame was checkpointed, so all of them were
 *     published); the new generation continues from that state.
 *   - Pages beyond the final size are dropped; pages that only repeat what
 *     the table already holds are left out; a database that grew must have
 *     a frame for every new page (else fallback: SQLite may leave a page it
 *     freed unwritten, and only a full read knows its bytes).
 *
 * Every loss of continuity is a fallback, and the caller then takes the page
 * diff (capture.h), which needs nothing but the database and records a fresh
 * position: no position, a database or WAL file replaced (other inode), no
 * -wal or an empty one, a rollback-journal database, a wal-index that cannot
 * be read, the WAL restarted more than once or over the position, frames
 * that do not check out up to the published end, a page size that changed.
 *
 * One limit, documented in the README: a commit frame a writer wrote but
 * never published (it died, or its fsync failed, between the two) is not
 * read, since it is not published -- unless a restart is being followed, in
 * whose old generation such a frame would look committed; SQLite's own
 * recovery takes that same frame as committed.
 */
#ifndef CBSYNC_WALCAPTURE_H
#define CBSYNC_WALCAPTURE_H

#include "agent/engine/capture.h"
#include "agent/engine/pagesum.h"
#include "agent/engine/walsource.h"
#include "common/result.h"

#include <sqlite3.h>
#include <stdbool.h>

/* Begin a read transaction on src (the live database at db_path, opened
 * with snapshot_open_source) and find where the state it reads stands in the
 * WAL: pos->valid only if the wal-index header was the same just before and
 * just after the transaction began (so the transaction reads exactly that
 * state) and the -wal file agrees with it.  The transaction stays open for
 * the caller's reads (SQLite's backup API reads under it) until src is
 * closed or "COMMIT" is run.  state_ms (may be NULL) gets the time just
 * after the transaction began: its state was the database's then. */
enum result walcap_begin_read(sqlite3 *src, const char *db_path, struct walpos *pos,
			      int64_t *state_ms, struct error *err);

/* Is a commit frame written past the state at pos that SQLite has not
 * published yet (being fsync'd)?  Its publication makes no file event, so a
 * caller that saw the frames' write and captured before the publication
 * must capture again. */
bool walcap_commit_pending(const char *db_path, const struct walpos *pos);

struct walcap_result {
	bool fallback;            /* continuity lost: take the page diff */
	char why[160];            /* ... why, one line */
	bool table_touched;       /* the table was changed before the loss showed:
				   * load it again before the diff */
	bool followed_restart;    /* the WAL had restarted and it went on */
	struct capture_result cap;
};

/* Capture the frames committed since from (the position of the state table
 * holds) as an increment into fd, an empty file open for reading and
 * writing, as capture_diff would; or say why not (res->fallback).
 * res->cap.changed says whether an increment was written; res->cap.pos and
 * state_ms are the new state's, also when nothing changed (the position may
 * still have moved, to a new generation).  A failure (CB_ERR_*: the database
 * locked, I/O) leaves table in no known state, like capture_diff. */
enum result walcap_capture(const struct capture_opts *o, struct pagesum *table,
			   const struct walpos *from, int fd, struct walcap_result *res,
			   struct error *err);

#endif
