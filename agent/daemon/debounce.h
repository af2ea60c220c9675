/*
 * When to take a `change` backup: a pure state machine over a monotonic clock.
 *
 * A change (a write to the database or its WAL that the watcher saw) makes
 * the database "dirty".  A change backup then falls due at the earliest of
 *   - `quiet` seconds after the latest change (the writes have settled), and
 *   - `max_delay` seconds after the first change not yet backed up (so that
 *     constant writes still get backed up),
 * but never sooner than `min_interval` after the previous change backup
 * started.  Because min_interval <= max_delay (the configuration checks it)
 * and the first unbacked change comes after the previous backup started, the
 * max_delay promise always holds.
 *
 * A backup covers the changes seen before it started; changes seen while it
 * runs make the database dirty again.  A failed backup covers nothing.
 */
#ifndef CBSYNC_DEBOUNCE_H
#define CBSYNC_DEBOUNCE_H

#include <stdbool.h>

struct debounce {
	double quiet, min_interval, max_delay;
	bool dirty;
	double first_change;   /* first change not yet covered by a backup */
	double last_change;
	bool have_previous;
	double previous_start; /* when the previous change backup started */
	/* Saved while a backup runs, restored if it fails. */
	bool was_dirty;
	double was_first_change, was_last_change;
};

void debounce_init(struct debounce *d, double quiet, double min_interval,
		   double max_delay);

/* A change was seen at now. */
void debounce_change(struct debounce *d, double now);

/* When the next change backup falls due; INFINITY when nothing is dirty. */
double debounce_due(const struct debounce *d);

/* A backup of any type started at now: it covers the changes seen so far.
 * change_backup says whether it is a change backup (for min_interval). */
void debounce_started(struct debounce *d, double now, bool change_backup);

/* The backup that started last failed: its changes are unbacked again. */
void debounce_failed(struct debounce *d);

#endif
