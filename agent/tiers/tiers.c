/*
 * Tiers: opening, listing, reading metadata, deleting, fetching with checks.
 */
#include "agent/tiers/tiers.h"
#include "agent/engine/gzstream.h"
#include "agent/tiers/packed.h"
#include "backends/local/local.h"
#include "common/meta.h"
#include "crypto/age.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum result tier_open_local(struct tier *t, const char *dir, const struct retention_policy *keep,
			    struct error *err)
{
	*t = (struct tier){.name = "local", .dir = dir, .keep = keep, .log_dir = dir};
	return local_tier_open(dir, &t->backend, err);
}

enum result tier_open_remote(struct tier *t, const struct conf_remote *rc, struct error *err)
{
	*t = (struct tier){.name = rc->name, .remote = rc, .keep = &rc->keep,
			   .encrypt = rc->encrypt};
	return backend_open(rc, &t->backend, err);
}

void tier_close(struct tier *t)
{
	backend_close(t->backend);
	t->backend = NULL;
}

void tier_label(const struct tier *t, char *buf, size_t size)
{
	if (!t->dir)
		snprintf(buf, size, "remote '%s'", t->name);
	else
		snprintf(buf, size, "local");
}

/* The metadata of backup name on t: fetched, parsed, and naming it. */
static enum result read_meta(struct tier *t, const char *name, struct backup_meta *meta,
			     struct error *err)
{
	char key[BACKUP_NAME_MAX + 8], *text = NULL;
	size_t len = 0;
	snprintf(key, sizeof(key), "%s%s", name, META_SUFFIX);
	enum result r = backend_get_buffer(t->backend, key, META_MAX_BYTES, &text, &len, err);
	if (r)
		return r;
	if (!t->dir)
		r = keyring_check_meta(t->keys, text, len, err);
	if (!r)
		r = meta_from_json(text, len, meta, err);
	free(text);
	if (r)
		return r;
	if (strcmp(meta->name, name) != 0)
		return error_set(err, CB_ERR_CORRUPT, "its metadata describes another backup (%s)",
				 meta->name);
	return CB_OK;
}

enum result tier_read_meta(struct tier *t, struct catalog_entry *e, struct error *err)
{
	if (e->meta)
		return CB_OK;
	if (!e->has_meta)
		return error_set(err, CB_ERR_NOT_FOUND, "backup '%s' has no metadata", e->name);
	struct backup_meta *m = malloc(sizeof(*m));
	if (!m)
		return error_nomem(err);
	enum result r = read_meta(t, e->name, m, err);
	if (r) {
		free(m);
		return r;
	}
	e->meta = m;
	return CB_OK;
}

/* The metadata text of packed increment e, from the first bytes of its
 * object; e->head_len set. */
static enum result read_packed(struct tier *t, struct catalog_incr *e, char **text, size_t *len,
			       struct error *err)
{
	char *head = NULL;
	size_t got = 0;
	size_t max = e->size < PACKED_HEAD_MAX ? (size_t)e->size : PACKED_HEAD_MAX;
	enum result r = backend_get_head(t->backend, e->key, max, &head, &got, err);
	if (r)
		return r;
	r = packed_parse(head, got, text, len, &e->head_len, err);
	free(head);
	if (!r && *len > META_MAX_BYTES) {
		free(*text);
		r = error_set(err, CB_ERR_CORRUPT, "its metadata is over %d bytes", META_MAX_BYTES);
	}
	if (r == CB_ERR_CORRUPT)
		error_prefix(err, "increment '%s'", e->key);
	return r;
}

