/*
 * Snapshot a live database through SQLite's backup API into a gzip stream.
 *
 * Two routes: streaming the copy's pages through the destination VFS of
 * snapshot_vfs.h straight into gzip, or, when SQLite writes something that
 * cannot be streamed, a copy into a temp file compressed afterwards.
 */
#include "agent/engine/snapshot.h"
#include "agent/engine/gzstream.h"
#include "agent/engine/pagesum.h"
#include "agent/engine/snapshot_vfs.h"
#include "agent/engine/walcapture.h"
#include "common/cancel.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEST_CACHE_KIB 1024

enum result snapshot_sqlite_error(struct error *err, int rc, const char *path,
				  const char *what)
{
	int primary = rc & 0xff;
	if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT)
		return error_set(err, CB_ERR_CORRUPT, "not a SQLite database: '%s'", path);
	if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
		return error_set(err, CB_ERR_BUSY,
				 "database is locked: '%s' (another process holds it; "
				 "HINT: retry when its transaction ends)", path);
	if (primary == SQLITE_CANTOPEN)
		return error_set(err, CB_ERR_IO, "cannot open database '%s' (%s)", path,
				 sqlite3_errstr(rc));
	if (primary == SQLITE_NOMEM)
		return error_nomem(err);
	if (primary == SQLITE_INTERRUPT)
		return error_set(err, CB_ERR_INTERRUPTED, "interrupted");
	return error_set(err, CB_ERR_DB, "%s '%s': %s", what, path, sqlite3_errstr(rc));
}

enum result snapshot_open_source(const char *path, double busy_timeout, sqlite3 **out,
			       struct error *err)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc != SQLITE_OK) {
		enum result r = snapshot_sqlite_error(err, rc, path, "cannot open database");
		sqlite3_close(db);
		return r;
	}
	sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, (int *)NULL);
	sqlite3_busy_timeout(db, (int)(busy_timeout * 1000));
	*out = db;
	return CB_OK;
}

/* The source's size in pages now, for progress (the copy may differ a little
 * if writers commit before it starts). */
