/*
 * Result codes: formatting error lines, ranking failures against each other
 * and mapping codes to exit statuses.
 */
#include "common/result.h"
#include "common/text.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

enum result error_set(struct error *err, enum result code, const char *fmt, ...)
{
	if (err) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		/* Messages quote names and replies from outside: keep them one
		 * printable line wherever they end up. */
		text_escape_inplace(err->msg, sizeof(err->msg));
		err->code = code;
		err->os_errno = 0;
	}
	return code;
}

enum result error_nomem(struct error *err)
{
	return error_set(err, CB_ERR_NOMEM, "out of memory");
}

enum result result_from_errno(int errnum)
{
	switch (errnum) {
	case ENOENT:
	case ENOTDIR:
		return CB_ERR_NOT_FOUND;
	case ENOMEM:
		return CB_ERR_NOMEM;
	case EINTR:
		return CB_ERR_INTERRUPTED;
	case EWOULDBLOCK:
		return CB_ERR_BUSY;
	default:
		return CB_ERR_IO;
	}
}

enum result error_errno(struct error *err, int errnum, const char *path)
{
	enum result code = result_from_errno(errnum);
	if (path)
		error_set(err, code, "[Errno %d] %s: '%s'", errnum, strerror(errnum), path);
	else
		error_set(err, code, "[Errno %d] %s", errnum, strerror(errnum));
	if (err)
		err->os_errno = errnum;
	return code;
}

void error_prefix(struct error *err, const char *fmt, ...)
{
	char head[ERROR_MSG_MAX];
	char tail[ERROR_MSG_MAX];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	text_escape_inplace(head, sizeof(head));
	memcpy(tail, err->msg, sizeof(tail));
	size_t hl = strlen(head);
	size_t tl = strlen(tail);
	size_t room = sizeof(err->msg) - 1;
	if (hl > room)
		hl = room;
	memcpy(err->msg, head, hl);
	size_t pos = hl;
	if (pos + 2 <= room) {
		memcpy(err->msg + pos, ": ", 2);
		pos += 2;
	}
	if (tl > room - pos)
		tl = room - pos;
	memcpy(err->msg + pos, tail, tl);
	err->msg[pos + tl] = '\0';
}

/* result_worse's order as a number: the higher, the worse. */
static int result_rank(enum result r)
{
	switch (r) {
	case CB_OK:
		return 0;
	case CB_ERR_RETRY:
		return 2;
	case CB_ERR_CORRUPT:
		return 3;
	case CB_ERR_REMOTE:
		return 4;
	case CB_ERR_CONFIG:
		return 5;
	case CB_ERR_INTERRUPTED:
		return 6;
	default:
		return 1;
	}
}

bool result_worse(enum result a, enum result b)
{
	return result_rank(a) > result_rank(b);
}

int result_exit_code(enum result r)
{
	switch (r) {
	case CB_OK:
		return 0;
	case CB_ERR_USAGE:
		return 2;
	case CB_ERR_CONFIG:
		return 3;
	case CB_ERR_NOT_FOUND:
		return 4;
	case CB_ERR_CORRUPT:
		return 5;
	case CB_ERR_IO:
		return 6;
	case CB_ERR_BUSY:
		return 7;
	case CB_ERR_DB:
		return 8;
	case CB_ERR_RETRY:
		return 9;
	case CB_ERR_REMOTE:
		return 10;
	case CB_ERR_INTERRUPTED:
		return 130;
	case CB_ERR_NOMEM:
	case CB_ERR_INTERNAL:
		return 1;
	}
	return 1;
}

const char *result_name(enum result r)
{
	switch (r) {
	case CB_OK: return "ok";
	case CB_ERR_USAGE: return "usage";
	case CB_ERR_CONFIG: return "config";
	case CB_ERR_NOT_FOUND: return "not_found";
	case CB_ERR_CORRUPT: return "corrupt";
	case CB_ERR_IO: return "io";
	case CB_ERR_BUSY: return "busy";
	case CB_ERR_DB: return "database";
	case CB_ERR_RETRY: return "retry";
	case CB_ERR_REMOTE: return "remote";
	case CB_ERR_NOMEM: return "nomem";
	case CB_ERR_INTERNAL: return "internal";
	case CB_ERR_INTERRUPTED: return "interrupted";
	}
	return "unknown";
}
