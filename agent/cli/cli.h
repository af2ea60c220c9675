/*
 * Command-line parsing.  Options may come before or after the verb
 * (`cbsync --db x backup` and `cbsync backup --db x` are the same); each
 * option is valid for a set of verbs, and anything else is a usage error that
 * names the option and the verb.
 */
#ifndef CBSYNC_CLI_H
#define CBSYNC_CLI_H

#include "common/result.h"
#include "conf/conf.h"

#include <stdbool.h>

enum verb {
	VERB_NONE,
	VERB_BACKUP,
	VERB_LIST,
	VERB_STATS,
	VERB_RESTORE,
	VERB_PRUNE,
	VERB_VERIFY,
	VERB_PUSH,
	VERB_AGENT,
	VERB_STATUS,
	VERB_CONFIG,
	VERB_KEYGEN,
	VERB_DRILL,
	VERB_VERSION,
	VERB_HELP,
	VERB_COUNT
};

struct cli {
	enum verb verb;
	bool help;            /* --help / -h given */
	const char *config;   /* --config */
	const char *db;       /* --db */
	const char *dir;      /* --dir */
	const char *type;     /* backup --type */
	bool json;            /* list, stats, status, drill --json */
	const char *path;     /* restore --path */
	const char *to;       /* restore --to */
	bool dry_run;         /* prune, restore --dry-run */
	bool no_sync;         /* backup --no-sync */
	const char *remote;   /* push --remote */
	bool check_remotes;   /* config check --remotes */
	const char *tier;     /* list, verify, prune, drill --tier */
	const char *from;     /* restore --from */
	bool latest;          /* restore, verify --latest */
	long latest_n;        /* verify --latest N (0 when not given) */
	const char *name;     /* restore --name */
	const char *before;   /* restore --before */
	const char *at;       /* restore --at */
	bool if_db_not_exists;  /* restore --if-db-not-exists */
	bool if_backup_exists;  /* restore --if-backup-exists */
	bool fallback;        /* restore --fallback */
	bool all;             /* verify --all */
	const char *now;      /* prune --now */
	const char *out;      /* keygen --out */
	bool signing;         /* keygen --signing */
	int nargs;            /* positional arguments after the verb */
	char **args;
	struct conf conf;     /* effective configuration */
	struct conf_load_opts load_opts; /* how conf was loaded (for reloads) */
};

/* Parse argv into cli (args points into argv).  Usage errors return
 * CB_ERR_USAGE with a message. */
enum result cli_parse(struct cli *cli, int argc, char **argv, struct error *err);

/* Print general help, or a verb's help, to stdout. */
void cli_print_help(enum verb verb);

enum verb cli_verb_lookup(const char *name);
const char *cli_verb_name(enum verb verb);

#endif