enum result tier_read_incr_meta(struct tier *t, struct catalog_incr *e, struct error *err)
{
	if (e->meta)
		return CB_OK;
	if (!e->has_meta)
		return error_set(err, CB_ERR_NOT_FOUND, "increment '%s' has no metadata", e->key);
	char key[INCR_NAME_MAX + 8], *text = NULL;
	size_t len = 0;
	enum result r;
	if (e->packed) {
		if ((r = read_packed(t, e, &text, &len, err)))
			return r;
	} else {
		snprintf(key, sizeof(key), "%s%s", e->key, META_SUFFIX);
		if ((r = backend_get_buffer(t->backend, key, META_MAX_BYTES, &text, &len, err)))
			return r;
	}
	struct incr_meta *m = malloc(sizeof(*m));
	if (!m) {
		free(text);
		return error_nomem(err);
	}
	r = t->dir ? CB_OK : keyring_check_meta(t->keys, text, len, err);
	if (!r)
		r = incr_meta_from_json(text, len, m, err);
	free(text);
	e->meta_len = len;
	if (!r && strcmp(m->name, e->key) != 0)
		r = error_set(err, CB_ERR_CORRUPT,
			      "its metadata describes another increment (%s)", m->name);
	else if (!r && m->crypt.encrypted != e->encrypted)
		r = error_set(err, CB_ERR_CORRUPT, "its metadata says it is %s, its object is %s",
			      m->crypt.encrypted ? "encrypted" : "not encrypted",
			      e->encrypted ? "an .age file" : "not");
	else if (!r && e->encrypted && e->size != (uint64_t)m->crypt.object_size)
		r = error_set(err, CB_ERR_CORRUPT, "its object is %llu bytes, its metadata says %lld",
			      (unsigned long long)e->size, (long long)m->crypt.object_size);
	else if (!r && e->packed && e->size != e->head_len + (uint64_t)m->compressed_size)
		r = error_set(err, CB_ERR_CORRUPT, "its object is %llu bytes, its metadata "
			      "says %zu + %lld", (unsigned long long)e->size, e->head_len,
			      (long long)m->compressed_size);
	if (r) {
		free(m);
		if (r == CB_ERR_CORRUPT)
			error_prefix(err, "increment '%s'", e->key);
		return r;
	}
	e->meta = m;
	return CB_OK;
}

enum result tier_catalog(struct tier *t, const char *db, const char *comp, struct catalog *out,
			 struct error *err)
{
	struct backend_listing l = {0};
	enum result r = backend_list(t->backend, "", &l, err);
	if (!r)
		r = catalog_build(&l, out, err);
	backend_listing_free(&l);
	if (r)
		return r;
	if (!t->dir && comp)  /* the local directory's odd names were never reported */
		catalog_warn_unsafe(out, comp, t->name);
	if (db)
		catalog_keep_db(out, db);
	/* On a remote, an increment's object without a .json beside it holds
	 * its metadata itself (packed.h); read, it must. */
	for (size_t i = 0; !t->dir && i < out->n_incrs; i++) {
		struct catalog_incr *e = &out->incrs[i];
		if (e->has_data && !e->has_meta && !e->encrypted)
			e->packed = e->has_meta = true;
	}
	/* Only whole backups: a lone metadata file in the local directory is
	 * what a killed run left, tidied under the lock (local_cleanup_stale). */
	size_t w = 0;
	for (size_t i = 0; t->dir && i < out->n; i++)
		if (out->items[i].has_data)
			out->items[w++] = out->items[i];
	if (t->dir)
		out->n = w;
	for (size_t i = 0; t->dir && i < out->n; i++) {
		struct catalog_entry *e = &out->items[i];
		struct error merr = {0};
		r = tier_read_meta(t, e, &merr);
		if (r == CB_ERR_NOMEM) {
			catalog_free(out);
			return error_nomem(err);
		}
		if (r && r != CB_ERR_NOT_FOUND && !(e->meta_error = strdup(merr.msg))) {
			catalog_free(out);
			return error_nomem(err);
		}
		e->has_meta = r == CB_OK;
	}
	return CB_OK;
}

enum result tier_catalog_local(const struct conf *c, const char *comp, struct catalog *out,
			       struct error *err)
{
	struct tier local;
	enum result r = tier_open_local(&local, c->local_dir, &c->local_keep, err);
	if (!r)
		r = tier_catalog(&local, NULL, comp, out, err);
	tier_close(&local);
	return r;
}

