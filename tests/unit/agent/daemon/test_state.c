/*
 * Unit tests for agent/state.c: the agent's state file.
 *
 * state_write then state_read gives back every field (those the file
 * leaves out on purpose read back as zero); the file is 0600 whatever the
 * umask, replaces the old one by rename (a symlink in its place is
 * replaced, never followed) and leaves no temp file, even when the rename
 * fails.  state_read says CB_ERR_NOT_FOUND for no file; anything that is
 * not a JSON object, truncated, too large or hostile fails cleanly without
 * touching its out-parameter, and well-formed JSON of the wrong shape
 * reads as zeros and empty strings, bounded by the buffers.  Remote entries
 * beyond STATE_MAX_REMOTES are ignored.  Text that is not UTF-8 (a
 * database path, a message cut mid-character) must not stop the file
 * being written.
 */
#include "agent/daemon/state.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct ctx {
	char dir[64];
};

/* ---- helpers ------------------------------------------------------------- */

static const char *path_in(const struct ctx *c, const char *name)
{
	static char buf[8][256];
	static int which;
	which = (which + 1) % 8;
	snprintf(buf[which], sizeof(buf[which]), "%s/%s", c->dir, name);
	return buf[which];
}

static void write_raw(const struct ctx *c, const void *text, size_t len)
{
	/* A new file each time: ext4 flushes a truncated file on close. */
	unlink(path_in(c, STATE_FILE_NAME));
	int fd = open(path_in(c, STATE_FILE_NAME), O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fs_write_all(fd, text, len), 0);
	assert_int_equal(close(fd), 0);
}

static void write_text(const struct ctx *c, const char *text)
{
	write_raw(c, text, strlen(text));
}

static char *read_text(const struct ctx *c)
{
	char *text = NULL;
	struct error err = {0};
	assert_int_equal(fs_read_file(path_in(c, STATE_FILE_NAME), 1 << 22, &text, NULL, &err),
			 CB_OK);
	return text;
}

/* Names in the directory other than the state file. */
static int others_in_dir(const struct ctx *c)
{
	DIR *d = opendir(c->dir);
	assert_non_null(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
		    strcmp(e->d_name, STATE_FILE_NAME) == 0)
			continue;
		if (strncmp(e->d_name, FS_TMP_PREFIX, strlen(FS_TMP_PREFIX)) == 0)
			print_error("temp file left: %s\n", e->d_name);
		n++;
	}
	closedir(d);
	return n;
}

/* A state with every field set, each to a value of its own. */
static void fill(struct agent_state *s)
{
	memset(s, 0, sizeof(*s));
	s->pid = 123456;
	s->started = 1767225600;  /* 2026-01-01 */
	s->updated = 1767225600 + 86399;
	snprintf(s->activity, sizeof(s->activity), "backing up (daily)");
	snprintf(s->database, sizeof(s->database), "/srv/data/cloud brain \"q\" \\ é.db");
	s->have_fingerprint = true;
	s->fingerprint = (struct db_fingerprint){.exists = true, .dev = 2049,
						 .ino = UINT64_C(18446744073709551000),
						 .size = 123456789012, .mtime_ns = 1767225600123456789,
						 .wal_size = 4120032, .wal_mtime_ns = 1767225601987654321};
	for (int t = 0; t < BT_COUNT; t++) {
		s->last[t].set = t != BT_WEEKLY;
		snprintf(s->last[t].name, sizeof(s->last[t].name), "db_%s_2026010%d_120000.db.gz",
			 backup_type_name((enum backup_type)t), t + 1);
		s->last[t].time = 1767268800 + t * 86400;
		s->last[t].seconds = 0.125 + t * 1.7;
		s->next[t] = 1767300000 + t * 3600;
		s->made[t] = (uint64_t)(t * 1000 + 7);
	}
	s->change_pending = true;
	s->change_since = 1767225700;
	s->log_lost = true;
	s->log_lost_time = 1767225800;
	snprintf(s->log_lost_error, sizeof(s->log_lost_error), "[Errno 28] No space left on device");
	s->failures = 42;
	s->have_error = true;
	s->error_time = 1767225900;
	snprintf(s->error, sizeof(s->error), "daily backup: [Errno 5] Input/output error: '/x'");
	s->n_remotes = 3;
	for (size_t i = 0; i < s->n_remotes; i++) {
		struct state_remote *r = &s->remotes[i];
		snprintf(r->name, sizeof(r->name), "remote-%zu", i);
		r->pending = i != 1;
		r->failing = i == 1;
		r->last_attempt = 1767226000 + (int64_t)i;
		r->last_success = i == 2 ? 0 : 1767226100 + (int64_t)i;
		r->next_retry = i == 1 ? 1767226200 : 0;
		r->uploaded = 10 + i;
		r->bytes_up = UINT64_C(5000000000) + i;
		r->requests = 300 + i;
		r->sync_errors = i;
		if (r->failing)
			snprintf(r->error, sizeof(r->error), "connection refused to 'host%zu'", i);
	}
}

