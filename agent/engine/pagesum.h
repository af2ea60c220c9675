/*
 * The checksum of a whole database state, and the page-hash table that keeps
 * it up to date from the changed pages alone.
 *
 * Page hash: the first 8 bytes, read big-endian, of
 *     SHA-256(page number as a big-endian 32-bit integer || the page's bytes)
 * through OpenSSL's libcrypto.  State checksum: the XOR of the hashes of
 * pages 1..N of the database, where N is its size in pages; an empty
 * database (N = 0) has checksum 0.  The lock-byte page (the page holding
 * byte offset 2^30, which exists only in databases over 1 GiB) counts as 0
 * whatever its bytes: SQLite never uses it, never writes it to the WAL, and
 * the backup API leaves it unwritten, so its bytes differ between copies of
 * the same state.  This is the shape of Litestream's LTX checksum (which uses
 * CRC-64 where we use SHA-256).
 *
 * Why SHA-256, measured on the build machine (AMD EPYC, SHA-NI; OpenSSL
 * 3.0, one 4 KiB page plus its page number per digest, one fetched EVP_MD
 * and one reused EVP_MD_CTX, best of three runs of 60000 pages):
 *     SHA-256        ~1300 MB/s   (963 MB/s with a new context per page)
 *     SHA-512/256     ~480-615 MB/s
 *     SHA-512         ~470-510 MB/s
 *     BLAKE2b-512     ~460-490 MB/s
 *     BLAKE2s-256     ~310-390 MB/s
 *     SHA3-256        ~220-370 MB/s
 * SHA-256 with the CPU's SHA extensions is 2-3x the others; a 256 MiB
 * database is hashed in about 0.2 s.  (Without SHA-NI, SHA-512/256 would be
 * the faster choice, but the hash is part of the stored format and cannot
 * follow the machine.)
 *
 * Why XOR is enough.  The checksum is updated from the changed pages alone:
 * XOR out a page's old hash and XOR in its new one, with no pass over the
 * rest of the database.  What it protects against is accident, not malice:
 * a page with the wrong bytes, a page missing or left over after a resize,
 * an increment applied twice, skipped or out of order, a chain rooted in
 * the wrong snapshot -- each leaves a state whose checksum differs from the
 * recorded one except with probability about 2^-64.  The page number is
 * part of each hash so that a page's bytes at the wrong position (two pages
 * swapped, a frame applied to the wrong page) change the checksum: without
 * it, XOR is blind to order, and identical pages at different positions
 * would cancel each other out.  It is not a MAC: anyone can compute it, and
 * XOR is linear, so someone who can choose page contents can forge a state
 * with a given checksum.  Tampering is the business of the SHA-256 of each
 * object (and its encryption), not of this checksum.
 *
 * The table keeps 8 bytes per page (a 256 MiB database at 4 KiB pages: 512
 * KiB) and the running XOR.  It is saved in two files.  The base, at path,
 * holds the whole table; it is written crash-safely (temp file, fsync,
 * rename):
 *
 *     offset  size
 *          0     8  magic "CBSPGSUM"
 *          8     4  format version, 1
 *         12     4  page size
 *         16     4  page count N
 *         20     4  reserved, 0
 *         24     8  state checksum
 *         32    32  SHA-256 of bytes 0..31 followed by bytes 64..end
 *         64   8*N  the page hashes, pages 1..N
 *
 * The log, at path + "-log", holds what changed after the base, so that a
 * capture of a few pages writes a few dozen bytes rather than the whole
 * table (an agent capturing every second would otherwise rewrite 1.8 GiB an
 * hour at 256 MiB).  It is appended to, one record per commit, and fsynced:
 *
 *     header   0     8  magic "CBSPGLOG"
 *              8     4  format version, 1
 *             12     4  reserved, 0
 *             16    32  the base's SHA-256 (bytes 32..63 of the base)
 *     record   0     4  entries E
 *              4     4  the fewest pages the table had since the previous
 *                       record (pages cut off, and maybe grown back)
 *              8     4  page count after
 *             12     4  reserved, 0
 *             16     8  state checksum after
 *             24  12*E  entries: page number (4), its new hash (8)
 *        24+12*E    32  SHA-256 of the previous record's digest (the
 *                       base's for the first) followed by bytes 0..24+12*E
 *
 * A record is replayed as: cut the table to its fewest pages, resize it to
 * its page count, set each entry's hash, and the checksum must then be the
 * recorded one.  The digests chain the records to each other and to one
 * base, so a torn record (a crash while appending) or a log left from an
 * older base ends the log there; the table loads as of the last whole
 * record, and the next commit writes over the rest.  When the log has grown
 * past twice the base's size (plus 256 KiB), or when most of the table has
 * changed, a commit saves the whole table as a new base and removes the log.
 *
 * Load refuses (CB_ERR_CORRUPT) a base that is not exactly that: a wrong
 * magic or version, a size that does not match N, a digest or checksum that
 * does not match; and a log record whose digest matches but which does not
 * replay to its own checksum (not a torn write: a wrong one).  The caller
 * then rebuilds the table from a database image.
 *
 * In metadata a checksum is written as 16 lower-case hex digits:
 * incr_checksum_format and incr_checksum_parse (common/increment.h).
 *
 * A table is not thread-safe (it holds a digest context); use one per thread.
 */
