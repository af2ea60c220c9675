/*
 * One reconcile pass for one remote.
 */
#include "agent/tiers/sync.h"
#include "agent/tiers/oplog.h"
#include "agent/tiers/seal.h"
#include "agent/tiers/sync_internal.h"
#include "agent/tiers/uploads.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/meta.h"
#include "common/timeutil.h"
#include "retention/retention.h"

#include <limits.h>
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
	/* Both the object and its .age: an upload cut short, finished anew. */
	if (!e->remote || !e->remote->has_data || e->remote->twin)
		return false;
	if (!e->local)
		return true;
	/* A local age file goes up as it is.  An age file made of a plain
	 * local backup is longer than it by its header and a tag a chunk; its
	 * metadata says by how much exactly. */
	if (e->local->encrypted ? !e->remote->encrypted || e->remote->size != e->local->size
	    : e->remote->encrypted ? e->remote->size <= age_payload_size(e->local->size)
				   : e->remote->size != e->local->size)
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

enum result sync_put(struct tier *remote, const char *key, const char *path, const char *json,
		     size_t json_len, struct put_file_opts *po, bool plain_there, bool age_there,
		     uint64_t *sent, struct error *err)
{
	char meta_key[BACKUP_NAME_MAX + INCR_NAME_MAX + 16], age_key[sizeof(meta_key)];
	char *text = NULL, *with_crypt = NULL;
	size_t text_len = 0;
	struct seal seal;
	enum result r = CB_OK;
	int64_t size = fs_file_size(path);

	snprintf(meta_key, sizeof(meta_key), "%s%s", key, META_SUFFIX);
	snprintf(age_key, sizeof(age_key), "%s%s", key, METACRYPT_SUFFIX);
	*sent = 0;
	if (!remote->encrypt) {
		if (json && ((r = keyring_sign_meta(remote->keys, json, json_len, &text, &text_len,
						    err)) ||
			     (r = backend_put_buffer(remote->backend, meta_key, text, text_len, err))))
			goto done;
		if ((r = backend_put_file(remote->backend, key, path, po, err)) ||
		    (age_there && (r = backend_remove(remote->backend, age_key, err))))
			goto done;
		*sent = (uint64_t)(size > 0 ? size : 0) + text_len;
		goto done;
	}
	if ((r = seal_init(&seal, remote->keys, err)))
		goto done;
	po->filter = &seal.filter;
	r = backend_put_file(remote->backend, age_key, path, po, err);
	po->filter = NULL;
	if (!r && json) {
		struct meta_crypt mc;
		seal_result(&seal, &mc);
		*sent = (uint64_t)mc.object_size;
		if (!(with_crypt = metacrypt_add(json, json_len, &mc)))
			r = error_set(err, CB_ERR_CORRUPT, "local metadata of '%s' is not a JSON object",
				      key);
		else if (!(r = keyring_sign_meta(remote->keys, with_crypt, strlen(with_crypt), &text,
						 &text_len, err)))
			r = backend_put_buffer(remote->backend, meta_key, text, text_len, err);
		*sent += text_len;
	} else if (!r) {
		*sent = seal.bytes;
	}
	if (!r && plain_there)
		r = backend_remove(remote->backend, key, err);
	seal_free(&seal);
done:
	free(text);
	free(with_crypt);
	return r;
}

enum result sync_put_sealed(struct tier *remote, const char *key, const char *path,
			    const char *json, size_t json_len, struct put_file_opts *po,
			    bool plain_there, uint64_t *sent, struct error *err)
{
	char meta_key[BACKUP_NAME_MAX + INCR_NAME_MAX + 16], age_key[sizeof(meta_key)];
	char *text = NULL;
	size_t text_len = 0;
	int64_t size = fs_file_size(path);
	enum result r;

	snprintf(meta_key, sizeof(meta_key), "%s%s", key, META_SUFFIX);
	snprintf(age_key, sizeof(age_key), "%s%s", key, METACRYPT_SUFFIX);
	*sent = 0;
	/* The object first: its metadata's arrival completes the pair. */
	if (!(r = backend_put_file(remote->backend, age_key, path, po, err)) && json &&
	    !(r = keyring_sign_meta(remote->keys, json, json_len, &text, &text_len, err)))
		r = backend_put_buffer(remote->backend, meta_key, text, text_len, err);
	if (!r && plain_there)
		r = backend_remove(remote->backend, key, err);
	if (!r)
		*sent = (uint64_t)(size > 0 ? size : 0) + text_len;
	free(text);
	return r;
}

