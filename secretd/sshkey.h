/*
 * OpenSSH forms of a derived Ed25519 key: the public key line of
 * authorized_keys and known_hosts, its SHA256 fingerprint as
 * "ssh-keygen -l" prints it, and an unencrypted private key file (PEM
 * armoured "openssh-key-v1") for the one key that deliberately leaves
 * alknet-secretd: the SSH host key handed to alknetd.
 *
 * A comment is optional (NULL or ""); one given is at most
 * SSHKEY_COMMENT_MAX bytes with no control characters.  The caller has
 * called sodium_init().
 */
#ifndef ALKNET_SSHKEY_H
#define ALKNET_SSHKEY_H

#include <stddef.h>

#include "secret.h"
#include "slip10.h"

#define SSHKEY_COMMENT_MAX     255
#define SSHKEY_FINGERPRINT_MAX 51 /* "SHA256:", 43 characters, NUL */
#define SSHKEY_LINE_MAX        (12 + 68 + 1 + SSHKEY_COMMENT_MAX + 1)

/*
 * Writes "ssh-ed25519 <base64>" and, when there is a comment, a space
 * and the comment, into out (no newline).  Returns 0, -EINVAL for a bad
 * comment, or -ENOSPC when outlen is short (SSHKEY_LINE_MAX suffices).
 */
int sshkey_public_line(const unsigned char pk[SLIP10_PUB_LEN],
    const char *comment, char *out, size_t outlen);

/*
 * Writes "SHA256:" and the unpadded base64 SHA-256 of the public key
 * blob into out.  Returns 0 or -ENOSPC (SSHKEY_FINGERPRINT_MAX
 * suffices).
 */
int sshkey_fingerprint(
    const unsigned char pk[SLIP10_PUB_LEN], char *out, size_t outlen);

/*
 * The OpenSSH private key file of node's key: returns 0 and *out, the
 * file's text ending in a newline (the caller frees it with
 * secret_free), or -EINVAL for a bad comment, -ENOMEM.
 */
int sshkey_private_pem(
    const struct slip10_node *node, const char *comment, struct secret **out);

#endif
