/*
 * Unit tests for the SFTP backend's pure helpers: the url setting, remote
 * paths and URLs, quote commands (backends/sftp/sftp_url.c), listing lines
 * (sftp_list_parse.c), host key fingerprints and key file types
 * (sftp_keys.c), known_hosts (sftp_knownhosts.c) and error classification
 * (sftp_fail.c).
 *
 * Run with arguments, the same program is the small driver that
 * tests/integration/test_sftp_backend.py uses to work one backend operation
 * at a time against its sshd (the contract suite runs whole sequences and
 * cannot be stopped half way):
 *
 *   test_sftp drive put KEY FILE            backend_put_file
 *   test_sftp drive put-slow KEY FILE MS    put in 64 KiB writes, MS ms apart,
 *                                           printing "wrote N" after each
 *   test_sftp drive get KEY FILE            backend_get into FILE
 *   test_sftp drive list PREFIX             one "key<TAB>size<TAB>mtime" line each
 *   test_sftp drive remove KEY
 *   test_sftp drive remove-stale EPOCH      prints "removed N"
 *   test_sftp drive twice FILE CMD ARGS...  CMD, then create FILE.ready, wait
 *                                           for FILE to exist, CMD again
 *
 * The remote is "t", read from CBSYNC_REMOTE_T_* exactly as cbsync reads it.
 * On failure the driver prints "result=<name>" and the error line on
 * stderr and exits 1.  Without arguments (as CTest runs it) it needs no
 * server and only runs the unit tests.
 */
#include "backends/sftp/sftp_internal.h"
#include "common/cancel.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- url -------------------------------------------------------------------- */

static void url_absolute(void **state)
{
	(void)state;
	struct sftp_url u;
	struct error err = {0};
	assert_int_equal(sftp_url_parse("sftp://backup@example.org:2222/srv/cb/", &u, &err), CB_OK);
	assert_string_equal(u.user, "backup");
	assert_string_equal(u.host, "example.org");
	assert_string_equal(u.host_plain, "example.org");
	assert_int_equal(u.port, 2222);
	assert_false(u.home_relative);
	assert_string_equal(u.root, "/srv/cb");
	assert_string_equal(u.base, "sftp://example.org:2222/srv/cb");
	char *s = sftp_url_of(&u, "a/b.db.gz", false);
	assert_string_equal(s, "sftp://example.org:2222/srv/cb/a/b.db.gz");
	free(s);
	s = sftp_url_of(&u, "a", true);
	assert_string_equal(s, "sftp://example.org:2222/srv/cb/a/");
	free(s);
	s = sftp_url_of(&u, "", true);
	assert_string_equal(s, "sftp://example.org:2222/srv/cb/");
	free(s);
	s = sftp_path_of(&u, "a/b.db.gz");
	assert_string_equal(s, "/srv/cb/a/b.db.gz");
	free(s);
	s = sftp_path_of(&u, "");
	assert_string_equal(s, "/srv/cb");
	free(s);
	sftp_url_free(&u);
}

static void url_defaults_and_encoding(void **state)
{
	(void)state;
	struct sftp_url u;
	struct error err = {0};
	/* Port 22 by default; an encoded path is decoded for the server and
	 * encoded again in URLs. */
	assert_int_equal(sftp_url_parse("sftp://a%40b@host/my%20backups", &u, &err), CB_OK);
	assert_string_equal(u.user, "a@b");
	assert_int_equal(u.port, 22);
	assert_string_equal(u.root, "/my backups");
	char *s = sftp_url_of(&u, "x.db.gz", false);
	assert_string_equal(s, "sftp://host:22/my%20backups/x.db.gz");
	free(s);
	s = sftp_path_of(&u, "x.db.gz");
	assert_string_equal(s, "/my backups/x.db.gz");
	free(s);
	sftp_url_free(&u);

	assert_int_equal(sftp_url_parse("sftp://u@[::1]:2200/b", &u, &err), CB_OK);
	assert_string_equal(u.host, "[::1]");
	assert_string_equal(u.host_plain, "::1");
	assert_string_equal(u.base, "sftp://[::1]:2200/b");
	sftp_url_free(&u);
}

