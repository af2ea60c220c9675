/*
 * Unit tests for crypto/bech32.c against the test vectors of BIP 173 (valid
 * strings decode and encode back to themselves; each invalid one is
 * refused), plus what age needs beyond BIP 173: strings over 90
 * characters, and refusing padding that is not zero.
 */
#include "crypto/bech32.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

static void lower(const char *in, char *out)
{
	for (; *in; in++, out++)
		*out = (*in >= 'A' && *in <= 'Z') ? (char)(*in - 'A' + 'a') : *in;
	*out = '\0';
}

static void test_bip173_valid(void **state)
{
	(void)state;
	static const char *valid[] = {
		"A12UEL5L",
		"a12uel5l",
		"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
		"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
		"11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
		"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
		"?1ezyfcl",
	};
	for (size_t i = 0; i < sizeof(valid) / sizeof(*valid); i++) {
		char hrp[BECH32_MAX_HRP + 1], again[BECH32_MAX_LEN + 1], want[BECH32_MAX_LEN + 1];
		uint8_t data[128];
		size_t len = 0;
		if (!bech32_decode(valid[i], hrp, sizeof(hrp), data, sizeof(data), &len))
			fail_msg("refused valid '%s'", valid[i]);
		assert_true(bech32_encode(hrp, data, len, false, again, sizeof(again)));
		lower(valid[i], want);
		assert_string_equal(again, want);
	}
}

static void test_bip173_invalid(void **state)
{
	(void)state;
	static const char *invalid[] = {
		" 1nwldj5",          /* hrp character out of range */
		"\x7f" "1axkwrx",    /* hrp character out of range */
		"\x80" "1eym55h",    /* hrp character out of range */
		"pzry9x0s0muk",      /* no separator */
		"1pzry9x0s0muk",     /* empty hrp */
		"x1b4n0q5v",         /* a data character outside the alphabet */
		"li1dgmt3",          /* checksum too short */
		"de1lg7wt\xff",      /* a character out of range */
		"A1G7SGD8",          /* checksum of the upper-case hrp */
		"10a06t8",           /* empty hrp */
		"1qzzfhee",          /* empty hrp */
		"a12UEL5L",          /* mixed case */
		"an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
		"",
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(*invalid); i++) {
		char hrp[BECH32_MAX_HRP + 1];
		uint8_t data[128];
		size_t len = 0;
		if (bech32_decode(invalid[i], hrp, sizeof(hrp), data, sizeof(data), &len))
			fail_msg("accepted invalid string %zu", i);
	}
}

/* Every length of bytes round-trips, including past BIP 173's 90
 * characters; a changed character or a non-zero pad bit is refused. */
static void test_round_trip_and_damage(void **state)
{
	(void)state;
	uint8_t data[200], back[200];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(data); len++) {
		char s[BECH32_MAX_LEN + 1], hrp[BECH32_MAX_HRP + 1];
		size_t got = 0;
		assert_true(bech32_encode("test", data, len, len % 2 == 1, s, sizeof(s)));
		assert_true(bech32_decode(s, hrp, sizeof(hrp), back, sizeof(back), &got));
		assert_string_equal(hrp, "test");
		assert_int_equal(got, len);
		assert_memory_equal(back, data, len);
		if (len == 0)
			continue;
		/* one character of the data changed */
		size_t at = 5 + len / 2;
		char saved = s[at];
		s[at] = (saved == 'q' || saved == 'Q') ? (len % 2 ? 'P' : 'p')
						       : (len % 2 ? 'Q' : 'q');
		assert_false(bech32_decode(s, hrp, sizeof(hrp), back, sizeof(back), &got));
		s[at] = saved;
		/* too little room for the bytes */
		assert_false(bech32_decode(s, hrp, sizeof(hrp), back, len - 1, &got));
	}
	/* too little room for the string */
	char small[10];
	assert_false(bech32_encode("test", data, 4, false, small, sizeof(small)));
	assert_false(bech32_encode("", data, 4, false, small, sizeof(small)));
	assert_false(bech32_encode("Test", data, 1, false, small, sizeof(small)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bip173_valid),
		cmocka_unit_test(test_bip173_invalid),
		cmocka_unit_test(test_round_trip_and_damage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
