/*
 * Compaction of the local tier's chains (compact.h).
 */
#include "agent/tiers/compact.h"
#include "agent/engine/capture.h"
#include "agent/engine/gzstream.h"
#include "agent/engine/walfile.h"
#include "common/fsutil.h"
#include "common/log.h"
#include "common/meta.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <version.h>

#define INCR_META_MAX (64 * 1024)

int64_t compact_bucket(int64_t last, int64_t now)
{
	int64_t age = now - last;
	if (age < COMPACT_KEEP_FINE)
		return -1;
	if (age < COMPACT_MINUTES)
		return last / 60 * 2;          /* even: a minute */
	return last / 3600 * 2 + 1;            /* odd: an hour */
}

size_t compact_plan(const struct incr_name *items, size_t n, int64_t now, const size_t *protect,
		    struct compact_group *out, size_t max)
{
	size_t groups = 0, i = 0;
	while (i < n) {
		int64_t b = compact_bucket(items[i].last, now);
		size_t j = i + 1;
		if (b >= 0 && !(protect && *protect == i))
			while (j < n && !(protect && *protect == j) &&
			       items[j].seq_first == items[j - 1].seq_last + 1 &&
			       compact_bucket(items[j].last, now) == b)
				j++;
		if (b >= 0 && j - i >= 2 && !(protect && *protect == i)) {
			if (groups < max)
				out[groups] = (struct compact_group){.first = i, .count = j - i};
			groups++;
		}
		i = j;
	}
	return groups;
}

/* One increment found in a chain's folder. */
struct item {
	struct incr_name n;
	char file[96];            /* its file name in the folder */
	bool has_data;
	bool has_meta;            /* and usable: m holds it */
	struct incr_meta m;
};

struct chain_dir {
	char *path;               /* <dir>/increments/<stem> */
	char stem[BACKUP_NAME_MAX];
	struct item *items;       /* sorted by seq_first, then widest first */
	size_t n;
};

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	if (x->n.seq_first != y->n.seq_first)
		return x->n.seq_first < y->n.seq_first ? -1 : 1;
	if (x->n.seq_last != y->n.seq_last)
		return x->n.seq_last > y->n.seq_last ? -1 : 1;
	return strcmp(x->file, y->file);
}

static char *path_in(const struct chain_dir *c, const char *file, const char *suffix)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s%s", c->path, file, suffix ? suffix : "") < 0)
		return NULL;
	return p;
}

static struct item *find_file(struct chain_dir *c, const char *file)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->items[i].file, file) == 0)
			return &c->items[i];
	return NULL;
}

static enum result read_item_meta(const struct chain_dir *c, struct item *it)
{
	char *path = path_in(c, it->file, META_SUFFIX), *text = NULL;
	size_t len = 0;
	struct error e = {0};
	if (!path)
		return CB_ERR_NOMEM;
	if (!fs_read_file(path, INCR_META_MAX, &text, &len, &e) &&
	    !incr_meta_from_json(text, len, &it->m, &e)) {
		char key[INCR_NAME_MAX];
		snprintf(key, sizeof(key), "%s/%s/%s", INCR_DIR, c->stem, it->file);
		it->has_meta = strcmp(it->m.name, key) == 0;
	}
	free(text);
	free(path);
	return CB_OK;
}

/* Read a chain's folder: every increment's data and metadata. */
static enum result chain_read(struct chain_dir *c, struct error *err)
{
	DIR *d = opendir(c->path);
	struct dirent *de;
	size_t cap = 0, mlen = strlen(META_SUFFIX);
	if (!d)
		return errno == ENOENT ? CB_OK
				       : error_set(err, CB_ERR_IO, "cannot read %s: %s", c->path,
						   strerror(errno));
	while ((de = readdir(d)) != NULL) {
		char file[96], key[INCR_NAME_MAX];
		size_t len = strlen(de->d_name);
		bool meta = len > mlen && strcmp(de->d_name + len - mlen, META_SUFFIX) == 0;
		if (len - (meta ? mlen : 0) >= sizeof(file))
			continue;
		snprintf(file, sizeof(file), "%.*s", (int)(len - (meta ? mlen : 0)), de->d_name);
		snprintf(key, sizeof(key), "%s/%s/%s", INCR_DIR, c->stem, file);
		struct incr_name n;
		if (!incr_name_parse(key, &n))
			continue;
		struct item *it = find_file(c, file);
		if (!it) {
			if (c->n == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct item *grown = realloc(c->items, ncap * sizeof(*grown));
				if (!grown) {
					closedir(d);
					return error_nomem(err);
				}
				c->items = grown;
				cap = ncap;
			}
			it = &c->items[c->n++];
			memset(it, 0, sizeof(*it));
			it->n = n;
			snprintf(it->file, sizeof(it->file), "%s", file);
		}
		if (meta)
			it->has_meta = true;   /* there; read below */
		else
			it->has_data = true;
	}
	closedir(d);
	for (size_t i = 0; i < c->n; i++) {
		struct item *it = &c->items[i];
		if (it->has_meta) {
			it->has_meta = false;
			if (read_item_meta(c, it))
				return error_nomem(err);
		}
	}
	if (c->n)
		qsort(c->items, c->n, sizeof(*c->items), item_cmp);
	return CB_OK;
}