static void url_home_relative(void **state)
{
	(void)state;
	struct sftp_url u;
	struct error err = {0};
	assert_int_equal(sftp_url_parse("sftp://u@h/~/backups/cb", &u, &err), CB_OK);
	assert_true(u.home_relative);
	assert_string_equal(u.root, "backups/cb");
	assert_string_equal(u.base, "sftp://h:22/~/backups/cb");
	char *s = sftp_path_of(&u, "k.json");
	assert_string_equal(s, "backups/cb/k.json");
	free(s);
	sftp_url_free(&u);

	assert_int_equal(sftp_url_parse("sftp://u@h/~", &u, &err), CB_OK);
	assert_true(u.home_relative);
	assert_string_equal(u.root, "");
	assert_string_equal(u.base, "sftp://h:22/~");
	s = sftp_url_of(&u, "k", false);
	assert_string_equal(s, "sftp://h:22/~/k");
	free(s);
	s = sftp_path_of(&u, "k");
	assert_string_equal(s, "k");
	free(s);
	s = sftp_path_of(&u, "");
	assert_string_equal(s, ".");
	free(s);
	sftp_url_free(&u);
}

static void url_refused(void **state)
{
	(void)state;
	static const struct {
		const char *url;
		const char *says;
	} bad[] = {
		{"https://u@h/x", "sftp://"},
		{"sftp://h/x", "no user"},
		{"sftp://u:secret@h/x", "password"},
		{"sftp://u@h/", "no directory"},
		{"sftp://u@h", "no directory"},
		{"sftp://u@h/x?y=1", "query"},
		{"sftp://u@h:99999/x", "not a valid URL"},
		{"not a url", "not a valid URL"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		struct sftp_url u;
		struct error err = {0};
		assert_int_equal(sftp_url_parse(bad[i].url, &u, &err), CB_ERR_CONFIG);
		if (!strstr(err.msg, bad[i].says))
			fail_msg("%s: \"%s\" does not say \"%s\"", bad[i].url, err.msg, bad[i].says);
		/* The password never shows. */
		assert_null(strstr(err.msg, "secret"));
	}
}

static void quote_commands(void **state)
{
	(void)state;
	char *q = sftp_quote_cmd("rename", "/a b/.cbsync-tmp-x.1", "/a b/x");
	assert_string_equal(q, "rename \"/a b/.cbsync-tmp-x.1\" \"/a b/x\"");
	free(q);
	q = sftp_quote_cmd("*rm", "/we\"ird\\dir/x", NULL);
	assert_string_equal(q, "*rm \"/we\\\"ird\\\\dir/x\"");
	free(q);
}

/* ---- listing lines ---------------------------------------------------------- */

static void list_lines(void **state)
{
	(void)state;
	struct sftp_entry e;
	/* 2026-11-26 08:34 UTC */
	int64_t now = 1795682040;
	assert_true(sftp_parse_list_line(
		"-rw-------    1 root     root         1234 Nov 26 08:34 x.db.gz", now, &e));
	assert_int_equal(e.type, '-');
	assert_int_equal(e.size, 1234);
	assert_int_equal(e.name_len, strlen("x.db.gz"));
	assert_memory_equal(e.name, "x.db.gz", e.name_len);
	assert_int_equal(e.mtime, now);

	/* A date in "the future" without a year is last year's. */
	assert_true(sftp_parse_list_line(
		"-rw-r--r--    1 1000     1000           7 Dec 24 18:00 late", now, &e));
	assert_int_equal(e.mtime, 1766599200); /* 2025-12-24 18:00 UTC */

	/* Older files carry a year; names may hold spaces. */
	assert_true(sftp_parse_list_line(
		"-rw-r--r--    1 backup   users   9876543210 Feb  3  2024 a name  with spaces", now,
		&e));
	assert_int_equal(e.size, 9876543210ULL);
	assert_int_equal(e.mtime, 1706918400); /* 2024-02-03 00:00 UTC */
	assert_int_equal(e.name_len, strlen("a name  with spaces"));
	assert_memory_equal(e.name, "a name  with spaces", e.name_len);

	assert_true(sftp_parse_list_line(
		"drwx------    2 root     root         4096 Nov 26 08:34 many", now, &e));
	assert_int_equal(e.type, 'd');
	assert_true(sftp_parse_list_line(
		"lrwxrwxrwx    1 root     root            3 Nov 26 08:34 ln -> x.db.gz", now, &e));
	assert_int_equal(e.type, 'l');
	/* A group name that looks like a month does not confuse it. */
	assert_true(sftp_parse_list_line(
		"-rw-------    1 may      Jun           12 Nov 26 08:34 .cbsync-tmp-x.ab12", now,
		&e));
	assert_int_equal(e.size, 12);
	assert_int_equal(e.name_len, strlen(".cbsync-tmp-x.ab12"));
	/* The name is every byte after the one blank: leading and trailing
	 * blanks, a carriage return, an escape sequence. */
	assert_true(sftp_parse_list_line(
		"-rw-------    1 root     root           12 Nov 26 08:34  \x1b[31mx \r", now, &e));
	assert_int_equal(e.name_len, strlen(" \x1b[31mx \r"));
	assert_memory_equal(e.name, " \x1b[31mx \r", e.name_len);
	/* A name that starts with a newline: nothing of it on this line. */
	assert_true(sftp_parse_list_line(
		"-rw-------    1 root     root           12 Nov 26 08:34 ", now, &e));
	assert_int_equal(e.name_len, 0);

	assert_false(sftp_parse_list_line("", now, &e));
	assert_false(sftp_parse_list_line("total 12", now, &e));
	assert_false(sftp_parse_list_line("-rw------- 1 root root 12 Nov 26 08:34", now, &e));
	assert_false(sftp_parse_list_line("-rw------- 1 root root 12 Nov 32 08:34 x", now, &e));
}

/* ---- whole listings ----------------------------------------------------------------- */

struct names {
	char got[1024];         /* the names fn saw, each followed by "|" */
	size_t n;
};

static enum result collect(void *ctx, const struct sftp_entry *e, struct error *err)
{
	struct names *c = ctx;
	(void)err;
	size_t len = strlen(c->got);
	assert_true(len + e->name_len + 2 < sizeof(c->got));
	memcpy(c->got + len, e->name, e->name_len);
	c->got[len + e->name_len] = '|';
	c->got[len + e->name_len + 1] = '\0';
	c->n++;
	return CB_OK;
}

/* Read text as one listing, handed over in pieces of step bytes; the names
 * seen, or NULL with err filled. */
static const char *read_listing(struct names *c, const char *text, size_t len, size_t step,
				size_t *skipped, struct error *err)
{
	struct sftp_list_reader r;
	memset(c, 0, sizeof(*c));
	assert_int_equal(sftp_list_reader_init(&r, 1795682040, collect, c, err), CB_OK);
	enum result res = CB_OK;
	for (size_t i = 0; i < len && !res; i += step)
		res = sftp_list_reader_feed(&r, text + i, len - i < step ? len - i : step, err);
	if (!res)
		res = sftp_list_reader_end(&r, err);
	*skipped = r.skipped;
	sftp_list_reader_free(&r);
	return res ? NULL : c->got;
}

#define F(name) "-rw-------    1 root     root         1234 Nov 26 08:34 " name "\n"
#define D(name) "drwx------    2 root     root         4096 Nov 26 08:34 " name "\n"

static void list_reader(void **state)
{
	(void)state;
	struct names c;
	struct error err = {0};
	size_t skipped;
	static const char plain[] = D(".") D("..") F("a.db.gz") F("a name") D("sub");
	static const char odd[] =
		D(".") F("before")
		F("bad\nname_daily_20200101_000000.db.gz")   /* a newline inside */
		F("cloudbrain_daily_20200101_000000.db.gz\n") /* one at the end */
		F("\n")                                      /* nothing but */
		F(" lead") F("trail ") F("\x1b[31mred\x1b[0m")
		"lrwxrwxrwx    1 root     root            3 Nov 26 08:34 ln -> a\nb\n"
		F("after");
	/* In any pieces, byte by byte included. */
	static const size_t steps[] = {1, 2, 7, 64, 100000};
	for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
		assert_string_equal(read_listing(&c, plain, strlen(plain), steps[i], &skipped, &err),
				    ".|..|a.db.gz|a name|sub|");
		assert_int_equal(skipped, 0);
		assert_string_equal(read_listing(&c, odd, strlen(odd), steps[i], &skipped, &err),
				    ".|before|bad\nname_daily_20200101_000000.db.gz|"
				    "cloudbrain_daily_20200101_000000.db.gz\n|\n| lead|trail |"
				    "\x1b[31mred\x1b[0m|ln -> a\nb|after|");
		assert_int_equal(skipped, 0);
	}
	/* Names of many lines, put back together up to SFTP_MAX_LIST_LINE. */
	static const char lines3[] = F("a\nb\nc") F("d\n\n");
	assert_string_equal(read_listing(&c, lines3, strlen(lines3), 3, &skipped, &err),
			    "a\nb\nc|d\n\n|");
	size_t cap = SFTP_MAX_LIST_LINE + 4096, n = 0;
	char *many = malloc(cap);
	assert_non_null(many);
	n += (size_t)snprintf(many + n, cap - n, "%s%s", F("first"),
			      "-rw-------    1 root     root         1234 Nov 26 08:34 n");
	for (size_t i = 0; i < SFTP_MAX_LIST_LINE / 1000 + 1; i++) {
		many[n++] = '\n';
		memset(many + n, 'n', 999);
		n += 999;
	}
	n += (size_t)snprintf(many + n, cap - n, "\n%s", F("last"));
	assert_true(n < cap);
	assert_string_equal(read_listing(&c, many, n, 4096, &skipped, &err), "first|last|");
	assert_int_equal(skipped, 1);
	free(many);

	/* The last line needs no newline. */
	static const char last[] = F("x") "-rw-------    1 root     root  1 Nov 26 08:34 y";
	assert_string_equal(read_listing(&c, last, strlen(last), 5, &skipped, &err), "x|y|");

	/* A line too long for any name is left out, with the entry it
	 * continues. */
	size_t big = SFTP_MAX_LIST_LINE + 100;
	char *text = malloc(big + 200);
	assert_non_null(text);
	n = 0;
	n += (size_t)snprintf(text + n, 200, F("first"));
	n += (size_t)snprintf(text + n, 200, F("held"));
	memset(text + n, 'x', big);
	n += big;
	n += (size_t)snprintf(text + n, 200, "\n%s", F("next"));
	assert_string_equal(read_listing(&c, text, n, 4096, &skipped, &err), "first|next|");
	assert_int_equal(skipped, 1);
	/* Even as the first line. */
	memset(text, 'x', big);
	n = big;
	n += (size_t)snprintf(text + n, 200, "\nmore\n%s", F("next"));
	assert_string_equal(read_listing(&c, text, n, 4096, &skipped, &err), "next|");
	assert_int_equal(skipped, 1);
	free(text);

	/* A first line that is no entry: a format this reader does not know,
	 * shown without its control characters. */
	static const char unknown[] = "name\x1b[2J.db.gz 1234\n" F("x");
	assert_null(read_listing(&c, unknown, strlen(unknown), 3, &skipped, &err));
	assert_int_equal(err.code, CB_ERR_REMOTE);
	assert_string_equal(err.msg, "unexpected line \"name?[2J.db.gz 1234\"");
	assert_int_equal(c.n, 0);
}

