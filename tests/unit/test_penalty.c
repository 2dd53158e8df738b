/*
 * Per-source penalties: the spec, accumulation up to max, enforcement
 * from min, expiry, IPv6 /64 sources, the exempt list, the bound of the
 * table, and a random run against a plain model.
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

#include "penalty.h"

#define SEC 1000 /* now is in milliseconds */

static struct in6_addr
addr(const char *text)
{
	struct in6_addr a;

	assert_int_equal(penalty_addr_parse(text, &a), 0);
	return a;
}

static struct penalty *
table(const char *spec)
{
	struct penalty_conf c;
	struct penalty     *p;
	char                err[256] = "";

	assert_int_equal(penalty_conf_parse(spec, &c, err, sizeof err), 0);
	assert_int_equal(penalty_new(&c, &p), 0);
	return p;
}

static int
refused(struct penalty *p, const char *text, uint64_t now)
{
	struct in6_addr a = addr(text);

	return penalty_refused(p, &a, now);
}

static int
add(struct penalty *p, const char *text, enum penalty_kind k, uint64_t now)
{
	struct in6_addr a = addr(text);

	return penalty_add(p, &a, k, now);
}

/* The penalties file's lines for p at now, in one string. */
static char *
listing(struct penalty *p, uint64_t now)
{
	struct penalty_info *v;
	size_t               n, i, used = 0;
	static char          buf[4096];

	assert_int_equal(penalty_list(p, now, &v, &n), 0);
	buf[0] = '\0';
	for (i = 0; i < n; i++)
		used += (size_t)snprintf(buf + used, sizeof buf - used,
		    "%s %u %s\n", v[i].source, v[i].secs_left,
		    penalty_kind_name(v[i].kind));
	free(v);
	return buf;
}

static void
test_conf_defaults(void **state)
{
	struct penalty_conf d, c;
	char                err[256];

	penalty_conf_default(&d);
	assert_true(d.enabled);
	assert_int_equal(d.secs[PENALTY_AUTHFAIL], 5);
	assert_int_equal(d.secs[PENALTY_NOAUTH], 1);
	assert_int_equal(d.secs[PENALTY_GRACE], 10);
	assert_int_equal(d.max, 600);
	assert_int_equal(d.min, 15);
	assert_int_equal(d.max_sources, 65536);

	/* The defaults written out, "yes" and nothing at all are the
	 * same; "no" turns them off. */
	assert_int_equal(penalty_conf_parse("authfail:5 noauth:1 "
	                                    "grace-exceeded:10 max:600 min:15",
	                     &c, err, sizeof err),
	    0);
	assert_memory_equal(&c, &d, sizeof c);
	assert_int_equal(penalty_conf_parse("yes", &c, err, sizeof err), 0);
	assert_memory_equal(&c, &d, sizeof c);
	assert_int_equal(penalty_conf_parse("", &c, err, sizeof err), 0);
	assert_memory_equal(&c, &d, sizeof c);
	assert_int_equal(penalty_conf_parse("no", &c, err, sizeof err), 0);
	assert_false(c.enabled);
}

static void
test_conf_words(void **state)
{
	struct penalty_conf c;
	char                err[256];

	assert_int_equal(penalty_conf_parse("min:2m  max:1h\tauthfail:30s "
	                                    "noauth:0 max-sources:8",
	                     &c, err, sizeof err),
	    0);
	assert_true(c.enabled);
	assert_int_equal(c.min, 120);
	assert_int_equal(c.max, 3600);
	assert_int_equal(c.secs[PENALTY_AUTHFAIL], 30);
	assert_int_equal(c.secs[PENALTY_NOAUTH], 0);
	assert_int_equal(c.secs[PENALTY_GRACE], 10);
	assert_int_equal(c.max_sources, 8);
	assert_string_equal(penalty_kind_name(PENALTY_GRACE), "grace-exceeded");
}

