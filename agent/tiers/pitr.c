/*
 * Planning a point-in-time restore (see pitr.h).
 *
 * Per snapshot, the usable increments of its chain are sorted in chain
 * order (seq first, then seq last) and walked once: an increment is reached
 * from the snapshot (seq 1, no prev), from a reached increment whose name
 * is its prev, or from a reached roll-up that ends in the same state as its
 * prev (same seq last, state checksum and page count: the state is what
 * the next increment needs, not the file that brought it).  Each keeps the
 * cheapest way in (fewest bytes, then most steps).  Each reached increment
 * is a state the chain can restore; the plan is the best of those, and of
 * the snapshots themselves, at or before the time.
 */
#include "agent/tiers/pitr.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE SIZE_MAX

/* One usable increment of the chain being solved. */
struct node {
	size_t incr;           /* index into the increments */
	const char *key;
	size_t ref;
	const struct incr_meta *m;
	bool reached;
	size_t steps;          /* increments applied to reach it, itself included */
	size_t pred;           /* the node before it on its path; NONE: the snapshot */
	int64_t at;            /* its state's time, never before its predecessor's */
	uint64_t bytes;        /* the path's increments' sizes */
	bool rollup;
	bool unusable;         /* a roll-up no increment vouches for */
	bool fine;             /* the finest way in, not the cheapest */
};

/* A state the chain can restore: the snapshot (node NONE) or a node. */
struct target {
	size_t node;
	int64_t at;
	uint64_t seq;          /* seq last; 0 at the snapshot */
	size_t steps;
	uint64_t bytes;
};

struct solved {
	struct node *nodes;
	size_t n;
	bool any;              /* best is set */
	struct target best;
};

/* Chain order: seq first, seq last, then the name (an increment before the
 * roll-up of the same range), then the caller's order of copies. */
static int chain_order(const void *a, const void *b)
{
	const struct node *x = a, *y = b;
	if (x->m->seq_first != y->m->seq_first)
		return x->m->seq_first < y->m->seq_first ? -1 : 1;
	if (x->m->seq_last != y->m->seq_last)
		return x->m->seq_last < y->m->seq_last ? -1 : 1;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->ref < y->ref ? -1 : x->ref > y->ref;
}

/* Is a better than b (both states of one snapshot's chain)?  The same
 * state reached two ways: the cheaper, then the finer (for verify, the
 * finer). */
static bool better(const struct target *a, const struct target *b, bool fine)
{
	if (a->at != b->at)
		return a->at > b->at;
	if (a->seq != b->seq)
		return a->seq > b->seq;
	if (!fine && a->bytes != b->bytes)
		return a->bytes < b->bytes;
	return a->steps > b->steps;
}

/* A node by its name, to find an increment's prev. */
struct named {
	const char *key;
	size_t ref;
	size_t node;
};

static int by_key(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return x->ref < y->ref ? -1 : x->ref > y->ref;
}

