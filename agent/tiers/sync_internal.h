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

/* Upload what the remote lacks of snapshot's chain (the remote holds the
 * snapshot): mine and cat are the local tier's and the remote's catalogs
 * (cat as listed before this sync's uploads). */
enum result sync_chain(struct tier *local, struct tier *remote, const char *snapshot,
		       const struct catalog *mine, const struct catalog *cat,
		       struct sync_stats *st, struct sync_reach *reach, struct error *err);
#endif
