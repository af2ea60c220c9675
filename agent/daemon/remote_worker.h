/*
 * A remote's sync worker: a worker thread (agent/worker.h), the remote and
 * the local tier open, one sync at a time.
 *
 * The agent's loop asks for a sync with remote_worker_request() and learns it
 * finished when remote_worker_fd() becomes readable.  The worker keeps its own
 * copies of everything it uses (backend instance, retention policy, backup
 * directory), so the loop may reload the configuration while it runs; a
 * worker for a remote that changed is stopped after its current sync.
 */
#ifndef CBSYNC_REMOTE_WORKER_H
#define CBSYNC_REMOTE_WORKER_H

#include "agent/tiers/sync.h"
#include "backends/backend.h"
#include "conf/conf.h"

#include <stdbool.h>

struct remote_worker;

struct remote_result {
	enum result result;
	struct error err;
	struct sync_stats stats;
	double seconds;
};

/* db is the database's stem (backup_db_stem): the worker syncs and prunes
 * that database's backups only. */
/* reconcile: [sync] reconcile_interval, how long its record of what the
 * remote holds stands in for a listing (backend_cache_enable). */
/* The worker reads its keys (keyring.h) from c and keeps its own copy of
 * what it needs of c and rc, which a reload frees. */
enum result remote_worker_start(struct remote_worker **out, const struct conf *c,
				const struct conf_remote *rc, const char *db, struct error *err);
const char *remote_worker_name(const struct remote_worker *w);
int remote_worker_fd(const struct remote_worker *w);
bool remote_worker_busy(const struct remote_worker *w);

/* Start a sync (the worker must not be busy); false if out of memory.
 * reconcile: list the remote first, whatever the record of it says. */
bool remote_worker_request(struct remote_worker *w, bool remove_stale, bool reconcile);

/* After the fd became readable: the finished sync's result. */
bool remote_worker_take_result(struct remote_worker *w, struct remote_result *out);

/* The backend's request counters so far, and its calls by kind. */
void remote_worker_stats(struct remote_worker *w, struct backend_stats *out,
			 struct backend_calls *calls);

/* Wait for the current sync (if any), then stop and free. */
void remote_worker_stop(struct remote_worker *w);

#endif
