/*
 * One reconcile pass for one remote.
 */
#include "agent/sync.h"
#include "agent/catalog.h"
#include "agent/tier_local.h"
#include "agent/uploads.h"
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
	const struct local_backup *local;   /* NULL if only on the remote */
	const struct remote_backup *remote; /* NULL if only local */
};

/* The remote holds this backup whole: data of the right size, and its
 * metadata when there is any to hold. */
static bool complete(const struct entry *e)
{
	if (!e->remote || !e->remote->has_data)
		return false;
	if (!e->local)
		return true;
	if ((int64_t)e->remote->size != e->local->file_size)
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

static enum result upload(struct backend *b, const char *local_dir,
			  const struct local_backup *lb, const struct sync_opts *opts,
			  struct sync_stats *st, struct error *err)
{
	char *data_path = fs_join(local_dir, lb->name);
	char *meta_path = NULL;
	char *meta_key = NULL;
	char *json = NULL;
	size_t json_len = 0;
	enum result r = CB_OK;

	if (!data_path || asprintf(&meta_path, "%s%s", data_path, META_SUFFIX) < 0 ||
	    asprintf(&meta_key, "%s%s", lb->name, META_SUFFIX) < 0) {
		r = error_nomem(err);
		goto done;
	}
	if (opts->on_upload)
		opts->on_upload(opts->progress_ctx, lb->name, (uint64_t)lb->file_size);
	/* Metadata first: on every tier the data's arrival completes the pair. */
	if (lb->has_meta) {
		if ((r = fs_read_file(meta_path, META_MAX_BYTES, &json, &json_len, err)))
			goto done;
		if ((r = backend_put_buffer(b, meta_key, json, json_len, err)))
			goto done;
	}
	struct put_file_opts po = {
		.sha256_hex = lb->has_meta ? lb->meta.sha256 : NULL,
		.progress = opts->progress,
		.progress_ctx = opts->progress_ctx,
	};
	if ((r = backend_put_file(b, lb->name, data_path, &po, err)))
		goto done;
	st->uploaded++;
	st->bytes += (uint64_t)lb->file_size + json_len;
done:
	free(data_path);
	free(meta_path);
	free(meta_key);
	free(json);
	return r;
}

/* Remove each lone metadata object (<name>.db.gz.json without its data)
 * that this sync did not just complete: nothing will bring its data now.
 * cat is this database's backups only, with what went up marked has_data.
 * Lone ones of backups made after the sync began are left alone: another
 * run of this host (the agent and a push) may be between the two halves. */
static enum result remove_half_pairs(struct backend *b, struct remote_catalog *cat,
				     int64_t now, struct sync_stats *st, struct error *err)
{
	for (size_t i = 0; i < cat->n; i++) {
		struct remote_backup *rb = &cat->items[i];
		if (rb->has_data || !rb->has_meta || rb->parsed.created >= now - HALF_PAIR_GRACE)
			continue;
		char key[BACKUP_NAME_MAX + 8];
		snprintf(key, sizeof(key), "%s%s", rb->name, META_SUFFIX);
		enum result r = backend_remove(b, key, err);
		if (r)
			return r;
		rb->has_meta = false;
		st->halves_removed++;
		log_info("sync", "remote '%s': removed '%s': its backup is not on its way there",
			 b->name, key);
	}
	return CB_OK;
}

void sync_stats_free(struct sync_stats *st)
{
	holdings_free(&st->held);
}

enum result sync_remote(struct backend *b, const struct retention_policy *keep,
			const char *local_dir, const struct sync_opts *opts,
			struct sync_stats *st, struct error *err)
{
	struct local_list local = {0};
	struct backend_listing listing = {0};
	struct remote_catalog cat = {0};
	struct entry *entries = NULL;
	struct entry **todo = NULL;
	struct retention_item *items = NULL;
	struct retention_decision *dec = NULL;
	struct upload_journal *journal = NULL;
	size_t n = 0, ntodo = 0;
	enum result r;

	memset(st, 0, sizeof(*st));
	/* What stopped runs of this host left unfinished there goes first. */
	journal = upload_journal_begin(b, local_dir, &st->unfinished_aborted);
	if ((r = local_list_scan(local_dir, &local, err)))
		goto done;
	if ((r = backend_list(b, "", &listing, err)))
		goto done;
	if ((r = catalog_build(&listing, &cat, err)))
		goto done;
	catalog_warn_unsafe(&cat, "sync", b->name);
	catalog_keep_db(&cat, opts->db);
	local_list_keep_db(&local, opts->db);

	/* Every backup either tier has, once. */
	entries = calloc(local.n + cat.n + 1, sizeof(*entries));
	todo = calloc(local.n + 1, sizeof(*todo));
	if (!entries || !todo) {
		r = error_nomem(err);
		goto done;
	}
	for (size_t i = 0; i < local.n; i++) {
		struct entry *e = &entries[n++];
		e->name = local.items[i].name;
		e->parsed = &local.items[i].parsed;
		e->local = &local.items[i];
		e->remote = catalog_find(&cat, e->name);
	}
	for (size_t i = 0; i < cat.n; i++) {
		bool known = false;
		for (size_t j = 0; j < local.n && !known; j++)
			known = strcmp(local.items[j].name, cat.items[i].name) == 0;
		if (known || !cat.items[i].has_data)
			continue;
		struct entry *e = &entries[n++];
		e->name = cat.items[i].name;
		e->parsed = &cat.items[i].parsed;
		e->remote = &cat.items[i];
	}

	/* What the remote's policy wants, judged over both tiers. */
	items = calloc(n + 1, sizeof(*items));
	dec = calloc(n + 1, sizeof(*dec));
	if (!items || !dec) {
		r = error_nomem(err);
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].db = entries[i].parsed->db;
		items[i].type = entries[i].parsed->type;
		items[i].created = entries[i].parsed->created;
	}
	retention_plan(items, n, keep, opts->now, dec);
	for (size_t i = 0; i < n; i++) {
		if (!dec[i].keep)
			continue;
		st->wanted++;
		if (complete(&entries[i]))
			st->present++;
		else if (entries[i].local)
			todo[ntodo++] = &entries[i];
		else
			st->unavailable++;
	}

	qsort(todo, ntodo, sizeof(*todo), oldest_first);
	for (size_t i = 0; i < ntodo; i++) {
		if ((r = upload(b, local_dir, todo[i]->local, opts, st, err)))
			goto done;
	}
	/* The remote's holdings now: the listing plus what went up. */
	if (ntodo) {
		struct remote_backup *grown = realloc(cat.items, (cat.n + ntodo) * sizeof(*grown));
		if (!grown) {
			r = error_nomem(err);
			goto done;
		}
		cat.items = grown;
		for (size_t i = 0; i < ntodo; i++) {
			const struct local_backup *lb = todo[i]->local;
			struct remote_backup *rb = NULL;
			for (size_t j = 0; j < cat.n && !rb; j++)
				if (strcmp(cat.items[j].name, lb->name) == 0)
					rb = &cat.items[j];
			if (!rb)
				rb = &cat.items[cat.n++];
			memset(rb, 0, sizeof(*rb));
			memcpy(rb->name, lb->name, sizeof(rb->name));
			rb->parsed = lb->parsed;
			rb->has_data = true;
			rb->size = (uint64_t)lb->file_size;
			rb->has_meta = lb->has_meta;
		}
	}
	if ((r = remove_half_pairs(b, &cat, opts->now, st, err)))
		goto done;
	if ((r = prune_catalog(b, &cat, opts->db, keep, opts->now, false, NULL, &st->pruned,
			       &st->held, err)))
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
	free(entries);
	free(todo);
	catalog_free(&cat);
	backend_listing_free(&listing);
	local_list_free(&local);
	return r;
}
