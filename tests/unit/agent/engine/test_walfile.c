/*
 * Unit tests for agent/engine/walfile*.c: increments in SQLite's WAL format.
 *
 *   - round trips writer -> reader at every page size, fed in chunks of many
 *     sizes, and the header's fields as SQLite's documentation lays them out;
 *   - a WAL that SQLite itself wrote (little-endian checksums) is accepted;
 *   - the writer refuses misuse; the reader refuses every kind of damage,
 *     including files re-sealed with valid checksums by a checksum written
 *     here from the documentation (two commits, no commit, a repeated page,
 *     a page beyond the size, page 0, a foreign salt);
 *   - the by-hand property, through SQLite: a database changed by SQLite
 *     (growth, updates, deletes, a VACUUM that shrinks it) at every page
 *     size; its changed pages written as "<copy>-wal" beside a copy of the
 *     old image; SQLite recovers and checkpoints them into exactly the
 *     changed file, and so does walfile_apply_fd, and so does the sqlite3
 *     shell when it is installed;
 *   - what happens with a rollback-journal image.
 */
#include "agent/engine/walfile.h"
#include "agent/engine/gzstream.h"

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

#define SQLITE_SHELL "/usr/bin/sqlite3"
#define GUNZIP "/bin/gunzip"

static char test_dir[64];

/* ---- helpers ------------------------------------------------------------- */

struct bytes {
	unsigned char *p;
	size_t len;
	size_t cap;
};

static void bytes_add(struct bytes *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	*b = (struct bytes){0};
}

static enum result bytes_write(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)err;
	bytes_add(ctx, buf, len);
	return CB_OK;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* A page of pseudo-random bytes that depend on seed. */
static void fill_page(unsigned char *p, uint32_t size, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 12345;

	for (uint32_t i = 0; i < size; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (unsigned char)x;
	}
}

/* A WAL of the given pages (each filled from its page number) made by the
 * writer; salts fixed so that files can be compared. */
static void make_wal(struct bytes *out, uint32_t page_size, const uint32_t *pgnos, size_t n,
		     uint32_t db_pages)
{
	struct walfile_writer w;
	struct walfile_writer_opts o = {.page_size = page_size, .checkpoint_seq = 7,
					.salt = {0x11223344, 0x55667788}};
	struct walfile_info info;
	struct error err = {0};
	unsigned char *page = malloc(page_size);

	assert_non_null(page);
	assert_int_equal(walfile_writer_init(&w, &o, bytes_write, out, &err), CB_OK);
	for (size_t i = 0; i < n; i++) {
		fill_page(page, page_size, pgnos[i]);
		assert_int_equal(walfile_add_page(&w, pgnos[i], page, &err), CB_OK);
	}
	assert_int_equal(walfile_commit(&w, db_pages, &info, &err), CB_OK);
	assert_int_equal(info.frames, n);
	assert_int_equal(info.db_pages, db_pages);
	assert_int_equal(info.bytes, out->len);
	walfile_writer_free(&w);
	free(page);
}

struct got {
	struct bytes pages;       /* page images, one after another */
	uint32_t pgno[64];
	size_t n;
	int fail_at;              /* the callback fails on this call (1-based), 0 never */
};

static enum result collect(void *ctx, uint32_t pgno, const void *data, uint32_t page_size,
			   struct error *err)
{
	struct got *g = ctx;

	if (g->fail_at && (int)g->n + 1 == g->fail_at)
		return error_set(err, CB_ERR_IO, "sink refused page %u", pgno);
	assert_true(g->n < 64);
	g->pgno[g->n++] = pgno;
	bytes_add(&g->pages, data, page_size);
	return CB_OK;
}

/* Read buf through a reader in chunks of chunk bytes; the result of feed or
 * finish, whichever failed first. */
static enum result read_wal(const void *buf, size_t len, size_t chunk, struct got *g,
			    struct walfile_info *info, struct error *err)
{
	struct walfile_reader *r;
	const unsigned char *p = buf;
	enum result rc = CB_OK;

	assert_int_equal(walfile_reader_new(&r, g ? collect : NULL, g, err), CB_OK);
	for (size_t off = 0; off < len && rc == CB_OK; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		rc = walfile_reader_feed(r, p + off, n, err);
	}
	if (rc == CB_OK)
		rc = walfile_reader_finish(r, info, err);
	walfile_reader_free(r);
	return rc;
}

/* The reader's verdict on buf, which must be CB_ERR_CORRUPT with a message
 * containing want (if not NULL). */
static void assert_corrupt(const void *buf, size_t len, const char *want)
{
	struct error err = {0};
	enum result rc = read_wal(buf, len, 1000, NULL, NULL, &err);

	if (rc != CB_ERR_CORRUPT || (want && !strstr(err.msg, want)))
		fail_msg("expected corrupt (%s), got %d: %s", want ? want : "any", rc, err.msg);
}

/* The checksum as fileformat2.html describes it, written again here so that
 * tests can re-seal a file they changed: big-endian words, as the writer. */
static void spec_sum(uint32_t s[2], const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		s[0] += be32(p + i) + s[1];
		s[1] += be32(p + i + 4) + s[0];
	}
}

