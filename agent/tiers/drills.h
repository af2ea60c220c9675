/*
 * The record of restore drills (agent/cli/drill.h): the last drill of each
 * tier, kept in <backup dir>/.cbsync-drills.json so that status, /metrics
 * and /healthz show it whoever ran the drill -- the agent on its schedule
 * or a person with `cbsync drill`.
 *
 *   {"tiers": {"local": {<the last drill>, "last_success": "<ISO time>"},
 *              "offsite": {...}}}
 *
 * A drill's JSON (the same in the file and in `cbsync drill --json`):
 *   tier, ok, ran_at, duration_seconds (the recovery time: download,
 *   decompress, verify, apply), snapshot, increments, state_time (the
 *   state recovered), rpo_seconds (how old that state was), database_bytes,
 *   checks (what passed), error (null when ok), exit_code, last_success
 *   (when a drill of the tier last passed, or null).
 *
 * Written whole to a temp file and renamed, by one drill at a time (the
 * drill's scratch lock); read bounded, and a file that does not parse is
 * treated as holding no drills.
 */
#ifndef CBSYNC_DRILLS_H
#define CBSYNC_DRILLS_H

#include "common/backup_name.h"
#include "common/result.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DRILLS_FILE_NAME ".cbsync-drills.json"
#define DRILLS_MAX 64
#define DRILL_TIER_MAX 64

struct drill_record {
	char tier[DRILL_TIER_MAX];
	bool ok;
	enum result code;          /* CB_OK when ok (from the file: approximate) */
	int exit_code;             /* the exit status it stands for */
	char error[ERROR_MSG_MAX];
	int64_t ran_at;            /* seconds */
	double seconds;            /* recovery time */
	char snapshot[BACKUP_NAME_MAX];
	size_t increments;
	int64_t state_ms;          /* the state recovered; 0: none */
	double rpo;                /* seconds the state was behind when drilled */
	uint64_t db_bytes;
	char checks[256];          /* "age decryption, gzip CRC-32, ..." */
	int64_t last_success;      /* seconds; 0: never (or not known) */
};

/* A drill as JSON (new reference), for the file and for --json. */
json_t *drill_record_json(const struct drill_record *d);

/* The last drill of every tier recorded in dir (at most max): CB_OK with
 * *n 0 when there is no file or it does not parse. */
enum result drills_read(const char *dir, struct drill_record *out, size_t max, size_t *n,
			struct error *err);

/* Record d as its tier's last drill, setting d->last_success (this drill's
 * time, or the last success recorded before). */
enum result drills_record(const char *dir, struct drill_record *d, struct error *err);

#endif
