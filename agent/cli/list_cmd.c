/*
 * cbsync list: the local tier in the seed's format, or (--tier) any tiers,
 * each backup once with the tiers that hold it.
 *
 * Chains of increments follow the table, one line each (the seed's lines
 * for backups are as they were; with no increments nothing is added), and
 * in --json each backup with a chain has an "increments" field.  All of it
 * comes from the names and sizes the listing gives: no increment's
 * metadata is read.
 */
#include "agent/cli/commands.h"
#include "agent/cli/format.h"
#include "agent/tiers/tiers.h"
#include "common/fsutil.h"
#include "common/meta.h"
#include "common/timeutil.h"

#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One row of a tier listing. */
struct row {
	char name[BACKUP_NAME_MAX];
	struct backup_name parsed;
	int64_t compressed;
	bool has_meta;
	bool encrypted;           /* the first tier's copy is an age file */
	struct backup_meta meta;
	char meta_error[256];     /* why the first tier's metadata was unusable */
	char path[PATH_MAX];      /* the local tier's file, or "" */
	char tiers[256];
};

/* A chain on one tier, for the tier listing. */
struct tier_chain {
	struct chain_summary c;
	const char *tier;
};

struct tier_chains {
	struct tier_chain *items;
	size_t n;
};

/* Add the chains among a tier's increments to all. */
static enum result add_chains(const struct catalog *cat, const char *tier,
			      struct tier_chains *all, struct error *err)
{
	struct chain_summary *mine = NULL;
	long n = format_chains(cat->incrs, cat->n_incrs, &mine);
	if (n < 0)
		return error_nomem(err);
	struct tier_chain *more = n ? realloc(all->items, (all->n + (size_t)n) * sizeof(*more))
				    : all->items;
	if (n && !more) {
		free(mine);
		return error_nomem(err);
	}
	all->items = more;
	for (long i = 0; i < n; i++)
		all->items[all->n++] = (struct tier_chain){.c = mine[i], .tier = tier};
	free(mine);
	return CB_OK;
}

static bool row_listed(const struct row *rows, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0)
			return true;
	return false;
}

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

/* Add a tier's backups to rows.  A remote's metadata is fetched for the
 * backups no tier before it described. */
static enum result add_rows(struct tier *t, bool first, struct row **rows, size_t *n,
			    size_t *cap, struct tier_chains *chains, struct error *err)
{
	struct catalog cat = {0};
	enum result r = tier_catalog(t, NULL, "list", &cat, err);
	if (!r)
		r = add_chains(&cat, t->name, chains, err);
	for (size_t i = 0; !r && i < cat.n; i++) {
		struct catalog_entry *e = &cat.items[i];
		if (!e->has_data)
			continue;
		/* The first tier's names are all new: no search. */
		struct row *row = first ? NULL : find_row(*rows, *n, e->name);
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
			memcpy(row->name, e->name, sizeof(row->name));
			row->parsed = e->parsed;
			row->compressed = (int64_t)e->size;
			row->encrypted = e->encrypted;
			if (e->meta_error)
				snprintf(row->meta_error, sizeof(row->meta_error), "%s",
					 e->meta_error);
		}
		if (t->dir && !row->path[0]) {
			char key[BACKUP_NAME_MAX + 8];
			char *path = fs_join(t->dir, catalog_data_key(e, key, sizeof(key)));
			snprintf(row->path, sizeof(row->path), "%s", path ? path : "");
			free(path);
		}
		add_tier(row, t->name);
		struct error merr = {0};
		if (!row->has_meta && e->has_meta && tier_read_meta(t, e, &merr) == CB_OK) {
			row->meta = *e->meta;
			row->has_meta = true;
		}
	}
	catalog_free(&cat);
	return r;
}

/* The rows as --json prints them, whatever tiers were listed: one object a
 * backup, with the tiers that hold it and, by tier, its chains. */
static json_t *rows_json(const struct row *rows, size_t n, const struct tier_chains *chains)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++) {
		const struct row *row = &rows[i];
		const struct backup_meta *m = row->has_meta ? &row->meta : NULL;
		char created[32];
		time_format_iso(row->parsed.created, created, sizeof(created));
		json_t *tiers = json_array();
		char copy[sizeof(row->tiers)];
		memcpy(copy, row->tiers, sizeof(copy));
		for (char *save = NULL, *t = strtok_r(copy, ",", &save); t;
		     t = strtok_r(NULL, ",", &save))
			json_array_append_new(tiers, json_string(t));
		json_t *inc = json_object();
		for (size_t k = 0; inc && k < chains->n; k++)
			if (strcmp(chains->items[k].c.snapshot, row->name) == 0)
				json_object_set_new(inc, chains->items[k].tier,
						    format_chain_json(&chains->items[k].c));
		double ratio = m ? meta_ratio(m->original_size, m->compressed_size) : 0;
		json_t *o = json_object();
		if (!o) {
			json_decref(tiers);
			json_decref(inc);
			json_decref(arr);
			return NULL;
		}
		json_object_set_new(o, "name", json_string(row->name));
		json_object_set_new(o, "database", json_string(row->parsed.db));
		json_object_set_new(o, "type", json_string(backup_type_name(row->parsed.type)));
		json_object_set_new(o, "created", json_string(created));
		json_object_set_new(o, "tiers", tiers);
		char path[sizeof(row->path) * 4];
		if (row->path[0])
			text_escape(row->path, path, sizeof(path));
		json_object_set_new(o, "path", row->path[0] ? json_string(path) : json_null());
		json_object_set_new(o, "compressed_size", json_integer(row->compressed));
		json_object_set_new(o, "original_size",
				    m ? json_integer(m->original_size) : json_null());
		json_object_set_new(o, "compression_ratio",
				    m ? json_real((double)(int64_t)(ratio * 100 + 0.5) / 100)
				      : json_null());
		json_object_set_new(o, "sha256", m ? json_string(m->sha256) : json_null());
		json_object_set_new(o, "page_size", m ? json_integer(m->page_size) : json_null());
		json_object_set_new(o, "page_count", m ? json_integer(m->page_count) : json_null());
		json_object_set_new(o, "encrypted", json_boolean(row->encrypted));
		json_object_set_new(o, "has_metadata", json_boolean(m != NULL));
		json_object_set_new(o, "metadata_error",
				    row->meta_error[0] ? json_string(row->meta_error) : json_null());
		json_object_set_new(o, "increments", inc);
		json_array_append_new(arr, o);
	}
	return arr;
}

