/*
 * age decryption (see age.h): the ASCII armor, when there is one, then the
 * header, then the payload, each fed as the bytes arrive.
 */
#include "crypto/age_internal.h"
#include "crypto/b64.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define ARMOR_BEGIN "-----BEGIN AGE ENCRYPTED FILE-----"
#define ARMOR_END "-----END AGE ENCRYPTED FILE-----"
#define ARMOR_COLUMNS 64
/* Longer than any line strict armor has, with its CR. */
#define ARMOR_LINE_MAX 80

enum phase { PH_HEADER, PH_NONCE, PH_PAYLOAD };
enum armor_state { AR_UNDECIDED, AR_NONE, AR_LEAD, AR_BEGIN, AR_DATA, AR_TRAIL };

struct x25519_stanza {
	uint8_t share[AGE_KEY_LEN];
	uint8_t body[AGE_FILE_KEY_LEN + AGE_TAG_LEN];
};

struct age_dec {
	stream_write_fn sink;
	void *sink_ctx;
	uint8_t (*ids)[AGE_KEY_LEN];
	uint8_t (*pubs)[AGE_KEY_LEN];
	size_t n_ids;
	char *passphrase;
	size_t passphrase_len;
	unsigned max_scrypt_log;

	enum result failed;
	struct error failure;
	enum age_failure why;

	/* The armor. */
	enum armor_state armor;
	char line[ARMOR_LINE_MAX + 1];
	size_t line_len;
	bool last_line;     /* the last data line has come: the end line is next */
	bool data_lines;

	/* The header. */
	enum phase phase;
	char *hdr;
	size_t hdr_len;
	size_t line_start;
	struct x25519_stanza *stanzas;
	size_t n_stanzas;
	bool scrypt;
	uint8_t scrypt_salt[16];
	unsigned scrypt_log;
	uint8_t scrypt_body[AGE_FILE_KEY_LEN + AGE_TAG_LEN];

	/* The payload. */
	uint8_t nonce[AGE_NONCE_LEN];
	size_t nonce_fill;
	struct age_aead *aead;
	uint64_t counter;
	uint8_t *cbuf;      /* a sealed chunk: AGE_CHUNK + AGE_TAG_LEN */
	size_t cfill;
	uint8_t *plain;
};

static enum result fail(struct age_dec *d, enum age_failure why, enum result code,
			struct error *err, const char *what)
{
	d->why = why;
	d->failed = error_set(&d->failure, code, "%s", what);
	if (err)
		*err = d->failure;
	return code;
}

static enum result header_fail(struct age_dec *d, struct error *err, const char *what)
{
	return fail(d, AGE_FAIL_HEADER, CB_ERR_CORRUPT, err, what);
}

static enum result payload_fail(struct age_dec *d, struct error *err, const char *what)
{
	return fail(d, AGE_FAIL_PAYLOAD, CB_ERR_CORRUPT, err, what);
}

static enum result armor_fail(struct age_dec *d, struct error *err, const char *what)
{
	return fail(d, AGE_FAIL_ARMOR, CB_ERR_CORRUPT, err, what);
}

enum result age_dec_new(const struct age_identities *ids, stream_write_fn sink, void *sink_ctx,
			struct age_dec **out, struct error *err)
{
	*out = NULL;
	struct age_dec *d = calloc(1, sizeof(*d));
	if (!d)
		return error_nomem(err);
	d->sink = sink;
	d->sink_ctx = sink_ctx;
	d->max_scrypt_log = ids->max_scrypt_log ? ids->max_scrypt_log : AGE_SCRYPT_MAX_LOG;
	d->hdr = malloc(AGE_HEADER_MAX);
	d->cbuf = malloc(AGE_CHUNK + AGE_TAG_LEN);
	d->plain = malloc(AGE_CHUNK);
	if (ids->n_x25519) {
		d->ids = malloc(ids->n_x25519 * AGE_KEY_LEN);
		d->pubs = malloc(ids->n_x25519 * AGE_KEY_LEN);
	}
	if (ids->passphrase) {
		d->passphrase = malloc(ids->passphrase_len + 1);
		if (d->passphrase) {
			memcpy(d->passphrase, ids->passphrase, ids->passphrase_len);
			d->passphrase_len = ids->passphrase_len;
		}
	}
	if (!d->hdr || !d->cbuf || !d->plain || (ids->n_x25519 && (!d->ids || !d->pubs)) ||
	    (ids->passphrase && !d->passphrase)) {
		age_dec_free(d);
		return error_nomem(err);
	}
	for (size_t i = 0; i < ids->n_x25519; i++) {
		memcpy(d->ids[i], ids->x25519[i], AGE_KEY_LEN);
		enum result r = age_recipient_of(d->ids[i], d->pubs[i], err);
		d->n_ids = i + 1;
		if (r) {
			age_dec_free(d);
			return r;
		}
	}
	*out = d;
	return CB_OK;
}

