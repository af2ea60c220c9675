/*
 * Unit tests for common/meta.c: backup metadata to and from JSON.
 *
 * Bad documents are made by taking a good one apart with jansson (deleting
 * or replacing one field at a time), so each test changes exactly one thing.
 */
#include "common/meta.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T_2026_02_02_120000 INT64_C(1770033600)
#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static double absd(double x)
{
	return x < 0 ? -x : x;
}

static struct backup_meta sample(void)
{
	struct backup_meta m;
	memset(&m, 0, sizeof(m));
	snprintf(m.name, sizeof(m.name), "cloudbrain_manual_20260202_120000.db.gz");
	snprintf(m.database, sizeof(m.database), "cloudbrain");
	m.type = BT_MANUAL;
	m.created = T_2026_02_02_120000;
	m.original_size = 1048576;
	m.compressed_size = 262144;
	snprintf(m.sha256, sizeof(m.sha256), "%s", SHA_A);
	m.page_size = 4096;
	m.page_count = 256;
	snprintf(m.version, sizeof(m.version), "0.1.0");
	return m;
}

/* The sample as a jansson object (via meta_to_json), for editing. */
static json_t *sample_object(void)
{
	struct backup_meta m = sample();
	char *text = meta_to_json(&m);
	assert_non_null(text);
	json_error_t jerr;
	json_t *o = json_loads(text, 0, &jerr);
	free(text);
	assert_non_null(o);
	return o;
}

/* Parse o's text; return the result and leave the message in err. */
static enum result parse_object(json_t *o, struct backup_meta *out, struct error *err)
{
	char *text = json_dumps(o, JSON_COMPACT);
	assert_non_null(text);
	enum result r = meta_from_json(text, strlen(text), out, err);
	free(text);
	return r;
}

/* Expect o to be refused as corrupt with exactly the message want, and out
 * to be left untouched. */
static void expect_refused(json_t *o, const char *want)
{
	struct backup_meta out;
	struct error err = {0};
	memset(&out, 0x3C, sizeof(out));
	enum result r = parse_object(o, &out, &err);
	if (r != CB_ERR_CORRUPT)
		fail_msg("result %d, want CB_ERR_CORRUPT (%s)", (int)r, want);
	assert_int_equal(err.code, CB_ERR_CORRUPT);
	assert_string_equal(err.msg, want);
	unsigned char raw[sizeof(out)];
	memset(raw, 0x3C, sizeof(raw));
	assert_memory_equal(&out, raw, sizeof(out));
}

static void test_round_trip(void **state)
{
	(void)state;
	for (int t = 0; t < BT_COUNT; t++) {
		struct backup_meta m = sample();
		m.type = (enum backup_type)t;
		struct backup_name bn = {.type = m.type, .created = m.created};
		snprintf(bn.db, sizeof(bn.db), "my_daily_db");
		snprintf(m.database, sizeof(m.database), "my_daily_db");
		assert_true(backup_name_format(&bn, m.name, sizeof(m.name)));
		m.original_size = 1000 + t;
		m.compressed_size = 10 + t;
		m.page_size = 512 << t;
		m.page_count = 7 * t;
		snprintf(m.sha256, sizeof(m.sha256), "%s", SHA_A);
		m.sha256[0] = (char)('a' + t);

		char *text = meta_to_json(&m);
		assert_non_null(text);
		size_t len = strlen(text);
		assert_true(len > 2);
		assert_int_equal(text[len - 1], '\n');
		assert_int_equal(text[len - 2], '}');

		struct backup_meta back;
		struct error err = {0};
		memset(&back, 0x11, sizeof(back));
		assert_int_equal(meta_from_json(text, len, &back, &err), CB_OK);
		assert_string_equal(back.name, m.name);
		assert_string_equal(back.database, m.database);
		assert_int_equal(back.type, m.type);
		assert_int_equal(back.created, m.created);
		assert_int_equal(back.original_size, m.original_size);
		assert_int_equal(back.compressed_size, m.compressed_size);
		assert_string_equal(back.sha256, m.sha256);
		assert_int_equal(back.page_size, m.page_size);
		assert_int_equal(back.page_count, m.page_count);
		assert_string_equal(back.version, m.version);
		free(text);
	}
}

