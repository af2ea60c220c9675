/*
 * Unit tests for [remote "NAME"] sections and CBSYNC_REMOTE_<NAME>_<KEY>:
 * names, types, each value type of a backend's keys (with the normalised
 * form conf_kv promises, and the typed value the config map puts in the
 * backend's settings struct), defaults, ranges, required keys, secrets,
 * keep_* inheritance from the local tier, and remotes defined by the
 * environment alone.  The backends are the test table in conf_test.h.
 */
#include "conf_test.h"

#define S3_MINIMAL \
	"[remote \"offsite\"]\n" \
	"type = s3\n" \
	"endpoint = https://s3.example.com\n" \
	"bucket = backups\n"

static const struct conf_kv *kv_find(const struct conf_remote *r, const char *key)
{
	for (size_t i = 0; i < r->n_kv; i++)
		if (strcmp(r->kv[i].key, key) == 0)
			return &r->kv[i];
	return NULL;
}

static void expect_kv(const struct conf_remote *r, const char *key, const char *value,
		      const char *origin)
{
	const struct conf_kv *kv = kv_find(r, key);
	if (!kv)
		fail_msg("remote %s has no %s", r->name, key);
	assert_string_equal(kv->value, value);
	assert_string_equal(kv->origin, origin);
	assert_string_equal(kv->spec->key, key);
	assert_string_equal(conf_remote_get(r, key), value);
}

static void test_remote_every_type(void **state)
{
	(void)state;
	struct conf c;
	write_text("secret.txt", "s3cr3t\n");
	load_ok(&c,
		"[remote \"OffSite\"]\n"                        /* 1 */
		"type = S3\n"                                   /* 2 */
		"endpoint = https://s3.example.com:9000/x\n"    /* 3 */
		"bucket = my-bucket\n"                          /* 4 */
		"access_key = AKIA\n"                           /* 5 */
		"secret_key_file = secret.txt\n"                /* 6 */
		"part_size = 64M\n"                             /* 7 */
		"timeout = 1.5m\n"                              /* 8 */
		"retries = 007\n"                               /* 9 */
		"verify_tls = no\n"                             /* 10 */
		"cache_dir = /var/cache/cbsync\n"               /* 11 */
		"\n"
		"[remote \"box\"]\n"                            /* 13 */
		"type = sftp\n"                                 /* 14 */
		"host = backup.example.com\n"                   /* 15 */
		"port = -1\n"                                   /* 16 */
		"identity_file = /etc/cbsync/id_ed25519\n"      /* 17 */
		"pin = 1234\n",                                 /* 18 */
		NULL);
	assert_int_equal(c.n_remotes, 2);

	const struct conf_remote *r = conf_remote_find(&c, "offsite");
	assert_ptr_equal(r, &c.remotes[0]);
	assert_string_equal(r->name, "offsite");
	assert_ptr_equal(r->type, &test_types[0]);
	assert_string_equal(r->type_origin, "cbsync.conf:2");
	expect_kv(r, "endpoint", "https://s3.example.com:9000/x", "cbsync.conf:3");
	expect_kv(r, "bucket", "my-bucket", "cbsync.conf:4");
	expect_kv(r, "region", "us-east-1", "default");
	expect_kv(r, "access_key", "AKIA", "cbsync.conf:5");
	expect_kv(r, "secret_key", "s3cr3t", "cbsync.conf:6");
	expect_kv(r, "part_size", "67108864", "cbsync.conf:7");
	expect_kv(r, "timeout", "90", "cbsync.conf:8");
	expect_kv(r, "retries", "7", "cbsync.conf:9");
	expect_kv(r, "verify_tls", "false", "cbsync.conf:10");
	expect_kv(r, "cache_dir", "/var/cache/cbsync", "cbsync.conf:11");
	assert_null(conf_remote_get(r, "storage_type")); /* no value, no default */
	assert_null(conf_remote_get(r, "nope"));
	assert_int_equal(r->n_kv, 10);
	/* In the order of the backend's table. */
	assert_string_equal(r->kv[0].key, "endpoint");
	assert_string_equal(r->kv[2].key, "region");

	r = conf_remote_find(&c, "box");
	assert_non_null(r);
	assert_ptr_equal(r->type, &test_types[1]);
	expect_kv(r, "host", "backup.example.com", "cbsync.conf:15");
	expect_kv(r, "port", "-1", "cbsync.conf:16");
	/* A key whose name ends in _file is that key, not a file reference. */
	expect_kv(r, "identity_file", "/etc/cbsync/id_ed25519", "cbsync.conf:17");
	expect_kv(r, "pin", "1234", "cbsync.conf:18");
	assert_null(conf_remote_get(r, "password"));
	assert_null(conf_remote_find(&c, "nope"));
	conf_free(&c);
}

