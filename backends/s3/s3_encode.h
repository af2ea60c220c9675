/*
 * The two encodings S3 needs on top of common/buf.h: SigV4's percent-encoding
 * of paths and query strings, and XML escaping for request bodies.
 */
#ifndef CBSYNC_S3_ENCODE_H
#define CBSYNC_S3_ENCODE_H

#include "common/buf.h"

#include <stdbool.h>

/* Append s percent-encoded as SigV4 wants: every byte except the RFC 3986
 * unreserved characters (A-Z a-z 0-9 - . _ ~) becomes %XX with uppercase
 * hex; "/" is kept as is when keep_slash. */
void buf_add_uri_encoded(struct buf *b, const char *s, bool keep_slash);

/* Append s with XML's five special characters escaped. */
void buf_add_xml_escaped(struct buf *b, const char *s);

#endif
