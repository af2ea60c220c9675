/*
 * Command-line parsing and help texts.
 */
#include "agent/cli/cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V(verb) (1u << (verb))
#define V_ALL (~0u)

enum opt_id {
	OPT_CONFIG, OPT_DB, OPT_DIR, OPT_HELP, OPT_TYPE, OPT_JSON, OPT_PATH, OPT_TO, OPT_DRY_RUN,
	OPT_NO_SYNC, OPT_REMOTE, OPT_TIER, OPT_FROM, OPT_LATEST, OPT_NAME, OPT_BEFORE, OPT_AT,
	OPT_IF_DB_NOT_EXISTS, OPT_IF_BACKUP_EXISTS, OPT_FALLBACK, OPT_ALL, OPT_NOW, OPT_REMOTES,
	OPT_OUT, OPT_SIGNING,
};

enum arg_kind {
	ARG_NONE,
	ARG_VALUE,     /* --opt VALUE or --opt=VALUE */
	ARG_COUNT,     /* --opt, optionally followed by a count: --latest 3 */
};

struct opt_spec {
	const char *name;
	enum arg_kind arg;
	enum opt_id id;
	unsigned verbs;
};

/* Verbs that read the configuration. */
#define V_CONF (V(VERB_BACKUP) | V(VERB_LIST) | V(VERB_STATS) | V(VERB_RESTORE) | \
		V(VERB_PRUNE) | V(VERB_VERIFY) | V(VERB_PUSH) | V(VERB_AGENT) | V(VERB_STATUS) | \
		V(VERB_CONFIG) | V(VERB_DRILL))

static const struct opt_spec options[] = {
	{"config", ARG_VALUE, OPT_CONFIG, V_CONF},
	{"db", ARG_VALUE, OPT_DB, V_CONF},
	{"dir", ARG_VALUE, OPT_DIR, V_CONF},
	{"help", ARG_NONE, OPT_HELP, V_ALL},
	{"type", ARG_VALUE, OPT_TYPE, V(VERB_BACKUP) | V(VERB_RESTORE)},
	{"json", ARG_NONE, OPT_JSON, V(VERB_LIST) | V(VERB_STATS) | V(VERB_STATUS) | V(VERB_DRILL) |
					     V(VERB_VERIFY) | V(VERB_PUSH) | V(VERB_RESTORE)},
	{"path", ARG_VALUE, OPT_PATH, V(VERB_RESTORE)},
	{"to", ARG_VALUE, OPT_TO, V(VERB_RESTORE)},
	{"dry-run", ARG_NONE, OPT_DRY_RUN, V(VERB_PRUNE) | V(VERB_RESTORE)},
	{"no-sync", ARG_NONE, OPT_NO_SYNC, V(VERB_BACKUP)},
	{"remote", ARG_VALUE, OPT_REMOTE, V(VERB_PUSH)},
	{"tier", ARG_VALUE, OPT_TIER, V(VERB_LIST) | V(VERB_VERIFY) | V(VERB_PRUNE) | V(VERB_DRILL) |
					     V(VERB_STATS)},
	{"from", ARG_VALUE, OPT_FROM, V(VERB_RESTORE)},
	{"latest", ARG_COUNT, OPT_LATEST, V(VERB_RESTORE) | V(VERB_VERIFY)},
	{"name", ARG_VALUE, OPT_NAME, V(VERB_RESTORE)},
	{"before", ARG_VALUE, OPT_BEFORE, V(VERB_RESTORE)},
	{"at", ARG_VALUE, OPT_AT, V(VERB_RESTORE)},
	{"if-db-not-exists", ARG_NONE, OPT_IF_DB_NOT_EXISTS, V(VERB_RESTORE)},
	{"if-backup-exists", ARG_NONE, OPT_IF_BACKUP_EXISTS, V(VERB_RESTORE)},
	{"fallback", ARG_NONE, OPT_FALLBACK, V(VERB_RESTORE)},
	{"all", ARG_NONE, OPT_ALL, V(VERB_VERIFY)},
	{"now", ARG_VALUE, OPT_NOW, V(VERB_PRUNE)},
	{"remotes", ARG_NONE, OPT_REMOTES, V(VERB_CONFIG)},
	{"out", ARG_VALUE, OPT_OUT, V(VERB_KEYGEN)},
	{"signing", ARG_NONE, OPT_SIGNING, V(VERB_KEYGEN)},
};

