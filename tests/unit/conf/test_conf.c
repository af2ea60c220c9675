/*
 * Unit tests for conf_load: the defaults, every key from the file and from
 * the environment, the order file < environment < flags, where the file
 * comes from, the INI details (comments, quotes, indentation), ${VAR} and
 * KEY_file values, and every form of error line.
 *
 * Each test program works in its own mkdtemp directory and names its config
 * file "cbsync.conf", so the expected messages below are exactly what a user
 * running `cbsync --config cbsync.conf` would read.
 */
#include "conf_test.h"

/* The full text of a config file that sets every fixed key away from its
 * default; line numbers matter to test_every_key_from_file. */
static const char every_key[] =
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
static void check_every_key(const struct conf *c)
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

static void check_defaults(const struct conf *c)
{
	struct retention_policy p;
	retention_policy_default(&p);
	assert_string_equal(c->db_path, "ai_db/cloudbrain.db");
	assert_string_equal(c->local_dir, "ai_db/backups");
	for (int t = 0; t < BT_COUNT; t++) {
		assert_int_equal(c->local_keep.keep[t].kind, p.keep[t].kind);
		assert_int_equal(c->local_keep.keep[t].amount, p.keep[t].amount);
	}
	assert_int_equal(c->local_keep.keep[BT_DAILY].amount, 7 * 86400);
	assert_int_equal(c->local_keep.keep[BT_WEEKLY].amount, 28 * 86400);
	assert_int_equal(c->local_keep.keep[BT_MONTHLY].kind, KEEP_MONTHS);
	assert_int_equal(c->local_keep.keep[BT_MONTHLY].amount, 12);
	assert_int_equal(c->local_keep.keep[BT_CHANGE].amount, 86400);
	assert_int_equal(c->local_keep.keep[BT_MANUAL].kind, KEEP_FOREVER);
	assert_int_equal(c->local_keep.keep[BT_RESTORE_POINT].kind, KEEP_FOREVER);
	assert_int_equal(c->compression, 6);
	assert_true(c->lock_timeout == 10.0);
	assert_true(c->daily.enabled);
	assert_int_equal(c->daily.hour, 2);
	assert_int_equal(c->daily.minute, 0);
	assert_int_equal(c->daily.second, 0);
	assert_true(c->weekly.enabled);
	assert_int_equal(c->weekly.weekday, 0);
	assert_int_equal(c->weekly.hour, 3);
	assert_int_equal(c->weekly.minute, 0);
	assert_true(c->monthly.enabled);
	assert_int_equal(c->monthly.mday, 1);
	assert_int_equal(c->monthly.hour, 4);
	assert_string_equal(c->timezone, "UTC");
	assert_true(c->catch_up);
	assert_true(c->watch_enabled);
	assert_true(c->watch_quiet == 5.0);
	assert_true(c->watch_min_interval == 60.0);
	assert_true(c->watch_max_delay == 300.0);
	assert_int_equal(c->log_format, LOG_FORMAT_TEXT);
	assert_int_equal(c->log_level, LOG_INFO);
	assert_int_equal(c->n_remotes, 0);
	assert_null(c->remotes);
}

static void test_defaults(void **state)
{
	(void)state;
	struct conf c;
	struct error err = {0};
	assert_int_equal(conf_defaults(&c, &err), CB_OK);
	check_defaults(&c);
	assert_null(c.source);
	assert_string_equal(conf_origin(&c, "watch", "quiet"), "default");
	conf_free(&c);

	/* conf_load with no file and an empty environment: the same. */
	load_ok(&c, NULL, NULL);
	check_defaults(&c);
	assert_null(c.source);
	assert_string_equal(conf_origin(&c, "database", "path"), "default");
	assert_null(conf_origin(&c, "watch", "nope"));
	assert_null(conf_remote_find(&c, "offsite"));
	conf_free(&c);

	/* An empty file, or one with comments only, changes nothing. */
	load_ok(&c, "", NULL);
	check_defaults(&c);
	assert_string_equal(c.source, "cbsync.conf");
	conf_free(&c);
	load_ok(&c, "# nothing here\n; nor here\n\n   \n", NULL);
	check_defaults(&c);
	conf_free(&c);
}

static void test_every_key_from_file(void **state)
{
	(void)state;
	struct conf c;
	load_ok(&c, every_key, NULL);
	check_every_key(&c);
	assert_string_equal(c.source, "cbsync.conf");
	assert_string_equal(conf_origin(&c, "database", "path"), "cbsync.conf:2");
	assert_string_equal(conf_origin(&c, "local", "keep_change"), "cbsync.conf:8");
	assert_string_equal(conf_origin(&c, "schedule", "timezone"), "cbsync.conf:15");
	assert_string_equal(conf_origin(&c, "watch", "quiet"), "cbsync.conf:19");
	assert_string_equal(conf_origin(&c, "log", "level"), "cbsync.conf:24");
	conf_free(&c);
}

