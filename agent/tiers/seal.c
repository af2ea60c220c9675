/*
 * Sealing an upload with age (see seal.h).
 */
#include "agent/tiers/seal.h"

#include "common/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* On the pipe's thread: what age wrote, hashed and sent to the put. */
static enum result consume(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct seal *s = ctx;
	sha256_update(&s->sha, buf, len);
	s->bytes += len;
	return s->out(s->out_ctx, buf, len, err);
}

static const struct bgpipe_ops pipe_ops = {.consume = consume};

/* What age writes goes to the pipe. */
static enum result sealed(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct seal *s = ctx;
	return bgpipe_write(s->pipe, buf, len, err);
}

static uint64_t object_size(void *ctx, uint64_t file_size)
{
	struct seal *s = ctx;
	return age_enc_header_len(s->enc) + age_payload_size(file_size);
}

static enum result open_put(void *ctx, stream_write_fn out, void *out_ctx, struct error *err)
{
	struct seal *s = ctx;
	(void)err;
	s->out = out;
	s->out_ctx = out_ctx;
	return CB_OK;
}

/* On the caller's thread: the file's bytes, encrypted. */
static enum result plain(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct seal *s = ctx;
	return age_enc_write(s->enc, buf, len, err);
}

/* Given up: the thread stops (what is queued is dropped) before the put
 * it writes to goes away. */
static void abort_put(void *ctx)
{
	struct seal *s = ctx;
	bgpipe_free(s->pipe);
	s->pipe = NULL;
}

/* The last chunk, then wait until everything is sent. */
static enum result close_put(void *ctx, struct error *err)
{
	struct seal *s = ctx;
	enum result r = age_enc_finish(s->enc, err);
	return r ? r : bgpipe_finish(s->pipe, err);
}

enum result seal_init(struct seal *s, const struct keyring *k, struct error *err)
{
	memset(s, 0, sizeof(*s));
	if (!k || !k->n_recipients)
		return error_set(err, CB_ERR_CONFIG,
				 "a remote is to encrypt, and [encryption] has no recipients");
	enum result r = sha256_init(&s->sha, err);
	if (r)
		return r;
	s->hashing = true;
	s->keys = k;
	if ((r = age_enc_new((const uint8_t(*)[AGE_KEY_LEN])k->recipients, k->n_recipients,
			     sealed, s, &s->enc, err)) ||
	    (r = bgpipe_start(&s->pipe, &pipe_ops, s, err))) {
		seal_free(s);
		return r;
	}
	s->filter = (struct put_filter){.size = object_size, .open = open_put, .write = plain,
					.close = close_put, .abort = abort_put, .ctx = s};
	return CB_OK;
}

void seal_result(struct seal *s, struct meta_crypt *out)
{
	uint8_t digest[SHA256_LEN];
	memset(out, 0, sizeof(*out));
	sha256_final(&s->sha, digest);
	s->hashing = false;
	hex_encode(digest, sizeof(digest), out->object_sha256);
	out->object_size = (int64_t)s->bytes;
	out->encrypted = true;
	for (size_t i = 0; i < s->keys->n_recipients && i < METACRYPT_MAX_RECIPIENTS; i++)
		memcpy(out->recipients[out->n_recipients++], s->keys->recipient_fprs[i],
		       METACRYPT_FPR_LEN + 1);
}

void seal_free(struct seal *s)
{
	bgpipe_free(s->pipe);
	s->pipe = NULL;
	age_enc_free(s->enc);
	s->enc = NULL;
	if (s->hashing)
		sha256_free(&s->sha);
	s->hashing = false;
}

struct fd_sink {
	int fd;
	off_t written;
	off_t flushed;   /* writeback started up to here */
};

/* On the pipe's thread: the sealed bytes into a file, its writeback paced
 * as a backup's is (fsutil.h), so that the commit's fsync finds little
 * left to do. */
static enum result to_fd(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct fd_sink *k = ctx;
	int e = fs_write_all(k->fd, buf, len);
	if (!e) {
		k->written += (off_t)len;
		e = fs_writeback_hint(k->fd, &k->flushed, k->written);
	}
	return e ? error_errno(err, e, NULL) : CB_OK;
}

enum result seal_fd(const struct keyring *k, int in, int out, const char *plain_sha256,
		    struct meta_crypt *mc, char plain_hex[SHA256_HEX_LEN + 1], struct error *err)
{
	enum { BUF = 1 << 20 };
	struct seal s;
	struct sha256 plain;
	uint8_t digest[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	unsigned char *buf = malloc(BUF);
	enum result r;
	if (!buf)
		return error_nomem(err);
	if ((r = sha256_init(&plain, err))) {
		free(buf);
		return r;
	}
	if ((r = seal_init(&s, k, err)))
		goto done;
	struct fd_sink sink = {.fd = out};
	if ((r = s.filter.open(&s, to_fd, &sink, err)))
		goto sealed;
	for (off_t off = 0;;) {
		ssize_t n = pread(in, buf, BUF, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = error_errno(err, errno, NULL);
			break;
		}
		if (n == 0)
			break;
		sha256_update(&plain, buf, (size_t)n);
		if ((r = s.filter.write(&s, buf, (size_t)n, err)))
			break;
		off += n;
	}
	if (!r)
		r = s.filter.close(&s, err);
	else
		s.filter.abort(&s);
	sha256_final(&plain, digest);
	hex_encode(digest, sizeof(digest), hex);
	if (!r && plain_sha256 && strcmp(hex, plain_sha256) != 0)
		r = error_set(err, CB_ERR_CORRUPT, "the file to seal changed since it was written "
			      "(SHA-256 %s, expected %s); nothing was sealed", hex, plain_sha256);
	if (!r) {
		seal_result(&s, mc);
		if (plain_hex)
			memcpy(plain_hex, hex, sizeof(hex));
	}
sealed:
	seal_free(&s);
done:
	sha256_free(&plain);
	free(buf);
	return r;
}