#ifndef CBSYNC_PAGESUM_H
#define CBSYNC_PAGESUM_H

#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* SQLite's page sizes: powers of two from 512 to 65536. */
#define PAGESUM_MIN_PAGE_SIZE 512
#define PAGESUM_MAX_PAGE_SIZE 65536

struct pagesum;

/* True if page_size is one SQLite can use. */
bool pagesum_page_size_valid(uint32_t page_size);

/* The lock-byte page's number for page_size: the page that holds byte 2^30
 * (0 for a page size SQLite cannot have). */
uint32_t pagesum_lock_page(uint32_t page_size);

/* The hash of one page (pgno >= 1, page_size bytes at page).  For hashing
 * many pages, a table's pagesum_changed and pagesum_update are faster (they
 * reuse one digest context).  The lock page's hash is 0. */
enum result pagesum_page(uint32_t pgno, const void *page, uint32_t page_size, uint64_t *out,
			 struct error *err);

/* An empty table (0 pages, checksum 0) for page_size. */
enum result pagesum_new(uint32_t page_size, struct pagesum **out, struct error *err);

/* A table for the database image in the file open on fd, read from offset 0
 * with pread (fd's offset is left alone) in bounded chunks.  The file's size
 * must be a multiple of page_size (else CB_ERR_CORRUPT), and when the file
 * begins with SQLite's header, the page size recorded there must be
 * page_size (else CB_ERR_CORRUPT).  fd must be a regular file. */
enum result pagesum_build(int fd, uint32_t page_size, struct pagesum **out, struct error *err);

/* A table for the image on fd whose checksum is already known (checksum:
 * from the metadata of a snapshot whose object's SHA-256 was checked):
 * nothing is read up front.  A page's hash is read from the image the first
 * time an update or a resize needs it -- its old hash, before the caller
 * writes the new bytes there -- so applying a chain reads only the pages it
 * changes, not the whole image.  A wrong checksum is not caught here but at
 * the first comparison with a recorded one (each XOR carries it along).
 * Only pagesum_resize, pagesum_update, pagesum_page_count and
 * pagesum_checksum are for such a table (what chain.h needs); fd must stay
 * open, and every write to the image must follow the update of its page.
 * The same checks of the file as pagesum_build's. */
enum result pagesum_trust(int fd, uint32_t page_size, uint64_t checksum, struct pagesum **out,
			  struct error *err);
void pagesum_free(struct pagesum *t);

uint32_t pagesum_page_size(const struct pagesum *t);
uint32_t pagesum_page_count(const struct pagesum *t);

