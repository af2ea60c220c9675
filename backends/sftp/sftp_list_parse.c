/*
 * Reading the directory listings libcurl hands back (no network, so
 * tests/unit/sftp checks all of it): one "ls -l" style long name per entry
 * (sftp_parse_list_line), and whole listings, in which a name that holds a
 * newline spans several lines (struct sftp_list_reader puts it back
 * together).
 */
#include "backends/sftp/sftp_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int month_of(const char *s, size_t n)
{
	static const char *const names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	if (n != 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (strncmp(s, names[i], 3) == 0)
			return i;
	return -1;
}

static bool all_digits(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	return true;
}

static int64_t utc_time(int year, int mon, int day, int hour, int min)
{
	struct tm tm = {.tm_year = year - 1900, .tm_mon = mon, .tm_mday = day,
			.tm_hour = hour, .tm_min = min};
	return (int64_t)timegm(&tm);
}

#define MAX_TOKENS 16

bool sftp_parse_list_line(const char *line, int64_t now, struct sftp_entry *e)
{
	const char *tok[MAX_TOKENS];
	size_t tlen[MAX_TOKENS];
	size_t nt = 0;
	const char *p = line;
	/* Tokens up to the date and a little beyond; the name is whatever
	 * follows the date, spaces and all. */
	while (*p && nt < MAX_TOKENS) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (!*p)
			break;
		tok[nt] = p;
		while (*p && *p != ' ' && *p != '\t')
			p++;
		tlen[nt] = (size_t)(p - tok[nt]);
		nt++;
	}
	/* mode links owner group size month day time|year name: the month is
	 * at index 5 at the earliest, with the size just before it. */
	for (size_t i = 4; i + 2 < nt; i++) {
		int mon = month_of(tok[i], tlen[i]);
		if (mon < 0 || !all_digits(tok[i - 1], tlen[i - 1]) ||
		    !all_digits(tok[i + 1], tlen[i + 1]) || tlen[i + 1] > 2)
			continue;
		int day = (int)strtol(tok[i + 1], NULL, 10);
		if (day < 1 || day > 31)
			continue;
		const char *t = tok[i + 2];
		size_t tl = tlen[i + 2];
		int64_t when;
		if (tl == 5 && t[2] == ':' && all_digits(t, 2) && all_digits(t + 3, 2)) {
			int hour = (t[0] - '0') * 10 + (t[1] - '0');
			int min = (t[3] - '0') * 10 + (t[4] - '0');
			time_t now_t = (time_t)now;
			struct tm now_tm;
			gmtime_r(&now_t, &now_tm);
			int year = now_tm.tm_year + 1900;
			when = utc_time(year, mon, day, hour, min);
			/* A date without a year is within the last six months;
			 * a day's slack covers the server's time zone. */
			if (when > now + 86400)
				when = utc_time(year - 1, mon, day, hour, min);
		} else if (tl == 4 && all_digits(t, 4)) {
			when = utc_time((int)strtol(t, NULL, 10), mon, day, 0, 0);
		} else {
			continue;
		}
		const char *name = t + tl;
		if (*name != ' ' && *name != '\t')
			continue;
		/* Exactly one blank: a name may start with blanks of its own.
		 * An empty name here is one that starts with a newline. */
		name++;
		size_t name_len = strlen(name);
		char *end;
		errno = 0;
		unsigned long long size = strtoull(tok[i - 1], &end, 10);
		if (errno)
			return false;
		e->name = name;
		e->name_len = name_len;
		e->type = tok[0][0];
		e->size = size;
		e->mtime = when;
		return true;
	}
	return false;
}

enum result sftp_list_reader_init(struct sftp_list_reader *r, int64_t now, sftp_entry_fn fn,
				  void *ctx, struct error *err)
{
	*r = (struct sftp_list_reader){.now = now, .fn = fn, .ctx = ctx};
	r->line = malloc(SFTP_MAX_LIST_LINE);
	r->held = malloc(SFTP_MAX_LIST_LINE);
	r->joined = malloc(SFTP_MAX_LIST_LINE);
	if (!r->line || !r->held || !r->joined) {
		sftp_list_reader_free(r);
		return error_nomem(err);
	}
	return CB_OK;
}

