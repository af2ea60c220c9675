/*
 * The CLI's work with remote tiers: pushing (one sync per remote), listing a
 * remote or all tiers, and the backends' help.
 */
#ifndef CBSYNC_REMOTES_H
#define CBSYNC_REMOTES_H

#include "agent/cli.h"
#include "common/result.h"

/* Sync every configured remote (or only `only`), printing a line per remote
 * and drawing progress on a terminal.  Every remote is tried; the result is
 * the worst one, and err describes the first failure. */
enum result push_remotes(const struct conf *c, const char *only, struct error *err);

/* list --tier NAME|all */
enum result list_tiers(struct cli *cli, struct error *err);

/* help backends */
void print_backends_help(void);

#endif