/* The optional state checksum: written only when there is one, read back,
 * and refused in any other spelling. */
static void test_state_checksum(void **state)
{
	(void)state;
	struct backup_meta m = sample(), back;
	struct error err = {0};
	char *text = meta_to_json(&m);
	assert_null(strstr(text, "state_checksum"));
	assert_int_equal(meta_from_json(text, strlen(text), &back, &err), CB_OK);
	assert_false(back.has_state_checksum);
	free(text);

	m.has_state_checksum = true;
	m.state_checksum = UINT64_C(0x00ff00ff00ff00ff);
	text = meta_to_json(&m);
	assert_non_null(strstr(text, "\"state_checksum\": \"00ff00ff00ff00ff\""));
	/* still ending with who wrote it */
	assert_true(strstr(text, "state_checksum") < strstr(text, "\"tool\""));
	memset(&back, 0, sizeof(back));
	assert_int_equal(meta_from_json(text, strlen(text), &back, &err), CB_OK);
	assert_true(back.has_state_checksum);
	assert_true(back.state_checksum == m.state_checksum);
	free(text);

	static const char *bad[] = {"\"00FF00FF00FF00FF\"", "\"00ff\"", "12", "null",
				    "\"00ff00ff00ff00fg\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		m.has_state_checksum = false;
		text = meta_to_json(&m);
		char *end = strrchr(text, '}');
		*end = '\0';
		char *doc = NULL;
		assert_true(asprintf(&doc, "%s, \"state_checksum\": %s}", text, bad[i]) > 0);
		assert_int_equal(meta_from_json(doc, strlen(doc), &back, &err), CB_ERR_CORRUPT);
		assert_non_null(strstr(err.msg, "state_checksum"));
		free(doc);
		free(text);
	}
}

/* The optional state time: written only when there is one, to the
 * millisecond, never before created; older backups fall back to created. */
static void test_state_time(void **state)
{
	(void)state;
	struct backup_meta m = sample(), back;
	struct error err = {0};
	char *text = meta_to_json(&m);
	assert_null(strstr(text, "state_time"));
	assert_int_equal(meta_from_json(text, strlen(text), &back, &err), CB_OK);
	assert_false(back.has_state_time);
	assert_int_equal(meta_state_ms(&back), m.created * 1000);
	free(text);

	m.has_state_time = true;
	m.state_ms = m.created * 1000 + 1250;
	text = meta_to_json(&m);
	assert_non_null(strstr(text, "\"state_time\": \"2026-02-02T12:00:01.250Z\""));
	assert_true(strstr(text, "state_time") < strstr(text, "\"tool\""));
	memset(&back, 0, sizeof(back));
	assert_int_equal(meta_from_json(text, strlen(text), &back, &err), CB_OK);
	assert_true(back.has_state_time);
	assert_int_equal(back.state_ms, m.state_ms);
	assert_int_equal(meta_state_ms(&back), m.state_ms);
	assert_false(back.has_state_checksum);
	free(text);

	static const char *bad[] = {"\"2026-02-02T11:59:59.999Z\"",  /* before created */
				    "\"2026-02-02T12:00:01Z\"", "\"2026-02-02T12:00:01.25Z\"",
				    "1770033601250", "null", "\"soon\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		m.has_state_time = false;
		text = meta_to_json(&m);
		char *end = strrchr(text, '}');
		*end = '\0';
		char *doc = NULL;
		assert_true(asprintf(&doc, "%s, \"state_time\": %s}", text, bad[i]) > 0);
		assert_int_equal(meta_from_json(doc, strlen(doc), &back, &err), CB_ERR_CORRUPT);
		assert_non_null(strstr(err.msg, "state_time"));
		free(doc);
		free(text);
	}
	/* Exactly created is fine. */
	m.has_state_time = true;
	m.state_ms = m.created * 1000;
	text = meta_to_json(&m);
	assert_int_equal(meta_from_json(text, strlen(text), &back, &err), CB_OK);
	assert_int_equal(back.state_ms, m.created * 1000);
	free(text);
}

