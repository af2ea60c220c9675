/*
 * Unit tests for agent/check.c: the bounded sink that decompressed bytes go
 * through, and check_backup on gzip files built here with zlib from real
 * SQLite databases made here: a good one (every check_result field compared
 * with what the test computes itself), then one failure per check --
 * truncation, a flipped data byte (CRC-32), a wrong length, trailing
 * garbage, a wrong SHA-256 or size in the metadata, gzip bombs bounded by
 * the metadata and by the ceiling, empty and non-database content, and a
 * database that opens but fails PRAGMA integrity_check.
 * Each test works in a fresh directory under /tmp.
 */
#include "agent/engine/bgwrite.h"
#include "agent/engine/check.h"
#include "common/fsutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine_test.h"

#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <zlib.h>

struct ctx {
	char dir[64];
};

/* ---- helpers ------------------------------------------------------------- */

static const char *path_in(const struct ctx *c, const char *name)
{
	static char buf[8][256];
	static int which;
	which = (which + 1) % 8;
	snprintf(buf[which], sizeof(buf[which]), "%s/%s", c->dir, name);
	return buf[which];
}

/* A rollback-journal database with the given page size, a table, an index
 * and rows of varied text. */
static void make_db(const char *path, int page_size, int rows)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char sql[128];
	snprintf(sql, sizeof(sql), "PRAGMA page_size=%d", page_size);
	exec_ok(db, sql);
	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, x TEXT, y TEXT);"
		    "CREATE INDEX t_x ON t(x);");
	exec_ok(db, "BEGIN");
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO t(x, y) VALUES (?, ?)", -1, &st,
					    NULL),
			 SQLITE_OK);
	for (int i = 0; i < rows; i++) {
		char x[64], y[64];
		snprintf(x, sizeof(x), "x value %d %08x", i, i * 2654435761u);
		snprintf(y, sizeof(y), "y value %d", rows - i);
		sqlite3_bind_text(st, 1, x, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(st, 2, y, -1, SQLITE_TRANSIENT);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	exec_ok(db, "COMMIT");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static off_t file_size(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* One gzip member of data at level (0: stored blocks). */
static unsigned char *gzip_buf(const void *data, size_t len, int level, size_t *out_len)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&zs, (uLong)len) + 64;
	unsigned char *out = malloc(cap);
	assert_non_null(out);
	zs.next_in = (unsigned char *)data;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	*out_len = cap - zs.avail_out;
	deflateEnd(&zs);
	return out;
}

/* A gzip file of n zero bytes, written without holding them in memory. */
static void gzip_zeros(const char *path, uint64_t n)
{
	static unsigned char zeros[1 << 16];
	static unsigned char out[1 << 16];
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	int flush;
	do {
		size_t chunk = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;
		n -= chunk;
		flush = n ? Z_NO_FLUSH : Z_FINISH;
		zs.next_in = zeros;
		zs.avail_in = (uInt)chunk;
		do {
			zs.next_out = out;
			zs.avail_out = sizeof(out);
			assert_true(deflate(&zs, flush) != Z_STREAM_ERROR);
			assert_int_equal(fs_write_all(fd, out, sizeof(out) - zs.avail_out), 0);
		} while (zs.avail_out == 0);
	} while (flush != Z_FINISH);
	deflateEnd(&zs);
	assert_int_equal(close(fd), 0);
}

static void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	assert_int_equal(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL), 1);
	assert_int_equal(mdlen, 32);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* A backup on disk: the database it was made from, its gzip, and metadata
 * as the agent would write it. */
struct backup {
	unsigned char *db;
	size_t db_len;
	unsigned char *gz;
	size_t gz_len;
	struct backup_meta meta;
};

static void backup_of(struct backup *b, const char *db_path, int level)
{
	memset(b, 0, sizeof(*b));
	b->db = slurp(db_path, &b->db_len);
	assert_non_null(b->db);
	b->gz = gzip_buf(b->db, b->db_len, level, &b->gz_len);
	snprintf(b->meta.name, sizeof(b->meta.name), "test_manual_20260202_120000.db.gz");
	snprintf(b->meta.database, sizeof(b->meta.database), "test");
	b->meta.type = BT_MANUAL;
	b->meta.original_size = (int64_t)b->db_len;
	b->meta.compressed_size = (int64_t)b->gz_len;
	sha256_hex(b->gz, b->gz_len, b->meta.sha256);
}

