/*
 * The pending-request map: calls and subscriptions answered, ended and
 * aborted, deadlines, the connection closing, the bound, the abort
 * cascade under both policies, and callbacks that change the map.
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

#include "pending.h"

#define MAX_EVENTS 64

/* One callback as the log keeps it. */
struct seen {
	char              id[32];
	enum pending_what what;
	int               last;
	char              value[64]; /* the value as compact JSON, or "" */
	int               code;
	char              message[64];
	int               retryable;
};

struct log {
	struct seen     ev[MAX_EVENTS];
	int             n;
	struct pending *m;     /* for callbacks that act on the map */
	const char     *abort; /* an id to abort from inside a callback */
};

static void
record(const struct pending_event *ev, void *arg)
{
	struct log  *log = arg;
	struct seen *s;
	char        *v;

	assert_true(log->n < MAX_EVENTS);
	s = &log->ev[log->n++];
	snprintf(s->id, sizeof s->id, "%s", ev->id);
	s->what = ev->what;
	s->last = ev->last;
	s->value[0] = '\0';
	if (ev->value != NULL) {
		v = json_dumps(ev->value, JSON_COMPACT | JSON_ENCODE_ANY);
		snprintf(s->value, sizeof s->value, "%s", v);
		free(v);
	}
	s->code = ev->what == PENDING_ERROR ? (int)ev->err.code : -1;
	snprintf(s->message, sizeof s->message, "%s",
	    ev->err.message != NULL ? ev->err.message : "");
	s->retryable = ev->err.retryable;

	if (log->abort != NULL)
		pending_aborted(log->m, log->abort);
}

static void
add(struct pending *m, struct log *log, const char *id, const char *parent,
    enum pending_kind kind, uint64_t deadline)
{
	struct pending_req r = {id, parent, kind, deadline, record, log};

	assert_int_equal(pending_add(m, &r, 0), 0);
}

static struct pending *
map(size_t max, struct log *log)
{
	struct pending *m = NULL;

	memset(log, 0, sizeof *log);
	assert_int_equal(pending_new(max, &m), 0);
	log->m = m;
	return m;
}

static void
test_call_responded(void **state)
{
	struct log      log;
	struct pending *m = map(16, &log);
	json_t         *v = json_pack("{s:i}", "x", 1);

	add(m, &log, "r1", NULL, PENDING_CALL, 0);
	add(m, &log, "r2", NULL, PENDING_CALL, 0);
	assert_int_equal(pending_count(m), 2);

	assert_int_equal(pending_responded(m, "r1", v), 1);
	assert_int_equal(log.n, 1);
	assert_string_equal(log.ev[0].id, "r1");
	assert_int_equal(log.ev[0].what, PENDING_VALUE);
	assert_int_equal(log.ev[0].last, 1);
	assert_string_equal(log.ev[0].value, "{\"x\":1}");
	assert_int_equal(pending_has(m, "r1"), 0);
	assert_int_equal(pending_has(m, "r2"), 1);
	assert_int_equal(pending_count(m), 1);

	/* Answered already, or never asked: ignored, nobody told. */
	assert_int_equal(pending_responded(m, "r1", v), 0);
	assert_int_equal(pending_responded(m, "nope", v), 0);
	assert_int_equal(log.n, 1);
	assert_int_equal(pending_count(m), 1);

	json_decref(v);
	pending_free(m);
}

static void
test_subscription_values_then_end(void **state)
{
	struct log      log;
	struct pending *m = map(16, &log);
	char            want[8];
	json_t         *v;
	int             i;

	add(m, &log, "s1", NULL, PENDING_SUBSCRIBE, PENDING_NO_DEADLINE);
	for (i = 0; i < 5; i++) {
		v = json_integer(i * 10);
		assert_int_equal(pending_responded(m, "s1", v), 1);
		json_decref(v);
		assert_int_equal(pending_has(m, "s1"), 1);
	}
	assert_int_equal(pending_completed(m, "s1"), 1);
	assert_int_equal(pending_has(m, "s1"), 0);
	assert_int_equal(pending_completed(m, "s1"), 0);

	assert_int_equal(log.n, 6);
	for (i = 0; i < 5; i++) {
		snprintf(want, sizeof want, "%d", i * 10);
		assert_int_equal(log.ev[i].what, PENDING_VALUE);
		assert_int_equal(log.ev[i].last, 0);
		assert_string_equal(log.ev[i].value, want);
	}
	assert_int_equal(log.ev[5].what, PENDING_END);
	assert_int_equal(log.ev[5].last, 1);
	assert_string_equal(log.ev[5].id, "s1");
	pending_free(m);
}