static void test_every_key_from_env(void **state)
{
	(void)state;
	char *env[] = {
		"CBSYNC_DATABASE_PATH=/data/cb.db",
		"CBSYNC_LOCAL_DIR=/data/backups",
		"CBSYNC_LOCAL_KEEP_DAILY=14d",
		"CBSYNC_LOCAL_KEEP_WEEKLY=8w",
		"CBSYNC_LOCAL_KEEP_MONTHLY=24m",
		"CBSYNC_LOCAL_KEEP_CHANGE=90min",
		"CBSYNC_LOCAL_COMPRESSION=9",
		"CBSYNC_LOCAL_LOCK_TIMEOUT=30s",
		"CBSYNC_SCHEDULE_DAILY=01:30",
		"CBSYNC_SCHEDULE_WEEKLY=mon 04:15:30",
		"CBSYNC_SCHEDULE_MONTHLY=15 05:00",
		"CBSYNC_SCHEDULE_TIMEZONE=Europe/Berlin",
		"CBSYNC_SCHEDULE_CATCH_UP=false",
		"CBSYNC_WATCH_ENABLED=no",
		"CBSYNC_WATCH_QUIET=2s",
		"CBSYNC_WATCH_MIN_INTERVAL=30s",
		"CBSYNC_WATCH_MAX_DELAY=10m",
		"CBSYNC_LOG_FORMAT=json",
		"CBSYNC_LOG_LEVEL=debug",
		"HOME=/root",           /* not ours: ignored */
		NULL,
	};
	struct conf c;
	load_ok(&c, NULL, env);
	check_every_key(&c);
	assert_string_equal(conf_origin(&c, "watch", "quiet"), "CBSYNC_WATCH_QUIET");
	assert_string_equal(conf_origin(&c, "schedule", "catch_up"), "CBSYNC_SCHEDULE_CATCH_UP");
	conf_free(&c);
}

/* Every key, one at a time, from the environment over a file that sets it
 * too: the environment wins. */
static void test_env_overrides_file_for_each_key(void **state)
{
	(void)state;
	static const struct {
		const char *var, *value;
	} vars[] = {
		{"CBSYNC_DATABASE_PATH", "env.db"}, {"CBSYNC_LOCAL_DIR", "envdir"},
		{"CBSYNC_LOCAL_KEEP_DAILY", "3d"}, {"CBSYNC_LOCAL_KEEP_WEEKLY", "3w"},
		{"CBSYNC_LOCAL_KEEP_MONTHLY", "3m"}, {"CBSYNC_LOCAL_KEEP_CHANGE", "3h"},
		{"CBSYNC_LOCAL_COMPRESSION", "3"}, {"CBSYNC_LOCAL_LOCK_TIMEOUT", "3s"},
		{"CBSYNC_SCHEDULE_DAILY", "03:03"}, {"CBSYNC_SCHEDULE_WEEKLY", "wed 03:03"},
		{"CBSYNC_SCHEDULE_MONTHLY", "3 03:03"}, {"CBSYNC_SCHEDULE_TIMEZONE", "Asia/Tokyo"},
		{"CBSYNC_SCHEDULE_CATCH_UP", "on"}, {"CBSYNC_WATCH_ENABLED", "yes"},
		{"CBSYNC_WATCH_QUIET", "3s"}, {"CBSYNC_WATCH_MIN_INTERVAL", "3s"},
		{"CBSYNC_WATCH_MAX_DELAY", "3h"}, {"CBSYNC_LOG_FORMAT", "text"},
		{"CBSYNC_LOG_LEVEL", "warn"},
	};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		char entry[128];
		snprintf(entry, sizeof(entry), "%s=%s", vars[i].var, vars[i].value);
		char *env[] = {entry, NULL};
		struct conf c;
		load_ok(&c, every_key, env);
		/* Exactly one key's origin is the variable; all others the file. */
		size_t from_env = 0;
		static const char *const sections[] = {"database", "local", "schedule", "watch",
						       "log"};
		static const char *const keys[] = {
			"path", "dir", "keep_daily", "keep_weekly", "keep_monthly", "keep_change",
			"compression", "lock_timeout", "daily", "weekly", "monthly", "timezone",
			"catch_up", "enabled", "quiet", "min_interval", "max_delay", "format",
			"level",
		};
		for (size_t s = 0; s < 5; s++) {
			for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
				const char *o = conf_origin(&c, sections[s], keys[k]);
				if (!o)
					continue;
				if (strcmp(o, vars[i].var) == 0)
					from_env++;
				else
					assert_non_null(strstr(o, "cbsync.conf:"));
			}
		}
		assert_int_equal(from_env, 1);
		conf_free(&c);
	}

	/* And the values landed. */
	char *env[] = {"CBSYNC_LOCAL_KEEP_MONTHLY=3m", "CBSYNC_SCHEDULE_WEEKLY=wed 03:03",
		       "CBSYNC_LOG_LEVEL=warn", "CBSYNC_LOCAL_COMPRESSION=3", NULL};
	struct conf c;
	load_ok(&c, every_key, env);
	assert_int_equal(c.local_keep.keep[BT_MONTHLY].amount, 3);
	assert_int_equal(c.weekly.weekday, 3);
	assert_int_equal(c.log_level, LOG_WARN);
	assert_int_equal(c.compression, 3);
	assert_string_equal(c.db_path, "/data/cb.db");
	conf_free(&c);
}

