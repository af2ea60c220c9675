/*
 * The process's keys, and metadata signatures (see keyring.h).
 */
#include "agent/tiers/keyring.h"
#include "common/jsondoc.h"
#include "crypto/b64.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void keyring_free(struct keyring *k)
{
	if (!k)
		return;
	if (k->identities)
		OPENSSL_cleanse(k->identities, k->n_identities * AGE_KEY_LEN);
	if (k->passphrase)
		OPENSSL_cleanse(k->passphrase, strlen(k->passphrase));
	free(k->recipients);
	free(k->recipient_fprs);
	free(k->identities);
	free(k->identity_fprs);
	free(k->passphrase);
	sign_key_free(k->signer);
	sign_key_free(k->verifier);
	free(k);
}

static enum result config_error(struct error *err, const char *section, const char *key,
				const char *why)
{
	return error_set(err, CB_ERR_CONFIG, "[%s] %s %s", section, key, why);
}

enum result keyring_load(const struct conf *c, struct keyring **out, struct error *err)
{
	char why[256];
	struct keyring *k = calloc(1, sizeof(*k));
	enum result r = CB_OK;
	*out = NULL;
	if (!k)
		return error_nomem(err);
	if (c->enc_recipients &&
	    !age_recipients_parse(c->enc_recipients, &k->recipients, &k->n_recipients, NULL, why,
				  sizeof(why)))
		r = config_error(err, "encryption", "recipients", why);
	if (!r && c->enc_identity &&
	    !age_identities_parse(c->enc_identity, &k->identities, &k->n_identities, why,
				  sizeof(why)))
		r = config_error(err, "encryption", "identity", why);
	if (!r && c->enc_passphrase && !(k->passphrase = strdup(c->enc_passphrase)))
		r = error_nomem(err);
	if (!r && c->sign_key && !sign_key_private(c->sign_key, &k->signer, why, sizeof(why)))
		r = config_error(err, "signing", "key", why);
	if (!r && c->sign_verify_key &&
	    !sign_key_public(c->sign_verify_key, &k->verifier, why, sizeof(why)))
		r = config_error(err, "signing", "verify_key", why);
	if (!r && ((k->n_recipients &&
		    !(k->recipient_fprs = calloc(k->n_recipients, sizeof(*k->recipient_fprs)))) ||
		   (k->n_identities &&
		    !(k->identity_fprs = calloc(k->n_identities, sizeof(*k->identity_fprs))))))
		r = error_nomem(err);
	for (size_t i = 0; !r && i < k->n_recipients; i++)
		age_fingerprint(k->recipients[i], k->recipient_fprs[i]);
	for (size_t i = 0; !r && i < k->n_identities; i++) {
		uint8_t pub[AGE_KEY_LEN];
		if (!(r = age_recipient_of(k->identities[i], pub, err)))
			age_fingerprint(pub, k->identity_fprs[i]);
	}
	if (r) {
		keyring_free(k);
		return r;
	}
	*out = k;
	return CB_OK;
}

bool keyring_can_decrypt(const struct keyring *k)
{
	return k && (k->n_identities || k->passphrase);
}

struct age_identities keyring_identities(const struct keyring *k)
{
	if (!k)
		return (struct age_identities){0};
	return (struct age_identities){
		.x25519 = (const uint8_t(*)[AGE_KEY_LEN])k->identities,
		.n_x25519 = k->n_identities,
		.passphrase = k->passphrase,
		.passphrase_len = k->passphrase ? strlen(k->passphrase) : 0,
	};
}

void keyring_identities_text(const struct keyring *k, char *buf, size_t size)
{
	size_t len = 0;
	snprintf(buf, size, "none");
	for (size_t i = 0; k && i < k->n_identities && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
					k->identity_fprs[i]);
}

/* The message a signature is over: o without its "signature" member, as
 * compact JSON in document order. */
static char *signed_text(json_t *o)
{
	json_t *copy = json_copy(o);
	if (!copy)
		return NULL;
	json_object_del(copy, "signature");
	char *s = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	json_decref(copy);
	return s;
}

enum result keyring_sign_meta(const struct keyring *k, const char *text, size_t len, char **out,
			      size_t *out_len, struct error *err)
{
	*out = NULL;
	if (!k || !k->signer) {
		if (!(*out = malloc(len + 1)))
			return error_nomem(err);
		memcpy(*out, text, len);
		(*out)[len] = '\0';
		*out_len = len;
		return CB_OK;
	}
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return error_set(err, CB_ERR_INTERNAL, "metadata to sign is not a JSON object");
	}
	char *msg = signed_text(o);
	uint8_t sig[SIGN_LEN];
	char b64[b64_encoded_len(SIGN_LEN, true) + 1];
	enum result r = msg ? sign_message(k->signer, msg, strlen(msg), sig, err) : error_nomem(err);
	if (!r) {
		b64_encode(sig, sizeof(sig), true, b64);
		json_t *s = json_pack("{s:s, s:s, s:s}", "key", sign_key_fingerprint(k->signer),
				      "signed", msg, "ed25519", b64);
		if (!s || json_object_set_new(o, "signature", s))
			r = error_nomem(err);
	}
	free(msg);
	if (r) {
		json_decref(o);
		return r;
	}
	if (!(*out = jsondoc_text(o)))
		return error_nomem(err);
	*out_len = strlen(*out);
	return CB_OK;
}

enum result keyring_check_meta(const struct keyring *k, const char *text, size_t len,
			       struct error *err)
{
	if (!k || !k->verifier)
		return CB_OK;
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *s = o ? json_object_get(o, "signature") : NULL;
	enum result r = CB_OK;
	const char *fpr = sign_key_fingerprint(k->verifier);
	if (!o || !json_is_object(o)) {
		r = error_set(err, CB_ERR_CORRUPT, "its metadata is not a JSON object");
		goto out;
	}
	if (!s) {
		r = error_set(err, CB_ERR_CORRUPT,
			      "its metadata has no signature, and [signing] verify_key (%s) requires "
			      "one",
			      fpr);
		goto out;
	}
	const char *msg = json_string_value(json_object_get(s, "signed"));
	const char *b64 = json_string_value(json_object_get(s, "ed25519"));
	uint8_t sig[SIGN_LEN + 1];
	size_t sig_len = 0;
	char *mine = signed_text(o);
	if (!mine) {
		r = error_nomem(err);
		goto out;
	}
	bool same = msg && strcmp(msg, mine) == 0;
	free(mine);
	if (!same)
		r = error_set(err, CB_ERR_CORRUPT,
			      "its metadata was changed after it was signed (the signed copy "
			      "differs)");
	else if (!b64 || !b64_decode(b64, strlen(b64), true, sig, sizeof(sig), &sig_len) ||
		 sig_len != SIGN_LEN || !sign_verify(k->verifier, msg, strlen(msg), sig))
		r = error_set(err, CB_ERR_CORRUPT,
			      "its metadata's signature does not verify with [signing] verify_key "
			      "(%s)",
			      fpr);
out:
	json_decref(o);
	return r;
}
