/*
 * Unit tests for crypto/sign.c: a new key pair signs and verifies; its
 * public half reads back from PEM and from the one base64 line, with the
 * same fingerprint; a changed message, a changed signature or another key
 * does not verify; what is not an Ed25519 key of the right kind is refused.
 */
#include "crypto/sign.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static void test_sign_and_verify(void **state)
{
	(void)state;
	char *priv, *pub, *line, why[256];
	struct sign_key *k, *from_pem, *from_line, *other;
	uint8_t sig[SIGN_LEN];
	const char msg[] = "{\"format\":1,\"name\":\"x.db.gz\"}";
	assert_int_equal(sign_keygen(&priv, &pub, &line, NULL), CB_OK);
	assert_non_null(strstr(priv, "-----BEGIN PRIVATE KEY-----"));
	assert_non_null(strstr(pub, "-----BEGIN PUBLIC KEY-----"));
	assert_true(sign_key_private(priv, &k, why, sizeof(why)));
	assert_true(sign_key_public(pub, &from_pem, why, sizeof(why)));
	assert_true(sign_key_public(line, &from_line, why, sizeof(why)));
	assert_string_equal(sign_key_fingerprint(k), sign_key_fingerprint(from_pem));
	assert_string_equal(sign_key_fingerprint(k), sign_key_fingerprint(from_line));
	assert_string_equal(sign_key_public_line(from_pem), line);
	assert_int_equal(sign_message(k, msg, strlen(msg), sig, NULL), CB_OK);
	assert_true(sign_verify(from_pem, msg, strlen(msg), sig));
	assert_true(sign_verify(from_line, msg, strlen(msg), sig));
	assert_false(sign_verify(from_line, msg, strlen(msg) - 1, sig));
	sig[5] ^= 1;
	assert_false(sign_verify(from_line, msg, strlen(msg), sig));
	sig[5] ^= 1;
	/* A public key cannot sign; another key does not verify. */
	assert_int_not_equal(sign_message(from_pem, msg, strlen(msg), sig, NULL), CB_OK);
	char *p2, *pub2, *line2;
	assert_int_equal(sign_keygen(&p2, &pub2, &line2, NULL), CB_OK);
	assert_true(sign_key_public(line2, &other, why, sizeof(why)));
	assert_int_equal(sign_message(k, msg, strlen(msg), sig, NULL), CB_OK);
	assert_false(sign_verify(other, msg, strlen(msg), sig));
	assert_string_not_equal(sign_key_fingerprint(other), sign_key_fingerprint(k));
	/* The kinds do not mix, and junk is refused. */
	struct sign_key *none = NULL;
	assert_false(sign_key_private(pub, &none, why, sizeof(why)));
	assert_false(sign_key_public(priv, &none, why, sizeof(why)));
	assert_false(sign_key_public("bm90IGEga2V5", &none, why, sizeof(why)));
	assert_false(sign_key_private("", &none, why, sizeof(why)));
	assert_null(none);
	sign_key_free(k);
	sign_key_free(from_pem);
	sign_key_free(from_line);
	sign_key_free(other);
	free(priv);
	free(pub);
	free(line);
	free(p2);
	free(pub2);
	free(line2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_and_verify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