/* defaults < file < environment < flags */
static void test_precedence(void **state)
{
	(void)state;
	struct conf c;
	struct error err;
	write_text("cbsync.conf", "[database]\npath = file.db\n[local]\ndir = filedir\n");

	assert_int_equal(load_ex(&c, &err, "cbsync.conf", NULL, NULL, NULL), CB_OK);
	assert_string_equal(c.db_path, "file.db");
	assert_string_equal(c.local_dir, "filedir");
	conf_free(&c);

	char *env[] = {"CBSYNC_DATABASE_PATH=env.db", "CBSYNC_LOCAL_DIR=envdir", NULL};
	assert_int_equal(load_ex(&c, &err, "cbsync.conf", env, NULL, NULL), CB_OK);
	assert_string_equal(c.db_path, "env.db");
	assert_string_equal(c.local_dir, "envdir");
	assert_string_equal(conf_origin(&c, "database", "path"), "CBSYNC_DATABASE_PATH");
	conf_free(&c);

	assert_int_equal(load_ex(&c, &err, "cbsync.conf", env, "flag.db", "flagdir"), CB_OK);
	assert_string_equal(c.db_path, "flag.db");
	assert_string_equal(c.local_dir, "flagdir");
	assert_string_equal(conf_origin(&c, "database", "path"), "--db");
	assert_string_equal(conf_origin(&c, "local", "dir"), "--dir");
	conf_free(&c);

	/* Flags over the file with no environment, and over defaults. */
	assert_int_equal(load_ex(&c, &err, "cbsync.conf", NULL, "flag.db", NULL), CB_OK);
	assert_string_equal(c.db_path, "flag.db");
	assert_string_equal(c.local_dir, "filedir");
	conf_free(&c);
	assert_int_equal(load_ex(&c, &err, NULL, NULL, NULL, "flagdir"), CB_OK);
	assert_string_equal(c.db_path, "ai_db/cloudbrain.db");
	assert_string_equal(c.local_dir, "flagdir");
	conf_free(&c);

	/* An empty flag is an error, not a silent default. */
	assert_int_equal(load_ex(&c, &err, NULL, NULL, "", NULL), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "--db: \"\" is empty (a path is needed)");
}

/* The seed's CBSYNC_DB and CBSYNC_BACKUP_DIR keep working. */
static void test_seed_env_names(void **state)
{
	(void)state;
	struct conf c;
	char *env[] = {"CBSYNC_DB=seed.db", "CBSYNC_BACKUP_DIR=seeddir", NULL};
	load_ok(&c, "[database]\npath = file.db\n", env);
	assert_string_equal(c.db_path, "seed.db");
	assert_string_equal(c.local_dir, "seeddir");
	assert_string_equal(conf_origin(&c, "database", "path"), "CBSYNC_DB");
	conf_free(&c);

	char *both[] = {"CBSYNC_DB=a.db", "CBSYNC_DATABASE_PATH=b.db", NULL};
	expect_error(NULL, both, "environment CBSYNC_DB: CBSYNC_DATABASE_PATH is also set; "
		     "HINT: set only one of them");
	char *both_dir[] = {"CBSYNC_LOCAL_DIR=a", "CBSYNC_BACKUP_DIR=b", NULL};
	expect_error(NULL, both_dir, "environment CBSYNC_LOCAL_DIR: CBSYNC_BACKUP_DIR is also "
		     "set; HINT: set only one of them");
}

/* An empty variable counts as unset (as the seed did for CBSYNC_DB). */
static void test_empty_env_is_unset(void **state)
{
	(void)state;
	struct conf c;
	char *env[] = {"CBSYNC_DB=", "CBSYNC_WATCH_QUIET=", "CBSYNC_LOCAL_DIR_FILE=", NULL};
	load_ok(&c, "[watch]\nquiet = 7s\n", env);
	assert_string_equal(c.db_path, "ai_db/cloudbrain.db");
	assert_true(c.watch_quiet == 7.0);
	conf_free(&c);
}

/* Variables for the tools around cbsync are not configuration. */
static void test_env_allowed_names(void **state)
{
	(void)state;
	struct conf c;
	write_text("other.conf", "[log]\nlevel = error\n");
	char *env[] = {
		"CBSYNC_CONFIG=other.conf", "CBSYNC_BIN=/usr/bin/cbsync", "CBSYNC_DEMO_DIR=/tmp",
		"CBSYNC_TEST_TMP=/tmp", "CBSYNC_TEST_ANYTHING_ELSE=1", "CBSYNC_BENCH_BACKUP_ARGS=-x",
		NULL,
	};
	load_ok(&c, NULL, env);
	assert_string_equal(c.source, "other.conf");
	assert_int_equal(c.log_level, LOG_ERROR);
	conf_free(&c);
}

