/*
 * Compaction of the local tier's chains (compact.h).
 */
#include "agent/tiers/compact.h"
#include "common/metacrypt.h"
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
	bool sealed;              /* its data is the .age ([local] encrypt) */
	bool has_meta;            /* and usable: m holds it */
	struct incr_meta m;
};

struct chain_dir {
	char *path;               /* <dir>/increments/<stem>[/rollups] */
	char stem[BACKUP_NAME_MAX];
	bool rollups;             /* the roll-ups' folder */
	struct item *items;       /* sorted by seq_first, then widest first */
	size_t n;
};

/* The key of file in c: increments/<stem>/[rollups/]<file>. */
static void key_of(const struct chain_dir *c, const char *file, char *key, size_t size)
{
	snprintf(key, size, "%s/%s/%s%s", INCR_DIR, c->stem, c->rollups ? INCR_ROLLUP_DIR "/" : "",
		 file);
}

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
		key_of(c, it->file, key, sizeof(key));
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
		bool sealed = !meta && metacrypt_is_sealed(de->d_name);
		size_t cut = meta ? mlen : sealed ? strlen(METACRYPT_SUFFIX) : 0;
		if (len - cut >= sizeof(file))
			continue;
		snprintf(file, sizeof(file), "%.*s", (int)(len - cut), de->d_name);
		key_of(c, file, key, sizeof(key));
		struct incr_name n;
		if (!incr_name_parse(key, &n) || n.rollup != c->rollups)
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
		it->sealed |= sealed;
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
	char *data = path_in(c, it->file, it->sealed ? METACRYPT_SUFFIX : NULL);
	char *meta = path_in(c, it->file, META_SUFFIX);
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

/* One increment to merge, and the folder it is in. */
struct source {
	const struct chain_dir *dir;
	const struct item *it;
};

/* Write the merge of src (n increments in chain order) into folder out as
 * the increment m describes (its name, prev, seq, times, page count and
 * state set by the caller; its sizes and SHA-256 are filled in here):
 * metadata, then data, never over a file of that name. */
static enum result write_merged(const struct source *src, size_t n, const struct chain_dir *out,
				const struct compact_opts *o, struct incr_meta *m,
				struct error *err)
{
	struct gather g = {.fd = -1, .page_size = (uint32_t)m->page_size, .low = UINT32_MAX};
	struct atomic_file data = {.fd = -1};
	char tmpl[4096], file[96];
	enum result r = CB_OK;

	snprintf(file, sizeof(file), "%s", fs_basename(m->name));
	snprintf(m->version, sizeof(m->version), "%s", CBSYNC_VERSION);
	snprintf(tmpl, sizeof(tmpl), "%s/%scompact-XXXXXX", out->path, FS_TMP_PREFIX);
	if ((g.fd = fs_temp_create(tmpl, 0600)) < 0)
		return error_set(err, CB_ERR_IO, "cannot create a scratch file in %s: %s",
				 out->path, strerror(errno));
	unlink(tmpl);
	for (size_t i = 0; i < n && !r; i++)
		r = gather_one(&g, src[i].dir, src[i].it, err);
	char *path = r ? NULL : path_in(out, file, NULL);
	if (!r && !path)
		r = error_nomem(err);
	if (!r)
		r = atomic_file_open(&data, path, 0600, err);
	free(path);
	if (!r)
		r = emit(&g, (uint32_t)m->page_count, o, data.fd, (uint32_t)m->seq_first, m, err);
	if (!r && !(r = write_meta(out, m, file, err)) &&
	    (r = atomic_file_commit(&data, &(struct commit_opts){.no_replace = true}, err))) {
		char *mp = path_in(out, file, META_SUFFIX);
		if (mp)
			unlink(mp);
		free(mp);
	}
	atomic_file_abort(&data);
	close(g.fd);
	free(g.bits);
	return r;
}

/* Is items[first .. first+count-1] a clean run: each there whole, in one
 * page size, each naming the one before as its predecessor? */
static bool clean_run(const struct chain_dir *c, size_t first, size_t count)
{
	const struct item *a = &c->items[first];
	for (size_t i = first; i < first + count; i++) {
		const struct item *it = &c->items[i];
		if (!it->has_data || !it->has_meta || it->m.page_size != a->m.page_size ||
		    (i > first && strcmp(it->m.prev, c->items[i - 1].m.name) != 0))
			return false;
	}
	return true;
}

/* The metadata of an increment covering items[first .. last]: the last
 * one's state, the first one's predecessor and start. */
