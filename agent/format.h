/*
 * Human-readable numbers for command output.
 */
#ifndef CBSYNC_FORMAT_H
#define CBSYNC_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* "512 B", "1.2 KiB", "340.0 MiB", "1.07 GiB". */
void format_size(uint64_t bytes, char *buf, size_t size);

#endif
