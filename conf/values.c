/*
 * Value parsers and formatters: durations, retention rules, sizes, booleans,
 * schedules, time zones and the typed values of remote keys.
 *
 * Every parser takes the whole string and rejects anything it does not fully
 * understand: no leading or trailing spaces, no signs, no exponents, no
 * trailing garbage ("5 seconds", "-1s", "1.5.2s", "1x" and a bare "12" for a
 * duration are all errors).  Durations are computed in integer nanoseconds so
 * that a value printed by a formatter here reads back to exactly the same
 * number.
 */
#include "conf/conf_internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define NS_PER_SEC INT64_C(1000000000)
#define SEC_PER_DAY INT64_C(86400)
/* Upper bound for any duration or retention window: 100 years.  Nothing
 * sensible is longer, and it keeps the arithmetic far from overflow. */
#define MAX_SECONDS (INT64_C(36525) * SEC_PER_DAY)
#define MAX_NS (MAX_SECONDS * NS_PER_SEC)
#define MAX_MONTHS INT64_C(1200)

struct unit {
	const char *name;
	int64_t scale;
};

/* Duration units, in nanoseconds.  "m" is minutes here, as everywhere
 * durations are written (months exist only in retention rules, where "m"
 * means months: "min" is the form nobody misreads). */
static const struct unit duration_units[] = {
	{"ms", INT64_C(1000000)},
	{"s", NS_PER_SEC},
	{"m", 60 * NS_PER_SEC},
	{"min", 60 * NS_PER_SEC},
	{"h", 3600 * NS_PER_SEC},
	{"d", SEC_PER_DAY * NS_PER_SEC},
	{"w", 7 * SEC_PER_DAY * NS_PER_SEC},
};

static const struct unit *unit_find(const struct unit *units, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(units[i].name, name) == 0)
			return &units[i];
	return NULL;
}

/* Read the leading decimal digits of s into *v; false if there are none or
 * the number does not fit.  *end points past the digits. */
