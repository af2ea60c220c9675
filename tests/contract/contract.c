/*
 * The backend contract suite: one program, run against every backend.
 *
 * It reads one remote named "t" from the environment exactly as cbsync does
 * (CBSYNC_REMOTE_T_TYPE=..., CBSYNC_REMOTE_T_<KEY>=...), opens it through the
 * registry, and checks what backends/backend.h promises: round trips,
 * overwrite, remove (missing is fine), not-found, a large object (multipart
 * where the backend has it), many objects (pagination), abort leaving nothing,
 * concurrent puts to one key, refused keys, nested keys, and -- where the
 * backend has abort_upload -- that a put names what it leaves behind before
 * sending data, that a put killed midway (a forked child that exits without
 * cleaning up) is removed by abort_upload from another instance, and that
 * abort_upload refuses ids that are not an upload of the key.  Every object lives
 * under a fresh prefix, removed at the end.  The Python drivers under tests/
 * start the servers and run this program.
 *
 * Environment knobs: CBSYNC_TEST_CONTRACT_LARGE_MIB (default 12),
 * CBSYNC_TEST_CONTRACT_MANY (default 1050).
 *
 * The program is built whichever backends are on.  A remote of a type this
 * build leaves out (CBSYNC_BACKEND_<TYPE>=OFF) is not a failure of the
 * contract: the program says so and exits 77, the code CTest and automake
 * take for "skipped".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backends/backend.h"
#include "common/fsutil.h"
#include "common/hash.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct conf conf;
static const struct conf_remote *remote;
static struct backend *be;
static char prefix[64];

static long env_num(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static char *key_of(const char *name)
{
	char *k = NULL;
	if (asprintf(&k, "%s/%s", prefix, name) < 0)
		return NULL;
	return k;
}

static void put_text(const char *name, const char *text)
{
	char *k = key_of(name);
	struct error err = {0};
	enum result r = backend_put_buffer(be, k, text, strlen(text), &err);
	if (r)
		fail_msg("put %s: %s", k, err.msg);
	free(k);
}

static char *get_text(const char *name, enum result *code)
{
	char *k = key_of(name);
	struct error err = {0};
	char *out = NULL;
	*code = backend_get_buffer(be, k, 1 << 20, &out, NULL, &err);
	free(k);
	return out;
}

/* The listing under our prefix, as key -> size lookups. */
static bool listed(const char *name, uint64_t *size)
{
	struct backend_listing l;
	struct error err = {0};
	char *k = key_of(name);
	bool found = false;
	if (backend_list(be, prefix, &l, &err))
		fail_msg("list: %s", err.msg);
	for (size_t i = 0; i < l.n; i++) {
		if (strcmp(l.items[i].key, k) == 0) {
			found = true;
			if (size)
				*size = l.items[i].size;
		}
	}
	backend_listing_free(&l);
	free(k);
	return found;
}

static size_t count_under(const char *sub)
{
	struct backend_listing l;
	struct error err = {0};
	char *p = key_of(sub);
	if (backend_list(be, p, &l, &err))
		fail_msg("list %s: %s", p, err.msg);
	size_t n = l.n;
	backend_listing_free(&l);
	free(p);
	return n;
}

static void round_trip(void **state)
{
	(void)state;
	enum result code;
	put_text("small.txt", "hello, remote\n");
	char *got = get_text("small.txt", &code);
	assert_int_equal(code, CB_OK);
	assert_string_equal(got, "hello, remote\n");
	free(got);
	uint64_t size = 0;
	assert_true(listed("small.txt", &size));
	assert_int_equal(size, 14);
}

static void empty_object(void **state)
{
	(void)state;
	enum result code;
	put_text("empty", "");
	char *got = get_text("empty", &code);
	assert_int_equal(code, CB_OK);
	assert_string_equal(got, "");
	free(got);
	uint64_t size = 99;
	assert_true(listed("empty", &size));
	assert_int_equal(size, 0);
}

/* The first bytes of an object, in one ranged request; all of a shorter
 * one; nothing of an empty one; a missing one is CB_ERR_NOT_FOUND. */