void age_dec_free(struct age_dec *d)
{
	if (!d)
		return;
	if (d->ids)
		OPENSSL_cleanse(d->ids, d->n_ids * AGE_KEY_LEN);
	if (d->hdr)  /* it holds the file key between the header and the nonce */
		OPENSSL_cleanse(d->hdr, AGE_FILE_KEY_LEN);
	if (d->passphrase)
		OPENSSL_cleanse(d->passphrase, d->passphrase_len);
	if (d->plain)
		OPENSSL_cleanse(d->plain, AGE_CHUNK);
	free(d->ids);
	free(d->pubs);
	free(d->passphrase);
	free(d->hdr);
	free(d->stanzas);
	free(d->cbuf);
	free(d->plain);
	age_aead_free(d->aead);
	free(d);
}

enum age_failure age_dec_failure(const struct age_dec *d)
{
	return d->why;
}

size_t age_dec_x25519_stanzas(const struct age_dec *d)
{
	return d->n_stanzas;
}

bool age_dec_is_passphrase(const struct age_dec *d)
{
	return d->scrypt;
}

/* --- the header ---------------------------------------------------------- */

/* The line at *pos (up to its LF, which must be there): start and length;
 * *pos moves past it. */
static bool next_line(const char *buf, size_t len, size_t *pos, const char **line, size_t *n)
{
	const char *nl = memchr(buf + *pos, '\n', len - *pos);
	if (!nl)
		return false;
	*line = buf + *pos;
	*n = (size_t)(nl - *line);
	*pos += *n + 1;
	return true;
}

static bool starts(const char *line, size_t n, const char *prefix)
{
	size_t p = strlen(prefix);
	return n >= p && memcmp(line, prefix, p) == 0;
}

/* A work factor as the specification allows it: ^[1-9][0-9]*$. */
static bool work_factor(const char *s, size_t n, unsigned *out)
{
	if (n == 0 || n > 2 || s[0] < '1' || s[0] > '9')
		return false;
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return true;
}

#define MAX_ARGS 8

/* One stanza whose "-> " line is line (n bytes); its body lines follow at
 * *pos. */
