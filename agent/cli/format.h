/*
 * Human-readable numbers for command output.
 */
#ifndef CBSYNC_FORMAT_H
#define CBSYNC_FORMAT_H

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

/* Print doc (taking it) indented on stdout: the --json output. */
enum result format_print_json(json_t *doc, struct error *err);

#endif
