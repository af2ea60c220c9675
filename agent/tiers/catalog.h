/*
 * A tier's catalog: its listing read as backups.  One type for every tier,
 * the local backup directory included (agent/tiers.h lists them all the
 * same way).
 *
 * Only top-level keys that are backup names (<name>.db.gz) or their
 * metadata (<name>.db.gz.json) count as backups; anything else under the
 * remote's root -- other tools' files, temp files of unfinished uploads,
 * keys in subdirectories -- is counted but never treated as a backup, so
 * cbsync never touches what it did not make.
 *
 * Increments (common/increment.h) are the one kind of key in a
 * subdirectory cbsync reads: increments/<snapshot>/<...>.wal.gz and its
 * .json.  They are listed apart from the backups (catalog.incrs), never
 * mixed in with them, so that what acts on backups -- sync, retention, the
 * seed's list view -- neither sees nor touches them.
 */
#ifndef CBSYNC_CATALOG_H
#define CBSYNC_CATALOG_H

#include "backends/backend.h"
#include "common/backup_name.h"
#include "common/increment.h"
#include "common/meta.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One backup on one tier. */
struct catalog_entry {
	char name[BACKUP_NAME_MAX];
	struct backup_name parsed;
	bool has_data;      /* <name>.db.gz is there, or <name>.db.gz.age */
	bool encrypted;     /* ... the .age (common/metacrypt.h), and no .db.gz */
	bool twin;          /* both <name>.db.gz and its .age are there */
	uint64_t size;      /* its size */
	int64_t mtime;
	bool has_meta;      /* <name>.db.gz.json is there -- and, once read
			     * (meta set), usable and naming this backup */
	struct backup_meta *meta;  /* read by tier_read_meta, or NULL */
	char *meta_error;   /* why metadata that is there was unusable, or NULL */
};

/* One increment on one tier: its object, its metadata, or both. */
struct catalog_incr {
	char key[INCR_NAME_MAX];  /* increments/<snapshot stem>/<...>.wal.gz */
	struct incr_name parsed;
	bool has_data;      /* the object is there (or its .age) */
	bool encrypted;     /* ... its .age, and not the object itself */
	bool twin;          /* both the object and its .age are there */
	bool has_meta;      /* <key>.json is there -- and, once read (meta
			     * set), usable and naming this increment */
	uint64_t size;      /* the object's size */
	int64_t mtime;
	bool packed;        /* a remote's object that holds its own metadata
			     * (agent/tiers/packed.h); has_meta is then set */
	size_t head_len;    /* packed: where its .wal.gz starts, once read */
	size_t meta_len;    /* its metadata text's length, once read */
	bool shipped;       /* the local tier's, uploaded by this sync pass */
	struct incr_meta *meta;   /* read by tier_read_incr_meta, or NULL */
	char *meta_error;   /* why metadata that is there was unusable, or NULL */
};

struct catalog {
	struct catalog_entry *items;  /* newest first */
	size_t n;
	/* Increments, by snapshot name, then seq first, then seq last (an
	 * increment merged from several sorts after the first of them), then
	 * key: each chain is one run (catalog_chain). */
	struct catalog_incr *incrs;
	size_t n_incrs;
	size_t foreign;               /* objects that are not cbsync's */
	size_t temp;                  /* temp objects of unfinished uploads */
	size_t other_db;              /* backups of other databases (catalog_keep_db) */
	size_t unsafe;                /* backup-like names cbsync would never write */
	char unsafe_example[96];      /* the first of those, escaped for printing */
};

enum result catalog_build(const struct backend_listing *l, struct catalog *out,
			  struct error *err);
void catalog_free(struct catalog *c);

/* Keep only the backups of database db (the <db> part of their names), and
 * the increments of chains rooted in its backups' names: retention, sync
 * and restore act on what this database made and nothing else, so
 * databases sharing a prefix never touch each other's backups. */
void catalog_keep_db(struct catalog *c, const char *db);

/* Log one warning (component comp) if the listing held backup-like names
 * cbsync would never write (a space, a control character, ...): they are
 * ignored, never fatal, and never deleted. */
void catalog_warn_unsafe(const struct catalog *c, const char *comp,
			 const char *remote_name);

/* The key of an entry's data: its name, or its name plus ".age" when it
 * is encrypted (buf of at least BACKUP_NAME_MAX + 8 bytes). */
const char *catalog_data_key(const struct catalog_entry *e, char *buf, size_t size);
const char *catalog_incr_data_key(const struct catalog_incr *e, char *buf, size_t size);

/* The entry for name, or NULL. */
struct catalog_entry *catalog_find(const struct catalog *c, const char *name);

/* The increments rooted in snapshot (a backup name, "<stem>.db.gz"): the
 * run of c->incrs that is its chain as listed, in chain order, or NULL
 * with *n = 0.  Whether they really link up is for the metadata to say
 * (agent/tiers/pitr.h). */
struct catalog_incr *catalog_chain(const struct catalog *c, const char *snapshot, size_t *n);

#endif
