/*
 * Unit tests for conf.c: the defaults, conf_describe_sources (what a
 * message says about where the configuration came from) and conf_free.
 *
 * Each test program works in its own mkdtemp directory and names its config
 * file "cbsync.conf", so the expected messages below are exactly what a user
 * running `cbsync --config cbsync.conf` would read.
 */
#include "conf_test.h"

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
	assert_int_equal(c->compression, 2);
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
		cmocka_unit_test(test_describe_sources),
		cmocka_unit_test(test_free_safe),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