static void backup_free(struct backup *b)
{
	free(b->db);
	free(b->gz);
}

/* Run check_backup on the gzip file at gz_path into out_path (created
 * here, empty); returns the result. */
static enum result run_check(const char *gz_path, const struct backup_meta *meta,
			     uint64_t max_size, const char *out_path,
			     struct check_result *res, struct error *err)
{
	int in = open(gz_path, O_RDONLY);
	assert_true(in >= 0);
	int out = open(out_path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(out >= 0);
	memset(err, 0, sizeof(*err));
	enum result r = check_backup(in, "the-label", meta, max_size, out, out_path, NULL, NULL,
				     res, err);
	close(in);
	close(out);
	if (r != CB_OK) {
		assert_int_equal(err->code, r);
		/* The label names the backup in every error message (check.h). */
		assert_non_null(strstr(err->msg, "the-label"));
	}
	return r;
}

/* ---- check_sink ---------------------------------------------------------- */

static int open_new(const struct ctx *c, const char *name)
{
	int fd = open(path_in(c, name), O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	return fd;
}

static void test_sink_metadata_bound(void **state)
{
	const struct ctx *c = *state;
	const char *p = path_in(c, "out");
	int fd = open_new(c, "out");
	struct backup_meta meta = {.original_size = 10};
	struct check_sink s;
	struct error err = {0};
	assert_int_equal(check_sink_init(&s, fd, p, "b", &meta, 5, &err), CB_OK);
	assert_int_equal(s.limit, 10);
	assert_int_equal(s.limit_by, LIMIT_META); /* max_size is for no metadata */
	assert_int_equal(check_sink_write(&s, "0123", 4, &err), CB_OK);
	assert_int_equal(check_sink_write(&s, "456789", 6, &err), CB_OK);
	assert_int_equal(s.written, 10);
	/* One byte past the metadata's size is refused, and not written. */
	assert_int_equal(check_sink_write(&s, "X", 1, &err), CB_ERR_CORRUPT);
	assert_int_equal(err.code, CB_ERR_CORRUPT);
	assert_int_equal(s.written, 10);
	assert_int_equal(check_sink_write(&s, "", 0, &err), CB_OK);
	assert_int_equal(check_sink_finish(&s, &err), CB_OK);
	check_sink_free(&s);
	close(fd);
	size_t len;
	unsigned char *got = slurp(p, &len);
	assert_int_equal(len, 10);
	assert_memory_equal(got, "0123456789", 10);
	free(got);
}

static void test_sink_metadata_bound_refuses_whole_chunk(void **state)
{
	const struct ctx *c = *state;
	int fd = open_new(c, "out");
	struct backup_meta meta = {.original_size = 8};
	struct check_sink s;
	struct error err = {0};
	assert_int_equal(check_sink_init(&s, fd, path_in(c, "out"), "b", &meta, 0, &err), CB_OK);
	assert_int_equal(check_sink_write(&s, "0123456", 7, &err), CB_OK);
	/* A chunk that would cross the bound is refused entirely. */
	assert_int_equal(check_sink_write(&s, "78", 2, &err), CB_ERR_CORRUPT);
	assert_int_equal(check_sink_finish(&s, &err), CB_OK);
	check_sink_free(&s);
	close(fd);
	assert_int_equal(file_size(path_in(c, "out")), 7);
}

static void test_sink_metadata_zero_or_negative_size(void **state)
{
	const struct ctx *c = *state;
	int64_t sizes[] = {0, -1, INT64_MIN};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		int fd = open_new(c, i == 0 ? "a" : i == 1 ? "b" : "c");
		struct backup_meta meta = {.original_size = sizes[i]};
		struct check_sink s;
		struct error err = {0};
		assert_int_equal(check_sink_init(&s, fd, "x", "b", &meta, 0, &err), CB_OK);
		assert_int_equal(s.limit, 0);
		assert_int_equal(s.limit_by, LIMIT_META);
		assert_int_equal(check_sink_write(&s, "x", 1, &err), CB_ERR_CORRUPT);
		assert_int_equal(s.written, 0);
		assert_int_equal(check_sink_finish(&s, &err), CB_OK);
		check_sink_free(&s);
		struct stat st;
		assert_int_equal(fstat(fd, &st), 0);
		assert_int_equal(st.st_size, 0);
		close(fd);
	}
}

static void test_sink_ceiling(void **state)
{
	const struct ctx *c = *state;
	int fd = open_new(c, "out");
	struct check_sink s;
	struct error err = {0};
	assert_int_equal(check_sink_init(&s, fd, path_in(c, "out"), "b", NULL, 100, &err), CB_OK);
	assert_int_equal(s.limit, 100);
	assert_int_equal(s.limit_by, LIMIT_CEILING);
	char buf[101];
	memset(buf, 'a', sizeof(buf));
	assert_int_equal(check_sink_write(&s, buf, 101, &err), CB_ERR_CORRUPT);
	assert_int_equal(s.written, 0);
	assert_int_equal(check_sink_write(&s, buf, 100, &err), CB_OK);
	assert_int_equal(check_sink_write(&s, buf, 1, &err), CB_ERR_CORRUPT);
	assert_int_equal(err.code, CB_ERR_CORRUPT);
	assert_int_equal(check_sink_finish(&s, &err), CB_OK);
	check_sink_free(&s);
	close(fd);
	assert_int_equal(file_size(path_in(c, "out")), 100);
}

/* Free space on fd's file system less the reserve, as check.h defines it;
 * false if the figure moved between two readings (others write there too). */
static bool room_now(int fd, uint64_t *room)
{
	struct statvfs a, b;
	assert_int_equal(fstatvfs(fd, &a), 0);
	assert_int_equal(fstatvfs(fd, &b), 0);
	if (a.f_bavail != b.f_bavail)
		return false;
	uint64_t avail = (uint64_t)a.f_bavail * a.f_frsize;
	*room = avail > CHECK_SPACE_RESERVE ? avail - CHECK_SPACE_RESERVE : 0;
	return true;
}

/* Without metadata the bound is the ceiling or the free space less the
 * reserve, whichever is smaller; 0 means the default ceiling. */
static void test_sink_free_space_arithmetic(void **state)
{
	const struct ctx *c = *state;
	int fd = open_new(c, "out");
	uint64_t ceilings[] = {0, UINT64_MAX};
	for (size_t i = 0; i < 2; i++) {
		bool exact = false;
		for (int attempt = 0; attempt < 50 && !exact; attempt++) {
			uint64_t before, after;
			struct check_sink s;
			struct error err = {0};
			if (!room_now(fd, &before))
				continue;
			assert_int_equal(check_sink_init(&s, fd, "p", "b", NULL, ceilings[i], &err),
					 CB_OK);
			check_sink_free(&s);
			if (!room_now(fd, &after) || after != before)
				continue;
			uint64_t ceiling = ceilings[i] ? ceilings[i] : CHECK_DEFAULT_MAX_SIZE;
			if (before >= ceiling) {
				assert_int_equal(s.limit, ceiling);
				assert_int_equal(s.limit_by, LIMIT_CEILING);
			} else {
				assert_int_equal(s.limit, before);
				assert_int_equal(s.limit_by, LIMIT_SPACE);
			}
			exact = true;
		}
		if (!exact)
			skip();
	}
	close(fd);
}

/* With metadata, a size that cannot fit is refused before anything is
 * written. */
static void test_sink_metadata_larger_than_free_space(void **state)
{
	const struct ctx *c = *state;
	int fd = open_new(c, "out");
	struct backup_meta meta = {.original_size = INT64_C(1) << 62};
	struct check_sink s;
	struct error err = {0};
	assert_int_equal(check_sink_init(&s, fd, path_in(c, "out"), "the-label", &meta, 0, &err),
			 CB_ERR_IO);
	assert_int_equal(err.code, CB_ERR_IO);
	assert_non_null(strstr(err.msg, "the-label"));
	close(fd);
	assert_int_equal(file_size(path_in(c, "out")), 0);
}

/* Running out of free space is the system's refusal (CB_ERR_IO), not a
 * corrupt backup. */
static void test_sink_space_bound_is_io(void **state)
{
	const struct ctx *c = *state;
	int fd = open_new(c, "out");
	struct check_sink s;
	struct error err = {0};
	assert_int_equal(check_sink_init(&s, fd, "p", "b", NULL, 0, &err), CB_OK);
	s.limit = 3;
	s.limit_by = LIMIT_SPACE;
	assert_int_equal(check_sink_write(&s, "abc", 3, &err), CB_OK);
	assert_int_equal(check_sink_write(&s, "d", 1, &err), CB_ERR_IO);
	assert_int_equal(check_sink_finish(&s, &err), CB_OK);
	check_sink_free(&s);
	close(fd);
	assert_int_equal(file_size(path_in(c, "out")), 3);
}

/* ---- check_backup: good backups ------------------------------------------ */

static void check_good(const struct ctx *c, int page_size, int rows, int level)
{
	const char *db = path_in(c, "src.db");
	const char *gz = path_in(c, "b.db.gz");
	const char *out = path_in(c, "out.db");
	unlink(db);
	unlink(gz);
	unlink(out);
	make_db(db, page_size, rows);
	struct backup b;
	backup_of(&b, db, level);
	spit(gz, b.gz, b.gz_len);

	struct check_result res;
	struct error err;
	assert_int_equal(run_check(gz, &b.meta, 0, out, &res, &err), CB_OK);
	assert_int_equal(res.data_size, b.db_len);
	assert_int_equal(res.compressed_size, b.gz_len);
	assert_string_equal(res.sha256, b.meta.sha256);
	assert_true(res.sha_checked);
	assert_int_equal(res.page_size, page_size);
	assert_int_equal(res.page_count, (int64_t)(b.db_len / (size_t)page_size));
	/* The decompressed copy is the database, byte for byte. */
	size_t len;
	unsigned char *copy = slurp(out, &len);
	assert_int_equal(len, b.db_len);
	assert_memory_equal(copy, b.db, len);
	free(copy);
	/* Nothing was left beside it (an immutable open makes no side files). */
	char side[300];
	snprintf(side, sizeof(side), "%s-journal", out);
	assert_false(fs_exists(side));
	snprintf(side, sizeof(side), "%s-wal", out);
	assert_false(fs_exists(side));

	/* The same without metadata: checked, but not against a SHA-256. */
	unlink(out);
	assert_int_equal(run_check(gz, NULL, 0, out, &res, &err), CB_OK);
	assert_false(res.sha_checked);
	assert_string_equal(res.sha256, b.meta.sha256);
	assert_int_equal(res.data_size, b.db_len);
	assert_int_equal(res.page_size, page_size);
	backup_free(&b);
}

static void test_good_backup(void **state)
{
	check_good(*state, 4096, 3000, 6);
}

static void test_good_backup_other_page_sizes(void **state)
{
	check_good(*state, 512, 200, 1);
	check_good(*state, 65536, 50, 9);
	check_good(*state, 1024, 1, 0);
}

/* A backup whose metadata records its state checksum: the checksum
 * computed as the copy was written must match it, at every page size; one
 * that does not is refused as corrupt, naming both. */
static void test_state_checksum(void **state)
{
	const struct ctx *c = *state;
	const int sizes[] = {512, 4096, 65536};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		unlink(path_in(c, "src.db"));
		unlink(path_in(c, "b.db.gz"));
		make_db(path_in(c, "src.db"), sizes[i], 400);
		struct backup b;
		backup_of(&b, path_in(c, "src.db"), 1);
		spit(path_in(c, "b.db.gz"), b.gz, b.gz_len);
		struct pagesum *t = NULL;
		int fd = open(path_in(c, "src.db"), O_RDONLY);
		assert_int_equal(pagesum_build(fd, (uint32_t)sizes[i], &t, NULL), CB_OK);
		close(fd);
		b.meta.has_state_checksum = true;
		b.meta.state_checksum = pagesum_checksum(t);
		pagesum_free(t);
		/* The sink computes it on the way: no read-back needed. */
		unlink(path_in(c, "direct"));
		int dfd = open_new(c, "direct");
		struct check_sink sink;
		struct error derr = {0};
		assert_int_equal(check_sink_init(&sink, dfd, path_in(c, "direct"), "b", &b.meta, 0,
						 &derr),
				 CB_OK);
		assert_int_equal(check_sink_write(&sink, b.db, b.db_len, &derr), CB_OK);
		assert_int_equal(check_sink_finish(&sink, &derr), CB_OK);
		uint32_t streamed_ps = 0;
		uint64_t streamed = 0;
		assert_true(bgwrite_checksum(sink.bg, &streamed_ps, &streamed));
		assert_int_equal(streamed_ps, sizes[i]);
		assert_true(streamed == b.meta.state_checksum);
		assert_int_equal(check_sink_sync(&sink, &derr), CB_OK);
		check_sink_free(&sink);
		close(dfd);
		struct check_result res;
		struct error err;
		unlink(path_in(c, "out"));
		assert_int_equal(run_check(path_in(c, "b.db.gz"), &b.meta, 0, path_in(c, "out"),
					   &res, &err),
				 CB_OK);
		b.meta.state_checksum ^= 1;
		unlink(path_in(c, "out"));
		assert_int_equal(run_check(path_in(c, "b.db.gz"), &b.meta, 0, path_in(c, "out"),
					   &res, &err),
				 CB_ERR_CORRUPT);
		assert_non_null(strstr(err.msg, "state checksum"));
		backup_free(&b);
	}
}

