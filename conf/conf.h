/*
 * Configuration: one immutable struct built, in increasing priority, from
 *   1. the built-in defaults, which reproduce the seed tool exactly;
 *   2. one INI file: --config PATH, else $CBSYNC_CONFIG, else
 *      /etc/cbsync/cbsync.conf if it exists (else none);
 *   3. environment variables: CBSYNC_<SECTION>_<KEY> for every key
 *      (CBSYNC_LOCAL_DIR, CBSYNC_WATCH_QUIET, ...) and
 *      CBSYNC_REMOTE_<NAME>_<KEY> for remotes (a remote can be defined by the
 *      environment alone), plus the seed-era CBSYNC_DB and CBSYNC_BACKUP_DIR;
 *   4. command-line flags (--db, --dir).
 * Everything is validated before anything runs; an error names the file and
 * line (or the environment variable), the section and key, and what is wrong:
 *   cbsync.conf:12: [watch] quiet: "5 seconds" is not a duration (e.g. 5s, 2min)
 * Unknown sections and keys are errors.
 *
 * The file format (see README.md, "Configuration"):
 *   [database]  path = ai_db/cloudbrain.db  mode = 0600
 *   [local]     dir = ai_db/backups
 *               keep_daily = 7d  keep_weekly = 4w  keep_monthly = 12months
 *               keep_change = 24h  compression = 6  threads = auto  lock_timeout = 10s
 *               busy_timeout = 30s
 *   [schedule]  daily = 02:00  weekly = sun 03:00  monthly = 1 04:00
 *               timezone = UTC  catch_up = true
 *   [watch]     enabled = true  quiet = 5s  min_interval = 60s  max_delay = 5m
 *   [restore]   max_size = 64G
 *   [sync]      retry_min = 10s  retry_max = 15m
 *   [metrics]   listen = off | HOST:PORT  (HOST an IPv4 address, localhost or [IPv6])
 *   [log]       format = text|json  level = info
 *   [remote "NAME"]  type = local|sftp|s3, keep_* (default: the local
 *               tier's), and the keys of the backend named by type.
 * Values: durations "90s" "5min" (or "5m") "24h" "7d" "4w"; retention rules
 * (keep_*) the same units and calendar months "12mo" / "12months" / "1month"
 * and years "2y" -- there a bare "12m" still means 12 months, as it always
 * has, but draws a warning, since everywhere else "m" is minutes; booleans
 * true/false/yes/no/on/off/1/0; "off"/"never" disables a schedule or a
 * retention rule and "forever" keeps a type forever.  "${VAR}" in a value
 * expands from the environment ("$$" is a literal "$").  Any key may instead
 * be given as KEY_file = PATH (environment: ..._FILE), whose content (one
 * trailing newline removed) is the value, so secrets stay out of the file.
 *
 * Details a user can rely on:
 *   - Section and key names are case-insensitive; indentation is ignored;
 *     a line may be at most as long as libinih allows (199 characters in
 *     Debian's build; longer values belong in a KEY_file).
 *   - Comments: a line starting with "#" or ";", or " #" / " ;" after a
 *     value (so a value that starts with "#" must be quoted).  One pair of
 *     double quotes around a whole value is removed, so "  padded  " keeps
 *     its spaces.
 *   - Only values in the file are ${}-expanded; environment values and
 *     file contents are taken literally.  An empty environment variable
 *     counts as unset.
 *   - Sizes are binary: 1k = 1024 bytes, and 16M, 16MB and 16MiB are all
 *     16 * 1024 * 1024 bytes.
 *   - Remote names are lower-cased, [a-z0-9_]+, unique, and not "local" or
 *     "all" (those name tiers on the command line).
 *   - Other CBSYNC_* variables are errors (typos must not pass silently),
 *     except CBSYNC_CONFIG, CBSYNC_BIN, CBSYNC_DEMO_DIR, CBSYNC_CONTRACT_BIN,
 *     CBSYNC_RESTORE_ON_START (the container entrypoint's),
 *     CBSYNC_TEST_* and
 *     CBSYNC_BENCH_*, which belong to the tools around cbsync.
 */
#ifndef CBSYNC_CONF_H
#define CBSYNC_CONF_H

#include "common/log.h"
#include "common/result.h"
#include "retention/retention.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_DEFAULT_DB "ai_db/cloudbrain.db"
#define CONF_DEFAULT_DIR "ai_db/backups"
#define CONF_SYSTEM_PATH "/etc/cbsync/cbsync.conf"

