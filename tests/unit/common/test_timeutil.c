/*
 * Unit tests for common/timeutil.c: UTC formatting and strict parsing, the
 * millisecond form of state times, and time_parse_when (ISO 8601 with an
 * offset, local time in a zone with daylight saving, relative forms, and
 * the input it must refuse).
 *
 * Expected epoch values were worked out independently (Python's
 * calendar.timegm) and are written out as constants.
 */
#include "common/timeutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T_2026_02_02_120000 INT64_C(1770033600)
#define T_2024_02_29_235959 INT64_C(1709251199)
#define T_2038_01_19_031408 INT64_C(2147483648) /* one past INT32_MAX */
#define T_9999_12_31_235959 INT64_C(253402300799)
#define T_2000_02_29_000000 INT64_C(951782400)
#define T_2100_03_01_000000 INT64_C(4107542400)

static void check_iso(int64_t t, const char *want)
{
	char buf[21];
	memset(buf, 'x', sizeof(buf));
	time_format_iso(t, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void check_stamp(int64_t t, const char *want)
{
	char buf[16];
	memset(buf, 'x', sizeof(buf));
	time_format_stamp(t, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_format_iso(void **state)
{
	(void)state;
	check_iso(0, "1970-01-01T00:00:00Z");
	check_iso(T_2026_02_02_120000, "2026-02-02T12:00:00Z");
	check_iso(T_2024_02_29_235959, "2024-02-29T23:59:59Z");
	check_iso(T_2024_02_29_235959 + 1, "2024-03-01T00:00:00Z");
	check_iso(T_2038_01_19_031408, "2038-01-19T03:14:08Z");
	check_iso(T_9999_12_31_235959, "9999-12-31T23:59:59Z");
	check_iso(T_2000_02_29_000000, "2000-02-29T00:00:00Z");
	check_iso(T_2100_03_01_000000 - 1, "2100-02-28T23:59:59Z");
}

static void test_format_stamp(void **state)
{
	(void)state;
	check_stamp(0, "19700101_000000");
	check_stamp(T_2026_02_02_120000, "20260202_120000");
	check_stamp(T_2024_02_29_235959, "20240229_235959");
	check_stamp(T_2038_01_19_031408, "20380119_031408");
	check_stamp(T_9999_12_31_235959, "99991231_235959");
	check_stamp(T_2026_02_02_120000 + 3 * 3600 + 4 * 60 + 5, "20260202_150405");
}

static bool stamp(const char *s, int64_t *out)
{
	*out = -12345;
	return time_parse_stamp(s, out);
}

static void test_parse_stamp_valid(void **state)
{
	(void)state;
	int64_t t;
	assert_true(stamp("20260202_120000", &t));
	assert_int_equal(t, T_2026_02_02_120000);
	assert_true(stamp("19700101_000000", &t));
	assert_int_equal(t, 0);
	assert_true(stamp("20240229_235959", &t));
	assert_int_equal(t, T_2024_02_29_235959);
	assert_true(stamp("20000229_000000", &t));
	assert_int_equal(t, T_2000_02_29_000000);
	assert_true(stamp("99991231_235959", &t));
	assert_int_equal(t, T_9999_12_31_235959);
	assert_true(stamp("20380119_031408", &t));
	assert_int_equal(t, T_2038_01_19_031408);
}

static void test_parse_stamp_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"20260202",
		"20260202_12000",    /* 14 characters */
		"20260202_1200000",  /* 16 characters */
		"2026020_1200000",   /* underscore in the wrong place */
		"20260202-120000",
		"20260202 120000",
		"20261302_120000",   /* month 13 */
		"20260002_120000",   /* month 0 */
		"20260200_120000",   /* day 0 */
		"20260132_120000",   /* 32 January */
		"20260230_120000",   /* 30 February */
		"20230229_120000",   /* 29 February of a common year */
		"21000229_120000",   /* 2100 is not a leap year */
		"20260431_120000",   /* 31 April */
		"20260202_240000",   /* hour 24 */
		"20260202_126000",   /* minute 60 */
		"20260202_120060",   /* second 60 */
		"19691231_235959",   /* before the epoch */
		"2026o202_120000",   /* letter o for zero */
		"2026020a_120000",
		"20260202_12000a",
		"+0260202_120000",
		"-0260202_120000",
		" 0260202_120000",
		"20260202_12 000",
		"20260202_120000Z",
		"20260202_120000\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int64_t t;
		if (stamp(bad[i], &t))
			fail_msg("accepted bad stamp \"%s\"", bad[i]);
	}
}

static bool iso(const char *s, int64_t *out)
{
	*out = -12345;
	return time_parse_iso(s, out);
}

static void test_parse_iso_valid(void **state)
{
	(void)state;
	int64_t t;
	/* The three forms. */
	assert_true(iso("2026-02-02T12:00:00Z", &t));
	assert_int_equal(t, T_2026_02_02_120000);
	assert_true(iso("2026-02-02 12:00:00", &t));
	assert_int_equal(t, T_2026_02_02_120000);
	assert_true(iso("2026-02-02", &t));
	assert_int_equal(t, T_2026_02_02_120000 - 12 * 3600);
	/* The Z is optional on the timed forms. */
	assert_true(iso("2026-02-02T12:00:00", &t));
	assert_int_equal(t, T_2026_02_02_120000);
	assert_true(iso("2026-02-02 12:00:00Z", &t));
	assert_int_equal(t, T_2026_02_02_120000);
	/* Leap days and edges. */
	assert_true(iso("2024-02-29T23:59:59Z", &t));
	assert_int_equal(t, T_2024_02_29_235959);
	assert_true(iso("2000-02-29", &t));
	assert_int_equal(t, T_2000_02_29_000000);
	assert_true(iso("1970-01-01T00:00:00Z", &t));
	assert_int_equal(t, 0);
	assert_true(iso("9999-12-31T23:59:59Z", &t));
	assert_int_equal(t, T_9999_12_31_235959);
}

static void test_parse_iso_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"2026",
		"2026-02",
		"2026-2-02",
		"2026-02-2",
		"2026/02/02",
		"20260202",
		"2026-02-30",              /* 30 February */
		"2023-02-29",              /* common year */
		"2100-02-29T00:00:00Z",
		"2026-13-01",
		"2026-00-10",
		"2026-04-31T00:00:00Z",
		"1969-12-31T23:59:59Z",
		"2026-02-02T24:00:00Z",
		"2026-02-02T12:60:00Z",
		"2026-02-02T12:00:60Z",
		"2026-02-02T12:00",        /* no seconds */
		"2026-02-02T12:00:0",
		"2026-02-02T12-00-00Z",
		"2026-02-02x12:00:00Z",    /* bad separator */
		"2026-02-02T12:00:00ZZ",   /* trailing garbage */
		"2026-02-02T12:00:00z",
		"2026-02-02T12:00:00 ",
		"2026-02-02T12:00:00+00:00",
		"2026-02-02T12:00:00.000Z",
		"2026-02-02 ",
		"2026-02-02T",
		"2026-02-02garbage",
		" 2026-02-02",
		"2026-02-02T1a:00:00Z",
		"+026-02-02",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		int64_t t;
		if (iso(bad[i], &t))
			fail_msg("accepted bad ISO time \"%s\"", bad[i]);
	}
}

