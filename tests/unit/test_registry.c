/*
 * The operation registry: lookups and refusals, the access rules,
 * namespaces, replacement, discovery, nested calls through the env,
 * answers to call.requested frames, asynchronous handlers, bounds and
 * teardown with calls still out, the observer of calls and call ids.
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

#include "frame.h"
#include "registry.h"
#include "reply.h"

/* What a done callback was told. */
struct answer {
	int             n;
	char            id[128];
	int             failed;
	enum reply_code code;
	char            message[REGISTRY_MSG_MAX];
	int             retryable;
	json_t         *output;
};

/* What a handler saw of its call. */
struct seen {
	int  n;
	int  trusted;
	int  had_identity;
	char id[128];
	char parent[128];
	char call_id[128];
};

static struct seen seen;

static void
on_done(const struct registry_result *res, void *arg)
{
	struct answer *a = arg;

	a->n++;
	snprintf(a->id, sizeof a->id, "%s", res->request_id);
	a->failed = res->error != NULL;
	json_decref(a->output);
	a->output = NULL;
	if (res->error != NULL) {
		assert_null(res->output);
		a->code = res->error->code;
		a->retryable = res->error->retryable;
		snprintf(
		    a->message, sizeof a->message, "%s", res->error->message);
		return;
	}
	assert_non_null(res->output);
	a->output = json_incref(res->output);
}

static void
answer_clear(struct answer *a)
{
	json_decref(a->output);
	memset(a, 0, sizeof *a);
}

/* Delivers until nothing waits; returns the rounds it took. */
static int
drain(struct registry *r)
{
	int rounds = 0;

	while (registry_ready(r) > 0) {
		registry_deliver(r);
		rounds++;
	}
	return rounds;
}

static void
note(struct registry_call *call)
{
	const struct registry_ctx *ctx = registry_call_ctx(call);

	seen.n++;
	seen.trusted = ctx->trusted;
	seen.had_identity = ctx->identity != NULL;
	snprintf(seen.id, sizeof seen.id, "%s", ctx->request_id);
	snprintf(seen.parent, sizeof seen.parent, "%s",
	    ctx->parent_id != NULL ? ctx->parent_id : "(none)");
	snprintf(
	    seen.call_id, sizeof seen.call_id, "%s", registry_call_id(call));
}

/* Answers {"handler": arg, "input": input}. */
static void
h_echo(struct registry_call *call, json_t *input, void *arg)
{
	json_t *out =
	    json_pack("{s:s, s:O}", "handler", (char *)arg, "input", input);

	note(call);
	registry_call_ok(call, out);
	json_decref(out);
}

static const char *const admin[] = {"admin", NULL};
static const char *const read_[] = {"read", NULL};
static const char *const write_[] = {"write", NULL};
static const char *const admin_read[] = {"admin", "read", NULL};
static const char *const relay[] = {"relay:connect", NULL};
static const char *const relay_admin[] = {"relay:connect", "admin", NULL};
static const char *const relay_read[] = {"relay:connect", "read", NULL};
static const char *const read_act[] = {"read", NULL};
static const char *const write_act[] = {"write", NULL};

static const struct registry_resource svc_read[] = {
    {"service", read_act}, {NULL, NULL}};
static const struct registry_resource svc_write[] = {
    {"service", write_act}, {NULL, NULL}};
static const struct registry_resource none_res[] = {{NULL, NULL}};

static struct registry *
new_registry(size_t max_ops, size_t max_calls)
{
	struct registry *r = NULL;

	assert_int_equal(registry_new(max_ops, max_calls, &r), 0);
	assert_non_null(r);
	return r;
}

static struct registry_spec
spec_of(const char *name, enum registry_kind kind,
    struct registry_access access, int is_public)
{
	struct registry_spec spec = {0};

	spec.name = name;
	spec.kind = kind;
	spec.access = access;
	spec.is_public = is_public;
	return spec;
}

static void
reg(struct registry *r, const char *name, struct registry_access access,
    int is_public, registry_handler_cb h, void *arg)
{
	struct registry_spec spec =
	    spec_of(name, REGISTRY_MUTATION, access, is_public);
	char err[256] = "";

	if (registry_register(r, &spec, h, arg, err, sizeof err) != 0)
		fail_msg("register %s: %s", name, err);
}

static void
call(struct registry *r, const struct registry_identity *id, int trusted,
    const char *name, json_t *input, struct answer *a)
{
	struct registry_ctx ctx = {id, trusted, "req-1", NULL, NULL, NULL};

	answer_clear(a);
	assert_int_equal(
	    registry_dispatch(r, &ctx, name, input, on_done, a), 0);
	assert_int_equal(a->n, 0);
	assert_int_equal(drain(r), 1);
	assert_int_equal(a->n, 1);
	assert_string_equal(a->id, "req-1");
}

static void
assert_error(const struct answer *a, enum reply_code code, const char *msg)
{
	assert_int_equal(a->failed, 1);
	assert_int_equal(a->code, code);
	assert_string_equal(a->message, msg);
	assert_int_equal(a->retryable, 0);
}

static void
assert_ran(const struct answer *a, const char *handler)
{
	if (a->failed)
		fail_msg("refused: %s", a->message);
	assert_string_equal(
	    json_string_value(json_object_get(a->output, "handler")), handler);
}

/* Checklist 22. */
static void
test_not_found(void **state)
{
	struct registry *r = new_registry(16, 16);
	struct answer    a = {0};

	call(r, NULL, 0, "/nope/op", NULL, &a);
	assert_error(&a, REPLY_NOT_FOUND, "operation not found: /nope/op");
	call(r, NULL, 1, "/nope/op", NULL, &a);
	assert_error(&a, REPLY_NOT_FOUND, "operation not found: /nope/op");
	call(r, NULL, 0, "/a/../b", NULL, &a);
	assert_error(&a, REPLY_NOT_FOUND, "operation not found: /a/../b");
	call(r, NULL, 0, "", NULL, &a);
	assert_error(&a, REPLY_NOT_FOUND, "operation not found: ");

	answer_clear(&a);
	registry_free(r);
}

/* Checklist 23-25. */
static void
test_scopes_and_trust(void **state)
{
	struct registry               *r = new_registry(16, 16);
	struct answer                  a = {0};
	struct registry_access         needs_admin = {admin, NULL, NULL, NULL};
	struct registry_access         nothing = {NULL, NULL, NULL, NULL};
	const struct registry_identity reader = {"SHA256:r", read_, NULL};
	const struct registry_identity boss = {"SHA256:b", admin, NULL};

	reg(r, "/bash/exec", needs_admin, 0, h_echo, "exec");
	reg(r, "/open/ping", nothing, 1, h_echo, "ping");

	call(r, &reader, 0, "/bash/exec", NULL, &a);
	assert_error(&a, REPLY_FORBIDDEN, "access denied");
	call(r, NULL, 0, "/bash/exec", NULL, &a);
	assert_error(&a, REPLY_FORBIDDEN, "authentication required");
	call(r, &boss, 0, "/bash/exec", NULL, &a);
	assert_ran(&a, "exec");

	/* Public: no identity needed, and any identity passes. */
	seen.n = 0;
	call(r, NULL, 0, "/open/ping", NULL, &a);
	assert_ran(&a, "ping");
	assert_int_equal(seen.n, 1);
	call(r, &reader, 0, "/open/ping", NULL, &a);
	assert_ran(&a, "ping");

	/* Trusted skips the rules, with or without an identity. */
	call(r, NULL, 1, "/bash/exec", NULL, &a);
	assert_ran(&a, "exec");
	call(r, &reader, 1, "/bash/exec", NULL, &a);
	assert_ran(&a, "exec");

	answer_clear(&a);
	registry_free(r);
}

