/*
 * SFTP listings: walk the directories below a prefix, one request each.
 *
 * libcurl lists a URL that ends in "/" by handing over the server's long
 * names, one "ls -l" style line per entry ("-rw-------  1 u g  1234 Nov 26
 * 08:34 name"), which sftp_parse_list_line reads: the size exactly, the
 * time to the minute (read as UTC; remove_stale asks for exact times before
 * it deletes anything).  The walk starts at the deepest directory the
 * prefix names in full and descends only where keys can still start with
 * the prefix; a missing root is an empty remote.  Temp files of unfinished
 * puts are listed like any file; links and other special files are not.
 *
 * Names are whatever other people put in the directory.  A name with a
 * newline spans several lines, which struct sftp_list_reader puts back
 * together; no name makes the listing fail.  Files are listed under their
 * names as they are, odd ones included: backend_list drops (and counts)
 * every key cbsync could never write.  Directories whose names are no key
 * are not walked.  (A name that holds a newline followed by a whole forged
 * long name would show an entry that is not there -- but whoever can name
 * files there can create that file as well.)
 */
#include "backends/sftp/sftp_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Directory depth a listing follows, as the local backend does. */
#define MAX_DEPTH 16

struct walk {
	struct sftp *s;
	const char *prefix;
	struct backend_listing *out;
	size_t cap;
	char **todo;             /* directories still to list (relative keys) */
	size_t n_todo, cap_todo;
	const char *dir;         /* the directory being listed */
	struct sftp_list_reader reader;
	bool got_bytes;
	enum result r;
	struct error *err;
};

static bool push(char ***v, size_t *n, size_t *cap, char *s)
{
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		char **nv = realloc(*v, ncap * sizeof(**v));
		if (!nv)
			return false;
		*v = nv;
		*cap = ncap;
	}
	(*v)[(*n)++] = s;
	return true;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static enum result walk_entry(void *ctx, const struct sftp_entry *e, struct error *err)
{
	struct walk *w = ctx;
	if ((e->name_len == 1 && e->name[0] == '.') ||
	    (e->name_len == 2 && e->name[0] == '.' && e->name[1] == '.'))
		return CB_OK;
	char *key = NULL;
	if (asprintf(&key, "%s%s%.*s", w->dir, *w->dir ? "/" : "", (int)e->name_len, e->name) < 0)
		return error_nomem(err);
	/* A name with a NUL in it, which %.*s cut short: not the name. */
	if (strlen(key) != strlen(w->dir) + (*w->dir ? 1 : 0) + e->name_len) {
		free(key);
		return CB_OK;
	}
	if (e->type == 'd') {
		/* Below a directory no key can name, no key can be either. */
		if (!backend_key_valid(key)) {
			free(key);
			return CB_OK;
		}
		/* Worth walking if keys below it can start with the prefix. */
		size_t kl = strlen(key);
		bool inside = strncmp(key, w->prefix, kl) == 0 && w->prefix[kl] == '/';
		bool below = starts_with(key, w->prefix);
		int depth = 0;
		for (const char *p = key; *p; p++)
			depth += *p == '/';
		if ((inside || below) && depth < MAX_DEPTH) {
			if (!push(&w->todo, &w->n_todo, &w->cap_todo, key)) {
				free(key);
				return error_nomem(err);
			}
			return CB_OK;
		}
		free(key);
		return CB_OK;
	}
	/* Links and other oddities are not objects cbsync wrote. */
	if (e->type != '-' || !starts_with(key, w->prefix)) {
		free(key);
		return CB_OK;
	}
	if (w->out->n == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 64;
		struct backend_object *ni = realloc(w->out->items, ncap * sizeof(*ni));
		if (!ni) {
			free(key);
			return error_nomem(err);
		}
		w->out->items = ni;
		w->cap = ncap;
	}
	w->out->items[w->out->n++] = (struct backend_object){
		.key = key, .size = e->size, .mtime = e->mtime};
	return CB_OK;
}

/* Name the directory and server in a reader's error. */
static enum result walk_failed(struct walk *w, enum result r)
{
	if (r == CB_ERR_REMOTE)
		error_prefix(w->err, "cannot read the server's listing of '%s' on %s",
			     *w->dir ? w->dir : ".", w->s->where);
	return r;
}

/* libcurl hands the listing over in pieces. */
static size_t walk_data(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct walk *w = ctx;
	size_t len = size * nmemb;
	w->got_bytes = true;
	if ((w->r = sftp_list_reader_feed(&w->reader, data, len, w->err))) {
		walk_failed(w, w->r);
		return 0;
	}
	return len;
}

static bool walk_replayable(void *ctx)
{
	struct walk *w = ctx;
	return !w->got_bytes;
}

static enum result list_dir(struct walk *w, struct sftp_conn *c, const char *dir)
{
	char *url = sftp_url_of(&w->s->url, dir, true);
	if (!url)
		return error_nomem(w->err);
	w->dir = dir;
	sftp_list_reader_reset(&w->reader);
	w->got_bytes = false;
	w->r = CB_OK;
	struct sftp_req req = {.url = url, .transfer = true, .write = walk_data, .write_ctx = w,
			       .replayable = walk_replayable, .replay_ctx = w};
	CURLcode rc = sftp_perform(w->s, c, &req);
	w->s->stats.requests++;
	free(url);
	enum result r = w->r;
	if (rc == CURLE_OK && !r)
		r = walk_failed(w, sftp_list_reader_end(&w->reader, w->err));
	if (r)
		return r;
	/* A missing root is an empty remote; a subdirectory may have gone. */
	if (rc == CURLE_REMOTE_FILE_NOT_FOUND)
		return CB_OK;
	if (rc == CURLE_OK && !*dir)
		w->s->root_exists = true;  /* no need to look again before a put */
	if (rc) {
		char *path = sftp_path_of(&w->s->url, dir);
		r = sftp_fail(w->s, c, rc, w->err, "cannot list '%s'", path ? path : dir);
		free(path);
	}
	return r;
}

enum result sftp_list(void *ctx, const char *prefix, struct backend_listing *out,
		      struct error *err)
{
	struct sftp *s = ctx;
	struct sftp_conn *c = NULL;
	struct walk w = {.s = s, .prefix = prefix, .out = out, .err = err};
	out->items = NULL;
	out->n = 0;
	enum result r = sftp_prepare(s, err);
	if (r || (r = sftp_conn_take(s, &c, err)))
		return r;
	if ((r = sftp_list_reader_init(&w.reader, (int64_t)time(NULL), walk_entry, &w, err)))
		goto done;
	/* Start at the deepest directory the prefix names in full. */
	const char *slash = strrchr(prefix, '/');
	char *start = strndup(prefix, slash ? (size_t)(slash - prefix) : 0);
	if (!start || !push(&w.todo, &w.n_todo, &w.cap_todo, start)) {
		free(start);
		r = error_nomem(err);
		goto done;
	}
	while (w.n_todo && !r) {
		char *dir = w.todo[--w.n_todo];
		r = list_dir(&w, c, dir);
		free(dir);
	}
done:
	for (size_t i = 0; i < w.n_todo; i++)
		free(w.todo[i]);
	free(w.todo);
	sftp_list_reader_free(&w.reader);
	sftp_conn_give(s, c);
	if (r)
		backend_listing_free(out);
	return r;
}
