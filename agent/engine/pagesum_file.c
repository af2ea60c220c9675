/*
 * The page-hash table's saved file: pagesum_save writes it crash-safely,
 * pagesum_load reads it back and refuses anything that is not exactly a
 * valid table file (the format is described in pagesum.h).
 */
#include "agent/engine/pagesum_internal.h"
#include "common/fsutil.h"
#include "common/hash.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAGIC "CBSPGSUM"
#define FILE_VERSION 1u
#define FILE_HEADER_LEN 64
#define FILE_DIGEST_OFF 32
/* Hashes encoded or decoded at once when saving and loading. */
#define FILE_CHUNK 1024

/* Encode hashes [first, first + n) of t, big-endian, into out. */
static void encode(const struct pagesum *t, uint32_t first, uint32_t n, uint8_t *out)
{
	for (uint32_t i = 0; i < n; i++)
		put_be64(out + 8 * (size_t)i, t->hash[first + i]);
}

enum result pagesum_save(const struct pagesum *t, const char *path, struct error *err)
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
		error_prefix(err, "cannot save page-hash table '%s'", path);
	}
	return r;
}

#define CORRUPT(why) \
	error_set(err, CB_ERR_CORRUPT, "page-hash table '%s' is corrupt: %s", path, why)

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
	close(fd);
	*out = t;
	return CB_OK;
fail:
	sha256_free(&sha);
	pagesum_free(t);
	close(fd);
	return r;
}
