/*
 * The SFTP backend's names for things, pure string work (no network, so
 * tests/unit/sftp checks all of it): the url setting, the URL and the
 * server-side path of a key, libcurl quote commands, and "~/" in local
 * paths.
 */
#include "backends/sftp/sftp_internal.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void sftp_url_free(struct sftp_url *u)
{
	free(u->user);
	free(u->host);
	free(u->host_plain);
	free(u->root);
	free(u->base);
	memset(u, 0, sizeof(*u));
}

/* Percent-encode everything but unreserved characters and "/". */
static bool encode_path(char **out, size_t *len, size_t *cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*len + 4 > *cap) {
			size_t ncap = *cap ? *cap * 2 : 128;
			while (ncap < *len + 4)
				ncap *= 2;
			char *n = realloc(*out, ncap);
			if (!n)
				return false;
			*out = n;
			*cap = ncap;
		}
		if (isalnum(*p) || strchr("-._~/", *p)) {
			(*out)[(*len)++] = (char)*p;
		} else {
			(*out)[(*len)++] = '%';
			(*out)[(*len)++] = hex[*p >> 4];
			(*out)[(*len)++] = hex[*p & 15];
		}
	}
	if (*len + 1 > *cap) {
		char *n = realloc(*out, *len + 1);
		if (!n)
			return false;
		*out = n;
		*cap = *len + 1;
	}
	(*out)[*len] = '\0';
	return true;
}

/* prefix (already a URL) followed by path, percent-encoded. */
static char *concat_encoded(const char *prefix, const char *path)
{
	size_t len = strlen(prefix), cap = len + 1;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	memcpy(out, prefix, cap);
	if (!encode_path(&out, &len, &cap, path)) {
		free(out);
		return NULL;
	}
	return out;
}

static enum result url_error(struct error *err, const char *what)
{
	return error_set(err, CB_ERR_CONFIG,
			 "url %s; HINT: write url = sftp://user@host[:port]/path (an absolute "
			 "path, or /~/path under the login directory)",
			 what);
}

