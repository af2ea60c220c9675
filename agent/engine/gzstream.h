/*
 * gzip streams: the writer that turns a snapshot into a .db.gz, and the
 * reader that turns one back, checking it on the way.
 *
 * The writer produces one ordinary gzip member laid out so that the first
 * `head` bytes of the data (page 1 of the database, which SQLite's backup API
 * finalises last) can be supplied at the very end:
 *
 *   gzip header | stored block(s) holding the head | raw deflate of the body
 *   | CRC-32 | ISIZE
 *
 * Stored blocks have a size fixed by their length alone, so their place is
 * reserved up front and filled with pwrite when the head is known; the body
 * streams through deflate in between, compressed in parallel (pdeflate.h).  Any gzip reader (gunzip, zlib,
 * Python's gzip) reads the result.  The CRC-32 of head and body are combined
 * at the end.  The SHA-256 of the finished file is computed by reading it
 * back (it is in the page cache), since its first bytes are written last.
 */
#ifndef CBSYNC_GZSTREAM_H
#define CBSYNC_GZSTREAM_H

#include "common/hash.h"
#include "common/result.h"
#include "common/stream.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gz_writer;

struct gz_writer_opts {
	int level;        /* zlib level 1..9 */
	int threads;      /* compression threads; <= 0: one per CPU */
	size_t head_size; /* bytes reserved at the front; 0 for none */
	bool scratch;     /* a file its caller reads back whole, then drops: no
			   * writeback hints, so that it can stay in the page
			   * cache, and not hashed here (gz_result.sha256 zero) */
};

/* Start a gzip stream at offset 0 of fd (a new, empty, writable file). */
enum result gz_writer_open(struct gz_writer **out, int fd,
			   const struct gz_writer_opts *opts, struct error *err);

/* Append body bytes (everything after the head). */
enum result gz_writer_write(struct gz_writer *w, const void *buf, size_t len,
			    struct error *err);

struct gz_result {
	uint64_t data_size;       /* uncompressed bytes, head included */
	uint64_t compressed_size; /* size of the file */
	uint8_t sha256[SHA256_LEN];
};

/* Finish the body, write the head (exactly head_size bytes) into its reserved
 * place and the trailer, and hash the file. */
enum result gz_writer_finish(struct gz_writer *w, const void *head,
			     struct gz_result *res, struct error *err);

void gz_writer_free(struct gz_writer *w);

struct gz_read_result {
	uint64_t data_size;       /* decompressed bytes */
	uint64_t compressed_size; /* compressed bytes fed */
	uint8_t sha256[SHA256_LEN]; /* of the compressed bytes */
};

/* A push-style checking decompressor: feed it the compressed bytes as they
 * arrive (from a file or a download), and it hands the decompressed bytes to
 * sink, checking every member's CRC-32 and length and hashing the input.
 * Truncation, bad data and trailing garbage are CB_ERR_CORRUPT with a message
 * that says which. */
struct gz_reader;

enum result gz_reader_new(struct gz_reader **out, stream_write_fn sink, void *sink_ctx,
			  struct error *err);
enum result gz_reader_feed(struct gz_reader *g, const void *buf, size_t len,
			   struct error *err);
/* The input has ended: check that it ended on a member boundary. */
enum result gz_reader_finish(struct gz_reader *g, struct gz_read_result *res,
			     struct error *err);
void gz_reader_free(struct gz_reader *g);

/* Feed the whole file open on fd (from its offset to EOF) through a reader,
 * telling progress (if not NULL) of the compressed bytes read so far. */
enum result gz_read_fd(int fd, stream_write_fn sink, void *sink_ctx,
		       stream_progress_fn progress, void *progress_ctx,
		       struct gz_read_result *res, struct error *err);

#endif
