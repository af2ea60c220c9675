/*
 * Page-diff capture: the consistent image streamed past the page-hash table.
 */
#include "agent/engine/capture.h"
#include "agent/engine/gzstream.h"
#include "agent/engine/snapshot.h"
#include "agent/engine/snapshot_vfs.h"
#include "agent/engine/walfile.h"

#include <stdlib.h>
#include <string.h>

/* The VFS's consumer: each page of the copy, compared as it passes. */
struct diff {
	const struct capture_opts *o;
	struct pagesum *table;
	int fd;
	struct gz_writer *gz;
	struct walfile_writer wal;
	bool writing;          /* gz and wal are open: a page has changed */
	bool new_base;
	uint32_t page_size;
	uint32_t next_pgno;    /* of the next body page */
	uint32_t pages;
};

static enum result to_gzip(void *ctx, const void *buf, size_t len, struct error *err)
{
	return gz_writer_write(ctx, buf, len, err);
}

/* The first changed page opens the increment. */
static enum result open_increment(struct diff *d, struct error *err)
{
	struct walfile_writer_opts wo = {.page_size = d->page_size,
					 .checkpoint_seq = d->o->checkpoint_seq};
	struct gz_writer_opts go = {.level = d->o->level, .threads = d->o->threads};
	enum result r = walfile_random_salts(wo.salt, err);
	if (!r)
		r = gz_writer_open(&d->gz, d->fd, &go, err);
	if (!r)
		r = walfile_writer_init(&d->wal, &wo, to_gzip, d->gz, err);
	if (!r)
		d->writing = true;
	return r;
}

static enum result page(struct diff *d, uint32_t pgno, const void *data, struct error *err)
{
	enum result r;
	if (!pagesum_changed(d->table, pgno, data))
		return CB_OK;
	if (!d->writing && (r = open_increment(d, err)))
		return r;
	if ((r = walfile_add_page(&d->wal, pgno, data, err)) ||
	    (r = pagesum_set(d->table, pgno, data, err)))
		return r;
	d->pages++;
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
	struct diff d = {.o = o, .table = table, .fd = fd};
	struct vfs_consumer out = {.start = diff_start, .body = diff_body, .ctx = &d};
	struct vfs_stream s = {.out = &out};
	struct walfile_info info;
	struct gz_result gr;
	sqlite3 *src = NULL;
	enum result r;

	memset(res, 0, sizeof(*res));
	if ((r = snapshot_open_source(o->db_path, o->busy_timeout, &src, err)))
		return r;
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
	if (!d.writing)
		goto done;   /* nothing changed */
	if ((r = walfile_commit(&d.wal, count, &info, err)) ||
	    (r = gz_writer_finish(d.gz, NULL, &gr, err)))
		goto done;
	res->changed = true;
	res->pages = d.pages;
	res->original_size = info.bytes;
	res->compressed_size = gr.compressed_size;
	memcpy(res->sha256, gr.sha256, SHA256_LEN);
done:
	if (d.writing)
		walfile_writer_free(&d.wal);
	gz_writer_free(d.gz);
	free(s.head);
	return r;
}
