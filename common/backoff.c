/*
 * Doubling backoff with jitter (see backoff.h).
 */
#include "common/backoff.h"

#include <stdlib.h>

double backoff_step(double last, double min, double max, bool at_max)
{
	if (at_max)
		return max;
	if (last <= 0)
		return min < max ? min : max;
	return last * 2 < max ? last * 2 : max;
}

double backoff_jitter(double wait, unsigned *seed)
{
	double f = 0.8 + 0.4 * (double)rand_r(seed) / (double)RAND_MAX;
	return wait * f;
}
