/*
 * The SFTP backend (type = sftp): a directory on an SSH server, reached
 * through libcurl's SFTP support (libssh2 underneath).
 *
 * Objects are files under the url's path; a key's "/" parts are
 * subdirectories, created as needed (0700; files are 0600).  The url's
 * directory itself must exist, or the one above it (then only the last
 * level is created), unless create_dir = true: a typo in a path must not
 * grow a tree of directories and fill it with backups nobody will find.
 * A put streams into ".cbsync-tmp-<name>.<random>" beside the target and
 * renames it into place at commit (sftp_put.c); a listing walks the
 * directories below the prefix (sftp_list.c); error lines are built in
 * sftp_fail.c, and the pure string work (URLs, paths, listing lines,
 * fingerprints) is in sftp_util.c.  Every request goes through one libcurl
 * easy handle per instance, reset between requests but keeping its
 * connection, so a sync logs in once and reuses the SSH session.  A request
 * that fails at once on a reused connection (the server dropped an idle
 * session) runs once more on a fresh one, when it has not moved any bytes
 * yet.
 *
 * The server's host key is always verified: against known_hosts (default
 * ~/.ssh/known_hosts; only an exact match passes, an unknown, changed or
 * revoked key is refused with a message saying which), or against a pinned
 * SHA-256 fingerprint (host_key_sha256).  There is no way to turn this off.
 * libcurl does not read the user's known_hosts itself but this server's
 * lines of it, selected the way OpenSSH would (sftp_knownhosts.c says why),
 * through a memfd that is refreshed when the file changes.
 *
 * Errors follow backend.h: unreachable, timed out or dropped is
 * CB_ERR_RETRY; refused login, host key or permission is CB_ERR_REMOTE.
 * Messages name the operation, the remote path and host:port, and never a
 * password (URLs here never carry credentials: the user name and password
 * go to libcurl separately).
 */
#include "backends/sftp/sftp_internal.h"
#include "common/cancel.h"
#include "common/fsutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* libcurl's buffers for one transfer: bounded, whatever the object's size. */
#define TRANSFER_BUFFER (256 * 1024)
/* The most a clean-up request (removing a temp file) may take. */
#define CLEANUP_TIMEOUT_MS 10000L

/* A remote's [remote] settings, typed: the configuration fills them from
 * the config map below (conf/conf.h, struct conf_key_spec). */
struct sftp_settings {
	char *url;
	char *private_key;
	char *public_key;
	char *private_key_passphrase;
	char *password;
	char *known_hosts;
	char *host_key_sha256;
	double connect_timeout;     /* seconds, 1ms .. 7d, checked at open */
	double timeout;
	bool create_dir;
};

#define TIMEOUT_RANGE(key) \
	.min = 0.001, .max = 86400.0 * 7, \
	.out_of_range = key " must be a duration between 1ms and 7d (e.g. 30s)"

#define KEY(t, field) CONF_MAP(t, struct sftp_settings, field)
static const struct conf_key_spec sftp_keys[] = {
	{.key = "url", KEY(URL, url), .required = true,
	 .description = "sftp://user@host[:port]/path: the server and the remote directory "
			"(sftp://user@host/~/path for one under the login directory); port 22 by "
			"default"},
	{.key = "private_key", KEY(PATH, private_key),
	 .description = "the SSH private key file to log in with (ed25519 or ECDSA: libssh2 1.10 "
			"signs with RSA keys the SHA-1 way OpenSSH 8.8 and later refuse)"},
	{.key = "public_key", KEY(PATH, public_key),
	 .description = "its public key file (optional: libssh2 derives it from the private key)"},
	{.key = "private_key_passphrase", KEY(STRING, private_key_passphrase), .secret = true,
	 .description = "the passphrase of an encrypted private key"},
	{.key = "password", KEY(STRING, password), .secret = true,
	 .description = "a login password, for servers that allow passwords"},
	{.key = "known_hosts", KEY(PATH, known_hosts), .default_value = "~/.ssh/known_hosts",
	 .description = "the OpenSSH known_hosts file that must hold the server's host key"},
	{.key = "host_key_sha256", KEY(STRING, host_key_sha256),
	 .description = "pin the server's host key instead of known_hosts: its fingerprint as "
			"`ssh-keygen -lf KEY.pub` prints it (SHA256:...)"},
	{.key = "connect_timeout", KEY(DURATION, connect_timeout), .default_value = "30s",
	 TIMEOUT_RANGE("connect_timeout"),
	 .description = "how long connecting and logging in may take"},
	{.key = "timeout", KEY(DURATION, timeout), .default_value = "2m", TIMEOUT_RANGE("timeout"),
	 .description = "how long a request may make no progress before it fails (and is retried "
			"later)"},
	{.key = "create_dir", KEY(BOOL, create_dir), .default_value = "false",
	 .description = "create the url's directory with any missing parents (off: only its last "
			"level is created, and only when the directory above it exists)"},
};

