/*
 * Identities added and removed at run time: kept in the node's database,
 * merged into the SSH server's set after those of the authorized_keys
 * file, and announced by identity.added, identity.changed and
 * identity.removed events that commit with the change.  A change applies
 * to the next authentication; sessions keep what they logged in with.
 *
 * An identity made in the namespace is pending until its key is written:
 * listed, not stored, not usable.  Pending ones live as long as the
 * process.
 */
#ifndef ALKNET_IDENTITIES_H
#define ALKNET_IDENTITIES_H

#include <stddef.h>

struct identities;
struct sshd;
struct storage;
struct authkey_spec;

#define IDENTITIES_PENDING_MAX 64 /* pending and remembered errors */

/* What a reader of identities/<name>/ sees. */
struct identities_info {
	const char *id;     /* fingerprint; "" while pending */
	const char *key;    /* "type base64 [comment]"; "" while pending */
	const char *kind;   /* "key", "cert-authority" or "token-key" */
	const char *scopes; /* comma separated */
	const char *source; /* "file", "store" or "pending" */
	const char *error;  /* why the last write was refused, or "" */
};

/*
 * Puts the identities stored in st in force on sshd, at start-up.
 * Returns 0, or a negative errno with a reason in err when one cannot be
 * read or no longer parses.
 */
int identities_load(
    struct storage *st, struct sshd *sshd, char *err, size_t errlen);

/*
 * Run-time identities of sshd, stored in st (NULL: kept in memory only).
 * Returns 0 and *out, or -ENOMEM.
 */
int identities_new(
    struct sshd *sshd, struct storage *st, struct identities **out);

/* Frees ids and its pending identities; accepts NULL. */
void identities_free(struct identities *ids);

/*
 * Stores the identity spec and puts it in force.  Returns 0 or a
 * negative errno with a reason in err: -EINVAL for a bad name, kind,
 * key line or scopes, -EEXIST when an identity has the name or the key
 * is one already, -ENOTSUP without an SSH server, or what storage
 * answered (nothing changed then).
 */
int identities_add(struct identities *ids, const struct authkey_spec *spec,
    char *err, size_t errlen);

/*
 * Removes the pending or stored identity name.  Returns 0, -ENOENT, or
 * -EPERM for an identity of the authorized_keys file, with a reason in
 * err; or what storage answered.
 */
int identities_remove(
    struct identities *ids, const char *name, char *err, size_t errlen);

/*
 * Makes name a pending identity, of kind key with scope relay:connect.
 * Returns 0, -EINVAL for a bad name, -EEXIST, -ENOSPC past
 * IDENTITIES_PENDING_MAX, or -ENOTSUP without an SSH server.
 */
int identities_make(struct identities *ids, const char *name);

/*
 * Writes field "kind", "scopes" or "key" of identity name.  A pending
 * one takes kind and scopes, and its key stores it (as identities_add).
 * A stored one takes new scopes, stored and announced.  Returns 0,
 * -ENOENT, -EPERM for an identity of the file, -EBUSY for the key or
 * kind of a stored one, -EINVAL for a bad value, or what identities_add
 * answered; why it refused is kept for the identity's error file.
 */
int identities_set(struct identities *ids, const char *name, const char *field,
    const char *value);

/*
 * Fills *info for name; the strings live until the next change.
 * Returns 0 or -ENOENT (also for a NULL ids).
 */
int identities_get(
    struct identities *ids, const char *name, struct identities_info *info);

/* The name of the i-th pending identity, or NULL past the last (or for
 * a NULL ids). */
const char *identities_pending(const struct identities *ids, size_t i);

#endif
