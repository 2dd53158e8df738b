/*
 * The client side of alknet-secretd: how typed mnemonics are put into
 * their written form, and how secret lines are read from a descriptor.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "secretd_client.h"

static void
normal(const char *typed, const char *want, size_t words)
{
	char buf[256];

	snprintf(buf, sizeof buf, "%s", typed);
	assert_int_equal(secretd_client_mnemonic(buf), words);
	assert_string_equal(buf, want);
}

static void
test_mnemonic_forms(void **state)
{
	normal("abandon about", "abandon about", 2);
	normal("  Abandon\t\tABOUT \r\n", "abandon about", 2);
	normal("one", "one", 1);
	normal("", "", 0);
	normal(" \t \n", "", 0);

	/* Only ASCII changes case; other bytes are the daemon's to judge. */
	normal("caf\xc3\xa9  X", "caf\xc3\xa9 x", 2);
}

static void
test_mnemonic_wipes_the_tail(void **state)
{
	char buf[32] = "  a   b   ";
	int  i;

	assert_int_equal(secretd_client_mnemonic(buf), 2);
	assert_string_equal(buf, "a b");
	for (i = 3; i < 10; i++)
		assert_int_equal(buf[i], '\0');
}

/* Lines from a pipe holding text, then closed. */
static int
pipe_of(const char *text)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(
	    write(fds[1], text, strlen(text)), (ssize_t)strlen(text));
	close(fds[1]);
	return fds[0];
}

static void
test_read_lines(void **state)
{
	char buf[16];
	int  fd = pipe_of("first\r\n\nlast");

	assert_int_equal(secretd_client_read_line(fd, buf, sizeof buf), 5);
	assert_string_equal(buf, "first");
	assert_int_equal(secretd_client_read_line(fd, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	assert_int_equal(secretd_client_read_line(fd, buf, sizeof buf), 4);
	assert_string_equal(buf, "last");
	assert_int_equal(
	    secretd_client_read_line(fd, buf, sizeof buf), -ENODATA);
	close(fd);
}

static void
test_read_line_too_long(void **state)
{
	char buf[8];
	int  fd = pipe_of("1234567\n12345678\nnext\n");

	assert_int_equal(secretd_client_read_line(fd, buf, sizeof buf), 7);
	assert_int_equal(secretd_client_read_line(fd, buf, sizeof buf), -E2BIG);
	assert_memory_equal(buf, "\0\0\0\0\0\0\0\0", sizeof buf);
	close(fd);
}

static void
test_read_line_leaves_the_rest(void **state)
{
	char buf[16], rest[16] = {0};
	int  fd = pipe_of("one\ntwo\n");

	assert_int_equal(secretd_client_read_line(fd, buf, sizeof buf), 3);
	assert_int_equal(read(fd, rest, sizeof rest - 1), 4);
	assert_string_equal(rest, "two\n");
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mnemonic_forms),
	    cmocka_unit_test(test_mnemonic_wipes_the_tail),
	    cmocka_unit_test(test_read_lines),
	    cmocka_unit_test(test_read_line_too_long),
	    cmocka_unit_test(test_read_line_leaves_the_rest),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
