/*
 * The journal of uploads in flight (agent/uploads.c), against a real local
 * mirror remote in a temp directory: a dead run's record makes the next
 * sync remove exactly the temp file it names; a live run's record (locked)
 * is left alone; records naming something that is not an upload of their
 * key, records of another remote or of what the remote was before its type
 * changed are never followed; and the tracker writes, replaces (unnamed,
 * then named), keeps or removes records as puts start and end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/tiers/uploads.h"
#include "backends/backend.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[64];
static char local_dir[128];
static char journal_dir[160];
static char mirror[128];
static struct conf conf;
static struct backend *be;

static void path_of(char *out, size_t size, const char *dir, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

static void write_file(const char *dir, const char *name, const char *text)
{
	char p[512];
	path_of(p, sizeof(p), dir, name);
	struct error err = {0};
	assert_int_equal(fs_write_file_atomic(p, text, strlen(text), 0600, &err), CB_OK);
}

static bool exists(const char *dir, const char *name)
{
	char p[512];
	path_of(p, sizeof(p), dir, name);
	return fs_exists(p);
}

/* A record as a run would have left it. */
static void record(const char *file, const char *remote, const char *type, const char *key,
		   const char *id)
{
	char text[1024], quoted[300];
	if (id)
		snprintf(quoted, sizeof(quoted), "\"%s\"", id);
	else
		snprintf(quoted, sizeof(quoted), "null");
	snprintf(text, sizeof(text),
		 "{\"remote\":\"%s\",\"type\":\"%s\",\"key\":\"%s\",\"upload_id\":%s,"
		 "\"started\":%lld,\"pid\":1}",
		 remote, type, key, quoted, (long long)time_now());
	mkdir(journal_dir, 0700);
	write_file(journal_dir, file, text);
}

static size_t begin_and_end(void)
{
	size_t aborted = 99;
	struct upload_journal *j = upload_journal_begin(be, local_dir, &aborted);
	assert_non_null(j);
	assert_non_null(be->tracker);
	upload_journal_end(be, j);
	assert_null(be->tracker);
	return aborted;
}

static void dead_runs_upload_is_removed(void **state)
{
	(void)state;
	write_file(mirror, ".cbsync-tmp-a.db.gz.Xy12ab", "half an upload");
	record("m.000001.json", "m", "local", "a.db.gz", ".cbsync-tmp-a.db.gz.Xy12ab");
	assert_int_equal(begin_and_end(), 1);
	assert_false(exists(mirror, ".cbsync-tmp-a.db.gz.Xy12ab"));
	assert_false(fs_exists(journal_dir)); /* nothing left to record */
}

static void live_runs_upload_is_left_alone(void **state)
{
	(void)state;
	write_file(mirror, ".cbsync-tmp-b.db.gz.Xy12ab", "an upload going on");
	record("m.000002.json", "m", "local", "b.db.gz", ".cbsync-tmp-b.db.gz.Xy12ab");
	char p[512];
	path_of(p, sizeof(p), journal_dir, "m.000002.json");
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);  /* its writer, alive */
	assert_int_equal(begin_and_end(), 0);
	assert_true(exists(mirror, ".cbsync-tmp-b.db.gz.Xy12ab"));
	assert_true(exists(journal_dir, "m.000002.json"));
	close(fd);                                /* ... and now gone */
	assert_int_equal(begin_and_end(), 1);
	assert_false(exists(mirror, ".cbsync-tmp-b.db.gz.Xy12ab"));
}

static void records_never_reach_beyond_their_upload(void **state)
{
	(void)state;
	write_file(mirror, "keep.db.gz", "a backup");
	write_file(mirror, ".cbsync-tmp-c.db.gz.Xy12ab", "another's upload");
	/* An id that is a backup, not a temp file of the key's upload. */
	record("m.000003.json", "m", "local", "c.db.gz", "keep.db.gz");
	/* A temp file, but of another key. */
	record("m.000004.json", "m", "local", "d.db.gz", ".cbsync-tmp-c.db.gz.Xy12ab");
	/* Garbage. */
	write_file(journal_dir, "m.000005.json", "{not json");
	/* What the remote was before its type changed. */
	record("m.000006.json", "m", "sftp", "c.db.gz", ".cbsync-tmp-c.db.gz.Xy12ab");
	/* Another remote's: not this sync's business. */
	record("other.000007.json", "other", "local", "c.db.gz", ".cbsync-tmp-c.db.gz.Xy12ab");
	assert_int_equal(begin_and_end(), 0);
	assert_true(exists(mirror, "keep.db.gz"));
	assert_true(exists(mirror, ".cbsync-tmp-c.db.gz.Xy12ab"));
	for (int i = 3; i <= 6; i++) {
		char name[32];
		snprintf(name, sizeof(name), "m.%06d.json", i);
		assert_false(exists(journal_dir, name));
	}
	assert_true(exists(journal_dir, "other.000007.json"));
	char p[512];
	path_of(p, sizeof(p), journal_dir, "other.000007.json");
	unlink(p);
	path_of(p, sizeof(p), mirror, ".cbsync-tmp-c.db.gz.Xy12ab");
	unlink(p);
}

