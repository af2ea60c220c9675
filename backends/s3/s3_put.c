/*
 * Uploads.  Bytes are gathered in one buffer of at most part_size:
 *
 *   - if the object ends before the buffer overflows, commit sends it with
 *     one PUT (Content-MD5 and the real x-amz-content-sha256 signed);
 *   - when more bytes arrive while the buffer is full, a multipart upload
 *     starts (CreateMultipartUpload) and the buffer goes up as part 1, then
 *     part 2 ... (UploadPart, each with its own Content-MD5 and SHA-256);
 *     commit sends the last, shorter part and CompleteMultipartUpload.
 *
 * So a put never holds more than one part in memory, and nothing is visible
 * under the key until the PUT or the completion succeeds.  Any failure --
 * and put_abort -- aborts the multipart upload (AbortMultipartUpload), so
 * no parts are left behind to be billed.  What a crash leaves: the caller
 * hears (info.started) that an upload of the key is being created, then
 * its UploadId as soon as CreateMultipartUpload returns it, before part 1
 * goes up; s3_abort_put (s3_stale.c) ends exactly that upload later -- or, if
 * the id never arrived, the uploads of exactly that key begun since.
 * remove_stale catches anything older nobody recorded.
 *
 * Where the server answers with an MD5 ETag (single PUTs and parts without
 * SSE-KMS/SSE-C), it must be the MD5 of what we sent; a completed upload's
 * "md5-of-part-md5s-N" ETag is checked the same way.  A mismatch is
 * CB_ERR_CORRUPT.
 *
 * S3 allows at most 10 000 parts: when the caller says how big the object
 * is and part_size would need more, the part size grows (in whole MiB) for
 * this upload.
 */
#include "backends/s3/s3.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MD5_LEN 16
#define MIB (1ull << 20)

struct part {
	uint8_t md5[MD5_LEN];
	char *etag;             /* as the server returned it */
};

struct s3_put {
	struct s3 *s3;
	char *key;              /* relative to the root, for messages */
	char *object;           /* the full object key */
	uint64_t part_size;     /* this upload's */
	uint8_t *buf;
	size_t len, cap;
	uint64_t expected;      /* what the caller said the size is */
	char *upload_id;        /* set once the multipart upload exists */
	void (*started)(void *ctx, const char *upload_id); /* told of it (or NULL) */
	void *started_ctx;
	struct part *parts;
	unsigned n_parts;
	bool no_md5;            /* some part went up without an MD5 */
	bool failed;
};

/* False where libcrypto has no MD5 (FIPS mode): then no Content-MD5 is
 * sent and no ETag checked; the SHA-256 of the signature still is. */
static bool md5_of(const void *data, size_t len, uint8_t out[MD5_LEN])
{
	unsigned int n = 0;
	return EVP_Digest(len ? data : "", len, out, &n, EVP_md5(), NULL) == 1 && n == MD5_LEN;
}

static void base64_of(const uint8_t *data, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
}

