/*
 * The typed values of a remote's keys (enum conf_type in conf.h): each is
 * checked when it is loaded and kept in a normalised form (booleans as
 * true/false, sizes in bytes, durations in decimal seconds), and written
 * back in a form its parser reads for conf_print.
 */
#include "conf/conf_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* A signed decimal integer that fits a long long. */
static bool parse_int(const char *s, long long *out)
{
	uint64_t v;
	const char *p;
	bool neg = *s == '-';
	if (!conf_read_digits(s + neg, &v, &p) || *p)
		return false;
	if (neg ? v > (uint64_t)LLONG_MAX + 1 : v > (uint64_t)LLONG_MAX)
		return false;
	*out = neg ? (long long)(0 - v) : (long long)v;
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
		if (!conf_url_valid(value)) {
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
		conf_format_seconds_ns(ns, buf, sizeof(buf));
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
