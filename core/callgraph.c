/*
 * The node's call graph.  The observer turns each event of the registry
 * into the flowgraph's event of the same name; what the flowgraph
 * refuses is dropped, since a record must never stop a call.
 *
 * XXX: a peer that gives one request id to two calls at once on one
 * connection has the second left out, and whichever ends first ends
 * the record of the first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "callgraph.h"
#include "flowgraph.h"
#include "node.h"
#include "registry.h"
#include "reply.h"

/* What the graph shows for a call that named no operation. */
#define CALLGRAPH_NO_OP "(none)"

struct callgraph {
	struct registry        *r;
	struct flowgraph_calls *g;
	callgraph_clock_cb      clock;
	void                   *arg;
};

typedef int (*callgraph_end_fn)(
    struct flowgraph_calls *, const char *, uint64_t);

static const callgraph_end_fn callgraph_ends[REGISTRY_NEVENTS] = {
    [REGISTRY_RESPONDED] = flowgraph_calls_responded,
    [REGISTRY_COMPLETED] = flowgraph_calls_completed,
    [REGISTRY_ERROR] = flowgraph_calls_error,
    [REGISTRY_ABORTED] = flowgraph_calls_aborted,
};

static uint64_t
callgraph_wall_clock(void *arg)
{
	return (uint64_t)node_now_ms();
}

/* The name asked for as the graph takes it: a name that no operation
 * has (a peer's, for NOT_FOUND) may hold anything, and is cut and
 * quoted to printable ASCII. */
static void
callgraph_op_name(const char *name, char *buf, size_t len)
{
	size_t i;

	if (name == NULL || *name == '\0')
		name = CALLGRAPH_NO_OP;
	for (i = 0; name[i] != '\0' && i + 1 < len; i++)
		buf[i] = name[i] >= ' ' && name[i] <= '~' ? name[i] : '?';
	buf[i] = '\0';
}

static void
callgraph_requested(
    struct callgraph *cg, const struct registry_observed *ev, uint64_t now)
{
	char op[FLOWGRAPH_ID_MAX + 1];
	int  rc;

	callgraph_op_name(ev->op, op, sizeof op);
	rc = flowgraph_calls_requested(
	    cg->g, ev->call_id, op, ev->parent_id, now);

	/* A parent the graph cannot hold, or that would close a loop
	 * (a peer naming its own later call), leaves a root. */
	if ((rc == -EINVAL || rc == -ELOOP) && ev->parent_id != NULL)
		rc = flowgraph_calls_requested(
		    cg->g, ev->call_id, op, NULL, now);
	if (rc == 0 && ev->identity != NULL)
		flowgraph_calls_set_identity(cg->g, ev->call_id, ev->identity);
}

static void
callgraph_observe(const struct registry_observed *ev, void *arg)
{
	struct callgraph *cg = arg;
	uint64_t          now = cg->clock(cg->arg);
	const char       *code;

	if (ev->event == REGISTRY_REQUESTED) {
		callgraph_requested(cg, ev, now);
		return;
	}
	if ((unsigned)ev->event >= REGISTRY_NEVENTS ||
	    callgraph_ends[ev->event] == NULL ||
	    callgraph_ends[ev->event](cg->g, ev->call_id, now) != 0)
		return;

	if (ev->event == REGISTRY_ERROR &&
	    (code = reply_code_name(ev->code)) != NULL)
		flowgraph_calls_set_error(cg->g, ev->call_id, code);
}

int
callgraph_new(struct registry *r, size_t max_calls, callgraph_clock_cb clock,
    void *arg, struct callgraph **out)
{
	struct callgraph *cg;
	int               rc;

	if (r == NULL || out == NULL || max_calls == 0)
		return -EINVAL;
	if ((cg = calloc(1, sizeof *cg)) == NULL)
		return -ENOMEM;
	if ((rc = flowgraph_calls_new(max_calls, &cg->g)) < 0) {
		free(cg);
		return rc;
	}

	cg->r = r;
	cg->clock = clock != NULL ? clock : callgraph_wall_clock;
	cg->arg = arg;
	registry_set_observer(r, callgraph_observe, cg);
	*out = cg;
	return 0;
}

void
callgraph_free(struct callgraph *cg)
{
	if (cg == NULL)
		return;
	registry_set_observer(cg->r, NULL, NULL);
	flowgraph_calls_free(cg->g);
	free(cg);
}

const struct flowgraph_calls *
callgraph_calls(const struct callgraph *cg)
{
	return cg != NULL ? cg->g : NULL;
}
