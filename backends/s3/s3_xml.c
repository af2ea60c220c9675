/*
 * The XML documents S3 answers with, read with libxml2: errors, object
 * listings (ListObjectsV2), multipart upload ids and completions, and
 * listings of unfinished uploads.
 *
 * Elements are matched by local name, ignoring the namespace (S3 declares
 * one, some compatible servers do not).
 *
 * Every document comes from the network, and a hostile endpoint (or anyone
 * on the path of a plain http:// one) can send anything, so what reaches
 * libxml2 is bounded first (check_document):
 *
 *   - no DOCTYPE: S3 never sends one, and a DTD is what lets a few KiB of
 *     nested entity declarations expand to gigabytes.  The check is on the
 *     raw bytes; NUL bytes (UTF-16, UTF-32) and a first character other
 *     than "<" (EBCDIC) are refused too, and the document's own encoding
 *     declaration is ignored (XML_PARSE_IGNORE_ENC), so a DOCTYPE cannot
 *     hide behind another encoding.  A parsed document that still has a
 *     DTD is refused as well;
 *   - at most S3_XML_MAX_TAGS tags, which bounds the tree libxml2 builds
 *     (the body itself is bounded by s3_http.c);
 *   - the text of an element is read from its text and CDATA children only
 *     (never through entity references, never xmlNodeGetContent), and a
 *     value longer than S3_XML_MAX_TEXT makes the document unreadable
 *     rather than truncated, since a cut key or token would name something
 *     else.  Code and Message of errors are cut to their buffers instead.
 *
 * Documents are parsed without network access and without entity
 * substitution.
 */
#include "backends/s3/s3.h"

#include "common/timeutil.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why a document was not read; the text follows "HTTP <status> with ". */
static const char doctype_refused[] =
	"a document that declares a DOCTYPE, which S3 never sends (refused)";
#define STR_(x) #x
#define STR(x) STR_(x)
static const char too_many_tags[] =
	"a document of more than " STR(S3_XML_MAX_TAGS) " tags (refused)";
static const char not_text[] = "a document that is not UTF-8 text (refused)";
static const char too_long[] =
	"an element whose text is longer than " STR(S3_XML_MAX_TEXT) " bytes (refused)";

/* Check the raw bytes before libxml2 sees them; NULL if they may be
 * parsed, else why not.  body starts at its first non-blank byte. */
static const char *check_document(const char *body, size_t len)
{
	static const char doctype[] = "<!DOCTYPE";
	size_t tags = 0;
	const char *p = body;
	/* A UTF-8 byte order mark may come first. */
	if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3;
	if (p == body + len || *p != '<')
		return not_text;
	if (memchr(body, '\0', len))
		return not_text;
	for (const char *end = body + len; (p = memchr(p, '<', (size_t)(end - p))); p++) {
		if (++tags > S3_XML_MAX_TAGS)
			return too_many_tags;
		if ((size_t)(end - p) >= sizeof(doctype) - 1 &&
		    memcmp(p, doctype, sizeof(doctype) - 1) == 0)
			return doctype_refused;
	}
	return NULL;
}

/* Parse an answer's body; NULL with *why set (to a reason, or NULL when
 * the body is empty or not XML) if it cannot be read. */
static xmlDocPtr parse(const char *body, size_t len, const char **why)
{
	*why = NULL;
	/* S3 sends blanks ahead of the document while it works on a long
	 * request; an XML declaration must come first, so skip them. */
	while (body && len && (*body == ' ' || *body == '\n' || *body == '\r' || *body == '\t')) {
		body++;
		len--;
	}
	if (!body || !len || len > INT32_MAX)
		return NULL;
	if ((*why = check_document(body, len)))
		return NULL;
	xmlDocPtr doc = xmlReadMemory(body, (int)len, NULL, "UTF-8",
				      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
					      XML_PARSE_IGNORE_ENC);
	if (doc && (doc->intSubset || doc->extSubset)) {
		xmlFreeDoc(doc);
		*why = doctype_refused;
		return NULL;
	}
	return doc;
}

/* The document could not be read: say why (a refusal is CB_ERR_REMOTE,
 * since asking again brings the same answer), or what was missing. */