static void assert_same_remote(const struct state_remote *a, const struct state_remote *b)
{
	assert_string_equal(a->name, b->name);
	assert_int_equal(a->pending, b->pending);
	assert_int_equal(a->failing, b->failing);
	assert_int_equal(a->last_attempt, b->last_attempt);
	assert_int_equal(a->last_success, b->last_success);
	assert_int_equal(a->next_retry, b->next_retry);
	assert_int_equal(a->uploaded, b->uploaded);
	assert_int_equal(a->bytes_up, b->bytes_up);
	assert_int_equal(a->requests, b->requests);
	assert_int_equal(a->sync_errors, b->sync_errors);
	assert_string_equal(a->error, b->error);
}

/* The two are the same field by field. */
static void assert_same(const struct agent_state *a, const struct agent_state *b)
{
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->started, b->started);
	assert_int_equal(a->updated, b->updated);
	assert_string_equal(a->activity, b->activity);
	assert_string_equal(a->database, b->database);
	assert_int_equal(a->have_fingerprint, b->have_fingerprint);
	assert_true(db_fingerprint_equal(&a->fingerprint, &b->fingerprint));
	assert_int_equal(a->fingerprint.exists, b->fingerprint.exists);
	for (int t = 0; t < BT_COUNT; t++) {
		assert_int_equal(a->last[t].set, b->last[t].set);
		assert_string_equal(a->last[t].name, b->last[t].name);
		assert_int_equal(a->last[t].time, b->last[t].time);
		assert_true(a->last[t].seconds == b->last[t].seconds);
		assert_int_equal(a->next[t], b->next[t]);
		assert_int_equal(a->made[t], b->made[t]);
	}
	assert_int_equal(a->change_pending, b->change_pending);
	assert_int_equal(a->change_since, b->change_since);
	assert_int_equal(a->log_lost, b->log_lost);
	assert_int_equal(a->log_lost_time, b->log_lost_time);
	assert_string_equal(a->log_lost_error, b->log_lost_error);
	assert_int_equal(a->failures, b->failures);
	assert_int_equal(a->have_error, b->have_error);
	assert_int_equal(a->error_time, b->error_time);
	assert_string_equal(a->error, b->error);
	assert_int_equal(a->n_remotes, b->n_remotes);
	for (size_t i = 0; i < a->n_remotes; i++)
		assert_same_remote(&a->remotes[i], &b->remotes[i]);
}

/* What reading back s should give: the fields the file leaves out on
 * purpose are zero. */
static void as_read_back(struct agent_state *s)
{
	for (int t = 0; t < BT_COUNT; t++) {
		if (!s->last[t].set)
			s->last[t] = (struct state_last){0};
		if (t != BT_DAILY && t != BT_WEEKLY && t != BT_MONTHLY)
			s->next[t] = 0; /* only the scheduled types have a next time */
	}
	if (!s->change_pending)
		s->change_since = 0;
	if (!s->log_lost) {
		s->log_lost_time = 0;
		s->log_lost_error[0] = '\0';
	}
	if (!s->have_error) {
		s->error_time = 0;
		s->error[0] = '\0';
	}
	if (!s->have_fingerprint)
		s->fingerprint = (struct db_fingerprint){0};
	for (size_t i = 0; i < s->n_remotes; i++)
		if (!s->remotes[i].failing)
			s->remotes[i].error[0] = '\0'; /* an error only while failing */
}

