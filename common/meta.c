/*
 * Backup metadata to and from JSON (jansson), strictly validated on read.
 */
#include "common/meta.h"
#include "common/increment.h"
#include "common/jsondoc.h"
#include "common/timeutil.h"

#include <jansson.h>
#include <string.h>

/* How a field's error line names the document. */
static const char WHAT[] = "metadata";

double meta_ratio(int64_t original_size, int64_t compressed_size)
{
	if (original_size <= 0)
		return 0.0;
	return (1.0 - (double)compressed_size / (double)original_size) * 100.0;
}

int64_t meta_state_ms(const struct backup_meta *m)
{
	return m->has_state_time ? m->state_ms : m->created * 1000;
}

char *meta_to_json(const struct backup_meta *m)
{
	char created[32];
	time_format_iso(m->created, created, sizeof(created));
	double ratio = meta_ratio(m->original_size, m->compressed_size);
	/* Two decimals are plenty and keep the document stable. */
	ratio = (double)(int64_t)(ratio * 100.0 + (ratio >= 0 ? 0.5 : -0.5)) / 100.0;

	json_t *o = json_pack(
		"{s:i, s:s, s:s, s:s, s:s, s:I, s:I, s:f, s:s, s:I, s:I, s:s, s:s}",
		"format", META_FORMAT, "name", m->name, "database", m->database,
		"type", backup_type_name(m->type), "created", created,
		"original_size", (json_int_t)m->original_size, "compressed_size",
		(json_int_t)m->compressed_size, "compression_ratio", ratio, "sha256",
		m->sha256, "page_size", (json_int_t)m->page_size, "page_count",
		(json_int_t)m->page_count, "tool", "cbsync", "version", m->version);
	if (!o)
		return NULL;
	if (m->has_state_checksum || m->has_state_time) {
		/* Before "tool", so the document still ends with who wrote it. */
		json_t *tool = json_incref(json_object_get(o, "tool"));
		json_t *version = json_incref(json_object_get(o, "version"));
		json_object_del(o, "tool");
		json_object_del(o, "version");
		if (m->has_state_checksum) {
			char sum[17];
			incr_checksum_format(m->state_checksum, sum);
			json_object_set_new(o, "state_checksum", json_string(sum));
		}
		if (m->has_state_time) {
			char at[32];
			time_format_iso_ms(m->state_ms, at, sizeof(at));
			json_object_set_new(o, "state_time", json_string(at));
		}
		json_object_set_new(o, "tool", tool);
		json_object_set_new(o, "version", version);
	}
	return jsondoc_text(o);
}

enum result meta_from_json(const char *text, size_t len, struct backup_meta *out,
			   struct error *err)
{
	json_error_t jerr;
	struct backup_meta m;
	struct backup_name parsed;
	char type[32], created[32];
	int64_t format;
	enum result r;

	memset(&m, 0, sizeof(m));
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return error_set(err, CB_ERR_CORRUPT, "metadata is not valid JSON (line %d: %s)",
				 jerr.line, jerr.text);
	if (!json_is_object(o)) {
		r = error_set(err, CB_ERR_CORRUPT, "metadata is not a JSON object");
		goto out;
	}
	if ((r = jsondoc_int(o, WHAT, "format", 1, &format, err)))
		goto out;
	if (format != META_FORMAT) {
		r = error_set(err, CB_ERR_CORRUPT,
			      "metadata format %lld is not supported by this version",
			      (long long)format);
		goto out;
	}
	if ((r = jsondoc_str(o, WHAT, "name", m.name, sizeof(m.name), err)) ||
	    (r = jsondoc_str(o, WHAT, "database", m.database, sizeof(m.database), err)) ||
	    (r = jsondoc_str(o, WHAT, "type", type, sizeof(type), err)) ||
	    (r = jsondoc_str(o, WHAT, "created", created, sizeof(created), err)) ||
	    (r = jsondoc_int(o, WHAT, "original_size", 0, &m.original_size, err)) ||
	    (r = jsondoc_int(o, WHAT, "compressed_size", 0, &m.compressed_size, err)) ||
	    (r = jsondoc_str(o, WHAT, "sha256", m.sha256, sizeof(m.sha256), err)) ||
	    (r = jsondoc_int(o, WHAT, "page_size", 512, &m.page_size, err)) ||
	    (r = jsondoc_int(o, WHAT, "page_count", 0, &m.page_count, err)) ||
	    (r = jsondoc_str(o, WHAT, "version", m.version, sizeof(m.version), err)))
		goto out;
	if (!backup_type_parse(type, &m.type)) {
		r = jsondoc_bad(err, WHAT, "type", "is not a backup type");
		goto out;
	}
	if (!time_parse_iso(created, &m.created)) {
		r = jsondoc_bad(err, WHAT, "created", "is not an ISO 8601 UTC time");
		goto out;
	}
	if (!sha256_hex_valid(m.sha256)) {
		r = jsondoc_bad(err, WHAT, "sha256", "is not a SHA-256 digest");
		goto out;
	}
	json_t *sum = json_object_get(o, "state_checksum");
	if (sum) {
		if (!json_is_string(sum) ||
		    !incr_checksum_parse(json_string_value(sum), &m.state_checksum)) {
			r = jsondoc_bad(err, WHAT, "state_checksum", "is not 16 lower-case hex digits");
			goto out;
		}
		m.has_state_checksum = true;
	}
	json_t *at = json_object_get(o, "state_time");
	if (at) {
		if (!json_is_string(at) || !time_parse_iso_ms(json_string_value(at), &m.state_ms) ||
		    m.state_ms < m.created * 1000) {
			r = jsondoc_bad(err, WHAT, "state_time",
					"is not a UTC time to the millisecond, at or after created");
			goto out;
		}
		m.has_state_time = true;
	}
	if ((r = metacrypt_read(o, WHAT, &m.crypt, err)))
		goto out;
	if (!backup_name_parse(m.name, &parsed)) {
		r = jsondoc_bad(err, WHAT, "name", "is not a backup name");
		goto out;
	}
	if (parsed.type != m.type || parsed.created != m.created ||
	    strcmp(parsed.db, m.database) != 0) {
		r = error_set(err, CB_ERR_CORRUPT,
			      "metadata does not match its name \"%s\"", m.name);
		goto out;
	}
	*out = m;
	r = CB_OK;
out:
	json_decref(o);
	return r;
}
