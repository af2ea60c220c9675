/*
 * The backend contract: how cbsync talks to a remote tier.
 *
 * A backend is one folder under backends/ that exports one
 * `const struct backend_ops` table; backends/registry.c lists the ones
 * compiled in (each has a CMake option).  Adding a backend is a new folder
 * and one line in the registry.  Its settings are a struct of its own,
 * described by its config map (backend_ops.keys) and filled, typed, by the
 * configuration: a backend parses no setting strings.
 *
 * A remote holds objects under keys relative to its root (the backend's
 * path, URL path or bucket prefix):
 *
 *   <name>.db.gz          the backup, byte for byte the local file
 *   <name>.db.gz.json     its metadata (see common/meta.h)
 *   increments/...        increments, each one object with its metadata
 *                         inside (agent/tiers/packed.h)
 *
 * so that a listing of the remote alone describes every backup.  Keys cbsync
 * writes use only [A-Za-z0-9._-] plus "/" between non-empty components, and
 * never "." or ".." components; backend_key_valid() checks this, and the
 * wrappers in backend.c refuse any other key before a backend sees it.
 *
 * Writing is open -> write... -> commit: the object becomes visible at commit
 * and only then, atomically (a temp name and a rename, or one PUT, or a
 * completed multipart upload).  abort removes every trace of an unfinished
 * put.  A reader never sees a partial object under its final key.
 *
 * A process killed in the middle of a put cannot abort it, so a put that
 * leaves something on the remote before its commit -- a temp file, a
 * multipart upload whose parts are billed -- says so first: put_begin's
 * info.started is called before the first byte goes to it, with its upload
 * id (or NULL just before a request that creates an upload the remote names
 * only in its answer, and then again with the name), and abort_upload
 * removes exactly that later, from another process.  backend_track_uploads
 * hands these ids to a caller that records them (agent/uploads.h);
 * remove_stale, which goes by age, stays the backstop for what nobody
 * recorded.
 *
 * Every operation returns an enum result:
 *   CB_OK
 *   CB_ERR_RETRY      worth retrying later: timeouts, connection refused or
 *                     reset, DNS failure, HTTP 5xx, 429, S3 SlowDown
 *   CB_ERR_REMOTE     retrying will not help: bad credentials, unknown or
 *                     changed host key, no such bucket, access denied
 *   CB_ERR_NOT_FOUND  the object (for get) does not exist
 *   CB_ERR_CORRUPT    the data did not verify (checksum, size)
 *   CB_ERR_CONFIG     the remote's settings cannot work (open only)
 *   CB_ERR_NOMEM, CB_ERR_IO (local I/O), CB_ERR_INTERRUPTED (cancel_requested())
 * and fills struct error with one line that says what failed on which remote
 * and object.  Backends never log errors; the layer that decides (retry, give
 * up) logs once.  Error lines and logs never contain secrets or URLs with
 * credentials.
 *
 * Backends are used from one thread at a time per instance; separate
 * instances (one per remote) run in parallel threads.
 *
 * A backend that needs a library set up for the whole process (libcurl,
 * libxml2) does so in its init and undoes it in its cleanup: a program
 * calls backend_global_init once, before it starts any thread or opens
 * any remote, and backend_global_cleanup once at the end, after the last
 * instance is closed and every other thread has ended.  Both walk every
 * compiled-in backend, whether or not a remote of its type is configured.
 * Libraries that several backends set up must count their set-ups (libcurl
 * does: each curl_global_init is matched by one curl_global_cleanup).
 */
#ifndef CBSYNC_BACKEND_H
#define CBSYNC_BACKEND_H

#include "common/hash.h"
#include "common/result.h"
#include "common/stream.h"
#include "conf/conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Optional abilities, in backend_ops.features. */
enum backend_feature {
	BACKEND_VERIFIES_SHA256 = 1u << 0, /* the remote checks a SHA-256 of what it receives */
	BACKEND_VERIFIES_MD5 = 1u << 1,    /* ... or an MD5 (Content-MD5, ETag) */
	BACKEND_MULTIPART = 1u << 2,       /* large objects go up in parts */
	BACKEND_STALE_UPLOADS = 1u << 3,   /* can find and remove unfinished uploads */
};

/* One object in a listing. */
struct backend_object {
	char *key;          /* relative to the remote's root */
	uint64_t size;
	int64_t mtime;      /* seconds since the epoch, 0 if unknown */
};

