/*
 * Heads and workers.  A worker, each time an upstream comes up, opens a
 * control channel to the head and registers its operations there with
 * /head/services/register; the head makes each callable as
 * "/<node><name>", relays calls to the worker over that channel under
 * their own ids, and forgets them when the channel closes.
 */
#ifndef ALKNET_PEERS_H
#define ALKNET_PEERS_H

#include <stddef.h>
#include <uv.h>

struct callconn;
struct registry;

#define PEERS_MAX     64  /* workers registered at once */
#define PEERS_OPS_MAX 128 /* operations one worker registers */

/*
 * Registers /head/services/register in r and starts registering this
 * node (under its name) with every upstream that comes up.  Returns 0
 * or a negative errno.
 */
int peers_start(uv_loop_t *loop, struct registry *r);

/* Forgets every worker and stops watching upstreams. */
void peers_stop(void);

/* A control connection closed: the operations it registered go. */
void peers_closed(struct callconn *cc, void *arg);

/* Workers registered now. */
size_t peers_count(void);

#endif
