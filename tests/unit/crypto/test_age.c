/*
 * Unit tests for crypto/age_enc.c and age_dec.c beyond the CCTV vectors:
 * what cbsync encrypts decrypts back at every size around the 64 KiB
 * chunk, fed in any pieces, to each of several recipients; its size is
 * the header's plus age_payload_size; a wrong identity is "no match"
 * (CB_ERR_CONFIG); a flipped bit anywhere, a cut or an extra byte is
 * refused; base64 is strict.
 */
#include "crypto/age.h"
#include "crypto/agekey.h"
#include "crypto/b64.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

struct buf {
	uint8_t *data;
	size_t len, cap;
};

static enum result buf_sink(void *ctx, const void *p, size_t len, struct error *err)
{
	(void)err;
	struct buf *b = ctx;
	if (b->len + len > b->cap) {
		b->cap = (b->len + len) * 2 + 64;
		b->data = realloc(b->data, b->cap);
		assert_non_null(b->data);
	}
	memcpy(b->data + b->len, p, len);
	b->len += len;
	return CB_OK;
}

static void keypair(uint8_t sk[AGE_KEY_LEN], uint8_t pk[AGE_KEY_LEN])
{
	assert_int_equal(age_identity_generate(sk, NULL), CB_OK);
	assert_int_equal(age_recipient_of(sk, pk, NULL), CB_OK);
}

static struct buf encrypt(const uint8_t (*pks)[AGE_KEY_LEN], size_t n, const uint8_t *plain,
			  size_t len, size_t piece)
{
	struct buf out = {0};
	struct age_enc *e = NULL;
	assert_int_equal(age_enc_new(pks, n, buf_sink, &out, &e, NULL), CB_OK);
	size_t header = age_enc_header_len(e);
	for (size_t pos = 0; pos < len; pos += piece)
		assert_int_equal(age_enc_write(e, plain + pos, len - pos < piece ? len - pos : piece,
					       NULL),
				 CB_OK);
	assert_int_equal(age_enc_finish(e, NULL), CB_OK);
	age_enc_free(e);
	assert_int_equal(out.len, header + age_payload_size(len));
	return out;
}

/* Decrypt with the identities; the result, its failure class in *why. */
static enum result decrypt(const uint8_t (*sks)[AGE_KEY_LEN], size_t n, const uint8_t *file,
			   size_t len, size_t piece, struct buf *out, enum age_failure *why)
{
	struct age_identities ids = {.x25519 = sks, .n_x25519 = n};
	struct age_dec *d = NULL;
	struct error err;
	assert_int_equal(age_dec_new(&ids, buf_sink, out, &d, NULL), CB_OK);
	enum result r = CB_OK;
	for (size_t pos = 0; !r && pos < len; pos += piece)
		r = age_dec_write(d, file + pos, len - pos < piece ? len - pos : piece, &err);
	if (!r)
		r = age_dec_finish(d, &err);
	*why = age_dec_failure(d);
	age_dec_free(d);
	return r;
}

static void test_round_trip_sizes(void **state)
{
	(void)state;
	static const size_t sizes[] = {0, 1, 100, 65535, 65536, 65537, 131072, 131073, 300000};
	static const size_t pieces[] = {1, 4096, 65536, 1 << 20};
	uint8_t sk[1][AGE_KEY_LEN], pk[1][AGE_KEY_LEN];
	keypair(sk[0], pk[0]);
	uint8_t *plain = malloc(300000);
	for (size_t i = 0; i < 300000; i++)
		plain[i] = (uint8_t)(i * 2654435761u >> 13);
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
			if (pieces[p] == 1 && sizes[s] > 70000)
				continue;
			struct buf file = encrypt((const uint8_t(*)[AGE_KEY_LEN])pk, 1, plain,
						  sizes[s], pieces[p]);
			struct buf back = {0};
			enum age_failure why;
			assert_int_equal(decrypt((const uint8_t(*)[AGE_KEY_LEN])sk, 1, file.data,
						 file.len, pieces[(p + 1) % 4], &back, &why),
					 CB_OK);
			assert_int_equal(back.len, sizes[s]);
			if (sizes[s])
				assert_memory_equal(back.data, plain, sizes[s]);
			free(file.data);
			free(back.data);
		}
	}
	free(plain);
}

static void test_recipients(void **state)
{
	(void)state;
	uint8_t sk[3][AGE_KEY_LEN], pk[3][AGE_KEY_LEN], other[1][AGE_KEY_LEN], opk[AGE_KEY_LEN];
	for (int i = 0; i < 3; i++)
		keypair(sk[i], pk[i]);
	keypair(other[0], opk);
	const uint8_t msg[] = "three readers";
	struct buf file = encrypt((const uint8_t(*)[AGE_KEY_LEN])pk, 3, msg, sizeof(msg), 5);
	enum age_failure why;
	for (int i = 0; i < 3; i++) {
		struct buf back = {0};
		assert_int_equal(decrypt((const uint8_t(*)[AGE_KEY_LEN])&sk[i], 1, file.data,
					 file.len, 7, &back, &why),
				 CB_OK);
		assert_memory_equal(back.data, msg, sizeof(msg));
		free(back.data);
	}
	/* Someone else's key: no match, a configuration matter, and nothing out. */
	struct buf back = {0};
	assert_int_equal(decrypt((const uint8_t(*)[AGE_KEY_LEN])other, 1, file.data, file.len, 7,
				 &back, &why),
			 CB_ERR_CONFIG);
	assert_int_equal(why, AGE_FAIL_NO_MATCH);
	assert_int_equal(back.len, 0);
	/* No key at all, likewise. */
	assert_int_equal(decrypt(NULL, 0, file.data, file.len, 7, &back, &why), CB_ERR_CONFIG);
	free(file.data);
	assert_int_equal(age_enc_new(NULL, 0, buf_sink, &back, &(struct age_enc *){NULL}, NULL),
			 CB_ERR_USAGE);
}

