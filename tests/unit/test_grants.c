/*
 * The operation ACL: parsing, refused lines with their numbers, the
 * canonical form, and the union of a key's scopes with what is granted.
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

#include "grants.h"

#define FP "SHA256:abcabcabcabcabcabcabcabcabcabcabcabcabc+/AB"

static struct grants *
parse_ok(const char *text)
{
	struct grants *g = NULL;
	char           err[256] = "";

	assert_int_equal(grants_parse(text, &g, err, sizeof err), 0);
	assert_non_null(g);
	return g;
}

static void
test_parse_format(void **state)
{
	struct grants *g;
	char          *text;

	g = parse_ok(
	    "# who may do what\n\nlocal:alice  node:read,node:admin\n" FP
	    "\tnode:read\n");
	assert_int_equal(grants_count(g), 2);
	text = grants_format(g);
	assert_string_equal(
	    text, "local:alice node:read,node:admin\n" FP " node:read\n");
	free(text);
	grants_free(g);

	g = parse_ok("");
	assert_int_equal(grants_count(g), 0);
	text = grants_format(g);
	assert_string_equal(text, "");
	free(text);
	grants_free(g);
}

static void
test_refused(void **state)
{
	static const struct {
		const char *text;
		const char *err;
	} cases[] = {
	    {"local:alice", "line 1: expected ID SCOPE[,SCOPE...]"},
	    {"\n\nalice node:read",
	        "line 3: bad identity \"alice\" "
	        "(SHA256:... or local:USER)"},
	    {"local: node:read",
	        "line 1: bad identity \"local:\" "
	        "(SHA256:... or local:USER)"},
	    {"SHA256:a=b node:read",
	        "line 1: bad identity \"SHA256:a=b\" "
	        "(SHA256:... or local:USER)"},
	    {"SHA256:abc node:read",
	        "line 1: bad identity \"SHA256:abc\" "
	        "(SHA256:... or local:USER)"},
	    {"local:a node:read,", "line 1: expected ID SCOPE[,SCOPE...]"},
	    {"local:a node read", "line 1: expected ID SCOPE[,SCOPE...]"},
	    {"local:a no;de", "line 1: bad scope \"no;de\""},
	    {"local:a x\nlocal:a y",
	        "line 2: local:a already has a rule on "
	        "line 1"},
	};
	struct grants *g = NULL;
	char           err[256];
	size_t         i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err[0] = '\0';
		assert_int_equal(
		    grants_parse(cases[i].text, &g, err, sizeof err), -EINVAL);
		assert_string_equal(err, cases[i].err);
		assert_null(g);
	}
}

static void
test_bounds(void **state)
{
	struct grants *g = NULL;
	char           err[256], *text, *p;
	size_t         i;

	/* One scope more than a line may hold. */
	text = calloc(1, 16 + (GRANTS_SCOPES_MAX + 1) * 8);
	p = text + sprintf(text, "local:a ");
	for (i = 0; i <= GRANTS_SCOPES_MAX; i++)
		p += sprintf(p, "%ss%zu", i > 0 ? "," : "", i);
	assert_int_equal(grants_parse(text, &g, err, sizeof err), -EINVAL);
	assert_string_equal(err, "line 1: more than 32 scopes");
	free(text);

	/* One rule more than a set may hold. */
	text = calloc(1, (GRANTS_RULES_MAX + 1) * 24);
	for (p = text, i = 0; i <= GRANTS_RULES_MAX; i++)
		p += sprintf(p, "local:u%zu x\n", i);
	assert_int_equal(grants_parse(text, &g, err, sizeof err), -EINVAL);
	assert_string_equal(err, "line 1025: more than 1024 rules");
	free(text);
}

static void
test_scopes(void **state)
{
	static const char *const base[] = {"relay:connect", "node:read", NULL};
	struct grants           *g;
	const char              *out[8];

	g = parse_ok("local:alice node:read,node:admin\n" FP " x:y\n");
	assert_int_equal(grants_scopes(g, "local:alice", base, out, 8), 3);
	assert_string_equal(out[0], "relay:connect");
	assert_string_equal(out[1], "node:read");
	assert_string_equal(out[2], "node:admin");
	assert_null(out[3]);

	assert_int_equal(grants_scopes(g, FP, NULL, out, 8), 1);
	assert_string_equal(out[0], "x:y");
	assert_int_equal(grants_scopes(g, "local:bob", NULL, out, 8), 0);
	assert_null(out[0]);

	/* Room for two and the NULL. */
	assert_int_equal(grants_scopes(g, "local:alice", base, out, 3), 2);
	assert_null(out[2]);
	assert_int_equal(grants_scopes(NULL, "local:alice", base, out, 8), 2);
	grants_free(g);
	grants_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_format),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_scopes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
