/*
 * The operations log: every backup, restore, prune and verify appends one
 * line to <backup dir>/operations.log and prints it on stderr:
 *
 *   2026-11-26T02:00:03Z cbsync:998 backup cloudbrain_daily_20261126_020000.db.gz ok 2.41s
 *   2026-11-26T09:12:40Z alice:1000 restore cloudbrain_manual_20261125_120000.db.gz failed 0.02s corrupt: gzip CRC-32 mismatch
 *
 * after the time, who ran it: the user name and uid of the process (the
 * agent's, or the person's who ran the command).  The line echoed on
 * stderr leaves that out.
 *
 * A failed operation's line goes to the file only: on stderr the command's
 * own "Error:" line reports it; on a terminal, a successful one's does too,
 * since the command's summary already says it.  Lines are appended with O_APPEND in one write, so concurrent writers never
 * interleave them.  A log that cannot be written is not an error of the
 * operation it records.
 */
#ifndef CBSYNC_OPLOG_H
#define CBSYNC_OPLOG_H

#include "common/result.h"

#include <stdbool.h>
#include <stdint.h>

#define OPLOG_FILE_NAME "operations.log"

/* The log is rotated when it passes this size: operations.log becomes
 * operations.log.1, the one before .2, and so on; OPLOG_KEEP of them are
 * kept (at a line an increment and one an upload each second, about 20
 * days).  CBSYNC_TEST_OPLOG_ROTATE_BYTES sets the size, for tests. */
#define OPLOG_ROTATE_BYTES ((int64_t)64 << 20)
#define OPLOG_KEEP 8

/* One operation, as oplog_write records it. */
struct oplog_event {
	const char *op;         /* what: backup, restore, upload, delete, ... */
	const char *object;     /* the backup or object it was about, or NULL */
	const char *tier;       /* the tier it read or changed, or NULL */
	int64_t bytes;          /* the bytes it moved, or -1 when that says nothing */
	enum result outcome;
	double seconds;
	const char *detail;     /* follows the outcome; a failure's error text */
	bool file_only;         /* never echoed: the command prints its own line */
};

/* Record an operation in <dir>/operations.log (dir NULL: echo only). */
void oplog_write(const char *dir, const struct oplog_event *ev);

/* oplog_write without a tier or a byte count. */
void oplog_record(const char *dir, const char *op, const char *file,
		  enum result outcome, double seconds, const char *detail);

/* Print nothing on stderr (the agent logs its operations itself). */
void oplog_set_echo(bool echo);

/* Echo every event on stderr, failures and file-only ones too, whatever
 * stderr is: the agent's stream with [log] format = json, where each
 * operation is a line of fields beside the agent's own messages. */
void oplog_set_echo_events(bool all);

/* Write JSON lines instead ([log] format = json), in the file and on
 * stderr alike:
 *   {"time", "user", "uid", "event", "object" (or null), "tier" (or null),
 *    "bytes" (or null), "outcome" ("ok" or "failed"), "error" (result_name,
 *    or null), "seconds", "detail" (or null)}
 */
void oplog_set_json(bool json);

#endif