static void
test_conf_errors(void **state)
{
	static const struct {
		const char *spec;
		const char *says;
	} bad[] = {
	    {"crash:90", "unknown keyword \"crash\""},
	    {"authfail", "not keyword:duration"},
	    {"min:abc", "bad duration \"abc\" for min"},
	    {"min:-1", "bad duration"},
	    {"max:5x", "bad duration"},
	    {"max:5ss", "bad duration"},
	    {"max:8d", "bad duration"},
	    {"max:169h", "bad duration"},
	    {"min:20 max:10", "not below min"},
	    {"max:0 min:0", "at least 1"},
	    {"no authfail:3", "\"no\" stands alone"},
	    {"max-sources:0", "max-sources must be"},
	    {"max-sources:2000000", "max-sources must be"},
	};
	struct penalty_conf c;
	char                err[256];
	size_t              i;

	memset(&c, 0x5a, sizeof c);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		assert_int_equal(
		    penalty_conf_parse(bad[i].spec, &c, err, sizeof err),
		    -EINVAL);
		if (strstr(err, bad[i].says) == NULL)
			fail_msg("%s: \"%s\" lacks \"%s\"", bad[i].spec, err,
			    bad[i].says);
	}
	/* Nothing was written on failure. */
	assert_int_equal(c.min, 0x5a5a5a5a);
	assert_int_equal(
	    penalty_conf_parse("max:168h", &c, err, sizeof err), 0);
	assert_int_equal(c.max, 7 * 24 * 3600);
}

static void
test_addresses(void **state)
{
	struct in6_addr a, b;

	a = addr("192.0.2.1");
	b = addr("::ffff:192.0.2.1");
	assert_memory_equal(&a, &b, sizeof a);
	assert_true(penalty_addr_v4(&a));
	b = addr("2001:db8::1");
	assert_false(penalty_addr_v4(&b));
	assert_int_equal(penalty_addr_parse("192.0.2", &a), -EINVAL);
	assert_int_equal(penalty_addr_parse("[::1]", &a), -EINVAL);
	assert_int_equal(penalty_addr_parse("", &a), -EINVAL);
}

/* Three failures of 5 s reach min 15: refused for 15 s, then free. */
static void
test_accumulates_to_min(void **state)
{
	struct penalty *p = table("");

	assert_int_equal(add(p, "127.0.0.1", PENALTY_AUTHFAIL, 0), 0);
	assert_int_equal(add(p, "127.0.0.1", PENALTY_AUTHFAIL, 0), 0);
	assert_false(refused(p, "127.0.0.1", 0));
	assert_string_equal(listing(p, 0), "");
	assert_int_equal(penalty_count(p, 0), 1);

	assert_int_equal(add(p, "127.0.0.1", PENALTY_AUTHFAIL, 0), 1);
	assert_true(refused(p, "127.0.0.1", 0));
	assert_true(refused(p, "::ffff:127.0.0.1", 0));
	assert_false(refused(p, "127.0.0.2", 0));
	assert_string_equal(listing(p, 0), "127.0.0.1/32 15 authfail\n");

	assert_true(refused(p, "127.0.0.1", 14 * SEC + 1));
	assert_string_equal(
	    listing(p, 14 * SEC + 1), "127.0.0.1/32 1 authfail\n");
	assert_false(refused(p, "127.0.0.1", 15 * SEC));
	assert_string_equal(listing(p, 15 * SEC), "");
	assert_int_equal(penalty_count(p, 15 * SEC), 0);
	penalty_free(p);
}

/* What is owed runs down meanwhile: slow failures never reach min. */
static void
test_owed_time_runs_down(void **state)
{
	struct penalty *p = table("");
	uint64_t        t;

	for (t = 0; t < 100 * SEC; t += 5 * SEC)
		assert_int_equal(
		    add(p, "198.51.100.7", PENALTY_AUTHFAIL, t), 0);
	assert_false(refused(p, "198.51.100.7", t));

	/* Faster ones do: 5 s every second piles up 4 s a second, and
	 * the fourth makes 17 s. */
	for (; add(p, "198.51.100.7", PENALTY_AUTHFAIL, t) == 0; t += SEC)
		assert_true(t < 110 * SEC);
	assert_int_equal(t, 103 * SEC);
	assert_string_equal(listing(p, t), "198.51.100.7/32 17 authfail\n");
	penalty_free(p);
}

static void
test_capped_at_max(void **state)
{
	struct penalty *p = table("min:15 max:20 grace-exceeded:30");
	int             i;

	for (i = 0; i < 10; i++)
		add(p, "203.0.113.9", PENALTY_AUTHFAIL, 0);
	assert_string_equal(listing(p, 0), "203.0.113.9/32 20 authfail\n");

	/* One kind past max alone is enforced at once, for max. */
	assert_int_equal(add(p, "203.0.113.10", PENALTY_GRACE, SEC), 1);
	assert_string_equal(listing(p, SEC),
	    "203.0.113.9/32 19 authfail\n"
	    "203.0.113.10/32 20 grace-exceeded\n");

	/* The reason shown is the last kind added. */
	add(p, "203.0.113.9", PENALTY_NOAUTH, SEC);
	assert_string_equal(listing(p, SEC),
	    "203.0.113.9/32 20 noauth\n"
	    "203.0.113.10/32 20 grace-exceeded\n");
	assert_false(refused(p, "203.0.113.10", 21 * SEC));
	penalty_free(p);
}

