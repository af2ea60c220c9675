/*
 * WAL-frame capture (walcapture.h): the read transaction and its place in
 * the WAL, and one capture from the chain's position -- check where the WAL
 * is, walk the new frames (one pass, remembering where each page's newest
 * image is), then read those images in page order into the increment, and
 * check that nothing moved meanwhile.
 */
#include "agent/engine/walcapture.h"
#include "agent/engine/snapshot.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A read that makes the connection's transaction take its snapshot now. */
static int read_now(sqlite3 *src)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(src, "PRAGMA schema_version", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW || rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	int frc = sqlite3_finalize(st);
	return rc == SQLITE_OK ? frc : rc;
}

static enum result begin_read(sqlite3 *src, const char *db_path, struct error *err)
{
	int rc = sqlite3_exec(src, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = read_now(src);
	if (rc != SQLITE_OK)
		return snapshot_sqlite_error(err, rc, db_path, "cannot read database");
	return CB_OK;
}

static bool salts_equal(const uint32_t a[2], const uint32_t b[2])
{
	return a[0] == b[0] && a[1] == b[1];
}

static int open_wal(const char *db_path, char *path, size_t size)
{
	if (snprintf(path, size, "%s-wal", db_path) >= (int)size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
}

/* The place of the state a reader sees when the wal-index header is idx. */
static void place(const char *db_path, const struct stat *db, const struct wal_index *idx,
		  struct walpos *pos)
{
	char path[PATH_MAX];
	struct wal_header h;
	struct wal_frame f;
	struct stat st;
	struct error e = {0};
	struct walpos p = {.salt = {idx->salt[0], idx->salt[1]}, .page_size = idx->page_size,
			   .frames = idx->max_frame, .db_dev = (uint64_t)db->st_dev,
			   .db_ino = (uint64_t)db->st_ino};
	int fd = open_wal(db_path, path, sizeof(path));
	if (fd >= 0 && fstat(fd, &st) == 0) {
		p.wal_dev = (uint64_t)st.st_dev;
		p.wal_ino = (uint64_t)st.st_ino;
	}
	bool ours = fd >= 0 && wal_header_read(fd, path, &h, &e) == CB_OK &&
		    salts_equal(h.info.salt, idx->salt);
	if (ours) {
		p.ckpt = h.info.checkpoint_seq;
		p.page_size = h.info.page_size;
		p.big_endian = h.big_endian;
	}
	if (idx->max_frame == 0) {
		/* None of the generation's frames, written to the file yet or
		 * not: everything it will hold comes after this state. */
		p.valid = true;
	} else if (ours && wal_frame_read(fd, path, h.info.page_size, idx->max_frame, &f, &e) ==
				   CB_OK) {
		p.valid = salts_equal(f.salt, idx->salt) && salts_equal(f.sum, idx->frame_sum) &&
			  f.db_pages == idx->db_pages && f.db_pages != 0;
		p.sum[0] = idx->frame_sum[0];
		p.sum[1] = idx->frame_sum[1];
	}
	if (fd >= 0)
		close(fd);
	*pos = p;
}

enum result walcap_begin_read(sqlite3 *src, const char *db_path, struct walpos *pos,
			      int64_t *state_ms, struct error *err)
{
	struct wal_index before, after;
	struct stat st;
	struct error e = {0};
	bool have = false;

	memset(pos, 0, sizeof(*pos));
	if (wal_db_in_wal_mode(src) && stat(db_path, &st) == 0) {
		/* A first read opens the connection's WAL and maps its
		 * wal-index; the transaction the caller reads under is the
		 * next one. */
		int rc = read_now(src);
		if (rc != SQLITE_OK)
			return snapshot_sqlite_error(err, rc, db_path, "cannot read database");
		have = wal_index_read(src, &before, &e) == CB_OK;
	}
	enum result r = begin_read(src, db_path, err);
	if (r)
		return r;
	if (state_ms)
		*state_ms = time_now_ms();
	/* The transaction took the header as it was at some moment between
	 * the two reads; the same both times, it took that one. */
	if (have && wal_index_read(src, &after, &e) == CB_OK && wal_index_equal(&before, &after))
		place(db_path, &st, &before, pos);
	return CB_OK;
}

/* ---- one capture --------------------------------------------------------- */

struct run {
	const struct capture_opts *o;
	struct pagesum *table;
	const struct walpos *from;
	struct walcap_result *res;
	char path[PATH_MAX];      /* the -wal */
	int fd;
	struct stat wal_st;
	struct wal_index idx;
	struct wal_header hdr;
	bool have_hdr;            /* hdr was read: frames were */
	struct wal_pages pages;
	uint32_t db_pages;        /* after the last commit read */
	struct walpos to;         /* the place reached */
};

/* Continuity is lost: say why; the caller takes the page diff. */
static enum result fallback(struct run *w, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum result fallback(struct run *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->res->why, sizeof(w->res->why), fmt, ap);
	va_end(ap);
	w->res->fallback = true;
	return CB_OK;
}

/* The frame at the position is still the one the chain consumed. */
static bool witness_intact(struct run *w)
{
	struct wal_frame f;
	struct error e = {0};
	const struct walpos *p = w->from;
	return wal_frame_read(w->fd, w->path, p->page_size, p->frames, &f, &e) == CB_OK &&
	       salts_equal(f.salt, p->salt) && salts_equal(f.sum, p->sum) && f.db_pages != 0;
}

/* Walk one generation from frame first on, chain from sum; cap: the last
 * frame published (0: all of it is).  A walk that falls short of the
 * published end is a fallback. */
static enum result walk(struct run *w, const struct wal_header *h, const uint32_t salt[2],
			bool big_endian, const uint32_t sum[2], uint32_t first, uint32_t cap,
			struct wal_scan *s, struct error *err)
{
	*s = (struct wal_scan){.fd = w->fd, .path = w->path, .page_size = h->info.page_size,
			       .big_endian = big_endian, .salt = {salt[0], salt[1]},
			       .sum = {sum[0], sum[1]}, .first = first, .cap = cap};
	enum result r = wal_scan(s, &w->pages, err);
	if (r)
		return r;
	if (s->commit)
		w->db_pages = s->db_pages;
	if (cap >= first && s->commit != cap)
		return fallback(w, "the WAL's frames %u..%u do not check out (the wal-index "
				"publishes up to %u)", first, cap, cap);
	if (cap >= first && !salts_equal(s->commit_sum, w->idx.frame_sum))
		return fallback(w, "frame %u's checksum is not the one the wal-index publishes",
				cap);
	return CB_OK;
}

/* Is a commit frame written after frame after (the chain sum after it) that
 * the wal-index does not publish yet -- a commit being fsync'd?  Then the
 * caller captures again soon: no file event may follow its publication. */
static bool pending_in(int fd, const char *path, const struct wal_header *h, bool big_endian,
		       const uint32_t sum[2], uint32_t after)
{
	struct wal_pages scratch = {0};
	struct error e = {0};
	struct wal_scan s = {.fd = fd, .path = path, .page_size = h->info.page_size,
			     .big_endian = big_endian, .salt = {h->info.salt[0], h->info.salt[1]},
			     .sum = {sum[0], sum[1]}, .first = after + 1};
	bool pending = wal_scan(&s, &scratch, &e) == CB_OK && s.commit != 0;
	wal_pages_free(&scratch);
	return pending;
}

static bool commit_pending(struct run *w, const struct wal_header *h, bool big_endian,
			   const uint32_t sum[2], uint32_t after)
{
	return pending_in(w->fd, w->path, h, big_endian, sum, after);
}

bool walcap_commit_pending(const char *db_path, const struct walpos *pos)
{
	char path[PATH_MAX];
	struct wal_header h;
	struct error e = {0};
	bool pending = false;
	if (!pos->valid)
		return false;
	int fd = open_wal(db_path, path, sizeof(path));
	if (fd >= 0 && wal_header_read(fd, path, &h, &e) == CB_OK &&
	    salts_equal(h.info.salt, pos->salt))
		pending = pending_in(fd, path, &h, pos->frames ? pos->big_endian : h.big_endian,
				     pos->frames ? pos->sum : h.sum, pos->frames);
	if (fd >= 0)
		close(fd);
	return pending;
}

/* Where the WAL is against the position, and the frames to read: into
 * w->pages, w->to.  Sets a fallback if continuity is lost. */
static enum result find_frames(struct run *w, struct error *err)
{
	const struct walpos *from = w->from;
	struct wal_header *h = &w->hdr;
	struct wal_scan s;
	struct error e = {0};
	enum result r;

	w->to = *from;
	w->to.wal_dev = (uint64_t)w->wal_st.st_dev;
	w->to.wal_ino = (uint64_t)w->wal_st.st_ino;
	if (salts_equal(w->idx.salt, from->salt)) {
		if (w->idx.max_frame == from->frames) {
			/* Nothing committed since; unless a commit is on its
			 * way (its generation's header is then written). */
			if (wal_header_read(w->fd, w->path, h, &e) == CB_OK &&
			    salts_equal(h->info.salt, from->salt))
				w->res->cap.pending = commit_pending(
					w, h, from->frames ? from->big_endian : h->big_endian,
					from->frames ? from->sum : h->sum, from->frames);
			return CB_OK;
		}
		if (w->idx.max_frame < from->frames)
			return fallback(w, "the wal-index is behind the chain's position");
	}
	r = wal_header_read(w->fd, w->path, h, &e);
	w->have_hdr = r == CB_OK;
	if (r == CB_ERR_NOT_FOUND)
		return fallback(w, "the WAL was truncated (a TRUNCATE checkpoint)");
	if (r)
		return fallback(w, "%s", e.msg);
	if (h->info.page_size != pagesum_page_size(w->table))
		return fallback(w, "the page size changed");
	/* The published end, when the wal-index is at the file's generation.
	 * When it is already at the next one (a restart begun, the new header
	 * not yet written), every frame of the file's generation is published. */
	bool bounded = salts_equal(w->idx.salt, h->info.salt);
	uint32_t cap = w->idx.max_frame;

	if (salts_equal(h->info.salt, from->salt)) {
		if (from->frames && !witness_intact(w))
			return fallback(w, "the WAL's frame %u is no longer the one captured",
					from->frames);
		const uint32_t *sum = from->frames ? from->sum : h->sum;
		bool be = from->frames ? from->big_endian : h->big_endian;
		if ((r = walk(w, h, h->info.salt, be, sum, from->frames + 1, bounded ? cap : 0,
			      &s, err)) ||
		    w->res->fallback)
			return r;
		w->to.ckpt = h->info.checkpoint_seq;
		w->to.page_size = h->info.page_size;
		w->to.big_endian = be;
		if (s.commit) {
			w->to.frames = s.commit;
			w->to.sum[0] = s.commit_sum[0];
			w->to.sum[1] = s.commit_sum[1];
		}
		if (bounded)
			w->res->cap.pending = commit_pending(w, h, be, w->to.frames ? w->to.sum : h->sum,
							 w->to.frames);
		return CB_OK;
	}

	/* Another generation: follow one restart, if nothing was lost.  Each
	 * restart adds one to salt-1 of the generation it ends (whichever
	 * connection makes it); the checkpoint sequence in the header is the
	 * writing connection's own count, which skips the restarts other
	 * connections made (a TRUNCATE checkpoint's), so it says nothing. */
	if (!from->frames)
		return fallback(w, "the WAL was restarted before any of its frames was captured");
	if (h->info.salt[0] != from->salt[0] + 1)
		return fallback(w, "the WAL was restarted more than once (salt-1 %u, was %u)",
				h->info.salt[0], from->salt[0]);
	if (h->info.page_size != from->page_size)
		return fallback(w, "the page size changed");
	if (!bounded)
		return fallback(w, "the WAL restarted again while it was read");
	if (!witness_intact(w))
		return fallback(w, "the WAL was restarted over the chain's position");
	if ((r = walk(w, h, from->salt, from->big_endian, from->sum, from->frames + 1, 0, &s,
		      err)) ||
	    w->res->fallback)
		return r;
	s.commit = 0;
	if (cap && ((r = walk(w, h, h->info.salt, h->big_endian, h->sum, 1, cap, &s, err)) ||
		    w->res->fallback))
		return r;
	w->res->followed_restart = true;
	w->to.salt[0] = h->info.salt[0];
	w->to.salt[1] = h->info.salt[1];
	w->to.ckpt = h->info.checkpoint_seq;
	w->to.big_endian = h->big_endian;
	w->to.frames = s.commit;
	w->to.sum[0] = s.commit ? s.commit_sum[0] : h->sum[0];
	w->to.sum[1] = s.commit ? s.commit_sum[1] : h->sum[1];
	w->res->cap.pending = commit_pending(w, h, h->big_endian, w->to.sum, w->to.frames);
	return CB_OK;
}

/* Every page the database gained has a frame (pages[] holds each page
 * once, in order). */
static bool growth_covered(const struct run *w, uint32_t old, uint32_t now)
{
	uint32_t lock = pagesum_lock_page(pagesum_page_size(w->table));
	uint64_t want = now > old ? now - old : 0, have = 0;
	if (lock > old && lock <= now)
		want--;
	for (size_t i = 0; i < w->pages.n; i++) {
		uint32_t pg = w->pages.v[i].pgno;
		if (pg > old && pg <= now && pg != lock)
			have++;
	}
	return have == want;
}

/* The second pass: each page's newest image, in page order, into the
 * increment if the table does not already hold it. */
static enum result write_pages(struct run *w, struct capture_out *out, struct error *err)
{
	uint32_t ps = pagesum_page_size(w->table);
	uint32_t lock = pagesum_lock_page(ps);
	unsigned char *buf = malloc(ps);
	enum result r = CB_OK;
	if (!buf)
		return error_nomem(err);
	w->res->table_touched = true;
	if (w->db_pages != pagesum_page_count(w->table))
		r = pagesum_resize(w->table, w->db_pages, err);
	for (size_t i = 0; !r && i < w->pages.n; i++) {
		const struct wal_page_ref *p = &w->pages.v[i];
		if (p->pgno > w->db_pages || p->pgno == lock)
			continue;
		ssize_t n = pread(w->fd, buf, ps, (off_t)p->offset);
		if (n != (ssize_t)ps) {
			r = n < 0 ? error_errno(err, errno, w->path) : CB_OK;
			if (!r)
				fallback(w, "the WAL shrank while it was read");
			break;
		}
		if (!pagesum_changed(w->table, p->pgno, buf))
			continue;
		if (!(r = capture_out_page(out, p->pgno, buf, err)))
			r = pagesum_update(w->table, p->pgno, buf, err);
	}
	free(buf);
	return r;
}

/* After the read: the WAL header unchanged (no restart began), and when a
 * restart was followed, the old position's frame still there. */
static bool still_valid(struct run *w)
{
	struct wal_header again;
	struct error e = {0};
	if (!w->have_hdr)
		return true;   /* nothing was read */
	if (wal_header_read(w->fd, w->path, &again, &e) != CB_OK ||
	    memcmp(again.raw, w->hdr.raw, sizeof(again.raw)) != 0)
		return false;
	return !w->res->followed_restart || witness_intact(w);
}

/* Checks that need no read transaction: the files are the position's.  (The
 * -wal may be opened and closed at will: SQLite locks the database file and
 * the wal-index, never the -wal.) */
static enum result check_files(struct run *w)
{
	struct stat st;
	const struct walpos *from = w->from;
	if (stat(w->o->db_path, &st) != 0)
		return fallback(w, "cannot stat the database: %s", strerror(errno));
	if (!from->valid)
		return fallback(w, "no WAL position to continue from");
	if ((uint64_t)st.st_dev != from->db_dev || (uint64_t)st.st_ino != from->db_ino)
		return fallback(w, "the database file was replaced");
	w->fd = open_wal(w->o->db_path, w->path, sizeof(w->path));
	if (w->fd < 0)
		return fallback(w, "no WAL file (%s)", strerror(errno));
	if (fstat(w->fd, &w->wal_st) != 0)
		return fallback(w, "cannot stat the WAL: %s", strerror(errno));
	if (from->wal_ino && ((uint64_t)w->wal_st.st_dev != from->wal_dev ||
			      (uint64_t)w->wal_st.st_ino != from->wal_ino))
		return fallback(w, "the WAL file was replaced");
	return CB_OK;
}

enum result walcap_capture(const struct capture_opts *o, struct pagesum *table,
			   const struct walpos *from, int fd, struct walcap_result *res,
			   struct error *err)
{
	struct run w = {.o = o, .table = table, .from = from, .res = res, .fd = -1};
	struct capture_out out = {.o = o, .fd = fd, .page_size = pagesum_page_size(table)};
	struct error e = {0};
	sqlite3 *src = NULL;
	enum result r;

	memset(res, 0, sizeof(*res));
	if ((r = snapshot_open_source(o->db_path, o->busy_timeout, &src, err)))
		goto done;
	if (!wal_db_in_wal_mode(src)) {
		fallback(&w, "the database is not in WAL mode");
		goto done;
	}
	if ((r = check_files(&w)) || res->fallback)
		goto done;
	/* Hold a read transaction: the WAL cannot restart under it. */
	if ((r = begin_read(src, o->db_path, err)))
		goto done;
	if (wal_index_read(src, &w.idx, &e)) {
		fallback(&w, "cannot use the wal-index: %s", e.msg);
		goto done;
	}
	/* The state read is what the wal-index published just now: every
	 * commit in it was published before this moment, every one after
	 * it was not (reading the frames takes longer, and commits land
	 * meanwhile that the state does not hold). */
	res->cap.state_ms = time_now_ms();
	if ((r = find_frames(&w, err)) || res->fallback)
		goto done;
	uint32_t old = pagesum_page_count(table);
	if (w.pages.n == 0) {
		/* Nothing committed since the position (it may have moved to
		 * a new generation all the same). */
		w.db_pages = old;
	} else {
		wal_pages_latest(&w.pages);
		if (!growth_covered(&w, old, w.db_pages)) {
			fallback(&w, "the database grew by pages the WAL does not hold");
			goto done;
		}
		if ((r = write_pages(&w, &out, err)) || res->fallback)
			goto done;
	}
	if (!still_valid(&w)) {
		fallback(&w, "the WAL was restarted while it was read");
		goto done;
	}
	res->cap.page_size = pagesum_page_size(table);
	res->cap.page_count = w.db_pages;
	res->cap.state_checksum = pagesum_checksum(table);
	if (out.open)
		r = capture_out_finish(&out, w.db_pages, &res->cap, err);
	else if (w.db_pages != old)
		fallback(&w, "the database's size changed with no page to carry it");
	if (!r && !res->fallback) {
		w.to.valid = true;
		res->cap.pos = w.to;
	}
done:
	if (src)
		sqlite3_close(src);   /* ends the read transaction */
	capture_out_free(&out);
	wal_pages_free(&w.pages);
	if (w.fd >= 0)
		close(w.fd);
	if (r || res->fallback) {
		res->cap.changed = false;
		res->cap.pos.valid = false;
	}
	return r;
}
