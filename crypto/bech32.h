/*
 * Bech32 (BIP 173), as age encodes its keys: a human-readable part, the
 * separator '1', the data in a 32-character alphabet, and a six-character
 * checksum (the original Bech32 constant, not Bech32m).  Unlike BIP 173,
 * there is no 90-character limit: age's keys are longer than a SegWit
 * address may be.  One case per string: lower, or upper (age's secret
 * keys); mixed case is refused.
 */
#ifndef CBSYNC_BECH32_H
#define CBSYNC_BECH32_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest string these functions handle, and the longest hrp. */
#define BECH32_MAX_LEN 1024
#define BECH32_MAX_HRP 83

/* Encode len bytes under hrp (lower case, 1 to BECH32_MAX_HRP printable
 * US-ASCII characters) into out (size bytes, NUL-terminated), in upper
 * case if upper.  False if hrp is unusable or out is too small. */
bool bech32_encode(const char *hrp, const uint8_t *data, size_t len, bool upper, char *out,
		   size_t size);

/* Decode s into its hrp (lower-cased, into hrp of hrp_size bytes) and its
 * bytes (into data, at most data_size; *len set).  False for anything that
 * is not one well-formed, checksummed Bech32 string whose 5-bit groups
 * make whole bytes (padding of at most 4 zero bits). */
bool bech32_decode(const char *s, char *hrp, size_t hrp_size, uint8_t *data, size_t data_size,
		   size_t *len);

#endif