/* Checklist 26-28, through dispatch and through registry_allows. */
static void
test_rules(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0};
	struct registry_access any = {NULL, admin_read, NULL, NULL};
	struct registry_access res = {NULL, NULL, "service", "read"};
	struct registry_access type_only = {NULL, NULL, "service", NULL};
	struct registry_access all3 = {relay, admin_read, "service", "read"};
	const struct registry_identity reader = {"SHA256:r", read_, NULL};
	const struct registry_identity writer = {"SHA256:w", write_, NULL};
	const struct registry_identity svc_r = {"SHA256:s", NULL, svc_read};
	const struct registry_identity svc_w = {"SHA256:s", NULL, svc_write};
	const struct registry_identity svc_0 = {"SHA256:s", NULL, none_res};
	const struct registry_identity full = {
	    "SHA256:f", relay_read, svc_read};
	const struct registry_identity no_relay = {"SHA256:f", admin, svc_read};
	const struct registry_identity no_any = {"SHA256:f", relay, svc_read};
	const struct registry_identity no_res = {
	    "SHA256:f", relay_admin, svc_write};

	reg(r, "/x/any", any, 0, h_echo, "any");
	call(r, &reader, 0, "/x/any", NULL, &a);
	assert_ran(&a, "any");
	call(r, &writer, 0, "/x/any", NULL, &a);
	assert_error(&a, REPLY_FORBIDDEN, "access denied");

	reg(r, "/x/res", res, 0, h_echo, "res");
	call(r, &svc_r, 0, "/x/res", NULL, &a);
	assert_ran(&a, "res");
	call(r, &svc_w, 0, "/x/res", NULL, &a);
	assert_error(&a, REPLY_FORBIDDEN, "access denied");
	call(r, &svc_0, 0, "/x/res", NULL, &a);
	assert_error(&a, REPLY_FORBIDDEN, "access denied");

	reg(r, "/x/all", all3, 0, h_echo, "all");
	call(r, &full, 0, "/x/all", NULL, &a);
	assert_ran(&a, "all");
	call(r, &no_relay, 0, "/x/all", NULL, &a);
	assert_error(&a, REPLY_FORBIDDEN, "access denied");
	call(r, &no_any, 0, "/x/all", NULL, &a);
	assert_error(&a, REPLY_FORBIDDEN, "access denied");
	call(r, &no_res, 0, "/x/all", NULL, &a);
	assert_error(&a, REPLY_FORBIDDEN, "access denied");

	assert_int_equal(registry_allows(&type_only, &svc_w), 1);
	assert_int_equal(registry_allows(&type_only, &svc_0), 0);
	assert_int_equal(registry_allows(&type_only, &reader), 0);
	assert_int_equal(registry_allows(&all3, &full), 1);
	assert_int_equal(registry_allows(&all3, NULL), 0);
	assert_int_equal(registry_allows(NULL, &reader), 1);

	answer_clear(&a);
	registry_free(r);
}

/* local:<user> identities; local:root holds every scope. */
static void
test_local(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0};
	struct registry_access all3 = {relay, admin_read, "service", "read"};
	char                   root[32], alice[32], tiny[8];
	const struct registry_identity as_root = {root, NULL, NULL};
	const struct registry_identity as_alice = {alice, read_, NULL};
	const struct registry_identity alice_granted = {
	    alice, relay_read, svc_read};

	assert_int_equal(registry_local_id("root", root, sizeof root), 0);
	assert_string_equal(root, REGISTRY_LOCAL_ROOT);
	assert_int_equal(registry_local_id("alice", alice, sizeof alice), 0);
	assert_string_equal(alice, "local:alice");
	assert_int_equal(registry_local_id("", tiny, sizeof tiny), -EINVAL);
	assert_int_equal(registry_local_id("a:b", tiny, sizeof tiny), -EINVAL);
	assert_int_equal(registry_local_id("a/b", tiny, sizeof tiny), -EINVAL);
	assert_int_equal(registry_local_id("a b", tiny, sizeof tiny), -EINVAL);
	assert_int_equal(
	    registry_local_id("bartholomew", tiny, sizeof tiny), -ENAMETOOLONG);
	assert_int_equal(registry_local_id("b", tiny, sizeof tiny), 0);

	reg(r, "/x/all", all3, 0, h_echo, "all");
	call(r, &as_root, 0, "/x/all", NULL, &a);
	assert_ran(&a, "all");
	call(r, &as_alice, 0, "/x/all", NULL, &a);
	assert_error(&a, REPLY_FORBIDDEN, "access denied");
	call(r, &alice_granted, 0, "/x/all", NULL, &a);
	assert_ran(&a, "all");

	answer_clear(&a);
	registry_free(r);
}

/* Checklist 29. */
static void
test_namespace(void **state)
{
	static const struct {
		const char *name;
		const char *ns;
	} cases[] = {
	    {"/auth/verify", "auth"},
	    {"/head/agent/chat", "agent"},
	    {"x", ""},
	    {"/fs/readFile", "fs"},
	    {"/services/list", "services"},
	    {"/dev1/fs/readFile", "fs"},
	    {"/a/b/c/d", "b"},
	    {"auth/verify", "auth"},
	    {"//auth/verify", "auth"},
	    {"/x", ""},
	    {"", ""},
	    {"/", ""},
	};
	char   buf[32];
	size_t i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		assert_int_equal(
		    registry_namespace(cases[i].name, buf, sizeof buf), 0);
		if (strcmp(buf, cases[i].ns) != 0)
			fail_msg("%s: \"%s\", want \"%s\"", cases[i].name, buf,
			    cases[i].ns);
	}
	assert_int_equal(registry_namespace("/auth/verify", buf, 5), 0);
	assert_string_equal(buf, "auth");
	assert_int_equal(
	    registry_namespace("/auth/verify", buf, 4), -ENAMETOOLONG);
	assert_int_equal(registry_namespace(NULL, buf, 4), -EINVAL);
}

/* Checklist 30, and calls already running on the replaced operation. */
static struct registry_call *held;

static void
h_hold(struct registry_call *call, json_t *input, void *arg)
{
	note(call);
	held = call;
}

