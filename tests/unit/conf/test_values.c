/*
 * Unit tests for the value parsers in conf/values.c: durations, retention
 * rules, sizes, booleans, and (through conf_load) compression levels, log
 * settings and the error line for each kind of bad value.  Each table lists
 * forms that must be accepted with their exact value, then forms that must
 * be refused.
 */
#include "conf_test.h"
#include "conf/conf_internal.h"

static void test_duration_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		double seconds;
	} ok[] = {
		{"0s", 0}, {"90s", 90}, {"5m", 300}, {"5min", 300}, {"24h", 86400},
		{"7d", 7 * 86400}, {"4w", 28 * 86400}, {"1.5s", 1.5}, {"250ms", 0.25},
		{"0.5m", 30}, {"1.25h", 4500}, {"007s", 7}, {"1.000000001s", 1.000000001},
		{"1.5ms", 0.0015},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		double v = -1;
		if (!conf_parse_duration(ok[i].s, &v))
			fail_msg("duration \"%s\" refused", ok[i].s);
		if (v - ok[i].seconds > 1e-12 || ok[i].seconds - v > 1e-12)
			fail_msg("duration \"%s\" = %.12g, expected %.12g", ok[i].s, v, ok[i].seconds);
	}
}

static void test_duration_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "5 seconds", "-1s", "+1s", "1.5.2s", "12", "1x", "s", ".5s", "5.s", "5 s",
		" 5s", "5s ", "5S", "5sec", "1e3s", "0x10s", "5mo", "5y", "5m5s", "1h30m",
		"1.0000000001s", "1.0000001ms", "99999999999999999999s", "36526d", "nan",
		"inf", "5\ts",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		double v = 42;
		if (conf_parse_duration(bad[i], &v))
			fail_msg("duration \"%s\" accepted as %g", bad[i], v);
		assert_true(v == 42); /* untouched on failure */
	}
	double v;
	assert_false(conf_parse_duration(NULL, &v));
	assert_true(conf_parse_duration("36525d", &v)); /* 100 years is the limit */
}

static void test_duration_format(void **state)
{
	(void)state;
	static const struct {
		double seconds;
		const char *text;
	} cases[] = {
		{0, "0s"}, {5, "5s"}, {60, "1min"}, {300, "5min"}, {90, "90s"},
		{5400, "90min"}, {3600, "1h"}, {86400, "1d"}, {604800, "1w"},
		{1209600, "2w"}, {0.25, "250ms"}, {1.5, "1500ms"}, {1.000000001, "1.000000001s"},
		{10, "10s"},
	};
	char buf[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		conf_format_duration(cases[i].seconds, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
		double back;
		assert_true(conf_parse_duration(buf, &back));
		assert_true(back == cases[i].seconds);
	}
}

/* Decimal seconds, exactly, as typed.c keeps durations. */
static void test_seconds_format(void **state)
{
	(void)state;
	static const struct {
		int64_t ns;
		const char *text;
	} rows[] = {
		{0, "0"},
		{1, "0.000000001"},
		{INT64_C(250000000), "0.25"},
		{INT64_C(1500000000), "1.5"},
		{INT64_C(30000000000), "30"},
		{INT64_C(3155760000000000000), "3155760000"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		char buf[32];
		conf_format_seconds_ns(rows[i].ns, buf, sizeof(buf));
		assert_string_equal(buf, rows[i].text);
	}
}

static void test_keep_valid(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		enum keep_kind kind;
		int64_t amount;
	} ok[] = {
		{"7d", KEEP_SECONDS, 7 * 86400}, {"4w", KEEP_SECONDS, 28 * 86400},
		{"12m", KEEP_MONTHS, 12}, {"24h", KEEP_SECONDS, 86400},
		{"90min", KEEP_SECONDS, 5400}, {"90s", KEEP_SECONDS, 90},
		{"2y", KEEP_MONTHS, 24}, {"0d", KEEP_SECONDS, 0},
		/* Months without the ambiguous "m"; minutes as "min". */
		{"12mo", KEEP_MONTHS, 12}, {"12months", KEEP_MONTHS, 12},
		{"1month", KEEP_MONTHS, 1}, {"30min", KEEP_SECONDS, 1800},
		{"1200mo", KEEP_MONTHS, 1200}, {"100y", KEEP_MONTHS, 1200},
		{"forever", KEEP_FOREVER, 0}, {"off", KEEP_FOREVER, 0}, {"never", KEEP_FOREVER, 0},
		{"Forever", KEEP_FOREVER, 0}, {"OFF", KEEP_FOREVER, 0},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct keep_rule r = {KEEP_SECONDS, -1};
		if (!conf_parse_keep(ok[i].s, &r))
			fail_msg("keep \"%s\" refused", ok[i].s);
		assert_int_equal(r.kind, ok[i].kind);
		assert_int_equal(r.amount, ok[i].amount);
	}
}

static void test_keep_invalid(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "12", "1x", "-1d", "1.5d", "7 d", "7days", "7D", "5 seconds", "1.5.2s",
		"12M", "forever!", "always", "1201m", "101y", "36526d", "99999999999999999999d",
		"7d ", "5ms", "12 months", "12Mo", "12MONTHS", "12mon", "12mos", "1201mo",
		"1201months", "30mins", "30minutes", "12 mo", "mo", "months",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct keep_rule r = {KEEP_SECONDS, 42};
		if (conf_parse_keep(bad[i], &r))
			fail_msg("keep \"%s\" accepted", bad[i]);
		assert_int_equal(r.amount, 42);
	}
}

