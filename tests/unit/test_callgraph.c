/*
 * The node's call graph fed by a real registry: statuses, who called and
 * why a call failed, parents given by peers and by the env, the same
 * request id on two connections, what is left out, and an observer
 * that stops with the graph.
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

#include "callgraph.h"
#include "flowgraph.h"
#include "registry.h"

static uint64_t now_ms;

static uint64_t
fake_clock(void *arg)
{
	assert_ptr_equal(arg, &now_ms);
	return now_ms;
}

static void
on_done(const struct registry_result *res, void *arg)
{
	(*(int *)arg)++;
}

static void
h_echo(struct registry_call *call, json_t *input, void *arg)
{
	registry_call_ok(call, input);
}

static struct registry_call *held;

static void
h_hold(struct registry_call *call, json_t *input, void *arg)
{
	held = call;
}

/* Calls /echo/run through the env and answers what it answers. */
static void
on_inner(const struct registry_result *res, void *arg)
{
	if (res->error != NULL)
		registry_call_fail(arg, res->error->code, 0, "inner");
	else
		registry_call_ok(arg, res->output);
}

static void
h_outer(struct registry_call *call, json_t *input, void *arg)
{
	if (registry_call_invoke(call, "echo", "run", input, on_inner, call) <
	    0)
		registry_call_fail(call, REPLY_INTERNAL, 0, "invoke");
}

struct fixture {
	struct registry  *r;
	struct callgraph *cg;
	int               answers;
};

static void
reg(struct registry *r, const char *name, int is_public, registry_handler_cb h)
{
	static const char *const admin[] = {"admin", NULL};
	struct registry_spec     spec = {0};

	spec.name = name;
	spec.kind = REGISTRY_QUERY;
	spec.is_public = is_public;
	if (!is_public)
		spec.access.scopes = admin;
	assert_int_equal(registry_register(r, &spec, h, NULL, NULL, 0), 0);
}

static void
setup(struct fixture *f, size_t max_calls)
{
	memset(f, 0, sizeof *f);
	assert_int_equal(registry_new(16, 16, &f->r), 0);
	reg(f->r, "/echo/run", 1, h_echo);
	reg(f->r, "/echo/admin", 0, h_echo);
	reg(f->r, "/slow/op", 1, h_hold);
	reg(f->r, "/app/outer", 1, h_outer);
	assert_int_equal(
	    callgraph_new(f->r, max_calls, fake_clock, &now_ms, &f->cg), 0);
	now_ms = 1000;
}

static void
teardown(struct fixture *f)
{
	callgraph_free(f->cg);
	registry_free(f->r);
}

/* A peer's call.requested on connection origin, answered and delivered. */
static void
peer(struct fixture *f, const char *origin, const char *id, const char *payload)
{
	json_t *p = json_loads(payload, 0, NULL);

	assert_non_null(p);
	assert_int_equal(registry_dispatch_request(f->r, NULL, f, origin, id, p,
	                     on_done, &f->answers),
	    0);
	json_decref(p);
	while (registry_ready(f->r) > 0)
		registry_deliver(f->r);
}

static void
assert_call(struct fixture *f, const char *id, const char *op,
    const char *parent, enum flowgraph_status status, const char *error)
{
	struct flowgraph_call c;

	if (flowgraph_calls_get(callgraph_calls(f->cg), id, &c) != 0)
		fail_msg("no call %s", id);
	assert_string_equal(c.op, op);
	if (parent == NULL)
		assert_null(c.parent);
	else
		assert_string_equal(c.parent, parent);
	assert_int_equal(c.status, status);
	if (error == NULL)
		assert_null(c.error);
	else
		assert_string_equal(c.error, error);
}

static size_t
edges(struct fixture *f)
{
	json_t *doc = flowgraph_calls_json(callgraph_calls(f->cg));
	size_t  n = json_array_size(json_object_get(doc, "edges"));

	json_decref(doc);
	return n;
}

