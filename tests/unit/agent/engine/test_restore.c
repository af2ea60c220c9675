/*
 * Unit tests for agent/restore.c, without the CLI: backups are gzip files of
 * real SQLite databases made here, restored with restore_from_file (or the
 * steps restore_begin / check_backup / restore_install / restore_end where
 * something must happen between them).
 *
 * What a restore must do: with no database, install the checked copy by
 * rename, with the configured mode, moving stray -wal/-shm files aside; over
 * a database, make a restore point of it first, then copy the backup into
 * it in place (a connection held open, in WAL mode too, sees the restored
 * rows); with --to, write a new file and leave the live database alone.
 * What it must refuse: --to naming an existing file, a target that is not a
 * regular file, a missing or damaged backup, a WAL database whose page size
 * differs, a database that appears while restoring.  After every failure
 * the target is as it was (byte for byte) and no temp file is left.
 */
#include "agent/engine/restore.h"
#include "common/fsutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "engine_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

struct ctx {
	char dir[64];
	char db_dir[128];   /* where the live database lives */
	char tier[128];     /* the local tier: restore points go here */
	char db[192];       /* the live database */
	struct restore_opts opts;
};

/* ---- helpers ------------------------------------------------------------- */

static const char *path_in(const char *dir, const char *name)
{
	static char buf[8][320];
	static int which;
	which = (which + 1) % 8;
	snprintf(buf[which], sizeof(buf[which]), "%s/%s", dir, name);
	return buf[which];
}

/* A database whose table `marker` holds one row, `label`, and `rows` rows of
 * filler; returns nothing, the file is closed. */