static void
test_ipv6_sources_are_64s(void **state)
{
	struct penalty *p = table("min:2 max:60");

	add(p, "2001:db8:1:2::1", PENALTY_NOAUTH, 0);
	add(p, "2001:db8:1:2:ffff:ffff:ffff:fffe", PENALTY_NOAUTH, 0);
	assert_true(refused(p, "2001:db8:1:2:abcd::", 0));
	assert_false(refused(p, "2001:db8:1:3::1", 0));
	assert_false(refused(p, "192.0.2.1", 0));
	add(p, "192.0.2.1", PENALTY_GRACE, 0);
	assert_string_equal(listing(p, 0),
	    "192.0.2.1/32 10 grace-exceeded\n"
	    "2001:db8:1:2::/64 2 noauth\n");
	penalty_free(p);
}

static void
test_exempt(void **state)
{
	struct penalty *p = table("min:1");
	char            err[256];

	assert_string_equal(penalty_exempt(p), "none");
	assert_int_equal(penalty_set_exempt(p, "127.0.0.0/8, ::1,10.1.2.3/32",
	                     err, sizeof err),
	    0);
	assert_string_equal(penalty_exempt(p), "127.0.0.0/8, ::1,10.1.2.3/32");

	assert_int_equal(add(p, "127.9.8.7", PENALTY_GRACE, 0), 0);
	assert_int_equal(add(p, "::ffff:127.0.0.1", PENALTY_GRACE, 0), 0);
	assert_int_equal(add(p, "::1", PENALTY_GRACE, 0), 0);
	assert_int_equal(add(p, "10.1.2.3", PENALTY_GRACE, 0), 0);
	assert_int_equal(penalty_count(p, 0), 0);
	assert_int_equal(add(p, "::2", PENALTY_GRACE, 0), 1);
	assert_int_equal(add(p, "10.1.2.4", PENALTY_GRACE, 0), 1);
	assert_int_equal(add(p, "128.0.0.1", PENALTY_GRACE, 0), 1);

	/* A refused source that becomes exempt is let in. */
	assert_true(refused(p, "10.1.2.4", 0));
	assert_int_equal(
	    penalty_set_exempt(p, "10.0.0.0/8", err, sizeof err), 0);
	assert_false(refused(p, "10.1.2.4", 0));
	assert_false(refused(p, "10.1.2.3", 0));
	assert_true(refused(p, "128.0.0.1", 0));

	/* A bad list keeps the old one. */
	assert_int_equal(
	    penalty_set_exempt(p, "10.0.0.0/33", err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "\"10.0.0.0/33\""));
	assert_int_equal(
	    penalty_set_exempt(p, "::1/129", err, sizeof err), -EINVAL);
	assert_int_equal(
	    penalty_set_exempt(p, "localhost", err, sizeof err), -EINVAL);
	assert_int_equal(
	    penalty_set_exempt(p, "1.2.3.4/", err, sizeof err), -EINVAL);
	assert_string_equal(penalty_exempt(p), "10.0.0.0/8");
	assert_false(refused(p, "10.1.2.4", 0));

	assert_int_equal(penalty_set_exempt(p, "none", err, sizeof err), 0);
	assert_string_equal(penalty_exempt(p), "none");
	assert_true(refused(p, "10.1.2.4", 0));
	penalty_free(p);
}

static void
test_disabled(void **state)
{
	struct penalty *p = table("no");
	int             i;

	for (i = 0; i < 100; i++)
		assert_int_equal(add(p, "127.0.0.1", PENALTY_GRACE, 0), 0);
	assert_false(refused(p, "127.0.0.1", 0));
	assert_int_equal(penalty_count(p, 0), 0);
	penalty_free(p);

	/* A kind of 0 s adds nothing. */
	p = table("noauth:0 min:1");
	assert_int_equal(add(p, "127.0.0.1", PENALTY_NOAUTH, 0), 0);
	assert_int_equal(penalty_count(p, 0), 0);
	penalty_free(p);
}

