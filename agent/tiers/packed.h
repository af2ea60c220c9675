/*
 * Packed increments: an increment and its metadata as one remote object.
 *
 * Object stores bill per request, and an increment a second is most of a
 * remote's requests, so a remote holds each increment (roll-ups too) as a
 * single object, one PUT, under the increment's key (common/increment.h),
 * with no <key>.json beside it:
 *
 *   [ a gzip member with no data, its header's extra field holding the
 *     metadata: subfield "CB", the JSON text of common/increment.h ]
 *   [ the local tier's .wal.gz, byte for byte ]
 *
 * A file of several gzip members is one gzip file (RFC 1952), and the
 * first one inflates to nothing, so `gunzip -c` of a packed object still
 * gives the increment's WAL file.  The metadata's sha256 and
 * compressed_size stay those of the .wal.gz, the part after the first
 * member: a reader skips the member and checks the rest as it checks a
 * local increment.  The member is written and read by zlib
 * (deflateSetHeader, inflateGetHeader).
 *
 * Snapshots keep their <name>.db.gz.json: one a day does not count, and it
 * keeps a snapshot the seed's plain gzip file.  The local tier keeps
 * increments as two files (compaction and capture rewrite them there).
 */
#ifndef CBSYNC_PACKED_H
#define CBSYNC_PACKED_H

#include "common/result.h"

#include <stddef.h>

/* The gzip extra subfield's id. */
#define PACKED_SI1 'C'
#define PACKED_SI2 'B'

/* A member's bytes besides the metadata text: the gzip header (10), the
 * extra field's length (2) and subfield header (4), the empty deflate
 * block (2), CRC-32 and size (8). */
#define PACKED_OVERHEAD 26

/* What a reader fetches of an object to find its metadata: the member's
 * header (a fixed part, the extra field's 2-byte length and at most 65535
 * bytes of it) and its empty body and trailer. */
#define PACKED_HEAD_MAX (65535 + 64)

/* The member that carries json (len bytes, at most 65531), newly
 * allocated in *out (*out_len bytes, always len + PACKED_OVERHEAD). */
enum result packed_head(const char *json, size_t len, unsigned char **out, size_t *out_len,
			struct error *err);

/* Read the member at the start of buf (len bytes, the first ones of an
 * object): the metadata text, newly allocated and NUL-terminated, in
 * *json (*json_len bytes), and the member's length in *head_len, where the
 * .wal.gz starts.  CB_ERR_CORRUPT (what is wrong, in err) for anything
 * but such a member: not gzip, no "CB" subfield, a member that inflates
 * to something. */
enum result packed_parse(const void *buf, size_t len, char **json, size_t *json_len,
			 size_t *head_len, struct error *err);

#endif