static void test_from_fields(void **state)
{
	(void)state;
	int64_t t = 0;
	assert_true(time_from_utc_fields(2026, 2, 2, 12, 0, 0, &t));
	assert_int_equal(t, T_2026_02_02_120000);
	assert_true(time_from_utc_fields(2024, 2, 29, 23, 59, 59, &t));
	assert_int_equal(t, T_2024_02_29_235959);
	assert_true(time_from_utc_fields(1970, 1, 1, 0, 0, 0, &t));
	assert_int_equal(t, 0);
	/* Nothing is normalised. */
	assert_false(time_from_utc_fields(2026, 2, 29, 0, 0, 0, &t));
	assert_false(time_from_utc_fields(2026, 1, 32, 0, 0, 0, &t));
	assert_false(time_from_utc_fields(2026, 0, 1, 0, 0, 0, &t));
	assert_false(time_from_utc_fields(2026, 13, 1, 0, 0, 0, &t));
	assert_false(time_from_utc_fields(2026, 6, 0, 0, 0, 0, &t));
	assert_false(time_from_utc_fields(2026, 6, 31, 0, 0, 0, &t));
	assert_false(time_from_utc_fields(2026, 6, 1, -1, 0, 0, &t));
	assert_false(time_from_utc_fields(2026, 6, 1, 24, 0, 0, &t));
	assert_false(time_from_utc_fields(2026, 6, 1, 0, -1, 0, &t));
	assert_false(time_from_utc_fields(2026, 6, 1, 0, 60, 0, &t));
	assert_false(time_from_utc_fields(2026, 6, 1, 0, 0, -1, &t));
	assert_false(time_from_utc_fields(2026, 6, 1, 0, 0, 60, &t));
	assert_false(time_from_utc_fields(1969, 12, 31, 0, 0, 0, &t));
	assert_false(time_from_utc_fields(10000, 1, 1, 0, 0, 0, &t));
	assert_false(time_from_utc_fields(2026, -1, 1, 0, 0, 0, &t));
	assert_false(time_from_utc_fields(2026, 6, -5, 0, 0, 0, &t));
}

