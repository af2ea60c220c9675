/*
 * Wall-clock and monotonic time, and the two textual forms cbsync uses:
 * ISO 8601 UTC ("2026-02-02T12:00:00Z") in metadata and logs, and the compact
 * stamp ("20260202_120000") in backup names.  Times are int64 seconds since the
 * Unix epoch, always UTC.
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

/* Broken-down UTC time to seconds, validating every field (no normalising:
 * 2026-02-30 is rejected). */
bool time_from_utc_fields(int year, int mon, int day, int hour, int min,
			  int sec, int64_t *out);

/* Sleep for the given seconds (resuming after signals). */
void time_sleep(double seconds);

#endif