static void
test_replace(void **state)
{
	struct registry       *r = new_registry(3, 16);
	struct answer          a = {0}, b = {0};
	struct registry_access nothing = {NULL, NULL, NULL, NULL};
	struct registry_ctx    ctx = {NULL, 0, "old", NULL, NULL, NULL};
	struct registry_spec   spec =
	    spec_of("/x/op", REGISTRY_QUERY, nothing, 1);
	json_t *out;
	char    err[128];

	spec.output = json_pack("{s:s}", "type", "integer");
	assert_int_equal(
	    registry_register(r, &spec, h_hold, NULL, err, 128), 0);
	json_decref(spec.output);
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/x/op", NULL, on_done, &b), 0);
	assert_non_null(held);

	reg(r, "/x/op", nothing, 1, h_echo, "first");
	reg(r, "x/op", nothing, 1, h_echo, "second");
	assert_int_equal(registry_count(r), 3);
	call(r, NULL, 0, "/x/op", NULL, &a);
	assert_ran(&a, "second");

	/* The old call still answers against the old output schema. */
	out = json_string("not an integer");
	registry_call_ok(held, out);
	json_decref(out);
	held = NULL;
	assert_int_equal(drain(r), 1);
	assert_error(&b, REPLY_INTERNAL, "output: expected integer");
	assert_string_equal(b.id, "old");

	/* The bound counts names, not registrations. */
	spec.name = "/y/op";
	spec.output = NULL;
	assert_int_equal(
	    registry_register(r, &spec, h_echo, "y", err, 128), -ENOSPC);
	assert_string_equal(err, "more than 3 operations");
	assert_int_equal(registry_unregister(r, "/x/op"), 0);
	assert_int_equal(registry_unregister(r, "/x/op"), -ENOENT);
	assert_int_equal(registry_has(r, "/x/op"), 0);
	assert_int_equal(registry_register(r, &spec, h_echo, "y", err, 128), 0);
	assert_int_equal(registry_has(r, "y/op"), 1);

	answer_clear(&a);
	answer_clear(&b);
	registry_free(r);
}

static json_t *
load(const char *text)
{
	json_error_t e;
	json_t      *v = json_loads(text, JSON_DECODE_ANY, &e);

	if (v == NULL)
		fail_msg("bad test JSON %s: %s", text, e.text);
	return v;
}

static void
assert_json(json_t *got, const char *want_text)
{
	json_t *want = load(want_text);
	char   *dump;

	if (!json_equal(got, want)) {
		dump = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);
		fail_msg("got %s\nwant %s", dump, want_text);
	}
	json_decref(want);
}

/* Checklist 31, and the listing's order. */
static void
test_list(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0};
	struct registry_access needs_admin = {admin, NULL, NULL, NULL};
	struct registry_spec   sub =
	    spec_of("/head/agent/watch", REGISTRY_SUBSCRIPTION, needs_admin, 0);
	json_t *in = json_object();

	assert_int_equal(registry_count(r), 2);
	call(r, NULL, 0, "/services/list", in, &a);
	assert_json(a.output,
	    "{\"operations\": ["
	    "{\"name\": \"/services/list\", \"namespace\": \"services\","
	    " \"op_type\": \"query\"},"
	    "{\"name\": \"/services/schema\", \"namespace\": \"services\","
	    " \"op_type\": \"query\"}]}");

	/* No input is JSON null, which the listing accepts too. */
	call(r, NULL, 0, "services/list", NULL, &a);
	assert_int_equal(
	    json_array_size(json_object_get(a.output, "operations")), 2);

	reg(r, "/auth/verify", needs_admin, 0, h_echo, "v");
	assert_int_equal(registry_register(r, &sub, h_echo, "w", NULL, 0), 0);
	call(r, NULL, 0, "/services/list", in, &a);
	assert_json(a.output,
	    "{\"operations\": ["
	    "{\"name\": \"/auth/verify\", \"namespace\": \"auth\","
	    " \"op_type\": \"mutation\"},"
	    "{\"name\": \"/head/agent/watch\", \"namespace\": \"agent\","
	    " \"op_type\": \"subscription\"},"
	    "{\"name\": \"/services/list\", \"namespace\": \"services\","
	    " \"op_type\": \"query\"},"
	    "{\"name\": \"/services/schema\", \"namespace\": \"services\","
	    " \"op_type\": \"query\"}]}");

	/* The listing takes no arguments. */
	json_object_set_new(in, "filter", json_string("x"));
	call(r, NULL, 0, "/services/list", in, &a);
	assert_error(&a, REPLY_INVALID_INPUT, "input.filter: not allowed");

	json_decref(in);
	answer_clear(&a);
	registry_free(r);
}

/* Checklist 32-33, and the whole spec as registry_describe gives it. */
static void
test_schema_op(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0};
	struct registry_access all3 = {relay, admin_read, "service", "read"};
	struct registry_spec spec = spec_of("/svc/op", REGISTRY_QUERY, all3, 0);
	json_t              *in, *d;

	in = json_pack("{s:s}", "name", "/services/list");
	call(r, NULL, 0, "/services/schema", in, &a);
	json_decref(in);
	assert_json(a.output,
	    "{\"name\": \"/services/list\", \"namespace\": \"services\","
	    " \"op_type\": \"query\","
	    " \"input_schema\": {\"type\": [\"object\", \"null\"],"
	    " \"properties\": {}, \"additionalProperties\": false},"
	    " \"output_schema\": {\"type\": \"object\","
	    " \"required\": [\"operations\"], \"properties\": {\"operations\":"
	    " {\"type\": \"array\", \"items\": {\"type\": \"object\","
	    " \"required\": [\"name\", \"namespace\", \"op_type\"],"
	    " \"properties\": {\"name\": {\"type\": \"string\"},"
	    " \"namespace\": {\"type\": \"string\"}, \"op_type\": {\"enum\":"
	    " [\"query\", \"mutation\", \"subscription\"]}}}}}}}");

	in = json_object();
	call(r, NULL, 0, "/services/schema", in, &a);
	json_decref(in);
	assert_error(&a, REPLY_INVALID_INPUT, "input.name: required");

	in = json_pack("{s:s}", "name", "/nonexistent/op");
	call(r, NULL, 0, "/services/schema", in, &a);
	json_decref(in);
	assert_error(
	    &a, REPLY_NOT_FOUND, "operation not found: /nonexistent/op");

	in = json_pack("{s:i}", "name", 7);
	call(r, NULL, 0, "/services/schema", in, &a);
	json_decref(in);
	assert_error(&a, REPLY_INVALID_INPUT, "input.name: expected string");

	/* An operation without schemas shows true: it takes anything. */
	spec.input = NULL;
	assert_int_equal(registry_register(r, &spec, h_echo, "s", NULL, 0), 0);
	in = json_pack("{s:s}", "name", "svc/op");
	call(r, NULL, 0, "/services/schema", in, &a);
	json_decref(in);
	assert_json(a.output,
	    "{\"name\": \"/svc/op\", \"namespace\": \"svc\","
	    " \"op_type\": \"query\", \"input_schema\": true,"
	    " \"output_schema\": true}");

	d = registry_describe(r, "/svc/op");
	assert_json(json_object_get(d, "access"),
	    "{\"public\": false, \"scopes\": [\"relay:connect\"],"
	    " \"scopes_any\": [\"admin\", \"read\"],"
	    " \"resource_type\": \"service\", \"resource_action\": \"read\"}");
	json_decref(d);
	d = registry_describe(r, "/services/list");
	assert_json(json_object_get(d, "access"),
	    "{\"public\": true, \"scopes\": [], \"scopes_any\": null,"
	    " \"resource_type\": null, \"resource_action\": null}");
	json_decref(d);
	assert_null(registry_describe(r, "/no/such"));

	answer_clear(&a);
	registry_free(r);
}