struct verb_info {
	const char *name;
	const char *summary;
	const char *usage;
	const char *details;
};

static const struct verb_info verbs[VERB_COUNT] = {
	[VERB_BACKUP] = {"backup", "make a consistent, gzip'd snapshot of the database now",
			 "cbsync backup [--type manual|daily|weekly|monthly] [--no-sync] [--db PATH] [--dir PATH]",
			 "  --type T     backup type (default manual); daily, weekly and monthly\n"
			 "               backups apply the retention policy after they are made\n"
			 "  --no-sync    do not push to the configured remotes afterwards\n"},
	[VERB_LIST] = {"list", "list every backup, newest first",
		       "cbsync list [--tier local|REMOTE|all] [--json] [--dir PATH]",
		       "  --tier T     the local tier (default), one remote, or all tiers\n"
		       "               together with a column saying where each backup is\n"
		       "  --json       one JSON array instead of a table, an object per backup\n"
		       "               with the same fields whatever --tier is\n"
		       "Chains of increments follow the table, one line each (count, time span,\n"
		       "size); with --json, each backup's \"increments\" object, by tier.\n"},
	[VERB_STATS] = {"stats", "count and size per type, disk used, oldest and newest",
			"cbsync stats [--tier local|REMOTE|all] [--json] [--db PATH] [--dir PATH]",
			"  --tier T     a remote, or every tier, instead of the local tier\n"
			"               (a remote's metadata is read: a request per backup)\n"
			"  --json       one JSON object instead of text; with --tier, an\n"
			"               object per tier under \"tiers\"\n"},
	[VERB_RESTORE] = {"restore", "check a backup, make a restore point, and restore it",
			  "cbsync restore (--path FILE | [--from TIER] (--latest | --at TIME | --before TIME\n"
			  "                      | --name BACKUP) [--type T] [--fallback]) [--to PATH]\n"
			  "                      [--if-db-not-exists] [--if-backup-exists] [--dry-run]\n"
			  "                      [--json]",
			  "  --path FILE  the .db.gz to restore (a bare name is looked up in the\n"
			  "               backup directory)\n"
			  "  --latest     the newest state of the database in any tier: the newest\n"
			  "               snapshot and all its increments (the local copy when\n"
			  "               several tiers hold it)\n"
			  "  --at TIME    the newest captured state at or before TIME: a snapshot\n"
			  "               and the increments of its chain up to TIME.  TIME is\n"
			  "               2026-11-29T09:48:00Z or with an offset (+01:00), local\n"
			  "               time (2026-11-29 09:48[:30]), or 10 minutes ago, -10min,\n"
			  "               2h ago, 90s ago, 1 day ago, now\n"
			  "  --before T   the newest backup created at or before T (UTC, 2026-02-02\n"
			  "               or 2026-02-02T12:00:00Z), with its increments up to T\n"
			  "  --name B     that backup, from the first tier that holds it\n"
			  "  --from TIER  only this tier: local or a remote's name\n"
			  "  --type T     only backups of this type, without increments\n"
			  "  --fallback   if the chosen backup or increment fails a check, take the\n"
			  "               next (another tier's copy, or the newest state before it)\n"
			  "  --to PATH    restore into PATH (which must not exist) and leave the\n"
			  "               live database alone\n"
			  "  --if-db-not-exists  do nothing (exit 0) if the database exists\n"
			  "  --if-backup-exists  do nothing (exit 0) if no tier holds a backup yet\n"
			  "  --dry-run    print the backup and increments it would use, the time of\n"
			  "               the state it reaches and the bytes it would read; change\n"
			  "               nothing\n"
			  "  --json       one JSON object on standard output instead of the\n"
			  "               summary: what was restored (or would be), from where,\n"
			  "               into what, the state's time and the checks made\n"
			  "\n"
			  "Each increment is checked as it is applied (size, SHA-256, gzip, WAL and\n"
			  "the state checksum after it); one that fails, or is missing before the\n"
			  "time asked for, is named and nothing is installed.\n"},
	[VERB_PRUNE] = {"prune", "delete backups the retention policy no longer keeps",
			"cbsync prune [--tier local|REMOTE|all] [--dry-run] [--now TIME]",
			"  --tier T     the local tier (default), one remote, or every tier\n"
			"  --dry-run    show every backup, kept or deleted, and the rule that\n"
			"               decided; delete nothing\n"
			"  --now TIME   apply the policy as of TIME (UTC), e.g. to plan ahead\n"},
	[VERB_VERIFY] = {"verify", "check stored backups as restore would, without restoring",
			 "cbsync verify [FILE...] | [--tier local|REMOTE|all] [--all | --latest [N]]\n"
			 "                     [--json]",
			 "  FILE...      backups to check (default: every backup in the directory);\n"
			 "               a snapshot's chain of increments on the same tier is\n"
			 "               checked too, as restore would apply it\n"
			 "  --tier T     check the backups a tier holds, downloading a remote's\n"
			 "  --all        every backup of the tier (default for the local tier)\n"
			 "  --latest N   the N newest (default 1 for a remote)\n"
			 "  --json       one JSON object: the counts and a result per backup and\n"
			 "               per chain checked\n"},
	[VERB_PUSH] = {"push", "sync now: upload to each remote what its policy wants and lacks",
		       "cbsync push [--remote NAME] [--json]",
		       "  --remote NAME  only this remote (default: every configured remote)\n"
		       "  --json         one JSON array, an object per remote: what went up,\n"
		       "                 what was there, what its retention deleted\n"},
	[VERB_AGENT] = {"agent", "run the daemon: scheduled and change backups, retention",
			"cbsync agent [--config PATH]",
			"  Runs in the foreground until SIGTERM or SIGINT (exit 0); SIGHUP reloads\n"
			"  the configuration.  Takes the daily, weekly and monthly backups on\n"
			"  schedule and a change backup soon after the database changes.\n"},
	[VERB_STATUS] = {"status", "what the agent is doing and did last",
			 "cbsync status [--json] [--dir PATH]",
			 "  --json       one JSON object instead of text\n"},
	[VERB_CONFIG] = {"config", "validate and print the effective configuration",
			 "cbsync config check [--remotes] [--config PATH]",
			 "  check        validate every setting (file, environment, flags, and\n"
			 "               each remote's as its backend checks them, offline) and\n"
			 "               print the result, secrets masked; exit 3 if invalid\n"
			 "  --remotes    instead, connect to each remote: list it, write, read\n"
			 "               back and delete a small probe object (no backup is\n"
			 "               uploaded), one line per remote; the exit status is the\n"
			 "               worst failure's (3 settings, 9 unreachable, 10 refused)\n"},
	[VERB_KEYGEN] = {"keygen", "make an age identity (X25519) for encrypted backups, or a "
			 "signing key",
			 "cbsync keygen [--signing] [--out FILE]",
			 "  --out FILE   write the identity to FILE (mode 0600; it must not exist\n"
			 "               yet) instead of standard output\n"
			 "  --signing    instead, an Ed25519 key for [signing] key_file: the\n"
			 "               private key as PEM (to FILE, and its public half to\n"
			 "               FILE.pub), and 'Verify key: ...' on standard error, the\n"
			 "               value for [signing] verify_key\n"
			 "\n"
			 "Writes what age-keygen writes: a '# created:' line, a '# public key:'\n"
			 "line and the secret key (AGE-SECRET-KEY-1...), and prints 'Public key:\n"
			 "age1...' on standard error.  The public key is the recipient to encrypt\n"
			 "to; the file is the identity that decrypts, for cbsync or for\n"
			 "'age -d -i FILE'.  Keep it off the machine whose backups it protects.\n"},
	[VERB_DRILL] = {"drill", "prove each tier restores: restore its newest state aside and "
			"check it",
			"cbsync drill [--tier local|REMOTE|all] [--json]",
			"  --tier T     the local tier, one remote, or every tier (default all)\n"
			"  --json       one JSON array, an object per tier\n"
			"\n"
			"For each tier: restore its newest state (snapshot and increments,\n"
			"decrypted if need be) with every check restore makes into a scratch\n"
			"directory ([drill] dir, default .cbsync-drill beside the database), run\n"
			"PRAGMA foreign_key_check and each statement of [drill] check_sql (each\n"
			"must return a true value), then remove the copy.  Prints the recovery\n"
			"time and how old the recovered state was; records both for status,\n"
			"/metrics and /healthz.  Never touches the database or any tier.  Exit 0\n"
			"when every drill passed, else the worst failure's status (5: a backup or\n"
			"a check failed).\n"},
	[VERB_VERSION] = {"version", "print the version", "cbsync version", ""},
	[VERB_HELP] = {"help", "show help for cbsync, for one verb, or for the backends",
		       "cbsync help [VERB | backends]", ""},
};

