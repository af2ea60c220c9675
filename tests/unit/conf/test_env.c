/*
 * Unit tests for the environment layer (env.c): every key from CBSYNC_*
 * variables, the environment over the file, the seed's CBSYNC_DB and
 * CBSYNC_BACKUP_DIR, empty and ignored variables, literal values, and the
 * error lines for unknown or clashing variables.
 */
#include "conf_test.h"
#include "every_key.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key_from_env),
		cmocka_unit_test(test_env_overrides_file_for_each_key),
		cmocka_unit_test(test_seed_env_names),
		cmocka_unit_test(test_empty_env_is_unset),
		cmocka_unit_test(test_env_allowed_names),
		cmocka_unit_test(test_env_errors),
		cmocka_unit_test(test_env_values_literal),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
