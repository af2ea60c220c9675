/*
 * cbsync stats: what the local tier holds, by type, and the database's size.
 */
#include "agent/cli/commands.h"
#include "agent/cli/format.h"
#include "agent/tiers/tiers.h"
#include "common/fsutil.h"
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

enum result cmd_stats(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	struct catalog list = {0};
	struct type_stats per[BT_COUNT] = {{0}};
	uint64_t data_bytes = 0, disk = 0;
	double ratio_sum = 0;
	size_t ratio_n = 0;
	enum result r = tier_catalog_local(c, "stats", &list, err);
	if (r)
		return r;
	for (size_t i = 0; i < list.n; i++) {
		const struct catalog_entry *b = &list.items[i];
		per[b->parsed.type].count++;
		per[b->parsed.type].bytes += b->size;
		data_bytes += b->size;
		char *mpath = NULL;
		if (asprintf(&mpath, "%s/%s%s", c->local_dir, b->name, META_SUFFIX) >= 0) {
			int64_t ms = fs_file_size(mpath);
			if (ms > 0)
				disk += (uint64_t)ms;
			free(mpath);
		}
		if (b->has_meta && b->meta->original_size > 0) {
			ratio_sum += meta_ratio(b->meta->original_size, b->meta->compressed_size);
			ratio_n++;
		}
	}
	disk += data_bytes;
	int64_t db_size = fs_file_size(c->db_path);
	char *wal_path = NULL;
	int64_t wal_size = -1;
	if (asprintf(&wal_path, "%s-wal", c->db_path) >= 0) {
		wal_size = fs_file_size(wal_path);
		free(wal_path);
	}
	const struct catalog_entry *newest = list.n ? &list.items[0] : NULL;
	const struct catalog_entry *oldest = list.n ? &list.items[list.n - 1] : NULL;

	if (cli->json) {
		json_t *types = json_object();
		for (int t = 0; types && t < BT_COUNT; t++)
			json_object_set_new(types, backup_type_name((enum backup_type)t),
					    json_pack("{s:I, s:I}", "count",
						      (json_int_t)per[t].count, "total_size",
						      (json_int_t)per[t].bytes));
		char o_created[32] = "", n_created[32] = "";
		if (oldest) {
			time_format_iso(oldest->parsed.created, o_created, sizeof(o_created));
			time_format_iso(newest->parsed.created, n_created, sizeof(n_created));
		}
		json_t *doc = json_pack(
			"{s:s, s:I, s:o, s:I, s:I, s:o, s:o, s:o, s:{s:s, s:o, s:o}}",
			"directory", c->local_dir, "count", (json_int_t)list.n, "types",
			types, "total_size", (json_int_t)data_bytes, "disk_used",
			(json_int_t)disk, "oldest",
			oldest ? json_pack("{s:s, s:s}", "name", oldest->name, "created",
					   o_created)
			       : json_null(),
			"newest",
			newest ? json_pack("{s:s, s:s}", "name", newest->name, "created",
					   n_created)
			       : json_null(),
			"average_compression_ratio",
			ratio_n ? json_real((double)(int64_t)(ratio_sum / (double)ratio_n * 100 + 0.5) / 100)
				: json_null(),
			"database", "path", c->db_path, "size",
			db_size >= 0 ? json_integer(db_size) : json_null(), "wal_size",
			wal_size >= 0 ? json_integer(wal_size) : json_null());
		catalog_free(&list);
		return format_print_json(doc, err);
	}

	char buf[32];
	printf("Backups in %s\n\n", c->local_dir);
	printf("  %-14s %6s  %10s\n", "TYPE", "COUNT", "SIZE");
	for (int t = 0; t < BT_COUNT; t++) {
		format_size(per[t].bytes, buf, sizeof(buf));
		printf("  %-14s %6zu  %10s\n", backup_type_name((enum backup_type)t),
		       per[t].count, buf);
	}
	format_size(data_bytes, buf, sizeof(buf));
	printf("\n  Total backups:       %zu (%s)\n", list.n, buf);
	format_size(disk, buf, sizeof(buf));
	printf("  Disk used:           %s (with metadata)\n", buf);
	if (oldest) {
		char t[32];
		time_format_iso(oldest->parsed.created, t, sizeof(t));
		printf("  Oldest backup:       %s (%s)\n", oldest->name, t);
		time_format_iso(newest->parsed.created, t, sizeof(t));
		printf("  Newest backup:       %s (%s)\n", newest->name, t);
	}
	if (ratio_n)
		printf("  Average compression: %.1f%%\n", ratio_sum / (double)ratio_n);
	if (db_size >= 0) {
		format_size((uint64_t)db_size, buf, sizeof(buf));
		printf("  Database:            %s, %s", c->db_path, buf);
		if (wal_size > 0) {
			format_size((uint64_t)wal_size, buf, sizeof(buf));
			printf(" (+ %s WAL)", buf);
		}
		printf("\n");
	} else {
		printf("  Database:            %s (not found)\n", c->db_path);
	}
	catalog_free(&list);
	return CB_OK;
}

