/*
 * gzip writer with a reserved head, and a checking streaming reader.
 */
#include "agent/engine/gzstream.h"
#include "agent/engine/pdeflate.h"
#include "common/cancel.h"
#include "common/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#ifdef CBSYNC_ISAL
#include <isa-l/igzip_lib.h>
#endif

#define GZ_HEADER_LEN 10
#define STORED_MAX 65535u
#define IO_CHUNK (256 * 1024)

struct gz_writer {
	int fd;
	int level;
	size_t head_size;
	off_t pos; /* where the next body output byte goes */
	off_t flushed; /* writeback started up to here */
	bool scratch;  /* no writeback (gz_writer_opts) */
	struct pdeflate *body;
	unsigned char *out;
};

/* Bytes the stored blocks for a head of n bytes occupy. */
static size_t stored_len(size_t n)
{
	size_t blocks = (n + STORED_MAX - 1) / STORED_MAX;
	return blocks * 5 + n;
}

static enum result io_error(struct error *err, int e, const char *what)
{
	return error_set(err, result_from_errno(e), "[Errno %d] %s while %s", e,
			 strerror(e), what);
}

/* Compressed body bytes, in order: straight after the head. */
static enum result write_body(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct gz_writer *w = ctx;
	if (cancel_requested())
		return error_set(err, CB_ERR_INTERRUPTED, "interrupted");
	int e = fs_pwrite_all(w->fd, buf, len, w->pos);
	if (e)
		return io_error(err, e, "writing the backup");
	w->pos += (off_t)len;
	if (!w->scratch && (e = fs_writeback_hint(w->fd, &w->flushed, w->pos)))
		return io_error(err, e, "writing the backup");
	return CB_OK;
}

enum result gz_writer_open(struct gz_writer **out, int fd,
			   const struct gz_writer_opts *opts, struct error *err)
{
	struct gz_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return error_nomem(err);
	w->out = malloc(IO_CHUNK);
	if (!w->out) {
		free(w);
		return error_nomem(err);
	}
	w->fd = fd;
	w->level = opts->level;
	w->head_size = opts->head_size;
	w->scratch = opts->scratch;
	w->pos = (off_t)(GZ_HEADER_LEN + stored_len(opts->head_size));
	enum result r = pdeflate_new(&w->body, opts->level, opts->threads, write_body, w, err);
	if (r) {
		free(w->out);
		free(w);
		return r;
	}
	*out = w;
	return CB_OK;
}

enum result gz_writer_write(struct gz_writer *w, const void *buf, size_t len,
			    struct error *err)
{
	if (len == 0)
		return CB_OK;
	return pdeflate_write(w->body, buf, len, err);
}

static void put32le(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/* Header plus stored blocks for the head, in one buffer. */
static unsigned char *build_prefix(const unsigned char *head, size_t head_size,
				   int level, size_t *len)
{
	size_t n = GZ_HEADER_LEN + stored_len(head_size);
	unsigned char *p = malloc(n);
	if (!p)
		return NULL;
	/* magic, deflate, no flags, mtime 0, extra flags, OS = Unix */
	unsigned char hdr[GZ_HEADER_LEN] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0,
					    (unsigned char)(level >= 9 ? 2 : level == 1 ? 4 : 0),
					    3};
	memcpy(p, hdr, GZ_HEADER_LEN);
	size_t o = GZ_HEADER_LEN;
	size_t left = head_size;
	while (left > 0) {
		unsigned len16 = left > STORED_MAX ? STORED_MAX : (unsigned)left;
		p[o++] = 0; /* BFINAL = 0, BTYPE = stored, padding */
		p[o++] = (unsigned char)len16;
		p[o++] = (unsigned char)(len16 >> 8);
		p[o++] = (unsigned char)~len16;
		p[o++] = (unsigned char)(~len16 >> 8);
		memcpy(p + o, head, len16);
		o += len16;
		head += len16;
		left -= len16;
	}
	*len = n;
	return p;
}

