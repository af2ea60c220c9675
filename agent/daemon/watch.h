/*
 * Watching the database for changes with inotify.
 *
 * The watch is on the database's directory, not the file, so that a database
 * created after the agent starts, a WAL file deleted and recreated, or a
 * database replaced by a rename are all seen.  Events for other names in the
 * directory are ignored; when the directory itself does not exist yet, the
 * nearest existing ancestor is watched until it appears.
 *
 * inotify says "something was written", not "the data changed", and reading a
 * WAL database can create an empty -wal file.  So an event only counts as a
 * change if the database's fingerprint differs from the one recorded when the
 * last backup started: the database file's identity, size and mtime, and the
 * -wal file's size and mtime (an empty or missing -wal counts as none).  The
 * agent's own reads never alter it.
 *
 * With [replicate] on, a commit's frames written to the -wal are the event
 * that cuts the next increment (within the interval: tests/integration/
 * test_walcapture.py).  SQLite publishes a commit in its wal-index only
 * after writing (and fsyncing) its frames, and that publication is no file
 * event; a capture that ran in between says so (walcap_commit_pending),
 * and the agent schedules the next one as if a change had been seen.
 */
#ifndef CBSYNC_WATCH_H
#define CBSYNC_WATCH_H

#include "common/result.h"

#include <stdbool.h>
#include <stdint.h>

struct db_fingerprint {
	bool exists;
	uint64_t dev, ino;
	int64_t size;
	int64_t mtime_ns;
	int64_t wal_size;      /* 0 when missing or empty */
	int64_t wal_mtime_ns;  /* 0 when missing or empty */
};

void db_fingerprint_take(const char *db_path, struct db_fingerprint *fp);
bool db_fingerprint_equal(const struct db_fingerprint *a, const struct db_fingerprint *b);

/* Text form for the state file, and back ("-" for a missing database). */
void db_fingerprint_format(const struct db_fingerprint *fp, char *buf, size_t size);
bool db_fingerprint_parse(const char *s, struct db_fingerprint *fp);

struct watch;

/* Start watching db_path; the returned watch's fd is for poll(). */
enum result watch_open(struct watch **out, const char *db_path, struct error *err);

int watch_fd(const struct watch *w);

/* Drain the pending events; true if any concerned the database or its WAL
 * (the caller then compares fingerprints). */
bool watch_read(struct watch *w);

void watch_close(struct watch *w);

#endif
