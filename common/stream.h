/*
 * Streams: bytes on their way somewhere, and the one loop that reads a file
 * into them.
 *
 * A stream is a write function and its context -- the put of an upload, a
 * gzip reader, the file a check decompresses into -- plus what every such
 * journey wants kept on the way: the bytes moved, a running SHA-256 when
 * asked for, progress for a terminal, and the first error, after which
 * every write fails the same way without calling the function again (a
 * sticky error, so a caller may check once at the end).  The same write
 * type is what a backend's get streams into (backends/backend.h) and what a
 * gzip reader writes to (agent/engine/gzstream.h).
 */
#ifndef CBSYNC_STREAM_H
#define CBSYNC_STREAM_H

#include "common/hash.h"
#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where bytes go; a non-CB_OK result stops the stream. */
typedef enum result (*stream_write_fn)(void *ctx, const void *buf, size_t len,
				       struct error *err);

/* Now and then: the bytes moved so far, of total (0 when unknown). */
typedef void (*stream_progress_fn)(void *ctx, uint64_t done, uint64_t total);

struct stream {
	stream_write_fn write;
	void *ctx;
	stream_progress_fn progress;  /* optional */
	void *progress_ctx;
	uint64_t total;               /* for progress; 0 if unknown */
	uint64_t bytes;               /* written so far */
	bool hashing;                 /* sha below is kept */
	struct sha256 sha;
	enum result failed;           /* the first failure, CB_OK if none */
	int read_errno;               /* stream_pump_fd: the read that failed */
};

/* Set s up to write to write(ctx), hashing what passes when hash is set.
 * Progress and total may be set in s afterwards. */
enum result stream_init(struct stream *s, stream_write_fn write, void *ctx, bool hash,
			struct error *err);
void stream_free(struct stream *s);

/* Write len bytes on; after a failure, fail again at once with the same
 * code (err then keeps the first failure's line). */
enum result stream_write(struct stream *s, const void *buf, size_t len, struct error *err);

/* The SHA-256 of everything written, in hex (once, at the end). */
void stream_sha256_hex(struct stream *s, char hex[SHA256_HEX_LEN + 1]);

/* Read fd from its offset to its end into s, a chunk at a time, stopping
 * early when cancel_requested() (CB_ERR_INTERRUPTED).  A failed read is
 * error_errno on path, with s->read_errno set so that a caller can word it
 * its own way. */
enum result stream_pump_fd(int fd, const char *path, struct stream *s, struct error *err);

#endif
