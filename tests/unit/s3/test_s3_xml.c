/*
 * The S3 backend's XML reading (backends/s3/s3_xml.c) on documents a
 * hostile or broken server could send: a DOCTYPE with nested entities, other
 * encodings, NUL bytes, overlong element text, too many tags -- and the
 * ordinary documents S3 does send, which must still read as before.
 */
#include "backends/s3/s3.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A request whose answer was body (len bytes), as s3_perform leaves it. */
static void answer(struct s3_request *req, const char *body, size_t len)
{
	*req = (struct s3_request){.op = "ListObjectsV2", .what = "bucket b", .status = 200};
	buf_add(&req->response, body, len);
	assert_false(req->response.oom);
}

struct seen {
	char keys[4][64];
	uint64_t sizes[4];
	size_t n;
};

static enum result on_object(void *ctx, const char *key, uint64_t size, int64_t mtime,
			     struct error *err)
{
	struct seen *s = ctx;
	(void)mtime;
	(void)err;
	assert_true(s->n < 4);
	snprintf(s->keys[s->n], sizeof(s->keys[0]), "%s", key);
	s->sizes[s->n++] = size;
	return CB_OK;
}

/* List the body; the result, with err and *s filled. */
static enum result list(const char *body, size_t len, struct seen *s, char **token,
			struct error *err)
{
	struct s3_request req;
	memset(s, 0, sizeof(*s));
	answer(&req, body, len);
	enum result r = s3_xml_list_objects(&req, on_object, s, token, err);
	s3_request_done(&req);
	return r;
}

#define HEAD "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define LIST_OPEN "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
#define CONTENTS(k, s) "<Contents><Key>" k "</Key><Size>" s "</Size></Contents>"

static const char bomb_dtd[] =
	"<!DOCTYPE r [\n<!ENTITY a \"lollollollollollollollollollol\">\n"
	"<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">\n"
	"<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">\n"
	"<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">\n"
	"<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">\n"
	"<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">\n"
	"<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">\n"
	"<!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">\n]>\n";

static void ordinary_documents(void **state)
{
	(void)state;
	struct seen s;
	struct error err = {0};
	char *token = NULL;
	/* Blanks ahead (S3 keeps a connection alive with them), a byte order
	 * mark, S3's escapes and CDATA all still read. */
	static const char page[] =
		"\n  \n" HEAD LIST_OPEN "<EncodingType>url</EncodingType>"
		CONTENTS("a%20b.db.gz", "12") CONTENTS("x&amp;y&#x41;", "3")
		"<Contents><Key><![CDATA[c<d]]></Key><Size>0</Size></Contents>"
		"<IsTruncated>true</IsTruncated><NextContinuationToken>t&quot;1"
		"</NextContinuationToken></ListBucketResult>";
	assert_int_equal(list(page, strlen(page), &s, &token, &err), CB_OK);
	assert_int_equal(s.n, 3);
	assert_string_equal(s.keys[0], "a b.db.gz");
	assert_int_equal(s.sizes[0], 12);
	assert_string_equal(s.keys[1], "x&yA");
	assert_string_equal(s.keys[2], "c<d");
	assert_string_equal(token, "t\"1");
	free(token);

	static const char bom[] = "\xEF\xBB\xBF" LIST_OPEN CONTENTS("k", "1")
		"<IsTruncated>false</IsTruncated></ListBucketResult>";
	assert_int_equal(list(bom, strlen(bom), &s, &token, &err), CB_OK);
	assert_int_equal(s.n, 1);
	assert_null(token);

	char code[64], message[128];
	static const char error_doc[] = HEAD "<Error><Code>SlowDown</Code><Message>Please &amp; "
					"thanks</Message></Error>";
	assert_true(s3_xml_error(error_doc, strlen(error_doc), code, sizeof(code), message,
				 sizeof(message)));
	assert_string_equal(code, "SlowDown");
	assert_string_equal(message, "Please & thanks");
	/* Code and Message are cut to their buffers. */
	assert_true(s3_xml_error(error_doc, strlen(error_doc), code, 5, message, 7));
	assert_string_equal(code, "Slow");
	assert_string_equal(message, "Please");
}

