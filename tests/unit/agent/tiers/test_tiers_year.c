/*
 * A simulated year of backups across two tiers with different policies,
 * driven through the real sync and prune code with an injected clock (the
 * `now` they take), on a real local tier and a local-mirror remote in a
 * temp directory.
 *
 * Local keeps daily 7d, weekly 4w, monthly 12m, change 24h; the remote keeps
 * daily 30d, weekly 12w, monthly forever, change 6h.  Every day makes change
 * backups every six hours, a daily at 02:00, a weekly on Sundays, a monthly
 * on the 1st, a manual on the 15th; then syncs and prunes both tiers.  For
 * ten days in June the remote is unreachable.  After every day the test
 * checks each tier holds exactly what its policy says, that nothing the
 * remote wants is ever lost from both tiers, and that manual backups stay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/tiers/prune.h"
#include "agent/tiers/sync.h"
#include "agent/tiers/tiers.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/meta.h"
#include "common/timeutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DAY (24 * 3600)

static char root[64];
static char local_dir[128];
static char mirror[128];
static char mirror_away[128];

static struct retention_policy local_keep, remote_keep;

static void make_backup(enum backup_type type, int64_t created)
{
	struct backup_name bn = {.type = type, .created = created};
	snprintf(bn.db, sizeof(bn.db), "cloudbrain");
	struct backup_meta m = {0};
	assert_true(backup_name_format(&bn, m.name, sizeof(m.name)));
	char content[128];
	int len = snprintf(content, sizeof(content), "backup %s\n", m.name);
	uint8_t d[SHA256_LEN];
	sha256_buf(content, (size_t)len, d);
	hex_encode(d, SHA256_LEN, m.sha256);
	snprintf(m.database, sizeof(m.database), "cloudbrain");
	m.type = type;
	m.created = created;
	m.original_size = 4096;
	m.compressed_size = len;
	m.page_size = 4096;
	m.page_count = 1;
	snprintf(m.version, sizeof(m.version), "test");
	char *json = meta_to_json(&m);
	char *path = fs_join(local_dir, m.name);
	char *mpath = NULL;
	assert_true(asprintf(&mpath, "%s%s", path, META_SUFFIX) > 0);
	struct error err = {0};
	assert_int_equal(fs_write_file_atomic(mpath, json, strlen(json), 0600, &err), CB_OK);
	assert_int_equal(fs_write_file_atomic(path, content, (size_t)len, 0600, &err), CB_OK);
	free(json);
	free(path);
	free(mpath);
}

/* Names (with .db.gz) of the backups in dir, optionally of one type. */
static size_t count_in(const char *dir, int type, int64_t newer_than)
{
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *de;
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		struct backup_name bn;
		if (!backup_name_parse(de->d_name, &bn))
			continue;
		if ((type < 0 || bn.type == (enum backup_type)type) && bn.created > newer_than)
			n++;
	}
	closedir(d);
	return n;
}

static bool exists_in(const char *dir, enum backup_type type, int64_t created)
{
	struct backup_name bn = {.type = type, .created = created};
	snprintf(bn.db, sizeof(bn.db), "cloudbrain");
	char name[BACKUP_NAME_MAX];
	backup_name_format(&bn, name, sizeof(name));
	char *p = fs_join(dir, name);
	bool e = fs_exists(p);
	free(p);
	return e;
}

