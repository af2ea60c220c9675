/*
 * The wording of the loader's messages: a value quoted for an error line,
 * an invalid value reported (a secret never repeated back, a KEY_file's
 * path named), and the hints: "did you mean" for a typo, and why
 * keep_manual and keep_restore_point are not keys.
 */
#include "conf/loader.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* value, quoted for an error message: control characters escaped, long
 * values shortened. */
void ld_quote(const char *value, char *buf, size_t size)
{
	size_t o = 0;
	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (o + 8 >= size || p - (const unsigned char *)value >= 120) {
			o += (size_t)snprintf(buf + o, size - o, "...");
			break;
		}
		if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", *p);
		else
			buf[o++] = (char)*p;
	}
	if (o + 2 <= size) {
		buf[o++] = '"';
		buf[o] = '\0';
	} else {
		buf[size - 1] = '\0';
	}
}

/* Report an invalid value.  Secrets are never repeated back. */
enum result ld_value_error(struct loader *ld, const char *where, const char *value,
			       const char *file, bool secret, const char *why)
{
	char q[200];
	if (secret)
		return ld_bad(ld, "%s: the value %s", where, why);
	ld_quote(value, q, sizeof(q));
	if (file)
		return ld_bad(ld, "%s: %s (read from '%s') %s", where, q, file, why);
	return ld_bad(ld, "%s: %s %s", where, q, why);
}

/* keep_manual and keep_restore_point look like keys but cannot be: say why. */
const char *ld_keep_hint(const char *key)
{
	if (strcmp(key, "keep_manual") == 0 || strcmp(key, "keep_restore_point") == 0)
		return "manual backups and restore points are never pruned automatically, so "
		       "they have no retention rule";
	return NULL;
}

/* The closest of n candidates to word, if it is a plausible typo. */
const char *ld_closest(const char *word, const char *const *cands, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3;
	for (size_t i = 0; i < n; i++) {
		size_t d = conf_edit_distance(word, cands[i]);
		if (d < best_d && d < strlen(cands[i])) {
			best_d = d;
			best = cands[i];
		}
	}
	return best;
}

/* Levenshtein distance, case-insensitive, for ld_closest; words longer than
 * 64 characters are no typo of anything. */
size_t conf_edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 64 || lb > 64)
		return (size_t)-1;
	size_t row[65];
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = tolower((unsigned char)a[i - 1]) !=
				      tolower((unsigned char)b[j - 1]);
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}
