/*
 * The SFTP backend's pure helpers: the url setting, remote paths and URLs,
 * libcurl quote commands, the listing lines libcurl hands back, host key
 * fingerprints, and what a libcurl error code means to cbsync.  No network
 * here, so tests/unit/sftp can check all of it.
 */
#include "backends/sftp/sftp_internal.h"
#include "common/hash.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- url ----------------------------------------------------------------- */

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

/* ---- listing lines ---------------------------------------------------------- */

static int month_of(const char *s, size_t n)
{
	static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	if (n != 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (strncmp(s, names[i], 3) == 0)
			return i;
	return -1;
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int64_t utc_time(int year, int mon, int day, int hour, int min)
{
	struct tm tm = {.tm_year = year - 1900, .tm_mon = mon, .tm_mday = day,
			.tm_hour = hour, .tm_min = min};
	return (int64_t)timegm(&tm);
}

#define MAX_TOKENS 16

bool sftp_parse_list_line(const char *line, int64_t now, struct sftp_entry *e)
{
	const char *tok[MAX_TOKENS];
	size_t tlen[MAX_TOKENS];
	size_t nt = 0;
	const char *p = line;
	/* Tokens up to the date and a little beyond; the name is whatever
	 * follows the date, spaces and all. */
	while (*p && nt < MAX_TOKENS) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		tok[nt] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		tlen[nt] = (size_t)(p - tok[nt]);
		nt++;
	}
	/* mode links owner group size month day time|year name: the month is
	 * at index 5 at the earliest, with the size just before it. */
	for (size_t i = 4; i + 2 < nt; i++) {
		int mon = month_of(tok[i], tlen[i]);
		if (mon < 0 || !all_digits(tok[i - 1], tlen[i - 1]) ||
		    !all_digits(tok[i + 1], tlen[i + 1]) || tlen[i + 1] > 2)
			continue;
		int day = (int)strtol(tok[i + 1], NULL, 10);
		if (day < 1 || day > 31)
			continue;
		const char *t = tok[i + 2];
		size_t tl = tlen[i + 2];
		int64_t when;
		if (tl == 5 && t[2] == ':' && all_digits(t, 2) && all_digits(t + 3, 2)) {
			int hour = (t[0] - '0') * 10 + (t[1] - '0');
			int min = (t[3] - '0') * 10 + (t[4] - '0');
			time_t now_t = (time_t)now;
			struct tm now_tm;
			gmtime_r(&now_t, &now_tm);
			int year = now_tm.tm_year + 1900;
			when = utc_time(year, mon, day, hour, min);
			/* A date without a year is within the last six months;
			 * a day's slack covers the server's time zone. */
			if (when > now + 86400)
				when = utc_time(year - 1, mon, day, hour, min);
		} else if (tl == 4 && all_digits(t, 4)) {
			when = utc_time((int)strtol(t, NULL, 10), mon, day, 0, 0);
		} else {
			continue;
		}
		const char *name = t + tl;
		if (*name != ' ' && *name != '\t')
			continue;
		/* Exactly one blank: a name may start with blanks of its own.
		 * An empty name here is one that starts with a newline. */
		name++;
		size_t name_len = strlen(name);
		char *end;
		errno = 0;
		unsigned long long size = strtoull(tok[i - 1], &end, 10);
		if (errno)
			return false;
		e->name = name;
		e->name_len = name_len;
		e->type = tok[0][0];
		e->size = size;
		e->mtime = when;
		return true;
	}
	return false;
}

/* ---- whole listings --------------------------------------------------------------- */

enum result sftp_list_reader_init(struct sftp_list_reader *r, int64_t now, sftp_entry_fn fn,
				  void *ctx, struct error *err)
{
	*r = (struct sftp_list_reader){.now = now, .fn = fn, .ctx = ctx};
	r->line = malloc(SFTP_MAX_LIST_LINE);
	r->held = malloc(SFTP_MAX_LIST_LINE);
	r->joined = malloc(SFTP_MAX_LIST_LINE);
	if (!r->line || !r->held || !r->joined) {
		sftp_list_reader_free(r);
		return error_nomem(err);
	}
	return CB_OK;
}

void sftp_list_reader_reset(struct sftp_list_reader *r)
{
	r->line_len = 0;
	r->overlong = false;
	r->holding = false;
	r->joining = false;
	r->held_broken = false;
	r->started = false;
}

void sftp_list_reader_free(struct sftp_list_reader *r)
{
	free(r->line);
	free(r->held);
	free(r->joined);
	r->line = r->held = r->joined = NULL;
}

/* Hand the held entry to fn, with its whole name. */
static enum result release_held(struct sftp_list_reader *r, struct error *err)
{
	enum result res = CB_OK;
	if (r->holding && r->held_broken) {
		r->skipped++;
	} else if (r->holding) {
		struct sftp_entry e = r->held_entry;
		if (r->joining) {
			e.name = r->joined;
			e.name_len = r->joined_len;
		}
		res = r->fn(r->ctx, &e, err);
	}
	r->holding = false;
	r->joining = false;
	r->held_broken = false;
	return res;
}

/* Add a line that continues the held entry's name. */
static void continue_held(struct sftp_list_reader *r, const char *line, size_t len)
{
	if (r->held_broken)
		return;
	if (!r->joining) {
		memcpy(r->joined, r->held_entry.name, r->held_entry.name_len);
		r->joined_len = r->held_entry.name_len;
		r->joining = true;
	}
	if (len >= SFTP_MAX_LIST_LINE - 1 - r->joined_len) {
		r->held_broken = true;
		return;
	}
	r->joined[r->joined_len++] = '\n';
	memcpy(r->joined + r->joined_len, line, len);
	r->joined_len += len;
}

/* A line of the listing is complete (r->line, r->line_len bytes). */
static enum result end_line(struct sftp_list_reader *r, struct error *err)
{
	struct sftp_entry e;
	bool overlong = r->overlong;
	size_t len = r->line_len;
	r->line[len] = '\0';
	r->line_len = 0;
	r->overlong = false;
	if (!overlong && strlen(r->line) == len && sftp_parse_list_line(r->line, r->now, &e)) {
		enum result res = release_held(r, err);
		if (res)
			return res;
		/* Hold this entry: the next line may still belong to its name. */
		char *t = r->held;
		r->held = r->line;
		r->line = t;
		r->held_entry = e;
		r->holding = true;
		r->started = true;
		return CB_OK;
	}
	if (r->started || overlong) {
		/* The rest of a name (or a link's target) that holds "\n", or a
		 * line too long for any name cbsync could use. */
		if (r->holding && overlong)
			r->held_broken = true;
		else if (r->holding)
			continue_held(r, r->line, len);
		else if (!r->started || overlong)
			r->skipped++;
		r->started = true;
		return CB_OK;
	}
	if (!len)
		return CB_OK;
	/* The first line is no entry: the server's long names are in a form
	 * this reader does not know.  Show it, tamed for one log line. */
	char shown[121];
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < sizeof(shown); i++) {
		unsigned char c = (unsigned char)r->line[i];
		shown[n++] = c >= ' ' && c < 0x7f ? (char)c : '?';
	}
	shown[n] = '\0';
	return error_set(err, CB_ERR_REMOTE, "unexpected line \"%s\"", shown);
}

