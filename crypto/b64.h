/*
 * Base64 (RFC 4648, section 4, the standard alphabet) as age uses it: its
 * header writes it without '=' padding, its ASCII armor with.  Decoding is
 * strict both ways, as the age specification requires: only the alphabet,
 * no padding where none belongs (or, padded, exactly the padding there
 * must be), and the canonical encoding only -- the unused low bits of the
 * last character must be zero, so that one byte string has one text.
 */
#ifndef CBSYNC_B64_H
#define CBSYNC_B64_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Characters (without the NUL) that encoding n bytes takes. */
size_t b64_encoded_len(size_t n, bool pad);

/* Encode n bytes into out (b64_encoded_len + 1 bytes), NUL-terminated. */
void b64_encode(const uint8_t *in, size_t n, bool pad, char *out);

/* Decode the n characters at in into out (at most out_size bytes); false
 * unless they are the canonical encoding of some bytes and those fit. */
bool b64_decode(const char *in, size_t n, bool pad, uint8_t *out, size_t out_size,
		size_t *out_len);

#endif
