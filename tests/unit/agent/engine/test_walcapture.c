/*
 * Unit tests for agent/engine/walsource.c and walcapture.c: reading the live
 * WAL that SQLite really wrote, and capturing increments from its frames.
 *
 * A live database in WAL mode (autocheckpoint off, so the test decides when
 * SQLite checkpoints and restarts the WAL) is changed in rounds; after each,
 * walcap_capture writes an increment from the chain's position, which --
 * gunzipped and applied to the image of the state before -- must give the
 * live state byte for byte (the state SQLite itself reaches by checkpointing
 * a copy of the database and its WAL).  Around that: what is published and
 * what is not, WAL restarts followed and not, TRUNCATE, torn frames, other
 * salts, a big-endian WAL, a replaced database, a rollback journal.
 */
#include "agent/engine/capture.h"
#include "agent/engine/gzstream.h"
#include "agent/engine/snapshot.h"
#include "agent/engine/walcapture.h"
#include "agent/engine/walfile.h"
#include "agent/engine/walfile_internal.h"
#include "agent/engine/walsource.h"
#include "common/timeutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine_test.h"

#include <string.h>

struct ctx {
	char dir[64];
	char db[128];      /* the live database */
	char wal[136];     /* its -wal */
	char image[128];   /* the chain's state, kept by applying increments */
	char raw[128];     /* scratch: the live state, checkpointed from a copy */
	char inc[128];     /* an increment */
	char incwal[128];  /* ... gunzipped */
	sqlite3 *live;     /* the writer's connection */
	struct pagesum *table;
	struct walpos pos;
	uint32_t seq;
};

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	snprintf(c->dir, sizeof(c->dir), "/tmp/cbsync-walcap-XXXXXX");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->db, sizeof(c->db), "%s/live.db", c->dir);
	snprintf(c->wal, sizeof(c->wal), "%s-wal", c->db);
	snprintf(c->image, sizeof(c->image), "%s/image.db", c->dir);
	snprintf(c->raw, sizeof(c->raw), "%s/raw.db", c->dir);
	snprintf(c->inc, sizeof(c->inc), "%s/inc.wal.gz", c->dir);
	snprintf(c->incwal, sizeof(c->incwal), "%s/inc.wal", c->dir);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	char cmd[128];
	if (c->live)
		sqlite3_close(c->live);
	pagesum_free(c->table);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c->dir);
	if (system(cmd) != 0)
		return -1;
	free(c);
	return 0;
}

static void copy_file(const char *from, const char *to)
{
	size_t len;
	unsigned char *p = slurp(from, &len);
	assert_non_null(p);
	spit(to, p, len);
	free(p);
}

/* The live state as SQLite itself makes it: the database and its WAL
 * copied, and the copy checkpointed into one file. */
static void raw_state(struct ctx *c, const char *to)
{
	char wal[160], shm[160];
	sqlite3 *db = NULL;
	snprintf(wal, sizeof(wal), "%s-wal", to);
	snprintf(shm, sizeof(shm), "%s-shm", to);
	unlink(shm);
	unlink(wal);
	copy_file(c->db, to);
	if (access(c->wal, F_OK) == 0)
		copy_file(c->wal, wal);
	assert_int_equal(sqlite3_open(to, &db), SQLITE_OK);
	exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE);");
	sqlite3_close(db);
	unlink(wal);
	unlink(shm);
}

static struct pagesum *table_of(const char *path)
{
	struct pagesum *t = NULL;
	struct error err = {0};
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	if (pagesum_build(fd, 4096, &t, &err))
		fail_msg("pagesum_build: %s", err.msg);
	close(fd);
	return t;
}

static void rows(struct ctx *c, int n, int size)
{
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM k WHERE i<%d) "
		 "INSERT INTO t(v) SELECT randomblob(%d) FROM k;", n, size);
	exec_ok(c->live, sql);
}