static void make_db(const char *path, int page_size, const char *journal, const char *label,
		    int rows)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char sql[256];
	snprintf(sql, sizeof(sql), "PRAGMA page_size=%d; PRAGMA journal_mode=%s;", page_size,
		 journal);
	exec_ok(db, sql);
	exec_ok(db, "CREATE TABLE marker(label TEXT);"
		    "CREATE TABLE filler(id INTEGER PRIMARY KEY, v TEXT);");
	snprintf(sql, sizeof(sql), "INSERT INTO marker VALUES ('%s')", label);
	exec_ok(db, sql);
	exec_ok(db, "BEGIN");
	for (int i = 0; i < rows; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO filler(v) VALUES ('%s row %d %x')", label, i,
			 i * 2654435761u);
		exec_ok(db, sql);
	}
	exec_ok(db, "COMMIT");
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* The marker of the database at path, read through SQLite ("" if none). */
static void marker_of(const char *path, char *out, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT label FROM marker", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void assert_marker(const char *path, const char *want)
{
	char got[64];
	marker_of(path, got, sizeof(got));
	assert_string_equal(got, want);
}

/* A copy of a file's bytes, to compare with later. */
struct image {
	unsigned char *bytes;
	size_t len;
	bool exists;
};

static struct image image_of(const char *path)
{
	struct image im = {0};
	im.bytes = slurp(path, &im.len);
	im.exists = im.bytes != NULL;
	return im;
}

static void assert_unchanged(const char *path, struct image *im)
{
	size_t len;
	unsigned char *now = slurp(path, &len);
	if (!im->exists) {
		assert_null(now);
		assert_false(fs_exists(path));
	} else {
		assert_non_null(now);
		assert_int_equal(len, im->len);
		assert_memory_equal(now, im->bytes, len);
	}
	free(now);
	free(im->bytes);
	im->bytes = NULL;
}

/* Files in dir whose names start with prefix. */
static int count_prefixed(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

static void assert_no_temp(const char *dir)
{
	assert_int_equal(count_prefixed(dir, FS_TMP_PREFIX), 0);
}

/* Restore points of live.db in the tier (not counting their metadata). */
static int count_restore_points(const struct ctx *c)
{
	DIR *d = opendir(c->tier);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		struct backup_name bn;
		if (backup_name_parse(e->d_name, &bn) && bn.type == BT_RESTORE_POINT &&
		    strcmp(bn.db, "live") == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* gzip of the file at src into dst, and metadata that matches (meta may be
 * NULL). */
static void make_backup(const char *src, const char *dst, struct backup_meta *meta)
{
	size_t len;
	unsigned char *data = slurp(src, &len);
	assert_non_null(data);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&zs, (uLong)len) + 64;
	unsigned char *gz = malloc(cap);
	assert_non_null(gz);
	zs.next_in = data;
	zs.avail_in = (uInt)len;
	zs.next_out = gz;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t gz_len = cap - zs.avail_out;
	deflateEnd(&zs);
	spit(dst, gz, gz_len);
	if (meta) {
		memset(meta, 0, sizeof(*meta));
		meta->original_size = (int64_t)len;
		meta->compressed_size = (int64_t)gz_len;
		unsigned char md[32];
		unsigned int mdlen = 0;
		assert_int_equal(EVP_Digest(gz, gz_len, md, &mdlen, EVP_sha256(), NULL), 1);
		for (int i = 0; i < 32; i++)
			snprintf(meta->sha256 + 2 * i, 3, "%02x", md[i]);
	}
	free(gz);
	free(data);
}

/* A backup whose database says label, at <dir>/<label>.db.gz. */
static const char *backup_labelled(const struct ctx *c, const char *label, int page_size,
				   struct backup_meta *meta)
{
	static char gz[8][256];
	static int which;
	which = (which + 1) % 8;
	char src[256];
	snprintf(src, sizeof(src), "%s/%s-src.db", c->dir, label);
	make_db(src, page_size, "DELETE", label, 300);
	snprintf(gz[which], sizeof(gz[which]), "%s/%s.db.gz", c->dir, label);
	make_backup(src, gz[which], meta);
	return gz[which];
}

static enum result restore(struct ctx *c, const char *gz, const struct backup_meta *meta,
			   struct check_result *check, struct restore_outcome *out,
			   struct error *err)
{
	memset(err, 0, sizeof(*err));
	enum result r = restore_from_file(&c->opts, gz, meta, check, out, err);
	if (r) {
		assert_int_equal(err->code, r);
		assert_true(err->msg[0] != '\0');
	}
	return r;
}

/* ---- restoring where there is no database -------------------------------- */

static void test_no_database_installs_by_rename(void **state)
{
	struct ctx *c = *state;
	struct backup_meta meta;
	const char *gz = backup_labelled(c, "v2", 4096, &meta);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, &meta, &check, &out, &err), CB_OK);
	assert_true(out.by_rename);
	assert_false(out.made_restore_point);
	assert_int_equal(count_restore_points(c), 0);
	assert_true(check.sha_checked);
	assert_int_equal(check.page_size, 4096);
	assert_string_equal(check.sha256, meta.sha256);
	/* The database is the backup's, byte for byte, and owner-only. */
	size_t a, b;
	unsigned char *restored = slurp(c->db, &a);
	unsigned char *original = slurp(path_in(c->dir, "v2-src.db"), &b);
	assert_non_null(restored);
	assert_int_equal(a, b);
	assert_int_equal(a, check.data_size);
	assert_memory_equal(restored, original, a);
	free(restored);
	free(original);
	struct stat st;
	assert_int_equal(stat(c->db, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_marker(c->db, "v2");
	assert_no_temp(c->db_dir);
}

/* The configured mode, whatever the umask. */
static void test_new_database_mode(void **state)
{
	struct ctx *c = *state;
	const char *gz = backup_labelled(c, "v2", 4096, NULL);
	c->opts.new_mode = 0640;
	mode_t old = umask(077);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	enum result r = restore(c, gz, NULL, &check, &out, &err);
	umask(old);
	assert_int_equal(r, CB_OK);
	assert_false(check.sha_checked);
	struct stat st;
	assert_int_equal(stat(c->db, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
}

/* The database's directory is made if missing. */
static void test_missing_directories_made(void **state)
{
	struct ctx *c = *state;
	const char *gz = backup_labelled(c, "v2", 4096, NULL);
	char deep[256];
	snprintf(deep, sizeof(deep), "%s/a/b/c/live.db", c->dir);
	c->opts.db_path = deep;
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, NULL, &check, &out, &err), CB_OK);
	assert_marker(deep, "v2");
}

/* With no database, a -wal or -shm left beside its name would be applied to
 * the restored file: they are moved aside, not deleted. */
static void test_stray_sidecars_moved_aside(void **state)
{
	struct ctx *c = *state;
	const char *gz = backup_labelled(c, "v2", 4096, NULL);
	char wal[256], shm[256], journal[256];
	snprintf(wal, sizeof(wal), "%s-wal", c->db);
	snprintf(shm, sizeof(shm), "%s-shm", c->db);
	snprintf(journal, sizeof(journal), "%s-journal", c->db);
	char junk[4096];
	memset(junk, 0x5a, sizeof(junk));
	spit(wal, junk, sizeof(junk));
	spit(shm, junk, 100);
	spit(journal, junk, 512);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, NULL, &check, &out, &err), CB_OK);
	assert_true(out.by_rename);
	assert_false(fs_exists(wal));
	assert_false(fs_exists(shm));
	assert_false(fs_exists(journal));
	assert_int_equal(count_prefixed(c->db_dir, "live.db-wal.stale-"), 1);
	assert_int_equal(count_prefixed(c->db_dir, "live.db-shm.stale-"), 1);
	assert_int_equal(count_prefixed(c->db_dir, "live.db-journal.stale-"), 1);
	assert_marker(c->db, "v2");
}

/* Temp files a killed restore left are removed; one a live writer holds
 * (locked) is not. */
static void test_dead_temps_removed(void **state)
{
	struct ctx *c = *state;
	const char *gz = backup_labelled(c, "v2", 4096, NULL);
	const char *dead = path_in(c->db_dir, FS_TMP_PREFIX "live.db.dead01");
	int fd = open(dead, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	char live_tmp[256];
	snprintf(live_tmp, sizeof(live_tmp), "%s/" FS_TMP_PREFIX "other.XXXXXX", c->db_dir);
	int held = fs_temp_create(live_tmp, 0600);
	assert_true(held >= 0);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, NULL, &check, &out, &err), CB_OK);
	assert_false(fs_exists(dead));
	assert_true(fs_exists(live_tmp));
	close(held);
	unlink(live_tmp);
	assert_no_temp(c->db_dir);
}

