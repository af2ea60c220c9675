/*
 * push, list --tier, help backends.
 */
#include "agent/remotes.h"
#include "agent/catalog.h"
#include "agent/format.h"
#include "agent/oplog.h"
#include "agent/progress.h"
#include "agent/sync.h"
#include "agent/tier_local.h"
#include "backends/backend.h"
#include "common/meta.h"
#include "common/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct push_progress {
	struct progress bar;
	char label[BACKUP_NAME_MAX + 64];
	const char *remote;
};

static void on_upload(void *ctx, const char *name, uint64_t size)
{
	struct push_progress *p = ctx;
	progress_end(&p->bar);
	snprintf(p->label, sizeof(p->label), "push %s: %s", p->remote, name);
	progress_start(&p->bar, p->label, size);
}

static void on_bytes(void *ctx, uint64_t done, uint64_t total)
{
	struct push_progress *p = ctx;
	(void)total;
	progress_update(&p->bar, done);
}

/* A push ranks its remotes' failures by result_worse over three kinds only:
 * a refusal (10), then an outage (9), then any other failure, the first of a
 * kind kept.  A setting that cannot work, a corrupt local backup and an
 * interrupt, which result_worse alone puts above both, are "any other
 * failure" here. */
static enum result push_kind(enum result r)
{
	return r == CB_OK || r == CB_ERR_RETRY || r == CB_ERR_REMOTE ? r : CB_ERR_INTERNAL;
}

static enum result push_one(const struct conf *c, const struct conf_remote *rc,
			    struct remote_holdings *held, struct error *err)
{
	struct backend *b = NULL;
	struct sync_stats st;
	struct push_progress pp = {.remote = rc->name};
	double start = time_mono();
	enum result r = backend_open(rc, &b, err);
	if (!r) {
		progress_start(&pp.bar, "", 0);
		char stem[BACKUP_STEM_MAX + 1];
		backup_db_stem(c->db_path, stem, sizeof(stem));
		struct sync_opts so = {
			.now = time_now(),
			.db = stem,
			.remove_stale = true,
			.progress = on_bytes,
			.progress_ctx = &pp,
			.on_upload = on_upload,
		};
		r = sync_remote(b, &rc->keep, c->local_dir, &so, &st, err);
		progress_end(&pp.bar);
		backend_close(b);
	}
	char detail[200] = "";
	if (!r) {
		char size[32], expired[160] = "";
		size_t o = 0;
		format_size(st.bytes, size, sizeof(size));
		if (st.pruned.deleted)
			o += (size_t)snprintf(expired + o, sizeof(expired) - o, "; %zu expired deleted",
					      st.pruned.deleted);
		if (o >= sizeof(expired))
			o = sizeof(expired) - 1;
		if (st.unfinished_aborted)
			o += (size_t)snprintf(expired + o, sizeof(expired) - o,
					      "; %zu unfinished upload%s of a stopped run removed",
					      st.unfinished_aborted,
					      st.unfinished_aborted == 1 ? "" : "s");
		if (o >= sizeof(expired))
			o = sizeof(expired) - 1;
		if (st.halves_removed)
			snprintf(expired + o, sizeof(expired) - o, "; %zu lone metadata object%s removed",
				 st.halves_removed, st.halves_removed == 1 ? "" : "s");
		printf("remote '%s': uploaded %zu backup%s (%s); %zu already there%s\n", rc->name,
		       st.uploaded, st.uploaded == 1 ? "" : "s", size, st.present, expired);
		snprintf(detail, sizeof(detail), "uploaded %zu (%s), %zu already there%s",
			 st.uploaded, size, st.present, expired);
		if (held) {
			holdings_free(held);
			*held = st.held;
			held->name = rc->name;
			held->keep = &rc->keep;
			memset(&st.held, 0, sizeof(st.held));
		}
		sync_stats_free(&st);
	}
	oplog_record(c->local_dir, "push", rc->name, r, time_mono() - start,
		     r ? err->msg : detail);
	return r;
}

struct remote_holdings *holdings_new(const struct conf *c)
{
	struct remote_holdings *h = calloc(c->n_remotes + 1, sizeof(*h));
	for (size_t i = 0; h && i < c->n_remotes; i++) {
		h[i].name = c->remotes[i].name;
		h[i].keep = &c->remotes[i].keep;
	}
	return h;
}

void holdings_free_all(struct remote_holdings *h, size_t n)
{
	for (size_t i = 0; h && i < n; i++)
		holdings_free(&h[i]);
	free(h);
}

