/*
 * cbsync backup: one cycle (agent/cycle.h) -- a backup into the local tier,
 * then offsite to every remote, then, for the scheduled types, the local
 * tier's retention with what the remotes now hold.
 */
#include "agent/cli/commands.h"
#include "agent/tiers/cycle.h"
#include "agent/tiers/keyring.h"
#include "agent/cli/format.h"
#include "agent/tiers/oplog.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <string.h>

static void print_sizes(const struct backup_meta *m, double seconds)
{
	char orig[32], comp[32];
	format_size((uint64_t)m->original_size, orig, sizeof(orig));
	format_size((uint64_t)m->compressed_size, comp, sizeof(comp));
	printf("  Original size:   %s (%lld bytes)\n", orig, (long long)m->original_size);
	printf("  Compressed size: %s (%lld bytes)\n", comp, (long long)m->compressed_size);
	printf("  Compression:     %.1f%%\n",
	       meta_ratio(m->original_size, m->compressed_size));
	printf("  Time taken:      %.2fs\n", seconds);
}

/* Send the new backup offsite; on failure err says which remotes lack it. */
static enum result push_new(const struct conf *c, const char *path, struct remote_holdings *held,
			    struct error *err)
{
	char failed[256];
	enum result r = cycle_push(c, NULL, stdout, held, failed, sizeof(failed), NULL, err);
	if (!r)
		return CB_OK;
	/* Name the remotes that lack it: with several, "not offsite yet" alone
	 * would blame the ones that worked too. */
	size_t n_failed = failed[0] != '\0';
	for (const char *p = failed; *p; p++)
		n_failed += *p == ',';
	error_prefix(err, "backup made (%s), but it is not offsite yet on remote%s %s%s; the next "
		     "sync uploads it", path, n_failed > 1 ? "s" : "", failed,
		     n_failed < c->n_remotes ? " (the other remotes have it)" : "");
	return r;
}

enum result cmd_backup(struct cli *cli, struct error *err)
{
	const struct conf *c = &cli->conf;
	enum backup_type type = BT_MANUAL;
	struct cycle_settings s;
	struct backup_outcome out;
	struct prune_result pruned;
	enum result r;
	double start = time_mono();

	if (cli->type && (!backup_type_parse(cli->type, &type) || type == BT_CHANGE ||
			  type == BT_RESTORE_POINT))
		return error_set(err, CB_ERR_USAGE,
				 "unknown backup type '%s' (expected manual, daily, weekly "
				 "or monthly)",
				 cli->type);
	if ((r = backup_check_db(c->db_path, err))) {
		oplog_record(fs_exists(c->local_dir) ? c->local_dir : NULL, "backup", NULL, r,
			     time_mono() - start, err->msg);
		return r;
	}
	cycle_settings_of(&s, c);
	struct keyring *seal = NULL;
	if (c->local_encrypt && (r = keyring_load(c, &seal, err))) {
		oplog_record(fs_exists(c->local_dir) ? c->local_dir : NULL, "backup", NULL, r,
			     time_mono() - start, err->msg);
		return r;
	}
	s.seal = seal;
	r = cycle_backup(&s, type, "backup", true, &out, err);
	keyring_free(seal);
	s.seal = NULL;
	if (r)
		return r;
	printf("Backup created: %s\n", out.path);
	print_sizes(&out.meta, out.seconds);

	/* The backup is safe locally whatever happens next; say so. */
	struct remote_holdings *held = holdings_new(c);
	enum result sync = CB_OK;
	struct error sync_err = {0};
	if (!held)
		return error_nomem(err);
	if (c->n_remotes && !cli->no_sync)
		sync = push_new(c, out.path, held, &sync_err);
	if (type == BT_DAILY || type == BT_WEEKLY || type == BT_MONTHLY) {
		/* Scheduled types rotate: apply retention now. */
		r = cycle_prune_local(&s, "prune", held, c->n_remotes, time_now(), false, stdout, &pruned,
				      err);
		if (r) {
			holdings_free_all(held, c->n_remotes);
			error_prefix(err, "backup made, but pruning failed");
			return r;
		}
		char detail[128];
		if (pruned.deleted)
			cycle_record_prune(c->local_dir, &pruned, 0, detail, sizeof(detail));
	}
	holdings_free_all(held, c->n_remotes);
	if (sync) {
		*err = sync_err;
		return sync;
	}
	return CB_OK;
}
