/*
 * Flowgraphs: call statuses and refused transitions, triggered edges,
 * roots and lineage, who made a call and why it failed, numbers, the
 * JSON round trip, the bound on calls kept,
 * schema compatibility and cycles between operations, and DOT that the
 * real Graphviz renders.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "flowgraph.h"
#include "registry.h"

static struct flowgraph_calls *
calls_new(size_t max)
{
	struct flowgraph_calls *g = NULL;

	assert_int_equal(flowgraph_calls_new(max, &g), 0);
	return g;
}

static void
assert_call(struct flowgraph_calls *g, const char *id,
    enum flowgraph_status status, uint64_t started, uint64_t ended,
    int64_t duration)
{
	struct flowgraph_call c;

	assert_int_equal(flowgraph_calls_get(g, id, &c), 0);
	assert_string_equal(c.id, id);
	assert_int_equal(c.status, status);
	assert_int_equal(c.started_ms, started);
	assert_int_equal(c.ended_ms, ended);
	assert_int_equal(flowgraph_call_duration(&c), duration);
}

static void
assert_ids(const char **got, size_t n, const char *const *want)
{
	size_t i;

	for (i = 0; want[i] != NULL; i++) {
		assert_true(i < n);
		assert_string_equal(got[i], want[i]);
	}
	assert_int_equal(n, i);
}

static void
assert_json(json_t *got, const char *want_text)
{
	json_t *want = json_loads(want_text, 0, NULL);
	char   *s;

	assert_non_null(want);
	assert_non_null(got);
	if (!json_equal(got, want)) {
		s = json_dumps(got, JSON_SORT_KEYS);
		fail_msg("got %s", s);
	}
	json_decref(want);
}

static void
test_statuses(void **state)
{
	struct flowgraph_calls *g = calls_new(16);

	(void)state;
	assert_int_equal(
	    flowgraph_calls_requested(g, "a", "/x/a", NULL, 100), 0);
	assert_call(g, "a", FLOWGRAPH_PENDING, 100, 0, -1);
	assert_int_equal(
	    flowgraph_calls_requested(g, "b", "/x/b", NULL, 101), 0);
	assert_int_equal(
	    flowgraph_calls_requested(g, "c", "/x/c", NULL, 102), 0);
	assert_int_equal(
	    flowgraph_calls_requested(g, "d", "/x/d", NULL, 103), 0);

	assert_int_equal(flowgraph_calls_responded(g, "a", 150), 0);
	assert_int_equal(flowgraph_calls_error(g, "b", 111), 0);
	assert_int_equal(flowgraph_calls_aborted(g, "c", 102), 0);
	assert_int_equal(flowgraph_calls_completed(g, "d", 203), 0);
	assert_call(g, "a", FLOWGRAPH_COMPLETED, 100, 150, 50);
	assert_call(g, "b", FLOWGRAPH_FAILED, 101, 111, 10);
	assert_call(g, "c", FLOWGRAPH_ABORTED, 102, 102, 0);
	assert_call(g, "d", FLOWGRAPH_COMPLETED, 103, 203, 100);

	/* A finished call takes no further event and keeps its status. */
	assert_int_equal(flowgraph_calls_responded(g, "a", 300), -EINVAL);
	assert_int_equal(flowgraph_calls_completed(g, "a", 300), -EINVAL);
	assert_int_equal(flowgraph_calls_error(g, "a", 300), -EINVAL);
	assert_int_equal(flowgraph_calls_aborted(g, "b", 300), -EINVAL);
	assert_int_equal(flowgraph_calls_responded(g, "c", 300), -EINVAL);
	assert_int_equal(flowgraph_calls_error(g, "d", 300), -EINVAL);
	assert_int_equal(
	    flowgraph_calls_requested(g, "a", "/x/a", NULL, 300), -EEXIST);
	assert_call(g, "a", FLOWGRAPH_COMPLETED, 100, 150, 50);
	assert_call(g, "b", FLOWGRAPH_FAILED, 101, 111, 10);
	assert_call(g, "c", FLOWGRAPH_ABORTED, 102, 102, 0);

	assert_int_equal(flowgraph_calls_responded(g, "zz", 300), -ENOENT);
	assert_int_equal(flowgraph_calls_count(g), 4);
	assert_string_equal(
	    flowgraph_status_name(FLOWGRAPH_ABORTED), "aborted");
	assert_null(flowgraph_status_name(FLOWGRAPH_NSTATUS));
	flowgraph_calls_free(g);
}

