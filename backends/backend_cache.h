/*
 * The listing cache's hooks for backend.c (its interface is in backend.h).
 * Each does nothing on a backend without a cache.
 */
#ifndef CBSYNC_BACKEND_CACHE_H
#define CBSYNC_BACKEND_CACHE_H
#include "backends/backend.h"
#include <stdbool.h>
#include <stdint.h>

/* Answer a whole listing from the cache, if it holds a fresh one. */
bool cache_serve(struct backend *b, struct backend_listing *out);
/* Keep a copy of a whole listing the remote gave. */
void cache_fill(struct backend *b, const struct backend_listing *l);
/* A put of key (size bytes) committed / a remove of key succeeded. */
void cache_put(struct backend *b, const char *key, uint64_t size);
void cache_remove(struct backend *b, const char *key);
#endif