static bool merged_meta(const struct chain_dir *c, size_t first, size_t last, bool rollup,
			struct incr_meta *m)
{
	const struct item *a = &c->items[first], *b = &c->items[last];
	*m = b->m;
	struct incr_name n = a->n;
	n.seq_last = b->n.seq_last;
	n.last = b->n.last;
	n.rollup = rollup;
	snprintf(m->prev, sizeof(m->prev), "%s", a->m.prev);
	m->seq_first = a->m.seq_first;
	m->first_tx_ms = a->m.first_tx_ms;
	return incr_name_format(&n, m->name, sizeof(m->name));
}

/* Merge items[first .. first+count-1] of c into one increment; roll-ups
 * (ru) that followed the last of them follow the merged one. */
static enum result merge(struct chain_dir *c, struct chain_dir *ru, size_t first, size_t count,
			 const struct compact_opts *o, struct compact_result *res, struct error *err)
{
	struct item *b = &c->items[first + count - 1];
	struct item *next = first + count < c->n ? &c->items[first + count] : NULL;
	struct source *src = NULL;
	struct incr_meta m;
	uint64_t before = 0;
	enum result r = CB_OK;

	if (!clean_run(c, first, count))
		return CB_OK;   /* leave it to restore's checks */
	if (next && (!next->has_meta || strcmp(next->m.prev, b->m.name) != 0))
		next = NULL;
	if (!merged_meta(c, first, first + count - 1, false, &m))
		return error_set(err, CB_ERR_INTERNAL, "cannot name a merged increment");
	if (!(src = calloc(count, sizeof(*src))))
		return error_nomem(err);
	for (size_t i = 0; i < count; i++) {
		src[i] = (struct source){.dir = c, .it = &c->items[first + i]};
		before += (uint64_t)c->items[first + i].m.compressed_size;
	}
	/* The merged increment, beside the originals; then the routes through
	 * it; then the originals go. */
	if ((r = write_merged(src, count, c, o, &m, err)))
		goto done;
	if (next && (r = relink(c, next, &m, err)))
		goto done;
	for (size_t i = 0; i < ru->n && !r; i++) {
		struct item *u = &ru->items[i];
		if (u->has_meta && u->m.seq_first == b->m.seq_last + 1 &&
		    strcmp(u->m.prev, b->m.name) == 0)
			r = relink(ru, u, &m, err);
	}
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
			  c->stem, count, fs_basename(m.name), (unsigned long long)before,
			  (long long)m.compressed_size);
	}
done:
	free(src);
	return r;
}

/* ---- roll-ups ------------------------------------------------------------ */

/* Windows of wall time (seconds, UTC) a roll-up covers, finest first. */
static const int64_t rollup_window[] = {60, 600, 3600, 21600};
#define N_WINDOWS (sizeof(rollup_window) / sizeof(*rollup_window))

/* Is m's predecessor there in c (or is m the first of the chain)? */
static bool prev_there(const struct chain_dir *c, const struct incr_meta *m)
{
	if (m->seq_first == 1 && m->prev[0] == '\0')
		return true;
	for (size_t i = 0; i < c->n; i++)
		if (c->items[i].has_meta && c->items[i].has_data &&
		    strcmp(c->items[i].m.name, m->prev) == 0 &&
		    c->items[i].m.seq_last + 1 == m->seq_first)
			return true;
	return false;
}

/* Is roll-up u still a way through c: its predecessor an increment of c,
 * its end an increment of c in the same state, and more than one increment
 * between? */
static bool rollup_valid(const struct chain_dir *c, const struct item *u)
{
	if (!u->has_data || !u->has_meta)
		return false;
	bool end = false;
	size_t inside = 0;
	for (size_t i = 0; i < c->n; i++) {
		const struct incr_meta *f = &c->items[i].m;
		if (!c->items[i].has_meta || !c->items[i].has_data)
			continue;
		if (f->seq_first >= u->m.seq_first && f->seq_last <= u->m.seq_last)
			inside++;
		if (incr_same_state(f, &u->m))
			end = true;
	}
	return end && inside >= 2 && prev_there(c, &u->m);
}

/* The cheapest way through items[first .. last] of c, with the roll-ups in
 * ru: its bytes, and (when src is not NULL) its increments, in order, into
 * src (room for last - first + 1), their number into *n. */
