/*
 * Unit tests for retention/retention.c: the pure retention policy.
 *
 * Times are built with timegm() here rather than with the code under test, so
 * a calendar mistake in retention.c cannot cancel out a mistake in the
 * expected values.  Each test states the rule it exercises and the expected
 * decision (keep or delete, and the reason) for every item.
 */
#include "retention/retention.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define HOUR 3600
#define DAY (24 * HOUR)
#define WEEK (7 * DAY)

/* Seconds since the epoch for a UTC calendar time. */
static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
	struct tm tm = {
		.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
		.tm_hour = h, .tm_min = mi, .tm_sec = s,
	};
	return (int64_t)timegm(&tm);
}

static struct retention_item item(const char *db, enum backup_type type, int64_t created)
{
	return (struct retention_item){.db = db, .type = type, .created = created};
}

static struct retention_item pinned(const char *db, enum backup_type type, int64_t created)
{
	return (struct retention_item){.db = db, .type = type, .created = created,
				       .pinned = true};
}

/* Run the plan and insist it succeeded. */
static void plan(const struct retention_item *items, size_t n,
		 const struct retention_policy *p, int64_t now,
		 struct retention_decision *out)
{
	/* Poison the output so a decision the plan forgets to write shows. */
	memset(out, 0xA5, n * sizeof(*out));
	assert_true(retention_plan(items, n, p, now, out));
}

static void expect(const struct retention_decision *d, bool keep,
		   enum retention_reason reason)
{
	assert_int_equal(d->keep, keep);
	assert_int_equal(d->reason, reason);
}

static void policy_all_seconds(struct retention_policy *p, int64_t secs)
{
	for (int t = 0; t < BT_COUNT; t++)
		p->keep[t] = (struct keep_rule){KEEP_SECONDS, secs};
}

/* ---- the default policy -------------------------------------------------- */

static void test_default_policy(void **state)
{
	(void)state;
	struct retention_policy p;
	memset(&p, 0x5A, sizeof(p));
	retention_policy_default(&p);
	assert_int_equal(p.keep[BT_MANUAL].kind, KEEP_FOREVER);
	assert_int_equal(p.keep[BT_RESTORE_POINT].kind, KEEP_FOREVER);
	assert_int_equal(p.keep[BT_DAILY].kind, KEEP_SECONDS);
	assert_int_equal(p.keep[BT_DAILY].amount, 7 * DAY);
	assert_int_equal(p.keep[BT_WEEKLY].kind, KEEP_SECONDS);
	assert_int_equal(p.keep[BT_WEEKLY].amount, 4 * WEEK);
	assert_int_equal(p.keep[BT_MONTHLY].kind, KEEP_MONTHS);
	assert_int_equal(p.keep[BT_MONTHLY].amount, 12);
	assert_int_equal(p.keep[BT_CHANGE].kind, KEEP_SECONDS);
	assert_int_equal(p.keep[BT_CHANGE].amount, 24 * HOUR);
}

/* ---- retention_cutoff ---------------------------------------------------- */

static void test_cutoff_seconds(void **state)
{
	(void)state;
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	struct keep_rule r = {KEEP_SECONDS, 7 * DAY};
	assert_int_equal(retention_cutoff(&r, now), utc(2025, 6, 8, 12, 0, 0));
	r.amount = 1;
	assert_int_equal(retention_cutoff(&r, now), now - 1);
	r.amount = 0;
	assert_int_equal(retention_cutoff(&r, now), now);
	r.amount = 24 * HOUR;
	assert_int_equal(retention_cutoff(&r, now), utc(2025, 6, 14, 12, 0, 0));
}

static void test_cutoff_forever(void **state)
{
	(void)state;
	struct keep_rule r = {KEEP_FOREVER, 0};
	assert_true(retention_cutoff(&r, utc(2025, 1, 1, 0, 0, 0)) == INT64_MIN);
	r.amount = 99; /* the amount means nothing for forever */
	assert_true(retention_cutoff(&r, 0) == INT64_MIN);
}

static int64_t cutoff_months(int64_t months, int64_t now)
{
	struct keep_rule r = {KEEP_MONTHS, months};
	return retention_cutoff(&r, now);
}

static void test_cutoff_months_plain(void **state)
{
	(void)state;
	/* Same day and time, one month back. */
	assert_int_equal(cutoff_months(1, utc(2025, 6, 15, 12, 34, 56)),
			 utc(2025, 5, 15, 12, 34, 56));
	/* Zero months is now. */
	assert_int_equal(cutoff_months(0, utc(2025, 6, 15, 12, 34, 56)),
			 utc(2025, 6, 15, 12, 34, 56));
	/* 31 May minus one month: April has 30 days. */
	assert_int_equal(cutoff_months(1, utc(2025, 5, 31, 23, 59, 59)),
			 utc(2025, 4, 30, 23, 59, 59));
	/* 31 July minus one month: June has 30 days. */
	assert_int_equal(cutoff_months(1, utc(2025, 7, 31, 0, 0, 0)),
			 utc(2025, 6, 30, 0, 0, 0));
	/* 31 August minus one month: July has 31, no clamping. */
	assert_int_equal(cutoff_months(1, utc(2025, 8, 31, 6, 0, 0)),
			 utc(2025, 7, 31, 6, 0, 0));
	/* The first of a month stays the first. */
	assert_int_equal(cutoff_months(3, utc(2025, 6, 1, 0, 0, 0)),
			 utc(2025, 3, 1, 0, 0, 0));
}

