/*
 * Increment files in SQLite's WAL format: the checking reader, and the
 * helpers that apply an increment to a database image as a checkpoint
 * would (walfile.h describes the format and what the reader refuses; the
 * shared parts are in walfile.c).
 */
#include "agent/engine/walfile_internal.h"
#include "common/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	r->seen = walfile_pgset_new();
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
	walfile_pgset_free(r->seen);
	free(r);
}

/* Record damage: CB_ERR_CORRUPT, sticky. */
#define corrupt(r, err, ...) ((r)->failed = error_set((err), CB_ERR_CORRUPT, __VA_ARGS__))

static enum result check_header(struct walfile_reader *r, struct error *err)
{
	enum result rc = walfile_header_decode(r->hdr, &r->info, r->sum, &r->big_endian, err);

	if (rc != CB_OK)
		return r->failed = rc;
	r->info.bytes = WALFILE_HEADER_SIZE;
	r->frame_len = FRAME_HDR + (size_t)r->info.page_size;
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
	walfile_frame_checksum(sum, f, r->info.page_size, r->big_endian);
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
	if (walfile_pgset_add(r->seen, pgno, n, &prev) != CB_OK)
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
	int e = fs_pwrite_all(t->fd, data, page_size, (off_t)(pgno - 1) * page_size);

	if (e)
		return error_errno(err, e, t->path);
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
