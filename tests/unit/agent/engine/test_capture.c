/*
 * Unit tests for agent/engine/capture.c: page-diff capture of increments.
 *
 * A real database is changed in rounds; after each, capture_diff writes an
 * increment against the table of the state before, and the increment --
 * gunzipped and applied to a copy of that state -- must give exactly the
 * database's new state, with the state checksum of a table built from it.
 */
#include "agent/engine/capture.h"
#include "agent/engine/gzstream.h"
#include "agent/engine/walfile.h"

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

struct ctx {
	char dir[64];
	char db[128];      /* the live database */
	char image[128];   /* the chain's state, kept by applying increments */
	char inc[128];     /* the increment's object */
	char wal[128];     /* ... gunzipped */
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "/tmp/cbsync-capture-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->db, sizeof(c->db), "%s/live.db", c->dir);
	snprintf(c->image, sizeof(c->image), "%s/image.db", c->dir);
	snprintf(c->inc, sizeof(c->inc), "%s/inc.wal.gz", c->dir);
	snprintf(c->wal, sizeof(c->wal), "%s/inc.wal", c->dir);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	if (system(cmd) != 0)
		return -1;
	free(c);
	return 0;
}

static void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
}

/* The database's state as a file: a backup-API copy (the live file may lag
 * its WAL). */
static void copy_state(const char *from, const char *to)
{
	sqlite3 *src = NULL, *dst = NULL;
	unlink(to);
	assert_int_equal(sqlite3_open(from, &src), SQLITE_OK);
	assert_int_equal(sqlite3_open(to, &dst), SQLITE_OK);
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	assert_non_null(b);
	assert_int_equal(sqlite3_backup_step(b, -1), SQLITE_DONE);
	assert_int_equal(sqlite3_backup_finish(b), SQLITE_OK);
	sqlite3_close(dst);
	sqlite3_close(src);
}

static struct pagesum *table_of(const char *path, uint32_t page_size)
{
	struct pagesum *t = NULL;
	struct error err = {0};
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	if (pagesum_build(fd, page_size, &t, &err))
		fail_msg("pagesum_build: %s", err.msg);
	close(fd);
	return t;
}

static int read_all(const char *path, unsigned char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	*out = malloc((size_t)n + 1);
	*len = fread(*out, 1, (size_t)n, f);
	fclose(f);
	return 0;
}

static enum result to_fd(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)err;
	return write(*(int *)ctx, buf, len) == (ssize_t)len ? CB_OK : CB_ERR_IO;
}

/* Capture against table; if something changed, apply the increment to the
 * image and check it equals the live state. */
