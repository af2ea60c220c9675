/*
 * Tiers: opening, listing candidates, fetching with checks.
 */
#include "agent/tiers.h"
#include "agent/catalog.h"
#include "agent/gzstream.h"
#include "agent/tier_local.h"
#include "common/fsutil.h"
#include "common/meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void tier_label(const struct tier *t, char *buf, size_t size)
{
	if (t->remote)
		snprintf(buf, size, "remote '%s'", t->name);
	else
		snprintf(buf, size, "local");
}

enum result tiers_open(struct tier_set *set, const struct conf *c, const char *which,
		       struct error *err)
{
	bool all = !which || strcmp(which, "all") == 0;
	set->n = 0;
	set->max_size = c->restore_max_size;
	set->tiers = calloc(c->n_remotes + 1, sizeof(*set->tiers));
	if (!set->tiers)
		return error_nomem(err);
	if (all || strcmp(which, "local") == 0)
		set->tiers[set->n++] = (struct tier){.name = "local"};
	for (size_t i = 0; i < c->n_remotes; i++) {
		const struct conf_remote *rc = &c->remotes[i];
		if (!all && strcmp(which, rc->name) != 0)
			continue;
		struct tier *t = &set->tiers[set->n];
		*t = (struct tier){.name = rc->name, .remote = rc};
		enum result r = backend_open(rc, &t->backend, err);
		if (r) {
			tiers_close(set);
			return r;
		}
		set->n++;
	}
	if (set->n == 0) {
		char src[512];
		tiers_close(set);
		conf_describe_sources(c, src, sizeof(src));
		return error_set(err, CB_ERR_USAGE,
				 "there is no tier named '%s' (local, all, or a configured remote); %s",
				 which, src);
	}
	return CB_OK;
}

void tiers_close(struct tier_set *set)
{
	for (size_t i = 0; i < set->n; i++)
		backend_close(set->tiers[i].backend);
	free(set->tiers);
	set->tiers = NULL;
	set->n = 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct candidate *x = a, *y = b;
	if (x->parsed.created != y->parsed.created)
		return x->parsed.created > y->parsed.created ? -1 : 1;
	int c = strcmp(x->name, y->name);
	if (c)
		return -c;
	return x->tier < y->tier ? -1 : x->tier > y->tier;
}

static enum result push_candidate(struct candidate_list *l, size_t *cap,
				  const struct candidate *c)
{
	if (l->n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct candidate *ni = realloc(l->items, ncap * sizeof(*ni));
		if (!ni)
			return CB_ERR_NOMEM;
		l->items = ni;
		*cap = ncap;
	}
	l->items[l->n++] = *c;
	return CB_OK;
}

enum result tiers_candidates(struct tier_set *set, const struct conf *c,
			     struct candidate_list *out, struct error *err)
{
	size_t cap = 0;
	out->items = NULL;
	out->n = 0;
	for (size_t i = 0; i < set->n; i++) {
		struct tier *t = &set->tiers[i];
		t->listed = false;
		if (!t->remote) {
			struct local_list local;
			if (local_list_scan(c->local_dir, &local, &t->list_error))
				continue;
			t->listed = true;
			for (size_t k = 0; k < local.n; k++) {
				struct candidate cand = {.parsed = local.items[k].parsed, .tier = i,
							 .size = (uint64_t)local.items[k].file_size,
							 .has_meta = local.items[k].has_meta};
				memcpy(cand.name, local.items[k].name, sizeof(cand.name));
				if (push_candidate(out, &cap, &cand)) {
					local_list_free(&local);
					goto nomem;
				}
			}
			local_list_free(&local);
			continue;
		}
		struct backend_listing l;
		struct remote_catalog cat;
		if (backend_list(t->backend, "", &l, &t->list_error))
			continue;
		enum result r = catalog_build(&l, &cat, &t->list_error);
		backend_listing_free(&l);
		if (r)
			continue;
		catalog_warn_unsafe(&cat, "tiers", t->name);
		t->listed = true;
		for (size_t k = 0; k < cat.n; k++) {
			if (!cat.items[k].has_data)
				continue;
			struct candidate cand = {.parsed = cat.items[k].parsed, .tier = i,
						 .size = cat.items[k].size,
						 .has_meta = cat.items[k].has_meta};
			memcpy(cand.name, cat.items[k].name, sizeof(cand.name));
			if (push_candidate(out, &cap, &cand)) {
				catalog_free(&cat);
				goto nomem;
			}
		}
		catalog_free(&cat);
	}
	if (out->n)
		qsort(out->items, out->n, sizeof(*out->items), newest_first);
	return CB_OK;
nomem:
	candidates_free(out);
	return error_nomem(err);
}

