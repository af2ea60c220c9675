/*
 * Increment files in SQLite's WAL format: the writer.  It writes the header,
 * then each page as a frame, holding back the last one until it is known
 * whether it is the commit frame (walfile.h describes the format and the
 * writer's rules; the shared parts are in walfile.c).
 */
#include "agent/engine/walfile_internal.h"

#include <stdlib.h>
#include <string.h>

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
	w->seen = walfile_pgset_new();
	if (!w->frame || !w->seen) {
		walfile_writer_free(w);
		return error_nomem(err);
	}

	walfile_header_encode(hdr, &w->info, w->sum);
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
	walfile_frame_checksum(w->sum, w->frame, w->info.page_size, true);
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
	if (walfile_pgset_add(w->seen, pgno, w->info.frames + 1, &prev) != CB_OK)
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
	walfile_pgset_free(w->seen);
	w->frame = NULL;
	w->seen = NULL;
}