static void chain_clear(struct chain_dir *c)
{
	free(c->items);
	c->items = NULL;
	c->n = 0;
}

/* Remove an increment: data first, so that what is left never looks like a
 * usable increment without its metadata's checks. */
static enum result remove_item(const struct chain_dir *c, const struct item *it,
			       struct error *err)
{
	char *data = path_in(c, it->file, NULL), *meta = path_in(c, it->file, META_SUFFIX);
	enum result r = CB_OK;
	if (!data || !meta)
		r = error_nomem(err);
	else if ((unlink(data) && errno != ENOENT) || (unlink(meta) && errno != ENOENT))
		r = error_set(err, CB_ERR_IO, "cannot remove increment %s/%s: %s", c->stem,
			      it->file, strerror(errno));
	free(data);
	free(meta);
	return r;
}

static enum result write_meta(const struct chain_dir *c, const struct incr_meta *m,
			      const char *file, struct error *err)
{
	char *json = incr_meta_to_json(m), *path = path_in(c, file, META_SUFFIX);
	enum result r = !json || !path ? error_nomem(err)
				       : fs_write_file_atomic(path, json, strlen(json), 0600, err);
	free(json);
	free(path);
	return r;
}

/* Make the increment after a merged one name it as predecessor. */
static enum result relink(const struct chain_dir *c, struct item *next, const struct incr_meta *merged,
			  struct error *err)
{
	if (strcmp(next->m.prev, merged->name) == 0)
		return CB_OK;
	snprintf(next->m.prev, sizeof(next->m.prev), "%s", merged->name);
	return write_meta(c, &next->m, next->file, err);
}

/* Finish what an interrupted run left: metadata without data (an increment
 * whose commit never happened), and increments a complete merged one covers
 * (relinking its successor first).  Returns how many merges it finished. */
static enum result repair(struct chain_dir *c, bool dry_run, size_t *repaired, struct error *err)
{
	enum result r = CB_OK;
	bool changed = false;
	for (size_t i = 0; i < c->n && !r; i++) {
		struct item *it = &c->items[i];
		if (!it->has_data && !dry_run) {
			r = remove_item(c, it, err);
			changed = true;
		}
	}
	for (size_t i = 0; i < c->n && !r; i++) {
		struct item *m = &c->items[i];
		if (!m->has_data || !m->has_meta || m->n.seq_last == m->n.seq_first)
			continue;
		size_t covered = 0;
		struct item *next = NULL;
		for (size_t j = 0; j < c->n; j++) {
			struct item *o = &c->items[j];
			if (o != m && o->n.seq_first >= m->n.seq_first && o->n.seq_last <= m->n.seq_last)
				covered++;
			if (o->n.seq_first == m->n.seq_last + 1 && o->has_meta && o->has_data)
				next = o;
		}
		if (!covered)
			continue;
		(*repaired)++;
		if (dry_run)
			continue;
		if (next && (r = relink(c, next, &m->m, err)))
			break;
		for (size_t j = 0; j < c->n && !r; j++) {
			struct item *o = &c->items[j];
			if (o != m && o->n.seq_first >= m->n.seq_first && o->n.seq_last <= m->n.seq_last)
				r = remove_item(c, o, err);
		}
		changed = true;
	}
	if (!r && changed)
		r = fs_fsync_dir(c->path, err);
	return r;
}

