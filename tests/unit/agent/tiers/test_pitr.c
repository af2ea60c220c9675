/*
 * Planning point-in-time restores (agent/tiers/pitr.c) over synthetic
 * snapshots and increments: a plain chain at every time around its states,
 * the snapshot alone, nothing early enough (the error names the oldest and
 * newest states), a chain cut by missing metadata, a missing object, a gap
 * or a wrong predecessor, overlapping increments after an interrupted
 * compaction (the finer path, and the merged one when an original is
 * gone), several chains, copies on several tiers, a clock that stepped
 * back, other chains' increments, and where verify says a chain ends.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/tiers/pitr.h"
#include "common/increment.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S1 "cloudbrain_daily_20261129_020000.db.gz"
#define S2 "cloudbrain_change_20261129_030000.db.gz"
#define T1 INT64_C(1795917600000)   /* 2026-11-29T02:00:00Z, S1's time */
#define T2 INT64_C(1795921200000)   /* 03:00, S2's */

#define MAX_INCRS 64

/* A scenario: snapshots and increments, the metadata owned here. */
struct world {
	struct pitr_snap snaps[8];
	size_t n_snaps;
	struct pitr_incr incrs[MAX_INCRS];
	struct incr_meta metas[MAX_INCRS];
	size_t n_incrs;
};

static void add_snap(struct world *w, const char *name, int64_t state_ms, uint64_t size,
		     size_t ref)
{
	w->snaps[w->n_snaps++] = (struct pitr_snap){.name = name, .state_ms = state_ms,
						    .size = size, .ref = ref};
}

/* The name of increment a..b of snap's chain, its times first_ms and
 * last_ms. */
static void incr_key(char *buf, const char *snap, uint64_t a, uint64_t b, int64_t first_ms,
		     int64_t last_ms)
{
	struct incr_name n = {.seq_first = a, .seq_last = b, .first = first_ms / 1000,
			      .last = last_ms / 1000};
	snprintf(n.snapshot, sizeof(n.snapshot), "%s", snap);
	assert_true(incr_name_format(&n, buf, INCR_NAME_MAX));
}

/* Add increment a..b of snap's chain following prev ("" for the first),
 * covering first_ms..last_ms; returns its index. */
static size_t add_incr(struct world *w, const char *snap, uint64_t a, uint64_t b,
		       const char *prev, int64_t first_ms, int64_t last_ms, uint64_t size,
		       size_t ref)
{
	assert_true(w->n_incrs < MAX_INCRS);
	size_t i = w->n_incrs++;
	struct incr_meta *m = &w->metas[i];
	memset(m, 0, sizeof(*m));
	incr_key(m->name, snap, a, b, first_ms, last_ms);
	snprintf(m->snapshot, sizeof(m->snapshot), "%s", snap);
	snprintf(m->database, sizeof(m->database), "cloudbrain");
	snprintf(m->prev, sizeof(m->prev), "%s", prev);
	m->seq_first = a;
	m->seq_last = b;
	m->first_tx_ms = first_ms;
	m->last_tx_ms = last_ms;
	m->page_size = 4096;
	m->page_count = 10;
	m->pages = 1;
	m->compressed_size = (int64_t)size;
	w->incrs[i] = (struct pitr_incr){.key = m->name, .meta = m, .has_data = true,
					 .size = size, .ref = ref};
	return i;
}

/* The last transaction of increment k (1..) of a plain chain. */
static int64_t plain_last(int64_t snap_ms, size_t k)
{
	return snap_ms + (int64_t)k * 10000 + 250;
}

/* The time of the state after it: the next millisecond, as its time is
 * rounded down. */
static int64_t plain_at(int64_t snap_ms, size_t k)
{
	return plain_last(snap_ms, k) + 1;
}

/* A plain chain of n increments of snap after snap_ms, one every 10 s,
 * each covering its last second; sizes 100, 200, ... */
static void plain_chain(struct world *w, const char *snap, int64_t snap_ms, size_t n)
{
	const char *prev = "";
	for (size_t k = 1; k <= n; k++) {
		int64_t last = plain_last(snap_ms, k);
		size_t i = add_incr(w, snap, k, k, prev, last - 900, last, 100 * k, 0);
		prev = w->metas[i].name;
	}
}

static enum result plan(const struct world *w, int64_t at, struct pitr_plan *p,
			struct error *err)
{
	return pitr_plan(w->snaps, w->n_snaps, w->incrs, w->n_incrs, at, p, err);
}

