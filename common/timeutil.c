/*
 * Time helpers: UTC formatting and strict parsing, monotonic clock.
 */
#include "common/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
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

void time_format_iso_ms(int64_t ms, char *buf, size_t size)
{
	char iso[32];
	int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	time_format_iso(s, iso, sizeof(iso));
	iso[19] = '\0';   /* drop the Z */
	snprintf(buf, size, "%s.%03dZ", iso, (int)(ms - s * 1000));
}

bool time_parse_iso_ms(const char *s, int64_t *out_ms)
{
	char iso[20];
	int64_t t;
	int frac;
	if (strlen(s) != 24 || s[19] != '.' || s[23] != 'Z' || !digits(s + 20, 3, &frac))
		return false;
	memcpy(iso, s, 19);
	iso[19] = '\0';
	if (!time_parse_iso(iso, &t))
		return false;
	*out_ms = t * 1000 + frac;
	return true;
}

/* ---- time_parse_when ---- */

/* A cursor over the text being parsed. */
struct scan {
	const char *p;
};

static bool take(struct scan *sc, char c)
{
	if (*sc->p != c)
		return false;
	sc->p++;
	return true;
}

/* Exactly n digits. */
static bool take_digits(struct scan *sc, int n, int *out)
{
	for (int i = 0; i < n; i++)
		if (sc->p[i] < '0' || sc->p[i] > '9')
			return false;
	if (!digits(sc->p, n, out))
		return false;
	sc->p += n;
	return true;
}

/* ".f..." after the seconds: the milliseconds, further digits dropped. */
static bool take_fraction(struct scan *sc, int *ms)
{
	*ms = 0;
	if (!take(sc, '.'))
		return true;
	int n = 0;
	while (*sc->p >= '0' && *sc->p <= '9') {
		if (n < 3)
			*ms = *ms * 10 + (*sc->p - '0');
		n++;
		sc->p++;
	}
	if (n == 0 || n > 9)
		return false;
	for (int i = n; i < 3; i++)
		*ms *= 10;
	return true;
}

/* "Z", "+HH:MM", "+HHMM", "+HH" (or "-"): the offset east of UTC in
 * seconds; false (and nothing taken) when there is none. */
static bool take_offset(struct scan *sc, bool *ok, int64_t *east)
{
	*ok = true;
	if (take(sc, 'Z') || take(sc, 'z')) {
		*east = 0;
		return true;
	}
	if (*sc->p != '+' && *sc->p != '-')
		return false;
	int sign = *sc->p++ == '-' ? -1 : 1, h, m = 0;
	if (!take_digits(sc, 2, &h)) {
		*ok = false;
		return true;
	}
	if (take(sc, ':')) {
		if (!take_digits(sc, 2, &m))
			*ok = false;
	} else if (*sc->p >= '0' && *sc->p <= '9' && !take_digits(sc, 2, &m)) {
		*ok = false;
	}
	if (h > 23 || m > 59)
		*ok = false;
	*east = sign * (h * 3600 + m * 60);
	return true;
}

/* Local fields to seconds, refusing a time the local clock never shows. */
static bool from_local_fields(int y, int mo, int d, int h, int mi, int se, int64_t *out)
{
	int64_t check;
	if (!time_from_utc_fields(y, mo, d, h, mi, se, &check))
		return false;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h,
			.tm_min = mi, .tm_sec = se, .tm_isdst = -1};
	time_t t = mktime(&tm);
	struct tm back;
	if (t == (time_t)-1 || !localtime_r(&t, &back))
		return false;
	/* mktime moves a time in a spring-forward gap past it: refuse that. */
	if (back.tm_year != y - 1900 || back.tm_mon != mo - 1 || back.tm_mday != d ||
	    back.tm_hour != h || back.tm_min != mi || back.tm_sec != se)
		return false;
	*out = (int64_t)t;
	return true;
}

