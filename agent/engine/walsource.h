/*
 * The live database's write-ahead log, read from the outside: its "-wal"
 * file and the header of its wal-index ("-shm"), opened read-only and never
 * written, locked or checkpointed.  This is what WAL-frame capture
 * (walcapture.h) stands on.
 *
 * The -wal file (SQLite's documented format, the same one walfile.h writes):
 * a 32-byte header whose salts name the WAL's current generation, then
 * frames of 24 bytes + one page, each carrying the header's salts and a
 * checksum that continues the one before.  SQLite starts the WAL over (a
 * "restart") after a checkpoint has copied every frame into the database: it
 * adds one to salt-1, draws a new salt-2 and writes the new generation's
 * frames from the start of the file over the old ones, so a frame is valid
 * only while its salts are the header's and the checksum chain reaches it.
 * (The header's checkpoint sequence is the writing connection's own count
 * of the restarts it made: a restart by another connection, a TRUNCATE
 * checkpoint's, does not move it.)
 *
 * The wal-index header (the first 96 bytes of "-shm", which SQLite maps in
 * every connection's memory: two copies of a
 * 48-byte record in the host's byte order, written second copy first) is
 * where SQLite publishes a commit: the last frame of the last committed
 * transaction (mxFrame), the database's size then, that frame's checksum
 * pair and the generation's salts.  A writer appends its frames to the file
 * (and, with synchronous=FULL, fsyncs them) BEFORE it publishes them there,
 * and readers see only what is published; so a commit frame found in the
 * file is not necessarily committed yet, and a scan of the file alone cannot
 * tell which state a reader sees.  The header can: it is read, like SQLite's
 * readers do, as two equal copies with a valid checksum, and its layout
 * (version 3007000, unchanged since WAL mode first shipped) is checked
 * before it is trusted.  Anything else (no -shm, an uninitialised or torn
 * header, another version) is CB_ERR_CORRUPT or CB_ERR_NOT_FOUND, and the
 * caller falls back to a route that does not need it.
 */
#ifndef CBSYNC_WALSOURCE_H
#define CBSYNC_WALSOURCE_H

#include "agent/engine/walfile.h"
#include "common/result.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What SQLite has published in the wal-index header. */
struct wal_index {
	uint32_t change;        /* a counter SQLite moves on every commit */
	uint32_t page_size;
	uint32_t max_frame;     /* last frame of the last commit; 0: none */
	uint32_t db_pages;      /* the database's size in pages then */
	uint32_t frame_sum[2];  /* checksum pair after frame max_frame */
	uint32_t salt[2];       /* the generation's salts (as in the -wal header) */
};

/* Read the wal-index header through db, a connection to the live database
 * that has read from it (so that SQLite has its WAL open and the wal-index
 * mapped): the mapping SQLite itself uses, found with the documented
 * SQLITE_FCNTL_FILE_POINTER and the VFS's xShmMap.  Never through a file
 * descriptor of our own: closing any descriptor of a file drops every POSIX
 * lock the process holds on it, SQLite's read locks included.
 * CB_ERR_NOT_FOUND when db has no wal-index (not a WAL database, or no
 * read yet), CB_ERR_CORRUPT when the header is not one to trust
 * (uninitialised, unknown version, bad checksum, or torn on every try). */
enum result wal_index_read(sqlite3 *db, struct wal_index *out, struct error *err);

/* True if db's database file says WAL mode (read and write format versions
 * 2), read through SQLite's own file handle for the reason above.  The file,
 * not page 1 in the WAL: the flag is set in the file before WAL mode begins
 * and cleared only after it ends. */
bool wal_db_in_wal_mode(sqlite3 *db);

/* Two headers say the same state (every field). */
bool wal_index_equal(const struct wal_index *a, const struct wal_index *b);

/* The -wal file's header. */
struct wal_header {
	struct walfile_info info;   /* page size, checkpoint sequence, salts */
	bool big_endian;            /* the checksums' byte order */
	uint32_t sum[2];            /* the header's checksum: where frame 1's chain starts */
	unsigned char raw[WALFILE_HEADER_SIZE];
};

