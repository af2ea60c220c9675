/*
 * Helpers shared by the tiers/ unit tests (include after cmocka.h): backup
 * names, and objects in a tier's directory -- the local tier or a local
 * mirror -- made, read and looked for by key.
 */
#ifndef CBSYNC_TIERS_TEST_H
#define CBSYNC_TIERS_TEST_H

#include "agent/tiers/prune.h"
#include "common/backup_name.h"
#include "common/fsutil.h"
#include "common/meta.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void name_of(char *buf, const char *db, enum backup_type type, int64_t created)
{
	struct backup_name bn = {.type = type, .created = created};
	snprintf(bn.db, sizeof(bn.db), "%s", db);
	assert_true(backup_name_format(&bn, buf, BACKUP_NAME_MAX));
}

static inline char *path_in(const char *dir, const char *key)
{
	char *p = fs_join(dir, key);
	assert_non_null(p);
	return p;
}

static inline void write_obj(const char *dir, const char *key, const void *data, size_t len)
{
	char *p = path_in(dir, key);
	struct error err = {0};
	assert_int_equal(fs_write_file_atomic(p, data, len, 0600, &err), CB_OK);
	free(p);
}

static inline char *read_obj(const char *dir, const char *key, size_t *len)
{
	char *p = path_in(dir, key), *data = NULL;
	struct error err = {0};
	assert_int_equal(fs_read_file(p, 1 << 26, &data, len, &err), CB_OK);
	free(p);
	return data;
}

static inline bool exists(const char *dir, const char *key)
{
	char *p = path_in(dir, key);
	bool e = fs_exists(p);
	free(p);
	return e;
}

static inline void meta_key(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s%s", name, META_SUFFIX);
}

static inline bool meta_exists(const char *dir, const char *name)
{
	char key[BACKUP_NAME_MAX + 8];
	meta_key(key, sizeof(key), name);
	return exists(dir, key);
}

static inline bool held_has(const struct remote_holdings *h, const char *name)
{
	for (size_t i = 0; i < h->n_held; i++)
		if (strcmp(h->held[i], name) == 0)
			return true;
	return false;
}

#endif
