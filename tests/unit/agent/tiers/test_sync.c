/*
 * Sync (agent/tiers/sync.c) from a real local tier to a local-mirror remote
 * in a temp directory: it uploads, oldest first, only what the remote's
 * policy wants, each backup's metadata before its data; a second run does
 * nothing; an incomplete copy on the remote is sent again; lone metadata
 * objects are removed once they are over a minute old; remote-only backups
 * the policy lets go are deleted; another database's objects and other
 * tools' files are never touched; a remote that is down is a retry that
 * changes nothing; held afterwards is what the remote holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tiers_test.h"

#include "agent/tiers/packed.h"
#include "agent/tiers/sync.h"
#include "agent/tiers/tiers.h"
#include "backends/backend.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/increment.h"
#include "common/meta.h"
#include "common/timeutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOUR 3600
#define DAY (24 * HOUR)

static char root[64];
static char local_dir[128];
static char mirror[128];
static char nowhere[128];
static struct conf conf;
static struct retention_policy local_keep, remote_keep;
static int64_t now;

/* The local backups every test starts from. */
enum { D0, D1, D2, D3, M, CH_NEW, CH_OLD, OTHER_DB, N_B };
static char names[N_B][BACKUP_NAME_MAX];

static void remove_obj(const char *dir, const char *key)
{
	char *p = path_in(dir, key);
	assert_int_equal(unlink(p), 0);
	free(p);
}

/* A backup with metadata that matches it (content names it). */
static void make(const char *dir, const char *name)
{
	char content[400];
	int len = snprintf(content, sizeof(content), "backup %s\n", name);
	uint8_t d[SHA256_LEN];
	sha256_buf(content, (size_t)len, d);
	struct backup_meta m = {0};
	struct backup_name bn;
	assert_true(backup_name_parse(name, &bn));
	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.database, sizeof(m.database), "%s", bn.db);
	hex_encode(d, SHA256_LEN, m.sha256);
	m.type = bn.type;
	m.created = bn.created;
	m.original_size = 4096;
	m.compressed_size = len;
	m.page_size = 4096;
	m.page_count = 1;
	snprintf(m.version, sizeof(m.version), "test");
	char *json = meta_to_json(&m);
	char key[BACKUP_NAME_MAX + 8];
	meta_key(key, sizeof(key), name);
	write_obj(dir, key, json, strlen(json));
	free(json);
	write_obj(dir, name, content, (size_t)len);
}

static void make_all_local(void)
{
	for (int i = 0; i < N_B; i++)
		make(local_dir, names[i]);
}

/* Every file under dir (recursively), "key size\n" lines, sorted. */
static int by_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *dir, const char *rel, char ***v, size_t *n)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *p = path_in(dir, de->d_name), *key = NULL;
		assert_true(asprintf(&key, "%s%s%s", rel, *rel ? "/" : "", de->d_name) > 0);
		struct stat st;
		assert_int_equal(lstat(p, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			walk(p, key, v, n);
		} else {
			*v = realloc(*v, (*n + 1) * sizeof(**v));
			assert_non_null(*v);
			assert_true(asprintf(&(*v)[*n], "%s %lld %lld\n", key, (long long)st.st_size,
					     (long long)st.st_mtim.tv_nsec) > 0);
			(*n)++;
		}
		free(key);
		free(p);
	}
	closedir(d);
}

static char *snapshot(const char *dir)
{
	char **v = NULL;
	size_t n = 0, total = 1;
	walk(dir, "", &v, &n);
	if (n)
		qsort(v, n, sizeof(*v), by_str);
	for (size_t i = 0; i < n; i++)
		total += strlen(v[i]);
	char *s = calloc(1, total);
	assert_non_null(s);
	for (size_t i = 0; i < n; i++) {
		strncat(s, v[i], total - strlen(s) - 1);
		free(v[i]);
	}
	free(v);
	return s;
}

