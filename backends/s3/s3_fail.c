/*
 * What a failed S3 request means, in one line and a result code, so that
 * every operation reports the same way:
 *   PUT name.db.gz: HTTP 403 SignatureDoesNotMatch: The request signature
 *   ...; HINT: check secret_access_key
 * The line carries the operation, the key (or bucket), the status, and S3's
 * Code and Message -- never a header, a signature or the secret.  A
 * transfer that never got an answer is worth retrying when the network may
 * be to blame, and gives up with a HINT when only a person can fix it: an
 * https:// endpoint that speaks plain HTTP ("wrong version number"), a
 * certificate that is not trusted, names another host or is out of date.
 */
#include "backends/s3/s3.h"

#include <stdio.h>
#include <string.h>

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

enum result s3_curl_failure(struct s3 *s3, struct s3_request *req, CURLcode res,
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
