/*
 * conf_print: the effective configuration as an INI file that conf_load
 * reads back to the same values, secrets masked, each value followed by a
 * comment naming where it came from.
 *
 * Values are written in units the parsers read and nobody misreads
 * ("12months" in keep_*, "5min" for a duration), with "$" doubled so that
 * no ${} expansion happens on the way back, and in quotes when they would
 * otherwise lose leading or trailing blanks or start a comment.  A value that contains
 * " ;" or " #" cannot be written back, as no INI quoting protects it.
 * A secret is written as the mask, which reads back as that literal text;
 * secrets are strings in practice, and a secret of another type (a number)
 * would not read back.
 */
#include "conf/conf_internal.h"

#include <string.h>

#define SECRET_MASK CONF_SECRET_MASK
/* Beyond this, the origin comment goes on a line of its own, so no line
 * comes near libinih's limit because of the comment. */
#define INLINE_COMMENT_WIDTH 150

static bool needs_quotes(const char *v)
{
	size_t n = strlen(v);
	if (!n)
		return false;
	return v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t' ||
	       v[0] == '#' || v[0] == ';' || (n >= 2 && v[0] == '"' && v[n - 1] == '"');
}

static void print_value(FILE *out, const char *key, const char *value, const char *origin)
{
	bool q = needs_quotes(value);
	size_t width = strlen(key) + 3 + strlen(value) + 2 * q;
	for (const char *p = value; *p; p++)
		width += *p == '$';
	bool inline_comment = width + strlen(origin) + 8 <= INLINE_COMMENT_WIDTH;
	bool deflt = strcmp(origin, "default") == 0;

	if (!inline_comment)
		fprintf(out, "# %s%s\n", deflt ? "" : "from ", origin);
	fprintf(out, "%s = %s", key, q ? "\"" : "");
	for (const char *p = value; *p; p++) {
		if (*p == '$')
			fputc('$', out);
		fputc(*p, out);
	}
	fputs(q ? "\"" : "", out);
	if (inline_comment)
		fprintf(out, "  # %s%s", deflt ? "" : "from ", origin);
	fputc('\n', out);
}

static void print_remote(FILE *out, const struct conf_remote *r)
{
	static const struct {
		const char *key;
		unsigned type;
	} keeps[] = {
		{"keep_daily", BT_DAILY},
		{"keep_weekly", BT_WEEKLY},
		{"keep_monthly", BT_MONTHLY},
		{"keep_change", BT_CHANGE},
		{"keep_increments", CONF_KEEP_INCREMENTS},
	};
	char buf[1024];

	fprintf(out, "\n[remote \"%s\"]\n", r->name ? r->name : "");
	if (r->type)
		print_value(out, "type", r->type->type, r->type_origin ? r->type_origin : "default");
	for (size_t i = 0; i < sizeof(keeps) / sizeof(keeps[0]); i++) {
		const char *o = r->keep_origin[keeps[i].type];
		if (keeps[i].type == CONF_KEEP_INCREMENTS)
			conf_format_keep(&r->keep.increments, BT_CHANGE, buf, sizeof(buf));
		else
			conf_format_keep(&r->keep.keep[keeps[i].type], keeps[i].type, buf,
					 sizeof(buf));
		print_value(out, keeps[i].key, buf, o ? o : "default");
	}
	print_value(out, "encrypt", r->encrypt ? "true" : "false",
		    r->encrypt_origin ? r->encrypt_origin : "default");
	conf_format_duration(r->max_lag, buf, sizeof(buf));
	print_value(out, "max_lag", buf, r->max_lag_origin ? r->max_lag_origin : "[alert] max_lag");
	if (r->max_age > 0)
		conf_format_duration(r->max_age, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "off");
	print_value(out, "max_age", buf, r->max_age_origin ? r->max_age_origin : "default");
	for (size_t i = 0; i < r->n_kv; i++) {
		const struct conf_kv *kv = &r->kv[i];
		if (!kv->key || !kv->value)
			continue;
		if (kv->spec && kv->spec->secret)
			snprintf(buf, sizeof(buf), SECRET_MASK);
		else
			conf_value_format(kv->spec ? kv->spec->type : CONF_STRING, kv->value, buf,
					  sizeof(buf));
		print_value(out, kv->key, buf, kv->origin ? kv->origin : "default");
	}
}

void conf_print(const struct conf *c, FILE *out)
{
	char buf[1024];
	const char *section = NULL;

	fprintf(out, "# cbsync: the effective configuration");
	if (c->source)
		fprintf(out, " (config file: %s)", c->source);
	else
		fprintf(out, " (no config file)");
	fprintf(out, "\n# Secrets are shown as %s.\n", SECRET_MASK);
	for (size_t i = 0; i < conf_n_fixed_keys; i++) {
		const struct conf_fixed_key *k = &conf_fixed_keys[i];
		if (!section || strcmp(section, k->section) != 0) {
			section = k->section;
			fprintf(out, "\n[%s]\n", section);
		}
		conf_fixed_format(c, k, buf, sizeof(buf));
		print_value(out, k->key, buf,
			    c->origins && c->origins[i] ? c->origins[i] : "default");
	}
	for (size_t i = 0; i < c->n_remotes; i++)
		print_remote(out, &c->remotes[i]);
}