static enum result list_tiers(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	const char *which = cli->tier ? cli->tier : "local";
	bool all = strcmp(which, "all") == 0, local = all || strcmp(which, "local") == 0;
	const struct conf_remote *only = all ? NULL : conf_remote_find(c, which);
	struct row *rows = NULL;
	struct tier_chains chains = {0};
	size_t n = 0, cap = 0;
	enum result r = CB_OK, failed = CB_OK;
	struct error first = {0};

	if (!local && !only) {
		char src[512];
		conf_describe_sources(c, src, sizeof(src));
		return error_set(err, CB_ERR_USAGE,
				 "there is no tier named '%s' (local, all, or a configured remote); %s",
				 which, src);
	}
	if (local) {
		struct tier lt;
		if (!(r = tier_open_local(&lt, c->local_dir, &c->local_keep, err)))
			r = add_rows(&lt, true, &rows, &n, &cap, &chains, err);
		tier_close(&lt);
		if (r) {
			free(rows);
			free(chains.items);
			return r;
		}
	}
	/* A remote that cannot be read is reported after the others are shown. */
	for (size_t i = 0; i < c->n_remotes; i++) {
		const struct conf_remote *rc = &c->remotes[i];
		if (!all && rc != only)
			continue;
		struct tier t = {0};
		struct error rerr = {0};
		enum result rr = tier_open_remote(&t, rc, &rerr);
		if (!rr)
			rr = add_rows(&t, n == 0, &rows, &n, &cap, &chains, &rerr);
		tier_close(&t);
		if (rr && !failed) {
			failed = rr;
			first = rerr;
		}
	}
	if (n)
		qsort(rows, n, sizeof(*rows), rows_newest_first);

	if (cli->json) {
		enum result pr = format_print_json(rows_json(rows, n, &chains), err);
		if (pr) {
			free(chains.items);
			free(rows);
			return pr;
		}
	} else if (n == 0) {
		printf("No backups found in %s\n", all ? "any tier" : which);
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
		       all ? "all tiers" : which);
	}
	if (!cli->json && chains.n) {
		printf("Chains of increments (restore --at reaches their states):\n");
		for (size_t k = 0; k < chains.n; k++)
			format_chain_line(stdout, &chains.items[k].c, chains.items[k].tier,
					  row_listed(rows, n, chains.items[k].c.snapshot));
	}
	free(chains.items);
	free(rows);
	if (failed) {
		*err = first;
		return failed;
	}
	return CB_OK;
}

enum result cmd_list(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct catalog list = {0};
	if (cli->json || (cli->tier && strcmp(cli->tier, "local") != 0))
		return list_tiers(cli, err);
	struct chain_summary *chains = NULL;
	enum result r = tier_catalog_local(c, "list", &list, err);
	if (r)
		return r;
	long nc = format_chains(list.incrs, list.n_incrs, &chains);
	if (nc < 0) {
		catalog_free(&list);
		return error_nomem(err);
	}
	if (list.n == 0)
		printf("No backups found in %s\n", c->local_dir);
	for (size_t i = 0; list.n == 0 && i < (size_t)nc; i++)
		format_chain_line(stdout, &chains[i], NULL, false);
	if (list.n == 0) {
		catalog_free(&list);
		free(chains);
		return CB_OK;
	}
	size_t w = 4;
	for (size_t i = 0; i < list.n; i++)
		if (strlen(list.items[i].name) > w)
			w = strlen(list.items[i].name);
	format_backup_header(stdout, (int)w, false);
	for (size_t i = 0; i < list.n; i++) {
		const struct catalog_entry *b = &list.items[i];
		format_backup_row(stdout, (int)w, b->name, &b->parsed, (int64_t)b->size,
				  b->has_meta ? b->meta : NULL, NULL);
	}
	printf("%zu backup%s in %s\n", list.n, list.n == 1 ? "" : "s", c->local_dir);
	if (nc > 0)
		printf("Chains of increments (restore --at reaches their states):\n");
	for (size_t i = 0; i < (size_t)nc; i++)
		format_chain_line(stdout, &chains[i], NULL,
				  catalog_find(&list, chains[i].snapshot) != NULL);
	catalog_free(&list);
	free(chains);
	return CB_OK;
}
