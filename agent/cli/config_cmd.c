/*
 * cbsync config check: the effective configuration, checked.
 *
 * config check runs every check a command would run before it touches
 * anything: conf_load's (done by main before any verb) and then each
 * remote's backend_open, which is where a backend checks the settings that
 * only it understands (an endpoint that cannot carry the bucket, missing
 * credentials, a URL without a user, no key to log in with, a malformed
 * host key pin).  backend_open connects to nothing, so the check is quick
 * and works offline; every remote is tried, and each one that fails gets its
 * line.
 *
 * config check --remotes goes further, one remote at a time, and reports
 * each in one line: it lists the remote (credentials, bucket or path, host
 * key), writes a small probe object, reads it back, compares and deletes it.
 * The probe's key starts with FS_TMP_PREFIX, so while it exists every
 * listing counts it as an unfinished upload, never as a backup, and should
 * cbsync die before deleting it, the next sync's sweep of stale temp objects
 * removes it (on a mirror or SFTP server).  No backup is uploaded and
 * nothing is written locally.
 */
#include "agent/cli/commands.h"
#include "backends/backend.h"
#include "common/fsutil.h"
#include "common/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A failure's message without the "remote 'NAME': " the backend layer put
 * in front, for a line that already names the remote. */
static const char *without_remote_prefix(const char *msg, const char *name)
{
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "remote '%s': ", name);
	size_t n = strlen(prefix);
	return strncmp(msg, prefix, n) == 0 ? msg + n : msg;
}

/* Remember one remote's failure: the worst so far (result_worse: a setting
 * that cannot work, then a refusal, a probe that came back wrong, and last an
 * outage worth retrying; an interrupt stops everything) goes to the Error
 * line, the first of its kind when several are as bad. */
static void note_failure(enum result r, const struct error *one, enum result *worst,
			 struct error *err)
{
	if (result_worse(r, *worst)) {
		*worst = r;
		*err = *one;
	}
}

/* The Error line when n of total remotes failed: the message in err, with
 * a count in front when it is not the only one ("...; the worst: ..."). */
static enum result checks_failed(enum result worst, size_t n, size_t total, const char *which,
				 struct error *err)
{
	if (n > 1) {
		char one[ERROR_MSG_MAX];
		snprintf(one, sizeof(one), "%s", err->msg);
		error_set(err, worst, "%zu of %zu remotes failed the check; %s: %s", n, total, which,
			  one);
	}
	return worst;
}

/* A probe key no backup can have, unique to this host and process:
 * ".cbsync-tmp-probe-HOST-PID-TIME", HOST cut to the characters a key may
 * hold. */
static void probe_key(char *buf, size_t size)
{
	char host[65] = "";
	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p; p++) {
		bool ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			  (*p >= '0' && *p <= '9') || *p == '-';
		if (!ok)
			*p = '-';
	}
	snprintf(buf, size, "%sprobe-%s-%ld-%lld", FS_TMP_PREFIX, host[0] ? host : "host",
		 (long)getpid(), (long long)time_now());
}

/* List the remote, write a probe, read it back and delete it (also when the
 * read fails or differs).  *listed is the number of objects listed. */
static enum result probe_remote(struct backend *b, size_t *listed, struct error *err)
{
	struct backend_listing l = {0};
	char key[160], body[256], *back = NULL;
	size_t back_len = 0;
	bool written = false;
	enum result r;

