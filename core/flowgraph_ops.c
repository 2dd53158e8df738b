/*
 * The operation graph: which operation's answer can feed which one's
 * input, from the schemas of their specs.
 *
 * Edges are found by trying every ordered pair, so building is quadratic
 * in the number of operations, which FLOWGRAPH_OPS_MAX bounds; it runs
 * when the set of operations changes, not per call.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowgraph.h"
#include "registry.h"

struct flowgraph_opnode {
	char   *name;
	json_t *input;  /* never NULL; true when unknown */
	json_t *output; /* never NULL; true when unknown */
};

struct flowgraph_edge {
	size_t from;
	size_t to;
};

struct flowgraph_ops {
	struct flowgraph_opnode *ops;
	size_t                   n;
	struct flowgraph_edge   *edges; /* by from, then to */
	size_t                   nedges;
	size_t                   edgecap;
};

/* JSON Schema types as bits, so that "can feed" is a subset test. */
enum {
	FLOWGRAPH_T_NULL = 1 << 0,
	FLOWGRAPH_T_BOOLEAN = 1 << 1,
	FLOWGRAPH_T_OBJECT = 1 << 2,
	FLOWGRAPH_T_ARRAY = 1 << 3,
	FLOWGRAPH_T_NUMBER = 1 << 4,
	FLOWGRAPH_T_STRING = 1 << 5,
	FLOWGRAPH_T_INTEGER = 1 << 6,
};

static const struct {
	const char *name;
	unsigned    bit;
} flowgraph_types[] = {
    {"null", FLOWGRAPH_T_NULL},
    {"boolean", FLOWGRAPH_T_BOOLEAN},
    {"object", FLOWGRAPH_T_OBJECT},
    {"array", FLOWGRAPH_T_ARRAY},
    {"number", FLOWGRAPH_T_NUMBER},
    {"string", FLOWGRAPH_T_STRING},
    {"integer", FLOWGRAPH_T_INTEGER},
};

static unsigned
flowgraph_type_bit(json_t *name)
{
	size_t i;

	for (i = 0; i < sizeof flowgraph_types / sizeof flowgraph_types[0];
	     i++) {
		if (json_is_string(name) &&
		    strcmp(json_string_value(name), flowgraph_types[i].name) ==
		        0)
			return flowgraph_types[i].bit;
	}
	return 0;
}

/* The types a schema declares as bits; 0 when none or one unknown. */
static unsigned
flowgraph_type_mask(json_t *schema)
{
	json_t  *type = json_object_get(schema, "type"), *e;
	unsigned mask = 0, bit;
	size_t   i;

	if (json_is_string(type))
		return flowgraph_type_bit(type);

	json_array_foreach(type, i, e)
	{
		if ((bit = flowgraph_type_bit(e)) == 0)
			return 0;
		mask |= bit;
	}
	return mask;
}

/* 1 when every value of the type from can be a value of the type to. */
static int
flowgraph_type_within(json_t *from, json_t *to)
{
	unsigned mf = flowgraph_type_mask(from);
	unsigned mt = flowgraph_type_mask(to);

	if (mf == 0 || mt == 0)
		return 0;
	if (mt & FLOWGRAPH_T_NUMBER)
		mt |= FLOWGRAPH_T_INTEGER;
	return (mf & ~mt) == 0;
}

static int
flowgraph_requires(json_t *schema, const char *name)
{
	json_t *e;
	size_t  i;

	json_array_foreach(json_object_get(schema, "required"), i, e)
	{
		if (json_is_string(e) &&
		    strcmp(json_string_value(e), name) == 0)
			return 1;
	}
	return 0;
}

