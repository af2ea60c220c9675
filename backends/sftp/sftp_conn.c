/*
 * SFTP requests and connections.  sftp_perform runs one request on a
 * connection (a libcurl easy handle, reset between requests but keeping its
 * SSH session) and runs it once more on a fresh connection when a reused
 * one turns out to be dead and nothing has moved yet; an instance keeps one
 * connection, and a second put running at the same time takes its own.
 *
 * The host key is always checked: against a pinned fingerprint, or against
 * this server's lines of known_hosts (sftp_knownhosts.c selects them),
 * which sftp_prepare stages in a memfd for libcurl and refreshes when the
 * file changes; the host key callback notes what it saw, for the error
 * line (sftp_fail.c).
 */
#include "backends/sftp/sftp_internal.h"
#include "common/cancel.h"
#include "common/fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* libcurl's buffers for one transfer: bounded, whatever the object's size. */
#define TRANSFER_BUFFER (256 * 1024)
/* The most a clean-up request (removing a temp file) may take. */
#define CLEANUP_TIMEOUT_MS 10000L

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
	if (r->range)
		curl_easy_setopt(h, CURLOPT_RANGE, r->range);
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
