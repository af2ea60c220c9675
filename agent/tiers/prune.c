/*
 * Retention applied to tiers: plan with the pure policy, then delete.
 */
#include "agent/tiers/prune.h"
#include "agent/tiers/oplog.h"
#include "common/meta.h"
#include "common/text.h"
#include "common/timeutil.h"

#include <stdlib.h>
#include <string.h>

static bool holds(const struct remote_holdings *h, const char *name)
{
	for (size_t i = 0; i < h->n_held; i++)
		if (strcmp(h->held[i], name) == 0)
			return true;
	return false;
}

/* Mark the backups in items that some remote wants and lacks.  A remote's
 * wants are judged over the union of both tiers, as sync judges them. */
static enum result compute_pins(const struct prune_item *mine, size_t n_mine, const char *db,
				const struct remote_holdings *remotes, size_t n_remotes,
				int64_t now, bool *pinned, struct error *err)
{
	for (size_t r = 0; r < n_remotes; r++) {
		const struct remote_holdings *h = &remotes[r];
		size_t n = n_mine + (h->known ? h->n_held : 0);
		struct retention_item *items = calloc(n + 1, sizeof(*items));
		struct retention_decision *dec = calloc(n + 1, sizeof(*dec));
		struct backup_name *extra = calloc(n + 1, sizeof(*extra));
		if (!items || !dec || !extra) {
			free(items);
			free(dec);
			free(extra);
			return error_nomem(err);
		}
		size_t k = 0;
		for (size_t i = 0; i < n_mine; i++, k++) {
			items[k].db = mine[i].e->parsed.db;
			items[k].type = mine[i].e->parsed.type;
			items[k].created = mine[i].e->parsed.created;
		}
		for (size_t i = 0; h->known && i < h->n_held; i++) {
			bool is_mine = false;
			for (size_t j = 0; j < n_mine && !is_mine; j++)
				is_mine = strcmp(mine[j].e->name, h->held[i]) == 0;
			if (is_mine || !backup_name_parse(h->held[i], &extra[i]) ||
			    strcmp(extra[i].db, db) != 0)
				continue;
			items[k].db = extra[i].db;
			items[k].type = extra[i].type;
			items[k].created = extra[i].created;
			k++;
		}
		retention_plan(items, k, h->keep, now, dec);
		for (size_t i = 0; i < n_mine; i++)
			if (dec[i].keep && (!h->known || !holds(h, mine[i].e->name)))
				pinned[i] = true;
		free(items);
		free(dec);
		free(extra);
	}
	return CB_OK;
}

/* One chain as retention sees it: a snapshot (there or not) and its
 * increments on the tier. */
struct chain_verdict {
	const char *snapshot;
	int64_t base;
	const struct catalog_incr *incrs;   /* its run in cat->incrs, or NULL */
	size_t n_incrs;
	bool needed;
};

static int verdict_cmp(const void *a, const void *b)
{
	const struct chain_verdict *x = a, *y = b;
	if (x->base != y->base)
		return x->base < y->base ? -1 : 1;
	return strcmp(x->snapshot, y->snapshot);
}

/* Every chain of db on the tier: each backup there starts one (perhaps
 * with no increments yet), judged by the window; increments whose snapshot
 * is gone can never be restored, and go once nothing has been added to
 * them for an hour (on a remote, a snapshot may still be on its way). */