/* Input and output schemas at dispatch. */
static void
h_bad_output(struct registry_call *call, json_t *input, void *arg)
{
	json_t *out = json_pack("{s:i}", "name", 3);

	registry_call_ok(call, out);
	json_decref(out);
}

static void
test_schemas_at_dispatch(void **state)
{
	struct registry               *r = new_registry(16, 16);
	struct answer                  a = {0};
	struct registry_access         needs_admin = {admin, NULL, NULL, NULL};
	const struct registry_identity reader = {"SHA256:r", read_, NULL};
	struct registry_spec           spec =
	    spec_of("/fwd/open", REGISTRY_MUTATION, needs_admin, 0);
	json_t *in;

	spec.input = load("{\"type\": \"object\", \"required\": [\"port\"],"
	                  " \"properties\": {\"port\": {\"type\": \"integer\","
	                  " \"minimum\": 1, \"maximum\": 65535}}}");
	assert_int_equal(
	    registry_register(r, &spec, h_echo, "open", NULL, 0), 0);
	json_decref(spec.input);

	in = load("{\"port\": \"22\"}");
	call(r, NULL, 1, "/fwd/open", in, &a);
	assert_error(&a, REPLY_INVALID_INPUT, "input.port: expected integer");

	/* Refused callers learn nothing of the schema. */
	call(r, &reader, 0, "/fwd/open", in, &a);
	assert_error(&a, REPLY_FORBIDDEN, "access denied");
	json_decref(in);

	in = load("{\"port\": 0}");
	call(r, NULL, 1, "/fwd/open", in, &a);
	assert_error(&a, REPLY_INVALID_INPUT, "input.port: less than 1");
	json_decref(in);

	call(r, NULL, 1, "/fwd/open", NULL, &a);
	assert_error(&a, REPLY_INVALID_INPUT, "input: expected object");

	in = load("{\"port\": 22}");
	call(r, NULL, 1, "/fwd/open", in, &a);
	assert_ran(&a, "open");
	assert_json(
	    a.output, "{\"handler\": \"open\", \"input\": {\"port\": 22}}");
	json_decref(in);

	/* A handler's output that breaks its spec's promise. */
	spec.name = "/fwd/list";
	spec.input = NULL;
	spec.output = load("{\"type\": \"object\", \"properties\": {\"name\":"
	                   " {\"type\": \"string\"}}}");
	assert_int_equal(
	    registry_register(r, &spec, h_bad_output, NULL, NULL, 0), 0);
	json_decref(spec.output);
	call(r, NULL, 1, "/fwd/list", NULL, &a);
	assert_error(&a, REPLY_INTERNAL, "output.name: expected string");

	answer_clear(&a);
	registry_free(r);
}

/* Checklist 34-35: a handler calls another operation through its env,
 * and answers when that answers. */
static void
h_inner(struct registry_call *call, json_t *input, void *arg)
{
	note(call);
	registry_call_ok(call, input);
}

static void
on_inner_done(const struct registry_result *res, void *arg)
{
	struct registry_call *outer = arg;

	if (res->error != NULL) {
		registry_call_fail(outer, res->error->code, 0, "inner: %s",
		    res->error->message);
		return;
	}
	registry_call_ok(outer, res->output);
}

static void
h_outer(struct registry_call *call, json_t *input, void *arg)
{
	json_t *in = json_pack("{s:s}", "token", "t0k");
	int     rc;

	rc = registry_call_invoke(
	    call, "auth", "verify", in, on_inner_done, call);
	json_decref(in);
	if (rc < 0)
		registry_call_fail(call, REPLY_INTERNAL, 0, "invoke: %d", rc);
}

static void
test_env(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0};
	struct registry_access needs_admin = {admin, NULL, NULL, NULL};
	struct registry_access nothing = {NULL, NULL, NULL, NULL};
	struct registry_ctx    ctx = {NULL, 0, "top", NULL, NULL, NULL};

	reg(r, "/auth/verify", needs_admin, 0, h_inner, NULL);
	reg(r, "/app/login", nothing, 1, h_outer, NULL);

	/* Called directly without an identity, the inner one refuses. */
	call(r, NULL, 0, "/auth/verify", NULL, &a);
	assert_error(&a, REPLY_FORBIDDEN, "authentication required");

	memset(&seen, 0, sizeof seen);
	answer_clear(&a);
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/app/login", NULL, on_done, &a), 0);
	/* One round answers the inner call, the next the outer one. */
	assert_int_equal(drain(r), 2);
	assert_int_equal(a.n, 1);
	assert_json(a.output, "{\"token\": \"t0k\"}");
	assert_string_equal(a.id, "top");

	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.trusted, 1);
	assert_int_equal(seen.had_identity, 0);
	assert_string_equal(seen.id, "top.1");
	assert_string_equal(seen.call_id, "top.1");
	assert_string_equal(seen.parent, "top");

	/* An operation the env names that does not exist. */
	assert_int_equal(registry_unregister(r, "/auth/verify"), 0);
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/app/login", NULL, on_done, &a), 0);
	assert_int_equal(drain(r), 2);
	assert_error(
	    &a, REPLY_NOT_FOUND, "inner: operation not found: /auth/verify");

	answer_clear(&a);
	registry_free(r);
}

/* Nesting through the env is bounded. */
static int loop_calls;

static void
on_loop_done(const struct registry_result *res, void *arg)
{
	json_t *depth;

	if (res->error != NULL) {
		registry_call_fail(
		    arg, REPLY_INTERNAL, 0, "%s", res->error->message);
		return;
	}
	depth = json_integer(json_integer_value(res->output) + 1);
	registry_call_ok(arg, depth);
	json_decref(depth);
}

static void
h_loop(struct registry_call *call, json_t *input, void *arg)
{
	json_t *zero;
	int     rc;

	loop_calls++;
	rc = registry_call_invoke(
	    call, "loop", "self", NULL, on_loop_done, call);
	if (rc == -ELOOP) {
		zero = json_integer(0);
		registry_call_ok(call, zero);
		json_decref(zero);
	} else if (rc < 0) {
		registry_call_fail(call, REPLY_INTERNAL, 0, "invoke: %d", rc);
	}
}

