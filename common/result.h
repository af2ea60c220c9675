/*
 * Result codes and the error record every fallible function fills.
 *
 * A function returns an enum result; on failure it also writes one line of
 * human-readable text into a struct error the caller passed in.  The layer
 * that decides what to do (retry, give up, print) reads both; lower layers
 * never print.  Codes are append-only: each maps to a documented process exit
 * status (see README.md, "Exit codes"), which scripts depend on.
 */
#ifndef CBSYNC_RESULT_H
#define CBSYNC_RESULT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

enum result {
	CB_OK = 0,
	CB_ERR_USAGE,        /* bad command line: unknown verb, flag or value */
	CB_ERR_CONFIG,       /* configuration file or environment is invalid */
	CB_ERR_NOT_FOUND,    /* database, backup or remote object is missing */
	CB_ERR_CORRUPT,      /* a backup failed a check: gzip, checksum, SQLite */
	CB_ERR_IO,           /* the operating system refused: permission, space */
	CB_ERR_BUSY,         /* another cbsync holds the lock, or the DB is busy */
	CB_ERR_DB,           /* SQLite reported an error on the live database */
	CB_ERR_RETRY,        /* remote unreachable for now: retry later */
	CB_ERR_REMOTE,       /* remote refused: credentials, bucket, host key */
	CB_ERR_NOMEM,
	CB_ERR_INTERNAL,
	CB_ERR_INTERRUPTED,  /* stopped by a signal before it finished */
};

/* Maximum length of one error line, including the terminating NUL. */
#define ERROR_MSG_MAX 768

struct error {
	enum result code;
	int os_errno;     /* the errno behind it, when error_errno set it; else 0 */
	char msg[ERROR_MSG_MAX];
};

/* Record code and a formatted message in err (which may be NULL); returns code. */
enum result error_set(struct error *err, enum result code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* error_nomem(err): the one wording for a failed
 * allocation.  Returns CB_ERR_NOMEM. */
enum result error_nomem(struct error *err);

/* Like error_set, with the text of errno value errnum appended in the style
 * of the seed tool: "[Errno 13] Permission denied: 'path'". */
enum result error_errno(struct error *err, int errnum, const char *path);

/* Prefix the message already in err with "what: " (for context up the stack). */
void error_prefix(struct error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Map an errno value to the closest result code. */
enum result result_from_errno(int errnum);

/* True if a is a worse outcome than b, when several remotes (or other
 * independent steps) fail and one result must stand for them all.  The one
 * order, worst first:
 *   CB_ERR_INTERRUPTED   a stop request ends everything
 *   CB_ERR_CONFIG        a setting that cannot work until a person edits it
 *   CB_ERR_REMOTE        a refusal: credentials, bucket, host key
 *   CB_ERR_CORRUPT       something came back wrong
 *   CB_ERR_RETRY         an outage that goes away by itself
 *   every other failure  (all equal to each other)
 *   CB_OK
 * Equal results are not worse than each other, so a caller that replaces
 * its worst only when result_worse(r, worst) keeps the first of a kind.
 * This is the order "config check --remotes" documents for its exit status;
 * a command that ranks differently says so where it does. */
bool result_worse(enum result a, enum result b);

/* The process exit status documented for a result. */
int result_exit_code(enum result r);

/* A short stable name for a result ("not_found"), for logs and JSON. */
const char *result_name(enum result r);

#endif