static enum result stanza(struct age_dec *d, const char *line, size_t n, size_t *pos,
			  size_t *count, struct error *err)
{
	const char *args[MAX_ARGS];
	size_t arg_len[MAX_ARGS], argc = 0;
	const char *p = line + 3, *end = line + n;
	while (p <= end) {
		const char *sp = memchr(p, ' ', (size_t)(end - p));
		const char *stop = sp ? sp : end;
		if (stop == p)
			return header_fail(d, err, "age header: an empty stanza argument");
		for (const char *c = p; c < stop; c++)
			if (*c < 0x21 || *c > 0x7e)
				return header_fail(d, err,
						   "age header: a stanza argument with a character "
						   "that is not printable ASCII");
		if (argc == MAX_ARGS)
			return header_fail(d, err, "age header: a stanza with too many arguments");
		args[argc] = p;
		arg_len[argc++] = (size_t)(stop - p);
		p = stop + 1;
	}
	/* The body: full lines, then one shorter (perhaps empty). */
	char *text = malloc(AGE_HEADER_MAX);
	size_t text_len = 0;
	if (!text)
		return error_nomem(err);
	for (;;) {
		const char *bl;
		size_t bn;
		if (!next_line(d->hdr, d->hdr_len, pos, &bl, &bn)) {
			free(text);
			return header_fail(d, err, "age header: a stanza's body is cut short");
		}
		if (bn > AGE_COLUMNS) {
			free(text);
			return header_fail(d, err, "age header: a stanza body line over 64 columns");
		}
		memcpy(text + text_len, bl, bn);
		text_len += bn;
		if (bn < AGE_COLUMNS)
			break;
	}
	uint8_t *body = malloc(text_len + 1);
	size_t body_len = 0;
	bool ok = body && b64_decode(text, text_len, false, body, text_len + 1, &body_len);
	free(text);
	if (!body) {
		return error_nomem(err);
	}
	if (!ok) {
		free(body);
		return header_fail(d, err, "age header: a stanza body that is not canonical base64");
	}
	(*count)++;
	enum result r = CB_OK;
	if (arg_len[0] == 6 && memcmp(args[0], "X25519", 6) == 0) {
		struct x25519_stanza s;
		size_t sl = 0;
		if (argc != 2 || !b64_decode(args[1], arg_len[1], false, s.share, sizeof(s.share), &sl) ||
		    sl != AGE_KEY_LEN || body_len != sizeof(s.body)) {
			r = header_fail(d, err, "age header: a malformed X25519 stanza");
		} else {
			memcpy(s.body, body, sizeof(s.body));
			struct x25519_stanza *grown =
				realloc(d->stanzas, (d->n_stanzas + 1) * sizeof(*grown));
			if (!grown) {
				r = error_nomem(err);
			} else {
				d->stanzas = grown;
				d->stanzas[d->n_stanzas++] = s;
			}
		}
	} else if (arg_len[0] == 6 && memcmp(args[0], "scrypt", 6) == 0) {
		size_t sl = 0;
		if (d->scrypt)
			r = header_fail(d, err, "age header: two scrypt stanzas");
		else if (argc != 3 ||
			 !b64_decode(args[1], arg_len[1], false, d->scrypt_salt,
				     sizeof(d->scrypt_salt), &sl) ||
			 sl != sizeof(d->scrypt_salt) ||
			 !work_factor(args[2], arg_len[2], &d->scrypt_log) ||
			 body_len != sizeof(d->scrypt_body))
			r = header_fail(d, err, "age header: a malformed scrypt stanza");
		else if (d->scrypt_log > d->max_scrypt_log)
			r = header_fail(d, err,
					"age header: the passphrase's scrypt work factor is above "
					"the limit (2^20: 1 GiB of memory)");
		else
			memcpy(d->scrypt_body, body, sizeof(d->scrypt_body));
		d->scrypt = true;
	}
	/* Any other type is someone else's: ignored, as the format says. */
	free(body);
	return r;
}

/* Try every identity on every stanza; true with the file key. */
static enum result unwrap(struct age_dec *d, uint8_t file_key[AGE_FILE_KEY_LEN],
			  struct error *err)
{
	static const uint8_t zero_nonce[12] = {0};
	uint8_t shared[AGE_KEY_LEN], salt[2 * AGE_KEY_LEN], wrap[32];
	for (size_t s = 0; s < d->n_stanzas; s++) {
		for (size_t i = 0; i < d->n_ids; i++) {
			if (!age_x25519(d->ids[i], d->stanzas[s].share, shared))
				return header_fail(d, err,
						   "age header: an X25519 stanza with a low-order "
						   "share");
			memcpy(salt, d->stanzas[s].share, AGE_KEY_LEN);
			memcpy(salt + AGE_KEY_LEN, d->pubs[i], AGE_KEY_LEN);
			bool ok = age_hkdf(shared, sizeof(shared), salt, sizeof(salt),
					   AGE_X25519_INFO, wrap);
			struct age_aead *a = ok ? age_aead_new(wrap) : NULL;
			ok = a && age_aead_open(a, zero_nonce, d->stanzas[s].body,
						sizeof(d->stanzas[s].body), file_key);
			age_aead_free(a);
			OPENSSL_cleanse(shared, sizeof(shared));
			OPENSSL_cleanse(wrap, sizeof(wrap));
			if (ok)
				return CB_OK;
		}
	}
	if (d->scrypt && d->passphrase) {
		uint8_t salt2[sizeof(AGE_SCRYPT_SALT_LABEL) - 1 + 16];
		memcpy(salt2, AGE_SCRYPT_SALT_LABEL, sizeof(AGE_SCRYPT_SALT_LABEL) - 1);
		memcpy(salt2 + sizeof(AGE_SCRYPT_SALT_LABEL) - 1, d->scrypt_salt, 16);
		uint64_t n = (uint64_t)1 << d->scrypt_log;
		/* scrypt's working memory is 128 r N bytes, and a little. */
		uint64_t maxmem = 128 * 8 * n + (1u << 20);
		if (EVP_PBE_scrypt(d->passphrase, d->passphrase_len, salt2, sizeof(salt2), n, 8, 1,
				   maxmem, wrap, sizeof(wrap)) != 1)
			return error_set(err, CB_ERR_NOMEM,
					 "age: scrypt with work factor 2^%u failed (memory?)",
					 d->scrypt_log);
		struct age_aead *a = age_aead_new(wrap);
		bool ok = a && age_aead_open(a, zero_nonce, d->scrypt_body, sizeof(d->scrypt_body),
					     file_key);
		age_aead_free(a);
		OPENSSL_cleanse(wrap, sizeof(wrap));
		if (ok)
			return CB_OK;
	}
	char what[160];
	if (d->scrypt)
		snprintf(what, sizeof(what), "%s", d->passphrase
			 ? "age: the passphrase given does not decrypt it"
			 : "age: it is encrypted with a passphrase, and none was given");
	else
		snprintf(what, sizeof(what),
			 "age: none of the %zu identities given decrypts it (it has %zu X25519 "
			 "stanza%s)",
			 d->n_ids, d->n_stanzas, d->n_stanzas == 1 ? "" : "s");
	return fail(d, AGE_FAIL_NO_MATCH, CB_ERR_CONFIG, err, what);
}

