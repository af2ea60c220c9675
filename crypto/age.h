/*
 * The age v1 file format (c2sp.org/age), both ways, as streams.
 *
 * An age file is a text header that wraps a random 16-byte file key for
 * each recipient, closed by an HMAC of the header under a key derived
 * from the file key, then a binary payload: a 16-byte nonce and the
 * plaintext in 64 KiB chunks, each sealed with ChaCha20-Poly1305 under a
 * key derived from the file key and the nonce, the chunk's number and a
 * last-chunk flag as its nonce.  Every primitive (X25519, HKDF-SHA-256,
 * HMAC-SHA-256, ChaCha20-Poly1305, scrypt) is OpenSSL's libcrypto.
 *
 * Encryption writes to X25519 recipients (age1...).  Decryption takes
 * X25519 identities (AGE-SECRET-KEY-1...) and a passphrase (an scrypt
 * stanza, as `age -p` writes), reads the binary format and the ASCII
 * armor (`age -a`), ignores stanzas of other types as the specification
 * says, and is strict about everything else.  Memory is bounded either
 * way: one chunk, and a header of at most AGE_HEADER_MAX bytes.
 *
 * Decryption hands each chunk's plaintext to its sink only once the
 * chunk's tag has been checked, so a damaged file can have given part of
 * its plaintext before it fails: a caller that must not act on a partial
 * result (a restore) checks the whole result anyway.
 */
#ifndef CBSYNC_AGE_H
#define CBSYNC_AGE_H

#include "common/result.h"
#include "common/stream.h"
#include "crypto/agekey.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGE_FILE_KEY_LEN 16
#define AGE_CHUNK 65536
#define AGE_TAG_LEN 16
#define AGE_NONCE_LEN 16
/* The longest header decryption reads (age's own are a few hundred bytes
 * a recipient), and the most recipients one file is encrypted to. */
#define AGE_HEADER_MAX 65536
#define AGE_MAX_RECIPIENTS 64
/* The highest scrypt work factor (log2 N) decryption accepts: N = 2^20
 * with r = 8 takes 1 GiB of memory, which an object on a hostile remote
 * may ask for and no more.  `age -p` writes 18 (age's own limit is 22). */
#define AGE_SCRYPT_MAX_LOG 20

/* The payload's size for plain_size bytes of plaintext: the nonce, the
 * plaintext and a tag per chunk (at least one chunk, for an empty file). */
uint64_t age_payload_size(uint64_t plain_size);

struct age_enc;

/* Start a file encrypted to the n X25519 recipients (1 to
 * AGE_MAX_RECIPIENTS), written to sink; nothing is written before the
 * first age_enc_write or age_enc_finish.  The header's length is known at
 * once (age_enc_header_len), so the file's size is too. */
enum result age_enc_new(const uint8_t (*recipients)[AGE_KEY_LEN], size_t n, stream_write_fn sink,
			void *sink_ctx, struct age_enc **out, struct error *err);
size_t age_enc_header_len(const struct age_enc *e);
enum result age_enc_write(struct age_enc *e, const void *buf, size_t len, struct error *err);
/* Seal the last chunk.  Free with age_enc_free whatever the result. */
enum result age_enc_finish(struct age_enc *e, struct error *err);
void age_enc_free(struct age_enc *e);

/* What decryption may use. */
struct age_identities {
	const uint8_t (*x25519)[AGE_KEY_LEN];  /* identities (secret keys) */
	size_t n_x25519;
	const char *passphrase;                /* NULL: none */
	size_t passphrase_len;
	unsigned max_scrypt_log;               /* 0: AGE_SCRYPT_MAX_LOG */
};

/* Why a decryption failed, the classes of the C2SP/CCTV test vectors. */
enum age_failure {
	AGE_FAIL_NONE = 0,
	AGE_FAIL_ARMOR,     /* the ASCII armor is malformed */
	AGE_FAIL_HEADER,    /* not an age v1 header, or a malformed one */
	AGE_FAIL_NO_MATCH,  /* well formed, but no identity opens any stanza */
	AGE_FAIL_HMAC,      /* a stanza opened, and the header's MAC is wrong */
	AGE_FAIL_PAYLOAD,   /* the payload is damaged, cut short or too long */
};

struct age_dec;

/* Start decrypting a file written to age_dec_write, its plaintext going to
 * sink.  The identities are copied. */
enum result age_dec_new(const struct age_identities *ids, stream_write_fn sink, void *sink_ctx,
			struct age_dec **out, struct error *err);
/* Failures: CB_ERR_CORRUPT (armor, header, MAC, payload; err says which),
 * CB_ERR_CONFIG for no match (err says what the file was for), or the
 * sink's own error.  The first failure sticks. */
enum result age_dec_write(struct age_dec *d, const void *buf, size_t len, struct error *err);
/* The end of the file: the last chunk must have come, whole. */
enum result age_dec_finish(struct age_dec *d, struct error *err);
enum age_failure age_dec_failure(const struct age_dec *d);
/* Once the header is read: how many X25519 stanzas it has, and whether it
 * is a passphrase's (scrypt). */
size_t age_dec_x25519_stanzas(const struct age_dec *d);
bool age_dec_is_passphrase(const struct age_dec *d);
void age_dec_free(struct age_dec *d);

#endif
