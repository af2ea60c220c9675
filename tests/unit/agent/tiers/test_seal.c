/*
 * Unit tests for agent/tiers/seal.c through backend_put_file: a sealed
 * upload is an age file of the file's bytes, of the size announced, whose
 * SHA-256 and size seal_result reports; an upload given up half-way (a
 * cancel, as SIGTERM makes one) stops the sealing thread before the put
 * goes away -- under ASan, any write after that would be caught -- and
 * leaves no object and no temp file.
 */
#include "agent/tiers/keyring.h"
#include "agent/tiers/seal.h"
#include "backends/local/local.h"
#include "common/cancel.h"
#include "common/fsutil.h"
#include "crypto/age.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char root[64];
static uint8_t secret[1][AGE_KEY_LEN];
static struct keyring keys;
static uint8_t pub[1][AGE_KEY_LEN];
static char fprs[1][AGE_FPR_LEN + 1];

static int setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/cbsync-seal-XXXXXX");
	assert_non_null(mkdtemp(root));
	assert_int_equal(age_identity_generate(secret[0], NULL), CB_OK);
	assert_int_equal(age_recipient_of(secret[0], pub[0], NULL), CB_OK);
	age_fingerprint(pub[0], fprs[0]);
	keys = (struct keyring){.recipients = pub, .recipient_fprs = fprs, .n_recipients = 1};
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd);
}

/* A file of n pattern bytes under root; its path (static). */
static const char *make_file(const char *name, size_t n)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", root, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc((int)(i * 31 % 251), f);
	fclose(f);
	return path;
}

/* A local-directory remote under root (name) for one test. */
static struct backend *open_remote(const char *name, char *dir, size_t size)
{
	struct backend *b = NULL;
	snprintf(dir, size, "%s/%s", root, name);
	assert_int_equal(fs_mkdirs(dir, 0700, NULL), CB_OK);
	assert_int_equal(local_tier_open(dir, &b, NULL), CB_OK);
	return b;
}

struct buf {
	uint8_t *data;
	size_t len;
};

static enum result to_buf(void *ctx, const void *p, size_t len, struct error *err)
{
	(void)err;
	struct buf *b = ctx;
	b->data = realloc(b->data, b->len + len);
	memcpy(b->data + b->len, p, len);
	b->len += len;
	return CB_OK;
}

static void test_sealed_upload(void **state)
{
	(void)state;
	size_t n = 3 * (1u << 20) + 12345;
	const char *src = make_file("plain.bin", n);
	char dir[128];
	struct backend *b = open_remote("remote", dir, sizeof(dir));
	struct seal s;
	assert_int_equal(seal_init(&s, &keys, NULL), CB_OK);
	struct put_file_opts po = {.filter = &s.filter};
	struct error err = {0};
	assert_int_equal(backend_put_file(b, "x.db.gz.age", src, &po, &err), CB_OK);
	struct meta_crypt mc;
	seal_result(&s, &mc);
	seal_free(&s);
	assert_true(mc.encrypted);
	assert_int_equal(mc.n_recipients, 1);
	assert_string_equal(mc.recipients[0], fprs[0]);

	char obj[160];
	snprintf(obj, sizeof(obj), "%s/x.db.gz.age", dir);
	assert_int_equal(fs_file_size(obj), mc.object_size);
	/* The object decrypts to the file. */
	struct buf plain = {0};
	struct age_identities ids = {.x25519 = (const uint8_t(*)[AGE_KEY_LEN])secret,
				     .n_x25519 = 1};
	struct age_dec *d = NULL;
	assert_int_equal(age_dec_new(&ids, to_buf, &plain, &d, NULL), CB_OK);
	FILE *f = fopen(obj, "rb");
	uint8_t chunk[70000];
	size_t got;
	struct sha256 h;
	assert_int_equal(sha256_init(&h, NULL), CB_OK);
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		sha256_update(&h, chunk, got);
		assert_int_equal(age_dec_write(d, chunk, got, NULL), CB_OK);
	}
	fclose(f);
	assert_int_equal(age_dec_finish(d, NULL), CB_OK);
	age_dec_free(d);
	uint8_t digest[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1];
	sha256_final(&h, digest);
	hex_encode(digest, sizeof(digest), hex);
	assert_string_equal(hex, mc.object_sha256);
	assert_int_equal(plain.len, n);
	for (size_t i = 0; i < n; i++)
		if (plain.data[i] != (uint8_t)(i * 31 % 251))
			fail_msg("byte %zu differs", i);
	free(plain.data);
	backend_close(b);
}

/* seal_fd, as the local tier seals a scratch file: the age file of the
 * file's bytes, which must hash to what the caller recorded; a file that
 * changed since is refused, having sealed nothing a caller would keep. */
