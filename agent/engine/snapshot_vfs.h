/*
 * The snapshot's destination: an SQLite VFS ("cbsync-stream") whose one
 * main database file is not a file but the gzip stream of the backup.
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

#include "agent/engine/gzstream.h"
#include "agent/engine/snapshot.h"
#include "common/result.h"

#include <stdbool.h>
#include <stdint.h>

#define STREAM_VFS_NAME "cbsync-stream"

/* What the destination VFS streams into, and what went wrong if anything. */
struct vfs_stream {
	int fd;
	int level;
	struct gz_writer *gz;
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
	const struct snapshot_opts *opts;
};

/* Register the VFS with SQLite (once per process: call through
 * pthread_once). */
void snapshot_vfs_register(void);

#endif