enum result gz_writer_finish(struct gz_writer *w, const void *head,
			     struct gz_result *res, struct error *err)
{
	enum result r;
	unsigned char trailer[8];
	struct sha256 h = {0};

	uint32_t body_crc;
	uint64_t body_len;
	if ((r = pdeflate_finish(w->body, &body_crc, &body_len, err)))
		return r;

	uint32_t crc = (uint32_t)crc32(0L, Z_NULL, 0);
	if (w->head_size)
		crc = (uint32_t)crc32_z(crc, head, w->head_size);
	crc = (uint32_t)crc32_combine(crc, body_crc, (z_off_t)body_len);
	uint64_t total = w->head_size + body_len;
	put32le(trailer, crc);
	put32le(trailer + 4, (uint32_t)total);
	int e = fs_pwrite_all(w->fd, trailer, sizeof(trailer), w->pos);
	if (e)
		return io_error(err, e, "writing the backup");
	uint64_t file_size = (uint64_t)w->pos + sizeof(trailer);

	size_t prefix_len;
	unsigned char *prefix = build_prefix(head, w->head_size, w->level, &prefix_len);
	if (!prefix)
		return error_nomem(err);
	e = fs_pwrite_all(w->fd, prefix, prefix_len, 0);
	free(prefix);
	if (e)
		return io_error(err, e, "writing the backup");

	res->data_size = total;
	res->compressed_size = file_size;
	memset(res->sha256, 0, sizeof(res->sha256));
	if (w->scratch)
		return CB_OK;
	/* Hash the finished file front to back. */
	if ((r = sha256_init(&h, err)))
		return r;
	for (uint64_t off = 0; off < file_size;) {
		ssize_t n = pread(w->fd, w->out, IO_CHUNK, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			sha256_free(&h);
			return io_error(err, n < 0 ? errno : EIO, "reading the backup back");
		}
		sha256_update(&h, w->out, (size_t)n);
		off += (uint64_t)n;
	}
	sha256_final(&h, res->sha256);
	return CB_OK;
}

void gz_writer_free(struct gz_writer *w)
{
	if (!w)
		return;
	pdeflate_free(w->body);
	free(w->out);
	free(w);
}

/* The reader inflates with ISA-L where the build has it (a third of
 * zlib's time), else zlib; both check each member's CRC-32 and length. */
struct gz_reader {
#ifdef CBSYNC_ISAL
	struct inflate_state is;
#else
	z_stream zs;
#endif
	struct sha256 h;
	unsigned char *out;
	stream_write_fn sink;
	void *sink_ctx;
	uint64_t total_in;
	uint64_t total_out;
	int members;
	bool in_member; /* bytes of an unfinished member were consumed */
	enum result failed;
};

#ifdef CBSYNC_ISAL
static bool inflater_init(struct gz_reader *g)
{
	isal_inflate_init(&g->is);
	g->is.crc_flag = ISAL_GZIP;
	return true;
}

static void inflater_end(struct gz_reader *g)
{
	(void)g;
}

/* Name an ISA-L error the way a user can act on. */
static const char *describe_inflate_error(const struct gz_reader *g, int rc)
{
	if (g->members > 0 && !g->in_member)
		return "trailing data after the gzip stream";
	switch (rc) {
	case ISAL_INVALID_WRAPPER:
	case ISAL_UNSUPPORTED_METHOD:
		return g->members ? "trailing data after the gzip stream" : "not a gzip file";
	case ISAL_INCORRECT_CHECKSUM:
		/* ISA-L checks the trailer's CRC-32 and length as one. */
		return "gzip CRC-32 or length mismatch";
	case ISAL_NEED_DICT:
		return "needs a preset dictionary, which gzip never uses";
	default:
		return "invalid compressed data";
	}
}

