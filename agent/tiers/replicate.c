/*
 * The local tier's chain of increments: its state, and one capture.
 */
#include "agent/tiers/replicate.h"
#include "agent/engine/capture.h"
#include "common/fsutil.h"
#include "common/meta.h"
#include "common/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <version.h>

#define CHAIN_FILE_MAX 8192

/* Where the chain is. */
struct chain_state {
	char snapshot[BACKUP_NAME_MAX];
	uint64_t seq;                  /* the last increment's; 0: none yet */
	char last[INCR_NAME_MAX];      /* its name, "" for none */
	int64_t last_ms;               /* its last transaction (or the snapshot's time) */
	uint64_t checksum;             /* the state's */
};

/* <dir>/.cbsync-chain/<db><suffix> */
static char *state_path(const char *dir, const char *db_path, const char *suffix)
{
	char stem[BACKUP_STEM_MAX + 1], *p = NULL;
	backup_db_stem(db_path, stem, sizeof(stem));
	if (asprintf(&p, "%s/%s/%s%s", dir, REPLICATE_STATE_DIR, stem, suffix) < 0)
		return NULL;
	return p;
}

static enum result state_write(const char *dir, const char *db_path,
			       const struct chain_state *s, struct error *err)
{
	char sum[17];
	incr_checksum_format(s->checksum, sum);
	json_t *o = json_pack("{s:i, s:s, s:I, s:o, s:I, s:s}", "format", 1, "snapshot",
			      s->snapshot, "seq", (json_int_t)s->seq, "last",
			      s->last[0] ? json_string(s->last) : json_null(), "last_ms",
			      (json_int_t)s->last_ms, "checksum", sum);
	char *text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	char *path = state_path(dir, db_path, ".json");
	json_decref(o);
	enum result r = !text || !path ? error_nomem(err)
				       : fs_write_file_atomic(path, text, strlen(text), 0600, err);
	free(text);
	free(path);
	return r;
}

/* The chain file, or false (why says why) if there is none to trust. */
static bool state_read(const char *dir, const char *db_path, struct chain_state *s,
		       char *why, size_t size)
{
	char *path = state_path(dir, db_path, ".json"), *text = NULL;
	size_t len = 0;
	struct error err = {0};
	memset(s, 0, sizeof(*s));
	if (!path || fs_read_file(path, CHAIN_FILE_MAX, &text, &len, &err)) {
		snprintf(why, size, "no chain to continue%s%s", err.msg[0] ? ": " : "", err.msg);
		free(path);
		return false;
	}
	free(path);
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	json_t *snap = json_object_get(o, "snapshot"), *seq = json_object_get(o, "seq");
	json_t *last = json_object_get(o, "last"), *ms = json_object_get(o, "last_ms");
	json_t *sum = json_object_get(o, "checksum");
	bool ok = json_is_string(snap) && json_is_integer(seq) && json_integer_value(seq) >= 0 &&
		  (json_is_null(last) || json_is_string(last)) && json_is_integer(ms) &&
		  json_is_string(sum) && strlen(json_string_value(snap)) < sizeof(s->snapshot) &&
		  (json_is_null(last) || strlen(json_string_value(last)) < sizeof(s->last)) &&
		  incr_checksum_parse(json_string_value(sum), &s->checksum);
	if (ok) {
		snprintf(s->snapshot, sizeof(s->snapshot), "%s", json_string_value(snap));
		s->seq = (uint64_t)json_integer_value(seq);
		if (json_is_string(last))
			snprintf(s->last, sizeof(s->last), "%s", json_string_value(last));
		s->last_ms = json_integer_value(ms);
		ok = backup_name_parse(s->snapshot, NULL) && (s->seq == 0) == (s->last[0] == '\0');
	}
	json_decref(o);
	if (!ok)
		snprintf(why, size, "the chain file is damaged");
	return ok;
}

