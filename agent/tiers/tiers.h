/*
 * Tiers: the local backup directory and each remote, all opened through the
 * backend interface (the local directory as backends/local/local.h's local
 * tier) and all read the same way -- listed as a catalog, their metadata
 * read, their backups fetched back with every check restore makes.  list,
 * stats, sync, prune, verify, restore and the agent's catch-up use them.
 */
#ifndef CBSYNC_TIERS_H
#define CBSYNC_TIERS_H

#include "agent/tiers/catalog.h"
#include "agent/tiers/keyring.h"
#include "agent/engine/check.h"
#include "agent/engine/progress.h"
#include "backends/backend.h"
#include "common/backup_name.h"
#include "conf/conf.h"
#include "retention/retention.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tier {
	const char *name;                   /* "local" or the remote's name */
	const struct conf_remote *remote;   /* its section, if a remote opened from one */
	const char *dir;                    /* the local tier's directory; NULL: a remote */
	const struct retention_policy *keep; /* the tier's retention policy */
	struct backend *backend;            /* open while the tier is */
	bool encrypt;                       /* new objects go up as age files (conf.h) */
	const struct keyring *keys;         /* the process's keys, or NULL for none */
	const char *log_dir;                /* where its deletions are recorded (oplog.h):
					     * the local tier's directory, or NULL */
	bool listed;                        /* tiers_candidates could list it */
	struct error list_error;            /* why not, if it could not */
};

/* Open the local tier (dir, kept by keep: [local] dir and keep_*) or a
 * remote (backend_open: no request is made yet); close with tier_close.
 * The tier keeps the pointers it is given. */
enum result tier_open_local(struct tier *t, const char *dir, const struct retention_policy *keep,
			    struct error *err);
enum result tier_open_remote(struct tier *t, const struct conf_remote *rc, struct error *err);
void tier_close(struct tier *t);

/* List the tier as a catalog of database db's backups (db NULL: every
 * database's), newest first, warning (component comp) about names cbsync
 * would never write (comp NULL: no warning, for a second listing in one
 * pass).  The local tier's metadata is read for every backup as
 * well -- a file read each, which list, stats and sync all need; a remote's
 * costs a request each, so it is read on demand with tier_read_meta.  The
 * increments' metadata is read on demand on every tier (tier_read_incr_meta):
 * a chain has many, and only a restore or a verify needs them. */
enum result tier_catalog(struct tier *t, const char *db, const char *comp, struct catalog *out,
			 struct error *err);

/* The local tier of configuration c listed (tier_catalog with every
 * database's backups), opened and closed around it. */
enum result tier_catalog_local(const struct conf *c, const char *comp, struct catalog *out,
			       struct error *err);

/* Read e's metadata into e->meta (if not read yet): CB_OK when it is there,
 * usable and names e; CB_ERR_NOT_FOUND when e has none; else the error. */
enum result tier_read_meta(struct tier *t, struct catalog_entry *e, struct error *err);

/* Read increment e's metadata into e->meta (if not read yet), bounded by
 * META_MAX_BYTES and validated (incr_meta_from_json): CB_OK when it is
 * there, usable and names e; CB_ERR_NOT_FOUND when e has none; else the
 * error (CB_ERR_CORRUPT for metadata that is unusable or names another
 * increment). */
enum result tier_read_incr_meta(struct tier *t, struct catalog_incr *e, struct error *err);

/* Stream increment e's .wal.gz from t to sink, no more than its listing
 * gave; of a packed one (packed.h), whose metadata must have been read,
 * what follows its metadata member. */
enum result tier_fetch_incr(struct tier *t, const struct catalog_incr *e, stream_write_fn sink,
			    void *sink_ctx, struct error *err);

/* Remove backup e from the tier: its data first (so that it vanishes at
 * once; the .age of it too on a tier that encrypts), then its metadata. */
enum result tier_delete(struct tier *t, const struct catalog_entry *e, struct error *err);

/* "local" or "remote 'NAME'", for messages. */
void tier_label(const struct tier *t, char *buf, size_t size);

struct tier_set {
	struct tier *tiers;
	size_t n;
	struct keyring *keys;    /* the configuration's, each tier's keys */
	uint64_t max_size;   /* bound for a backup without metadata (check_sink_init) */
};

/* The tiers named by which: "local", a remote's name, "all", or NULL for
 * all; the local tier first. */
enum result tiers_open(struct tier_set *set, const struct conf *c, const char *which,
		       struct error *err);
void tiers_close(struct tier_set *set);

struct candidate {
	char name[BACKUP_NAME_MAX];
	struct backup_name parsed;
	size_t tier;      /* index into the set */
	uint64_t size;
	bool has_meta;
	bool encrypted;   /* its object is the .age (catalog.h) */
};

/* An increment one tier holds, as its catalog listed it: its metadata is
 * read on demand (tier_read_incr_meta on the tier) and freed with the list. */
struct incr_candidate {
	struct catalog_incr e;
	size_t tier;      /* index into the set */
};

struct candidate_list {
	struct candidate *items;  /* newest first; for one name, tiers in set order */
	size_t n;
	struct incr_candidate *incrs;  /* tier by tier in set order, each in chain order */
	size_t n_incrs;
};

/* Every backup and increment the tiers hold.  A tier that cannot be listed
 * is skipped and marked (tier.listed false, tier.list_error); the call
 * fails only when memory runs out. */
enum result tiers_candidates(struct tier_set *set, struct candidate_list *out,
			     struct error *err);
void candidates_free(struct candidate_list *l);

/* Read a candidate back into out_fd (an empty file at out_path) with every
 * check: metadata that names it, gzip CRC-32, SHA-256 against the metadata,
 * integrity_check.  What it writes is bounded as check.h says, and a tier
 * that sends more bytes than its listing gave is cut off there.  Fills
 * *meta / *have_meta with the metadata it used. */
enum result tiers_fetch(struct tier_set *set, const struct candidate *cand, int out_fd,
			const char *out_path, struct progress *bar, struct check_result *res,
			struct backup_meta *meta, bool *have_meta, struct error *err);

/* tiers_fetch without the checks of the image as a database (integrity,
 * state checksum; res gets no page size or count): for a snapshot that
 * increments will change first, whose chain checks its state and whose
 * result is checked as a database at the end (engine/restore.h). */
enum result tiers_fetch_image(struct tier_set *set, const struct candidate *cand, int out_fd,
			      const char *out_path, struct progress *bar,
			      struct check_result *res, struct backup_meta *meta, bool *have_meta,
			      struct error *err);

/* An encrypted candidate checked without its key: its metadata (signature
 * included) must be there and say it is encrypted, and the object must
 * have the SHA-256 and size it records.  Nothing is decrypted. */
enum result tiers_check_sealed(struct tier_set *set, const struct candidate *cand,
			       struct backup_meta *meta, struct error *err);

/* The metadata of a candidate, read from its tier and naming it:
 * CB_ERR_NOT_FOUND when it has none. */
enum result tiers_candidate_meta(struct tier_set *set, const struct candidate *cand,
				 struct backup_meta *meta, struct error *err);

/* Stream an increment's object from its tier into sink, cut off (as
 * corrupt) past the size its listing gave. */
enum result tiers_fetch_incr(struct tier_set *set, const struct incr_candidate *ic,
			     stream_write_fn sink, void *sink_ctx, struct error *err);

#endif
