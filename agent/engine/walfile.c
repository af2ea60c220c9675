/*
 * Increment files in SQLite's WAL format: writer, checking reader, and the
 * helper that applies one to a database image (the format, and what cbsync
 * adds to it, are described in walfile.h).
 */
#include "agent/engine/walfile.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FRAME_HDR WALFILE_FRAME_HEADER_SIZE

/* ---- bytes and checksums ------------------------------------------------- */

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Continue the checksum pair sum over len bytes (a multiple of 8), the words
 * read big-endian or not as the magic said. */
static void checksum(uint32_t sum[2], const unsigned char *p, size_t len, bool big_endian)
{
	uint32_t s1 = sum[0], s2 = sum[1];
	const unsigned char *end = p + len;

	if (big_endian) {
		for (; p < end; p += 8) {
			s1 += get_be32(p) + s2;
			s2 += get_be32(p + 4) + s1;
		}
	} else {
		for (; p < end; p += 8) {
			s1 += get_le32(p) + s2;
			s2 += get_le32(p + 4) + s1;
		}
	}
	sum[0] = s1;
	sum[1] = s2;
}

bool walfile_page_size_valid(uint32_t page_size)
{
	return page_size >= 512 && page_size <= 65536 && (page_size & (page_size - 1)) == 0;
}

uint64_t walfile_size(uint32_t page_size, uint64_t frames)
{
	return WALFILE_HEADER_SIZE + frames * (FRAME_HDR + (uint64_t)page_size);
}

enum result walfile_random_salts(uint32_t salt[2], struct error *err)
{
	unsigned char b[8];

	if (RAND_bytes(b, sizeof b) != 1)
		return error_set(err, CB_ERR_INTERNAL, "unable to draw random WAL salts");
	salt[0] = get_be32(b);
	salt[1] = get_be32(b + 4);
	return CB_OK;
}

/* ---- a set of page numbers ----------------------------------------------
 *
 * Page number -> the frame that held it, to catch a page given twice.  Open
 * addressing with linear probing; page numbers are never 0, so 0 is empty.
 * Kept at most half full. */

struct walfile_pgset {
	uint32_t *key;
	uint32_t *frame;
	size_t cap;   /* a power of two */
	size_t count;
};