void candidates_free(struct candidate_list *l)
{
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

struct download {
	struct gz_reader *gz;
	struct progress *bar;
	const char *name;
	uint64_t listed;  /* the size the listing gave */
	uint64_t done;
};

static enum result to_reader(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct download *d = ctx;
	if (len > d->listed - d->done)
		return error_set(err, CB_ERR_CORRUPT,
				 "backup '%s' is corrupt: the remote sent more than the %llu "
				 "bytes its listing gave; stopped there",
				 d->name, (unsigned long long)d->listed);
	d->done += len;
	progress_update(d->bar, d->done);
	return gz_reader_feed(d->gz, buf, len, err);
}

/* Metadata of a remote backup: fetched, parsed, and naming that backup. */
static enum result remote_meta(struct tier *t, const char *name, struct backup_meta *meta,
			       struct error *err)
{
	char key[BACKUP_NAME_MAX + 8], *text = NULL;
	size_t len = 0;
	snprintf(key, sizeof(key), "%s%s", name, META_SUFFIX);
	enum result r = backend_get_buffer(t->backend, key, META_MAX_BYTES, &text, &len, err);
	if (r)
		return r;
	r = meta_from_json(text, len, meta, err);
	free(text);
	if (r)
		return r;
	if (strcmp(meta->name, name) != 0)
		return error_set(err, CB_ERR_CORRUPT, "its metadata describes another backup (%s)",
				 meta->name);
	return CB_OK;
}

enum result tiers_fetch(struct tier_set *set, const struct candidate *cand, const char *local_dir,
			int out_fd, const char *out_path, struct progress *bar,
			struct check_result *res, struct backup_meta *meta, bool *have_meta,
			struct error *err)
{
	struct tier *t = &set->tiers[cand->tier];
	enum result r;
	*have_meta = false;
	if (!t->remote) {
		char *path = fs_join(local_dir, cand->name);
		if (!path)
			return error_nomem(err);
		if (cand->has_meta) {
			if ((r = local_read_meta(path, meta, err)) == CB_OK &&
			    strcmp(meta->name, cand->name) != 0)
				r = error_set(err, CB_ERR_CORRUPT,
					      "its metadata describes another backup (%s)", meta->name);
			if (r) {
				if (r == CB_ERR_CORRUPT)
					error_prefix(err, "backup '%s' is refused", cand->name);
				free(path);
				return r;
			}
			*have_meta = true;
		}
		int in = open(path, O_RDONLY | O_CLOEXEC);
		if (in < 0) {
			r = error_errno(err, errno, path);
			free(path);
			return r;
		}
		r = check_backup(in, cand->name, *have_meta ? meta : NULL, set->max_size, out_fd,
				 out_path, bar, res, err);
		close(in);
		free(path);
		return r;
	}

	if (cand->has_meta) {
		if ((r = remote_meta(t, cand->name, meta, err))) {
			if (r == CB_ERR_CORRUPT)
				error_prefix(err, "backup '%s' is refused", cand->name);
			return r;
		}
		*have_meta = true;
	}
	struct check_sink sink;
	struct download d = {.bar = bar, .name = cand->name, .listed = cand->size};
	if ((r = check_sink_init(&sink, out_fd, out_path, cand->name, *have_meta ? meta : NULL,
				 set->max_size, err)))
		return r;
	if ((r = gz_reader_new(&d.gz, check_sink_write, &sink, err)))
		return r;
	r = backend_get(t->backend, cand->name, to_reader, &d, err);
	struct gz_read_result gz;
	if (!r)
		r = gz_reader_finish(d.gz, &gz, err);
	gz_reader_free(d.gz);
	if (r) {
		if (r == CB_ERR_CORRUPT && strncmp(err->msg, "backup '", 8) != 0)
			error_prefix(err, "backup '%s' is corrupt", cand->name);
		return r;
	}
	if (fsync(out_fd) != 0)
		return error_errno(err, errno, out_path);
	progress_phase(bar, "checking integrity (PRAGMA integrity_check)");
	return check_decompressed(&gz, cand->name, *have_meta ? meta : NULL, out_path, res, err);
}
