/*
 * Local tier: tidying the backup directory, reading metadata beside a file.
 */
#include "agent/tiers/tier_local.h"
#include "agent/tiers/lock.h"
#include "common/backup_name.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/metacrypt.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
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
			/* Its data is X, or X.age on an encrypted tier. */
			char *dpath = fs_join(dir, data), sealed[PATH_MAX];
			if (dpath)
				snprintf(sealed, sizeof(sealed), "%s%s", dpath, METACRYPT_SUFFIX);
			if (dpath && !fs_exists(dpath) && !fs_exists(sealed))
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

enum result local_lock(const char *dir, double timeout, const char *op, struct dir_lock *l,
		       struct error *err)
{
	enum result r = fs_mkdirs(dir, 0700, err);
	if (r)
		return r;
	r = dir_lock_acquire(l, dir, op, timeout, err);
	if (r)
		return r;
	local_cleanup_stale(dir);
	return CB_OK;
}

/* A --path that does not exist as given but names a file in the backup
 * directory is taken from there. */
char *resolve_backup_path(const char *given, const char *dir)
{
	if (fs_exists(given) || strchr(given, '/'))
		return strdup(given);
	char *in_dir = fs_join(dir, given), sealed[PATH_MAX];
	if (in_dir && fs_exists(in_dir))
		return in_dir;
	/* An encrypted local tier's backup is its .age. */
	if (in_dir) {
		snprintf(sealed, sizeof(sealed), "%s%s", in_dir, METACRYPT_SUFFIX);
		if (fs_exists(sealed)) {
			free(in_dir);
			return strdup(sealed);
		}
	}
	free(in_dir);
	return strdup(given);
}

/* Metadata beside a backup: CB_OK with *have set, or an error if it exists but
 * is unusable or describes another backup. */
enum result load_meta(const char *path, struct backup_meta *meta, bool *have,
		       struct error *err)
{
	struct error merr = {0};
	char plain[PATH_MAX];
	*have = false;
	/* X.db.gz.age's metadata is X.db.gz.json, and names X.db.gz. */
	metacrypt_plain_name(path, plain, sizeof(plain));
	enum result r = local_read_meta(plain, meta, &merr);
	if (r == CB_ERR_NOT_FOUND)
		return CB_OK;
	if (r)
		return error_set(err, r, "metadata of '%s' is unusable: %s", path, merr.msg);
	if (strcmp(meta->name, fs_basename(plain)) != 0)
		return error_set(err, CB_ERR_CORRUPT,
				 "metadata beside '%s' describes another backup (%s)", path,
				 meta->name);
	*have = true;
	return CB_OK;
}
