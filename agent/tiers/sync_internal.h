/*
 * Between sync.c and sync_chains.c: shipping one chain of increments.
 */
#ifndef CBSYNC_SYNC_INTERNAL_H
#define CBSYNC_SYNC_INTERNAL_H
#include "agent/tiers/sync.h"
#include <stdint.h>

/* How far a chain reaches on the remote once shipped. */
struct sync_reach {
	uint64_t seq;      /* seq last of the state it reaches; 0: the snapshot's */
	int64_t time;      /* that state's last transaction (seconds); 0: the snapshot's */
	uint64_t gap;      /* the seq the remote needs next that no tier has; 0: none */
};

/* Upload the local file at path under key, and its metadata (json, the
 * local tier's text, or NULL when it has none) under key + ".json".  On a
 * remote that encrypts, the object is sealed (seal.h) under key + ".age"
 * and goes first, its metadata after, with the "encryption" member only
 * then known; elsewhere the metadata goes first, so that the data's
 * arrival completes the pair.  The metadata is signed when the keyring
 * has a signing key.  *sent: the bytes that went up. */
/* plain_there / age_there: the remote holds the object / its .age already
 * (from before encrypt changed): the one this upload does not replace is
 * removed once it is done, so that one name never has both. */
enum result sync_put(struct tier *remote, const char *key, const char *path, const char *json,
		     size_t json_len, struct put_file_opts *po, bool plain_there, bool age_there,
		     uint64_t *sent, struct error *err);

/* Upload an object the local tier holds sealed already ([local] encrypt):
 * path is its age file, which goes up as it is under key plus ".age"
 * (whether the remote encrypts or not: only an identity could open it),
 * then its metadata (json, which records it), signed.  plain_there: the
 * remote holds key itself, removed once the upload is done. */
enum result sync_put_sealed(struct tier *remote, const char *key, const char *path,
			    const char *json, size_t json_len, struct put_file_opts *po,
			    bool plain_there, uint64_t *sent, struct error *err);

/* Record in the local tier's operations log (file only) one upload of
 * object to remote that began at start (time_mono): its bytes, or the
 * error it failed with (r, err). */
void sync_audit_upload(const struct tier *local, const struct tier *remote, const char *object,
		       uint64_t bytes, double start, enum result r, const struct error *err);

/* Upload what the remote lacks of snapshot's chain (the remote holds the
 * snapshot): mine and cat are the local tier's and the remote's catalogs
 * (cat as listed before this sync's uploads). */
enum result sync_chain(struct tier *local, struct tier *remote, const char *snapshot,
		       const struct catalog *mine, const struct catalog *cat,
		       struct sync_stats *st, struct sync_reach *reach, struct error *err);
#endif