/* The plan for at: snapshot snap, then exactly the increments listed
 * (indexes, -1 ended), reaching reach. */
static void expect(const struct world *w, int64_t at, size_t snap, const int *steps,
		   int64_t reach)
{
	struct pitr_plan p;
	struct error err = {0};
	if (plan(w, at, &p, &err) != CB_OK)
		fail_msg("no plan for %lld: %s", (long long)at, err.msg);
	assert_int_equal(p.snap, snap);
	size_t n = 0;
	while (steps && steps[n] >= 0)
		n++;
	if (p.n_steps != n)
		fail_msg("at %lld: %zu steps, expected %zu", (long long)at, p.n_steps, n);
	uint64_t bytes = w->snaps[snap].size;
	for (size_t k = 0; k < n; k++) {
		assert_int_equal(p.steps[k], (size_t)steps[k]);
		bytes += w->incrs[p.steps[k]].size;
	}
	assert_int_equal(p.reach_ms, reach);
	assert_int_equal(p.bytes, bytes);
	pitr_plan_free(&p);
}

static void snapshot_alone(void **state)
{
	(void)state;
	struct world w = {0};
	add_snap(&w, S1, T1 + 300, 5000, 0);
	expect(&w, T1 + 300, 0, NULL, T1 + 300);
	expect(&w, PITR_LATEST, 0, NULL, T1 + 300);
	expect(&w, T1 + 86400000, 0, NULL, T1 + 300);
	struct pitr_plan p;
	struct error err = {0};
	assert_int_equal(plan(&w, T1 + 299, &p, &err), CB_ERR_NOT_FOUND);
	assert_string_equal(err.msg, "Backup not found: no state at or before "
			    "2026-11-29T02:00:00.299Z can be restored; the oldest restorable "
			    "state is at 2026-11-29T02:00:00.300Z, the newest at "
			    "2026-11-29T02:00:00.300Z");
	assert_null(p.steps);
	/* No snapshot at all. */
	assert_int_equal(pitr_plan(NULL, 0, NULL, 0, PITR_LATEST, &p, &err), CB_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "no snapshot"));
	int64_t o, n;
	assert_false(pitr_span(NULL, 0, NULL, 0, &o, &n));
}

static void plain_chain_at_every_time(void **state)
{
	(void)state;
	struct world w = {0};
	add_snap(&w, S1, T1, 5000, 0);
	plain_chain(&w, S1, T1, 5);
	const int all[] = {0, 1, 2, 3, 4, -1};
	expect(&w, PITR_LATEST, 0, all, plain_at(T1, 5));
	expect(&w, T1, 0, NULL, T1);
	expect(&w, plain_at(T1, 1) - 1, 0, NULL, T1);
	for (size_t k = 1; k <= 5; k++) {
		int upto[6];
		for (size_t i = 0; i < k; i++)
			upto[i] = (int)i;
		upto[k] = -1;
		expect(&w, plain_at(T1, k), 0, upto, plain_at(T1, k));        /* exactly */
		expect(&w, plain_at(T1, k) + 9999, 0, upto, plain_at(T1, k)); /* just before the next */
	}
	int64_t o = 0, n = 0;
	assert_true(pitr_span(w.snaps, 1, w.incrs, w.n_incrs, &o, &n));
	assert_int_equal(o, T1);
	assert_int_equal(n, plain_at(T1, 5));

	/* Random times: never a state after the time, never an older one than
	 * the newest at or before it. */
	srand(12);
	for (int i = 0; i < 500; i++) {
		int64_t at = T1 + rand() % 70000;
		struct pitr_plan p;
		struct error err = {0};
		assert_int_equal(plan(&w, at, &p, &err), CB_OK);
		assert_true(p.reach_ms <= at);
		for (size_t k = 1; k <= 5; k++)
			assert_false(plain_at(T1, k) > p.reach_ms && plain_at(T1, k) <= at);
		pitr_plan_free(&p);
	}
}

/* Increment index 2 (the third) made unusable by how; the states before it
 * stay restorable and nothing after it is. */
static void cut_at_third(void (*how)(struct world *w))
{
	struct world w = {0};
	add_snap(&w, S1, T1, 5000, 0);
	plain_chain(&w, S1, T1, 5);
	how(&w);
	const int two[] = {0, 1, -1};
	expect(&w, PITR_LATEST, 0, two, plain_at(T1, 2));
	expect(&w, plain_at(T1, 4), 0, two, plain_at(T1, 2));
	expect(&w, plain_at(T1, 2), 0, two, plain_at(T1, 2));
	const int one[] = {0, -1};
	expect(&w, plain_at(T1, 2) - 1, 0, one, plain_at(T1, 1));
}