/* The old bare "m" still reads as months, and is the one form flagged. */
static void test_keep_ambiguous(void **state)
{
	(void)state;
	static const char *const flagged[] = {"30m", "12m", "0m", "1m"};
	static const char *const clear[] = {"30mo", "30months", "30min", "2y", "7d", "forever",
					    "m", "", "30 m", "30mx"};
	for (size_t i = 0; i < sizeof(flagged) / sizeof(flagged[0]); i++) {
		struct keep_rule r;
		assert_true(conf_keep_ambiguous(flagged[i]));
		assert_true(conf_parse_keep(flagged[i], &r));
		assert_int_equal(r.kind, KEEP_MONTHS);
	}
	for (size_t i = 0; i < sizeof(clear) / sizeof(clear[0]); i++)
		if (conf_keep_ambiguous(clear[i]))
			fail_msg("\"%s\" flagged as ambiguous", clear[i]);
	assert_false(conf_keep_ambiguous(NULL));
}

/* The form conf_print writes: months spelt out, and it reads back. */
static void test_keep_format(void **state)
{
	(void)state;
	static const struct {
		struct keep_rule r;
		enum backup_type type;
		const char *text, *long_text;
	} cases[] = {
		{{KEEP_MONTHS, 30}, BT_CHANGE, "30months", "30 months"},
		{{KEEP_MONTHS, 1}, BT_MONTHLY, "1month", "1 month"},
		{{KEEP_MONTHS, 12}, BT_MONTHLY, "12months", "12 months"},
		{{KEEP_SECONDS, 7 * 86400}, BT_DAILY, "7d", "7 days"},
		{{KEEP_SECONDS, 14 * 86400}, BT_DAILY, "14d", "14 days"},
		{{KEEP_SECONDS, 28 * 86400}, BT_WEEKLY, "4w", "4 weeks"},
		{{KEEP_SECONDS, 86400}, BT_CHANGE, "24h", "24 hours"},
		{{KEEP_SECONDS, 3600}, BT_CHANGE, "1h", "1 hour"},
		{{KEEP_SECONDS, 1800}, BT_CHANGE, "30min", "30 minutes"},
		{{KEEP_SECONDS, 90}, BT_DAILY, "90s", "90 seconds"},
		{{KEEP_SECONDS, 2 * 86400}, BT_MONTHLY, "2d", "2 days"},
		{{KEEP_SECONDS, 0}, BT_DAILY, "0s", "0 seconds"},
		{{KEEP_FOREVER, 0}, BT_WEEKLY, "forever", "forever"},
	};
	char buf[64];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct keep_rule back;
		conf_format_keep(&cases[i].r, cases[i].type, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].text);
		assert_true(conf_parse_keep(buf, &back));
		assert_int_equal(back.kind, cases[i].r.kind);
		assert_int_equal(back.amount, cases[i].r.amount);
		assert_false(conf_keep_ambiguous(buf));
		conf_format_keep_long(&cases[i].r, cases[i].type, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].long_text);
	}

	struct retention_policy p;
	retention_policy_default(&p);
	char line[200];
	conf_format_policy_long(&p, line, sizeof(line));
	assert_string_equal(line, "daily 7 days, weekly 4 weeks, monthly 12 months, "
			    "change 24 hours");
	p.keep[BT_CHANGE] = (struct keep_rule){KEEP_MONTHS, 30};
	p.keep[BT_WEEKLY] = (struct keep_rule){KEEP_FOREVER, 0};
	conf_format_policy_long(&p, line, sizeof(line));
	assert_string_equal(line, "daily 7 days, weekly forever, monthly 12 months, "
			    "change 30 months");
	/* Cut short, still terminated. */
	conf_format_policy_long(&p, line, 20);
	assert_string_equal(line, "daily 7 days, weekl");
}

