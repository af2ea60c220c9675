/*
 * The worker thread: a mutex and condition for the job going in, an eventfd
 * for the job coming out.
 */
#include "agent/daemon/worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct worker {
	const struct worker_ops *ops;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	void *job;      /* submitted, not yet started */
	void *done;     /* finished, not yet taken */
	bool busy;      /* from submit to take */
	bool quit;
	int fd;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->job && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->quit)
			break;
		void *job = w->job;
		w->job = NULL;
		pthread_mutex_unlock(&w->mu);
		w->ops->run(job, w->ctx);
		pthread_mutex_lock(&w->mu);
		w->done = job;
		uint64_t one = 1;
		(void)!write(w->fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

enum result worker_start(struct worker **out, const struct worker_ops *ops, void *ctx,
			 struct error *err)
{
	struct worker *w = calloc(1, sizeof(*w));
	if (!w)
		return error_nomem(err);
	w->ops = ops;
	w->ctx = ctx;
	w->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->fd < 0) {
		int e = errno;
		free(w);
		return error_set(err, CB_ERR_IO, "cannot create an eventfd: %s", strerror(e));
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		close(w->fd);
		free(w);
		return error_set(err, CB_ERR_INTERNAL, "cannot start a worker thread");
	}
	*out = w;
	return CB_OK;
}

int worker_fd(const struct worker *w)
{
	return w->fd;
}

bool worker_busy(struct worker *w)
{
	pthread_mutex_lock(&w->mu);
	bool busy = w->busy;
	pthread_mutex_unlock(&w->mu);
	return busy;
}

void worker_submit(struct worker *w, void *job)
{
	pthread_mutex_lock(&w->mu);
	w->job = job;
	w->busy = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void *worker_take(struct worker *w)
{
	uint64_t n;
	(void)!read(w->fd, &n, sizeof(n));
	pthread_mutex_lock(&w->mu);
	void *job = w->done;
	w->done = NULL;
	if (job)
		w->busy = false;
	pthread_mutex_unlock(&w->mu);
	return job;
}

void worker_stop(struct worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->quit = true;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	if (w->job)
		w->ops->free_job(w->job, w->ctx);
	if (w->done)
		w->ops->free_job(w->done, w->ctx);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	close(w->fd);
	free(w);
}
