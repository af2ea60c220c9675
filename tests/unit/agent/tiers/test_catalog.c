/*
 * Catalogs (agent/tiers/catalog.c) built from synthetic listings: data and
 * metadata objects merged into one entry per backup, lone metadata, temp
 * objects of unfinished uploads, keys in subdirectories, other tools' files
 * and names that do not parse (counted, never backups), unsafe names, the
 * newest-first order with its tie-break, catalog_keep_db and catalog_find;
 * increments listed apart from the backups, in chain order, one chain per
 * snapshot (catalog_chain), never counted as foreign.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/tiers/catalog.h"
#include "common/timeutil.h"

#include <stdlib.h>
#include <string.h>

#define A "cloudbrain_daily_20270103_020000.db.gz"
#define B_CHANGE "cloudbrain_change_20270102_000000.db.gz"
#define B_DAILY "cloudbrain_daily_20270102_000000.db.gz"
#define C "cloudbrain_manual_20270101_120000.db.gz"
#define OTHER "cloud_daily_20270104_020000.db.gz"       /* another database */
#define PREFIXED "cloudbrain2_daily_20270105_020000.db.gz" /* shares a prefix */

/* Build a listing from n (key, size, mtime) triples; keys are borrowed. */
static void listing_of(struct backend_listing *l, struct backend_object *objs, size_t n)
{
	memset(l, 0, sizeof(*l));
	l->items = objs;
	l->n = n;
}

static void build(struct backend_object *objs, size_t n, struct catalog *cat)
{
	struct backend_listing l;
	struct error err = {0};
	listing_of(&l, objs, n);
	assert_int_equal(catalog_build(&l, cat, &err), CB_OK);
}

static int64_t at(int y, int mo, int d, int h, int mi, int s)
{
	int64_t t;
	assert_true(time_from_utc_fields(y, mo, d, h, mi, s, &t));
	return t;
}

static void pairs_are_merged_and_lone_metadata_kept(void **state)
{
	(void)state;
	struct backend_object objs[] = {
		{(char *)A META_SUFFIX, 300, 1000},   /* metadata listed before its data */
		{(char *)A, 4096, 2000},
		{(char *)C, 512, 3000},               /* data before its metadata */
		{(char *)C META_SUFFIX, 310, 3001},
		{(char *)B_DAILY META_SUFFIX, 320, 4000}, /* lone metadata */
		{(char *)B_CHANGE, 77, 5000},         /* data without metadata */
	};
	struct catalog cat;
	build(objs, 6, &cat);
	assert_int_equal(cat.n, 4);
	assert_int_equal(cat.foreign, 0);
	assert_int_equal(cat.temp, 0);
	assert_int_equal(cat.unsafe, 0);

	struct catalog_entry *a = catalog_find(&cat, A);
	assert_non_null(a);
	assert_true(a->has_data);
	assert_true(a->has_meta);
	assert_int_equal(a->size, 4096);        /* the data's size, not the metadata's */
	assert_int_equal(a->mtime, 2000);
	assert_null(a->meta);
	assert_null(a->meta_error);
	assert_string_equal(a->parsed.db, "cloudbrain");
	assert_int_equal(a->parsed.type, BT_DAILY);
	assert_int_equal(a->parsed.created, at(2027, 1, 3, 2, 0, 0));

	struct catalog_entry *c = catalog_find(&cat, C);
	assert_non_null(c);
	assert_true(c->has_data && c->has_meta);
	assert_int_equal(c->size, 512);
	assert_int_equal(c->mtime, 3000);
	assert_int_equal(c->parsed.type, BT_MANUAL);

	struct catalog_entry *lone = catalog_find(&cat, B_DAILY);
	assert_non_null(lone);
	assert_false(lone->has_data);
	assert_true(lone->has_meta);
	assert_int_equal(lone->size, 0);

	struct catalog_entry *bare = catalog_find(&cat, B_CHANGE);
	assert_non_null(bare);
	assert_true(bare->has_data);
	assert_false(bare->has_meta);
	assert_int_equal(bare->size, 77);

	/* catalog_find takes backup names, never metadata keys. */
	assert_null(catalog_find(&cat, A META_SUFFIX));
	assert_null(catalog_find(&cat, "cloudbrain_daily_20270109_020000.db.gz"));
	catalog_free(&cat);
	assert_int_equal(cat.n, 0);
	assert_null(cat.items);
}

