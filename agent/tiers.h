/*
 * Tiers as the CLI sees them: the local backup directory and each remote,
 * opened on demand, listed as candidate backups, and read back with every
 * check restore makes.  Used by restore --from/--latest and verify --tier.
 */
#ifndef CBSYNC_TIERS_H
#define CBSYNC_TIERS_H

#include "agent/check.h"
#include "agent/progress.h"
#include "backends/backend.h"
#include "common/backup_name.h"
#include "conf/conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tier {
	const char *name;                 /* "local" or the remote's name */
	const struct conf_remote *remote; /* NULL for the local tier */
	struct backend *backend;          /* opened by tiers_open, NULL for local */
	bool listed;                      /* tiers_candidates could list it */
	struct error list_error;          /* why not, if it could not */
};

struct tier_set {
	struct tier *tiers;
	size_t n;
	uint64_t max_size;   /* bound for a backup without metadata (check_sink_init) */
};

/* The tiers named by which: "local", a remote's name, "all", or NULL for all. */
enum result tiers_open(struct tier_set *set, const struct conf *c, const char *which,
		       struct error *err);
void tiers_close(struct tier_set *set);

struct candidate {
	char name[BACKUP_NAME_MAX];
	struct backup_name parsed;
	size_t tier;      /* index into the set */
	uint64_t size;
	bool has_meta;
};

struct candidate_list {
	struct candidate *items;  /* newest first; for one name, tiers in set order */
	size_t n;
};

/* Every backup the tiers hold.  A tier that cannot be listed is skipped and
 * marked (tier.listed false, tier.list_error); the call fails only when
 * memory runs out. */
enum result tiers_candidates(struct tier_set *set, const struct conf *c,
			     struct candidate_list *out, struct error *err);
void candidates_free(struct candidate_list *l);

/* Read a candidate back into out_fd (an empty file at out_path) with every
 * check: metadata that names it, gzip CRC-32, SHA-256 against the metadata,
 * integrity_check.  What it writes is bounded as check.h says, and a remote
 * that sends more bytes than its listing gave is cut off there.  Fills *meta / *have_meta with the metadata it used. */
enum result tiers_fetch(struct tier_set *set, const struct candidate *cand, const char *local_dir,
			int out_fd, const char *out_path, struct progress *bar,
			struct check_result *res, struct backup_meta *meta, bool *have_meta,
			struct error *err);

/* "local" or "remote 'NAME'", for messages. */
void tier_label(const struct tier *t, char *buf, size_t size);

#endif
