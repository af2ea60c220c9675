/*
 * age encryption to X25519 recipients (see age.h).
 */
#include "crypto/age_internal.h"
#include "crypto/b64.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

struct age_enc {
	stream_write_fn sink;
	void *sink_ctx;
	char *header;          /* the whole header, MAC line included */
	size_t header_len;
	bool header_sent;
	uint8_t nonce[AGE_NONCE_LEN];
	struct age_aead *aead;
	uint64_t counter;
	uint8_t *chunk;        /* plaintext waiting: at most AGE_CHUNK bytes */
	size_t fill;
	uint8_t *sealed;       /* AGE_CHUNK + AGE_TAG_LEN */
	enum result failed;
	struct error failure;
};

/* Append text to the header being built (buf of cap bytes, *len used). */
static bool put(char *buf, size_t cap, size_t *len, const char *text, size_t n)
{
	if (n > cap - *len)
		return false;
	memcpy(buf + *len, text, n);
	*len += n;
	return true;
}

/* "-> X25519 <share>\n<body>\n" for one recipient. */
static bool x25519_stanza(const uint8_t recipient[AGE_KEY_LEN],
			  const uint8_t file_key[AGE_FILE_KEY_LEN], char *buf, size_t cap,
			  size_t *len)
{
	uint8_t eph[AGE_KEY_LEN], share[AGE_KEY_LEN], shared[AGE_KEY_LEN];
	uint8_t salt[2 * AGE_KEY_LEN], wrap[32], body[AGE_FILE_KEY_LEN + AGE_TAG_LEN];
	static const uint8_t basepoint[AGE_KEY_LEN] = {9};
	static const uint8_t zero_nonce[12] = {0};
	char text[64];
	bool ok = RAND_bytes(eph, sizeof(eph)) == 1 && age_x25519(eph, basepoint, share) &&
		  age_x25519(eph, recipient, shared);
	if (ok) {
		memcpy(salt, share, AGE_KEY_LEN);
		memcpy(salt + AGE_KEY_LEN, recipient, AGE_KEY_LEN);
		ok = age_hkdf(shared, sizeof(shared), salt, sizeof(salt), AGE_X25519_INFO, wrap);
	}
	struct age_aead *a = ok ? age_aead_new(wrap) : NULL;
	ok = a && age_aead_seal(a, zero_nonce, file_key, AGE_FILE_KEY_LEN, body);
	age_aead_free(a);
	OPENSSL_cleanse(eph, sizeof(eph));
	OPENSSL_cleanse(shared, sizeof(shared));
	OPENSSL_cleanse(wrap, sizeof(wrap));
	if (!ok)
		return false;
	/* The 32-byte body is 43 characters: one line, shorter than 64. */
	b64_encode(share, sizeof(share), false, text);
	ok = put(buf, cap, len, "-> X25519 ", 10) && put(buf, cap, len, text, strlen(text)) &&
	     put(buf, cap, len, "\n", 1);
	b64_encode(body, sizeof(body), false, text);
	return ok && put(buf, cap, len, text, strlen(text)) && put(buf, cap, len, "\n", 1);
}

static enum result build_header(struct age_enc *e, const uint8_t (*recipients)[AGE_KEY_LEN],
				size_t n, const uint8_t file_key[AGE_FILE_KEY_LEN],
				struct error *err)
{
	/* Each stanza takes 10 + 43 + 1 + 43 + 1 bytes. */
	size_t cap = sizeof(AGE_VERSION_LINE) + n * 100 + 64;
	uint8_t mac_key[32], mac[AGE_MAC_LEN];
	char text[64];
	e->header = malloc(cap);
	if (!e->header)
		return error_nomem(err);
	size_t len = 0;
	bool ok = put(e->header, cap, &len, AGE_VERSION_LINE, strlen(AGE_VERSION_LINE));
	for (size_t i = 0; ok && i < n; i++)
		ok = x25519_stanza(recipients[i], file_key, e->header, cap, &len);
	ok = ok && put(e->header, cap, &len, "---", 3) && age_mac_key(file_key, mac_key) &&
	     age_hmac(mac_key, e->header, len, mac);
	OPENSSL_cleanse(mac_key, sizeof(mac_key));
	if (!ok)
		return error_set(err, CB_ERR_INTERNAL, "cannot build an age header (libcrypto)");
	b64_encode(mac, sizeof(mac), false, text);
	ok = put(e->header, cap, &len, " ", 1) && put(e->header, cap, &len, text, strlen(text)) &&
	     put(e->header, cap, &len, "\n", 1);
	if (!ok)
		return error_set(err, CB_ERR_INTERNAL, "age header larger than expected");
	e->header_len = len;
	return CB_OK;
}

