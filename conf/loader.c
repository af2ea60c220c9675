/*
 * Helpers shared by the parts of conf_load (see loader.h): the error line,
 * warnings, strings, ${VAR} expansion, reading files with limits, KEY_file
 * contents, what a URL's authority holds, storing a fixed key, and the list
 * of declared remotes.
 *
 * Files (the config, KEY_file values) are opened without blocking, must be
 * regular files and are read whole up to a ceiling: a FIFO, a device or a
 * huge file is one error line instead of a hang or unbounded memory.
 */
#include "conf/loader.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const ld_common_keys[LD_N_COMMON] = {
	"type", "keep_daily", "keep_weekly", "keep_monthly", "keep_change",
};
const enum backup_type ld_common_keep_type[LD_N_COMMON] = {
	BT_COUNT, BT_DAILY, BT_WEEKLY, BT_MONTHLY, BT_CHANGE,
};

enum result ld_fail(struct loader *ld, enum result code, const char *fmt, ...)
{
	if (ld->rc)
		return ld->rc;
	va_list ap;
	va_start(ap, fmt);
	char msg[ERROR_MSG_MAX];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	error_set(ld->err, code, "%s", msg);
	ld->rc = code;
	ld->err_line = ld->in_file ? ld->line : 0;
	return code;
}

/* A newly allocated formatted string, or NULL when memory runs out. */
static char *ld_vfmt(const char *fmt, va_list ap)
{
	char *s = NULL;
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	return s;
}

enum result ld_warn(struct loader *ld, const char *fmt, ...)
{
	struct conf *c = ld->c;
	va_list ap;
	va_start(ap, fmt);
	char *line = ld_vfmt(fmt, ap);
	va_end(ap);
	char **bigger = line ? realloc(c->warnings, (c->n_warnings + 1) * sizeof(*bigger)) : NULL;
	if (!bigger) {
		free(line);
		return ld_nomem(ld);
	}
	c->warnings = bigger;
	c->warnings[c->n_warnings++] = line;
	return CB_OK;
}

#define ld_bad(ld, ...) ld_fail(ld, CB_ERR_CONFIG, __VA_ARGS__)

enum result ld_nomem(struct loader *ld)
{
	return ld_fail(ld, CB_ERR_NOMEM, "out of memory");
}

char *ld_fmt(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = ld_vfmt(fmt, ap);
	va_end(ap);
	return s;
}

char *ld_lower_dup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (d)
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

bool ld_ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The value of NAME in the environment being read, or NULL. */
const char *ld_env_get(const struct loader *ld, const char *name)
{
	size_t n = strlen(name);
	for (char **e = ld->env; e && *e; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* value, quoted for an error message: control characters escaped, long
 * values shortened. */
void ld_quote(const char *value, char *buf, size_t size)
{
	size_t o = 0;
	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (o + 8 >= size || p - (const unsigned char *)value >= 120) {
			o += (size_t)snprintf(buf + o, size - o, "...");
			break;
		}
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
		else
			buf[o++] = (char)*p;
	}
	if (o + 2 <= size) {
		buf[o++] = '"';
		buf[o] = '\0';
	} else {
		buf[size - 1] = '\0';
	}
}

/* Report an invalid value.  Secrets are never repeated back. */
enum result ld_value_error(struct loader *ld, const char *where, const char *value,
			       const char *file, bool secret, const char *why)
{
	char q[200];
	if (secret)
		return ld_bad(ld, "%s: the value %s", where, why);
	ld_quote(value, q, sizeof(q));
	if (file)
		return ld_bad(ld, "%s: %s (read from '%s') %s", where, q, file, why);
	return ld_bad(ld, "%s: %s %s", where, q, why);
}

/* keep_manual and keep_restore_point look like keys but cannot be: say why. */
const char *ld_keep_hint(const char *key)
{
	if (strcmp(key, "keep_manual") == 0 || strcmp(key, "keep_restore_point") == 0)
		return "manual backups and restore points are never pruned automatically, so "
		       "they have no retention rule";
	return NULL;
}

/* The closest of n candidates to word, if it is a plausible typo. */
const char *ld_closest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; i < n; i++) {
		size_t d = conf_edit_distance(word, cands[i]);
		if (d < best_d && d < strlen(cands[i])) {
			best_d = d;
			best = cands[i];
		}
	}
	return best;
}

