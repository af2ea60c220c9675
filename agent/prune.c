/*
 * Retention applied to tiers: plan with the pure policy, then delete.
 */
#include "agent/prune.h"
#include "agent/catalog.h"
#include "agent/format.h"
#include "agent/tier_local.h"
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

/* Mark the local backups some remote wants and lacks.  A remote's wants are
 * judged over the union of both tiers, as sync judges them. */
static enum result compute_pins(const struct local_list *local, const char *db,
				const struct remote_holdings *remotes, size_t n_remotes,
				int64_t now, bool *pinned, struct error *err)
{
	for (size_t r = 0; r < n_remotes; r++) {
		const struct remote_holdings *h = &remotes[r];
		size_t n = local->n + (h->known ? h->n_held : 0);
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
		for (size_t i = 0; i < local->n; i++, k++) {
			items[k].db = local->items[i].parsed.db;
			items[k].type = local->items[i].parsed.type;
			items[k].created = local->items[i].parsed.created;
		}
		for (size_t i = 0; h->known && i < h->n_held; i++) {
			bool is_local = false;
			for (size_t j = 0; j < local->n && !is_local; j++)
				is_local = strcmp(local->items[j].name, h->held[i]) == 0;
			if (is_local || !backup_name_parse(h->held[i], &extra[i]) ||
			    strcmp(extra[i].db, db) != 0)
				continue;
			items[k].db = extra[i].db;
			items[k].type = extra[i].type;
			items[k].created = extra[i].created;
			k++;
		}
		retention_plan(items, k, h->keep, now, dec);
		for (size_t i = 0; i < local->n; i++)
			if (dec[i].keep && (!h->known || !holds(h, local->items[i].name)))
				pinned[i] = true;
		free(items);
		free(dec);
		free(extra);
	}
	return CB_OK;
}

enum result prune_local(const char *dir, const char *db, const struct retention_policy *policy,
			const struct remote_holdings *remotes, size_t n_remotes, int64_t now,
			bool dry_run, FILE *report, struct prune_result *res, struct error *err)
{
	struct local_list list;
	struct retention_item *items = NULL;
	struct retention_decision *dec = NULL;
	bool *pinned = NULL;
	enum result r = local_list_scan(dir, &list, err);

	memset(res, 0, sizeof(*res));
	if (r)
		return r;
	local_list_keep_db(&list, db);
	if (list.n == 0)
		goto done;
	items = calloc(list.n, sizeof(*items));
	dec = calloc(list.n, sizeof(*dec));
	pinned = calloc(list.n, sizeof(*pinned));
	if (!items || !dec || !pinned) {
		r = error_nomem(err);
		goto done;
	}
	if ((r = compute_pins(&list, db, remotes, n_remotes, now, pinned, err)))
		goto done;
	for (size_t i = 0; i < list.n; i++) {
		items[i].db = list.items[i].parsed.db;
		items[i].type = list.items[i].parsed.type;
		items[i].created = list.items[i].parsed.created;
		items[i].pinned = pinned[i];
	}
	retention_plan(items, list.n, policy, now, dec);
	for (size_t i = 0; i < list.n; i++) {
		const struct local_backup *b = &list.items[i];
		char why[160];
		retention_reason_format(&dec[i], b->parsed.type, policy, why, sizeof(why));
		if (dec[i].keep) {
			res->kept++;
			if (dec[i].reason == RR_PINNED)
				res->pinned++;
			if (dry_run && report)
				fprintf(report, "keep    %s  (%s)\n", b->name, why);
			continue;
		}
		if (dry_run) {
			res->deleted++;
			res->freed += (uint64_t)b->file_size;
			if (report)
				fprintf(report, "delete  %s  (%s)\n", b->name, why);
			continue;
		}
		if ((r = local_delete(dir, b->name, err)))
			goto done;
		res->deleted++;
		res->freed += (uint64_t)b->file_size;
		if (report)
			fprintf(report, "Deleted %s (%s)\n", b->name, why);
	}
done:
	free(items);
	free(dec);
	free(pinned);
	local_list_free(&list);
	return r;
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

enum result prune_catalog(struct backend *b, const struct remote_catalog *cat, const char *db,
			  const struct retention_policy *keep, int64_t now, bool dry_run,
			  FILE *report, struct prune_result *res, struct remote_holdings *held,
			  struct error *err)
{
	struct retention_item *items = NULL;
	struct retention_decision *dec = NULL;
	const struct remote_backup **whole = NULL;
	size_t n = 0;
	enum result r;

	memset(res, 0, sizeof(*res));
	items = calloc(cat->n + 1, sizeof(*items));
	dec = calloc(cat->n + 1, sizeof(*dec));
	whole = calloc(cat->n + 1, sizeof(*whole));
	if (held) {
		held->n_held = 0;
		held->held = calloc(cat->n + 1, sizeof(*held->held));
	}
	if (!items || !dec || !whole || (held && !held->held)) {
		r = error_nomem(err);
		goto done;
	}
	/* Only backups whose data is there; a lone metadata object is left be. */
	for (size_t i = 0; i < cat->n; i++) {
		if (!cat->items[i].has_data || strcmp(cat->items[i].parsed.db, db) != 0)
			continue;
		whole[n] = &cat->items[i];
		items[n].db = cat->items[i].parsed.db;
		items[n].type = cat->items[i].parsed.type;
		items[n].created = cat->items[i].parsed.created;
		n++;
	}
	retention_plan(items, n, keep, now, dec);
	for (size_t i = 0; i < n; i++) {
		const struct remote_backup *rb = whole[i];
		char why[160];
		retention_reason_format(&dec[i], rb->parsed.type, keep, why, sizeof(why));
		if (dec[i].keep) {
			res->kept++;
			if (dry_run && report)
				fprintf(report, "keep    %s  (%s)\n", rb->name, why);
			/* Data arrives after its metadata, so data means a whole backup. */
			if (held) {
				if (!(held->held[held->n_held] = strdup(rb->name))) {
					r = error_nomem(err);
					goto done;
				}
				held->n_held++;
			}
			continue;
		}
		res->deleted++;
		res->freed += rb->size;
		if (dry_run) {
			if (report)
				fprintf(report, "delete  %s  (%s)\n", rb->name, why);
			continue;
		}
		char meta_key[BACKUP_NAME_MAX + 8];
		snprintf(meta_key, sizeof(meta_key), "%s%s", rb->name, META_SUFFIX);
		/* Data first: the backup disappears at once, as on the local tier. */
		if ((r = backend_remove(b, rb->name, err)) || (r = backend_remove(b, meta_key, err)))
			goto done;
		if (report)
			fprintf(report, "Deleted %s (%s)\n", rb->name, why);
	}
	if (held)
		held->known = true;
	r = CB_OK;
done:
	if (r && held)
		holdings_free(held);
	free(items);
	free(dec);
	free(whole);
	return r;
}

enum result prune_remote(struct backend *b, const char *db, const struct retention_policy *keep,
			 int64_t now,
			 bool dry_run, FILE *report, struct prune_result *res,
			 struct remote_holdings *held, struct error *err)
{
	struct backend_listing l = {0};
	struct remote_catalog cat = {0};
	enum result r;
	memset(res, 0, sizeof(*res));
	if (!(r = backend_list(b, "", &l, err)) && !(r = catalog_build(&l, &cat, err))) {
		catalog_warn_unsafe(&cat, "prune", b->name);
		r = prune_catalog(b, &cat, db, keep, now, dry_run, report, res, held, err);
	}
	catalog_free(&cat);
	backend_listing_free(&l);
	return r;
}