/* The header is hdr[0, hdr_len), ending with its MAC line. */
static enum result parse_header(struct age_dec *d, struct error *err)
{
	size_t pos = strlen(AGE_VERSION_LINE), count = 0;
	const char *line;
	size_t n;
	enum result r;
	for (;;) {
		size_t start = pos;
		if (!next_line(d->hdr, d->hdr_len, &pos, &line, &n))
			return header_fail(d, err, "age header: cut short");
		if (starts(line, n, "---")) {
			pos = start;
			break;
		}
		if (!starts(line, n, "-> "))
			return header_fail(d, err, "age header: a line that starts no stanza");
		if ((r = stanza(d, line, n, &pos, &count, err)))
			return r;
	}
	if (count == 0)
		return header_fail(d, err, "age header: no recipient stanza");
	if (d->scrypt && count > 1)
		return header_fail(d, err, "age header: an scrypt stanza beside others");
	size_t mac_at = pos;
	uint8_t mac[AGE_MAC_LEN + 1];
	size_t mac_len = 0;
	if (!next_line(d->hdr, d->hdr_len, &pos, &line, &n) || n != 4 + 43 ||
	    !starts(line, n, "--- ") ||
	    !b64_decode(line + 4, 43, false, mac, sizeof(mac), &mac_len) || mac_len != AGE_MAC_LEN)
		return header_fail(d, err, "age header: a malformed MAC line");

	uint8_t file_key[AGE_FILE_KEY_LEN], key[32], want[AGE_MAC_LEN];
	if ((r = unwrap(d, file_key, err)))
		return r;
	bool ok = age_mac_key(file_key, key) && age_hmac(key, d->hdr, mac_at + 3, want);
	OPENSSL_cleanse(key, sizeof(key));
	if (ok && CRYPTO_memcmp(want, mac, AGE_MAC_LEN) != 0) {
		OPENSSL_cleanse(file_key, sizeof(file_key));
		return fail(d, AGE_FAIL_HMAC, CB_ERR_CORRUPT, err,
			    "age header: its MAC is wrong (the header was changed)");
	}
	if (!ok) {
		OPENSSL_cleanse(file_key, sizeof(file_key));
		return error_set(err, CB_ERR_INTERNAL, "age: HMAC failed (libcrypto)");
	}
	/* The payload key needs the nonce: keep the file key until then, in
	 * the space of the (now parsed) header. */
	memcpy(d->hdr, file_key, sizeof(file_key));
	OPENSSL_cleanse(file_key, sizeof(file_key));
	d->phase = PH_NONCE;
	return CB_OK;
}