struct backend_listing {
	struct backend_object *items;
	size_t n;
	/* Filled by backend_list: objects left out because their key is not one
	 * cbsync could ever write (backend_key_valid) although the name looks
	 * like a backup's (it ends in .db.gz or .db.gz.json), and the first of
	 * them, escaped for printing. */
	size_t unsafe;
	char unsafe_example[96];
};

/* What the caller knows about an object it is uploading. */
struct backend_put_info {
	uint64_t size;              /* exact size */
	const char *sha256_hex;     /* SHA-256 of the whole object, or NULL */
	/* Optional.  Called on the caller's thread (from put_begin, put_write
	 * or put_commit) before the put first leaves something on the remote
	 * that would outlive a crash -- a temp file, a multipart upload -- with
	 * the id that abort_upload takes to remove it; with NULL first when the
	 * remote names the upload only in the answer to the request that
	 * creates it (then again, with the id, before any byte of the object is
	 * sent).  A put that leaves nothing before its commit (one PUT) never
	 * calls it.  The backend keeps the pointers for the life of the put. */
	void (*started)(void *ctx, const char *upload_id);
	void *started_ctx;
};

/* How abort_upload finds an upload whose id was never heard (started was
 * told NULL, and the process died before the answer came). */
struct abort_upload_opts {
	int64_t since;              /* it began at or after this (epoch seconds) */
	/* Called for each unfinished upload of the key: true spares it (a
	 * live run's), judged at that moment.  NULL: none is spared. */
	bool (*spare)(void *ctx, const char *upload_id);
	void *spare_ctx;
};


/* Request counters, for the benchmark and for metrics. */
struct backend_stats {
	uint64_t requests;   /* round trips to the remote (HTTP requests, SFTP sessions) */
	uint64_t bytes_up;
	uint64_t bytes_down;
};

/* Add the counters in mine to *out: what every backend's stats op does with
 * the backend_stats its instance keeps. */
void backend_stats_add(struct backend_stats *out, const struct backend_stats *mine);

struct backend_ops {
	const char *type;           /* the [remote] type = ... value: "local", "sftp", "s3" */
	const char *description;    /* one line, for `cbsync help backends` */
	/* The config map: each key's type, default, range and help, and the
	 * offset of its field in the backend's settings struct, which the
	 * configuration allocates (settings_size bytes), fills with typed
	 * values and frees (conf/conf.h, struct conf_key_spec). */
	const struct conf_key_spec *keys;
	size_t n_keys;
	size_t settings_size;
	unsigned features;          /* enum backend_feature bits */

	/* Required. */

	/* Build the backend's context from its validated [remote] section:
	 * its settings struct, remote->settings, holds every key's typed value
	 * (no value strings to parse), and conf_remote_check_ranges checks
	 * those with a range in the config map.  Keeps copies of what it keeps.
	 * Does not have to connect; on failure frees everything it built. */
	enum result (*open)(const struct conf_remote *remote, void **ctx, struct error *err);
	void (*close)(void *ctx);

	/* Every object whose key starts with prefix ("" for all), in any order,
	 * following pagination to the end.  Temp objects of unfinished puts are
	 * included (they start with ".cbsync-tmp-" or are invisible). */
	enum result (*list)(void *ctx, const char *prefix, struct backend_listing *out,
			    struct error *err);

	/* Start writing key; *put is the upload's handle. */
	enum result (*put_begin)(void *ctx, const char *key, const struct backend_put_info *info,
				 void **put, struct error *err);
	enum result (*put_write)(void *put, const void *buf, size_t len, struct error *err);
	/* Make the object visible under its key; frees put whatever the result
	 * (on failure nothing is visible and nothing is left behind). */
	enum result (*put_commit)(void *put, struct error *err);
	/* Drop an unfinished put and anything it wrote; frees put. */
	void (*put_abort)(void *put);

	/* Stream the object's bytes to sink.  CB_ERR_NOT_FOUND if missing. */
	enum result (*get)(void *ctx, const char *key, stream_write_fn sink, void *sink_ctx,
			   struct error *err);

	/* Stream the object's first max bytes (all of it when shorter) to
	 * sink: one ranged request, for a small header of a large object.
	 * CB_ERR_NOT_FOUND if missing. */
	enum result (*get_head)(void *ctx, const char *key, size_t max, stream_write_fn sink,
				void *sink_ctx, struct error *err);

