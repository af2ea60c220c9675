/*
 * Time helpers: UTC formatting and strict parsing, monotonic clock.
 */
#include "common/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t time_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t time_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double time_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void time_format_iso(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void time_format_stamp(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(buf, size, "%Y%m%d_%H%M%S", &tm);
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

bool time_from_utc_fields(int year, int mon, int day, int hour, int min,
			  int sec, int64_t *out)
{
	if (year < 1970 || year > 9999 || mon < 1 || mon > 12 || day < 1 ||
	    day > days_in_month(year, mon) || hour < 0 || hour > 23 || min < 0 ||
	    min > 59 || sec < 0 || sec > 59)
		return false;
	struct tm tm = {
		.tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
		.tm_hour = hour, .tm_min = min, .tm_sec = sec,
	};
	*out = (int64_t)timegm(&tm);
	return true;
}

/* Read exactly n decimal digits from s. */
static bool digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

bool time_parse_stamp(const char *s, int64_t *out)
{
	int y, mo, d, h, mi, se;
	if (strlen(s) != 15 || s[8] != '_')
		return false;
	if (!digits(s, 4, &y) || !digits(s + 4, 2, &mo) || !digits(s + 6, 2, &d) ||
	    !digits(s + 9, 2, &h) || !digits(s + 11, 2, &mi) || !digits(s + 13, 2, &se))
		return false;
	return time_from_utc_fields(y, mo, d, h, mi, se, out);
}

bool time_parse_iso(const char *s, int64_t *out)
{
	int y, mo, d, h = 0, mi = 0, se = 0;
	size_t len = strlen(s);

	if (len < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d))
		return false;
	if (len > 10) {
		if ((s[10] != 'T' && s[10] != ' ') || len < 19 ||
		    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
		    s[16] != ':' || !digits(s + 17, 2, &se))
			return false;
		if (len == 20 ? s[19] != 'Z' : len != 19)
			return false;
	}
	return time_from_utc_fields(y, mo, d, h, mi, se, out);
}

void time_sleep(double seconds)
{
	struct timespec ts = {
		.tv_sec = (time_t)seconds,
		.tv_nsec = (long)((seconds - (double)(time_t)seconds) * 1e9),
	};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}