static void test_cutoff_months_february(void **state)
{
	(void)state;
	/* 31 March minus one month clamps to the end of February. */
	assert_int_equal(cutoff_months(1, utc(2024, 3, 31, 10, 0, 0)),
			 utc(2024, 2, 29, 10, 0, 0)); /* leap year */
	assert_int_equal(cutoff_months(1, utc(2023, 3, 31, 10, 0, 0)),
			 utc(2023, 2, 28, 10, 0, 0)); /* common year */
	assert_int_equal(cutoff_months(1, utc(2024, 3, 30, 10, 0, 0)),
			 utc(2024, 2, 29, 10, 0, 0));
	assert_int_equal(cutoff_months(1, utc(2024, 3, 29, 10, 0, 0)),
			 utc(2024, 2, 29, 10, 0, 0)); /* exists, no clamping */
	assert_int_equal(cutoff_months(1, utc(2023, 3, 29, 10, 0, 0)),
			 utc(2023, 2, 28, 10, 0, 0));
	/* Century rules: 2000 was a leap year, 2100 will not be. */
	assert_int_equal(cutoff_months(1, utc(2000, 3, 31, 0, 0, 0)),
			 utc(2000, 2, 29, 0, 0, 0));
	assert_int_equal(cutoff_months(1, utc(2100, 3, 31, 0, 0, 0)),
			 utc(2100, 2, 28, 0, 0, 0));
	/* From the leap day back a year, and back four years. */
	assert_int_equal(cutoff_months(12, utc(2024, 2, 29, 8, 0, 0)),
			 utc(2023, 2, 28, 8, 0, 0));
	assert_int_equal(cutoff_months(48, utc(2024, 2, 29, 8, 0, 0)),
			 utc(2020, 2, 29, 8, 0, 0));
	/* Ten months back from 31 December lands in a leap February. */
	assert_int_equal(cutoff_months(10, utc(2024, 12, 31, 1, 2, 3)),
			 utc(2024, 2, 29, 1, 2, 3));
}

static void test_cutoff_months_year_boundary(void **state)
{
	(void)state;
	assert_int_equal(cutoff_months(1, utc(2025, 1, 15, 10, 20, 30)),
			 utc(2024, 12, 15, 10, 20, 30));
	assert_int_equal(cutoff_months(1, utc(2025, 1, 1, 0, 0, 0)),
			 utc(2024, 12, 1, 0, 0, 0));
	assert_int_equal(cutoff_months(12, utc(2025, 1, 1, 0, 0, 0)),
			 utc(2024, 1, 1, 0, 0, 0));
	assert_int_equal(cutoff_months(12, utc(2025, 6, 30, 23, 0, 0)),
			 utc(2024, 6, 30, 23, 0, 0));
	assert_int_equal(cutoff_months(13, utc(2024, 1, 31, 0, 0, 0)),
			 utc(2022, 12, 31, 0, 0, 0));
	assert_int_equal(cutoff_months(2, utc(2025, 1, 31, 0, 0, 0)),
			 utc(2024, 11, 30, 0, 0, 0));
	assert_int_equal(cutoff_months(25, utc(2025, 3, 31, 0, 0, 0)),
			 utc(2023, 2, 28, 0, 0, 0));
	/* Across the epoch: the cutoff is a negative time. */
	assert_int_equal(cutoff_months(1, utc(1970, 1, 15, 0, 0, 0)),
			 utc(1969, 12, 15, 0, 0, 0));
	assert_true(cutoff_months(1, utc(1970, 1, 15, 0, 0, 0)) < 0);
	/* A window reaching back before year 1 keeps everything. */
	assert_true(cutoff_months(30000, utc(2025, 6, 15, 0, 0, 0)) == INT64_MIN);
}

/* ---- the rules one at a time --------------------------------------------- */

