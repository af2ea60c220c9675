/*
 * cbsync push: sync every remote (or --remote NAME) with the local tier now,
 * as the second step of a backup cycle (agent/cycle.h).
 */
#include "agent/cli/commands.h"
#include "agent/tiers/cycle.h"

#include <stdio.h>

enum result cmd_push(struct cli *cli, struct error *err)
{
	return cycle_push(&cli->conf, cli->remote, stdout, NULL, NULL, 0, err);
}