/* Is s an MD5 in hex (what S3 returns as the ETag of plain data)? */
static bool is_md5_hex(const char *s, size_t n)
{
	if (n != 2 * MD5_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

/* Compare the ETag of a PUT or part with the MD5 of what was sent. */
static enum result check_etag(struct s3_request *req, const uint8_t md5[MD5_LEN],
			      struct error *err)
{
	char hex[2 * MD5_LEN + 1];
	if (!req->etag[0])
		return s3_bad_response(req, err, "no ETag");
	if (req->etag_not_md5 || !is_md5_hex(req->etag, strlen(req->etag)))
		return CB_OK;   /* an opaque ETag: the Content-MD5 check is all there is */
	hex_encode(md5, MD5_LEN, hex);
	if (strcasecmp(hex, req->etag) != 0)
		return error_set(err, CB_ERR_CORRUPT,
				 "%s %s: the server stored something else (ETag %s, MD5 of what "
				 "was sent %s)",
				 req->op, req->what, req->etag, hex);
	return CB_OK;
}

/* A PUT or completion stored the wrong bytes under the key: take them
 * away again, so that a failed put leaves nothing visible. */
static void remove_object(struct s3_put *p)
{
	struct s3_request req = {
		.method = "DELETE",
		.op = "DELETE",
		.what = p->key,
		.object = p->object,
		.ignore_cancel = true,
	};
	struct error ignored;
	s3_perform(p->s3, &req, &ignored);
	s3_request_done(&req);
}

/* Abort the multipart upload after a failure, keeping the first error. */
static void abort_upload(struct s3_put *p)
{
	if (p->upload_id) {
		struct error ignored;
		s3_abort_upload(p->s3, p->key, p->object, p->upload_id, &ignored);
		free(p->upload_id);
		p->upload_id = NULL;
	}
}

static void put_free(struct s3_put *p)
{
	for (unsigned i = 0; i < p->n_parts; i++)
		free(p->parts[i].etag);
	free(p->parts);
	free(p->buf);
	free(p->upload_id);
	free(p->object);
	free(p->key);
	free(p);
}

enum result s3_put_begin(void *ctx, const char *key, const struct backend_put_info *info,
			 void **out, struct error *err)
{
	struct s3 *s3 = ctx;
	if (info->size > S3_MAX_OBJECT)
		return error_set(err, CB_ERR_REMOTE,
				 "PUT %s: %llu bytes is more than S3 stores in one object (5 TiB)",
				 key, (unsigned long long)info->size);
	struct s3_put *p = calloc(1, sizeof(*p));
	if (!p || !(p->key = strdup(key)) || !(p->object = s3_object_key(s3, key))) {
		if (p)
			put_free(p);
		return error_nomem(err);
	}
	p->s3 = s3;
	p->expected = info->size;
	p->started = info->started;
	p->started_ctx = info->started_ctx;
	p->part_size = s3->part_size;
	if (info->size > p->part_size * S3_MAX_PARTS) {
		uint64_t need = (info->size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
		p->part_size = (need + MIB - 1) / MIB * MIB;
		if (p->part_size > S3_MAX_PART)
			p->part_size = S3_MAX_PART;
	}
	*out = p;
	return CB_OK;
}

/* Room for n more bytes (never beyond part_size). */
static bool grow(struct s3_put *p, size_t n)
{
	size_t need = p->len + n;
	if (need <= p->cap)
		return true;
	size_t cap = p->cap;
	if (!cap)       /* the size we were told, up to one part */
		cap = p->expected ? (size_t)(p->expected < p->part_size ? p->expected : p->part_size)
				  : (size_t)MIB;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (cap > p->part_size)
		cap = (size_t)p->part_size;
	uint8_t *nb = realloc(p->buf, cap);
	if (!nb)
		return false;
	p->buf = nb;
	p->cap = cap;
	return true;
}

static enum result create_upload(struct s3_put *p, struct error *err)
{
	struct sigv4_param q[] = {{"uploads", ""}};
	/* The upload exists before its id comes back: say that it is coming,
	 * so a crash in between still leaves a trace to follow. */
	if (p->started)
		p->started(p->started_ctx, NULL);
	struct s3_request req = {
		.method = "POST",
		.op = "CreateMultipartUpload",
		.what = p->key,
		.object = p->object,
		.query = q,
		.n_query = 1,
		.storage_class = true,
	};
	enum result r = s3_perform(p->s3, &req, err);
	if (!r)
		r = s3_xml_upload_id(&req, &p->upload_id, err);
	s3_request_done(&req);
	/* Parts are billed from now on: the caller records the id first. */
	if (!r && p->started)
		p->started(p->started_ctx, p->upload_id);
	return r;
}

/* Send the buffer as the next part, starting the multipart upload first if
 * this is part 1. */
static enum result upload_part(struct s3_put *p, struct error *err)
{
	enum result r;
	if (!p->upload_id && (r = create_upload(p, err)))
		return r;
	if (p->n_parts == S3_MAX_PARTS)
		return error_set(err, CB_ERR_CORRUPT,
				 "UploadPart %s: more data than %u parts of %llu bytes hold (more "
				 "than the size given at the start)",
				 p->key, S3_MAX_PARTS, (unsigned long long)p->part_size);
	struct part *np = realloc(p->parts, (p->n_parts + 1) * sizeof(*np));
	if (!np)
		return error_nomem(err);
	p->parts = np;
	struct part *part = &p->parts[p->n_parts];
	part->etag = NULL;
	bool have_md5 = md5_of(p->buf, p->len, part->md5);
	if (!have_md5)
		p->no_md5 = true;

	char number[16], md5b64[32], what[600];
	snprintf(number, sizeof(number), "%u", p->n_parts + 1);
	snprintf(what, sizeof(what), "%s part %u", p->key, p->n_parts + 1);
	base64_of(part->md5, MD5_LEN, md5b64);
	struct sigv4_param q[] = {{"partNumber", number}, {"uploadId", p->upload_id}};
	struct s3_request req = {
		.method = "PUT",
		.op = "UploadPart",
		.what = what,
		.object = p->object,
		.query = q,
		.n_query = 2,
		.body = p->buf,
		.body_len = p->len,
		.content_md5 = have_md5 ? md5b64 : NULL,
	};
	r = s3_perform(p->s3, &req, err);
	if (!r && !req.etag[0])
		r = s3_bad_response(&req, err, "no ETag");
	if (!r && have_md5)
		r = check_etag(&req, part->md5, err);
	if (!r && !(part->etag = strdup(req.etag)))
		r = error_nomem(err);
	s3_request_done(&req);
	if (r)
		return r;
	p->n_parts++;
	p->len = 0;
	return CB_OK;
}

enum result s3_put_write(void *put, const void *data, size_t len, struct error *err)
{
	struct s3_put *p = put;
	const uint8_t *in = data;
	if (p->failed)
		return error_set(err, CB_ERR_INTERNAL, "PUT %s: write after a failure", p->key);
	while (len > 0) {
		if (p->len == p->part_size) {
			/* A full buffer and more to come: it is a part. */
			enum result r = upload_part(p, err);
			if (r) {
				p->failed = true;
				abort_upload(p);
				return r;
			}
		}
		size_t n = (size_t)(p->part_size - p->len);
		if (n > len)
			n = len;
		if (!grow(p, n))
			return error_nomem(err);
		memcpy(p->buf + p->len, in, n);
		p->len += n;
		in += n;
		len -= n;
	}
	return CB_OK;
}

static enum result put_single(struct s3_put *p, struct error *err)
{
	uint8_t md5[MD5_LEN] = {0};
	char md5b64[32];
	bool have_md5 = md5_of(p->buf, p->len, md5);
	base64_of(md5, MD5_LEN, md5b64);
	struct s3_request req = {
		.method = "PUT",
		.op = "PUT",
		.what = p->key,
		.object = p->object,
		.body = p->buf,
		.body_len = p->len,
		.content_md5 = have_md5 ? md5b64 : NULL,
		.storage_class = true,
	};
	enum result r = s3_perform(p->s3, &req, err);
	if (!r && have_md5 && (r = check_etag(&req, md5, err)) == CB_ERR_CORRUPT)
		remove_object(p);
	s3_request_done(&req);
	return r;
}

/* The ETag S3 gives a completed upload: MD5 of the parts' MD5s, "-", count. */
static void multipart_etag(const struct s3_put *p, char *out, size_t size)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t md5[MD5_LEN];
	unsigned int n = 0;
	char hex[2 * MD5_LEN + 1];
	out[0] = '\0';
	if (!ctx)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1) {
		for (unsigned i = 0; i < p->n_parts; i++)
			EVP_DigestUpdate(ctx, p->parts[i].md5, MD5_LEN);
		if (EVP_DigestFinal_ex(ctx, md5, &n) == 1) {
			hex_encode(md5, MD5_LEN, hex);
			snprintf(out, size, "%s-%u", hex, p->n_parts);
		}
	}
	EVP_MD_CTX_free(ctx);
}

static enum result complete_upload(struct s3_put *p, struct error *err)
{
	struct buf body = {0};
	char *etag = NULL;
	buf_adds(&body, "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (unsigned i = 0; i < p->n_parts; i++) {
		buf_addf(&body, "<Part><PartNumber>%u</PartNumber><ETag>\"", i + 1);
		buf_add_xml_escaped(&body, p->parts[i].etag);
		buf_adds(&body, "\"</ETag></Part>");
	}
	buf_adds(&body, "</CompleteMultipartUpload>");
	if (body.oom) {
		buf_free(&body);
		return error_nomem(err);
	}
	struct sigv4_param q[] = {{"uploadId", p->upload_id}};
	struct s3_request req = {
		.method = "POST",
		.op = "CompleteMultipartUpload",
		.what = p->key,
		.object = p->object,
		.query = q,
		.n_query = 1,
		.body = body.data,
		.body_len = body.len,
	};
	enum result r = s3_perform(p->s3, &req, err);
	if (!r)
		r = s3_xml_complete(p->s3, &req, &etag, err);
	if (!r && etag && !p->no_md5) {
		char want[64];
		const char *dash = strchr(etag, '-');
		multipart_etag(p, want, sizeof(want));
		/* Only an ETag of the usual form says anything about the data. */
		if (dash && is_md5_hex(etag, (size_t)(dash - etag)) && want[0] &&
		    strcasecmp(etag, want) != 0)
			r = error_set(err, CB_ERR_CORRUPT,
				      "CompleteMultipartUpload %s: the server assembled something "
				      "else (ETag %s, expected %s)",
				      p->key, etag, want);
		if (r)
			remove_object(p);
	}
	free(etag);
	s3_request_done(&req);
	buf_free(&body);
	return r;
}

enum result s3_put_commit(void *put, struct error *err)
{
	struct s3_put *p = put;
	enum result r;
	if (p->failed)
		r = error_set(err, CB_ERR_INTERNAL, "PUT %s: commit after a failure", p->key);
	else if (!p->upload_id)
		r = put_single(p, err);
	else if ((r = p->len ? upload_part(p, err) : CB_OK) == CB_OK)
		r = complete_upload(p, err);
	if (r)
		abort_upload(p);
	put_free(p);
	return r;
}

void s3_put_abort(void *put)
{
	struct s3_put *p = put;
	abort_upload(p);
	put_free(p);
}
