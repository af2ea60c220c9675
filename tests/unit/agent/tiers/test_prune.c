/*
 * Retention applied to tiers (agent/tiers/prune.c) on a real local tier and
 * a local-mirror remote in a temp directory: a dry run reports every
 * decision and deletes nothing; a real run deletes what expired (data and
 * metadata) and reports each deletion; another database's backups are never
 * judged or touched; the local tier keeps what a remote wants and lacks
 * (pinned), and everything a remote's policy wants when its holdings are
 * unknown; held lists what the tier keeps; prune_apply carries out verdicts
 * it is given, and stops at a deletion that fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tiers_test.h"

#include "agent/tiers/prune.h"
#include "backends/backend.h"
#include "common/fsutil.h"
#include "common/meta.h"
#include "common/timeutil.h"

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
static struct conf conf;
static struct retention_policy local_keep;
static int64_t now;

/* The backups every test starts from, by index. */
enum { D0, D1, D2, D3, M, CH_NEW, CH_OLD, OTHER_DB, N_B };
static char names[N_B][BACKUP_NAME_MAX];
static const size_t sizes[N_B] = {100, 110, 120, 130, 140, 150, 160, 170};

/* A backup object of size bytes with its metadata. */
static void make(const char *dir, const char *name, size_t size)
{
	char *data = malloc(size);
	assert_non_null(data);
	memset(data, 'x', size);
	struct error err = {0};
	char *p = path_in(dir, name);
	assert_int_equal(fs_write_file_atomic(p, data, size, 0600, &err), CB_OK);
	free(data);

	struct backup_meta m = {0};
	struct backup_name bn;
	assert_true(backup_name_parse(name, &bn));
	snprintf(m.name, sizeof(m.name), "%s", name);
	snprintf(m.database, sizeof(m.database), "%s", bn.db);
	memset(m.sha256, 'a', SHA256_HEX_LEN);
	m.type = bn.type;
	m.created = bn.created;
	m.original_size = 4096;
	m.compressed_size = (int64_t)size;
	m.page_size = 4096;
	m.page_count = 1;
	snprintf(m.version, sizeof(m.version), "test");
	char *json = meta_to_json(&m);
	char *mp = NULL;
	assert_true(asprintf(&mp, "%s%s", p, META_SUFFIX) > 0);
	assert_int_equal(fs_write_file_atomic(mp, json, strlen(json), 0600, &err), CB_OK);
	free(json);
	free(mp);
	free(p);
}

static void make_all(const char *dir)
{
	for (int i = 0; i < N_B; i++)
		make(dir, names[i], sizes[i]);
}

/* A report written to memory. */
struct report {
	char *text;
	size_t len;
	FILE *f;
};

static FILE *report_open(struct report *r)
{
	r->text = NULL;
	r->len = 0;
	r->f = open_memstream(&r->text, &r->len);
	assert_non_null(r->f);
	return r->f;
}

static const char *report_close(struct report *r)
{
	assert_int_equal(fclose(r->f), 0);
	return r->text;
}

/* The line of report text that mentions name, or NULL. */
static char *line_of(const char *text, const char *name, char *buf, size_t size)
{
	const char *p = strstr(text, name);
	if (!p)
		return NULL;
	while (p > text && p[-1] != '\n')
		p--;
	const char *e = strchr(p, '\n');
	size_t n = e ? (size_t)(e - p) : strlen(p);
	snprintf(buf, size, "%.*s", (int)n, p);
	return buf;
}

static size_t lines(const char *text)
{
	size_t n = 0;
	for (const char *p = text; *p; p++)
		n += *p == '\n';
	return n;
}

/* ---- the local tier ---- */