static const char common_help[] =
	"Options for every verb that uses them:\n"
	"  --config PATH  the configuration file (default $CBSYNC_CONFIG, else\n"
	"                 /etc/cbsync/cbsync.conf if it exists)\n"
	"  --db PATH      the database (default ai_db/cloudbrain.db; env CBSYNC_DB)\n"
	"  --dir PATH     the backup directory (default ai_db/backups; env\n"
	"                 CBSYNC_BACKUP_DIR)\n"
	"  -h, --help     help for the verb\n";

enum verb cli_verb_lookup(const char *name)
{
	for (int v = 1; v < VERB_COUNT; v++) {
		if (verbs[v].name && strcmp(verbs[v].name, name) == 0)
			return (enum verb)v;
	}
	return VERB_NONE;
}

const char *cli_verb_name(enum verb verb)
{
	return verbs[verb].name ? verbs[verb].name : "cbsync";
}

void cli_print_help(enum verb verb)
{
	if (verb != VERB_NONE && verbs[verb].name) {
		printf("usage: %s\n\n%s.\n", verbs[verb].usage, verbs[verb].summary);
		if (verbs[verb].details[0])
			printf("\n%s", verbs[verb].details);
		if (verb != VERB_VERSION && verb != VERB_HELP && verb != VERB_KEYGEN)
			printf("\n%s", common_help);
		return;
	}
	printf("cbsync: backups, offsite copies and restores for SQLite databases\n\n"
	       "usage: cbsync VERB [OPTIONS]\n\nVerbs:\n");
	for (int v = 1; v < VERB_COUNT; v++)
		printf("  %-9s %s\n", verbs[v].name, verbs[v].summary);
	printf("\n%s\nRun 'cbsync help VERB' for a verb's options.\n", common_help);
}

