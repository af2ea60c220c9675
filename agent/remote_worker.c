/*
 * Per-remote sync worker thread.
 */
#include "agent/remote_worker.h"
#include "common/timeutil.h"

#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct remote_worker {
	char *name;
	char *local_dir;
	char db[BACKUP_STEM_MAX + 1];
	struct retention_policy keep;
	struct backend *backend;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool requested;
	bool remove_stale;
	bool busy;
	bool have_result;
	bool quit;
	struct remote_result result;
	int fd;
};

static void *worker_main(void *arg)
{
	struct remote_worker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->requested && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit)
			break;
		w->requested = false;
		bool stale = w->remove_stale;
		pthread_mutex_unlock(&w->mu);

		struct remote_result res;
		memset(&res, 0, sizeof(res));
		double start = time_mono();
		struct sync_opts so = {.now = time_now(), .db = w->db, .remove_stale = stale};
		res.result = sync_remote(w->backend, &w->keep, w->local_dir, &so, &res.stats, &res.err);
		res.seconds = time_mono() - start;

		pthread_mutex_lock(&w->mu);
		w->result = res;
		w->have_result = true;
		w->busy = false;
		uint64_t one = 1;
		(void)!write(w->fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

enum result remote_worker_start(struct remote_worker **out, const struct conf_remote *rc,
				const char *local_dir, const char *db, struct error *err)
{
	struct remote_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return error_nomem(err);
	w->fd = -1;
	w->name = strdup(rc->name);
	w->local_dir = strdup(local_dir);
	w->keep = rc->keep;
	snprintf(w->db, sizeof(w->db), "%s", db);
	if (!w->name || !w->local_dir) {
		free(w->name);
		free(w->local_dir);
		free(w);
		return error_nomem(err);
	}
	enum result r = backend_open(rc, &w->backend, err);
	if (r)
		goto fail;
	w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->fd < 0) {
		r = error_set(err, CB_ERR_IO, "cannot create an eventfd: %s", strerror(errno));
		goto fail;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		r = error_set(err, CB_ERR_INTERNAL, "cannot start a sync thread");
		goto fail;
	}
	*out = w;
	return CB_OK;
fail:
	if (w->fd >= 0)
		close(w->fd);
	backend_close(w->backend);
	free(w->name);
	free(w->local_dir);
	free(w);
	return r;
}

const char *remote_worker_name(const struct remote_worker *w)
{
	return w->name;
}

int remote_worker_fd(const struct remote_worker *w)
{
	return w->fd;
}

bool remote_worker_busy(const struct remote_worker *w)
{
	pthread_mutex_lock((pthread_mutex_t *)&w->mu);
	bool busy = w->busy;
	pthread_mutex_unlock((pthread_mutex_t *)&w->mu);
	return busy;
}

void remote_worker_request(struct remote_worker *w, bool remove_stale)
{
	pthread_mutex_lock(&w->mu);
	w->requested = true;
	w->busy = true;
	w->remove_stale = remove_stale;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

bool remote_worker_take_result(struct remote_worker *w, struct remote_result *out)
{
	uint64_t n;
	(void)!read(w->fd, &n, sizeof(n));
	pthread_mutex_lock(&w->mu);
	bool have = w->have_result;
	if (have)
		*out = w->result;
	w->have_result = false;
	pthread_mutex_unlock(&w->mu);
	return have;
}

void remote_worker_stats(struct remote_worker *w, struct backend_stats *out)
{
	/* The backend's counters are only touched by the worker while busy. */
	pthread_mutex_lock(&w->mu);
	if (!w->busy && w->backend->ops->stats)
		w->backend->ops->stats(w->backend->ctx, out);
	pthread_mutex_unlock(&w->mu);
}

void remote_worker_stop(struct remote_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	if (w->have_result)
		sync_stats_free(&w->result.stats);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	close(w->fd);
	backend_close(w->backend);
	free(w->name);
	free(w->local_dir);
	free(w);
}
