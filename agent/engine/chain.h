/*
 * Applying a chain of increments (common/increment.h) to a snapshot's image,
 * checking everything on the way: the restore side of issue 12.
 *
 * The caller decompresses the snapshot into a file (check.h) and opens it
 * read-write; chain_begin builds the page-hash table of that image (the
 * snapshot's state, pagesum.h), and each increment is then streamed through
 *
 *   object bytes -> SHA-256 and byte count -> gunzip (gz_reader: CRC-32,
 *   length) -> the WAL reader (walfile_reader: header, salts, checksum
 *   chain, page numbers) -> each page written into the image and into the
 *   table
 *
 * with memory bounded by one page plus the two readers' buffers and the
 * table (8 bytes a page), whatever the size of the chain or the increment.
 *
 * An increment must continue the chain: rooted in the same snapshot, its
 * seq first the previous one's seq last + 1 (1 for the first), its prev the
 * previous one's name ("" for the first), the same page size.  That is
 * checked before a byte of it is read.  After its last byte: the object's
 * size and SHA-256 against the metadata, the gzip trailer, a WAL that ends
 * with its commit frame, the pages it held and the size after commit
 * against the metadata, and the state checksum of the whole image against
 * the metadata's.  Every disagreement is CB_ERR_CORRUPT with one line that
 * names the increment and what disagrees.
 *
 * A WAL reader hands out each page as soon as its frame checks out, before
 * the end of the increment is seen, so pages are written into the image as
 * they come: a failure can leave the image half-changed.  Such an image is
 * never taken for a good one -- the chain is broken from then on: every
 * later call fails, chain_end included -- but it is unusable.  So:
 *
 *     APPLY TO A SCRATCH COPY OF THE SNAPSHOT, AND THROW IT AWAY ON ANY
 *     FAILURE.  Install it only after chain_end returned CB_OK.
 *
 * (Checking each increment fully before applying it would mean reading it
 * twice, from a remote; a restore already works in scratch space.)
 *
 * The table is resized to the metadata's page count before the first page
 * is applied (resize first, then update, as pagesum.h asks), so a frame for
 * a page beyond that count is refused before it is written, and an
 * increment can never write more pages than its metadata allows.
 *
 * Use:
 *     struct chain c = {0};
 *     chain_begin(&c, fd, path, &(struct chain_base){.snapshot = name,
 *                 .page_size = 4096}, &err);
 *     for each increment, in order:
 *         chain_step_begin(&c, &meta, &err);
 *         backend get -> chain_step_write(&c, buf, len, &err)   (a stream_write_fn)
 *         chain_step_finish(&c, &err);
 *       (or chain_apply_fd(&c, &meta, obj_fd, obj_path, &err) for a file)
 *     chain_end(&c, &checksum, &err);
 *     chain_free(&c);
 */
#ifndef CBSYNC_CHAIN_H
#define CBSYNC_CHAIN_H

#include "common/backup_name.h"
#include "common/increment.h"
#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pagesum;
struct chain_step;

/* What the chain starts from: the snapshot whose image the fd holds. */
struct chain_base {
	const char *snapshot;          /* its name, "<stem>.db.gz": increments must be rooted in it */
	uint32_t page_size;            /* its page size (metadata) */
	/* The state checksum its metadata records, or NULL when it records none
	 * (snapshots made before issue 12): then the image's own state is taken
	 * as the start, and the first increment's checksum still checks it.
	 * From a backup_meta: m->has_state_checksum ? &m->state_checksum : NULL. */
	const uint64_t *state_checksum;
};

struct chain {
	/* private: filled by chain_begin */
	int fd;
	char *path;
	uint32_t page_size;
	char snapshot[BACKUP_NAME_MAX];
	struct pagesum *sums;
	uint64_t seq;                  /* seq last of the last increment applied; 0: none */
	char last[INCR_NAME_MAX];      /* its name; "" at the snapshot */
	struct chain_step *step;       /* the increment being applied, if any */
	enum result failed;            /* sticky: CB_OK while the chain is good */
	bool trusted;                  /* began from the snapshot's recorded checksum */
	char broken_at[INCR_NAME_MAX]; /* what broke it, for later calls' messages */
};

/* Start a chain on the snapshot's decompressed image, open read-write on
 * image_fd at image_path (the fd is the caller's; c keeps a copy of the
 * path).  CB_ERR_CORRUPT if the image's size is not a whole number of
 * pages or its header says another page size.  When base->state_checksum
 * is set, the chain starts from it and reads back only the pages the
 * increments change (pagesum_trust): a restore of a snapshot plus a few
 * increments then costs little more than the snapshot's; a recorded
 * checksum that is wrong shows at the first increment's comparison (its
 * error line names the snapshot too).  Without it the whole image is
 * hashed (pagesum_build).  On failure c holds nothing to free (chain_free
 * is still safe). */
enum result chain_begin(struct chain *c, int image_fd, const char *image_path,
			const struct chain_base *base, struct error *err);

/* Start applying the increment m describes (m is copied): checks that it
 * continues the chain (its prev is the last one applied, or, after a
 * roll-up, the increment that roll-up ends with).  Then feed its object's bytes, in order, to
 * chain_step_write, and call chain_step_finish after the last. */
enum result chain_step_begin(struct chain *c, const struct incr_meta *m, struct error *err);

/* Feed len bytes of the object: a stream_write_fn, ctx being the chain. */
enum result chain_step_write(void *chain, const void *buf, size_t len, struct error *err);

/* The object has ended: every check after the last byte (see above). */
enum result chain_step_finish(struct chain *c, struct error *err);

/* chain_step_begin, then the object in the file open on obj_fd (from its
 * offset to its end, at obj_path for messages), then chain_step_finish. */
enum result chain_apply_fd(struct chain *c, const struct incr_meta *m, int obj_fd,
			   const char *obj_path, struct error *err);

/* The state checksum of the image as the table has it now (after a
 * finished step, that of the state that step reached). */
uint64_t chain_checksum(const struct chain *c);

/* Finish: fails if the chain is broken or a step is unfinished; else
 * fsyncs the image and gives its state checksum (checksum may be NULL). */
enum result chain_end(struct chain *c, uint64_t *checksum, struct error *err);

/* Release what c holds (not the fd); safe on a zeroed c and after a
 * failed chain_begin. */
void chain_free(struct chain *c);

#endif