static void
test_completed_call_is_aborted(void **state)
{
	struct log      log;
	struct pending *m = map(16, &log);

	add(m, &log, "c", NULL, PENDING_CALL, 0);
	assert_int_equal(pending_completed(m, "c"), 1);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.ev[0].what, PENDING_ERROR);
	assert_int_equal(log.ev[0].code, REPLY_ABORTED);
	assert_string_equal(log.ev[0].message, "completed without a response");
	assert_int_equal(pending_count(m), 0);
	pending_free(m);
}

static void
test_aborted(void **state)
{
	struct log      log;
	struct pending *m = map(16, &log);

	add(m, &log, "c", NULL, PENDING_CALL, 0);
	add(m, &log, "s", NULL, PENDING_SUBSCRIBE, 0);
	assert_int_equal(pending_aborted(m, "s"), 1);
	assert_int_equal(pending_aborted(m, "c"), 1);
	assert_int_equal(pending_aborted(m, "c"), 0);
	assert_int_equal(pending_aborted(m, "unknown"), 0);
	assert_int_equal(pending_count(m), 0);

	assert_int_equal(log.n, 2);
	assert_string_equal(log.ev[0].id, "s");
	assert_int_equal(log.ev[0].what, PENDING_ABORTED);
	assert_int_equal(log.ev[0].last, 1);
	assert_string_equal(log.ev[1].id, "c");
	assert_int_equal(log.ev[1].what, PENDING_ABORTED);
	pending_free(m);
}

static void
test_failed(void **state)
{
	struct reply_error e = {REPLY_FORBIDDEN, "access denied", 0, NULL};
	struct log         log;
	struct pending    *m = map(16, &log);

	add(m, &log, "c", NULL, PENDING_CALL, 0);
	assert_int_equal(pending_failed(m, "c", &e), 1);
	assert_int_equal(pending_failed(m, "c", &e), 0);
	assert_int_equal(log.n, 1);
	assert_int_equal(log.ev[0].what, PENDING_ERROR);
	assert_int_equal(log.ev[0].code, REPLY_FORBIDDEN);
	assert_string_equal(log.ev[0].message, "access denied");
	pending_free(m);
}

static void
test_sweep(void **state)
{
	struct log         log;
	struct pending    *m = map(16, &log);
	struct pending_req r = {"late", NULL, PENDING_CALL, 0, record, &log};
	int                i;

	add(m, &log, "c100", NULL, PENDING_CALL, 100);
	add(m, &log, "c200", NULL, PENDING_CALL, 200);
	add(m, &log, "s150", NULL, PENDING_SUBSCRIBE, 150);
	add(m, &log, "forever", NULL, PENDING_SUBSCRIBE, PENDING_NO_DEADLINE);
	/* No deadline given: 30 s after now. */
	assert_int_equal(pending_add(m, &r, 1000), 0);

	assert_int_equal(pending_sweep(m, 99), 0);
	assert_int_equal(pending_sweep(m, 150), 2);
	assert_int_equal(pending_has(m, "c100"), 0);
	assert_int_equal(pending_has(m, "s150"), 0);
	assert_int_equal(pending_has(m, "c200"), 1);
	assert_int_equal(log.n, 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(log.ev[i].what, PENDING_ERROR);
		assert_int_equal(log.ev[i].last, 1);
		assert_int_equal(log.ev[i].code, REPLY_TIMEOUT);
		assert_string_equal(log.ev[i].message, "deadline exceeded");
		assert_int_equal(log.ev[i].retryable, 1);
	}

	assert_int_equal(pending_sweep(m, 30999), 1);
	assert_string_equal(log.ev[2].id, "c200");
	assert_int_equal(pending_has(m, "late"), 1);
	assert_int_equal(pending_sweep(m, 31000), 1);
	assert_string_equal(log.ev[3].id, "late");

	/* A subscription without a deadline outlives any sweep. */
	assert_int_equal(pending_sweep(m, UINT64_MAX - 1), 0);
	assert_int_equal(pending_sweep(m, UINT64_MAX), 0);
	assert_int_equal(pending_count(m), 1);
	assert_int_equal(pending_has(m, "forever"), 1);

	/* A call must have a deadline. */
	r.id = "nodeadline";
	r.deadline = PENDING_NO_DEADLINE;
	assert_int_equal(pending_add(m, &r, 0), -EINVAL);
	pending_free(m);
}

