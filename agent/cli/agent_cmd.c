/*
 * cbsync agent: run the daemon (agent/daemon.h) until SIGTERM.
 */
#include "agent/cli/commands.h"
#include "agent/daemon/daemon.h"

enum result cmd_agent(struct cli *cli, struct error *err)
{
	return daemon_run(&cli->conf, &cli->load_opts, err);
}
