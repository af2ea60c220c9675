/*
 * The "encryption" member of metadata (common/meta.h, common/increment.h)
 * that an encrypted tier keeps beside each object, so that a listing and
 * the metadata alone -- no key -- are enough to sync, verify and prune:
 *
 *   "encryption": {"format": "age", "recipients": ["3f1c9a0e5b7d2c44"],
 *                  "object_sha256": "...", "object_size": 1048833}
 *
 * The object is the age file of the backup's gzip bytes, under the
 * backup's key plus ".age"; sha256 and compressed_size elsewhere in the
 * document stay those of the gzip bytes (the plaintext).  recipients are
 * fingerprints (crypto/agekey.h), never keys, so that an error can say
 * which key a restore needs.
 */
#ifndef CBSYNC_METACRYPT_H
#define CBSYNC_METACRYPT_H

#include "common/hash.h"
#include "common/result.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METACRYPT_MAX_RECIPIENTS 64
#define METACRYPT_FPR_LEN 16
/* The suffix of an encrypted object's key. */
#define METACRYPT_SUFFIX ".age"

struct meta_crypt {
	bool encrypted;
	char object_sha256[SHA256_HEX_LEN + 1];
	int64_t object_size;
	size_t n_recipients;
	char recipients[METACRYPT_MAX_RECIPIENTS][METACRYPT_FPR_LEN + 1];
};

/* A copy of metadata text (len bytes) with c as its "encryption" member,
 * newly allocated; NULL if the text is not a JSON object or memory ran
 * out. */
char *metacrypt_add(const char *text, size_t len, const struct meta_crypt *c);

/* Read o's "encryption" member into out (encrypted false when there is
 * none); CB_ERR_CORRUPT, naming what, when it is malformed. */
enum result metacrypt_read(json_t *o, const char *what, struct meta_crypt *out,
			   struct error *err);

/* Does name end in ".age" (after something)? */
bool metacrypt_is_sealed(const char *name);

/* name without its ".age" (name itself when it has none) into out. */
void metacrypt_plain_name(const char *name, char *out, size_t size);

/* "3f1c9a0e5b7d2c44, 0a1b2c3d4e5f6789" into buf. */
void metacrypt_recipients_text(const struct meta_crypt *c, char *buf, size_t size);

#endif
