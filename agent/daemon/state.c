/*
 * The agent's state file, as JSON (jansson), written atomically.
 */
#include "agent/daemon/state.h"
#include "common/fsutil.h"
#include "common/text.h"
#include "common/timeutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *time_or_null(int64_t t)
{
	char buf[32];
	if (t == 0)
		return json_null();
	time_format_iso(t, buf, sizeof(buf));
	return json_string(buf);
}

/* A JSON string for text that may not be UTF-8: a database path is bytes,
 * and a message cut to its buffer may end inside a character.  jansson
 * refuses such a string, which would fail the whole file, so the stray bytes
 * are written escaped (text.h).  NULL only when out of memory. */
static json_t *text_value(const char *s)
{
	json_t *v = json_string(s);
	if (v)
		return v;
	size_t size = strlen(s) * 4 + 1; /* "\xNN" for every byte at most */
	char *esc = malloc(size);
	if (!esc)
		return NULL;
	text_escape(s, esc, size);
	v = json_string(esc);
	free(esc);
	return v;
}

enum result state_write(const char *dir, const struct agent_state *s, struct error *err)
{
	char fp[160];
	db_fingerprint_format(&s->fingerprint, fp, sizeof(fp));
	json_t *last = json_object();
	json_t *next = json_object();
	json_t *made = json_object();
	for (int t = 0; t < BT_COUNT; t++) {
		const char *name = backup_type_name((enum backup_type)t);
		const struct state_last *l = &s->last[t];
		json_t *lv = l->set ? json_pack("{s:o, s:o, s:f}", "name", text_value(l->name),
						"time", time_or_null(l->time), "seconds",
						l->seconds)
				    : json_null();
		json_object_set_new(last, name, lv);
		if (t == BT_DAILY || t == BT_WEEKLY || t == BT_MONTHLY)
			json_object_set_new(next, name, time_or_null(s->next[t]));
		json_object_set_new(made, name, json_integer((json_int_t)s->made[t]));
	}
	json_object_set_new(next, "drill", s->drilling ? json_string("running")
						      : time_or_null(s->next_drill));
	json_object_set_new(next, "change", json_string(s->change_pending ? "pending" : "idle"));
	json_object_set_new(next, "change_since",
			    time_or_null(s->change_pending ? s->change_since : 0));
	json_t *remotes = json_array();
	for (size_t i = 0; i < s->n_remotes; i++) {
		const struct state_remote *r = &s->remotes[i];
		json_array_append_new(
			remotes,
			json_pack("{s:o, s:b, s:b, s:o, s:o, s:o, s:I, s:I, s:I, s:I, s:o}",
				  "name", text_value(r->name), "pending", r->pending, "failing",
				  r->failing, "last_attempt",
				  time_or_null(r->last_attempt), "last_success",
				  time_or_null(r->last_success), "next_retry",
				  time_or_null(r->next_retry), "uploaded", (json_int_t)r->uploaded,
				  "bytes_uploaded", (json_int_t)r->bytes_up, "requests",
				  (json_int_t)r->requests, "sync_errors", (json_int_t)r->sync_errors,
				  "last_error",
				  r->failing ? text_value(r->error) : json_null()));
		json_t *o = json_array_get(remotes, json_array_size(remotes) - 1);
		json_object_set_new(o, "increments_uploaded", json_integer((json_int_t)r->incrs_uploaded));
		json_object_set_new(o, "newest_restorable", time_or_null(r->newest));
		json_object_set_new(o, "unshipped_since", time_or_null(r->unshipped_since));
		json_object_set_new(o, "chain_note",
				    r->chain_note[0] ? text_value(r->chain_note) : json_null());
		json_object_set_new(o, "requests_by_kind",
				    json_pack("{s:I, s:I, s:I, s:I}", "list",
					      (json_int_t)r->calls_list, "put", (json_int_t)r->calls_put,
					      "get", (json_int_t)r->calls_get, "delete",
					      (json_int_t)r->calls_remove));
	}
	json_t *captures = json_pack(
		"{s:I, s:I, s:I, s:o}", "wal", (json_int_t)s->captures_wal, "diff",
		(json_int_t)s->captures_diff, "restarts_followed", (json_int_t)s->restarts_followed,
		"last_diff",
		s->last_diff_time ? json_pack("{s:o, s:o}", "time", time_or_null(s->last_diff_time),
					      "reason", text_value(s->last_diff_reason))
				  : json_null());
	json_t *doc = json_pack(
		"{s:i, s:I, s:o, s:o, s:o, s:o, s:s?, s:o, s:o, s:o, s:I, s:o, s:o}",
		"format", 1, "pid", (json_int_t)s->pid, "started", time_or_null(s->started),
		"updated", time_or_null(s->updated), "activity", text_value(s->activity),
		"database", text_value(s->database), "fingerprint",
		s->have_fingerprint ? fp : NULL, "last_backup", last, "next", next, "made", made,
		"failures", (json_int_t)s->failures, "last_error",
		s->have_error ? json_pack("{s:o, s:o}", "time", time_or_null(s->error_time),
					  "message", text_value(s->error))
			      : json_null(),
		"remotes", remotes);
	json_t *health = json_array();
	for (size_t i = 0; health && i < s->n_health; i++) {
		const struct state_health *h = &s->health[i];
		json_array_append_new(health, json_pack("{s:o, s:b, s:b, s:o}", "tier",
							text_value(h->tier), "healthy", h->healthy,
							"stale", h->stale, "reasons",
							h->why[0] ? text_value(h->why) : json_null()));
	}
	if (doc && health)
		json_object_set_new(doc, "health", health);
	else
		json_decref(health);
	if (doc && captures)
		json_object_set_new(doc, "captures", captures);
	else
		json_decref(captures);
	if (doc && s->log_lost)
		json_object_set_new(doc, "log_lost",
				    json_pack("{s:o, s:o}", "time", time_or_null(s->log_lost_time),
					      "error", text_value(s->log_lost_error)));
	char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(doc);
	if (!text)
		return error_nomem(err);
	char *path = fs_join(dir, STATE_FILE_NAME);
	enum result r = path ? fs_write_file_atomic(path, text, strlen(text), 0600, err)
			     : error_nomem(err);
	free(path);
	free(text);
	return r;
}

