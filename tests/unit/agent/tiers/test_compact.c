/*
 * Compaction of a chain (agent/tiers/compact.h): the plan by age, and merges
 * that a restore applies to exactly the states the originals reached --
 * through a shrinking VACUUM and regrowth -- including after a compaction
 * interrupted at each of its steps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "agent/engine/chain.h"
#include "agent/engine/gzstream.h"
#include "agent/engine/pagesum.h"
#include "agent/engine/walfile.h"
#include "agent/tiers/compact.h"
#include "common/fsutil.h"
#include "common/increment.h"
#include "common/meta.h"
#include "../engine/engine_test.h"

#include <dirent.h>
#include <string.h>
#include <time.h>

#define PAGE_SIZE 1024
#define NINCR 12
#define SNAP "cloudbrain_daily_20261129_020000.db.gz"
#define STEM "cloudbrain_daily_20261129_020000"

static char dir[64];
static char cdir[128];
static char snap_img[160];
static uint64_t snap_sum;
static unsigned char *final_img;
static size_t final_len;
static uint64_t final_sum;
static int64_t now;

/* ---- the plan ------------------------------------------------------------ */

static void test_buckets(void **state)
{
	(void)state;
	int64_t t = 1800000000;
	assert_int_equal(compact_bucket(t - 10, t), -1);
	assert_int_equal(compact_bucket(t - 3599, t), -1);
	/* a minute: equal within it, different in the next */
	assert_true(compact_bucket(t - 7200, t) >= 0);
	int64_t m0 = (t - 7200) / 60 * 60;
	assert_int_equal(compact_bucket(m0, t), compact_bucket(m0 + 59, t));
	assert_true(compact_bucket(m0 + 60, t) != compact_bucket(m0, t));
	/* an hour, past a day; never equal to a minute's */
	int64_t h0 = (t - 3 * 86400) / 3600 * 3600;
	assert_int_equal(compact_bucket(h0, t), compact_bucket(h0 + 3599, t));
	assert_true(compact_bucket(h0, t) % 2 != compact_bucket(m0, t) % 2);
}

static void test_plan(void **state)
{
	(void)state;
	int64_t t = 1800000000, m0 = (t - 7200) / 60 * 60;
	struct incr_name n[8];
	struct compact_group g[8];
	memset(n, 0, sizeof(n));
	/* 0-2 in one minute, 3 alone in the next, 4-5 in a third with a gap
	 * between them, 6-7 recent */
	int64_t times[8] = {m0 + 1, m0 + 20, m0 + 50, m0 + 70, m0 + 130, m0 + 140, t - 5, t - 1};
	uint64_t seq = 1;
	for (int i = 0; i < 8; i++) {
		n[i].seq_first = seq;
		n[i].seq_last = seq;
		seq += i == 4 ? 2 : 1;   /* a gap after 4 */
		n[i].first = n[i].last = times[i];
	}
	assert_int_equal(compact_plan(n, 8, t, NULL, g, 8), 1);
	assert_int_equal(g[0].first, 0);
	assert_int_equal(g[0].count, 3);
	/* protecting the middle one splits the run: nothing left to merge */
	size_t protect = 1;
	assert_int_equal(compact_plan(n, 8, t, &protect, g, 8), 0);
	/* without the gap, 4-5 merge too; a day later, all six share an hour */
	n[5].seq_first = n[5].seq_last = n[4].seq_last + 1;
	assert_int_equal(compact_plan(n, 6, t, NULL, g, 8), 2);
	assert_int_equal(compact_plan(n, 6, t + 86400 * 2, NULL, g, 8), 1);
	assert_int_equal(g[0].count, 6);
}

/* ---- merges -------------------------------------------------------------- */

/* Write the pages of live that differ from sums as increment seq, cut at
 * `at` (seconds), into the chain folder, with its metadata beside it. */
static void cut(const char *live, struct pagesum *sums, uint64_t seq, int64_t at, char *prev)
{
	struct incr_meta m;
	struct incr_name n = {.seq_first = seq, .seq_last = seq, .first = at, .last = at};
	char path[512];
	size_t len;

	snprintf(n.snapshot, sizeof(n.snapshot), "%s", SNAP);
	unsigned char *img = make_increment(live, sums, PAGE_SIZE, &n, prev, dir, NULL, &m, &len);
	char *json = incr_meta_to_json(&m);
	snprintf(path, sizeof(path), "%s/%s%s", dir, m.name, META_SUFFIX);
	spit(path, json, strlen(json));
	free(json);
	snprintf(prev, INCR_NAME_MAX, "%s", m.name);
	if (seq == NINCR) {
		final_img = img;
		final_len = len;
		final_sum = m.state_checksum;
	} else {
		free(img);
	}
}

