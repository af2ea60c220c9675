/*
 * Streams and the read loop.
 */
#include "common/stream.h"
#include "common/cancel.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define PUMP_CHUNK (1 << 20)

enum result stream_init(struct stream *s, stream_write_fn write, void *ctx, bool hash,
			struct error *err)
{
	*s = (struct stream){.write = write, .ctx = ctx, .hashing = hash};
	return hash ? sha256_init(&s->sha, err) : CB_OK;
}

void stream_free(struct stream *s)
{
	if (s->hashing)
		sha256_free(&s->sha);
	s->hashing = false;
}

enum result stream_write(struct stream *s, const void *buf, size_t len, struct error *err)
{
	if (s->failed)
		return s->failed;
	if (s->hashing)
		sha256_update(&s->sha, buf, len);
	enum result r = s->write(s->ctx, buf, len, err);
	if (r)
		return s->failed = r;
	s->bytes += len;
	if (s->progress)
		s->progress(s->progress_ctx, s->bytes, s->total);
	return CB_OK;
}

void stream_sha256_hex(struct stream *s, char hex[SHA256_HEX_LEN + 1])
{
	uint8_t digest[SHA256_LEN];
	sha256_final(&s->sha, digest);
	hex_encode(digest, SHA256_LEN, hex);
}

enum result stream_pump_fd(int fd, const char *path, struct stream *s, struct error *err)
{
	/* A small file (metadata) needs no megabyte of buffer. */
	struct stat st;
	size_t chunk = PUMP_CHUNK;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size < PUMP_CHUNK)
		chunk = (size_t)st.st_size < 4096 ? 4096 : (size_t)st.st_size + 1;
	unsigned char *buf = malloc(chunk);
	enum result r = CB_OK;
	if (!buf)
		return error_nomem(err);
	while (!r) {
		if (cancel_requested()) {
			r = error_set(err, CB_ERR_INTERRUPTED, "interrupted");
			break;
		}
		ssize_t n = read(fd, buf, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			s->read_errno = errno;
			r = error_errno(err, errno, path);
			break;
		}
		if (n == 0)
			break;
		r = stream_write(s, buf, (size_t)n, err);
	}
	free(buf);
	return r;
}
