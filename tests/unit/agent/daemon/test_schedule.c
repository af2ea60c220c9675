/*
 * Unit tests for agent/schedule.c: when daily, weekly and monthly backups
 * fall due, across month ends, leap days, time zones and DST changes.
 *
 * Expected instants were worked out independently with Python's zoneinfo
 * (fold=0 picks the first of a repeated local time; a skipped local time is
 * written as the local time just after the gap) and are pasted as constants,
 * each with its local and UTC reading.  The year walks check the rules
 * against the C library's own clock readings (localtime_r, timegm) rather
 * than against the code under test.  Each test sets TZ itself.
 */
#include "agent/daemon/schedule.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#define HOUR INT64_C(3600)
#define DAY (24 * HOUR)

/* UTC */
#define U_0101_0000 INT64_C(1767225600)  /* 2026-01-01T00:00:00Z */
#define U_0131_0400 INT64_C(1769832000)  /* 2026-01-31T04:00:00Z */
#define U_0201_0200 INT64_C(1769911200)  /* 2026-02-01T02:00:00Z, a Sunday */
#define U_0201_0300 INT64_C(1769914800)  /* 2026-02-01T03:00:00Z */
#define U_0201_0400 INT64_C(1769918400)  /* 2026-02-01T04:00:00Z */
#define U_0202_0200 INT64_C(1769997600)  /* 2026-02-02T02:00:00Z */
#define U_0202_1200 INT64_C(1770033600)  /* 2026-02-02T12:00:00Z, a Monday */
#define U_0203_0200 INT64_C(1770084000)  /* 2026-02-03T02:00:00Z */
#define U_0208_0300 INT64_C(1770519600)  /* 2026-02-08T03:00:00Z */
#define U_0215_0300 INT64_C(1771124400)  /* 2026-02-15T03:00:00Z */
#define U_0228_0400 INT64_C(1772251200)  /* 2026-02-28T04:00:00Z */
#define U_0228_1200 INT64_C(1772280000)  /* 2026-02-28T12:00:00Z */
#define U_0301_0200 INT64_C(1772330400)  /* 2026-03-01T02:00:00Z, a Sunday */
#define U_0301_0300 INT64_C(1772334000)  /* 2026-03-01T03:00:00Z */
#define U_0301_0400 INT64_C(1772337600)  /* 2026-03-01T04:00:00Z */
#define U_0308_0300 INT64_C(1772938800)  /* 2026-03-08T03:00:00Z */
#define U_0315_0000 INT64_C(1773532800)  /* 2026-03-15T00:00:00Z */
#define U_0329_0400 INT64_C(1774756800)  /* 2026-03-29T04:00:00Z */
#define U_0331_0400 INT64_C(1774929600)  /* 2026-03-31T04:00:00Z */
#define U_0401_0400 INT64_C(1775016000)  /* 2026-04-01T04:00:00Z */
#define U_0430_0400 INT64_C(1777521600)  /* 2026-04-30T04:00:00Z */
#define U_0531_0400 INT64_C(1780200000)  /* 2026-05-31T04:00:00Z */
#define U_1201_0400 INT64_C(1796097600)  /* 2026-12-01T04:00:00Z */
#define U_1227_0300 INT64_C(1798340400)  /* 2026-12-27T03:00:00Z, a Sunday */
#define U_1231_0200 INT64_C(1798682400)  /* 2026-12-31T02:00:00Z, a Thursday */
#define U_1231_0400 INT64_C(1798689600)  /* 2026-12-31T04:00:00Z */
#define U_1231_2359 INT64_C(1798761599)  /* 2026-12-31T23:59:59Z */
#define U7_0101_0200 INT64_C(1798768800) /* 2027-01-01T02:00:00Z */
#define U7_0101_0400 INT64_C(1798776000) /* 2027-01-01T04:00:00Z */
#define U7_0101_2359 INT64_C(1798847999) /* 2027-01-01T23:59:59Z */
#define U7_0103_0300 INT64_C(1798945200) /* 2027-01-03T03:00:00Z */
#define U7_0106_0000 INT64_C(1799193600) /* 2027-01-06T00:00:00Z */
#define U7_0107_0300 INT64_C(1799290800) /* 2027-01-07T03:00:00Z */
#define U7_0131_0400 INT64_C(1801368000) /* 2027-01-31T04:00:00Z */
#define U7_0228_0400 INT64_C(1803787200) /* 2027-02-28T04:00:00Z */
#define U8_0129_0400 INT64_C(1832731200) /* 2028-01-29T04:00:00Z */
#define U8_0131_0400 INT64_C(1832904000) /* 2028-01-31T04:00:00Z */
#define U8_0225_0000 INT64_C(1835049600) /* 2028-02-25T00:00:00Z, a Friday */
#define U8_0228_0200 INT64_C(1835316000) /* 2028-02-28T02:00:00Z */
#define U8_0229_0200 INT64_C(1835402400) /* 2028-02-29T02:00:00Z, a Tuesday */
#define U8_0229_0400 INT64_C(1835409600) /* 2028-02-29T04:00:00Z */
#define U8_0301_0200 INT64_C(1835488800) /* 2028-03-01T02:00:00Z */
#define U8_0315_0000 INT64_C(1836691200) /* 2028-03-15T00:00:00Z */
#define U8_0329_0400 INT64_C(1837915200) /* 2028-03-29T04:00:00Z */
#define U0_0129_0400 INT64_C(949118400)   /* 2000-01-29T04:00:00Z */
#define U0_0229_0400 INT64_C(951796800)   /* 2000-02-29T04:00:00Z, a leap year */
#define U00_0129_0400 INT64_C(4104878400) /* 2100-01-29T04:00:00Z */
#define U00_0228_0400 INT64_C(4107470400) /* 2100-02-28T04:00:00Z, not a leap year */

/* Europe/Berlin: 2026-03-29 02:00 CET -> 03:00 CEST at 01:00Z;
 * 2026-10-25 03:00 CEST -> 02:00 CET at 01:00Z. */
