/*
 * Unit tests for common/increment.c: increment names and metadata.
 *
 * Bad metadata is made from a good document by changing one field with
 * jansson, so that each case changes exactly one thing.
 */
#include "common/increment.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 INT64_C(1764381600) /* 2025-11-29T02:00:00Z */
#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SNAP "cloudbrain_daily_20251129_020000.db.gz"
#define DIRP "increments/cloudbrain_daily_20251129_020000/"

static void test_name_round_trip(void **state)
{
	(void)state;
	struct incr_name n = {.seq_first = 1, .seq_last = 1, .first = T0 + 1, .last = T0 + 2};
	snprintf(n.snapshot, sizeof(n.snapshot), "%s", SNAP);
	char buf[INCR_NAME_MAX];
	assert_true(incr_name_format(&n, buf, sizeof(buf)));
	assert_string_equal(buf, DIRP "0000000001-0000000001_20251129_020001_20251129_020002.wal.gz");
	struct incr_name p;
	assert_true(incr_name_parse(buf, &p));
	assert_string_equal(p.snapshot, SNAP);
	assert_int_equal(p.seq_first, 1);
	assert_int_equal(p.seq_last, 1);
	assert_int_equal(p.first, T0 + 1);
	assert_int_equal(p.last, T0 + 2);

	/* A database part with underscores, a compacted range, the largest seq. */
	snprintf(n.snapshot, sizeof(n.snapshot), "my_db_v2_restore_point_20251129_020000.db.gz");
	n.seq_first = 61;
	n.seq_last = INCR_SEQ_MAX;
	assert_true(incr_name_format(&n, buf, sizeof(buf)));
	assert_true(incr_name_parse(buf, &p));
	assert_string_equal(p.snapshot, n.snapshot);
	assert_int_equal(p.seq_first, 61);
	assert_true(p.seq_last == INCR_SEQ_MAX);

	assert_false(p.rollup);

	/* A roll-up: the same name in the chain's rollups folder. */
	n.rollup = true;
	assert_true(incr_name_format(&n, buf, sizeof(buf)));
	assert_non_null(strstr(buf, "_020000/rollups/0000000061-"));
	assert_true(incr_name_parse(buf, &p));
	assert_true(p.rollup);
	assert_string_equal(p.snapshot, n.snapshot);
	assert_int_equal(p.seq_first, 61);
	n.rollup = false;

	/* Too small a buffer, and names that are not valid. */
	assert_false(incr_name_format(&n, buf, 20));
	n.seq_first = 0;
	assert_false(incr_name_format(&n, buf, sizeof(buf)));
	n.seq_first = 5;
	n.seq_last = 4;
	assert_false(incr_name_format(&n, buf, sizeof(buf)));
	n.seq_last = 5;
	n.last = n.first - 1;
	assert_false(incr_name_format(&n, buf, sizeof(buf)));
	n.last = n.first;
	snprintf(n.snapshot, sizeof(n.snapshot), "notabackup");
	assert_false(incr_name_format(&n, buf, sizeof(buf)));
}

static void test_name_sort_in_chain_order(void **state)
{
	(void)state;
	char a[INCR_NAME_MAX], b[INCR_NAME_MAX];
	struct incr_name n = {.seq_first = 9, .seq_last = 9, .first = T0 + 100, .last = T0 + 100};
	snprintf(n.snapshot, sizeof(n.snapshot), "%s", SNAP);
	assert_true(incr_name_format(&n, a, sizeof(a)));
	n.seq_first = n.seq_last = 10;
	n.first = n.last = T0 + 50; /* times cannot reorder a chain: seq comes first */
	assert_true(incr_name_format(&n, b, sizeof(b)));
	assert_true(strcmp(a, b) < 0);
}

