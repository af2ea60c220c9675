/*
 * Unit tests for the wording of the loader's messages (conf/messages.c):
 * values quoted for an error line, invalid values reported (secrets never
 * repeated, a KEY_file's path named), and the "did you mean" hints.
 */
#include "conf_test.h"
#include "conf/loader.h"

static void test_quote(void **state)
{
	(void)state;
	char buf[200];
	ld_quote("abc", buf, sizeof(buf));
	assert_string_equal(buf, "\"abc\"");
	ld_quote("", buf, sizeof(buf));
	assert_string_equal(buf, "\"\"");
	/* Control characters are escaped, so the message stays one line. */
	ld_quote("a\nb\tc\x7f", buf, sizeof(buf));
	assert_string_equal(buf, "\"a\\x0ab\\x09c\\x7f\"");

	/* A long value is cut after 120 characters... */
	char long_value[300], expected[200];
	memset(long_value, 'x', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	snprintf(expected, sizeof(expected), "\"%.120s...\"", long_value);
	ld_quote(long_value, buf, sizeof(buf));
	assert_string_equal(buf, expected);
	/* ...or where the buffer ends. */
	ld_quote("abcdefghijkl", buf, 10);
	assert_string_equal(buf, "\"a...\"");
}

static void test_value_error(void **state)
{
	(void)state;
	struct error err = {0};
	struct loader ld = {.err = &err};
	assert_int_equal(ld_value_error(&ld, "cbsync.conf:2: [watch] quiet", "5 seconds", NULL,
					false, "is not a duration (e.g. 5s, 2min)"), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cbsync.conf:2: [watch] quiet: \"5 seconds\" is not a "
			    "duration (e.g. 5s, 2min)");

	/* Only the first failure is kept. */
	ld_value_error(&ld, "elsewhere", "x", NULL, false, "is wrong too");
	assert_string_equal(err.msg, "cbsync.conf:2: [watch] quiet: \"5 seconds\" is not a "
			    "duration (e.g. 5s, 2min)");

	ld = (struct loader){.err = &err};
	ld_value_error(&ld, "environment CBSYNC_LOCAL_KEEP_DAILY_FILE", "1x", "keep.txt", false,
		       "is not a retention rule");
	assert_string_equal(err.msg, "environment CBSYNC_LOCAL_KEEP_DAILY_FILE: \"1x\" (read "
			    "from 'keep.txt') is not a retention rule");

	/* A secret's value is never repeated, not even from a file. */
	ld = (struct loader){.err = &err};
	ld_value_error(&ld, "[remote \"x\"] pin", "hunter2", "pin.txt", true, "is not an integer");
	assert_string_equal(err.msg, "[remote \"x\"] pin: the value is not an integer");
	assert_null(strstr(err.msg, "hunter2"));
}

static void test_closest(void **state)
{
	(void)state;
	static const char *const keys[] = {"quiet", "min_interval", "max_delay", "enabled"};
	assert_string_equal(ld_closest("quit", keys, 4), "quiet");
	assert_string_equal(ld_closest("QUIET", keys, 4), "quiet");
	assert_string_equal(ld_closest("max_dely", keys, 4), "max_delay");
	assert_null(ld_closest("frobnicate", keys, 4));
	assert_null(ld_closest("quiet", keys, 0));
	/* Not when the typo would have to rewrite a short word whole. */
	static const char *const short_words[] = {"ab"};
	assert_null(ld_closest("xy", short_words, 1));

	assert_int_equal(conf_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(conf_edit_distance("Watch", "wATCH"), 0);
	assert_int_equal(conf_edit_distance("", "abc"), 3);
	char long_word[70];
	memset(long_word, 'a', sizeof(long_word) - 1);
	long_word[sizeof(long_word) - 1] = '\0';
	assert_int_equal(conf_edit_distance(long_word, "a"), (size_t)-1);
}

static void test_keep_hint(void **state)
{
	(void)state;
	assert_non_null(ld_keep_hint("keep_manual"));
	assert_non_null(ld_keep_hint("keep_restore_point"));
	assert_null(ld_keep_hint("keep_daily"));
	assert_null(ld_keep_hint("keep_manuals"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote),
		cmocka_unit_test(test_value_error),
		cmocka_unit_test(test_closest),
		cmocka_unit_test(test_keep_hint),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
