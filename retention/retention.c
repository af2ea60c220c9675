/*
 * Retention policy: a pure function from (backups, policy, now) to decisions.
 */
#include "retention/retention.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY (24 * 3600)

void retention_chains(const int64_t *bases, size_t n, const struct keep_rule *window,
		      int64_t now, bool *needed)
{
	int64_t cutoff = retention_cutoff(window, now);
	for (size_t i = 0; i < n; i++)
		needed[i] = i + 1 == n || bases[i + 1] > cutoff || bases[i] > now;
}

void retention_policy_default(struct retention_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->keep[BT_MANUAL] = (struct keep_rule){KEEP_FOREVER, 0};
	p->keep[BT_RESTORE_POINT] = (struct keep_rule){KEEP_FOREVER, 0};
	p->keep[BT_DAILY] = (struct keep_rule){KEEP_SECONDS, 7 * DAY};
	p->keep[BT_WEEKLY] = (struct keep_rule){KEEP_SECONDS, 28 * DAY};
	p->keep[BT_MONTHLY] = (struct keep_rule){KEEP_MONTHS, 12};
	p->keep[BT_CHANGE] = (struct keep_rule){KEEP_SECONDS, DAY};
	p->increments = (struct keep_rule){KEEP_SECONDS, DAY};
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int64_t y, int m) /* m: 0..11 */
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 1 && is_leap(y) ? 29 : days[m];
}

