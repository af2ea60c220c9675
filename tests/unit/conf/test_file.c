/*
 * Unit tests for which config file conf_load reads (file.c): --config over
 * $CBSYNC_CONFIG over the system file, and the error lines for a file that
 * is missing or a directory.
 */
#include "conf_test.h"

static void test_config_sources(void **state)
{
	(void)state;
	struct conf c;
	struct error err;
	write_text("a.conf", "[log]\nlevel = warn\n");
	write_text("b.conf", "[log]\nlevel = error\n");

	/* --config beats CBSYNC_CONFIG. */
	char *env[] = {"CBSYNC_CONFIG=b.conf", NULL};
	assert_int_equal(load_ex(&c, &err, "a.conf", env, NULL, NULL), CB_OK);
	assert_int_equal(c.log_level, LOG_WARN);
	assert_string_equal(c.source, "a.conf");
	conf_free(&c);
	assert_int_equal(load_ex(&c, &err, NULL, env, NULL, NULL), CB_OK);
	assert_int_equal(c.log_level, LOG_ERROR);
	assert_string_equal(c.source, "b.conf");
	conf_free(&c);

	/* A named file must exist; the path is quoted as given. */
	assert_int_equal(load_ex(&c, &err, "/x/y.conf", NULL, NULL, NULL), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cannot read config file '/x/y.conf': No such file or "
			    "directory");
	assert_true(conf_is_zero(&c));
	char *missing[] = {"CBSYNC_CONFIG=nope.conf", NULL};
	assert_int_equal(load_ex(&c, &err, NULL, missing, NULL, NULL), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cannot read config file 'nope.conf': No such file or "
			    "directory");
	assert_int_equal(load_ex(&c, &err, ".", NULL, NULL, NULL), CB_ERR_CONFIG);
	assert_string_equal(err.msg, "cannot read config file '.': it is a directory; HINT: "
			    "--config names the file itself, e.g. ./cbsync.conf");

	/* The system file is read if it exists, and skipped if not. */
	const struct conf_load_opts sys = {.system_path = "a.conf", .environ = (char *[]){NULL}};
	assert_int_equal(conf_load(&c, &sys, &err), CB_OK);
	assert_int_equal(c.log_level, LOG_WARN);
	assert_string_equal(c.source, "a.conf");
	conf_free(&c);
	const struct conf_load_opts nosys = {.system_path = "absent/cbsync.conf",
					     .environ = (char *[]){NULL}};
	assert_int_equal(conf_load(&c, &nosys, &err), CB_OK);
	assert_null(c.source);
	conf_free(&c);

	/* A NULL opts means the process environment and the system file. */
	unsetenv("CBSYNC_CONFIG");
	if (access(CONF_SYSTEM_PATH, F_OK) != 0) {
		assert_int_equal(conf_load(&c, NULL, &err), CB_OK);
		conf_free(&c);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_sources),
	};
	return cmocka_run_group_tests(tests, conf_test_setup, conf_test_teardown);
}