/* One schedule: when a daily, weekly or monthly backup falls due, in the
 * [schedule] timezone. */
struct conf_schedule {
	bool enabled;           /* false for "off"/"never" */
	int hour, minute, second;
	int weekday;            /* weekly: 0 = Sunday .. 6 = Saturday */
	int mday;               /* monthly: 1..31; past a month's end, its last day */
};

/* The type of a backend-specific key, and the C type of the field its
 * typed value goes into in the backend's settings struct. */
enum conf_type {
	CONF_STRING,            /* char * */
	CONF_BOOL,              /* bool */
	CONF_INT,               /* int64_t */
	CONF_SIZE,              /* uint64_t bytes: "16M", "5MiB" */
	CONF_DURATION,          /* double seconds: "30s", "5m" */
	CONF_PATH,              /* char *, not empty */
	CONF_URL,               /* char * */
};

/* One key a backend accepts in its [remote "NAME"] section: an entry of its
 * config map, which parses, validates and documents (`cbsync help
 * backends`) the key, and says where its typed value goes. */
struct conf_key_spec {
	const char *key;
	enum conf_type type;
	size_t offset;              /* of its field in the backend's settings struct */
	const char *default_value;  /* NULL: no default */
	bool required;
	bool secret;                /* masked by `config check`, never logged */
	/* CONF_INT, CONF_SIZE and CONF_DURATION (in seconds): the values the
	 * backend can work with, min to max inclusive, and the error line for
	 * a value outside them (NULL: any value of the type will do).  Checked
	 * when the remote is opened (conf_remote_check_ranges), so that such a
	 * remote fails alone and the configuration still loads. */
	double min, max;
	const char *out_of_range;
	const char *description;
};

/* .type and .offset of a config map entry for field of the settings struct
 * stype, which must have the C type that CONF_<t> stores (or this does not
 * compile):
 *   {.key = "bucket", CONF_MAP(STRING, struct s3_settings, bucket), ...} */