static void test_env_errors(void **state)
{
	(void)state;
	char *typo[] = {"CBSYNC_WATCH_QUIT=5s", NULL};
	expect_error(NULL, typo, "environment CBSYNC_WATCH_QUIT: unknown variable; HINT: did you "
		     "mean CBSYNC_WATCH_QUIET?");
	char *typo2[] = {"CBSYNC_LOCAL_KEEP_DAYLY=5d", NULL};
	expect_error(NULL, typo2, "environment CBSYNC_LOCAL_KEEP_DAYLY: unknown variable; HINT: "
		     "did you mean CBSYNC_LOCAL_KEEP_DAILY?");
	char *unknown[] = {"CBSYNC_FOO=1", NULL};
	expect_error(NULL, unknown, "environment CBSYNC_FOO: unknown variable; HINT: settings are "
		     "CBSYNC_<SECTION>_<KEY> or CBSYNC_REMOTE_<NAME>_<KEY>");
	/* Unknown even when empty: a typo is a typo. */
	char *empty_typo[] = {"CBSYNC_LOG_LEVL=", NULL};
	expect_error(NULL, empty_typo, "environment CBSYNC_LOG_LEVL: unknown variable; HINT: did "
		     "you mean CBSYNC_LOG_LEVEL?");
	/* Names are case-sensitive, as environment variables are. */
	char *lower[] = {"CBSYNC_watch_quiet=5s", NULL};
	expect_error(NULL, lower, "environment CBSYNC_watch_quiet: unknown variable; HINT: did "
		     "you mean CBSYNC_WATCH_QUIET?");

	char *bad_value[] = {"CBSYNC_WATCH_QUIET=5 seconds", NULL};
	expect_error(NULL, bad_value, "environment CBSYNC_WATCH_QUIET: \"5 seconds\" is not a "
		     "duration (e.g. 5s, 2min)");
	char *bad_keep[] = {"CBSYNC_LOCAL_KEEP_WEEKLY=4", NULL};
	expect_error(NULL, bad_keep, "environment CBSYNC_LOCAL_KEEP_WEEKLY: \"4\" is not a "
		     "retention rule (e.g. 7d, 4w, 12months, 24h, 90min, forever, off)");
	/* Environment values are literal: no trimming, no expansion. */
	char *spaced[] = {"CBSYNC_LOG_FORMAT=json ", NULL};
	expect_error(NULL, spaced, "environment CBSYNC_LOG_FORMAT: \"json \" is not a log format "
		     "(text, json)");
	char *newline[] = {"CBSYNC_LOG_FORMAT=json\n", NULL};
	expect_error(NULL, newline, "environment CBSYNC_LOG_FORMAT: \"json\\x0a\" is not a log "
		     "format (text, json)");

	write_text("dir.txt", "somewhere\n");
	char *both[] = {"CBSYNC_LOCAL_DIR=a", "CBSYNC_LOCAL_DIR_FILE=dir.txt", NULL};
	expect_error(NULL, both, "environment CBSYNC_LOCAL_DIR_FILE: CBSYNC_LOCAL_DIR is also set; "
		     "HINT: set only one of them");
}

/* Environment values are taken as they are. */
static void test_env_values_literal(void **state)
{
	(void)state;
	struct conf c;
	char *env[] = {"CBSYNC_LOCAL_DIR=${HOME}/x$", "HOME=/root", NULL};
	load_ok(&c, NULL, env);
	assert_string_equal(c.local_dir, "${HOME}/x$");
	conf_free(&c);
}

/* The process environment is read when opts->environ is NULL. */
static void test_process_environ(void **state)
{
	(void)state;
	struct conf c;
	struct error err;
	const struct conf_load_opts opts = {.system_path = "no-such-system.conf"};
	assert_int_equal(setenv("CBSYNC_LOCAL_DIR", "from-process", 1), 0);
	enum result r = conf_load(&c, &opts, &err);
	unsetenv("CBSYNC_LOCAL_DIR");
	if (r)
		fail_msg("%s", err.msg);
	assert_string_equal(c.local_dir, "from-process");
	conf_free(&c);
}

