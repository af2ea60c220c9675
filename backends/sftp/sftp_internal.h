/*
 * The SFTP backend's insides, shared by its files and its unit tests:
 *
 *   sftp.c             the config map and its struct sftp_settings,
 *                      open/close, the ops table
 *   sftp_conn.c        connections and requests (sftp_perform), and the
 *                      known_hosts lines staged for libcurl
 *   sftp_files.c       single files and the remote directory: stat, quote
 *                      commands, get, remove, remove_stale
 *   sftp_list.c        listings: a walk of the directories below a prefix
 *   sftp_put.c         the streaming upload, through a temp file
 *   sftp_fail.c        what a failed request means, and its error line
 *
 * and pure string work, no network, each checked by tests/unit/sftp:
 *
 *   sftp_url.c         the url setting, remote URLs and paths, quote commands
 *   sftp_list_parse.c  the listing lines libcurl hands back
 *   sftp_keys.c        host key fingerprints and key files
 *   sftp_knownhosts.c  the known_hosts lines for one server
 */
#ifndef CBSYNC_SFTP_INTERNAL_H
#define CBSYNC_SFTP_INTERNAL_H

#include "backends/backend.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <sys/types.h>
#include <time.h>
#include <stddef.h>
#include <stdint.h>

/* ---- sftp_url.c ---------------------------------------------------------- */

/* A parsed url = sftp://user@host:port/path. */
struct sftp_url {
	char *user;          /* decoded */
	char *host;          /* as libcurl wants it in a URL ("[::1]" for IPv6) */
	char *host_plain;    /* without brackets, for messages and known_hosts */
	long port;           /* 22 unless given */
	bool home_relative;  /* the path was /~ or /~/...: relative to the login directory */
	char *root;          /* decoded root directory, no trailing "/": "/srv/backups", "/",
			      * or (home_relative) "backups" or "" for the home itself */
	char *base;          /* "sftp://host:port" plus the encoded root, no trailing "/" */
};

/* Parse and check url; on failure fills err (CB_ERR_CONFIG) and leaves out empty. */
enum result sftp_url_parse(const char *url, struct sftp_url *out, struct error *err);
void sftp_url_free(struct sftp_url *u);

/* The URL of rel (a key or a directory under the root, "" for the root);
 * with dir set it ends in "/" (libcurl lists a URL that does).  NULL: no memory. */
char *sftp_url_of(const struct sftp_url *u, const char *rel, bool dir);

/* The decoded path of rel on the server, as quote commands and messages use
 * it: "/srv/backups/a/b", or "backups/a/b" relative to the login directory
 * ("." for the home itself).  NULL: no memory. */
char *sftp_path_of(const struct sftp_url *u, const char *rel);

/* One libcurl SFTP quote command: cmd "path1" ["path2"], paths quoted and
 * escaped the way libcurl unquotes them.  NULL: no memory. */
char *sftp_quote_cmd(const char *cmd, const char *path1, const char *path2);

/* path with a leading "~/" replaced by $HOME; a newly allocated copy. */
char *sftp_expand_home(const char *path);

/* ---- sftp_list_parse.c --------------------------------------------------- */

/* One entry of a directory listing line (the server's "ls -l" style long
 * name, which libcurl passes through): name points into the line. */
struct sftp_entry {
	const char *name;
	size_t name_len;
	char type;           /* '-' file, 'd' directory, 'l' link, other: the mode's first letter */
	uint64_t size;
	int64_t mtime;       /* minute resolution; the date read as UTC */
};

/* Parse one listing line (no newline).  now (epoch seconds) places dates
 * without a year, as ls does: the most recent such date not in the future.
 * The name is everything after the one blank that follows the date, byte
 * for byte (blanks, control characters and all; empty when the name starts
 * with a newline).  False if the line is not in the expected form. */
bool sftp_parse_list_line(const char *line, int64_t now, struct sftp_entry *e);

/* A listing line longer than this is no entry cbsync can use (keys are at
 * most 1024 bytes); it is skipped, and so is a name longer than this. */
#define SFTP_MAX_LIST_LINE (64 * 1024)

typedef enum result (*sftp_entry_fn)(void *ctx, const struct sftp_entry *e, struct error *err);

/* Reads one directory listing as libcurl hands it over: each entry's long
 * name followed by "\n".  A file name may itself hold "\n", so a line is
 * known to be a whole entry only once the next line starts an entry of its
 * own (or the listing ends); the lines in between are the rest of the last
 * entry's name (or of a link's target), joined to it with "\n".  An entry
 * with an overlong line in it is skipped.  So no name, however odd, makes a
 * listing fail, and fn sees every entry with its whole name -- unless a
 * name holds a newline followed by a whole forged long name, which reads as
 * two entries.  Only a first line that is not an entry at all (a server
 * whose long names this cannot read) is an error. */
