/*
 * Wall-clock and monotonic time, and the textual forms cbsync uses: ISO 8601
 * UTC ("2026-02-02T12:00:00Z") in metadata and logs, the same to the
 * millisecond ("2026-02-02T12:00:00.250Z") for the times of database
 * states, the compact stamp ("20260202_120000") in backup names, and the
 * forms a person gives `restore --at` (time_parse_when).  Times are int64
 * seconds (or, where the name says so, milliseconds) since the Unix epoch,
 * always UTC.
 */
#ifndef CBSYNC_TIMEUTIL_H
#define CBSYNC_TIMEUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int64_t time_now(void);

/* The same in milliseconds. */
int64_t time_now_ms(void);

/* Seconds on a monotonic clock, for durations and timers. */
double time_mono(void);

/* "2026-02-02T12:00:00Z"; buf needs 21 bytes. */
void time_format_iso(int64_t t, char *buf, size_t size);

/* "20260202_120000"; buf needs 16 bytes. */
void time_format_stamp(int64_t t, char *buf, size_t size);

/* Parse exactly "YYYYMMDD_HHMMSS" (a valid calendar date and time). */
bool time_parse_stamp(const char *s, int64_t *out);

/* Parse "YYYY-MM-DDTHH:MM:SSZ", "YYYY-MM-DD HH:MM:SS" or "YYYY-MM-DD"
 * (midnight), all UTC.  A trailing "Z" is optional. */
bool time_parse_iso(const char *s, int64_t *out);

/* "2026-02-02T12:00:00.250Z"; buf needs 25 bytes. */
void time_format_iso_ms(int64_t ms, char *buf, size_t size);

/* Parse exactly "YYYY-MM-DDTHH:MM:SS.mmmZ" (the form above). */
bool time_parse_iso_ms(const char *s, int64_t *out_ms);

/* Parse a point in time as a person writes it, to the millisecond:
 *   - ISO 8601 with "Z" or an offset: "2026-11-29T09:48:00Z",
 *     "2026-11-29 09:48:00.250+01:00", "2026-11-29T09:48-0500";
 *   - local time (the TZ environment's), which is what ISO 8601 without an
 *     offset means: "2026-11-29 09:48", "2026-11-29T09:48:30.5",
 *     "2026-11-29" (midnight);
 *   - a time before now_ms: "10 minutes ago", "-10min", "2h ago",
 *     "90s ago", "1 day ago", "1h30m ago", "-2 hours", and "now".
 *     Units: s/sec/second(s), m/min/minute(s), h/hr/hour(s), d/day(s),
 *     w/week(s); any case.
 * Seconds may carry a fraction; digits past the millisecond are dropped
 * (never rounded up: a time read is never later than the one written).
 * False for anything else, a field out of range, or a local time that a
 * daylight-saving change skips. */
bool time_parse_when(const char *s, int64_t now_ms, int64_t *out_ms);

/* Broken-down UTC time to seconds, validating every field (no normalising:
 * 2026-02-30 is rejected). */
bool time_from_utc_fields(int year, int mon, int day, int hour, int min,
			  int sec, int64_t *out);

/* Sleep for the given seconds (resuming after signals). */
void time_sleep(double seconds);

#endif
