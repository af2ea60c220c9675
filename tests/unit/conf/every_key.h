/*
 * A config file that sets every fixed key away from its default, and the
 * check that a configuration holds exactly those values: for the file
 * layer's tests (test_ini.c) and the environment's (test_env.c), which set
 * the same values through CBSYNC_* variables.
 */
#ifndef CBSYNC_EVERY_KEY_H
#define CBSYNC_EVERY_KEY_H

#include "conf_test.h"

/* The full text of a config file that sets every fixed key away from its
 * default; line numbers matter to test_every_key_from_file. */
static UNUSED const char every_key[] =
	"[database]\n"                  /* 1 */
	"path = /data/cb.db\n"          /* 2 */
	"[local]\n"                     /* 3 */
	"dir = /data/backups\n"         /* 4 */
	"keep_daily = 14d\n"            /* 5 */
	"keep_weekly = 8w\n"            /* 6 */
	"keep_monthly = 24m\n"          /* 7 */
	"keep_change = 90min\n"         /* 8 */
	"compression = 9\n"             /* 9 */
	"lock_timeout = 30s\n"          /* 10 */
	"[schedule]\n"                  /* 11 */
	"daily = 01:30\n"               /* 12 */
	"weekly = mon 04:15:30\n"       /* 13 */
	"monthly = 15 05:00\n"          /* 14 */
	"timezone = Europe/Berlin\n"    /* 15 */
	"catch_up = false\n"            /* 16 */
	"[watch]\n"                     /* 17 */
	"enabled = no\n"                /* 18 */
	"quiet = 2s\n"                  /* 19 */
	"min_interval = 30s\n"          /* 20 */
	"max_delay = 10m\n"             /* 21 */
	"[log]\n"                       /* 22 */
	"format = json\n"               /* 23 */
	"level = debug\n";              /* 24 */

/* The same values as every_key, checked field by field. */
static UNUSED void check_every_key(const struct conf *c)
{
	assert_string_equal(c->db_path, "/data/cb.db");
	assert_string_equal(c->local_dir, "/data/backups");
	assert_int_equal(c->local_keep.keep[BT_DAILY].kind, KEEP_SECONDS);
	assert_int_equal(c->local_keep.keep[BT_DAILY].amount, 14 * 86400);
	assert_int_equal(c->local_keep.keep[BT_WEEKLY].kind, KEEP_SECONDS);
	assert_int_equal(c->local_keep.keep[BT_WEEKLY].amount, 56 * 86400);
	assert_int_equal(c->local_keep.keep[BT_MONTHLY].kind, KEEP_MONTHS);
	assert_int_equal(c->local_keep.keep[BT_MONTHLY].amount, 24);
	assert_int_equal(c->local_keep.keep[BT_CHANGE].kind, KEEP_SECONDS);
	assert_int_equal(c->local_keep.keep[BT_CHANGE].amount, 5400);
	assert_int_equal(c->local_keep.keep[BT_MANUAL].kind, KEEP_FOREVER);
	assert_int_equal(c->local_keep.keep[BT_RESTORE_POINT].kind, KEEP_FOREVER);
	assert_int_equal(c->compression, 9);
	assert_true(c->lock_timeout == 30.0);
	assert_true(c->daily.enabled);
	assert_int_equal(c->daily.hour, 1);
	assert_int_equal(c->daily.minute, 30);
	assert_int_equal(c->weekly.weekday, 1);
	assert_int_equal(c->weekly.hour, 4);
	assert_int_equal(c->weekly.minute, 15);
	assert_int_equal(c->weekly.second, 30);
	assert_int_equal(c->monthly.mday, 15);
	assert_int_equal(c->monthly.hour, 5);
	assert_string_equal(c->timezone, "Europe/Berlin");
	assert_false(c->catch_up);
	assert_false(c->watch_enabled);
	assert_true(c->watch_quiet == 2.0);
	assert_true(c->watch_min_interval == 30.0);
	assert_true(c->watch_max_delay == 600.0);
	assert_int_equal(c->log_format, LOG_FORMAT_JSON);
	assert_int_equal(c->log_level, LOG_DEBUG);
	assert_int_equal(c->n_remotes, 0);
}

#endif
