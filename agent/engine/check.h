/*
 * Checking a backup: the same steps for `verify` and before every restore.
 *
 *   1. decompress it into a new file, checking the gzip CRC-32 and length;
 *   2. compare the SHA-256 of the compressed bytes with its metadata (when it
 *      has metadata: backups made by the seed tool have none);
 *   3. run PRAGMA integrity_check on the decompressed database.
 *
 * Nothing is installed here; the caller decides what to do with the checked
 * file (rename it into place, copy it into a live database, or delete it).
 *
 * A backup may be hostile: a megabyte of gzip can inflate to a terabyte of
 * zeros, written beside the live database.  So decompression is bounded
 * before the first byte is written: by the metadata's original_size when
 * there is metadata (a bomb costs at most one buffer past it), else by a
 * ceiling (check_opts.max_size), and always by the free space where the copy
 * goes, less CHECK_SPACE_RESERVE.
 */
#ifndef CBSYNC_CHECK_H
#define CBSYNC_CHECK_H

#include "agent/engine/gzstream.h"
#include "agent/engine/progress.h"
#include "common/meta.h"
#include "common/result.h"
#include "crypto/age.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

/* The most a backup without metadata may decompress to, by default. */
#define CHECK_DEFAULT_MAX_SIZE (64ull << 30)
/* Free space a check always leaves on the file system it writes to. */
#define CHECK_SPACE_RESERVE (16ull << 20)

/* Where decompressed bytes go, with the bound above.  check_sink_write is a
 * stream_write_fn.  The file is written, and its state checksum computed,
 * on a second thread (bgwrite.h) while the caller inflates. */
struct bgwrite;
struct check_sink {
	struct bgwrite *bg;
	const char *path;
	const char *label;
	uint64_t written;
	uint64_t limit;
	enum { LIMIT_META, LIMIT_CEILING, LIMIT_SPACE } limit_by;
};

/* Set up s for the empty file open on fd at path.  max_size bounds a backup
 * without metadata (0: CHECK_DEFAULT_MAX_SIZE).  Fails before anything is
 * written when the metadata's size cannot fit in the free space. */
enum result check_sink_init(struct check_sink *s, int fd, const char *path, const char *label,
			    const struct backup_meta *meta, uint64_t max_size, struct error *err);
enum result check_sink_write(void *ctx, const void *buf, size_t len, struct error *err);
/* Every byte given is in the file, or the first error.  The file is then
 * fsync'd on the writer's thread: check_sink_sync waits for that, so that
 * the checks of the file can run meanwhile. */
enum result check_sink_finish(struct check_sink *s, struct error *err);
enum result check_sink_sync(struct check_sink *s, struct error *err);
/* After check_decompressed, or on giving up: stops the writer, frees. */
void check_sink_free(struct check_sink *s);

struct check_result {
	uint64_t data_size;
	uint64_t compressed_size;
	char sha256[SHA256_HEX_LEN + 1];
	bool sha_checked;  /* metadata existed and matched */
	bool decrypted;    /* it was an age file, every chunk authenticated */
	int64_t page_size;
	int64_t page_count;
};

/* Decompress from in_fd into out_fd (an empty file at out_path), checking as
 * above and bounded as above (max_size as for check_sink_init).  meta may be
 * NULL.  label names the backup in error messages.  An age file (binary or
 * armored, as `age -r` or `age -p` write them) is decrypted on the way with
 * ids (NULL or empty: it is refused, CB_ERR_CONFIG, as it is when none of
 * them opens it).  On success out_fd has been fsync'd. */
enum result check_backup(int in_fd, const char *label, const struct backup_meta *meta,
			 uint64_t max_size, int out_fd, const char *out_path,
			 const struct age_identities *ids, struct progress *progress,
			 struct check_result *res, struct error *err);

/* The checks after decompression, for callers that decompress themselves:
 * compare gz's SHA-256 and sizes with meta (check_compressed), then check
 * the database file (integrity, and the state checksum when meta has one:
 * the one sink computed on the way when it could, else read from db_path).
 * sink may be NULL. */
enum result check_decompressed(const struct gz_read_result *gz, const char *label,
			       const struct backup_meta *meta, const char *db_path,
			       const struct check_sink *sink, struct check_result *res,
			       struct error *err);

/* The first half of check_decompressed: gz's SHA-256 and sizes against
 * meta (which may be NULL), filling res but for page size and count.  For
 * an image that increments will change before it is checked as a
 * database (engine/restore.h, restore_apply_chain). */
enum result check_compressed(const struct gz_read_result *gz, const char *label,
			     const struct backup_meta *meta, struct check_result *res,
			     struct error *err);

/* PRAGMA integrity_check on a database file that nothing else uses, opened
 * immutable (no locks, no -wal/-shm files).  Reports page size and count. */
enum result check_integrity(const char *path, int64_t *page_size,
			    int64_t *page_count, struct error *err);

/* The page size a database image's header gives (bytes 16-17, 1 meaning
 * 65536), read from the file open on fd; 0 if it cannot be read. */
uint32_t check_image_page_size(int fd);

/* Open a database file read-only and immutable (no locks, no side files);
 * returns a SQLite result code, *out set either way (close it). */
int check_open_image(const char *path, sqlite3 **out);

#endif
