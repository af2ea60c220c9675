/*
 * Human-readable sizes.
 */
#include "agent/format.h"

#include <stdio.h>

void format_size(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	int u = 0;
	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, size, v < 10 ? "%.2f %s" : "%.1f %s", v, units[u]);
}