static size_t pgset_slot(const struct walfile_pgset *s, uint32_t pgno)
{
	size_t i = (size_t)(pgno * 2654435761u) & (s->cap - 1);

	while (s->key[i] != 0 && s->key[i] != pgno)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static struct walfile_pgset *pgset_new(void)
{
	struct walfile_pgset *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->cap = 64;
	s->key = calloc(s->cap, sizeof *s->key);
	s->frame = calloc(s->cap, sizeof *s->frame);
	if (!s->key || !s->frame) {
		free(s->key);
		free(s->frame);
		free(s);
		return NULL;
	}
	return s;
}

static void pgset_free(struct walfile_pgset *s)
{
	if (!s)
		return;
	free(s->key);
	free(s->frame);
	free(s);
}

/* Record pgno as held by frame.  Returns CB_OK and *prev = 0 if it is new,
 * CB_OK and *prev = the earlier frame if it was already there, or
 * CB_ERR_NOMEM. */
static enum result pgset_add(struct walfile_pgset *s, uint32_t pgno, uint32_t frame,
			     uint32_t *prev)
{
	size_t i = pgset_slot(s, pgno);

	*prev = 0;
	if (s->key[i] == pgno) {
		*prev = s->frame[i];
		return CB_OK;
	}
	if ((s->count + 1) * 2 > s->cap) {
		struct walfile_pgset big = {.cap = s->cap * 2};

		big.key = calloc(big.cap, sizeof *big.key);
		big.frame = calloc(big.cap, sizeof *big.frame);
		if (!big.key || !big.frame) {
			free(big.key);
			free(big.frame);
			return CB_ERR_NOMEM;
		}
		for (size_t j = 0; j < s->cap; j++) {
			if (s->key[j] == 0)
				continue;
			size_t k = pgset_slot(&big, s->key[j]);
			big.key[k] = s->key[j];
			big.frame[k] = s->frame[j];
		}
		free(s->key);
		free(s->frame);
		s->key = big.key;
		s->frame = big.frame;
		s->cap = big.cap;
		i = pgset_slot(s, pgno);
	}
	s->key[i] = pgno;
	s->frame[i] = frame;
	s->count++;
	return CB_OK;
}

/* ---- writing ------------------------------------------------------------- */

enum result walfile_writer_init(struct walfile_writer *w, const struct walfile_writer_opts *opts,
				stream_write_fn write, void *ctx, struct error *err)
{
	unsigned char hdr[WALFILE_HEADER_SIZE];
	enum result rc;

	*w = (struct walfile_writer){0};
	if (!walfile_page_size_valid(opts->page_size))
		return error_set(err, CB_ERR_INTERNAL, "invalid page size %u for a WAL file",
				 opts->page_size);
	w->write = write;
	w->ctx = ctx;
	w->info.page_size = opts->page_size;
	w->info.checkpoint_seq = opts->checkpoint_seq;
	w->info.salt[0] = opts->salt[0];
	w->info.salt[1] = opts->salt[1];
	w->frame = malloc(FRAME_HDR + (size_t)opts->page_size);
	w->seen = pgset_new();
	if (!w->frame || !w->seen) {
		walfile_writer_free(w);
		return error_nomem(err);
	}

	put_be32(hdr, WALFILE_MAGIC_BE);
	put_be32(hdr + 4, WALFILE_VERSION);
	put_be32(hdr + 8, opts->page_size);
	put_be32(hdr + 12, opts->checkpoint_seq);
	put_be32(hdr + 16, opts->salt[0]);
	put_be32(hdr + 20, opts->salt[1]);
	checksum(w->sum, hdr, 24, true);
	put_be32(hdr + 24, w->sum[0]);
	put_be32(hdr + 28, w->sum[1]);
	rc = write(ctx, hdr, sizeof hdr, err);
	if (rc != CB_OK) {
		walfile_writer_free(w);
		return rc;
	}
	w->info.bytes = sizeof hdr;
	return CB_OK;
}

/* Fill in the held frame's header (its page number is already there), chain
 * its checksum and write it out. */
static enum result emit_held(struct walfile_writer *w, uint32_t db_pages, struct error *err)
{
	size_t len = FRAME_HDR + (size_t)w->info.page_size;
	enum result rc;

	put_be32(w->frame + 4, db_pages);
	put_be32(w->frame + 8, w->info.salt[0]);
	put_be32(w->frame + 12, w->info.salt[1]);
	checksum(w->sum, w->frame, 8, true);
	checksum(w->sum, w->frame + FRAME_HDR, w->info.page_size, true);
	put_be32(w->frame + 16, w->sum[0]);
	put_be32(w->frame + 20, w->sum[1]);
	rc = w->write(w->ctx, w->frame, len, err);
	if (rc != CB_OK)
		return w->failed = rc;
	w->held = false;
	w->info.bytes += len;
	return CB_OK;
}

/* The writer cannot go on: it failed, or its transaction is committed. */
static bool writer_done(struct walfile_writer *w, enum result *rc, struct error *err)
{
	if (w->committed)
		*rc = error_set(err, CB_ERR_INTERNAL, "the WAL transaction is already committed");
	else if (w->failed)
		*rc = error_set(err, w->failed, "the WAL writer failed earlier");
	else
		return false;
	return true;
}

enum result walfile_add_page(struct walfile_writer *w, uint32_t pgno, const void *data,
			     struct error *err)
{
	uint32_t prev;
	enum result rc;

	if (writer_done(w, &rc, err))
		return rc;
	if (pgno == 0)
		return w->failed = error_set(err, CB_ERR_INTERNAL, "page number 0 in a WAL file");
	if (pgset_add(w->seen, pgno, w->info.frames + 1, &prev) != CB_OK)
		return w->failed = error_nomem(err);
	if (prev)
		return w->failed = error_set(err, CB_ERR_INTERNAL,
					     "page %u given twice (frames %u and %u)", pgno, prev,
					     w->info.frames + 1);
	if (w->held) {
		rc = emit_held(w, 0, err);
		if (rc != CB_OK)
			return rc;
	}
	put_be32(w->frame, pgno);
	memcpy(w->frame + FRAME_HDR, data, w->info.page_size);
	w->held = true;
	w->info.frames++;
	if (pgno > w->max_pgno)
		w->max_pgno = pgno;
	return CB_OK;
}

enum result walfile_commit(struct walfile_writer *w, uint32_t db_pages,
			   struct walfile_info *info, struct error *err)
{
	enum result rc;

	if (writer_done(w, &rc, err))
		return rc;
	if (!w->held)
		return w->failed = error_set(err, CB_ERR_INTERNAL,
					     "a WAL transaction needs at least one page");
	if (w->max_pgno > db_pages)
		return w->failed = error_set(err, CB_ERR_INTERNAL,
					     "page %u lies beyond the database's %u pages after commit",
					     w->max_pgno, db_pages);
	rc = emit_held(w, db_pages, err);
	if (rc != CB_OK)
		return rc;
	w->info.db_pages = db_pages;
	w->committed = true;
	if (info)
		*info = w->info;
	return CB_OK;
}

void walfile_writer_free(struct walfile_writer *w)
{
	free(w->frame);
	pgset_free(w->seen);
	w->frame = NULL;
	w->seen = NULL;
}

/* ---- reading ------------------------------------------------------------- */

struct walfile_reader {
	walfile_page_fn page;
	void *ctx;
	unsigned char hdr[WALFILE_HEADER_SIZE];
	unsigned char *frame;   /* one frame being gathered */
	size_t have;            /* bytes of the header or frame gathered */
	size_t frame_len;       /* 0 until the header is read */
	bool big_endian;
	struct walfile_info info;
	uint32_t sum[2];
	uint32_t commit_frame;  /* 0 until the commit frame is read */
	uint32_t max_pgno, max_frame;
	struct walfile_pgset *seen;
	enum result failed;
};

enum result walfile_reader_new(struct walfile_reader **out, walfile_page_fn page, void *ctx,
			       struct error *err)
{
	struct walfile_reader *r = calloc(1, sizeof *r);

	if (!r)
		return error_nomem(err);
	r->seen = pgset_new();
	if (!r->seen) {
		free(r);
		return error_nomem(err);
	}
	r->page = page;
	r->ctx = ctx;
	*out = r;
	return CB_OK;
}

void walfile_reader_free(struct walfile_reader *r)
{
	if (!r)
		return;
	free(r->frame);
	pgset_free(r->seen);
	free(r);
}

/* Record damage: CB_ERR_CORRUPT, sticky. */
#define corrupt(r, err, ...) ((r)->failed = error_set((err), CB_ERR_CORRUPT, __VA_ARGS__))

static enum result check_header(struct walfile_reader *r, struct error *err)
{
	const unsigned char *h = r->hdr;
	uint32_t magic = get_be32(h), version = get_be32(h + 4);
	uint32_t page_size = get_be32(h + 8);
	uint32_t sum[2] = {0, 0};

	if (magic != WALFILE_MAGIC_BE && magic != WALFILE_MAGIC_LE)
		return corrupt(r, err, "not a WAL file: magic %08x", magic);
	if (version != WALFILE_VERSION)
		return corrupt(r, err, "WAL format version %u, expected %u", version,
			       WALFILE_VERSION);
	if (!walfile_page_size_valid(page_size))
		return corrupt(r, err, "invalid page size %u in the WAL header", page_size);
	r->big_endian = magic & 1;
	checksum(sum, h, 24, r->big_endian);
	if (sum[0] != get_be32(h + 24) || sum[1] != get_be32(h + 28))
		return corrupt(r, err, "WAL header checksum mismatch");
	r->sum[0] = sum[0];
	r->sum[1] = sum[1];
	r->info.page_size = page_size;
	r->info.checkpoint_seq = get_be32(h + 12);
	r->info.salt[0] = get_be32(h + 16);
	r->info.salt[1] = get_be32(h + 20);
	r->info.bytes = WALFILE_HEADER_SIZE;
	r->frame_len = FRAME_HDR + (size_t)page_size;
	r->frame = malloc(r->frame_len);
	if (!r->frame)
		return r->failed = error_nomem(err);
	return CB_OK;
}

/* True if the frame gathered carries the header's salts and continues the
 * checksum chain; the chain moves on only if it does. */
static bool frame_chains(struct walfile_reader *r, bool *salt_ok)
{
	const unsigned char *f = r->frame;
	uint32_t sum[2] = {r->sum[0], r->sum[1]};

	*salt_ok = get_be32(f + 8) == r->info.salt[0] && get_be32(f + 12) == r->info.salt[1];
	if (!*salt_ok)
		return false;
	checksum(sum, f, 8, r->big_endian);
	checksum(sum, f + FRAME_HDR, r->info.page_size, r->big_endian);
	if (sum[0] != get_be32(f + 16) || sum[1] != get_be32(f + 20))
		return false;
	r->sum[0] = sum[0];
	r->sum[1] = sum[1];
	return true;
}

static enum result check_frame(struct walfile_reader *r, struct error *err)
{
	const unsigned char *f = r->frame;
	uint32_t n = r->info.frames + 1;
	uint32_t pgno = get_be32(f), db_pages = get_be32(f + 4), prev;
	bool salt_ok;
	bool chains = frame_chains(r, &salt_ok);

	if (r->commit_frame) {
		if (chains)
			return corrupt(r, err,
				       "frame %u follows the commit frame %u%s: an increment holds "
				       "exactly one transaction", n, r->commit_frame,
				       db_pages ? " and is a commit frame too" : "");
		return corrupt(r, err, "trailing data after the commit frame %u", r->commit_frame);
	}
	if (!salt_ok)
		return corrupt(r, err, "frame %u: salts differ from the WAL header's", n);
	if (!chains)
		return corrupt(r, err, "frame %u: checksum mismatch", n);
	if (pgno == 0)
		return corrupt(r, err, "frame %u: page number 0", n);
	if (pgset_add(r->seen, pgno, n, &prev) != CB_OK)
		return r->failed = error_nomem(err);
	if (prev)
		return corrupt(r, err, "frame %u: page %u was already in frame %u", n, pgno, prev);
	if (pgno > r->max_pgno) {
		r->max_pgno = pgno;
		r->max_frame = n;
	}
	if (db_pages) {
		if (r->max_pgno > db_pages)
			return corrupt(r, err,
				       "frame %u: page %u lies beyond the %u pages the commit "
				       "frame %u gives the database", r->max_frame, r->max_pgno,
				       db_pages, n);
		r->commit_frame = n;
		r->info.db_pages = db_pages;
	}
	r->info.frames = n;
	r->info.bytes += r->frame_len;
	if (r->page)
		return r->failed = r->page(r->ctx, pgno, f + FRAME_HDR, r->info.page_size, err);
	return CB_OK;
}

enum result walfile_reader_feed(struct walfile_reader *r, const void *buf, size_t len,
				struct error *err)
{
	const unsigned char *p = buf;
	enum result rc;

	if (r->failed)
		return error_set(err, r->failed, "the WAL reader failed earlier");
	while (len > 0) {
		size_t want, n;
		unsigned char *dst;

		if (r->frame_len == 0) {
			want = WALFILE_HEADER_SIZE;
			dst = r->hdr;
		} else {
			want = r->frame_len;
			dst = r->frame;
		}
		n = want - r->have < len ? want - r->have : len;
		memcpy(dst + r->have, p, n);
		r->have += n;
		p += n;
		len -= n;
		if (r->have < want)
			break;
		r->have = 0;
		rc = r->frame_len == 0 ? check_header(r, err) : check_frame(r, err);
		if (rc != CB_OK)
			return rc;
	}
	return CB_OK;
}

enum result walfile_reader_write(void *reader, const void *buf, size_t len, struct error *err)
{
	return walfile_reader_feed(reader, buf, len, err);
}

enum result walfile_reader_finish(struct walfile_reader *r, struct walfile_info *info,
				  struct error *err)
{
	if (r->failed)
		return error_set(err, r->failed, "the WAL reader failed earlier");
	if (r->frame_len == 0) {
		if (r->have == 0)
			return corrupt(r, err, "empty file: not a WAL increment");
		return corrupt(r, err, "truncated in the WAL header (%zu of %d bytes)", r->have,
			       WALFILE_HEADER_SIZE);
	}
	if (r->have > 0) {
		if (r->commit_frame)
			return corrupt(r, err, "%zu bytes of trailing data after the commit frame %u",
				       r->have, r->commit_frame);
		return corrupt(r, err, "truncated in frame %u (%zu of %zu bytes)",
			       r->info.frames + 1, r->have, r->frame_len);
	}
	if (r->info.frames == 0)
		return corrupt(r, err, "no frames: a WAL increment holds one transaction");
	if (!r->commit_frame)
		return corrupt(r, err, "no commit frame: the last frame, %u, does not commit",
			       r->info.frames);
	if (info)
		*info = r->info;
	return CB_OK;
}

/* ---- applying ------------------------------------------------------------ */

enum result walfile_target_page(void *target, uint32_t pgno, const void *data,
				uint32_t page_size, struct error *err)
{
	struct walfile_target *t = target;
	const unsigned char *p = data;
	off_t off = (off_t)(pgno - 1) * page_size;
	size_t left = page_size;

	while (left > 0) {
		ssize_t n = pwrite(t->fd, p, left, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return error_errno(err, errno, t->path);
		}
		p += n;
		off += n;
		left -= (size_t)n;
	}
	return CB_OK;
}

enum result walfile_target_finish(struct walfile_target *t, const struct walfile_info *info,
				  struct error *err)
{
	if (ftruncate(t->fd, (off_t)info->db_pages * info->page_size) != 0)
		return error_errno(err, errno, t->path);
	return CB_OK;
}

/* Feed the rest of fd, from start, through a new reader calling page(ctx). */
static enum result read_wal_fd(int fd, const char *path, off_t start, walfile_page_fn page,
			       void *ctx, struct walfile_info *info, struct error *err)
{
	struct walfile_reader *r = NULL;
	struct stream s = {0};
	enum result rc;

	if (lseek(fd, start, SEEK_SET) < 0)
		return error_errno(err, errno, path);
	rc = walfile_reader_new(&r, page, ctx, err);
	if (rc != CB_OK)
		return rc;
	rc = stream_init(&s, walfile_reader_write, r, false, err);
	if (rc == CB_OK)
		rc = stream_pump_fd(fd, path, &s, err);
	if (rc == CB_OK)
		rc = walfile_reader_finish(r, info, err);
	if (rc == CB_ERR_CORRUPT)
		error_prefix(err, "'%s'", path);
	stream_free(&s);
	walfile_reader_free(r);
	return rc;
}

enum result walfile_apply_fd(int db_fd, const char *db_path, int wal_fd, const char *wal_path,
			     struct walfile_info *info, struct error *err)
{
	struct walfile_target t = {.fd = db_fd, .path = db_path};
	struct walfile_info checked, applied;
	off_t start = lseek(wal_fd, 0, SEEK_CUR);
	enum result rc;

	if (start < 0)
		return error_errno(err, errno, wal_path);
	rc = read_wal_fd(wal_fd, wal_path, start, NULL, NULL, &checked, err);
	if (rc != CB_OK)
		return rc;
	rc = read_wal_fd(wal_fd, wal_path, start, walfile_target_page, &t, &applied, err);
	if (rc != CB_OK)
		return rc;
	if (applied.bytes != checked.bytes || applied.db_pages != checked.db_pages)
		return error_set(err, CB_ERR_CORRUPT, "'%s' changed while it was applied", wal_path);
	rc = walfile_target_finish(&t, &applied, err);
	if (rc != CB_OK)
		return rc;
	if (info)
		*info = applied;
	return CB_OK;
}
