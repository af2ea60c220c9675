/*
 * The listing cache (backend.h): the remote's keys as of its last listing,
 * kept in step with this process's own puts and removes, sorted by key.
 */
#include "backends/backend_cache.h"
#include "common/timeutil.h"

#include <stdlib.h>
#include <string.h>

struct backend_cache {
	double max_age;
	double listed_at;              /* time_mono of the listing; 0: none */
	struct backend_listing l;      /* sorted by key */
};

bool backend_cache_enable(struct backend *b, double max_age)
{
	if (!b->cache && !(b->cache = calloc(1, sizeof(*b->cache))))
		return false;
	b->cache->max_age = max_age;
	return true;
}

void backend_cache_invalidate(struct backend *b)
{
	if (!b->cache)
		return;
	backend_listing_free(&b->cache->l);
	b->cache->listed_at = 0;
}

double backend_cache_listed_at(const struct backend *b)
{
	return b->cache ? b->cache->listed_at : 0;
}

void backend_cache_disable(struct backend *b)
{
	backend_cache_invalidate(b);
	free(b->cache);
	b->cache = NULL;
}

static bool fresh(const struct backend_cache *c)
{
	return c && c->listed_at > 0 && time_mono() - c->listed_at < c->max_age;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct backend_object *)a)->key,
		      ((const struct backend_object *)b)->key);
}

/* Copy the n objects of from into *to (keys duplicated); false if out of memory. */
static bool copy_items(const struct backend_object *from, size_t n, struct backend_listing *to)
{
	to->items = calloc(n ? n : 1, sizeof(*to->items));
	to->n = 0;
	if (!to->items)
		return false;
	for (size_t i = 0; i < n; i++) {
		to->items[i] = from[i];
		if (!(to->items[i].key = strdup(from[i].key))) {
			backend_listing_free(to);
			return false;
		}
		to->n++;
	}
	return true;
}

bool cache_serve(struct backend *b, struct backend_listing *out)
{
	struct backend_cache *c = b->cache;
	if (!fresh(c) || !copy_items(c->l.items, c->l.n, out))
		return false;
	out->unsafe = c->l.unsafe;
	memcpy(out->unsafe_example, c->l.unsafe_example, sizeof(out->unsafe_example));
	return true;
}

void cache_fill(struct backend *b, const struct backend_listing *l)
{
	struct backend_cache *c = b->cache;
	if (!c)
		return;
	backend_cache_invalidate(b);
	if (!copy_items(l->items, l->n, &c->l))
		return;     /* out of memory: no cache, the next listing asks */
	qsort(c->l.items, c->l.n, sizeof(*c->l.items), by_key);
	c->l.unsafe = l->unsafe;
	memcpy(c->l.unsafe_example, l->unsafe_example, sizeof(c->l.unsafe_example));
	c->listed_at = time_mono();
}

/* Where key is, or would go, in the sorted listing. */
static size_t position(const struct backend_listing *l, const char *key, bool *found)
{
	size_t lo = 0, hi = l->n;
	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->items[mid].key, key);
		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void cache_put(struct backend *b, const char *key, uint64_t size)
{
	struct backend_cache *c = b->cache;
	if (!c || c->listed_at <= 0)
		return;
	bool found;
	size_t i = position(&c->l, key, &found);
	if (found) {
		c->l.items[i].size = size;
		c->l.items[i].mtime = time_now();
		return;
	}
	char *copy = strdup(key);
	struct backend_object *grown = copy ? realloc(c->l.items, (c->l.n + 1) * sizeof(*grown))
					    : NULL;
	if (!grown) {
		free(copy);
		backend_cache_invalidate(b);
		return;
	}
	c->l.items = grown;
	memmove(&grown[i + 1], &grown[i], (c->l.n - i) * sizeof(*grown));
	grown[i] = (struct backend_object){.key = copy, .size = size, .mtime = time_now()};
	c->l.n++;
}

void cache_remove(struct backend *b, const char *key)
{
	struct backend_cache *c = b->cache;
	if (!c || c->listed_at <= 0)
		return;
	bool found;
	size_t i = position(&c->l, key, &found);
	if (!found)
		return;
	free(c->l.items[i].key);
	memmove(&c->l.items[i], &c->l.items[i + 1], (c->l.n - i - 1) * sizeof(*c->l.items));
	c->l.n--;
}