/* Read and check the header of the -wal open on fd.  CB_ERR_NOT_FOUND when
 * the file is shorter than a header (a WAL truncated to nothing, or not
 * written yet), CB_ERR_CORRUPT when it is not a valid header. */
enum result wal_header_read(int fd, const char *path, struct wal_header *out,
			    struct error *err);

/* One frame's header. */
struct wal_frame {
	uint32_t pgno;
	uint32_t db_pages;      /* non-zero: a commit frame */
	uint32_t salt[2];
	uint32_t sum[2];        /* the checksum pair it carries */
};

/* The byte offset of frame n (1-based) in a WAL of page_size pages. */
uint64_t wal_frame_offset(uint32_t page_size, uint32_t n);

/* Read frame n's header.  CB_ERR_NOT_FOUND when the file ends before it. */
enum result wal_frame_read(int fd, const char *path, uint32_t page_size, uint32_t n,
			   struct wal_frame *out, struct error *err);

/* Read frame n's page (page_size bytes) into buf.  CB_ERR_NOT_FOUND when
 * the file ends before its end. */
enum result wal_page_read(int fd, const char *path, uint32_t page_size, uint32_t n, void *buf,
			  struct error *err);

/* A page a scan found: its number, the scan's running count (later frames
 * have larger ones, across scans that share the list), and where its image
 * is in the file. */
struct wal_page_ref {
	uint32_t pgno;
	uint32_t order;
	uint64_t offset;        /* of the page image, after the frame header */
};

struct wal_pages {
	struct wal_page_ref *v;
	size_t n, cap;
	uint32_t next_order;
};

void wal_pages_free(struct wal_pages *p);

/* Sort by page number, newest frame first, and keep the newest of each
 * page. */
void wal_pages_latest(struct wal_pages *p);

/* A walk along one generation's checksum chain.  Set the inputs; wal_scan
 * reads frames first.. while their salts are salt and their checksums
 * continue from sum, up to frame cap (0: no cap), and appends the page of
 * every frame up to the last commit frame it reached to pages (frames of a
 * transaction whose commit frame it did not reach are left out).  The end
 * of the chain -- a frame that is not there, torn, or of another
 * generation -- is not an error: it is where the WAL ends. */
struct wal_scan {
	/* inputs */
	int fd;
	const char *path;
	uint32_t page_size;
	bool big_endian;
	uint32_t salt[2];
	uint32_t sum[2];        /* the chain after frame first - 1 */
	uint32_t first;         /* 1.. */
	uint32_t cap;           /* the last frame to read; 0: to the end */
	/* outputs */
	uint32_t commit;        /* the last commit frame reached, 0: none */
	uint32_t commit_sum[2]; /* the chain after it */
	uint32_t db_pages;      /* the database's size after it */
	uint32_t frames;        /* valid frames read past it (an open transaction) */
};

enum result wal_scan(struct wal_scan *s, struct wal_pages *pages, struct error *err);

/* A state's place in the WAL: the generation (its salts) and how many of
 * its frames the state includes -- up to and with its last commit frame --
 * with that frame's checksum pair, so that the next frame's chain can be
 * checked; plus the identity of the files, to notice a replaced database or
 * WAL.  frames 0: none of the generation's frames (ckpt, big_endian and sum
 * then come from its header when it is read; a generation SQLite has begun
 * in the wal-index but not yet written to the file is one too). */
struct walpos;
/* Two places are the same (every field). */
bool walpos_equal(const struct walpos *a, const struct walpos *b);

struct walpos {
	bool valid;             /* false: the state's place is not known */
	uint32_t salt[2];
	uint32_t ckpt;          /* the generation's checkpoint sequence (frames > 0) */
	uint32_t page_size;
	bool big_endian;        /* its checksums' byte order (frames > 0) */
	uint32_t frames;
	uint32_t sum[2];        /* the chain after frame frames (frames > 0) */
	uint64_t db_dev, db_ino;
	uint64_t wal_dev, wal_ino;  /* 0, 0: not known (there was no -wal) */
};

#endif
