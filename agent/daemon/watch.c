/*
 * inotify watch on the database's directory, and database fingerprints.
 */
#include "agent/daemon/watch.h"
#include "common/fsutil.h"
#include "common/log.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_EVENTS (IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE | IN_MOVED_TO | \
		    IN_MOVED_FROM | IN_DELETE_SELF | IN_MOVE_SELF)
#define ANCESTOR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

struct watch {
	int fd;
	int wd;
	bool on_dir;       /* watching the database's own directory */
	char *dir;         /* the database's directory */
	char *name;        /* the database's file name */
	char *wal_name;    /* name + "-wal" */
};

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

void db_fingerprint_take(const char *db_path, struct db_fingerprint *fp)
{
	struct stat st;
	memset(fp, 0, sizeof(*fp));
	if (stat(db_path, &st) != 0)
		return;
	fp->exists = true;
	fp->dev = (uint64_t)st.st_dev;
	fp->ino = (uint64_t)st.st_ino;
	fp->size = (int64_t)st.st_size;
	fp->mtime_ns = mtime_ns(&st);
	char wal[PATH_MAX];
	if (snprintf(wal, sizeof(wal), "%s-wal", db_path) >= (int)sizeof(wal))
		return;
	if (stat(wal, &st) == 0 && st.st_size > 0) {
		fp->wal_size = (int64_t)st.st_size;
		fp->wal_mtime_ns = mtime_ns(&st);
	}
}

bool db_fingerprint_equal(const struct db_fingerprint *a, const struct db_fingerprint *b)
{
	if (a->exists != b->exists)
		return false;
	if (!a->exists)
		return true;
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->wal_size == b->wal_size &&
	       a->wal_mtime_ns == b->wal_mtime_ns;
}

void db_fingerprint_format(const struct db_fingerprint *fp, char *buf, size_t size)
{
	if (!fp->exists) {
		snprintf(buf, size, "-");
		return;
	}
	snprintf(buf, size, "%" PRIu64 ":%" PRIu64 ":%" PRId64 ":%" PRId64 ":%" PRId64 ":%" PRId64,
		 fp->dev, fp->ino, fp->size, fp->mtime_ns, fp->wal_size, fp->wal_mtime_ns);
}

bool db_fingerprint_parse(const char *s, struct db_fingerprint *fp)
{
	memset(fp, 0, sizeof(*fp));
	if (strcmp(s, "-") == 0)
		return true;
	int n = 0;
	if (sscanf(s, "%" SCNu64 ":%" SCNu64 ":%" SCNd64 ":%" SCNd64 ":%" SCNd64 ":%" SCNd64 "%n",
		   &fp->dev, &fp->ino, &fp->size, &fp->mtime_ns, &fp->wal_size,
		   &fp->wal_mtime_ns, &n) != 6 ||
	    s[n] != '\0')
		return false;
	fp->exists = true;
	return true;
}

/* Watch the database's directory, or while it is missing the nearest
 * existing ancestor (for its creation). */
static void arm(struct watch *w)
{
	if (w->wd >= 0)
		inotify_rm_watch(w->fd, w->wd);
	w->wd = inotify_add_watch(w->fd, w->dir, DIR_EVENTS | IN_ONLYDIR);
	if (w->wd >= 0) {
		w->on_dir = true;
		return;
	}
	w->on_dir = false;
	char *up = strdup(w->dir);
	while (up && w->wd < 0) {
		char *parent = fs_dirname(up);
		bool top = !parent || strcmp(parent, up) == 0;
		free(up);
		up = parent;
		if (!up)
			break;
		w->wd = inotify_add_watch(w->fd, up, ANCESTOR_EVENTS | IN_ONLYDIR);
		if (w->wd >= 0)
			log_info("watch", "'%s' does not exist yet; waiting for it in '%s'",
				 w->dir, up);
		if (top)
			break;
	}
	free(up);
}

enum result watch_open(struct watch **out, const char *db_path, struct error *err)
{
	struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return error_nomem(err);
	w->wd = -1;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		enum result r = error_set(err, CB_ERR_IO, "cannot start inotify: %s",
					  strerror(errno));
		free(w);
		return r;
	}
	w->dir = fs_dirname(db_path);
	w->name = strdup(fs_basename(db_path));
	if (w->name && asprintf(&w->wal_name, "%s-wal", w->name) < 0)
		w->wal_name = NULL;
	if (!w->dir || !w->name || !w->wal_name) {
		watch_close(w);
		return error_nomem(err);
	}
	arm(w);
	if (w->wd < 0) {
		enum result r = error_set(err, CB_ERR_IO, "cannot watch '%s': %s", w->dir,
					  strerror(errno));
		watch_close(w);
		return r;
	}
	*out = w;
	return CB_OK;
}

int watch_fd(const struct watch *w)
{
	return w->fd;
}

bool watch_read(struct watch *w)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool relevant = false;
	bool rearm = false;
	for (;;) {
		ssize_t n = read(w->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW)) {
				rearm = true;
				relevant = true;
				continue;
			}
			if (!w->on_dir) {
				rearm = true; /* something appeared on the way to the directory */
				continue;
			}
			if (ev->len && (strcmp(ev->name, w->name) == 0 ||
					strcmp(ev->name, w->wal_name) == 0))
				relevant = true;
		}
	}
	if (rearm) {
		bool was_on_dir = w->on_dir;
		arm(w);
		if (w->on_dir && !was_on_dir) {
			log_info("watch", "watching '%s'", w->dir);
			relevant = true; /* the database may have arrived with it */
		}
	}
	return relevant;
}

void watch_close(struct watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	free(w->dir);
	free(w->name);
	free(w->wal_name);
	free(w);
}
