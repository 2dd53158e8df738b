/*
 * The node's operations: the registry every caller dispatches into, the
 * operations that act on this node, and the SSH control channel
 * (direct-tcpip to alknet-control:0) that carries calls from peers.
 */
#ifndef ALKNET_OPS_H
#define ALKNET_OPS_H

#include <stddef.h>
#include <uv.h>

struct grants;
struct registry;
struct sshd;
struct storage;

/* Scopes the node's own operations ask for. */
#define OPS_SCOPE_READ  "node:read"  /* queries of node state */
#define OPS_SCOPE_ADMIN "node:admin" /* changes */

/* The rules of the node's queries and of its changes. */
extern const char *const ops_scopes_read[];  /* OPS_SCOPE_READ */
extern const char *const ops_scopes_admin[]; /* OPS_SCOPE_ADMIN */

/* The schema of an operation that takes nothing. */
#define OPS_NO_INPUT "{\"type\":[\"object\",\"null\"],\"properties\":{}}"

/*
 * Makes the registry, registers the node's operations over sshd (may be
 * NULL) and st (may be NULL), loads the operation ACL stored in st, and
 * serves control channels.  Returns 0, or a negative errno with a
 * reason in err.
 */
int ops_start(uv_loop_t *loop, struct sshd *sshd, struct storage *st, char *err,
    size_t errlen);

/*
 * Accepts raw-framing connections on spec ("HOST:PORT", port 0 picks
 * one): each is one stream of frames whose first proves, with a token
 * of an identity's Ed25519 key, who the peer is.  Logs "raw listener
 * added uri=tcp://IP:PORT".  Returns 0, or a negative errno with a
 * reason in err.
 */
int ops_listen_raw(const char *spec, char *err, size_t errlen);

/* Closes the listeners and control connections, frees the registry. */
void ops_stop(void);

/* The registry, for the namespace's ops/ files; NULL before start. */
struct registry *ops_registry(void);

/*
 * The operation ACL in force (acl/operations), which /acl/operations/set
 * replaces; NULL when there is none.  The scopes it grants are added to
 * those of remote identities when their control channel or raw
 * connection opens, and to local users' at each call of the filesystem.
 */
const struct grants *ops_grants(void);

#endif
