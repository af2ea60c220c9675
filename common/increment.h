/*
 * Increments: their names and their metadata.
 *
 * An increment takes a database from one consistent state to a later one:
 * it holds the latest image of every page that changed in between, as an
 * ordinary gzip'd SQLite WAL file (agent/engine/walfile.h), so a chain can
 * be applied by hand.  Increments hang off the snapshot their chain is
 * rooted in, in a folder of their own on every tier, where nothing can take
 * them for one of the seed's backups:
 *
 *   increments/<snapshot>/<seq first>-<seq last>_<first>_<last>.wal.gz
 *   increments/<snapshot>/<...>.wal.gz.json        its metadata
 *
 * e.g. increments/cloudbrain_daily_20261129_020000/
 *      0000000001-0000000001_20261129_020001_20261129_020001.wal.gz
 *
 * (On the local tier; a remote holds the two as one object under the
 * first key: agent/tiers/packed.h.)
 *
 * <snapshot> is the snapshot's name without ".db.gz".  The sequence numbers
 * count the chain's increments from 1; an increment made by merging several
 * (compaction) covers a range of them, so one increment's seq first is the
 * previous one's seq last + 1.  They are ten digits, so names sort in chain
 * order.  <first> and <last> are the times, to the second and in UTC, of
 * the first and the last transaction it covers.  Every field after the
 * folder has a fixed width, so a name parses from the right.
 *
 * Roll-ups sit in a folder of their own inside the chain's:
 *
 *   increments/<snapshot>/rollups/<seq first>-<seq last>_<first>_<last>.wal.gz
 *
 * A roll-up is an increment like any other (same format, same metadata,
 * its prev the increment before its range), made by merging increments
 * seq first..seq last, and kept beside them rather than in their place: it
 * adds no state of its own (its state is the one after seq last), it lets a
 * restore skip ahead with fewer bytes (agent/tiers/compact.h says when they
 * are made).  An increment's prev is never a roll-up.
 *
 * The metadata (format 1, "kind":"increment") records: the snapshot, the
 * predecessor (none for the first of a chain, which follows the snapshot),
 * the sequence numbers, the first and last transaction to the millisecond,
 * page size, page count after, pages held, sizes, the SHA-256 of the object
 * and the checksum of the whole database state after applying it
 * (agent/engine/pagesum.h), which a restore checks after every step.
 */
#ifndef CBSYNC_INCREMENT_H
#define CBSYNC_INCREMENT_H

#include "common/backup_name.h"
#include "common/hash.h"
#include "common/metacrypt.h"
#include "common/result.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INCR_DIR "increments"
#define INCR_ROLLUP_DIR "rollups"
#define INCR_SUFFIX ".wal.gz"
#define INCR_SEQ_MAX 9999999999ull
/* "increments/" + a snapshot stem + "/rollups/" + 53 characters + ".wal.gz" */
#define INCR_NAME_MAX (BACKUP_NAME_MAX + 96)

struct incr_name {
	char snapshot[BACKUP_NAME_MAX];  /* the chain's snapshot, with ".db.gz" */
	uint64_t seq_first;              /* 1.. */
	uint64_t seq_last;               /* >= seq_first */
	int64_t first;                   /* first transaction, seconds, UTC */
	int64_t last;                    /* last transaction, >= first */
	bool rollup;                     /* in the chain's rollups folder */
};

/* True if key is an increment's object key (as above, not its metadata);
 * fills out (which may be NULL).  The snapshot part must be a backup name. */
bool incr_name_parse(const char *key, struct incr_name *out);

/* Format into buf; false if it does not fit or n is not a valid name. */
bool incr_name_format(const struct incr_name *n, char *buf, size_t size);

struct incr_meta {
	char name[INCR_NAME_MAX];
	char database[BACKUP_STEM_MAX + 1];
	char snapshot[BACKUP_NAME_MAX];
	char prev[INCR_NAME_MAX];       /* "" for the first of a chain */
	uint64_t seq_first;
	uint64_t seq_last;
	int64_t first_tx_ms;            /* milliseconds since the epoch, UTC */
	int64_t last_tx_ms;
	int64_t page_size;
	int64_t page_count;             /* the database's size in pages after it */
	int64_t pages;                  /* pages it holds */
	int64_t original_size;          /* the WAL file's size */
	int64_t compressed_size;        /* the object's size */
	char sha256[SHA256_HEX_LEN + 1];  /* of the object */
	uint64_t state_checksum;        /* of the database after applying it */
	char version[32];
	struct meta_crypt crypt;        /* on an encrypted tier: its object (metacrypt.h) */
};

/* Do a and b end in the same state of their chain: the same seq last, state
 * checksum, page count and page size?  (A roll-up is a way to a state only
 * where an increment ends in the state it claims.) */
bool incr_same_state(const struct incr_meta *a, const struct incr_meta *b);

/* Serialise to a newly allocated NUL-terminated JSON text (with a newline);
 * NULL if out of memory. */
char *incr_meta_to_json(const struct incr_meta *m);

/* Parse and validate: every field present and well typed, the name an
 * increment's that agrees with snapshot, sequence numbers and times, the
 * predecessor the one just before it in the same chain. */
enum result incr_meta_from_json(const char *text, size_t len, struct incr_meta *out,
				struct error *err);

/* A state checksum's written form: 16 lower-case hex digits. */
void incr_checksum_format(uint64_t sum, char buf[17]);
bool incr_checksum_parse(const char *s, uint64_t *out);

#endif