/* The state checksum: the XOR of every page's hash. */
uint64_t pagesum_checksum(const struct pagesum *t);

/* The state checksum of an image as it streams past, in order from its
 * first byte, for a check that would otherwise read the file back.  The
 * page size is taken from the SQLite header in the first bytes; a stream
 * without one, with an impossible page size, or ending inside a page has no
 * checksum (pagesum_stream_result says so), and the caller falls back to
 * reading the file.  The same checksum as pagesum_build's of the same bytes. */
struct pagesum_stream;
enum result pagesum_stream_new(struct pagesum_stream **out, struct error *err);
/* Hash whole pages of the next len bytes, keeping a partial page for the
 * next call.  False only if libcrypto failed (the stream is then unusable). */
bool pagesum_stream_feed(struct pagesum_stream *s, const void *buf, size_t len);
/* True, with the page size and checksum, if the stream was whole pages of
 * a SQLite image. */
bool pagesum_stream_result(const struct pagesum_stream *s, uint32_t *page_size,
			   uint64_t *checksum);
void pagesum_stream_free(struct pagesum_stream *s);

/* The hash recorded for page pgno (1..count); 0 outside that range, for the
 * lock page, and for a page added by pagesum_resize and not yet supplied. */
uint64_t pagesum_get(const struct pagesum *t, uint32_t pgno);

/* Set the database's size to page_count pages.  Pages cut off are XORed out
 * of the checksum.  Pages added start with no hash (they count as 0, and
 * pagesum_changed reports them changed): the caller must supply every one
 * with pagesum_update before the checksum means anything.  Applying a
 * commit: resize to its page count first, then update its pages. */
enum result pagesum_resize(struct pagesum *t, uint32_t page_count, struct error *err);

/* Page pgno (1..count) now holds page_size bytes at page: XOR its old hash
 * out and the new one in.  pgno outside 1..count is CB_ERR_CORRUPT (a frame
 * for a page the database does not have).  The lock page is ignored. */
enum result pagesum_update(struct pagesum *t, uint32_t pgno, const void *page,
			   struct error *err);

/* The same for a copy that streams its pages in order: a page past the end
 * grows the table to it first (the pages between start with no hash). */
enum result pagesum_set(struct pagesum *t, uint32_t pgno, const void *page, struct error *err);

/* True if page pgno's bytes differ from what the table records for it (by
 * their hash): a page diff emits exactly the pages for which this is true.
 * Also true when pgno is beyond the table, or when the hash cannot be
 * computed (a page shipped needlessly costs bytes; one missed costs a wrong
 * database).  False for the lock page. */
bool pagesum_changed(struct pagesum *t, uint32_t pgno, const void *page);

/* Save the whole table at path (mode 0600), atomically: the old file or the
 * new one, never a torn one; then remove path's log, which no longer
 * applies.  The table then tracks its changes for pagesum_commit. */
enum result pagesum_save(struct pagesum *t, const char *path, struct error *err);

/* Make what path holds equal the table, durably, at the least cost: when the
 * table was loaded from path or last saved or committed there, append the
 * pages changed since to path's log; else (or when the log is due to be
 * folded in, see above) pagesum_save.  After an error, the next commit saves
 * the whole table.  path must be the one the table came from: the table
 * does not know it, and a log appended to another base is ignored at load
 * (that base's table then loads as it was). */
enum result pagesum_commit(struct pagesum *t, const char *path, struct error *err);

/* Load a table saved by pagesum_save, with the changes its log holds.
 * CB_ERR_NOT_FOUND when path does not exist, CB_ERR_CORRUPT when it is not
 * exactly a valid table file or a whole log record does not replay (see the
 * format above), CB_ERR_IO when it cannot be read.  Memory is bounded by
 * the files' sizes, checked before anything is allocated. */
enum result pagesum_load(const char *path, struct pagesum **out, struct error *err);

#endif
