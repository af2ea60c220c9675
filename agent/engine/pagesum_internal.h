/*
 * Private to pagesum.c and pagesum_file.c: the table's layout, big-endian
 * words and a whole-buffer pread.
 */
#ifndef CBSYNC_PAGESUM_INTERNAL_H
#define CBSYNC_PAGESUM_INTERNAL_H

#include "agent/engine/pagesum.h"

#include <openssl/evp.h>
#include <sys/types.h>

struct pagesum {
	uint32_t page_size;
	uint32_t count;     /* pages */
	size_t cap;         /* slots allocated */
	uint64_t sum;
	uint64_t *hash;     /* hash[pgno - 1] */
	EVP_MD *md;
	EVP_MD_CTX *ctx;
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

/* pread all of len bytes at off; returns the bytes read (short only at end
 * of file), or -1 with errno set. */
ssize_t pagesum_pread_full(int fd, uint8_t *buf, size_t len, off_t off);

#endif
