/*
 * The event bus: numbering, the log's offset space, retention, slow
 * readers, whole lines, deferred callbacks and the end.
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

#include "events.h"

#define DROPPED   "{\"type\":\"events.dropped\",\"count\":"
#define DROPPED_7 DROPPED "7}\n"

struct fixture {
	uv_loop_t          loop;
	int                calls;
	int                unsubscribe_in_cb;
	struct events_sub *sub;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);

	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	/* The bus must leave no handle behind once closed. */
	events_close();
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void
count_cb(struct events_sub *sub, void *arg)
{
	struct fixture *f = arg;

	f->calls++;
	if (f->unsubscribe_in_cb) {
		events_unsubscribe(sub);
		f->sub = NULL;
	}
}

static json_t *
one_field(const char *key, json_int_t v)
{
	json_t *o = json_object();

	json_object_set_new(o, key, json_integer(v));
	return o;
}

/* Splits buf (n bytes of whole lines) and parses line i. */
static json_t *
line_at(const char *buf, size_t n, int i)
{
	const char *p = buf, *nl;
	char        line[4096];

	for (;;) {
		nl = memchr(p, '\n', n - (size_t)(p - buf));
		assert_non_null(nl);
		if (i-- == 0)
			break;
		p = nl + 1;
	}
	assert_true((size_t)(nl - p) < sizeof line);
	memcpy(line, p, (size_t)(nl - p));
	line[nl - p] = '\0';
	return json_loads(line, 0, NULL);
}

static int
count_lines(const char *buf, size_t n)
{
	int    c = 0;
	size_t i;

	for (i = 0; i < n; i++)
		c += buf[i] == '\n';
	return c;
}

static void
test_seq_and_format(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;
	char               buf[4096];
	json_t            *o;
	const char        *ts;
	ssize_t            n;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 0, 0), 0);
	sub = events_subscribe(count_cb, f);
	assert_non_null(sub);

	events_emit("test.one", one_field("x", 7));
	events_emit("test.two", NULL);
	assert_int_equal(events_emitted(), 2);

	n = events_read(sub, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal(buf[n - 1], '\n');
	assert_int_equal(count_lines(buf, (size_t)n), 2);

	/* seq, ts and type come first, the fields follow. */
	assert_memory_equal(buf, "{\"seq\":0,\"ts\":\"", 15);
	o = line_at(buf, (size_t)n, 0);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 0);
	assert_string_equal(
	    json_string_value(json_object_get(o, "type")), "test.one");
	assert_int_equal(json_integer_value(json_object_get(o, "x")), 7);
	ts = json_string_value(json_object_get(o, "ts"));
	assert_non_null(ts);
	assert_int_equal(strlen(ts), 24);
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
	json_decref(o);

	o = line_at(buf, (size_t)n, 1);
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 1);
	json_decref(o);

	assert_int_equal(events_read(sub, buf, sizeof buf), -EAGAIN);
	events_unsubscribe(sub);
}

static void
test_fields_cannot_override(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;
	char               buf[1024];
	json_t            *o, *fields = json_object();
	ssize_t            n;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 5, 0), 0);
	sub = events_subscribe(count_cb, f);
	json_object_set_new(fields, "seq", json_integer(99));
	json_object_set_new(fields, "type", json_string("forged"));
	events_emit("real.type", fields);

	n = events_read(sub, buf, sizeof buf);
	assert_true(n > 0);
	o = line_at(buf, (size_t)n, 0);
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 5);
	assert_string_equal(
	    json_string_value(json_object_get(o, "type")), "real.type");
	json_decref(o);
	events_unsubscribe(sub);
}

static void
test_cursor_starts_now(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;
	char               buf[1024];
	json_t            *o;
	ssize_t            n;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 0, 0), 0);
	events_emit("before", NULL);
	sub = events_subscribe(count_cb, f);
	assert_int_equal(events_read(sub, buf, sizeof buf), -EAGAIN);
	assert_false(events_readable(sub));

	events_emit("after", NULL);
	assert_true(events_readable(sub));
	n = events_read(sub, buf, sizeof buf);
	assert_int_equal(count_lines(buf, (size_t)n), 1);
	o = line_at(buf, (size_t)n, 0);
	assert_string_equal(
	    json_string_value(json_object_get(o, "type")), "after");
	json_decref(o);
	events_unsubscribe(sub);
}