static void
test_env_depth(void **state)
{
	struct registry       *r = new_registry(16, 64);
	struct answer          a = {0};
	struct registry_access nothing = {NULL, NULL, NULL, NULL};
	struct registry_ctx    ctx = {NULL, 0, "deep", NULL, NULL, NULL};

	reg(r, "/loop/self", nothing, 1, h_loop, NULL);
	loop_calls = 0;
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/loop/self", NULL, on_done, &a), 0);
	assert_int_equal(loop_calls, REGISTRY_DEPTH_MAX + 1);
	assert_int_equal(drain(r), REGISTRY_DEPTH_MAX + 1);
	assert_int_equal(a.failed, 0);
	assert_int_equal(json_integer_value(a.output), REGISTRY_DEPTH_MAX);

	answer_clear(&a);
	registry_free(r);
}

/* Checklist 36-37: a call.requested frame in, its answer frame out. */
struct wire {
	void  *frame;
	size_t size;
};

static void
on_wire(const struct registry_result *res, void *arg)
{
	struct wire *w = arg;

	assert_int_equal(reply_encode(res->request_id, res->output, res->error,
	                     &w->frame, &w->size),
	    0);
}

static void
request(struct registry *r, const char *payload, const char *want_type,
    const char *want_payload)
{
	struct frame in = {0}, out = {0};
	struct wire  w = {0};
	json_t      *p = load(payload);
	void        *buf;
	size_t       size;

	/* Through the encoder and decoder a transport would use. */
	assert_int_equal(
	    frame_encode_alloc(FRAME_REQUESTED, "r-36", p, &buf, &size), 0);
	json_decref(p);
	assert_int_equal(frame_decode(buf, size, 0, &in, &size, NULL), 0);
	free(buf);

	assert_int_equal(registry_dispatch_request(r, NULL, NULL, NULL, in.id,
	                     in.payload, on_wire, &w),
	    0);
	frame_release(&in);
	assert_null(w.frame);
	assert_int_equal(drain(r), 1);
	assert_non_null(w.frame);

	assert_int_equal(
	    frame_decode(w.frame, w.size, 0, &out, &size, NULL), 0);
	assert_int_equal(size, w.size);
	assert_string_equal(frame_type_name(out.type), want_type);
	assert_string_equal(out.id, "r-36");
	assert_json(out.payload, want_payload);
	frame_release(&out);
	free(w.frame);
}

static void
test_requests(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct registry_access nothing = {NULL, NULL, NULL, NULL};
	struct registry_access needs_admin = {admin, NULL, NULL, NULL};

	reg(r, "/echo/run", nothing, 1, h_echo, "echo");
	reg(r, "/echo/admin", needs_admin, 0, h_echo, "admin");

	request(r, "{\"operationId\": \"/echo/run\", \"input\": {\"a\": 1}}",
	    "call.responded",
	    "{\"output\": {\"handler\": \"echo\", \"input\": {\"a\": 1}}}");
	/* Without the leading '/', and with a missing input read as null. */
	request(r, "{\"operationId\": \"echo/run\"}", "call.responded",
	    "{\"output\": {\"handler\": \"echo\", \"input\": null}}");
	request(r, "{\"operationId\": \"/echo/nope\", \"input\": 1}",
	    "call.error",
	    "{\"code\": \"NOT_FOUND\", \"message\": \"operation not found:"
	    " /echo/nope\", \"retryable\": false}");
	request(r, "{\"operationId\": \"/echo/admin\"}", "call.error",
	    "{\"code\": \"FORBIDDEN\", \"message\": \"authentication"
	    " required\", \"retryable\": false}");
	request(r, "{\"input\": 1}", "call.error",
	    "{\"code\": \"INVALID_INPUT\", \"message\": \"operationId: expected"
	    " string\", \"retryable\": false}");
	request(r, "{\"operationId\": \"/services/schema\", \"input\": {}}",
	    "call.error",
	    "{\"code\": \"INVALID_INPUT\", \"message\": \"input.name:"
	    " required\", \"retryable\": false}");

	/* A peer's request never arrives trusted; its parent is kept. */
	{
		json_t       *p = load("{\"operationId\": \"/echo/run\","
		                             " \"parentRequestId\": \"p-1\"}");
		struct answer a = {0};

		assert_int_equal(registry_dispatch_request(r, NULL, NULL, NULL,
		                     "r-2", p, on_done, &a),
		    0);
		assert_int_equal(drain(r), 1);
		assert_int_equal(seen.trusted, 0);
		assert_string_equal(seen.parent, "p-1");
		assert_string_equal(a.id, "r-2");
		json_decref(p);
		answer_clear(&a);
	}

	registry_free(r);
}

/* An answer comes later; the identity is not kept past the handler. */
static void
on_wakeup(void *arg)
{
	(*(int *)arg)++;
}

static void
test_async(void **state)
{
	struct registry               *r = new_registry(16, 2);
	struct answer                  a = {0}, b = {0};
	struct registry_access         needs_admin = {admin, NULL, NULL, NULL};
	const struct registry_identity boss = {"SHA256:b", admin, NULL};
	struct registry_ctx   ctx = {&boss, 0, "a-1", NULL, NULL, NULL};
	struct registry_call *first;
	int                   wakeups = 0;
	json_t               *out;

	registry_set_wakeup(r, on_wakeup, &wakeups);
	reg(r, "/slow/op", needs_admin, 0, h_hold, NULL);

	assert_int_equal(
	    registry_dispatch(r, &ctx, "/slow/op", NULL, on_done, &a), 0);
	first = held;
	assert_int_equal(seen.had_identity, 1);
	assert_null(registry_call_ctx(first)->identity);
	assert_string_equal(registry_call_ctx(first)->request_id, "a-1");
	assert_int_equal(registry_deliver(r), 0);
	assert_int_equal(wakeups, 0);

	/* Two calls out is the bound. */
	ctx.request_id = "a-2";
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/slow/op", NULL, on_done, &b), 0);
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/slow/op", NULL, on_done, &b), -ENOSPC);

	out = json_string("late");
	registry_call_ok(first, out);
	json_decref(out);
	assert_int_equal(wakeups, 1);
	assert_int_equal(registry_ready(r), 1);
	registry_call_fail(held, REPLY_TIMEOUT, 1, "upstream %s", "slow");
	assert_int_equal(wakeups, 1);
	assert_int_equal(registry_ready(r), 2);
	assert_int_equal(a.n, 0);

	assert_int_equal(registry_deliver(r), 2);
	assert_int_equal(a.n, 1);
	assert_string_equal(json_string_value(a.output), "late");
	assert_int_equal(b.n, 1);
	assert_int_equal(b.failed, 1);
	assert_int_equal(b.code, REPLY_TIMEOUT);
	assert_int_equal(b.retryable, 1);
	assert_string_equal(b.message, "upstream slow");
	assert_string_equal(b.id, "a-2");

	/* The next answer wakes the loop again. */
	call(r, &boss, 0, "/services/list", NULL, &a);
	assert_int_equal(wakeups, 2);

	answer_clear(&a);
	answer_clear(&b);
	registry_free(r);
}

/* A handler that answers and then runs the loop's delivery itself: its
 * own answer waits until it has returned. */
