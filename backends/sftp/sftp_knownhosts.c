/*
 * known_hosts, read the way OpenSSH reads it, for libcurl.
 *
 * libcurl 7.88 hands the known_hosts file to libssh2 and, before the
 * handshake, "forces" the host key algorithm to the type of the first entry
 * it believes names the server.  With hashed entries (|1|salt|hash, what
 * Debian's ssh writes by default) it cannot tell whose they are and takes
 * the first hashed line of the file, whoever it belongs to: a known_hosts
 * that starts with some other host's ECDSA key makes the handshake with an
 * ed25519 server fail, and an RSA one makes libssh2 1.10 copy overlapping
 * memory (AddressSanitizer stops the process).  libssh2 also knows no host
 * patterns (*, ?, !negation), @revoked or @cert-authority markers.
 *
 * So cbsync reads the file itself and gives libcurl only the lines that
 * name this server, spelt plainly ("[host]:port type key", or "host type
 * key" on port 22), the preferred key types first: ed25519, ECDSA, DSA.
 * RSA lines are left out: libssh2 1.10 can verify RSA host keys only with
 * SHA-1 signatures, which OpenSSH 8.8 and later no longer make, and forcing
 * RSA trips the libssh2 bug above; the "unknown host key" message then
 * says that only an RSA key was known.  Keys marked @revoked for this
 * server are remembered and refused.  Everything here is pure: text in,
 * text out.
 */
#include "backends/sftp/sftp_internal.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sftp_kh_free(struct sftp_kh *kh)
{
	free(kh->text);
	for (size_t i = 0; i < kh->n_revoked; i++)
		free(kh->revoked[i]);
	free(kh->revoked);
	memset(kh, 0, sizeof(*kh));
}

/* OpenSSH's host patterns: "*" any run, "?" any one character, no case. */
static bool glob_match(const char *p, size_t pn, const char *s)
{
	size_t pi = 0, si = 0, star_p = (size_t)-1, star_s = 0;
	size_t sn = strlen(s);
	while (si < sn) {
		if (pi < pn && (p[pi] == '?' ||
				tolower((unsigned char)p[pi]) == tolower((unsigned char)s[si]))) {
			pi++;
			si++;
		} else if (pi < pn && p[pi] == '*') {
			star_p = pi++;
			star_s = si;
		} else if (star_p != (size_t)-1) {
			pi = star_p + 1;
			si = ++star_s;
		} else {
			return false;
		}
	}
	while (pi < pn && p[pi] == '*')
		pi++;
	return pi == pn;
}

static long b64_dec(const char *in, size_t n, unsigned char *out, size_t cap)
{
	if (n == 0 || n % 4 || n / 4 * 3 > cap)
		return -1;
	int got = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (got < 0)
		return -1;
	size_t pad = (in[n - 1] == '=') + (n > 1 && in[n - 2] == '=');
	return (long)got - (long)pad;
}

/* "|1|<salt>|<hash>": HMAC-SHA1 of the name, keyed with the salt. */
static bool hashed_match(const char *field, size_t len, const char *host)
{
	const char *salt = field + 3;
	const char *bar = memchr(salt, '|', len - 3);
	if (!bar)
		return false;
	unsigned char key[64], want[64], got[EVP_MAX_MD_SIZE];
	long kn = b64_dec(salt, (size_t)(bar - salt), key, sizeof(key));
	long wn = b64_dec(bar + 1, (size_t)(field + len - bar - 1), want, sizeof(want));
	unsigned int gn = 0;
	if (kn <= 0 || wn != 20)
		return false;
	if (!HMAC(EVP_sha1(), key, (int)kn, (const unsigned char *)host, strlen(host), got, &gn))
		return false;
	return gn == 20 && memcmp(got, want, 20) == 0;
}

bool sftp_kh_host_matches(const char *field, size_t len, const char *host)
{
	if (len > 3 && strncmp(field, "|1|", 3) == 0)
		return hashed_match(field, len, host);
	bool matched = false;
	const char *p = field, *end = field + len;
	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t n = comma ? (size_t)(comma - p) : (size_t)(end - p);
		bool negate = n > 0 && p[0] == '!';
		if (glob_match(p + negate, n - negate, host)) {
			if (negate)
				return false; /* a negated match rules the line out */
			matched = true;
		}
		p += n + 1;
	}
	return matched;
}

