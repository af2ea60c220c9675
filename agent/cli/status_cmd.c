/*
 * cbsync status: what the agent is doing, from its state file
 * (agent/state.h), as text or --json.
 */
#include "agent/cli/commands.h"
#include "agent/cli/format.h"
#include "agent/daemon/state.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The agent recorded in the state file is alive and did not say it stopped. */
static bool agent_running(const struct agent_state *s)
{
	if (s->pid <= 0 || strcmp(s->activity, "stopped") == 0)
		return false;
	return kill((pid_t)s->pid, 0) == 0 || errno == EPERM;
}

static void print_time(const char *label, int64_t t)
{
	char buf[32];
	if (t) {
		time_format_iso(t, buf, sizeof(buf));
		printf("%s%s\n", label, buf);
	} else {
		printf("%s-\n", label);
	}
}

/* The last restore drill of each tier (agent/tiers/drills.h). */
static void print_drills(const char *dir)
{
	struct drill_record d[DRILLS_MAX];
	size_t n = 0;
	struct error ignored = {0};
	if (drills_read(dir, d, DRILLS_MAX, &n, &ignored) || n == 0)
		return;
	printf("\nLast restore drill:\n");
	for (size_t i = 0; i < n; i++) {
		char when[32], at[32];
		time_format_iso(d[i].ran_at, when, sizeof(when));
		if (d[i].ok) {
			time_format_iso_ms(d[i].state_ms, at, sizeof(at));
			printf("  %-12s ok %s: recovered in %.2fs a state at %s (%.0fs old)\n",
			       d[i].tier, when, d[i].seconds, at, d[i].rpo);
		} else {
			printf("  %-12s FAILED %s: %s\n", d[i].tier, when, d[i].error);
		}
	}
}

static json_t *drills_json(const char *dir)
{
	struct drill_record d[DRILLS_MAX];
	size_t n = 0;
	struct error ignored = {0};
	json_t *arr = json_array();
	if (arr && !drills_read(dir, d, DRILLS_MAX, &n, &ignored))
		for (size_t i = 0; i < n; i++)
			json_array_append_new(arr, drill_record_json(&d[i]));
	return arr ? arr : json_null();
}