static size_t inside;

static void
h_deliver_inside(struct registry_call *call, json_t *input, void *arg)
{
	registry_call_ok(call, input);
	inside = registry_deliver(arg);
	note(call);
}

static void
test_deliver_inside(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0};
	struct registry_access nothing = {NULL, NULL, NULL, NULL};
	json_t                *in = json_integer(36);

	reg(r, "/self/deliver", nothing, 1, h_deliver_inside, r);
	inside = 99;
	call(r, NULL, 0, "/self/deliver", in, &a);
	assert_int_equal(inside, 0);
	assert_int_equal(json_integer_value(a.output), 36);
	json_decref(in);

	answer_clear(&a);
	registry_free(r);
}

/* Freeing with answers queued and a handler still holding a call. */
static void
test_teardown(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0}, b = {0};
	struct registry_access nothing = {NULL, NULL, NULL, NULL};
	struct registry_ctx    ctx = {NULL, 0, "t", NULL, NULL, NULL};
	json_t                *in = json_pack("{s:s}", "keep", "me");

	reg(r, "/slow/op", nothing, 1, h_hold, NULL);
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/slow/op", in, on_done, &a), 0);
	json_decref(in);
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/no/op", NULL, on_done, &b), 0);
	assert_int_equal(registry_ready(r), 1);

	registry_free(r);
	assert_int_equal(b.n, 0);

	/* Answering after the registry went tells nobody and frees all. */
	registry_call_ok(held, NULL);
	held = NULL;
	assert_int_equal(a.n, 0);
}

/*
 * The observer: every event of every call, as it happens, and the call
 * ids that name them.
 */
#define EVENTS_MAX 16

struct event {
	enum registry_event ev;
	char                id[128];
	char                parent[128];
	char                op[64];
	char                who[64];
	enum reply_code     code;
};

static struct {
	int          n;
	struct event v[EVENTS_MAX];
} told;

static void
copy_or_none(char *dst, size_t len, const char *s)
{
	snprintf(dst, len, "%s", s != NULL ? s : "(none)");
}

static void
on_event(const struct registry_observed *o, void *arg)
{
	struct event *e;

	assert_ptr_equal(arg, &told);
	assert_true(told.n < EVENTS_MAX);
	e = &told.v[told.n++];
	e->ev = o->event;
	copy_or_none(e->id, sizeof e->id, o->call_id);
	copy_or_none(e->parent, sizeof e->parent, o->parent_id);
	copy_or_none(e->op, sizeof e->op, o->op);
	copy_or_none(e->who, sizeof e->who, o->identity);
	e->code = o->code;
}

static void
assert_told(int i, enum registry_event ev, const char *id, const char *parent,
    const char *op, const char *who)
{
	assert_true(i < told.n);
	assert_int_equal(told.v[i].ev, ev);
	assert_string_equal(told.v[i].id, id);
	assert_string_equal(told.v[i].parent, parent);
	assert_string_equal(told.v[i].op, op);
	assert_string_equal(told.v[i].who, who);
	if (ev != REGISTRY_ERROR)
		assert_int_equal(told.v[i].code, REPLY_NCODES);
}

/* A frame's payload from a peer on connection origin. */
static void
peer_call(struct registry *r, const char *origin, const char *id,
    const char *payload, struct answer *a)
{
	json_t *p = load(payload);

	answer_clear(a);
	assert_int_equal(registry_dispatch_request(
	                     r, NULL, &told, origin, id, p, on_done, a),
	    0);
	json_decref(p);
	drain(r);
	assert_int_equal(a->n, 1);
}

static void
test_observer(void **state)
{
	struct registry               *r = new_registry(16, 16);
	struct answer                  a = {0};
	struct registry_access         needs_admin = {admin, NULL, NULL, NULL};
	struct registry_access         nothing = {NULL, NULL, NULL, NULL};
	const struct registry_identity boss = {"SHA256:b", admin, NULL};
	struct registry_ctx ctx = {&boss, 0, "a-1", NULL, NULL, NULL};

	reg(r, "/echo/run", nothing, 1, h_echo, "echo");
	reg(r, "/echo/admin", needs_admin, 0, h_echo, "admin");
	reg(r, "/slow/op", nothing, 1, h_hold, NULL);
	memset(&told, 0, sizeof told);
	registry_set_observer(r, on_event, &told);

	/* Taken and answered, both told before the answer is delivered. */
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/echo/run", NULL, on_done, &a), 0);
	assert_int_equal(told.n, 2);
	assert_told(
	    0, REGISTRY_REQUESTED, "a-1", "(none)", "/echo/run", "SHA256:b");
	assert_told(
	    1, REGISTRY_RESPONDED, "a-1", "(none)", "/echo/run", "SHA256:b");
	assert_int_equal(drain(r), 1);
	assert_int_equal(told.n, 2);

	/* Refusals are calls too: requested, then an error with its code. */
	told.n = 0;
	peer_call(r, "conn4", "2", "{\"operationId\": \"/no/such\"}", &a);
	peer_call(r, "conn4", "3", "{\"operationId\": \"/echo/admin\"}", &a);
	peer_call(r, "conn4", "4", "{\"input\": 1}", &a);
	assert_int_equal(told.n, 6);
	assert_told(
	    0, REGISTRY_REQUESTED, "conn4:2", "(none)", "/no/such", "(none)");
	assert_told(
	    1, REGISTRY_ERROR, "conn4:2", "(none)", "/no/such", "(none)");
	assert_int_equal(told.v[1].code, REPLY_NOT_FOUND);
	assert_int_equal(told.v[3].ev, REGISTRY_ERROR);
	assert_int_equal(told.v[3].code, REPLY_FORBIDDEN);
	assert_told(5, REGISTRY_ERROR, "conn4:4", "(none)", "(none)", "(none)");
	assert_int_equal(told.v[5].code, REPLY_INVALID_INPUT);

	/* A handler that answers later; ABORTED ends the call as aborted. */
	told.n = 0;
	ctx.request_id = "a-2";
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/slow/op", NULL, on_done, &a), 0);
	assert_int_equal(told.n, 1);
	registry_call_fail(held, REPLY_ABORTED, 0, "aborted");
	assert_int_equal(told.n, 2);
	assert_told(
	    1, REGISTRY_ABORTED, "a-2", "(none)", "/slow/op", "SHA256:b");
	drain(r);

	/* Nobody is told once the observer is taken away. */
	told.n = 0;
	registry_set_observer(r, NULL, NULL);
	call(r, NULL, 0, "/echo/run", NULL, &a);
	assert_int_equal(told.n, 0);

	answer_clear(&a);
	registry_free(r);
}

/* Nested calls: ids and parents, told in the order they happen. */
static void
on_ignore(const struct registry_result *res, void *arg)
{
}

static void
h_twice(struct registry_call *call, json_t *input, void *arg)
{
	note(call);
	if (registry_call_invoke(call, "echo", "run", NULL, on_ignore, NULL) <
	        0 ||
	    registry_call_invoke(
	        call, "auth", "verify", NULL, on_inner_done, call) < 0)
		registry_call_fail(call, REPLY_INTERNAL, 0, "invoke");
}