static enum result header_bytes(struct age_dec *d, const uint8_t **p, size_t *len,
				struct error *err)
{
	static const char prefix[] = "age-encryption.org/";
	while (*len && d->phase == PH_HEADER) {
		if (d->hdr_len == AGE_HEADER_MAX)
			return header_fail(d, err, "age header: longer than 64 KiB");
		char c = (char)**p;
		d->hdr[d->hdr_len++] = c;
		(*p)++;
		(*len)--;
		if (d->hdr_len <= sizeof(prefix) - 1 && c != prefix[d->hdr_len - 1])
			return header_fail(d, err, "not an age file (no age-encryption.org header)");
		if (c != '\n')
			continue;
		const char *line = d->hdr + d->line_start;
		size_t n = d->hdr_len - d->line_start - 1;
		if (d->line_start == 0 &&
		    (n != strlen(AGE_VERSION_LINE) - 1 || memcmp(line, AGE_VERSION_LINE, n) != 0))
			return header_fail(d, err, "age file of a version other than v1");
		d->line_start = d->hdr_len;
		if (starts(line, n, "---")) {
			enum result r = parse_header(d, err);
			if (r)
				return r;
		}
	}
	return CB_OK;
}

/* --- the payload --------------------------------------------------------- */

/* Open the chunk in cbuf as the last one or not; false if it does not
 * authenticate that way. */
static bool try_open(struct age_dec *d, bool last)
{
	uint8_t nonce[12];
	age_chunk_nonce(d->counter, last, nonce);
	return d->cfill >= AGE_TAG_LEN && age_aead_open(d->aead, nonce, d->cbuf, d->cfill, d->plain);
}

/* Give the opened chunk's plaintext out and make room for the next. */
static enum result release(struct age_dec *d, struct error *err)
{
	size_t n = d->cfill - AGE_TAG_LEN;
	d->counter++;
	d->cfill = 0;
	return n ? d->sink(d->sink_ctx, d->plain, n, err) : CB_OK;
}

/* A full chunk, with more bytes after it.  Like age's own reader, a full
 * chunk that opens only as the last one is given out before the bytes
 * after it are refused. */
static enum result full_chunk(struct age_dec *d, struct error *err)
{
	if (try_open(d, false))
		return release(d, err);
	if (!try_open(d, true))
		return payload_fail(d, err, "age payload: a chunk does not authenticate (damaged)");
	enum result r = release(d, err);
	return r ? r : payload_fail(d, err, "age payload: bytes after its last chunk");
}

/* The bytes left at the end of the file: the last chunk. */
static enum result last_chunk(struct age_dec *d, struct error *err)
{
	if (d->cfill == 0)
		return payload_fail(d, err, d->counter ? "age payload: cut short (no last chunk)"
						       : "age payload: no chunk at all");
	if (d->cfill == AGE_CHUNK + AGE_TAG_LEN && try_open(d, false)) {
		enum result r = release(d, err);
		return r ? r : payload_fail(d, err, "age payload: cut short (no last chunk)");
	}
	if (!try_open(d, true))
		return payload_fail(d, err,
				    "age payload: the last chunk does not authenticate (damaged, "
				    "cut short, or with bytes after it)");
	if (d->cfill == AGE_TAG_LEN && d->counter > 0)
		return payload_fail(d, err, "age payload: an empty last chunk");
	return release(d, err);
}

static enum result binary_bytes(struct age_dec *d, const uint8_t *p, size_t len,
				struct error *err)
{
	enum result r;
	if (d->phase == PH_HEADER && (r = header_bytes(d, &p, &len, err)))
		return r;
	if (d->phase == PH_NONCE) {
		size_t n = AGE_NONCE_LEN - d->nonce_fill < len ? AGE_NONCE_LEN - d->nonce_fill : len;
		memcpy(d->nonce + d->nonce_fill, p, n);
		d->nonce_fill += n;
		p += n;
		len -= n;
		if (d->nonce_fill == AGE_NONCE_LEN) {
			uint8_t key[32];
			bool ok = age_payload_key((const uint8_t *)d->hdr, d->nonce, key) &&
				  (d->aead = age_aead_new(key));
			OPENSSL_cleanse(key, sizeof(key));
			OPENSSL_cleanse(d->hdr, AGE_FILE_KEY_LEN);
			if (!ok)
				return error_set(err, CB_ERR_INTERNAL,
						 "age: cannot derive the payload key (libcrypto)");
			d->phase = PH_PAYLOAD;
		}
	}
	const size_t cap = AGE_CHUNK + AGE_TAG_LEN;
	while (len && d->phase == PH_PAYLOAD) {
		/* A full chunk with more after it is not the last. */
		if (d->cfill == cap && (r = full_chunk(d, err)))
			return r;
		size_t n = cap - d->cfill < len ? cap - d->cfill : len;
		memcpy(d->cbuf + d->cfill, p, n);
		d->cfill += n;
		p += n;
		len -= n;
	}
	return CB_OK;
}

