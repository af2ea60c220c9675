/*
 * What a failed S3 transfer means (backends/s3/s3_fail.c,
 * s3_curl_classify): network trouble is retried later; what only a person
 * can fix -- https:// to a plain-HTTP endpoint, a certificate that is not
 * trusted, names another host or is out of date -- gives up with a hint.
 * The error texts are libcurl's and OpenSSL's own, as curl 7.88 with
 * OpenSSL 3 prints them.
 */
#include "backends/s3/s3.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

/* what: the hint's first sentence, what went wrong. */
static enum result classify(CURLcode res, const char *detail, const char **what,
			    const char **hint)
{
	static char first[200];
	enum result r = s3_curl_classify(res, detail, hint);
	*what = NULL;
	if (*hint) {
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(*hint, ";"), *hint);
		*what = first;
	}
	return r;
}

static void plain_http_endpoint_gives_up(void **state)
{
	(void)state;
	const char *what, *hint;
	assert_int_equal(classify(CURLE_SSL_CONNECT_ERROR,
				  "OpenSSL/3.0.19: error:0A00010B:SSL routines::wrong version number",
				  &what, &hint),
			 CB_ERR_REMOTE);
	assert_string_equal(what, "the endpoint does not speak TLS");
	assert_non_null(strstr(hint, "use http://"));
	assert_int_equal(classify(CURLE_SSL_CONNECT_ERROR,
				  "error:1408F10B:SSL routines:ssl3_get_record:wrong version number",
				  &what, &hint),
			 CB_ERR_REMOTE);
	assert_int_equal(classify(CURLE_SSL_CONNECT_ERROR,
				  "gnutls_handshake() failed: An unexpected TLS packet was received.",
				  &what, &hint),
			 CB_ERR_REMOTE);
}

static void cut_handshake_is_retried(void **state)
{
	(void)state;
	const char *what, *hint;
	assert_int_equal(classify(CURLE_SSL_CONNECT_ERROR,
				  "OpenSSL SSL_connect: Connection reset by peer in connection to "
				  "s3.example:443",
				  &what, &hint),
			 CB_ERR_RETRY);
	assert_null(what);
	assert_null(hint);
	assert_int_equal(classify(CURLE_SSL_CONNECT_ERROR,
				  "OpenSSL SSL_connect: SSL_ERROR_SYSCALL in connection to x:443",
				  &what, &hint),
			 CB_ERR_RETRY);
	assert_int_equal(classify(CURLE_COULDNT_CONNECT, "Failed to connect", &what, &hint),
			 CB_ERR_RETRY);
	assert_int_equal(classify(CURLE_OPERATION_TIMEDOUT, NULL, &what, &hint), CB_ERR_RETRY);
	assert_int_equal(classify(CURLE_RECV_ERROR, "", &what, &hint), CB_ERR_RETRY);
}

static void certificate_failures_give_up(void **state)
{
	(void)state;
	const char *what, *hint;
	assert_int_equal(classify(CURLE_PEER_FAILED_VERIFICATION,
				  "SSL certificate problem: self-signed certificate", &what, &hint),
			 CB_ERR_REMOTE);
	assert_string_equal(what, "the server's certificate is not trusted");
	assert_non_null(strstr(hint, "ca_file"));
	assert_int_equal(classify(CURLE_PEER_FAILED_VERIFICATION,
				  "SSL certificate problem: unable to get local issuer certificate",
				  &what, &hint),
			 CB_ERR_REMOTE);
	assert_non_null(strstr(hint, "ca_file"));

	assert_int_equal(classify(CURLE_PEER_FAILED_VERIFICATION,
				  "SSL: no alternative certificate subject name matches target host "
				  "name '127.0.0.1'",
				  &what, &hint),
			 CB_ERR_REMOTE);
	assert_string_equal(what, "the server's certificate is for another host name");
	assert_non_null(strstr(hint, "endpoint"));
	assert_int_equal(classify(CURLE_PEER_FAILED_VERIFICATION,
				  "SSL: certificate subject name 'a.example' does not match target "
				  "host name 'b.example'",
				  &what, &hint),
			 CB_ERR_REMOTE);
	assert_string_equal(what, "the server's certificate is for another host name");

	assert_int_equal(classify(CURLE_PEER_FAILED_VERIFICATION,
				  "SSL certificate problem: certificate has expired", &what, &hint),
			 CB_ERR_REMOTE);
	assert_non_null(strstr(hint, "clock"));

	assert_int_equal(classify(CURLE_SSL_CACERT_BADFILE,
				  "error setting certificate file: /etc/x.pem", &what, &hint),
			 CB_ERR_REMOTE);
	assert_non_null(strstr(hint, "ca_file"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_http_endpoint_gives_up),
		cmocka_unit_test(cut_handshake_is_retried),
		cmocka_unit_test(certificate_failures_give_up),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
