/*
 * flock(2)-based directory lock with a holder note.
 */
#include "agent/tiers/lock.h"
#include "common/cancel.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

enum result dir_lock_acquire(struct dir_lock *l, const char *dir, const char *op,
			     double timeout, struct error *err)
{
	char *path = fs_join(dir, LOCK_FILE_NAME);
	l->fd = -1;
	if (!path)
		return error_nomem(err);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		enum result r = error_errno(err, errno, dir);
		free(path);
		return r;
	}
	double deadline = time_mono() + timeout;
	while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK) {
			enum result r = error_errno(err, errno, path);
			close(fd);
			free(path);
			return r;
		}
		if (time_mono() >= deadline || cancel_requested()) {
			char holder[128] = "";
			ssize_t n = pread(fd, holder, sizeof(holder) - 1, 0);
			holder[n > 0 ? n : 0] = '\0';
			holder[strcspn(holder, "\n")] = '\0';
			close(fd);
			free(path);
			return error_set(err, CB_ERR_BUSY,
					 "another cbsync is working on '%s'%s%s%s; HINT: try "
					 "again when it has finished",
					 dir, holder[0] ? " (" : "", holder,
					 holder[0] ? ")" : "");
		}
		time_sleep(0.05);
	}
	char note[96];
	int len = snprintf(note, sizeof(note), "pid %ld, %s\n", (long)getpid(), op);
	if (ftruncate(fd, 0) == 0)
		(void)!pwrite(fd, note, (size_t)len, 0);
	free(path);
	l->fd = fd;
	return CB_OK;
}

void dir_lock_release(struct dir_lock *l)
{
	if (l->fd < 0)
		return;
	(void)!ftruncate(l->fd, 0);
	flock(l->fd, LOCK_UN);
	close(l->fd);
	l->fd = -1;
}
