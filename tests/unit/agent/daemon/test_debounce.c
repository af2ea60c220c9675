/*
 * Unit tests for the change-backup debounce state machine.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "agent/daemon/debounce.h"

static struct debounce fresh(void)
{
	struct debounce d;
	debounce_init(&d, 5, 60, 300);
	return d;
}

static void nothing_due_when_clean(void **state)
{
	(void)state;
	struct debounce d = fresh();
	assert_true(isinf(debounce_due(&d)));
	debounce_started(&d, 10, true);
	assert_true(isinf(debounce_due(&d)));
}

static void one_change_waits_for_quiet(void **state)
{
	(void)state;
	struct debounce d = fresh();
	debounce_change(&d, 100);
	assert_true(debounce_due(&d) == 105);
	/* Further changes push the quiet period out. */
	debounce_change(&d, 103);
	assert_true(debounce_due(&d) == 108);
}

static void constant_writes_hit_max_delay(void **state)
{
	(void)state;
	struct debounce d = fresh();
	for (double t = 1000; t < 1400; t += 1)
		debounce_change(&d, t);
	/* First change at 1000, max_delay 300. */
	assert_true(debounce_due(&d) == 1300);
}

static void min_interval_after_previous_backup(void **state)
{
	(void)state;
	struct debounce d = fresh();
	debounce_change(&d, 0);
	debounce_started(&d, 5, true);
	debounce_change(&d, 6);
	/* Quiet would say 11; the previous change backup began at 5. */
	assert_true(debounce_due(&d) == 65);
	/* A long time later the interval no longer matters. */
	struct debounce e = fresh();
	debounce_change(&e, 0);
	debounce_started(&e, 5, true);
	debounce_change(&e, 500);
	assert_true(debounce_due(&e) == 505);
}

static void max_delay_holds_with_min_interval(void **state)
{
	(void)state;
	struct debounce d = fresh();
	debounce_change(&d, 0);
	debounce_started(&d, 5, true);
	for (double t = 5.5; t < 1000; t += 0.5) {
		debounce_change(&d, t);
		double due = debounce_due(&d);
		if (due <= t) {
			/* Fires: it must be within max_delay of the first change. */
			assert_true(due - d.first_change <= 300);
			debounce_started(&d, t, true);
		}
	}
}

static void scheduled_backup_covers_changes_but_not_interval(void **state)
{
	(void)state;
	struct debounce d = fresh();
	debounce_change(&d, 10);
	debounce_started(&d, 12, false);
	assert_true(isinf(debounce_due(&d)));
	debounce_change(&d, 20);
	/* No change backup yet, so min_interval does not apply. */
	assert_true(debounce_due(&d) == 25);
}

static void failure_restores_unbacked_changes(void **state)
{
	(void)state;
	struct debounce d = fresh();
	debounce_change(&d, 100);
	debounce_change(&d, 102);
	debounce_started(&d, 110, true);
	debounce_failed(&d);
	assert_true(d.dirty);
	assert_true(d.first_change == 100);
	/* Due again: quiet passed long ago, but min_interval from the attempt. */
	assert_true(debounce_due(&d) == 170);
}

static void failure_merges_with_changes_during_the_attempt(void **state)
{
	(void)state;
	struct debounce d = fresh();
	debounce_change(&d, 100);
	debounce_started(&d, 110, true);
	debounce_change(&d, 115);
	debounce_failed(&d);
	assert_true(d.first_change == 100);
	assert_true(d.last_change == 115);
	/* Failing when nothing was dirty changes nothing. */
	struct debounce e = fresh();
	debounce_started(&e, 1, true);
	debounce_failed(&e);
	assert_false(e.dirty);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nothing_due_when_clean),
		cmocka_unit_test(one_change_waits_for_quiet),
		cmocka_unit_test(constant_writes_hit_max_delay),
		cmocka_unit_test(min_interval_after_previous_backup),
		cmocka_unit_test(max_delay_holds_with_min_interval),
		cmocka_unit_test(scheduled_backup_covers_changes_but_not_interval),
		cmocka_unit_test(failure_restores_unbacked_changes),
		cmocka_unit_test(failure_merges_with_changes_during_the_attempt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
