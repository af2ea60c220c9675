/*
 * Unit tests for what conf_load does with hostile or careless input
 * (conf/loader.c and the layers that use it: file.c, entry_value.c,
 * remote.c): the config and KEY_file values read with limits (a FIFO, a
 * device, a directory, a huge file), credentials in URLs refused
 * without repeating them, and the warnings for risky set-ups (a config or
 * secret file others can read, a config in a directory others can write to,
 * plain http:// to another machine, a keep_* rule in bare "m"), with none for
 * a clean set-up.
 */
#include "conf_test.h"
#include "conf/loader.h"

#include <sys/stat.h>
#include <sys/types.h>

/* A backend whose URL carries the login user, as SFTP's does; its secrets
 * in an order that puts the passphrase first, so the hint has to pick the
 * password. */
static const struct conf_key_spec box_keys[] = {
	{.key = "url", .type = CONF_URL, .required = true, .description = "sftp://user@host/path"},
	{.key = "private_key_passphrase", .type = CONF_STRING, .secret = true,
	 .description = "key passphrase"},
	{.key = "password", .type = CONF_STRING, .secret = true, .description = "login password"},
	{.key = "note", .type = CONF_STRING, .description = "not a secret"},
};

static const struct conf_remote_type loader_types[] = {
	{"s3", "S3-like", s3_keys, sizeof(s3_keys) / sizeof(s3_keys[0]),
	 sizeof(struct test_s3_settings)},
	{"box", "SFTP-like", box_keys, sizeof(box_keys) / sizeof(box_keys[0]), 0},
};

static enum result load_types(struct conf *c, struct error *err, const char *path, char **env)
{
	static char *empty_env[] = {NULL};
	const struct conf_load_opts opts = {
		.path = path,
		.remote_types = loader_types,
		.n_remote_types = sizeof(loader_types) / sizeof(loader_types[0]),
		.environ = env ? env : empty_env,
		.system_path = "no-such-system.conf",
	};
	memset(err, 0, sizeof(*err));
	return conf_load(c, &opts, err);
}

/* Load path (mode 0600 unless the test changed it); expect the one error. */
static void expect_load_error(const char *path, char **env, const char *expected)
{
	struct conf c;
	struct error err;
	enum result r = load_types(&c, &err, path, env);
	if (r == CB_OK) {
		conf_free(&c);
		fail_msg("expected the error '%s', but the load succeeded", expected);
	}
	assert_int_equal(r, CB_ERR_CONFIG);
	assert_string_equal(err.msg, expected);
	assert_true(conf_is_zero(&c));
}

/* Load path; it must succeed with exactly the warnings given (NULL-ended). */
static void expect_warnings(const char *path, char **env, const char *const *expected)
{
	struct conf c;
	struct error err;
	enum result r = load_types(&c, &err, path, env);
	if (r)
		fail_msg("unexpected error: %s", err.msg);
	size_t n = 0;
	while (expected[n])
		n++;
	for (size_t i = 0; i < c.n_warnings && i < n; i++)
		assert_string_equal(c.warnings[i], expected[i]);
	if (c.n_warnings != n)
		fail_msg("%zu warnings, expected %zu; first: %s", c.n_warnings, n,
			 c.n_warnings ? c.warnings[0] : "(none)");
	conf_free(&c);
}

static const char *const no_warnings[] = {NULL};

/* A file of size bytes of comment lines. */
static void write_size(const char *name, size_t size)
{
	FILE *f = fopen(name, "w");
	assert_non_null(f);
	for (size_t i = 0; i < size; i++)
		fputc(i % 64 == 63 ? '\n' : (i % 64 == 0 ? '#' : 'x'), f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(name, 0600), 0);
}

