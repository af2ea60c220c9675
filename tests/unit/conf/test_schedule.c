/*
 * Unit tests for schedules and time zones (schedule.c): daily, weekly and
 * monthly times, "off", and time zone names checked against tzdata.
 */
#include "conf_test.h"
#include "conf/conf_internal.h"

/* Schedules go through conf_load, as their parser is private. */
static void load_schedule(const char *key, const char *value, struct conf_schedule *out)
{
	char text[256];
	struct conf c;
	snprintf(text, sizeof(text), "[schedule]\n%s = %s\n", key, value);
	load_ok(&c, text, NULL);
	*out = strcmp(key, "daily") == 0 ? c.daily : strcmp(key, "weekly") == 0 ? c.weekly :
	       c.monthly;
	conf_free(&c);
}

static void test_schedule_valid(void **state)
{
	(void)state;
	static const struct {
		const char *key, *value;
		bool enabled;
		int hour, minute, second, weekday, mday;
	} ok[] = {
		{"daily", "02:00", true, 2, 0, 0, 0, 0},
		{"daily", "2:00", true, 2, 0, 0, 0, 0},
		{"daily", "23:59:59", true, 23, 59, 59, 0, 0},
		{"daily", "00:00", true, 0, 0, 0, 0, 0},
		{"daily", "off", false, 0, 0, 0, 0, 0},
		{"daily", "never", false, 0, 0, 0, 0, 0},
		{"weekly", "sun 03:00", true, 3, 0, 0, 0, 0},
		{"weekly", "SAT 23:30", true, 23, 30, 0, 6, 0},
		{"weekly", "Wednesday 12:00:30", true, 12, 0, 30, 3, 0},
		{"weekly", "thu    01:02", true, 1, 2, 0, 4, 0},
		{"weekly", "mon\t01:02", true, 1, 2, 0, 1, 0},
		{"weekly", "Off", false, 0, 0, 0, 0, 0},
		{"monthly", "1 04:00", true, 4, 0, 0, 0, 1},
		{"monthly", "31 23:00", true, 23, 0, 0, 0, 31},
		{"monthly", "15 6:05:07", true, 6, 5, 7, 0, 15},
		{"monthly", "never", false, 0, 0, 0, 0, 0},
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		struct conf_schedule s;
		load_schedule(ok[i].key, ok[i].value, &s);
		assert_int_equal(s.enabled, ok[i].enabled);
		if (!s.enabled)
			continue;
		assert_int_equal(s.hour, ok[i].hour);
		assert_int_equal(s.minute, ok[i].minute);
		assert_int_equal(s.second, ok[i].second);
		if (strcmp(ok[i].key, "weekly") == 0)
			assert_int_equal(s.weekday, ok[i].weekday);
		if (strcmp(ok[i].key, "monthly") == 0)
			assert_int_equal(s.mday, ok[i].mday);
	}
}

static void test_schedule_invalid(void **state)
{
	(void)state;
	static const char *const daily[] = {
		"24:00", "02:60", "02:00:60", "2", "02", "02:0", "002:00", "02:00:", "2pm",
		"02:00 am", "sun 03:00", "-1:00", "02:00:00:00",
	};
	static const char *const weekly[] = {
		"03:00", "sun", "sunday3:00", "su 03:00", "sund 03:00", "funday 03:00",
		"sun 25:00", "7 03:00", "sun,mon 03:00",
	};
	static const char *const monthly[] = {
		"04:00", "0 04:00", "32 04:00", "1", "first 04:00", "-1 04:00", "1st 04:00",
		"1 4", "01x 04:00",
	};
	char msg[512];
	for (size_t i = 0; i < sizeof(daily) / sizeof(daily[0]); i++) {
		snprintf(msg, sizeof(msg), "cbsync.conf:2: [schedule] daily: \"%s\" is not a time "
			 "of day (HH:MM or HH:MM:SS, or off)", daily[i]);
		expect_value_error("schedule", "daily", daily[i], msg);
	}
	for (size_t i = 0; i < sizeof(weekly) / sizeof(weekly[0]); i++) {
		snprintf(msg, sizeof(msg), "cbsync.conf:2: [schedule] weekly: \"%s\" is not a weekly "
			 "schedule (a day and a time, e.g. sun 03:00, or off)", weekly[i]);
		expect_value_error("schedule", "weekly", weekly[i], msg);
	}
	for (size_t i = 0; i < sizeof(monthly) / sizeof(monthly[0]); i++) {
		snprintf(msg, sizeof(msg), "cbsync.conf:2: [schedule] monthly: \"%s\" is not a "
			 "monthly schedule (a day 1..31 and a time, e.g. 1 04:00, or off)", monthly[i]);
		expect_value_error("schedule", "monthly", monthly[i], msg);
	}
}

