/*
 * Sealing an upload with age (see seal.h).
 */
#include "agent/tiers/seal.h"

#include <string.h>

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
