/*
 * The backup table of `list`, and --json output.
 */
#include "agent/cli/format.h"

#include "common/timeutil.h"

#include <jansson.h>
#include <stdio.h>

void format_backup_header(FILE *out, int width, bool tiers)
{
	fprintf(out, "%-*s  %-13s  %-20s  %10s  %10s  %6s%s\n", width, "NAME", "TYPE", "CREATED",
		"ORIGINAL", "COMPRESSED", "RATIO", tiers ? "  TIERS" : "");
}

void format_backup_row(FILE *out, int width, const char *name, const struct backup_name *parsed,
		       int64_t compressed, const struct backup_meta *meta, const char *tiers)
{
	char created[32], orig[32] = "-", comp[32], ratio[16] = "-";
	time_format_iso(parsed->created, created, sizeof(created));
	format_size((uint64_t)compressed, comp, sizeof(comp));
	if (meta) {
		format_size((uint64_t)meta->original_size, orig, sizeof(orig));
		snprintf(ratio, sizeof(ratio), "%.1f%%",
			 meta_ratio(meta->original_size, meta->compressed_size));
	}
	fprintf(out, "%-*s  %-13s  %-20s  %10s  %10s  %6s%s%s\n", width, name,
		backup_type_name(parsed->type), created, orig, comp, ratio, tiers ? "  " : "",
		tiers ? tiers : "");
}

enum result format_print_json(json_t *doc, struct error *err)
{
	if (!doc)
		return error_nomem(err);
	char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (!s)
		return error_nomem(err);
	printf("%s\n", s);
	free(s);
	return CB_OK;
}
