/*
 * One reconcile pass for one remote.
 */
#include "agent/tiers/sync.h"
#include "agent/tiers/uploads.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/meta.h"
#include "common/timeutil.h"
#include "retention/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STALE_AGE (24 * 3600) /* compared with the remote's clock: leave a wide margin */
#define HALF_PAIR_GRACE 60    /* seconds: a backup this new may be on its way up */

/* One backup known to either tier. */
struct entry {
	const char *name;
	const struct backup_name *parsed;
	const struct catalog_entry *local; /* NULL if only on the remote */
	struct catalog_entry *remote;      /* NULL if only local */
	bool held;                         /* the remote holds it whole after the uploads */
};

/* The remote holds this backup whole: data of the right size, and its
 * metadata when there is any to hold. */
static bool complete(const struct entry *e)
{
	if (!e->remote || !e->remote->has_data)
		return false;
	if (!e->local)
		return true;
	if (e->remote->size != e->local->size)
		return false;
	return e->remote->has_meta || !e->local->has_meta;
}

static int oldest_first(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;
	if (x->parsed->created != y->parsed->created)
		return x->parsed->created < y->parsed->created ? -1 : 1;
	return strcmp(x->name, y->name);
}

static int items_newest_first(const void *a, const void *b)
{
	const struct prune_item *x = a, *y = b;
	if (x->e->parsed.created != y->e->parsed.created)
		return x->e->parsed.created > y->e->parsed.created ? -1 : 1;
	return -strcmp(x->e->name, y->e->name);
}

/* Upload one local backup: metadata first, so that on every tier the data's
 * arrival completes the pair. */
static enum result upload(struct tier *local, struct tier *remote,
			  const struct catalog_entry *lb, const struct sync_opts *opts,
			  struct sync_stats *st, struct error *err)
{
	char meta_key[BACKUP_NAME_MAX + 8];
	char *data_path = fs_join(local->dir, lb->name);
	char *json = NULL;
	size_t json_len = 0;
	enum result r = CB_OK;

	if (!data_path)
		return error_nomem(err);
	snprintf(meta_key, sizeof(meta_key), "%s%s", lb->name, META_SUFFIX);
	if (opts->on_upload)
		opts->on_upload(opts->progress_ctx, lb->name, lb->size);
	if (lb->has_meta) {
		if ((r = backend_get_buffer(local->backend, meta_key, META_MAX_BYTES, &json,
					    &json_len, err)))
			goto done;
		if ((r = backend_put_buffer(remote->backend, meta_key, json, json_len, err)))
			goto done;
	}
	struct put_file_opts po = {
		.sha256_hex = lb->has_meta ? lb->meta->sha256 : NULL,
		.progress = opts->progress,
		.progress_ctx = opts->progress_ctx,
	};
	if ((r = backend_put_file(remote->backend, lb->name, data_path, &po, err)))
		goto done;
	st->uploaded++;
	st->bytes += lb->size + json_len;
done:
	free(data_path);
	free(json);
	return r;
}

/* Remove each lone metadata object (<name>.db.gz.json without its data)
 * that this sync did not just complete: nothing will bring its data now.
 * cat is this database's backups only, with what went up marked has_data.
 * Lone ones of backups made after the sync began are left alone: another
 * run of this host (the agent and a push) may be between the two halves. */
static enum result remove_half_pairs(struct tier *remote, struct catalog *cat, int64_t now,
				     struct sync_stats *st, struct error *err)
{
	for (size_t i = 0; i < cat->n; i++) {
		struct catalog_entry *rb = &cat->items[i];
		if (rb->has_data || !rb->has_meta || rb->parsed.created >= now - HALF_PAIR_GRACE)
			continue;
		char key[BACKUP_NAME_MAX + 8];
		snprintf(key, sizeof(key), "%s%s", rb->name, META_SUFFIX);
		enum result r = backend_remove(remote->backend, key, err);
		if (r)
			return r;
		rb->has_meta = false;
		st->halves_removed++;
		log_info("sync", "remote '%s': removed '%s': its backup is not on its way there",
			 remote->name, key);
	}
	return CB_OK;
}

void sync_stats_free(struct sync_stats *st)
{
	holdings_free(&st->held);
}