/* The journal's records, by name ("" if none); count in *n. */
static void records(char *first, size_t size, size_t *n)
{
	DIR *d = opendir(journal_dir);
	struct dirent *de;
	*n = 0;
	first[0] = '\0';
	while (d && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (!*n)
			snprintf(first, size, "%s", de->d_name);
		(*n)++;
	}
	if (d)
		closedir(d);
}

static void tracker_writes_and_clears_records(void **state)
{
	(void)state;
	size_t aborted, n;
	char name[256], p[512], *text = NULL;
	struct error err = {0};
	struct upload_journal *j = upload_journal_begin(be, local_dir, &aborted);
	const struct backend_upload_tracker *t = be->tracker;
	assert_non_null(t);

	/* Announced unnamed, then named: one record, locked, then with the id. */
	t->started(t->ctx, "e.db.gz", NULL);
	records(name, sizeof(name), &n);
	assert_int_equal(n, 1);
	path_of(p, sizeof(p), journal_dir, name);
	assert_int_equal(fs_read_file(p, 4096, &text, NULL, &err), CB_OK);
	assert_non_null(strstr(text, "\"upload_id\":null"));
	free(text);
	t->started(t->ctx, "e.db.gz", ".cbsync-tmp-e.db.gz.Qw12er");
	records(name, sizeof(name), &n);
	assert_int_equal(n, 1);
	path_of(p, sizeof(p), journal_dir, name);
	assert_int_equal(fs_read_file(p, 4096, &text, NULL, &err), CB_OK);
	assert_non_null(strstr(text, "\"upload_id\":\".cbsync-tmp-e.db.gz.Qw12er\""));
	assert_non_null(strstr(text, "\"key\":\"e.db.gz\""));
	free(text);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_not_equal(flock(fd, LOCK_EX | LOCK_NB), 0);  /* held by its writer */

	/* Not committed: kept, and no longer locked. */
	t->ended(t->ctx, "e.db.gz", false);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	close(fd);
	records(name, sizeof(name), &n);
	assert_int_equal(n, 1);

	/* Committed: gone. */
	t->started(t->ctx, "f.db.gz", ".cbsync-tmp-f.db.gz.Qw12er");
	records(name, sizeof(name), &n);
	assert_int_equal(n, 2);
	t->ended(t->ctx, "f.db.gz", true);
	records(name, sizeof(name), &n);
	assert_int_equal(n, 1);
	upload_journal_end(be, j);

	/* The next sync follows the kept one (its temp file is gone already). */
	assert_int_equal(begin_and_end(), 1);
	assert_false(fs_exists(journal_dir));
}

static void puts_through_the_backend_leave_no_record(void **state)
{
	(void)state;
	size_t aborted;
	struct error err = {0};
	struct upload_journal *j = upload_journal_begin(be, local_dir, &aborted);
	assert_int_equal(backend_put_buffer(be, "g.db.gz.json", "{}", 2, &err), CB_OK);
	assert_false(fs_exists(journal_dir));
	upload_journal_end(be, j);
	assert_true(exists(mirror, "g.db.gz.json"));
}

static int setup(void **state)
{
	(void)state;
	struct error err = {0};
	size_t n = 0;
	snprintf(root, sizeof(root), "/tmp/cbsync-uploads-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(local_dir, sizeof(local_dir), "%s/local", root);
	snprintf(mirror, sizeof(mirror), "%s/mirror", root);
	snprintf(journal_dir, sizeof(journal_dir), "%s/%s", local_dir, UPLOADS_DIR_NAME);
	mkdir(local_dir, 0700);
	mkdir(mirror, 0700);
	setenv("CBSYNC_REMOTE_M_TYPE", "local", 1);
	setenv("CBSYNC_REMOTE_M_PATH", mirror, 1);
	struct conf_load_opts opts = {.system_path = "/nonexistent/cbsync.conf"};
	opts.remote_types = backend_remote_types(&n);
	opts.n_remote_types = n;
	if (conf_load(&conf, &opts, &err) || !conf_remote_find(&conf, "m") ||
	    backend_open(conf_remote_find(&conf, "m"), &be, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	backend_close(be);
	conf_free(&conf);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dead_runs_upload_is_removed),
		cmocka_unit_test(live_runs_upload_is_left_alone),
		cmocka_unit_test(records_never_reach_beyond_their_upload),
		cmocka_unit_test(tracker_writes_and_clears_records),
		cmocka_unit_test(puts_through_the_backend_leave_no_record),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
