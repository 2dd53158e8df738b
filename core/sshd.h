/*
 * The SSH server: host key, authorized keys, and the hand-over of accepted
 * sockets to new sessions.
 */
#ifndef ALKNET_SSHD_H
#define ALKNET_SSHD_H

#include <stddef.h>
#include <uv.h>

struct sshd;
struct authkeys;

/*
 * Loads the host key at path.  When the file does not exist it is created
 * (mode 0600) with a new Ed25519 key; *created is set then.  A key that is
 * not an unencrypted OpenSSH-format Ed25519 private key is an error (a PEM
 * file is named as such).  Returns 0, or a negative errno with a reason
 * naming the path in err.
 */
int sshd_load_host_key(
    const char *path, int *created, char *err, size_t errlen);

/*
 * A server using the host key at host_key (already checked) and the
 * authorized keys at authkeys_path.  Returns 0 and *out, or a negative
 * errno with a reason in err.
 */
int sshd_new(uv_loop_t *loop, const char *host_key, const char *authkeys_path,
    struct sshd **out, char *err, size_t errlen);

void sshd_free(struct sshd *sshd);

/*
 * Takes ownership of a connected socket (non-blocking) from a listener
 * and starts a session on it.  peer is the remote address as text
 * ("ip:port").  Closes fd on failure.  Returns 0 or a negative errno.
 */
int sshd_accept(struct sshd *sshd, int fd, const char *peer_ip,
    const char *peer, const char *transport);

/* Re-reads the authorized keys; the old set stays on error. */
int sshd_reload(struct sshd *sshd, char *err, size_t errlen);

/* The current set; valid until the next reload. */
const struct authkeys *sshd_authkeys(const struct sshd *sshd);

/* The host key's fingerprint, the node's id until a secret daemon
 * gives it one. */
const char *sshd_host_fingerprint(const struct sshd *sshd);

struct policy;

/*
 * The rule sets a server holds: which targets peers may reach through
 * direct-tcpip channels (acl/forwarding), and which ports they may ask
 * this head to open for remote forwards (acl/listen).
 */
enum sshd_rules { SSHD_FORWARDING, SSHD_LISTEN, SSHD_NRULES };

/*
 * The current set of a kind, or NULL when none was given: a server
 * without rules allows nothing.  Valid until the next set.
 */
const struct policy *sshd_rules(const struct sshd *sshd, enum sshd_rules which);

/*
 * Replaces a set; takes ownership of p (NULL: allow nothing) and frees
 * the old one.  Channels and listeners already opened stay; the next
 * open sees the new set.
 */
void sshd_set_rules(struct sshd *sshd, enum sshd_rules which, struct policy *p);

#endif