static void
test_requested_refused(void **state)
{
	struct flowgraph_calls *g = calls_new(4);
	char                    longid[FLOWGRAPH_ID_MAX + 2];

	(void)state;
	memset(longid, 'i', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	assert_int_equal(
	    flowgraph_calls_requested(g, longid, "/x", NULL, 1), -EINVAL);
	longid[FLOWGRAPH_ID_MAX] = '\0';
	assert_int_equal(
	    flowgraph_calls_requested(g, longid, "/x", NULL, 1), 0);

	assert_int_equal(
	    flowgraph_calls_requested(g, "", "/x", NULL, 1), -EINVAL);
	assert_int_equal(
	    flowgraph_calls_requested(g, "a\nb", "/x", NULL, 1), -EINVAL);
	assert_int_equal(
	    flowgraph_calls_requested(g, "caf\xc3\xa9", "/x", NULL, 1),
	    -EINVAL);
	assert_int_equal(
	    flowgraph_calls_requested(g, "a", NULL, NULL, 1), -EINVAL);
	assert_int_equal(
	    flowgraph_calls_requested(g, "a", "", NULL, 1), -EINVAL);
	assert_int_equal(
	    flowgraph_calls_requested(g, "a", "/x", "", 1), -EINVAL);
	assert_int_equal(
	    flowgraph_calls_requested(g, "a", "/x", "a", 1), -EINVAL);
	assert_int_equal(
	    flowgraph_calls_requested(g, "a", "/x", NULL, UINT64_MAX), -EINVAL);
	assert_int_equal(
	    flowgraph_calls_requested(g, longid, "/x", NULL, 1), -EEXIST);
	assert_int_equal(flowgraph_calls_count(g), 1);

	assert_int_equal(flowgraph_calls_new(0, &g), -EINVAL);
	flowgraph_calls_free(g);
	flowgraph_calls_free(NULL);
}

/*
 *	r -> a -> b        o (parent "gone", not in the graph)
 *	r -> c             s
 */
static struct flowgraph_calls *
family(void)
{
	struct flowgraph_calls *g = calls_new(16);

	assert_int_equal(
	    flowgraph_calls_requested(g, "r", "/t/r", NULL, 10), 0);
	assert_int_equal(flowgraph_calls_requested(g, "a", "/t/a", "r", 11), 0);
	assert_int_equal(
	    flowgraph_calls_requested(g, "o", "/t/o", "gone", 12), 0);
	assert_int_equal(flowgraph_calls_requested(g, "b", "/t/b", "a", 13), 0);
	assert_int_equal(flowgraph_calls_requested(g, "c", "/t/c", "r", 14), 0);
	assert_int_equal(
	    flowgraph_calls_requested(g, "s", "/t/s", NULL, 15), 0);
	assert_int_equal(flowgraph_calls_responded(g, "b", 20), 0);
	assert_int_equal(flowgraph_calls_error(g, "c", 25), 0);
	assert_int_equal(flowgraph_calls_set_error(g, "c", "NOT_FOUND"), 0);
	assert_int_equal(
	    flowgraph_calls_set_identity(g, "r", "SHA256:k/+="), 0);
	return g;
}

static void
test_edges_roots_lineage(void **state)
{
	struct flowgraph_calls *g = family();
	const char             *ids[8];
	size_t                  n;

	(void)state;
	n = flowgraph_calls_roots(g, ids, 8);
	assert_ids(ids, n, (const char *[]){"r", "o", "s", NULL});
	assert_int_equal(flowgraph_calls_roots(g, ids, 1), 3);
	assert_string_equal(ids[0], "r");

	assert_int_equal(flowgraph_calls_children(g, "r", ids, 8, &n), 0);
	assert_ids(ids, n, (const char *[]){"a", "c", NULL});
	assert_int_equal(flowgraph_calls_children(g, "b", ids, 8, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(flowgraph_calls_children(g, "x", ids, 8, &n), -ENOENT);

	assert_int_equal(flowgraph_calls_lineage(g, "b", ids, 8, &n), 0);
	assert_ids(ids, n, (const char *[]){"r", "a", "b", NULL});
	assert_int_equal(flowgraph_calls_lineage(g, "o", ids, 8, &n), 0);
	assert_ids(ids, n, (const char *[]){"o", NULL});
	assert_int_equal(flowgraph_calls_lineage(g, "b", ids, 2, &n), -ENOSPC);
	assert_int_equal(n, 3);
	assert_int_equal(flowgraph_calls_lineage(g, "x", ids, 8, &n), -ENOENT);

	/* The parent seen late adopts its child, which stops being a root. */
	assert_int_equal(
	    flowgraph_calls_requested(g, "gone", "/t/g", "s", 30), 0);
	n = flowgraph_calls_roots(g, ids, 8);
	assert_ids(ids, n, (const char *[]){"r", "s", NULL});
	assert_int_equal(flowgraph_calls_lineage(g, "o", ids, 8, &n), 0);
	assert_ids(ids, n, (const char *[]){"s", "gone", "o", NULL});

	/* q is p's parent, seen late: hanging q below p would loop. */
	assert_int_equal(flowgraph_calls_requested(g, "p", "/t/p", "q", 31), 0);
	assert_int_equal(
	    flowgraph_calls_requested(g, "q", "/t/q", "p", 32), -ELOOP);
	assert_int_equal(flowgraph_calls_count(g), 8);
	flowgraph_calls_free(g);
}

/* Notes on a call, and numbers that are never given twice. */
static void
test_notes_and_numbers(void **state)
{
	struct flowgraph_calls *g = calls_new(2);
	struct flowgraph_call   c;

	(void)state;
	assert_int_equal(flowgraph_calls_requested(g, "a", "/x", NULL, 1), 0);
	assert_int_equal(flowgraph_calls_requested(g, "b", "/x", NULL, 2), 0);
	assert_int_equal(flowgraph_calls_get(g, "a", &c), 0);
	assert_null(c.identity);
	assert_null(c.error);
	assert_int_equal(c.seq, 1);

	assert_int_equal(flowgraph_calls_set_identity(g, "a", "local:root"), 0);
	assert_int_equal(flowgraph_calls_set_identity(g, "a", "SHA256:x"), 0);
	assert_int_equal(flowgraph_calls_set_identity(g, "a", ""), -EINVAL);
	assert_int_equal(flowgraph_calls_set_identity(g, "a", NULL), -EINVAL);
	assert_int_equal(flowgraph_calls_set_identity(g, "z", "k"), -ENOENT);
	assert_int_equal(flowgraph_calls_set_error(g, "a", "TIMEOUT"), -EINVAL);
	assert_int_equal(flowgraph_calls_error(g, "a", 3), 0);
	assert_int_equal(
	    flowgraph_calls_set_error(g, "a", "bad\tcode"), -EINVAL);
	assert_int_equal(flowgraph_calls_set_error(g, "a", "TIMEOUT"), 0);
	assert_int_equal(flowgraph_calls_get(g, "a", &c), 0);
	assert_string_equal(c.identity, "SHA256:x");
	assert_string_equal(c.error, "TIMEOUT");

	/* a is dropped for c; an "a" again is a new call, numbered 4. */
	assert_int_equal(flowgraph_calls_requested(g, "c", "/x", NULL, 4), 0);
	assert_int_equal(flowgraph_calls_responded(g, "c", 5), 0);
	assert_int_equal(flowgraph_calls_requested(g, "a", "/x", NULL, 6), 0);
	assert_int_equal(flowgraph_calls_seq(g, 1, &c), -ENOENT);
	assert_int_equal(flowgraph_calls_seq(g, 3, &c), -ENOENT);
	assert_int_equal(flowgraph_calls_seq(g, 2, &c), 0);
	assert_string_equal(c.id, "b");
	assert_int_equal(flowgraph_calls_seq(g, 4, &c), 0);
	assert_string_equal(c.id, "a");
	assert_null(c.identity);
	assert_int_equal(flowgraph_calls_seq(g, 0, &c), -ENOENT);
	assert_int_equal(flowgraph_calls_seq(NULL, 2, &c), -ENOENT);
	flowgraph_calls_free(g);
}

/* Many calls through a small graph, against a plain model of what it
 * keeps: the ring, the index and the numbers agree with it throughout. */
#define MODEL_MAX 5

struct model {
	char     id[MODEL_MAX + 1][16];
	int      pending[MODEL_MAX + 1];
	uint64_t seq[MODEL_MAX + 1];
	size_t   n;
};

static void
model_check(struct flowgraph_calls *g, const struct model *m)
{
	struct flowgraph_call c;
	size_t                i;

	assert_int_equal(flowgraph_calls_count(g), m->n);
	for (i = 0; i < m->n; i++) {
		assert_int_equal(flowgraph_calls_at(g, i, &c), 0);
		assert_string_equal(c.id, m->id[i]);
		assert_int_equal(c.seq, m->seq[i]);
		assert_int_equal(c.status == FLOWGRAPH_PENDING, m->pending[i]);
		assert_int_equal(flowgraph_calls_get(g, m->id[i], &c), 0);
		assert_int_equal(c.seq, m->seq[i]);
		assert_int_equal(flowgraph_calls_seq(g, m->seq[i], &c), 0);
		assert_string_equal(c.id, m->id[i]);
	}
}

/* The model's request: the oldest finished call goes at the bound. */
static int
model_request(struct model *m, const char *id, uint64_t seq)
{
	size_t i;

	if (m->n == MODEL_MAX) {
		for (i = 0; i < m->n && m->pending[i]; i++)
			;
		if (i == m->n)
			return -ENOSPC;
		memmove(
		    &m->id[i], &m->id[i + 1], (m->n - i - 1) * sizeof m->id[0]);
		memmove(&m->pending[i], &m->pending[i + 1],
		    (m->n - i - 1) * sizeof m->pending[0]);
		memmove(&m->seq[i], &m->seq[i + 1],
		    (m->n - i - 1) * sizeof m->seq[0]);
		m->n--;
	}
	snprintf(m->id[m->n], sizeof m->id[0], "%s", id);
	m->pending[m->n] = 1;
	m->seq[m->n++] = seq;
	return 0;
}

static void
test_many(void **state)
{
	struct flowgraph_calls *g = calls_new(MODEL_MAX);
	struct model            m = {0};
	uint32_t                x = 12345;
	uint64_t                seq = 0;
	char                    id[16];
	size_t                  i, k;
	int                     rc;

	(void)state;
	for (i = 0; i < 2000; i++) {
		x = x * 1103515245 + 12345;
		if ((x >> 16) % 3 != 0) {
			/* Ids come back after their calls are dropped. */
			snprintf(id, sizeof id, "c%u", (x >> 8) % 40);
			if (flowgraph_calls_get(
			        g, id, &(struct flowgraph_call){0}) == 0)
				continue;
			rc = model_request(&m, id, seq + 1);
			assert_int_equal(
			    flowgraph_calls_requested(g, id, "/x", NULL, i),
			    rc);
			seq += rc == 0;
		} else if (m.n > 0) {
			k = (x >> 4) % m.n;
			rc = m.pending[k] ? 0 : -EINVAL;
			assert_int_equal(
			    flowgraph_calls_responded(g, m.id[k], i), rc);
			m.pending[k] = 0;
		}
		model_check(g, &m);
	}
	flowgraph_calls_free(g);
}

static const char family_json[] =
    "{\"calls\": ["
    "{\"request_id\": \"r\", \"operation\": \"/t/r\","
    " \"parent_request_id\": null, \"identity\": \"SHA256:k/+=\","
    " \"error\": null, \"status\": \"pending\","
    " \"started_ms\": 10, \"ended_ms\": null, \"duration_ms\": null},"
    "{\"request_id\": \"a\", \"operation\": \"/t/a\","
    " \"parent_request_id\": \"r\", \"identity\": null, \"error\": null,"
    " \"status\": \"pending\","
    " \"started_ms\": 11, \"ended_ms\": null, \"duration_ms\": null},"
    "{\"request_id\": \"o\", \"operation\": \"/t/o\","
    " \"parent_request_id\": \"gone\", \"identity\": null, \"error\": null,"
    " \"status\": \"pending\","
    " \"started_ms\": 12, \"ended_ms\": null, \"duration_ms\": null},"
    "{\"request_id\": \"b\", \"operation\": \"/t/b\","
    " \"parent_request_id\": \"a\", \"identity\": null, \"error\": null,"
    " \"status\": \"completed\","
    " \"started_ms\": 13, \"ended_ms\": 20, \"duration_ms\": 7},"
    "{\"request_id\": \"c\", \"operation\": \"/t/c\","
    " \"parent_request_id\": \"r\", \"identity\": null,"
    " \"error\": \"NOT_FOUND\", \"status\": \"failed\","
    " \"started_ms\": 14, \"ended_ms\": 25, \"duration_ms\": 11},"
    "{\"request_id\": \"s\", \"operation\": \"/t/s\","
    " \"parent_request_id\": null, \"identity\": null, \"error\": null,"
    " \"status\": \"pending\","
    " \"started_ms\": 15, \"ended_ms\": null, \"duration_ms\": null}],"
    " \"edges\": ["
    "{\"from\": \"r\", \"to\": \"a\", \"type\": \"triggered\"},"
    "{\"from\": \"a\", \"to\": \"b\", \"type\": \"triggered\"},"
    "{\"from\": \"r\", \"to\": \"c\", \"type\": \"triggered\"}]}";

static void
assert_same_calls(struct flowgraph_calls *x, struct flowgraph_calls *y)
{
	struct flowgraph_call a, b;
	size_t                i;

	assert_int_equal(flowgraph_calls_count(x), flowgraph_calls_count(y));
	for (i = 0; i < flowgraph_calls_count(x); i++) {
		assert_int_equal(flowgraph_calls_at(x, i, &a), 0);
		assert_int_equal(flowgraph_calls_at(y, i, &b), 0);
		assert_string_equal(a.id, b.id);
		assert_string_equal(a.op, b.op);
		assert_true((a.parent == NULL) == (b.parent == NULL));
		if (a.parent != NULL)
			assert_string_equal(a.parent, b.parent);
		assert_true((a.identity == NULL) == (b.identity == NULL));
		if (a.identity != NULL)
			assert_string_equal(a.identity, b.identity);
		assert_true((a.error == NULL) == (b.error == NULL));
		if (a.error != NULL)
			assert_string_equal(a.error, b.error);
		assert_int_equal(a.seq, b.seq);
		assert_int_equal(a.status, b.status);
		assert_int_equal(a.started_ms, b.started_ms);
		assert_int_equal(a.ended_ms, b.ended_ms);
	}
	assert_int_equal(flowgraph_calls_at(x, i, &a), -ENOENT);
}

static void
test_json_round_trip(void **state)
{
	struct flowgraph_calls *g = family(), *back = NULL;
	json_t                 *doc, *again, *reread;
	char                   *text, err[128] = "";

	(void)state;
	doc = flowgraph_calls_json(g);
	assert_json(doc, family_json);

	/* Through text, as calls.json is read back. */
	text = json_dumps(doc, 0);
	reread = json_loads(text, 0, NULL);
	assert_int_equal(
	    flowgraph_calls_parse(reread, 16, &back, err, sizeof err), 0);
	assert_same_calls(g, back);
	again = flowgraph_calls_json(back);
	assert_true(json_equal(doc, again));

	free(text);
	json_decref(reread);
	json_decref(again);
	json_decref(doc);
	flowgraph_calls_free(back);
	flowgraph_calls_free(g);
}

/* family_json with one substring replaced, parsed. */
static int
parse_edited(const char *from, const char *to, size_t max, char *err)
{
	struct flowgraph_calls *g = NULL;
	char                    text[sizeof family_json + 256];
	const char             *at = strstr(family_json, from);
	json_t                 *doc;
	int                     rc;

	assert_non_null(at);
	snprintf(text, sizeof text, "%.*s%s%s", (int)(at - family_json),
	    family_json, to, at + strlen(from));
	doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	err[0] = '\0';
	rc = flowgraph_calls_parse(doc, max, &g, err, 128);
	json_decref(doc);
	if (rc == 0)
		flowgraph_calls_free(g);
	else
		assert_null(g);
	return rc;
}

static void
test_parse_refused(void **state)
{
	char err[128];

	(void)state;
	assert_int_equal(parse_edited("\"s\"", "\"s\"", 16, err), 0);
	assert_int_equal(
	    parse_edited("\"failed\"", "\"running\"", 16, err), -EINVAL);
	assert_string_equal(err, "calls[4]: unknown status");
	assert_int_equal(
	    parse_edited("\"duration_ms\": 7", "\"duration_ms\": 8", 16, err),
	    -EINVAL);
	assert_string_equal(err, "calls[3]: bad duration_ms");
	assert_int_equal(parse_edited("\"started_ms\": 15, \"ended_ms\": null",
	                     "\"started_ms\": 15, \"ended_ms\": 16", 16, err),
	    -EINVAL);
	assert_string_equal(err, "calls[5]: times of a pending call");
	assert_int_equal(parse_edited("\"request_id\": \"s\"",
	                     "\"request_id\": \"a\"", 16, err),
	    -EINVAL);
	assert_string_equal(err, "calls[5]: bad or repeated id");
	assert_int_equal(parse_edited("\"operation\": \"/t/s\"",
	                     "\"operation\": \"/t/s\", \"extra\": 1", 16, err),
	    -EINVAL);
	assert_int_equal(
	    parse_edited("\"to\": \"c\"", "\"to\": \"s\"", 16, err), -EINVAL);
	assert_string_equal(err, "edges do not follow from the parents");
	assert_int_equal(
	    parse_edited("\"started_ms\": 10", "\"started_ms\": -1", 16, err),
	    -EINVAL);
	assert_string_equal(err, "calls[0]: negative started_ms");

	/* Who made a call and why it failed may be left out, but not be
	 * something else, and only a failed call has an error. */
	assert_int_equal(parse_edited("\"identity\": null, \"error\": null, "
	                              "\"status\": \"completed\"",
	                     "\"status\": \"completed\"", 16, err),
	    0);
	assert_int_equal(parse_edited("\"error\": null, "
	                              "\"status\": \"completed\"",
	                     "\"error\": \"TIMEOUT\", "
	                     "\"status\": \"completed\"",
	                     16, err),
	    -EINVAL);
	assert_string_equal(
	    err, "calls[3]: an error on a call that did not fail");
	assert_int_equal(
	    parse_edited("\"SHA256:k/+=\"", "7", 16, err), -EINVAL);
	assert_string_equal(
	    err, "calls[0]: a parent, identity or error not a string");
	assert_int_equal(
	    parse_edited("\"SHA256:k/+=\"", "\"a\\nb\"", 16, err), -EINVAL);
	assert_string_equal(err, "calls[0]: bad or repeated id");

	/* r below b, which is below a, below r. */
	assert_int_equal(parse_edited("\"parent_request_id\": null, "
	                              "\"identity\": \"SHA256",
	                     "\"parent_request_id\": \"b\", "
	                     "\"identity\": \"SHA256",
	                     16, err),
	    -ELOOP);
	assert_string_equal(err, "calls[3]: parents form a cycle");

	assert_int_equal(parse_edited("\"s\"", "\"s\"", 5, err), -ENOSPC);
	assert_string_equal(err, "more than 5 calls");
}

static void
test_call_json(void **state)
{
	struct flowgraph_calls *g = family();
	json_t                 *j;

	(void)state;
	j = flowgraph_calls_call_json(g, "a");
	assert_json(j,
	    "{\"request_id\": \"a\", \"operation\": \"/t/a\","
	    " \"parent_request_id\": \"r\", \"identity\": null,"
	    " \"error\": null, \"status\": \"pending\","
	    " \"started_ms\": 11, \"ended_ms\": null, \"duration_ms\": null,"
	    " \"children\": [\"b\"], \"lineage\": [\"r\", \"a\"]}");
	json_decref(j);
	j = flowgraph_calls_call_json(g, "c");
	assert_json(j,
	    "{\"request_id\": \"c\", \"operation\": \"/t/c\","
	    " \"parent_request_id\": \"r\", \"identity\": null,"
	    " \"error\": \"NOT_FOUND\", \"status\": \"failed\","
	    " \"started_ms\": 14, \"ended_ms\": 25, \"duration_ms\": 11,"
	    " \"children\": [], \"lineage\": [\"r\", \"c\"]}");
	json_decref(j);
	assert_null(flowgraph_calls_call_json(g, "nope"));
	flowgraph_calls_free(g);
}

static void
test_bounds(void **state)
{
	struct flowgraph_calls *g = calls_new(3);
	struct flowgraph_call   c;
	const char             *ids[4];
	size_t                  n;

	(void)state;
	assert_int_equal(flowgraph_calls_requested(g, "p1", "/x", NULL, 1), 0);
	assert_int_equal(flowgraph_calls_requested(g, "f1", "/x", NULL, 2), 0);
	assert_int_equal(flowgraph_calls_requested(g, "k1", "/x", "f1", 3), 0);
	assert_int_equal(
	    flowgraph_calls_requested(g, "x", "/x", NULL, 4), -ENOSPC);
	assert_int_equal(flowgraph_calls_count(g), 3);

	/* The oldest finished call goes, not the older pending one. */
	assert_int_equal(flowgraph_calls_responded(g, "k1", 5), 0);
	assert_int_equal(flowgraph_calls_responded(g, "f1", 6), 0);
	assert_int_equal(flowgraph_calls_requested(g, "n1", "/x", NULL, 7), 0);
	assert_int_equal(flowgraph_calls_count(g), 3);
	assert_int_equal(flowgraph_calls_get(g, "f1", &c), -ENOENT);
	assert_int_equal(flowgraph_calls_at(g, 0, &c), 0);
	assert_string_equal(c.id, "p1");
	assert_int_equal(flowgraph_calls_at(g, 1, &c), 0);
	assert_string_equal(c.id, "k1");
	assert_int_equal(flowgraph_calls_at(g, 2, &c), 0);
	assert_string_equal(c.id, "n1");

	/* Its child, whose parent is gone, is a root now. */
	n = flowgraph_calls_roots(g, ids, 4);
	assert_ids(ids, n, (const char *[]){"p1", "k1", "n1", NULL});

	assert_int_equal(flowgraph_calls_requested(g, "n2", "/x", NULL, 8), 0);
	assert_int_equal(flowgraph_calls_get(g, "k1", &c), -ENOENT);
	assert_int_equal(
	    flowgraph_calls_requested(g, "n3", "/x", NULL, 9), -ENOSPC);
	assert_int_equal(flowgraph_calls_count(g), 3);
	flowgraph_calls_free(g);
}

/* Schemas by text, for brevity. */
static json_t *
js(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	assert_non_null(j);
	return j;
}

static int
feeds(const char *out, const char *in)
{
	json_t *o = out != NULL ? js(out) : NULL,
	       *i = in != NULL ? js(in) : NULL;
	int rc = flowgraph_schema_feeds(o, i);

	json_decref(o);
	json_decref(i);
	return rc;
}

#define OBJ(props, req)                                                        \
	"{\"type\": \"object\", \"properties\": {" props "},"                  \
	" \"required\": [" req "]}"
#define X_STRING "\"x\": {\"type\": \"string\"}"

static void
test_schema_feeds(void **state)
{
	(void)state;
	assert_int_equal(
	    feeds(OBJ(X_STRING, "\"x\""), OBJ(X_STRING, "\"x\"")), 1);
	assert_int_equal(feeds(OBJ("\"x\": {\"type\": \"integer\"}", "\"x\""),
	                     OBJ(X_STRING, "\"x\"")),
	    0);
	/* Extra fields in the output are fine. */
	assert_int_equal(feeds(OBJ(X_STRING ", \"y\": {\"type\": \"boolean\"}",
	                           "\"x\", \"y\""),
	                     OBJ(X_STRING, "\"x\"")),
	    1);
	assert_int_equal(feeds(OBJ("\"x\": {\"type\": \"integer\"}", "\"x\""),
	                     OBJ("\"x\": {\"type\": \"number\"}", "\"x\"")),
	    1);
	assert_int_equal(feeds(OBJ("\"x\": {\"type\": \"number\"}", "\"x\""),
	                     OBJ("\"x\": {\"type\": \"integer\"}", "\"x\"")),
	    0);
	assert_int_equal(
	    feeds(OBJ("\"x\": {\"type\": \"string\"}", "\"x\""),
	        OBJ("\"x\": {\"type\": [\"string\", \"null\"]}", "\"x\"")),
	    1);
	assert_int_equal(
	    feeds(OBJ("\"x\": {\"type\": [\"string\", \"null\"]}", "\"x\""),
	        OBJ(X_STRING, "\"x\"")),
	    0);
	/* The output must promise x, and the input must ask for something. */
	assert_int_equal(feeds(OBJ(X_STRING, ""), OBJ(X_STRING, "\"x\"")), 0);
	assert_int_equal(feeds(OBJ(X_STRING, "\"x\""), OBJ(X_STRING, "")), 0);
	assert_int_equal(feeds(OBJ(X_STRING, "\"x\""),
	                     OBJ(X_STRING ", \"z\": {\"type\": \"string\"}",
	                         "\"x\", \"z\"")),
	    0);
	/* A property without a type, or a schema unknown, feeds nothing. */
	assert_int_equal(
	    feeds(OBJ("\"x\": {}", "\"x\""), OBJ(X_STRING, "\"x\"")), 0);
	assert_int_equal(feeds("true", OBJ(X_STRING, "\"x\"")), 0);
	assert_int_equal(feeds(NULL, OBJ(X_STRING, "\"x\"")), 0);
	assert_int_equal(feeds(OBJ(X_STRING, "\"x\""), NULL), 0);
	assert_int_equal(
	    feeds("{\"type\": \"string\"}", "{\"type\": \"string\"}"), 0);
}

static struct flowgraph_ops *
ops_new(const struct flowgraph_op *specs, size_t n)
{
	struct flowgraph_ops *g = NULL;
	char                  err[128] = "";

	if (flowgraph_ops_new(specs, n, &g, err, sizeof err) != 0)
		fail_msg("flowgraph_ops_new: %s", err);
	return g;
}

static void
test_ops_graph(void **state)
{
	json_t *xs = js(OBJ(X_STRING, "\"x\""));
	json_t *xi = js(OBJ("\"x\": {\"type\": \"integer\"}", "\"x\""));
	struct flowgraph_op specs[] = {
	    {"/t/make", NULL, xs},
	    {"/t/take", xs, NULL},
	    {"/t/count", xi, NULL},
	    {"/t/echo", xs, xs},
	};
	struct flowgraph_ops *g = ops_new(specs, 4);
	json_t               *j;

	(void)state;
	assert_int_equal(flowgraph_ops_count(g), 4);
	assert_int_equal(flowgraph_ops_compatible(g, "/t/make", "/t/take"), 1);
	assert_int_equal(flowgraph_ops_compatible(g, "/t/make", "/t/count"), 0);
	assert_int_equal(flowgraph_ops_compatible(g, "/t/take", "/t/make"), 0);
	assert_int_equal(flowgraph_ops_compatible(g, "/t/echo", "/t/echo"), 0);
	assert_int_equal(
	    flowgraph_ops_compatible(g, "/t/nope", "/t/take"), -ENOENT);
	assert_int_equal(flowgraph_ops_edge_count(g), 3);

	j = flowgraph_ops_json(g);
	assert_json(json_object_get(j, "edges"),
	    "[{\"from\": \"/t/make\", \"to\": \"/t/take\", \"type\": \"typed\"},"
	    " {\"from\": \"/t/make\", \"to\": \"/t/echo\", \"type\": \"typed\"},"
	    " {\"from\": \"/t/echo\", \"to\": \"/t/take\", \"type\": "
	    "\"typed\"}]");
	assert_true(json_is_true(
	    json_object_get(json_array_get(json_object_get(j, "operations"), 0),
	        "input_schema")));
	assert_true(json_equal(
	    json_object_get(json_array_get(json_object_get(j, "operations"), 0),
	        "output_schema"),
	    xs));
	json_decref(j);
	flowgraph_ops_free(g);
	json_decref(xs);
	json_decref(xi);
}

static void
test_ops_cycle(void **state)
{
	json_t *xs = js(OBJ(X_STRING, "\"x\""));
	json_t *ys = js(OBJ("\"y\": {\"type\": \"string\"}", "\"y\""));
	struct flowgraph_op specs[] = {
	    {"/t/start", NULL, xs},
	    {"/t/ping", xs, ys},
	    {"/t/pong", ys, xs},
	    {"/t/end", ys, NULL},
	};
	struct flowgraph_ops *g = NULL;
	char                  err[128] = "";

	(void)state;
	assert_int_equal(
	    flowgraph_ops_new(specs, 4, &g, err, sizeof err), -ELOOP);
	assert_null(g);
	assert_string_equal(err, "cycle through /t/ping");

	/* Without pong the same specs are a chain. */
	specs[2].name = "/t/end";
	assert_int_equal(
	    flowgraph_ops_new(specs, 4, &g, err, sizeof err), -EINVAL);
	assert_string_equal(err, "specs[3]: repeated name");
	specs[2].name = "bad\tname";
	assert_int_equal(
	    flowgraph_ops_new(specs, 4, &g, err, sizeof err), -EINVAL);
	assert_string_equal(err, "specs[2]: bad name");
	g = ops_new(specs, 2);
	assert_int_equal(flowgraph_ops_compatible(g, "/t/start", "/t/ping"), 1);
	flowgraph_ops_free(g);
	flowgraph_ops_free(NULL);
	json_decref(xs);
	json_decref(ys);
}

static void
never_called(struct registry_call *call, json_t *input, void *arg)
{
	(void)input;
	(void)arg;
	registry_call_fail(call, REPLY_INTERNAL, 0, "not for calling");
}

static void
test_ops_from_registry(void **state)
{
	json_t              *xs = js(OBJ(X_STRING, "\"x\""));
	struct registry_spec make = {
	    .name = "/t/make", .output = xs, .is_public = 1};
	struct registry_spec take = {
	    .name = "/t/take", .input = xs, .is_public = 1};
	struct registry      *r = NULL;
	struct flowgraph_ops *g = NULL;

	(void)state;
	assert_int_equal(registry_new(8, 8, &r), 0);
	assert_int_equal(
	    registry_register(r, &make, never_called, NULL, NULL, 0), 0);
	assert_int_equal(
	    registry_register(r, &take, never_called, NULL, NULL, 0), 0);
	assert_int_equal(flowgraph_ops_from_registry(r, &g, NULL, 0), 0);

	/* The two discovery operations are there too. */
	assert_int_equal(flowgraph_ops_count(g), 4);
	assert_int_equal(flowgraph_ops_compatible(g, "/t/make", "/t/take"), 1);
	assert_int_equal(flowgraph_ops_compatible(g, "/t/take", "/t/make"), 0);
	assert_int_equal(
	    flowgraph_ops_compatible(g, "/services/list", "/t/take"), 0);
	flowgraph_ops_free(g);
	registry_free(r);
	json_decref(xs);
}

static void
test_calls_dot_text(void **state)
{
	struct flowgraph_calls *g = calls_new(4);
	char                   *dot;

	(void)state;
	assert_int_equal(flowgraph_calls_requested(g, "r", "/t/r", NULL, 1), 0);
	assert_int_equal(
	    flowgraph_calls_requested(g, "q\"\\N", "/t/q", "r", 2), 0);
	assert_int_equal(flowgraph_calls_error(g, "q\"\\N", 3), 0);
	assert_int_equal(flowgraph_calls_set_error(g, "q\"\\N", "E\"X"), 0);
	dot = flowgraph_calls_dot(g);
	assert_string_equal(dot,
	    "digraph calls {\n"
	    "\tnode [shape=box, style=filled];\n"
	    "\tc0 [label=\"r\\n/t/r\\npending\", fillcolor=\"white\"];\n"
	    "\tc1 [label=\"q\\\"\\\\N\\n/t/q\\nfailed E\\\"X\", "
	    "fillcolor=\"lightpink\"];\n"
	    "\tc0 -> c1 [label=\"triggered\"];\n"
	    "}\n");
	free(dot);
	flowgraph_calls_free(g);
}

/*
 * Runs dot -Tsvg over text; returns its exit status and the SVG in svg
 * (len bytes).  Skips the test when Graphviz is not installed.
 */
static int
render(const char *text, char *svg, size_t len)
{
	char   path[] = "/tmp/test_flowgraph_XXXXXX", cmd[128];
	FILE  *p;
	size_t n;
	int    fd, status;

	if (access("/usr/bin/dot", X_OK) != 0)
		skip();
	assert_true((fd = mkstemp(path)) >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);

	snprintf(cmd, sizeof cmd, "/usr/bin/dot -Tsvg %s 2>&1", path);
	assert_non_null(p = popen(cmd, "r"));
	n = fread(svg, 1, len - 1, p);
	svg[n] = '\0';
	status = pclose(p);
	unlink(path);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void
test_dot_renders(void **state)
{
	struct flowgraph_calls *g = calls_new(8);
	struct flowgraph_ops   *ops;
	json_t                 *xs = js(OBJ(X_STRING, "\"x\""));
	struct flowgraph_op     specs[] = {
	        {"/t/make", NULL, xs},
	        {"/t/\"take\\", xs, NULL},
        };
	static char svg[1 << 16];
	char        nasty[FLOWGRAPH_ID_MAX + 1];
	char       *dot;

	(void)state;
	/* Peer ids with quotes, backslashes, escapes and length. */
	memset(nasty, '\\', FLOWGRAPH_ID_MAX);
	nasty[FLOWGRAPH_ID_MAX] = '\0';
	nasty[0] = '"';
	assert_int_equal(flowgraph_calls_requested(g, "r", "/t/r", NULL, 1), 0);
	assert_int_equal(
	    flowgraph_calls_requested(g, "\"];x->y[", "/t/a", "r", 2), 0);
	assert_int_equal(
	    flowgraph_calls_requested(g, "end\\", "/t/b", "r", 3), 0);
	assert_int_equal(
	    flowgraph_calls_requested(g, nasty, "/t/c", "end\\", 4), 0);
	assert_int_equal(flowgraph_calls_aborted(g, nasty, 5), 0);
	assert_int_equal(flowgraph_calls_responded(g, "end\\", 6), 0);

	dot = flowgraph_calls_dot(g);
	assert_int_equal(render(dot, svg, sizeof svg), 0);
	assert_non_null(strstr(svg, "&quot;];x&#45;&gt;y["));
	assert_non_null(strstr(svg, ">end\\</text>"));
	assert_non_null(strstr(svg, "\\\\\\\\...</text>"));
	assert_non_null(strstr(svg, ">aborted</text>"));
	/* Three triggered edges and no node made of the injected text. */
	assert_null(strstr(svg, "<title>x</title>"));
	assert_int_equal(strstr(svg, "c0&#45;&gt;c1") != NULL, 1);
	assert_int_equal(strstr(svg, "c2&#45;&gt;c3") != NULL, 1);
	free(dot);

	ops = ops_new(specs, 2);
	dot = flowgraph_ops_dot(ops);
	assert_string_equal(dot,
	    "digraph ops {\n\trankdir=LR;\n\tnode [shape=box];\n"
	    "\to0 [label=\"/t/make\"];\n"
	    "\to1 [label=\"/t/\\\"take\\\\\"];\n"
	    "\to0 -> o1 [label=\"typed\"];\n"
	    "}\n");
	assert_int_equal(render(dot, svg, sizeof svg), 0);
	assert_non_null(strstr(svg, ">/t/&quot;take\\</text>"));
	free(dot);

	flowgraph_ops_free(ops);
	flowgraph_calls_free(g);
	json_decref(xs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_statuses),
	    cmocka_unit_test(test_requested_refused),
	    cmocka_unit_test(test_edges_roots_lineage),
	    cmocka_unit_test(test_notes_and_numbers),
	    cmocka_unit_test(test_json_round_trip),
	    cmocka_unit_test(test_parse_refused),
	    cmocka_unit_test(test_call_json),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_many),
	    cmocka_unit_test(test_schema_feeds),
	    cmocka_unit_test(test_ops_graph),
	    cmocka_unit_test(test_ops_cycle),
	    cmocka_unit_test(test_ops_from_registry),
	    cmocka_unit_test(test_calls_dot_text),
	    cmocka_unit_test(test_dot_renders),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