static void
test_log_offsets(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;
	char               all[4096], part[4096], small[7];
	ssize_t            n;
	size_t             got, off;
	int                i;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 0, 0), 0);
	sub = events_subscribe(count_cb, f);
	for (i = 0; i < 5; i++)
		events_emit("test.offset", one_field("i", i));

	/* The log holds exactly what subscribers saw, in the same order. */
	n = events_read(sub, all, sizeof all);
	assert_true(n > 0);
	assert_int_equal(events_log_size(), (uint64_t)n);
	got = events_log_read(0, part, sizeof part);
	assert_int_equal(got, (size_t)n);
	assert_memory_equal(part, all, got);

	/* Reads at any offset, in small pieces, give the same bytes. */
	for (off = 0; off < (size_t)n; off += got) {
		got = events_log_read(off, small, sizeof small);
		assert_true(got > 0 && got <= sizeof small);
		assert_memory_equal(small, all + off, got);
	}
	assert_int_equal(events_log_read((uint64_t)n, part, sizeof part), 0);
	assert_int_equal(events_log_read((uint64_t)n + 100, part, 10), 0);
	events_unsubscribe(sub);
}

static void
test_continues_previous_run(void **state)
{
	struct fixture *f = *state;
	char            buf[2048];
	size_t          got, i;
	json_t         *o;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 42, 1000), 0);
	assert_int_equal(events_log_size(), 1000);
	events_emit("test.next", NULL);
	assert_true(events_log_size() > 1000);

	/* Bytes of earlier runs are not here and read as newlines. */
	got = events_log_read(990, buf, sizeof buf);
	assert_int_equal(got, events_log_size() - 990);
	for (i = 0; i < 10; i++)
		assert_int_equal(buf[i], '\n');
	o = line_at(buf + 10, got - 10, 0);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "seq")), 42);
	json_decref(o);
}

static void
test_retention(void **state)
{
	struct fixture *f = *state;
	char            buf[8192];
	size_t          got, i, blank = 0;
	json_t         *o;
	int             k;

	assert_int_equal(events_init(&f->loop, 300, 100, 0, 0), 0);
	for (k = 0; k < 20; k++)
		events_emit("test.retain", one_field("k", k));

	got = events_log_read(0, buf, sizeof buf);
	assert_int_equal(got, events_log_size());

	/* Old lines are gone (newlines), the newest are intact. */
	while (blank < got && buf[blank] == '\n')
		blank++;
	assert_true(blank > 0);
	assert_true(got - blank <= 300);
	for (i = blank; i < got; i++)
		assert_true(buf[i] != '\0');
	o = line_at(buf + blank, got - blank,
	    count_lines(buf + blank, got - blank) - 1);
	assert_non_null(o);
	assert_int_equal(json_integer_value(json_object_get(o, "k")), 19);
	json_decref(o);
}

static void
test_dropped_for_slow_reader(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;
	char               buf[8192];
	ssize_t            n;
	json_t            *o;
	int                k;

	assert_int_equal(events_init(&f->loop, 1 << 20, 3, 0, 0), 0);
	sub = events_subscribe(count_cb, f);
	for (k = 0; k < 10; k++)
		events_emit("test.lag", one_field("k", k));
	assert_int_equal(events_dropped(), 7);

	n = events_read(sub, buf, sizeof buf);
	assert_true(n > 0);
	assert_int_equal(count_lines(buf, (size_t)n), 4);
	assert_memory_equal(buf, DROPPED_7, sizeof DROPPED_7 - 1);
	o = line_at(buf, (size_t)n, 1);
	assert_int_equal(json_integer_value(json_object_get(o, "k")), 7);
	json_decref(o);
	o = line_at(buf, (size_t)n, 3);
	assert_int_equal(json_integer_value(json_object_get(o, "k")), 9);
	json_decref(o);

	/* Caught up: nothing more to report. */
	assert_int_equal(events_read(sub, buf, sizeof buf), -EAGAIN);
	events_unsubscribe(sub);
}

static void
test_retention_drops_too(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;
	char               buf[8192];
	ssize_t            n;
	int                k;

	/* Lines evicted by the byte bound are missed lines as well. */
	assert_int_equal(events_init(&f->loop, 200, 1000, 0, 0), 0);
	sub = events_subscribe(count_cb, f);
	for (k = 0; k < 20; k++)
		events_emit("test.evict", one_field("k", k));
	assert_true(events_dropped() > 0);

	n = events_read(sub, buf, sizeof buf);
	assert_true(n > 0);
	assert_memory_equal(buf, DROPPED, sizeof DROPPED - 1);
	events_unsubscribe(sub);
}