static void reseal(unsigned char *wal, size_t len)
{
	uint32_t page_size = be32(wal + 8);
	size_t frame = 24 + (size_t)page_size;
	uint32_t s[2] = {0, 0};

	spec_sum(s, wal, 24);
	set_be32(wal + 24, s[0]);
	set_be32(wal + 28, s[1]);
	for (size_t off = 32; off + frame <= len; off += frame) {
		spec_sum(s, wal + off, 8);
		spec_sum(s, wal + off + 24, page_size);
		set_be32(wal + off + 16, s[0]);
		set_be32(wal + off + 20, s[1]);
	}
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void read_file(const char *path, struct bytes *out)
{
	unsigned char buf[65536];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	out->len = 0;
	while ((n = read(fd, buf, sizeof buf)) > 0)
		bytes_add(out, buf, (size_t)n);
	assert_true(n == 0);
	close(fd);
}

static void path_in_dir(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", test_dir, name);
}

static void remove_db(const char *path)
{
	char p[256];

	unlink(path);
	snprintf(p, sizeof p, "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", path);
	unlink(p);
	snprintf(p, sizeof p, "%s-journal", path);
	unlink(p);
}

static enum result gz_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	return gz_writer_write(ctx, buf, len, err);
}

static struct gz_writer *gz_open(const char *path, int *fd)
{
	struct gz_writer *gz;
	struct error err = {0};

	*fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(*fd >= 0);
	assert_int_equal(gz_writer_open(&gz, *fd, &(struct gz_writer_opts){.level = 6,
					.threads = 1}, &err), CB_OK);
	return gz;
}

static void gz_close(struct gz_writer *gz, int fd)
{
	struct gz_result res;
	struct error err = {0};

	assert_int_equal(gz_writer_finish(gz, NULL, &res, &err), CB_OK);
	gz_writer_free(gz);
	assert_int_equal(close(fd), 0);
}

/* ---- round trips --------------------------------------------------------- */

static void test_round_trip_page_sizes(void **state)
{
	(void)state;
	static const uint32_t pgnos[] = {3, 1, 9, 2, 40, 5, 17};
	static const size_t chunks[] = {1, 7, 24, 1000, 4093, 1 << 20};
	const size_t n = sizeof pgnos / sizeof pgnos[0];

	for (uint32_t ps = 512; ps <= 65536; ps *= 2) {
		struct bytes wal = {0};
		unsigned char *page = malloc(ps);

		assert_non_null(page);
		make_wal(&wal, ps, pgnos, n, 41);
		assert_int_equal(wal.len, walfile_size(ps, n));
		/* the header as the documentation lays it out */
		assert_int_equal(be32(wal.p), 0x377f0683);
		assert_int_equal(be32(wal.p + 4), 3007000);
		assert_int_equal(be32(wal.p + 8), ps); /* 65536 as itself, not as 1 */
		assert_int_equal(be32(wal.p + 12), 7);
		assert_int_equal(be32(wal.p + 16), 0x11223344);
		assert_int_equal(be32(wal.p + 20), 0x55667788);
		for (size_t i = 0; i < n; i++) {
			const unsigned char *f = wal.p + 32 + i * (24 + (size_t)ps);
			assert_int_equal(be32(f), pgnos[i]);
			assert_int_equal(be32(f + 4), i == n - 1 ? 41 : 0);
			assert_int_equal(be32(f + 8), 0x11223344);
			assert_int_equal(be32(f + 12), 0x55667788);
		}
		/* an independent checksum agrees with the writer's */
		{
			struct bytes copy = {0};
			bytes_add(&copy, wal.p, wal.len);
			reseal(copy.p, copy.len);
			assert_memory_equal(copy.p, wal.p, wal.len);
			bytes_free(&copy);
		}
		for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
			struct got g = {0};
			struct walfile_info info;
			struct error err = {0};

			assert_int_equal(read_wal(wal.p, wal.len, chunks[c], &g, &info, &err), CB_OK);
			assert_int_equal(g.n, n);
			for (size_t i = 0; i < n; i++) {
				assert_int_equal(g.pgno[i], pgnos[i]);
				fill_page(page, ps, pgnos[i]);
				assert_memory_equal(g.pages.p + i * ps, page, ps);
			}
			assert_int_equal(info.page_size, ps);
			assert_int_equal(info.db_pages, 41);
			assert_int_equal(info.frames, n);
			assert_int_equal(info.checkpoint_seq, 7);
			assert_int_equal(info.salt[0], 0x11223344);
			assert_int_equal(info.salt[1], 0x55667788);
			assert_int_equal(info.bytes, wal.len);
			bytes_free(&g.pages);
		}
		free(page);
		bytes_free(&wal);
	}
}

static void test_one_page(void **state)
{
	(void)state;
	static const uint32_t one[] = {1};
	struct bytes wal = {0};
	struct got g = {0};
	struct walfile_info info;
	struct error err = {0};

	make_wal(&wal, 4096, one, 1, 1);
	assert_int_equal(read_wal(wal.p, wal.len, 4096, &g, &info, &err), CB_OK);
	assert_int_equal(info.frames, 1);
	assert_int_equal(info.db_pages, 1);
	bytes_free(&g.pages);
	bytes_free(&wal);
}

static void test_random_salts(void **state)
{
	(void)state;
	uint32_t a[2], b[2];
	struct error err = {0};

	assert_int_equal(walfile_random_salts(a, &err), CB_OK);
	assert_int_equal(walfile_random_salts(b, &err), CB_OK);
	assert_false(a[0] == b[0] && a[1] == b[1]);
}

/* A WAL SQLite itself wrote on this host (little-endian checksums on x86
 * and ARM) holding one transaction is a valid increment. */
