/*
 * The call graph, and what both graphs share.
 *
 * Calls are kept in a ring in order of request, which is the order of
 * every listing, of their numbers, and in which finished calls are
 * dropped (most often the oldest, at the ring's head).  A call's parent
 * is found by its id each time it is needed rather than linked, so
 * dropping a call or meeting a parent late needs no fixing up; an index
 * (flowgraph_index.c) gives an id's number, and a binary search the
 * number's place.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowgraph.h"

#define FLOWGRAPH_ERR_MAX 256 /* bytes of a reason before its prefix */

struct flowgraph_node {
	char                 *id;
	char                 *op;
	char                 *parent;   /* NULL: none */
	char                 *identity; /* NULL: not noted */
	char                 *error;    /* NULL: not noted */
	enum flowgraph_status status;
	uint64_t              seq;
	uint64_t              started_ms;
	uint64_t              ended_ms;
};

struct flowgraph_calls {
	struct flowgraph_node   *nodes; /* a ring of cap */
	size_t                   head;  /* the oldest request */
	size_t                   n;
	size_t                   cap;
	size_t                   max;
	uint64_t                 seq; /* of the last call added */
	struct flowgraph__index *index;
};

/* Fill colours of the statuses in DOT. */
static const struct {
	const char *name;
	const char *colour;
} flowgraph_statuses[FLOWGRAPH_NSTATUS] = {
    [FLOWGRAPH_PENDING] = {"pending", "white"},
    [FLOWGRAPH_COMPLETED] = {"completed", "palegreen"},
    [FLOWGRAPH_FAILED] = {"failed", "lightpink"},
    [FLOWGRAPH_ABORTED] = {"aborted", "lightgrey"},
};

int
flowgraph__fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return rc;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

const char *
flowgraph_status_name(enum flowgraph_status status)
{
	if ((unsigned)status >= FLOWGRAPH_NSTATUS)
		return NULL;
	return flowgraph_statuses[status].name;
}

static int
flowgraph_status_parse(const char *name, enum flowgraph_status *out)
{
	size_t i;

	for (i = 0; i < FLOWGRAPH_NSTATUS; i++) {
		if (strcmp(flowgraph_statuses[i].name, name) == 0) {
			*out = (enum flowgraph_status)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* Printable ASCII, so that every id is valid UTF-8 for JSON and needs
 * escaping only for its quotes and backslashes in DOT. */
int
flowgraph__valid_id(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= FLOWGRAPH_ID_MAX || s[i] < ' ' || s[i] > '~')
			return 0;
	}
	return 1;
}

/* Times go out as JSON integers, which are signed. */
static int
flowgraph_valid_time(uint64_t ms)
{
	return ms <= INT64_MAX;
}

/*
 * Calls
 */

static void
flowgraph_node_clear(struct flowgraph_node *node)
{
	free(node->id);
	free(node->op);
	free(node->parent);
	free(node->identity);
	free(node->error);
	memset(node, 0, sizeof *node);
}

int
flowgraph_calls_new(size_t max_calls, struct flowgraph_calls **out)
{
	struct flowgraph_calls *g;

	if (max_calls == 0 || out == NULL)
		return -EINVAL;
	if ((g = calloc(1, sizeof *g)) == NULL)
		return -ENOMEM;
	if (flowgraph__index_new(&g->index) < 0) {
		free(g);
		return -ENOMEM;
	}
	g->max = max_calls;
	*out = g;
	return 0;
}

/* The i-th call kept (i under n), oldest request first. */
static struct flowgraph_node *
flowgraph_at(const struct flowgraph_calls *g, size_t i)
{
	return &g->nodes[(g->head + i) % g->cap];
}

/* Where node is in order of request. */
static size_t
flowgraph_place(
    const struct flowgraph_calls *g, const struct flowgraph_node *node)
{
	return ((size_t)(node - g->nodes) + g->cap - g->head) % g->cap;
}

void
flowgraph_calls_free(struct flowgraph_calls *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++)
		flowgraph_node_clear(flowgraph_at(g, i));
	free(g->nodes);
	flowgraph__index_free(g->index);
	free(g);
}