static void dry_run_reports_and_deletes_nothing(void **state)
{
	(void)state;
	make_all(local_dir);
	struct tier t;
	struct error err = {0};
	assert_int_equal(tier_open_local(&t, local_dir, &local_keep, &err), CB_OK);
	struct report rep;
	struct prune_result res;
	struct remote_holdings held = {0};
	assert_int_equal(prune_listed(&t, "cloudbrain", NULL, 0, now, true, report_open(&rep),
				      &res, &held, &err), CB_OK);
	const char *text = report_close(&rep);
	assert_int_equal(res.kept, 4);
	assert_int_equal(res.deleted, 3);
	assert_int_equal(res.pinned, 0);
	assert_int_equal(res.freed, sizes[D2] + sizes[D3] + sizes[CH_OLD]);
	for (int i = 0; i < N_B; i++) {
		assert_true(exists(local_dir, names[i]));
		assert_true(meta_exists(local_dir, names[i]));
	}
	char line[512];
	assert_non_null(line_of(text, names[D0], line, sizeof(line)));
	assert_non_null(strstr(line, "keep"));
	assert_non_null(strstr(line, "newest daily backup"));
	assert_non_null(line_of(text, names[D1], line, sizeof(line)));
	assert_non_null(strstr(line, "within"));
	assert_non_null(line_of(text, names[M], line, sizeof(line)));
	assert_non_null(strstr(line, "never pruned"));
	assert_non_null(line_of(text, names[CH_OLD], line, sizeof(line)));
	assert_true(strncmp(line, "delete ", 7) == 0);
	assert_non_null(strstr(line, "older than"));
	/* Nothing about another database's backup; a line per backup of ours. */
	assert_null(strstr(text, names[OTHER_DB]));
	assert_int_equal(lines(text), 7);
	/* held: what it would keep. */
	assert_true(held.known);
	assert_int_equal(held.n_held, 4);
	assert_true(held_has(&held, names[D0]) && held_has(&held, names[M]));
	assert_false(held_has(&held, names[CH_OLD]));
	holdings_free(&held);
	free(rep.text);
	tier_close(&t);
}

static void expired_backups_are_deleted(void **state)
{
	(void)state;
	make_all(local_dir);
	struct tier t;
	struct error err = {0};
	assert_int_equal(tier_open_local(&t, local_dir, &local_keep, &err), CB_OK);
	struct report rep;
	struct prune_result res;
	struct remote_holdings held = {0};
	assert_int_equal(prune_listed(&t, "cloudbrain", NULL, 0, now, false, report_open(&rep),
				      &res, &held, &err), CB_OK);
	const char *text = report_close(&rep);
	/* The default policy: D2 (10 days) and D3 (20 days) are past 7 days,
	 * the old change backup past 24 hours; the rest stay. */
	assert_int_equal(res.deleted, 3);
	assert_int_equal(res.kept, 4);
	assert_int_equal(res.freed, sizes[D2] + sizes[D3] + sizes[CH_OLD]);
	const int gone[] = {D2, D3, CH_OLD}, kept[] = {D0, D1, M, CH_NEW, OTHER_DB};
	for (size_t i = 0; i < 3; i++) {
		assert_false(exists(local_dir, names[gone[i]]));
		assert_false(meta_exists(local_dir, names[gone[i]]));
	}
	for (size_t i = 0; i < 5; i++) {
		assert_true(exists(local_dir, names[kept[i]]));
		assert_true(meta_exists(local_dir, names[kept[i]]));
	}
	/* Each deletion reported, and only those. */
	assert_int_equal(lines(text), 3);
	char line[512];
	assert_non_null(line_of(text, names[D3], line, sizeof(line)));
	assert_true(strncmp(line, "Deleted ", 8) == 0);
	assert_non_null(strstr(line, "older than 1w"));
	assert_null(strstr(text, names[D0]));
	assert_int_equal(held.n_held, 4);
	assert_true(held_has(&held, names[CH_NEW]));
	assert_false(held_has(&held, names[D2]));
	assert_false(held_has(&held, names[OTHER_DB]));
	holdings_free(&held);
	free(rep.text);

	/* Again: nothing more to do; report may be NULL, held too. */
	assert_int_equal(prune_listed(&t, "cloudbrain", NULL, 0, now, false, NULL, &res, NULL,
				      &err), CB_OK);
	assert_int_equal(res.deleted, 0);
	assert_int_equal(res.kept, 4);

	/* The other database's own pruning sees only its backup (its newest). */
	assert_int_equal(prune_listed(&t, "cloud", NULL, 0, now + 400 * DAY, false, NULL, &res,
				      NULL, &err), CB_OK);
	assert_int_equal(res.kept, 1);
	assert_int_equal(res.deleted, 0);
	assert_true(exists(local_dir, names[D0]));
	tier_close(&t);
}

