/*
 * Human-readable numbers for command output.
 */
#ifndef CBSYNC_FORMAT_H
#define CBSYNC_FORMAT_H

#include "agent/tiers/catalog.h"
#include "common/backup_name.h"
#include "common/meta.h"
#include "common/text.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>

/* The backup table of `list`: a header, then a row per backup.  width is the
 * longest name's length; tiers (NULL to leave the column out) says where a
 * backup is; meta may be NULL (a backup without metadata). */
void format_backup_header(FILE *out, int width, bool tiers);
void format_backup_row(FILE *out, int width, const char *name, const struct backup_name *parsed,
		       int64_t compressed, const struct backup_meta *meta, const char *tiers);

/* One chain of increments as `list` shows it, from the names alone (no
 * metadata is read): the increments whose objects are there, the span of
 * the times their names give, their total size (roll-ups' too, which are
 * not counted as increments: they add no state); incomplete counts those
 * listed with only their object or only their metadata. */
struct chain_summary {
	char snapshot[BACKUP_NAME_MAX];
	size_t count;
	size_t incomplete;
	int64_t first, last;    /* seconds */
	uint64_t size;
};

/* The chains among a catalog's increments (sorted as the catalog sorts
 * them), into a new array (*out, free it); returns how many, or -1 when
 * memory runs out. */
long format_chains(const struct catalog_incr *incrs, size_t n, struct chain_summary **out);

/* The chain of snapshot among chains, or NULL. */
const struct chain_summary *format_chain_find(const struct chain_summary *chains, size_t n,
					      const char *snapshot);

/* One line, after the backup table: "  <snapshot>: 7 increments, <first>
 * to <last>, 4.20 KiB" and what else applies (incomplete ones, tiers, a
 * snapshot that is not listed). */
void format_chain_line(FILE *out, const struct chain_summary *c, const char *tiers,
		       bool snapshot_listed);

/* {"count":, "first":, "last":, "compressed_size":, "incomplete":} */
json_t *format_chain_json(const struct chain_summary *c);

/* Print doc (taking it) indented on stdout: the --json output.  Reals
 * print with 15 significant digits, so a rounded 0.57 is 0.57. */
enum result format_print_json(json_t *doc, struct error *err);

/* When a --json command failed before it printed its document: print
 * {"error": {"message", "kind" (result_name), "exit_code"}} instead, so
 * that standard output always parses. */
void format_print_json_error(enum result r, const struct error *err);

#endif
