/*
 * Shipping chains of increments to a remote (sync.h).
 *
 * For each chain the remote should hold, the remote's own increments are
 * walked from the snapshot on, as a restore would: from the state reached
 * so far (seq pos - 1), the furthest increment there that starts at pos.
 * Where the remote has none, the local tier's is uploaded, packed with its
 * metadata into one object (packed.h), so a remote always holds a chain's
 * whole beginning, never a gap a restore would stop at.  A remote that
 * fell behind by more than BACKLOG_SECONDS (an outage, a slow link) gets
 * the backlog as roll-ups where the local tier has them (each with the
 * increment that ends in its state, which a restore needs to trust it:
 * pitr.h), not one object per second of the backlog.  Roll-ups of ten
 * minutes and more of stretches the remote holds already follow, so that
 * a restore from the remote reads little more than one from the local
 * tier.
 */
#include "agent/tiers/sync_internal.h"
#include "agent/tiers/packed.h"
#include "common/fsutil.h"
#include "common/meta.h"
#include "common/timeutil.h"
#include "crypto/age.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKLOG_SECONDS 60

/*
 * A run is in chain order (catalog.h: seq first, then seq last, then key),
 * and a chain a day long holds tens of thousands of increments: a sync,
 * once a second, looks them up by bisection, never by a scan per step.
 */

