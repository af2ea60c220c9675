/*
 * Unit tests for common/fsutil.c: atomic files, directories, paths and
 * small-file reads.  Every test works in its own fresh directory (mkdtemp)
 * and removes it afterwards.
 */
#include "common/fsutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- helpers ------------------------------------------------------------- */

/* Remove a directory tree (only what these tests create: files, symlinks
 * and directories). */
static void remove_tree(const char *path)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return;
	if (S_ISDIR(st.st_mode)) {
		DIR *d = opendir(path);
		if (d) {
			struct dirent *e;
			while ((e = readdir(d)) != NULL) {
				if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
					continue;
				char *child = fs_join(path, e->d_name);
				remove_tree(child);
				free(child);
			}
			closedir(d);
		}
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int setup_dir(void **state)
{
	char *tmpl = strdup("/tmp/cbsync-test-fsutil.XXXXXX");
	if (!tmpl || !mkdtemp(tmpl)) {
		free(tmpl);
		return -1;
	}
	*state = tmpl;
	return 0;
}

static int teardown_dir(void **state)
{
	remove_tree(*state);
	free(*state);
	return 0;
}

/* Path of name inside the test directory, in one of a ring of static
 * buffers: valid until 16 more calls. */
static char *in_dir(void **state, const char *name)
{
	static char buf[16][512];
	static int which;
	which = (which + 1) % 16;
	snprintf(buf[which], sizeof(buf[which]), "%s/%s", (const char *)*state, name);
	return buf[which];
}

static void write_plain(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

/* Whole content of a file, which must exist; caller frees. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open '%s': %s", path, strerror(errno));
	size_t cap = 1024, n = 0;
	char *buf = malloc(cap + 1);
	assert_non_null(buf);
	for (;;) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		cap *= 2;
		buf = realloc(buf, cap + 1);
		assert_non_null(buf);
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* Entries of a directory other than . and .., and how many start with the
 * temp prefix. */
static int count_entries(const char *dir, int *tmp_count)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	int n = 0, t = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		n++;
		if (strncmp(e->d_name, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0)
			t++;
	}
	closedir(d);
	if (tmp_count)
		*tmp_count = t;
	return n;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

/* ---- atomic files -------------------------------------------------------- */

static void test_atomic_commit(void **state)
{
	const char *dir = *state;
	const char *final = in_dir(state, "backup.db.gz");
	struct atomic_file af;
	struct error err = {0};

	assert_int_equal(atomic_file_open(&af, final, 0600, &err), CB_OK);
	assert_true(af.fd >= 0);
	assert_non_null(af.tmp_path);
	/* The temp file sits beside the target with the reserved prefix. */
	char *tmp_dir = fs_dirname(af.tmp_path);
	assert_string_equal(tmp_dir, dir);
	free(tmp_dir);
	assert_memory_equal(fs_basename(af.tmp_path), FS_TMP_PREFIX, strlen(FS_TMP_PREFIX));
	assert_non_null(strstr(fs_basename(af.tmp_path), "backup.db.gz"));

	assert_int_equal(atomic_file_write(&af, "hello, ", 7, &err), CB_OK);
	assert_int_equal(atomic_file_write(&af, "", 0, &err), CB_OK);
	assert_int_equal(atomic_file_write(&af, "world\n", 6, &err), CB_OK);
	/* Nothing carries the final name until commit. */
	assert_false(fs_exists(final));
	int tmps;
	assert_int_equal(count_entries(dir, &tmps), 1);
	assert_int_equal(tmps, 1);

	assert_int_equal(atomic_file_commit(&af, NULL, &err), CB_OK);
	assert_int_equal(af.fd, -1);
	assert_null(af.tmp_path);
	assert_null(af.final_path);
	size_t len;
	char *got = slurp(final, &len);
	assert_int_equal(len, 13);
	assert_string_equal(got, "hello, world\n");
	free(got);
	assert_int_equal(mode_of(final), 0600);
	assert_int_equal(count_entries(dir, &tmps), 1);
	assert_int_equal(tmps, 0);

	/* Abort after commit is harmless and removes nothing. */
	atomic_file_abort(&af);
	assert_true(fs_exists(final));
}

static void test_atomic_mode_ignores_umask(void **state)
{
	const char *final = in_dir(state, "shared.json");
	mode_t old = umask(0077);
	struct atomic_file af;
	struct error err = {0};
	assert_int_equal(atomic_file_open(&af, final, 0644, &err), CB_OK);
	assert_int_equal(atomic_file_write(&af, "{}", 2, &err), CB_OK);
	assert_int_equal(atomic_file_commit(&af, &(struct commit_opts){.no_sync = true}, &err),
			 CB_OK);
	umask(old);
	assert_int_equal(mode_of(final), 0644);

	const char *secret = in_dir(state, "secret");
	assert_int_equal(fs_write_file_atomic(secret, "x", 1, 0600, &err), CB_OK);
	assert_int_equal(mode_of(secret), 0600);
}

static void test_atomic_replace(void **state)
{
	const char *final = in_dir(state, "state.json");
	write_plain(final, "old content that is longer");
	struct error err = {0};
	assert_int_equal(fs_write_file_atomic(final, "new", 3, 0600, &err), CB_OK);
	char *got = slurp(final, NULL);
	assert_string_equal(got, "new");
	free(got);
	int tmps;
	assert_int_equal(count_entries(*state, &tmps), 1);
	assert_int_equal(tmps, 0);
}

static void test_atomic_abort(void **state)
{
	const char *dir = *state;
	const char *final = in_dir(state, "never.db.gz");
	struct atomic_file af;
	struct error err = {0};
	assert_int_equal(atomic_file_open(&af, final, 0600, &err), CB_OK);
	assert_int_equal(atomic_file_write(&af, "partial", 7, &err), CB_OK);
	atomic_file_abort(&af);
	assert_int_equal(af.fd, -1);
	assert_null(af.tmp_path);
	assert_null(af.final_path);
	assert_false(fs_exists(final));
	assert_int_equal(count_entries(dir, NULL), 0);
	/* Twice is harmless. */
	atomic_file_abort(&af);
	assert_int_equal(count_entries(dir, NULL), 0);

	/* Abort also leaves an existing file of that name alone. */
	write_plain(final, "keep me");
	assert_int_equal(atomic_file_open(&af, final, 0600, &err), CB_OK);
	assert_int_equal(atomic_file_write(&af, "other", 5, &err), CB_OK);
	atomic_file_abort(&af);
	char *got = slurp(final, NULL);
	assert_string_equal(got, "keep me");
	free(got);
	assert_int_equal(count_entries(dir, NULL), 1);
}

static void test_atomic_no_replace(void **state)
{
	const char *dir = *state;
	const char *final = in_dir(state, "db_manual_20260202_120000.db.gz");
	write_plain(final, "the first backup");
	struct atomic_file af;
	struct error err = {0};
	assert_int_equal(atomic_file_open(&af, final, 0600, &err), CB_OK);
	assert_int_equal(atomic_file_write(&af, "the second backup", 17, &err), CB_OK);
	enum result r = atomic_file_commit(&af, &(struct commit_opts){.no_replace = true}, &err);
	assert_int_equal(r, CB_ERR_IO);
	assert_int_equal(err.code, CB_ERR_IO);
	char want[600];
	snprintf(want, sizeof(want), "[Errno %d] %s: '%s'", EEXIST, strerror(EEXIST), final);
	assert_string_equal(err.msg, want);
	/* The existing file is untouched and the temp file is gone. */
	char *got = slurp(final, NULL);
	assert_string_equal(got, "the first backup");
	free(got);
	int tmps;
	assert_int_equal(count_entries(dir, &tmps), 1);
	assert_int_equal(tmps, 0);
	assert_int_equal(af.fd, -1);
	assert_null(af.tmp_path);
	assert_null(af.final_path);

	/* With no existing file, no_replace commits normally. */
	const char *fresh = in_dir(state, "db_manual_20260202_120001.db.gz");
	assert_int_equal(atomic_file_open(&af, fresh, 0600, &err), CB_OK);
	assert_int_equal(atomic_file_write(&af, "third", 5, &err), CB_OK);
	assert_int_equal(atomic_file_commit(&af, &(struct commit_opts){.no_replace = true}, &err),
			 CB_OK);
	got = slurp(fresh, NULL);
	assert_string_equal(got, "third");
	free(got);
	assert_int_equal(count_entries(dir, &tmps), 2);
	assert_int_equal(tmps, 0);
}

static void test_atomic_open_missing_dir(void **state)
{
	const char *dir = in_dir(state, "missing");
	char path[600];
	snprintf(path, sizeof(path), "%s/file", dir);
	struct atomic_file af;
	struct error err = {0};
	assert_int_equal(atomic_file_open(&af, path, 0600, &err), CB_ERR_NOT_FOUND);
	assert_int_equal(af.fd, -1);
	assert_null(af.tmp_path);
	assert_null(af.final_path);
	char want[700];
	snprintf(want, sizeof(want), "[Errno %d] %s: '%s'", ENOENT, strerror(ENOENT), dir);
	assert_string_equal(err.msg, want);
	atomic_file_abort(&af); /* safe on a failed open */
	assert_int_equal(count_entries(*state, NULL), 0);
}

static void test_atomic_large(void **state)
{
	const char *final = in_dir(state, "big");
	size_t n = 3 * 1024 * 1024 + 17;
	unsigned char *data = malloc(n);
	assert_non_null(data);
	for (size_t i = 0; i < n; i++)
		data[i] = (unsigned char)(i * 31 + (i >> 9));
	struct atomic_file af;
	struct error err = {0};
	assert_int_equal(atomic_file_open(&af, final, 0600, &err), CB_OK);
	for (size_t off = 0; off < n; off += 100000) {
		size_t len = n - off < 100000 ? n - off : 100000;
		assert_int_equal(atomic_file_write(&af, data + off, len, &err), CB_OK);
	}
	assert_int_equal(atomic_file_commit(&af, NULL, &err), CB_OK);
	size_t len;
	char *got = slurp(final, &len);
	assert_int_equal(len, n);
	assert_memory_equal(got, data, n);
	assert_int_equal(fs_file_size(final), (int64_t)n);
	free(got);
	free(data);
}

/* ---- fs_read_file -------------------------------------------------------- */

static void write_n(const char *path, size_t n)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	assert_int_equal(fclose(f), 0);
}

static void test_read_file_limits(void **state)
{
	const char *path = in_dir(state, "data");
	static const size_t sizes[] = {0, 1, 100, 4095, 4096, 4097, 8191, 8192, 8193, 70000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(*sizes); i++) {
		size_t n = sizes[i];
		write_n(path, n);
		struct error err = {0};
		char *out = NULL;
		size_t len = 12345;

		/* At exactly the limit: read whole, NUL-terminated. */
		assert_int_equal(fs_read_file(path, n, &out, &len, &err), CB_OK);
		assert_int_equal(len, n);
		assert_int_equal(strlen(out), n);
		for (size_t k = 0; k < n; k++)
			assert_int_equal(out[k], 'a' + (int)(k % 26));
		free(out);

		/* Well under the limit; len may be NULL. */
		out = NULL;
		assert_int_equal(fs_read_file(path, n + 100000, &out, NULL, &err), CB_OK);
		assert_int_equal(strlen(out), n);
		free(out);

		/* One byte over the limit is refused, and *out is not written. */
		if (n > 0) {
			out = (char *)"sentinel";
			assert_int_equal(fs_read_file(path, n - 1, &out, &len, &err), CB_ERR_IO);
			assert_string_equal(out, "sentinel");
			char want[600];
			snprintf(want, sizeof(want), "file too large: '%s'", path);
			assert_string_equal(err.msg, want);
		}
	}
}

static void test_read_file_binary_and_missing(void **state)
{
	const char *path = in_dir(state, "bin");
	static const char data[] = {'a', '\0', 'b', '\0', '\n'};
	struct error err = {0};
	assert_int_equal(fs_write_file_atomic(path, data, sizeof(data), 0600, &err), CB_OK);
	char *out = NULL;
	size_t len = 0;
	assert_int_equal(fs_read_file(path, 1024, &out, &len, &err), CB_OK);
	assert_int_equal(len, sizeof(data));
	assert_memory_equal(out, data, sizeof(data));
	assert_int_equal(out[len], '\0');
	free(out);

	const char *missing = in_dir(state, "nope");
	assert_int_equal(fs_read_file(missing, 1024, &out, &len, &err), CB_ERR_NOT_FOUND);
	char want[600];
	snprintf(want, sizeof(want), "[Errno %d] %s: '%s'", ENOENT, strerror(ENOENT), missing);
	assert_string_equal(err.msg, want);

	/* A directory cannot be read as a file. */
	assert_int_equal(fs_read_file(*state, 1024, &out, &len, &err), CB_ERR_IO);
	assert_non_null(strstr(err.msg, "[Errno 21]"));
}

/* ---- directories --------------------------------------------------------- */

static void test_mkdirs(void **state)
{
	struct error err = {0};
	mode_t old = umask(022);
	const char *deep = in_dir(state, "a/b/c/d");
	assert_int_equal(fs_mkdirs(deep, 0700, &err), CB_OK);
	struct stat st;
	assert_int_equal(stat(deep, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(mode_of(in_dir(state, "a")), 0700);
	assert_int_equal(mode_of(in_dir(state, "a/b")), 0700);

	/* Existing: fine, and the mode is not changed. */
	assert_int_equal(fs_mkdirs(deep, 0755, &err), CB_OK);
	assert_int_equal(mode_of(deep), 0700);
	/* Partly existing. */
	assert_int_equal(fs_mkdirs(in_dir(state, "a/b/x/y"), 0750, &err), CB_OK);
	assert_int_equal(mode_of(in_dir(state, "a/b/x")), 0750);
	assert_int_equal(mode_of(in_dir(state, "a/b")), 0700);
	/* Trailing and doubled slashes. */
	assert_int_equal(fs_mkdirs(in_dir(state, "t1/t2/"), 0700, &err), CB_OK);
	assert_true(fs_exists(in_dir(state, "t1/t2")));
	assert_int_equal(fs_mkdirs(in_dir(state, "u1//u2"), 0700, &err), CB_OK);
	assert_true(fs_exists(in_dir(state, "u1/u2")));
	umask(old);

	/* A file in the way. */
	const char *file = in_dir(state, "plain");
	write_plain(file, "x");
	assert_int_equal(fs_mkdirs(file, 0700, &err), CB_ERR_NOT_FOUND);
	char want[600];
	snprintf(want, sizeof(want), "[Errno %d] %s: '%s'", ENOTDIR, strerror(ENOTDIR), file);
	assert_string_equal(err.msg, want);
	assert_int_equal(fs_mkdirs(in_dir(state, "plain/sub/dir"), 0700, &err),
			 CB_ERR_NOT_FOUND);
	assert_false(fs_exists(in_dir(state, "plain/sub")));

	/* An empty path names no directory. */
	assert_true(fs_mkdirs("", 0700, &err) != CB_OK);
}

static void test_fsync_dir(void **state)
{
	struct error err = {0};
	assert_int_equal(fs_fsync_dir(*state, &err), CB_OK);
	assert_int_equal(fs_fsync_dir(in_dir(state, "missing"), &err), CB_ERR_NOT_FOUND);
	const char *file = in_dir(state, "f");
	write_plain(file, "x");
	assert_int_equal(fs_fsync_dir(file, &err), CB_ERR_NOT_FOUND); /* ENOTDIR */
}

/* ---- paths --------------------------------------------------------------- */

static void join(const char *dir, const char *name, const char *want)
{
	char *p = fs_join(dir, name);
	assert_non_null(p);
	assert_string_equal(p, want);
	free(p);
}

static void dirname_is(const char *path, const char *want)
{
	char *p = fs_dirname(path);
	assert_non_null(p);
	if (strcmp(p, want) != 0)
		fail_msg("fs_dirname(\"%s\") = \"%s\", want \"%s\"", path, p, want);
	free(p);
}

static void test_paths(void **state)
{
	(void)state;
	join("a", "b", "a/b");
	join("a/", "b", "a/b");
	join("/", "b", "/b");
	join("", "b", "b");
	join("a/b/c", "d.db.gz", "a/b/c/d.db.gz");
	join("a", "", "a/");
	join(".", "x", "./x");

	dirname_is("a/b", "a");
	dirname_is("/a/b/c.db", "/a/b");
	dirname_is("b", ".");
	dirname_is("", ".");
	dirname_is("/b", "/");
	dirname_is("/", "/");
	dirname_is("ai_db/backups/x.db.gz", "ai_db/backups");
	dirname_is("./x", ".");

	assert_string_equal(fs_basename("a/b"), "b");
	assert_string_equal(fs_basename("/a/b/c.db"), "c.db");
	assert_string_equal(fs_basename("b"), "b");
	assert_string_equal(fs_basename(""), "");
	assert_string_equal(fs_basename("a/"), "");
	assert_string_equal(fs_basename("/"), "");
	/* The result points into the argument. */
	const char *p = "dir/name";
	assert_ptr_equal(fs_basename(p), p + 4);
}

static void test_exists_and_size(void **state)
{
	const char *file = in_dir(state, "f");
	write_plain(file, "12345");
	assert_true(fs_exists(file));
	assert_int_equal(fs_file_size(file), 5);
	assert_true(fs_exists(*state));
	assert_int_equal(fs_file_size(*state), -1); /* a directory */
	const char *missing = in_dir(state, "missing");
	assert_false(fs_exists(missing));
	assert_int_equal(fs_file_size(missing), -1);
	/* A dangling symlink exists (as a link) but has no size. */
	const char *link = in_dir(state, "dangling");
	assert_int_equal(symlink("nowhere", link), 0);
	assert_true(fs_exists(link));
	assert_int_equal(fs_file_size(link), -1);
	const char *empty = in_dir(state, "empty");
	write_plain(empty, "");
	assert_int_equal(fs_file_size(empty), 0);
}

static void test_rename_noreplace(void **state)
{
	char from[512], to[512];
	snprintf(from, sizeof(from), "%s", in_dir(state, "from"));
	snprintf(to, sizeof(to), "%s", in_dir(state, "to"));
	write_plain(from, "A");
	write_plain(to, "B");
	assert_int_equal(fs_rename_noreplace(from, to), EEXIST);
	char *got = slurp(from, NULL);
	assert_string_equal(got, "A");
	free(got);
	got = slurp(to, NULL);
	assert_string_equal(got, "B");
	free(got);

	unlink(to);
	assert_int_equal(fs_rename_noreplace(from, to), 0);
	assert_false(fs_exists(from));
	got = slurp(to, NULL);
	assert_string_equal(got, "A");
	free(got);
	assert_int_equal(fs_rename_noreplace(from, to), ENOENT);
}

static void test_write_all_and_pwrite(void **state)
{
	const char *path = in_dir(state, "w");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, "0123456789", 10), 0);
	assert_int_equal(fs_pwrite_all(fd, "AB", 2, 3), 0);
	assert_int_equal(fs_pwrite_all(fd, "Z", 1, 12), 0); /* leaves a hole */
	assert_int_equal(fs_write_all(fd, "", 0), 0);
	close(fd);
	size_t len;
	char *got = slurp(path, &len);
	assert_int_equal(len, 13);
	assert_memory_equal(got, "012AB56789\0\0Z", 13);
	free(got);
	/* A bad descriptor reports its errno. */
	assert_int_equal(fs_write_all(-1, "x", 1), EBADF);
	assert_int_equal(fs_pwrite_all(-1, "x", 1, 0), EBADF);
}

static void test_writeback_hint(void **state)
{
	char *path = fs_join(*state, "big");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	size_t chunk = FS_WRITEBACK_STEP / 8;
	char *buf = malloc(chunk);
	assert_non_null(buf);
	memset(buf, 'q', chunk);
	off_t mark = 0, end = 0;
	/* Below the step nothing is started and the mark stays put. */
	for (int i = 0; i < 5; i++) {
		assert_int_equal(fs_write_all(fd, buf, chunk), 0);
		end += (off_t)chunk;
		assert_int_equal(fs_writeback_hint(fd, &mark, end), 0);
	}
	assert_int_equal(mark, 0);
	/* Past it, writeback starts from the mark to the end written so far. */
	for (int i = 0; i < 4; i++) {
		assert_int_equal(fs_write_all(fd, buf, chunk), 0);
		end += (off_t)chunk;
		assert_int_equal(fs_writeback_hint(fd, &mark, end), 0);
	}
	assert_int_equal(mark, (off_t)FS_WRITEBACK_STEP);
	assert_int_equal(fs_writeback_hint(fd, &mark, end), 0);
	assert_int_equal(mark, (off_t)FS_WRITEBACK_STEP);
	/* The hint never changes the content. */
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)(9 * chunk));
	close(fd);
	/* On a pipe the kernel refuses; that is no error to the caller. */
	int p[2];
	assert_int_equal(pipe(p), 0);
	mark = 0;
	assert_int_equal(fs_writeback_hint(p[1], &mark, (off_t)FS_WRITEBACK_STEP * 2), 0);
	assert_int_equal(mark, (off_t)FS_WRITEBACK_STEP * 2);
	close(p[0]);
	close(p[1]);
	free(buf);
	free(path);
}

