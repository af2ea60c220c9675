/*
 * Packed increments (packed.h): the metadata member, through zlib.
 */
#include "agent/tiers/packed.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define EXTRA_MAX 65535
#define SUBFIELD_HEAD 4   /* SI1, SI2, LEN (little-endian) */

enum result packed_head(const char *json, size_t len, unsigned char **out, size_t *out_len,
			struct error *err)
{
	if (len > EXTRA_MAX - SUBFIELD_HEAD)
		return error_set(err, CB_ERR_USAGE, "increment metadata of %zu bytes does not fit "
				 "a gzip header", len);
	unsigned char *extra = malloc(len + SUBFIELD_HEAD);
	size_t cap = len + SUBFIELD_HEAD + 128;
	unsigned char *buf = malloc(cap);
	z_stream s = {0};
	enum result r = CB_OK;
	if (!extra || !buf) {
		r = error_nomem(err);
		goto done;
	}
	extra[0] = PACKED_SI1;
	extra[1] = PACKED_SI2;
	extra[2] = (unsigned char)(len & 0xff);
	extra[3] = (unsigned char)(len >> 8);
	memcpy(extra + SUBFIELD_HEAD, json, len);
	gz_header h = {.extra = extra, .extra_len = (uInt)(len + SUBFIELD_HEAD), .os = 255};
	if (deflateInit2(&s, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		r = error_nomem(err);
		goto done;
	}
	s.next_out = buf;
	s.avail_out = (uInt)cap;
	if (deflateSetHeader(&s, &h) != Z_OK || deflate(&s, Z_FINISH) != Z_STREAM_END ||
	    s.total_out != len + PACKED_OVERHEAD)
		r = error_set(err, CB_ERR_IO, "zlib could not write an increment's metadata member");
	else
		*out_len = s.total_out;
	deflateEnd(&s);
done:
	free(extra);
	if (r)
		free(buf);
	else
		*out = buf;
	return r;
}

/* The "CB" subfield of extra (len bytes), or NULL. */
static const unsigned char *subfield(const unsigned char *extra, size_t len, size_t *out_len)
{
	size_t pos = 0;
	while (len - pos >= SUBFIELD_HEAD) {
		size_t n = extra[pos + 2] | (size_t)extra[pos + 3] << 8;
		if (n > len - pos - SUBFIELD_HEAD)
			return NULL;
		if (extra[pos] == PACKED_SI1 && extra[pos + 1] == PACKED_SI2) {
			*out_len = n;
			return extra + pos + SUBFIELD_HEAD;
		}
		pos += SUBFIELD_HEAD + n;
	}
	return NULL;
}

enum result packed_parse(const void *buf, size_t len, char **json, size_t *json_len,
			 size_t *head_len, struct error *err)
{
	unsigned char *extra = malloc(EXTRA_MAX);
	unsigned char out[16];
	z_stream s = {0};
	gz_header h = {.extra = extra, .extra_max = EXTRA_MAX};
	enum result r = CB_OK;
	if (!extra)
		return error_nomem(err);
	if (inflateInit2(&s, 15 + 16) != Z_OK) {
		free(extra);
		return error_nomem(err);
	}
	s.next_in = (unsigned char *)(uintptr_t)buf;
	s.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
	s.next_out = out;
	s.avail_out = sizeof(out);
	int z = inflateGetHeader(&s, &h) == Z_OK ? inflate(&s, Z_FINISH) : Z_STREAM_ERROR;
	const unsigned char *field = NULL;
	size_t n = 0;
	if (z != Z_STREAM_END && s.total_out == 0 && s.avail_in == 0)
		r = error_set(err, CB_ERR_CORRUPT, "it ends inside its metadata member");
	else if (z != Z_STREAM_END || s.total_out != 0)
		r = error_set(err, CB_ERR_CORRUPT, "it does not start with a metadata member (%s)",
			      s.total_out ? "the first gzip member holds data" : "not gzip");
	else if (h.extra_len > EXTRA_MAX || !(field = subfield(extra, h.extra_len, &n)))
		r = error_set(err, CB_ERR_CORRUPT, "its first gzip member holds no metadata");
	else if (!(*json = malloc(n + 1)))
		r = error_nomem(err);
	if (!r) {
		memcpy(*json, field, n);
		(*json)[n] = '\0';
		*json_len = n;
		*head_len = s.total_in;
	}
	inflateEnd(&s);
	free(extra);
	return r;
}