static void a_remote_tier_prunes_the_same_way(void **state)
{
	(void)state;
	make_all(mirror);
	/* A lone metadata object of an old backup, and a backup without any:
	 * the first is left be, the second judged by its name. */
	char lone[BACKUP_NAME_MAX], bare[BACKUP_NAME_MAX];
	name_of(lone, "cloudbrain", BT_DAILY, now - 40 * DAY);
	name_of(bare, "cloudbrain", BT_DAILY, now - 50 * DAY);
	make(mirror, lone, 10);
	char *p = path_in(mirror, lone);
	unlink(p);
	free(p);
	make(mirror, bare, 20);
	char bk[BACKUP_NAME_MAX + 8];
	snprintf(bk, sizeof(bk), "%s%s", bare, META_SUFFIX);
	p = path_in(mirror, bk);
	unlink(p);
	free(p);

	struct tier t;
	struct error err = {0};
	assert_int_equal(tier_open_remote(&t, conf_remote_find(&conf, "off"), &err), CB_OK);
	struct retention_policy keep;
	retention_policy_default(&keep);
	keep.keep[BT_DAILY] = (struct keep_rule){KEEP_SECONDS, 2 * DAY};
	t.keep = &keep;
	struct catalog cat;
	assert_int_equal(tier_catalog(&t, NULL, "test", &cat, &err), CB_OK);
	struct prune_result res;
	struct remote_holdings held = {0};
	struct report rep;
	assert_int_equal(prune_tier(&t, &cat, "cloudbrain", NULL, 0, now, false,
				    report_open(&rep), &res, &held, &err), CB_OK);
	const char *text = report_close(&rep);
	/* Daily within 2 days: D0 only; D1..D3 and the bare one go. */
	assert_int_equal(res.deleted, 5);
	assert_int_equal(res.kept, 3);
	assert_int_equal(res.freed, sizes[D1] + sizes[D2] + sizes[D3] + sizes[CH_OLD] + 20);
	const int gone[] = {D1, D2, D3, CH_OLD};
	for (size_t i = 0; i < 4; i++) {
		assert_false(exists(mirror, names[gone[i]]));
		assert_false(meta_exists(mirror, names[gone[i]]));
	}
	assert_false(exists(mirror, bare));
	assert_true(meta_exists(mirror, lone));              /* not judged */
	assert_null(strstr(text, lone));
	assert_true(exists(mirror, names[OTHER_DB]));        /* another database's */
	assert_true(meta_exists(mirror, names[OTHER_DB]));
	assert_true(exists(mirror, names[D0]) && exists(mirror, names[M]) &&
		    exists(mirror, names[CH_NEW]));
	assert_int_equal(lines(text), 5);
	assert_int_equal(held.n_held, 3);
	assert_true(held_has(&held, names[D0]));
	assert_false(held_has(&held, lone));
	holdings_free(&held);
	free(rep.text);
	catalog_free(&cat);
	tier_close(&t);
}

/* ---- pins ---- */

static struct retention_policy remote_keep;

static void what_a_remote_lacks_is_pinned(void **state)
{
	(void)state;
	make_all(local_dir);
	/* The remote keeps dailies 30 days and change backups 6 hours; it holds
	 * D0, D1, D3 and M (and another database's backup, which changes
	 * nothing).  It lacks D2, which it wants: pinned.  The old change backup
	 * it does not want. */
	char *have[] = {names[D0], names[D1], names[D3], names[M], names[OTHER_DB], names[CH_NEW]};
	struct remote_holdings pins = {.name = "off", .keep = &remote_keep, .known = true,
				       .held = have, .n_held = 6};
	struct tier t;
	struct error err = {0};
	assert_int_equal(tier_open_local(&t, local_dir, &local_keep, &err), CB_OK);

	struct report rep;
	struct prune_result res;
	struct remote_holdings held = {0};
	assert_int_equal(prune_listed(&t, "cloudbrain", &pins, 1, now, true, report_open(&rep),
				      &res, &held, &err), CB_OK);
	const char *text = report_close(&rep);
	assert_int_equal(res.pinned, 1);
	assert_int_equal(res.kept, 5);
	assert_int_equal(res.deleted, 2);
	char line[512];
	assert_non_null(line_of(text, names[D2], line, sizeof(line)));
	assert_true(strncmp(line, "keep ", 5) == 0);
	assert_non_null(strstr(line, "still wanted by a remote"));
	assert_non_null(line_of(text, names[D3], line, sizeof(line)));
	assert_true(strncmp(line, "delete ", 7) == 0);
	assert_true(held_has(&held, names[D2]));
	holdings_free(&held);
	free(rep.text);

	assert_int_equal(prune_listed(&t, "cloudbrain", &pins, 1, now, false, NULL, &res, &held,
				      &err), CB_OK);
	assert_int_equal(res.pinned, 1);
	assert_int_equal(res.deleted, 2);
	assert_true(exists(local_dir, names[D2]));           /* pinned */
	assert_false(exists(local_dir, names[D3]));          /* the remote has it */
	assert_false(exists(local_dir, names[CH_OLD]));      /* nobody wants it */
	assert_true(exists(local_dir, names[OTHER_DB]));
	assert_int_equal(held.n_held, 5);
	holdings_free(&held);

	/* Uploaded at last: no longer pinned, and it goes. */
	char *have2[] = {names[D0], names[D1], names[D2], names[D3], names[M], names[CH_NEW]};
	pins.held = have2;
	pins.n_held = 6;
	assert_int_equal(prune_listed(&t, "cloudbrain", &pins, 1, now, false, NULL, &res, NULL,
				      &err), CB_OK);
	assert_int_equal(res.pinned, 0);
	assert_int_equal(res.deleted, 1);
	assert_false(exists(local_dir, names[D2]));
	tier_close(&t);
}

