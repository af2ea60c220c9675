/*
 * Unit tests for agent/engine/chain.c: applying a chain of increments.
 *
 * A real SQLite database (rollback journal, so its file is the committed
 * state after every statement) goes through rounds of changes: inserts,
 * updates, deletes, growth, a VACUUM that shrinks it.  After each round an
 * increment is made the way the agent makes one: the pages that differ from
 * a page-hash table of the previous state, through walfile_writer into a
 * gz_writer into a file, with its SHA-256, sizes and the state checksum
 * from the updated table.  Two rounds are merged into one increment (seq
 * 3-4), as compaction does.
 *
 * The chain applied to a copy of the snapshot gives, after every step, a
 * file byte-identical to the database at that point, and at the end one
 * that SQLite opens with integrity_check ok.  It is refused, with a line
 * naming the increment, when an increment is missing, swapped, damaged,
 * cut short, from another snapshot's chain, of another page size, or its
 * metadata's checksum is wrong; and once refused, nothing passes as good.
 */
#include "agent/engine/chain.h"
#include "agent/engine/gzstream.h"
#include "agent/engine/pagesum.h"
#include "agent/engine/walfile.h"
#include "common/increment.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine_test.h"

#define PAGE_SIZE 1024
#define SNAPSHOT "cloudbrain_daily_20261129_020000.db.gz"
#define OTHER_SNAPSHOT "cloudbrain_daily_20261130_020000.db.gz"
#define NINCR 5

static char test_dir[64];

/* What the fixture made: the snapshot, the increments, and the database's
 * bytes after each of them. */
struct fixture {
	char snap[128];
	char obj[NINCR][128];
	struct incr_meta meta[NINCR];
	unsigned char *state[NINCR];
	size_t state_len[NINCR];
	uint64_t snap_checksum;
};

static struct fixture fx;

/* ---- helpers ------------------------------------------------------------- */

static void path_in_dir(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", test_dir, name);
}

static void read_file(const char *path, unsigned char **p, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	*len = (size_t)st.st_size;
	*p = malloc(*len ? *len : 1);
	assert_non_null(*p);
	assert_int_equal(pread(fd, *p, *len, 0), (ssize_t)*len);
	close(fd);
}

