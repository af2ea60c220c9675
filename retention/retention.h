/*
 * Retention: which backups of a tier to keep and which to delete.
 *
 * A pure function of (the tier's backups, the policy, now): no I/O, no clock.
 * Every tier (local and each remote) runs the same function on its own
 * listing with its own policy.
 *
 * Rules, applied to each backup in this order (the first that matches
 * decides):
 *   1. pinned by the caller (e.g. a remote still wants it)      -> keep
 *   1b. a chain of increments that is still needed starts from it
 *       (retention_chains)                                     -> keep
 *   2. manual backups and restore points                        -> keep
 *   3. the newest backup of its (database, type)                -> keep
 *   4. its type's rule is forever (also "off"/"never")          -> keep
 *   5. created after now (clock skew: never delete the future)  -> keep
 *   6. age within the type's window (inclusive boundary)        -> keep
 *   7. otherwise                                                -> delete
 *
 * A window is either a number of seconds (7d, 4w, 24h) or a number of
 * calendar months (12m): a backup is within N months if it was created no
 * earlier than the same UTC day-and-time N months before now, the day clamped
 * to the end of a shorter month (31 March minus one month is 28/29 February).
 */
#ifndef CBSYNC_RETENTION_H
#define CBSYNC_RETENTION_H

#include "common/backup_name.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum keep_kind {
	KEEP_FOREVER, /* never pruned automatically ("forever", "off", "never") */
	KEEP_SECONDS, /* amount = seconds */
	KEEP_MONTHS,  /* amount = calendar months */
};

struct keep_rule {
	enum keep_kind kind;
	int64_t amount;
};

struct retention_policy {
	struct keep_rule keep[BT_COUNT];
	/* How far back point-in-time restore reaches: increments are kept
	 * while a time within this window needs them (agent/tiers/prune.h). */
	struct keep_rule increments;
};

struct retention_item {
	const char *db;         /* database part of the name: "newest" is per db */
	enum backup_type type;
	int64_t created;        /* seconds since the epoch, UTC */
	bool pinned;            /* keep regardless of age */
	bool chain;             /* a needed chain starts from it: keep */
};

enum retention_reason {
	RR_PINNED,
	RR_CHAIN,         /* a needed chain of increments starts from it */
	RR_NEVER_PRUNED,  /* manual or restore point */
	RR_NEWEST,
	RR_FOREVER,
	RR_FUTURE,
	RR_WITHIN,
	RR_EXPIRED,       /* the only reason that deletes */
};

struct retention_decision {
	bool keep;
	enum retention_reason reason;
};

/* The seed's policy: daily 7 days, weekly 4 weeks, monthly 12 months, change
 * 24 hours, manual and restore points forever. */
void retention_policy_default(struct retention_policy *p);

/* Decide for each of the n items; out has n entries, in the same order.
 * Returns false (and keeps everything) only if memory ran out. */
bool retention_plan(const struct retention_item *items, size_t n,
		    const struct retention_policy *policy, int64_t now,
		    struct retention_decision *out);

/* Chains of increments (common/increment.h) for one database: a chain
 * serves the times from its snapshot's until the next chain's snapshot, and
 * is needed while any of those falls within window (the newest chain always
 * is, as are chains from the future).  bases are the chains' snapshot times,
 * ascending; needed gets n answers.  A needed chain keeps its increments and
 * its snapshot; the others' increments can go. */
void retention_chains(const int64_t *bases, size_t n, const struct keep_rule *window,
		      int64_t now, bool *needed);

/* The earliest creation time still within rule at now (for KEEP_SECONDS and
 * KEEP_MONTHS); INT64_MIN for KEEP_FOREVER. */
int64_t retention_cutoff(const struct keep_rule *rule, int64_t now);

/* Describe a rule in the largest unit that divides it exactly: "1w" (for 7
 * days), "4w", "8d", "1d" (for 24 hours), "36h", "90min", "90s", "12m"
 * (months), "forever".  conf_parse_keep reads every form back. */
void keep_rule_format(const struct keep_rule *rule, char *buf, size_t size);

/* The reason for a decision, for --dry-run: "newest daily backup",
 * "within 1w", "older than 1w". */
void retention_reason_format(const struct retention_decision *d,
			     enum backup_type type, const struct retention_policy *p,
			     char *buf, size_t size);

#endif
