/*
 * What age_enc.c and age_dec.c share: the format's fixed strings and the
 * libcrypto primitives as the format uses them.
 */
#ifndef CBSYNC_AGE_INTERNAL_H
#define CBSYNC_AGE_INTERNAL_H

#include "common/result.h"
#include "crypto/age.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGE_VERSION_LINE "age-encryption.org/v1\n"
#define AGE_X25519_INFO "age-encryption.org/v1/X25519"
#define AGE_SCRYPT_SALT_LABEL "age-encryption.org/v1/scrypt"
#define AGE_MAC_LEN 32
/* A stanza's body is wrapped at this many base64 characters a line. */
#define AGE_COLUMNS 64

/* HKDF-SHA-256 (RFC 5869) with a 32-byte result; salt may be empty. */
bool age_hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
	      const char *info, uint8_t out[32]);

bool age_hmac(const uint8_t key[32], const void *data, size_t len, uint8_t out[AGE_MAC_LEN]);

/* X25519(secret, point) into out; false on a libcrypto failure or an
 * all-zero result (a low-order point). */
bool age_x25519(const uint8_t secret[AGE_KEY_LEN], const uint8_t point[AGE_KEY_LEN],
		uint8_t out[AGE_KEY_LEN]);

/* One ChaCha20-Poly1305 seal or open, with no associated data: out gets
 * len + 16 bytes (seal) or len - 16 (open; false if the tag is wrong). */
struct age_aead;
struct age_aead *age_aead_new(const uint8_t key[32]);
void age_aead_free(struct age_aead *a);
bool age_aead_seal(struct age_aead *a, const uint8_t nonce[12], const uint8_t *in, size_t len,
		   uint8_t *out);
bool age_aead_open(struct age_aead *a, const uint8_t nonce[12], const uint8_t *in, size_t len,
		   uint8_t *out);

/* The STREAM nonce of chunk counter, the last one if last. */
void age_chunk_nonce(uint64_t counter, bool last, uint8_t nonce[12]);

/* The header's MAC key, from the file key. */
bool age_mac_key(const uint8_t file_key[AGE_FILE_KEY_LEN], uint8_t out[32]);

/* The payload's key, from the file key and the payload's nonce. */
bool age_payload_key(const uint8_t file_key[AGE_FILE_KEY_LEN],
		     const uint8_t nonce[AGE_NONCE_LEN], uint8_t out[32]);

#endif