/* ---- connections and requests ---------------------------------------------- */

static int on_progress(void *ctx, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	const struct sftp_req *r = ctx;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (cancel_requested())
		return 1;
	return r->stopping && r->stopping(r->stop_ctx) ? 1 : 0;
}

/* Only a key that matches known_hosts (and is not revoked) passes;
 * remember what was seen, for the error message. */
static int on_hostkey(CURL *easy, const struct curl_khkey *known,
		      const struct curl_khkey *found, enum curl_khmatch match, void *ctx)
{
	struct sftp_conn *c = ctx;
	struct sftp_hostkey_seen *seen = &c->hostkey;
	(void)easy;
	seen->called = true;
	seen->match = (int)match;
	seen->keytype = found ? (int)found->keytype : CURLKHTYPE_UNKNOWN;
	seen->found[0] = seen->known[0] = '\0';
	if (found)
		sftp_fingerprint_of(found->key, found->len, seen->found, sizeof(seen->found));
	if (known && known->key)
		sftp_fingerprint_of(known->key, known->len, seen->known, sizeof(seen->known));
	const struct sftp_kh *kh = &c->owner->kh;
	for (size_t i = 0; found && i < kh->n_revoked; i++) {
		char fp[64];
		sftp_fingerprint_of(kh->revoked[i], 0, fp, sizeof(fp));
		if (strcmp(fp, seen->found) == 0)
			seen->revoked = true;
	}
	return match == CURLKHMATCH_OK && !seen->revoked ? CURLKHSTAT_FINE : CURLKHSTAT_REJECT;
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	(void)ptr;
	(void)ctx;
	return size * nmemb;
}

static void set_options(struct sftp *s, struct sftp_conn *c, const struct sftp_req *r)
{
	CURL *h = c->curl;
	curl_easy_setopt(h, CURLOPT_URL, r->url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "sftp");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_USERNAME, s->url.user);
	long auth = 0;
	if (s->private_key) {
		auth |= CURLSSH_AUTH_PUBLICKEY;
		curl_easy_setopt(h, CURLOPT_SSH_PRIVATE_KEYFILE, s->private_key);
		if (s->public_key)
			curl_easy_setopt(h, CURLOPT_SSH_PUBLIC_KEYFILE, s->public_key);
		if (s->passphrase)
			curl_easy_setopt(h, CURLOPT_KEYPASSWD, s->passphrase);
	}
	if (s->password) {
		auth |= CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD;
		curl_easy_setopt(h, CURLOPT_PASSWORD, s->password);
	}
	curl_easy_setopt(h, CURLOPT_SSH_AUTH_TYPES, auth);
	if (s->pin[0]) {
		/* libcurl then skips known_hosts altogether. */
		curl_easy_setopt(h, CURLOPT_SSH_HOST_PUBLIC_KEY_SHA256, s->pin);
	} else {
		/* Never unset: without it libcurl would check nothing. */
		curl_easy_setopt(h, CURLOPT_SSH_KNOWNHOSTS,
				 s->kh_path ? s->kh_path : s->known_hosts);
		curl_easy_setopt(h, CURLOPT_SSH_KEYFUNCTION, on_hostkey);
		curl_easy_setopt(h, CURLOPT_SSH_KEYDATA, c);
	}
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, s->connect_timeout_ms);
	if (r->transfer) {
		/* A large object takes as long as it takes; a stall does not. */
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, s->timeout_s);
	} else {
		long total = s->connect_timeout_ms + s->timeout_s * 1000;
		/* Tidying up must not hold up a shutdown for long. */
		if (c->cleaning_up && total > CLEANUP_TIMEOUT_MS)
			total = CLEANUP_TIMEOUT_MS;
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, total);
	}
	if (!c->cleaning_up) {
		curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)r);
	}
	curl_easy_setopt(h, CURLOPT_NEW_FILE_PERMS, 0600L);
	curl_easy_setopt(h, CURLOPT_NEW_DIRECTORY_PERMS, 0700L);
	if (r->nobody)
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	if (r->filetime)
		curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
	if (r->quote)
		curl_easy_setopt(h, CURLOPT_QUOTE, r->quote);
	if (r->upload) {
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, r->read);
		curl_easy_setopt(h, CURLOPT_READDATA, r->read_ctx);
		curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, (long)TRANSFER_BUFFER);
		curl_easy_setopt(h, CURLOPT_FTP_CREATE_MISSING_DIRS, (long)CURLFTP_CREATE_DIR_RETRY);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, r->write ? r->write : discard);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r->write_ctx);
	curl_easy_setopt(h, CURLOPT_BUFFERSIZE, (long)TRANSFER_BUFFER);
}

