/*
 * The page-hash table's saved files: pagesum_save writes the whole table
 * crash-safely, pagesum_commit appends what changed to its log, and
 * pagesum_load reads both back, refusing a base that is not exactly a valid
 * table file and ending the log at its first record that is not whole (the
 * formats are described in pagesum.h).
 */
#include "agent/engine/pagesum_internal.h"
#include "common/fsutil.h"
#include "common/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAGIC "CBSPGSUM"
#define FILE_VERSION 1u
#define FILE_HEADER_LEN 64
#define FILE_DIGEST_OFF 32
/* Hashes encoded or decoded at once when saving and loading. */
#define FILE_CHUNK 1024

#define LOG_SUFFIX "-log"
#define LOG_MAGIC "CBSPGLOG"
#define LOG_VERSION 1u
#define LOG_HEADER_LEN 48
#define LOG_BASE_OFF 16
#define REC_HEADER_LEN 24
#define REC_ENTRY_LEN 12
/* The log is folded into a new base once it would pass twice the base's
 * size plus this: a few hours of one-second captures at 256 MiB. */
#define LOG_SLACK (256u * 1024)

static char *log_path(const char *path)
{
	char *p = NULL;
	return asprintf(&p, "%s%s", path, LOG_SUFFIX) < 0 ? NULL : p;
}

static uint64_t log_limit(const struct pagesum_saved *s)
{
	return 2 * s->base_len + LOG_SLACK;
}

void pagesum_saved_touch(struct pagesum *t, uint32_t pgno)
{
	struct pagesum_saved *s = &t->saved;
	if (!s->on || s->whole)
		return;
	/* Past half the table, a whole save costs about as much. */
	if (s->n >= t->count / 2 + 64) {
		s->whole = true;
		return;
	}
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 64;
		uint32_t *p = realloc(s->pgno, cap * sizeof(*p));
		if (!p) {
			s->whole = true;
			return;
		}
		s->pgno = p;
		s->cap = cap;
	}
	s->pgno[s->n++] = pgno;
}

/* The files now hold the table as it is: a base with digest base of
 * base_len bytes, and log_len bytes of log ending in the record whose
 * digest is chain (base again when there is none). */
static void saved_reset(struct pagesum *t, const uint8_t *base, const uint8_t *chain,
			uint64_t base_len, uint64_t log_len)
{
	struct pagesum_saved *s = &t->saved;
	s->on = true;
	s->whole = false;
	s->tail = false;
	memcpy(s->base, base, sizeof(s->base));
	memcpy(s->chain, chain, sizeof(s->chain));
	s->base_len = base_len;
	s->log_len = log_len;
	s->count = s->low = t->count;
	s->n = 0;
}

/* Encode hashes [first, first + n) of t, big-endian, into out. */
static void encode(const struct pagesum *t, uint32_t first, uint32_t n, uint8_t *out)
{
	for (uint32_t i = 0; i < n; i++)
		put_be64(out + 8 * (size_t)i, t->hash[first + i]);
}

enum result pagesum_save(struct pagesum *t, const char *path, struct error *err)
{
	uint8_t hdr[FILE_HEADER_LEN] = {0};
	uint8_t buf[FILE_CHUNK * 8];
	struct sha256 sha = {0};
	struct atomic_file af = {.fd = -1};

	memcpy(hdr, FILE_MAGIC, 8);
	put_be32(hdr + 8, FILE_VERSION);
	put_be32(hdr + 12, t->page_size);
	put_be32(hdr + 16, t->count);
	put_be64(hdr + 24, t->sum);

	/* Two passes over the table, a chunk at a time: the digest first (it
	 * is in the header), then the bytes. */
	enum result r = sha256_init(&sha, err);
	if (r)
		return r;
	sha256_update(&sha, hdr, FILE_DIGEST_OFF);
	for (uint32_t i = 0; i < t->count; i += FILE_CHUNK) {
		uint32_t n = t->count - i < FILE_CHUNK ? t->count - i : FILE_CHUNK;
		encode(t, i, n, buf);
		sha256_update(&sha, buf, 8 * (size_t)n);
	}
	sha256_final(&sha, hdr + FILE_DIGEST_OFF);

