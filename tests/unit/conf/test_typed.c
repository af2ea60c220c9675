/*
 * Unit tests for the typed values of remote keys (conf/typed.c): each type's
 * normalised form, the reason given for a value that is not of the type,
 * and the form conf_print writes back.
 */
#include "conf_test.h"
#include "conf/conf_internal.h"

/* value must normalise to expected. */
static void expect_norm(enum conf_type type, const char *value, const char *expected)
{
	char *out = NULL, why[200];
	if (!conf_value_normalise(type, value, &out, why, sizeof(why)))
		fail_msg("\"%s\" refused: %s", value, why);
	assert_string_equal(out, expected);
	assert_string_equal(why, "");
	free(out);
}

/* value must be refused, for the reason expected. */
static void expect_refused(enum conf_type type, const char *value, const char *expected)
{
	char *out = NULL, why[200];
	if (conf_value_normalise(type, value, &out, why, sizeof(why))) {
		free(out);
		fail_msg("\"%s\" accepted", value);
	}
	assert_string_equal(why, expected);
}

static void test_normalise(void **state)
{
	(void)state;
	expect_norm(CONF_STRING, " as  written ", " as  written ");
	expect_norm(CONF_STRING, "", "");
	expect_norm(CONF_PATH, "/srv/cache", "/srv/cache");
	expect_norm(CONF_URL, "https://s3.example.com:9000/b", "https://s3.example.com:9000/b");
	expect_norm(CONF_BOOL, "YES", "true");
	expect_norm(CONF_BOOL, "off", "false");
	expect_norm(CONF_INT, "007", "7");
	expect_norm(CONF_INT, "-12", "-12");
	expect_norm(CONF_INT, "9223372036854775807", "9223372036854775807");
	expect_norm(CONF_INT, "-9223372036854775808", "-9223372036854775808");
	expect_norm(CONF_SIZE, "16M", "16777216");
	expect_norm(CONF_SIZE, "5MiB", "5242880");
	expect_norm(CONF_SIZE, "100", "100");
	/* Durations in decimal seconds, exactly. */
	expect_norm(CONF_DURATION, "30s", "30");
	expect_norm(CONF_DURATION, "2min", "120");
	expect_norm(CONF_DURATION, "1.5s", "1.5");
	expect_norm(CONF_DURATION, "250ms", "0.25");
	expect_norm(CONF_DURATION, "0.000000001s", "0.000000001");
}

static void test_refused(void **state)
{
	(void)state;
	expect_refused(CONF_PATH, "", "is empty (a path is needed)");
	static const char *const not_urls[] = {
		"s3.example.com:9000", "https://", "://host", "1http://host", "https://a b", "",
	};
	for (size_t i = 0; i < sizeof(not_urls) / sizeof(not_urls[0]); i++)
		expect_refused(CONF_URL, not_urls[i], "is not a URL (e.g. https://host:port/path)");
	expect_refused(CONF_BOOL, "maybe", "is not a boolean (true/false, yes/no, on/off, 1/0)");
	static const char *const not_ints[] = {
		"", "+1", "1.5", "1e3", " 1", "9223372036854775808", "-9223372036854775809",
	};
	for (size_t i = 0; i < sizeof(not_ints) / sizeof(not_ints[0]); i++)
		expect_refused(CONF_INT, not_ints[i], "is not an integer");
	expect_refused(CONF_SIZE, "16X", "is not a size (e.g. 512k, 16M, 5MiB, 1G)");
	expect_refused(CONF_DURATION, "30", "is not a duration (e.g. 5s, 2min)");
}

/* The normalised form written back with a unit its parser reads, and read
 * back to the same normalised form. */
static void test_format(void **state)
{
	(void)state;
	static const struct {
		enum conf_type type;
		const char *normalised, *written;
	} rows[] = {
		{CONF_DURATION, "30", "30s"},
		{CONF_DURATION, "120", "2min"},
		{CONF_DURATION, "0.25", "250ms"},
		{CONF_DURATION, "1.5", "1500ms"},
		{CONF_DURATION, "0.000000001", "0.000000001s"},
		{CONF_DURATION, "0", "0s"},
		{CONF_SIZE, "16777216", "16777216"},
		{CONF_BOOL, "true", "true"},
		{CONF_STRING, "a $ b", "a $ b"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[64];
		conf_value_format(rows[i].type, rows[i].normalised, buf, sizeof(buf));
		assert_string_equal(buf, rows[i].written);
		expect_norm(rows[i].type, buf, rows[i].normalised);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_format),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
