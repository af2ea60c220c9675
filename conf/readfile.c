/*
 * How the loader reads a file the configuration names (the config file
 * itself, a KEY_file value), and the words for a mode that lets other users
 * read or change one.
 *
 * The file is opened without blocking, must be a regular file and is read
 * whole up to a ceiling: a FIFO, a device or a huge file is one error line
 * instead of a hang or unbounded memory.
 */
#include "conf/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *file_kind(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m))
		return "a character device";
	if (S_ISBLK(m))
		return "a block device";
	if (S_ISSOCK(m))
		return "a socket";
	return "not a file";
}

/* Read a regular file whole, up to a ceiling (see loader.h).  O_NONBLOCK
 * keeps open(2) from waiting for a FIFO's writer; the type is checked on
 * the descriptor opened, so nothing can be swapped in between. */
enum ld_read ld_read_file(const char *path, size_t max, char **data, size_t *len,
			  unsigned *mode, char *why, size_t why_size)
{
	enum ld_read r = LD_READ_ERRNO;
	char *buf = NULL;
	size_t n = 0;
	struct stat st;
	int saved_errno;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, why_size, "not a regular file (%s)", file_kind(st.st_mode));
		r = S_ISDIR(st.st_mode) ? LD_READ_DIRECTORY : LD_READ_NOT_REGULAR;
		goto fail;
	}
	r = LD_READ_TOO_LARGE;
	if (st.st_size < 0 || (unsigned long long)st.st_size > max)
		goto fail;
	r = LD_READ_NOMEM;
	if (!(buf = malloc(max + 2)))
		goto fail;
	/* The size is checked again as the bytes come: the file may grow. */
	while (n <= max) {
		ssize_t got = read(fd, buf + n, max + 1 - n);
		if (got < 0 && errno == EINTR)
			continue;
		r = LD_READ_ERRNO;
		if (got < 0)
			goto fail;
		if (got == 0)
			break;
		n += (size_t)got;
	}
	r = LD_READ_TOO_LARGE;
	if (n > max)
		goto fail;
	buf[n] = '\0';
	close(fd);
	*data = buf;
	*len = n;
	if (mode)
		*mode = (unsigned)(st.st_mode & 07777);
	return LD_READ_OK;
fail:
	saved_errno = errno;
	if (r == LD_READ_ERRNO)
		snprintf(why, why_size, "%s", strerror(saved_errno));
	free(buf);
	if (fd >= 0)
		close(fd);
	errno = saved_errno;
	return r;
}

const char *ld_mode_exposure(unsigned mode)
{
	if ((mode & S_IROTH) && (mode & S_IWOTH))
		return "can be read and changed by other users";
	if (mode & S_IWOTH)
		return "can be changed by other users";
	if (mode & S_IROTH)
		return "can be read by other users";
	return NULL;
}
