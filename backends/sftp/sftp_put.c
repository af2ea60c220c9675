/*
 * SFTP puts: stream into a temp file beside the target, check its size,
 * rename it into place.
 *
 * Bridging the two styles.  cbsync pushes bytes (put_write(buf, len)),
 * libcurl pulls them (CURLOPT_READFUNCTION, called from inside
 * curl_easy_perform).  put_begin therefore starts a helper thread that runs
 * the upload; put_write copies into a 256 KiB ring buffer and waits while it
 * is full; the read callback takes from it and waits while it is empty;
 * put_commit marks the end (the read callback then returns 0) and joins the
 * thread.  Why a thread and a ring: memory stays at the ring plus libcurl's
 * own buffer whatever the object's size; the upload starts with the first
 * byte and overlaps with whatever produces the data (reading, hashing,
 * compressing); nothing is written to local disk twice, and the local tier
 * may be short of space.  The other ways out were worse: a local temp copy
 * doubles the disk I/O and needs space; libcurl's multi interface with
 * CURL_READFUNC_PAUSE avoids the thread but leans on pause/unpause of SFTP
 * uploads, far less exercised in libcurl 7.88 than a blocking read callback.
 * Only one thread touches the easy handle at a time: the helper during the
 * upload, the caller before and after (the join orders them).  The helper
 * blocks all signals, so they keep reaching the threads that expect them.
 *
 * Both sides wait with a timeout and look at cancel_requested(), so a
 * SIGTERM stops an upload whichever side is waiting (CB_ERR_INTERRUPTED).
 *
 * Commit: the temp file's size on the server must equal the bytes written;
 * then "rename tmp final".  SFTP v3 (OpenSSH) never renames over an
 * existing file, so when the final name exists (re-uploaded metadata, a
 * concurrent sync) the old one is removed and the rename tried again.
 * abort, and every failed commit, remove the temp file.  A crash cannot:
 * put_begin tells the caller the temp file's name (info.started) before the
 * upload starts, and sftp_abort_put removes exactly that file later;
 * remove_stale catches anything older nobody recorded.
 */
#include "backends/sftp/sftp_internal.h"
#include "common/cancel.h"
#include "common/fsutil.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define RING_SIZE (256 * 1024)
/* How often a waiting side looks at cancel_requested(). */
#define WAIT_SLICE_MS 200
/* Rounds of "remove what is in the way, rename" before giving up. */
#define RENAME_ROUNDS 3

struct sftp_put {
	struct sftp *s;
	struct sftp_conn *c;
	char *key;
	char *tmp_rel;           /* the temp file, relative to the root */
	char *tmp_path;          /* ... and as the server names it, for messages */
	char *tmp_url;
	uint64_t expected;       /* the size put_begin was told */
	uint64_t written;        /* bytes put_write accepted */

	pthread_t thread;
	bool running;            /* thread started and not joined */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *ring;
	size_t head, count;      /* unsent bytes: ring[head], wrapping, count of them */
	bool eof;                /* commit: no more bytes will come */
	bool stop;               /* abort or cancel: the read callback fails the upload */
	bool done;               /* the transfer is over; rc says how */
	bool taken;              /* libcurl has read bytes: the request cannot be replayed */
	CURLcode rc;
};

static void wait_slice(struct sftp_put *p)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)WAIT_SLICE_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

/* libcurl wants bytes: hand over what the ring holds, waiting for some. */
static size_t ring_read(char *buf, size_t size, size_t nitems, void *ctx)
{
	struct sftp_put *p = ctx;
	size_t want = size * nitems;
	pthread_mutex_lock(&p->mu);
	while (p->count == 0 && !p->eof && !p->stop) {
		wait_slice(p);
		if (cancel_requested())
			p->stop = true;
	}
	if (p->stop) {
		pthread_mutex_unlock(&p->mu);
		return CURL_READFUNC_ABORT;
	}
	size_t n = 0;
	while (n < want && p->count) {
		size_t chunk = RING_SIZE - p->head;
		if (chunk > p->count)
			chunk = p->count;
		if (chunk > want - n)
			chunk = want - n;
		memcpy(buf + n, p->ring + p->head, chunk);
		p->head = (p->head + chunk) % RING_SIZE;
		p->count -= chunk;
		n += chunk;
	}
	if (n)
		p->taken = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return n; /* 0 only at the end: eof and nothing left */
}