static void
test_observer_nested(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0};
	struct registry_access nothing = {NULL, NULL, NULL, NULL};

	reg(r, "/echo/run", nothing, 1, h_echo, "echo");
	reg(r, "/auth/verify", nothing, 1, h_inner, NULL);
	reg(r, "/app/both", nothing, 1, h_twice, NULL);
	memset(&told, 0, sizeof told);
	registry_set_observer(r, on_event, &told);

	peer_call(r, "conn7", "5", "{\"operationId\": \"/app/both\"}", &a);
	assert_int_equal(a.failed, 0);
	assert_string_equal(a.id, "5");
	assert_int_equal(told.n, 6);
	assert_told(
	    0, REGISTRY_REQUESTED, "conn7:5", "(none)", "/app/both", "(none)");
	assert_told(1, REGISTRY_REQUESTED, "conn7:5.1", "conn7:5", "/echo/run",
	    "(none)");
	assert_told(2, REGISTRY_RESPONDED, "conn7:5.1", "conn7:5", "/echo/run",
	    "(none)");
	assert_told(3, REGISTRY_REQUESTED, "conn7:5.2", "conn7:5",
	    "/auth/verify", "(none)");
	assert_told(4, REGISTRY_RESPONDED, "conn7:5.2", "conn7:5",
	    "/auth/verify", "(none)");
	assert_told(
	    5, REGISTRY_RESPONDED, "conn7:5", "(none)", "/app/both", "(none)");

	/* The handler sees its own call id; a nested one as its request id
	 * too, and its parent's call id as its parent. */
	assert_string_equal(seen.call_id, "conn7:5.2");
	assert_string_equal(seen.id, "conn7:5.2");
	assert_string_equal(seen.parent, "conn7:5");

	answer_clear(&a);
	registry_free(r);
}

/* Call ids: unique on the node, recognisable, and parents that resolve
 * to the same connection's calls. */
static void
test_call_ids(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0};
	struct registry_access nothing = {NULL, NULL, NULL, NULL};
	struct registry_ctx    ctx = {NULL, 0, "fs-3", "fs-1", NULL, NULL};

	reg(r, "/echo/run", nothing, 1, h_echo, "echo");
	memset(&told, 0, sizeof told);
	registry_set_observer(r, on_event, &told);

	/* Two connections using the same request id make two calls. */
	peer_call(r, "conn1", "1", "{\"operationId\": \"/echo/run\"}", &a);
	peer_call(r, "conn2", "1", "{\"operationId\": \"/echo/run\"}", &a);
	assert_string_equal(told.v[0].id, "conn1:1");
	assert_string_equal(told.v[2].id, "conn2:1");

	/* A peer's parent is its own call on the same connection. */
	peer_call(r, "conn2", "2",
	    "{\"operationId\": \"/echo/run\", \"parentRequestId\": \"1\"}", &a);
	assert_told(
	    4, REGISTRY_REQUESTED, "conn2:2", "conn2:1", "/echo/run", "(none)");
	assert_string_equal(seen.parent, "1");

	/* Bytes that would make ids meet, or not be path components, are
	 * written %XX; the answer keeps the id as the peer gave it. */
	told.n = 0;
	peer_call(r, "conn2", "a/b.c:d%e f\x01\xc3\xa9",
	    "{\"operationId\": \"/echo/run\", \"parentRequestId\": \"p.1\"}",
	    &a);
	assert_told(0, REGISTRY_REQUESTED,
	    "conn2:a%2Fb%2Ec%3Ad%25e%20f%01%C3%A9", "conn2:p%2E1", "/echo/run",
	    "(none)");
	assert_string_equal(a.id, "a/b.c:d%e f\x01\xc3\xa9");
	assert_string_equal(
	    seen.call_id, "conn2:a%2Fb%2Ec%3Ad%25e%20f%01%C3%A9");

	/* A peer cannot pass for a nested call, nor for another
	 * connection, whatever its id. */
	told.n = 0;
	peer_call(r, "conn2", "1.1", "{\"operationId\": \"/echo/run\"}", &a);
	peer_call(
	    r, "conn2", "conn1:1", "{\"operationId\": \"/echo/run\"}", &a);
	assert_string_equal(told.v[0].id, "conn2:1%2E1");
	assert_string_equal(told.v[2].id, "conn2:conn1%3A1");

	/* Without a connection the request id is the call id. */
	told.n = 0;
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/echo/run", NULL, on_done, &a), 0);
	drain(r);
	assert_told(
	    0, REGISTRY_REQUESTED, "fs-3", "fs-1", "/echo/run", "(none)");

	answer_clear(&a);
	registry_free(r);
}

/* Freeing the registry forgets its observer: a late answer tells no one. */
static void
test_observer_teardown(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0};
	struct registry_access nothing = {NULL, NULL, NULL, NULL};
	struct registry_ctx    ctx = {NULL, 0, "t", NULL, NULL, NULL};

	reg(r, "/slow/op", nothing, 1, h_hold, NULL);
	memset(&told, 0, sizeof told);
	registry_set_observer(r, on_event, &told);
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/slow/op", NULL, on_done, &a), 0);
	assert_int_equal(told.n, 1);

	registry_free(r);
	registry_call_ok(held, NULL);
	held = NULL;
	assert_int_equal(told.n, 1);
	assert_int_equal(a.n, 0);
}