static void test_reads_sqlite_wal(void **state)
{
	(void)state;
	char db_path[128], wal_path[160];
	sqlite3 *db;
	struct bytes wal = {0};
	struct got g = {0};
	struct walfile_info info;
	struct error err = {0};

	path_in_dir(db_path, sizeof db_path, "sqlite-made.db");
	snprintf(wal_path, sizeof wal_path, "%s-wal", db_path);
	remove_db(db_path);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA page_size=1024; PRAGMA journal_mode=WAL;"
				      "PRAGMA wal_autocheckpoint=0;"
				      "BEGIN; CREATE TABLE t(a, b);"
				      "INSERT INTO t VALUES (1, randomblob(3000)), (2, 'x');"
				      "COMMIT;", NULL, NULL, NULL), SQLITE_OK);
	read_file(wal_path, &wal);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);

	assert_true(wal.len > 32);
	assert_int_equal(be32(wal.p) & ~1u, 0x377f0682);
	assert_int_equal(read_wal(wal.p, wal.len, 777, &g, &info, &err), CB_OK);
	assert_int_equal(info.page_size, 1024);
	assert_true(info.frames >= 3);
	assert_int_equal(info.frames, g.n);
	assert_int_equal(g.pgno[0] != 0, 1);
	remove_db(db_path);
	bytes_free(&g.pages);
	bytes_free(&wal);
}

/* The writer straight into a gz_writer, and back through gz_read_fd into a
 * reader: the route increments take to and from a tier.  gunzip gives back
 * the very bytes of the plain file. */
static void test_through_gzip(void **state)
{
	(void)state;
	static const uint32_t pgnos[] = {1, 6, 2, 5};
	char gz_path[128];
	struct bytes plain = {0}, page = {0};
	struct walfile_writer w;
	struct walfile_writer_opts o = {.page_size = 4096, .checkpoint_seq = 7,
					.salt = {0x11223344, 0x55667788}};
	struct walfile_reader *r;
	struct walfile_info info;
	struct gz_read_result res;
	struct gz_writer *gz;
	struct got g = {0};
	struct error err = {0};
	int fd;

	make_wal(&plain, 4096, pgnos, 4, 6);
	path_in_dir(gz_path, sizeof gz_path, "inc.wal.gz");
	gz = gz_open(gz_path, &fd);
	assert_int_equal(walfile_writer_init(&w, &o, gz_sink, gz, &err), CB_OK);
	bytes_add(&page, plain.p, 4096); /* room for one page */
	for (size_t i = 0; i < 4; i++) {
		fill_page(page.p, 4096, pgnos[i]);
		assert_int_equal(walfile_add_page(&w, pgnos[i], page.p, &err), CB_OK);
	}
	assert_int_equal(walfile_commit(&w, 6, NULL, &err), CB_OK);
	walfile_writer_free(&w);
	gz_close(gz, fd);

	fd = open(gz_path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(walfile_reader_new(&r, collect, &g, &err), CB_OK);
	assert_int_equal(gz_read_fd(fd, walfile_reader_write, r, NULL, NULL, &res, &err), CB_OK);
	assert_int_equal(walfile_reader_finish(r, &info, &err), CB_OK);
	walfile_reader_free(r);
	close(fd);
	assert_int_equal(res.data_size, plain.len);
	assert_int_equal(info.frames, 4);
	assert_memory_equal(g.pages.p, plain.p + 32 + 24, 4096);

	if (access(GUNZIP, X_OK) == 0) {
		char cmd[300];
		FILE *p;
		struct bytes out = {0};
		unsigned char buf[8192];
		size_t n;

		snprintf(cmd, sizeof cmd, "%s -c '%s'", GUNZIP, gz_path);
		p = popen(cmd, "r");
		assert_non_null(p);
		while ((n = fread(buf, 1, sizeof buf, p)) > 0)
			bytes_add(&out, buf, n);
		assert_int_equal(pclose(p), 0);
		assert_int_equal(out.len, plain.len);
		assert_memory_equal(out.p, plain.p, plain.len);
		bytes_free(&out);
	}
	unlink(gz_path);
	bytes_free(&g.pages);
	bytes_free(&plain);
	bytes_free(&page);
}

/* ---- the writer refuses misuse ------------------------------------------- */

static void test_writer_misuse(void **state)
{
	(void)state;
	struct walfile_writer w;
	struct walfile_writer_opts o = {.page_size = 1024};
	struct bytes out = {0};
	struct error err = {0};
	unsigned char page[1024] = {0};

	o.page_size = 1000;
	assert_int_equal(walfile_writer_init(&w, &o, bytes_write, &out, &err), CB_ERR_INTERNAL);
	o.page_size = 131072;
	assert_int_equal(walfile_writer_init(&w, &o, bytes_write, &out, &err), CB_ERR_INTERNAL);
	o.page_size = 256;
	assert_int_equal(walfile_writer_init(&w, &o, bytes_write, &out, &err), CB_ERR_INTERNAL);
	o.page_size = 1024;

	/* commit with no page */
	assert_int_equal(walfile_writer_init(&w, &o, bytes_write, &out, &err), CB_OK);
	assert_int_equal(walfile_commit(&w, 1, NULL, &err), CB_ERR_INTERNAL);
	walfile_writer_free(&w);

	/* page 0 */
	assert_int_equal(walfile_writer_init(&w, &o, bytes_write, &out, &err), CB_OK);
	assert_int_equal(walfile_add_page(&w, 0, page, &err), CB_ERR_INTERNAL);
	walfile_writer_free(&w);

	/* a repeated page */
	assert_int_equal(walfile_writer_init(&w, &o, bytes_write, &out, &err), CB_OK);
	assert_int_equal(walfile_add_page(&w, 2, page, &err), CB_OK);
	assert_int_equal(walfile_add_page(&w, 1, page, &err), CB_OK);
	assert_int_equal(walfile_add_page(&w, 2, page, &err), CB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "page 2 given twice"));
	assert_int_equal(walfile_commit(&w, 2, NULL, &err), CB_ERR_INTERNAL); /* sticky */
	walfile_writer_free(&w);

	/* a page beyond the size after commit */
	assert_int_equal(walfile_writer_init(&w, &o, bytes_write, &out, &err), CB_OK);
	assert_int_equal(walfile_add_page(&w, 5, page, &err), CB_OK);
	assert_int_equal(walfile_add_page(&w, 1, page, &err), CB_OK);
	assert_int_equal(walfile_commit(&w, 4, NULL, &err), CB_ERR_INTERNAL);
	assert_non_null(strstr(err.msg, "beyond"));
	walfile_writer_free(&w);

	/* nothing after the commit */
	assert_int_equal(walfile_writer_init(&w, &o, bytes_write, &out, &err), CB_OK);
	assert_int_equal(walfile_add_page(&w, 1, page, &err), CB_OK);
	assert_int_equal(walfile_commit(&w, 1, NULL, &err), CB_OK);
	assert_int_equal(walfile_add_page(&w, 2, page, &err), CB_ERR_INTERNAL);
	assert_int_equal(walfile_commit(&w, 2, NULL, &err), CB_ERR_INTERNAL);
	walfile_writer_free(&w);
	bytes_free(&out);
}