static void test_seal_fd(void **state)
{
	(void)state;
	size_t n = (1u << 20) + 777;
	const char *src = make_file("scratch.bin", n);
	int in = open(src, O_RDONLY);
	assert_true(in >= 0);
	uint8_t *bytes = malloc(n), digest[SHA256_LEN];
	char hex[SHA256_HEX_LEN + 1], out_path[160];
	assert_int_equal(pread(in, bytes, n, 0), (ssize_t)n);
	sha256_buf(bytes, n, digest);
	hex_encode(digest, sizeof(digest), hex);
	snprintf(out_path, sizeof(out_path), "%s/sealed.age", root);
	int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct meta_crypt mc;
	struct error err = {0};
	char got_hex[SHA256_HEX_LEN + 1];
	assert_int_equal(seal_fd(&keys, in, out, hex, &mc, got_hex, &err), CB_OK);
	assert_string_equal(got_hex, hex);
	close(out);
	assert_int_equal(fs_file_size(out_path), mc.object_size);

	struct buf plain = {0};
	struct age_identities ids = {.x25519 = (const uint8_t(*)[AGE_KEY_LEN])secret,
				     .n_x25519 = 1};
	struct age_dec *d = NULL;
	size_t len;
	char *sealed = NULL;
	assert_int_equal(fs_read_file(out_path, 4u << 20, &sealed, &len, &err), CB_OK);
	sha256_buf(sealed, len, digest);
	hex_encode(digest, sizeof(digest), hex);
	assert_string_equal(hex, mc.object_sha256);
	assert_int_equal(age_dec_new(&ids, to_buf, &plain, &d, NULL), CB_OK);
	assert_int_equal(age_dec_write(d, sealed, len, NULL), CB_OK);
	assert_int_equal(age_dec_finish(d, NULL), CB_OK);
	age_dec_free(d);
	free(sealed);
	assert_int_equal(plain.len, n);
	assert_memory_equal(plain.data, bytes, n);
	free(plain.data);

	/* One byte changed after it was hashed. */
	sha256_buf(bytes, n, digest);
	hex_encode(digest, sizeof(digest), hex);
	assert_int_equal(pwrite(in, "x", 1, 4096), -1);   /* read-only: reopen to change */
	close(in);
	in = open(src, O_RDWR);
	assert_int_equal(pwrite(in, bytes[4096] == 'x' ? "y" : "x", 1, 4096), 1);
	out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_int_equal(seal_fd(&keys, in, out, hex, &mc, NULL, &err), CB_ERR_CORRUPT);
	assert_non_null(strstr(err.msg, "changed since it was written"));
	close(out);
	close(in);
	free(bytes);
}

static void cancel_after_first(void *ctx, uint64_t done, uint64_t total)
{
	(void)ctx;
	(void)total;
	if (done >= (6u << 20))
		cancel_request();
}

static void test_given_up_half_way(void **state)
{
	(void)state;
	const char *src = make_file("big.bin", 24u << 20);
	char dir[128];
	struct backend *b = open_remote("remote2", dir, sizeof(dir));
	struct seal s;
	assert_int_equal(seal_init(&s, &keys, NULL), CB_OK);
	struct put_file_opts po = {.filter = &s.filter, .progress = cancel_after_first};
	struct error err = {0};
	assert_int_equal(backend_put_file(b, "y.db.gz.age", src, &po, &err), CB_ERR_INTERRUPTED);
	cancel_reset();
	seal_free(&s);
	backend_close(b);
	/* Nothing under the name, and no temp file. */
	DIR *dh = opendir(dir);
	assert_non_null(dh);
	struct dirent *de;
	while ((de = readdir(dh)))
		if (de->d_name[0] != '.' || strncmp(de->d_name, ".cbsync-tmp-", 12) == 0)
			fail_msg("left behind: %s", de->d_name);
	closedir(dh);
}

/* A remote whose writes are slow, and that notices a write to a put after
 * it was aborted (a real backend would have freed the put by then). */
static bool aborted, late_write;
static size_t writes;

static enum result slow_begin(void *ctx, const char *key, const struct backend_put_info *info,
			      void **put, struct error *err)
{
	(void)ctx;
	(void)key;
	(void)info;
	(void)err;
	aborted = late_write = false;
	writes = 0;
	*put = &aborted;
	return CB_OK;
}

static enum result slow_write(void *put, const void *buf, size_t len, struct error *err)
{
	(void)put;
	(void)buf;
	(void)len;
	(void)err;
	usleep(20000);
	writes++;
	if (aborted)
		late_write = true;
	return CB_OK;
}

static enum result slow_commit(void *put, struct error *err)
{
	(void)put;
	return error_set(err, CB_ERR_INTERNAL, "not expected to commit");
}

static void slow_abort(void *put)
{
	*(bool *)put = true;
}

static void test_given_up_while_the_remote_is_slow(void **state)
{
	(void)state;
	static const struct backend_ops slow = {.type = "slow", .put_begin = slow_begin,
						.put_write = slow_write,
						.put_commit = slow_commit,
						.put_abort = slow_abort};
	struct backend b = {.ops = &slow, .name = (char *)"slow"};
	const char *src = make_file("slow.bin", 24u << 20);
	struct seal s;
	assert_int_equal(seal_init(&s, &keys, NULL), CB_OK);
	struct put_file_opts po = {.filter = &s.filter, .progress = cancel_after_first};
	struct error err = {0};
	assert_int_equal(backend_put_file(&b, "z.db.gz.age", src, &po, &err),
			 CB_ERR_INTERRUPTED);
	cancel_reset();
	/* Had the sealing thread gone on, it would write now. */
	usleep(200000);
	seal_free(&s);
	assert_true(aborted);
	assert_false(late_write);
}

static void test_no_recipients(void **state)
{
	(void)state;
	struct keyring none = {0};
	struct seal s;
	assert_int_equal(seal_init(&s, &none, NULL), CB_ERR_CONFIG);
	assert_int_equal(seal_init(&s, NULL, NULL), CB_ERR_CONFIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sealed_upload),
		cmocka_unit_test(test_seal_fd),
		cmocka_unit_test(test_given_up_half_way),
		cmocka_unit_test(test_given_up_while_the_remote_is_slow),
		cmocka_unit_test(test_no_recipients),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