/* ---- restoring over a database ------------------------------------------- */

/* A restore point of the old contents, then the backup in place. */
static void test_over_existing_database(void **state)
{
	struct ctx *c = *state;
	make_db(c->db, 4096, "DELETE", "v1", 200);
	struct stat before;
	assert_int_equal(stat(c->db, &before), 0);
	struct image old = image_of(c->db);
	struct backup_meta meta;
	const char *gz = backup_labelled(c, "v2", 4096, &meta);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, &meta, &check, &out, &err), CB_OK);
	assert_false(out.by_rename);
	assert_true(out.made_restore_point);
	assert_marker(c->db, "v2");
	/* Installed in place: the same file, not a new one renamed over it. */
	struct stat after;
	assert_int_equal(stat(c->db, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_no_temp(c->db_dir);

	/* The restore point, in the tier, holds the old database. */
	assert_int_equal(count_restore_points(c), 1);
	assert_true(strncmp(out.restore_point, c->tier, strlen(c->tier)) == 0);
	assert_true(fs_exists(out.restore_point));
	char meta_path[PATH_MAX + 8];
	snprintf(meta_path, sizeof(meta_path), "%s.json", out.restore_point);
	assert_true(fs_exists(meta_path));
	gzFile g = gzopen(out.restore_point, "rb");
	assert_non_null(g);
	char unpacked_path[256];
	snprintf(unpacked_path, sizeof(unpacked_path), "%s/unpacked.db", c->dir);
	int ufd = open(unpacked_path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(ufd >= 0);
	char buf[8192];
	int n;
	while ((n = gzread(g, buf, sizeof(buf))) > 0)
		assert_int_equal(fs_write_all(ufd, buf, (size_t)n), 0);
	assert_int_equal(n, 0);
	gzclose(g);
	close(ufd);
	assert_marker(unpacked_path, "v1");
	size_t len;
	unsigned char *unpacked = slurp(unpacked_path, &len);
	assert_int_equal(len, old.len);
	free(unpacked);
	free(old.bytes);
}

/* A server holding the database open in WAL mode sees the restored rows
 * through its own connection. */
static void test_over_open_wal_database(void **state)
{
	struct ctx *c = *state;
	make_db(c->db, 4096, "WAL", "v1", 200);
	sqlite3 *server = NULL;
	assert_int_equal(sqlite3_open(c->db, &server), SQLITE_OK);
	exec_ok(server, "PRAGMA wal_autocheckpoint=0; INSERT INTO filler(v) VALUES ('in wal')");
	const char *gz = backup_labelled(c, "v2", 4096, NULL);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, NULL, &check, &out, &err), CB_OK);
	assert_true(out.made_restore_point);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(server, "SELECT label FROM marker", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "v2");
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_prepare_v2(server, "SELECT count(*) FROM filler", -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 300);
	sqlite3_finalize(st);
	assert_int_equal(sqlite3_close(server), SQLITE_OK);
	assert_marker(c->db, "v2");
	assert_no_temp(c->db_dir);
}