static enum result judge_chains(const struct catalog *cat, const char *db,
				const struct retention_policy *keep, int64_t now,
				struct chain_verdict **out, size_t *n_out, struct error *err)
{
	size_t cap = cat->n + cat->n_incrs + 1, n = 0;
	struct chain_verdict *v = calloc(cap, sizeof(*v));
	int64_t *bases = calloc(cap, sizeof(*bases));
	bool *needed = calloc(cap, sizeof(*needed));
	if (!v || !bases || !needed) {
		free(v);
		free(bases);
		free(needed);
		return error_nomem(err);
	}
	for (size_t i = 0; i < cat->n; i++) {
		const struct catalog_entry *e = &cat->items[i];
		if (!e->has_data || strcmp(e->parsed.db, db) != 0)
			continue;
		v[n].snapshot = e->name;
		v[n].base = e->parsed.created;
		v[n].incrs = catalog_chain(cat, e->name, &v[n].n_incrs);
		n++;
	}
	if (n)
		qsort(v, n, sizeof(*v), verdict_cmp);
	for (size_t i = 0; i < n; i++)
		bases[i] = v[i].base;
	retention_chains(bases, n, &keep->increments, now, needed);
	for (size_t i = 0; i < n; i++)
		v[i].needed = needed[i];
	for (size_t i = 0; i < cat->n_incrs;) {
		const char *snap = cat->incrs[i].parsed.snapshot;
		size_t len = 0;
		const struct catalog_incr *run = catalog_chain(cat, snap, &len);
		struct backup_name bn;
		bool known = false;
		for (size_t k = 0; k < n && !known; k++)
			known = strcmp(v[k].snapshot, snap) == 0;
		if (!known && backup_name_parse(snap, &bn) && strcmp(bn.db, db) == 0) {
			v[n].snapshot = snap;
			v[n].base = bn.created;
			v[n].incrs = run;
			v[n].n_incrs = len;
			v[n].needed = len && run[len - 1].parsed.last > now - 3600;
			n++;
		}
		i += len ? len : 1;
	}
	free(bases);
	free(needed);
	*out = v;
	*n_out = n;
	return CB_OK;
}

/* The chain's increments, its roll-ups left out (they add no state). */
static size_t increments_of(const struct chain_verdict *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_incrs; i++)
		n += !c->incrs[i].parsed.rollup;
	return n;
}

static void describe_chain(const struct chain_verdict *c, char *buf, size_t size)
{
	char first[32], last[32], bytes[32];
	uint64_t total = 0;
	size_t n = increments_of(c);
	for (size_t i = 0; i < c->n_incrs; i++)
		total += c->incrs[i].size;
	time_format_iso(c->incrs[0].parsed.first, first, sizeof(first));
	time_format_iso(c->incrs[c->n_incrs - 1].parsed.last, last, sizeof(last));
	format_size(total, bytes, sizeof(bytes));
	snprintf(buf, size, "chain %s: %zu increment%s, %s .. %s, %s", c->snapshot, n,
		 n == 1 ? "" : "s", first, last, bytes);
}

/* Record a deletion in the operations log, file only: a command prints its
 * own "Deleted" lines, and the agent logs a pruning's summary. */
static void audit_delete(const struct tier *t, const char *object, uint64_t bytes,
			 const char *why)
{
	struct oplog_event ev = {
		.op = "delete", .object = object, .tier = t->name, .bytes = (int64_t)bytes,
		.detail = why, .file_only = true,
	};
	if (t->log_dir)
		oplog_write(t->log_dir, &ev);
}

/* Delete the increments of chains no longer needed (or say which, with
 * dry_run), oldest chain first and each chain from its end back, so that
 * what an interruption leaves is always a chain's whole beginning. */
