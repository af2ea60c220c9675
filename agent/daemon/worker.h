/*
 * A worker thread for the agent's loop: it runs one job at a time, handed
 * over with worker_submit, and says a job is done by making worker_fd
 * readable, so the loop polls it with its other descriptors.  A job is the
 * caller's own struct; it carries what the job needs (copies: the loop may
 * reload the configuration meanwhile) and its results.  The agent has one
 * for backups and one per remote for syncs.
 */
#ifndef CBSYNC_WORKER_H
#define CBSYNC_WORKER_H

#include "common/result.h"

#include <stdbool.h>

struct worker;

/* run does the job on the worker's thread; free_job frees a job that was
 * never taken back (at worker_stop).  ctx is passed to both. */
struct worker_ops {
	void (*run)(void *job, void *ctx);
	void (*free_job)(void *job, void *ctx);
};

enum result worker_start(struct worker **out, const struct worker_ops *ops, void *ctx,
			 struct error *err);
int worker_fd(const struct worker *w);

/* A job is with the worker (submitted and not yet taken back). */
bool worker_busy(struct worker *w);

/* Hand over a job; the worker must not be busy. */
void worker_submit(struct worker *w, void *job);

/* After worker_fd became readable: the finished job (NULL if none); the
 * worker is free again. */
void *worker_take(struct worker *w);

/* Wait for the job in flight (if any), then stop, freeing what was not
 * taken, and free w.  NULL is allowed. */
void worker_stop(struct worker *w);

#endif