static enum result failing_write(void *ctx, const void *buf, size_t len, struct error *err)
{
	int *calls = ctx;

	(void)buf;
	(void)len;
	if (++*calls >= 2)
		return error_set(err, CB_ERR_IO, "disk full");
	return CB_OK;
}

static void test_writer_write_error(void **state)
{
	(void)state;
	struct walfile_writer w;
	struct walfile_writer_opts o = {.page_size = 512};
	struct error err = {0};
	unsigned char page[512] = {0};
	int calls = 0;

	assert_int_equal(walfile_writer_init(&w, &o, failing_write, &calls, &err), CB_OK);
	assert_int_equal(walfile_add_page(&w, 1, page, &err), CB_OK);          /* held */
	assert_int_equal(walfile_add_page(&w, 2, page, &err), CB_ERR_IO);      /* frame 1 out */
	assert_int_equal(walfile_commit(&w, 2, NULL, &err), CB_ERR_IO);
	walfile_writer_free(&w);

	calls = -10;
	assert_int_equal(walfile_writer_init(&w, &o, failing_write, &calls, &err), CB_OK);
	calls = 5;
	assert_int_equal(walfile_add_page(&w, 1, page, &err), CB_OK);
	assert_int_equal(walfile_commit(&w, 1, NULL, &err), CB_ERR_IO);
	assert_string_equal(err.msg, "disk full");
	walfile_writer_free(&w);

	calls = 5;
	assert_int_equal(walfile_writer_init(&w, &o, failing_write, &calls, &err), CB_ERR_IO);
}

/* ---- the reader refuses damage ------------------------------------------- */

#define PS 1024
#define FRAME (24 + PS)
static const uint32_t four[] = {2, 4, 1, 3};

static void make_four(struct bytes *wal)
{
	make_wal(wal, PS, four, 4, 6);
	assert_int_equal(wal->len, 32 + 4 * FRAME);
}

static void test_corrupt_header(void **state)
{
	(void)state;
	struct bytes wal = {0};

	make_four(&wal);
	for (size_t i = 0; i < 32; i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			wal.p[i] ^= (unsigned char)(1 << bit);
			assert_corrupt(wal.p, wal.len, NULL);
			wal.p[i] ^= (unsigned char)(1 << bit);
		}
	}
	wal.p[0] = 'S';
	assert_corrupt(wal.p, wal.len, "not a WAL file");
	wal.p[0] = 0x37;
	set_be32(wal.p + 4, 3007001);
	reseal(wal.p, wal.len);
	assert_corrupt(wal.p, wal.len, "format version");
	set_be32(wal.p + 4, 3007000);
	set_be32(wal.p + 8, 1000);
	reseal(wal.p, wal.len);
	assert_corrupt(wal.p, wal.len, "page size");
	set_be32(wal.p + 8, PS);
	reseal(wal.p, wal.len);
	assert_corrupt(wal.p, 0, "empty");
	assert_corrupt(wal.p, 31, "truncated in the WAL header");
	{
		struct error err = {0};
		assert_int_equal(read_wal(wal.p, wal.len, 1, NULL, NULL, &err), CB_OK);
	}
	wal.p[25] ^= 1;
	assert_corrupt(wal.p, wal.len, "header checksum");
	bytes_free(&wal);
}