/* Failures that a session the server dropped while idle produces at once. */
static bool stale_session_error(CURLcode rc)
{
	return rc == CURLE_SSH || rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR ||
	       rc == CURLE_GOT_NOTHING;
}

CURLcode sftp_perform(struct sftp *s, struct sftp_conn *c, const struct sftp_req *r)
{
	CURLcode rc;
	for (int attempt = 0;; attempt++) {
		curl_easy_reset(c->curl); /* keeps the connection */
		c->errbuf[0] = '\0';
		memset(&c->hostkey, 0, sizeof(c->hostkey));
		set_options(s, c, r);
		if (attempt)
			curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, 1L);
		rc = curl_easy_perform(c->curl);
		if (rc == CURLE_OK || attempt || r->once || !stale_session_error(rc))
			break;
		long connects = -1;
		curl_easy_getinfo(c->curl, CURLINFO_NUM_CONNECTS, &connects);
		bool moved = (r->upload || r->write) &&
			     (!r->replayable || !r->replayable(r->replay_ctx));
		if (connects != 0 || moved)
			break;
	}
	return rc;
}

enum result sftp_conn_take(struct sftp *s, struct sftp_conn **out, struct error *err)
{
	if (!s->conn_busy) {
		if (!s->conn.curl && !(s->conn.curl = curl_easy_init()))
			return error_set(err, CB_ERR_NOMEM, "cannot start libcurl");
		s->conn.owner = s;
		s->conn_busy = true;
		*out = &s->conn;
		return CB_OK;
	}
	/* Another put holds the instance's connection: use a second one. */
	struct sftp_conn *c = calloc(1, sizeof(*c));
	if (!c || !(c->curl = curl_easy_init())) {
		free(c);
		return error_set(err, CB_ERR_NOMEM, "cannot start libcurl");
	}
	c->owner = s;
	*out = c;
	return CB_OK;
}

void sftp_conn_give(struct sftp *s, struct sftp_conn *c)
{
	if (!c)
		return;
	if (c == &s->conn) {
		s->conn_busy = false;
		return;
	}
	curl_easy_cleanup(c->curl);
	free(c);
}

/* ---- known_hosts ------------------------------------------------------------- */

/* Put this server's known_hosts lines where libcurl reads them. */
static enum result kh_publish(struct sftp *s, const char *text, struct error *err)
{
	if (s->kh_fd < 0) {
		s->kh_fd = memfd_create("cbsync-known-hosts", MFD_CLOEXEC);
		if (s->kh_fd < 0) {
			/* No memfd (very old kernel): libcurl reads the file
			 * itself, with its limits. */
			s->kh_path = s->known_hosts;
			return CB_OK;
		}
		snprintf(s->kh_proc, sizeof(s->kh_proc), "/proc/self/fd/%d", s->kh_fd);
		s->kh_path = s->kh_proc;
	}
	size_t len = strlen(text);
	if (ftruncate(s->kh_fd, 0) != 0 || pwrite(s->kh_fd, text, len, 0) != (ssize_t)len)
		return error_set(err, CB_ERR_IO, "cannot stage the known_hosts lines: %s",
				 strerror(errno));
	return CB_OK;
}