/* Expand ${VAR} and $$ in a file value; NULL on failure (reported). */
static char *expand(struct loader *ld, const char *where, const char *raw)
{
	size_t cap = strlen(raw) + 1, len = 0;
	char *out = malloc(cap);
	if (!out) {
		ld_nomem(ld);
		return NULL;
	}
	for (const char *p = raw; *p;) {
		const char *piece = p;
		size_t piece_len = 1;
		if (*p == '$') {
			if (p[1] == '$') {
				p += 2;
			} else if (p[1] == '{') {
				const char *name = p + 2;
				size_t n = 0;
				while (isalnum((unsigned char)name[n]) || name[n] == '_')
					n++;
				if (name[n] != '}' || n == 0 || n > 200 ||
				    isdigit((unsigned char)name[0])) {
					ld_bad(ld, "%s: \"${\" must be followed by a variable name and \"}\"; "
					    "HINT: write \"$$\" for a literal \"$\"", where);
					goto fail;
				}
				char var[256];
				snprintf(var, sizeof(var), "%.*s", (int)n, name);
				piece = ld_env_get(ld, var);
				if (!piece) {
					ld_bad(ld, "%s: environment variable %s is not set (used as \"${%s}\")",
					    where, var, var);
					goto fail;
				}
				piece_len = strlen(piece);
				p = name + n + 1;
			} else {
				ld_bad(ld, "%s: a \"$\" must start \"${NAME}\"; HINT: write \"$$\" for a "
				    "literal \"$\"", where);
				goto fail;
			}
		} else {
			p++;
		}
		if (len + piece_len + 1 > cap) {
			cap = (len + piece_len + 1) * 2;
			char *bigger = realloc(out, cap);
			if (!bigger) {
				ld_nomem(ld);
				goto fail;
			}
			out = bigger;
		}
		memcpy(out + len, piece, piece_len);
		len += piece_len;
	}
	out[len] = '\0';
	return out;
fail:
	free(out);
	return NULL;
}

static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a file";
}

/* Read a regular file whole, up to a ceiling (see loader.h).  O_NONBLOCK
 * keeps open(2) from waiting for a FIFO's writer; the type is checked on
 * the descriptor opened, so nothing can be swapped in between. */
enum ld_read ld_read_file(const char *path, size_t max, char **data, size_t *len,
			  unsigned *mode, char *why, size_t why_size)
{
	enum ld_read r = LD_READ_ERRNO;
	char *buf = NULL;
	size_t n = 0;
	struct stat st;
	int saved_errno;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, why_size, "not a regular file (%s)", file_kind(st.st_mode));
		r = S_ISDIR(st.st_mode) ? LD_READ_DIRECTORY : LD_READ_NOT_REGULAR;
		goto fail;
	}
	r = LD_READ_TOO_LARGE;
	if (st.st_size < 0 || (unsigned long long)st.st_size > max)
		goto fail;
	r = LD_READ_NOMEM;
	if (!(buf = malloc(max + 2)))
		goto fail;
	/* The size is checked again as the bytes come: the file may grow. */
	while (n <= max) {
		ssize_t got = read(fd, buf + n, max + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		r = LD_READ_ERRNO;
		if (got < 0)
			goto fail;
		if (got == 0)
			break;
		n += (size_t)got;
	}
	r = LD_READ_TOO_LARGE;
	if (n > max)
		goto fail;
	buf[n] = '\0';
	close(fd);
	*data = buf;
	*len = n;
	if (mode)
		*mode = (unsigned)(st.st_mode & 07777);
	return LD_READ_OK;
fail:
	saved_errno = errno;
	if (r == LD_READ_ERRNO)
		snprintf(why, why_size, "%s", strerror(saved_errno));
	free(buf);
	if (fd >= 0)
		close(fd);
	errno = saved_errno;
	return r;
}