/* An .age object is its backup's (or increment's) data, encrypted; where
 * both it and the plain object are there, the plain one is the data and
 * the entry says there are two. */
static void encrypted_objects_and_twins(void **state)
{
	(void)state;
#define INCR "increments/cloudbrain_daily_20270103_020000/" \
	     "0000000001-0000000001_20270103_020001_20270103_020002.wal.gz"
	struct backend_object objs[] = {
		{(char *)A ".age", 5000, 1000},
		{(char *)A META_SUFFIX, 300, 1001},
		{(char *)C, 512, 3000},
		{(char *)C ".age", 700, 3001},
		{(char *)INCR ".age", 900, 4000},
		{(char *)INCR META_SUFFIX, 200, 4001},
	};
	struct catalog cat;
	build(objs, 6, &cat);
	assert_int_equal(cat.n, 2);
	assert_int_equal(cat.foreign, 0);
	char key[BACKUP_NAME_MAX + 8];
	struct catalog_entry *a = catalog_find(&cat, A);
	assert_non_null(a);
	assert_true(a->has_data && a->has_meta && a->encrypted && !a->twin);
	assert_int_equal(a->size, 5000);
	assert_string_equal(catalog_data_key(a, key, sizeof(key)), A ".age");
	struct catalog_entry *c = catalog_find(&cat, C);
	assert_non_null(c);
	assert_true(c->has_data && !c->encrypted && c->twin);
	assert_int_equal(c->size, 512);
	assert_string_equal(catalog_data_key(c, key, sizeof(key)), C);
	assert_int_equal(cat.n_incrs, 1);
	assert_true(cat.incrs[0].has_data && cat.incrs[0].has_meta && cat.incrs[0].encrypted);
	char ikey[INCR_NAME_MAX + 8];
	assert_string_equal(catalog_incr_data_key(&cat.incrs[0], ikey, sizeof(ikey)),
			    INCR ".age");
	catalog_free(&cat);
#undef INCR
}

static void what_is_not_a_backup_is_counted_not_listed(void **state)
{
	(void)state;
	struct backend_object objs[] = {
		{(char *)".cbsync-tmp-" A ".Xy12ab", 10, 0},        /* temp of an upload */
		{(char *)".cbsync-tmp-" A META_SUFFIX ".Ab34cd", 10, 0},
		{(char *)"sub/.cbsync-tmp-" C ".Zz99zz", 10, 0},    /* temp in a subdirectory */
		{(char *)"sub/" A, 4096, 0},                        /* backup-like, but nested */
		{(char *)"sub/" A META_SUFFIX, 300, 0},
		{(char *)"README.txt", 5, 0},                       /* another tool's files */
		{(char *)"notes.json", 5, 0},
		{(char *)".json", 5, 0},
		{(char *)"cloudbrain_hourly_20270101_020000.db.gz", 5, 0}, /* no such type */
		{(char *)"cloudbrain_daily_20271301_020000.db.gz", 5, 0},  /* month 13 */
		{(char *)"cloudbrain_daily_2027.db.gz", 5, 0},             /* short stamp */
		{(char *)"_daily_20270101_020000.db.gz", 5, 0},            /* empty db part */
		{(char *)"cloudbrain_daily_20270101_020000.db", 5, 0},     /* no .gz */
		{(char *)"cloudbrain_daily_20270101_020000.db.gz.json.json", 5, 0},
		{(char *)C, 512, 0},                                /* the one backup */
	};
	struct catalog cat;
	build(objs, sizeof(objs) / sizeof(objs[0]), &cat);
	assert_int_equal(cat.n, 1);
	assert_string_equal(cat.items[0].name, C);
	assert_int_equal(cat.temp, 3);
	assert_int_equal(cat.foreign, 11);
	assert_int_equal(cat.unsafe, 0);
	catalog_free(&cat);
}

