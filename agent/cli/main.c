/*
 * cbsync: entry point.  Parse the command line, build the configuration,
 * run the verb, and turn its result into one "Error:" line and an exit
 * status (see README.md, "Exit codes").
 */
#include "agent/cli/cli.h"
#include "agent/cli/commands.h"
#include "agent/cli/format.h"
#include "agent/tiers/oplog.h"
#include "backends/backend.h"
#include "common/cancel.h"
#include "common/log.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum result (*verb_fn)(struct cli *cli, struct error *err);

static const verb_fn verb_table[VERB_COUNT] = {
	[VERB_BACKUP] = cmd_backup,
	[VERB_LIST] = cmd_list,
	[VERB_STATS] = cmd_stats,
	[VERB_RESTORE] = cmd_restore,
	[VERB_PRUNE] = cmd_prune,
	[VERB_VERIFY] = cmd_verify,
	[VERB_PUSH] = cmd_push,
	[VERB_AGENT] = cmd_agent,
	[VERB_STATUS] = cmd_status,
	[VERB_CONFIG] = cmd_config,
	[VERB_KEYGEN] = cmd_keygen,
	[VERB_DRILL] = cmd_drill,
	[VERB_VERSION] = cmd_version,
};

static int fail(enum result r, const struct error *err)
{
	fflush(stdout);
	/* With [log] format = json, stderr carries JSON lines only. */
	if (log_format_get() == LOG_FORMAT_JSON)
		log_write(LOG_ERROR, "cbsync", "Error: %s (exit %d, %s)", err->msg,
			  result_exit_code(r), result_name(r));
	else
		fprintf(stderr, "Error: %s\n", err->msg);
	return result_exit_code(r);
}

/* The effective configuration: defaults, config file, environment, then
 * the --db / --dir flags (see conf/conf.h). */
static enum result build_conf(struct cli *cli, struct error *err)
{
	cli->load_opts = (struct conf_load_opts){
		.path = cli->config,
		.db_flag = cli->db,
		.dir_flag = cli->dir,
	};
	cli->load_opts.remote_types = backend_remote_types(&cli->load_opts.n_remote_types);
	return conf_load(&cli->conf, &cli->load_opts, err);
}

int main(int argc, char **argv)
{
	struct cli cli;
	struct error err = {0};
	enum result r;
	int status;

	memset(&cli, 0, sizeof(cli));
	/* A reader of our output that goes away (`cbsync agent | head`, a tee
	 * that exits) must not kill a backup or the agent: a failed write is
	 * an error to report, not a reason to die (see log_lost). */
	signal(SIGPIPE, SIG_IGN);
	/* Once, before any thread: the backends set up their libraries. */
	if ((r = backend_global_init(&err)))
		return fail(r, &err);
	r = cli_parse(&cli, argc, argv, &err);
	if (r) {
		status = fail(r, &err);
		goto out;
	}
	if (cli.help) {
		cli_print_help(cli.verb);
		status = 0;
		goto out;
	}
	if (cli.verb == VERB_HELP) {
		enum verb v = cli.nargs ? cli_verb_lookup(cli.args[0]) : VERB_NONE;
		if (cli.nargs && strcmp(cli.args[0], "backends") == 0) {
			print_backends_help();
			status = 0;
			goto out;
		}
		if (cli.nargs && v == VERB_NONE) {
			error_set(&err, CB_ERR_USAGE, "unknown command '%s'; HINT: see 'cbsync help'",
				  cli.args[0]);
			status = fail(CB_ERR_USAGE, &err);
			goto out;
		}
		cli_print_help(v);
		status = 0;
		goto out;
	}
	if (cli.verb == VERB_NONE) {
		cli_print_help(VERB_NONE);
		status = 2;
		goto out;
	}
	if ((r = build_conf(&cli, &err))) {
		if (cli.json)
			format_print_json_error(r, &err);
		status = fail(r, &err);
		goto out;
	}
	log_setup(cli.conf.log_level, cli.conf.log_format);
	oplog_set_json(cli.conf.log_format == LOG_FORMAT_JSON);
	/* Risky but valid set-ups (conf_load): one line each, every command. */
	for (size_t i = 0; i < cli.conf.n_warnings; i++)
		log_warn("config", "%s", cli.conf.warnings[i]);
	cancel_install_handlers();
	r = verb_table[cli.verb](&cli, &err);
	if (r == CB_OK && fflush(stdout) != 0)
		r = error_set(&err, CB_ERR_IO, "cannot write output");
	if (r && cli.json)
		format_print_json_error(r, &err);
	status = r ? fail(r, &err) : 0;
out:
	conf_free(&cli.conf);
	free(cli.args);
	backend_global_cleanup();
	return status;
}
