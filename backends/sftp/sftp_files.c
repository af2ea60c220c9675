/*
 * SFTP operations on single files and on the remote directory, each a
 * request or two: quote commands (mkdir, rm) run without a transfer, stat,
 * making sure the remote directory exists before a put, download (get),
 * remove, and remove_stale, which removes temp files of unfinished puts
 * once the server's exact times say they are old enough.
 */
#include "backends/sftp/sftp_internal.h"
#include "common/cancel.h"
#include "common/fsutil.h"

#include <stdlib.h>
#include <string.h>

CURLcode sftp_quote_run(struct sftp *s, struct sftp_conn *c, struct curl_slist *cmds, bool once)
{
	char *url = sftp_url_of(&s->url, "", true);
	if (!url)
		return CURLE_OUT_OF_MEMORY;
	/* A directory URL with no body: libcurl runs the commands and stops
	 * before opening anything, so a missing root does not matter. */
	struct sftp_req req = {.url = url, .nobody = true, .quote = cmds, .once = once};
	CURLcode rc = sftp_perform(s, c, &req);
	s->stats.requests++;
	free(url);
	return rc;
}

enum result sftp_stat(struct sftp *s, struct sftp_conn *c, const char *rel, int64_t *size,
		      int64_t *mtime, struct error *err)
{
	char *url = sftp_url_of(&s->url, rel, false);
	char *path = sftp_path_of(&s->url, rel);
	enum result r = CB_OK;
	if (!url || !path) {
		r = error_nomem(err);
		goto done;
	}
	struct sftp_req req = {.url = url, .nobody = true, .filetime = mtime != NULL};
	CURLcode rc = sftp_perform(s, c, &req);
	s->stats.requests++;
	if (rc) {
		r = sftp_fail(s, c, rc, err, "cannot look at '%s'", path);
		goto done;
	}
	curl_off_t len = -1, ft = -1;
	curl_easy_getinfo(c->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	if (mtime) {
		curl_easy_getinfo(c->curl, CURLINFO_FILETIME_T, &ft);
		*mtime = (int64_t)ft;
	}
	*size = (int64_t)len;
done:
	free(url);
	free(path);
	return r;
}

enum result sftp_ensure_root(struct sftp *s, struct sftp_conn *c, struct error *err)
{
	const char *root = s->url.root;
	/* The login directory and "/" are always there. */
	if (s->root_exists || s->create_dir || !*root || strcmp(root, "/") == 0)
		return CB_OK;
	char *path = sftp_path_of(&s->url, "");
	char *above = path ? fs_dirname(path) : NULL;
	char *cmd = path ? sftp_quote_cmd("mkdir", path, NULL) : NULL;
	struct curl_slist *q = cmd ? curl_slist_append(NULL, cmd) : NULL;
	enum result r = CB_OK;
	if (!q || !above) {
		r = error_nomem(err);
		goto done;
	}
	/* One request: it makes the last level, or says why not.  mkdir of an
	 * existing directory fails ("Failure"), which is fine here. */
	CURLcode rc = sftp_quote_run(s, c, q, false);
	if (rc == CURLE_QUOTE_ERROR && strstr(c->errbuf, "No such file")) {
		r = error_set(err, CB_ERR_REMOTE,
			      "remote directory '%s' does not exist on %s, and neither does '%s' "
			      "above it; HINT: check the path in url, or set create_dir = true to "
			      "create it with its parents",
			      path, s->where, above);
		goto done;
	}
	if (rc != CURLE_OK && rc != CURLE_QUOTE_ERROR) {
		r = sftp_fail(s, c, rc, err, "cannot look at '%s'", path);
		goto done;
	}
	/* Made now, or there already (or not makeable: the upload will say). */
	s->root_exists = true;
done:
	curl_slist_free_all(q);
	free(cmd);
	free(above);
	free(path);
	return r;
}

enum result sftp_unlink(struct sftp *s, struct sftp_conn *c, const char *rel, struct error *err)
{
	char *path = sftp_path_of(&s->url, rel);
	char *cmd = path ? sftp_quote_cmd("rm", path, NULL) : NULL;
	struct curl_slist *q = cmd ? curl_slist_append(NULL, cmd) : NULL;
	enum result r = CB_OK;
	if (!q) {
		r = error_nomem(err);
		goto done;
	}
	/* Removing twice is harmless: a dropped session may be retried. */
	CURLcode rc = sftp_quote_run(s, c, q, false);
	if (rc == CURLE_OK)
		goto done;
	r = sftp_fail(s, c, rc, err, "cannot remove '%s'", path);
	if (rc != CURLE_QUOTE_ERROR)
		goto done;
	/* Was it there at all?  Missing is not an error. */
	struct error again = {0};
	int64_t size;
	enum result sr = sftp_stat(s, c, rel, &size, NULL, &again);
	if (sr == CB_ERR_NOT_FOUND)
		r = CB_OK;
done:
	curl_slist_free_all(q);
	free(cmd);
	free(path);
	return r;
}

struct fetch {
	stream_write_fn sink;
	void *sink_ctx;
	struct error *err;
	enum result r;
	uint64_t n;
};

static size_t fetch_data(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct fetch *f = ctx;
	size_t len = size * nmemb;
	if ((f->r = f->sink(f->sink_ctx, data, len, f->err)))
		return 0;
	f->n += len;
	return len;
}

static bool fetch_replayable(void *ctx)
{
	struct fetch *f = ctx;
	return f->n == 0;
}

/* The object's bytes, or with range ("first-last") only those. */
static enum result get(struct sftp *s, const char *key, const char *range, stream_write_fn sink,
		       void *sink_ctx, struct error *err)
{
	struct sftp_conn *c = NULL;
	struct fetch f = {.sink = sink, .sink_ctx = sink_ctx, .err = err};
	char *url = sftp_url_of(&s->url, key, false);
	char *path = sftp_path_of(&s->url, key);
	enum result r = CB_OK;
	if (!url || !path) {
		r = error_nomem(err);
		goto done;
	}
	if ((r = sftp_prepare(s, err)) || (r = sftp_conn_take(s, &c, err)))
		goto done;
	struct sftp_req req = {.url = url, .transfer = true, .range = range,
			       .write = fetch_data, .write_ctx = &f,
			       .replayable = fetch_replayable, .replay_ctx = &f};
	CURLcode rc = sftp_perform(s, c, &req);
	s->stats.requests++;
	s->stats.bytes_down += f.n;
	if (f.r) {
		r = f.r; /* the sink said stop, and why */
	} else if (rc == CURLE_REMOTE_FILE_NOT_FOUND) {
		r = error_set(err, CB_ERR_NOT_FOUND, "no object '%s' ('%s' on %s)", key, path,
			      s->where);
	} else if (rc) {
		r = sftp_fail(s, c, rc, err, "cannot download '%s'", path);
	}
done:
	sftp_conn_give(s, c);
	free(url);
	free(path);
	return r;
}

enum result sftp_get(void *ctx, const char *key, stream_write_fn sink, void *sink_ctx,
		     struct error *err)
{
	return get(ctx, key, NULL, sink, sink_ctx, err);
}

enum result sftp_get_head(void *ctx, const char *key, size_t max, stream_write_fn sink,
			  void *sink_ctx, struct error *err)
{
	char range[48];
	snprintf(range, sizeof(range), "0-%zu", max ? max - 1 : 0);
	return get(ctx, key, range, sink, sink_ctx, err);
}

enum result sftp_remove(void *ctx, const char *key, struct error *err)
{
	struct sftp *s = ctx;
	struct sftp_conn *c = NULL;
	enum result r = sftp_prepare(s, err);
	if (r || (r = sftp_conn_take(s, &c, err)))
		return r;
	r = sftp_unlink(s, c, key, err);
	sftp_conn_give(s, c);
	return r;
}

enum result sftp_remove_stale(void *ctx, int64_t older_than, size_t *removed,
			      struct error *err)
{
	struct sftp *s = ctx;
	struct backend_listing all = {0};
	struct sftp_conn *c = NULL;
	*removed = 0;
	enum result r = sftp_list(ctx, "", &all, err);
	if (r)
		return r;
	if ((r = sftp_conn_take(s, &c, err)))
		goto done;
	for (size_t i = 0; i < all.n && !r; i++) {
		const char *base = fs_basename(all.items[i].key);
		/* The listing has every name (backend_list would drop the odd
		 * ones); a temp file of ours has a name that is a key. */
		if (strncmp(base, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) != 0 ||
		    !backend_key_valid(all.items[i].key))
			continue;
		if (cancel_requested()) {
			r = error_set(err, CB_ERR_INTERRUPTED, "interrupted");
			break;
		}
		/* The listing's dates are to the minute and in the server's
		 * time zone: ask for the exact time before deleting. */
		int64_t size, mtime = -1;
		struct error e = {0};
		enum result sr = sftp_stat(s, c, all.items[i].key, &size, &mtime, &e);
		if (sr == CB_ERR_NOT_FOUND)
			continue;
		if (sr) {
			*err = e;
			r = sr;
			break;
		}
		if (mtime < 0 || mtime >= older_than)
			continue;
		if ((r = sftp_unlink(s, c, all.items[i].key, err)))
			break;
		(*removed)++;
	}
done:
	sftp_conn_give(s, c);
	backend_listing_free(&all);
	return r;
}
