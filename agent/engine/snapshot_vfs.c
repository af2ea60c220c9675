/*
 * The streaming destination VFS of a snapshot (see snapshot_vfs.h).
 */
#include "agent/engine/snapshot_vfs.h"
#include "common/cancel.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ZERO_CHUNK 65536

struct stream_file {
	sqlite3_file base;
	struct vfs_stream *s;
};

static enum result stream_fail(struct vfs_stream *s, enum result code, const char *msg)
{
	if (!s->failure) {
		s->failure = code;
		if (msg)
			error_set(s->err, code, "%s", msg);
	}
	return code;
}

static int sf_close(sqlite3_file *f)
{
	(void)f;
	return SQLITE_OK;
}

static int sf_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	struct vfs_stream *s = ((struct stream_file *)f)->s;
	if (off >= s->size) {
		memset(buf, 0, (size_t)n);
		return SQLITE_IOERR_SHORT_READ;
	}
	if (s->head_written && off + n <= s->page_size) {
		memcpy(buf, s->head + off, (size_t)n);
		return SQLITE_OK;
	}
	/* SQLite wants back a page that has already gone into the stream. */
	s->out_of_order = true;
	return SQLITE_IOERR_READ;
}

static int valid_page_size(int n)
{
	return n >= 512 && n <= 65536 && (n & (n - 1)) == 0;
}

/* Append zeros to the body, for pages SQLite skips (the lock-byte page). */
static enum result stream_zeros(struct vfs_stream *s, int64_t len)
{
	static const unsigned char zeros[ZERO_CHUNK];
	while (len > 0) {
		size_t n = len > ZERO_CHUNK ? ZERO_CHUNK : (size_t)len;
		enum result r = s->out->body(s->out->ctx, zeros, n, s->err);
		if (r)
			return stream_fail(s, r, NULL);
		len -= (int64_t)n;
	}
	return CB_OK;
}

static int sf_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	struct vfs_stream *s = ((struct stream_file *)f)->s;

	if (s->failure || s->out_of_order)
		return SQLITE_IOERR_WRITE;
	if (cancel_requested()) {
		stream_fail(s, CB_ERR_INTERRUPTED, "interrupted");
		return SQLITE_IOERR_WRITE;
	}
	if (s->page_size == 0) {
		if (!valid_page_size(n)) {
			s->out_of_order = true;
			return SQLITE_IOERR_WRITE;
		}
		s->page_size = n;
		s->next = n;
		s->head = calloc(1, (size_t)n);
		if (!s->head) {
			stream_fail(s, CB_ERR_NOMEM, "out of memory");
			return SQLITE_NOMEM;
		}
		if (s->out->start(s->out->ctx, n, s->err)) {
			stream_fail(s, s->err->code, NULL);
			return SQLITE_IOERR_WRITE;
		}
	}
	if (n != s->page_size || off % n != 0) {
		s->out_of_order = true;
		return SQLITE_IOERR_WRITE;
	}
	if (off == 0) {
		memcpy(s->head, buf, (size_t)n);
		s->head_written = true;
	} else {
		if (off < s->next) {
			s->out_of_order = true;
			return SQLITE_IOERR_WRITE;
		}
		if (off > s->next && stream_zeros(s, off - s->next))
			return SQLITE_IOERR_WRITE;
		if (s->out->body(s->out->ctx, buf, (size_t)n, s->err)) {
			stream_fail(s, s->err->code, NULL);
			return SQLITE_IOERR_WRITE;
		}
		s->next = off + n;
	}
	if (off + n > s->size)
		s->size = off + n;
	s->pages_done++;
	if (s->out->progress && (s->pages_done & 255) == 0)
		s->out->progress(s->out->progress_ctx, s->pages_done * (uint64_t)n,
				  s->pages_total * (uint64_t)n);
	return SQLITE_OK;
}