int
flowgraph_schema_feeds(json_t *output, json_t *input)
{
	json_t *required, *e, *from, *to;
	size_t  i;

	if (flowgraph_type_mask(output) != FLOWGRAPH_T_OBJECT ||
	    flowgraph_type_mask(input) != FLOWGRAPH_T_OBJECT)
		return 0;
	required = json_object_get(input, "required");
	if (json_array_size(required) == 0)
		return 0;

	json_array_foreach(required, i, e)
	{
		if (!json_is_string(e) ||
		    !flowgraph_requires(output, json_string_value(e)))
			return 0;
		from = json_object_get(json_object_get(output, "properties"),
		    json_string_value(e));
		to = json_object_get(
		    json_object_get(input, "properties"), json_string_value(e));
		if (!flowgraph_type_within(from, to))
			return 0;
	}
	return 1;
}

void
flowgraph_ops_free(struct flowgraph_ops *g)
{
	size_t i;

	if (g == NULL)
		return;
	for (i = 0; i < g->n; i++) {
		free(g->ops[i].name);
		json_decref(g->ops[i].input);
		json_decref(g->ops[i].output);
	}
	free(g->ops);
	free(g->edges);
	free(g);
}

static int
flowgraph_ops_find(const struct flowgraph_ops *g, const char *name, size_t *i)
{
	for (*i = 0; *i < g->n; (*i)++) {
		if (strcmp(g->ops[*i].name, name) == 0)
			return 0;
	}
	return -ENOENT;
}

/* A schema kept by g: a copy, or true for an unknown one. */
static json_t *
flowgraph_schema_copy(json_t *schema)
{
	return schema != NULL ? json_deep_copy(schema) : json_true();
}

/* Copies the specs into g, checking their names. */
static int
flowgraph_ops_add(struct flowgraph_ops *g, const struct flowgraph_op *specs,
    size_t n, char *err, size_t errlen)
{
	struct flowgraph_opnode *op;
	size_t                   i, k;

	for (i = 0; i < n; i++) {
		if (!flowgraph__valid_id(specs[i].name))
			return flowgraph__fail(
			    err, errlen, -EINVAL, "specs[%zu]: bad name", i);
		if (flowgraph_ops_find(g, specs[i].name, &k) == 0)
			return flowgraph__fail(err, errlen, -EINVAL,
			    "specs[%zu]: repeated name", i);

		op = &g->ops[g->n];
		op->name = strdup(specs[i].name);
		op->input = flowgraph_schema_copy(specs[i].input);
		op->output = flowgraph_schema_copy(specs[i].output);
		g->n++;
		if (op->name == NULL || op->input == NULL || op->output == NULL)
			return -ENOMEM;
	}
	return 0;
}

static int
flowgraph_ops_add_edge(struct flowgraph_ops *g, size_t from, size_t to)
{
	struct flowgraph_edge *edges;
	size_t                 cap;

	if (g->nedges == g->edgecap) {
		cap = g->edgecap == 0 ? 16 : g->edgecap * 2;
		edges = reallocarray(g->edges, cap, sizeof *edges);
		if (edges == NULL)
			return -ENOMEM;
		g->edges = edges;
		g->edgecap = cap;
	}
	g->edges[g->nedges].from = from;
	g->edges[g->nedges].to = to;
	g->nedges++;
	return 0;
}

/* Every pair of distinct operations, in order of from, then to. */
static int
flowgraph_ops_link(struct flowgraph_ops *g)
{
	size_t i, k;
	int    rc;

	for (i = 0; i < g->n; i++) {
		for (k = 0; k < g->n; k++) {
			if (i == k ||
			    !flowgraph_schema_feeds(
			        g->ops[i].output, g->ops[k].input))
				continue;
			if ((rc = flowgraph_ops_add_edge(g, i, k)) < 0)
				return rc;
		}
	}
	return 0;
}

/*
 * An operation on a cycle after Kahn's algorithm has taken away all it
 * could: what is left each has a predecessor left, so walking back from
 * any of them n times must end on a cycle.  pred (n entries) is scratch.
 */
