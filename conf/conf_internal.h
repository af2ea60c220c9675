/*
 * Private to conf/: the table of fixed keys, the value parsers that are not
 * part of the public contract, and the formatters conf_print shares with the
 * loader.
 */
#ifndef CBSYNC_CONF_INTERNAL_H
#define CBSYNC_CONF_INTERNAL_H

#include "conf/conf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a fixed key's value is parsed and where it is stored. */
enum conf_vtype {
	VT_PATH,        /* char *, non-empty */
	VT_KEEP,        /* struct keep_rule */
	VT_COMPRESSION, /* int, 1..9 */
	VT_DURATION,    /* double seconds */
	VT_DAILY,       /* struct conf_schedule */
	VT_WEEKLY,
	VT_MONTHLY,
	VT_TIMEZONE,    /* char * */
	VT_BOOL,        /* bool */
	VT_LOG_LEVEL,   /* enum log_level */
	VT_LOG_FORMAT,  /* enum log_format */
	VT_LISTEN,      /* char *, "HOST:PORT", or NULL when off */
	VT_THREADS,     /* int, 0 for auto (one per CPU), else 1..64 */
	VT_SIZE,        /* uint64_t bytes, > 0 */
	VT_MODE,        /* unsigned, file permission bits in octal, 0400..0666 */
	VT_PERCENT,     /* int, 1..1000, "50%" or "50"; 0 for "off" */
	VT_RECIPIENTS,  /* char *, age1... keys ", "-separated, or NULL */
	VT_IDENTITY,    /* char *, AGE-SECRET-KEY-1... lines, or NULL; secret */
	VT_SECRET,      /* char *, any text, or NULL; secret */
	VT_SIGN_KEY,    /* char *, an Ed25519 private key in PEM, or NULL; secret */
	VT_VERIFY_KEY,  /* char *, an Ed25519 public key as one base64 line, or NULL */
	VT_SQL,         /* char *, SQL text (one or more statements), or NULL */
	VT_OPT_PATH,    /* char *, a path, or NULL when empty (a default applies) */
};

/* One key of the fixed sections ([database] .. [log]). */
struct conf_fixed_key {
	const char *section;
	const char *key;
	enum conf_vtype type;
	size_t offset;          /* of the field in struct conf */
	enum backup_type keep;  /* VT_KEEP: the backup type the rule is for; else BT_COUNT */
};

/* How a secret is printed. */
#define CONF_SECRET_MASK "********"

/* Is a value of this type a secret: masked when printed, never repeated in
 * an error, and never written in the config file itself (KEY_file or the
 * environment)? */
bool conf_vtype_secret(enum conf_vtype t);

extern const struct conf_fixed_key conf_fixed_keys[];
extern const size_t conf_n_fixed_keys;

/* The index of [section] key in conf_fixed_keys (case-insensitive), or -1. */
int conf_fixed_find(const char *section, const char *key);

/* "CBSYNC_WATCH_QUIET" for a fixed key. */
void conf_fixed_env_name(const struct conf_fixed_key *k, char *buf, size_t size);

/* Parse value for fixed key k into c; on failure write into why what the
 * value should have been (e.g. "is not a duration (e.g. 5s, 2m)") and
 * return false.  tzdir is where time zone names are looked up. */
bool conf_fixed_apply(struct conf *c, const struct conf_fixed_key *k, const char *value,
		      const char *tzdir, char *why, size_t why_size, bool *nomem);

/* Write k's current value in c in the form conf_fixed_apply reads back. */
void conf_fixed_format(const struct conf *c, const struct conf_fixed_key *k, char *buf,
		       size_t size);

/* Validate a remote value of the given type and write its normalised form
 * (see struct conf_kv) as a new string into *out; false with why set if
 * invalid, or with *out NULL and why empty if memory ran out. */
bool conf_value_normalise(enum conf_type type, const char *value, char **out, char *why,
			  size_t why_size);

/* Write a normalised remote value back in the form its parser accepts
 * (durations get a unit again). */
void conf_value_format(enum conf_type type, const char *normalised, char *buf, size_t size);

/* Read the leading decimal digits of s into *v; false if there are none or
 * the number does not fit.  *end points past the digits. */
bool conf_read_digits(const char *s, uint64_t *v, const char **end);

/* A duration in nanoseconds (exact), the parser behind conf_parse_duration. */
bool conf_parse_duration_ns(const char *s, int64_t *ns);
void conf_format_duration_ns(int64_t ns, char *buf, size_t size);

/* ns (not negative) in decimal seconds, exactly, with no trailing zeros:
 * "30", "1.5", "0.25". */
void conf_format_seconds_ns(int64_t ns, char *buf, size_t size);

/* A retention rule in the unit natural to its backup type when it divides
 * evenly (keep_daily = 7d, keep_weekly = 4w, keep_change = 24h), months
 * spelt out (12months, 1month), else in keep_rule_format's form (90min). */
void conf_format_keep(const struct keep_rule *r, enum backup_type type, char *buf,
		      size_t size);

/* A retention rule written with the bare "m" unit ("30m"): months, which a
 * reader may take for minutes; the loader warns. */
bool conf_keep_ambiguous(const char *s);

bool conf_parse_schedule(const char *s, enum conf_vtype kind, struct conf_schedule *out);
void conf_format_schedule(const struct conf_schedule *s, enum conf_vtype kind, char *buf,
			  size_t size);

/* "scheme://something": a scheme as RFC 3986 spells it, then a non-empty
 * rest with no spaces or control characters. */
bool conf_url_valid(const char *s);

/* Check a time zone name; on failure why says what is wrong. */
bool conf_check_timezone(const char *name, const char *tzdir, char *why, size_t why_size);

/* Levenshtein distance, case-insensitive, capped: used for "did you mean". */
size_t conf_edit_distance(const char *a, const char *b);

#endif