/* A rollback-journal database takes the backup's page size. */
static void test_page_size_changes_in_rollback_mode(void **state)
{
	struct ctx *c = *state;
	make_db(c->db, 4096, "DELETE", "v1", 200);
	const char *gz = backup_labelled(c, "v2", 1024, NULL);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, NULL, &check, &out, &err), CB_OK);
	assert_int_equal(check.page_size, 1024);
	assert_marker(c->db, "v2");
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_open(c->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 1024);
	sqlite3_finalize(st);
	sqlite3_close(db);
}

/* ---- refusals ------------------------------------------------------------ */

/* A WAL database cannot change its page size: refused before the restore
 * point, nothing touched. */
static void test_wal_page_size_mismatch_refused(void **state)
{
	struct ctx *c = *state;
	make_db(c->db, 4096, "WAL", "v1", 200);
	struct image old = image_of(c->db);
	const char *gz = backup_labelled(c, "v2", 1024, NULL);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, NULL, &check, &out, &err), CB_ERR_DB);
	assert_false(out.made_restore_point);
	assert_int_equal(count_restore_points(c), 0);
	assert_unchanged(c->db, &old);
	assert_no_temp(c->db_dir);
	assert_marker(c->db, "v1");
}

static void test_to_existing_file_refused(void **state)
{
	struct ctx *c = *state;
	make_db(c->db, 4096, "DELETE", "v1", 50);
	struct image live = image_of(c->db);
	const char *to = path_in(c->db_dir, "copy.db");
	spit(to, "existing", 8);
	struct image old = image_of(to);
	c->opts.to = to;
	const char *gz = backup_labelled(c, "v2", 4096, NULL);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, NULL, &check, &out, &err), CB_ERR_USAGE);
	assert_unchanged(to, &old);
	assert_unchanged(c->db, &live);
	assert_no_temp(c->db_dir);
	assert_int_equal(count_restore_points(c), 0);
}

/* --to writes a new file; the live database is left alone and gets no
 * restore point. */
static void test_to_new_file(void **state)
{
	struct ctx *c = *state;
	make_db(c->db, 4096, "DELETE", "v1", 50);
	struct image live = image_of(c->db);
	char to[256];
	snprintf(to, sizeof(to), "%s/elsewhere/copy.db", c->dir);
	c->opts.to = to;
	c->opts.new_mode = 0604;
	const char *gz = backup_labelled(c, "v2", 4096, NULL);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, NULL, &check, &out, &err), CB_OK);
	assert_true(out.by_rename);
	assert_false(out.made_restore_point);
	assert_int_equal(count_restore_points(c), 0);
	assert_marker(to, "v2");
	struct stat st;
	assert_int_equal(stat(to, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0604);
	assert_unchanged(c->db, &live);
}