static void test_corrupt_frames(void **state)
{
	(void)state;
	struct bytes wal = {0};
	unsigned char *f2;

	make_four(&wal);
	f2 = wal.p + 32 + FRAME;
	/* every byte of a frame header */
	for (size_t i = 0; i < 24; i++) {
		f2[i] ^= 0x40;
		assert_corrupt(wal.p, wal.len, "frame 2");
		f2[i] ^= 0x40;
	}
	/* page data, at the start, middle and end of a page */
	for (size_t i = 24; i < FRAME; i += PS / 2 - 1) {
		f2[i] ^= 1;
		assert_corrupt(wal.p, wal.len, "frame 2: checksum mismatch");
		f2[i] ^= 1;
	}
	wal.p[wal.len - 1] ^= 0x80;
	assert_corrupt(wal.p, wal.len, "frame 4: checksum mismatch");
	wal.p[wal.len - 1] ^= 0x80;
	/* a salt, then the same with checksums made valid again */
	f2[9] ^= 1;
	assert_corrupt(wal.p, wal.len, "frame 2: salts differ");
	reseal(wal.p, wal.len);
	assert_corrupt(wal.p, wal.len, "frame 2: salts differ");
	f2[9] ^= 1;
	reseal(wal.p, wal.len);
	/* frames in the wrong order break the chain */
	{
		struct bytes sw = {0};
		bytes_add(&sw, wal.p, wal.len);
		memcpy(sw.p + 32, wal.p + 32 + FRAME, FRAME);
		memcpy(sw.p + 32 + FRAME, wal.p + 32, FRAME);
		assert_corrupt(sw.p, sw.len, "frame 1: checksum mismatch");
		bytes_free(&sw);
	}
	/* the checksum of a frame of another file with the same salts */
	{
		struct bytes other = {0};
		static const uint32_t one[] = {2};
		make_wal(&other, PS, one, 1, 6);
		/* its one frame, page 2 as a commit frame, chains from the same
		 * header: it passes, and the rest no longer chains */
		memcpy(wal.p + 32, other.p + 32, FRAME);
		assert_corrupt(wal.p, wal.len, "trailing data after the commit frame 1");
		bytes_free(&other);
	}
	bytes_free(&wal);
}

static void test_corrupt_resealed(void **state)
{
	(void)state;
	struct bytes wal = {0};
	unsigned char *f[4];

	make_four(&wal);
	for (int i = 0; i < 4; i++)
		f[i] = wal.p + 32 + (size_t)i * FRAME;

	/* two commit frames */
	set_be32(f[1] + 4, 6);
	reseal(wal.p, wal.len);
	assert_corrupt(wal.p, wal.len, "frame 3 follows the commit frame 2");
	set_be32(f[1] + 4, 0);
	/* no commit frame */
	set_be32(f[3] + 4, 0);
	reseal(wal.p, wal.len);
	assert_corrupt(wal.p, wal.len, "no commit frame");
	set_be32(f[3] + 4, 6);
	/* a page twice */
	set_be32(f[2], 2);
	reseal(wal.p, wal.len);
	assert_corrupt(wal.p, wal.len, "frame 3: page 2 was already in frame 1");
	set_be32(f[2], 1);
	/* page 0 */
	set_be32(f[0], 0);
	reseal(wal.p, wal.len);
	assert_corrupt(wal.p, wal.len, "frame 1: page number 0");
	set_be32(f[0], 2);
	/* a page beyond the size after commit, in the commit frame or before */
	set_be32(f[3] + 4, 3);
	reseal(wal.p, wal.len);
	assert_corrupt(wal.p, wal.len, "frame 2: page 4 lies beyond the 3 pages");
	set_be32(f[3] + 4, 6);
	set_be32(f[3], 7);
	reseal(wal.p, wal.len);
	assert_corrupt(wal.p, wal.len, "frame 4: page 7 lies beyond the 6 pages");
	set_be32(f[3], 3);
	/* and back to a good file */
	reseal(wal.p, wal.len);
	{
		struct error err = {0};
		assert_int_equal(read_wal(wal.p, wal.len, 100, NULL, NULL, &err), CB_OK);
	}
	bytes_free(&wal);
}

static void test_corrupt_length(void **state)
{
	(void)state;
	struct bytes wal = {0};
	static const size_t cuts[] = {32 + 1, 32 + 23, 32 + 24, 32 + 500, 32 + FRAME - 1,
				      32 + FRAME + 1, 32 + 3 * FRAME + 24, 32 + 4 * FRAME - 1};

	make_four(&wal);
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
		assert_corrupt(wal.p, cuts[i], "truncated in frame");
	assert_corrupt(wal.p, 32, "no frames");
	assert_corrupt(wal.p, 32 + FRAME, "no commit frame: the last frame, 1");
	assert_corrupt(wal.p, 32 + 3 * FRAME, "no commit frame: the last frame, 3");

	/* trailing bytes: a few, a frame's worth of zeros, a whole valid frame */
	{
		struct bytes t = {0};
		unsigned char zeros[FRAME + 10] = {0};

		bytes_add(&t, wal.p, wal.len);
		bytes_add(&t, zeros, 1);
		assert_corrupt(t.p, t.len, "1 bytes of trailing data after the commit frame 4");
		t.len = wal.len;
		bytes_add(&t, zeros, FRAME + 10);
		assert_corrupt(t.p, t.len, "trailing data after the commit frame 4");
		/* a fifth, valid frame: re-seal a five-frame file whose fourth commits */
		t.len = wal.len;
		bytes_add(&t, wal.p + 32, FRAME);
		set_be32(t.p + t.len - FRAME, 5);
		set_be32(t.p + t.len - FRAME + 4, 0);
		reseal(t.p, t.len);
		assert_corrupt(t.p, t.len, "frame 5 follows the commit frame 4");
		set_be32(t.p + t.len - FRAME + 4, 6);
		reseal(t.p, t.len);
		assert_corrupt(t.p, t.len, "and is a commit frame too");
		bytes_free(&t);
	}
	bytes_free(&wal);
}

