/*
 * Unit tests for URLs (conf/url.c): the shape a CONF_URL value must have,
 * what a URL's authority holds, and which hosts are this machine.
 */
#include "conf_test.h"
#include "conf/loader.h"

static void test_url_valid(void **state)
{
	(void)state;
	static const char *const ok[] = {
		"https://s3.example.com", "http://127.0.0.1:9000/bucket", "sftp://u@h:22/x",
		"s3+http://minio", "x-y.z://h",
	};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!conf_url_valid(ok[i]))
			fail_msg("URL \"%s\" refused", ok[i]);
	static const char *const bad[] = {
		"", "https://", "://host", "1http://host", "h:9000", "https:/host",
		"https://a b", "https://a\tb", "https://a\x7f", " https://a",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (conf_url_valid(bad[i]))
			fail_msg("URL \"%s\" accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_valid),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
