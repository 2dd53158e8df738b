/*
 * The node's call graph: a flowgraph of calls (flowgraph.h) fed by the
 * observer of a registry (registry.h), every event stamped with a clock.
 * Calls are keyed by their call ids, so a peer's call "7" on connection
 * 3 is "conn3:7", its parent the same connection's call, and a call a
 * handler makes through the env hangs from that handler's call.
 *
 * A call the graph refuses is not recorded: one whose call id is not a
 * valid flowgraph id (over FLOWGRAPH_ID_MAX bytes: a peer's long request
 * id), or one beyond the bound while every call kept is pending.  A
 * parent id the graph refuses is left out (the call is a root).
 * Everything runs on the loop thread.
 */
#ifndef ALKNET_CALLGRAPH_H
#define ALKNET_CALLGRAPH_H

#include <stddef.h>
#include <stdint.h>

struct callgraph;
struct flowgraph_calls;
struct registry;

/* Milliseconds for the calls' times. */
typedef uint64_t (*callgraph_clock_cb)(void *arg);

/*
 * A graph of at most max_calls calls, fed by r's observer from now on
 * (replacing any other).  clock(arg) gives the times; NULL: the wall
 * clock, milliseconds since the epoch.  Returns 0 and *out, -EINVAL for
 * a NULL r or a max_calls of 0, or -ENOMEM.
 */
int callgraph_new(struct registry *r, size_t max_calls,
    callgraph_clock_cb clock, void *arg, struct callgraph **out);

/* Stops observing and frees cg; accepts NULL.  r must still be there. */
void callgraph_free(struct callgraph *cg);

/* The calls recorded, until cg next changes (at the next call event). */
const struct flowgraph_calls *callgraph_calls(const struct callgraph *cg);

#endif
