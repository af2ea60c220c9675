/*
 * The libcrypto primitives age is built from (see age_internal.h).
 */
#include "crypto/age_internal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <string.h>

bool age_hkdf(const uint8_t *ikm, size_t ikm_len, const uint8_t *salt, size_t salt_len,
	      const char *info, uint8_t out[32])
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];
	size_t n = 0;
	params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikm_len);
	/* No salt is HashLen zero bytes (RFC 5869, 2.2): the same key as an
	 * empty one, since HMAC pads its key with zeros. */
	if (salt_len)
		params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
								salt_len);
	params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
							strlen(info));
	params[n] = OSSL_PARAM_construct_end();
	bool ok = ctx && EVP_KDF_derive(ctx, out, 32, params) == 1;
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok;
}

bool age_hmac(const uint8_t key[32], const void *data, size_t len, uint8_t out[AGE_MAC_LEN])
{
	unsigned int out_len = 0;
	return HMAC(EVP_sha256(), key, 32, data, len, out, &out_len) && out_len == AGE_MAC_LEN;
}

bool age_x25519(const uint8_t secret[AGE_KEY_LEN], const uint8_t point[AGE_KEY_LEN],
		uint8_t out[AGE_KEY_LEN])
{
	EVP_PKEY *mine = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, secret, AGE_KEY_LEN);
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, point, AGE_KEY_LEN);
	EVP_PKEY_CTX *ctx = mine ? EVP_PKEY_CTX_new(mine, NULL) : NULL;
	size_t len = AGE_KEY_LEN;
	/* libcrypto refuses an all-zero shared secret itself; the check
	 * below does not rely on that. */
	bool ok = ctx && peer && EVP_PKEY_derive_init(ctx) == 1 &&
		  EVP_PKEY_derive_set_peer(ctx, peer) == 1 && EVP_PKEY_derive(ctx, out, &len) == 1 &&
		  len == AGE_KEY_LEN;
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(mine);
	if (!ok)
		return false;
	uint8_t any = 0;
	for (size_t i = 0; i < AGE_KEY_LEN; i++)
		any |= out[i];
	return any != 0;
}

struct age_aead {
	EVP_CIPHER_CTX *ctx;
	uint8_t key[32];
};

struct age_aead *age_aead_new(const uint8_t key[32])
{
	struct age_aead *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx) {
		free(a);
		return NULL;
	}
	memcpy(a->key, key, 32);
	return a;
}

void age_aead_free(struct age_aead *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->ctx);
	OPENSSL_cleanse(a->key, sizeof(a->key));
	free(a);
}

static bool aead_init(struct age_aead *a, const uint8_t nonce[12], int enc)
{
	return EVP_CipherInit_ex(a->ctx, EVP_chacha20_poly1305(), NULL, NULL, NULL, enc) == 1 &&
	       EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) == 1 &&
	       EVP_CipherInit_ex(a->ctx, NULL, NULL, a->key, nonce, enc) == 1;
}

bool age_aead_seal(struct age_aead *a, const uint8_t nonce[12], const uint8_t *in, size_t len,
		   uint8_t *out)
{
	int n = 0, fin = 0;
	if (len > INT32_MAX || !aead_init(a, nonce, 1))
		return false;
	if (len && EVP_EncryptUpdate(a->ctx, out, &n, in, (int)len) != 1)
		return false;
	if (EVP_EncryptFinal_ex(a->ctx, out + n, &fin) != 1 || (size_t)(n + fin) != len)
		return false;
	return EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, AGE_TAG_LEN, out + len) == 1;
}

bool age_aead_open(struct age_aead *a, const uint8_t nonce[12], const uint8_t *in, size_t len,
		   uint8_t *out)
{
	int n = 0, fin = 0;
	if (len < AGE_TAG_LEN || len > INT32_MAX || !aead_init(a, nonce, 0))
		return false;
	size_t body = len - AGE_TAG_LEN;
	if (EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, AGE_TAG_LEN,
				(void *)(in + body)) != 1)
		return false;
	if (body && EVP_DecryptUpdate(a->ctx, out, &n, in, (int)body) != 1)
		return false;
	return EVP_DecryptFinal_ex(a->ctx, out + n, &fin) == 1 && (size_t)(n + fin) == body;
}

void age_chunk_nonce(uint64_t counter, bool last, uint8_t nonce[12])
{
	memset(nonce, 0, 12);
	for (int i = 0; i < 8; i++)
		nonce[10 - i] = (uint8_t)(counter >> (8 * i));
	nonce[11] = last ? 1 : 0;
}

bool age_mac_key(const uint8_t file_key[AGE_FILE_KEY_LEN], uint8_t out[32])
{
	return age_hkdf(file_key, AGE_FILE_KEY_LEN, NULL, 0, "header", out);
}

bool age_payload_key(const uint8_t file_key[AGE_FILE_KEY_LEN],
		     const uint8_t nonce[AGE_NONCE_LEN], uint8_t out[32])
{
	return age_hkdf(file_key, AGE_FILE_KEY_LEN, nonce, AGE_NONCE_LEN, "payload", out);
}

uint64_t age_payload_size(uint64_t plain_size)
{
	uint64_t chunks = plain_size ? (plain_size + AGE_CHUNK - 1) / AGE_CHUNK : 1;
	return AGE_NONCE_LEN + plain_size + chunks * AGE_TAG_LEN;
}