static bool upload_replayable(void *ctx)
{
	struct sftp_put *p = ctx;
	pthread_mutex_lock(&p->mu);
	bool ok = !p->taken;
	pthread_mutex_unlock(&p->mu);
	return ok;
}

/* abort does not wait for a slow connect or a stalled server. */
static bool upload_stopping(void *ctx)
{
	struct sftp_put *p = ctx;
	pthread_mutex_lock(&p->mu);
	bool stop = p->stop;
	pthread_mutex_unlock(&p->mu);
	return stop;
}

static void *upload_thread(void *arg)
{
	struct sftp_put *p = arg;
	struct sftp_req req = {.url = p->tmp_url, .upload = true, .transfer = true,
			       .read = ring_read, .read_ctx = p,
			       .replayable = upload_replayable, .replay_ctx = p,
			       .stopping = upload_stopping, .stop_ctx = p};
	CURLcode rc = sftp_perform(p->s, p->c, &req);
	pthread_mutex_lock(&p->mu);
	p->rc = rc;
	p->done = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Tell the thread how to end (eof or stop), and wait for it. */
static void finish_thread(struct sftp_put *p, bool stop)
{
	if (!p->running)
		return;
	pthread_mutex_lock(&p->mu);
	if (stop)
		p->stop = true;
	else
		p->eof = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	p->running = false;
	curl_off_t up = 0;
	curl_easy_getinfo(p->c->curl, CURLINFO_SIZE_UPLOAD_T, &up);
	if (up > 0)
		p->s->stats.bytes_up += (uint64_t)up;
}

/* Failures after which talking to the server again is pointless (or slow). */
static bool unreachable(CURLcode rc)
{
	return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
	       rc == CURLE_OPERATION_TIMEDOUT || rc == CURLE_PEER_FAILED_VERIFICATION ||
	       rc == CURLE_LOGIN_DENIED || rc == CURLE_FAILED_INIT;
}

static void put_free(struct sftp_put *p)
{
	if (!p)
		return;
	sftp_conn_give(p->s, p->c);
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->cv);
	free(p->ring);
	free(p->key);
	free(p->tmp_rel);
	free(p->tmp_path);
	free(p->tmp_url);
	free(p);
}

/* Remove the temp file, if the server can still be asked. */
static void drop_temp(struct sftp_put *p)
{
	if (p->done && unreachable(p->rc))
		return;
	struct error ignored = {0};
	p->c->cleaning_up = true; /* also, and above all, after a cancel */
	sftp_unlink(p->s, p->c, p->tmp_rel, &ignored);
	p->c->cleaning_up = false;
}

