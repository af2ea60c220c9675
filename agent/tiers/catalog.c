/*
 * Catalogs: listings read as backups.
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

enum result catalog_build(const struct backend_listing *l, struct catalog *out,
			  struct error *err)
{
	memset(out, 0, sizeof(*out));
	/* backend_list has already left out what cbsync could never write. */
	out->unsafe = l->unsafe;
	memcpy(out->unsafe_example, l->unsafe_example, sizeof(out->unsafe_example));
	out->items = calloc(l->n ? l->n : 1, sizeof(*out->items));
	if (!out->items)
		return error_nomem(err);
	/* Collect an entry per data object and per metadata object. */
	size_t n = 0;
	for (size_t i = 0; i < l->n; i++) {
		const char *key = l->items[i].key;
		size_t len = strlen(key);
		bool meta = len > strlen(META_SUFFIX) &&
			    strcmp(key + len - strlen(META_SUFFIX), META_SUFFIX) == 0;
		char name[BACKUP_NAME_MAX];
		size_t nlen = meta ? len - strlen(META_SUFFIX) : len;
		if (strncmp(fs_basename(key), FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0) {
			out->temp++;
			continue;
		}
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
			if (b->has_data) {
				a->has_data = true;
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
	return CB_OK;
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
	free(c->items);
	memset(c, 0, sizeof(*c));
}

struct catalog_entry *catalog_find(const struct catalog *c, const char *name)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->items[i].name, name) == 0)
			return &c->items[i];
	return NULL;
}
