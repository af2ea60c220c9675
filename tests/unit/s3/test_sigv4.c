/*
 * Unit tests for backends/s3/sigv4.c, the SigV4 signer.
 *
 * The main vectors are the four worked examples of the Amazon S3 API
 * Reference, "Signature Calculations for the Authorization Header:
 * Transferring Payload in a Single Chunk (AWS Signature Version 4)"
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html):
 * access key AKIAIOSFODNN7EXAMPLE, secret wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY,
 * us-east-1, 20130524T000000Z, bucket examplebucket.  For each, the page
 * publishes the canonical request, the string to sign (whose last line is
 * the SHA-256 of the canonical request) and the signature; all three are
 * checked, so a canonicalisation slip shows up as such and not merely as a
 * wrong signature.  Two vectors of AWS's general SigV4 test suite
 * (get-vanilla, get-vanilla-query-order-key-case; service "service",
 * 20150830T123600Z) check the same code with another service and date.
 *
 * The rest pins down what the S3 backend relies on: query canonicalisation
 * (sorting, "uploads=", continuation tokens with "/", "+", "=", "~"), the
 * encoding of object keys in paths, header trimming, and access keys with a
 * ":" (Swift's "account:user").
 */
#include "backends/s3/sigv4.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "common/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define EXAMPLE_DATE "20130524T000000Z"
#define EXAMPLE_HOST "examplebucket.s3.amazonaws.com"
#define EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The published results of the S3 API Reference's examples. */
#define GET_OBJECT_CR_SHA256 "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
#define GET_OBJECT_SIGNATURE "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
#define PUT_OBJECT_PAYLOAD "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
#define PUT_OBJECT_CR_SHA256 "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d"
#define PUT_OBJECT_SIGNATURE "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
#define LIFECYCLE_CR_SHA256 "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca"
#define LIFECYCLE_SIGNATURE "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
#define LIST_CR_SHA256 "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7"
#define LIST_SIGNATURE "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"

/* AWS's SigV4 test suite. */
#define VANILLA_SIGNATURE "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
#define VANILLA_QUERY_SIGNATURE "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"

static const struct sigv4_credentials example_cred = {
	.access_key_id = "AKIAIOSFODNN7EXAMPLE",
	.secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
	.region = "us-east-1",
	.service = "s3",
};

static void sha256_hex_of(const char *s, char out[SHA256_HEX_LEN + 1])
{
	uint8_t d[SHA256_LEN];
	sha256_buf(s, strlen(s), d);
	hex_encode(d, SHA256_LEN, out);
}

/* Check one published example end to end: canonical request (exactly, when
 * the page's text is given, and by its hash), string to sign, signature and
 * the Authorization header. */
static void check_example(const struct sigv4_request *req, const struct sigv4_credentials *cred,
			  const char *date, const char *want_canonical, const char *want_cr_sha256,
			  const char *want_signed_headers, const char *want_signature)
{
	char *signed_headers = NULL;
	char *cr = sigv4_canonical_request(req, &signed_headers);
	assert_non_null(cr);
	if (want_canonical)
		assert_string_equal(cr, want_canonical);
	assert_string_equal(signed_headers, want_signed_headers);
	char hash[SHA256_HEX_LEN + 1];
	sha256_hex_of(cr, hash);
	assert_string_equal(hash, want_cr_sha256);

	char *sts = sigv4_string_to_sign(date, cred->region, cred->service, cr);
	assert_non_null(sts);
	char want_sts[256];
	snprintf(want_sts, sizeof(want_sts), "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s",
		 date, date, cred->region, cred->service, want_cr_sha256);
	assert_string_equal(sts, want_sts);

	char sig[SIGV4_HEX_LEN + 1];
	assert_true(sigv4_signature(cred, date, sts, sig));
	assert_string_equal(sig, want_signature);

	char *auth = sigv4_authorization(req, cred, date);
	char want_auth[512];
	snprintf(want_auth, sizeof(want_auth),
		 "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request,SignedHeaders=%s,"
		 "Signature=%s",
		 cred->access_key_id, date, cred->region, cred->service, want_signed_headers,
		 want_signature);
	assert_string_equal(auth, want_auth);
	assert_null(strstr(auth, cred->secret_access_key));
	free(auth);
	free(sts);
	free(cr);
	free(signed_headers);
}