static void test_name_refusals(void **state)
{
	(void)state;
	static const char *bad[] = {
		"",
		"increments/",
		SNAP,
		DIRP "0000000001-0000000001_20251129_020001_20251129_020002.wal.gz.json",
		DIRP "0000000001-0000000001_20251129_020001_20251129_020002.wal",
		"increment/cloudbrain_daily_20251129_020000/"
		"0000000001-0000000001_20251129_020001_20251129_020002.wal.gz",
		"increments/cloudbrain_daily_20251129_020000"
		"0000000001-0000000001_20251129_020001_20251129_020002.wal.gz",
		"increments//0000000001-0000000001_20251129_020001_20251129_020002.wal.gz",
		"increments/a/b_daily_20251129_020000/"
		"0000000001-0000000001_20251129_020001_20251129_020002.wal.gz",
		"increments/notasnapshot/"
		"0000000001-0000000001_20251129_020001_20251129_020002.wal.gz",
		DIRP "0000000000-0000000001_20251129_020001_20251129_020002.wal.gz",
		DIRP "0000000002-0000000001_20251129_020001_20251129_020002.wal.gz",
		DIRP "000000001a-0000000001_20251129_020001_20251129_020002.wal.gz",
		DIRP "0000000001_0000000001_20251129_020001_20251129_020002.wal.gz",
		DIRP "0000000001-0000000001-20251129_020001_20251129_020002.wal.gz",
		DIRP "0000000001-0000000001_20251129_020003_20251129_020002.wal.gz",
		DIRP "0000000001-0000000001_20251329_020001_20251129_020002.wal.gz",
		DIRP "0000000001-0000000001_20251129_020001_20251129_020002x.wal.gz",
		DIRP "1-1_20251129_020001_20251129_020002.wal.gz",
		DIRP "rollup/0000000001-0000000001_20251129_020001_20251129_020002.wal.gz",
		DIRP "x/rollups/0000000001-0000000001_20251129_020001_20251129_020002.wal.gz",
		DIRP "rollups/rollups/0000000001-0000000001_20251129_020001_20251129_020002.wal.gz",
		"increments/rollups/0000000001-0000000001_20251129_020001_20251129_020002.wal.gz",
		"increments//rollups/0000000001-0000000001_20251129_020001_20251129_020002.wal.gz",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (incr_name_parse(bad[i], NULL))
			fail_msg("accepted \"%s\"", bad[i]);
}

static void test_checksum_text(void **state)
{
	(void)state;
	char buf[17];
	uint64_t v;
	incr_checksum_format(UINT64_C(0x0123456789abcdef), buf);
	assert_string_equal(buf, "0123456789abcdef");
	assert_true(incr_checksum_parse(buf, &v));
	assert_true(v == UINT64_C(0x0123456789abcdef));
	incr_checksum_format(UINT64_MAX, buf);
	assert_true(incr_checksum_parse(buf, &v));
	assert_true(v == UINT64_MAX);
	assert_false(incr_checksum_parse("0123456789ABCDEF", &v));
	assert_false(incr_checksum_parse("0123456789abcde", &v));
	assert_false(incr_checksum_parse("0123456789abcdef0", &v));
	assert_false(incr_checksum_parse("0123456789abcdeg", &v));
}

static struct incr_meta sample(void)
{
	struct incr_meta m;
	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "%s",
		 DIRP "0000000002-0000000004_20251129_020001_20251129_020003.wal.gz");
	snprintf(m.database, sizeof(m.database), "cloudbrain");
	snprintf(m.snapshot, sizeof(m.snapshot), "%s", SNAP);
	snprintf(m.prev, sizeof(m.prev), "%s",
		 DIRP "0000000001-0000000001_20251129_020000_20251129_020001.wal.gz");
	m.seq_first = 2;
	m.seq_last = 4;
	m.first_tx_ms = (T0 + 1) * 1000 + 7;
	m.last_tx_ms = (T0 + 3) * 1000 + 999;
	m.page_size = 4096;
	m.page_count = 300;
	m.pages = 12;
	m.original_size = 32 + 12 * (24 + 4096);
	m.compressed_size = 9000;
	snprintf(m.sha256, sizeof(m.sha256), "%s", SHA_A);
	m.state_checksum = UINT64_C(0xfedcba9876543210);
	snprintf(m.version, sizeof(m.version), "0.1.0");
	return m;
}

static void test_meta_round_trip(void **state)
{
	(void)state;
	struct incr_meta m = sample(), back;
	struct error err = {0};
	char *text = incr_meta_to_json(&m);
	assert_non_null(text);
	assert_non_null(strstr(text, "\"first_tx\": \"2025-11-29T02:00:01.007Z\""));
	assert_non_null(strstr(text, "\"state_checksum\": \"fedcba9876543210\""));
	assert_int_equal(incr_meta_from_json(text, strlen(text), &back, &err), CB_OK);
	assert_memory_equal(&m, &back, sizeof(m));
	free(text);

	/* The first of a chain: no predecessor, written as null. */
	m = sample();
	memset(m.prev, 0, sizeof(m.prev));
	m.seq_first = 1;
	snprintf(m.name, sizeof(m.name), "%s",
		 DIRP "0000000001-0000000004_20251129_020001_20251129_020003.wal.gz");
	text = incr_meta_to_json(&m);
	assert_non_null(strstr(text, "\"prev\": null"));
	assert_int_equal(incr_meta_from_json(text, strlen(text), &back, &err), CB_OK);
	assert_memory_equal(&m, &back, sizeof(m));
	free(text);
}