static void test_json_fields(void **state)
{
	(void)state;
	json_t *o = sample_object();
	assert_int_equal(json_integer_value(json_object_get(o, "format")), 1);
	assert_string_equal(json_string_value(json_object_get(o, "name")),
			    "cloudbrain_manual_20260202_120000.db.gz");
	assert_string_equal(json_string_value(json_object_get(o, "database")), "cloudbrain");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "manual");
	assert_string_equal(json_string_value(json_object_get(o, "created")),
			    "2026-02-02T12:00:00Z");
	assert_int_equal(json_integer_value(json_object_get(o, "original_size")), 1048576);
	assert_int_equal(json_integer_value(json_object_get(o, "compressed_size")), 262144);
	json_t *ratio = json_object_get(o, "compression_ratio");
	assert_true(json_is_real(ratio));
	assert_true(absd(json_real_value(ratio) - 75.0) < 1e-9);
	assert_string_equal(json_string_value(json_object_get(o, "sha256")), SHA_A);
	assert_int_equal(json_integer_value(json_object_get(o, "page_size")), 4096);
	assert_int_equal(json_integer_value(json_object_get(o, "page_count")), 256);
	assert_string_equal(json_string_value(json_object_get(o, "tool")), "cbsync");
	assert_string_equal(json_string_value(json_object_get(o, "version")), "0.1.0");
	assert_int_equal(json_object_size(o), 13);
	json_decref(o);
}

static void test_ratio_in_json_rounded(void **state)
{
	(void)state;
	struct backup_meta m = sample();
	m.original_size = 3;
	m.compressed_size = 1; /* 66.666...% saved */
	char *text = meta_to_json(&m);
	assert_non_null(text);
	json_t *o = json_loads(text, 0, NULL);
	assert_non_null(o);
	assert_true(absd(json_real_value(json_object_get(o, "compression_ratio")) - 66.67) <
		    1e-9);
	json_decref(o);
	free(text);

	m.original_size = 0;
	m.compressed_size = 20; /* an empty database */
	text = meta_to_json(&m);
	o = json_loads(text, 0, NULL);
	assert_non_null(o);
	assert_true(absd(json_real_value(json_object_get(o, "compression_ratio"))) < 1e-12);
	json_decref(o);
	free(text);
}

static void test_meta_ratio(void **state)
{
	(void)state;
	assert_true(absd(meta_ratio(1048576, 262144) - 75.0) < 1e-12);
	assert_true(absd(meta_ratio(100, 25) - 75.0) < 1e-12);
	assert_true(absd(meta_ratio(100, 100)) < 1e-12);
	assert_true(absd(meta_ratio(100, 0) - 100.0) < 1e-12);
	assert_true(absd(meta_ratio(100, 150) + 50.0) < 1e-12); /* grew */
	assert_true(absd(meta_ratio(0, 0)) < 1e-12);
	assert_true(absd(meta_ratio(0, 20)) < 1e-12);
	assert_true(absd(meta_ratio(-5, 20)) < 1e-12);
	assert_true(absd(meta_ratio(3, 1) - 200.0 / 3.0) < 1e-9);
}

static const char *const required[] = {
	"format", "name", "database", "type", "created", "original_size",
	"compressed_size", "sha256", "page_size", "page_count", "version",
};

static void test_missing_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(required) / sizeof(*required); i++) {
		json_t *o = sample_object();
		assert_int_equal(json_object_del(o, required[i]), 0);
		char want[128];
		snprintf(want, sizeof(want), "metadata field \"%s\" is missing", required[i]);
		expect_refused(o, want);
		json_decref(o);
	}
}