static const char *const rounds[NINCR] = {
	"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<300) "
	"INSERT INTO msg(body) SELECT printf('m%d %s', i, hex(randomblob(80))) FROM n;",
	"UPDATE msg SET body = body || ' edited' WHERE id % 7 = 0;",
	"DELETE FROM msg WHERE id % 3 = 0;",
	"CREATE TABLE tag(id INTEGER PRIMARY KEY, name TEXT);"
	"INSERT INTO tag(name) SELECT substr(body, 1, 12) FROM msg WHERE id % 5 = 1;",
	"DELETE FROM msg WHERE id > 40; DROP TABLE tag;",
	"VACUUM;",
	"WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i<200) "
	"INSERT INTO msg(body) SELECT printf('again %d %s', i, hex(randomblob(90))) FROM n;",
	"UPDATE msg SET body = 'short' WHERE id % 2 = 0;",
	"INSERT INTO msg(body) VALUES ('one more');",
	"DELETE FROM msg WHERE id % 5 = 0; VACUUM;",
	"INSERT INTO msg(body) VALUES ('nearly');",
	"UPDATE msg SET body = 'last' WHERE id = 1;",
};

/* The chain's times: old (for merging) or recent (for roll-ups). */
static bool recent;

/* The times increments are cut at.  Old: 0-5 in one minute two hours ago,
 * 6-9 in the next, 10-11 a minute ago (kept as cut).  Recent: 0-3, 4-7 and
 * 8-9 in three minutes of one ten minutes half an hour ago, 10-11 a minute
 * ago. */
static int64_t cut_time(int i)
{
	if (recent) {
		int64_t w0 = (now - 1800) / 600 * 600;
		return i < 10 ? w0 + (i / 4) * 60 + 5 + (i % 4) * 10 : now - 60 + i;
	}
	int64_t m0 = (now - 7200) / 60 * 60;
	return i < 6 ? m0 + 2 + i * 5 : i < 10 ? m0 + 62 + (i - 6) * 5 : now - 60 + i;
}

static int setup(void **state)
{
	(void)state;
	char live[128], prev[INCR_NAME_MAX] = "";
	struct pagesum *sums;
	struct error err = {0};
	sqlite3 *db;

	now = time(NULL);
	snprintf(dir, sizeof(dir), "/tmp/cbsync-compact-%d", (int)getpid());
	snprintf(cdir, sizeof(cdir), "%s/%s/%s", dir, INCR_DIR, STEM);
	assert_int_equal(fs_mkdirs(cdir, 0700, &err), CB_OK);
	snprintf(live, sizeof(live), "%s/live.db", dir);
	snprintf(snap_img, sizeof(snap_img), "%s/snapshot.img", dir);
	assert_int_equal(sqlite3_open(live, &db), SQLITE_OK);
	exec_ok(db, "PRAGMA page_size=1024; PRAGMA journal_mode=DELETE;"
		    "CREATE TABLE msg(id INTEGER PRIMARY KEY, body TEXT);"
		    "INSERT INTO msg(body) VALUES ('hello'), ('world');");
	size_t len;
	unsigned char *img = slurp(live, &len);
	spit(snap_img, img, len);
	free(img);
	int fd = open(snap_img, O_RDONLY);
	assert_int_equal(pagesum_build(fd, PAGE_SIZE, &sums, &err), CB_OK);
	close(fd);
	snap_sum = pagesum_checksum(sums);
	for (int i = 0; i < NINCR; i++) {
		exec_ok(db, rounds[i]);
		cut(live, sums, (uint64_t)i + 1, cut_time(i), prev);
	}
	sqlite3_close(db);
	pagesum_free(sums);
	unlink(live);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	free(final_img);
	return 0;
}

/* The chain's increments, by name, in seq order (names sort so). */
static size_t chain_names(char names[][128], size_t max)
{
	DIR *d = opendir(cdir);
	struct dirent *de;
	size_t n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (len > 7 && strcmp(de->d_name + len - 7, ".wal.gz") == 0 && n < max)
			snprintf(names[n++], 128, "%s", de->d_name);
	}
	closedir(d);
	qsort(names, n, 128, (int (*)(const void *, const void *))strcmp);
	return n;
}

