/*
 * Applying a chain of increments to a snapshot's image (see chain.h).
 *
 * One step is a pipeline of push readers, each the next one's sink:
 *
 *   chain_step_write: count, bound by the metadata's size, SHA-256
 *     -> gz_reader (CRC-32, length)
 *     -> inflated_write: bound by the metadata's WAL size
 *     -> walfile_reader (frames checked one by one)
 *     -> apply_page: page size, page number within the metadata's page
 *        count, table updated, page written into the image
 *
 * Every failure marks the chain broken (c->failed), so that nothing done
 * after it can make a half-applied image look finished.
 */
#include "agent/engine/chain.h"

#include "agent/engine/gzstream.h"
#include "agent/engine/pagesum.h"
#include "agent/engine/walfile.h"
#include "common/hash.h"
#include "common/stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct chain_step {
	struct incr_meta m;
	struct sha256 sha;           /* of the object bytes */
	uint64_t fed;                /* object bytes so far */
	uint64_t inflated;           /* WAL bytes so far */
	uint32_t frames;             /* pages applied */
	struct gz_reader *gz;
	struct walfile_reader *wal;
	struct walfile_target target;
	struct chain *c;
};

static void step_free(struct chain_step *s)
{
	if (!s)
		return;
	gz_reader_free(s->gz);
	walfile_reader_free(s->wal);
	sha256_free(&s->sha);
	free(s);
}

/* Mark c broken by rc (a failure), naming what broke it; returns rc. */
static enum result broken(struct chain *c, enum result rc, const char *what)
{
	if (c->failed == CB_OK) {
		c->failed = rc;
		snprintf(c->broken_at, sizeof c->broken_at, "%s", what);
	}
	step_free(c->step);
	c->step = NULL;
	return rc;
}

/* The one refusal for any call on a broken chain. */
static enum result refuse_broken(const struct chain *c, struct error *err)
{
	return error_set(err, c->failed,
			 "the chain was broken at '%s': its image is unusable and must be discarded",
			 c->broken_at);
}

enum result chain_begin(struct chain *c, int image_fd, const char *image_path,
			const struct chain_base *base, struct error *err)
{
	enum result rc;

	*c = (struct chain){.fd = -1};
	if (!base->snapshot || !backup_name_parse(base->snapshot, NULL))
		return error_set(err, CB_ERR_INTERNAL, "chain: '%s' is not a snapshot's name",
				 base->snapshot ? base->snapshot : "(null)");
	if (!pagesum_page_size_valid(base->page_size))
		return error_set(err, CB_ERR_CORRUPT, "snapshot '%s' has page size %" PRIu32
				 ", which SQLite cannot have", base->snapshot, base->page_size);
	c->path = strdup(image_path);
	if (!c->path)
		return error_nomem(err);
	/* With the snapshot's checksum known, only the pages the chain
	 * changes are ever read back and hashed (pagesum_trust): a wrong
	 * checksum still shows at the first increment's comparison. */
	if (base->state_checksum)
		rc = pagesum_trust(image_fd, base->page_size, *base->state_checksum, &c->sums, err);
	else
		rc = pagesum_build(image_fd, base->page_size, &c->sums, err);
	if (rc != CB_OK) {
		error_prefix(err, "snapshot '%s'", base->snapshot);
		goto fail;
	}
	c->trusted = base->state_checksum != NULL;
	c->fd = image_fd;
	c->page_size = base->page_size;
	snprintf(c->snapshot, sizeof c->snapshot, "%s", base->snapshot);
	return CB_OK;
fail:
	chain_free(c);
	return rc;
}

/* Does m continue c?  One line naming m and what disagrees, if not. */
static enum result check_continues(const struct chain *c, const struct incr_meta *m,
				   struct error *err)
{
	struct incr_name n;

	if (!incr_name_parse(m->name, &n) || n.seq_first != m->seq_first ||
	    n.seq_last != m->seq_last || strcmp(n.snapshot, m->snapshot) != 0)
		return error_set(err, CB_ERR_CORRUPT,
				 "increment '%s': its metadata disagrees with its name", m->name);
	if (strcmp(m->snapshot, c->snapshot) != 0)
		return error_set(err, CB_ERR_CORRUPT,
				 "increment '%s' does not continue the chain: it belongs to snapshot "
				 "'%s', not '%s'", m->name, m->snapshot, c->snapshot);
	if (m->seq_first != c->seq + 1)
		return error_set(err, CB_ERR_CORRUPT,
				 "increment '%s' does not continue the chain: expected seq %" PRIu64
				 ", got %" PRIu64, m->name, c->seq + 1, m->seq_first);
	/* After a roll-up, the increment's prev is the one the roll-up ends
	 * with, named otherwise: the state is the same (the planner matched
	 * their checksums, and this step's checksum checks it again). */
	struct incr_name last, prev;
	bool after_rollup = incr_name_parse(c->last, &last) && last.rollup &&
			    incr_name_parse(m->prev, &prev) && !prev.rollup &&
			    prev.seq_last == c->seq && strcmp(prev.snapshot, c->snapshot) == 0;
	if (!after_rollup && strcmp(m->prev, c->last) != 0)
		return error_set(err, CB_ERR_CORRUPT,
				 "increment '%s' does not continue the chain: its predecessor is "
				 "'%s', the chain's last is '%s'", m->name,
				 m->prev[0] ? m->prev : "(the snapshot)",
				 c->last[0] ? c->last : "(the snapshot)");
	if (m->page_size != (int64_t)c->page_size)
		return error_set(err, CB_ERR_CORRUPT,
				 "increment '%s' has page size %" PRId64 ", the chain %" PRIu32,
				 m->name, m->page_size, c->page_size);
	if (m->page_count < 1 || m->page_count > UINT32_MAX || m->pages < 1 ||
	    m->pages > m->page_count || m->compressed_size < 1 ||
	    m->original_size != (int64_t)walfile_size(c->page_size, (uint64_t)m->pages) ||
	    !sha256_hex_valid(m->sha256))
		return error_set(err, CB_ERR_CORRUPT,
				 "increment '%s': its metadata's sizes cannot be right (page count %"
				 PRId64 ", pages %" PRId64 ", sizes %" PRId64 "/%" PRId64 ")",
				 m->name, m->page_count, m->pages, m->original_size,
				 m->compressed_size);
	return CB_OK;
}