static enum result cover(const struct chain_dir *c, const struct chain_dir *ru, size_t first,
			 size_t last, struct source *src, size_t *n, uint64_t *bytes,
			 struct error *err)
{
	size_t len = last - first + 2;
	uint64_t *cost = calloc(len, sizeof(*cost));
	size_t *from = calloc(len, sizeof(*from));
	const struct item **via = calloc(len, sizeof(*via));
	if (!cost || !from || !via) {
		free(cost);
		free(from);
		free(via);
		return error_nomem(err);
	}
	/* cost[k]: the cheapest way to the state after items[first + k - 1]. */
	for (size_t k = 0; k < len; k++)
		cost[k] = UINT64_MAX;
	cost[0] = 0;
	for (size_t k = 0; k + 1 < len; k++) {
		if (cost[k] == UINT64_MAX)
			continue;
		const struct item *f = &c->items[first + k];
		uint64_t via_f = cost[k] + (uint64_t)f->m.compressed_size;
		if (via_f < cost[k + 1]) {
			cost[k + 1] = via_f;
			from[k + 1] = k;
			via[k + 1] = f;
		}
		for (size_t i = 0; i < ru->n; i++) {
			const struct item *u = &ru->items[i];
			if (!u->has_meta || u->m.seq_first != f->m.seq_first)
				continue;
			for (size_t e = k; e + 1 < len; e++) {
				if (c->items[first + e].m.seq_last != u->m.seq_last)
					continue;
				uint64_t via_u = cost[k] + (uint64_t)u->m.compressed_size;
				if (via_u < cost[e + 1]) {
					cost[e + 1] = via_u;
					from[e + 1] = k;
					via[e + 1] = u;
				}
			}
		}
	}
	*bytes = cost[len - 1];
	if (src) {
		size_t m = 0;
		for (size_t k = len - 1; k > 0; k = from[k])
			m++;
		*n = m;
		for (size_t k = len - 1; k > 0; k = from[k])
			src[--m] = (struct source){.dir = via[k]->n.rollup ? ru : c, .it = via[k]};
	}
	free(cost);
	free(from);
	free(via);
	return CB_OK;
}

static bool has_rollup(const struct chain_dir *ru, uint64_t first, uint64_t last)
{
	for (size_t i = 0; i < ru->n; i++)
		if (ru->items[i].has_meta && ru->items[i].m.seq_first == first &&
		    ru->items[i].m.seq_last == last)
			return true;
	return false;
}

/* Roll up items[first .. last] of c into ru. */
static enum result make_rollup(struct chain_dir *c, struct chain_dir *ru, size_t first,
			       size_t last, const struct compact_opts *o,
			       struct compact_result *res, struct error *err)
{
	struct source *src = calloc(last - first + 1, sizeof(*src));
	struct incr_meta m;
	uint64_t bytes = 0;
	size_t n = 0;
	enum result r;
	if (!src)
		return error_nomem(err);
	if (!merged_meta(c, first, last, true, &m))
		r = error_set(err, CB_ERR_INTERNAL, "cannot name a roll-up");
	else if (!(r = cover(c, ru, first, last, src, &n, &bytes, err)) &&
		 !(r = fs_mkdirs(ru->path, 0700, err)))
		r = write_merged(src, n, ru, o, &m, err);
	free(src);
	if (r)
		return r;
	struct item *grown = realloc(ru->items, (ru->n + 1) * sizeof(*grown));
	if (!grown)
		return error_nomem(err);
	ru->items = grown;
	struct item *it = &ru->items[ru->n++];
	memset(it, 0, sizeof(*it));
	if (!incr_name_parse(m.name, &it->n))
		return error_set(err, CB_ERR_INTERNAL, "roll-up %s does not parse", m.name);
	snprintf(it->file, sizeof(it->file), "%s", fs_basename(m.name));
	it->has_data = it->has_meta = true;
	it->m = m;
	res->rolled++;
	log_debug("compact", "%s: rolled up increments %llu-%llu into %s (%llu -> %lld bytes)",
		  c->stem, (unsigned long long)m.seq_first, (unsigned long long)m.seq_last,
		  it->file, (unsigned long long)bytes, (long long)m.compressed_size);
	return CB_OK;
}

/* Drop the roll-ups that no longer lead anywhere, and roll up each
 * window of wall time that has ended and has more than one increment in
 * it (those that fine compaction merges anyway excepted). */
