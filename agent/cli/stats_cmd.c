/*
 * cbsync stats: what a tier holds, by type, and the database's size -- the
 * local tier (the seed's command), or with --tier one remote or every tier.
 */
#include "agent/cli/commands.h"
#include "agent/cli/format.h"
#include "agent/tiers/tiers.h"
#include "common/fsutil.h"
#include "common/jsondoc.h"
#include "common/meta.h"
#include "common/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct type_stats {
	size_t count;
	uint64_t bytes;
};

/* What one tier holds. */
struct tier_stats {
	char label[96];
	const char *dir;              /* the local tier's directory, else NULL */
	size_t count;
	struct type_stats per[BT_COUNT];
	uint64_t data_bytes;
	int64_t disk;                 /* with metadata (the local tier), else -1 */
	size_t incrs;                 /* increments and roll-ups */
	uint64_t incr_bytes;
	double ratio_sum;
	size_t ratio_n;
	char oldest[BACKUP_NAME_MAX], newest[BACKUP_NAME_MAX];
	int64_t oldest_at, newest_at;
};

/* Count what t holds.  A remote's metadata costs a request a backup, as in
 * `list --tier`; one that cannot be read leaves that backup out of the
 * average compression ratio only. */
static enum result tier_stats_of(struct tier *t, struct tier_stats *s, struct error *err)
{
	struct catalog list = {0};
	memset(s, 0, sizeof(*s));
	tier_label(t, s->label, sizeof(s->label));
	s->dir = t->dir;
	s->disk = t->dir ? 0 : -1;
	enum result r = tier_catalog(t, NULL, "stats", &list, err);
	if (r)
		return r;
	for (size_t i = 0; i < list.n; i++) {
		struct catalog_entry *b = &list.items[i];
		if (!b->has_data)
			continue;
		s->count++;
		s->per[b->parsed.type].count++;
		s->per[b->parsed.type].bytes += b->size;
		s->data_bytes += b->size;
		if (t->dir) {
			char *mpath = NULL;
			if (asprintf(&mpath, "%s/%s%s", t->dir, b->name, META_SUFFIX) >= 0) {
				int64_t ms = fs_file_size(mpath);
				if (ms > 0)
					s->disk += ms;
				free(mpath);
			}
		}
		struct error ignored = {0};
		if (b->has_meta && tier_read_meta(t, b, &ignored) == CB_OK &&
		    b->meta->original_size > 0) {
			s->ratio_sum += meta_ratio(b->meta->original_size, b->meta->compressed_size);
			s->ratio_n++;
		}
		if (!s->newest[0]) {
			snprintf(s->newest, sizeof(s->newest), "%s", b->name);
			s->newest_at = b->parsed.created;
		}
		snprintf(s->oldest, sizeof(s->oldest), "%s", b->name);
		s->oldest_at = b->parsed.created;
	}
	for (size_t i = 0; i < list.n_incrs; i++) {
		if (!list.incrs[i].has_data)
			continue;
		s->incrs++;
		s->incr_bytes += list.incrs[i].size;
	}
	if (s->disk >= 0)
		s->disk += (int64_t)(s->data_bytes + s->incr_bytes);
	catalog_free(&list);
	return CB_OK;
}

static json_t *named_time(const char *name, int64_t at)
{
	char created[32];
	if (!name[0])
		return json_null();
	time_format_iso(at, created, sizeof(created));
	return json_pack("{s:s, s:s}", "name", name, "created", created);
}

static json_t *tier_stats_json(const char *tier, const struct tier_stats *s)
{
	json_t *types = json_object();
	for (int t = 0; types && t < BT_COUNT; t++)
		json_object_set_new(types, backup_type_name((enum backup_type)t),
				    json_pack("{s:I, s:I}", "count", (json_int_t)s->per[t].count,
					      "total_size", (json_int_t)s->per[t].bytes));
	return json_pack(
		"{s:s, s:o, s:I, s:o, s:I, s:o, s:{s:I, s:I}, s:o, s:o, s:o}", "tier", tier,
		"directory", s->dir ? json_string(s->dir) : json_null(), "count",
		(json_int_t)s->count, "types", types, "total_size", (json_int_t)s->data_bytes,
		"disk_used", s->disk >= 0 ? json_integer(s->disk) : json_null(), "increments",
		"count", (json_int_t)s->incrs, "compressed_size", (json_int_t)s->incr_bytes,
		"oldest", named_time(s->oldest, s->oldest_at), "newest",
		named_time(s->newest, s->newest_at), "average_compression_ratio",
		s->ratio_n ? json_real((double)(int64_t)(s->ratio_sum / (double)s->ratio_n * 100 +
							 0.5) / 100)
			   : json_null());
}