static void test_reader_sticky_and_sink_error(void **state)
{
	(void)state;
	struct bytes wal = {0};
	struct walfile_reader *r;
	struct got g = {.fail_at = 3};
	struct error err = {0};

	make_four(&wal);
	assert_int_equal(read_wal(wal.p, wal.len, 100, &g, NULL, &err), CB_ERR_IO);
	assert_string_equal(err.msg, "sink refused page 1");
	assert_int_equal(g.n, 2);
	bytes_free(&g.pages);

	assert_int_equal(walfile_reader_new(&r, NULL, NULL, &err), CB_OK);
	wal.p[40] ^= 1;
	assert_int_equal(walfile_reader_feed(r, wal.p, wal.len, &err), CB_ERR_CORRUPT);
	wal.p[40] ^= 1;
	assert_int_equal(walfile_reader_feed(r, wal.p, 1, &err), CB_ERR_CORRUPT);
	assert_int_equal(walfile_reader_finish(r, NULL, &err), CB_ERR_CORRUPT);
	walfile_reader_free(r);
	walfile_reader_free(NULL);
	bytes_free(&wal);
}

/* ---- applying, and the by-hand property through SQLite ------------------- */

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg ? msg : "?");
}

/* Every row of t and the schema, as text: what "the same content" means. */
static void dump_db(sqlite3 *db, struct bytes *out)
{
	static const char *const sql[] = {
		"SELECT type, name, sql FROM sqlite_schema ORDER BY name",
		"SELECT id, v, hex(b) FROM t ORDER BY id",
	};
	out->len = 0;
	for (size_t q = 0; q < 2; q++) {
		sqlite3_stmt *st;
		assert_int_equal(sqlite3_prepare_v2(db, sql[q], -1, &st, NULL), SQLITE_OK);
		while (sqlite3_step(st) == SQLITE_ROW) {
			for (int c = 0; c < sqlite3_column_count(st); c++) {
				const unsigned char *t = sqlite3_column_text(st, c);
				if (t)
					bytes_add(out, t, strlen((const char *)t));
				bytes_add(out, "|", 1);
			}
			bytes_add(out, "\n", 1);
		}
		assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
	}
}

static void one_row(sqlite3 *db, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	out[0] = 0;
	for (int c = 0; c < sqlite3_column_count(st); c++) {
		const unsigned char *t = sqlite3_column_text(st, c);
		size_t len = strlen(out);
		snprintf(out + len, size - len, "%s%s", c ? "|" : "", t ? (const char *)t : "");
	}
	assert_int_equal(sqlite3_finalize(st), SQLITE_OK);
}

/* The increment taking image before to image after: every page of after
 * that before lacks or holds differently, in ascending order (or in
 * descending order when reverse is set: order must not matter). */
static void diff_to_wal(const struct bytes *before, const struct bytes *after, uint32_t ps,
			bool reverse, struct bytes *wal, uint32_t *frames)
{
	struct walfile_writer w;
	struct walfile_writer_opts o = {.page_size = ps, .checkpoint_seq = 1};
	struct walfile_info info;
	struct error err = {0};
	uint32_t pages = (uint32_t)(after->len / ps);

	assert_int_equal(after->len % ps, 0);
	assert_int_equal(walfile_random_salts(o.salt, &err), CB_OK);
	wal->len = 0;
	assert_int_equal(walfile_writer_init(&w, &o, bytes_write, wal, &err), CB_OK);
	for (uint32_t k = 0; k < pages; k++) {
		uint32_t pg = reverse ? pages - k : k + 1;
		size_t off = (size_t)(pg - 1) * ps;
		if (off + ps <= before->len && memcmp(before->p + off, after->p + off, ps) == 0)
			continue;
		assert_int_equal(walfile_add_page(&w, pg, after->p + off, &err), CB_OK);
	}
	assert_int_equal(walfile_commit(&w, pages, &info, &err), CB_OK);
	walfile_writer_free(&w);
	*frames = info.frames;
}

/* Take the image before to the image after in three ways -- SQLite
 * recovering the increment as "-wal", walfile_apply_fd, the sqlite3 shell
 * -- and check each gives exactly after, whose content is want. */