static uint64_t source_page_count(sqlite3 *src)
{
	sqlite3_stmt *st = NULL;
	uint64_t n = 0;
	if (sqlite3_prepare_v2(src, "PRAGMA page_count", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

int snapshot_copy(sqlite3 *dst, sqlite3 *src, double busy_timeout, uint64_t *page_count)
{
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	if (!b)
		return sqlite3_errcode(dst);
	double deadline = time_mono() + busy_timeout;
	double pause = 0.01;
	int rc;
	for (;;) {
		rc = sqlite3_backup_step(b, -1);
		if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
			break;
		if (time_mono() > deadline || cancel_requested())
			break;
		time_sleep(pause);
		pause = pause * 2 > 0.5 ? 0.5 : pause * 2;
	}
	if (page_count)
		*page_count = (uint64_t)sqlite3_backup_pagecount(b);
	int frc = sqlite3_backup_finish(b);
	if (rc == SQLITE_DONE)
		rc = frc;
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void fill_result(struct snapshot_result *res, const struct gz_result *gr, int page_size,
			uint64_t page_count, bool fallback)
{
	res->page_size = (uint64_t)page_size;
	res->page_count = page_count;
	res->data_size = gr->data_size;
	res->compressed_size = gr->compressed_size;
	memcpy(res->sha256, gr->sha256, SHA256_LEN);
	res->used_fallback = fallback;
}

/* The streaming route's consumer: the backup's gzip stream, page 1 written
 * into its reserved head at the end. */
struct gz_out {
	int fd;
	const struct snapshot_opts *opts;
	struct gz_writer *gz;
	struct pagesum *sum;   /* the state checksum, page by page */
	uint32_t page_size;
	uint32_t next_pgno;
	int64_t state_ms;      /* when the first page came */
};

static enum result gz_start(void *ctx, int page_size, struct error *err)
{
	struct gz_out *g = ctx;
	struct gz_writer_opts go = {.level = g->opts->level, .threads = g->opts->threads,
				    .head_size = (size_t)page_size, .scratch = g->opts->scratch};
	/* The first page of the copy is written once the backup step holds the
	 * source's read transaction (snapshot_vfs.h): the state is fixed, and
	 * every commit in it came before now -- before the next millisecond,
	 * as now is rounded down. */
	g->state_ms = time_now_ms() + 1;
	g->page_size = (uint32_t)page_size;
	g->next_pgno = 2;
	enum result r = pagesum_new(g->page_size, &g->sum, err);
	return r ? r : gz_writer_open(&g->gz, g->fd, &go, err);
}

static enum result gz_body(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct gz_out *g = ctx;
	const unsigned char *p = buf;
	for (size_t off = 0; off + g->page_size <= len; off += g->page_size) {
		enum result r = pagesum_set(g->sum, g->next_pgno++, p + off, err);
		if (r)
			return r;
	}
	return gz_writer_write(g->gz, buf, len, err);
}

enum result snapshot_stream_copy(sqlite3 *src, const char *db_path, double busy_timeout,
				 struct vfs_stream *s, struct error *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	sqlite3 *dst = NULL;
	char uri[96];
	uint64_t pages = 0;

	pthread_once(&once, snapshot_vfs_register);
	s->err = err;
	s->pages_total = source_page_count(src);
	snprintf(uri, sizeof(uri), "file:cbsync-stream?ctx=%p", (void *)s);
	int rc = sqlite3_open_v2(uri, &dst,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
					 SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
				 STREAM_VFS_NAME);
	if (rc != SQLITE_OK) {
		sqlite3_close(dst);
		return error_set(err, CB_ERR_INTERNAL, "cannot open the snapshot stream: %s",
				 sqlite3_errstr(rc));
	}
	char pragmas[128];
	snprintf(pragmas, sizeof(pragmas),
		 "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-%d;",
		 DEST_CACHE_KIB);
	rc = sqlite3_exec(dst, pragmas, NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		enum result r = error_set(err, CB_ERR_INTERNAL,
					  "cannot set up the snapshot stream: %s", sqlite3_errmsg(dst));
		sqlite3_close(dst);
		return r;
	}
	rc = snapshot_copy(dst, src, busy_timeout, &pages);
	sqlite3_close(dst);
	if (s->failure)
		return s->failure;
	if (s->out_of_order)
		return error_set(err, CB_ERR_INTERNAL, "snapshot stream out of order");
	if (rc != SQLITE_OK)
		return snapshot_sqlite_error(err, rc, db_path, "cannot read database");
	/* An empty source (0 pages) still yields one page: SQLite writes a
	 * fresh page 1.  The size streamed is what counts. */
	if (!s->head_written || s->size % s->page_size != 0 ||
	    (pages && (uint64_t)s->size != pages * (uint64_t)s->page_size)) {
		s->out_of_order = true;
		return error_set(err, CB_ERR_INTERNAL, "snapshot stream incomplete");
	}
	return CB_OK;
}

/* The streaming route.  On failure *fallback says whether the temp-file
 * route should be tried (SQLite wrote something that cannot be streamed). */
static enum result snapshot_stream(sqlite3 *src, const char *db_path, int fd,
				   const struct snapshot_opts *opts,
				   struct snapshot_result *res, bool *fallback,
				   struct error *err)
{
	struct gz_out gzo = {.fd = fd, .opts = opts};
	struct vfs_consumer out = {.start = gz_start, .body = gz_body, .ctx = &gzo,
				   .progress = opts->progress, .progress_ctx = opts->progress_ctx};
	struct vfs_stream s = {.out = &out};
	struct gz_result gr;
	enum result r = snapshot_stream_copy(src, db_path, opts->busy_timeout, &s, err);
	uint32_t pages = r ? 0 : (uint32_t)(s.size / s.page_size);
	if (!r && !(r = pagesum_set(gzo.sum, 1, s.head, err)) &&
	    !(r = pagesum_resize(gzo.sum, pages, err)) &&
	    !(r = gz_writer_finish(gzo.gz, s.head, &gr, err))) {
		fill_result(res, &gr, s.page_size, pages, false);
		res->state_checksum = pagesum_checksum(gzo.sum);
		res->state_ms = gzo.state_ms;
		if (opts->sum_out) {
			*opts->sum_out = gzo.sum;
			gzo.sum = NULL;
		}
	}
	gz_writer_free(gzo.gz);
	pagesum_free(gzo.sum);
	free(s.head);
	*fallback = r != CB_OK && s.out_of_order && !s.failure;
	return r;
}

static enum result to_gzip(void *ctx, const void *buf, size_t len, struct error *err)
{
	return gz_writer_write(ctx, buf, len, err);
}

/* The fallback route: back up into a temp file, then compress that file. */
static enum result snapshot_via_file(sqlite3 *src, const char *db_path, int fd,
				     const struct snapshot_opts *opts,
				     struct snapshot_result *res, struct error *err)
{
	char *tmpl = NULL;
	int tfd = -1;
	sqlite3 *dst = NULL;
	struct gz_writer *gz = NULL;
	enum result r;
	uint64_t pages = 0;
	const char *dir = opts->tmp_dir ? opts->tmp_dir : ".";

	tmpl = fs_join(dir, FS_TMP_PREFIX "snapshot.XXXXXX");
	if (!tmpl)
		return error_nomem(err);
	tfd = fs_temp_create(tmpl, 0600);
	if (tfd < 0) {
		r = error_errno(err, errno, dir);
		free(tmpl);
		return r;
	}
	int rc = sqlite3_open_v2(tmpl, &dst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
				 NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(dst, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;",
				  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		r = error_set(err, CB_ERR_IO, "cannot create temporary copy in '%s': %s", dir,
			      sqlite3_errstr(rc));
		goto done;
	}
	rc = snapshot_copy(dst, src, opts->busy_timeout, &pages);
	/* The copy is one step under one read transaction, now ended: its
	 * state is at some moment before now, so now (rounded up to the
	 * millisecond) is a safe bound. */
	int64_t state_ms = time_now_ms() + 1;
	if (rc != SQLITE_OK) {
		r = cancel_requested() ? error_set(err, CB_ERR_INTERRUPTED, "interrupted")
				       : snapshot_sqlite_error(err, rc, db_path,
							       "cannot read database");
		goto done;
	}
	sqlite3_int64 pgsz = 0;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(dst, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		pgsz = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	/* The copy's own count: an empty source still gets a page 1. */
	if (sqlite3_prepare_v2(dst, "PRAGMA page_count", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		pages = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(dst);
	dst = NULL;

	if (ftruncate(fd, 0) != 0) {
		r = error_errno(err, errno, NULL);
		goto done;
	}
	struct gz_writer_opts go = {.level = opts->level, .threads = opts->threads, .head_size = 0,
				    .scratch = opts->scratch};
	if ((r = gz_writer_open(&gz, fd, &go, err)))
		goto done;
	struct stream copy;
	stream_init(&copy, to_gzip, gz, false, err);
	if (pgsz > 0) {
		copy.progress = opts->progress;
		copy.progress_ctx = opts->progress_ctx;
		copy.total = pages * (uint64_t)pgsz;
	}
	if ((r = stream_pump_fd(tfd, tmpl, &copy, err)))
		goto done;
	struct gz_result gr;
	struct pagesum *sum = NULL;
	if ((r = gz_writer_finish(gz, NULL, &gr, err)) ||
	    (r = pagesum_build(tfd, (uint32_t)pgsz, &sum, err)))
		goto done;
	fill_result(res, &gr, pgsz, pages, true);
	res->state_checksum = pagesum_checksum(sum);
	res->state_ms = state_ms;
	if (opts->sum_out) {
		*opts->sum_out = sum;
		sum = NULL;
	}
	pagesum_free(sum);
	r = CB_OK;
done:
	if (dst)
		sqlite3_close(dst);
	gz_writer_free(gz);
	if (tfd >= 0)
		close(tfd);
	unlink(tmpl);
	free(tmpl);
	return r;
}

enum result snapshot_to_gzip(const char *db_path, int fd,
			     const struct snapshot_opts *opts,
			     struct snapshot_result *res, struct error *err)
{
	sqlite3 *src = NULL;
	enum result r = snapshot_open_source(db_path, opts->busy_timeout, &src, err);
	if (r)
		return r;
	/* To know the copy's place in the WAL, its read transaction is begun
	 * here; the backup API reads under it, on either route. */
	if (opts->pos_out && (r = walcap_begin_read(src, db_path, opts->pos_out, NULL, err))) {
		sqlite3_close(src);
		return r;
	}
	if (!opts->force_fallback) {
		bool fallback = false;
		r = snapshot_stream(src, db_path, fd, opts, res, &fallback, err);
		if (!fallback) {
			sqlite3_close(src);
			return r;
		}
		if (ftruncate(fd, 0) != 0) {
			r = error_errno(err, errno, NULL);
			sqlite3_close(src);
			return r;
		}
	}
	r = snapshot_via_file(src, db_path, fd, opts, res, err);
	sqlite3_close(src);
	return r;
}