/* Defaults are normalised like given values. */
static void test_remote_defaults(void **state)
{
	(void)state;
	struct conf c;
	load_ok(&c, S3_MINIMAL, NULL);
	const struct conf_remote *r = &c.remotes[0];
	expect_kv(r, "part_size", "16777216", "default");
	expect_kv(r, "timeout", "30", "default");
	expect_kv(r, "retries", "3", "default");
	expect_kv(r, "verify_tls", "true", "default");
	assert_int_equal(r->n_kv, 7);
	conf_free(&c);

	load_ok(&c, S3_MINIMAL "timeout = 250ms\npart_size = 5MiB\nverify_tls = ON\n", NULL);
	r = &c.remotes[0];
	expect_kv(r, "timeout", "0.25", "cbsync.conf:5");
	expect_kv(r, "part_size", "5242880", "cbsync.conf:6");
	expect_kv(r, "verify_tls", "true", "cbsync.conf:7");
	conf_free(&c);
}

/* The config map puts every value, typed, at its field of the backend's
 * settings struct: given values, defaults, and zero for neither. */
static void test_remote_settings(void **state)
{
	(void)state;
	struct conf c;
	write_text("secret.txt", "s3cr3t\n");
	load_ok(&c,
		S3_MINIMAL
		"access_key = AKIA\n"
		"secret_key_file = secret.txt\n"
		"part_size = 64M\n"
		"timeout = 1.5m\n"
		"retries = -7\n"
		"verify_tls = no\n"
		"cache_dir = /var/cache/cbsync\n"
		"\n"
		"[remote \"box\"]\ntype = sftp\nhost = h\n", NULL);
	const struct conf_remote *r = conf_remote_find(&c, "offsite");
	const struct test_s3_settings *set = r->settings;
	assert_non_null(set);
	assert_string_equal(set->endpoint, "https://s3.example.com");
	assert_string_equal(set->bucket, "backups");
	assert_string_equal(set->region, "us-east-1");
	assert_string_equal(set->access_key, "AKIA");
	assert_string_equal(set->secret_key, "s3cr3t");
	assert_int_equal(set->part_size, 64u << 20);
	assert_true(set->timeout == 90.0);
	assert_int_equal(set->retries, -7);
	assert_false(set->verify_tls);
	assert_string_equal(set->cache_dir, "/var/cache/cbsync");
	assert_null(set->storage_type);
	/* Copies of their own, not the strings conf_kv holds. */
	assert_ptr_not_equal(set->bucket, conf_remote_get(r, "bucket"));
	/* A type without a settings struct has none. */
	assert_null(conf_remote_find(&c, "box")->settings);
	conf_free(&c);

	load_ok(&c, S3_MINIMAL "timeout = 250ms\n", NULL);
	set = c.remotes[0].settings;
	assert_int_equal(set->part_size, 16u << 20);
	assert_true(set->timeout == 0.25);
	assert_int_equal(set->retries, 3);
	assert_true(set->verify_tls);
	assert_null(set->access_key);
	conf_free(&c);

	/* From the environment alone, too. */
	char *env[] = {"CBSYNC_REMOTE_E_TYPE=s3", "CBSYNC_REMOTE_E_ENDPOINT=https://e",
		       "CBSYNC_REMOTE_E_BUCKET=b", "CBSYNC_REMOTE_E_PART_SIZE=5MiB", NULL};
	load_ok(&c, NULL, env);
	set = c.remotes[0].settings;
	assert_string_equal(set->bucket, "b");
	assert_int_equal(set->part_size, 5u << 20);
	conf_free(&c);
}

/* Ranges are the config map's, checked when the remote is opened: the
 * configuration still loads, and the first key out of range (in the
 * order of the map) says why. */