static void test_target_not_a_regular_file(void **state)
{
	struct ctx *c = *state;
	assert_int_equal(mkdir(c->db, 0700), 0);
	const char *gz = backup_labelled(c, "v2", 4096, NULL);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, NULL, &check, &out, &err), CB_ERR_IO);
	struct stat st;
	assert_int_equal(stat(c->db, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_no_temp(c->db_dir);
	/* Refused by restore_begin, before anything is decompressed. */
	struct restore_job job;
	assert_int_equal(restore_begin(&job, &c->opts, &err), CB_ERR_IO);
	assert_no_temp(c->db_dir);
	/* A FIFO too (SQLite would block reading it). */
	assert_int_equal(rmdir(c->db), 0);
	assert_int_equal(mkfifo(c->db, 0600), 0);
	assert_int_equal(restore_begin(&job, &c->opts, &err), CB_ERR_IO);
	assert_no_temp(c->db_dir);
}

static void test_backup_missing(void **state)
{
	struct ctx *c = *state;
	char deep[256];
	snprintf(deep, sizeof(deep), "%s/not-made/live.db", c->dir);
	c->opts.db_path = deep;
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, path_in(c->dir, "missing.db.gz"), NULL, &check, &out, &err),
			 CB_ERR_NOT_FOUND);
	assert_false(fs_exists(deep));
}

/* Damaged backups: over a database, and where there is none. */
static void test_damaged_backup_changes_nothing(void **state)
{
	struct ctx *c = *state;
	struct backup_meta meta;
	const char *gz = backup_labelled(c, "v2", 4096, &meta);
	size_t len;
	unsigned char *good = slurp(gz, &len);
	const char *bad = path_in(c->dir, "bad.db.gz");

	for (int live = 0; live < 2; live++) {
		unlink(c->db);
		if (live)
			make_db(c->db, 4096, "DELETE", "v1", 50);
		struct check_result check;
		struct restore_outcome out;
		struct error err;
		struct backup_meta m = meta;
		struct image old;

		/* Truncated. */
		spit(bad, good, len - 10);
		old = image_of(c->db);
		assert_int_equal(restore(c, bad, NULL, &check, &out, &err), CB_ERR_CORRUPT);
		assert_unchanged(c->db, &old);
		/* A wrong SHA-256 in the metadata. */
		spit(bad, good, len);
		m.sha256[5] = m.sha256[5] == 'a' ? 'b' : 'a';
		old = image_of(c->db);
		assert_int_equal(restore(c, bad, &m, &check, &out, &err), CB_ERR_CORRUPT);
		assert_unchanged(c->db, &old);
		/* More than the ceiling for a backup without metadata. */
		c->opts.max_size = (uint64_t)meta.original_size / 2;
		old = image_of(c->db);
		assert_int_equal(restore(c, bad, NULL, &check, &out, &err), CB_ERR_CORRUPT);
		assert_unchanged(c->db, &old);
		c->opts.max_size = 0;
		/* Not a database. */
		char text[4096];
		memset(text, 't', sizeof(text));
		char src[256];
		snprintf(src, sizeof(src), "%s/text", c->dir);
		spit(src, text, sizeof(text));
		make_backup(src, bad, NULL);
		old = image_of(c->db);
		assert_int_equal(restore(c, bad, NULL, &check, &out, &err), CB_ERR_CORRUPT);
		assert_unchanged(c->db, &old);

		assert_false(out.made_restore_point);
		assert_int_equal(count_restore_points(c), 0);
		assert_no_temp(c->db_dir);
	}
	free(good);
}

