/*
 * Operations log: one appended line per operation, echoed on stderr.
 */
#include "agent/tiers/oplog.h"
#include "common/text.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool echo_to_stderr = true;

void oplog_set_echo(bool echo)
{
	echo_to_stderr = echo;
}

/* Who runs this: "root:0", the user name and uid ("?" for a uid with no
 * name), for an audit trail that tells a person's restore from the agent's. */
static void actor(char *buf, size_t size)
{
	uid_t uid = geteuid();
	struct passwd pw, *found = NULL;
	char tmp[1024];
	if (getpwuid_r(uid, &pw, tmp, sizeof(tmp), &found) != 0)
		found = NULL;
	snprintf(buf, size, "%s:%lu", found && found->pw_name ? found->pw_name : "?",
		 (unsigned long)uid);
}

void oplog_record(const char *dir, const char *op, const char *file,
		  enum result outcome, double seconds, const char *detail)
{
	char stamp[32];
	char who[96];
	char body[1200];
	char line[1400];

	snprintf(body, sizeof(body), "%s %s %s %.2fs%s%s%s%s", op,
		 file && *file ? file : "-", outcome ? "failed" : "ok", seconds,
		 outcome ? " " : "", outcome ? result_name(outcome) : "",
		 detail ? (outcome ? ": " : " ") : "", detail ? detail : "");
	/* One operation, one line: a file name or an error quoting a remote's
	 * reply must not start a line of its own. */
	text_escape_inplace(body, sizeof(body));
	actor(who, sizeof(who));
	text_escape_inplace(who, sizeof(who));
	/* A user name has no space in it; one that would is shown escaped. */
	for (char *p = who; *p; p++)
		if (*p == ' ')
			*p = '_';
	time_format_iso(time_now(), stamp, sizeof(stamp));
	/* On stderr the line reads as it always has (a cron log says whose
	 * job it is); in the file, who ran it comes after the time. */
	int n = snprintf(line, sizeof(line), "%s %s\n", stamp, body);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* A failure is already reported on stderr by its own "Error:" line,
	 * and the agent logs its operations itself.  On a terminal the
	 * command's own summary says the same, so the line goes to the file
	 * only; a cron log (not a terminal) gets it. */
	if (echo_to_stderr && outcome == CB_OK && isatty(STDERR_FILENO) != 1)
		fs_write_all(STDERR_FILENO, line, (size_t)n);

	char *path = dir ? fs_join(dir, OPLOG_FILE_NAME) : NULL;
	if (!path)
		return;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	free(path);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s %s %s\n", stamp, who, body);
	if (n < 0) {
		close(fd);
		return;
	}
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	fs_write_all(fd, line, (size_t)n);
	close(fd);
}