/* A date, a time and an offset, or a local date and time. */
static bool parse_absolute(const char *s, int64_t *out_ms)
{
	struct scan sc = {s};
	int y, mo, d, h = 0, mi = 0, se = 0, ms = 0;
	if (!take_digits(&sc, 4, &y) || !take(&sc, '-') || !take_digits(&sc, 2, &mo) ||
	    !take(&sc, '-') || !take_digits(&sc, 2, &d))
		return false;
	bool has_time = false;
	if (*sc.p == 'T' || *sc.p == 't' || *sc.p == ' ') {
		sc.p++;
		if (!take_digits(&sc, 2, &h) || !take(&sc, ':') || !take_digits(&sc, 2, &mi))
			return false;
		if (take(&sc, ':') && (!take_digits(&sc, 2, &se) || !take_fraction(&sc, &ms)))
			return false;
		has_time = true;
	}
	int64_t east = 0, t;
	bool ok = true;
	bool zoned = has_time && take_offset(&sc, &ok, &east);
	if (!ok || *sc.p != '\0')
		return false;
	if (zoned) {
		if (!time_from_utc_fields(y, mo, d, h, mi, se, &t))
			return false;
		t -= east;
	} else if (!from_local_fields(y, mo, d, h, mi, se, &t)) {
		return false;
	}
	*out_ms = t * 1000 + ms;
	return true;
}

/* A unit of time by any of its names; 0 if none. */
static int64_t unit_ms(const char *u, size_t len)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {
		{"s", 1000}, {"sec", 1000}, {"secs", 1000}, {"second", 1000}, {"seconds", 1000},
		{"m", 60000}, {"min", 60000}, {"mins", 60000}, {"minute", 60000},
		{"minutes", 60000}, {"h", 3600000}, {"hr", 3600000}, {"hrs", 3600000},
		{"hour", 3600000}, {"hours", 3600000}, {"d", 86400000}, {"day", 86400000},
		{"days", 86400000}, {"w", 604800000}, {"week", 604800000},
		{"weeks", 604800000},
	};
	for (size_t i = 0; i < sizeof(units) / sizeof(*units); i++)
		if (strlen(units[i].name) == len && strncasecmp(units[i].name, u, len) == 0)
			return units[i].ms;
	return 0;
}

/* A sum of amounts ("1h30m", "2 hours 5 min"), ending at end. */
static bool parse_span(const char *p, const char *end, int64_t *out_ms)
{
	/* A hundred years is more than any backup reaches back. */
	const int64_t max_ms = INT64_C(100) * 366 * 86400000;
	int64_t total = 0;
	int terms = 0;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end)
			break;
		int64_t n = 0;
		int nd = 0;
		while (p < end && *p >= '0' && *p <= '9' && nd < 10) {
			n = n * 10 + (*p++ - '0');
			nd++;
		}
		if (nd == 0 || (p < end && *p >= '0' && *p <= '9'))
			return false;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		const char *u = p;
		while (p < end && isalpha((unsigned char)*p))
			p++;
		int64_t unit = unit_ms(u, (size_t)(p - u));
		if (!unit || n > max_ms / unit)
			return false;
		total += n * unit;
		if (total > max_ms)
			return false;
		terms++;
	}
	if (terms == 0)
		return false;
	*out_ms = total;
	return true;
}

bool time_parse_when(const char *s, int64_t now_ms, int64_t *out_ms)
{
	char text[65];
	while (*s == ' ' || *s == '\t')
		s++;
	size_t len = strlen(s);
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(text))
		return false;
	memcpy(text, s, len);
	text[len] = '\0';
	int64_t span;
	if (strcasecmp(text, "now") == 0) {
		*out_ms = now_ms;
		return true;
	}
	bool relative = false;
	if (text[0] == '-')
		relative = parse_span(text + 1, text + len, &span);
	else if (len > 3 && strcasecmp(text + len - 3, "ago") == 0)
		relative = parse_span(text, text + len - 3, &span);
	else
		return parse_absolute(text, out_ms);
	if (relative)
		*out_ms = now_ms - span;
	return relative;
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
