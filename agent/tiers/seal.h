/*
 * Sealing an upload: the put filter (backends/backend.h) that makes an
 * object the age file of a local file's bytes, for the keyring's
 * recipients, and reports what a remote's metadata records of it (its
 * SHA-256 and size, and whom it is for: common/metacrypt.h).  The object's
 * size is known before the first byte, as a put needs it.  The caller's
 * thread reads, hashes and encrypts the file; the object's hashing and the
 * put's writes run on a second one (common/bgpipe.h), beside it.
 */
#ifndef CBSYNC_SEAL_H
#define CBSYNC_SEAL_H

#include "agent/tiers/keyring.h"
#include "backends/backend.h"
#include "common/bgpipe.h"
#include "common/hash.h"
#include "common/metacrypt.h"
#include "crypto/age.h"

struct seal {
	struct put_filter filter;
	struct age_enc *enc;
	struct bgpipe *pipe;
	const struct keyring *keys;
	stream_write_fn out;
	void *out_ctx;
	struct sha256 sha;
	bool hashing;
	uint64_t bytes;
};

/* Ready a seal for one upload; CB_ERR_CONFIG when k has no recipients. */
enum result seal_init(struct seal *s, const struct keyring *k, struct error *err);
/* After the put: the object as its metadata records it. */
void seal_result(struct seal *s, struct meta_crypt *out);
void seal_free(struct seal *s);

/* Seal the whole of in (from its start) into out, a new file, for k's
 * recipients, filling *mc with what its metadata records and plain_hex
 * (if not NULL) with the SHA-256 of the bytes read.  With plain_sha256
 * (hex, or NULL), those bytes must hash to it: a file that changed since
 * it was hashed is never sealed (CB_ERR_CORRUPT). */
enum result seal_fd(const struct keyring *k, int in, int out, const char *plain_sha256,
		    struct meta_crypt *mc, char plain_hex[SHA256_HEX_LEN + 1], struct error *err);

#endif