/* The walfile reader's page callback: one checked page into table and image. */
static enum result apply_page(void *ctx, uint32_t pgno, const void *data, uint32_t page_size,
			      struct error *err)
{
	struct chain_step *s = ctx;
	struct chain *c = s->c;
	enum result rc;

	if (page_size != c->page_size)
		return error_set(err, CB_ERR_CORRUPT, "its WAL has page size %" PRIu32
				 ", its metadata %" PRIu32, page_size, c->page_size);
	if (pgno > pagesum_page_count(c->sums))
		return error_set(err, CB_ERR_CORRUPT,
				 "it holds page %" PRIu32 ", beyond the page count %" PRId64
				 " its metadata says", pgno, s->m.page_count);
	rc = pagesum_update(c->sums, pgno, data, err);
	if (rc == CB_OK)
		rc = walfile_target_page(&s->target, pgno, data, page_size, err);
	if (rc == CB_OK)
		s->frames++;
	return rc;
}

/* The gz_reader's sink: the WAL bytes, bounded by the metadata's size. */
static enum result inflated_write(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct chain_step *s = ctx;

	if (len > (uint64_t)s->m.original_size - s->inflated)
		return error_set(err, CB_ERR_CORRUPT,
				 "it inflates to more than the %" PRId64 " bytes its metadata says",
				 s->m.original_size);
	s->inflated += len;
	return walfile_reader_feed(s->wal, buf, len, err);
}

enum result chain_step_begin(struct chain *c, const struct incr_meta *m, struct error *err)
{
	struct chain_step *s;
	enum result rc;

	if (c->failed != CB_OK)
		return refuse_broken(c, err);
	if (c->step)
		return error_set(err, CB_ERR_INTERNAL, "increment '%s' begun before '%s' finished",
				 m->name, c->step->m.name);
	rc = check_continues(c, m, err);
	if (rc != CB_OK)
		return broken(c, rc, m->name);
	s = calloc(1, sizeof *s);
	if (!s)
		return broken(c, error_nomem(err), m->name);
	s->m = *m;
	s->c = c;
	s->target = (struct walfile_target){.fd = c->fd, .path = c->path};
	rc = sha256_init(&s->sha, err);
	if (rc == CB_OK)
		rc = walfile_reader_new(&s->wal, apply_page, s, err);
	if (rc == CB_OK)
		rc = gz_reader_new(&s->gz, inflated_write, s, err);
	/* Resize first, then update: pages beyond the new size are cut off the
	 * checksum now, and pages it adds must all come in the increment. */
	if (rc == CB_OK)
		rc = pagesum_resize(c->sums, (uint32_t)m->page_count, err);
	c->step = s;
	if (rc != CB_OK)
		return broken(c, rc, m->name);
	return CB_OK;
}

enum result chain_step_write(void *chain, const void *buf, size_t len, struct error *err)
{
	struct chain *c = chain;
	struct chain_step *s = c->step;
	enum result rc;

	if (c->failed != CB_OK)
		return refuse_broken(c, err);
	if (!s)
		return error_set(err, CB_ERR_INTERNAL, "chain: bytes fed with no increment begun");
	if (len > (uint64_t)s->m.compressed_size - s->fed) {
		rc = error_set(err, CB_ERR_CORRUPT,
			       "increment '%s' is longer than the %" PRId64
			       " bytes its metadata says", s->m.name, s->m.compressed_size);
		return broken(c, rc, s->m.name);
	}
	s->fed += len;
	sha256_update(&s->sha, buf, len);
	rc = gz_reader_feed(s->gz, buf, len, err);
	if (rc != CB_OK) {
		error_prefix(err, "increment '%s'", s->m.name);
		return broken(c, rc, s->m.name);
	}
	return CB_OK;
}

