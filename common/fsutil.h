/*
 * File-system helpers, above all the one way cbsync writes a file:
 *
 *   open a temp name in the target directory (".cbsync-tmp-<name>.XXXXXX"),
 *   write, fsync, close, rename over (or, for backups, never over) the final
 *   name, fsync the directory.
 *
 * A crash at any moment leaves either the old state or the new one, plus at
 * most a temp file that the next locked operation removes.  Nothing
 * half-written ever carries a final name.
 *
 * Whoever writes a temp file holds an flock on it until the file is renamed
 * or removed; the kernel drops the lock when the process dies, whatever
 * killed it.  So fs_remove_dead_temps can tell a temp file a killed run left
 * (no lock) from one a live cbsync is writing (locked) -- another command,
 * the agent's state file, a verify without the directory's lock -- and
 * removes only the dead ones.  A temp file is born with mode 0000 and gets
 * its real mode only once its owner holds the lock, so the moment between
 * the two is visible too: an unlocked file with mode 0000 is left alone
 * unless it is old.
 */
#ifndef CBSYNC_FSUTIL_H
#define CBSYNC_FSUTIL_H

#include "common/result.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Every temp file cbsync creates starts with this; nothing else does. */
#define FS_TMP_PREFIX ".cbsync-tmp-"

struct atomic_file {
	int fd;
	char *tmp_path;
	char *final_path;
	bool renamed;    /* commit got as far as the rename: the file is in place
			  * even if a later step (closing, the directory's
			  * fsync) failed */
};

struct commit_opts {
	bool no_replace; /* fail with CB_ERR_IO/EEXIST if the final name exists */
	bool no_sync;    /* skip fsync (for throwaway files only) */
};

/* Open a temp file beside final_path with the given mode.  On failure af is
 * left closed (fd -1) and nothing exists on disk. */
enum result atomic_file_open(struct atomic_file *af, const char *final_path,
			     mode_t mode, struct error *err);

enum result atomic_file_write(struct atomic_file *af, const void *buf, size_t len,
			      struct error *err);

/* Flush, fsync, close and rename into place, then fsync the directory.  On
 * failure the temp file is removed. opts may be NULL. */
enum result atomic_file_commit(struct atomic_file *af, const struct commit_opts *opts,
			       struct error *err);

/* Close and remove the temp file; safe to call on a closed or committed file. */
void atomic_file_abort(struct atomic_file *af);

/* Create a temp file from tmpl (ending in "XXXXXX", replaced in place),
 * claimed as above and given mode; returns its fd, or -1 with errno set. */
int fs_temp_create(char *tmpl, mode_t mode);

/* An unnamed scratch file in dir, mode 0600, open for reading and writing:
 * nothing of it is left behind however the process ends (O_TMPFILE; where
 * the file system has none, a temp file unlinked at once).  Returns its
 * fd, or -1 with err set. */
int fs_scratch_open(const char *dir, struct error *err);

/* fs_scratch_open in the directory file is in (beside it). */
int fs_scratch_beside(const char *file, struct error *err);

/* Remove dir's temp files (FS_TMP_PREFIX) whose writer is gone: no process
 * holds their lock and they are at least a few seconds old.  Returns how
 * many it removed. */
size_t fs_remove_dead_temps(const char *dir);

/* Write a whole small file atomically (replacing any existing one). */
enum result fs_write_file_atomic(const char *path, const void *data, size_t len,
				 mode_t mode, struct error *err);

/* Read a whole file of at most max bytes; *out is NUL-terminated, caller frees. */
enum result fs_read_file(const char *path, size_t max, char **out, size_t *len,
			 struct error *err);

/* Create dir and any missing parents; new directories get mode. */
enum result fs_mkdirs(const char *dir, mode_t mode, struct error *err);

enum result fs_fsync_dir(const char *dir, struct error *err);

/* Rename from to to, never replacing an existing to (EEXIST). */
int fs_rename_noreplace(const char *from, const char *to);

/* Write all of buf to fd, retrying short writes; returns 0 or an errno. */
int fs_write_all(int fd, const void *buf, size_t len);

/* pwrite all of buf at offset; returns 0 or an errno. */
int fs_pwrite_all(int fd, const void *buf, size_t len, off_t off);

/* Large writes that end in one fsync: once more than FS_WRITEBACK_STEP bytes
 * lie between *mark and end, wait until the kernel has written back what
 * was asked before *mark, ask it to start writing [*mark, end) now, and move
 * *mark to end.  The final fsync then has little left to flush, and no more
 * than about one step is ever queued at the disk, so a database server's
 * commits (an fsync each) wait behind a step at most, not behind hundreds
 * of megabytes.  Measured with a writer committing 100 times a second
 * while a 1 GiB database was backed up at level 3: its p99 commit latency
 * was 3.1x its p99 without a backup with 8 MiB steps and no waiting, and
 * 1.1x when the backup was written to tmpfs.  A hint only: errors (a pipe,
 * a file system without support) are ignored. */
#define FS_WRITEBACK_STEP (2 << 20)
/* Returns 0, or the errno of a failed writeback of the bytes before *mark:
 * that wait consumes the error (the file's next fsync would return 0), so
 * the caller must fail the file with it. */
int fs_writeback_hint(int fd, off_t *mark, off_t end);

/* The same without the pacing, for a file that is the whole job (the copy
 * a restore decompresses): every FS_WRITEBACK_BURST bytes writeback of them
 * starts at once, however much is still queued, so the disk works as fast
 * as it can while the caller goes on.  Measured restoring 1 GiB: 4.9 s,
 * against 5.6 s paced. */
#define FS_WRITEBACK_BURST (8 << 20)
void fs_writeback_start(int fd, off_t *mark, off_t end);

/* Join dir and name into a newly allocated path ("a" + "b" -> "a/b"). */
char *fs_join(const char *dir, const char *name);

/* Newly allocated directory part of path ("." when there is none). */
char *fs_dirname(const char *path);

/* Pointer to the last component of path (inside path). */
const char *fs_basename(const char *path);

bool fs_exists(const char *path);

/* Size of a regular file, or -1 if it does not exist or is not one. */
int64_t fs_file_size(const char *path);

#endif
