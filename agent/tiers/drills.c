/*
 * The record of restore drills (see drills.h).
 */
#include "agent/tiers/drills.h"
#include "common/fsutil.h"
#include "common/jsondoc.h"
#include "common/timeutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A file of this many bytes holds far more tiers than DRILLS_MAX. */
#define DRILLS_FILE_MAX (1 << 20)

static json_t *iso_or_null(int64_t t)
{
	char buf[32];
	if (t <= 0)
		return json_null();
	time_format_iso(t, buf, sizeof(buf));
	return json_string(buf);
}

/* Seconds to the millisecond: no float noise in the text. */
static json_t *seconds_json(double s)
{
	return json_real(round(s * 1000) / 1000);
}

json_t *drill_record_json(const struct drill_record *d)
{
	json_t *o = json_object();
	char at[32];
	if (!o)
		return NULL;
	json_object_set_new(o, "tier", json_string(d->tier));
	json_object_set_new(o, "ok", json_boolean(d->ok));
	json_object_set_new(o, "ran_at", iso_or_null(d->ran_at));
	json_object_set_new(o, "duration_seconds", seconds_json(d->seconds));
	json_object_set_new(o, "snapshot", d->snapshot[0] ? json_string(d->snapshot) : json_null());
	json_object_set_new(o, "increments", json_integer((json_int_t)d->increments));
	if (d->state_ms > 0) {
		time_format_iso_ms(d->state_ms, at, sizeof(at));
		json_object_set_new(o, "state_time", json_string(at));
		json_object_set_new(o, "rpo_seconds", seconds_json(d->rpo));
	} else {
		json_object_set_new(o, "state_time", json_null());
		json_object_set_new(o, "rpo_seconds", json_null());
	}
	json_object_set_new(o, "database_bytes", json_integer((json_int_t)d->db_bytes));
	json_t *checks = json_array();
	for (const char *p = d->checks; checks && *p;) {
		const char *end = strstr(p, ", ");
		size_t len = end ? (size_t)(end - p) : strlen(p);
		json_array_append_new(checks, json_stringn(p, len));
		p += len + (end ? 2 : 0);
	}
	json_object_set_new(o, "checks", checks ? checks : json_array());
	json_object_set_new(o, "error", d->ok ? json_null() : json_string(d->error));
	json_object_set_new(o, "exit_code", json_integer(d->exit_code));
	json_object_set_new(o, "last_success", iso_or_null(d->last_success));
	return o;
}

static void str_of(json_t *o, const char *key, char *out, size_t size)
{
	const char *s = json_string_value(json_object_get(o, key));
	snprintf(out, size, "%s", s ? s : "");
}

static int64_t time_of(json_t *o, const char *key)
{
	int64_t t = 0;
	const char *s = json_string_value(json_object_get(o, key));
	return s && time_parse_iso(s, &t) ? t : 0;
}

/* One tier's entry of the file; false if it is not one. */
static bool record_of(const char *tier, json_t *o, struct drill_record *d)
{
	memset(d, 0, sizeof(*d));
	if (!json_is_object(o) || strlen(tier) >= sizeof(d->tier))
		return false;
	snprintf(d->tier, sizeof(d->tier), "%s", tier);
	d->ok = json_is_true(json_object_get(o, "ok"));
	d->code = d->ok ? CB_OK : CB_ERR_CORRUPT;
	d->exit_code = (int)json_integer_value(json_object_get(o, "exit_code"));
	str_of(o, "error", d->error, sizeof(d->error));
	d->ran_at = time_of(o, "ran_at");
	d->seconds = json_number_value(json_object_get(o, "duration_seconds"));
	str_of(o, "snapshot", d->snapshot, sizeof(d->snapshot));
	json_int_t n = json_integer_value(json_object_get(o, "increments"));
	d->increments = n > 0 ? (size_t)n : 0;
	const char *st = json_string_value(json_object_get(o, "state_time"));
	if (!st || !time_parse_iso_ms(st, &d->state_ms))
		d->state_ms = 0;
	d->rpo = json_number_value(json_object_get(o, "rpo_seconds"));
	json_int_t b = json_integer_value(json_object_get(o, "database_bytes"));
	d->db_bytes = b > 0 ? (uint64_t)b : 0;
	json_t *checks = json_object_get(o, "checks");
	size_t i, used = 0;
	json_t *c;
	json_array_foreach(checks, i, c) {
		const char *s = json_string_value(c);
		if (s)
			used += (size_t)snprintf(d->checks + used, used < sizeof(d->checks)
							 ? sizeof(d->checks) - used : 0,
						 "%s%s", used ? ", " : "", s);
		if (used >= sizeof(d->checks))
			break;
	}
	d->last_success = time_of(o, "last_success");
	return d->ran_at > 0;
}

/* The file's "tiers" object (a new reference), or an empty one. */
static json_t *load(const char *dir)
{
	char *path = fs_join(dir, DRILLS_FILE_NAME), *text = NULL;
	size_t len = 0;
	struct error ignored = {0};
	json_t *tiers = NULL;
	if (path && !fs_read_file(path, DRILLS_FILE_MAX, &text, &len, &ignored)) {
		json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
		tiers = json_object_get(doc, "tiers");
		if (json_is_object(tiers))
			json_incref(tiers);
		else
			tiers = NULL;
		json_decref(doc);
	}
	free(text);
	free(path);
	return tiers ? tiers : json_object();
}

enum result drills_read(const char *dir, struct drill_record *out, size_t max, size_t *n,
			struct error *err)
{
	json_t *tiers = load(dir), *o;
	const char *tier;
	*n = 0;
	if (!tiers)
		return error_nomem(err);
	json_object_foreach(tiers, tier, o) {
		if (*n < max && record_of(tier, o, &out[*n]))
			(*n)++;
	}
	json_decref(tiers);
	return CB_OK;
}

enum result drills_record(const char *dir, struct drill_record *d, struct error *err)
{
	json_t *tiers = load(dir), *o = NULL, *doc = json_object();
	char *path = fs_join(dir, DRILLS_FILE_NAME);
	enum result r = CB_OK;
	if (!tiers || !doc || !path) {
		r = error_nomem(err);
		goto done;
	}
	/* The last success: this one, or the one recorded before. */
	struct drill_record before;
	d->last_success = d->ok ? d->ran_at : 0;
	if (!d->ok && record_of(d->tier, json_object_get(tiers, d->tier), &before))
		d->last_success = before.last_success;
	if (!(o = drill_record_json(d))) {
		r = error_nomem(err);
		goto done;
	}
	json_object_set(tiers, d->tier, o);
	json_object_set(doc, "tiers", tiers);
	char *text = jsondoc_text(json_incref(doc));
	if (!text) {
		r = error_nomem(err);
		goto done;
	}
	r = fs_write_file_atomic(path, text, strlen(text), 0600, err);
	free(text);
done:
	json_decref(tiers);
	json_decref(o);
	json_decref(doc);
	free(path);
	return r;
}
