/*
 * The verbs.  Each takes the parsed command line (with its effective
 * configuration) and returns a result; on failure err holds the one line
 * main prints after "Error: ".
 */
#ifndef CBSYNC_COMMANDS_H
#define CBSYNC_COMMANDS_H

#include "agent/cli/cli.h"
#include "common/result.h"

enum result cmd_backup(struct cli *cli, struct error *err);
enum result cmd_list(struct cli *cli, struct error *err);
enum result cmd_stats(struct cli *cli, struct error *err);
enum result cmd_restore(struct cli *cli, struct error *err);
enum result cmd_prune(struct cli *cli, struct error *err);
enum result cmd_verify(struct cli *cli, struct error *err);
enum result cmd_version(struct cli *cli, struct error *err);
enum result cmd_push(struct cli *cli, struct error *err);
enum result cmd_agent(struct cli *cli, struct error *err);
enum result cmd_status(struct cli *cli, struct error *err);
enum result cmd_config(struct cli *cli, struct error *err);
enum result cmd_keygen(struct cli *cli, struct error *err);
enum result cmd_drill(struct cli *cli, struct error *err);

/* cbsync help backends */
void print_backends_help(void);

#endif
