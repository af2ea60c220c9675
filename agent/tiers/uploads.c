/*
 * The journal of uploads in flight (see uploads.h): records written and
 * locked while a put runs, and the abort of a dead run's records at the
 * start of the next sync.
 */
#include "agent/tiers/uploads.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define RECORD_MAX (16 << 10)   /* a record is a few hundred bytes */
#define NAME_TRIES 5            /* record names taken already, before giving up */
/* An unnamed upload (see uploads.h) may show a start up to this much before
 * its record's: the remote's clock is not ours. */
#define CLOCK_MARGIN 3600

struct upload_journal {
	struct backend *b;
	char *dir;                  /* <local dir>/.cbsync-uploads */
	struct backend_upload_tracker tracker;
	int fd;                     /* the running put's record, locked; -1: none */
	char *path;                 /* ... its name */
	char *key;                  /* ... the key it is for */
	int64_t started;            /* ... and when it was first written */
	bool warned;                /* a record could not be written: said once */
};

/* One record read back. */
struct record {
	json_t *json;
	const char *remote, *type, *key;
	const char *upload_id;      /* NULL: not named yet */
	int64_t started;
};

/* The record of one put, as JSON text (malloc'd), or NULL. */
static char *record_text(const struct upload_journal *j, const char *key, const char *upload_id)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s?, s:I, s:I}", "remote", j->b->name, "type",
			      j->b->ops->type, "key", key, "upload_id", upload_id, "started",
			      (json_int_t)j->started, "pid", (json_int_t)getpid());
	char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return text;
}

/* Write text under a temp name, locked from its first byte (fs_temp_create),
 * and rename it into place -- over j->path when the running put has a
 * record already, else under a new name.  The lock goes with the file
 * through the rename and stays until the put ends. */
static enum result write_record(struct upload_journal *j, const char *text, struct error *err)
{
	size_t size = strlen(j->dir) + strlen(j->b->name) + strlen(FS_TMP_PREFIX) + 32;
	char *tmp = malloc(size), *final = malloc(size);
	enum result r = CB_OK;
	int fd = -1;
	if (!tmp || !final) {
		r = error_nomem(err);
		goto fail;
	}
	for (int attempt = 0;; attempt++) {
		snprintf(tmp, size, "%s/%s%s.XXXXXX", j->dir, FS_TMP_PREFIX, j->b->name);
		if (mkdir(j->dir, 0700) != 0 && errno != EEXIST) {
			r = error_errno(err, errno, j->dir);
			goto fail;
		}
		if ((fd = fs_temp_create(tmp, 0600)) < 0) {
			/* Another run may have removed the empty directory meanwhile. */
			if (errno == ENOENT && attempt < NAME_TRIES)
				continue;
			r = error_errno(err, errno, j->dir);
			goto fail;
		}
		int e = fs_write_all(fd, text, strlen(text));
		if (j->path) {
			snprintf(final, size, "%s", j->path);
			if (!e && rename(tmp, final) != 0)
				e = errno;
		} else {
			/* <remote>.<the temp name's random part>.json */
			snprintf(final, size, "%s/%s.%s.json", j->dir, j->b->name,
				 tmp + strlen(tmp) - 6);
			if (!e)
				e = fs_rename_noreplace(tmp, final);
		}
		if (!e)
			break;
		unlink(tmp);
		close(fd);
		fd = -1;
		if (e != EEXIST || attempt == NAME_TRIES) {
			r = error_errno(err, e, final);
			goto fail;
		}
	}
	/* In place (a kill from now on finds it); now make it last a power cut. */
	if (fsync(fd) != 0) {
		r = error_errno(err, errno, final);
		goto fail;
	}
	if ((r = fs_fsync_dir(j->dir, err)))
		goto fail;
	if (j->fd >= 0)
		close(j->fd);   /* the record it replaced, unlinked by the rename */
	free(j->path);
	j->fd = fd;
	j->path = final;
	free(tmp);
	return CB_OK;
fail:
	if (fd >= 0) {
		unlink(final);
		close(fd);
	}
	free(tmp);
	free(final);
	return r;
}

