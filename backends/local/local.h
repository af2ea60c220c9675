/*
 * The local backend's second use: the local tier itself.
 *
 * The backup directory ([local] dir) holds the same objects as a mirror
 * (<name>.db.gz and its .json), so cbsync lists, reads, prunes and verifies
 * it through this backend like any remote.  Opened this way the backend
 * behaves as a local directory should rather than as a mount that may come
 * back: a missing directory is an empty tier (it is made by the first
 * write), file-system errors are local I/O errors (CB_ERR_IO and friends,
 * never "retry later"), and error lines are not prefixed with a remote's
 * name.  What only the local tier does -- its lock, the snapshot writer,
 * the tidying of temp files of killed runs -- lives in the agent's local-tier
 * module, not here.
 */
#ifndef CBSYNC_BACKEND_LOCAL_H
#define CBSYNC_BACKEND_LOCAL_H

#include "backends/backend.h"

extern const struct backend_ops backend_local;

/* Open dir as the local tier (named "local"); close with backend_close. */
enum result local_tier_open(const char *dir, struct backend **out, struct error *err);

#endif