static void test_wrong_types(void **state)
{
	(void)state;
	static const char *const ints[] = {"format", "original_size", "compressed_size",
					   "page_size", "page_count"};
	static const char *const strs[] = {"name", "database", "type", "created", "sha256",
					   "version"};
	char want[128];
	for (size_t i = 0; i < sizeof(ints) / sizeof(*ints); i++) {
		snprintf(want, sizeof(want), "metadata field \"%s\" is not an integer", ints[i]);
		json_t *o = sample_object();
		json_object_set_new(o, ints[i], json_string("4096"));
		expect_refused(o, want);
		json_object_set_new(o, ints[i], json_real(4096.0));
		expect_refused(o, want);
		json_object_set_new(o, ints[i], json_null());
		expect_refused(o, want);
		json_object_set_new(o, ints[i], json_true());
		expect_refused(o, want);
		json_decref(o);
	}
	for (size_t i = 0; i < sizeof(strs) / sizeof(*strs); i++) {
		snprintf(want, sizeof(want), "metadata field \"%s\" is not a string", strs[i]);
		json_t *o = sample_object();
		json_object_set_new(o, strs[i], json_integer(1));
		expect_refused(o, want);
		json_object_set_new(o, strs[i], json_array());
		expect_refused(o, want);
		json_object_set_new(o, strs[i], json_null());
		expect_refused(o, want);
		json_decref(o);
	}
}

static void test_out_of_range(void **state)
{
	(void)state;
	json_t *o = sample_object();
	json_object_set_new(o, "original_size", json_integer(-1));
	expect_refused(o, "metadata field \"original_size\" is out of range");
	json_decref(o);

	o = sample_object();
	json_object_set_new(o, "compressed_size", json_integer(-1));
	expect_refused(o, "metadata field \"compressed_size\" is out of range");
	json_decref(o);

	o = sample_object();
	json_object_set_new(o, "page_size", json_integer(511));
	expect_refused(o, "metadata field \"page_size\" is out of range");
	json_decref(o);

	o = sample_object();
	json_object_set_new(o, "page_count", json_integer(-3));
	expect_refused(o, "metadata field \"page_count\" is out of range");
	json_decref(o);

	o = sample_object();
	json_object_set_new(o, "format", json_integer(0));
	expect_refused(o, "metadata field \"format\" is out of range");
	json_decref(o);

	/* The smallest legal values are accepted. */
	o = sample_object();
	json_object_set_new(o, "original_size", json_integer(0));
	json_object_set_new(o, "compressed_size", json_integer(0));
	json_object_set_new(o, "page_size", json_integer(512));
	json_object_set_new(o, "page_count", json_integer(0));
	struct backup_meta m;
	struct error err = {0};
	assert_int_equal(parse_object(o, &m, &err), CB_OK);
	assert_int_equal(m.page_size, 512);
	assert_int_equal(m.page_count, 0);
	json_decref(o);
}

static void test_unsupported_format(void **state)
{
	(void)state;
	json_t *o = sample_object();
	json_object_set_new(o, "format", json_integer(2));
	expect_refused(o, "metadata format 2 is not supported by this version");
	json_object_set_new(o, "format", json_integer(1000));
	expect_refused(o, "metadata format 1000 is not supported by this version");
	json_decref(o);
}

static void test_bad_sha256(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"",
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde",   /* 63 */
		"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeg",  /* g */
		"0123456789abcdef0123456789abcdef 123456789abcdef0123456789abcdef",  /* space */
		"0x23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_t *o = sample_object();
		json_object_set_new(o, "sha256", json_string(bad[i]));
		expect_refused(o, "metadata field \"sha256\" is not a SHA-256 digest");
		json_decref(o);
	}
	/* 65 digits does not fit the field at all. */
	json_t *o = sample_object();
	json_object_set_new(o, "sha256", json_string(SHA_A "0"));
	expect_refused(o, "metadata field \"sha256\" is too long");
	json_decref(o);

	/* Upper-case hex is a valid digest. */
	o = sample_object();
	json_object_set_new(o, "sha256", json_string("0123456789ABCDEF0123456789ABCDEF"
						     "0123456789ABCDEF0123456789ABCDEF"));
	struct backup_meta m;
	struct error err = {0};
	assert_int_equal(parse_object(o, &m, &err), CB_OK);
	assert_string_equal(m.sha256, "0123456789ABCDEF0123456789ABCDEF"
				      "0123456789ABCDEF0123456789ABCDEF");
	json_decref(o);
}