static struct agent_state *round_trip(const struct ctx *c, const struct agent_state *s)
{
	struct error err = {0};
	assert_int_equal(state_write(c->dir, s, &err), CB_OK);
	struct agent_state *got = malloc(sizeof(*got));
	assert_non_null(got);
	memset(got, 0xA5, sizeof(*got));
	assert_int_equal(state_read(c->dir, got, &err), CB_OK);
	return got;
}

/* A heap state (it is large), read from text written as the file. */
static enum result read_from(const struct ctx *c, const char *text, struct agent_state **out,
			     struct error *err)
{
	write_text(c, text);
	*out = malloc(sizeof(**out));
	assert_non_null(*out);
	memset(*out, 0xA5, sizeof(**out));
	memset(err, 0, sizeof(*err));
	return state_read(c->dir, *out, err);
}

/* The out-parameter is written only on success. */
static void assert_untouched(const struct agent_state *s)
{
	static unsigned char pattern[sizeof(*s)];
	if (pattern[0] != 0xA5)
		memset(pattern, 0xA5, sizeof(pattern));
	if (memcmp(s, pattern, sizeof(*s)) != 0)
		fail_msg("state_read wrote its out-parameter on failure");
}

static void assert_fails_cleanly(const struct ctx *c, const char *text, size_t len)
{
	write_raw(c, text, len);
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	memset(s, 0xA5, sizeof(*s));
	struct error err = {0};
	enum result r = state_read(c->dir, s, &err);
	if (r == CB_OK)
		fail_msg("state_read accepted %.60s", text);
	assert_int_not_equal(r, CB_ERR_NOT_FOUND);
	assert_int_equal(err.code, r);
	assert_true(err.msg[0] != '\0');
	assert_untouched(s);
	free(s);
}

/* ---- round trips --------------------------------------------------------- */

static void test_round_trip_every_field(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	fill(s);
	struct agent_state *got = round_trip(c, s);
	as_read_back(s);
	assert_same(s, got);
	/* Spot checks that the comparison is not vacuous. */
	assert_int_equal(got->pid, 123456);
	assert_int_equal(got->remotes[1].next_retry, 1767226200);
	assert_string_equal(got->remotes[1].error, "connection refused to 'host1'");
	assert_true(got->last[BT_CHANGE].seconds == 0.125 + BT_CHANGE * 1.7);
	assert_int_equal(got->next[BT_MONTHLY], 1767300000 + BT_MONTHLY * 3600);
	assert_int_equal(got->fingerprint.ino, UINT64_C(18446744073709551000));
	free(got);
	free(s);
}

static void test_round_trip_flags_off(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	fill(s);
	s->have_fingerprint = false;
	s->change_pending = false;
	s->log_lost = false;
	s->have_error = false;
	s->started = 0;
	for (int t = 0; t < BT_COUNT; t++)
		s->last[t].set = false;
	for (size_t i = 0; i < s->n_remotes; i++)
		s->remotes[i].failing = false;
	struct agent_state *got = round_trip(c, s);
	as_read_back(s);
	assert_same(s, got);
	assert_int_equal(got->change_since, 0);
	assert_string_equal(got->error, "");
	assert_false(got->log_lost);
	assert_string_equal(got->log_lost_error, "");
	assert_false(got->have_fingerprint);
	assert_string_equal(got->remotes[0].error, "");
	free(got);
	free(s);
}

/* A fingerprint of a missing database ("-") is a fingerprint too. */
static void test_round_trip_missing_database_fingerprint(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->have_fingerprint = true;
	s->fingerprint.exists = false;
	struct agent_state *got = round_trip(c, s);
	assert_true(got->have_fingerprint);
	assert_false(got->fingerprint.exists);
	free(got);
	free(s);
}

static void test_round_trip_empty_state(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct agent_state *got = round_trip(c, s);
	assert_same(s, got);
	free(got);
	free(s);
}