static void overlong_and_unsafe_names(void **state)
{
	(void)state;
	char longname[BACKUP_NAME_MAX + 40];
	memset(longname, 'x', BACKUP_NAME_MAX);
	snprintf(longname + BACKUP_NAME_MAX, sizeof(longname) - BACKUP_NAME_MAX,
		 "_daily_20270101_020000.db.gz");
	struct backend_object objs[] = {
		{longname, 5, 0},
		{(char *)"my db_daily_20270101_020000.db.gz", 5, 0},       /* a space */
		{(char *)"my\tdb_daily_20270101_020000.db.gz.json", 5, 0}, /* a tab */
		{(char *)A, 1, 0},
	};
	struct backend_listing l;
	listing_of(&l, objs, 4);
	l.unsafe = 0;
	struct catalog cat;
	struct error err = {0};
	assert_int_equal(catalog_build(&l, &cat, &err), CB_OK);
	assert_int_equal(cat.n, 1);
	assert_string_equal(cat.items[0].name, A);
	assert_int_equal(cat.unsafe, 2);
	assert_int_equal(cat.foreign, 3);
	assert_non_null(strstr(cat.unsafe_example, "my db_daily"));
	catalog_free(&cat);

	/* What backend_list already left out is carried over, example and all. */
	listing_of(&l, objs + 3, 1);
	l.unsafe = 4;
	snprintf(l.unsafe_example, sizeof(l.unsafe_example), "odd\\x1b name");
	assert_int_equal(catalog_build(&l, &cat, &err), CB_OK);
	assert_int_equal(cat.unsafe, 4);
	assert_string_equal(cat.unsafe_example, "odd\\x1b name");
	assert_int_equal(cat.n, 1);
	catalog_free(&cat);
}

static void newest_first_with_ties(void **state)
{
	(void)state;
	struct backend_object objs[] = {
		{(char *)C, 1, 0},
		{(char *)B_CHANGE, 2, 0},
		{(char *)A, 3, 0},
		{(char *)B_DAILY, 4, 0},
		{(char *)OTHER, 5, 0},
		{(char *)"cloudbrain_weekly_20270102_000000.db.gz", 6, 0},
	};
	struct catalog cat;
	build(objs, 6, &cat);
	assert_int_equal(cat.n, 6);
	assert_string_equal(cat.items[0].name, OTHER);
	assert_string_equal(cat.items[1].name, A);
	/* Same second: by name, descending. */
	assert_string_equal(cat.items[2].name, "cloudbrain_weekly_20270102_000000.db.gz");
	assert_string_equal(cat.items[3].name, B_DAILY);
	assert_string_equal(cat.items[4].name, B_CHANGE);
	assert_string_equal(cat.items[5].name, C);
	for (size_t i = 1; i < cat.n; i++)
		assert_true(cat.items[i - 1].parsed.created >= cat.items[i].parsed.created);
	catalog_free(&cat);

	/* The same objects in another order give the same catalog. */
	struct backend_object rev[6];
	for (size_t i = 0; i < 6; i++)
		rev[i] = objs[5 - i];
	build(rev, 6, &cat);
	assert_string_equal(cat.items[2].name, "cloudbrain_weekly_20270102_000000.db.gz");
	assert_string_equal(cat.items[3].name, B_DAILY);
	assert_string_equal(cat.items[4].name, B_CHANGE);
	catalog_free(&cat);
}

