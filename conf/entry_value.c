/*
 * The value an entry stands for: in the file, ${VAR} is replaced by the
 * variable's value and $$ by "$" (the environment's values are taken as they
 * are); a KEY_file entry's value is a path, and the value is what that file
 * holds, one trailing newline removed.
 */
#include "conf/loader.h"

#include "common/buf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Expand ${VAR} and $$ in a file value; NULL on failure (reported). */
static char *expand(struct loader *ld, const char *where, const char *raw)
{
	struct buf out = {0};
	for (const char *p = raw; *p;) {
		const char *piece = p;
		size_t piece_len = 1;
		if (*p == '$') {
			if (p[1] == '$') {
				p += 2;
			} else if (p[1] == '{') {
				const char *name = p + 2;
				size_t n = 0;
				while (isalnum((unsigned char)name[n]) || name[n] == '_')
					n++;
				if (name[n] != '}' || n == 0 || n > 200 ||
				    isdigit((unsigned char)name[0])) {
					ld_bad(ld, "%s: \"${\" must be followed by a variable name and \"}\"; "
					    "HINT: write \"$$\" for a literal \"$\"", where);
					goto fail;
				}
				char var[256];
				snprintf(var, sizeof(var), "%.*s", (int)n, name);
				piece = ld_env_get(ld, var);
				if (!piece) {
					ld_bad(ld, "%s: environment variable %s is not set (used as \"${%s}\")",
					    where, var, var);
					goto fail;
				}
				piece_len = strlen(piece);
				p = name + n + 1;
			} else {
				ld_bad(ld, "%s: a \"$\" must start \"${NAME}\"; HINT: write \"$$\" for a "
				    "literal \"$\"", where);
				goto fail;
			}
		} else {
			p++;
		}
		buf_add(&out, piece, piece_len);
	}
	char *s = buf_take(&out);
	if (!s)
		ld_nomem(ld);
	return s;
fail:
	buf_free(&out);
	return NULL;
}

/* The content of a KEY_file: the whole file, one trailing newline removed. */
static char *read_value_file(struct loader *ld, const char *where, const char *path,
			     unsigned *mode)
{
	char *data = NULL, why[200];
	size_t n = 0;
	switch (ld_read_file(path, LD_MAX_VALUE_FILE, &data, &n, mode, why, sizeof(why))) {
	case LD_READ_OK:
		break;
	case LD_READ_ERRNO:
		ld_bad(ld, "%s: cannot read '%s': %s", where, path, why);
		return NULL;
	case LD_READ_NOT_REGULAR:
	case LD_READ_DIRECTORY:
		ld_bad(ld, "%s: cannot read '%s': %s; HINT: a _file setting names a regular file "
		    "that holds the value", where, path, why);
		return NULL;
	case LD_READ_TOO_LARGE:
		ld_bad(ld, "%s: cannot read '%s': it is larger than %d KiB, the most a value file "
		    "may hold; HINT: is this the right file?", where, path,
		    LD_MAX_VALUE_FILE / 1024);
		return NULL;
	case LD_READ_NOMEM:
		ld_nomem(ld);
		return NULL;
	}
	if (memchr(data, '\0', n)) {
		ld_bad(ld, "%s: '%s' contains a NUL byte", where, path);
		free(data);
		return NULL;
	}
	if (n && data[n - 1] == '\n') {
		n--;
		if (n && data[n - 1] == '\r')
			n--;
	}
	data[n] = '\0';
	return data;
}

/* The value an entry stands for: a file value is ${}-expanded first; a
 * KEY_file value is a path whose content is the value.  *file is set to the
 * path (owned by the caller) for KEY_file. */
char *ld_entry_value(struct loader *ld, const char *where, const char *raw,
			 enum ld_layer layer, bool via_file, char **file, unsigned *mode)
{
	char *v = layer == LAYER_FILE ? expand(ld, where, raw) : strdup(raw);
	*file = NULL;
	if (!v) {
		if (!ld->rc)
			ld_nomem(ld);
		return NULL;
	}
	if (!via_file)
		return v;
	char *content = read_value_file(ld, where, v, mode);
	if (!content) {
		free(v);
		return NULL;
	}
	*file = v;
	return content;
}
