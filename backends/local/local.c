/*
 * The local mirror backend (type = local): a directory, typically another
 * disk or an NFS mount, holding the same files as the backup directory.
 *
 * Objects are files under `path`; a key's "/" separated parts are
 * subdirectories.  A put writes a temp file beside the target
 * (".cbsync-tmp-..."), fsyncs it, renames it into place and fsyncs the
 * directory, so a crash leaves the old object or the new one (and the temp
 * file, which put_begin names to the caller so that abort_upload can remove
 * it later; remove_stale catches the old ones nobody recorded).  The root
 * directory must exist unless create_dir is set: a mount point whose disk is
 * not mounted must not silently fill the disk beneath it, so a missing root
 * is "retry later".
 */
#include "backends/local/local.h"
#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A mirror's [remote] settings, filled from local_keys by the configuration. */
struct local_settings {
	char *path;
	bool create_dir;
	bool fsync;
};

#define KEY(t, field) CONF_MAP(t, struct local_settings, field)
static const struct conf_key_spec local_keys[] = {
	{.key = "path", KEY(PATH, path), .required = true,
	 .description = "the mirror directory (another disk, an NFS mount)"},
	{.key = "create_dir", KEY(BOOL, create_dir), .default_value = "false",
	 .description = "create the directory if it is missing (off: a missing directory means "
			"\"not mounted, retry later\")"},
	{.key = "fsync", KEY(BOOL, fsync), .default_value = "true",
	 .description = "fsync every file and directory written (off only for throwaway mirrors)"},
};

struct local {
	char *root;
	bool create_dir;
	bool fsync;
	bool tier;      /* the local tier (local_tier_open), not a mirror */
	struct backend_stats stats;
};

struct local_put {
	struct local *l;
	struct atomic_file af;
	char *key;
};

static enum result local_open(const struct conf_remote *remote, void **ctx, struct error *err)
{
	struct local *l = calloc(1, sizeof(*l));
	if (!l)
		return error_nomem(err);
	const struct local_settings *set = remote->settings;
	l->root = strdup(set->path);
	l->create_dir = set->create_dir;
	l->fsync = set->fsync;
	if (!l->root) {
		free(l);
		return error_nomem(err);
	}
	*ctx = l;
	return CB_OK;
}

enum result local_tier_open(const char *dir, struct backend **out, struct error *err)
{
	struct local *l = calloc(1, sizeof(*l));
	struct backend *b = calloc(1, sizeof(*b));
	if (!l || !b || !(l->root = strdup(dir)) || !(b->name = strdup("local"))) {
		if (l)
			free(l->root);
		free(l);
		free(b);
		return error_nomem(err);
	}
	l->fsync = true;
	l->tier = true;
	b->ops = &backend_local;
	b->ctx = l;
	b->local_tier = true;
	*out = b;
	return CB_OK;
}

static void local_close(void *ctx)
{
	struct local *l = ctx;
	if (!l)
		return;
	free(l->root);
	free(l);
}