	/* Remove the object; a missing object is not an error. */
	enum result (*remove)(void *ctx, const char *key, struct error *err);

	/* Optional (NULL when absent). */

	/* Remove what unfinished puts left behind that is older than
	 * older_than (epoch seconds): temp files, incomplete multipart uploads.
	 * Returns how many were removed in *removed. */
	enum result (*remove_stale)(void *ctx, int64_t older_than, size_t *removed,
				    struct error *err);

	/* Remove what an unfinished put of key left, named by the upload id it
	 * gave put_info.started (perhaps in a process since killed): abort that
	 * multipart upload, remove that temp file -- that and nothing else.  An
	 * id this backend never gives a put of key is refused (CB_ERR_USAGE,
	 * nothing touched); one that is gone already (finished, aborted,
	 * removed) is CB_OK.  With upload_id NULL (a backend that announced a
	 * put with NULL): every unfinished upload of exactly key that began at
	 * or after opts->since and that opts->spare does not spare.  Present in
	 * every backend whose puts call started. */
	enum result (*abort_upload)(void *ctx, const char *key, const char *upload_id,
				    const struct abort_upload_opts *opts, struct error *err);

	/* Add the instance's request counters to *out. */
	void (*stats)(void *ctx, struct backend_stats *out);

	/* Set up the libraries the backend uses, once per process, before any
	 * thread (see the top of this file); on failure undo what it did. */
	enum result (*init)(struct error *err);
	/* Undo init, once, at the end of the process. */
	void (*cleanup)(void);
};

/* Told of each put that leaves traces on the remote until it ends (see the
 * top of this file), by backend_put_file and backend_put_buffer. */
struct backend_upload_tracker {
	/* The put of key exists on the remote as upload_id, or is about to
	 * (NULL: not named yet; called again with the name); nothing of the
	 * object has been sent yet. */
	void (*started)(void *ctx, const char *key, const char *upload_id);
	/* ... and it is over: committed, or not (then its own abort may not
	 * have reached the remote: what it left is for backend_abort_upload). */
	void (*ended)(void *ctx, const char *key, bool committed);
	void *ctx;
};

/* Calls that reached the remote, by kind (a listing served from the cache
 * below is not one).  A backend may make several requests for one call (a
 * listing's pages, a multipart upload's parts): backend_stats counts those. */
struct backend_calls {
	uint64_t list;
	uint64_t put;
	uint64_t get;
	uint64_t remove;
};

struct backend_cache;

/* An open remote: its ops, context and name (for messages and logs). */
struct backend {
	const struct backend_ops *ops;
	void *ctx;
	char *name;
	const struct backend_upload_tracker *tracker; /* NULL: none */
	bool local_tier;     /* the backup directory (backends/local/local.h): its
			      * error lines name paths, not a remote */
	struct backend_calls calls;
	struct backend_cache *cache;  /* NULL: every listing asks the remote */
};

/*
 * The listing cache: what the remote holds, as this process knows it.
 *
 * An agent that lists a remote before every upload pays a LIST request per
 * object it ships (object stores bill them; on a busy database that is one
 * a second).  With the cache on, backend_list(b, "") asks the remote only
 * when the cache is empty -- at first use, after any call that failed (the
 * remote may have done part of it), and once it is older than max_age (to
 * catch changes made behind this process's back) -- and otherwise answers
 * from the last listing plus this process's own confirmed puts and removes.
 * A listing with a prefix, and everything but listing, always goes to the
 * remote.  Only this process's own calls keep it current: use it where one
 * process owns the remote's objects of this database (the agent's workers).
 */
/* Turn the cache on (max_age seconds, > 0); false if out of memory. */
bool backend_cache_enable(struct backend *b, double max_age);
/* Turn it off again (every listing asks). */
void backend_cache_disable(struct backend *b);
/* Forget the cached listing: the next backend_list asks the remote. */
void backend_cache_invalidate(struct backend *b);
/* When the cached listing was made (time_mono), or 0 when there is none. */
double backend_cache_listed_at(const struct backend *b);

/* True if key is one cbsync may write or read (see the top of this file). */
bool backend_key_valid(const char *key);

/* The compiled-in backends, in registry order. */
const struct backend_ops *const *backend_registry(size_t *n);
const struct backend_ops *backend_find(const char *type);

