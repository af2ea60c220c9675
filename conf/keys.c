/*
 * The fixed sections' keys as one table: section, key, value type and the
 * field of struct conf it fills.  Parsing, printing, the environment names
 * and "unknown key" checks all walk this table, so a new key is one line
 * here plus its field in conf.h.
 */
#include "conf/conf_internal.h"
#include "crypto/agekey.h"
#include "crypto/sign.h"

#include <openssl/crypto.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define FIELD(f) offsetof(struct conf, f)
/* A retention rule: its field and the backup type it is for. */
#define KEEP(t) VT_KEEP, FIELD(local_keep.keep[t]), t

/* Grouped by section, in the order conf_print writes them. */
const struct conf_fixed_key conf_fixed_keys[] = {
	{"database", "path", VT_PATH, FIELD(db_path), BT_COUNT},
	{"database", "mode", VT_MODE, FIELD(db_mode), BT_COUNT},
	{"local", "dir", VT_PATH, FIELD(local_dir), BT_COUNT},
	{"local", "keep_daily", KEEP(BT_DAILY)},
	{"local", "keep_weekly", KEEP(BT_WEEKLY)},
	{"local", "keep_monthly", KEEP(BT_MONTHLY)},
	{"local", "keep_change", KEEP(BT_CHANGE)},
	{"local", "keep_increments", VT_KEEP, FIELD(local_keep.increments), BT_CHANGE},
	{"local", "compression", VT_COMPRESSION, FIELD(compression), BT_COUNT},
	{"local", "threads", VT_THREADS, FIELD(threads), BT_COUNT},
	{"local", "lock_timeout", VT_DURATION, FIELD(lock_timeout), BT_COUNT},
	{"local", "busy_timeout", VT_DURATION, FIELD(busy_timeout), BT_COUNT},
	{"local", "encrypt", VT_BOOL, FIELD(local_encrypt), BT_COUNT},
	{"local", "max_lag", VT_DURATION, FIELD(local_max_lag), BT_COUNT},
	{"local", "max_age", VT_DURATION, FIELD(local_max_age), BT_COUNT},
	{"schedule", "daily", VT_DAILY, FIELD(daily), BT_COUNT},
	{"schedule", "weekly", VT_WEEKLY, FIELD(weekly), BT_COUNT},
	{"schedule", "monthly", VT_MONTHLY, FIELD(monthly), BT_COUNT},
	{"schedule", "timezone", VT_TIMEZONE, FIELD(timezone), BT_COUNT},
	{"schedule", "catch_up", VT_BOOL, FIELD(catch_up), BT_COUNT},
	{"watch", "enabled", VT_BOOL, FIELD(watch_enabled), BT_COUNT},
	{"watch", "quiet", VT_DURATION, FIELD(watch_quiet), BT_COUNT},
	{"watch", "min_interval", VT_DURATION, FIELD(watch_min_interval), BT_COUNT},
	{"watch", "max_delay", VT_DURATION, FIELD(watch_max_delay), BT_COUNT},
	{"replicate", "enabled", VT_BOOL, FIELD(replicate_enabled), BT_COUNT},
	{"replicate", "interval", VT_DURATION, FIELD(replicate_interval), BT_COUNT},
	{"replicate", "rebase_share", VT_PERCENT, FIELD(replicate_rebase_share), BT_COUNT},
	{"restore", "max_size", VT_SIZE, FIELD(restore_max_size), BT_COUNT},
	{"sync", "retry_min", VT_DURATION, FIELD(sync_retry_min), BT_COUNT},
	{"sync", "retry_max", VT_DURATION, FIELD(sync_retry_max), BT_COUNT},
	{"sync", "reconcile_interval", VT_DURATION, FIELD(sync_reconcile_interval), BT_COUNT},
	{"encryption", "recipients", VT_RECIPIENTS, FIELD(enc_recipients), BT_COUNT},
	{"encryption", "identity", VT_IDENTITY, FIELD(enc_identity), BT_COUNT},
	{"encryption", "passphrase", VT_SECRET, FIELD(enc_passphrase), BT_COUNT},
	{"signing", "key", VT_SIGN_KEY, FIELD(sign_key), BT_COUNT},
	{"signing", "verify_key", VT_VERIFY_KEY, FIELD(sign_verify_key), BT_COUNT},
	{"drill", "schedule", VT_WEEKLY, FIELD(drill_schedule), BT_COUNT},
	{"drill", "check_sql", VT_SQL, FIELD(drill_check_sql), BT_COUNT},
	{"drill", "dir", VT_OPT_PATH, FIELD(drill_dir), BT_COUNT},
	{"alert", "max_lag", VT_DURATION, FIELD(alert_max_lag), BT_COUNT},
	{"alert", "max_age", VT_DURATION, FIELD(alert_max_age), BT_COUNT},
	{"alert", "exec", VT_OPT_PATH, FIELD(alert_exec), BT_COUNT},
	{"metrics", "listen", VT_LISTEN, FIELD(metrics_listen), BT_COUNT},
	{"log", "format", VT_LOG_FORMAT, FIELD(log_format), BT_COUNT},
	{"log", "level", VT_LOG_LEVEL, FIELD(log_level), BT_COUNT},
};
const size_t conf_n_fixed_keys = sizeof(conf_fixed_keys) / sizeof(conf_fixed_keys[0]);