enum result cmd_status(struct cli *cli, struct error *err)
{
	struct agent_state s;
	const char *dir = cli->conf.local_dir;
	enum result r = state_read(dir, &s, err);
	if (r == CB_ERR_NOT_FOUND) {
		if (cli->json) {
			json_t *doc = json_pack("{s:b, s:n, s:o}", "running", false, "state",
						"drills", drills_json(dir));
			return format_print_json(doc, err);
		} else {
			printf("No agent has run with the backup directory %s\n", dir);
			print_drills(dir);
		}
		return CB_OK;
	}
	if (r)
		return r;
	bool running = agent_running(&s);
	if (cli->json) {
		char *path = NULL;
		if (asprintf(&path, "%s/%s", dir, STATE_FILE_NAME) < 0)
			return error_nomem(err);
		json_error_t jerr;
		json_t *state = json_load_file(path, 0, &jerr);
		free(path);
		/* Each remote's lag as of now: the age of the oldest change it lacks. */
		json_t *remotes = json_object_get(state, "remotes");
		for (size_t i = 0; i < json_array_size(remotes) && i < s.n_remotes; i++) {
			int64_t since = s.remotes[i].unshipped_since;
			int64_t lag = since ? time_now() - since : 0;
			json_object_set_new(json_array_get(remotes, i), "lag_seconds",
					    json_integer(lag > 0 ? lag : 0));
		}
		json_t *doc = json_pack("{s:b, s:o, s:o}", "running", running, "state",
					state ? state : json_null(), "drills", drills_json(dir));
		return format_print_json(doc, err);
	}
	char since[32], updated[32];
	time_format_iso(s.started, since, sizeof(since));
	time_format_iso(s.updated, updated, sizeof(updated));
	if (running)
		printf("Agent:      running (pid %ld, since %s)\n", s.pid, since);
	else
		printf("Agent:      not running (last seen %s)\n", updated);
	printf("Activity:   %s\n", running ? s.activity : "stopped");
	printf("Database:   %s\n", s.database);
	printf("Backups in: %s\n\nLast backup made by the agent:\n", dir);
	for (int t = 0; t < BT_COUNT; t++) {
		const struct state_last *l = &s.last[t];
		if (t == BT_MANUAL || t == BT_RESTORE_POINT)
			continue;
		if (l->set) {
			char when[32];
			time_format_iso(l->time, when, sizeof(when));
			printf("  %-8s %s (%s, %.2fs)\n", backup_type_name((enum backup_type)t),
			       l->name, when, l->seconds);
		} else {
			printf("  %-8s -\n", backup_type_name((enum backup_type)t));
		}
	}
	printf("\nNext:\n");
	print_time("  daily    ", s.next[BT_DAILY]);
	print_time("  weekly   ", s.next[BT_WEEKLY]);
	print_time("  monthly  ", s.next[BT_MONTHLY]);
	printf("  change   %s\n", s.change_pending ? "pending (the database changed)"
						 : "when the database changes");
	if (s.drilling)
		printf("  drill    running\n");
	else
		print_time("  drill    ", s.next_drill);
	if (s.captures_wal || s.captures_diff) {
		printf("\nCaptures:   %llu from the WAL (%llu across a restart), %llu by page diff\n",
		       (unsigned long long)s.captures_wal, (unsigned long long)s.restarts_followed,
		       (unsigned long long)s.captures_diff);
		if (s.last_diff_time) {
			char when[32];
			time_format_iso(s.last_diff_time, when, sizeof(when));
			printf("            last page diff %s: %s\n", when, s.last_diff_reason);
		}
	}
	if (s.n_remotes)
		printf("\nRemotes:\n");
	for (size_t i = 0; i < s.n_remotes; i++) {
		const struct state_remote *rs = &s.remotes[i];
		char when[32] = "never";
		if (rs->last_success)
			time_format_iso(rs->last_success, when, sizeof(when));
		printf("  %-12s %s; last in step %s; %llu uploaded, %llu requests\n", rs->name,
		       rs->failing ? "FAILING" : rs->pending ? "sync pending" : "in step", when,
		       (unsigned long long)rs->uploaded, (unsigned long long)rs->requests);
		if (rs->newest || rs->incrs_uploaded || rs->unshipped_since) {
			char newest[32] = "unknown";
			if (rs->newest)
				time_format_iso(rs->newest, newest, sizeof(newest));
			int64_t lag = rs->unshipped_since ? time_now() - rs->unshipped_since : 0;
			printf("               newest restorable %s; lag %llds; %llu increments "
			       "uploaded\n", newest, (long long)(lag > 0 ? lag : 0),
			       (unsigned long long)rs->incrs_uploaded);
		}
		printf("               requests by kind: %llu list, %llu put, %llu get, %llu "
		       "delete\n", (unsigned long long)rs->calls_list,
		       (unsigned long long)rs->calls_put, (unsigned long long)rs->calls_get,
		       (unsigned long long)rs->calls_remove);
		if (rs->chain_note[0])
			printf("               %s\n", rs->chain_note);
		if (rs->failing)
			printf("               %s\n", rs->error);
	}
	if (s.n_health && running) {
		printf("\nHealth:\n");
		for (size_t i = 0; i < s.n_health; i++) {
			printf("  %-12s %s\n", s.health[i].tier,
			       s.health[i].healthy ? "ok" : s.health[i].stale ? "STALE" : "UNHEALTHY");
			/* Each reason on a line of its own. */
			for (const char *p = s.health[i].why; *p;) {
				size_t len = strcspn(p, "\n");
				printf("               %.*s\n", (int)len, p);
				p += len + (p[len] == '\n');
			}
		}
	}
	print_drills(dir);
	if (s.have_error) {
		char when[32];
		time_format_iso(s.error_time, when, sizeof(when));
		printf("\nLast error: %s %s\n", when, s.error);
	} else {
		printf("\nLast error: none\n");
	}
	if (s.log_lost) {
		char when[32];
		time_format_iso(s.log_lost_time, when, sizeof(when));
		printf("Log:        LOST since %s (%s): the agent's stderr cannot be written; "
		       "it goes on backing up\n", when, s.log_lost_error);
	}
	return CB_OK;
}
