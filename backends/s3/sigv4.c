/*
 * The SigV4 signer of sigv4.h.
 *
 * Headers are canonicalised by copying each (lower-cased name, value with
 * leading and trailing blanks removed and inner runs of blanks squeezed to
 * one space) into an array, sorting it by name, and joining values of
 * repeated names with ",".  Query parameters are encoded first and sorted as
 * encoded strings, which is the order AWS compares them in.
 */
#include "backends/s3/sigv4.h"

#include "backends/s3/s3_encode.h"
#include "common/hash.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sigv4_format_date(time_t t, char out[SIGV4_DATE_LEN + 1])
{
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(out, SIGV4_DATE_LEN + 1, "%Y%m%dT%H%M%SZ", &tm);
}

char *sigv4_uri_encode(const char *s, bool keep_slash)
{
	struct buf b = {0};
	buf_add_uri_encoded(&b, s, keep_slash);
	return buf_take(&b);
}

struct enc_param {
	char *name;
	char *value;
};

static int cmp_param(const void *a, const void *b)
{
	const struct enc_param *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : strcmp(x->value, y->value);
}

char *sigv4_canonical_query(const struct sigv4_param *query, size_t n)
{
	struct enc_param *p = n ? calloc(n, sizeof(*p)) : NULL;
	struct buf b = {0};
	bool ok = !n || p;
	for (size_t i = 0; ok && i < n; i++) {
		p[i].name = sigv4_uri_encode(query[i].name, false);
		p[i].value = sigv4_uri_encode(query[i].value ? query[i].value : "", false);
		ok = p[i].name && p[i].value;
	}
	if (ok) {
		if (n)
			qsort(p, n, sizeof(*p), cmp_param);
		for (size_t i = 0; i < n; i++) {
			if (i)
				buf_addc(&b, '&');
			buf_adds(&b, p[i].name);
			buf_addc(&b, '=');
			buf_adds(&b, p[i].value);
		}
	}
	for (size_t i = 0; p && i < n; i++) {
		free(p[i].name);
		free(p[i].value);
	}
	free(p);
	if (!ok) {
		buf_free(&b);
		return NULL;
	}
	return buf_take(&b);
}

struct canon_header {
	char *name;
	char *value;
	size_t order;   /* position in the request, to keep repeated names stable */
};