static void test_timezone(void **state)
{
	(void)state;
	struct conf c;
	struct error err;

	/* Real zones from tzdata, and UTC in any case. */
	load_ok(&c, "[schedule]\ntimezone = Europe/Berlin\n", NULL);
	assert_string_equal(c.timezone, "Europe/Berlin");
	conf_free(&c);
	load_ok(&c, "[schedule]\ntimezone = utc\n", NULL);
	assert_string_equal(c.timezone, "UTC");
	conf_free(&c);
	load_ok(&c, "[schedule]\ntimezone = America/Argentina/Buenos_Aires\n", NULL);
	conf_free(&c);

	/* $TZDIR is honoured, and a zone file must look like one. */
	assert_int_equal(mkdir("zones", 0700), 0);
	assert_int_equal(mkdir("zones/Test", 0700), 0);
	write_text("zones/Test/Zone", "TZif2 and then some");
	write_text("zones/Test/NotAZone", "Europe/Berlin\n");
	char *env[] = {"TZDIR=zones", NULL};
	write_text("cbsync.conf", "[schedule]\ntimezone = Test/Zone\n");
	assert_int_equal(load_ex(&c, &err, "cbsync.conf", env, NULL, NULL), CB_OK);
	assert_string_equal(c.timezone, "Test/Zone");
	conf_free(&c);
	write_text("cbsync.conf", "[schedule]\ntimezone = Europe/Berlin\n");
	assert_int_equal(load_ex(&c, &err, "cbsync.conf", env, NULL, NULL), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cbsync.conf:2: [schedule] timezone: \"Europe/Berlin\" is not "
			    "a known time zone (no zone file 'zones/Europe/Berlin'); HINT: use UTC "
			    "or an IANA name such as Europe/Berlin, and install tzdata");
	write_text("cbsync.conf", "[schedule]\ntimezone = Test/NotAZone\n");
	assert_int_equal(load_ex(&c, &err, "cbsync.conf", env, NULL, NULL), CB_ERR_CONFIG);
	write_text("cbsync.conf", "[schedule]\ntimezone = Test\n");
	assert_int_equal(load_ex(&c, &err, "cbsync.conf", env, NULL, NULL), CB_ERR_CONFIG);

	static const char *const bad_names[] = {
		"../etc/passwd", "/etc/localtime", "Europe/../Europe/Berlin", "Europe/Ber lin",
		"Europe/Berlin;", "",
	};
	char msg[512];
	for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		snprintf(msg, sizeof(msg), "cbsync.conf:2: [schedule] timezone: \"%s\" is not a time "
			 "zone name (UTC or an IANA name such as Europe/Berlin)", bad_names[i]);
		expect_value_error("schedule", "timezone", bad_names[i], msg);
	}
	expect_value_error("schedule", "timezone", "Mars/Olympus_Mons",
			   "cbsync.conf:2: [schedule] timezone: \"Mars/Olympus_Mons\" is not a "
			   "known time zone (no zone file '/usr/share/zoneinfo/Mars/Olympus_Mons'); "
			   "HINT: use UTC or an IANA name such as Europe/Berlin, and install tzdata");
	expect_value_error("schedule", "timezone", "America",
			   "cbsync.conf:2: [schedule] timezone: \"America\" is not a known time zone "
			   "(no zone file '/usr/share/zoneinfo/America'); HINT: use UTC or an IANA "
			   "name such as Europe/Berlin, and install tzdata");
}

/* What conf_print writes: two-digit times, seconds only when set, the
 * weekday's short name; and it reads back the same. */
static void test_schedule_format(void **state)
{
	(void)state;
	static const struct {
		enum conf_vtype kind;
		const char *value, *written;
	} rows[] = {
		{VT_DAILY, "2:00", "02:00"},
		{VT_DAILY, "23:59:59", "23:59:59"},
		{VT_DAILY, "00:00:00", "00:00"},
		{VT_WEEKLY, "Monday 4:15:30", "mon 04:15:30"},
		{VT_WEEKLY, "SUN\t03:00", "sun 03:00"},
		{VT_MONTHLY, "31 5:00", "31 05:00"},
		{VT_MONTHLY, "never", "off"},
		{VT_DAILY, "OFF", "off"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct conf_schedule sc, again;
		char buf[32], buf2[32];
		if (!conf_parse_schedule(rows[i].value, rows[i].kind, &sc))
			fail_msg("schedule \"%s\" refused", rows[i].value);
		conf_format_schedule(&sc, rows[i].kind, buf, sizeof(buf));
		assert_string_equal(buf, rows[i].written);
		assert_true(conf_parse_schedule(buf, rows[i].kind, &again));
		conf_format_schedule(&again, rows[i].kind, buf2, sizeof(buf2));
		assert_string_equal(buf2, buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule_valid),
		cmocka_unit_test(test_schedule_invalid),
		cmocka_unit_test(test_schedule_format),
		cmocka_unit_test(test_timezone),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