static void
test_close(void **state)
{
	struct log         log;
	struct pending    *m = map(16, &log);
	struct pending_req r = {"after", NULL, PENDING_CALL, 0, record, &log};
	int                i;

	add(m, &log, "c1", NULL, PENDING_CALL, 0);
	add(m, &log, "c2", NULL, PENDING_CALL, 0);
	add(m, &log, "s1", NULL, PENDING_SUBSCRIBE, PENDING_NO_DEADLINE);
	assert_int_equal(pending_close(m), 3);
	assert_int_equal(pending_count(m), 0);
	assert_int_equal(log.n, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(log.ev[i].what, PENDING_ERROR);
		assert_int_equal(log.ev[i].last, 1);
		assert_int_equal(log.ev[i].code, REPLY_INTERNAL);
		assert_string_equal(log.ev[i].message, "connection closed");
		assert_int_equal(log.ev[i].retryable, 0);
	}
	assert_int_equal(pending_add(m, &r, 0), -EPIPE);
	assert_int_equal(pending_close(m), 0);
	pending_free(m);
}

static void
test_bounds(void **state)
{
	struct log         log;
	struct pending    *m = map(2, &log), *bad = NULL;
	struct pending_req r = {"c", NULL, PENDING_CALL, 0, NULL, NULL};

	add(m, &log, "a", NULL, PENDING_CALL, 0);
	assert_int_equal(pending_add(m, &r, 0), 0);
	r.id = "a";
	assert_int_equal(pending_add(m, &r, 0), -EEXIST);
	r.id = "third";
	assert_int_equal(pending_add(m, &r, 0), -ENOSPC);
	assert_int_equal(pending_aborted(m, "a"), 1);
	assert_int_equal(pending_add(m, &r, 0), 0);

	/* No callback: answered all the same. */
	assert_int_equal(pending_responded(m, "third", NULL), 1);
	r.id = NULL;
	assert_int_equal(pending_add(m, &r, 0), -EINVAL);
	r.id = "k";
	r.kind = PENDING_NKINDS;
	assert_int_equal(pending_add(m, &r, 0), -EINVAL);

	assert_int_equal(pending_new(0, &bad), -EINVAL);
	assert_int_equal(pending_new((1 << 20) + 1, &bad), -EINVAL);
	assert_null(bad);
	pending_free(m);
	pending_free(NULL);
}

static void
test_many(void **state)
{
	struct log         log;
	struct pending    *m = map(1000, &log);
	struct pending_req r = {NULL, NULL, PENDING_SUBSCRIBE, 0, NULL, NULL};
	char               id[16];
	int                i;

	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof id, "id-%d", i);
		r.id = id;
		r.deadline = (uint64_t)i + 1;
		assert_int_equal(pending_add(m, &r, 0), 0);
	}
	r.id = "one-too-many";
	assert_int_equal(pending_add(m, &r, 0), -ENOSPC);
	assert_int_equal(pending_count(m), 1000);
	for (i = 0; i < 1000; i++) {
		snprintf(id, sizeof id, "id-%d", i);
		assert_int_equal(pending_has(m, id), 1);
	}
	assert_int_equal(pending_has(m, "id-1000"), 0);
	assert_int_equal(pending_sweep(m, 500), 500);
	assert_int_equal(pending_has(m, "id-499"), 0);
	assert_int_equal(pending_has(m, "id-500"), 1);
	assert_int_equal(pending_count(m), 500);
	pending_free(m);
}

/* r1 -> {r1-a -> {r1-a-1, r1-a-2}, r1-b -> {r1-b-1}}, r2 -> {r2-a},
 * added children first and out of order. */
static struct pending *
forest(struct log *log)
{
	struct pending *m = map(64, log);

	add(m, log, "r1-b-1", "r1-b", PENDING_CALL, 0);
	add(m, log, "r1-a-2", "r1-a", PENDING_CALL, 0);
	add(m, log, "r2-a", "r2", PENDING_CALL, 0);
	add(m, log, "r1-b", "r1", PENDING_SUBSCRIBE, 0);
	add(m, log, "r1-a-1", "r1-a", PENDING_CALL, 0);
	add(m, log, "r1-a", "r1", PENDING_CALL, 0);
	add(m, log, "r2", NULL, PENDING_CALL, 0);
	add(m, log, "r1", NULL, PENDING_CALL, 0);
	return m;
}

