/*
 * Unit tests for agent/engine/pagesum*.c: the state checksum and the
 * page-hash table, over real SQLite database files made here at every page
 * size from 512 to 65536.  The central property: a table brought up to date
 * from the changed pages alone (resize, then update) has the same checksum
 * as one built from scratch from the changed file -- after inserts, deletes,
 * a VACUUM that shrinks the file and growth.  Then what the checksum must
 * tell apart (pages swapped, the same bytes at another page number, a page
 * appended or cut off), the lock-byte page, the saved file (round trip,
 * every byte of it flipped, every truncation), the log of changes appended
 * after it (replayed at load, torn anywhere, left from another base, folded
 * into a new base) and the hex form it is written in (common/increment.h's).
 * Each test works in a fresh directory under /tmp.
 */
#include "agent/engine/pagesum.h"
#include "common/hash.h"
#include "common/increment.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ctx {
	char dir[64];
	char db[128];
	char sums[128];
	char tmp[128];
};

/* ---- helpers ------------------------------------------------------------- */

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
	assert_non_null(c);
	snprintf(c->dir, sizeof(c->dir), "/tmp/cbsync-pagesum-XXXXXX");
	assert_non_null(mkdtemp(c->dir));
	snprintf(c->db, sizeof(c->db), "%s/db", c->dir);
	snprintf(c->sums, sizeof(c->sums), "%s/pagesums", c->dir);
	snprintf(c->tmp, sizeof(c->tmp), "%s/tmp", c->dir);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	nftw(c->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("SQL \"%s\" failed: %s", sql, msg ? msg : "?");
}

/* A rollback-journal database (so the file itself is the committed state
 * after each statement) with the given page size and an empty table. */
static sqlite3 *open_db(const char *path, uint32_t page_size)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char sql[128];
	snprintf(sql, sizeof(sql), "PRAGMA page_size=%u", (unsigned)page_size);
	exec_ok(db, sql);
	exec_ok(db, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF;"
		    "CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT, y BLOB);"
		    "CREATE INDEX t_x ON t(x);");
	return db;
}