static void doctype_refused(void **state)
{
	(void)state;
	struct seen s;
	struct error err = {0};
	char *token = NULL;
	char body[4096];

	snprintf(body, sizeof(body), HEAD "%s" LIST_OPEN CONTENTS("&h;", "1") "</ListBucketResult>",
		 bomb_dtd);
	assert_int_equal(list(body, strlen(body), &s, &token, &err), CB_ERR_REMOTE);
	assert_string_equal(err.msg, "ListObjectsV2 bucket b: HTTP 200 with a document that "
				     "declares a DOCTYPE, which S3 never sends (refused)");
	assert_int_equal(s.n, 0);
	assert_null(token);

	/* Even a harmless DOCTYPE: S3 never sends one. */
	static const char plain[] = HEAD "<!DOCTYPE ListBucketResult>" LIST_OPEN
		"</ListBucketResult>";
	assert_int_equal(list(plain, strlen(plain), &s, &token, &err), CB_ERR_REMOTE);
	assert_non_null(strstr(err.msg, "DOCTYPE"));

	/* In an error answer, the reason takes the place of S3's Message. */
	char code[64] = "", message[200] = "";
	snprintf(body, sizeof(body), HEAD "%s<Error><Code>AccessDenied</Code><Message>&h;"
					 "</Message></Error>", bomb_dtd);
	assert_false(s3_xml_error(body, strlen(body), code, sizeof(code), message,
				  sizeof(message)));
	assert_string_equal(code, "");
	assert_string_equal(message,
			    "a document that declares a DOCTYPE, which S3 never sends (refused)");
}

static void other_encodings_refused(void **state)
{
	(void)state;
	struct seen s;
	struct error err = {0};
	char *token = NULL;
	/* UTF-16: NUL bytes, whatever it would say. */
	static const char utf16[] = "<\0L\0i\0s\0t\0>\0";
	assert_int_equal(list(utf16, sizeof(utf16) - 1, &s, &token, &err), CB_ERR_REMOTE);
	assert_string_equal(err.msg, "ListObjectsV2 bucket b: HTTP 200 with a document that is "
				     "not UTF-8 text (refused)");
	/* EBCDIC's "<?xm" does not start with "<". */
	static const char ebcdic[] = "\x4c\x6f\xa7\x94";
	assert_int_equal(list(ebcdic, 4, &s, &token, &err), CB_ERR_REMOTE);
	/* A declared encoding is ignored: in UTF-7 "+ADw-" would be "<", so
	 * this would hide a DOCTYPE from the byte check. */
	static const char utf7[] = "<?xml version=\"1.0\" encoding=\"UTF-7\"?>"
				   "+ADwAIQ-DOCTYPE r +AFs-+ADwAIQ-ENTITY a +ACI-x+ACIAPgBd-+AD4-"
				   "<ListBucketResult><Contents><Key>+ACY-a+ADs-</Key><Size>1</Size>"
				   "</Contents></ListBucketResult>";
	enum result r = list(utf7, strlen(utf7), &s, &token, &err);
	assert_int_not_equal(r, CB_OK);
	assert_int_equal(s.n, 0);
	/* A NUL anywhere. */
	static const char nul[] = LIST_OPEN "<Contents><Key>a\0b</Key><Size>1</Size></Contents>"
				  "</ListBucketResult>";
	assert_int_equal(list(nul, sizeof(nul) - 1, &s, &token, &err), CB_ERR_REMOTE);
	assert_int_equal(s.n, 0);
}