/* ".cbsync-tmp-<name>.<16 hex digits>" beside key. */
static char *temp_key(const char *key)
{
	unsigned char rnd[8];
	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != (ssize_t)sizeof(rnd)) {
		/* No entropy yet (early boot): time and pid are unique enough
		 * for a temp name. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t v = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
			     ((uint64_t)getpid() << 40);
		memcpy(rnd, &v, sizeof(rnd));
	}
	char hex[2 * sizeof(rnd) + 1];
	hex_encode(rnd, sizeof(rnd), hex);
	const char *base = fs_basename(key);
	char *out = NULL;
	if (asprintf(&out, "%.*s%s%s.%s", (int)(base - key), key, FS_TMP_PREFIX, base, hex) < 0)
		return NULL;
	return out;
}

enum result sftp_put_begin(void *ctx, const char *key, const struct backend_put_info *info,
			   void **out, struct error *err)
{
	struct sftp *s = ctx;
	enum result r;
	struct sftp_put *p = calloc(1, sizeof(*p));
	if (!p)
		return error_nomem(err);
	p->s = s;
	p->expected = info ? info->size : 0;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (!(p->key = strdup(key)) || !(p->tmp_rel = temp_key(key)) ||
	    !(p->tmp_path = sftp_path_of(&s->url, p->tmp_rel)) ||
	    !(p->tmp_url = sftp_url_of(&s->url, p->tmp_rel, false)) ||
	    !(p->ring = malloc(RING_SIZE))) {
		r = error_nomem(err);
		goto fail;
	}
	if ((r = sftp_prepare(s, err)) || (r = sftp_conn_take(s, &p->c, err)) ||
	    (r = sftp_ensure_root(s, p->c, err)))
		goto fail;
	/* The temp file is created with the upload's first bytes: name it to
	 * the caller now, so that a crash from here on leaves nothing unnamed. */
	if (info && info->started)
		info->started(info->started_ctx, p->tmp_rel);
	/* The helper inherits a mask that blocks every signal. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int e = pthread_create(&p->thread, NULL, upload_thread, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e) {
		r = error_set(err, CB_ERR_NOMEM, "cannot start the upload thread: %s", strerror(e));
		goto fail;
	}
	p->running = true;
	s->stats.requests++;
	*out = p;
	return CB_OK;
fail:
	put_free(p);
	return r;
}

/* The upload thread is over before commit: say why. */
static enum result early_end(struct sftp_put *p, struct error *err)
{
	if (p->stop)
		return error_set(err, CB_ERR_INTERRUPTED, "upload of '%s' interrupted", p->key);
	if (p->rc == CURLE_OK)
		return error_set(err, CB_ERR_INTERNAL, "upload of '%s' ended early", p->key);
	/* Host key, login, connect: the temp file's name would only be noise. */
	if (unreachable(p->rc))
		return sftp_fail(p->s, p->c, p->rc, err, "cannot upload '%s'", p->key);
	return sftp_fail(p->s, p->c, p->rc, err, "cannot upload '%s' to '%s'", p->key,
			 p->tmp_path);
}

enum result sftp_put_write(void *put, const void *buf, size_t len, struct error *err)
{
	struct sftp_put *p = put;
	const unsigned char *src = buf;
	size_t left = len;
	enum result r = CB_OK;
	pthread_mutex_lock(&p->mu);
	while (left) {
		while (p->count == RING_SIZE && !p->done && !p->stop) {
			wait_slice(p);
			if (cancel_requested()) {
				p->stop = true;
				pthread_cond_broadcast(&p->cv);
			}
		}
		if (p->done || p->stop) {
			r = early_end(p, err);
			break;
		}
		size_t tail = (p->head + p->count) % RING_SIZE;
		size_t n = RING_SIZE - p->count;
		if (n > RING_SIZE - tail)
			n = RING_SIZE - tail;
		if (n > left)
			n = left;
		memcpy(p->ring + tail, src, n);
		p->count += n;
		src += n;
		left -= n;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
	p->written += len - left;
	return r;
}

/* One request: rename tmp to final, after removing final when rm_first. */
static CURLcode rename_once(struct sftp_put *p, const char *tmp, const char *final, bool rm_first)
{
	char *rm = rm_first ? sftp_quote_cmd("*rm", final, NULL) : NULL;
	char *mv = sftp_quote_cmd("rename", tmp, final);
	struct curl_slist *q = NULL, *t;
	CURLcode rc = CURLE_OUT_OF_MEMORY;
	if (mv && (!rm_first || rm)) {
		/* "*": a missing file to remove is fine (another writer may have
		 * renamed or removed it meanwhile). */
		if (rm_first && (t = curl_slist_append(q, rm)))
			q = t;
		if ((!rm_first || q) && (t = curl_slist_append(q, mv))) {
			q = t;
			/* Not replayed: had a rename happened before the session
			 * dropped, "rm final" would then delete it. */
			rc = sftp_quote_run(p->s, p->c, q, true);
		}
	}
	curl_slist_free_all(q);
	free(rm);
	free(mv);
	return rc;
}

static enum result rename_into_place(struct sftp_put *p, struct error *err)
{
	char *final = sftp_path_of(&p->s->url, p->key);
	if (!final)
		return error_nomem(err);
	enum result r = CB_OK;
	bool rm_first = false;
	for (int round = 0;; round++) {
		CURLcode rc = rename_once(p, p->tmp_path, final, rm_first);
		if (rc == CURLE_OK)
			break;
		r = sftp_fail(p->s, p->c, rc, err, "cannot rename '%s' to '%s'", p->tmp_path, final);
		if (rc != CURLE_QUOTE_ERROR || round + 1 == RENAME_ROUNDS)
			break;
		/* SFTP v3 renames never replace: is the final name taken? */
		struct error e = {0};
		int64_t size;
		enum result sr = sftp_stat(p->s, p->c, p->key, &size, NULL, &e);
		if (sr == CB_ERR_NOT_FOUND && rm_first)
			continue; /* someone removed it meanwhile: plain rename again */
		if (sr)
			break;   /* not in the way: the rename failed for its own reason */
		rm_first = true;
		r = CB_OK;
	}
	free(final);
	return r;
}

enum result sftp_put_commit(void *put, struct error *err)
{
	struct sftp_put *p = put;
	enum result r = CB_OK;
	finish_thread(p, false);
	if (p->stop || p->rc) {
		r = early_end(p, err);
		goto fail;
	}
	if (p->written != p->expected) {
		r = error_set(err, CB_ERR_CORRUPT,
			      "upload of '%s' got %llu bytes but was announced as %llu; not stored",
			      p->key, (unsigned long long)p->written,
			      (unsigned long long)p->expected);
		goto fail;
	}
	/* What arrived must be what was sent before the name is taken.
	 * libcurl reports an empty file's size as unknown (-1). */
	int64_t size = -1;
	if ((r = sftp_stat(p->s, p->c, p->tmp_rel, &size, NULL, err)))
		goto fail;
	if (size >= 0 ? (uint64_t)size != p->written : p->written != 0) {
		r = error_set(err, CB_ERR_CORRUPT,
			      "'%s' on %s holds %lld bytes after the upload of %llu; not renamed "
			      "into place",
			      p->tmp_path, p->s->where, (long long)size,
			      (unsigned long long)p->written);
		goto fail;
	}
	if ((r = rename_into_place(p, err)))
		goto fail;
	put_free(p);
	return CB_OK;
fail:
	drop_temp(p);
	put_free(p);
	return r;
}

enum result sftp_abort_put(void *ctx, const char *key, const char *upload_id,
			   const struct abort_upload_opts *opts, struct error *err)
{
	struct sftp *s = ctx;
	struct sftp_conn *c = NULL;
	(void)opts;     /* temp files are always named */
	if (!upload_id || !backend_temp_key_of(key, upload_id))
		return error_set(err, CB_ERR_USAGE,
				 "refusing to remove '%s': not a temp file of an upload of '%s'",
				 upload_id ? upload_id : "(unnamed)", key);
	enum result r = sftp_prepare(s, err);
	if (r || (r = sftp_conn_take(s, &c, err)))
		return r;
	r = sftp_unlink(s, c, upload_id, err);
	sftp_conn_give(s, c);
	return r;
}

void sftp_put_abort(void *put)
{
	struct sftp_put *p = put;
	if (!p)
		return;
	finish_thread(p, true);
	drop_temp(p);
	put_free(p);
}