/* The first of byname (n, sorted) named key, or NONE. */
static size_t find_key(const struct named *byname, size_t n, const char *key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(byname[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strcmp(byname[lo].key, key) == 0 ? lo : NONE;
}

/* Reach node j from node p (or from the snapshot when p is NONE). */
static void offer(struct node *nodes, size_t j, size_t p, int64_t snap_at)
{
	struct node *n = &nodes[j];
	size_t steps = p == NONE ? 1 : nodes[p].steps + 1;
	uint64_t bytes = (p == NONE ? 0 : nodes[p].bytes) + (uint64_t)n->m->compressed_size;
	/* The cheapest way in, then the finest (or, for verify, the finest);
	 * on a tie the first stays (the caller's order). */
	if (n->reached && (n->fine ? steps <= n->steps
				   : bytes > n->bytes || (bytes == n->bytes && steps <= n->steps)))
		return;
	int64_t before = p == NONE ? snap_at : nodes[p].at;
	int64_t mine = pitr_incr_at(n->m);
	n->reached = true;
	n->steps = steps;
	n->pred = p;
	n->at = mine > before ? mine : before;
	n->bytes = bytes;
}

/* Solve snapshot s's chain: every state it can restore, and the best one
 * at or before at_ms (none if the snapshot itself is after it). */
static enum result solve(const struct pitr_snap *s, const struct pitr_incr *incrs,
			 size_t n_incrs, int64_t at_ms, bool fine, struct solved *out,
			 struct error *err)
{
	memset(out, 0, sizeof(*out));
	out->nodes = calloc(n_incrs ? n_incrs : 1, sizeof(*out->nodes));
	if (!out->nodes)
		return error_nomem(err);
	for (size_t i = 0; i < n_incrs; i++) {
		const struct pitr_incr *in = &incrs[i];
		struct incr_name in_name;
		if (!in->meta || !in->has_data || strcmp(in->meta->snapshot, s->name) != 0 ||
		    strcmp(in->meta->name, in->key) != 0 || !incr_name_parse(in->key, &in_name) ||
		    (fine && in_name.rollup))
			continue;
		out->nodes[out->n++] = (struct node){.incr = i, .key = in->key, .ref = in->ref,
						     .m = in->meta, .pred = NONE,
						     .rollup = in_name.rollup, .fine = fine};
	}
	qsort(out->nodes, out->n, sizeof(*out->nodes), chain_order);
	struct node *nodes = out->nodes;
	struct named *byname = calloc(out->n ? out->n : 1, sizeof(*byname));
	size_t *rollups = calloc(out->n ? out->n : 1, sizeof(*rollups)), n_rollups = 0;
	if (!byname || !rollups) {
		free(byname);
		free(rollups);
		return error_nomem(err);
	}
	for (size_t j = 0; j < out->n; j++)
		byname[j] = (struct named){.key = nodes[j].key, .ref = nodes[j].ref, .node = j};
	/* A roll-up is used only where an increment of the chain ends in the
	 * state it claims: it is a shortcut to a captured state, never a
	 * state of its own. */
	for (size_t j = 0; j < out->n; j++) {
		if (!nodes[j].rollup)
			continue;
		nodes[j].unusable = true;
		for (size_t f = 0; f < out->n && nodes[j].unusable; f++)
			if (!nodes[f].rollup && incr_same_state(nodes[j].m, nodes[f].m))
				nodes[j].unusable = false;
		if (!nodes[j].unusable)
			rollups[n_rollups++] = j;
	}
	qsort(byname, out->n, sizeof(*byname), by_key);
	for (size_t j = 0; j < out->n; j++) {
		const struct incr_meta *m = nodes[j].m;
		if (nodes[j].unusable)
			continue;
		if (m->seq_first == 1 && m->prev[0] == '\0') {
			offer(nodes, j, NONE, s->state_ms);
			continue;
		}
		/* Its predecessors sort before it (a smaller seq first): its prev,
		 * and the roll-ups that end in its prev's state. */
		for (size_t k = find_key(byname, out->n, m->prev);
		     k != NONE && k < out->n && strcmp(byname[k].key, m->prev) == 0; k++) {
			size_t p = byname[k].node;
			if (p >= j || nodes[p].m->seq_last + 1 != m->seq_first ||
			    nodes[p].m->page_size != m->page_size)
				continue;
			if (nodes[p].reached)
				offer(nodes, j, p, s->state_ms);
			for (size_t q = 0; q < n_rollups && rollups[q] < j; q++)
				if (nodes[rollups[q]].reached &&
				    incr_same_state(nodes[rollups[q]].m, nodes[p].m))
					offer(nodes, j, rollups[q], s->state_ms);
		}
	}
	free(byname);
	free(rollups);
	if (s->state_ms <= at_ms) {
		out->any = true;
		out->best = (struct target){.node = NONE, .at = s->state_ms};
	}
	for (size_t j = 0; j < out->n && out->any; j++) {
		if (!nodes[j].reached || nodes[j].at > at_ms)
			continue;
		struct target t = {.node = j, .at = nodes[j].at, .seq = nodes[j].m->seq_last,
				   .steps = nodes[j].steps, .bytes = nodes[j].bytes};
		if (better(&t, &out->best, fine))
			out->best = t;
	}
	return CB_OK;
}

/* The plan that solution sol's best state is. */
static enum result plan_of(const struct solved *sol, size_t snap, const struct pitr_snap *s,
			   struct pitr_plan *out, struct error *err)
{
	memset(out, 0, sizeof(*out));
	out->snap = snap;
	out->reach_ms = sol->best.at;
	out->bytes = s->size + sol->best.bytes;
	out->n_steps = sol->best.steps;
	if (!out->n_steps)
		return CB_OK;
	out->steps = calloc(out->n_steps, sizeof(*out->steps));
	if (!out->steps)
		return error_nomem(err);
	size_t k = out->n_steps;
	for (size_t j = sol->best.node; j != NONE; j = sol->nodes[j].pred)
		out->steps[--k] = sol->nodes[j].incr;
	return CB_OK;
}

int64_t pitr_incr_at(const struct incr_meta *m)
{
	return m->last_tx_ms + 1;
}

bool pitr_span(const struct pitr_snap *snaps, size_t n_snaps, const struct pitr_incr *incrs,
	       size_t n_incrs, int64_t *oldest_ms, int64_t *newest_ms)
{
	bool any = false;
	for (size_t i = 0; i < n_snaps; i++) {
		struct solved sol;
		struct error err = {0};
		int64_t newest = snaps[i].state_ms;
		if (solve(&snaps[i], incrs, n_incrs, PITR_LATEST, false, &sol, &err) == CB_OK)
			newest = sol.best.at;
		free(sol.nodes);
		if (!any || snaps[i].state_ms < *oldest_ms)
			*oldest_ms = snaps[i].state_ms;
		if (!any || newest > *newest_ms)
			*newest_ms = newest;
		any = true;
	}
	return any;
}

enum result pitr_plan(const struct pitr_snap *snaps, size_t n_snaps,
		      const struct pitr_incr *incrs, size_t n_incrs, int64_t at_ms,
		      struct pitr_plan *out, struct error *err)
{
	struct solved best = {0};
	size_t best_snap = NONE;
	enum result r;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n_snaps; i++) {
		struct solved sol;
		if ((r = solve(&snaps[i], incrs, n_incrs, at_ms, false, &sol, err))) {
			free(best.nodes);
			return r;
		}
		/* Across chains: the newest state, then the newer snapshot, then
		 * the first copy listed. */
		bool wins = sol.any &&
			    (best_snap == NONE || sol.best.at > best.best.at ||
			     (sol.best.at == best.best.at &&
			      snaps[i].state_ms > snaps[best_snap].state_ms));
		if (wins) {
			free(best.nodes);
			best = sol;
			best_snap = i;
		} else {
			free(sol.nodes);
		}
	}
	if (best_snap == NONE) {
		int64_t oldest, newest;
		char at[32], o[32], n[32];
		if (!pitr_span(snaps, n_snaps, incrs, n_incrs, &oldest, &newest))
			return error_set(err, CB_ERR_NOT_FOUND, "Backup not found: no snapshot to "
					 "restore from");
		time_format_iso_ms(at_ms, at, sizeof(at));
		time_format_iso_ms(oldest, o, sizeof(o));
		time_format_iso_ms(newest, n, sizeof(n));
		return error_set(err, CB_ERR_NOT_FOUND,
				 "Backup not found: no state at or before %s can be restored; the "
				 "oldest restorable state is at %s, the newest at %s",
				 at, o, n);
	}
	r = plan_of(&best, best_snap, &snaps[best_snap], out, err);
	free(best.nodes);
	return r;
}

void pitr_plan_free(struct pitr_plan *p)
{
	free(p->steps);
	memset(p, 0, sizeof(*p));
}

/* Why in, the first increment past the end of a chain (at seq end, its
 * last increment named last), is not on it. */
static void why_not(const struct pitr_incr *in, uint64_t end, const char *last,
		    const struct incr_name *n, char *why, size_t size)
{
	if (n->seq_first == end + 2)
		snprintf(why, size, "increment %llu of the chain is missing",
			 (unsigned long long)end + 1);
	else if (n->seq_first > end + 2)
		snprintf(why, size, "increments %llu-%llu of the chain are missing",
			 (unsigned long long)end + 1, (unsigned long long)n->seq_first - 1);
	else if (!in->has_data && !in->problem)
		snprintf(why, size, "the object of increment '%s' is missing", in->key);
	else if (!in->meta)
		snprintf(why, size, "increment '%s': %s", in->key,
			 in->problem ? in->problem : "its metadata is missing");
	else if (strcmp(in->meta->prev, last) != 0)
		snprintf(why, size, "increment '%s' does not continue the chain: its predecessor "
			 "is '%s', the chain's last is '%s'", in->key,
			 in->meta->prev[0] ? in->meta->prev : "(the snapshot)",
			 last[0] ? last : "(the snapshot)");
	else
		snprintf(why, size, "increment '%s' does not continue the chain: page size %lld",
			 in->key, (long long)in->meta->page_size);
}

enum result pitr_chain_of(const struct pitr_snap *snaps, size_t snap,
			  const struct pitr_incr *incrs, size_t n_incrs, struct pitr_chain *out,
			  struct error *err)
{
	struct solved sol;
	const struct pitr_snap *s = &snaps[snap];
	memset(out, 0, sizeof(*out));
	enum result r = solve(s, incrs, n_incrs, PITR_LATEST, true, &sol, err);
	if (!r)
		r = plan_of(&sol, snap, s, &out->path, err);
	free(sol.nodes);
	if (r)
		return r;
	uint64_t end = 0;
	const char *last = "";
	if (out->path.n_steps) {
		const struct incr_meta *m = incrs[out->path.steps[out->path.n_steps - 1]].meta;
		end = m->seq_last;
		last = m->name;
	}
	/* The first increment past the end, in chain order, says why; the
	 * ones past it whose objects are there are lost.  (One listed by its
	 * metadata alone is what an interrupted capture leaves: never made.) */
	struct incr_name first = {0};
	bool beyond = false;
	for (size_t i = 0; i < n_incrs; i++) {
		struct incr_name n;
		if (!incr_name_parse(incrs[i].key, &n) || n.rollup ||
		    strcmp(n.snapshot, s->name) != 0 || n.seq_last <= end)
			continue;
		if (incrs[i].has_data)
			out->lost++;
		if (!beyond || strcmp(incrs[i].key, incrs[out->first_lost].key) < 0) {
			out->first_lost = i;
			first = n;
			beyond = true;
		}
	}
	if (out->lost)
		why_not(&incrs[out->first_lost], end, last, &first, out->why, sizeof(out->why));
	return CB_OK;
}

void pitr_chain_free(struct pitr_chain *c)
{
	pitr_plan_free(&c->path);
	c->lost = 0;
}