/* Call every compiled-in backend's init, in registry order; if one fails,
 * clean up those already set up and return its error.  Once per process,
 * before any thread (see the top of this file). */
enum result backend_global_init(struct error *err);
/* Call every compiled-in backend's cleanup, in reverse registry order. */
void backend_global_cleanup(void);

/* The conf_remote_type table for conf_load, built from the registry. */
const struct conf_remote_type *backend_remote_types(size_t *n);

/* Open the remote described by a validated [remote] section. */
enum result backend_open(const struct conf_remote *remote, struct backend **out,
			 struct error *err);
void backend_close(struct backend *b);

/* The operations, with keys checked first and error lines prefixed by the
 * remote's name ("remote 'offsite': ...").  backend_list also leaves out of
 * the listing every key backend_key_valid refuses -- a name with a space, a
 * newline or an escape sequence that someone else put there -- so that one
 * stray object can never stop a sync or reach a terminal; see
 * backend_listing.unsafe. */
enum result backend_list(struct backend *b, const char *prefix, struct backend_listing *out,
			 struct error *err);
void backend_listing_free(struct backend_listing *l);
enum result backend_get(struct backend *b, const char *key, stream_write_fn sink,
			void *sink_ctx, struct error *err);
enum result backend_remove(struct backend *b, const char *key, struct error *err);


/* A transformation of a file on its way up (encryption): the object is
 * what the filter makes of the file's bytes, not the bytes themselves. */
struct put_filter {
	/* The object's exact size for a file of file_size bytes. */
	uint64_t (*size)(void *ctx, uint64_t file_size);
	/* Start: what the filter writes goes to out (the put). */
	enum result (*open)(void *ctx, stream_write_fn out, void *out_ctx, struct error *err);
	/* The file's bytes, in order; then close, which writes the rest. */
	stream_write_fn write;
	enum result (*close)(void *ctx, struct error *err);
	/* The put is given up after open: stop writing to out, at once and for
	 * good (a filter that writes from another thread waits for it). */
	void (*abort)(void *ctx);
	void *ctx;
};

struct put_file_opts {
	const char *sha256_hex;       /* what the file must hash to, or NULL */
	const void *head;             /* head_len bytes sent before the file's, */
	size_t head_len;              /* outside sha256_hex's check (agent/tiers/packed.h) */
	const struct put_filter *filter;  /* NULL: the file's bytes as they are */
	stream_progress_fn progress;
	void *progress_ctx;
};

/* Upload a local file under key, streaming it through put_begin / put_write
 * / put_commit (abort on any failure or cancel_requested()).  With
 * opts->sha256_hex, a file that does not hash to it is never committed.
 * opts may be NULL. */
enum result backend_put_file(struct backend *b, const char *key, const char *path,
			     const struct put_file_opts *opts, struct error *err);

/* Upload a small buffer under key. */
enum result backend_put_buffer(struct backend *b, const char *key, const void *data,
			       size_t len, struct error *err);

/* Fetch a small object (at most max bytes) into a NUL-terminated buffer. */
enum result backend_get_buffer(struct backend *b, const char *key, size_t max, char **out,
			       size_t *len, struct error *err);

/* Fetch the first max bytes of an object (fewer if it is shorter) into a
 * NUL-terminated buffer, with ops->get_head.  A server that sends more
 * than max bytes for a ranged request is refused (CB_ERR_CORRUPT). */
enum result backend_get_head(struct backend *b, const char *key, size_t max, char **out,
			     size_t *len, struct error *err);

/* From now on tell t (NULL: nobody) of the puts backend_put_file and
 * backend_put_buffer make; t must outlive its use. */
void backend_track_uploads(struct backend *b, const struct backend_upload_tracker *t);

/* ops->abort_upload, with the key checked and the error line prefixed;
 * CB_ERR_USAGE if the backend has no such operation.  opts may be NULL
 * when upload_id is not. */
enum result backend_abort_upload(struct backend *b, const char *key, const char *upload_id,
				 const struct abort_upload_opts *opts, struct error *err);

/* Is tmp_key a temp name of a put of key, as the file-based backends give
 * their temp files: "<key's directory>/.cbsync-tmp-<key's name>.<suffix>"
 * with a suffix of letters and digits?  Such backends check an upload id
 * with it before they remove anything. */
bool backend_temp_key_of(const char *key, const char *tmp_key);

#endif
