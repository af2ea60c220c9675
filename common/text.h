/*
 * Text that came from outside (object keys, file names, server replies,
 * command-line values) on its way to a terminal, a log line or a state file.
 *
 * A name a remote lists can hold anything: an escape sequence that clears the
 * screen, a newline that forges a line in operations.log, bytes that are not
 * UTF-8 and make a JSON log line unprintable.  text_escape turns every such
 * byte into a visible "\xNN" so that one event stays one line and the
 * terminal shows what is there instead of obeying it.  Printable ASCII and
 * well-formed UTF-8 (except the C1 controls U+0080..U+009F) pass unchanged;
 * backslashes are not doubled, so escaping twice changes nothing.
 */
#ifndef CBSYNC_TEXT_H
#define CBSYNC_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Write in, escaped, into out (size bytes, NUL-terminated, cut on a whole
 * escape if it does not fit).  Returns true if nothing had to change. */
bool text_escape(const char *in, char *out, size_t size);

/* Escape s in place (its buffer is size bytes). */
void text_escape_inplace(char *s, size_t size);

/* True if s has no byte text_escape would change. */
bool text_is_clean(const char *s);

/* A size for people: "512 B", "1.2 KiB", "340.0 MiB", "1.07 GiB". */
void format_size(uint64_t bytes, char *buf, size_t size);

#endif
