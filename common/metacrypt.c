/*
 * The "encryption" member of metadata (see metacrypt.h).
 */
#include "common/metacrypt.h"
#include "common/jsondoc.h"

#include <stdio.h>
#include <string.h>

static bool is_fpr(const char *s)
{
	if (strlen(s) != METACRYPT_FPR_LEN)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

char *metacrypt_add(const char *text, size_t len, const struct meta_crypt *c)
{
	json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	json_t *fprs = json_array(), *e = NULL;
	if (!o || !json_is_object(o) || !fprs)
		goto fail;
	for (size_t i = 0; i < c->n_recipients; i++)
		if (json_array_append_new(fprs, json_string(c->recipients[i])))
			goto fail;
	e = json_pack("{s:s, s:O, s:s, s:I}", "format", "age", "recipients", fprs,
		      "object_sha256", c->object_sha256, "object_size",
		      (json_int_t)c->object_size);
	if (!e || json_object_set_new(o, "encryption", e))
		goto fail;
	json_decref(fprs);
	return jsondoc_text(o);
fail:
	json_decref(fprs);
	json_decref(o);
	return NULL;
}

enum result metacrypt_read(json_t *o, const char *what, struct meta_crypt *out,
			   struct error *err)
{
	memset(out, 0, sizeof(*out));
	json_t *e = json_object_get(o, "encryption");
	if (!e)
		return CB_OK;
	char format[16];
	enum result r;
	if (!json_is_object(e))
		return jsondoc_bad(err, what, "encryption", "is not an object");
	if ((r = jsondoc_str(e, what, "format", format, sizeof(format), err)) ||
	    (r = jsondoc_str(e, what, "object_sha256", out->object_sha256,
			     sizeof(out->object_sha256), err)) ||
	    (r = jsondoc_int(e, what, "object_size", 1, &out->object_size, err)))
		return r;
	if (strcmp(format, "age") != 0)
		return jsondoc_bad(err, what, "encryption", "is in a format other than age");
	if (!sha256_hex_valid(out->object_sha256))
		return jsondoc_bad(err, what, "object_sha256", "is not a SHA-256 digest");
	json_t *fprs = json_object_get(e, "recipients");
	if (!json_is_array(fprs) || json_array_size(fprs) > METACRYPT_MAX_RECIPIENTS)
		return jsondoc_bad(err, what, "recipients", "is not a list of fingerprints");
	for (size_t i = 0; i < json_array_size(fprs); i++) {
		const char *s = json_string_value(json_array_get(fprs, i));
		if (!s || !is_fpr(s))
			return jsondoc_bad(err, what, "recipients", "holds something not a fingerprint");
		memcpy(out->recipients[out->n_recipients++], s, METACRYPT_FPR_LEN + 1);
	}
	out->encrypted = true;
	return CB_OK;
}

void metacrypt_recipients_text(const struct meta_crypt *c, char *buf, size_t size)
{
	size_t len = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < c->n_recipients && len < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "",
					c->recipients[i]);
	if (c->n_recipients == 0)
		snprintf(buf, size, "(none recorded)");
}

bool metacrypt_is_sealed(const char *name)
{
	size_t len = strlen(name), slen = strlen(METACRYPT_SUFFIX);
	return len > slen && strcmp(name + len - slen, METACRYPT_SUFFIX) == 0;
}

void metacrypt_plain_name(const char *name, char *out, size_t size)
{
	size_t len = strlen(name);
	if (metacrypt_is_sealed(name))
		len -= strlen(METACRYPT_SUFFIX);
	snprintf(out, size, "%.*s", (int)len, name);
}