static struct capture_result capture_round(struct ctx *c, struct pagesum *table,
					   uint32_t page_size, uint32_t seq)
{
	struct capture_opts o = {.db_path = c->db, .busy_timeout = 5, .level = 6, .threads = 1,
				 .checkpoint_seq = seq};
	struct capture_result res;
	struct error err = {0};
	unlink(c->inc);
	int fd = open(c->inc, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	if (capture_diff(&o, table, fd, &res, &err))
		fail_msg("capture_diff: %s", err.msg);
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	if (!res.changed) {
		assert_int_equal(st.st_size, 0);
		return res;
	}
	assert_int_equal((uint64_t)st.st_size, res.compressed_size);

	/* gunzip, apply to the image of the state before */
	int in = open(c->inc, O_RDONLY), out = open(c->wal, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(in >= 0 && out >= 0);
	struct gz_read_result gz;
	if (gz_read_fd(in, to_fd, &out, NULL, NULL, &gz, &err))
		fail_msg("gunzip: %s", err.msg);
	assert_int_equal(gz.data_size, res.original_size);
	close(in);
	lseek(out, 0, SEEK_SET);
	int img = open(c->image, O_RDWR);
	struct walfile_info info;
	if (walfile_apply_fd(img, c->image, out, c->wal, &info, &err))
		fail_msg("apply: %s", err.msg);
	close(img);
	close(out);
	assert_int_equal(info.frames, res.pages);
	assert_int_equal(info.db_pages, res.page_count);
	assert_int_equal(info.checkpoint_seq, seq);

	/* The image is now the live state, byte for byte. */
	char state[160];
	snprintf(state, sizeof(state), "%s/state.db", c->dir);
	copy_state(c->db, state);
	unsigned char *a = NULL, *b = NULL;
	size_t alen, blen;
	assert_int_equal(read_all(c->image, &a, &alen), 0);
	assert_int_equal(read_all(state, &b, &blen), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	struct pagesum *fresh = table_of(state, page_size);
	assert_true(pagesum_checksum(fresh) == res.state_checksum);
	assert_true(pagesum_checksum(table) == res.state_checksum);
	pagesum_free(fresh);
	return res;
}

static void run_history(struct ctx *c, uint32_t page_size, const char *journal)
{
	sqlite3 *db = NULL;
	char sql[256];
	unlink(c->db);
	assert_int_equal(sqlite3_open(c->db, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA page_size=%u; PRAGMA journal_mode=%s;", page_size,
		 journal);
	exec_ok(db, sql);
	exec_ok(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);"
		    "CREATE INDEX t_v ON t(v);"
		    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<300) "
		    "INSERT INTO t(v) SELECT printf('row %d %s', i, hex(randomblob(40))) FROM n;");
	/* The snapshot: the chain's first state. */
	copy_state(c->db, c->image);
	struct pagesum *table = table_of(c->image, page_size);

	/* Nothing changed: no increment. */
	struct capture_result r = capture_round(c, table, page_size, 1);
	assert_false(r.changed);
	assert_false(r.new_base);

	static const char *rounds[] = {
		"UPDATE t SET v = v || 'x' WHERE id % 7 = 0;",
		"INSERT INTO t(v) SELECT hex(randomblob(500)) FROM t WHERE id < 200;",
		"DELETE FROM t WHERE id % 3 = 0;",
		"CREATE TABLE big(b BLOB); INSERT INTO big VALUES (randomblob(200000));",
		"DROP TABLE big; DELETE FROM t WHERE id > 100;",
		"VACUUM;",
		"UPDATE t SET v = 'one' WHERE id = 1;",
	};
	uint32_t seq = 1;
	for (size_t i = 0; i < sizeof(rounds) / sizeof(*rounds); i++) {
		exec_ok(db, rounds[i]);
		r = capture_round(c, table, page_size, ++seq);
		if (!r.changed)
			fail_msg("round %zu (%s) captured nothing", i, rounds[i]);
		assert_true(r.pages >= 1);
		assert_true(r.pages <= r.page_count);
	}
	/* The VACUUM shrank the database, and the chain followed. */
	assert_true(pagesum_page_count(table) < 60 || page_size < 4096);
	sqlite3_close(db);
	pagesum_free(table);
}

static void test_history_wal(void **state)
{
	static const uint32_t sizes[] = {512, 1024, 4096, 65536};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++)
		run_history(*state, sizes[i], "wal");
}

static void test_history_rollback(void **state)
{
	run_history(*state, 4096, "delete");
}

/* A page size change cannot ride a chain: nothing written, a new base asked
 * for, the table untouched. */
static void test_page_size_change(void **state)
{
	struct ctx *c = *state;
	sqlite3 *db = NULL;
	unlink(c->db);
	assert_int_equal(sqlite3_open(c->db, &db), SQLITE_OK);
	exec_ok(db, "PRAGMA page_size=4096; CREATE TABLE t(v); INSERT INTO t VALUES (1);");
	copy_state(c->db, c->image);
	struct pagesum *table = table_of(c->image, 4096);
	uint64_t before = pagesum_checksum(table);
	exec_ok(db, "PRAGMA page_size=8192; VACUUM;");
	sqlite3_close(db);
	struct capture_opts o = {.db_path = c->db, .busy_timeout = 5, .level = 6, .threads = 1};
	struct capture_result res;
	struct error err = {0};
	int fd = open(c->inc, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(capture_diff(&o, table, fd, &res, &err), CB_OK);
	struct stat st;
	fstat(fd, &st);
	close(fd);
	assert_true(res.new_base);
	assert_false(res.changed);
	assert_int_equal(st.st_size, 0);
	assert_true(pagesum_checksum(table) == before);
	pagesum_free(table);
}

static void test_missing_database(void **state)
{
	struct ctx *c = *state;
	char missing[160];
	snprintf(missing, sizeof(missing), "%s/nope.db", c->dir);
	struct pagesum *table = NULL;
	struct error err = {0};
	assert_int_equal(pagesum_new(4096, &table, &err), CB_OK);
	struct capture_opts o = {.db_path = missing, .busy_timeout = 1, .level = 6, .threads = 1};
	struct capture_result res;
	int fd = open(c->inc, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_int_not_equal(capture_diff(&o, table, fd, &res, &err), CB_OK);
	close(fd);
	assert_false(res.changed);
	struct stat st;
	assert_int_not_equal(stat(missing, &st), 0);  /* never created */
	pagesum_free(table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_history_wal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_page_size_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_database, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
