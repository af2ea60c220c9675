/*
 * Unfinished multipart uploads, whose parts S3 keeps (and bills) until
 * they are completed or aborted: AbortMultipartUpload of one, and the two
 * clean-ups built on it.
 *
 * remove_stale aborts only uploads of keys cbsync writes itself -- a backup
 * name or its metadata name directly under the remote's root -- never
 * another tool's upload in the same bucket.  abort_upload ends the one
 * upload a killed run recorded: by its UploadId, or, when the run died
 * before CreateMultipartUpload answered, the uploads of exactly its key
 * begun since it asked (ListMultipartUploads of that key), sparing those
 * the caller says are live.
 */
#include "backends/s3/s3.h"

#include "common/backup_name.h"
#include "common/meta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum result s3_abort_upload(struct s3 *s3, const char *what, const char *object,
			    const char *upload_id, struct error *err)
{
	struct sigv4_param q[] = {{"uploadId", upload_id}};
	struct s3_request req = {
		.method = "DELETE",
		.op = "AbortMultipartUpload",
		.what = what,
		.object = object,
		.query = q,
		.n_query = 1,
		.ignore_cancel = true,
	};
	enum result r = s3_perform(s3, &req, err);
	if (r && req.status == 404)
		r = CB_OK;      /* gone already */
	s3_request_done(&req);
	return r;
}

struct stale_ctx {
	struct s3 *s3;
	int64_t older_than;
	size_t removed;
	size_t seen;            /* uploads listed so far */
	const char *what;       /* the bucket, for messages */
};

/* Is key (a full object key) one cbsync writes under this remote's root:
 * ROOT/<backup name> or ROOT/<backup name>.json (common/backup_name.h,
 * META_SUFFIX)?  An upload of any other key belongs to someone else. */
static bool own_key(const struct s3 *s3, const char *key)
{
	size_t root_len = strlen(s3->prefix);
	if (root_len) {
		if (strncmp(key, s3->prefix, root_len) != 0 || key[root_len] != '/')
			return false;
		key += root_len + 1;
	}
	if (!backend_key_valid(key) || strchr(key, '/'))
		return false;
	char name[BACKUP_NAME_MAX];
	size_t n = strlen(key), meta = strlen(META_SUFFIX);
	if (n > meta && strcmp(key + n - meta, META_SUFFIX) == 0)
		n -= meta;
	if (n >= sizeof(name))
		return false;
	memcpy(name, key, n);
	name[n] = '\0';
	return backup_name_parse(name, NULL);
}

static enum result abort_if_stale(void *ctx, const char *key, const char *upload_id,
				  int64_t initiated, struct error *err)
{
	struct stale_ctx *s = ctx;
	if (++s->seen > S3_MAX_LIST_OBJECTS)
		return error_set(err, CB_ERR_REMOTE,
				 "ListMultipartUploads %s: more than %d unfinished uploads (stopped)",
				 s->what, S3_MAX_LIST_OBJECTS);
	/* Another tool's upload, or one outside the root: never ours to end. */
	if (!own_key(s->s3, key))
		return CB_OK;
	/* An unknown start time is never old enough: it might be running. */
	if (initiated <= 0 || initiated >= s->older_than)
		return CB_OK;
	size_t root_len = *s->s3->prefix ? strlen(s->s3->prefix) + 1 : 0;
	enum result r = s3_abort_upload(s->s3, key + root_len, key, upload_id, err);
	if (!r)
		s->removed++;
	return r;
}

enum result s3_remove_stale(void *ctx, int64_t older_than, size_t *removed,
			    struct error *err)
{
	struct s3 *s3 = ctx;
	char what[400];
	struct stale_ctx s = {.s3 = s3, .older_than = older_than, .what = what};
	char *full = s3_object_key(s3, "");
	if (!full)
		return error_nomem(err);
	s3_bucket_what(s3, what, sizeof(what));
	enum result r = s3_each_upload(s3, full, what, false, abort_if_stale, &s, err);
	free(full);
	*removed = s.removed;
	return r;
}

struct by_key_ctx {
	struct s3 *s3;
	const char *key;        /* relative to the root, for messages */
	const char *object;     /* the full key: only its uploads are ended */
	const struct abort_upload_opts *opts;
	size_t seen;
	const char *what;
};

static enum result abort_if_unnamed(void *ctx, const char *key, const char *upload_id,
				    int64_t initiated, struct error *err)
{
	struct by_key_ctx *b = ctx;
	if (++b->seen > S3_MAX_LIST_OBJECTS)
		return error_set(err, CB_ERR_REMOTE,
				 "ListMultipartUploads %s: more than %d unfinished uploads (stopped)",
				 b->what, S3_MAX_LIST_OBJECTS);
	/* Another key that merely starts the same way, an unknown or earlier
	 * start, a live run's upload: not the one that was lost. */
	if (strcmp(key, b->object) != 0 || initiated <= 0 || initiated < b->opts->since)
		return CB_OK;
	if (b->opts->spare && b->opts->spare(b->opts->spare_ctx, upload_id))
		return CB_OK;
	return s3_abort_upload(b->s3, b->key, b->object, upload_id, err);
}

/* ops->abort_upload (see backend.h). */
enum result s3_abort_put(void *ctx, const char *key, const char *upload_id,
			 const struct abort_upload_opts *opts, struct error *err)
{
	struct s3 *s3 = ctx;
	char what[1200];
	char *object = s3_object_key(s3, key);
	enum result r = CB_OK;
	if (!object)
		return error_nomem(err);
	if (upload_id) {
		size_t n = strlen(upload_id);
		bool ok = n > 0 && n <= 1024;
		for (size_t i = 0; i < n && ok; i++)
			ok = upload_id[i] > ' ' && upload_id[i] < 0x7f;
		r = ok ? s3_abort_upload(s3, key, object, upload_id, err)
		       : error_set(err, CB_ERR_USAGE,
				   "AbortMultipartUpload %s: refusing an upload id S3 never gives", key);
		free(object);
		return r;
	}
	snprintf(what, sizeof(what), "%s", key);
	struct by_key_ctx b = {.s3 = s3, .key = key, .object = object, .opts = opts,
			       .what = what};
	/* Run even after a cancel: this is the clean-up of one. */
	r = s3_each_upload(s3, object, what, true, abort_if_unnamed, &b, err);
	free(object);
	return r;
}