/* Metadata's SHA-256 may be in capitals. */
static void test_sha256_case_insensitive(void **state)
{
	const struct ctx *c = *state;
	make_db(path_in(c, "src.db"), 4096, 10);
	struct backup b;
	backup_of(&b, path_in(c, "src.db"), 6);
	spit(path_in(c, "b.db.gz"), b.gz, b.gz_len);
	for (char *p = b.meta.sha256; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	struct check_result res;
	struct error err;
	assert_int_equal(run_check(path_in(c, "b.db.gz"), &b.meta, 0, path_in(c, "out"), &res,
				   &err),
			 CB_OK);
	assert_true(res.sha_checked);
	backup_free(&b);
}

/* A gzip file may hold several members (gzip(1) concatenates them). */
static void test_multi_member(void **state)
{
	const struct ctx *c = *state;
	make_db(path_in(c, "src.db"), 4096, 500);
	struct backup b;
	backup_of(&b, path_in(c, "src.db"), 6);
	size_t half = b.db_len / 2, l1, l2;
	unsigned char *g1 = gzip_buf(b.db, half, 6, &l1);
	unsigned char *g2 = gzip_buf(b.db + half, b.db_len - half, 6, &l2);
	unsigned char *both = malloc(l1 + l2);
	assert_non_null(both);
	memcpy(both, g1, l1);
	memcpy(both + l1, g2, l2);
	spit(path_in(c, "b.db.gz"), both, l1 + l2);
	b.meta.compressed_size = (int64_t)(l1 + l2);
	sha256_hex(both, l1 + l2, b.meta.sha256);
	struct check_result res;
	struct error err;
	assert_int_equal(run_check(path_in(c, "b.db.gz"), &b.meta, 0, path_in(c, "out"), &res,
				   &err),
			 CB_OK);
	assert_int_equal(res.data_size, b.db_len);
	assert_int_equal(res.compressed_size, l1 + l2);
	size_t len;
	unsigned char *copy = slurp(path_in(c, "out"), &len);
	assert_int_equal(len, b.db_len);
	assert_memory_equal(copy, b.db, len);
	free(copy);
	free(both);
	free(g1);
	free(g2);
	backup_free(&b);
}

/* A database in WAL mode (file format 2 in its header) checks too, and the
 * check leaves no -wal or -shm beside the copy. */
static void test_wal_mode_image(void **state)
{
	const struct ctx *c = *state;
	const char *db = path_in(c, "src.db");
	make_db(db, 4096, 300);
	sqlite3 *h = NULL;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	exec_ok(h, "PRAGMA journal_mode=WAL");
	exec_ok(h, "INSERT INTO t(x, y) VALUES ('after', 'wal')");
	assert_int_equal(sqlite3_close(h), SQLITE_OK); /* checkpoints and removes the WAL */
	struct backup b;
	backup_of(&b, db, 6);
	assert_int_equal(b.db[18], 2);
	spit(path_in(c, "b.db.gz"), b.gz, b.gz_len);
	struct check_result res;
	struct error err;
	const char *out = path_in(c, "out.db");
	assert_int_equal(run_check(path_in(c, "b.db.gz"), &b.meta, 0, out, &res, &err), CB_OK);
	assert_int_equal(res.page_count, (int64_t)(b.db_len / 4096));
	char side[300];
	snprintf(side, sizeof(side), "%s-wal", out);
	assert_false(fs_exists(side));
	snprintf(side, sizeof(side), "%s-shm", out);
	assert_false(fs_exists(side));
	backup_free(&b);
}

/* The copy's path goes into a file: URI; characters that mean something in
 * a URI must not change which file is opened. */
static void test_odd_characters_in_path(void **state)
{
	const struct ctx *c = *state;
	const char *sub = path_in(c, "a b?c#d%25e&f=g");
	assert_int_equal(mkdir(sub, 0700), 0);
	char db[300], out[300];
	snprintf(db, sizeof(db), "%s/src.db", sub);
	snprintf(out, sizeof(out), "%s/out?mode=memory#x.db", sub);
	make_db(db, 4096, 100);
	struct backup b;
	backup_of(&b, db, 6);
	spit(path_in(c, "b.db.gz"), b.gz, b.gz_len);
	struct check_result res;
	struct error err;
	assert_int_equal(run_check(path_in(c, "b.db.gz"), &b.meta, 0, out, &res, &err), CB_OK);
	assert_int_equal(res.page_count, (int64_t)(b.db_len / 4096));
	/* And a non-database under such a name is still caught. */
	int64_t ps = 0, pc = 0;
	spit(out, "not a database, only text that is long enough to be a header....", 64);
	assert_int_equal(check_integrity(out, &ps, &pc, &err), CB_ERR_CORRUPT);
	backup_free(&b);
}

/* ---- check_backup: damaged backups --------------------------------------- */

/* Expect check_backup to fail with code on these gzip bytes; the copy is
 * never more than the metadata says. */
static void expect_fail(const struct ctx *c, const void *gz, size_t gz_len,
			const struct backup_meta *meta, uint64_t max_size, enum result code)
{
	const char *gzp = path_in(c, "bad.db.gz");
	const char *out = path_in(c, "bad-out.db");
	unlink(gzp);
	unlink(out);
	spit(gzp, gz, gz_len);
	struct check_result res;
	struct error err;
	assert_int_equal(run_check(gzp, meta, max_size, out, &res, &err), code);
	if (meta)
		assert_true(file_size(out) <= (meta->original_size > 0 ? meta->original_size : 0));
}

static void test_truncated(void **state)
{
	const struct ctx *c = *state;
	make_db(path_in(c, "src.db"), 4096, 2000);
	struct backup b;
	backup_of(&b, path_in(c, "src.db"), 6);
	/* Cut anywhere: in the header, the data, the trailer. */
	size_t cuts[] = {1, 5, 10, b.gz_len / 2, b.gz_len - 8, b.gz_len - 4, b.gz_len - 1};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(*cuts); i++) {
		expect_fail(c, b.gz, cuts[i], &b.meta, 0, CB_ERR_CORRUPT);
		expect_fail(c, b.gz, cuts[i], NULL, 0, CB_ERR_CORRUPT);
	}
	backup_free(&b);
}