/* --- the armor ----------------------------------------------------------- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A whole line of the armor (its LF, and one CR before it, taken off). */
static enum result armor_line(struct age_dec *d, struct error *err)
{
	size_t n = d->line_len;
	if (n && d->line[n - 1] == '\r')
		n--;
	if (d->armor == AR_BEGIN) {
		if (n != strlen(ARMOR_BEGIN) || memcmp(d->line, ARMOR_BEGIN, n) != 0)
			return armor_fail(d, err,
					  "not an age file (no age-encryption.org header, and no "
					  "BEGIN AGE ENCRYPTED FILE armor line)");
		d->armor = AR_DATA;
		return CB_OK;
	}
	if (n == strlen(ARMOR_END) && memcmp(d->line, ARMOR_END, n) == 0) {
		d->armor = AR_TRAIL;
		return CB_OK;
	}
	if (d->last_line)
		return armor_fail(d, err, "age armor: lines after the last one");
	if (n == 0 || n > ARMOR_COLUMNS || n % 4)
		return armor_fail(d, err, "age armor: a line of the wrong length");
	uint8_t bytes[ARMOR_COLUMNS];
	size_t len = 0;
	if (!b64_decode(d->line, n, true, bytes, sizeof(bytes), &len))
		return armor_fail(d, err, "age armor: a line that is not canonical base64");
	if (n < ARMOR_COLUMNS || d->line[n - 1] == '=')
		d->last_line = true;
	d->data_lines = true;
	return binary_bytes(d, bytes, len, err);
}

static enum result armor_bytes(struct age_dec *d, const uint8_t *p, size_t len,
			       struct error *err)
{
	for (size_t i = 0; i < len; i++) {
		char c = (char)p[i];
		if (d->armor == AR_LEAD) {
			if (is_space(c))
				continue;
			d->armor = AR_BEGIN;
		}
		if (d->armor == AR_TRAIL) {
			if (!is_space(c))
				return armor_fail(d, err, "age armor: bytes after its END line");
			continue;
		}
		if (c != '\n') {
			if (d->line_len == ARMOR_LINE_MAX)
				return armor_fail(d, err, "age armor: a line too long");
			d->line[d->line_len++] = c;
			continue;
		}
		enum result r = armor_line(d, err);
		d->line_len = 0;
		if (r)
			return r;
	}
	return CB_OK;
}

/* --- the stream ---------------------------------------------------------- */

enum result age_dec_write(struct age_dec *d, const void *buf, size_t len, struct error *err)
{
	const uint8_t *p = buf;
	if (d->failed) {
		if (err)
			*err = d->failure;
		return d->failed;
	}
	if (len == 0)
		return CB_OK;
	if (d->armor == AR_UNDECIDED)
		/* A binary file starts with "age-encryption.org/"; anything
		 * else must be the armor. */
		d->armor = p[0] == 'a' ? AR_NONE : AR_LEAD;
	enum result r = d->armor == AR_NONE ? binary_bytes(d, p, len, err)
					    : armor_bytes(d, p, len, err);
	if (r && !d->failed) {
		d->failed = r;
		if (err)
			d->failure = *err;
	}
	return r;
}

enum result age_dec_finish(struct age_dec *d, struct error *err)
{
	if (d->failed) {
		if (err)
			*err = d->failure;
		return d->failed;
	}
	enum result r = CB_OK;
	if (d->armor != AR_NONE && d->armor != AR_UNDECIDED) {
		/* The END line may end the file without its LF. */
		if (d->armor == AR_DATA && d->line_len) {
			if ((r = armor_line(d, err)))
				return r;
			d->line_len = 0;
		}
		if (d->armor != AR_TRAIL)
			return armor_fail(d, err, "age armor: no END AGE ENCRYPTED FILE line");
	}
	if (d->phase == PH_HEADER)
		return header_fail(d, err, d->hdr_len ? "age header: cut short"
						      : "not an age file (it is empty)");
	if (d->phase == PH_NONCE)
		return header_fail(d, err, "age file: cut short before its payload's nonce");
	if ((r = last_chunk(d, err)) && !d->failed) {
		d->failed = r;
		if (err)
			d->failure = *err;
	}
	if (!r)
		d->failed = error_set(&d->failure, CB_ERR_INTERNAL, "age: write after finish");
	return r;
}