static bool read_digits(const char *s, uint64_t *v, const char **end)
{
	uint64_t x = 0;
	const char *p = s;
	while (*p >= '0' && *p <= '9') {
		unsigned d = (unsigned)(*p - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
		p++;
	}
	if (p == s)
		return false;
	*v = x;
	*end = p;
	return true;
}

static int64_t pow10_i64(int n)
{
	int64_t r = 1;
	while (n-- > 0)
		r *= 10;
	return r;
}

bool conf_parse_duration_ns(const char *s, int64_t *ns)
{
	uint64_t whole, frac = 0;
	int frac_digits = 0;
	const char *p;

	if (!s || !read_digits(s, &whole, &p))
		return false;
	if (*p == '.') {
		const char *q = p + 1;
		if (!read_digits(q, &frac, &p))
			return false;
		frac_digits = (int)(p - q);
		if (frac_digits > 9)
			return false;
	}
	const struct unit *u = unit_find(duration_units,
					 sizeof(duration_units) / sizeof(duration_units[0]), p);
	if (!u)
		return false;
	if (whole > (uint64_t)(MAX_NS / u->scale))
		return false;
	int64_t total = (int64_t)whole * u->scale;
	if (frac_digits) {
		/* The fraction must come out as whole nanoseconds. */
		int64_t div = pow10_i64(frac_digits);
		if (u->scale % div != 0)
			return false;
		total += (int64_t)frac * (u->scale / div);
	}
	if (total > MAX_NS)
		return false;
	*ns = total;
	return true;
}

bool conf_parse_duration(const char *s, double *seconds)
{
	int64_t ns;
	if (!conf_parse_duration_ns(s, &ns))
		return false;
	*seconds = (double)ns / (double)NS_PER_SEC;
	return true;
}

void conf_format_duration_ns(int64_t ns, char *buf, size_t size)
{
	/* Largest unit that divides exactly; minutes as "min" so that nobody
	 * reading the output wonders whether "m" meant months. */
	static const struct unit order[] = {
		{"w", 7 * SEC_PER_DAY * NS_PER_SEC},
		{"d", SEC_PER_DAY * NS_PER_SEC},
		{"h", 3600 * NS_PER_SEC},
		{"min", 60 * NS_PER_SEC},
		{"s", NS_PER_SEC},
		{"ms", INT64_C(1000000)},
	};
	if (ns < 0)
		ns = 0;
	if (ns == 0) {
		snprintf(buf, size, "0s");
		return;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (ns % order[i].scale == 0) {
			snprintf(buf, size, "%lld%s", (long long)(ns / order[i].scale),
				 order[i].name);
			return;
		}
	}
	/* Sub-millisecond precision: fractional seconds, trailing zeros cut. */
	char frac[16];
	snprintf(frac, sizeof(frac), "%09lld", (long long)(ns % NS_PER_SEC));
	size_t n = strlen(frac);
	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	snprintf(buf, size, "%lld.%ss", (long long)(ns / NS_PER_SEC), frac);
}

void conf_format_duration(double seconds, char *buf, size_t size)
{
	double ns = seconds * (double)NS_PER_SEC;
	if (!(ns >= 0))
		ns = 0;
	if (ns > (double)MAX_NS)
		ns = (double)MAX_NS;
	conf_format_duration_ns((int64_t)(ns + 0.5), buf, size);
}

/* Retention units.  Months are calendar months, so they are counted, not
 * turned into seconds.  A bare "m" is months here (the seed's documented
 * form) but minutes in a duration: it still works, and conf_keep_ambiguous
 * lets the loader warn about it. */
static const struct unit keep_second_units[] = {
	{"s", 1},
	{"min", 60},
	{"h", 3600},
	{"d", SEC_PER_DAY},
	{"w", 7 * SEC_PER_DAY},
};
static const struct unit keep_month_units[] = {
	{"m", 1},
	{"mo", 1},
	{"month", 1},
	{"months", 1},
	{"y", 12},
};

bool conf_parse_keep(const char *s, struct keep_rule *rule)
{
	uint64_t n;
	const char *p;
	const struct unit *u;

	if (!s)
		return false;
	if (strcasecmp(s, "forever") == 0 || strcasecmp(s, "off") == 0 ||
	    strcasecmp(s, "never") == 0) {
		*rule = (struct keep_rule){KEEP_FOREVER, 0};
		return true;
	}
	if (!read_digits(s, &n, &p))
		return false;
	u = unit_find(keep_month_units, sizeof(keep_month_units) / sizeof(keep_month_units[0]), p);
	if (u) {
		if (n > (uint64_t)(MAX_MONTHS / u->scale))
			return false;
		*rule = (struct keep_rule){KEEP_MONTHS, (int64_t)n * u->scale};
		return true;
	}
	u = unit_find(keep_second_units, sizeof(keep_second_units) / sizeof(keep_second_units[0]),
		      p);
	if (!u || n > (uint64_t)(MAX_SECONDS / u->scale))
		return false;
	*rule = (struct keep_rule){KEEP_SECONDS, (int64_t)n * u->scale};
	return true;
}

bool conf_keep_ambiguous(const char *s)
{
	uint64_t n;
	const char *p;
	return s && read_digits(s, &n, &p) && strcmp(p, "m") == 0;
}

/* The unit a backup type's rule reads best in, in seconds (0: none). */
static int64_t natural_unit(enum backup_type type, const char **name, const char **word)
{
	switch (type) {
	case BT_DAILY: *name = "d"; *word = "day"; return SEC_PER_DAY;
	case BT_WEEKLY: *name = "w"; *word = "week"; return 7 * SEC_PER_DAY;
	case BT_CHANGE: *name = "h"; *word = "hour"; return 3600;
	default: *name = *word = ""; return 0;
	}
}

void conf_format_keep(const struct keep_rule *r, enum backup_type type, char *buf,
		      size_t size)
{
	const char *name, *word;
	int64_t unit = natural_unit(type, &name, &word);
	if (r->kind == KEEP_MONTHS)
		snprintf(buf, size, "%lld%s", (long long)r->amount,
			 r->amount == 1 ? "month" : "months");
	else if (r->kind == KEEP_SECONDS && unit && r->amount > 0 && r->amount % unit == 0)
		snprintf(buf, size, "%lld%s", (long long)(r->amount / unit), name);
	else
		keep_rule_format(r, buf, size);
}

void conf_format_keep_long(const struct keep_rule *r, enum backup_type type, char *buf,
			   size_t size)
{
	static const struct {
		int64_t scale;
		const char *word;
	} order[] = {
		{SEC_PER_DAY, "day"}, {3600, "hour"}, {60, "minute"}, {1, "second"},
	};
	const char *name, *word = "second";
	int64_t unit = natural_unit(type, &name, &word), n = r->amount;

	if (r->kind == KEEP_FOREVER) {
		snprintf(buf, size, "forever");
		return;
	}
	if (r->kind == KEEP_MONTHS) {
		word = "month";
	} else if (n > 0 && unit && n % unit == 0) {
		n /= unit;
	} else {
		word = "second";
		for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
			if (n > 0 && n % order[i].scale == 0) {
				n /= order[i].scale;
				word = order[i].word;
				break;
			}
		}
	}
	snprintf(buf, size, "%lld %s%s", (long long)n, word, n == 1 ? "" : "s");
}

