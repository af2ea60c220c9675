/*
 * Metadata documents (common/meta.h, common/increment.h): reading their
 * fields with one kind of error line -- CB_ERR_CORRUPT, "<what> field
 * "<key>" is missing" -- and writing them indented, ending in a newline.
 */
#ifndef CBSYNC_JSONDOC_H
#define CBSYNC_JSONDOC_H

#include "common/result.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* "<what> field "<field>" <problem>", CB_ERR_CORRUPT. */
enum result jsondoc_bad(struct error *err, const char *what, const char *field,
			const char *problem);

/* An integer field of at least min. */
enum result jsondoc_int(json_t *o, const char *what, const char *key, int64_t min, int64_t *out,
			struct error *err);

/* A string field that fits in size bytes (with its NUL). */
enum result jsondoc_str(json_t *o, const char *what, const char *key, char *out, size_t size,
			struct error *err);

/* A failure as the --json outputs give it: {"message", "kind"
 * (result_name), "exit_code"}; NULL if out of memory. */
json_t *jsondoc_error(enum result r, const char *message);

/* o (taken) as indented JSON text ending in a newline; NULL if out of memory. */
char *jsondoc_text(json_t *o);

#endif