static void no_metadata(struct world *w)
{
	w->incrs[2].meta = NULL;
	w->incrs[2].problem = "its metadata is not valid JSON";
}

static void no_object(struct world *w)
{
	w->incrs[2].has_data = false;
}

static void gap(struct world *w)
{
	w->incrs[2] = w->incrs[3];
	w->incrs[3] = w->incrs[4];
	w->n_incrs--;
}

static void wrong_prev(struct world *w)
{
	snprintf(w->metas[2].prev, sizeof(w->metas[2].prev), "%s", w->metas[0].name);
}

static void other_name(struct world *w)
{
	/* metadata that describes another increment than its key */
	w->incrs[2].key = w->metas[3].name;
}

static void chain_cut(void **state)
{
	(void)state;
	cut_at_third(no_metadata);
	cut_at_third(no_object);
	cut_at_third(gap);
	cut_at_third(wrong_prev);
	cut_at_third(other_name);
}

static void overlap_after_interrupted_compaction(void **state)
{
	(void)state;
	struct world w = {0};
	add_snap(&w, S1, T1, 5000, 0);
	plain_chain(&w, S1, T1, 5);
	/* 2..4 merged, written beside the originals; it follows the first. */
	size_t m = add_incr(&w, S1, 2, 4, w.metas[0].name, plain_last(T1, 2) - 900,
			    plain_last(T1, 4), 250, 0);
	/* The fifth's prev is the original fourth: the merged one is no way
	 * to it.  The fourth's state is reached cheaper through the merged
	 * one (100 + 250 bytes against 100 + 200 + 300 + 400). */
	const int all[] = {0, 1, 2, 3, 4, -1};
	expect(&w, PITR_LATEST, 0, all, plain_at(T1, 5));
	const int upto4[] = {0, (int)m, -1};
	expect(&w, plain_at(T1, 4), 0, upto4, plain_at(T1, 4));
	const int upto2[] = {0, 1, -1};
	expect(&w, plain_at(T1, 3) - 1, 0, upto2, plain_at(T1, 2));

	/* The original third is gone: the merged one still reaches 4, and the
	 * fifth (whose prev is the original fourth) is out of reach. */
	w.incrs[2].has_data = false;
	const int merged[] = {0, (int)m, -1};
	expect(&w, PITR_LATEST, 0, merged, plain_at(T1, 4));
	expect(&w, plain_at(T1, 2), 0, upto2, plain_at(T1, 2));
	expect(&w, plain_at(T1, 3), 0, upto2, plain_at(T1, 2));

	/* Compaction finished: only the merged one, then a fifth that follows
	 * it. */
	struct world c = {0};
	add_snap(&c, S1, T1, 5000, 0);
	size_t a = add_incr(&c, S1, 1, 1, "", plain_last(T1, 1) - 900, plain_last(T1, 1), 100, 0);
	size_t b = add_incr(&c, S1, 2, 4, c.metas[a].name, plain_last(T1, 2) - 900,
			    plain_last(T1, 4), 250, 0);
	size_t e = add_incr(&c, S1, 5, 5, c.metas[b].name, plain_last(T1, 5) - 900,
			    plain_last(T1, 5), 500, 0);
	const int compacted[] = {(int)a, (int)b, (int)e, -1};
	expect(&c, PITR_LATEST, 0, compacted, plain_at(T1, 5));
	const int first[] = {(int)a, -1};
	expect(&c, plain_at(T1, 3), 0, first, plain_at(T1, 1));
}

/* Add a roll-up of a..b of snap's chain: prev the increment before a, its
 * state (checksum) that of the increment it ends with, index ends. */
static size_t add_rollup(struct world *w, const char *snap, size_t first, size_t ends,
			 uint64_t size)
{
	const struct incr_meta *f = &w->metas[first], *e = &w->metas[ends];
	size_t i = add_incr(w, snap, f->seq_first, e->seq_last, f->prev, f->first_tx_ms,
			    e->last_tx_ms, size, 0);
	struct incr_meta *m = &w->metas[i];
	struct incr_name n;
	assert_true(incr_name_parse(m->name, &n));
	n.rollup = true;
	assert_true(incr_name_format(&n, m->name, sizeof(m->name)));
	m->state_checksum = e->state_checksum;
	m->page_count = e->page_count;
	return i;
}