static void check_step(const struct bytes *before, const struct bytes *after, uint32_t ps,
		       bool reverse, const struct bytes *want, const char *want_shell)
{
	char db_path[128], wal_path[160];
	struct bytes wal = {0}, got = {0}, content = {0};
	struct error err = {0};
	struct walfile_info info;
	uint32_t frames;
	sqlite3 *db;
	char row[256];

	diff_to_wal(before, after, ps, reverse, &wal, &frames);
	assert_true(frames > 0);

	/* 1. SQLite: recover, checkpoint, check */
	path_in_dir(db_path, sizeof db_path, "copy.db");
	snprintf(wal_path, sizeof wal_path, "%s-wal", db_path);
	remove_db(db_path);
	write_file(db_path, before->p, before->len);
	write_file(wal_path, wal.p, wal.len);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	one_row(db, "PRAGMA wal_checkpoint(TRUNCATE)", row, sizeof row);
	assert_string_equal(row, "0|0|0");
	one_row(db, "PRAGMA integrity_check", row, sizeof row);
	assert_string_equal(row, "ok");
	dump_db(db, &content);
	assert_int_equal(content.len, want->len);
	assert_memory_equal(content.p, want->p, want->len);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	read_file(db_path, &got);
	assert_int_equal(got.len, after->len);
	assert_memory_equal(got.p, after->p, after->len);
	assert_int_equal(access(wal_path, F_OK), -1);   /* checkpointed and removed */

	/* 2. walfile_apply_fd: the same bytes without SQLite */
	{
		int dbfd, walfd;

		remove_db(db_path);
		write_file(db_path, before->p, before->len);
		write_file(wal_path, wal.p, wal.len);
		dbfd = open(db_path, O_RDWR);
		walfd = open(wal_path, O_RDONLY);
		assert_true(dbfd >= 0 && walfd >= 0);
		assert_int_equal(walfile_apply_fd(dbfd, db_path, walfd, wal_path, &info, &err),
				 CB_OK);
		close(dbfd);
		close(walfd);
		unlink(wal_path);
		assert_int_equal(info.frames, frames);
		assert_int_equal(info.db_pages, after->len / ps);
		read_file(db_path, &got);
		assert_int_equal(got.len, after->len);
		assert_memory_equal(got.p, after->p, after->len);
	}

	/* 3. the recipe: gunzip and the sqlite3 shell, nothing else */
	if (access(SQLITE_SHELL, X_OK) == 0 && access(GUNZIP, X_OK) == 0) {
		char cmd[768], out[512], gz_path[128];
		struct gz_writer *gz;
		size_t n;
		FILE *p;
		int fd;

		remove_db(db_path);
		write_file(db_path, before->p, before->len);
		path_in_dir(gz_path, sizeof gz_path, "inc.wal.gz");
		gz = gz_open(gz_path, &fd);
		assert_int_equal(gz_writer_write(gz, wal.p, wal.len, &err), CB_OK);
		gz_close(gz, fd);
		snprintf(cmd, sizeof cmd,
			 "%s -c '%s' > '%s' && %s '%s' "
			 "'PRAGMA integrity_check; SELECT count(*), total(length(b)) FROM t;' 2>&1",
			 GUNZIP, gz_path, wal_path, SQLITE_SHELL, db_path);
		p = popen(cmd, "r");
		assert_non_null(p);
		n = fread(out, 1, sizeof out - 1, p);
		out[n] = 0;
		assert_int_equal(pclose(p), 0);
		assert_string_equal(out, want_shell);
		read_file(db_path, &got);
		assert_int_equal(got.len, after->len);
		assert_memory_equal(got.p, after->p, after->len);
		assert_int_equal(access(wal_path, F_OK), -1);
		unlink(gz_path);
	} else {
		print_message("note: %s or %s missing, the shell recipe was not run\n",
			      SQLITE_SHELL, GUNZIP);
	}
	remove_db(db_path);
	bytes_free(&wal);
	bytes_free(&got);
	bytes_free(&content);
}

/* Close the live database (which checkpoints it), read its image, its
 * content and the line the shell recipe prints for it. */
static void take_state(const char *live, struct bytes *image, struct bytes *content,
		       char *shell, size_t shell_size)
{
	sqlite3 *db;
	char row[256];

	read_file(live, image);
	assert_int_equal(sqlite3_open(live, &db), SQLITE_OK);
	dump_db(db, content);
	one_row(db, "SELECT count(*), total(length(b)) FROM t", row, sizeof row);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	snprintf(shell, shell_size, "ok\n%s\n", row);
}

static sqlite3 *open_live(const char *path)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	return db;
}

/* A database at page size ps in the given journal mode goes through
 * growth, updates and deletes, then a shrink by VACUUM; each step is
 * checked by check_step from the previous step's image. */
static void run_history(uint32_t ps, const char *journal_mode)
{
	char live[128], sql[256], shell[256];
	struct bytes s0 = {0}, s1 = {0}, s2 = {0}, c = {0};
	sqlite3 *db;

	path_in_dir(live, sizeof live, "live.db");
	remove_db(live);
	db = open_live(live);
	snprintf(sql, sizeof sql, "PRAGMA page_size=%u; PRAGMA journal_mode=%s;", ps,
		 journal_mode);
	exec_sql(db, sql);
	exec_sql(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);"
		     "CREATE INDEX t_v ON t(v);"
		     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
		     " INSERT INTO t SELECT i, 'row ' || i, randomblob(i * 7 % 900) FROM n;");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	take_state(live, &s0, &c, shell, sizeof shell);
	assert_int_equal(s0.len % ps, 0);
	/* bytes 18/19: 2 for WAL, 1 for a rollback journal */
	assert_int_equal(s0.p[18], strcmp(journal_mode, "WAL") == 0 ? 2 : 1);
	assert_int_equal(s0.p[19], s0.p[18]);

	/* growth, updates, deletes, a big overflow chain */
	db = open_live(live);
	exec_sql(db, "WITH RECURSIVE n(i) AS (SELECT 201 UNION ALL SELECT i + 1 FROM n WHERE i < 700)"
		     " INSERT INTO t SELECT i, 'more ' || i, randomblob(i % 1500) FROM n;"
		     "UPDATE t SET v = v || ' changed', b = randomblob(50) WHERE id % 5 = 0;"
		     "DELETE FROM t WHERE id % 7 = 3;"
		     "INSERT INTO t VALUES (5000, 'big', randomblob(200000));");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	take_state(live, &s1, &c, shell, sizeof shell);
	assert_true(s1.len > s0.len);
	check_step(&s0, &s1, ps, false, &c, shell);

	/* a shrink: delete most rows and VACUUM */
	db = open_live(live);
	exec_sql(db, "DELETE FROM t WHERE id > 50; VACUUM;");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	take_state(live, &s2, &c, shell, sizeof shell);
	assert_true(s2.len < s1.len);
	check_step(&s1, &s2, ps, true, &c, shell);

	remove_db(live);
	bytes_free(&s0);
	bytes_free(&s1);
	bytes_free(&s2);
	bytes_free(&c);
}

static void test_sqlite_applies_increments(void **state)
{
	(void)state;
	for (uint32_t ps = 512; ps <= 65536; ps *= 2)
		run_history(ps, "WAL");
}

