/*
 * Acceptors: a listening socket watched by the loop, each connection
 * handed to a callback.  Running out of descriptors pauses accepting for
 * a moment instead of spinning on a readable socket.
 */
#ifndef ALKNET_ACCEPTOR_H
#define ALKNET_ACCEPTOR_H

#include <uv.h>

struct acceptor;
struct hostport;
struct sockaddr;

/*
 * Opens a listening socket (non-blocking, close-on-exec, SO_REUSEADDR,
 * IPv6-only on an IPv6 address) on hp, a literal address unless resolve
 * is set.  Returns 0 with the socket in *fdp, or a negative errno with
 * its cause as text in *why: -EINVAL when hp does not resolve, else the
 * error of socket, bind or listen.
 */
int acceptor_listen(
    const struct hostport *hp, int resolve, int *fdp, const char **why);

/*
 * Called from the loop with an accepted socket (non-blocking,
 * close-on-exec), which the callee owns from then on, and its peer's
 * address, valid during the call.
 */
typedef void (*acceptor_cb)(void *arg, int fd, const struct sockaddr *peer);

/*
 * Starts accepting on fd, a non-blocking listening socket.  name is put
 * in the log line of a pause (copied, at most 63 bytes).  Returns 0 with
 * the acceptor in *out, which owns fd from then on, or a negative errno
 * with fd still the caller's.
 */
int acceptor_start(uv_loop_t *loop, int fd, const char *name, acceptor_cb cb,
    void *arg, struct acceptor **out);

/*
 * Stops accepting and closes the socket; cb is not called again, and may
 * be the caller.  The acceptor is freed once its handles have closed.
 * Accepts NULL.
 */
void acceptor_stop(struct acceptor *a);

#endif