static void tier_stats_print(const struct tier_stats *s)
{
	char buf[32];
	printf("Backups in %s\n\n", s->dir ? s->dir : s->label);
	printf("  %-14s %6s  %10s\n", "TYPE", "COUNT", "SIZE");
	for (int t = 0; t < BT_COUNT; t++) {
		format_size(s->per[t].bytes, buf, sizeof(buf));
		printf("  %-14s %6zu  %10s\n", backup_type_name((enum backup_type)t),
		       s->per[t].count, buf);
	}
	format_size(s->data_bytes, buf, sizeof(buf));
	printf("\n  Total backups:       %zu (%s)\n", s->count, buf);
	if (s->incrs) {
		format_size(s->incr_bytes, buf, sizeof(buf));
		printf("  Increments:          %zu (%s)\n", s->incrs, buf);
	}
	if (s->disk >= 0) {
		format_size((uint64_t)s->disk, buf, sizeof(buf));
		printf("  Disk used:           %s (with metadata)\n", buf);
	}
	if (s->oldest[0]) {
		char t[32];
		time_format_iso(s->oldest_at, t, sizeof(t));
		printf("  Oldest backup:       %s (%s)\n", s->oldest, t);
		time_format_iso(s->newest_at, t, sizeof(t));
		printf("  Newest backup:       %s (%s)\n", s->newest, t);
	}
	if (s->ratio_n)
		printf("  Average compression: %.1f%%\n", s->ratio_sum / (double)s->ratio_n);
}

/* The live database and its WAL, as stats reports them. */
struct db_sizes {
	int64_t db, wal;
};

static struct db_sizes db_sizes_of(const char *db_path)
{
	struct db_sizes d = {fs_file_size(db_path), -1};
	char *wal_path = NULL;
	if (asprintf(&wal_path, "%s-wal", db_path) >= 0) {
		d.wal = fs_file_size(wal_path);
		free(wal_path);
	}
	return d;
}

static json_t *db_json(const char *db_path, struct db_sizes d)
{
	return json_pack("{s:s, s:o, s:o}", "path", db_path, "size",
			 d.db >= 0 ? json_integer(d.db) : json_null(), "wal_size",
			 d.wal >= 0 ? json_integer(d.wal) : json_null());
}

static void db_print(const char *db_path, struct db_sizes d)
{
	char buf[32];
	if (d.db >= 0) {
		format_size((uint64_t)d.db, buf, sizeof(buf));
		printf("  Database:            %s, %s", db_path, buf);
		if (d.wal > 0) {
			format_size((uint64_t)d.wal, buf, sizeof(buf));
			printf(" (+ %s WAL)", buf);
		}
		printf("\n");
	} else {
		printf("  Database:            %s (not found)\n", db_path);
	}
}

/* stats --tier: each tier's block (or object), a tier that cannot be
 * listed named and counted as failed while the others are shown. */
static enum result stats_tiers(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct tier_set set = {0};
	enum result r, worst = CB_OK;
	if ((r = tiers_open(&set, c, cli->tier, err)))
		return r;
	json_t *arr = cli->json ? json_array() : NULL;
	for (size_t i = 0; i < set.n; i++) {
		struct tier_stats s;
		struct error terr = {0};
		r = tier_stats_of(&set.tiers[i], &s, &terr);
		if (cli->json) {
			json_t *o = r ? json_pack("{s:s, s:o}", "tier", set.tiers[i].name, "error",
						  jsondoc_error(r, terr.msg))
				      : tier_stats_json(set.tiers[i].name, &s);
			json_array_append_new(arr, o);
		} else if (r) {
			printf("%s%s: FAILED: %s\n", i ? "\n" : "", s.label, terr.msg);
		} else {
			if (i)
				printf("\n");
			tier_stats_print(&s);
		}
		if (r && (!worst || result_worse(r, worst))) {
			worst = r;
			*err = terr;
		}
	}
	struct db_sizes d = db_sizes_of(c->db_path);
	tiers_close(&set);
	if (cli->json) {
		enum result pr = format_print_json(json_pack("{s:o, s:o}", "tiers", arr, "database",
							     db_json(c->db_path, d)),
						   err);
		if (pr)
			return pr;
	} else {
		printf("\n");
		db_print(c->db_path, d);
	}
	return worst;
}

enum result cmd_stats(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct tier local;
	struct tier_stats s;
	if (cli->tier)
		return stats_tiers(cli, err);
	enum result r = tier_open_local(&local, c->local_dir, &c->local_keep, err);
	if (!r)
		r = tier_stats_of(&local, &s, err);
	tier_close(&local);
	if (r)
		return r;
	struct db_sizes d = db_sizes_of(c->db_path);
	if (cli->json) {
		json_t *doc = tier_stats_json("local", &s);
		if (doc)
			json_object_set_new(doc, "database", db_json(c->db_path, d));
		return format_print_json(doc, err);
	}
	tier_stats_print(&s);
	db_print(c->db_path, d);
	return CB_OK;
}
