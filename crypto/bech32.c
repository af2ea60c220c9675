/*
 * Bech32 (see bech32.h).  The checksum is BIP 173's: a BCH code over
 * GF(32) computed with the generator constants the BIP gives, over the
 * expanded hrp (high bits of each character, a zero, low bits) and the
 * data, with the final XOR constant 1.
 */
#include "crypto/bech32.h"

#include <string.h>

static const char alphabet[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static uint32_t polymod_step(uint32_t chk, uint8_t v)
{
	static const uint32_t gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
					0x2a1462b3};
	uint32_t top = chk >> 25;
	chk = ((chk & 0x1ffffff) << 5) ^ v;
	for (int i = 0; i < 5; i++)
		if ((top >> i) & 1)
			chk ^= gen[i];
	return chk;
}

static uint32_t hrp_polymod(const char *hrp, size_t n)
{
	uint32_t chk = 1;
	for (size_t i = 0; i < n; i++)
		chk = polymod_step(chk, (uint8_t)((unsigned char)hrp[i] >> 5));
	chk = polymod_step(chk, 0);
	for (size_t i = 0; i < n; i++)
		chk = polymod_step(chk, (uint8_t)(hrp[i] & 31));
	return chk;
}

static bool hrp_ok(const char *hrp, size_t n)
{
	if (n < 1 || n > BECH32_MAX_HRP)
		return false;
	for (size_t i = 0; i < n; i++)
		if (hrp[i] < 33 || hrp[i] > 126 || (hrp[i] >= 'A' && hrp[i] <= 'Z'))
			return false;
	return true;
}

bool bech32_encode(const char *hrp, const uint8_t *data, size_t len, bool upper, char *out,
		   size_t size)
{
	size_t n = strlen(hrp);
	size_t groups = (len * 8 + 4) / 5;
	if (!hrp_ok(hrp, n) || len > BECH32_MAX_LEN || n + 1 + groups + 6 + 1 > size)
		return false;
	uint32_t chk = hrp_polymod(hrp, n);
	char *o = out;
	memcpy(o, hrp, n);
	o += n;
	*o++ = '1';
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len) {
			acc = (acc << 8) | data[i];
			bits += 8;
		} else if (bits > 0) {
			acc <<= 5 - bits; /* the last group, zero-padded */
			bits = 5;
		}
		while (bits >= 5) {
			bits -= 5;
			uint8_t v = (uint8_t)((acc >> bits) & 31);
			chk = polymod_step(chk, v);
			*o++ = alphabet[v];
		}
	}
	for (int i = 0; i < 6; i++)
		chk = polymod_step(chk, 0);
	chk ^= 1;
	for (int i = 0; i < 6; i++)
		*o++ = alphabet[(chk >> (5 * (5 - i))) & 31];
	*o = '\0';
	if (upper)
		for (char *p = out; p < o; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
	return true;
}

bool bech32_decode(const char *s, char *hrp, size_t hrp_size, uint8_t *data, size_t data_size,
		   size_t *len)
{
	char low[BECH32_MAX_LEN + 1];
	size_t n = strnlen(s, BECH32_MAX_LEN + 1);
	bool has_lower = false, has_upper = false;
	if (n > BECH32_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c < 33 || c > 126)
			return false;
		has_lower |= c >= 'a' && c <= 'z';
		has_upper |= c >= 'A' && c <= 'Z';
		low[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	low[n] = '\0';
	if (has_lower && has_upper)
		return false;
	const char *sep = strrchr(low, '1');
	if (!sep)
		return false;
	size_t hn = (size_t)(sep - low), dn = n - hn - 1;
	if (!hrp_ok(low, hn) || dn < 6 || hn + 1 > hrp_size)
		return false;
	uint32_t chk = hrp_polymod(low, hn);
	uint32_t acc = 0;
	int bits = 0;
	size_t out = 0;
	for (size_t i = 0; i < dn; i++) {
		const char *at = strchr(alphabet, sep[1 + i]);
		if (!at || !*at)
			return false;
		uint8_t v = (uint8_t)(at - alphabet);
		chk = polymod_step(chk, v);
		if (i >= dn - 6)
			continue; /* the checksum's characters */
		acc = (acc << 5) | v;
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (out == data_size)
				return false;
			data[out++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* Padding: fewer than 5 bits, all zero. */
	if (chk != 1 || bits >= 5 || acc != 0)
		return false;
	memcpy(hrp, low, hn);
	hrp[hn] = '\0';
	*len = out;
	return true;
}