const char *ld_mode_exposure(unsigned mode)
{
	if ((mode & S_IROTH) && (mode & S_IWOTH))
		return "can be read and changed by other users";
	if (mode & S_IWOTH)
		return "can be changed by other users";
	if (mode & S_IROTH)
		return "can be read by other users";
	return NULL;
}

/* The content of a KEY_file: the whole file, one trailing newline removed. */
static char *read_value_file(struct loader *ld, const char *where, const char *path,
			     unsigned *mode)
{
	char *data = NULL, why[200];
	size_t n = 0;
	switch (ld_read_file(path, LD_MAX_VALUE_FILE, &data, &n, mode, why, sizeof(why))) {
	case LD_READ_OK:
		break;
	case LD_READ_ERRNO:
		ld_bad(ld, "%s: cannot read '%s': %s", where, path, why);
		return NULL;
	case LD_READ_NOT_REGULAR:
	case LD_READ_DIRECTORY:
		ld_bad(ld, "%s: cannot read '%s': %s; HINT: a _file setting names a regular file "
		    "that holds the value", where, path, why);
		return NULL;
	case LD_READ_TOO_LARGE:
		ld_bad(ld, "%s: cannot read '%s': it is larger than %d KiB, the most a value file "
		    "may hold; HINT: is this the right file?", where, path,
		    LD_MAX_VALUE_FILE / 1024);
		return NULL;
	case LD_READ_NOMEM:
		ld_nomem(ld);
		return NULL;
	}
	if (memchr(data, '\0', n)) {
		ld_bad(ld, "%s: '%s' contains a NUL byte", where, path);
		free(data);
		return NULL;
	}
	if (n && data[n - 1] == '\n') {
		n--;
		if (n && data[n - 1] == '\r')
			n--;
	}
	data[n] = '\0';
	return data;
}

/* The value an entry stands for: a file value is ${}-expanded first; a
 * KEY_file value is a path whose content is the value.  *file is set to the
 * path (owned by the caller) for KEY_file. */
char *ld_entry_value(struct loader *ld, const char *where, const char *raw,
			 enum ld_layer layer, bool via_file, char **file, unsigned *mode)
{
	char *v = layer == LAYER_FILE ? expand(ld, where, raw) : strdup(raw);
	*file = NULL;
	if (!v) {
		if (!ld->rc)
			ld_nomem(ld);
		return NULL;
	}
	if (!via_file)
		return v;
	char *content = read_value_file(ld, where, v, mode);
	if (!content) {
		free(v);
		return NULL;
	}
	*file = v;
	return content;
}

/* The authority of "scheme://[userinfo@]host[:port]/...": RFC 3986 ends it
 * at the first "/", "?" or "#", and the userinfo at the last "@" in it. */
void ld_url_split(const char *url, struct ld_url *out)
{
	memset(out, 0, sizeof(*out));
	const char *sep = strstr(url, "://");
	if (!sep || sep == url || (size_t)(sep - url) >= sizeof(out->scheme))
		return;
	for (size_t i = 0; url + i < sep; i++)
		out->scheme[i] = (char)tolower((unsigned char)url[i]);
	const char *auth = sep + 3;
	size_t alen = strcspn(auth, "/?#");
	const char *host = auth, *at = NULL;
	for (const char *p = auth; p < auth + alen; p++)
		if (*p == '@')
			at = p;
	if (at) {
		out->has_user = true;
		out->has_password = memchr(auth, ':', (size_t)(at - auth)) != NULL;
		host = at + 1;
	}
	size_t hlen = (size_t)(auth + alen - host);
	if (hlen && host[0] == '[') {
		const char *close = memchr(host, ']', hlen);
		hlen = close ? (size_t)(close - host - 1) : hlen - 1;
		host++;
	} else {
		const char *colon = memchr(host, ':', hlen);
		if (colon)
			hlen = (size_t)(colon - host);
	}
	if (hlen >= sizeof(out->host))
		hlen = sizeof(out->host) - 1;
	for (size_t i = 0; i < hlen; i++)
		out->host[i] = (char)tolower((unsigned char)host[i]);
}

bool ld_host_is_loopback(const char *host)
{
	unsigned char a[16];
	if (strcmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, host, a) != 1)
		return false;
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char one[16] = {[15] = 1};
	return memcmp(a, one, 16) == 0 || (memcmp(a, mapped, 12) == 0 && a[12] == 127);
}

