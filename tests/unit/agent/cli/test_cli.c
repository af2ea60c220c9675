/*
 * Unit tests for agent/cli.c: cli_parse and the verb table.
 *
 * Each case builds an argv, parses it into a zeroed struct cli, and checks
 * the fields (or the exact usage message).  cli_parse allocates cli->args
 * even when it fails, so every case frees it.
 */
#include "agent/cli/cli.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof(*(a))) - 1)

/* Parse argv (NULL-terminated, argc entries before the NULL). */
static enum result parse(struct cli *cli, int argc, char **argv, struct error *err)
{
	memset(cli, 0, sizeof(*cli));
	memset(err, 0, sizeof(*err));
	return cli_parse(cli, argc, argv, err);
}

static void done(struct cli *cli)
{
	free(cli->args);
	cli->args = NULL;
}

/* Expect a usage error with exactly this message. */
static void usage_error(int argc, char **argv, const char *want)
{
	struct cli cli;
	struct error err;
	enum result r = parse(&cli, argc, argv, &err);
	done(&cli);
	if (r != CB_ERR_USAGE)
		fail_msg("result %d (\"%s\"), want a usage error \"%s\"", (int)r, err.msg, want);
	assert_int_equal(err.code, CB_ERR_USAGE);
	assert_string_equal(err.msg, want);
}