static void
assert_ids(char **ids, const char *const *want, int n)
{
	int i;

	assert_non_null(ids);
	for (i = 0; i < n; i++)
		assert_string_equal(ids[i], want[i]);
	assert_null(ids[n]);
}

static void
test_cascade(void **state)
{
	static const char *const sorted[] = {
	    "r1-a", "r1-a-1", "r1-a-2", "r1-b", "r1-b-1"};
	static const char *const told[] = {
	    "r1-a", "r1-b", "r1-a-1", "r1-a-2", "r1-b-1"};
	struct log      log;
	struct pending *m = forest(&log);
	char          **ids = NULL;
	int             i;

	assert_int_equal(
	    pending_cascade(m, "r1", PENDING_ABORT_DEPENDENTS, &ids), 5);
	assert_ids(ids, sorted, 5);
	free(ids);

	/* Parents are told before children, siblings in order. */
	assert_int_equal(log.n, 5);
	for (i = 0; i < 5; i++) {
		assert_string_equal(log.ev[i].id, told[i]);
		assert_int_equal(log.ev[i].what, PENDING_ABORTED);
		assert_int_equal(log.ev[i].last, 1);
	}

	/* The root and the sibling tree stay. */
	assert_int_equal(pending_count(m), 3);
	assert_int_equal(pending_has(m, "r1"), 1);
	assert_int_equal(pending_has(m, "r2"), 1);
	assert_int_equal(pending_has(m, "r2-a"), 1);
	pending_free(m);
}

static void
test_cascade_siblings_and_unknown(void **state)
{
	static const char *const r2[] = {"r2-a"};
	struct log               log;
	struct pending          *m = forest(&log);
	char                   **ids = (char **)&ids;

	assert_int_equal(
	    pending_cascade(m, "nope", PENDING_ABORT_DEPENDENTS, &ids), 0);
	assert_null(ids);
	assert_int_equal(pending_count(m), 8);
	assert_int_equal(log.n, 0);

	/* A leaf has no descendants. */
	assert_int_equal(
	    pending_cascade(m, "r1-a-1", PENDING_ABORT_DEPENDENTS, NULL), 0);

	assert_int_equal(
	    pending_cascade(m, "r2", PENDING_ABORT_DEPENDENTS, &ids), 1);
	assert_ids(ids, r2, 1);
	free(ids);
	assert_int_equal(pending_count(m), 7);
	assert_int_equal(pending_has(m, "r2"), 1);
	assert_int_equal(pending_has(m, "r1-b-1"), 1);
	pending_free(m);
}

static void
test_cascade_continue_running(void **state)
{
	static const char *const want[] = {"r1-a-1", "r1-a-2", "r1-b"};
	struct log               log;
	struct pending          *m = forest(&log);
	char                   **ids = NULL;

	assert_int_equal(pending_start(m, "r1-a"), 1);
	assert_int_equal(pending_start(m, "r1-b-1"), 1);
	assert_int_equal(pending_start(m, "nope"), 0);

	assert_int_equal(
	    pending_cascade(m, "r1", PENDING_CONTINUE_RUNNING, &ids), 3);
	assert_ids(ids, want, 3);
	free(ids);
	assert_int_equal(pending_has(m, "r1-a"), 1);
	assert_int_equal(pending_has(m, "r1-b-1"), 1);
	assert_int_equal(pending_has(m, "r1-b"), 0);
	assert_int_equal(pending_count(m), 5);
	pending_free(m);
}

static void
test_cascade_loop(void **state)
{
	static const char *const want[] = {"b", "c"};
	struct log               log;
	struct pending          *m = map(8, &log);
	char                   **ids = NULL;

	/* a -> b -> c -> a: each entry goes once, the root never. */
	add(m, &log, "a", "c", PENDING_CALL, 0);
	add(m, &log, "b", "a", PENDING_CALL, 0);
	add(m, &log, "c", "b", PENDING_CALL, 0);
	assert_int_equal(
	    pending_cascade(m, "a", PENDING_ABORT_DEPENDENTS, &ids), 2);
	assert_ids(ids, want, 2);
	free(ids);
	assert_int_equal(pending_count(m), 1);
	pending_free(m);
}