/* rows rows of varied text and blobs of blob_len bytes, in one transaction. */
static void insert_rows(sqlite3 *db, int first, int rows, int blob_len)
{
	exec_ok(db, "BEGIN");
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(id, x, y) VALUES (?, ?, ?)", -1,
					    &st, NULL),
			 SQLITE_OK);
	uint8_t *blob = malloc((size_t)blob_len + 1);
	assert_non_null(blob);
	for (int i = first; i < first + rows; i++) {
		char x[64];
		snprintf(x, sizeof(x), "x value %d %08x", i, i * 2654435761u);
		for (int j = 0; j < blob_len; j++)
			blob[j] = (uint8_t)(i * 31 + j * 7);
		sqlite3_bind_int(st, 1, i);
		sqlite3_bind_text(st, 2, x, -1, SQLITE_TRANSIENT);
		sqlite3_bind_blob(st, 3, blob, blob_len, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	free(blob);
	sqlite3_finalize(st);
	exec_ok(db, "COMMIT");
}

/* The whole file at path, in a new buffer. */
static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	long n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	uint8_t *buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void spill(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static struct pagesum *build_path(const char *path, uint32_t page_size)
{
	struct error err = {0};
	struct pagesum *t = NULL;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	if (pagesum_build(fd, page_size, &t, &err) != CB_OK)
		fail_msg("pagesum_build: %s", err.msg);
	close(fd);
	return t;
}

static uint64_t checksum_of(const char *path, uint32_t page_size)
{
	struct pagesum *t = build_path(path, page_size);
	uint64_t sum = pagesum_checksum(t);
	pagesum_free(t);
	return sum;
}

/* The checksum computed page by page with pagesum_page, as a cross-check. */
static uint64_t checksum_by_hand(const uint8_t *img, size_t len, uint32_t page_size)
{
	uint64_t sum = 0;
	for (size_t o = 0; o < len; o += page_size) {
		uint64_t h;
		assert_int_equal(pagesum_page((uint32_t)(o / page_size) + 1, img + o, page_size,
					      &h, NULL),
				 CB_OK);
		sum ^= h;
	}
	return sum;
}

static const uint32_t page_sizes[] = {512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
#define N_PAGE_SIZES (sizeof(page_sizes) / sizeof(page_sizes[0]))

/* ---- building ------------------------------------------------------------ */

/* The checksum of an image streamed past in pieces of any size is the one
 * pagesum_build gives (want), with the page size from the header. */
static void assert_stream_matches(const uint8_t *img, size_t len, uint32_t ps, uint64_t want)
{
	const size_t pieces[] = {1, 7, 17, ps - 1, ps, ps + 1, 100000, len};
	for (size_t p = 0; p < sizeof(pieces) / sizeof(*pieces); p++) {
		struct pagesum_stream *s = NULL;
		assert_int_equal(pagesum_stream_new(&s, NULL), CB_OK);
		for (size_t off = 0; off < len; off += pieces[p]) {
			size_t n = len - off < pieces[p] ? len - off : pieces[p];
			assert_true(pagesum_stream_feed(s, img + off, n));
		}
		uint32_t got_ps = 0;
		uint64_t sum = 0;
		assert_true(pagesum_stream_result(s, &got_ps, &sum));
		assert_int_equal(got_ps, ps);
		assert_true(sum == want);
		pagesum_stream_free(s);
	}
}

static void test_build_matches_pages(void **state)
{
	struct ctx *c = *state;
	for (size_t k = 0; k < N_PAGE_SIZES; k++) {
		uint32_t ps = page_sizes[k];
		unlink(c->db);
		sqlite3 *db = open_db(c->db, ps);
		insert_rows(db, 0, 300, 200);
		sqlite3_close(db);

		size_t len;
		uint8_t *img = slurp(c->db, &len);
		assert_true(len >= 2 * (size_t)ps);
		struct pagesum *t = build_path(c->db, ps);
		assert_int_equal(pagesum_page_size(t), ps);
		assert_int_equal(pagesum_page_count(t), len / ps);
		uint64_t sum = 0;
		for (uint32_t p = 1; p <= pagesum_page_count(t); p++) {
			uint64_t h;
			assert_int_equal(pagesum_page(p, img + (size_t)(p - 1) * ps, ps, &h, NULL),
					 CB_OK);
			assert_true(pagesum_get(t, p) == h);
			assert_false(pagesum_changed(t, p, img + (size_t)(p - 1) * ps));
			sum ^= h;
		}
		assert_true(pagesum_checksum(t) == sum);
		assert_true(sum != 0);
		assert_true(pagesum_get(t, 0) == 0);
		assert_true(pagesum_get(t, pagesum_page_count(t) + 1) == 0);
		assert_stream_matches(img, len, ps, sum);
		pagesum_free(t);
		free(img);
	}
}

/* No checksum for what is not whole pages of a SQLite image: the caller
 * reads the file instead. */
static void test_stream_without_a_checksum(void **state)
{
	struct ctx *c = *state;
	unlink(c->db);
	sqlite3 *db = open_db(c->db, 4096);
	insert_rows(db, 0, 50, 200);
	sqlite3_close(db);
	size_t len;
	uint8_t *img = slurp(c->db, &len);
	uint32_t ps;
	uint64_t sum;
	struct {
		size_t cut;    /* bytes fed */
		int damage;    /* byte changed first, -1 none */
	} cases[] = {{0, -1}, {10, -1}, {len - 1, -1}, {len, 0}, {len, 16}, {len, 17}};
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct pagesum_stream *s = NULL;
		assert_int_equal(pagesum_stream_new(&s, NULL), CB_OK);
		if (cases[i].damage >= 0)
			img[cases[i].damage] ^= 0x5a;
		assert_true(pagesum_stream_feed(s, img, cases[i].cut));
		if (cases[i].damage >= 0)
			img[cases[i].damage] ^= 0x5a;
		assert_false(pagesum_stream_result(s, &ps, &sum));
		pagesum_stream_free(s);
	}
	free(img);
}

/* The lock page counts as 0 in a stream too (an image just past 1 GiB of
 * 64 KiB pages, each page the same bytes but the first). */
static void test_stream_lock_page(void **state)
{
	(void)state;
	const uint32_t ps = 65536;
	uint32_t lock = pagesum_lock_page(ps);
	uint8_t *first = calloc(1, ps), *page = malloc(ps);
	assert_non_null(first);
	assert_non_null(page);
	memcpy(first, "SQLite format 3", 16);
	first[16] = 0;
	first[17] = 1; /* 65536 */
	for (uint32_t i = 0; i < ps; i++)
		page[i] = (uint8_t)(i * 7);
	struct pagesum_stream *s = NULL;
	assert_int_equal(pagesum_stream_new(&s, NULL), CB_OK);
	uint64_t want = 0, h;
	for (uint32_t p = 1; p <= lock + 1; p++) {
		const uint8_t *b = p == 1 ? first : page;
		assert_true(pagesum_stream_feed(s, b, ps));
		assert_int_equal(pagesum_page(p, b, ps, &h, NULL), CB_OK);
		want ^= h;
	}
	uint32_t got_ps;
	uint64_t sum;
	assert_true(pagesum_stream_result(s, &got_ps, &sum));
	assert_int_equal(got_ps, ps);
	assert_true(sum == want);
	pagesum_stream_free(s);
	free(first);
	free(page);
}

/* Bring a table from the image before to the image after as a capture
 * would: resize to the new count, then update the pages that changed.
 * Two ways of finding them, both checked against a build from scratch:
 * byte comparison with the old image (as WAL frames would name them), and
 * pagesum_changed (as a page diff does), which must find exactly those. */
static void apply_and_compare(const char *path, uint32_t ps, const uint8_t *old, size_t old_len,
			      struct pagesum *by_bytes, struct pagesum *by_hash)
{
	size_t len;
	uint8_t *img = slurp(path, &len);
	assert_int_equal(len % ps, 0);
	uint32_t count = (uint32_t)(len / ps);
	assert_int_equal(pagesum_resize(by_bytes, count, NULL), CB_OK);
	assert_int_equal(pagesum_resize(by_hash, count, NULL), CB_OK);
	for (uint32_t p = 1; p <= count; p++) {
		const uint8_t *page = img + (size_t)(p - 1) * ps;
		size_t off = (size_t)(p - 1) * ps;
		bool differs = off + ps > old_len || memcmp(page, old + off, ps) != 0;
		if (differs)
			assert_int_equal(pagesum_update(by_bytes, p, page, NULL), CB_OK);
		bool changed = pagesum_changed(by_hash, p, page);
		assert_int_equal(changed, differs);
		if (changed)
			assert_int_equal(pagesum_update(by_hash, p, page, NULL), CB_OK);
		assert_false(pagesum_changed(by_hash, p, page));
	}
	uint64_t fresh = checksum_of(path, ps);
	assert_true(pagesum_checksum(by_bytes) == fresh);
	assert_true(pagesum_checksum(by_hash) == fresh);
	assert_true(checksum_by_hand(img, len, ps) == fresh);
	assert_int_equal(pagesum_page_count(by_hash), count);
	free(img);
}

static void test_incremental_equals_rebuild(void **state)
{
	struct ctx *c = *state;
	for (size_t k = 0; k < N_PAGE_SIZES; k++) {
		uint32_t ps = page_sizes[k];
		unlink(c->db);
		sqlite3 *db = open_db(c->db, ps);
		insert_rows(db, 0, 400, 150);
		struct pagesum *a = build_path(c->db, ps);
		struct pagesum *b = build_path(c->db, ps);
		size_t old_len;
		uint8_t *old = slurp(c->db, &old_len);

		/* each step, then the table follows it */
		const char *steps[] = {
			"insert", "UPDATE t SET x = x || '!' WHERE id % 7 = 0",
			"DELETE FROM t WHERE id % 3 = 0", "DELETE FROM t WHERE id >= 100",
			"VACUUM", "grow", "DELETE FROM t", "VACUUM",
		};
		size_t size_before_vacuum = 0;
		for (size_t s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
			if (strcmp(steps[s], "insert") == 0)
				insert_rows(db, 1000, 50, 100);
			else if (strcmp(steps[s], "grow") == 0)
				insert_rows(db, 5000, 120, 3 * (int)ps / 2);
			else
				exec_ok(db, steps[s]);
			if (strcmp(steps[s], "VACUUM") == 0)
				size_before_vacuum = old_len;
			apply_and_compare(c->db, ps, old, old_len, a, b);
			free(old);
			old = slurp(c->db, &old_len);
			if (strcmp(steps[s], "VACUUM") == 0)
				assert_true(old_len < size_before_vacuum);  /* it did shrink */
		}
		sqlite3_close(db);
		free(old);
		pagesum_free(a);
		pagesum_free(b);
	}
}

/* pagesum_trust: a table that starts from a recorded checksum and reads a
 * page of the image only when a change needs its old hash follows the
 * database exactly as a table built from every page does, through growth,
 * VACUUM (pages cut off) and deletes, when each page is written into the
 * image after its update; a wrong starting checksum is carried along. */
static void test_trusted_table_follows_the_image(void **state)
{
	struct ctx *c = *state;
	char image[600];
	snprintf(image, sizeof(image), "%s.image", c->db);
	for (size_t k = 0; k < N_PAGE_SIZES; k++) {
		uint32_t ps = page_sizes[k];
		unlink(c->db);
		sqlite3 *db = open_db(c->db, ps);
		insert_rows(db, 0, 300, 150);
		size_t len;
		uint8_t *img = slurp(c->db, &len);
		spill(image, img, len);
		free(img);
		int fd = open(image, O_RDWR);
		assert_true(fd >= 0);
		uint64_t start = checksum_of(image, ps);
		struct pagesum *t = NULL, *off = NULL;
		assert_int_equal(pagesum_trust(fd, ps, start, &t, NULL), CB_OK);
		int fd2 = open(image, O_RDONLY);
		assert_int_equal(pagesum_trust(fd2, ps, start ^ 1, &off, NULL), CB_OK);
		assert_true(pagesum_checksum(t) == start);
		const char *steps[] = {"UPDATE t SET x = x || '!' WHERE id % 5 = 0", "grow",
				       "DELETE FROM t WHERE id % 2 = 0", "VACUUM"};
		for (size_t s2 = 0; s2 < sizeof(steps) / sizeof(steps[0]); s2++) {
			if (strcmp(steps[s2], "grow") == 0)
				insert_rows(db, 5000, 80, 2 * (int)ps);
			else
				exec_ok(db, steps[s2]);
			size_t new_len, old_len;
			uint8_t *now = slurp(c->db, &new_len);
			uint8_t *was = slurp(image, &old_len);
			uint32_t count = (uint32_t)(new_len / ps);
			assert_int_equal(pagesum_resize(t, count, NULL), CB_OK);
			assert_int_equal(pagesum_resize(off, count, NULL), CB_OK);
			for (uint32_t p = 1; p <= count; p++) {
				size_t o = (size_t)(p - 1) * ps;
				if (o + ps <= old_len && memcmp(now + o, was + o, ps) == 0)
					continue;
				assert_int_equal(pagesum_update(t, p, now + o, NULL), CB_OK);
				assert_int_equal(pagesum_update(off, p, now + o, NULL), CB_OK);
				assert_int_equal(pwrite(fd, now + o, ps, (off_t)o), (ssize_t)ps);
			}
			assert_int_equal(ftruncate(fd, (off_t)new_len), 0);
			uint64_t fresh = checksum_of(c->db, ps);
			assert_true(pagesum_checksum(t) == fresh);
			assert_true(pagesum_checksum(off) == (fresh ^ 1));
			assert_int_equal(pagesum_page_count(t), count);
			free(now);
			free(was);
		}
		pagesum_free(t);
		pagesum_free(off);
		close(fd);
		close(fd2);
		sqlite3_close(db);
		unlink(image);
	}
}

static void test_resize_xors_out_and_requires_new_pages(void **state)
{
	struct ctx *c = *state;
	sqlite3 *db = open_db(c->db, 1024);
	insert_rows(db, 0, 200, 100);
	sqlite3_close(db);
	size_t len;
	uint8_t *img = slurp(c->db, &len);
	uint32_t n = (uint32_t)(len / 1024);
	struct pagesum *t = build_path(c->db, 1024);

	/* cutting pages off leaves the checksum of the pages that remain */
	assert_int_equal(pagesum_resize(t, n - 3, NULL), CB_OK);
	assert_true(pagesum_checksum(t) == checksum_by_hand(img, (size_t)(n - 3) * 1024, 1024));
	assert_true(pagesum_get(t, n - 2) == 0);

	/* pages added count for nothing, and are changed, until supplied */
	assert_int_equal(pagesum_resize(t, n, NULL), CB_OK);
	assert_true(pagesum_checksum(t) == checksum_by_hand(img, (size_t)(n - 3) * 1024, 1024));
	for (uint32_t p = n - 2; p <= n; p++) {
		assert_true(pagesum_get(t, p) == 0);
		assert_true(pagesum_changed(t, p, img + (size_t)(p - 1) * 1024));
		assert_int_equal(pagesum_update(t, p, img + (size_t)(p - 1) * 1024, NULL), CB_OK);
	}
	assert_true(pagesum_checksum(t) == checksum_by_hand(img, len, 1024));

	/* a page the database does not have */
	struct error err = {0};
	assert_int_equal(pagesum_update(t, 0, img, &err), CB_ERR_CORRUPT);
	assert_int_equal(pagesum_update(t, n + 1, img, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "beyond"));
	assert_true(pagesum_changed(t, n + 1, img));
	assert_true(pagesum_checksum(t) == checksum_by_hand(img, len, 1024));

	/* down to nothing and back */
	assert_int_equal(pagesum_resize(t, 0, NULL), CB_OK);
	assert_true(pagesum_checksum(t) == 0);
	assert_int_equal(pagesum_resize(t, n, NULL), CB_OK);
	for (uint32_t p = 1; p <= n; p++)
		assert_int_equal(pagesum_update(t, p, img + (size_t)(p - 1) * 1024, NULL), CB_OK);
	assert_true(pagesum_checksum(t) == checksum_by_hand(img, len, 1024));
	pagesum_free(t);
	free(img);
}

/* ---- what the checksum tells apart --------------------------------------- */

static void test_swapped_pages_differ(void **state)
{
	struct ctx *c = *state;
	for (size_t k = 0; k < N_PAGE_SIZES; k++) {
		uint32_t ps = page_sizes[k];
		unlink(c->db);
		sqlite3 *db = open_db(c->db, ps);
		insert_rows(db, 0, 200, (int)ps / 2);
		sqlite3_close(db);
		size_t len;
		uint8_t *img = slurp(c->db, &len);
		uint32_t n = (uint32_t)(len / ps);
		assert_true(n >= 4);
		uint8_t *p2 = img + (size_t)1 * ps, *pl = img + (size_t)(n - 1) * ps;
		assert_memory_not_equal(p2, pl, ps);
		uint64_t before = checksum_of(c->db, ps);

		uint8_t *swap = malloc(ps);
		assert_non_null(swap);
		memcpy(swap, p2, ps);
		memcpy(p2, pl, ps);
		memcpy(pl, swap, ps);
		free(swap);
		spill(c->tmp, img, len);
		uint64_t after = checksum_of(c->tmp, ps);
		assert_true(before != after);
		/* the same multiset of page bytes: only the page numbers differ */
		assert_true(after == checksum_by_hand(img, len, ps));
		free(img);
	}
}

/* Identical bytes at different page numbers hash differently, so pages
 * that repeat do not cancel out of the XOR: [a, b, b] and [a, c, c] differ,
 * as do [a, b] and [a, b, zero page]. */
static void test_same_content_different_pgno(void **state)
{
	struct ctx *c = *state;
	const uint32_t ps = 4096;
	uint8_t *img = calloc(4, ps);
	assert_non_null(img);
	for (uint32_t i = 0; i < ps; i++) {
		img[i] = (uint8_t)(i * 13);
		img[ps + i] = (uint8_t)(i * 17 + 1);
	}
	uint64_t h2, h3;
	assert_int_equal(pagesum_page(2, img + ps, ps, &h2, NULL), CB_OK);
	assert_int_equal(pagesum_page(3, img + ps, ps, &h3, NULL), CB_OK);
	assert_true(h2 != h3);

	memcpy(img + 2 * ps, img + ps, ps);  /* [a, b, b] */
	spill(c->tmp, img, 3 * ps);
	uint64_t abb = checksum_of(c->tmp, ps);
	for (uint32_t i = 0; i < ps; i++)
		img[ps + i] = img[2 * ps + i] = (uint8_t)(i * 29 + 3);  /* [a, c, c] */
	spill(c->tmp, img, 3 * ps);
	uint64_t acc = checksum_of(c->tmp, ps);
	assert_true(abb != acc);

	/* a page of zeros appended or cut off changes the checksum */
	memset(img + 3 * ps, 0, ps);
	spill(c->tmp, img, 4 * ps);
	assert_true(checksum_of(c->tmp, ps) != acc);
	free(img);
}

/* The lock-byte page counts as 0 whatever its bytes.  (A build over a real
 * image past it would read 1 GiB, seconds in a unit test; build hashes
 * through the same function as update, tested here.) */
static void test_lock_page(void **state)
{
	struct ctx *c = *state;
	const uint32_t ps = 65536;
	uint32_t lock = pagesum_lock_page(ps);
	assert_int_equal(lock, 16385);
	assert_int_equal(pagesum_lock_page(512), 2097153);
	assert_int_equal(pagesum_lock_page(4096), 262145);
	assert_int_equal(pagesum_lock_page(0), 0);
	assert_int_equal(pagesum_lock_page(1000), 0);
	uint8_t *page = malloc(ps), *zero = calloc(1, ps);
	assert_non_null(page);
	assert_non_null(zero);
	for (uint32_t i = 0; i < ps; i++)
		page[i] = (uint8_t)(i ^ (i >> 8));
	uint64_t h = 1;
	assert_int_equal(pagesum_page(1, zero, 0, &h, NULL), CB_ERR_INTERNAL);
	assert_int_equal(pagesum_page(lock, page, ps, &h, NULL), CB_OK);
	assert_true(h == 0);

	/* a table over pages 1..lock+1, pages 1, lock - 1, lock and lock + 1
	 * supplied (the rest stay unsupplied: 0) */
	struct pagesum *t = NULL;
	assert_int_equal(pagesum_new(ps, &t, NULL), CB_OK);
	assert_int_equal(pagesum_resize(t, lock + 1, NULL), CB_OK);
	uint32_t supplied[] = {1, lock - 1, lock, lock + 1};
	uint64_t sum = 0;
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(pagesum_update(t, supplied[i], page, NULL), CB_OK);
		assert_int_equal(pagesum_page(supplied[i], page, ps, &h, NULL), CB_OK);
		assert_true(pagesum_get(t, supplied[i]) == h);
		sum ^= h;
	}
	assert_true(pagesum_get(t, lock) == 0);
	assert_true(pagesum_checksum(t) == sum);

	/* updating the lock page changes nothing; it is never "changed" */
	assert_false(pagesum_changed(t, lock, page));
	assert_false(pagesum_changed(t, lock, zero));
	assert_int_equal(pagesum_update(t, lock, zero, NULL), CB_OK);
	assert_true(pagesum_checksum(t) == sum);
	assert_true(pagesum_get(t, lock) == 0);

	/* saved and loaded with the lock page's slot */
	assert_int_equal(pagesum_save(t, c->sums, NULL), CB_OK);
	struct pagesum *u = NULL;
	assert_int_equal(pagesum_load(c->sums, &u, NULL), CB_OK);
	assert_true(pagesum_checksum(u) == sum);
	pagesum_free(u);
	pagesum_free(t);
	free(page);
	free(zero);
}

static void test_empty_database(void **state)
{
	struct ctx *c = *state;
	/* a file of no bytes: SQLite's database before its first write */
	spill(c->tmp, "", 0);
	struct pagesum *t = build_path(c->tmp, 4096);
	assert_int_equal(pagesum_page_count(t), 0);
	assert_true(pagesum_checksum(t) == 0);
	uint8_t page[4096] = {0};
	assert_true(pagesum_changed(t, 1, page));
	assert_int_equal(pagesum_update(t, 1, page, NULL), CB_ERR_CORRUPT);
	assert_int_equal(pagesum_save(t, c->sums, NULL), CB_OK);
	struct pagesum *u = NULL;
	assert_int_equal(pagesum_load(c->sums, &u, NULL), CB_OK);
	assert_int_equal(pagesum_page_count(u), 0);
	assert_int_equal(pagesum_page_size(u), 4096);
	assert_true(pagesum_checksum(u) == 0);
	struct stat st;
	assert_int_equal(stat(c->sums, &st), 0);
	assert_int_equal(st.st_size, 64);
	pagesum_free(u);
	pagesum_free(t);

	/* a database with no tables: one page, its header */
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(c->db, &db), SQLITE_OK);
	exec_ok(db, "PRAGMA page_size=512; PRAGMA user_version=7;");
	sqlite3_close(db);
	t = build_path(c->db, 512);
	assert_int_equal(pagesum_page_count(t), 1);
	size_t len;
	uint8_t *img = slurp(c->db, &len);
	assert_true(pagesum_checksum(t) == checksum_by_hand(img, len, 512));
	pagesum_free(t);
	free(img);
}