static enum result rollups_update(struct chain_dir *c, struct chain_dir *ru,
				  const struct compact_opts *o, struct compact_result *res,
				  struct error *err)
{
	enum result r = CB_OK;
	size_t kept = 0;
	for (size_t i = 0; i < ru->n && !r; i++) {
		if (rollup_valid(c, &ru->items[i])) {
			ru->items[kept++] = ru->items[i];
			continue;
		}
		if (!(r = remove_item(ru, &ru->items[i], err)))
			res->dropped++;
	}
	ru->n = kept;
	for (size_t w = 0; w < N_WINDOWS && !r; w++) {
		int64_t win = rollup_window[w];
		for (size_t i = 0, j; i < c->n && !r; i = j) {
			int64_t id = c->items[i].n.last / win;
			for (j = i + 1; j < c->n && c->items[j].n.last / win == id &&
					c->items[j].n.seq_first == c->items[j - 1].n.seq_last + 1;
			     j++)
				;
			/* Ended (a later increment exists), more than one, not what
			 * fine compaction makes of it, and not there yet. */
			int64_t age = o->now - c->items[j - 1].n.last;
			if (j == c->n || j - i < 2 ||
			    (win <= 60 && age >= COMPACT_KEEP_FINE) ||
			    (win <= 3600 && age >= COMPACT_MINUTES) ||
			    has_rollup(ru, c->items[i].m.seq_first, c->items[j - 1].m.seq_last) ||
			    !clean_run(c, i, j - i) || !prev_there(c, &c->items[i].m))
				continue;
			r = make_rollup(c, ru, i, j - 1, o, res, err);
		}
	}
	return r;
}

/* What a restore of the chain's newest state reads: its cheapest way
 * through, roll-ups and all (increments with no usable metadata count as
 * nothing). */
static enum result chain_bytes(const struct chain_dir *c, const struct chain_dir *ru,
			       uint64_t *bytes, struct error *err)
{
	*bytes = 0;
	return c->n ? cover(c, ru, 0, c->n - 1, NULL, NULL, bytes, err) : CB_OK;
}

static enum result compact_chain(struct chain_dir *c, struct chain_dir *ru,
				 const struct compact_opts *o, uint64_t *bytes,
				 struct compact_result *res, struct error *err)
{
	enum result r;
	if ((r = chain_read(c, err)) || (r = repair(c, o->dry_run, &res->repaired, err)))
		return r;
	chain_clear(c);
	if ((r = chain_read(c, err)) || (r = chain_read(ru, err)))
		return r;
	/* A sealed chain's pages are for an identity the agent does not hold:
	 * it is neither merged nor rolled up, only measured. */
	bool sealed = false;
	for (size_t i = 0; i < c->n; i++)
		sealed |= c->items[i].sealed;
	if (sealed)
		return chain_bytes(c, ru, bytes, err);
	size_t total = 0;
	if (c->n >= 3) {
		struct incr_name *names = malloc(c->n * sizeof(*names));
		if (!names)
			return error_nomem(err);
		for (size_t i = 0; i < c->n; i++)
			names[i] = c->items[i].n;
		/* The chain's newest increment stays as cut: the agent continues
		 * from it by name. */
		size_t protect = c->n - 1;
		total = compact_plan(names, c->n, o->now, &protect, NULL, 0);
		struct compact_group *groups = total ? calloc(total, sizeof(*groups)) : NULL;
		if (total && !groups)
			r = error_nomem(err);
		else
			compact_plan(names, c->n, o->now, &protect, groups, total);
		free(names);
		/* Oldest first: a merge relinks the item after it (in memory
		 * too), so the next merge starts from the right predecessor. */
		for (size_t k = 0; k < total && !r; k++) {
			if (o->dry_run) {
				res->merged += groups[k].count;
				res->made++;
				continue;
			}
			r = merge(c, ru, groups[k].first, groups[k].count, o, res, err);
		}
		free(groups);
	}
	if (!r && total && !o->dry_run) {
		chain_clear(c);
		chain_clear(ru);
		if (!(r = chain_read(c, err)))
			r = chain_read(ru, err);
	}
	if (!r && !o->dry_run)
		r = rollups_update(c, ru, o, res, err);
	if (!r)
		r = chain_bytes(c, ru, bytes, err);
	if (!o->dry_run && ru->n == 0)
		rmdir(ru->path);   /* when empty: the chain's folder can go with its last file */
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
		struct chain_dir ru = {.rollups = true};
		snprintf(ru.stem, sizeof(ru.stem), "%s", de->d_name);
		if (asprintf(&ru.path, "%s/%s", c.path, INCR_ROLLUP_DIR) < 0) {
			free(c.path);
			r = error_nomem(err);
			break;
		}
		fs_remove_dead_temps(c.path);
		fs_remove_dead_temps(ru.path);
		uint64_t bytes = 0;
		r = compact_chain(&c, &ru, o, &bytes, res, err);
		chain_clear(&ru);
		free(ru.path);
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