static void unknown_holdings_pin_everything_wanted(void **state)
{
	(void)state;
	make_all(local_dir);
	struct remote_holdings pins[2] = {
		/* Down since the agent started: holdings unknown, so whatever
		 * its policy wants is pinned (even names it lists as held). */
		{.name = "off", .keep = &remote_keep, .known = false},
		/* Holds everything and wants little: pins nothing. */
		{.name = "other", .keep = &local_keep, .known = true, .held = NULL, .n_held = 0},
	};
	char *all[N_B];
	for (int i = 0; i < N_B; i++)
		all[i] = names[i];
	pins[1].held = all;
	pins[1].n_held = N_B;

	struct tier t;
	struct error err = {0};
	assert_int_equal(tier_open_local(&t, local_dir, &local_keep, &err), CB_OK);
	struct prune_result res;
	struct remote_holdings held = {0};
	assert_int_equal(prune_listed(&t, "cloudbrain", pins, 2, now, false, NULL, &res, &held,
				      &err), CB_OK);
	/* The remote wants every daily (30 days), the manual one and the new
	 * change backup: all kept; only the old change backup goes. */
	assert_int_equal(res.deleted, 1);
	assert_int_equal(res.kept, 6);
	/* D2 and D3 are kept only for the remote.  (Today pinned counts all 6
	 * the remote lacks, D0, D1, M and the new change backup too, which the
	 * local policy keeps anyway; prune.h says "kept only because".) */
	assert_true(res.pinned >= 2);
	assert_true(exists(local_dir, names[D2]));
	assert_true(exists(local_dir, names[D3]));
	assert_false(exists(local_dir, names[CH_OLD]));
	assert_true(exists(local_dir, names[OTHER_DB]));
	assert_int_equal(held.n_held, 6);
	holdings_free(&held);

	/* Only the well-stocked remote: D2 and D3 go. */
	assert_int_equal(prune_listed(&t, "cloudbrain", pins + 1, 1, now, false, NULL, &res,
				      NULL, &err), CB_OK);
	assert_int_equal(res.pinned, 0);
	assert_int_equal(res.deleted, 2);
	assert_false(exists(local_dir, names[D2]));
	assert_false(exists(local_dir, names[D3]));
	tier_close(&t);
}

/* ---- prune_apply ---- */