static void test_remote_ranges(void **state)
{
	(void)state;
	static const struct {
		const char *lines;
		const char *error;      /* NULL: in range */
	} cases[] = {
		{"", NULL},
		{"part_size = 5M\ntimeout = 1ms\nretries = 0\n", NULL},
		{"part_size = 1G\ntimeout = 1h\nretries = 10\n", NULL},
		{"part_size = 4M\n", "part_size must be 5M to 1G"},
		{"part_size = 1025M\n", "part_size must be 5M to 1G"},
		{"timeout = 0s\n", "timeout must be 1ms to 1h"},
		{"timeout = 61min\n", "timeout must be 1ms to 1h"},
		{"retries = -1\n", "retries must be 0 to 10"},
		{"retries = 11\n", "retries must be 0 to 10"},
		{"retries = 11\ntimeout = 0s\npart_size = 4M\n", "part_size must be 5M to 1G"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct conf c;
		struct error err = {0};
		char text[512];
		snprintf(text, sizeof(text), "%s%s", S3_MINIMAL, cases[i].lines);
		load_ok(&c, text, NULL);
		enum result r = conf_remote_check_ranges(&c.remotes[0], &err);
		if (cases[i].error) {
			assert_int_equal(r, CB_ERR_CONFIG);
			assert_string_equal(err.msg, cases[i].error);
		} else {
			assert_int_equal(r, CB_OK);
		}
		conf_free(&c);
	}
}

static void test_remote_keep(void **state)
{
	(void)state;
	struct conf c;
	/* Not given: the local tier's effective policy, after the environment. */
	char *env[] = {"CBSYNC_LOCAL_KEEP_CHANGE=2h", NULL};
	load_ok(&c,
		"[local]\nkeep_daily = 3d\n"
		S3_MINIMAL
		"keep_weekly = 2w\n"
		"keep_monthly = forever\n", env);
	const struct conf_remote *r = &c.remotes[0];
	assert_int_equal(r->keep.keep[BT_DAILY].kind, KEEP_SECONDS);
	assert_int_equal(r->keep.keep[BT_DAILY].amount, 3 * 86400);
	assert_string_equal(r->keep_origin[BT_DAILY], "[local] keep_daily");
	assert_int_equal(r->keep.keep[BT_WEEKLY].amount, 14 * 86400);
	assert_string_equal(r->keep_origin[BT_WEEKLY], "cbsync.conf:7");
	assert_int_equal(r->keep.keep[BT_MONTHLY].kind, KEEP_FOREVER);
	assert_int_equal(r->keep.keep[BT_CHANGE].amount, 2 * 3600);
	assert_string_equal(r->keep_origin[BT_CHANGE], "[local] keep_change");
	assert_int_equal(r->keep.keep[BT_MANUAL].kind, KEEP_FOREVER);
	assert_int_equal(r->keep.keep[BT_RESTORE_POINT].kind, KEEP_FOREVER);
	/* The local tier is not affected by the remote. */
	assert_int_equal(c.local_keep.keep[BT_WEEKLY].amount, 28 * 86400);
	conf_free(&c);

	/* From the environment too. */
	char *env2[] = {"CBSYNC_REMOTE_OFFSITE_KEEP_MONTHLY=36m", NULL};
	load_ok(&c, S3_MINIMAL, env2);
	assert_int_equal(c.remotes[0].keep.keep[BT_MONTHLY].kind, KEEP_MONTHS);
	assert_int_equal(c.remotes[0].keep.keep[BT_MONTHLY].amount, 36);
	assert_string_equal(c.remotes[0].keep_origin[BT_MONTHLY],
			    "CBSYNC_REMOTE_OFFSITE_KEEP_MONTHLY");
	conf_free(&c);

	expect_error(S3_MINIMAL "keep_daily = 1x\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] keep_daily: \"1x\" is not a retention "
		     "rule (e.g. 7d, 4w, 12months, 24h, 90min, forever, off)");
	expect_error(S3_MINIMAL "keep_manual = 1d\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] unknown key \"keep_manual\" for type s3; "
		     "HINT: manual backups and restore points are never pruned automatically, so "
		     "they have no retention rule");
}

static void test_remote_value_errors(void **state)
{
	(void)state;
	expect_error(S3_MINIMAL "part_size = 16X\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] part_size: \"16X\" is not a size (e.g. "
		     "512k, 16M, 5MiB, 1G)");
	expect_error(S3_MINIMAL "timeout = 5 seconds\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] timeout: \"5 seconds\" is not a duration "
		     "(e.g. 5s, 2min)");
	expect_error(S3_MINIMAL "retries = 3.5\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] retries: \"3.5\" is not an integer");
	expect_error(S3_MINIMAL "retries = 99999999999999999999\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] retries: \"99999999999999999999\" is not "
		     "an integer");
	expect_error(S3_MINIMAL "verify_tls = maybe\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] verify_tls: \"maybe\" is not a boolean "
		     "(true/false, yes/no, on/off, 1/0)");
	expect_error(S3_MINIMAL "cache_dir = \"\"\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] cache_dir: \"\" is empty (a path is "
		     "needed)");
	static const char *const bad_urls[] = {
		"s3.example.com", "https://", "://host", "1http://host", "https://ho st",
		"https:/host",
	};
	for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
		char text[256], msg[256];
		snprintf(text, sizeof(text), "[remote \"offsite\"]\ntype = s3\nendpoint = %s\n"
			 "bucket = b\n", bad_urls[i]);
		snprintf(msg, sizeof(msg), "cbsync.conf:3: [remote \"offsite\"] endpoint: \"%s\" is "
			 "not a URL (e.g. https://host:port/path)", bad_urls[i]);
		expect_error(text, NULL, msg);
	}
	/* A secret's value is never repeated in a message. */
	expect_error("[remote \"box\"]\ntype = sftp\nhost = h\npin = hunter2\n", NULL,
		     "cbsync.conf:4: [remote \"box\"] pin: the value is not an integer");
	char *env[] = {"CBSYNC_REMOTE_BOX_PIN=hunter2", NULL};
	expect_error("[remote \"box\"]\ntype = sftp\nhost = h\n", env,
		     "environment CBSYNC_REMOTE_BOX_PIN: the value is not an integer");
	/* ${VAR} and _file work in remotes as anywhere. */
	expect_error(S3_MINIMAL "region = ${NOPE}\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] region: environment variable NOPE is not "
		     "set (used as \"${NOPE}\")");
	expect_error(S3_MINIMAL "secret_key_file = missing.txt\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] secret_key_file: cannot read "
		     "'missing.txt': No such file or directory");
}