static void test_config_sources(void **state)
{
	(void)state;
	struct conf c;
	struct error err;
	write_text("a.conf", "[log]\nlevel = warn\n");
	write_text("b.conf", "[log]\nlevel = error\n");

	/* --config beats CBSYNC_CONFIG. */
	char *env[] = {"CBSYNC_CONFIG=b.conf", NULL};
	assert_int_equal(load_ex(&c, &err, "a.conf", env, NULL, NULL), CB_OK);
	assert_int_equal(c.log_level, LOG_WARN);
	assert_string_equal(c.source, "a.conf");
	conf_free(&c);
	assert_int_equal(load_ex(&c, &err, NULL, env, NULL, NULL), CB_OK);
	assert_int_equal(c.log_level, LOG_ERROR);
	assert_string_equal(c.source, "b.conf");
	conf_free(&c);

	/* A named file must exist; the path is quoted as given. */
	assert_int_equal(load_ex(&c, &err, "/x/y.conf", NULL, NULL, NULL), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cannot read config file '/x/y.conf': No such file or "
			    "directory");
	assert_true(conf_is_zero(&c));
	char *missing[] = {"CBSYNC_CONFIG=nope.conf", NULL};
	assert_int_equal(load_ex(&c, &err, NULL, missing, NULL, NULL), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cannot read config file 'nope.conf': No such file or "
			    "directory");
	assert_int_equal(load_ex(&c, &err, ".", NULL, NULL, NULL), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cannot read config file '.': it is a directory; HINT: "
			    "--config names the file itself, e.g. ./cbsync.conf");

	/* The system file is read if it exists, and skipped if not. */
	const struct conf_load_opts sys = {.system_path = "a.conf", .environ = (char *[]){NULL}};
	assert_int_equal(conf_load(&c, &sys, &err), CB_OK);
	assert_int_equal(c.log_level, LOG_WARN);
	assert_string_equal(c.source, "a.conf");
	conf_free(&c);
	const struct conf_load_opts nosys = {.system_path = "absent/cbsync.conf",
					     .environ = (char *[]){NULL}};
	assert_int_equal(conf_load(&c, &nosys, &err), CB_OK);
	assert_null(c.source);
	conf_free(&c);

	/* A NULL opts means the process environment and the system file. */
	unsetenv("CBSYNC_CONFIG");
	if (access(CONF_SYSTEM_PATH, F_OK) != 0) {
		assert_int_equal(conf_load(&c, NULL, &err), CB_OK);
		conf_free(&c);
	}
}

/* What a message about an unknown tier or remote says about where the
 * configuration came from: the file read, or where cbsync looked. */
static void test_describe_sources(void **state)
{
	(void)state;
	struct conf c;
	struct error err;
	char buf[512];

	/* No file, no remotes; the system path looked for is named. */
	unlink("cbsync.conf");
	assert_int_equal(load_ex(&c, &err, NULL, NULL, NULL, NULL), CB_OK);
	conf_describe_sources(&c, buf, sizeof(buf));
	assert_string_equal(buf, "no configuration file was read (looked for --config, "
			    "$CBSYNC_CONFIG, no-such-system.conf; ./cbsync.conf is not read unless "
			    "named); no remotes are configured; HINT: name the file with --config "
			    "PATH (or CBSYNC_CONFIG=PATH)");
	conf_free(&c);

	/* A ./cbsync.conf that is there but was not named: say how to use it. */
	write_text("cbsync.conf", "[remote \"offsite\"]\ntype = mirror\npath = /x\n");
	assert_int_equal(load_ex(&c, &err, NULL, NULL, NULL, NULL), CB_OK);
	conf_describe_sources(&c, buf, sizeof(buf));
	assert_string_equal(buf, "no configuration file was read (looked for --config, "
			    "$CBSYNC_CONFIG, no-such-system.conf; ./cbsync.conf is not read unless "
			    "named); no remotes are configured; HINT: to use ./cbsync.conf, name "
			    "it: --config ./cbsync.conf (or CBSYNC_CONFIG=./cbsync.conf)");
	conf_free(&c);

	/* Remotes from the environment alone. */
	char *env[] = {"CBSYNC_REMOTE_NAS_TYPE=mirror", "CBSYNC_REMOTE_NAS_PATH=/n", NULL};
	assert_int_equal(load_ex(&c, &err, NULL, env, NULL, NULL), CB_OK);
	conf_describe_sources(&c, buf, sizeof(buf));
	assert_string_equal(buf, "no configuration file was read (looked for --config, "
			    "$CBSYNC_CONFIG, no-such-system.conf; ./cbsync.conf is not read unless "
			    "named); configured remotes: 'nas'; HINT: to use ./cbsync.conf, name "
			    "it: --config ./cbsync.conf (or CBSYNC_CONFIG=./cbsync.conf)");
	conf_free(&c);

	/* A file was read: name it and the remotes; no hint. */
	assert_int_equal(load_ex(&c, &err, "cbsync.conf", env, NULL, NULL), CB_OK);
	conf_describe_sources(&c, buf, sizeof(buf));
	assert_string_equal(buf, "the configuration file is 'cbsync.conf'; configured remotes: "
			    "'offsite', 'nas'");
	conf_free(&c);
	unlink("cbsync.conf");

	/* The real default, for a struct that was never loaded; cut short. */
	assert_int_equal(conf_defaults(&c, &err), CB_OK);
	conf_describe_sources(&c, buf, 40);
	assert_string_equal(buf, "no configuration file was read (looked ");
	conf_describe_sources(&c, buf, sizeof(buf));
	assert_non_null(strstr(buf, CONF_SYSTEM_PATH "; ./cbsync.conf"));
	conf_free(&c);
}

