/*
 * Reading the live database's -wal file and wal-index header (walsource.h):
 * the headers, single frames, and walks along a generation's checksum chain.
 * Frame headers and the checksum are the format walfile.h describes, shared
 * through walfile_internal.h.
 */
#include "agent/engine/walsource.h"
#include "agent/engine/walfile_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The wal-index header: two copies of 48 bytes, in the host's byte order. */
#define INDEX_HDR 48
#define INDEX_VERSION 3007000u
/* Tries at a pair of equal copies while a writer rewrites them. */
#define INDEX_TRIES 200
/* The size of the regions SQLite maps the wal-index in (its WALINDEX_PGSZ);
 * the header is at the start of the first. */
#define INDEX_REGION 32768

/* pread all of len bytes at off: the bytes read (short only at the end of
 * the file), or -1 with errno set. */
static ssize_t pread_full(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got, off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static uint32_t native32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* SQLite's checksum over the first 40 bytes of a copy, words in the host's
 * order (the wal-index is never moved between machines). */
static bool index_checksum_ok(const unsigned char *h)
{
	uint32_t s1 = 0, s2 = 0;
	for (int i = 0; i < 40; i += 8) {
		s1 += native32(h + i) + s2;
		s2 += native32(h + i + 4) + s1;
	}
	return s1 == native32(h + 40) && s2 == native32(h + 44);
}

/* The database file of db, as SQLite has it open. */
static sqlite3_file *db_file(sqlite3 *db)
{
	sqlite3_file *f = NULL;
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) != SQLITE_OK || !f ||
	    !f->pMethods)
		return NULL;
	return f;
}

bool wal_db_in_wal_mode(sqlite3 *db)
{
	unsigned char h[20];
	sqlite3_file *f = db_file(db);
	return f && f->pMethods->xRead(f, h, sizeof(h), 0) == SQLITE_OK && h[18] == 2 &&
	       h[19] == 2;
}

static void copy_volatile(unsigned char *dst, const volatile unsigned char *src, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i];
}

enum result wal_index_read(sqlite3 *db, struct wal_index *out, struct error *err)
{
	unsigned char a[INDEX_HDR], b[INDEX_HDR];
	void volatile *map = NULL;
	sqlite3_file *f = db_file(db);

	/* Only a connection that has its WAL open has the wal-index mapped;
	 * asked of any other, the VFS would create one. */
	if (!f || f->pMethods->iVersion < 2 || !f->pMethods->xShmMap || !wal_db_in_wal_mode(db))
		return error_set(err, CB_ERR_NOT_FOUND, "no wal-index: not a WAL database");
	int rc = f->pMethods->xShmMap(f, 0, INDEX_REGION, 0, &map);
	if (rc != SQLITE_OK || !map)
		return error_set(err, CB_ERR_NOT_FOUND, "no wal-index mapped (%s)",
				 sqlite3_errstr(rc));
	/* As SQLite's readers do: the first copy, then the second; equal
	 * copies were not being written. */
	const volatile unsigned char *h = map;
	for (int tries = 0;; tries++) {
		copy_volatile(a, h, INDEX_HDR);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		copy_volatile(b, h + INDEX_HDR, INDEX_HDR);
		if (memcmp(a, b, INDEX_HDR) == 0)
			break;
		if (tries == INDEX_TRIES)
			return error_set(err, CB_ERR_CORRUPT, "the wal-index header kept changing");
		nanosleep(&(struct timespec){.tv_nsec = 50000}, NULL);
	}
	if (native32(a) != INDEX_VERSION || a[12] != 1 || !index_checksum_ok(a))
		return error_set(err, CB_ERR_CORRUPT,
				 "the wal-index header is not an initialised version %u one",
				 INDEX_VERSION);
	/* The page size as SQLite packs it into 16 bits: 65536 is 1. */
	uint16_t sz16;
	memcpy(&sz16, a + 14, 2);
	uint32_t sz = ((uint32_t)sz16 & 0xfe00u) | ((uint32_t)sz16 & 1u) << 16;
	*out = (struct wal_index){
		.change = native32(a + 8),
		.page_size = sz,
		.max_frame = native32(a + 16),
		.db_pages = native32(a + 20),
		.frame_sum = {native32(a + 24), native32(a + 28)},
		.salt = {get_be32(a + 32), get_be32(a + 36)},
	};
	if (out->max_frame && !walfile_page_size_valid(out->page_size))
		return error_set(err, CB_ERR_CORRUPT, "the wal-index says page size %u", sz);
	return CB_OK;
}

bool walpos_equal(const struct walpos *a, const struct walpos *b)
{
	if (a->valid != b->valid)
		return false;
	return !a->valid ||
	       (a->salt[0] == b->salt[0] && a->salt[1] == b->salt[1] && a->ckpt == b->ckpt &&
		a->page_size == b->page_size && a->big_endian == b->big_endian &&
		a->frames == b->frames && a->sum[0] == b->sum[0] && a->sum[1] == b->sum[1] &&
		a->db_dev == b->db_dev && a->db_ino == b->db_ino && a->wal_dev == b->wal_dev &&
		a->wal_ino == b->wal_ino);
}

bool wal_index_equal(const struct wal_index *a, const struct wal_index *b)
{
	return a->change == b->change && a->page_size == b->page_size &&
	       a->max_frame == b->max_frame && a->db_pages == b->db_pages &&
	       a->frame_sum[0] == b->frame_sum[0] && a->frame_sum[1] == b->frame_sum[1] &&
	       a->salt[0] == b->salt[0] && a->salt[1] == b->salt[1];
}