struct sftp_list_reader {
	int64_t now;
	sftp_entry_fn fn;
	void *ctx;
	char *line;                 /* the line being read (SFTP_MAX_LIST_LINE bytes) */
	size_t line_len;
	bool overlong;              /* ... is too long: the rest of it is dropped */
	char *held;                 /* the last entry's line, not yet known whole */
	struct sftp_entry held_entry;
	bool holding;
	char *joined;               /* its name and the lines that continue it */
	size_t joined_len;
	bool joining;
	bool held_broken;           /* too long somewhere: it is skipped */
	bool started;               /* the listing's first line has been read */
	size_t skipped;             /* entries left out */
};

/* On failure (no memory) r is left empty and sftp_list_reader_free is safe. */
enum result sftp_list_reader_init(struct sftp_list_reader *r, int64_t now, sftp_entry_fn fn,
				  void *ctx, struct error *err);
/* Start a new listing with the same buffers. */
void sftp_list_reader_reset(struct sftp_list_reader *r);
/* Bytes of the listing, in any pieces; fn's error stops it. */
enum result sftp_list_reader_feed(struct sftp_list_reader *r, const char *data, size_t len,
				  struct error *err);
/* The listing is complete: the entries still held go to fn. */
enum result sftp_list_reader_end(struct sftp_list_reader *r, struct error *err);
void sftp_list_reader_free(struct sftp_list_reader *r);

/* ---- sftp_keys.c --------------------------------------------------------- */

/* Length of a SHA-256 fingerprint in unpadded base64. */
#define SFTP_FP_B64_LEN 43

/* Read a host key fingerprint as ssh-keygen -l prints it ("SHA256:" and
 * unpadded base64; the prefix and "=" padding are optional); out gets the
 * unpadded base64.  False if s is not a SHA-256 fingerprint. */
bool sftp_fingerprint_parse(const char *s, char out[SFTP_FP_B64_LEN + 1]);

/* "SHA256:<unpadded base64>" of a raw host key blob, or of a base64 one
 * (len 0, as in libcurl's struct curl_khkey). */
void sftp_fingerprint_of(const char *key, size_t len, char *out, size_t size);

/* The key type ("ssh-ed25519", "ssh-rsa", ...) of an OpenSSH public key
 * file or private key file (the OpenSSH format keeps the public half in
 * the clear; PEM files say RSA/EC in their header), or NULL if unknown.
 * Returns a static string.  With encrypted, also whether a private key
 * file needs a passphrase. */
const char *sftp_key_file_type(const char *path, bool *encrypted);

/* A human name for libcurl's host key type ("ED25519"). */
const char *sftp_khtype_name(int keytype);

/* ---- sftp_knownhosts.c --------------------------------------------------- */

/* The known_hosts lines that concern one server, for libcurl. */
struct sftp_kh {
	char *text;              /* "<host> <type> <base64>\n" lines, preferred types first */
	size_t n_lines;
	char **revoked;          /* base64 key blobs marked @revoked for the server */
	size_t n_revoked;
	bool rsa_only_skipped;   /* only RSA keys were known, and left out */
};

/* Select from known_hosts text the lines for host, as known_hosts names it
 * ("name" on port 22, "[name]:port" otherwise). */
enum result sftp_kh_select(const char *file, const char *host, struct sftp_kh *out,
			   struct error *err);
void sftp_kh_free(struct sftp_kh *kh);

/* Does a known_hosts host field (patterns, or one hashed name) name host? */
bool sftp_kh_host_matches(const char *field, size_t len, const char *host);

/* ---- the instance, and the files that talk to the server ----------------- */

/* What the host key callback saw on the last connection attempt. */
struct sftp_hostkey_seen {
	bool called;
	bool revoked;               /* the key is marked @revoked */
	int match;                  /* enum curl_khmatch */
	int keytype;                /* enum curl_khtype */
	char found[64];             /* "SHA256:..." of the server's key */
	char known[64];             /* ... and of the known_hosts entry it clashed with */
};

struct sftp;

/* One libcurl easy handle and what its callbacks report. */
struct sftp_conn {
	struct sftp *owner;
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	struct sftp_hostkey_seen hostkey;
	bool cleaning_up;           /* requests tidy up after a failure or a cancel:
				     * cancel_requested() must not stop them */
};

struct sftp {
	struct sftp_url url;
	char *where;                /* "host:port", for messages */
	char *private_key;
	char *public_key;
	char *passphrase;
	char *password;
	char *known_hosts;          /* the user's file */
	char *kh_host;              /* the server as known_hosts names it */
	struct sftp_kh kh;          /* its lines in that file ... */
	int kh_fd;                  /* ... in a memfd libcurl reads (-1: none) */
	char kh_proc[64];           /* "/proc/self/fd/N" of the memfd */
	const char *kh_path;        /* what libcurl is told to read: kh_proc, or the
				     * user's file if there can be no memfd */
	bool kh_loaded, kh_missing;
	struct timespec kh_mtime;   /* the file as last read */
	off_t kh_size;
	ino_t kh_ino;
	char pin[SFTP_FP_B64_LEN + 1]; /* host_key_sha256, "" when not pinned */
	long connect_timeout_ms;
	long timeout_s;
	bool create_dir;            /* create the remote directory with its parents */
	bool root_exists;           /* it was seen (or made) by this instance */
	struct sftp_conn conn;      /* reused, so the SSH session is too */
	bool conn_busy;             /* an unfinished put's thread is using conn */
	struct backend_stats stats;
};