static void test_size(void **state)
{
	(void)state;
	static const struct {
		const char *s;
		unsigned long long bytes;
	} ok[] = {
		{"0", 0}, {"100", 100}, {"100B", 100}, {"512k", 512ULL << 10},
		{"512K", 512ULL << 10}, {"16M", 16ULL << 20}, {"16m", 16ULL << 20},
		{"16MB", 16ULL << 20}, {"5MiB", 5ULL << 20}, {"1G", 1ULL << 30},
		{"1GiB", 1ULL << 30}, {"2T", 2ULL << 40}, {"1KiB", 1024},
		{"18446744073709551615", 18446744073709551615ULL},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		unsigned long long v = 1;
		if (!conf_parse_size(ok[i].s, &v))
			fail_msg("size \"%s\" refused", ok[i].s);
		assert_true(v == ok[i].bytes);
	}
	static const char *const bad[] = {
		"", "M", "16 M", "-1", "1.5G", "16X", "16Mb", "16mib", "16MiBs", "iB", "16iB",
		"18446744073709551616", "17179869184G", "1e6", "16M ",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned long long v = 42;
		if (conf_parse_size(bad[i], &v))
			fail_msg("size \"%s\" accepted", bad[i]);
		assert_true(v == 42);
	}
}

static void test_bool(void **state)
{
	(void)state;
	static const char *const yes[] = {"true", "yes", "on", "1", "TRUE", "Yes", "On"};
	static const char *const no[] = {"false", "no", "off", "0", "False", "NO"};
	static const char *const bad[] = {"", "y", "n", "2", "enabled", "truee", " true", "t"};
	bool b;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		b = false;
		assert_true(conf_parse_bool(yes[i], &b));
		assert_true(b);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		b = true;
		assert_true(conf_parse_bool(no[i], &b));
		assert_false(b);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (conf_parse_bool(bad[i], &b))
			fail_msg("boolean \"%s\" accepted", bad[i]);
}