static void
test_callbacks_change_the_map(void **state)
{
	struct log      log;
	struct pending *m = map(16, &log);
	json_t         *v = json_integer(1);

	/* A subscription that aborts itself on its first value. */
	add(m, &log, "s", NULL, PENDING_SUBSCRIBE, 0);
	log.abort = "s";
	assert_int_equal(pending_responded(m, "s", v), 1);
	assert_int_equal(pending_has(m, "s"), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.ev[1].what, PENDING_ABORTED);

	/* Entries told of the close abort one another: all are out by
	 * then, so nothing is told twice. */
	log.n = 0;
	add(m, &log, "x", NULL, PENDING_CALL, 0);
	add(m, &log, "y", NULL, PENDING_CALL, 0);
	log.abort = "y";
	assert_int_equal(pending_close(m), 2);
	assert_int_equal(log.n, 2);
	json_decref(v);
	pending_free(m);
}

/* Decodes text (an envelope) from a frame of its own. */
static void
frame_of(const char *text, struct frame *f)
{
	unsigned char buf[512];
	size_t        len = strlen(text), size = 0;

	buf[0] = buf[1] = 0;
	buf[2] = (unsigned char)(len >> 8);
	buf[3] = (unsigned char)len;
	memcpy(buf + 4, text, len);
	assert_int_equal(frame_decode(buf, len + 4, 0, f, &size, NULL), 0);
}

static void
test_frames(void **state)
{
	struct log      log;
	struct pending *m = map(16, &log);
	struct frame    f;

	add(m, &log, "c", NULL, PENDING_CALL, 0);
	add(m, &log, "e", NULL, PENDING_CALL, 0);
	add(m, &log, "ts", NULL, PENDING_CALL, 0);

	frame_of("{\"type\":\"call.responded\",\"id\":\"c\","
	         "\"payload\":{\"output\":[1]}}",
	    &f);
	assert_int_equal(pending_frame(m, &f), 1);
	assert_int_equal(pending_frame(m, &f), 0);
	frame_release(&f);
	assert_string_equal(log.ev[0].value, "[1]");

	frame_of("{\"type\":\"call.error\",\"id\":\"e\",\"payload\":{\"code\":"
	         "\"NOT_FOUND\",\"message\":\"operation not found: /x\","
	         "\"retryable\":false}}",
	    &f);
	assert_int_equal(pending_frame(m, &f), 1);
	frame_release(&f);
	assert_int_equal(log.ev[1].what, PENDING_ERROR);
	assert_int_equal(log.ev[1].code, REPLY_NOT_FOUND);
	assert_string_equal(log.ev[1].message, "operation not found: /x");

	/* The TypeScript peer's correlation: id "" and payload.requestId. */
	frame_of("{\"type\":\"call.responded\",\"id\":\"\",\"payload\":"
	         "{\"requestId\":\"ts\",\"output\":2}}",
	    &f);
	assert_int_equal(pending_frame(m, &f), 1);
	frame_release(&f);
	assert_string_equal(log.ev[2].id, "ts");
	assert_string_equal(log.ev[2].value, "2");

	frame_of(
	    "{\"type\":\"call.responded\",\"id\":\"c\",\"payload\":{}}", &f);
	assert_int_equal(pending_frame(m, &f), -EBADMSG);
	frame_release(&f);
	frame_of("{\"type\":\"call.error\",\"id\":\"c\",\"payload\":{}}", &f);
	assert_int_equal(pending_frame(m, &f), -EBADMSG);
	frame_release(&f);
	frame_of(
	    "{\"type\":\"call.requested\",\"id\":\"c\",\"payload\":{}}", &f);
	assert_int_equal(pending_frame(m, &f), -EINVAL);
	frame_release(&f);
	assert_int_equal(log.n, 3);
	pending_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_call_responded),
	    cmocka_unit_test(test_subscription_values_then_end),
	    cmocka_unit_test(test_completed_call_is_aborted),
	    cmocka_unit_test(test_aborted),
	    cmocka_unit_test(test_failed),
	    cmocka_unit_test(test_sweep),
	    cmocka_unit_test(test_close),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_cascade),
	    cmocka_unit_test(test_cascade_siblings_and_unknown),
	    cmocka_unit_test(test_cascade_continue_running),
	    cmocka_unit_test(test_cascade_loop),
	    cmocka_unit_test(test_callbacks_change_the_map),
	    cmocka_unit_test(test_frames),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
