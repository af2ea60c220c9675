/*
 * Catalogs: listings read as backups and increments.
 */
#include "agent/tiers/catalog.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/meta.h"
#include "common/text.h"

#include <stdlib.h>
#include <string.h>

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct catalog_entry *)a)->name,
		      ((const struct catalog_entry *)b)->name);
}

static int newest_first(const void *a, const void *b)
{
	const struct catalog_entry *x = a, *y = b;
	if (x->parsed.created != y->parsed.created)
		return x->parsed.created > y->parsed.created ? -1 : 1;
	return -strcmp(x->name, y->name);
}

/* Increments in chain order: by snapshot, then seq first, then seq last,
 * then key. */
static int incr_order(const void *a, const void *b)
{
	const struct catalog_incr *x = a, *y = b;
	int c = strcmp(x->parsed.snapshot, y->parsed.snapshot);
	if (c)
		return c;
	if (x->parsed.seq_first != y->parsed.seq_first)
		return x->parsed.seq_first < y->parsed.seq_first ? -1 : 1;
	if (x->parsed.seq_last != y->parsed.seq_last)
		return x->parsed.seq_last < y->parsed.seq_last ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Is key (nlen bytes of it, without ".json" for metadata) an increment's?
 * Then add it to out's increments (merged below). */
static bool add_incr(struct catalog *out, const struct backend_object *o, size_t nlen,
		     bool meta, bool age)
{
	char key[INCR_NAME_MAX];
	struct incr_name parsed;
	if (nlen >= sizeof(key) || strncmp(o->key, INCR_DIR "/", strlen(INCR_DIR) + 1) != 0)
		return false;
	memcpy(key, o->key, nlen);
	key[nlen] = '\0';
	if (!incr_name_parse(key, &parsed) || !backend_key_valid(o->key))
		return false;
	struct catalog_incr *e = &out->incrs[out->n_incrs++];
	memcpy(e->key, key, nlen + 1);
	e->parsed = parsed;
	if (meta) {
		e->has_meta = true;
	} else {
		e->has_data = true;
		e->encrypted = age;
		e->size = o->size;
		e->mtime = o->mtime;
	}
	return true;
}

/* Merge the data and metadata entries of each increment, and sort. */
static void merge_incrs(struct catalog *out)
{
	qsort(out->incrs, out->n_incrs, sizeof(*out->incrs), incr_order);
	size_t w = 0;
	for (size_t i = 0; i < out->n_incrs; i++) {
		struct catalog_incr *b = &out->incrs[i];
		if (w > 0 && strcmp(out->incrs[w - 1].key, b->key) == 0) {
			struct catalog_incr *a = &out->incrs[w - 1];
			/* The object itself over its .age, when both are there. */
			if (b->has_data && a->has_data && a->encrypted != b->encrypted)
				a->twin = true;
			if (b->has_data && (!a->has_data || a->encrypted)) {
				a->has_data = true;
				a->encrypted = b->encrypted;
				a->size = b->size;
				a->mtime = b->mtime;
			}
			a->has_meta = a->has_meta || b->has_meta;
			continue;
		}
		out->incrs[w++] = *b;
	}
	out->n_incrs = w;
}

enum result catalog_build(const struct backend_listing *l, struct catalog *out,
			  struct error *err)
{
	memset(out, 0, sizeof(*out));
	/* backend_list has already left out what cbsync could never write. */
	out->unsafe = l->unsafe;
	memcpy(out->unsafe_example, l->unsafe_example, sizeof(out->unsafe_example));
	out->items = calloc(l->n ? l->n : 1, sizeof(*out->items));
	out->incrs = calloc(l->n ? l->n : 1, sizeof(*out->incrs));
	if (!out->items || !out->incrs) {
		catalog_free(out);
		return error_nomem(err);
	}
	/* Collect an entry per data object and per metadata object. */
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++) {
		const char *key = l->items[i].key;
		size_t len = strlen(key);
		bool meta = len > strlen(META_SUFFIX) &&
			    strcmp(key + len - strlen(META_SUFFIX), META_SUFFIX) == 0;
		bool age = !meta && len > strlen(METACRYPT_SUFFIX) &&
			   strcmp(key + len - strlen(METACRYPT_SUFFIX), METACRYPT_SUFFIX) == 0;
		char name[BACKUP_NAME_MAX];
		size_t nlen = meta ? len - strlen(META_SUFFIX)
			    : age  ? len - strlen(METACRYPT_SUFFIX)
				   : len;
		if (strncmp(fs_basename(key), FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0) {
			out->temp++;
			continue;
		}
		if (add_incr(out, &l->items[i], nlen, meta, age))
			continue;
		if (strchr(key, '/') || nlen >= sizeof(name)) {
			out->foreign++;
			continue;
		}
		memcpy(name, key, nlen);
		name[nlen] = '\0';
		struct backup_name parsed;
		if (!backup_name_parse(name, &parsed)) {
			out->foreign++;
			continue;
		}
		if (!backend_key_valid(key)) {
			if (out->unsafe++ == 0)
				text_escape(key, out->unsafe_example, sizeof(out->unsafe_example));
			out->foreign++;
			continue;
		}
		struct catalog_entry *b = &out->items[n++];
		memcpy(b->name, name, nlen + 1);
		b->parsed = parsed;
		if (meta) {
			b->has_meta = true;
		} else {
			b->has_data = true;
			b->encrypted = age;
			b->size = l->items[i].size;
			b->mtime = l->items[i].mtime;
		}
	}
	/* Merge the data and metadata entries of each name. */
	qsort(out->items, n, sizeof(*out->items), by_name);
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (w > 0 && strcmp(out->items[w - 1].name, out->items[i].name) == 0) {
			struct catalog_entry *a = &out->items[w - 1];
			const struct catalog_entry *b = &out->items[i];
			/* The backup itself over its .age, when both are there. */
			if (b->has_data && a->has_data && a->encrypted != b->encrypted)
				a->twin = true;
			if (b->has_data && (!a->has_data || a->encrypted)) {
				a->has_data = true;
				a->encrypted = b->encrypted;
				a->size = b->size;
				a->mtime = b->mtime;
			}
			a->has_meta = a->has_meta || b->has_meta;
			continue;
		}
		out->items[w++] = out->items[i];
	}
	out->n = w;
	qsort(out->items, out->n, sizeof(*out->items), newest_first);
	merge_incrs(out);
	return CB_OK;
}

