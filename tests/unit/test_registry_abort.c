/*
 * The registry's calls that do not end at their first answer:
 * subscriptions (values, then an end), callers that give up
 * (registry_abort, registry_abort_origin), the cascade to calls nested
 * through the env, and teardown with subscriptions open.
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

#include "registry.h"
#include "reply.h"

/* Everything a caller was told, in order. */
struct told {
	int             values; /* answers with more set */
	long long       sum;    /* of integer values */
	int             ends;   /* last answers */
	int             failed;
	enum reply_code code;
	int             completed; /* a last answer with neither part */
};

/* A handler's view: its call, and whether it learnt of an abort. */
struct held {
	struct registry_call *call;
	int                   aborted;
	struct registry_call *inner; /* set by h_nest's nested handler */
	struct told           inner_told;
};

static struct held held;

static void
on_told(const struct registry_result *res, void *arg)
{
	struct told *t = arg;

	if (res->more) {
		assert_null(res->error);
		assert_non_null(res->output);
		t->values++;
		t->sum += json_integer_value(res->output);
		return;
	}
	t->ends++;
	t->failed = res->error != NULL;
	if (res->error != NULL)
		t->code = res->error->code;
	t->completed = res->error == NULL && res->output == NULL;
}

static void
on_abort(struct registry_call *call, void *arg)
{
	struct held *h = arg;

	assert_non_null(call);
	h->aborted++;
}

/* Keeps the call and learns of an abort. */
static void
h_keep(struct registry_call *call, json_t *input, void *arg)
{
	held.call = call;
	registry_call_on_abort(call, on_abort, &held);
}

/* Keeps the call and does not ask to learn of an abort. */
static void
h_keep_deaf(struct registry_call *call, json_t *input, void *arg)
{
	held.call = call;
}

static void
h_inner(struct registry_call *call, json_t *input, void *arg)
{
	held.inner = call;
}

/* Calls /t/inner through the env and waits for it. */
static void
h_nest(struct registry_call *call, json_t *input, void *arg)
{
	held.call = call;
	if (arg != NULL)
		registry_call_on_abort(call, on_abort, &held);
	assert_int_equal(registry_call_invoke(call, "t", "inner", NULL, on_told,
	                     &held.inner_told),
	    0);
}

static struct registry *
setup(enum registry_kind kind, registry_handler_cb h, void *arg)
{
	struct registry     *r = NULL;
	struct registry_spec spec = {0};

	memset(&held, 0, sizeof held);
	assert_int_equal(registry_new(16, 16, &r), 0);
	spec.name = "/t/op";
	spec.kind = kind;
	spec.is_public = 1;
	spec.output = json_pack("{s:s}", "type", "integer");
	assert_int_equal(registry_register(r, &spec, h, arg, NULL, 0), 0);
	json_decref(spec.output);

	spec.name = "/t/inner";
	spec.kind = REGISTRY_QUERY;
	spec.output = NULL;
	assert_int_equal(
	    registry_register(r, &spec, h_inner, NULL, NULL, 0), 0);
	return r;
}

static void
start(struct registry *r, void *origin, const char *id, struct told *t)
{
	struct registry_ctx ctx = {NULL, 0, id, NULL, origin, NULL};

	assert_int_equal(
	    registry_dispatch(r, &ctx, "/t/op", NULL, on_told, t), 0);
}

static void
test_subscription_values_then_end(void **state)
{
	struct registry *r = setup(REGISTRY_SUBSCRIPTION, h_keep, NULL);
	struct told      t = {0};
	json_t          *v;
	int              i;

	start(r, NULL, "s", &t);
	for (i = 1; i <= 3; i++) {
		v = json_integer(i);
		assert_int_equal(registry_call_emit(held.call, v), 0);
		json_decref(v);
	}
	registry_deliver(r);
	assert_int_equal(t.values, 3);
	assert_int_equal(t.sum, 6);
	assert_int_equal(t.ends, 0);

	/* Values after a delivery, then the end, in one delivery. */
	v = json_integer(10);
	assert_int_equal(registry_call_emit(held.call, v), 0);
	json_decref(v);
	registry_call_complete(held.call);
	registry_deliver(r);
	assert_int_equal(t.values, 4);
	assert_int_equal(t.sum, 16);
	assert_int_equal(t.ends, 1);
	assert_int_equal(t.completed, 1);
	assert_int_equal(held.aborted, 0);
	registry_free(r);
}

static void
test_emit_checks(void **state)
{
	struct registry *r = setup(REGISTRY_QUERY, h_keep, NULL);
	struct told      t = {0};
	json_t          *v = json_integer(1), *bad = json_string("x");

	/* Not a subscription: one answer only. */
	start(r, NULL, "q", &t);
	assert_int_equal(registry_call_emit(held.call, v), -EINVAL);
	registry_call_ok(held.call, v);
	registry_deliver(r);
	assert_int_equal(t.ends, 1);
	assert_int_equal(t.failed, 0);
	registry_free(r);

	/* A value the output schema refuses ends the call INTERNAL. */
	r = setup(REGISTRY_SUBSCRIPTION, h_keep, NULL);
	memset(&t, 0, sizeof t);
	start(r, NULL, "s", &t);
	assert_int_equal(registry_call_emit(held.call, bad), -EINVAL);
	registry_deliver(r);
	assert_int_equal(t.values, 0);
	assert_int_equal(t.ends, 1);
	assert_int_equal(t.code, REPLY_INTERNAL);
	json_decref(v);
	json_decref(bad);
	registry_free(r);
}

