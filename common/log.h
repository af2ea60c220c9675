/*
 * Logging: one line per event on stderr, human-readable text or JSON.
 *
 * Every line carries a UTC timestamp, a level and a component prefix
 * ("[backup]", "[s3:offsite]").  Levels are checked before any formatting so
 * a disabled debug line costs one comparison.  Each line is emitted with a
 * single write(2), so lines from several threads never interleave.  Never
 * pass a secret or a URL with credentials to these functions.
 */
#ifndef CBSYNC_LOG_H
#define CBSYNC_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };
enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* Set the minimum level printed and the line format (defaults: info, text). */
void log_setup(enum log_level min, enum log_format format);

/* The format log_setup chose. */
enum log_format log_format_get(void);

bool log_enabled(enum log_level level);

void log_write(enum log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* True once a line could not be written (stderr closed: a pipe whose
 * reader exited, a full disk); why says how.  Writing goes on being tried,
 * but nothing waits or dies for it. */
bool log_lost(char *why, size_t size);

/* Parse "debug", "info", "warn", "error", "off"; false if unknown. */
bool log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

#define LOG_AT(level, comp, ...)                                      \
	do {                                                          \
		if (log_enabled(level))                               \
			log_write(level, comp, __VA_ARGS__);          \
	} while (0)
#define log_debug(comp, ...) LOG_AT(LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...) LOG_AT(LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...) LOG_AT(LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) LOG_AT(LOG_ERROR, comp, __VA_ARGS__)

#endif
