/*
 * The S3 operations on one object that are one request each: GET (whole or
 * its first bytes, with a Range header), streamed to the caller's sink, and
 * DELETE.  A 404 is "no such object" -- unless
 * S3 says the bucket itself is missing, which is the remote's fault and
 * stays an error.
 */
#include "backends/s3/s3.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The object, or with range (a Range header's value) only those bytes. */
static enum result get(struct s3 *s3, const char *key, const char *range, stream_write_fn sink,
		       void *sink_ctx, struct error *err)
{
	char *object = s3_object_key(s3, key);
	if (!object)
		return error_nomem(err);
	struct s3_request req = {
		.method = "GET",
		.op = "GET",
		.what = key,
		.object = object,
		.sink = sink,
		.sink_ctx = sink_ctx,
		.range = range,
	};
	enum result r = s3_perform(s3, &req, err);
	if (r && req.status == 404 && strcmp(req.code, "NoSuchBucket") != 0)
		r = error_set(err, CB_ERR_NOT_FOUND, "GET %s: no such object", key);
	else if (r && range && req.status == 416)  /* no byte to give: an empty object */
		r = CB_OK;
	s3_request_done(&req);
	free(object);
	return r;
}

enum result s3_get(void *ctx, const char *key, stream_write_fn sink, void *sink_ctx,
		   struct error *err)
{
	return get(ctx, key, NULL, sink, sink_ctx, err);
}

enum result s3_get_head(void *ctx, const char *key, size_t max, stream_write_fn sink,
			void *sink_ctx, struct error *err)
{
	char range[48];
	snprintf(range, sizeof(range), "bytes=0-%zu", max ? max - 1 : 0);
	return get(ctx, key, range, sink, sink_ctx, err);
}

enum result s3_remove(void *ctx, const char *key, struct error *err)
{
	struct s3 *s3 = ctx;
	char *object = s3_object_key(s3, key);
	if (!object)
		return error_nomem(err);
	struct s3_request req = {
		.method = "DELETE",
		.op = "DELETE",
		.what = key,
		.object = object,
	};
	enum result r = s3_perform(s3, &req, err);
	if (r && req.status == 404 && strcmp(req.code, "NoSuchBucket") != 0)
		r = CB_OK;      /* missing is not an error */
	s3_request_done(&req);
	free(object);
	return r;
}