void sftp_list_reader_reset(struct sftp_list_reader *r)
{
	r->line_len = 0;
	r->overlong = false;
	r->holding = false;
	r->joining = false;
	r->held_broken = false;
	r->started = false;
}

void sftp_list_reader_free(struct sftp_list_reader *r)
{
	free(r->line);
	free(r->held);
	free(r->joined);
	r->line = r->held = r->joined = NULL;
}

/* Hand the held entry to fn, with its whole name. */
static enum result release_held(struct sftp_list_reader *r, struct error *err)
{
	enum result res = CB_OK;
	if (r->holding && r->held_broken) {
		r->skipped++;
	} else if (r->holding) {
		struct sftp_entry e = r->held_entry;
		if (r->joining) {
			e.name = r->joined;
			e.name_len = r->joined_len;
		}
		res = r->fn(r->ctx, &e, err);
	}
	r->holding = false;
	r->joining = false;
	r->held_broken = false;
	return res;
}

/* Add a line that continues the held entry's name. */
static void continue_held(struct sftp_list_reader *r, const char *line, size_t len)
{
	if (r->held_broken)
		return;
	if (!r->joining) {
		memcpy(r->joined, r->held_entry.name, r->held_entry.name_len);
		r->joined_len = r->held_entry.name_len;
		r->joining = true;
	}
	if (len >= SFTP_MAX_LIST_LINE - 1 - r->joined_len) {
		r->held_broken = true;
		return;
	}
	r->joined[r->joined_len++] = '\n';
	memcpy(r->joined + r->joined_len, line, len);
	r->joined_len += len;
}

/* A line of the listing is complete (r->line, r->line_len bytes). */
static enum result end_line(struct sftp_list_reader *r, struct error *err)
{
	struct sftp_entry e;
	bool overlong = r->overlong;
	size_t len = r->line_len;
	r->line[len] = '\0';
	r->line_len = 0;
	r->overlong = false;
	if (!overlong && strlen(r->line) == len && sftp_parse_list_line(r->line, r->now, &e)) {
		enum result res = release_held(r, err);
		if (res)
			return res;
		/* Hold this entry: the next line may still belong to its name. */
		char *t = r->held;
		r->held = r->line;
		r->line = t;
		r->held_entry = e;
		r->holding = true;
		r->started = true;
		return CB_OK;
	}
	if (r->started || overlong) {
		/* The rest of a name (or a link's target) that holds "\n", or a
		 * line too long for any name cbsync could use. */
		if (r->holding && overlong)
			r->held_broken = true;
		else if (r->holding)
			continue_held(r, r->line, len);
		else if (!r->started || overlong)
			r->skipped++;
		r->started = true;
		return CB_OK;
	}
	if (!len)
		return CB_OK;
	/* The first line is no entry: the server's long names are in a form
	 * this reader does not know.  Show it, tamed for one log line. */
	char shown[121];
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < sizeof(shown); i++) {
		unsigned char c = (unsigned char)r->line[i];
		shown[n++] = c >= ' ' && c < 0x7f ? (char)c : '?';
	}
	shown[n] = '\0';
	return error_set(err, CB_ERR_REMOTE, "unexpected line \"%s\"", shown);
}

enum result sftp_list_reader_feed(struct sftp_list_reader *r, const char *data, size_t len,
				  struct error *err)
{
	for (size_t i = 0; i < len; i++) {
		if (data[i] == '\n') {
			enum result res = end_line(r, err);
			if (res)
				return res;
			continue;
		}
		if (r->line_len + 1 >= SFTP_MAX_LIST_LINE)
			r->overlong = true;     /* keep what fits, drop the rest */
		else
			r->line[r->line_len++] = data[i];
	}
	return CB_OK;
}

enum result sftp_list_reader_end(struct sftp_list_reader *r, struct error *err)
{
	enum result res = CB_OK;
	if (r->line_len || r->overlong)
		res = end_line(r, err);
	if (!res)
		res = release_held(r, err);
	return res;
}
