/*
 * Logging to stderr in text or JSON, one write(2) per line.
 */
#include "common/log.h"
#include "common/text.h"
#include "common/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static enum log_format line_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void log_setup(enum log_level min, enum log_format format)
{
	min_level = min;
	line_format = format;
}

bool log_enabled(enum log_level level)
{
	return level >= min_level && level != LOG_OFF;
}

bool log_level_parse(const char *s, enum log_level *out)
{
	for (int i = 0; i <= LOG_OFF; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return true;
		}
	}
	if (strcmp(s, "warning") == 0) {
		*out = LOG_WARN;
		return true;
	}
	return false;
}

const char *log_level_name(enum log_level level)
{
	return level_names[level];
}

/* The first failure to write a line, if any (errno value; 0: none). */
static _Atomic int lost_errno;

bool log_lost(char *why, size_t size)
{
	int e = lost_errno;
	if (e && why && size)
		snprintf(why, size, "%s", strerror(e));
	return e != 0;
}

static void emit(const char *line, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDERR_FILENO, line, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int expected = 0;
			atomic_compare_exchange_strong(&lost_errno, &expected,
						       n < 0 ? errno : EIO);
			return;
		}
		line += n;
		len -= (size_t)n;
	}
}

enum log_format log_format_get(void)
{
	return line_format;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
	char msg[2048];
	char stamp[32];
	char line[2400];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	text_escape_inplace(msg, sizeof(msg));
	time_format_iso(time_now(), stamp, sizeof(stamp));

	if (line_format == LOG_FORMAT_JSON) {
		json_t *o = json_pack("{s:s, s:s, s:s, s:s}", "time", stamp, "level",
				      level_names[level], "component", component,
				      "msg", msg);
		char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
		if (s) {
			n = snprintf(line, sizeof(line), "%s\n", s);
			free(s);
		} else {
			n = snprintf(line, sizeof(line), "{\"msg\":\"log failure\"}\n");
		}
		json_decref(o);
	} else {
		n = snprintf(line, sizeof(line), "%s %-5s [%s] %s\n", stamp,
			     level_names[level], component, msg);
	}
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	emit(line, (size_t)n);
}