static void test_window_boundary_seconds(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	struct retention_item items[] = {
		item("db", BT_DAILY, now),                /* newest */
		item("db", BT_DAILY, now - 7 * DAY),      /* exactly at the edge */
		item("db", BT_DAILY, now - 7 * DAY - 1),  /* one second past */
		item("db", BT_DAILY, now - 1),
		item("db", BT_DAILY, now - 7 * DAY + 1),
		item("db", BT_CHANGE, now - 10),          /* newest change */
		item("db", BT_CHANGE, now - DAY),         /* edge */
		item("db", BT_CHANGE, now - DAY - 1),
		item("db", BT_WEEKLY, now - 3 * DAY),     /* newest weekly */
		item("db", BT_WEEKLY, now - 4 * WEEK),
		item("db", BT_WEEKLY, now - 4 * WEEK - 1),
	};
	struct retention_decision d[11];
	plan(items, 11, &p, now, d);
	expect(&d[0], true, RR_NEWEST);
	expect(&d[1], true, RR_WITHIN);
	expect(&d[2], false, RR_EXPIRED);
	expect(&d[3], true, RR_WITHIN);
	expect(&d[4], true, RR_WITHIN);
	expect(&d[5], true, RR_NEWEST);
	expect(&d[6], true, RR_WITHIN);
	expect(&d[7], false, RR_EXPIRED);
	expect(&d[8], true, RR_NEWEST);
	expect(&d[9], true, RR_WITHIN);
	expect(&d[10], false, RR_EXPIRED);
}

static void test_window_boundary_months(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	p.keep[BT_MONTHLY] = (struct keep_rule){KEEP_MONTHS, 1};

	/* Leap year: 31 March minus a month is 29 February, same time of day. */
	int64_t now = utc(2024, 3, 31, 10, 0, 0);
	struct retention_item leap[] = {
		item("db", BT_MONTHLY, now),
		item("db", BT_MONTHLY, utc(2024, 2, 29, 10, 0, 0)),
		item("db", BT_MONTHLY, utc(2024, 2, 29, 9, 59, 59)),
		item("db", BT_MONTHLY, utc(2024, 2, 28, 10, 0, 0)),
	};
	struct retention_decision d[4];
	plan(leap, 4, &p, now, d);
	expect(&d[0], true, RR_NEWEST);
	expect(&d[1], true, RR_WITHIN);
	expect(&d[2], false, RR_EXPIRED);
	expect(&d[3], false, RR_EXPIRED);

	/* Common year: the edge is 28 February. */
	now = utc(2023, 3, 31, 10, 0, 0);
	struct retention_item common[] = {
		item("db", BT_MONTHLY, now),
		item("db", BT_MONTHLY, utc(2023, 2, 28, 10, 0, 0)),
		item("db", BT_MONTHLY, utc(2023, 2, 28, 9, 59, 59)),
	};
	plan(common, 3, &p, now, d);
	expect(&d[0], true, RR_NEWEST);
	expect(&d[1], true, RR_WITHIN);
	expect(&d[2], false, RR_EXPIRED);

	/* Twelve months across a year boundary. */
	p.keep[BT_MONTHLY] = (struct keep_rule){KEEP_MONTHS, 12};
	now = utc(2025, 1, 1, 4, 0, 0);
	struct retention_item year[] = {
		item("db", BT_MONTHLY, now),
		item("db", BT_MONTHLY, utc(2024, 1, 1, 4, 0, 0)),
		item("db", BT_MONTHLY, utc(2024, 1, 1, 3, 59, 59)),
		item("db", BT_MONTHLY, utc(2023, 12, 1, 4, 0, 0)),
	};
	plan(year, 4, &p, now, d);
	expect(&d[0], true, RR_NEWEST);
	expect(&d[1], true, RR_WITHIN);
	expect(&d[2], false, RR_EXPIRED);
	expect(&d[3], false, RR_EXPIRED);
}

static void test_newest_kept_when_all_expired(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	/* Listed oldest first, with the newest in the middle of the list. */
	struct retention_item items[] = {
		item("db", BT_DAILY, now - 90 * DAY),
		item("db", BT_DAILY, now - 60 * DAY),
		item("db", BT_DAILY, now - 30 * DAY), /* newest, still a month old */
		item("db", BT_DAILY, now - 45 * DAY),
		item("db", BT_MONTHLY, utc(2020, 1, 1, 4, 0, 0)),
		item("db", BT_MONTHLY, utc(2021, 1, 1, 4, 0, 0)),
		item("db", BT_CHANGE, now - 3 * DAY),
	};
	struct retention_decision d[7];
	plan(items, 7, &p, now, d);
	expect(&d[0], false, RR_EXPIRED);
	expect(&d[1], false, RR_EXPIRED);
	expect(&d[2], true, RR_NEWEST);
	expect(&d[3], false, RR_EXPIRED);
	expect(&d[4], false, RR_EXPIRED);
	expect(&d[5], true, RR_NEWEST);
	expect(&d[6], true, RR_NEWEST); /* a lone backup is its type's newest */
}