static void
test_statuses_and_identity(void **state)
{
	const struct registry_identity boss = {"SHA256:b/+", NULL, NULL};
	struct registry_ctx   ctx = {&boss, 0, "fs-1", NULL, NULL, NULL};
	struct fixture        f;
	struct flowgraph_call c;

	setup(&f, 16);
	assert_int_equal(registry_dispatch(
	                     f.r, &ctx, "/echo/run", NULL, on_done, &f.answers),
	    0);
	registry_deliver(f.r);
	assert_call(&f, "fs-1", "/echo/run", NULL, FLOWGRAPH_COMPLETED, NULL);
	assert_int_equal(
	    flowgraph_calls_get(callgraph_calls(f.cg), "fs-1", &c), 0);
	assert_string_equal(c.identity, "SHA256:b/+");
	assert_int_equal(c.started_ms, 1000);
	assert_int_equal(c.ended_ms, 1000);

	/* Refusals are failed calls, with their code. */
	peer(&f, "conn1", "1", "{\"operationId\": \"/no/such\"}");
	peer(&f, "conn1", "2", "{\"operationId\": \"/echo/admin\"}");
	peer(&f, "conn1", "3", "{\"operationId\": \"/bad\\u0001name\"}");
	peer(&f, "conn1", "4", "{}");
	assert_call(
	    &f, "conn1:1", "/no/such", NULL, FLOWGRAPH_FAILED, "NOT_FOUND");
	assert_call(
	    &f, "conn1:2", "/echo/admin", NULL, FLOWGRAPH_FAILED, "FORBIDDEN");
	assert_call(
	    &f, "conn1:3", "/bad?name", NULL, FLOWGRAPH_FAILED, "NOT_FOUND");
	assert_call(
	    &f, "conn1:4", "(none)", NULL, FLOWGRAPH_FAILED, "INVALID_INPUT");
	assert_int_equal(
	    flowgraph_calls_get(callgraph_calls(f.cg), "conn1:4", &c), 0);
	assert_null(c.identity);

	/* Pending while its handler holds it; the clock stamps its end. */
	ctx.request_id = "fs-2";
	assert_int_equal(
	    registry_dispatch(f.r, &ctx, "/slow/op", NULL, on_done, &f.answers),
	    0);
	assert_call(&f, "fs-2", "/slow/op", NULL, FLOWGRAPH_PENDING, NULL);
	now_ms = 1250;
	registry_call_fail(held, REPLY_ABORTED, 0, "gave up");
	assert_call(&f, "fs-2", "/slow/op", NULL, FLOWGRAPH_ABORTED, NULL);
	assert_int_equal(
	    flowgraph_calls_get(callgraph_calls(f.cg), "fs-2", &c), 0);
	assert_int_equal(flowgraph_call_duration(&c), 250);
	registry_deliver(f.r);
	assert_int_equal(f.answers, 6);
	teardown(&f);
}

static void
test_parents(void **state)
{
	struct fixture f;
	const char    *ids[4];
	size_t         n;

	setup(&f, 16);

	/* The same request id on two connections: two calls. */
	peer(&f, "conn1", "1", "{\"operationId\": \"/echo/run\"}");
	peer(&f, "conn2", "1", "{\"operationId\": \"/no/such\"}");
	assert_call(
	    &f, "conn1:1", "/echo/run", NULL, FLOWGRAPH_COMPLETED, NULL);
	assert_call(
	    &f, "conn2:1", "/no/such", NULL, FLOWGRAPH_FAILED, "NOT_FOUND");

	/* A peer's parent is its own earlier call, answered or not. */
	peer(&f, "conn2", "2",
	    "{\"operationId\": \"/echo/run\", \"parentRequestId\": \"1\"}");
	assert_call(
	    &f, "conn2:2", "/echo/run", "conn2:1", FLOWGRAPH_COMPLETED, NULL);
	assert_int_equal(flowgraph_calls_children(
	                     callgraph_calls(f.cg), "conn2:1", ids, 4, &n),
	    0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "conn2:2");
	assert_int_equal(flowgraph_calls_children(
	                     callgraph_calls(f.cg), "conn1:1", ids, 4, &n),
	    0);
	assert_int_equal(n, 0);

	/* A handler's call through the env hangs from the handler's. */
	peer(&f, "conn2", "3", "{\"operationId\": \"/app/outer\"}");
	assert_call(
	    &f, "conn2:3", "/app/outer", NULL, FLOWGRAPH_COMPLETED, NULL);
	assert_call(
	    &f, "conn2:3.1", "/echo/run", "conn2:3", FLOWGRAPH_COMPLETED, NULL);
	assert_int_equal(flowgraph_calls_lineage(
	                     callgraph_calls(f.cg), "conn2:3.1", ids, 4, &n),
	    0);
	assert_int_equal(n, 2);
	assert_string_equal(ids[0], "conn2:3");
	assert_int_equal(edges(&f), 2);
	teardown(&f);
}