static void test_empty_file(void **state)
{
	const struct ctx *c = *state;
	expect_fail(c, "", 0, NULL, 0, CB_ERR_CORRUPT);
}

static void test_flipped_data_byte(void **state)
{
	const struct ctx *c = *state;
	make_db(path_in(c, "src.db"), 4096, 500);
	struct backup b;
	/* Stored blocks: a flipped byte changes the data, not the structure,
	 * so only the CRC-32 can catch it. */
	backup_of(&b, path_in(c, "src.db"), 0);
	unsigned char *bad = malloc(b.gz_len);
	assert_non_null(bad);
	memcpy(bad, b.gz, b.gz_len);
	bad[b.gz_len / 2] ^= 0x01;
	/* With metadata made from the damaged file, so that the SHA-256
	 * passes and the CRC is what must fail. */
	struct backup_meta meta = b.meta;
	sha256_hex(bad, b.gz_len, meta.sha256);
	expect_fail(c, bad, b.gz_len, &meta, 0, CB_ERR_CORRUPT);
	expect_fail(c, bad, b.gz_len, NULL, 0, CB_ERR_CORRUPT);
	/* The CRC-32 itself and the length in the trailer. */
	for (size_t off = b.gz_len - 8; off < b.gz_len; off++) {
		memcpy(bad, b.gz, b.gz_len);
		bad[off] ^= 0x80;
		sha256_hex(bad, b.gz_len, meta.sha256);
		expect_fail(c, bad, b.gz_len, &meta, 0, CB_ERR_CORRUPT);
	}
	/* Compressed data with a flipped bit. */
	size_t zlen;
	unsigned char *z = gzip_buf(b.db, b.db_len, 6, &zlen);
	z[zlen / 3] ^= 0x10;
	expect_fail(c, z, zlen, NULL, 0, CB_ERR_CORRUPT);
	free(z);
	free(bad);
	backup_free(&b);
}

