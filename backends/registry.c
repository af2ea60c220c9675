/*
 * The compiled-in backends.  The list comes from backends/CMakeLists.txt
 * (registry_list.h, generated), so enabling a backend is a CMake option.
 */
#include "backends/backend.h"

#include <pthread.h>
#include <registry_list.h>
#include <string.h>

static const struct backend_ops *const registry[] = {
	BACKEND_REGISTRY_ENTRIES
	NULL,
};

#define N_BACKENDS (sizeof(registry) / sizeof(*registry) - 1)

static struct conf_remote_type remote_types[N_BACKENDS + 1];

const struct backend_ops *const *backend_registry(size_t *n)
{
	*n = N_BACKENDS;
	return registry;
}

const struct backend_ops *backend_find(const char *type)
{
	for (size_t i = 0; i < N_BACKENDS; i++)
		if (strcmp(registry[i]->type, type) == 0)
			return registry[i];
	return NULL;
}

static void fill_remote_types(void)
{
	for (size_t i = 0; i < N_BACKENDS; i++) {
		remote_types[i] = (struct conf_remote_type){
			.type = registry[i]->type,
			.description = registry[i]->description,
			.keys = registry[i]->keys,
			.n_keys = registry[i]->n_keys,
			.settings_size = registry[i]->settings_size,
		};
	}
}

const struct conf_remote_type *backend_remote_types(size_t *n)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, fill_remote_types);
	*n = N_BACKENDS;
	return remote_types;
}