/* INI details: comments, quotes, indentation, case, ":" separators, a BOM,
 * CRLF line ends. */
static void test_syntax_details(void **state)
{
	(void)state;
	struct conf c;
	load_ok(&c,
		"\xEF\xBB\xBF# a comment\r\n"
		"; another\r\n"
		"[Database]\r\n"
		"  PATH = \"  spaced name.db  \"  # trailing comment\r\n"
		"[local]\n"
		"\tdir = a#b ; inline comment\n"
		"    keep_daily = 3d # indented keys are not continuations\n"
		"    keep_weekly: 2w\n"
		"[ watch ]\n"
		"quiet=1s\n"
		"[log]\n"
		"format = \"json\"\n"
		"level = \"info\" ; quoted\n",
		NULL);
	assert_string_equal(c.db_path, "  spaced name.db  ");
	assert_string_equal(c.local_dir, "a#b");
	assert_int_equal(c.local_keep.keep[BT_DAILY].amount, 3 * 86400);
	assert_int_equal(c.local_keep.keep[BT_WEEKLY].amount, 14 * 86400);
	assert_true(c.watch_quiet == 1.0);
	assert_int_equal(c.log_format, LOG_FORMAT_JSON);
	conf_free(&c);

	/* A value that starts with "#" needs quotes; without, it is a comment. */
	load_ok(&c, "[local]\ndir = \"#hash\"\n", NULL);
	assert_string_equal(c.local_dir, "#hash");
	conf_free(&c);
	expect_error("[local]\ndir = #hash\n", NULL,
		     "cbsync.conf:2: [local] dir: \"\" is empty (a path is needed)");
}