static void test_config_file_limits(void **state)
{
	(void)state;
	struct conf c;
	struct error err;
	assert_int_equal(mkfifo("fifo", 0600), 0);

	expect_load_error("fifo", NULL, "cannot read config file 'fifo': not a regular file (a "
			  "FIFO); HINT: --config must name a regular file (e.g. "
			  "/etc/cbsync/cbsync.conf)");
	char *env[] = {"CBSYNC_CONFIG=/dev/zero", NULL};
	expect_load_error(NULL, env, "cannot read config file '/dev/zero': not a regular file (a "
			  "character device); HINT: CBSYNC_CONFIG must name a regular file (e.g. "
			  "/etc/cbsync/cbsync.conf)");
	assert_int_equal(mkdir("confdir", 0700), 0);
	expect_load_error("confdir/", NULL, "cannot read config file 'confdir/': it is a "
			  "directory; HINT: --config names the file itself, e.g. "
			  "confdir/cbsync.conf");

	/* The system file, when it is there but not a file. */
	const struct conf_load_opts sys = {.system_path = "fifo", .environ = (char *[]){NULL}};
	assert_int_equal(conf_load(&c, &sys, &err), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cannot read config file 'fifo': not a regular file (a "
			    "FIFO); HINT: replace it with a regular file, or name one with "
			    "--config");

	/* 1 MiB is the ceiling. */
	write_size("max.conf", LD_MAX_CONFIG);
	expect_warnings("max.conf", NULL, no_warnings);
	write_size("big.conf", LD_MAX_CONFIG + 1);
	expect_load_error("big.conf", NULL, "cannot read config file 'big.conf': it is larger "
			  "than 1 MiB, far more than a config file needs; HINT: is this the "
			  "right file?");

	/* Line numbers and NUL bytes still come out right from memory. */
	write_mode("nul.conf", "[log]\nlevel = info\n", 0600);
	FILE *f = fopen("nul.conf", "a");
	assert_non_null(f);
	fputs("# x", f);
	fputc('\0', f);
	fputs("y\n", f);
	fclose(f);
	expect_load_error("nul.conf", NULL, "nul.conf:3: the line contains a NUL byte (is this a "
			  "text file?)");
	write_mode("noeol.conf", "[log]\nlevel = warn", 0600);
	assert_int_equal(load_types(&c, &err, "noeol.conf", NULL), CB_OK);
	assert_int_equal(c.log_level, LOG_WARN);
	conf_free(&c);
	write_mode("late.conf", "[log]\n\n\nlevel = loud\n", 0600);
	expect_load_error("late.conf", NULL, "late.conf:4: [log] level: \"loud\" is not a log "
			  "level (debug, info, warn, error)");
}

static void test_value_file_limits(void **state)
{
	(void)state;
	write_mode("fifo-key.conf", "[local]\ndir_file = fifo\n", 0600);
	expect_load_error("fifo-key.conf", NULL, "fifo-key.conf:2: [local] dir_file: cannot read "
			  "'fifo': not a regular file (a FIFO); HINT: a _file setting names a "
			  "regular file that holds the value");
	write_mode("zero-key.conf", "[local]\ndir_file = /dev/zero\n", 0600);
	expect_load_error("zero-key.conf", NULL, "zero-key.conf:2: [local] dir_file: cannot read "
			  "'/dev/zero': not a regular file (a character device); HINT: a _file "
			  "setting names a regular file that holds the value");
	char *env[] = {"CBSYNC_REMOTE_OFFSITE_TYPE=s3", "CBSYNC_REMOTE_OFFSITE_BUCKET=b",
		       "CBSYNC_REMOTE_OFFSITE_ENDPOINT=https://s3.example.com",
		       "CBSYNC_REMOTE_OFFSITE_SECRET_KEY_FILE=fifo", NULL};
	expect_load_error(NULL, env, "environment CBSYNC_REMOTE_OFFSITE_SECRET_KEY_FILE: cannot "
			  "read 'fifo': not a regular file (a FIFO); HINT: a _file setting names "
			  "a regular file that holds the value");

	write_size("max.key", LD_MAX_VALUE_FILE);
	write_size("big.key", LD_MAX_VALUE_FILE + 1);
	write_mode("max-key.conf", "[local]\ndir_file = max.key\n", 0600);
	expect_warnings("max-key.conf", NULL, no_warnings);
	write_mode("big-key.conf", "[local]\ndir_file = big.key\n", 0600);
	expect_load_error("big-key.conf", NULL, "big-key.conf:2: [local] dir_file: cannot read "
			  "'big.key': it is larger than 64 KiB, the most a value file may hold; "
			  "HINT: is this the right file?");
}

/* The error for a URL with credentials names the key fields and never
 * repeats the password. */
static void test_url_credentials(void **state)
{
	(void)state;
	write_mode("s3-pass.conf", "[remote \"offsite\"]\ntype = s3\nbucket = b\n"
		   "endpoint = http://AKIA:hunter2@127.0.0.1:9000\n", 0600);
	expect_load_error("s3-pass.conf", NULL, "s3-pass.conf:4: [remote \"offsite\"] endpoint: "
			  "credentials do not belong in the URL (not shown here); HINT: remove "
			  "\"user:password@\" from it and set access_key and secret_key (or "
			  "secret_key_file)");
	/* In http(s), even a user alone is a credential. */
	write_mode("s3-user.conf", "[remote \"offsite\"]\ntype = s3\nbucket = b\n"
		   "endpoint = https://AKIA@s3.example.com\n", 0600);
	expect_load_error("s3-user.conf", NULL, "s3-user.conf:4: [remote \"offsite\"] endpoint: "
			  "credentials do not belong in the URL (not shown here); HINT: remove "
			  "\"user:password@\" from it and set access_key and secret_key (or "
			  "secret_key_file)");
	char *env[] = {"CBSYNC_REMOTE_OFFSITE_TYPE=s3", "CBSYNC_REMOTE_OFFSITE_BUCKET=b",
		       "CBSYNC_REMOTE_OFFSITE_ENDPOINT=https://k:hunter2@s3.example.com", NULL};
	expect_load_error(NULL, env, "environment CBSYNC_REMOTE_OFFSITE_ENDPOINT: credentials do "
			  "not belong in the URL (not shown here); HINT: remove \"user:password@\" "
			  "from it and set access_key and secret_key (or secret_key_file)");

	/* Elsewhere the user is the login name; the password is refused. */
	write_mode("box-pass.conf", "[remote \"box\"]\ntype = box\n"
		   "url = sftp://backup:hunter2@127.0.0.1/srv\n", 0600);
	expect_load_error("box-pass.conf", NULL, "box-pass.conf:3: [remote \"box\"] url: a "
			  "password does not belong in the URL (not shown here); HINT: keep only "
			  "the user (sftp://user@host/...) and set password (or password_file)");
	write_mode("box-url.txt", "sftp://backup:hunter2@127.0.0.1/srv\n", 0600);
	write_mode("box-file.conf", "[remote \"box\"]\ntype = box\nurl_file = box-url.txt\n",
		   0600);
	expect_load_error("box-file.conf", NULL, "box-file.conf:3: [remote \"box\"] url_file: a "
			  "password does not belong in the URL (not shown here); HINT: keep only "
			  "the user (sftp://user@host/...) and set password (or password_file)");
	/* An invalid URL with an "@" is not repeated either. */
	write_mode("box-bad.conf", "[remote \"box\"]\ntype = box\n"
		   "url = sftp://backup@127.0.0.1/a path\n", 0600);
	expect_load_error("box-bad.conf", NULL, "box-bad.conf:3: [remote \"box\"] url: the value "
			  "is not a URL (e.g. https://host:port/path)");

	/* user@host is how the user is given, and it is kept. */
	struct conf c;
	struct error err;
	write_mode("box-ok.conf", "[remote \"box\"]\ntype = box\n"
		   "url = sftp://backup@127.0.0.1/srv\n", 0600);
	assert_int_equal(load_types(&c, &err, "box-ok.conf", NULL), CB_OK);
	assert_string_equal(conf_remote_get(&c.remotes[0], "url"), "sftp://backup@127.0.0.1/srv");
	assert_int_equal(c.n_warnings, 0);
	conf_free(&c);
}

static void test_warnings(void **state)
{
	(void)state;
	/* A clean set-up: nothing to say. */
	write_mode("secret.txt", "s3cr3t\n", 0600);
	write_mode("public.txt", "/var/cache/x\n", 0644);
	write_mode("clean.conf", "[remote \"offsite\"]\ntype = s3\nbucket = b\n"
		   "endpoint = http://127.0.0.1:9000\nsecret_key_file = secret.txt\n"
		   "cache_dir_file = public.txt\n"
		   "[remote \"box\"]\ntype = box\nurl = sftp://u@backup.example.com/x\n"
		   "[remote \"v6\"]\ntype = s3\nbucket = b\nendpoint = http://[::1]:9000/\n"
		   "[remote \"tls\"]\ntype = s3\nbucket = b\nendpoint = https://s3.example.com\n",
		   0600);
	expect_warnings("clean.conf", NULL, no_warnings);

	/* The config file, readable or writable by others. */
	write_mode("open.conf", "[log]\nlevel = info\n", 0644);
	expect_warnings("open.conf", NULL, (const char *const[]){
		"config file 'open.conf' can be read by other users (mode 0644); HINT: chmod 600 "
		"'open.conf' (or 640 with the service's group)", NULL});
	assert_int_equal(chmod("open.conf", 0666), 0);
	expect_warnings("open.conf", NULL, (const char *const[]){
		"config file 'open.conf' can be read and changed by other users (mode 0666); HINT: "
		"chmod 600 'open.conf' (or 640 with the service's group)", NULL});
	assert_int_equal(chmod("open.conf", 0640), 0);
	expect_warnings("open.conf", NULL, no_warnings);

	/* In a directory others can write to, sticky bit or not. */
	char cwd[PATH_MAX], expected[PATH_MAX + 300];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(mkdir("shared", 0700), 0);
	assert_int_equal(chmod("shared", 01777), 0);
	write_mode("shared/cbsync.conf", "[log]\nlevel = info\n", 0600);
	snprintf(expected, sizeof(expected), "config file 'shared/cbsync.conf' is in a directory "
		 "other users can write to ('%s/shared', mode 1777), so they could put their own "
		 "in its place; HINT: keep it in a directory only its owner can change, such as "
		 "/etc/cbsync", cwd);
	expect_warnings("shared/cbsync.conf", NULL, (const char *const[]){expected, NULL});
	/* Above it, only without the sticky bit (like /tmp, which has it). */
	assert_int_equal(mkdir("shared/mine", 0700), 0);
	write_mode("shared/mine/cbsync.conf", "[log]\nlevel = info\n", 0600);
	expect_warnings("shared/mine/cbsync.conf", NULL, no_warnings);
	assert_int_equal(chmod("shared", 0777), 0);
	snprintf(expected, sizeof(expected), "config file 'shared/mine/cbsync.conf' is in a "
		 "directory other users can write to ('%s/shared', mode 0777), so they could put "
		 "their own in its place; HINT: keep it in a directory only its owner can change, "
		 "such as /etc/cbsync", cwd);
	expect_warnings("shared/mine/cbsync.conf", NULL, (const char *const[]){expected, NULL});
	assert_int_equal(chmod("shared", 0700), 0);

	/* A secret's file others can read; the environment's too. */
	write_mode("open-secret.txt", "s3cr3t\n", 0644);
	write_mode("secret-file.conf", "[remote \"offsite\"]\ntype = s3\nbucket = b\n"
		   "endpoint = https://s3.example.com\nsecret_key_file = open-secret.txt\n", 0600);
	expect_warnings("secret-file.conf", NULL, (const char *const[]){
		"secret-file.conf:5: [remote \"offsite\"] secret_key_file: 'open-secret.txt' can be "
		"read by other users (mode 0644); HINT: chmod 600 'open-secret.txt'", NULL});
	char *env[] = {"CBSYNC_REMOTE_BOX_TYPE=box", "CBSYNC_REMOTE_BOX_URL=sftp://u@h/x",
		       "CBSYNC_REMOTE_BOX_PASSWORD_FILE=open-secret.txt", NULL};
	expect_warnings(NULL, env, (const char *const[]){
		"environment CBSYNC_REMOTE_BOX_PASSWORD_FILE: 'open-secret.txt' can be read by other "
		"users (mode 0644); HINT: chmod 600 'open-secret.txt'", NULL});

	/* Plain http to another machine; no lookup is made. */
	write_mode("http.conf", "[remote \"offsite\"]\ntype = s3\nbucket = b\n"
		   "endpoint = http://minio.internal:9000\n", 0600);
	expect_warnings("http.conf", NULL, (const char *const[]){
		"http.conf:4: [remote \"offsite\"] endpoint: plain http:// to minio.internal, which "
		"is not this machine: requests and data cross the network unencrypted; HINT: use "
		"https://", NULL});

	/* Several at once: one line each, in order. */
	write_mode("all.conf", "[remote \"offsite\"]\ntype = s3\nbucket = b\n"
		   "endpoint = http://10.1.2.3\nsecret_key_file = open-secret.txt\n", 0604);
	expect_warnings("all.conf", NULL, (const char *const[]){
		"config file 'all.conf' can be read by other users (mode 0604); HINT: chmod 600 "
		"'all.conf' (or 640 with the service's group)",
		"all.conf:4: [remote \"offsite\"] endpoint: plain http:// to 10.1.2.3, which is not "
		"this machine: requests and data cross the network unencrypted; HINT: use https://",
		"all.conf:5: [remote \"offsite\"] secret_key_file: 'open-secret.txt' can be read by "
		"other users (mode 0644); HINT: chmod 600 'open-secret.txt'", NULL});
}

/* keep_* with a bare "m" still means months, and says so once per key, in
 * the file, the environment and a remote; the clear forms say nothing. */
static void test_keep_bare_m_warns(void **state)
{
	(void)state;
	struct conf c;
	struct error err;
	write_mode("m.conf", "[local]\nkeep_change = 30m\nkeep_monthly = 12m\n"
		   "[remote \"offsite\"]\ntype = s3\nbucket = b\n"
		   "endpoint = https://s3.example.com\nkeep_daily = 2m\n", 0600);
	char *env[] = {"CBSYNC_REMOTE_OFFSITE_KEEP_WEEKLY=6m", NULL};
	expect_warnings("m.conf", env, (const char *const[]){
		"m.conf:2: [local] keep_change: \"30m\" means 30 months (in keep_* a bare \"m\" is "
		"months, elsewhere minutes); HINT: write 30months, or 30min for minutes",
		"m.conf:3: [local] keep_monthly: \"12m\" means 12 months (in keep_* a bare \"m\" is "
		"months, elsewhere minutes); HINT: write 12months, or 12min for minutes",
		"m.conf:8: [remote \"offsite\"] keep_daily: \"2m\" means 2 months (in keep_* a bare "
		"\"m\" is months, elsewhere minutes); HINT: write 2months, or 2min for minutes",
		"environment CBSYNC_REMOTE_OFFSITE_KEEP_WEEKLY: \"6m\" means 6 months (in keep_* a "
		"bare \"m\" is months, elsewhere minutes); HINT: write 6months, or 6min for minutes",
		NULL});
	assert_int_equal(load_types(&c, &err, "m.conf", env), CB_OK);
	assert_int_equal(c.local_keep.keep[BT_CHANGE].kind, KEEP_MONTHS);
	assert_int_equal(c.local_keep.keep[BT_CHANGE].amount, 30);
	assert_int_equal(c.remotes[0].keep.keep[BT_DAILY].kind, KEEP_MONTHS);
	assert_int_equal(c.remotes[0].keep.keep[BT_DAILY].amount, 2);
	conf_free(&c);

	char *env_local[] = {"CBSYNC_LOCAL_KEEP_CHANGE=30m", NULL};
	expect_warnings(NULL, env_local, (const char *const[]){
		"environment CBSYNC_LOCAL_KEEP_CHANGE: \"30m\" means 30 months (in keep_* a bare "
		"\"m\" is months, elsewhere minutes); HINT: write 30months, or 30min for minutes",
		NULL});

	/* Unambiguous forms, and "m" in a duration (minutes, as everywhere). */
	write_mode("clear.conf", "[local]\nkeep_change = 30min\nkeep_monthly = 12mo\n"
		   "keep_weekly = 6months\nkeep_daily = 1month\n[watch]\nmax_delay = 5m\n"
		   "[remote \"offsite\"]\ntype = s3\nbucket = b\n"
		   "endpoint = https://s3.example.com\nkeep_daily = 2y\ntimeout = 1m\n", 0600);
	expect_warnings("clear.conf", NULL, no_warnings);
	assert_int_equal(load_types(&c, &err, "clear.conf", NULL), CB_OK);
	assert_int_equal(c.local_keep.keep[BT_CHANGE].kind, KEEP_SECONDS);
	assert_int_equal(c.local_keep.keep[BT_CHANGE].amount, 1800);
	assert_int_equal(c.local_keep.keep[BT_MONTHLY].kind, KEEP_MONTHS);
	assert_int_equal(c.local_keep.keep[BT_MONTHLY].amount, 12);
	assert_int_equal(c.local_keep.keep[BT_DAILY].amount, 1);
	assert_true(c.watch_max_delay == 300);
	conf_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_file_limits),
		cmocka_unit_test(test_value_file_limits),
		cmocka_unit_test(test_url_credentials),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_keep_bare_m_warns),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