static void test_build_refuses(void **state)
{
	struct ctx *c = *state;
	sqlite3 *db = open_db(c->db, 4096);
	insert_rows(db, 0, 50, 10);
	sqlite3_close(db);
	struct error err = {0};
	struct pagesum *t = NULL;

	/* the header's page size is not the one asked for */
	int fd = open(c->db, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pagesum_build(fd, 1024, &t, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "page size 4096"));
	assert_null(t);
	/* a page size SQLite cannot have */
	assert_int_equal(pagesum_build(fd, 3000, &t, &err), CB_ERR_INTERNAL);
	assert_int_equal(pagesum_new(256, &t, &err), CB_ERR_INTERNAL);
	close(fd);
	/* a pipe has no size to trust */
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	assert_int_equal(pagesum_build(pipefd[0], 4096, &t, &err), CB_ERR_INTERNAL);
	assert_null(t);
	close(pipefd[0]);
	close(pipefd[1]);

	/* not a whole number of pages */
	size_t len;
	uint8_t *img = slurp(c->db, &len);
	spill(c->tmp, img, len - 1);
	fd = open(c->tmp, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pagesum_build(fd, 4096, &t, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "whole number"));
	close(fd);
	assert_null(t);
	free(img);
}

/* ---- the saved file ------------------------------------------------------ */