/* Start a chain on a fresh copy of the snapshot at img; returns its fd. */
static int begin_on_copy(struct chain *c, char *img, size_t size)
{
	struct error err = {0};
	size_t len;
	snprintf(img, size, "%s/scratch.img", dir);
	unsigned char *p = slurp(snap_img, &len);
	spit(img, p, len);
	free(p);
	int fd = open(img, O_RDWR);
	assert_int_equal(chain_begin(c, fd, img, &(struct chain_base){.snapshot = SNAP,
		.page_size = PAGE_SIZE, .state_checksum = &snap_sum}, &err), CB_OK);
	return fd;
}

/* The metadata of file in the chain's folder ("rollups/..." for a roll-up). */
static void read_meta(const char *file, struct incr_meta *m)
{
	char path[512], *text;
	size_t len;
	struct error err = {0};
	snprintf(path, sizeof(path), "%s/%s%s", cdir, file, META_SUFFIX);
	if (fs_read_file(path, 65536, &text, &len, &err))
		fail_msg("%s: %s", file, err.msg);
	assert_int_equal(incr_meta_from_json(text, len, m, &err), CB_OK);
	free(text);
}

/* Apply, to a copy of the snapshot, the files listed (in the chain's folder,
 * "rollups/..." in its roll-ups'): the final state, byte for byte. */
static void assert_route_reaches_final(const char *const *files, size_t n)
{
	char img[192], path[512];
	struct error err = {0};
	struct chain c = {0};
	int fd = begin_on_copy(&c, img, sizeof(img));
	for (size_t i = 0; i < n; i++) {
		struct incr_meta m;
		read_meta(files[i], &m);
		snprintf(path, sizeof(path), "%s/%s", cdir, files[i]);
		int ofd = open(path, O_RDONLY);
		if (chain_apply_fd(&c, &m, ofd, path, &err))
			fail_msg("%s: %s", files[i], err.msg);
		close(ofd);
	}
	uint64_t sum;
	assert_int_equal(chain_end(&c, &sum, &err), CB_OK);
	chain_free(&c);
	close(fd);
	assert_true(sum == final_sum);
	size_t len;
	unsigned char *p = slurp(img, &len);
	assert_int_equal(len, final_len);
	assert_memory_equal(p, final_img, len);
	free(p);
	unlink(img);
}

/* Apply the chain in the folder to a copy of the snapshot: it must reach
 * the final state, byte for byte. */
static void assert_chain_reaches_final(size_t expect)
{
	char names[64][128];
	const char *files[64];
	size_t n = chain_names(names, 64);
	assert_int_equal(n, expect);
	for (size_t i = 0; i < n; i++)
		files[i] = names[i];
	assert_route_reaches_final(files, n);
}

static struct compact_result compact(void)
{
	struct compact_opts o = {.dir = dir, .db = "cloudbrain", .level = 6, .threads = 1,
				 .now = now};
	struct compact_result res;
	struct error err = {0};
	if (compact_local(&o, &res, &err))
		fail_msg("compact: %s", err.msg);
	return res;
}

/* Copy the chain folder's files aside, or back (restoring what a crash
 * would have left). */
static void snapshot_folder(const char *to)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "rm -rf %s/%s && cp -a %s %s/%s", dir, to, cdir, dir, to);
	assert_int_equal(system(cmd), 0);
}

static void test_merge_and_repair(void **state)
{
	(void)state;
	assert_chain_reaches_final(NINCR);
	snapshot_folder("before");

	/* dry run: the plan, nothing written */
	struct compact_opts o = {.dir = dir, .db = "cloudbrain", .level = 6, .threads = 1,
				 .now = now, .dry_run = true};
	struct compact_result res;
	struct error err = {0};
	assert_int_equal(compact_local(&o, &res, &err), CB_OK);
	assert_int_equal(res.made, 2);
	assert_int_equal(res.merged, 10);
	char names[64][128];
	assert_int_equal(chain_names(names, 64), NINCR);

	/* two minutes merged, the recent two kept: 2 + 2 increments */
	res = compact();
	assert_int_equal(res.made, 2);
	assert_int_equal(res.merged, 10);
	assert_true(res.bytes_after < res.bytes_before);
	assert_chain_reaches_final(4);
	assert_int_equal(chain_names(names, 64), 4);
	assert_non_null(strstr(names[0], "0000000001-0000000006_"));
	assert_non_null(strstr(names[1], "0000000007-0000000010_"));
	snapshot_folder("after");
	/* nothing more to do */
	res = compact();
	assert_int_equal(res.made + res.merged + res.repaired, 0);

	/* Interrupted after the merged ones were written and relinked, before
	 * the originals went: both routes are there, and the next run tidies. */
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cp -a %s/before/. %s/ && cp -a %s/after/. %s/", dir, cdir, dir,
		 cdir);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(chain_names(names, 64), NINCR + 2);
	res = compact();
	assert_int_equal(res.repaired, 2);
	assert_chain_reaches_final(4);

	/* Interrupted before the relink: the successors still name the
	 * originals; the repair relinks them. */
	snprintf(cmd, sizeof(cmd), "cp -a %s/after/. %s/ && cp -a %s/before/. %s/", dir, cdir, dir,
		 cdir);
	assert_int_equal(system(cmd), 0);
	res = compact();
	assert_int_equal(res.repaired, 2);
	assert_chain_reaches_final(4);

	/* Metadata written, data never committed: an orphan, removed. */
	struct incr_name on = {.seq_first = NINCR + 1, .seq_last = NINCR + 1, .first = now,
			       .last = now};
	char oname[INCR_NAME_MAX], opath[512];
	snprintf(on.snapshot, sizeof(on.snapshot), "%s", SNAP);
	assert_true(incr_name_format(&on, oname, sizeof(oname)));
	snprintf(opath, sizeof(opath), "%s/%s%s", dir, oname, META_SUFFIX);
	spit(opath, "{}", 2);
	res = compact();
	assert_false(fs_exists(opath));
	assert_chain_reaches_final(4);
}

