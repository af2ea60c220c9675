/*
 * Operations log: one appended line per operation, echoed on stderr.
 */
#include "agent/tiers/oplog.h"
#include "common/text.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool echo_to_stderr = true;

void oplog_set_echo(bool echo)
{
	echo_to_stderr = echo;
}

void oplog_record(const char *dir, const char *op, const char *file,
		  enum result outcome, double seconds, const char *detail)
{
	char stamp[32];
	char body[1200];
	char line[1300];

	snprintf(body, sizeof(body), "%s %s %s %.2fs%s%s%s%s", op,
		 file && *file ? file : "-", outcome ? "failed" : "ok", seconds,
		 outcome ? " " : "", outcome ? result_name(outcome) : "",
		 detail ? (outcome ? ": " : " ") : "", detail ? detail : "");
	/* One operation, one line: a file name or an error quoting a remote's
	 * reply must not start a line of its own. */
	text_escape_inplace(body, sizeof(body));
	time_format_iso(time_now(), stamp, sizeof(stamp));
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
	fs_write_all(fd, line, (size_t)n);
	close(fd);
}
