/*
 * Unit tests for the value an entry stands for (entry_value.c): ${VAR} and
 * $$ in file values, and KEY_file values, from the file and from the
 * environment, with their error lines.
 */
#include "conf_test.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expansion),
		cmocka_unit_test(test_key_file),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