	r = atomic_file_open(&af, path, 0600, err);
	if (r)
		return r;
	r = atomic_file_write(&af, hdr, sizeof(hdr), err);
	for (uint32_t i = 0; !r && i < t->count; i += FILE_CHUNK) {
		uint32_t n = t->count - i < FILE_CHUNK ? t->count - i : FILE_CHUNK;
		encode(t, i, n, buf);
		r = atomic_file_write(&af, buf, 8 * (size_t)n, err);
	}
	if (!r)
		r = atomic_file_commit(&af, NULL, err);
	if (r) {
		atomic_file_abort(&af);
		t->saved.whole = true;
		error_prefix(err, "cannot save page-hash table '%s'", path);
		return r;
	}
	/* The log names the base it follows: an old one left by a crash
	 * before this removal is ignored at load. */
	char *lpath = log_path(path);
	if (lpath)
		unlink(lpath);
	free(lpath);
	saved_reset(t, hdr + FILE_DIGEST_OFF, hdr + FILE_DIGEST_OFF,
		    FILE_HEADER_LEN + 8 * (uint64_t)t->count, 0);
	return CB_OK;
}

/* Append rec (len bytes, with the log's header first when there is no log
 * yet) at the log's end, durably. */
static enum result log_append(struct pagesum_saved *s, const char *lpath, const uint8_t *rec,
			      size_t len, struct error *err)
{
	bool fresh = s->log_len == 0;
	int fd = open(lpath, O_WRONLY | O_CLOEXEC | (fresh ? O_CREAT | O_TRUNC : 0), 0600);
	if (fd < 0)
		return error_errno(err, errno, lpath);
	enum result r = CB_OK;
	if (fs_pwrite_all(fd, rec, len, (off_t)s->log_len) != 0 ||
	    (s->tail && ftruncate(fd, (off_t)(s->log_len + len)) != 0) || fdatasync(fd) != 0)
		r = error_errno(err, errno, lpath);
	if (close(fd) != 0 && !r)
		r = error_errno(err, errno, lpath);
	if (!r && fresh) {
		char *dir = fs_dirname(lpath);
		r = dir ? fs_fsync_dir(dir, err) : error_nomem(err);
		free(dir);
	}
	return r;
}

enum result pagesum_commit(struct pagesum *t, const char *path, struct error *err)
{
	struct pagesum_saved *s = &t->saved;
	if (!s->on || s->whole)
		return pagesum_save(t, path, err);
	if (s->n == 0 && s->low == s->count && t->count == s->count)
		return CB_OK;
	size_t head = s->log_len ? 0 : LOG_HEADER_LEN;
	size_t len = head + REC_HEADER_LEN + REC_ENTRY_LEN * s->n + SHA256_LEN;
	if (s->log_len + len > log_limit(s))
		return pagesum_save(t, path, err);
	uint8_t *buf = malloc(len), *rec = buf + head;
	char *lpath = log_path(path);
	struct sha256 sha = {0};
	enum result r;
	if (!buf || !lpath) {
		r = error_nomem(err);
		goto done;
	}
	if (head) {
		memset(buf, 0, LOG_HEADER_LEN);
		memcpy(buf, LOG_MAGIC, 8);
		put_be32(buf + 8, LOG_VERSION);
		memcpy(buf + LOG_BASE_OFF, s->base, sizeof(s->base));
	}
	/* Each page's hash as it is now: a page given one twice, or cut off
	 * since, is written as it ends up. */
	uint32_t e = 0;
	for (size_t i = 0; i < s->n; i++) {
		uint32_t pgno = s->pgno[i];
		if (pgno > t->count)
			continue;
		uint8_t *p = rec + REC_HEADER_LEN + REC_ENTRY_LEN * (size_t)e++;
		put_be32(p, pgno);
		put_be64(p + 4, t->hash[pgno - 1]);
	}
	put_be32(rec, e);
	put_be32(rec + 4, s->low);
	put_be32(rec + 8, t->count);
	put_be32(rec + 12, 0);
	put_be64(rec + 16, t->sum);
	size_t body = REC_HEADER_LEN + REC_ENTRY_LEN * (size_t)e;
	if ((r = sha256_init(&sha, err)))
		goto done;
	sha256_update(&sha, s->chain, sizeof(s->chain));
	sha256_update(&sha, rec, body);
	sha256_final(&sha, rec + body);
	len = head + body + SHA256_LEN;
	if ((r = log_append(s, lpath, buf, len, err))) {
		error_prefix(err, "cannot save page-hash table '%s'", path);
		goto done;
	}
	memcpy(s->chain, rec + body, sizeof(s->chain));
	s->log_len += len;
	s->tail = false;
	s->count = s->low = t->count;
	s->n = 0;
done:
	if (r)
		s->whole = true;
	sha256_free(&sha);
	free(buf);
	free(lpath);
	return r;
}

