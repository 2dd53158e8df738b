/*
 * Flowgraphs: the calls a node has seen and how they triggered each
 * other, and the operations it offers and which can feed which.  Pure
 * computation: nothing here reads a clock, logs or does I/O.
 *
 * The call graph is fed one call event at a time.  A call is made by
 * "requested" (status pending) and finished by exactly one of
 * responded or completed (completed), error (failed) or aborted
 * (aborted); any other event on a known call is refused.  A call whose
 * parent is in the graph hangs from it by a "triggered" edge; a call
 * whose parent is not (none given, not seen yet, or dropped) is a root.
 * A parent seen after its children adopts them.  Request ids are
 * expected to be unique; a repeated one is refused.  A call may also
 * note who made it and, once failed, the code of its error.
 *
 * Each call is numbered in order of request (seq, from 1), and a number
 * is never given twice in one graph, so that a reader can name a call
 * for good even when another of the same id comes after it is dropped.
 *
 * The graph keeps at most max_calls calls.  A new call beyond that drops
 * the oldest finished call (by order of request); when every call kept
 * is pending the new call is refused with -ENOSPC and the graph is left
 * as it was, so a flood of unanswered calls cannot push out the record
 * of those still running.
 *
 * Ids and operation names are 1 to FLOWGRAPH_ID_MAX bytes of printable
 * ASCII (space included); anything else is refused rather than mangled,
 * since ids come from peers.
 *
 * The operation graph is built once from specs.  It has an edge A->B,
 * of type "typed", when A's output can feed B's input:
 *
 *	- both schemas are objects declaring "type": "object";
 *	- B's input requires at least one property;
 *	- every property B requires, A's output requires too, and both
 *	  declare a "type" for it, A's types being among B's ("integer"
 *	  counts as a "number").
 *
 * Anything else, a schema of true or absent among them, gives no edge:
 * an input that requires nothing would otherwise be fed by everything.
 * An operation that could feed itself gets no edge either (no
 * self-loops).  Specs whose edges form a cycle are refused.
 */
#ifndef ALKNET_FLOWGRAPH_H
#define ALKNET_FLOWGRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define FLOWGRAPH_ID_MAX    255  /* bytes of an id or operation name */
#define FLOWGRAPH_OPS_MAX   1024 /* operations in one operation graph */
#define FLOWGRAPH_LABEL_MAX 48   /* bytes of an id shown in a DOT label */

enum flowgraph_status {
	FLOWGRAPH_PENDING,
	FLOWGRAPH_COMPLETED,
	FLOWGRAPH_FAILED,
	FLOWGRAPH_ABORTED,
	FLOWGRAPH_NSTATUS
};

/* A call as the graph holds it; the strings are borrowed from the graph
 * and live until it next changes. */
struct flowgraph_call {
	const char           *id;
	const char           *op;
	const char           *parent;   /* NULL: none given */
	const char           *identity; /* who made it; NULL: not noted */
	const char           *error;    /* code of a failed call; NULL: none */
	enum flowgraph_status status;
	uint64_t              seq;
	uint64_t              started_ms;
	uint64_t              ended_ms; /* 0 while pending */
};

/* An operation to build the operation graph from; read, not kept. */
struct flowgraph_op {
	const char *name;
	json_t     *input;  /* schema; NULL: unknown */
	json_t     *output; /* schema; NULL: unknown */
};

struct flowgraph_calls;
struct flowgraph_ops;
struct registry;

/* "pending", "completed", "failed", "aborted"; NULL out of range. */
const char *flowgraph_status_name(enum flowgraph_status status);

/*
 * An empty call graph keeping at most max_calls calls.  Returns 0 and
 * *out (free with flowgraph_calls_free), -EINVAL for a max_calls of 0,
 * or -ENOMEM.
 */
int flowgraph_calls_new(size_t max_calls, struct flowgraph_calls **out);

/* Frees g; accepts NULL. */
void flowgraph_calls_free(struct flowgraph_calls *g);

/*
 * A call id of operation op was requested at now_ms, by the call parent
 * (NULL: none).  Returns 0; -EINVAL for an id, op or parent that is not
 * a valid id, a parent equal to id, or a now_ms over INT64_MAX; -EEXIST
 * when id is already in the graph; -ELOOP when the parent link would
 * close a cycle (id is an ancestor of parent); -ENOSPC when the graph is
 * full of pending calls; or -ENOMEM.  Nothing changes on failure.
 */