enum result sftp_prepare(struct sftp *s, struct error *err)
{
	/* A pin replaces known_hosts; a running upload may be reading it. */
	if (s->pin[0] || s->conn_busy)
		return CB_OK;
	struct stat st;
	bool missing = stat(s->known_hosts, &st) != 0;
	if (s->kh_loaded && missing == s->kh_missing &&
	    (missing || (st.st_ino == s->kh_ino && st.st_size == s->kh_size &&
			 st.st_mtim.tv_sec == s->kh_mtime.tv_sec &&
			 st.st_mtim.tv_nsec == s->kh_mtime.tv_nsec)))
		return CB_OK;
	char *text = NULL;
	size_t len = 0;
	enum result r;
	if (!missing && (r = fs_read_file(s->known_hosts, 64u << 20, &text, &len, err))) {
		error_prefix(err, "cannot read known_hosts '%s'", s->known_hosts);
		return r;
	}
	struct sftp_kh kh;
	r = sftp_kh_select(text ? text : "", s->kh_host, &kh, err);
	free(text);
	if (r)
		return r;
	if ((r = kh_publish(s, kh.text, err))) {
		sftp_kh_free(&kh);
		return r;
	}
	sftp_kh_free(&s->kh);
	s->kh = kh;
	s->kh_loaded = true;
	s->kh_missing = missing;
	if (!missing) {
		s->kh_ino = st.st_ino;
		s->kh_size = st.st_size;
		s->kh_mtime = st.st_mtim;
	}
	return CB_OK;
}

/* ---- small requests ----------------------------------------------------------- */

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

/* ---- open and close ----------------------------------------------------------- */

