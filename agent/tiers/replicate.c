/*
 * The local tier's chain of increments: one capture (from the WAL's frames,
 * else by page diff), its commit, and the chain's state after it; taking in
 * an increment a crash left beyond the chain file.
 */
#include "agent/tiers/replicate.h"
#include "agent/engine/capture.h"
#include "agent/engine/gzstream.h"
#include "agent/engine/walcapture.h"
#include "agent/tiers/replicate_internal.h"
#include "agent/tiers/seal.h"
#include "common/fsutil.h"
#include "common/meta.h"
#include "common/metacrypt.h"
#include "common/timeutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <version.h>

/* An increment's metadata is small; anything larger is not one. */
#define INCR_META_MAX 65536

const char *replicate_route_name(enum replicate_route route)
{
	return route == REPLICATE_WAL ? "wal" : route == REPLICATE_DIFF ? "diff" : "none";
}

enum result replicate_begin(const char *dir, const char *db_path, const char *snapshot,
			    struct pagesum *table, const struct walpos *pos,
			    struct error *err)
{
	struct chain_state s = {.checksum = pagesum_checksum(table)};
	struct backup_name bn;
	char *sdir = NULL, *tpath = replicate_state_path(dir, db_path, ".pagesum");
	enum result r;
	if (!tpath || asprintf(&sdir, "%s/%s", dir, REPLICATE_STATE_DIR) < 0) {
		free(tpath);
		return error_nomem(err);
	}
	snprintf(s.snapshot, sizeof(s.snapshot), "%s", snapshot);
	s.last_ms = backup_name_parse(snapshot, &bn) ? bn.created * 1000 : time_now_ms();
	if (pos && pos->valid)
		s.pos = *pos;
	if (!(r = fs_mkdirs(sdir, 0700, err)) && !(r = pagesum_save(table, tpath, err)))
		r = replicate_state_write(dir, db_path, &s, err);
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

/* The increments of the chain past its state's sequence number: how many,
 * and the name of one. */
static size_t beyond(const char *cdir, const struct chain_state *s, char *name, size_t size,
		     struct incr_name *parsed)
{
	DIR *d = opendir(cdir);
	struct dirent *de;
	size_t n = 0;
	size_t stem = strlen(s->snapshot) - strlen(BACKUP_SUFFIX);
	while (d && (de = readdir(d)) != NULL) {
		char key[INCR_NAME_MAX + 64], file[INCR_NAME_MAX];
		struct incr_name in;
		if (strlen(de->d_name) >= sizeof(file))
			continue;   /* no increment's name is that long */
		/* A sealed increment counts as its name without ".age". */
		metacrypt_plain_name(de->d_name, file, sizeof(file));
		snprintf(key, sizeof(key), "%s/%.*s/%s", INCR_DIR, (int)stem, s->snapshot, file);
		if (incr_name_parse(key, &in) && in.seq_last > s->seq) {
			if (n++ == 0) {
				snprintf(name, size, "%s", key);
				*parsed = in;
			}
		}
	}
	if (d)
		closedir(d);
	return n;
}

/* A page of the increment being taken in: into the table. */
static enum result adopt_page(void *table, uint32_t pgno, const void *data, uint32_t page_size,
			      struct error *err)
{
	(void)page_size;
	return pagesum_update(table, pgno, data, err);
}

/* Bring table (at the chain's state) to the state after increment m, read
 * from the local tier and checked as a restore would. */
static enum result apply_to_table(const char *dir, const struct incr_meta *m,
				  struct pagesum *table, struct error *err)
{
	char *path = NULL;
	struct walfile_reader *wr = NULL;
	struct gz_read_result gr;
	struct walfile_info info;
	char hex[SHA256_HEX_LEN + 1];
	enum result r;
	if (asprintf(&path, "%s/%s", dir, m->name) < 0)
		return error_nomem(err);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = error_errno(err, errno, path);
		free(path);
		return r;
	}
	if (!(r = pagesum_resize(table, (uint32_t)m->page_count, err)) &&
	    !(r = walfile_reader_new(&wr, adopt_page, table, err)) &&
	    !(r = gz_read_fd(fd, walfile_reader_write, wr, NULL, NULL, &gr, err)) &&
	    !(r = walfile_reader_finish(wr, &info, err))) {
		hex_encode(gr.sha256, SHA256_LEN, hex);
		if (strcmp(hex, m->sha256) != 0 || info.db_pages != (uint32_t)m->page_count ||
		    pagesum_checksum(table) != m->state_checksum)
			r = error_set(err, CB_ERR_CORRUPT, "'%s' does not match its metadata", path);
	}
	walfile_reader_free(wr);
	close(fd);
	free(path);
	return r;
}

