/*
 * A second thread for the slow half of a stream (see bgpipe.h).
 *
 * The buffers form a ring.  The caller fills slot `prod`; a full slot is
 * handed over by counting it in `queued`; the thread takes slot `first`,
 * consumes it, and only then gives it back (first moves on, queued
 * drops), so no slot is ever filled while it is being consumed.
 */
#include "common/bgpipe.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct bgpipe {
	const struct bgpipe_ops *ops;
	void *ctx;
	uint8_t *slot[BGPIPE_SLOTS];
	size_t len[BGPIPE_SLOTS];
	unsigned prod;      /* the caller's slot */
	size_t fill;        /* bytes in it */
	bool finish_called; /* the caller's: no more writes */
	bool finished;      /* bgpipe_finish saw every byte consumed */

	pthread_t thread;
	bool synced;        /* mu and cv initialised */
	bool running;       /* thread started and not joined */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* Under mu: */
	unsigned first;     /* the oldest slot handed over */
	unsigned queued;    /* slots handed over and not yet given back */
	bool closing;       /* no more slots will come */
	bool dropped;       /* bgpipe_free: skip what is left */
	enum result failed; /* the consumer's first failure, in failure */
	struct error failure;
	/* Written by the thread before it ends, read after the join: */
	bool ended;         /* the end step ran */
	enum result end_result;
	struct error end_error;
};

static void *run(void *arg)
{
	struct bgpipe *p = arg;
	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->queued && !p->closing)
			pthread_cond_wait(&p->cv, &p->mu);
		if (!p->queued)
			break;
		unsigned i = p->first;
		bool skip = p->failed || p->dropped;
		pthread_mutex_unlock(&p->mu);
		struct error e = {0};
		enum result r = skip ? CB_OK : p->ops->consume(p->ctx, p->slot[i], p->len[i], &e);
		pthread_mutex_lock(&p->mu);
		if (r && !p->failed) {
			p->failed = r;
			p->failure = e;
		}
		p->first = (p->first + 1) % BGPIPE_SLOTS;
		p->queued--;
		pthread_cond_broadcast(&p->cv);
	}
	/* Every byte is consumed: the end step, while the caller goes on. */
	bool end = !p->failed && !p->dropped && p->ops->end;
	pthread_mutex_unlock(&p->mu);
	if (end) {
		p->end_result = p->ops->end(p->ctx, &p->end_error);
		p->ended = true;
	}
	return NULL;
}

enum result bgpipe_start(struct bgpipe **out, const struct bgpipe_ops *ops, void *ctx,
			 struct error *err)
{
	struct bgpipe *p = calloc(1, sizeof(*p));
	*out = NULL;
	if (!p)
		return error_nomem(err);
	p->ops = ops;
	p->ctx = ctx;
	for (int i = 0; i < BGPIPE_SLOTS; i++) {
		if (!(p->slot[i] = malloc(BGPIPE_SLOT_SIZE))) {
			bgpipe_free(p);
			return error_nomem(err);
		}
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->synced = true;
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	p->running = pthread_create(&p->thread, NULL, run, p) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	*out = p;
	return CB_OK;
}

static enum result report(enum result r, const struct error *e, struct error *err)
{
	if (r && err)
		*err = *e;
	return r;
}

/* Hand the caller's slot to the thread (or consume it in line). */
static enum result hand_over(struct bgpipe *p, struct error *err)
{
	if (!p->running) {
		if (!p->failed)
			p->failed = p->ops->consume(p->ctx, p->slot[p->prod], p->fill, &p->failure);
		p->fill = 0;
		return report(p->failed, &p->failure, err);
	}
	pthread_mutex_lock(&p->mu);
	enum result r = p->failed;
	if (!r) {
		p->len[p->prod] = p->fill;
		p->queued++;
		pthread_cond_broadcast(&p->cv);
		while (p->queued == BGPIPE_SLOTS)
			pthread_cond_wait(&p->cv, &p->mu);
		p->prod = (p->prod + 1) % BGPIPE_SLOTS;
		p->fill = 0;
	}
	struct error e = p->failure;
	pthread_mutex_unlock(&p->mu);
	return report(r, &e, err);
}

enum result bgpipe_write(struct bgpipe *p, const void *buf, size_t len, struct error *err)
{
	const uint8_t *in = buf;
	if (p->finish_called)
		return error_set(err, CB_ERR_INTERNAL, "a write after the stream's end");
	while (len > 0) {
		size_t n = BGPIPE_SLOT_SIZE - p->fill;
		if (n > len)
			n = len;
		memcpy(p->slot[p->prod] + p->fill, in, n);
		p->fill += n;
		in += n;
		len -= n;
		if (p->fill == BGPIPE_SLOT_SIZE) {
			enum result r = hand_over(p, err);
			if (r)
				return r;
		}
	}
	return CB_OK;
}

enum result bgpipe_finish(struct bgpipe *p, struct error *err)
{
	p->finish_called = true;
	enum result r = p->fill ? hand_over(p, err) : CB_OK;
	if (r)
		return r;
	if (!p->running) {
		p->finished = !p->failed;
		return report(p->failed, &p->failure, err);
	}
	pthread_mutex_lock(&p->mu);
	p->closing = true;
	pthread_cond_broadcast(&p->cv);
	while (p->queued)
		pthread_cond_wait(&p->cv, &p->mu);
	r = p->failed;
	struct error e = p->failure;
	pthread_mutex_unlock(&p->mu);
	p->finished = !r;
	return report(r, &e, err);
}

enum result bgpipe_join(struct bgpipe *p, struct error *err)
{
	if (!p->finished)
		return error_set(err, CB_ERR_INTERNAL, "a stream joined before its end");
	if (p->running) {
		pthread_join(p->thread, NULL);
		p->running = false;
	} else if (p->ops->end && !p->ended) {
		p->end_result = p->ops->end(p->ctx, &p->end_error);
		p->ended = true;
	}
	return report(p->end_result, &p->end_error, err);
}

bool bgpipe_finished(const struct bgpipe *p)
{
	return p->finished;
}

void bgpipe_free(struct bgpipe *p)
{
	if (!p)
		return;
	if (p->running) {
		/* Drop what is queued: the caller gave up on this stream. */
		pthread_mutex_lock(&p->mu);
		p->dropped = true;
		p->closing = true;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	if (p->synced) {
		pthread_mutex_destroy(&p->mu);
		pthread_cond_destroy(&p->cv);
	}
	for (int i = 0; i < BGPIPE_SLOTS; i++)
		free(p->slot[i]);
	free(p);
}