static int setup_recent(void **state)
{
	recent = true;
	return setup(state);
}

/* The file in folder (the chain's, or "rollups") whose name starts with
 * prefix, into out. */
static void find_in(const char *folder, const char *prefix, char *out, size_t size)
{
	char path[256];
	snprintf(path, sizeof(path), "%s%s%s", cdir, folder[0] ? "/" : "", folder);
	DIR *d = opendir(path);
	struct dirent *de;
	assert_non_null(d);
	out[0] = '\0';
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && len > 7 &&
		    strcmp(de->d_name + len - 7, ".wal.gz") == 0)
			snprintf(out, size, "%s%s%s", folder, folder[0] ? "/" : "", de->d_name);
	}
	closedir(d);
	if (!out[0])
		fail_msg("no %s* in %s", prefix, path);
}

static size_t count_in(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	size_t n = 0;
	if (!d)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		n += len > 7 && strcmp(de->d_name + len - 7, ".wal.gz") == 0;
	}
	closedir(d);
	return n;
}

static void test_rollups(void **state)
{
	(void)state;
	char rdir[192];
	snprintf(rdir, sizeof(rdir), "%s/%s", cdir, INCR_ROLLUP_DIR);
	uint64_t fine_bytes = 0;
	{
		char names[64][128], path[512];
		size_t n = chain_names(names, 64);
		for (size_t i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/%s", cdir, names[i]);
			fine_bytes += (uint64_t)fs_file_size(path);
		}
	}

	/* Three ended minutes and the ten minutes around them; the last two
	 * increments' window has not ended.  Nothing is merged. */
	struct compact_result res = compact();
	assert_int_equal(res.made + res.merged, 0);
	assert_int_equal(res.rolled, 4);
	assert_int_equal(count_in(rdir), 4);
	assert_chain_reaches_final(NINCR);
	/* The newest state is read through the widest roll-up: fewer bytes. */
	assert_true(res.newest_bytes < fine_bytes);

	char r1_4[256], r5_8[256], r9_10[256], r1_10[256], i5[256], i11[256], i12[256];
	find_in(INCR_ROLLUP_DIR, "0000000001-0000000004_", r1_4, sizeof(r1_4));
	find_in(INCR_ROLLUP_DIR, "0000000005-0000000008_", r5_8, sizeof(r5_8));
	find_in(INCR_ROLLUP_DIR, "0000000009-0000000010_", r9_10, sizeof(r9_10));
	find_in(INCR_ROLLUP_DIR, "0000000001-0000000010_", r1_10, sizeof(r1_10));
	find_in("", "0000000005-", i5, sizeof(i5));
	find_in("", "0000000011-", i11, sizeof(i11));
	find_in("", "0000000012-", i12, sizeof(i12));

	/* Every way through reaches the same final state; an increment
	 * follows a roll-up though its prev names the increment the roll-up
	 * ends with. */
	const char *wide[] = {r1_10, i11, i12};
	assert_route_reaches_final(wide, 3);
	const char *minutes[] = {r1_4, r5_8, r9_10, i11, i12};
	assert_route_reaches_final(minutes, 5);
	char rest[7][256];
	for (int k = 6; k <= 10; k++) {
		char prefix[32];
		snprintf(prefix, sizeof(prefix), "%010d-", k);
		find_in("", prefix, rest[k - 6], sizeof(rest[0]));
	}
	const char *mixed[] = {r1_4, i5, rest[0], rest[1], rest[2], r9_10, i11, i12};
	assert_route_reaches_final(mixed, 8);

	/* A roll-up out of order is refused by the chain's checks. */
	{
		char img[192];
		struct error err = {0};
		struct chain c = {0};
		struct incr_meta m;
		int fd = begin_on_copy(&c, img, sizeof(img));
		read_meta(r5_8, &m);
		assert_int_equal(chain_step_begin(&c, &m, &err), CB_ERR_CORRUPT);
		chain_free(&c);
		close(fd);
		unlink(img);
	}

	/* Nothing more to do. */
	res = compact();
	assert_int_equal(res.rolled + res.dropped, 0);

	/* A roll-up that does not end in its last increment's state leads
	 * nowhere: dropped, and made again. */
	{
		char path[512], *text;
		struct incr_meta m;
		read_meta(r5_8, &m);
		snprintf(path, sizeof(path), "%s/%s%s", cdir, r5_8, META_SUFFIX);
		m.state_checksum ^= 1;
		text = incr_meta_to_json(&m);
		spit(path, text, strlen(text));
		free(text);
	}
	res = compact();
	assert_int_equal(res.dropped, 1);
	assert_int_equal(res.rolled, 1);
	assert_route_reaches_final(minutes, 5);

	/* A roll-up whose predecessor is gone leads nowhere either (the
	 * increment before 5-8 merged away without the relink). */
	{
		char i4[256], path[512];
		find_in("", "0000000004-", i4, sizeof(i4));
		snprintf(path, sizeof(path), "%s/%s", cdir, i4);
		assert_int_equal(unlink(path), 0);
		snprintf(path, sizeof(path), "%s/%s%s", cdir, i4, META_SUFFIX);
		assert_int_equal(unlink(path), 0);
	}
	/* 1-4 ended with it, 5-8 followed it: both go.  1-3 is made (a run
	 * with a gap after it); 5-8 is not made again, having no way in. */
	res = compact();
	assert_int_equal(res.dropped, 2);
	assert_int_equal(res.rolled, 1);
	assert_int_equal(count_in(rdir), 3);
	find_in(INCR_ROLLUP_DIR, "0000000001-0000000003_", r1_4, sizeof(r1_4));
	res = compact();
	assert_int_equal(res.rolled + res.dropped, 0);
}