static void head_of_an_object(void **state)
{
	(void)state;
	struct error err = {0};
	char *out = NULL, *k;
	size_t len = 0;
	put_text("head.txt", "0123456789abcdefghij");
	put_text("head-empty", "");
	k = key_of("head.txt");
	struct backend_stats before = {0}, after = {0};
	assert_non_null(be->ops->get_head);    /* every backend has it */
	be->ops->stats(be->ctx, &before);
	assert_int_equal(backend_get_head(be, k, 7, &out, &len, &err), CB_OK);
	be->ops->stats(be->ctx, &after);
	assert_int_equal(len, 7);
	assert_string_equal(out, "0123456");
	/* Only what was asked for came down (a ranged request, not a whole
	 * object cut short here). */
	assert_int_equal(after.bytes_down - before.bytes_down, 7);
	free(out);
	assert_int_equal(backend_get_head(be, k, 100, &out, &len, &err), CB_OK);
	assert_string_equal(out, "0123456789abcdefghij");
	free(out);
	free(k);
	k = key_of("head-empty");
	assert_int_equal(backend_get_head(be, k, 10, &out, &len, &err), CB_OK);
	assert_int_equal(len, 0);
	free(out);
	free(k);
	k = key_of("head-missing");
	assert_int_equal(backend_get_head(be, k, 10, &out, &len, &err), CB_ERR_NOT_FOUND);
	free(k);
}

static void overwrite(void **state)
{
	(void)state;
	enum result code;
	put_text("over.json", "{\"v\": 1}");
	put_text("over.json", "{\"v\": 2, \"longer\": true}");
	char *got = get_text("over.json", &code);
	assert_int_equal(code, CB_OK);
	assert_string_equal(got, "{\"v\": 2, \"longer\": true}");
	free(got);
}

static void remove_and_missing(void **state)
{
	(void)state;
	enum result code;
	struct error err = {0};
	put_text("gone", "soon gone");
	char *k = key_of("gone");
	assert_int_equal(backend_remove(be, k, &err), CB_OK);
	assert_null(get_text("gone", &code));
	assert_int_equal(code, CB_ERR_NOT_FOUND);
	assert_false(listed("gone", NULL));
	/* Removing what is not there is not an error. */
	assert_int_equal(backend_remove(be, k, &err), CB_OK);
	free(k);
	assert_null(get_text("never-was", &code));
	assert_int_equal(code, CB_ERR_NOT_FOUND);
}

struct hash_sink {
	struct sha256 h;
	uint64_t n;
};

static enum result hash_into(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)err;
	struct hash_sink *s = ctx;
	sha256_update(&s->h, buf, len);
	s->n += len;
	return CB_OK;
}