static void
test_abort_tells_handler_and_caller(void **state)
{
	struct registry *r = setup(REGISTRY_SUBSCRIPTION, h_keep, NULL);
	struct told      t = {0}, other = {0};
	int              me, them;

	start(r, &me, "1", &t);
	start(r, &them, "1", &other);

	/* Only the caller's own id counts: another's "1" stays. */
	assert_int_equal(registry_abort(r, &me, "2"), -ENOENT);
	assert_int_equal(registry_abort(r, &me, "1"), 0);
	assert_int_equal(held.aborted, 1);
	registry_deliver(r);
	assert_int_equal(t.ends, 1);
	assert_int_equal(t.code, REPLY_ABORTED);
	assert_int_equal(other.ends, 0);

	/* Once decided, there is nothing left to abort. */
	assert_int_equal(registry_abort(r, &me, "1"), -ENOENT);
	assert_int_equal(registry_abort_origin(r, &them), 1);
	registry_deliver(r);
	assert_int_equal(other.ends, 1);
	assert_int_equal(other.code, REPLY_ABORTED);
	assert_int_equal(held.aborted, 2);
	registry_free(r);
}

static void
test_abort_without_callback(void **state)
{
	struct registry      *r = setup(REGISTRY_QUERY, h_keep_deaf, NULL);
	struct told           t = {0};
	struct registry_call *call;
	json_t               *v = json_integer(5);
	int                   me;

	start(r, &me, "1", &t);
	call = held.call;
	assert_int_equal(registry_abort(r, &me, "1"), 0);
	registry_deliver(r);
	assert_int_equal(t.ends, 1);
	assert_int_equal(t.code, REPLY_ABORTED);

	/* The handler still holds the call; its answer goes nowhere. */
	registry_call_ok(call, v);
	assert_int_equal(registry_ready(r), 0);
	registry_deliver(r);
	assert_int_equal(t.ends, 1);
	json_decref(v);
	registry_free(r);
}

static void
test_abort_cascades_to_env_calls(void **state)
{
	struct registry *r = setup(REGISTRY_QUERY, h_nest, &held);
	struct told      t = {0};
	int              me;

	start(r, &me, "1", &t);
	assert_non_null(held.inner);

	/* The outer handler is told and gone: nobody hears of the inner
	 * call, which is aborted with it. */
	assert_int_equal(registry_abort(r, &me, "1"), 0);
	assert_int_equal(held.aborted, 1);
	registry_deliver(r);
	assert_int_equal(t.code, REPLY_ABORTED);
	assert_int_equal(held.inner_told.ends, 0);

	/* The inner handler's late answer is dropped. */
	registry_call_ok(held.inner, NULL);
	registry_deliver(r);
	assert_int_equal(held.inner_told.ends, 0);
	registry_free(r);
}

static void
test_abort_cascade_tells_a_deaf_parent(void **state)
{
	struct registry *r = setup(REGISTRY_QUERY, h_nest, NULL);
	struct told      t = {0};
	int              me;

	/* Without an abort callback the outer handler is still waiting on
	 * its inner call; it learns that call was aborted and can end. */
	start(r, &me, "1", &t);
	assert_int_equal(registry_abort(r, &me, "1"), 0);
	registry_deliver(r);
	assert_int_equal(t.code, REPLY_ABORTED);
	assert_int_equal(held.inner_told.ends, 1);
	assert_int_equal(held.inner_told.code, REPLY_ABORTED);
	registry_call_fail(held.call, REPLY_INTERNAL, 0, "inner failed");
	registry_call_ok(held.inner, NULL);
	registry_deliver(r);
	assert_int_equal(t.ends, 1);
	registry_free(r);
}

static void
test_free_aborts_open_subscriptions(void **state)
{
	struct registry *r = setup(REGISTRY_SUBSCRIPTION, h_keep, NULL);
	struct told      t = {0};
	json_t          *v = json_integer(1);

	start(r, NULL, "s", &t);
	assert_int_equal(registry_call_emit(held.call, v), 0);
	registry_free(r);
	assert_int_equal(held.aborted, 1);
	assert_int_equal(t.values, 0);
	assert_int_equal(t.ends, 0);
	json_decref(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_subscription_values_then_end),
	    cmocka_unit_test(test_emit_checks),
	    cmocka_unit_test(test_abort_tells_handler_and_caller),
	    cmocka_unit_test(test_abort_without_callback),
	    cmocka_unit_test(test_abort_cascades_to_env_calls),
	    cmocka_unit_test(test_abort_cascade_tells_a_deaf_parent),
	    cmocka_unit_test(test_free_aborts_open_subscriptions),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
