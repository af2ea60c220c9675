/*
 * Debounced change backups: quiet period, minimum interval, maximum delay.
 */
#include "agent/daemon/debounce.h"

#include <math.h>

void debounce_init(struct debounce *d, double quiet, double min_interval,
		   double max_delay)
{
	*d = (struct debounce){
		.quiet = quiet,
		.min_interval = min_interval,
		.max_delay = max_delay,
	};
}

void debounce_change(struct debounce *d, double now)
{
	if (!d->dirty) {
		d->dirty = true;
		d->first_change = now;
	}
	if (now > d->last_change || d->last_change < d->first_change)
		d->last_change = now;
}

double debounce_due(const struct debounce *d)
{
	if (!d->dirty)
		return INFINITY;
	double due = fmin(d->last_change + d->quiet, d->first_change + d->max_delay);
	if (d->have_previous)
		due = fmax(due, d->previous_start + d->min_interval);
	return due;
}

void debounce_started(struct debounce *d, double now, bool change_backup)
{
	d->was_dirty = d->dirty;
	d->was_first_change = d->first_change;
	d->was_last_change = d->last_change;
	d->dirty = false;
	if (change_backup) {
		d->have_previous = true;
		d->previous_start = now;
	}
}

void debounce_failed(struct debounce *d)
{
	if (!d->was_dirty)
		return;
	if (d->dirty) {
		/* Changes arrived meanwhile: the older first change still counts. */
		d->first_change = fmin(d->first_change, d->was_first_change);
		d->last_change = fmax(d->last_change, d->was_last_change);
	} else {
		d->dirty = true;
		d->first_change = d->was_first_change;
		d->last_change = d->was_last_change;
	}
	d->was_dirty = false;
}