enum result sftp_url_parse(const char *url, struct sftp_url *out, struct error *err)
{
	enum result r = CB_OK;
	char *scheme = NULL, *pass = NULL, *user = NULL, *host = NULL, *port = NULL;
	char *path = NULL, *query = NULL, *frag = NULL;
	memset(out, 0, sizeof(*out));
	CURLU *h = curl_url();
	if (!h)
		return error_nomem(err);
	/* Never echo the URL back: it may hold a password by mistake. */
	if (curl_url_set(h, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK) {
		r = url_error(err, "is not a valid URL");
		goto done;
	}
	if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    strcmp(scheme, "sftp") != 0) {
		r = url_error(err, "must start with sftp://");
		goto done;
	}
	if (curl_url_get(h, CURLUPART_PASSWORD, &pass, 0) == CURLUE_OK) {
		r = error_set(err, CB_ERR_CONFIG,
			      "url must not contain a password (it would end up in logs); HINT: "
			      "set password (or password_file) instead");
		goto done;
	}
	if (curl_url_get(h, CURLUPART_USER, &user, CURLU_URLDECODE) != CURLUE_OK || !*user) {
		r = url_error(err, "names no user");
		goto done;
	}
	if (curl_url_get(h, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		r = url_error(err, "names no host");
		goto done;
	}
	if (curl_url_get(h, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
	    curl_url_get(h, CURLUPART_FRAGMENT, &frag, 0) == CURLUE_OK) {
		r = url_error(err, "must not have a query (?) or fragment (#)");
		goto done;
	}
	out->port = 22;
	if (curl_url_get(h, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
		char *end;
		errno = 0;
		long p = strtol(port, &end, 10);
		if (errno || *end || p < 1 || p > 65535) {
			r = url_error(err, "has a bad port");
			goto done;
		}
		out->port = p;
	}
	if (curl_url_get(h, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK) {
		r = url_error(err, "has a path that does not decode");
		goto done;
	}
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if (*p < 0x20 || *p == 0x7f) {
			r = url_error(err, "has control characters in its path");
			goto done;
		}
	}
	const char *rest = path;
	if (strcmp(path, "/~") == 0 || strncmp(path, "/~/", 3) == 0) {
		out->home_relative = true;
		rest = path + 2;
		while (*rest == '/')
			rest++;
	} else if (strspn(path, "/") == strlen(path)) {
		r = url_error(err, "names no directory (it would write into the server's /)");
		goto done;
	}
	size_t n = strlen(rest);
	while (n > 1 && rest[n - 1] == '/')
		n--;
	if (n == 1 && rest[0] == '/' && out->home_relative)
		n = 0;
	out->user = strdup(user);
	out->host = strdup(host);
	out->root = strndup(rest, n);
	size_t hl = strlen(host);
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']')
		out->host_plain = strndup(host + 1, hl - 2);
	else
		out->host_plain = strdup(host);
	if (!out->user || !out->host || !out->root || !out->host_plain) {
		r = error_nomem(err);
		goto done;
	}
	/* base = sftp://host:port + the root, encoded; a root under the
	 * login directory is spelt /~/root, as libcurl reads it. */
	char *prefix = NULL, *root_path = NULL;
	if (asprintf(&prefix, "sftp://%s:%ld%s", host, out->port,
		     out->home_relative ? "/~" : "") >= 0 &&
	    asprintf(&root_path, "%s%s", out->home_relative && *out->root ? "/" : "",
		     out->root) >= 0)
		out->base = concat_encoded(prefix, root_path);
	free(prefix);
	free(root_path);
	if (!out->base)
		r = error_nomem(err);
done:
	curl_free(scheme);
	curl_free(pass);
	curl_free(user);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(h);
	if (r)
		sftp_url_free(out);
	return r;
}

char *sftp_url_of(const struct sftp_url *u, const char *rel, bool dir)
{
	char *rel_path = NULL;
	if (asprintf(&rel_path, "/%s%s", rel, dir && *rel ? "/" : "") < 0)
		return NULL;
	char *out = concat_encoded(u->base, rel_path);
	free(rel_path);
	return out;
}

char *sftp_path_of(const struct sftp_url *u, const char *rel)
{
	char *out = NULL;
	int n;
	if (!*rel)
		n = asprintf(&out, "%s", *u->root ? u->root : ".");
	else if (!*u->root)
		n = asprintf(&out, "%s", rel);
	else
		n = asprintf(&out, "%s%s%s", u->root,
			     u->root[strlen(u->root) - 1] == '/' ? "" : "/", rel);
	return n < 0 ? NULL : out;
}

/* Append s to out in double quotes, escaping " and \ as libcurl expects. */
static bool quote_append(char **out, size_t *len, const char *s)
{
	size_t need = *len + 2 * strlen(s) + 4;
	char *n = realloc(*out, need);
	if (!n)
		return false;
	*out = n;
	n[(*len)++] = ' ';
	n[(*len)++] = '"';
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			n[(*len)++] = '\\';
		n[(*len)++] = *p;
	}
	n[(*len)++] = '"';
	n[*len] = '\0';
	return true;
}

char *sftp_quote_cmd(const char *cmd, const char *path1, const char *path2)
{
	size_t len = strlen(cmd);
	char *out = strdup(cmd);
	if (!out || !quote_append(&out, &len, path1) || (path2 && !quote_append(&out, &len, path2))) {
		free(out);
		return NULL;
	}
	return out;
}

char *sftp_expand_home(const char *path)
{
	if (path[0] != '~' || (path[1] != '/' && path[1] != '\0'))
		return strdup(path);
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : "/";
	}
	char *out = NULL;
	if (asprintf(&out, "%s%s", home, path + 1) < 0)
		return NULL;
	return out;
}
