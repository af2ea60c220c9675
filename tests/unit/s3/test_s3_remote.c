/*
 * A driver for the S3 backend against a real server, for
 * tests/integration/test_s3_backend.py (which starts OpenStack Swift with
 * s3api on loopback and reads back what this wrote with boto3).
 *
 * It lives with the unit tests because it links the backends the same way;
 * run by CTest on its own (no CBSYNC_TEST_S3_DRIVER in the environment) it
 * says it needs the Python test and exits 0.  The Python test is the only
 * place that starts servers.
 *
 * The remote is read exactly as cbsync reads it: a remote named "t" from
 * CBSYNC_REMOTE_T_* environment variables, through conf_load and
 * backend_open.  One operation per run:
 *
 *   open                       open the remote (and nothing else)
 *   put KEY FILE               upload FILE (backend_put_file)
 *   put-text KEY TEXT          upload TEXT (backend_put_buffer)
 *   get KEY FILE               download into FILE
 *   get-cancel KEY FILE MS     download, with cancel_request() after MS ms
 *   list PREFIX                one "key<TAB>size<TAB>mtime" line per object
 *   list-raw PREFIX            the same from the backend itself, without
 *                              backend_list's filter of keys cbsync never writes
 *   remove KEY
 *   stale OFFSET               remove_stale(now + OFFSET seconds)
 *   abort KEY SIZE             write SIZE bytes, then put_abort
 *   crash KEY SIZE [DECLARED]  write SIZE bytes, then exit without commit or
 *                              abort (a killed upload); put_begin is told the
 *                              object is DECLARED bytes (default SIZE)
 *   cancel KEY SIZE            write SIZE bytes, cancel_request(), write
 *                              more, then put_abort (as backend_put_file would)
 *
 * Output: the operation's own lines, then "stats requests=N up=N down=N",
 * then "result: NAME" (result_name) and, on failure, "error: LINE".  Exit
 * status 0 on CB_OK, 1 otherwise, 2 on bad usage.
 */
#include "backends/backend.h"
#include "common/cancel.h"
#include "common/result.h"
#include "common/timeutil.h"
#include "conf/conf.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static enum result file_sink(void *ctx, const void *buf, size_t len, struct error *err)
{
	if (fwrite(buf, 1, len, ctx) != len)
		return error_errno(err, errno, "output");
	return CB_OK;
}

/* Request cancellation after the given milliseconds, as SIGTERM would. */
static void *cancel_later(void *arg)
{
	long ms = *(long *)arg;
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
	cancel_request();
	return NULL;
}

/* Write size bytes of a fixed pattern into an open put, in 1 MiB chunks. */
static enum result write_pattern(struct backend *b, void *put, uint64_t size, struct error *err)
{
	static unsigned char chunk[1 << 20];
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (unsigned char)(i * 131 + 7);
	while (size > 0) {
		size_t n = size < sizeof(chunk) ? (size_t)size : sizeof(chunk);
		enum result r = b->ops->put_write(put, chunk, n, err);
		if (r)
			return r;
		size -= n;
	}
	return CB_OK;
}