static enum result unreadable(struct s3_request *req, const char *why, const char *missing,
			      struct error *err)
{
	if (why)
		return error_set(err, CB_ERR_REMOTE, "%s %s: HTTP %ld with %s", req->op, req->what,
				 req->status, why);
	return s3_bad_response(req, err, missing);
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

/* Call fn for each piece of n's own text (its text and CDATA children, in
 * order); entity references and nested elements are not followed. */
static bool each_text(xmlNodePtr n, bool (*fn)(void *ctx, const char *s, size_t len),
		      void *ctx)
{
	for (xmlNodePtr t = n ? n->children : NULL; t; t = t->next) {
		if ((t->type == XML_TEXT_NODE || t->type == XML_CDATA_SECTION_NODE) && t->content &&
		    !fn(ctx, (const char *)t->content, strlen((const char *)t->content)))
			return false;
	}
	return true;
}

struct text_acc {
	struct buf b;
	bool too_long;
};

static bool add_text(void *ctx, const char *s, size_t len)
{
	struct text_acc *a = ctx;
	if (len > S3_XML_MAX_TEXT - a->b.len) {
		a->too_long = true;
		return false;
	}
	buf_add(&a->b, s, len);
	return !a->b.oom;
}

/* What reading an element's text can end in. */
enum text_result { TEXT_OK, TEXT_MISSING, TEXT_TOO_LONG, TEXT_NOMEM };

/* The text of parent's child element name, malloc'd in *out. */
static enum text_result child_text(xmlNodePtr parent, const char *name, char **out)
{
	xmlNodePtr n = child(parent, name);
	struct text_acc a = {0};
	*out = NULL;
	if (!n)
		return TEXT_MISSING;
	each_text(n, add_text, &a);
	if (a.too_long) {
		buf_free(&a.b);
		return TEXT_TOO_LONG;
	}
	if (!(*out = buf_take(&a.b)))
		return TEXT_NOMEM;
	return TEXT_OK;
}

struct text_copy {
	char *out;
	size_t size, len;
};

static bool copy_text(void *ctx, const char *s, size_t len)
{
	struct text_copy *c = ctx;
	size_t room = c->size - 1 - c->len;
	if (len > room)
		len = room;
	memcpy(c->out + c->len, s, len);
	c->len += len;
	c->out[c->len] = '\0';
	return c->len + 1 < c->size;
}

/* Copy the child's text into a fixed buffer (truncated); "" if absent. */
static void child_copy(xmlNodePtr parent, const char *name, char *out, size_t size)
{
	struct text_copy c = {.out = out, .size = size};
	out[0] = '\0';
	each_text(child(parent, name), copy_text, &c);
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
	const char *why;
	xmlDocPtr doc = parse(body, len, &why);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	bool is_error = named(root, "Error");
	if (is_error) {
		child_copy(root, "Code", code, code_size);
		child_copy(root, "Message", message, message_size);
	} else if (why && message_size) {
		/* Say why an error answer was not read, in place of S3's Message. */
		snprintf(message, message_size, "%s", why);
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

/* The texts of parent's children names[0..n-1] into out[] (NULL where one
 * is absent); on failure, nothing is left in out. */
static enum result child_texts(struct s3_request *req, xmlNodePtr parent,
			       const char *const *names, char **out, size_t n, struct error *err)
{
	for (size_t i = 0; i < n; i++)
		out[i] = NULL;
	for (size_t i = 0; i < n; i++) {
		enum text_result t = child_text(parent, names[i], &out[i]);
		if (t == TEXT_OK || t == TEXT_MISSING)
			continue;
		for (size_t j = 0; j < i; j++) {
			free(out[j]);
			out[j] = NULL;
		}
		if (t == TEXT_NOMEM)
			return error_nomem(err);
		return unreadable(req, too_long, NULL, err);
	}
	return CB_OK;
}

static void free_texts(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
}

/* Parse a listing whose root element is name into *doc (xmlFreeDoc it
 * whatever the result); *url: its keys are URL-encoded (EncodingType). */
static enum result open_listing(struct s3_request *req, const char *name, xmlDocPtr *doc,
				bool *url, struct error *err)
{
	const char *why;
	char missing[64], enc[16];
	*doc = parse(req->response.data, req->response.len, &why);
	xmlNodePtr root = *doc ? xmlDocGetRootElement(*doc) : NULL;
	if (!named(root, name)) {
		snprintf(missing, sizeof(missing), "no %s document", name);
		return unreadable(req, why, missing, err);
	}
	child_copy(root, "EncodingType", enc, sizeof(enc));
	*url = strcmp(enc, "url") == 0;
	return CB_OK;
}

enum result s3_xml_list_objects(struct s3_request *req, s3_object_fn fn, void *ctx,
				char **next_token, struct error *err)
{
	static const char *const fields[] = {"Key", "Size", "LastModified"};
	xmlDocPtr doc;
	bool url = false;

	*next_token = NULL;
	enum result r = open_listing(req, "ListBucketResult", &doc, &url, err);
	if (r)
		goto done;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	for (xmlNodePtr n = root->children; n && !r; n = n->next) {
		char *v[3];
		uint64_t sz = 0;
		if (!named(n, "Contents") || (r = child_texts(req, n, fields, v, 3, err)))
			continue;
		if (!v[0] || !parse_u64(v[1], &sz))
			r = s3_bad_response(req, err, "an object without a key or size in the listing");
		if (!r) {
			if (url)
				url_decode(v[0]);
			r = fn(ctx, v[0], sz, parse_time(v[2]), err);
		}
		free_texts(v, 3);
	}
	if (!r && child_true(root, "IsTruncated")) {
		static const char *const token_field[] = {"NextContinuationToken"};
		if ((r = child_texts(req, root, token_field, next_token, 1, err)))
			goto done;
		if (!*next_token || !**next_token) {
			free(*next_token);
			*next_token = NULL;
			r = s3_bad_response(req, err, "a truncated listing without a continuation token");
		}
	}
done:
	xmlFreeDoc(doc);
	return r;
}

enum result s3_xml_upload_id(struct s3_request *req, char **upload_id, struct error *err)
{
	static const char *const fields[] = {"UploadId"};
	enum result r;
	const char *why;
	char *id = NULL;
	xmlDocPtr doc = parse(req->response.data, req->response.len, &why);
	xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
	if (!named(root, "InitiateMultipartUploadResult"))
		r = unreadable(req, why, "no UploadId in the answer", err);
	else if (!(r = child_texts(req, root, fields, &id, 1, err)) && (!id || !*id))
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
	static const char *const fields[] = {"ETag"};
	enum result r = CB_OK;
	const char *why;
	xmlDocPtr doc = parse(req->response.data, req->response.len, &why);
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
		r = unreadable(req, why, "no CompleteMultipartUploadResult document", err);
	} else if (!(r = child_texts(req, root, fields, etag, 1, err)) && *etag) {
		/* Quotes, possibly as &quot;, around the value. */
		char *e = *etag;
		size_t n = strlen(e);
		if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
			memmove(e, e + 1, n - 2);
			e[n - 2] = '\0';
		}
	}
	xmlFreeDoc(doc);
	return r;
}

enum result s3_xml_list_uploads(struct s3_request *req, s3_upload_fn fn, void *ctx,
				char **next_key_marker, char **next_upload_id_marker,
				struct error *err)
{
	static const char *const fields[] = {"Key", "UploadId", "Initiated"};
	static const char *const markers[] = {"NextKeyMarker", "NextUploadIdMarker"};
	xmlDocPtr doc;
	bool url = false;