/* ---- merging ------------------------------------------------------------- */

/* The pages of a run of increments, gathered in a sparse scratch file. */
struct gather {
	int fd;
	const char *what;
	uint32_t page_size;
	uint8_t *bits;            /* pages some increment wrote */
	size_t nbits;
	uint32_t low;             /* the smallest size the run went down to:
				   * every page past it is in the merged one */
};

static enum result gather_page(void *ctx, uint32_t pgno, const void *data, uint32_t page_size,
			       struct error *err)
{
	struct gather *g = ctx;
	if (page_size != g->page_size)
		return error_set(err, CB_ERR_CORRUPT, "%s: page size %u, not %u", g->what,
				 page_size, g->page_size);
	if (pgno > g->nbits) {
		size_t n = g->nbits ? g->nbits : 1024;
		while (n < pgno)
			n *= 2;
		uint8_t *grown = realloc(g->bits, (n + 7) / 8);
		if (!grown)
			return error_nomem(err);
		memset(grown + (g->nbits + 7) / 8, 0, (n + 7) / 8 - (g->nbits + 7) / 8);
		g->bits = grown;
		g->nbits = n;
	}
	g->bits[(pgno - 1) / 8] |= (uint8_t)(1u << ((pgno - 1) % 8));
	if (fs_pwrite_all(g->fd, data, page_size, (off_t)(pgno - 1) * page_size))
		return error_set(err, CB_ERR_IO, "cannot write compaction scratch file: %s",
				 strerror(errno));
	return CB_OK;
}

static bool gathered(const struct gather *g, uint32_t pgno)
{
	return pgno <= g->nbits && (g->bits[(pgno - 1) / 8] >> ((pgno - 1) % 8) & 1);
}

/* Read one increment into g, checking its object against its metadata. */
static enum result gather_one(struct gather *g, const struct chain_dir *c, const struct item *it,
			      struct error *err)
{
	char *path = path_in(c, it->file, NULL);
	struct walfile_reader *wr = NULL;
	struct gz_read_result gr;
	struct walfile_info info;
	char hex[SHA256_HEX_LEN + 1];
	enum result r;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	g->what = it->m.name;
	if (!path)
		return error_nomem(err);
	if (fd < 0) {
		r = error_set(err, CB_ERR_IO, "cannot open increment %s: %s", it->m.name,
			      strerror(errno));
		goto done;
	}
	if ((r = walfile_reader_new(&wr, gather_page, g, err)) ||
	    (r = gz_read_fd(fd, walfile_reader_write, wr, NULL, NULL, &gr, err)) ||
	    (r = walfile_reader_finish(wr, &info, err)))
		goto done;
	hex_encode(gr.sha256, SHA256_LEN, hex);
	if (strcmp(hex, it->m.sha256) != 0 || (int64_t)gr.compressed_size != it->m.compressed_size ||
	    (int64_t)info.db_pages != it->m.page_count) {
		r = error_set(err, CB_ERR_CORRUPT, "increment %s does not match its metadata; "
			      "it is left as it is", it->m.name);
		goto done;
	}
	/* Pages cut off by this commit leave the state: whatever a later one
	 * grows back over without writing is zeros, in the scratch file too. */
	if (info.db_pages < g->low)
		g->low = info.db_pages;
	if (ftruncate(g->fd, (off_t)info.db_pages * g->page_size))
		r = error_set(err, CB_ERR_IO, "cannot cut compaction scratch file: %s",
			      strerror(errno));
done:
	walfile_reader_free(wr);
	if (fd >= 0)
		close(fd);
	free(path);
	return r;
}

/* Write the merged increment's pages from the scratch file into data, with
 * the writer the capture routes use: the same WAL-in-gzip object, fresh
 * salts, seq as its checkpoint sequence. */
