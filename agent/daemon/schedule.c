/*
 * Schedule computation: the next and the previous instant a daily, weekly or
 * monthly backup falls due (rules in schedule.h).
 *
 * How it works.  Calendar arithmetic is done on "local day numbers" (days
 * since 1970-01-01 on the local calendar) and "wall readings" (a local
 * date and time written as seconds since 1970-01-01 00:00 local, the same
 * arithmetic as UTC but without any offset).  The time zone is consulted only
 * through localtime_r, which answers "what does the clock read at instant t",
 * so mktime's unspecified handling of skipped and repeated times never
 * matters.
 *
 * Each type's due days are numbered as periods: a day number for daily, a
 * week number for weekly, year * 12 + month for monthly.  For a due day,
 * due_on_day() finds the instant at which the clock first reads the wanted
 * time (or jumps past it).  schedule_next() takes the period holding the
 * local date of `after`, and tries a few periods from the one before it
 * onwards until a due instant is later than `after`; schedule_prev() does the
 * same backwards.  The number of periods tried is fixed, so neither loops for
 * long whatever the input.
 */
#include "agent/daemon/schedule.h"

#include <stdbool.h>
#include <time.h>

#define DAY INT64_C(86400)

/* The supported range, 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z: wide
 * enough for any real use, narrow enough that no arithmetic below can
 * overflow and that localtime_r can always answer. */
#define SCHEDULE_TIME_MIN INT64_C(-62135596800)
#define SCHEDULE_TIME_MAX INT64_C(253402300799)

/* Periods tried after (next) or before (prev) the one holding the reference
 * time.  One would do for sane zones; two also cover a clock set back across
 * midnight. */
#define SEARCH_SPAN 2

/* A local calendar date. */
struct local_date {
	int64_t year;
	int month;      /* 1..12 */
	int64_t day;    /* local day number, days since 1970-01-01 */
};

/* Division rounding towards minus infinity (b > 0). */
static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if (a % b < 0)
		q--;
	return q;
}

/* Remainder that is never negative (b > 0). */
static int64_t floor_mod(int64_t a, int64_t b)
{
	return a - floor_div(a, b) * b;
}

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d: count whole
 * 400-year eras from 0000-03-01 so that February, with its leap day, ends
 * each counted year. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	if (m <= 2)
		y--;
	int64_t era = floor_div(y, 400);
	int64_t year_of_era = y - era * 400;
	int64_t day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t day_of_era = year_of_era * 365 + year_of_era / 4 -
			     year_of_era / 100 + day_of_year;
	return era * 146097 + day_of_era - 719468;
}

static int days_in_month(int64_t y, int m)
{
	static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

/* What the local clock reads at instant t, as a wall reading, and the local
 * date; false if the C library cannot say. */
static bool read_clock(int64_t t, int64_t *wall, struct local_date *date)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if ((int64_t)tt != t || localtime_r(&tt, &tm) == NULL)
		return false;
	int64_t year = (int64_t)tm.tm_year + 1900;
	int64_t day = days_from_civil(year, tm.tm_mon + 1, tm.tm_mday);
	if (wall != NULL)
		*wall = day * DAY + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
	if (date != NULL)
		*date = (struct local_date){.year = year, .month = tm.tm_mon + 1,
					    .day = day};
	return true;
}

/* The instant the clock first reads `target` (a wall reading), or, if it
 * skips over it, the instant it jumps (the first instant after the gap).
 *
 * An instant t at which the clock reads target satisfies t = target -
 * offset(t).  Offsets are well under a day, so such a t lies within a day of
 * target (taken as an instant), and no zone in the tz database changes its
 * offset twice within four days, so the only offsets in force there are the
 * one a day before target and the one a day after.  That leaves two
 * candidates, `early` (target minus the larger offset) and `late`:
 *   - no change, or a change that repeats target: early reads target if it
 *     can (the first occurrence), else late does;
 *   - a change that skips target: early reads before target and late past
 *     it, and a binary search between them finds the jump. */
static bool due_on_day(int64_t target, int64_t *out)
{
	int64_t wall_before, wall_after, early_wall, late_wall;

	if (!read_clock(target - DAY, &wall_before, NULL) ||
	    !read_clock(target + DAY, &wall_after, NULL))
		return false;
	int64_t off_before = wall_before - (target - DAY);
	int64_t off_after = wall_after - (target + DAY);
	int64_t early = target - (off_before > off_after ? off_before : off_after);
	int64_t late = target - (off_before > off_after ? off_after : off_before);

	if (!read_clock(early, &early_wall, NULL) ||
	    !read_clock(late, &late_wall, NULL))
		return false;
	if (early_wall == target) {
		*out = early;
		return true;
	}
	if (late_wall == target) {
		*out = late;
		return true;
	}

	/* In a gap.  Should the zone break the assumptions above, search four
	 * days instead: the answer is then some instant at which the clock
	 * moves from before target to past it. */
	int64_t below = early_wall < target ? early : target - 2 * DAY;
	int64_t above = late_wall > target && late > below ? late : target + 2 * DAY;
	/* Invariant: the clock reads before target at `below` and at or past
	 * it at `above`. */
	while (above - below > 1) {
		int64_t mid = below + (above - below) / 2;
		int64_t wall;
		if (!read_clock(mid, &wall, NULL))
			return false;
		if (wall >= target)
			above = mid;
		else
			below = mid;
	}
	*out = above;
	return true;
}

