/*
 * Unit tests for common/buf.c: appending bytes, strings, characters and
 * formatted text, growth past the first allocation, buf_take handing the
 * string over, and the sticky out-of-memory flag.
 */
#include "common/buf.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

static void test_append(void **state)
{
	(void)state;
	struct buf b = {0};
	buf_add(&b, "ab\0c", 4);
	buf_adds(&b, "de");
	buf_addc(&b, 'f');
	buf_addf(&b, "%d-%s", 42, "x");
	assert_false(b.oom);
	assert_int_equal(b.len, 11);
	assert_memory_equal(b.data, "ab\0cdef42-x", 12);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

static void test_addf_grows_past_first_allocation(void **state)
{
	(void)state;
	struct buf b = {0};
	buf_addc(&b, '<');
	size_t first_cap = b.cap;
	assert_true(first_cap > 0);

	char big[5000];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	buf_addf(&b, "%s|%05d", big, 7);
	for (int i = 0; i < 1000; i++)
		buf_addf(&b, "%d,", i);
	assert_false(b.oom);
	assert_true(b.cap > first_cap);
	assert_true(b.len < b.cap);

	assert_int_equal(b.data[0], '<');
	assert_int_equal(strspn(b.data + 1, "z"), sizeof(big) - 1);
	const char *rest = b.data + sizeof(big);
	assert_memory_equal(rest, "|00007", 6);
	assert_memory_equal(rest + 6, "0,1,2,", 6);
	assert_string_equal(b.data + b.len - 4, "999,");
	assert_int_equal(strlen(b.data), b.len);
	buf_free(&b);
}

static void test_take(void **state)
{
	(void)state;
	struct buf b = {0};
	char *s = buf_take(&b);
	assert_non_null(s);
	assert_string_equal(s, "");
	free(s);

	buf_adds(&b, "hello");
	s = buf_take(&b);
	assert_string_equal(s, "hello");
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	free(s);

	/* b is empty and usable again. */
	buf_adds(&b, "again");
	s = buf_take(&b);
	assert_string_equal(s, "again");
	free(s);
}

/* A length no allocation can hold fails without a hook in malloc; the
 * data is never read, since the room is checked first. */
static void test_out_of_memory_is_sticky(void **state)
{
	(void)state;
	struct buf b = {0};
	buf_adds(&b, "before");
	buf_add(&b, "x", (size_t)-1 / 2);
	assert_true(b.oom);
	assert_int_equal(b.len, 6);

	buf_adds(&b, "after");
	buf_addc(&b, '!');
	buf_addf(&b, "%d", 1);
	buf_add(&b, "y", 1);
	assert_true(b.oom);
	assert_int_equal(b.len, 6);

	assert_null(buf_take(&b));
	assert_false(b.oom);
	assert_null(b.data);

	/* After buf_take the flag is cleared, and so is buf_free's. */
	buf_add(&b, "x", (size_t)-1 / 2);
	assert_true(b.oom);
	buf_free(&b);
	assert_false(b.oom);
	buf_adds(&b, "fresh");
	char *s = buf_take(&b);
	assert_string_equal(s, "fresh");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_addf_grows_past_first_allocation),
		cmocka_unit_test(test_take),
		cmocka_unit_test(test_out_of_memory_is_sticky),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