static void apply_given_verdicts(void **state)
{
	(void)state;
	make_all(mirror);
	struct tier t;
	struct error err = {0};
	assert_int_equal(tier_open_remote(&t, conf_remote_find(&conf, "off"), &err), CB_OK);
	struct catalog_entry e[3] = {0};
	const int which[3] = {D0, D3, M};
	for (int i = 0; i < 3; i++) {
		snprintf(e[i].name, sizeof(e[i].name), "%s", names[which[i]]);
		assert_true(backup_name_parse(e[i].name, &e[i].parsed));
		e[i].has_data = e[i].has_meta = true;
		e[i].size = sizes[which[i]];
	}
	/* Verdicts the policy would never reach (D0 is the newest daily): they
	 * are carried out as given. */
	struct prune_item items[3] = {
		{.e = &e[0], .d = {.keep = false, .reason = RR_EXPIRED}},
		{.e = &e[1], .d = {.keep = true, .reason = RR_WITHIN}},
		{.e = &e[2], .d = {.keep = true, .reason = RR_PINNED}},
	};
	struct prune_result res;
	struct remote_holdings held = {0};
	struct report rep;
	assert_int_equal(prune_apply(&t, items, 3, true, report_open(&rep), &res, &held, &err),
			 CB_OK);
	const char *text = report_close(&rep);
	assert_int_equal(res.deleted, 1);
	assert_int_equal(res.kept, 2);
	assert_int_equal(res.pinned, 1);
	assert_int_equal(res.freed, sizes[D0]);
	assert_true(exists(mirror, names[D0]));      /* dry run */
	assert_int_equal(lines(text), 3);
	assert_non_null(strstr(text, "delete  "));
	assert_int_equal(held.n_held, 2);
	holdings_free(&held);
	free(rep.text);

	assert_int_equal(prune_apply(&t, items, 3, false, NULL, &res, &held, &err), CB_OK);
	assert_false(exists(mirror, names[D0]));
	assert_false(meta_exists(mirror, names[D0]));
	assert_true(exists(mirror, names[D3]));
	assert_true(exists(mirror, names[M]));
	assert_true(held.known);
	assert_int_equal(held.n_held, 2);
	assert_string_equal(held.held[0], names[D3]);
	assert_string_equal(held.held[1], names[M]);
	holdings_free(&held);

	/* A deletion that fails stops it: counted as not deleted, held
	 * emptied, what follows untouched. */
	items[1].d = (struct retention_decision){.keep = false, .reason = RR_EXPIRED};
	items[2].d = (struct retention_decision){.keep = false, .reason = RR_EXPIRED};
	char *p = path_in(mirror, names[D3]);
	unlink(p);
	assert_int_equal(mkdir(p, 0700), 0);
	char *q = path_in(p, "inside");
	struct error werr = {0};
	assert_int_equal(fs_write_file_atomic(q, "x", 1, 0600, &werr), CB_OK);
	err = (struct error){0};
	assert_int_not_equal(prune_apply(&t, items, 3, false, NULL, &res, &held, &err), CB_OK);
	assert_true(err.msg[0] != '\0');
	assert_int_equal(res.deleted, 1);        /* D0, already gone: nothing to remove */
	assert_int_equal(res.freed, sizes[D0]);
	assert_true(meta_exists(mirror, names[D3]));
	assert_true(exists(mirror, names[M]));
	assert_false(held.known);
	assert_null(held.held);
	assert_int_equal(held.n_held, 0);
	unlink(q);
	rmdir(p);
	free(q);
	free(p);

	/* Nothing to do. */
	assert_int_equal(prune_apply(&t, items, 0, false, NULL, &res, &held, &err), CB_OK);
	assert_int_equal(res.kept + res.deleted, 0);
	assert_true(held.known);
	assert_int_equal(held.n_held, 0);
	holdings_free(&held);
	tier_close(&t);
}

/* ---- fixture ---- */

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/cbsync-prune-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(local_dir, sizeof(local_dir), "%s/local", root);
	snprintf(mirror, sizeof(mirror), "%s/mirror", root);
	struct error err = {0};
	if (fs_mkdirs(local_dir, 0700, &err) || fs_mkdirs(mirror, 0700, &err))
		return -1;
	char e_dir[200], e_off[200];
	snprintf(e_dir, sizeof(e_dir), "CBSYNC_LOCAL_DIR=%s", local_dir);
	snprintf(e_off, sizeof(e_off), "CBSYNC_REMOTE_OFF_PATH=%s", mirror);
	char *env[] = {e_dir, "CBSYNC_REMOTE_OFF_TYPE=local", e_off, NULL};
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
	remote_keep.keep[BT_DAILY] = (struct keep_rule){KEEP_SECONDS, 30 * DAY};
	remote_keep.keep[BT_CHANGE] = (struct keep_rule){KEEP_SECONDS, 6 * HOUR};
	assert_true(time_from_utc_fields(2027, 2, 1, 0, 0, 0, &now));
	name_of(names[D0], "cloudbrain", BT_DAILY, now - 1 * DAY);
	name_of(names[D1], "cloudbrain", BT_DAILY, now - 3 * DAY);
	name_of(names[D2], "cloudbrain", BT_DAILY, now - 10 * DAY);
	name_of(names[D3], "cloudbrain", BT_DAILY, now - 20 * DAY);
	name_of(names[M], "cloudbrain", BT_MANUAL, now - 100 * DAY);
	name_of(names[CH_NEW], "cloudbrain", BT_CHANGE, now - 1 * HOUR);
	name_of(names[CH_OLD], "cloudbrain", BT_CHANGE, now - 5 * DAY);
	name_of(names[OTHER_DB], "cloud", BT_DAILY, now - 30 * DAY);
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
		fprintf(stderr, "test_prune: %s\n", err.msg);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		T(dry_run_reports_and_deletes_nothing),
		T(expired_backups_are_deleted),
		T(a_remote_tier_prunes_the_same_way),
		T(what_a_remote_lacks_is_pinned),
		T(unknown_holdings_pin_everything_wanted),
		T(apply_given_verdicts),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	backend_global_cleanup();
	return failed;
}
