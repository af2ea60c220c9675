/*
 * One S3 request on the instance's curl handle: build the URL (path-style
 * or virtual-hosted), sign it with SigV4 (sigv4.c) over the real SHA-256 of
 * the body, send it, and collect status, ETag and body -- or stream a
 * successful body into the caller's sink.
 *
 * Bodies we send are always in memory (a PUT is at most one part), so their
 * hash is known before the request starts and curl can rewind them (it does
 * when a kept-alive connection turns out to be dead).
 *
 * Failures are turned into one line and a result code here, so every
 * operation reports the same way:
 *   PUT name.db.gz: HTTP 403 SignatureDoesNotMatch: The request signature
 *   ...; HINT: check secret_access_key
 * The line carries the operation, the key (or bucket), the status, and S3's
 * Code and Message -- never a header, a signature or the secret.  A
 * transfer that never got an answer is worth retrying when the network may
 * be to blame, and gives up with a HINT when only a person can fix it: an
 * https:// endpoint that speaks plain HTTP ("wrong version number"), a
 * certificate that is not trusted, names another host or is out of date.
 *
 * A body that is not streamed to a sink is kept in memory, at most
 * S3_MAX_RESPONSE bytes of a 2xx answer (listings, upload ids) and
 * S3_MAX_ERROR_BODY of an error answer (S3's are a few hundred bytes); a
 * server that sends more is cut off rather than read to the end.
 */
#include "backends/s3/s3.h"

#include "common/cancel.h"
#include "common/hash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <version.h>

struct transfer {
	struct s3 *s3;
	struct s3_request *req;
	bool too_big;
	bool nomem;
};

char *s3_object_key(const struct s3 *s3, const char *key)
{
	struct buf b = {0};
	if (*s3->prefix) {
		buf_adds(&b, s3->prefix);
		buf_addc(&b, '/');
	}
	buf_adds(&b, key);
	return buf_take(&b);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	struct s3_request *req = t->req;
	size_t len = size * n;
	long status = 0;
	curl_easy_getinfo(t->s3->curl, CURLINFO_RESPONSE_CODE, &status);
	if (req->sink && status >= 200 && status < 300) {
		enum result r = req->sink(req->sink_ctx, data, len, req->sink_err);
		if (r) {
			req->sink_result = r;
			return 0;       /* stops the transfer: CURLE_WRITE_ERROR */
		}
		return len;
	}
	size_t max = status >= 200 && status < 300 ? S3_MAX_RESPONSE : S3_MAX_ERROR_BODY;
	if (len > max - req->response.len) {
		t->too_big = true;
		return 0;
	}
	buf_add(&req->response, data, len);
	if (req->response.oom) {
		t->nomem = true;
		return 0;
	}
	return len;
}

/* Case-insensitive "name:" at the start of a header line; the value after it. */
static const char *header_value(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	if (len <= n || strncasecmp(line, name, n) != 0 || line[n] != ':')
		return NULL;
	return line + n + 1;
}

/* Copy a header value without surrounding blanks, CR/LF or quotes. */
static void copy_value(const char *v, const char *end, char *out, size_t size)
{
	while (v < end && (*v == ' ' || *v == '\t' || *v == '"'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
			   end[-1] == '\t' || end[-1] == '"'))
		end--;
	size_t n = (size_t)(end - v);
	if (n >= size)
		n = size - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	struct s3_request *req = t->req;
	size_t len = size * n;
	const char *end = line + len;
	const char *v;
	char val[64];

	if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		/* A new response (after "100 Continue", say): forget the last. */
		req->etag[0] = '\0';
		req->etag_not_md5 = false;
	} else if ((v = header_value(line, len, "etag"))) {
		copy_value(v, end, req->etag, sizeof(req->etag));
	} else if ((v = header_value(line, len, "x-amz-server-side-encryption"))) {
		/* With SSE-KMS the ETag is not the MD5 of the data. */
		copy_value(v, end, val, sizeof(val));
		if (strncasecmp(val, "aws:kms", 7) == 0)
			req->etag_not_md5 = true;
	} else if (header_value(line, len, "x-amz-server-side-encryption-customer-algorithm")) {
		req->etag_not_md5 = true;       /* SSE-C: likewise */
	}
	return len;
}

static size_t on_read(char *out, size_t size, size_t n, void *ud)
{
	struct s3_request *req = ud;
	size_t want = size * n, left = req->body_len - req->sent;
	if (want > left)
		want = left;
	if (want)
		memcpy(out, (const char *)req->body + req->sent, want);
	req->sent += want;
	return want;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
	struct s3_request *req = ud;
	if (origin != SEEK_SET || offset < 0 || (size_t)offset > req->body_len)
		return CURL_SEEKFUNC_FAIL;
	req->sent = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct s3_request *req = ud;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	return !req->ignore_cancel && cancel_requested();
}