static void one_year(void **state)
{
	(void)state;
	struct conf conf;
	struct error err = {0};
	size_t nt = 0;
	setenv("CBSYNC_REMOTE_OFF_TYPE", "local", 1);
	setenv("CBSYNC_REMOTE_OFF_PATH", mirror, 1);
	struct conf_load_opts opts = {.system_path = "/nonexistent"};
	opts.remote_types = backend_remote_types(&nt);
	opts.n_remote_types = nt;
	assert_int_equal(conf_load(&conf, &opts, &err), CB_OK);
	const struct conf_remote *rc = conf_remote_find(&conf, "off");
	assert_non_null(rc);
	struct tier lt, rt;
	assert_int_equal(tier_open_remote(&rt, rc, &err), CB_OK);
	rt.keep = &remote_keep;
	assert_int_equal(tier_open_local(&lt, local_dir, &local_keep, &err), CB_OK);

	int64_t start;
	assert_true(time_from_utc_fields(2027, 1, 1, 0, 0, 0, &start));
	struct remote_holdings held = {.name = "off", .keep = &remote_keep};
	size_t uploads = 0, max_pinned = 0;

	for (int day = 0; day < 365; day++) {
		int64_t midnight = start + (int64_t)day * DAY;
		time_t tt = (time_t)midnight;
		struct tm tm;
		gmtime_r(&tt, &tm);
		bool outage = tm.tm_mon == 5 && tm.tm_mday >= 10 && tm.tm_mday < 20;
		if (outage && fs_exists(mirror))
			assert_int_equal(rename(mirror, mirror_away), 0);
		if (!outage && fs_exists(mirror_away))
			assert_int_equal(rename(mirror_away, mirror), 0);

		for (int h = 0; h < 24; h += 6)
			make_backup(BT_CHANGE, midnight + h * 3600 + 60);
		make_backup(BT_DAILY, midnight + 2 * 3600);
		if (tm.tm_wday == 0)
			make_backup(BT_WEEKLY, midnight + 3 * 3600);
		if (tm.tm_mday == 1)
			make_backup(BT_MONTHLY, midnight + 4 * 3600);
		if (tm.tm_mday == 15)
			make_backup(BT_MANUAL, midnight + 12 * 3600);

		int64_t now = midnight + 23 * 3600;
		struct sync_stats st;
		struct sync_opts so = {.now = now, .db = "cloudbrain"};
		enum result r = sync_tier(&lt, &rt, &so, &st, &err);
		if (outage) {
			assert_int_equal(r, CB_ERR_RETRY);
		} else {
			if (r)
				fail_msg("day %d: sync: %s", day, err.msg);
			uploads += st.uploaded;
			holdings_free(&held);
			held = st.held;
			held.name = "off";
			held.keep = &remote_keep;
			memset(&st.held, 0, sizeof(st.held));
		}
		sync_stats_free(&st);

		struct prune_result pr;
		r = prune_listed(&lt, "cloudbrain", &held, 1, now, false, NULL, &pr, NULL, &err);
		if (r)
			fail_msg("day %d: prune: %s", day, err.msg);
		if (pr.pinned > max_pinned)
			max_pinned = pr.pinned;

		/* Local: within its windows, plus the newest of each type. */
		assert_true(count_in(local_dir, BT_CHANGE, now - DAY) >= 4);
		if (!outage) {
			assert_int_equal(count_in(local_dir, BT_CHANGE, 0), count_in(local_dir, BT_CHANGE, now - DAY));
			assert_int_equal(count_in(local_dir, BT_DAILY, 0), count_in(local_dir, BT_DAILY, now - 7 * DAY));
		}
		/* Remote (when up): its own windows. */
		if (!outage) {
			assert_int_equal(count_in(mirror, BT_DAILY, 0), count_in(mirror, BT_DAILY, now - 30 * DAY));
			assert_true(count_in(mirror, BT_CHANGE, 0) <= 2);
			/* Every daily of the last 30 days is on the remote. */
			for (int k = 0; k < 30 && k <= day; k++)
				assert_true(exists_in(mirror, BT_DAILY, midnight - (int64_t)k * DAY + 2 * 3600));
		} else {
			/* Down: the dailies the remote still wants stay local. */
			for (int k = 0; k < 30 && k <= day; k++) {
				int64_t t = midnight - (int64_t)k * DAY + 2 * 3600;
				assert_true(exists_in(mirror_away, BT_DAILY, t) ||
					    exists_in(local_dir, BT_DAILY, t));
			}
		}
		/* Manual backups: kept everywhere. */
		assert_int_equal(count_in(local_dir, BT_MANUAL, 0), (size_t)(tm.tm_mday >= 15) + (size_t)tm.tm_mon);
	}
	/* A year on: monthly everywhere (12 locally plus the newest; all 12 on the
	 * remote, which keeps them forever), 12 weeks of weeklies remotely. */
	int64_t end = start + 364 * (int64_t)DAY + 23 * 3600;
	assert_int_equal(count_in(mirror, BT_MONTHLY, 0), 12);
	assert_true(count_in(local_dir, BT_MONTHLY, 0) >= 12);
	assert_int_equal(count_in(mirror, BT_WEEKLY, 0), count_in(mirror, BT_WEEKLY, end - 84 * DAY));
	assert_true(count_in(local_dir, BT_WEEKLY, 0) <= 5);
	assert_int_equal(count_in(mirror, BT_MANUAL, 0), 12);
	/* The outage pinned dailies locally, and they went once uploaded. */
	assert_true(max_pinned >= 5);
	assert_int_equal(count_in(local_dir, BT_DAILY, 0), 7);
	assert_true(uploads > 365);
	holdings_free(&held);
	tier_close(&lt);
	tier_close(&rt);
	conf_free(&conf);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/cbsync-year-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(local_dir, sizeof(local_dir), "%s/local", root);
	snprintf(mirror, sizeof(mirror), "%s/mirror", root);
	snprintf(mirror_away, sizeof(mirror_away), "%s/mirror-away", root);
	struct error err = {0};
	if (fs_mkdirs(local_dir, 0700, &err) || fs_mkdirs(mirror, 0700, &err))
		return -1;
	retention_policy_default(&local_keep);
	retention_policy_default(&remote_keep);
	remote_keep.keep[BT_DAILY] = (struct keep_rule){KEEP_SECONDS, 30 * DAY};
	remote_keep.keep[BT_WEEKLY] = (struct keep_rule){KEEP_SECONDS, 84 * DAY};
	remote_keep.keep[BT_MONTHLY] = (struct keep_rule){KEEP_FOREVER, 0};
	remote_keep.keep[BT_CHANGE] = (struct keep_rule){KEEP_SECONDS, 6 * 3600};
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	struct error err = {0};
	if (backend_global_init(&err)) {
		fprintf(stderr, "test_tiers_year: %s\n", err.msg);
		return 1;
	}
	const struct CMUnitTest tests[] = {cmocka_unit_test(one_year)};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	backend_global_cleanup();
	return failed;
}