/* What registration refuses. */
static void
test_refused(void **state)
{
	static const char *const empty[] = {NULL};
	static const char *const blank[] = {"", NULL};
	struct registry         *r = new_registry(16, 16);
	static const struct {
		const char            *name;
		struct registry_access access;
		int                    is_public;
		const char            *input;
		const char            *want;
	} cases[] = {
	    {"", {0}, 1, NULL, "name: empty name"},
	    {"///", {0}, 1, NULL, "name: empty name"},
	    {"/a//b", {0}, 1, NULL, "name: bad segment in name"},
	    {"/a/b/", {0}, 1, NULL, "name: bad segment in name"},
	    {"/a/../b", {0}, 1, NULL, "name: bad segment in name"},
	    {"/a/./b", {0}, 1, NULL, "name: bad segment in name"},
	    {"/a b/c", {0}, 1, NULL, "name: bad segment in name"},
	    {"/a/\xc3\xa9", {0}, 1, NULL, "name: bad segment in name"},
	    {"/x/y", {admin, NULL, NULL, NULL}, 1, NULL,
	        "access: public with access rules"},
	    {"/x/y", {NULL, NULL, "t", NULL}, 1, NULL,
	        "access: public with access rules"},
	    {"/x/y", {0}, 0, NULL,
	        "access: neither public nor any access rule"},
	    {"/x/y", {empty, NULL, NULL, NULL}, 0, NULL,
	        "access: neither public nor any access rule"},
	    {"/x/y", {NULL, empty, NULL, NULL}, 0, NULL,
	        "access: empty scopes_any"},
	    {"/x/y", {blank, NULL, NULL, NULL}, 0, NULL,
	        "access: empty scope or more than 64"},
	    {"/x/y", {NULL, NULL, NULL, "read"}, 0, NULL,
	        "access: resource_action without resource_type"},
	    {"/x/y", {NULL, NULL, "", NULL}, 0, NULL,
	        "access: empty resource_type"},
	    {"/x/y", {0}, 1,
	        "{\"properties\": {\"name\": {\"pattern\": \"x\"}}}",
	        "input schema.properties.name: unknown keyword pattern"},
	};
	struct registry_spec spec;
	char                 err[128], longname[REGISTRY_NAME_MAX + 2];
	size_t               i;

	for (i = 0; i < sizeof cases / sizeof *cases; i++) {
		memset(&spec, 0, sizeof spec);
		spec.name = cases[i].name;
		spec.access = cases[i].access;
		spec.is_public = cases[i].is_public;
		spec.input = cases[i].input ? load(cases[i].input) : NULL;
		strcpy(err, "untouched");
		assert_int_equal(
		    registry_register(r, &spec, h_echo, "", err, sizeof err),
		    -EINVAL);
		if (strcmp(err, cases[i].want) != 0)
			fail_msg("%zu %s: \"%s\", want \"%s\"", i,
			    cases[i].name, err, cases[i].want);
		json_decref(spec.input);
	}

	memset(&spec, 0, sizeof spec);
	spec.name = "/x/y";
	spec.is_public = 1;
	spec.kind = REGISTRY_NKINDS;
	assert_int_equal(
	    registry_register(r, &spec, h_echo, "", err, 128), -EINVAL);
	assert_string_equal(err, "kind: out of range");
	spec.kind = REGISTRY_QUERY;
	assert_int_equal(
	    registry_register(r, &spec, NULL, "", err, 128), -EINVAL);
	spec.output = load("{\"maxLength\": \"3\"}");
	assert_int_equal(
	    registry_register(r, &spec, h_echo, "", err, 128), -EINVAL);
	assert_string_equal(
	    err, "output schema.maxLength: expected a non-negative integer");
	json_decref(spec.output);
	spec.output = NULL;

	/* The longest name fits; one byte more does not. */
	memset(longname, 'n', sizeof longname);
	longname[0] = '/';
	longname[REGISTRY_NAME_MAX] = '\0';
	spec.name = longname;
	assert_int_equal(registry_register(r, &spec, h_echo, "", err, 128), 0);
	assert_int_equal(registry_has(r, longname), 1);
	longname[REGISTRY_NAME_MAX] = 'n';
	longname[REGISTRY_NAME_MAX + 1] = '\0';
	assert_int_equal(
	    registry_register(r, &spec, h_echo, "", err, 128), -EINVAL);
	assert_string_equal(err, "name: name too long");

	assert_int_equal(registry_count(r), 3);
	registry_free(r);
}

/* A message too long is cut between characters; a name that is not
 * text is quoted as text. */
static void
h_wordy(struct registry_call *call, json_t *input, void *arg)
{
	registry_call_fail(call, REPLY_INTERNAL, 0, "%s", (char *)arg);
}

static int
utf8_ok(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

static void
test_long_message(void **state)
{
	struct registry       *r = new_registry(16, 16);
	struct answer          a = {0};
	struct registry_access nothing = {NULL, NULL, NULL, NULL};
	char                   text[601], want[256];
	size_t                 i;

	for (i = 0; i < 300; i++)
		memcpy(text + 2 * i, "\xc3\xa9", 2);
	text[600] = '\0';

	/* 255 bytes would end inside the 128th two-byte character, which
	 * goes whole. */
	reg(r, "/talk/much", nothing, 1, h_wordy, text);
	call(r, NULL, 0, "/talk/much", NULL, &a);
	assert_int_equal(a.code, REPLY_INTERNAL);
	assert_int_equal(strlen(a.message), 127 * 2);
	assert_true(utf8_ok(a.message));

	call(r, NULL, 0, "/a\xff\x01/\xc3\xa9", NULL, &a);
	assert_error(&a, REPLY_NOT_FOUND,
	    "operation not found: /a?"
	    "?/??");

	/* Quoted to fit, not cut mid-character. */
	call(r, NULL, 0, text, NULL, &a);
	assert_int_equal(strlen(a.message), REGISTRY_MSG_MAX - 1);
	assert_true(utf8_ok(a.message));
	snprintf(want, sizeof want, "operation not found: %0*d", 234, 0);
	memset(want + 21, '?', 234);
	assert_string_equal(a.message, want);

	answer_clear(&a);
	registry_free(r);
}

static void
test_nulls(void **state)
{
	struct registry    *r = (struct registry *)&r;
	struct registry_ctx ctx = {NULL, 0, NULL, NULL, NULL, NULL};
	struct answer       a = {0};

	assert_int_equal(registry_new(1, 1, &r), -EINVAL);
	assert_null(r);
	assert_int_equal(registry_new(2, 0, &r), -EINVAL);
	assert_int_equal(registry_new(2, 1, NULL), -EINVAL);
	registry_free(NULL);
	assert_int_equal(registry_count(NULL), 0);
	assert_int_equal(registry_has(NULL, "/services/list"), 0);
	assert_null(registry_list(NULL));
	assert_int_equal(registry_deliver(NULL), 0);
	assert_int_equal(registry_ready(NULL), 0);
	assert_null(registry_kind_name(REGISTRY_NKINDS));
	assert_string_equal(
	    registry_kind_name(REGISTRY_SUBSCRIPTION), "subscription");

	assert_int_equal(registry_new(2, 1, &r), 0);
	assert_int_equal(
	    registry_dispatch(r, NULL, "/x", NULL, on_done, &a), -EINVAL);
	assert_int_equal(
	    registry_dispatch(r, &ctx, NULL, NULL, on_done, &a), -EINVAL);
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/x", NULL, NULL, &a), -EINVAL);

	/* A NULL request id reads as "". */
	assert_int_equal(
	    registry_dispatch(r, &ctx, "/services/list", NULL, on_done, &a), 0);
	assert_int_equal(registry_deliver(r), 1);
	assert_string_equal(a.id, "");
	answer_clear(&a);
	registry_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_scopes_and_trust),
	    cmocka_unit_test(test_rules),
	    cmocka_unit_test(test_local),
	    cmocka_unit_test(test_namespace),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_schema_op),
	    cmocka_unit_test(test_schemas_at_dispatch),
	    cmocka_unit_test(test_env),
	    cmocka_unit_test(test_env_depth),
	    cmocka_unit_test(test_requests),
	    cmocka_unit_test(test_async),
	    cmocka_unit_test(test_deliver_inside),
	    cmocka_unit_test(test_teardown),
	    cmocka_unit_test(test_observer),
	    cmocka_unit_test(test_observer_nested),
	    cmocka_unit_test(test_call_ids),
	    cmocka_unit_test(test_observer_teardown),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_long_message),
	    cmocka_unit_test(test_nulls),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