#define B_0328_0230 INT64_C(1774661400)  /* 2026-03-28T02:30+01:00 = 01:30Z */
#define B_0328_1200 INT64_C(1774695600)  /* 2026-03-28T12:00+01:00 = 11:00Z */
#define B_0329_0159 INT64_C(1774745999)  /* 2026-03-29T01:59:59+01:00 = 00:59:59Z */
#define B_0329_0300 INT64_C(1774746000)  /* 2026-03-29T03:00+02:00 = 01:00Z, the jump */
#define B_0329_0330 INT64_C(1774747800)  /* 2026-03-29T03:30+02:00 = 01:30Z */
#define B_0329_1200 INT64_C(1774778400)  /* 2026-03-29T12:00+02:00 = 10:00Z */
#define B_0330_0230 INT64_C(1774830600)  /* 2026-03-30T02:30+02:00 = 00:30Z */
#define B_1024_1200 INT64_C(1792836000)  /* 2026-10-24T12:00+02:00 = 10:00Z */
#define B_1025_0159 INT64_C(1792886399)  /* 2026-10-25T01:59:59+02:00 = 10-24T23:59:59Z */
#define B_1025_0200a INT64_C(1792886400) /* 2026-10-25T02:00+02:00 = 00:00Z, first */
#define B_1025_0230a INT64_C(1792888200) /* 2026-10-25T02:30+02:00 = 00:30Z, first */
#define B_1025_0259a INT64_C(1792889999) /* 2026-10-25T02:59:59+02:00 = 00:59:59Z, first */
#define B_1025_0230b INT64_C(1792891800) /* 2026-10-25T02:30+01:00 = 01:30Z, second */
#define B_1025_0300 INT64_C(1792893600)  /* 2026-10-25T03:00+01:00 = 02:00Z */
#define B_1026_0230 INT64_C(1792978200)  /* 2026-10-26T02:30+01:00 = 01:30Z */

/* America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT at 07:00Z;
 * 2026-11-01 02:00 EDT -> 01:00 EST at 06:00Z. */
#define N_0307_1200 INT64_C(1772902800)  /* 2026-03-07T12:00-05:00 = 17:00Z */
#define N_0308_0159 INT64_C(1772953199)  /* 2026-03-08T01:59:59-05:00 = 06:59:59Z */
#define N_0308_0300 INT64_C(1772953200)  /* 2026-03-08T03:00-04:00 = 07:00Z, the jump */
#define N_0308_0330 INT64_C(1772955000)  /* 2026-03-08T03:30-04:00 = 07:30Z */
#define N_0309_0230 INT64_C(1773037800)  /* 2026-03-09T02:30-04:00 = 06:30Z */
#define N_1031_1200 INT64_C(1793462400)  /* 2026-10-31T12:00-04:00 = 16:00Z */
#define N_1101_0059 INT64_C(1793509199)  /* 2026-11-01T00:59:59-04:00 = 04:59:59Z */
#define N_1101_0100a INT64_C(1793509200) /* 2026-11-01T01:00-04:00 = 05:00Z, first */
#define N_1101_0130a INT64_C(1793511000) /* 2026-11-01T01:30-04:00 = 05:30Z, first */
#define N_1101_0159a INT64_C(1793512799) /* 2026-11-01T01:59:59-04:00 = 05:59:59Z, first */
#define N_1101_0130b INT64_C(1793514600) /* 2026-11-01T01:30-05:00 = 06:30Z, second */
#define N_1101_0200 INT64_C(1793516400)  /* 2026-11-01T02:00-05:00 = 07:00Z */
#define N_1102_0130 INT64_C(1793601000)  /* 2026-11-02T01:30-05:00 = 06:30Z */
#define N_1108_0130 INT64_C(1794119400)  /* 2026-11-08T01:30-05:00 = 06:30Z */
#define N_1201_0130 INT64_C(1796106600)  /* 2026-12-01T01:30-05:00 = 06:30Z */

/* Australia/Lord_Howe, a 30-minute shift: 2026-04-05 02:00 +11 -> 01:30
 * +10:30 at 04-04T15:00Z; 2026-10-04 02:00 +10:30 -> 02:30 +11 at
 * 10-03T15:30Z. */
#define L_0404_1200 INT64_C(1775264400)  /* 2026-04-04T12:00+11:00 = 01:00Z */
#define L_0405_0145a INT64_C(1775313900) /* 2026-04-05T01:45+11:00 = 04-04T14:45Z, first */
#define L_0405_0145b INT64_C(1775315700) /* 2026-04-05T01:45+10:30 = 04-04T15:15Z, second */
#define L_0405_0200 INT64_C(1775316600)  /* 2026-04-05T02:00+10:30 = 04-04T15:30Z */
#define L_0406_0145 INT64_C(1775402100)  /* 2026-04-06T01:45+10:30 = 04-05T15:15Z */
#define L_1003_1200 INT64_C(1790991000)  /* 2026-10-03T12:00+10:30 = 01:30Z */
#define L_1004_0159 INT64_C(1791041399)  /* 2026-10-04T01:59:59+10:30 = 10-03T15:29:59Z */
#define L_1004_0230 INT64_C(1791041400)  /* 2026-10-04T02:30+11:00 = 10-03T15:30Z, the jump */
#define L_1005_0215 INT64_C(1791126900)  /* 2026-10-05T02:15+11:00 = 10-04T15:15Z */

/* Asia/Kolkata, +05:30 all year. */
#define K_0201_0300 INT64_C(1769895000)  /* 2026-02-01T03:00+05:30 = 01-31T21:30Z */
#define K_0201_0400 INT64_C(1769898600)  /* 2026-02-01T04:00+05:30 = 01-31T22:30Z */
#define K_0202_0200 INT64_C(1769977800)  /* 2026-02-02T02:00+05:30 = 02-01T20:30Z */
#define K_0203_0200 INT64_C(1770064200)  /* 2026-02-03T02:00+05:30 = 02-02T20:30Z */
#define K_0208_0300 INT64_C(1770499800)  /* 2026-02-08T03:00+05:30 = 02-07T21:30Z */
#define K_0301_0400 INT64_C(1772317800)  /* 2026-03-01T04:00+05:30 = 02-28T22:30Z */

/* Pacific/Chatham, +12:45 / +13:45: 2026-04-05 03:45 -> 02:45 at
 * 04-04T14:00Z; 2026-09-27 02:45 -> 03:45 at 09-26T14:00Z. */