/* The request path, raw: [base]/bucket/object (path-style) or [base]/object. */
static char *request_path(const struct s3 *s3, const struct s3_request *req)
{
	struct buf b = {0};
	buf_adds(&b, s3->base_path);
	if (s3->path_style) {
		buf_addc(&b, '/');
		buf_adds(&b, s3->bucket);
	}
	if (req->object || !s3->path_style) {
		buf_addc(&b, '/');
		buf_adds(&b, req->object ? req->object : "");
	}
	return buf_take(&b);
}

/* Make the message safe for one log line: control characters become
 * single spaces, and a message too long for out ends in "...". */
static void clean_message(const char *in, char *out, size_t size)
{
	size_t o = 0;
	bool space = false;
	const unsigned char *p = (const unsigned char *)in;
	for (; *p && o + 5 < size; p++) {
		if (*p < ' ' || *p == 0x7f) {
			space = o > 0;
			continue;
		}
		if (space && *p != ' ')
			out[o++] = ' ';
		space = false;
		out[o++] = (char)*p;
	}
	if (*p) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

enum result s3_classify(long status, const char *code)
{
	static const char *const retry_codes[] = {
		"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable",
		"OperationAborted", "NoSuchUpload",
	};
	for (size_t i = 0; i < sizeof(retry_codes) / sizeof(*retry_codes); i++)
		if (strcmp(code, retry_codes[i]) == 0)
			return CB_ERR_RETRY;
	if (status >= 500 || status == 429 || status == 408)
		return CB_ERR_RETRY;
	return CB_ERR_REMOTE;
}

static const char *hint_for(long status, const char *code)
{
	static const struct {
		const char *code;
		const char *hint;
	} hints[] = {
		{"SignatureDoesNotMatch", "check secret_access_key"},
		{"InvalidAccessKeyId", "check access_key_id"},
		{"AccessDenied", "check that the credentials may use this bucket and prefix"},
		{"AllAccessDisabled", "check that the credentials may use this bucket and prefix"},
		{"NoSuchBucket", "check bucket (and endpoint)"},
		{"AuthorizationHeaderMalformed", "check region"},
		{"PermanentRedirect", "check region and endpoint"},
		{"TemporaryRedirect", "check region and endpoint"},
		{"IncorrectEndpoint", "check region and endpoint"},
		{"RequestTimeTooSkewed", "check the system clock (NTP)"},
		{"ExpiredToken", "renew session_token (or AWS_SESSION_TOKEN)"},
		{"InvalidToken", "check session_token (or AWS_SESSION_TOKEN)"},
		{"InvalidStorageClass", "check storage_class"},
		{"XAmzContentSHA256Mismatch", "the data changed on its way; check proxies in between"},
		{"BadDigest", "the data changed on its way; check proxies in between"},
	};
	for (size_t i = 0; i < sizeof(hints) / sizeof(*hints); i++)
		if (strcmp(code, hints[i].code) == 0)
			return hints[i].hint;
	if (!*code && (status == 301 || status == 307))
		return "check region and endpoint";
	if (!*code && status == 403)
		return "check access_key_id and secret_access_key";
	return NULL;
}

enum result s3_http_error(struct s3 *s3, struct s3_request *req, const char *message,
			  struct error *err)
{
	char msg[320];
	(void)s3;
	clean_message(message ? message : "", msg, sizeof(msg));
	enum result r = s3_classify(req->status, req->code);
	const char *hint = hint_for(req->status, req->code);
	return error_set(err, r, "%s %s: HTTP %ld%s%s%s%s%s%s", req->op, req->what, req->status,
			 *req->code ? " " : "", req->code, *msg ? ": " : "", msg,
			 hint ? "; HINT: " : "", hint ? hint : "");
}

enum result s3_bad_response(struct s3_request *req, struct error *err, const char *why)
{
	return error_set(err, CB_ERR_RETRY, "%s %s: HTTP %ld with %s", req->op, req->what,
			 req->status, why);
}

/* Does text hold any of the needles? */
static bool mentions(const char *text, const char *const *needles, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strstr(text, needles[i]))
			return true;
	return false;
}

