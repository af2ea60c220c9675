/*
 * Schedules and time zones: "02:00", "sun 03:00" and "1 04:00" for the
 * [schedule] daily, weekly and monthly keys (or "off"), written back in the
 * same form, and the check that a time zone name is UTC or a zone the
 * system's tzdata has.
 */
#include "conf/conf_internal.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

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
			if (!conf_read_digits(p, &d, &end) || end != p + n || d < 1 || d > 31)
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