enum result tier_delete(struct tier *t, const struct catalog_entry *e, struct error *err)
{
	char meta_key[BACKUP_NAME_MAX + 8], age_key[BACKUP_NAME_MAX + 8];
	snprintf(meta_key, sizeof(meta_key), "%s%s", e->name, META_SUFFIX);
	snprintf(age_key, sizeof(age_key), "%s%s", e->name, METACRYPT_SUFFIX);
	enum result r = CB_OK;
	if (e->encrypted || e->twin || t->encrypt)
		r = backend_remove(t->backend, age_key, err);
	if (!r && (!e->encrypted || e->twin))
		r = backend_remove(t->backend, e->name, err);
	if (!r)
		r = backend_remove(t->backend, meta_key, err);
	return r;
}

enum result tiers_open(struct tier_set *set, const struct conf *c, const char *which,
		       struct error *err)
{
	bool all = !which || strcmp(which, "all") == 0;
	enum result r;
	set->n = 0;
	set->max_size = c->restore_max_size;
	set->keys = NULL;
	set->tiers = calloc(c->n_remotes + 1, sizeof(*set->tiers));
	if (!set->tiers)
		return error_nomem(err);
	if ((r = keyring_load(c, &set->keys, err))) {
		tiers_close(set);
		return r;
	}
	if (all || strcmp(which, "local") == 0) {
		if ((r = tier_open_local(&set->tiers[0], c->local_dir, &c->local_keep, err))) {
			tiers_close(set);
			return r;
		}
		set->n++;
	}
	for (size_t i = 0; i < c->n_remotes; i++) {
		const struct conf_remote *rc = &c->remotes[i];
		if (!all && strcmp(which, rc->name) != 0)
			continue;
		if ((r = tier_open_remote(&set->tiers[set->n], rc, err))) {
			tiers_close(set);
			return r;
		}
		set->tiers[set->n].keys = set->keys;
		set->tiers[set->n].log_dir = c->local_dir;
		set->n++;
	}
	if (set->n && set->tiers[0].dir)
		set->tiers[0].keys = set->keys;
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
		tier_close(&set->tiers[i]);
	free(set->tiers);
	keyring_free(set->keys);
	set->keys = NULL;
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

enum result tiers_candidates(struct tier_set *set, struct candidate_list *out,
			     struct error *err)
{
	size_t cap = 0;
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < set->n; i++) {
		struct tier *t = &set->tiers[i];
		struct catalog cat;
		t->listed = false;
		if (tier_catalog(t, NULL, "tiers", &cat, &t->list_error))
			continue;
		t->listed = true;
		if (cat.n_incrs) {
			struct incr_candidate *ni = realloc(out->incrs, (out->n_incrs + cat.n_incrs) *
								 sizeof(*ni));
			if (!ni) {
				catalog_free(&cat);
				candidates_free(out);
				return error_nomem(err);
			}
			out->incrs = ni;
			/* The list takes the entries over, metadata and all. */
			for (size_t k = 0; k < cat.n_incrs; k++) {
				out->incrs[out->n_incrs++] = (struct incr_candidate){
					.e = cat.incrs[k], .tier = i};
				cat.incrs[k].meta = NULL;
				cat.incrs[k].meta_error = NULL;
			}
		}
		for (size_t k = 0; k < cat.n; k++) {
			const struct catalog_entry *e = &cat.items[k];
			if (!e->has_data)
				continue;
			if (out->n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct candidate *ni = realloc(out->items, ncap * sizeof(*ni));
				if (!ni) {
					catalog_free(&cat);
					candidates_free(out);
					return error_nomem(err);
				}
				out->items = ni;
				cap = ncap;
			}
			struct candidate *cand = &out->items[out->n++];
			*cand = (struct candidate){.parsed = e->parsed, .tier = i, .size = e->size,
						   .has_meta = e->has_meta, .encrypted = e->encrypted};
			memcpy(cand->name, e->name, sizeof(cand->name));
		}
		catalog_free(&cat);
	}
	if (out->n)
		qsort(out->items, out->n, sizeof(*out->items), newest_first);
	return CB_OK;
}

