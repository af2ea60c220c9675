/*
 * Increment files: one transaction in SQLite's own write-ahead-log format.
 *
 * An increment is an ordinary SQLite WAL file, so that it can be applied
 * with nothing but the sqlite3 shell: put it beside the database image as
 * "DB-wal", open DB, checkpoint.  Its layout (all integers big-endian):
 *
 *   header, 32 bytes:  magic 0x377f0683 | format 3007000 | page size
 *                      | checkpoint sequence | salt-1 | salt-2 | checksum-1,2
 *   frame, 24 bytes + one page:
 *                      page number | database size in pages after the commit
 *                      (only in the commit frame, else 0) | salt-1 | salt-2
 *                      | checksum-1,2 | the whole page image
 *
 * The page size is the plain number of bytes, 65536 included (the database
 * header's own field writes 65536 as 1; the WAL header does not).
 *
 * Checksums: two 32-bit sums run over the data taken as pairs of 32-bit
 * words (a, b):  s1 += a + s2;  s2 += b + s1.  The header's pair covers its
 * first 24 bytes from (0, 0); each frame's pair continues from the previous
 * frame's (the first frame's from the header's) over the frame header's first
 * 8 bytes and the page.  The magic's low bit says how the words are read:
 * 1 big-endian, 0 little-endian.  We write 0x377f0683, big-endian, on every
 * host: the whole file is then in one byte order, the same bytes come out of
 * any machine for the same pages and salts, and the cost (a byte swap per
 * word on x86) is nothing next to gzip.  SQLite writes its host's order but
 * reads either, and so does the reader here.
 *
 * What cbsync's increments add to the format's rules, checked both ways:
 *   - exactly one transaction: one commit frame, and it is the last frame;
 *   - at least one frame (SQLite cannot commit an empty transaction);
 *   - each page at most once.  SQLite would accept a repeat (the later frame
 *     wins), but an increment holds the latest image of each changed page,
 *     so a repeat means its maker went wrong: the writer refuses it
 *     (CB_ERR_INTERNAL) and the reader calls it damage (CB_ERR_CORRUPT);
 *   - every page number within 1..the size after commit.  SQLite itself
 *     never writes a page beyond the new size into a committing transaction
 *     (a checkpoint would truncate it away anyway), so such a page is refused
 *     too: it can only come from a maker's bug or a damaged size field.
 *
 * Salts: any values work for SQLite so long as the header and every frame
 * agree; walfile_random_salts makes fresh ones, so that frames of one
 * increment can never pass as frames of another.  The checkpoint sequence is
 * the caller's (an increment's sequence number is a natural choice); SQLite
 * does not check it on recovery.
 *
 * The image an increment is applied to may be in either journal mode: SQLite
 * opens a "-wal" it finds beside any non-empty database file, whatever bytes
 * 18/19 of the header say, and the image keeps the mode its page 1 says
 * (page 1 comes from the increment like any other page).  But SQLite deletes,
 * unread, a "-wal" beside an empty (0-byte) file: the by-hand recipe starts
 * from a snapshot, never from nothing.  walfile_apply_fd has neither limit.
 * (Both behaviours are checked by the tests, with the sqlite3 library and
 * shell that the build uses.)
 */
#ifndef CBSYNC_WALFILE_H
#define CBSYNC_WALFILE_H

#include "common/result.h"
#include "common/stream.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WALFILE_HEADER_SIZE 32
#define WALFILE_FRAME_HEADER_SIZE 24
#define WALFILE_MAGIC_BE 0x377f0683u   /* checksums over big-endian words */
#define WALFILE_MAGIC_LE 0x377f0682u   /* checksums over little-endian words */
#define WALFILE_VERSION 3007000u

/* True if page_size is a page size SQLite allows: a power of two from 512
 * to 65536. */
bool walfile_page_size_valid(uint32_t page_size);

/* Size in bytes of an increment holding frames pages of page_size bytes. */
uint64_t walfile_size(uint32_t page_size, uint64_t frames);

/* Two fresh random salts (OpenSSL's RAND_bytes). */
enum result walfile_random_salts(uint32_t salt[2], struct error *err);

/* What a WAL header says, and what a finished increment holds. */
struct walfile_info {
	uint32_t page_size;
	uint32_t checkpoint_seq;
	uint32_t salt[2];
	uint32_t db_pages;      /* database size in pages after the commit */
	uint32_t frames;        /* frames = pages the increment holds */
	uint64_t bytes;         /* size of the WAL file */
};

/* ---- writing -------------------------------------------------------------
 *
 * init writes the header; add_page hands in the pages, each changed page
 * once, in any order; commit writes the last page as the commit frame.  The
 * last page added is held back until the next add_page or the commit, since
 * only then is it known whether it is the commit frame, so a writer holds one
 * page of memory (plus a few bytes a page to catch repeats).  Output goes to
 * write(ctx) as it is made, a frame per call -- straight into a gz_writer
 * (gzstream.h) or a file.  After any failure the writer only fails; the
 * caller discards what it wrote. */