size_t ld_fixed_index(const char *section, const char *key)
{
	int i = conf_fixed_find(section, key);
	return i < 0 ? 0 : (size_t)i;
}

/* Parse value into fixed key i and remember where it came from. */
enum result ld_apply_fixed(struct loader *ld, size_t i, const char *value,
			       const char *where, const char *origin, const char *file)
{
	char why[512];
	bool oom;
	if (!conf_fixed_apply(ld->c, &conf_fixed_keys[i], value, ld->tzdir, why, sizeof(why), &oom))
		return oom ? ld_nomem(ld) : ld_value_error(ld, where, value, file, false, why);
	char *o = strdup(origin), *w = strdup(where);
	if (!o || !w) {
		free(o);
		free(w);
		return ld_nomem(ld);
	}
	free(ld->c->origins[i]);
	ld->c->origins[i] = o;
	free(ld->where[i]);
	ld->where[i] = w;
	if (conf_fixed_keys[i].type == VT_KEEP)
		return ld_warn_keep_m(ld, where, value);
	return CB_OK;
}

enum result ld_warn_keep_m(struct loader *ld, const char *where, const char *value)
{
	if (!conf_keep_ambiguous(value))
		return CB_OK;
	size_t n = strlen(value) - 1;
	return ld_warn(ld, "%s: \"%s\" means %.*s months (in keep_* a bare \"m\" is months, "
		       "elsewhere minutes); HINT: write %.*smonths, or %.*smin for minutes", where,
		       value, (int)n, value, (int)n, value, (int)n, value);
}

struct rdecl *ld_decl_find(struct loader *ld, const char *name)
{
	for (size_t i = 0; i < ld->n_decl; i++)
		if (strcmp(ld->decl[i].name, name) == 0)
			return &ld->decl[i];
	return NULL;
}

/* Check a remote's name; on failure why says what is wrong. */
bool ld_remote_name_ok(const char *name, char *why, size_t size)
{
	if (!*name) {
		snprintf(why, size, "a remote needs a name");
		return false;
	}
	if (strlen(name) > LD_MAX_REMOTE_NAME) {
		snprintf(why, size, "the remote name is longer than %d characters",
			 LD_MAX_REMOTE_NAME);
		return false;
	}
	for (const char *p = name; *p; p++) {
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= '0' && *p <= '9') && *p != '_') {
			snprintf(why, size, "\"%s\" is not a valid remote name (use letters, digits "
				 "and _)", name);
			return false;
		}
	}
	if (strcmp(name, "local") == 0 || strcmp(name, "all") == 0) {
		snprintf(why, size, "the remote name \"%s\" is reserved (--tier %s means "
			 "something else); HINT: pick another name", name, name);
		return false;
	}
	return true;
}

struct rdecl *ld_decl_add(struct loader *ld, const char *name, char *loc, int line)
{
	if (ld->n_decl == ld->cap_decl) {
		size_t cap = ld->cap_decl ? ld->cap_decl * 2 : 4;
		struct rdecl *d = realloc(ld->decl, cap * sizeof(*d));
		if (!d)
			goto oom;
		ld->decl = d;
		ld->cap_decl = cap;
	}
	struct rdecl *d = &ld->decl[ld->n_decl];
	*d = (struct rdecl){.name = strdup(name), .loc = loc, .line = line};
	if (!d->name) {
		loc = NULL;
		goto oom;
	}
	ld->n_decl++;
	return d;
oom:
	free(loc);
	ld_nomem(ld);
	return NULL;
}

enum result ld_rentry_add(struct loader *ld, struct rdecl *d, struct rentry e)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct rentry *bigger = realloc(d->e, cap * sizeof(*bigger));
		if (!bigger)
			goto oom;
		d->e = bigger;
		d->cap = cap;
	}
	if (!e.key || !e.value || !e.origin || !e.loc)
		goto oom;
	d->e[d->n++] = e;
	return CB_OK;
oom:
	free(e.key);
	free(e.value);
	free(e.origin);
	free(e.loc);
	return ld_nomem(ld);
}
