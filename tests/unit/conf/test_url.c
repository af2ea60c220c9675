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

static void test_url_split(void **state)
{
	(void)state;
	struct ld_url u;
	ld_url_split("HTTP://Key:Pass@Host.Example:9000/p?q#f", &u);
	assert_string_equal(u.scheme, "http");
	assert_true(u.has_user && u.has_password);
	assert_string_equal(u.host, "host.example");
	ld_url_split("sftp://user@[::1]:22/x@y", &u);
	assert_string_equal(u.scheme, "sftp");
	assert_true(u.has_user && !u.has_password);
	assert_string_equal(u.host, "::1");
	ld_url_split("sftp://user:@h/x", &u);
	assert_true(u.has_user && u.has_password);
	ld_url_split("https://h/path@x:y", &u);
	assert_true(!u.has_user && !u.has_password);
	assert_string_equal(u.host, "h");
	ld_url_split("no scheme:pw@host", &u);
	assert_string_equal(u.scheme, "");
	assert_string_equal(u.host, "");

	assert_true(ld_host_is_loopback("localhost"));
	assert_true(ld_host_is_loopback("127.0.0.1"));
	assert_true(ld_host_is_loopback("127.1.2.3"));
	assert_true(ld_host_is_loopback("::1"));
	assert_true(ld_host_is_loopback("::ffff:127.0.0.1"));
	assert_false(ld_host_is_loopback("0.0.0.0"));
	assert_false(ld_host_is_loopback("10.0.0.1"));
	assert_false(ld_host_is_loopback("::"));
	assert_false(ld_host_is_loopback("localhost.example.com"));
	assert_false(ld_host_is_loopback("minio"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_valid),
		cmocka_unit_test(test_url_split),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
