/*
 * The SSH server: host key, authorized keys, and the hand-over of accepted
 * sockets to new sessions.
 */
#ifndef ALKNET_SSHD_H
#define ALKNET_SSHD_H

#include <stddef.h>
#include <stdint.h>
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
 * Serves with the host key in pem (an unencrypted OpenSSH private key,
 * Ed25519, borrowed: the caller wipes it) in place of the one sshd_new
 * loaded; before any connection is accepted.  Returns 0, or -EINVAL with
 * a reason in err, and the old key stays.
 */
int sshd_use_host_key(
    struct sshd *sshd, const char *pem, char *err, size_t errlen);

/*
 * Takes ownership of a connected socket (non-blocking) from a listener
 * and starts a session on it.  peer is the remote address as text
 * ("ip:port").  Closes fd on failure.  Returns 0 or a negative errno.
 */
int sshd_accept(struct sshd *sshd, int fd, const char *peer_ip,
    const char *peer, const char *transport);

/*
 * Trusts every key of the file at path as a certificate authority, from
 * now on and at every reload.  Returns 0, or a negative errno with a
 * reason naming the path in err; nothing changes then.
 */
int sshd_set_cert_authorities(
    struct sshd *sshd, const char *path, char *err, size_t errlen);

/* Re-reads the authorized keys (and the CA file); the old set stays on
 * error. */
int sshd_reload(struct sshd *sshd, char *err, size_t errlen);

/*
 * The set in force: the file's keys and CAs, then the identities stored
 * at run time.  Valid until the next reload or sshd_set_stored.
 */
const struct authkeys *sshd_authkeys(const struct sshd *sshd);

/*
 * The set that stored (NULL: none) would put in force, the file's keys
 * and CAs merged with it, into *out.  Returns 0, -E2BIG or -ENOMEM.
 * Preparing apart from putting lets a caller fail before it commits.
 */
int sshd_merge_stored(const struct sshd *sshd, const struct authkeys *stored,
    struct authkeys **out);

/*
 * Puts stored and merged, which sshd_merge_stored made from it since the
 * last reload, in force; takes both.  A reload keeps stored.  Sessions
 * that logged in keep what they copied of their identity.
 */
void sshd_put_stored(
    struct sshd *sshd, struct authkeys *stored, struct authkeys *merged);

/* The identities stored at run time, or NULL for none. */
const struct authkeys *sshd_stored(const struct sshd *sshd);

/*
 * Who a token (core/token.h) speaks for: the entry of an authorized
 * Ed25519 key, plain or token-key, whose key id the token carries and
 * whose signature it holds, within TOKEN_MAX_AGE of now.  Returns the
 * entry's index in sshd_authkeys, or token_verify's negative errno:
 * -EINVAL malformed, -ENOENT no such key, -EPERM bad signature,
 * -ETIMEDOUT out of its window.
 */
int sshd_token_identity(
    const struct sshd *sshd, const char *token, uint64_t now);

/* The host key's fingerprint, the node's id until a secret daemon
 * gives it one. */
const char *sshd_host_fingerprint(const struct sshd *sshd);

/* The host key's public line, "ssh-ed25519 AAAA...". */
const char *sshd_host_public(const struct sshd *sshd);

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

struct penalty;
struct connlimit;

/* What a server allows one peer, after OpenSSH's limits of those names. */
struct sshd_limits {
	unsigned max_connections_per_ip; /* open at once; 0: no limit */
	unsigned max_auth_attempts;      /* per connection; 0: no limit */
};

/*
 * Sets the limits and the penalty table; takes ownership of p (NULL: no
 * penalties) and frees the old table unless p is that table.  A new server has no limit per
 * address, 10 attempts and OpenSSH's default penalties.  Sessions that
 * are open keep counting under the new limits.
 */
void sshd_set_limits(
    struct sshd *sshd, const struct sshd_limits *l, struct penalty *p);

const struct sshd_limits *sshd_limits(const struct sshd *sshd);

/* The penalty table, or NULL when there are no penalties. */
struct penalty *sshd_penalty(const struct sshd *sshd);

/* The open connections of each peer address. */
struct connlimit *sshd_connlimit(const struct sshd *sshd);

#endif
