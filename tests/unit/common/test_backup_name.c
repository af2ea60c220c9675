/*
 * Unit tests for common/backup_name.c: <db>_<type>_<YYYYMMDD_HHMMSS>.db.gz.
 */
#include "common/backup_name.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#define T_2026_02_02_120000 INT64_C(1770033600)
#define T_2024_02_29_235959 INT64_C(1709251199)

static void test_type_names(void **state)
{
	(void)state;
	static const char *const want[BT_COUNT] = {
		[BT_MANUAL] = "manual", [BT_DAILY] = "daily", [BT_WEEKLY] = "weekly",
		[BT_MONTHLY] = "monthly", [BT_CHANGE] = "change",
		[BT_RESTORE_POINT] = "restore_point",
	};
	for (int i = 0; i < BT_COUNT; i++) {
		enum backup_type t = BT_COUNT;
		assert_string_equal(backup_type_name((enum backup_type)i), want[i]);
		assert_true(backup_type_parse(want[i], &t));
		assert_int_equal(t, i);
	}
	assert_string_equal(backup_type_name(BT_COUNT), "unknown");
	assert_string_equal(backup_type_name((enum backup_type)-1), "unknown");

	static const char *const bad[] = {"", "Manual", "MANUAL", "restore point",
					  "restore-point", "restore", "point", "hourly",
					  "daily ", " daily", "unknown"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		enum backup_type t = BT_DAILY;
		assert_false(backup_type_parse(bad[i], &t));
		assert_int_equal(t, BT_DAILY); /* untouched */
	}
}

static void parse_ok(const char *name, const char *db, enum backup_type type,
		     int64_t created)
{
	struct backup_name n;
	memset(&n, 0x5A, sizeof(n));
	if (!backup_name_parse(name, &n))
		fail_msg("rejected \"%s\"", name);
	assert_string_equal(n.db, db);
	assert_int_equal(n.type, type);
	assert_int_equal(n.created, created);
	/* And the name can be rebuilt exactly. */
	char buf[BACKUP_NAME_MAX];
	assert_true(backup_name_format(&n, buf, sizeof(buf)));
	assert_string_equal(buf, name);
}

static void parse_bad(const char *name)
{
	struct backup_name n;
	memset(&n, 0x5A, sizeof(n));
	if (backup_name_parse(name, &n))
		fail_msg("accepted \"%s\" (db \"%.*s\")", name, 40, n.db);
	/* out is left alone on failure */
	unsigned char raw[sizeof(n)];
	memset(raw, 0x5A, sizeof(raw));
	assert_memory_equal(&n, raw, sizeof(n));
	assert_false(backup_name_parse(name, NULL));
}

static void test_format_every_type(void **state)
{
	(void)state;
	static const char *const want[BT_COUNT] = {
		[BT_MANUAL] = "cloudbrain_manual_20260202_120000.db.gz",
		[BT_DAILY] = "cloudbrain_daily_20260202_120000.db.gz",
		[BT_WEEKLY] = "cloudbrain_weekly_20260202_120000.db.gz",
		[BT_MONTHLY] = "cloudbrain_monthly_20260202_120000.db.gz",
		[BT_CHANGE] = "cloudbrain_change_20260202_120000.db.gz",
		[BT_RESTORE_POINT] = "cloudbrain_restore_point_20260202_120000.db.gz",
	};
	for (int i = 0; i < BT_COUNT; i++) {
		struct backup_name n = {.type = (enum backup_type)i,
					.created = T_2026_02_02_120000};
		memcpy(n.db, "cloudbrain", sizeof("cloudbrain"));
		char buf[BACKUP_NAME_MAX];
		memset(buf, 'x', sizeof(buf));
		assert_true(backup_name_format(&n, buf, sizeof(buf)));
		assert_string_equal(buf, want[i]);
		parse_ok(want[i], "cloudbrain", (enum backup_type)i, T_2026_02_02_120000);
	}
}

static void test_format_buffer_size(void **state)
{
	(void)state;
	struct backup_name n = {.type = BT_MANUAL, .created = T_2026_02_02_120000};
	memcpy(n.db, "db", 3);
	const char *want = "db_manual_20260202_120000.db.gz";
	size_t len = strlen(want);
	char buf[64];
	assert_true(backup_name_format(&n, buf, len + 1));
	assert_string_equal(buf, want);
	assert_false(backup_name_format(&n, buf, len));
	assert_false(backup_name_format(&n, buf, 10));
}

