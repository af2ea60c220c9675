/*
 * The S3 backend (type = s3): objects in a bucket of Amazon S3 or of any
 * service that speaks its API (MinIO, Ceph RGW, Backblaze B2, Cloudflare R2,
 * OpenStack Swift's s3api, ...).
 *
 * Objects live at PREFIX/<key> (or <key> without a prefix).  Every request
 * is signed with AWS Signature Version 4 by our own signer, over the real
 * SHA-256 of its body (services that insist on signed payloads accept it;
 * an access key may contain ":", as Swift's "account:user" keys do).  One
 * curl easy handle per instance carries every request, so connections are
 * kept alive between them; instances never share handles.
 *
 * This file: the config map, which the configuration reads into a struct
 * s3_settings; open and close; the ops table; and the set-up of
 * libcurl and libxml2.  s3.h says which file holds each operation.
 *
 * Opening turns the typed settings into an instance.  What they leave open
 * comes from the environment as the AWS tools have it (the region, and the
 * credentials as a set); what cannot work is refused with CB_ERR_CONFIG and
 * a line that says why: a bucket or region name S3 would not take, an
 * endpoint that is not an http(s) URL or holds credentials, an IP endpoint
 * without path_style, a prefix that is not a key, missing credentials, a
 * part_size or timeout out of range (the config map's ranges), an
 * unreadable ca_file.
 */
#include "backends/s3/s3.h"

#include <ctype.h>
#include <float.h>
#include <libxml/parser.h>
#include <math.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A remote's [remote] settings, typed: the configuration fills them from
 * the config map below (conf/conf.h, struct conf_key_spec). */
struct s3_settings {
	char *bucket;
	char *endpoint;         /* NULL: AWS's for the region */
	char *region;           /* NULL or "": from the environment */
	char *prefix;
	bool path_style;
	char *access_key_id;    /* with the secret key NULL or "": from the environment */
	char *secret_access_key;
	char *session_token;
	char *storage_class;
	uint64_t part_size;     /* S3_MIN_PART .. S3_MAX_PART, checked at open */
	char *ca_file;
	double connect_timeout; /* seconds, above 0, checked at open */
	double timeout;
};

/* Timeouts are whole nanoseconds, so "above 0" is "at least 1ns". */
#define TIMEOUT_MIN 1e-9
#define TIMEOUT_OUT_OF_RANGE "connect_timeout and timeout must be above 0"

#define KEY(t, field) CONF_MAP(t, struct s3_settings, field)
static const struct conf_key_spec s3_keys[] = {
	{.key = "bucket", KEY(STRING, bucket), .required = true, .description = "the bucket"},
	{.key = "endpoint", KEY(URL, endpoint),
	 .description = "the service's URL (default: https://s3.<region>.amazonaws.com)"},
	{.key = "region", KEY(STRING, region),
	 .description = "the region requests are signed for (default: $AWS_REGION, else "
			"$AWS_DEFAULT_REGION, else us-east-1)"},
	{.key = "prefix", KEY(STRING, prefix),
	 .description = "a key prefix inside the bucket: objects are stored as PREFIX/<name> "
			"(default: none)"},
	{.key = "path_style", KEY(BOOL, path_style), .default_value = "false",
	 .description = "path-style URLs (endpoint/bucket/key) instead of virtual-hosted ones "
			"(bucket.endpoint/key), for MinIO, Ceph, Swift and the like"},
	{.key = "access_key_id", KEY(STRING, access_key_id),
	 .description = "the access key (default: $AWS_ACCESS_KEY_ID)"},
	{.key = "secret_access_key", KEY(STRING, secret_access_key), .secret = true,
	 .description = "the secret key (default: $AWS_SECRET_ACCESS_KEY); best given as "
			"secret_access_key_file"},
	{.key = "session_token", KEY(STRING, session_token), .secret = true,
	 .description = "the session token of temporary credentials (default: $AWS_SESSION_TOKEN "
			"when the keys come from the environment too)"},
	{.key = "storage_class", KEY(STRING, storage_class),
	 .description = "the storage class of uploaded objects, e.g. STANDARD_IA (default: the "
			"bucket's)"},
	{.key = "part_size", KEY(SIZE, part_size), .default_value = "16M",
	 .min = S3_MIN_PART, .max = S3_MAX_PART,
	 .out_of_range = "part_size must be between 5M and 5G (S3's limits for a part)",
	 .description = "larger objects go up as a multipart upload in parts of this size (at "
			"least 5M; grown for an object that would need more than 10 000 parts)"},
	{.key = "ca_file", KEY(PATH, ca_file),
	 .description = "PEM file of the CA certificates to trust, for a private CA (TLS is "
			"always verified)"},
	{.key = "connect_timeout", KEY(DURATION, connect_timeout), .default_value = "10s",
	 .min = TIMEOUT_MIN, .max = DBL_MAX, .out_of_range = TIMEOUT_OUT_OF_RANGE,
	 .description = "how long connecting (and the TLS handshake) may take"},
	{.key = "timeout", KEY(DURATION, timeout), .default_value = "60s",
	 .min = TIMEOUT_MIN, .max = DBL_MAX, .out_of_range = TIMEOUT_OUT_OF_RANGE,
	 .description = "how long a request may move no data before it fails (and is retried "
			"later)"},
};

