/*
 * The layer every caller goes through: key checks, error prefixes,
 * streaming a local file into a put, and telling the instance's upload
 * tracker when a put starts leaving traces on the remote and when it ends;
 * and the process-wide set-up of every compiled-in backend.
 */
#include "backends/backend.h"
#include "backends/backend_cache.h"
#include "common/backup_name.h"
#include "common/fsutil.h"
#include "common/meta.h"
#include "common/text.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


enum result backend_global_init(struct error *err)
{
	size_t n;
	const struct backend_ops *const *ops = backend_registry(&n);
	for (size_t i = 0; i < n; i++) {
		enum result r = ops[i]->init ? ops[i]->init(err) : CB_OK;
		if (r) {
			while (i-- > 0)
				if (ops[i]->cleanup)
					ops[i]->cleanup();
			return r;
		}
	}
	return CB_OK;
}

void backend_global_cleanup(void)
{
	size_t n;
	const struct backend_ops *const *ops = backend_registry(&n);
	while (n-- > 0)
		if (ops[n]->cleanup)
			ops[n]->cleanup();
}

void backend_stats_add(struct backend_stats *out, const struct backend_stats *mine)
{
	out->requests += mine->requests;
	out->bytes_up += mine->bytes_up;
	out->bytes_down += mine->bytes_down;
}

bool backend_key_valid(const char *key)
{
	size_t len = strlen(key);
	if (len == 0 || len > 1024 || key[0] == '/' || key[len - 1] == '/')
		return false;
	const char *component = key;
	for (const char *p = key;; p++) {
		char c = *p;
		if (c == '/' || c == '\0') {
			size_t n = (size_t)(p - component);
			if (n == 0 || (n == 1 && component[0] == '.') ||
			    (n == 2 && component[0] == '.' && component[1] == '.'))
				return false;
			if (c == '\0')
				return true;
			component = p + 1;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		if (!ok)
			return false;
	}
}

static enum result bad_key(struct backend *b, const char *key, struct error *err)
{
	return error_set(err, CB_ERR_USAGE,
			 "remote '%s': refusing the object key \"%s\" (keys use only "
			 "A-Z a-z 0-9 . _ - and /, with no empty, \".\" or \"..\" parts)",
			 b->name, key);
}

enum result backend_open(const struct conf_remote *remote, struct backend **out,
			 struct error *err)
{
	const struct backend_ops *ops = remote->type ? backend_find(remote->type->type) : NULL;
	if (!ops)
		return error_set(err, CB_ERR_CONFIG, "remote '%s': no backend of its type is built in",
				 remote->name);
	struct backend *b = calloc(1, sizeof(*b));
	if (!b || !(b->name = strdup(remote->name))) {
		free(b);
		return error_nomem(err);
	}
	b->ops = ops;
	enum result r = ops->open(remote, &b->ctx, err);
	if (r) {
		error_prefix(err, "remote '%s'", remote->name);
		free(b->name);
		free(b);
		return r;
	}
	*out = b;
	return CB_OK;
}

void backend_close(struct backend *b)
{
	if (!b)
		return;
	b->ops->close(b->ctx);
	backend_cache_disable(b);
	free(b->name);
	free(b);
}

static enum result prefixed(struct backend *b, enum result r, struct error *err)
{
	/* A failed call may have done part of its work there, or found the
	 * remote other than the cache says: the next listing asks. */
	if (r && r != CB_ERR_NOT_FOUND)
		backend_cache_invalidate(b);
	if (r && !b->local_tier)
		error_prefix(err, "remote '%s'", b->name);
	return r;
}

/* Does a key end as a backup's data or metadata object does? */
static bool looks_like_backup(const char *key)
{
	static const char *const ends[] = {BACKUP_SUFFIX, BACKUP_SUFFIX META_SUFFIX};
	size_t len = strlen(key);
	for (size_t i = 0; i < sizeof(ends) / sizeof(*ends); i++) {
		size_t n = strlen(ends[i]);
		if (len >= n && strcmp(key + len - n, ends[i]) == 0)
			return true;
	}
	return false;
}

enum result backend_list(struct backend *b, const char *prefix, struct backend_listing *out,
			 struct error *err)
{
	out->items = NULL;
	out->n = 0;
	/* A prefix is a key, or a key and "/" (a directory's contents). */
	size_t len = strlen(prefix);
	if (len) {
		char *copy = strndup(prefix, prefix[len - 1] == '/' ? len - 1 : len);
		bool ok = copy && backend_key_valid(copy);
		free(copy);
		if (!ok)
			return bad_key(b, prefix, err);
	}
	if (!len && cache_serve(b, out))
		return CB_OK;
	b->calls.list++;
	enum result r = prefixed(b, b->ops->list(b->ctx, prefix, out, err), err);
	if (r)
		return r;
	out->unsafe = 0;
	out->unsafe_example[0] = '\0';
	size_t w = 0;
	for (size_t i = 0; i < out->n; i++) {
		char *key = out->items[i].key;
		if (backend_key_valid(key)) {
			out->items[w++] = out->items[i];
			continue;
		}
		if (looks_like_backup(key) && out->unsafe++ == 0)
			text_escape(key, out->unsafe_example, sizeof(out->unsafe_example));
		free(key);
	}
	out->n = w;
	if (!len)
		cache_fill(b, out);
	return CB_OK;
}

void backend_listing_free(struct backend_listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].key);
	free(l->items);
	l->items = NULL;
	l->n = 0;
	l->unsafe = 0;
}