/* A live database with some rows, its raw state as the chain's image, and
 * the position of that state (the WAL checkpointed and truncated first). */
static void start(struct ctx *c, const char *journal)
{
	char sql[128];
	unlink(c->db);
	unlink(c->wal);
	assert_int_equal(sqlite3_open(c->db, &c->live), SQLITE_OK);
	snprintf(sql, sizeof(sql), "PRAGMA journal_mode=%s; PRAGMA wal_autocheckpoint=0;",
		 journal);
	exec_ok(c->live, sql);
	exec_ok(c->live, "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);");
	rows(c, 200, 300);
	if (strcmp(journal, "wal") == 0)
		exec_ok(c->live, "PRAGMA wal_checkpoint(TRUNCATE);");
	raw_state(c, c->image);
	c->table = table_of(c->image);
	sqlite3 *src = NULL;
	struct error err = {0};
	assert_int_equal(snapshot_open_source(c->db, 5, &src, &err), CB_OK);
	if (walcap_begin_read(src, c->db, &c->pos, NULL, &err))
		fail_msg("begin_read: %s", err.msg);
	sqlite3_close(src);
	c->seq = 0;
}

static enum result to_fd(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)err;
	return write(*(int *)ctx, buf, len) == (ssize_t)len ? CB_OK : CB_ERR_IO;
}

