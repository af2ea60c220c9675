/*
 * The verbs.  Each takes the parsed command line (with its effective
 * configuration) and returns a result; on failure err holds the one line
 * main prints after "Error: ".
 */
#ifndef CBSYNC_COMMANDS_H
#define CBSYNC_COMMANDS_H

#include "agent/cli.h"
#include "agent/lock.h"
#include "common/meta.h"
#include "common/result.h"

enum result cmd_backup(struct cli *cli, struct error *err);
enum result cmd_list(struct cli *cli, struct error *err);
enum result cmd_stats(struct cli *cli, struct error *err);
enum result cmd_restore(struct cli *cli, struct error *err);
enum result cmd_prune(struct cli *cli, struct error *err);
enum result cmd_verify(struct cli *cli, struct error *err);
enum result cmd_version(struct cli *cli, struct error *err);

/* Shared by the verbs. */

/* Create the backup directory if needed, take its lock, tidy stale files. */
enum result lock_dir(const struct conf *c, const char *op, struct dir_lock *l,
		     struct error *err);
/* A --path that does not exist as given but names a file in the backup
 * directory is taken from there (newly allocated). */
char *resolve_backup_path(const char *given, const char *dir);
/* Metadata beside a backup: *have set if there is some; an error if it
 * exists but is unusable or describes another backup. */
enum result load_meta(const char *path, struct backup_meta *meta, bool *have,
		      struct error *err);
enum result cmd_push(struct cli *cli, struct error *err);
enum result cmd_agent(struct cli *cli, struct error *err);
enum result cmd_status(struct cli *cli, struct error *err);
enum result cmd_config(struct cli *cli, struct error *err);

#endif
