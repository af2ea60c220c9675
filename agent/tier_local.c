/*
 * Local tier: scanning, deleting and tidying the backup directory.
 */
#include "agent/tier_local.h"
#include "backends/backend.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum result local_read_meta(const char *backup_path, struct backup_meta *out,
			    struct error *err)
{
	size_t plen = strlen(backup_path);
	char *mpath = malloc(plen + sizeof(META_SUFFIX));
	char *text = NULL;
	size_t len = 0;
	if (!mpath)
		return error_nomem(err);
	memcpy(mpath, backup_path, plen);
	memcpy(mpath + plen, META_SUFFIX, sizeof(META_SUFFIX));
	enum result r = fs_read_file(mpath, META_MAX_BYTES, &text, &len, err);
	free(mpath);
	if (r)
		return r;
	r = meta_from_json(text, len, out, err);
	free(text);
	return r;
}

static int newest_first(const void *a, const void *b)
{
	const struct local_backup *x = a, *y = b;
	if (x->parsed.created != y->parsed.created)
		return x->parsed.created > y->parsed.created ? -1 : 1;
	return -strcmp(x->name, y->name);
}

enum result local_list_scan(const char *dir, struct local_list *out,
			    struct error *err)
{
	out->items = NULL;
	out->n = 0;
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return CB_OK;
		return error_errno(err, errno, dir);
	}
	size_t cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		struct backup_name parsed;
		/* A name cbsync would never write is not one of its backups. */
		if (!backup_name_parse(de->d_name, &parsed) || !backend_key_valid(de->d_name))
			continue;
		char *path = fs_join(dir, de->d_name);
		if (!path)
			goto nomem;
		struct stat st;
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
			free(path);
			continue;
		}
		if (out->n == cap) {
			size_t ncap = cap ? cap * 2 : 32;
			struct local_backup *ni = realloc(out->items, ncap * sizeof(*ni));
			if (!ni) {
				free(path);
				goto nomem;
			}
			out->items = ni;
			cap = ncap;
		}
		struct local_backup *b = &out->items[out->n++];
		memset(b, 0, sizeof(*b));
		memcpy(b->name, de->d_name, strlen(de->d_name) + 1);
		b->parsed = parsed;
		b->file_size = (int64_t)st.st_size;
		struct error merr = {0};
		if (local_read_meta(path, &b->meta, &merr) == CB_OK) {
			if (strcmp(b->meta.name, b->name) == 0) {
				b->has_meta = true;
			} else {
				snprintf(b->meta_error, sizeof(b->meta_error),
					 "metadata names another backup (%s)", b->meta.name);
			}
		} else if (merr.code != CB_ERR_NOT_FOUND) {
			snprintf(b->meta_error, sizeof(b->meta_error), "%s", merr.msg);
		}
		free(path);
	}
	closedir(d);
	if (out->n)
		qsort(out->items, out->n, sizeof(*out->items), newest_first);
	return CB_OK;
nomem:
	closedir(d);
	local_list_free(out);
	return error_nomem(err);
}

void local_list_free(struct local_list *l)
{
	free(l->items);
	l->items = NULL;
	l->n = 0;
}

void local_list_keep_db(struct local_list *l, const char *db)
{
	size_t w = 0;
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->items[i].parsed.db, db) == 0)
			l->items[w++] = l->items[i];
	l->n = w;
}

enum result local_delete(const char *dir, const char *name, struct error *err)
{
	char *data = fs_join(dir, name);
	if (!data)
		return error_nomem(err);
	size_t len = strlen(data);
	char *meta = malloc(len + sizeof(META_SUFFIX));
	if (!meta) {
		free(data);
		return error_nomem(err);
	}
	memcpy(meta, data, len);
	memcpy(meta + len, META_SUFFIX, sizeof(META_SUFFIX));
	enum result r = CB_OK;
	if (unlink(data) != 0 && errno != ENOENT)
		r = error_errno(err, errno, data);
	else if (unlink(meta) != 0 && errno != ENOENT)
		r = error_errno(err, errno, meta);
	free(data);
	free(meta);
	if (r)
		return r;
	return fs_fsync_dir(dir, err);
}

void local_cleanup_stale(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		char *path = NULL;
		if (strncmp(n, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0) {
			continue; /* fs_remove_dead_temps below */
		} else if (len > strlen(META_SUFFIX) &&
			   strcmp(n + len - strlen(META_SUFFIX), META_SUFFIX) == 0) {
			char data[BACKUP_NAME_MAX];
			size_t dlen = len - strlen(META_SUFFIX);
			if (dlen >= sizeof(data))
				continue;
			memcpy(data, n, dlen);
			data[dlen] = '\0';
			if (!backup_name_parse(data, NULL))
				continue;
			char *dpath = fs_join(dir, data);
			if (dpath && !fs_exists(dpath))
				path = fs_join(dir, n);
			free(dpath);
		}
		if (path) {
			if (unlink(path) == 0)
				log_debug("local", "removed stale file %s", path);
			free(path);
		}
	}
	closedir(d);
	size_t n = fs_remove_dead_temps(dir);
	if (n)
		log_debug("local", "removed %zu temp file%s of killed runs in %s", n,
			  n == 1 ? "" : "s", dir);
}