/* Let go of the running put's record: removed if the put committed, else
 * left (unlocked) for the next sync to abort. */
static void on_ended(void *ctx, const char *key, bool committed)
{
	struct upload_journal *j = ctx;
	(void)key;
	if (j->fd >= 0) {
		if (committed) {
			/* Removed while still locked: nobody sees it as a dead run's. */
			unlink(j->path);
			rmdir(j->dir);  /* when empty: nothing left to record */
		}
		close(j->fd);
	}
	j->fd = -1;
	free(j->path);
	free(j->key);
	j->path = NULL;
	j->key = NULL;
}

/* The put of key has left (or is about to leave) upload_id on the remote:
 * write it down before anything is sent. */
static void on_started(void *ctx, const char *key, const char *upload_id)
{
	struct upload_journal *j = ctx;
	struct error err = {0};
	enum result r = CB_OK;
	bool again = j->key && strcmp(j->key, key) == 0;
	if (!again) {
		on_ended(j, NULL, false);   /* never two at once; never left open */
		j->started = time_now();
		if (!(j->key = strdup(key)))
			r = error_nomem(&err);
	}
	char *text = r ? NULL : record_text(j, key, upload_id);
	if (!r && !text)
		r = error_nomem(&err);
	if (!r)
		r = write_record(j, text, &err);
	free(text);
	if (r && !j->warned) {
		j->warned = true;
		log_warn("sync",
			 "remote '%s': cannot record the upload of '%s' in %s: %s (if this run is "
			 "stopped, what it leaves on the remote goes only when it is a day old)",
			 j->b->name, key, j->dir, err.msg);
	}
}

/* Read the record open as fd; false if it is not one (r is then empty). */
static bool record_read(int fd, struct record *r)
{
	struct stat st;
	char *text = NULL;
	ssize_t n = -1;
	memset(r, 0, sizeof(*r));
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    st.st_size <= RECORD_MAX && (text = malloc((size_t)st.st_size)))
		n = pread(fd, text, (size_t)st.st_size, 0);
	r->json = n > 0 ? json_loadb(text, (size_t)n, 0, NULL) : NULL;
	free(text);
	json_t *id = json_object_get(r->json, "upload_id");
	json_t *started = json_object_get(r->json, "started");
	r->remote = json_string_value(json_object_get(r->json, "remote"));
	r->type = json_string_value(json_object_get(r->json, "type"));
	r->key = json_string_value(json_object_get(r->json, "key"));
	r->upload_id = json_string_value(id);
	r->started = json_is_integer(started) ? (int64_t)json_integer_value(started) : 0;
	return r->remote && r->type && r->key && (json_is_string(id) || json_is_null(id)) &&
	       r->started > 0;
}