const char *catalog_data_key(const struct catalog_entry *e, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", e->name, e->encrypted ? METACRYPT_SUFFIX : "");
	return buf;
}

const char *catalog_incr_data_key(const struct catalog_incr *e, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s", e->key, e->encrypted ? METACRYPT_SUFFIX : "");
	return buf;
}

void catalog_keep_db(struct catalog *c, const char *db)
{
	size_t w = 0;
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->items[i].parsed.db, db) != 0) {
			free(c->items[i].meta);
			free(c->items[i].meta_error);
			c->other_db++;
			continue;
		}
		c->items[w++] = c->items[i];
	}
	c->n = w;
	w = 0;
	for (size_t i = 0; i < c->n_incrs; i++) {
		struct backup_name snap;
		if (!backup_name_parse(c->incrs[i].parsed.snapshot, &snap) ||
		    strcmp(snap.db, db) != 0) {
			free(c->incrs[i].meta);
			free(c->incrs[i].meta_error);
			continue;
		}
		c->incrs[w++] = c->incrs[i];
	}
	c->n_incrs = w;
}

void catalog_warn_unsafe(const struct catalog *c, const char *comp,
			 const char *remote_name)
{
	if (c->unsafe == 0)
		return;
	log_warn(comp,
		 "remote '%s': ignoring %zu object%s whose name cbsync would never write "
		 "(\"%s\"%s); cbsync neither restores nor deletes %s",
		 remote_name, c->unsafe, c->unsafe == 1 ? "" : "s", c->unsafe_example,
		 c->unsafe == 1 ? "" : ", ...", c->unsafe == 1 ? "it" : "them");
}

void catalog_free(struct catalog *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->items[i].meta);
		free(c->items[i].meta_error);
	}
	for (size_t i = 0; i < c->n_incrs; i++) {
		free(c->incrs[i].meta);
		free(c->incrs[i].meta_error);
	}
	free(c->items);
	free(c->incrs);
	memset(c, 0, sizeof(*c));
}

struct catalog_entry *catalog_find(const struct catalog *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->items[i].name, name) == 0)
			return &c->items[i];
	return NULL;
}

struct catalog_incr *catalog_chain(const struct catalog *c, const char *snapshot, size_t *n)
{
	/* The chains are runs in snapshot order: find the run's start by
	 * bisection, then its end. */
	size_t lo = 0, hi = c->n_incrs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(c->incrs[mid].parsed.snapshot, snapshot) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < c->n_incrs && strcmp(c->incrs[end].parsed.snapshot, snapshot) == 0)
		end++;
	*n = end - lo;
	return *n ? &c->incrs[lo] : NULL;
}