static void apply(struct ctx *c)
{
	struct error err = {0};
	struct gz_read_result gz;
	struct walfile_info info;
	int in = open(c->inc, O_RDONLY), out = open(c->incwal, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(in >= 0 && out >= 0);
	if (gz_read_fd(in, to_fd, &out, NULL, NULL, &gz, &err))
		fail_msg("gunzip: %s", err.msg);
	close(in);
	lseek(out, 0, SEEK_SET);
	int img = open(c->image, O_RDWR);
	if (walfile_apply_fd(img, c->image, out, c->incwal, &info, &err))
		fail_msg("apply: %s", err.msg);
	close(img);
	close(out);
}

/* One capture from the position; returns its result (the position moves on
 * unless it fell back). */
static struct walcap_result capture(struct ctx *c)
{
	struct capture_opts o = {.db_path = c->db, .busy_timeout = 5, .level = 6, .threads = 1,
				 .checkpoint_seq = ++c->seq};
	struct walcap_result res;
	struct error err = {0};
	int fd = open(c->inc, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	if (walcap_capture(&o, c->table, &c->pos, fd, &res, &err))
		fail_msg("walcap_capture: %s", err.msg);
	close(fd);
	if (!res.fallback) {
		assert_true(res.cap.pos.valid);
		c->pos = res.cap.pos;
		if (res.cap.changed)
			apply(c);
		assert_true(pagesum_checksum(c->table) == res.cap.state_checksum);
	}
	return res;
}

/* The image is the live state, byte for byte, and the table its hashes. */
static void assert_live(struct ctx *c)
{
	size_t alen, blen;
	raw_state(c, c->raw);
	unsigned char *a = slurp(c->image, &alen), *b = slurp(c->raw, &blen);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	struct pagesum *fresh = table_of(c->raw);
	assert_true(pagesum_checksum(fresh) == pagesum_checksum(c->table));
	pagesum_free(fresh);
}

static void assert_fallback(struct walcap_result r, const char *why)
{
	assert_true(r.fallback);
	assert_false(r.cap.changed);
	if (!strstr(r.why, why))
		fail_msg("fallback '%s', expected '%s'", r.why, why);
}

static uint64_t wal_size(struct ctx *c)
{
	struct stat st;
	return stat(c->wal, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ---- the wal-index and the position of a read ---------------------------- */

static void test_index_and_position(void **state)
{
	struct ctx *c = *state;
	struct wal_index idx;
	struct error err = {0};
	start(c, "wal");
	/* After TRUNCATE: a generation with no frames, its file empty. */
	assert_true(c->pos.valid);
	assert_int_equal(c->pos.frames, 0);
	assert_int_equal(wal_size(c), 0);

	rows(c, 3, 100);
	rows(c, 3, 100);
	assert_int_equal(wal_index_read(c->live, &idx, &err), CB_OK);
	assert_int_equal(idx.page_size, 4096);
	assert_int_equal(wal_size(c), walfile_size(4096, idx.max_frame));
	/* The generation the position named before any of its frames. */
	assert_int_equal(idx.salt[0], c->pos.salt[0]);
	assert_int_equal(idx.salt[1], c->pos.salt[1]);

	sqlite3 *src = NULL;
	struct walpos pos;
	assert_int_equal(snapshot_open_source(c->db, 5, &src, &err), CB_OK);
	assert_int_equal(walcap_begin_read(src, c->db, &pos, NULL, &err), CB_OK);
	/* The read sees the published end, and commits after it do not move
	 * it: a transaction is open. */
	rows(c, 5, 100);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(src, "SELECT count(*) FROM t", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 206);
	sqlite3_finalize(st);
	sqlite3_close(src);
	assert_true(pos.valid);
	assert_int_equal(pos.frames, idx.max_frame);
	assert_int_equal(pos.sum[0], idx.frame_sum[0]);
	assert_int_equal(pos.sum[1], idx.frame_sum[1]);
	assert_int_equal(pos.salt[0], c->pos.salt[0]);
	assert_int_equal(pos.page_size, 4096);
	struct stat sb;
	assert_int_equal(stat(c->db, &sb), 0);
	assert_true(pos.db_ino == (uint64_t)sb.st_ino);

	/* A rollback-journal database has none (and gets no -shm for asking). */
	sqlite3 *img = NULL;
	char shm[160];
	snprintf(shm, sizeof(shm), "%s-shm", c->raw);
	copy_file(c->image, c->raw);
	assert_int_equal(sqlite3_open(c->raw, &img), SQLITE_OK);
	exec_ok(img, "PRAGMA journal_mode=DELETE; SELECT count(*) FROM t;");
	assert_int_equal(wal_index_read(img, &idx, &err), CB_ERR_NOT_FOUND);
	assert_false(wal_db_in_wal_mode(img));
	sqlite3_close(img);
	assert_int_equal(access(shm, F_OK), -1);
}

/* What another process's checkpoint gets: "busy|log|checkpointed". */
static void other_checkpoint(struct ctx *c, const char *mode, char *out, size_t size)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd),
		 "sqlite3 '%s' 'PRAGMA busy_timeout=0;' 'PRAGMA wal_checkpoint(%s);' | tail -1",
		 c->db, mode);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	assert_non_null(fgets(out, (int)size, p));
	pclose(p);
	out[strcspn(out, "\n")] = '\0';
}

/* Reading the wal-index keeps the read transaction's locks: a file
 * descriptor of our own on the -shm, once closed, would have dropped every
 * lock of the process on it, and a TRUNCATE checkpoint in another process
 * would have emptied the WAL under the reader. */
static void test_reader_keeps_its_locks(void **state)
{
	struct ctx *c = *state;
	struct wal_index idx;
	struct walpos pos;
	struct error err = {0};
	char got[64];
	sqlite3 *src = NULL;
	/* Not start(): its copies of the live file would themselves drop the
	 * process's locks on it. */
	assert_int_equal(sqlite3_open(c->db, &c->live), SQLITE_OK);
	exec_ok(c->live, "PRAGMA journal_mode=wal; PRAGMA wal_autocheckpoint=0;"
			 "CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);");
	rows(c, 5, 2000);
	assert_int_equal(snapshot_open_source(c->db, 5, &src, &err), CB_OK);
	assert_int_equal(walcap_begin_read(src, c->db, &pos, NULL, &err), CB_OK);
	assert_true(pos.valid);
	for (int i = 0; i < 3; i++)
		assert_int_equal(wal_index_read(src, &idx, &err), CB_OK);
	rows(c, 1, 100);
	other_checkpoint(c, "TRUNCATE", got, sizeof(got));
	assert_int_equal(got[0], '1');   /* busy: the reader holds the WAL */
	assert_true(wal_size(c) > 0);
	sqlite3_close(src);
	other_checkpoint(c, "TRUNCATE", got, sizeof(got));
	assert_string_equal(got, "0|0|0");
}

/* ---- captures ------------------------------------------------------------ */

static void test_frames_follow_commits(void **state)
{
	struct ctx *c = *state;
	start(c, "wal");
	rows(c, 10, 500);
	exec_ok(c->live, "UPDATE t SET v = randomblob(50) WHERE id % 9 = 0;");
	int64_t committed = time_now_ms();
	struct walcap_result r = capture(c);
	/* Stamped after every commit it holds. */
	assert_true(r.cap.state_ms >= committed);
	if (r.fallback)
		fail_msg("fallback: %s", r.why);
	assert_true(r.cap.changed);
	assert_false(r.followed_restart);
	assert_live(c);
	/* More, including a shrink of the table and a delete. */
	exec_ok(c->live, "DELETE FROM t WHERE id > 150;");
	rows(c, 2, 3000);
	r = capture(c);
	assert_true(r.cap.changed);
	assert_live(c);
	/* Nothing since: no increment, the same place. */
	struct walpos before = c->pos;
	r = capture(c);
	if (r.fallback)
		fail_msg("fallback: %s", r.why);
	assert_false(r.cap.changed);
	assert_true(walpos_equal(&before, &c->pos));
	/* A commit that rewrites a page with the bytes it had (page 1, the
	 * user version set to what it is) carries nothing. */
	exec_ok(c->live, "PRAGMA user_version = 0;");
	r = capture(c);
	if (r.fallback)
		fail_msg("fallback: %s", r.why);
	assert_false(r.cap.changed);
	assert_true(c->pos.frames > before.frames);
	assert_live(c);
}

/* Append to the live WAL a commit frame that chains and carries the
 * generation's salts, as a writer does before it publishes the commit. */
static void append_unpublished_commit(struct ctx *c)
{
	struct wal_header h;
	struct error err = {0};
	int fd = open(c->wal, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(wal_header_read(fd, c->wal, &h, &err), CB_OK);
	assert_true(c->pos.frames > 0);
	unsigned char *f = calloc(1, FRAME_HDR + 4096);
	assert_int_equal(wal_page_read(fd, c->wal, 4096, c->pos.frames, f + FRAME_HDR, &err),
			 CB_OK);
	uint32_t sum[2] = {c->pos.sum[0], c->pos.sum[1]};
	struct wal_frame last;
	assert_int_equal(wal_frame_read(fd, c->wal, 4096, c->pos.frames, &last, &err), CB_OK);
	put_be32(f, last.pgno);
	put_be32(f + 4, last.db_pages);
	put_be32(f + 8, h.info.salt[0]);
	put_be32(f + 12, h.info.salt[1]);
	f[FRAME_HDR + 4095] ^= 0x5a;  /* other bytes in the page's free tail */
	walfile_frame_checksum(sum, f, 4096, h.big_endian);
	put_be32(f + 16, sum[0]);
	put_be32(f + 20, sum[1]);
	assert_int_equal(fs_pwrite_all(fd, f, FRAME_HDR + 4096,
				       (off_t)wal_frame_offset(4096, c->pos.frames + 1)), 0);
	close(fd);
	free(f);
}

static void test_unpublished_commit_is_left(void **state)
{
	struct ctx *c = *state;
	start(c, "wal");
	rows(c, 4, 200);
	struct walcap_result r = capture(c);
	assert_true(r.cap.changed);
	assert_false(r.cap.pending);
	assert_false(walcap_commit_pending(c->db, &c->pos));
	append_unpublished_commit(c);
	/* A scan of the file alone would take it; the wal-index says no, and
	 * the capture says to come back for it. */
	r = capture(c);
	if (r.fallback)
		fail_msg("fallback: %s", r.why);
	assert_false(r.cap.changed);
	assert_true(r.cap.pending);
	assert_true(walcap_commit_pending(c->db, &c->pos));
	/* The writer's next commit goes over it, and is captured. */
	rows(c, 3, 200);
	r = capture(c);
	if (r.fallback)
		fail_msg("fallback: %s", r.why);
	assert_true(r.cap.changed);
	assert_live(c);
}

static void test_restart_followed(void **state)
{
	struct ctx *c = *state;
	start(c, "wal");
	rows(c, 40, 2000);               /* a long generation */
	assert_true(capture(c).cap.changed);
	uint32_t salt1 = c->pos.salt[0], ckpt = c->pos.ckpt;
	rows(c, 5, 2000);                /* more in it, not captured yet */
	exec_ok(c->live, "PRAGMA wal_checkpoint(PASSIVE);");  /* all of it backfilled */
	rows(c, 1, 100);                 /* the next write restarts the WAL */
	rows(c, 1, 100);
	struct walcap_result r = capture(c);
	if (r.fallback)
		fail_msg("fallback: %s", r.why);
	assert_true(r.followed_restart);
	assert_true(r.cap.changed);
	assert_int_equal(c->pos.salt[0], salt1 + 1);
	assert_int_equal(c->pos.ckpt, ckpt + 1);
	assert_live(c);
	rows(c, 2, 100);
	r = capture(c);
	assert_false(r.followed_restart);
	assert_true(r.cap.changed);
	assert_live(c);
}

static void test_restart_at_the_position(void **state)
{
	struct ctx *c = *state;
	start(c, "wal");
	rows(c, 20, 2000);
	assert_true(capture(c).cap.changed);
	/* Checkpointed and restarted, nothing new in the old generation: the
	 * new one continues the state. */
	exec_ok(c->live, "PRAGMA wal_checkpoint(RESTART);");
	struct walcap_result r = capture(c);
	if (r.fallback)
		fail_msg("fallback: %s", r.why);
	assert_false(r.cap.changed);
	rows(c, 2, 100);
	r = capture(c);
	if (r.fallback)
		fail_msg("fallback: %s", r.why);
	assert_true(r.followed_restart);
	assert_live(c);
}

static void test_restart_over_the_position(void **state)
{
	struct ctx *c = *state;
	start(c, "wal");
	rows(c, 1, 100);
	assert_true(capture(c).cap.changed);
	rows(c, 1, 100);
	exec_ok(c->live, "PRAGMA wal_checkpoint(PASSIVE);");
	rows(c, 30, 2000);               /* the new generation passes the position */
	assert_fallback(capture(c), "restarted over the chain's position");
}

static void test_two_restarts(void **state)
{
	struct ctx *c = *state;
	start(c, "wal");
	rows(c, 30, 2000);
	assert_true(capture(c).cap.changed);
	for (int i = 0; i < 2; i++) {
		exec_ok(c->live, "PRAGMA wal_checkpoint(PASSIVE);");
		rows(c, 1, 100);
	}
	assert_fallback(capture(c), "restarted more than once");
}

static void test_truncate(void **state)
{
	struct ctx *c = *state;
	start(c, "wal");
	rows(c, 5, 200);
	assert_true(capture(c).cap.changed);
	rows(c, 5, 200);
	exec_ok(c->live, "PRAGMA wal_checkpoint(TRUNCATE);");
	assert_int_equal(wal_size(c), 0);
	assert_fallback(capture(c), "truncated");
	rows(c, 1, 200);
	assert_fallback(capture(c), "over the chain's position");
}

static void test_torn_and_foreign_frames(void **state)
{
	struct ctx *c = *state;
	start(c, "wal");
	rows(c, 3, 200);
	assert_true(capture(c).cap.changed);
	rows(c, 3, 200);
	rows(c, 3, 200);
	/* A byte of a published frame's page changes: the chain breaks
	 * before the published end. */
	int fd = open(c->wal, O_RDWR);
	unsigned char b;
	off_t off = (off_t)wal_frame_offset(4096, c->pos.frames + 1) + FRAME_HDR + 100;
	assert_int_equal(pread(fd, &b, 1, off), 1);
	b ^= 1;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	assert_fallback(capture(c), "do not check out");
	b ^= 1;
	assert_int_equal(pwrite(fd, &b, 1, off), 1);
	/* A frame with other salts, its checksum right for them. */
	unsigned char hdr[FRAME_HDR];
	off = (off_t)wal_frame_offset(4096, c->pos.frames + 2);
	assert_int_equal(pread(fd, hdr, FRAME_HDR, off), FRAME_HDR);
	unsigned char saved[FRAME_HDR];
	memcpy(saved, hdr, FRAME_HDR);
	put_be32(hdr + 8, get_be32(hdr + 8) + 1);
	assert_int_equal(pwrite(fd, hdr, FRAME_HDR, off), FRAME_HDR);
	assert_fallback(capture(c), "do not check out");
	assert_int_equal(pwrite(fd, saved, FRAME_HDR, off), FRAME_HDR);
	close(fd);
	/* Repaired, it reads again. */
	struct walcap_result r = capture(c);
	if (r.fallback)
		fail_msg("fallback: %s", r.why);
	assert_live(c);
}

static void test_replaced_and_rollback(void **state)
{
	struct ctx *c = *state;
	start(c, "wal");
	rows(c, 2, 100);
	assert_true(capture(c).cap.changed);
	/* The position's frame rewritten: it is not the one captured. */
	struct walpos keep = c->pos;
	rows(c, 1, 100);
	c->pos.sum[0] ^= 1;
	assert_fallback(capture(c), "no longer the one captured");
	c->pos = keep;
	c->pos.db_ino ^= 1;
	assert_fallback(capture(c), "database file was replaced");
	c->pos = keep;
	c->pos.wal_ino ^= 1;
	assert_fallback(capture(c), "WAL file was replaced");
	c->pos = keep;
	c->pos.valid = false;
	assert_fallback(capture(c), "no WAL position");
	sqlite3_close(c->live);
	c->live = NULL;
	pagesum_free(c->table);
	c->table = NULL;

	/* A rollback-journal database has no place in a WAL. */
	start(c, "delete");
	assert_false(c->pos.valid);
	c->pos.valid = true;
	struct stat st;
	assert_int_equal(stat(c->db, &st), 0);
	c->pos.db_dev = (uint64_t)st.st_dev;
	c->pos.db_ino = (uint64_t)st.st_ino;
	assert_fallback(capture(c), "not in WAL mode");
}

/* ---- walking a WAL file -------------------------------------------------- */

/* Scan a WAL file whole: its pages (newest of each) and last commit. */
static struct wal_scan scan_file(const char *path, struct wal_pages *pages)
{
	struct wal_header h;
	struct error err = {0};
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(wal_header_read(fd, path, &h, &err), CB_OK);
	struct wal_scan s = {.fd = fd, .path = path, .page_size = h.info.page_size,
			     .big_endian = h.big_endian, .salt = {h.info.salt[0], h.info.salt[1]},
			     .sum = {h.sum[0], h.sum[1]}, .first = 1};
	assert_int_equal(wal_scan(&s, pages, &err), CB_OK);
	close(fd);
	wal_pages_latest(pages);
	return s;
}

/* Rewrite a WAL's checksums over big-endian words (magic 0x377f0683), as
 * SQLite on a big-endian host writes them. */
static void to_big_endian(const char *path)
{
	size_t len;
	unsigned char *w = slurp(path, &len);
	uint32_t ps = get_be32(w + 8), sum[2];
	struct walfile_info info = {.page_size = ps, .checkpoint_seq = get_be32(w + 12),
				    .salt = {get_be32(w + 16), get_be32(w + 20)}};
	walfile_header_encode(w, &info, sum);
	for (size_t off = WALFILE_HEADER_SIZE; off + FRAME_HDR + ps <= len; off += FRAME_HDR + ps) {
		walfile_frame_checksum(sum, w + off, ps, true);
		put_be32(w + off + 16, sum[0]);
		put_be32(w + off + 20, sum[1]);
	}
	spit(path, w, len);
	free(w);
}

static void test_scan_real_wal(void **state)
{
	struct ctx *c = *state;
	char copy[160], cwal[170];
	struct wal_pages p = {0}, q = {0};
	start(c, "wal");
	for (int i = 0; i < 4; i++)
		rows(c, 3, 700);
	snprintf(copy, sizeof(copy), "%s/copy.db", c->dir);
	snprintf(cwal, sizeof(cwal), "%s-wal", copy);
	copy_file(c->db, copy);
	copy_file(c->wal, cwal);
	size_t len;
	unsigned char *orig = slurp(cwal, &len);
	uint32_t frames = (uint32_t)((len - WALFILE_HEADER_SIZE) / (FRAME_HDR + 4096));

	struct wal_scan s = scan_file(cwal, &p);
	assert_int_equal(s.commit, frames);
	assert_int_equal(s.frames, 0);
	assert_true(p.n > 0);
	/* The magic SQLite writes on this host, and big-endian words: the
	 * same frames, and SQLite reads the rewritten file too. */
	assert_int_equal(get_be32(orig), WALFILE_MAGIC_LE);
	to_big_endian(cwal);
	struct wal_scan b = scan_file(cwal, &q);
	assert_int_equal(b.commit, s.commit);
	assert_int_equal(b.db_pages, s.db_pages);
	assert_int_equal(q.n, p.n);
	for (size_t i = 0; i < p.n; i++)
		assert_true(p.v[i].pgno == q.v[i].pgno && p.v[i].offset == q.v[i].offset);
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(copy, &db), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 212);
	sqlite3_finalize(st);
	sqlite3_close(db);
	wal_pages_free(&q);

	/* Torn: the file cut inside the last frame ends the walk at the
	 * commit before that transaction's frames. */
	spit(cwal, orig, len - 100);
	wal_pages_free(&q);
	struct wal_scan t = scan_file(cwal, &q);
	assert_true(t.commit < s.commit && t.commit > 0);
	wal_pages_free(&q);
	/* A bad checksum in frame 2 (a byte of its page): only what the
	 * first transaction committed before it, if anything. */
	orig[WALFILE_HEADER_SIZE + (FRAME_HDR + 4096) + FRAME_HDR + 7] ^= 0x80;
	spit(cwal, orig, len);
	t = scan_file(cwal, &q);
	assert_true(t.commit <= 1);
	wal_pages_free(&q);
	orig[WALFILE_HEADER_SIZE + (FRAME_HDR + 4096) + FRAME_HDR + 7] ^= 0x80;
	/* A frame of another generation (salt-1 one more) ends it there. */
	unsigned char *f3 = orig + WALFILE_HEADER_SIZE + 2 * (FRAME_HDR + 4096);
	put_be32(f3 + 8, get_be32(f3 + 8) + 1);
	spit(cwal, orig, len);
	t = scan_file(cwal, &q);
	assert_true(t.commit <= 2);
	wal_pages_free(&q);
	free(orig);
	wal_pages_free(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_index_and_position, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader_keeps_its_locks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_frames_follow_commits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unpublished_commit_is_left, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_at_the_position, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_over_the_position, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_restarts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_torn_and_foreign_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_and_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_real_wal, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