enum result wal_header_read(int fd, const char *path, struct wal_header *out,
			    struct error *err)
{
	struct wal_header h = {0};
	ssize_t n = pread_full(fd, h.raw, sizeof(h.raw), 0);
	if (n < 0)
		return error_errno(err, errno, path);
	if (n < (ssize_t)sizeof(h.raw))
		return error_set(err, CB_ERR_NOT_FOUND, "'%s' has no WAL header", path);
	enum result r = walfile_header_decode(h.raw, &h.info, h.sum, &h.big_endian, err);
	if (r) {
		error_prefix(err, "'%s'", path);
		return r;
	}
	*out = h;
	return CB_OK;
}

uint64_t wal_frame_offset(uint32_t page_size, uint32_t n)
{
	return walfile_size(page_size, (uint64_t)n - 1);
}

enum result wal_frame_read(int fd, const char *path, uint32_t page_size, uint32_t n,
			   struct wal_frame *out, struct error *err)
{
	unsigned char f[FRAME_HDR];
	ssize_t got = pread_full(fd, f, sizeof(f), (off_t)wal_frame_offset(page_size, n));
	if (got < 0)
		return error_errno(err, errno, path);
	if (got < (ssize_t)sizeof(f))
		return error_set(err, CB_ERR_NOT_FOUND, "'%s' ends before frame %u", path, n);
	*out = (struct wal_frame){.pgno = get_be32(f), .db_pages = get_be32(f + 4),
				  .salt = {get_be32(f + 8), get_be32(f + 12)},
				  .sum = {get_be32(f + 16), get_be32(f + 20)}};
	return CB_OK;
}

enum result wal_page_read(int fd, const char *path, uint32_t page_size, uint32_t n, void *buf,
			  struct error *err)
{
	off_t off = (off_t)wal_frame_offset(page_size, n) + FRAME_HDR;
	ssize_t got = pread_full(fd, buf, page_size, off);
	if (got < 0)
		return error_errno(err, errno, path);
	if (got < (ssize_t)page_size)
		return error_set(err, CB_ERR_NOT_FOUND, "'%s' ends inside frame %u", path, n);
	return CB_OK;
}

void wal_pages_free(struct wal_pages *p)
{
	free(p->v);
	*p = (struct wal_pages){0};
}

static int by_page_newest_first(const void *x, const void *y)
{
	const struct wal_page_ref *a = x, *b = y;
	if (a->pgno != b->pgno)
		return a->pgno < b->pgno ? -1 : 1;
	return a->order > b->order ? -1 : a->order < b->order;
}

void wal_pages_latest(struct wal_pages *p)
{
	size_t k = 0;
	if (p->n == 0)
		return;
	qsort(p->v, p->n, sizeof(*p->v), by_page_newest_first);
	for (size_t i = 0; i < p->n; i++)
		if (k == 0 || p->v[k - 1].pgno != p->v[i].pgno)
			p->v[k++] = p->v[i];
	p->n = k;
}

static enum result pages_add(struct wal_pages *p, uint32_t pgno, uint64_t offset)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 256;
		struct wal_page_ref *v = realloc(p->v, cap * sizeof(*v));
		if (!v)
			return CB_ERR_NOMEM;
		p->v = v;
		p->cap = cap;
	}
	p->v[p->n++] = (struct wal_page_ref){.pgno = pgno, .order = p->next_order++,
					     .offset = offset};
	return CB_OK;
}

enum result wal_scan(struct wal_scan *s, struct wal_pages *pages, struct error *err)
{
	size_t frame_len = FRAME_HDR + (size_t)s->page_size;
	unsigned char *f = malloc(frame_len);
	size_t kept = pages->n;       /* pages up to the last commit reached */
	uint32_t sum[2] = {s->sum[0], s->sum[1]};
	enum result r = CB_OK;

	s->commit = 0;
	s->frames = 0;
	if (!f)
		return error_nomem(err);
	for (uint32_t n = s->first; n != 0 && (s->cap == 0 || n <= s->cap); n++) {
		uint64_t off = wal_frame_offset(s->page_size, n);
		ssize_t got = pread_full(s->fd, f, frame_len, (off_t)off);
		if (got < 0) {
			r = error_errno(err, errno, s->path);
			break;
		}
		if ((size_t)got < frame_len)
			break;   /* the file ends */
		if (get_be32(f + 8) != s->salt[0] || get_be32(f + 12) != s->salt[1])
			break;   /* another generation's frame */
		walfile_frame_checksum(sum, f, s->page_size, s->big_endian);
		if (sum[0] != get_be32(f + 16) || sum[1] != get_be32(f + 20) || get_be32(f) == 0)
			break;   /* torn, or never part of this chain */
		if (pages_add(pages, get_be32(f), off + FRAME_HDR)) {
			r = error_nomem(err);
			break;
		}
		s->frames++;
		if (get_be32(f + 4) != 0) {
			s->commit = n;
			s->commit_sum[0] = sum[0];
			s->commit_sum[1] = sum[1];
			s->db_pages = get_be32(f + 4);
			s->frames = 0;
			kept = pages->n;
		}
	}
	pages->n = kept;
	free(f);
	return r;
}
