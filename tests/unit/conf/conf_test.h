/*
 * Helpers shared by the conf/ unit tests: a scratch directory (each test
 * program chdirs into its own mkdtemp directory, so config files are named
 * "cbsync.conf" and messages read exactly as a user would see them), a
 * backend table that exercises every value type, and short ways to load a
 * configuration and check an error line.
 */
#ifndef CBSYNC_CONF_TEST_H
#define CBSYNC_CONF_TEST_H

#include "conf/conf.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define UNUSED __attribute__((unused))

/* A backend with one key of every type: an S3-like "s3", whose typed
 * values go into a settings struct of its own, as a real backend's do... */
struct test_s3_settings {
	char *endpoint;
	char *bucket;
	char *region;
	char *access_key;
	char *secret_key;
	uint64_t part_size;
	double timeout;
	int64_t retries;
	bool verify_tls;
	char *cache_dir;
	char *storage_type;
};

#define S3_KEY(t, field) CONF_MAP(t, struct test_s3_settings, field)
static const struct conf_key_spec s3_keys[] = {
	{.key = "endpoint", S3_KEY(URL, endpoint), .required = true, .description = "service URL"},
	{.key = "bucket", S3_KEY(STRING, bucket), .required = true, .description = "bucket name"},
	{.key = "region", S3_KEY(STRING, region), .default_value = "us-east-1",
	 .description = "signing region"},
	{.key = "access_key", S3_KEY(STRING, access_key), .description = "access key id"},
	{.key = "secret_key", S3_KEY(STRING, secret_key), .secret = true,
	 .description = "secret access key"},
	{.key = "part_size", S3_KEY(SIZE, part_size), .default_value = "16M",
	 .min = 5 << 20, .max = 1 << 30, .out_of_range = "part_size must be 5M to 1G",
	 .description = "multipart part size"},
	{.key = "timeout", S3_KEY(DURATION, timeout), .default_value = "30s",
	 .min = 0.001, .max = 3600, .out_of_range = "timeout must be 1ms to 1h",
	 .description = "request timeout"},
	{.key = "retries", S3_KEY(INT, retries), .default_value = "3", .min = 0, .max = 10,
	 .out_of_range = "retries must be 0 to 10", .description = "attempts per request"},
	{.key = "verify_tls", S3_KEY(BOOL, verify_tls), .default_value = "true",
	 .description = "check certificates"},
	{.key = "cache_dir", S3_KEY(PATH, cache_dir), .description = "local cache"},
	{.key = "storage_type", S3_KEY(STRING, storage_type),
	 .description = "a key that ends in _type"},
};

/* ...an SFTP-like one with a key that itself ends in "_file" (and no
 * settings struct: its values are only strings in conf_kv)... */
static const struct conf_key_spec sftp_keys[] = {
	{.key = "host", .type = CONF_STRING, .required = true, .description = "server"},
	{.key = "port", .type = CONF_INT, .default_value = "22", .description = "port"},
	{.key = "identity_file", .type = CONF_PATH, .description = "private key path"},
	{.key = "password", .type = CONF_STRING, .secret = true, .description = "password"},
	{.key = "pin", .type = CONF_INT, .secret = true, .description = "a secret that has a type"},
};

/* ...and a mirror with a single required path. */
static const struct conf_key_spec mirror_keys[] = {
	{.key = "path", .type = CONF_PATH, .required = true, .description = "directory"},
};

static const struct conf_remote_type test_types[] = {
	{"s3", "S3-compatible object storage", s3_keys, sizeof(s3_keys) / sizeof(s3_keys[0]),
	 sizeof(struct test_s3_settings)},
	{"sftp", "SFTP server", sftp_keys, sizeof(sftp_keys) / sizeof(sftp_keys[0]), 0},
	{"mirror", "another directory", mirror_keys, 1, 0},
};
#define N_TEST_TYPES (sizeof(test_types) / sizeof(test_types[0]))

static char test_dir[PATH_MAX];

static UNUSED int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Group setup: a fresh directory to work in. */
static UNUSED int conf_test_setup(void **state)
{
	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/cbsync-conf-test-XXXXXX");
	if (!mkdtemp(test_dir) || chdir(test_dir) != 0)
		return -1;
	return 0;
}

static UNUSED int conf_test_teardown(void **state)
{
	(void)state;
	if (chdir("/") != 0)
		return -1;
	return nftw(test_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write text into the file name (relative to the scratch directory). */
static UNUSED void write_text(const char *name, const char *text)
{
	FILE *f = fopen(name, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Write text to name with the given mode (whatever the umask). */
static UNUSED void write_mode(const char *name, const char *text, mode_t mode)
{
	write_text(name, text);
	assert_int_equal(chmod(name, mode), 0);
}

/* Load with the test backends, the given config file (NULL: none; the
 * system file is pointed at a path that does not exist) and environment. */
static UNUSED enum result load_ex(struct conf *c, struct error *err, const char *path,
				  char **env, const char *db, const char *dir)
{
	static char *empty_env[] = {NULL};
	const struct conf_load_opts opts = {
		.path = path,
		.db_flag = db,
		.dir_flag = dir,
		.remote_types = test_types,
		.n_remote_types = N_TEST_TYPES,
		.environ = env ? env : empty_env,
		.system_path = "no-such-system.conf",
	};
	memset(err, 0, sizeof(*err));
	return conf_load(c, &opts, err);
}

/* Load text as cbsync.conf; the load must succeed. */
static UNUSED void load_ok(struct conf *c, const char *text, char **env)
{
	struct error err;
	if (text)
		write_text("cbsync.conf", text);
	enum result r = load_ex(c, &err, text ? "cbsync.conf" : NULL, env, NULL, NULL);
	if (r)
		fail_msg("unexpected error: %s", err.msg);
}

static UNUSED bool conf_is_zero(const struct conf *c)
{
	static const struct conf zero;
	return memcmp(c, &zero, sizeof(zero)) == 0;
}

/* Load text as cbsync.conf (NULL: no file) with env; the load must fail
 * with exactly the message expected, and leave c empty. */
static UNUSED void expect_error(const char *text, char **env, const char *expected)
{
	struct conf c;
	struct error err;
	memset(&c, 0x5a, sizeof(c));
	if (text)
		write_text("cbsync.conf", text);
	enum result r = load_ex(&c, &err, text ? "cbsync.conf" : NULL, env, NULL, NULL);
	if (r == CB_OK) {
		conf_free(&c);
		fail_msg("expected the error '%s', but the load succeeded", expected);
	}
	assert_int_equal(r, CB_ERR_CONFIG);
	assert_int_equal(err.code, CB_ERR_CONFIG);
	assert_string_equal(err.msg, expected);
	assert_null(strchr(err.msg, '\n'));
	assert_true(conf_is_zero(&c));
	conf_free(&c);
}

/* Like expect_error, for one key = value line in one section. */
static UNUSED void expect_value_error(const char *section, const char *key, const char *value,
				      const char *expected)
{
	char text[512];
	snprintf(text, sizeof(text), "[%s]\n%s = %s\n", section, key, value);
	expect_error(text, NULL, expected);
}

#endif