/* The root must be there (or be created when allowed). */
static enum result check_root(struct local *l, struct error *err)
{
	struct stat st;
	if (stat(l->root, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return error_set(err, CB_ERR_REMOTE, "'%s' is not a directory", l->root);
		return CB_OK;
	}
	if (errno == ENOENT && l->create_dir)
		return fs_mkdirs(l->root, 0700, err);
	if (errno == ENOENT && l->tier)
		return error_set(err, CB_ERR_NOT_FOUND, "no directory '%s'", l->root);
	if (errno == ENOENT)
		return error_set(err, CB_ERR_RETRY,
				 "mirror directory '%s' does not exist (not mounted?); HINT: "
				 "mount it, or set create_dir = true",
				 l->root);
	return error_set(err, errno == EACCES ? CB_ERR_REMOTE : CB_ERR_RETRY,
			 "[Errno %d] %s: '%s'", errno, strerror(errno), l->root);
}

/* Count a request on one object, check the mirror is there, and give the
 * object's path (the caller frees it). */
static enum result object_request(struct local *l, const char *key, char **path,
				  struct error *err)
{
	l->stats.requests++;
	enum result r = check_root(l, err);
	if (r)
		return r;
	*path = fs_join(l->root, key);
	return *path ? CB_OK : error_nomem(err);
}

/* Errors of the file system under the root.  In a mirror, a full or
 * vanished disk may come back (retry) and a refusal is the remote's; in the
 * local tier they are local I/O errors, as for any file cbsync writes. */
static enum result store_error(const struct local *l, struct error *err, int e, const char *path)
{
	if (l->tier)
		return error_errno(err, e, path);
	enum result code = (e == EACCES || e == EPERM || e == EROFS) ? CB_ERR_REMOTE : CB_ERR_RETRY;
	return error_set(err, code, "[Errno %d] %s: '%s'", e, strerror(e), path);
}

struct walk {
	const struct local *l;
	struct backend_listing *out;
	size_t cap;
	const char *prefix;
};

static enum result add_object(struct walk *w, const char *key, const struct stat *st)
{
	if (strncmp(key, w->prefix, strlen(w->prefix)) != 0)
		return CB_OK;
	if (w->out->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 64;
		struct backend_object *ni = realloc(w->out->items, ncap * sizeof(*ni));
		if (!ni)
			return CB_ERR_NOMEM;
		w->out->items = ni;
		w->cap = ncap;
	}
	struct backend_object *o = &w->out->items[w->out->n];
	o->key = strdup(key);
	if (!o->key)
		return CB_ERR_NOMEM;
	o->size = (uint64_t)st->st_size;
	o->mtime = (int64_t)st->st_mtim.tv_sec;
	w->out->n++;
	return CB_OK;
}

/* Walk dir (the key prefix rel) and add every regular file. */
static enum result walk_dir(struct walk *w, const char *dir, const char *rel, int depth,
			    struct error *err)
{
	DIR *d = opendir(dir);
	/* A folder removed while listing (another cbsync tidying its own
	 * bookkeeping folder away) is not there, like a file: only the root
	 * must exist. */
	if (!d && depth > 0 && errno == ENOENT)
		return CB_OK;
	if (!d)
		return store_error(w->l, err, errno, dir);
	enum result r = CB_OK;
	struct dirent *de;
	while ((de = readdir(d)) != NULL && !r) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char *path = fs_join(dir, de->d_name);
		char *key = NULL;
		if (path && asprintf(&key, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0)
			key = NULL;
		struct stat st;
		if (!path || !key) {
			r = error_nomem(err);
		} else if (lstat(path, &st) != 0) {
			/* Removed while listing: not there, then. */
		} else if (S_ISREG(st.st_mode)) {
			if (add_object(w, key, &st))
				r = error_nomem(err);
		} else if (S_ISDIR(st.st_mode) && depth < 16) {
			r = walk_dir(w, path, key, depth + 1, err);
		}
		free(path);
		free(key);
	}
	closedir(d);
	return r;
}

static enum result local_list(void *ctx, const char *prefix, struct backend_listing *out,
			      struct error *err)
{
	struct local *l = ctx;
	l->stats.requests++;
	enum result r = check_root(l, err);
	if (r == CB_ERR_NOT_FOUND)
		return CB_OK;   /* the local tier before its first backup */
	if (r)
		return r;
	struct walk w = {.l = l, .out = out, .prefix = prefix};
	r = walk_dir(&w, l->root, "", 0, err);
	if (r) {
		backend_listing_free(out);
		return r;
	}
	return CB_OK;
}

static enum result local_put_begin(void *ctx, const char *key,
				   const struct backend_put_info *info, void **out,
				   struct error *err)
{
	struct local *l = ctx;
	l->stats.requests++;
	enum result r = check_root(l, err);
	if (r == CB_ERR_NOT_FOUND)
		r = fs_mkdirs(l->root, 0700, err);  /* the local tier makes its directory */
	if (r)
		return r;
	struct local_put *p = calloc(1, sizeof(*p));
	char *path = fs_join(l->root, key);
	char *dir = path ? fs_dirname(path) : NULL;
	if (!p || !path || !dir || !(p->key = strdup(key))) {
		r = error_nomem(err);
		goto fail;
	}
	p->l = l;
	if ((strchr(key, '/') && (r = fs_mkdirs(dir, 0700, err))) ||
	    (r = atomic_file_open(&p->af, path, 0600, err))) {
		if (err && err->os_errno)
			r = store_error(l, err, err->os_errno, dir);
		goto fail;
	}
	if (info && info->started) {
		/* The temp file's key: beside key, under its own name. */
		const char *base = fs_basename(key);
		char *id = NULL;
		if (asprintf(&id, "%.*s%s", (int)(base - key), key,
			     fs_basename(p->af.tmp_path)) < 0) {
			atomic_file_abort(&p->af);
			r = error_nomem(err);
			goto fail;
		}
		info->started(info->started_ctx, id);
		free(id);
	}
	free(path);
	free(dir);
	*out = p;
	return CB_OK;
fail:
	free(path);
	free(dir);
	if (p)
		free(p->key);
	free(p);
	return r;
}

static enum result local_put_write(void *put, const void *buf, size_t len, struct error *err)
{
	struct local_put *p = put;
	int e = fs_write_all(p->af.fd, buf, len);
	if (e)
		return store_error(p->l, err, e, p->af.tmp_path);
	p->l->stats.bytes_up += len;
	return CB_OK;
}

static enum result local_put_commit(void *put, struct error *err)
{
	struct local_put *p = put;
	struct commit_opts opts = {.no_sync = !p->l->fsync};
	enum result r = atomic_file_commit(&p->af, &opts, err);
	if (r && err->os_errno)
		r = store_error(p->l, err, err->os_errno, p->key);
	if (r)
		error_prefix(err, "cannot store '%s'", p->key);
	free(p->key);
	free(p);
	return r;
}

static void local_put_abort(void *put)
{
	struct local_put *p = put;
	atomic_file_abort(&p->af);
	free(p->key);
	free(p);
}

/* Open the object under key for reading: *fd, and *path for messages
 * (the caller frees it); "no object" when there is none. */
static enum result open_object(struct local *l, const char *key, int *fd, char **path,
			       struct error *err)
{
	enum result r = object_request(l, key, path, err);
	if (r == CB_ERR_NOT_FOUND)
		return error_set(err, r, "no object '%s'", key);
	if (r)
		return r;
	if ((*fd = open(*path, O_RDONLY | O_CLOEXEC)) >= 0)
		return CB_OK;
	r = errno == ENOENT ? error_set(err, CB_ERR_NOT_FOUND, "no object '%s'", key)
			    : store_error(l, err, errno, *path);
	free(*path);
	return r;
}

static enum result local_get(void *ctx, const char *key, stream_write_fn sink, void *sink_ctx,
			     struct error *err)
{
	struct local *l = ctx;
	char *path = NULL;
	int fd = -1;  /* set by open_object; GCC -O3 cannot tell */
	enum result r = open_object(l, key, &fd, &path, err);
	if (r)
		return r;
	struct stream s;
	stream_init(&s, sink, sink_ctx, false, err);
	r = stream_pump_fd(fd, path, &s, err);
	if (r && s.read_errno)
		r = store_error(l, err, s.read_errno, path);
	l->stats.bytes_down += s.bytes;
	free(path);
	close(fd);
	return r;
}

static enum result local_get_head(void *ctx, const char *key, size_t max, stream_write_fn sink,
				  void *sink_ctx, struct error *err)
{
	struct local *l = ctx;
	char *path = NULL;
	int fd = -1;  /* set by open_object; GCC -O3 cannot tell */
	enum result r = open_object(l, key, &fd, &path, err);
	if (r)
		return r;
	char *buf = malloc(max ? max : 1);
	size_t got = 0;
	if (!buf)
		r = error_nomem(err);
	while (!r && got < max) {
		ssize_t n = read(fd, buf + got, max - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = store_error(l, err, errno, path);
		else if (n == 0)
			break;
		else
			got += (size_t)n;
	}
	if (!r && got)
		r = sink(sink_ctx, buf, got, err);
	l->stats.bytes_down += got;
	free(buf);
	free(path);
	close(fd);
	return r;
}

static enum result local_remove(void *ctx, const char *key, struct error *err)
{
	struct local *l = ctx;
	char *path;
	enum result r = object_request(l, key, &path, err);
	if (r == CB_ERR_NOT_FOUND)
		return CB_OK;   /* no directory, no object */
	if (r)
		return r;
	if (unlink(path) != 0 && errno != ENOENT) {
		r = store_error(l, err, errno, path);
		free(path);
		return r;
	}
	char *dir = fs_dirname(path);
	free(path);
	if (!dir)
		return error_nomem(err);
	r = l->fsync ? fs_fsync_dir(dir, err) : CB_OK;
	/* Directories the key created go when they are empty (up to the root). */
	size_t root_len = strlen(l->root);
	while (!r && strlen(dir) > root_len && strncmp(dir, l->root, root_len) == 0 &&
	       rmdir(dir) == 0) {
		char *up = fs_dirname(dir);
		free(dir);
		dir = up;
		if (!dir)
			return CB_OK;
	}
	free(dir);
	return r ? CB_ERR_RETRY : CB_OK;
}

static enum result local_remove_stale(void *ctx, int64_t older_than, size_t *removed,
				      struct error *err)
{
	struct local *l = ctx;
	struct backend_listing all = {0};
	*removed = 0;
	enum result r = local_list(ctx, "", &all, err);
	if (r)
		return r;
	for (size_t i = 0; i < all.n; i++) {
		const char *base = fs_basename(all.items[i].key);
		if (strncmp(base, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) != 0 ||
		    all.items[i].mtime >= older_than)
			continue;
		char *path = fs_join(l->root, all.items[i].key);
		if (path && unlink(path) == 0)
			(*removed)++;
		free(path);
	}
	backend_listing_free(&all);
	return CB_OK;
}

static enum result local_abort_upload(void *ctx, const char *key, const char *upload_id,
				      const struct abort_upload_opts *opts, struct error *err)
{
	struct local *l = ctx;
	(void)opts;     /* temp files are always named */
	if (!upload_id || !backend_temp_key_of(key, upload_id))
		return error_set(err, CB_ERR_USAGE,
				 "refusing to remove '%s': not a temp file of an upload of '%s'",
				 upload_id ? upload_id : "(unnamed)", key);
	char *path;
	enum result r = object_request(l, upload_id, &path, err);
	if (r == CB_ERR_NOT_FOUND)
		return CB_OK;
	if (r)
		return r;
	if (unlink(path) != 0 && errno != ENOENT)
		r = store_error(l, err, errno, path);
	free(path);
	return r;
}

static void local_stats(void *ctx, struct backend_stats *out)
{
	struct local *l = ctx;
	backend_stats_add(out, &l->stats);
}

const struct backend_ops backend_local = {
	.type = "local",
	.description = "a mirror directory: another disk or an NFS mount",
	.keys = local_keys,
	.n_keys = sizeof(local_keys) / sizeof(*local_keys),
	.settings_size = sizeof(struct local_settings),
	.features = BACKEND_STALE_UPLOADS,
	.open = local_open,
	.close = local_close,
	.list = local_list,
	.put_begin = local_put_begin,
	.put_write = local_put_write,
	.put_commit = local_put_commit,
	.put_abort = local_put_abort,
	.get = local_get,
	.get_head = local_get_head,
	.remove = local_remove,
	.remove_stale = local_remove_stale,
	.abort_upload = local_abort_upload,
	.stats = local_stats,
};