	if ((r = backend_list(b, "", &l, err)))
		goto done;
	*listed = l.n;
	probe_key(key, sizeof(key));
	int n = snprintf(body, sizeof(body), "cbsync config check --remotes: a probe object, "
			 "deleted at once; if it is still here, delete it (%s)\n", key);
	size_t len = n > 0 && (size_t)n < sizeof(body) ? (size_t)n : strlen(body);
	written = true;
	if ((r = backend_put_buffer(b, key, body, len, err)))
		goto done;
	if ((r = backend_get_buffer(b, key, sizeof(body), &back, &back_len, err)))
		goto done;
	if (back_len != len || memcmp(back, body, len) != 0)
		r = error_set(err, CB_ERR_CORRUPT, "remote '%s': the probe object '%s' read back "
			      "differs from what was written (%zu bytes, not %zu)", b->name, key,
			      back_len, len);
done:
	if (written) {
		/* Whatever happened after the write began, take the probe away;
		 * a failure to do so matters only if all else went well. */
		struct error rerr = {0};
		enum result rr = backend_remove(b, key, &rerr);
		if (rr && !r) {
			r = rr;
			error_set(err, rr, "%s; HINT: the probe object '%s' is left on the remote: "
				  "delete it by hand", rerr.msg, key);
		}
	}
	free(back);
	backend_listing_free(&l);
	return r;
}

/* config check --remotes: one line per remote on stdout. */
static enum result check_remotes(const struct conf *c, struct error *err)
{
	enum result worst = CB_OK;
	size_t failed = 0;
	char where[512];

	if (c->n_remotes == 0) {
		conf_describe_sources(c, where, sizeof(where));
		return error_set(err, CB_ERR_CONFIG, "nothing to check: %s%s", where,
				 c->source ? "; HINT: add a [remote \"NAME\"] section (see "
					     "'cbsync help backends')" : "");
	}
	for (size_t i = 0; i < c->n_remotes && worst != CB_ERR_INTERRUPTED; i++) {
		const struct conf_remote *rc = &c->remotes[i];
		struct backend *b = NULL;
		struct error one = {0};
		size_t listed = 0;
		double start = time_mono();
		enum result r = backend_open(rc, &b, &one);
		if (!r)
			r = probe_remote(b, &listed, &one);
		backend_close(b);
		double secs = time_mono() - start;
		const char *type = rc->type ? rc->type->type : "?";
		if (r) {
			printf("remote '%s' (%s): FAILED: %s\n", rc->name, type,
			       without_remote_prefix(one.msg, rc->name));
			failed++;
			note_failure(r, &one, &worst, err);
		} else {
			printf("remote '%s' (%s): ok: listed %zu object%s; wrote, read back and "
			       "deleted a probe object in %.2fs\n", rc->name, type, listed,
			       listed == 1 ? "" : "s", secs);
		}
		fflush(stdout);
	}
	return worst ? checks_failed(worst, failed, c->n_remotes, "the worst", err) : CB_OK;
}

/* Open and close every remote: the checks each backend makes of its
 * settings before any command uses it.  With several failures each gets a
 * line on stderr; the Error line names the first (of the worst kind). */
static enum result open_remotes(const struct conf *c, struct error *err)
{
	enum result worst = CB_OK;
	size_t failed = 0;
	struct error *fails = calloc(c->n_remotes + 1, sizeof(*fails));
	if (!fails)
		return error_nomem(err);
	for (size_t i = 0; i < c->n_remotes; i++) {
		struct backend *b = NULL;
		enum result r = backend_open(&c->remotes[i], &b, &fails[failed]);
		backend_close(b);
		if (r)
			note_failure(r, &fails[failed++], &worst, err);
	}
	for (size_t i = 0; failed > 1 && i < failed; i++)
		fprintf(stderr, "invalid: %s\n", fails[i].msg);
	free(fails);
	return worst ? checks_failed(worst, failed, c->n_remotes, "the first", err) : CB_OK;
}

enum result cmd_config(struct cli *cli, struct error *err)
{
	if (cli->check_remotes)
		return check_remotes(&cli->conf, err);
	conf_print(&cli->conf, stdout);
	fflush(stdout);
	enum result r = open_remotes(&cli->conf, err);
	if (r)
		return r;
	fprintf(stderr, "configuration is valid (%s)\n",
		cli->conf.source ? cli->conf.source : "built-in defaults and environment");
	return CB_OK;
}

