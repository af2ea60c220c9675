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
 * renames it into place at commit (sftp_put.c).  Every request goes through
 * one libcurl easy handle per instance, reset between requests but keeping
 * its connection, so a sync logs in once and reuses the SSH session.  A
 * request that fails at once on a reused connection (the server dropped an
 * idle session) runs once more on a fresh one, when it has not moved any
 * bytes yet.
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
 *
 * This file: the config map and its struct sftp_settings, open/close, and
 * the ops table; sftp_internal.h says which file holds the rest.
 */
#include "backends/sftp/sftp_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	.get_head = sftp_get_head,
	.remove = sftp_remove,
	.remove_stale = sftp_remove_stale,
	.abort_upload = sftp_abort_put,
	.stats = sftp_stats,
	.init = sftp_init,
	.cleanup = sftp_cleanup,
};
