/*
 * Operations log: one appended line per operation, echoed on stderr.
 */
#include "agent/tiers/oplog.h"
#include "common/backup_name.h"
#include "common/text.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set by the main thread, read by the agent's workers too. */
static _Atomic bool echo_to_stderr = true;
static _Atomic bool json_format;
static _Atomic bool echo_events;

void oplog_set_echo(bool echo)
{
	echo_to_stderr = echo;
}

void oplog_set_echo_events(bool all)
{
	echo_events = all;
}

void oplog_set_json(bool json)
{
	json_format = json;
}

/* Who runs this: the user name ("?" for a uid with no name) and uid, for
 * an audit trail that tells a person's restore from the agent's. */
static void actor(char *name, size_t size, unsigned long *uid_out)
{
	uid_t uid = geteuid();
	struct passwd pw, *found = NULL;
	char tmp[1024];
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &found) != 0)
		found = NULL;
	snprintf(name, size, "%s", found && found->pw_name ? found->pw_name : "?");
	*uid_out = (unsigned long)uid;
}

/* The line as JSON (newly allocated, ending in a newline), or NULL. */
static char *json_line(const char *stamp, const char *user, unsigned long uid,
		       const struct oplog_event *ev)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "time", json_string(stamp));
	json_object_set_new(o, "user", json_string(user));
	json_object_set_new(o, "uid", json_integer((json_int_t)uid));
	json_object_set_new(o, "event", json_string(ev->op));
	/* Names may hold bytes that are not UTF-8: escaped, as in text. */
	char esc[BACKUP_NAME_MAX * 4 + 1];
	if (ev->object && *ev->object) {
		text_escape(ev->object, esc, sizeof(esc));
		json_object_set_new(o, "object", json_string(esc));
	} else {
		json_object_set_new(o, "object", json_null());
	}
	if (ev->tier) {
		text_escape(ev->tier, esc, sizeof(esc));
		json_object_set_new(o, "tier", json_string(esc));
	} else {
		json_object_set_new(o, "tier", json_null());
	}
	json_object_set_new(o, "bytes", ev->bytes >= 0 ? json_integer(ev->bytes) : json_null());
	json_object_set_new(o, "outcome", json_string(ev->outcome ? "failed" : "ok"));
	json_object_set_new(o, "error",
			    ev->outcome ? json_string(result_name(ev->outcome)) : json_null());
	json_object_set_new(o, "seconds", json_real(round(ev->seconds * 1000) / 1000));
	char text[1200];
	if (ev->detail) {
		snprintf(text, sizeof(text), "%s", ev->detail);
		text_escape_inplace(text, sizeof(text));
	}
	json_object_set_new(o, "detail", ev->detail ? json_string(text) : json_null());
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	json_decref(o);
	char *line = NULL;
	if (s && asprintf(&line, "%s\n", s) < 0)
		line = NULL;
	free(s);
	return line;
}

static int64_t rotate_bytes(void)
{
	const char *v = getenv("CBSYNC_TEST_OPLOG_ROTATE_BYTES");
	char *end = NULL;
	long long n = v && *v ? strtoll(v, &end, 10) : 0;
	return n > 0 && end && !*end ? (int64_t)n : OPLOG_ROTATE_BYTES;
}

/* path.K becomes path.K+1 (the oldest, path.OPLOG_KEEP, is replaced), then
 * path becomes path.1.  Called by the one writer holding the log's lock. */
static void rotate(const char *dir, const char *path)
{
	size_t n = strlen(path) + 8;
	char *from = malloc(n), *to = malloc(n);
	struct error ignored = {0};
	for (int k = OPLOG_KEEP - 1; from && to && k >= 0; k--) {
		if (k)
			snprintf(from, n, "%s.%d", path, k);
		else
			snprintf(from, n, "%s", path);
		snprintf(to, n, "%s.%d", path, k + 1);
		if (rename(from, to) != 0 && k == 0)
			break;
	}
	fs_fsync_dir(dir, &ignored);
	free(from);
	free(to);
}

/* Append line to the log at path, and rotate it once it has grown past
 * OPLOG_ROTATE_BYTES.  Writers take the log's flock to rotate, and only
 * the one whose file is still the log renames it: two that both saw it
 * full do not push the fresh log over the one just rotated. */
