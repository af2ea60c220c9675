/*
 * Ed25519 keys and signatures (see sign.h).
 */
#include "crypto/sign.h"
#include "crypto/b64.h"

#include "common/hash.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sign_key {
	EVP_PKEY *pkey;
	bool has_private;
	char fpr[SIGN_FPR_LEN + 1];
	char *line;
};

void sign_key_free(struct sign_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k->line);
	free(k);
}

static char *bio_text(BIO *bio)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);
	char *out = len >= 0 ? malloc((size_t)len + 1) : NULL;
	if (out) {
		memcpy(out, data, (size_t)len);
		out[len] = '\0';
	}
	return out;
}

/* The DER of the public half, newly allocated (OPENSSL_free), or NULL. */
static int public_der(EVP_PKEY *pkey, unsigned char **der)
{
	*der = NULL;
	return i2d_PUBKEY(pkey, der);
}

static struct sign_key *wrap(EVP_PKEY *pkey, bool has_private)
{
	unsigned char *der = NULL;
	int len = public_der(pkey, &der);
	struct sign_key *k = len > 0 ? calloc(1, sizeof(*k)) : NULL;
	if (k && !(k->line = malloc(b64_encoded_len((size_t)len, true) + 1))) {
		free(k);
		k = NULL;
	}
	if (!k) {
		OPENSSL_free(der);
		EVP_PKEY_free(pkey);
		return NULL;
	}
	uint8_t digest[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	sha256_buf(der, (size_t)len, digest);
	hex_encode(digest, sizeof(digest), hex);
	memcpy(k->fpr, hex, SIGN_FPR_LEN);
	b64_encode(der, (size_t)len, true, k->line);
	OPENSSL_free(der);
	k->pkey = pkey;
	k->has_private = has_private;
	return k;
}

enum result sign_keygen(char **private_pem, char **public_pem, char **public_line,
			struct error *err)
{
	*private_pem = *public_pem = *public_line = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	EVP_PKEY *pkey = NULL;
	BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
	unsigned char *der = NULL;
	int der_len = 0;
	bool ok = ctx && priv && pub && EVP_PKEY_keygen_init(ctx) == 1 &&
		  EVP_PKEY_keygen(ctx, &pkey) == 1 &&
		  PEM_write_bio_PrivateKey(priv, pkey, NULL, NULL, 0, NULL, NULL) == 1 &&
		  PEM_write_bio_PUBKEY(pub, pkey) == 1 && (der_len = public_der(pkey, &der)) > 0;
	if (ok) {
		*private_pem = bio_text(priv);
		*public_pem = bio_text(pub);
		*public_line = malloc(b64_encoded_len((size_t)der_len, true) + 1);
		if (*public_line)
			b64_encode(der, (size_t)der_len, true, *public_line);
		ok = *private_pem && *public_pem && *public_line;
	}
	OPENSSL_free(der);
	BIO_free(priv);
	BIO_free(pub);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	if (!ok) {
		free(*private_pem);
		free(*public_pem);
		free(*public_line);
		*private_pem = *public_pem = *public_line = NULL;
		return error_set(err, CB_ERR_INTERNAL, "cannot generate an Ed25519 key (libcrypto)");
	}
	return CB_OK;
}

bool sign_key_private(const char *text, struct sign_key **out, char *why, size_t why_size)
{
	*out = NULL;
	BIO *bio = BIO_new_mem_buf(text, -1);
	EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!pkey || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		snprintf(why, why_size, "is not an Ed25519 private key in PEM (BEGIN PRIVATE KEY, "
			 "as cbsync keygen --signing writes it)");
		return false;
	}
	if (!(*out = wrap(pkey, true))) {
		snprintf(why, why_size, "out of memory");
		return false;
	}
	return true;
}

bool sign_key_public(const char *text, struct sign_key **out, char *why, size_t why_size)
{
	EVP_PKEY *pkey = NULL;
	*out = NULL;
	if (strstr(text, "-----BEGIN")) {
		BIO *bio = BIO_new_mem_buf(text, -1);
		pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
	} else {
		uint8_t der[128];
		size_t len = 0, n = strlen(text);
		while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
			n--;
		if (b64_decode(text, n, true, der, sizeof(der), &len)) {
			const unsigned char *p = der;
			pkey = d2i_PUBKEY(NULL, &p, (long)len);
		}
	}
	if (!pkey || EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		EVP_PKEY_free(pkey);
		snprintf(why, why_size, "is not an Ed25519 public key (PEM, or the one line of "
			 "base64 cbsync keygen --signing prints)");
		return false;
	}
	if (!(*out = wrap(pkey, false))) {
		snprintf(why, why_size, "out of memory");
		return false;
	}
	return true;
}

const char *sign_key_fingerprint(const struct sign_key *k)
{
	return k->fpr;
}

const char *sign_key_public_line(const struct sign_key *k)
{
	return k->line;
}

enum result sign_message(const struct sign_key *k, const void *msg, size_t len,
			 uint8_t sig[SIGN_LEN], struct error *err)
{
	size_t sig_len = SIGN_LEN;
	EVP_MD_CTX *ctx = k->has_private ? EVP_MD_CTX_new() : NULL;
	bool ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
		  EVP_DigestSign(ctx, sig, &sig_len, msg, len) == 1 && sig_len == SIGN_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return error_set(err, CB_ERR_INTERNAL, "cannot sign with Ed25519 (libcrypto)");
	return CB_OK;
}

bool sign_verify(const struct sign_key *k, const void *msg, size_t len,
		 const uint8_t sig[SIGN_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
		  EVP_DigestVerify(ctx, sig, SIGN_LEN, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}
