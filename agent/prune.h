/*
 * Applying retention: to the local tier, with the cross-tier safety rule, and
 * to a remote's own listing.
 *
 * The local tier never deletes a backup that some remote's policy still
 * wants and that remote does not hold yet: it is pinned until it has been
 * uploaded.  What a remote holds is known from its last listing; for a
 * remote whose holdings are unknown (never listed: down since the agent
 * started), everything its policy wants is pinned.
 *
 * Every function here acts on one database's backups only: db is its stem
 * (backup_db_stem), and a backup whose name has another <db> part -- another
 * server sharing the directory or prefix -- is never judged or deleted.
 */
#ifndef CBSYNC_PRUNE_H
#define CBSYNC_PRUNE_H

#include "agent/catalog.h"
#include "backends/backend.h"
#include "common/result.h"
#include "retention/retention.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct prune_result {
	size_t kept;
	size_t deleted;
	size_t pinned;   /* kept only because a remote still wants them */
	uint64_t freed;  /* bytes of deleted backups */
};

/* What one remote holds, as far as the local tier's pruning is concerned. */
struct remote_holdings {
	const char *name;
	const struct retention_policy *keep;
	bool known;      /* held[] is from a listing; false: holdings unknown */
	char **held;     /* names of the backups it holds complete */
	size_t n_held;
};

/* Decide with retention_plan and delete what it expires (unless dry_run).
 * Each decision or deletion is reported on report (NULL: nothing printed):
 * with dry_run every backup's decision, otherwise each deletion.  The caller
 * holds the directory's lock unless dry_run. */
enum result prune_local(const char *dir, const char *db, const struct retention_policy *policy,
			const struct remote_holdings *remotes, size_t n_remotes, int64_t now,
			bool dry_run, FILE *report, struct prune_result *res, struct error *err);

/* The same for a remote: list it, apply its policy to what it holds, delete
 * the expired backups (data first, then metadata).  Objects that are not
 * cbsync backups are never touched.  Fills held (if not NULL) with the names
 * it holds afterwards (free with holdings_free). */
enum result prune_remote(struct backend *b, const char *db, const struct retention_policy *keep,
			 int64_t now,
			 bool dry_run, FILE *report, struct prune_result *res,
			 struct remote_holdings *held, struct error *err);

/* The same on a catalog the caller already has (no listing request). */
enum result prune_catalog(struct backend *b, const struct remote_catalog *cat, const char *db,
			  const struct retention_policy *keep, int64_t now, bool dry_run,
			  FILE *report, struct prune_result *res, struct remote_holdings *held,
			  struct error *err);

void holdings_free(struct remote_holdings *h);

#endif
