/*
 * Unit tests for common/result.c: the one order of failures (result_worse)
 * and the "out of memory" error (error_nomem).
 */
#include "common/result.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

/* Every result code, in enum order. */
static const enum result all[] = {
	CB_OK,          CB_ERR_USAGE, CB_ERR_CONFIG, CB_ERR_NOT_FOUND, CB_ERR_CORRUPT,
	CB_ERR_IO,      CB_ERR_BUSY,  CB_ERR_DB,     CB_ERR_RETRY,     CB_ERR_REMOTE,
	CB_ERR_NOMEM,   CB_ERR_INTERNAL, CB_ERR_INTERRUPTED,
};
#define N_ALL (sizeof(all) / sizeof(*all))

/* The failures result_worse does not tell apart. */
static const enum result others[] = {
	CB_ERR_USAGE, CB_ERR_NOT_FOUND, CB_ERR_IO,       CB_ERR_BUSY,
	CB_ERR_DB,    CB_ERR_NOMEM,     CB_ERR_INTERNAL,
};
#define N_OTHERS (sizeof(others) / sizeof(*others))

static void test_documented_order(void **state)
{
	(void)state;
	/* Worst first, as result.h lists it; others[0] stands for the rest. */
	static const enum result chain[] = {
		CB_ERR_INTERRUPTED, CB_ERR_CONFIG, CB_ERR_REMOTE, CB_ERR_CORRUPT,
		CB_ERR_RETRY,       CB_ERR_IO,     CB_OK,
	};
	size_t n = sizeof(chain) / sizeof(*chain);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++)
			assert_int_equal(result_worse(chain[i], chain[j]), i < j);
}

static void test_config_check_exit_statuses(void **state)
{
	(void)state;
	/* README: "the exit status is the worst failure's (3 settings, 10
	 * refused, 9 unreachable)". */
	assert_true(result_worse(CB_ERR_CONFIG, CB_ERR_REMOTE));
	assert_true(result_worse(CB_ERR_REMOTE, CB_ERR_RETRY));
	assert_true(result_worse(CB_ERR_CONFIG, CB_ERR_RETRY));
	assert_false(result_worse(CB_ERR_RETRY, CB_ERR_REMOTE));
}

static void test_other_failures_are_equal(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_OTHERS; i++) {
		assert_true(result_worse(others[i], CB_OK));
		assert_false(result_worse(CB_OK, others[i]));
		assert_true(result_worse(CB_ERR_RETRY, others[i]));
		for (size_t j = 0; j < N_OTHERS; j++)
			assert_false(result_worse(others[i], others[j]));
	}
}

static void test_strict_order(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_ALL; i++) {
		/* Nothing is worse than itself: the first of a kind is kept. */
		assert_false(result_worse(all[i], all[i]));
		/* Success is worse than nothing; every failure is worse than success. */
		assert_false(result_worse(CB_OK, all[i]));
		if (all[i] != CB_OK)
			assert_true(result_worse(all[i], CB_OK));
		for (size_t j = 0; j < N_ALL; j++) {
			/* Never both ways. */
			if (result_worse(all[i], all[j]))
				assert_false(result_worse(all[j], all[i]));
			for (size_t k = 0; k < N_ALL; k++)
				if (result_worse(all[i], all[j]) && result_worse(all[j], all[k]))
					assert_true(result_worse(all[i], all[k]));
		}
	}
}

static void test_error_nomem(void **state)
{
	(void)state;
	struct error err;
	memset(&err, 0x5A, sizeof(err));
	assert_int_equal(error_nomem(&err), CB_ERR_NOMEM);
	assert_int_equal(err.code, CB_ERR_NOMEM);
	assert_int_equal(err.os_errno, 0);
	assert_string_equal(err.msg, "out of memory");
	assert_int_equal(error_nomem(NULL), CB_ERR_NOMEM);
	assert_int_equal(result_exit_code(CB_ERR_NOMEM), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_documented_order),
		cmocka_unit_test(test_config_check_exit_statuses),
		cmocka_unit_test(test_other_failures_are_equal),
		cmocka_unit_test(test_strict_order),
		cmocka_unit_test(test_error_nomem),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
