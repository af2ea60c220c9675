/*
 * SSH keys as cbsync meets them (no network, so tests/unit/sftp checks all
 * of it): host key fingerprints as ssh-keygen -l prints them (a pin in the
 * config, a key libcurl shows us), libcurl's names for host key types, and
 * what kind of key a key file holds and whether it needs a passphrase --
 * libssh2 would only say that the login failed.
 */
#include "backends/sftp/sftp_internal.h"
#include "common/hash.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_b64(char c)
{
	return isalnum((unsigned char)c) || c == '+' || c == '/';
}

bool sftp_fingerprint_parse(const char *s, char out[SFTP_FP_B64_LEN + 1])
{
	if (strncasecmp(s, "SHA256:", 7) == 0)
		s += 7;
	size_t n = strlen(s);
	while (n && s[n - 1] == '=')
		n--;
	if (n != SFTP_FP_B64_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_b64(s[i]))
			return false;
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

/* Decode standard base64 (whitespace not allowed); returns the length or -1. */
static long b64_decode(const char *in, size_t n, unsigned char **out)
{
	while (n && in[n - 1] == '=')
		n--;
	size_t padded = (n + 3) / 4 * 4;
	char *tmp = malloc(padded + 1);
	unsigned char *buf = malloc(padded / 4 * 3 + 1);
	if (!tmp || !buf) {
		free(tmp);
		free(buf);
		return -1;
	}
	memcpy(tmp, in, n);
	for (size_t i = n; i < padded; i++)
		tmp[i] = '=';
	tmp[padded] = '\0';
	int got = EVP_DecodeBlock(buf, (const unsigned char *)tmp, (int)padded);
	free(tmp);
	if (got < 0) {
		free(buf);
		return -1;
	}
	/* EVP_DecodeBlock counts the padding as zero bytes. */
	long len = (long)got - (long)(padded - n);
	if (padded - n == 3)
		len = -1; /* not valid base64 */
	if (len < 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	return len;
}

void sftp_fingerprint_of(const char *key, size_t len, char *out, size_t size)
{
	unsigned char *raw = NULL;
	const unsigned char *blob = (const unsigned char *)key;
	if (len == 0) {
		long n = b64_decode(key, strlen(key), &raw);
		if (n < 0) {
			snprintf(out, size, "SHA256:?");
			return;
		}
		blob = raw;
		len = (size_t)n;
	}
	uint8_t digest[SHA256_LEN];
	sha256_buf(blob, len, digest);
	free(raw);
	unsigned char b64[64];
	int n = EVP_EncodeBlock(b64, digest, SHA256_LEN);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	snprintf(out, size, "SHA256:%.*s", n, (const char *)b64);
}

const char *sftp_khtype_name(int keytype)
{
	switch (keytype) {
	case CURLKHTYPE_RSA1:
		return "RSA1";
	case CURLKHTYPE_RSA:
		return "RSA";
	case CURLKHTYPE_DSS:
		return "DSA";
	case CURLKHTYPE_ECDSA:
		return "ECDSA";
	case CURLKHTYPE_ED25519:
		return "ED25519";
	default:
		return "unknown-type";
	}
}

static const char *const key_types[] = {
	"ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
	"sk-ecdsa-sha2-nistp256@openssh.com",
};

static const char *known_type(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(*key_types); i++)
		if (strlen(key_types[i]) == n && memcmp(key_types[i], s, n) == 0)
			return key_types[i];
	return NULL;
}

/* A big-endian length-prefixed string at *p in [*p, end); false if short. */
static bool ssh_string(const unsigned char **p, const unsigned char *end,
		       const unsigned char **s, size_t *n)
{
	if (end - *p < 4)
		return false;
	uint32_t len = (uint32_t)(*p)[0] << 24 | (uint32_t)(*p)[1] << 16 |
		       (uint32_t)(*p)[2] << 8 | (*p)[3];
	*p += 4;
	if ((size_t)(end - *p) < len)
		return false;
	*s = *p;
	*n = len;
	*p += len;
	return true;
}

/* The public key type inside an "openssh-key-v1" private key (base64 body),
 * and whether its cipher is anything but "none". */
static const char *openssh_private_type(const char *body, bool *encrypted)
{
	char *clean = malloc(strlen(body) + 1);
	if (!clean)
		return NULL;
	size_t n = 0;
	for (const char *p = body; *p && *p != '-'; p++)
		if (is_b64(*p) || *p == '=')
			clean[n++] = *p;
	unsigned char *raw = NULL;
	long len = b64_decode(clean, n, &raw);
	free(clean);
	if (len < 0)
		return NULL;
	static const char magic[] = "openssh-key-v1";
	const char *type = NULL;
	const unsigned char *p = raw, *end = raw + len, *s, *pub;
	size_t sn, pubn;
	if ((size_t)len > sizeof(magic) && memcmp(raw, magic, sizeof(magic)) == 0) {
		p += sizeof(magic); /* the magic and its NUL */
		/* cipher, kdf, kdf options, key count, then the first public key */
		if (ssh_string(&p, end, &s, &sn))
			*encrypted = !(sn == 4 && memcmp(s, "none", 4) == 0);
		if (ssh_string(&p, end, &s, &sn) && ssh_string(&p, end, &s, &sn) && end - p >= 4) {
			p += 4;
			if (ssh_string(&p, end, &pub, &pubn)) {
				const unsigned char *q = pub;
				if (ssh_string(&q, pub + pubn, &s, &sn))
					type = known_type((const char *)s, sn);
			}
		}
	}
	free(raw);
	return type;
}

const char *sftp_key_file_type(const char *path, bool *encrypted)
{
	bool enc = false;
	const char *type = NULL;
	FILE *f = fopen(path, "re");
	char *buf = f ? malloc(65536) : NULL;
	if (buf) {
		size_t n = fread(buf, 1, 65535, f);
		buf[n] = '\0';
		const char *b;
		if ((b = strstr(buf, "-----BEGIN OPENSSH PRIVATE KEY-----")) != NULL) {
			b = strchr(b + 5, '\n');
			type = b ? openssh_private_type(b + 1, &enc) : NULL;
		} else if (strstr(buf, "-----BEGIN ENCRYPTED PRIVATE KEY-----")) {
			enc = true; /* PKCS#8: the type is inside the encryption */
		} else {
			if (strstr(buf, "-----BEGIN RSA PRIVATE KEY-----"))
				type = "ssh-rsa";
			else if (strstr(buf, "-----BEGIN DSA PRIVATE KEY-----"))
				type = "ssh-dss";
			else if (strstr(buf, "-----BEGIN EC PRIVATE KEY-----"))
				type = "ecdsa-sha2-nistp256";
			else /* a public key line: "<type> <base64> [comment]" */
				type = known_type(buf, strcspn(buf, " \t\r\n"));
			/* Traditional PEM says so in a header. */
			enc = type && strstr(buf, "Proc-Type: 4,ENCRYPTED") != NULL;
		}
	}
	if (f)
		fclose(f);
	free(buf);
	if (encrypted)
		*encrypted = enc;
	return type;
}