static void assert_tables_equal(const struct pagesum *a, const struct pagesum *b)
{
	assert_int_equal(pagesum_page_size(a), pagesum_page_size(b));
	assert_int_equal(pagesum_page_count(a), pagesum_page_count(b));
	assert_true(pagesum_checksum(a) == pagesum_checksum(b));
	for (uint32_t p = 1; p <= pagesum_page_count(a); p++)
		assert_true(pagesum_get(a, p) == pagesum_get(b, p));
}

static void test_save_load_round_trip(void **state)
{
	struct ctx *c = *state;
	for (size_t k = 0; k < N_PAGE_SIZES; k++) {
		uint32_t ps = page_sizes[k];
		unlink(c->db);
		sqlite3 *db = open_db(c->db, ps);
		insert_rows(db, 0, 3000, 50);
		sqlite3_close(db);
		struct pagesum *t = build_path(c->db, ps);
		struct error err = {0};
		if (pagesum_save(t, c->sums, &err) != CB_OK)
			fail_msg("save: %s", err.msg);
		struct stat st;
		assert_int_equal(stat(c->sums, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		assert_int_equal(st.st_size, 64 + 8 * (off_t)pagesum_page_count(t));

		struct pagesum *u = NULL;
		if (pagesum_load(c->sums, &u, &err) != CB_OK)
			fail_msg("load: %s", err.msg);
		assert_tables_equal(t, u);

		/* the loaded table carries on like the original */
		size_t len;
		uint8_t *img = slurp(c->db, &len);
		uint8_t *page = malloc(ps);
		assert_non_null(page);
		memset(page, 0x5a, ps);
		assert_true(pagesum_changed(u, 2, page));
		assert_int_equal(pagesum_update(u, 2, page, NULL), CB_OK);
		assert_int_equal(pagesum_update(t, 2, page, NULL), CB_OK);
		assert_int_equal(pagesum_resize(u, pagesum_page_count(u) + 1, NULL), CB_OK);
		assert_int_equal(pagesum_resize(t, pagesum_page_count(t) + 1, NULL), CB_OK);
		assert_int_equal(pagesum_update(u, pagesum_page_count(u), page, NULL), CB_OK);
		assert_int_equal(pagesum_update(t, pagesum_page_count(t), page, NULL), CB_OK);
		assert_tables_equal(t, u);
		assert_true(pagesum_checksum(u) != checksum_by_hand(img, len, ps));

		/* saving again replaces the file */
		assert_int_equal(pagesum_save(u, c->sums, NULL), CB_OK);
		pagesum_free(u);
		u = NULL;
		assert_int_equal(pagesum_load(c->sums, &u, NULL), CB_OK);
		assert_tables_equal(t, u);
		free(page);
		free(img);
		pagesum_free(u);
		pagesum_free(t);
	}
}

/* Replace path's contents in place: no truncation to zero, which ext4
 * answers with a flush at close (its replace-by-truncate heuristic), and
 * this runs a couple of thousand times. */
static void overwrite(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, data, len, 0), (ssize_t)len);
	assert_int_equal(ftruncate(fd, (off_t)len), 0);
	assert_int_equal(close(fd), 0);
}

