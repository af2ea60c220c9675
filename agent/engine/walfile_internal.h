/*
 * Private to walfile.c, walfile_write.c and walfile_read.c, and to
 * walsource.c, which reads the live database's WAL by the same rules:
 * big-endian words, the WAL header's encoding and decoding, the frame
 * checksum, and the set of page numbers with which the writer and the reader
 * catch a page given twice.  The format itself is described in walfile.h.
 */
#ifndef CBSYNC_WALFILE_INTERNAL_H
#define CBSYNC_WALFILE_INTERNAL_H

#include "agent/engine/walfile.h"

#define FRAME_HDR WALFILE_FRAME_HEADER_SIZE

static inline uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Write the header for info's page size, checkpoint sequence and salts,
 * with big-endian checksums; sum gets its checksum pair, from which the
 * first frame's continues. */
void walfile_header_encode(unsigned char hdr[WALFILE_HEADER_SIZE],
			   const struct walfile_info *info, uint32_t sum[2]);

/* Check a header (magic, version, page size, checksum) and fill info's page
 * size, checkpoint sequence and salts, sum with its checksum pair and
 * big_endian with how the magic says words are read.  CB_ERR_CORRUPT, with
 * a line saying what is wrong, if it is not a valid header. */
enum result walfile_header_decode(const unsigned char hdr[WALFILE_HEADER_SIZE],
				  struct walfile_info *info, uint32_t sum[2], bool *big_endian,
				  struct error *err);

/* Continue the checksum pair sum over a frame: its header's first 8 bytes,
 * then its page of page_size bytes. */
void walfile_frame_checksum(uint32_t sum[2], const unsigned char *frame, uint32_t page_size,
			    bool big_endian);

/* Page number -> the frame that held it. */
struct walfile_pgset *walfile_pgset_new(void);
void walfile_pgset_free(struct walfile_pgset *s);

/* Record pgno as held by frame.  Returns CB_OK and *prev = 0 if it is new,
 * CB_OK and *prev = the earlier frame if it was already there, or
 * CB_ERR_NOMEM. */
enum result walfile_pgset_add(struct walfile_pgset *s, uint32_t pgno, uint32_t frame,
			      uint32_t *prev);

#endif