/* Strings at the size of their buffers, with characters JSON escapes. */
static void test_round_trip_full_buffers(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	fill(s);
	memset(s->activity, 'a', sizeof(s->activity) - 1);
	s->activity[sizeof(s->activity) - 1] = '\0';
	memset(s->database, 'd', sizeof(s->database) - 1);
	s->database[0] = '/';
	s->database[sizeof(s->database) - 1] = '\0';
	memset(s->error, '"', sizeof(s->error) - 1);
	s->error[sizeof(s->error) - 1] = '\0';
	memset(s->remotes[1].error, '\\', sizeof(s->remotes[1].error) - 1);
	s->remotes[1].error[sizeof(s->remotes[1].error) - 1] = '\0';
	memset(s->log_lost_error, '\n', sizeof(s->log_lost_error) - 1);
	s->log_lost_error[sizeof(s->log_lost_error) - 1] = '\0';
	memset(s->remotes[0].name, 'r', sizeof(s->remotes[0].name) - 1);
	s->remotes[0].name[sizeof(s->remotes[0].name) - 1] = '\0';
	struct agent_state *got = round_trip(c, s);
	as_read_back(s);
	assert_same(s, got);
	free(got);
	free(s);
}

/* A database path is bytes, not necessarily UTF-8, and a message cut to its
 * buffer may end inside a character: the state file is written anyway,
 * and the rest of it reads back exactly. */
static void test_write_text_that_is_not_utf8(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	fill(s);
	snprintf(s->database, sizeof(s->database), "/srv/caf\xe9/db.sqlite");
	/* "é" is two bytes; cut after the first. */
	snprintf(s->error, sizeof(s->error), "backup of caf\xc3");
	snprintf(s->remotes[1].error, sizeof(s->remotes[1].error), "bad reply \xff\xfe");
	snprintf(s->log_lost_error, sizeof(s->log_lost_error), "\x80");
	struct error err = {0};
	assert_int_equal(state_write(c->dir, s, &err), CB_OK);
	struct agent_state *got = malloc(sizeof(*got));
	assert_non_null(got);
	assert_int_equal(state_read(c->dir, got, &err), CB_OK);
	/* The stray bytes are kept, escaped as text.h does... */
	assert_string_equal(got->database, "/srv/caf\\xe9/db.sqlite");
	assert_string_equal(got->error, "backup of caf\\xc3");
	assert_string_equal(got->remotes[1].error, "bad reply \\xff\\xfe");
	assert_string_equal(got->log_lost_error, "\\x80");
	/* ...while valid UTF-8 beside them is not. */
	assert_string_equal(got->activity, s->activity);
	/* ...and nothing else is lost. */
	assert_int_equal(got->n_remotes, 3);
	assert_true(got->have_error);
	assert_int_equal(got->error_time, s->error_time);
	assert_true(got->remotes[1].failing);
	assert_int_equal(got->pid, s->pid);
	assert_true(got->have_fingerprint);
	free(got);
	free(s);
}

static void test_remotes_up_to_the_maximum(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->n_remotes = STATE_MAX_REMOTES;
	for (size_t i = 0; i < STATE_MAX_REMOTES; i++) {
		snprintf(s->remotes[i].name, sizeof(s->remotes[i].name), "r%zu", i);
		s->remotes[i].uploaded = i * 3;
		s->remotes[i].failing = i % 2;
		snprintf(s->remotes[i].error, sizeof(s->remotes[i].error), "e%zu", i);
	}
	struct agent_state *got = round_trip(c, s);
	as_read_back(s);
	assert_int_equal(got->n_remotes, STATE_MAX_REMOTES);
	assert_same(s, got);
	free(got);
	free(s);
}

/* A file with more remotes than the state holds (written by something
 * else): the first STATE_MAX_REMOTES, in order. */
static void test_remotes_beyond_the_maximum(void **state)
{
	const struct ctx *c = *state;
	size_t n = STATE_MAX_REMOTES + 9;
	size_t cap = 64 * n + 64;
	char *text = malloc(cap);
	assert_non_null(text);
	size_t o = (size_t)snprintf(text, cap, "{\"remotes\": [");
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(text + o, cap - o, "%s{\"name\": \"r%zu\", \"requests\": %zu}",
				      i ? ", " : "", i, i + 100);
	snprintf(text + o, cap - o, "]}");
	struct agent_state *s;
	struct error err;
	assert_int_equal(read_from(c, text, &s, &err), CB_OK);
	assert_int_equal(s->n_remotes, STATE_MAX_REMOTES);
	for (size_t i = 0; i < STATE_MAX_REMOTES; i++) {
		char name[16];
		snprintf(name, sizeof(name), "r%zu", i);
		assert_string_equal(s->remotes[i].name, name);
		assert_int_equal(s->remotes[i].requests, i + 100);
	}
	free(s);
	free(text);
}