/* The call numbered seq: numbers grow in the array's order. */
static struct flowgraph_node *
flowgraph_calls_numbered(const struct flowgraph_calls *g, uint64_t seq)
{
	size_t lo = 0, hi = g->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (flowgraph_at(g, mid)->seq == seq)
			return flowgraph_at(g, mid);
		if (flowgraph_at(g, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static struct flowgraph_node *
flowgraph_calls_find(const struct flowgraph_calls *g, const char *id)
{
	uint64_t seq;

	if (flowgraph__index_get(g->index, id, &seq) < 0)
		return NULL;
	return flowgraph_calls_numbered(g, seq);
}

/* The parent of node when the graph holds it. */
static struct flowgraph_node *
flowgraph_calls_parent(
    const struct flowgraph_calls *g, const struct flowgraph_node *node)
{
	if (node->parent == NULL)
		return NULL;
	return flowgraph_calls_find(g, node->parent);
}

/*
 * 1 when a call id hanging from parent would close a cycle: some
 * ancestor of parent, itself included, names id as its parent.  The
 * walk is bounded by the number of calls in case the graph already
 * holds a cycle (only a parse in progress can).
 */
static int
flowgraph_calls_closes_cycle(
    const struct flowgraph_calls *g, const char *id, const char *parent)
{
	struct flowgraph_node *cur = flowgraph_calls_find(g, parent);
	size_t                 steps;

	for (steps = 0; cur != NULL && steps <= g->n; steps++) {
		if (cur->parent != NULL && strcmp(cur->parent, id) == 0)
			return 1;
		cur = flowgraph_calls_parent(g, cur);
	}
	return cur != NULL;
}

/* Drops the oldest finished call.  Returns 0 or -ENOSPC. */
static int
flowgraph_calls_evict(struct flowgraph_calls *g)
{
	size_t i;

	for (i = 0; i < g->n; i++) {
		if (flowgraph_at(g, i)->status != FLOWGRAPH_PENDING)
			break;
	}
	if (i == g->n)
		return -ENOSPC;

	flowgraph__index_del(g->index, flowgraph_at(g, i)->id);
	flowgraph_node_clear(flowgraph_at(g, i));

	/* The older calls close the gap: usually there are none. */
	for (; i > 0; i--)
		*flowgraph_at(g, i) = *flowgraph_at(g, i - 1);
	g->head = (g->head + 1) % g->cap;
	g->n--;
	return 0;
}

/* Room for one more call, dropping a finished one at the bound. */
static int
flowgraph_calls_make_room(struct flowgraph_calls *g)
{
	struct flowgraph_node *nodes;
	size_t                 cap, i;

	if (g->n == g->max)
		return flowgraph_calls_evict(g);
	if (g->n < g->cap)
		return 0;

	cap = g->cap == 0 ? 16 : g->cap * 2;
	if (cap > g->max)
		cap = g->max;
	if ((nodes = reallocarray(NULL, cap, sizeof *nodes)) == NULL)
		return -ENOMEM;
	for (i = 0; i < g->n; i++)
		nodes[i] = *flowgraph_at(g, i);
	free(g->nodes);
	g->nodes = nodes;
	g->head = 0;
	g->cap = cap;
	return 0;
}

/* A copy of s, or NULL for none; *failed is set when copying failed. */
static char *
flowgraph_dup(const char *s, int *failed)
{
	char *d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*failed = 1;
	return d;
}

/*
 * Appends a copy of tmpl, its fields checked by the caller, with the
 * next number.  Returns 0, -ENOSPC or -ENOMEM; nothing changes on
 * failure.
 */
static int
flowgraph_calls_append(
    struct flowgraph_calls *g, const struct flowgraph_node *tmpl)
{
	struct flowgraph_node node = *tmpl;
	int                   failed = 0, rc;

	node.id = flowgraph_dup(tmpl->id, &failed);
	node.op = flowgraph_dup(tmpl->op, &failed);
	node.parent = flowgraph_dup(tmpl->parent, &failed);
	node.identity = flowgraph_dup(tmpl->identity, &failed);
	node.error = flowgraph_dup(tmpl->error, &failed);
	if (failed) {
		rc = -ENOMEM;
		goto out;
	}

	/* The index grows first: dropping a call for this one is the last
	 * step that may fail. */
	if ((rc = flowgraph__index_reserve(g->index, g->n + 1)) < 0 ||
	    (rc = flowgraph_calls_make_room(g)) < 0)
		goto out;
	node.seq = ++g->seq;
	*flowgraph_at(g, g->n) = node;
	g->n++;
	flowgraph__index_put(g->index, node.id, node.seq);
	return 0;

out:
	flowgraph_node_clear(&node);
	return rc;
}

/* The checks a new call passes, in requests and in parsed graphs. */
static int
flowgraph_calls_check(
    const struct flowgraph_calls *g, const struct flowgraph_node *node)
{
	if (!flowgraph__valid_id(node->id) || !flowgraph__valid_id(node->op))
		return -EINVAL;
	if ((node->identity != NULL && !flowgraph__valid_id(node->identity)) ||
	    (node->error != NULL && !flowgraph__valid_id(node->error)))
		return -EINVAL;
	if (node->parent != NULL &&
	    (!flowgraph__valid_id(node->parent) ||
	        strcmp(node->parent, node->id) == 0))
		return -EINVAL;
	if (!flowgraph_valid_time(node->started_ms) ||
	    !flowgraph_valid_time(node->ended_ms))
		return -EINVAL;

	if (flowgraph_calls_find(g, node->id) != NULL)
		return -EEXIST;
	if (node->parent != NULL &&
	    flowgraph_calls_closes_cycle(g, node->id, node->parent))
		return -ELOOP;
	return 0;
}

int
flowgraph_calls_requested(struct flowgraph_calls *g, const char *id,
    const char *op, const char *parent, uint64_t now_ms)
{
	struct flowgraph_node node = {
	    .id = (char *)id,
	    .op = (char *)op,
	    .parent = (char *)parent,
	    .status = FLOWGRAPH_PENDING,
	    .started_ms = now_ms,
	};
	int rc;

	if (g == NULL)
		return -EINVAL;
	if ((rc = flowgraph_calls_check(g, &node)) < 0)
		return rc;
	return flowgraph_calls_append(g, &node);
}

/* Every finishing event moves a pending call to one final status. */
static int
flowgraph_calls_finish(struct flowgraph_calls *g, const char *id,
    uint64_t now_ms, enum flowgraph_status to)
{
	struct flowgraph_node *node;

	if (g == NULL || id == NULL || !flowgraph_valid_time(now_ms))
		return -EINVAL;
	if ((node = flowgraph_calls_find(g, id)) == NULL)
		return -ENOENT;
	if (node->status != FLOWGRAPH_PENDING)
		return -EINVAL;

	node->status = to;
	node->ended_ms = now_ms;
	return 0;
}

int
flowgraph_calls_responded(
    struct flowgraph_calls *g, const char *id, uint64_t now_ms)
{
	return flowgraph_calls_finish(g, id, now_ms, FLOWGRAPH_COMPLETED);
}

int
flowgraph_calls_completed(
    struct flowgraph_calls *g, const char *id, uint64_t now_ms)
{
	return flowgraph_calls_finish(g, id, now_ms, FLOWGRAPH_COMPLETED);
}

int
flowgraph_calls_error(
    struct flowgraph_calls *g, const char *id, uint64_t now_ms)
{
	return flowgraph_calls_finish(g, id, now_ms, FLOWGRAPH_FAILED);
}

int
flowgraph_calls_aborted(
    struct flowgraph_calls *g, const char *id, uint64_t now_ms)
{
	return flowgraph_calls_finish(g, id, now_ms, FLOWGRAPH_ABORTED);
}

/* Notes value as call id's identity, or as its error's code. */
static int
flowgraph_calls_note(
    struct flowgraph_calls *g, const char *id, const char *value, int is_error)
{
	struct flowgraph_node *node;
	char                  *copy;

	if (g == NULL || id == NULL ||
	    (node = flowgraph_calls_find(g, id)) == NULL)
		return -ENOENT;
	if (!flowgraph__valid_id(value) ||
	    (is_error && node->status != FLOWGRAPH_FAILED))
		return -EINVAL;
	if ((copy = strdup(value)) == NULL)
		return -ENOMEM;

	if (is_error) {
		free(node->error);
		node->error = copy;
	} else {
		free(node->identity);
		node->identity = copy;
	}
	return 0;
}

int
flowgraph_calls_set_identity(
    struct flowgraph_calls *g, const char *id, const char *identity)
{
	return flowgraph_calls_note(g, id, identity, 0);
}

int
flowgraph_calls_set_error(
    struct flowgraph_calls *g, const char *id, const char *code)
{
	return flowgraph_calls_note(g, id, code, 1);
}

size_t
flowgraph_calls_count(const struct flowgraph_calls *g)
{
	return g != NULL ? g->n : 0;
}

static void
flowgraph_call_view(
    const struct flowgraph_node *node, struct flowgraph_call *out)
{
	out->id = node->id;
	out->op = node->op;
	out->parent = node->parent;
	out->identity = node->identity;
	out->error = node->error;
	out->status = node->status;
	out->seq = node->seq;
	out->started_ms = node->started_ms;
	out->ended_ms = node->ended_ms;
}

int
flowgraph_calls_get(
    const struct flowgraph_calls *g, const char *id, struct flowgraph_call *out)
{
	const struct flowgraph_node *node;

	if (g == NULL || id == NULL ||
	    (node = flowgraph_calls_find(g, id)) == NULL)
		return -ENOENT;
	flowgraph_call_view(node, out);
	return 0;
}

int
flowgraph_calls_at(
    const struct flowgraph_calls *g, size_t i, struct flowgraph_call *out)
{
	if (g == NULL || i >= g->n)
		return -ENOENT;
	flowgraph_call_view(flowgraph_at(g, i), out);
	return 0;
}

int
flowgraph_calls_seq(
    const struct flowgraph_calls *g, uint64_t seq, struct flowgraph_call *out)
{
	const struct flowgraph_node *node;

	if (g == NULL || (node = flowgraph_calls_numbered(g, seq)) == NULL)
		return -ENOENT;
	flowgraph_call_view(node, out);
	return 0;
}

int64_t
flowgraph_call_duration(const struct flowgraph_call *call)
{
	if (call->status == FLOWGRAPH_PENDING)
		return -1;
	if (call->ended_ms < call->started_ms)
		return 0;
	return (int64_t)(call->ended_ms - call->started_ms);
}

static int64_t
flowgraph_node_duration(const struct flowgraph_node *node)
{
	struct flowgraph_call call;

	flowgraph_call_view(node, &call);
	return flowgraph_call_duration(&call);
}

size_t
flowgraph_calls_roots(
    const struct flowgraph_calls *g, const char **ids, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; g != NULL && i < g->n; i++) {
		if (flowgraph_calls_parent(g, flowgraph_at(g, i)) != NULL)
			continue;
		if (n < cap)
			ids[n] = flowgraph_at(g, i)->id;
		n++;
	}
	return n;
}

int
flowgraph_calls_children(const struct flowgraph_calls *g, const char *id,
    const char **ids, size_t cap, size_t *n)
{
	const struct flowgraph_node *node;
	size_t                       i;

	if (g == NULL || id == NULL || flowgraph_calls_find(g, id) == NULL)
		return -ENOENT;

	*n = 0;
	for (i = 0; i < g->n; i++) {
		node = flowgraph_at(g, i);
		if (node->parent == NULL || strcmp(node->parent, id) != 0)
			continue;
		if (*n < cap)
			ids[*n] = node->id;
		(*n)++;
	}
	return 0;
}

int
flowgraph_calls_lineage(const struct flowgraph_calls *g, const char *id,
    const char **ids, size_t cap, size_t *n)
{
	const struct flowgraph_node *node, *cur;
	size_t                       depth = 0, i;

	if (g == NULL || id == NULL ||
	    (node = flowgraph_calls_find(g, id)) == NULL)
		return -ENOENT;

	/* Measure first, so that the ids can be stored root first. */
	for (cur = node; cur != NULL; cur = flowgraph_calls_parent(g, cur))
		depth++;
	*n = depth;
	if (depth > cap)
		return -ENOSPC;

	for (cur = node, i = depth; cur != NULL;
	     cur = flowgraph_calls_parent(g, cur))
		ids[--i] = cur->id;
	return 0;
}

/*
 * Calls as JSON
 */

static json_t *
flowgraph_time_json(const struct flowgraph_node *node, int64_t ms)
{
	if (node->status == FLOWGRAPH_PENDING)
		return json_null();
	return json_integer((json_int_t)ms);
}

static json_t *
flowgraph_node_json(const struct flowgraph_node *node)
{
	return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s, s:I, s:o, s:o}",
	    "request_id", node->id, "operation", node->op, "parent_request_id",
	    node->parent, "identity", node->identity, "error", node->error,
	    "status", flowgraph_status_name(node->status), "started_ms",
	    (json_int_t)node->started_ms, "ended_ms",
	    flowgraph_time_json(node, (int64_t)node->ended_ms), "duration_ms",
	    flowgraph_time_json(node, flowgraph_node_duration(node)));
}