/* ---- fingerprints and keys ------------------------------------------------------ */

static const char test_pub[] =
	"AAAAC3NzaC1lZDI1NTE5AAAAID3YbsVWIbg1/ens7D0kBLWyC24ALX3KUnzvBYUACW5H";
static const char test_fp[] = "SHA256:r2I+qORJZdqmXZUW9rbZytTmR2YqrLk9eaooYnEp9Ak";

static void fingerprints(void **state)
{
	(void)state;
	char fp[64];
	/* As ssh-keygen -lf prints it, from base64 ... */
	sftp_fingerprint_of(test_pub, 0, fp, sizeof(fp));
	assert_string_equal(fp, test_fp);
	/* ... and from the raw blob. */
	unsigned char raw[128];
	int n = EVP_DecodeBlock(raw, (const unsigned char *)test_pub, (int)strlen(test_pub));
	assert_int_equal(n, 51); /* an ed25519 key blob; 68 base64 digits, no padding */
	sftp_fingerprint_of((const char *)raw, (size_t)n, fp, sizeof(fp));
	assert_string_equal(fp, test_fp);
	/* Base64 with one and two "=" of padding. */
	sftp_fingerprint_of("AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBBTY1rjpOHI0xGl3"
			    "SUwhuk1kgT2+4NDFMDu7jzEeD3tS8n6tIJYtPWaepg28UMtu8R0b/Ljs8TUMRLIcU3HO"
			    "4EY=",
			    0, fp, sizeof(fp));
	assert_string_equal(fp, "SHA256:GcHBmD+qGUvpBwpWQFLdPYE2Xc3sBdjCG97K3gq+KAk");
	sftp_fingerprint_of("AAAAB3NzaC1yc2EAAAADAQABAAAAgQDGEIXsSPkIQrzV0u9NUiLeiz8QlXrluDp3IAI6"
			    "sNpswLyAcbmV6C8BZIIfsTUmhwjRbSnXCJvhTXCdZGmpwFXpkI+cW1qBpc3fQKHHMZk1"
			    "D4ceRhQ5Cg9peUwraICQ8v3QS1/PZ/fLE4BHPOHCNETF6II/WOQym8KVALJ6kAYvvw==",
			    0, fp, sizeof(fp));
	assert_string_equal(fp, "SHA256:gPwV6Td7n98O8GcBG+OPM2TJbD+BiiZ7vFXYXjUM3hE");
	sftp_fingerprint_of("not base64!", 0, fp, sizeof(fp));
	assert_string_equal(fp, "SHA256:?");

	char out[SFTP_FP_B64_LEN + 1];
	assert_true(sftp_fingerprint_parse(test_fp, out));
	assert_string_equal(out, test_fp + 7);
	assert_true(sftp_fingerprint_parse(test_fp + 7, out));
	assert_string_equal(out, test_fp + 7);
	char padded[80];
	snprintf(padded, sizeof(padded), "%s=", test_fp);
	assert_true(sftp_fingerprint_parse(padded, out));
	assert_string_equal(out, test_fp + 7);
	assert_false(sftp_fingerprint_parse("SHA256:short", out));
	assert_false(sftp_fingerprint_parse("MD5:r2I+qORJZdqmXZUW9rbZytTmR2YqrLk9eaooYnEp9Ak", out));
	assert_false(sftp_fingerprint_parse("SHA256:r2I+qORJZdqmXZUW9rbZytTmR2YqrLk9eaooYnEp9A!", out));
	assert_false(sftp_fingerprint_parse("", out));
	assert_string_equal(sftp_khtype_name(CURLKHTYPE_ED25519), "ED25519");
}