#define CORRUPT(why) \
	error_set(err, CB_ERR_CORRUPT, "page-hash table '%s' is corrupt: %s", path, why)

/* Replay one whole record (its digest checked) onto t. */
static enum result replay(struct pagesum *t, const uint8_t *rec, uint32_t e, const char *path,
			  struct error *err)
{
	uint32_t low = get_be32(rec + 4), count = get_be32(rec + 8);
	uint32_t lock = pagesum_lock_page(t->page_size);
	if (low > t->count || low > count)
		return CORRUPT("a log record's page counts do not follow");
	enum result r;
	if ((r = pagesum_resize(t, low, err)) || (r = pagesum_resize(t, count, err)))
		return r;
	for (uint32_t i = 0; i < e; i++) {
		const uint8_t *p = rec + REC_HEADER_LEN + REC_ENTRY_LEN * (size_t)i;
		uint32_t pgno = get_be32(p);
		uint64_t h = get_be64(p + 4);
		if (pgno < 1 || pgno > count || (pgno == lock && h != 0))
			return CORRUPT("a log record names a page the table does not have");
		t->sum ^= t->hash[pgno - 1] ^ h;
		t->hash[pgno - 1] = h;
	}
	if (t->sum != get_be64(rec + 16))
		return CORRUPT("a log record does not replay to its state checksum");
	return CB_OK;
}

/* Bring t, just loaded from its base (digest base, base_len bytes), up to
 * date from the log's whole records, and note where the files stand.  No
 * log, or one that follows another base, is an empty one. */
static enum result load_log(struct pagesum *t, const char *path, const uint8_t *base,
			    uint64_t base_len, struct error *err)
{
	uint8_t head[LOG_HEADER_LEN], chain[SHA256_LEN];
	uint8_t *rec = NULL;
	struct sha256 sha = {0};
	uint64_t off = 0;
	enum result r = CB_OK;
	struct stat st = {0};
	char *lpath = log_path(path);
	if (!lpath)
		return error_nomem(err);
	memcpy(chain, base, SHA256_LEN);
	t->saved.base_len = base_len;
	int fd = open(lpath, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			r = error_errno(err, errno, lpath);
		goto done;
	}
	if (fstat(fd, &st) != 0) {
		r = error_errno(err, errno, lpath);
		goto done;
	}
	/* Read no further than a commit would have written. */
	uint64_t end = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
	if (end > log_limit(&t->saved))
		end = log_limit(&t->saved);
	ssize_t n = end >= LOG_HEADER_LEN ? pagesum_pread_full(fd, head, sizeof(head), 0) : 0;
	if (n < 0) {
		r = error_errno(err, errno, lpath);
		goto done;
	}
	if (n != LOG_HEADER_LEN || memcmp(head, LOG_MAGIC, 8) != 0 ||
	    get_be32(head + 8) != LOG_VERSION || get_be32(head + 12) != 0 ||
	    memcmp(head + LOG_BASE_OFF, base, SHA256_LEN) != 0)
		goto done;
	off = LOG_HEADER_LEN;
	while (end - off >= REC_HEADER_LEN + SHA256_LEN) {
		uint8_t rh[REC_HEADER_LEN];
		if ((n = pagesum_pread_full(fd, rh, sizeof(rh), (off_t)off)) < 0) {
			r = error_errno(err, errno, lpath);
			goto done;
		}
		uint32_t e = get_be32(rh);
		if ((size_t)n != sizeof(rh) || get_be32(rh + 12) != 0 ||
		    (end - off - REC_HEADER_LEN - SHA256_LEN) / REC_ENTRY_LEN < e)
			break;
		size_t body = REC_HEADER_LEN + REC_ENTRY_LEN * (size_t)e;
		uint8_t digest[SHA256_LEN];
		free(rec);
		if (!(rec = malloc(body + SHA256_LEN))) {
			r = error_nomem(err);
			goto done;
		}
		if ((n = pagesum_pread_full(fd, rec, body + SHA256_LEN, (off_t)off)) < 0) {
			r = error_errno(err, errno, lpath);
			goto done;
		}
		if ((size_t)n != body + SHA256_LEN || (r = sha256_init(&sha, err)))
			break;
		sha256_update(&sha, chain, SHA256_LEN);
		sha256_update(&sha, rec, body);
		sha256_final(&sha, digest);
		if (memcmp(digest, rec + body, SHA256_LEN) != 0)
			break;
		if ((r = replay(t, rec, e, path, err)))
			goto done;
		memcpy(chain, digest, SHA256_LEN);
		off += body + SHA256_LEN;
	}
done:
	if (!r) {
		saved_reset(t, base, chain, base_len, off);
		t->saved.tail = fd >= 0 && (uint64_t)st.st_size > off;
	}
	if (fd >= 0)
		close(fd);
	sha256_free(&sha);
	free(rec);
	free(lpath);
	return r;
}

