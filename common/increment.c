/*
 * Increment names and metadata.
 */
#include "common/increment.h"
#include "common/jsondoc.h"
#include "common/timeutil.h"

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How a field's error line names the document. */
static const char WHAT[] = "increment metadata";

#define SEQ_DIGITS 10
#define STAMP_LEN 15   /* YYYYMMDD_HHMMSS */
/* "<seq>-<seq>_<stamp>_<stamp>" */
#define TAIL_LEN (SEQ_DIGITS + 1 + SEQ_DIGITS + 1 + STAMP_LEN + 1 + STAMP_LEN)

static bool seq_parse(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	for (int i = 0; i < SEQ_DIGITS; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return true;
}

static bool stamp_parse(const char *s, int64_t *out)
{
	char buf[STAMP_LEN + 1];
	memcpy(buf, s, STAMP_LEN);
	buf[STAMP_LEN] = '\0';
	return time_parse_stamp(buf, out);
}

static bool valid(const struct incr_name *n)
{
	return n->seq_first >= 1 && n->seq_first <= n->seq_last && n->seq_last <= INCR_SEQ_MAX &&
	       n->first <= n->last && backup_name_parse(n->snapshot, NULL);
}

bool incr_name_parse(const char *key, struct incr_name *out)
{
	struct incr_name n = {0};
	size_t dir = strlen(INCR_DIR), len = strlen(key), sfx = strlen(INCR_SUFFIX);
	if (len <= dir + 1 + TAIL_LEN + sfx || strncmp(key, INCR_DIR "/", dir + 1) != 0 ||
	    strcmp(key + len - sfx, INCR_SUFFIX) != 0)
		return false;
	const char *tail = key + len - sfx - TAIL_LEN;
	if (tail[-1] != '/' || tail[SEQ_DIGITS] != '-' || tail[2 * SEQ_DIGITS + 1] != '_' ||
	    tail[2 * SEQ_DIGITS + 2 + STAMP_LEN] != '_')
		return false;
	/* The folder is the snapshot's name without its suffix, maybe with
	 * the roll-ups' folder inside it. */
	size_t stem = (size_t)(tail - 1 - (key + dir + 1));
	size_t rdir = strlen(INCR_ROLLUP_DIR);
	if (stem > rdir + 1 && strncmp(tail - 1 - rdir, INCR_ROLLUP_DIR, rdir) == 0 &&
	    tail[-2 - (ptrdiff_t)rdir] == '/') {
		n.rollup = true;
		stem -= rdir + 1;
	}
	if (stem == 0 || stem + strlen(BACKUP_SUFFIX) >= sizeof(n.snapshot) ||
	    memchr(key + dir + 1, '/', stem))
		return false;
	memcpy(n.snapshot, key + dir + 1, stem);
	memcpy(n.snapshot + stem, BACKUP_SUFFIX, sizeof(BACKUP_SUFFIX));
	if (!seq_parse(tail, &n.seq_first) || !seq_parse(tail + SEQ_DIGITS + 1, &n.seq_last) ||
	    !stamp_parse(tail + 2 * SEQ_DIGITS + 2, &n.first) ||
	    !stamp_parse(tail + 2 * SEQ_DIGITS + 3 + STAMP_LEN, &n.last) || !valid(&n))
		return false;
	if (out)
		*out = n;
	return true;
}

bool incr_name_format(const struct incr_name *n, char *buf, size_t size)
{
	size_t slen = strlen(n->snapshot), sfx = strlen(BACKUP_SUFFIX);
	if (!valid(n) || slen <= sfx)
		return false;
	char first[STAMP_LEN + 1], last[STAMP_LEN + 1];
	time_format_stamp(n->first, first, sizeof(first));
	time_format_stamp(n->last, last, sizeof(last));
	int w = snprintf(buf, size, "%s/%.*s/%s%010llu-%010llu_%s_%s%s", INCR_DIR,
			 (int)(slen - sfx), n->snapshot, n->rollup ? INCR_ROLLUP_DIR "/" : "",
			 (unsigned long long)n->seq_first,
			 (unsigned long long)n->seq_last, first, last, INCR_SUFFIX);
	return w > 0 && (size_t)w < size;
}

bool incr_same_state(const struct incr_meta *a, const struct incr_meta *b)
{
	return a->seq_last == b->seq_last && a->state_checksum == b->state_checksum &&
	       a->page_count == b->page_count && a->page_size == b->page_size;
}

void incr_checksum_format(uint64_t sum, char buf[17])
{
	snprintf(buf, 17, "%016llx", (unsigned long long)sum);
}

bool incr_checksum_parse(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (strlen(s) != 16)
		return false;
	for (int i = 0; i < 16; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

char *incr_meta_to_json(const struct incr_meta *m)
{
	char first[32], last[32], sum[17];
	time_format_iso_ms(m->first_tx_ms, first, sizeof(first));
	time_format_iso_ms(m->last_tx_ms, last, sizeof(last));
	incr_checksum_format(m->state_checksum, sum);
	json_t *o = json_pack(
		"{s:i, s:s, s:s, s:s, s:s, s:o, s:I, s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:s, "
		"s:s, s:s, s:s}",
		"format", 1, "kind", "increment", "name", m->name, "database", m->database,
		"snapshot", m->snapshot, "prev", m->prev[0] ? json_string(m->prev) : json_null(),
		"seq_first", (json_int_t)m->seq_first, "seq_last", (json_int_t)m->seq_last,
		"first_tx", first, "last_tx", last, "page_size", (json_int_t)m->page_size,
		"page_count", (json_int_t)m->page_count, "pages", (json_int_t)m->pages,
		"original_size", (json_int_t)m->original_size, "compressed_size",
		(json_int_t)m->compressed_size, "sha256", m->sha256, "state_checksum", sum, "tool",
		"cbsync", "version", m->version);
	if (!o)
		return NULL;
	return jsondoc_text(o);
}

/* The fields that must agree with each other and with the name. */
static enum result check(const struct incr_meta *m, struct error *err)
{
	struct incr_name n, p;
	struct backup_name snap;
	if (!incr_name_parse(m->name, &n))
		return jsondoc_bad(err, WHAT, "name", "is not an increment's name");
	if (strcmp(n.snapshot, m->snapshot) != 0 || n.seq_first != m->seq_first ||
	    n.seq_last != m->seq_last || n.first != m->first_tx_ms / 1000 ||
	    n.last != m->last_tx_ms / 1000)
		return error_set(err, CB_ERR_CORRUPT, "increment metadata does not match its name "
				 "\"%s\"", m->name);
	if (!backup_name_parse(m->snapshot, &snap) || strcmp(snap.db, m->database) != 0)
		return jsondoc_bad(err, WHAT, "database", "is not its snapshot's database");
	if (m->page_size < 512 || m->page_size > 65536 || (m->page_size & (m->page_size - 1)))
		return jsondoc_bad(err, WHAT, "page_size", "is not a page size");
	if (m->pages > m->page_count && m->page_count > 0)
		return jsondoc_bad(err, WHAT, "pages", "is more than the database's pages");
	if (m->prev[0] == '\0')
		return m->seq_first == 1 ? CB_OK
					 : jsondoc_bad(err, WHAT, "prev", "is missing although the increment is not "
						   "the first of its chain");
	if (!incr_name_parse(m->prev, &p) || p.rollup || strcmp(p.snapshot, m->snapshot) != 0 ||
	    p.seq_last + 1 != m->seq_first || p.last > n.first)
		return jsondoc_bad(err, WHAT, "prev", "is not the increment just before it in its chain");
	return CB_OK;
}

enum result incr_meta_from_json(const char *text, size_t len, struct incr_meta *out,
				struct error *err)
{
	json_error_t jerr;
	struct incr_meta m;
	char kind[32], first[32], last[32], sum[32];
	int64_t format, seq_first, seq_last;
	enum result r;

	memset(&m, 0, sizeof(m));
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return error_set(err, CB_ERR_CORRUPT,
				 "increment metadata is not valid JSON (line %d: %s)", jerr.line,
				 jerr.text);
	if (!json_is_object(o)) {
		r = error_set(err, CB_ERR_CORRUPT, "increment metadata is not a JSON object");
		goto out;
	}
	if ((r = jsondoc_int(o, WHAT, "format", 1, &format, err)))
		goto out;
	if (format != 1) {
		r = error_set(err, CB_ERR_CORRUPT,
			      "increment metadata format %lld is not supported by this version",
			      (long long)format);
		goto out;
	}
	json_t *prev = json_object_get(o, "prev");
	if (!prev || (!json_is_null(prev) && !json_is_string(prev))) {
		r = jsondoc_bad(err, WHAT, "prev", prev ? "is neither a name nor null" : "is missing");
		goto out;
	}
	if ((r = jsondoc_str(o, WHAT, "kind", kind, sizeof(kind), err)) ||
	    (r = jsondoc_str(o, WHAT, "name", m.name, sizeof(m.name), err)) ||
	    (r = jsondoc_str(o, WHAT, "database", m.database, sizeof(m.database), err)) ||
	    (r = jsondoc_str(o, WHAT, "snapshot", m.snapshot, sizeof(m.snapshot), err)) ||
	    (!json_is_null(prev) && (r = jsondoc_str(o, WHAT, "prev", m.prev, sizeof(m.prev), err))) ||
	    (r = jsondoc_int(o, WHAT, "seq_first", 1, &seq_first, err)) ||
	    (r = jsondoc_int(o, WHAT, "seq_last", 1, &seq_last, err)) ||
	    (r = jsondoc_str(o, WHAT, "first_tx", first, sizeof(first), err)) ||
	    (r = jsondoc_str(o, WHAT, "last_tx", last, sizeof(last), err)) ||
	    (r = jsondoc_int(o, WHAT, "page_size", 512, &m.page_size, err)) ||
	    (r = jsondoc_int(o, WHAT, "page_count", 0, &m.page_count, err)) ||
	    (r = jsondoc_int(o, WHAT, "pages", 0, &m.pages, err)) ||
	    (r = jsondoc_int(o, WHAT, "original_size", 0, &m.original_size, err)) ||
	    (r = jsondoc_int(o, WHAT, "compressed_size", 0, &m.compressed_size, err)) ||
	    (r = jsondoc_str(o, WHAT, "sha256", m.sha256, sizeof(m.sha256), err)) ||
	    (r = jsondoc_str(o, WHAT, "state_checksum", sum, sizeof(sum), err)) ||
	    (r = jsondoc_str(o, WHAT, "version", m.version, sizeof(m.version), err)))
		goto out;
	m.seq_first = (uint64_t)seq_first;
	m.seq_last = (uint64_t)seq_last;
	if (strcmp(kind, "increment") != 0)
		r = jsondoc_bad(err, WHAT, "kind", "is not \"increment\"");
	else if (!time_parse_iso_ms(first, &m.first_tx_ms))
		r = jsondoc_bad(err, WHAT, "first_tx", "is not a UTC time to the millisecond");
	else if (!time_parse_iso_ms(last, &m.last_tx_ms) || m.last_tx_ms < m.first_tx_ms)
		r = jsondoc_bad(err, WHAT, "last_tx",
				"is not a UTC time to the millisecond, at or after first_tx");
	else if (!sha256_hex_valid(m.sha256))
		r = jsondoc_bad(err, WHAT, "sha256", "is not a SHA-256 digest");
	else if (!incr_checksum_parse(sum, &m.state_checksum))
		r = jsondoc_bad(err, WHAT, "state_checksum", "is not 16 lower-case hex digits");
	else if (!(r = metacrypt_read(o, WHAT, &m.crypt, err)))
		r = check(&m, err);
	if (!r)
		*out = m;
out:
	json_decref(o);
	return r;
}
