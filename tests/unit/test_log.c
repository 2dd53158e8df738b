/*
 * Log lines and the escaping of peer-supplied strings.
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

#include "log.h"

/* Runs one log_info with stderr sent into a pipe; returns the bytes. */
static size_t
capture(char *out, size_t len, const char *msg)
{
	int     fds[2], saved;
	ssize_t n;
	size_t  got = 0;

	assert_int_equal(pipe(fds), 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
	close(fds[1]);

	errno = 1234;
	log_info("%s", msg);
	n = errno;

	/* Put stderr back before anything can assert. */
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_int_equal(n, 1234);

	while (
	    got < len - 1 && (n = read(fds[0], out + got, len - 1 - got)) > 0)
		got += (size_t)n;
	close(fds[0]);
	out[got] = '\0';
	return got;
}

static void
test_line_format(void **state)
{
	char buf[256];

	log_init("alknetd");
	capture(buf, sizeof buf, "ready pid=42");
	assert_string_equal(buf, "alknetd: ready pid=42\n");

	log_init("alknet-test");
	capture(buf, sizeof buf, "listener added name=tcp0");
	assert_string_equal(buf, "alknet-test: listener added name=tcp0\n");
	log_init("alknetd");
}

static void
test_line_cut(void **state)
{
	static char msg[10000], buf[12000];
	size_t      n;

	memset(msg, 'a', sizeof msg - 1);
	n = capture(buf, sizeof buf, msg);

	/* One bounded line, still ending in a newline. */
	assert_true(n > 1000);
	assert_true(n <= 4096);
	assert_int_equal(buf[n - 1], '\n');
	assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
	assert_memory_equal(buf, "alknetd: aaaa", 13);
}

static void
test_escape_plain(void **state)
{
	char buf[300];

	assert_string_equal(log_escape(buf, sizeof buf, "alice"), "alice");
	assert_string_equal(
	    log_escape(buf, sizeof buf, "a.b-c_d@e:1/2"), "a.b-c_d@e:1/2");
	assert_ptr_equal(log_escape(buf, sizeof buf, "x"), buf);
}

static void
test_escape_empty(void **state)
{
	char buf[16];

	assert_string_equal(log_escape(buf, sizeof buf, NULL), "-");
	assert_string_equal(log_escape(buf, sizeof buf, ""), "-");
}

static void
test_escape_special(void **state)
{
	char buf[300];

	assert_string_equal(log_escape(buf, sizeof buf, "a b"), "a\\x20b");
	assert_string_equal(
	    log_escape(buf, sizeof buf, "user=root"), "user\\x3droot");
	assert_string_equal(
	    log_escape(buf, sizeof buf, "\"q\""), "\\x22q\\x22");
	assert_string_equal(log_escape(buf, sizeof buf, "a\\b"), "a\\x5cb");
	assert_string_equal(
	    log_escape(buf, sizeof buf, "x\ny\rz\t"), "x\\x0ay\\x0dz\\x09");
	assert_string_equal(log_escape(buf, sizeof buf, "\x1b[1m"), "\\x1b[1m");
	assert_string_equal(log_escape(buf, sizeof buf, "\x7f"), "\\x7f");
	assert_string_equal(
	    log_escape(buf, sizeof buf, "\xc3\xa9"), "\\xc3\\xa9");
}

/* A forged log line inside a user name must stay on one line. */
static void
test_escape_injection(void **state)
{
	char buf[300];

	log_escape(buf, sizeof buf,
	    "x result=accept\nalknetd: auth attempt remote_addr=1.2.3.4");
	assert_null(strchr(buf, '\n'));
	assert_null(strchr(buf, ' '));
	assert_null(strchr(buf, '='));
}

static void
test_escape_long(void **state)
{
	char src[200], buf[300], want[80];

	memset(src, 'b', sizeof src - 1);
	src[sizeof src - 1] = '\0';
	memset(want, 'b', 64);
	strcpy(want + 64, "...");
	assert_string_equal(log_escape(buf, sizeof buf, src), want);

	/* Exactly 64 characters are kept whole. */
	src[64] = '\0';
	want[64] = '\0';
	assert_string_equal(log_escape(buf, sizeof buf, src), want);

	/* 65 are cut. */
	src[64] = 'b';
	src[65] = '\0';
	assert_int_equal(strlen(log_escape(buf, sizeof buf, src)), 67);
}

static void
test_escape_long_controls(void **state)
{
	char src[200], buf[400];

	/* 64 escaped characters take 256 bytes, then the mark. */
	memset(src, '\n', sizeof src - 1);
	src[sizeof src - 1] = '\0';
	log_escape(buf, sizeof buf, src);
	assert_int_equal(strlen(buf), 64 * 4 + 3);
	assert_string_equal(buf + 64 * 4, "...");
}

static void
test_escape_small_buffer(void **state)
{
	char buf[10];

	/* Cut by the buffer; escapes are never split. */
	assert_string_equal(
	    log_escape(buf, sizeof buf, "abcdefghijk"), "abcdef...");
	assert_string_equal(
	    log_escape(buf, sizeof buf, "abcdefghi"), "abcdefghi");
	assert_string_equal(
	    log_escape(buf, sizeof buf, "ab\ncdefg"), "ab\\x0a...");
	assert_string_equal(log_escape(buf, 3, "abcdef"), "");
	assert_string_equal(log_escape(buf, 2, ""), "-");
	assert_string_equal(log_escape(buf, 1, "abc"), "");

	buf[0] = 'z';
	log_escape(buf, 0, "abc");
	assert_int_equal(buf[0], 'z');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_line_format),
	    cmocka_unit_test(test_line_cut),
	    cmocka_unit_test(test_escape_plain),
	    cmocka_unit_test(test_escape_empty),
	    cmocka_unit_test(test_escape_special),
	    cmocka_unit_test(test_escape_injection),
	    cmocka_unit_test(test_escape_long),
	    cmocka_unit_test(test_escape_long_controls),
	    cmocka_unit_test(test_escape_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
