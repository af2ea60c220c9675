/*
 * The S3 backend's insides, shared by its files:
 *
 *   s3.c        the config map and its struct s3_settings, open/close, the
 *               ops table, and the libraries' set-up
 *   s3_object.c GET and DELETE of one object
 *   s3_list.c   listings page by page: ListObjectsV2 and
 *               ListMultipartUploads, with guards against endless ones
 *   s3_put.c    uploads: one PUT below part_size, a streaming multipart
 *               upload above it
 *   s3_stale.c  unfinished multipart uploads: abort one, remove_stale, and
 *               abort_upload for those a killed run left
 *   s3_http.c   one signed request on the instance's curl handle
 *   s3_fail.c   what a failed request means (retry or give up), in one line
 *   s3_xml.c    the XML documents S3 answers with
 *   sigv4.c     the request signer; s3_encode.c SigV4's percent-encoding
 *               and XML escaping on common/buf.h
 */
#ifndef CBSYNC_S3_H
#define CBSYNC_S3_H

#include "backends/backend.h"
#include "backends/s3/s3_encode.h"
#include "backends/s3/sigv4.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdint.h>

#define S3_MIN_PART (5ull << 20)         /* S3's smallest part (but the last) */
#define S3_MAX_PART (5ull << 30)         /* and largest */
#define S3_MAX_PARTS 10000u
#define S3_MAX_OBJECT (5ull << 40)       /* 5 TiB */

/* What a broken or hostile server can make cbsync spend.  Every answer but
 * a GET's object body is read into memory and (most) parsed as XML, and
 * listings follow the server's continuation tokens; these bound both. */
#define S3_MAX_RESPONSE (8u << 20)      /* a 2xx body kept in memory (a page of
					 * 1000 keys of 1024 bytes is ~4 MiB) */
#define S3_MAX_ERROR_BODY (64u << 10)   /* an error answer's body */
#define S3_XML_MAX_TEXT 8192            /* the text of one element */
#define S3_XML_MAX_TAGS 200000          /* tags in one document */
#define S3_MAX_LIST_PAGES 5000          /* pages of one listing */
#define S3_MAX_LIST_OBJECTS 100000      /* objects in one listing (or uploads seen) */

/* One configured remote. */
struct s3 {
	char *scheme;           /* "http" or "https" */
	char *host;             /* the Host header: [bucket.]host[:port] */
	char *base_path;        /* the endpoint's own path, no trailing "/" ("" mostly) */
	char *bucket;
	char *prefix;           /* the root inside the bucket, no leading or trailing "/" */
	char *region;
	char *access_key_id;
	char *secret_access_key;
	char *session_token;    /* NULL when none */
	char *storage_class;    /* NULL: the bucket's default */
	char *ca_file;          /* NULL: the system's CAs */
	bool path_style;
	uint64_t part_size;
	long connect_timeout_ms;
	long stall_timeout_s;   /* give up on a request that moves nothing this long */
	CURL *curl;             /* one per instance, reused for keep-alive */
	char curl_error[CURL_ERROR_SIZE];
	struct backend_stats stats;
};

/* One request: what to send, and (after s3_perform) what came back. */
struct s3_request {
	const char *method;             /* GET PUT POST DELETE */
	const char *op;                 /* for messages: "PUT", "UploadPart", "ListObjectsV2" */
	const char *what;               /* for messages: the key or "bucket NAME" */
	const char *object;             /* the full object key, or NULL for the bucket */
	const struct sigv4_param *query;
	size_t n_query;
	const void *body;               /* in memory, sent with its SHA-256 */
	size_t body_len;
	const char *content_md5;        /* base64, or NULL */
	const char *range;              /* a Range header's value, or NULL */
	bool storage_class;             /* send x-amz-storage-class */
	bool ignore_cancel;             /* clean-up requests run even when cancelled */
	stream_write_fn sink;           /* where a successful response body goes */
	void *sink_ctx;

	long status;                    /* HTTP status, 0 if none arrived */
	char code[64];                  /* S3's error Code, "" if none */
	struct buf response;            /* the body, when it did not go to the sink */
	char etag[128];                 /* the ETag header, quotes removed */
	bool etag_not_md5;              /* server-side encryption that makes ETags opaque */
	size_t sent;                    /* read position in body */
	enum result sink_result;        /* set when the sink stopped the transfer */
	struct error *sink_err;
};

/* Send req, signed, and collect the answer.  CB_OK for a 2xx status with
 * the whole body; otherwise an error line that names req->op, req->what, the
 * HTTP status and S3's Code and Message (or the network failure), with the
 * retry-or-give-up classification of backend.h.  req->status and req->code
 * stay readable either way, for callers that treat some failures as fine. */
enum result s3_perform(struct s3 *s3, struct s3_request *req, struct error *err);

/* Release what s3_perform kept in req. */
void s3_request_done(struct s3_request *req);