static size_t
flowgraph_ops_on_cycle(
    const struct flowgraph_ops *g, const size_t *indeg, size_t *pred)
{
	size_t v, i;

	for (i = 0; i < g->nedges; i++) {
		if (indeg[g->edges[i].from] > 0)
			pred[g->edges[i].to] = g->edges[i].from;
	}

	for (v = 0; indeg[v] == 0; v++)
		;
	for (i = 0; i < g->n; i++)
		v = pred[v];
	return v;
}

/* The first edge from v, or where it would be: edges are sorted. */
static size_t
flowgraph_ops_first_edge(const struct flowgraph_ops *g, size_t v)
{
	size_t lo = 0, hi = g->nedges, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (g->edges[mid].from < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* -ELOOP with an operation of the cycle in err when there is one. */
static int
flowgraph_ops_check_cycles(
    const struct flowgraph_ops *g, char *err, size_t errlen)
{
	size_t *indeg = NULL, *queue = NULL, head = 0, tail = 0, i, v;
	int     rc = -ENOMEM;

	indeg = calloc(g->n + 1, sizeof *indeg);
	queue = calloc(g->n + 1, sizeof *queue);
	if (indeg == NULL || queue == NULL)
		goto out;

	for (i = 0; i < g->nedges; i++)
		indeg[g->edges[i].to]++;
	for (v = 0; v < g->n; v++) {
		if (indeg[v] == 0)
			queue[tail++] = v;
	}
	while (head < tail) {
		v = queue[head++];
		for (i = flowgraph_ops_first_edge(g, v);
		     i < g->nedges && g->edges[i].from == v; i++) {
			if (--indeg[g->edges[i].to] == 0)
				queue[tail++] = g->edges[i].to;
		}
	}

	rc = 0;
	if (tail < g->n)
		rc = flowgraph__fail(err, errlen, -ELOOP, "cycle through %s",
		    g->ops[flowgraph_ops_on_cycle(g, indeg, queue)].name);
out:
	free(indeg);
	free(queue);
	return rc;
}

int
flowgraph_ops_new(const struct flowgraph_op *specs, size_t n,
    struct flowgraph_ops **out, char *err, size_t errlen)
{
	struct flowgraph_ops *g = NULL;
	int                   rc;

	if (out == NULL || (specs == NULL && n > 0))
		return -EINVAL;
	if (n > FLOWGRAPH_OPS_MAX)
		return flowgraph__fail(err, errlen, -EINVAL,
		    "more than %d operations", FLOWGRAPH_OPS_MAX);

	rc = -ENOMEM;
	if ((g = calloc(1, sizeof *g)) == NULL ||
	    (g->ops = calloc(n + 1, sizeof *g->ops)) == NULL)
		goto out;
	if ((rc = flowgraph_ops_add(g, specs, n, err, errlen)) < 0)
		goto out;
	if ((rc = flowgraph_ops_link(g)) < 0)
		goto out;
	if ((rc = flowgraph_ops_check_cycles(g, err, errlen)) < 0)
		goto out;
	*out = g;
	g = NULL;

out:
	flowgraph_ops_free(g);
	return rc;
}

/* Reads name's spec out of r into spec, its schemas borrowed from keep,
 * which holds the description. */
static int
flowgraph_ops_describe(const struct registry *r, json_t *entry,
    struct flowgraph_op *spec, json_t *keep)
{
	json_t *desc;

	spec->name = json_string_value(json_object_get(entry, "name"));
	if (spec->name == NULL)
		return -EINVAL;
	if ((desc = registry_describe(r, spec->name)) == NULL)
		return -ENOMEM;
	if (json_array_append_new(keep, desc) < 0)
		return -ENOMEM;

	spec->input = json_object_get(desc, "input_schema");
	spec->output = json_object_get(desc, "output_schema");
	return 0;
}

int
flowgraph_ops_from_registry(const struct registry *r,
    struct flowgraph_ops **out, char *err, size_t errlen)
{
	struct flowgraph_op *specs = NULL;
	json_t              *list = NULL, *keep = NULL, *ops, *e;
	size_t               i;
	int                  rc = -ENOMEM;

	if (r == NULL || out == NULL)
		return -EINVAL;
	if ((list = registry_list(r)) == NULL || (keep = json_array()) == NULL)
		goto out;
	ops = json_object_get(list, "operations");
	if ((specs = calloc(json_array_size(ops) + 1, sizeof *specs)) == NULL)
		goto out;

	json_array_foreach(ops, i, e)
	{
		if ((rc = flowgraph_ops_describe(r, e, &specs[i], keep)) < 0)
			goto out;
	}
	rc = flowgraph_ops_new(specs, json_array_size(ops), out, err, errlen);

out:
	free(specs);
	json_decref(keep);
	json_decref(list);
	return rc;
}

size_t
flowgraph_ops_count(const struct flowgraph_ops *g)
{
	return g != NULL ? g->n : 0;
}

size_t
flowgraph_ops_edge_count(const struct flowgraph_ops *g)
{
	return g != NULL ? g->nedges : 0;
}

int
flowgraph_ops_compatible(
    const struct flowgraph_ops *g, const char *from, const char *to)
{
	size_t f, t, i;

	if (g == NULL || from == NULL || to == NULL ||
	    flowgraph_ops_find(g, from, &f) < 0 ||
	    flowgraph_ops_find(g, to, &t) < 0)
		return -ENOENT;
	for (i = 0; i < g->nedges; i++) {
		if (g->edges[i].from == f && g->edges[i].to == t)
			return 1;
	}
	return 0;
}

static json_t *
flowgraph_ops_nodes_json(const struct flowgraph_ops *g)
{
	json_t *ops;
	size_t  i;

	if ((ops = json_array()) == NULL)
		return NULL;
	for (i = 0; i < g->n; i++) {
		if (json_array_append_new(ops,
		        json_pack("{s:s, s:O, s:O}", "name", g->ops[i].name,
		            "input_schema", g->ops[i].input, "output_schema",
		            g->ops[i].output)) < 0) {
			json_decref(ops);
			return NULL;
		}
	}
	return ops;
}

static json_t *
flowgraph_ops_edges_json(const struct flowgraph_ops *g)
{
	json_t *edges;
	size_t  i;

	if ((edges = json_array()) == NULL)
		return NULL;
	for (i = 0; i < g->nedges; i++) {
		if (json_array_append_new(edges,
		        json_pack("{s:s, s:s, s:s}", "from",
		            g->ops[g->edges[i].from].name, "to",
		            g->ops[g->edges[i].to].name, "type", "typed")) <
		    0) {
			json_decref(edges);
			return NULL;
		}
	}
	return edges;
}

json_t *
flowgraph_ops_json(const struct flowgraph_ops *g)
{
	if (g == NULL)
		return NULL;
	return json_pack("{s:o, s:o}", "operations",
	    flowgraph_ops_nodes_json(g), "edges", flowgraph_ops_edges_json(g));
}

char *
flowgraph_ops_dot(const struct flowgraph_ops *g)
{
	char  *buf = NULL;
	size_t len, i;
	FILE  *f;

	if (g == NULL || (f = open_memstream(&buf, &len)) == NULL)
		return NULL;

	fputs("digraph ops {\n\trankdir=LR;\n\tnode [shape=box];\n", f);
	for (i = 0; i < g->n; i++) {
		fprintf(f, "\to%zu [label=\"", i);
		flowgraph__dot_text(f, g->ops[i].name, FLOWGRAPH_ID_MAX);
		fputs("\"];\n", f);
	}
	for (i = 0; i < g->nedges; i++)
		fprintf(f, "\to%zu -> o%zu [label=\"typed\"];\n",
		    g->edges[i].from, g->edges[i].to);
	fputs("}\n", f);
	return flowgraph__dot_close(f, &buf);
}