/* The backups of cloudbrain whose data is in dir. */
static size_t backups_in(const char *dir, char names_out[][BACKUP_NAME_MAX], size_t max)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *de;
	assert_non_null(d);
	while ((de = readdir(d))) {
		struct backup_name bn;
		if (!backup_name_parse(de->d_name, &bn) || strcmp(bn.db, "cloudbrain") != 0)
			continue;
		if (n < max)
			snprintf(names_out[n], BACKUP_NAME_MAX, "%s", de->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* held is exactly the cloudbrain backups whose data is in the mirror. */
static void held_is_mirror(const struct remote_holdings *h)
{
	char there[32][BACKUP_NAME_MAX];
	size_t n = backups_in(mirror, there, 32);
	assert_true(h->known);
	assert_int_equal(h->n_held, n);
	for (size_t i = 0; i < n; i++)
		assert_true(held_has(h, there[i]));
}

/* What the callbacks saw. */
struct watch {
	char order[16][BACKUP_NAME_MAX];
	size_t n;
	size_t progress_calls;
	size_t meta_first;   /* progress calls at which the metadata was there and the data not */
};

static void on_upload(void *ctx, const char *name, uint64_t size)
{
	struct watch *w = ctx;
	(void)size;
	assert_true(w->n < 16);
	snprintf(w->order[w->n++], BACKUP_NAME_MAX, "%s", name);
	/* Nothing of it is there yet (or only a stale part). */
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct watch *w = ctx;
	(void)done;
	(void)total;
	const char *name = w->order[w->n - 1];
	w->progress_calls++;
	if (meta_exists(mirror, name) && !exists(mirror, name))
		w->meta_first++;
}

static void open_tiers(struct tier *lt, struct tier *rt, const char *remote_name)
{
	struct error err = {0};
	assert_int_equal(tier_open_local(lt, local_dir, &local_keep, &err), CB_OK);
	assert_int_equal(tier_open_remote(rt, conf_remote_find(&conf, remote_name), &err), CB_OK);
	rt->keep = &remote_keep;
}

/* ---- tests ---- */

static void uploads_what_the_remote_wants_oldest_first(void **state)
{
	(void)state;
	make_all_local();
	write_obj(mirror, "README.txt", "another tool's", 14);
	struct tier lt, rt;
	open_tiers(&lt, &rt, "off");
	struct watch w = {0};
	struct sync_opts so = {.now = now, .db = "cloudbrain", .on_upload = on_upload,
			       .progress = on_progress, .progress_ctx = &w};
	struct sync_stats st;
	struct error err = {0};
	if (sync_tier(&lt, &rt, &so, &st, &err))
		fail_msg("sync: %s", err.msg);

	/* The remote keeps dailies 14 days and change backups 6 hours: D3 (40
	 * days) and the old change backup stay local only. */
	assert_int_equal(st.wanted, 5);
	assert_int_equal(st.present, 0);
	assert_int_equal(st.uploaded, 5);
	assert_int_equal(st.halves_removed, 0);
	assert_int_equal(st.pruned.deleted, 0);
	assert_int_equal(st.pruned.kept, 5);
	uint64_t bytes = 0;
	const int up[] = {M, D2, D1, D0, CH_NEW};     /* oldest first */
	assert_int_equal(w.n, 5);
	for (size_t i = 0; i < 5; i++) {
		assert_string_equal(w.order[i], names[up[i]]);
		assert_true(exists(mirror, names[up[i]]));
		assert_true(meta_exists(mirror, names[up[i]]));
		size_t la, lb, lm;
		char *a = read_obj(local_dir, names[up[i]], &la);
		char *b = read_obj(mirror, names[up[i]], &lb);
		char key[BACKUP_NAME_MAX + 8];
		meta_key(key, sizeof(key), names[up[i]]);
		char *m = read_obj(local_dir, key, &lm);
		assert_int_equal(la, lb);
		assert_memory_equal(a, b, la);
		bytes += la + lm;
		free(a);
		free(b);
		free(m);
	}
	assert_int_equal(st.bytes, bytes);
	/* Each data upload ran with its metadata already there. */
	assert_int_equal(w.progress_calls, 5);
	assert_int_equal(w.meta_first, 5);
	assert_false(exists(mirror, names[D3]));
	assert_false(meta_exists(mirror, names[D3]));
	assert_false(exists(mirror, names[CH_OLD]));
	assert_false(exists(mirror, names[OTHER_DB]));   /* not this database */
	assert_false(meta_exists(mirror, names[OTHER_DB]));
	assert_true(exists(mirror, "README.txt"));
	held_is_mirror(&st.held);
	assert_int_equal(st.held.n_held, 5);
	sync_stats_free(&st);
	/* The local tier is left as it was. */
	for (int i = 0; i < N_B; i++)
		assert_true(exists(local_dir, names[i]));

	/* Again: nothing twice. */
	char *before = snapshot(mirror);
	w = (struct watch){0};
	assert_int_equal(sync_tier(&lt, &rt, &so, &st, &err), CB_OK);
	assert_int_equal(st.wanted, 5);
	assert_int_equal(st.present, 5);
	assert_int_equal(st.uploaded, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(st.pruned.deleted, 0);
	assert_int_equal(w.n, 0);
	char *after = snapshot(mirror);
	assert_string_equal(before, after);
	held_is_mirror(&st.held);
	sync_stats_free(&st);
	free(before);
	free(after);
	tier_close(&lt);
	tier_close(&rt);
}

static void incomplete_copies_are_sent_again(void **state)
{
	(void)state;
	make_all_local();
	struct tier lt, rt;
	open_tiers(&lt, &rt, "off");
	struct sync_opts so = {.now = now, .db = "cloudbrain"};
	struct sync_stats st;
	struct error err = {0};
	assert_int_equal(sync_tier(&lt, &rt, &so, &st, &err), CB_OK);
	sync_stats_free(&st);

	/* D1 cut short on the remote; D2's metadata lost; D0 lost entirely. */
	write_obj(mirror, names[D1], "short", 5);
	char key[BACKUP_NAME_MAX + 8];
	meta_key(key, sizeof(key), names[D2]);
	remove_obj(mirror, key);
	remove_obj(mirror, names[D0]);
	meta_key(key, sizeof(key), names[D0]);
	remove_obj(mirror, key);

	struct watch w = {0};
	so.on_upload = on_upload;
	so.progress_ctx = &w;
	assert_int_equal(sync_tier(&lt, &rt, &so, &st, &err), CB_OK);
	assert_int_equal(st.wanted, 5);
	assert_int_equal(st.present, 2);
	assert_int_equal(st.uploaded, 3);
	assert_int_equal(w.n, 3);
	assert_string_equal(w.order[0], names[D2]);
	assert_string_equal(w.order[1], names[D1]);
	assert_string_equal(w.order[2], names[D0]);
	size_t la, lb;
	char *a = read_obj(local_dir, names[D1], &la), *b = read_obj(mirror, names[D1], &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
	assert_true(meta_exists(mirror, names[D2]));
	assert_true(exists(mirror, names[D0]) && meta_exists(mirror, names[D0]));
	held_is_mirror(&st.held);
	sync_stats_free(&st);
	tier_close(&lt);
	tier_close(&rt);
}

static void half_pairs_and_remote_only_backups(void **state)
{
	(void)state;
	make_all_local();
	/* On the remote only: */
	char r_old[BACKUP_NAME_MAX], r_keep[BACKUP_NAME_MAX], lone_old[BACKUP_NAME_MAX],
		lone_new[BACKUP_NAME_MAX], lone_mine[BACKUP_NAME_MAX], other[BACKUP_NAME_MAX];
	name_of(r_old, "cloudbrain", BT_DAILY, now - 60 * DAY);     /* the policy drops it */
	name_of(r_keep, "cloudbrain", BT_DAILY, now - 5 * DAY);     /* ... wants it */
	name_of(lone_old, "cloudbrain", BT_DAILY, now - 2 * DAY);   /* metadata, no data */
	name_of(lone_new, "cloudbrain", BT_CHANGE, now - 30);       /* ... on its way */
	name_of(other, "cloud", BT_DAILY, now - 100 * DAY);         /* another database */
	make(mirror, r_old);
	make(mirror, r_keep);
	make(mirror, lone_old);
	remove_obj(mirror, lone_old);
	make(mirror, lone_new);
	remove_obj(mirror, lone_new);
	make(mirror, other);
	/* A lone metadata object of a backup the local tier will send now. */
	snprintf(lone_mine, sizeof(lone_mine), "%s", names[D1]);
	make(mirror, lone_mine);
	remove_obj(mirror, lone_mine);
	/* Another database's lone metadata, old: not ours to remove. */
	char other_lone[BACKUP_NAME_MAX];
	name_of(other_lone, "cloud", BT_DAILY, now - 50 * DAY);
	make(mirror, other_lone);
	remove_obj(mirror, other_lone);

	struct tier lt, rt;
	open_tiers(&lt, &rt, "off");
	struct sync_opts so = {.now = now, .db = "cloudbrain"};
	struct sync_stats st;
	struct error err = {0};
	if (sync_tier(&lt, &rt, &so, &st, &err))
		fail_msg("sync: %s", err.msg);
	assert_int_equal(st.wanted, 6);          /* the five local ones, and r_keep */
	assert_int_equal(st.present, 1);
	assert_int_equal(st.uploaded, 5);
	assert_int_equal(st.halves_removed, 1);
	assert_false(meta_exists(mirror, lone_old));
	assert_true(meta_exists(mirror, lone_new));              /* too new to judge */
	assert_true(exists(mirror, lone_mine) && meta_exists(mirror, lone_mine)); /* completed */
	assert_int_equal(st.pruned.deleted, 1);
	assert_false(exists(mirror, r_old));
	assert_false(meta_exists(mirror, r_old));
	assert_true(exists(mirror, r_keep) && meta_exists(mirror, r_keep));
	assert_true(exists(mirror, other) && meta_exists(mirror, other));
	assert_true(meta_exists(mirror, other_lone));
	assert_false(exists(local_dir, r_keep));                 /* sync never downloads */
	assert_int_equal(st.held.n_held, 6);
	assert_false(held_has(&st.held, lone_new));
	held_is_mirror(&st.held);
	sync_stats_free(&st);

	/* A minute later the fresh half goes too. */
	so.now = now + 120;
	assert_int_equal(sync_tier(&lt, &rt, &so, &st, &err), CB_OK);
	assert_int_equal(st.halves_removed, 1);
	assert_false(meta_exists(mirror, lone_new));
	assert_int_equal(st.uploaded, 0);
	sync_stats_free(&st);
	tier_close(&lt);
	tier_close(&rt);
}

static void a_remote_that_is_down(void **state)
{
	(void)state;
	make_all_local();
	struct tier lt, rt;
	open_tiers(&lt, &rt, "down");
	char *before = snapshot(local_dir);
	struct sync_opts so = {.now = now, .db = "cloudbrain", .remove_stale = true};
	struct sync_stats st;
	struct error err = {0};
	assert_int_equal(sync_tier(&lt, &rt, &so, &st, &err), CB_ERR_RETRY);
	assert_non_null(strstr(err.msg, "does not exist"));
	assert_int_equal(st.uploaded, 0);
	assert_false(st.held.known);
	assert_int_equal(st.held.n_held, 0);
	sync_stats_free(&st);
	char *after = snapshot(local_dir);
	assert_string_equal(before, after);
	assert_false(fs_exists(nowhere));
	free(before);
	free(after);

	/* Mounted again: synced. */
	struct error merr = {0};
	assert_int_equal(fs_mkdirs(nowhere, 0700, &merr), CB_OK);
	assert_int_equal(sync_tier(&lt, &rt, &so, &st, &err), CB_OK);
	assert_int_equal(st.uploaded, 5);
	sync_stats_free(&st);
	tier_close(&lt);
	tier_close(&rt);
}

static void a_backup_that_does_not_match_its_metadata_stops_the_sync(void **state)
{
	(void)state;
	make_all_local();
	/* D2 changed after its metadata was written. */
	write_obj(local_dir, names[D2], "tampered", 8);
	struct tier lt, rt;
	open_tiers(&lt, &rt, "off");
	struct watch w = {0};
	struct sync_opts so = {.now = now, .db = "cloudbrain", .on_upload = on_upload,
			       .progress_ctx = &w};
	struct sync_stats st;
	struct error err = {0};
	assert_int_equal(sync_tier(&lt, &rt, &so, &st, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, names[D2]));
	/* M went first; then D2's metadata, and never its data; nothing after. */
	assert_int_equal(st.uploaded, 1);
	assert_true(exists(mirror, names[M]));
	assert_true(meta_exists(mirror, names[D2]));
	assert_false(exists(mirror, names[D2]));
	assert_false(exists(mirror, names[D1]) || meta_exists(mirror, names[D1]));
	assert_int_equal(w.n, 2);
	sync_stats_free(&st);
	tier_close(&lt);
	tier_close(&rt);
}

/* ---- chains of increments ---- */

/* One increment (or roll-up) of snapshot's chain, seqs first..last at
 * times t0..t1 (seconds), with metadata that matches its bytes; its
 * predecessor is the fine increment ending at first - 1. */
static void make_incr(const char *dir, const char *snapshot, uint64_t first, uint64_t last,
		      bool rollup, int64_t t0, int64_t t1, int64_t prev_t)
{
	struct incr_name n = {.seq_first = first, .seq_last = last, .first = t0, .last = t1,
			      .rollup = rollup};
	struct incr_meta m = {0};
	struct backup_name bn;
	snprintf(n.snapshot, sizeof(n.snapshot), "%s", snapshot);
	assert_true(backup_name_parse(snapshot, &bn));
	assert_true(incr_name_format(&n, m.name, sizeof(m.name)));
	if (first > 1) {
		struct incr_name p = {.seq_first = first - 1, .seq_last = first - 1,
				      .first = prev_t, .last = prev_t};
		snprintf(p.snapshot, sizeof(p.snapshot), "%s", snapshot);
		assert_true(incr_name_format(&p, m.prev, sizeof(m.prev)));
	}
	char content[INCR_NAME_MAX + 16];
	int len = snprintf(content, sizeof(content), "increment %s\n", m.name);
	uint8_t d[SHA256_LEN];
	sha256_buf(content, (size_t)len, d);
	hex_encode(d, SHA256_LEN, m.sha256);
	snprintf(m.database, sizeof(m.database), "%s", bn.db);
	snprintf(m.snapshot, sizeof(m.snapshot), "%s", snapshot);
	m.seq_first = first;
	m.seq_last = last;
	m.first_tx_ms = t0 * 1000;
	m.last_tx_ms = t1 * 1000;
	m.page_size = 4096;
	m.page_count = 3;
	m.pages = 1;
	m.original_size = 32 + 4096 + 24;
	m.compressed_size = len;
	snprintf(m.version, sizeof(m.version), "test");
	char *path = path_in(dir, m.name), *folder = fs_dirname(path);
	struct error err = {0};
	assert_int_equal(fs_mkdirs(folder, 0700, &err), CB_OK);
	free(folder);
	free(path);
	char *json = incr_meta_to_json(&m);
	char key[INCR_NAME_MAX + 8];
	snprintf(key, sizeof(key), "%s%s", m.name, META_SUFFIX);
	write_obj(dir, key, json, strlen(json));
	free(json);
	write_obj(dir, m.name, content, (size_t)len);
}

/* Fine increments 1..10 of CH_NEW's chain, step seconds apart from offset
 * seconds after the snapshot (taken on a minute), and with rollup the
 * roll-up of 1..5. */
static int64_t make_chain(int64_t offset, int64_t step, bool rollup)
{
	struct backup_name bn;
	assert_true(backup_name_parse(names[CH_NEW], &bn));
	int64_t t = bn.created + offset;
	make(local_dir, names[CH_NEW]);
	for (uint64_t i = 1; i <= 10; i++)
		make_incr(local_dir, names[CH_NEW], i, i, false, t + step * (int64_t)i,
			  t + step * (int64_t)i, t + step * (int64_t)(i - 1));
	if (rollup)
		make_incr(local_dir, names[CH_NEW], 1, 5, true, t + step, t + 5 * step, 0);
	return t;
}

/* The mirror's copy of a local increment (or roll-up) of CH_NEW's chain is
 * one object: its metadata member (packed.h), then the local object. */
static void packed_on_mirror(const char *key)
{
	size_t local_len, obj_len, meta_len, json_len, head_len;
	char *local = read_obj(local_dir, key, &local_len);
	char *obj = read_obj(mirror, key, &obj_len);
	char meta_key[INCR_NAME_MAX + 8], *json;
	snprintf(meta_key, sizeof(meta_key), "%s%s", key, META_SUFFIX);
	char *meta = read_obj(local_dir, meta_key, &meta_len);
	char *p = path_in(mirror, meta_key);
	assert_int_not_equal(access(p, F_OK), 0);      /* no .json beside it */
	free(p);
	struct error err = {0};
	assert_int_equal(packed_parse(obj, obj_len, &json, &json_len, &head_len, &err), CB_OK);
	assert_int_equal(json_len, meta_len);
	assert_memory_equal(json, meta, meta_len);
	assert_int_equal(obj_len, head_len + local_len);
	assert_memory_equal(obj + head_len, local, local_len);
	free(json);
	free(meta);
	free(obj);
	free(local);
}

/* Does the mirror hold increment (or roll-up) first..last of CH_NEW's chain? */
static bool mirror_has(uint64_t first, uint64_t last, bool rollup)
{
	char stem[BACKUP_NAME_MAX];
	snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(names[CH_NEW]) - strlen(".db.gz")),
		 names[CH_NEW]);
	char pattern[64];
	snprintf(pattern, sizeof(pattern), "%010llu-%010llu_", (unsigned long long)first,
		 (unsigned long long)last);
	char dir[400];
	snprintf(dir, sizeof(dir), "%s/increments/%s%s", mirror, stem, rollup ? "/rollups" : "");
	DIR *d = opendir(dir);
	bool found = false;
	for (struct dirent *e; d && (e = readdir(d));)
		if (strncmp(e->d_name, pattern, strlen(pattern)) == 0 &&
		    strstr(e->d_name, ".json") == NULL)
			found = true;
	if (d)
		closedir(d);
	return found;
}

/* Sync lt to rt once, successfully; how many increments went up. */
static size_t sync_uploads(struct tier *lt, struct tier *rt)
{
	struct sync_opts so = {.now = now, .db = "cloudbrain"};
	struct sync_stats st;
	struct error err = {0};
	assert_int_equal(sync_tier(lt, rt, &so, &st, &err), CB_OK);
	size_t n = st.incrs_uploaded;
	sync_stats_free(&st);
	return n;
}

static void a_remote_in_step_gets_each_increment_then_the_roll_ups(void **state)
{
	(void)state;
	/* 1..5 from the 56th second to the 60th: a roll-up across a minute;
	 * 6..8, the 61st to the 63rd, one within a minute, never shipped. */
	int64_t t = make_chain(55, 1, true);
	make_incr(local_dir, names[CH_NEW], 6, 8, true, t + 6, t + 8, 0);
	struct tier lt, rt;
	open_tiers(&lt, &rt, "off");
	struct sync_opts so = {.now = now, .db = "cloudbrain"};
	struct sync_stats st;
	struct error err = {0};
	assert_int_equal(sync_tier(&lt, &rt, &so, &st, &err), CB_OK);
	/* Every increment, in chain order; the roll-up waits until the
	 * increment that vouches for it is known to be there. */
	assert_int_equal(st.incrs_uploaded, 10);
	for (uint64_t i = 1; i <= 10; i++)
		assert_true(mirror_has(i, i, false));
	assert_false(mirror_has(1, 5, true));
	assert_int_equal(st.newest, t + 10);
	sync_stats_free(&st);
	assert_int_equal(sync_uploads(&lt, &rt), 1);
	assert_true(mirror_has(1, 5, true));
	assert_false(mirror_has(6, 8, true));
	assert_int_equal(sync_uploads(&lt, &rt), 0);
	struct catalog cat;
	size_t n;
	assert_int_equal(tier_catalog(&lt, "cloudbrain", NULL, &cat, &err), CB_OK);
	struct catalog_incr *run = catalog_chain(&cat, names[CH_NEW], &n);
	for (size_t i = 0; i < n; i++)
		if (mirror_has(run[i].parsed.seq_first, run[i].parsed.seq_last,
			       run[i].parsed.rollup))
			packed_on_mirror(run[i].key);
	catalog_free(&cat);
	tier_close(&lt);
	tier_close(&rt);
}

static void a_remote_far_behind_gets_the_backlog_as_roll_ups(void **state)
{
	(void)state;
	make_chain(0, 30, true);   /* the first increment is 270 s older than the last */
	struct tier lt, rt;
	open_tiers(&lt, &rt, "off");
	/* The roll-up and the increment that vouches for it, then the rest:
	 * 7 objects where the increments alone were 10. */
	assert_int_equal(sync_uploads(&lt, &rt), 7);
	assert_true(mirror_has(1, 5, true));
	assert_true(mirror_has(5, 5, false));
	for (uint64_t i = 1; i <= 4; i++)
		assert_false(mirror_has(i, i, false));
	for (uint64_t i = 6; i <= 10; i++)
		assert_true(mirror_has(i, i, false));
	/* In step: nothing more to send. */
	assert_int_equal(sync_uploads(&lt, &rt), 0);
	tier_close(&lt);
	tier_close(&rt);
}

static void a_remote_holding_the_increments_gets_a_roll_up_once(void **state)
{
	(void)state;
	/* Far apart (a backlog, were the remote behind), but the remote has
	 * every increment before the roll-up is made. */
	int64_t t = make_chain(0, 30, false);
	struct tier lt, rt;
	open_tiers(&lt, &rt, "off");
	assert_int_equal(sync_uploads(&lt, &rt), 10);
	make_incr(local_dir, names[CH_NEW], 1, 5, true, t + 30, t + 150, 0);
	/* The roll-up goes up once: not as a backlog's shortcut (the remote
	 * holds what it covers) and then again as a roll-up of what it holds. */
	assert_int_equal(sync_uploads(&lt, &rt), 1);
	assert_true(mirror_has(1, 5, true));
	assert_int_equal(sync_uploads(&lt, &rt), 0);
	tier_close(&lt);
	tier_close(&rt);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/cbsync-sync-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(local_dir, sizeof(local_dir), "%s/local", root);
	snprintf(mirror, sizeof(mirror), "%s/mirror", root);
	snprintf(nowhere, sizeof(nowhere), "%s/nowhere", root);
	struct error err = {0};
	if (fs_mkdirs(local_dir, 0700, &err) || fs_mkdirs(mirror, 0700, &err))
		return -1;
	char e_dir[200], e_off[200], e_down[200];
	snprintf(e_dir, sizeof(e_dir), "CBSYNC_LOCAL_DIR=%s", local_dir);
	snprintf(e_off, sizeof(e_off), "CBSYNC_REMOTE_OFF_PATH=%s", mirror);
	snprintf(e_down, sizeof(e_down), "CBSYNC_REMOTE_DOWN_PATH=%s", nowhere);
	char *env[] = {e_dir, "CBSYNC_REMOTE_OFF_TYPE=local", e_off,
		       "CBSYNC_REMOTE_DOWN_TYPE=local", e_down, NULL};
	size_t nt = 0;
	struct conf_load_opts opts = {.system_path = "/nonexistent", .environ = env};
	opts.remote_types = backend_remote_types(&nt);
	opts.n_remote_types = nt;
	if (conf_load(&conf, &opts, &err)) {
		fprintf(stderr, "conf_load: %s\n", err.msg);
		return -1;
	}
	retention_policy_default(&local_keep);
	retention_policy_default(&remote_keep);
	remote_keep.keep[BT_DAILY] = (struct keep_rule){KEEP_SECONDS, 14 * DAY};
	remote_keep.keep[BT_CHANGE] = (struct keep_rule){KEEP_SECONDS, 6 * HOUR};
	assert_true(time_from_utc_fields(2027, 2, 1, 0, 0, 0, &now));
	name_of(names[D0], "cloudbrain", BT_DAILY, now - 1 * DAY);
	name_of(names[D1], "cloudbrain", BT_DAILY, now - 3 * DAY);
	name_of(names[D2], "cloudbrain", BT_DAILY, now - 10 * DAY);
	name_of(names[D3], "cloudbrain", BT_DAILY, now - 40 * DAY);
	name_of(names[M], "cloudbrain", BT_MANUAL, now - 100 * DAY);
	name_of(names[CH_NEW], "cloudbrain", BT_CHANGE, now - 1 * HOUR);
	name_of(names[CH_OLD], "cloudbrain", BT_CHANGE, now - 5 * DAY);
	name_of(names[OTHER_DB], "cloud", BT_DAILY, now - 2 * DAY);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	conf_free(&conf);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	struct error err = {0};
	if (backend_global_init(&err)) {
		fprintf(stderr, "test_sync: %s\n", err.msg);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		T(uploads_what_the_remote_wants_oldest_first),
		T(incomplete_copies_are_sent_again),
		T(half_pairs_and_remote_only_backups),
		T(a_remote_that_is_down),
		T(a_backup_that_does_not_match_its_metadata_stops_the_sync),
		T(a_remote_in_step_gets_each_increment_then_the_roll_ups),
		T(a_remote_far_behind_gets_the_backlog_as_roll_ups),
		T(a_remote_holding_the_increments_gets_a_roll_up_once),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	backend_global_cleanup();
	return failed;
}