static char *write_temp(const char *content)
{
	char *path = strdup("/tmp/cbsync-sftp-test-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	return path;
}

static size_t put_string(unsigned char *p, const char *s, size_t n)
{
	p[0] = (unsigned char)(n >> 24);
	p[1] = (unsigned char)(n >> 16);
	p[2] = (unsigned char)(n >> 8);
	p[3] = (unsigned char)n;
	memcpy(p + 4, s, n);
	return 4 + n;
}

static void key_file_types(void **state)
{
	(void)state;
	char *path = write_temp("ssh-ed25519 AAAAC3Nza... me@host\n");
	assert_string_equal(sftp_key_file_type(path, NULL), "ssh-ed25519");
	unlink(path);
	free(path);
	path = write_temp("-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n-----END RSA PRIVATE KEY-----\n");
	assert_string_equal(sftp_key_file_type(path, NULL), "ssh-rsa");
	unlink(path);
	free(path);

	/* The OpenSSH format: the public half, with its type, in the clear
	 * (also when the private half is encrypted). */
	unsigned char blob[256], pub[64];
	size_t pn = put_string(pub, "ssh-rsa", 7);
	pn += put_string(pub + pn, "\x01\x00\x01", 3);
	size_t n = 0;
	memcpy(blob, "openssh-key-v1", 15);
	n = 15;
	n += put_string(blob + n, "aes256-ctr", 10);
	n += put_string(blob + n, "bcrypt", 6);
	n += put_string(blob + n, "0123456789abcdef", 16);
	memcpy(blob + n, "\0\0\0\1", 4);
	n += 4;
	n += put_string(blob + n, (const char *)pub, pn);
	unsigned char b64[400];
	EVP_EncodeBlock(b64, blob, (int)n);
	char text[600];
	snprintf(text, sizeof(text),
		 "-----BEGIN OPENSSH PRIVATE KEY-----\n%.60s\n%s\n-----END OPENSSH PRIVATE KEY-----\n",
		 (const char *)b64, (const char *)b64 + 60);
	path = write_temp(text);
	bool encrypted = false;
	assert_string_equal(sftp_key_file_type(path, &encrypted), "ssh-rsa");
	assert_true(encrypted); /* aes256-ctr */
	unlink(path);
	free(path);

	path = write_temp("garbage\n");
	assert_null(sftp_key_file_type(path, NULL));
	unlink(path);
	free(path);
	assert_null(sftp_key_file_type("/nonexistent/key", NULL));
	bool enc = true;
	path = write_temp("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES\n");
	assert_string_equal(sftp_key_file_type(path, &enc), "ssh-rsa");
	assert_true(enc);
	unlink(path);
	free(path);
}

/* ---- known_hosts ------------------------------------------------------------------ */

static bool names(const char *field, const char *host)
{
	return sftp_kh_host_matches(field, strlen(field), host);
}

static void known_hosts_patterns(void **state)
{
	(void)state;
	assert_true(names("backup.example.org", "backup.example.org"));
	assert_true(names("Backup.Example.ORG", "backup.example.org"));
	assert_true(names("a.example.org,backup.example.org,10.0.0.1", "backup.example.org"));
	assert_false(names("backup.example.org", "backup.example.org.evil"));
	assert_true(names("*.example.org", "backup.example.org"));
	assert_true(names("backup?.example.org", "backup2.example.org"));
	assert_false(names("!backup.example.org,*.example.org", "backup.example.org"));
	assert_true(names("!other.example.org,*.example.org", "backup.example.org"));
	/* Brackets are literal, and the port must match. */
	assert_true(names("[127.0.0.1]:2222", "[127.0.0.1]:2222"));
	assert_false(names("[127.0.0.1]:2222", "[127.0.0.1]:22"));
	assert_false(names("127.0.0.1", "[127.0.0.1]:2222"));
	/* Hashed names (ssh-keygen -H): HMAC-SHA1 of the name. */
	assert_true(names("|1|AAECAwQFBgcICQoLDA0ODxAREhM=|zKYaAqmSav3Qxr2sffNqWFIcbe4=",
			  "[127.0.0.1]:2222"));
	assert_false(names("|1|AAECAwQFBgcICQoLDA0ODxAREhM=|zKYaAqmSav3Qxr2sffNqWFIcbe4=",
			   "[127.0.0.1]:2223"));
	assert_true(names("|1|AAECAwQFBgcICQoLDA0ODxAREhM=|ftSRUCgylF+RYTZ6PURdGY8gKkw=",
			  "backup.example.org"));
	assert_false(names("|1|garbage", "backup.example.org"));
}

static void known_hosts_selection(void **state)
{
	(void)state;
	struct sftp_kh kh;
	struct error err = {0};
	const char *file =
		"# a comment\n"
		"\n"
		"|1|AAECAwQFBgcICQoLDA0ODxAREhM=|ftSRUCgylF+RYTZ6PURdGY8gKkw= ssh-rsa AAAArsa\n"
		"other.example.org ecdsa-sha2-nistp256 AAAAother\n"
		"@cert-authority *.example.org ssh-ed25519 AAAAca\n"
		"|1|AAECAwQFBgcICQoLDA0ODxAREhM=|zKYaAqmSav3Qxr2sffNqWFIcbe4= ecdsa-sha2-nistp256 "
		"AAAAecdsa\r\n"
		"[127.0.0.1]:2222,[127.0.0.1]:2223 ssh-ed25519 AAAAed25519 comment here\n"
		"[127.0.0.1]:2222 sk-ssh-ed25519@openssh.com AAAAsk\n"
		"@revoked [127.0.0.1]:2222 ssh-ed25519 AAAAold\n"
		"[127.0.0.1]:2222 ssh-rsa AAAArsa2";
	assert_int_equal(sftp_kh_select(file, "[127.0.0.1]:2222", &kh, &err), CB_OK);
	/* ed25519 before ECDSA, spelt plainly; RSA, sk- and CA lines left out. */
	assert_string_equal(kh.text, "[127.0.0.1]:2222 ssh-ed25519 AAAAed25519\n"
				     "[127.0.0.1]:2222 ecdsa-sha2-nistp256 AAAAecdsa\n");
	assert_int_equal(kh.n_lines, 2);
	assert_int_equal(kh.n_revoked, 1);
	assert_string_equal(kh.revoked[0], "AAAAold");
	assert_false(kh.rsa_only_skipped);
	sftp_kh_free(&kh);

	/* Only RSA known: nothing libssh2 can use, and that is noted. */
	assert_int_equal(sftp_kh_select(file, "backup.example.org", &kh, &err), CB_OK);
	assert_string_equal(kh.text, "");
	assert_int_equal(kh.n_lines, 0);
	assert_true(kh.rsa_only_skipped);
	sftp_kh_free(&kh);

	assert_int_equal(sftp_kh_select("", "nowhere", &kh, &err), CB_OK);
	assert_string_equal(kh.text, "");
	assert_false(kh.rsa_only_skipped);
	sftp_kh_free(&kh);
}

/* ---- results ---------------------------------------------------------------------- */

static void classification(void **state)
{
	(void)state;
	assert_int_equal(sftp_classify(CURLE_OK, ""), CB_OK);
	assert_int_equal(sftp_classify(CURLE_COULDNT_CONNECT, ""), CB_ERR_RETRY);
	assert_int_equal(sftp_classify(CURLE_OPERATION_TIMEDOUT, ""), CB_ERR_RETRY);
	assert_int_equal(sftp_classify(CURLE_RECV_ERROR, ""), CB_ERR_RETRY);
	assert_int_equal(sftp_classify(CURLE_SSH, ""), CB_ERR_RETRY);
	assert_int_equal(sftp_classify(CURLE_LOGIN_DENIED, ""), CB_ERR_REMOTE);
	assert_int_equal(sftp_classify(CURLE_PEER_FAILED_VERIFICATION, ""), CB_ERR_REMOTE);
	assert_int_equal(sftp_classify(CURLE_REMOTE_ACCESS_DENIED, ""), CB_ERR_REMOTE);
	assert_int_equal(sftp_classify(CURLE_REMOTE_FILE_NOT_FOUND, ""), CB_ERR_NOT_FOUND);
	assert_int_equal(sftp_classify(CURLE_ABORTED_BY_CALLBACK, ""), CB_ERR_INTERRUPTED);
	assert_int_equal(sftp_classify(CURLE_QUOTE_ERROR, "rm command failed: Permission denied"),
			 CB_ERR_REMOTE);
	assert_int_equal(sftp_classify(CURLE_QUOTE_ERROR, "rename command failed: Operation failed"),
			 CB_ERR_RETRY);
	assert_int_equal(sftp_classify(CURLE_FAILED_INIT,
				       "Failure establishing ssh session: -5, Unable to exchange "
				       "encryption keys"),
			 CB_ERR_REMOTE);
	assert_int_equal(sftp_classify(CURLE_FAILED_INIT,
				       "Failure establishing ssh session: -13, Failed getting banner"),
			 CB_ERR_RETRY);
}

static void home_expansion(void **state)
{
	(void)state;
	setenv("HOME", "/home/cb", 1);
	char *s = sftp_expand_home("~/.ssh/known_hosts");
	assert_string_equal(s, "/home/cb/.ssh/known_hosts");
	free(s);
	s = sftp_expand_home("/etc/ssh/known");
	assert_string_equal(s, "/etc/ssh/known");
	free(s);
	s = sftp_expand_home("~other/x");
	assert_string_equal(s, "~other/x");
	free(s);
}

/* ---- the driver ---------------------------------------------------------------------- */

static int drive_fail(enum result r, const struct error *err)
{
	fprintf(stderr, "result=%s\n%s\n", result_name(r), err->msg);
	return 1;
}

static enum result to_file(void *ctx, const void *buf, size_t len, struct error *err)
{
	FILE *f = ctx;
	if (fwrite(buf, 1, len, f) != len)
		return error_set(err, CB_ERR_IO, "cannot write the output file");
	return CB_OK;
}

/* put_begin / put_write in 64 KiB pieces, ms apart / put_commit. */
static enum result put_slow(struct backend *be, const char *key, const char *path, long ms,
			    struct error *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return error_errno(err, errno, path);
	fseek(f, 0, SEEK_END);
	struct backend_put_info info = {.size = (uint64_t)ftell(f)};
	rewind(f);
	void *put = NULL;
	enum result r = be->ops->put_begin(be->ctx, key, &info, &put, err);
	static unsigned char buf[1 << 16];
	uint64_t total = 0;
	size_t n;
	while (!r && (n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (cancel_requested()) {
			r = error_set(err, CB_ERR_INTERRUPTED, "interrupted");
			break;
		}
		r = be->ops->put_write(put, buf, n, err);
		total += n;
		printf("wrote %llu\n", (unsigned long long)total);
		fflush(stdout);
		struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
		nanosleep(&ts, NULL);
	}
	fclose(f);
	if (put && r) {
		be->ops->put_abort(put);
		return r;
	}
	return r ? r : be->ops->put_commit(put, err);
}

static enum result run_command(struct backend *be, int argc, char **argv, struct error *err)
{
	enum result r;
	const char *cmd = argv[0];
	if (strcmp(cmd, "put") == 0 && argc == 3) {
		r = backend_put_file(be, argv[1], argv[2], NULL, err);
	} else if (strcmp(cmd, "put-slow") == 0 && argc == 4) {
		r = put_slow(be, argv[1], argv[2], strtol(argv[3], NULL, 10), err);
	} else if (strcmp(cmd, "get") == 0 && argc == 3) {
		FILE *f = fopen(argv[2], "wb");
		r = f ? backend_get(be, argv[1], to_file, f, err) : error_errno(err, errno, argv[2]);
		if (f)
			fclose(f);
	} else if (strcmp(cmd, "list") == 0 && argc == 2) {
		struct backend_listing l;
		r = backend_list(be, argv[1], &l, err);
		for (size_t i = 0; !r && i < l.n; i++)
			printf("%s\t%llu\t%lld\n", l.items[i].key, (unsigned long long)l.items[i].size,
			       (long long)l.items[i].mtime);
		if (!r)
			backend_listing_free(&l);
	} else if (strcmp(cmd, "remove") == 0 && argc == 2) {
		r = backend_remove(be, argv[1], err);
	} else if (strcmp(cmd, "remove-stale") == 0 && argc == 2) {
		size_t removed = 0;
		r = be->ops->remove_stale(be->ctx, strtoll(argv[1], NULL, 10), &removed, err);
		if (!r)
			printf("removed %zu\n", removed);
	} else if (strcmp(cmd, "twice") == 0 && argc >= 3) {
		/* CMD, then "<FILE>.ready", then wait for FILE (the test
		 * restarts the server meanwhile), then CMD again on the same
		 * backend instance. */
		if ((r = run_command(be, argc - 2, argv + 2, err)))
			return r;
		fflush(stdout);
		char ready[4096];
		snprintf(ready, sizeof(ready), "%s.ready", argv[1]);
		FILE *f = fopen(ready, "w");
		if (f)
			fclose(f);
		for (int i = 0; i < 3000 && access(argv[1], F_OK) != 0; i++)
			usleep(10000);
		r = run_command(be, argc - 2, argv + 2, err);
	} else {
		fprintf(stderr, "unknown driver command or wrong arguments: %s\n", cmd);
		r = error_set(err, CB_ERR_USAGE, "usage: see tests/unit/sftp/test_sftp.c");
	}
	return r;
}

static int drive(int argc, char **argv)
{
	struct conf conf;
	struct error err = {0};
	size_t nt = 0;
	struct conf_load_opts opts = {.system_path = "/nonexistent/cbsync.conf"};
	opts.remote_types = backend_remote_types(&nt);
	opts.n_remote_types = nt;
	enum result r = conf_load(&conf, &opts, &err);
	if (r)
		return drive_fail(r, &err);
	const struct conf_remote *remote = conf_remote_find(&conf, "t");
	struct backend *be = NULL;
	if (!remote) {
		fprintf(stderr, "define the remote 't' with CBSYNC_REMOTE_T_* variables\n");
		conf_free(&conf);
		return 2;
	}
	if ((r = backend_open(remote, &be, &err))) {
		conf_free(&conf);
		return drive_fail(r, &err);
	}
	cancel_install_handlers();
	r = run_command(be, argc, argv, &err);
	struct backend_stats st = {0};
	be->ops->stats(be->ctx, &st);
	fprintf(stderr, "requests=%llu up=%llu down=%llu\n", (unsigned long long)st.requests,
		(unsigned long long)st.bytes_up, (unsigned long long)st.bytes_down);
	backend_close(be);
	conf_free(&conf);
	return r ? drive_fail(r, &err) : 0;
}

int main(int argc, char **argv)
{
	if (argc > 2 && strcmp(argv[1], "drive") == 0) {
		struct error err = {0};
		if (backend_global_init(&err))
			return drive_fail(err.code, &err);
		int rc = drive(argc - 2, argv + 2);
		backend_global_cleanup();
		return rc;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(url_absolute),
		cmocka_unit_test(url_defaults_and_encoding),
		cmocka_unit_test(url_home_relative),
		cmocka_unit_test(url_refused),
		cmocka_unit_test(quote_commands),
		cmocka_unit_test(list_lines),
		cmocka_unit_test(list_reader),
		cmocka_unit_test(fingerprints),
		cmocka_unit_test(key_file_types),
		cmocka_unit_test(known_hosts_patterns),
		cmocka_unit_test(known_hosts_selection),
		cmocka_unit_test(classification),
		cmocka_unit_test(home_expansion),
	};
	fprintf(stderr, "test_sftp: unit tests only (no server needed); the SFTP backend "
			"against a real sshd is tests/integration/test_sftp_backend.py\n");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