/* format then parse gives back the same second, across the valid range. */
static void test_round_trip(void **state)
{
	(void)state;
	int64_t t = 0;
	for (int i = 0; i < 3000; i++) {
		char iso_buf[21], stamp_buf[16];
		int64_t back = -1;
		time_format_iso(t, iso_buf, sizeof(iso_buf));
		assert_true(time_parse_iso(iso_buf, &back));
		assert_int_equal(back, t);
		time_format_stamp(t, stamp_buf, sizeof(stamp_buf));
		back = -1;
		assert_true(time_parse_stamp(stamp_buf, &back));
		assert_int_equal(back, t);
		/* An irregular step that visits every time of day and month. */
		t += INT64_C(50000000) + i * INT64_C(7919);
	}
	assert_true(t < T_9999_12_31_235959);

	/* Densely across two years around a leap day. */
	for (t = T_2024_02_29_235959 - 400 * 86400; t < T_2024_02_29_235959 + 400 * 86400;
	     t += 3607) {
		char buf[21];
		int64_t back = -1;
		time_format_iso(t, buf, sizeof(buf));
		assert_true(time_parse_iso(buf, &back));
		assert_int_equal(back, t);
	}
}

static void test_clocks(void **state)
{
	(void)state;
	int64_t a = time_now();
	int64_t b = (int64_t)time(NULL);
	assert_true(a - b <= 1 && b - a <= 1);
	double m0 = time_mono();
	time_sleep(0.02);
	double m1 = time_mono();
	assert_true(m1 - m0 >= 0.02);
	assert_true(m1 - m0 < 5.0);
	time_sleep(0);
	assert_true(time_mono() >= m1);
}

#define MS_2026_11_29_094800 INT64_C(1795945680000)  /* 2026-11-29T09:48:00Z */
#define MS_2026_11_28_230000 INT64_C(1795906800000)
#define MS_2026_10_25_003000 INT64_C(1792888200000)
#define MS_2026_10_25_013000 INT64_C(1792891800000)

