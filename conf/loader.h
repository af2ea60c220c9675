/*
 * Private to conf/: the state conf_load (load.c) carries while it reads the
 * file (file.c finds and reads it, ini.c parses it), the environment
 * (env.c) and builds the remotes (remote.c), and the helpers those share:
 * the loader's state (loader.c), messages (messages.c), reading files
 * (readfile.c), entry values (entry_value.c) and URLs (url.c).
 *
 * Every failure goes through ld_fail, which keeps only the first: it is the
 * one line the user sees.  Messages start with where the value came from
 * ("cbsync.conf:12: [watch] quiet", "environment CBSYNC_WATCH_QUIET").
 */
#ifndef CBSYNC_CONF_LOADER_H
#define CBSYNC_CONF_LOADER_H

#include "conf/conf_internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define LD_MAX_REMOTE_NAME 64
/* The largest config file and KEY_file read: a config is a few kilobytes and
 * a value (a password, a key, a path) far less, so anything bigger is the
 * wrong file, and reading it all would only cost memory. */
#define LD_MAX_CONFIG (1024 * 1024)
#define LD_MAX_VALUE_FILE (64 * 1024)

enum ld_layer { LAYER_FILE, LAYER_ENV };

/* One key = value for a remote, collected before the remote's type is known. */
struct rentry {
	char *key;              /* as written, lower case; may end in "_file" */
	char *value;            /* as written (file values are expanded later) */
	char *origin;           /* "cbsync.conf:15" or "CBSYNC_REMOTE_X_KEY" */
	char *loc;              /* error prefix without the key: "cbsync.conf:15: [remote \"x\"]"
	                         * or "environment CBSYNC_REMOTE_X_KEY" */
	enum ld_layer layer;
	int line;               /* file layer only */
};

/* A remote, declared by a [remote "NAME"] header or by CBSYNC_REMOTE_NAME_TYPE. */
struct rdecl {
	char *name;
	char *loc;              /* "cbsync.conf:14" or "environment CBSYNC_REMOTE_X_TYPE" */
	int line;               /* the header's line; 0 if declared by the environment */
	struct rentry *e;
	size_t n, cap;
};

/* A CBSYNC_* environment variable. */
struct envvar {
	char *name;
	const char *value;
};

enum section_kind { SEC_NONE, SEC_FIXED, SEC_REMOTE, SEC_BROKEN };

/* The most fixed sections ([database], [local], ...) a file can have. */
#define LD_MAX_SECTIONS 16

struct loader {
	const struct conf_load_opts *opts;
	char **env;
	struct conf *c;
	struct error *err;
	enum result rc;         /* the first failure */
	int err_line;           /* its file line, for ordering against inih's errors */
	const char *tzdir;

	/* The file, read whole into text (it is at most LD_MAX_CONFIG bytes);
	 * the line reader walks it from pos. */
	const char *path;       /* as the user named it */
	bool in_file;           /* while inih reads it: messages carry a line */
	char *text;
	size_t text_len, pos;
	int line;
	int unclosed_line;      /* the latest line with "[" and no "]" */
	enum section_kind sec;
	const char *sec_name;   /* the fixed section, canonical spelling */
	size_t sec_remote;      /* index into decl */
	const char *seen_section[LD_MAX_SECTIONS];  /* fixed sections met so far */
	int seen_line[LD_MAX_SECTIONS];
	size_t n_seen;

	/* Per fixed key: the file line that set it and whether through _file,
	 * the environment variable that set it, and the error prefix naming
	 * where the effective value came from. */
	int *file_line;
	bool *file_via;
	char **env_var;
	char **where;

	struct rdecl *decl;
	size_t n_decl, cap_decl;
	struct envvar *vars;
	size_t n_vars;
};

/* The keys every remote has, whatever its type, and the keep_origin slot of
 * each keep_*: its backup type, or CONF_KEEP_INCREMENTS ("type", which is
 * first, has none). */
extern const char *const ld_common_keys[];
extern const unsigned ld_common_keep_type[];
#define LD_N_COMMON 9
/* ld_common_keep_type of a common key that is not a keep_* rule. */
#define LD_NOT_KEEP 0xffffu