static void keep_db_counts_other_databases(void **state)
{
	(void)state;
	struct backend_object objs[] = {
		{(char *)A, 1, 0},
		{(char *)OTHER, 2, 0},
		{(char *)OTHER META_SUFFIX, 2, 0},
		{(char *)PREFIXED, 3, 0},
		{(char *)C, 4, 0},
		{(char *)"cloudbrain_x_daily_20270101_000000.db.gz", 5, 0},
	};
	struct catalog cat;
	build(objs, 6, &cat);
	assert_int_equal(cat.n, 5);
	/* What another database's entries own is freed with them. */
	struct catalog_entry *o = catalog_find(&cat, OTHER);
	assert_non_null(o);
	o->meta = calloc(1, sizeof(*o->meta));
	o->meta_error = strdup("unusable");
	struct catalog_entry *a = catalog_find(&cat, A);
	a->meta_error = strdup("kept with its entry");

	catalog_keep_db(&cat, "cloudbrain");
	assert_int_equal(cat.n, 2);
	assert_int_equal(cat.other_db, 3);
	assert_string_equal(cat.items[0].name, A);  /* order kept */
	assert_string_equal(cat.items[1].name, C);
	assert_string_equal(cat.items[0].meta_error, "kept with its entry");
	assert_null(catalog_find(&cat, OTHER));
	assert_null(catalog_find(&cat, PREFIXED));

	/* Again: nothing more goes, the count stays. */
	catalog_keep_db(&cat, "cloudbrain");
	assert_int_equal(cat.n, 2);
	assert_int_equal(cat.other_db, 3);
	/* A database with nothing here empties it. */
	catalog_keep_db(&cat, "nothing");
	assert_int_equal(cat.n, 0);
	assert_int_equal(cat.other_db, 5);
	catalog_free(&cat);
}

static void empty_listing(void **state)
{
	(void)state;
	struct catalog cat;
	build(NULL, 0, &cat);
	assert_int_equal(cat.n, 0);
	assert_int_equal(cat.foreign + cat.temp + cat.other_db + cat.unsafe, 0);
	assert_null(catalog_find(&cat, A));
	catalog_keep_db(&cat, "cloudbrain");
	assert_int_equal(cat.n, 0);
	catalog_free(&cat);
}

/* Increment keys of the chain rooted in A and of two others. */
#define INC_DIR_A "increments/cloudbrain_daily_20270103_020000/"
#define I1 INC_DIR_A "0000000001-0000000001_20270103_020001_20270103_020002.wal.gz"
#define I2 INC_DIR_A "0000000002-0000000002_20270103_020003_20270103_020003.wal.gz"
#define I3 INC_DIR_A "0000000003-0000000003_20270103_020004_20270103_020009.wal.gz"
#define I13 INC_DIR_A "0000000001-0000000003_20270103_020001_20270103_020009.wal.gz"
#define IC "increments/cloudbrain_manual_20270101_120000/" \
	"0000000001-0000000001_20270101_120001_20270101_120001.wal.gz"
#define IOTHER "increments/cloud_daily_20270104_020000/" \
	"0000000001-0000000001_20270104_020001_20270104_020001.wal.gz"