/* The chain went one increment further than its file says (a crash between
 * an increment's commit and the chain file's): take that increment in, so
 * that the chain goes on -- by a page diff, its position being unknown.
 * False (why says why) if that is not what happened. */
static bool adopt(const struct replicate_opts *o, struct chain_state *s, struct pagesum *table,
		  const char *cdir, const char *tpath, char *why, size_t size)
{
	char name[INCR_NAME_MAX], *mpath = NULL, *text = NULL;
	struct incr_name in;
	struct incr_meta m;
	struct error err = {0};
	size_t len = 0;
	bool ok = false;

	size_t n = beyond(cdir, s, name, sizeof(name), &in);
	if (n == 0 && pagesum_checksum(table) != s->checksum) {
		snprintf(why, size, "the chain's page table does not match it");
		return false;
	}
	if (n != 1 || in.seq_first != s->seq + 1 || in.seq_last != s->seq + 1) {
		snprintf(why, size, "the chain went further than its state");
		return false;
	}
	if (asprintf(&mpath, "%s/%s%s", o->dir, name, META_SUFFIX) < 0)
		return false;
	if (fs_read_file(mpath, INCR_META_MAX, &text, &len, &err) ||
	    incr_meta_from_json(text, len, &m, &err) || strcmp(m.name, name) != 0 ||
	    strcmp(m.snapshot, s->snapshot) != 0 || strcmp(m.prev, s->last) != 0) {
		snprintf(why, size, "the increment past the chain's state is unusable: %s",
			 err.msg[0] ? err.msg : "it does not follow the chain");
		goto done;
	}
	/* The table was saved after it, or not yet. */
	if (pagesum_checksum(table) != m.state_checksum) {
		char sealed[PATH_MAX];
		snprintf(sealed, sizeof(sealed), "%s/%s%s", o->dir, name, METACRYPT_SUFFIX);
		if (fs_exists(sealed)) {
			/* Its pages are for an identity the agent does not hold. */
			snprintf(why, size, "cannot take in %s: it is encrypted", name);
			goto done;
		}
		if (pagesum_checksum(table) != s->checksum ||
		    apply_to_table(o->dir, &m, table, &err)) {
			snprintf(why, size, "cannot take in %s: %s", name,
				 err.msg[0] ? err.msg : "the page table matches neither state");
			goto done;
		}
	}
	s->seq = m.seq_last;
	snprintf(s->last, sizeof(s->last), "%s", m.name);
	s->last_ms = m.last_tx_ms;
	s->checksum = m.state_checksum;
	s->pos.valid = false;
	ok = !pagesum_commit(table, tpath, &err) &&
	     !replicate_state_write(o->dir, o->db_path, s, &err);
	if (!ok)
		snprintf(why, size, "cannot take in %s: %s", name, err.msg);
done:
	free(mpath);
	free(text);
	return ok;
}

/* Commit the captured increment: metadata, then data (data, or sealed
 * from scratch into its .age). */
