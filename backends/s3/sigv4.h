/*
 * AWS Signature Version 4 for S3, as the S3 API Reference describes it
 * ("Authenticating Requests (AWS Signature Version 4)", the Authorization
 * header with a signed payload):
 *
 *   canonical request = METHOD \n canonical URI \n canonical query \n
 *                       canonical headers \n signed headers \n payload SHA-256
 *   string to sign    = "AWS4-HMAC-SHA256" \n amz-date \n scope \n
 *                       hex SHA-256 of the canonical request
 *   scope             = yyyymmdd/region/service/aws4_request
 *   signing key       = HMAC chain over "AWS4" + secret: date, region,
 *                       service, "aws4_request"
 *   signature         = hex HMAC-SHA256(signing key, string to sign)
 *
 * Everything is given raw (unencoded): the path and query parameters are
 * percent-encoded here, the same way the caller must put them on the wire --
 * sigv4_uri_encode for the path and sigv4_canonical_query for the query,
 * which is then also the query string to send.  S3 paths are encoded once and
 * not normalised ("//" and "." stay).
 *
 * Pure functions apart from memory; HMAC-SHA256 and SHA-256 come from
 * libcrypto.  Strings returned are malloc'd; NULL means out of memory.
 */
#ifndef CBSYNC_S3_SIGV4_H
#define CBSYNC_S3_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SIGV4_DATE_LEN 16       /* "20130524T000000Z" */
#define SIGV4_HEX_LEN 64

/* One query parameter; value "" for a parameter without one ("uploads"). */
struct sigv4_param {
	const char *name;
	const char *value;
};

/* One header to sign (name in any case, value untrimmed). */
struct sigv4_header {
	const char *name;
	const char *value;
};

struct sigv4_request {
	const char *method;                     /* "GET", "PUT", ... */
	const char *path;                       /* raw, starting with "/" */
	const struct sigv4_param *query;
	size_t n_query;
	const struct sigv4_header *headers;     /* every header to sign: host,
						 * x-amz-date, x-amz-content-sha256, ... */
	size_t n_headers;
	const char *payload_sha256;             /* lower-case hex of the body */
};

struct sigv4_credentials {
	const char *access_key_id;
	const char *secret_access_key;
	const char *region;
	const char *service;                    /* "s3" */
};

/* "20130524T000000Z" for t (UTC); out needs SIGV4_DATE_LEN + 1 bytes. */
void sigv4_format_date(time_t t, char out[SIGV4_DATE_LEN + 1]);

/* s percent-encoded (uppercase hex, RFC 3986 unreserved characters left
 * alone); "/" kept when keep_slash (paths), encoded otherwise (query). */
char *sigv4_uri_encode(const char *s, bool keep_slash);

/* The canonical query string: names and values encoded, sorted by name
 * (then value), "name=value" joined by "&"; "uploads=" for an empty value. */
char *sigv4_canonical_query(const struct sigv4_param *query, size_t n);

/* The canonical request; *signed_headers (if not NULL) receives the signed
 * header list ("host;x-amz-content-sha256;x-amz-date"). */
char *sigv4_canonical_request(const struct sigv4_request *req, char **signed_headers);

/* The string to sign for a canonical request made at amz_date. */
char *sigv4_string_to_sign(const char *amz_date, const char *region, const char *service,
			   const char *canonical_request);

/* The hex signature of string_to_sign; false if libcrypto failed. */
bool sigv4_signature(const struct sigv4_credentials *cred, const char *amz_date,
		     const char *string_to_sign, char out[SIGV4_HEX_LEN + 1]);

/* The whole Authorization header value:
 *   AWS4-HMAC-SHA256 Credential=KEY/SCOPE,SignedHeaders=...,Signature=...
 * The secret itself never appears in it. */
char *sigv4_authorization(const struct sigv4_request *req, const struct sigv4_credentials *cred,
			  const char *amz_date);

#endif
