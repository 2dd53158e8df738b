/*
 * The filesystem's calls: local identities with what acl/operations
 * grants them, answers as a transaction file shows them, errno of each
 * code, and a call given up before its slow handler answers.
 */
#include <errno.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "grants.h"
#include "opcall.h"
#include "registry.h"

static const char *const admin[] = {"node:admin", NULL};

/* The call a slow handler holds until the test answers it. */
static struct registry_call *held;

struct seen {
	int   n;
	int   err;
	char *text;
};

static void
slow(struct registry_call *call, json_t *input, void *arg)
{
	held = call;
}

static void
echo(struct registry_call *call, json_t *input, void *arg)
{
	registry_call_ok(call, input);
}

static void
on_answer(const struct registry_result *res, void *arg)
{
	struct seen *s = arg;

	s->n++;
	s->err = opcall_errno(res);
	free(s->text);
	s->text = opcall_text(res);
}

static struct registry *
make_registry(void)
{
	struct registry_spec spec;
	struct registry     *r = NULL;

	assert_int_equal(registry_new(8, 8, &r), 0);
	memset(&spec, 0, sizeof spec);
	spec.kind = REGISTRY_MUTATION;
	spec.access.scopes = admin;
	spec.name = "/t/slow";
	assert_int_equal(registry_register(r, &spec, slow, NULL, NULL, 0), 0);
	spec.name = "/t/echo";
	assert_int_equal(registry_register(r, &spec, echo, NULL, NULL, 0), 0);
	return r;
}

static void
test_local(void **state)
{
	struct opcall_who who;
	struct grants    *g = NULL;
	struct passwd    *pw = getpwuid(65534);
	char              want[64], err[128];

	assert_int_equal(opcall_local(0, NULL, &who), 0);
	assert_string_equal(who.id.id, "local:root");
	assert_null(who.id.scopes[0]);

	/* A uid without a name is known by its number. */
	assert_int_equal(opcall_local(54321, NULL, &who), 0);
	assert_string_equal(who.id.id, "local:54321");

	snprintf(
	    want, sizeof want, "local:%s", pw != NULL ? pw->pw_name : "65534");
	snprintf(err, sizeof err, "%s node:admin,x:y", want);
	assert_int_equal(grants_parse(err, &g, err, sizeof err), 0);
	assert_int_equal(opcall_local(65534, g, &who), 0);
	assert_string_equal(who.id.id, want);
	assert_string_equal(who.id.scopes[0], "node:admin");
	assert_string_equal(who.id.scopes[1], "x:y");
	assert_null(who.id.scopes[2]);
	grants_free(g);
}

static void
test_access(void **state)
{
	struct registry  *r = make_registry();
	struct opcall_who who;
	struct opcall    *c;
	struct seen       s = {0, 0, NULL};
	json_t           *in = json_pack("{s:i}", "id", 7);
	struct grants    *g = NULL;
	char              err[128];

	/* Nobody without grants is refused, with the registry's words. */
	assert_int_equal(opcall_local(54321, NULL, &who), 0);
	assert_int_equal(
	    opcall_start(r, &who.id, "/t/echo", in, on_answer, &s, &c), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(registry_deliver(r), 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.err, -EACCES);
	assert_non_null(strstr(s.text, "{\"error\":{\"code\":\"FORBIDDEN\""));

	/* Granted node:admin, the same call goes through. */
	assert_int_equal(
	    grants_parse("local:54321 node:admin", &g, err, sizeof err), 0);
	assert_int_equal(opcall_local(54321, g, &who), 0);
	assert_int_equal(
	    opcall_start(r, &who.id, "/t/echo", in, on_answer, &s, &c), 0);
	registry_deliver(r);
	assert_int_equal(s.err, 0);
	assert_string_equal(s.text, "{\"output\":{\"id\":7}}\n");

	/* No such operation. */
	assert_int_equal(
	    opcall_start(r, &who.id, "/t/none", in, on_answer, &s, &c), 0);
	registry_deliver(r);
	assert_int_equal(s.err, -ENOENT);

	grants_free(g);
	json_decref(in);
	free(s.text);
	registry_free(r);
}

static void
test_abort(void **state)
{
	struct registry  *r = make_registry();
	struct opcall_who who;
	struct opcall    *c;
	struct seen       s = {0, 0, NULL};

	/* A slow call answered after it was given up tells nobody; ASan
	 * sees that its record is freed all the same. */
	assert_int_equal(opcall_local(0, NULL, &who), 0);
	held = NULL;
	assert_int_equal(
	    opcall_start(r, &who.id, "/t/slow", NULL, on_answer, &s, &c), 0);
	assert_non_null(held);
	assert_int_equal(registry_deliver(r), 0);
	opcall_abort(c);
	registry_call_ok(held, NULL);
	assert_int_equal(registry_deliver(r), 1);
	assert_int_equal(s.n, 0);

	/* Not given up, the same call is told its answer. */
	held = NULL;
	assert_int_equal(
	    opcall_start(r, &who.id, "/t/slow", NULL, on_answer, &s, &c), 0);
	registry_call_fail(held, REPLY_TIMEOUT, 1, "too slow");
	assert_int_equal(registry_deliver(r), 1);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.err, -EIO);
	assert_string_equal(s.text,
	    "{\"error\":{\"code\":\"TIMEOUT\",\"message\":\"too slow\","
	    "\"retryable\":true}}\n");

	/* A handler's errno reaches the caller; the wire's text has none. */
	held = NULL;
	assert_int_equal(
	    opcall_start(r, &who.id, "/t/slow", NULL, on_answer, &s, &c), 0);
	registry_call_fail_errno(held, EEXIST, REPLY_INVALID_INPUT, "taken");
	assert_int_equal(registry_deliver(r), 1);
	assert_int_equal(s.err, -EEXIST);
	assert_string_equal(s.text,
	    "{\"error\":{\"code\":\"INVALID_INPUT\",\"message\":\"taken\","
	    "\"retryable\":false}}\n");
	opcall_abort(NULL);
	free(s.text);
	registry_free(r);
}

static void
test_errno(void **state)
{
	static const struct {
		enum reply_code code;
		int             err;
	} cases[] = {
	    {REPLY_FORBIDDEN, -EACCES},
	    {REPLY_NOT_FOUND, -ENOENT},
	    {REPLY_INVALID_INPUT, -EINVAL},
	    {REPLY_INTERNAL, -EIO},
	    {REPLY_ABORTED, -EIO},
	    {REPLY_LOCKED, -EIO},
	};
	struct reply_error     e = {REPLY_INTERNAL, "m", 0, NULL};
	struct registry_result res = {"x", NULL, &e, 0, 0};
	size_t                 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		e.code = cases[i].code;
		assert_int_equal(opcall_errno(&res), cases[i].err);
	}

	/* A handler's own errno wins over the code's. */
	res.errnum = EADDRINUSE;
	assert_int_equal(opcall_errno(&res), -EADDRINUSE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_local),
	    cmocka_unit_test(test_access),
	    cmocka_unit_test(test_abort),
	    cmocka_unit_test(test_errno),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
