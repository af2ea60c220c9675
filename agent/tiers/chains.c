/*
 * Verifying chains of increments (see chains.h).
 */
#include "agent/tiers/chains.h"
#include "agent/engine/gzstream.h"
#include "agent/engine/restore.h"
#include "agent/engine/walfile.h"
#include "agent/tiers/pitr.h"

#include <stdlib.h>
#include <string.h>

struct verify_fetch {
	struct tier *t;
	struct catalog_incr *const *incrs;
	const struct pitr_plan *path;
};

static enum result fetch_step(void *ctx, size_t k, stream_write_fn sink, void *sink_ctx,
			      struct error *err)
{
	struct verify_fetch *f = ctx;
	return tier_fetch_incr(f->t, f->incrs[f->path->steps[k]], sink, sink_ctx, err);
}

static enum result ignore_page(void *ctx, uint32_t pgno, const void *data, uint32_t page_size,
			       struct error *err)
{
	(void)ctx;
	(void)pgno;
	(void)data;
	(void)page_size;
	(void)err;
	return CB_OK;
}

static enum result feed_gz(void *ctx, const void *buf, size_t len, struct error *err)
{
	return gz_reader_feed(ctx, buf, len, err);
}

/* Roll-up e (metadata m), one a restore may take: its object read from the
 * tier, its size, SHA-256, gzip and WAL checked against its metadata. */
static enum result check_rollup(struct tier *t, const struct catalog_incr *e,
				const struct incr_meta *m, struct error *err)
{
	struct walfile_reader *wr = NULL;
	struct gz_reader *gz = NULL;
	struct gz_read_result gr;
	struct walfile_info info;
	char hex[SHA256_HEX_LEN + 1];
	enum result r;
	if ((r = walfile_reader_new(&wr, ignore_page, NULL, err)) ||
	    (r = gz_reader_new(&gz, walfile_reader_write, wr, err)))
		goto done;
	if ((r = tier_fetch_incr(t, e, feed_gz, gz, err)) ||
	    (r = gz_reader_finish(gz, &gr, err)) || (r = walfile_reader_finish(wr, &info, err)))
		goto done;
	hex_encode(gr.sha256, SHA256_LEN, hex);
	if (strcmp(hex, m->sha256) != 0 || (int64_t)gr.compressed_size != m->compressed_size ||
	    (int64_t)info.db_pages != m->page_count || (int64_t)info.frames != m->pages ||
	    (int64_t)info.page_size != m->page_size)
		r = error_set(err, CB_ERR_CORRUPT, "roll-up '%s' does not match its metadata",
			      e->key);
done:
	if (r && !strstr(err->msg, e->key))
		error_prefix(err, "roll-up '%s'", e->key);
	gz_reader_free(gz);
	walfile_reader_free(wr);
	return r;
}

/* The roll-ups of the chain a restore may take -- those that end in a
 * state the checked path went through -- checked. */
static enum result check_rollups(struct tier *t, struct catalog_incr *const *incrs,
				 const struct pitr_incr *in, size_t n, const struct pitr_plan *path,
				 size_t *checked, struct error *err)
{
	for (size_t i = 0; i < n; i++) {
		struct incr_name name;
		if (!in[i].meta || !incr_name_parse(in[i].key, &name) || !name.rollup)
			continue;
		const struct incr_meta *u = in[i].meta;
		bool vouched = false;
		for (size_t k = 0; k < path->n_steps && !vouched; k++)
			vouched = incr_same_state(in[path->steps[k]].meta, u);
		if (!vouched)
			continue;   /* never taken: no increment ends in its state */
		enum result r = check_rollup(t, incrs[i], u, err);
		if (r)
			return r;
		(*checked)++;
	}
	return CB_OK;
}

enum result chain_verify(struct tier *t, struct catalog_incr *const *incrs, size_t n,
			 const char *snapshot, const struct backup_meta *meta, int fd,
			 const char *path, struct progress *bar, struct chain_report *out,
			 struct error *err)
{
	struct pitr_incr *in = calloc(n + 1, sizeof(*in));
	const struct incr_meta **steps = NULL;
	struct pitr_chain ch = {0};
	enum result r = CB_OK;

	memset(out, 0, sizeof(*out));
	if (!in)
		return error_nomem(err);
	for (size_t i = 0; i < n; i++) {
		struct catalog_incr *e = incrs[i];
		in[i] = (struct pitr_incr){.key = e->key, .has_data = e->has_data, .size = e->size,
					   .ref = i};
		if (!e->has_data)
			continue;
		struct error merr = {0};
		r = tier_read_incr_meta(t, e, &merr);
		if (r == CB_ERR_NOMEM)
			goto done;
		if (r == CB_OK)
			in[i].meta = e->meta;
		else if (r == CB_ERR_NOT_FOUND)
			in[i].problem = "its metadata is missing";
		else if (e->meta_error || (e->meta_error = strdup(merr.msg)))
			in[i].problem = e->meta_error;
		r = CB_OK;
	}
	struct pitr_snap snap = {.name = snapshot,
				 .state_ms = meta ? meta_state_ms(meta) : 0};
	if ((r = pitr_chain_of(&snap, 0, in, n, &ch, err)))
		goto done;
	out->lost = ch.lost;
	snprintf(out->why, sizeof(out->why), "%s", ch.why);
	if (ch.path.n_steps == 0)
		goto done;
	if (!(steps = calloc(ch.path.n_steps, sizeof(*steps)))) {
		r = error_nomem(err);
		goto done;
	}
	for (size_t k = 0; k < ch.path.n_steps; k++) {
		steps[k] = in[ch.path.steps[k]].meta;
		out->bytes += in[ch.path.steps[k]].size;
	}
	struct verify_fetch f = {.t = t, .incrs = incrs, .path = &ch.path};
	struct restore_chain rc = {
		.snapshot = snapshot,
		.page_size = meta ? (uint32_t)meta->page_size : check_image_page_size(fd),
		.state_checksum = meta && meta->has_state_checksum ? &meta->state_checksum : NULL,
		.steps = steps, .n_steps = ch.path.n_steps, .fetch = fetch_step, .ctx = &f,
		.bar = bar,
	};
	size_t failed;
	if ((r = restore_apply_chain(fd, path, &rc, &out->check, &failed, err)) ||
	    (r = check_rollups(t, incrs, in, n, &ch.path, &out->rollups, err)))
		goto done;
	out->steps = ch.path.n_steps;
	out->reach_ms = ch.path.reach_ms;
done:
	pitr_chain_free(&ch);
	free(steps);
	free(in);
	return r;
}