static void test_remote_structure_errors(void **state)
{
	(void)state;
	expect_error(S3_MINIMAL "bukcet = x\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] unknown key \"bukcet\" for type s3; "
		     "HINT: did you mean \"bucket\"?");
	expect_error(S3_MINIMAL "host = x\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] unknown key \"host\" for type s3");
	expect_error("[remote \"offsite\"]\ntype = s3\nendpoint = https://e\n", NULL,
		     "cbsync.conf:1: [remote \"offsite\"] missing required key \"bucket\"; HINT: "
		     "add bucket = ... or set CBSYNC_REMOTE_OFFSITE_BUCKET");
	expect_error("[remote \"offsite\"]\nbucket = b\n", NULL,
		     "cbsync.conf:1: [remote \"offsite\"] has no type; HINT: add type = one of s3, "
		     "sftp, mirror");
	expect_error("[local]\n[remote \"offsite\"]\n", NULL,
		     "cbsync.conf:2: [remote \"offsite\"] has no type; HINT: add type = one of s3, "
		     "sftp, mirror");
	expect_error("[remote \"offsite\"]\ntype = ftp\n", NULL,
		     "cbsync.conf:2: [remote \"offsite\"] type: no backend of type \"ftp\" is "
		     "compiled in (available: s3, sftp, mirror)");
	expect_error(S3_MINIMAL "type = mirror\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] type: given twice (first at line 2)");
	expect_error(S3_MINIMAL "bucket = again\n", NULL,
		     "cbsync.conf:5: [remote \"offsite\"] bucket: given twice (first at line 4)");
	write_text("secret.txt", "x\n");
	expect_error(S3_MINIMAL "secret_key = a\nsecret_key_file = secret.txt\n", NULL,
		     "cbsync.conf:6: [remote \"offsite\"] secret_key_file: both secret_key and "
		     "secret_key_file are given (the other at line 5); HINT: keep one of them");

	/* Names. */
	expect_error(S3_MINIMAL "\n[remote \"offsite\"]\ntype = s3\n", NULL,
		     "cbsync.conf:6: duplicate [remote \"offsite\"] (first at line 1)");
	expect_error(S3_MINIMAL "[remote \"OFFSITE\"]\n", NULL,
		     "cbsync.conf:5: duplicate [remote \"offsite\"] (first at line 1)");
	expect_error("[remote \"off-site\"]\ntype = s3\n", NULL,
		     "cbsync.conf:1: [remote \"off-site\"]: \"off-site\" is not a valid remote name "
		     "(use letters, digits and _)");
	expect_error("[remote \"off site\"]\n", NULL,
		     "cbsync.conf:1: [remote \"off site\"]: \"off site\" is not a valid remote name "
		     "(use letters, digits and _)");
	expect_error("[remote \"\"]\n", NULL,
		     "cbsync.conf:1: [remote \"\"]: a remote needs a name");
	expect_error("[remote \"local\"]\n", NULL,
		     "cbsync.conf:1: [remote \"local\"]: the remote name \"local\" is reserved "
		     "(--tier local means something else); HINT: pick another name");
	expect_error("[remote \"All\"]\n", NULL,
		     "cbsync.conf:1: [remote \"All\"]: the remote name \"all\" is reserved "
		     "(--tier all means something else); HINT: pick another name");
	char long_name[200];
	snprintf(long_name, sizeof(long_name), "[remote \"%065d\"]\n", 0);
	expect_error(long_name, NULL, "cbsync.conf:1: [remote \"0000000000000000000000000000000000"
		     "0000000000000000000000000000000\"]: the remote name is longer than 64 "
		     "characters");
	static const char *const malformed[] = {
		"remote offsite", "remote", "remote \"offsite", "remote \"a\" b", "remote\"a\"x",
		"remote 'a'",
	};
	for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
		char text[128], msg[256];
		snprintf(text, sizeof(text), "[%s]\n", malformed[i]);
		snprintf(msg, sizeof(msg), "cbsync.conf:1: bad section [%s]; HINT: write [remote "
			 "\"NAME\"]", malformed[i]);
		expect_error(text, NULL, msg);
	}
	/* Spacing around the name is free. */
	struct conf c;
	load_ok(&c, "[ remote   \"spaced\" ]\ntype = mirror\npath = /m\n", NULL);
	assert_string_equal(c.remotes[0].name, "spaced");
	conf_free(&c);
	load_ok(&c, "[remote\"tight\"]\ntype = mirror\npath = /m\n", NULL);
	assert_string_equal(c.remotes[0].name, "tight");
	conf_free(&c);
}