static void rollups_skip_ahead(void **state)
{
	(void)state;
	struct world w = {0};
	add_snap(&w, S1, T1, 5000, 0);
	plain_chain(&w, S1, T1, 8);
	for (size_t k = 0; k < 8; k++)
		w.metas[k].state_checksum = 0x1000 + k;
	/* 2..4 and 5..7 rolled up, and 2..7 on top of them */
	size_t r24 = add_rollup(&w, S1, 1, 3, 50);
	size_t r57 = add_rollup(&w, S1, 4, 6, 60);
	size_t r27 = add_rollup(&w, S1, 1, 6, 70);
	(void)r57;
	/* the newest: 1, the widest roll-up, then 8 -- whose prev names 7 */
	const int latest[] = {0, (int)r27, 7, -1};
	expect(&w, PITR_LATEST, 0, latest, plain_at(T1, 8));
	/* every state in between is still a state of its own */
	const int upto4[] = {0, (int)r24, -1};
	expect(&w, plain_at(T1, 4), 0, upto4, plain_at(T1, 4));
	const int upto5[] = {0, (int)r24, 4, -1};
	expect(&w, plain_at(T1, 5), 0, upto5, plain_at(T1, 5));
	expect(&w, plain_at(T1, 5) + 500, 0, upto5, plain_at(T1, 5));
	const int upto3[] = {0, 1, 2, -1};
	expect(&w, plain_at(T1, 3), 0, upto3, plain_at(T1, 3));

	/* A roll-up whose state is not its last increment's is no way on. */
	w.metas[r27].state_checksum ^= 1;
	const int via57[] = {0, (int)r24, (int)r57, 7, -1};
	expect(&w, PITR_LATEST, 0, via57, plain_at(T1, 8));
	/* nor one whose object is gone */
	w.incrs[r57].has_data = false;
	const int fine_tail[] = {0, (int)r24, 4, 5, 6, 7, -1};
	expect(&w, PITR_LATEST, 0, fine_tail, plain_at(T1, 8));
	/* The original fourth gone: the fifth, whose prev it is, cannot be
	 * reached, and the roll-up of 2..4 is no state (no increment vouches
	 * for it); the seventh's state still is, through the roll-up of 2..7. */
	w.metas[r27].state_checksum ^= 1;
	w.incrs[3].has_data = false;
	expect(&w, PITR_LATEST, 0, latest, plain_at(T1, 8));
	expect(&w, plain_at(T1, 6), 0, upto3, plain_at(T1, 3));
	/* nor is a roll-up whose state no increment has */
	w.incrs[3].has_data = true;
	w.metas[r24].state_checksum ^= 1;
	expect(&w, plain_at(T1, 4), 0, (const int[]){0, 1, 2, 3, -1}, plain_at(T1, 4));
	w.metas[r24].state_checksum ^= 1;

	/* Verify's path checks every increment and no roll-up. */
	struct pitr_chain c;
	struct error err = {0};
	w.incrs[3].has_data = true;
	assert_int_equal(pitr_chain_of(w.snaps, 0, w.incrs, w.n_incrs, &c, &err), CB_OK);
	assert_int_equal(c.path.n_steps, 8);
	assert_int_equal(c.lost, 0);
	pitr_chain_free(&c);
}

static void several_chains(void **state)
{
	(void)state;
	struct world w = {0};
	add_snap(&w, S2, T2 + 300, 7000, 0);    /* newest first, as the caller lists */
	add_snap(&w, S1, T1, 5000, 0);
	plain_chain(&w, S1, T1, 3);
	size_t s2a = add_incr(&w, S2, 1, 1, "", T2 + 5000, T2 + 6000, 70, 0);
	const int s1all[] = {0, 1, 2, -1};
	const int s2first[] = {(int)s2a, -1};
	expect(&w, T2, 1, s1all, plain_at(T1, 3));           /* S2 is not yet */
	expect(&w, T2 + 299, 1, s1all, plain_at(T1, 3));
	expect(&w, T2 + 300, 0, NULL, T2 + 300);
	expect(&w, PITR_LATEST, 0, s2first, T2 + 6001);
	expect(&w, T1 + 5, 1, NULL, T1);
	struct pitr_plan p;
	struct error err = {0};
	assert_int_equal(plan(&w, T1 - 1, &p, &err), CB_ERR_NOT_FOUND);
	assert_non_null(strstr(err.msg, "the oldest restorable state is at "
			       "2026-11-29T02:00:00.000Z, the newest at 2026-11-29T03:00:06.001Z"));

	/* S1's chain reaching exactly S2's state: the newer snapshot wins. */
	struct world t = {0};
	add_snap(&t, S1, T1, 5000, 0);
	add_snap(&t, S2, T2 + 300, 7000, 0);
	add_incr(&t, S1, 1, 1, "", T2, T2 + 299, 10, 0);
	expect(&t, PITR_LATEST, 1, NULL, T2 + 300);
}

