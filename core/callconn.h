/*
 * A call connection: one byte stream (the far end of an SSH control
 * channel, or a raw-framing socket) carrying call-protocol frames from a
 * peer whose identity the transport established.  Requests go to the
 * node's registry; answers go back under the request's id.
 *
 * Connections are named "conn1", "conn2", ... in the order they are
 * made, never twice in a run; a peer's calls have call ids
 * "conn<N>:<request id>" (registry.h).
 *
 * Everything runs on the loop thread.  A malformed frame closes that one
 * connection.  Output is bounded: past CALLCONN_QUEUE_MAX queued bytes
 * the connection stops reading until the peer takes its answers.
 */
#ifndef ALKNET_CALLCONN_H
#define ALKNET_CALLCONN_H

#include <stddef.h>
#include <jansson.h>
#include <uv.h>

#include "pending.h"

#define CALLCONN_QUEUE_MAX ((size_t)4 << 20)
#define CALLCONN_SCOPES    32 /* scopes of an identity kept */

struct callconn;
struct registry;
struct registry_identity;

/* Called once, from the loop, when cc has closed and is about to go. */
typedef void (*callconn_closed_cb)(struct callconn *cc, void *arg);

/*
 * Sets the registry every connection dispatches into, and makes the loop
 * deliver its answers.  Call once before callconn_new; callconn_stop
 * undoes it.  Returns 0 or a negative errno.
 */
int callconn_start(uv_loop_t *loop, struct registry *r);

/* Closes every connection and stops delivering; the registry stays
 * the caller's. */
void callconn_stop(void);

/*
 * A connection on fd (a connected, non-blocking stream socket; owned
 * from here on, closed on failure too) for the peer who (copied; NULL:
 * nobody, so only public operations answer).  closed may be NULL.
 * Returns 0 and *out (owned by the module; valid until closed is
 * called), or a negative errno; closed is never called then.
 */
int callconn_new(int fd, const struct registry_identity *who,
    callconn_closed_cb closed, void *arg, struct callconn **out);

/*
 * Checks a bearer token and fills *who with the identity it speaks for
 * (its strings valid until the callback returns).  Returns 0, or a
 * negative errno to refuse.
 */
typedef int (*callconn_token_cb)(
    void *arg, const char *token, struct registry_identity *who);

/*
 * A connection whose peer proves who it is with its first frame:
 * call.requested of "/auth/token" with input {"token": T}, answered
 * {"identity": ID}.  Any other first frame, or a token check refuses,
 * is answered FORBIDDEN and the connection closes once that is written.
 * Otherwise as callconn_new.
 */
int callconn_new_token(int fd, callconn_token_cb check, void *check_arg,
    callconn_closed_cb closed, void *arg, struct callconn **out);

#define CALLCONN_ID_MAX 24 /* bytes of a request id this side makes */

/*
 * Calls op on cc's peer with input (borrowed; NULL is JSON null) on
 * behalf of the request parent (NULL: none), as a call or a
 * subscription (kind), under a request id of cc's written to id
 * (CALLCONN_ID_MAX bytes; may be NULL).  cb is told what comes (a
 * pending_event of core/pending.h, from the loop): the output, or each
 * value and the end; the peer's error; TIMEOUT after PENDING_TIMEOUT_MS
 * for a call; or INTERNAL "connection closed".  Returns 0, or a
 * negative errno when the call could not be sent (cb is then never
 * called).
 */
int callconn_call(struct callconn *cc, const char *op, json_t *input,
    const char *parent, enum pending_kind kind, pending_cb cb, void *arg,
    char *id);

/*
 * Gives up on the call id that this side made on cc: the peer is sent
 * call.aborted and the call's callback is told PENDING_ABORTED.
 * Returns 0, or -ENOENT when id is not pending.
 */
int callconn_abort(struct callconn *cc, const char *id);

/* The SSH session whose channel cc is (its id), 0 for none. */
void     callconn_set_session(struct callconn *cc, uint64_t session);
uint64_t callconn_session(const struct callconn *cc);

/* The identity cc's peer proved, or NULL. */
const char *callconn_who(const struct callconn *cc);

/* Closes cc: pending answers are dropped, the stream closed. */
void callconn_close(struct callconn *cc);

/* Connections open now. */
size_t callconn_count(void);

#endif