#define C_0203_0200 INT64_C(1770034500)  /* 2026-02-03T02:00+13:45 = 02-02T12:15Z */
#define C_0404_1200 INT64_C(1775254500)  /* 2026-04-04T12:00+13:45 = 04-03T22:15Z */
#define C_0405_0300a INT64_C(1775308500) /* 2026-04-05T03:00+13:45 = 04-04T13:15Z, first */
#define C_0405_0300b INT64_C(1775312100) /* 2026-04-05T03:00+12:45 = 04-04T14:15Z, second */
#define C_0406_0300 INT64_C(1775398500)  /* 2026-04-06T03:00+12:45 = 04-05T14:15Z */
#define C_0926_1200 INT64_C(1790378100)  /* 2026-09-26T12:00+12:45 = 09-25T23:15Z */
#define C_0927_0345 INT64_C(1790431200)  /* 2026-09-27T03:45+13:45 = 09-26T14:00Z, the jump */
#define C_0928_0300 INT64_C(1790514900)  /* 2026-09-28T03:00+13:45 = 09-27T13:15Z */

/* The range limits in schedule.c: 0001-01-01T00:00:00Z, 9999-12-31T23:59:59Z. */
#define T_MIN INT64_C(-62135596800)
#define T_MAX INT64_C(253402300799)
#define T_10000_0101_0200 INT64_C(253402308000) /* 10000-01-01T02:00:00Z */

