/*
 * SHA-256 through OpenSSL's libcrypto, incrementally, plus hex encoding.
 */
#ifndef CBSYNC_HASH_H
#define CBSYNC_HASH_H

#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

struct sha256 {
	void *ctx; /* EVP_MD_CTX */
};

enum result sha256_init(struct sha256 *h, struct error *err);
void sha256_update(struct sha256 *h, const void *data, size_t len);
/* Write the digest and release the context. */
void sha256_final(struct sha256 *h, uint8_t out[SHA256_LEN]);
/* Release the context without a digest (safe after final or on a zeroed h). */
void sha256_free(struct sha256 *h);

/* One-shot digest of a buffer. */
void sha256_buf(const void *data, size_t len, uint8_t out[SHA256_LEN]);

/* Lower-case hex; out needs 2*len+1 bytes. */
void hex_encode(const uint8_t *data, size_t len, char *out);

/* True if s is exactly 64 hex digits (either case). */
bool sha256_hex_valid(const char *s);

#endif