static void test_newest_ties_resolved_by_list_order(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	int64_t old = now - 30 * DAY;
	struct retention_item items[] = {
		item("db", BT_DAILY, old - DAY),
		item("db", BT_DAILY, old), /* first of the two newest: kept */
		item("db", BT_DAILY, old), /* same second, listed later: expired */
		item("db", BT_DAILY, old - 2 * DAY),
	};
	struct retention_decision d[4];
	plan(items, 4, &p, now, d);
	expect(&d[0], false, RR_EXPIRED);
	expect(&d[1], true, RR_NEWEST);
	expect(&d[2], false, RR_EXPIRED);
	expect(&d[3], false, RR_EXPIRED);

	/* Three-way tie: only the first listed survives. */
	struct retention_item three[] = {
		item("db", BT_WEEKLY, old),
		item("db", BT_WEEKLY, old),
		item("db", BT_WEEKLY, old),
	};
	plan(three, 3, &p, now, d);
	expect(&d[0], true, RR_NEWEST);
	expect(&d[1], false, RR_EXPIRED);
	expect(&d[2], false, RR_EXPIRED);
}

static void test_databases_independent(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	/* Two databases interleaved in one tier; "app" has a recent daily,
	 * "app_daily" (a name that contains a type) only expired ones, and the
	 * newest of the whole tier belongs to "app". */
	struct retention_item items[] = {
		item("app", BT_DAILY, now - HOUR),
		item("app_daily", BT_DAILY, now - 20 * DAY),
		item("app", BT_DAILY, now - 20 * DAY),
		item("app_daily", BT_DAILY, now - 10 * DAY),
		item("app", BT_DAILY, now - 10 * DAY),
		item("other", BT_DAILY, now - 400 * DAY),
		item("app_daily", BT_DAILY, now - 2 * DAY),
	};
	struct retention_decision d[7];
	plan(items, 7, &p, now, d);
	expect(&d[0], true, RR_NEWEST);
	expect(&d[1], false, RR_EXPIRED);
	expect(&d[2], false, RR_EXPIRED);
	expect(&d[3], false, RR_EXPIRED);
	expect(&d[4], false, RR_EXPIRED);
	expect(&d[5], true, RR_NEWEST);
	expect(&d[6], true, RR_NEWEST);

	/* Equal strings in different buffers are the same database. */
	char a1[] = "shared", a2[] = "shared";
	struct retention_item same[] = {
		item(a1, BT_DAILY, now - 30 * DAY),
		item(a2, BT_DAILY, now - 20 * DAY),
	};
	plan(same, 2, &p, now, d);
	expect(&d[0], false, RR_EXPIRED);
	expect(&d[1], true, RR_NEWEST);
}

static void test_types_independent(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	/* A newer backup of another type does not take "newest" away. */
	struct retention_item items[] = {
		item("db", BT_DAILY, now - 30 * DAY),
		item("db", BT_DAILY, now - 31 * DAY),
		item("db", BT_WEEKLY, now - 60 * DAY),
		item("db", BT_WEEKLY, now - 61 * DAY),
		item("db", BT_MANUAL, now),
		item("db", BT_CHANGE, now - 5 * DAY),
		item("db", BT_CHANGE, now - 6 * DAY),
	};
	struct retention_decision d[7];
	plan(items, 7, &p, now, d);
	expect(&d[0], true, RR_NEWEST);
	expect(&d[1], false, RR_EXPIRED);
	expect(&d[2], true, RR_NEWEST);
	expect(&d[3], false, RR_EXPIRED);
	expect(&d[4], true, RR_NEVER_PRUNED);
	expect(&d[5], true, RR_NEWEST);
	expect(&d[6], false, RR_EXPIRED);
}

static void test_manual_and_restore_points_never_pruned(void **state)
{
	(void)state;
	struct retention_policy p;
	/* Even a policy that would expire everything after a second. */
	policy_all_seconds(&p, 1);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	struct retention_item items[] = {
		item("db", BT_MANUAL, utc(1971, 1, 1, 0, 0, 0)),
		item("db", BT_MANUAL, now - 10 * 365 * DAY),
		item("db", BT_MANUAL, now),
		item("db", BT_RESTORE_POINT, utc(1970, 1, 1, 0, 0, 0)),
		item("db", BT_RESTORE_POINT, now - 2),
		item("db", BT_RESTORE_POINT, now + DAY), /* in the future */
		item("db", BT_DAILY, now - 2),
		item("db", BT_DAILY, now - 3),
	};
	struct retention_decision d[8];
	plan(items, 8, &p, now, d);
	for (int i = 0; i < 6; i++)
		expect(&d[i], true, RR_NEVER_PRUNED);
	expect(&d[6], true, RR_NEWEST);
	expect(&d[7], false, RR_EXPIRED);

	/* Same with the default policy and absurd ages. */
	retention_policy_default(&p);
	struct retention_item old[] = {
		item("x", BT_MANUAL, INT64_MIN / 2),
		item("x", BT_RESTORE_POINT, INT64_MIN / 2),
		item("x", BT_MANUAL, INT64_MIN / 2 + 1),
	};
	plan(old, 3, &p, now, d);
	for (int i = 0; i < 3; i++)
		expect(&d[i], true, RR_NEVER_PRUNED);
}