static void test_trailing_garbage(void **state)
{
	const struct ctx *c = *state;
	make_db(path_in(c, "src.db"), 4096, 50);
	struct backup b;
	backup_of(&b, path_in(c, "src.db"), 6);
	unsigned char *longer = malloc(b.gz_len + 16);
	assert_non_null(longer);
	memcpy(longer, b.gz, b.gz_len);
	memset(longer + b.gz_len, 'G', 16);
	expect_fail(c, longer, b.gz_len + 16, NULL, 0, CB_ERR_CORRUPT);
	free(longer);
	backup_free(&b);
}

static void test_wrong_sha256(void **state)
{
	const struct ctx *c = *state;
	make_db(path_in(c, "src.db"), 4096, 100);
	struct backup b;
	backup_of(&b, path_in(c, "src.db"), 6);
	struct backup_meta meta = b.meta;
	meta.sha256[0] = meta.sha256[0] == '0' ? '1' : '0';
	expect_fail(c, b.gz, b.gz_len, &meta, 0, CB_ERR_CORRUPT);
	meta.sha256[0] = '\0';
	expect_fail(c, b.gz, b.gz_len, &meta, 0, CB_ERR_CORRUPT);
	backup_free(&b);
}

/* The metadata's size must be exactly what comes out. */
static void test_wrong_original_size(void **state)
{
	const struct ctx *c = *state;
	make_db(path_in(c, "src.db"), 4096, 100);
	struct backup b;
	backup_of(&b, path_in(c, "src.db"), 6);
	struct backup_meta meta = b.meta;
	meta.original_size += 1;
	expect_fail(c, b.gz, b.gz_len, &meta, 0, CB_ERR_CORRUPT);
	meta.original_size -= 2;
	expect_fail(c, b.gz, b.gz_len, &meta, 0, CB_ERR_CORRUPT);
	backup_free(&b);
}