void conf_format_policy_long(const struct retention_policy *p, char *buf, size_t size)
{
	static const enum backup_type types[] = {BT_DAILY, BT_WEEKLY, BT_MONTHLY, BT_CHANGE};
	size_t o = 0;
	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]) && o + 1 < size; i++) {
		char rule[64];
		conf_format_keep_long(&p->keep[types[i]], types[i], rule, sizeof(rule));
		int w = snprintf(buf + o, size - o, "%s%s %s", i ? ", " : "",
				 backup_type_name(types[i]), rule);
		if (w < 0)
			break;
		o += (size_t)w;
	}
}

bool conf_parse_size(const char *s, unsigned long long *bytes)
{
	uint64_t n, mult = 1;
	const char *p;

	if (!s || !read_digits(s, &n, &p))
		return false;
	if (*p) {
		switch (*p) {
		case 'k': case 'K': mult = UINT64_C(1) << 10; p++; break;
		case 'm': case 'M': mult = UINT64_C(1) << 20; p++; break;
		case 'g': case 'G': mult = UINT64_C(1) << 30; p++; break;
		case 't': case 'T': mult = UINT64_C(1) << 40; p++; break;
		default: break;
		}
		/* After a multiplier: nothing, "B" or "iB"; alone: "B". */
		if (mult > 1 && strcmp(p, "iB") == 0)
			p += 2;
		else if (strcmp(p, "B") == 0)
			p++;
		if (*p)
			return false;
	}
	if (n > UINT64_MAX / mult)
		return false;
	*bytes = (unsigned long long)(n * mult);
	return true;
}

bool conf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};
	if (!s)
		return false;
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* A signed decimal integer that fits a long long. */
static bool parse_int(const char *s, long long *out)
{
	uint64_t v;
	const char *p;
	bool neg = *s == '-';
	if (!read_digits(s + neg, &v, &p) || *p)
		return false;
	if (neg ? v > (uint64_t)LLONG_MAX + 1 : v > (uint64_t)LLONG_MAX)
		return false;
	*out = neg ? (long long)(0 - v) : (long long)v;
	return true;
}

/* "scheme://something": a scheme as RFC 3986 spells it, then a non-empty
 * rest with no spaces or control characters. */
static bool url_valid(const char *s)
{
	const char *p = s;
	if (!isalpha((unsigned char)*p))
		return false;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	if (strncmp(p, "://", 3) != 0 || !p[3])
		return false;
	for (p += 3; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* Time of day: H:MM or HH:MM, optionally :SS. */
static bool parse_time_of_day(const char *s, struct conf_schedule *out)
{
	int h = 0, m, sec = 0;
	const char *p = s;
	if (!isdigit((unsigned char)p[0]))
		return false;
	h = p[0] - '0';
	p++;
	if (isdigit((unsigned char)*p)) {
		h = h * 10 + (*p - '0');
		p++;
	}
	if (p[0] != ':' || !isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
		return false;
	m = (p[1] - '0') * 10 + (p[2] - '0');
	p += 3;
	if (*p == ':') {
		if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]))
			return false;
		sec = (p[1] - '0') * 10 + (p[2] - '0');
		p += 3;
	}
	if (*p || h > 23 || m > 59 || sec > 59)
		return false;
	out->hour = h;
	out->minute = m;
	out->second = sec;
	return true;
}

static const char *const day_names[7] = {
	"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
};

/* "sun" .. "sat" or the full name, any case; n is the word's length. */
static int weekday_find(const char *s, size_t n)
{
	for (int d = 0; d < 7; d++)
		if ((n == 3 || n == strlen(day_names[d])) && strncasecmp(s, day_names[d], n) == 0)
			return d;
	return -1;
}

bool conf_parse_schedule(const char *s, enum conf_vtype kind, struct conf_schedule *out)
{
	struct conf_schedule sc = {.enabled = true};
	const char *p = s;

	if (strcasecmp(s, "off") == 0 || strcasecmp(s, "never") == 0) {
		*out = (struct conf_schedule){.enabled = false};
		return true;
	}
	if (kind == VT_WEEKLY || kind == VT_MONTHLY) {
		size_t n = strcspn(p, " \t");
		if (n == 0 || !p[n])
			return false;
		if (kind == VT_WEEKLY) {
			sc.weekday = weekday_find(p, n);
			if (sc.weekday < 0)
				return false;
		} else {
			uint64_t d;
			const char *end;
			if (!read_digits(p, &d, &end) || end != p + n || d < 1 || d > 31)
				return false;
			sc.mday = (int)d;
		}
		p += n;
		p += strspn(p, " \t");
	}
	if (!parse_time_of_day(p, &sc))
		return false;
	*out = sc;
	return true;
}