static int sf_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct vfs_stream *s = ((struct stream_file *)f)->s;
	if (size == s->size)
		return SQLITE_OK;
	if (size < s->size) {
		/* Shrinking below what was streamed cannot be undone. */
		s->out_of_order = true;
		return SQLITE_IOERR_TRUNCATE;
	}
	if (s->page_size == 0 || size % s->page_size != 0) {
		s->out_of_order = true;
		return SQLITE_IOERR_TRUNCATE;
	}
	if (stream_zeros(s, size - s->next))
		return SQLITE_IOERR_TRUNCATE;
	s->next = size;
	s->size = size;
	return SQLITE_OK;
}

static int sf_sync(sqlite3_file *f, int flags)
{
	(void)f;
	(void)flags;
	return SQLITE_OK;
}

static int sf_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	*size = ((struct stream_file *)f)->s->size;
	return SQLITE_OK;
}

static int sf_lock(sqlite3_file *f, int level)
{
	(void)f;
	(void)level;
	return SQLITE_OK;
}

static int sf_check_reserved(sqlite3_file *f, int *out)
{
	(void)f;
	*out = 0;
	return SQLITE_OK;
}

static int sf_file_control(sqlite3_file *f, int op, void *arg)
{
	(void)f;
	(void)op;
	(void)arg;
	return SQLITE_NOTFOUND;
}

static int sf_sector_size(sqlite3_file *f)
{
	(void)f;
	return 4096;
}

static int sf_device_characteristics(sqlite3_file *f)
{
	(void)f;
	return 0;
}

static const sqlite3_io_methods stream_io = {
	.iVersion = 1,
	.xClose = sf_close,
	.xRead = sf_read,
	.xWrite = sf_write,
	.xTruncate = sf_truncate,
	.xSync = sf_sync,
	.xFileSize = sf_file_size,
	.xLock = sf_lock,
	.xUnlock = sf_lock,
	.xCheckReservedLock = sf_check_reserved,
	.xFileControl = sf_file_control,
	.xSectorSize = sf_sector_size,
	.xDeviceCharacteristics = sf_device_characteristics,
};

static sqlite3_vfs stream_vfs;
static sqlite3_vfs *default_vfs;

static int sv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags,
		   int *out_flags)
{
	(void)vfs;
	if (!(flags & SQLITE_OPEN_MAIN_DB)) {
		/* Journals are off; anything else SQLite wants is an ordinary file. */
		return default_vfs->xOpen(default_vfs, name, f, flags, out_flags);
	}
	const char *ctx = sqlite3_uri_parameter(name, "ctx");
	void *p = NULL;
	if (!ctx || sscanf(ctx, "%p", &p) != 1 || !p)
		return SQLITE_CANTOPEN;
	struct stream_file *sf = (struct stream_file *)f;
	memset(sf, 0, sizeof(*sf));
	sf->base.pMethods = &stream_io;
	sf->s = p;
	if (out_flags)
		*out_flags = flags;
	return SQLITE_OK;
}

static int sv_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return default_vfs->xDelete(default_vfs, name, sync_dir);
}

static int sv_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	(void)name;
	(void)flags;
	*out = 0; /* no journal, no WAL: nothing else exists */
	return SQLITE_OK;
}

static int sv_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	snprintf(out, (size_t)n, "%s", name);
	return SQLITE_OK;
}

void snapshot_vfs_register(void)
{
	default_vfs = sqlite3_vfs_find(NULL);
	stream_vfs = *default_vfs;
	stream_vfs.iVersion = 1;
	stream_vfs.szOsFile = (int)sizeof(struct stream_file) > default_vfs->szOsFile
				      ? (int)sizeof(struct stream_file)
				      : default_vfs->szOsFile;
	stream_vfs.zName = STREAM_VFS_NAME;
	stream_vfs.pNext = NULL;
	stream_vfs.xOpen = sv_open;
	stream_vfs.xDelete = sv_delete;
	stream_vfs.xAccess = sv_access;
	stream_vfs.xFullPathname = sv_full_pathname;
	sqlite3_vfs_register(&stream_vfs, 0);
}
