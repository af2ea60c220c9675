/*
 * The agent's schedules: when the daily, weekly and monthly backups fall due,
 * the timer that wakes the loop for them, and catch-up at start.
 */
#include "agent/daemon_internal.h"

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

/* Raise newest[] with the backups of this database that a remote holds. */
static void newest_on_remote(const struct conf_remote *rc, const char *stem,
			     int64_t newest[BT_COUNT])
{
	struct backend *b = NULL;
	struct backend_listing l = {0};
	struct remote_catalog cat = {0};
	struct error err = {0};
	if (backend_open(rc, &b, &err) || backend_list(b, "", &l, &err) ||
	    catalog_build(&l, &cat, &err)) {
		log_warn("agent", "catch-up cannot see remote '%s': %s", rc->name, err.msg);
	} else {
		catalog_keep_db(&cat, stem);
		for (size_t i = 0; i < cat.n; i++) {
			const struct remote_backup *rb = &cat.items[i];
			if (rb->has_data && rb->has_meta && rb->parsed.created > newest[rb->parsed.type])
				newest[rb->parsed.type] = rb->parsed.created;
		}
	}
	catalog_free(&cat);
	backend_listing_free(&l);
	backend_close(b);
}

/* At start, with catch_up: each scheduled type whose newest backup is older
 * than its last due time missed a run.  "Newest" is over every tier: after a
 * fresh machine restored from a remote, the remote's daily is as good as a
 * local one, and must not be made again minutes later.  The remotes are
 * listed only when the local tier alone would call for a catch-up. */
void daemon_catch_up(struct daemon *d)
{
	struct local_list list;
	struct error err = {0};
	int64_t newest[BT_COUNT];
	char stem[BACKUP_STEM_MAX + 1];

	if (!d->conf.catch_up)
		return;
	if (local_list_scan(d->conf.local_dir, &list, &err)) {
		log_warn("agent", "cannot list backups for catch-up: %s", err.msg);
		return;
	}
	backup_db_stem(d->conf.db_path, stem, sizeof(stem));
	for (int t = 0; t < BT_COUNT; t++)
		newest[t] = INT64_MIN;
	for (size_t i = 0; i < list.n; i++) {
		const struct backup_name *b = &list.items[i].parsed;
		if (strcmp(b->db, stem) == 0 && b->created > newest[b->type])
			newest[b->type] = b->created;
	}
	local_list_free(&list);
	int64_t now = time_now();
	bool missing = false;
	for (size_t i = 0; i < sizeof(daemon_scheduled) / sizeof(*daemon_scheduled); i++) {
		enum backup_type t = daemon_scheduled[i];
		int64_t due = schedule_prev(schedule_of(&d->conf, t), t, now);
		missing |= due != INT64_MIN && newest[t] < due;
	}
	for (size_t r = 0; missing && r < d->conf.n_remotes; r++)
		newest_on_remote(&d->conf.remotes[r], stem, newest);
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
