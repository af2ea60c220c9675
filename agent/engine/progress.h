/*
 * Progress on a terminal: "backup  42%  118.3 MiB/s  0:07 left", redrawn in
 * place on stderr, only when stderr is a TTY and only once the operation has
 * run for more than a second.  Cron logs and containers get clean lines.
 */
#ifndef CBSYNC_PROGRESS_H
#define CBSYNC_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	const char *label;
	uint64_t total;  /* bytes expected; 0 if unknown */
	double start;
	double last_draw;
	bool enabled;
	bool drawn;
};

void progress_start(struct progress *p, const char *label, uint64_t total);
void progress_update(struct progress *p, uint64_t done);
/* Say what the operation is doing now, when it is no longer moving bytes
 * ("checking integrity"): replaces the percentage, which would otherwise sit
 * still.  Drawn on the same terms as the progress line. */
void progress_phase(struct progress *p, const char *phase);

/* Erase the progress line if one was drawn. */
void progress_end(struct progress *p);

#endif