/* ---- the file ------------------------------------------------------------ */

static void test_file_mode_and_no_temp_left(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	fill(s);
	mode_t masks[] = {0, 022, 077, 0777};
	for (size_t i = 0; i < sizeof(masks) / sizeof(*masks); i++) {
		mode_t old = umask(masks[i]);
		struct error err = {0};
		enum result r = state_write(c->dir, s, &err);
		umask(old);
		assert_int_equal(r, CB_OK);
		struct stat st;
		assert_int_equal(lstat(path_in(c, STATE_FILE_NAME), &st), 0);
		assert_true(S_ISREG(st.st_mode));
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_int_equal(others_in_dir(c), 0);
	}
	free(s);
}

/* A rewrite replaces the file as a whole: a new inode, the old contents
 * gone, its mode reset. */
static void test_rewrite_replaces(void **state)
{
	const struct ctx *c = *state;
	const char *p = path_in(c, STATE_FILE_NAME);
	write_text(c, "{\"pid\": 1, \"activity\": \"old old old old old old old old\"}");
	assert_int_equal(chmod(p, 0644), 0);
	struct stat before;
	assert_int_equal(stat(p, &before), 0);
	/* Held open, as `cbsync status` might: it keeps the old contents. */
	int held = open(p, O_RDONLY);
	assert_true(held >= 0);

	struct agent_state *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->pid = 2;
	snprintf(s->activity, sizeof(s->activity), "idle");
	struct error err = {0};
	assert_int_equal(state_write(c->dir, s, &err), CB_OK);
	struct stat after;
	assert_int_equal(stat(p, &after), 0);
	assert_true(after.st_ino != before.st_ino);
	assert_int_equal(after.st_mode & 07777, 0600);
	char old[16] = {0};
	assert_true(read(held, old, 10) == 10);
	assert_memory_equal(old, "{\"pid\": 1,", 10);
	close(held);

	char *text = read_text(c);
	assert_null(strstr(text, "old"));
	free(text);
	assert_int_equal(state_read(c->dir, s, &err), CB_OK);
	assert_int_equal(s->pid, 2);
	assert_string_equal(s->activity, "idle");
	assert_int_equal(others_in_dir(c), 0);
	free(s);
}