int flowgraph_calls_requested(struct flowgraph_calls *g, const char *id,
    const char *op, const char *parent, uint64_t now_ms);

/*
 * The finishing events of call id at now_ms: responded and completed
 * make it completed, error failed, aborted aborted.  Each returns 0;
 * -ENOENT when id is not in the graph; -EINVAL when the call is not
 * pending (it finished already) or now_ms is over INT64_MAX.  Nothing
 * changes on failure.
 */
int flowgraph_calls_responded(
    struct flowgraph_calls *g, const char *id, uint64_t now_ms);
int flowgraph_calls_completed(
    struct flowgraph_calls *g, const char *id, uint64_t now_ms);
int flowgraph_calls_error(
    struct flowgraph_calls *g, const char *id, uint64_t now_ms);
int flowgraph_calls_aborted(
    struct flowgraph_calls *g, const char *id, uint64_t now_ms);

/*
 * Notes who made call id: identity, valid as ids are.  Returns 0;
 * -ENOENT when id is not in the graph; -EINVAL for a bad identity.
 */
int flowgraph_calls_set_identity(
    struct flowgraph_calls *g, const char *id, const char *identity);

/*
 * Notes the code of the error that failed call id ("NOT_FOUND"), valid
 * as ids are.  Returns 0; -ENOENT when id is not in the graph; -EINVAL
 * for a bad code or a call that has not failed.
 */
int flowgraph_calls_set_error(
    struct flowgraph_calls *g, const char *id, const char *code);

/* Calls kept. */
size_t flowgraph_calls_count(const struct flowgraph_calls *g);

/* The call id into *out.  Returns 0 or -ENOENT. */
int flowgraph_calls_get(const struct flowgraph_calls *g, const char *id,
    struct flowgraph_call *out);

/* The i-th call kept, oldest request first.  Returns 0 or -ENOENT. */
int flowgraph_calls_at(
    const struct flowgraph_calls *g, size_t i, struct flowgraph_call *out);

/* The call numbered seq into *out.  Returns 0 or -ENOENT. */
int flowgraph_calls_seq(
    const struct flowgraph_calls *g, uint64_t seq, struct flowgraph_call *out);

/* ended_ms - started_ms of a finished call (0 if the clock went back);
 * -1 while it is pending. */
int64_t flowgraph_call_duration(const struct flowgraph_call *call);

/*
 * The ids of the roots, oldest request first, into ids (cap entries;
 * borrowed as in struct flowgraph_call).  Returns how many roots there
 * are, which may be more than cap: only the first cap are stored.
 */
size_t flowgraph_calls_roots(
    const struct flowgraph_calls *g, const char **ids, size_t cap);

/*
 * The ids of the calls id triggered, oldest request first, into ids (cap
 * entries), their number in *n (may be more than cap, as above).
 * Returns 0 or -ENOENT.
 */
int flowgraph_calls_children(const struct flowgraph_calls *g, const char *id,
    const char **ids, size_t cap, size_t *n);

/*
 * The ids from id's root down to id itself into ids (cap entries), their
 * number in *n.  Returns 0; -ENOENT when id is not in the graph; or
 * -ENOSPC when the lineage has more than cap entries (*n says how many).
 */
int flowgraph_calls_lineage(const struct flowgraph_calls *g, const char *id,
    const char **ids, size_t cap, size_t *n);

/*
 * The graph as JSON, a new reference, NULL on ENOMEM:
 * {"calls": [{"request_id", "operation", "parent_request_id" (null when
 * none), "identity", "error" (null when not noted), "status",
 * "started_ms", "ended_ms", "duration_ms" (both null while pending)},
 * ...] oldest request first, "edges": [{"from", "to", "type":
 * "triggered"}, ...] in the order of the calls they lead to}.
 */
json_t *flowgraph_calls_json(const struct flowgraph_calls *g);

/*
 * A graph from what flowgraph_calls_json made, keeping at most max_calls
 * calls, so that parsing a formatted graph gives the same graph.  The
 * "edges" follow from the parents, but when present must be exactly
 * those; "identity" and "error" may be left out.  Calls are numbered
 * anew, in order.  Returns 0 and *out; -EINVAL for a document of any
 * other shape (a missing or mistyped member, a bad id, an unknown
 * status, ended_ms or duration_ms that disagree with the status, an
 * error on a call that did not fail, a repeated id), with
 * the reason in err (may be NULL); -ELOOP when parents form a cycle;
 * -ENOSPC for more than max_calls calls; or -ENOMEM.
 */
