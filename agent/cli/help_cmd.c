/*
 * What this cbsync is: `cbsync version` and `cbsync help backends`.
 */
#include "agent/cli/commands.h"
#include "backends/backend.h"

#include <sqlite3.h>
#include <stdio.h>
#include <version.h>
#include <zlib.h>

static const char *type_name(enum conf_type t)
{
	switch (t) {
	case CONF_STRING: return "string";
	case CONF_BOOL: return "boolean";
	case CONF_INT: return "integer";
	case CONF_SIZE: return "size";
	case CONF_DURATION: return "duration";
	case CONF_PATH: return "path";
	case CONF_URL: return "URL";
	}
	return "value";
}

void print_backends_help(void)
{
	size_t n = 0;
	const struct backend_ops *const *reg = backend_registry(&n);
	printf("Remote backends built into this cbsync, configured as [remote \"NAME\"]\n"
	       "sections (or CBSYNC_REMOTE_<NAME>_<KEY> variables).  Every remote also takes\n"
	       "keep_daily, keep_weekly, keep_monthly and keep_change (default: the local\n"
	       "tier's).\n");
	for (size_t i = 0; i < n; i++) {
		printf("\ntype = %s: %s\n", reg[i]->type, reg[i]->description);
		for (size_t k = 0; k < reg[i]->n_keys; k++) {
			const struct conf_key_spec *s = &reg[i]->keys[k];
			char extra[96] = "";
			if (s->required)
				snprintf(extra, sizeof(extra), ", required");
			else if (s->default_value)
				snprintf(extra, sizeof(extra), ", default %s", s->default_value);
			printf("  %-24s %s%s%s\n      %s\n", s->key, type_name(s->type), extra,
			       s->secret ? ", secret" : "", s->description);
		}
	}
}

enum result cmd_version(struct cli *cli, struct error *err)
{
	(void)cli;
	(void)err;
	printf("cbsync %s (SQLite %s, zlib %s)\n", CBSYNC_VERSION, sqlite3_libversion(),
	       zlibVersion());
	return CB_OK;
}
