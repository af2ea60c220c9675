/*
 * Applying the retention policy to the local tier.
 */
#ifndef CBSYNC_PRUNE_H
#define CBSYNC_PRUNE_H

#include "common/result.h"
#include "retention/retention.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct prune_result {
	size_t kept;
	size_t deleted;
	uint64_t freed;  /* bytes of deleted backups */
};

/* Decide with retention_plan and delete what it expires (unless dry_run).
 * Each decision or deletion is reported on report (NULL: nothing printed):
 * with dry_run every backup's decision, otherwise each deletion.  The caller
 * holds the directory's lock unless dry_run. */
enum result prune_local(const char *dir, const struct retention_policy *policy,
			int64_t now, bool dry_run, FILE *report,
			struct prune_result *res, struct error *err);

#endif
