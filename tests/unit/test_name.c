/*
 * Object names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "name.h"

static void
test_good(void **state)
{
	char name[64];

	assert_true(name_valid("db"));
	assert_true(name_valid("a.b-c_1"));
	assert_true(name_valid("Tcp0"));
	assert_true(name_valid("..."));
	assert_true(name_valid(".hidden"));

	/* 63 bytes fit. */
	memset(name, 'a', 63);
	name[63] = '\0';
	assert_true(name_valid(name));
}

static void
test_bad(void **state)
{
	char name[65];

	assert_false(name_valid(NULL));
	assert_false(name_valid(""));
	assert_false(name_valid("."));
	assert_false(name_valid(".."));
	assert_false(name_valid("a b"));
	assert_false(name_valid("a/b"));
	assert_false(name_valid("a=b"));
	assert_false(name_valid("a:b"));
	assert_false(name_valid("a\nb"));
	assert_false(name_valid("caf\xc3\xa9"));

	memset(name, 'a', 64);
	name[64] = '\0';
	assert_false(name_valid(name));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