enum result sftp_list_reader_feed(struct sftp_list_reader *r, const char *data, size_t len,
				  struct error *err)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			enum result res = end_line(r, err);
			if (res)
				return res;
			continue;
		}
		if (r->line_len + 1 >= SFTP_MAX_LIST_LINE)
			r->overlong = true;     /* keep what fits, drop the rest */
		else
			r->line[r->line_len++] = data[i];
	}
	return CB_OK;
}

enum result sftp_list_reader_end(struct sftp_list_reader *r, struct error *err)
{
	enum result res = CB_OK;
	if (r->line_len || r->overlong)
		res = end_line(r, err);
	if (!res)
		res = release_held(r, err);
	return res;
}

/* ---- fingerprints ------------------------------------------------------------- */

static bool is_b64(char c)
{
	return isalnum((unsigned char)c) || c == '+' || c == '/';
}

bool sftp_fingerprint_parse(const char *s, char out[SFTP_FP_B64_LEN + 1])
{
	if (strncasecmp(s, "SHA256:", 7) == 0)
		s += 7;
	size_t n = strlen(s);
	while (n && s[n - 1] == '=')
		n--;
	if (n != SFTP_FP_B64_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_b64(s[i]))
			return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/* Decode standard base64 (whitespace not allowed); returns the length or -1. */
static long b64_decode(const char *in, size_t n, unsigned char **out)
{
	while (n && in[n - 1] == '=')
		n--;
	size_t padded = (n + 3) / 4 * 4;
	char *tmp = malloc(padded + 1);
	unsigned char *buf = malloc(padded / 4 * 3 + 1);
	if (!tmp || !buf) {
		free(tmp);
		free(buf);
		return -1;
	}
	memcpy(tmp, in, n);
	for (size_t i = n; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	int got = EVP_DecodeBlock(buf, (const unsigned char *)tmp, (int)padded);
	free(tmp);
	if (got < 0) {
		free(buf);
		return -1;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	long len = (long)got - (long)(padded - n);
	if (padded - n == 3)
		len = -1; /* not valid base64 */
	if (len < 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	return len;
}

void sftp_fingerprint_of(const char *key, size_t len, char *out, size_t size)
{
	unsigned char *raw = NULL;
	const unsigned char *blob = (const unsigned char *)key;
	if (len == 0) {
		long n = b64_decode(key, strlen(key), &raw);
		if (n < 0) {
			snprintf(out, size, "SHA256:?");
			return;
		}
		blob = raw;
		len = (size_t)n;
	}
	uint8_t digest[SHA256_LEN];
	sha256_buf(blob, len, digest);
	free(raw);
	unsigned char b64[64];
	int n = EVP_EncodeBlock(b64, digest, SHA256_LEN);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	snprintf(out, size, "SHA256:%.*s", n, (const char *)b64);
}

const char *sftp_khtype_name(int keytype)
{
	switch (keytype) {
	case CURLKHTYPE_RSA1:
		return "RSA1";
	case CURLKHTYPE_RSA:
		return "RSA";
	case CURLKHTYPE_DSS:
		return "DSA";
	case CURLKHTYPE_ECDSA:
		return "ECDSA";
	case CURLKHTYPE_ED25519:
		return "ED25519";
	default:
		return "unknown-type";
	}
}

/* ---- key files ------------------------------------------------------------------ */

static const char *const key_types[] = {
	"ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
	"sk-ecdsa-sha2-nistp256@openssh.com",
};

static const char *known_type(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(*key_types); i++)
		if (strlen(key_types[i]) == n && memcmp(key_types[i], s, n) == 0)
			return key_types[i];
	return NULL;
}

/* A big-endian length-prefixed string at *p in [*p, end); false if short. */
static bool ssh_string(const unsigned char **p, const unsigned char *end,
		       const unsigned char **s, size_t *n)
{
	if (end - *p < 4)
		return false;
	uint32_t len = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 |
		       (uint32_t)(*p)[2] << 8 | (*p)[3];
	*p += 4;
	if ((size_t)(end - *p) < len)
		return false;
	*s = *p;
	*n = len;
	*p += len;
	return true;
}

/* The public key type inside an "openssh-key-v1" private key (base64 body),
 * and whether its cipher is anything but "none". */
static const char *openssh_private_type(const char *body, bool *encrypted)
{
	char *clean = malloc(strlen(body) + 1);
	if (!clean)
		return NULL;
	size_t n = 0;
	for (const char *p = body; *p && *p != '-'; p++)
		if (is_b64(*p) || *p == '=')
			clean[n++] = *p;
	unsigned char *raw = NULL;
	long len = b64_decode(clean, n, &raw);
	free(clean);
	if (len < 0)
		return NULL;
	static const char magic[] = "openssh-key-v1";
	const char *type = NULL;
	const unsigned char *p = raw, *end = raw + len, *s, *pub;
	size_t sn, pubn;
	if ((size_t)len > sizeof(magic) && memcmp(raw, magic, sizeof(magic)) == 0) {
		p += sizeof(magic); /* the magic and its NUL */
		/* cipher, kdf, kdf options, key count, then the first public key */
		if (ssh_string(&p, end, &s, &sn))
			*encrypted = !(sn == 4 && memcmp(s, "none", 4) == 0);
		if (ssh_string(&p, end, &s, &sn) && ssh_string(&p, end, &s, &sn) && end - p >= 4) {
			p += 4;
			if (ssh_string(&p, end, &pub, &pubn)) {
				const unsigned char *q = pub;
				if (ssh_string(&q, pub + pubn, &s, &sn))
					type = known_type((const char *)s, sn);
			}
		}
	}
	free(raw);
	return type;
}

const char *sftp_key_file_type(const char *path, bool *encrypted)
{
	bool enc = false;
	const char *type = NULL;
	FILE *f = fopen(path, "re");
	char *buf = f ? malloc(65536) : NULL;
	if (buf) {
		size_t n = fread(buf, 1, 65535, f);
		buf[n] = '\0';
		const char *b;
		if ((b = strstr(buf, "-----BEGIN OPENSSH PRIVATE KEY-----")) != NULL) {
			b = strchr(b + 5, '\n');
			type = b ? openssh_private_type(b + 1, &enc) : NULL;
		} else if (strstr(buf, "-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
			enc = true; /* PKCS#8: the type is inside the encryption */
		} else {
			if (strstr(buf, "-----BEGIN RSA PRIVATE KEY-----"))
				type = "ssh-rsa";
			else if (strstr(buf, "-----BEGIN DSA PRIVATE KEY-----"))
				type = "ssh-dss";
			else if (strstr(buf, "-----BEGIN EC PRIVATE KEY-----"))
				type = "ecdsa-sha2-nistp256";
			else /* a public key line: "<type> <base64> [comment]" */
				type = known_type(buf, strcspn(buf, " \t\r\n"));
			/* Traditional PEM says so in a header. */
			enc = type && strstr(buf, "Proc-Type: 4,ENCRYPTED") != NULL;
		}
	}
	if (f)
		fclose(f);
	free(buf);
	if (encrypted)
		*encrypted = enc;
	return type;
}

/* ---- results ----------------------------------------------------------------------- */

enum result sftp_classify(CURLcode rc, const char *errbuf)
{
	const char *eb = errbuf ? errbuf : "";
	switch (rc) {
	case CURLE_OK:
		return CB_OK;
	case CURLE_OUT_OF_MEMORY:
		return CB_ERR_NOMEM;
	case CURLE_ABORTED_BY_CALLBACK:
		return CB_ERR_INTERRUPTED;
	case CURLE_REMOTE_FILE_NOT_FOUND:
		return CB_ERR_NOT_FOUND;
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
		return CB_ERR_CONFIG;
	case CURLE_LOGIN_DENIED:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_REMOTE_ACCESS_DENIED:
		return CB_ERR_REMOTE;
	case CURLE_FAILED_INIT:
		/* libcurl reports a failed SSH handshake so: no algorithm in
		 * common is for good, a dropped connection is not. */
		if (strstr(eb, "Unable to exchange encryption keys") || strstr(eb, ": -5,"))
			return CB_ERR_REMOTE;
		return CB_ERR_RETRY;
	case CURLE_QUOTE_ERROR:
		if (strstr(eb, "Permission denied") || strstr(eb, "write protected"))
			return CB_ERR_REMOTE;
		return CB_ERR_RETRY;
	default:
		/* Connection refused or reset, timeouts, a dead session, a full
		 * disk: all may pass. */
		return CB_ERR_RETRY;
	}
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