enum result age_enc_new(const uint8_t (*recipients)[AGE_KEY_LEN], size_t n, stream_write_fn sink,
			void *sink_ctx, struct age_enc **out, struct error *err)
{
	*out = NULL;
	if (n == 0 || n > AGE_MAX_RECIPIENTS)
		return error_set(err, CB_ERR_USAGE, "age: %zu recipients (1 to %d allowed)", n,
				 AGE_MAX_RECIPIENTS);
	struct age_enc *e = calloc(1, sizeof(*e));
	if (!e)
		return error_nomem(err);
	e->sink = sink;
	e->sink_ctx = sink_ctx;
	e->chunk = malloc(AGE_CHUNK);
	e->sealed = malloc(AGE_CHUNK + AGE_TAG_LEN);
	if (!e->chunk || !e->sealed) {
		age_enc_free(e);
		return error_nomem(err);
	}
	uint8_t file_key[AGE_FILE_KEY_LEN], payload_key[32];
	enum result r = CB_OK;
	if (RAND_bytes(file_key, sizeof(file_key)) != 1 ||
	    RAND_bytes(e->nonce, sizeof(e->nonce)) != 1)
		r = error_set(err, CB_ERR_INTERNAL, "no random bytes for an age file key (libcrypto)");
	if (!r)
		r = build_header(e, recipients, n, file_key, err);
	if (!r && (!age_payload_key(file_key, e->nonce, payload_key) ||
		   !(e->aead = age_aead_new(payload_key))))
		r = error_set(err, CB_ERR_INTERNAL, "cannot derive an age payload key (libcrypto)");
	OPENSSL_cleanse(file_key, sizeof(file_key));
	OPENSSL_cleanse(payload_key, sizeof(payload_key));
	if (r) {
		age_enc_free(e);
		return r;
	}
	*out = e;
	return CB_OK;
}

size_t age_enc_header_len(const struct age_enc *e)
{
	return e->header_len;
}

static enum result fail(struct age_enc *e, enum result r, struct error *err)
{
	if (!e->failed) {
		e->failed = r;
		if (err)
			e->failure = *err;
	}
	return r;
}

static enum result send_header(struct age_enc *e, struct error *err)
{
	if (e->header_sent)
		return CB_OK;
	e->header_sent = true;
	enum result r = e->sink(e->sink_ctx, e->header, e->header_len, err);
	if (!r)
		r = e->sink(e->sink_ctx, e->nonce, sizeof(e->nonce), err);
	return r;
}

/* Seal n bytes at src as the next chunk and send it. */
static enum result seal_from(struct age_enc *e, const uint8_t *src, size_t n, bool last,
			     struct error *err)
{
	uint8_t nonce[12];
	age_chunk_nonce(e->counter, last, nonce);
	if (!age_aead_seal(e->aead, nonce, src, n, e->sealed))
		return error_set(err, CB_ERR_INTERNAL, "age: ChaCha20-Poly1305 failed (libcrypto)");
	e->counter++;
	return e->sink(e->sink_ctx, e->sealed, n + AGE_TAG_LEN, err);
}

static enum result seal(struct age_enc *e, bool last, struct error *err)
{
	size_t n = e->fill;
	e->fill = 0;
	return seal_from(e, e->chunk, n, last, err);
}

enum result age_enc_write(struct age_enc *e, const void *buf, size_t len, struct error *err)
{
	const uint8_t *p = buf;
	enum result r;
	if (e->failed) {
		if (err)
			*err = e->failure;
		return e->failed;
	}
	if ((r = send_header(e, err)))
		return fail(e, r, err);
	while (len) {
		/* A full chunk is sealed only once more follows: the last chunk
		 * may be a full one, and is marked as the last. */
		if (e->fill == AGE_CHUNK && (r = seal(e, false, err)))
			return fail(e, r, err);
		/* Whole chunks with more after them, straight from the caller. */
		if (e->fill == 0 && len > AGE_CHUNK) {
			if ((r = seal_from(e, p, AGE_CHUNK, false, err)))
				return fail(e, r, err);
			p += AGE_CHUNK;
			len -= AGE_CHUNK;
			continue;
		}
		size_t n = AGE_CHUNK - e->fill < len ? AGE_CHUNK - e->fill : len;
		memcpy(e->chunk + e->fill, p, n);
		e->fill += n;
		p += n;
		len -= n;
	}
	return CB_OK;
}

enum result age_enc_finish(struct age_enc *e, struct error *err)
{
	enum result r;
	if (e->failed) {
		if (err)
			*err = e->failure;
		return e->failed;
	}
	if ((r = send_header(e, err)) || (r = seal(e, true, err)))
		return fail(e, r, err);
	e->failed = error_set(&e->failure, CB_ERR_INTERNAL, "age: write after finish");
	return CB_OK;
}

void age_enc_free(struct age_enc *e)
{
	if (!e)
		return;
	age_aead_free(e->aead);
	if (e->chunk)
		OPENSSL_cleanse(e->chunk, AGE_CHUNK);
	free(e->chunk);
	free(e->sealed);
	free(e->header);
	free(e);
}