/* Every single-bit flip, a cut at every length and an extra byte are
 * refused, in a file of three chunks (so each part is exercised). */
static void test_tampering(void **state)
{
	(void)state;
	uint8_t sk[1][AGE_KEY_LEN], pk[1][AGE_KEY_LEN];
	keypair(sk[0], pk[0]);
	size_t len = 2 * 65536 + 10;
	uint8_t *plain = calloc(1, len);
	struct buf file = encrypt((const uint8_t(*)[AGE_KEY_LEN])pk, 1, plain, len, 65536);
	enum age_failure why;
	/* Flips: every byte of the header, then every 997th byte after. */
	size_t header_end = (size_t)((uint8_t *)memmem(file.data, file.len, "\n---", 4) -
				     file.data) + 4 + 1 + 43 + 1;
	for (size_t i = 0; i < file.len; i += i < header_end ? 1 : 997) {
		file.data[i] ^= 0x04;
		struct buf back = {0};
		enum result r = decrypt((const uint8_t(*)[AGE_KEY_LEN])sk, 1, file.data, file.len,
					65536, &back, &why);
		assert_int_not_equal(r, CB_OK);
		assert_int_not_equal(why, AGE_FAIL_NONE);
		free(back.data);
		file.data[i] ^= 0x04;
	}
	for (size_t cut = 0; cut < file.len; cut += cut < header_end + 40 ? 1 : 4093) {
		struct buf back = {0};
		assert_int_not_equal(decrypt((const uint8_t(*)[AGE_KEY_LEN])sk, 1, file.data, cut,
					     4096, &back, &why),
				     CB_OK);
		free(back.data);
	}
	file.data = realloc(file.data, file.len + 1);
	file.data[file.len] = 0;
	struct buf back = {0};
	assert_int_equal(decrypt((const uint8_t(*)[AGE_KEY_LEN])sk, 1, file.data, file.len + 1,
				 4096, &back, &why),
			 CB_ERR_CORRUPT);
	assert_int_equal(why, AGE_FAIL_PAYLOAD);
	free(back.data);
	free(file.data);
	free(plain);
}

static void test_not_age(void **state)
{
	(void)state;
	static const uint8_t gzip[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
	static const char sqlite[] = "SQLite format 3";
	enum age_failure why;
	struct buf back = {0};
	assert_int_equal(decrypt(NULL, 0, gzip, sizeof(gzip), 3, &back, &why), CB_ERR_CORRUPT);
	assert_int_equal(why, AGE_FAIL_ARMOR);
	assert_int_equal(decrypt(NULL, 0, (const uint8_t *)sqlite, sizeof(sqlite), 3, &back, &why),
			 CB_ERR_CORRUPT);
	assert_int_equal(decrypt(NULL, 0, (const uint8_t *)"", 0, 3, &back, &why), CB_ERR_CORRUPT);
	assert_int_equal(why, AGE_FAIL_HEADER);
	/* A header that never ends is refused once past the bound. */
	size_t big = AGE_HEADER_MAX + 10;
	uint8_t *junk = malloc(big);
	memcpy(junk, "age-encryption.org/v1\n", 22);
	memset(junk + 22, 'A', big - 22);
	assert_int_equal(decrypt(NULL, 0, junk, big, 4096, &back, &why), CB_ERR_CORRUPT);
	assert_int_equal(why, AGE_FAIL_HEADER);
	free(junk);
	free(back.data);
}

static void test_b64(void **state)
{
	(void)state;
	uint8_t out[8];
	size_t n;
	char text[16];
	b64_encode((const uint8_t *)"ab", 2, false, text);
	assert_string_equal(text, "YWI");
	b64_encode((const uint8_t *)"ab", 2, true, text);
	assert_string_equal(text, "YWI=");
	assert_true(b64_decode("YWI", 3, false, out, sizeof(out), &n) && n == 2);
	assert_true(b64_decode("YWI=", 4, true, out, sizeof(out), &n) && n == 2);
	assert_false(b64_decode("YWI=", 4, false, out, sizeof(out), &n)); /* padding */
	assert_false(b64_decode("YWJ", 3, false, out, sizeof(out), &n));  /* not canonical */
	assert_false(b64_decode("YWI", 3, true, out, sizeof(out), &n));   /* unpadded */
	assert_false(b64_decode("Y", 1, false, out, sizeof(out), &n));
	assert_false(b64_decode("YW-", 3, false, out, sizeof(out), &n));
	assert_false(b64_decode("YWJjZGVmZ2hp", 12, false, out, 8, &n)); /* too long for out */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_sizes),
		cmocka_unit_test(test_recipients),
		cmocka_unit_test(test_tampering),
		cmocka_unit_test(test_not_age),
		cmocka_unit_test(test_b64),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
