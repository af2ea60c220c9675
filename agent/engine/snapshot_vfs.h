/*
 * The snapshot's destination: an SQLite VFS ("cbsync-stream") whose one
 * main database file is not a file but a stream of the copy's pages to a
 * consumer -- the gzip stream of a backup, or a capture's page comparison.
 * SQLite's backup API writes the copy's pages into it in order; page 1 is
 * held back and written last (its header changes until the end), and a
 * write that cannot be streamed marks the stream out of order, for the
 * caller to fall back to a temp file.
 *
 * The stream's state reaches the VFS through the URI parameter "ctx" of the
 * destination's file name, so concurrent snapshots share nothing.
 */
#ifndef CBSYNC_SNAPSHOT_VFS_H
#define CBSYNC_SNAPSHOT_VFS_H

#include "common/result.h"
#include "common/stream.h"

#include <sqlite3.h>

#include <stdbool.h>
#include <stdint.h>

#define STREAM_VFS_NAME "cbsync-stream"

/* Who takes the copy's bytes: a snapshot's gzip writer, or a capture that
 * compares each page with the state before. */
struct vfs_consumer {
	/* The first write fixed the page size. */
	enum result (*start)(void *ctx, int page_size, struct error *err);
	/* The next bytes of the copy after page 1, in order (zeros for pages
	 * SQLite skips), a whole number of pages at a time. */
	enum result (*body)(void *ctx, const void *buf, size_t len, struct error *err);
	void *ctx;
	/* Optional: pages copied so far, of the source's total, in bytes. */
	stream_progress_fn progress;
	void *progress_ctx;
};

/* What the destination VFS streams into, and what went wrong if anything.
 * Page 1 is held back in head (SQLite rewrites it until the end). */
struct vfs_stream {
	const struct vfs_consumer *out;
	struct error *err;
	enum result failure;    /* first error, CB_OK if none */
	bool out_of_order;      /* a write SQLite could not stream: fall back */
	int page_size;          /* fixed by the first write */
	unsigned char *head;    /* page 1 */
	bool head_written;
	int64_t next;           /* offset of the next body byte expected */
	int64_t size;           /* logical size of the destination file */
	uint64_t pages_total;
	uint64_t pages_done;
};

/* Register the VFS with SQLite (once per process: call through
 * pthread_once). */
void snapshot_vfs_register(void);

/* Copy src (the live database at db_path, opened with snapshot_open_source)
 * through the VFS to s->out, under one read transaction of src; s is zeroed
 * but for out.  On success s->head holds page 1 and s->size the copy's size
 * (a whole number of s->page_size pages); the caller frees s->head either
 * way.  s->out_of_order after a failure: SQLite wrote something that cannot
 * be streamed, and a copy into a file would work. */
enum result snapshot_stream_copy(sqlite3 *src, const char *db_path, double busy_timeout,
				 struct vfs_stream *s, struct error *err);

#endif