	*next_key_marker = *next_upload_id_marker = NULL;
	enum result r = open_listing(req, "ListMultipartUploadsResult", &doc, &url, err);
	if (r)
		goto done;
	xmlNodePtr root = xmlDocGetRootElement(doc);
	for (xmlNodePtr n = root->children; n && !r; n = n->next) {
		char *v[3];
		if (!named(n, "Upload") || (r = child_texts(req, n, fields, v, 3, err)))
			continue;
		if (!v[0] || !v[1] || !*v[1])
			r = s3_bad_response(req, err, "an upload without a key or id in the listing");
		if (!r) {
			if (url)
				url_decode(v[0]);
			r = fn(ctx, v[0], v[1], parse_time(v[2]), err);
		}
		free_texts(v, 3);
	}
	if (!r && child_true(root, "IsTruncated")) {
		char *m[2];
		if ((r = child_texts(req, root, markers, m, 2, err)))
			goto done;
		if (!m[0] || !*m[0]) {
			free_texts(m, 2);
			r = s3_bad_response(req, err, "a truncated upload listing without a marker");
			goto done;
		}
		if (url)
			url_decode(m[0]);
		*next_key_marker = m[0];
		*next_upload_id_marker = m[1];
	}
done:
	xmlFreeDoc(doc);
	return r;
}
