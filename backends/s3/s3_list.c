/*
 * S3 listings, page by page: ListObjectsV2 (the list operation) with its
 * continuation tokens, and ListMultipartUploads (s3_each_upload, for the
 * clean-up of unfinished uploads in s3_stale.c) with its pair of markers.
 *
 * Listings trust the server only so far: a continuation token (or pair of
 * upload markers) it has sent before, more than S3_MAX_LIST_PAGES pages or
 * more than S3_MAX_LIST_OBJECTS objects end the listing with an error
 * instead of letting it run forever.
 */
#include "backends/s3/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The bucket, for messages about bucket-wide requests. */
void s3_bucket_what(const struct s3 *s3, char *out, size_t size)
{
	snprintf(out, size, "bucket %s%s%s", s3->bucket, *s3->prefix ? " prefix " : "",
		 s3->prefix);
}

/* The continuation tokens (or upload markers) a listing was given so far,
 * as SHA-256 digests: a server that sends one again would loop forever. */
struct seen_tokens {
	uint8_t (*digest)[SHA256_LEN];
	size_t n, cap;
};

/* Remember the token a (and b, for the pair of upload markers); *fresh
 * tells whether it is new. */
static enum result token_seen(struct seen_tokens *s, const char *a, const char *b, bool *fresh,
			      struct error *err)
{
	struct buf t = {0};
	uint8_t d[SHA256_LEN];
	buf_adds(&t, a);
	buf_addc(&t, '\0');
	buf_adds(&t, b ? b : "");
	if (t.oom)
		return error_nomem(err);
	sha256_buf(t.data, t.len, d);
	buf_free(&t);
	*fresh = true;
	for (size_t i = 0; i < s->n && *fresh; i++)
		*fresh = memcmp(s->digest[i], d, SHA256_LEN) != 0;
	if (!*fresh)
		return CB_OK;
	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 16;
		void *nd = realloc(s->digest, ncap * sizeof(*s->digest));
		if (!nd)
			return error_nomem(err);
		s->digest = nd;
		s->cap = ncap;
	}
	memcpy(s->digest[s->n++], d, SHA256_LEN);
	return CB_OK;
}

/* Before asking for page pages + 1 with the token (or markers) a, b:
 * refuse a token sent before and a listing that will not end. */
static enum result next_page_ok(struct seen_tokens *s, const char *op, const char *what,
				size_t pages, const char *a, const char *b, struct error *err)
{
	bool fresh;
	enum result r = token_seen(s, a, b, &fresh, err);
	if (r)
		return r;
	if (!fresh)
		return error_set(err, CB_ERR_REMOTE,
				 "%s %s: page %zu repeats a continuation token the server sent "
				 "before, so the listing would never end (stopped)",
				 op, what, pages);
	if (pages >= S3_MAX_LIST_PAGES)
		return error_set(err, CB_ERR_REMOTE,
				 "%s %s: the listing goes on past %d pages (stopped); HINT: check "
				 "that endpoint is an S3 service",
				 op, what, S3_MAX_LIST_PAGES);
	return CB_OK;
}

struct list_ctx {
	struct backend_listing *out;
	size_t cap;
	const char *root;       /* "ROOT/" (or ""), stripped from listed keys */
	size_t root_len;
	const char *what;       /* the bucket, for messages */
};

static enum result add_object(void *ctx, const char *key, uint64_t size, int64_t mtime,
			      struct error *err)
{
	struct list_ctx *l = ctx;
	if (strlen(key) <= l->root_len || strncmp(key, l->root, l->root_len) != 0)
		return CB_OK;   /* not under the root (or the root itself) */
	if (l->out->n == S3_MAX_LIST_OBJECTS)
		return error_set(err, CB_ERR_REMOTE,
				 "ListObjectsV2 %s: more than %d objects (stopped); HINT: keep "
				 "cbsync's backups under a prefix of their own",
				 l->what, S3_MAX_LIST_OBJECTS);
	if (l->out->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 256;
		struct backend_object *ni = realloc(l->out->items, ncap * sizeof(*ni));
		if (!ni)
			return error_nomem(err);
		l->out->items = ni;
		l->cap = ncap;
	}
	struct backend_object *o = &l->out->items[l->out->n];
	if (!(o->key = strdup(key + l->root_len)))
		return error_nomem(err);
	o->size = size;
	o->mtime = mtime;
	l->out->n++;
	return CB_OK;
}

enum result s3_list(void *ctx, const char *prefix, struct backend_listing *out,
		    struct error *err)
{
	struct s3 *s3 = ctx;
	char what[400];
	char *token = NULL;
	struct seen_tokens seen = {0};
	size_t pages = 0;
	enum result r = CB_OK;
	char *full = s3_object_key(s3, prefix);
	char *root = s3_object_key(s3, "");
	if (!full || !root) {
		free(full);
		free(root);
		return error_nomem(err);
	}
	struct list_ctx l = {.out = out, .root = root, .root_len = strlen(root), .what = what};
	s3_bucket_what(s3, what, sizeof(what));
	out->items = NULL;
	out->n = 0;
	do {
		struct sigv4_param q[4] = {
			{"list-type", "2"},
			{"prefix", full},
			{"encoding-type", "url"},
			{"continuation-token", token},
		};
		struct s3_request req = {
			.method = "GET",
			.op = "ListObjectsV2",
			.what = what,
			.query = q,
			.n_query = token ? 4 : 3,
		};
		char *next = NULL;
		r = s3_perform(s3, &req, err);
		if (!r)
			r = s3_xml_list_objects(&req, add_object, &l, &next, err);
		s3_request_done(&req);
		pages++;
		if (!r && next)
			r = next_page_ok(&seen, req.op, what, pages, next, NULL, err);
		free(token);
		token = next;
	} while (!r && token);
	free(token);
	free(seen.digest);
	free(full);
	free(root);
	if (r)
		backend_listing_free(out);
	return r;
}

enum result s3_each_upload(struct s3 *s3, const char *prefix, const char *what,
			   bool ignore_cancel, s3_upload_fn fn, void *ctx, struct error *err)
{
	char *key_marker = NULL, *id_marker = NULL;
	struct seen_tokens seen = {0};
	size_t pages = 0;
	enum result r = CB_OK;
	do {
		struct sigv4_param q[5] = {{"uploads", ""}, {"encoding-type", "url"}};
		size_t n = 2;
		if (*prefix)
			q[n++] = (struct sigv4_param){"prefix", prefix};
		if (key_marker)
			q[n++] = (struct sigv4_param){"key-marker", key_marker};
		if (id_marker && *id_marker)
			q[n++] = (struct sigv4_param){"upload-id-marker", id_marker};
		struct s3_request req = {
			.method = "GET",
			.op = "ListMultipartUploads",
			.what = what,
			.query = q,
			.n_query = n,
			.ignore_cancel = ignore_cancel,
		};
		char *nk = NULL, *ni = NULL;
		r = s3_perform(s3, &req, err);
		if (!r)
			r = s3_xml_list_uploads(&req, fn, ctx, &nk, &ni, err);
		s3_request_done(&req);
		pages++;
		if (!r && nk)
			r = next_page_ok(&seen, req.op, what, pages, nk, ni, err);
		free(key_marker);
		free(id_marker);
		key_marker = nk;
		id_marker = ni;
	} while (!r && key_marker);
	free(key_marker);
	free(id_marker);
	free(seen.digest);
	return r;
}