/* A symlink where the state file goes is replaced, not written through. */
static void test_symlink_not_followed(void **state)
{
	const struct ctx *c = *state;
	const char *victim = path_in(c, "victim");
	int fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "precious", 8), 8);
	close(fd);
	assert_int_equal(symlink("victim", path_in(c, STATE_FILE_NAME)), 0);
	struct agent_state *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	s->pid = 7;
	struct error err = {0};
	assert_int_equal(state_write(c->dir, s, &err), CB_OK);
	struct stat st;
	assert_int_equal(lstat(path_in(c, STATE_FILE_NAME), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	char *text = NULL;
	assert_int_equal(fs_read_file(victim, 100, &text, NULL, &err), CB_OK);
	assert_string_equal(text, "precious");
	free(text);
	free(s);
}

/* When the rename cannot happen, the write fails and leaves nothing. */
static void test_failed_write_leaves_nothing(void **state)
{
	const struct ctx *c = *state;
	/* A directory (not empty) where the file goes. */
	assert_int_equal(mkdir(path_in(c, STATE_FILE_NAME), 0700), 0);
	char inner[300];
	snprintf(inner, sizeof(inner), "%s/keep", path_in(c, STATE_FILE_NAME));
	assert_int_equal(mkdir(inner, 0700), 0);
	struct agent_state *s = calloc(1, sizeof(*s));
	assert_non_null(s);
	struct error err = {0};
	enum result r = state_write(c->dir, s, &err);
	assert_int_not_equal(r, CB_OK);
	assert_int_equal(err.code, r);
	assert_int_equal(others_in_dir(c), 0);
	assert_true(fs_exists(inner));
	/* No directory at all. */
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/missing", c->dir);
	r = state_write(missing, s, &err);
	assert_int_equal(r, CB_ERR_NOT_FOUND);
	assert_false(fs_exists(missing));
	free(s);
}

/* ---- reading what is there ----------------------------------------------- */

static void test_missing_file(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	memset(s, 0xA5, sizeof(*s));
	struct error err = {0};
	assert_int_equal(state_read(c->dir, s, &err), CB_ERR_NOT_FOUND);
	assert_int_equal(err.code, CB_ERR_NOT_FOUND);
	assert_untouched(s);
	char missing[300];
	snprintf(missing, sizeof(missing), "%s/no/such/dir", c->dir);
	assert_int_equal(state_read(missing, s, &err), CB_ERR_NOT_FOUND);
	assert_untouched(s);
	free(s);
}

static void test_not_an_object(void **state)
{
	const struct ctx *c = *state;
	const char *docs[] = {
		"", " ", "\n", "[]", "null", "true", "42", "\"text\"", "{", "}", "{\"pid\": }",
		"{\"pid\": 1,}", "{\"pid\": 1} {}", "{'pid': 1}", "{\"pid\": 1} trailing",
		"{\"pid\": NaN}", "{\"pid\": Infinity}", "{\"seconds\": 1e999}",
		"{\"pid\": 123456789012345678901234567890}", "\xef\xbb\xbf{}",
		"{\"activity\": \"\\u0000\"}", "{\"activity\": \"\\ud800\"}",
		"{\"activity\": \"\xc3\"}", "{\"activity\": \"\xff\"}",
	};
	for (size_t i = 0; i < sizeof(docs) / sizeof(*docs); i++)
		assert_fails_cleanly(c, docs[i], strlen(docs[i]));
	/* NUL bytes in the file. */
	assert_fails_cleanly(c, "{}\0{}", 5);
	assert_fails_cleanly(c, "{\"activity\": \"a\0b\"}", 19);
}

/* Every prefix of a real state file is refused. */
static void test_truncated(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	fill(s);
	struct error err = {0};
	assert_int_equal(state_write(c->dir, s, &err), CB_OK);
	char *text = read_text(c);
	size_t len = strlen(text);
	assert_true(len > 100);
	for (size_t cut = 0; cut < len; cut++)
		assert_fails_cleanly(c, text, cut);
	/* And the whole of it still reads. */
	write_raw(c, text, len);
	assert_int_equal(state_read(c->dir, s, &err), CB_OK);
	assert_int_equal(s->pid, 123456);
	free(text);
	free(s);
}

/* The file is read up to 1 MiB; beyond that it is refused, not read in
 * part. */
static void test_huge_file(void **state)
{
	const struct ctx *c = *state;
	size_t max = 1 << 20;
	char *text = malloc(max + 2);
	assert_non_null(text);
	memset(text, ' ', max + 1);
	memcpy(text, "{\"pid\": 99", 10);
	text[max - 1] = '}';
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	struct error err = {0};
	write_raw(c, text, max);
	assert_int_equal(state_read(c->dir, s, &err), CB_OK);
	assert_int_equal(s->pid, 99);
	text[max - 1] = ' ';
	text[max] = '}';
	assert_fails_cleanly(c, text, max + 1);
	/* Far larger. */
	size_t big = 16u << 20;
	char *huge = malloc(big);
	assert_non_null(huge);
	memset(huge, '[', big);
	assert_fails_cleanly(c, huge, big);
	free(huge);
	free(text);
	free(s);
}

/* Deep nesting must not exhaust the stack. */
static void test_deep_nesting(void **state)
{
	const struct ctx *c = *state;
	size_t depth = 400000;
	char *text = malloc(2 * depth + 32);
	assert_non_null(text);
	size_t o = (size_t)snprintf(text, 2 * depth + 32, "{\"remotes\": ");
	memset(text + o, '[', depth);
	o += depth;
	memset(text + o, ']', depth);
	o += depth;
	text[o++] = '}';
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	memset(s, 0xA5, sizeof(*s));
	write_raw(c, text, o);
	struct error err = {0};
	enum result r = state_read(c->dir, s, &err);
	if (r == CB_OK)
		assert_int_equal(s->n_remotes, 1); /* one entry, not an object */
	else
		assert_int_equal(r, CB_ERR_CORRUPT);
	free(s);
	free(text);
}

/* Well-formed JSON of the wrong shape: every field falls back to zero or
 * empty, nothing crashes. */
static void test_wrong_types(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s;
	struct error err;
	assert_int_equal(read_from(c,
				   "{\"format\": \"x\", \"pid\": \"123\", \"started\": 1767225600,"
				   " \"updated\": \"not a time\", \"activity\": 7, \"database\": null,"
				   " \"fingerprint\": \"1:2:3\", \"last_backup\": [1, 2],"
				   " \"next\": \"soon\", \"made\": {\"daily\": \"5\", \"weekly\": 2.5},"
				   " \"failures\": true, \"last_error\": \"text\","
				   " \"log_lost\": true, \"remotes\": {\"a\": {\"name\": \"a\"}}}",
				   &s, &err),
			 CB_OK);
	assert_int_equal(s->pid, 0);
	assert_int_equal(s->started, 0);
	assert_int_equal(s->updated, 0);
	assert_string_equal(s->activity, "");
	assert_string_equal(s->database, "");
	assert_false(s->have_fingerprint);
	for (int t = 0; t < BT_COUNT; t++) {
		assert_false(s->last[t].set);
		assert_int_equal(s->next[t], 0);
		assert_int_equal(s->made[t], 0);
	}
	assert_false(s->change_pending);
	assert_int_equal(s->failures, 0);
	assert_false(s->have_error);
	assert_false(s->log_lost);
	assert_int_equal(s->n_remotes, 0);
	free(s);

	/* One level down. */
	assert_int_equal(read_from(c,
				   "{\"last_backup\": {\"daily\": {\"name\": 5, \"time\": [],"
				   " \"seconds\": \"1\"}, \"weekly\": \"x\"},"
				   " \"next\": {\"daily\": \"2026-13-45T99:00:00Z\", \"change\": true,"
				   " \"change_since\": \"2026-01-01T00:00:00Z\"},"
				   " \"log_lost\": {\"time\": 5, \"error\": {}},"
				   " \"last_error\": {\"time\": null, \"message\": [\"m\"]},"
				   " \"remotes\": [7, \"x\", null, {\"name\": [], \"pending\": 1,"
				   " \"failing\": \"true\", \"uploaded\": \"9\", \"last_error\": 3}]}",
				   &s, &err),
			 CB_OK);
	assert_true(s->last[BT_DAILY].set);
	assert_string_equal(s->last[BT_DAILY].name, "");
	assert_int_equal(s->last[BT_DAILY].time, 0);
	assert_true(s->last[BT_DAILY].seconds == 0);
	assert_false(s->last[BT_WEEKLY].set);
	assert_int_equal(s->next[BT_DAILY], 0);
	assert_false(s->change_pending);
	assert_true(s->log_lost);
	assert_int_equal(s->log_lost_time, 0);
	assert_string_equal(s->log_lost_error, "");
	assert_true(s->have_error);
	assert_int_equal(s->error_time, 0);
	assert_string_equal(s->error, "");
	assert_true(s->n_remotes <= 4);
	for (size_t i = 0; i < s->n_remotes; i++) {
		assert_false(s->remotes[i].pending);
		assert_false(s->remotes[i].failing);
		assert_int_equal(s->remotes[i].uploaded, 0);
		assert_string_equal(s->remotes[i].error, "");
		assert_true(strlen(s->remotes[i].name) < sizeof(s->remotes[i].name));
	}
	free(s);
}

/* Strings longer than their buffers are cut to fit, NUL-terminated. */
static void test_long_strings_are_cut(void **state)
{
	const struct ctx *c = *state;
	size_t n = 3 * PATH_MAX;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memset(big, 'z', n);
	big[n] = '\0';
	size_t cap = 8 * n + 512;
	char *text = malloc(cap);
	assert_non_null(text);
	snprintf(text, cap,
		 "{\"activity\": \"%s\", \"database\": \"%s\","
		 " \"last_backup\": {\"manual\": {\"name\": \"%s\"}},"
		 " \"log_lost\": {\"error\": \"%s\"}, \"last_error\": {\"message\": \"%s\"},"
		 " \"remotes\": [{\"name\": \"%s\", \"failing\": true, \"last_error\": \"%s\"}]}",
		 big, big, big, big, big, big, big);
	struct agent_state *s;
	struct error err;
	assert_int_equal(read_from(c, text, &s, &err), CB_OK);
	assert_int_equal(strlen(s->activity), sizeof(s->activity) - 1);
	assert_int_equal(strlen(s->database), sizeof(s->database) - 1);
	assert_int_equal(strlen(s->last[BT_MANUAL].name), sizeof(s->last[BT_MANUAL].name) - 1);
	assert_int_equal(strlen(s->log_lost_error), sizeof(s->log_lost_error) - 1);
	assert_int_equal(strlen(s->error), sizeof(s->error) - 1);
	assert_int_equal(s->n_remotes, 1);
	assert_int_equal(strlen(s->remotes[0].name), sizeof(s->remotes[0].name) - 1);
	assert_int_equal(strlen(s->remotes[0].error), sizeof(s->remotes[0].error) - 1);
	free(s);
	free(text);
	free(big);
}

/* Times in the accepted forms, and a fingerprint with trailing junk. */
static void test_times_and_fingerprint(void **state)
{
	const struct ctx *c = *state;
	struct agent_state *s;
	struct error err;
	assert_int_equal(read_from(c,
				   "{\"started\": \"2026-01-01T00:00:00Z\","
				   " \"updated\": \"2026-01-01 00:00:01\","
				   " \"next\": {\"daily\": \"2026-01-02\"},"
				   " \"fingerprint\": \"1:2:3:4:5:6 \"}",
				   &s, &err),
			 CB_OK);
	assert_int_equal(s->started, 1767225600);
	assert_int_equal(s->updated, 1767225601);
	assert_int_equal(s->next[BT_DAILY], 1767225600 + 86400);
	assert_false(s->have_fingerprint);
	free(s);
	assert_int_equal(read_from(c, "{\"fingerprint\": \"1:2:3:4:5:6\"}", &s, &err), CB_OK);
	assert_true(s->have_fingerprint);
	assert_true(s->fingerprint.exists);
	assert_int_equal(s->fingerprint.dev, 1);
	assert_int_equal(s->fingerprint.wal_mtime_ns, 6);
	free(s);
}

/* The state file is a directory, or unreadable as a file. */
static void test_not_a_file(void **state)
{
	const struct ctx *c = *state;
	assert_int_equal(mkdir(path_in(c, STATE_FILE_NAME), 0700), 0);
	struct agent_state *s = malloc(sizeof(*s));
	assert_non_null(s);
	memset(s, 0xA5, sizeof(*s));
	struct error err = {0};
	enum result r = state_read(c->dir, s, &err);
	assert_int_not_equal(r, CB_OK);
	assert_int_not_equal(r, CB_ERR_NOT_FOUND);
	assert_untouched(s);
	free(s);
}

/* ---- fixtures ------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	if (!c)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "/tmp/cbsync-test-state.XXXXXX");
	if (!mkdtemp(c->dir)) {
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	int r = nftw(c->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(c);
	return r;
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_round_trip_every_field),
		T(test_round_trip_flags_off),
		T(test_round_trip_missing_database_fingerprint),
		T(test_round_trip_empty_state),
		T(test_round_trip_full_buffers),
		T(test_write_text_that_is_not_utf8),
		T(test_remotes_up_to_the_maximum),
		T(test_remotes_beyond_the_maximum),
		T(test_file_mode_and_no_temp_left),
		T(test_rewrite_replaces),
		T(test_symlink_not_followed),
		T(test_failed_write_leaves_nothing),
		T(test_missing_file),
		T(test_not_an_object),
		T(test_truncated),
		T(test_huge_file),
		T(test_deep_nesting),
		T(test_wrong_types),
		T(test_long_strings_are_cut),
		T(test_times_and_fingerprint),
		T(test_not_a_file),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