struct walfile_writer {
	/* private: filled by init, read-only for the caller except info */
	stream_write_fn write;
	void *ctx;
	struct walfile_info info;    /* frames counts frames written or held */
	uint32_t sum[2];             /* checksum pair after the last frame out */
	unsigned char *frame;        /* the held frame: header + page */
	bool held;                   /* frame holds a page not yet written */
	uint32_t max_pgno;
	struct walfile_pgset *seen;
	enum result failed;
	bool committed;
};

struct walfile_writer_opts {
	uint32_t page_size;          /* 512..65536, a power of two */
	uint32_t checkpoint_seq;
	uint32_t salt[2];            /* see walfile_random_salts */
};

/* Set w up and write the WAL header.  On failure nothing is left to free. */
enum result walfile_writer_init(struct walfile_writer *w, const struct walfile_writer_opts *opts,
				stream_write_fn write, void *ctx, struct error *err);

/* Add the image (page_size bytes) of page pgno (1-based).  A repeated page
 * number is CB_ERR_INTERNAL. */
enum result walfile_add_page(struct walfile_writer *w, uint32_t pgno, const void *data,
			     struct error *err);

/* Write the last page added as the commit frame, saying the database has
 * db_pages pages afterwards.  CB_ERR_INTERNAL if no page was added or one
 * lies beyond db_pages.  info (may be NULL) gets what was written. */
enum result walfile_commit(struct walfile_writer *w, uint32_t db_pages,
			   struct walfile_info *info, struct error *err);

/* Release w (after commit, or to abandon it); safe on a zeroed w. */
void walfile_writer_free(struct walfile_writer *w);

/* ---- reading -------------------------------------------------------------
 *
 * A push-style checking reader, like gz_reader: feed it the bytes of an
 * increment as they come (from a file, a gz_reader, a backend's get) and it
 * checks the header, then each frame -- salts equal to the header's, the
 * running checksum, the page number, no repeat, nothing after the commit
 * frame -- and hands each page that passes to page(ctx).  finish says whether
 * the whole file was one complete transaction.  Anything wrong is
 * CB_ERR_CORRUPT with a line naming what and the frame (1-based).
 *
 * Pages are handed out as their frame checks out, before the end of the file
 * is seen; a frame cut short, a missing commit frame or a bad size after
 * commit show only at the end.  So a caller that must not change anything
 * unless the whole increment is good either reads it twice (first with page
 * NULL, to check it) or applies it to a scratch copy it throws away on
 * failure, as a restore does. */

typedef enum result (*walfile_page_fn)(void *ctx, uint32_t pgno, const void *data,
				       uint32_t page_size, struct error *err);

struct walfile_reader;

/* page may be NULL: check only. */
enum result walfile_reader_new(struct walfile_reader **out, walfile_page_fn page, void *ctx,
			       struct error *err);
enum result walfile_reader_feed(struct walfile_reader *r, const void *buf, size_t len,
				struct error *err);
/* The same as a stream_write_fn, ctx being the reader: a gz_reader's sink. */
enum result walfile_reader_write(void *reader, const void *buf, size_t len, struct error *err);
/* The input has ended: check that it ended with the commit frame, and fill
 * info (may be NULL). */
enum result walfile_reader_finish(struct walfile_reader *r, struct walfile_info *info,
				  struct error *err);
void walfile_reader_free(struct walfile_reader *r);

/* ---- applying ------------------------------------------------------------
 *
 * What a checkpoint does, without SQLite: each page is written at
 * (pgno - 1) * page_size of the database image, and the file is then cut or
 * extended to db_pages pages.  SQLite's frames hold whole page images, page
 * 1 with its database header included, so page 1 needs nothing special.
 * Use walfile_target_page as a reader's page callback (ctx: the target),
 * then walfile_target_finish with the reader's info. */

struct walfile_target {
	int fd;              /* the database image, open for writing */
	const char *path;    /* for messages */
};

enum result walfile_target_page(void *target, uint32_t pgno, const void *data,
				uint32_t page_size, struct error *err);
enum result walfile_target_finish(struct walfile_target *t, const struct walfile_info *info,
				  struct error *err);

/* Check the whole increment open on wal_fd (from its offset to its end)
 * and only then apply it to the image open on db_fd: the two reads cost
 * little next to a half-applied image.  info (may be NULL) gets what it
 * held.  The image is not fsync'd: that is the caller's. */
enum result walfile_apply_fd(int db_fd, const char *db_path, int wal_fd, const char *wal_path,
			     struct walfile_info *info, struct error *err);

#endif