/* now minus months calendar months, in UTC, the day clamped. */
static int64_t months_before(int64_t now, int64_t months)
{
	time_t t = (time_t)now;
	struct tm tm;
	gmtime_r(&t, &tm);
	int64_t total = (int64_t)(tm.tm_year + 1900) * 12 + tm.tm_mon - months;
	int64_t year = total / 12;
	int mon = (int)(total % 12);
	if (mon < 0) {
		mon += 12;
		year -= 1;
	}
	if (year < 1)
		return INT64_MIN;
	int mday = tm.tm_mday;
	if (mday > month_days(year, mon))
		mday = month_days(year, mon);
	/* Days from 1970-01-01 to year-mon-mday, proleptic Gregorian. */
	int64_t y = year - (mon < 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (mon + 10) % 12; /* mon is 0-based: March -> 0 */
	int64_t doy = (153 * mp + 2) / 5 + mday - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = era * 146097 + doe - 719468;
	return days * DAY + tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
}

int64_t retention_cutoff(const struct keep_rule *rule, int64_t now)
{
	switch (rule->kind) {
	case KEEP_SECONDS:
		return now - rule->amount;
	case KEEP_MONTHS:
		return months_before(now, rule->amount);
	case KEEP_FOREVER:
		break;
	}
	return INT64_MIN;
}

static int group_cmp(const struct retention_item *a, const struct retention_item *b)
{
	if (a->type != b->type)
		return a->type < b->type ? -1 : 1;
	if (!a->db || !b->db)
		return (a->db != NULL) - (b->db != NULL);
	return strcmp(a->db, b->db);
}

/* Order indices by group, newest first, then by position (qsort_r). */
static int newest_first(const void *pa, const void *pb, void *ctx)
{
	const struct retention_item *items = ctx;
	size_t ia = *(const size_t *)pa, ib = *(const size_t *)pb;
	const struct retention_item *a = &items[ia], *b = &items[ib];
	int c = group_cmp(a, b);
	if (c)
		return c;
	if (a->created != b->created)
		return a->created > b->created ? -1 : 1;
	return ia < ib ? -1 : (ia > ib);
}

/* Mark in newest[] the newest item of each (db, type) group; among equals the
 * first listed.  Returns false if memory ran out. */
static bool mark_newest(const struct retention_item *items, size_t n, bool *newest)
{
	size_t *order = malloc(n * sizeof(*order));
	if (!order)
		return false;
	for (size_t i = 0; i < n; i++) {
		order[i] = i;
		newest[i] = false;
	}
	qsort_r(order, n, sizeof(*order), newest_first, (void *)items);
	for (size_t k = 0; k < n; k++) {
		if (k == 0 || group_cmp(&items[order[k - 1]], &items[order[k]]) != 0)
			newest[order[k]] = true;
	}
	free(order);
	return true;
}

bool retention_plan(const struct retention_item *items, size_t n,
		    const struct retention_policy *policy, int64_t now,
		    struct retention_decision *out)
{
	bool *newest = n ? malloc(n * sizeof(*newest)) : NULL;
	if (n && (!newest || !mark_newest(items, n, newest))) {
		/* Without the newest marks nothing can be deleted safely. */
		free(newest);
		for (size_t i = 0; i < n; i++)
			out[i] = (struct retention_decision){true, RR_NEWEST};
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const struct retention_item *it = &items[i];
		const struct keep_rule *rule = &policy->keep[it->type];
		struct retention_decision *d = &out[i];

		d->keep = true;
		if (it->pinned)
			d->reason = RR_PINNED;
		else if (it->chain)
			d->reason = RR_CHAIN;
		else if (it->type == BT_MANUAL || it->type == BT_RESTORE_POINT)
			d->reason = RR_NEVER_PRUNED;
		else if (newest[i])
			d->reason = RR_NEWEST;
		else if (rule->kind == KEEP_FOREVER)
			d->reason = RR_FOREVER;
		else if (it->created > now)
			d->reason = RR_FUTURE;
		else if (it->created >= retention_cutoff(rule, now))
			d->reason = RR_WITHIN;
		else
			*d = (struct retention_decision){false, RR_EXPIRED};
	}
	free(newest);
	return true;
}

void keep_rule_format(const struct keep_rule *rule, char *buf, size_t size)
{
	int64_t a = rule->amount;
	switch (rule->kind) {
	case KEEP_FOREVER:
		snprintf(buf, size, "forever");
		return;
	case KEEP_MONTHS:
		snprintf(buf, size, "%lldm", (long long)a);
		return;
	case KEEP_SECONDS:
		if (a > 0 && a % (7 * DAY) == 0)
			snprintf(buf, size, "%lldw", (long long)(a / (7 * DAY)));
		else if (a > 0 && a % DAY == 0)
			snprintf(buf, size, "%lldd", (long long)(a / DAY));
		else if (a > 0 && a % 3600 == 0)
			snprintf(buf, size, "%lldh", (long long)(a / 3600));
		else if (a > 0 && a % 60 == 0)
			snprintf(buf, size, "%lldmin", (long long)(a / 60));
		else
			snprintf(buf, size, "%llds", (long long)a);
		return;
	}
}

void retention_reason_format(const struct retention_decision *d,
			     enum backup_type type, const struct retention_policy *p,
			     char *buf, size_t size)
{
	char rule[32];
	keep_rule_format(&p->keep[type], rule, sizeof(rule));
	switch (d->reason) {
	case RR_PINNED:
		snprintf(buf, size, "still wanted by a remote that lacks it");
		return;
	case RR_CHAIN: {
		char window[32];
		keep_rule_format(&p->increments, window, sizeof(window));
		snprintf(buf, size, "its increments reach into keep_increments %s", window);
		return;
	}
	case RR_NEVER_PRUNED:
		snprintf(buf, size, "%s backups are never pruned automatically",
			 type == BT_MANUAL ? "manual" : "restore point");
		return;
	case RR_NEWEST:
		snprintf(buf, size, "newest %s backup", backup_type_name(type));
		return;
	case RR_FOREVER:
		snprintf(buf, size, "%s backups are kept forever",
			 backup_type_name(type));
		return;
	case RR_FUTURE:
		snprintf(buf, size, "created in the future (clock skew)");
		return;
	case RR_WITHIN:
		snprintf(buf, size, "within %s", rule);
		return;
	case RR_EXPIRED:
		snprintf(buf, size, "older than %s", rule);
		return;
	}
}