static void test_tricky_database_names(void **state)
{
	(void)state;
	int64_t t = T_2024_02_29_235959;
	parse_ok("my_daily_db_manual_20240229_235959.db.gz", "my_daily_db", BT_MANUAL, t);
	parse_ok("a_restore_daily_20240229_235959.db.gz", "a_restore", BT_DAILY, t);
	parse_ok("x_manual_weekly_20240229_235959.db.gz", "x_manual", BT_WEEKLY, t);
	parse_ok("x_manual_manual_20240229_235959.db.gz", "x_manual", BT_MANUAL, t);
	parse_ok("a_restore_restore_point_20240229_235959.db.gz", "a_restore",
		 BT_RESTORE_POINT, t);
	parse_ok("restore_point_restore_point_20240229_235959.db.gz", "restore_point",
		 BT_RESTORE_POINT, t);
	parse_ok("db_restore_point_change_20240229_235959.db.gz", "db_restore_point",
		 BT_CHANGE, t);
	parse_ok("x_point_restore_point_20240229_235959.db.gz", "x_point",
		 BT_RESTORE_POINT, t);
	parse_ok("a_20240229_235959_monthly_20240229_235959.db.gz",
		 "a_20240229_235959", BT_MONTHLY, t);
	parse_ok("x.db_daily_20240229_235959.db.gz", "x.db", BT_DAILY, t);
	parse_ok("a_daily_20240229_235959.db.gz_manual_20240229_235959.db.gz",
		 "a_daily_20240229_235959.db.gz", BT_MANUAL, t);
	/* The shortest possible database parts. */
	parse_ok("x_manual_20240229_235959.db.gz", "x", BT_MANUAL, t);
	parse_ok("__daily_20240229_235959.db.gz", "_", BT_DAILY, t);
	parse_ok("daily_daily_20240229_235959.db.gz", "daily", BT_DAILY, t);
	/* restore_point with a one-letter database. */
	parse_ok("r_restore_point_19700101_000000.db.gz", "r", BT_RESTORE_POINT, 0);
}

static void test_rejects(void **state)
{
	(void)state;
	/* Wrong suffix. */
	parse_bad("cloudbrain_manual_20260202_120000.db");
	parse_bad("cloudbrain_manual_20260202_120000.gz");
	parse_bad("cloudbrain_manual_20260202_120000.db.gz.json");
	parse_bad("cloudbrain_manual_20260202_120000.db.gzz");
	parse_bad("cloudbrain_manual_20260202_120000.DB.GZ");
	parse_bad("cloudbrain_manual_20260202_120000.sqlite.gz");
	parse_bad("cloudbrain_manual_20260202_120000");
	parse_bad(".db.gz");
	parse_bad("");
	/* Bad stamps. */
	parse_bad("cloudbrain_manual_20261302_120000.db.gz");  /* month 13 */
	parse_bad("cloudbrain_manual_20260230_120000.db.gz");  /* 30 Feb */
	parse_bad("cloudbrain_manual_20230229_120000.db.gz");  /* 29 Feb 2023 */
	parse_bad("cloudbrain_manual_20260202_250000.db.gz");  /* hour 25 */
	parse_bad("cloudbrain_manual_2026020a_120000.db.gz");  /* non-digit */
	parse_bad("cloudbrain_manual_2026-02-02_120000.db.gz");
	parse_bad("cloudbrain_manual_2026020_120000.db.gz");   /* short date */
	parse_bad("cloudbrain_manual_20260202_12000.db.gz");   /* short time */
	parse_bad("cloudbrain_manual_202602021_20000.db.gz");  /* misplaced _ */
	parse_bad("cloudbrain_manual_20260202120000.db.gz");   /* no _ in stamp */
	parse_bad("cloudbrain_manual-20260202_120000.db.gz");  /* no _ before */
	parse_bad("cloudbrain_manual_20260202_1200000.db.gz"); /* long time */
	parse_bad("20260202_120000.db.gz");
	/* Missing database part. */
	parse_bad("manual_20260202_120000.db.gz");
	parse_bad("_manual_20260202_120000.db.gz");
	parse_bad("restore_point_20260202_120000.db.gz");
	parse_bad("_restore_point_20260202_120000.db.gz");
	/* Unknown or missing type. */
	parse_bad("cloudbrain_hourly_20260202_120000.db.gz");
	parse_bad("cloudbrain_Manual_20260202_120000.db.gz");
	parse_bad("cloudbrain_20260202_120000.db.gz");
	parse_bad("cloudbrain_point_20260202_120000.db.gz");
	parse_bad("cloudbrain_restore_20260202_120000.db.gz");
	parse_bad("cloudbrainmanual_20260202_120000.db.gz");
	/* A path is not a file name. */
	parse_bad("ai_db/backups/cloudbrain_manual_20260202_120000.db.gz");
	parse_bad("../../etc/x_manual_20260202_120000.db.gz");
	parse_bad("/x_manual_20260202_120000.db.gz");
	parse_bad("a/_manual_20260202_120000.db.gz");
}

