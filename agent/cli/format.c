/*
 * The backup table of `list`, and --json output.
 */
#include "agent/cli/format.h"
#include "common/jsondoc.h"

#include "common/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

long format_chains(const struct catalog_incr *incrs, size_t n, struct chain_summary **out)
{
	size_t k = 0;
	*out = calloc(n ? n : 1, sizeof(**out));
	if (!*out)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct catalog_incr *e = &incrs[i];
		struct chain_summary *c = k ? &(*out)[k - 1] : NULL;
		if (!c || strcmp(c->snapshot, e->parsed.snapshot) != 0) {
			c = &(*out)[k++];
			snprintf(c->snapshot, sizeof(c->snapshot), "%s", e->parsed.snapshot);
		}
		if (!e->has_data || !e->has_meta)
			c->incomplete++;
		if (!e->has_data)
			continue;
		c->size += e->size;
		if (e->parsed.rollup)
			continue;   /* no state of its own: counted in size only */
		if (c->count++ == 0 || e->parsed.first < c->first)
			c->first = e->parsed.first;
		if (c->count == 1 || e->parsed.last > c->last)
			c->last = e->parsed.last;
	}
	return (long)k;
}

const struct chain_summary *format_chain_find(const struct chain_summary *chains, size_t n,
					      const char *snapshot)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(chains[i].snapshot, snapshot) == 0)
			return &chains[i];
	return NULL;
}

void format_chain_line(FILE *out, const struct chain_summary *c, const char *tiers,
		       bool snapshot_listed)
{
	char first[32], last[32], size[32];
	time_format_iso(c->first, first, sizeof(first));
	time_format_iso(c->last, last, sizeof(last));
	format_size(c->size, size, sizeof(size));
	fprintf(out, "  %s: %zu increment%s", c->snapshot, c->count, c->count == 1 ? "" : "s");
	if (c->count)
		fprintf(out, ", %s to %s, %s", first, last, size);
	if (c->incomplete)
		fprintf(out, ", %zu incomplete", c->incomplete);
	if (tiers)
		fprintf(out, ", on %s", tiers);
	fprintf(out, "%s\n", snapshot_listed ? "" : "; its snapshot is not listed");
}

json_t *format_chain_json(const struct chain_summary *c)
{
	char first[32], last[32];
	time_format_iso(c->first, first, sizeof(first));
	time_format_iso(c->last, last, sizeof(last));
	return json_pack("{s:I, s:o, s:o, s:I, s:I}", "count", (json_int_t)c->count, "first",
			 c->count ? json_string(first) : json_null(), "last",
			 c->count ? json_string(last) : json_null(), "compressed_size",
			 (json_int_t)c->size, "incomplete", (json_int_t)c->incomplete);
}

static bool json_printed;

enum result format_print_json(json_t *doc, struct error *err)
{
	char *text = jsondoc_text(doc);
	if (!text)
		return error_nomem(err);
	fputs(text, stdout);
	free(text);
	json_printed = true;
	return CB_OK;
}

void format_print_json_error(enum result r, const struct error *err)
{
	if (json_printed)
		return;
	json_t *doc = json_pack("{s:o}", "error", jsondoc_error(r, err->msg));
	char *text = jsondoc_text(doc);
	if (text)
		fputs(text, stdout);
	free(text);
	json_printed = true;
}
