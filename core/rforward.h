/*
 * Remote forwards on a head: listeners opened at a peer's tcpip-forward
 * request, whose connections go back to the peer as forwarded-tcpip
 * channels.  Inside core only.
 */
#ifndef ALKNET_RFORWARD_H
#define ALKNET_RFORWARD_H

#include <libssh/libssh.h>

struct session;

/*
 * Answers a tcpip-forward request of s: allowed by the listen rules, the
 * listener is opened and the request succeeds (with the bound port);
 * otherwise it fails.  msg stays the caller's.
 */
void rforward__request(struct session *s, ssh_message msg);

/* Answers a cancel-tcpip-forward request: the listener is closed. */
void rforward__cancel(struct session *s, ssh_message msg);

/* Closes every listener of s, so the port is free again at once. */
void rforward__session_closed(struct session *s);

#endif