static void copies_on_several_tiers(void **state)
{
	(void)state;
	struct world w = {0};
	add_snap(&w, S1, T1, 5000, 0);          /* local */
	add_snap(&w, S1, T1, 5100, 1);          /* a remote's copy */
	/* Each increment on both tiers, the remote's listed first. */
	const char *prev = "";
	int local_steps[4];
	for (size_t k = 1; k <= 3; k++) {
		add_incr(&w, S1, k, k, prev, plain_last(T1, k) - 9, plain_last(T1, k), 10 * k, 1);
		size_t l = add_incr(&w, S1, k, k, prev, plain_last(T1, k) - 9, plain_last(T1, k),
				    10 * k, 0);
		local_steps[k - 1] = (int)l;
		prev = w.metas[l].name;
	}
	local_steps[3] = -1;
	expect(&w, PITR_LATEST, 0, local_steps, plain_at(T1, 3));
	/* The local copy of the second is gone: the remote's takes its place. */
	w.incrs[3].has_data = false;
	const int mixed[] = {1, 2, 5, -1};
	expect(&w, PITR_LATEST, 0, mixed, plain_at(T1, 3));
	/* The local snapshot is passed over (the caller leaves it out). */
	w.snaps[0] = w.snaps[1];
	w.n_snaps = 1;
	expect(&w, PITR_LATEST, 0, mixed, plain_at(T1, 3));
}

static void times_never_go_back(void **state)
{
	(void)state;
	struct world w = {0};
	add_snap(&w, S1, T1 + 5000, 5000, 0);
	/* A clock that stepped back: stamped before the snapshot's state, and
	 * the second before the first. */
	size_t a = add_incr(&w, S1, 1, 1, "", T1 + 4000, T1 + 4000, 10, 0);
	size_t b = add_incr(&w, S1, 2, 2, w.metas[a].name, T1 + 7000, T1 + 9000, 10, 0);
	add_incr(&w, S1, 3, 3, w.metas[b].name, T1 + 9000, T1 + 9000, 10, 0);
	w.metas[2].last_tx_ms = T1 + 8000;   /* earlier than the second's */
	struct pitr_plan p;
	struct error err = {0};
	assert_int_equal(plan(&w, T1 + 4500, &p, &err), CB_ERR_NOT_FOUND);
	const int first[] = {0, -1};
	expect(&w, T1 + 5000, 0, first, T1 + 5000);
	expect(&w, T1 + 8500, 0, first, T1 + 5000);
	expect(&w, T1 + 9000, 0, first, T1 + 5000);
	expect(&w, T1 + 9001, 0, (const int[]){0, 1, 2, -1}, T1 + 9001);
	/* A transaction at 9000 ms (and a fraction) is not held at 9000. */
	assert_int_equal(pitr_incr_at(&w.metas[1]), T1 + 9001);
}

static void other_chains_are_not_mixed_in(void **state)
{
	(void)state;
	struct world w = {0};
	add_snap(&w, S1, T1, 5000, 0);
	plain_chain(&w, S1, T1, 2);
	/* S2's first increment, listed among S1's: never part of S1's chain. */
	add_incr(&w, S2, 3, 3, w.metas[1].name, plain_last(T1, 3) - 9, plain_last(T1, 3), 10, 0);
	snprintf(w.metas[2].snapshot, sizeof(w.metas[2].snapshot), "%s", S2);
	const int two[] = {0, 1, -1};
	expect(&w, PITR_LATEST, 0, two, plain_at(T1, 2));
}