enum result push_remotes(const struct conf *c, const char *only, struct remote_holdings *held,
			 char *failed, size_t failed_size, struct error *err)
{
	enum result worst = CB_OK;
	size_t flen = 0;
	if (failed && failed_size)
		failed[0] = '\0';
	bool any = false;
	size_t targets = 0;
	for (size_t i = 0; i < c->n_remotes; i++)
		targets += !only || strcmp(only, c->remotes[i].name) == 0;
	if (c->n_remotes == 0) {
		char src[512];
		conf_describe_sources(c, src, sizeof(src));
		return error_set(err, CB_ERR_CONFIG, "nothing to push: %s%s", src,
				 c->source ? "; HINT: add a [remote \"NAME\"] section (see "
					     "'cbsync help backends')" : "");
	}
	for (size_t i = 0; i < c->n_remotes; i++) {
		const struct conf_remote *rc = &c->remotes[i];
		if (only && strcmp(only, rc->name) != 0)
			continue;
		any = true;
		struct error one = {0};
		enum result r = push_one(c, rc, held ? &held[i] : NULL, &one);
		if (result_worse(push_kind(r), push_kind(worst))) {
			worst = r;
			*err = one;
		}
		/* With several remotes, each failure gets its line; the Error line
		 * names the worst. */
		if (r && targets > 1)
			fprintf(stderr, "failed: %s\n", one.msg);
		if (r && failed && flen < failed_size) {
			int w = snprintf(failed + flen, failed_size - flen, "%s'%s'",
					 flen ? ", " : "", rc->name);
			flen += w > 0 ? (size_t)w : 0;
		}
	}
	if (!any) {
		char src[512];
		conf_describe_sources(c, src, sizeof(src));
		return error_set(err, CB_ERR_USAGE, "there is no remote named '%s'; %s", only, src);
	}
	return worst;
}

/* One row of a tier listing. */
struct row {
	char name[BACKUP_NAME_MAX];
	struct backup_name parsed;
	int64_t compressed;
	bool has_meta;
	struct backup_meta meta;
	char tiers[256];
};

static struct row *find_row(struct row *rows, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0)
			return &rows[i];
	return NULL;
}

static void add_tier(struct row *r, const char *tier)
{
	size_t len = strlen(r->tiers);
	snprintf(r->tiers + len, sizeof(r->tiers) - len, "%s%s", len ? "," : "", tier);
}

static int rows_newest_first(const void *a, const void *b)
{
	const struct row *x = a, *y = b;
	if (x->parsed.created != y->parsed.created)
		return x->parsed.created > y->parsed.created ? -1 : 1;
	return -strcmp(x->name, y->name);
}

/* Add a remote's backups to rows, fetching metadata for those without. */
static enum result add_remote_rows(const struct conf_remote *rc, struct row **rows, size_t *n,
				   size_t *cap, struct error *err)
{
	struct backend *b = NULL;
	struct backend_listing l = {0};
	struct remote_catalog cat = {0};
	enum result r = backend_open(rc, &b, err);
	if (!r)
		r = backend_list(b, "", &l, err);
	if (!r && !(r = catalog_build(&l, &cat, err)))
		catalog_warn_unsafe(&cat, "list", rc->name);
	for (size_t i = 0; !r && i < cat.n; i++) {
		const struct remote_backup *rb = &cat.items[i];
		if (!rb->has_data)
			continue;
		struct row *row = find_row(*rows, *n, rb->name);
		if (!row) {
			if (*n == *cap) {
				size_t ncap = *cap ? *cap * 2 : 64;
				struct row *nr = realloc(*rows, ncap * sizeof(*nr));
				if (!nr) {
					r = error_nomem(err);
					break;
				}
				*rows = nr;
				*cap = ncap;
			}
			row = &(*rows)[(*n)++];
			memset(row, 0, sizeof(*row));
			memcpy(row->name, rb->name, sizeof(row->name));
			row->parsed = rb->parsed;
			row->compressed = (int64_t)rb->size;
		}
		add_tier(row, rc->name);
		if (!row->has_meta && rb->has_meta) {
			char key[BACKUP_NAME_MAX + 8], *text = NULL;
			size_t len = 0;
			struct error merr = {0};
			snprintf(key, sizeof(key), "%s%s", rb->name, META_SUFFIX);
			if (backend_get_buffer(b, key, META_MAX_BYTES, &text, &len, &merr) == CB_OK &&
			    meta_from_json(text, len, &row->meta, &merr) == CB_OK &&
			    strcmp(row->meta.name, rb->name) == 0)
				row->has_meta = true;
			free(text);
		}
	}
	catalog_free(&cat);
	backend_listing_free(&l);
	backend_close(b);
	return r;
}