static void expect_corrupt(const char *path, const void *data, size_t len, const char *what,
			   size_t at)
{
	overwrite(path, data, len);
	struct error err = {0};
	struct pagesum *t = NULL;
	enum result r = pagesum_load(path, &t, &err);
	if (r != CB_ERR_CORRUPT)
		fail_msg("%s at %zu: load gave %d (%s), not CB_ERR_CORRUPT", what, at, (int)r,
			 err.msg);
	assert_null(t);
	assert_non_null(strstr(err.msg, "is corrupt"));
}

static void test_load_refuses_every_corruption(void **state)
{
	struct ctx *c = *state;
	sqlite3 *db = open_db(c->db, 1024);
	insert_rows(db, 0, 100, 100);
	sqlite3_close(db);
	struct pagesum *t = build_path(c->db, 1024);
	assert_true(pagesum_page_count(t) > 10);
	assert_int_equal(pagesum_save(t, c->sums, NULL), CB_OK);
	pagesum_free(t);
	size_t len;
	uint8_t *file = slurp(c->sums, &len);
	uint8_t *bad = malloc(len + 8);
	assert_non_null(bad);

	/* every bit of every byte */
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, file, len);
			bad[i] ^= (uint8_t)(1u << bit);
			expect_corrupt(c->tmp, bad, len, "flipped bit", i);
		}
	}
	/* every truncation, and bytes added */
	for (size_t n = 0; n < len; n++)
		expect_corrupt(c->tmp, file, n, "truncated", n);
	memcpy(bad, file, len);
	memset(bad + len, 0, 8);
	expect_corrupt(c->tmp, bad, len + 8, "extended", len);
	/* a page count that claims more than the file holds: refused before
	 * anything is allocated for it */
	memcpy(bad, file, len);
	bad[16] = bad[17] = bad[18] = bad[19] = 0xff;
	expect_corrupt(c->tmp, bad, len, "huge page count", 16);
	/* a page count and size that agree but a digest that does not */
	memcpy(bad, file, len);
	bad[19]--;
	expect_corrupt(c->tmp, bad, len - 8, "consistent size, stale digest", 19);

	/* the intact file still loads; a missing one is not found */
	spill(c->tmp, file, len);
	assert_int_equal(pagesum_load(c->tmp, &t, NULL), CB_OK);
	pagesum_free(t);
	t = NULL;
	unlink(c->tmp);
	assert_int_equal(pagesum_load(c->tmp, &t, NULL), CB_ERR_NOT_FOUND);
	assert_null(t);
	free(bad);
	free(file);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Recompute the digest at 32 of a table file, as a writer would. */
