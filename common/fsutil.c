/*
 * File-system helpers: atomic writes, directory fsync, small-file I/O.
 */
#include "common/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Errors that mean "no such hint here", not a failed write. */
static bool unsupported(int e)
{
	return e == ESPIPE || e == EINVAL || e == ENOSYS || e == EOPNOTSUPP;
}

int fs_writeback_hint(int fd, off_t *mark, off_t end)
{
	if (end - *mark < FS_WRITEBACK_STEP)
		return 0;
	/* The wait reports a failed writeback of [0, *mark) and, doing so,
	 * uses the error up: the final fsync would not see it again.  So it
	 * is the caller's to report. */
	if (*mark > 0 && sync_file_range(fd, 0, *mark, SYNC_FILE_RANGE_WAIT_BEFORE) != 0 &&
	    !unsupported(errno))
		return errno;
	(void)sync_file_range(fd, *mark, end - *mark, SYNC_FILE_RANGE_WRITE);
	*mark = end;
	return 0;
}

void fs_writeback_start(int fd, off_t *mark, off_t end)
{
	if (end - *mark < FS_WRITEBACK_BURST)
		return;
	(void)sync_file_range(fd, *mark, end - *mark, SYNC_FILE_RANGE_WRITE);
	*mark = end;
}

int fs_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int fs_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		p += n;
		off += n;
		len -= (size_t)n;
	}
	return 0;
}

char *fs_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	size_t nl = strlen(name);
	char *out = malloc(dl + nl + 2);
	if (!out)
		return NULL;
	memcpy(out, dir, dl);
	size_t pos = dl;
	if (dl > 0 && dir[dl - 1] != '/')
		out[pos++] = '/';
	memcpy(out + pos, name, nl + 1);
	return out;
}

const char *fs_basename(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

char *fs_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return strdup(".");
	if (slash == path)
		return strdup("/");
	return strndup(path, (size_t)(slash - path));
}

bool fs_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

int64_t fs_file_size(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return -1;
	return (int64_t)st.st_size;
}

enum result fs_fsync_dir(const char *dir, struct error *err)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, dir);
	if (fsync(fd) != 0 && errno != EINVAL) {
		int e = errno;
		close(fd);
		return error_errno(err, e, dir);
	}
	close(fd);
	return CB_OK;
}

enum result fs_mkdirs(const char *dir, mode_t mode, struct error *err)
{
	struct stat st;
	if (!*dir)
		return error_errno(err, ENOENT, dir);
	if (stat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return error_errno(err, ENOTDIR, dir);
		return CB_OK;
	}
	char *copy = strdup(dir);
	if (!copy)
		return error_nomem(err);
	for (char *p = copy + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(copy, mode) != 0 && errno != EEXIST) {
			enum result r = error_errno(err, errno, copy);
			free(copy);
			return r;
		}
		*p = '/';
	}
	free(copy);
	if (mkdir(dir, mode) != 0 && errno != EEXIST)
		return error_errno(err, errno, dir);
	return CB_OK;
}

int fs_rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return errno;
	/* File systems without RENAME_NOREPLACE: link() refuses to replace. */
	if (link(from, to) != 0)
		return errno;
	unlink(from);
	return 0;
}

enum result atomic_file_open(struct atomic_file *af, const char *final_path,
			     mode_t mode, struct error *err)
{
	char *dir = NULL;
	char *tmpl = NULL;

	af->fd = -1;
	af->tmp_path = NULL;
	af->renamed = false;
	af->final_path = strdup(final_path);
	dir = fs_dirname(final_path);
	if (!af->final_path || !dir)
		goto nomem;
	size_t len = strlen(dir) + strlen(FS_TMP_PREFIX) +
		     strlen(fs_basename(final_path)) + 16;
	tmpl = malloc(len);
	if (!tmpl)
		goto nomem;
	snprintf(tmpl, len, "%s/%s%s.XXXXXX", dir, FS_TMP_PREFIX,
		 fs_basename(final_path));
	af->fd = fs_temp_create(tmpl, mode);
	if (af->fd < 0) {
		/* Report the directory: that is what the user must fix. */
		enum result r = error_errno(err, errno, dir);
		free(tmpl);
		free(dir);
		free(af->final_path);
		af->final_path = NULL;
		return r;
	}
	af->tmp_path = tmpl;
	free(dir);
	return CB_OK;
nomem:
	free(dir);
	free(af->final_path);
	af->final_path = NULL;
	return error_nomem(err);
}

enum result atomic_file_write(struct atomic_file *af, const void *buf, size_t len,
			      struct error *err)
{
	int e = fs_write_all(af->fd, buf, len);
	if (e)
		return error_errno(err, e, af->final_path);
	return CB_OK;
}

enum result atomic_file_commit(struct atomic_file *af, const struct commit_opts *opts,
			       struct error *err)
{
	static const struct commit_opts defaults = {0};
	enum result r;
	char *dir = NULL;