static enum result commit(const struct replicate_opts *o, const struct chain_state *s,
			  struct atomic_file *data, int scratch, const struct incr_name *n,
			  const struct capture_result *cap, int64_t first_ms,
			  struct replicate_result *res, struct error *err)
{
	struct atomic_file sealed = {.fd = -1};
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
	m.last_tx_ms = cap->state_ms;
	m.page_size = cap->page_size;
	m.page_count = cap->page_count;
	m.pages = cap->pages;
	m.original_size = (int64_t)cap->original_size;
	m.compressed_size = (int64_t)cap->compressed_size;
	hex_encode(cap->sha256, SHA256_LEN, m.sha256);
	m.state_checksum = cap->state_checksum;
	snprintf(m.version, sizeof(m.version), "%s", CBSYNC_VERSION);
	char *json = incr_meta_to_json(&m), *mpath = NULL, *path = NULL;
	enum result r;
	if (!json || asprintf(&mpath, "%s/%s%s", o->dir, m.name, META_SUFFIX) < 0 ||
	    asprintf(&path, "%s/%s", o->dir, m.name) < 0) {
		free(json);
		free(mpath);
		return error_nomem(err);
	}
	res->bytes = (uint64_t)m.compressed_size;
	if (o->seal) {
		struct meta_crypt mc;
		char *spath = NULL, *with = NULL;
		if (asprintf(&spath, "%s%s", path, METACRYPT_SUFFIX) < 0)
			spath = NULL;
		r = !spath ? error_nomem(err) : atomic_file_open(&sealed, spath, 0600, err);
		if (!r && !(r = seal_fd(o->seal, scratch, sealed.fd, m.sha256, &mc, NULL, err)) &&
		    !(with = metacrypt_add(json, strlen(json), &mc)))
			r = error_nomem(err);
		free(spath);
		free(path);
		if (r) {
			free(json);
			free(mpath);
			atomic_file_abort(&sealed);
			return r;
		}
		free(json);
		json = with;
		res->bytes = (uint64_t)mc.object_size;
		data = &sealed;
	} else {
		/* The name holds the state's time, known only now. */
		free(data->final_path);
		data->final_path = path;
	}
	struct commit_opts co = {.no_replace = true};
	if (!(r = fs_write_file_atomic(mpath, json, strlen(json), 0600, err)) &&
	    (r = atomic_file_commit(data, &co, err)) && !data->renamed)
		unlink(mpath);
	atomic_file_abort(&sealed);
	free(json);
	free(mpath);
	if (!r)
		snprintf(res->name, sizeof(res->name), "%s", m.name);
	return r;
}

/* The capture itself: from the WAL's frames when the chain knows its place,
 * else (or when continuity is lost) by page diff. */
static enum result capture(const struct chain_state *s,
			   struct pagesum **table, const char *tpath, int fd,
			   const struct capture_opts *co, struct capture_result *cap,
			   struct replicate_result *res, struct error *err)
{
	struct walcap_result wr;
	enum result r;
	if ((r = walcap_capture(co, *table, &s->pos, fd, &wr, err)))
		return r;
	if (!wr.fallback) {
		*cap = wr.cap;
		res->route = REPLICATE_WAL;
		res->followed_restart = wr.followed_restart;
		return CB_OK;
	}
	snprintf(res->fallback, sizeof(res->fallback), "%s", wr.why);
	if (wr.table_touched) {
		pagesum_free(*table);
		*table = NULL;
		if ((r = pagesum_load(tpath, table, err)))
			return r;
	}
	if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		return error_errno(err, errno, NULL);
	res->route = REPLICATE_DIFF;
	return capture_diff(co, *table, fd, cap, err);
}

enum result replicate_capture(const struct replicate_opts *o, struct replicate_result *res,
			      struct error *err)
{
	struct chain_state s;
	struct pagesum *table = NULL;
	struct atomic_file data = {.fd = -1};
	struct capture_result cap;
	char *tpath = replicate_state_path(o->dir, o->db_path, ".pagesum"), *cdir = NULL;
	char *path = NULL, *snap = NULL;
	int scratch = -1;
	enum result r = CB_OK;