enum result pagesum_load(const char *path, struct pagesum **out, struct error *err)
{
	uint8_t hdr[FILE_HEADER_LEN];
	uint8_t buf[FILE_CHUNK * 8];
	uint8_t digest[SHA256_LEN];
	struct sha256 sha = {0};
	struct pagesum *t = NULL;
	enum result r;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return error_errno(err, errno, path);

	struct stat st;
	if (fstat(fd, &st) != 0) {
		r = error_errno(err, errno, path);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = CORRUPT("not a regular file");
		goto fail;
	}
	ssize_t n = pagesum_pread_full(fd, hdr, sizeof(hdr), 0);
	if (n < 0) {
		r = error_errno(err, errno, path);
		goto fail;
	}
	if ((size_t)n < sizeof(hdr)) {
		r = CORRUPT("truncated header");
		goto fail;
	}
	if (memcmp(hdr, FILE_MAGIC, 8) != 0) {
		r = CORRUPT("wrong magic");
		goto fail;
	}
	if (get_be32(hdr + 8) != FILE_VERSION) {
		r = CORRUPT("unknown format version");
		goto fail;
	}
	uint32_t page_size = get_be32(hdr + 12);
	uint32_t count = get_be32(hdr + 16);
	if (!pagesum_page_size_valid(page_size)) {
		r = CORRUPT("invalid page size");
		goto fail;
	}
	if (get_be32(hdr + 20) != 0) {
		r = CORRUPT("reserved field not zero");
		goto fail;
	}
	if ((uint64_t)st.st_size != FILE_HEADER_LEN + 8 * (uint64_t)count) {
		r = CORRUPT("size does not match its page count");
		goto fail;
	}

	r = pagesum_new(page_size, &t, err);
	if (r)
		goto fail;
	r = pagesum_resize(t, count, err);
	if (r)
		goto fail;
	r = sha256_init(&sha, err);
	if (r)
		goto fail;
	sha256_update(&sha, hdr, FILE_DIGEST_OFF);
	uint64_t sum = 0;
	for (uint32_t i = 0; i < count; i += FILE_CHUNK) {
		uint32_t k = count - i < FILE_CHUNK ? count - i : FILE_CHUNK;
		n = pagesum_pread_full(fd, buf, 8 * (size_t)k, FILE_HEADER_LEN + 8 * (off_t)i);
		if (n < 0) {
			r = error_errno(err, errno, path);
			goto fail;
		}
		if ((size_t)n != 8 * (size_t)k) {
			r = CORRUPT("shorter than its page count");
			goto fail;
		}
		sha256_update(&sha, buf, (size_t)n);
		for (uint32_t j = 0; j < k; j++) {
			t->hash[i + j] = get_be64(buf + 8 * (size_t)j);
			sum ^= t->hash[i + j];
		}
	}
	sha256_final(&sha, digest);
	if (memcmp(digest, hdr + FILE_DIGEST_OFF, SHA256_LEN) != 0) {
		r = CORRUPT("SHA-256 mismatch");
		goto fail;
	}
	if (sum != get_be64(hdr + 24) || pagesum_get(t, pagesum_lock_page(page_size)) != 0) {
		r = CORRUPT("state checksum does not match its page hashes");
		goto fail;
	}
	t->sum = sum;
	if ((r = load_log(t, path, hdr + FILE_DIGEST_OFF, (uint64_t)st.st_size, err)))
		goto fail;
	close(fd);
	*out = t;
	return CB_OK;
fail:
	sha256_free(&sha);
	pagesum_free(t);
	close(fd);
	return r;
}
