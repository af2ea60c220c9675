/*
 * Terminal progress line.
 */
#include "agent/engine/progress.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <unistd.h>

void progress_start(struct progress *p, const char *label, uint64_t total)
{
	p->label = label;
	p->total = total;
	p->start = time_mono();
	p->last_draw = 0;
	p->enabled = isatty(STDERR_FILENO) == 1;
	p->drawn = false;
}

void progress_update(struct progress *p, uint64_t done)
{
	if (!p || !p->enabled)
		return;
	double now = time_mono();
	double elapsed = now - p->start;
	if (elapsed < 1.0 || now - p->last_draw < 0.25)
		return;
	p->last_draw = now;
	double rate = (double)done / elapsed;
	char line[128];
	int n;
	if (p->total > 0 && done <= p->total) {
		double pct = 100.0 * (double)done / (double)p->total;
		double left = rate > 0 ? (double)(p->total - done) / rate : 0;
		int secs = (int)(left + 0.5);
		n = snprintf(line, sizeof(line), "\r%s %3.0f%%  %.1f MiB/s  %d:%02d left\033[K",
			     p->label, pct, rate / 1048576.0, secs / 60, secs % 60);
	} else {
		n = snprintf(line, sizeof(line), "\r%s %.1f MiB  %.1f MiB/s\033[K", p->label,
			     (double)done / 1048576.0, rate / 1048576.0);
	}
	if (n > 0)
		fs_write_all(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n
									  : sizeof(line) - 1);
	p->drawn = true;
}

void progress_phase(struct progress *p, const char *phase)
{
	if (!p || !p->enabled || time_mono() - p->start < 1.0)
		return;
	char line[128];
	int n = snprintf(line, sizeof(line), "\r%s: %s...\033[K", p->label, phase);
	if (n > 0)
		fs_write_all(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n
									  : sizeof(line) - 1);
	p->drawn = true;
	/* Hold off further byte counts from overdrawing it. */
	p->last_draw = time_mono() + 3600.0;
}

void progress_end(struct progress *p)
{
	if (p && p->drawn)
		fs_write_all(STDERR_FILENO, "\r\033[K", 4);
	if (p)
		p->drawn = false;
}