/* A rollback-journal image (bytes 18/19 = 1) works the same: SQLite opens
 * a "-wal" found beside any non-empty database whatever the header says,
 * checkpoints it, and the image stays a rollback-journal one, since page 1
 * comes from the increment like any page. */
static void test_rollback_image(void **state)
{
	(void)state;
	run_history(4096, "DELETE");
}

/* A damaged increment is not half-applied by hand either: SQLite stops at
 * the first frame whose checksum fails, and without its commit frame the
 * transaction never happened -- the copy keeps the old image.  (This is
 * also what shows that the tests above really went through the "-wal".) */
static void test_sqlite_ignores_damage(void **state)
{
	(void)state;
	char live[128], db_path[128], wal_path[160], shell[256];
	struct bytes s0 = {0}, s1 = {0}, c0 = {0}, c1 = {0}, wal = {0}, got = {0};
	uint32_t frames;
	sqlite3 *db;

	path_in_dir(live, sizeof live, "live.db");
	remove_db(live);
	db = open_live(live);
	exec_sql(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v, b);"
		     "INSERT INTO t VALUES (1, 'one', randomblob(100));");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	take_state(live, &s0, &c0, shell, sizeof shell);
	db = open_live(live);
	exec_sql(db, "INSERT INTO t VALUES (2, 'two', randomblob(20000));");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	take_state(live, &s1, &c1, shell, sizeof shell);
	diff_to_wal(&s0, &s1, 4096, false, &wal, &frames);
	assert_true(frames > 1);
	wal.p[wal.len - 100] ^= 1;   /* in the commit frame's page */

	path_in_dir(db_path, sizeof db_path, "copy.db");
	snprintf(wal_path, sizeof wal_path, "%s-wal", db_path);
	remove_db(db_path);
	write_file(db_path, s0.p, s0.len);
	write_file(wal_path, wal.p, wal.len);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	dump_db(db, &got);
	assert_int_equal(got.len, c0.len);
	assert_memory_equal(got.p, c0.p, c0.len);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	read_file(db_path, &got);
	assert_int_equal(got.len, s0.len);
	assert_memory_equal(got.p, s0.p, s0.len);
	assert_corrupt(wal.p, wal.len, "checksum mismatch");

	remove_db(db_path);
	remove_db(live);
	bytes_free(&s0);
	bytes_free(&s1);
	bytes_free(&c0);
	bytes_free(&c1);
	bytes_free(&wal);
	bytes_free(&got);
}

/* SQLite deletes a "-wal" beside an empty (0-byte) file without reading it,
 * so the recipe starts from a snapshot, never from nothing; the apply
 * helper builds the whole image from nothing. */
static void test_empty_image(void **state)
{
	(void)state;
	char live[128], db_path[128], wal_path[160], shell[256];
	struct bytes empty = {0}, img = {0}, c = {0}, wal = {0}, got = {0};
	struct walfile_info info;
	struct error err = {0};
	uint32_t frames;
	sqlite3 *db;
	char row[64];
	int dbfd, walfd;

	path_in_dir(live, sizeof live, "live.db");
	remove_db(live);
	db = open_live(live);
	exec_sql(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v, b);"
		     "INSERT INTO t VALUES (1, 'one', randomblob(9000));");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	take_state(live, &img, &c, shell, sizeof shell);
	diff_to_wal(&empty, &img, 4096, false, &wal, &frames);
	assert_int_equal(frames, img.len / 4096);

	path_in_dir(db_path, sizeof db_path, "copy.db");
	snprintf(wal_path, sizeof wal_path, "%s-wal", db_path);
	remove_db(db_path);
	write_file(db_path, "", 0);
	write_file(wal_path, wal.p, wal.len);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	one_row(db, "SELECT count(*) FROM sqlite_schema", row, sizeof row);
	assert_string_equal(row, "0");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
	assert_int_equal(access(wal_path, F_OK), -1);   /* gone, unread */

	write_file(wal_path, wal.p, wal.len);
	dbfd = open(db_path, O_RDWR);
	walfd = open(wal_path, O_RDONLY);
	assert_true(dbfd >= 0 && walfd >= 0);
	assert_int_equal(walfile_apply_fd(dbfd, db_path, walfd, wal_path, &info, &err), CB_OK);
	close(dbfd);
	close(walfd);
	read_file(db_path, &got);
	assert_int_equal(got.len, img.len);
	assert_memory_equal(got.p, img.p, img.len);

	remove_db(db_path);
	remove_db(live);
	bytes_free(&img);
	bytes_free(&c);
	bytes_free(&wal);
	bytes_free(&got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_page_sizes),
		cmocka_unit_test(test_one_page),
		cmocka_unit_test(test_random_salts),
		cmocka_unit_test(test_reads_sqlite_wal),
		cmocka_unit_test(test_through_gzip),
		cmocka_unit_test(test_writer_misuse),
		cmocka_unit_test(test_writer_write_error),
		cmocka_unit_test(test_corrupt_header),
		cmocka_unit_test(test_corrupt_frames),
		cmocka_unit_test(test_corrupt_resealed),
		cmocka_unit_test(test_corrupt_length),
		cmocka_unit_test(test_reader_sticky_and_sink_error),
		cmocka_unit_test(test_sqlite_applies_increments),
		cmocka_unit_test(test_rollback_image),
		cmocka_unit_test(test_sqlite_ignores_damage),
		cmocka_unit_test(test_empty_image),
	};
	int rc;

	snprintf(test_dir, sizeof test_dir, "/tmp/cbsync-walfile-XXXXXX");
	if (!mkdtemp(test_dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rmdir(test_dir);
	return rc;
}