static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static void s3_close(void *ctx)
{
	struct s3 *s3 = ctx;
	if (!s3)
		return;
	if (s3->curl)
		curl_easy_cleanup(s3->curl);
	free(s3->scheme);
	free(s3->host);
	free(s3->base_path);
	free(s3->bucket);
	free(s3->prefix);
	free(s3->region);
	free(s3->access_key_id);
	free_secret(s3->secret_access_key);
	free_secret(s3->session_token);
	free(s3->storage_class);
	free(s3->ca_file);
	free(s3);
}

/* value if it is set, else the environment variable env's (NULL: neither). */
static const char *or_env(const char *value, const char *env)
{
	if (value && *value)
		return value;
	value = getenv(env);
	return value && *value ? value : NULL;
}

static bool dup_or_null(char **field, const char *value)
{
	*field = value ? strdup(value) : NULL;
	return !value || *field;
}

/* Bucket names as S3 has them (3-63 of a-z 0-9 . -), loosened to allow the
 * upper case and "_" that older buckets and other services have. */
static bool bucket_valid(const char *b, bool path_style)
{
	size_t n = strlen(b);
	if (n < 3 || n > 255)
		return false;
	for (const char *p = b; *p; p++) {
		bool dns = (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
			   *p == '.';
		bool loose = (*p >= 'A' && *p <= 'Z') || *p == '_';
		if (!dns && !(loose && path_style))
			return false;
	}
	return true;
}

static bool region_valid(const char *r)
{
	if (!*r || strlen(r) > 64)
		return false;
	for (const char *p = r; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
	return true;
}

/* A literal IPv4 or IPv6 address (no bucket subdomain possible). */
static bool is_ip_literal(const char *host)
{
	if (host[0] == '[')
		return true;
	for (const char *p = host; *p; p++)
		if (!isdigit((unsigned char)*p) && *p != '.')
			return false;
	return true;
}

/* Scheme, Host header and base path from the endpoint URL. */
static enum result parse_endpoint(struct s3 *s3, const char *endpoint, struct error *err)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *user = NULL, *pass = NULL,
	     *query = NULL, *frag = NULL;
	enum result r = CB_OK;
	struct buf h = {0};

	if (!u)
		return error_nomem(err);
	if (curl_url_set(u, CURLUPART_URL, endpoint, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
		r = error_set(err, CB_ERR_CONFIG, "endpoint \"%s\" is not a URL", endpoint);
		goto done;
	}
	curl_url_get(u, CURLUPART_PORT, &port, 0);
	curl_url_get(u, CURLUPART_PATH, &path, 0);
	curl_url_get(u, CURLUPART_USER, &user, 0);
	curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	curl_url_get(u, CURLUPART_FRAGMENT, &frag, 0);
	if (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) {
		r = error_set(err, CB_ERR_CONFIG, "endpoint \"%s\": only http:// and https:// work",
			      endpoint);
	} else if (user || pass) {
		/* Do not repeat the URL: it holds a credential. */
		r = error_set(err, CB_ERR_CONFIG,
			      "endpoint: credentials do not belong in the URL; HINT: use "
			      "access_key_id and secret_access_key");
	} else if (query || frag) {
		r = error_set(err, CB_ERR_CONFIG, "endpoint \"%s\": no query or fragment, please",
			      endpoint);
	} else if (!s3->path_style && is_ip_literal(host)) {
		r = error_set(err, CB_ERR_CONFIG,
			      "endpoint \"%s\" is an IP address, which cannot carry the bucket as "
			      "a subdomain; HINT: set path_style = true",
			      endpoint);
	}
	if (r)
		goto done;
	if (!s3->path_style) {
		buf_adds(&h, s3->bucket);
		buf_addc(&h, '.');
	}
	buf_adds(&h, host);
	if (port)
		buf_addf(&h, ":%s", port);
	size_t plen = path ? strlen(path) : 0;
	while (plen > 0 && path[plen - 1] == '/')
		plen--;
	if (!(s3->scheme = strdup(scheme)) || !(s3->host = buf_take(&h)) ||
	    !(s3->base_path = strndup(path ? path : "", plen)))
		r = error_nomem(err);
done:
	buf_free(&h);
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(user);
	curl_free(pass);
	curl_free(query);
	curl_free(frag);
	curl_url_cleanup(u);
	return r;
}

/* The root prefix without surrounding slashes; it must be a valid key. */
static enum result set_prefix(struct s3 *s3, const char *prefix, struct error *err)
{
	const char *p = prefix ? prefix : "";
	while (*p == '/')
		p++;
	size_t n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	if (!(s3->prefix = strndup(p, n)))
		return error_nomem(err);
	if (*s3->prefix && !backend_key_valid(s3->prefix))
		return error_set(err, CB_ERR_CONFIG,
				 "prefix \"%s\" may use only A-Z a-z 0-9 . _ - and / between "
				 "non-empty parts",
				 prefix);
	return CB_OK;
}

static enum result set_credentials(struct s3 *s3, const struct s3_settings *set,
				   struct error *err)
{
	const char *id = set->access_key_id;
	const char *secret = set->secret_access_key;
	const char *token = set->session_token;
	bool from_env = !(id && *id) && !(secret && *secret);
	if (from_env) {
		/* Keys and token come as a set: a session token from the
		 * environment never pairs with configured keys. */
		id = getenv("AWS_ACCESS_KEY_ID");
		secret = getenv("AWS_SECRET_ACCESS_KEY");
		if (!(token && *token))
			token = getenv("AWS_SESSION_TOKEN");
	}
	if (!(id && *id) && !(secret && *secret))
		return error_set(err, CB_ERR_CONFIG,
				 "no S3 credentials; HINT: set access_key_id and "
				 "secret_access_key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
				 "in the environment)");
	if (!(id && *id))
		return error_set(err, CB_ERR_CONFIG,
				 "secret_access_key is set but access_key_id is not%s",
				 from_env ? " (AWS_ACCESS_KEY_ID)" : "");
	if (!(secret && *secret))
		return error_set(err, CB_ERR_CONFIG,
				 "access_key_id is set but secret_access_key is not%s",
				 from_env ? " (AWS_SECRET_ACCESS_KEY)" : "");
	if (!dup_or_null(&s3->access_key_id, id) || !dup_or_null(&s3->secret_access_key, secret) ||
	    !dup_or_null(&s3->session_token, token && *token ? token : NULL))
		return error_nomem(err);
	return CB_OK;
}

/* part_size and the timeouts, once they are known to be in range; the
 * timeouts in the units libcurl takes, at most a day. */
static enum result set_numbers(struct s3 *s3, const struct conf_remote *remote,
			       struct error *err)
{
	const struct s3_settings *set = remote->settings;
	enum result r = conf_remote_check_ranges(remote, err);
	if (r)
		return r;
	double c = set->connect_timeout, t = set->timeout;
	s3->part_size = set->part_size;
	s3->connect_timeout_ms = c > 86400 ? 86400000L : (long)ceil(c * 1000);
	s3->stall_timeout_s = t > 86400 ? 86400L : (long)ceil(t);
	return CB_OK;
}

static enum result s3_open(const struct conf_remote *remote, void **ctx, struct error *err)
{
	const struct s3_settings *set = remote->settings;
	struct s3 *s3 = calloc(1, sizeof(*s3));
	struct buf ep = {0};
	enum result r = CB_OK;
	if (!s3)
		return error_nomem(err);

	const char *bucket = set->bucket;
	const char *region = or_env(set->region, "AWS_REGION");
	if (!region)
		region = getenv("AWS_DEFAULT_REGION");
	if (!region || !*region)
		region = "us-east-1";
	const char *endpoint = set->endpoint;
	const char *storage_class = set->storage_class;
	const char *ca_file = set->ca_file;

	s3->path_style = set->path_style;
	if (!dup_or_null(&s3->bucket, bucket ? bucket : "") || !dup_or_null(&s3->region, region) ||
	    !dup_or_null(&s3->storage_class, storage_class && *storage_class ? storage_class : NULL) ||
	    !dup_or_null(&s3->ca_file, ca_file)) {
		r = error_nomem(err);
		goto fail;
	}
	if (!bucket_valid(s3->bucket, s3->path_style)) {
		r = error_set(err, CB_ERR_CONFIG,
			      "bucket \"%s\" is not a bucket name (3-63 of a-z 0-9 . -)%s", s3->bucket,
			      s3->path_style ? "" : "; HINT: older names with capitals or \"_\" "
						    "need path_style = true");
		goto fail;
	}
	if (!region_valid(region)) {
		r = error_set(err, CB_ERR_CONFIG, "region \"%s\" is not a region name (e.g. eu-west-1)",
			      region);
		goto fail;
	}
	if (!endpoint || !*endpoint) {
		buf_addf(&ep, "https://s3.%s.amazonaws.com", region);
		endpoint = ep.data;
		if (ep.oom) {
			r = error_nomem(err);
			goto fail;
		}
	}
	if ((r = parse_endpoint(s3, endpoint, err)) ||
	    (r = set_prefix(s3, set->prefix, err)) ||
	    (r = set_credentials(s3, set, err)) || (r = set_numbers(s3, remote, err)))
		goto fail;
	if (s3->ca_file && access(s3->ca_file, R_OK) != 0) {
		r = error_set(err, CB_ERR_CONFIG, "ca_file '%s' cannot be read", s3->ca_file);
		goto fail;
	}
	if (!(s3->curl = curl_easy_init())) {
		r = error_set(err, CB_ERR_NOMEM, "cannot create a curl handle");
		goto fail;
	}
	buf_free(&ep);
	*ctx = s3;
	return CB_OK;
fail:
	buf_free(&ep);
	s3_close(s3);
	return r;
}

static void s3_stats(void *ctx, struct backend_stats *out)
{
	struct s3 *s3 = ctx;
	backend_stats_add(out, &s3->stats);
}

/* libcurl for the requests and libxml2 for the answers, once per process
 * (backend.h); libcurl counts its set-ups, so SFTP's does not clash. */
static enum result s3_init(struct error *err)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK)
		return error_set(err, CB_ERR_INTERNAL, "cannot set up libcurl: %s",
				 curl_easy_strerror(rc));
	xmlInitParser();
	return CB_OK;
}

static void s3_cleanup(void)
{
	xmlCleanupParser();
	curl_global_cleanup();
}

const struct backend_ops backend_s3 = {
	.type = "s3",
	.description = "an S3 bucket (AWS, or any service with its API), signed with SigV4",
	.keys = s3_keys,
	.n_keys = sizeof(s3_keys) / sizeof(*s3_keys),
	.settings_size = sizeof(struct s3_settings),
	.features = BACKEND_VERIFIES_SHA256 | BACKEND_VERIFIES_MD5 | BACKEND_MULTIPART |
		    BACKEND_STALE_UPLOADS,
	.open = s3_open,
	.close = s3_close,
	.list = s3_list,
	.put_begin = s3_put_begin,
	.put_write = s3_put_write,
	.put_commit = s3_put_commit,
	.put_abort = s3_put_abort,
	.get = s3_get,
	.get_head = s3_get_head,
	.remove = s3_remove,
	.remove_stale = s3_remove_stale,
	.abort_upload = s3_abort_put,
	.stats = s3_stats,
	.init = s3_init,
	.cleanup = s3_cleanup,
};
