/*
 * cbsync push: sync every remote (or --remote NAME) with the local tier now,
 * as the second step of a backup cycle (agent/cycle.h).
 */
#include "agent/cli/commands.h"
#include "agent/cli/format.h"
#include "agent/tiers/cycle.h"

#include <jansson.h>
#include <stdio.h>

enum result cmd_push(struct cli *cli, struct error *err)
{
	if (!cli->json)
		return cycle_push(&cli->conf, cli->remote, stdout, NULL, NULL, 0, NULL, err);
	/* The array is printed whatever happened: a remote's failure is in it. */
	json_t *results = json_array();
	if (!results)
		return error_nomem(err);
	enum result r = cycle_push(&cli->conf, cli->remote, NULL, NULL, NULL, 0, results, err);
	if (r && json_array_size(results) == 0) {
		json_decref(results);   /* nothing was tried: main prints the error */
		return r;
	}
	enum result pr = format_print_json(results, err);
	return r ? r : pr;
}