/* Rank of a key type libssh2 1.10 can check; -1 for the others. */
static int type_rank(const char *t, size_t n)
{
	static const char *const order[] = {"ssh-ed25519", "ecdsa-sha2-nistp256",
					    "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
					    "ssh-dss"};
	for (size_t i = 0; i < sizeof(order) / sizeof(*order); i++)
		if (strlen(order[i]) == n && memcmp(order[i], t, n) == 0)
			return (int)i;
	return -1;
}

struct kh_line {
	int rank;
	size_t seq;
	char *text;
};

static int by_rank(const void *a, const void *b)
{
	const struct kh_line *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The next whitespace-separated field of [*p, end). */
static bool next_field(const char **p, const char *end, const char **f, size_t *n)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	if (*p >= end)
		return false;
	*f = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	*n = (size_t)(*p - *f);
	return true;
}

enum result sftp_kh_select(const char *file, const char *host, struct sftp_kh *out,
			   struct error *err)
{
	struct kh_line *lines = NULL;
	size_t n = 0, cap = 0;
	enum result r = CB_OK;
	memset(out, 0, sizeof(*out));
	for (const char *line = file; *line;) {
		const char *eol = strchr(line, '\n');
		const char *end = eol ? eol : line + strlen(line);
		const char *next = eol ? eol + 1 : end;
		const char *p = line, *names, *type, *key;
		size_t nn, tn, kn;
		while (end > line && end[-1] == '\r')
			end--;
		bool revoked = false;
		if (!next_field(&p, end, &names, &nn) || names[0] == '#') {
			line = next;
			continue;
		}
		if (names[0] == '@') {
			/* @revoked counts; @cert-authority is beyond libssh2. */
			revoked = nn == 8 && memcmp(names, "@revoked", 8) == 0;
			if (!revoked || !next_field(&p, end, &names, &nn)) {
				line = next;
				continue;
			}
		}
		if (!next_field(&p, end, &type, &tn) || !next_field(&p, end, &key, &kn) ||
		    !sftp_kh_host_matches(names, nn, host)) {
			line = next;
			continue;
		}
		if (revoked) {
			char **nr = realloc(out->revoked, (out->n_revoked + 1) * sizeof(*nr));
			if (!nr || !(nr[out->n_revoked] = strndup(key, kn))) {
				if (nr)
					out->revoked = nr;
				r = error_nomem(err);
				goto done;
			}
			out->revoked = nr;
			out->n_revoked++;
			line = next;
			continue;
		}
		int rank = type_rank(type, tn);
		if (rank < 0) {
			if (tn == 7 && memcmp(type, "ssh-rsa", 7) == 0)
				out->rsa_only_skipped = true;
			line = next;
			continue;
		}
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct kh_line *nl = realloc(lines, ncap * sizeof(*nl));
			if (!nl) {
				r = error_nomem(err);
				goto done;
			}
			lines = nl;
			cap = ncap;
		}
		lines[n].rank = rank;
		lines[n].seq = n;
		if (asprintf(&lines[n].text, "%s %.*s %.*s\n", host, (int)tn, type, (int)kn, key) <
		    0) {
			r = error_nomem(err);
			goto done;
		}
		n++;
		line = next;
	}
	if (n)
		qsort(lines, n, sizeof(*lines), by_rank);
	size_t total = 1;
	for (size_t i = 0; i < n; i++)
		total += strlen(lines[i].text);
	if (!(out->text = malloc(total))) {
		r = error_nomem(err);
		goto done;
	}
	out->text[0] = '\0';
	size_t len = 0;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(lines[i].text);
		memcpy(out->text + len, lines[i].text, l + 1);
		len += l;
	}
	out->n_lines = n;
	if (n)
		out->rsa_only_skipped = false;
done:
	for (size_t i = 0; i < n; i++)
		free(lines[i].text);
	free(lines);
	if (r)
		sftp_kh_free(out);
	return r;
}