static void test_seed_invocations(void **state)
{
	(void)state;
	struct cli cli;
	struct error err;

	char *a1[] = {"cbsync", "backup", "--type", "manual", NULL};
	assert_int_equal(parse(&cli, ARGC(a1), a1, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_BACKUP);
	assert_string_equal(cli.type, "manual");
	assert_ptr_equal(cli.type, a1[3]); /* points into argv */
	assert_null(cli.db);
	assert_null(cli.dir);
	assert_false(cli.help);
	assert_int_equal(cli.nargs, 0);
	done(&cli);

	char *a2[] = {"cbsync", "list", NULL};
	assert_int_equal(parse(&cli, ARGC(a2), a2, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_LIST);
	assert_false(cli.json);
	done(&cli);

	char *a3[] = {"cbsync", "stats", NULL};
	assert_int_equal(parse(&cli, ARGC(a3), a3, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_STATS);
	done(&cli);

	char *a4[] = {"cbsync", "restore", "--path",
		      "ai_db/backups/cloudbrain_manual_20260202_120000.db.gz", NULL};
	assert_int_equal(parse(&cli, ARGC(a4), a4, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_RESTORE);
	assert_string_equal(cli.path, "ai_db/backups/cloudbrain_manual_20260202_120000.db.gz");
	assert_null(cli.to);
	done(&cli);
}

static void test_no_arguments(void **state)
{
	(void)state;
	struct cli cli;
	struct error err;
	char *a[] = {"cbsync", NULL};
	assert_int_equal(parse(&cli, ARGC(a), a, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_NONE);
	assert_false(cli.help);
	assert_int_equal(cli.nargs, 0);
	assert_non_null(cli.args);
	assert_null(cli.args[0]);
	done(&cli);
}

static void test_options_before_and_after_verb(void **state)
{
	(void)state;
	struct cli cli;
	struct error err;

	char *before[] = {"cbsync", "--db", "x.db", "--dir", "bk", "backup", "--type", "daily",
			  NULL};
	assert_int_equal(parse(&cli, ARGC(before), before, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_BACKUP);
	assert_string_equal(cli.db, "x.db");
	assert_string_equal(cli.dir, "bk");
	assert_string_equal(cli.type, "daily");
	done(&cli);

	char *after[] = {"cbsync", "backup", "--type", "daily", "--dir", "bk", "--db", "x.db",
			 NULL};
	assert_int_equal(parse(&cli, ARGC(after), after, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_BACKUP);
	assert_string_equal(cli.db, "x.db");
	assert_string_equal(cli.dir, "bk");
	assert_string_equal(cli.type, "daily");
	done(&cli);

	/* Even a verb-specific option may come first. */
	char *early[] = {"cbsync", "--dry-run", "prune", NULL};
	assert_int_equal(parse(&cli, ARGC(early), early, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_PRUNE);
	assert_true(cli.dry_run);
	done(&cli);

	char *json[] = {"cbsync", "--json", "list", NULL};
	assert_int_equal(parse(&cli, ARGC(json), json, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_LIST);
	assert_true(cli.json);
	done(&cli);
}

static void test_equals_and_separate_forms(void **state)
{
	(void)state;
	struct cli a, b;
	struct error err;
	char *sep[] = {"cbsync", "restore", "--path", "p.db.gz", "--to", "new.db", "--db",
		       "live.db", NULL};
	char *eq[] = {"cbsync", "restore", "--path=p.db.gz", "--to=new.db", "--db=live.db",
		      NULL};
	assert_int_equal(parse(&a, ARGC(sep), sep, &err), CB_OK);
	assert_int_equal(parse(&b, ARGC(eq), eq, &err), CB_OK);
	assert_string_equal(a.path, "p.db.gz");
	assert_string_equal(b.path, "p.db.gz");
	assert_string_equal(a.to, "new.db");
	assert_string_equal(b.to, "new.db");
	assert_string_equal(a.db, "live.db");
	assert_string_equal(b.db, "live.db");
	assert_int_equal(a.verb, b.verb);
	/* The = form points just past the '=' in argv. */
	assert_ptr_equal(b.path, eq[2] + strlen("--path="));
	done(&a);
	done(&b);

	/* Only the first '=' separates: the value may contain more. */
	char *more[] = {"cbsync", "backup", "--db=a=b.db", NULL};
	assert_int_equal(parse(&a, ARGC(more), more, &err), CB_OK);
	assert_string_equal(a.db, "a=b.db");
	done(&a);

	/* A separate value is taken as is, even if it starts with dashes. */
	char *dash[] = {"cbsync", "backup", "--db", "--odd.db", NULL};
	assert_int_equal(parse(&a, ARGC(dash), dash, &err), CB_OK);
	assert_string_equal(a.db, "--odd.db");
	assert_int_equal(a.nargs, 0);
	done(&a);

	/* Repeated options: the last one wins. */
	char *twice[] = {"cbsync", "--db", "first.db", "backup", "--db=second.db", NULL};
	assert_int_equal(parse(&a, ARGC(twice), twice, &err), CB_OK);
	assert_string_equal(a.db, "second.db");
	done(&a);
}

static void test_flags(void **state)
{
	(void)state;
	struct cli cli;
	struct error err;
	char *a[] = {"cbsync", "stats", "--json", NULL};
	assert_int_equal(parse(&cli, ARGC(a), a, &err), CB_OK);
	assert_true(cli.json);
	assert_false(cli.dry_run);
	done(&cli);

	char *b[] = {"cbsync", "prune", "--dry-run", "--dir", "d", NULL};
	assert_int_equal(parse(&cli, ARGC(b), b, &err), CB_OK);
	assert_true(cli.dry_run);
	assert_false(cli.json);
	assert_string_equal(cli.dir, "d");
	done(&cli);

	char *c[] = {"cbsync", "list", "--json=yes", NULL};
	usage_error(ARGC(c), c, "option '--json' takes no value");
	char *d[] = {"cbsync", "prune", "--dry-run=", NULL};
	usage_error(ARGC(d), d, "option '--dry-run' takes no value");
}

/* restore --at takes a value that may start with "-"; restore takes
 * --dry-run. */
static void test_restore_at(void **state)
{
	(void)state;
	struct cli cli;
	struct error err = {0};
	char *a[] = {"cbsync", "restore", "--at", "-10min", "--dry-run", NULL};
	assert_int_equal(parse(&cli, ARGC(a), a, &err), CB_OK);
	assert_string_equal(cli.at, "-10min");
	assert_true(cli.dry_run);
	done(&cli);
	char *b[] = {"cbsync", "restore", "--at=10 minutes ago", NULL};
	assert_int_equal(parse(&cli, ARGC(b), b, &err), CB_OK);
	assert_string_equal(cli.at, "10 minutes ago");
	assert_false(cli.dry_run);
	done(&cli);
	char *c[] = {"cbsync", "restore", "--at", NULL};
	usage_error(ARGC(c), c, "option '--at' needs a value");
	char *d[] = {"cbsync", "list", "--at", "now", NULL};
	usage_error(ARGC(d), d, "option '--at' does not apply to 'list'; HINT: see 'cbsync help list'");
}

static void test_unknown_option(void **state)
{
	(void)state;
	char *a[] = {"cbsync", "backup", "--frobnicate", NULL};
	usage_error(ARGC(a), a, "unknown option '--frobnicate'; HINT: see 'cbsync help'");
	/* The value is not repeated in the message. */
	char *b[] = {"cbsync", "backup", "--frobnicate=secret", NULL};
	usage_error(ARGC(b), b, "unknown option '--frobnicate'; HINT: see 'cbsync help'");
	/* Before the verb too. */
	char *c[] = {"cbsync", "--nope", "list", NULL};
	usage_error(ARGC(c), c, "unknown option '--nope'; HINT: see 'cbsync help'");
	/* No abbreviations, no near misses. */
	char *d[] = {"cbsync", "backup", "--ty", "daily", NULL};
	usage_error(ARGC(d), d, "unknown option '--ty'; HINT: see 'cbsync help'");
	char *e[] = {"cbsync", "backup", "--types", "daily", NULL};
	usage_error(ARGC(e), e, "unknown option '--types'; HINT: see 'cbsync help'");
	char *f[] = {"cbsync", "backup", "--TYPE", "daily", NULL};
	usage_error(ARGC(f), f, "unknown option '--TYPE'; HINT: see 'cbsync help'");
	/* Single-dash options other than -h. */
	char *g[] = {"cbsync", "backup", "-t", "daily", NULL};
	usage_error(ARGC(g), g, "unknown option '-t'; HINT: see 'cbsync help'");
	char *h[] = {"cbsync", "-v", NULL};
	usage_error(ARGC(h), h, "unknown option '-v'; HINT: see 'cbsync help'");
	char *i[] = {"cbsync", "list", "--=x", NULL};
	usage_error(ARGC(i), i, "unknown option '--'; HINT: see 'cbsync help'");
}

static void test_option_not_for_verb(void **state)
{
	(void)state;
	char *a[] = {"cbsync", "list", "--type", "daily", NULL};
	usage_error(ARGC(a), a,
		    "option '--type' does not apply to 'list'; HINT: see 'cbsync help list'");
	char *b[] = {"cbsync", "--dry-run", "backup", NULL};
	usage_error(ARGC(b), b,
		    "option '--dry-run' does not apply to 'backup'; HINT: see 'cbsync help backup'");
	char *c[] = {"cbsync", "backup", "--json", NULL};
	usage_error(ARGC(c), c,
		    "option '--json' does not apply to 'backup'; HINT: see 'cbsync help backup'");
	char *d[] = {"cbsync", "prune", "--path", "x.db.gz", NULL};
	usage_error(ARGC(d), d,
		    "option '--path' does not apply to 'prune'; HINT: see 'cbsync help prune'");
	char *e[] = {"cbsync", "version", "--db", "x.db", NULL};
	usage_error(ARGC(e), e,
		    "option '--db' does not apply to 'version'; HINT: see 'cbsync help version'");
	char *f[] = {"cbsync", "stats", "--to=x.db", NULL};
	usage_error(ARGC(f), f,
		    "option '--to' does not apply to 'stats'; HINT: see 'cbsync help stats'");
	/* The first offending option is named. */
	char *g[] = {"cbsync", "--all", "--dry-run", "restore", "--path", "p", NULL};
	usage_error(ARGC(g), g,
		    "option '--all' does not apply to 'restore'; HINT: see 'cbsync help restore'");
}

static void test_missing_value(void **state)
{
	(void)state;
	char *a[] = {"cbsync", "backup", "--type", NULL};
	usage_error(ARGC(a), a, "option '--type' needs a value");
	char *b[] = {"cbsync", "backup", "--type=", NULL};
	usage_error(ARGC(b), b, "option '--type' needs a value");
	char *c[] = {"cbsync", "backup", "--db", "", NULL};
	usage_error(ARGC(c), c, "option '--db' needs a value");
	char *d[] = {"cbsync", "--dir", NULL};
	usage_error(ARGC(d), d, "option '--dir' needs a value");
	char *e[] = {"cbsync", "restore", "--to", NULL};
	usage_error(ARGC(e), e, "option '--to' needs a value");
}

static void test_positional_arguments(void **state)
{
	(void)state;
	char *a[] = {"cbsync", "backup", "extra", NULL};
	usage_error(ARGC(a), a,
		    "unexpected argument 'extra' for 'backup'; HINT: see 'cbsync help backup'");
	char *b[] = {"cbsync", "list", "--json", "one", "two", NULL};
	usage_error(ARGC(b), b,
		    "unexpected argument 'one' for 'list'; HINT: see 'cbsync help list'");
	char *c[] = {"cbsync", "restore", "p.db.gz", NULL};
	usage_error(ARGC(c), c,
		    "unexpected argument 'p.db.gz' for 'restore'; HINT: see 'cbsync help restore'");

	/* verify takes files. */
	struct cli cli;
	struct error err;
	char *v[] = {"cbsync", "verify", "a.db.gz", "--dir", "d", "b.db.gz", NULL};
	assert_int_equal(parse(&cli, ARGC(v), v, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_VERIFY);
	assert_int_equal(cli.nargs, 2);
	assert_ptr_equal(cli.args[0], v[2]);
	assert_ptr_equal(cli.args[1], v[5]);
	assert_null(cli.args[2]);
	assert_string_equal(cli.dir, "d");
	done(&cli);

	/* help takes a verb name. */
	char *h[] = {"cbsync", "help", "backup", NULL};
	assert_int_equal(parse(&cli, ARGC(h), h, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_HELP);
	assert_int_equal(cli.nargs, 1);
	assert_string_equal(cli.args[0], "backup");
	done(&cli);

	/* A lone "-" is an argument, not an option. */
	char *dash[] = {"cbsync", "verify", "-", NULL};
	assert_int_equal(parse(&cli, ARGC(dash), dash, &err), CB_OK);
	assert_int_equal(cli.nargs, 1);
	assert_string_equal(cli.args[0], "-");
	done(&cli);
}

static void test_unknown_verb(void **state)
{
	(void)state;
	char *a[] = {"cbsync", "frobnicate", NULL};
	usage_error(ARGC(a), a, "unknown command 'frobnicate'; HINT: see 'cbsync help'");
	char *b[] = {"cbsync", "--db", "x.db", "Backup", NULL};
	usage_error(ARGC(b), b, "unknown command 'Backup'; HINT: see 'cbsync help'");
	char *c[] = {"cbsync", "", NULL};
	usage_error(ARGC(c), c, "unknown command ''; HINT: see 'cbsync help'");
}

static void test_double_dash(void **state)
{
	(void)state;
	struct cli cli;
	struct error err;

	/* After "--", dashes are just names. */
	char *a[] = {"cbsync", "verify", "--dir", "d", "--", "--odd.db.gz", "-h", "--", NULL};
	assert_int_equal(parse(&cli, ARGC(a), a, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_VERIFY);
	assert_false(cli.help);
	assert_string_equal(cli.dir, "d");
	assert_int_equal(cli.nargs, 3);
	assert_string_equal(cli.args[0], "--odd.db.gz");
	assert_string_equal(cli.args[1], "-h");
	assert_string_equal(cli.args[2], "--");
	done(&cli);

	/* The verb may follow "--". */
	char *b[] = {"cbsync", "--db", "x.db", "--", "stats", NULL};
	assert_int_equal(parse(&cli, ARGC(b), b, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_STATS);
	assert_string_equal(cli.db, "x.db");
	assert_int_equal(cli.nargs, 0);
	done(&cli);

	/* An option after "--" is a positional argument, which backup refuses. */
	char *c[] = {"cbsync", "backup", "--", "--type", "daily", NULL};
	usage_error(ARGC(c), c,
		    "unexpected argument '--type' for 'backup'; HINT: see 'cbsync help backup'");

	/* "--" alone, or at the end. */
	char *d[] = {"cbsync", "list", "--", NULL};
	assert_int_equal(parse(&cli, ARGC(d), d, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_LIST);
	assert_int_equal(cli.nargs, 0);
	done(&cli);
}

static void test_help(void **state)
{
	(void)state;
	struct cli cli;
	struct error err;

	char *a[] = {"cbsync", "-h", NULL};
	assert_int_equal(parse(&cli, ARGC(a), a, &err), CB_OK);
	assert_true(cli.help);
	assert_int_equal(cli.verb, VERB_NONE);
	done(&cli);

	char *b[] = {"cbsync", "backup", "-h", NULL};
	assert_int_equal(parse(&cli, ARGC(b), b, &err), CB_OK);
	assert_true(cli.help);
	assert_int_equal(cli.verb, VERB_BACKUP);
	done(&cli);

	char *c[] = {"cbsync", "--help", "restore", NULL};
	assert_int_equal(parse(&cli, ARGC(c), c, &err), CB_OK);
	assert_true(cli.help);
	assert_int_equal(cli.verb, VERB_RESTORE);
	done(&cli);

	/* --help applies to every verb. */
	char *d[] = {"cbsync", "version", "--help", NULL};
	assert_int_equal(parse(&cli, ARGC(d), d, &err), CB_OK);
	assert_true(cli.help);
	assert_int_equal(cli.verb, VERB_VERSION);
	done(&cli);

	/* With help asked for, a stray argument is not an error. */
	char *e[] = {"cbsync", "backup", "extra", "-h", NULL};
	assert_int_equal(parse(&cli, ARGC(e), e, &err), CB_OK);
	assert_true(cli.help);
	done(&cli);

	char *f[] = {"cbsync", "backup", "--help=yes", NULL};
	usage_error(ARGC(f), f, "option '--help' takes no value");
	/* -h takes no attached value either. */
	char *g[] = {"cbsync", "backup", "-hx", NULL};
	usage_error(ARGC(g), g, "unknown option '-hx'; HINT: see 'cbsync help'");
}

static void test_config_option(void **state)
{
	(void)state;
	struct cli cli;
	struct error err;
	char *a[] = {"cbsync", "--config", "/etc/x.conf", "backup", NULL};
	assert_int_equal(parse(&cli, ARGC(a), a, &err), CB_OK);
	assert_string_equal(cli.config, "/etc/x.conf");
	done(&cli);
	char *b[] = {"cbsync", "version", "--config=/etc/x.conf", NULL};
	usage_error(ARGC(b), b,
		    "option '--config' does not apply to 'version'; HINT: see 'cbsync help "
		    "version'");
}

/* config check --remotes: only for config, before or after "check". */
static void test_config_check_remotes(void **state)
{
	(void)state;
	struct cli cli;
	struct error err;
	char *a[] = {"cbsync", "config", "check", "--remotes", NULL};
	assert_int_equal(parse(&cli, ARGC(a), a, &err), CB_OK);
	assert_int_equal(cli.verb, VERB_CONFIG);
	assert_true(cli.check_remotes);
	done(&cli);
	char *b[] = {"cbsync", "--remotes", "config", "check", "--config", "c.conf", NULL};
	assert_int_equal(parse(&cli, ARGC(b), b, &err), CB_OK);
	assert_true(cli.check_remotes);
	assert_string_equal(cli.config, "c.conf");
	done(&cli);
	char *c[] = {"cbsync", "config", "check", NULL};
	assert_int_equal(parse(&cli, ARGC(c), c, &err), CB_OK);
	assert_false(cli.check_remotes);
	done(&cli);
	char *d[] = {"cbsync", "push", "--remotes", NULL};
	usage_error(ARGC(d), d,
		    "option '--remotes' does not apply to 'push'; HINT: see 'cbsync help push'");
	char *e[] = {"cbsync", "config", "check", "--remotes=yes", NULL};
	usage_error(ARGC(e), e, "option '--remotes' takes no value");
	char *f[] = {"cbsync", "config", "--remotes", NULL};
	usage_error(ARGC(f), f, "'config' needs a subcommand: 'cbsync config check'");
}

static void test_verb_table(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		enum verb verb;
	} known[] = {
		{"backup", VERB_BACKUP}, {"list", VERB_LIST},       {"stats", VERB_STATS},
		{"restore", VERB_RESTORE}, {"prune", VERB_PRUNE},   {"verify", VERB_VERIFY},
		{"version", VERB_VERSION}, {"help", VERB_HELP},
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(*known); i++) {
		assert_int_equal(cli_verb_lookup(known[i].name), known[i].verb);
		assert_string_equal(cli_verb_name(known[i].verb), known[i].name);
	}
	assert_int_equal(cli_verb_lookup(""), VERB_NONE);
	assert_int_equal(cli_verb_lookup("backups"), VERB_NONE);
	assert_int_equal(cli_verb_lookup("BACKUP"), VERB_NONE);
	assert_int_equal(cli_verb_lookup("cbsync"), VERB_NONE);
	assert_string_equal(cli_verb_name(VERB_NONE), "cbsync");
	/* Every verb has a distinct name that looks itself up. */
	for (int v = 1; v < VERB_COUNT; v++) {
		const char *name = cli_verb_name((enum verb)v);
		assert_int_equal(cli_verb_lookup(name), v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_invocations),
		cmocka_unit_test(test_no_arguments),
		cmocka_unit_test(test_options_before_and_after_verb),
		cmocka_unit_test(test_equals_and_separate_forms),
		cmocka_unit_test(test_flags),
		cmocka_unit_test(test_restore_at),
		cmocka_unit_test(test_unknown_option),
		cmocka_unit_test(test_option_not_for_verb),
		cmocka_unit_test(test_missing_value),
		cmocka_unit_test(test_positional_arguments),
		cmocka_unit_test(test_unknown_verb),
		cmocka_unit_test(test_double_dash),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_config_option),
		cmocka_unit_test(test_config_check_remotes),
		cmocka_unit_test(test_verb_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
