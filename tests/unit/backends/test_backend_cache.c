/*
 * The listing cache (backends/backend.h) over a real local-mirror remote: a
 * whole listing is answered from the last one plus this process's own puts
 * and removes; a change made behind its back shows only after
 * invalidation, after a failed call, or once the listing is older than
 * max_age; a listing with a prefix always asks; calls are counted by kind.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backends/backend.h"
#include "common/fsutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[64];
static char mirror[128];
static struct conf conf;
static struct backend *b;

static void behind_its_back(const char *key)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", mirror, key);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
}

/* Does a whole listing (or one of prefix) hold key, and at what size? */
static bool listed(const char *prefix, const char *key, uint64_t *size)
{
	struct backend_listing l = {0};
	struct error err = {0};
	assert_int_equal(backend_list(b, prefix, &l, &err), CB_OK);
	bool found = false;
	for (size_t i = 0; i < l.n; i++)
		if (strcmp(l.items[i].key, key) == 0) {
			found = true;
			if (size)
				*size = l.items[i].size;
		}
	backend_listing_free(&l);
	return found;
}

static void answers_from_its_record(void **state)
{
	(void)state;
	struct error err = {0};
	assert_true(backend_cache_enable(b, 3600));
	behind_its_back("a.db.gz");
	assert_true(listed("", "a.db.gz", NULL));
	assert_int_equal(b->calls.list, 1);
	/* Its own put and remove are in the record at once, without a listing. */
	assert_int_equal(backend_put_buffer(b, "b.db.gz", "hello", 5, &err), CB_OK);
	uint64_t size = 0;
	assert_true(listed("", "b.db.gz", &size));
	assert_int_equal(size, 5);
	assert_int_equal(backend_remove(b, "a.db.gz", &err), CB_OK);
	assert_false(listed("", "a.db.gz", NULL));
	assert_int_equal(b->calls.list, 1);
	assert_int_equal(b->calls.put, 1);
	assert_int_equal(b->calls.remove, 1);
	/* A change behind its back stays unseen until the record is dropped. */
	behind_its_back("c.db.gz");
	assert_false(listed("", "c.db.gz", NULL));
	assert_true(listed("c", "c.db.gz", NULL));   /* a prefix always asks */
	assert_int_equal(b->calls.list, 2);
	backend_cache_invalidate(b);
	assert_true(listed("", "c.db.gz", NULL));
	assert_int_equal(b->calls.list, 3);
	assert_true(backend_cache_listed_at(b) > 0);
}

static void a_failed_call_drops_the_record(void **state)
{
	(void)state;
	struct error err = {0};
	char *out = NULL;
	size_t len = 0;
	assert_true(backend_cache_enable(b, 3600));
	assert_false(listed("", "d.db.gz", NULL));
	/* Not found is an answer, not a failure: the record stands. */
	assert_int_equal(backend_get_buffer(b, "nothing.db.gz", 100, &out, &len, &err),
			 CB_ERR_NOT_FOUND);
	assert_true(backend_cache_listed_at(b) > 0);
	behind_its_back("d.db.gz");
	/* A put that fails (the remote's directory is gone) drops it. */
	char moved[160];
	snprintf(moved, sizeof(moved), "%s.away", mirror);
	assert_int_equal(rename(mirror, moved), 0);
	assert_int_not_equal(backend_put_buffer(b, "e.db.gz", "x", 1, &err), CB_OK);
	assert_true(backend_cache_listed_at(b) == 0);
	assert_int_equal(rename(moved, mirror), 0);
	assert_true(listed("", "d.db.gz", NULL));
	assert_int_equal(b->calls.list, 2);
}

static void an_old_record_is_listed_again(void **state)
{
	(void)state;
	assert_true(backend_cache_enable(b, 0.05));
	assert_false(listed("", "f.db.gz", NULL));
	behind_its_back("f.db.gz");
	usleep(100 * 1000);
	assert_true(listed("", "f.db.gz", NULL));
	assert_int_equal(b->calls.list, 2);
}

static void without_the_cache_every_listing_asks(void **state)
{
	(void)state;
	assert_false(listed("", "g.db.gz", NULL));
	behind_its_back("g.db.gz");
	assert_true(listed("", "g.db.gz", NULL));
	assert_int_equal(b->calls.list, 2);
	assert_true(backend_cache_listed_at(b) == 0);
}

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/cbsync-cache-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	snprintf(mirror, sizeof(mirror), "%s/mirror", root);
	struct error err = {0};
	if (fs_mkdirs(mirror, 0700, &err))
		return -1;
	char e_dir[200], e_path[200];
	snprintf(e_dir, sizeof(e_dir), "CBSYNC_LOCAL_DIR=%s/local", root);
	snprintf(e_path, sizeof(e_path), "CBSYNC_REMOTE_M_PATH=%s", mirror);
	char *env[] = {e_dir, "CBSYNC_REMOTE_M_TYPE=local", e_path, NULL};
	size_t nt = 0;
	struct conf_load_opts opts = {.system_path = "/nonexistent", .environ = env};
	opts.remote_types = backend_remote_types(&nt);
	opts.n_remote_types = nt;
	if (conf_load(&conf, &opts, &err) || backend_open(&conf.remotes[0], &b, &err)) {
		fprintf(stderr, "setup: %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	backend_close(b);
	b = NULL;
	conf_free(&conf);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	struct error err = {0};
	if (backend_global_init(&err)) {
		fprintf(stderr, "test_backend_cache: %s\n", err.msg);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		T(answers_from_its_record),
		T(a_failed_call_drops_the_record),
		T(an_old_record_is_listed_again),
		T(without_the_cache_every_listing_asks),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	backend_global_cleanup();
	return failed;
}
