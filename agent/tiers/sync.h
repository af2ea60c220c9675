/*
 * Sync: bring one remote tier in step with the local tier.
 *
 * Reconcile, don't queue.  A sync lists both tiers once, works out what the
 * remote's own retention policy says it should hold -- the policy applied,
 * once, to every backup either tier has -- and uploads, oldest first, each such backup
 * the local tier has and the remote lacks or holds incompletely (metadata
 * first, then the data, whose arrival completes the pair).  It keeps no
 * queue: what to do is recomputed from the two tiers each time, so a crash,
 * a reboot or a remote that was down for a day is repaired by the next sync,
 * and running it twice, or twice at once, does nothing twice.
 *
 * Only the backups of one database (opts->db, the <db> part of their names)
 * take part: another database's backups in the same directory or prefix are
 * neither uploaded nor pruned nor counted.
 *
 * The chains of increments of the snapshots it holds follow, in chain
 * order, for as long as the remote's keep_increments window wants them
 * (sync_chains.c says how a remote that fell behind catches up).
 *
 * Then it deletes from the remote what that same verdict lets go of --
 * nothing else is listed or judged, so a sync costs one listing request
 * plus its uploads and deletions.
 *
 * Half pairs: a run stopped between a backup's metadata and its data (a
 * kill, a full disk) leaves a lone <name>.db.gz.json.  The sync completes
 * it when it uploads that backup anyway; a lone metadata object whose data
 * no tier will send -- the local tier no longer has it, or the remote's
 * policy does not want it -- is removed.
 *
 * Unfinished uploads: before anything else, a sync aborts the uploads that
 * earlier runs of this host started on this remote and never finished
 * (agent/uploads.h), and records its own while they run.
 *
 * A sync stops at the first error; the caller retries later.
 */
#ifndef CBSYNC_SYNC_H
#define CBSYNC_SYNC_H

#include "agent/tiers/prune.h"
#include "agent/tiers/tiers.h"
#include "backends/backend.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sync_opts {
	int64_t now;                   /* for the retention policy */
	const char *db;                /* the database's stem: only its backups are synced */
	bool remove_stale;             /* also clear what old unfinished uploads left */
	stream_progress_fn progress;  /* per file, for a terminal */
	void *progress_ctx;
	/* Called before each upload with the backup's name (for progress labels). */
	void (*on_upload)(void *ctx, const char *name, uint64_t size);
};

struct sync_stats {
	size_t wanted;        /* backups the remote's policy wants that exist somewhere */
	size_t present;       /* ... of which the remote already had */
	size_t uploaded;      /* ... uploaded now */
	uint64_t bytes;       /* bytes uploaded */
	size_t stale_removed;
	size_t unfinished_aborted;    /* uploads a stopped run of this host left, ended now */
	size_t halves_removed;        /* lone metadata objects removed (no data to follow) */
	size_t incrs_uploaded;        /* increments and roll-ups uploaded now */
	size_t skipped;               /* local backups that cannot go up (logged) */
	int64_t newest;               /* the newest state the remote can restore (its last
				       * transaction, seconds), 0 if none */
	/* Set when the remote cannot follow the newest chain: an increment it
	 * lacks is on neither tier (a new snapshot is the way on). */
	char broken[BACKUP_NAME_MAX + 128];
	struct prune_result pruned;   /* the remote's retention */
	struct remote_holdings held;  /* what it holds afterwards (sync_stats_free) */
};

void sync_stats_free(struct sync_stats *st);

/* Bring remote in step with local (the local tier), by remote's policy. */
enum result sync_tier(struct tier *local, struct tier *remote, const struct sync_opts *opts,
		      struct sync_stats *st, struct error *err);

#endif
