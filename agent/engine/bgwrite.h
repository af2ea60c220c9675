/*
 * Writing a file on a second thread.
 *
 * A restore or a verify inflates a backup and writes what comes out into a
 * new file, and it needs the state checksum of those bytes (pagesum.h).
 * Done in line, the inflate waits for each write(2) and then for the
 * hashing; here the caller's bytes are copied into one of a few buffers
 * and a thread writes and hashes them while the caller inflates the next.
 * Order is kept: the file gets exactly the bytes given, in order.
 *
 * Memory is bounded: BGWRITE_SLOTS buffers of BGWRITE_SLOT_SIZE; a caller
 * faster than the disk waits for a free one.  The first failed write is
 * reported by the next bgwrite_write or by bgwrite_finish, naming the path;
 * nothing after it is written.  The fsync at the end overlaps the caller's
 * next step too (bgwrite_sync).  Without a thread (pthread_create failed)
 * the writes happen in line, with the same results.
 */
#ifndef CBSYNC_BGWRITE_H
#define CBSYNC_BGWRITE_H

#include "common/bgpipe.h"
#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Its buffers are a bgpipe's (common/bgpipe.h). */
#define BGWRITE_SLOTS BGPIPE_SLOTS
#define BGWRITE_SLOT_SIZE BGPIPE_SLOT_SIZE

struct bgwrite;

/* Start writing to fd (path names it in errors; copied).  With pagesum,
 * the bytes' state checksum is computed on the way (bgwrite_checksum). */
enum result bgwrite_start(struct bgwrite **out, int fd, const char *path, bool pagesum,
			  struct error *err);
enum result bgwrite_write(struct bgwrite *w, const void *buf, size_t len, struct error *err);
/* Write what is buffered and wait until every byte is in the file; the
 * first error if any.  The thread then fsyncs the file while the caller
 * goes on (to check it, say): bgwrite_sync waits for that. */
enum result bgwrite_finish(struct bgwrite *w, struct error *err);
/* After a successful bgwrite_finish: wait until the file is durable. */
enum result bgwrite_sync(struct bgwrite *w, struct error *err);
/* After a successful bgwrite_finish: the page size and state checksum of
 * everything written, if it was whole pages of a SQLite image. */
bool bgwrite_checksum(const struct bgwrite *w, uint32_t *page_size, uint64_t *checksum);
/* Stops the thread (what is still buffered is dropped) and frees w.  NULL
 * is fine. */
void bgwrite_free(struct bgwrite *w);

#endif
