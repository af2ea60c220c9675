/*
 * The CLI's work with remote tiers: pushing (one sync per remote), listing a
 * remote or all tiers, and the backends' help.
 */
#ifndef CBSYNC_REMOTES_H
#define CBSYNC_REMOTES_H

#include "agent/cli.h"
#include "common/result.h"


#include "agent/prune.h"

/* Sync every configured remote (or only `only`), printing a line per remote
 * and drawing progress on a terminal.  Every remote is tried; the result is
 * the worst one, and err describes the first failure.  held, if not NULL,
 * has an entry per configured remote, filled (known) for each that synced
 * (free with holdings_free_all).  failed, if not NULL, receives the names of
 * the remotes that failed, comma-separated. */
enum result push_remotes(const struct conf *c, const char *only, struct remote_holdings *held,
			 char *failed, size_t failed_size,
			 struct error *err);

/* An array of holdings, one per configured remote, all unknown. */
struct remote_holdings *holdings_new(const struct conf *c);
void holdings_free_all(struct remote_holdings *h, size_t n);

/* list --tier NAME|all */
enum result list_tiers(struct cli *cli, struct error *err);

/* help backends */
void print_backends_help(void);

#endif