static const struct opt_spec *find_option(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(options) / sizeof(*options); i++) {
		if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
			return &options[i];
	}
	return NULL;
}

/* A positive decimal count, at most 6 digits. */
static bool is_count(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > 6 || s[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static void apply(struct cli *cli, enum opt_id id, const char *value)
{
	switch (id) {
	case OPT_CONFIG: cli->config = value; break;
	case OPT_DB: cli->db = value; break;
	case OPT_DIR: cli->dir = value; break;
	case OPT_HELP: cli->help = true; break;
	case OPT_TYPE: cli->type = value; break;
	case OPT_JSON: cli->json = true; break;
	case OPT_PATH: cli->path = value; break;
	case OPT_TO: cli->to = value; break;
	case OPT_DRY_RUN: cli->dry_run = true; break;
	case OPT_NO_SYNC: cli->no_sync = true; break;
	case OPT_REMOTE: cli->remote = value; break;
	case OPT_TIER: cli->tier = value; break;
	case OPT_FROM: cli->from = value; break;
	case OPT_LATEST:
		cli->latest = true;
		cli->latest_n = value ? strtol(value, NULL, 10) : 0;
		break;
	case OPT_NAME: cli->name = value; break;
	case OPT_BEFORE: cli->before = value; break;
	case OPT_AT: cli->at = value; break;
	case OPT_IF_DB_NOT_EXISTS: cli->if_db_not_exists = true; break;
	case OPT_IF_BACKUP_EXISTS: cli->if_backup_exists = true; break;
	case OPT_FALLBACK: cli->fallback = true; break;
	case OPT_ALL: cli->all = true; break;
	case OPT_NOW: cli->now = value; break;
	case OPT_REMOTES: cli->check_remotes = true; break;
	case OPT_OUT: cli->out = value; break;
	case OPT_SIGNING: cli->signing = true; break;
	}
}

enum result cli_parse(struct cli *cli, int argc, char **argv, struct error *err)
{
	/* Options seen before the verb is known are checked once it is. */
	bool seen[sizeof(options) / sizeof(*options)] = {false};
	bool options_done = false;

	cli->args = calloc((size_t)argc + 1, sizeof(char *));
	if (!cli->args)
		return error_nomem(err);
	for (int i = 1; i < argc; i++) {
		char *a = argv[i];
		if (!options_done && strcmp(a, "--") == 0) {
			options_done = true;
			continue;
		}
		if (!options_done && (strcmp(a, "-h") == 0)) {
			cli->help = true;
			continue;
		}
		if (!options_done && a[0] == '-' && a[1] == '-') {
			const char *name = a + 2;
			const char *eq = strchr(name, '=');
			size_t len = eq ? (size_t)(eq - name) : strlen(name);
			const struct opt_spec *o = find_option(name, len);
			if (!o)
				return error_set(err, CB_ERR_USAGE,
						 "unknown option '%.*s'; HINT: see 'cbsync help'",
						 (int)(len + 2), a);
			const char *value = NULL;
			if (o->arg == ARG_COUNT) {
				/* An optional count: --latest, --latest 3, --latest=3. */
				const char *count = eq ? eq + 1
						       : (i + 1 < argc && is_count(argv[i + 1]) ? argv[i + 1]
												    : NULL);
				if (count && !is_count(count))
					return error_set(err, CB_ERR_USAGE,
							 "option '--%s' takes a positive count, not '%s'",
							 o->name, count);
				if (count && !eq)
					i++;
				value = count;
			} else if (o->arg == ARG_VALUE) {
				if (eq)
					value = eq + 1;
				else if (i + 1 < argc)
					value = argv[++i];
				else
					return error_set(err, CB_ERR_USAGE,
							 "option '--%s' needs a value", o->name);
				if (!*value)
					return error_set(err, CB_ERR_USAGE,
							 "option '--%s' needs a value", o->name);
			} else if (eq) {
				return error_set(err, CB_ERR_USAGE,
						 "option '--%s' takes no value", o->name);
			}
			seen[o - options] = true;
			apply(cli, o->id, value);
			continue;
		}
		if (!options_done && a[0] == '-' && a[1] != '\0')
			return error_set(err, CB_ERR_USAGE,
					 "unknown option '%s'; HINT: see 'cbsync help'", a);
		if (cli->verb == VERB_NONE) {
			cli->verb = cli_verb_lookup(a);
			if (cli->verb == VERB_NONE)
				return error_set(err, CB_ERR_USAGE,
						 "unknown command '%s'; HINT: see 'cbsync help'", a);
			continue;
		}
		cli->args[cli->nargs++] = a;
	}
	for (size_t i = 0; i < sizeof(options) / sizeof(*options); i++) {
		if (seen[i] && cli->verb != VERB_NONE && !(options[i].verbs & V(cli->verb)))
			return error_set(err, CB_ERR_USAGE,
					 "option '--%s' does not apply to '%s'; HINT: see "
					 "'cbsync help %s'",
					 options[i].name, cli_verb_name(cli->verb),
					 cli_verb_name(cli->verb));
	}
	if (cli->verb == VERB_CONFIG && !cli->help &&
	    (cli->nargs != 1 || strcmp(cli->args[0], "check") != 0))
		return error_set(err, CB_ERR_USAGE,
				 "'config' needs a subcommand: 'cbsync config check'");
	bool takes_args = cli->verb == VERB_VERIFY || cli->verb == VERB_HELP ||
			  cli->verb == VERB_CONFIG;
	if (cli->nargs > 0 && !takes_args && !cli->help)
		return error_set(err, CB_ERR_USAGE,
				 "unexpected argument '%s' for '%s'; HINT: see 'cbsync help %s'",
				 cli->args[0], cli_verb_name(cli->verb), cli_verb_name(cli->verb));
	return CB_OK;
}
