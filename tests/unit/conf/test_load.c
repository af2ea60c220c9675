/*
 * Unit tests for conf_load as a whole (load.c): the order defaults < file <
 * environment < flags, the process environment when none is given, and the
 * checks across keys once every layer is in.
 */
#include "conf_test.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_process_environ),
		cmocka_unit_test(test_cross_checks),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