/* The restore point cannot be made: nothing is restored. */
static void test_restore_point_failure_restores_nothing(void **state)
{
	struct ctx *c = *state;
	make_db(c->db, 4096, "DELETE", "v1", 50);
	struct image old = image_of(c->db);
	/* The tier's path runs through a regular file. */
	char tier[256];
	snprintf(tier, sizeof(tier), "%s/file/tier", c->dir);
	spit(path_in(c->dir, "file"), "x", 1);
	c->opts.dir = tier;
	const char *gz = backup_labelled(c, "v2", 4096, NULL);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_not_equal(restore(c, gz, NULL, &check, &out, &err), CB_OK);
	assert_false(out.made_restore_point);
	assert_unchanged(c->db, &old);
	assert_no_temp(c->db_dir);
}

/* A write transaction held on the live database: the restore point is
 * made (reading is allowed), the install gives up after the busy timeout,
 * and the database keeps its contents. */
static void test_busy_database_left_as_it_was(void **state)
{
	struct ctx *c = *state;
	make_db(c->db, 4096, "DELETE", "v1", 50);
	struct image old = image_of(c->db);
	sqlite3 *holder = NULL;
	assert_int_equal(sqlite3_open(c->db, &holder), SQLITE_OK);
	exec_ok(holder, "BEGIN IMMEDIATE; UPDATE marker SET label='uncommitted'");
	c->opts.busy_timeout = 0.2;
	const char *gz = backup_labelled(c, "v2", 4096, NULL);
	struct check_result check;
	struct restore_outcome out;
	struct error err;
	assert_int_equal(restore(c, gz, NULL, &check, &out, &err), CB_ERR_BUSY);
	assert_true(out.made_restore_point);
	assert_int_equal(count_restore_points(c), 1);
	exec_ok(holder, "ROLLBACK");
	assert_int_equal(sqlite3_close(holder), SQLITE_OK);
	assert_unchanged(c->db, &old);
	assert_marker(c->db, "v1");
	assert_no_temp(c->db_dir);
}

/* A database that appears between the check and the install (there was
 * none when the restore began) is not replaced, and the temp file goes. */
static void appears_during_restore(struct ctx *c, const char *target)
{
	struct backup_meta meta;
	const char *gz = backup_labelled(c, "v2", 4096, &meta);
	struct restore_job job;
	struct error err = {0};
	assert_int_equal(restore_begin(&job, &c->opts, &err), CB_OK);
	assert_false(job.live_exists);
	assert_string_equal(job.target, target);
	assert_true(job.tmp.fd >= 0);
	int in = open(gz, O_RDONLY);
	assert_true(in >= 0);
	struct check_result check;
	assert_int_equal(check_backup(in, "v2.db.gz", &meta, 0, job.tmp.fd, job.tmp.tmp_path,
				      NULL, NULL, &check, &err),
			 CB_OK);
	close(in);
	assert_int_equal(count_prefixed(c->db_dir, FS_TMP_PREFIX), 1);

	make_db(target, 4096, "DELETE", "appeared", 10);
	struct image old = image_of(target);
	struct restore_outcome out;
	memset(&err, 0, sizeof(err));
	assert_int_equal(restore_install(&job, &check, &out, &err), CB_ERR_IO);
	assert_int_equal(err.code, CB_ERR_IO);
	assert_non_null(strstr(err.msg, target));
	assert_false(out.by_rename);
	assert_false(out.made_restore_point);
	restore_end(&job);
	restore_end(&job); /* twice is harmless */
	assert_unchanged(target, &old);
	assert_marker(target, "appeared");
	assert_no_temp(c->db_dir);
}

static void test_database_appears_during_restore(void **state)
{
	struct ctx *c = *state;
	appears_during_restore(c, c->db);
}

static void test_to_file_appears_during_restore(void **state)
{
	struct ctx *c = *state;
	make_db(c->db, 4096, "DELETE", "v1", 10);
	struct image live = image_of(c->db);
	const char *to = path_in(c->db_dir, "copy.db");
	c->opts.to = to;
	appears_during_restore(c, to);
	assert_unchanged(c->db, &live);
}

/* The database that appears is in WAL mode, held open by a server, with
 * committed rows still in its -wal: those are not stray files to move
 * aside but part of the database, and must stay where they are. */
