/*
 * The chain file, <dir>/.cbsync-chain/<db>.json: the snapshot a chain is
 * rooted in, its last increment, the state's time and checksum, and where
 * that state stands in the live database's WAL:
 *
 *   {"format": 1, "snapshot": "...db.gz", "seq": 12, "last": "increments/...",
 *    "last_ms": 1764403201234, "checksum": "0123456789abcdef",
 *    "wal": {"salt": [S1, S2], "ckpt": C, "page_size": 4096, "big_endian": false,
 *            "frames": F, "sum": [K1, K2], "db": ["DEV", "INO"], "file": ["DEV", "INO"]}}
 *
 * (device and inode numbers as decimal strings: they are 64-bit unsigned,
 * which a JSON integer here is not)
 * "wal" is null when the place is not known; a reader that finds it missing
 * or malformed takes it as not known (the chain goes on by a page diff).
 */
#include "agent/tiers/replicate_internal.h"
#include "agent/tiers/replicate.h"
#include "common/fsutil.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHAIN_FILE_MAX 8192

char *replicate_state_path(const char *dir, const char *db_path, const char *suffix)
{
	char stem[BACKUP_STEM_MAX + 1], *p = NULL;
	backup_db_stem(db_path, stem, sizeof(stem));
	if (asprintf(&p, "%s/%s/%s%s", dir, REPLICATE_STATE_DIR, stem, suffix) < 0)
		return NULL;
	return p;
}

static json_t *pair(uint64_t a, uint64_t b)
{
	return json_pack("[I, I]", (json_int_t)a, (json_int_t)b);
}

static json_t *id_pair(uint64_t a, uint64_t b)
{
	char x[24], y[24];
	snprintf(x, sizeof(x), "%" PRIu64, a);
	snprintf(y, sizeof(y), "%" PRIu64, b);
	return json_pack("[s, s]", x, y);
}

static json_t *pos_to_json(const struct walpos *p)
{
	if (!p->valid)
		return json_null();
	return json_pack("{s:o, s:I, s:I, s:b, s:I, s:o, s:o, s:o}", "salt",
			 pair(p->salt[0], p->salt[1]), "ckpt", (json_int_t)p->ckpt, "page_size",
			 (json_int_t)p->page_size, "big_endian", p->big_endian, "frames",
			 (json_int_t)p->frames, "sum", pair(p->sum[0], p->sum[1]), "db",
			 id_pair(p->db_dev, p->db_ino), "file", id_pair(p->wal_dev, p->wal_ino));
}

/* A non-negative integer no larger than max. */
static bool get_uint(json_t *v, uint64_t max, uint64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return false;
	*out = (uint64_t)json_integer_value(v);
	return true;
}

/* A decimal string of a 64-bit unsigned number. */
static bool get_id(json_t *v, uint64_t *out)
{
	const char *s = json_string_value(v);
	char *end = NULL;
	if (!s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno || *end || strlen(s) > 20)
		return false;
	*out = (uint64_t)n;
	return true;
}

static bool get_ids(json_t *v, uint64_t out[2])
{
	return json_is_array(v) && json_array_size(v) == 2 && get_id(json_array_get(v, 0), &out[0]) &&
	       get_id(json_array_get(v, 1), &out[1]);
}

static bool get_pair(json_t *v, uint64_t max, uint64_t out[2])
{
	return json_is_array(v) && json_array_size(v) == 2 &&
	       get_uint(json_array_get(v, 0), max, &out[0]) &&
	       get_uint(json_array_get(v, 1), max, &out[1]);
}