void sync_audit_upload(const struct tier *local, const struct tier *remote, const char *object,
		       uint64_t bytes, double start, enum result r, const struct error *err)
{
	char detail[128];
	snprintf(detail, sizeof(detail), "to '%s', %llu bytes", remote->name,
		 (unsigned long long)bytes);
	struct oplog_event ev = {
		.op = "upload",
		.object = object,
		.tier = remote->name,
		.bytes = r ? -1 : (int64_t)bytes,
		.outcome = r,
		.seconds = time_mono() - start,
		.detail = r ? err->msg : detail,
		.file_only = true,
	};
	if (local->dir)
		oplog_write(local->dir, &ev);
}

/* Upload one local backup (sync_put); there: the remote's entry of it, if
 * it holds some of it. */
static enum result upload(struct tier *local, struct tier *remote,
			  const struct catalog_entry *lb, const struct catalog_entry *there,
			  const struct sync_opts *opts, struct sync_stats *st, struct error *err)
{
	char meta_key[BACKUP_NAME_MAX + 8];
	char data_path[PATH_MAX];
	char *json = NULL;
	size_t json_len = 0;
	uint64_t sent = 0;
	enum result r = CB_OK;
	double start = time_mono();

	snprintf(data_path, sizeof(data_path), "%s/%s%s", local->dir, lb->name,
		 lb->encrypted ? METACRYPT_SUFFIX : "");
	snprintf(meta_key, sizeof(meta_key), "%s%s", lb->name, META_SUFFIX);
	if (opts->on_upload)
		opts->on_upload(opts->progress_ctx, lb->name, lb->size);
	if (lb->has_meta && (r = backend_get_buffer(local->backend, meta_key, META_MAX_BYTES, &json,
						    &json_len, err)))
		goto done;
	struct put_file_opts po = {
		.sha256_hex = lb->has_meta ? lb->meta->sha256 : NULL,
		.progress = opts->progress,
		.progress_ctx = opts->progress_ctx,
	};
	bool data = there && there->has_data;
	if (lb->encrypted) {
		/* Sealed here already: the metadata records the age file. */
		po.sha256_hex = lb->has_meta ? lb->meta->crypt.object_sha256 : NULL;
		if (!lb->has_meta || !lb->meta->crypt.encrypted) {
			/* Nothing could check it without the key: it stays here, and
			 * the rest of the pass goes on.  Said at every pass. */
			log_warn("sync", "remote '%s': local backup '%s%s' has no metadata that "
				 "records it, so it is not uploaded; HINT: run 'cbsync verify'",
				 remote->name, lb->name, METACRYPT_SUFFIX);
			st->skipped++;
			goto done;
		}
		r = sync_put_sealed(remote, lb->name, data_path, json, json_len, &po,
				    data && (!there->encrypted || there->twin), &sent, err);
	} else {
		r = sync_put(remote, lb->name, data_path, json, json_len, &po,
			     data && (!there->encrypted || there->twin),
			     data && (there->encrypted || there->twin), &sent, err);
	}
	sync_audit_upload(local, remote, lb->name, sent, start, r, err);
	if (r)
		goto done;
	st->uploaded++;
	st->bytes += sent;
done:
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

/* Which entries start a chain that the remote's keep_increments window
 * still needs and that either tier holds increments of (chain[i]). */
static enum result chains_needed(const struct entry *entries, size_t n, const struct catalog *mine,
				 const struct catalog *cat, const struct retention_policy *keep,
				 int64_t now, bool *chain, struct error *err)
{
	const struct entry **order = calloc(n + 1, sizeof(*order));
	int64_t *bases = calloc(n + 1, sizeof(*bases));
	bool *needed = calloc(n + 1, sizeof(*needed));
	if (!order || !bases || !needed) {
		free(order);
		free(bases);
		free(needed);
		return error_nomem(err);
	}
	for (size_t i = 0; i < n; i++)
		order[i] = &entries[i];
	qsort(order, n, sizeof(*order), oldest_first);
	for (size_t i = 0; i < n; i++)
		bases[i] = order[i]->parsed->created;
	retention_chains(bases, n, &keep->increments, now, needed);
	for (size_t i = 0; i < n; i++) {
		size_t k = (size_t)(order[i] - entries), nl = 0, nr = 0;
		catalog_chain(mine, entries[k].name, &nl);
		catalog_chain(cat, entries[k].name, &nr);
		chain[k] = needed[i] && (nl || nr);
	}
	free(order);
	free(bases);
	free(needed);
	return CB_OK;
}

/* Ship the chains the remote should hold, oldest first: those of the
 * snapshots it holds now whose chains are needed. */
static enum result ship_chains(struct tier *local, struct tier *remote, struct entry *entries,
			       size_t n, const bool *chain, const struct catalog *mine,
			       const struct catalog *cat, struct sync_stats *st,
			       struct error *err)
{
	int64_t newest_base = 0;
	for (size_t i = 0; i < n; i++) {
		struct entry *e = &entries[i];
		if (!e->held)
			continue;
		struct sync_reach reach = {0};
		if (chain[i] && e->local) {
			enum result r = sync_chain(local, remote, e->name, mine, cat, st, &reach,
						   err);
			if (r)
				return r;
		}
		if (e->parsed->created >= newest_base) {
			newest_base = e->parsed->created;
			st->newest = reach.time > e->parsed->created ? reach.time : e->parsed->created;
			st->broken[0] = '\0';
			if (reach.gap)
				snprintf(st->broken, sizeof(st->broken),
					 "it cannot follow chain %s past seq %llu: that increment is "
					 "on neither tier", e->name, (unsigned long long)reach.gap);
		}
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
	bool *chain = NULL;
	struct upload_journal *journal = NULL;
	struct backend *b = remote->backend;
	size_t n = 0, ntodo = 0, nverdicts = 0;
	enum result r;

	memset(st, 0, sizeof(*st));
	if (!remote->log_dir)
		remote->log_dir = local->dir;   /* its retention's deletions, recorded */
	/* One listing for the whole pass, kept in step with its own uploads
	 * and deletions (the agent's workers keep theirs between passes;
	 * anyone else lists afresh next time). */
	bool own_cache = !b->cache;
	if (own_cache && !backend_cache_enable(b, 3600))
		return error_nomem(err);
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
	chain = calloc(n + 1, sizeof(*chain));
	if (!items || !dec || !verdicts || !chain) {
		r = error_nomem(err);
		goto done;
	}
	if ((r = chains_needed(entries, n, &mine, &cat, remote->keep, opts->now, chain, err)))
		goto done;
	for (size_t i = 0; i < n; i++) {
		items[i].db = entries[i].parsed->db;
		items[i].type = entries[i].parsed->type;
		items[i].created = entries[i].parsed->created;
		items[i].chain = chain[i];
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
		if ((r = upload(local, remote, todo[i]->local, todo[i]->remote, opts, st, err)))
			goto done;
		todo[i]->held = true;
		if (todo[i]->remote) {  /* it was there in part: whole now */
			todo[i]->remote->has_data = true;
			todo[i]->remote->size = todo[i]->local->size;
			todo[i]->remote->has_meta = todo[i]->local->has_meta;
		}
	}
	for (size_t i = 0; i < n; i++)
		if (!dec[i].keep)
			chain[i] = false;
	if ((r = ship_chains(local, remote, entries, n, chain, &mine, &cat, st, err)))
		goto done;
	if ((r = remove_half_pairs(remote, &cat, opts->now, st, err)))
		goto done;
	/* The chains the window lets go of, before their snapshots (as on the
	 * local tier), judged on what the remote holds now. */
	struct catalog now_there = {0};
	struct prune_result chains_res = {0};
	r = tier_catalog(remote, opts->db, NULL, &now_there, err);  /* warned above */
	if (!r)
		r = prune_chains(remote, &now_there, opts->db, opts->now, &chains_res, err);
	catalog_free(&now_there);
	if (r)
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
	st->pruned.chains_deleted = chains_res.chains_deleted;
	st->pruned.chains_kept = chains_res.chains_kept;
	st->pruned.incrs_deleted = chains_res.incrs_deleted;
	st->pruned.freed += chains_res.freed;
	if (opts->remove_stale && b->ops->remove_stale) {
		struct error serr = {0};
		/* Best effort: leftovers cost space, not correctness. */
		if (b->ops->remove_stale(b->ctx, opts->now - STALE_AGE, &st->stale_removed,
					 &serr) != CB_OK)
			st->stale_removed = 0;
	}
	r = CB_OK;
done:
	if (own_cache)
		backend_cache_disable(b);
	upload_journal_end(b, journal);
	free(items);
	free(dec);
	free(verdicts);
	free(chain);
	free(entries);
	free(todo);
	catalog_free(&cat);
	catalog_free(&mine);
	return r;
}