static void large_object(void **state)
{
	(void)state;
	long mib = env_num("CBSYNC_TEST_CONTRACT_LARGE_MIB", 12);
	char path[] = "/tmp/cbsync-contract-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	/* Compressible and random stretches, and a size that is not a
	 * multiple of any part size. */
	uint64_t total = (uint64_t)mib << 20;
	total += 12345;
	unsigned char *buf = malloc(1 << 16);
	assert_non_null(buf);
	struct sha256 h;
	struct error err = {0};
	assert_int_equal(sha256_init(&h, &err), CB_OK);
	unsigned seed = 7;
	for (uint64_t done = 0; done < total;) {
		size_t n = total - done < (1 << 16) ? (size_t)(total - done) : (1 << 16);
		for (size_t i = 0; i < n; i++)
			buf[i] = (done / (1 << 16)) % 2 ? (unsigned char)rand_r(&seed) : (unsigned char)(i % 7);
		assert_int_equal(fs_write_all(fd, buf, n), 0);
		sha256_update(&h, buf, n);
		done += n;
	}
	close(fd);
	free(buf);
	uint8_t digest[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	sha256_final(&h, digest);
	hex_encode(digest, SHA256_LEN, hex);

	char *k = key_of("large.db.gz");
	enum result r = backend_put_file(be, k, path, &(struct put_file_opts){.sha256_hex = hex},
					 &err);
	if (r)
		fail_msg("put large: %s", err.msg);
	unlink(path);

	struct hash_sink s = {0};
	assert_int_equal(sha256_init(&s.h, &err), CB_OK);
	r = backend_get(be, k, hash_into, &s, &err);
	if (r)
		fail_msg("get large: %s", err.msg);
	sha256_final(&s.h, digest);
	char got[SHA256_HEX_LEN + 1];
	hex_encode(digest, SHA256_LEN, got);
	assert_int_equal(s.n, total);
	assert_string_equal(got, hex);
	uint64_t size = 0;
	assert_true(listed("large.db.gz", &size));
	assert_int_equal(size, total);
	free(k);

	/* A wrong SHA-256 for the local file is refused before anything shows. */
	char bad[] = "/tmp/cbsync-contract-XXXXXX";
	fd = mkstemp(bad);
	assert_int_equal(fs_write_all(fd, "data", 4), 0);
	close(fd);
	k = key_of("refused.db.gz");
	r = backend_put_file(be, k, bad,
			     &(struct put_file_opts){.sha256_hex = "00000000000000000000000000000000"
								   "00000000000000000000000000000000"},
			     &err);
	assert_int_equal(r, CB_ERR_CORRUPT);
	assert_false(listed("refused.db.gz", NULL));
	unlink(bad);
	free(k);
}

static void many_objects(void **state)
{
	(void)state;
	long n = env_num("CBSYNC_TEST_CONTRACT_MANY", 1050);
	for (long i = 0; i < n; i++) {
		char name[64];
		snprintf(name, sizeof(name), "many/obj-%05ld", i);
		put_text(name, "x");
	}
	assert_int_equal(count_under("many/"), (size_t)n);
	/* A narrower prefix lists only its own. */
	assert_int_equal(count_under("many/obj-0000"), n >= 10 ? 10 : (size_t)n);
}

static void abort_leaves_nothing(void **state)
{
	(void)state;
	struct error err = {0};
	char *k = key_of("aborted.db.gz");
	void *put = NULL;
	struct backend_put_info info = {.size = 6 << 20};
	assert_int_equal(be->ops->put_begin(be->ctx, k, &info, &put, &err), CB_OK);
	unsigned char *buf = calloc(1, 1 << 20);
	for (int i = 0; i < 6; i++)
		assert_int_equal(be->ops->put_write(put, buf, 1 << 20, &err), CB_OK);
	be->ops->put_abort(put);
	free(buf);
	free(k);
	/* Nothing under the final name, and no temp file either. */
	struct backend_listing l;
	assert_int_equal(backend_list(be, prefix, &l, &err), CB_OK);
	for (size_t i = 0; i < l.n; i++) {
		assert_null(strstr(l.items[i].key, "aborted"));
	}
	backend_listing_free(&l);
}

struct racer {
	const char *key;
	char fill;
	enum result result;
	struct error err;
};

static void *race(void *arg)
{
	struct racer *rc = arg;
	struct backend *mine = NULL;
	if ((rc->result = backend_open(remote, &mine, &rc->err)))
		return NULL;
	size_t len = 3 << 20;
	char *data = malloc(len);
	memset(data, rc->fill, len);
	rc->result = backend_put_buffer(mine, rc->key, data, len, &rc->err);
	free(data);
	backend_close(mine);
	return NULL;
}

static enum result check_uniform(void *ctx, const void *buf, size_t len, struct error *err)
{
	char *first = ctx;
	const char *p = buf;
	for (size_t i = 0; i < len; i++) {
		if (!*first)
			*first = p[i];
		if (p[i] != *first)
			return error_set(err, CB_ERR_CORRUPT, "mixed content");
	}
	return CB_OK;
}

static void concurrent_puts(void **state)
{
	(void)state;
	char *k = key_of("raced.db.gz");
	struct racer a = {.key = k, .fill = 'a'}, b = {.key = k, .fill = 'b'};
	pthread_t ta, tb;
	pthread_create(&ta, NULL, race, &a);
	pthread_create(&tb, NULL, race, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	if (a.result)
		fail_msg("racer a: %s", a.err.msg);
	if (b.result)
		fail_msg("racer b: %s", b.err.msg);
	char first = 0;
	struct error err = {0};
	assert_int_equal(backend_get(be, k, check_uniform, &first, &err), CB_OK);
	assert_true(first == 'a' || first == 'b');
	uint64_t size = 0;
	assert_true(listed("raced.db.gz", &size));
	assert_int_equal(size, 3 << 20);
	free(k);
}

static void refused_keys(void **state)
{
	(void)state;
	static const char *const bad[] = {"../escape", "a/../../b", "/absolute", "a//b",
					  "a/./b", "with space", "trailing/", "", "semi;colon",
					  "back\\slash", "new\nline", ".."};
	struct error err = {0};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		assert_int_equal(backend_put_buffer(be, bad[i], "x", 1, &err), CB_ERR_USAGE);
		assert_non_null(strstr(err.msg, "refusing the object key"));
		char *out = NULL;
		assert_int_equal(backend_get_buffer(be, bad[i], 10, &out, NULL, &err), CB_ERR_USAGE);
		assert_int_equal(backend_remove(be, bad[i], &err), CB_ERR_USAGE);
	}
}

static void nested_keys(void **state)
{
	(void)state;
	enum result code;
	put_text("deep/er/still/x.db.gz.json", "{}");
	char *got = get_text("deep/er/still/x.db.gz.json", &code);
	assert_int_equal(code, CB_OK);
	assert_string_equal(got, "{}");
	free(got);
	assert_int_equal(count_under("deep/"), 1);
}

static void counters(void **state)
{
	(void)state;
	struct backend_stats st = {0};
	if (!be->ops->stats)
		skip();
	be->ops->stats(be->ctx, &st);
	assert_true(st.requests > 0);
	assert_true(st.bytes_up > 0);
	assert_true(st.bytes_down > 0);
}

static void stale_removal_spares_fresh_objects(void **state)
{
	(void)state;
	size_t removed = 99;
	struct error err = {0};
	if (!be->ops->remove_stale)
		skip();
	put_text("fresh", "keep me");
	assert_int_equal(be->ops->remove_stale(be->ctx, 0, &removed, &err), CB_OK);
	assert_true(listed("fresh", NULL));
}

/* What the tracker heard. */
struct heard {
	int started, ended;
	bool committed, unnamed;
	char key[256];
	char id[1200];
};

static void heard_started(void *ctx, const char *key, const char *upload_id)
{
	struct heard *h = ctx;
	/* Unnamed first (an upload the remote names in its answer), then named. */
	if (!upload_id) {
		assert_int_equal(h->id[0], '\0');
		h->unnamed = true;
		return;
	}
	h->started++;
	snprintf(h->key, sizeof(h->key), "%s", key);
	snprintf(h->id, sizeof(h->id), "%s", upload_id);
}

static void heard_ended(void *ctx, const char *key, bool committed)
{
	struct heard *h = ctx;
	assert_string_equal(key, h->key);
	h->ended++;
	h->committed = committed;
}

static void tracked_puts_name_their_traces(void **state)
{
	(void)state;
	struct heard h = {0};
	struct backend_upload_tracker t = {heard_started, heard_ended, &h};
	if (!be->ops->abort_upload)
		skip();
	backend_track_uploads(be, &t);
	put_text("tracked.db.gz.json", "{\"tracked\": true}");
	/* Named at most once, and then told of the end: committed. */
	assert_true(h.started <= 1);
	assert_int_equal(h.ended, h.started || h.unnamed ? 1 : 0);
	if (h.started) {
		char *k = key_of("tracked.db.gz.json");
		assert_string_equal(h.key, k);
		assert_true(h.committed);
		assert_true(h.id[0] != '\0');
		/* Aborting a committed put's id touches nothing. */
		struct error err = {0};
		assert_int_equal(backend_abort_upload(be, k, h.id, NULL, &err), CB_OK);
		free(k);
	}
	backend_track_uploads(be, NULL);
	enum result code;
	char *got = get_text("tracked.db.gz.json", &code);
	assert_int_equal(code, CB_OK);
	assert_string_equal(got, "{\"tracked\": true}");
	free(got);
}

/* In the child: "?" for an unnamed announcement, then the id. */
static void started_to_pipe(void *ctx, const char *upload_id)
{
	int fd = *(int *)ctx;
	const char *s = upload_id ? upload_id : "?";
	(void)!write(fd, s, strlen(s));
}

/* A put killed midway: a child process starts it, writes 6 MiB (a part
 * goes up where puts have parts), says the upload id, and exits without
 * committing or aborting.  Returns the id (malloc'd), or NULL if the put
 * never named one; *unnamed tells whether it was announced unnamed first. */
static char *killed_put(const char *key, bool *unnamed)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		struct backend *mine = NULL;
		struct error err = {0};
		void *put = NULL;
		struct backend_put_info info = {.size = 8 << 20, .started = started_to_pipe,
						.started_ctx = &p[1]};
		if (backend_open(remote, &mine, &err) ||
		    mine->ops->put_begin(mine->ctx, key, &info, &put, &err))
			_exit(1);
		unsigned char *buf = calloc(1, 1 << 20);
		for (int i = 0; buf && i < 6; i++)
			if (mine->ops->put_write(put, buf, 1 << 20, &err))
				_exit(1);
		/* Let the bytes reach the remote, then die as a kill would. */
		sleep(1);
		_exit(0);
	}
	close(p[1]);
	char buf[1200];
	size_t n = 0;
	ssize_t got;
	while (n < sizeof(buf) - 1 && (got = read(p[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)got;
	close(p[0]);
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	buf[n] = '\0';
	*unnamed = buf[0] == '?';
	const char *id = *unnamed ? buf + 1 : buf;
	return *id ? strdup(id) : NULL;
}

static size_t listed_containing(const char *part)
{
	struct backend_listing l;
	struct error err = {0};
	size_t n = 0;
	assert_int_equal(backend_list(be, prefix, &l, &err), CB_OK);
	for (size_t i = 0; i < l.n; i++)
		n += strstr(l.items[i].key, part) != NULL;
	backend_listing_free(&l);
	return n;
}

static void abort_upload_ends_a_killed_put(void **state)
{
	(void)state;
	struct error err = {0};
	if (!be->ops->abort_upload)
		skip();
	char *k = key_of("killed.db.gz");
	bool unnamed;
	char *id = killed_put(k, &unnamed);
	assert_non_null(id);
	assert_false(listed("killed.db.gz", NULL));
	/* A temp file is listed (a multipart upload is not). */
	if (!(be->ops->features & BACKEND_MULTIPART))
		assert_true(listed_containing("killed") >= 1);
	/* Another instance, as the next run would be, removes it. */
	struct backend *next = NULL;
	assert_int_equal(backend_open(remote, &next, &err), CB_OK);
	enum result r = backend_abort_upload(next, k, id, NULL, &err);
	if (r)
		fail_msg("abort_upload %s %s: %s", k, id, err.msg);
	assert_int_equal(listed_containing("killed"), 0);
	/* Twice is fine: it is gone. */
	assert_int_equal(backend_abort_upload(next, k, id, NULL, &err), CB_OK);
	backend_close(next);
	free(id);
	free(k);
}

static bool spare_all(void *ctx, const char *upload_id)
{
	(void)upload_id;
	(*(int *)ctx)++;
	return true;
}

/* Killed before the remote named the upload: the uploads of exactly that
 * key begun since are ended, but not those spared (a live run's), and not
 * those of another key. */
static void abort_upload_of_an_unnamed_put(void **state)
{
	(void)state;
	struct error err = {0};
	if (!be->ops->abort_upload)
		skip();
	char *k = key_of("unnamed.db.gz");
	char *k2 = key_of("unnamed.db.gz.json");
	bool unnamed = false;
	char *id = killed_put(k, &unnamed);
	assert_non_null(id);
	struct abort_upload_opts since_then = {.since = time(NULL) - 3600};
	if (!unnamed) {
		/* Every put is named up front: an unnamed abort means nothing. */
		assert_int_equal(backend_abort_upload(be, k, NULL, &since_then, &err),
				 CB_ERR_USAGE);
		assert_int_equal(backend_abort_upload(be, k, id, NULL, &err), CB_OK);
		goto done;
	}
	bool unnamed2;
	char *id2 = killed_put(k2, &unnamed2);
	assert_non_null(id2);
	int asked = 0;
	struct abort_upload_opts spared = {.since = time(NULL) - 3600, .spare = spare_all,
					   .spare_ctx = &asked};
	/* Spared, or begun after since: nothing is ended. */
	assert_int_equal(backend_abort_upload(be, k, NULL, &spared, &err), CB_OK);
	assert_true(asked >= 1);
	struct abort_upload_opts later = {.since = time(NULL) + 3600};
	assert_int_equal(backend_abort_upload(be, k, NULL, &later, &err), CB_OK);
	/* So the named abort still finds it there to end. */
	asked = 0;
	struct abort_upload_opts count = {.since = time(NULL) - 3600, .spare = spare_all,
					  .spare_ctx = &asked};
	assert_int_equal(backend_abort_upload(be, k, NULL, &count, &err), CB_OK);
	assert_int_equal(asked, 1);
	/* Ended: k's upload; k2's (a longer key with k as its prefix) stays. */
	assert_int_equal(backend_abort_upload(be, k, NULL, &since_then, &err), CB_OK);
	asked = 0;
	assert_int_equal(backend_abort_upload(be, k, NULL, &count, &err), CB_OK);
	assert_int_equal(asked, 0);
	assert_int_equal(backend_abort_upload(be, k2, NULL, &count, &err), CB_OK);
	assert_int_equal(asked, 1);
	assert_int_equal(backend_abort_upload(be, k2, id2, NULL, &err), CB_OK);
	free(id2);
done:
	free(id);
	free(k);
	free(k2);
}

static void abort_upload_refuses_other_ids(void **state)
{
	(void)state;
	struct error err = {0};
	if (!be->ops->abort_upload)
		skip();
	put_text("bystander.db.gz", "not an upload");
	char *k = key_of("victim.db.gz");
	char *other = key_of("bystander.db.gz");
	char *sibling = key_of(".cbsync-tmp-other.db.gz.abc123");
	const char *const ids[] = {other, sibling, "", "../../etc/passwd", "with space",
				   "new\nline"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(*ids); i++) {
		enum result r = backend_abort_upload(be, k, ids[i], NULL, &err);
		/* S3 takes any UploadId without blanks: an unknown one is gone. */
		if (r != CB_ERR_USAGE && !(strcmp(be->ops->type, "s3") == 0 && r == CB_OK))
			fail_msg("abort_upload with id \"%s\": %s", ids[i], err.msg);
	}
	assert_true(listed("bystander.db.gz", NULL));
	free(k);
	free(other);
	free(sibling);
}

static int setup(void **state)
{
	(void)state;
	struct error err = {0};
	size_t n = 0;
	struct conf_load_opts opts = {0};
	opts.remote_types = backend_remote_types(&n);
	opts.n_remote_types = n;
	opts.system_path = "/nonexistent/cbsync.conf";
	if (conf_load(&conf, &opts, &err)) {
		fprintf(stderr, "contract: configuration: %s\n", err.msg);
		return -1;
	}
	remote = conf_remote_find(&conf, "t");
	if (!remote) {
		fprintf(stderr, "contract: define the remote 't' with CBSYNC_REMOTE_T_* variables\n");
		return -1;
	}
	if (backend_open(remote, &be, &err)) {
		fprintf(stderr, "contract: %s\n", err.msg);
		return -1;
	}
	snprintf(prefix, sizeof(prefix), "contract-%ld-%ld", (long)getpid(), (long)time(NULL));
	fprintf(stderr, "contract: %s backend, prefix %s\n", be->ops->type, prefix);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	struct backend_listing l;
	struct error err = {0};
	if (be && backend_list(be, prefix, &l, &err) == CB_OK) {
		for (size_t i = 0; i < l.n; i++)
			backend_remove(be, l.items[i].key, &err);
		backend_listing_free(&l);
	}
	backend_close(be);
	conf_free(&conf);
	return 0;
}

/* Is the type the environment gives remote "t" one this build has?  (No
 * type at all is left to conf_load to report.) */
static bool type_built_in(void)
{
	const char *type = getenv("CBSYNC_REMOTE_T_TYPE");
	char lower[32], upper[32];
	size_t n = 0;
	for (; type && type[n] && n + 1 < sizeof(lower); n++) {
		lower[n] = (char)tolower((unsigned char)type[n]);
		upper[n] = (char)toupper((unsigned char)type[n]);
	}
	lower[n] = upper[n] = '\0';
	if (!type || !*type || backend_find(lower))
		return true;
	fprintf(stderr, "contract: skipped: this build has no %s backend (CBSYNC_BACKEND_%s=OFF)\n",
		lower, upper);
	return false;
}

int main(void)
{
	struct error err = {0};
	if (!type_built_in())
		return 77;
	if (backend_global_init(&err)) {
		fprintf(stderr, "contract: %s\n", err.msg);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip),
		cmocka_unit_test(empty_object),
		cmocka_unit_test(head_of_an_object),
		cmocka_unit_test(overwrite),
		cmocka_unit_test(remove_and_missing),
		cmocka_unit_test(large_object),
		cmocka_unit_test(many_objects),
		cmocka_unit_test(abort_leaves_nothing),
		cmocka_unit_test(concurrent_puts),
		cmocka_unit_test(refused_keys),
		cmocka_unit_test(nested_keys),
		cmocka_unit_test(counters),
		cmocka_unit_test(stale_removal_spares_fresh_objects),
		cmocka_unit_test(tracked_puts_name_their_traces),
		cmocka_unit_test(abort_upload_ends_a_killed_put),
		cmocka_unit_test(abort_upload_of_an_unnamed_put),
		cmocka_unit_test(abort_upload_refuses_other_ids),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	backend_global_cleanup();
	return failed;
}
