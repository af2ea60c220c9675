/*
 * Parallel raw deflate with dictionary-primed blocks, each block through
 * zlib or, at levels 1-3 where it is built in, Intel's ISA-L (pdeflate.h).
 */
#include "agent/engine/pdeflate.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#ifdef CBSYNC_ISAL
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#endif

#define DICT_SIZE 32768
#define MAX_THREADS 64

enum job_state { JOB_FREE, JOB_FILLING, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct job {
	enum job_state state;
	uint64_t seq;
	unsigned char *in;
	size_t in_len;
	unsigned char dict[DICT_SIZE];
	size_t dict_len;
	unsigned char *out;
	size_t out_len;
	size_t out_cap;
	uint32_t crc;
	bool last;
	int zr;               /* the verdict: Z_OK or a zlib error code */
};

/* One thread's block compressor. */
struct blockz {
	int level;
	bool isal;            /* ISA-L's deflate, else zlib's */
	z_stream zs;
#ifdef CBSYNC_ISAL
	struct isal_zstream is;
	uint8_t *level_buf;
#endif
};

struct pdeflate {
	int level;
	int threads;
	pdeflate_out_fn out_fn;
	void *out_ctx;
	struct job *jobs;
	size_t n_jobs;
	struct job *cur;      /* being filled by write */
	uint64_t next_seq;    /* the next block's number */
	uint64_t next_out;    /* the next block to hand to out_fn */
	uint32_t crc;
	uint64_t total;
	bool failed;
	/* workers */
	pthread_t tids[MAX_THREADS];
	int started;
	pthread_mutex_t mu;
	pthread_cond_t work;  /* a job was queued, or quit */
	pthread_cond_t done;  /* a job finished */
	bool quit;
	struct blockz inline_bz;   /* threads == 1 */
	bool inline_init;
};

int pdeflate_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

bool pdeflate_isal_level(int level)
{
#ifdef CBSYNC_ISAL
	return level >= 1 && level <= 3;
#else
	(void)level;
	return false;
#endif
}

static bool blockz_init(struct blockz *b, int level)
{
	memset(b, 0, sizeof(*b));
	b->level = level;
	b->isal = pdeflate_isal_level(level);
#ifdef CBSYNC_ISAL
	if (b->isal) {
		static const uint32_t sizes[] = {0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT,
						 ISAL_DEF_LVL3_DEFAULT};
		isal_deflate_init(&b->is);
		b->is.level = (uint32_t)level;
		b->is.level_buf_size = sizes[level];
		b->is.level_buf = b->level_buf = malloc(sizes[level]);
		return b->level_buf != NULL;
	}
#endif
	return deflateInit2(&b->zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

static void blockz_end(struct blockz *b)
{
#ifdef CBSYNC_ISAL
	if (b->isal) {
		free(b->level_buf);
		return;
	}
#endif
	deflateEnd(&b->zs);
}

/* The CRC-32 of j's input: ISA-L's (folding with carry-less multiplies)
 * where the build has it, whichever engine compresses, else zlib's. */
static uint32_t block_crc(const struct job *j)
{
#ifdef CBSYNC_ISAL
	return crc32_gzip_refl(0, j->in, j->in_len);
#else
	return (uint32_t)crc32_z(crc32(0L, Z_NULL, 0), j->in, j->in_len);
#endif
}

/* Double j's output buffer; false when memory runs out. */
static bool grow_out(struct job *j)
{
	size_t ncap = j->out_cap * 2;
	unsigned char *nb = realloc(j->out, ncap);
	if (!nb)
		return false;
	j->out = nb;
	j->out_cap = ncap;
	return true;
}

#ifdef CBSYNC_ISAL
/* Compress one job with ISA-L: the same block (a sync flush at its end, or
 * the end of the stream) as zlib's below. */
static void compress_job_isal(struct blockz *b, struct job *j)
{
	struct isal_zstream *s = &b->is;
	j->crc = block_crc(j);
	isal_deflate_reset(s);
	s->level = (uint32_t)b->level;
	s->level_buf = b->level_buf;
	s->gzip_flag = ISAL_DEFLATE;
	if (j->dict_len && isal_deflate_set_dict(s, j->dict, (uint32_t)j->dict_len) != COMP_OK) {
		j->zr = Z_STREAM_ERROR;
		return;
	}
	s->next_in = j->in;
	s->avail_in = (uint32_t)j->in_len;
	s->end_of_stream = j->last;
	s->flush = j->last ? NO_FLUSH : SYNC_FLUSH;
	j->out_len = 0;
	for (;;) {
		s->next_out = j->out + j->out_len;
		s->avail_out = (uint32_t)(j->out_cap - j->out_len);
		int rc = isal_deflate(s);
		j->out_len = j->out_cap - s->avail_out;
		if (rc != COMP_OK) {
			j->zr = Z_STREAM_ERROR;
			return;
		}
		bool finished = s->avail_in == 0 &&
				s->internal_state.state == (j->last ? ZSTATE_END : ZSTATE_NEW_HDR);
		if (finished)
			break;
		if (s->avail_out != 0) {    /* neither done nor out of room */
			j->zr = Z_STREAM_ERROR;
			return;
		}
		if (!grow_out(j)) {
			j->zr = Z_MEM_ERROR;
			return;
		}
	}
	j->zr = Z_OK;
}
#endif

/* Compress one job with b. */
static void compress_job(struct blockz *b, struct job *j)
{
#ifdef CBSYNC_ISAL
	if (b->isal) {
		compress_job_isal(b, j);
		return;
	}
#endif
	z_stream *zs = &b->zs;
	j->crc = block_crc(j);
	if (deflateReset(zs) != Z_OK) {
		j->zr = Z_STREAM_ERROR;
		return;
	}
	if (j->dict_len && deflateSetDictionary(zs, j->dict, (uInt)j->dict_len) != Z_OK) {
		j->zr = Z_STREAM_ERROR;
		return;
	}
	j->out_len = 0;
	zs->next_in = j->in;
	zs->avail_in = (uInt)j->in_len;
	int flush = j->last ? Z_FINISH : Z_SYNC_FLUSH;
	for (;;) {
		zs->next_out = j->out + j->out_len;
		zs->avail_out = (uInt)(j->out_cap - j->out_len);
		int zr = deflate(zs, flush);
		j->out_len = j->out_cap - zs->avail_out;
		if (zr == Z_STREAM_ERROR) {
			j->zr = zr;
			return;
		}
		bool finished = j->last ? zr == Z_STREAM_END
					: (zs->avail_in == 0 && zs->avail_out != 0);
		if (finished)
			break;
		/* deflateBound made room for the block; this is only a safeguard. */
		if (!grow_out(j)) {
			j->zr = Z_MEM_ERROR;
			return;
		}
	}
	j->zr = Z_OK;
}

static void *worker(void *arg)
{
	struct pdeflate *p = arg;
	struct blockz bz;
	bool ok = blockz_init(&bz, p->level);
	pthread_mutex_lock(&p->mu);
	for (;;) {
		/* The oldest queued job first keeps output flowing in order. */
		struct job *j = NULL;
		for (size_t i = 0; i < p->n_jobs; i++) {
			struct job *c = &p->jobs[i];
			if (c->state == JOB_QUEUED && (!j || c->seq < j->seq))
				j = c;
		}
		if (!j) {
			if (p->quit)
				break;
			pthread_cond_wait(&p->work, &p->mu);
			continue;
		}
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&p->mu);
		if (ok)
			compress_job(&bz, j);
		else
			j->zr = Z_MEM_ERROR;
		pthread_mutex_lock(&p->mu);
		j->state = JOB_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	blockz_end(&bz);
	return NULL;
}

enum result pdeflate_new(struct pdeflate **out, int level, int threads, pdeflate_out_fn out_fn,
			 void *out_ctx, struct error *err)
{
	struct pdeflate *p = calloc(1, sizeof(*p));
	if (!p)
		return error_nomem(err);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->level = level;
	p->threads = threads <= 0 ? pdeflate_default_threads() : threads > MAX_THREADS ? MAX_THREADS : threads;
	p->out_fn = out_fn;
	p->out_ctx = out_ctx;
	p->crc = (uint32_t)crc32(0L, Z_NULL, 0);
	/* Enough blocks in flight to keep every worker busy while the oldest
	 * is written out. */
	p->n_jobs = p->threads == 1 ? 1 : (size_t)p->threads * 2 + 2;
	p->jobs = calloc(p->n_jobs, sizeof(*p->jobs));
	if (!p->jobs)
		goto nomem;
	size_t bound = deflateBound(NULL, PDEFLATE_BLOCK) + 64;
	for (size_t i = 0; i < p->n_jobs; i++) {
		p->jobs[i].in = malloc(PDEFLATE_BLOCK);
		p->jobs[i].out = malloc(bound);
		p->jobs[i].out_cap = bound;
		if (!p->jobs[i].in || !p->jobs[i].out)
			goto nomem;
	}
	/* The first block is being filled before any worker looks. */
	p->cur = &p->jobs[0];
	p->cur->state = JOB_FILLING;
	p->cur->seq = p->next_seq++;
	if (p->threads == 1) {
		p->inline_init = true;
		if (!blockz_init(&p->inline_bz, level))
			goto nomem;
	} else {
		for (int i = 0; i < p->threads; i++) {
			if (pthread_create(&p->tids[i], NULL, worker, p) != 0)
				break;
			p->started++;
		}
		if (p->started == 0) {
			pdeflate_free(p);
			return error_set(err, CB_ERR_INTERNAL, "cannot start compression threads");
		}
	}
	*out = p;
	return CB_OK;
nomem:
	pdeflate_free(p);
	return error_nomem(err);
}

/* Hand finished blocks to out_fn in order, waiting for the next one in line
 * when wait is set.  Called with the mutex held; releases it around out_fn. */
static enum result drain(struct pdeflate *p, bool wait, struct error *err)
{
	for (;;) {
		struct job *next = NULL;
		for (size_t i = 0; i < p->n_jobs; i++) {
			struct job *j = &p->jobs[i];
			if (j->state != JOB_FREE && j->state != JOB_FILLING && j->seq == p->next_out)
				next = j;
		}
		if (!next)
			return CB_OK;
		if (next->state != JOB_DONE) {
			if (!wait)
				return CB_OK;
			pthread_cond_wait(&p->done, &p->mu);
			continue;
		}
		if (next->zr != Z_OK) {
			p->failed = true;
			return error_set(err, next->zr == Z_MEM_ERROR ? CB_ERR_NOMEM : CB_ERR_INTERNAL,
					 "compression failed (zlib error %d)", next->zr);
		}
		pthread_mutex_unlock(&p->mu);
		enum result r = p->out_fn(p->out_ctx, next->out, next->out_len, err);
		pthread_mutex_lock(&p->mu);
		if (r) {
			p->failed = true;
			return r;
		}
		p->crc = (uint32_t)crc32_combine(p->crc, next->crc, (z_off_t)next->in_len);
		p->total += next->in_len;
		next->state = JOB_FREE;
		p->next_out++;
		/* Only wait for one block: the caller needs a free slot, not all. */
		wait = false;
	}
}

/* Queue the block being filled (compressing it here with one thread) and
 * start a new one, primed with the last 32 KiB of this one.  Job states are
 * only ever read or changed with the mutex held. */
static enum result submit(struct pdeflate *p, bool last, struct error *err)
{
	struct job *full = p->cur;
	enum result r;
	full->last = last;
	/* The next block's dictionary, taken before the slot can be reused. */
	size_t keep = full->in_len < DICT_SIZE ? full->in_len : DICT_SIZE;
	unsigned char tail[DICT_SIZE];
	memcpy(tail, full->in + full->in_len - keep, keep);

	if (p->threads == 1)
		compress_job(&p->inline_bz, full);
	pthread_mutex_lock(&p->mu);
	if (p->threads == 1) {
		full->state = JOB_DONE;
	} else {
		full->state = JOB_QUEUED;
		pthread_cond_signal(&p->work);
	}
	r = drain(p, false, err);
	struct job *next = NULL;
	while (!r && !last) {
		/* A free slot for the next block, writing out the oldest if need be. */
		for (size_t i = 0; i < p->n_jobs && !next; i++)
			if (p->jobs[i].state == JOB_FREE)
				next = &p->jobs[i];
		if (next)
			break;
		r = drain(p, true, err);
	}
	if (next) {
		next->state = JOB_FILLING;
		next->seq = p->next_seq++;
	}
	pthread_mutex_unlock(&p->mu);
	if (r || last)
		return r;
	next->in_len = 0;
	next->last = false;
	memcpy(next->dict, tail, keep);
	next->dict_len = keep;
	p->cur = next;
	return CB_OK;
}

enum result pdeflate_write(struct pdeflate *p, const void *buf, size_t len, struct error *err)
{
	const unsigned char *src = buf;
	if (p->failed)
		return error_set(err, CB_ERR_INTERNAL, "compression already failed");
	while (len > 0) {
		size_t room = PDEFLATE_BLOCK - p->cur->in_len;
		size_t n = len < room ? len : room;
		memcpy(p->cur->in + p->cur->in_len, src, n);
		p->cur->in_len += n;
		src += n;
		len -= n;
		if (p->cur->in_len == PDEFLATE_BLOCK) {
			enum result r = submit(p, false, err);
			if (r)
				return r;
		}
	}
	return CB_OK;
}

enum result pdeflate_finish(struct pdeflate *p, uint32_t *crc, uint64_t *len,
			    struct error *err)
{
	if (p->failed)
		return error_set(err, CB_ERR_INTERNAL, "compression already failed");
	enum result r = submit(p, true, err);
	if (r)
		return r;
	pthread_mutex_lock(&p->mu);
	while (!r && p->next_out < p->next_seq)
		r = drain(p, true, err);
	pthread_mutex_unlock(&p->mu);
	if (r)
		return r;
	*crc = p->crc;
	*len = p->total;
	return CB_OK;
}

void pdeflate_free(struct pdeflate *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->quit = true;
		/* Abandoned blocks are not compressed. */
		for (size_t i = 0; i < p->n_jobs; i++)
			if (p->jobs[i].state == JOB_QUEUED)
				p->jobs[i].state = JOB_FREE;
		pthread_cond_broadcast(&p->work);
		pthread_mutex_unlock(&p->mu);
		for (int i = 0; i < p->started; i++)
			pthread_join(p->tids[i], NULL);
	}
	if (p->inline_init)
		blockz_end(&p->inline_bz);
	for (size_t i = 0; p->jobs && i < p->n_jobs; i++) {
		free(p->jobs[i].in);
		free(p->jobs[i].out);
	}
	pthread_mutex_destroy(&p->mu);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	free(p->jobs);
	free(p);
}