/* The checks after the last byte, in the order that best says what is
 * wrong: an object that is not the one described says so before whatever
 * its damage did to the gzip or WAL inside it. */
static enum result step_check(struct chain *c, struct chain_step *s, struct error *err)
{
	const struct incr_meta *m = &s->m;
	uint8_t digest[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	char got[17], want[17];
	struct gz_read_result gz;
	struct walfile_info info;
	enum result rc;

	if (s->fed != (uint64_t)m->compressed_size)
		return error_set(err, CB_ERR_CORRUPT,
				 "increment '%s' is %" PRIu64 " bytes, its metadata says %" PRId64,
				 m->name, s->fed, m->compressed_size);
	sha256_final(&s->sha, digest);
	hex_encode(digest, SHA256_LEN, hex);
	if (strcasecmp(hex, m->sha256) != 0)
		return error_set(err, CB_ERR_CORRUPT,
				 "SHA-256 of increment '%s' is %s, its metadata says %s",
				 m->name, hex, m->sha256);
	rc = gz_reader_finish(s->gz, &gz, err);
	if (rc == CB_OK)
		rc = walfile_reader_finish(s->wal, &info, err);
	if (rc != CB_OK) {
		error_prefix(err, "increment '%s'", m->name);
		return rc;
	}
	if (info.db_pages != (uint64_t)m->page_count)
		return error_set(err, CB_ERR_CORRUPT,
				 "increment '%s' leaves %" PRIu32 " pages, its metadata says %" PRId64,
				 m->name, info.db_pages, m->page_count);
	if (info.frames != (uint64_t)m->pages || s->frames != info.frames)
		return error_set(err, CB_ERR_CORRUPT,
				 "increment '%s' holds %" PRIu32 " pages, its metadata says %" PRId64,
				 m->name, info.frames, m->pages);
	if (info.bytes != (uint64_t)m->original_size)
		return error_set(err, CB_ERR_CORRUPT,
				 "increment '%s' inflates to %" PRIu64 " bytes, its metadata says %"
				 PRId64, m->name, info.bytes, m->original_size);
	rc = walfile_target_finish(&s->target, &info, err);
	if (rc != CB_OK)
		return rc;
	if (pagesum_checksum(c->sums) != m->state_checksum) {
		incr_checksum_format(pagesum_checksum(c->sums), got);
		incr_checksum_format(m->state_checksum, want);
		/* The first step also checks the snapshot's own recorded checksum,
		 * which the chain started from without reading the image. */
		char also[BACKUP_NAME_MAX + 64] = "";
		if (c->trusted && c->seq == 0)
			snprintf(also, sizeof also, ", or the one recorded for snapshot '%s' is "
				 "wrong", c->snapshot);
		return error_set(err, CB_ERR_CORRUPT,
				 "state checksum after increment '%s' is %s, its metadata says %s%s",
				 m->name, got, want, also);
	}
	return CB_OK;
}

enum result chain_step_finish(struct chain *c, struct error *err)
{
	struct chain_step *s = c->step;
	enum result rc;

	if (c->failed != CB_OK)
		return refuse_broken(c, err);
	if (!s)
		return error_set(err, CB_ERR_INTERNAL, "chain: no increment begun");
	rc = step_check(c, s, err);
	if (rc != CB_OK)
		return broken(c, rc, s->m.name);
	c->seq = s->m.seq_last;
	snprintf(c->last, sizeof c->last, "%s", s->m.name);
	step_free(s);
	c->step = NULL;
	return CB_OK;
}

enum result chain_apply_fd(struct chain *c, const struct incr_meta *m, int obj_fd,
			   const char *obj_path, struct error *err)
{
	struct stream s = {0};
	enum result rc;

	rc = chain_step_begin(c, m, err);
	if (rc != CB_OK)
		return rc;
	rc = stream_init(&s, chain_step_write, c, false, err);
	if (rc == CB_OK)
		rc = stream_pump_fd(obj_fd, obj_path, &s, err);
	stream_free(&s);
	if (rc != CB_OK) {
		/* A read that failed or was interrupted breaks the chain too. */
		if (c->step)
			broken(c, rc, m->name);
		return rc;
	}
	return chain_step_finish(c, err);
}

uint64_t chain_checksum(const struct chain *c)
{
	return c->sums ? pagesum_checksum(c->sums) : 0;
}

enum result chain_end(struct chain *c, uint64_t *checksum, struct error *err)
{
	if (c->failed != CB_OK)
		return refuse_broken(c, err);
	if (!c->sums)
		return error_set(err, CB_ERR_INTERNAL, "chain: not begun");
	if (c->step)
		return error_set(err, CB_ERR_INTERNAL, "chain: increment '%s' not finished",
				 c->step->m.name);
	if (fsync(c->fd) != 0)
		return error_errno(err, errno, c->path);
	if (checksum)
		*checksum = pagesum_checksum(c->sums);
	return CB_OK;
}

void chain_free(struct chain *c)
{
	if (!c)
		return;
	step_free(c->step);
	pagesum_free(c->sums);
	free(c->path);
	*c = (struct chain){.fd = -1};
}