enum result replicate_begin(const char *dir, const char *db_path, const char *snapshot,
			    const struct pagesum *table, struct error *err)
{
	struct chain_state s = {.checksum = pagesum_checksum(table)};
	struct backup_name bn;
	char *sdir = NULL, *tpath = state_path(dir, db_path, ".pagesum");
	enum result r;
	if (!tpath || asprintf(&sdir, "%s/%s", dir, REPLICATE_STATE_DIR) < 0) {
		free(tpath);
		return error_nomem(err);
	}
	snprintf(s.snapshot, sizeof(s.snapshot), "%s", snapshot);
	s.last_ms = backup_name_parse(snapshot, &bn) ? bn.created * 1000 : time_now_ms();
	if (!(r = fs_mkdirs(sdir, 0700, err)) && !(r = pagesum_save(table, tpath, err)))
		r = state_write(dir, db_path, &s, err);
	free(sdir);
	free(tpath);
	return r;
}

/* The folder of a chain's increments: <dir>/increments/<snapshot stem>. */
static char *chain_dir(const char *dir, const char *snapshot)
{
	char *p = NULL;
	size_t stem = strlen(snapshot) - strlen(BACKUP_SUFFIX);
	if (asprintf(&p, "%s/%s/%.*s", dir, INCR_DIR, (int)stem, snapshot) < 0)
		return NULL;
	return p;
}

/* Has the chain gone further than its state says (a crash between an
 * increment's commit and the state's)? */
static bool ran_ahead(const char *cdir, const struct chain_state *s)
{
	DIR *d = opendir(cdir);
	struct dirent *de;
	bool ahead = false;
	size_t stem = strlen(s->snapshot) - strlen(BACKUP_SUFFIX);
	while (d && !ahead && (de = readdir(d)) != NULL) {
		char key[INCR_NAME_MAX + 64];
		struct incr_name n;
		snprintf(key, sizeof(key), "%s/%.*s/%s", INCR_DIR, (int)stem, s->snapshot,
			 de->d_name);
		ahead = incr_name_parse(key, &n) && n.seq_last > s->seq;
	}
	if (d)
		closedir(d);
	return ahead;
}

/* Commit the captured increment: metadata, then data. */
static enum result commit(const struct replicate_opts *o, const struct chain_state *s,
			  struct atomic_file *data, const struct incr_name *n,
			  const struct capture_result *cap, int64_t first_ms, int64_t last_ms,
			  struct replicate_result *res, struct error *err)
{
	struct incr_meta m = {0};
	char stem[BACKUP_STEM_MAX + 1];
	backup_db_stem(o->db_path, stem, sizeof(stem));
	if (!incr_name_format(n, m.name, sizeof(m.name)))
		return error_set(err, CB_ERR_INTERNAL, "cannot name increment %llu",
				 (unsigned long long)n->seq_first);
	snprintf(m.database, sizeof(m.database), "%s", stem);
	snprintf(m.snapshot, sizeof(m.snapshot), "%s", s->snapshot);
	snprintf(m.prev, sizeof(m.prev), "%s", s->last);
	m.seq_first = m.seq_last = n->seq_first;
	m.first_tx_ms = first_ms;
	m.last_tx_ms = last_ms;
	m.page_size = cap->page_size;
	m.page_count = cap->page_count;
	m.pages = cap->pages;
	m.original_size = (int64_t)cap->original_size;
	m.compressed_size = (int64_t)cap->compressed_size;
	hex_encode(cap->sha256, SHA256_LEN, m.sha256);
	m.state_checksum = cap->state_checksum;
	snprintf(m.version, sizeof(m.version), "%s", CBSYNC_VERSION);
	char *json = incr_meta_to_json(&m), *mpath = NULL;
	enum result r;
	if (!json || asprintf(&mpath, "%s/%s%s", o->dir, m.name, META_SUFFIX) < 0) {
		free(json);
		return error_nomem(err);
	}
	struct commit_opts co = {.no_replace = true};
	if (!(r = fs_write_file_atomic(mpath, json, strlen(json), 0600, err)) &&
	    (r = atomic_file_commit(data, &co, err)))
		unlink(mpath);
	free(json);
	free(mpath);
	if (!r)
		snprintf(res->name, sizeof(res->name), "%s", m.name);
	return r;
}

