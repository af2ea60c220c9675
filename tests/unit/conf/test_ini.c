/*
 * Unit tests for the config file's syntax (ini.c): every key from the file
 * with its line as origin, the INI details (comments, quotes, indentation,
 * case, a BOM, CRLF), and every error line about sections and keys.
 */
#include "conf_test.h"
#include "every_key.h"

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_key_from_file),
		cmocka_unit_test(test_syntax_details),
		cmocka_unit_test(test_file_errors),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
