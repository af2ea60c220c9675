/*
 * Unit tests for agent/tiers/replicate_state.c: the chain file, and the
 * place in the WAL it keeps -- written and read back exactly, and a place
 * that is missing or damaged read as unknown (the chain goes on by a page
 * diff) without making the chain itself unreadable.
 */
#include "agent/tiers/replicate.h"
#include "agent/tiers/replicate_internal.h"
#include "common/fsutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB "/srv/ai_db/cloudbrain.db"

static int setup(void **state)
{
	char *dir = strdup("/tmp/cbsync-chainfile-XXXXXX");
	if (!dir || !mkdtemp(dir))
		return -1;
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/%s", dir, REPLICATE_STATE_DIR);
	struct error err = {0};
	if (fs_mkdirs(sub, 0700, &err))
		return -1;
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	free(*state);
	return system(cmd) == 0 ? 0 : -1;
}

static struct chain_state sample(void)
{
	struct chain_state s = {.seq = 7, .last_ms = 1795969553171, .checksum = 0x0123456789abcdefu};
	snprintf(s.snapshot, sizeof(s.snapshot), "cloudbrain_daily_20261129_020000.db.gz");
	snprintf(s.last, sizeof(s.last), "increments/cloudbrain_daily_20261129_020000/"
					 "0000000007-0000000007_20261129_020001_20261129_020002.wal.gz");
	s.pos = (struct walpos){.valid = true, .salt = {0xfffffffeu, 17}, .ckpt = 3,
				.page_size = 65536, .big_endian = true, .frames = 4000000000u,
				.sum = {0x80000000u, 1}, .db_dev = 65024,
				.db_ino = 0xfedcba9876543210u, .wal_dev = 65024,
				.wal_ino = UINT64_MAX};
	return s;
}

static void rewrite(const char *dir, const char *from, const char *to)
{
	char *path = replicate_state_path(dir, DB, ".json"), *text = NULL;
	size_t len;
	struct error err = {0};
	assert_int_equal(fs_read_file(path, 65536, &text, &len, &err), CB_OK);
	char *at = strstr(text, from);
	assert_non_null(at);
	size_t size = len + strlen(to) + 1;
	char *out = malloc(size);
	assert_non_null(out);
	snprintf(out, size, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	assert_int_equal(fs_write_file_atomic(path, out, strlen(out), 0600, &err), CB_OK);
	free(out);
	free(text);
	free(path);
}

static void test_round_trip(void **state)
{
	const char *dir = *state;
	struct chain_state s = sample(), got;
	struct error err = {0};
	char why[160];
	assert_int_equal(replicate_state_write(dir, DB, &s, &err), CB_OK);
	assert_true(replicate_state_read(dir, DB, &got, why, sizeof(why)));
	assert_string_equal(got.snapshot, s.snapshot);
	assert_string_equal(got.last, s.last);
	assert_true(got.seq == s.seq && got.last_ms == s.last_ms && got.checksum == s.checksum);
	assert_true(walpos_equal(&got.pos, &s.pos));

	/* No place known: null, read as not known. */
	s.pos.valid = false;
	assert_int_equal(replicate_state_write(dir, DB, &s, &err), CB_OK);
	assert_true(replicate_state_read(dir, DB, &got, why, sizeof(why)));
	assert_false(got.pos.valid);
}

static void test_damaged_place_is_unknown(void **state)
{
	const char *dir = *state;
	struct chain_state s = sample(), got;
	struct error err = {0};
	char why[160];
	static const char *damage[][2] = {
		{"\"frames\": 4000000000", "\"frames\": -1"},
		{"\"frames\": 4000000000", "\"frames\": 4294967296"},
		{"\"big_endian\": true", "\"big_endian\": 1"},
		{"\"18364758544493064720\"", "\"18364758544493064720x\""},
		{"\"18446744073709551615\"", "\"184467440737095516150\""},
		{"\"salt\": [", "\"salts\": ["},
		{"\"ckpt\": 3,", ""},
	};
	for (size_t i = 0; i < sizeof(damage) / sizeof(*damage); i++) {
		assert_int_equal(replicate_state_write(dir, DB, &s, &err), CB_OK);
		rewrite(dir, damage[i][0], damage[i][1]);
		assert_true(replicate_state_read(dir, DB, &got, why, sizeof(why)));
		assert_false(got.pos.valid);
		assert_int_equal(got.seq, 7);
	}
	/* A chain file from before the place was kept has no "wal". */
	s.pos.valid = false;
	assert_int_equal(replicate_state_write(dir, DB, &s, &err), CB_OK);
	rewrite(dir, ",\n  \"wal\": null", "");
	assert_true(replicate_state_read(dir, DB, &got, why, sizeof(why)));
	assert_false(got.pos.valid);
	/* The chain itself damaged: no chain to trust. */
	rewrite(dir, "\"seq\": 7", "\"seq\": \"7\"");
	assert_false(replicate_state_read(dir, DB, &got, why, sizeof(why)));
	assert_string_equal(why, "the chain file is damaged");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_place_is_unknown, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
