/*
 * Private to replicate.c and replicate_state.c: the chain file, where the
 * local tier's chain of increments stands (replicate.h).
 */
#ifndef CBSYNC_REPLICATE_INTERNAL_H
#define CBSYNC_REPLICATE_INTERNAL_H

#include "agent/engine/walsource.h"
#include "common/backup_name.h"
#include "common/increment.h"
#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where the chain is. */
struct chain_state {
	char snapshot[BACKUP_NAME_MAX];
	uint64_t seq;                  /* the last increment's; 0: none yet */
	char last[INCR_NAME_MAX];      /* its name, "" for none */
	int64_t last_ms;               /* its state's time (or the snapshot's) */
	uint64_t checksum;             /* the state's */
	struct walpos pos;             /* the state's place in the live WAL */
};

/* <dir>/.cbsync-chain/<db><suffix>, newly allocated (NULL: no memory). */
char *replicate_state_path(const char *dir, const char *db_path, const char *suffix);

/* Write the chain file atomically. */
enum result replicate_state_write(const char *dir, const char *db_path,
				  const struct chain_state *s, struct error *err);

/* Read the chain file, or false (why says why) if there is none to trust.
 * A position that is missing or not well formed is not a reason: it reads
 * as unknown (s->pos.valid false), and the next capture is a page diff. */
bool replicate_state_read(const char *dir, const char *db_path, struct chain_state *s,
			  char *why, size_t size);

#endif
