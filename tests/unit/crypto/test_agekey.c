/*
 * Unit tests for crypto/agekey.c: an identity from the C2SP/CCTV age test
 * vectors gives the recipient Debian's age-keygen -y gives for it; new
 * identities round-trip and differ; and what is not an age key of the
 * right kind (the other kind, a wrong length, the wrong case, a damaged
 * checksum) is refused.
 */
#include "crypto/agekey.h"
#include "crypto/bech32.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

/* From the CCTV vectors (an X25519 identity), and what `age-keygen -y`
 * (age 1.1.1) printed for it. */
static const char vector_identity[] =
	"AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";
static const char vector_recipient[] =
	"age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef";

static void test_vector(void **state)
{
	(void)state;
	uint8_t secret[AGE_KEY_LEN], pub[AGE_KEY_LEN], pub2[AGE_KEY_LEN];
	char text[AGE_KEY_TEXT];
	assert_true(age_identity_decode(vector_identity, secret));
	age_identity_encode(secret, text);
	assert_string_equal(text, vector_identity);
	assert_int_equal(age_recipient_of(secret, pub, NULL), CB_OK);
	age_recipient_encode(pub, text);
	assert_string_equal(text, vector_recipient);
	assert_true(age_recipient_decode(vector_recipient, pub2));
	assert_memory_equal(pub, pub2, AGE_KEY_LEN);
}

static void test_generate(void **state)
{
	(void)state;
	uint8_t a[AGE_KEY_LEN], b[AGE_KEY_LEN], back[AGE_KEY_LEN];
	char text[AGE_KEY_TEXT];
	assert_int_equal(age_identity_generate(a, NULL), CB_OK);
	assert_int_equal(age_identity_generate(b, NULL), CB_OK);
	assert_memory_not_equal(a, b, AGE_KEY_LEN);
	age_identity_encode(a, text);
	assert_int_equal(strncmp(text, "AGE-SECRET-KEY-1", 16), 0);
	assert_int_equal(strlen(text), 74);
	assert_true(age_identity_decode(text, back));
	assert_memory_equal(a, back, AGE_KEY_LEN);
}

static void test_refused(void **state)
{
	(void)state;
	uint8_t key[AGE_KEY_LEN], short_key[16] = {1};
	char text[AGE_KEY_TEXT], lower_id[AGE_KEY_TEXT], upper_rcpt[AGE_KEY_TEXT];
	/* each kind where the other is wanted */
	assert_false(age_identity_decode(vector_recipient, key));
	assert_false(age_recipient_decode(vector_identity, key));
	/* the wrong case */
	for (size_t i = 0; i <= strlen(vector_identity); i++)
		lower_id[i] = (char)((vector_identity[i] >= 'A' && vector_identity[i] <= 'Z')
					     ? vector_identity[i] - 'A' + 'a'
					     : vector_identity[i]);
	assert_false(age_identity_decode(lower_id, key));
	for (size_t i = 0; i <= strlen(vector_recipient); i++)
		upper_rcpt[i] = (char)((vector_recipient[i] >= 'a' && vector_recipient[i] <= 'z')
					       ? vector_recipient[i] - 'a' + 'A'
					       : vector_recipient[i]);
	assert_false(age_recipient_decode(upper_rcpt, key));
	/* 16 bytes under the right hrp */
	assert_true(bech32_encode("age", short_key, sizeof(short_key), false, text, sizeof(text)));
	assert_false(age_recipient_decode(text, key));
	/* a damaged checksum */
	snprintf(text, sizeof(text), "%s", vector_recipient);
	text[strlen(text) - 1] = text[strlen(text) - 1] == 'f' ? 'g' : 'f';
	assert_false(age_recipient_decode(text, key));
	assert_false(age_recipient_decode("", key));
	assert_false(age_recipient_decode("age1", key));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