static void test_file_errors(void **state)
{
	(void)state;
	expect_error("[database]\npath = x\n[wach]\nquiet = 5s\n", NULL,
		     "cbsync.conf:3: unknown section [wach]; HINT: did you mean [watch]?");
	/* Even an empty section is checked. */
	expect_error("[local]\n[wach]\n", NULL,
		     "cbsync.conf:2: unknown section [wach]; HINT: did you mean [watch]?");
	expect_error("[frobnicate]\n", NULL, "cbsync.conf:1: unknown section [frobnicate]");
	expect_error("[remotes]\n", NULL,
		     "cbsync.conf:1: unknown section [remotes]; HINT: did you mean [remote \"NAME\"]?");
	expect_error("[database]\n"
		     "path = a.db\n"
		     "\n"
		     "[local]\n"
		     "# retention\n"
		     "dir = b\n"
		     "keep_dayly = 5d\n", NULL,
		     "cbsync.conf:7: [local] unknown key \"keep_dayly\"; HINT: did you mean "
		     "\"keep_daily\"?");
	expect_error("[local]\nfrobnicate = 1\n", NULL,
		     "cbsync.conf:2: [local] unknown key \"frobnicate\"");
	/* A key of another section is unknown here. */
	expect_error("[watch]\ndir = x\n", NULL, "cbsync.conf:2: [watch] unknown key \"dir\"");
	expect_error("[local]\nkeep_manual = 1d\n", NULL,
		     "cbsync.conf:2: [local] unknown key \"keep_manual\"; HINT: manual backups and "
		     "restore points are never pruned automatically, so they have no retention "
		     "rule");
	expect_error("path = x\n", NULL, "cbsync.conf:1: \"path\" comes before any [section]");
	expect_error("[local]\nthis is not a key\n", NULL,
		     "cbsync.conf:2: syntax error: expected \"key = value\", \"[section]\" or a "
		     "comment");
	expect_error("[local\ndir = x\n", NULL,
		     "cbsync.conf:1: syntax error: \"[\" without a closing \"]\"");
	/* The first error in the file is the one reported. */
	expect_error("[local]\nbroken line\nfrobnicate = 1\n", NULL,
		     "cbsync.conf:2: syntax error: expected \"key = value\", \"[section]\" or a "
		     "comment");
	expect_error("[local]\nfrobnicate = 1\nbroken line\n", NULL,
		     "cbsync.conf:2: [local] unknown key \"frobnicate\"");
	expect_error("[local] dir = x\n", NULL, "cbsync.conf:1: unexpected text after \"]\"");
	expect_error("[local]\ndir = a\ndir = b\n", NULL,
		     "cbsync.conf:3: [local] dir: given twice (first at line 2)");
	expect_error("[local]\ndir = a\nDIR = b\n", NULL,
		     "cbsync.conf:3: [local] dir: given twice (first at line 2)");
	write_text("dir.txt", "x\n");
	expect_error("[local]\ndir = a\ndir_file = dir.txt\n", NULL,
		     "cbsync.conf:3: [local] dir_file: both dir and dir_file are given (the other "
		     "at line 2); HINT: keep one of them");
	expect_error("[local]\ndir = a\n[watch]\n[local]\n", NULL,
		     "cbsync.conf:4: duplicate section [local] (first at line 1)");

	char text[400];
	snprintf(text, sizeof(text), "[local]\ndir = %0250d\n", 0);
	expect_error(text, NULL, "cbsync.conf:2: the line is longer than 199 characters; HINT: put "
		     "a long value in a file and name it with KEY_file = PATH");
	/* 199 characters is fine. */
	struct conf c;
	snprintf(text, sizeof(text), "[local]\ndir = %0193d\n", 0);
	load_ok(&c, text, NULL);
	assert_int_equal(strlen(c.local_dir), 193);
	conf_free(&c);

	FILE *f = fopen("cbsync.conf", "w");
	assert_non_null(f);
	assert_int_equal(fwrite("[local]\ndir = a\0b\n", 1, 18, f), 18);
	assert_int_equal(fclose(f), 0);
	struct error err;
	assert_int_equal(load_ex(&c, &err, "cbsync.conf", NULL, NULL, NULL), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cbsync.conf:2: the line contains a NUL byte (is this a "
			    "text file?)");
}

/* Checks between keys: quiet and min_interval fit in max_delay. */
static void test_cross_checks(void **state)
{
	(void)state;
	expect_error("[watch]\nquiet = 10m\n", NULL,
		     "cbsync.conf:2: [watch] quiet: 10min is longer than max_delay (5min); HINT: "
		     "quiet and min_interval must not exceed max_delay");
	expect_error("[watch]\nmax_delay = 30s\n", NULL,
		     "cbsync.conf:2: [watch] max_delay: 30s is shorter than min_interval (1min); "
		     "HINT: quiet and min_interval must not exceed max_delay");
	expect_error("[watch]\nmax_delay = 3s\n", NULL,
		     "cbsync.conf:2: [watch] max_delay: 3s is shorter than quiet (5s); "
		     "HINT: quiet and min_interval must not exceed max_delay");
	char *env[] = {"CBSYNC_WATCH_MIN_INTERVAL=10m", NULL};
	expect_error(NULL, env, "environment CBSYNC_WATCH_MIN_INTERVAL: 10min is longer than "
		     "max_delay (5min); HINT: quiet and min_interval must not exceed max_delay");
	/* Equal is fine, and the environment can repair the file. */
	struct conf c;
	load_ok(&c, "[watch]\nquiet = 5m\nmin_interval = 5m\n", NULL);
	conf_free(&c);
	char *fix[] = {"CBSYNC_WATCH_MAX_DELAY=20m", NULL};
	load_ok(&c, "[watch]\nquiet = 10m\n", fix);
	assert_true(c.watch_max_delay == 1200.0);
	conf_free(&c);
}

static void test_expansion(void **state)
{
	(void)state;
	struct conf c;
	char *env[] = {"DATA=/srv/data", "EMPTY=", "NAME=cb", NULL};
	load_ok(&c,
		"[database]\npath = ${DATA}/${NAME}.db\n"
		"[local]\ndir = $${DATA}/a$$b${EMPTY}\n", env);
	assert_string_equal(c.db_path, "/srv/data/cb.db");
	assert_string_equal(c.local_dir, "${DATA}/a$b");
	conf_free(&c);

	/* Values of every type expand, not only strings. */
	char *env2[] = {"QUIET=9s", "LEVEL=debug", NULL};
	load_ok(&c, "[watch]\nquiet = ${QUIET}\n[log]\nlevel = ${LEVEL}\n", env2);
	assert_true(c.watch_quiet == 9.0);
	assert_int_equal(c.log_level, LOG_DEBUG);
	conf_free(&c);

	expect_error("[database]\npath = ${NOPE}/x.db\n", env,
		     "cbsync.conf:2: [database] path: environment variable NOPE is not set (used "
		     "as \"${NOPE}\")");
	expect_error("[database]\npath = $HOME/x.db\n", env,
		     "cbsync.conf:2: [database] path: a \"$\" must start \"${NAME}\"; HINT: write "
		     "\"$$\" for a literal \"$\"");
	expect_error("[database]\npath = x$\n", env,
		     "cbsync.conf:2: [database] path: a \"$\" must start \"${NAME}\"; HINT: write "
		     "\"$$\" for a literal \"$\"");
	static const char *const broken[] = {"${HOME", "${}", "${1X}", "${A-B}"};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "[database]\npath = %s\n", broken[i]);
		expect_error(text, env, "cbsync.conf:2: [database] path: \"${\" must be followed by "
			     "a variable name and \"}\"; HINT: write \"$$\" for a literal \"$\"");
	}
}