static void test_bad_created(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"", "yesterday", "2026-02-30T12:00:00Z", "2026-02-02T12:00:00+01:00",
		"20260202_120000", "2026-02-02T25:00:00Z", "1770033600",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		json_t *o = sample_object();
		json_object_set_new(o, "created", json_string(bad[i]));
		expect_refused(o, "metadata field \"created\" is not an ISO 8601 UTC time");
		json_decref(o);
	}
	/* Another accepted ISO form for the same second is fine. */
	json_t *o = sample_object();
	json_object_set_new(o, "created", json_string("2026-02-02 12:00:00"));
	struct backup_meta m;
	struct error err = {0};
	assert_int_equal(parse_object(o, &m, &err), CB_OK);
	assert_int_equal(m.created, T_2026_02_02_120000);
	json_decref(o);
}

static void test_bad_type_and_name(void **state)
{
	(void)state;
	json_t *o = sample_object();
	json_object_set_new(o, "type", json_string("hourly"));
	expect_refused(o, "metadata field \"type\" is not a backup type");
	json_decref(o);

	o = sample_object();
	json_object_set_new(o, "name", json_string("cloudbrain.db"));
	expect_refused(o, "metadata field \"name\" is not a backup name");
	json_decref(o);

	o = sample_object();
	json_object_set_new(o, "name", json_string("cloudbrain_manual_20260202_120000.db.gz.json"));
	expect_refused(o, "metadata field \"name\" is not a backup name");
	json_decref(o);

	/* Too long for the field. */
	char longname[BACKUP_NAME_MAX + 20];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	o = sample_object();
	json_object_set_new(o, "name", json_string(longname));
	expect_refused(o, "metadata field \"name\" is too long");
	json_decref(o);

	o = sample_object();
	json_object_set_new(o, "version", json_string("0123456789012345678901234567890123"));
	expect_refused(o, "metadata field \"version\" is too long");
	json_decref(o);
}

static void test_name_mismatch(void **state)
{
	(void)state;
	const char *want = "metadata does not match its name "
			   "\"cloudbrain_manual_20260202_120000.db.gz\"";
	json_t *o = sample_object();
	json_object_set_new(o, "type", json_string("daily"));
	expect_refused(o, want);
	json_decref(o);

	o = sample_object();
	json_object_set_new(o, "created", json_string("2026-02-02T12:00:01Z"));
	expect_refused(o, want);
	json_decref(o);

	o = sample_object();
	json_object_set_new(o, "database", json_string("other"));
	expect_refused(o, want);
	json_decref(o);

	o = sample_object();
	json_object_set_new(o, "database", json_string("cloudbrain_manual"));
	expect_refused(o, want);
	json_decref(o);

	/* A restore point whose name agrees is fine. */
	o = sample_object();
	json_object_set_new(o, "name", json_string("cloudbrain_restore_point_20260202_120000.db.gz"));
	json_object_set_new(o, "type", json_string("restore_point"));
	struct backup_meta m;
	struct error err = {0};
	assert_int_equal(parse_object(o, &m, &err), CB_OK);
	assert_int_equal(m.type, BT_RESTORE_POINT);
	json_decref(o);
}

