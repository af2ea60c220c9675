/*
 * A second thread for the slow half of a stream.
 *
 * The caller's bytes are copied into one of BGPIPE_SLOTS buffers of
 * BGPIPE_SLOT_SIZE, and a thread hands each full one, in order, to a
 * consumer -- a file's writes (agent/engine/bgwrite.h), the encryption and
 * the put of an upload (agent/tiers/seal.h) -- while the caller produces
 * the next.  Memory is bounded; a caller faster than its consumer waits
 * for a free buffer.
 *
 * The consumer's first failure sticks: it is reported, with the
 * consumer's own error line, by the next bgpipe_write or by
 * bgpipe_finish, and nothing after it is consumed.  After the last
 * buffer, an optional end step runs on the thread too (a file's fsync)
 * while the caller goes on; bgpipe_join waits for it.  Without a thread
 * (pthread_create failed) everything runs in line, with the same results.
 * The thread blocks every signal: they stay with the caller.
 */
#ifndef CBSYNC_BGPIPE_H
#define CBSYNC_BGPIPE_H

#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>

#define BGPIPE_SLOTS 4
#define BGPIPE_SLOT_SIZE (1u << 20)

struct bgpipe_ops {
	enum result (*consume)(void *ctx, const void *buf, size_t len, struct error *err);
	/* Optional: after every byte was consumed without a failure. */
	enum result (*end)(void *ctx, struct error *err);
};

struct bgpipe;

enum result bgpipe_start(struct bgpipe **out, const struct bgpipe_ops *ops, void *ctx,
			 struct error *err);
enum result bgpipe_write(struct bgpipe *p, const void *buf, size_t len, struct error *err);
/* Hand over what is buffered and wait until all of it is consumed: the
 * first failure, if any.  The end step then runs while the caller goes on.
 * No write after it (CB_ERR_INTERNAL). */
enum result bgpipe_finish(struct bgpipe *p, struct error *err);
/* After a successful bgpipe_finish: wait for the end step; its result. */
enum result bgpipe_join(struct bgpipe *p, struct error *err);
/* Whether bgpipe_finish saw every byte consumed. */
bool bgpipe_finished(const struct bgpipe *p);
/* Stop the thread, dropping what is still queued, and free p.  NULL is
 * fine. */
void bgpipe_free(struct bgpipe *p);

#endif
