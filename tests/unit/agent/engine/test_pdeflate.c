/*
 * Unit tests for parallel deflate: whatever the thread count and input size,
 * the blocks form one raw deflate stream that zlib inflates to the input,
 * with the right CRC-32, about as small as one-thread deflate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "agent/engine/pdeflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct sink {
	unsigned char *buf;
	size_t len, cap;
	int calls;
};

static enum result collect(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)err;
	struct sink *s = ctx;
	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2 + 1024;
		s->buf = realloc(s->buf, s->cap);
	}
	memcpy(s->buf + s->len, buf, len);
	s->len += len;
	s->calls++;
	return CB_OK;
}

/* Text-like input: words from a small vocabulary, with random stretches. */
static unsigned char *make_input(size_t n, unsigned seed)
{
	static const char *const words[] = {"knowledge ", "insight ", "message ", "the ",
					    "backup ", "restore ", "agent ", "of ", "and "};
	unsigned char *b = malloc(n + 1);
	size_t o = 0;
	while (o < n) {
		if (rand_r(&seed) % 50 == 0) {
			for (int k = 0; k < 300 && o < n; k++)
				b[o++] = (unsigned char)rand_r(&seed);
			continue;
		}
		const char *w = words[rand_r(&seed) % 9];
		for (const char *p = w; *p && o < n; p++)
			b[o++] = (unsigned char)*p;
	}
	return b;
}

static unsigned char *inflate_all(const unsigned char *in, size_t in_len, size_t expect)
{
	unsigned char *out = malloc(expect + 1);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, -15), Z_OK);
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (uInt)in_len;
	zs.next_out = out;
	zs.avail_out = (uInt)expect + 1;
	int zr = inflate(&zs, Z_FINISH);
	assert_int_equal(zr, Z_STREAM_END);
	assert_int_equal(zs.total_out, expect);
	assert_int_equal(zs.avail_in, 0); /* nothing after the final block */
	inflateEnd(&zs);
	return out;
}

static size_t one_thread_deflate_size(const unsigned char *in, size_t n, int level)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	deflateInit2(&zs, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
	size_t cap = deflateBound(&zs, n);
	unsigned char *out = malloc(cap);
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	deflate(&zs, Z_FINISH);
	size_t got = zs.total_out;
	deflateEnd(&zs);
	free(out);
	return got;
}

static void check(size_t n, int threads, int level, size_t write_chunk)
{
	unsigned char *in = make_input(n, (unsigned)n + 7);
	struct sink s = {0};
	struct pdeflate *p = NULL;
	struct error err = {0};
	assert_int_equal(pdeflate_new(&p, level, threads, collect, &s, &err), CB_OK);
	for (size_t o = 0; o < n;) {
		size_t k = n - o < write_chunk ? n - o : write_chunk;
		assert_int_equal(pdeflate_write(p, in + o, k, &err), CB_OK);
		o += k;
	}
	uint32_t crc = 0;
	uint64_t len = 0;
	assert_int_equal(pdeflate_finish(p, &crc, &len, &err), CB_OK);
	pdeflate_free(p);
	assert_int_equal(len, n);
	assert_int_equal(crc, (uint32_t)crc32(0, in, (uInt)n));
	unsigned char *back = inflate_all(s.buf, s.len, n);
	assert_memory_equal(back, in, n);
	if (n >= 4 * PDEFLATE_BLOCK && !pdeflate_isal_level(level)) {
		/* Primed blocks cost little: within 2% of one zlib stream.  (ISA-L's
		 * are another encoder; test_backup_format compares their size.) */
		size_t single = one_thread_deflate_size(in, n, level);
		assert_true((double)s.len <= (double)single * 1.02);
	}
	free(back);
	free(in);
	free(s.buf);
}

static void sizes_around_blocks(void **state)
{
	(void)state;
	const size_t b = PDEFLATE_BLOCK;
	const size_t sizes[] = {0, 1, 100, b - 1, b, b + 1, 2 * b, 3 * b + 17, 10 * b + 4095};
	const int threads[] = {1, 2, 3, 8};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++)
		for (size_t t = 0; t < sizeof(threads) / sizeof(*threads); t++)
			check(sizes[i], threads[t], 6, 4096);
}

static void levels_and_write_sizes(void **state)
{
	(void)state;
	check(5 * PDEFLATE_BLOCK + 3, 2, 1, 1);
	check(5 * PDEFLATE_BLOCK + 3, 2, 9, 1000000);
	check(40 * PDEFLATE_BLOCK, 4, 6, 65536);
	check(40 * PDEFLATE_BLOCK, 0, 6, 4096); /* auto */
}

/* Every level, on both engines where the build has ISA-L: the blocks
 * inflate back, around the block size and with the dictionary in use. */
static void every_level_round_trips(void **state)
{
	(void)state;
	const size_t b = PDEFLATE_BLOCK;
	const size_t sizes[] = {1, b - 1, b + 1, 4 * b + 4095};
	for (int level = 1; level <= 9; level++) {
#ifdef CBSYNC_ISAL
		assert_int_equal(pdeflate_isal_level(level), level <= 3);
#else
		assert_false(pdeflate_isal_level(level));
#endif
		for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
			check(sizes[i], 1, level, 65536);
			check(sizes[i], 2, level, 4096);
		}
	}
}

static enum result fail_second(void *ctx, const void *buf, size_t len, struct error *err)
{
	(void)buf;
	(void)len;
	int *calls = ctx;
	if (++*calls == 2)
		return error_set(err, CB_ERR_IO, "disk full");
	return CB_OK;
}

static void output_errors_stop_it(void **state)
{
	(void)state;
	unsigned char *in = make_input(8 * PDEFLATE_BLOCK, 3);
	int calls = 0;
	struct pdeflate *p = NULL;
	struct error err = {0};
	assert_int_equal(pdeflate_new(&p, 6, 2, fail_second, &calls, &err), CB_OK);
	enum result r = pdeflate_write(p, in, 8 * PDEFLATE_BLOCK, &err);
	if (r == CB_OK) {
		uint32_t crc;
		uint64_t len;
		r = pdeflate_finish(p, &crc, &len, &err);
	}
	assert_int_equal(r, CB_ERR_IO);
	assert_string_equal(err.msg, "disk full");
	/* Freed without finishing: no leaks, no hang. */
	pdeflate_free(p);
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sizes_around_blocks),
		cmocka_unit_test(levels_and_write_sizes),
		cmocka_unit_test(every_level_round_trips),
		cmocka_unit_test(output_errors_stop_it),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
