/*
 * The backup directory's lock: mutating operations (backup, restore, prune,
 * the agent's work) hold an exclusive flock(2) on <dir>/.cbsync.lock, so a
 * cron job and a person never interleave.  The lock file names its holder
 * (pid and operation) so that the second process can say who it waited for.
 * The kernel drops the lock when the holder dies, even by kill -9.
 */
#ifndef CBSYNC_LOCK_H
#define CBSYNC_LOCK_H

#include "common/result.h"

#define LOCK_FILE_NAME ".cbsync.lock"

struct dir_lock {
	int fd;
};

/* Take the lock on dir (which must exist), waiting up to timeout seconds. */
enum result dir_lock_acquire(struct dir_lock *l, const char *dir, const char *op,
			     double timeout, struct error *err);

/* Release; safe on a lock never taken (fd -1) or released twice. */
void dir_lock_release(struct dir_lock *l);

#endif
