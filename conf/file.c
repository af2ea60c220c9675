/*
 * Which configuration file conf_load reads, and reading it: --config, else
 * $CBSYNC_CONFIG, else the system file if it exists.  The file must be a
 * regular file of at most LD_MAX_CONFIG bytes; it is read whole (never
 * blocking on a FIFO, never growing without bound), and a place where
 * others could read or replace it becomes a warning.
 */
#include "conf/loader.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Warn about a config file that others can read or change, or that sits
 * in a directory where others could replace it: the directory holding it,
 * if anyone may write there (even with the sticky bit, which stops deletion
 * but not a file planted before ours), and any directory above without the
 * sticky bit, where another user could rename the way to it. */
static enum result check_config_place(struct loader *ld, const char *path, unsigned mode)
{
	const char *exposed = ld_mode_exposure(mode);
	if (exposed && ld_warn(ld, "config file '%s' %s (mode %04o); HINT: chmod 600 '%s' "
			       "(or 640 with the service's group)", path, exposed, mode, path))
		return ld->rc;

	char *copy = strdup(path), *dir = NULL;
	if (!copy)
		return ld_nomem(ld);
	char *slash = strrchr(copy, '/');
	if (!slash)
		dir = realpath(".", NULL);
	else if (slash == copy)
		dir = realpath("/", NULL);
	else {
		*slash = '\0';
		dir = realpath(copy, NULL);
	}
	free(copy);
	for (bool holder = true; dir; holder = false) {
		struct stat st;
		if (stat(dir, &st) != 0)
			break;
		if ((st.st_mode & S_IWOTH) && (holder || !(st.st_mode & S_ISVTX))) {
			ld_warn(ld, "config file '%s' is in a directory other users can write to "
				"('%s', mode %04o), so they could put their own in its place; HINT: "
				"keep it in a directory only its owner can change, such as "
				"/etc/cbsync", path, dir, (unsigned)(st.st_mode & 07777));
			break;
		}
		char *up = strrchr(dir, '/');
		if (!up || strcmp(dir, "/") == 0)
			break;
		up[up == dir] = '\0';  /* "/a/b" -> "/a", "/a" -> "/" */
	}
	free(dir);
	return ld->rc;
}

/* Which file to read: --config, $CBSYNC_CONFIG, else the system file if
 * it exists; it is read whole into ld->text.  ld->path stays NULL for
 * none. */
enum result ld_read_config(struct loader *ld)
{
	const char *p = ld->opts->path, *named_by = "--config";
	const char *system = ld->opts->system_path ? ld->opts->system_path : CONF_SYSTEM_PATH;
	bool optional = false;
	char why[200];
	unsigned mode = 0;
	if (!(ld->c->system_path = strdup(system)))
		return ld_nomem(ld);
	if (!p) {
		const char *v = ld_env_get(ld, "CBSYNC_CONFIG");
		if (v && *v) {
			p = v;
			named_by = "CBSYNC_CONFIG";
		}
	}
	if (!p) {
		p = system;
		optional = true;
	}
	switch (ld_read_file(p, LD_MAX_CONFIG, &ld->text, &ld->text_len, &mode, why,
			     sizeof(why))) {
	case LD_READ_OK:
		break;
	case LD_READ_ERRNO:
		if (optional && (errno == ENOENT || errno == ENOTDIR))
			return CB_OK;
		return ld_bad(ld, "cannot read config file '%s': %s", p, why);
	case LD_READ_DIRECTORY:
		if (!optional) {
			size_t n = strlen(p);
			while (n > 1 && p[n - 1] == '/')
				n--;
			return ld_bad(ld, "cannot read config file '%s': it is a directory; HINT: "
				   "%s names the file itself, e.g. %.*s/cbsync.conf", p, named_by,
				   (int)n, p);
		}
		/* fall through */
	case LD_READ_NOT_REGULAR:
		if (optional)
			return ld_bad(ld, "cannot read config file '%s': %s; HINT: replace it with "
				   "a regular file, or name one with --config", p, why);
		return ld_bad(ld, "cannot read config file '%s': %s; HINT: %s must name a "
			   "regular file (e.g. /etc/cbsync/cbsync.conf)", p, why, named_by);
	case LD_READ_TOO_LARGE:
		return ld_bad(ld, "cannot read config file '%s': it is larger than %d MiB, far "
			   "more than a config file needs; HINT: is this the right file?", p,
			   LD_MAX_CONFIG / (1024 * 1024));
	case LD_READ_NOMEM:
		return ld_nomem(ld);
	}
	ld->path = p;
	if (!(ld->c->source = strdup(p)))
		return ld_nomem(ld);
	return check_config_place(ld, p, mode);
}