enum result sync_tier(struct tier *local, struct tier *remote, const struct sync_opts *opts,
		      struct sync_stats *st, struct error *err)
{
	struct catalog mine = {0}, cat = {0};
	struct entry *entries = NULL;
	struct entry **todo = NULL;
	struct retention_item *items = NULL;
	struct retention_decision *dec = NULL;
	struct prune_item *verdicts = NULL;
	struct upload_journal *journal = NULL;
	struct backend *b = remote->backend;
	size_t n = 0, ntodo = 0, nverdicts = 0;
	enum result r;

	memset(st, 0, sizeof(*st));
	/* What stopped runs of this host left unfinished there goes first. */
	journal = upload_journal_begin(b, local->dir, &st->unfinished_aborted);
	if ((r = tier_catalog(local, opts->db, "sync", &mine, err)))
		goto done;
	if ((r = tier_catalog(remote, opts->db, "sync", &cat, err)))
		goto done;

	/* Every backup either tier has, once. */
	entries = calloc(mine.n + cat.n + 1, sizeof(*entries));
	todo = calloc(mine.n + 1, sizeof(*todo));
	if (!entries || !todo) {
		r = error_nomem(err);
		goto done;
	}
	for (size_t i = 0; i < mine.n; i++) {
		struct entry *e = &entries[n++];
		e->name = mine.items[i].name;
		e->parsed = &mine.items[i].parsed;
		e->local = &mine.items[i];
		e->remote = catalog_find(&cat, e->name);
	}
	for (size_t i = 0; i < cat.n; i++) {
		if (!cat.items[i].has_data || catalog_find(&mine, cat.items[i].name))
			continue;
		struct entry *e = &entries[n++];
		e->name = cat.items[i].name;
		e->parsed = &cat.items[i].parsed;
		e->remote = &cat.items[i];
	}

	/* What the remote's policy wants, judged once over both tiers: what
	 * to upload and what to delete there both follow from it. */
	items = calloc(n + 1, sizeof(*items));
	dec = calloc(n + 1, sizeof(*dec));
	verdicts = calloc(n + 1, sizeof(*verdicts));
	if (!items || !dec || !verdicts) {
		r = error_nomem(err);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].db = entries[i].parsed->db;
		items[i].type = entries[i].parsed->type;
		items[i].created = entries[i].parsed->created;
	}
	retention_plan(items, n, remote->keep, opts->now, dec);
	for (size_t i = 0; i < n; i++) {
		struct entry *e = &entries[i];
		e->held = complete(e);
		if (!dec[i].keep)
			continue;
		st->wanted++;
		if (e->held)
			st->present++;
		else    /* only a local backup can be incomplete there */
			todo[ntodo++] = e;
	}

	qsort(todo, ntodo, sizeof(*todo), oldest_first);
	for (size_t i = 0; i < ntodo; i++) {
		if ((r = upload(local, remote, todo[i]->local, opts, st, err)))
			goto done;
		todo[i]->held = true;
		if (todo[i]->remote) {  /* it was there in part: whole now */
			todo[i]->remote->has_data = true;
			todo[i]->remote->size = todo[i]->local->size;
			todo[i]->remote->has_meta = todo[i]->local->has_meta;
		}
	}
	if ((r = remove_half_pairs(remote, &cat, opts->now, st, err)))
		goto done;
	/* The remote's retention: every backup whose data is there now, by the
	 * verdict above. */
	for (size_t i = 0; i < n; i++) {
		const struct entry *e = &entries[i];
		if (!e->held && !(e->remote && e->remote->has_data))
			continue;
		verdicts[nverdicts].e = e->remote && e->remote->has_data ? e->remote : e->local;
		verdicts[nverdicts].d = dec[i];
		nverdicts++;
	}
	qsort(verdicts, nverdicts, sizeof(*verdicts), items_newest_first);
	if ((r = prune_apply(remote, verdicts, nverdicts, false, NULL, &st->pruned, &st->held,
			     err)))
		goto done;
	if (opts->remove_stale && b->ops->remove_stale) {
		struct error serr = {0};
		/* Best effort: leftovers cost space, not correctness. */
		if (b->ops->remove_stale(b->ctx, opts->now - STALE_AGE, &st->stale_removed,
					 &serr) != CB_OK)
			st->stale_removed = 0;
	}
	r = CB_OK;
done:
	upload_journal_end(b, journal);
	free(items);
	free(dec);
	free(verdicts);
	free(entries);
	free(todo);
	catalog_free(&cat);
	catalog_free(&mine);
	return r;
}