static enum result emit(struct gather *g, uint32_t pages_after, const struct compact_opts *o,
			int data_fd, uint32_t seq, struct incr_meta *m, struct error *err)
{
	struct capture_opts co = {.level = o->level, .threads = o->threads, .checkpoint_seq = seq};
	struct capture_out w = {.o = &co, .fd = data_fd, .page_size = g->page_size};
	struct capture_result res = {0};
	unsigned char *page = malloc(g->page_size);
	enum result r = CB_OK;
	if (!page)
		return error_nomem(err);
	/* The page holding SQLite's lock bytes is never used: zeros in every
	 * state, so it needs no frame. */
	uint32_t lock_page = (uint32_t)(1073741824u / g->page_size) + 1;
	for (uint32_t p = 1; p <= pages_after && !r; p++) {
		if ((!gathered(g, p) && p <= g->low) || p == lock_page)
			continue;
		ssize_t got = pread(g->fd, page, g->page_size, (off_t)(p - 1) * g->page_size);
		if (got < 0) {
			r = error_set(err, CB_ERR_IO, "cannot read compaction scratch file: %s",
				      strerror(errno));
			break;
		}
		memset(page + got, 0, g->page_size - (size_t)got);
		r = capture_out_page(&w, p, page, err);
	}
	if (!r && !(r = capture_out_finish(&w, pages_after, &res, err))) {
		m->pages = res.pages;
		m->original_size = (int64_t)res.original_size;
		m->compressed_size = (int64_t)res.compressed_size;
		hex_encode(res.sha256, SHA256_LEN, m->sha256);
	}
	capture_out_free(&w);
	free(page);
	return r;
}

/* Merge items[first .. first+count-1] of c into one increment. */
static enum result merge(struct chain_dir *c, size_t first, size_t count,
			 const struct compact_opts *o, struct compact_result *res, struct error *err)
{
	struct item *a = &c->items[first], *b = &c->items[first + count - 1];
	struct item *next = first + count < c->n ? &c->items[first + count] : NULL;
	struct gather g = {.fd = -1, .page_size = (uint32_t)a->m.page_size, .low = UINT32_MAX};
	struct atomic_file data = {.fd = -1};
	struct incr_meta m = b->m;
	char tmpl[4096], file[96];
	uint64_t before = 0;
	enum result r = CB_OK;

	for (size_t i = first; i < first + count; i++) {
		struct item *it = &c->items[i];
		if (!it->has_data || !it->has_meta || it->m.page_size != a->m.page_size ||
		    (i > first && strcmp(it->m.prev, c->items[i - 1].m.name) != 0))
			return CB_OK;   /* not a clean run: leave it to restore's checks */
		before += (uint64_t)it->m.compressed_size;
	}
	if (next && (!next->has_meta || strcmp(next->m.prev, b->m.name) != 0))
		next = NULL;
	struct incr_name n = a->n;
	n.seq_last = b->n.seq_last;
	n.last = b->n.last;
	if (!incr_name_format(&n, m.name, sizeof(m.name)))
		return error_set(err, CB_ERR_INTERNAL, "cannot name a merged increment");
	snprintf(file, sizeof(file), "%s", fs_basename(m.name));
	snprintf(m.prev, sizeof(m.prev), "%s", a->m.prev);
	m.seq_first = a->m.seq_first;
	m.first_tx_ms = a->m.first_tx_ms;
	snprintf(m.version, sizeof(m.version), "%s", CBSYNC_VERSION);

	snprintf(tmpl, sizeof(tmpl), "%s/%scompact-XXXXXX", c->path, FS_TMP_PREFIX);
	if ((g.fd = fs_temp_create(tmpl, 0600)) < 0) {
		r = error_set(err, CB_ERR_IO, "cannot create a scratch file in %s: %s", c->path,
			      strerror(errno));
		goto done;
	}
	unlink(tmpl);
	for (size_t i = first; i < first + count && !r; i++)
		r = gather_one(&g, c, &c->items[i], err);
	char *path = r ? NULL : path_in(c, file, NULL);
	if (!r && !path)
		r = error_nomem(err);
	if (!r)
		r = atomic_file_open(&data, path, 0600, err);
	free(path);
	if (!r)
		r = emit(&g, (uint32_t)b->m.page_count, o, data.fd, (uint32_t)m.seq_first, &m, err);
	/* The merged increment, beside the originals: metadata, then data. */
	if (!r && !(r = write_meta(c, &m, file, err)) &&
	    (r = atomic_file_commit(&data, &(struct commit_opts){.no_replace = true}, err))) {
		char *mp = path_in(c, file, META_SUFFIX);
		if (mp)
			unlink(mp);
		free(mp);
	}
	if (r)
		goto done;
	/* Then the route through it, then the originals go. */
	if (next && (r = relink(c, next, &m, err)))
		goto done;
	for (size_t i = first; i < first + count && !r; i++)
		r = remove_item(c, &c->items[i], err);
	if (!r)
		r = fs_fsync_dir(c->path, err);
	if (!r) {
		res->merged += count;
		res->made++;
		res->bytes_before += before;
		res->bytes_after += (uint64_t)m.compressed_size;
		log_debug("compact", "%s: merged %zu increments into %s (%llu -> %lld bytes)",
			  c->stem, count, file, (unsigned long long)before,
			  (long long)m.compressed_size);
	}
done:
	atomic_file_abort(&data);
	if (g.fd >= 0)
		close(g.fd);
	free(g.bits);
	return r;
}