/* Change one field of the sample's JSON and expect a refusal naming it. */
static void expect_refused(const char *field, json_t *value, const char *needle)
{
	struct incr_meta m = sample(), back;
	struct error err = {0};
	char *text = incr_meta_to_json(&m);
	json_t *o = json_loads(text, 0, NULL);
	free(text);
	assert_non_null(o);
	if (value)
		json_object_set_new(o, field, value);
	else
		json_object_del(o, field);
	text = json_dumps(o, 0);
	json_decref(o);
	enum result r = incr_meta_from_json(text, strlen(text), &back, &err);
	free(text);
	if (r != CB_ERR_CORRUPT)
		fail_msg("%s: accepted (%d)", field, r);
	if (!strstr(err.msg, needle))
		fail_msg("%s: \"%s\" does not say \"%s\"", field, err.msg, needle);
}

static void test_meta_refusals(void **state)
{
	(void)state;
	expect_refused("format", json_integer(2), "format 2");
	expect_refused("kind", json_string("snapshot"), "kind");
	expect_refused("name", NULL, "\"name\" is missing");
	expect_refused("name", json_string(SNAP), "\"name\"");
	expect_refused("snapshot", json_string("cloudbrain_daily_20251130_020000.db.gz"),
		       "does not match its name");
	expect_refused("database", json_string("other"), "\"database\"");
	expect_refused("seq_first", json_integer(3), "does not match its name");
	expect_refused("seq_last", json_integer(5), "does not match its name");
	expect_refused("first_tx", json_string("2025-11-29T02:00:02.000Z"), "does not match");
	expect_refused("first_tx", json_string("2025-11-29T02:00:01Z"), "\"first_tx\"");
	expect_refused("last_tx", json_string("2025-11-29T02:00:00.000Z"), "\"last_tx\"");
	expect_refused("page_size", json_integer(3000), "\"page_size\"");
	expect_refused("page_size", json_integer(131072), "\"page_size\"");
	expect_refused("pages", json_integer(301), "\"pages\"");
	expect_refused("pages", json_integer(-1), "\"pages\"");
	expect_refused("sha256", json_string("abc"), "\"sha256\"");
	expect_refused("state_checksum", json_string("FEDCBA9876543210"), "\"state_checksum\"");
	expect_refused("state_checksum", json_integer(5), "\"state_checksum\"");
	expect_refused("prev", NULL, "\"prev\" is missing");
	expect_refused("prev", json_integer(1), "\"prev\"");
	expect_refused("prev", json_null(), "\"prev\" is missing although");
	/* A predecessor that is not the one just before it. */
	expect_refused("prev",
		       json_string(DIRP "0000000001-0000000002_20251129_020000_20251129_020001.wal.gz"),
		       "\"prev\"");
	expect_refused("prev",
		       json_string("increments/cloudbrain_daily_20251128_020000/"
				   "0000000001-0000000001_20251128_020000_20251128_020001.wal.gz"),
		       "\"prev\"");
	expect_refused("prev",
		       json_string(DIRP "0000000001-0000000001_20251129_020000_20251129_020009.wal.gz"),
		       "\"prev\"");
	/* A roll-up is never an increment's predecessor. */
	expect_refused("prev",
		       json_string(DIRP "rollups/"
				   "0000000001-0000000001_20251129_020000_20251129_020001.wal.gz"),
		       "\"prev\"");

	struct incr_meta back;
	struct error err = {0};
	assert_int_equal(incr_meta_from_json("{", 1, &back, &err), CB_ERR_CORRUPT);
	assert_int_equal(incr_meta_from_json("[]", 2, &back, &err), CB_ERR_CORRUPT);
	const char *dup = "{\"format\":1,\"format\":1}";
	assert_int_equal(incr_meta_from_json(dup, strlen(dup), &back, &err), CB_ERR_CORRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_round_trip),
		cmocka_unit_test(test_name_sort_in_chain_order),
		cmocka_unit_test(test_name_refusals),
		cmocka_unit_test(test_checksum_text),
		cmocka_unit_test(test_meta_round_trip),
		cmocka_unit_test(test_meta_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
