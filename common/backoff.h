/*
 * Waiting between retries: one doubling backoff for everything the agent
 * retries (a backup of a locked database, a sync of a remote that is down).
 *
 * A step starts at min after a success, doubles after each failure, and
 * never exceeds max; a failure that only a person can fix jumps straight to
 * max.  Waits for many remotes (or many agents) that failed together are
 * spread with jitter so that they do not all retry in the same second.
 */
#ifndef CBSYNC_BACKOFF_H
#define CBSYNC_BACKOFF_H

#include <stdbool.h>

/* The step after last (0: no failure yet) for one more failure. */
double backoff_step(double last, double min, double max, bool at_max);

/* wait plus or minus a fifth, drawn from *seed (rand_r). */
double backoff_jitter(double wait, unsigned *seed);

#endif