static enum result apply_chains(struct tier *t, const struct chain_verdict *v, size_t n,
				bool dry_run, FILE *report, struct prune_result *res,
				struct error *err)
{
	char window[32], what[BACKUP_NAME_MAX + 128];
	keep_rule_format(&t->keep->increments, window, sizeof(window));
	for (size_t i = 0; i < n; i++) {
		const struct chain_verdict *c = &v[i];
		if (!c->n_incrs)
			continue;
		describe_chain(c, what, sizeof(what));
		if (c->needed) {
			res->chains_kept++;
			if (dry_run && report)
				fprintf(report, "keep    %s  (within keep_increments %s)\n", what,
					window);
			continue;
		}
		if (dry_run) {
			res->chains_deleted++;
			res->incrs_deleted += increments_of(c);
			for (size_t k = 0; k < c->n_incrs; k++)
				res->freed += c->incrs[k].size;
			if (report)
				fprintf(report, "delete  %s  (older than keep_increments %s)\n", what,
					window);
			continue;
		}
		for (size_t k = c->n_incrs; k-- > 0;) {
			const struct catalog_incr *e = &c->incrs[k];
			char meta_key[INCR_NAME_MAX + 8];
			enum result r = CB_OK;
			snprintf(meta_key, sizeof(meta_key), "%s%s", e->key, META_SUFFIX);
			char data_key[INCR_NAME_MAX + 8];
			if (e->has_data)
				r = backend_remove(t->backend,
						   catalog_incr_data_key(e, data_key, sizeof(data_key)),
						   err);
			if (!r && e->twin) {   /* the other of the two as well */
				snprintf(data_key, sizeof(data_key), "%s%s", e->key,
					 e->encrypted ? "" : METACRYPT_SUFFIX);
				r = backend_remove(t->backend, data_key, err);
			}
			if ((!r || r == CB_ERR_NOT_FOUND) && e->has_meta && !e->packed)
				r = backend_remove(t->backend, meta_key, err);
			if (r && r != CB_ERR_NOT_FOUND)   /* gone already is what we want */
				return r;
			res->incrs_deleted += !e->parsed.rollup;
			res->freed += e->size;
		}
		res->chains_deleted++;
		if (report)
			fprintf(report, "Deleted %s (older than keep_increments %s)\n", what, window);
		char objects[INCR_NAME_MAX + 8], why[sizeof(what) + 64];
		uint64_t bytes = 0;
		for (size_t k = 0; k < c->n_incrs; k++)
			bytes += c->incrs[k].size;
		/* The chain's folder: increments/<the snapshot's stem>/. */
		size_t stem = strlen(c->snapshot);
		if (stem > strlen(BACKUP_SUFFIX) &&
		    strcmp(c->snapshot + stem - strlen(BACKUP_SUFFIX), BACKUP_SUFFIX) == 0)
			stem -= strlen(BACKUP_SUFFIX);
		snprintf(objects, sizeof(objects), "increments/%.*s/", (int)stem, c->snapshot);
		snprintf(why, sizeof(why), "%s (older than keep_increments %s)", what, window);
		audit_delete(t, objects, bytes, why);
	}
	return CB_OK;
}

void holdings_free(struct remote_holdings *h)
{
	for (size_t i = 0; i < h->n_held; i++)
		free(h->held[i]);
	free(h->held);
	h->held = NULL;
	h->n_held = 0;
	h->known = false;
}

enum result prune_apply(struct tier *t, const struct prune_item *items, size_t n,
			bool dry_run, FILE *report, struct prune_result *res,
			struct remote_holdings *held, struct error *err)
{
	enum result r;
	memset(res, 0, sizeof(*res));
	if (held) {
		held->n_held = 0;
		if (!(held->held = calloc(n + 1, sizeof(*held->held))))
			return error_nomem(err);
	}
	for (size_t i = 0; i < n; i++) {
		const struct catalog_entry *e = items[i].e;
		char why[160];
		retention_reason_format(&items[i].d, e->parsed.type, t->keep, why, sizeof(why));
		if (items[i].d.keep) {
			res->kept++;
			if (items[i].d.reason == RR_PINNED)
				res->pinned++;
			if (dry_run && report)
				fprintf(report, "keep    %s  (%s)\n", e->name, why);
			/* Data arrives after its metadata, so data means a whole backup. */
			if (held) {
				if (!(held->held[held->n_held] = strdup(e->name))) {
					r = error_nomem(err);
					goto fail;
				}
				held->n_held++;
			}
			continue;
		}
		res->deleted++;
		res->freed += e->size;
		if (dry_run) {
			if (report)
				fprintf(report, "delete  %s  (%s)\n", e->name, why);
			continue;
		}
		if ((r = tier_delete(t, e, err))) {
			res->deleted--;
			res->freed -= e->size;
			goto fail;
		}
		if (report)
			fprintf(report, "Deleted %s (%s)\n", e->name, why);
		audit_delete(t, e->name, e->size, why);
	}
	if (held)
		held->known = true;
	return CB_OK;
fail:
	if (held)
		holdings_free(held);
	return r;
}

