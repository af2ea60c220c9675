/*
 * Unit tests for conf_print: the output is an INI file conf_load reads back
 * to the same configuration (the round trip), secrets are masked, units are
 * unambiguous, and each value carries a comment naming its origin.
 */
#include "conf_test.h"

/* conf_print into a string (caller frees). */
static char *print_to_string(const struct conf *c)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	assert_non_null(f);
	conf_print(c, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

static void assert_contains(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		fail_msg("expected to find\n  %s\nin\n%s", needle, text);
}

static void assert_same_keep(const struct retention_policy *a, const struct retention_policy *b)
{
	for (int t = 0; t < BT_COUNT; t++) {
		assert_int_equal(a->keep[t].kind, b->keep[t].kind);
		assert_int_equal(a->keep[t].amount, b->keep[t].amount);
	}
}

static void assert_same_schedule(const struct conf_schedule *a, const struct conf_schedule *b)
{
	assert_int_equal(a->enabled, b->enabled);
	if (!a->enabled)
		return;
	assert_int_equal(a->hour, b->hour);
	assert_int_equal(a->minute, b->minute);
	assert_int_equal(a->second, b->second);
	assert_int_equal(a->weekday, b->weekday);
	assert_int_equal(a->mday, b->mday);
}

/* Every value equal; a secret comes back as the mask. */
static void assert_same_conf(const struct conf *a, const struct conf *b)
{
	assert_string_equal(a->db_path, b->db_path);
	assert_string_equal(a->local_dir, b->local_dir);
	assert_same_keep(&a->local_keep, &b->local_keep);
	assert_int_equal(a->compression, b->compression);
	assert_true(a->lock_timeout == b->lock_timeout);
	assert_same_schedule(&a->daily, &b->daily);
	assert_same_schedule(&a->weekly, &b->weekly);
	assert_same_schedule(&a->monthly, &b->monthly);
	assert_string_equal(a->timezone, b->timezone);
	assert_int_equal(a->catch_up, b->catch_up);
	assert_int_equal(a->watch_enabled, b->watch_enabled);
	assert_true(a->watch_quiet == b->watch_quiet);
	assert_true(a->watch_min_interval == b->watch_min_interval);
	assert_true(a->watch_max_delay == b->watch_max_delay);
	assert_int_equal(a->log_level, b->log_level);
	assert_int_equal(a->log_format, b->log_format);
	assert_int_equal(a->n_remotes, b->n_remotes);
	for (size_t i = 0; i < a->n_remotes; i++) {
		const struct conf_remote *ra = &a->remotes[i], *rb = &b->remotes[i];
		assert_string_equal(ra->name, rb->name);
		assert_ptr_equal(ra->type, rb->type);
		assert_same_keep(&ra->keep, &rb->keep);
		assert_int_equal(ra->n_kv, rb->n_kv);
		for (size_t k = 0; k < ra->n_kv; k++) {
			assert_string_equal(ra->kv[k].key, rb->kv[k].key);
			if (ra->kv[k].spec->secret)
				assert_string_equal(rb->kv[k].value, "********");
			else
				assert_string_equal(ra->kv[k].value, rb->kv[k].value);
		}
	}
}

/* Print c, load the printed text back with no environment, compare. */
static void round_trip(const struct conf *c)
{
	char *text = print_to_string(c);
	struct conf back;
	struct error err;
	write_text("printed.conf", text);
	if (load_ex(&back, &err, "printed.conf", NULL, NULL, NULL))
		fail_msg("the printed configuration does not load: %s\n%s", err.msg, text);
	assert_same_conf(c, &back);
	/* And printing again gives the same values (origins differ). */
	char *again = print_to_string(&back);
	struct conf third;
	write_text("printed.conf", again);
	if (load_ex(&third, &err, "printed.conf", NULL, NULL, NULL))
		fail_msg("the reprinted configuration does not load: %s", err.msg);
	assert_same_conf(&back, &third);
	conf_free(&third);
	conf_free(&back);
	free(again);
	free(text);
}

static void test_print_defaults(void **state)
{
	(void)state;
	struct conf c;
	load_ok(&c, NULL, NULL);
	char *text = print_to_string(&c);
	assert_contains(text, "# cbsync: the effective configuration (no config file)\n");
	assert_contains(text, "\n[database]\npath = ai_db/cloudbrain.db  # default\n");
	assert_contains(text, "\n[local]\ndir = ai_db/backups  # default\n");
	assert_contains(text, "keep_daily = 7d  # default\n");
	assert_contains(text, "keep_weekly = 4w  # default\n");
	assert_contains(text, "keep_monthly = 12months  # default\n");
	assert_contains(text, "keep_change = 24h  # default\n");
	assert_contains(text, "compression = 2  # default\n");
	assert_contains(text, "lock_timeout = 10s  # default\n");
	assert_contains(text, "\n[schedule]\ndaily = 02:00  # default\n");
	assert_contains(text, "weekly = sun 03:00  # default\n");
	assert_contains(text, "monthly = 1 04:00  # default\n");
	assert_contains(text, "timezone = UTC  # default\n");
	assert_contains(text, "catch_up = true  # default\n");
	assert_contains(text, "\n[watch]\nenabled = true  # default\n");
	assert_contains(text, "quiet = 5s  # default\n");
	assert_contains(text, "min_interval = 1min  # default\n");
	assert_contains(text, "max_delay = 5min  # default\n");
	assert_contains(text, "\n[log]\nformat = text  # default\n");
	assert_contains(text, "level = info  # default\n");
	assert_null(strstr(text, "[remote"));
	free(text);
	round_trip(&c);
	conf_free(&c);
}

/* Every key away from its default, remotes from the file and from the
 * environment, secrets in both. */
static void test_print_round_trip(void **state)
{
	(void)state;
	struct conf c;
	write_text("secret.txt", "s3cr3t-from-file\n");
	char *env[] = {
		"CBSYNC_WATCH_QUIET=2500ms",
		"CBSYNC_REMOTE_BOX_TYPE=sftp",
		"CBSYNC_REMOTE_BOX_HOST=backup.example.com",
		"CBSYNC_REMOTE_BOX_PASSWORD=pa55-from-env",
		"CBSYNC_REMOTE_BOX_KEEP_CHANGE=off",
		"CBSYNC_REMOTE_BOX_KEEP_INCREMENTS=6h",
		"DOLLARS=a$b",
		NULL,
	};
	load_ok(&c,
		"[database]\npath = ${DOLLARS}/cb$$.db\n"
		"[local]\ndir = \"  padded dir  \"\n"
		"keep_daily = 10d\nkeep_weekly = 5w\nkeep_monthly = 2y\nkeep_change = 90min\n"
		"compression = 1\nlock_timeout = 1.5s\n"
		"[schedule]\ndaily = off\nweekly = Saturday 23:59:59\nmonthly = 31 00:00\n"
		"timezone = America/New_York\ncatch_up = no\n"
		"[watch]\nenabled = off\nmin_interval = 90s\nmax_delay = 2h\n"
		"[log]\nformat = json\nlevel = error\n"
		"[remote \"offsite\"]\ntype = s3\nendpoint = https://s3.example.com/b?x=1#frag\n"
		"bucket = \"#not-a-comment\"\nsecret_key_file = secret.txt\n"
		"part_size = 5MiB\ntimeout = 1.25s\nretries = -2\nverify_tls = off\n"
		"keep_monthly = forever\nkeep_daily = 45s\n",
		env);
	round_trip(&c);

	char *text = print_to_string(&c);
	/* Secrets never appear; the mask does. */
	assert_null(strstr(text, "s3cr3t"));
	assert_null(strstr(text, "pa55"));
	assert_contains(text, "secret_key = ********  # from cbsync.conf:28\n");
	assert_contains(text, "password = ********  # from CBSYNC_REMOTE_BOX_PASSWORD\n");
	/* Units a reader cannot misread. */
	assert_contains(text, "keep_monthly = 24months  # from cbsync.conf:7\n");
	assert_contains(text, "keep_change = 90min  # from cbsync.conf:8\n");
	assert_contains(text, "keep_daily = 10d  # from cbsync.conf:5\n");
	assert_contains(text, "keep_weekly = 5w  # from cbsync.conf:6\n");
	assert_contains(text, "quiet = 2500ms  # from CBSYNC_WATCH_QUIET\n");
	assert_contains(text, "min_interval = 90s  # from cbsync.conf:19\n");
	assert_contains(text, "lock_timeout = 1500ms  # from cbsync.conf:10\n");
	assert_contains(text, "max_delay = 2h  # from cbsync.conf:20\n");
	assert_contains(text, "timeout = 1250ms  # from cbsync.conf:30\n");
	assert_contains(text, "part_size = 5242880  # from cbsync.conf:29\n");
	/* Schedules, quoting and "$". */
	assert_contains(text, "daily = off  # from cbsync.conf:12\n");
	assert_contains(text, "weekly = sat 23:59:59  # from cbsync.conf:13\n");
	assert_contains(text, "monthly = 31 00:00  # from cbsync.conf:14\n");
	assert_contains(text, "path = a$$b/cb$$.db  # from cbsync.conf:2\n");
	assert_contains(text, "dir = \"  padded dir  \"  # from cbsync.conf:4\n");
	assert_contains(text, "bucket = \"#not-a-comment\"  # from cbsync.conf:27\n");
	assert_contains(text, "endpoint = https://s3.example.com/b?x=1#frag  # from "
			"cbsync.conf:26\n");
	/* Remotes: type first, keep_* with their origin, defaults marked. */
	assert_contains(text, "\n[remote \"offsite\"]\ntype = s3  # from cbsync.conf:25\n");
	assert_contains(text, "keep_daily = 45s  # from cbsync.conf:34\n");
	assert_contains(text, "keep_weekly = 5w  # from [local] keep_weekly\n");
	assert_contains(text, "keep_monthly = forever  # from cbsync.conf:33\n");
	assert_contains(text, "region = us-east-1  # default\n");
	assert_contains(text, "\n[remote \"box\"]\ntype = sftp  # from CBSYNC_REMOTE_BOX_TYPE\n");
	assert_contains(text, "keep_change = forever  # from CBSYNC_REMOTE_BOX_KEEP_CHANGE\n");
	/* The point-in-time window of each remote: its own, or the local one. */
	assert_contains(text, "keep_increments = 6h  # from CBSYNC_REMOTE_BOX_KEEP_INCREMENTS\n");
	assert_contains(text, "keep_increments = 24h  # from [local] keep_increments\n");
	for (size_t i = 0; i < c.n_remotes; i++)
		assert_int_equal(c.remotes[i].keep.increments.amount,
				 strcmp(c.remotes[i].name, "box") == 0 ? 6 * 3600 : 24 * 3600);
	assert_contains(text, "port = 22  # default\n");
	free(text);
	conf_free(&c);
}

/* Flags show as their origin; a long value puts its comment on a line of
 * its own so that no printed line comes near the parser's limit. */
static void test_print_origins_and_long_values(void **state)
{
	(void)state;
	struct conf c;
	struct error err;
	char long_dir[181];
	memset(long_dir, 'd', sizeof(long_dir) - 1);
	long_dir[sizeof(long_dir) - 1] = '\0';
	char *env[] = {"CBSYNC_BACKUP_DIR=envdir", NULL};
	write_text("cbsync.conf", "[log]\nlevel = warn\n");
	assert_int_equal(load_ex(&c, &err, "cbsync.conf", env, "flag.db", long_dir), CB_OK);
	char *text = print_to_string(&c);
	assert_contains(text, "# cbsync: the effective configuration (config file: cbsync.conf)\n");
	assert_contains(text, "path = flag.db  # from --db\n");
	assert_contains(text, "level = warn  # from cbsync.conf:2\n");
	char expect[300];
	snprintf(expect, sizeof(expect), "# from --dir\ndir = %s\n", long_dir);
	assert_contains(text, expect);
	free(text);
	round_trip(&c);
	conf_free(&c);

	/* The seed-era variable shows under its own name. */
	assert_int_equal(load_ex(&c, &err, NULL, env, NULL, NULL), CB_OK);
	text = print_to_string(&c);
	assert_contains(text, "dir = envdir  # from CBSYNC_BACKUP_DIR\n");
	free(text);
	conf_free(&c);
}

/* A bare "m" in keep_* (months) is printed as months spelt out, and a
 * minute as "min": nobody misreads either, and both read back. */
static void test_print_months_and_minutes(void **state)
{
	(void)state;
	struct conf c;
	char *env[] = {"CBSYNC_REMOTE_BOX_KEEP_DAILY=1m", NULL};
	load_ok(&c, "[local]\nkeep_change = 30m\nkeep_daily = 30min\nkeep_weekly = 2y\n"
		"[watch]\nmax_delay = 30m\n"
		"[remote \"box\"]\ntype = sftp\nhost = h\nkeep_monthly = 6mo\n", env);
	char *text = print_to_string(&c);
	assert_contains(text, "keep_change = 30months  # from cbsync.conf:2\n");
	assert_contains(text, "keep_daily = 30min  # from cbsync.conf:3\n");
	assert_contains(text, "keep_weekly = 24months  # from cbsync.conf:4\n");
	assert_contains(text, "max_delay = 30min  # from cbsync.conf:6\n");
	assert_contains(text, "keep_monthly = 6months  # from cbsync.conf:10\n");
	assert_contains(text, "keep_daily = 1month  # from CBSYNC_REMOTE_BOX_KEEP_DAILY\n");
	assert_null(strstr(text, "m  #"));
	free(text);
	round_trip(&c);
	conf_free(&c);
}

/* A secret of any type is masked (a typed one cannot read back, see
 * print.c). */
static void test_print_typed_secret(void **state)
{
	(void)state;
	struct conf c;
	char *env[] = {"CBSYNC_REMOTE_BOX_PIN=4321", NULL};
	load_ok(&c, "[remote \"box\"]\ntype = sftp\nhost = h\n", env);
	char *text = print_to_string(&c);
	assert_null(strstr(text, "4321"));
	assert_contains(text, "pin = ********  # from CBSYNC_REMOTE_BOX_PIN\n");
	free(text);
	conf_free(&c);
}

/* Printing a zeroed or half-built struct must not crash. */
static void test_print_empty(void **state)
{
	(void)state;
	struct conf c;
	memset(&c, 0, sizeof(c));
	char *text = print_to_string(&c);
	assert_contains(text, "[database]\npath =   # default\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_print_defaults),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_print_origins_and_long_values),
		cmocka_unit_test(test_print_typed_secret),
		cmocka_unit_test(test_print_months_and_minutes),
		cmocka_unit_test(test_print_empty),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