static void use_zone(const char *tz)
{
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

static struct conf_schedule daily(int h, int m, int s)
{
	return (struct conf_schedule){.enabled = true, .hour = h, .minute = m,
				      .second = s};
}

static struct conf_schedule weekly(int weekday, int h, int m, int s)
{
	return (struct conf_schedule){.enabled = true, .hour = h, .minute = m,
				      .second = s, .weekday = weekday};
}

static struct conf_schedule monthly(int mday, int h, int m, int s)
{
	return (struct conf_schedule){.enabled = true, .hour = h, .minute = m,
				      .second = s, .mday = mday};
}

static void check_time(const char *what, int64_t ref, int64_t got, int64_t want,
		       int line)
{
	if (got != want)
		fail_msg("line %d: %s(%" PRId64 ") = %" PRId64 ", want %" PRId64
			 " (off by %" PRId64 " s)", line, what, ref, got, want,
			 got - want);
}

#define NEXT(s, type, after, want) \
	check_time("next", (after), schedule_next((s), (type), (after)), (want), __LINE__)
#define PREV(s, type, at, want) \
	check_time("prev", (at), schedule_prev((s), (type), (at)), (want), __LINE__)

/* ---- UTC: the seed's defaults and exact boundaries ---- */

static void test_defaults_utc(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule d = daily(2, 0, 0), w = weekly(0, 3, 0, 0),
			     m = monthly(1, 4, 0, 0);

	NEXT(&d, BT_DAILY, U_0202_1200, U_0203_0200);
	PREV(&d, BT_DAILY, U_0202_1200, U_0202_0200);
	NEXT(&w, BT_WEEKLY, U_0202_1200, U_0208_0300);
	PREV(&w, BT_WEEKLY, U_0202_1200, U_0201_0300);
	NEXT(&m, BT_MONTHLY, U_0202_1200, U_0301_0400);
	PREV(&m, BT_MONTHLY, U_0202_1200, U_0201_0400);
}

static void test_exactly_at_due_time(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule d = daily(2, 0, 0), w = weekly(0, 3, 0, 0),
			     m = monthly(1, 4, 0, 0);

	/* next is strictly after: from a due instant, the following one */
	NEXT(&d, BT_DAILY, U_0202_0200, U_0203_0200);
	NEXT(&w, BT_WEEKLY, U_0208_0300, U_0215_0300);
	NEXT(&m, BT_MONTHLY, U_0301_0400, U_0401_0400);
	/* prev is at or before: a due instant is its own prev */
	PREV(&d, BT_DAILY, U_0202_0200, U_0202_0200);
	PREV(&w, BT_WEEKLY, U_0208_0300, U_0208_0300);
	PREV(&m, BT_MONTHLY, U_0301_0400, U_0301_0400);
}

static void test_one_second_before(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule d = daily(2, 0, 0), w = weekly(0, 3, 0, 0),
			     m = monthly(1, 4, 0, 0);

	NEXT(&d, BT_DAILY, U_0202_0200 - 1, U_0202_0200);
	NEXT(&w, BT_WEEKLY, U_0208_0300 - 1, U_0208_0300);
	NEXT(&m, BT_MONTHLY, U_0301_0400 - 1, U_0301_0400);
	PREV(&d, BT_DAILY, U_0202_0200 - 1, U_0201_0200);
	PREV(&w, BT_WEEKLY, U_0208_0300 - 1, U_0201_0300);
	PREV(&m, BT_MONTHLY, U_0301_0400 - 1, U_0201_0400);
	/* and one second after */
	NEXT(&d, BT_DAILY, U_0202_0200 + 1, U_0203_0200);
	PREV(&d, BT_DAILY, U_0202_0200 + 1, U_0202_0200);
}

static void test_seconds_field(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule d = daily(23, 59, 59);

	NEXT(&d, BT_DAILY, U_1231_2359 - 1, U_1231_2359);
	NEXT(&d, BT_DAILY, U_1231_2359, U7_0101_2359);
	PREV(&d, BT_DAILY, U7_0101_2359 - 1, U_1231_2359);
}

static void test_around_the_epoch(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule d = daily(2, 0, 0);

	NEXT(&d, BT_DAILY, -1, 2 * HOUR);
	NEXT(&d, BT_DAILY, -DAY, 2 * HOUR - DAY);
	PREV(&d, BT_DAILY, 0, 2 * HOUR - DAY);
	PREV(&d, BT_DAILY, 2 * HOUR, 2 * HOUR);
}

/* ---- month ends, leap days, year ends ---- */

static void test_mday_31_in_short_months(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule m = monthly(31, 4, 0, 0);

	NEXT(&m, BT_MONTHLY, U_0131_0400 - 1, U_0131_0400);
	NEXT(&m, BT_MONTHLY, U_0131_0400, U_0228_0400);   /* February: the 28th */
	NEXT(&m, BT_MONTHLY, U_0228_0400, U_0331_0400);
	NEXT(&m, BT_MONTHLY, U_0331_0400, U_0430_0400);   /* April: the 30th */
	NEXT(&m, BT_MONTHLY, U_0430_0400, U_0531_0400);
	PREV(&m, BT_MONTHLY, U_0315_0000, U_0228_0400);
	PREV(&m, BT_MONTHLY, U_0430_0400 - 1, U_0331_0400);
	PREV(&m, BT_MONTHLY, U_0430_0400, U_0430_0400);

	struct conf_schedule m30 = monthly(30, 4, 0, 0);
	NEXT(&m30, BT_MONTHLY, U_0202_1200, U_0228_0400);
	NEXT(&m30, BT_MONTHLY, U_0430_0400 - 1, U_0430_0400);
}

static void test_mday_29_in_february(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule m = monthly(29, 4, 0, 0);

	/* 2026 and 2027 are not leap years: the 28th */
	NEXT(&m, BT_MONTHLY, U_0202_1200, U_0228_0400);
	NEXT(&m, BT_MONTHLY, U_0228_0400, U_0329_0400);   /* March has a 29th */
	PREV(&m, BT_MONTHLY, U_0315_0000, U_0228_0400);
	NEXT(&m, BT_MONTHLY, U7_0131_0400, U7_0228_0400);
	/* 2028 is */
	NEXT(&m, BT_MONTHLY, U8_0129_0400, U8_0229_0400);
	NEXT(&m, BT_MONTHLY, U8_0229_0400, U8_0329_0400);
	PREV(&m, BT_MONTHLY, U8_0315_0000, U8_0229_0400);
	/* 2100 is not (divisible by 100, not by 400); 2000 is (by 400) */
	NEXT(&m, BT_MONTHLY, U00_0129_0400, U00_0228_0400);
	NEXT(&m, BT_MONTHLY, U0_0129_0400, U0_0229_0400);
}

static void test_leap_day_2028(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule d = daily(2, 0, 0), tue = weekly(2, 2, 0, 0),
			     m31 = monthly(31, 4, 0, 0), m30 = monthly(30, 4, 0, 0);

	NEXT(&d, BT_DAILY, U8_0228_0200, U8_0229_0200);
	NEXT(&d, BT_DAILY, U8_0229_0200, U8_0301_0200);
	PREV(&d, BT_DAILY, U8_0301_0200 - 1, U8_0229_0200);
	NEXT(&tue, BT_WEEKLY, U8_0225_0000, U8_0229_0200);
	PREV(&tue, BT_WEEKLY, U8_0301_0200, U8_0229_0200);
	NEXT(&m31, BT_MONTHLY, U8_0131_0400, U8_0229_0400);
	PREV(&m30, BT_MONTHLY, U8_0315_0000, U8_0229_0400);
}

static void test_year_end(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule d = daily(2, 0, 0), m1 = monthly(1, 4, 0, 0),
			     m31 = monthly(31, 4, 0, 0);

	NEXT(&d, BT_DAILY, U_1231_0200, U7_0101_0200);
	PREV(&d, BT_DAILY, U7_0101_0200 - 1, U_1231_0200);
	NEXT(&m31, BT_MONTHLY, U_1231_0400, U7_0131_0400);
	PREV(&m31, BT_MONTHLY, U7_0131_0400 - 1, U_1231_0400);
	NEXT(&m1, BT_MONTHLY, U_1201_0400, U7_0101_0400);
	PREV(&m1, BT_MONTHLY, U7_0101_0400 - 1, U_1201_0400);
}

static void test_weekly_across_year_end(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule sun = weekly(0, 3, 0, 0), thu = weekly(4, 3, 0, 0);

	NEXT(&sun, BT_WEEKLY, U_1227_0300, U7_0103_0300);
	PREV(&sun, BT_WEEKLY, U7_0103_0300 - 1, U_1227_0300);
	/* 2026-12-31 is a Thursday */
	NEXT(&thu, BT_WEEKLY, U_1227_0300, U_1231_0200 + HOUR);
	NEXT(&thu, BT_WEEKLY, U_1231_0200 + HOUR, U7_0107_0300);
	PREV(&thu, BT_WEEKLY, U7_0106_0000, U_1231_0200 + HOUR);
}

/* 2026-03-01 is a Sunday: daily, weekly and monthly fall due the same day,
 * each once. */
static void test_sunday_the_first(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule d = daily(2, 0, 0), w = weekly(0, 3, 0, 0),
			     m = monthly(1, 4, 0, 0);

	NEXT(&d, BT_DAILY, U_0228_1200, U_0301_0200);
	NEXT(&w, BT_WEEKLY, U_0228_1200, U_0301_0300);
	NEXT(&m, BT_MONTHLY, U_0228_1200, U_0301_0400);
	NEXT(&w, BT_WEEKLY, U_0301_0300, U_0308_0300);
	NEXT(&m, BT_MONTHLY, U_0301_0400, U_0401_0400);
	PREV(&w, BT_WEEKLY, U_0301_0400, U_0301_0300);
	PREV(&m, BT_MONTHLY, U_0301_0400, U_0301_0400);

	/* at the same time of day, both fall due at the same instant */
	struct conf_schedule w4 = weekly(0, 4, 0, 0);
	NEXT(&w4, BT_WEEKLY, U_0228_1200, U_0301_0400);
	NEXT(&w4, BT_WEEKLY, U_0301_0400, U_0308_0300 + HOUR);

	/* 2026-11-01 is a Sunday and New York's fall-back day: both take the
	 * first 01:30 */
	use_zone("America/New_York");
	struct conf_schedule nw = weekly(0, 1, 30, 0), nm = monthly(1, 1, 30, 0);
	NEXT(&nw, BT_WEEKLY, N_1031_1200, N_1101_0130a);
	NEXT(&nm, BT_MONTHLY, N_1031_1200, N_1101_0130a);
	NEXT(&nw, BT_WEEKLY, N_1101_0130a, N_1108_0130);
	NEXT(&nm, BT_MONTHLY, N_1101_0130a, N_1201_0130);
}

/* ---- DST ---- */

static void test_berlin_spring_forward(void **state)
{
	(void)state;
	use_zone("Europe/Berlin");
	struct conf_schedule d0230 = daily(2, 30, 0), d0200 = daily(2, 0, 0),
			     d0159 = daily(1, 59, 59), d0300 = daily(3, 0, 0),
			     d0330 = daily(3, 30, 0);

	/* inside the gap: at the jump, 03:00 CEST */
	NEXT(&d0230, BT_DAILY, B_0328_1200, B_0329_0300);
	NEXT(&d0200, BT_DAILY, B_0328_1200, B_0329_0300);
	/* before it and after it: unaffected */
	NEXT(&d0159, BT_DAILY, B_0328_1200, B_0329_0159);
	NEXT(&d0300, BT_DAILY, B_0328_1200, B_0329_0300);
	NEXT(&d0330, BT_DAILY, B_0328_1200, B_0329_0330);
	/* around the gap day */
	NEXT(&d0230, BT_DAILY, B_0329_0159, B_0329_0300);
	NEXT(&d0230, BT_DAILY, B_0329_0300, B_0330_0230);
	PREV(&d0230, BT_DAILY, B_0329_1200, B_0329_0300);
	PREV(&d0230, BT_DAILY, B_0329_0300, B_0329_0300);
	PREV(&d0230, BT_DAILY, B_0329_0300 - 1, B_0328_0230);
	PREV(&d0230, BT_DAILY, B_0330_0230 - 1, B_0329_0300);

	/* weekly (the 29th is a Sunday) and monthly the same way */
	struct conf_schedule w = weekly(0, 2, 30, 0), m = monthly(29, 2, 30, 0);
	NEXT(&w, BT_WEEKLY, B_0328_1200, B_0329_0300);
	NEXT(&m, BT_MONTHLY, B_0328_1200, B_0329_0300);
	PREV(&m, BT_MONTHLY, B_0329_1200, B_0329_0300);
}

static void test_berlin_fall_back(void **state)
{
	(void)state;
	use_zone("Europe/Berlin");
	struct conf_schedule d0230 = daily(2, 30, 0), d0200 = daily(2, 0, 0),
			     d0259 = daily(2, 59, 59), d0159 = daily(1, 59, 59),
			     d0300 = daily(3, 0, 0);

	/* inside the repeated hour: the first occurrence (CEST) */
	NEXT(&d0230, BT_DAILY, B_1024_1200, B_1025_0230a);
	NEXT(&d0200, BT_DAILY, B_1024_1200, B_1025_0200a);
	NEXT(&d0259, BT_DAILY, B_1024_1200, B_1025_0259a);
	/* before and after it */
	NEXT(&d0159, BT_DAILY, B_1024_1200, B_1025_0159);
	NEXT(&d0300, BT_DAILY, B_1024_1200, B_1025_0300);
	/* once only: the second 02:30 is not due again */
	NEXT(&d0230, BT_DAILY, B_1025_0230a, B_1026_0230);
	NEXT(&d0230, BT_DAILY, B_1025_0230b - 1, B_1026_0230);
	NEXT(&d0230, BT_DAILY, B_1025_0230b, B_1026_0230);
	PREV(&d0230, BT_DAILY, B_1025_0230b, B_1025_0230a);
	PREV(&d0230, BT_DAILY, B_1026_0230 - 1, B_1025_0230a);
	PREV(&d0230, BT_DAILY, B_1025_0230a - 1, B_1025_0230a - DAY);
	/* weekly (the 25th is a Sunday) */
	struct conf_schedule w = weekly(0, 2, 30, 0);
	NEXT(&w, BT_WEEKLY, B_1024_1200, B_1025_0230a);
	NEXT(&w, BT_WEEKLY, B_1025_0230a, B_1026_0230 + 6 * DAY);
}

static void test_new_york_spring_forward(void **state)
{
	(void)state;
	use_zone("America/New_York");
	struct conf_schedule d0230 = daily(2, 30, 0), d0200 = daily(2, 0, 0),
			     d0159 = daily(1, 59, 59), d0300 = daily(3, 0, 0),
			     d0330 = daily(3, 30, 0);

	NEXT(&d0230, BT_DAILY, N_0307_1200, N_0308_0300);
	NEXT(&d0200, BT_DAILY, N_0307_1200, N_0308_0300);
	NEXT(&d0159, BT_DAILY, N_0307_1200, N_0308_0159);
	NEXT(&d0300, BT_DAILY, N_0307_1200, N_0308_0300);
	NEXT(&d0330, BT_DAILY, N_0307_1200, N_0308_0330);
	NEXT(&d0230, BT_DAILY, N_0308_0300, N_0309_0230);
	PREV(&d0230, BT_DAILY, N_0309_0230 - 1, N_0308_0300);
	PREV(&d0200, BT_DAILY, N_0308_0300, N_0308_0300);
	PREV(&d0200, BT_DAILY, N_0308_0300 - 1, N_0307_1200 - 10 * HOUR);

	struct conf_schedule w = weekly(0, 2, 30, 0), m = monthly(8, 2, 30, 0);
	NEXT(&w, BT_WEEKLY, N_0307_1200, N_0308_0300);
	NEXT(&m, BT_MONTHLY, N_0307_1200, N_0308_0300);
}

static void test_new_york_fall_back(void **state)
{
	(void)state;
	use_zone("America/New_York");
	struct conf_schedule d0130 = daily(1, 30, 0), d0100 = daily(1, 0, 0),
			     d0159 = daily(1, 59, 59), d0059 = daily(0, 59, 59),
			     d0200 = daily(2, 0, 0);

	NEXT(&d0130, BT_DAILY, N_1031_1200, N_1101_0130a);
	NEXT(&d0100, BT_DAILY, N_1031_1200, N_1101_0100a);
	NEXT(&d0159, BT_DAILY, N_1031_1200, N_1101_0159a);
	NEXT(&d0059, BT_DAILY, N_1031_1200, N_1101_0059);
	NEXT(&d0200, BT_DAILY, N_1031_1200, N_1101_0200);
	NEXT(&d0130, BT_DAILY, N_1101_0130a, N_1102_0130);
	NEXT(&d0130, BT_DAILY, N_1101_0130b, N_1102_0130);
	PREV(&d0130, BT_DAILY, N_1101_0130b, N_1101_0130a);
	PREV(&d0130, BT_DAILY, N_1102_0130 - 1, N_1101_0130a);
	/* 01:59:59 EDT, then the clock reads 01:00 EST: 02:00 comes once */
	PREV(&d0200, BT_DAILY, N_1101_0200, N_1101_0200);
	PREV(&d0200, BT_DAILY, N_1101_0200 - 1, N_1031_1200 - 10 * HOUR);
}

static void test_lord_howe_half_hour_shift(void **state)
{
	(void)state;
	use_zone("Australia/Lord_Howe");
	/* April: 01:30..01:59:59 happens twice */
	struct conf_schedule d0145 = daily(1, 45, 0), d0200 = daily(2, 0, 0);
	NEXT(&d0145, BT_DAILY, L_0404_1200, L_0405_0145a);
	NEXT(&d0145, BT_DAILY, L_0405_0145a, L_0406_0145);
	NEXT(&d0145, BT_DAILY, L_0405_0145b, L_0406_0145);
	PREV(&d0145, BT_DAILY, L_0405_0145b, L_0405_0145a);
	NEXT(&d0200, BT_DAILY, L_0404_1200, L_0405_0200);

	/* October: 02:00..02:29:59 is skipped */
	struct conf_schedule d0215 = daily(2, 15, 0), d0159 = daily(1, 59, 59),
			     d0230 = daily(2, 30, 0);
	NEXT(&d0215, BT_DAILY, L_1003_1200, L_1004_0230);
	NEXT(&d0200, BT_DAILY, L_1003_1200, L_1004_0230);
	NEXT(&d0230, BT_DAILY, L_1003_1200, L_1004_0230);
	NEXT(&d0159, BT_DAILY, L_1003_1200, L_1004_0159);
	NEXT(&d0215, BT_DAILY, L_1004_0230, L_1005_0215);
	PREV(&d0215, BT_DAILY, L_1005_0215 - 1, L_1004_0230);
}

static void test_kolkata_half_hour_offset(void **state)
{
	(void)state;
	use_zone("Asia/Kolkata");
	struct conf_schedule d = daily(2, 0, 0), w = weekly(0, 3, 0, 0),
			     m = monthly(1, 4, 0, 0);

	/* U_0202_1200 is 17:30 local on Monday 2 February */
	NEXT(&d, BT_DAILY, U_0202_1200, K_0203_0200);
	PREV(&d, BT_DAILY, U_0202_1200, K_0202_0200);
	NEXT(&w, BT_WEEKLY, U_0202_1200, K_0208_0300);
	PREV(&w, BT_WEEKLY, U_0202_1200, K_0201_0300);
	NEXT(&m, BT_MONTHLY, U_0202_1200, K_0301_0400);
	PREV(&m, BT_MONTHLY, U_0202_1200, K_0201_0400);
	/* one second before a due instant, and at it */
	NEXT(&d, BT_DAILY, K_0203_0200 - 1, K_0203_0200);
	NEXT(&d, BT_DAILY, K_0203_0200, K_0203_0200 + DAY);
}

static void test_chatham_quarter_hour_offset(void **state)
{
	(void)state;
	use_zone("Pacific/Chatham");
	struct conf_schedule d0200 = daily(2, 0, 0), d0300 = daily(3, 0, 0);

	NEXT(&d0200, BT_DAILY, U_0202_1200 - 1, C_0203_0200);
	NEXT(&d0200, BT_DAILY, C_0203_0200, C_0203_0200 + DAY);
	/* April: 02:45..03:44:59 happens twice */
	NEXT(&d0300, BT_DAILY, C_0404_1200, C_0405_0300a);
	NEXT(&d0300, BT_DAILY, C_0405_0300a, C_0406_0300);
	PREV(&d0300, BT_DAILY, C_0405_0300b, C_0405_0300a);
	/* September: 02:45..03:44:59 is skipped */
	NEXT(&d0300, BT_DAILY, C_0926_1200, C_0927_0345);
	NEXT(&d0300, BT_DAILY, C_0927_0345, C_0928_0300);
	PREV(&d0300, BT_DAILY, C_0928_0300 - 1, C_0927_0345);
}

/* ---- a whole year of successive schedule_next calls ---- */

/* The local clock reading at t, as seconds on a UTC-like scale. */
static int64_t reading(int64_t t, struct tm *tm)
{
	time_t tt = (time_t)t;
	assert_non_null(localtime_r(&tt, tm));
	struct tm copy = *tm;
	return (int64_t)timegm(&copy);
}

/* The instant of local midnight on 1 January (no zone tested changes its
 * offset then, so mktime is unambiguous). */
static int64_t new_year(int year)
{
	struct tm tm = {.tm_year = year - 1900, .tm_mday = 1, .tm_isdst = -1};
	return (int64_t)mktime(&tm);
}

static int month_length(int year, int month)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

/* Walk the local calendar year with schedule_next from one second before
 * New Year and insist on: want due instants in the year; each strictly after
 * the one before and on the right local date (the next day, a week later
 * on the schedule's weekday, the next month's s->mday or last day); each the
 * first instant at which the clock reads the schedule's time or later (the
 * reading a second earlier, and at every quarter hour up to three hours
 * earlier, is before it); and schedule_prev agreeing at and just before each
 * one. */
static void walk_year(const char *zone, const struct conf_schedule *s,
		      enum backup_type type, int year, int want)
{
	use_zone(zone);
	int64_t start = new_year(year), end = new_year(year + 1);
	int64_t t = start - 1, last = INT64_MIN;
	int n = 0, last_yday = -1;

	for (;;) {
		int64_t due = schedule_next(s, type, t);
		if (due <= t)
			fail_msg("%s %d: next(%" PRId64 ") = %" PRId64, zone, year, t, due);
		if (due >= end)
			break;
		if (n >= 366)
			fail_msg("%s %d: more than 366 due instants", zone, year);

		struct tm tm, before;
		int64_t got = reading(due, &tm);
		struct tm wanted_tm = tm;
		wanted_tm.tm_hour = s->hour;
		wanted_tm.tm_min = s->minute;
		wanted_tm.tm_sec = s->second;
		int64_t wanted = (int64_t)timegm(&wanted_tm);
		if (got < wanted)
			fail_msg("%s: due %" PRId64 " reads before the schedule", zone, due);
		if (reading(due - 1, &before) >= wanted)
			fail_msg("%s: due %" PRId64 " is not the first instant", zone, due);
		for (int64_t back = 900; back <= 3 * HOUR; back += 900)
			if (reading(due - back, &before) >= wanted)
				fail_msg("%s: the clock read the time %" PRId64
					 " s before due %" PRId64, zone, back, due);

		switch (type) {
		case BT_DAILY:
			assert_int_equal(tm.tm_yday, n);
			break;
		case BT_WEEKLY:
			assert_int_equal(tm.tm_wday, s->weekday);
			if (n == 0)
				assert_true(tm.tm_yday < 7);
			else
				assert_int_equal(tm.tm_yday, last_yday + 7);
			break;
		default: {
			int mday = month_length(year, n + 1);
			if (s->mday < mday)
				mday = s->mday;
			assert_int_equal(tm.tm_mon, n);
			assert_int_equal(tm.tm_mday, mday);
			break;
		}
		}
		assert_int_equal(tm.tm_year + 1900, year);
		assert_true(due > last);

		check_time("prev", due, schedule_prev(s, type, due), due, __LINE__);
		if (n > 0)
			check_time("prev", due - 1, schedule_prev(s, type, due - 1),
				   last, __LINE__);
		last = due;
		last_yday = tm.tm_yday;
		t = due;
		n++;
	}
	if (n != want)
		fail_msg("%s %d: %d due instants, want %d", zone, year, n, want);
}

struct walk_case {
	const char *zone;
	int hour, minute, second;
	int weekday, mday;
	int days[2], weeks[2];  /* expected counts in 2026 and in 2028 */
};

/* 2026 starts on a Thursday (53 Thursdays); 2028, a leap year, on a
 * Saturday (53 Saturdays and 53 Sundays). */
static void walk_cases(const struct walk_case *cases, size_t n)
{
	static const int years[2] = {2026, 2028};
	for (size_t i = 0; i < n; i++) {
		const struct walk_case *c = &cases[i];
		struct conf_schedule s = {.enabled = true, .hour = c->hour,
					  .minute = c->minute, .second = c->second,
					  .weekday = c->weekday, .mday = c->mday};
		for (int y = 0; y < 2; y++) {
			walk_year(c->zone, &s, BT_DAILY, years[y], c->days[y]);
			walk_year(c->zone, &s, BT_WEEKLY, years[y], c->weeks[y]);
			walk_year(c->zone, &s, BT_MONTHLY, years[y], 12);
		}
	}
}

static void test_year_walk_utc(void **state)
{
	(void)state;
	static const struct walk_case cases[] = {
		{"UTC", 2, 0, 0, 0, 1, {365, 366}, {52, 53}},
		{"UTC", 0, 0, 0, 4, 31, {365, 366}, {53, 52}},
		{"UTC", 23, 59, 59, 6, 29, {365, 366}, {52, 53}},
	};
	walk_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_year_walk_berlin(void **state)
{
	(void)state;
	static const struct walk_case cases[] = {
		{"Europe/Berlin", 2, 30, 0, 0, 29, {365, 366}, {52, 53}},
		{"Europe/Berlin", 2, 0, 0, 0, 25, {365, 366}, {52, 53}},
		{"Europe/Berlin", 3, 0, 0, 0, 31, {365, 366}, {52, 53}},
		{"Europe/Berlin", 0, 0, 0, 4, 30, {365, 366}, {53, 52}},
		{"Europe/Berlin", 23, 59, 59, 6, 1, {365, 366}, {52, 53}},
	};
	walk_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_year_walk_new_york(void **state)
{
	(void)state;
	static const struct walk_case cases[] = {
		{"America/New_York", 2, 30, 0, 0, 8, {365, 366}, {52, 53}},
		{"America/New_York", 1, 30, 0, 0, 1, {365, 366}, {52, 53}},
		{"America/New_York", 2, 0, 0, 0, 31, {365, 366}, {52, 53}},
	};
	walk_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_year_walk_lord_howe(void **state)
{
	(void)state;
	static const struct walk_case cases[] = {
		{"Australia/Lord_Howe", 2, 15, 0, 0, 4, {365, 366}, {52, 53}},
		{"Australia/Lord_Howe", 1, 45, 0, 0, 5, {365, 366}, {52, 53}},
	};
	walk_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_year_walk_kolkata(void **state)
{
	(void)state;
	static const struct walk_case cases[] = {
		{"Asia/Kolkata", 2, 0, 0, 0, 1, {365, 366}, {52, 53}},
		{"Asia/Kolkata", 0, 0, 0, 3, 31, {365, 366}, {52, 52}},
	};
	walk_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_year_walk_chatham(void **state)
{
	(void)state;
	static const struct walk_case cases[] = {
		{"Pacific/Chatham", 3, 0, 0, 0, 27, {365, 366}, {52, 53}},
		{"Pacific/Chatham", 2, 45, 0, 0, 5, {365, 366}, {52, 53}},
	};
	walk_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* ---- schedule_prev mirrors schedule_next ---- */

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

/* xorshift64*: a fixed sequence, so a failure repeats. */
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

/* p = prev(t) and n = next(t) bracket t with no due instant between them,
 * and are a plausible period apart. */
static void check_mirror(const struct conf_schedule *s, enum backup_type type,
			 int64_t t)
{
	static const int64_t shortest[] = {
		[BT_DAILY] = 23 * HOUR, [BT_WEEKLY] = 7 * DAY - HOUR,
		[BT_MONTHLY] = 28 * DAY - HOUR,
	};
	static const int64_t longest[] = {
		[BT_DAILY] = 25 * HOUR, [BT_WEEKLY] = 7 * DAY + HOUR,
		[BT_MONTHLY] = 31 * DAY + HOUR,
	};
	int64_t p = schedule_prev(s, type, t), n = schedule_next(s, type, t);

	if (!(p <= t && t < n))
		fail_msg("t %" PRId64 ": prev %" PRId64 ", next %" PRId64, t, p, n);
	check_time("prev", n, schedule_prev(s, type, n), n, __LINE__);
	check_time("next", p, schedule_next(s, type, p), n, __LINE__);
	check_time("prev", n - 1, schedule_prev(s, type, n - 1), p, __LINE__);
	check_time("next", n - 1, schedule_next(s, type, n - 1), n, __LINE__);
	check_time("next(prev)", p - 1, schedule_next(s, type, schedule_prev(s, type, p - 1)),
		   p, __LINE__);
	if (n - p < shortest[type] || n - p > longest[type])
		fail_msg("t %" PRId64 ": %" PRId64 " s between prev and next", t, n - p);
}

struct mirror_zone {
	const char *zone;
	int64_t changes[2];     /* DST changes to sample around (0: none) */
};

static void test_prev_mirrors_next(void **state)
{
	(void)state;
	static const struct mirror_zone zones[] = {
		{"UTC", {0, 0}},
		{"Europe/Berlin", {B_0329_0300, B_1025_0300 - HOUR}},
		{"America/New_York", {N_0308_0300, N_1101_0200 - HOUR}},
		{"Australia/Lord_Howe", {L_0405_0200 - 1800, L_1004_0230}},
		{"Asia/Kolkata", {0, 0}},
		{"Pacific/Chatham", {C_0405_0300b - 900, C_0927_0345}},
	};
	static const struct conf_schedule schedules[] = {
		{.enabled = true, .hour = 2, .minute = 0, .second = 0, .weekday = 0, .mday = 1},
		{.enabled = true, .hour = 2, .minute = 30, .second = 0, .weekday = 0, .mday = 31},
		{.enabled = true, .hour = 1, .minute = 45, .second = 30, .weekday = 0, .mday = 29},
		{.enabled = true, .hour = 3, .minute = 0, .second = 0, .weekday = 5, .mday = 5},
	};
	static const enum backup_type types[] = {BT_DAILY, BT_WEEKLY, BT_MONTHLY};
	const int64_t y2000 = INT64_C(946684800), y2040 = INT64_C(2208988800);

	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		use_zone(zones[z].zone);
		for (size_t i = 0; i < sizeof(schedules) / sizeof(schedules[0]); i++) {
			for (size_t k = 0; k < 3; k++) {
				for (int r = 0; r < 150; r++) {
					int64_t t = y2000 + (int64_t)(rng() % (uint64_t)(y2040 - y2000));
					check_mirror(&schedules[i], types[k], t);
				}
				for (int c = 0; c < 2; c++) {
					if (zones[z].changes[c] == 0)
						continue;
					/* within a day and a half either side */
					for (int r = 0; r < 100; r++) {
						int64_t t = zones[z].changes[c] - 36 * HOUR +
							    (int64_t)(rng() % (uint64_t)(72 * HOUR));
						check_mirror(&schedules[i], types[k], t);
					}
				}
			}
		}
	}
}

/* ---- disabled and unusable schedules, limits ---- */

static void test_disabled(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule s = monthly(1, 4, 0, 0);
	s.enabled = false;
	static const enum backup_type types[] = {BT_DAILY, BT_WEEKLY, BT_MONTHLY};

	for (size_t k = 0; k < 3; k++) {
		NEXT(&s, types[k], U_0202_1200, INT64_MAX);
		PREV(&s, types[k], U_0202_1200, INT64_MIN);
		NEXT(&s, types[k], 0, INT64_MAX);
		PREV(&s, types[k], 0, INT64_MIN);
	}
}

static void test_unusable_input(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule ok = monthly(1, 4, 0, 0);

	/* types without a schedule */
	NEXT(&ok, BT_CHANGE, U_0202_1200, INT64_MAX);
	PREV(&ok, BT_MANUAL, U_0202_1200, INT64_MIN);
	/* fields out of range */
	struct conf_schedule bad = daily(24, 0, 0);
	NEXT(&bad, BT_DAILY, U_0202_1200, INT64_MAX);
	bad = daily(2, 60, 0);
	PREV(&bad, BT_DAILY, U_0202_1200, INT64_MIN);
	bad = daily(2, 0, -1);
	NEXT(&bad, BT_DAILY, U_0202_1200, INT64_MAX);
	bad = weekly(7, 3, 0, 0);
	NEXT(&bad, BT_WEEKLY, U_0202_1200, INT64_MAX);
	bad = monthly(0, 4, 0, 0);
	NEXT(&bad, BT_MONTHLY, U_0202_1200, INT64_MAX);
	bad = monthly(32, 4, 0, 0);
	PREV(&bad, BT_MONTHLY, U_0202_1200, INT64_MIN);
	/* a field only another type uses is not looked at */
	struct conf_schedule d = daily(2, 0, 0);
	d.weekday = 9;
	d.mday = 0;
	NEXT(&d, BT_DAILY, U_0202_1200, U_0203_0200);
}

static void test_time_limits(void **state)
{
	(void)state;
	use_zone("UTC");
	struct conf_schedule d = daily(2, 0, 0), midnight = daily(0, 0, 0);

	NEXT(&d, BT_DAILY, INT64_MAX, INT64_MAX);
	NEXT(&d, BT_DAILY, INT64_MIN, INT64_MAX);
	PREV(&d, BT_DAILY, INT64_MAX, INT64_MIN);
	PREV(&d, BT_DAILY, INT64_MIN, INT64_MIN);
	NEXT(&d, BT_DAILY, T_MAX + 1, INT64_MAX);
	PREV(&d, BT_DAILY, T_MIN - 1, INT64_MIN);
	/* at the edges of the range the answers are still exact */
	NEXT(&d, BT_DAILY, T_MAX, T_10000_0101_0200);
	PREV(&midnight, BT_DAILY, T_MIN, T_MIN);
	NEXT(&midnight, BT_DAILY, T_MIN, T_MIN + DAY);

	use_zone("Europe/Berlin");
	NEXT(&d, BT_DAILY, INT64_MAX, INT64_MAX);
	PREV(&d, BT_DAILY, INT64_MIN, INT64_MIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_utc),
		cmocka_unit_test(test_exactly_at_due_time),
		cmocka_unit_test(test_one_second_before),
		cmocka_unit_test(test_seconds_field),
		cmocka_unit_test(test_around_the_epoch),
		cmocka_unit_test(test_mday_31_in_short_months),
		cmocka_unit_test(test_mday_29_in_february),
		cmocka_unit_test(test_leap_day_2028),
		cmocka_unit_test(test_year_end),
		cmocka_unit_test(test_weekly_across_year_end),
		cmocka_unit_test(test_sunday_the_first),
		cmocka_unit_test(test_berlin_spring_forward),
		cmocka_unit_test(test_berlin_fall_back),
		cmocka_unit_test(test_new_york_spring_forward),
		cmocka_unit_test(test_new_york_fall_back),
		cmocka_unit_test(test_lord_howe_half_hour_shift),
		cmocka_unit_test(test_kolkata_half_hour_offset),
		cmocka_unit_test(test_chatham_quarter_hour_offset),
		cmocka_unit_test(test_year_walk_utc),
		cmocka_unit_test(test_year_walk_berlin),
		cmocka_unit_test(test_year_walk_new_york),
		cmocka_unit_test(test_year_walk_lord_howe),
		cmocka_unit_test(test_year_walk_kolkata),
		cmocka_unit_test(test_year_walk_chatham),
		cmocka_unit_test(test_prev_mirrors_next),
		cmocka_unit_test(test_disabled),
		cmocka_unit_test(test_unusable_input),
		cmocka_unit_test(test_time_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