/* A build with no remote backends refuses every remote. */
static void test_no_backends(void **state)
{
	(void)state;
	struct conf c;
	struct error err;
	static char *empty[] = {NULL};
	const struct conf_load_opts opts = {.path = "cbsync.conf", .environ = empty};

	write_text("cbsync.conf", S3_MINIMAL);
	assert_int_equal(conf_load(&c, &opts, &err), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cbsync.conf:2: [remote \"offsite\"] type: no backend of type "
			    "\"s3\" is compiled in (this build has no remote backends)");
	write_text("cbsync.conf", "[remote \"offsite\"]\n");
	assert_int_equal(conf_load(&c, &opts, &err), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cbsync.conf:1: [remote \"offsite\"] has no type, and this "
			    "build has no remote backends");
	write_text("cbsync.conf", "");
	char *env[] = {"CBSYNC_REMOTE_OFFSITE_TYPE=s3", NULL};
	const struct conf_load_opts opts_env = {.path = "cbsync.conf", .environ = env};
	assert_int_equal(conf_load(&c, &opts_env, &err), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "environment CBSYNC_REMOTE_OFFSITE_TYPE: no backend of type "
			    "\"s3\" is compiled in (this build has no remote backends)");
}

/* A container needs no file: a remote from the environment alone. */
static void test_remote_env_only(void **state)
{
	(void)state;
	struct conf c;
	write_text("secret.txt", "from-file\n");
	char *env[] = {
		"CBSYNC_REMOTE_OFFSITE_TYPE=s3",
		"CBSYNC_REMOTE_OFFSITE_ENDPOINT=https://s3.example.com",
		"CBSYNC_REMOTE_OFFSITE_BUCKET=b",
		"CBSYNC_REMOTE_OFFSITE_SECRET_KEY_FILE=secret.txt",
		"CBSYNC_REMOTE_OFFSITE_PART_SIZE=32M",
		"CBSYNC_REMOTE_OFFSITE_STORAGE_TYPE=GLACIER",   /* longest key wins over TYPE */
		"CBSYNC_REMOTE_OFFSITE_KEEP_DAILY=30d",
		"CBSYNC_REMOTE_MY_BOX_TYPE=sftp",               /* a name with an underscore */
		"CBSYNC_REMOTE_MY_BOX_HOST=h",
		"CBSYNC_REMOTE_MY_BOX_IDENTITY_FILE=/id",       /* a key ending in _file */
		"CBSYNC_REMOTE_MY_BOX_PASSWORD=",               /* empty: unset */
		NULL,
	};
	load_ok(&c, NULL, env);
	assert_int_equal(c.n_remotes, 2);
	const struct conf_remote *r = conf_remote_find(&c, "offsite");
	assert_non_null(r);
	assert_ptr_equal(r->type, &test_types[0]);
	assert_string_equal(r->type_origin, "CBSYNC_REMOTE_OFFSITE_TYPE");
	expect_kv(r, "endpoint", "https://s3.example.com", "CBSYNC_REMOTE_OFFSITE_ENDPOINT");
	expect_kv(r, "bucket", "b", "CBSYNC_REMOTE_OFFSITE_BUCKET");
	expect_kv(r, "secret_key", "from-file", "CBSYNC_REMOTE_OFFSITE_SECRET_KEY_FILE");
	expect_kv(r, "part_size", "33554432", "CBSYNC_REMOTE_OFFSITE_PART_SIZE");
	expect_kv(r, "storage_type", "GLACIER", "CBSYNC_REMOTE_OFFSITE_STORAGE_TYPE");
	assert_int_equal(r->keep.keep[BT_DAILY].amount, 30 * 86400);
	r = conf_remote_find(&c, "my_box");
	assert_non_null(r);
	expect_kv(r, "host", "h", "CBSYNC_REMOTE_MY_BOX_HOST");
	expect_kv(r, "identity_file", "/id", "CBSYNC_REMOTE_MY_BOX_IDENTITY_FILE");
	assert_null(conf_remote_get(r, "password"));
	conf_free(&c);
}

/* The environment overrides a remote's keys from the file, type included. */
static void test_remote_env_overrides(void **state)
{
	(void)state;
	struct conf c;
	char *env[] = {"CBSYNC_REMOTE_OFFSITE_BUCKET=from-env", NULL};
	load_ok(&c, S3_MINIMAL, env);
	expect_kv(&c.remotes[0], "bucket", "from-env", "CBSYNC_REMOTE_OFFSITE_BUCKET");
	expect_kv(&c.remotes[0], "endpoint", "https://s3.example.com", "cbsync.conf:3");
	conf_free(&c);

	char *retype[] = {"CBSYNC_REMOTE_OFFSITE_TYPE=mirror", NULL};
	load_ok(&c, "[remote \"offsite\"]\ntype = s3\n", (char *[]){
		"CBSYNC_REMOTE_OFFSITE_TYPE=mirror", "CBSYNC_REMOTE_OFFSITE_PATH=/mnt", NULL});
	assert_ptr_equal(c.remotes[0].type, &test_types[2]);
	expect_kv(&c.remotes[0], "path", "/mnt", "CBSYNC_REMOTE_OFFSITE_PATH");
	conf_free(&c);
	/* With the type changed, the file's s3 keys no longer fit. */
	expect_error(S3_MINIMAL, retype,
		     "cbsync.conf:3: [remote \"offsite\"] unknown key \"endpoint\" for type mirror");

	/* A name declared in the file is preferred when splitting a variable:
	 * this is A_STORAGE's TYPE, not A's STORAGE_TYPE. */
	char *split[] = {"CBSYNC_REMOTE_A_STORAGE_TYPE=mirror", "CBSYNC_REMOTE_A_STORAGE_PATH=/m",
			 NULL};
	load_ok(&c, "[remote \"a_storage\"]\ntype = s3\n", split);
	assert_ptr_equal(c.remotes[0].type, &test_types[2]);
	conf_free(&c);
}

static void test_remote_env_errors(void **state)
{
	(void)state;
	char *undefined[] = {"CBSYNC_REMOTE_NOPE_BUCKET=x", NULL};
	expect_error(NULL, undefined, "environment CBSYNC_REMOTE_NOPE_BUCKET: there is no remote "
		     "\"nope\"; HINT: define it with [remote \"nope\"] or CBSYNC_REMOTE_NOPE_TYPE");
	char *typo[] = {"CBSYNC_REMOTE_OFFSITE_BUKCET=x", NULL};
	expect_error(S3_MINIMAL, typo, "environment CBSYNC_REMOTE_OFFSITE_BUKCET: unknown variable; "
		     "HINT: remote settings are CBSYNC_REMOTE_<NAME>_<KEY> with a key the remote's "
		     "type knows");
	char *bare[] = {"CBSYNC_REMOTE_=x", NULL};
	expect_error(NULL, bare, "environment CBSYNC_REMOTE_: unknown variable; HINT: remote "
		     "settings are CBSYNC_REMOTE_<NAME>_<KEY> with a key the remote's type knows");
	char *other_type[] = {"CBSYNC_REMOTE_OFFSITE_HOST=x", NULL};
	expect_error(S3_MINIMAL, other_type, "environment CBSYNC_REMOTE_OFFSITE_HOST: a remote of "
		     "type s3 has no key \"host\"");
	char *missing[] = {"CBSYNC_REMOTE_OFFSITE_TYPE=s3", NULL};
	expect_error(NULL, missing, "environment CBSYNC_REMOTE_OFFSITE_TYPE: [remote \"offsite\"] "
		     "missing required key \"endpoint\"; HINT: set CBSYNC_REMOTE_OFFSITE_ENDPOINT");
	char *bad_type[] = {"CBSYNC_REMOTE_OFFSITE_TYPE=ftp", NULL};
	expect_error(NULL, bad_type, "environment CBSYNC_REMOTE_OFFSITE_TYPE: no backend of type "
		     "\"ftp\" is compiled in (available: s3, sftp, mirror)");
	char *reserved[] = {"CBSYNC_REMOTE_LOCAL_TYPE=s3", NULL};
	expect_error(NULL, reserved, "environment CBSYNC_REMOTE_LOCAL_TYPE: the remote name "
		     "\"local\" is reserved (--tier local means something else); HINT: pick "
		     "another name");
	write_text("secret.txt", "x\n");
	char *both[] = {"CBSYNC_REMOTE_OFFSITE_SECRET_KEY=a",
			"CBSYNC_REMOTE_OFFSITE_SECRET_KEY_FILE=secret.txt", NULL};
	expect_error(S3_MINIMAL, both, "environment CBSYNC_REMOTE_OFFSITE_SECRET_KEY_FILE: "
		     "CBSYNC_REMOTE_OFFSITE_SECRET_KEY is also set; HINT: set only one of them");
	char *bad_value[] = {"CBSYNC_REMOTE_OFFSITE_TIMEOUT=5 seconds", NULL};
	expect_error(S3_MINIMAL, bad_value, "environment CBSYNC_REMOTE_OFFSITE_TIMEOUT: \"5 "
		     "seconds\" is not a duration (e.g. 5s, 2min)");
	char *missing_file[] = {"CBSYNC_REMOTE_OFFSITE_SECRET_KEY_FILE=/no/such", NULL};
	expect_error(S3_MINIMAL, missing_file, "environment CBSYNC_REMOTE_OFFSITE_SECRET_KEY_FILE: "
		     "cannot read '/no/such': No such file or directory");
}

/* Remotes keep the order they were declared in: the file's, then the
 * environment's (sorted by variable name). */
static void test_remote_order(void **state)
{
	(void)state;
	struct conf c;
	char *env[] = {"CBSYNC_REMOTE_ZED_TYPE=mirror", "CBSYNC_REMOTE_ZED_PATH=/z",
		       "CBSYNC_REMOTE_ALPHA_TYPE=mirror", "CBSYNC_REMOTE_ALPHA_PATH=/a", NULL};
	load_ok(&c, "[remote \"mid\"]\ntype = mirror\npath = /m\n", env);
	assert_int_equal(c.n_remotes, 3);
	assert_string_equal(c.remotes[0].name, "mid");
	assert_string_equal(c.remotes[1].name, "alpha");
	assert_string_equal(c.remotes[2].name, "zed");
	conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_remote_every_type),
		cmocka_unit_test(test_remote_defaults),
		cmocka_unit_test(test_remote_settings),
		cmocka_unit_test(test_remote_ranges),
		cmocka_unit_test(test_remote_keep),
		cmocka_unit_test(test_remote_value_errors),
		cmocka_unit_test(test_remote_structure_errors),
		cmocka_unit_test(test_no_backends),
		cmocka_unit_test(test_remote_env_only),
		cmocka_unit_test(test_remote_env_overrides),
		cmocka_unit_test(test_remote_env_errors),
		cmocka_unit_test(test_remote_order),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