enum result s3_curl_classify(CURLcode res, const char *detail, const char **hint)
{
	/* What OpenSSL (and GnuTLS) say when the other end answered the TLS
	 * handshake with something that is not TLS: a plain-HTTP server. */
	static const char *const not_tls[] = {
		"wrong version number", "packet length too long", "unknown protocol",
		"An unexpected TLS packet was received",
		"A TLS packet with unexpected length was received",
	};
	static const char *const other_name[] = {
		"subject name", "does not match target host", "no alternative certificate",
	};
	static const char *const out_of_date[] = {
		"certificate has expired", "certificate is not yet valid",
	};
	*hint = NULL;
	if (!detail)
		detail = "";
	switch (res) {
	case CURLE_SSL_CONNECT_ERROR:
		if (!mentions(detail, not_tls, sizeof(not_tls) / sizeof(*not_tls)))
			return CB_ERR_RETRY;   /* a handshake cut short may pass */
		*hint = "the endpoint does not speak TLS; use http:// for a plain-HTTP endpoint, "
			"or check the port";
		return CB_ERR_REMOTE;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ISSUER_ERROR:
		if (mentions(detail, other_name, sizeof(other_name) / sizeof(*other_name)))
			*hint = "the server's certificate is for another host name; write endpoint "
				"with a name the certificate holds";
		else if (mentions(detail, out_of_date, sizeof(out_of_date) / sizeof(*out_of_date)))
			*hint = "the server's certificate is out of date; renew it, or check the "
				"system clock (NTP)";
		else
			*hint = "the server's certificate is not trusted; for a private CA set "
				"ca_file";
		return CB_ERR_REMOTE;
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		*hint = "ca_file must be a readable PEM file of CA certificates";
		return CB_ERR_REMOTE;
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_LOGIN_DENIED:
		return CB_ERR_REMOTE;
	default:
		/* Connection refused or reset, DNS, timeouts, cut transfers: the
		 * network or the server may well be back later. */
		return CB_ERR_RETRY;
	}
}

static enum result curl_failure(struct s3 *s3, struct s3_request *req, CURLcode res,
				struct error *err)
{
	const char *detail = s3->curl_error[0] ? s3->curl_error : curl_easy_strerror(res);
	const char *hint;
	switch (res) {
	case CURLE_ABORTED_BY_CALLBACK:
		return error_set(err, CB_ERR_INTERRUPTED, "%s %s: interrupted", req->op, req->what);
	case CURLE_OUT_OF_MEMORY:
		return error_nomem(err);
	default:
		break;
	}
	enum result r = s3_curl_classify(res, detail, &hint);
	return error_set(err, r, "%s %s: %s%s%s", req->op, req->what, detail,
			 hint ? "; HINT: " : "", hint ? hint : "");
}

/* The headers, signed: host, x-amz-date, x-amz-content-sha256, and the
 * optional ones this request carries.  Returns the curl list to send. */
static struct curl_slist *signed_headers(struct s3 *s3, struct s3_request *req,
					 const char *path, bool *ok)
{
	char date[SIGV4_DATE_LEN + 1], hash[SHA256_HEX_LEN + 1];
	uint8_t digest[SHA256_LEN];
	struct sigv4_header h[6];
	size_t n = 0;
	struct curl_slist *list = NULL;
	struct buf line = {0};
	char *auth;

	*ok = false;
	sigv4_format_date(time(NULL), date);
	sha256_buf(req->body_len ? req->body : "", req->body_len, digest);
	hex_encode(digest, SHA256_LEN, hash);
	h[n++] = (struct sigv4_header){"host", s3->host};
	h[n++] = (struct sigv4_header){"x-amz-content-sha256", hash};
	h[n++] = (struct sigv4_header){"x-amz-date", date};
	if (s3->session_token)
		h[n++] = (struct sigv4_header){"x-amz-security-token", s3->session_token};
	if (req->content_md5)
		h[n++] = (struct sigv4_header){"content-md5", req->content_md5};
	if (req->storage_class && s3->storage_class)
		h[n++] = (struct sigv4_header){"x-amz-storage-class", s3->storage_class};

	struct sigv4_request sr = {
		.method = req->method,
		.path = path,
		.query = req->query,
		.n_query = req->n_query,
		.headers = h,
		.n_headers = n,
		.payload_sha256 = hash,
	};
	struct sigv4_credentials cred = {
		.access_key_id = s3->access_key_id,
		.secret_access_key = s3->secret_access_key,
		.region = s3->region,
		.service = "s3",
	};
	if (!(auth = sigv4_authorization(&sr, &cred, date)))
		return NULL;
	for (size_t i = 0; i < n; i++) {
		buf_addf(&line, "%s: %s", h[i].name, h[i].value);
		struct curl_slist *nl = line.oom ? NULL : curl_slist_append(list, line.data);
		buf_free(&line);
		if (!nl)
			goto fail;
		list = nl;
	}
	buf_addf(&line, "Authorization: %s", auth);
	struct curl_slist *nl = line.oom ? NULL : curl_slist_append(list, line.data);
	buf_free(&line);
	if (!nl)
		goto fail;
	list = nl;
	free(auth);
	*ok = true;
	return list;
fail:
	free(auth);
	curl_slist_free_all(list);
	return NULL;
}