int flowgraph_calls_parse(json_t *doc, size_t max_calls,
    struct flowgraph_calls **out, char *err, size_t errlen);

/*
 * One call as JSON, a new reference: the object of
 * flowgraph_calls_json plus "children" and "lineage" (root first), both
 * arrays of ids.  NULL when id is not in the graph or on ENOMEM.
 */
json_t *flowgraph_calls_call_json(
    const struct flowgraph_calls *g, const char *id);

/*
 * The graph in Graphviz DOT: "digraph calls", one box per call labelled
 * with its id (cut to FLOWGRAPH_LABEL_MAX bytes), operation and status
 * (with the error's code when noted), and an edge labelled "triggered"
 * from each parent.  A new string the
 * caller frees; NULL on ENOMEM.
 */
char *flowgraph_calls_dot(const struct flowgraph_calls *g);

/*
 * The operation graph of n specs.  Returns 0 and *out (free with
 * flowgraph_ops_free); -EINVAL for a bad or repeated name, or more than
 * FLOWGRAPH_OPS_MAX specs, with the reason in err (may be NULL); -ELOOP
 * when the edges form a cycle, with "cycle through NAME" in err, NAME an
 * operation on the cycle; or -ENOMEM.
 */
int flowgraph_ops_new(const struct flowgraph_op *specs, size_t n,
    struct flowgraph_ops **out, char *err, size_t errlen);

/*
 * flowgraph_ops_new over the operations registered in r (as
 * registry_list and registry_describe give them), sorted by name.
 * Returns as flowgraph_ops_new.
 */
int flowgraph_ops_from_registry(const struct registry *r,
    struct flowgraph_ops **out, char *err, size_t errlen);

/* Frees g; accepts NULL. */
void flowgraph_ops_free(struct flowgraph_ops *g);

/* Operations in g. */
size_t flowgraph_ops_count(const struct flowgraph_ops *g);

/* Edges in g. */
size_t flowgraph_ops_edge_count(const struct flowgraph_ops *g);

/* 1 when g has the edge from -> to, 0 when not, -ENOENT when either
 * name is not in g. */
int flowgraph_ops_compatible(
    const struct flowgraph_ops *g, const char *from, const char *to);

/* 1 when a call answering output (a schema) can feed one expecting
 * input, by the rule above, else 0; NULL reads as unknown. */
int flowgraph_schema_feeds(json_t *output, json_t *input);

/*
 * The graph as JSON, a new reference, NULL on ENOMEM: {"operations":
 * [{"name", "input_schema", "output_schema"} (true when unknown), ...] in
 * the order given, "edges": [{"from", "to", "type": "typed"}, ...]}.
 */
json_t *flowgraph_ops_json(const struct flowgraph_ops *g);

/* The graph in DOT, "digraph ops", one box per operation; a new string
 * the caller frees, NULL on ENOMEM. */
char *flowgraph_ops_dot(const struct flowgraph_ops *g);

/*
 * Inside the module only (flowgraph.c and flowgraph_ops.c).
 */

/* The index of call ids to call numbers (flowgraph_index.c); ids are
 * borrowed from the calls, and must be removed before they are freed. */
struct flowgraph__index;

int  flowgraph__index_new(struct flowgraph__index **out);
void flowgraph__index_free(struct flowgraph__index *ix);
/* Room for n ids in all.  Returns 0 or -ENOMEM. */
int flowgraph__index_reserve(struct flowgraph__index *ix, size_t n);
/* Adds or replaces id; room was reserved. */
void flowgraph__index_put(
    struct flowgraph__index *ix, const char *id, uint64_t seq);
/* The number of id into *seq.  Returns 0 or -ENOENT. */
int flowgraph__index_get(
    const struct flowgraph__index *ix, const char *id, uint64_t *seq);
void flowgraph__index_del(struct flowgraph__index *ix, const char *id);

/* Writes the reason to err (may be NULL) and returns rc. */
int flowgraph__fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* 1 when s is a valid id or operation name, as described above. */
int flowgraph__valid_id(const char *s);

/* Writes s, escaped and cut to max bytes, inside a DOT string. */
void flowgraph__dot_text(FILE *f, const char *s, size_t max);

/* Closes an open_memstream f writing *buf: *buf, or NULL (*buf freed)
 * when any write failed. */
char *flowgraph__dot_close(FILE *f, char **buf);

#endif