static json_t *
flowgraph_calls_edges_json(const struct flowgraph_calls *g)
{
	const struct flowgraph_node *parent, *child;
	json_t                      *edges;
	size_t                       i;

	if ((edges = json_array()) == NULL)
		return NULL;
	for (i = 0; i < g->n; i++) {
		child = flowgraph_at(g, i);
		if ((parent = flowgraph_calls_parent(g, child)) == NULL)
			continue;
		if (json_array_append_new(edges,
		        json_pack("{s:s, s:s, s:s}", "from", parent->id, "to",
		            child->id, "type", "triggered")) < 0) {
			json_decref(edges);
			return NULL;
		}
	}
	return edges;
}

json_t *
flowgraph_calls_json(const struct flowgraph_calls *g)
{
	json_t *calls;
	size_t  i;

	if (g == NULL || (calls = json_array()) == NULL)
		return NULL;
	for (i = 0; i < g->n; i++) {
		if (json_array_append_new(
		        calls, flowgraph_node_json(flowgraph_at(g, i))) < 0) {
			json_decref(calls);
			return NULL;
		}
	}
	return json_pack("{s:o, s:o}", "calls", calls, "edges",
	    flowgraph_calls_edges_json(g));
}

/* ids as a JSON array of strings; NULL on ENOMEM. */
static json_t *
flowgraph_ids_json(const char **ids, size_t n)
{
	json_t *a;
	size_t  i;

	if ((a = json_array()) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (json_array_append_new(a, json_string(ids[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

json_t *
flowgraph_calls_call_json(const struct flowgraph_calls *g, const char *id)
{
	const struct flowgraph_node *node;
	const char                 **ids = NULL;
	json_t                      *obj = NULL;
	size_t                       n;

	if (g == NULL || id == NULL ||
	    (node = flowgraph_calls_find(g, id)) == NULL)
		return NULL;
	if ((ids = calloc(g->n, sizeof *ids)) == NULL)
		return NULL;

	if ((obj = flowgraph_node_json(node)) == NULL)
		goto out;
	flowgraph_calls_children(g, id, ids, g->n, &n);
	if (json_object_set_new(obj, "children", flowgraph_ids_json(ids, n)) <
	    0)
		goto fail;
	flowgraph_calls_lineage(g, id, ids, g->n, &n);
	if (json_object_set_new(obj, "lineage", flowgraph_ids_json(ids, n)) < 0)
		goto fail;
	goto out;

fail:
	json_decref(obj);
	obj = NULL;
out:
	free(ids);
	return obj;
}

/* ended_ms and duration_ms: null while pending, else what the times
 * say, so that a parsed graph cannot hold a duration it would not make. */
static int
flowgraph_times_parse(struct flowgraph_node *node, size_t i, json_t *ended,
    json_t *duration, char *err, size_t errlen)
{
	if (node->status == FLOWGRAPH_PENDING) {
		if (!json_is_null(ended) || !json_is_null(duration))
			return flowgraph__fail(err, errlen, -EINVAL,
			    "calls[%zu]: times of a pending call", i);
		return 0;
	}

	if (!json_is_integer(ended) || json_integer_value(ended) < 0)
		return flowgraph__fail(
		    err, errlen, -EINVAL, "calls[%zu]: bad ended_ms", i);
	node->ended_ms = (uint64_t)json_integer_value(ended);
	if (!json_is_integer(duration) ||
	    json_integer_value(duration) != flowgraph_node_duration(node))
		return flowgraph__fail(
		    err, errlen, -EINVAL, "calls[%zu]: bad duration_ms", i);
	return 0;
}

/*
 * Reads one entry of "calls" into node, its strings borrowed from e.
 * Returns 0 or -EINVAL with the reason in err.
 */
static int
flowgraph_node_parse(
    json_t *e, size_t i, struct flowgraph_node *node, char *err, size_t errlen)
{
	const char  *status;
	json_t      *parent, *who = NULL, *why = NULL, *ended, *duration;
	json_int_t   started;
	json_error_t jerr;

	if (json_unpack_ex(e, &jerr, JSON_STRICT,
	        "{s:s, s:s, s:o, s?o, s?o, s:s, s:I, s:o, s:o}", "request_id",
	        &node->id, "operation", &node->op, "parent_request_id", &parent,
	        "identity", &who, "error", &why, "status", &status,
	        "started_ms", &started, "ended_ms", &ended, "duration_ms",
	        &duration) < 0)
		return flowgraph__fail(
		    err, errlen, -EINVAL, "calls[%zu]: %s", i, jerr.text);
	if ((!json_is_null(parent) && !json_is_string(parent)) ||
	    (who != NULL && !json_is_null(who) && !json_is_string(who)) ||
	    (why != NULL && !json_is_null(why) && !json_is_string(why)))
		return flowgraph__fail(err, errlen, -EINVAL,
		    "calls[%zu]: a parent, identity or error not a string", i);
	node->parent = (char *)json_string_value(parent);
	node->identity = (char *)json_string_value(who);
	node->error = (char *)json_string_value(why);
	if (flowgraph_status_parse(status, &node->status) < 0)
		return flowgraph__fail(
		    err, errlen, -EINVAL, "calls[%zu]: unknown status", i);
	if (node->error != NULL && node->status != FLOWGRAPH_FAILED)
		return flowgraph__fail(err, errlen, -EINVAL,
		    "calls[%zu]: an error on a call that did not fail", i);
	if (started < 0)
		return flowgraph__fail(
		    err, errlen, -EINVAL, "calls[%zu]: negative started_ms", i);
	node->started_ms = (uint64_t)started;

	return flowgraph_times_parse(node, i, ended, duration, err, errlen);
}

/* Appends the entries of calls, checked as requests are. */
static int
flowgraph_calls_parse_nodes(
    struct flowgraph_calls *g, json_t *calls, char *err, size_t errlen)
{
	struct flowgraph_node node;
	json_t               *e;
	size_t                i;
	int                   rc;

	json_array_foreach(calls, i, e)
	{
		memset(&node, 0, sizeof node);
		if ((rc = flowgraph_node_parse(e, i, &node, err, errlen)) < 0)
			return rc;
		rc = flowgraph_calls_check(g, &node);
		if (rc == -ELOOP)
			return flowgraph__fail(err, errlen, rc,
			    "calls[%zu]: parents form a cycle", i);
		if (rc < 0)
			return flowgraph__fail(err, errlen, -EINVAL,
			    "calls[%zu]: bad or repeated id", i);
		if ((rc = flowgraph_calls_append(g, &node)) < 0)
			return rc;
	}
	return 0;
}

/* "edges" may be left out, but must not say something else. */
static int
flowgraph_calls_parse_edges(
    const struct flowgraph_calls *g, json_t *edges, char *err, size_t errlen)
{
	json_t *want;
	int     same;

	if (edges == NULL)
		return 0;
	if ((want = flowgraph_calls_edges_json(g)) == NULL)
		return -ENOMEM;
	same = json_equal(edges, want);
	json_decref(want);
	if (!same)
		return flowgraph__fail(err, errlen, -EINVAL,
		    "edges do not follow from the parents");
	return 0;
}

int
flowgraph_calls_parse(json_t *doc, size_t max_calls,
    struct flowgraph_calls **out, char *err, size_t errlen)
{
	struct flowgraph_calls *g = NULL;
	json_t                 *calls, *edges = NULL;
	json_error_t            jerr;
	int                     rc;

	if (out == NULL || max_calls == 0)
		return -EINVAL;
	if (json_unpack_ex(doc, &jerr, JSON_STRICT, "{s:o, s?o}", "calls",
	        &calls, "edges", &edges) < 0)
		return flowgraph__fail(err, errlen, -EINVAL, "%s", jerr.text);
	if (!json_is_array(calls))
		return flowgraph__fail(
		    err, errlen, -EINVAL, "calls is not an array");
	if (json_array_size(calls) > max_calls)
		return flowgraph__fail(
		    err, errlen, -ENOSPC, "more than %zu calls", max_calls);

	if ((rc = flowgraph_calls_new(max_calls, &g)) < 0)
		return rc;
	if ((rc = flowgraph_calls_parse_nodes(g, calls, err, errlen)) < 0)
		goto out;
	if ((rc = flowgraph_calls_parse_edges(g, edges, err, errlen)) < 0)
		goto out;
	*out = g;
	g = NULL;

out:
	flowgraph_calls_free(g);
	return rc;
}

/*
 * DOT
 */

/*
 * s inside a DOT string, cut to max bytes.  Quotes and backslashes are
 * escaped so that an id cannot end the string or slip in an escape such
 * as \N; ids hold nothing else that DOT treats specially.
 */
void
flowgraph__dot_text(FILE *f, const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < max; i++) {
		if (s[i] == '"' || s[i] == '\\')
			fputc('\\', f);
		fputc(s[i] >= ' ' && s[i] <= '~' ? s[i] : '?', f);
	}
	if (s[i] != '\0')
		fputs("...", f);
}

/* Closes f, returning what it wrote, or NULL when any write failed. */
char *
flowgraph__dot_close(FILE *f, char **buf)
{
	int failed = ferror(f);

	/* The stream sets *buf only as it closes. */
	if (fclose(f) != 0 || failed) {
		free(*buf);
		return NULL;
	}
	return *buf;
}

static void
flowgraph_dot_call(FILE *f, size_t i, const struct flowgraph_node *node)
{
	fprintf(f, "\tc%zu [label=\"", i);
	flowgraph__dot_text(f, node->id, FLOWGRAPH_LABEL_MAX);
	fputs("\\n", f);
	flowgraph__dot_text(f, node->op, FLOWGRAPH_ID_MAX);
	fprintf(f, "\\n%s", flowgraph_statuses[node->status].name);
	if (node->error != NULL) {
		fputc(' ', f);
		flowgraph__dot_text(f, node->error, FLOWGRAPH_LABEL_MAX);
	}
	fprintf(f, "\", fillcolor=\"%s\"];\n",
	    flowgraph_statuses[node->status].colour);
}

char *
flowgraph_calls_dot(const struct flowgraph_calls *g)
{
	const struct flowgraph_node *parent;
	char                        *buf = NULL;
	size_t                       len, i;
	FILE                        *f;

	if (g == NULL || (f = open_memstream(&buf, &len)) == NULL)
		return NULL;

	/* Nodes are named by position: ids are for labels only. */
	fputs("digraph calls {\n\tnode [shape=box, style=filled];\n", f);
	for (i = 0; i < g->n; i++)
		flowgraph_dot_call(f, i, flowgraph_at(g, i));
	for (i = 0; i < g->n; i++) {
		parent = flowgraph_calls_parent(g, flowgraph_at(g, i));
		if (parent != NULL)
			fprintf(f, "\tc%zu -> c%zu [label=\"triggered\"];\n",
			    flowgraph_place(g, parent), i);
	}
	fputs("}\n", f);
	return flowgraph__dot_close(f, &buf);
}