enum result prune_tier(struct tier *t, const struct catalog *cat, const char *db,
		       const struct remote_holdings *pins, size_t n_pins, int64_t now,
		       bool dry_run, FILE *report, struct prune_result *res,
		       struct remote_holdings *held, struct error *err)
{
	struct prune_item *items = calloc(cat->n + 1, sizeof(*items));
	struct retention_item *plan = calloc(cat->n + 1, sizeof(*plan));
	struct retention_decision *dec = calloc(cat->n + 1, sizeof(*dec));
	bool *pinned = calloc(cat->n + 1, sizeof(*pinned));
	struct chain_verdict *chains = NULL;
	size_t n = 0, n_chains = 0;
	enum result r;

	memset(res, 0, sizeof(*res));
	if (!items || !plan || !dec || !pinned) {
		r = error_nomem(err);
		goto done;
	}
	/* Only backups whose data is there; a lone metadata object is left be. */
	for (size_t i = 0; i < cat->n; i++)
		if (cat->items[i].has_data && strcmp(cat->items[i].parsed.db, db) == 0)
			items[n++].e = &cat->items[i];
	if ((r = compute_pins(items, n, db, pins, n_pins, now, pinned, err)) ||
	    (r = judge_chains(cat, db, t->keep, now, &chains, &n_chains, err)))
		goto done;
	for (size_t i = 0; i < n; i++) {
		plan[i].db = items[i].e->parsed.db;
		plan[i].type = items[i].e->parsed.type;
		plan[i].created = items[i].e->parsed.created;
		plan[i].pinned = pinned[i];
		for (size_t k = 0; k < n_chains; k++)
			if (chains[k].needed && chains[k].n_incrs &&
			    strcmp(chains[k].snapshot, items[i].e->name) == 0)
				plan[i].chain = true;
	}
	retention_plan(plan, n, t->keep, now, dec);
	for (size_t i = 0; i < n; i++)
		items[i].d = dec[i];
	/* The chains first: a snapshot goes only after its increments. */
	struct prune_result cres = {0};
	if ((r = apply_chains(t, chains, n_chains, dry_run, report, &cres, err)))
		goto done;
	r = prune_apply(t, items, n, dry_run, report, res, held, err);
	res->chains_kept = cres.chains_kept;
	res->chains_deleted = cres.chains_deleted;
	res->incrs_deleted = cres.incrs_deleted;
	res->freed += cres.freed;
done:
	free(chains);
	free(items);
	free(plan);
	free(dec);
	free(pinned);
	return r;
}

enum result prune_chains(struct tier *t, const struct catalog *cat, const char *db, int64_t now,
			 struct prune_result *res, struct error *err)
{
	struct chain_verdict *chains = NULL;
	size_t n = 0;
	struct prune_result cres = {0};
	enum result r = judge_chains(cat, db, t->keep, now, &chains, &n, err);
	if (!r)
		r = apply_chains(t, chains, n, false, NULL, &cres, err);
	free(chains);
	res->chains_kept += cres.chains_kept;
	res->chains_deleted += cres.chains_deleted;
	res->incrs_deleted += cres.incrs_deleted;
	res->freed += cres.freed;
	return r;
}

enum result prune_listed(struct tier *t, const char *db, const struct remote_holdings *pins,
			 size_t n_pins, int64_t now, bool dry_run, FILE *report,
			 struct prune_result *res, struct remote_holdings *held,
			 struct error *err)
{
	struct catalog cat = {0};
	enum result r = tier_catalog(t, db, "prune", &cat, err);
	memset(res, 0, sizeof(*res));
	if (!r)
		r = prune_tier(t, &cat, db, pins, n_pins, now, dry_run, report, res, held, err);
	catalog_free(&cat);
	return r;
}