static void test_length_limits(void **state)
{
	(void)state;
	char db[BACKUP_NAME_MAX + 8];
	char name[BACKUP_NAME_MAX + 64];
	const char *tail = "_daily_20260202_120000.db.gz";

	/* A database part of exactly BACKUP_STEM_MAX characters is fine. */
	memset(db, 'd', BACKUP_STEM_MAX);
	db[BACKUP_STEM_MAX] = '\0';
	int w = snprintf(name, sizeof(name), "%s%s", db, tail);
	assert_true(w > 0 && (size_t)w < sizeof(name));
	parse_ok(name, db, BT_DAILY, T_2026_02_02_120000);

	/* One more is too long, although the whole name is under the limit. */
	memset(db, 'd', BACKUP_STEM_MAX + 1);
	db[BACKUP_STEM_MAX + 1] = '\0';
	snprintf(name, sizeof(name), "%s%s", db, tail);
	assert_true(strlen(name) < BACKUP_NAME_MAX);
	parse_bad(name);

	/* A whole name of BACKUP_NAME_MAX characters or more is refused. */
	size_t dl = BACKUP_NAME_MAX - strlen(tail);
	memset(db, 'd', dl);
	db[dl] = '\0';
	snprintf(name, sizeof(name), "%s%s", db, tail);
	assert_int_equal(strlen(name), BACKUP_NAME_MAX);
	parse_bad(name);
}

static void stem(const char *path, const char *want)
{
	char out[BACKUP_STEM_MAX + 1];
	memset(out, 'x', sizeof(out));
	backup_db_stem(path, out, sizeof(out));
	if (strcmp(out, want) != 0)
		fail_msg("stem of \"%s\" is \"%s\", want \"%s\"", path, out, want);
}

static void test_db_stem(void **state)
{
	(void)state;
	/* .db is stripped, other extensions stay. */
	stem("cloudbrain.db", "cloudbrain");
	stem("ai_db/cloudbrain.db", "cloudbrain");
	stem("/var/lib/app/main.db", "main");
	stem("./data/x.db", "x");
	stem("data.sqlite", "data.sqlite");
	stem("data.sqlite3", "data.sqlite3");
	stem("x.db.bak", "x.db.bak");
	stem("x.db.db", "x.db");
	stem("x.DB", "x.DB");
	stem("dir.db/file", "file");
	stem("noext", "noext");
	stem("my_daily_db.db", "my_daily_db");
	stem("a-b.c_d.db", "a-b.c_d");
	/* Unsafe characters become '-'. */
	stem("my db.db", "my-db");
	stem("dir/we!rd$name?.db", "we-rd-name-");
	stem("tab\there.db", "tab-here");
	stem("quote'\"x.db", "quote--x");
	stem("back\\slash.db", "back-slash");
	stem("caf\xc3\xa9.db", "caf--"); /* UTF-8 é is two bytes */
	stem("a:b*c.db", "a-b-c");
	/* Never empty. */
	stem("", "db");
	stem("dir/", "db");
	stem("/", "db");
	stem(".db", ".db");
	stem("dir/.db", ".db");
	stem("x.db/", "db");
	/* A leading dot is a safe character. */
	stem(".hidden.db", ".hidden");

	/* Longer than a stem may be: cut to BACKUP_STEM_MAX. */
	char path[400];
	memset(path, 'p', 300);
	memcpy(path + 300, ".db", 4);
	char out[BACKUP_STEM_MAX + 50];
	backup_db_stem(path, out, sizeof(out));
	assert_int_equal(strlen(out), BACKUP_STEM_MAX);
	for (size_t i = 0; i < BACKUP_STEM_MAX; i++)
		assert_int_equal(out[i], 'p');

	/* A small buffer truncates and terminates. */
	char small[5];
	backup_db_stem("ai_db/cloudbrain.db", small, sizeof(small));
	assert_string_equal(small, "clou");
	char one[1] = {'x'};
	backup_db_stem("ai_db/cloudbrain.db", one, sizeof(one));
	assert_int_equal(one[0], '\0');
}

/* A stem always makes a name that parses back to the same stem. */
static void test_stem_round_trip(void **state)
{
	(void)state;
	static const char *const paths[] = {
		"ai_db/cloudbrain.db", "my_daily_db.db", "x_manual.db", "a_restore.db",
		"we ird/na me!.db", "", "dir/", "a_restore_point.db", "v1.2.3.db",
		"_.db", "__daily__.db",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(*paths); i++) {
		for (int t = 0; t < BT_COUNT; t++) {
			struct backup_name n = {.type = (enum backup_type)t,
						.created = T_2024_02_29_235959};
			backup_db_stem(paths[i], n.db, sizeof(n.db));
			char buf[BACKUP_NAME_MAX];
			assert_true(backup_name_format(&n, buf, sizeof(buf)));
			parse_ok(buf, n.db, (enum backup_type)t, T_2024_02_29_235959);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_format_every_type),
		cmocka_unit_test(test_format_buffer_size),
		cmocka_unit_test(test_tricky_database_names),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_length_limits),
		cmocka_unit_test(test_db_stem),
		cmocka_unit_test(test_stem_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