enum result replicate_capture(const struct replicate_opts *o, struct replicate_result *res,
			      struct error *err)
{
	struct chain_state s;
	struct pagesum *table = NULL;
	struct atomic_file data = {.fd = -1};
	struct capture_result cap;
	char *tpath = state_path(o->dir, o->db_path, ".pagesum"), *cdir = NULL, *path = NULL;
	char *snap = NULL;
	enum result r = CB_OK;

	memset(res, 0, sizeof(*res));
	if (!tpath)
		return error_nomem(err);
	if (!state_read(o->dir, o->db_path, &s, res->why, sizeof(res->why)))
		goto new_base;
	struct error lerr = {0};
	if (pagesum_load(tpath, &table, &lerr) || pagesum_checksum(table) != s.checksum) {
		snprintf(res->why, sizeof(res->why), "the chain's page table does not match it%s%s",
			 lerr.msg[0] ? ": " : "", lerr.msg);
		goto new_base;
	}
	if (!(cdir = chain_dir(o->dir, s.snapshot)) ||
	    asprintf(&snap, "%s/%s", o->dir, s.snapshot) < 0) {
		r = error_nomem(err);
		goto done;
	}
	if (!fs_exists(snap)) {
		snprintf(res->why, sizeof(res->why), "its snapshot %s is gone", s.snapshot);
		goto new_base;
	}
	if (ran_ahead(cdir, &s)) {
		snprintf(res->why, sizeof(res->why), "the chain went further than its state");
		goto new_base;
	}
	/* The next increment's name: its times are the first change it covers
	 * (never before the previous one's last) and now. */
	int64_t last_ms = time_now_ms();
	int64_t first_ms = o->first_ms > s.last_ms ? o->first_ms : s.last_ms;
	if (first_ms > last_ms)
		first_ms = last_ms;
	struct incr_name n = {.seq_first = s.seq + 1, .seq_last = s.seq + 1,
			      .first = first_ms / 1000, .last = last_ms / 1000};
	snprintf(n.snapshot, sizeof(n.snapshot), "%s", s.snapshot);
	char name[INCR_NAME_MAX];
	if (!incr_name_format(&n, name, sizeof(name)) ||
	    asprintf(&path, "%s/%s", o->dir, name) < 0) {
		r = error_nomem(err);
		goto done;
	}
	if ((r = fs_mkdirs(cdir, 0700, err)))
		goto done;
	fs_remove_dead_temps(cdir);
	if ((r = atomic_file_open(&data, path, 0600, err)))
		goto done;
	struct capture_opts co = {.db_path = o->db_path, .busy_timeout = o->busy_timeout,
				  .level = o->level, .threads = o->threads,
				  .checkpoint_seq = (uint32_t)n.seq_first};
	if ((r = capture_diff(&co, table, data.fd, &cap, err)))
		goto done;
	if (cap.new_base) {
		snprintf(res->why, sizeof(res->why), "the page size changed");
		goto new_base;
	}
	if (!cap.changed)
		goto done;   /* the change seen was not one (a checkpoint) */
	if ((r = commit(o, &s, &data, &n, &cap, first_ms, last_ms, res, err)))
		goto done;
	res->made = true;
	res->pages = cap.pages;
	res->bytes = cap.compressed_size;
	/* Then where the chain is: the table, then the chain file. */
	s.seq = n.seq_first;
	snprintf(s.last, sizeof(s.last), "%s", res->name);
	s.last_ms = last_ms;
	s.checksum = cap.state_checksum;
	if (!(r = pagesum_save(table, tpath, err)))
		r = state_write(o->dir, o->db_path, &s, err);
	goto done;
new_base:
	res->new_base = true;
done:
	atomic_file_abort(&data);
	pagesum_free(table);
	free(tpath);
	free(cdir);
	free(path);
	free(snap);
	return r;
}