static void text_and_tags_capped(void **state)
{
	(void)state;
	struct seen s;
	struct error err = {0};
	char *token = NULL;
	struct buf b = {0};

	/* A key of S3_XML_MAX_TEXT bytes reads; one more byte does not (a
	 * key cut short would name another object). */
	for (size_t extra = 0; extra < 2; extra++) {
		buf_adds(&b, LIST_OPEN "<Contents><Key>");
		for (size_t i = 0; i < S3_XML_MAX_TEXT + extra; i++)
			buf_addc(&b, 'k');
		buf_adds(&b, "</Key><Size>1</Size></Contents></ListBucketResult>");
		assert_false(b.oom);
		memset(&s, 0, sizeof(s));
		struct s3_request req;
		answer(&req, b.data, b.len);
		enum result r = s3_xml_list_objects(&req, on_object, &s, &token, &err);
		s3_request_done(&req);
		if (!extra) {
			assert_int_equal(r, CB_OK);
			assert_int_equal(s.n, 1);
		} else {
			assert_int_equal(r, CB_ERR_REMOTE);
			assert_string_equal(err.msg, "ListObjectsV2 bucket b: HTTP 200 with an element "
						     "whose text is longer than 8192 bytes (refused)");
			assert_int_equal(s.n, 0);
		}
		buf_free(&b);
	}
	/* Text split by comments counts as a whole. */
	buf_adds(&b, LIST_OPEN "<IsTruncated>true</IsTruncated><NextContinuationToken>");
	for (size_t i = 0; i < 3; i++) {
		for (size_t j = 0; j < S3_XML_MAX_TEXT / 2; j++)
			buf_addc(&b, 't');
		buf_adds(&b, "<!-- -->");
	}
	buf_adds(&b, "</NextContinuationToken></ListBucketResult>");
	assert_false(b.oom);
	assert_int_equal(list(b.data, b.len, &s, &token, &err), CB_ERR_REMOTE);
	assert_null(token);
	buf_free(&b);

	/* Too many tags, however small. */
	buf_adds(&b, LIST_OPEN);
	for (size_t i = 0; i < S3_XML_MAX_TAGS; i++)
		buf_adds(&b, "<a/>");
	buf_adds(&b, "</ListBucketResult>");
	assert_false(b.oom);
	assert_int_equal(list(b.data, b.len, &s, &token, &err), CB_ERR_REMOTE);
	assert_string_equal(err.msg, "ListObjectsV2 bucket b: HTTP 200 with a document of more "
				     "than 200000 tags (refused)");
	buf_free(&b);
}

static enum result on_upload(void *ctx, const char *key, const char *upload_id,
			     int64_t initiated, struct error *err)
{
	size_t *n = ctx;
	(void)key;
	(void)upload_id;
	(void)initiated;
	(void)err;
	(*n)++;
	return CB_OK;
}

static void other_documents(void **state)
{
	(void)state;
	struct s3_request req;
	struct error err = {0};
	char body[4096];
	char *id = NULL, *km = NULL, *im = NULL;
	size_t n = 0;

	snprintf(body, sizeof(body), HEAD "%s<InitiateMultipartUploadResult><UploadId>&h;"
					 "</UploadId></InitiateMultipartUploadResult>", bomb_dtd);
	answer(&req, body, strlen(body));
	assert_int_equal(s3_xml_upload_id(&req, &id, &err), CB_ERR_REMOTE);
	assert_null(id);
	s3_request_done(&req);

	snprintf(body, sizeof(body), HEAD "%s<ListMultipartUploadsResult><Upload><Key>&h;</Key>"
					 "<UploadId>u</UploadId></Upload>"
					 "</ListMultipartUploadsResult>", bomb_dtd);
	answer(&req, body, strlen(body));
	assert_int_equal(s3_xml_list_uploads(&req, on_upload, &n, &km, &im, &err), CB_ERR_REMOTE);
	assert_int_equal(n, 0);
	s3_request_done(&req);

	static const char ok[] = HEAD "<ListMultipartUploadsResult><EncodingType>url</EncodingType>"
		"<IsTruncated>true</IsTruncated><NextKeyMarker>a%2Fb</NextKeyMarker>"
		"<NextUploadIdMarker>id2</NextUploadIdMarker>"
		"<Upload><Key>a</Key><UploadId>u1</UploadId>"
		"<Initiated>2026-01-01T00:00:00.000Z</Initiated></Upload>"
		"</ListMultipartUploadsResult>";
	answer(&req, ok, strlen(ok));
	assert_int_equal(s3_xml_list_uploads(&req, on_upload, &n, &km, &im, &err), CB_OK);
	assert_int_equal(n, 1);
	assert_string_equal(km, "a/b");
	assert_string_equal(im, "id2");
	free(km);
	free(im);
	s3_request_done(&req);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ordinary_documents),
		cmocka_unit_test(doctype_refused),
		cmocka_unit_test(other_encodings_refused),
		cmocka_unit_test(text_and_tags_capped),
		cmocka_unit_test(other_documents),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
