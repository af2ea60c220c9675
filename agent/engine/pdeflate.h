/*
 * Parallel raw deflate: one deflate stream made by several threads.
 *
 * The input is cut into blocks (128 KiB).  Each block is compressed on its
 * own, by whichever worker is free, with the 32 KiB of input before it given
 * to deflate as a preset dictionary, so matches still reach back across the
 * cut and the output is within a fraction of a percent of one-thread deflate.
 * Every block but the last ends with a sync flush (an empty stored block,
 * byte aligned, not final); the last ends the stream.  The compressed blocks
 * are handed to the output function in input order, so their concatenation
 * is one valid raw deflate stream; the blocks' CRC-32s are combined as they
 * go.  This is the scheme pigz uses.
 *
 * Each block goes through zlib at the level asked for, except at levels 1-3
 * in a build with ISA-L (CMake option CBSYNC_ISAL, on by default): there
 * ISA-L's deflate (isal_deflate_set_dict primes it the same way) at its
 * level 1-3, which is both faster and smaller than zlib's 1-3.  The output
 * is ordinary deflate either way.
 *
 * Memory is bounded: a fixed number of blocks are in flight (a few per
 * worker); when all are busy, write waits for the oldest.  With threads = 1
 * the blocks are compressed in the caller's thread, the same way.
 */
#ifndef CBSYNC_PDEFLATE_H
#define CBSYNC_PDEFLATE_H

#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PDEFLATE_BLOCK (128 * 1024)

/* Receives compressed bytes in order, in the thread that called write or
 * finish. */
typedef enum result (*pdeflate_out_fn)(void *ctx, const void *buf, size_t len,
				       struct error *err);

struct pdeflate;

/* threads <= 0 means one per online CPU. */
enum result pdeflate_new(struct pdeflate **out, int level, int threads, pdeflate_out_fn out_fn,
			 void *out_ctx, struct error *err);
enum result pdeflate_write(struct pdeflate *p, const void *buf, size_t len, struct error *err);

/* End the stream and wait for every block; *crc and *len describe the whole
 * input. */
enum result pdeflate_finish(struct pdeflate *p, uint32_t *crc, uint64_t *len,
			    struct error *err);

/* Stop the workers and free (also after an error, or without finish). */
void pdeflate_free(struct pdeflate *p);

/* Does level go through ISA-L in this build? */
bool pdeflate_isal_level(int level);

/* How many workers threads <= 0 stands for here. */
int pdeflate_default_threads(void);

#endif