/* The full object key for a key relative to the root (prefix + "/" + key). */
char *s3_object_key(const struct s3 *s3, const char *key);

/* XML answers (s3_xml.c).  Each returns CB_OK or fills err (via
 * s3_bad_response) when the document is not what S3 sends. */

/* Code and Message of an <Error> document; false if body is not one (and
 * then, if it was refused -- a DOCTYPE, say -- message says why). */
bool s3_xml_error(const char *body, size_t len, char *code, size_t code_size, char *message,
		  size_t message_size);

typedef enum result (*s3_object_fn)(void *ctx, const char *key, uint64_t size, int64_t mtime,
				    struct error *err);
/* A ListObjectsV2 page: fn for each object; *next_token (malloc'd) is the
 * continuation token when the listing is truncated, else NULL. */
enum result s3_xml_list_objects(struct s3_request *req, s3_object_fn fn, void *ctx,
				char **next_token, struct error *err);

/* UploadId of an InitiateMultipartUploadResult (malloc'd). */
enum result s3_xml_upload_id(struct s3_request *req, char **upload_id, struct error *err);

/* ETag of a CompleteMultipartUploadResult (quotes removed, malloc'd).  A 200
 * answer that is an <Error> document fails like an error status would. */
enum result s3_xml_complete(struct s3 *s3, struct s3_request *req, char **etag,
			    struct error *err);

typedef enum result (*s3_upload_fn)(void *ctx, const char *key, const char *upload_id,
				    int64_t initiated, struct error *err);
/* A ListMultipartUploads page; the markers (malloc'd) are set when it is
 * truncated. */
enum result s3_xml_list_uploads(struct s3_request *req, s3_upload_fn fn, void *ctx,
				char **next_key_marker, char **next_upload_id_marker,
				struct error *err);

/* Failures (s3_fail.c). */

/* Classify a failed transfer (libcurl's code and error text) as backend.h
 * asks: a failure only a person can fix -- a TLS endpoint that is not one, a
 * certificate that is not trusted, names another host or is out of date --
 * gives up, with *hint saying what it is and what to do (NULL when there is
 * nothing to add).  Network trouble is worth retrying. */
enum result s3_curl_classify(CURLcode res, const char *detail, const char **hint);

/* Fill err for a transfer that got no answer (libcurl's res): interrupted,
 * out of memory, or s3_curl_classify's verdict with its hint. */
enum result s3_curl_failure(struct s3 *s3, struct s3_request *req, CURLcode res,
			    struct error *err);

/* Classify an S3 error Code and HTTP status as backend.h asks. */
enum result s3_classify(long status, const char *code);
/* Fill err for a failed S3 answer (status, code, message). */
enum result s3_http_error(struct s3 *s3, struct s3_request *req, const char *message,
			  struct error *err);

/* A failed transfer of a response the server sent as 2xx but that cannot be
 * read: a cut connection or a server that is not S3. */
enum result s3_bad_response(struct s3_request *req, struct error *err, const char *why);

/* The operations (backend.h), file by file. */

/* s3_object.c */
enum result s3_get(void *ctx, const char *key, stream_write_fn sink, void *sink_ctx,
		   struct error *err);
enum result s3_get_head(void *ctx, const char *key, size_t max, stream_write_fn sink,
			void *sink_ctx, struct error *err);
enum result s3_remove(void *ctx, const char *key, struct error *err);

/* s3_list.c */
enum result s3_list(void *ctx, const char *prefix, struct backend_listing *out,
		    struct error *err);

/* s3_put.c */
enum result s3_put_begin(void *ctx, const char *key, const struct backend_put_info *info,
			 void **put, struct error *err);
enum result s3_put_write(void *put, const void *buf, size_t len, struct error *err);
enum result s3_put_commit(void *put, struct error *err);
void s3_put_abort(void *put);

/* s3_stale.c */
enum result s3_remove_stale(void *ctx, int64_t older_than, size_t *removed,
			    struct error *err);
enum result s3_abort_put(void *ctx, const char *key, const char *upload_id,
			 const struct abort_upload_opts *opts, struct error *err);

/* AbortMultipartUpload of object's upload_id; CB_OK also when it is gone
 * (s3_stale.c). */
enum result s3_abort_upload(struct s3 *s3, const char *what, const char *object,
			    const char *upload_id, struct error *err);

/* Call fn for every unfinished multipart upload whose key starts with prefix
 * (the full key, "" for the whole bucket), following the pages with the
 * same guards as a listing: a marker sent before, or a listing that will not
 * end, stops it with an error.  what names it in messages; with
 * ignore_cancel it runs even after a cancel (a clean-up).  (s3_list.c) */
enum result s3_each_upload(struct s3 *s3, const char *prefix, const char *what,
			   bool ignore_cancel, s3_upload_fn fn, void *ctx, struct error *err);

/* "bucket NAME[ prefix PREFIX]", for messages about bucket-wide requests. */
void s3_bucket_what(const struct s3 *s3, char *out, size_t size);

#endif