/* 64 MiB of zeros in about 64 KiB of gzip, claiming to be a small
 * database: decompression stops at the metadata's size. */
static void test_bomb_bounded_by_metadata(void **state)
{
	const struct ctx *c = *state;
	const char *gz = path_in(c, "bomb.db.gz");
	gzip_zeros(gz, 64u << 20);
	size_t len;
	unsigned char *bytes = slurp(gz, &len);
	assert_true(len < (1u << 20));
	struct backup_meta meta = {.original_size = 1 << 20};
	sha256_hex(bytes, len, meta.sha256); /* even with a matching SHA-256 */
	const char *out = path_in(c, "bomb-out.db");
	struct check_result res;
	struct error err;
	assert_int_equal(run_check(gz, &meta, 0, out, &res, &err), CB_ERR_CORRUPT);
	assert_true(file_size(out) <= meta.original_size);
	free(bytes);
}

/* Without metadata, the ceiling (max_size) bounds it. */
static void test_bomb_bounded_by_ceiling(void **state)
{
	const struct ctx *c = *state;
	const char *gz = path_in(c, "bomb.db.gz");
	gzip_zeros(gz, 32u << 20);
	const char *out = path_in(c, "bomb-out.db");
	struct check_result res;
	struct error err;
	assert_int_equal(run_check(gz, NULL, 1 << 20, out, &res, &err), CB_ERR_CORRUPT);
	assert_true(file_size(out) <= 1 << 20);
	/* The same file passes the gzip checks under a ceiling it fits in,
	 * and fails only as a database. */
	unlink(out);
	assert_int_equal(run_check(gz, NULL, 32u << 20, out, &res, &err), CB_ERR_CORRUPT);
	assert_int_equal(file_size(out), 32u << 20);
}