static void record_free(struct record *r)
{
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* Is name one of this remote's records ("<remote>.<random>.json")? */
static bool is_record_name(const struct upload_journal *j, const char *name)
{
	size_t len = strlen(name), n = strlen(j->b->name);
	return len > n + 6 && strncmp(name, j->b->name, n) == 0 && name[n] == '.' &&
	       strcmp(name + len - 5, ".json") == 0;
}

/* For an unnamed upload's abort: the record being judged, and its key. */
struct spare_ctx {
	struct upload_journal *j;
	const char *key;
	dev_t dev;
	ino_t ino;
};

/* Does a live run (a record locked by its writer, looked at now) have key
 * unnamed, or upload_id, for its own?  Then that upload is not ours to end. */
static bool live_upload(void *ctx, const char *upload_id)
{
	struct spare_ctx *s = ctx;
	DIR *d = opendir(s->j->dir);
	bool live = false;
	struct dirent *de;
	while (d && !live && (de = readdir(d)) != NULL) {
		if (!is_record_name(s->j, de->d_name))
			continue;
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;
		struct record r;
		if (fd < 0)
			continue;
		/* Locked by someone else: live.  (The one being judged is locked
		 * by us, and dead.) */
		if (fstat(fd, &st) == 0 && !(st.st_dev == s->dev && st.st_ino == s->ino) &&
		    flock(fd, LOCK_EX | LOCK_NB) != 0 && record_read(fd, &r)) {
			live = strcmp(r.key, s->key) == 0 &&
			       (!r.upload_id || strcmp(r.upload_id, upload_id) == 0);
			record_free(&r);
		}
		close(fd);
	}
	if (d)
		closedir(d);
	return live;
}

/* Remove the record name (open as fd) if the name still is that file. */
static void drop_record(int dfd, const char *name, int fd)
{
	struct stat a, b;
	if (fstat(fd, &a) == 0 && fstatat(dfd, name, &b, AT_SYMLINK_NOFOLLOW) == 0 &&
	    a.st_ino == b.st_ino && a.st_dev == b.st_dev)
		unlinkat(dfd, name, 0);
}

/* One record found in the directory: abort what it names if its writer is
 * gone.  False when the remote cannot be reached (stop for now). */
static bool recover_one(struct upload_journal *j, int dfd, const char *name, size_t *aborted)
{
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	struct record rec;
	if (fd < 0)
		return true;
	/* Locked: a live run's upload, running now.  Not ours to end. */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return true;
	}
	bool reachable = true;
	if (!record_read(fd, &rec) || strcmp(rec.remote, j->b->name) != 0 ||
	    strcmp(rec.type, j->b->ops->type) != 0) {
		/* Unreadable, or made for what the remote was before its type
		 * changed: it means nothing now. */
		drop_record(dfd, name, fd);
	} else {
		struct error err = {0};
		struct spare_ctx sc = {.j = j, .key = rec.key, .dev = st.st_dev, .ino = st.st_ino};
		struct abort_upload_opts opts = {.since = rec.started - CLOCK_MARGIN,
						 .spare = live_upload, .spare_ctx = &sc};
		enum result r = backend_abort_upload(j->b, rec.key, rec.upload_id, &opts, &err);
		if (r == CB_OK) {
			drop_record(dfd, name, fd);
			(*aborted)++;
			log_info("sync", "remote '%s': removed what a stopped run left of '%s'",
				 j->b->name, rec.key);
		} else if (r == CB_ERR_USAGE) {
			drop_record(dfd, name, fd);  /* an id no backend would take */
		} else {
			/* Kept for the next sync. */
			log_info("sync", "remote '%s': cannot yet remove what a stopped run left: %s",
				 j->b->name, err.msg);
			reachable = r != CB_ERR_RETRY && r != CB_ERR_INTERRUPTED;
		}
	}
	record_free(&rec);
	close(fd);
	return reachable;
}

/* Abort every dead run's upload recorded for this remote. */
static void recover(struct upload_journal *j, size_t *aborted)
{
	DIR *d = opendir(j->dir);
	if (!d)
		return;     /* nothing was ever recorded */
	/* Records their writer did not finish writing: nothing was sent yet. */
	fs_remove_dead_temps(j->dir);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (is_record_name(j, de->d_name) && !recover_one(j, dirfd(d), de->d_name, aborted))
			break;
	}
	closedir(d);
	rmdir(j->dir);  /* when empty */
}

struct upload_journal *upload_journal_begin(struct backend *b, const char *local_dir,
					    size_t *aborted)
{
	struct upload_journal *j = calloc(1, sizeof(*j));
	*aborted = 0;
	if (!j || !(j->dir = fs_join(local_dir, UPLOADS_DIR_NAME))) {
		free(j);
		return NULL;
	}
	j->b = b;
	j->fd = -1;
	j->tracker = (struct backend_upload_tracker){
		.started = on_started,
		.ended = on_ended,
		.ctx = j,
	};
	if (b->ops->abort_upload) {
		recover(j, aborted);
		backend_track_uploads(b, &j->tracker);
	}
	return j;
}

void upload_journal_end(struct backend *b, struct upload_journal *j)
{
	if (!j)
		return;
	if (b->tracker == &j->tracker)
		backend_track_uploads(b, NULL);
	on_ended(j, NULL, false);
	free(j->dir);
	free(j);
}
