/*
 * Helpers shared by the engine/ unit tests (include after cmocka.h): SQL
 * that must work, and whole files read and written.
 */
#ifndef CBSYNC_ENGINE_TEST_H
#define CBSYNC_ENGINE_TEST_H

#include "common/fsutil.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
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

#endif