static void
test_left_out(void **state)
{
	struct fixture        f;
	struct registry_call *first;
	char                  payload[600], id[300];

	setup(&f, 2);

	/* A call id too long for the graph is not recorded; a parent too
	 * long leaves a root. */
	memset(id, 'x', sizeof id - 1);
	id[sizeof id - 1] = '\0';
	peer(&f, "conn1", id, "{\"operationId\": \"/echo/run\"}");
	assert_int_equal(flowgraph_calls_count(callgraph_calls(f.cg)), 0);
	snprintf(payload, sizeof payload,
	    "{\"operationId\": \"/echo/run\", \"parentRequestId\": \"%s\"}",
	    id);
	peer(&f, "conn1", "1", payload);
	assert_call(
	    &f, "conn1:1", "/echo/run", NULL, FLOWGRAPH_COMPLETED, NULL);

	/* Past the bound the oldest finished call goes; with every call
	 * pending a new one is left out, and so is its end. */
	peer(&f, "conn1", "2", "{\"operationId\": \"/slow/op\"}");
	first = held;
	peer(&f, "conn1", "3", "{\"operationId\": \"/slow/op\"}");
	assert_int_equal(flowgraph_calls_count(callgraph_calls(f.cg)), 2);
	peer(&f, "conn1", "4", "{\"operationId\": \"/echo/run\"}");
	assert_int_equal(flowgraph_calls_count(callgraph_calls(f.cg)), 2);
	assert_call(&f, "conn1:3", "/slow/op", NULL, FLOWGRAPH_PENDING, NULL);
	registry_call_ok(held, NULL);
	assert_call(&f, "conn1:3", "/slow/op", NULL, FLOWGRAPH_COMPLETED, NULL);
	registry_call_ok(first, NULL);
	registry_deliver(f.r);
	teardown(&f);
}

/* A graph freed before its registry stops being told; one made anew
 * starts empty. */
static void
test_free_first(void **state)
{
	struct fixture f;

	setup(&f, 4);
	peer(&f, "conn1", "1", "{\"operationId\": \"/slow/op\"}");
	callgraph_free(f.cg);
	registry_call_ok(held, NULL);
	registry_deliver(f.r);
	assert_int_equal(callgraph_new(f.r, 4, fake_clock, &now_ms, &f.cg), 0);
	assert_int_equal(flowgraph_calls_count(callgraph_calls(f.cg)), 0);
	peer(&f, "conn1", "2", "{\"operationId\": \"/echo/run\"}");
	assert_int_equal(flowgraph_calls_count(callgraph_calls(f.cg)), 1);
	teardown(&f);

	assert_int_equal(callgraph_new(NULL, 4, NULL, NULL, &f.cg), -EINVAL);
	callgraph_free(NULL);
	assert_null(callgraph_calls(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_statuses_and_identity),
	    cmocka_unit_test(test_parents),
	    cmocka_unit_test(test_left_out),
	    cmocka_unit_test(test_free_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
