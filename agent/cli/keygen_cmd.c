/*
 * cbsync keygen: a new age identity, written as age-keygen writes one, so
 * that the same file decrypts with cbsync and with `age -d -i FILE`.
 */
#include "agent/cli/commands.h"
#include "common/fsutil.h"
#include "common/timeutil.h"
#include "crypto/agekey.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* The identity file's text: a '# created:' line, a '# public key:' line
 * and the secret key. */
static int identity_text(const uint8_t secret[AGE_KEY_LEN], const char *recipient, char *out,
			 size_t size)
{
	char created[40], key[AGE_KEY_TEXT];
	time_format_iso(time_now(), created, sizeof(created));
	age_identity_encode(secret, key);
	int n = snprintf(out, size, "# created: %s\n# public key: %s\n%s\n", created, recipient,
			 key);
	OPENSSL_cleanse(key, sizeof(key));
	return n;
}

static enum result write_new(const char *path, const char *text, struct error *err)
{
	struct atomic_file af;
	struct stat st;
	if (stat(path, &st) == 0)
		return error_set(err, CB_ERR_USAGE,
				 "refusing to overwrite '%s'; HINT: an identity file is never "
				 "replaced, name a new one", path);
	enum result r = atomic_file_open(&af, path, 0600, err);
	if (r)
		return r;
	struct commit_opts no_replace = {.no_replace = true};
	if (!(r = atomic_file_write(&af, text, strlen(text), err)))
		r = atomic_file_commit(&af, &no_replace, err);
	atomic_file_abort(&af);
	return r;
}

enum result cmd_keygen(struct cli *cli, struct error *err)
{
	uint8_t secret[AGE_KEY_LEN], pub[AGE_KEY_LEN];
	char recipient[AGE_KEY_TEXT], text[256];
	enum result r = age_identity_generate(secret, err);
	if (!r)
		r = age_recipient_of(secret, pub, err);
	if (!r) {
		age_recipient_encode(pub, recipient);
		identity_text(secret, recipient, text, sizeof(text));
		if (cli->out) {
			r = write_new(cli->out, text, err);
		} else if (fputs(text, stdout) < 0 || fflush(stdout) != 0) {
			r = error_set(err, CB_ERR_IO, "cannot write the identity: %s",
				      strerror(errno));
		}
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(text, sizeof(text));
	if (!r)
		fprintf(stderr, "Public key: %s\n", recipient);
	return r;
}