#define CONF_MAP(t, stype, field) \
	.type = CONF_##t, \
	.offset = _Generic(((stype *)0)->field, CONF_CTYPE_##t: offsetof(stype, field))
#define CONF_CTYPE_STRING char *
#define CONF_CTYPE_BOOL bool
#define CONF_CTYPE_INT int64_t
#define CONF_CTYPE_SIZE uint64_t
#define CONF_CTYPE_DURATION double
#define CONF_CTYPE_PATH char *
#define CONF_CTYPE_URL char *

/* A backend type as the configuration sees it. */
struct conf_remote_type {
	const char *type;           /* "local", "sftp", "s3" */
	const char *description;
	const struct conf_key_spec *keys; /* its config map */
	size_t n_keys;
	size_t settings_size;       /* of its settings struct; 0: it has none */
};

/* A validated key = value of a remote (value normalised: sizes and durations
 * as decimal numbers of bytes / seconds, booleans as "true"/"false"): what
 * `config check` prints, and where each value came from. */
struct conf_kv {
	char *key;
	char *value;
	const struct conf_key_spec *spec;
	char *origin;               /* "cbsync.conf:14" or "CBSYNC_REMOTE_X_Y" or "default" */
};

struct conf_remote {
	char *name;                 /* lower case: [a-z0-9_]+ */
	const struct conf_remote_type *type;
	struct retention_policy keep;   /* defaults to the local tier's */
	/* encrypt: its new objects are age files for [encryption] recipients.
	 * Defaults to true when recipients are set, else false. */
	bool encrypt;
	char *encrypt_origin;       /* where encrypt came from, NULL: the default */
	/* max_lag, max_age: when it is stale (seconds).  max_lag is [alert]'s
	 * when not given (origin NULL); max_age 0 is off, the default. */
	double max_lag, max_age;
	char *max_lag_origin, *max_age_origin;
	struct conf_kv *kv;         /* every key of the type's map that has a value */
	size_t n_kv;
	/* The type's settings struct (type->settings_size bytes, NULL if 0):
	 * each key's typed value at its spec's offset, defaults applied; a key
	 * with neither a value nor a default leaves its field zero (NULL for a
	 * string).  Strings are owned here; conf_free frees them. */
	void *settings;
	char *type_origin;          /* where type came from (as conf_kv.origin) */
	/* Where each keep_* came from, by backup type, and keep_increments's
	 * at [CONF_KEEP_INCREMENTS]; "[local] keep_daily" when inherited; NULL
	 * for types not configurable. */
	char *keep_origin[BT_COUNT + 1];
};

/* keep_origin's slot for keep_increments (its rule is keep.increments). */
#define CONF_KEEP_INCREMENTS BT_COUNT

struct conf {
	char *source;               /* the file read, or NULL for none */
	char *system_path;          /* the system file looked for when neither --config
				     * nor $CBSYNC_CONFIG named one (for messages) */
	char *db_path;              /* [database] path */
	unsigned db_mode;           /* [database] mode: a restored new database's mode, 0600 */
	char *local_dir;            /* [local] dir */
	struct retention_policy local_keep; /* [local] keep_* */
	int compression;            /* [local] compression, 1..9 */
	int threads;                /* [local] threads: compression threads, 0 = one per CPU */
	double lock_timeout;        /* [local] lock_timeout, seconds */
	double busy_timeout;        /* [local] busy_timeout: how long a backup waits
				     * for a locked database, seconds */
	bool local_encrypt;         /* [local] encrypt: its new backups and increments
				     * are age files for [encryption] recipients */
	struct conf_schedule daily, weekly, monthly; /* [schedule] */
	struct conf_schedule drill_schedule; /* [drill] schedule: when the agent drills */
	char *drill_check_sql;      /* [drill] check_sql: statements that must each
				     * return a true value, or NULL */
	char *drill_dir;            /* [drill] dir: scratch space, NULL: beside the
				     * database (.cbsync-drill) */
	double alert_max_lag;       /* [alert] max_lag: a tier lacking a change this
				     * long is stale, seconds */
	double alert_max_age;       /* [alert] max_age: a newest snapshot this old is
				     * stale while a schedule expects one, seconds */
	double local_max_lag;       /* [local] max_lag, max_age: the local tier's own,
				     * [alert]'s when not given */
	double local_max_age;
	char *alert_exec;           /* [alert] exec: run on each change of a tier's
				     * health, the event as JSON on stdin; NULL: none */
	char *timezone;             /* [schedule] timezone: "UTC" or an IANA name */
	bool catch_up;              /* [schedule] catch_up */
	bool watch_enabled;         /* [watch] enabled */
	double watch_quiet;         /* [watch] quiet, seconds */
	double watch_min_interval;  /* [watch] min_interval, seconds */
	double watch_max_delay;     /* [watch] max_delay, seconds */
	bool replicate_enabled;     /* [replicate] enabled: increments between snapshots */
	double replicate_interval;  /* [replicate] interval, seconds */
	int replicate_rebase_share; /* [replicate] rebase_share: a new snapshot once a
				     * chain's increments reach this percent of it */
	uint64_t restore_max_size;  /* [restore] max_size: the most a backup without
				     * metadata may decompress to (64G) */
	double sync_retry_min;      /* [sync] retry_min: first retry of a failed sync */
	double sync_retry_max;      /* [sync] retry_max: the longest wait between retries */
	double sync_reconcile_interval; /* [sync] reconcile_interval: list each remote at least
					 * this often (between, the agent's own record) */
	/* [encryption]: the age recipients every encrypted tier's new objects are
	 * for ("age1..., age1..."), and what restores decrypt with: identities
	 * (AGE-SECRET-KEY-1... lines) and a passphrase.  NULL when unset.  The
	 * secrets come from identity_file / passphrase_file or the environment,
	 * never the config file itself. */
	char *enc_recipients;
	char *enc_identity;
	char *enc_passphrase;
	/* [signing]: the Ed25519 key that signs new metadata (PEM, secret, from
	 * key_file), and the public key restores insist on (one base64 line). */
	char *sign_key;
	char *sign_verify_key;
	char *metrics_listen;       /* [metrics] listen: "127.0.0.1:9464", NULL when off */
	enum log_level log_level;   /* [log] level */
	enum log_format log_format; /* [log] format */
	struct conf_remote *remotes;
	size_t n_remotes;
	char **origins;             /* private: where each value came from; see conf_origin */
	char **warnings;            /* risky but valid set-ups, one line each, for the
				     * caller to show (see conf_load) */
	size_t n_warnings;
};

struct conf_load_opts {
	const char *path;           /* --config, or NULL to use $CBSYNC_CONFIG / the system file */
	const char *db_flag;        /* --db, or NULL */
	const char *dir_flag;       /* --dir, or NULL */
	const struct conf_remote_type *remote_types; /* the compiled-in backends */
	size_t n_remote_types;
	char **environ;             /* the environment to read (NULL: the process's) */
	const char *system_path;    /* NULL: CONF_SYSTEM_PATH (tests point it elsewhere) */
};

/* Build the configuration; on error c is left empty (conf_free is safe).
 *
 * Limits: the config file and every KEY_file must be regular files (not a
 * FIFO, device or directory), the config at most 1 MiB and a KEY_file at
 * most 64 KiB; anything else is an error, without blocking or reading on.
 * A URL value may not hold a password, and an http(s):// URL no user name
 * either: credentials belong in the remote's own keys.
 *
 * A valid configuration can still be risky; c->warnings then holds one line
 * for each of: a config file others can read or change, one in a directory
 * others can write to, a secret's KEY_file others can read or change, a
 * plain http:// URL to a host other than this machine, and a keep_* rule
 * written with a bare "m" (months, easily read as minutes).  Lines do not start
 * with "Warning:"; the caller adds what its output needs. */
enum result conf_load(struct conf *c, const struct conf_load_opts *opts, struct error *err);

/* The built-in defaults alone. */
enum result conf_defaults(struct conf *c, struct error *err);

/* Write the effective configuration as an INI file that conf_load would
 * accept, secrets masked, with a comment naming where each value came from. */
void conf_print(const struct conf *c, FILE *out);

/* A remote's value for key (normalised as in struct conf_kv), or NULL. */
const char *conf_remote_get(const struct conf_remote *r, const char *key);

/* CB_OK if each of r's typed values lies within its key's range (struct
 * conf_key_spec: min, max); else CB_ERR_CONFIG with the first offending
 * key's out_of_range line, in the order of the type's keys.  A backend's
 * open calls it before it relies on those values. */
enum result conf_remote_check_ranges(const struct conf_remote *r, struct error *err);

/* Free r->settings and the strings in it (secrets wiped first); conf_free
 * does this for every remote. */
void conf_remote_settings_free(struct conf_remote *r);

/* The remote called name, or NULL. */
const struct conf_remote *conf_remote_find(const struct conf *c, const char *name);

/* Where the configuration came from, for a message about a name it does not
 * define ("there is no tier named 'offsite'"): the file read and the remotes
 * configured, or, when no file was read, where cbsync looked and what to do:
 *   no configuration file was read (looked for --config, $CBSYNC_CONFIG,
 *   /etc/cbsync/cbsync.conf; ./cbsync.conf is not read unless named); no
 *   remotes are configured; HINT: name the file with --config PATH (or
 *   CBSYNC_CONFIG=PATH)
 * One line; 512 bytes hold it unless the remotes' names are very long (it
 * is then cut short).  Looks at whether ./cbsync.conf exists, for the hint. */
void conf_describe_sources(const struct conf *c, char *buf, size_t size);

/* Where [section] key's effective value came from: "default",
 * "cbsync.conf:12", "CBSYNC_WATCH_QUIET", "--db"; NULL if there is no such
 * key (remotes: see struct conf_remote). */
const char *conf_origin(const struct conf *c, const char *section, const char *key);

/* Replace a string field with a copy of value. */
enum result conf_set_string(char **field, const char *value, struct error *err);

void conf_free(struct conf *c);

/* Value parsers, shared with the backends.  Each returns false if s is not
 * of the form; none accepts trailing garbage. */
bool conf_parse_duration(const char *s, double *seconds);       /* 90s 5m 24h 7d 4w 1.5s 250ms */
bool conf_parse_keep(const char *s, struct keep_rule *rule);     /* 7d 4w 12mo 24h 90min forever off never */
bool conf_parse_size(const char *s, unsigned long long *bytes); /* 16M 5MiB 1G 512k 100 */
bool conf_parse_bool(const char *s, bool *out);

/* An exact form of a duration that conf_parse_duration reads
 * back, in the largest unit that divides it: "5s", "5min", "24h", "1w",
 * "1500ms"; fractional seconds only below a millisecond. */
void conf_format_duration(double seconds, char *buf, size_t size);

/* A retention rule for people (logs, messages; not for reading back):
 * "30 months", "7 days", "4 weeks", "24 hours", "90 minutes", "forever",
 * in the unit natural to the backup type when it divides evenly. */
void conf_format_keep_long(const struct keep_rule *r, enum backup_type type, char *buf,
			   size_t size);

/* A whole policy the same way: "daily 7 days, weekly 4 weeks, monthly
 * 12 months, change 24 hours" (about 120 bytes is always enough). */
void conf_format_policy_long(const struct retention_policy *p, char *buf, size_t size);

#endif