enum result backend_get(struct backend *b, const char *key, stream_write_fn sink,
			void *sink_ctx, struct error *err)
{
	if (!backend_key_valid(key))
		return bad_key(b, key, err);
	b->calls.get++;
	enum result r = prefixed(b, b->ops->get(b->ctx, key, sink, sink_ctx, err), err);
	if (r == CB_ERR_NOT_FOUND)
		cache_remove(b, key);
	return r;
}

enum result backend_remove(struct backend *b, const char *key, struct error *err)
{
	if (!backend_key_valid(key))
		return bad_key(b, key, err);
	b->calls.remove++;
	enum result r = prefixed(b, b->ops->remove(b->ctx, key, err), err);
	if (r == CB_OK || r == CB_ERR_NOT_FOUND)
		cache_remove(b, key);
	return r;
}

void backend_track_uploads(struct backend *b, const struct backend_upload_tracker *t)
{
	b->tracker = t;
}

/* One put, as the tracker sees it. */
struct put_track {
	struct backend *b;
	const char *key;
	bool started;
};

static void put_started(void *ctx, const char *upload_id)
{
	struct put_track *t = ctx;
	const struct backend_upload_tracker *tr = t->b->tracker;
	t->started = true;
	if (tr && tr->started)
		tr->started(tr->ctx, t->key, upload_id);
}

static void put_ended(struct put_track *t, bool committed)
{
	const struct backend_upload_tracker *tr = t->b->tracker;
	if (t->started && tr && tr->ended)
		tr->ended(tr->ctx, t->key, committed);
}

enum result backend_abort_upload(struct backend *b, const char *key, const char *upload_id,
				 const struct abort_upload_opts *opts, struct error *err)
{
	static const struct abort_upload_opts none = {0};
	if (!backend_key_valid(key))
		return bad_key(b, key, err);
	if (!b->ops->abort_upload)
		return error_set(err, CB_ERR_USAGE,
				 "remote '%s': a %s remote has no unfinished uploads to abort", b->name,
				 b->ops->type);
	if (!upload_id && !opts)
		return error_set(err, CB_ERR_USAGE,
				 "remote '%s': aborting the uploads of '%s' needs a start time", b->name,
				 key);
	return prefixed(b, b->ops->abort_upload(b->ctx, key, upload_id, opts ? opts : &none, err),
			err);
}

bool backend_temp_key_of(const char *key, const char *tmp_key)
{
	const char *base = fs_basename(key);
	size_t dir_len = (size_t)(base - key), pre_len = strlen(FS_TMP_PREFIX);
	size_t base_len = strlen(base);
	if (!backend_key_valid(key) || !backend_key_valid(tmp_key) ||
	    strncmp(tmp_key, key, dir_len) != 0)
		return false;
	const char *t = tmp_key + dir_len;
	if (strncmp(t, FS_TMP_PREFIX, pre_len) != 0 || strncmp(t + pre_len, base, base_len) != 0 ||
	    t[pre_len + base_len] != '.')
		return false;
	const char *suffix = t + pre_len + base_len + 1;
	if (!*suffix)
		return false;
	for (const char *p = suffix; *p; p++) {
		bool alnum = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			     (*p >= '0' && *p <= '9');
		if (!alnum)
			return false;
	}
	return true;
}

struct put_sink {
	struct backend *b;
	void *put;
};

static enum result to_put(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct put_sink *p = ctx;
	return prefixed(p->b, p->b->ops->put_write(p->put, buf, len, err), err);
}

