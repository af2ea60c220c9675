/*
 * One S3 request on the instance's curl handle: build the URL (path-style
 * or virtual-hosted), sign it with SigV4 (sigv4.c) over the real SHA-256 of
 * the body, send it, and collect status, ETag and body -- or stream a
 * successful body into the caller's sink.  A request that fails becomes one
 * error line and a result code in s3_fail.c.
 *
 * Bodies we send are always in memory (a PUT is at most one part), so their
 * hash is known before the request starts and curl can rewind them (it does
 * when a kept-alive connection turns out to be dead).
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

/* The headers, signed: host, x-amz-date, x-amz-content-sha256, and the
 * optional ones this request carries.  Returns the curl list to send. */
static struct curl_slist *signed_headers(struct s3 *s3, struct s3_request *req,
					 const char *path, bool *ok)
{
	char date[SIGV4_DATE_LEN + 1], hash[SHA256_HEX_LEN + 1];
	uint8_t digest[SHA256_LEN];
	struct sigv4_header h[7];
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
	if (req->range)
		h[n++] = (struct sigv4_header){"range", req->range};

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
		r = s3_curl_failure(s3, req, res, err);
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