static void reseal(uint8_t *file, size_t len)
{
	struct sha256 h;
	assert_int_equal(sha256_init(&h, NULL), CB_OK);
	sha256_update(&h, file, 32);
	sha256_update(&h, file + 64, len - 64);
	sha256_final(&h, file + 32);
}

/* The file is what pagesum.h documents, read here independently; and a
 * file whose digest is right but whose contents disagree with each other
 * (a writer's bug, not a torn write) is refused too. */
static void test_file_format(void **state)
{
	struct ctx *c = *state;
	const uint32_t ps = 65536;
	uint32_t lock = pagesum_lock_page(ps);
	uint8_t *page = calloc(1, ps);
	assert_non_null(page);
	struct pagesum *t = NULL;
	assert_int_equal(pagesum_new(ps, &t, NULL), CB_OK);
	assert_int_equal(pagesum_resize(t, lock + 1, NULL), CB_OK);
	for (uint32_t p = 1; p <= lock + 1; p += 1000) {
		page[0] = (uint8_t)p;
		assert_int_equal(pagesum_update(t, p, page, NULL), CB_OK);
	}
	assert_int_equal(pagesum_save(t, c->sums, NULL), CB_OK);
	size_t len;
	uint8_t *file = slurp(c->sums, &len);
	assert_int_equal(len, 64 + 8 * (size_t)(lock + 1));
	assert_memory_equal(file, "CBSPGSUM", 8);
	assert_int_equal(be32(file + 8), 1);
	assert_int_equal(be32(file + 12), ps);
	assert_int_equal(be32(file + 16), lock + 1);
	assert_int_equal(be32(file + 20), 0);
	assert_true(be64(file + 24) == pagesum_checksum(t));
	uint64_t sum = 0;
	for (uint32_t p = 1; p <= lock + 1; p++) {
		assert_true(be64(file + 64 + 8 * (size_t)(p - 1)) == pagesum_get(t, p));
		sum ^= pagesum_get(t, p);
	}
	assert_true(sum == pagesum_checksum(t));
	uint8_t digest[SHA256_LEN];
	memcpy(digest, file + 32, SHA256_LEN);
	reseal(file, len);
	assert_memory_equal(digest, file + 32, SHA256_LEN);

	/* resealed after a consistent change, it loads */
	put64(file + 64, be64(file + 64) ^ 0x1234);
	put64(file + 24, be64(file + 24) ^ 0x1234);
	reseal(file, len);
	overwrite(c->tmp, file, len);
	struct pagesum *u = NULL;
	assert_int_equal(pagesum_load(c->tmp, &u, NULL), CB_OK);
	assert_true(pagesum_checksum(u) == (pagesum_checksum(t) ^ 0x1234));
	pagesum_free(u);
	u = NULL;

	/* a state checksum that is not the XOR of the hashes */
	put64(file + 24, be64(file + 24) ^ 1);
	reseal(file, len);
	expect_corrupt(c->tmp, file, len, "stale state checksum", 24);
	put64(file + 24, be64(file + 24) ^ 1);

	/* a hash recorded for the lock page, the checksum made to agree */
	size_t at = 64 + 8 * (size_t)(lock - 1);
	put64(file + at, 77);
	put64(file + 24, be64(file + 24) ^ 77);
	reseal(file, len);
	expect_corrupt(c->tmp, file, len, "lock page hash", at);
	pagesum_free(t);
	free(file);
	free(page);
}

/* ---- the hex form -------------------------------------------------------- */

/* ---- the log of changes -------------------------------------------------- */

static char *log_of(const char *sums)
{
	char *p = NULL;
	assert_true(asprintf(&p, "%s-log", sums) > 0);
	return p;
}

static off_t size_of(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return -1;
	return st.st_size;
}

static struct pagesum *load_ok(const char *path)
{
	struct pagesum *t = NULL;
	struct error err = {0};
	if (pagesum_load(path, &t, &err) != CB_OK)
		fail_msg("load: %s", err.msg);
	return t;
}

static void commit_ok(struct pagesum *t, const char *path)
{
	struct error err = {0};
	if (pagesum_commit(t, path, &err) != CB_OK)
		fail_msg("commit: %s", err.msg);
}

/* Give page pgno of t new bytes, made from tag. */
static void touch_page(struct pagesum *t, uint32_t pgno, int tag)
{
	uint32_t ps = pagesum_page_size(t);
	uint8_t *page = malloc(ps);
	assert_non_null(page);
	for (uint32_t i = 0; i < ps; i++)
		page[i] = (uint8_t)(tag * 31 + i * 7 + pgno);
	assert_int_equal(pagesum_update(t, pgno, page, NULL), CB_OK);
	free(page);
}