static void test_not_json(void **state)
{
	(void)state;
	static const char *const texts[] = {
		"", "{", "not json", "{\"format\":1,}", "{\"format\" 1}",
		"{\"format\":1} trailing",
	};
	for (size_t i = 0; i < sizeof(texts) / sizeof(*texts); i++) {
		struct backup_meta m;
		struct error err = {0};
		assert_int_equal(meta_from_json(texts[i], strlen(texts[i]), &m, &err),
				 CB_ERR_CORRUPT);
		assert_int_equal(err.code, CB_ERR_CORRUPT);
		if (strncmp(err.msg, "metadata is not valid JSON (line ", 33) != 0)
			fail_msg("\"%s\": message \"%s\"", texts[i], err.msg);
	}
	static const char *const non_objects[] = {"[1,2]", "null", "42", "\"text\"", "[]"};
	for (size_t i = 0; i < sizeof(non_objects) / sizeof(*non_objects); i++) {
		struct backup_meta m;
		struct error err = {0};
		enum result r = meta_from_json(non_objects[i], strlen(non_objects[i]), &m, &err);
		assert_int_equal(r, CB_ERR_CORRUPT);
		/* jansson refuses some bare values outright; either message is right */
		if (strcmp(err.msg, "metadata is not a JSON object") != 0 &&
		    strncmp(err.msg, "metadata is not valid JSON", 26) != 0)
			fail_msg("\"%s\": message \"%s\"", non_objects[i], err.msg);
	}
	/* A NUL inside the given length is not JSON either. */
	struct backup_meta m;
	struct error err = {0};
	assert_int_equal(meta_from_json("{}\0{}", 5, &m, &err), CB_ERR_CORRUPT);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	struct backup_meta m0 = sample();
	char *text = meta_to_json(&m0);
	assert_non_null(text);
	/* Append a second "type" after the first '{'. */
	size_t len = strlen(text);
	char *dup = malloc(len + 32);
	assert_non_null(dup);
	int w = snprintf(dup, len + 32, "{\"type\":\"manual\",%s", text + 1);
	assert_true(w > 0);
	struct backup_meta m;
	struct error err = {0};
	assert_int_equal(meta_from_json(dup, strlen(dup), &m, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "metadata is not valid JSON"));
	assert_non_null(strstr(err.msg, "duplicate"));
	free(dup);
	free(text);
}

static void test_length_respected(void **state)
{
	(void)state;
	struct backup_meta m0 = sample();
	char *text = meta_to_json(&m0);
	assert_non_null(text);
	size_t len = strlen(text);
	/* Garbage beyond len is never looked at. */
	char *padded = malloc(len + 16);
	assert_non_null(padded);
	memcpy(padded, text, len);
	memcpy(padded + len, "garbage garbage", 16);
	struct backup_meta m;
	struct error err = {0};
	assert_int_equal(meta_from_json(padded, len, &m, &err), CB_OK);
	assert_string_equal(m.name, m0.name);
	/* A short length cuts the document. */
	assert_int_equal(meta_from_json(padded, len / 2, &m, &err), CB_ERR_CORRUPT);
	/* err may be NULL. */
	assert_int_equal(meta_from_json(padded, len / 2, &m, NULL), CB_ERR_CORRUPT);
	free(padded);
	free(text);
}

static void test_extra_fields_allowed(void **state)
{
	(void)state;
	/* A newer writer may add fields; the reader ignores what it does not know. */
	json_t *o = sample_object();
	json_object_set_new(o, "comment", json_string("hello"));
	struct backup_meta m;
	struct error err = {0};
	assert_int_equal(parse_object(o, &m, &err), CB_OK);
	assert_int_equal(m.original_size, 1048576);
	json_decref(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_state_checksum),
		cmocka_unit_test(test_state_time),
		cmocka_unit_test(test_json_fields),
		cmocka_unit_test(test_ratio_in_json_rounded),
		cmocka_unit_test(test_meta_ratio),
		cmocka_unit_test(test_missing_fields),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_unsupported_format),
		cmocka_unit_test(test_bad_sha256),
		cmocka_unit_test(test_bad_created),
		cmocka_unit_test(test_bad_type_and_name),
		cmocka_unit_test(test_name_mismatch),
		cmocka_unit_test(test_not_json),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_length_respected),
		cmocka_unit_test(test_extra_fields_allowed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