/* The unpaced variant moves its mark in bursts, the same way. */
static void test_writeback_start(void **state)
{
	char *path = fs_join(*state, "burst");
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	size_t chunk = FS_WRITEBACK_BURST / 4;
	char *buf = malloc(chunk);
	assert_non_null(buf);
	memset(buf, 'r', chunk);
	off_t mark = 0, end = 0;
	for (int i = 0; i < 6; i++) {
		assert_int_equal(fs_write_all(fd, buf, chunk), 0);
		end += (off_t)chunk;
		fs_writeback_start(fd, &mark, end);
		assert_int_equal(mark, i < 3 ? 0 : (off_t)FS_WRITEBACK_BURST);
	}
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, (off_t)(6 * chunk));
	close(fd);
	int p[2];
	assert_int_equal(pipe(p), 0);
	mark = 0;
	fs_writeback_start(p[1], &mark, (off_t)FS_WRITEBACK_BURST);
	assert_int_equal(mark, (off_t)FS_WRITEBACK_BURST);
	close(p[0]);
	close(p[1]);
	free(buf);
	free(path);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_dir)
	const struct CMUnitTest tests[] = {
		T(test_atomic_commit),
		T(test_atomic_mode_ignores_umask),
		T(test_atomic_replace),
		T(test_atomic_abort),
		T(test_atomic_no_replace),
		T(test_atomic_open_missing_dir),
		T(test_atomic_large),
		T(test_read_file_limits),
		T(test_read_file_binary_and_missing),
		T(test_mkdirs),
		T(test_fsync_dir),
		T(test_paths),
		T(test_exists_and_size),
		T(test_rename_noreplace),
		T(test_write_all_and_pwrite),
		T(test_writeback_hint),
		T(test_writeback_start),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