static enum result run(struct backend *b, int argc, char **argv, struct error *err)
{
	const char *op = argv[0];
	if (strcmp(op, "open") == 0)
		return CB_OK;
	if (strcmp(op, "put") == 0 && argc == 3)
		return backend_put_file(b, argv[1], argv[2], NULL, err);
	if (strcmp(op, "put-text") == 0 && argc == 3)
		return backend_put_buffer(b, argv[1], argv[2], strlen(argv[2]), err);
	if ((strcmp(op, "get") == 0 && argc == 3) || (strcmp(op, "get-cancel") == 0 && argc == 4)) {
		pthread_t t;
		long ms = argc == 4 ? strtol(argv[3], NULL, 10) : 0;
		FILE *f = fopen(argv[2], "wb");
		if (!f)
			return error_errno(err, errno, argv[2]);
		if (argc == 4)
			pthread_create(&t, NULL, cancel_later, &ms);
		enum result r = backend_get(b, argv[1], file_sink, f, err);
		if (argc == 4)
			pthread_join(t, NULL);
		if (fclose(f) != 0 && !r)
			r = error_errno(err, errno, argv[2]);
		return r;
	}
	if ((strcmp(op, "list") == 0 || strcmp(op, "list-raw") == 0) && argc == 2) {
		struct backend_listing l = {0};
		enum result r = strcmp(op, "list") == 0 ? backend_list(b, argv[1], &l, err)
							 : b->ops->list(b->ctx, argv[1], &l, err);
		if (r)
			return r;
		for (size_t i = 0; i < l.n; i++)
			printf("%s\t%" PRIu64 "\t%" PRId64 "\n", l.items[i].key, l.items[i].size,
			       l.items[i].mtime);
		backend_listing_free(&l);
		return CB_OK;
	}
	if (strcmp(op, "remove") == 0 && argc == 2)
		return backend_remove(b, argv[1], err);
	if (strcmp(op, "stale") == 0 && argc == 2) {
		size_t removed = 0;
		if (!b->ops->remove_stale)
			return error_set(err, CB_ERR_INTERNAL, "no remove_stale");
		enum result r = b->ops->remove_stale(b->ctx, time_now() + strtoll(argv[1], NULL, 10),
						     &removed, err);
		printf("removed %zu\n", removed);
		return r;
	}
	if ((strcmp(op, "abort") == 0 || strcmp(op, "crash") == 0 || strcmp(op, "cancel") == 0) &&
	    (argc == 3 || (argc == 4 && strcmp(op, "crash") == 0))) {
		uint64_t size = strtoull(argv[2], NULL, 10);
		struct backend_put_info info = {.size = size * (strcmp(op, "cancel") == 0 ? 2 : 1)};
		if (argc == 4)
			info.size = strtoull(argv[3], NULL, 10);
		void *put = NULL;
		enum result r = b->ops->put_begin(b->ctx, argv[1], &info, &put, err);
		if (r)
			return r;
		r = write_pattern(b, put, size, err);
		if (strcmp(op, "crash") == 0) {
			printf("crashed\n");
			fflush(stdout);
			_exit(r ? 1 : 0);
		}
		if (!r && strcmp(op, "cancel") == 0) {
			cancel_request();
			r = write_pattern(b, put, size, err);
			if (!r)
				r = error_set(err, CB_ERR_INTERNAL, "the write went on after cancel");
		}
		b->ops->put_abort(put);
		if (!r)
			printf("aborted\n");
		return r;
	}
	return error_set(err, CB_ERR_USAGE, "bad command; see the top of test_s3_remote.c");
}

int main(int argc, char **argv)
{
	if (!getenv("CBSYNC_TEST_S3_DRIVER")) {
		printf("the S3 remote checks need a server: run tests/integration/test_s3_backend.py "
		       "(it starts Swift and drives this program)\n");
		return 0;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: %s OPERATION ARGS...\n", argv[0]);
		return 2;
	}
	/* CBSYNC_TEST_S3_DRIVER is one of the tools' own variables, which
	 * conf_load lets through. */
	struct conf c = {0};
	struct error err = {0};
	struct backend *b = NULL;
	if (backend_global_init(&err)) {
		printf("result: %s\nerror: %s\n", result_name(err.code), err.msg);
		return 1;
	}
	struct conf_load_opts opts = {.system_path = "/nonexistent/cbsync.conf",
				      .environ = environ};
	opts.remote_types = backend_remote_types(&opts.n_remote_types);
	enum result r = conf_load(&c, &opts, &err);
	const struct conf_remote *remote = r ? NULL : conf_remote_find(&c, "t");
	if (!r && !remote)
		r = error_set(&err, CB_ERR_CONFIG, "no remote \"t\" (set CBSYNC_REMOTE_T_TYPE=s3)");
	if (!r)
		r = backend_open(remote, &b, &err);
	if (!r)
		r = run(b, argc - 1, argv + 1, &err);
	if (b) {
		struct backend_stats st = {0};
		if (b->ops->stats)
			b->ops->stats(b->ctx, &st);
		printf("stats requests=%" PRIu64 " up=%" PRIu64 " down=%" PRIu64 "\n", st.requests,
		       st.bytes_up, st.bytes_down);
	}
	printf("result: %s\n", result_name(r));
	if (r)
		printf("error: %s\n", err.msg);
	backend_close(b);
	conf_free(&c);
	backend_global_cleanup();
	return r ? 1 : 0;
}
