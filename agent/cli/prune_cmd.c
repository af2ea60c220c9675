/*
 * cbsync prune: apply retention now, to the local tier (keeping what a
 * remote still wants), a remote, or all of them.
 */
#include "agent/cli/commands.h"
#include "agent/tiers/cycle.h"
#include "agent/cli/format.h"
#include "agent/tiers/oplog.h"
#include "agent/tiers/tiers.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <string.h>

static void print_prune_summary(const char *tier, bool dry_run, const struct prune_result *res)
{
	char freed[32], pinned[64] = "";
	format_size(res->freed, freed, sizeof(freed));
	if (res->pinned)
		snprintf(pinned, sizeof(pinned), " (%zu only until a remote has them)", res->pinned);
	if (dry_run)
		printf("%s%sDry run: would delete %zu backup%s (%s) and keep %zu%s\n",
		       tier ? tier : "", tier ? ": " : "", res->deleted, res->deleted == 1 ? "" : "s",
		       freed, res->kept, pinned);
	else
		printf("%s%sPruned %zu backup%s (%s freed); %zu kept%s\n", tier ? tier : "",
		       tier ? ": " : "", res->deleted, res->deleted == 1 ? "" : "s", freed, res->kept,
		       pinned);
	if (res->chains_kept || res->chains_deleted)
		printf("%s%s%s %zu chain%s of increments (%zu increment%s); %zu chain%s kept\n",
		       tier ? tier : "", tier ? ": " : "",
		       dry_run ? "Dry run: would delete" : "Deleted", res->chains_deleted,
		       res->chains_deleted == 1 ? "" : "s", res->incrs_deleted,
		       res->incrs_deleted == 1 ? "" : "s", res->chains_kept,
		       res->chains_kept == 1 ? "" : "s");
}

enum result cmd_prune(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	const char *which = cli->tier ? cli->tier : "local";
	bool all = strcmp(which, "all") == 0;
	bool local = all || strcmp(which, "local") == 0;
	struct cycle_settings s;
	struct tier_set set = {0};
	struct prune_result res;
	struct remote_holdings *held = NULL;
	enum result r, worst = CB_OK;
	double start = time_mono();
	int64_t now = time_now();
	char stem[BACKUP_STEM_MAX + 1];
	backup_db_stem(c->db_path, stem, sizeof(stem));

	if (cli->now && !time_parse_iso(cli->now, &now))
		return error_set(err, CB_ERR_USAGE,
				 "--now '%s' is not a UTC time (e.g. 2026-02-02T12:00:00Z)", cli->now);
	/* The remotes: every one for all, the named one, or (for the local tier)
	 * every one, read-only, to learn what they hold. */
	const char *remotes_wanted = all || local ? "all" : which;
	if (c->n_remotes || !local) {
		if ((r = tiers_open(&set, c, remotes_wanted, err)))
			return r;
	}
	held = holdings_new(c);
	if (!held) {
		tiers_close(&set);
		return error_nomem(err);
	}
	for (size_t i = 0; i < set.n; i++) {
		struct tier *t = &set.tiers[i];
		if (!t->remote)
			continue;   /* the local tier goes last, with what the remotes hold */
		size_t ri = (size_t)(t->remote - c->remotes);
		bool prune_it = all || strcmp(which, t->name) == 0;
		struct error terr = {0};
		char label[96];
		tier_label(t, label, sizeof(label));
		if (prune_it && (all || local))
			printf("%s:\n", label);
		/* Pruning the local tier alone only reads the remotes. */
		r = prune_listed(t, stem, NULL, 0, now, !prune_it || cli->dry_run,
				 prune_it ? stdout : NULL, &res, &held[ri], &terr);
		held[ri].name = t->name;
		held[ri].keep = &t->remote->keep;
		if (r) {
			if (prune_it) {
				oplog_record(c->local_dir, "prune", t->name, r, time_mono() - start,
					     terr.msg);
				/* The first failure, or the latest refusal (10):
				 * not result_worse's order, which would also put a
				 * setting or an interrupt first and keep the first
				 * refusal's message. */
				if (!worst || r == CB_ERR_REMOTE) {
					worst = r;
					*err = terr;
				}
			}
			fprintf(stderr, "%s%s\n", prune_it ? "failed: " : "warning: keeping every "
				"local backup it may want: ", terr.msg);
			continue;
		}
		if (prune_it) {
			print_prune_summary(all ? label : NULL, cli->dry_run, &res);
			if (!cli->dry_run) {
				char detail[96];
				snprintf(detail, sizeof(detail), "deleted %zu, kept %zu", res.deleted,
					 res.kept);
				oplog_record(c->local_dir, "prune", t->name, CB_OK, time_mono() - start,
					     detail);
			}
		}
	}
	if (local) {
		if (all)
			printf("local:\n");
		cycle_settings_of(&s, c);
		r = cycle_prune_local(&s, "prune", held, c->n_remotes, now, cli->dry_run, stdout, &res, err);
		if (r) {
			oplog_record(c->local_dir, "prune", NULL, r, time_mono() - start, err->msg);
			goto done;
		}
		print_prune_summary(all ? "local" : NULL, cli->dry_run, &res);
		char detail[128];
		if (!cli->dry_run)
			cycle_record_prune(c->local_dir, &res, time_mono() - start, detail,
					   sizeof(detail));
	}
	r = worst;
done:
	holdings_free_all(held, c->n_remotes);
	tiers_close(&set);
	return r;
}

