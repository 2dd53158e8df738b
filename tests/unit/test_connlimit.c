/*
 * Open connections per address: the limit, counts going down on close,
 * IPv4-mapped addresses, and the bound of the table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "connlimit.h"
#include "penalty.h"

static struct in6_addr
addr(const char *text)
{
	struct in6_addr a;

	assert_int_equal(penalty_addr_parse(text, &a), 0);
	return a;
}

static void
test_limit_per_address(void **state)
{
	struct connlimit *c;
	struct in6_addr   a = addr("192.0.2.1"), b = addr("192.0.2.2");
	int               i;

	assert_int_equal(connlimit_new(16, &c), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(connlimit_add(c, &a, 5), 0);
	assert_int_equal(connlimit_add(c, &a, 5), -EBUSY);
	assert_int_equal(connlimit_count(c, &a), 5);

	/* Another address has its own count. */
	assert_int_equal(connlimit_add(c, &b, 5), 0);
	assert_int_equal(connlimit_count(c, &b), 1);
	assert_int_equal(connlimit_addrs(c), 2);

	/* A close makes room for one more. */
	connlimit_remove(c, &a);
	assert_int_equal(connlimit_count(c, &a), 4);
	assert_int_equal(connlimit_add(c, &a, 5), 0);
	assert_int_equal(connlimit_add(c, &a, 5), -EBUSY);

	for (i = 0; i < 5; i++)
		connlimit_remove(c, &a);
	connlimit_remove(c, &b);
	assert_int_equal(connlimit_count(c, &a), 0);
	assert_int_equal(connlimit_addrs(c), 0);

	/* A close that was never counted changes nothing. */
	connlimit_remove(c, &a);
	assert_int_equal(connlimit_addrs(c), 0);
	connlimit_free(c);
}

static void
test_mapped_is_ipv4(void **state)
{
	struct connlimit *c;
	struct in6_addr   v4 = addr("127.0.0.1");
	struct in6_addr   mapped = addr("::ffff:127.0.0.1");
	struct in6_addr   v6 = addr("::1");

	assert_int_equal(connlimit_new(4, &c), 0);
	assert_int_equal(connlimit_add(c, &v4, 2), 0);
	assert_int_equal(connlimit_add(c, &mapped, 2), 0);
	assert_int_equal(connlimit_add(c, &v4, 2), -EBUSY);
	assert_int_equal(connlimit_add(c, &v6, 2), 0);
	assert_int_equal(connlimit_count(c, &v4), 2);
	assert_int_equal(connlimit_count(c, &v6), 1);
	connlimit_free(c);
}

static void
test_unlimited_and_full(void **state)
{
	struct connlimit *c;
	struct in6_addr   a;
	char              text[32];
	int               i;

	assert_int_equal(connlimit_new(3, &c), 0);
	a = addr("2001:db8::1");
	for (i = 0; i < 1000; i++)
		assert_int_equal(connlimit_add(c, &a, 0), 0);
	assert_int_equal(connlimit_count(c, &a), 1000);

	/* Two more addresses fill the table; a fourth has no room. */
	for (i = 2; i <= 3; i++) {
		snprintf(text, sizeof text, "2001:db8::%d", i);
		a = addr(text);
		assert_int_equal(connlimit_add(c, &a, 0), 0);
	}
	a = addr("2001:db8::4");
	assert_int_equal(connlimit_add(c, &a, 0), -ENOSPC);
	assert_int_equal(connlimit_count(c, &a), 0);

	/* Once one leaves, there is. */
	a = addr("2001:db8::2");
	connlimit_remove(c, &a);
	a = addr("2001:db8::4");
	assert_int_equal(connlimit_add(c, &a, 0), 0);
	assert_int_equal(connlimit_addrs(c), 3);
	connlimit_free(c);
}

/* Many addresses in and out: the counts stay exact. */
static void
test_churn(void **state)
{
	enum { NADDR = 300 };
	struct connlimit *c;
	struct in6_addr   a;
	unsigned          count[NADDR];
	char              text[32];
	int               r, i, rc;

	memset(count, 0, sizeof count);
	assert_int_equal(connlimit_new(NADDR, &c), 0);
	for (r = 0; r < 50000; r++) {
		i = (int)randombytes_uniform(NADDR);
		snprintf(text, sizeof text, "10.%d.%d.1", i / 256, i % 256);
		a = addr(text);
		if (randombytes_uniform(2) == 0 && count[i] > 0) {
			connlimit_remove(c, &a);
			count[i]--;
			continue;
		}
		rc = connlimit_add(c, &a, 3);
		assert_int_equal(rc, count[i] < 3 ? 0 : -EBUSY);
		if (rc == 0)
			count[i]++;
	}
	for (i = 0; i < NADDR; i++) {
		snprintf(text, sizeof text, "10.%d.%d.1", i / 256, i % 256);
		a = addr(text);
		assert_int_equal(connlimit_count(c, &a), count[i]);
	}
	connlimit_free(c);
}

static void
test_bounds(void **state)
{
	struct connlimit *c = NULL;

	assert_int_equal(connlimit_new(0, &c), -EINVAL);
	assert_int_equal(connlimit_new((1 << 20) + 1, &c), -EINVAL);
	assert_null(c);
	connlimit_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_limit_per_address),
	    cmocka_unit_test(test_mapped_is_ipv4),
	    cmocka_unit_test(test_unlimited_and_full),
	    cmocka_unit_test(test_churn),
	    cmocka_unit_test(test_bounds),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