static void test_not_a_database(void **state)
{
	const struct ctx *c = *state;
	char text[8192];
	for (size_t i = 0; i < sizeof(text); i++)
		text[i] = (char)('a' + i % 26);
	size_t len;
	unsigned char *gz = gzip_buf(text, sizeof(text), 6, &len);
	expect_fail(c, gz, len, NULL, 0, CB_ERR_CORRUPT);
	free(gz);
	/* Decompressing to nothing, with metadata that agrees. */
	gz = gzip_buf("", 0, 6, &len);
	struct backup_meta meta = {.original_size = 0};
	sha256_hex(gz, len, meta.sha256);
	expect_fail(c, gz, len, &meta, 0, CB_ERR_CORRUPT);
	free(gz);
}

/* A database whose index does not agree with its table: it opens and
 * reads, and only PRAGMA integrity_check notices. */
static void make_inconsistent_db(const char *path)
{
	make_db(path, 4096, 200);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	int on = 0;
	sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 0, &on);
	exec_ok(db, "PRAGMA writable_schema=ON;"
		    "UPDATE sqlite_master SET sql='CREATE INDEX t_x ON t(y)' "
		    "WHERE name='t_x';");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	/* The premise: it opens, and integrity_check says no. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_not_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_integrity_check_fails(void **state)
{
	const struct ctx *c = *state;
	const char *db = path_in(c, "src.db");
	make_inconsistent_db(db);
	struct backup b;
	backup_of(&b, db, 6);
	/* Every other check passes: a good gzip, metadata that matches. */
	expect_fail(c, b.gz, b.gz_len, &b.meta, 0, CB_ERR_CORRUPT);
	expect_fail(c, b.gz, b.gz_len, NULL, 0, CB_ERR_CORRUPT);
	int64_t ps = -1, pc = -1;
	struct error err = {0};
	assert_int_equal(check_integrity(db, &ps, &pc, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "integrity_check"));
	assert_int_equal(ps, -1); /* not written on failure */
	assert_int_equal(pc, -1);
	backup_free(&b);
}

