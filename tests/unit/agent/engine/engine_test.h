/*
 * Helpers shared by the engine/ unit tests, and the tiers/ ones that need
 * the same things (include after cmocka.h): SQL that must work, whole files
 * read and written, and increments cut from a live database file.
 */
#ifndef CBSYNC_ENGINE_TEST_H
#define CBSYNC_ENGINE_TEST_H

#include "agent/engine/gzstream.h"
#include "agent/engine/pagesum.h"
#include "agent/engine/walfile.h"
#include "common/fsutil.h"
#include "common/hash.h"
#include "common/increment.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static inline void exec_ok(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("SQL \"%s\" failed: %s", sql, msg ? msg : "?");
}

static inline unsigned char *slurp(const char *path, size_t *len)
{
	*len = 0;
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	size_t n = (size_t)st.st_size;
	unsigned char *p = malloc(n + 1);
	assert_non_null(p);
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, p + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
	close(fd);
	*len = n;
	return p;
}

static inline void spit(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
}

static inline enum result engine_test_gz_sink(void *ctx, const void *buf, size_t len,
					      struct error *err)
{
	return gz_writer_write(ctx, buf, len, err);
}

/* Cut an increment from the database file at live, the way the agent's diff
 * capture does but without it, so that tests of what reads increments do not
 * depend on the code that makes them: the pages that differ from sums (then
 * brought to the new state) as one WAL transaction through gzip, and m, its
 * metadata.  n names it (snapshot, seqs, times in seconds; the WAL's
 * checkpoint sequence is its seq_last); prev is its predecessor's name, ""
 * for the first of a chain.  The object goes to obj, or when obj is NULL to
 * <dir>/<its name> (a folder that must exist); the metadata is only filled
 * in, not written.  Returns live's bytes, the state the increment reaches
 * (the caller frees them), and their length in *len. */
static inline unsigned char *make_increment(const char *live, struct pagesum *sums,
					    uint32_t page_size, const struct incr_name *n,
					    const char *prev, const char *dir, const char *obj,
					    struct incr_meta *m, size_t *len)
{
	struct walfile_writer w = {0};
	struct walfile_writer_opts o = {.page_size = page_size,
					.checkpoint_seq = (uint32_t)n->seq_last};
	struct walfile_info info;
	struct gz_writer *gz;
	struct gz_result res;
	struct error err = {0};
	char path[512];
	unsigned char *img = slurp(live, len);

	assert_non_null(img);
	assert_int_equal(*len % page_size, 0);
	uint32_t npages = (uint32_t)(*len / page_size);
	*m = (struct incr_meta){0};
	assert_true(incr_name_format(n, m->name, sizeof(m->name)));
	if (obj)
		snprintf(path, sizeof(path), "%s", obj);
	else
		snprintf(path, sizeof(path), "%s/%s", dir, m->name);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(gz_writer_open(&gz, fd, &(struct gz_writer_opts){.level = 6, .threads = 1},
					&err), CB_OK);
	assert_int_equal(walfile_random_salts(o.salt, &err), CB_OK);
	assert_int_equal(walfile_writer_init(&w, &o, engine_test_gz_sink, gz, &err), CB_OK);
	assert_int_equal(pagesum_resize(sums, npages, &err), CB_OK);
	for (uint32_t p = 1; p <= npages; p++) {
		const unsigned char *page = img + (size_t)(p - 1) * page_size;
		if (!pagesum_changed(sums, p, page))
			continue;
		assert_int_equal(walfile_add_page(&w, p, page, &err), CB_OK);
		assert_int_equal(pagesum_update(sums, p, page, &err), CB_OK);
	}
	assert_int_equal(walfile_commit(&w, npages, &info, &err), CB_OK);
	walfile_writer_free(&w);
	assert_int_equal(gz_writer_finish(gz, NULL, &res, &err), CB_OK);
	gz_writer_free(gz);
	assert_int_equal(close(fd), 0);

	snprintf(m->database, sizeof(m->database), "cloudbrain");
	snprintf(m->snapshot, sizeof(m->snapshot), "%s", n->snapshot);
	snprintf(m->prev, sizeof(m->prev), "%s", prev);
	m->seq_first = n->seq_first;
	m->seq_last = n->seq_last;
	m->first_tx_ms = n->first * 1000;
	m->last_tx_ms = n->last * 1000;
	m->page_size = page_size;
	m->page_count = info.db_pages;
	m->pages = info.frames;
	m->original_size = (int64_t)info.bytes;
	m->compressed_size = (int64_t)res.compressed_size;
	hex_encode(res.sha256, SHA256_LEN, m->sha256);
	m->state_checksum = pagesum_checksum(sums);
	snprintf(m->version, sizeof(m->version), "test");
	return img;
}

#endif
