/*
 * Unit tests for agent/engine/bgwrite.c: the file written on a second
 * thread.  The file gets exactly the bytes given, in order, for writes of
 * every size around the buffers' size; the state checksum computed on the
 * way is pagesum_build's; a failing write (a full device) is reported,
 * naming the path, and nothing hangs whether the caller finishes, gives up
 * half way, or syncs too early.  Each test works in a fresh directory.
 */
#include "agent/engine/bgwrite.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine_test.h"

#include <ftw.h>

struct ctx {
	char dir[64];
	char path[128];
};

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "/tmp/cbsync-bgwrite-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->path, sizeof(c->path), "%s/out", c->dir);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	nftw(c->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

/* n bytes that differ from one position to the next. */
static uint8_t *pattern(size_t n, uint32_t seed)
{
	uint8_t *p = malloc(n ? n : 1);
	assert_non_null(p);
	uint32_t x = seed * 2654435761u + 1;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
	return p;
}

/* Writes of each size, around the slot size and far past the ring's,
 * give the file the same bytes in the same order. */
static void test_bytes_in_order(void **state)
{
	struct ctx *c = *state;
	const size_t total = (size_t)BGWRITE_SLOTS * BGWRITE_SLOT_SIZE * 3 + 12345;
	uint8_t *data = pattern(total, 1);
	const size_t pieces[] = {1, 4095, BGWRITE_SLOT_SIZE - 1, BGWRITE_SLOT_SIZE,
				 BGWRITE_SLOT_SIZE + 1, total};
	for (size_t k = 0; k < sizeof(pieces) / sizeof(*pieces); k++) {
		/* one byte at a time is slow; a prefix says enough */
		size_t len = pieces[k] == 1 ? 3 * BGWRITE_SLOT_SIZE / 2 : total;
		unlink(c->path);
		int fd = open(c->path, O_RDWR | O_CREAT | O_EXCL, 0600);
		assert_true(fd >= 0);
		struct bgwrite *w = NULL;
		struct error err = {0};
		assert_int_equal(bgwrite_start(&w, fd, c->path, false, &err), CB_OK);
		for (size_t off = 0; off < len; off += pieces[k]) {
			size_t n = len - off < pieces[k] ? len - off : pieces[k];
			assert_int_equal(bgwrite_write(w, data + off, n, &err), CB_OK);
		}
		assert_int_equal(bgwrite_finish(w, &err), CB_OK);
		assert_int_equal(bgwrite_sync(w, &err), CB_OK);
		uint32_t ps;
		uint64_t sum;
		assert_false(bgwrite_checksum(w, &ps, &sum)); /* not asked for */
		bgwrite_free(w);
		close(fd);
		size_t got_len;
		uint8_t *got = slurp(c->path, &got_len);
		assert_int_equal(got_len, len);
		assert_memory_equal(got, data, len);
		free(got);
	}
	free(data);
}

/* The checksum on the way is the one of the file, read back. */
static void test_checksum_of_what_was_written(void **state)
{
	struct ctx *c = *state;
	char db_path[160];
	snprintf(db_path, sizeof(db_path), "%s/src.db", c->dir);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	/* About 3 MiB: pages cross the 1 MiB buffers' boundaries. */
	exec_ok(db, "PRAGMA page_size=1024; CREATE TABLE t(x);"
		    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
		    "WHERE i < 30000) INSERT INTO t SELECT printf('%08d row %0100d', i, i) FROM n;");
	sqlite3_close(db);
	size_t len;
	uint8_t *img = slurp(db_path, &len);
	assert_true(len > 2 * BGWRITE_SLOT_SIZE);
	int fd = open(c->path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	struct bgwrite *w = NULL;
	struct error err = {0};
	assert_int_equal(bgwrite_start(&w, fd, c->path, true, &err), CB_OK);
	for (size_t off = 0; off < len; off += 3000)
		assert_int_equal(bgwrite_write(w, img + off, len - off < 3000 ? len - off : 3000,
					       &err),
				 CB_OK);
	assert_int_equal(bgwrite_finish(w, &err), CB_OK);
	/* Nothing may follow finish. */
	assert_int_equal(bgwrite_write(w, img, 1, &err), CB_ERR_INTERNAL);
	uint32_t ps = 0;
	uint64_t sum = 0;
	assert_true(bgwrite_checksum(w, &ps, &sum));
	assert_int_equal(bgwrite_sync(w, &err), CB_OK);
	bgwrite_free(w);
	struct pagesum *t = NULL;
	assert_int_equal(pagesum_build(fd, 1024, &t, &err), CB_OK);
	assert_int_equal(ps, 1024);
	assert_true(sum == pagesum_checksum(t));
	pagesum_free(t);
	close(fd);
	free(img);
}

/* A device that is full: the failure comes back, with the path, from a
 * later write or from finish; nothing hangs. */
static void test_full_device(void **state)
{
	(void)state;
	int fd = open("/dev/full", O_WRONLY);
	if (fd < 0)
		skip();
	uint8_t *data = pattern(BGWRITE_SLOT_SIZE, 2);
	struct bgwrite *w = NULL;
	struct error err = {0};
	assert_int_equal(bgwrite_start(&w, fd, "/dev/full", false, &err), CB_OK);
	enum result r = CB_OK;
	for (int i = 0; i < 3 * BGWRITE_SLOTS && !r; i++)
		r = bgwrite_write(w, data, BGWRITE_SLOT_SIZE, &err);
	if (!r)
		r = bgwrite_finish(w, &err);
	assert_int_equal(r, CB_ERR_IO);
	assert_non_null(strstr(err.msg, "/dev/full"));
	/* and again: the first failure sticks */
	struct error again = {0};
	assert_int_not_equal(bgwrite_write(w, data, BGWRITE_SLOT_SIZE, &again), CB_OK);
	bgwrite_free(w);
	close(fd);
	free(data);
}

/* A caller that gives up with slots queued, or syncs before finishing. */
static void test_give_up_and_misuse(void **state)
{
	struct ctx *c = *state;
	uint8_t *data = pattern(BGWRITE_SLOT_SIZE, 3);
	int fd = open(c->path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	struct bgwrite *w = NULL;
	struct error err = {0};
	assert_int_equal(bgwrite_start(&w, fd, c->path, true, &err), CB_OK);
	for (int i = 0; i < BGWRITE_SLOTS + 1; i++)
		assert_int_equal(bgwrite_write(w, data, BGWRITE_SLOT_SIZE, &err), CB_OK);
	assert_int_equal(bgwrite_sync(w, &err), CB_ERR_INTERNAL);
	bgwrite_free(w);
	bgwrite_free(NULL);
	close(fd);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_bytes_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checksum_of_what_was_written, setup, teardown),
		cmocka_unit_test(test_full_device),
		cmocka_unit_test_setup_teardown(test_give_up_and_misuse, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