void candidates_free(struct candidate_list *l)
{
	for (size_t i = 0; i < l->n_incrs; i++) {
		free(l->incrs[i].e.meta);
		free(l->incrs[i].e.meta_error);
	}
	free(l->incrs);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

struct download {
	stream_write_fn sink;
	void *sink_ctx;
	struct progress *bar;
	const char *what;  /* "backup", "increment" */
	const char *name;
	const char *from;  /* "remote", "file" */
	uint64_t listed;  /* the size the listing gave */
	uint64_t skip;    /* bytes not passed on */
	uint64_t done;
	struct age_dec *dec;     /* an encrypted object's: sink gets its plaintext */
};

/* Pass what a tier sends on, no more than its listing said it holds, less
 * the first skip bytes (a packed increment's metadata member). */
static enum result bounded(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct download *d = ctx;
	if (len > d->listed - d->done)
		return error_set(err, CB_ERR_CORRUPT,
				 "%s '%s' is corrupt: the %s sent more than the %llu "
				 "bytes its listing gave; stopped there",
				 d->what, d->name, d->from, (unsigned long long)d->listed);
	size_t skip = d->done < d->skip ? (size_t)(d->skip - d->done) : 0;
	d->done += len;
	progress_update(d->bar, d->done);
	if (skip >= len)
		return CB_OK;
	if (d->dec)
		return age_dec_write(d->dec, (const char *)buf + skip, len - skip, err);
	return d->sink(d->sink_ctx, (const char *)buf + skip, len - skip, err);
}

/* Get an object from t through d, decrypting it first when encrypted:
 * then with t's identities, its size checked against mc (its metadata's,
 * when there is one).  Its SHA-256 is not: every chunk's tag and the
 * header's MAC authenticate what is decrypted, and the caller checks the
 * plaintext's SHA-256 against the metadata (the object's is for checks
 * without the key, tiers_check_sealed).  A missing or wrong key is one
 * line that names the object and the recipients it is for. */
static enum result get_object(struct tier *t, const char *key, bool encrypted,
			      const struct meta_crypt *mc, struct download *d, struct error *err)
{
	char fprs[METACRYPT_MAX_RECIPIENTS * 18 + 32], mine[512];
	if (mc && mc->encrypted != encrypted)
		return error_set(err, CB_ERR_CORRUPT,
				 "%s '%s' is refused: its metadata says it is %s, the object is %s",
				 d->what, d->name, mc->encrypted ? "encrypted" : "not encrypted",
				 encrypted ? "an age file (.age)" : "not");
	if (!encrypted)
		return backend_get(t->backend, key, bounded, d, err);
	if (mc)
		metacrypt_recipients_text(mc, fprs, sizeof(fprs));
	else
		snprintf(fprs, sizeof(fprs), "unknown: it has no metadata");
	const struct keyring *k = t->keys;
	if (!keyring_can_decrypt(k))
		return error_set(err, CB_ERR_CONFIG,
				 "%s '%s' is encrypted (to recipients %s), and [encryption] has no "
				 "key to decrypt it; HINT: set [encryption] identity_file to the "
				 "identity of one of those recipients (cbsync keygen wrote it), or "
				 "passphrase_file",
				 d->what, d->name, fprs);
	struct age_identities ids = keyring_identities(k);
	enum result r = age_dec_new(&ids, d->sink, d->sink_ctx, &d->dec, err);
	if (r)
		return r;
	r = backend_get(t->backend, key, bounded, d, err);
	if (!r)
		r = age_dec_finish(d->dec, err);
	if (r == CB_ERR_CONFIG && age_dec_failure(d->dec) == AGE_FAIL_NO_MATCH) {
		keyring_identities_text(k, mine, sizeof(mine));
		r = error_set(err, CB_ERR_CONFIG,
			      "%s '%s' cannot be decrypted: it is for recipients %s, and "
			      "[encryption] holds %s%s%s; HINT: use the identity of one of those "
			      "recipients",
			      d->what, d->name, fprs,
			      k->n_identities ? "identities " : "no identity",
			      k->n_identities ? mine : "", k->passphrase ? " and a passphrase" : "");
	} else if (r == CB_ERR_CORRUPT && strncmp(err->msg, d->what, strlen(d->what)) != 0) {
		error_prefix(err, "%s '%s' is corrupt", d->what, d->name);
	} else if (!r && mc && d->done != (uint64_t)mc->object_size) {
		r = error_set(err, CB_ERR_CORRUPT,
			      "%s '%s' is corrupt: its object's size is not what its metadata "
			      "says",
			      d->what, d->name);
	}
	age_dec_free(d->dec);
	d->dec = NULL;
	return r;
}

static enum result to_reader(void *ctx, const void *buf, size_t len, struct error *err)
{
	return gz_reader_feed(ctx, buf, len, err);
}

enum result tiers_candidate_meta(struct tier_set *set, const struct candidate *cand,
				 struct backup_meta *meta, struct error *err)
{
	if (!cand->has_meta)
		return error_set(err, CB_ERR_NOT_FOUND, "backup '%s' has no metadata", cand->name);
	enum result r = read_meta(&set->tiers[cand->tier], cand->name, meta, err);
	if (r == CB_ERR_CORRUPT)
		error_prefix(err, "backup '%s' is refused", cand->name);
	return r;
}

enum result tier_fetch_incr(struct tier *t, const struct catalog_incr *e, stream_write_fn sink,
			    void *sink_ctx, struct error *err)
{
	if (e->packed && !e->meta)
		return error_set(err, CB_ERR_USAGE, "increment '%s': its metadata was not read",
				 e->key);
	struct download d = {.sink = sink, .sink_ctx = sink_ctx, .what = "increment",
			     .name = e->key, .listed = e->size, .skip = e->packed ? e->head_len : 0,
			     .from = t->dir ? "file" : "remote"};
	char key[INCR_NAME_MAX + 8];
	return get_object(t, catalog_incr_data_key(e, key, sizeof(key)), e->encrypted,
			  e->meta ? &e->meta->crypt : NULL, &d, err);
}

enum result tiers_fetch_incr(struct tier_set *set, const struct incr_candidate *ic,
			     stream_write_fn sink, void *sink_ctx, struct error *err)
{
	return tier_fetch_incr(&set->tiers[ic->tier], &ic->e, sink, sink_ctx, err);
}

static enum result fetch(struct tier_set *set, const struct candidate *cand, int out_fd,
			 const char *out_path, struct progress *bar, bool db_checks,
			 struct check_result *res, struct backup_meta *meta, bool *have_meta,
			 struct error *err)
{
	struct tier *t = &set->tiers[cand->tier];
	enum result r;
	*have_meta = false;
	if (!cand->has_meta && !t->dir && t->keys && t->keys->verifier)
		return error_set(err, CB_ERR_CORRUPT,
				 "backup '%s' on remote '%s' is refused: it has no metadata, so no "
				 "signature, and [signing] verify_key (%s) requires one",
				 cand->name, t->name, sign_key_fingerprint(t->keys->verifier));
	if (cand->has_meta) {
		if ((r = read_meta(t, cand->name, meta, err))) {
			if (r == CB_ERR_CORRUPT)
				error_prefix(err, "backup '%s' is refused", cand->name);
			return r;
		}
		*have_meta = true;
	}
	struct check_sink sink;
	struct gz_reader *gzr = NULL;
	if ((r = check_sink_init(&sink, out_fd, out_path, cand->name, *have_meta ? meta : NULL,
				 set->max_size, err)))
		return r;
	if ((r = gz_reader_new(&gzr, check_sink_write, &sink, err))) {
		check_sink_free(&sink);
		return r;
	}
	struct download d = {.sink = to_reader, .sink_ctx = gzr, .bar = bar, .what = "backup",
			     .name = cand->name, .listed = cand->size,
			     .from = t->dir ? "file" : "remote"};
	char key[BACKUP_NAME_MAX + 8];
	snprintf(key, sizeof(key), "%s%s", cand->name, cand->encrypted ? METACRYPT_SUFFIX : "");
	r = get_object(t, key, cand->encrypted, *have_meta ? &meta->crypt : NULL, &d, err);
	struct gz_read_result gz;
	if (!r)
		r = gz_reader_finish(gzr, &gz, err);
	gz_reader_free(gzr);
	if (!r)
		r = check_sink_finish(&sink, err);
	if (r) {
		if (r == CB_ERR_CORRUPT && strncmp(err->msg, "backup '", 8) != 0)
			error_prefix(err, "backup '%s' is corrupt", cand->name);
	} else if (!db_checks) {
		r = check_compressed(&gz, cand->name, *have_meta ? meta : NULL, res, err);
	} else {
		progress_phase(bar, "checking integrity (PRAGMA integrity_check)");
		r = check_decompressed(&gz, cand->name, *have_meta ? meta : NULL, out_path, &sink,
				       res, err);
	}
	if (!r)
		r = check_sink_sync(&sink, err);
	res->decrypted = cand->encrypted;
	check_sink_free(&sink);
	return r;
}

static enum result hash_only(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)err;
	sha256_update(ctx, buf, len);
	return CB_OK;
}