/* A database whose later pages are missing (the first page intact). */
static void test_short_database(void **state)
{
	const struct ctx *c = *state;
	make_db(path_in(c, "src.db"), 4096, 3000);
	size_t len;
	unsigned char *db = slurp(path_in(c, "src.db"), &len);
	assert_true(len > 8 * 4096);
	size_t glen;
	unsigned char *gz = gzip_buf(db, len / 2, 6, &glen);
	expect_fail(c, gz, glen, NULL, 0, CB_ERR_CORRUPT);
	free(gz);
	free(db);
}

static void test_check_integrity_direct(void **state)
{
	const struct ctx *c = *state;
	const char *db = path_in(c, "src.db");
	make_db(db, 8192, 400);
	int64_t ps = 0, pc = 0;
	struct error err = {0};
	assert_int_equal(check_integrity(db, &ps, &pc, &err), CB_OK);
	assert_int_equal(ps, 8192);
	assert_int_equal(pc, file_size(db) / 8192);
	/* A missing file is not created. */
	const char *missing = path_in(c, "missing.db");
	assert_int_not_equal(check_integrity(missing, &ps, &pc, &err), CB_OK);
	assert_false(fs_exists(missing));
}

/* ---- fixtures ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "/tmp/cbsync-test-check.XXXXXX");
	if (!mkdtemp(c->dir)) {
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	int r = nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return r;
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_sink_metadata_bound),
		T(test_sink_metadata_bound_refuses_whole_chunk),
		T(test_sink_metadata_zero_or_negative_size),
		T(test_sink_ceiling),
		T(test_sink_free_space_arithmetic),
		T(test_sink_metadata_larger_than_free_space),
		T(test_sink_space_bound_is_io),
		T(test_good_backup),
		T(test_good_backup_other_page_sizes),
		T(test_state_checksum),
		T(test_sha256_case_insensitive),
		T(test_multi_member),
		T(test_wal_mode_image),
		T(test_odd_characters_in_path),
		T(test_truncated),
		T(test_empty_file),
		T(test_flipped_data_byte),
		T(test_trailing_garbage),
		T(test_wrong_sha256),
		T(test_wrong_original_size),
		T(test_bomb_bounded_by_metadata),
		T(test_bomb_bounded_by_ceiling),
		T(test_not_a_database),
		T(test_integrity_check_fails),
		T(test_short_database),
		T(test_check_integrity_direct),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