static void write_file(const char *path, const void *p, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static void copy_file(const char *from, const char *to)
{
	unsigned char *p;
	size_t len;

	read_file(from, &p, &len);
	write_file(to, p, len);
	free(p);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* Make increment i from the database file at live: the pages that differ
 * from sums (then updated to the new state), covering seqs first..last. */
static void cut_increment(int i, const char *live, struct pagesum *sums, uint64_t first,
			  uint64_t last, const char *prev)
{
	struct incr_name n = {.seq_first = first, .seq_last = last,
			      .first = 1795485601 + (int64_t)first,
			      .last = 1795485601 + (int64_t)last};

	snprintf(n.snapshot, sizeof n.snapshot, "%s", SNAPSHOT);
	snprintf(fx.obj[i], sizeof fx.obj[i], "%s/incr-%d.wal.gz", test_dir, i);
	fx.state[i] = make_increment(live, sums, PAGE_SIZE, &n, prev, NULL, fx.obj[i], &fx.meta[i],
				     &fx.state_len[i]);
}

static const char *const rounds[] = {
	/* 1: growth */
	"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<400) "
	"INSERT INTO msg(body) SELECT printf('message %d %s', i, hex(randomblob(60))) FROM n;",
	/* 2: updates */
	"UPDATE msg SET body = body || ' edited' WHERE id % 7 = 0;",
	/* 3, 4: deletes, then a new table and index (merged into one increment) */
	"DELETE FROM msg WHERE id % 3 = 0;",
	"CREATE TABLE tag(id INTEGER PRIMARY KEY, name TEXT); CREATE INDEX msg_body ON msg(body);"
	"INSERT INTO tag(name) SELECT substr(body, 1, 12) FROM msg WHERE id % 5 = 1;",
	/* 5: a big delete and a VACUUM that shrinks the file */
	"DELETE FROM msg WHERE id > 50; DROP INDEX msg_body;",
	"VACUUM;",
};

/* The database, its snapshot and NINCR increments (the 3rd covering rounds
 * 3 and 4, the 5th rounds 5 and the VACUUM). */
static int setup(void **state)
{
	char live[128];
	struct pagesum *sums;
	struct error err = {0};
	sqlite3 *db;
	int fd;

	(void)state;
	path_in_dir(live, sizeof live, "live.db");
	path_in_dir(fx.snap, sizeof fx.snap, "snapshot.db");
	if (sqlite3_open(live, &db) != SQLITE_OK)
		return -1;
	exec_sql(db, "PRAGMA page_size=1024; PRAGMA journal_mode=DELETE;"
		     "CREATE TABLE msg(id INTEGER PRIMARY KEY, body TEXT);"
		     "INSERT INTO msg(body) VALUES ('hello'), ('world');");
	copy_file(live, fx.snap);
	fd = open(fx.snap, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pagesum_build(fd, PAGE_SIZE, &sums, &err), CB_OK);
	close(fd);
	fx.snap_checksum = pagesum_checksum(sums);

	exec_sql(db, rounds[0]);
	cut_increment(0, live, sums, 1, 1, "");
	exec_sql(db, rounds[1]);
	cut_increment(1, live, sums, 2, 2, fx.meta[0].name);
	exec_sql(db, rounds[2]);
	exec_sql(db, rounds[3]);
	cut_increment(2, live, sums, 3, 4, fx.meta[1].name);
	exec_sql(db, rounds[4]);
	cut_increment(3, live, sums, 5, 5, fx.meta[2].name);
	exec_sql(db, rounds[5]);
	cut_increment(4, live, sums, 6, 6, fx.meta[3].name);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	/* the VACUUM shrank the file, and round 1 grew it */
	assert_true(fx.state_len[4] < fx.state_len[3]);
	assert_true(fx.state_len[0] > 8 * PAGE_SIZE);
	pagesum_free(sums);
	unlink(live);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < NINCR; i++) {
		unlink(fx.obj[i]);
		free(fx.state[i]);
	}
	unlink(fx.snap);
	return 0;
}

/* A fresh scratch copy of the snapshot, open read-write, and a chain on it. */
static int begin_scratch(struct chain *c, char *path, size_t size, const uint64_t *checksum,
			 struct error *err)
{
	int fd;

	path_in_dir(path, size, "scratch.db");
	copy_file(fx.snap, path);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(chain_begin(c, fd, path, &(struct chain_base){.snapshot = SNAPSHOT,
				     .page_size = PAGE_SIZE, .state_checksum = checksum}, err),
			 CB_OK);
	return fd;
}

static enum result apply(struct chain *c, const struct incr_meta *m, const char *obj,
			 struct error *err)
{
	int fd = open(obj, O_RDONLY);
	enum result rc;

	assert_true(fd >= 0);
	rc = chain_apply_fd(c, m, fd, obj, err);
	close(fd);
	return rc;
}

static void assert_file_is(const char *path, const unsigned char *p, size_t len)
{
	unsigned char *got;
	size_t got_len;

	read_file(path, &got, &got_len);
	assert_int_equal(got_len, len);
	assert_memory_equal(got, p, len);
	free(got);
}

static void assert_integrity_ok(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM msg", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 50 - 50 / 3);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* The refusal expected: CB_ERR_CORRUPT, a line naming name and saying what;
 * then the chain stays broken. */
static void assert_refused(struct chain *c, enum result rc, const struct error *err,
			   const char *name, const char *what)
{
	struct error err2 = {0};
	uint64_t sum = 0;

	assert_int_equal(rc, CB_ERR_CORRUPT);
	if (!strstr(err->msg, name) || (what && !strstr(err->msg, what)))
		fail_msg("message '%s' should name '%s' and say '%s'", err->msg, name,
			 what ? what : "");
	assert_null(strchr(err->msg, '\n'));
	/* a partial apply never passes as good */
	assert_int_equal(chain_end(c, &sum, &err2), CB_ERR_CORRUPT);
	assert_non_null(strstr(err2.msg, name));
	assert_int_equal(sum, 0);
	assert_int_equal(apply(c, &fx.meta[NINCR - 1], fx.obj[NINCR - 1], &err2), CB_ERR_CORRUPT);
}

/* ---- tests --------------------------------------------------------------- */

static void test_whole_chain(void **state)
{
	struct chain c = {0};
	struct error err = {0};
	char path[128];
	uint64_t sum = 0;
	int fd;

	(void)state;
	fd = begin_scratch(&c, path, sizeof path, &fx.snap_checksum, &err);
	assert_int_equal(chain_checksum(&c), fx.snap_checksum);
	for (int i = 0; i < NINCR; i++) {
		if (apply(&c, &fx.meta[i], fx.obj[i], &err) != CB_OK)
			fail_msg("increment %d: %s", i, err.msg);
		assert_int_equal(chain_checksum(&c), fx.meta[i].state_checksum);
		assert_file_is(path, fx.state[i], fx.state_len[i]);
	}
	assert_int_equal(chain_end(&c, &sum, &err), CB_OK);
	assert_int_equal(sum, fx.meta[NINCR - 1].state_checksum);
	chain_free(&c);
	close(fd);
	assert_integrity_ok(path);
	unlink(path);
}

/* Fed in odd-sized pieces through chain_step_write, as a backend's get
 * would; and without a snapshot checksum. */
static void test_streamed_in_pieces(void **state)
{
	static const size_t pieces[] = {1, 7, 333, 4096, 65536};
	struct chain c = {0};
	struct error err = {0};
	char path[128];
	int fd;

	(void)state;
	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	for (int i = 0; i < NINCR; i++) {
		unsigned char *obj;
		size_t len, piece = pieces[i % 5];

		read_file(fx.obj[i], &obj, &len);
		assert_int_equal(chain_step_begin(&c, &fx.meta[i], &err), CB_OK);
		for (size_t off = 0; off < len; off += piece) {
			size_t n = len - off < piece ? len - off : piece;

			assert_int_equal(chain_step_write(&c, obj + off, n, &err), CB_OK);
		}
		if (chain_step_finish(&c, &err) != CB_OK)
			fail_msg("increment %d: %s", i, err.msg);
		free(obj);
	}
	assert_int_equal(chain_end(&c, NULL, &err), CB_OK);
	chain_free(&c);
	close(fd);
	assert_file_is(path, fx.state[NINCR - 1], fx.state_len[NINCR - 1]);
	unlink(path);
}

static void test_snapshot_checksum(void **state)
{
	struct chain c = {0};
	struct error err = {0};
	char path[128];
	uint64_t wrong = fx.snap_checksum ^ 1;
	int fd;

	(void)state;
	path_in_dir(path, sizeof path, "scratch.db");
	copy_file(fx.snap, path);
	fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	/* The chain starts from the recorded checksum without reading the
	 * image (pagesum_trust); the first increment's comparison catches it. */
	assert_int_equal(chain_begin(&c, fd, path, &(struct chain_base){.snapshot = SNAPSHOT,
				     .page_size = PAGE_SIZE, .state_checksum = &wrong}, &err),
			 CB_OK);
	int obj = open(fx.obj[0], O_RDONLY);
	assert_true(obj >= 0);
	assert_int_equal(chain_apply_fd(&c, &fx.meta[0], obj, fx.obj[0], &err), CB_ERR_CORRUPT);
	close(obj);
	assert_non_null(strstr(err.msg, "or the one recorded for snapshot '" SNAPSHOT "' is wrong"));
	chain_free(&c);
	/* a snapshot image of another page size */
	assert_int_equal(chain_begin(&c, fd, path, &(struct chain_base){.snapshot = SNAPSHOT,
				     .page_size = 4096}, &err), CB_ERR_CORRUPT);
	chain_free(&c);
	close(fd);
	unlink(path);
}

/* Apply increments [0, upto) and then m with object obj; return its result. */
static enum result apply_after(struct chain *c, int upto, const struct incr_meta *m,
			       const char *obj, struct error *err)
{
	for (int i = 0; i < upto; i++)
		assert_int_equal(apply(c, &fx.meta[i], fx.obj[i], err), CB_OK);
	return apply(c, m, obj, err);
}

static void test_gap_and_swap(void **state)
{
	struct chain c = {0};
	struct error err = {0};
	char path[128];
	enum result rc;
	int fd;

	(void)state;
	/* the second missing: 1 then 3-4 */
	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	rc = apply_after(&c, 1, &fx.meta[2], fx.obj[2], &err);
	assert_refused(&c, rc, &err, fx.meta[2].name, "expected seq 2, got 3");
	chain_free(&c);
	close(fd);

	/* 1, 2 swapped */
	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	rc = apply_after(&c, 0, &fx.meta[1], fx.obj[1], &err);
	assert_refused(&c, rc, &err, fx.meta[1].name, "expected seq 1, got 2");
	chain_free(&c);
	close(fd);

	/* seq right, predecessor wrong */
	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	{
		struct incr_meta m = fx.meta[1];

		snprintf(m.prev, sizeof m.prev, "%s", fx.meta[2].name);
		rc = apply_after(&c, 1, &m, fx.obj[1], &err);
		assert_refused(&c, rc, &err, m.name, "its predecessor is");
	}
	chain_free(&c);
	close(fd);
	unlink(path);
}

/* The object of one increment with one byte changed at off (from its end
 * when off < 0), written beside it. */
static void damaged_copy(int i, long off, const char *name, char *out, size_t size)
{
	unsigned char *p;
	size_t len;

	read_file(fx.obj[i], &p, &len);
	p[off >= 0 ? (size_t)off : len - (size_t)-off] ^= 0x20;
	path_in_dir(out, size, name);
	write_file(out, p, len);
	free(p);
}

static void test_damaged_object(void **state)
{
	static const long offsets[] = {10, 300, -5, -1};
	struct chain c = {0};
	struct error err = {0};
	char path[128], obj[128];
	enum result rc;
	int fd;

	(void)state;
	for (size_t k = 0; k < sizeof offsets / sizeof offsets[0]; k++) {
		damaged_copy(1, offsets[k], "damaged.wal.gz", obj, sizeof obj);
		fd = begin_scratch(&c, path, sizeof path, NULL, &err);
		rc = apply_after(&c, 1, &fx.meta[1], obj, &err);
		assert_refused(&c, rc, &err, fx.meta[1].name, NULL);
		chain_free(&c);
		close(fd);
		unlink(obj);
	}

	/* intact bytes, another SHA-256 in the metadata */
	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	{
		struct incr_meta m = fx.meta[1];

		m.sha256[0] = m.sha256[0] == '0' ? '1' : '0';
		rc = apply_after(&c, 1, &m, fx.obj[1], &err);
		assert_refused(&c, rc, &err, m.name, "SHA-256 of increment");
	}
	chain_free(&c);
	close(fd);
	unlink(path);
}

static void test_truncated_object(void **state)
{
	struct chain c = {0};
	struct error err = {0};
	char path[128], obj[128];
	unsigned char *p;
	size_t len;
	enum result rc;
	int fd;

	(void)state;
	read_file(fx.obj[2], &p, &len);
	path_in_dir(obj, sizeof obj, "short.wal.gz");
	for (size_t cut = 1; cut < len; cut = cut * 3 + 1) {
		struct incr_meta m = fx.meta[2];

		write_file(obj, p, len - cut);
		fd = begin_scratch(&c, path, sizeof path, NULL, &err);
		rc = apply_after(&c, 2, &m, obj, &err);
		assert_refused(&c, rc, &err, m.name, "bytes, its metadata says");
		chain_free(&c);
		close(fd);

		/* the same, with metadata that agrees with the cut object:
		 * the gzip or the WAL inside must then give it away */
		fd = begin_scratch(&c, path, sizeof path, NULL, &err);
		{
			unsigned char *q;
			size_t qlen;
			uint8_t digest[SHA256_LEN];

			read_file(obj, &q, &qlen);
			sha256_buf(q, qlen, digest);
			hex_encode(digest, SHA256_LEN, m.sha256);
			m.compressed_size = (int64_t)qlen;
			free(q);
		}
		rc = apply_after(&c, 2, &m, obj, &err);
		assert_refused(&c, rc, &err, m.name, NULL);
		chain_free(&c);
		close(fd);
	}
	free(p);
	unlink(obj);
	unlink(path);
}

static void test_wrong_metadata(void **state)
{
	struct chain c = {0};
	struct error err = {0};
	char path[128];
	struct incr_meta m;
	struct incr_name n;
	enum result rc;
	int fd;

	(void)state;
	/* the state checksum */
	m = fx.meta[3];
	m.state_checksum ^= 0x8000;
	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	rc = apply_after(&c, 3, &m, fx.obj[3], &err);
	assert_refused(&c, rc, &err, m.name, "state checksum after increment");
	chain_free(&c);
	close(fd);

	/* another snapshot's chain */
	m = fx.meta[0];
	assert_true(incr_name_parse(m.name, &n));
	snprintf(n.snapshot, sizeof n.snapshot, "%s", OTHER_SNAPSHOT);
	assert_true(incr_name_format(&n, m.name, sizeof m.name));
	snprintf(m.snapshot, sizeof m.snapshot, "%s", OTHER_SNAPSHOT);
	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	rc = apply_after(&c, 0, &m, fx.obj[0], &err);
	assert_refused(&c, rc, &err, m.name, "belongs to snapshot");
	chain_free(&c);
	close(fd);

	/* page size */
	m = fx.meta[0];
	m.page_size = 4096;
	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	rc = apply_after(&c, 0, &m, fx.obj[0], &err);
	assert_refused(&c, rc, &err, m.name, "page size 4096");
	chain_free(&c);
	close(fd);

	/* page count and pages held */
	m = fx.meta[1];
	m.page_count -= 1;
	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	rc = apply_after(&c, 1, &m, fx.obj[1], &err);
	assert_refused(&c, rc, &err, m.name, NULL);
	chain_free(&c);
	close(fd);
	m = fx.meta[1];
	m.page_count += 1;
	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	rc = apply_after(&c, 1, &m, fx.obj[1], &err);
	assert_refused(&c, rc, &err, m.name, "pages, its metadata says");
	chain_free(&c);
	close(fd);
	unlink(path);
}

/* An increment whose WAL is of another page size than its metadata says,
 * everything else in order (sha, sizes): refused before a page is written. */
static void test_wal_page_size(void **state)
{
	struct chain c = {0};
	struct error err = {0};
	char path[128], obj[128];
	struct walfile_writer w = {0};
	struct walfile_writer_opts o = {.page_size = 512, .checkpoint_seq = 1, .salt = {1, 2}};
	struct walfile_info info;
	struct gz_writer *gz;
	struct gz_result res;
	struct incr_meta m = fx.meta[0];
	unsigned char page[512] = {0};
	unsigned char *before;
	size_t before_len;
	int fd, ofd;

	(void)state;
	path_in_dir(obj, sizeof obj, "small.wal.gz");
	ofd = open(obj, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(ofd >= 0);
	assert_int_equal(gz_writer_open(&gz, ofd, &(struct gz_writer_opts){.level = 1,
					.threads = 1}, &err), CB_OK);
	assert_int_equal(walfile_writer_init(&w, &o, engine_test_gz_sink, gz, &err), CB_OK);
	assert_int_equal(walfile_add_page(&w, 3, page, &err), CB_OK);
	assert_int_equal(walfile_commit(&w, 4, &info, &err), CB_OK);
	walfile_writer_free(&w);
	assert_int_equal(gz_writer_finish(gz, NULL, &res, &err), CB_OK);
	gz_writer_free(gz);
	close(ofd);
	m.compressed_size = (int64_t)res.compressed_size;
	hex_encode(res.sha256, SHA256_LEN, m.sha256);

	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	read_file(path, &before, &before_len);
	assert_refused(&c, apply(&c, &m, obj, &err), &err, m.name, "page size 512");
	assert_file_is(path, before, before_len);
	free(before);
	chain_free(&c);
	close(fd);
	unlink(obj);
	unlink(path);
}

struct bytes {
	unsigned char *p;
	size_t len;
};

static enum result bytes_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct bytes *b = ctx;

	(void)err;
	b->p = realloc(b->p, b->len + len);
	assert_non_null(b->p);
	memcpy(b->p + b->len, buf, len);
	b->len += len;
	return CB_OK;
}

/* A gzip that is whole around a WAL cut short after some of its frames:
 * the pages before the cut are written into the image before the end shows
 * the WAL has no commit frame, and the chain must not pass that as good. */
static void test_partial_wal(void **state)
{
	struct bytes wal = {0};
	struct gz_read_result rr;
	struct chain c = {0};
	struct error err = {0};
	struct incr_meta m = fx.meta[2];
	struct gz_writer *gz;
	struct gz_result res;
	char path[128], obj[128];
	unsigned char *img;
	size_t img_len, keep;
	int fd, ofd;

	(void)state;
	ofd = open(fx.obj[2], O_RDONLY);
	assert_true(ofd >= 0);
	assert_int_equal(gz_read_fd(ofd, bytes_sink, &wal, NULL, NULL, &rr, &err), CB_OK);
	close(ofd);
	keep = WALFILE_HEADER_SIZE + 3 * (WALFILE_FRAME_HEADER_SIZE + PAGE_SIZE);
	assert_true(wal.len > keep);

	path_in_dir(obj, sizeof obj, "partial.wal.gz");
	ofd = open(obj, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(ofd >= 0);
	assert_int_equal(gz_writer_open(&gz, ofd, &(struct gz_writer_opts){.level = 1,
					.threads = 1}, &err), CB_OK);
	assert_int_equal(gz_writer_write(gz, wal.p, keep, &err), CB_OK);
	assert_int_equal(gz_writer_finish(gz, NULL, &res, &err), CB_OK);
	gz_writer_free(gz);
	close(ofd);
	m.compressed_size = (int64_t)res.compressed_size;
	hex_encode(res.sha256, SHA256_LEN, m.sha256);

	fd = begin_scratch(&c, path, sizeof path, NULL, &err);
	assert_int_equal(apply_after(&c, 2, &m, obj, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "commit"));
	/* pages went in: the image is no longer state 2 */
	read_file(path, &img, &img_len);
	assert_true(img_len != fx.state_len[1] || memcmp(img, fx.state[1], img_len) != 0);
	free(img);
	assert_refused(&c, CB_ERR_CORRUPT, &err, m.name, NULL);
	chain_free(&c);
	close(fd);
	free(wal.p);
	unlink(obj);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_whole_chain),
		cmocka_unit_test(test_streamed_in_pieces),
		cmocka_unit_test(test_snapshot_checksum),
		cmocka_unit_test(test_gap_and_swap),
		cmocka_unit_test(test_damaged_object),
		cmocka_unit_test(test_truncated_object),
		cmocka_unit_test(test_wrong_metadata),
		cmocka_unit_test(test_wal_page_size),
		cmocka_unit_test(test_partial_wal),
	};
	int rc;

	snprintf(test_dir, sizeof test_dir, "/tmp/cbsync-chain-XXXXXX");
	if (!mkdtemp(test_dir))
		return 1;
	rc = cmocka_run_group_tests(tests, setup, teardown);
	rmdir(test_dir);
	return rc;
}