enum result list_tiers(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	bool all = strcmp(cli->tier, "all") == 0;
	const struct conf_remote *only = all ? NULL : conf_remote_find(c, cli->tier);
	struct row *rows = NULL;
	size_t n = 0, cap = 0;
	enum result r = CB_OK, failed = CB_OK;
	struct error first = {0};

	if (!all && !only) {
		char src[512];
		conf_describe_sources(c, src, sizeof(src));
		return error_set(err, CB_ERR_USAGE,
				 "there is no tier named '%s' (local, all, or a configured remote); %s",
				 cli->tier, src);
	}
	if (all) {
		struct local_list local;
		if ((r = local_list_scan(c->local_dir, &local, err)))
			return r;
		rows = calloc(local.n + 1, sizeof(*rows));
		if (!rows) {
			local_list_free(&local);
			return error_nomem(err);
		}
		cap = local.n + 1;
		for (size_t i = 0; i < local.n; i++) {
			struct row *row = &rows[n++];
			memcpy(row->name, local.items[i].name, sizeof(row->name));
			row->parsed = local.items[i].parsed;
			row->compressed = local.items[i].file_size;
			row->has_meta = local.items[i].has_meta;
			row->meta = local.items[i].meta;
			add_tier(row, "local");
		}
		local_list_free(&local);
	}
	for (size_t i = 0; i < c->n_remotes; i++) {
		const struct conf_remote *rc = &c->remotes[i];
		if (only && rc != only)
			continue;
		struct error rerr = {0};
		enum result rr = add_remote_rows(rc, &rows, &n, &cap, &rerr);
		if (rr && !failed) {
			failed = rr;
			first = rerr;
		}
	}
	if (n)
		qsort(rows, n, sizeof(*rows), rows_newest_first);

	if (cli->json) {
		json_t *arr = json_array();
		for (size_t i = 0; arr && i < n; i++) {
			const struct row *row = &rows[i];
			char created[32];
			time_format_iso(row->parsed.created, created, sizeof(created));
			json_t *tiers = json_array();
			char copy[sizeof(row->tiers)];
			memcpy(copy, row->tiers, sizeof(copy));
			for (char *save = NULL, *t = strtok_r(copy, ",", &save); t;
			     t = strtok_r(NULL, ",", &save))
				json_array_append_new(tiers, json_string(t));
			json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:I, s:o, s:o, s:o}", "name",
					      row->name, "database", row->parsed.db, "type",
					      backup_type_name(row->parsed.type), "created", created,
					      "compressed_size", (json_int_t)row->compressed,
					      "original_size",
					      row->has_meta ? json_integer(row->meta.original_size)
							    : json_null(),
					      "sha256",
					      row->has_meta ? json_string(row->meta.sha256) : json_null(),
					      "tiers", tiers);
			json_array_append_new(arr, o);
		}
		char *text = arr ? json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
		json_decref(arr);
		if (text)
			printf("%s\n", text);
		free(text);
	} else if (n == 0) {
		printf("No backups found in %s\n", all ? "any tier" : cli->tier);
	} else {
		size_t w = 4;
		for (size_t i = 0; i < n; i++)
			if (strlen(rows[i].name) > w)
				w = strlen(rows[i].name);
		format_backup_header(stdout, (int)w, true);
		for (size_t i = 0; i < n; i++) {
			const struct row *row = &rows[i];
			format_backup_row(stdout, (int)w, row->name, &row->parsed, row->compressed,
					  row->has_meta ? &row->meta : NULL, row->tiers);
		}
		printf("%zu backup%s in %s\n", n, n == 1 ? "" : "s",
		       all ? "all tiers" : cli->tier);
	}
	free(rows);
	if (failed) {
		*err = first;
		return failed;
	}
	return CB_OK;
}

static const char *type_name(enum conf_type t)
{
	switch (t) {
	case CONF_STRING: return "string";
	case CONF_BOOL: return "boolean";
	case CONF_INT: return "integer";
	case CONF_SIZE: return "size";
	case CONF_DURATION: return "duration";
	case CONF_PATH: return "path";
	case CONF_URL: return "URL";
	}
	return "value";
}

void print_backends_help(void)
{
	size_t n = 0;
	const struct backend_ops *const *reg = backend_registry(&n);
	printf("Remote backends built into this cbsync, configured as [remote \"NAME\"]\n"
	       "sections (or CBSYNC_REMOTE_<NAME>_<KEY> variables).  Every remote also takes\n"
	       "keep_daily, keep_weekly, keep_monthly and keep_change (default: the local\n"
	       "tier's).\n");
	for (size_t i = 0; i < n; i++) {
		printf("\ntype = %s: %s\n", reg[i]->type, reg[i]->description);
		for (size_t k = 0; k < reg[i]->n_keys; k++) {
			const struct conf_key_spec *s = &reg[i]->keys[k];
			char extra[96] = "";
			if (s->required)
				snprintf(extra, sizeof(extra), ", required");
			else if (s->default_value)
				snprintf(extra, sizeof(extra), ", default %s", s->default_value);
			printf("  %-24s %s%s%s\n      %s\n", s->key, type_name(s->type), extra,
			       s->secret ? ", secret" : "", s->description);
		}
	}
}