/* What a restore of the chain's newest state reads. */
static uint64_t chain_bytes(const struct chain_dir *c)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->items[i].has_meta)
			sum += (uint64_t)c->items[i].m.compressed_size;
	return sum;
}

static enum result compact_chain(struct chain_dir *c, const struct compact_opts *o,
				 uint64_t *bytes, struct compact_result *res, struct error *err)
{
	enum result r;
	if ((r = chain_read(c, err)) || (r = repair(c, o->dry_run, &res->repaired, err)))
		return r;
	chain_clear(c);
	if ((r = chain_read(c, err)))
		return r;
	*bytes = chain_bytes(c);
	if (c->n < 3)
		return r;
	struct incr_name *names = malloc(c->n * sizeof(*names));
	if (!names)
		return error_nomem(err);
	for (size_t i = 0; i < c->n; i++)
		names[i] = c->items[i].n;
	/* The chain's newest increment stays as cut: the agent continues from
	 * it by name. */
	size_t protect = c->n - 1;
	size_t total = compact_plan(names, c->n, o->now, &protect, NULL, 0);
	struct compact_group *groups = total ? calloc(total, sizeof(*groups)) : NULL;
	if (total && !groups)
		r = error_nomem(err);
	else
		compact_plan(names, c->n, o->now, &protect, groups, total);
	free(names);
	uint64_t before = res->bytes_before, after = res->bytes_after;
	/* Oldest first: a merge relinks the item after it (in memory too), so
	 * the next merge starts from the right predecessor. */
	for (size_t k = 0; k < total && !r; k++) {
		if (o->dry_run) {
			res->merged += groups[k].count;
			res->made++;
			continue;
		}
		r = merge(c, groups[k].first, groups[k].count, o, res, err);
	}
	*bytes = *bytes - (res->bytes_before - before) + (res->bytes_after - after);
	free(groups);
	return r;
}

enum result compact_local(const struct compact_opts *o, struct compact_result *res,
			  struct error *err)
{
	char *root = NULL;
	enum result r = CB_OK;
	memset(res, 0, sizeof(*res));
	if (asprintf(&root, "%s/%s", o->dir, INCR_DIR) < 0)
		return error_nomem(err);
	DIR *d = opendir(root);
	if (!d) {
		r = errno == ENOENT ? CB_OK
				    : error_set(err, CB_ERR_IO, "cannot read %s: %s", root,
						strerror(errno));
		free(root);
		return r;
	}
	struct dirent *de;
	while (!r && (de = readdir(d)) != NULL) {
		char snap[BACKUP_NAME_MAX];
		struct backup_name bn;
		if (strlen(de->d_name) + strlen(BACKUP_SUFFIX) >= sizeof(snap))
			continue;
		snprintf(snap, sizeof(snap), "%s%s", de->d_name, BACKUP_SUFFIX);
		if (!backup_name_parse(snap, &bn) || strcmp(bn.db, o->db) != 0)
			continue;
		struct chain_dir c = {0};
		snprintf(c.stem, sizeof(c.stem), "%s", de->d_name);
		if (asprintf(&c.path, "%s/%s", root, de->d_name) < 0) {
			r = error_nomem(err);
			break;
		}
		fs_remove_dead_temps(c.path);
		uint64_t bytes = 0;
		r = compact_chain(&c, o, &bytes, res, err);
		struct backup_name newest;
		if (!res->newest[0] || (backup_name_parse(res->newest, &newest) &&
					bn.created > newest.created)) {
			snprintf(res->newest, sizeof(res->newest), "%s", snap);
			res->newest_bytes = bytes;
		}
		chain_clear(&c);
		free(c.path);
	}
	closedir(d);
	free(root);
	return r;
}