/* Record the first failure (later ones are dropped); returns its code. */
enum result ld_fail(struct loader *ld, enum result code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define ld_bad(ld, ...) ld_fail(ld, CB_ERR_CONFIG, __VA_ARGS__)
enum result ld_nomem(struct loader *ld);

/* Add one line to the configuration's warnings (conf.h, struct conf). */
enum result ld_warn(struct loader *ld, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The outcome of ld_read_file. */
enum ld_read {
	LD_READ_OK,
	LD_READ_ERRNO,          /* open or read failed: *why is strerror's text */
	LD_READ_NOT_REGULAR,    /* *why: "not a regular file (a FIFO)" */
	LD_READ_DIRECTORY,      /* *why: "not a regular file (a directory)" */
	LD_READ_TOO_LARGE,
	LD_READ_NOMEM,
};

/* Read the regular file path whole, if it is at most max bytes, into a new
 * NUL-terminated *data (*len bytes, which may include NUL bytes), with its
 * mode bits in *mode.  Never blocks on a FIFO or device and never reads more
 * than max + 1 bytes.  On failure *why (why_size bytes) says what is wrong,
 * and errno is kept for LD_READ_ERRNO (ENOENT for a missing file). */
enum ld_read ld_read_file(const char *path, size_t max, char **data, size_t *len,
			  unsigned *mode, char *why, size_t why_size);

/* "mode 0644" permission warnings for a file others may read or change:
 * the phrase for the mode ("can be read by other users"), or NULL when the
 * mode is private enough. */
const char *ld_mode_exposure(unsigned mode);

/* Small string helpers; NULL when memory runs out. */
char *ld_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *ld_lower_dup(const char *s, size_t n);
bool ld_ends_with(const char *s, const char *suffix);

/* NAME's value in the environment being read, or NULL. */
const char *ld_env_get(const struct loader *ld, const char *name);

/* value in quotes for a message: control characters escaped, long values
 * cut short. */
void ld_quote(const char *value, char *buf, size_t size);

/* Report an invalid value (why: "is not a duration (e.g. 5s, 2m)"); a
 * secret's value is not repeated, a KEY_file's path is named. */
enum result ld_value_error(struct loader *ld, const char *where, const char *value,
			   const char *file, bool secret, const char *why);

/* The closest of n candidates to word if it looks like a typo of it. */
const char *ld_closest(const char *word, const char *const *cands, size_t n);

/* Why keep_manual / keep_restore_point are not keys, or NULL. */
const char *ld_keep_hint(const char *key);

/* The value an entry stands for: a file value is ${}-expanded first; with
 * via_file the value is a path whose content is the value, and *file is
 * set to that path (caller frees both) and *mode, if not NULL, to the
 * file's permission bits.  NULL on failure (reported). */
char *ld_entry_value(struct loader *ld, const char *where, const char *raw,
		     enum ld_layer layer, bool via_file, char **file, unsigned *mode);

/* What a URL's authority holds, for the checks on CONF_URL values; the
 * URL need not be valid otherwise.  host is lower-cased, without brackets
 * or port; empty when there is no "scheme://". */
struct ld_url {
	char scheme[16];
	bool has_user;          /* "user@" or "user:password@" */
	bool has_password;      /* "user:password@", even with an empty password */
	char host[256];
};
void ld_url_split(const char *url, struct ld_url *out);

/* localhost, 127.0.0.0/8 or ::1 (also as ::ffff:127.x.y.z). */
bool ld_host_is_loopback(const char *host);

/* The index of a fixed key known to exist. */
size_t ld_fixed_index(const char *section, const char *key);

/* Parse value into fixed key i and remember where it came from. */
enum result ld_apply_fixed(struct loader *ld, size_t i, const char *value, const char *where,
			   const char *origin, const char *file);

/* Warn about a keep_* value written with a bare "m" (conf_keep_ambiguous);
 * where is the prefix naming the key, as for errors. */
enum result ld_warn_keep_m(struct loader *ld, const char *where, const char *value);

struct rdecl *ld_decl_find(struct loader *ld, const char *name);

/* Declare a remote (takes loc); NULL if memory ran out (reported). */
struct rdecl *ld_decl_add(struct loader *ld, const char *name, char *loc, int line);

/* Check a remote's name; on failure why says what is wrong. */
bool ld_remote_name_ok(const char *name, char *why, size_t size);

/* Append an entry (taking its strings, which may be NULL after a failed
 * allocation). */
enum result ld_rentry_add(struct loader *ld, struct rdecl *d, struct rentry e);

/* Free an entry's strings. */
void ld_rentry_free(struct rentry *e);

/* The layers, in the order conf_load runs them.  ld_read_config picks the
 * file (--config, $CBSYNC_CONFIG, else the system file if it exists) and
 * reads it whole into ld->text, leaving ld->path NULL when there is none;
 * ld_parse_ini then reads its sections and keys. */
enum result ld_read_config(struct loader *ld);
enum result ld_parse_ini(struct loader *ld);
enum result ld_load_env(struct loader *ld);
enum result ld_build_remotes(struct loader *ld);

#endif
