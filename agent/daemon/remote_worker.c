/*
 * A remote's sync worker: a worker (agent/worker.h) whose jobs are syncs of
 * one remote, with the tiers it needs opened once.
 */
#include "agent/daemon/remote_worker.h"
#include "agent/daemon/worker.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct remote_worker {
	char *name;
	char *local_dir;
	char db[BACKUP_STEM_MAX + 1];
	struct retention_policy keep;       /* the remote's */
	struct retention_policy local_keep; /* unused by a sync; the local tier needs one */
	struct tier local;
	struct tier remote;
	struct keyring *keys;
	struct worker *worker;
};

struct sync_job {
	bool remove_stale;
	bool reconcile;
	struct remote_result result;
};

static void run_sync(void *job, void *ctx)
{
	struct sync_job *j = job;
	struct remote_worker *w = ctx;
	double start = time_mono();
	if (j->reconcile)
		backend_cache_invalidate(w->remote.backend);
	struct sync_opts so = {.now = time_now(), .db = w->db, .remove_stale = j->remove_stale};
	j->result.result = sync_tier(&w->local, &w->remote, &so, &j->result.stats, &j->result.err);
	j->result.seconds = time_mono() - start;
}

static void free_sync(void *job, void *ctx)
{
	struct sync_job *j = job;
	(void)ctx;
	sync_stats_free(&j->result.stats);
	free(j);
}

static const struct worker_ops sync_ops = {.run = run_sync, .free_job = free_sync};

static void worker_free(struct remote_worker *w)
{
	tier_close(&w->local);
	tier_close(&w->remote);
	keyring_free(w->keys);
	free(w->name);
	free(w->local_dir);
	free(w);
}

enum result remote_worker_start(struct remote_worker **out, const struct conf *c,
				const struct conf_remote *rc, const char *db, struct error *err)
{
	const char *local_dir = c->local_dir;
	double reconcile = c->sync_reconcile_interval;
	struct remote_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return error_nomem(err);
	w->name = strdup(rc->name);
	w->local_dir = strdup(local_dir);
	w->keep = rc->keep;
	retention_policy_default(&w->local_keep);
	snprintf(w->db, sizeof(w->db), "%s", db);
	enum result r;
	if (!w->name || !w->local_dir) {
		r = error_nomem(err);
		goto fail;
	}
	if ((r = keyring_load(c, &w->keys, err)) || (r = tier_open_remote(&w->remote, rc, err)) ||
	    (r = tier_open_local(&w->local, w->local_dir, &w->local_keep, err)))
		goto fail;
	w->remote.keys = w->keys;
	/* The tier must not point into the configuration, which a reload frees. */
	w->remote.name = w->name;
	w->remote.remote = NULL;
	w->remote.keep = &w->keep;
	if (!backend_cache_enable(w->remote.backend, reconcile)) {
		r = error_nomem(err);
		goto fail;
	}
	if ((r = worker_start(&w->worker, &sync_ops, w, err)))
		goto fail;
	*out = w;
	return CB_OK;
fail:
	worker_free(w);
	return r;
}

const char *remote_worker_name(const struct remote_worker *w)
{
	return w->name;
}

int remote_worker_fd(const struct remote_worker *w)
{
	return worker_fd(w->worker);
}

bool remote_worker_busy(const struct remote_worker *w)
{
	return worker_busy(w->worker);
}

bool remote_worker_request(struct remote_worker *w, bool remove_stale, bool reconcile)
{
	struct sync_job *j = calloc(1, sizeof(*j));
	if (!j)
		return false;
	j->remove_stale = remove_stale;
	j->reconcile = reconcile;
	worker_submit(w->worker, j);
	return true;
}

bool remote_worker_take_result(struct remote_worker *w, struct remote_result *out)
{
	struct sync_job *j = worker_take(w->worker);
	if (!j)
		return false;
	*out = j->result;
	free(j);
	return true;
}

void remote_worker_stats(struct remote_worker *w, struct backend_stats *out,
			 struct backend_calls *calls)
{
	/* The backend's counters are only touched by the worker while busy. */
	if (worker_busy(w->worker))
		return;
	if (w->remote.backend->ops->stats)
		w->remote.backend->ops->stats(w->remote.backend->ctx, out);
	*calls = w->remote.backend->calls;
}

void remote_worker_stop(struct remote_worker *w)
{
	if (!w)
		return;
	worker_stop(w->worker);
	worker_free(w);
}