static void increments_are_listed_apart(void **state)
{
	(void)state;
	struct backend_object objs[] = {
		{(char *)I3 META_SUFFIX, 400, 1},    /* metadata listed before its data */
		{(char *)I3, 3000, 2},
		{(char *)I1, 1000, 3},
		{(char *)I1 META_SUFFIX, 401, 4},
		{(char *)I13, 3500, 5},              /* merged, beside the originals */
		{(char *)I13 META_SUFFIX, 402, 6},
		{(char *)I2, 2000, 7},               /* data without metadata */
		{(char *)IC META_SUFFIX, 403, 8},    /* metadata without data */
		{(char *)IOTHER, 10, 9},
		{(char *)A, 4096, 10},
		{(char *)A META_SUFFIX, 300, 11},
		{(char *)INC_DIR_A ".cbsync-tmp-x.wal.gz.Ab12cd", 5, 0},  /* temp of a capture */
		{(char *)INC_DIR_A "notes.txt", 5, 0},                     /* not cbsync's */
		{(char *)INC_DIR_A "0000000001-0000000001_20270103_020001.wal.gz", 5, 0},
		{(char *)"increments/" A "/" "0000000001-0000000001_20270103_020001_"
		 "20270103_020002.wal.gz", 5, 0},  /* the folder is not a snapshot stem */
		{(char *)I1 ".json.json", 5, 0},
	};
	struct catalog cat;
	build(objs, sizeof(objs) / sizeof(objs[0]), &cat);
	/* The backups are as without increments. */
	assert_int_equal(cat.n, 1);
	assert_string_equal(cat.items[0].name, A);
	assert_true(cat.items[0].has_data && cat.items[0].has_meta);
	assert_int_equal(cat.temp, 1);
	assert_int_equal(cat.foreign, 4);
	assert_int_equal(cat.unsafe, 0);

	/* Chain order: snapshot (C's chain, then A's... by name), seq first,
	 * seq last; the merged one after the first original it covers. */
	assert_int_equal(cat.n_incrs, 6);
	const char *order[] = {IOTHER, I1, I13, I2, I3, IC};
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(cat.incrs[i].key, order[i]);
	const struct catalog_incr *i1 = &cat.incrs[1], *i13 = &cat.incrs[2];
	const struct catalog_incr *i2 = &cat.incrs[3], *i3 = &cat.incrs[4], *ic = &cat.incrs[5];
	assert_true(i1->has_data && i1->has_meta);
	assert_int_equal(i1->size, 1000);
	assert_int_equal(i1->mtime, 3);
	assert_int_equal(i1->parsed.seq_first, 1);
	assert_string_equal(i1->parsed.snapshot, A);
	assert_int_equal(i1->parsed.first, at(2027, 1, 3, 2, 0, 1));
	assert_int_equal(i1->parsed.last, at(2027, 1, 3, 2, 0, 2));
	assert_null(i1->meta);
	assert_null(i1->meta_error);
	assert_int_equal(i13->parsed.seq_first, 1);
	assert_int_equal(i13->parsed.seq_last, 3);
	assert_int_equal(i13->size, 3500);
	assert_true(i2->has_data && !i2->has_meta);
	assert_true(i3->has_data && i3->has_meta);
	assert_int_equal(i3->size, 3000);       /* the data's size, not the metadata's */
	assert_true(!ic->has_data && ic->has_meta);
	assert_int_equal(ic->size, 0);

	/* One chain per snapshot. */
	size_t n = 99;
	struct catalog_incr *chain = catalog_chain(&cat, A, &n);
	assert_int_equal(n, 4);
	assert_ptr_equal(chain, i1);
	chain = catalog_chain(&cat, C, &n);
	assert_int_equal(n, 1);
	assert_ptr_equal(chain, ic);
	assert_null(catalog_chain(&cat, B_DAILY, &n));
	assert_int_equal(n, 0);

	/* Another database's chain goes with its backups. */
	cat.incrs[1].meta = calloc(1, sizeof(*cat.incrs[1].meta));
	cat.incrs[0].meta_error = strdup("freed with its entry");
	catalog_keep_db(&cat, "cloudbrain");
	assert_int_equal(cat.n_incrs, 5);
	assert_string_equal(cat.incrs[0].key, I1);
	assert_non_null(cat.incrs[0].meta);
	assert_null(catalog_chain(&cat, OTHER, &n));
	catalog_keep_db(&cat, "cloud");
	assert_int_equal(cat.n_incrs, 0);
	assert_null(catalog_chain(&cat, A, &n));
	catalog_free(&cat);
	assert_null(cat.incrs);
	assert_int_equal(cat.n_incrs, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pairs_are_merged_and_lone_metadata_kept),
		cmocka_unit_test(encrypted_objects_and_twins),
		cmocka_unit_test(what_is_not_a_backup_is_counted_not_listed),
		cmocka_unit_test(overlong_and_unsafe_names),
		cmocka_unit_test(newest_first_with_ties),
		cmocka_unit_test(keep_db_counts_other_databases),
		cmocka_unit_test(empty_listing),
		cmocka_unit_test(increments_are_listed_apart),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
