/*
 * Unit tests for reading a file the configuration names (conf/readfile.c):
 * read whole up to a ceiling, never blocking on a FIFO, anything but a
 * regular file refused with its kind named; and the words for a mode that
 * lets other users read or change a file.
 */
#include "conf_test.h"
#include "conf/loader.h"

#include <errno.h>
#include <sys/stat.h>
#include <time.h>

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_read_file(void **state)
{
	(void)state;
	char *data = NULL, why[200];
	size_t len = 0;
	unsigned mode = 0;

	write_mode("small.txt", "abc\n", 0640);
	assert_int_equal(ld_read_file("small.txt", 4, &data, &len, &mode, why, sizeof(why)),
			 LD_READ_OK);
	assert_int_equal(len, 4);
	assert_string_equal(data, "abc\n");
	assert_int_equal(mode, 0640);
	free(data);
	assert_int_equal(ld_read_file("small.txt", 3, &data, &len, &mode, why, sizeof(why)),
			 LD_READ_TOO_LARGE);

	errno = 0;
	assert_int_equal(ld_read_file("absent.txt", 10, &data, &len, NULL, why, sizeof(why)),
			 LD_READ_ERRNO);
	assert_int_equal(errno, ENOENT);
	assert_string_equal(why, "No such file or directory");

	assert_int_equal(ld_read_file(".", 10, &data, &len, NULL, why, sizeof(why)),
			 LD_READ_DIRECTORY);
	assert_string_equal(why, "not a regular file (a directory)");
	assert_int_equal(ld_read_file("/dev/zero", 10, &data, &len, NULL, why, sizeof(why)),
			 LD_READ_NOT_REGULAR);
	assert_string_equal(why, "not a regular file (a character device)");

	/* A FIFO nobody writes to: refused at once, not waited on. */
	assert_int_equal(mkfifo("fifo", 0600), 0);
	double t0 = now_seconds();
	assert_int_equal(ld_read_file("fifo", 10, &data, &len, NULL, why, sizeof(why)),
			 LD_READ_NOT_REGULAR);
	assert_true(now_seconds() - t0 < 1.0);
	assert_string_equal(why, "not a regular file (a FIFO)");
}

static void test_mode_exposure(void **state)
{
	(void)state;
	assert_null(ld_mode_exposure(0600));
	assert_null(ld_mode_exposure(0640));
	assert_null(ld_mode_exposure(0660));
	assert_string_equal(ld_mode_exposure(0644), "can be read by other users");
	assert_string_equal(ld_mode_exposure(0602), "can be changed by other users");
	assert_string_equal(ld_mode_exposure(0666), "can be read and changed by other users");
	assert_string_equal(ld_mode_exposure(01777), "can be read and changed by other users");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_file),
		cmocka_unit_test(test_mode_exposure),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