	memset(res, 0, sizeof(*res));
	if (!tpath)
		return error_nomem(err);
	if (!replicate_state_read(o->dir, o->db_path, &s, res->why, sizeof(res->why)))
		goto new_base;
	struct error lerr = {0};
	if (pagesum_load(tpath, &table, &lerr)) {
		snprintf(res->why, sizeof(res->why), "the chain's page table is unusable: %s",
			 lerr.msg);
		goto new_base;
	}
	if (!(cdir = chain_dir(o->dir, s.snapshot)) ||
	    asprintf(&snap, "%s/%s", o->dir, s.snapshot) < 0) {
		r = error_nomem(err);
		goto done;
	}
	char sealed_snap[PATH_MAX];
	snprintf(sealed_snap, sizeof(sealed_snap), "%s%s", snap, METACRYPT_SUFFIX);
	bool plain_there = fs_exists(snap), sealed_there = fs_exists(sealed_snap);
	if (!plain_there && !sealed_there) {
		snprintf(res->why, sizeof(res->why), "its snapshot %s is gone", s.snapshot);
		goto new_base;
	}
	/* A chain is sealed throughout or not at all. */
	if (o->seal ? !sealed_there : !plain_there) {
		snprintf(res->why, sizeof(res->why), "[local] encrypt was turned %s",
			 o->seal ? "on" : "off");
		goto new_base;
	}
	char name[INCR_NAME_MAX];
	struct incr_name ahead;
	if (pagesum_checksum(table) != s.checksum ||
	    beyond(cdir, &s, name, sizeof(name), &ahead)) {
		if (!adopt(o, &s, table, cdir, tpath, res->why, sizeof(res->why)))
			goto new_base;
		res->adopted = true;
	}
	/* A provisional name: the increment's own holds its state's time. */
	struct incr_name n = {.seq_first = s.seq + 1, .seq_last = s.seq + 1,
			      .first = s.last_ms / 1000, .last = s.last_ms / 1000};
	snprintf(n.snapshot, sizeof(n.snapshot), "%s", s.snapshot);
	if (!incr_name_format(&n, name, sizeof(name)) ||
	    asprintf(&path, "%s/%s", o->dir, name) < 0) {
		r = error_nomem(err);
		goto done;
	}
	if ((r = fs_mkdirs(cdir, 0700, err)))
		goto done;
	fs_remove_dead_temps(cdir);
	if (o->seal) {
		/* The plaintext never enters the tier: it is captured beside the
		 * database, then sealed into it. */
		if ((scratch = fs_scratch_beside(o->db_path, err)) < 0) {
			r = err->code;
			error_prefix(err, "cannot make a scratch file to encrypt the increment from");
			goto done;
		}
	} else if ((r = atomic_file_open(&data, path, 0600, err))) {
		goto done;
	}
	struct capture_opts co = {.db_path = o->db_path, .busy_timeout = o->busy_timeout,
				  .level = o->level, .threads = o->threads,
				  .checkpoint_seq = (uint32_t)n.seq_first};
	if ((r = capture(&s, &table, tpath, o->seal ? scratch : data.fd, &co, &cap, res, err)))
		goto done;
	res->pending = cap.pending;
	if (cap.new_base) {
		snprintf(res->why, sizeof(res->why), "the page size changed");
		goto new_base;
	}
	if (!cap.changed) {
		/* Nothing new (a checkpoint, or a commit that changed no page);
		 * the place in the WAL may have moved all the same. */
		if (!walpos_equal(&cap.pos, &s.pos)) {
			s.pos = cap.pos;
			r = replicate_state_write(o->dir, o->db_path, &s, err);
		}
		goto done;
	}
	/* The increment's times: the first change it covers (never before
	 * the previous state) and its state's. */
	int64_t first_ms = o->first_ms > s.last_ms ? o->first_ms : s.last_ms;
	if (first_ms > cap.state_ms)
		first_ms = cap.state_ms;
	n.first = first_ms / 1000;
	n.last = cap.state_ms / 1000;
	if ((r = commit(o, &s, &data, scratch, &n, &cap, first_ms, res, err)))
		goto done;
	res->made = true;
	res->pages = cap.pages;
	/* Then where the chain is: the table, then the chain file. */
	s.seq = n.seq_first;
	snprintf(s.last, sizeof(s.last), "%s", res->name);
	s.last_ms = cap.state_ms;
	s.checksum = cap.state_checksum;
	s.pos = cap.pos;
	if (!(r = pagesum_commit(table, tpath, err)))
		r = replicate_state_write(o->dir, o->db_path, &s, err);
	goto done;
new_base:
	res->new_base = true;
done:
	atomic_file_abort(&data);
	if (scratch >= 0)
		close(scratch);
	pagesum_free(table);
	free(tpath);
	free(cdir);
	free(path);
	free(snap);
	return r;
}