/* The first increment of run (n long) whose seq first is at least seq. */
static size_t first_at(const struct catalog_incr *run, size_t n, uint64_t seq)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (run[mid].parsed.seq_first < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The increment of run with the key (and so the seqs) of e, or NULL. */
static struct catalog_incr *find(struct catalog_incr *run, size_t n, const struct catalog_incr *e)
{
	for (size_t i = first_at(run, n, e->parsed.seq_first);
	     i < n && run[i].parsed.seq_first == e->parsed.seq_first; i++)
		if (strcmp(run[i].key, e->key) == 0)
			return &run[i];
	return NULL;
}

/* Does the remote hold local increment li whole: packed, at the local
 * size and its metadata member's (packed.h); or, as cbsync wrote it before
 * packing, the object at the local size and a .json beside it? */
static bool held(struct tier *local, struct catalog_incr *rrun, size_t rn,
		 struct catalog_incr *li)
{
	const struct catalog_incr *r = find(rrun, rn, li);
	struct error ignored = {0};
	if (!r || !r->has_data || !r->has_meta || r->twin)
		return false;
	if (li->encrypted)   /* a sealed local one goes up as it is */
		return r->encrypted && r->size == li->size;
	if (r->encrypted)
		return r->size > age_payload_size(li->size);
	if (!r->packed)
		return r->size == li->size;
	/* At least: a signature makes the remote's metadata longer. */
	return tier_read_incr_meta(local, li, &ignored) == CB_OK &&
	       r->size >= li->size + li->meta_len + PACKED_OVERHEAD;
}

/* The fine increment of run starting at seq that ends at last, or NULL. */
static struct catalog_incr *fine_from(struct catalog_incr *run, size_t n, uint64_t seq,
				      uint64_t last)
{
	for (size_t i = first_at(run, n, seq); i < n && run[i].parsed.seq_first == seq; i++)
		if (!run[i].parsed.rollup && run[i].parsed.seq_last == last)
			return &run[i];
	return NULL;
}

/* The fine increment of run that ends where roll-up e ends (e's voucher),
 * or NULL: a one-commit increment at its end, or the increment compaction
 * merged from the same stretch; anything else is looked for the long way. */
static struct catalog_incr *voucher(struct catalog_incr *run, size_t n,
				    const struct catalog_incr *e)
{
	uint64_t last = e->parsed.seq_last;
	struct catalog_incr *v = fine_from(run, n, last, last);
	if (!v)
		v = fine_from(run, n, e->parsed.seq_first, last);
	for (size_t i = 0; !v && i < n; i++)
		if (!run[i].parsed.rollup && run[i].parsed.seq_last == last)
			v = &run[i];
	return v;
}

/* Upload local increment li to the remote packed (packed.h): one object,
 * one request.  A lone .json the remote holds for it (an upload from before
 * packing, cut short) goes first, or readers would take the new object
 * for the old format. */
static enum result upload_incr(struct tier *local, struct tier *remote, struct catalog_incr *li,
			       struct catalog_incr *rrun, size_t rn, struct sync_stats *st,
			       struct error *err)
{
	char meta_key[INCR_NAME_MAX + 8];
	char *json = NULL, *path = NULL;
	unsigned char *head = NULL;
	size_t json_len = 0, head_len = 0;
	const struct catalog_incr *there = find(rrun, rn, li);
	double start = time_mono();
	enum result r;

	if ((r = tier_read_incr_meta(local, li, err)))
		return r == CB_ERR_NOT_FOUND
			       ? error_set(err, CB_ERR_CORRUPT, "local increment '%s' has no "
					   "metadata; not uploaded; HINT: run 'cbsync verify'",
					   li->key)
			       : r;
	snprintf(meta_key, sizeof(meta_key), "%s%s", li->key, META_SUFFIX);
	if (asprintf(&path, "%s/%s%s", local->dir, li->key, li->encrypted ? METACRYPT_SUFFIX : "") < 0)
		return error_nomem(err);
	if (li->encrypted || remote->encrypt) {
		/* An age file is not packed: its metadata goes beside it, where
		 * it can be read without the key.  One sealed here already goes
		 * up as it is; else it is sealed on the way. */
		uint64_t sent = 0;
		bool has = there && there->has_data;
		bool plain_there = has && (!there->encrypted || there->twin);
		bool age_there = has && (there->encrypted || there->twin);
		struct put_file_opts po = {.sha256_hex = li->encrypted ? li->meta->crypt.object_sha256
								  : li->meta->sha256};
		if (li->encrypted && !li->meta->crypt.encrypted)
			r = error_set(err, CB_ERR_CORRUPT, "the metadata of local increment '%s' "
				      "does not record its age file; not uploaded; HINT: run "
				      "'cbsync verify'", li->key);
		else if (!(r = backend_get_buffer(local->backend, meta_key, META_MAX_BYTES, &json,
						  &json_len, err)))
			r = li->encrypted ? sync_put_sealed(remote, li->key, path, json, json_len, &po,
							    plain_there, &sent, err)
					  : sync_put(remote, li->key, path, json, json_len, &po,
						     plain_there, age_there, &sent, err);
		sync_audit_upload(local, remote, li->key, sent, start, r, err);
		if (!r) {
			li->shipped = true;
			st->incrs_uploaded++;
			st->bytes += sent;
		}
		free(path);
		free(json);
		return r;
	}
	/* The metadata inside, signed when there is a signing key. */
	char *text = NULL;
	size_t text_len = 0;
	if (!(r = backend_get_buffer(local->backend, meta_key, META_MAX_BYTES, &json, &json_len,
				     err)) &&
	    !(r = keyring_sign_meta(remote->keys, json, json_len, &text, &text_len, err)) &&
	    !(r = packed_head(text, text_len, &head, &head_len, err)) &&
	    !(r = there && there->has_meta && !there->packed
			  ? backend_remove(remote->backend, meta_key, err) : CB_OK)) {
		struct put_file_opts po = {.sha256_hex = li->meta->sha256, .head = head,
					   .head_len = head_len};
		char age_key[INCR_NAME_MAX + 8];
		snprintf(age_key, sizeof(age_key), "%s%s", li->key, METACRYPT_SUFFIX);
		r = backend_put_file(remote->backend, li->key, path, &po, err);
		/* An .age of it from when the remote encrypted goes. */
		if (!r && there && there->has_data && (there->encrypted || there->twin))
			r = backend_remove(remote->backend, age_key, err);
	}
	free(text);
	sync_audit_upload(local, remote, li->key, li->size + head_len, start, r, err);
	if (r == CB_OK) {
		li->shipped = true;
		st->incrs_uploaded++;
		st->bytes += li->size + head_len;
	}
	free(path);
	free(json);
	free(head);
	return r;
}

/* The local increment to ship next from pos on: a roll-up when the remote
 * is far behind and one starts there, else the furthest-reaching
 * increment that starts there; NULL when the local chain has none. */
static struct catalog_incr *next_local(struct catalog_incr *run, size_t n, uint64_t pos,
				       int64_t newest)
{
	struct catalog_incr *fine = NULL, *roll = NULL;
	for (size_t i = first_at(run, n, pos); i < n && run[i].parsed.seq_first == pos; i++) {
		struct catalog_incr *e = &run[i];
		if (!e->parsed.rollup) {
			if (!fine || e->parsed.seq_last > fine->parsed.seq_last)
				fine = e;
		} else if (voucher(run, n, e) && (!roll || e->parsed.seq_last > roll->parsed.seq_last)) {
			roll = e;
		}
	}
	if (roll && fine && newest - fine->parsed.first > BACKLOG_SECONDS &&
	    roll->parsed.seq_last > fine->parsed.seq_last)
		return roll;
	return fine;
}

/* How far the remote's chain reaches from pos: its furthest increment
 * (or roll-up it can trust) that starts at pos, or NULL. */
static struct catalog_incr *next_remote(struct catalog_incr *run, size_t n, uint64_t pos)
{
	struct catalog_incr *best = NULL;
	for (size_t i = first_at(run, n, pos); i < n && run[i].parsed.seq_first == pos; i++) {
		struct catalog_incr *e = &run[i];
		if (!e->has_data || !e->has_meta)
			continue;
		if (e->parsed.rollup) {
			const struct catalog_incr *v = voucher(run, n, e);
			if (!v || !v->has_data || !v->has_meta)
				continue;
		}
		if (!best || e->parsed.seq_last > best->parsed.seq_last)
			best = e;
	}
	return best;
}

/* The furthest seq the remote's own chain reaches from pos on. */
static uint64_t remote_reach(struct catalog_incr *run, size_t n, uint64_t pos)
{
	uint64_t last = pos - 1;
	for (struct catalog_incr *e; (e = next_remote(run, n, last + 1));)
		last = e->parsed.seq_last;
	return last;
}

/* Is local increment e a roll-up of a window of one minute: the increments
 * it covers all ended in the minute it ends in?  (Compaction groups a
 * window's increments by the second their state is at.) */
static bool minute_rollup(struct catalog_incr *run, size_t n, const struct catalog_incr *e)
{
	const struct catalog_incr *f = fine_from(run, n, e->parsed.seq_first, e->parsed.seq_first);
	return e->parsed.rollup && f && f->parsed.last / 60 == e->parsed.last / 60;
}

enum result sync_chain(struct tier *local, struct tier *remote, const char *snapshot,
		       const struct catalog *mine, const struct catalog *cat,
		       struct sync_stats *st, struct sync_reach *reach, struct error *err)
{
	size_t ln = 0, rn = 0;
	struct catalog_incr *lrun = catalog_chain(mine, snapshot, &ln);
	struct catalog_incr *rrun = catalog_chain(cat, snapshot, &rn);
	int64_t newest = 0;
	uint64_t pos = 1;
	enum result r;

	for (size_t i = 0; i < ln; i++)
		if (lrun[i].parsed.last > newest)
			newest = lrun[i].parsed.last;
	reach->seq = 0;
	reach->time = 0;
	reach->gap = 0;
	/* How far the remote's own objects go from pos, worked out once: pos
	 * moves along that same walk until the remote's end. */
	uint64_t remote_end = 0;
	for (;;) {
		struct catalog_incr *there = next_remote(rrun, rn, pos);
		struct catalog_incr *here = next_local(lrun, ln, pos, newest);
		if (there && here && pos > remote_end)
			remote_end = remote_reach(rrun, rn, pos);
		/* The remote's own objects where they go as far: a roll-up is
		 * for a backlog it does not hold, never a second copy of what it
		 * holds as increments. */
		if (there && (!here || there->parsed.seq_last >= here->parsed.seq_last ||
			      remote_end >= here->parsed.seq_last)) {
			pos = there->parsed.seq_last + 1;
			reach->seq = there->parsed.seq_last;
			reach->time = there->parsed.last;
			continue;
		}
		if (!here) {
			/* The local chain goes on past a seq neither tier has:
			 * the remote cannot follow it. */
			for (size_t i = 0; i < ln; i++)
				if (lrun[i].parsed.seq_first > pos)
					reach->gap = pos;
			break;
		}
		if (here->parsed.rollup) {
			struct catalog_incr *v = voucher(lrun, ln, here);
			if (!held(local, rrun, rn, v) &&
			    (r = upload_incr(local, remote, v, rrun, rn, st, err)))
				return r;
		}
		if ((r = upload_incr(local, remote, here, rrun, rn, st, err)))
			return r;
		pos = here->parsed.seq_last + 1;
		reach->seq = here->parsed.seq_last;
		reach->time = here->parsed.last;
	}
	/* Roll-ups of what the remote holds now, each with its voucher there,
	 * once; not those of a one-minute window: they would add about a
	 * third to the bytes shipped to save a restore from the remote at
	 * most the increments of the minutes since the last ten-minute one. */
	for (size_t i = 0; i < ln; i++) {
		struct catalog_incr *e = &lrun[i];
		if (!e->parsed.rollup || e->parsed.seq_last > reach->seq ||
		    minute_rollup(lrun, ln, e) || e->shipped || held(local, rrun, rn, e))
			continue;
		struct catalog_incr *v = voucher(lrun, ln, e);
		if (!v || !held(local, rrun, rn, v))
			continue;
		if ((r = upload_incr(local, remote, e, rrun, rn, st, err)))
			return r;
	}
	return CB_OK;
}