static void test_compression_and_log(void **state)
{
	(void)state;
	struct conf c;
	for (int level = 1; level <= 9; level++) {
		char text[64];
		snprintf(text, sizeof(text), "[local]\ncompression = %d\n", level);
		load_ok(&c, text, NULL);
		assert_int_equal(c.compression, level);
		conf_free(&c);
	}
	static const char *const bad_levels[] = {"0", "10", "-1", "6.0", "", "six", "06"};
	char msg[256];
	for (size_t i = 0; i < sizeof(bad_levels) / sizeof(bad_levels[0]); i++) {
		snprintf(msg, sizeof(msg), "cbsync.conf:2: [local] compression: \"%s\" is not a "
			 "compression level (1 fastest .. 9 smallest)", bad_levels[i]);
		expect_value_error("local", "compression", bad_levels[i], msg);
	}

	static const struct {
		const char *text;
		enum log_level level;
	} levels[] = {
		{"debug", LOG_DEBUG}, {"info", LOG_INFO}, {"warn", LOG_WARN}, {"error", LOG_ERROR},
		{"DEBUG", LOG_DEBUG},
	};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		char text[64];
		snprintf(text, sizeof(text), "[log]\nlevel = %s\n", levels[i].text);
		load_ok(&c, text, NULL);
		assert_int_equal(c.log_level, levels[i].level);
		conf_free(&c);
	}
	expect_value_error("log", "level", "verbose", "cbsync.conf:2: [log] level: \"verbose\" is "
			   "not a log level (debug, info, warn, error)");
	expect_value_error("log", "level", "warning", "cbsync.conf:2: [log] level: \"warning\" is "
			   "not a log level (debug, info, warn, error)");
	load_ok(&c, "[log]\nformat = json\n", NULL);
	assert_int_equal(c.log_format, LOG_FORMAT_JSON);
	conf_free(&c);
	load_ok(&c, "[log]\nformat = text\n", NULL);
	assert_int_equal(c.log_format, LOG_FORMAT_TEXT);
	conf_free(&c);
	expect_value_error("log", "format", "xml", "cbsync.conf:2: [log] format: \"xml\" is not a "
			   "log format (text, json)");
}

/* The error line for each kind of bad value in the fixed sections. */
static void test_value_error_messages(void **state)
{
	(void)state;
	expect_value_error("watch", "quiet", "5 seconds", "cbsync.conf:2: [watch] quiet: "
			   "\"5 seconds\" is not a duration (e.g. 5s, 2min)");
	expect_value_error("watch", "min_interval", "-1s", "cbsync.conf:2: [watch] min_interval: "
			   "\"-1s\" is not a duration (e.g. 5s, 2min)");
	expect_value_error("watch", "max_delay", "1.5.2s", "cbsync.conf:2: [watch] max_delay: "
			   "\"1.5.2s\" is not a duration (e.g. 5s, 2min)");
	expect_value_error("local", "lock_timeout", "12", "cbsync.conf:2: [local] lock_timeout: "
			   "\"12\" is not a duration (e.g. 5s, 2min)");
	expect_value_error("local", "keep_daily", "1x", "cbsync.conf:2: [local] keep_daily: "
			   "\"1x\" is not a retention rule (e.g. 7d, 4w, 12months, 24h, "
			   "90min, forever, off)");
	expect_value_error("local", "keep_change", "12", "cbsync.conf:2: [local] keep_change: "
			   "\"12\" is not a retention rule (e.g. 7d, 4w, 12months, 24h, "
			   "90min, forever, off)");
	expect_value_error("watch", "enabled", "maybe", "cbsync.conf:2: [watch] enabled: "
			   "\"maybe\" is not a boolean (true/false, yes/no, on/off, 1/0)");
	expect_value_error("schedule", "catch_up", "2", "cbsync.conf:2: [schedule] catch_up: "
			   "\"2\" is not a boolean (true/false, yes/no, on/off, 1/0)");
	expect_value_error("database", "path", "\"\"", "cbsync.conf:2: [database] path: \"\" is "
			   "empty (a path is needed)");
	expect_value_error("local", "dir", "", "cbsync.conf:2: [local] dir: \"\" is empty (a path "
			   "is needed)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_valid),
		cmocka_unit_test(test_duration_invalid),
		cmocka_unit_test(test_duration_format),
		cmocka_unit_test(test_seconds_format),
		cmocka_unit_test(test_keep_valid),
		cmocka_unit_test(test_keep_invalid),
		cmocka_unit_test(test_keep_ambiguous),
		cmocka_unit_test(test_keep_format),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_compression_and_log),
		cmocka_unit_test(test_value_error_messages),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