	if (!opts)
		opts = &defaults;
	if (!opts->no_sync && fsync(af->fd) != 0) {
		r = error_errno(err, errno, af->final_path);
		goto fail;
	}
	/* Rename while the fd (and so the owner's lock) is still held: a sweep
	 * must never see the temp file unlocked before it has its final name. */
	int e = opts->no_replace ? fs_rename_noreplace(af->tmp_path, af->final_path)
				 : (rename(af->tmp_path, af->final_path) == 0 ? 0 : errno);
	if (e) {
		r = error_errno(err, e, af->final_path);
		goto fail;
	}
	af->renamed = true;
	if (close(af->fd) != 0) {
		af->fd = -1;
		r = error_errno(err, errno, af->final_path);
		goto renamed;
	}
	af->fd = -1;
	dir = fs_dirname(af->final_path);
	r = dir ? (opts->no_sync ? CB_OK : fs_fsync_dir(dir, err))
		: error_nomem(err);
	free(dir);
renamed:
	free(af->tmp_path);
	free(af->final_path);
	af->tmp_path = NULL;
	af->final_path = NULL;
	return r;
fail:
	atomic_file_abort(af);
	return r;
}

void atomic_file_abort(struct atomic_file *af)
{
	if (af->fd >= 0)
		close(af->fd);
	af->fd = -1;
	if (af->tmp_path)
		unlink(af->tmp_path);
	free(af->tmp_path);
	free(af->final_path);
	af->tmp_path = NULL;
	af->final_path = NULL;
}

int fs_scratch_open(const char *dir, struct error *err)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
		error_errno(err, errno, dir);
		return -1;
	}
	char *tmpl = NULL;
	if (asprintf(&tmpl, "%s/%sscratch.XXXXXX", dir, FS_TMP_PREFIX) < 0) {
		error_nomem(err);
		return -1;
	}
	fd = fs_temp_create(tmpl, 0600);
	if (fd < 0)
		error_errno(err, errno, dir);
	else
		unlink(tmpl);
	free(tmpl);
	return fd;
}

int fs_scratch_beside(const char *file, struct error *err)
{
	char *dir = fs_dirname(file);
	if (!dir) {
		error_nomem(err);
		return -1;
	}
	int fd = fs_scratch_open(dir, err);
	free(dir);
	return fd;
}

int fs_temp_create(char *tmpl, mode_t mode)
{
	static const char chars[] =
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t len = strlen(tmpl);
	if (len < 6 || strcmp(tmpl + len - 6, "XXXXXX") != 0) {
		errno = EINVAL;
		return -1;
	}
	for (int attempt = 0; attempt < 100; attempt++) {
		uint8_t rnd[6];
		if (getentropy(rnd, sizeof(rnd)) != 0)
			return -1;
		for (size_t i = 0; i < 6; i++)
			tmpl[len - 6 + i] = chars[rnd[i] % (sizeof(chars) - 1)];
		/* Mode 0000 until claimed (see fsutil.h). */
		int fd = open(tmpl, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return -1;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fchmod(fd, mode & 07777) != 0) {
			int e = errno;
			close(fd);
			unlink(tmpl);
			errno = e;
			return -1;
		}
		return fd;
	}
	errno = EEXIST;
	return -1;
}

/* An unlocked temp file still of mode 0000 may be one created a moment ago
 * and not claimed yet: it is judged only once it is this many seconds old. */
#define TEMP_CLAIM_GRACE 60

size_t fs_remove_dead_temps(const char *dir)
{
	size_t removed = 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	struct dirent *de;
	time_t now = time(NULL);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) != 0)
			continue;
		int fd = openat(dirfd(d), de->d_name,
				O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct stat st;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    ((st.st_mode & 07777) != 0 || (st.st_mtime < now - TEMP_CLAIM_GRACE &&
						     st.st_ctime < now - TEMP_CLAIM_GRACE)) &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0) {
			/* Dead owner; remove it only if the name still is this file. */
			struct stat cur;
			if (fstatat(dirfd(d), de->d_name, &cur, AT_SYMLINK_NOFOLLOW) == 0 &&
			    cur.st_ino == st.st_ino && cur.st_dev == st.st_dev &&
			    unlinkat(dirfd(d), de->d_name, 0) == 0)
				removed++;
		}
		close(fd);
	}
	closedir(d);
	return removed;
}

enum result fs_write_file_atomic(const char *path, const void *data, size_t len,
				 mode_t mode, struct error *err)
{
	struct atomic_file af;
	enum result r = atomic_file_open(&af, path, mode, err);
	if (r)
		return r;
	r = atomic_file_write(&af, data, len, err);
	if (r) {
		atomic_file_abort(&af);
		return r;
	}
	return atomic_file_commit(&af, NULL, err);
}

enum result fs_read_file(const char *path, size_t max, char **out, size_t *len,
			 struct error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, path);
	size_t cap = 4096, used = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return error_nomem(err);
	}
	for (;;) {
		if (used + 1 >= cap) {
			/* Refuse only once more than max bytes were read: a file
			 * of exactly max bytes may fill the buffer to cap - 1. */
			if (used > max) {
				free(buf);
				close(fd);
				return error_set(err, CB_ERR_IO, "file too large: '%s'", path);
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				close(fd);
				return error_nomem(err);
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + used, cap - used - 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			free(buf);
			close(fd);
			return error_errno(err, e, path);
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	if (used > max) {
		free(buf);
		return error_set(err, CB_ERR_IO, "file too large: '%s'", path);
	}
	buf[used] = '\0';
	*out = buf;
	if (len)
		*len = used;
	return CB_OK;
}