void conf_format_schedule(const struct conf_schedule *s, enum conf_vtype kind, char *buf,
			  size_t size)
{
	char tod[16];
	if (!s->enabled) {
		snprintf(buf, size, "off");
		return;
	}
	if (s->second)
		snprintf(tod, sizeof(tod), "%02d:%02d:%02d", s->hour, s->minute, s->second);
	else
		snprintf(tod, sizeof(tod), "%02d:%02d", s->hour, s->minute);
	if (kind == VT_WEEKLY)
		snprintf(buf, size, "%.3s %s", day_names[s->weekday >= 0 && s->weekday < 7 ?
							s->weekday : 0], tod);
	else if (kind == VT_MONTHLY)
		snprintf(buf, size, "%d %s", s->mday, tod);
	else
		snprintf(buf, size, "%s", tod);
}

bool conf_check_timezone(const char *name, const char *tzdir, char *why, size_t why_size)
{
	if (strcmp(name, "UTC") == 0)
		return true;
	if (!*name || name[0] == '/' || strstr(name, "..")) {
		snprintf(why, why_size, "is not a time zone name (UTC or an IANA name such as "
			 "Europe/Berlin)");
		return false;
	}
	for (const char *p = name; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p)) {
			snprintf(why, why_size, "is not a time zone name (UTC or an IANA name "
				 "such as Europe/Berlin)");
			return false;
		}
	}
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", tzdir, name);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(why, why_size, "is not a known time zone");
		return false;
	}
	/* A compiled zone file starts with "TZif"; that also rules out the
	 * directories (America/) and the tables (zone.tab) under tzdir. */
	char magic[4];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	bool ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		  read(fd, magic, sizeof(magic)) == (ssize_t)sizeof(magic) &&
		  memcmp(magic, "TZif", 4) == 0;
	if (fd >= 0)
		close(fd);
	if (!ok) {
		snprintf(why, why_size, "is not a known time zone (no zone file '%s'); "
			 "HINT: use UTC or an IANA name such as Europe/Berlin, and install tzdata",
			 path);
		return false;
	}
	return true;
}

bool conf_value_normalise(enum conf_type type, const char *value, char **out, char *why,
			  size_t why_size)
{
	char buf[64];
	const char *norm = value;

	why[0] = '\0';
	switch (type) {
	case CONF_STRING:
		break;
	case CONF_PATH:
		if (!*value) {
			snprintf(why, why_size, "is empty (a path is needed)");
			return false;
		}
		break;
	case CONF_URL:
		if (!url_valid(value)) {
			snprintf(why, why_size, "is not a URL (e.g. https://host:port/path)");
			return false;
		}
		break;
	case CONF_BOOL: {
		bool b;
		if (!conf_parse_bool(value, &b)) {
			snprintf(why, why_size,
				 "is not a boolean (true/false, yes/no, on/off, 1/0)");
			return false;
		}
		norm = b ? "true" : "false";
		break;
	}
	case CONF_INT: {
		long long v;
		if (!parse_int(value, &v)) {
			snprintf(why, why_size, "is not an integer");
			return false;
		}
		snprintf(buf, sizeof(buf), "%lld", v);
		norm = buf;
		break;
	}
	case CONF_SIZE: {
		unsigned long long v;
		if (!conf_parse_size(value, &v)) {
			snprintf(why, why_size, "is not a size (e.g. 512k, 16M, 5MiB, 1G)");
			return false;
		}
		snprintf(buf, sizeof(buf), "%llu", v);
		norm = buf;
		break;
	}
	case CONF_DURATION: {
		int64_t ns;
		if (!conf_parse_duration_ns(value, &ns)) {
			snprintf(why, why_size, "is not a duration (e.g. 5s, 2min)");
			return false;
		}
		/* Decimal seconds, exact: "30", "1.5", "0.25". */
		if (ns % NS_PER_SEC == 0) {
			snprintf(buf, sizeof(buf), "%lld", (long long)(ns / NS_PER_SEC));
		} else {
			char frac[16];
			snprintf(frac, sizeof(frac), "%09lld", (long long)(ns % NS_PER_SEC));
			size_t n = strlen(frac);
			while (n > 1 && frac[n - 1] == '0')
				frac[--n] = '\0';
			snprintf(buf, sizeof(buf), "%lld.%s", (long long)(ns / NS_PER_SEC), frac);
		}
		norm = buf;
		break;
	}
	}
	*out = strdup(norm);
	return *out != NULL;
}

void conf_value_format(enum conf_type type, const char *normalised, char *buf, size_t size)
{
	if (type == CONF_DURATION) {
		/* Normalised durations are decimal seconds with up to 9
		 * fraction digits: give them their unit back. */
		char tmp[80];
		int64_t ns;
		snprintf(tmp, sizeof(tmp), "%ss", normalised);
		if (conf_parse_duration_ns(tmp, &ns)) {
			conf_format_duration_ns(ns, buf, size);
			return;
		}
	}
	snprintf(buf, size, "%s", normalised);
}

size_t conf_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}