static void sftp_close(void *ctx)
{
	struct sftp *s = ctx;
	if (!s)
		return;
	if (s->conn.curl)
		curl_easy_cleanup(s->conn.curl);
	sftp_url_free(&s->url);
	free(s->where);
	free(s->private_key);
	free(s->public_key);
	free(s->known_hosts);
	free(s->kh_host);
	sftp_kh_free(&s->kh);
	if (s->kh_fd >= 0)
		close(s->kh_fd);
	if (s->passphrase) {
		explicit_bzero(s->passphrase, strlen(s->passphrase));
		free(s->passphrase);
	}
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

/* A copy of v (NULL when unset or empty), "~/" expanded for paths. */
static enum result take_value(const char *v, bool path, char **out, struct error *err)
{
	*out = NULL;
	if (!v || !*v)
		return CB_OK;
	*out = path ? sftp_expand_home(v) : strdup(v);
	return *out ? CB_OK : error_nomem(err);
}

static enum result readable_file(const char *key, const char *path, struct error *err)
{
	if (strstr(path, "-----BEGIN") || strchr(path, '\n'))
		return error_set(err, CB_ERR_CONFIG,
				 "%s must be the key file's path, not the key itself; HINT: "
				 "%s_file = PATH reads a value out of a file, so write %s = PATH",
				 key, key, key);
	if (access(path, R_OK) != 0) {
		int e = errno;
		return error_set(err, CB_ERR_CONFIG, "%s '%s' cannot be read: [Errno %d] %s", key,
				 path, e, strerror(e));
	}
	return CB_OK;
}

static enum result sftp_open(const struct conf_remote *remote, void **ctx, struct error *err)
{
	const struct sftp_settings *set = remote->settings;
	struct sftp *s = calloc(1, sizeof(*s));
	if (!s)
		return error_nomem(err);
	s->kh_fd = -1;
	enum result r = sftp_url_parse(set->url, &s->url, err);
	if (r)
		goto fail;
	if (asprintf(&s->where, "%s:%ld", s->url.host, s->url.port) < 0)
		s->where = NULL;
	char pattern[300];
	sftp_host_pattern(s, pattern, sizeof(pattern));
	for (char *p = pattern; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	if (!s->where || !(s->kh_host = strdup(pattern))) {
		r = error_nomem(err);
		goto fail;
	}
	if ((r = take_value(set->private_key, true, &s->private_key, err)) ||
	    (r = take_value(set->public_key, true, &s->public_key, err)) ||
	    (r = take_value(set->private_key_passphrase, false, &s->passphrase, err)) ||
	    (r = take_value(set->password, false, &s->password, err)) ||
	    (r = take_value(set->known_hosts, true, &s->known_hosts, err)))
		goto fail;
	if (!s->known_hosts && !(s->known_hosts = sftp_expand_home("~/.ssh/known_hosts"))) {
		r = error_nomem(err);
		goto fail;
	}
	const char *pin = set->host_key_sha256;
	if (pin && *pin && !sftp_fingerprint_parse(pin, s->pin)) {
		r = error_set(err, CB_ERR_CONFIG,
			      "host_key_sha256 '%s' is not a SHA-256 fingerprint; HINT: on the "
			      "server, ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub prints it "
			      "(SHA256:...)",
			      pin);
		goto fail;
	}
	if (!s->private_key && !s->password) {
		r = error_set(err, CB_ERR_CONFIG,
			      "no way to log in as '%s'; HINT: set private_key (or password)",
			      s->url.user);
		goto fail;
	}
	if ((s->private_key && (r = readable_file("private_key", s->private_key, err))) ||
	    (s->public_key && (r = readable_file("public_key", s->public_key, err))))
		goto fail;
	/* libssh2 would only say that the login failed. */
	bool encrypted = false;
	if (s->private_key && !s->passphrase &&
	    (sftp_key_file_type(s->private_key, &encrypted), encrypted)) {
		r = error_set(err, CB_ERR_CONFIG,
			      "private_key '%s' is encrypted; HINT: set private_key_passphrase "
			      "(or private_key_passphrase_file)",
			      s->private_key);
		goto fail;
	}
	s->create_dir = set->create_dir;
	if ((r = conf_remote_check_ranges(remote, err)))
		goto fail;
	s->connect_timeout_ms = (long)(set->connect_timeout * 1000 + 0.5);
	long timeout_ms = (long)(set->timeout * 1000 + 0.5);
	s->timeout_s = (timeout_ms + 999) / 1000;
	*ctx = s;
	return CB_OK;
fail:
	sftp_close(s);
	return r;
}

/* ---- get ------------------------------------------------------------------------- */

struct fetch {
	backend_sink_fn sink;
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

static enum result sftp_get(void *ctx, const char *key, backend_sink_fn sink, void *sink_ctx,
			    struct error *err)
{
	struct sftp *s = ctx;
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
	struct sftp_req req = {.url = url, .transfer = true, .write = fetch_data, .write_ctx = &f,
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

/* ---- remove ----------------------------------------------------------------------- */

static enum result sftp_remove(void *ctx, const char *key, struct error *err)
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

static enum result sftp_remove_stale(void *ctx, int64_t older_than, size_t *removed,
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

static void sftp_stats(void *ctx, struct backend_stats *out)
{
	struct sftp *s = ctx;
	backend_stats_add(out, &s->stats);
}

/* libcurl, once per process (backend.h); libcurl counts its set-ups, so
 * S3's does not clash. */
static enum result sftp_init(struct error *err)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		return error_set(err, CB_ERR_INTERNAL, "cannot set up libcurl: %s",
				 curl_easy_strerror(rc));
	return CB_OK;
}

static void sftp_cleanup(void)
{
	curl_global_cleanup();
}

const struct backend_ops backend_sftp = {
	.type = "sftp",
	.description = "a directory on an SSH server, over SFTP (libcurl with libssh2)",
	.keys = sftp_keys,
	.n_keys = sizeof(sftp_keys) / sizeof(*sftp_keys),
	.settings_size = sizeof(struct sftp_settings),
	.features = BACKEND_STALE_UPLOADS,
	.open = sftp_open,
	.close = sftp_close,
	.list = sftp_list,
	.put_begin = sftp_put_begin,
	.put_write = sftp_put_write,
	.put_commit = sftp_put_commit,
	.put_abort = sftp_put_abort,
	.get = sftp_get,
	.remove = sftp_remove,
	.remove_stale = sftp_remove_stale,
	.abort_upload = sftp_abort_put,
	.stats = sftp_stats,
	.init = sftp_init,
	.cleanup = sftp_cleanup,
};