/* A sealed chain ([local] encrypt): its increments are age files, whose
 * pages the agent cannot read.  Compaction merges and rolls up none of
 * them and leaves every one with its metadata -- though the chain is old
 * enough to merge -- only dropping metadata whose data never came (a
 * crash before a commit), and still measures the chain. */
static void test_sealed_chain_is_left_alone(void **state)
{
	(void)state;
	char names[64][128], from[512], to[512];
	size_t n = chain_names(names, 64);
	uint64_t total = 0;
	assert_int_equal(n, NINCR);
	for (size_t i = 0; i < n; i++) {
		struct incr_meta m;
		read_meta(names[i], &m);
		snprintf(from, sizeof(from), "%s/%s", cdir, names[i]);
		snprintf(to, sizeof(to), "%s/%s.age", cdir, names[i]);
		assert_int_equal(rename(from, to), 0);
		if (i + 1 < n)
			total += (uint64_t)m.compressed_size;
	}
	/* The newest one's commit never happened: metadata alone. */
	snprintf(to, sizeof(to), "%s/%s.age", cdir, names[n - 1]);
	assert_int_equal(unlink(to), 0);

	struct compact_result res = compact();
	assert_int_equal(res.merged, 0);
	assert_int_equal(res.made, 0);
	assert_int_equal(res.rolled, 0);
	assert_string_equal(res.newest, SNAP);
	assert_true(res.newest_bytes == total);
	for (size_t i = 0; i < n; i++) {
		snprintf(to, sizeof(to), "%s/%s.age", cdir, names[i]);
		snprintf(from, sizeof(from), "%s/%s%s", cdir, names[i], META_SUFFIX);
		assert_int_equal(fs_exists(to), i + 1 < n);
		assert_int_equal(fs_exists(from), i + 1 < n);
	}
	snprintf(to, sizeof(to), "%s/%s", cdir, INCR_ROLLUP_DIR);
	assert_false(fs_exists(to));
	/* And so again. */
	res = compact();
	assert_int_equal(res.merged + res.made + res.rolled, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_plan),
		cmocka_unit_test_setup_teardown(test_merge_and_repair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rollups, setup_recent, teardown),
		cmocka_unit_test_setup_teardown(test_sealed_chain_is_left_alone, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
