/*
 * Page-diff capture: the consistent image streamed past the page-hash table;
 * and the increment writer both routes share.
 */
#include "agent/engine/capture.h"
#include "agent/engine/gzstream.h"
#include "agent/engine/snapshot.h"
#include "agent/engine/snapshot_vfs.h"
#include "agent/engine/walcapture.h"
#include "common/timeutil.h"

#include <stdlib.h>
#include <string.h>

/* ---- the increment writer ------------------------------------------------ */

static enum result to_gzip(void *ctx, const void *buf, size_t len, struct error *err)
{
	return gz_writer_write(ctx, buf, len, err);
}

/* The first page opens the increment. */
static enum result out_open(struct capture_out *w, struct error *err)
{
	struct walfile_writer_opts wo = {.page_size = w->page_size,
					 .checkpoint_seq = w->o->checkpoint_seq};
	struct gz_writer_opts go = {.level = w->o->level, .threads = w->o->threads};
	enum result r = walfile_random_salts(wo.salt, err);
	if (!r)
		r = gz_writer_open(&w->gz, w->fd, &go, err);
	if (!r)
		r = walfile_writer_init(&w->wal, &wo, to_gzip, w->gz, err);
	if (!r)
		w->open = true;
	return r;
}

enum result capture_out_page(struct capture_out *w, uint32_t pgno, const void *data,
			     struct error *err)
{
	enum result r;
	if (!w->open && (r = out_open(w, err)))
		return r;
	if ((r = walfile_add_page(&w->wal, pgno, data, err)))
		return r;
	w->pages++;
	return CB_OK;
}

enum result capture_out_finish(struct capture_out *w, uint32_t db_pages,
			       struct capture_result *res, struct error *err)
{
	struct walfile_info info;
	struct gz_result gr;
	enum result r;
	if (!w->open)
		return error_set(err, CB_ERR_INTERNAL, "an increment needs at least one page");
	if ((r = walfile_commit(&w->wal, db_pages, &info, err)) ||
	    (r = gz_writer_finish(w->gz, NULL, &gr, err)))
		return r;
	res->changed = true;
	res->pages = w->pages;
	res->original_size = info.bytes;
	res->compressed_size = gr.compressed_size;
	memcpy(res->sha256, gr.sha256, SHA256_LEN);
	return CB_OK;
}

void capture_out_free(struct capture_out *w)
{
	if (w->open)
		walfile_writer_free(&w->wal);
	gz_writer_free(w->gz);
	w->gz = NULL;
	w->open = false;
}

/* ---- the page diff ------------------------------------------------------- */

/* The VFS's consumer: each page of the copy, compared as it passes. */
struct diff {
	struct pagesum *table;
	struct capture_out out;
	bool new_base;
	uint32_t page_size;
	uint32_t next_pgno;    /* of the next body page */
};

static enum result page(struct diff *d, uint32_t pgno, const void *data, struct error *err)
{
	enum result r;
	if (!pagesum_changed(d->table, pgno, data))
		return CB_OK;
	if ((r = capture_out_page(&d->out, pgno, data, err)) ||
	    (r = pagesum_set(d->table, pgno, data, err)))
		return r;
	return CB_OK;
}

static enum result diff_start(void *ctx, int page_size, struct error *err)
{
	struct diff *d = ctx;
	if ((uint32_t)page_size != pagesum_page_size(d->table)) {
		d->new_base = true;
		return error_set(err, CB_ERR_INTERNAL, "the page size changed from %u to %d",
				 pagesum_page_size(d->table), page_size);
	}
	d->page_size = (uint32_t)page_size;
	d->out.page_size = d->page_size;
	d->next_pgno = 2;   /* page 1 comes last, from the VFS's head */
	return CB_OK;
}

static enum result diff_body(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct diff *d = ctx;
	const unsigned char *p = buf;
	for (size_t off = 0; off + d->page_size <= len; off += d->page_size) {
		enum result r = page(d, d->next_pgno++, p + off, err);
		if (r)
			return r;
	}
	return len % d->page_size ? error_set(err, CB_ERR_INTERNAL, "a part page in the copy")
				  : CB_OK;
}

enum result capture_diff(const struct capture_opts *o, struct pagesum *table, int fd,
			 struct capture_result *res, struct error *err)
{
	struct diff d = {.table = table, .out = {.o = o, .fd = fd}};
	struct vfs_consumer out = {.start = diff_start, .body = diff_body, .ctx = &d};
	struct vfs_stream s = {.out = &out};
	sqlite3 *src = NULL;
	enum result r;

	memset(res, 0, sizeof(*res));
	if ((r = snapshot_open_source(o->db_path, o->busy_timeout, &src, err)))
		return r;
	/* The read transaction the copy is made under, and where it stands
	 * in the WAL; the state is the database's from now on. */
	r = walcap_begin_read(src, o->db_path, &res->pos, &res->state_ms, err);
	if (!r)
		r = snapshot_stream_copy(src, o->db_path, o->busy_timeout, &s, err);
	sqlite3_close(src);
	if (r && d.new_base) {
		res->new_base = true;
		r = CB_OK;
		goto done;
	}
	if (r)
		goto done;
	uint32_t count = (uint32_t)(s.size / d.page_size);
	if ((r = page(&d, 1, s.head, err)))
		goto done;
	/* Pages cut off leave the state; a page past the old end that was not
	 * written (the lock-byte page) joins it as SQLite leaves it. */
	if (count != pagesum_page_count(table) && (r = pagesum_resize(table, count, err)))
		goto done;
	res->page_size = d.page_size;
	res->page_count = count;
	res->state_checksum = pagesum_checksum(table);
	if (d.out.open)
		r = capture_out_finish(&d.out, count, res, err);
	res->pending = walcap_commit_pending(o->db_path, &res->pos);
done:
	capture_out_free(&d.out);
	free(s.head);
	if (r || res->new_base)
		res->pos.valid = false;
	return r;
}
