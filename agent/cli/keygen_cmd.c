/*
 * cbsync keygen: a new age identity, written as age-keygen writes one, so
 * that the same file decrypts with cbsync and with `age -d -i FILE`; with
 * --signing, an Ed25519 key pair for [signing] (crypto/sign.h).
 */
#include "agent/cli/commands.h"
#include "common/fsutil.h"
#include "common/timeutil.h"
#include "crypto/agekey.h"
#include "crypto/sign.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
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

static enum result write_new(const char *path, const char *text, mode_t mode, struct error *err)
{
	struct atomic_file af;
	struct stat st;
	if (stat(path, &st) == 0)
		return error_set(err, CB_ERR_USAGE,
				 "refusing to overwrite '%s'; HINT: a key file is never replaced, "
				 "name a new one", path);
	enum result r = atomic_file_open(&af, path, mode, err);
	if (r)
		return r;
	struct commit_opts no_replace = {.no_replace = true};
	if (!(r = atomic_file_write(&af, text, strlen(text), err)))
		r = atomic_file_commit(&af, &no_replace, err);
	atomic_file_abort(&af);
	return r;
}

/* --signing: the private key to --out (or standard output), its public
 * half beside it as FILE.pub, and the verify key line on standard error. */
static enum result signing_key(struct cli *cli, struct error *err)
{
	char *priv = NULL, *pub = NULL, *line = NULL, *pub_path = NULL;
	enum result r = sign_keygen(&priv, &pub, &line, err);
	if (!r && cli->out) {
		size_t n = strlen(cli->out) + 5;
		struct stat st;
		if (!(pub_path = malloc(n)))
			r = error_nomem(err);
		else if (snprintf(pub_path, n, "%s.pub", cli->out), stat(pub_path, &st) == 0)
			r = error_set(err, CB_ERR_USAGE,
				      "refusing to overwrite '%s'; HINT: a key file is never "
				      "replaced, name a new one", pub_path);
		else if (!(r = write_new(cli->out, priv, 0600, err)))
			r = write_new(pub_path, pub, 0644, err);
	} else if (!r && (fputs(priv, stdout) < 0 || fflush(stdout) != 0)) {
		r = error_set(err, CB_ERR_IO, "cannot write the key: %s", strerror(errno));
	}
	if (!r)
		fprintf(stderr, "Verify key: %s\n", line);
	if (priv)
		OPENSSL_cleanse(priv, strlen(priv));
	free(priv);
	free(pub);
	free(line);
	free(pub_path);
	return r;
}

enum result cmd_keygen(struct cli *cli, struct error *err)
{
	if (cli->signing)
		return signing_key(cli, err);
	uint8_t secret[AGE_KEY_LEN], pub[AGE_KEY_LEN];
	char recipient[AGE_KEY_TEXT], text[256];
	enum result r = age_identity_generate(secret, err);
	if (!r)
		r = age_recipient_of(secret, pub, err);
	if (!r) {
		age_recipient_encode(pub, recipient);
		identity_text(secret, recipient, text, sizeof(text));
		if (cli->out) {
			r = write_new(cli->out, text, 0600, err);
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