static void test_key_file(void **state)
{
	(void)state;
	struct conf c;
	write_text("dir.txt", "from-file\n");
	write_text("keep.txt", "14d\r\n");
	write_text("literal.txt", "${NOT_EXPANDED}");
	write_text("two-newlines.txt", "two\n\n");
	assert_int_equal(mkdir("secrets", 0700), 0);
	write_text("secrets/level.txt", "debug");
	char *env[] = {"SECRETS=secrets", NULL};
	load_ok(&c,
		"[database]\npath_file = literal.txt\n"
		"[local]\ndir_file = dir.txt\nkeep_daily_file = keep.txt\n"
		"[log]\nlevel_file = ${SECRETS}/level.txt\n", env);
	assert_string_equal(c.db_path, "${NOT_EXPANDED}");
	assert_string_equal(c.local_dir, "from-file");
	assert_int_equal(c.local_keep.keep[BT_DAILY].amount, 14 * 86400);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_string_equal(conf_origin(&c, "local", "dir"), "cbsync.conf:4");
	conf_free(&c);

	/* Only one trailing newline goes. */
	load_ok(&c, "[local]\ndir_file = two-newlines.txt\n", NULL);
	assert_string_equal(c.local_dir, "two\n");
	conf_free(&c);

	/* ..._FILE in the environment. */
	char *fenv[] = {"CBSYNC_LOCAL_DIR_FILE=dir.txt", "CBSYNC_LOCAL_KEEP_DAILY_FILE=keep.txt",
			NULL};
	load_ok(&c, "[local]\ndir = overridden\n", fenv);
	assert_string_equal(c.local_dir, "from-file");
	assert_int_equal(c.local_keep.keep[BT_DAILY].amount, 14 * 86400);
	assert_string_equal(conf_origin(&c, "local", "dir"), "CBSYNC_LOCAL_DIR_FILE");
	conf_free(&c);

	expect_error("[local]\ndir_file = missing.txt\n", NULL,
		     "cbsync.conf:2: [local] dir_file: cannot read 'missing.txt': No such file or "
		     "directory");
	expect_error("[local]\ndir_file = secrets\n", NULL,
		     "cbsync.conf:2: [local] dir_file: cannot read 'secrets': not a regular file (a "
		     "directory); HINT: a _file setting names a regular file that holds the value");
	char *missing[] = {"CBSYNC_LOCAL_DIR_FILE=/no/such/file", NULL};
	expect_error(NULL, missing, "environment CBSYNC_LOCAL_DIR_FILE: cannot read "
		     "'/no/such/file': No such file or directory");
	write_text("bad-keep.txt", "1x\n");
	expect_error("[local]\nkeep_daily_file = bad-keep.txt\n", NULL,
		     "cbsync.conf:2: [local] keep_daily_file: \"1x\" (read from 'bad-keep.txt') "
		     "is not a retention rule (e.g. 7d, 4w, 12months, 24h, 90min, forever, "
		     "off)");
	char *bad_env[] = {"CBSYNC_LOCAL_KEEP_DAILY_FILE=bad-keep.txt", NULL};
	expect_error(NULL, bad_env, "environment CBSYNC_LOCAL_KEEP_DAILY_FILE: \"1x\" (read from "
		     "'bad-keep.txt') is not a retention rule (e.g. 7d, 4w, 12months, 24h, "
		     "90min, forever, off)");
	expect_error("[local]\ndir_file = ${NOPE}\n", NULL,
		     "cbsync.conf:2: [local] dir_file: environment variable NOPE is not set (used "
		     "as \"${NOPE}\")");
	expect_error("[local]\nnope_file = dir.txt\n", NULL,
		     "cbsync.conf:2: [local] unknown key \"nope_file\"");
}

/* conf_free on a zeroed, default or already freed struct. */
static void test_free_safe(void **state)
{
	(void)state;
	struct conf c;
	memset(&c, 0, sizeof(c));
	conf_free(&c);
	conf_free(&c);
	conf_free(NULL);
	struct error err;
	assert_int_equal(conf_defaults(&c, &err), CB_OK);
	conf_free(&c);
	conf_free(&c);
	assert_true(conf_is_zero(&c));

	/* conf_set_string replaces a field with a copy. */
	assert_int_equal(conf_defaults(&c, &err), CB_OK);
	char value[] = "elsewhere";
	assert_int_equal(conf_set_string(&c.local_dir, value, &err), CB_OK);
	value[0] = 'X';
	assert_string_equal(c.local_dir, "elsewhere");
	conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key_from_file),
		cmocka_unit_test(test_every_key_from_env),
		cmocka_unit_test(test_env_overrides_file_for_each_key),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_seed_env_names),
		cmocka_unit_test(test_empty_env_is_unset),
		cmocka_unit_test(test_env_allowed_names),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_env_values_literal),
		cmocka_unit_test(test_process_environ),
		cmocka_unit_test(test_config_sources),
		cmocka_unit_test(test_describe_sources),
		cmocka_unit_test(test_syntax_details),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_cross_checks),
		cmocka_unit_test(test_expansion),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_free_safe),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