static void append(const char *dir, const char *path, const char *line, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	struct stat mine, now, d;
	/* A log root starts (a person's command after a rotation) belongs
	 * to the directory's owner, who is the agent: else its lines would
	 * be refused from then on. */
	if (geteuid() == 0 && fstat(fd, &mine) == 0 && mine.st_size == 0 &&
	    stat(dir, &d) == 0 && (mine.st_uid != d.st_uid || mine.st_gid != d.st_gid) &&
	    fchown(fd, d.st_uid, d.st_gid) != 0) {
		/* Left as it is: root can still write it. */
	}
	fs_write_all(fd, line, len);
	if (fstat(fd, &mine) == 0 && mine.st_size > rotate_bytes() &&
	    flock(fd, LOCK_EX) == 0) {
		/* The log itself, not a link someone put in its place. */
		if (lstat(path, &now) == 0 && S_ISREG(now.st_mode) && now.st_ino == mine.st_ino &&
		    now.st_dev == mine.st_dev)
			rotate(dir, path);
		flock(fd, LOCK_UN);
	}
	close(fd);
}

void oplog_write(const char *dir, const struct oplog_event *ev)
{
	char stamp[32];
	char user[64];
	unsigned long uid;
	char body[1200];
	char echo[1300], text[1400];
	const char *line = text, *shown = echo;
	size_t len, shown_len;
	char *json = NULL;
	const char *file = ev->object, *detail = ev->detail;
	enum result outcome = ev->outcome;

	snprintf(body, sizeof(body), "%s %s %s %.2fs%s%s%s%s", ev->op,
		 file && *file ? file : "-", outcome ? "failed" : "ok", ev->seconds,
		 outcome ? " " : "", outcome ? result_name(outcome) : "",
		 detail ? (outcome ? ": " : " ") : "", detail ? detail : "");
	/* One operation, one line: a file name or an error quoting a remote's
	 * reply must not start a line of its own. */
	text_escape_inplace(body, sizeof(body));
	actor(user, sizeof(user), &uid);
	text_escape_inplace(user, sizeof(user));
	/* A user name has no space in it; one that would is shown with "_". */
	for (char *p = user; *p; p++)
		if (*p == ' ')
			*p = '_';
	time_format_iso(time_now(), stamp, sizeof(stamp));
	/* On stderr the text line reads as it always has (a cron log says
	 * whose job it is); in the file, who ran it comes after the time. */
	int n = snprintf(echo, sizeof(echo), "%s %s\n", stamp, body);
	int m = snprintf(text, sizeof(text), "%s %s:%lu %s\n", stamp, user, uid, body);
	if (n < 0 || m < 0)
		return;
	shown_len = (size_t)n < sizeof(echo) ? (size_t)n : sizeof(echo) - 1;
	len = (size_t)m < sizeof(text) ? (size_t)m : sizeof(text) - 1;
	echo[shown_len - 1] = '\n';
	text[len - 1] = '\n';
	if (json_format && (json = json_line(stamp, user, uid, ev))) {
		line = shown = json;
		len = shown_len = strlen(json);
	}
	/* A failure is already reported on stderr by its own "Error:" line,
	 * and the agent logs its operations itself.  On a terminal the
	 * command's own summary says the same, so the line goes to the file
	 * only; a cron log (not a terminal) gets it. */
	if (echo_events || (echo_to_stderr && !ev->file_only && outcome == CB_OK &&
			    isatty(STDERR_FILENO) != 1))
		fs_write_all(STDERR_FILENO, shown, shown_len);

	char *path = dir ? fs_join(dir, OPLOG_FILE_NAME) : NULL;
	if (path)
		append(dir, path, line, len);
	free(path);
	free(json);
}

void oplog_record(const char *dir, const char *op, const char *file,
		  enum result outcome, double seconds, const char *detail)
{
	struct oplog_event ev = {
		.op = op, .object = file, .bytes = -1, .outcome = outcome,
		.seconds = seconds, .detail = detail,
	};
	oplog_write(dir, &ev);
}