static void set_options(struct s3 *s3, struct s3_request *req, struct transfer *t,
			const char *url, struct curl_slist *headers)
{
	CURL *c = s3->curl;
	curl_easy_reset(c);
	s3->curl_error[0] = '\0';
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s3->curl_error);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "cbsync/" CBSYNC_VERSION);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, s3->connect_timeout_ms);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, s3->stall_timeout_s);
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	if (s3->ca_file)
		curl_easy_setopt(c, CURLOPT_CAINFO, s3->ca_file);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, req);
	if (strcmp(req->method, "PUT") == 0 || strcmp(req->method, "POST") == 0) {
		/* Upload mode sends the body with a Content-Length (also 0); the
		 * method string then turns it into a POST where needed. */
		curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c, CURLOPT_READDATA, req);
		curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c, CURLOPT_SEEKDATA, req);
		curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
		if (strcmp(req->method, "POST") == 0)
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
	} else if (strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
	}
}

enum result s3_perform(struct s3 *s3, struct s3_request *req, struct error *err)
{
	struct transfer t = {.s3 = s3, .req = req};
	struct curl_slist *headers = NULL;
	char *path = NULL, *query = NULL, *url = NULL;
	struct buf u = {0};
	bool ok = false;
	enum result r;

	req->status = 0;
	req->code[0] = '\0';
	req->etag[0] = '\0';
	req->etag_not_md5 = false;
	req->sent = 0;
	req->sink_result = CB_OK;
	req->sink_err = err;
	buf_free(&req->response);
	if (!req->ignore_cancel && cancel_requested())
		return error_set(err, CB_ERR_INTERRUPTED, "%s %s: interrupted", req->op, req->what);

	path = request_path(s3, req);
	query = path ? sigv4_canonical_query(req->query, req->n_query) : NULL;
	if (query) {
		buf_addf(&u, "%s://%s", s3->scheme, s3->host);
		buf_add_uri_encoded(&u, path, true);
		if (*query)
			buf_addf(&u, "?%s", query);
		url = buf_take(&u);
	}
	if (url)
		headers = signed_headers(s3, req, path, &ok);
	if (!ok) {
		r = error_nomem(err);
		goto done;
	}
	set_options(s3, req, &t, url, headers);
	CURLcode res = curl_easy_perform(s3->curl);
	curl_easy_getinfo(s3->curl, CURLINFO_RESPONSE_CODE, &req->status);

	curl_off_t up = 0, down = 0;
	curl_easy_getinfo(s3->curl, CURLINFO_SIZE_UPLOAD_T, &up);
	curl_easy_getinfo(s3->curl, CURLINFO_SIZE_DOWNLOAD_T, &down);
	s3->stats.requests++;
	s3->stats.bytes_up += (uint64_t)(up > 0 ? up : 0);
	s3->stats.bytes_down += (uint64_t)(down > 0 ? down : 0);

	if (res == CURLE_WRITE_ERROR && req->sink_result) {
		r = req->sink_result;   /* the sink said why in err */
	} else if (res == CURLE_WRITE_ERROR && t.nomem) {
		r = error_nomem(err);
	} else if (res == CURLE_WRITE_ERROR && t.too_big && req->status >= 200 &&
		   req->status < 300) {
		r = error_set(err, CB_ERR_REMOTE, "%s %s: HTTP %ld with an answer larger than %u MiB "
			      "(refused)", req->op, req->what, req->status, S3_MAX_RESPONSE >> 20);
	} else if (res == CURLE_WRITE_ERROR && t.too_big) {
		/* What the status says, without the body. */
		char message[80];
		snprintf(message, sizeof(message), "an error answer larger than %u KiB (not read)",
			 S3_MAX_ERROR_BODY >> 10);
		r = s3_http_error(s3, req, message, err);
	} else if (res != CURLE_OK) {
		r = curl_failure(s3, req, res, err);
	} else if (req->status >= 200 && req->status < 300) {
		r = CB_OK;
	} else {
		char message[512] = "";
		s3_xml_error(req->response.data, req->response.len, req->code, sizeof(req->code),
			     message, sizeof(message));
		r = s3_http_error(s3, req, message, err);
	}
done:
	curl_slist_free_all(headers);
	free(path);
	free(query);
	free(url);
	return r;
}

void s3_request_done(struct s3_request *req)
{
	buf_free(&req->response);
}
