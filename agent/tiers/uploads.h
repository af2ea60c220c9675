/*
 * The journal of uploads in flight: what a killed run leaves on a remote.
 *
 * A put that is killed -- kill -9, a crash, a power cut -- cannot abort
 * itself, and what it had started stays on the remote: an incomplete S3
 * multipart upload whose parts are billed, a ".cbsync-tmp-*" file on an SFTP
 * server or a mirror.  The backend names such a put the moment it starts
 * leaving traces (backend.h, struct backend_upload_tracker); this journal
 * writes that name down in the local backup directory before the first
 * byte is sent, and the next sync of the same remote aborts exactly what
 * was written down -- the very upload id or temp file, never anything it
 * did not record, so another host's or another tool's uploads are safe.
 *
 * One file per upload: <local dir>/.cbsync-uploads/<remote>.<random>.json,
 * {"remote", "type", "key", "upload_id", "started", "pid"}, written to a
 * temp file and renamed into place (so it is whole or absent), then
 * fsync'd.  An S3 upload is named only in the answer that creates it, so
 * its record is written twice: with upload_id null before the request, and
 * replaced by one with the id when the answer comes; a run killed in
 * between leaves the null one, and the next sync ends the uploads of
 * exactly that key begun since then that no live run has recorded.  Its
 * writer holds an flock on it for as long as the put runs; the kernel drops
 * that lock when the writer dies, however it dies.  So a sync tells a
 * killed run's record (unlocked) from the agent's or another command's
 * upload still running (locked), and leaves the latter alone.  A put that
 * commits removes its record; one that fails keeps it, unlocked, for the
 * next sync to abort (aborting what is gone already is harmless).
 *
 * Best effort throughout: a record that cannot be written (a full disk) is
 * a warning, not a failed upload -- the backends' remove_stale, which goes
 * by age, remains the backstop.
 */
#ifndef CBSYNC_UPLOADS_H
#define CBSYNC_UPLOADS_H

#include "backends/backend.h"

#include <stddef.h>

#define UPLOADS_DIR_NAME ".cbsync-uploads"

struct upload_journal;

/* Abort what earlier, now dead, runs of this host recorded for remote b
 * (*aborted: how many were removed), then record b's uploads from now on
 * under local_dir.  Never fails; NULL when out of memory (then nothing is
 * recorded). */
struct upload_journal *upload_journal_begin(struct backend *b, const char *local_dir,
					    size_t *aborted);

/* Stop recording b's uploads and free j (NULL is fine). */
void upload_journal_end(struct backend *b, struct upload_journal *j);

#endif