static void test_iso_ms(void **state)
{
	(void)state;
	char buf[25];
	time_format_iso_ms(MS_2026_11_29_094800 + 250, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-29T09:48:00.250Z");
	time_format_iso_ms(MS_2026_11_29_094800 + 7, buf, sizeof(buf));
	assert_string_equal(buf, "2026-11-29T09:48:00.007Z");
	time_format_iso_ms(-1, buf, sizeof(buf));
	assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
	int64_t ms = 0;
	assert_true(time_parse_iso_ms("2026-11-29T09:48:00.250Z", &ms));
	assert_int_equal(ms, MS_2026_11_29_094800 + 250);
	for (int64_t t = MS_2026_11_29_094800 - 5000; t < MS_2026_11_29_094800 + 5000; t += 37) {
		time_format_iso_ms(t, buf, sizeof(buf));
		assert_true(time_parse_iso_ms(buf, &ms));
		assert_int_equal(ms, t);
	}
	const char *bad[] = {"2026-11-29T09:48:00Z", "2026-11-29T09:48:00.25Z",
			     "2026-11-29T09:48:00.2500Z", "2026-11-29T09:48:00.250",
			     "2026-11-29T09:48:60.250Z", "2026-11-29T09:48:00,250Z",
			     "2026-11-29T09:48:00.2a0Z", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		ms = 42;
		assert_false(time_parse_iso_ms(bad[i], &ms));
		assert_int_equal(ms, 42);
	}
}

static void when_is(const char *s, int64_t now, int64_t want)
{
	int64_t got = -1;
	if (!time_parse_when(s, now, &got))
		fail_msg("'%s' was refused", s);
	if (got != want)
		fail_msg("'%s' read as %lld, not %lld", s, (long long)got, (long long)want);
}

static void when_refused(const char *s)
{
	int64_t got = 42;
	if (time_parse_when(s, MS_2026_11_29_094800, &got))
		fail_msg("'%s' was taken, as %lld", s, (long long)got);
	assert_int_equal(got, 42);
}

static void test_when_with_offset(void **state)
{
	(void)state;
	const int64_t t = MS_2026_11_29_094800, now = 0;
	when_is("2026-11-29T09:48:00Z", now, t);
	when_is("2026-11-29t09:48:00z", now, t);
	when_is("2026-11-29 09:48:00Z", now, t);
	when_is("2026-11-29T09:48Z", now, t);
	when_is("2026-11-29T09:48:00.250Z", now, t + 250);
	when_is("2026-11-29T09:48:00.2Z", now, t + 200);
	/* Digits past the millisecond are dropped, never rounded up. */
	when_is("2026-11-29T09:48:00.2509Z", now, t + 250);
	when_is("2026-11-29T09:48:00.999999999Z", now, t + 999);
	when_is("2026-11-29T10:48:00+01:00", now, t);
	when_is("2026-11-29T10:48:00+0100", now, t);
	when_is("2026-11-29T10:48:00+01", now, t);
	when_is("2026-11-29T04:18:00.5-05:30", now, t + 500);
	when_is("2026-11-30T00:48+15:00", now, t);
	when_is("  2026-11-29T09:48:00Z  ", now, t);
}

static void test_when_local(void **state)
{
	(void)state;
	const char *old = getenv("TZ");
	char *saved = old ? strdup(old) : NULL;
	/* Central European time, with its daylight-saving rules written out so
	 * that the test needs no time-zone database. */
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	const int64_t t = MS_2026_11_29_094800;
	when_is("2026-11-29 10:48", 0, t);
	when_is("2026-11-29 10:48:30", 0, t + 30000);
	when_is("2026-11-29T10:48:00.5", 0, t + 500);
	when_is("2026-11-29", 0, MS_2026_11_28_230000);
	/* Summer time: two hours ahead of UTC. */
	when_is("2026-07-01 12:00", 0, INT64_C(1782900000000));
	/* 02:30 on the last Sunday of March never shows on the clock. */
	when_refused("2026-03-29 02:30");
	when_is("2026-03-29 03:30", 0, INT64_C(1774747800000));
	/* 02:30 on the last Sunday of October shows twice: either will do. */
	int64_t got = 0;
	assert_true(time_parse_when("2026-10-25 02:30", 0, &got));
	assert_true(got == MS_2026_10_25_003000 || got == MS_2026_10_25_013000);
	when_refused("2026-02-30 10:00");
	setenv("TZ", "UTC0", 1);
	tzset();
	when_is("2026-11-29 09:48", 0, t);
	if (saved) {
		setenv("TZ", saved, 1);
		free(saved);
	} else {
		unsetenv("TZ");
	}
	tzset();
}

static void test_when_relative(void **state)
{
	(void)state;
	const int64_t now = MS_2026_11_29_094800 + 123;
	when_is("now", now, now);
	when_is("NOW", now, now);
	when_is("10 minutes ago", now, now - 600000);
	when_is("-10min", now, now - 600000);
	when_is("-10 min", now, now - 600000);
	when_is("2h ago", now, now - 7200000);
	when_is("2hago", now, now - 7200000);
	when_is("90s ago", now, now - 90000);
	when_is("1 day ago", now, now - 86400000);
	when_is("3 days ago", now, now - 3 * INT64_C(86400000));
	when_is("1 week ago", now, now - 7 * INT64_C(86400000));
	when_is("1h30m ago", now, now - 5400000);
	when_is("1 hour 30 minutes ago", now, now - 5400000);
	when_is("-2 hours", now, now - 7200000);
	when_is("-1d2h3m4s", now, now - (86400000 + 7200000 + 180000 + 4000));
	when_is(" 10 MINUTES AGO ", now, now - 600000);
	when_is("45 sec ago", now, now - 45000);
	when_is("-0s", now, now);
}

static void test_when_refused(void **state)
{
	(void)state;
	const char *bad[] = {
		"", "   ", "yesterday", "10 minutes", "ago", "-", "-10", "10 ago", "10 parsecs ago",
		"-10 parsecs", "minutes ago", "1h ago ago", "+10min", "10min from now",
		"-1h-2m", "1.5h ago", "-99999999999 days", "999999999 weeks ago",
		"2026-11-29T09:48:00+25:00", "2026-11-29T09:48:00+01:60", "2026-11-29T09:48:00+1",
		"2026-11-29T24:00:00Z", "2026-11-29T09:60Z", "2026-11-29T09:48:00ZZ",
		"2026-11-29T9:48Z", "2026-11-29T09:48:00.Z", "2026-11-29T09:48:00.1234567890Z",
		"2026-11-29Z", "2026-11-29T", "2026-11-29T09", "2026-11-29 09:48 Z",
		"2026/11/29 09:48", "29.11.2026 09:48", "@1795945680", "1795945680",
		"2026-11-29T09:48:00Z trailing", "2026-13-01", "1969-12-31T23:59:59Z",
		"a very long text that is not a time at all but goes on and on and on and on",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		when_refused(bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_iso),
		cmocka_unit_test(test_format_stamp),
		cmocka_unit_test(test_parse_stamp_valid),
		cmocka_unit_test(test_parse_stamp_invalid),
		cmocka_unit_test(test_parse_iso_valid),
		cmocka_unit_test(test_parse_iso_invalid),
		cmocka_unit_test(test_from_fields),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_iso_ms),
		cmocka_unit_test(test_when_with_offset),
		cmocka_unit_test(test_when_local),
		cmocka_unit_test(test_when_relative),
		cmocka_unit_test(test_when_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