/* Full, a new source pushes out the one that would leave soonest. */
static void
test_full_table_is_permissive(void **state)
{
	struct penalty *p = table("max-sources:3 min:10 max:100");
	char            a[32];
	int             i;

	for (i = 0; i < 3; i++) {
		snprintf(a, sizeof a, "192.0.2.%d", i + 1);
		add(p, a, PENALTY_GRACE, (uint64_t)(3 - i) * SEC);
	}
	assert_int_equal(penalty_count(p, 3 * SEC), 3);

	/* 192.0.2.3's penalty ends first, so it goes. */
	assert_int_equal(add(p, "192.0.2.9", PENALTY_GRACE, 3 * SEC), 1);
	assert_int_equal(penalty_count(p, 3 * SEC), 3);
	assert_false(refused(p, "192.0.2.3", 3 * SEC));
	assert_true(refused(p, "192.0.2.1", 3 * SEC));
	assert_true(refused(p, "192.0.2.2", 3 * SEC));
	assert_true(refused(p, "192.0.2.9", 3 * SEC));

	/* A flood of short penalties pushes out only its own kind. */
	for (i = 0; i < 1000; i++) {
		snprintf(a, sizeof a, "10.0.%d.%d", i / 256, i % 256);
		assert_int_equal(add(p, a, PENALTY_NOAUTH, 4 * SEC), 0);
	}
	assert_int_equal(penalty_count(p, 4 * SEC), 3);
	assert_string_equal(listing(p, 4 * SEC),
	    "192.0.2.1/32 9 grace-exceeded\n"
	    "192.0.2.2/32 8 grace-exceeded\n"
	    "192.0.2.9/32 9 grace-exceeded\n");

	/* A longer one does push out the soonest. */
	assert_int_equal(add(p, "10.9.9.9", PENALTY_GRACE, 4 * SEC), 1);
	assert_false(refused(p, "192.0.2.2", 4 * SEC));
	assert_true(refused(p, "10.9.9.9", 4 * SEC));
	penalty_free(p);
}

/* The model: what each of a few sources owes, and whether it is
 * refused, kept the plain way. */
struct model {
	uint64_t expiry;
	int      active;
};

static void
test_random_against_model(void **state)
{
	enum { NADDR = 40, ROUNDS = 20000 };
	struct penalty *p = table("authfail:5 noauth:1 grace-exceeded:10 "
	                          "min:15 max:60 max-sources:64");
	struct model    m[NADDR];
	char            a[32];
	uint64_t        now = 0, owed;
	unsigned        secs[] = {5, 1, 10};
	size_t          live, n;
	int             i, k, r;

	memset(m, 0, sizeof m);
	for (r = 0; r < ROUNDS; r++) {
		now += randombytes_uniform(700);
		i = (int)randombytes_uniform(NADDR);
		k = (int)randombytes_uniform(PENALTY_NKINDS);
		snprintf(a, sizeof a, "172.16.0.%d", i);

		if (m[i].expiry <= now)
			m[i].expiry = now, m[i].active = 0;
		owed = m[i].expiry - now + secs[k] * SEC;
		if (owed > 60 * SEC)
			owed = 60 * SEC;
		m[i].expiry = now + owed;
		m[i].active |= owed >= 15 * SEC;
		assert_int_equal(
		    add(p, a, (enum penalty_kind)k, now), m[i].active);

		i = (int)randombytes_uniform(NADDR);
		snprintf(a, sizeof a, "172.16.0.%d", i);
		assert_int_equal(
		    refused(p, a, now), m[i].expiry > now && m[i].active);
	}
	for (live = 0, n = 0, i = 0; i < NADDR; i++) {
		live += m[i].expiry > now;
		n += m[i].expiry > now && m[i].active;
	}
	assert_int_equal(penalty_count(p, now), live);
	assert_int_equal(strlen(listing(p, now)) > 0, n > 0);
	penalty_free(p);
}

static void
test_new_and_free(void **state)
{
	struct penalty_conf c;
	struct penalty     *p = NULL;

	penalty_conf_default(&c);
	c.max_sources = 0;
	assert_int_equal(penalty_new(&c, &p), -EINVAL);
	assert_null(p);
	penalty_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_conf_defaults),
	    cmocka_unit_test(test_conf_words),
	    cmocka_unit_test(test_conf_errors),
	    cmocka_unit_test(test_addresses),
	    cmocka_unit_test(test_accumulates_to_min),
	    cmocka_unit_test(test_owed_time_runs_down),
	    cmocka_unit_test(test_capped_at_max),
	    cmocka_unit_test(test_ipv6_sources_are_64s),
	    cmocka_unit_test(test_exempt),
	    cmocka_unit_test(test_disabled),
	    cmocka_unit_test(test_full_table_is_permissive),
	    cmocka_unit_test(test_random_against_model),
	    cmocka_unit_test(test_new_and_free),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