/* A saved table of a database of a few hundred pages, loaded back. */
static struct pagesum *saved_table(struct ctx *c, uint32_t ps, int rows)
{
	sqlite3 *db = open_db(c->db, ps);
	insert_rows(db, 0, rows, 200);
	sqlite3_close(db);
	struct pagesum *t = build_path(c->db, ps);
	assert_int_equal(pagesum_save(t, c->sums, NULL), CB_OK);
	pagesum_free(t);
	return load_ok(c->sums);
}

static void test_commit_appends_and_load_replays(void **state)
{
	struct ctx *c = *state;
	struct pagesum *t = saved_table(c, 1024, 400);
	uint32_t n = pagesum_page_count(t);
	assert_true(n > 40);
	size_t blen;
	uint8_t *base = slurp(c->sums, &blen);
	char *log = log_of(c->sums);

	/* A commit of nothing writes nothing. */
	commit_ok(t, c->sums);
	assert_int_equal(size_of(log), -1);

	/* Pages changed, pages added: the base stays, the log gets them. */
	touch_page(t, 2, 1);
	touch_page(t, n / 2, 1);
	assert_int_equal(pagesum_resize(t, n + 3, NULL), CB_OK);
	for (uint32_t p = n + 1; p <= n + 3; p++)
		touch_page(t, p, 1);
	commit_ok(t, c->sums);
	size_t len;
	uint8_t *now = slurp(c->sums, &len);
	assert_int_equal(len, blen);
	assert_memory_equal(now, base, blen);
	free(now);
	/* header, then one record of 5 entries */
	assert_int_equal(size_of(log), 48 + 24 + 12 * 5 + 32);
	struct pagesum *u = load_ok(c->sums);
	assert_tables_equal(t, u);
	pagesum_free(u);

	/* Cut off and grown back in one commit, only some pages given again:
	 * the others must load as no hash, not as the hash they had. */
	assert_int_equal(pagesum_resize(t, n - 10, NULL), CB_OK);
	assert_int_equal(pagesum_resize(t, n - 2, NULL), CB_OK);
	touch_page(t, n - 5, 2);
	touch_page(t, n - 2, 2);
	touch_page(t, 2, 2);
	touch_page(t, 2, 3); /* twice */
	commit_ok(t, c->sums);
	assert_true(pagesum_get(t, n - 3) == 0);
	u = load_ok(c->sums);
	assert_tables_equal(t, u);

	/* A loaded table carries on appending to the same log. */
	off_t before = size_of(log);
	touch_page(u, 3, 4);
	touch_page(t, 3, 4);
	commit_ok(u, c->sums);
	assert_true(size_of(log) > before);
	struct pagesum *v = load_ok(c->sums);
	assert_tables_equal(t, v);

	/* Shrinking alone is a change too. */
	assert_int_equal(pagesum_resize(v, n - 20, NULL), CB_OK);
	assert_int_equal(pagesum_resize(t, n - 20, NULL), CB_OK);
	commit_ok(v, c->sums);
	pagesum_free(u);
	u = load_ok(c->sums);
	assert_tables_equal(t, u);
	now = slurp(c->sums, &len);
	assert_memory_equal(now, base, blen);
	free(now);

	pagesum_free(u);
	pagesum_free(v);
	pagesum_free(t);
	free(base);
	free(log);
}

/* Every cut of the log inside its last record (a crash while appending)
 * loads as the state before that record; so does a flipped byte in it.
 * The next commit writes over what was left. */
static void test_torn_log_ends_at_last_whole_record(void **state)
{
	struct ctx *c = *state;
	struct pagesum *t = saved_table(c, 512, 300);
	char *log = log_of(c->sums);
	touch_page(t, 2, 1);
	commit_ok(t, c->sums);
	touch_page(t, 3, 1);
	commit_ok(t, c->sums);
	struct pagesum *before = load_ok(c->sums);
	off_t whole = size_of(log);
	touch_page(t, 4, 1);
	touch_page(t, 5, 1);
	assert_int_equal(pagesum_resize(t, pagesum_page_count(t) - 1, NULL), CB_OK);
	commit_ok(t, c->sums);
	size_t len;
	uint8_t *full = slurp(log, &len);
	assert_true((off_t)len > whole);

	for (size_t cut = (size_t)whole; cut < len; cut++) {
		overwrite(log, full, cut);
		struct pagesum *u = load_ok(c->sums);
		assert_tables_equal(before, u);
		pagesum_free(u);
	}
	for (size_t at = (size_t)whole; at < len; at++) {
		full[at] ^= 0x10;
		overwrite(log, full, len);
		full[at] ^= 0x10;
		struct pagesum *u = load_ok(c->sums);
		assert_tables_equal(before, u);
		pagesum_free(u);
	}

	/* Torn by more than the next record's length: that commit must not
	 * leave the garbage behind it either. */
	uint8_t *junk = malloc(len + 4096);
	assert_non_null(junk);
	memcpy(junk, full, (size_t)whole);
	memset(junk + whole, 0xa5, len + 4096 - (size_t)whole);
	overwrite(log, junk, len + 4096);
	struct pagesum *u = load_ok(c->sums);
	assert_tables_equal(before, u);
	touch_page(u, 6, 9);
	touch_page(before, 6, 9);
	commit_ok(u, c->sums);
	assert_int_equal(size_of(log), whole + 24 + 12 + 32);
	pagesum_free(u);
	u = load_ok(c->sums);
	assert_tables_equal(before, u);

	pagesum_free(u);
	pagesum_free(before);
	pagesum_free(t);
	free(junk);
	free(full);
	free(log);
}

/* A log left beside a newer base (a crash between the base's rename and
 * the log's removal) follows another base: it is ignored. */