static void
test_whole_lines_only(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;
	char               buf[4096];
	ssize_t            n, first;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 0, 0), 0);
	sub = events_subscribe(count_cb, f);
	events_emit("test.whole", one_field("a", 1));
	events_emit("test.whole", one_field("a", 2));

	/* Find one line's length, then offer a line and a half. */
	first = (ssize_t)events_log_size() / 2;
	assert_int_equal(events_read(sub, buf, 10), -EMSGSIZE);
	n = events_read(sub, buf, (size_t)first + (size_t)first / 2);
	assert_int_equal(n, first);
	assert_int_equal(buf[n - 1], '\n');
	assert_int_equal(count_lines(buf, (size_t)n), 1);

	n = events_read(sub, buf, sizeof buf);
	assert_int_equal(n, first);
	assert_int_equal(events_read(sub, buf, sizeof buf), -EAGAIN);
	events_unsubscribe(sub);
}

static void
test_callback_deferred(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 0, 0), 0);
	sub = events_subscribe(count_cb, f);
	events_emit("test.cb", NULL);
	events_emit("test.cb", NULL);

	/* Never from inside emit; once per turn of the loop. */
	assert_int_equal(f->calls, 0);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->calls, 1);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->calls, 1);

	events_emit("test.cb", NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->calls, 2);
	events_unsubscribe(sub);
}

static void
test_unsubscribe_pending(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 0, 0), 0);
	sub = events_subscribe(count_cb, f);
	events_emit("test.cb", NULL);
	events_unsubscribe(sub);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->calls, 0);

	/* A callback may unsubscribe its own subscriber. */
	f->sub = events_subscribe(count_cb, f);
	f->unsubscribe_in_cb = 1;
	events_emit("test.cb", NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->calls, 1);
	assert_null(f->sub);
}

static void
test_eof_after_close(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub, *late;
	char               buf[1024];

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 0, 0), 0);
	sub = events_subscribe(count_cb, f);
	events_emit("test.end", NULL);
	events_close();

	/* Everyone is woken, then reads end. */
	assert_int_equal(f->calls, 1);
	assert_true(events_readable(sub));
	assert_int_equal(events_read(sub, buf, sizeof buf), 0);
	assert_int_equal(events_read(sub, buf, sizeof buf), 0);

	/* A subscriber that comes after the end is at its end. */
	late = events_subscribe(count_cb, f);
	assert_non_null(late);
	assert_int_equal(events_read(late, buf, sizeof buf), 0);

	/* Emitting without a bus is harmless. */
	events_emit("test.none", one_field("x", 1));
	assert_int_equal(events_log_size(), 0);
	events_unsubscribe(sub);
	events_unsubscribe(late);
	events_unsubscribe(NULL);
}

static void
test_big_event_truncated(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;
	static char        big[20000], buf[4096];
	json_t            *o, *fields = json_object();
	ssize_t            n;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 0, 0), 0);
	sub = events_subscribe(count_cb, f);
	memset(big, 'b', sizeof big - 1);
	json_object_set_new(fields, "big", json_string(big));
	events_emit("test.big", fields);

	n = events_read(sub, buf, sizeof buf);
	assert_true(n > 0);
	o = line_at(buf, (size_t)n, 0);
	assert_non_null(o);
	assert_true(json_is_true(json_object_get(o, "truncated")));
	assert_null(json_object_get(o, "big"));
	assert_string_equal(
	    json_string_value(json_object_get(o, "type")), "test.big");
	json_decref(o);
	events_unsubscribe(sub);
}

/* Many times the size of the retained text: every line reads back whole,
 * wherever it lands, through a subscriber and through the log. */
static void
test_text_wraps(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;
	char               buf[512], again[512];
	uint64_t           before;
	ssize_t            n;
	json_t            *o;
	int                k;

	assert_int_equal(events_init(&f->loop, 300, 100, 0, 0), 0);
	sub = events_subscribe(count_cb, f);
	for (k = 0; k < 2000; k++) {
		before = events_log_size();
		events_emit("test.wrap", one_field("k", k));
		n = events_read(sub, buf, sizeof buf);
		assert_true(n > 0);
		assert_int_equal(count_lines(buf, (size_t)n), 1);
		o = line_at(buf, (size_t)n, 0);
		assert_non_null(o);
		assert_int_equal(
		    json_integer_value(json_object_get(o, "k")), k);
		json_decref(o);

		assert_int_equal(
		    events_log_read(before, again, sizeof again), (size_t)n);
		assert_memory_equal(again, buf, (size_t)n);
	}
	events_unsubscribe(sub);
}

