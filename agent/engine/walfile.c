/*
 * Increment files in SQLite's WAL format, the parts the writer
 * (walfile_write.c) and the reader (walfile_read.c) share: the checksum, the
 * header's encoding and decoding, page sizes, file sizes, salts, and the set
 * of page numbers that catches a page given twice.  The format, and what
 * cbsync adds to it, are described in walfile.h.
 */
#include "agent/engine/walfile_internal.h"

#include <openssl/rand.h>
#include <stdlib.h>

/* ---- checksums and the header -------------------------------------------- */

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Continue the checksum pair sum over len bytes (a multiple of 8), the words
 * read big-endian or not as the magic said. */
static void checksum(uint32_t sum[2], const unsigned char *p, size_t len, bool big_endian)
{
	uint32_t s1 = sum[0], s2 = sum[1];
	const unsigned char *end = p + len;

	if (big_endian) {
		for (; p < end; p += 8) {
			s1 += get_be32(p) + s2;
			s2 += get_be32(p + 4) + s1;
		}
	} else {
		for (; p < end; p += 8) {
			s1 += get_le32(p) + s2;
			s2 += get_le32(p + 4) + s1;
		}
	}
	sum[0] = s1;
	sum[1] = s2;
}

void walfile_frame_checksum(uint32_t sum[2], const unsigned char *frame, uint32_t page_size,
			    bool big_endian)
{
	checksum(sum, frame, 8, big_endian);
	checksum(sum, frame + FRAME_HDR, page_size, big_endian);
}

void walfile_header_encode(unsigned char hdr[WALFILE_HEADER_SIZE],
			   const struct walfile_info *info, uint32_t sum[2])
{
	put_be32(hdr, WALFILE_MAGIC_BE);
	put_be32(hdr + 4, WALFILE_VERSION);
	put_be32(hdr + 8, info->page_size);
	put_be32(hdr + 12, info->checkpoint_seq);
	put_be32(hdr + 16, info->salt[0]);
	put_be32(hdr + 20, info->salt[1]);
	sum[0] = sum[1] = 0;
	checksum(sum, hdr, 24, true);
	put_be32(hdr + 24, sum[0]);
	put_be32(hdr + 28, sum[1]);
}

enum result walfile_header_decode(const unsigned char hdr[WALFILE_HEADER_SIZE],
				  struct walfile_info *info, uint32_t sum[2], bool *big_endian,
				  struct error *err)
{
	const unsigned char *h = hdr;
	uint32_t magic = get_be32(h), version = get_be32(h + 4);
	uint32_t page_size = get_be32(h + 8);
	uint32_t s[2] = {0, 0};

	if (magic != WALFILE_MAGIC_BE && magic != WALFILE_MAGIC_LE)
		return error_set(err, CB_ERR_CORRUPT, "not a WAL file: magic %08x", magic);
	if (version != WALFILE_VERSION)
		return error_set(err, CB_ERR_CORRUPT, "WAL format version %u, expected %u",
				 version, WALFILE_VERSION);
	if (!walfile_page_size_valid(page_size))
		return error_set(err, CB_ERR_CORRUPT, "invalid page size %u in the WAL header",
				 page_size);
	*big_endian = magic & 1;
	checksum(s, h, 24, *big_endian);
	if (s[0] != get_be32(h + 24) || s[1] != get_be32(h + 28))
		return error_set(err, CB_ERR_CORRUPT, "WAL header checksum mismatch");
	sum[0] = s[0];
	sum[1] = s[1];
	info->page_size = page_size;
	info->checkpoint_seq = get_be32(h + 12);
	info->salt[0] = get_be32(h + 16);
	info->salt[1] = get_be32(h + 20);
	return CB_OK;
}

/* ---- sizes and salts ----------------------------------------------------- */

bool walfile_page_size_valid(uint32_t page_size)
{
	return page_size >= 512 && page_size <= 65536 && (page_size & (page_size - 1)) == 0;
}

uint64_t walfile_size(uint32_t page_size, uint64_t frames)
{
	return WALFILE_HEADER_SIZE + frames * (FRAME_HDR + (uint64_t)page_size);
}

enum result walfile_random_salts(uint32_t salt[2], struct error *err)
{
	unsigned char b[8];

	if (RAND_bytes(b, sizeof b) != 1)
		return error_set(err, CB_ERR_INTERNAL, "unable to draw random WAL salts");
	salt[0] = get_be32(b);
	salt[1] = get_be32(b + 4);
	return CB_OK;
}

/* ---- a set of page numbers ----------------------------------------------
 *
 * Page number -> the frame that held it, to catch a page given twice.  Open
 * addressing with linear probing; page numbers are never 0, so 0 is empty.
 * Kept at most half full. */

struct walfile_pgset {
	uint32_t *key;
	uint32_t *frame;
	size_t cap;   /* a power of two */
	size_t count;
};

static size_t pgset_slot(const struct walfile_pgset *s, uint32_t pgno)
{
	size_t i = (size_t)(pgno * 2654435761u) & (s->cap - 1);

	while (s->key[i] != 0 && s->key[i] != pgno)
		i = (i + 1) & (s->cap - 1);
	return i;
}

struct walfile_pgset *walfile_pgset_new(void)
{
	struct walfile_pgset *s = calloc(1, sizeof *s);

	if (!s)
		return NULL;
	s->cap = 64;
	s->key = calloc(s->cap, sizeof *s->key);
	s->frame = calloc(s->cap, sizeof *s->frame);
	if (!s->key || !s->frame) {
		free(s->key);
		free(s->frame);
		free(s);
		return NULL;
	}
	return s;
}

void walfile_pgset_free(struct walfile_pgset *s)
{
	if (!s)
		return;
	free(s->key);
	free(s->frame);
	free(s);
}

enum result walfile_pgset_add(struct walfile_pgset *s, uint32_t pgno, uint32_t frame,
			      uint32_t *prev)
{
	size_t i = pgset_slot(s, pgno);

	*prev = 0;
	if (s->key[i] == pgno) {
		*prev = s->frame[i];
		return CB_OK;
	}
	if ((s->count + 1) * 2 > s->cap) {
		struct walfile_pgset big = {.cap = s->cap * 2};

		big.key = calloc(big.cap, sizeof *big.key);
		big.frame = calloc(big.cap, sizeof *big.frame);
		if (!big.key || !big.frame) {
			free(big.key);
			free(big.frame);
			return CB_ERR_NOMEM;
		}
		for (size_t j = 0; j < s->cap; j++) {
			if (s->key[j] == 0)
				continue;
			size_t k = pgset_slot(&big, s->key[j]);
			big.key[k] = s->key[j];
			big.frame[k] = s->frame[j];
		}
		free(s->key);
		free(s->frame);
		s->key = big.key;
		s->frame = big.frame;
		s->cap = big.cap;
		i = pgset_slot(s, pgno);
	}
	s->key[i] = pgno;
	s->frame[i] = frame;
	s->count++;
	return CB_OK;
}