/* Inflate what g->is holds into g->out: *have bytes out, *member_end when
 * a member (its trailer checked) ended. */
static enum result inflater_step(struct gz_reader *g, size_t *have, bool *member_end,
				 struct error *err)
{
	g->is.next_out = g->out;
	g->is.avail_out = IO_CHUNK;
	/* What starts a member must be gzip's magic: ISA-L would buffer
	 * anything short of a whole header and call it an unfinished one. */
	const uint8_t *in = g->is.next_in;
	if (!g->in_member && ((g->is.avail_in >= 1 && in[0] != 0x1f) ||
			      (g->is.avail_in >= 2 && in[1] != 0x8b))) {
		*have = 0;
		return error_set(err, CB_ERR_CORRUPT, "%s",
				 describe_inflate_error(g, ISAL_INVALID_WRAPPER));
	}
	uint32_t before = g->is.avail_in;
	bool was_in_member = g->in_member;
	int rc = isal_inflate(&g->is);
	*have = IO_CHUNK - g->is.avail_out;
	if (g->is.avail_in != before)
		g->in_member = true;
	if (rc < 0 || rc == ISAL_NEED_DICT) {
		g->in_member = was_in_member;
		return error_set(err, CB_ERR_CORRUPT, "%s", describe_inflate_error(g, rc));
	}
	*member_end = g->is.block_state == ISAL_BLOCK_FINISH;
	if (*member_end) {
		uint8_t *next = g->is.next_in;
		uint32_t left = g->is.avail_in;
		isal_inflate_reset(&g->is);
		g->is.crc_flag = ISAL_GZIP;
		g->is.next_in = next;
		g->is.avail_in = left;
	}
	return CB_OK;
}

static void inflater_input(struct gz_reader *g, const unsigned char *p, size_t len)
{
	g->is.next_in = (uint8_t *)(uintptr_t)p;
	g->is.avail_in = (uint32_t)len;
}

static bool inflater_pending(const struct gz_reader *g)
{
	return g->is.avail_in > 0 || g->is.avail_out == 0;
}
#else
static bool inflater_init(struct gz_reader *g)
{
	return inflateInit2(&g->zs, 15 + 16) == Z_OK;
}

static void inflater_end(struct gz_reader *g)
{
	inflateEnd(&g->zs);
}

/* Name a zlib error the way a user can act on. */
static const char *describe_inflate_error(const struct gz_reader *g)
{
	const char *m = g->zs.msg ? g->zs.msg : "invalid data";
	if (g->members > 0 && !g->in_member)
		return "trailing data after the gzip stream";
	if (strcmp(m, "incorrect header check") == 0 ||
	    strcmp(m, "unknown compression method") == 0)
		return g->members ? "trailing data after the gzip stream" : "not a gzip file";
	if (strcmp(m, "incorrect data check") == 0)
		return "gzip CRC-32 mismatch";
	if (strcmp(m, "incorrect length check") == 0)
		return "gzip length mismatch";
	return m;
}

static enum result inflater_step(struct gz_reader *g, size_t *have, bool *member_end,
				 struct error *err)
{
	g->zs.next_out = g->out;
	g->zs.avail_out = IO_CHUNK;
	uInt before = g->zs.avail_in;
	bool was_in_member = g->in_member;
	int zr = inflate(&g->zs, Z_NO_FLUSH);
	*have = IO_CHUNK - g->zs.avail_out;
	if (g->zs.avail_in != before)
		g->in_member = true;
	if (zr == Z_DATA_ERROR || zr == Z_NEED_DICT) {
		g->in_member = was_in_member;
		return error_set(err, CB_ERR_CORRUPT, "%s", describe_inflate_error(g));
	}
	if (zr == Z_MEM_ERROR)
		return error_nomem(err);
	*member_end = zr == Z_STREAM_END;
	if (*member_end)
		inflateReset(&g->zs);
	return CB_OK;
}

