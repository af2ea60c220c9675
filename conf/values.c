/*
 * Value parsers and formatters: durations, retention rules, sizes and
 * booleans.  Schedules and time zones are in schedule.c, the typed values of
 * remote keys in typed.c.
 *
 * Every parser takes the whole string and rejects anything it does not fully
 * understand: no leading or trailing spaces, no signs, no exponents, no
 * trailing garbage ("5 seconds", "-1s", "1.5.2s", "1x" and a bare "12" for a
 * duration are all errors).  Durations are computed in integer nanoseconds so
 * that a value printed by a formatter here reads back to exactly the same
 * number.
 */
#include "conf/conf_internal.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

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

bool conf_read_digits(const char *s, uint64_t *v, const char **end)
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

	if (!s || !conf_read_digits(s, &whole, &p))
		return false;
	if (*p == '.') {
		const char *q = p + 1;
		if (!conf_read_digits(q, &frac, &p))
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
	/* Sub-millisecond precision: fractional seconds. */
	char seconds[32];
	conf_format_seconds_ns(ns, seconds, sizeof(seconds));
	snprintf(buf, size, "%ss", seconds);
}

void conf_format_seconds_ns(int64_t ns, char *buf, size_t size)
{
	if (ns % NS_PER_SEC == 0) {
		snprintf(buf, size, "%lld", (long long)(ns / NS_PER_SEC));
		return;
	}
	char frac[16];
	snprintf(frac, sizeof(frac), "%09lld", (long long)(ns % NS_PER_SEC));
	size_t n = strlen(frac);
	while (n > 1 && frac[n - 1] == '0')
		frac[--n] = '\0';
	snprintf(buf, size, "%lld.%s", (long long)(ns / NS_PER_SEC), frac);
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
	if (!conf_read_digits(s, &n, &p))
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
	return s && conf_read_digits(s, &n, &p) && strcmp(p, "m") == 0;
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

	if (!s || !conf_read_digits(s, &n, &p))
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