static int64_t parse_time(json_t *v)
{
	int64_t t = 0;
	if (json_is_string(v) && time_parse_iso(json_string_value(v), &t))
		return t;
	return 0;
}

static void copy_str(char *dst, size_t size, json_t *v)
{
	snprintf(dst, size, "%s", json_is_string(v) ? json_string_value(v) : "");
}

enum result state_read(const char *dir, struct agent_state *s, struct error *err)
{
	char *path = fs_join(dir, STATE_FILE_NAME);
	char *text = NULL;
	size_t len = 0;
	if (!path)
		return error_nomem(err);
	enum result r = fs_read_file(path, 1 << 20, &text, &len, err);
	if (r) {
		free(path);
		return r;
	}
	json_error_t jerr;
	json_t *doc = json_loadb(text, len, 0, &jerr);
	free(text);
	if (!json_is_object(doc)) {
		json_decref(doc);
		r = error_set(err, CB_ERR_CORRUPT, "agent state file '%s' is unreadable", path);
		free(path);
		return r;
	}
	free(path);
	memset(s, 0, sizeof(*s));
	s->pid = (long)json_integer_value(json_object_get(doc, "pid"));
	s->started = parse_time(json_object_get(doc, "started"));
	s->updated = parse_time(json_object_get(doc, "updated"));
	copy_str(s->activity, sizeof(s->activity), json_object_get(doc, "activity"));
	copy_str(s->database, sizeof(s->database), json_object_get(doc, "database"));
	json_t *fp = json_object_get(doc, "fingerprint");
	s->have_fingerprint = json_is_string(fp) &&
			      db_fingerprint_parse(json_string_value(fp), &s->fingerprint);
	json_t *last = json_object_get(doc, "last_backup");
	json_t *next = json_object_get(doc, "next");
	json_t *made = json_object_get(doc, "made");
	for (int t = 0; t < BT_COUNT; t++) {
		const char *name = backup_type_name((enum backup_type)t);
		json_t *l = json_object_get(last, name);
		if (json_is_object(l)) {
			s->last[t].set = true;
			copy_str(s->last[t].name, sizeof(s->last[t].name), json_object_get(l, "name"));
			s->last[t].time = parse_time(json_object_get(l, "time"));
			s->last[t].seconds = json_number_value(json_object_get(l, "seconds"));
		}
		s->next[t] = parse_time(json_object_get(next, name));
		s->made[t] = (uint64_t)json_integer_value(json_object_get(made, name));
	}
	json_t *change = json_object_get(next, "change");
	s->change_pending = json_is_string(change) &&
			    strcmp(json_string_value(change), "pending") == 0;
	s->change_since = parse_time(json_object_get(next, "change_since"));
	json_t *health = json_object_get(doc, "health"), *h;
	size_t hi;
	json_array_foreach(health, hi, h) {
		if (s->n_health >= sizeof(s->health) / sizeof(*s->health))
			break;
		struct state_health *x = &s->health[s->n_health++];
		copy_str(x->tier, sizeof(x->tier), json_object_get(h, "tier"));
		x->healthy = json_is_true(json_object_get(h, "healthy"));
		x->stale = json_is_true(json_object_get(h, "stale"));
		copy_str(x->why, sizeof(x->why), json_object_get(h, "reasons"));
	}
	json_t *drill = json_object_get(next, "drill");
	s->drilling = json_is_string(drill) && strcmp(json_string_value(drill), "running") == 0;
	s->next_drill = s->drilling ? 0 : parse_time(drill);
	json_t *lost = json_object_get(doc, "log_lost");
	if (json_is_object(lost)) {
		s->log_lost = true;
		s->log_lost_time = parse_time(json_object_get(lost, "time"));
		copy_str(s->log_lost_error, sizeof(s->log_lost_error),
			 json_object_get(lost, "error"));
	}
	s->failures = (uint64_t)json_integer_value(json_object_get(doc, "failures"));
	json_t *cap = json_object_get(doc, "captures");
	s->captures_wal = (uint64_t)json_integer_value(json_object_get(cap, "wal"));
	s->captures_diff = (uint64_t)json_integer_value(json_object_get(cap, "diff"));
	s->restarts_followed =
		(uint64_t)json_integer_value(json_object_get(cap, "restarts_followed"));
	json_t *ld = json_object_get(cap, "last_diff");
	if (json_is_object(ld)) {
		s->last_diff_time = parse_time(json_object_get(ld, "time"));
		copy_str(s->last_diff_reason, sizeof(s->last_diff_reason),
			 json_object_get(ld, "reason"));
	}
	json_t *remotes = json_object_get(doc, "remotes");
	for (size_t i = 0; i < json_array_size(remotes) && i < STATE_MAX_REMOTES; i++) {
		json_t *o = json_array_get(remotes, i);
		struct state_remote *sr = &s->remotes[s->n_remotes++];
		copy_str(sr->name, sizeof(sr->name), json_object_get(o, "name"));
		sr->pending = json_is_true(json_object_get(o, "pending"));
		sr->failing = json_is_true(json_object_get(o, "failing"));
		sr->last_attempt = parse_time(json_object_get(o, "last_attempt"));
		sr->last_success = parse_time(json_object_get(o, "last_success"));
		sr->next_retry = parse_time(json_object_get(o, "next_retry"));
		sr->uploaded = (uint64_t)json_integer_value(json_object_get(o, "uploaded"));
		sr->bytes_up = (uint64_t)json_integer_value(json_object_get(o, "bytes_uploaded"));
		sr->requests = (uint64_t)json_integer_value(json_object_get(o, "requests"));
		sr->sync_errors = (uint64_t)json_integer_value(json_object_get(o, "sync_errors"));
		sr->incrs_uploaded =
			(uint64_t)json_integer_value(json_object_get(o, "increments_uploaded"));
		sr->newest = parse_time(json_object_get(o, "newest_restorable"));
		sr->unshipped_since = parse_time(json_object_get(o, "unshipped_since"));
		copy_str(sr->chain_note, sizeof(sr->chain_note), json_object_get(o, "chain_note"));
		json_t *kinds = json_object_get(o, "requests_by_kind");
		sr->calls_list = (uint64_t)json_integer_value(json_object_get(kinds, "list"));
		sr->calls_put = (uint64_t)json_integer_value(json_object_get(kinds, "put"));
		sr->calls_get = (uint64_t)json_integer_value(json_object_get(kinds, "get"));
		sr->calls_remove = (uint64_t)json_integer_value(json_object_get(kinds, "delete"));
		copy_str(sr->error, sizeof(sr->error), json_object_get(o, "last_error"));
	}
	json_t *e = json_object_get(doc, "last_error");
	if (json_is_object(e)) {
		s->have_error = true;
		s->error_time = parse_time(json_object_get(e, "time"));
		copy_str(s->error, sizeof(s->error), json_object_get(e, "message"));
	}
	json_decref(doc);
	return CB_OK;
}
