/*
 * Private to pagesum.c and pagesum_file.c: the table's layout, big-endian
 * words and a whole-buffer pread.
 */
#ifndef CBSYNC_PAGESUM_INTERNAL_H
#define CBSYNC_PAGESUM_INTERNAL_H

#include "agent/engine/pagesum.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <sys/types.h>

/* How the table stands against the files it was loaded from or saved to
 * (pagesum_file.c): the base file, the log of changes appended after it, and
 * the changes made in memory since.  Off for a table that was built or made
 * empty: its first pagesum_commit saves it whole. */
struct pagesum_saved {
	bool on;
	bool whole;         /* the next commit saves the whole table */
	bool tail;          /* the log has bytes past its valid end */
	uint8_t base[32];   /* the base file's digest: the log's header names it */
	uint8_t chain[32];  /* the last record's digest (the base's, before any) */
	uint64_t base_len;  /* the base file's size */
	uint64_t log_len;   /* the log's valid bytes; 0: no log to append to */
	uint32_t count;     /* pages at the last commit */
	uint32_t low;       /* the fewest pages since */
	uint32_t *pgno;     /* pages given a new hash since (may repeat) */
	size_t n, cap;
};

struct pagesum {
	uint32_t page_size;
	uint32_t count;     /* pages */
	size_t cap;         /* slots allocated */
	uint64_t sum;
	uint64_t *hash;     /* hash[pgno - 1] */
	EVP_MD *md;
	EVP_MD_CTX *ctx;
	struct pagesum_saved saved;
	/* A table from pagesum_trust: the hashes of the pages not yet touched
	 * are read from the image on fd when first needed (known[i] == 0). */
	int image_fd;       /* -1 for every other table */
	uint8_t *known;     /* one byte a slot, as many as cap */
	uint8_t *page_buf;  /* one page, for reading them */
};

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* Note that page pgno has a new hash, for the next pagesum_commit. */
void pagesum_saved_touch(struct pagesum *t, uint32_t pgno);

/* pread all of len bytes at off; returns the bytes read (short only at end
 * of file), or -1 with errno set. */
ssize_t pagesum_pread_full(int fd, uint8_t *buf, size_t len, off_t off);

#endif