static void where_verify_says_a_chain_ends(void **state)
{
	(void)state;
	struct pitr_chain c;
	struct error err = {0};
	struct world w = {0};
	add_snap(&w, S1, T1, 5000, 0);
	plain_chain(&w, S1, T1, 5);
	assert_int_equal(pitr_chain_of(w.snaps, 0, w.incrs, w.n_incrs, &c, &err), CB_OK);
	assert_int_equal(c.path.n_steps, 5);
	assert_int_equal(c.lost, 0);
	assert_int_equal(c.path.reach_ms, plain_at(T1, 5));
	pitr_chain_free(&c);

	w.incrs[2].meta = NULL;
	w.incrs[2].problem = "its metadata is not valid JSON";
	assert_int_equal(pitr_chain_of(w.snaps, 0, w.incrs, w.n_incrs, &c, &err), CB_OK);
	assert_int_equal(c.path.n_steps, 2);
	assert_int_equal(c.lost, 3);
	assert_int_equal(c.first_lost, 2);
	char want[512];
	snprintf(want, sizeof(want), "increment '%s': its metadata is not valid JSON",
		 w.metas[2].name);
	assert_string_equal(c.why, want);
	pitr_chain_free(&c);

	w.incrs[2].meta = &w.metas[2];
	w.incrs[2].problem = NULL;
	w.incrs[2].has_data = false;
	assert_int_equal(pitr_chain_of(w.snaps, 0, w.incrs, w.n_incrs, &c, &err), CB_OK);
	snprintf(want, sizeof(want), "the object of increment '%s' is missing", w.metas[2].name);
	assert_string_equal(c.why, want);
	pitr_chain_free(&c);

	w.incrs[2].has_data = true;
	snprintf(w.metas[3].prev, sizeof(w.metas[3].prev), "%s", w.metas[1].name);
	assert_int_equal(pitr_chain_of(w.snaps, 0, w.incrs, w.n_incrs, &c, &err), CB_OK);
	assert_int_equal(c.path.n_steps, 3);
	assert_int_equal(c.lost, 2);
	assert_non_null(strstr(c.why, "does not continue the chain: its predecessor is"));
	pitr_chain_free(&c);

	/* The last listed by its metadata alone (an interrupted capture):
	 * nothing is lost. */
	struct world t = {0};
	add_snap(&t, S1, T1, 5000, 0);
	plain_chain(&t, S1, T1, 5);
	t.incrs[4].has_data = false;
	assert_int_equal(pitr_chain_of(t.snaps, 0, t.incrs, t.n_incrs, &c, &err), CB_OK);
	assert_int_equal(c.path.n_steps, 4);
	assert_int_equal(c.lost, 0);
	pitr_chain_free(&c);

	/* The second and third gone: a gap. */
	struct world g = {0};
	add_snap(&g, S1, T1, 5000, 0);
	plain_chain(&g, S1, T1, 5);
	g.incrs[1] = g.incrs[3];
	g.incrs[2] = g.incrs[4];
	g.n_incrs = 3;
	assert_int_equal(pitr_chain_of(g.snaps, 0, g.incrs, g.n_incrs, &c, &err), CB_OK);
	assert_int_equal(c.path.n_steps, 1);
	assert_int_equal(c.lost, 2);
	assert_string_equal(c.why, "increments 2-3 of the chain are missing");
	pitr_chain_free(&c);
	g.incrs[1] = g.incrs[2];   /* only the fifth after the first */
	g.n_incrs = 2;
	assert_int_equal(pitr_chain_of(g.snaps, 0, g.incrs, g.n_incrs, &c, &err), CB_OK);
	assert_string_equal(c.why, "increments 2-4 of the chain are missing");
	pitr_chain_free(&c);

	/* A merged increment covering what the path covers is not lost. */
	struct world m = {0};
	add_snap(&m, S1, T1, 5000, 0);
	plain_chain(&m, S1, T1, 3);
	add_incr(&m, S1, 1, 3, "", T1 + 1, plain_last(T1, 3), 10, 0);
	assert_int_equal(pitr_chain_of(m.snaps, 0, m.incrs, m.n_incrs, &c, &err), CB_OK);
	assert_int_equal(c.path.n_steps, 3);
	assert_int_equal(c.lost, 0);
	pitr_chain_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(snapshot_alone),
		cmocka_unit_test(plain_chain_at_every_time),
		cmocka_unit_test(chain_cut),
		cmocka_unit_test(overlap_after_interrupted_compaction),
		cmocka_unit_test(rollups_skip_ahead),
		cmocka_unit_test(several_chains),
		cmocka_unit_test(copies_on_several_tiers),
		cmocka_unit_test(times_never_go_back),
		cmocka_unit_test(other_chains_are_not_mixed_in),
		cmocka_unit_test(where_verify_says_a_chain_ends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
