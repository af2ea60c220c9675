/*
 * Backup names: <db>_<type>_<YYYYMMDD_HHMMSS>.db.gz, parsed from the right.
 */
#include "common/backup_name.h"
#include "common/timeutil.h"

#include <stdio.h>
#include <string.h>

static const char *const type_names[BT_COUNT] = {
	[BT_MANUAL] = "manual",
	[BT_DAILY] = "daily",
	[BT_WEEKLY] = "weekly",
	[BT_MONTHLY] = "monthly",
	[BT_CHANGE] = "change",
	[BT_RESTORE_POINT] = "restore_point",
};

const char *backup_type_name(enum backup_type type)
{
	return (unsigned)type < BT_COUNT ? type_names[type] : "unknown";
}

bool backup_type_parse(const char *s, enum backup_type *out)
{
	for (int i = 0; i < BT_COUNT; i++) {
		if (strcmp(s, type_names[i]) == 0) {
			*out = (enum backup_type)i;
			return true;
		}
	}
	return false;
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t sl = strlen(suffix);
	return len >= sl && memcmp(s + len - sl, suffix, sl) == 0;
}

bool backup_name_parse(const char *name, struct backup_name *out)
{
	size_t len = strlen(name);
	const size_t suffix_len = strlen(BACKUP_SUFFIX);
	char stamp[16];
	int64_t created;

	if (len >= BACKUP_NAME_MAX || !ends_with(name, len, BACKUP_SUFFIX))
		return false;
	/* A file name, never a path: a remote key like "../x_manual_..." must
	 * not parse into a db part that climbs out of a directory. */
	if (memchr(name, '/', len))
		return false;
	len -= suffix_len;
	/* "_" + 15-character stamp */
	if (len < 16 || name[len - 16] != '_')
		return false;
	memcpy(stamp, name + len - 15, 15);
	stamp[15] = '\0';
	if (!time_parse_stamp(stamp, &created))
		return false;
	len -= 16;

	/* The type, longest first so "restore_point" wins over "point". */
	int found = -1;
	size_t type_len = 0;
	for (int i = 0; i < BT_COUNT; i++) {
		size_t tl = strlen(type_names[i]);
		if (len > tl + 1 && name[len - tl - 1] == '_' &&
		    memcmp(name + len - tl, type_names[i], tl) == 0 && tl > type_len) {
			found = i;
			type_len = tl;
		}
	}
	if (found < 0)
		return false;
	len -= type_len + 1;
	if (len == 0 || len > BACKUP_STEM_MAX)
		return false;
	if (out) {
		memcpy(out->db, name, len);
		out->db[len] = '\0';
		out->type = (enum backup_type)found;
		out->created = created;
	}
	return true;
}

bool backup_name_format(const struct backup_name *n, char *buf, size_t size)
{
	char stamp[16];
	time_format_stamp(n->created, stamp, sizeof(stamp));
	int w = snprintf(buf, size, "%s_%s_%s%s", n->db, backup_type_name(n->type),
			 stamp, BACKUP_SUFFIX);
	return w > 0 && (size_t)w < size;
}

void backup_db_stem(const char *db_path, char *out, size_t size)
{
	const char *base = strrchr(db_path, '/');
	base = base ? base + 1 : db_path;
	size_t len = strlen(base);
	if (len > 3 && strcmp(base + len - 3, ".db") == 0)
		len -= 3;
	if (size == 0)
		return;
	if (len > size - 1)
		len = size - 1;
	if (len > BACKUP_STEM_MAX)
		len = BACKUP_STEM_MAX;
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		char c = base[i];
		bool safe = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		out[o++] = safe ? c : '-';
	}
	if (o == 0 && size > 2) {
		out[o++] = 'd';
		out[o++] = 'b';
	}
	out[o] = '\0';
}