/* Example: GET Object -- the first ten bytes of test.txt (a Range header). */
static void test_s3_example_get_object(void **state)
{
	(void)state;
	const struct sigv4_header h[] = {
		{"Host", EXAMPLE_HOST},
		{"Range", "bytes=0-9"},
		{"x-amz-content-sha256", EMPTY_SHA256},
		{"x-amz-date", EXAMPLE_DATE},
	};
	const struct sigv4_request req = {
		.method = "GET",
		.path = "/test.txt",
		.headers = h,
		.n_headers = N(h),
		.payload_sha256 = EMPTY_SHA256,
	};
	check_example(&req, &example_cred, EXAMPLE_DATE,
		      "GET\n"
		      "/test.txt\n"
		      "\n"
		      "host:examplebucket.s3.amazonaws.com\n"
		      "range:bytes=0-9\n"
		      "x-amz-content-sha256:" EMPTY_SHA256 "\n"
		      "x-amz-date:20130524T000000Z\n"
		      "\n"
		      "host;range;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
		      GET_OBJECT_CR_SHA256, "host;range;x-amz-content-sha256;x-amz-date",
		      GET_OBJECT_SIGNATURE);
}

/* Example: PUT Object -- "Welcome to Amazon S3." as test$file.text, with a
 * Date header and a storage class; "$" must be encoded in the path. */
