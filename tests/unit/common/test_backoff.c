/*
 * Unit tests for common/backoff.c: doubling, the ceiling, give-up, jitter.
 */
#include "common/backoff.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

static void test_doubles_from_min_to_max(void **state)
{
	(void)state;
	double s = 0;
	double want[] = {10, 20, 40, 80, 160, 320, 600, 600};
	for (size_t i = 0; i < sizeof(want) / sizeof(*want); i++) {
		s = backoff_step(s, 10, 600, false);
		assert_true(s == want[i]);
	}
}

static void test_give_up_jumps_to_max(void **state)
{
	(void)state;
	assert_true(backoff_step(0, 10, 900, true) == 900);
	assert_true(backoff_step(20, 10, 900, true) == 900);
	/* A minimum above the maximum never waits longer than the maximum. */
	assert_true(backoff_step(0, 50, 30, false) == 30);
}

static void test_jitter_stays_within_a_fifth(void **state)
{
	(void)state;
	unsigned seed = 42;
	double lo = 1e9, hi = 0;
	for (int i = 0; i < 10000; i++) {
		double w = backoff_jitter(100, &seed);
		assert_true(w >= 80 && w <= 120);
		lo = w < lo ? w : lo;
		hi = w > hi ? w : hi;
	}
	/* ... and really spreads the waits. */
	assert_true(lo < 85 && hi > 115);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubles_from_min_to_max),
		cmocka_unit_test(test_give_up_jumps_to_max),
		cmocka_unit_test(test_jitter_stays_within_a_fifth),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
