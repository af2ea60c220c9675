/*
 * Reading and writing metadata documents.
 */
#include "common/jsondoc.h"

#include <stdlib.h>
#include <string.h>

enum result jsondoc_bad(struct error *err, const char *what, const char *field,
			const char *problem)
{
	return error_set(err, CB_ERR_CORRUPT, "%s field \"%s\" %s", what, field, problem);
}

enum result jsondoc_int(json_t *o, const char *what, const char *key, int64_t min, int64_t *out,
			struct error *err)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return jsondoc_bad(err, what, key, "is missing");
	if (!json_is_integer(v))
		return jsondoc_bad(err, what, key, "is not an integer");
	if (json_integer_value(v) < min)
		return jsondoc_bad(err, what, key, "is out of range");
	*out = json_integer_value(v);
	return CB_OK;
}

enum result jsondoc_str(json_t *o, const char *what, const char *key, char *out, size_t size,
			struct error *err)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return jsondoc_bad(err, what, key, "is missing");
	if (!json_is_string(v))
		return jsondoc_bad(err, what, key, "is not a string");
	const char *s = json_string_value(v);
	if (strlen(s) >= size)
		return jsondoc_bad(err, what, key, "is too long");
	memcpy(out, s, strlen(s) + 1);
	return CB_OK;
}

char *jsondoc_text(json_t *o)
{
	if (!o)
		return NULL;
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	json_decref(o);
	if (!s)
		return NULL;
	size_t n = strlen(s);
	char *out = realloc(s, n + 2);
	if (!out) {
		free(s);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	return out;
}

json_t *jsondoc_error(enum result r, const char *message)
{
	return json_pack("{s:s, s:s, s:i}", "message", message, "kind", result_name(r),
			 "exit_code", result_exit_code(r));
}
