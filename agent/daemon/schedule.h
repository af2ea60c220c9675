/*
 * When the scheduled backups (daily, weekly, monthly) fall due.
 *
 * A schedule names a wall-clock time (hh:mm:ss) and, for weekly and monthly
 * backups, a day; the functions here turn that into instants (int64 seconds
 * since the epoch, UTC) in the process's local time zone, which the agent
 * sets once at start from [schedule] timezone (setenv("TZ") + tzset()).
 * Nothing here keeps state, reads the clock or changes the time zone: the
 * answers depend only on the arguments and on TZ.
 *
 * The days a type falls due on:
 *   daily    every day;
 *   weekly   every s->weekday (0 = Sunday .. 6 = Saturday);
 *   monthly  day s->mday of every month, or the month's last day when the
 *            month is shorter (mday 31 falls due on 30 April, on 28 or 29
 *            February).
 *
 * The instant a due day falls due at, and the daylight-saving rules:
 *   - normally, the one instant at which the local clock reads hh:mm:ss on
 *     that day;
 *   - when the clock reads hh:mm:ss twice that day (the hour repeated when
 *     clocks go back), the first time it does: 02:30 on Europe/Berlin's
 *     fall-back day is 02:30 CEST (00:30 UTC), never 02:30 CET;
 *   - when the clock never reads hh:mm:ss that day (the hour skipped when
 *     clocks go forward), the instant the clock jumps, i.e. the first instant
 *     after the gap: 02:30 on Europe/Berlin's spring-forward day falls due at
 *     03:00 CEST (01:00 UTC), as does 02:00 itself.
 * In other words the due instant is the earliest at which the local clock
 * shows that day's hh:mm:ss or later.  So each type falls due exactly once per
 * period (day, week, month), and due instants strictly increase.
 *
 * Times outside the years 1..9999 are not supported: schedule_next then
 * returns INT64_MAX and schedule_prev INT64_MIN, as for a disabled schedule.
 * The same goes for a type other than daily/weekly/monthly and for fields out
 * of range (conf_load never produces those).
 */
#ifndef CBSYNC_SCHEDULE_H
#define CBSYNC_SCHEDULE_H

#include "common/backup_name.h"
#include "conf/conf.h"

#include <stdint.h>

/* The first instant strictly after `after` at which a backup of `type` falls
 * due under s (type is BT_DAILY, BT_WEEKLY or BT_MONTHLY); INT64_MAX if s is
 * disabled.  The timer the agent sleeps on. */
int64_t schedule_next(const struct conf_schedule *s, enum backup_type type,
		      int64_t after);

/* The latest instant at or before `at` at which a backup of `type` falls due
 * under s; INT64_MIN if s is disabled.  For catch-up: a type whose newest
 * backup is older than schedule_prev(now) missed a run.  It mirrors
 * schedule_next: prev(t) <= t < next(prev(t)) and prev(next(t)) == next(t). */
int64_t schedule_prev(const struct conf_schedule *s, enum backup_type type,
		      int64_t at);

#endif