/* True if the fields a schedule of this type uses are in range and the type
 * is one that has a schedule. */
static bool schedule_usable(const struct conf_schedule *s, enum backup_type type)
{
	if (s->hour < 0 || s->hour > 23 || s->minute < 0 || s->minute > 59 ||
	    s->second < 0 || s->second > 59)
		return false;
	switch (type) {
	case BT_DAILY:
		return true;
	case BT_WEEKLY:
		return s->weekday >= 0 && s->weekday <= 6;
	case BT_MONTHLY:
		return s->mday >= 1 && s->mday <= 31;
	default:
		return false;
	}
}

/* The first local day number of week 0 for a weekly schedule: the first
 * s->weekday on or after 1970-01-01, which was a Thursday (weekday 4). */
static int64_t week_origin(const struct conf_schedule *s)
{
	return floor_mod(s->weekday - 4, 7);
}

/* The number of the period holding local date d: which day, which week
 * (weeks start on the schedule's weekday) or which month. */
static int64_t period_of(const struct conf_schedule *s, enum backup_type type,
			 const struct local_date *d)
{
	switch (type) {
	case BT_WEEKLY:
		return floor_div(d->day - week_origin(s), 7);
	case BT_MONTHLY:
		return d->year * 12 + (d->month - 1);
	default:
		return d->day;
	}
}

/* The instant at which period k falls due: its due day (the period's day,
 * its week's s->weekday, or its month's day s->mday clamped to the month's
 * length) at the schedule's time, by the rules of due_on_day(). */
static bool period_due(const struct conf_schedule *s, enum backup_type type,
		       int64_t k, int64_t *out)
{
	int64_t day;

	switch (type) {
	case BT_WEEKLY:
		day = k * 7 + week_origin(s);
		break;
	case BT_MONTHLY: {
		int64_t year = floor_div(k, 12);
		int month = (int)floor_mod(k, 12) + 1;
		int mday = days_in_month(year, month);
		if (s->mday < mday)
			mday = s->mday;
		day = days_from_civil(year, month, mday);
		break;
	}
	default:
		day = k;
		break;
	}
	return due_on_day(day * DAY + s->hour * 3600 + s->minute * 60 + s->second,
			  out);
}

/* The period holding t's local date, if s can be computed for t at all. */
static bool start_period(const struct conf_schedule *s, enum backup_type type,
			 int64_t t, int64_t *k)
{
	struct local_date d;

	if (!s->enabled || !schedule_usable(s, type) ||
	    t < SCHEDULE_TIME_MIN || t > SCHEDULE_TIME_MAX ||
	    !read_clock(t, NULL, &d))
		return false;
	*k = period_of(s, type, &d);
	return true;
}

/* Try the periods in order, from the one before the period of after's local
 * date: due instants grow with the period, so the first one later than
 * `after` is the answer, and it is at most SEARCH_SPAN periods on. */
int64_t schedule_next(const struct conf_schedule *s, enum backup_type type,
		      int64_t after)
{
	int64_t k0;

	if (!start_period(s, type, after, &k0))
		return INT64_MAX;
	for (int64_t k = k0 - 1; k <= k0 + SEARCH_SPAN; k++) {
		int64_t due;
		if (!period_due(s, type, k, &due))
			return INT64_MAX;
		if (due > after)
			return due;
	}
	return INT64_MAX; /* only for a zone whose clock runs backwards for days */
}

/* The mirror image of schedule_next: try the periods backwards, from the one
 * after the period of at's local date, and take the first due instant not
 * later than `at`. */
int64_t schedule_prev(const struct conf_schedule *s, enum backup_type type,
		      int64_t at)
{
	int64_t k0;

	if (!start_period(s, type, at, &k0))
		return INT64_MIN;
	for (int64_t k = k0 + 1; k >= k0 - SEARCH_SPAN; k--) {
		int64_t due;
		if (!period_due(s, type, k, &due))
			return INT64_MIN;
		if (due <= at)
			return due;
	}
	return INT64_MIN;
}
