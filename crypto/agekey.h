/*
 * age's X25519 keys (c2sp.org/age, "The X25519 recipient type"): an
 * identity is a 32-byte X25519 private key, written in Bech32 with the hrp
 * "age-secret-key-" in upper case (AGE-SECRET-KEY-1...); its recipient is
 * the matching public key, in Bech32 with the hrp "age" in lower case
 * (age1...).  Keys come from OpenSSL's libcrypto.
 */
#ifndef CBSYNC_AGEKEY_H
#define CBSYNC_AGEKEY_H

#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGE_KEY_LEN 32
/* Room for an encoded identity or recipient, with its NUL. */
#define AGE_KEY_TEXT 96

/* A new identity from the system's random source. */
enum result age_identity_generate(uint8_t secret[AGE_KEY_LEN], struct error *err);

/* The recipient (public key) of an identity. */
enum result age_recipient_of(const uint8_t secret[AGE_KEY_LEN], uint8_t pub[AGE_KEY_LEN],
			     struct error *err);

void age_identity_encode(const uint8_t secret[AGE_KEY_LEN], char out[AGE_KEY_TEXT]);
void age_recipient_encode(const uint8_t pub[AGE_KEY_LEN], char out[AGE_KEY_TEXT]);

/* Parse "AGE-SECRET-KEY-1..." (upper case, as age writes it) or "age1...";
 * false for anything else: another hrp, a bad checksum, mixed case, a
 * length other than 32 bytes. */
bool age_identity_decode(const char *text, uint8_t secret[AGE_KEY_LEN]);
bool age_recipient_decode(const char *text, uint8_t pub[AGE_KEY_LEN]);

/* A list of recipients as age's -R reads a file of them, or as a config
 * value: keys separated by commas, spaces or newlines, "#" starting a
 * comment to the end of its line.  On success *keys (newly allocated,
 * *n of them, at least one, duplicates dropped) and, when text is not
 * NULL, *text: the keys alone, ", " between them.  On failure why says
 * which item is not an age1 recipient. */
bool age_recipients_parse(const char *value, uint8_t (**keys)[AGE_KEY_LEN], size_t *n,
			  char **text, char *why, size_t why_size);

/* Identities as age-keygen writes them: one AGE-SECRET-KEY-1... a line,
 * "#" comments and blank lines ignored.  Like age_recipients_parse, but why
 * never repeats a key (it names the line). */
bool age_identities_parse(const char *value, uint8_t (**keys)[AGE_KEY_LEN], size_t *n,
			  char *why, size_t why_size);

/* A recipient's fingerprint, for metadata and messages: the first 16 hex
 * digits of the SHA-256 of its age1... text.  Not a secret, and short
 * enough to compare by eye. */
#define AGE_FPR_LEN 16
void age_fingerprint(const uint8_t pub[AGE_KEY_LEN], char out[AGE_FPR_LEN + 1]);

#endif