static void pos_from_json(json_t *o, struct walpos *p)
{
	uint64_t salt[2], sum[2], db[2], file[2], ckpt, ps, frames;
	memset(p, 0, sizeof(*p));
	if (!json_is_object(o) || !get_pair(json_object_get(o, "salt"), UINT32_MAX, salt) ||
	    !get_pair(json_object_get(o, "sum"), UINT32_MAX, sum) ||
	    !get_ids(json_object_get(o, "db"), db) || !get_ids(json_object_get(o, "file"), file) ||
	    !get_uint(json_object_get(o, "ckpt"), UINT32_MAX, &ckpt) ||
	    !get_uint(json_object_get(o, "page_size"), UINT32_MAX, &ps) ||
	    !get_uint(json_object_get(o, "frames"), UINT32_MAX, &frames) ||
	    !json_is_boolean(json_object_get(o, "big_endian")))
		return;
	*p = (struct walpos){
		.valid = true,
		.salt = {(uint32_t)salt[0], (uint32_t)salt[1]},
		.ckpt = (uint32_t)ckpt,
		.page_size = (uint32_t)ps,
		.big_endian = json_is_true(json_object_get(o, "big_endian")),
		.frames = (uint32_t)frames,
		.sum = {(uint32_t)sum[0], (uint32_t)sum[1]},
		.db_dev = db[0], .db_ino = db[1],
		.wal_dev = file[0], .wal_ino = file[1],
	};
}

enum result replicate_state_write(const char *dir, const char *db_path,
				  const struct chain_state *s, struct error *err)
{
	char sum[17];
	incr_checksum_format(s->checksum, sum);
	json_t *o = json_pack("{s:i, s:s, s:I, s:o, s:I, s:s, s:o}", "format", 1, "snapshot",
			      s->snapshot, "seq", (json_int_t)s->seq, "last",
			      s->last[0] ? json_string(s->last) : json_null(), "last_ms",
			      (json_int_t)s->last_ms, "checksum", sum, "wal", pos_to_json(&s->pos));
	char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	char *path = replicate_state_path(dir, db_path, ".json");
	json_decref(o);
	enum result r = !text || !path ? error_nomem(err)
				       : fs_write_file_atomic(path, text, strlen(text), 0600, err);
	free(text);
	free(path);
	return r;
}

bool replicate_state_read(const char *dir, const char *db_path, struct chain_state *s,
			  char *why, size_t size)
{
	char *path = replicate_state_path(dir, db_path, ".json"), *text = NULL;
	size_t len = 0;
	struct error err = {0};
	memset(s, 0, sizeof(*s));
	if (!path || fs_read_file(path, CHAIN_FILE_MAX, &text, &len, &err)) {
		snprintf(why, size, "no chain to continue%s%s", err.msg[0] ? ": " : "", err.msg);
		free(path);
		return false;
	}
	free(path);
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	json_t *snap = json_object_get(o, "snapshot"), *seq = json_object_get(o, "seq");
	json_t *last = json_object_get(o, "last"), *ms = json_object_get(o, "last_ms");
	json_t *sum = json_object_get(o, "checksum");
	bool ok = json_is_string(snap) && json_is_integer(seq) && json_integer_value(seq) >= 0 &&
		  (json_is_null(last) || json_is_string(last)) && json_is_integer(ms) &&
		  json_is_string(sum) && strlen(json_string_value(snap)) < sizeof(s->snapshot) &&
		  (json_is_null(last) || strlen(json_string_value(last)) < sizeof(s->last)) &&
		  incr_checksum_parse(json_string_value(sum), &s->checksum);
	if (ok) {
		snprintf(s->snapshot, sizeof(s->snapshot), "%s", json_string_value(snap));
		s->seq = (uint64_t)json_integer_value(seq);
		if (json_is_string(last))
			snprintf(s->last, sizeof(s->last), "%s", json_string_value(last));
		s->last_ms = json_integer_value(ms);
		pos_from_json(json_object_get(o, "wal"), &s->pos);
		ok = backup_name_parse(s->snapshot, NULL) && (s->seq == 0) == (s->last[0] == '\0');
	}
	json_decref(o);
	if (!ok)
		snprintf(why, size, "the chain file is damaged");
	return ok;
}
