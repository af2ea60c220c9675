/*
 * The agent's schedules: when the daily, weekly and monthly backups fall due,
 * the timer that wakes the loop for them, and catch-up at start.
 */
#include "agent/daemon/daemon_internal.h"

const enum backup_type daemon_scheduled[3] = {BT_MONTHLY, BT_WEEKLY, BT_DAILY};

static const struct conf_schedule *schedule_of(const struct conf *c, enum backup_type t)
{
	return t == BT_DAILY ? &c->daily : t == BT_WEEKLY ? &c->weekly : &c->monthly;
}

/* Arm the timerfd for the earliest next scheduled backup. */
void daemon_arm_timer(struct daemon *d)
{
	int64_t next = INT64_MAX;
	for (size_t i = 0; i < sizeof(daemon_scheduled) / sizeof(*daemon_scheduled); i++) {
		enum backup_type t = daemon_scheduled[i];
		int64_t n = schedule_next(schedule_of(&d->conf, t), t, d->last_check);
		d->state.next[t] = n == INT64_MAX ? 0 : n;
		if (n < next)
			next = n;
	}
	struct itimerspec its = {0};
	if (next != INT64_MAX)
		its.it_value.tv_sec = (time_t)next;
	timerfd_settime(d->timer_fd, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL);
}

/* Mark each scheduled type whose due time passed since the last check. */
void daemon_check_schedules(struct daemon *d)
{
	int64_t now = time_now();
	for (size_t i = 0; i < sizeof(daemon_scheduled) / sizeof(*daemon_scheduled); i++) {
		enum backup_type t = daemon_scheduled[i];
		int64_t due = schedule_prev(schedule_of(&d->conf, t), t, now);
		if (due != INT64_MIN && due > d->last_check && !d->pending[t]) {
			d->pending[t] = true;
			log_info("agent", "%s backup due", backup_type_name(t));
		}
	}
	if (now > d->last_check)
		d->last_check = now;
	daemon_arm_timer(d);
}

/* Raise newest[] with the backups of this database that tier t holds (a
 * remote's only when their metadata is there: a half-uploaded one does not
 * count).  False if the tier could not be listed. */
static bool newest_on(struct tier *t, const char *stem, int64_t newest[BT_COUNT],
		      struct error *err)
{
	struct catalog cat = {0};
	if (tier_catalog(t, stem, "agent", &cat, err))
		return false;
	for (size_t i = 0; i < cat.n; i++) {
		const struct catalog_entry *e = &cat.items[i];
		if (e->has_data && (e->has_meta || t->dir) &&
		    e->parsed.created > newest[e->parsed.type])
			newest[e->parsed.type] = e->parsed.created;
	}
	catalog_free(&cat);
	return true;
}

/* At start, with catch_up: each scheduled type whose newest backup is older
 * than its last due time missed a run.  "Newest" is over every tier: after a
 * fresh machine restored from a remote, the remote's daily is as good as a
 * local one, and must not be made again minutes later.  The remotes are
 * listed only when the local tier alone would call for a catch-up. */
void daemon_catch_up(struct daemon *d)
{
	struct tier tier;
	struct error err = {0};
	int64_t newest[BT_COUNT];
	char stem[BACKUP_STEM_MAX + 1];

	if (!d->conf.catch_up)
		return;
	backup_db_stem(d->conf.db_path, stem, sizeof(stem));
	for (int i = 0; i < BT_COUNT; i++)
		newest[i] = INT64_MIN;
	bool listed = !tier_open_local(&tier, d->conf.local_dir, &d->conf.local_keep, &err) &&
		      newest_on(&tier, stem, newest, &err);
	tier_close(&tier);
	if (!listed) {
		log_warn("agent", "cannot list backups for catch-up: %s", err.msg);
		return;
	}
	int64_t now = time_now();
	bool missing = false;
	for (size_t i = 0; i < sizeof(daemon_scheduled) / sizeof(*daemon_scheduled); i++) {
		enum backup_type t = daemon_scheduled[i];
		int64_t due = schedule_prev(schedule_of(&d->conf, t), t, now);
		missing |= due != INT64_MIN && newest[t] < due;
	}
	for (size_t r = 0; missing && r < d->conf.n_remotes; r++) {
		const struct conf_remote *rc = &d->conf.remotes[r];
		if (tier_open_remote(&tier, rc, &err) || !newest_on(&tier, stem, newest, &err))
			log_warn("agent", "catch-up cannot see remote '%s': %s", rc->name, err.msg);
		tier_close(&tier);
	}
	for (size_t i = 0; i < sizeof(daemon_scheduled) / sizeof(*daemon_scheduled); i++) {
		enum backup_type t = daemon_scheduled[i];
		int64_t due = schedule_prev(schedule_of(&d->conf, t), t, now);
		if (due != INT64_MIN && newest[t] < due) {
			d->pending[t] = true;
			log_info("agent", "catching up: no %s backup since %s", backup_type_name(t),
				 newest[t] == INT64_MIN ? "ever" : "its last due time");
		}
	}
}