static void inflater_input(struct gz_reader *g, const unsigned char *p, size_t len)
{
	g->zs.next_in = (unsigned char *)(uintptr_t)p;
	g->zs.avail_in = (uInt)len;
}

static bool inflater_pending(const struct gz_reader *g)
{
	return g->zs.avail_in > 0 || g->zs.avail_out == 0;
}
#endif

enum result gz_reader_new(struct gz_reader **out, stream_write_fn sink, void *sink_ctx,
			  struct error *err)
{
	struct gz_reader *g = calloc(1, sizeof(*g));
	if (!g)
		return error_nomem(err);
	g->out = malloc(IO_CHUNK);
	if (!g->out || !inflater_init(g)) {
		free(g->out);
		free(g);
		return error_set(err, CB_ERR_NOMEM, "cannot initialise the gzip reader");
	}
	enum result r = sha256_init(&g->h, err);
	if (r) {
		inflater_end(g);
		free(g->out);
		free(g);
		return r;
	}
	g->sink = sink;
	g->sink_ctx = sink_ctx;
	*out = g;
	return CB_OK;
}

enum result gz_reader_feed(struct gz_reader *g, const void *buf, size_t len,
			   struct error *err)
{
	if (g->failed)
		return error_set(err, g->failed, "gzip reader already failed");
	sha256_update(&g->h, buf, len);
	g->total_in += len;
	const unsigned char *p = buf;
	while (len > 0) {
		size_t chunk = len > (1u << 30) ? (1u << 30) : len;
		inflater_input(g, p, chunk);
		/* Until the chunk is used up and no output is pending. */
		do {
			size_t have = 0;
			bool member_end = false;
			enum result r = inflater_step(g, &have, &member_end, err);
			if (r)
				return g->failed = r;
			if (have) {
				g->total_out += have;
				r = g->sink ? g->sink(g->sink_ctx, g->out, have, err) : CB_OK;
				if (r)
					return g->failed = r;
			}
			if (member_end) {
				g->members++;
				g->in_member = false;
			}
		} while (inflater_pending(g));
		p += chunk;
		len -= chunk;
	}
	return CB_OK;
}

enum result gz_reader_finish(struct gz_reader *g, struct gz_read_result *res,
			     struct error *err)
{
	if (g->failed)
		return error_set(err, g->failed, "gzip reader already failed");
	if (g->total_in == 0)
		return g->failed = error_set(err, CB_ERR_CORRUPT, "empty file, not a gzip file");
	if (g->in_member || g->members == 0)
		return g->failed = error_set(err, CB_ERR_CORRUPT,
					     "truncated (the gzip stream ends early)");
	sha256_final(&g->h, res->sha256);
	res->data_size = g->total_out;
	res->compressed_size = g->total_in;
	return CB_OK;
}

void gz_reader_free(struct gz_reader *g)
{
	if (!g)
		return;
	sha256_free(&g->h);
	inflater_end(g);
	free(g->out);
	free(g);
}

static enum result to_reader(void *ctx, const void *buf, size_t len, struct error *err)
{
	return gz_reader_feed(ctx, buf, len, err);
}

enum result gz_read_fd(int fd, stream_write_fn sink, void *sink_ctx,
		       stream_progress_fn progress, void *progress_ctx,
		       struct gz_read_result *res, struct error *err)
{
	struct gz_reader *g = NULL;
	struct stream in;
	enum result r = gz_reader_new(&g, sink, sink_ctx, err);
	if (r)
		return r;
	stream_init(&in, to_reader, g, false, err);
	in.progress = progress;
	in.progress_ctx = progress_ctx;
	r = stream_pump_fd(fd, "the backup", &in, err);
	if (r && in.read_errno)
		r = io_error(err, in.read_errno, "reading the backup");
	if (!r)
		r = gz_reader_finish(g, res, err);
	gz_reader_free(g);
	return r;
}