/* A line almost as big as an event may be pushes out all the others. */
static void
test_big_line_stays_alone(void **state)
{
	struct fixture *f = *state;
	static char     big[15000], buf[20000];
	json_t         *o, *fields = json_object();
	uint64_t        before;
	size_t          got, i;
	int             k;

	assert_int_equal(events_init(&f->loop, 300, 100, 0, 0), 0);
	for (k = 0; k < 500; k++)
		events_emit("test.small", one_field("k", k));
	before = events_log_size();
	memset(big, 'b', sizeof big - 1);
	json_object_set_new(fields, "big", json_string(big));
	events_emit("test.big", fields);

	got = events_log_read(before - 10, buf, sizeof buf);
	assert_int_equal(got, events_log_size() - before + 10);
	for (i = 0; i < 10; i++)
		assert_int_equal(buf[i], '\n');
	assert_int_equal(buf[got - 1], '\n');
	o = json_loadb(buf + 10, got - 11, 0, NULL);
	assert_non_null(o);
	assert_int_equal(strlen(json_string_value(json_object_get(o, "big"))),
	    sizeof big - 1);
	json_decref(o);
}

static void
test_restored_lines_read_again(void **state)
{
	struct fixture    *f = *state;
	struct events_sub *sub;
	const char        *a = "{\"seq\":40}\n", *b = "{\"seq\":41}\n";
	char               buf[256];
	size_t             la = strlen(a), lb = strlen(b), got;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 42, 1000), 0);
	sub = events_subscribe(count_cb, f);

	/* A line that does not end where the next one starts is refused. */
	assert_int_equal(events_restore(1000 - la - lb - 1, a, la), 0);
	assert_int_equal(events_restore(1000 - lb, b, lb), -EINVAL);
	events_close();
	events_unsubscribe(sub);
	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 42, 1000), 0);
	sub = events_subscribe(count_cb, f);

	assert_int_equal(events_restore(1000 - la - lb, a, la), 0);
	assert_int_equal(events_restore(1000 - lb, b, lb), 0);
	got = events_log_read(1000 - la - lb, buf, sizeof buf);
	assert_int_equal(got, la + lb);
	assert_memory_equal(buf, a, la);
	assert_memory_equal(buf + la, b, lb);

	/* Subscribers start at now: old lines are not streamed. */
	assert_int_equal(events_read(sub, buf, sizeof buf), -EAGAIN);
	events_emit("test.after", NULL);
	assert_int_equal(events_restore(1000, a, la), -EINVAL);
	assert_true(events_read(sub, buf, sizeof buf) > 0);
	assert_non_null(strstr(buf, "\"seq\":42"));
	events_unsubscribe(sub);
}

struct sunk {
	int      n;
	uint64_t seq, off;
	char     line[256];
};

static void
sink_cb(uint64_t seq, uint64_t off, const char *line, size_t len, void *arg)
{
	struct sunk *s = arg;

	s->n++;
	s->seq = seq;
	s->off = off;
	snprintf(s->line, sizeof s->line, "%.*s", (int)len, line);
}

static void
test_sink_sees_every_line(void **state)
{
	struct fixture *f = *state;
	struct sunk     s = {0};
	char            buf[256];
	size_t          got;

	assert_int_equal(events_init(&f->loop, 1 << 20, 100, 7, 300), 0);
	events_set_sink(sink_cb, &s);
	events_emit("test.one", NULL);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.seq, 7);
	assert_int_equal(s.off, 300);
	got = events_log_read(300, buf, sizeof buf);
	assert_int_equal(got, strlen(s.line));
	assert_memory_equal(buf, s.line, got);

	events_emit("test.two", NULL);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.seq, 8);
	assert_int_equal(s.off, 300 + got);
}

static void
test_init_twice(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(events_init(&f->loop, 1024, 10, 0, 0), 0);
	assert_int_equal(events_init(&f->loop, 1024, 10, 0, 0), -EBUSY);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_seq_and_format),
	    T(test_fields_cannot_override),
	    T(test_cursor_starts_now),
	    T(test_log_offsets),
	    T(test_continues_previous_run),
	    T(test_restored_lines_read_again),
	    T(test_sink_sees_every_line),
	    T(test_retention),
	    T(test_dropped_for_slow_reader),
	    T(test_retention_drops_too),
	    T(test_whole_lines_only),
	    T(test_callback_deferred),
	    T(test_unsubscribe_pending),
	    T(test_eof_after_close),
	    T(test_big_event_truncated),
	    T(test_text_wraps),
	    T(test_big_line_stays_alone),
	    T(test_init_twice),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
