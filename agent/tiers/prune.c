/*
 * Retention applied to tiers: plan with the pure policy, then delete.
 */
#include "agent/tiers/prune.h"
#include "common/meta.h"

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
		if ((r = tier_delete(t, e->name, err))) {
			res->deleted--;
			res->freed -= e->size;
			goto fail;
		}
		if (report)
			fprintf(report, "Deleted %s (%s)\n", e->name, why);
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
	size_t n = 0;
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
	if ((r = compute_pins(items, n, db, pins, n_pins, now, pinned, err)))
		goto done;
	for (size_t i = 0; i < n; i++) {
		plan[i].db = items[i].e->parsed.db;
		plan[i].type = items[i].e->parsed.type;
		plan[i].created = items[i].e->parsed.created;
		plan[i].pinned = pinned[i];
	}
	retention_plan(plan, n, t->keep, now, dec);
	for (size_t i = 0; i < n; i++)
		items[i].d = dec[i];
	r = prune_apply(t, items, n, dry_run, report, res, held, err);
done:
	free(items);
	free(plan);
	free(dec);
	free(pinned);
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