static void test_s3_example_put_object(void **state)
{
	(void)state;
	const char *body = "Welcome to Amazon S3.";
	char payload[SHA256_HEX_LEN + 1];
	sha256_hex_of(body, payload);
	assert_string_equal(payload, PUT_OBJECT_PAYLOAD);
	const struct sigv4_header h[] = {
		{"x-amz-storage-class", "REDUCED_REDUNDANCY"},
		{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
		{"x-amz-date", EXAMPLE_DATE},
		{"Host", EXAMPLE_HOST},
		{"x-amz-content-sha256", payload},
	};
	const struct sigv4_request req = {
		.method = "PUT",
		.path = "/test$file.text",
		.headers = h,
		.n_headers = N(h),
		.payload_sha256 = payload,
	};
	check_example(&req, &example_cred, EXAMPLE_DATE,
		      "PUT\n"
		      "/test%24file.text\n"
		      "\n"
		      "date:Fri, 24 May 2013 00:00:00 GMT\n"
		      "host:examplebucket.s3.amazonaws.com\n"
		      "x-amz-content-sha256:" PUT_OBJECT_PAYLOAD "\n"
		      "x-amz-date:20130524T000000Z\n"
		      "x-amz-storage-class:REDUCED_REDUNDANCY\n"
		      "\n"
		      "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class\n"
		      PUT_OBJECT_PAYLOAD,
		      PUT_OBJECT_CR_SHA256,
		      "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
		      PUT_OBJECT_SIGNATURE);
}

static const struct sigv4_header bucket_headers[] = {
	{"host", EXAMPLE_HOST},
	{"x-amz-date", EXAMPLE_DATE},
	{"x-amz-content-sha256", EMPTY_SHA256},
};

/* Example: GET Bucket Lifecycle -- "?lifecycle", a parameter without a
 * value, canonicalised as "lifecycle=". */
static void test_s3_example_get_lifecycle(void **state)
{
	(void)state;
	const struct sigv4_param q[] = {{"lifecycle", ""}};
	const struct sigv4_request req = {
		.method = "GET",
		.path = "/",
		.query = q,
		.n_query = N(q),
		.headers = bucket_headers,
		.n_headers = N(bucket_headers),
		.payload_sha256 = EMPTY_SHA256,
	};
	check_example(&req, &example_cred, EXAMPLE_DATE,
		      "GET\n"
		      "/\n"
		      "lifecycle=\n"
		      "host:examplebucket.s3.amazonaws.com\n"
		      "x-amz-content-sha256:" EMPTY_SHA256 "\n"
		      "x-amz-date:20130524T000000Z\n"
		      "\n"
		      "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
		      LIFECYCLE_CR_SHA256, "host;x-amz-content-sha256;x-amz-date",
		      LIFECYCLE_SIGNATURE);
}

/* Example: GET Bucket (List Objects) -- "?max-keys=2&prefix=J", given here
 * in the other order so that the sort is what makes it match. */
static void test_s3_example_list_objects(void **state)
{
	(void)state;
	const struct sigv4_param q[] = {{"prefix", "J"}, {"max-keys", "2"}};
	const struct sigv4_request req = {
		.method = "GET",
		.path = "/",
		.query = q,
		.n_query = N(q),
		.headers = bucket_headers,
		.n_headers = N(bucket_headers),
		.payload_sha256 = EMPTY_SHA256,
	};
	check_example(&req, &example_cred, EXAMPLE_DATE,
		      "GET\n"
		      "/\n"
		      "max-keys=2&prefix=J\n"
		      "host:examplebucket.s3.amazonaws.com\n"
		      "x-amz-content-sha256:" EMPTY_SHA256 "\n"
		      "x-amz-date:20130524T000000Z\n"
		      "\n"
		      "host;x-amz-content-sha256;x-amz-date\n" EMPTY_SHA256,
		      LIST_CR_SHA256, "host;x-amz-content-sha256;x-amz-date", LIST_SIGNATURE);
}

static const struct sigv4_credentials suite_cred = {
	.access_key_id = "AKIDEXAMPLE",
	.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
	.region = "us-east-1",
	.service = "service",
};

/* AWS SigV4 test suite: get-vanilla and get-vanilla-query-order-key-case. */
static void test_aws_suite_vanilla(void **state)
{
	(void)state;
	const struct sigv4_header h[] = {
		{"Host", "example.amazonaws.com"},
		{"X-Amz-Date", "20150830T123600Z"},
	};
	const struct sigv4_request req = {
		.method = "GET",
		.path = "/",
		.headers = h,
		.n_headers = N(h),
		.payload_sha256 = EMPTY_SHA256,
	};
	char *cr = sigv4_canonical_request(&req, NULL);
	char hash[SHA256_HEX_LEN + 1];
	sha256_hex_of(cr, hash);
	free(cr);
	check_example(&req, &suite_cred, "20150830T123600Z", NULL, hash, "host;x-amz-date",
		      VANILLA_SIGNATURE);

	const struct sigv4_param q[] = {{"Param2", "value2"}, {"Param1", "value1"}};
	const struct sigv4_request rq = {
		.method = "GET",
		.path = "/",
		.query = q,
		.n_query = N(q),
		.headers = h,
		.n_headers = N(h),
		.payload_sha256 = EMPTY_SHA256,
	};
	cr = sigv4_canonical_request(&rq, NULL);
	assert_non_null(strstr(cr, "\nParam1=value1&Param2=value2\n"));
	sha256_hex_of(cr, hash);
	free(cr);
	check_example(&rq, &suite_cred, "20150830T123600Z", NULL, hash, "host;x-amz-date",
		      VANILLA_QUERY_SIGNATURE);
}

static void expect_query(const struct sigv4_param *q, size_t n, const char *want)
{
	char *got = sigv4_canonical_query(q, n);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_query_canonical(void **state)
{
	(void)state;
	expect_query(NULL, 0, "");
	/* CreateMultipartUpload: a bare "uploads". */
	expect_query((const struct sigv4_param[]){{"uploads", ""}}, 1, "uploads=");
	expect_query((const struct sigv4_param[]){{"uploads", NULL}}, 1, "uploads=");
	/* UploadPart: sorted by name, not as given. */
	expect_query((const struct sigv4_param[]){{"uploadId", "2~abc.DEF_-"}, {"partNumber", "12"}},
		     2, "partNumber=12&uploadId=2~abc.DEF_-");
	/* ListObjectsV2 with a token that needs encoding: "/", "+" and "="
	 * become %2F %2B %3D (uppercase hex), "~" stays. */
	expect_query((const struct sigv4_param[]){{"list-type", "2"},
						   {"prefix", "offsite/cloudbrain_"},
						   {"continuation-token", "1/a+b=c~d"},
						   {"encoding-type", "url"}},
		     4,
		     "continuation-token=1%2Fa%2Bb%3Dc~d&encoding-type=url&list-type=2&"
		     "prefix=offsite%2Fcloudbrain_");
	/* Spaces are %20 (never "+"), other bytes as UTF-8 octets. */
	expect_query((const struct sigv4_param[]){{"prefix", "a b\xc3\xa9*!'()"}}, 1,
		     "prefix=a%20b%C3%A9%2A%21%27%28%29");
	/* Equal names sort by value; names are encoded too, then sorted
	 * byte-wise (upper case before lower case). */
	expect_query((const struct sigv4_param[]){{"a", "2"}, {"b", ""}, {"a", "10"}, {"B", "x"}}, 4,
		     "B=x&a=10&a=2&b=");
	expect_query((const struct sigv4_param[]){{"x y", "1"}}, 1, "x%20y=1");
}

static void expect_path(const char *path, const char *want)
{
	const struct sigv4_header h[] = {{"host", "h"}};
	const struct sigv4_request req = {
		.method = "GET",
		.path = path,
		.headers = h,
		.n_headers = 1,
		.payload_sha256 = EMPTY_SHA256,
	};
	char *cr = sigv4_canonical_request(&req, NULL);
	assert_non_null(cr);
	const char *line = strchr(cr, '\n') + 1;
	size_t n = (size_t)(strchr(line, '\n') - line);
	assert_int_equal(n, strlen(want));
	assert_memory_equal(line, want, n);
	free(cr);
	char *enc = sigv4_uri_encode(path, true);
	if (*path)
		assert_string_equal(enc, want);
	free(enc);
}

static void test_uri_encoding_of_keys(void **state)
{
	(void)state;
	/* What cbsync writes is left alone... */
	expect_path("/bucket/offsite/cloudbrain_manual_20260202_120000.db.gz",
		    "/bucket/offsite/cloudbrain_manual_20260202_120000.db.gz");
	expect_path("/bucket/a-b/c.d_e~f", "/bucket/a-b/c.d_e~f");
	/* ...anything else is encoded once, segment by segment, "/" kept. */
	expect_path("/b/a b/c+d=e&f?g#h", "/b/a%20b/c%2Bd%3De%26f%3Fg%23h");
	expect_path("/b/\xc3\xbc:@$", "/b/%C3%BC%3A%40%24");
	expect_path("/b/already%20encoded", "/b/already%2520encoded");
	/* S3 does not normalise paths. */
	expect_path("/b//x/./y/../z", "/b//x/./y/../z");
	expect_path("", "/");
	expect_path("/", "/");

	char *q = sigv4_uri_encode("a/b c", false);
	assert_string_equal(q, "a%2Fb%20c");
	free(q);
}

static void test_headers_canonical(void **state)
{
	(void)state;
	const struct sigv4_header h[] = {
		{"X-Amz-Date", "  20130524T000000Z\t"},
		{"HOST", "s3.example.com:9000"},
		{"x-amz-meta-note", "a   b \t c"},
		{"X-Amz-Meta-Note", "second"},
		{"Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="},
	};
	const struct sigv4_request req = {
		.method = "PUT",
		.path = "/b/k",
		.headers = h,
		.n_headers = N(h),
		.payload_sha256 = EMPTY_SHA256,
	};
	char *signed_headers = NULL;
	char *cr = sigv4_canonical_request(&req, &signed_headers);
	assert_string_equal(cr, "PUT\n/b/k\n\n"
				"content-md5:1B2M2Y8AsgTpgAmY7PhCfg==\n"
				"host:s3.example.com:9000\n"
				"x-amz-date:20130524T000000Z\n"
				"x-amz-meta-note:a b c,second\n"
				"\n"
				"content-md5;host;x-amz-date;x-amz-meta-note\n" EMPTY_SHA256);
	assert_string_equal(signed_headers, "content-md5;host;x-amz-date;x-amz-meta-note");
	free(cr);
	free(signed_headers);
}

/* Swift's tempauth keys look like "account:user"; the signer must carry them
 * verbatim into the Credential (curl's own signer cannot). */
static void test_access_key_with_colon(void **state)
{
	(void)state;
	const struct sigv4_credentials cred = {
		.access_key_id = "test:tester",
		.secret_access_key = "testing",
		.region = "us-east-1",
		.service = "s3",
	};
	const struct sigv4_header h[] = {
		{"host", "127.0.0.1:8080"},
		{"x-amz-content-sha256", EMPTY_SHA256},
		{"x-amz-date", EXAMPLE_DATE},
		{"x-amz-security-token", "token/with+chars="},
	};
	const struct sigv4_request req = {
		.method = "GET",
		.path = "/bucket",
		.query = (const struct sigv4_param[]){{"list-type", "2"}},
		.n_query = 1,
		.headers = h,
		.n_headers = N(h),
		.payload_sha256 = EMPTY_SHA256,
	};
	char *auth = sigv4_authorization(&req, &cred, EXAMPLE_DATE);
	assert_non_null(auth);
	const char *prefix =
		"AWS4-HMAC-SHA256 Credential=test:tester/20130524/us-east-1/s3/aws4_request,"
		"SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,Signature=";
	assert_int_equal(strncmp(auth, prefix, strlen(prefix)), 0);
	assert_int_equal(strlen(auth), strlen(prefix) + SIGV4_HEX_LEN);
	assert_null(strstr(auth, "testing"));
	/* The same request with another secret signs differently. */
	struct sigv4_credentials other = cred;
	other.secret_access_key = "testinG";
	char *auth2 = sigv4_authorization(&req, &other, EXAMPLE_DATE);
	assert_string_not_equal(auth, auth2);
	free(auth);
	free(auth2);
}

static void test_date_format(void **state)
{
	(void)state;
	char d[SIGV4_DATE_LEN + 1];
	sigv4_format_date(1369353600, d);       /* 2013-05-24 00:00:00 UTC */
	assert_string_equal(d, EXAMPLE_DATE);
	sigv4_format_date(1440938160, d);
	assert_string_equal(d, "20150830T123600Z");
	sigv4_format_date(951782400, d);        /* 2000-02-29 */
	assert_string_equal(d, "20000229T000000Z");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s3_example_get_object),
		cmocka_unit_test(test_s3_example_put_object),
		cmocka_unit_test(test_s3_example_get_lifecycle),
		cmocka_unit_test(test_s3_example_list_objects),
		cmocka_unit_test(test_aws_suite_vanilla),
		cmocka_unit_test(test_query_canonical),
		cmocka_unit_test(test_uri_encoding_of_keys),
		cmocka_unit_test(test_headers_canonical),
		cmocka_unit_test(test_access_key_with_colon),
		cmocka_unit_test(test_date_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