static void test_wal_database_appears_during_restore(void **state)
{
	struct ctx *c = *state;
	struct backup_meta meta;
	const char *gz = backup_labelled(c, "v2", 4096, &meta);
	struct restore_job job;
	struct error err = {0};
	assert_int_equal(restore_begin(&job, &c->opts, &err), CB_OK);
	int in = open(gz, O_RDONLY);
	assert_true(in >= 0);
	struct check_result check;
	assert_int_equal(check_backup(in, "v2.db.gz", &meta, 0, job.tmp.fd, job.tmp.tmp_path,
				      NULL, NULL, &check, &err),
			 CB_OK);
	close(in);

	make_db(c->db, 4096, "WAL", "appeared", 10);
	sqlite3 *server = NULL;
	assert_int_equal(sqlite3_open(c->db, &server), SQLITE_OK);
	exec_ok(server, "PRAGMA wal_autocheckpoint=0; UPDATE marker SET label='in the wal'");
	char wal[256];
	snprintf(wal, sizeof(wal), "%s-wal", c->db);
	assert_true(fs_exists(wal));

	struct restore_outcome out;
	assert_int_equal(restore_install(&job, &check, &out, &err), CB_ERR_IO);
	restore_end(&job);
	assert_true(fs_exists(wal));
	assert_int_equal(count_prefixed(c->db_dir, "live.db-wal.stale-"), 0);
	assert_int_equal(count_prefixed(c->db_dir, "live.db-shm.stale-"), 0);
	/* A new connection sees the committed row. */
	assert_marker(c->db, "in the wal");
	assert_int_equal(sqlite3_close(server), SQLITE_OK);
	assert_marker(c->db, "in the wal");
	assert_no_temp(c->db_dir);
}

/* restore_begin then restore_end alone leaves nothing behind. */
static void test_begin_then_end(void **state)
{
	struct ctx *c = *state;
	struct restore_job job;
	struct error err = {0};
	assert_int_equal(restore_begin(&job, &c->opts, &err), CB_OK);
	assert_true(fs_exists(job.tmp.tmp_path));
	struct stat st;
	assert_int_equal(fstat(job.tmp.fd, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600); /* a copy of the database */
	restore_end(&job);
	assert_no_temp(c->db_dir);
	assert_false(fs_exists(c->db));
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
	snprintf(c->dir, sizeof(c->dir), "/tmp/cbsync-test-restore.XXXXXX");
	if (!mkdtemp(c->dir)) {
		free(c);
		return -1;
	}
	snprintf(c->db_dir, sizeof(c->db_dir), "%s/data", c->dir);
	snprintf(c->tier, sizeof(c->tier), "%s/tier", c->dir);
	snprintf(c->db, sizeof(c->db), "%s/live.db", c->db_dir);
	if (mkdir(c->db_dir, 0700) != 0 || mkdir(c->tier, 0700) != 0)
		return -1;
	c->opts = (struct restore_opts){
		.db_path = c->db,
		.dir = c->tier,
		.level = 1,
		.threads = 1,
		.busy_timeout = 2,
	};
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
		T(test_no_database_installs_by_rename),
		T(test_new_database_mode),
		T(test_missing_directories_made),
		T(test_stray_sidecars_moved_aside),
		T(test_dead_temps_removed),
		T(test_over_existing_database),
		T(test_over_open_wal_database),
		T(test_page_size_changes_in_rollback_mode),
		T(test_wal_page_size_mismatch_refused),
		T(test_to_existing_file_refused),
		T(test_to_new_file),
		T(test_target_not_a_regular_file),
		T(test_backup_missing),
		T(test_damaged_backup_changes_nothing),
		T(test_restore_point_failure_restores_nothing),
		T(test_busy_database_left_as_it_was),
		T(test_database_appears_during_restore),
		T(test_to_file_appears_during_restore),
		T(test_wal_database_appears_during_restore),
		T(test_begin_then_end),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