enum result backend_put_file(struct backend *b, const char *key, const char *path,
			     const struct put_file_opts *opts, struct error *err)
{
	static const struct put_file_opts none = {0};
	if (!opts)
		opts = &none;
	const char *sha256_hex = opts->sha256_hex;
	const struct put_filter *f = opts->filter;
	bool filtering = false;   /* f was opened: it must be told of a failure */
	struct put_track track = {.b = b, .key = key};
	struct put_sink sink = {.b = b};
	struct stream s;
	enum result r;

	if (!backend_key_valid(key))
		return bad_key(b, key, err);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, path);
	int64_t size = fs_file_size(path);
	if ((r = stream_init(&s, to_put, &sink, true, err))) {
		close(fd);
		return r;
	}
	if (size < 0) {
		r = error_errno(err, EIO, path);
		goto done;
	}
	s.progress = opts->progress;
	s.progress_ctx = opts->progress_ctx;
	s.total = (uint64_t)size;
	uint64_t whole = (f ? f->size(f->ctx, (uint64_t)size) : (uint64_t)size) + opts->head_len;
	struct backend_put_info info = {.size = whole,
					.sha256_hex = opts->head_len || f ? NULL : sha256_hex,
					.started = put_started, .started_ctx = &track};
	b->calls.put++;
	if ((r = b->ops->put_begin(b->ctx, key, &info, &sink.put, err))) {
		sink.put = NULL;
		r = prefixed(b, r, err);
		goto done;
	}
	if (f) {
		/* The file's bytes go through the filter, which writes the put. */
		s.write = f->write;
		s.ctx = f->ctx;
		if ((r = f->open(f->ctx, to_put, &sink, err)))
			goto done;
		filtering = true;
	}
	if ((opts->head_len && (r = to_put(&sink, opts->head, opts->head_len, err))) ||
	    (r = stream_pump_fd(fd, path, &s, err)) || (f && (r = f->close(f->ctx, err))))
		goto done;
	char hex[SHA256_HEX_LEN + 1];
	stream_sha256_hex(&s, hex);
	if (s.bytes != (uint64_t)size || (sha256_hex && strcasecmp(hex, sha256_hex) != 0)) {
		/* The local file is not what its metadata says: never upload it. */
		r = error_set(err, CB_ERR_CORRUPT,
			      "local backup '%s' does not match its metadata (SHA-256 or size); "
			      "not uploaded; HINT: run 'cbsync verify'",
			      path);
		goto done;
	}
	void *p = sink.put;
	sink.put = NULL;
	r = prefixed(b, b->ops->put_commit(p, err), err);
	if (r == CB_OK)
		cache_put(b, key, whole);
done:
	if (filtering && r)
		f->abort(f->ctx);
	if (sink.put)
		b->ops->put_abort(sink.put);
	put_ended(&track, r == CB_OK);
	stream_free(&s);
	close(fd);
	return r;
}

enum result backend_put_buffer(struct backend *b, const char *key, const void *data,
			       size_t len, struct error *err)
{
	void *put = NULL;
	struct put_track track = {.b = b, .key = key};
	if (!backend_key_valid(key))
		return bad_key(b, key, err);
	struct backend_put_info info = {.size = len, .sha256_hex = NULL,
					.started = put_started, .started_ctx = &track};
	b->calls.put++;
	enum result r = b->ops->put_begin(b->ctx, key, &info, &put, err);
	if (r) {
		put_ended(&track, false);
		return prefixed(b, r, err);
	}
	r = b->ops->put_write(put, data, len, err);
	if (r)
		b->ops->put_abort(put);
	else
		r = b->ops->put_commit(put, err);
	put_ended(&track, r == CB_OK);
	if (r == CB_OK)
		cache_put(b, key, len);
	return prefixed(b, r, err);
}

struct buffer_sink {
	char *data;
	size_t len;
	size_t max;
	const char *key;
};

static enum result to_buffer(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct buffer_sink *s = ctx;
	if (s->len + len > s->max)
		return error_set(err, CB_ERR_CORRUPT, "object '%s' is larger than expected", s->key);
	char *nd = realloc(s->data, s->len + len + 1);
	if (!nd)
		return error_nomem(err);
	memcpy(nd + s->len, buf, len);
	s->data = nd;
	s->len += len;
	s->data[s->len] = '\0';
	return CB_OK;
}

static enum result buffer_done(struct buffer_sink *s, enum result r, char **out, size_t *len,
			       struct error *err)
{
	if (r) {
		free(s->data);
		return r;
	}
	if (!s->data && !(s->data = calloc(1, 1)))
		return error_nomem(err);
	*out = s->data;
	if (len)
		*len = s->len;
	return CB_OK;
}

enum result backend_get_buffer(struct backend *b, const char *key, size_t max, char **out,
			       size_t *len, struct error *err)
{
	struct buffer_sink s = {.max = max, .key = key};
	enum result r = backend_get(b, key, to_buffer, &s, err);
	return buffer_done(&s, r, out, len, err);
}

enum result backend_get_head(struct backend *b, const char *key, size_t max, char **out,
			     size_t *len, struct error *err)
{
	struct buffer_sink s = {.max = max, .key = key};
	enum result r;
	if (!backend_key_valid(key))
		return bad_key(b, key, err);
	b->calls.get++;
	r = prefixed(b, b->ops->get_head(b->ctx, key, max, to_buffer, &s, err), err);
	if (r == CB_ERR_NOT_FOUND)
		cache_remove(b, key);
	return buffer_done(&s, r, out, len, err);
}
