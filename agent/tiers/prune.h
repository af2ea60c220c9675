/*
 * Applying retention to a tier: the same code for the local tier and every
 * remote; only the local tier's pruning passes pins (the cross-tier safety
 * rule below).
 *
 * The local tier never deletes a backup that some remote's policy still
 * wants and that remote does not hold yet: it is pinned until it has been
 * uploaded.  What a remote holds is known from its last listing; for a
 * remote whose holdings are unknown (never listed: down since the agent
 * started), everything its policy wants is pinned.
 *
 * Chains of increments follow the tier's keep_increments window
 * (retention_chains): a chain that still serves a time within it keeps its
 * increments, and its snapshot is kept (RR_CHAIN); the others' increments
 * are deleted -- metadata of increments whose data is gone too -- whatever
 * becomes of their snapshot.
 *
 * Every function here acts on one database's backups only: db is its stem
 * (backup_db_stem), and a backup whose name has another <db> part -- another
 * server sharing the directory or prefix -- is never judged or deleted.
 */
#ifndef CBSYNC_PRUNE_H
#define CBSYNC_PRUNE_H

#include "agent/tiers/catalog.h"
#include "agent/tiers/tiers.h"
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
	uint64_t freed;  /* bytes of deleted backups and increments */
	size_t chains_kept;     /* chains of increments still needed */
	size_t chains_deleted;  /* chains whose increments went */
	size_t incrs_deleted;   /* increments deleted (data and metadata) */
};

/* What one remote holds, as far as the local tier's pruning is concerned. */
struct remote_holdings {
	const char *name;
	const struct retention_policy *keep;
	bool known;      /* held[] is from a listing; false: holdings unknown */
	char **held;     /* names of the backups it holds complete */
	size_t n_held;
};

/* Apply the tier's policy (t->keep) to the whole backups in cat (database
 * db's only) and delete what it expires, unless dry_run.  pins are what
 * the remotes hold (NULL, 0 for none: a remote's own pruning): a backup some
 * remote's policy wants and that remote lacks is kept.  Each decision or
 * deletion is reported on report (NULL: nothing printed): with dry_run every
 * backup's decision, otherwise each deletion.  Fills held (if not NULL) with
 * the names the tier holds afterwards (free with holdings_free).  The caller
 * holds the local directory's lock when t is the local tier and not dry_run. */
enum result prune_tier(struct tier *t, const struct catalog *cat, const char *db,
		       const struct remote_holdings *pins, size_t n_pins, int64_t now,
		       bool dry_run, FILE *report, struct prune_result *res,
		       struct remote_holdings *held, struct error *err);

/* The same with the tier listed first (tier_catalog). */
enum result prune_listed(struct tier *t, const char *db, const struct remote_holdings *pins,
			 size_t n_pins, int64_t now, bool dry_run, FILE *report,
			 struct prune_result *res, struct remote_holdings *held,
			 struct error *err);

/* One backup of a tier with the policy's verdict on it. */
struct prune_item {
	const struct catalog_entry *e;
	struct retention_decision d;
};

/* Carry out verdicts already reached (prune_tier's second half; sync's,
 * which decides over both tiers at once). */
enum result prune_apply(struct tier *t, const struct prune_item *items, size_t n,
			bool dry_run, FILE *report, struct prune_result *res,
			struct remote_holdings *held, struct error *err);

/* Only the chains of increments of prune_tier: those of db on the tier
 * (listed as cat) that its keep_increments window no longer needs lose
 * their increments; adds to res. */
enum result prune_chains(struct tier *t, const struct catalog *cat, const char *db, int64_t now,
			 struct prune_result *res, struct error *err);
void holdings_free(struct remote_holdings *h);

#endif
