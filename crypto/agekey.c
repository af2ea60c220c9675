/*
 * age's X25519 keys (see agekey.h).
 */
#include "crypto/agekey.h"
#include "crypto/bech32.h"

#include "common/hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
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

void age_fingerprint(const uint8_t pub[AGE_KEY_LEN], char out[AGE_FPR_LEN + 1])
{
	char text[AGE_KEY_TEXT];
	uint8_t digest[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	age_recipient_encode(pub, text);
	sha256_buf(text, strlen(text), digest);
	hex_encode(digest, sizeof(digest), hex);
	memcpy(out, hex, AGE_FPR_LEN);
	out[AGE_FPR_LEN] = '\0';
}

/* Walk the items of value: separated by sep characters, "#" to the end of
 * a line a comment.  Calls each(item, len, line) until it returns false. */
static bool items(const char *value, const char *sep,
		  bool (*each)(void *ctx, const char *item, size_t len, int line), void *ctx)
{
	int line = 1;
	const char *p = value;
	while (*p) {
		if (*p == '#') {
			while (*p && *p != '\n')
				p++;
			continue;
		}
		if (*p == '\n')
			line++;
		if (strchr(sep, *p) || *p == '\n' || *p == '\r') {
			p++;
			continue;
		}
		size_t len = strcspn(p, sep);
		size_t nl = strcspn(p, "\r\n#");
		if (nl < len)
			len = nl;
		if (!each(ctx, p, len, line))
			return false;
		p += len;
	}
	return true;
}

struct parse_ctx {
	bool identities;
	uint8_t (*keys)[AGE_KEY_LEN];
	size_t n, cap;
	char *why;
	size_t why_size;
	bool nomem;
};

static bool add_key(void *vctx, const char *item, size_t len, int line)
{
	struct parse_ctx *ctx = vctx;
	char text[AGE_KEY_TEXT];
	uint8_t key[AGE_KEY_LEN];
	while (len && (item[len - 1] == ' ' || item[len - 1] == '\t'))
		len--;
	bool ok = len < sizeof(text);
	if (ok) {
		memcpy(text, item, len);
		text[len] = '\0';
		ok = ctx->identities ? age_identity_decode(text, key) : age_recipient_decode(text, key);
	}
	if (!ok) {
		if (ctx->identities)
			snprintf(ctx->why, ctx->why_size,
				 "line %d is not an age identity (AGE-SECRET-KEY-1..., as "
				 "age-keygen or cbsync keygen write it)",
				 line);
		else
			snprintf(ctx->why, ctx->why_size,
				 "holds \"%.*s\", which is not an age recipient (age1..., as cbsync keygen or "
				 "age-keygen print it)",
				 len > 80 ? 80 : (int)len, item);
		return false;
	}
	for (size_t i = 0; i < ctx->n; i++)
		if (memcmp(ctx->keys[i], key, AGE_KEY_LEN) == 0)
			return true;
	if (ctx->n == ctx->cap) {
		size_t cap = ctx->cap ? ctx->cap * 2 : 4;
		void *grown = realloc(ctx->keys, cap * AGE_KEY_LEN);
		if (!grown) {
			ctx->nomem = true;
			snprintf(ctx->why, ctx->why_size, "out of memory");
			return false;
		}
		ctx->keys = grown;
		ctx->cap = cap;
	}
	memcpy(ctx->keys[ctx->n++], key, AGE_KEY_LEN);
	return true;
}

static bool parse_keys(const char *value, bool identities, uint8_t (**keys)[AGE_KEY_LEN],
		       size_t *n, char *why, size_t why_size)
{
	struct parse_ctx ctx = {.identities = identities, .why = why, .why_size = why_size};
	*keys = NULL;
	*n = 0;
	if (!items(value, identities ? " \t" : ", \t", add_key, &ctx)) {
		if (ctx.keys)
			OPENSSL_cleanse(ctx.keys, ctx.n * AGE_KEY_LEN);
		free(ctx.keys);
		return false;
	}
	if (ctx.n == 0) {
		snprintf(why, why_size, "holds no %s", identities ? "identity" : "recipient");
		return false;
	}
	*keys = ctx.keys;
	*n = ctx.n;
	return true;
}

bool age_recipients_parse(const char *value, uint8_t (**keys)[AGE_KEY_LEN], size_t *n,
			  char **text, char *why, size_t why_size)
{
	if (!parse_keys(value, false, keys, n, why, why_size))
		return false;
	if (!text)
		return true;
	size_t cap = *n * (AGE_KEY_TEXT + 2) + 1, len = 0;
	if (!(*text = malloc(cap))) {
		free(*keys);
		*keys = NULL;
		snprintf(why, why_size, "out of memory");
		return false;
	}
	(*text)[0] = '\0';
	for (size_t i = 0; i < *n; i++) {
		char one[AGE_KEY_TEXT];
		age_recipient_encode((*keys)[i], one);
		len += (size_t)snprintf(*text + len, cap - len, "%s%s", i ? ", " : "", one);
	}
	return true;
}

bool age_identities_parse(const char *value, uint8_t (**keys)[AGE_KEY_LEN], size_t *n,
			  char *why, size_t why_size)
{
	return parse_keys(value, true, keys, n, why, why_size);
}
