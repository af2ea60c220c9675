/*
 * `cbsync agent`: the long-running daemon.
 *
 * One thread runs the event loop, sleeping in poll(2) on a signalfd
 * (SIGTERM, SIGINT, SIGHUP), the inotify watch on the database, a realtime
 * timerfd armed for the next scheduled backup, and an eventfd the worker
 * signals when it finishes.  Idle, nothing wakes it: it uses no CPU.
 *
 * The work that takes time (snapshot, compression, retention) runs on one
 * worker thread, one job at a time, so a backup never overlaps another of the
 * same database and a long backup never stops the loop from noticing signals
 * and changes.  Each job takes the backup directory's lock, makes its backup,
 * then applies retention.
 *
 * Triggers: the daily/weekly/monthly schedules (in the configured time zone;
 * at start, with catch_up, each type whose run was missed), and database
 * changes, debounced (see debounce.h).  Failures are retried with backoff.
 *
 * SIGTERM/SIGINT abandon the job in flight (its temp file is removed) and
 * exit 0.  SIGHUP reloads the configuration; an invalid one is reported and
 * the running one kept.
 */
#ifndef CBSYNC_DAEMON_H
#define CBSYNC_DAEMON_H

#include "common/result.h"
#include "conf/conf.h"

/* Run until SIGTERM/SIGINT.  c is the loaded configuration (the daemon takes
 * it over and frees it); opts is how to load it again on SIGHUP. */
enum result daemon_run(struct conf *c, const struct conf_load_opts *opts,
		       struct error *err);

#endif
