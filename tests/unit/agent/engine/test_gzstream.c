/*
 * Unit tests for agent/gzstream.c: the gzip writer with a reserved head and
 * the checking push-style reader.
 *
 * The writer's output is checked with zlib's own inflate (gzip wrapper,
 * windowBits 31) in one call over the whole file, and with an independent
 * SHA-256 (libcrypto's EVP one-shot).  The reader is checked against the
 * writer's output, against zlib-made multi-member files, and against every
 * kind of damage: truncation at many offsets, flipped bytes, trailing
 * garbage, non-gzip input.
 */
#include "agent/engine/gzstream.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define KIB 1024
#define MIB (1024 * 1024)

static char test_dir[64];

/* ---- helpers ------------------------------------------------------------- */

struct bytes {
	unsigned char *p;
	size_t len;
	size_t cap;
};

static void bytes_add(struct bytes *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + len)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	if (len)
		memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void bytes_free(struct bytes *b)
{
	free(b->p);
	*b = (struct bytes){0};
}

/* Deterministic test data: runs of random bytes, English-like text, zeros
 * and a repeating ramp, so deflate sees both compressible and incompressible
 * input. */
static unsigned char *make_data(size_t n, uint64_t seed)
{
	static const char words[] =
		"the quick brown fox jumps over the lazy dog while the backup agent "
		"streams pages of the database into a gzip member ";
	unsigned char *p = malloc(n ? n : 1);
	assert_non_null(p);
	uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
	size_t i = 0;
	int kind = 0;
	while (i < n) {
		size_t run = 1000 + (size_t)(x % 40000);
		if (run > n - i)
			run = n - i;
		for (size_t k = 0; k < run; k++) {
			switch (kind) {
			case 0:
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				p[i + k] = (unsigned char)(x >> 24);
				break;
			case 1: p[i + k] = (unsigned char)words[(i + k) % (sizeof(words) - 1)]; break;
			case 2: p[i + k] = 0; break;
			default: p[i + k] = (unsigned char)((i + k) & 0xff); break;
			}
		}
		i += run;
		kind = (kind + 1) % 4;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	return p;
}

static void sha256_independent(const void *data, size_t len, uint8_t out[32])
{
	unsigned int n = 0;
	assert_int_equal(EVP_Digest(data, len, out, &n, EVP_sha256(), NULL), 1);
	assert_int_equal(n, 32);
}

static unsigned char *read_whole(int fd, size_t *len)
{
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	size_t n = (size_t)st.st_size;
	unsigned char *p = malloc(n ? n : 1);
	assert_non_null(p);
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(fd, p + got, n - got, (off_t)got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	*len = n;
	return p;
}

static int new_file(const char *name)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", test_dir, name);
	unlink(path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	unlink(path); /* the descriptor keeps it alive; nothing to clean up */
	return fd;
}

/* Write head and body (the body in pieces of chunk bytes) through a
 * gz_writer; return the file's bytes. */
static unsigned char *gz_write(const unsigned char *head, size_t head_size,
			       const unsigned char *body, size_t body_len, int level,
			       size_t chunk, struct gz_result *res, size_t *file_len)
{
	int fd = new_file("out.gz");
	struct gz_writer *w = NULL;
	struct error err = {0};
	struct gz_writer_opts opts = {.level = level, .head_size = head_size};
	assert_int_equal(gz_writer_open(&w, fd, &opts, &err), CB_OK);
	for (size_t off = 0; off < body_len; off += chunk) {
		size_t n = body_len - off < chunk ? body_len - off : chunk;
		assert_int_equal(gz_writer_write(w, body + off, n, &err), CB_OK);
	}
	memset(res, 0xEE, sizeof(*res));
	assert_int_equal(gz_writer_finish(w, head, res, &err), CB_OK);
	gz_writer_free(w);
	unsigned char *file = read_whole(fd, file_len);
	close(fd);
	return file;
}

/* Decompress a whole gzip file with zlib in ONE inflate call and return the
 * bytes.  The file must be exactly one complete member. */
static unsigned char *inflate_once(const unsigned char *gz, size_t gz_len,
				   size_t expect_len, size_t *out_len)
{
	size_t cap = expect_len + 64;
	unsigned char *out = malloc(cap);
	assert_non_null(out);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(inflateInit2(&zs, 31), Z_OK);
	zs.next_in = (unsigned char *)gz;
	zs.avail_in = (uInt)gz_len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	int zr = inflate(&zs, Z_FINISH);
	if (zr != Z_STREAM_END)
		fail_msg("inflate returned %d (%s)", zr, zs.msg ? zs.msg : "");
	assert_int_equal(zs.avail_in, 0); /* nothing after the member */
	*out_len = zs.total_out;
	inflateEnd(&zs);
	return out;
}

/* Write, then check everything about the result. */
static void round_trip(size_t head_size, size_t body_len, int level, size_t chunk,
		       uint64_t seed)
{
	unsigned char *data = make_data(head_size + body_len, seed);
	struct gz_result res;
	size_t file_len;
	unsigned char *file = gz_write(data, head_size, data + head_size, body_len, level,
				       chunk, &res, &file_len);
	size_t out_len;
	unsigned char *out = inflate_once(file, file_len, head_size + body_len, &out_len);
	assert_int_equal(out_len, head_size + body_len);
	if (out_len)
		assert_memory_equal(out, data, out_len);
	assert_int_equal(res.data_size, head_size + body_len);
	assert_int_equal(res.compressed_size, file_len);
	uint8_t sha[32];
	sha256_independent(file, file_len, sha);
	assert_memory_equal(res.sha256, sha, 32);
	/* The gzip header: magic, deflate, no flags, mtime 0, OS Unix. */
	static const unsigned char hdr[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0};
	assert_memory_equal(file, hdr, sizeof(hdr));
	assert_int_equal(file[9], 3);
	free(out);
	free(file);
	free(data);
}

/* ---- writer -------------------------------------------------------------- */

static void test_writer_head_sizes(void **state)
{
	(void)state;
	static const size_t heads[] = {0, 512, 4096, 65536};
	static const size_t bodies[] = {0, 1, 4096, 300000};
	for (size_t h = 0; h < 4; h++)
		for (size_t b = 0; b < 4; b++)
			round_trip(heads[h], bodies[b], 6, 8192, h * 4 + b + 1);
}

/* The head sits in stored blocks right after the header, as the layout in
 * gzstream.h says; a 64 KiB head needs two blocks (65535 + 1). */
static void test_writer_stored_layout(void **state)
{
	(void)state;
	struct gz_result res;
	size_t len;

	unsigned char *head = make_data(65536, 99);
	unsigned char body[100];
	memset(body, 'b', sizeof(body));

	unsigned char *file = gz_write(head, 512, body, sizeof(body), 6, 100, &res, &len);
	assert_int_equal(file[10], 0x00);           /* BFINAL 0, stored */
	assert_int_equal(file[11] | file[12] << 8, 512);
	assert_int_equal(file[13] | file[14] << 8, 0xffff ^ 512);
	assert_memory_equal(file + 15, head, 512);
	free(file);

	file = gz_write(head, 65536, body, sizeof(body), 6, 100, &res, &len);
	assert_int_equal(file[10], 0x00);
	assert_int_equal(file[11] | file[12] << 8, 65535);
	assert_int_equal(file[13] | file[14] << 8, 0);
	assert_memory_equal(file + 15, head, 65535);
	size_t second = 15 + 65535;
	assert_int_equal(file[second], 0x00);
	assert_int_equal(file[second + 1] | file[second + 2] << 8, 1);
	assert_int_equal(file[second + 3] | file[second + 4] << 8, 0xfffe);
	assert_int_equal(file[second + 5], head[65535]);
	/* Trailer: CRC-32 and length of head + body. */
	uLong crc = crc32(0, head, 65536);
	crc = crc32(crc, body, sizeof(body));
	const unsigned char *t = file + len - 8;
	assert_int_equal((uint32_t)(t[0] | t[1] << 8 | t[2] << 16 | (uint32_t)t[3] << 24),
			 (uint32_t)crc);
	assert_int_equal((uint32_t)(t[4] | t[5] << 8 | t[6] << 16 | (uint32_t)t[7] << 24),
			 65536 + sizeof(body));
	free(file);
	free(head);
}

static void test_writer_levels(void **state)
{
	(void)state;
	static const int levels[] = {1, 6, 9};
	static const unsigned char xfl[] = {4, 0, 2};
	unsigned char *data = make_data(2 * MIB, 7);
	for (int i = 0; i < 3; i++) {
		round_trip(4096, 2 * MIB - 4096, levels[i], 65536, 7);
		struct gz_result res;
		size_t len;
		unsigned char *file = gz_write(data, 4096, data + 4096, 2 * MIB - 4096,
					       levels[i], 65536, &res, &len);
		assert_int_equal(file[8], xfl[i]);
		/* Half the data is compressible: the file is clearly smaller. */
		assert_true(len < 2 * MIB * 3 / 4);
		free(file);
	}
	free(data);
}

static void test_writer_large_body(void **state)
{
	(void)state;
	/* Several MiB, fed in irregular pieces. */
	round_trip(4096, 6 * MIB + 12345, 6, 777, 11);
	round_trip(65536, 5 * MIB, 1, 3 * 65536 + 1, 12);
	round_trip(0, 4 * MIB, 9, 4 * MIB, 13); /* one call */
}

static void test_writer_zero_length_writes(void **state)
{
	(void)state;
	unsigned char *data = make_data(20000, 5);
	int fd = new_file("zero.gz");
	struct gz_writer *w = NULL;
	struct error err = {0};
	struct gz_writer_opts opts = {.level = 6, .head_size = 1000};
	assert_int_equal(gz_writer_open(&w, fd, &opts, &err), CB_OK);
	assert_int_equal(gz_writer_write(w, data + 1000, 0, &err), CB_OK);
	assert_int_equal(gz_writer_write(w, data + 1000, 9000, &err), CB_OK);
	assert_int_equal(gz_writer_write(w, data + 10000, 0, &err), CB_OK);
	assert_int_equal(gz_writer_write(w, data + 10000, 10000, &err), CB_OK);
	struct gz_result res;
	assert_int_equal(gz_writer_finish(w, data, &res, &err), CB_OK);
	gz_writer_free(w);
	size_t len, out_len;
	unsigned char *file = read_whole(fd, &len);
	unsigned char *out = inflate_once(file, len, 20000, &out_len);
	assert_int_equal(out_len, 20000);
	assert_memory_equal(out, data, 20000);
	close(fd);
	free(out);
	free(file);
	free(data);
}

static void test_writer_io_error(void **state)
{
	(void)state;
	/* A descriptor that cannot be written: the error surfaces, no crash. */
	char path[128];
	snprintf(path, sizeof(path), "%s/ro-target", test_dir);
	int wfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(wfd >= 0);
	close(wfd);
	int rfd = open(path, O_RDONLY);
	assert_true(rfd >= 0);
	struct gz_writer *w = NULL;
	struct error err = {0};
	struct gz_writer_opts opts = {.level = 6, .head_size = 512};
	assert_int_equal(gz_writer_open(&w, rfd, &opts, &err), CB_OK);
	unsigned char *data = make_data(512 + 4 * MIB, 3);
	enum result r = gz_writer_write(w, data + 512, 4 * MIB, &err);
	struct gz_result res;
	if (r == CB_OK)
		r = gz_writer_finish(w, data, &res, &err);
	assert_int_equal(r, CB_ERR_IO);
	assert_non_null(strstr(err.msg, "[Errno 9]"));
	assert_non_null(strstr(err.msg, "writing the backup"));
	gz_writer_free(w);
	close(rfd);
	unlink(path);
	free(data);
}

/* ---- reader -------------------------------------------------------------- */

struct sink {
	struct bytes got;
	size_t calls;
	size_t fail_after; /* fail on this call (1-based); 0 never */
};

static enum result sink_fn(void *ctx, const void *buf, size_t len, struct error *err)
{
	struct sink *s = ctx;
	s->calls++;
	if (s->fail_after && s->calls >= s->fail_after)
		return error_set(err, CB_ERR_IO, "sink refused");
	assert_true(len > 0);
	bytes_add(&s->got, buf, len);
	return CB_OK;
}

struct outcome {
	enum result r;       /* CB_OK or the first error */
	bool failed_in_feed; /* the error came from feed, not finish */
	char msg[ERROR_MSG_MAX];
	struct gz_read_result res;
	struct bytes data;
};

/* Feed input through a reader in pieces of chunk bytes, then finish. */
static void read_gz(const unsigned char *in, size_t len, size_t chunk, struct outcome *o)
{
	struct gz_reader *g = NULL;
	struct sink s = {0};
	struct error err = {0};
	memset(o, 0, sizeof(*o));
	assert_int_equal(gz_reader_new(&g, sink_fn, &s, &err), CB_OK);
	o->r = CB_OK;
	for (size_t off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;
		o->r = gz_reader_feed(g, in + off, n, &err);
		if (o->r) {
			o->failed_in_feed = true;
			break;
		}
	}
	if (!o->r)
		o->r = gz_reader_finish(g, &o->res, &err);
	if (o->r)
		snprintf(o->msg, sizeof(o->msg), "%s", err.msg);
	gz_reader_free(g);
	o->data = s.got;
}

static void test_reader_accepts_writer_output(void **state)
{
	(void)state;
	static const size_t heads[] = {0, 512, 65536};
	static const size_t bodies[] = {0, 70000, 3 * MIB};
	for (int h = 0; h < 3; h++) {
		for (int b = 0; b < 3; b++) {
			unsigned char *data = make_data(heads[h] + bodies[b], 20 + h);
			struct gz_result wres;
			size_t len;
			unsigned char *file = gz_write(data, heads[h], data + heads[h], bodies[b], 6,
						       50000, &wres, &len);
			struct outcome o;
			read_gz(file, len, len ? len : 1, &o);
			assert_int_equal(o.r, CB_OK);
			assert_int_equal(o.data.len, heads[h] + bodies[b]);
			if (o.data.len)
				assert_memory_equal(o.data.p, data, o.data.len);
			assert_int_equal(o.res.data_size, heads[h] + bodies[b]);
			assert_int_equal(o.res.compressed_size, len);
			/* The reader hashes what it was fed: the writer's file. */
			assert_memory_equal(o.res.sha256, wres.sha256, 32);
			bytes_free(&o.data);
			free(file);
			free(data);
		}
	}
}

/* Compress data with zlib's own gzip wrapper (a second, independent writer). */
static void zlib_gzip(const unsigned char *data, size_t len, struct bytes *out)
{
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	assert_int_equal(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	size_t cap = deflateBound(&zs, (uLong)len) + 64;
	unsigned char *buf = malloc(cap);
	assert_non_null(buf);
	zs.next_in = (unsigned char *)data;
	zs.avail_in = (uInt)len;
	zs.next_out = buf;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	bytes_add(out, buf, zs.total_out);
	deflateEnd(&zs);
	free(buf);
}

static void test_reader_multi_member(void **state)
{
	(void)state;
	unsigned char *a = make_data(100000, 31);
	unsigned char *b = make_data(5000, 32);
	struct gz_result wres;
	size_t la;
	unsigned char *fa = gz_write(a, 4096, a + 4096, 100000 - 4096, 6, 9999, &wres, &la);
	struct bytes in = {0};
	bytes_add(&in, fa, la);
	zlib_gzip(b, 5000, &in);   /* a zlib-made member */
	zlib_gzip(b, 0, &in);      /* an empty member */
	bytes_add(&in, fa, la);    /* the first one again */

	struct bytes want = {0};
	bytes_add(&want, a, 100000);
	bytes_add(&want, b, 5000);
	bytes_add(&want, a, 100000);

	uint8_t sha[32];
	sha256_independent(in.p, in.len, sha);
	static const size_t chunks[] = {1, 7, 4096, 1 << 20};
	for (int c = 0; c < 4; c++) {
		struct outcome o;
		read_gz(in.p, in.len, chunks[c], &o);
		assert_int_equal(o.r, CB_OK);
		assert_int_equal(o.data.len, want.len);
		assert_memory_equal(o.data.p, want.p, want.len);
		assert_int_equal(o.res.data_size, want.len);
		assert_int_equal(o.res.compressed_size, in.len);
		assert_memory_equal(o.res.sha256, sha, 32);
		bytes_free(&o.data);
	}
	bytes_free(&in);
	bytes_free(&want);
	free(fa);
	free(a);
	free(b);
}

static void test_reader_one_byte_chunks(void **state)
{
	(void)state;
	unsigned char *data = make_data(300000, 41);
	struct gz_result wres;
	size_t len;
	unsigned char *file = gz_write(data, 4096, data + 4096, 300000 - 4096, 9, 65536,
				       &wres, &len);
	struct outcome whole, bytewise;
	read_gz(file, len, len, &whole);
	read_gz(file, len, 1, &bytewise);
	assert_int_equal(whole.r, CB_OK);
	assert_int_equal(bytewise.r, CB_OK);
	assert_int_equal(whole.data.len, 300000);
	assert_int_equal(bytewise.data.len, 300000);
	assert_memory_equal(bytewise.data.p, data, 300000);
	assert_memory_equal(whole.data.p, data, 300000);
	assert_memory_equal(&whole.res, &bytewise.res, sizeof(whole.res));
	bytes_free(&whole.data);
	bytes_free(&bytewise.data);
	free(file);
	free(data);
}

/* Check that damaged input fails the same way whole and byte by byte. */
static void expect_corrupt(const unsigned char *in, size_t len, const char *want_msg)
{
	struct outcome whole, bytewise;
	read_gz(in, len, len ? len : 1, &whole);
	read_gz(in, len, 1, &bytewise);
	if (whole.r != CB_ERR_CORRUPT)
		fail_msg("result %d (%s), want CB_ERR_CORRUPT \"%s\"", (int)whole.r, whole.msg,
			 want_msg ? want_msg : "");
	assert_int_equal(bytewise.r, CB_ERR_CORRUPT);
	if (want_msg)
		assert_string_equal(whole.msg, want_msg);
	assert_string_equal(bytewise.msg, whole.msg);
	bytes_free(&whole.data);
	bytes_free(&bytewise.data);
}

static void test_reader_truncated(void **state)
{
	(void)state;
	/* A small file, cut at every offset. */
	unsigned char *data = make_data(6000, 51);
	struct gz_result wres;
	size_t len;
	unsigned char *file = gz_write(data, 512, data + 512, 6000 - 512, 6, 1000, &wres,
				       &len);
	for (size_t cut = 1; cut < len; cut++) {
		struct outcome o;
		read_gz(file, cut, cut, &o);
		assert_int_equal(o.r, CB_ERR_CORRUPT);
		assert_false(o.failed_in_feed); /* a prefix is not bad data */
		assert_string_equal(o.msg, "truncated (the gzip stream ends early)");
		/* What came out is a prefix of the data. */
		assert_true(o.data.len <= 6000);
		if (o.data.len)
			assert_memory_equal(o.data.p, data, o.data.len);
		bytes_free(&o.data);
	}
	/* Byte by byte for a handful of cuts, including inside the trailer. */
	static const size_t few[] = {1, 2, 9, 10, 11, 600, 0};
	for (int i = 0; i < 7; i++) {
		size_t cut = few[i] ? few[i] : len - 1;
		expect_corrupt(file, cut, "truncated (the gzip stream ends early)");
	}
	expect_corrupt(file, len - 4, "truncated (the gzip stream ends early)");
	expect_corrupt(file, len - 8, "truncated (the gzip stream ends early)");
	/* Nothing at all. */
	expect_corrupt(file, 0, "empty file, not a gzip file");
	free(file);
	free(data);

	/* A large file cut at spread offsets. */
	data = make_data(3 * MIB, 52);
	file = gz_write(data, 65536, data + 65536, 3 * MIB - 65536, 6, 65536, &wres, &len);
	for (size_t cut = 1; cut < len; cut = cut * 3 + 7) {
		struct outcome o;
		read_gz(file, cut, 65536, &o);
		assert_int_equal(o.r, CB_ERR_CORRUPT);
		assert_string_equal(o.msg, "truncated (the gzip stream ends early)");
		bytes_free(&o.data);
	}
	/* A cut on a member boundary of a two-member file is not damage... */
	struct bytes two = {0};
	bytes_add(&two, file, len);
	bytes_add(&two, file, len);
	struct outcome o;
	read_gz(two.p, len, 65536, &o);
	assert_int_equal(o.r, CB_OK);
	bytes_free(&o.data);
	/* ...but one byte into the second member is. */
	read_gz(two.p, len + 1, 65536, &o);
	assert_int_equal(o.r, CB_ERR_CORRUPT);
	assert_string_equal(o.msg, "truncated (the gzip stream ends early)");
	bytes_free(&o.data);
	bytes_free(&two);
	free(file);
	free(data);
}

/* ISA-L's inflate checks a member's CRC-32 and length as one. */
#ifdef CBSYNC_ISAL
#define CRC_MISMATCH "gzip CRC-32 or length mismatch"
#define LENGTH_MISMATCH "gzip CRC-32 or length mismatch"
#else
#define CRC_MISMATCH "gzip CRC-32 mismatch"
#define LENGTH_MISMATCH "gzip length mismatch"
#endif

static void test_reader_flipped_bytes(void **state)
{
	(void)state;
	unsigned char *data = make_data(40000, 61);
	struct gz_result wres;
	size_t len;
	unsigned char *file = gz_write(data, 1024, data + 1024, 40000 - 1024, 6, 4096, &wres,
				       &len);
	unsigned char *bad = malloc(len);
	assert_non_null(bad);

	/* In the stored head: the data is read as is, so only the CRC can
	 * notice. */
	size_t head_start = 10 + 5, head_end = head_start + 1024;
	for (size_t off = head_start; off < head_end; off += 37) {
		memcpy(bad, file, len);
		bad[off] ^= 0x01;
		expect_corrupt(bad, len, CRC_MISMATCH);
	}
	/* In the stored block's length: zlib sees LEN and NLEN disagree. */
	memcpy(bad, file, len);
	bad[11] ^= 0x01;
	expect_corrupt(bad, len, NULL);

	/* Anywhere in the deflate body: always corrupt, whatever zlib says.
	 * The whole byte is inverted: a single bit could be one of the padding
	 * bits after a stored block's header, which deflate ignores (and the
	 * random runs in the data make deflate emit stored blocks). */
	for (size_t off = head_end; off < len - 8; off++) {
		memcpy(bad, file, len);
		bad[off] ^= 0xff;
		struct outcome o;
		read_gz(bad, len, len, &o);
		if (o.r != CB_ERR_CORRUPT)
			fail_msg("flip at %zu of %zu: result %d", off, len, (int)o.r);
		assert_true(o.msg[0] != '\0');
		bytes_free(&o.data);
	}

	/* The trailer: CRC-32, then ISIZE. */
	for (size_t k = 0; k < 4; k++) {
		memcpy(bad, file, len);
		bad[len - 8 + k] ^= 0x80;
		expect_corrupt(bad, len, CRC_MISMATCH);
		memcpy(bad, file, len);
		bad[len - 4 + k] ^= 0x01;
		expect_corrupt(bad, len, LENGTH_MISMATCH);
	}
	free(bad);
	free(file);
	free(data);
}

static void test_reader_trailing_garbage(void **state)
{
	(void)state;
	unsigned char *data = make_data(10000, 71);
	struct gz_result wres;
	size_t len;
	unsigned char *file = gz_write(data, 512, data + 512, 10000 - 512, 6, 4096, &wres,
				       &len);
	static const struct {
		const char *bytes;
		size_t len;
	} tails[] = {
		{"garbage after the end", 21},
		{"\0\0\0\0\0\0\0\0", 8},
		{"\x1f\x8b\x09\0\0\0\0\0\0\x03", 10}, /* a member with a bad method */
		{"PK\x03\x04", 4},
	};
	for (size_t i = 0; i < sizeof(tails) / sizeof(*tails); i++) {
		struct bytes in = {0};
		bytes_add(&in, file, len);
		bytes_add(&in, tails[i].bytes, tails[i].len);
		expect_corrupt(in.p, in.len, "trailing data after the gzip stream");
		bytes_free(&in);
	}
	/* A single stray byte is damage too, whatever it is called. */
	struct bytes in = {0};
	bytes_add(&in, file, len);
	bytes_add(&in, "\n", 1);
	expect_corrupt(in.p, in.len, NULL);
	bytes_free(&in);
	free(file);
	free(data);
}

static void test_reader_not_gzip(void **state)
{
	(void)state;
	static const char sqlite_header[] = "SQLite format 3\0\x10\0\x01\x01\0\x40\x20\x20";
	expect_corrupt((const unsigned char *)sqlite_header, sizeof(sqlite_header),
		       "not a gzip file");
	static const char text[] = "just some text, not compressed at all\n";
	expect_corrupt((const unsigned char *)text, sizeof(text) - 1, "not a gzip file");
	/* A zlib (not gzip) stream. */
	unsigned char z[64];
	uLongf zl = sizeof(z);
	assert_int_equal(compress(z, &zl, (const Bytef *)"hello", 5), Z_OK);
	expect_corrupt(z, zl, "not a gzip file");
	/* gzip magic with an unknown method. */
	static const unsigned char method[] = {0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3, 0, 0};
	expect_corrupt(method, sizeof(method), "not a gzip file");
	/* Empty input. */
	expect_corrupt((const unsigned char *)"", 0, "empty file, not a gzip file");
}

static void test_reader_after_failure(void **state)
{
	(void)state;
	struct gz_reader *g = NULL;
	struct sink s = {0};
	struct error err = {0};
	assert_int_equal(gz_reader_new(&g, sink_fn, &s, &err), CB_OK);
	assert_int_equal(gz_reader_feed(g, "not gzip at all", 15, &err), CB_ERR_CORRUPT);
	assert_string_equal(err.msg, "not a gzip file");
	/* Once failed, it stays failed. */
	assert_int_equal(gz_reader_feed(g, "\x1f\x8b", 2, &err), CB_ERR_CORRUPT);
	assert_string_equal(err.msg, "gzip reader already failed");
	struct gz_read_result res;
	assert_int_equal(gz_reader_finish(g, &res, &err), CB_ERR_CORRUPT);
	gz_reader_free(g);
	bytes_free(&s.got);
	gz_reader_free(NULL);
}

static void test_reader_sink_error(void **state)
{
	(void)state;
	unsigned char *data = make_data(2 * MIB, 81);
	struct gz_result wres;
	size_t len;
	unsigned char *file = gz_write(data, 0, data, 2 * MIB, 6, MIB, &wres, &len);
	struct gz_reader *g = NULL;
	struct sink s = {.fail_after = 2};
	struct error err = {0};
	assert_int_equal(gz_reader_new(&g, sink_fn, &s, &err), CB_OK);
	assert_int_equal(gz_reader_feed(g, file, len, &err), CB_ERR_IO);
	assert_string_equal(err.msg, "sink refused");
	assert_int_equal(s.calls, 2); /* stopped at once */
	assert_int_equal(gz_reader_feed(g, file, 1, &err), CB_ERR_IO);
	gz_reader_free(g);
	bytes_free(&s.got);

	/* A NULL sink just checks. */
	assert_int_equal(gz_reader_new(&g, NULL, NULL, &err), CB_OK);
	assert_int_equal(gz_reader_feed(g, file, len, &err), CB_OK);
	struct gz_read_result res;
	assert_int_equal(gz_reader_finish(g, &res, &err), CB_OK);
	assert_int_equal(res.data_size, 2 * MIB);
	gz_reader_free(g);
	free(file);
	free(data);
}

struct progress {
	uint64_t last;
	int calls;
	bool monotonic;
};

static void progress_fn(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	(void)total;
	if (done < p->last)
		p->monotonic = false;
	p->last = done;
	p->calls++;
}

static void test_read_fd(void **state)
{
	(void)state;
	unsigned char *data = make_data(3 * MIB, 91);
	struct gz_result wres;
	size_t len;
	unsigned char *file = gz_write(data, 4096, data + 4096, 3 * MIB - 4096, 1, MIB, &wres,
				       &len);
	int fd = new_file("read.gz");
	assert_int_equal(write(fd, file, len), (ssize_t)len);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	struct sink s = {0};
	struct progress p = {.monotonic = true};
	struct gz_read_result res;
	struct error err = {0};
	assert_int_equal(gz_read_fd(fd, sink_fn, &s, progress_fn, &p, &res, &err), CB_OK);
	assert_int_equal(s.got.len, 3 * MIB);
	assert_memory_equal(s.got.p, data, 3 * MIB);
	assert_int_equal(res.compressed_size, len);
	assert_memory_equal(res.sha256, wres.sha256, 32);
	assert_true(p.calls >= 1);
	assert_true(p.monotonic);
	assert_int_equal(p.last, len);
	bytes_free(&s.got);

	/* Truncate the file on disk: the same error as from the reader. */
	assert_int_equal(ftruncate(fd, (off_t)(len / 2)), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(gz_read_fd(fd, NULL, NULL, NULL, NULL, &res, &err), CB_ERR_CORRUPT);
	assert_string_equal(err.msg, "truncated (the gzip stream ends early)");
	close(fd);
	free(file);
	free(data);
}

static int group_setup(void **state)
{
	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/cbsync-test-gz.XXXXXX");
	return mkdtemp(test_dir) ? 0 : -1;
}

static int group_teardown(void **state)
{
	(void)state;
	char path[128];
	snprintf(path, sizeof(path), "%s/ro-target", test_dir);
	unlink(path);
	return rmdir(test_dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_writer_head_sizes),
		cmocka_unit_test(test_writer_stored_layout),
		cmocka_unit_test(test_writer_levels),
		cmocka_unit_test(test_writer_large_body),
		cmocka_unit_test(test_writer_zero_length_writes),
		cmocka_unit_test(test_writer_io_error),
		cmocka_unit_test(test_reader_accepts_writer_output),
		cmocka_unit_test(test_reader_multi_member),
		cmocka_unit_test(test_reader_one_byte_chunks),
		cmocka_unit_test(test_reader_truncated),
		cmocka_unit_test(test_reader_flipped_bytes),
		cmocka_unit_test(test_reader_trailing_garbage),
		cmocka_unit_test(test_reader_not_gzip),
		cmocka_unit_test(test_reader_after_failure),
		cmocka_unit_test(test_reader_sink_error),
		cmocka_unit_test(test_read_fd),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