enum result tiers_check_sealed(struct tier_set *set, const struct candidate *cand,
			       struct backup_meta *meta, struct error *err)
{
	struct tier *t = &set->tiers[cand->tier];
	enum result r;
	if (!cand->has_meta)
		return error_set(err, CB_ERR_CORRUPT,
				 "backup '%s' is encrypted and has no metadata: nothing to check it "
				 "against without its key",
				 cand->name);
	if ((r = read_meta(t, cand->name, meta, err))) {
		if (r == CB_ERR_CORRUPT)
			error_prefix(err, "backup '%s' is refused", cand->name);
		return r;
	}
	if (!meta->crypt.encrypted)
		return error_set(err, CB_ERR_CORRUPT,
				 "backup '%s' is refused: its metadata says it is not encrypted, the "
				 "object is an .age file",
				 cand->name);
	struct sha256 h;
	if ((r = sha256_init(&h, err)))
		return r;
	struct download d = {.sink = hash_only, .sink_ctx = &h, .what = "backup",
			     .name = cand->name, .listed = cand->size,
			     .from = t->dir ? "file" : "remote"};
	char key[BACKUP_NAME_MAX + 8];
	snprintf(key, sizeof(key), "%s%s", cand->name, METACRYPT_SUFFIX);
	r = backend_get(t->backend, key, bounded, &d, err);
	uint8_t digest[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	sha256_final(&h, digest);
	hex_encode(digest, sizeof(digest), hex);
	if (!r && (strcmp(hex, meta->crypt.object_sha256) != 0 ||
		   d.done != (uint64_t)meta->crypt.object_size))
		r = error_set(err, CB_ERR_CORRUPT,
			      "backup '%s' is corrupt: its object's SHA-256 or size is not what its "
			      "metadata says",
			      cand->name);
	return r;
}

enum result tiers_fetch(struct tier_set *set, const struct candidate *cand, int out_fd,
			const char *out_path, struct progress *bar, struct check_result *res,
			struct backup_meta *meta, bool *have_meta, struct error *err)
{
	return fetch(set, cand, out_fd, out_path, bar, true, res, meta, have_meta, err);
}

enum result tiers_fetch_image(struct tier_set *set, const struct candidate *cand, int out_fd,
			      const char *out_path, struct progress *bar,
			      struct check_result *res, struct backup_meta *meta, bool *have_meta,
			      struct error *err)
{
	return fetch(set, cand, out_fd, out_path, bar, false, res, meta, have_meta, err);
}