static void test_keep_forever(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	p.keep[BT_WEEKLY] = (struct keep_rule){KEEP_FOREVER, 0};
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	struct retention_item items[] = {
		item("db", BT_WEEKLY, now - WEEK),
		item("db", BT_WEEKLY, now - 1000 * DAY),
		item("db", BT_WEEKLY, utc(1970, 1, 4, 3, 0, 0)),
		item("db", BT_WEEKLY, now + WEEK), /* forever comes before future */
		item("db", BT_DAILY, now - 9 * DAY),
		item("db", BT_DAILY, now - 8 * DAY),
	};
	struct retention_decision d[6];
	plan(items, 6, &p, now, d);
	expect(&d[0], true, RR_FOREVER);
	expect(&d[1], true, RR_FOREVER);
	expect(&d[2], true, RR_FOREVER);
	expect(&d[3], true, RR_NEWEST);
	/* Other types keep their own rules. */
	expect(&d[4], false, RR_EXPIRED);
	expect(&d[5], true, RR_NEWEST);
}

static void test_clock_skew(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);

	/* Future backups that are not the newest are kept as "future"; the
	 * newest (here the furthest in the future) is kept as newest; backups
	 * in the past are judged by their age as usual. */
	struct retention_item items[] = {
		item("db", BT_DAILY, now + 1),
		item("db", BT_DAILY, now + 365 * DAY),
		item("db", BT_DAILY, now + 30 * DAY),
		item("db", BT_DAILY, now - DAY),
		item("db", BT_DAILY, now - 8 * DAY),
		item("db", BT_DAILY, now),
	};
	struct retention_decision d[6];
	plan(items, 6, &p, now, d);
	expect(&d[0], true, RR_FUTURE);
	expect(&d[1], true, RR_NEWEST);
	expect(&d[2], true, RR_FUTURE);
	expect(&d[3], true, RR_WITHIN);
	expect(&d[4], false, RR_EXPIRED);
	expect(&d[5], true, RR_WITHIN); /* exactly now is not the future */

	/* A whole clock jump: every backup far in the future, none deleted. */
	struct retention_item ahead[] = {
		item("db", BT_MONTHLY, now + 400 * DAY),
		item("db", BT_MONTHLY, now + 800 * DAY),
		item("db", BT_CHANGE, now + 2 * DAY),
		item("db", BT_CHANGE, now + 3 * DAY),
	};
	plan(ahead, 4, &p, now, d);
	expect(&d[0], true, RR_FUTURE);
	expect(&d[1], true, RR_NEWEST);
	expect(&d[2], true, RR_FUTURE);
	expect(&d[3], true, RR_NEWEST);

	/* The newest in the future does not protect an old one in the past. */
	struct retention_item one_future[] = {
		item("db", BT_CHANGE, now - 2 * DAY),
		item("db", BT_CHANGE, now + HOUR),
	};
	plan(one_future, 2, &p, now, d);
	expect(&d[0], false, RR_EXPIRED);
	expect(&d[1], true, RR_NEWEST);
}

static void test_empty_tier(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	assert_true(retention_plan(NULL, 0, &p, utc(2025, 1, 1, 0, 0, 0), NULL));

	/* With real (but unused) arrays, nothing is written. */
	struct retention_item items[1] = {item("db", BT_DAILY, 0)};
	struct retention_decision d[1];
	memset(d, 0x77, sizeof(d));
	assert_true(retention_plan(items, 0, &p, utc(2025, 1, 1, 0, 0, 0), d));
	unsigned char raw[sizeof(d)];
	memset(raw, 0x77, sizeof(raw));
	assert_memory_equal(d, raw, sizeof(d));
}

static void test_single_item(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	for (int t = 0; t < BT_COUNT; t++) {
		struct retention_item one = item("db", (enum backup_type)t, 0);
		struct retention_decision d;
		plan(&one, 1, &p, now, &d);
		if (t == BT_MANUAL || t == BT_RESTORE_POINT)
			expect(&d, true, RR_NEVER_PRUNED);
		else
			expect(&d, true, RR_NEWEST);
	}
}

static void test_pinned(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	struct retention_item items[] = {
		pinned("db", BT_DAILY, now - 10 * DAY),  /* newest, pinned */
		item("db", BT_DAILY, now - 20 * DAY),    /* not the newest: expired */
		pinned("db", BT_DAILY, now - 300 * DAY), /* expired but pinned */
		pinned("db", BT_MANUAL, now - 300 * DAY),/* pinned wins over manual */
		pinned("db", BT_CHANGE, now - HOUR),     /* within anyway */
		item("db", BT_CHANGE, now),
		pinned("db", BT_MONTHLY, now + DAY),     /* pinned wins over newest */
	};
	struct retention_decision d[7];
	plan(items, 7, &p, now, d);
	expect(&d[0], true, RR_PINNED);
	expect(&d[1], false, RR_EXPIRED);
	expect(&d[2], true, RR_PINNED);
	expect(&d[3], true, RR_PINNED);
	expect(&d[4], true, RR_PINNED);
	expect(&d[5], true, RR_NEWEST);
	expect(&d[6], true, RR_PINNED);
}