static void test_log_of_another_base_is_ignored(void **state)
{
	struct ctx *c = *state;
	struct pagesum *t = saved_table(c, 4096, 300);
	char *log = log_of(c->sums);
	touch_page(t, 2, 1);
	commit_ok(t, c->sums);
	size_t len;
	uint8_t *old = slurp(log, &len);
	touch_page(t, 3, 1);
	assert_int_equal(pagesum_save(t, c->sums, NULL), CB_OK);
	assert_int_equal(size_of(log), -1);
	overwrite(log, old, len);
	struct pagesum *u = load_ok(c->sums);
	assert_tables_equal(t, u);
	/* and the next commit starts a log of its own */
	touch_page(u, 4, 1);
	touch_page(t, 4, 1);
	commit_ok(u, c->sums);
	assert_int_equal(size_of(log), 48 + 24 + 12 + 32);
	pagesum_free(u);
	u = load_ok(c->sums);
	assert_tables_equal(t, u);
	pagesum_free(u);
	pagesum_free(t);
	free(old);
	free(log);
}

/* A whole record that does not replay to its own checksum is not a torn
 * write: the load refuses the table. */
static void test_log_record_that_does_not_replay(void **state)
{
	struct ctx *c = *state;
	struct pagesum *t = saved_table(c, 1024, 200);
	char *log = log_of(c->sums);
	touch_page(t, 2, 1);
	commit_ok(t, c->sums);
	size_t blen, len;
	uint8_t *base = slurp(c->sums, &blen);
	uint8_t *l = slurp(log, &len);
	assert_int_equal(len, 48 + 24 + 12 + 32);
	/* a wrong checksum, with the digest made to match */
	l[48 + 16] ^= 1;
	uint8_t buf[32 + 24 + 12];
	memcpy(buf, base + 32, 32);
	memcpy(buf + 32, l + 48, 24 + 12);
	sha256_buf(buf, sizeof(buf), l + 48 + 36);
	overwrite(log, l, len);
	struct pagesum *u = NULL;
	struct error err = {0};
	assert_int_equal(pagesum_load(c->sums, &u, &err), CB_ERR_CORRUPT);
	assert_null(u);
	assert_non_null(strstr(err.msg, "state checksum"));
	pagesum_free(t);
	free(base);
	free(l);
	free(log);
}

/* The log is folded into a new base when it grows past its bound, and a
 * commit that changed most of the table saves it whole. */
static void test_log_folds_into_a_new_base(void **state)
{
	struct ctx *c = *state;
	struct pagesum *t = saved_table(c, 512, 2000);
	uint32_t n = pagesum_page_count(t);
	assert_true(n > 1000);
	char *log = log_of(c->sums);
	size_t blen;
	uint8_t *base = slurp(c->sums, &blen);
	bool folded = false;
	for (int round = 1; round < 200 && !folded; round++) {
		for (uint32_t p = 2; p < n / 3; p++)
			touch_page(t, p, round);
		commit_ok(t, c->sums);
		size_t len;
		uint8_t *now = slurp(c->sums, &len);
		folded = len != blen || memcmp(now, base, blen) != 0;
		free(now);
		off_t lsize = size_of(log);
		if (folded)
			assert_int_equal(lsize, -1);
		else
			assert_true(lsize > 0 && (uint64_t)lsize <= 2 * blen + 256 * 1024);
		struct pagesum *u = load_ok(c->sums);
		assert_tables_equal(t, u);
		pagesum_free(u);
	}
	assert_true(folded);

	/* most pages changed at once: saved whole, no log */
	touch_page(t, 2, 1000);
	commit_ok(t, c->sums);
	assert_true(size_of(log) > 0);
	for (uint32_t p = 2; p <= n; p++)
		touch_page(t, p, 1001);
	commit_ok(t, c->sums);
	assert_int_equal(size_of(log), -1);
	struct pagesum *u = load_ok(c->sums);
	assert_tables_equal(t, u);
	pagesum_free(u);

	/* a table that was built, not loaded, saves whole on its first commit */
	struct pagesum *b = build_path(c->db, 512);
	touch_page(t, 2, 1002);
	commit_ok(t, c->sums);
	assert_true(size_of(log) > 0);
	commit_ok(b, c->sums);
	assert_int_equal(size_of(log), -1);
	u = load_ok(c->sums);
	assert_tables_equal(b, u);
	pagesum_free(u);
	pagesum_free(b);
	pagesum_free(t);
	free(base);
	free(log);
}

static void test_format_parse(void **state)
{
	(void)state;
	char hex[17];
	incr_checksum_format(0, hex);
	assert_string_equal(hex, "0000000000000000");
	incr_checksum_format(0x0123456789abcdefull, hex);
	assert_string_equal(hex, "0123456789abcdef");
	incr_checksum_format(UINT64_MAX, hex);
	assert_string_equal(hex, "ffffffffffffffff");

	uint64_t v = 42;
	assert_true(incr_checksum_parse("0123456789abcdef", &v));
	assert_true(v == 0x0123456789abcdefull);
	assert_true(incr_checksum_parse("fedcba9876543210", &v));
	assert_true(v == 0xfedcba9876543210ull);
	assert_true(incr_checksum_parse("0000000000000000", &v));
	assert_true(v == 0);
	for (uint64_t x = 1; x; x <<= 7) {
		incr_checksum_format(x * 0x9e3779b97f4a7c15ull, hex);
		assert_true(incr_checksum_parse(hex, &v));
		assert_true(v == x * 0x9e3779b97f4a7c15ull);
	}

	const char *bad[] = {"", "0", "0123456789abcde", "0123456789abcdef0",
			     "0x23456789abcdef", "0123456789abcdeg", " 123456789abcdef",
			     "0123456789abcde ", "-123456789abcdef",
			     "FEDCBA9876543210", "0123456789ABCDEF"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 42;
		assert_false(incr_checksum_parse(bad[i], &v));
		assert_true(v == 42);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_build_matches_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stream_without_a_checksum, setup, teardown),
		cmocka_unit_test(test_stream_lock_page),
		cmocka_unit_test_setup_teardown(test_incremental_equals_rebuild, setup, teardown),
		cmocka_unit_test_setup_teardown(test_trusted_table_follows_the_image, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resize_xors_out_and_requires_new_pages, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_swapped_pages_differ, setup, teardown),
		cmocka_unit_test_setup_teardown(test_same_content_different_pgno, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_build_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_refuses_every_corruption, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_appends_and_load_replays, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_torn_log_ends_at_last_whole_record, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_of_another_base_is_ignored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_record_that_does_not_replay, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_log_folds_into_a_new_base, setup, teardown),
		cmocka_unit_test(test_format_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
