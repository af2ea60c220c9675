/*
 * A growable, NUL-terminated byte string: S3's URLs, canonical requests and
 * XML bodies, the agent's /metrics and /healthz pages.  Start from
 * `struct buf b = {0}`.  Running out of memory is sticky, like rio's error
 * flag: appends after a failure do nothing, and the caller checks buf.oom (or
 * a NULL from buf_take) once at the end instead of after every append.
 */
#ifndef CBSYNC_BUF_H
#define CBSYNC_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;     /* NUL-terminated once anything was added; NULL before */
	size_t len;
	size_t cap;
	bool oom;
};

void buf_add(struct buf *b, const void *data, size_t len);
void buf_adds(struct buf *b, const char *s);
void buf_addc(struct buf *b, char c);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The string, handed over to the caller (an empty string if nothing was
 * added), or NULL if memory ran out; b is left empty either way. */
char *buf_take(struct buf *b);

void buf_free(struct buf *b);

#endif