static void test_rule_order(void **state)
{
	(void)state;
	/* Each rule shadows the ones after it: build one item per rule that
	 * would also match every later rule, and check the earliest decides. */
	struct retention_policy p;
	retention_policy_default(&p);
	p.keep[BT_WEEKLY] = (struct keep_rule){KEEP_FOREVER, 0};
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	struct retention_item items[] = {
		/* newest daily, also future: newest decides */
		item("db", BT_DAILY, now + DAY),
		/* future daily, not newest: future decides (would be within too
		 * if age were taken as absolute) */
		item("db", BT_DAILY, now + 1),
		/* weekly forever and future: forever decides */
		item("db", BT_WEEKLY, now + 2 * DAY),
		item("db", BT_WEEKLY, now + 3 * DAY),
	};
	struct retention_decision d[4];
	plan(items, 4, &p, now, d);
	expect(&d[0], true, RR_NEWEST);
	expect(&d[1], true, RR_FUTURE);
	expect(&d[2], true, RR_FOREVER);
	expect(&d[3], true, RR_NEWEST);
}

static void test_zero_window(void **state)
{
	(void)state;
	/* A window of 0 seconds keeps only what was made this very second. */
	struct retention_policy p;
	policy_all_seconds(&p, 0);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	struct retention_item items[] = {
		item("db", BT_CHANGE, now + 5),
		item("db", BT_CHANGE, now),
		item("db", BT_CHANGE, now - 1),
	};
	struct retention_decision d[3];
	plan(items, 3, &p, now, d);
	expect(&d[0], true, RR_NEWEST);
	expect(&d[1], true, RR_WITHIN);
	expect(&d[2], false, RR_EXPIRED);
}

/* ---- a year of backups --------------------------------------------------- */

/* Fisher-Yates with a fixed linear congruential generator: reproducible. */
static void shuffle(struct retention_item *a, size_t n, uint32_t seed)
{
	for (size_t i = n; i > 1; i--) {
		seed = seed * 1664525u + 1013904223u;
		size_t j = (size_t)(seed >> 8) % i;
		struct retention_item t = a[i - 1];
		a[i - 1] = a[j];
		a[j] = t;
	}
}

static void test_year_of_backups(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	/* Sunday 15 June 2025, noon UTC. */
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	int64_t start = utc(2024, 6, 15, 0, 0, 0);
	size_t cap = 20000, n = 0;
	struct retention_item *items = calloc(cap, sizeof(*items));
	struct retention_decision *d = calloc(cap, sizeof(*d));
	assert_non_null(items);
	assert_non_null(d);

	const char *dbs[2] = {"cloudbrain", "cloudbrain_weekly"};
	for (int k = 0; k < 2; k++) {
		const char *db = dbs[k];
		/* Change backups every hour at half past, up to now. */
		for (int64_t t = start + 30 * 60; t <= now; t += HOUR)
			items[n++] = item(db, BT_CHANGE, t);
		/* Daily at 02:00 and weekly on Sundays at 03:00, as the seed's
		 * cron lines make them. */
		for (int64_t day = start; day <= now; day += DAY) {
			time_t tt = (time_t)day;
			struct tm tm;
			gmtime_r(&tt, &tm);
			if (day + 2 * HOUR <= now)
				items[n++] = item(db, BT_DAILY, day + 2 * HOUR);
			if (tm.tm_wday == 0 && day + 3 * HOUR <= now)
				items[n++] = item(db, BT_WEEKLY, day + 3 * HOUR);
		}
		/* Monthly on the 1st at 04:00, from January 2023: 30 of them. */
		for (int m = 0; m < 30; m++)
			items[n++] = item(db, BT_MONTHLY, utc(2023 + m / 12, m % 12 + 1, 1, 4, 0, 0));
		/* A few manual backups and restore points along the way. */
		for (int m = 0; m < 5; m++)
			items[n++] = item(db, BT_MANUAL, start + m * 70 * DAY + 1234);
		for (int m = 0; m < 3; m++)
			items[n++] = item(db, BT_RESTORE_POINT, start + m * 100 * DAY + 99);
		assert_true(n < cap);
	}
	shuffle(items, n, 12345);
	plan(items, n, &p, now, d);

	/* Expected windows, from the calendar:
	 *   change  since 14 June 12:00 -> 12:30 .. 11:30 the next day: 24
	 *   daily   since  8 June 12:00 -> 9..15 June at 02:00: 7
	 *   weekly  since 18 May  12:00 -> 25 May, 1, 8, 15 June: 4
	 *   monthly since 15 June 2024 12:00 -> July 2024 .. June 2025: 12 */
	int64_t cut_change = utc(2025, 6, 14, 12, 0, 0);
	int64_t cut_daily = utc(2025, 6, 8, 12, 0, 0);
	int64_t cut_weekly = utc(2025, 5, 18, 12, 0, 0);
	int64_t cut_monthly = utc(2024, 6, 15, 12, 0, 0);
	size_t kept[2][BT_COUNT] = {{0}}, total[2][BT_COUNT] = {{0}};
	for (size_t i = 0; i < n; i++) {
		const struct retention_item *it = &items[i];
		int k = strcmp(it->db, dbs[0]) == 0 ? 0 : 1;
		total[k][it->type]++;
		if (d[i].keep)
			kept[k][it->type]++;
		else
			assert_int_equal(d[i].reason, RR_EXPIRED);
		int64_t cut = 0;
		switch (it->type) {
		case BT_CHANGE: cut = cut_change; break;
		case BT_DAILY: cut = cut_daily; break;
		case BT_WEEKLY: cut = cut_weekly; break;
		case BT_MONTHLY: cut = cut_monthly; break;
		default: cut = INT64_MIN; break;
		}
		assert_int_equal(d[i].keep, it->created >= cut);
	}
	for (int k = 0; k < 2; k++) {
		assert_int_equal(kept[k][BT_CHANGE], 24);
		assert_int_equal(kept[k][BT_DAILY], 7);
		assert_int_equal(kept[k][BT_WEEKLY], 4);
		assert_int_equal(kept[k][BT_MONTHLY], 12);
		assert_int_equal(kept[k][BT_MANUAL], 5);
		assert_int_equal(kept[k][BT_RESTORE_POINT], 3);
		/* And the inputs were what the comment says they were. */
		assert_int_equal(total[k][BT_CHANGE], 365 * 24 + 12);
		assert_int_equal(total[k][BT_DAILY], 366);
		assert_int_equal(total[k][BT_WEEKLY], 53);
		assert_int_equal(total[k][BT_MONTHLY], 30);
	}

	/* A year later with no new backups: only the newest of each type of
	 * each database survives (plus manual and restore points). */
	plan(items, n, &p, now + 400 * DAY, d);
	size_t survivors = 0;
	for (size_t i = 0; i < n; i++) {
		if (!d[i].keep)
			continue;
		survivors++;
		if (items[i].type != BT_MANUAL && items[i].type != BT_RESTORE_POINT) {
			assert_int_equal(d[i].reason, RR_NEWEST);
		}
	}
	assert_int_equal(survivors, 2 * (4 + 5 + 3));
	free(items);
	free(d);
}

