/*
 * age's X25519 keys (see agekey.h).
 */
#include "crypto/agekey.h"
#include "crypto/bech32.h"

#include <openssl/evp.h>
#include <string.h>

#define IDENTITY_HRP "age-secret-key-"
#define RECIPIENT_HRP "age"

enum result age_identity_generate(uint8_t secret[AGE_KEY_LEN], struct error *err)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL);
	EVP_PKEY *key = NULL;
	size_t len = AGE_KEY_LEN;
	bool ok = ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &key) == 1 &&
		  EVP_PKEY_get_raw_private_key(key, secret, &len) == 1 && len == AGE_KEY_LEN;
	EVP_PKEY_free(key);
	EVP_PKEY_CTX_free(ctx);
	if (!ok)
		return error_set(err, CB_ERR_INTERNAL, "cannot generate an X25519 key (libcrypto)");
	return CB_OK;
}

enum result age_recipient_of(const uint8_t secret[AGE_KEY_LEN], uint8_t pub[AGE_KEY_LEN],
			     struct error *err)
{
	EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, secret, AGE_KEY_LEN);
	size_t len = AGE_KEY_LEN;
	bool ok = key && EVP_PKEY_get_raw_public_key(key, pub, &len) == 1 && len == AGE_KEY_LEN;
	EVP_PKEY_free(key);
	if (!ok)
		return error_set(err, CB_ERR_INTERNAL,
				 "cannot derive an X25519 public key (libcrypto)");
	return CB_OK;
}

void age_identity_encode(const uint8_t secret[AGE_KEY_LEN], char out[AGE_KEY_TEXT])
{
	/* 15 + 1 + 52 + 6 characters: always fits. */
	(void)bech32_encode(IDENTITY_HRP, secret, AGE_KEY_LEN, true, out, AGE_KEY_TEXT);
}

void age_recipient_encode(const uint8_t pub[AGE_KEY_LEN], char out[AGE_KEY_TEXT])
{
	(void)bech32_encode(RECIPIENT_HRP, pub, AGE_KEY_LEN, false, out, AGE_KEY_TEXT);
}

static bool decode(const char *text, const char *want_hrp, bool upper, uint8_t key[AGE_KEY_LEN])
{
	char hrp[BECH32_MAX_HRP + 1];
	uint8_t data[AGE_KEY_LEN + 1];
	size_t len = 0;
	if (!bech32_decode(text, hrp, sizeof(hrp), data, sizeof(data), &len) ||
	    strcmp(hrp, want_hrp) != 0 || len != AGE_KEY_LEN)
		return false;
	/* age writes each kind in one case only, and so reads it. */
	for (const char *p = text; *p; p++)
		if (upper ? (*p >= 'a' && *p <= 'z') : (*p >= 'A' && *p <= 'Z'))
			return false;
	memcpy(key, data, AGE_KEY_LEN);
	return true;
}

bool age_identity_decode(const char *text, uint8_t secret[AGE_KEY_LEN])
{
	return decode(text, IDENTITY_HRP, true, secret);
}

bool age_recipient_decode(const char *text, uint8_t pub[AGE_KEY_LEN])
{
	return decode(text, RECIPIENT_HRP, false, pub);
}
