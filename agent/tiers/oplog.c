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
#include <math.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool echo_to_stderr = true;
static bool json_format;

void oplog_set_echo(bool echo)
{
	echo_to_stderr = echo;
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
static char *json_line(const char *stamp, const char *user, unsigned long uid, const char *op,
		       const char *file, enum result outcome, double seconds, const char *detail)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "time", json_string(stamp));
	json_object_set_new(o, "user", json_string(user));
	json_object_set_new(o, "uid", json_integer((json_int_t)uid));
	json_object_set_new(o, "event", json_string(op));
	/* Names may hold bytes that are not UTF-8: escaped, as in text. */
	char esc[BACKUP_NAME_MAX * 4 + 1];
	if (file && *file) {
		text_escape(file, esc, sizeof(esc));
		json_object_set_new(o, "object", json_string(esc));
	} else {
		json_object_set_new(o, "object", json_null());
	}
	json_object_set_new(o, "outcome", json_string(outcome ? "failed" : "ok"));
	json_object_set_new(o, "error", outcome ? json_string(result_name(outcome)) : json_null());
	json_object_set_new(o, "seconds", json_real(round(seconds * 1000) / 1000));
	char text[1200];
	if (detail) {
		snprintf(text, sizeof(text), "%s", detail);
		text_escape_inplace(text, sizeof(text));
	}
	json_object_set_new(o, "detail", detail ? json_string(text) : json_null());
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	json_decref(o);
	char *line = NULL;
	if (s && asprintf(&line, "%s\n", s) < 0)
		line = NULL;
	free(s);
	return line;
}

void oplog_record(const char *dir, const char *op, const char *file,
		  enum result outcome, double seconds, const char *detail)
{
	char stamp[32];
	char user[64];
	unsigned long uid;
	char body[1200];
	char echo[1300], text[1400];
	const char *line = text, *shown = echo;
	size_t len, shown_len;
	char *json = NULL;

	snprintf(body, sizeof(body), "%s %s %s %.2fs%s%s%s%s", op,
		 file && *file ? file : "-", outcome ? "failed" : "ok", seconds,
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
	if (json_format && (json = json_line(stamp, user, uid, op, file, outcome, seconds,
					     detail))) {
		line = shown = json;
		len = shown_len = strlen(json);
	}
	/* A failure is already reported on stderr by its own "Error:" line,
	 * and the agent logs its operations itself.  On a terminal the
	 * command's own summary says the same, so the line goes to the file
	 * only; a cron log (not a terminal) gets it. */
	if (echo_to_stderr && outcome == CB_OK && isatty(STDERR_FILENO) != 1)
		fs_write_all(STDERR_FILENO, shown, shown_len);

	char *path = dir ? fs_join(dir, OPLOG_FILE_NAME) : NULL;
	int fd = path ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : -1;
	free(path);
	if (fd >= 0) {
		fs_write_all(fd, line, len);
		close(fd);
	}
	free(json);
}
