/*
 * The XML documents S3 answers with, read with libxml2: errors, object
 * listings (ListObjectsV2), multipart upload ids and completions, and
 * listings of unfinished uploads.
 *
 * Elements are matched by local name, ignoring the namespace (S3 declares
 * one, some compatible servers do not).  Documents are parsed without
 * network access and without entity substitution.
 */
#include "backends/s3/s3.h"

#include "common/timeutil.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static xmlDocPtr parse(const char *body, size_t len)
{
	/* S3 sends blanks ahead of the document while it works on a long
	 * request; an XML declaration must come first, so skip them. */
	while (body && len && (*body == ' ' || *body == '\n' || *body == '\r' || *body == '\t')) {
		body++;
		len--;
	}
	if (!body || !len || len > INT32_MAX)
		return NULL;
	return xmlReadMemory(body, (int)len, NULL, NULL,
			     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static bool named(xmlNodePtr n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr child(xmlNodePtr parent, const char *name)
{
	for (xmlNodePtr n = parent ? parent->children : NULL; n; n = n->next)
		if (named(n, name))
			return n;
	return NULL;
}

/* The text of parent's child element name, malloc'd; NULL if it has none
 * (*nomem tells a missing element from a failed allocation). */
static char *child_text(xmlNodePtr parent, const char *name, bool *nomem)
{
	xmlNodePtr n = child(parent, name);
	if (!n)
		return NULL;
	xmlChar *t = xmlNodeGetContent(n);
	char *s = strdup(t ? (const char *)t : "");
	xmlFree(t);
	if (!s)
		*nomem = true;
	return s;
}

/* Copy the child's text into a fixed buffer (truncated); "" if absent. */
static void child_copy(xmlNodePtr parent, const char *name, char *out, size_t size)
{
	xmlNodePtr n = child(parent, name);
	xmlChar *t = n ? xmlNodeGetContent(n) : NULL;
	snprintf(out, size, "%s", t ? (const char *)t : "");
	xmlFree(t);
}

static bool child_true(xmlNodePtr parent, const char *name)
{
	char v[16];
	child_copy(parent, name, v, sizeof(v));
	return strcmp(v, "true") == 0;
}

bool s3_xml_error(const char *body, size_t len, char *code, size_t code_size, char *message,
		  size_t message_size)
{
	xmlDocPtr doc = parse(body, len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	bool is_error = named(root, "Error");
	if (is_error) {
		child_copy(root, "Code", code, code_size);
		child_copy(root, "Message", message, message_size);
	}
	xmlFreeDoc(doc);
	return is_error;
}

/* "2026-02-02T12:00:00.000Z" (fractions optional) to epoch seconds; 0 if
 * it does not parse. */
static int64_t parse_time(const char *s)
{
	int y, mo, d, h, mi, sec;
	int64_t t;
	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6 ||
	    !time_from_utc_fields(y, mo, d, h, mi, sec, &t))
		return 0;
	return t;
}

static bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	if (!s || !*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undo encoding-type=url in place: %XX, and "+" for a space. */
static void url_decode(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			*o++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 2;
		} else if (*p == '+') {
			*o++ = ' ';
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

enum result s3_xml_list_objects(struct s3_request *req, s3_object_fn fn, void *ctx,
				char **next_token, struct error *err)
{
	enum result r = CB_OK;
	bool nomem = false;
	xmlDocPtr doc = parse(req->response.data, req->response.len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;

	*next_token = NULL;
	if (!named(root, "ListBucketResult")) {
		r = s3_bad_response(req, err, "no ListBucketResult document");
		goto done;
	}
	char enc[16];
	child_copy(root, "EncodingType", enc, sizeof(enc));
	bool url = strcmp(enc, "url") == 0;
	for (xmlNodePtr n = root->children; n && !r; n = n->next) {
		if (!named(n, "Contents"))
			continue;
		char *key = child_text(n, "Key", &nomem);
		char *size = child_text(n, "Size", &nomem);
		char *mtime = child_text(n, "LastModified", &nomem);
		uint64_t sz = 0;
		if (nomem)
			r = error_set(err, CB_ERR_NOMEM, "out of memory");
		else if (!key || !parse_u64(size, &sz))
			r = s3_bad_response(req, err, "an object without a key or size in the listing");
		if (!r) {
			if (url)
				url_decode(key);
			r = fn(ctx, key, sz, parse_time(mtime), err);
		}
		free(key);
		free(size);
		free(mtime);
	}
	if (!r && child_true(root, "IsTruncated")) {
		*next_token = child_text(root, "NextContinuationToken", &nomem);
		if (nomem)
			r = error_set(err, CB_ERR_NOMEM, "out of memory");
		else if (!*next_token || !**next_token)
			r = s3_bad_response(req, err, "a truncated listing without a continuation token");
		if (r) {
			free(*next_token);
			*next_token = NULL;
		}
	}
done:
	xmlFreeDoc(doc);
	return r;
}

enum result s3_xml_upload_id(struct s3_request *req, char **upload_id, struct error *err)
{
	bool nomem = false;
	enum result r = CB_OK;
	xmlDocPtr doc = parse(req->response.data, req->response.len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	char *id = named(root, "InitiateMultipartUploadResult") ? child_text(root, "UploadId", &nomem)
								  : NULL;
	if (nomem)
		r = error_set(err, CB_ERR_NOMEM, "out of memory");
	else if (!id || !*id)
		r = s3_bad_response(req, err, "no UploadId in the answer");
	if (r)
		free(id);
	else
		*upload_id = id;
	xmlFreeDoc(doc);
	return r;
}

enum result s3_xml_complete(struct s3 *s3, struct s3_request *req, char **etag,
			    struct error *err)
{
	bool nomem = false;
	enum result r = CB_OK;
	xmlDocPtr doc = parse(req->response.data, req->response.len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	*etag = NULL;
	if (named(root, "Error")) {
		/* S3 may fail a completion after it answered 200 (it sends
		 * blanks to keep the connection alive meanwhile). */
		char message[512];
		child_copy(root, "Code", req->code, sizeof(req->code));
		child_copy(root, "Message", message, sizeof(message));
		r = s3_http_error(s3, req, message, err);
	} else if (!named(root, "CompleteMultipartUploadResult")) {
		r = s3_bad_response(req, err, "no CompleteMultipartUploadResult document");
	} else {
		char *e = child_text(root, "ETag", &nomem);
		if (nomem) {
			r = error_set(err, CB_ERR_NOMEM, "out of memory");
		} else if (e) {
			/* Quotes, possibly as &quot;, around the value. */
			size_t n = strlen(e);
			if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
				memmove(e, e + 1, n - 2);
				e[n - 2] = '\0';
			}
			*etag = e;
		}
	}
	xmlFreeDoc(doc);
	return r;
}

enum result s3_xml_list_uploads(struct s3_request *req, s3_upload_fn fn, void *ctx,
				char **next_key_marker, char **next_upload_id_marker,
				struct error *err)
{
	enum result r = CB_OK;
	bool nomem = false;
	xmlDocPtr doc = parse(req->response.data, req->response.len);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;

	*next_key_marker = *next_upload_id_marker = NULL;
	if (!named(root, "ListMultipartUploadsResult")) {
		r = s3_bad_response(req, err, "no ListMultipartUploadsResult document");
		goto done;
	}
	char enc[16];
	child_copy(root, "EncodingType", enc, sizeof(enc));
	bool url = strcmp(enc, "url") == 0;
	for (xmlNodePtr n = root->children; n && !r; n = n->next) {
		if (!named(n, "Upload"))
			continue;
		char *key = child_text(n, "Key", &nomem);
		char *id = child_text(n, "UploadId", &nomem);
		char *when = child_text(n, "Initiated", &nomem);
		if (nomem)
			r = error_set(err, CB_ERR_NOMEM, "out of memory");
		else if (!key || !id || !*id)
			r = s3_bad_response(req, err, "an upload without a key or id in the listing");
		if (!r) {
			if (url)
				url_decode(key);
			r = fn(ctx, key, id, parse_time(when), err);
		}
		free(key);
		free(id);
		free(when);
	}
	if (!r && child_true(root, "IsTruncated")) {
		*next_key_marker = child_text(root, "NextKeyMarker", &nomem);
		*next_upload_id_marker = child_text(root, "NextUploadIdMarker", &nomem);
		if (nomem)
			r = error_set(err, CB_ERR_NOMEM, "out of memory");
		else if (!*next_key_marker || !**next_key_marker)
			r = s3_bad_response(req, err, "a truncated upload listing without a marker");
		if (!r && url)
			url_decode(*next_key_marker);
		if (r) {
			free(*next_key_marker);
			free(*next_upload_id_marker);
			*next_key_marker = *next_upload_id_marker = NULL;
		}
	}
done:
	xmlFreeDoc(doc);
	return r;
}
