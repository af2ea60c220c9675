/*
 * Ed25519 signatures (RFC 8032) through OpenSSL's libcrypto, for the
 * metadata cbsync writes: a private key in PKCS#8 PEM ("BEGIN PRIVATE
 * KEY", as `openssl genpkey -algorithm ed25519` writes it) signs; its
 * public half, as PEM ("BEGIN PUBLIC KEY") or that PEM's one line of
 * base64 (the DER SubjectPublicKeyInfo), verifies -- also by hand, with
 * `openssl pkeyutl -verify -pubin -inkey key.pem -rawin`.
 */
#ifndef CBSYNC_SIGN_H
#define CBSYNC_SIGN_H

#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGN_LEN 64
/* A key's fingerprint: the first 16 hex digits of the SHA-256 of its
 * public half's DER. */
#define SIGN_FPR_LEN 16

struct sign_key;

/* A new key pair: the private key as PEM, the public one as PEM and as
 * its one line of base64; all newly allocated. */
enum result sign_keygen(char **private_pem, char **public_pem, char **public_line,
			struct error *err);

/* Parse a private key (PEM), or a public one (PEM or its base64 line);
 * false, with why, for anything but an Ed25519 key of that kind. */
bool sign_key_private(const char *text, struct sign_key **out, char *why, size_t why_size);
bool sign_key_public(const char *text, struct sign_key **out, char *why, size_t why_size);
void sign_key_free(struct sign_key *k);

/* The key's public fingerprint (SIGN_FPR_LEN hex digits), and its public
 * half as one line of base64. */
const char *sign_key_fingerprint(const struct sign_key *k);
const char *sign_key_public_line(const struct sign_key *k);

/* Sign len bytes with a private key; verify with either kind. */
enum result sign_message(const struct sign_key *k, const void *msg, size_t len,
			 uint8_t sig[SIGN_LEN], struct error *err);
bool sign_verify(const struct sign_key *k, const void *msg, size_t len,
		 const uint8_t sig[SIGN_LEN]);

#endif