/* ---- formatting ---------------------------------------------------------- */

static void check_rule_text(enum keep_kind kind, int64_t amount, const char *want)
{
	char buf[32];
	struct keep_rule r = {kind, amount};
	memset(buf, 'x', sizeof(buf));
	keep_rule_format(&r, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_keep_rule_format(void **state)
{
	(void)state;
	check_rule_text(KEEP_FOREVER, 0, "forever");
	check_rule_text(KEEP_SECONDS, 7 * DAY, "1w");
	check_rule_text(KEEP_SECONDS, 28 * DAY, "4w");
	check_rule_text(KEEP_SECONDS, 8 * DAY, "8d");
	check_rule_text(KEEP_SECONDS, DAY, "1d");
	check_rule_text(KEEP_SECONDS, 36 * HOUR, "36h");
	check_rule_text(KEEP_SECONDS, HOUR, "1h");
	check_rule_text(KEEP_SECONDS, 90 * 60, "90min");
	check_rule_text(KEEP_SECONDS, 90, "90s");
	check_rule_text(KEEP_SECONDS, 1, "1s");
	check_rule_text(KEEP_SECONDS, 0, "0s");
	check_rule_text(KEEP_MONTHS, 12, "12m");
	check_rule_text(KEEP_MONTHS, 1, "1m");
	check_rule_text(KEEP_MONTHS, 24, "24m");

	/* A short buffer truncates and stays terminated. */
	char small[4];
	struct keep_rule r = {KEEP_FOREVER, 0};
	keep_rule_format(&r, small, sizeof(small));
	assert_string_equal(small, "for");
}

static void check_reason(bool keep, enum retention_reason reason, enum backup_type type,
			 const struct retention_policy *p, const char *want)
{
	char buf[128];
	struct retention_decision d = {keep, reason};
	memset(buf, 'x', sizeof(buf));
	retention_reason_format(&d, type, p, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_reason_format(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	check_reason(true, RR_PINNED, BT_DAILY, &p, "still wanted by a remote that lacks it");
	check_reason(true, RR_NEVER_PRUNED, BT_MANUAL, &p,
		     "manual backups are never pruned automatically");
	check_reason(true, RR_NEVER_PRUNED, BT_RESTORE_POINT, &p,
		     "restore point backups are never pruned automatically");
	check_reason(true, RR_NEWEST, BT_DAILY, &p, "newest daily backup");
	check_reason(true, RR_NEWEST, BT_CHANGE, &p, "newest change backup");
	check_reason(true, RR_FUTURE, BT_WEEKLY, &p, "created in the future (clock skew)");
	check_reason(true, RR_WITHIN, BT_DAILY, &p, "within 1w");
	check_reason(true, RR_WITHIN, BT_WEEKLY, &p, "within 4w");
	check_reason(true, RR_WITHIN, BT_MONTHLY, &p, "within 12m");
	check_reason(true, RR_WITHIN, BT_CHANGE, &p, "within 1d");
	check_reason(false, RR_EXPIRED, BT_MONTHLY, &p, "older than 12m");
	check_reason(false, RR_EXPIRED, BT_CHANGE, &p, "older than 1d");
	p.keep[BT_DAILY] = (struct keep_rule){KEEP_SECONDS, 10 * DAY};
	check_reason(false, RR_EXPIRED, BT_DAILY, &p, "older than 10d");
	p.keep[BT_MONTHLY] = (struct keep_rule){KEEP_FOREVER, 0};
	check_reason(true, RR_FOREVER, BT_MONTHLY, &p, "monthly backups are kept forever");

	/* Truncation into a small buffer. */
	char small[8];
	struct retention_decision d = {true, RR_NEWEST};
	retention_reason_format(&d, BT_DAILY, &p, small, sizeof(small));
	assert_string_equal(small, "newest ");
}

/* Every decision the planner makes has a description that matches it. */
static void test_plan_reasons_describe(void **state)
{
	(void)state;
	struct retention_policy p;
	retention_policy_default(&p);
	int64_t now = utc(2025, 6, 15, 12, 0, 0);
	struct retention_item items[] = {
		item("db", BT_DAILY, now - DAY),
		item("db", BT_DAILY, now - 2 * DAY),
		item("db", BT_DAILY, now - 9 * DAY),
	};
	struct retention_decision d[3];
	char buf[64];
	plan(items, 3, &p, now, d);
	retention_reason_format(&d[0], BT_DAILY, &p, buf, sizeof(buf));
	assert_string_equal(buf, "newest daily backup");
	retention_reason_format(&d[1], BT_DAILY, &p, buf, sizeof(buf));
	assert_string_equal(buf, "within 1w");
	retention_reason_format(&d[2], BT_DAILY, &p, buf, sizeof(buf));
	assert_string_equal(buf, "older than 1w");
}

/* Chains: each serves from its snapshot to the next one's; only those
 * serving some time in the window are needed, the newest always. */
static void test_chains(void **state)
{
	(void)state;
	const int64_t now = 1800000000;
	const struct keep_rule day = {KEEP_SECONDS, 86400};
	const struct keep_rule forever = {KEEP_FOREVER, 0};
	int64_t bases[] = {now - 5 * 86400, now - 3 * 86400, now - 86400 - 10, now - 86400,
			   now - 3600, now + 600};
	bool needed[6];

	retention_chains(bases, 5, &day, now, needed);
	/* the first two end before the window; the third ends 10 s before it
	 * opens, the fourth starts exactly at its edge */
	assert_false(needed[0]);
	assert_false(needed[1]);
	assert_false(needed[2]);
	assert_true(needed[3]);
	assert_true(needed[4]);
	/* a chain from the future, and the one before it */
	retention_chains(bases, 6, &day, now, needed);
	assert_true(needed[4]);
	assert_true(needed[5]);
	/* one second later the boundary chain still serves now - 86400 + 1 */
	retention_chains(bases, 5, &day, now + 1, needed);
	assert_true(needed[3]);
	/* forever keeps all; an old lone chain is the newest, so needed */
	retention_chains(bases, 5, &forever, now, needed);
	for (int i = 0; i < 5; i++)
		assert_true(needed[i]);
	retention_chains(bases, 1, &day, now, needed);
	assert_true(needed[0]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_policy),
		cmocka_unit_test(test_cutoff_seconds),
		cmocka_unit_test(test_cutoff_forever),
		cmocka_unit_test(test_cutoff_months_plain),
		cmocka_unit_test(test_cutoff_months_february),
		cmocka_unit_test(test_cutoff_months_year_boundary),
		cmocka_unit_test(test_window_boundary_seconds),
		cmocka_unit_test(test_window_boundary_months),
		cmocka_unit_test(test_newest_kept_when_all_expired),
		cmocka_unit_test(test_newest_ties_resolved_by_list_order),
		cmocka_unit_test(test_databases_independent),
		cmocka_unit_test(test_types_independent),
		cmocka_unit_test(test_manual_and_restore_points_never_pruned),
		cmocka_unit_test(test_keep_forever),
		cmocka_unit_test(test_clock_skew),
		cmocka_unit_test(test_empty_tier),
		cmocka_unit_test(test_single_item),
		cmocka_unit_test(test_pinned),
		cmocka_unit_test(test_rule_order),
		cmocka_unit_test(test_zero_window),
		cmocka_unit_test(test_year_of_backups),
		cmocka_unit_test(test_keep_rule_format),
		cmocka_unit_test(test_reason_format),
		cmocka_unit_test(test_plan_reasons_describe),
		cmocka_unit_test(test_chains),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
