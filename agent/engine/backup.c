/*
 * One backup: name, snapshot, metadata, commit.
 */
#include "agent/engine/backup.h"
#include "agent/engine/progress.h"
#include "agent/engine/snapshot.h"
#include "agent/tiers/seal.h"
#include "common/metacrypt.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <version.h>

enum result backup_check_db(const char *db_path, struct error *err)
{
	struct stat st;
	if (stat(db_path, &st) != 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return error_set(err, CB_ERR_NOT_FOUND, "Database not found: %s", db_path);
		return error_errno(err, errno, db_path);
	}
	if (!S_ISREG(st.st_mode))
		return error_set(err, CB_ERR_NOT_FOUND,
				 "Database not found: %s (not a regular file)", db_path);
	return CB_OK;
}

static void on_snapshot_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	p->total = total;
	progress_update(p, done);
}

/* Pick a name not yet taken in dir: this second's, or a later one. */
static enum result choose_name(const char *dir, const char *db_path,
			       enum backup_type type, struct backup_name *bn,
			       char **path, struct error *err)
{
	char name[BACKUP_NAME_MAX];
	backup_db_stem(db_path, bn->db, sizeof(bn->db));
	bn->type = type;
	for (;;) {
		bn->created = time_now();
		if (!backup_name_format(bn, name, sizeof(name)))
			return error_set(err, CB_ERR_INTERNAL, "backup name too long");
		*path = fs_join(dir, name);
		if (!*path)
			return error_nomem(err);
		char age[PATH_MAX];
		snprintf(age, sizeof(age), "%s%s", *path, METACRYPT_SUFFIX);
		if (!fs_exists(*path) && !fs_exists(age))
			return CB_OK;
		free(*path);
		*path = NULL;
		/* Two backups of one type in one second: take the next second. */
		time_sleep(0.05);
		while (time_now() == bn->created)
			time_sleep(0.05);
	}
}

enum result backup_make(const struct backup_opts *o, struct backup_outcome *out,
			struct error *err)
{
	struct atomic_file data = {.fd = -1};
	struct backup_name bn;
	struct snapshot_result snap;
	struct progress bar;
	char *path = NULL;
	char *meta_path = NULL;
	char *json = NULL;
	char *data_path = NULL;
	char *db_dir = NULL;
	int scratch = -1;
	enum result r;
	double start = time_mono();

	if ((r = backup_check_db(o->db_path, err)))
		return r;
	if ((r = fs_mkdirs(o->dir, 0700, err)))
		return r;
	if ((r = choose_name(o->dir, o->db_path, o->type, &bn, &path, err)))
		return r;
	if (asprintf(&data_path, "%s%s", path, o->seal ? METACRYPT_SUFFIX : "") < 0) {
		data_path = NULL;
		r = error_nomem(err);
		goto done;
	}
	if (o->seal && (!(db_dir = fs_dirname(o->db_path)) ||
			(scratch = fs_scratch_open(db_dir, err)) < 0)) {
		r = db_dir ? err->code : error_nomem(err);
		error_prefix(err, "cannot make a scratch file to encrypt the backup from");
		goto done;
	}
	if ((r = atomic_file_open(&data, data_path, 0600, err)))
		goto done;

	progress_start(&bar, "backup", 0);
	bar.enabled = bar.enabled && o->progress;
	struct snapshot_opts so = {
		.level = o->level,
		.threads = o->threads,
		.busy_timeout = o->busy_timeout,
		.tmp_dir = o->seal ? db_dir : o->dir,
		.force_fallback = o->force_fallback,
		.scratch = o->seal != NULL,
		.progress = on_snapshot_progress,
		.progress_ctx = &bar,
		.sum_out = o->sum_out,
		.pos_out = o->pos_out,
	};
	r = snapshot_to_gzip(o->db_path, o->seal ? scratch : data.fd, &so, &snap, err);
	progress_end(&bar);
	if (r)
		goto done;

	struct backup_meta *m = &out->meta;
	memset(m, 0, sizeof(*m));
	backup_name_format(&bn, m->name, sizeof(m->name));
	memcpy(m->database, bn.db, sizeof(m->database));
	m->type = bn.type;
	m->created = bn.created;
	m->original_size = (int64_t)snap.data_size;
	m->compressed_size = (int64_t)snap.compressed_size;
	hex_encode(snap.sha256, SHA256_LEN, m->sha256);
	m->page_size = (int64_t)snap.page_size;
	m->page_count = (int64_t)snap.page_count;
	m->has_state_checksum = true;
	m->state_checksum = snap.state_checksum;
	/* Never before the name's time, even if the clock stepped back. */
	m->has_state_time = true;
	m->state_ms = snap.state_ms > bn.created * 1000 ? snap.state_ms : bn.created * 1000;
	snprintf(m->version, sizeof(m->version), "%s", CBSYNC_VERSION);

	/* A scratch file is hashed as it is sealed (read once, not twice). */
	struct meta_crypt mc;
	if (o->seal && (r = seal_fd(o->seal, scratch, data.fd, NULL, &mc, m->sha256, err)))
		goto done;
	json = meta_to_json(m);
	if (asprintf(&meta_path, "%s%s", path, META_SUFFIX) < 0)
		meta_path = NULL;
	if (!json || !meta_path) {
		r = error_nomem(err);
		goto done;
	}
	if (o->seal) {
		char *sealed = metacrypt_add(json, strlen(json), &mc);
		if (!sealed) {
			r = error_nomem(err);
			goto done;
		}
		free(json);
		json = sealed;
	}
	/* Metadata first: the data file's rename is what makes the backup. */
	if ((r = fs_write_file_atomic(meta_path, json, strlen(json), 0600, err)))
		goto done;
	r = atomic_file_commit(&data, &(struct commit_opts){.no_replace = true}, err);
	if (r) {
		/* Before the rename nothing is visible: drop the metadata too.
		 * After it the backup is in place (only its durability is in
		 * doubt), and a backup without its metadata must never appear. */
		if (!data.renamed)
			unlink(meta_path);
		else
			error_prefix(err, "backup %s was written, but not made durable", data_path);
		goto done;
	}
	snprintf(out->path, sizeof(out->path), "%s", data_path);
	out->seconds = time_mono() - start;
	out->used_fallback = snap.used_fallback;
	if (snap.used_fallback)
		log_warn("backup", "SQLite wrote pages out of order; used a temporary copy");
done:
	atomic_file_abort(&data);
	if (scratch >= 0)
		close(scratch);
	free(data_path);
	free(db_dir);
	free(path);
	free(meta_path);
	free(json);
	return r;
}