static const char *const level_names[] = {
	[LOG_DEBUG] = "debug", [LOG_INFO] = "info", [LOG_WARN] = "warn", [LOG_ERROR] = "error",
};
static const char *const format_names[] = {
	[LOG_FORMAT_TEXT] = "text", [LOG_FORMAT_JSON] = "json",
};

int conf_fixed_find(const char *section, const char *key)
{
	for (size_t i = 0; i < conf_n_fixed_keys; i++)
		if (strcasecmp(conf_fixed_keys[i].section, section) == 0 &&
		    strcasecmp(conf_fixed_keys[i].key, key) == 0)
			return (int)i;
	return -1;
}

void conf_fixed_env_name(const struct conf_fixed_key *k, char *buf, size_t size)
{
	snprintf(buf, size, "CBSYNC_%s_%s", k->section, k->key);
	for (char *p = buf; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

static void *field(struct conf *c, const struct conf_fixed_key *k)
{
	return (char *)c + k->offset;
}

static const void *cfield(const struct conf *c, const struct conf_fixed_key *k)
{
	return (const char *)c + k->offset;
}

/* "HOST:PORT": an IPv4 address, localhost or a bracketed IPv6 address, and
 * a port 1..65535. */
static bool listen_valid(const char *s)
{
	const char *colon = strrchr(s, ':');
	if (!colon || colon == s)
		return false;
	char *end = NULL;
	long port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || port < 1 || port > 65535)
		return false;
	size_t hlen = (size_t)(colon - s);
	char host[64];
	if (hlen >= sizeof(host))
		return false;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (strcmp(host, "localhost") == 0)
		return true;
	unsigned char addr[16];
	if (host[0] == '[' && host[hlen - 1] == ']') {
		host[hlen - 1] = '\0';
		return inet_pton(AF_INET6, host + 1, addr) == 1;
	}
	return inet_pton(AF_INET, host, addr) == 1;
}

bool conf_vtype_secret(enum conf_vtype t)
{
	return t == VT_IDENTITY || t == VT_SECRET || t == VT_SIGN_KEY;
}

/* Replace a secret string field, wiping the old value. */
static void drop_secret(char **f)
{
	if (*f)
		OPENSSL_cleanse(*f, strlen(*f));
	free(*f);
	*f = NULL;
}

/* The optional key types of [encryption] and [signing]: an empty value
 * unsets them. */
static bool apply_key(char **f, enum conf_vtype type, const char *value, char *why,
		      size_t why_size, bool *nomem)
{
	char *norm = NULL;
	if (!*value) {
		drop_secret(f);
		return true;
	}
	switch (type) {
	case VT_RECIPIENTS: {
		uint8_t(*keys)[AGE_KEY_LEN] = NULL;
		size_t n = 0;
		if (!age_recipients_parse(value, &keys, &n, &norm, why, why_size))
			return false;
		free(keys);
		if (n > 64) {
			free(norm);
			snprintf(why, why_size, "has %zu recipients (at most 64)", n);
			return false;
		}
		break;
	}
	case VT_IDENTITY: {
		uint8_t(*keys)[AGE_KEY_LEN] = NULL;
		size_t n = 0;
		if (!age_identities_parse(value, &keys, &n, why, why_size))
			return false;
		OPENSSL_cleanse(keys, n * AGE_KEY_LEN);
		free(keys);
		break;
	}
	case VT_SIGN_KEY: {
		struct sign_key *k = NULL;
		if (!sign_key_private(value, &k, why, why_size))
			return false;
		sign_key_free(k);
		break;
	}
	case VT_VERIFY_KEY: {
		struct sign_key *k = NULL;
		if (!sign_key_public(value, &k, why, why_size))
			return false;
		norm = strdup(sign_key_public_line(k));
		sign_key_free(k);
		if (!norm)
			return !(*nomem = true);
		break;
	}
	default:
		break;
	}
	if (!norm && !(norm = strdup(value)))
		return !(*nomem = true);
	drop_secret(f);
	*f = norm;
	return true;
}

/* Replace a string field; false if memory ran out. */
static bool set_str(char **f, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return false;
	free(*f);
	*f = copy;
	return true;
}

bool conf_fixed_apply(struct conf *c, const struct conf_fixed_key *k, const char *value,
		      const char *tzdir, char *why, size_t why_size, bool *nomem)
{
	void *f = field(c, k);
	*nomem = false;

	switch (k->type) {
	case VT_PATH:
		if (!*value) {
			snprintf(why, why_size, "is empty (a path is needed)");
			return false;
		}
		if (!set_str(f, value))
			return !(*nomem = true);
		return true;
	case VT_KEEP:
		if (!conf_parse_keep(value, f)) {
			snprintf(why, why_size, "is not a retention rule "
				 "(e.g. 7d, 4w, 12months, 24h, 90min, forever, off)");
			return false;
		}
		return true;
	case VT_COMPRESSION:
		if (strlen(value) != 1 || value[0] < '1' || value[0] > '9') {
			snprintf(why, why_size, "is not a compression level (1 fastest .. 9 smallest)");
			return false;
		}
		*(int *)f = value[0] - '0';
		return true;
	case VT_DURATION:
		if (!conf_parse_duration(value, f)) {
			snprintf(why, why_size, "is not a duration (e.g. 5s, 2min)");
			return false;
		}
		return true;
	case VT_DAILY:
	case VT_WEEKLY:
	case VT_MONTHLY:
		if (!conf_parse_schedule(value, k->type, f)) {
			snprintf(why, why_size, "%s",
				 k->type == VT_DAILY ?
				 "is not a time of day (HH:MM or HH:MM:SS, or off)" :
				 k->type == VT_WEEKLY ?
				 "is not a weekly schedule (a day and a time, e.g. sun 03:00, or off)" :
				 "is not a monthly schedule (a day 1..31 and a time, e.g. 1 04:00, "
				 "or off)");
			return false;
		}
		return true;
	case VT_TIMEZONE: {
		const char *tz = strcasecmp(value, "UTC") == 0 ? "UTC" : value;
		if (!conf_check_timezone(tz, tzdir, why, why_size))
			return false;
		if (!set_str(f, tz))
			return !(*nomem = true);
		return true;
	}
	case VT_THREADS: {
		char *end = NULL;
		long n = strtol(value, &end, 10);
		if (strcasecmp(value, "auto") == 0) {
			*(int *)f = 0;
			return true;
		}
		if (!*value || *end || n < 1 || n > 64) {
			snprintf(why, why_size, "is not a thread count (auto, or 1..64)");
			return false;
		}
		*(int *)f = (int)n;
		return true;
	}
	case VT_PERCENT: {
		char *end = NULL;
		long n = strtol(value, &end, 10);
		if (strcasecmp(value, "off") == 0) {
			*(int *)f = 0;
			return true;
		}
		if (end && *end == '%')
			end++;
		if (!*value || *end || n < 1 || n > 1000) {
			snprintf(why, why_size, "is not a percentage (1%% .. 1000%%, e.g. 50%%) or off");
			return false;
		}
		*(int *)f = (int)n;
		return true;
	}
	case VT_SIZE: {
		unsigned long long v;
		if (!conf_parse_size(value, &v) || v == 0) {
			snprintf(why, why_size, "is not a size (e.g. 512M, 64G, 1T)");
			return false;
		}
		*(uint64_t *)f = (uint64_t)v;
		return true;
	}
	case VT_MODE: {
		char *end = NULL;
		unsigned long m = strtoul(value, &end, 8);
		/* Owner read and write at least, nothing beyond rw for anyone. */
		if (!*value || *end || (m & ~0666ul) || (m & 0600) != 0600) {
			snprintf(why, why_size, "is not a file mode in octal with owner read and "
				 "write and no execute bits (e.g. 0600, 0640, 0660)");
			return false;
		}
		*(unsigned *)f = (unsigned)m;
		return true;
	}
	case VT_LISTEN: {
		char **field_str = f;
		if (strcasecmp(value, "off") == 0 || strcasecmp(value, "never") == 0 || !*value) {
			free(*field_str);
			*field_str = NULL;
			return true;
		}
		if (!listen_valid(value)) {
			snprintf(why, why_size, "is not HOST:PORT (e.g. 127.0.0.1:9464, "
				 "[::1]:9464, or off)");
			return false;
		}
		if (!set_str(field_str, value))
			return !(*nomem = true);
		return true;
	}
	case VT_BOOL:
		if (!conf_parse_bool(value, f)) {
			snprintf(why, why_size,
				 "is not a boolean (true/false, yes/no, on/off, 1/0)");
			return false;
		}
		return true;
	case VT_RECIPIENTS:
	case VT_IDENTITY:
	case VT_SECRET:
	case VT_SIGN_KEY:
	case VT_VERIFY_KEY:
	case VT_SQL:
	case VT_OPT_PATH:
		return apply_key(f, k->type, value, why, why_size, nomem);
	case VT_LOG_LEVEL:
		for (int l = LOG_DEBUG; l <= LOG_ERROR; l++) {
			if (strcasecmp(value, level_names[l]) == 0) {
				*(enum log_level *)f = (enum log_level)l;
				return true;
			}
		}
		snprintf(why, why_size, "is not a log level (debug, info, warn, error)");
		return false;
	case VT_LOG_FORMAT:
		for (int l = LOG_FORMAT_TEXT; l <= LOG_FORMAT_JSON; l++) {
			if (strcasecmp(value, format_names[l]) == 0) {
				*(enum log_format *)f = (enum log_format)l;
				return true;
			}
		}
		snprintf(why, why_size, "is not a log format (text, json)");
		return false;
	}
	snprintf(why, why_size, "cannot be parsed");
	return false;
}

void conf_fixed_format(const struct conf *c, const struct conf_fixed_key *k, char *buf,
		       size_t size)
{
	const void *f = cfield(c, k);
	switch (k->type) {
	case VT_PATH:
	case VT_TIMEZONE: {
		const char *s = *(char *const *)f;
		snprintf(buf, size, "%s", s ? s : "");
		return;
	}
	case VT_LISTEN: {
		const char *s = *(char *const *)f;
		snprintf(buf, size, "%s", s ? s : "off");
		return;
	}
	case VT_RECIPIENTS:
	case VT_VERIFY_KEY:
	case VT_SQL:
	case VT_OPT_PATH: {
		const char *s = *(char *const *)f;
		snprintf(buf, size, "%s", s ? s : "");
		return;
	}
	case VT_IDENTITY:
	case VT_SECRET:
	case VT_SIGN_KEY: {
		const char *s = *(char *const *)f;
		snprintf(buf, size, "%s", s ? CONF_SECRET_MASK : "");
		return;
	}
	case VT_THREADS: {
		int n = *(const int *)f;
		if (n)
			snprintf(buf, size, "%d", n);
		else
			snprintf(buf, size, "auto");
		return;
	}
	case VT_SIZE: {
		uint64_t v = *(const uint64_t *)f;
		if (v % (UINT64_C(1) << 30) == 0)
			snprintf(buf, size, "%lluG", (unsigned long long)(v >> 30));
		else if (v % (UINT64_C(1) << 20) == 0)
			snprintf(buf, size, "%lluM", (unsigned long long)(v >> 20));
		else
			snprintf(buf, size, "%llu", (unsigned long long)v);
		return;
	}
	case VT_MODE:
		snprintf(buf, size, "%04o", *(const unsigned *)f);
		return;
	case VT_KEEP:
		conf_format_keep(f, k->keep, buf, size);
		return;
	case VT_COMPRESSION:
		snprintf(buf, size, "%d", *(const int *)f);
		return;
	case VT_PERCENT:
		if (*(const int *)f)
			snprintf(buf, size, "%d%%", *(const int *)f);
		else
			snprintf(buf, size, "off");
		return;
	case VT_DURATION:
		conf_format_duration(*(const double *)f, buf, size);
		return;
	case VT_DAILY:
	case VT_WEEKLY:
	case VT_MONTHLY:
		conf_format_schedule(f, k->type, buf, size);
		return;
	case VT_BOOL:
		snprintf(buf, size, "%s", *(const bool *)f ? "true" : "false");
		return;
	case VT_LOG_LEVEL: {
		enum log_level l = *(const enum log_level *)f;
		snprintf(buf, size, "%s", l >= LOG_DEBUG && l <= LOG_ERROR ? level_names[l] : "info");
		return;
	}
	case VT_LOG_FORMAT: {
		enum log_format l = *(const enum log_format *)f;
		snprintf(buf, size, "%s", l == LOG_FORMAT_JSON ? "json" : "text");
		return;
	}
	}
	buf[0] = '\0';
}