static int cmp_header(const void *a, const void *b)
{
	const struct canon_header *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static char *lower_dup(const char *s)
{
	char *d = strdup(s);
	for (char *p = d; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

/* The value trimmed, with inner runs of spaces and tabs squeezed to one space. */
static char *trim_dup(const char *s)
{
	struct buf b = {0};
	while (*s == ' ' || *s == '\t')
		s++;
	bool gap = false;
	for (; *s; s++) {
		if (*s == ' ' || *s == '\t') {
			gap = true;
			continue;
		}
		if (gap)
			buf_addc(&b, ' ');
		gap = false;
		buf_addc(&b, *s);
	}
	return buf_take(&b);
}

char *sigv4_canonical_request(const struct sigv4_request *req, char **signed_headers)
{
	struct canon_header *h = req->n_headers ? calloc(req->n_headers, sizeof(*h)) : NULL;
	struct buf b = {0}, sh = {0};
	char *query = NULL;
	bool ok = !req->n_headers || h;

	for (size_t i = 0; ok && i < req->n_headers; i++) {
		h[i].name = lower_dup(req->headers[i].name);
		h[i].value = trim_dup(req->headers[i].value ? req->headers[i].value : "");
		h[i].order = i;
		ok = h[i].name && h[i].value;
	}
	if (ok)
		ok = (query = sigv4_canonical_query(req->query, req->n_query)) != NULL;
	if (ok) {
		if (req->n_headers)
			qsort(h, req->n_headers, sizeof(*h), cmp_header);
		buf_adds(&b, req->method);
		buf_addc(&b, '\n');
		buf_add_uri_encoded(&b, req->path && *req->path ? req->path : "/", true);
		buf_addc(&b, '\n');
		buf_adds(&b, query);
		buf_addc(&b, '\n');
		for (size_t i = 0; i < req->n_headers; i++) {
			bool repeat = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
			if (repeat) {
				buf_addc(&b, ',');
			} else {
				if (i) {
					buf_addc(&b, '\n');
					buf_addc(&sh, ';');
				}
				buf_adds(&b, h[i].name);
				buf_addc(&b, ':');
				buf_adds(&sh, h[i].name);
			}
			buf_adds(&b, h[i].value);
		}
		if (req->n_headers)
			buf_addc(&b, '\n');
		buf_addc(&b, '\n');
		buf_adds(&b, sh.data ? sh.data : "");
		buf_addc(&b, '\n');
		buf_adds(&b, req->payload_sha256);
	}
	for (size_t i = 0; h && i < req->n_headers; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
	free(query);
	char *out = ok ? buf_take(&b) : NULL;
	char *list = ok ? buf_take(&sh) : NULL;
	buf_free(&b);
	buf_free(&sh);
	if (!out || !list) {
		free(out);
		free(list);
		return NULL;
	}
	if (signed_headers)
		*signed_headers = list;
	else
		free(list);
	return out;
}

static void sha256_hex(const char *s, char out[SIGV4_HEX_LEN + 1])
{
	uint8_t d[SHA256_LEN];
	sha256_buf(s, strlen(s), d);
	hex_encode(d, SHA256_LEN, out);
}

char *sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
			   const char *canonical_request)
{
	char hash[SIGV4_HEX_LEN + 1];
	struct buf b = {0};
	sha256_hex(canonical_request, hash);
	buf_addf(&b, "AWS4-HMAC-SHA256\n%s\n%.8s/%s/%s/aws4_request\n%s", amz_date, amz_date,
		 region, service, hash);
	return buf_take(&b);
}

static bool hmac(const void *key, size_t key_len, const char *msg, uint8_t out[SHA256_LEN])
{
	unsigned int n = 0;
	return HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, strlen(msg), out,
		    &n) != NULL &&
	       n == SHA256_LEN;
}

bool sigv4_signature(const struct sigv4_credentials *cred, const char *amz_date,
		     const char *string_to_sign, char out[SIGV4_HEX_LEN + 1])
{
	uint8_t k1[SHA256_LEN], k2[SHA256_LEN], sig[SHA256_LEN];
	char date[9];
	struct buf seed = {0};
	bool ok;

	snprintf(date, sizeof(date), "%.8s", amz_date);
	buf_adds(&seed, "AWS4");
	buf_adds(&seed, cred->secret_access_key);
	ok = !seed.oom && hmac(seed.data, seed.len, date, k1) &&
	     hmac(k1, sizeof(k1), cred->region, k2) && hmac(k2, sizeof(k2), cred->service, k1) &&
	     hmac(k1, sizeof(k1), "aws4_request", k2) && hmac(k2, sizeof(k2), string_to_sign, sig);
	if (seed.data)
		OPENSSL_cleanse(seed.data, seed.len);
	buf_free(&seed);
	OPENSSL_cleanse(k1, sizeof(k1));
	OPENSSL_cleanse(k2, sizeof(k2));
	if (ok)
		hex_encode(sig, SHA256_LEN, out);
	return ok;
}

char *sigv4_authorization(const struct sigv4_request *req, const struct sigv4_credentials *cred,
			  const char *amz_date)
{
	char *signed_headers = NULL, *sts = NULL;
	char sig[SIGV4_HEX_LEN + 1];
	struct buf b = {0};
	char *canonical = sigv4_canonical_request(req, &signed_headers);
	if (canonical)
		sts = sigv4_string_to_sign(amz_date, cred->region, cred->service, canonical);
	if (sts && sigv4_signature(cred, amz_date, sts, sig)) {
		buf_addf(&b,
			 "AWS4-HMAC-SHA256 Credential=%s/%.8s/%s/%s/aws4_request,SignedHeaders=%s,"
			 "Signature=%s",
			 cred->access_key_id, amz_date, cred->region, cred->service, signed_headers,
			 sig);
	} else {
		b.oom = true;
	}
	free(canonical);
	free(signed_headers);
	free(sts);
	return buf_take(&b);
}
