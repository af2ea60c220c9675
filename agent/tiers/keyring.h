/*
 * The keys a process works with, read once from [encryption] and
 * [signing] (conf.h): the age recipients new objects on an encrypted tier
 * are for, the identities and passphrase a restore decrypts with, the
 * Ed25519 key that signs the metadata going to a remote and the public key
 * that the metadata coming from one must verify with.  Immutable once
 * loaded, so threads share it.
 *
 * A signature is a member of the metadata document:
 *
 *   "signature": {"key": "<fingerprint of the public key>",
 *                 "signed": "<the document without this member, as compact JSON>",
 *                 "ed25519": "<base64 of the 64-byte signature of signed>"}
 *
 * so that anyone can check one by hand:
 *   jq -j .signature.signed X.db.gz.json > msg
 *   jq -r .signature.ed25519 X.db.gz.json | base64 -d > sig
 *   openssl pkeyutl -verify -pubin -inkey verify.pem -rawin -in msg -sigfile sig
 * and cbsync, besides the signature, checks that signed is the document
 * itself, so no field is left out of it.
 */
#ifndef CBSYNC_KEYRING_H
#define CBSYNC_KEYRING_H

#include "common/metacrypt.h"
#include "common/result.h"
#include "conf/conf.h"
#include "crypto/age.h"
#include "crypto/agekey.h"
#include "crypto/sign.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct keyring {
	uint8_t (*recipients)[AGE_KEY_LEN];
	char (*recipient_fprs)[AGE_FPR_LEN + 1];
	size_t n_recipients;
	uint8_t (*identities)[AGE_KEY_LEN];
	char (*identity_fprs)[AGE_FPR_LEN + 1];  /* their recipients' fingerprints */
	size_t n_identities;
	char *passphrase;            /* NULL: none */
	struct sign_key *signer;     /* NULL: metadata is not signed */
	struct sign_key *verifier;   /* NULL: signatures are not required */
};

/* The keys configuration c names (an empty keyring when it names none). */
enum result keyring_load(const struct conf *c, struct keyring **out, struct error *err);
void keyring_free(struct keyring *k);

/* Can k decrypt anything: an identity or a passphrase?  (k may be NULL.) */
bool keyring_can_decrypt(const struct keyring *k);

/* What age decryption may use of k (k NULL: nothing). */
struct age_identities keyring_identities(const struct keyring *k);

/* "3f1c9a0e5b7d2c44, ..." of the identities held, or "none" */
void keyring_identities_text(const struct keyring *k, char *buf, size_t size);

/* Metadata text (len bytes) signed with k's signer: a new document with
 * its "signature" member, newly allocated in *out (*out_len bytes).
 * Without a signer, a plain copy. */
enum result keyring_sign_meta(const struct keyring *k, const char *text, size_t len, char **out,
			      size_t *out_len, struct error *err);

/* With a verifier: CB_OK only for metadata whose signature is there, is
 * over the document itself and verifies; else CB_ERR_CORRUPT saying
 * which.  Without one: CB_OK. */
enum result keyring_check_meta(const struct keyring *k, const char *text, size_t len,
			       struct error *err);

#endif