/* One request through a connection. */
struct sftp_req {
	const char *url;
	bool nobody;                /* stat a file, or only run the quote commands */
	bool filetime;              /* ask for the file's mtime */
	const char *range;          /* "first-last" bytes to fetch, or NULL for all */
	bool upload;
	bool transfer;              /* a transfer of any size: a stall limit, not a total one */
	struct curl_slist *quote;
	curl_read_callback read;
	void *read_ctx;
	curl_write_callback write;
	void *write_ctx;
	bool (*replayable)(void *ctx); /* may the request run again after a stale connection? */
	void *replay_ctx;
	bool once;                  /* never run it again (a rename might have happened) */
	bool (*stopping)(void *ctx);   /* give up now (besides cancel_requested()) */
	void *stop_ctx;
};

/* sftp_conn.c: run one request (see struct sftp_req). */
CURLcode sftp_perform(struct sftp *s, struct sftp_conn *c, const struct sftp_req *r);

/* Before an operation, on the caller's thread: reread known_hosts if it
 * changed since the last time. */
enum result sftp_prepare(struct sftp *s, struct error *err);

/* A connection for one put: the instance's own, or a fresh one while
 * another put holds it. */
enum result sftp_conn_take(struct sftp *s, struct sftp_conn **out, struct error *err);
void sftp_conn_give(struct sftp *s, struct sftp_conn *c);

/* sftp_fail.c: what a failed libcurl call means for the caller (backend.h's
 * codes). */
enum result sftp_classify(CURLcode rc, const char *errbuf);

/* How known_hosts and ssh-keygen -R name the server: "host" on port 22,
 * else "[host]:port". */
void sftp_host_pattern(const struct sftp *s, char *out, size_t size);

/* Fill err for a failed request: "<what>: <why>", with the result code
 * sftp_classify gives (host key and login failures explained). */
enum result sftp_fail(struct sftp *s, struct sftp_conn *c, CURLcode rc, struct error *err,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---- sftp_files.c -------------------------------------------------------- */

/* Size (and mtime) of the file at rel; CB_ERR_NOT_FOUND if it is missing.
 * size is -1 when the server did not say (libcurl reports 0 that way). */
enum result sftp_stat(struct sftp *s, struct sftp_conn *c, const char *rel, int64_t *size,
		      int64_t *mtime, struct error *err);

/* Run quote commands (no transfer); once: see struct sftp_req. */
CURLcode sftp_quote_run(struct sftp *s, struct sftp_conn *c, struct curl_slist *cmds, bool once);

/* Before a put: the remote directory (url's path) must exist.  If it does
 * not, it is created when the directory above it exists -- only the last
 * level -- or with all its parents under create_dir = true; a missing parent
 * otherwise is most likely a typo in url, and refused (CB_ERR_REMOTE).
 * Asks the server once per instance at most. */
enum result sftp_ensure_root(struct sftp *s, struct sftp_conn *c, struct error *err);

/* Remove the file at rel (a missing file is fine). */
enum result sftp_unlink(struct sftp *s, struct sftp_conn *c, const char *rel, struct error *err);

/* The operations (backend.h). */
enum result sftp_get(void *ctx, const char *key, stream_write_fn sink, void *sink_ctx,
		     struct error *err);
enum result sftp_get_head(void *ctx, const char *key, size_t max, stream_write_fn sink,
			  void *sink_ctx, struct error *err);
enum result sftp_remove(void *ctx, const char *key, struct error *err);
enum result sftp_remove_stale(void *ctx, int64_t older_than, size_t *removed,
			      struct error *err);

/* ---- sftp_list.c, sftp_put.c --------------------------------------------- */

enum result sftp_list(void *ctx, const char *prefix, struct backend_listing *out,
		      struct error *err);

enum result sftp_put_begin(void *ctx, const char *key, const struct backend_put_info *info,
			   void **put, struct error *err);
/* ops->abort_upload: remove the temp file upload_id of a put of key. */
enum result sftp_abort_put(void *ctx, const char *key, const char *upload_id,
			   const struct abort_upload_opts *opts, struct error *err);
enum result sftp_put_write(void *put, const void *buf, size_t len, struct error *err);
enum result sftp_put_commit(void *put, struct error *err);
void sftp_put_abort(void *put);

#endif
